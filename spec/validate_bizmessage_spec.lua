local validate = require "alimtalk.validate"
local common = require "fixtures.validation.common"
local H, A, base = common.hangul, common.ascii, common.base

local with, ih, items = common.with, common.item_highlight, common.items

-- BizMessage text(n) limits (seed 003) count characters: Hangul is one each.
local cases = {
  { name = "message text(1000)", at = 1000, field = "content", pcode = "3014", unit = "chars",
    make = with(function(n) return { content = H(n) } end) },
  { name = "title text(50)", at = 50, field = "title", pcode = "3029", unit = "chars",
    make = with(function(n) return { title = H(n) } end) },
  { name = "header text(16)", at = 16, field = "header", pcode = "3032", unit = "chars",
    make = with(function(n) return { header = H(n) } end) },
  { name = "template_code text(30)", at = 30, field = "template", unit = "chars",
    make = with(function(n) return { template = A(n) } end) },
  { name = "item highlight title text(30)", at = 30, field = "item_highlight.title", pcode = "3034",
    unit = "chars",
    make = with(function(n) return ih(H(n)) end) },
  { name = "item highlight title with image: 21", at = 21, field = "item_highlight.title", pcode = "3034",
    unit = "chars", make = with(function(n) return ih(H(n), "설명", true) end) },
  { name = "item highlight description text(19)", at = 19, field = "item_highlight.description",
    pcode = "3035",
    unit = "chars", make = with(function(n) return ih("제목", H(n)) end) },
  { name = "item highlight description with image: 13", at = 13, field = "item_highlight.description",
    pcode = "3035", unit = "chars", make = with(function(n) return ih("제목", H(n), true) end) },
  { name = "item title text(6)", at = 6, field = "items[2].title", unit = "chars",
    make = with(function(n) return items(2, H(n)) end) },
  { name = "item description text(23)", at = 23, field = "items[1].description", pcode = "3037",
    unit = "chars",
    make = with(function(n) return items(2, "상품", H(n)) end) },
  { name = "summary title text(6)", at = 6, field = "summary.title", unit = "chars",
    make = with(function(n) return { summary = { title = H(n), description = "1원" } } end) },
  { name = "summary description text(14)", at = 14, field = "summary.description", pcode = "3039",
    unit = "chars",
    make = with(function(n) return { summary = { title = "합계", description = string.rep("9", n - 1)
      .. "원" } } end) },
  { name = "fall_back_message text(2000)", at = 2000, field = "failover.content", unit = "chars",
    make = with(function(n) return { failover = { type = "LMS", content = A(n) } } end) },
  { name = "LMS title text(60)", at = 60, field = "failover.subject", unit = "chars",
    make = with(function(n) return { failover = { type = "LMS", subject = A(n), content = "본문" } } end) },
  { name = "button chat_extra 50 characters (3026)", at = 50, field = "buttons[1].chat_extra", pcode = "3026",
    unit = "chars", make = with(function(n) return { buttons = { { type = "BT", name = "봇",
      chat_extra = H(n) } } } end) },
  { name = "tax_cd1 text(50)", at = 50, field = "tax_cd1", unit = "chars",
    make = with(function(n) return { tax_cd1 = H(n) } end) },
  { name = "5 buttons", at = 5, field = "buttons", code = "TOO_MANY", unit = "items",
    make = with(function(n)
      local l = {}
      for i = 1, n do l[i] = { type = "MD", name = "버튼" .. i } end
      return { buttons = l }
    end) },
}

describe("validate BizMessage", function()
  common.limit_cases(it, validate, "bizmessage", cases)

  it("needs the message serial (cid)", function()
    local m = base()
    m.id = nil
    local _, err = validate.message(m, { provider = "bizmessage" })
    assert.truthy(common.find(err, "id", "REQUIRED"))
  end)


  it("takes quick replies with Kakao's types and needs WL links", function()
    assert.truthy(validate.message(base{ quick_replies = { { type = "BK", name = "네" } } },
      { provider = "bizmessage" }))
    local _, err = validate.message(base{ quick_replies = { { type = "WL", name = "웹" }, { type = "DS",
      name = "배송" } } },
      { provider = "bizmessage" })
    assert.truthy(common.find(err, "quick_replies[1].url_mobile", "REQUIRED"))
    assert.truthy(common.find(err, "quick_replies[2].type", "BAD_VALUE"))
  end)

  it("checks price and currency_type", function()
    local _, err = validate.message(base{ price = 10.5, currency = "won" }, { provider = "bizmessage" })
    assert.truthy(common.find(err, "price", "BAD_TYPE"))
    assert.truthy(common.find(err, "currency", "BAD_FORMAT"))
    assert.truthy(validate.message(base{ price = 39000, currency = "KRW" }, { provider = "bizmessage" }))
  end)

  it("checks chat_event against Kakao's pattern (3026)", function()
    local _, err = validate.message(base{ buttons = { { type = "BT", name = "봇",
      chat_event = "주문 조회" } } },
      { provider = "bizmessage" })
    assert.equal("3026", common.find(err, "buttons[1].chat_event", "BAD_FORMAT").provider_code)
  end)

  it("checks the sender number", function()
    local _, err = validate.message(base{ from = "123" }, { provider = "bizmessage" })
    assert.truthy(common.find(err, "from", "BAD_PHONE"))
    assert.truthy(validate.message(base{ from = "02-1234-5678" }, { provider = "bizmessage" }))
  end)

  it("refuses reservations: BizMessage has no reserve time field", function()
    local _, err = validate.message(base{ reserve_time = "2030-01-01 10:00" }, { provider = "bizmessage" })
    assert.truthy(common.find(err, "reserve_time", "NOT_SUPPORTED"))
  end)

  it("does not report a batch size for 11 messages: each is its own request", function()
    local msgs = {}
    for i = 1, 11 do msgs[i] = base{ id = "b" .. i } end
    local ok_list, errs = validate.batch(msgs, { provider = "bizmessage" })
    assert.is_nil(errs)
    assert.equal(11, #ok_list)
  end)

  it("needs from and failover.from to agree (one sender_no for both)", function()
    local _, err = validate.message(base{ from = "02-1234-5678", failover = { type = "SMS",
      from = "031-555-1234", content = "안내" } }, { provider = "bizmessage" })
    assert.truthy(common.find(err, "failover.from", "NOT_SUPPORTED"))
    assert.truthy(validate.message(base{ from = "02-1234-5678", failover = { type = "SMS",
      from = "021234-5678", content = "안내" } }, { provider = "bizmessage" }))
  end)
end)
