-- SIGTERM stops the long-running commands cleanly: `alimtalk worker` finishes the round in
-- flight (outcomes stored, entries acked) and exits 0; `alimtalk bulk run` finishes and
-- journals the chunk being sent and stops for a resume. Nothing is left in doubt either way,
-- which a kill (SIGKILL) cannot promise: the sandbox's API PLEX here does not drop reused
-- serials, so a message cut off mid-request would come out `uncertain`.
local sandbox = require("support.sandbox")
local redis_server = require("support.redis")
local campaign = require("alimtalk.bulk.campaign")
local queue = require("alimtalk.queue")
local cjson = require("cjson")
local fs = require("support.fs")

local ROOT = sandbox.root
local RUNTIME = fs.RUNTIME
local sh, capture = fs.sh, fs.capture

local function alive(pid)
  local stat = fs.read_file("/proc/" .. pid .. "/stat")
  return stat ~= nil and stat:match("^%d+ %b() (%a)") ~= "Z"
end

-- Start `cmd` in the background: its pid, and a function giving its exit status once it ended.
local function spawn(cmd, dir, name)
  local _, out = capture(("bash -c %s"):format(fs.q(("(%s & p=$!; echo $p >'%s/%s.pid'; wait $p; "
    .. "echo $? >'%s/%s.rc') >>'%s/%s.log' 2>&1 &"):format(cmd, dir, name, dir, name, dir, name))))
  assert(out)
  -- (the shell creates the file before it writes the pid into it)
  local function pid_of() return (fs.read_file(dir .. "/" .. name .. ".pid") or ""):match("^(%d+)\n") end
  assert(sandbox.wait(function() return pid_of() ~= nil end, 5))
  local pid = pid_of()
  -- a case that fails midway leaves no process behind to meet the next case's faults
  finally(function() if alive(pid) then sh("kill -KILL " .. pid) end end)
  return pid, function()
    local rc = fs.read_file(dir .. "/" .. name .. ".rc")
    return rc and tonumber(rc:match("%d+"))
  end
end

-- serial -> times the sandbox accepted it (C100) through API PLEX
local function accepted_serials(s)
  local http = require("alimtalk.core").http_client({ max_response = 64 * 1048576, timeout = 30 })
  local resp = assert(http:request({ method = "GET", url = s.http_url .. "/_sandbox/attempts" }))
  http:close()
  local n = {}
  for _, a in ipairs(cjson.decode(resp.body)) do
    if a.provider == "apiplex" then
      for j, code in ipairs(a.codes or {}) do
        if code == "C100" then n[a.serials[j]] = (n[a.serials[j]] or 0) + 1 end
      end
    end
  end
  return n
end

-- How many of campaign `id`'s N rows the sandbox accepted never, and more than once.
local function once_each(s, id, N)
  local n = accepted_serials(s)
  local missing, twice = 0, 0
  for i = 1, N do
    local k = n[campaign.serial(id, "row:" .. i)] or 0
    if k == 0 then missing = missing + 1 elseif k > 1 then twice = twice + 1 end
  end
  return { missing = missing, twice = twice }
end

