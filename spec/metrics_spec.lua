-- alimtalk.metrics and the client's `metrics` / `on_result` options: counters that add up to
-- the sends made (per provider, status and code), request counts equal to what the sandbox
-- server saw, a latency histogram that sees a slow answer, and Prometheus text that a strict
-- parser (spec/support/prometheus.lua, from the exposition format's rules) accepts.
local sandbox = require "support.sandbox"
local alimtalk = require "alimtalk"
local metrics = require "alimtalk.metrics"

local function shipped(i, extra)
  local m = { to = string.format("010-%04d-%04d", 1000 + math.floor(i / 10000), i % 10000),
              template = "order_shipped",
              vars = { name = "고객" .. i, order = "A" .. i, courier = "우체국택배",
                       invoice = string.format("%013d", 6302114700000 + i) } }
  for k, v in pairs(extra or {}) do m[k] = v end
  return m
end

local prom = require "support.prometheus"
local parse, sum, check_histogram = prom.parse, prom.sum, prom.check_histogram

describe("metrics", function()
  describe("without a server", function()
    it("escapes label values so a parser reads them back exactly", function()
      local m = metrics.new()
      local odd = 'a"b\\c\nd'
      m:observe{ provider = "sens", status = "rejected", code = odd }
      m:observe{ provider = "sens", status = "rejected", code = odd }
      m:observe{ provider = "sens", status = "accepted", code = "A000" }
      local fams, samples = parse(m:prometheus())
      assert.are.equal("counter", fams.alimtalk_messages_total.type)
      assert.are.equal("histogram", fams.alimtalk_send_seconds.type)
      assert.are.equal("counter", fams.alimtalk_requests_total.type)
      assert.is_truthy(fams.alimtalk_messages_total.help:find("provider", 1, true))
      assert.are.equal(2, sum(samples, "alimtalk_messages_total", { code = odd }))
      assert.are.equal(1, sum(samples, "alimtalk_messages_total", { code = "A000", status = "accepted" }))
      assert.are.equal(3, sum(samples, "alimtalk_messages_total"))
    end)

    it("puts each duration in its bucket, cumulative, with sum and count", function()
      local m = metrics.new{ buckets = { 0.1, 0.5, 1 } }
      for _, d in ipairs({ 0.05, 0.1, 0.3, 0.7, 3 }) do m:observe_request("sens", 202, d) end
      m:observe_request("apiplex", "timeout", 0.2)
      local _, samples = parse(m:prometheus())
      local function bucket(p, le)
        return sum(samples, "alimtalk_send_seconds_bucket", { provider = p, le = le })
      end
      assert.are.same({ 2, 3, 4, 5 }, { bucket("sens", "0.1"), bucket("sens", "0.5"),
                                        bucket("sens", "1"), bucket("sens", "+Inf") })
      assert.are.equal(5, check_histogram(samples, "alimtalk_send_seconds", { provider = "sens" }))
      assert.are.equal(1, check_histogram(samples, "alimtalk_send_seconds", { provider = "apiplex" }))
      assert.is_true(math.abs(sum(samples, "alimtalk_send_seconds_sum", { provider = "sens" }) - 4.15) < 1e-9)
      assert.are.equal(5, sum(samples, "alimtalk_requests_total", { provider = "sens", outcome = "202" }))
      assert.are.equal(1, sum(samples, "alimtalk_requests_total", { outcome = "timeout" }))
      -- quantiles estimated from the buckets, as Prometheus does
      -- rank 2.5 of 5: half way through the (0.1, 0.5] bucket's one request
      assert.is_true(math.abs(m:quantile(0.5, "sens") - 0.3) < 1e-9)
      assert.are.equal(1, m:quantile(0.9))                 -- beyond the last bound: that bound
      assert.is_nil(metrics.new():quantile(0.5))
    end)

    it("keeps exact samples when asked (the CLI's percentiles)", function()
      local m = metrics.new{ samples = 1000 }
      for i = 1, 100 do m:observe_request("sens", 202, i / 1000) end
      assert.are.equal(0.05, m:quantile(0.5))
      assert.are.equal(0.09, m:quantile(0.9))
      assert.are.equal(0.099, m:quantile(0.99))
      assert.are.equal(100, m:sampled())
    end)

    it("refuses buckets that do not increase, and a store without incr/snapshot", function()
      assert.has_error(function() metrics.new{ buckets = { 1, 0.5 } } end,
                       "alimtalk.metrics.new: buckets must increase (buckets[2])")
      assert.has_error(function() metrics.new{ buckets = { 0 } } end)
      assert.has_error(function() metrics.new{ buckets = {} } end)
      assert.has_error(function() metrics.new{ store = {} } end)
      assert.has_error(function() metrics.new{ bucket = {} } end)
      assert.has_error(function() alimtalk.new{ metrics = {} } end)
    end)

    it("counts every embedded-sandbox result and calls on_result once per message", function()
      local m = metrics.new()
      local seen = {}
      local client = assert(alimtalk.new{ templates = sandbox.templates, metrics = m,
                                          on_result = function(r) seen[#seen + 1] = r end })
      local msgs = {}
      for i = 1, 5 do msgs[i] = shipped(i) end
      msgs[6] = shipped(6, { to = "02-1" })          -- refused before sending (SENS code 3008)
      local rs = client:send_batch(msgs)
      assert.is_nil(client:send(shipped(7, { to = "02-1" })))
      client:close()
      assert.are.equal(7, #seen)
      assert.are.equal(rs[6], seen[6])
      local _, samples = parse(m:prometheus())
      assert.are.equal(7, sum(samples, "alimtalk_messages_total"))
      assert.are.equal(5, sum(samples, "alimtalk_messages_total", { status = "accepted" }))
      assert.are.equal(2, sum(samples, "alimtalk_messages_total",
                              { provider = "sandbox", status = "rejected", code = "3008" }))
      -- the embedded sandbox makes no HTTP request: its sends count as outcome "embedded"
      assert.is_true(sum(samples, "alimtalk_requests_total", { outcome = "embedded" }) >= 1)
    end)

    it("keeps the results when on_result raises (the messages went out)", function()
      local client = assert(alimtalk.new{ templates = sandbox.templates,
                                          on_result = function() error("audit down") end })
      local r = assert(client:send(shipped(1)))
      client:close()
      assert.are.equal("accepted", r.status)
      assert.matches("audit down", r.hook_error)
    end)

    it("uses the store it is given", function()
      local calls = {}
      local store = { incr = function(_, k, n) calls[#calls + 1] = { k, n } end,
                      snapshot = function() return {} end }
      local m = metrics.new{ store = store }
      m:observe{ provider = "sens", status = "accepted", code = "A000" }
      assert.are.same({ { 'alimtalk_messages_total{provider="sens",status="accepted",code="A000"}', 1 } },
                      calls)
    end)
  end)

  describe("against the sandbox server", function()
    local s
    setup(function() s = sandbox.start{ delivery_delay = 0.05 } end)
    teardown(function() assert.same({}, sandbox.stop(s)) end)
    before_each(function() assert(s:reset()) end)

    local function new_client(m, extra)
      local opts = { provider = "sens", sens = s:client_options("sens", { timeout = 5 }),
                     templates = sandbox.templates, metrics = m,
                     retry = { base_delay = 0.01, max_delay = 0.05, max_retry_after = 0.2 } }
      for k, v in pairs(extra or {}) do opts[k] = v end
      return assert(alimtalk.new(opts))
    end

    it("adds up to the sends made, per status and code, and per request", function()
      local m = metrics.new()
      local client = new_client(m)
      -- a third of the messages refused by Kakao with 3016, the rest accepted
      assert(s:fault{ provider = "sens", kind = "code", code = "3016", message_rate = 0.33, seed = 5 })
      local msgs = {}
      for i = 1, 250 do msgs[i] = shipped(i) end          -- 3 SENS requests (100 + 100 + 50)
      msgs[251] = shipped(251, { to = "02-1" })           -- never sent
      local rs = client:send_batch(msgs)
      for i = 1, 4 do rs[#rs + 1] = client:send(shipped(1000 + i)) end  -- 4 single requests
      client:close()
      local want = {}
      for _, r in ipairs(rs) do
        local k = r.status .. "/" .. r.code
        want[k] = (want[k] or 0) + 1
      end
      assert.is_true((want["rejected/3016"] or 0) > 30, "the fault hit some messages")
      assert.is_true((want["accepted/A000"] or 0) > 100)
      local _, samples = parse(m:prometheus())
      local total = 0
      for key, n in pairs(want) do
        local status, code = key:match("^(.-)/(.*)$")
        local got = sum(samples, "alimtalk_messages_total",
                        { provider = "sens", status = status, code = code })
        assert.are.equal(n, got, key)
        total = total + n
      end
      assert.are.equal(255, total)
      assert.are.equal(255, sum(samples, "alimtalk_messages_total"))
      -- requests: what the server logged, and the histogram saw each of them once
      local posts = sandbox.count_attempts(s, "sens", "/messages$", "POST")
      assert.are.equal(7, posts)
      assert.are.equal(posts, sum(samples, "alimtalk_requests_total",
                                  { provider = "sens", outcome = "202" }))
      assert.are.equal(posts, check_histogram(samples, "alimtalk_send_seconds", { provider = "sens" }))
      assert.is_true(sum(samples, "alimtalk_send_seconds_sum", { provider = "sens" }) > 0)
    end)

    it("sees a slow answer in the latency histogram, and a failed request by its code", function()
      local m = metrics.new{ buckets = { 0.1, 0.25, 1 } }
      local client = new_client(m)
      assert(s:fault{ provider = "sens", kind = "delay", delay = 0.3, count = 1 })
      assert.are.equal("accepted", client:send(shipped(1)).status)
      assert.are.equal("accepted", client:send(shipped(2)).status)
      assert(s:fault{ provider = "sens", kind = "status", status = 503, retry_after = 0, count = 1 })
      assert.are.equal("accepted", client:send(shipped(3)).status)   -- retried after the 503
      client:close()
      local _, samples = parse(m:prometheus())
      local function bucket(le)
        return sum(samples, "alimtalk_send_seconds_bucket", { provider = "sens", le = le })
      end
      assert.are.equal(4, bucket("+Inf"))
      assert.are.equal(3, bucket("0.25"))                 -- the slow one is above 0.25 s
      assert.are.equal(4, bucket("1"))
      assert.are.equal(1, sum(samples, "alimtalk_requests_total", { outcome = "503" }))
      assert.are.equal(3, sum(samples, "alimtalk_requests_total", { outcome = "202" }))
      assert.are.equal(3, sum(samples, "alimtalk_messages_total", { status = "accepted" }))
      assert.is_true(m:quantile(0.99) > 0.25)
    end)
  end)

  describe("alimtalk bulk's summary", function()
    local fs = require "support.fs"
    local cjson = require "cjson"
    local s, dir
    setup(function()
      s = sandbox.start{ tls = false, delivery_delay = 0.05 }
      dir = fs.tmpdir("alimtalk-bulk-latency")
      local c = s.credentials.sens
      fs.write(dir .. "/cfg.json", cjson.encode({ provider = "sens", templates = sandbox.templates,
        sens = { base_url = s.http_url, service_id = c.service_id, plus_friend_id = c.plus_friend_id } }))
      local rows = { "to,name,date" }
      for i = 1, 250 do rows[#rows + 1] = ("010-7000-%04d,고객%d,2026-11-21"):format(i, i) end
      fs.write(dir .. "/in.csv", table.concat(rows, "\n") .. "\n")
    end)
    teardown(function()
      fs.rmtree(dir)
      assert.same({}, sandbox.stop(s))
    end)

    local function bulk(args)
      local c = s.credentials.sens
      return fs.capture(("cd %s && ALIMTALK_SENS_ACCESS_KEY=%s ALIMTALK_SENS_SECRET_KEY=%s %s %s/bin/alimtalk"
        .. " bulk %s --state-dir st -c cfg.json --template welcome --progress none")
        :format(fs.q(dir), fs.q(c.access_key), fs.q(c.secret_key), fs.RUNTIME, fs.q(sandbox.root), args))
    end

    it("gives request latency percentiles that see the one slow request", function()
      -- 250 rows: three SENS requests (100, 100, 50), the first answered after 0.4 s
      assert(s:fault{ provider = "sens", kind = "delay", delay = 0.4, count = 1 })
      local rc, out = bulk("run in.csv --campaign lat1")
      assert.are.equal(0, rc, out)
      local p50, p90, p99, n = out:match("latency: p50 ([%d.]+) ms, p90 ([%d.]+) ms, p99 ([%d.]+) ms "
                                         .. "over (%d+) requests")
      assert.is_truthy(p50, out)
      assert.are.equal("3", n)
      assert.is_true(tonumber(p50) < 400, out)
      assert.is_true(tonumber(p99) >= 400, out)
      assert.is_true(tonumber(p90) >= tonumber(p50))
      rc, out = bulk("run in.csv --campaign lat2 --json")
      assert.are.equal(0, rc, out)
      local summary = cjson.decode((out:gsub("rc=%d+%s*$", "")))
      assert.are.equal(3, summary.latency.requests)
      assert.is_true(summary.latency.p99 < 0.4, "no slow request this time")
    end)
  end)
end)
