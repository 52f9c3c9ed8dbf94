local codes = require "alimtalk.codes"

-- Every code printed in the seeds.
local KAKAO = { "0000", "1001", "1002", "1003", "1004", "1005", "1006", "1007", "1011", "1012", "1013",
  "1014",
  "1015", "1016", "1020", "1021", "1022", "1023", "1024", "1025", "1026", "1027", "1030", "1033", "2000",
    "2003",
  "2004", "2005", "2006", "3000", "3005", "3006", "3008", "3010", "3011", "3012", "3013", "3014", "3015",
    "3016",
  "3018", "3019", "3020", "3021", "3022", "3023", "3024", "3025", "3026", "3027", "3028", "3029", "3030",
    "3031",
  "3032", "3033", "3034", "3035", "3036", "3037", "3038", "3039", "3040", "3041", "3042", "3046", "3047",
    "3050",
  "3051", "3052", "3056", "3058", "3059", "4000", "4001", "7011", "7014", "8512", "8514", "8520", "8521",
    "8522",
  "8523", "8530", "8999", "9998", "9999" }
local SENS = { "A000", "B000", "B001", "B002", "B003", "B004", "B005", "B400", "B999", "E4000", "E4001",
  "E4002",
  "E4003", "E4004", "E4005", "E4006", "E4007", "E4008", "E4009", "E4010", "E4999", "E5000", "READY",
    "PROCESSING",
  "CANCELED", "FAIL", "DONE", "STALE", "202", "400", "404", "429", "500", "204", "200" }
local BIZMESSAGE = { "100", "200", "400", "410", "420", "500", "510", "520", "NRM0000", "NRM00000",
  "API_200" }
local APIPLEX = { "C100", "C400_1", "C400_2", "C400_3", "C404_1", "C500_1", "G110", "G140", "G141", "G142",
  "G150",
  "G160" }
local SINCH = { "DELIVERED", "FAILED", "TEMPLATE_INSUFFICIENT_PARAMETERS", "UNSPECIFIED_SUB_CODE", "400",
  "401",
  "404", "429", "500", "502", "503", "504" }

local CLASSES = { accepted = true, rejected = true, retryable = true, uncertain = true, quota = true,
  delivered = true, failed = true, pending = true }

describe("alimtalk.codes", function()
  local function all(provider, list)
    for _, c in ipairs(list) do
      local e = codes.lookup(provider, c)
      assert.is_table(e, provider .. " " .. c .. " missing")
      assert.equal(c, e.code)
      assert.is_string(e.meaning)
      assert.is_true(CLASSES[e.class], provider .. " " .. c .. " has class " .. tostring(e.class))
    end
  end

  it("covers every Kakao result code for SENS, BizMessage (kko_status_code) and API PLEX", function()
    all("sens", KAKAO); all("bizmessage", KAKAO); all("apiplex", KAKAO)
  end)
  it("covers SENS request, relay, failover and reservation codes and HTTP statuses", function() all("sens",
    SENS) end)
  it("covers BizMessage result and detail codes", function() all("bizmessage", BIZMESSAGE) end)
  it("covers API PLEX acceptance codes", function() all("apiplex", APIPLEX) end)
  it("covers Sinch statuses, reasons and HTTP statuses", function() all("sinch", SINCH) end)

  local expect = {
    { "sens", "A000", "accepted" }, { "sens", "0000", "delivered" }, { "sens", 202, "accepted" },
    { "sens", "3005", "uncertain" }, { "bizmessage", "3005", "uncertain" }, { "apiplex", "3005",
      "uncertain" },
    { "sens", "B004", "quota" }, { "apiplex", "G150", "quota" }, { "apiplex", "G160", "quota" },
    { "sens", "3016", "rejected" }, { "sens", "3008", "rejected" }, { "sens", "3019", "failed" },
    { "sens", "429", "retryable" }, { "sens", "502", "uncertain" }, { "sens", "504", "uncertain" },
    { "sens", "503", "retryable" }, { "bizmessage", "520", "retryable" }, { "bizmessage", "100", "pending" },
    { "bizmessage", "API_200", "delivered" }, { "apiplex", "C100", "accepted" }, { "apiplex", "C400_2",
      "rejected" },
    { "apiplex", "C500_1", "uncertain" }, { "sinch", "DELIVERED", "delivered" }, { "sinch", "FAILED",
      "failed" },
    { "sinch", "TEMPLATE_INSUFFICIENT_PARAMETERS", "rejected" }, { "sens", "E4003", "rejected" },
    { "sens", "READY", "pending" }, { "sens", "DONE", "accepted" }, { "sens", "3022", "rejected" },
  }
  for _, c in ipairs(expect) do
    it(string.format("classes %s %s as %s", c[1], tostring(c[2]), c[3]), function()
      assert.equal(c[3], codes.class(c[1], c[2]))
    end)
  end

  it("marks 3012 (duplicated serial) as already accepted and distinguishable", function()
    local e = codes.lookup("bizmessage", "3012")
    assert.equal("accepted", e.class)
    assert.is_true(e.duplicate)
    assert.is_nil(codes.lookup("bizmessage", "3016").duplicate)
  end)

  it("reads BizMessage body codes and HTTP statuses apart", function()
    assert.equal("failed", codes.class("bizmessage", "510"))
    assert.equal("uncertain", codes.class("bizmessage", "500", "http"))
    assert.equal("http", codes.lookup("bizmessage", "429").kind)
  end)

  it("returns nil for an unknown code and raises for an unknown provider", function()
    assert.is_nil(codes.lookup("sens", "Z999"))
    assert.is_nil(codes.class("sinch", "3016"))
    assert.has_error(function() codes.lookup("kakaotalk", "0000") end)
  end)

  it("lists a provider's codes sorted", function()
    local l = codes.list("apiplex")
    assert.truthy(#l > 100)
    for i = 2, #l do assert.is_true(l[i - 1].code <= l[i].code) end
  end)
end)
