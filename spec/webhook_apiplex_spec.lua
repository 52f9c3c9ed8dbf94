-- API PLEX result webhooks: echo-token authentication, source allowlist, normalization.
local hook_mod = require "alimtalk.webhook.apiplex"
local fs = require "support.fs"

local TOKEN = "tok-3f9c2a7e51b84d06"

local read = fs.read_fixture

describe("webhook.apiplex", function()
  local body = read("spec/fixtures/webhooks/apiplex_result.json")

  it("parses a result carrying the echo token into a delivered event", function()
    local hook = assert(hook_mod.new{ echo_token = TOKEN })
    local evs, err = hook:parse({}, body, "127.0.0.1")
    assert.is_nil(err)
    assert.equal(1, #evs)
    assert.equal("delivered", evs[1].status)
    assert.equal("0000", evs[1].code)
    assert.equal("order-1001-shipped", evs[1].ids.msg_key)
    assert.equal("apiplex", evs[1].provider)
  end)

  it("refuses any single-byte change to the echo token", function()
    local hook = assert(hook_mod.new{ echo_token = TOKEN })
    local s, e = body:find(TOKEN, 1, true)
    for i = s, e do
      local b = body:byte(i)
      local mutated = body:sub(1, i - 1) .. string.char(b % 2 == 0 and b + 1 or b - 1) .. body:sub(i + 1)
      local evs, err = hook:parse({}, mutated)
      assert.is_nil(evs)
      assert.equal("BAD_ECHO_TOKEN", err.code)
    end
  end)

  it("reports failed delivery codes and malformed bodies", function()
    local hook = assert(hook_mod.new{ echo_token = TOKEN })
    local failed = body:gsub('"code":"0000"', '"code":"3019"')
    local evs = assert(hook:parse({}, failed))
    assert.equal("failed", evs[1].status)
    assert.equal("3019", evs[1].code)
    -- the same code as a JSON number
    evs = assert(hook:parse({}, (body:gsub('"code":"0000"', '"code":3019'))))
    assert.equal("3019", evs[1].code)
    assert.equal("failed", evs[1].status)
    local none, err = hook:parse({}, "{not json")
    assert.is_nil(none)
    assert.equal("BAD_JSON", err.code)
  end)

  it("checks the source allowlist and takes the token from the environment", function()
    local hook = assert(hook_mod.new{ echo_token = TOKEN, allow = { "10.0.0.5" } })
    local evs, err = hook:parse({}, body, "10.0.0.6")
    assert.is_nil(evs)
    assert.equal("FORBIDDEN_SOURCE", err.code)
    assert.truthy(hook:parse({}, body, "10.0.0.5"))
    local none, merr = hook_mod.new{ echo_token_env = "ALIMTALK_SPEC_UNSET_VARIABLE" }
    assert.is_nil(none)
    assert.equal("BAD_OPTION", merr.code)
    assert.is_nil(tostring(hook):find(TOKEN, 1, true))
  end)
end)
