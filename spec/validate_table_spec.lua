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

-- docs/messages.md documents validate.batch's return values with a snippet: run it.
describe("validate.batch as documented", function()
  it("the snippet in docs/messages.md prints every violation of each invalid message", function()
    local f = assert(io.open("docs/messages.md"))
    local doc = f:read("a")
    f:close()
    local code = doc:match("\n(local valid, errs = validate%.batch.-\nif errs and errs%[0%][^\n]*\n)")
    assert.is_string(code, "no validate.batch snippet in docs/messages.md")
    local printed = {}
    local env = setmetatable({ validate = validate, reg = reg, print = function(...)
      local parts = {}
      for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
      printed[#printed + 1] = table.concat(parts, " ") end,
      msgs = {
        { to = "010-1234-5678", template = "payment", vars = { name = "a", amount = "1" } },
        { to = "010-12", template = "payment", vars = { name = "a" } },
        { to = "010-1234-5679", template = "payment", vars = { name = "c", amount = "2" } },
      } }, { __index = _G })
    local fn = assert((loadstring or load)(code, "=messages.md", "t", env))
    if setfenv then setfenv(fn, env) end
    fn()
    -- message 2 has two violations, both printed; the valid ones print nothing
    assert.equal(2, #printed, table.concat(printed, "\n"))
    local all = table.concat(printed, "\n")
    assert.matches("2 messages[2].to BAD_PHONE", all, 1, true)
    assert.matches("2 messages[2].vars.amount MISSING_VARIABLE", all, 1, true)
    -- and the values are what the text says
    local valid, errs = validate.batch(env.msgs, { provider = "apiplex", registry = reg })
    assert.is_table(valid[1])
    assert.is_nil(valid[2])
    assert.is_table(valid[3])
    assert.equal("01012345679", valid[3].recipient)
    assert.is_nil(errs[1])
    assert.equal(2, #errs[2].errors)
    assert.equal(errs[2].errors[1].code, errs[2].code)
  end)
end)
