-- Table-driven: every invalid message of spec/fixtures/validation/invalid.lua gets the
-- violation (code, field, provider code) the provider would give.
local validate = require "alimtalk.validate"
local common = require "fixtures.validation.common"
local cases = require "fixtures.validation.invalid"

local reg = common.registry()

local function at(hhmm)
  local h, mi = hhmm:match("(%d+):(%d+)")
  return common.kst(2026, 11, 21, tonumber(h), tonumber(mi))
end

describe("validate: invalid messages from the source documents", function()
  it("has at least 80 cases", function()
    assert.is_true(#cases >= 80, #cases .. " cases")
  end)

  for i, c in ipairs(cases) do
    local provider, msg, code, field, pcode, extra = c[1], c[2], c[3], c[4], c[5], c[6]
    it(string.format("#%d %s: %s at %s (%s)", i, provider, code, field, tostring(pcode)), function()
      local opts = { provider = provider, now = at("12:00") }
      if extra == true or c[7] then opts.registry = reg end
      if type(extra) == "table" and extra.now then opts.now = at(extra.now) end
      local ok, err = validate.message(msg, opts)
      assert.is_nil(ok, "the message passed")
      local found
      for _, e in ipairs(err.errors) do
        if e.code == code and e.field == field and e.provider_code == pcode then found = e end
      end
      assert(found, "expected " .. code .. " " .. field .. " " .. tostring(pcode) .. "; got "
        .. common.dump(err))
      assert.is_string(found.message)
      if code == "TOO_LONG" or code == "TOO_MANY" or code == "TOO_FEW" then
        assert.is_number(found.limit)
        assert.is_number(found.actual)
        assert.is_string(found.unit)
      end
    end)
  end
end)
