-- Results and delivery events keep each provider's documented per-message code in `code`, and
-- the finer code beside it in `detail_code` where the provider gives one (docs/providers.md,
-- "Result codes"). The answers are the source documents' own examples
-- (spec/fixtures/provider_answers.lua), served by a canned transport through the whole client.
local alimtalk = require "alimtalk"
local answers = require "fixtures.provider_answers"
local sinch_hook = require "alimtalk.webhook.sinch"
local apiplex_hook = require "alimtalk.webhook.apiplex"
local cjson = require "cjson"

local TOKEN = '{"access_token":"t","expires_in":3600}'

-- A transport answering by method and path: routes["POST /v2/send/kakao"] = body or { status, body }.
local function canned(routes)
  local t = { seen = {} }
  function t.request(_, req)
    local path = req.url:match("^https?://[^/]+([^?]*)")
    local key = (req.method or "GET") .. " " .. path
    t.seen[#t.seen + 1] = key
    local a = routes[key]
    assert(a, "no canned answer for " .. key)
    if type(a) == "string" then a = { 200, a } end
    return { status = a[1], headers = {}, body = a[2] }
  end
  function t.request_many(self, reqs)
    local out = {}
    for i, r in ipairs(reqs) do out[i] = { resp = self:request(r) } end
    return out
  end
  return t
end

local function bizmessage(send_body, extra)
  local routes = { ["POST /v2/oauth/token"] = TOKEN, ["POST /v2/send/kakao"] = send_body }
  for k, v in pairs(extra or {}) do routes[k] = v end
  return assert(alimtalk.new{ provider = "bizmessage", validate = false, transport = canned(routes),
    retry = { max_attempts = 1 },
    bizmessage = { base_url = "https://biz.test", client_id = "id", client_secret = "secret",
                   sender_key = "key", sender_no = "0212345678" } })
end

-- A SENS client answered by `routes` (see canned).
local function sens(routes)
  return assert(alimtalk.new{ provider = "sens", validate = false, transport = canned(routes),
    retry = { max_attempts = 1 },
    sens = { base_url = "https://sens.test", access_key = "AK", secret_key = "SK", service_id = "svc",
             plus_friend_id = "@shop" } })
end

local MSG = { id = "x", to = "010-1234-5678", template = "T1", content = "주문이 접수되었습니다" }

describe("result codes: BizMessage (seed 003)", function()
  it("a 410 answer is rejected with code 410 and detail_code INV0002", function()
    local c = bizmessage(answers.bizmessage.send_410)
    local r = c:send(MSG)
    assert.equal("rejected", r.status)
    assert.equal("410", r.code)
    assert.equal("INV0002", r.detail_code)
    assert.equal("invalid input", r.message)
    assert.equal("410", r.routing[1].code)
    -- and the CLI's line shows both
    assert.matches("code=410 detail=INV0002", require("alimtalk.cli.common").describe_result(r), 1, true)
    c:close()
  end)

  it("a success detail code under a failure or unknown code is not accepted", function()
    -- found by spec/fuzz/lua/providers.lua: the detail was classified first, so NRM0000 made
    -- any answer accepted, whatever its code said
    local c = bizmessage('{"code":"510","uid":"","cid":"x","result":{"detail_code":"NRM0000"}}')
    local r = c:send(MSG)
    assert.equal("rejected", r.status)
    assert.same({ "510", "NRM0000" }, { r.code, r.detail_code })
    c:close()
    c = bizmessage('{"code":"X200","uid":"","cid":"x","result":{"detail_code":"NRM0000"}}')
    assert.equal("uncertain", c:send(MSG).status)
    c:close()
    -- nor a detail code or an HTTP status found in `code`
    for _, code in ipairs({ "NRM0000", "202", "0000" }) do
      c = bizmessage('{"code":"' .. code .. '","uid":"","cid":"x"}')
      assert.equal("uncertain", c:send(MSG).status, code)
      c:close()
    end
  end)

  it("a success keeps 200 and its detail code NRM0000", function()
    local c = bizmessage(answers.bizmessage.send_ok)
    local r = c:send(MSG)
    assert.equal("accepted", r.status)
    assert.equal("200", r.code)
    assert.equal("NRM0000", r.detail_code)
    c:close()
  end)

  it("classifies by the detail code first: 510/3016 rejected, 520/3005 uncertain, 510/3012 a duplicate",
     function()
    local c = bizmessage(answers.bizmessage.send_510)
    local r = c:send(MSG)
    assert.equal("rejected", r.status)
    assert.same({ "510", "3016" }, { r.code, r.detail_code })
    c:close()
    -- 520 alone would be "failed but can be resent"; its detail 3005 says it may have landed
    c = bizmessage(answers.bizmessage.send_520)
    r = c:send(MSG)
    assert.equal("uncertain", r.status)
    assert.same({ "520", "3005" }, { r.code, r.detail_code })
    c:close()
    c = bizmessage(answers.bizmessage.send_dup)
    r = c:send(MSG)
    assert.equal("accepted", r.status)
    assert.is_true(r.duplicate)
    assert.same({ "510", "3012" }, { r.code, r.detail_code })
    c:close()
  end)

  it("polling events: code is the record's status_code, no detail when KakaoTalk gave none",
     function()
    local c = bizmessage(answers.bizmessage.send_ok, {
      ["GET /v2/info/message/results"] = answers.bizmessage.results,
      ["PUT /v2/info/message/results/complete/8493608862033069978"] = answers.bizmessage.complete })
    local p = assert(c:poll_results())
    assert.equal("8493608862033069978", p.report_group_no)
    assert.is_true(p.closed)
    local e = p.events[1]
    assert.equal("delivered", e.status)
    assert.equal("API_200", e.code)
    assert.is_nil(e.detail_code)
    assert.equal("77613652af2d464580796c41cf0d39a3", e.ids.cid)
    c:close()
  end)

  it("search and detail events: status_code as code, kko_status_code as detail_code", function()
    local c = bizmessage(answers.bizmessage.send_ok, {
      ["POST /v2/info/message/search"] = answers.bizmessage.search,
      ["GET /v2/info/message/search/detail/221018080314511j7usTgzgQDOXvIk"] = answers.bizmessage.detail })
    local page = assert(c:search{ start_date = "2022-10-18", end_date = "2022-10-18" })
    assert.equal("delivered", page.events[1].status)
    assert.same({ "API_200", "0000" }, { page.events[1].code, page.events[1].detail_code })
    -- the Kakao code decides the status: 3019 "not a KakaoTalk user" is a failed delivery
    assert.equal("failed", page.events[2].status)
    assert.same({ "API_510", "3019" }, { page.events[2].code, page.events[2].detail_code })
    local d = assert(c:detail("221018080314511j7usTgzgQDOXvIk"))
    assert.equal("delivered", d.status)
    assert.same({ "API_200", "0000" }, { d.code, d.detail_code })
    assert.equal("test message", d.content)
    c:close()
  end)
end)

describe("result codes: SENS (seed 001)", function()

  it("code is each message's requestStatusCode, not the request's statusCode; no detail", function()
    local c = sens({ ["POST /alimtalk/v2/services/svc/messages"] = { 202, answers.sens.send } })
    local rs = c:send_batch({ { to = "010-1234-5678", template = "T1", content = "a" },
                              { to = "010-1234-5679", template = "T1", content = "b" } })
    assert.equal("accepted", rs[1].status)
    assert.equal("A000", rs[1].code)
    assert.is_nil(rs[1].detail_code)
    assert.equal("rejected", rs[2].status)
    assert.equal("3016", rs[2].code)
    assert.is_nil(rs[2].detail_code)
    assert.equal("MID-2", rs[2].ids.message_id)
    c:close()
  end)

  it("a delivery event's code is the messageStatusCode once the request stage succeeded", function()
    local c = sens({ ["GET /alimtalk/v2/services/svc/messages/MID-2"] = answers.sens.message })
    local e = assert(c:query_message("MID-2"))
    assert.equal("failed", e.status)
    assert.equal("3019", e.code)
    assert.is_nil(e.detail_code)
    c:close()
  end)
end)

describe("result codes: Sinch (seed 002)", function()
  it("a FAILED report: code is reason.code, detail_code reason.sub_code", function()
    local e = assert(sinch_hook.normalize(cjson.decode(answers.sinch.failed)))
    assert.equal("failed", e.status)
    assert.equal("TEMPLATE_INSUFFICIENT_PARAMETERS", e.code)
    assert.equal("UNSPECIFIED_SUB_CODE", e.detail_code)
    assert.matches("^Authentication message not included", e.message)
  end)

  it("a DELIVERED report has no reason: code is the status, no detail", function()
    local e = assert(sinch_hook.normalize(cjson.decode(answers.sinch.delivered)))
    assert.equal("delivered", e.status)
    assert.equal("DELIVERED", e.code)
    assert.is_nil(e.detail_code)
  end)

  it("a send answer without a usable message_id is uncertain, not accepted", function()
    -- found by spec/fuzz/lua/providers.lua: "", a number or an object counted as the id
    for _, body in ipairs({ '{"message_id":""}', '{"message_id":12}', '{"message_id":{}}',
                            '{"message_id":"01HMSG"}' }) do
      local c = assert(alimtalk.new{ provider = "sinch", validate = false, retry = { max_attempts = 1 },
        transport = canned({ ["POST /oauth2/token"] = TOKEN, ["POST /v1/projects/p/messages:send"] = body }),
        sinch = { base_url = "https://sinch.test", auth_url = "https://auth.test", project_id = "p",
                  app_id = "a", key_id = "k", key_secret = "s" } })
      local r = c:send{ to = "010-1234-5678", template = "T1", vars = { name = "x" } }
      assert.equal(body:find('"01HMSG"') and "accepted" or "uncertain", r.status, body)
      c:close()
    end
    -- an error answer whose status reads as a success stays a refusal
    local c = assert(alimtalk.new{ provider = "sinch", validate = false, retry = { max_attempts = 1 },
      transport = canned({ ["POST /oauth2/token"] = TOKEN, ["POST /v1/projects/p/messages:send"] =
        { 400, '{"error":{"code":400,"message":"bad","status":"202"}}' } }),
      sinch = { base_url = "https://sinch.test", auth_url = "https://auth.test", project_id = "p",
                app_id = "a", key_id = "k", key_secret = "s" } })
    assert.equal("rejected", c:send{ to = "010-1234-5678", template = "T1", vars = { name = "x" } }.status)
    c:close()
  end)
end)

describe("result codes: only the documented success code accepts", function()
  -- found by spec/fuzz/lua/providers.lua: a SENS entry's requestStatusCode or an API PLEX
  -- result's code that the catalogue knows as a success elsewhere (a status name, Kakao 0000,
  -- an HTTP status) made the message accepted
  it("SENS: requestStatusCode other than A000 is not accepted", function()
    for _, code in ipairs({ "success", "0000", "200", "DONE", "COMPLETED" }) do
      local body = answers.sens.send:gsub('"A000"', '"' .. code .. '"', 1)
      local c = assert(alimtalk.new{ provider = "sens", validate = false, retry = { max_attempts = 1 },
        transport = canned({ ["POST /alimtalk/v2/services/svc/messages"] = { 202, body } }),
        sens = { base_url = "https://sens.test", access_key = "AK", secret_key = "SK", service_id = "svc",
                 plus_friend_id = "@shop" } })
      local rs = c:send_batch({ { to = "010-1234-5678", template = "T1", content = "a" },
                                { to = "010-1234-5679", template = "T1", content = "b" } })
      assert.equal("uncertain", rs[1].status, code)
      assert.equal("rejected", rs[2].status)
      c:close()
    end
  end)

  it("API PLEX: a result code other than C100 is not accepted", function()
    for _, code in ipairs({ "0000", "200", "C100", "3012" }) do
      local body = answers.apiplex.send:gsub('"C100"', '"' .. code .. '"', 1)
      local c = assert(alimtalk.new{ provider = "apiplex", validate = false, retry = { max_attempts = 1 },
        transport = canned({ ["POST /at-standard/v2/send"] = body }),
        apiplex = { base_url = "https://apx.test", user_id = "u", secret_key = "s",
                    service_id = "at-standard", sender_key = "key", sender_number = "0212345678" } })
      local r = c:send({ id = "k1", to = "010-1234-5678", template = "T1", content = "a" })
      -- (Kakao 3012 without dedupe_msg_key: API PLEX is not known to dedupe, so not taken)
      assert.equal(code == "C100" and "accepted" or code == "3012" and "rejected" or "uncertain",
                   r.status, code)
      c:close()
    end
  end)
end)

