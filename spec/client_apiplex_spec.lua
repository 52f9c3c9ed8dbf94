-- The API PLEX client against the sandbox server over https: batches of 10; uncertain outcomes
-- reported and never resent by default (seed 004 does not say API PLEX dedupes msg_key), resent
-- with the same msg_key only with `dedupe_msg_key = true` (a duplicate-key answer then counts as
-- accepted); acceptance codes; image AlimTalk as AI; buttons, sender and failback on the wire
-- (seen through a transport that records each request before handing it to the real one); and
-- the result webhook authenticated by its echo token.
local sandbox = require "support.sandbox"
local alimtalk = require "alimtalk"
local webhook = require "alimtalk.webhook.apiplex"

local TOKEN = "echo-7d1f0a2b9c"

local function shipped(i, extra)
  local m = { id = "plex-" .. i, to = string.format("010-3000-%04d", i), template = "order_shipped",
              echo = TOKEN,
              vars = { name = "고객" .. i, order = "P" .. i, courier = "우체국택배",
                       invoice = string.format("%013d", 6302114700000 + i) } }
  for k, v in pairs(extra or {}) do m[k] = v end
  return m
end

local function sends(s) return sandbox.count_attempts(s, "apiplex", "/v2/send$") end

-- The real curl transport, remembering every request body it sends.
local function recording(ca_file)
  local t = require("alimtalk.transport.curl").new{ ca_file = ca_file }
  local rec = { bodies = {} }
  function rec.request(_, req)
    rec.bodies[#rec.bodies + 1] = req.body
    return t:request(req)
  end
  function rec.request_many(_, reqs)
    for _, req in ipairs(reqs) do rec.bodies[#rec.bodies + 1] = req.body end
    return t:request_many(reqs)
  end
  function rec.close() t:close() end
  function rec.sent()
    local cjson = require "cjson"
    local out = {}
    for _, b in ipairs(rec.bodies) do
      local d = cjson.decode(b)
      for _, m in ipairs(d.msg_data or {}) do m.msg_type = d.msg_type; out[#out + 1] = m end
    end
    return out
  end
  return rec
end

local function delivered(s, key) return sandbox.count_delivered(s, "apiplex", key) end

describe("client: API PLEX", function()
  local s, client

  setup(function()
    s = sandbox.start{ delivery_delay = 0.05, webhooks = { apiplex = "/_sandbox/sink/apiplex" } }
  end)
  teardown(function()
    if client then client:close() end
    assert.same({}, sandbox.stop(s))
  end)
  local function make(extra)
    local conf = s:client_options("apiplex", { timeout = 2 })
    local transport, templates = nil, sandbox.templates
    for k, v in pairs(extra or {}) do
      if k == "transport" then transport = v
      elseif k == "templates" then templates = v or nil
      else conf[k] = v end
    end
    if client then client:close() end
    client = assert(alimtalk.new{ provider = "apiplex", templates = templates,
      apiplex = conf, transport = transport,
      retry = { base_delay = 0.01, max_delay = 0.05, max_retry_after = 0.2 } })
    return client
  end

  before_each(function()
    assert(s:reset())
    make()
  end)

  it("sends 25 messages as requests of 10, 10 and 5", function()
    local msgs = {}
    for i = 1, 25 do msgs[i] = shipped(i) end
    local rs = client:send_batch(msgs)
    for i, r in ipairs(rs) do
      assert.equal("accepted", r.status, "message " .. i)
      assert.equal("C100", r.code)
      assert.equal("plex-" .. i, r.ids.msg_key)
    end
    assert.equal(3, sends(s))
    assert.equal(25, delivered(s))
  end)

  it("generates a msg_key for a message without id and reports it, so it can be reconciled", function()
    local m1, m2 = shipped(40), shipped(41)
    m1.id, m2.id = nil, nil
    local r = client:send(m1)
    assert.equal("accepted", r.status)
    assert.matches("^%x+$", r.ids.msg_key)
    assert.equal(1, delivered(s, r.ids.msg_key))
    local rs = client:send_batch({ m2, shipped(42) })
    assert.equal("accepted", rs[1].status)
    assert.matches("^%x+$", rs[1].ids.msg_key)
    assert.are_not.equal(r.ids.msg_key, rs[1].ids.msg_key)
    assert.equal(1, delivered(s, rs[1].ids.msg_key))
    assert.equal("plex-42", rs[2].ids.msg_key)
  end)

  it("reports a send that may have gone out as uncertain and never resends it (default)", function()
    assert(s:fault{ provider = "apiplex", kind = "reset_after", count = 1 })
    local m = shipped(30)
    m.id = nil
    local r = client:send(m)
    assert.equal("uncertain", r.status)
    assert.equal(1, r.attempts)
    assert.truthy(r.ids.msg_key)
    assert.equal(1, sends(s))
    assert.is_true(delivered(s, r.ids.msg_key) <= 1)
  end)

  for _, fault in ipairs({ { kind = "status", status = 502 }, { kind = "malformed" },
                           { kind = "status", status = 504 } }) do
    it("reports uncertain after " .. fault.kind .. (fault.status or "")
       .. " without resending (default)", function()
      fault.provider, fault.count = "apiplex", 1
      assert(s:fault(fault))
      local msgs = {}
      for i = 1, 12 do msgs[i] = shipped(40 + i) end
      local rs = client:send_batch(msgs)
      local unc = 0
      for i, r in ipairs(rs) do
        assert.is_true(r.status == "uncertain" or r.status == "accepted", "message " .. i)
        if r.status == "uncertain" then unc = unc + 1 end
        assert.equal(1, r.attempts)
        assert.is_true(delivered(s, "plex-" .. (40 + i)) <= 1)
      end
      assert.is_true(unc >= 2)
      assert.equal(2, sends(s))
    end)
  end

  it("reports C500_1 as uncertain: no resend and no failover", function()
    assert(s:fault{ provider = "apiplex", kind = "code", code = "C500_1", count = 1 })
    local r = client:send(shipped(31))
    assert.equal("uncertain", r.status)
    assert.equal("C500_1", r.code)
    assert.equal(1, sends(s))
  end)

  it("rejects a reused msg_key when dedupe is not confirmed (default)", function()
    assert.equal("accepted", client:send(shipped(32)).status)
    local r = client:send(shipped(32))
    assert.equal("rejected", r.status)
    assert.equal("C400_2", r.code)
    assert.is_nil(r.duplicate)
    assert.equal(1, delivered(s, "plex-32"))
  end)

  describe("with dedupe_msg_key = true", function()
    before_each(function() make{ dedupe_msg_key = true } end)

    it("generates a msg_key when the caller gives none and keeps it across resends", function()
      assert(s:fault{ provider = "apiplex", kind = "reset_after", count = 1 })
      local m = shipped(30)
      m.id = nil
      local r = client:send(m)
      assert.equal("accepted", r.status)
      assert.equal(2, r.attempts)
      assert.truthy(r.ids.msg_key)
      assert.equal(1, delivered(s, r.ids.msg_key))
    end)

    for _, fault in ipairs({ { kind = "status", status = 502 }, { kind = "malformed" },
                             { kind = "status", status = 504 } }) do
      it("resends the same msg_key after " .. fault.kind .. (fault.status or "")
         .. " and delivers each message once", function()
        fault.provider, fault.count = "apiplex", 1
        assert(s:fault(fault))
        local msgs = {}
        for i = 1, 12 do msgs[i] = shipped(40 + i) end
        local rs = client:send_batch(msgs)
        for i, r in ipairs(rs) do
          assert.equal("accepted", r.status, "message " .. i)
          assert.equal(1, delivered(s, "plex-" .. (40 + i)))
        end
      end)
    end

    it("counts a duplicated msg_key answer as accepted", function()
      assert.equal("accepted", client:send(shipped(33)).status)
      local r = client:send(shipped(33))
      assert.equal("accepted", r.status)
      assert.is_true(r.duplicate)
      assert.equal(1, delivered(s, "plex-33"))
    end)
  end)

  it("sends image AlimTalk as msg_type AI in its own request, the rest as AT", function()
    local rec = recording(s.ca_file)
    make{ transport = rec }
    local img = { id = "plex-img", to = "010-3000-0090", template = "concert_image",
                  vars = { name = "고객", date = "2026-12-01", seat = "A-1", ticket = "T1" } }
    local rs = client:send_batch({ shipped(91), img, shipped(92) })
    for i, r in ipairs(rs) do assert.equal("accepted", r.status, "message " .. i) end
    local types = {}
    for _, m in ipairs(rec.sent()) do types[m.msg_key] = m.msg_type end
    assert.same({ ["plex-91"] = "AT", ["plex-92"] = "AT", ["plex-img"] = "AI" }, types)
    assert.equal(2, sends(s))
    rec.close()
  end)

  it("sends P3 oneclick_id/product_id and the message's own sender number", function()
    local rec = recording(s.ca_file)
    make{ transport = rec, templates = false }   -- no registry: T0008 is the provider's code
    local m = { id = "plex-p3", to = "010-3000-0093", template = "T0008", from = "031-555-1234",
                content = "[상점] 고객님, 요청하신 작업이 완료되었습니다.",
                buttons = { { type = "P3", name = "바로 결제", oneclick_id = "OC-77" },
                            { type = "P3", name = "상품 결제", product_id = "PR-9" } } }
    local r = client:send_batch({ m })[1]
    assert.equal("accepted", r.status, r.message)
    local sent = rec.sent()[1]
    assert.equal("OC-77", sent.attachment.button[1].oneclick_id)
    assert.equal("PR-9", sent.attachment.button[2].product_id)
    assert.equal("0315551234", sent.sender_number)
    -- without from, the configured sender_number (never the failover sender)
    local m2 = shipped(94, { failover = { type = "SMS", from = "02-9999-0000", content = "발송 안내" } })
    make{ transport = rec, failback_api_unique_id = "fb-unique", failback_secret_key = "fb-secret" }
    rec.bodies = {}
    assert.equal("accepted", client:send(m2).status)
    sent = rec.sent()[1]
    assert.equal("0212345678", sent.sender_number)
    rec.close()
  end)

  it("sends failback_data when failback is configured, rejects unsendable failover otherwise", function()
    local rec = recording(s.ca_file)
    make{ transport = rec, failback_api_unique_id = "fb-unique", failback_secret_key = "fb-secret" }
    local m = shipped(95, { failover = { type = "LMS", from = "02-9999-0000", subject = "배송 안내",
                                         content = "고객님의 상품이 발송되었습니다." } })
    local r = client:send(m)
    assert.equal("accepted", r.status)
    local fb = rec.sent()[1].failback_data
    assert.equal("fb-unique", fb.api_unique_id)
    assert.equal("fb-secret", fb.secret_key)
    local payload = require("cjson").decode(fb.payload)
    assert.equal("LMS", payload.msg_type)
    assert.equal("배송 안내", payload.title)
    assert.equal("0299990000", payload.sender_number)
    assert.is_nil(tostring(r):find("fb-secret", 1, true))
    -- not configured: rejected before sending, naming the missing keys
    make()
    local before = sends(s)
    local r2, err = client:send(shipped(96, { failover = { type = "SMS", content = "발송 안내" } }))
    assert.is_nil(r2)
    assert.equal("NOT_SUPPORTED", err.code)
    assert.equal("failover", err.field)
    assert.truthy(tostring(err):find("failback_api_unique_id", 1, true))
    assert.truthy(tostring(err):find("failback_secret_key", 1, true))
    assert.equal(before, sends(s))
    -- also with pre-flight validation off and the `failover = true` shorthand
    local raw = assert(alimtalk.new{ provider = "apiplex", validate = false,
                                     apiplex = s:client_options("apiplex") })
    local _, err3 = raw:send(shipped(97, { failover = true }))
    assert.equal("NOT_SUPPORTED", err3.code)
    assert.equal(before, sends(s))
    raw:close()
    rec.close()
  end)

  it("stops on quota (G150), retries G160 session limits, rejects bad fields", function()
    assert(s:fault{ provider = "apiplex", kind = "code", code = "G150", count = 1 })
    local r = client:send(shipped(60))
    assert.equal("not_sent", r.status)
    assert.is_true(r.quota)
    assert.equal(0, delivered(s))
    local bad = shipped(61, { echo = string.rep("e", 257) })
    local rs = client:send_batch({ bad }, {})
    assert.equal("rejected", rs[1].status)
    assert.equal(0, rs[1].attempts)
    assert.equal(1, sends(s))   -- only the G150 one went out
  end)

  for _, waves in ipairs({ false, true }) do
    it("stops the run on quota: later requests of the batch are not sent (not_sent, quota)"
       .. (waves and ", transport without submit" or ""), function()
      local rec
      if waves then
        rec = recording(s.ca_file)
        make{ transport = rec }
      end
      assert(s:fault{ provider = "apiplex", kind = "code", code = "G150", count = 1 })
      local msgs = {}
      for i = 1, 25 do msgs[i] = shipped(100 + i) end
      local rs = client:send_batch(msgs, { concurrency = 1 })
      for i, r in ipairs(rs) do
        assert.equal("not_sent", r.status, "message " .. i)
        assert.is_true(r.quota, "message " .. i)
      end
      assert.equal(1, sends(s))      -- the first request met G150; the other two never went out
      assert.equal(0, delivered(s))
      if rec then rec.close() end
    end)
  end

  it("fails quota-stopped messages over to the next provider (nothing was sent)", function()
    client:close()
    client = assert(alimtalk.new{ templates = sandbox.templates, route = { "apiplex", "sandbox" },
      providers = {
        apiplex = s:client_options("apiplex", { timeout = 2 }),
        sandbox = { profile = "apiplex", outbox = false } } })
    assert(s:fault{ provider = "apiplex", kind = "code", code = "G150", count = 1 })
    local msgs = {}
    for i = 1, 15 do msgs[i] = shipped(130 + i) end
    local rs = client:send_batch(msgs, { concurrency = 1 })
    for i, r in ipairs(rs) do
      assert.equal("accepted", r.status, "message " .. i)
      assert.equal("sandbox", r.provider)
      assert.equal("failover", r.routing[2].decision)
    end
    assert.equal(1, sends(s))
  end)

  it("maps a partial batch failure to the right messages", function()
    assert(s:fault{ provider = "apiplex", kind = "code", code = "G141", message_rate = 0.5, count = 1 })
    local msgs = {}
    for i = 1, 10 do msgs[i] = shipped(70 + i) end
    local rs = client:send_batch(msgs)
    local acc, rej = 0, 0
    for i, r in ipairs(rs) do
      if r.status == "accepted" then
        acc = acc + 1
        assert.equal(1, delivered(s, "plex-" .. (70 + i)))
      else
        assert.equal("rejected", r.status)
        assert.equal("G141", r.code)
        assert.equal(0, delivered(s, "plex-" .. (70 + i)))
        rej = rej + 1
      end
    end
    assert.is_true(acc > 0 and rej > 0)
  end)

  it("receives the result webhook and authenticates it by the echo token", function()
    local r = client:send(shipped(80))
    local hook = assert(webhook.new{ echo_token = TOKEN })
    local got = sandbox.wait(function()
      for _, c in ipairs(s:sink("apiplex") or {}) do
        if c.body:find(r.ids.msg_key, 1, true) then return { c } end
      end
    end, 5)
    assert.truthy(got)
    local evs = assert(hook:parse(got[1].headers, got[1].body))
    assert.equal("delivered", evs[1].status)
    assert.equal(r.ids.msg_key, evs[1].ids.msg_key)
    local other = assert(webhook.new{ echo_token = "not-the-token" })
    local none, err = other:parse(got[1].headers, got[1].body)
    assert.is_nil(none)
    assert.equal("BAD_ECHO_TOKEN", err.code)
  end)
end)
