-- Bulk campaign benchmark against the sandbox server (SENS, plain http on loopback):
--   1. the peak resident memory (VmHWM) of a campaign process sending BENCH_ROWS rows
--      (default 1,000,000) from a CSV file, and of one sending 100,000 rows: goal under
--      64 MiB, and the same for both within 10% (memory stays flat however long the input);
--   2. the campaign's messages per second against the client's plain bulk figure
--      (send_batch of 100,000 messages held in memory) measured in the same run;
--   3. the peak memory of a campaign whose provider refuses every request (a wrong key: every
--      row not_sent), run and then resumed (every row not_sent again), for 200,000 rows
--      against 20,000: the same within 10% (the journal keeps a bit per not_sent row).
-- Each measurement runs in its own process (this file re-run with --child), so the peak
-- memory is that process's alone. The campaign keeps its default durability (the journal is
-- fsynced once per 500-row chunk).
local sys = require "alimtalk.bulk.sys"

local ROWS = tonumber(os.getenv("BENCH_ROWS")) or 1000000
local SMALL = 100000
local CONCURRENCY = 8

local function row_values(i)
  return string.format("010%08d", 10000000 + i % 90000000), "고객" .. i, "A" .. i, "우체국택배",
    string.format("%013d", 6302114700000 + i)
end

-- Child: run one measurement and print its result as JSON on stdout.
if arg[1] == "--child" then
  local cjson = require "cjson"
  local alimtalk = require "alimtalk"
  local cfg = cjson.decode(io.open(arg[3]):read("*a"))
  local client = assert(alimtalk.new(cfg))
  local t0 = sys.now()
  local out = {}
  if arg[2] == "campaign" then
    local s = assert(require("alimtalk.bulk.campaign").run{
      client = client, campaign = arg[6], state_dir = arg[5], input = arg[4], template = "order_shipped",
      concurrency = CONCURRENCY })
    out.counts = s.counts
    out.sent = s.counts.accepted
  else
    local n = tonumber(arg[4])
    local msgs = {}
    for i = 1, n do
      local to, name, order, courier, invoice = row_values(i)
      msgs[i] = { to = to, template = "order_shipped", id = "batch-" .. i,
                  vars = { name = name, order = order, courier = courier, invoice = invoice } }
    end
    t0 = sys.now()
    local results = client:send_batch(msgs, { concurrency = CONCURRENCY })
    local accepted = 0
    for _, r in ipairs(results) do if r.status == "accepted" then accepted = accepted + 1 end end
    out.sent = accepted
  end
  out.seconds = sys.now() - t0
  out.rate = out.sent / out.seconds
  out.peak_kib = sys.peak_rss_kib()
  client:close()
  io.write(cjson.encode(out), "\n")
  os.exit(0)
end

local server = require "alimtalk.sandbox.server"
local cjson = require "cjson"
local root = server.lua_root():gsub("/lua$", "")
local lua = arg[-1] or "lua5.4"
local self_path = arg[0]

