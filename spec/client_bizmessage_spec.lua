-- The BizMessage client against the sandbox server over https: OAuth token caching and
-- refresh, one message per request, resends under the same cid after uncertain outcomes
-- (answered 3012 and counted as accepted), polling results, search with paging and detail.
local sandbox = require "support.sandbox"
local alimtalk = require "alimtalk"

local function shipped(i, extra)
  local m = { id = "biz-" .. i, to = string.format("010-2000-%04d", i), template = "order_shipped",
              vars = { name = "고객" .. i, order = "B" .. i, courier = "우체국택배",
                       invoice = string.format("%013d", 6302114700000 + i) } }
  for k, v in pairs(extra or {}) do m[k] = v end
  return m
end

local function count(s, path_pat) return sandbox.count_attempts(s, "bizmessage", path_pat) end
local function delivered(s, cid) return sandbox.count_delivered(s, "bizmessage", cid) end

describe("client: BizMessage", function()
  local s, client, creds

  setup(function()
    s = sandbox.start{ delivery_delay = 0.05 }
    creds = s.credentials.bizmessage
  end)
  teardown(function()
    if client then client:close() end
    assert.same({}, sandbox.stop(s))
  end)
  before_each(function()
    assert(s:reset())
    if client then client:close() end
    client = assert(alimtalk.new{ provider = "bizmessage", templates = sandbox.templates,
      bizmessage = s:client_options("bizmessage", { timeout = 2 }),
      retry = { base_delay = 0.01, max_delay = 0.05, max_retry_after = 0.2 } })
  end)

  it("fetches one token, reuses it, and sends one message per request concurrently", function()
    local msgs = {}
    for i = 1, 6 do msgs[i] = shipped(i) end
    local rs = client:send_batch(msgs, { concurrency = 3 })
    for i, r in ipairs(rs) do
      assert.equal("accepted", r.status, "message " .. i)
      assert.equal("biz-" .. i, r.ids.cid)
      assert.truthy(r.ids.uid ~= nil and r.ids.uid ~= "")
    end
    assert.equal(1, count(s, "^/v2/oauth/token$"))
    assert.equal(6, count(s, "^/v2/send/kakao$"))
    assert.equal(6, delivered(s))
  end)

  it("refreshes an expired token once on 401 and sends", function()
    assert.equal("accepted", client:send(shipped(1)).status)
    assert(s:expire_tokens())
    local r = client:send(shipped(2))
    assert.equal("accepted", r.status)
    assert.equal(2, count(s, "^/v2/oauth/token$"))
    assert.equal(1, delivered(s, "biz-2"))
  end)

  it("refreshes the token before it expires, without meeting a 401", function()
    assert(s:settings{ token_ttl = 2 })
    local c = assert(alimtalk.new{ provider = "bizmessage", templates = sandbox.templates,
      bizmessage = s:client_options("bizmessage", { refresh_margin = 1.5 }) })
    assert.equal("accepted", c:send(shipped(10)).status)
    assert.equal("accepted", c:send(shipped(11)).status)     -- still fresh: reused
    assert.equal(1, count(s, "^/v2/oauth/token$"))
    require("alimtalk.retry").sleep(0.7)                       -- now within the margin
    assert.equal("accepted", c:send(shipped(12)).status)
    assert.equal(2, count(s, "^/v2/oauth/token$"))
    for _, a in ipairs(s:attempts({ provider = "bizmessage" }) or {}) do
      assert.not_equal(401, a.status)
    end
    c:close()
  end)

  it("reports not_sent when the credentials are refused", function()
    local bad = assert(alimtalk.new{ provider = "bizmessage",
      bizmessage = s:client_options("bizmessage", { client_secret = "wrong-secret" }) })
    local r = bad:send(shipped(3, { content = "x" }))
    assert.equal("not_sent", r.status)
    assert.equal(0, count(s, "^/v2/send/kakao$"))
    assert.is_nil(tostring(r.message):find("wrong-secret", 1, true))
    bad:close()
  end)

  for _, fault in ipairs({
    { kind = "reset_after" }, { kind = "status", status = 502 }, { kind = "status", status = 504 },
    { kind = "malformed" }, { kind = "code", code = "3005" },
  }) do
    local name = fault.kind .. (fault.status and (" " .. fault.status) or "") .. (fault.code or "")
    it("resends under the same cid after " .. name .. " and is delivered exactly once", function()
      fault.provider, fault.count, fault.path = "bizmessage", 1, "/v2/send/kakao"
      assert(s:fault(fault))
      local r = client:send(shipped(50))
      assert.equal("accepted", r.status)
      assert.equal(2, r.attempts)
      assert.equal("biz-50", r.ids.cid)
      assert.equal(1, delivered(s, "biz-50"))
      assert.equal(2, count(s, "^/v2/send/kakao$"))
      -- the second copy went under the same cid after an attempt that may have landed
      assert.is_true(r.resent)
    end)
  end

  it("counts a duplicated cid from an earlier run as accepted", function()
    assert.equal("accepted", client:send(shipped(60)).status)
    local again = client:send(shipped(60))
    assert.equal("accepted", again.status)
    assert.is_true(again.duplicate)
    -- first sent by this call: nothing tells the client it is the same message as before
    assert.is_nil(again.resent)
    assert.equal(1, delivered(s, "biz-60"))
  end)

  it("does not call a retry after a 429 a resend: nothing had reached the provider", function()
    assert.equal("accepted", client:send(shipped(62)).status)
    assert(s:fault{ provider = "bizmessage", path = "/v2/send/kakao", kind = "status", status = 429,
                    retry_after = 0, count = 1 })
    local r = client:send(shipped(62))
    assert.equal("accepted", r.status)
    assert.is_true(r.duplicate)
    assert.equal(2, r.attempts)
    assert.is_nil(r.resent)
  end)

  it("reports uncertain when resends under the same cid cannot get an answer", function()
    assert(s:fault{ provider = "bizmessage", path = "/v2/send/kakao", kind = "status", status = 502 })
    local r = client:send(shipped(61))
    assert.equal("uncertain", r.status)
    assert.equal(4, r.attempts)
  end)

  it("retries 429 and stops on rejections", function()
    assert(s:fault{ provider = "bizmessage", path = "/v2/send/kakao", kind = "status", status = 429,
                    retry_after = 0, count = 2 })
    local r = client:send(shipped(70))
    assert.equal("accepted", r.status)
    assert.equal(3, r.attempts)
    assert(s:fault{ provider = "bizmessage", path = "/v2/send/kakao", kind = "code", code = "3016",
                    count = 1 })
    r = client:send(shipped(71))
    assert.equal("rejected", r.status)
    -- seed 003's result code, and Kakao's beside it
    assert.equal("510", r.code)
    assert.equal("3016", r.detail_code)
    assert.equal(1, r.attempts)
  end)

  it("polls results, closes the report group, and gets nothing twice", function()
    local rs = client:send_batch({ shipped(80), shipped(81) })
    local got = {}
    sandbox.wait(function()
      local p = assert(client:poll_results())
      for _, e in ipairs(p.events) do got[#got + 1] = e end
      return #got >= 2
    end, 5)
    assert.equal(2, #got)
    local by_cid = {}
    for _, e in ipairs(got) do by_cid[e.ids.cid] = e end
    assert.equal("delivered", by_cid["biz-80"].status)
    assert.equal(rs[2].ids.uid, by_cid["biz-81"].ids.uid)
    local again = assert(client:poll_results())
    assert.equal(0, #again.events)
  end)

  it("searches the delivery list page by page and reads one message's detail", function()
    local msgs = {}
    for i = 1, 5 do msgs[i] = shipped(90 + i) end
    client:send_batch(msgs)
    local page = assert(client:search{ size = 2 })
    assert.equal(2, #page.events)
    assert.is_true(page.next)
    local all = assert(client:search_all{ size = 2 })
    assert.equal(5, #all)
    local seen = {}
    for _, e in ipairs(all) do
      assert.is_nil(seen[e.ids.uid])
      seen[e.ids.uid] = true
    end
    local d = assert(client:detail(all[1].ids.uid))
    assert.equal(all[1].ids.uid, d.ids.uid)
    assert.truthy(d.content)
    local none, err = client:detail("no-such-uid")
    assert.is_nil(none)
    assert.equal("NOT_FOUND", err.code)
    assert.matches("no message with uid no%-such%-uid at bizmessage", tostring(err))
  end)

  it("refreshes the token once on an answer with code 400 (Authorization error), then rejects",
     function()
    assert.equal("accepted", client:send(shipped(100)).status)
    local c = assert(alimtalk.new{ provider = "bizmessage", templates = sandbox.templates,
      bizmessage = s:client_options("bizmessage", { sender_key = "revoked-sender-key", timeout = 2 }) })
    local tokens, sends = count(s, "^/v2/oauth/token$"), count(s, "^/v2/send/kakao$")
    local r = c:send(shipped(101))
    assert.equal("rejected", r.status)
    assert.equal(2, r.attempts)
    assert.equal(tokens + 2, count(s, "^/v2/oauth/token$"))   -- first token, then one refresh
    assert.equal(sends + 2, count(s, "^/v2/send/kakao$"))
    assert.equal(0, delivered(s, "biz-101"))
    c:close()
  end)

  it("sends tax codes, fallback fields, P3 button ids and the message's own sender number", function()
    local t = require("alimtalk.transport.curl").new{ ca_file = s.ca_file }
    local bodies = {}
    local rec = {
      request = function(_, req) bodies[#bodies + 1] = req.body return t:request(req) end,
      request_many = function(_, reqs)
        for _, req in ipairs(reqs) do bodies[#bodies + 1] = req.body end
        return t:request_many(reqs)
      end,
      close = function() t:close() end,
    }
    local c = assert(alimtalk.new{ provider = "bizmessage", transport = rec,
      bizmessage = { base_url = s.https_url, client_id = creds.client_id,
                     client_secret = creds.client_secret, sender_key = creds.sender_key,
                     sender_no = "0212345678", timeout = 2 } })
    local r = c:send{ id = "biz-110", to = "010-2000-0110", template = "TPL_0008", from = "031-555-1234",
      content = "[상점] 고객님, 요청하신 작업이 완료되었습니다.", tax_cd1 = "T-ONE", tax_cd2 = "T-TWO",
      failover = { type = "LMS", subject = "작업 완료", content = "요청하신 작업이 완료되었습니다." } }
    assert.equal("accepted", r.status, r.message)
    local sent
    for _, b in ipairs(bodies) do
      if b:sub(1, 1) == "{" then sent = require("cjson").decode(b) end
    end
    assert.equal("T-ONE", sent.tax_cd1)
    assert.equal("T-TWO", sent.tax_cd2)
    assert.equal("0315551234", sent.sender_no)
    assert.is_true(sent.fall_back_yn)
    assert.equal("LM", sent.fall_back_message_type)
    assert.equal("작업 완료", sent.fall_back_title)
    assert.equal("요청하신 작업이 완료되었습니다.", sent.fall_back_message)
    local p = c:provider()
    local entry = p:prepare({ id = "x", recipient = "821020000111", content = "x",
      buttons = { { type = "P3", name = "결제", oneclick_id = "OC-1", product_id = "PR-1" } } }, nil, "T")
    assert.equal("OC-1", entry.payload.attachment.button[1].oneclick_id)
    assert.equal("PR-1", entry.payload.attachment.button[1].product_id)
    c:close()
  end)
end)
