local validate = require "alimtalk.validate"
local common = require "fixtures.validation.common"
local H, A, E, base = common.hangul, common.ascii, common.emoji, common.base

local with = common.with

-- API PLEX byte limits are UTF-8 bytes (JSON charset=utf-8; each is 4 x Kakao's character
-- limit). Emoji (4 bytes, 1 character) reach both limits at once; Hangul (3 bytes) hits the
-- character limit first, so fields with a Kakao character limit fail with both codes.
local cases = {
  { name = "msg 1000 characters", at = 1000, field = "content", pcode = "3014", unit = "chars",
    make = with(function(n) return { content = H(n) } end) },
  { name = "title 200 bytes (and 50 characters)", at = 50, field = "title", pcode = "C400_2", unit = "bytes",
    limit = 200, actual = 204, make = with(function(n) return { title = E(n) } end),
    also = { { pcode = "3029", unit = "chars", limit = 50, actual = 51 } } },
  { name = "header 64 bytes (and 16 characters)", at = 16, field = "header", pcode = "C400_2", unit = "bytes",
    limit = 64, actual = 68, make = with(function(n) return { header = E(n) } end),
    also = { { pcode = "3032", unit = "chars", limit = 16, actual = 17 } } },
  { name = "item highlight title 120 bytes", at = 30, field = "item_highlight.title", pcode = "C400_2",
    unit = "bytes", limit = 120, actual = 124,
    make = with(function(n) return { item_highlight = { title = E(n), description = "d" } } end),
    also = { { pcode = "3034", unit = "chars", limit = 30, actual = 31 } } },
  { name = "item highlight description 76 bytes", at = 19, field = "item_highlight.description",
    pcode = "C400_2", unit = "bytes", limit = 76, actual = 80,
    make = with(function(n) return { item_highlight = { title = "t", description = E(n) } } end),
    also = { { pcode = "3035", unit = "chars", limit = 19, actual = 20 } } },
  { name = "item title 24 bytes", at = 6, field = "items[1].title", pcode = "C400_2", unit = "bytes",
    limit = 24,
    actual = 28, make = with(function(n) return { items = { { title = E(n), description = "d" },
      { title = "t", description = "d" } } } end) },
  { name = "item description 92 bytes", at = 23, field = "items[2].description", pcode = "C400_2",
    unit = "bytes",
    limit = 92, actual = 96, make = with(function(n) return { items = { { title = "t", description = "d" },
      { title = "t", description = E(n) } } } end), also = { { pcode = "3037", unit = "chars",
        limit = 23 } } },
  { name = "summary title 24 bytes", at = 6, field = "summary.title", pcode = "C400_2", unit = "bytes",
    limit = 24,
    actual = 28, make = with(function(n) return { summary = { title = E(n), description = "1원" } } end) },
  { name = "button name 112 bytes", at = 112, field = "buttons[1].name", pcode = "C400_2", unit = "bytes",
    make = with(function(n) return { buttons = { { type = "BK", name = common.utf8_bytes(n) } } } end) },
  { name = "button chat_extra 50 bytes (Hangul: 16 characters + 2)", at = 50, field = "buttons[1].chat_extra",
    pcode = "C400_2", unit = "bytes",
    make = with(function(n) return { buttons = { { type = "BT", name = "봇",
      chat_extra = common.utf8_bytes(n) } } } end) },
  { name = "button chat_event 50 bytes", at = 50, field = "buttons[1].chat_event", pcode = "C400_2",
    unit = "bytes",
    make = with(function(n) return { buttons = { { type = "BT", name = "봇", chat_event = A(n) } } } end) },
  { name = "quick reply name 54 bytes", at = 54, field = "quick_replies[1].name", pcode = "C400_2",
    unit = "bytes",
    make = with(function(n) return { quick_replies = { { type = "BK",
      name = common.utf8_bytes(n) } } } end) },
  { name = "quick reply chat_extra 200 bytes", at = 200, field = "quick_replies[1].chat_extra",
    pcode = "C400_2",
    unit = "bytes",
    make = with(function(n) return { quick_replies = { { type = "BC", name = "상담",
      chat_extra = common.utf8_bytes(n) } } } end) },
  { name = "quick reply chat_event 200 bytes", at = 200, field = "quick_replies[1].chat_event",
    pcode = "C400_2",
    unit = "bytes", make = with(function(n) return { quick_replies = { { type = "BT", name = "봇",
      chat_event = A(n) } } } end) },
  { name = "echo_to_webhook 256 bytes (G142)", at = 256, field = "echo", pcode = "G142", unit = "bytes",
    make = with(function(n) return { echo = common.utf8_bytes(n) } end) },
  { name = "5 buttons (C400_2)", at = 5, field = "buttons", code = "TOO_MANY", pcode = "C400_2",
    unit = "items",
    make = with(function(n)
      local l = {}
      for i = 1, n do l[i] = { type = "BK", name = "b" .. i } end
      return { buttons = l }
    end) },
  { name = "LMS failback title 50 EUC-KR bytes (C400_2)", at = 50, field = "failover.subject",
    pcode = "C400_2",
    unit = "bytes", make = with(function(n) return { failover = { type = "LMS", subject = H(math.floor(n / 2))
      .. A(n % 2),
      content = "본문" } } end) },
  { name = "LMS failback body 2000 EUC-KR bytes", at = 2000, field = "failover.content", unit = "bytes",
    make = with(function(n) return { failover = { type = "LMS", content = H(math.floor(n / 2))
      .. A(n % 2) } } end) },
}

