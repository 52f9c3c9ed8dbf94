-- The command line's configuration file, secrets from the environment, argument parsing and
-- the redaction of secrets from everything it prints.
local common = require("alimtalk.cli.common")
local cjson = require("cjson")
local fs = require("support.fs")

local write = fs.write

describe("cli configuration", function()
  local dir
  setup(function() dir = fs.tmpdir("alimtalk-clicfg") end)
  teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

  local function env(t) return function(k) return t[k] end end

  it("reads the file, resolves env: secrets and ALIMTALK_<PROVIDER>_<KEY>, paths beside the file", function()
    write(dir .. "/a.json", cjson.encode({
      provider = "sens", templates = "t.json",
      providers = { sens = { service_id = "svc", access_key = "env:MY_ACCESS", ca_file = "ca.pem" } },
      apiplex = { user_id = "u" },
    }))
    local cfg = assert(common.load_config({ config = dir .. "/a.json" },
      env({ MY_ACCESS = "AK-123456", ALIMTALK_SENS_SECRET_KEY = "SK-abcdef",
            ALIMTALK_APIPLEX_SECRET_KEY = "AP-998877" })))
    assert.are.equal(cfg, common.resolve(cfg))
    assert.are.equal("sens", cfg.provider)
    assert.are.equal(dir .. "/t.json", cfg.templates)
    assert.are.same({ service_id = "svc", access_key = "AK-123456", secret_key = "SK-abcdef",
                      ca_file = dir .. "/ca.pem" }, cfg.sens)
    assert.are.equal("AP-998877", cfg.apiplex.secret_key)
    assert.is_nil(cfg.providers)
    -- every secret it saw is blanked from output
    assert.are.equal("key [redacted] and [redacted] and [redacted]",
                     common.redact("key AK-123456 and SK-abcdef and AP-998877"))
  end)

  it("explains what is wrong in one line", function()
    write(dir .. "/b.json", '{"provider": "sens", "sens": {"secret_key": "env:NOT_SET"}}')
    local cfg = assert(common.load_config({ config = dir .. "/b.json" }, env({})))
    local e
    cfg, e = common.resolve(cfg)
    assert.is_nil(cfg)
    assert.matches("sens.secret_key names the environment variable NOT_SET, which is not set", e, 1, true)
    write(dir .. "/c.json", "{not json")
    cfg, e = common.load_config({ config = dir .. "/c.json" }, env({}))
    assert.is_nil(cfg)
    assert.matches("is not valid JSON", e, 1, true)
    cfg, e = common.load_config({ config = dir .. "/missing.json" }, env({}))
    assert.is_nil(cfg)
    assert.matches("cannot read configuration", e, 1, true)
    write(dir .. "/d.json", '{"providers": {"kakao": {}}}')
    cfg, e = common.load_config({ config = dir .. "/d.json" }, env({}))
    assert.is_nil(cfg)
    assert.matches("unknown provider 'kakao'", e, 1, true)
  end)

  it("says providers or a provider section is not an object instead of raising", function()
    -- found by spec/fuzz/lua/config.lua: "providers": true raised while making paths relative,
    -- a section written as a JSON array raised in the secret scan ("attempt to index a number")
    for i, text in ipairs({ '{"providers": true}', '{"providers": 5, "templates": "t.json"}',
                            '{"sens": ["a", "b"]}', '{"providers": {"apiplex": [1]}}' }) do
      write(dir .. "/obj" .. i .. ".json", text)
      local ok, cfg, e = pcall(common.load_config, { config = dir .. "/obj" .. i .. ".json" }, env({}))
      assert.is_true(ok, cfg)
      assert.is_nil(cfg)
      assert.matches("must be an object", e, 1, true)
    end
  end)

  it("refuses a configuration with both provider and route, unless --provider picks one", function()
    write(dir .. "/both.json", cjson.encode({ provider = "sandbox", route = { "sandbox", "sens" },
      sandbox = {}, sens = { service_id = "svc" } }))
    local cfg, e = common.load_config({ config = dir .. "/both.json" }, env({}))
    assert.is_nil(cfg)
    assert.matches("give provider (one provider) or route (several, with failover), not both", e, 1, true)
    cfg = assert(common.load_config({ config = dir .. "/both.json", provider = "sandbox" }, env({})))
    assert.are.equal("sandbox", cfg.provider)
    assert.is_nil(cfg.route)
    -- a route of the provider alone says the same thing: taken, with its circuit settings
    write(dir .. "/same.json", cjson.encode({ provider = "sandbox", sandbox = {},
      route = { order = { "sandbox" }, failures = 1, cooldown = 99 } }))
    cfg = assert(common.load_config({ config = dir .. "/same.json" }, env({})))
    local client = assert(common.client(cfg))
    assert.are.same({ "sandbox" }, client.names)
    assert.are.equal(1, client.router.failures)
    assert.are.equal(99, client.router.cooldown)
    client:close()
  end)

  it("reads an env: reference only where the command sends through it", function()
    write(dir .. "/lazy.json", cjson.encode({
      sens = { service_id = "svc", access_key = "env:LAZY_UNSET_ACCESS", secret_key = "env:LAZY_SK" },
      sinch = { key_id = "k", key_secret = "env:LAZY_SINCH" },
      route = { "sens", "sinch" } }))
    -- the route sends through both: the unset variable is named
    local cfg = assert(common.load_config({ config = dir .. "/lazy.json" }, env({ LAZY_SK = "sk-1234" })))
    local ok, e = common.resolve(cfg)
    assert.is_nil(ok)
    assert.matches("sens.access_key names the environment variable LAZY_UNSET_ACCESS", e, 1, true)
    -- -p sinch: the sens section is never read
    cfg = assert(common.load_config({ config = dir .. "/lazy.json", provider = "sinch" },
                                    env({ LAZY_SINCH = "ks-5678" })))
    assert.are.equal(cfg, common.resolve(cfg))
    assert.are.equal("ks-5678", cfg.sinch.key_secret)
    assert.are.equal("env:LAZY_UNSET_ACCESS", cfg.sens.access_key)
    -- ALIMTALK_SENS_ACCESS_KEY set: the reference it replaces is never read
    cfg = assert(common.load_config({ config = dir .. "/lazy.json", provider = "sens" },
      env({ ALIMTALK_SENS_ACCESS_KEY = "ak-from-env", LAZY_SK = "sk-1234" })))
    assert.are.equal(cfg, common.resolve(cfg))
    assert.are.same({ service_id = "svc", access_key = "ak-from-env", secret_key = "sk-1234" }, cfg.sens)
  end)

  it("refuses a line break or NUL in a used section, naming the field and its source", function()
    write(dir .. "/crlf.json", cjson.encode({ provider = "apiplex",
      apiplex = { user_id = "u", secret_key_env = "CRLF_SECRET" },
      sinch = { key_id = "k\nx" } }))
    local cfg = assert(common.load_config({ config = dir .. "/crlf.json" },
                                          env({ CRLF_SECRET = "secret-part-1\nsecret-part-2" })))
    local ok, e = common.resolve(cfg)
    assert.is_nil(ok)
    assert.matches("^configuration apiplex%.secret_key %(from CRLF_SECRET%) contains a line break", e)
    assert.is_nil(e:find("secret-part", 1, true))
    -- the sinch section is not used by -p apiplex, but it is by -p sinch
    cfg = assert(common.load_config({ config = dir .. "/crlf.json", provider = "sinch" }, env({})))
    ok, e = common.resolve(cfg)
    assert.is_nil(ok)
    assert.matches("configuration sinch.key_id (from the configuration file " .. dir .. "/crlf.json)",
                   e, 1, true)
    -- a provider's own default variable (NCP_SECRET_KEY), when the file gives no key
    write(dir .. "/crlf2.json", cjson.encode({ provider = "sens", sens = { service_id = "s" } }))
    cfg = assert(common.load_config({ config = dir .. "/crlf2.json" }, env({ NCP_SECRET_KEY = "a\r\0b" })))
    ok, e = common.resolve(cfg)
    assert.is_nil(ok)
    assert.matches("sens.secret_key (from NCP_SECRET_KEY)", e, 1, true)
  end)

  it("defaults to the embedded sandbox and lets --provider choose", function()
    write(dir .. "/e.json", "{}")
    local cfg = assert(common.load_config({ config = dir .. "/e.json" }, env({})))
    assert.are.equal("sandbox", cfg.provider)
    cfg = assert(common.load_config({ config = dir .. "/e.json", provider = "apiplex" }, env({})))
    assert.are.equal("apiplex", cfg.provider)
  end)

  it("parses options, values, flags and positionals, refusing the unknown", function()
    local spec = { options = { to = { value = true }, var = { value = true, multi = true },
                               rate = { value = true, number = true, min = 0 }, ["dry-run"] = {} },
                   max_args = 1 }
    local o = assert(common.parse(spec, { "--to", "010", "--var=a=1", "--var", "b=2", "--rate=5",
                                          "--dry-run", "file.csv", "--json" }))
    assert.are.equal("010", o.to)
    assert.are.same({ "a=1", "b=2" }, o.var)
    assert.are.equal(5, o.rate)
    assert.is_true(o.dry_run)
    assert.is_true(o.json)
    assert.are.same({ "file.csv" }, o.args)
    assert.are.same({ a = "1", b = "2" }, common.parse_vars(o.var))
    local _, e = common.parse(spec, { "--nope" })
    assert.are.equal("unknown option '--nope'", e)
    _, e = common.parse(spec, { "--rate", "-1" })
    assert.matches("needs a number >= 0", e, 1, true)
    _, e = common.parse(spec, { "a", "b" })
    assert.are.equal("unexpected argument 'b'", e)
    _, e = common.parse(spec, { "--dry-run=yes" })
    assert.are.equal("option '--dry-run' takes no value", e)
    o = assert(common.parse(spec, { "--", "--to" }))
    assert.are.same({ "--to" }, o.args)
  end)

  it("maps counts to exit codes", function()
    assert.are.equal(0, common.exit_for({ accepted = 3 }))
    assert.are.equal(1, common.exit_for({ accepted = 3, invalid = 1 }))
    assert.are.equal(1, common.exit_for({ not_sent = 1 }))
    assert.are.equal(3, common.exit_for({ rejected = 1, uncertain = 1 }))
  end)
end)
