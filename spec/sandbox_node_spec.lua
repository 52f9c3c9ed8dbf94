-- Clients no one here wrote, against the sandbox: the official Sinch Node SDK, and a SENS
-- request signed with Node's crypto (accepted; refused with one signature character changed).
-- Skipped (pending) when node or spec/node/node_modules is missing (`make node-deps`).
local sandbox = require "support.sandbox"
local cjson = require "cjson"
local fs = require("support.fs")

local node_dir = sandbox.root .. "/spec/node"

local function have_node()
  local ok = os.execute("command -v node >/dev/null 2>&1")
  if not (ok == true or ok == 0) then return false, "node is not installed" end
  local f = io.open(node_dir .. "/node_modules/@sinch/conversation/package.json", "rb")
  if not f then return false, "spec/node/node_modules is missing (run make node-deps)" end
  f:close()
  return true
end

local q = fs.q

local function node(script, ...)
  local args = {}
  for i, a in ipairs({ ... }) do args[i] = q(a) end
  local p = io.popen("cd " .. q(node_dir) .. " && timeout 60 node " .. script .. " "
    .. table.concat(args, " ") .. " 2>&1")
  local out = p:read("*a")
  p:close()
  local ok, v = pcall(cjson.decode, out:match("[^\n]*\n?$") or out)
  assert(ok, "node printed: " .. out)
  return v
end

describe("sandbox with Node clients", function()
  local ok, why = have_node()
  if not ok then
    pending("Node interoperability: " .. why)
    return
  end

  local s
  setup(function()
    s = sandbox.start{ delivery_delay = 0.05, webhooks = { sinch = "/_sandbox/sink/sinch" } }
  end)

  teardown(function()
    assert.same({}, sandbox.stop(s))
  end)

  it("accepts a KakaoTalk template message from the official @sinch/conversation SDK", function()
    local c = s.credentials.sinch
    local out = node("sandbox_sinch_sdk.js", s.http_url, c.project_id, c.key_id, c.key_secret, c.app_id,
      "+821012345678")
    assert.is_true(out.ok, out.error)
    local id = out.response.message_id
    assert.is_string(id)
    local box = sandbox.wait(function()
      for _, m in ipairs(s:outbox({ provider = "sinch" })) do
        if m.id == id and m.status == "delivered" then return m end
      end
    end, 3)
    assert.equal("홍길동님, 회원가입을 환영합니다.\n가입일: 2026-11-21", box.text)
    -- it went through the SDK's own token call
    local paths = {}
    for _, a in ipairs(s:attempts({ provider = "sinch" })) do paths[#paths + 1] = a.path end
    assert.same({ "/oauth2/token", "/v1/projects/" .. c.project_id .. "/messages:send" }, paths)
  end)

  it("accepts a SENS request signed by Node's crypto and refuses it with one character changed", function()
    local c = s.credentials.sens
    local good = node("sandbox_sens_sign.js", s.http_url, c.service_id, c.access_key, c.secret_key)
    assert.equal(202, good.status)
    assert.equal("A000", good.body.messages[1].requestStatusCode)
    local bad = node("sandbox_sens_sign.js", s.http_url, c.service_id, c.access_key, c.secret_key, "tamper")
    assert.equal(401, bad.status)
    assert.equal("Authentication Failed", bad.body.error.message)
  end)
end)
