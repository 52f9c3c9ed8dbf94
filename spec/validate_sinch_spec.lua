local validate = require "alimtalk.validate"
local common = require "fixtures.validation.common"
local H, E = common.hangul, common.emoji

local noon = common.kst(2026, 11, 21, 12, 0)
local function ft(extra)
  local m = { to = "+82 10-1234-5678", kind = "friendtalk", content = "안녕하세요" }
  for k, v in pairs(extra or {}) do m[k] = v end
  return m
end
local function with(extra) return function(n) return ft(extra(n)) end end
-- a card carries its own text: no top-level content beside it
local function card(extra) return function(n)
  local m = ft(extra(n))
  m.content = nil
  return m
end end

local cases = {
  { name = "text 1000 characters", at = 1000, field = "content", unit = "chars",
    make = with(function(n) return { content = H(n) } end) },
  { name = "choice title 14 characters", at = 14, field = "choices[1].title", unit = "chars",
    make = with(function(n) return { choices = { { title = H(n) } } } end) },
  { name = "card title + description 1000 characters", at = 1000, field = "card", unit = "chars",
    make = card(function(n) return { card = { title = H(10), description = H(n - 10) } } end) },
  { name = "card with media 400 characters", at = 400, field = "card", unit = "chars",
    make = card(function(n) return { card = { title = H(10), description = E(n - 10),
      media = { url = "https://img.example/a.png" } } } end) },
  { name = "card with a wide image 76 characters", at = 76, field = "card", unit = "chars",
    make = card(function(n) return { card = { title = H(6), description = H(n - 6),
      media = { url = "https://img.example/a.jpg", wide = true } } } end) },
  { name = "card with a wide image takes one choice", at = 1, field = "card.choices", code = "TOO_MANY",
    unit = "items", make = card(function(n)
      local c = {}
      for i = 1, n do c[i] = { title = "선택" .. i } end
      return { card = { title = "t", description = "d", media = { url = "https://img.example/w.jpg",
        wide = true },
        choices = c } }
    end) },
}

describe("validate Sinch", function()
  common.limit_cases(it, validate, "sinch", cases, { now = noon })

  local reg = common.registry()
  local opts = { provider = "sinch", registry = reg, now = noon }

  it("sends AlimTalk as template id + parameters", function()
    assert.truthy(validate.message({ to = "010-1234-5678", template = "order_shipped",
      vars = { name = "김", invoice = "123-4567-8901", order = "1" } }, opts))
    local _, err = validate.message({ to = "010-1234-5678", template = "order_shipped",
      vars = { name = "김", invoice = "1", order = "1" }, buttons = { { type = "WL", name = "x" } } }, opts)
    assert.truthy(common.find(err, "buttons", "NOT_SUPPORTED"))
  end)

  it("requires an authentication keyword in an authentication message", function()
    assert.truthy(validate.message({ to = "01012345678", template = "otp", vars = { app = "샵",
      code = "1234" } }, opts))
    local _, err = validate.message({ to = "01012345678", template = "otp_bad", vars = { app = "샵",
      code = "1234" } },
      opts)
    local e = common.find(err, "content", "MISSING_KEYWORD")
    assert.equal("TEMPLATE_INSUFFICIENT_PARAMETERS", e.provider_code)
    -- any keyword of the list, in any case for the Latin ones
    assert.truthy(validate.message({ to = "01012345678", template = "otp_bad",
      vars = { app = "Shop", code = "Your AUTH code 1234" } }, opts))
    assert.truthy(validate.message({ to = "01012345678", template = "otp_bad", vars = { app = "認証",
      code = "1" } },
      opts))
  end)

  it("allows FriendTalk 08:00-21:00 KST only", function()
    assert.truthy(validate.message(ft(), { provider = "sinch", now = common.kst(2026, 11, 21, 20, 59) }))
    local _, err = validate.message(ft(), { provider = "sinch", now = common.kst(2026, 11, 21, 21, 0) })
    local e = common.find(err, "kind", "OUTSIDE_SEND_WINDOW")
    assert.equal(common.kst(2026, 11, 22, 8, 0), e.next_allowed)
  end)

  it("takes .png and .jpg media only", function()
    local media = ft{ media = { url = "https://img.example/a.JPG?x=1" } }
    media.content = nil
    assert.truthy(validate.message(media, { provider = "sinch", now = noon }))
    local _, err = validate.message(ft{ media = { url = "https://img.example/a.gif" } }, { provider = "sinch",
      now = noon })
    assert.equal("MEDIA_TYPE_UNSUPPORTED", common.find(err, "media.url", "BAD_VALUE").provider_code)
  end)

  it("normalizes the recipient as an MSISDN and rejects bad numbers", function()
    local ok, m = validate.message(ft(), { provider = "sinch", now = noon })
    assert.truthy(ok)
    assert.equal("+821012345678", m.recipient)
    local _, err = validate.message(ft{ to = "12345" }, { provider = "sinch", now = noon })
    assert.truthy(common.find(err, "to", "BAD_PHONE"))
  end)

  it("sends one generic message: media has no text, a card carries its own", function()
    local _, err = validate.message(ft{ media = { url = "https://img.example/a.png" } },
      { provider = "sinch", now = noon })
    assert.truthy(common.find(err, "content", "NOT_SUPPORTED"))
    local _, err2 = validate.message(ft{ card = { title = "t", description = "d" },
      choices = { { title = "네" } } }, { provider = "sinch", now = noon })
    assert.truthy(common.find(err2, "content", "NOT_SUPPORTED"))
    assert.truthy(common.find(err2, "choices", "NOT_SUPPORTED"))
    local _, err3 = validate.message(ft{ choices = { { title = "웹", url = "shop.example" } } },
      { provider = "sinch", now = noon })
    assert.truthy(common.find(err3, "choices[1].url", "BAD_FORMAT"))
  end)

  it("refuses reservations: Sinch sends at once", function()
    local _, err = validate.message(ft{ reserve_time = "2030-01-01 10:00" },
      { provider = "sinch", now = noon })
    assert.truthy(common.find(err, "reserve_time", "NOT_SUPPORTED"))
  end)

  it("does not report a batch size for 11 messages: each is its own request", function()
    local msgs = {}
    for i = 1, 11 do msgs[i] = ft() end
    local ok_list, errs = validate.batch(msgs, { provider = "sinch", now = noon })
    assert.is_nil(errs)
    assert.equal(11, #ok_list)
  end)
end)