describe("core.trap_signals", function()
  local core = require "alimtalk.core"
  local self_pid = fs.read_file("/proc/self/stat"):match("^%d+")

  -- whether this process catches signal n (/proc/self/status SigCgt, a hex mask)
  local function catches(n)
    local hex = fs.read_file("/proc/self/status"):match("SigCgt:%s*(%x+)")
    local at = #hex - math.floor((n - 1) / 4)
    local digit = tonumber(hex:sub(at, at), 16)
    return math.floor(digit / 2 ^ ((n - 1) % 4)) % 2 == 1
  end

  it("turns SIGTERM into a stop request, and untrap_signals gives the old action back", function()
    local before = catches(15)
    assert.is_nil(core.stop_signal())
    assert.is_true(core.trap_signals("TERM"))
    finally(function() core.untrap_signals("TERM") end)
    assert.is_true(catches(15))
    sh("kill -TERM " .. self_pid)
    assert.are.equal("TERM", core.stop_signal())
    core.untrap_signals("TERM")
    assert.is_nil(core.stop_signal())
    assert.are.equal(before, catches(15))
  end)

  it("names the argument it cannot trap, and changes nothing", function()
    local before = catches(15)
    local ok, err = pcall(core.trap_signals, "TERM", "KILL")
    assert.is_false(ok)
    assert.matches("bad argument #2.*signal must be TERM or INT", err)
    assert.is_nil(core.stop_signal())
    assert.are.equal(before, catches(15))
  end)

  it("lets a second signal kill at once", function()
    local dir = fs.tmpdir("alimtalk-sig2")
    fs.write(dir .. "/p.lua", ([[
      local core = require "alimtalk.core"
      assert(core.trap_signals("TERM", "INT"))
      local f = io.open("%s/ready", "w") f:close()
      while not core.stop_signal() do core.sleep(0.02) end
      f = io.open("%s/asked", "w") f:write(core.stop_signal()) f:close()
      core.sleep(20)   -- a long round: only the second signal ends it early
    ]]):format(dir, dir))
    local pid, rc = spawn(("exec env LUA_PATH=%s LUA_CPATH=%s %s %s/p.lua"):format(fs.q(package.path),
      fs.q(package.cpath), RUNTIME, dir), dir, "p")
    assert(sandbox.wait(function() return fs.read_file(dir .. "/ready") ~= nil end, 5))
    sh("kill -TERM " .. pid)
    assert(sandbox.wait(function() return fs.read_file(dir .. "/asked") ~= nil end, 5))
    assert.are.equal("TERM", fs.read_file(dir .. "/asked"))
    assert.is_true(alive(pid))
    sh("kill -TERM " .. pid)
    assert(sandbox.wait(function() return rc() ~= nil end, 5), "the second SIGTERM did not kill")
    assert.are.equal(143, rc())
    fs.rmtree(dir)
  end)
end)

