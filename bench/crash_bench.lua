-- Crashes at scale: a 20,000-row campaign run by the real `alimtalk bulk` command against the
-- sandbox server, killed with SIGKILL at 20 points (30..400 ms into each run or resume, seeded)
-- and resumed each time, then resumed to the end; per provider: SENS (no serial: a row that
-- may have gone out stays uncertain), BizMessage (dedupes cid) and API PLEX with
-- dedupe_msg_key. Every row's final status is set against what its handset got (the outbox):
--   lost        reported accepted but never delivered, or never given a final status
--   duplicated  delivered twice
--   wrong       reported not_sent / rejected, yet delivered
--   in doubt    rows left uncertain at the end (delivered / not), and the most rows in flight
--               (journal `G` without an outcome) at any kill, against the bound
--               concurrency x rows per request
-- Goals: 0 lost, 0 duplicated, 0 wrong; in doubt at a kill within the bound. The baseline is
-- the same campaign without kills: the time ratio is what 20 kills and resumes cost.
-- BENCH_ROWS (default 20000), BENCH_KILLS (default 20).
local server = require "alimtalk.sandbox.server"
local journal = require "alimtalk.bulk.journal"
local fs = require "support.fs"
local cjson = require "cjson"

local ROWS = tonumber(os.getenv("BENCH_ROWS")) or 20000
local KILLS = tonumber(os.getenv("BENCH_KILLS")) or 20
local CONC = 8
local ROOT = server.lua_root():gsub("/lua$", "")
local TEMPLATES = ROOT .. "/spec/fixtures/templates.json"
local PER_REQUEST = { sens = 100, bizmessage = 1, apiplex = 10 }
local SECRET = { sens = "secret_key", bizmessage = "client_secret", apiplex = "secret_key" }

local sh = fs.sh
local function now() return require("alimtalk.core").monotonic() end

local s = assert(server.start{ templates = TEMPLATES, tls = false, delivery_delay = 0.05,
                               shm_size = "256m" })
local dir = fs.tmpdir("alimtalk-crash-bench")
math.randomseed(20261207)

local function phone(i) return string.format("0106%07d", i) end

local f = assert(io.open(dir .. "/in.csv", "wb"))
f:write("to,name,date\n")
for i = 1, ROWS do f:write(phone(i), ",고객", i, ",2026-12-07\n") end
f:close()

-- One campaign through `provider`, killed `kills` times; returns its table row.
-- SENS carries 100 rows a request, so a campaign is 200 requests and ends in well under a
-- second, and API PLEX (10 a request) in about one: most kills would land after the end. Their
-- answers wait 0.2 s and 20 ms, so each campaign lasts seconds.
local DELAY = { sens = 0.2, apiplex = 0.02 }

