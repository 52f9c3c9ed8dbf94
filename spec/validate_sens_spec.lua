local validate = require "alimtalk.validate"
local common = require "fixtures.validation.common"
local H, A, base = common.hangul, common.ascii, common.base

local with, ih, items = common.with, common.item_highlight, common.items
local function buttons(n)
  local l = {}
  for i = 1, n do l[i] = { type = "BK", name = "버튼" .. i } end
  return { buttons = l }
end

-- Every SENS limit (seed 001); Hangul text shows the unit: characters unless "bytes".
local cases = {
  { name = "content 1000 characters (3014)", at = 1000, field = "content", pcode = "3014", unit = "chars",
    make = with(function(n) return { content = H(n) } end) },
  { name = "image-type content 400 characters (3014)", at = 400, field = "content", pcode = "3014",
    unit = "chars",
    make = with(function(n) return { content = H(n), image = true } end) },
  { name = "highlight title 50 characters (3029)", at = 50, field = "title", pcode = "3029", unit = "chars",
    make = with(function(n) return { title = H(n) } end) },
  { name = "header under 16 UTF-8 bytes (3032)", at = 15, field = "header", pcode = "3032", unit = "bytes",
    make = with(function(n) return { header = common.utf8_bytes(n) } end) },
  { name = "item highlight title 30 Hangul characters (3034)", at = 30, field = "item_highlight.title",
    pcode = "3034", unit = "chars", make = with(function(n) return ih(H(n)) end) },
  { name = "item highlight title with image 21 characters (3034)", at = 21, field = "item_highlight.title",
    pcode = "3034", unit = "chars", make = with(function(n) return ih(H(n), "설명", true) end) },
  { name = "item highlight title 15 characters per line (3034)", at = 15, field = "item_highlight.title",
    pcode = "3034", unit = "chars", make = with(function(n) return ih(H(n) .. "\n" .. H(30 - n)) end) },
  { name = "item highlight title with image 10 characters per line (3034)", at = 10,
    field = "item_highlight.title", pcode = "3034", unit = "chars",
    make = with(function(n) return ih(H(n) .. "\n" .. H(10), "설명", true) end) },
  { name = "item highlight title 2 lines (3034)", at = 2, field = "item_highlight.title", pcode = "3034",
    unit = "lines", make = with(function(n) return ih(string.rep("가", n, "\n")) end) },
  { name = "item highlight description 19 characters (3035)", at = 19, field = "item_highlight.description",
    pcode = "3035", unit = "chars", make = with(function(n) return ih("제목", H(n)) end) },
  { name = "item highlight description with image 13 characters (3035)", at = 13,
    field = "item_highlight.description", pcode = "3035", unit = "chars",
    make = with(function(n) return ih("제목", H(n), true) end) },
  { name = "item list at most 10 items", at = 10, field = "items", code = "TOO_MANY", unit = "items",
    make = with(function(n) return items(n) end) },
  { name = "item list title 6 characters", at = 6, field = "items[1].title", unit = "chars",
    make = with(function(n) return items(2, H(n)) end) },
  { name = "item list description 23 characters (3037)", at = 23, field = "items[2].description",
    pcode = "3037", unit = "chars", make = with(function(n) return items(2, "상품", H(n)) end) },
  { name = "summary title 6 characters", at = 6, field = "summary.title", unit = "chars",
    make = with(function(n) return { summary = { title = H(n), description = "39,000원" } } end) },
  { name = "summary description 14 characters (3039)", at = 14, field = "summary.description", pcode = "3039",
    unit = "chars", make = with(function(n) return { summary = { title = "합계",
      description = string.rep("1", n - 1)
      .. "원" } } end) },
  { name = "5 buttons", at = 5, field = "buttons", code = "TOO_MANY", unit = "items",
    make = with(function(n) return buttons(n) end) },
  { name = "button chat_extra 50 characters (3026)", at = 50, field = "buttons[1].chat_extra", pcode = "3026",
    unit = "chars", make = with(function(n) return { buttons = { { type = "BK", name = "봇",
      chat_extra = H(n) } } } end) },
  { name = "button chat_event 50 characters (3026)", at = 50, field = "buttons[1].chat_event", pcode = "3026",
    unit = "chars", make = with(function(n) return { buttons = { { type = "BK", name = "봇",
      chat_event = A(n) } } } end) },
  { name = "failover SMS 90 EUC-KR bytes", at = 90, field = "failover.content", unit = "bytes",
    make = with(function(n) return { failover = { type = "SMS", content = H(math.floor(n / 2))
      .. A(n % 2) } } end) },
  { name = "failover LMS 2000 EUC-KR bytes", at = 2000, field = "failover.content", unit = "bytes",
    make = with(function(n) return { failover = { type = "LMS", content = H(math.floor(n / 2))
      .. A(n % 2) } } end) },
}

