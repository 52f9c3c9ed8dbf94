-- Every examples/*.lua runs as is: against the sandbox server (the SENS settings the examples
-- read from the environment point at it) and with no settings at all (the embedded sandbox).
-- The OpenResty example has its own spec (openresty_spec.lua).
local sandbox = require("support.sandbox")
local cjson = require("cjson")
local fs = require("support.fs")

local ROOT = sandbox.root
local RUNTIME = fs.RUNTIME

local read_file, q = fs.read_file, fs.q

local function examples()
  local list = {}
  local p = assert(io.popen("ls " .. q(ROOT .. "/examples") .. "/*.lua"))
  for path in p:lines() do list[#list + 1] = path:match("([^/]+)%.lua$") end
  p:close()
  table.sort(list)
  return list
end

describe("examples", function()
  local s, dir

  -- Run an example; returns exit code and output (stdout + stderr). Each run gets its own
  -- state folder (bulk_csv.lua would otherwise resume the previous run's campaign).
  local runs = 0
  local function run(name, env, args)
    runs = runs + 1
    local state = dir .. "/state-" .. runs
    local cmd = ("cd %s && env LUA_PATH=%s LUA_CPATH=%s ALIMTALK_OUTBOX=%s STATE_DIR=%s %s %s "
      .. "examples/%s.lua %s > %s 2>&1; echo $? > %s"):format(q(ROOT),
      q(ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;;"), q(ROOT .. "/build/" .. RUNTIME .. "/?.so;;"),
      q(dir .. "/outbox-" .. name:gsub("/", "-") .. ".jsonl"), q(state), env or "", RUNTIME, name,
      args or "", q(dir .. "/out.txt"),
      q(dir .. "/rc.txt"))
    os.execute("mkdir -p " .. q(state))
    os.execute(cmd)
    return tonumber(read_file(dir .. "/rc.txt")), read_file(dir .. "/out.txt")
  end

  setup(function()
    s = sandbox.start({ templates = ROOT .. "/examples/templates.json", delivery_delay = 0.05,
                        webhooks = { apiplex = "/_sandbox/sink/hooks" } })
    dir = fs.tmpdir("alimtalk-examples")
  end)

  teardown(function()
    local errs = sandbox.stop(s)
    fs.rmtree(dir)
    assert.are.same({}, errs)
  end)

  it("covers every example file", function()
    local names = examples()
    for _, want in ipairs({ "bulk_csv", "demo", "failover", "quickstart", "webhook_receiver" }) do
      local found = false
      for _, n in ipairs(names) do if n == want then found = true end end
      assert.is_true(found, want .. ".lua is missing")
    end
  end)

  -- What each example exits with: 0, except bulk_csv.lua, whose customers.csv has an invalid
  -- row (a landline), which makes it exit 1 after sending the others, as `alimtalk bulk run`.
  local function want_rc(name) return name == "bulk_csv" and 1 or 0 end

  it("runs each one with no settings (the embedded sandbox)", function()
    for _, name in ipairs(examples()) do
      local rc, out = run(name)
      assert.are.equal(want_rc(name), rc, name .. ".lua failed:\n" .. out)
      if name == "bulk_csv" then assert.matches("4 accepted, 1 invalid", out, 1, true) end
    end
  end)

  it("runs each one against the sandbox server over verified HTTPS", function()
    local c = s.credentials.sens
    local env = ("SENS_BASE_URL=%s SENS_CA_FILE=%s SENS_SERVICE_ID=%s SENS_PLUS_FRIEND_ID=%s "
      .. "NCP_ACCESS_KEY=%s NCP_SECRET_KEY=%s"):format(q(s.https_url), q(s.ca_file), q(c.service_id),
      q(c.plus_friend_id), q(c.access_key), q(c.secret_key))
    for _, name in ipairs(examples()) do
      if name ~= "webhook_receiver" then
        s:reset()
        local rc, out = run(name, env)
        assert.are.equal(want_rc(name), rc, name .. ".lua failed:\n" .. out)
        if name == "quickstart" then
          assert.are.equal(1, #s:outbox({ provider = "sens" }), out)
        elseif name == "bulk_csv" then
          -- four valid rows delivered, the landline row listed with its reason
          local box = s:outbox({ provider = "sens" })
          assert.are.equal(4, #box, out)
          assert.matches("4 accepted, 1 invalid", out, 1, true)
          assert.matches('invalid row: {"row":4', out, 1, true)
          local texts = {}
          for _, m in ipairs(box) do texts[m.to] = m.text end
          assert.matches('^김 "철수"님, 주문하신 상품이 발송되었습니다%.', texts["01020010002"])
        end
      end
    end
  end)

  it("verifies the webhooks the sandbox server posted (webhook_receiver.lua)", function()
    s:reset()
    local token = "example-echo-token-9"
    local c = s.credentials.apiplex
    local client = assert(require("alimtalk").new({
      provider = "apiplex", templates = ROOT .. "/examples/templates.json",
      apiplex = { base_url = s.http_url, user_id = c.user_id, secret_key = c.secret_key,
                  sender_key = c.sender_key, sender_number = "0212345678" } }))
    local r = assert(client:send({ to = "010-6000-0001", template = "login_code", vars = { code = "123456" },
                                   id = "ex-hook-1", echo = token }))
    client:close()
    assert.are.equal("accepted", r.status)
    sandbox.wait(function() return #s:sink("hooks") > 0 end, 10)
    local rc, out = run("webhook_receiver", ("SANDBOX_URL=%s SANDBOX_SINK=hooks APIPLEX_ECHO_TOKEN=%s")
      :format(q(s.http_url), q(token)))
    assert.are.equal(0, rc, out)
    assert.matches("apiplex delivery ex-hook-1: delivered", out, 1, true)
    assert.matches("1 of 1 captured webhooks verified", out, 1, true)
    -- with another token the same capture is refused
    rc, out = run("webhook_receiver", ("SANDBOX_URL=%s SANDBOX_SINK=hooks APIPLEX_ECHO_TOKEN=wrong")
      :format(q(s.http_url)))
    assert.are.equal(1, rc)
    assert.matches("BAD_ECHO_TOKEN", out, 1, true)
    assert.is_nil(cjson.decode("[]")[1])
  end)

  -- The worked policies of docs/policies.md: run.lua starts a sandbox server of its own and
  -- exits 0 only when the policy did what the page says.
  it("runs the worked policies (examples/policies/run.lua)", function()
    local outs = {}
    for _, name in ipairs({ "otp_verify", "split", "quiet_hours" }) do
      local rc, out = run("policies/run", "", name)
      assert.are.equal(0, rc, name .. " failed:\n" .. out)
      outs[name] = out
    end
    assert.matches("failover  sens not sent at apiplex (503)", outs.otp_verify, 1, true)
    assert.matches("sens %d+, bizmessage %d+ of 200", outs.split)
    assert.matches("ft-1: not_sent via nil (POLICY_HOLD); held by policy until 2026-12-08 09:00 KST",
                   outs.quiet_hours, 1, true)
  end)
end)
