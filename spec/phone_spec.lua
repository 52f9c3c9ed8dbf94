local phone = require "alimtalk.phone"

describe("alimtalk.phone", function()
  local inputs = { "010-1234-5678", "01012345678", "010 1234 5678", "(010) 1234-5678", "+82 10-1234-5678",
    "+82 010-1234-5678", "82-10-1234-5678", "821012345678", "+821012345678" }

  for _, input in ipairs(inputs) do
    it("normalizes " .. input .. " for every provider", function()
      assert.equal("01012345678", phone.normalize(input, "sens"))
      assert.equal("821012345678", phone.normalize(input, "bizmessage"))
      assert.equal("01012345678", phone.normalize(input, "apiplex"))
      assert.equal("+821012345678", phone.normalize(input, "sinch"))
      assert.equal("+821012345678", phone.normalize(input, "alcmeon"))
    end)
  end

  it("returns the country code beside the number (SENS countryCode)", function()
    local to, cc = phone.normalize("010-1234-5678", "sens")
    assert.equal("01012345678", to)
    assert.equal("82", cc)
  end)

  it("accepts the old 011/016-019 prefixes with 7 or 8 digits", function()
    assert.equal("0111234567", phone.normalize("011-123-4567", "sens"))
    assert.equal("+82169876543", phone.normalize("016-987-6543", "sinch"))
    assert.equal("01712345678", phone.normalize("017-1234-5678", "apiplex"))
  end)

  local bad = {
    { "02-123-4567", "landline" }, { "010-123-456", "too short" }, { "010-1234-56789", "too long" },
    { "+1 415 555 1234", "other country" }, { "abc", "letters" }, { "", "empty" },
    { "070-1234-5678", "internet phone" }, { "010-1234-567a", "letter inside" },
  }
  for _, case in ipairs(bad) do
    it("rejects " .. case[2] .. " (" .. case[1] .. ") with BAD_PHONE", function()
      local n, err = phone.normalize(case[1], "sens")
      assert.is_nil(n)
      assert.equal("BAD_PHONE", err.code)
      assert.equal("to", err.field)
    end)
  end

  it("parses into national and E.164 forms", function()
    assert.same({ country_code = "82", national = "01099998888", e164 = "+821099998888" },
      phone.parse("+82 10 9999 8888"))
  end)

  it("refuses a country code other than 82", function()
    local _, err = phone.parse("01012345678", { country_code = "1" })
    assert.equal("BAD_PHONE", err.code)
  end)

  it("raises on an unknown provider or option", function()
    assert.has_error(function() phone.normalize("01012345678", "kakao") end)
    assert.has_error(function() phone.parse("01012345678", { bogus = true }) end)
  end)

  describe("sender", function()
    for _, n in ipairs({ "02-1234-5678", "031-123-4567", "1588-1234", "1644-0000", "010-1234-5678",
      "070-1234-5678" }) do
      it("accepts " .. n, function() assert.truthy(phone.sender(n)) end)
    end
    for _, n in ipairs({ "12", "1234-5678", "02-12", "abc-defg", "0000-0000" }) do
      it("rejects " .. n, function()
        local d, err = phone.sender(n, "failover.from")
        assert.is_nil(d)
        assert.equal("BAD_PHONE", err.code)
        assert.equal("failover.from", err.field)
      end)
    end
  end)
end)