describe("result codes: API PLEX (seed 004)", function()
  it("code is each result's acceptance code; API PLEX gives no finer one", function()
    local c = assert(alimtalk.new{ provider = "apiplex", validate = false, retry = { max_attempts = 1 },
      transport = canned({ ["POST /at-standard/v2/send"] = answers.apiplex.send }),
      apiplex = { base_url = "https://apx.test", user_id = "u", secret_key = "s",
                  service_id = "at-standard", sender_key = "key", sender_number = "0212345678" } })
    local rs = c:send_batch({ { id = "k1", to = "010-1234-5678", template = "T1", content = "a" },
                              { id = "k2", to = "010-1234-5679", template = "T1", content = "b" } })
    assert.same({ "accepted", "C100" }, { rs[1].status, rs[1].code })
    assert.same({ "rejected", "C400_3" }, { rs[2].status, rs[2].code })
    assert.is_nil(rs[1].detail_code)
    assert.is_nil(rs[2].detail_code)
    c:close()
    local hook = assert(apiplex_hook.new{ echo_token = "tok" })
    local evs = assert(hook:parse({}, '{"results":[{"msg_key":"k1","code":"3019","desc":"no user",'
      .. '"echo_to_webhook":"tok","request_date":"2026-11-21 10:00:00"}]}'))
    assert.same({ "failed", "3019" }, { evs[1].status, evs[1].code })
    assert.is_nil(evs[1].detail_code)
  end)
end)