local function campaign(provider, kills)
  assert(s:reset())
  if DELAY[provider] then assert(s:fault{ provider = provider, kind = "delay", delay = DELAY[provider] }) end
  local sub = dir .. "/" .. provider .. "-" .. kills
  assert(sh("mkdir -p '" .. sub .. "'"))
  local po = s:client_options(provider)
  local secret = po[SECRET[provider]]
  po[SECRET[provider]] = nil
  po[SECRET[provider] .. "_env"] = "CRASH_BENCH_SECRET"
  if provider == "apiplex" then po.dedupe_msg_key = true end
  local cfg = assert(io.open(sub .. "/alimtalk.json", "wb"))
  cfg:write(cjson.encode({ provider = provider, templates = TEMPLATES, [provider] = po }))
  cfg:close()
  local base = ("cd '%s' && exec env CRASH_BENCH_SECRET='%s' lua5.4 '%s/bin/alimtalk' bulk")
    :format(sub, secret, ROOT)
  local opts = (" --state-dir state --progress none --concurrency %d"):format(CONC)
  local id = "crash-" .. provider
  local jpath = sub .. "/state/" .. id .. "/journal.log"
  local t0 = now()
  local landed, tries, worst, caught = 0, 0, 0, 0
  while landed < kills and tries < kills * 4 do
    tries = tries + 1
    local cmd
    if io.open(jpath, "rb") then
      cmd = ("%s resume %s%s"):format(base, id, opts)
    else
      cmd = ("%s run ../in.csv --campaign %s --template welcome%s"):format(base, id, opts)
    end
    local delay = (30 + math.random(0, 370)) / 1000
    local script = ("(%s) >>'%s/log' 2>&1 & pid=$!; sleep %.3f; if kill -9 $pid 2>/dev/null; then "
      .. "wait $pid; exit 0; else wait $pid; exit 1; fi"):format(cmd, sub, delay)
    if sh("bash -c '" .. script:gsub("'", "'\\''") .. "' 2>/dev/null") then
      local st = journal.scan(jpath)
      if st and not st.done then
        landed = landed + 1
        local n = 0
        for _ in pairs(st.in_flight) do n = n + 1 end
        if n > 0 then caught = caught + 1 end
        worst = math.max(worst, n)
      end
    end
  end
  local final = io.open(jpath, "rb") and ("%s resume %s%s"):format(base, id, opts)
    or ("%s run ../in.csv --campaign %s --template welcome%s"):format(base, id, opts)
  sh(("%s --json > '%s/summary.out' 2>>'%s/log'"):format(final, sub, sub))
  local elapsed = now() - t0
  local summary = cjson.decode(fs.read_lines(sub .. "/summary.out")[1])

  -- final status of every row, from the campaign's own files
  local status = {}
  for _, name in ipairs({ "accepted", "rejected", "uncertain", "not_sent" }) do
    local path = sub .. "/state/" .. id .. "/" .. name .. ".jsonl"
    if io.open(path, "rb") then
      for _, l in ipairs(fs.read_lines(path)) do
        local r = cjson.decode(l)
        status[r.row] = status[r.row] and "twice" or name
      end
    end
  end
  local got = {}
  for _, m in ipairs(assert(s:outbox({ provider = provider }))) do
    local to = tostring(m.to):gsub("%D", ""):gsub("^82", "0")
    got[to] = (got[to] or 0) + 1
  end
  local t = { provider = provider, kills = landed, caught = caught, worst = worst,
              bound = CONC * PER_REQUEST[provider], seconds = elapsed, accepted = 0, uncertain = 0,
              uncertain_delivered = 0, lost = 0, duplicated = 0, wrong = 0, counts = summary.counts }
  for i = 1, ROWS do
    local n, st = got[phone(i)] or 0, status[i]
    if n > 1 then t.duplicated = t.duplicated + 1 end
    if st == "accepted" then
      t.accepted = t.accepted + 1
      if n == 0 then t.lost = t.lost + 1 end
    elseif st == "uncertain" then
      t.uncertain = t.uncertain + 1
      if n > 0 then t.uncertain_delivered = t.uncertain_delivered + 1 end
    elseif st == "rejected" or st == "not_sent" then
      if n > 0 then t.wrong = t.wrong + 1 end
    else
      t.lost = t.lost + 1   -- no final status, or listed twice
    end
  end
  return t
end

local rows, base = {}, {}
local ok, err = pcall(function()
  for _, p in ipairs({ "sens", "bizmessage", "apiplex" }) do
    base[#base + 1] = campaign(p, 0)
    rows[#rows + 1] = campaign(p, KILLS)
  end
end)
local failed = not ok
if ok then
  print(string.format("%d rows per campaign, %d kills (SIGKILL) and resumes, concurrency %d",
    ROWS, KILLS, CONC))
  print(string.format("%-11s %5s %8s %9s %9s %5s %5s %5s %14s %7s %7s", "provider", "kills",
    "accepted", "uncertain", "(deliv'd)", "lost", "dup", "wrong", "doubt/kill max", "s", "no-kill"))
  for i, t in ipairs(rows) do
    print(string.format("%-11s %5d %8d %9d %9d %5d %5d %5d %8d/%-5d %7.1f %7.1f", t.provider,
      t.kills, t.accepted, t.uncertain, t.uncertain_delivered, t.lost, t.duplicated, t.wrong,
      t.worst, t.bound, t.seconds, base[i].seconds))
    local b = base[i]
    if t.lost > 0 or t.duplicated > 0 or t.wrong > 0 or t.worst > t.bound or t.kills < KILLS
        or b.accepted ~= ROWS or t.accepted + t.uncertain ~= ROWS then
      failed = true
      print("  " .. t.provider .. ": goal MISSED")
    end
  end
  for i, t in ipairs(rows) do
    print(string.format("  %s: %d of %d kills caught rows in flight; %.1fx the time of the run "
      .. "without kills", t.provider, t.caught, t.kills, t.seconds / base[i].seconds))
  end
end
local errs = s:lua_errors()
s:stop()
if os.getenv("KEEP") then print("kept " .. dir) else fs.rmtree(dir) end
if not ok then error(err, 0) end
if #errs > 0 then print("sandbox errors:\n" .. table.concat(errs, "\n")) failed = true end
if failed then os.exit(1) end
