-- The send queue (issue 11) against a private redis-server and the sandbox server (API PLEX,
-- plain http on loopback), in one run:
--   1. scaling: BENCH_SCALE_N messages (default 4000) drained by 4 `alimtalk worker` processes
--      against the same drained by 1, the sandbox answering every request after 20 ms (a
--      `delay` fault); goal: 4 workers at least 3.5x the messages per second (timed from the
--      first stored outcome, so process start-up is left out, to the last; --until-empty);
--   2. a shared rate: 4 workers with --rate 500 (one token bucket in Redis) held for
--      BENCH_RATE_SECONDS (default 20) after a 2 s warm-up; goal: the measured messages per
--      second within 5% of 500;
--   3. enqueue throughput from one process: queue:enqueue_many in chunks of 1,000 (pipelined,
--      250 messages a script call), with the pre-flight checks (a client) and without
--      (validate = false), against `redis-benchmark -q -n N -P 16 XADD` of a payload of the
--      same size on the same server in the same run; goal: at least 0.5x.
-- Workers get BENCH_CONCURRENCY (default 1) requests in flight each. Every wait is bounded;
-- workers left running at the end are killed by their pid.
local sandbox = require "support.sandbox"
local redis_server = require "support.redis"
local fs = require "support.fs"
local sys = require "alimtalk.bulk.sys"
local queue = require "alimtalk.queue"
local cjson = require "cjson"

local SCALE_N = tonumber(os.getenv("BENCH_SCALE_N")) or 4000
local SCALE_DONE0
local RATE = 500
local RATE_SECONDS = tonumber(os.getenv("BENCH_RATE_SECONDS")) or 20
local ENQ_N = tonumber(os.getenv("BENCH_ENQUEUE_N")) or 50000
local CONCURRENCY = tonumber(os.getenv("BENCH_CONCURRENCY")) or 1
local ROOT = sandbox.root
local RUNTIME = fs.RUNTIME

local function alive(pid)
  local stat = fs.read_file("/proc/" .. pid .. "/stat")
  return stat ~= nil and stat:match("^%d+ %b() (%a)") ~= "Z"
end

local function msg(prefix, i)
  return { id = prefix .. "-" .. i, to = string.format("010%08d", 10000000 + i),
           template = "welcome", vars = { name = "고객" .. i, date = "2026-11-21" } }
end

local s = sandbox.start({ delivery_delay = 0.05 })
local r = redis_server.start({})
local dir = fs.tmpdir("alimtalk-qbench")
local pids = {}
local lines, failed = {}, false