describe("validate SENS", function()
  common.limit_cases(it, validate, "sens", cases)

  it("counts Korean in characters for the item highlight title: 30 Hangul pass, 31 fail with 3034", function()
    assert.truthy(validate.message(base(ih(H(30))), { provider = "sens" }))
    local ok, err = validate.message(base(ih(H(31))), { provider = "sens" })
    assert.is_nil(ok)
    local e = common.find(err, "item_highlight.title", "TOO_LONG")
    assert.equal("3034", e.provider_code)
    assert.equal(31, e.actual)
    assert.equal("chars", e.unit)
  end)

  it("counts the header in bytes: 5 Hangul (15 bytes) pass, 6 (18 bytes) fail", function()
    assert.truthy(validate.message(base{ header = H(5) }, { provider = "sens" }))
    local _, err = validate.message(base{ header = H(6) }, { provider = "sens" })
    assert.equal(18, common.find(err, "header", "TOO_LONG").actual)
  end)

  it("takes a header of less than 16 bytes: 15 ASCII pass, 16 fail (3032)", function()
    assert.truthy(validate.message(base{ header = string.rep("a", 15) }, { provider = "sens" }))
    local _, err = validate.message(base{ header = string.rep("a", 16) }, { provider = "sens" })
    local e = common.find(err, "header", "TOO_LONG")
    assert.equal(15, e.limit)
    assert.equal("3032", e.provider_code)
  end)

  it("needs at least 2 items", function()
    local _, err = validate.message(base(items(1)), { provider = "sens" })
    local e = common.find(err, "items", "TOO_FEW")
    assert.equal(2, e.limit)
    assert.equal(1, e.actual)
  end)

  it("takes up to 100 messages per request", function()
    local msgs = {}
    for i = 1, 101 do msgs[i] = base() end
    local ok_list, errs = validate.batch(msgs, { provider = "sens" })
    assert.equal(101, #ok_list)
    assert.equal("TOO_MANY", errs[0].code)
    assert.equal(100, errs[0].limit)
    msgs[101] = nil
    local _, errs2 = validate.batch(msgs, { provider = "sens" })
    assert.is_nil(errs2)
  end)

  it("keeps one template and one reservation per request (top-level SENS fields)", function()
    local ok_list, errs = validate.batch({ base(), base{ template = "OTHER" },
      base{ reserve_time = "2026-12-01 10:00" },
      base() }, { provider = "sens", now = common.kst(2026, 11, 21, 12, 0) })
    assert.truthy(ok_list[1] and ok_list[4])
    assert.equal("BATCH_MIXED", errs[2].code)
    assert.equal("messages[2].template", errs[2].field)
    assert.equal("messages[3].reserve_time", errs[3].field)
  end)

  it("reports every violation of a batch by index with field paths", function()
    local ok_list, errs = validate.batch({ base(), base{ title = H(51), to = "02-123-4567" }, base() },
      { provider = "sens" })
    assert.truthy(ok_list[1] and ok_list[3])
    assert.is_nil(ok_list[2])
    assert.truthy(common.find(errs[2], "messages[2].title", "TOO_LONG"))
    assert.equal("3008", common.find(errs[2], "messages[2].to", "BAD_PHONE").provider_code)
  end)

  describe("with the registry", function()
    local reg = common.registry()
    local opts = { provider = "sens", registry = reg, now = common.kst(2026, 11, 21, 12, 0) }
    local vars = { name = "홍길동", invoice = "123-4567-8901", order = "1001" }

    it("accepts a message rendered from its template", function()
      assert.truthy(validate.message({ to = "010-1234-5678", template = "order_shipped", vars = vars }, opts))
    end)

    it("reports content that differs from the template with the position (3016)", function()
      local _, err = validate.message({ to = "010-1234-5678", template = "ORDER_SHIPPED", vars = vars,
        content = "홍길동님, 주문하신 상품이 발송됐습니다.\n택배사: 로젠택배\n송장번호: 123-4567-8901" }, opts)
      local e = common.find(err, "content", "TEMPLATE_MISMATCH")
      assert.equal("3016", e.provider_code)
      assert.equal(18, e.position)
    end)

    it("refuses a title on a basic template (3030) and a wrong highlight title (3028)", function()
      local _, err = validate.message({ to = "01012345678", template = "order_shipped", vars = vars,
        title = "x" }, opts)
      assert.equal("3030", common.find(err, "title", "NOT_ALLOWED").provider_code)
      local _, err2 = validate.message({ to = "01012345678", template = "payment",
        vars = { name = "김", amount = "1,000" }, title = "1,000달러" }, opts)
      assert.equal("3028", common.find(err2, "title", "TEMPLATE_MISMATCH").provider_code)
    end)

    it("refuses item-list fields on other templates", function()
      local _, err = validate.message({ to = "01012345678", template = "payment", vars = { name = "김",
        amount = "1" },
        header = "주문", items = { { title = "a", description = "b" }, { title = "a",
          description = "b" } } }, opts)
      assert.equal("3031", common.find(err, "header", "NOT_ALLOWED").provider_code)
      assert.equal("3036", common.find(err, "items", "NOT_ALLOWED").provider_code)
    end)

    it("refuses buttons that differ from the template (3027)", function()
      local _, err = validate.message({ to = "01012345678", template = "order_shipped", vars = vars,
        buttons = { { type = "DS", name = "배송 조회" } } }, opts)
      assert.equal("3027", common.find(err, "buttons", "TEMPLATE_MISMATCH").provider_code)
      local _, err2 = validate.message({ to = "01012345678", template = "order_shipped", vars = vars,
        buttons = { { type = "DS", name = "배송조회" }, { type = "WL", name = "주문 보기",
          url_mobile = "https://evil.example/o/1001", url_pc = "https://shop.example/o/1001" } } }, opts)
      assert.equal("3027", common.find(err2, "buttons[2].url_mobile", "TEMPLATE_MISMATCH").provider_code)
    end)

    it("checks the item list against an item-list template (3036) and its rendered sizes", function()
      local v = { name = "김",
        product = "무선 블루투스 이어폰 화이트 에디션 2026 한정판 특별 구성",
          order = "A1", qty = 1,
        total = "39,000" }
      local _, err = validate.message({ to = "01012345678", template = "receipt", vars = v }, opts)
      assert.equal("3034", common.find(err, "item_highlight.title", "TOO_LONG").provider_code)
      assert.equal("3037", common.find(err, "items[1].description", "TOO_LONG").provider_code)
    end)

    it("never lets one broken message change the verdict on the next (cached button checks)", function()
      local _, err = validate.message({ to = "01012345678", template = "order_shipped",
        content = "전혀 다른 내용" }, opts)
      assert.truthy(common.find(err, "content", "TEMPLATE_MISMATCH"))
      assert.is_nil(common.find(err, "buttons[2].url_mobile"))
      assert.truthy(validate.message({ to = "010-1234-5678", template = "order_shipped", vars = vars }, opts))
      local _, err2 = validate.message({ to = "010-1234-5678", template = "order_shipped",
        vars = { name = "김", invoice = "123-4567-8901" } }, opts)
      assert.truthy(common.find(err2, "vars.order", "MISSING_VARIABLE"))
      assert.truthy(validate.message({ to = "010-1234-5678", template = "order_shipped", vars = vars }, opts))
    end)

    it("checks the DS button's courier and invoice (seed 001 couriers)", function()
      local _, err = validate.message({ to = "01012345678", template = "order_shipped",
        vars = { name = "김", invoice = "12-34", order = "1" } }, opts)
      assert.truthy(common.find(err, "buttons[1]", "BAD_INVOICE"))
    end)

    it("refuses FriendTalk outside 08:00-20:00 KST with 3022 and offers the next time", function()
      local at = common.kst(2026, 11, 21, 20, 0)
      local _, err = validate.message(base{ kind = "friendtalk" }, { provider = "sens", now = at })
      local e = common.find(err, "kind", "OUTSIDE_SEND_WINDOW")
      assert.equal("3022", e.provider_code)
      assert.equal(common.kst(2026, 11, 22, 8, 0), e.next_allowed)
      -- a reservation inside the window is fine
      assert.truthy(validate.message(base{ kind = "friendtalk", reserve_time = "2026-11-22 09:00" },
        { provider = "sens", now = at }))
    end)
  end)

  it("refuses a WL PC link that is not http(s)", function()
    local _, err = validate.message(base{ buttons = { { type = "WL", name = "웹",
      url_mobile = "https://m.example",
      url_pc = "javascript:alert(1)" } } }, { provider = "sens" })
    assert.truthy(common.find(err, "buttons[1].url_pc", "BAD_FORMAT"))
  end)

  it("checks SENS button types and their required links", function()
    local _, err = validate.message(base{ buttons = { { type = "WL", name = "웹",
      url_mobile = "shop.example" },
      { type = "AL", name = "앱", scheme_ios = "app://x" }, { type = "BT", name = "봇" },
      { type = "AC", name = "친구 추가" } } }, { provider = "sens" })
    assert.truthy(common.find(err, "buttons[1].url_mobile", "BAD_FORMAT"))
    -- seed 001 lists linkMobile and linkPc as mandatory for WL
    assert.truthy(common.find(err, "buttons[1].url_pc", "REQUIRED"))
    assert.truthy(common.find(err, "buttons[2].scheme_android", "REQUIRED"))
    assert.truthy(common.find(err, "buttons[3].type", "BAD_VALUE"))
    assert.truthy(common.find(err, "buttons[4].name", "BAD_VALUE"))
    assert.truthy(validate.message(base{ buttons = { { type = "AC", name = "채널 추가" } } },
      { provider = "sens" }))
  end)

  it("checks the summary's characters and decimals (3040)", function()
    for _, ok in ipairs({ "39,000원", "$ 12.50", "KRW 39,000", "1,000 KRW", "€1.5", "¥100",
      "12,000 円", "3.00 USD", "EUR 5", "1,000 JPY" }) do
      assert.truthy(validate.message(base{ summary = { title = "합계", description = ok } },
        { provider = "sens" }), ok)
    end
    -- QQQ and ABC are three capitals but no ISO 4217 code; HRK was withdrawn in 2023
    for _, bad in ipairs({ "39,000원 (할인)", "12.345", "about 10", "1.2.3", "1,000 QQQ",
      "ABC 5", "HRK 10", "KRWW 1" }) do
      local _, err = validate.message(base{ summary = { title = "합계", description = bad } },
        { provider = "sens" })
      assert.equal("3040", common.find(err, "summary.description", "BAD_CHARS").provider_code, bad)
    end
    local _, err = validate.message(base{ summary = { title = "합계", description = "1,000 QQQ" } },
      { provider = "sens" })
    assert.matches("QQQ is not an ISO 4217 currency code",
      common.find(err, "summary.description", "BAD_CHARS").message, 1, true)
  end)

  it("checks failover settings", function()
    local _, err = validate.message(base{ failover = { type = "MMS", from = "12", content = "" } },
      { provider = "sens" })
    assert.equal("E4000", common.find(err, "failover.type", "BAD_VALUE").provider_code)
    assert.equal("B003", common.find(err, "failover.from", "BAD_PHONE").provider_code)
    assert.equal("E4006", common.find(err, "failover.content", "REQUIRED").provider_code)
    local _, err2 = validate.message(base{ failover = { content = "쿠폰 🎁 도착" } },
      { provider = "sens" })
    assert.truthy(common.find(err2, "failover.content", "UNENCODABLE"))
  end)

  it("checks the reservation format and zone", function()
    local _, err = validate.message(base{ reserve_time = "2026/11/21 10:00", reserve_zone = "Seoul time" },
      { provider = "sens" })
    assert.truthy(common.find(err, "reserve_time", "BAD_FORMAT"))
    assert.truthy(common.find(err, "reserve_zone", "BAD_VALUE"))
  end)

  it("refuses reservation dates and times that do not exist", function()
    local now = common.kst(2026, 1, 10, 9, 0)
    for _, bad in ipairs({ "2026-02-30 10:00", "2026-02-29 10:00", "2026-04-31 10:00", "2026-13-01 10:00",
      "2026-11-21 24:00", "2026-11-21 10:60", "2026-00-10 10:00" }) do
      local _, err = validate.message(base{ reserve_time = bad }, { provider = "sens", now = now })
      assert.truthy(err and common.find(err, "reserve_time", "BAD_VALUE"), bad)
    end
    assert.truthy(validate.message(base{ reserve_time = "2028-02-29 10:00" },
      { provider = "sens", now = now }))
  end)

  it("takes TZ database names only; zones without a fixed offset skip the clock checks", function()
    local now = common.kst(2026, 11, 21, 12, 0)
    for _, bad in ipairs({ "Mars/Base", "Seoul", "../../etc/passwd", "Asia", "Asia/Seoul/" }) do
      local _, err = validate.message(base{ reserve_time = "2026-12-01 10:00", reserve_zone = bad },
        { provider = "sens", now = now })
      assert.truthy(err and common.find(err, "reserve_zone", "BAD_VALUE"), bad)
    end
    assert.truthy(validate.message(base{ reserve_time = "2026-12-01 10:00", reserve_zone = "Asia/Tokyo" },
      { provider = "sens", now = now }))
    -- a known zone is still checked against the clock
    local _, past = validate.message(base{ reserve_time = "2026-11-20 10:00", reserve_zone = "UTC" },
      { provider = "sens", now = now })
    assert.truthy(common.find(past, "reserve_time", "BAD_VALUE"))
    local f = io.open("/usr/share/zoneinfo/Europe/Paris", "rb")
    if f then
      f:close()
      -- a real zone with daylight saving time: accepted, not placed on the clock
      assert.truthy(validate.message(base{ reserve_time = "2026-11-20 10:00",
        reserve_zone = "Europe/Paris" }, { provider = "sens", now = now }))
    end
  end)

  it("takes limit overrides", function()
    assert.truthy(validate.message(base{ header = H(10) }, { provider = "sens", limits = { header = 30 } }))
    local _, err = validate.message(base{ title = H(11) }, { provider = "sens", limits = { title = 10 } })
    assert.equal(10, common.find(err, "title", "TOO_LONG").limit)
  end)

  it("raises on misuse", function()
    assert.has_error(function() validate.message(base(), { provider = "kakao" }) end)
    assert.has_error(function() validate.message(base(), { provider = "sens", registy = 1 }) end)
    assert.has_error(function() validate.message(base(), { provider = "sens", limits = { nope = 1 } }) end)
  end)
end)