describe("SIGTERM", function()
  local s, r, dir, base

  setup(function()
    fs.seed_random()
    s = sandbox.start({ delivery_delay = 0.05 })
    r = redis_server.start({})
    dir = fs.tmpdir("alimtalk-sigterm")
    fs.write(dir .. "/alimtalk.json", cjson.encode({
      provider = "apiplex", templates = sandbox.templates,
      apiplex = { base_url = s.http_url, user_id = s.credentials.apiplex.user_id or "sandbox",
                  sender_key = s.credentials.apiplex.sender_key, sender_number = "0212345678",
                  secret_key_env = "SIGTERM_APIPLEX_SECRET" },
    }))
    base = ("cd '%s' && exec env SIGTERM_APIPLEX_SECRET='%s' ALIMTALK_REDIS_URL='%s' %s '%s/bin/alimtalk'")
      :format(dir, s.credentials.apiplex.secret_key, r.url, RUNTIME, ROOT)
  end)

  before_each(function() s:clear_faults() end)

  teardown(function()
    s:clear_faults()
    local errs = sandbox.stop(s)
    if r then r:stop() end
    fs.rmtree(dir)
    assert.are.same({}, errs)
  end)

  -- `bulk resume ID` to the end: its JSON summary (exit status 0 asserted)
  local function resume(id)
    local out = dir .. "/" .. id .. ".resume"
    local code = capture(("(%s bulk resume %s --state-dir st --json >'%s' 2>&1)"):format(base, id, out))
    assert.are.equal(0, code, fs.read_file(out))
    return cjson.decode(fs.read_file(out):match("(%b{})%s*$"))
  end

  local function write_rows(path, n)
    local f = assert(io.open(path, "wb"))
    f:write("to,name,date\n")
    for i = 1, n do f:write(string.format("010-5%03d-%04d,고객%d,2026-12-08\n", i % 1000, i, i)) end
    f:close()
  end

  it("stops a worker after its round, with every outcome stored, and exits 0", function()
    local N, qname, id = 400, "term" .. math.random(1e6), "term-" .. math.random(1e6)
    write_rows(dir .. "/q.csv", N)
    sh(("%s bulk run q.csv --campaign %s --template welcome --queue %s >'%s/load.log' 2>&1")
      :format(base, id, qname, dir))
    -- each request takes 0.3 s, so the run lasts seconds and the signal lands mid-request
    assert(s:fault{ provider = "apiplex", kind = "delay", delay = 0.3 })
    local pid, rc = spawn(("%s worker --queue %s --batch 20 --concurrency 2 --block 0.2 -v")
      :format(base, qname), dir, "worker")
    local q = assert(queue.new{ redis = r.url, name = qname, validate = false })
    assert(sandbox.wait(function() local c = q:counts() return c and c.accepted >= 20 end, 20))
    fs.sleep(string.format("%.3f", math.random(0, 250) / 1000))
    sh("kill -TERM " .. pid)
    assert(sandbox.wait(function() return not alive(pid) end, 10), "the worker did not stop")
    assert(sandbox.wait(function() return rc() ~= nil end, 2))
    assert.are.equal(0, rc())
    assert.matches("stopped on SIGTERM", fs.read_file(dir .. "/worker.log"))
    local c = assert(q:counts())
    assert.are.equal(0, c.pending, "entries left pending by the stopped worker")
    assert.are.equal(0, c.consumers, "the stopped worker did not leave the group")
    assert.are.equal(0, c.uncertain)
    assert.is_true(c.accepted < N, "the worker ran to the end before the signal")

    -- another worker sends the rest; each message reaches the provider exactly once
    sh(("%s worker --queue %s --batch 50 --concurrency 4 --until-empty >>'%s/worker2.log' 2>&1")
      :format(base, qname, dir))
    c = assert(q:counts())
    q:close()
    assert.are.equal(N, c.accepted)
    assert.are.equal(0, c.uncertain)
    assert.are.equal(0, c.consumers)
    assert.are.same({ missing = 0, twice = 0 }, once_each(s, id, N))
  end)

  it("stops bulk run after the chunk being sent, and a resume finishes without doubt", function()
    local N, id = 1500, "termbulk-" .. math.random(1e6)
    write_rows(dir .. "/b.csv", N)
    assert(s:fault{ provider = "apiplex", kind = "delay", delay = 0.2 })
    local run = ("%s bulk run b.csv --campaign %s --template welcome --chunk 100 --concurrency 2 "
      .. "--state-dir st --json"):format(base, id)
    local pid, rc = spawn(run, dir, "bulk")
    -- wait for the first chunks of this campaign (the sandbox also logged the case above)
    local first = {}
    for i = 1, 150 do first[i] = campaign.serial(id, "row:" .. i) end
    assert(sandbox.wait(function()
      local n = accepted_serials(s)
      for _, serial in ipairs(first) do if not n[serial] then return false end end
      return true
    end, 30))
    sh("kill -TERM " .. pid)
    assert(sandbox.wait(function() return rc() ~= nil end, 15), "bulk run did not stop")
    assert.are.equal(1, rc())
    local summary = cjson.decode(fs.read_file(dir .. "/bulk.log"):match("(%b{})%s*[^{}]*$"))
    assert.matches("stopped as asked", summary.stopped)
    assert.are.equal(0, summary.counts.uncertain)
    assert.is_true(summary.counts.unattempted > 0, "the run ended before the signal")

    s:clear_faults()
    local done = resume(id)
    assert.are.equal(N, done.counts.accepted)
    assert.are.equal(0, done.counts.uncertain)
    assert.are.same({ missing = 0, twice = 0 }, once_each(s, id, N))
  end)

  it("stops bulk run within its quota pause, the waiting rows left for a resume", function()
    local N, id = 300, "termquota-" .. math.random(1e6)
    write_rows(dir .. "/qp.csv", N)
    -- the first request meets the quota: the run would pause 60 s before trying again
    assert(s:fault{ provider = "apiplex", kind = "code", code = "G150", count = 1 })
    local run = ("%s bulk run qp.csv --campaign %s --template welcome --chunk 100 --concurrency 1 "
      .. "--quota-pause 60 --state-dir st --json"):format(base, id)
    local pid, rc = spawn(run, dir, "quota")
    local journal = dir .. "/st/" .. id .. "/journal.log"
    assert(sandbox.wait(function() return (fs.read_file(journal) or ""):find('"pause"') ~= nil end, 20))
    local t0 = os.time()
    sh("kill -TERM " .. pid)
    assert(sandbox.wait(function() return rc() ~= nil end, 5), "bulk run slept through its quota pause")
    assert.is_true(os.time() - t0 <= 5)
    assert.are.equal(1, rc())
    local summary = cjson.decode(fs.read_file(dir .. "/quota.log"):match("(%b{})%s*[^{}]*$"))
    assert.matches("stopped as asked", summary.stopped)
    assert.are.equal(0, summary.counts.uncertain)
    s:clear_faults()
    local done = resume(id)
    assert.are.equal(N, done.counts.accepted)
    assert.are.same({ missing = 0, twice = 0 }, once_each(s, id, N))
  end)
end)
