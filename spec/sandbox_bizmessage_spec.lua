-- The sandbox's BizMessage emulation, driven with plain HTTP requests built here.
local sandbox = require "support.sandbox"

local TEXT = "홍길동님, 회원가입을 환영합니다.\n가입일: 2026-11-21"

describe("sandbox BizMessage", function()
  local s, token

  setup(function()
    s = sandbox.start{ delivery_delay = 0.1, unreachable = { "01099990000" } }
    token = sandbox.bizmessage_token(s)
  end)

  teardown(function()
    assert.same({}, sandbox.stop(s))
  end)

  local function call(method, path, json, tok)
    return assert(sandbox.http(s, { method = method, path = path, json = json,
      headers = { Authorization = "Bearer " .. (tok or token) } }))
  end

  local function msg(cid, over)
    local m = { message_type = "AT", sender_key = s.credentials.bizmessage.sender_key, cid = cid,
      template_code = "TPL_0002", phone_number = "821012345678", sender_no = "0212345678",
      message = TEXT, fall_back_yn = false }
    for k, v in pairs(over or {}) do m[k] = v end
    return m
  end

  describe("token", function()
    it("takes the literal 'Basic {client_id} {client_secret}' form", function()
      local c = s.credentials.bizmessage
      local r = assert(sandbox.http(s, { method = "POST", path = "/v2/oauth/token",
        headers = { Authorization = "Basic " .. c.client_id .. " " .. c.client_secret,
          ["Content-Type"] = "application/x-www-form-urlencoded" }, body = "grant_type=client_credentials" }))
      assert.equal(200, r.status)
      assert.is_string(r.json.access_token)
      assert.equal(3600, r.json.expires_in)
    end)

    it("refuses base64 credentials, a wrong secret and a wrong grant type", function()
      local c = s.credentials.bizmessage
      local function try(auth, body)
        return assert(sandbox.http(s, { method = "POST", path = "/v2/oauth/token",
          headers = { Authorization = auth, ["Content-Type"] = "application/x-www-form-urlencoded" },
          body = body or "grant_type=client_credentials" })).status
      end
      assert.equal(401, try("Basic " .. sandbox.base64(c.client_id .. ":" .. c.client_secret)))
      assert.equal(401, try("Basic " .. c.client_id .. " wrong"))
      assert.equal(400, try("Basic " .. c.client_id .. " " .. c.client_secret, "grant_type=password"))
    end)

    it("answers 401 to a missing, unknown or expired bearer token", function()
      assert.equal(401, assert(sandbox.http(s, { method = "POST", path = "/v2/send/kakao",
        json = msg("t-1") })).status)
      assert.equal(401, call("POST", "/v2/send/kakao", msg("t-2"), "nope").status)
      local short = sandbox.bizmessage_token(s)
      s:expire_tokens()
      local r = call("POST", "/v2/send/kakao", msg("t-3"), short)
      assert.equal(401, r.status)
      assert.equal("400", r.json.code)
      token = sandbox.bizmessage_token(s)
    end)

    it("expires tokens after token_ttl", function()
      s:settings({ token_ttl = 1 })
      local tok = sandbox.bizmessage_token(s)
      assert.equal("200", call("POST", "/v2/send/kakao", msg("ttl-1"), tok).json.code)
      os.execute("sleep 1.2")
      assert.equal(401, call("POST", "/v2/send/kakao", msg("ttl-2"), tok).status)
      s:settings({ token_ttl = 3600 })
    end)
  end)

  describe("send", function()
    it("accepts a message (code 200, uid) and answers a reused cid with 510/3012", function()
      local r = call("POST", "/v2/send/kakao", msg("cid-1"))
      assert.equal(200, r.status)
      assert.equal("200", r.json.code)
      assert.equal("cid-1", r.json.cid)
      assert.matches("^%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%w+$", r.json.uid)
      local again = call("POST", "/v2/send/kakao", msg("cid-1"))
      assert.equal("510", again.json.code)
      assert.equal("3012", again.json.result.detail_code)
      assert.equal(r.json.uid, again.json.uid)
      local n = 0
      for _, m in ipairs(s:outbox({ provider = "bizmessage" })) do
        if m.serial == "cid-1" then n = n + 1 end
      end
      assert.equal(1, n)
      -- both attempts are on record
      local seen = 0
      for _, a in ipairs(s:attempts({ provider = "bizmessage" })) do
        if a.serials and a.serials[1] == "cid-1" then seen = seen + 1 end
      end
      assert.equal(2, seen)
    end)

    it("answers missing fields with 410/1004 and over-long text(n) fields", function()
      local m = msg("miss-1")
      m.sender_no = nil
      local r = call("POST", "/v2/send/kakao", m)
      assert.equal("410", r.json.code)
      assert.equal("1004", r.json.result.detail_code)
      r = call("POST", "/v2/send/kakao", msg("long-1", { title = string.rep("가", 51) }))
      assert.equal("410", r.json.code)
      assert.equal("3029", r.json.result.detail_code)
      r = call("POST", "/v2/send/kakao", msg("long-2", { template_code = string.rep("T", 31) }))
      assert.equal("1030", r.json.result.detail_code)
      r = call("POST", "/v2/send/kakao", msg("ph-1", { phone_number = "12345" }))
      assert.equal("3008", r.json.result.detail_code)
    end)

    it("answers a mismatch 510/3016, an unknown template 510/3015; a fixed resend works", function()
      local r = call("POST", "/v2/send/kakao", msg("mm-1", { message = TEXT .. "\n추가 문장" ,
        template_code = "TPL_0008" }))
      assert.equal("510", r.json.code)
      assert.equal("3016", r.json.result.detail_code)
      r = call("POST", "/v2/send/kakao", msg("mm-1", { template_code = "TPL_9999" }))
      assert.equal("3015", r.json.result.detail_code)
      -- the refused cid was not consumed
      assert.equal("200", call("POST", "/v2/send/kakao", msg("mm-1")).json.code)
    end)

    it("checks buttons in attachment.button against the template", function()
      local text = "홍길동님, 주문하신 상품이 발송되었습니다.\n주문번호: 7\n택배사: 한진\n송장번호: 1234567890"
      local good = { { type = "DS", name = "배송조회" },
        { type = "WL", name = "주문 보기", url_mobile = "https://shop.example/o/7" } }
      local r = call("POST", "/v2/send/kakao", msg("btn-1", { template_code = "TPL_0001", message = text,
        attachment = { button = good } }))
      assert.equal("200", r.json.code)
      r = call("POST", "/v2/send/kakao", msg("btn-2", { template_code = "TPL_0001", message = text,
        attachment = { button = { good[1] } } }))
      assert.equal("3027", r.json.result.detail_code)
    end)

    it("shows the fallback SMS a handset gets when AlimTalk fails and fall_back_yn is set", function()
      local uid = call("POST", "/v2/send/kakao", msg("fb-1", { phone_number = "01099990000",
        fall_back_yn = true, fall_back_message_type = "SM", fall_back_message = "가입을 환영합니다" })).json.uid
      local m = sandbox.wait(function()
        local x = s:outbox({ provider = "bizmessage", to = "01099990000" })
        for _, e in ipairs(x) do if e.id == uid and e.status == "failed" then return e end end
      end, 3)
      assert.same({ type = "SMS", text = "가입을 환영합니다", status = "delivered" }, m.fallback)
    end)

    it("answers bad JSON with HTTP 400 code 410", function()
      local r = assert(sandbox.http(s, { method = "POST", path = "/v2/send/kakao", body = "{",
        headers = { Authorization = "Bearer " .. token, ["Content-Type"] = "application/json" } }))
      assert.equal(400, r.status)
      assert.equal("410", r.json.code)
    end)
  end)

  describe("results", function()
    it("hands out delivered results as a report group until it is closed", function()
      local function poll() return call("GET", "/v2/info/message/results").json end
      local a = call("POST", "/v2/send/kakao", msg("poll-1")).json.uid
      local b = call("POST", "/v2/send/kakao", msg("poll-2", { phone_number = "01099990000" })).json.uid
      -- groups also carry earlier tests' messages: close them until ours have come
      local by, g = {}, nil
      sandbox.wait(function()
        g = poll()
        for _, row in ipairs(g.results) do by[row.uid] = row end
        if by[a] and by[b] then return true end
        if g.report_group_no ~= "" then
          call("PUT", "/v2/info/message/results/complete/" .. g.report_group_no)
        end
      end, 3)
      assert.equal("API_200", by[a].status_code)
      assert.equal("0000", by[a].kko_status_code)
      assert.equal("API_510", by[b].status_code)
      assert.equal("3019", by[b].kko_status_code)
      -- not closed: the same group again
      assert.equal(g.report_group_no, poll().report_group_no)
      assert.equal("200", call("PUT", "/v2/info/message/results/complete/" .. g.report_group_no).json.code)
      assert.equal("410", call("PUT", "/v2/info/message/results/complete/" .. g.report_group_no).json.code)
      assert.equal("", poll().report_group_no)
    end)

    it("searches the delivery list with paging and shows one message's detail", function()
      for i = 1, 5 do call("POST", "/v2/send/kakao", msg("page-" .. i)) end
      local seen, last, pages = {}, nil, 0
      repeat
        local r = call("POST", "/v2/info/message/search", { size = 2, last_uid = last }).json
        assert.equal("200", r.code)
        for _, row in ipairs(r.results) do seen[#seen + 1] = row.cid end
        last = r.last_uid
        pages = pages + 1
      until not r.next or pages > 50
      local found = {}
      for _, c in ipairs(seen) do found[c] = (found[c] or 0) + 1 end
      for i = 1, 5 do assert.equal(1, found["page-" .. i]) end
      assert.equal("410", call("POST", "/v2/info/message/search", { size = 1001 }).json.code)
      -- a fractional size would never fill a page: refused like any other bad size
      assert.equal("410", call("POST", "/v2/info/message/search", { size = 1.5 }).json.code)
      local uid = call("POST", "/v2/send/kakao", msg("detail-1")).json.uid
      local d = call("GET", "/v2/info/message/search/detail/" .. uid).json
      assert.equal("200", d.code)
      assert.equal(TEXT, d.result.message)
      assert.equal("detail-1", d.result.cid)
      assert.equal("410", call("GET", "/v2/info/message/search/detail/nope").json.code)
    end)
  end)
end)
