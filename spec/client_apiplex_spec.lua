-- The API PLEX client against the sandbox server over https: batches of 10, msg_key resends
-- after uncertain outcomes (a duplicate-key answer counts as accepted), acceptance codes, and
-- the result webhook authenticated by its echo token.
local sandbox = require "support.sandbox"
local alimtalk = require "alimtalk"
local webhook = require "alimtalk.webhook.apiplex"

local TOKEN = "echo-7d1f0a2b9c"

local function shipped(i, extra)
  local m = { id = "plex-" .. i, to = string.format("010-3000-%04d", i), template = "order_shipped",
              echo = TOKEN,
              vars = { name = "고객" .. i, order = "P" .. i, courier = "우체국택배",
                       invoice = string.format("%013d", 6302114700000 + i) } }
  for k, v in pairs(extra or {}) do m[k] = v end
  return m
end

local function sends(s)
  local n = 0
  for _, a in ipairs(s:attempts({ provider = "apiplex" }) or {}) do
    if a.path:find("/v2/send$") then n = n + 1 end
  end
  return n
end

local function delivered(s, key)
  local n = 0
  for _, m in ipairs(s:outbox{ provider = "apiplex" } or {}) do
    if key == nil or m.serial == key then n = n + 1 end
  end
  return n
end

describe("client: API PLEX", function()
  local s, client, creds

  setup(function()
    s = sandbox.start{ delivery_delay = 0.05, webhooks = { apiplex = "/_sandbox/sink/apiplex" } }
    creds = s.credentials.apiplex
  end)
  teardown(function()
    if client then client:close() end
    assert.same({}, sandbox.stop(s))
  end)
  before_each(function()
    assert(s:reset())
    if client then client:close() end
    client = assert(alimtalk.new{ provider = "apiplex", templates = sandbox.templates,
      apiplex = { base_url = s.https_url, ca_file = s.ca_file, user_id = creds.user_id,
                  secret_key = creds.secret_key, sender_key = creds.sender_key,
                  sender_number = "0212345678", timeout = 2 },
      retry = { base_delay = 0.01, max_delay = 0.05, max_retry_after = 0.2 } })
  end)

  it("sends 25 messages as requests of 10, 10 and 5", function()
    local msgs = {}
    for i = 1, 25 do msgs[i] = shipped(i) end
    local rs = client:send_batch(msgs)
    for i, r in ipairs(rs) do
      assert.equal("accepted", r.status, "message " .. i)
      assert.equal("C100", r.code)
      assert.equal("plex-" .. i, r.ids.msg_key)
    end
    assert.equal(3, sends(s))
    assert.equal(25, delivered(s))
  end)

  it("generates a msg_key when the caller gives none and keeps it across resends", function()
    assert(s:fault{ provider = "apiplex", kind = "reset_after", count = 1 })
    local m = shipped(30)
    m.id = nil
    local r = client:send(m)
    assert.equal("accepted", r.status)
    assert.equal(2, r.attempts)
    assert.truthy(r.ids.msg_key)
    assert.equal(1, delivered(s, r.ids.msg_key))
  end)

  for _, fault in ipairs({ { kind = "status", status = 502 }, { kind = "malformed" },
                           { kind = "status", status = 504 } }) do
    it("resends the same msg_key after " .. fault.kind .. (fault.status or "")
       .. " and delivers each message once", function()
      fault.provider, fault.count = "apiplex", 1
      assert(s:fault(fault))
      local msgs = {}
      for i = 1, 12 do msgs[i] = shipped(40 + i) end
      local rs = client:send_batch(msgs)
      for i, r in ipairs(rs) do
        assert.equal("accepted", r.status, "message " .. i)
        assert.equal(1, delivered(s, "plex-" .. (40 + i)))
      end
    end)
  end

  it("stops on quota (G150), retries G160 session limits, rejects bad fields", function()
    assert(s:fault{ provider = "apiplex", kind = "code", code = "G150", count = 1 })
    local r = client:send(shipped(60))
    assert.equal("not_sent", r.status)
    assert.is_true(r.quota)
    assert.equal(0, delivered(s))
    local bad = shipped(61, { echo = string.rep("e", 257) })
    local rs = client:send_batch({ bad }, {})
    assert.equal("rejected", rs[1].status)
    assert.equal(0, rs[1].attempts)
    assert.equal(1, sends(s))   -- only the G150 one went out
  end)

  it("maps a partial batch failure to the right messages", function()
    assert(s:fault{ provider = "apiplex", kind = "code", code = "G141", message_rate = 0.5, count = 1 })
    local msgs = {}
    for i = 1, 10 do msgs[i] = shipped(70 + i) end
    local rs = client:send_batch(msgs)
    local acc, rej = 0, 0
    for i, r in ipairs(rs) do
      if r.status == "accepted" then
        acc = acc + 1
        assert.equal(1, delivered(s, "plex-" .. (70 + i)))
      else
        assert.equal("rejected", r.status)
        assert.equal("G141", r.code)
        assert.equal(0, delivered(s, "plex-" .. (70 + i)))
        rej = rej + 1
      end
    end
    assert.is_true(acc > 0 and rej > 0)
  end)

  it("receives the result webhook and authenticates it by the echo token", function()
    local r = client:send(shipped(80))
    local hook = assert(webhook.new{ echo_token = TOKEN })
    local got = sandbox.wait(function()
      for _, c in ipairs(s:sink("apiplex") or {}) do
        if c.body:find(r.ids.msg_key, 1, true) then return { c } end
      end
    end, 5)
    assert.truthy(got)
    local evs = assert(hook:parse(got[1].headers, got[1].body))
    assert.equal("delivered", evs[1].status)
    assert.equal(r.ids.msg_key, evs[1].ids.msg_key)
    local other = assert(webhook.new{ echo_token = "not-the-token" })
    local none, err = other:parse(got[1].headers, got[1].body)
    assert.is_nil(none)
    assert.equal("BAD_ECHO_TOKEN", err.code)
  end)
end)