describe("result codes: delivery results of malformed records", function()
  -- found by spec/fuzz/lua/queries.lua: a record that was not an object raised, a
  -- JSON number beyond 2^53 as a code raised on Lua 5.4 ("%d"), and codes the catalogue knows
  -- as a success of another kind (SENS 200, a status name under an unknown code; BizMessage
  -- NRM0000 or API_200 as the Kakao code, 0000 as status_code) made a record delivered
  local SENS_Q = "GET /alimtalk/v2/services/svc/messages"

  it("SENS: an entry that is not an object is pending; the others are read", function()
    local m = cjson.decode(answers.sens.message)
    m.messageStatusCode, m.messageStatusName = "0000", "success"
    local doc = { requestId = "RID-1", messages = { 1e20, m, cjson.null, true, "x" } }
    local c = sens({ [SENS_Q] = cjson.encode(doc),
                     ["GET /alimtalk/v2/services/svc/channels"] = '[1e20,null,{"channelId":"@shop"}]' })
    local q = assert(c:query_request("RID-1"))
    assert.equal(5, #q.events)
    assert.same({ "pending", "delivered", "pending", "pending", "pending" },
      { q.events[1].status, q.events[2].status, q.events[3].status, q.events[4].status, q.events[5].status })
    assert.equal("RID-1", q.events[1].ids.request_id)
    local ch = assert(c:channels())
    assert.equal(1, #ch)
    assert.equal("@shop", ch[1].channel_id)
    c:close()
  end)

  it("SENS: delivered only on messageStatusCode 0000 with a successful request stage", function()
    local cases = {
      { { messageStatusCode = "200", messageStatusName = "success" }, "failed" },
      { { messageStatusCode = "DONE", messageStatusName = "success" }, "failed" },
      { { messageStatusCode = "9999", messageStatusName = "success" }, "failed" },
      { { messageStatusCode = { y = false }, messageStatusName = "success" }, "failed" },
      { { messageStatusCode = cjson.null, requestStatusCode = cjson.null, messageStatusName = "success" },
        "pending" },
      { { messageStatusCode = "0000", requestStatusCode = "3016" }, "failed" },
      { { messageStatusCode = "0000", messageStatusName = "fail" }, "failed" },
      { { messageStatusCode = 3019, messageStatusName = "fail" }, "failed", "3019" },
      { { messageStatusCode = 1e20, messageStatusName = "fail" }, "failed" },
      { { messageStatusCode = "0000", messageStatusName = "success" }, "delivered", "0000" },
    }
    for _, case in ipairs(cases) do
      local m = cjson.decode(answers.sens.message)
      for k, v in pairs(case[1]) do m[k] = v end
      local c = sens({ [SENS_Q .. "/MID-2"] = cjson.encode(m) })
      local e = assert(c:query_message("MID-2"))
      assert.equal(case[2], e.status, cjson.encode(case[1]))
      if case[3] then assert.equal(case[3], e.code) end
      c:close()
    end
  end)

  it("SENS: an error answer with an object for its message gives a text error", function()
    local c = sens({ [SENS_Q] = { 404, '{"statusCode":"404","statusName":[{}]}' } })
    local none, err = c:query_request("RID-1")
    assert.is_nil(none)
    assert.equal("NOT_FOUND", err.code)
    assert.equal("no request with id RID-1 at sens", err.message)
    c:close()
  end)

  it("BizMessage: a record that is not an object is pending; odd codes are never delivered", function()
    local records = {
      { { kko_status_code = "0000", status_code = 8.1888514765476e+19 }, "delivered" },
      { { kko_status_code = "NRM0000", status_code = "API_510" }, "failed" },
      { { kko_status_code = "API_200", status_code = "API_510" }, "failed" },
      { { status_code = "0000", ended_yn = "Y" }, "failed" },
      { { kko_status_code = "", status_code = "API_200" }, "delivered" },
      { { kko_status_code = 6.3714209676992e+19, status_code = "API_200" }, "failed" },
      { { kko_status_code = "0000", status_code = "API_200", ended_yn = "N" }, "pending" },
      { false, "pending" }, { cjson.null, "pending" }, { "x", "pending" },
    }
    local list = {}
    for i, r in ipairs(records) do list[i] = r[1] end
    local body = cjson.encode({ code = "200", results = list, next = false })
    local c = bizmessage(answers.bizmessage.send_ok, {
      ["POST /v2/info/message/search"] = body, ["GET /v2/info/message/results"] = body })
    for _, page in ipairs({ assert(c:search{ start_date = "2022-10-18" }),
                            assert(c:poll_results()) }) do
      assert.equal(#records, #page.events)
      for i, r in ipairs(records) do
        assert.equal(r[2], page.events[i].status, cjson.encode(r[1]))
      end
    end
    c:close()
  end)
end)