local function report(line, met)
  lines[#lines + 1] = line .. (met == nil and "" or (met and "  goal met" or "  goal MISSED"))
  if met == false then failed = true end
  print(lines[#lines])
end

local ok, err = pcall(function()
  local cfg = {
    provider = "apiplex", templates = sandbox.templates,
    apiplex = { base_url = s.http_url, user_id = s.credentials.apiplex.user_id or "sandbox",
                sender_key = s.credentials.apiplex.sender_key, sender_number = "0212345678",
                secret_key_env = "QBENCH_APIPLEX_SECRET" },
  }
  fs.write(dir .. "/alimtalk.json", cjson.encode(cfg))
  local env = ("QBENCH_APIPLEX_SECRET='%s' ALIMTALK_REDIS_URL='%s'")
    :format(s.credentials.apiplex.secret_key, r.url)
  local base = ("cd '%s' && exec env %s %s '%s/bin/alimtalk'"):format(dir, env, RUNTIME, ROOT)

  local function start_worker(qname, k, extra)
    local cmd = ("%s worker --queue %s --block 0.2 --batch 50 --concurrency %d --consumer w%d %s")
      :format(base, qname, CONCURRENCY, k, extra)
    local _, out = fs.capture(("bash -c %s"):format(fs.q(("(%s) >>'%s/%s-w%d.log' 2>&1 & echo $!")
      :format(cmd, dir, qname, k))))
    local pid = assert(out:match("^(%d+)"), out)
    pids[#pids + 1] = pid
    return pid
  end

  local function stop_all()
    for _, pid in ipairs(pids) do if alive(pid) then fs.sh("kill -TERM " .. pid) end end
    for _ = 1, 100 do
      local any = false
      for _, pid in ipairs(pids) do if alive(pid) then any = true end end
      if not any then break end
      fs.sleep(0.05)
    end
    for _, pid in ipairs(pids) do if alive(pid) then fs.sh("kill -KILL " .. pid) end end
    pids = {}
  end

  local function fill(qname, n)
    local q = assert(queue.new{ redis = r.url, name = qname, validate = false })
    for from = 1, n, 1000 do
      local chunk = {}
      for i = from, math.min(n, from + 999) do chunk[#chunk + 1] = msg(qname, i) end
      assert(q:enqueue_many(chunk))
    end
    return q
  end

  -- 1. scaling: 1 worker, then 4, each until the queue is empty
  assert(s:fault{ provider = "apiplex", kind = "delay", delay = 0.02 })
  local function drain(workers)
    local qname = "scale" .. workers
    local q = fill(qname, SCALE_N)
    local t0 = sys.now()
    local mine = {}
    for k = 1, workers do mine[k] = start_worker(qname, k, "--until-empty --min-idle 30") end
    -- timed from the first stored outcome (the processes have started) to the last
    local deadline = t0 + 120 + SCALE_N / 5
    local first, done0
    while sys.now() < deadline do
      local c = assert(q:counts())
      if not first and c.done > 0 then first, done0 = sys.now(), c.done end
      if c.done >= SCALE_N then break end
      local any = false
      for _, pid in ipairs(mine) do if alive(pid) then any = true end end
      if not any then break end
      fs.sleep(0.01)
    end
    t0 = first or t0
    SCALE_DONE0 = done0 or 0
    local secs = sys.now() - t0
    stop_all()
    local c = assert(q:counts())
    q:close()
    if c.accepted ~= SCALE_N then
      report(("  %d worker(s): only %d of %d accepted"):format(workers, c.accepted, SCALE_N), false)
    end
    return (SCALE_N - SCALE_DONE0) / secs, secs
  end
  local one, one_s = drain(1)
  local four, four_s = drain(4)
  report(("1. scaling, %d messages, sandbox delay 20 ms, concurrency %d per worker (timed from the "
    .. "first outcome to the last): 1 worker %.0f msg/s (%.2f s), 4 workers %.0f msg/s (%.2f s): "
    .. "%.2fx (goal >= 3.5x)"):format(SCALE_N, CONCURRENCY, one, one_s, four, four_s, four / one),
    four / one >= 3.5)
  assert(s:clear_faults())

  -- 2. a shared rate of 500 msg/s over RATE_SECONDS, 4 workers
  do
    local qname = "rate"
    local n = math.floor(RATE * (RATE_SECONDS + 8))
    local q = fill(qname, n)
    for k = 1, 4 do start_worker(qname, k, ("--rate %d --idle-exit 10 --min-idle 30"):format(RATE)) end
    fs.sleep(2)
    local c1, t1 = assert(q:counts()), sys.now()
    fs.sleep(RATE_SECONDS)
    local c2, t2 = assert(q:counts()), sys.now()
    stop_all()
    q:close()
    local rate = (c2.done - c1.done) / (t2 - t1)
    local off = math.abs(rate - RATE) / RATE
    report(("2. shared rate --rate %d, 4 workers, %.1f s measured: %d messages, %.1f msg/s, %.1f%% off "
      .. "(goal within 5%%)"):format(RATE, t2 - t1, c2.done - c1.done, rate, off * 100), off <= 0.05)
    if c2.done >= n then report("  (the queue ran dry: the rate is a lower bound)", false) end
  end

  -- 3. enqueue throughput from one process against redis-benchmark XADD
  do
    local ccfg = cjson.decode(cjson.encode(cfg))
    ccfg.apiplex.secret_key_env = nil
    ccfg.apiplex.secret_key = s.credentials.apiplex.secret_key
    local client = assert(require("alimtalk").new(ccfg))
    local payload = cjson.encode(msg("enq", 1))
    local function enqueue(qname, validate)
      local q = assert(queue.new{ redis = r.url, name = qname, client = client, validate = validate })
      local msgs = {}
      for i = 1, ENQ_N do msgs[i] = msg(qname, i) end
      local t0 = sys.now()
      for from = 1, ENQ_N, 1000 do
        local chunk = table.move(msgs, from, math.min(ENQ_N, from + 999), 1, {})
        local res = assert(q:enqueue_many(chunk))
        for _, t in ipairs(res) do assert(not t.error, t.error and tostring(t.error.message)) end
      end
      local secs = sys.now() - t0
      local c = assert(q:counts())
      assert(c.queued == ENQ_N, "queued " .. tostring(c.queued))
      q:close()
      return ENQ_N / secs
    end
    local checked = enqueue("enqc", true)
    local raw = enqueue("enqr", false)
    local cmd = ("redis-benchmark -q -h 127.0.0.1 -p %d -n %d -P 16 XADD qbench:xadd '*' payload %s")
      :format(r.port, ENQ_N, fs.q(payload))
    local function bench(c)
      local _, out = fs.capture(c)
      return assert(tonumber(out:match("([%d%.]+) requests per second")), "redis-benchmark: " .. out)
    end
    local rps = bench(cmd)
    local rps1 = bench(cmd:gsub(" %-P 16", ""))
    report(("3. enqueue_many, %d messages (%d-byte payload), one process: %.0f msg/s with the checks, "
      .. "%.0f msg/s without; redis-benchmark -q -n %d -P 16 XADD: %.0f/s; %.2fx with checks (goal "
      .. ">= 0.5x), %.2fx without"):format(ENQ_N, #payload, checked, raw, ENQ_N, rps, checked / rps,
      raw / rps), checked / rps >= 0.5)
    report(("   redis-benchmark without -P (one XADD a round trip): %.0f/s; %.2fx with checks, %.2fx "
      .. "without"):format(rps1, checked / rps1, raw / rps1))
    client:close()
  end
end)
for _, pid in ipairs(pids) do if alive(pid) then fs.sh("kill -KILL " .. pid) end end
local errs = sandbox.stop(s)
r:stop()
if ok then fs.rmtree(dir) else print("worker logs kept in " .. dir) end
if not ok then error(err, 0) end
if #errs > 0 then print("sandbox errors:\n" .. table.concat(errs, "\n")) failed = true end
if failed then os.exit(1) end