local tmp = assert(io.popen("mktemp -d /tmp/alimtalk-bulk-bench.XXXXXX")):read("*l")
local function write_csv(path, n)
  local f = assert(io.open(path, "wb"))
  f:write("to,name,order,courier,invoice\n")
  local buf = {}
  for i = 1, n do
    buf[#buf + 1] = table.concat({ row_values(i) }, ",")
    if #buf == 10000 then f:write(table.concat(buf, "\n"), "\n"); buf = {} end
  end
  if #buf > 0 then f:write(table.concat(buf, "\n"), "\n") end
  f:close()
end

local s = assert(server.start{ templates = root .. "/spec/fixtures/templates.json", tls = false,
                               delivery_delay = 3600, shm_size = "1536m" })
local ok, err = pcall(function()
  local c = s.credentials.sens
  local cfg = tmp .. "/cfg.json"
  local f = assert(io.open(cfg, "wb"))
  f:write(cjson.encode({ provider = "sens", templates = root .. "/spec/fixtures/templates.json",
    sens = { base_url = s.http_url, access_key = c.access_key, secret_key = c.secret_key,
             service_id = c.service_id, plus_friend_id = c.plus_friend_id, timeout = 60 } }))
  f:close()
  local function child(...)
    local args = { ... }
    for i, a in ipairs(args) do args[i] = "'" .. tostring(a) .. "'" end
    local p = assert(io.popen(("%s '%s' --child %s"):format(lua, self_path, table.concat(args, " "))))
    local line = p:read("*a")
    p:close()
    local r = cjson.decode(line:match("[^\n]*\n?$") ~= "" and line:match("({.*})") or "null")
    assert(r, "child failed: " .. line)
    return r
  end

  -- a provider that refuses every request (authentication fails: not sent, and not a
  -- provider-down signal, so the campaign goes through every row)
  local cfg_down = tmp .. "/cfg-down.json"
  f = assert(io.open(cfg_down, "wb"))
  f:write(cjson.encode({ provider = "sens", templates = root .. "/spec/fixtures/templates.json",
    retry = { max_attempts = 1 },
    sens = { base_url = s.http_url, access_key = c.access_key, secret_key = "not-the-secret",
             service_id = c.service_id, plus_friend_id = c.plus_friend_id, timeout = 5 } }))
  f:close()
  local DOWN_SMALL, DOWN_BIG = 20000, 200000
  write_csv(tmp .. "/down-small.csv", DOWN_SMALL)
  write_csv(tmp .. "/down-big.csv", DOWN_BIG)
  local down = {}
  for _, n in ipairs({ DOWN_SMALL, DOWN_BIG }) do
    local id = "down-" .. n
    local first = child("campaign", cfg_down, tmp .. "/" .. (n == DOWN_SMALL and "down-small" or "down-big")
      .. ".csv", tmp .. "/state", id)
    local again = child("campaign", cfg_down, tmp .. "/" .. (n == DOWN_SMALL and "down-small" or "down-big")
      .. ".csv", tmp .. "/state", id)
    assert(first.counts.not_sent == n and again.counts.not_sent == n,
           "provider down: " .. cjson.encode(first.counts) .. " " .. cjson.encode(again.counts))
    down[n] = math.max(first.peak_kib, again.peak_kib)
  end

  write_csv(tmp .. "/small.csv", SMALL)
  write_csv(tmp .. "/big.csv", ROWS)
  local base = child("batch", cfg, SMALL)
  s:reset()
  local small = child("campaign", cfg, tmp .. "/small.csv", tmp .. "/state", "small")
  s:reset()
  local big = child("campaign", cfg, tmp .. "/big.csv", tmp .. "/state", "big")
  assert(small.counts.accepted == SMALL, "small campaign: " .. cjson.encode(small.counts))
  assert(big.counts.accepted == ROWS, "big campaign: " .. cjson.encode(big.counts))

  local mib = function(k) return k / 1024 end
  print(("bulk campaign %8d rows: peak RSS %6.1f MiB, %8.0f msg/s (%.1f s)")
    :format(ROWS, mib(big.peak_kib), big.rate, big.seconds))
  print(("bulk campaign %8d rows: peak RSS %6.1f MiB, %8.0f msg/s (%.1f s)")
    :format(SMALL, mib(small.peak_kib), small.rate, small.seconds))
  print(("client send_batch %5d msgs: peak RSS %6.1f MiB, %8.0f msg/s (%.1f s)  [baseline]")
    :format(SMALL, mib(base.peak_kib), base.rate, base.seconds))
  local growth = big.peak_kib / small.peak_kib
  print(("memory: %d rows / %d rows = %.3fx (goal <= 1.10x), %d rows under 64 MiB: %s")
    :format(ROWS, SMALL, growth, ROWS, mib(big.peak_kib) < 64 and "yes" or "NO"))
  print(("throughput: campaign / client send_batch = %.2fx"):format(big.rate / base.rate))
  print(("provider refusing all (not_sent, run + resume): %d rows %.1f MiB, %d rows %.1f MiB = %.3fx "
    .. "(goal <= 1.10x)"):format(DOWN_BIG, mib(down[DOWN_BIG]), DOWN_SMALL, mib(down[DOWN_SMALL]),
    down[DOWN_BIG] / down[DOWN_SMALL]))
end)
s:stop()
os.execute("rm -rf '" .. tmp .. "'")
if not ok then error(err, 0) end
