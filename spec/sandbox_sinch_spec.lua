-- The sandbox's Sinch Conversation API emulation (KakaoTalk), driven with plain HTTP.
local sandbox = require "support.sandbox"
local cjson = require "cjson"

describe("sandbox Sinch", function()
  local s, token, path

  setup(function()
    s = sandbox.start{ delivery_delay = 0.05, webhooks = { sinch = "/_sandbox/sink/sinch" },
      unreachable = { "01099990000" } }
    token = sandbox.sinch_token(s)
    path = "/v1/projects/" .. s.credentials.sinch.project_id .. "/messages:send"
  end)

  teardown(function()
    assert.same({}, sandbox.stop(s))
  end)

  local function send(body, opts)
    opts = opts or {}
    return assert(sandbox.http(s, { method = "POST", path = opts.path or path, json = body,
      headers = { Authorization = "Bearer " .. (opts.token or token) } }))
  end

  local function template(id, params, to, auth)
    local b = { app_id = s.credentials.sinch.app_id,
      recipient = { identified_by = { channel_identities = {
        { channel = "KAKAOTALK", identity = to or "+821012345678" } } } },
      message = { template_message = { channel_template = {
        KAKAOTALK = { template_id = id, parameters = params } } } },
      channel_priority_order = { "KAKAOTALK" } }
    if auth then b.channel_properties = { KAKAOTALK_AUTHENTICATION = "true" } end
    return b
  end

  -- The delivery report for a message id, with its signature checked here (luaossl).
  local function report(id)
    return sandbox.wait(function()
      for _, call in ipairs(s:sink("sinch")) do
        local b = cjson.decode(call.body)
        if b.message_delivery_report and b.message_delivery_report.message_id == id then
          local h = call.headers
          local want = sandbox.hmac_b64(s.credentials.sinch.webhook_secret, call.body .. "."
            .. h["x-sinch-webhook-signature-nonce"] .. "." .. h["x-sinch-webhook-signature-timestamp"])
          assert.equal(want, h["x-sinch-webhook-signature"])
          assert.equal("HmacSHA256", h["x-sinch-webhook-signature-algorithm"])
          assert.is_true(math.abs(tonumber(h["x-sinch-webhook-signature-timestamp"]) - os.time()) < 30)
          return b
        end
      end
    end, 3)
  end

  it("issues tokens for Basic base64(key:secret) only", function()
    local c = s.credentials.sinch
    local function try(auth)
      return assert(sandbox.http(s, { method = "POST", path = "/oauth2/token",
        body = "grant_type=client_credentials",
        headers = { Authorization = auth, ["Content-Type"] = "application/x-www-form-urlencoded" } }))
    end
    local ok = try("Basic " .. sandbox.base64(c.key_id .. ":" .. c.key_secret))
    assert.equal(200, ok.status)
    assert.equal("bearer", ok.json.token_type)
    assert.is_number(ok.json.expires_in)
    assert.equal(401, try("Basic " .. sandbox.base64(c.key_id .. ":wrong")).status)
    assert.equal(401, try("Basic " .. c.key_id .. " " .. c.key_secret).status)
  end)

  it("accepts a KakaoTalk template message and reports DELIVERED, signed", function()
    local r = send(template("welcome", { name = "홍길동", date = "2026-11-21" }))
    assert.equal(200, r.status)
    assert.matches("^[0-9A-Z]+$", r.json.message_id)
    assert.is_string(r.json.accepted_time)
    local b = report(r.json.message_id)
    assert.equal("DELIVERED", b.message_delivery_report.status)
    assert.equal("KAKAOTALK", b.message_delivery_report.channel_identity.channel)
    assert.equal(s.credentials.sinch.project_id, b.project_id)
    local seen
    for _, m in ipairs(s:outbox({ provider = "sinch" })) do
      if m.id == r.json.message_id then seen = m end
    end
    assert.equal("홍길동님, 회원가입을 환영합니다.\n가입일: 2026-11-21", seen.text)
  end)

  it("applies the authentication keyword rule", function()
    local ok = send(template("auth_code", { service = "샵", code = "123456" }, nil, true))
    assert.equal("DELIVERED", report(ok.json.message_id).message_delivery_report.status)
    local bad = send(template("notice_plain", { service = "샵", name = "홍길동" }, nil, true))
    assert.equal(200, bad.status)
    local dr = report(bad.json.message_id).message_delivery_report
    assert.equal("FAILED", dr.status)
    assert.equal("TEMPLATE_INSUFFICIENT_PARAMETERS", dr.reason.code)
    -- the same template without the authentication property is a generic message
    local plain = send(template("notice_plain", { service = "샵", name = "홍길동" }))
    assert.equal("DELIVERED", report(plain.json.message_id).message_delivery_report.status)
  end)

  it("reports template problems and unreachable numbers in the delivery report", function()
    local function reason(body)
      local r = send(body)
      assert.equal(200, r.status)
      return report(r.json.message_id).message_delivery_report.reason.code
    end
    assert.equal("TEMPLATE_NOT_FOUND", reason(template("nope", {})))
    assert.equal("TEMPLATE_INSUFFICIENT_PARAMETERS", reason(template("welcome", { name = "홍길동" })))
    assert.equal("RECIPIENT_NOT_REACHABLE",
      reason(template("welcome", { name = "a", date = "b" }, "+821099990000")))
  end)

  it("answers malformed requests with 400 INVALID_ARGUMENT and checks token and project", function()
    local r = send({ app_id = s.credentials.sinch.app_id, message = {} })
    assert.equal(400, r.status)
    assert.equal("INVALID_ARGUMENT", r.json.error.status)
    local b = template("welcome", { name = "a", date = "b" })
    b.app_id = "OTHER"
    assert.equal(404, send(b).status)
    local nb = template("welcome", { name = "a", date = "b" })
    assert.equal(401, send(nb, { token = "nope" }).status)
    assert.equal(403, send(nb, { path = "/v1/projects/other/messages:send" }).status)
    r = assert(sandbox.http(s, { method = "POST", path = path, body = "{",
      headers = { Authorization = "Bearer " .. token, ["Content-Type"] = "application/json" } }))
    assert.equal(400, r.status)
  end)

  it("refuses template parameters that are not strings (map<string, string>) with 400", function()
    for _, params in ipairs({ { name = { 1 }, date = "b" }, { name = "a", date = 5 }, { "a", "b" } }) do
      local r = send(template("welcome", params))
      assert.equal(400, r.status)
      assert.equal("INVALID_ARGUMENT", r.json.error.status)
      assert.matches("must be a string", r.json.error.message)
    end
    assert.equal(200, send(template("welcome", { name = "a", date = "b" })).status)
  end)
end)
