-- The sandbox's SENS emulation, driven with plain HTTP requests built here (not our client).
local sandbox = require "support.sandbox"

local ORDER_TEXT = "홍길동님, 주문하신 상품이 발송되었습니다.\n주문번호: 1001\n택배사: CJ대한통운\n송장번호: 123456789012"
local ORDER_BUTTONS = {
  { type = "DS", name = "배송조회" },
  { type = "WL", name = "주문 보기", linkMobile = "https://shop.example/o/1001",
    linkPc = "https://shop.example/o/1001" },
}

describe("sandbox SENS", function()
  local s, base

  setup(function()
    s = sandbox.start{ delivery_delay = 0.2 }
    base = sandbox.sens_base(s)
  end)

  teardown(function()
    assert.same({}, sandbox.stop(s))
  end)

  local function post(body, opts)
    local uri = base .. "/messages"
    local headers = sandbox.sens_headers(s, "POST", uri, opts)
    return assert(sandbox.http(s, { method = "POST", path = uri, headers = headers, json = body,
      https = opts and opts.https }))
  end

  local function get(uri, opts)
    return assert(sandbox.http(s, { method = opts and opts.method or "GET", path = uri,
      headers = sandbox.sens_headers(s, opts and opts.method or "GET", uri, opts) }))
  end

  local function order(messages)
    return { plusFriendId = "@sandbox", templateCode = "ORDER_SHIPPED", messages = messages }
  end

  it("accepts a templated message with 202/A000 and delivers it after the delay", function()
    local r = post(order({ { to = "01012345678", content = ORDER_TEXT, buttons = ORDER_BUTTONS } }))
    assert.equal(202, r.status)
    assert.equal("202", r.json.statusCode)
    assert.equal("A000", r.json.messages[1].requestStatusCode)
    local id, rid = r.json.messages[1].messageId, r.json.requestId
    assert.is_string(id)
    -- before the delay: processing
    local q = get(base .. "/messages?requestId=" .. rid)
    assert.equal(200, q.status)
    assert.equal("processing", q.json.messages[1].messageStatusName)
    local one = sandbox.wait(function()
      local m = get(base .. "/messages/" .. id)
      return m.json.messageStatusCode == "0000" and m
    end, 3)
    assert.truthy(one)
    assert.equal("success", one.json.messageStatusName)
    assert.equal(rid, one.json.requestId)
    local box = s:outbox({ provider = "sens", to = "01012345678" })
    local seen
    for _, m in ipairs(box) do if m.id == id then seen = m end end
    assert.equal(ORDER_TEXT, seen.text)
    assert.equal("delivered", seen.status)
    assert.equal("https://shop.example/o/1001", seen.buttons[2].url_mobile)
  end)

  it("falls back to SMS when AlimTalk fails and useSmsFailover is set", function()
    s:settings({ unreachable = { "01099990000" } })
    local r = post(order({ { to = "01099990000", content = ORDER_TEXT, buttons = ORDER_BUTTONS,
      useSmsFailover = true, failoverConfig = { type = "LMS", subject = "배송", content = "배송 시작" } },
      { to = "01099990000", content = ORDER_TEXT, buttons = ORDER_BUTTONS } }))
    assert.equal("A000", r.json.messages[1].requestStatusCode)
    local id1, id2 = r.json.messages[1].messageId, r.json.messages[2].messageId
    local m = sandbox.wait(function()
      local x = get(base .. "/messages/" .. id1)
      return x.json.messageStatusName == "fail" and x
    end, 3)
    assert.equal("3019", m.json.messageStatusCode)
    assert.equal("COMPLETED", m.json.failover.messageStatus)
    assert.is_nil(get(base .. "/messages/" .. id2).json.failover)
    local by = {}
    for _, x in ipairs(s:outbox({ to = "01099990000" })) do by[x.id] = x end
    assert.same({ type = "LMS", subject = "배송", text = "배송 시작", status = "delivered" }, by[id1].fallback)
    assert.is_nil(by[id2].fallback)
    assert.equal("failed", by[id2].status)
  end)

  it("treats null members as absent, as a JSON binder does", function()
    local cjson = require "cjson"
    local r = post(order({ { to = "01012345678", content = ORDER_TEXT, buttons = ORDER_BUTTONS,
      title = cjson.null, countryCode = cjson.null, headerContent = cjson.null } }))
    assert.equal("A000", r.json.messages[1].requestStatusCode)
  end)

  it("works over HTTPS verified against the generated CA", function()
    local r = post(order({ { to = "01012345678", content = ORDER_TEXT, buttons = ORDER_BUTTONS } }),
      { https = true })
    assert.equal(202, r.status)
  end)

  describe("authentication", function()
    local body = order({ { to = "01012345678", content = ORDER_TEXT, buttons = ORDER_BUTTONS } })

    it("refuses a signature with one character changed", function()
      local uri = base .. "/messages"
      local h = sandbox.sens_headers(s, "POST", uri)
      local sig = h["x-ncp-apigw-signature-v2"]
      local c = sig:sub(5, 5)
      h["x-ncp-apigw-signature-v2"] = sig:sub(1, 4) .. (c == "A" and "B" or "A") .. sig:sub(6)
      local r = assert(sandbox.http(s, { method = "POST", path = uri, headers = h, json = body }))
      assert.equal(401, r.status)
      assert.equal("200", r.json.error.errorCode)
    end)

    it("refuses a timestamp more than 5 minutes old, and accepts one 4 minutes old", function()
      local old = string.format("%d", (os.time() - 360) * 1000)
      assert.equal(401, post(body, { timestamp = old }).status)
      local recent = string.format("%d", (os.time() - 240) * 1000)
      assert.equal(202, post(body, { timestamp = recent }).status)
    end)

    it("refuses an unknown access key and a wrong secret", function()
      assert.equal(401, post(body, { access_key = "NOPE" }).status)
      assert.equal(401, post(body, { secret_key = "wrong" }).status)
    end)

    it("signs the exact URI: a query left out of the signature is refused", function()
      local uri = base .. "/channels?pageSize=10"
      local h = sandbox.sens_headers(s, "GET", base .. "/channels")
      local r = assert(sandbox.http(s, { path = uri, headers = h }))
      assert.equal(401, r.status)
      assert.equal(200, get(uri).status)
    end)

    it("refuses missing headers", function()
      local r = assert(sandbox.http(s, { method = "POST", path = base .. "/messages", json = body }))
      assert.equal(401, r.status)
    end)
  end)

  describe("validation", function()
    it("answers 400/1001 to a body that is not JSON", function()
      local uri = base .. "/messages"
      local r = assert(sandbox.http(s, { method = "POST", path = uri,
        headers = sandbox.sens_headers(s, "POST", uri), body = "{not json" }))
      assert.equal(400, r.status)
      assert.equal("1001", r.json.errorCode)
    end)

    it("answers 400/8530 to 101 messages and accepts 100", function()
      local list = {}
      for i = 1, 101 do list[i] = { to = "01012345678", content = ORDER_TEXT, buttons = ORDER_BUTTONS } end
      local r = post(order(list))
      assert.equal(400, r.status)
      assert.equal("8530", r.json.errorCode)
      list[101] = nil
      r = post(order(list))
      assert.equal(202, r.status)
      assert.equal(100, #r.json.messages)
    end)

    it("answers 1004 for a missing templateCode and 3015 for an unknown one", function()
      local r = post({ plusFriendId = "@sandbox", messages = { { to = "01012345678", content = "x" } } })
      assert.equal(400, r.status)
      assert.equal("1004", r.json.errorCode)
      r = post({ plusFriendId = "@sandbox", templateCode = "NOPE",
        messages = { { to = "01012345678", content = "x" } } })
      assert.equal("3015", r.json.errorCode)
    end)

    it("fails only the messages that break a rule in a batch", function()
      local r = post(order({
        { to = "01012345678", content = ORDER_TEXT, buttons = ORDER_BUTTONS },
        { to = "01012345678", content = ORDER_TEXT:gsub("발송되었습니다", "발송됐습니다"), buttons = ORDER_BUTTONS },
        { to = "01012345678", content = ORDER_TEXT, buttons = { ORDER_BUTTONS[1] } },
        { to = "0212345678", content = ORDER_TEXT, buttons = ORDER_BUTTONS },
        { to = "01012345678", content = ORDER_TEXT, buttons = { ORDER_BUTTONS[1],
          { type = "WL", name = "주문 보기", linkMobile = "https://evil.example/o/1001" } } },
      }))
      assert.equal(202, r.status)
      local codes = {}
      for i, m in ipairs(r.json.messages) do codes[i] = m.requestStatusCode end
      assert.same({ "A000", "3016", "3027", "3008", "3027" }, codes)
      -- rejected messages never reach a handset
      local ids = {}
      for _, m in ipairs(s:outbox({ provider = "sens" })) do ids[m.id] = true end
      assert.is_true(ids[r.json.messages[1].messageId])
      assert.is_nil(ids[r.json.messages[2].messageId])
    end)

    it("checks the highlight title (3028/3029/3030)", function()
      local text = "홍길동님, 결제가 완료되었습니다.\n결제일시: 2026-11-21 10:00\n결제수단: 카드"
      local btn = { { type = "WL", name = "영수증 보기", linkMobile = "https://shop.example/r/9" } }
      local function send(title, code)
        return post({ plusFriendId = "@sandbox", templateCode = code or "PAYMENT_DONE",
          messages = { { to = "01012345678", content = text, title = title, buttons = btn } } })
          .json.messages[1].requestStatusCode
      end
      assert.equal("A000", send("39,000원"))
      assert.equal("3028", send(nil))
      assert.equal("3028", send("39,000달러"))
      assert.equal("3029", send(string.rep("9", 51) .. "원"))
      assert.equal("3030", post(order({ { to = "01012345678", content = ORDER_TEXT, title = "x",
        buttons = ORDER_BUTTONS } })).json.messages[1].requestStatusCode)
    end)

    it("checks an item list message (header, highlight, 2..10 items, summary)", function()
      local function msg(over)
        local m = { to = "01012345678", content = "홍길동님의 주문 내역입니다.", headerContent = "주문 내역",
          itemHighlight = { title = "무선 이어폰", description = "주문번호 1001" },
          item = { list = { { title = "상품", description = "무선 이어폰" }, { title = "수량", description = "2개" } },
            summary = { title = "합계", description = "₩39,000" } },
          buttons = { { type = "WL", name = "주문 상세", linkMobile = "https://shop.example/o/1001" } } }
        for k, v in pairs(over or {}) do m[k] = v end
        return m
      end
      local function code(over)
        return post({ plusFriendId = "@sandbox", templateCode = "ORDER_ITEMS", messages = { msg(over) } })
          .json.messages[1].requestStatusCode
      end
      assert.equal("A000", code())
      assert.equal("3032", code({ headerContent = string.rep("가", 17) }))
      assert.equal("3031", code({ headerContent = "다른 헤더" }))
      assert.equal("3034", code({ itemHighlight = { title = string.rep("가", 31), description = "주문번호 1" } }))
      assert.equal("3035", code({ itemHighlight = { title = "이어폰", description = string.rep("가", 20) } }))
      assert.equal("3036", code({ item = { list = { { title = "상품", description = "이어폰" } },
        summary = { title = "합계", description = "₩1" } } }))
      assert.equal("3037", code({ item = { list = { { title = "상품", description = string.rep("가", 24) },
        { title = "수량", description = "2개" } }, summary = { title = "합계", description = "₩1" } } }))
      assert.equal("3040", code({ item = { list = { { title = "상품", description = "이어폰" },
        { title = "수량", description = "2개" } }, summary = { title = "합계", description = "약 3만원쯤" } } }))
      assert.equal("3040", code({ item = { list = { { title = "상품", description = "이어폰" },
        { title = "수량", description = "2개" } }, summary = { title = "합계", description = "$1.999" } } }))
      -- currency codes: the active ISO 4217 list (alimtalk.iso4217), not any three capitals
      local function summary(d)
        return code({ item = { list = { { title = "상품", description = "이어폰" },
          { title = "수량", description = "2개" } }, summary = { title = "합계", description = d } } })
      end
      assert.equal("A000", summary("1,000 KRW"))
      assert.equal("A000", summary("39,000원"))
      assert.equal("3040", summary("1,000 QQQ"))
      assert.equal("3040", summary("1,000 KRWX"))
    end)

    it("limits the content to 1000 characters (3014)", function()
      local r = post({ plusFriendId = "@sandbox", templateCode = "WELCOME", messages = { {
        to = "01012345678", content = "가님, 회원가입을 환영합니다.\n가입일: " .. string.rep("가", 1000) } } })
      assert.equal("3014", r.json.messages[1].requestStatusCode)
    end)

    it("limits variable values when max_variable_chars is set (3025)", function()
      s:settings({ max_variable_chars = 5 })
      local function code(name)
        return post({ plusFriendId = "@sandbox", templateCode = "WELCOME", messages = { {
          to = "01012345678", content = name .. "님, 회원가입을 환영합니다.\n가입일: 11-21" } } })
          .json.messages[1].requestStatusCode
      end
      assert.equal("A000", code("홍길동"))
      assert.equal("3025", code("홍길동홍길동"))
      s:settings({ max_variable_chars = 1000 })
      assert.equal("A000", code("홍길동홍길동"))
    end)

    it("checks the button rules (AC name, AL schemes)", function()
      local text = "홍길동님, 2026-12-01 예약이 확정되었습니다."
      local function code(buttons)
        return post({ plusFriendId = "@sandbox", templateCode = "RESERVATION_APP",
          messages = { { to = "01012345678", content = text, buttons = buttons } } })
          .json.messages[1].requestStatusCode
      end
      local al = { type = "AL", name = "앱에서 보기", schemeIos = "app://r/1", schemeAndroid = "app://r/1" }
      local bk = { type = "BK", name = "예약 변경" }
      assert.equal("A000", code({ al, bk, { type = "AC", name = "채널 추가" } }))
      assert.equal("3027", code({ al, bk, { type = "AC", name = "친구 추가" } }))
      assert.equal("1030", code({ { type = "AL", name = "앱에서 보기" }, bk, { type = "AC", name = "채널 추가" } }))
      assert.equal("3027", code({ bk, al, { type = "AC", name = "채널 추가" } }))
    end)
  end)

  describe("reservations", function()
    it("reserves, reports READY, cancels with 204 and then CANCELED; a second cancel is refused", function()
      local when = os.date("!%Y-%m-%d %H:%M", os.time() + 9 * 3600 + 3600)
      local b = order({ { to = "01012345678", content = ORDER_TEXT, buttons = ORDER_BUTTONS } })
      b.reserveTime, b.reserveTimeZone = when, "Asia/Seoul"
      local r = post(b)
      assert.equal(202, r.status)
      assert.equal("reserved", r.json.statusName)
      local rid = r.json.requestId
      local st = get(base .. "/reservations/" .. rid .. "/reserve-status")
      assert.equal(200, st.status)
      assert.same({ reserveId = rid, reserveTime = when, reserveTimeZone = "Asia/Seoul",
        reserveStatus = "READY" }, st.json)
      assert.equal(204, get(base .. "/reservations/" .. rid, { method = "DELETE" }).status)
      assert.equal("CANCELED", get(base .. "/reservations/" .. rid .. "/reserve-status").json.reserveStatus)
      assert.equal(400, get(base .. "/reservations/" .. rid, { method = "DELETE" }).status)
      assert.equal(404, get(base .. "/reservations/nope/reserve-status").status)
      local m = get(base .. "/messages/" .. r.json.messages[1].messageId)
      assert.equal("fail", m.json.messageStatusName)
    end)

    it("refuses a malformed reserveTime", function()
      local b = order({ { to = "01012345678", content = ORDER_TEXT, buttons = ORDER_BUTTONS } })
      b.reserveTime = "tomorrow"
      assert.equal(400, post(b).status)
    end)
  end)

  describe("queries", function()
    it("lists messages by time range for a channel, with paging", function()
      for _ = 1, 3 do
        post(order({ { to = "01055556666", content = ORDER_TEXT, buttons = ORDER_BUTTONS } }))
      end
      local from = os.date("!%Y-%m-%dT%H:%M:%S", os.time() + 9 * 3600 - 600)
      local to = os.date("!%Y-%m-%dT%H:%M:%S", os.time() + 9 * 3600 + 600)
      local q = get(base .. "/messages?plusFriendId=%40sandbox&requestStartTime=" .. from
        .. "&requestEndTime=" .. to .. "&to=01055556666&pageSize=2")
      assert.equal(200, q.status)
      assert.equal(2, q.json.itemCount)
      assert.is_true(q.json.hasMore)
      local q2 = get(base .. "/messages?plusFriendId=%40sandbox&requestStartTime=" .. from
        .. "&requestEndTime=" .. to .. "&to=01055556666&pageSize=2&pageIndex=1")
      assert.equal(1, q2.json.itemCount)
      assert.is_false(q2.json.hasMore)
      -- by completion time: the same messages once delivered
      sandbox.wait(function()
        local c = get(base .. "/messages?plusFriendId=%40sandbox&completeStartTime=" .. from
          .. "&completeEndTime=" .. to .. "&to=01055556666")
        return c.status == 200 and c.json.itemCount == 3
      end, 3)
      local c = get(base .. "/messages?plusFriendId=%40sandbox&completeStartTime=" .. from
        .. "&completeEndTime=" .. to .. "&to=01055556666&messageStatusName=success")
      assert.equal(3, c.json.itemCount)
      assert.equal(400, get(base .. "/messages?plusFriendId=%40sandbox").status)
      assert.equal(400, get(base .. "/messages?plusFriendId=%40sandbox&requestStartTime=" .. from
        .. "&requestEndTime=" .. to .. "&completeStartTime=" .. from .. "&completeEndTime=" .. to).status)
      assert.equal(404, get(base .. "/messages?requestId=nope").status)
    end)

    it("lists the channel and the templates", function()
      local c = get(base .. "/channels")
      assert.equal(200, c.status)
      assert.equal("@sandbox", c.json[1].channelId)
      assert.equal("ACTIVE", c.json[1].channelStatus)
      local t = get(base .. "/templates?channelId=%40sandbox&templateCode=PAYMENT_DONE")
      assert.equal(200, t.status)
      assert.equal(1, #t.json)
      assert.equal("TEXT", t.json[1].emphasizeType)
      assert.equal("#{amount}원", t.json[1].title)
      local all = get(base .. "/templates?channelId=%40sandbox")
      assert.is_true(#all.json >= 8)
      assert.equal(400, get(base .. "/templates").status)
      assert.equal(404, get(base .. "/templates?channelId=%40other").status)
    end)

    it("answers an unknown service id with 404", function()
      local uri = "/alimtalk/v2/services/ncp:other/channels"
      assert.equal(404, get(uri).status)
    end)
  end)

  describe("request-controlled limits", function()
    it("answers a requestId naming an impossible block with 404 at once (no loop over it)", function()
      local r = post(order({ { to = "01012345678", content = ORDER_TEXT, buttons = ORDER_BUTTONS } }))
      local rid = r.json.requestId
      local first = tonumber(rid:match("^RSAL%-(%d+)%-"))
      for _, id in ipairs({ "RSAL-1-99999999-abc", "RSAL-" .. first .. "-101-abc",
          "RSAL-" .. first .. "-2-abc", "RSAL-0-1-abc" }) do
        local uri = base .. "/messages?requestId=" .. id
        -- a bounded client timeout: a handler looping over the named block would not answer
        local q = assert(sandbox.http(s, { method = "GET", path = uri, timeout = 5,
          headers = sandbox.sens_headers(s, "GET", uri) }))
        assert.equal(404, q.status, id)
        assert.equal("404", q.json.statusCode)
      end
      assert.equal(200, get(base .. "/messages?requestId=" .. rid).status)
      local pages = { "pageSize=0", "pageSize=101", "pageSize=1.5", "pageIndex=-1", "pageIndex=0.5" }
      for _, page in ipairs(pages) do
        local q = get(base .. "/messages?requestId=" .. rid .. "&" .. page)
        assert.equal(400, q.status, page)
        assert.equal("1030", q.json.errorCode)
      end
    end)

    local function kst(offset)
      return os.date("!%Y-%m-%dT%H:%M:%S", os.time() + 9 * 3600 + offset)
    end

    it("limits a request range to 31 days and a completion range to 24 hours (seed 001)", function()
      local function q(args)
        return get(base .. "/messages?plusFriendId=%40sandbox&" .. args)
      end
      local ok = q("requestStartTime=" .. kst(-31 * 86400 + 60) .. "&requestEndTime=" .. kst(60))
      assert.equal(200, ok.status)
      local over = q("requestStartTime=" .. kst(-32 * 86400) .. "&requestEndTime=" .. kst(0))
      assert.equal(400, over.status)
      assert.same({ "400", "fail", "1030" },
        { over.json.statusCode, over.json.statusName, over.json.errorCode })
      assert.matches("31 days", over.json.errorMessage)
      assert.equal(200, q("completeStartTime=" .. kst(-86400) .. "&completeEndTime=" .. kst(0)).status)
      local c = q("completeStartTime=" .. kst(-86401) .. "&completeEndTime=" .. kst(0))
      assert.equal(400, c.status)
      assert.matches("24 hours", c.json.errorMessage)
      -- end before start, and times not in yyyy-MM-ddTHH:mm:ss
      assert.equal(400, q("requestStartTime=" .. kst(0) .. "&requestEndTime=" .. kst(-60)).status)
      assert.equal(400, q("requestStartTime=yesterday&requestEndTime=" .. kst(0)).status)
    end)

    it("needs one of requestId or a range, not both ranges, and plusFriendId without requestId", function()
      local r = get(base .. "/messages?plusFriendId=%40sandbox&requestStartTime=" .. kst(-60))
      assert.equal(400, r.status)
      assert.equal("1030", r.json.errorCode)
      r = get(base .. "/messages?plusFriendId=%40sandbox&requestStartTime=" .. kst(-60) .. "&requestEndTime="
        .. kst(0) .. "&completeStartTime=" .. kst(-60) .. "&completeEndTime=" .. kst(0))
      assert.equal(400, r.status)
      r = get(base .. "/messages?requestStartTime=" .. kst(-60) .. "&requestEndTime=" .. kst(0))
      assert.equal(400, r.status)
      assert.equal("1004", r.json.errorCode)
    end)

    it("refuses buttons that are not an array and a reserveTime in the past with 400/1030", function()
      local b = order({ { to = "01012345678", content = ORDER_TEXT, buttons = "x" } })
      local r = post(b)
      assert.equal(400, r.status)
      assert.equal("1030", r.json.errorCode)
      b = order({ { to = "01012345678", content = ORDER_TEXT, buttons = { a = ORDER_BUTTONS[1] } } })
      assert.equal(400, post(b).status)
      b = order({ { to = "01012345678", content = ORDER_TEXT, buttons = ORDER_BUTTONS } })
      b.reserveTime = "2001-01-01 10:00"
      r = post(b)
      assert.equal(400, r.status)
      assert.equal("1030", r.json.errorCode)
      assert.matches("past", r.json.errorMessage)
    end)
  end)

  describe("template listing", function()
    it("describes an approved template with seed 001's mandatory fields", function()
      local t = get(base .. "/templates?channelId=%40sandbox&templateCode=ORDER_SHIPPED").json[1]
      assert.equal("COMPLETE", t.templateInspectionStatus)
      assert.equal("ACTIVE", t.templateStatus)
      assert.equal("BA", t.messageType)
      assert.equal("NONE", t.emphasizeType)
      for _, k in ipairs({ "useImage", "useHeaderContent", "useItemHighlight", "useItemHighlightImage",
          "securityFlag", "isBlock", "isDormant" }) do
        assert.is_false(t[k], k)
      end
      assert.is_string(t.createTime)
      assert.same({ order = 1, type = "DS", name = "배송조회" }, t.buttons[1])
      assert.same({ order = 2, type = "WL", name = "주문 보기", linkMobile = "https://shop.example/o/#{order}",
        linkPc = "https://shop.example/o/#{order}" }, t.buttons[2])
      assert.is_nil(t.itemHighlight)
      assert.is_nil(t.item)
    end)

    it("fills header, item highlight and item list from the registry entry", function()
      local t = get(base .. "/templates?channelId=%40sandbox&templateCode=ORDER_ITEMS").json[1]
      assert.equal("ITEM_LIST", t.emphasizeType)
      assert.is_true(t.useHeaderContent)
      assert.equal("주문 내역", t.headerContent)
      assert.is_true(t.useItemHighlight)
      assert.is_false(t.useItemHighlightImage)
      assert.same({ title = "#{product}", description = "주문번호 #{order}" }, t.itemHighlight)
      assert.same({ list = { { title = "상품", description = "#{product}" },
        { title = "수량", description = "#{qty}개" } },
        summary = { title = "합계", description = "#{total}" } }, t.item)
      local auth = get(base .. "/templates?channelId=%40sandbox&templateCode=AUTH_CODE").json[1]
      assert.is_true(auth.securityFlag)
      assert.same({}, auth.buttons)
      local img = get(base .. "/templates?channelId=%40sandbox&templateCode=CONCERT_IMAGE").json[1]
      assert.is_true(img.useImage)
      assert.equal("IMAGE", img.emphasizeType)
    end)
  end)

  it("never hands out a message id twice, across a reset: an old id finds nothing new", function()
    local function send_one()
      local r = post(order({ { to = "01077778888", content = ORDER_TEXT, buttons = ORDER_BUTTONS } }))
      assert.equal("A000", r.json.messages[1].requestStatusCode)
      return r.json.messages[1].messageId, r.json.requestId
    end
    local old, old_rid = send_one()
    assert(s:reset())
    local new = send_one()
    assert.are_not.equal(old, new)
    -- the id's last group is the message's position: it goes on after a reset, so an id from
    -- before can never name a message sent after it (their other groups may well be equal)
    assert.is_true(tonumber(new:match("(%x+)$"), 16) > tonumber(old:match("(%x+)$"), 16))
    assert.equal(404, get(base .. "/messages/" .. old).status)
    assert.equal(404, get(base .. "/messages?requestId=" .. old_rid).status)
    assert.equal(200, get(base .. "/messages/" .. new).status)
    local box = s:outbox({ provider = "sens" })
    assert.equal(1, #box)
    assert.equal(new, box[1].id)
  end)
end)
