-- Option errors never show credentials carried in a URL.
local alimtalk = require "alimtalk"
local config = require "alimtalk.config"

describe("config", function()
  it("keeps userinfo and query out of a bad base_url error", function()
    for _, url in ipairs({ "https://user:s3cr3t-pw@sens.example/alimtalk",
                           "https://sens.example/path?token=s3cr3t-pw",
                           "https://u:s3cr3t-pw@sens.example#s3cr3t-pw" }) do
      local ok, err = pcall(alimtalk.new, { provider = "sens", sens = { access_key = "ak",
        secret_key = "sk", service_id = "ncp:kkobizmsg:kr:1:svc", plus_friend_id = "@shop",
        base_url = url } })
      assert.is_false(ok)
      assert.truthy(tostring(err):find("base_url must be", 1, true), tostring(err))
      assert.is_nil(tostring(err):find("s3cr3t", 1, true), tostring(err))
      assert.truthy(tostring(err):find("sens.example", 1, true))
    end
  end)

  it("redacts URLs for display", function()
    assert.equal("https://host:8443/a/b", config.redact_url("https://me:pw@host:8443/a/b?k=v#f"))
    assert.equal("http://host", config.redact_url("http://a@b@host"))
    assert.equal("https://host/p", config.redact_url("https://host/p"))
  end)
end)

describe("config: what a newcomer is told", function()
  it("names the variable a <key>_env points at when it is unset", function()
    local c, err = alimtalk.new{ provider = "sens", sens = { access_key_env = "ALIMTALK_SPEC_UNSET_VAR",
      secret_key = "sk", service_id = "ncp:kkobizmsg:kr:1:svc", plus_friend_id = "@shop" } }
    assert.is_nil(c)
    assert.equal("BAD_OPTION", err.code)
    assert.equal("sens.access_key", err.field)
    assert.equal("ALIMTALK_SPEC_UNSET_VAR (named by access_key_env) is not set", err.message)
    -- a key given neither way still says it is required, with its default variable
    local _, err2 = alimtalk.new{ provider = "sens", sens = { access_key = "ak", secret_key = "sk",
      plus_friend_id = "@shop" } }
    assert.matches("sens.service_id .* is required", err2.message)
  end)

  it("refuses a secret with a line break or NUL, naming the setting and its source", function()
    local _, err = alimtalk.new{ provider = "apiplex", apiplex = { user_id = "u",
      secret_key = "s3cr3t-value\n", sender_key = "k", sender_number = "0212345678" } }
    assert.equal("BAD_OPTION", err.code)
    assert.equal("apiplex.secret_key", err.field)
    assert.equal("apiplex.secret_key (from the configuration) holds a line break or NUL character, "
      .. "which no HTTP header can carry", err.message)
    assert.is_nil(tostring(err):find("s3cr3t", 1, true))
    local v, e2 = config.resolve({ key_secret_env = "HOME" }, "key_secret", nil,
      function(n) return n == "HOME" and "a\0b" or nil end, "sinch")
    assert.is_nil(v)
    assert.matches("sinch.key_secret (from HOME, named by key_secret_env)", e2.message, 1, true)
    v, e2 = config.resolve({}, "secret_key", "NCP_SECRET_KEY",
      function(n) return n == "NCP_SECRET_KEY" and "abc\r" or nil end, "sens")
    assert.is_nil(v)
    assert.matches("sens.secret_key (from NCP_SECRET_KEY)", e2.message, 1, true)
    assert.equal("fine", config.resolve({ secret_key = "fine" }, "secret_key"))
  end)

  it("says what BizMessage's sender_no is when it is missing", function()
    local _, err = alimtalk.new{ provider = "bizmessage", bizmessage = { client_id = "id",
      client_secret = "s", sender_key = "k" } }
    assert.equal("bizmessage.sender_no", err.field)
    assert.matches("the sender's phone number registered with BizMessage", err.message, 1, true)
  end)

  it("the OpenResty example passes the environment variables the library reads", function()
    local f = assert(io.open("examples/openresty/nginx.conf"))
    local conf = f:read("a")
    f:close()
    -- every variable the providers read by default (config.resolve's default_env)
    local read = {}
    for _, path in ipairs({ "lua/alimtalk/providers/sens.lua", "lua/alimtalk/providers/bizmessage.lua",
                            "lua/alimtalk/providers/apiplex.lua", "lua/alimtalk/providers/sinch.lua",
                            "lua/alimtalk/webhook/sinch.lua", "lua/alimtalk/webhook/apiplex.lua" }) do
      local h = assert(io.open(path))
      local src = h:read("a")
      for name in src:gmatch('config%.resolve%(%w+, "[%w_]+", "([A-Z][A-Z0-9_]+)"') do read[name] = true end
      for name in src:gmatch('config%.need%(%w+, "[%w_]+", "[%w_]+", "([A-Z][A-Z0-9_]+)"') do
        read[name] = true
      end
      h:close()
    end
    assert.is_true(read.BIZMSG_CLIENT_SECRET)
    local n = 0
    for name in conf:gmatch("\nenv ([A-Z][A-Z0-9_]*);") do
      n = n + 1
      assert.is_true(read[name] or name == "ALIMTALK_CONFIG", "nginx.conf passes " .. name
        .. ", which nothing reads")
    end
    assert.is_true(n >= 5)
    assert.truthy(conf:find("\nenv BIZMSG_CLIENT_SECRET;", 1, true))
  end)
end)
