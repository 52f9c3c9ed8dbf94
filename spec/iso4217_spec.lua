-- The ISO 4217 data module: the active alphabetic codes, used by the summary description and
-- currency checks (validate/kakao.lua) and by the sandbox emulator.
local iso4217 = require "alimtalk.iso4217"

describe("iso4217", function()
  it("knows the active codes, including the recent replacements", function()
    for _, c in ipairs({ "KRW", "USD", "EUR", "JPY", "CNY", "GBP", "CHF", "SLE", "VED", "ZWG",
      "XCG", "XAU", "XXX" }) do
      assert.is_true(iso4217.is_code(c), c)
    end
  end)

  it("refuses made-up, withdrawn and malformed codes", function()
    for _, c in ipairs({ "QQQ", "ABC", "HRK", "ZWL", "VEF", "CUC", "ANG", "SLL", "BGN", "krw", "KR",
      "KRWW", "", " KRW" }) do
      assert.is_false(iso4217.is_code(c), c)
    end
    assert.is_false(iso4217.is_code(nil))
  end)

  it("holds three-capital codes only, about as many as List One has", function()
    local n = 0
    for c, v in pairs(iso4217.codes) do
      assert.is_true(v)
      assert.matches("^%u%u%u$", c)
      n = n + 1
    end
    assert.is_true(n >= 170 and n <= 185, n .. " codes")
  end)
end)
