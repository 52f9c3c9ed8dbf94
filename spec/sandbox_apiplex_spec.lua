-- The sandbox's API PLEX emulation, driven with plain HTTP requests built here.
local sandbox = require "support.sandbox"
local cjson = require "cjson"

local TEXT = "홍길동님, 회원가입을 환영합니다.\n가입일: 2026-11-21"

describe("sandbox API PLEX", function()
  local s, auth

  setup(function()
    s = sandbox.start{ delivery_delay = 0.05, webhooks = { apiplex = "/_sandbox/sink/apiplex" } }
    auth = s.credentials.apiplex.user_id .. ";" .. s.credentials.apiplex.secret_key
  end)

  teardown(function()
    assert.same({}, sandbox.stop(s))
  end)

  local function send(data, opts)
    opts = opts or {}
    local path = "/" .. (opts.service or "at-standard") .. "/v2/send"
    return assert(sandbox.http(s, { method = "POST", path = path,
      headers = { Authorization = opts.auth or auth, ["Content-Type"] = "application/json;charset=utf-8" },
      json = opts.raw or { msg_type = "AT", msg_data = data } }))
  end

  local function msg(key, over)
    local m = { sender_number = "0212345678", msg_key = key, msg = TEXT,
      receiver_number = "01012345678", template_code = "T0002",
      sender_key = s.credentials.apiplex.sender_key }
    for k, v in pairs(over or {}) do m[k] = v end
    return m
  end

  local function codes(r)
    local out = {}
    for i, x in ipairs(r.json.results) do out[i] = x.code end
    return out
  end

  it("accepts with C100 and posts the result webhook carrying echo_to_webhook", function()
    local r = send({ msg("k-1", { echo_to_webhook = "secret-echo-1" }) })
    assert.equal(200, r.status)
    assert.same({ { msg_key = "k-1", code = "C100", desc = "Success" } }, r.json.results)
    local got = sandbox.wait(function()
      for _, call in ipairs(s:sink("apiplex")) do
        local b = cjson.decode(call.body)
        if b.results[1].msg_key == "k-1" then return b end
      end
    end, 3)
    assert.truthy(got)
    assert.equal(1, #got.results)
    assert.equal("0000", got.results[1].code)
    assert.equal("secret-echo-1", got.results[1].echo_to_webhook)
    assert.matches("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d$", got.results[1].done_date)
  end)

  it("answers a reused msg_key with C400_2 'duplicated msg_key' and stores it once", function()
    assert.equal("C100", send({ msg("dup-1") }).json.results[1].code)
    local r = send({ msg("dup-1") })
    assert.equal("C400_2", r.json.results[1].code)
    assert.equal("duplicated msg_key", r.json.results[1].desc)
    local n = 0
    for _, m in ipairs(s:outbox({ provider = "apiplex" })) do
      if m.serial == "dup-1" then n = n + 1 end
    end
    assert.equal(1, n)
  end)

  it("assigns a msg_key when none is given", function()
    local r = send({ msg(nil) })
    assert.equal("C100", r.json.results[1].code)
    assert.is_string(r.json.results[1].msg_key)
    assert.not_equal("", r.json.results[1].msg_key)
  end)

  it("gives each message of a batch its own acceptance code", function()
    local r = send({
      msg("b-1"),
      msg("b-2", { template_code = cjson.null }),
      msg("b-3", { template_code = "T9999" }),
      msg("b-4", { receiver_number = "0212345678" }),
      msg("b-5", { sender_number = "12" }),
      msg("b-6", { echo_to_webhook = string.rep("e", 257) }),
      msg("b-7", { header = string.rep("가", 22) }),
      msg("b-8", { price = "free" }),
      msg("b-9", { sender_key = "other" }),
      msg("b-10", { attachment = { button = { { type = "WL", name = string.rep("가", 38),
        url_mobile = "https://x.example" } } } }),
    })
    assert.same({ "C100", "C400_3", "C404_1", "G141", "G140", "G142", "C400_2", "C400_1", "C404_1",
      "C400_2" }, codes(r))
  end)

  it("refuses more than 10 msg_data with G160", function()
    local data = {}
    for i = 1, 11 do data[i] = msg("big-" .. i) end
    local r = send(data)
    assert.equal(400, r.status)
    assert.equal("G160", r.json.code)
  end)

  it("accepts a template mismatch, then reports 3016 in the result webhook", function()
    assert.equal("C100", send({ msg("mm-1", { msg = "전혀 다른 문장" }) }).json.results[1].code)
    local got = sandbox.wait(function()
      for _, call in ipairs(s:sink("apiplex")) do
        local b = cjson.decode(call.body)
        if b.results[1].msg_key == "mm-1" then return b.results[1] end
      end
    end, 3)
    assert.equal("3016", got.code)
  end)

  it("checks auth, the service id, msg_type and JSON", function()
    local wrong = "sandbox:" .. s.credentials.apiplex.secret_key
    assert.equal(401, send({ msg("a-1") }, { auth = wrong }).status)
    assert.equal(401, send({ msg("a-2") }, { auth = "sandbox;wrong" }).status)
    local r = send({ msg("a-3") }, { service = "at-nope" })
    assert.equal(404, r.status)
    assert.equal("G110", r.json.code)
    for _, svc in ipairs({ "at-bulk", "at-finance", "at-verify" }) do
      assert.equal("C100", send({ msg("svc-" .. svc) }, { service = svc }).json.results[1].code)
    end
    r = send(nil, { raw = { msg_type = "XX", msg_data = { msg("a-4") } } })
    assert.equal(400, r.status)
    r = assert(sandbox.http(s, { method = "POST", path = "/at-standard/v2/send", body = "[1,",
      headers = { Authorization = auth } }))
    assert.equal(400, r.status)
    assert.equal("C400_1", r.json.code)
  end)

  it("retries the webhook while the receiver fails", function()
    s:settings({ webhooks = { apiplex = "/_sandbox/sink/flaky?status=500" }, webhook_tries = 3 })
    send({ msg("retry-1") })
    local tries = sandbox.wait(function()
      local n = 0
      for _, w in ipairs(s:webhooks()) do
        if w.provider == "apiplex" and w.body:find('"retry-1"', 1, true) then n = n + 1 end
      end
      return n >= 3 and n
    end, 5)
    assert.equal(3, tries)
    assert.equal(3, #s:sink("flaky"))
    s:settings({ webhooks = { apiplex = "/_sandbox/sink/apiplex" }, webhook_tries = 10 })
  end)

  local function sink_has(name, key)
    return sandbox.wait(function()
      for _, call in ipairs(s:sink(name) or {}) do
        local b = cjson.decode(call.body)
        if b.results[1].msg_key == key then return b end
      end
    end, 3)
  end

  it("delivers webhooks to http://localhost:PORT (no resolver needed) and to [::1]", function()
    local s6
    finally(function()
      s:settings({ webhooks = { apiplex = "/_sandbox/sink/apiplex" } })
      if s6 then assert.same({}, sandbox.stop(s6)) end
    end)
    local url = "http://localhost:" .. s.port .. "/_sandbox/sink/aplocal"
    local ok, err = s:settings({ webhooks = { apiplex = url } })
    assert.truthy(ok, err)
    assert.equal("C100", send({ msg("local-1", { echo_to_webhook = "tok" }) }).json.results[1].code)
    local got = sink_has("aplocal", "local-1")
    assert.truthy(got, "no webhook arrived at localhost")
    assert.equal("tok", got.results[1].echo_to_webhook)
    -- an IPv6 loopback receiver: a second sandbox listening on ::1
    s6 = sandbox.start{ host = "::1", tls = false }
    assert.equal("http://[::1]:" .. s6.port, s6.http_url)
    assert.truthy(s:settings({ webhooks = { apiplex = s6:sink_url("v6") } }))
    send({ msg("v6-1") })
    assert.truthy(sandbox.wait(function()
      for _, call in ipairs(s6:sink("v6") or {}) do
        if call.body:find('"v6-1"', 1, true) then return true end
      end
    end, 3), "no webhook arrived at [::1]")
  end)

  it("refuses a webhook host name it cannot resolve, with a clear error", function()
    local ok, err = s:settings({ webhooks = { apiplex = "http://hooks.example.invalid/x" } })
    assert.is_nil(ok)
    assert.matches("IP address or localhost", err)
    ok, err = s:settings({ webhooks = { sms = "/_sandbox/sink/x" } })
    assert.is_nil(ok)
    assert.matches("unknown provider sms", err)
    assert.is_nil((s:settings({ webhooks = { apiplex = "ftp://127.0.0.1/x" } })))
    -- the setting in force is unchanged
    assert.equal("/_sandbox/sink/apiplex", s:settings({}).webhooks.apiplex)
  end)

  describe("seed 004 field rules", function()
    it("answers a non-string echo_to_webhook with G142 (type error)", function()
      for _, v in ipairs({ 5, true, { "a" } }) do
        local r = send({ msg("echo-type", { echo_to_webhook = v }) })
        assert.equal("G142", r.json.results[1].code)
        assert.matches("echo_to_webhook must be a string", r.json.results[1].desc)
      end
      local long = send({ msg("echo-long", { echo_to_webhook = ("e"):rep(257) }) })
      assert.equal("G142", long.json.results[1].code)
      local max = send({ msg("echo-256", { echo_to_webhook = ("e"):rep(256) }) })
      assert.equal("C100", max.json.results[1].code)
    end)

    it("refuses a P3 button without oneclick_id or product_id with C400_3 (missing parameter)", function()
      local r = send({ msg("p3-1", { attachment = { button = { { type = "P3", name = "pay" } } } }) })
      assert.equal("C400_3", r.json.results[1].code)
      assert.matches("P3 button needs oneclick_id or product_id", r.json.results[1].desc)
      for _, m in ipairs(s:outbox({ provider = "apiplex" })) do assert.not_equal("p3-1", m.serial) end
      -- with an id the button passes the plugin rule (and then meets the template check)
      local p3 = { type = "P3", name = "pay", oneclick_id = "OC1" }
      r = send({ msg("p3-2", { attachment = { button = { p3 } } }) })
      assert.equal("C100", r.json.results[1].code)
    end)

    it("allows only WL/AL/BK/MD/BC/BT quick replies (a DS quick reply is C400_2)", function()
      local r = send({ msg("qr-ds", { supplement = { quick_reply = { { type = "DS", name = "d" } } } }) })
      assert.equal("C400_2", r.json.results[1].code)
      assert.matches("quick_reply", r.json.results[1].desc)
      for i, t in ipairs({ "AC", "P1", "P3" }) do
        local qr = { quick_reply = { { type = t, name = "q" } } }
        local x = send({ msg("qr-bad-" .. i, { supplement = qr }) })
        assert.equal("C400_2", x.json.results[1].code, t)
      end
      r = send({ msg("qr-bk", { supplement = { quick_reply = { { type = "BK", name = "q" },
        { type = "WL", name = "w", url_mobile = "https://a.example" } } } }) })
      assert.equal("C100", r.json.results[1].code)
    end)
  end)
end)