describe("validate API PLEX", function()
  common.limit_cases(it, validate, "apiplex", cases)

  it("counts Hangul at 3 bytes: 38 Hangul (114 bytes) in a button name fail, 37 (111) pass", function()
    assert.truthy(validate.message(base{ buttons = { { type = "BK", name = H(37) } } },
      { provider = "apiplex" }))
    local _, err = validate.message(base{ buttons = { { type = "BK", name = H(38) } } },
      { provider = "apiplex" })
    assert.equal(114, common.find(err, "buttons[1].name", "TOO_LONG").actual)
  end)

  it("takes up to 10 messages per request", function()
    local msgs = {}
    for i = 1, 11 do msgs[i] = base() end
    local _, errs = validate.batch(msgs, { provider = "apiplex" })
    assert.equal(10, errs[0].limit)
    assert.equal("C400_2", errs[0].provider_code)
  end)

  it("checks button and quick reply types with their required fields (C400_3)", function()
    local _, err = validate.message(base{
      buttons = { { type = "WL", name = "웹" }, { type = "AL", name = "앱" }, { type = "P3",
        name = "결제" },
        { type = "XX", name = "?" } },
      quick_replies = { { type = "DS", name = "배송" }, { type = "AC", name = "채널" } } },
        { provider = "apiplex" })
    assert.equal("C400_3", common.find(err, "buttons[1].url_mobile", "REQUIRED").provider_code)
    assert.equal("C400_3", common.find(err, "buttons[2].scheme_android", "REQUIRED").provider_code)
    assert.equal("C400_3", common.find(err, "buttons[3].oneclick_id", "REQUIRED").provider_code)
    assert.equal("C400_2", common.find(err, "buttons[4].type", "BAD_VALUE").provider_code)
    assert.truthy(common.find(err, "quick_replies[1].type", "BAD_VALUE"))
    assert.truthy(common.find(err, "quick_replies[2].type", "BAD_VALUE"))
    assert.truthy(validate.message(base{ buttons = { { type = "AL", name = "앱",
      url_mobile = "https://a.example" },
      { type = "P3", name = "결제", product_id = "p1" }, { type = "P1", name = "보안" } } },
        { provider = "apiplex" }))
  end)

  it("reports a bad recipient as G141 and a bad sender as G140", function()
    local _, err = validate.message(base{ to = "1234", from = "12" }, { provider = "apiplex" })
    assert.equal("G141", common.find(err, "to", "BAD_PHONE").provider_code)
    assert.equal("G140", common.find(err, "from", "BAD_PHONE").provider_code)
  end)

  it("refuses reservations: API PLEX has no reserve time field", function()
    local _, err = validate.message(base{ reserve_time = "2030-01-01 10:00" }, { provider = "apiplex" })
    assert.truthy(common.find(err, "reserve_time", "NOT_SUPPORTED"))
  end)

  it("still reports 11 messages as more than one request takes", function()
    local msgs = {}
    for i = 1, 11 do msgs[i] = base() end
    local _, errs = validate.batch(msgs, { provider = "apiplex" })
    assert.equal("TOO_MANY", errs[0].code)
    assert.equal(10, errs[0].limit)
  end)
end)
