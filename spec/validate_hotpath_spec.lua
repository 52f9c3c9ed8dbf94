-- The per-message fast paths of message.normalize and validate.message give the answers of
-- the general paths: checked option tables, generated button builders, shared rendered sets,
-- the 010 number shortcut, the DS courier found in the template's variable order, lazily named
-- variable sizes.
local validate = require "alimtalk.validate"
local message = require "alimtalk.message"
local registry = require "alimtalk.registry"

local reg = assert(registry.load("spec/fixtures/templates.json"))

local function shipped(over)
  local m = { to = "01012345678", template = "order_shipped",
    vars = { name = "고객", order = "A1", courier = "우체국택배", invoice = "6302114700001" } }
  for k, v in pairs(over or {}) do m[k] = v end
  return m
end

local function codes(err)
  local out = {}
  for _, e in ipairs(err.errors) do out[#out + 1] = e.code .. " " .. e.field end
  table.sort(out)
  return table.concat(out, ", ")
end

describe("validate.options", function()
  it("validates as the plain options do, and takes a new now on every call", function()
    local o = validate.options{ provider = "sens", registry = reg }
    for _, kind in ipairs{ "alimtalk", "friendtalk" } do
      for _, hour in ipairs{ 3, 12 } do
        local now = os.time{ year = 2026, month = 11, day = 21, hour = hour, min = 0 } -- host zone
        o.now = now
        local msg = shipped{ kind = kind }
        local ok1, r1 = validate.message(msg, o)
        local ok2, r2 = validate.message(msg, { provider = "sens", registry = reg, now = now })
        assert.equal(ok1, ok2)
        if ok1 then assert.equal(r1.content, r2.content)
        else assert.equal(codes(r2), codes(r1)) end
      end
    end
  end)

  it("refuses an unknown option when made and when added later", function()
    assert.has_error(function() validate.options{ provider = "sens", registy = reg } end,
      "validate.options: unknown option registy")
    local o = validate.options{ provider = "sens" }
    assert.has_error(function() o.registy = reg end, "validate: unknown option registy")
    o.registry = reg   -- a known key may be added
    assert.is_true((validate.message(shipped(), o)))
  end)

  it("still checks the provider named at each call", function()
    local o = validate.options{ provider = "sens", registry = reg }
    o.provider = "nope"
    assert.has_error(function() validate.message(shipped(), o) end)
  end)
end)

describe("rendering from a registry entry", function()
  it("builds the buttons with each link rendered, numbers as text", function()
    local m = assert(message.normalize(shipped{ vars = { name = "n", order = 42, courier = "c",
      invoice = "i" } }, { registry = reg, provider = "sens" }))
    assert.same({ type = "DS", name = "배송조회" }, m.buttons[1])
    assert.same({ type = "WL", name = "주문 보기", url_mobile = "https://shop.example/o/42",
      url_pc = "https://shop.example/o/42" }, m.buttons[2])
    assert.equal("n님, 주문하신 상품이 발송되었습니다.\n주문번호: 42\n택배사: c\n송장번호: i", m.content)
  end)

  it("gives each message its own buttons, and the same read-only rendered set", function()
    local a = assert(message.normalize(shipped(), { registry = reg, provider = "sens" }))
    local b = assert(message.normalize(shipped{ vars = { name = "x", order = "B2", courier = "c",
      invoice = "i" } }, { registry = reg, provider = "sens" }))
    assert.are_not.equal(a.buttons, b.buttons)
    assert.are_not.equal(a.buttons[1], b.buttons[1])
    assert.equal("https://shop.example/o/B2", b.buttons[2].url_pc)
    assert.equal("https://shop.example/o/A1", a.buttons[2].url_pc)
    assert.same({ content = true, buttons = true }, a.rendered)
    assert.equal(a.rendered, b.rendered)
  end)

  it("reports a value of the wrong type in a link once per part, as the general path does", function()
    local _, err = message.normalize(shipped{ vars = { name = "n", order = true, courier = "c",
      invoice = "i" } }, { registry = reg, provider = "sens" })
    local n = 0
    for _, e in ipairs(err.errors) do if e.code == "BAD_VARIABLE" then n = n + 1 end end
    assert.equal(3, n, tostring(err))   -- content, url_mobile, url_pc
  end)
end)

describe("recipient numbers", function()
  it("normalizes 01012345678 for every provider as the general parser does", function()
    local phone = require "alimtalk.phone"
    for _, p in ipairs{ "sens", "apiplex", "bizmessage", "sinch", "alcmeon", "e164", "national" } do
      local fast = phone.normalize("01012345678", p)
      local general = phone.normalize(" 010 1234 5678 ", p)
      assert.equal(general, fast, p)
    end
  end)
end)

describe("DS buttons", function()
  it("find the courier in whichever variable names it, message after message", function()
    local o = validate.options{ provider = "sens", registry = reg }
    assert.is_true((validate.message(shipped(), o)))
    -- the courier moves to another variable: still found
    local ok = validate.message(shipped{ vars = { name = "로젠택배", order = "A1", courier = "상자",
      invoice = "12345678901" } }, o)
    assert.is_true(ok)
    -- no courier anywhere now
    local _, err = validate.message(shipped{ vars = { name = "n", order = "A1", courier = "상자",
      invoice = "12345678901" } }, o)
    assert.equal("BAD_COURIER buttons[1]", codes(err))
    -- a courier but an invoice in another courier's format
    _, err = validate.message(shipped{ vars = { name = "n", order = "A1", courier = "우체국택배",
      invoice = "12345678901" } }, o)
    assert.equal("BAD_INVOICE buttons[1]", codes(err))
  end)

  it("take the courier Kakao reads first, whatever was checked before", function()
    local r = assert(registry.load{ templates = { { name = "ds", type = "basic",
      body = "#{name}님 택배사: #{c1} #{c2} 송장: #{inv}",
      buttons = { { type = "DS", name = "배송조회" } }, codes = { sens = "DS" } } } })
    local o = validate.options{ provider = "sens", registry = r }
    local both = { to = "01012345678", template = "ds",
      vars = { name = "n", c1 = "한진택배", c2 = "우체국택배", inv = "6302114700001" } }
    -- the text names Hanjin first; the number is in Korea Post's format, not Hanjin's
    local _, err = validate.message(both, o)
    assert.equal("BAD_INVOICE buttons[1]", codes(err))
    -- a message whose courier is in the second variable, checked in between, changes nothing
    assert.is_true((validate.message({ to = "01012345678", template = "ds",
      vars = { name = "n", c1 = "상자", c2 = "우체국택배", inv = "6302114700001" } }, o)))
    _, err = validate.message(both, o)
    assert.equal("BAD_INVOICE buttons[1]", codes(err))
  end)
end)

describe("generated button builders", function()
  it("leave a link with very many variables to the general path, which renders it", function()
    local url = "https://shop.example/" .. ("#{a}/"):rep(100)
    local r = assert(registry.load{ templates = { { name = "wide", type = "basic",
      body = "주문 #{a} 안내", buttons = { { type = "WL", name = "보기", url_mobile = url, url_pc = url } },
      codes = { sens = "WIDE" } } } })
    local m = assert(message.normalize({ to = "01012345678", template = "wide", vars = { a = "x" } },
      { registry = r, provider = "sens" }))
    assert.equal("https://shop.example/" .. ("x/"):rep(100), m.buttons[1].url_mobile)
    assert.equal(m.buttons[1].url_mobile, m.buttons[1].url_pc)
  end)
end)

describe("variable sizes (limits.variable)", function()
  it("names only the variables over the limit", function()
    local _, err = validate.message(shipped{ vars = { name = "가나다라마", order = "A1", courier = "우체국택배",
      invoice = "6302114700001" } }, { provider = "sens", registry = reg,
      limits = { variable = { { max = 12, unit = "chars" } } } })
    assert.equal(1, #err.errors)
    assert.equal("TOO_LONG", err.errors[1].code)
    assert.equal("vars.invoice", err.errors[1].field)
    assert.equal("variable invoice is 13 characters; the limit is 12", err.errors[1].message)
  end)
end)
