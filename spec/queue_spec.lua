-- alimtalk.queue against a private redis-server: enqueue (checks, serials, once per id),
-- the worker (outcomes stored then acked, dead letters, entries of a dead worker, in-doubt
-- resends), shared limits, delivery events, and Redis failures.
local redis_server = require "support.redis"
local fs = require "support.fs"
local alimtalk = require "alimtalk"
local queue = require "alimtalk.queue"
local redis = require "alimtalk.redis"
local scripts = require "alimtalk.queue.scripts"
local core = require "alimtalk.core"
local cjson = require "cjson"

local function msg(i, extra)
  local m = { id = "m" .. i, to = "010-1234-" .. string.format("%04d", i % 10000), content = "hello " .. i }
  for k, v in pairs(extra or {}) do m[k] = v end
  return m
end

local function outbox_ids(path)
  local ids = {}
  for line in (fs.read_file(path) or ""):gmatch("[^\n]+") do
    local r = cjson.decode(line)
    local id = r.serial or r.cid or r.msg_key or r.id
    ids[#ids + 1] = id
  end
  return ids
end

-- A client whose first `n` send_batch calls answer every message with a quota code (B004,
-- not sent), after `before(call)` runs; later calls go to `client`.
local function quota_client(client, n, before)
  local calls = 0
  return setmetatable({ send_batch = function(_, msgs, opts)
    calls = calls + 1
    if calls > n then return client.send_batch(client, msgs, opts) end
    if before then before(calls) end
    local out = {}
    for k, m in ipairs(msgs) do
      out[k] = { index = k, id = m.id, status = "not_sent", quota = true, code = "B004",
                 provider = "sandbox", ids = {}, routing = {} }
    end
    return out
  end }, { __index = client })
end

describe("alimtalk.queue", function()
  local r, dir, n = nil, nil, 0
  setup(function()
    r = redis_server.start({ appendonly = true, appendfsync = "always" })
    dir = fs.tmpdir("queue")
  end)
  teardown(function()
    if r then r:stop() end
    if dir then fs.rmtree(dir) end
  end)

  -- a fresh queue name per test, a client on the embedded sandox writing its own outbox
  local function fresh(profile, qopts)
    n = n + 1
    local outbox = dir .. "/outbox" .. n .. ".jsonl"
    local client = assert(alimtalk.new{ sandbox = { profile = profile or "bizmessage", outbox = outbox } })
    local o = { redis = r.url, name = "t" .. n, client = client }
    for k, v in pairs(qopts or {}) do o[k] = v end
    local q = assert(queue.new(o))
    return q, client, outbox
  end

  local function raw()
    return assert(redis.connect(r.url))
  end

  -- A worker that died mid-request: its entry is pending in its name and marked going.
  local function die_while_sending(q, id)
    assert(q:prepare())   -- the consumer group (the first worker makes it)
    local c = raw()
    local res = c:call("XREADGROUP", "GROUP", scripts.GROUP, "dead-worker", "COUNT", 1,
                       "STREAMS", q.keys.stream, ">")
    local eid = assert(res, "no group")[1][2][1][1]
    assert(c:eval(scripts.going, { q.keys.stream, q.keys.msg(id) },
                  { scripts.GROUP, "dead-worker", "sandbox", 1, eid }))
    c:close()
    return eid
  end

  describe("enqueue", function()
    it("queues a valid message once per id and returns a ticket", function()
      local q, client = fresh()
      local t1 = assert(q:enqueue(msg(1)))
      assert.equal("m1", t1.id)
      assert.equal("queued", t1.state)
      assert.truthy(t1.entry:find("^%d+%-%d+$"))
      assert.is_nil(t1.duplicate)
      local t2 = assert(q:enqueue(msg(1, { content = "changed" })))
      assert.equal(t1.entry, t2.entry)
      assert.is_true(t2.duplicate)
      local c = raw()
      assert.equal(1, c:call("XLEN", q.keys.stream))
      c:close()
      assert.equal(1, q:counts().queued)
      q:close() client:close()
    end)

    it("refuses an invalid message with the validation error and queues nothing", function()
      local q, client = fresh()
      local t, err = q:enqueue{ id = "bad", to = "12345", content = "x" }
      assert.is_nil(t)
      assert.equal("BAD_PHONE", err.code)
      assert.equal("to", err.field)
      local none, nerr = q:result("bad")
      assert.is_nil(none)
      assert.equal("NOT_FOUND", nerr.code)
      assert.equal(0, q:counts().stream)
      q:close() client:close()
    end)

    it("gives a message without id a serial, and queued ids survive a reconnect", function()
      local q, client = fresh()
      local t = assert(q:enqueue{ to = "010-1234-5678", content = "no id" })
      assert.truthy(t.id:find("^%x+$"))
      assert(q:connect())
      assert.is_true(assert(q:enqueue{ id = t.id, to = "010-1234-5678", content = "no id" }).duplicate)
      q:close() client:close()
    end)

    it("enqueue_many pipelines, reporting invalid ones in place", function()
      local q, client = fresh()
      local list = {}
      for i = 1, 300 do list[i] = msg(i) end
      list[7] = { id = "m7", to = "nope", content = "x" }
      list[300] = msg(1)   -- repeats m1
      local res = assert(q:enqueue_many(list))
      assert.equal(300, #res)
      assert.equal("BAD_PHONE", res[7].error.code)
      assert.equal("messages[7].to", res[7].error.field)
      assert.is_true(res[300].duplicate)
      assert.equal(res[1].entry, res[300].entry)
      assert.equal(298, q:counts().stream)
      q:close() client:close()
    end)

    it("enqueue_many sends group by group, reloads forgotten scripts, and raises before sending", function()
      local q, client = fresh()
      local list = {}
      for i = 1, 600 do list[i] = msg(1000 + i) end
      assert(q:enqueue_many({ list[1] }))
      -- as after a Redis restart: the digests this queue loaded are gone (NOSCRIPT on every group)
      local admin = assert(require("alimtalk.redis").connect(r.url))
      assert.equal("OK", admin:call("SCRIPT", "FLUSH"))
      local res = assert(q:enqueue_many(list))
      assert.equal(600, #res)
      assert.is_true(res[1].duplicate)
      for i = 2, 600 do assert.is_nil(res[i].duplicate, "message " .. i) end
      assert.equal(600, q:counts().stream)
      -- a message that is not a table raises, and none of the call's messages is queued
      local more = { msg(5001), msg(5002), "not a message" }
      for i = 4, 300 do more[i] = msg(5000 + i) end
      assert.has_error(function() q:enqueue_many(more) end, "queue:enqueue_many: message 3 must be a table")
      assert.equal(600, q:counts().stream)
      assert.equal(0, admin:call("EXISTS", q.keys.msg("m5001")))
      -- groups go out while later messages are checked: a check of message 600 sees the first
      -- 500 in the stream already; a check that raises midway leaves the connection in step
      local seen, raised
      local probe = { names = { "sens" }, validate = function(_, m)
        if m.id == "m7600" then   -- (Redis runs what was sent in its own time: poll, bounded)
          for _ = 1, 200 do
            seen = admin:call("XLEN", q.keys.stream)
            if seen >= 1100 then break end
            fs.sleep(0.01)
          end
        end
        if m.id == "m7700" and not raised then raised = true error("boom", 0) end
        return true
      end }
      local pq = assert(queue.new{ redis = r.url, name = q.name, client = probe })
      local batch = {}
      for i = 1, 700 do batch[i] = msg(7000 + i) end
      assert.has_error(function() pq:enqueue_many(batch) end, "boom")
      assert.equal(600 + 500, seen)
      assert.equal(600 + 500, assert(pq:counts()).stream)
      local again = assert(pq:enqueue_many(batch))
      assert.is_true(again[1].duplicate)
      assert.is_nil(again[700].duplicate)
      assert.equal(600 + 700, pq:counts().stream)
      pq:close()
      admin:close()
      q:close() client:close()
    end)

    it("is one entry when many processes enqueue the same id at once", function()
      local q, client = fresh()
      local lua = (type(jit) == "table") and "luajit" or "lua5.4"
      local prog = dir .. "/enq.lua"
      fs.write(prog, [[
        local q = assert(require("alimtalk.queue").new{ redis = arg[1], name = arg[2], validate = false })
        for i = 1, 200 do assert(q:enqueue{ id = "same" .. (i % 20), to = "01012345678", content = "x" }) end
      ]])
      local cmds = {}
      for _ = 1, 4 do cmds[#cmds + 1] = lua .. " " .. prog .. " " .. r.url .. " " .. q.name .. " &" end
      assert.is_true(os.execute("LUA_CPATH='" .. package.cpath .. "' LUA_PATH='" .. package.path
        .. "' sh -c '"
        .. table.concat(cmds, " ") .. " wait'") ~= false)
      local c = q:counts()
      assert.equal(20, c.stream)
      assert.equal(20, c.queued)
      q:close() client:close()
    end)
  end)

  describe("bad connections", function()
    it("a bad URL, Redis down, a wrong password: one clear error, nothing queued", function()
      local ok, err = queue.new{ redis = "http://127.0.0.1:1", name = "x", validate = false }
      assert.is_nil(ok)
      assert.equal("BAD_OPTION", err.code)
      assert.equal("url", err.field)
      local port = require("alimtalk.sandbox.server").random_port()
      ok, err = queue.new{ redis = "redis://127.0.0.1:" .. port, name = "x", validate = false }
      assert.is_nil(ok)
      assert.equal("REDIS", err.code)
      assert.truthy(tostring(err):find("cannot connect to Redis", 1, true))
      local pr = redis_server.start({ password = "right-one" })
      ok, err = queue.new{ redis = "redis://:wrong-one@127.0.0.1:" .. pr.port, name = "x", validate = false }
      assert.is_nil(ok)
      assert.equal("REDIS", err.code)
      assert.equal("auth", err.reason)
      assert.is_nil(tostring(err):find("wrong-one", 1, true))
      local q = assert(queue.new{ redis = "redis://:right-one@127.0.0.1:" .. pr.port, name = "x",
        validate = false })
      assert(q:enqueue(msg(1)))
      pr:stop()
      local t, e2 = q:enqueue(msg(2))
      assert.is_nil(t)
      assert.equal("REDIS", e2.code)
      assert.truthy(e2.message:find("^not queued"))
      q:close()
    end)
  end)

  describe("worker", function()
    it("sends every message once, stores a result per message, acks only after", function()
      local q, client, outbox = fresh()
      for i = 1, 250 do assert(q:enqueue(msg(i))) end
      local stats = assert(q:work{ until_empty = true, block = 0.05, batch = 100 })
      assert.equal(250, stats.accepted)
      assert.equal(250, #outbox_ids(outbox))
      local res = assert(q:result("m42"))
      assert.equal("accepted", res.state)
      assert.equal("sandbox", res.provider)
      assert.equal("m42", res.ids.cid)
      assert.truthy(res.done_at >= res.queued_at)
      local c = q:counts()
      assert.equal(250, c.accepted)
      assert.equal(0, c.pending)
      assert.equal(0, c.waiting)
      local rc = raw()
      assert.equal(250, rc:call("XLEN", q.keys.results))
      rc:close()
      q:close() client:close()
    end)

    it("stores pre-flight failures at the worker as rejected", function()
      local q, client = fresh(nil, { validate = false })
      assert(q:enqueue{ id = "bad", to = "12", content = "x" })
      assert(q:enqueue(msg(1)))
      local stats = assert(q:work{ until_empty = true, block = 0.05 })
      assert.equal(1, stats.rejected)
      local res = assert(q:result("bad"))
      assert.equal("rejected", res.state)
      assert.equal("3008", res.code)
      assert.equal("BAD_PHONE", res.error.code)
      assert.equal("to", res.error.field)
      q:close() client:close()
    end)

    it("moves malformed entries to the dead-letter stream with their reason", function()
      local q, client, outbox = fresh()
      local c = raw()
      c:call("XADD", q.keys.stream, "*", "garbage", "1")
      c:call("XADD", q.keys.stream, "*", "id", "x1", "msg", "{not json")
      c:call("XADD", q.keys.stream, "*", "id", "x2", "msg", cjson.encode(msg(2)))
      c:call("XADD", q.keys.stream, "*", "id", "x3", "msg", cjson.encode({ id = "x3", to = "01012345678" }))
      assert(q:enqueue(msg(3)))
      local t = assert(q:enqueue(msg(4)))
      c:call("XADD", q.keys.stream, "*", "id", "m4", "msg", cjson.encode(msg(4)))   -- a second copy
      local stats = assert(q:work{ until_empty = true, block = 0.05 })
      assert.equal(5, stats.dead)
      assert.equal(2, stats.accepted)
      local dl = q:dead_letters()
      assert.equal(5, #dl)
      assert.truthy(dl[1].reason:find("needs the fields 'id' and 'msg'", 1, true))
      assert.truthy(dl[2].reason:find("not a JSON object", 1, true))
      assert.truthy(dl[3].reason:find("'msg.id' is not the entry's id x2", 1, true))
      assert.truthy(dl[4].reason:find("no record of message x3", 1, true))
      assert.equal("x3", dl[4].fields.id)
      assert.truthy(dl[5].reason:find("second entry for message m4 (queued as " .. t.entry, 1, true))
      assert.equal(2, #outbox_ids(outbox))
      assert.equal(0, q:counts().pending)
      c:close()
      q:close() client:close()
    end)

    it("claims a dead worker's entries; one in doubt is resent under its serial (dedupes)", function()
      local q, client, outbox = fresh("bizmessage")
      assert(q:enqueue(msg(1)))
      assert(q:enqueue(msg(2)))
      die_while_sending(q, "m1")
      assert.equal("going", q:result("m1").state)
      local stats = assert(q:work{ until_empty = true, block = 0.05, min_idle = 0 })
      assert.equal(1, stats.claimed)
      assert.equal(1, stats.in_doubt)
      assert.equal(2, stats.accepted)
      local ids = outbox_ids(outbox)
      table.sort(ids)
      assert.same({ "m1", "m2" }, ids)
      q:close() client:close()
    end)

    it("reports one in doubt uncertain, unsent, where the provider does not dedupe", function()
      local q, client, outbox = fresh("sens")
      assert(q:enqueue(msg(1)))
      assert(q:enqueue(msg(2)))
      die_while_sending(q, "m1")
      local stats = assert(q:work{ until_empty = true, block = 0.05, min_idle = 0 })
      assert.equal(1, stats.uncertain)
      local res = assert(q:result("m1"))
      assert.equal("uncertain", res.state)
      assert.truthy(res.reason:find("reconcile by query", 1, true))
      assert.equal(1, #outbox_ids(outbox))
      q:close() client:close()
    end)

    it("does not claim entries younger than min_idle", function()
      local q, client = fresh()
      assert(q:enqueue(msg(1)))
      die_while_sending(q, "m1")
      local stats = assert(q:work{ idle_exit = 0.3, block = 0.05, min_idle = 30 })
      assert.equal(0, stats.claimed)
      assert.equal("going", q:result("m1").state)
      q:close() client:close()
    end)

    it("never sends what another worker claimed meanwhile", function()
      local q, client, outbox = fresh()
      assert(q:enqueue(msg(1)))
      -- a client whose request happens after another worker claimed the entry
      local wrapped = setmetatable({
        send_batch = function(_, msgs, opts)
          local c = raw()
          c:call("XCLAIM", q.keys.stream, scripts.GROUP, "thief", 0,
                 assert(q:result("m1")).entry)
          c:close()
          return client.send_batch(client, msgs, opts)
        end }, { __index = client })
      q.client = wrapped
      local stats = assert(q:work{ idle_exit = 0.3, block = 0.05, min_idle = 30 })
      assert.equal(0, stats.done)
      assert.equal(0, #outbox_ids(outbox))
      assert.equal("queued", q:result("m1").state)
      q:close() client:close()
    end)
  end)

  describe("consumer names", function()
    it("the default is unique per call: host, pid and a random suffix", function()
      local worker = require "alimtalk.queue.worker"
      local a, b = worker.consumer_name(), worker.consumer_name()
      assert.matches("^[^:]+:%d+:%x%x%x%x%x%x$", a)
      assert.are_not.equal(a, b)
      assert.equal(a:match("^(.*):"), b:match("^(.*):"))
    end)

    it("a worker leaves the group only with nothing pending, checked in the same script", function()
      local q, client = fresh()
      local c = raw()
      local eid = assert(q:enqueue(msg(1))).entry
      assert(q:prepare())
      c:call("XREADGROUP", "GROUP", scripts.GROUP, "busy", "COUNT", 1, "STREAMS", q.keys.stream, ">")
      local function consumers()
        local out = {}
        for _, row in ipairs(c:call("XINFO", "CONSUMERS", q.keys.stream, scripts.GROUP)) do
          out[#out + 1] = queue.hash_to_table(row).name
        end
        return out
      end
      assert.equal(0, c:eval(scripts.leave, { q.keys.stream }, { scripts.GROUP, "busy" }))
      assert.same({ "busy" }, consumers())
      c:call("XACK", q.keys.stream, scripts.GROUP, eid)
      assert.equal(1, c:eval(scripts.leave, { q.keys.stream }, { scripts.GROUP, "busy" }))
      assert.same({}, consumers())
      c:close()
      q:close() client:close()
    end)
  end)

  describe("losing Redis", function()
    -- The client wrapper runs `hook` at the given send_batch hook, once.
    -- A worker's sleep (short) that brings the killed Redis back on its nth call (default 2).
    local function sleep_restarting(nth)
      local slept = 0
      return function(secs)
        slept = slept + 1
        if slept == (nth or 2) then r:start_again() end
        core.sleep(math.min(secs, 0.05))
      end
    end

    local function with_hook(q, client, which, hook)
      local done = false
      q.client = setmetatable({
        send_batch = function(_, msgs, opts)
          local o = {}
          for k, v in pairs(opts) do o[k] = v end
          local orig = opts[which]
          o[which] = function(...)
            if not done then done = true hook() end
            return orig(...)
          end
          return client.send_batch(client, msgs, o)
        end }, { __index = client })
    end

    it("sends nothing it could not mark going, and goes on once Redis is back", function()
      local q, client, outbox = fresh()
      for i = 1, 5 do assert(q:enqueue(msg(i))) end
      with_hook(q, client, "before_send", function() r:kill() end)
      local stats = assert(q:work{ until_empty = true, block = 0.05, batch = 1,
        sleep = sleep_restarting() })
      assert.truthy(stats.reconnects >= 1)
      assert.equal(5, stats.accepted)
      local ids = outbox_ids(outbox)
      table.sort(ids)
      assert.same({ "m1", "m2", "m3", "m4", "m5" }, ids)
      q:close() client:close()
    end)

    it("keeps outcomes it could not store and stores them after reconnecting", function()
      local q, client, outbox = fresh("sens")   -- no dedupe: a resend would show twice
      for i = 1, 3 do assert(q:enqueue(msg(i))) end
      with_hook(q, client, "after_response", function() r:kill() end)
      local stats = assert(q:work{ until_empty = true, block = 0.05, batch = 3,
        sleep = sleep_restarting(3) })
      assert.equal(3, stats.accepted)
      assert.equal(3, #outbox_ids(outbox))
      for i = 1, 3 do assert.equal("accepted", q:result("m" .. i).state) end
      q:close() client:close()
    end)

    it("stopped while Redis is away, goes on trying to store what it holds for stop_grace", function()
      local q, client, outbox = fresh("sens")
      for i = 1, 3 do assert(q:enqueue(msg(i))) end
      local killed = false
      finally(function() if not r.pid then r:start_again() end end)
      with_hook(q, client, "after_response", function() r:kill() killed = true end)
      local t0 = core.monotonic()
      local stats = assert(q:work{ until_empty = true, block = 0.05, batch = 3, stop_grace = 0.5,
        stop = function() return killed end, sleep = function(s) core.sleep(math.min(s, 0.05)) end })
      local took = core.monotonic() - t0
      r:start_again()
      assert.equal(3, stats.unsaved)
      assert.equal(0, stats.done)
      assert.truthy(took >= 0.45 and took < 5, "took " .. took)
      assert.equal(3, #outbox_ids(outbox))
      assert(q:connect())
      for i = 1, 3 do assert.equal("going", q:result("m" .. i).state) end   -- in doubt
      q:close() client:close()
    end)

    it("stopped while Redis is away, stores what it holds once Redis is back within stop_grace", function()
      local q, client, outbox = fresh("sens")
      for i = 1, 3 do assert(q:enqueue(msg(i))) end
      local killed = false
      finally(function() if not r.pid then r:start_again() end end)
      with_hook(q, client, "after_response", function() r:kill() killed = true end)
      local stats = assert(q:work{ until_empty = true, block = 0.05, batch = 3, stop_grace = 5,
        stop = function() return killed end,
        sleep = sleep_restarting() })
      assert.is_nil(stats.unsaved)
      assert.equal(3, stats.accepted)
      assert.equal(3, #outbox_ids(outbox))
      for i = 1, 3 do assert.equal("accepted", q:result("m" .. i).state) end
      assert.equal(0, q:counts().pending)
      q:close() client:close()
    end)

    it("alimtalk worker stopped holding outcomes it could not store exits 1 and says so", function()
      local sandbox = require "support.sandbox"
      local campaign = require "alimtalk.bulk.campaign"
      local s = sandbox.start({})
      local wdir = dir .. "/cli" .. n
      local pid
      finally(function()   -- (busted keeps one finally per test)
        if pid and not fs.read_file(wdir .. "/rc") then fs.sh("kill -KILL " .. pid) end
        if not r.pid then r:start_again() end
        sandbox.stop(s)
      end)
      fs.sh("mkdir -p " .. fs.q(wdir))
      fs.write(wdir .. "/alimtalk.json", cjson.encode({
        provider = "apiplex", templates = sandbox.templates,
        apiplex = { base_url = s.http_url, user_id = s.credentials.apiplex.user_id or "sandbox",
                    sender_key = s.credentials.apiplex.sender_key, sender_number = "0212345678",
                    secret_key_env = "QSPEC_APIPLEX_SECRET" } }))
      fs.write(wdir .. "/rows.csv", "to,name,date\n010-5000-0001,a,2026-12-08\n010-5000-0002,b,2026-12-08\n")
      local base = ("cd %s && exec env QSPEC_APIPLEX_SECRET=%s ALIMTALK_REDIS_URL=%s %s %s/bin/alimtalk")
        :format(fs.q(wdir), fs.q(s.credentials.apiplex.secret_key), fs.q(r.url), fs.RUNTIME,
                fs.q(sandbox.root))
      local qname = "cli" .. n
      assert.is_true(fs.sh(base .. " bulk run rows.csv --campaign c1 --template welcome --queue " .. qname
        .. " >load.log 2>&1"), fs.read_file(wdir .. "/load.log"))
      -- the request takes 1.5 s: Redis goes away while it is on the wire
      assert(s:fault{ provider = "apiplex", kind = "delay", delay = 1.5 })
      -- in the background, its stdio in worker.log; its pid and then its exit status in files
      local cmd = ("%s worker --queue %s --batch 1 --block 0.1 --stop-grace 0.5 -v"):format(base, qname)
      fs.sh("bash -c " .. fs.q(("(%s & p=$!; echo $p >%s; wait $p; echo $? >%s) >%s 2>&1 </dev/null &")
        :format(cmd, fs.q(wdir .. "/pid"), fs.q(wdir .. "/rc"), fs.q(wdir .. "/worker.log"))))
      assert(sandbox.wait(function() return fs.read_file(wdir .. "/pid") end, 5))
      pid = fs.read_file(wdir .. "/pid"):match("%d+")
      local q = assert(queue.new{ redis = r.url, name = qname, validate = false })
      local first = campaign.serial("c1", "row:1")
      assert(sandbox.wait(function()
        local res = q:result(first)
        return res and res.state == "going"
      end, 10), "the worker never sent")
      q:close()
      r:kill()
      assert(sandbox.wait(function()
        return (fs.read_file(wdir .. "/worker.log") or ""):find("Redis unavailable", 1, true)
      end, 10), fs.read_file(wdir .. "/worker.log"))
      fs.sh("kill -TERM " .. pid)
      assert(sandbox.wait(function() return fs.read_file(wdir .. "/rc") end, 10), "the worker did not stop")
      local log = fs.read_file(wdir .. "/worker.log")
      assert.equal(1, tonumber(fs.read_file(wdir .. "/rc"):match("%d+")), log)
      assert.matches("stopped with 1 outcomes not stored %(Redis unavailable%): their messages stay"
        .. " 'going'", log)
    end)

    it("does not count its own re-reads after a reconnect as deliveries", function()
      local q, client, outbox = fresh()
      for i = 1, 3 do assert(q:enqueue(msg(i))) end
      finally(function() if not r.pid then r:start_again() end end)
      with_hook(q, client, "before_send", function() r:kill() end)
      local stats = assert(q:work{ until_empty = true, block = 0.05, batch = 3, max_deliveries = 1,
        sleep = sleep_restarting() })
      assert.truthy(stats.reconnects >= 1)
      assert.equal(0, stats.dead)
      assert.equal(3, stats.accepted)
      assert.equal(3, #outbox_ids(outbox))
      q:close() client:close()
    end)

    it("loses nothing when Redis restarts in the middle of a run (append-only)", function()
      local q, client, outbox = fresh()
      local list = {}
      for i = 1, 400 do list[i] = msg(i) end
      assert(q:enqueue_many(list))
      local batches = 0
      q.client = setmetatable({ send_batch = function(_, msgs, opts)
        batches = batches + 1
        if batches == 2 then r:restart() end
        return client.send_batch(client, msgs, opts)
      end }, { __index = client })
      local stats = assert(q:work{ until_empty = true, block = 0.05, batch = 50,
                                   sleep = function(s) core.sleep(math.min(s, 0.05)) end })
      assert.truthy(stats.reconnects >= 1)
      local ids, seen = outbox_ids(outbox), {}
      for _, id in ipairs(ids) do
        assert.is_nil(seen[id], "sent twice: " .. id)
        seen[id] = true
      end
      local c = q:counts()
      assert.equal(400, c.accepted)
      assert.equal(400, #ids)
      q:close() client:close()
    end)
  end)

  describe("shared limits", function()
    it("a token bucket in Redis holds the rate across workers", function()
      local q, client = fresh()
      local c = raw()
      local key = q.account_keys.bucket
      -- 200/s, bucket 20: 100 messages in 5 reservations of 20 need about 0.4 s
      local waits = {}
      for i = 1, 5 do waits[i] = tonumber(c:eval(scripts.reserve, { key }, { 200, 20, 20 })) end
      assert.equal(0, waits[1])
      assert.near(0.4, waits[5], 0.05)
      c:close()
      q:close() client:close()
    end)

    it("the worker honours the rate", function()
      local q, client = fresh()
      local list = {}
      for i = 1, 120 do list[i] = msg(i) end
      assert(q:enqueue_many(list))
      local t0 = core.monotonic()
      assert(q:work{ until_empty = true, block = 0.05, batch = 10, rate = 200, burst = 10 })
      local took = core.monotonic() - t0
      -- 110 messages past the burst at 200/s: at least 0.55 s (an upper bound would only measure the machine)
      assert.truthy(took > 0.5, "took " .. took)
      q:close() client:close()
    end)

    it("a quota answer pauses every worker of the account and the message goes again", function()
      local q, client, outbox = fresh("bizmessage")
      assert(q:enqueue(msg(1)))
      q.client = quota_client(client, 1)
      local t0 = core.monotonic()
      local stats = assert(q:work{ until_empty = true, block = 0.05, quota_pause = 0.5 })
      assert.truthy(core.monotonic() - t0 >= 0.45)
      assert.equal(1, stats.requeued)
      assert.equal(1, stats.accepted)
      assert.equal(1, #outbox_ids(outbox))
      q:close() client:close()
    end)

    it("a quota answer sets back only what this worker still owns, never another's going", function()
      local q, client, outbox = fresh("bizmessage")
      assert(q:enqueue(msg(1)))
      assert(q:enqueue(msg(2)))
      q.client = quota_client(client, 1, function()
        -- meanwhile another worker claims m1 and marks it going (its request may be leaving)
        local c = raw()
        local eid = assert(q:result("m1")).entry
        c:call("XCLAIM", q.keys.stream, scripts.GROUP, "thief", 0, eid)
        assert.same({}, c:eval(scripts.going, { q.keys.stream, q.keys.msg("m1") },
                               { scripts.GROUP, "thief", "sandbox", 1, eid }))
        c:close()
      end)
      local stats = assert(q:work{ max_messages = 1, idle_exit = 2, block = 0.05, quota_pause = 0.2,
                                   min_idle = 30, max_deliveries = 2 })
      assert.equal(1, stats.requeued)
      local h = assert(q:result("m1"))
      assert.equal("going", h.state)
      local rc = raw()
      assert.equal("thief", rc:call("HGET", q.keys.msg("m1"), "worker"))
      rc:close()
      assert.equal("accepted", q:result("m2").state)   -- set back, and sent after the pause
      assert.same({ "m2" }, outbox_ids(outbox))
      q:close() client:close()
    end)

    it("a message put back after quota answers is not counted as delivered again", function()
      local q, client, outbox = fresh("bizmessage")
      assert(q:enqueue(msg(1)))
      q.client = quota_client(client, 3)
      local stats = assert(q:work{ until_empty = true, block = 0.05, quota_pause = 0.1, max_deliveries = 2 })
      assert.equal(3, stats.requeued)
      assert.equal(1, stats.accepted)
      assert.equal(0, stats.dead)
      assert.equal(1, #outbox_ids(outbox))
      q:close() client:close()
    end)
  end)

  describe("poison entries", function()
    it("dead-letters a message whose processing keeps stopping workers, naming the count", function()
      local q, client, outbox = fresh("bizmessage")
      assert(q:enqueue(msg(1)))
      assert(q:enqueue(msg(2)))
      -- processing m1 raises (as a crash would end the worker): its entry stays pending, queued
      q.client = setmetatable({ send_batch = function(_, msgs, opts)
        for _, m in ipairs(msgs) do if m.id == "m1" then error("boom at m1", 0) end end
        return client.send_batch(client, msgs, opts)
      end }, { __index = client })
      local crashes, stats = 0, nil
      for i = 1, 8 do
        local ok, res = pcall(q.work, q, { consumer = "w" .. i, until_empty = true, block = 0.05,
                                           batch = 1, min_idle = 0, max_deliveries = 3 })
        if ok then stats = res break end
        assert.equal("boom at m1", res)
        crashes = crashes + 1
      end
      assert.equal(3, crashes)   -- deliveries 1, 2, 3 crashed; the 4th is over the limit
      assert(stats, "the queue never drained")
      assert.equal(1, stats.dead)
      assert.equal(1, stats.accepted)
      local dl = q:dead_letters()
      assert.equal(1, #dl)
      assert.equal("m1", dl[1].fields.id)
      assert.truthy(dl[1].reason:find("delivered 4 times (more than max_deliveries 3)", 1, true),
                    dl[1].reason)
      local res = assert(q:result("m1"))
      assert.equal("not_sent", res.state)
      assert.equal("MAX_DELIVERIES", res.code)
      assert.same({ "m2" }, outbox_ids(outbox))
      local c = q:counts()
      assert.equal(1, c.dead)
      assert.equal(1, c.not_sent)
      assert.equal(0, c.waiting)
      assert.equal(0, c.pending)
      q:close() client:close()
    end)

    it("counts a restarted worker's re-reads under the same consumer name", function()
      local q, client, outbox = fresh("bizmessage")
      assert(q:enqueue(msg(1)))
      q.client = setmetatable({ send_batch = function() error("boom", 0) end }, { __index = client })
      -- runs of one crash-looping worker with a stable name, and no claims (min_idle)
      local crashes, stats = 0, nil
      for _ = 1, 5 do
        local ok, res = pcall(q.work, q, { consumer = "stable", until_empty = true, block = 0.05,
                                           min_idle = 30, max_deliveries = 2 })
        if ok then stats = res break end
        assert.equal("boom", res)
        crashes = crashes + 1
      end
      assert.equal(2, crashes)   -- deliveries 1 and 2 crashed; the 3rd is over the limit
      assert.equal(1, stats.dead)
      assert.equal("MAX_DELIVERIES", q:result("m1").code)
      assert.equal(0, #outbox_ids(outbox))
      q:close() client:close()
    end)

    it("stores one in doubt uncertain past the limit, not resent and not dead-lettered", function()
      local q, client, outbox = fresh("bizmessage")   -- dedupes: below the limit it is resent
      assert(q:enqueue(msg(1)))
      die_while_sending(q, "m1")
      local c = raw()
      for i = 1, 3 do   -- three more workers claimed it and died
        c:call("XCLAIM", q.keys.stream, scripts.GROUP, "dead-" .. i, 0, assert(q:result("m1")).entry)
      end
      c:close()
      local stats = assert(q:work{ until_empty = true, block = 0.05, min_idle = 0, max_deliveries = 4 })
      assert.equal(1, stats.uncertain)
      assert.equal(0, stats.dead)
      local res = assert(q:result("m1"))
      assert.equal("uncertain", res.state)
      assert.truthy(res.reason:find("delivered 5 times (more than max_deliveries 4): not resent", 1, true),
                    res.reason)
      assert.equal(0, #outbox_ids(outbox))
      assert.equal(0, q:counts().dead)
      q:close() client:close()
    end)
  end)

  describe("retention", function()
    it("trim forgets final messages older than keep and never one that is not final", function()
      local q, client, outbox = fresh("sens")   -- sens: refs (messageId) to forget too
      local c = raw()
      -- one entry per stream node: the approximate XTRIM is then exact, so this case can name
      -- each entry that goes (the node steps are the next case's)
      assert.equal("OK", c:call("CONFIG", "SET", "stream-node-max-entries", "1"))
      finally(function()
        local a = raw()
        a:call("CONFIG", "SET", "stream-node-max-entries", "100")
        a:close()
      end)
      assert(q:enqueue(msg(0)))
      assert(q:work{ until_empty = true, block = 0.05 })
      for i = 1, 4 do assert(q:enqueue(msg(i))) end
      -- m1 read by a worker that died before its request (queued, pending), m2 during it (going)
      assert(q:prepare())
      c:call("XREADGROUP", "GROUP", scripts.GROUP, "dead-worker", "COUNT", 1, "STREAMS", q.keys.stream, ">")
      die_while_sending(q, "m2")
      assert(q:work{ idle_exit = 0.3, block = 0.05, min_idle = 30 })   -- sends m3, m4
      -- a second queue: an old entry not read by any worker yet, behind a dead letter
      local qb, cb = fresh("sens")
      assert(qb:enqueue(msg(1)))
      c:call("XADD", qb.keys.stream, "*", "garbage", "1")
      assert(qb:work{ until_empty = true, block = 0.05 })
      assert(qb:enqueue(msg(2)))
      local m0_ref = assert(q:result("m0")).ids.message_id
      core.sleep(1.2)
      assert(q:enqueue(msg(5)))
      assert(q:enqueue(msg(6)))
      assert(q:work{ idle_exit = 0.3, block = 0.05, min_idle = 30 })   -- m5, m6: younger than keep
      local m5_ref = assert(q:result("m5")).ids.message_id

      local res = assert(q:trim{ keep = 1 })
      assert.same({ messages = 3, refs = 3, results = 3, stream = 1, dead = 0 }, res)
      for _, id in ipairs({ "m0", "m3", "m4" }) do
        assert.equal("NOT_FOUND", select(2, q:result(id)).code)
      end
      assert.equal("queued", q:result("m1").state)
      assert.equal("going", q:result("m2").state)
      assert.equal("accepted", q:result("m5").state)
      local left = {}
      for _, e in ipairs(c:call("XRANGE", q.keys.stream, "-", "+")) do
        left[#left + 1] = queue.hash_to_table(e[2]).id
      end
      assert.same({ "m1", "m2", "m3", "m4", "m5", "m6" }, left)   -- m3, m4 stay behind pending m1
      assert.equal(2, c:call("XLEN", q.keys.results))
      assert.equal(redis.null, c:call("HGET", q.keys.refs, m0_ref))
      assert.equal("m5", c:call("HGET", q.keys.refs, m5_ref))
      local counts = q:counts()
      assert.equal(7, counts.queued)
      assert.equal(5, counts.accepted)
      assert.equal(2, counts.waiting)
      -- a late answer for a forgotten message is only acked: not stored, not counted again
      assert.equal(0, c:eval(scripts.store, { q.keys.stream, q.keys.results, q.keys.counts, q.keys.refs,
        q.keys.msg("m0") }, { scripts.GROUP, 1, "0-1", "m0", "accepted", "{}", "" }))
      assert.equal(0, c:call("EXISTS", q.keys.msg("m0")))
      assert.equal(5, q:counts().accepted)
      assert.same({ messages = 0, refs = 0, results = 0, stream = 0, dead = 0 }, assert(q:trim{ keep = 1 }))

      res = assert(qb:trim{ keep = 1 })
      assert.equal(2, res.stream)   -- m1 and the dead letter's entry; m2 (not read yet) stays
      assert.equal(1, res.dead)
      assert.equal(1, c:call("XLEN", qb.keys.stream))
      assert.equal(0, c:call("XLEN", qb.keys.dead))
      assert.equal(1, assert(qb:work{ until_empty = true, block = 0.05 }).accepted)
      assert.equal("accepted", qb:result("m2").state)

      -- the workers still drain what was kept: m1 sent, m2 in doubt (sens does not dedupe)
      local stats = assert(q:work{ until_empty = true, block = 0.05, min_idle = 0 })
      assert.equal(1, stats.accepted)
      assert.equal(1, stats.uncertain)
      counts = q:counts()
      assert.equal(6, counts.accepted)
      assert.equal(0, counts.waiting)
      assert.equal(0, counts.pending)
      local ids = outbox_ids(outbox)
      table.sort(ids)
      assert.same({ "m0", "m1", "m3", "m4", "m5", "m6" }, ids)

      -- a worker with keep trims as it goes (keep = 0: everything final)
      assert(q:work{ keep = 0, min_idle = 0, idle_exit = 0.2, block = 0.05 })
      assert.equal(0, c:call("XLEN", q.keys.stream))
      assert.equal(0, c:call("XLEN", q.keys.results))
      assert.equal(0, c:call("HLEN", q.keys.refs))
      assert.equal(0, q:counts().waiting)
      -- ids dedupe within the retention only: a forgotten id is queued again as new
      assert.is_nil(assert(q:enqueue(msg(1))).duplicate)
      -- a retention shorter than min_idle would forget a message before its late answer
      assert.has_error(function() q:work{ keep = 5, min_idle = 10 } end,
                       "queue:work: keep (5 s) must be at least min_idle (10 s)")
      c:close()
      qb:close() cb:close()
      q:close() client:close()
    end)

    it("trims the work stream in bounded steps of whole nodes, never past its bound", function()
      local q, client = fresh()
      local c = raw()
      local k = q.keys
      assert(q:prepare())
      local pipe = {}
      for i = 1, 1000 do pipe[i] = { "XADD", k.stream, "*", "id", "m" .. i, "msg", "{}" } end
      assert(c:pipeline(pipe))
      local read = c:call("XREADGROUP", "GROUP", scripts.GROUP, "A", "COUNT", 1000, "STREAMS", k.stream, ">")
      local ids = {}
      for i, e in ipairs(read[1][2]) do ids[i] = e[1] end
      local acks = {}
      for i, id in ipairs(ids) do   -- every entry has its outcome but the 550th
        if i ~= 550 then acks[#acks + 1] = { "XACK", k.stream, scripts.GROUP, id } end
      end
      assert(c:pipeline(acks))
      local function trim(limit)
        return c:eval(scripts.trim, { k.stream, k.dead }, { scripts.GROUP, "99999999999999", limit })[1]
      end
      local first = trim(300)
      assert.truthy(first > 0 and first <= 300, "trimmed " .. first)
      assert.equal(1000 - first, c:call("XLEN", k.stream))
      local total = first
      for _ = 1, 20 do
        local t = trim(300)
        if t == 0 then break end
        total = total + t
      end
      -- whole nodes below the pending entry went; the 550th and all after it stay
      assert.truthy(total <= 549 and total > 549 - 200, "trimmed " .. total)
      local left = c:call("XRANGE", k.stream, "-", "+")
      assert.equal(1000 - total, #left)
      assert.equal(ids[total + 1], left[1][1])
      assert.equal(ids[1000], left[#left][1])
      c:close()
      q:close() client:close()
    end)

    it("a worker trims again on its next round when a trim stopped at its limit", function()
      local worker = require "alimtalk.queue.worker"
      local q, client = fresh()
      for i = 1, 30 do assert(q:enqueue(msg(i))) end
      assert.equal(30, assert(q:work{ until_empty = true, block = 0.05 }).accepted)
      core.sleep(1.1)
      local limit = worker.TRIM_LIMIT
      worker.TRIM_LIMIT = 5
      finally(function() worker.TRIM_LIMIT = limit end)
      -- 8 rounds of about 0.05 s: less than the second between trims on a timer
      local rounds = 0
      assert(q:work{ keep = 1, min_idle = 1, block = 0.05,
                     stop = function() rounds = rounds + 1 return rounds > 8 end })
      local c = raw()
      assert.equal(0, c:call("XLEN", q.keys.results))
      assert.equal(0, c:call("XLEN", q.keys.stream))
      assert.equal("NOT_FOUND", select(2, q:result("m30")).code)
      c:close()
      q:close() client:close()
    end)
  end)

  describe("an id queued again", function()
    it("a late answer for the forgotten message is only acked, never stored on the new one", function()
      local q, client, outbox = fresh("sens")   -- sens: the claimed in-doubt entry is stored uncertain
      local c = raw()
      local e1 = assert(q:enqueue(msg(1))).entry
      die_while_sending(q, "m1")   -- worker A sent m1 and has not answered yet
      assert.equal(1, assert(q:work{ until_empty = true, block = 0.05, min_idle = 0 }).uncertain)
      core.sleep(0.01)
      assert.equal(1, assert(q:trim{ keep = 0 }).messages)
      local t2 = assert(q:enqueue(msg(1)))   -- the producer queues the id again: a new message
      assert.is_nil(t2.duplicate)
      assert.are_not.equal(e1, t2.entry)
      -- A's answer for its entry e1 arrives now
      assert.equal(0, c:eval(scripts.store, { q.keys.stream, q.keys.results, q.keys.counts, q.keys.refs,
        q.keys.msg("m1") }, { scripts.GROUP, 1, e1, "m1", "accepted", "{}", "" }))
      local h = assert(q:result("m1"))
      assert.equal("queued", h.state)
      assert.equal(t2.entry, h.entry)
      assert.equal(0, q:counts().accepted)
      -- so the new message is sent, once
      assert.equal(1, assert(q:work{ until_empty = true, block = 0.05 }).accepted)
      assert.equal("accepted", q:result("m1").state)
      assert.same({ "m1" }, outbox_ids(outbox))
      c:close()
      q:close() client:close()
    end)

    it("no script writes a message hash for an entry that is not the hash's", function()
      local q, client = fresh()
      local c = raw()
      local e1 = assert(q:enqueue(msg(1))).entry
      local ex = c:call("XADD", q.keys.stream, "*", "id", "m1", "msg", cjson.encode(msg(1)))
      assert(q:prepare())
      c:call("XREADGROUP", "GROUP", scripts.GROUP, "A", "COUNT", 2, "STREAMS", q.keys.stream, ">")
      local k = q.keys
      -- poison: the message is queued and A owns ex, but the hash is e1's
      assert.equal(0, c:eval(scripts.poison, { k.stream, k.dead, k.counts, k.results, k.msg("m1") },
        { scripts.GROUP, "A", ex, "m1", "poison", "{}", 1, "{}" }))
      assert.equal("queued", q:result("m1").state)
      -- going: refused for ex, allowed for e1
      local function going(eid)
        return c:eval(scripts.going, { k.stream, k.msg("m1") }, { scripts.GROUP, "A", "sandbox", 1, eid })
      end
      assert.same({ 1 }, going(ex))
      assert.equal("queued", q:result("m1").state)
      assert.same({}, going(e1))
      -- requeue: going by A, but set back only for its own entry
      assert.equal(0, c:eval(scripts.requeue, { k.stream, k.msg("m1") }, { scripts.GROUP, "A", ex, "1" }))
      assert.equal("going", q:result("m1").state)
      -- store: acks ex only
      assert.equal(0, c:eval(scripts.store, { k.stream, k.results, k.counts, k.refs, k.msg("m1") },
        { scripts.GROUP, 1, ex, "m1", "accepted", "{}", "" }))
      assert.equal("going", q:result("m1").state)
      assert.equal(1, c:call("XPENDING", k.stream, scripts.GROUP)[1])
      c:close()
      q:close() client:close()
    end)
  end)

  describe("delivery events", function()
    it("are recorded against the message by its serial or the provider's id", function()
      local q, client = fresh("sens")
      assert(q:enqueue(msg(1)))
      assert(q:enqueue(msg(2)))
      assert(q:work{ until_empty = true, block = 0.05 })
      local res = assert(q:result("m1"))
      local mid = res.ids.message_id
      assert.truthy(mid)
      local events = require "alimtalk.events"
      assert.equal("m1", assert(q:record_event(events.new{ status = "delivered", provider = "sens",
        code = "0000", ids = { message_id = mid } })))
      assert.equal("m2", assert(q:record_event(events.new{ status = "failed", provider = "sens",
        code = "3019" }, "m2")))
      local again = assert(q:record_event(events.new{ status = "delivered", provider = "sens",
        ids = { message_id = mid } }))
      assert.equal("m1", again)
      assert.equal("delivered", q:result("m1").delivery.status)
      assert.equal("3019", q:result("m2").delivery.code)
      local c = q:counts()
      assert.equal(1, c.delivered)
      assert.equal(1, c.failed)
      local none, err = q:record_event(events.new{ status = "delivered", ids = { message_id = "nope" } })
      assert.is_nil(none)
      assert.equal("NOT_FOUND", err.code)
      q:close() client:close()
    end)
  end)
end)
