-- A secret canary passed in the environment never appears in anything the command line prints
-- or writes: the sandbox server is started with the canaries as the providers' real secrets
-- (so sends succeed only if the secrets are used), then every command runs, with --verbose and
-- --json, through successes and failures (bad signatures, refused webhooks, a provider that is
-- down), and every byte of output and every file written is searched.
local sandbox = require("support.sandbox")
local cjson = require("cjson")
local fs = require("support.fs")

local ROOT = sandbox.root
local RUNTIME = fs.RUNTIME

local read_file, write, q = fs.read_file, fs.write, fs.q

local SENS_CANARY = "canary-sens-7d1e0f5a9b"
local APIPLEX_CANARY = "canary-apiplex-3c8e2b"
local SINCH_CANARY = "canary-sinch-hook-51f0aa"

describe("secret canary", function()
  local s, dir, outputs = nil, nil, {}

  local function run(args, extra_env)
    local parts = {}
    for i, a in ipairs(args) do parts[i] = q(a) end
    local env = ("env ALIMTALK_SENS_SECRET_KEY=%s NCP_SECRET_KEY=%s APIPLEX_SECRET_KEY=%s "
      .. "SINCH_WEBHOOK_SECRET=%s ALIMTALK_OUTBOX=%s %s"):format(q(SENS_CANARY), q(SENS_CANARY),
      q(APIPLEX_CANARY), q(SINCH_CANARY), q(dir .. "/outbox.jsonl"), extra_env or "")
    os.execute(("cd %s && %s %s %s/bin/alimtalk %s > out.txt 2> err.txt; echo $? > rc.txt")
      :format(q(dir), env, RUNTIME, q(ROOT), table.concat(parts, " ")))
    local out, err = read_file(dir .. "/out.txt"), read_file(dir .. "/err.txt")
    outputs[#outputs + 1] = { args = table.concat(args, " "), text = out .. err }
    return tonumber(read_file(dir .. "/rc.txt")), out, err
  end

  setup(function()
    s = sandbox.start({ credentials = { sens = { secret_key = SENS_CANARY },
                                        apiplex = { secret_key = APIPLEX_CANARY },
                                        sinch = { webhook_secret = SINCH_CANARY } } })
    dir = fs.tmpdir("alimtalk-canary")
    local c = s.credentials
    write(dir .. "/alimtalk.json", cjson.encode({
      provider = "sens", templates = sandbox.templates,
      sens = { base_url = s.http_url, access_key = c.sens.access_key, service_id = c.sens.service_id,
               plus_friend_id = c.sens.plus_friend_id },
      apiplex = { base_url = s.http_url, user_id = c.apiplex.user_id, sender_key = c.apiplex.sender_key,
                  sender_number = "0212345678", secret_key_env = "APIPLEX_SECRET_KEY" },
    }))
    write(dir .. "/down.json", cjson.encode({
      provider = "sens", templates = sandbox.templates,
      sens = { base_url = "http://127.0.0.1:1", access_key = c.sens.access_key,
               service_id = c.sens.service_id, plus_friend_id = c.sens.plus_friend_id },
    }))
  end)

  teardown(function()
    local errs = sandbox.stop(s)
    fs.rmtree(dir)
    assert.are.same({}, errs)
  end)

  it("never appears in any output or file, while the secrets do their work", function()
    -- the secrets are used: SENS signs with the canary, API PLEX authenticates with it
    local rc, out, err = run({ "send", "--to", "010-4000-0001", "--template", "welcome", "--var", "name=a",
                               "--var", "date=b", "--verbose" })
    assert.are.equal(0, rc, err)
    assert.matches("^accepted via sens", out)
    rc, out = run({ "send", "--to", "010-4000-0002", "--template", "welcome", "--var", "name=a",
                    "--var", "date=b", "--provider", "apiplex", "--json", "-v" })
    assert.are.equal(0, rc)
    local msg_id = cjson.decode(out).ids
    -- failures that quote the provider or the configuration
    run({ "send", "--to", "010-4000-0003", "--template", "welcome", "--var", "name=a", "--var", "date=b",
          "--verbose" }, "ALIMTALK_SENS_SECRET_KEY=" .. SENS_CANARY .. "x NCP_SECRET_KEY=")
    run({ "send", "--to", "010-4000-0004", "--template", "welcome", "--var", "name=a", "--var", "date=b",
          "-c", "down.json", "--json", "-v" })
    run({ "send", "--to", "12", "--template", "welcome", "--var", "name=a", "--verbose" })
    run({ "send", "--provider", "sinch", "--to", "010-4000-0005", "--content", "x", "--template", "t" })
    -- a secret pasted where an argument goes is not echoed back in the error
    rc, out, err = run({ "send", SENS_CANARY })
    assert.are.equal(2, rc)
    assert.are.equal("", out)
    assert.matches("unexpected argument '[redacted]'", err, 1, true)
    run({ "status", msg_id and msg_id.message_id or "x", "--json" })
    run({ "status", "--request", "nope", "-v" })
    run({ "templates", "fetch", "--templates", "t.json", "-v" })
    run({ "templates", "list", "--json" })
    run({ "render", "--template", "welcome", "--var", "name=a", "--json" })
    run({ "validate", "--to", "010-1", "--template", "welcome", "--var", "name=a", "-v" })
    write(dir .. "/b.csv", "to,name,date\n010-4000-0010,a,b\n02-1,a,b\n")
    run({ "bulk", "run", "b.csv", "--campaign", "canary", "--template", "welcome", "-v",
          "--progress", "lines" })
    run({ "bulk", "status", "canary", "--json" })
    run({ "bulk", "run", "b.csv", "--campaign", "canary-down", "--template", "welcome", "-c", "down.json" })
    -- webhooks: a good and a forged Sinch capture, verified with the canary secret
    local body = '{"app_id":"SANDBOXAPP","message_delivery_report":{"message_id":"m","status":"DELIVERED"}}'
    local ts = tostring(os.time())
    write(dir .. "/h.json", body)
    write(dir .. "/h.headers", "x-sinch-webhook-signature: "
      .. sandbox.hmac_b64(SINCH_CANARY, body .. ".n1." .. ts) .. "\nx-sinch-webhook-signature-timestamp: "
      .. ts .. "\nx-sinch-webhook-signature-nonce: n1\n")
    rc = run({ "webhook", "verify", "--provider", "sinch", "--body", "h.json", "--headers", "h.headers",
               "--json", "-v" })
    assert.are.equal(0, rc)
    run({ "webhook", "verify", "--provider", "sinch", "--body", "h.json", "--header",
          "x-sinch-webhook-signature: " .. "AAAA", "--json" })
    run({ "webhook", "verify", "--provider", "apiplex", "--body", "h.json" })

    for _, o in ipairs(outputs) do
      for _, canary in ipairs({ SENS_CANARY, APIPLEX_CANARY, SINCH_CANARY }) do
        assert.is_nil(o.text:find(canary, 1, true), "'" .. o.args .. "' printed a secret:\n" .. o.text)
      end
    end
    -- nor in any file the commands wrote
    local p = assert(io.popen("find " .. q(dir) .. " -type f"))
    local files = 0
    for path in p:lines() do
      local text = read_file(path) or ""
      files = files + 1
      for _, canary in ipairs({ SENS_CANARY, APIPLEX_CANARY, SINCH_CANARY }) do
        assert.is_nil(text:find(canary, 1, true), path .. " holds a secret")
      end
    end
    p:close()
    assert.is_true(files > 8)
  end)
end)
