-- Alcmeon status webhooks: normalization and optional Basic authentication.
local core = require "alimtalk.core"
local hook_mod = require "alimtalk.webhook.alcmeon"
local fs = require "support.fs"

local read = fs.read_fixture

describe("webhook.alcmeon", function()
  local body = read("spec/fixtures/webhooks/alcmeon_failed.json")

  it("normalizes a failed status with its Kakao code", function()
    local ev = assert(assert(hook_mod.new()):parse({}, body))
    assert.equal("failed", ev.status)
    assert.equal("3019", ev.code)
    assert.equal("alc-5521", ev.ids.message_id)
    local ok = assert(hook_mod.new()):parse({}, '{"message_id":"m1","status":"delivered","time":"t"}')
    assert.equal("delivered", ok.status)
    -- a code sent as a JSON number reads as the provider wrote it ("3019", not Lua 5.4's "3019.0")
    local num = assert(hook_mod.new()):parse({},
      '{"message_id":"m2","status":"failed","error":{"code":3019,"errorText":"x"}}')
    assert.equal("3019", num.code)
  end)

  it("refuses unknown statuses and bad JSON", function()
    local hook = assert(hook_mod.new())
    local ev, err = hook:parse({}, '{"message_id":"m1","status":"read"}')
    assert.is_nil(ev)
    assert.equal("UNSUPPORTED", err.code)
    ev, err = hook:parse({}, "[")
    assert.is_nil(ev)
    assert.equal("BAD_JSON", err.code)
  end)

  it("checks Basic credentials when configured", function()
    local hook = assert(hook_mod.new{ basic_user = "alcmeon", basic_password = "pw-91x" })
    local good = "Basic " .. core.base64_encode("alcmeon:pw-91x")
    assert.truthy(hook:parse({ Authorization = good }, body))
    local ev, err = hook:parse({ Authorization = good:sub(1, -2) .. "A" }, body)
    assert.is_nil(ev)
    assert.equal("UNAUTHORIZED", err.code)
    ev = hook:parse({}, body)
    assert.is_nil(ev)
  end)
end)
