local courier = require "alimtalk.courier"

-- Every courier and invoice format of seed 001 ("List of supported couriers").
local valid = {
  { "Korea Post", "1234567890123" }, { "Korea Post", "123456-7890123" }, { "우체국택배",
    "123456_7890123" },
  { "Logen", "12345678901" }, { "Logen", "123-4567-8901" }, { "로젠택배", "123_4567_8901" },
  { "ILYANG Logis", "123456789" }, { "ILYANG", "12345678901" },
  { "FedEx", "123456789012" }, { "fedex", "123456789012" },
  { "HANJIN TRANSPORTATION", "1234567890" }, { "한진택배", "123456789012" },
  { "KYOUNGDONG EXPRESS", "123456789" }, { "KYOUNGDONG EXPRESS", "1234567890123456" },
  { "KYOUNGDONG EXPRESS", "1234-567-890123" },
  { "HAPDONG EXPRESS", "1234567890123456" },
  { "Hyundai Logistics", "123456789012" }, { "Hyundai Logistics", "1234-5678-9012" },
  { "Nonghyup Logis", "123456789012" }, { "CHUNIL PARCEL", "12345678901" },
  { "CUpost", "1234567890" }, { "CU post", "123456789012" }, { "CUpost", "1234_5678_9012" },
  { "GS postbox", "1234567890" }, { "CVSnet convenience store logistics", "1234-5678-9012" },
  { "Handex", "1234567890" }, { "Handex", "12345678901234" },
  { "TNT Express", "12345678" }, { "TNTExpress", "123456789" },
  { "USPS", "1234567890" }, { "USPS", "1234567890123456789012" }, { "USPS", "EE123456789US" },
  { "EMS", "EE123456789KR" }, { "DHL", "1234567890" }, { "GOODSTOLUCK", "1234-5678-9012" },
}
local invalid = {
  { "Korea Post", "123456789012" }, { "Korea Post", "123456 7890123" }, { "Logen", "123-4567-890" },
  { "ILYANG Logis", "12345678" }, { "FedEx", "12345678901" }, { "HANJIN TRANSPORTATION", "12345678901" },
  { "KYOUNGDONG EXPRESS", "1234_567_890123" }, { "KYOUNGDONG EXPRESS", "12345678901234567" },
  { "Hyundai Logistics", "1234_5678_9012" }, { "Nonghyup Logis", "1234567890" },
  { "CHUNIL PARCEL", "1234567890" }, { "Handex", "123456789012" }, { "TNT Express", "1234567890" },
  { "USPS", "ee123456789us" }, { "USPS", "E123456789US" }, { "EMS", "1234567890123" },
  { "DHL", "123456789" }, { "GOODSTOLUCK", "123456789012" }, { "GOODSTOLUCK", "1234_5678_9012" },
}

describe("alimtalk.courier", function()
  for _, c in ipairs(valid) do
    it("accepts " .. c[1] .. " " .. c[2], function()
      assert.is_true(courier.check(c[1], c[2]))
    end)
  end
  for _, c in ipairs(invalid) do
    it("rejects " .. c[1] .. " " .. c[2] .. " with BAD_INVOICE", function()
      local ok, err = courier.check(c[1], c[2])
      assert.is_nil(ok)
      assert.equal("BAD_INVOICE", err.code)
    end)
  end

  it("rejects an unsupported courier with BAD_COURIER", function()
    local ok, err = courier.check("Acme Parcel", "1234567890")
    assert.is_nil(ok)
    assert.equal("BAD_COURIER", err.code)
  end)

  it("finds the courier and invoice in a message text, as Kakao does for DS buttons", function()
    assert.same({ "Logen", "123-4567-8901" },
      { courier.scan("택배사: 로젠택배\n송장번호: 123-4567-8901") })
    assert.same({ "DHL", "1234567890" }, { courier.scan("Shipped by DHL, tracking 1234567890.") })
    local name, inv = courier.scan("택배사: 로젠택배\n송장번호: 12-34")
    assert.equal("Logen", name)
    assert.is_nil(inv)
    assert.is_nil(courier.scan("3 items in your order"))   -- "ems" inside a word is not EMS
  end)

  it("takes more couriers", function()
    courier.add{ id = "test", names = { "Test Parcel" }, formats = { { { "d", 5, 5 } } } }
    assert.is_true(courier.check("test parcel", "12345"))
  end)
end)
