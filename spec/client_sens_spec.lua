-- The SENS client against the sandbox server over https (its own CA): every endpoint, every
-- fault the server injects, and the server's attempt log proving nothing is lost or doubled.
local sandbox = require "support.sandbox"
local alimtalk = require "alimtalk"

local function shipped(i, extra)
  local m = { to = string.format("010-%04d-%04d", 1000 + math.floor(i / 10000), i % 10000),
              template = "order_shipped",
              vars = { name = "고객" .. i, order = "A" .. i, courier = "우체국택배",
                       invoice = string.format("%013d", 6302114700000 + i) } }
  for k, v in pairs(extra or {}) do m[k] = v end
  return m
end

local function delivered(s)
  return #(s:outbox{ provider = "sens" } or {})
end

local function sends(s) return sandbox.count_attempts(s, "sens", "/messages$", "POST") end

describe("client: SENS", function()
  local s, client, creds

  local function new_client(extra, conf_extra)
    local conf = s:client_options("sens", { timeout = 2 })
    for k, v in pairs(conf_extra or {}) do conf[k] = v end
    local opts = { provider = "sens", sens = conf, templates = sandbox.templates,
                   retry = { base_delay = 0.01, max_delay = 0.05, max_retry_after = 0.2 } }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return assert(alimtalk.new(opts))
  end

  setup(function()
    s = sandbox.start{ delivery_delay = 0.05 }
    creds = s.credentials.sens
  end)
  teardown(function()
    if client then client:close() end
    local errs = sandbox.stop(s)
    assert.same({}, errs)
  end)
  before_each(function()
    assert(s:reset())
    if client then client:close() end
    client = new_client()
  end)

  it("sends one message over https and the handset gets the rendered text", function()
    local r = assert(client:send(shipped(1)))
    assert.equal("accepted", r.status)
    assert.equal("sens", r.provider)
    assert.equal("A000", r.code)
    assert.truthy(r.ids.request_id)
    assert.truthy(r.ids.message_id)
    assert.equal(1, r.attempts)
    local ob = s:outbox{ provider = "sens" }
    assert.equal(1, #ob)
    assert.matches("고객1님, 주문하신 상품이 발송되었습니다", ob[1].text or ob[1].content)
    assert.equal(1, sends(s))
  end)

  it("splits a batch into requests of 100 and returns one result per message in order", function()
    local msgs = {}
    for i = 1, 250 do msgs[i] = shipped(i) end
    local rs = client:send_batch(msgs, { concurrency = 3 })
    assert.equal(250, #rs)
    local ids = {}
    for i, r in ipairs(rs) do
      assert.equal("accepted", r.status, "message " .. i)
      assert.equal(i, r.index)
      assert.is_nil(ids[r.ids.message_id])
      ids[r.ids.message_id] = true
    end
    assert.equal(3, sends(s))
    assert.equal(250, delivered(s))
  end)

  it("refuses invalid input before sending, with the provider's code", function()
    local m = shipped(1, { title = string.rep("가", 51) })
    m.vars = nil
    m.content = "전혀 다른 내용"
    local r, err = client:send(m)
    assert.is_nil(r)
    assert.truthy(err.code)
    assert.truthy(tostring(err):find("content", 1, true) or err.errors)
    local rs = client:send_batch({ shipped(1), m, shipped(3) })
    assert.equal("accepted", rs[1].status, tostring(rs[1].code) .. " " .. tostring(rs[1].message))
    assert.equal("rejected", rs[2].status)
    assert.equal(0, rs[2].attempts)
    assert.truthy(rs[2].error)
    assert.equal("accepted", rs[3].status)
    assert.equal(1, sends(s))
  end)

  it("retries HTTP 429 and 503 (nothing was processed) and delivers once", function()
    assert(s:fault{ provider = "sens", kind = "status", status = 429, retry_after = 0, count = 1 })
    assert(s:fault{ provider = "sens", kind = "status", status = 503, retry_after = 0, count = 1 })
    local r = client:send(shipped(1))
    assert.equal("accepted", r.status)
    assert.equal(3, r.attempts)
    assert.equal(3, sends(s))
    assert.equal(1, delivered(s))
  end)

  it("spends one retry per request, not per message, from the retry budget", function()
    client:close()
    client = new_client({ retry = { base_delay = 0.01, max_delay = 0.02, max_retry_after = 0.05,
                                    budget_min = 3, budget_ratio = 0 } })
    assert(s:fault{ provider = "sens", kind = "status", status = 429, retry_after = 0, count = 3 })
    local msgs = {}
    for i = 1, 250 do msgs[i] = shipped(500 + i) end
    local rs = client:send_batch(msgs, { concurrency = 3 })
    for i, r in ipairs(rs) do assert.equal("accepted", r.status, "message " .. i) end
    assert.equal(6, sends(s))
    assert.equal(250, delivered(s))
    -- the budget is now spent: the next 429 is not retried
    assert(s:fault{ provider = "sens", kind = "status", status = 429, retry_after = 0, count = 1 })
    local r = client:send(shipped(900))
    assert.equal("not_sent", r.status)
    assert.equal(1, r.attempts)
  end)

  it("reports not_sent when 429 persists past the attempt limit", function()
    assert(s:fault{ provider = "sens", kind = "status", status = 429, retry_after = 0 })
    local r = client:send(shipped(1))
    assert.equal("not_sent", r.status)
    assert.equal("429", r.code)
    assert.equal(4, r.attempts)
    assert.equal(0, delivered(s))
  end)

  for _, st in ipairs({ 502, 504, 500 }) do
    it("never resends after HTTP " .. st .. " (SENS has no serial): uncertain", function()
      assert(s:fault{ provider = "sens", kind = "status", status = st, count = 1 })
      local r = client:send(shipped(1))
      assert.equal("uncertain", r.status)
      assert.equal(tostring(st), r.code)
      assert.equal(1, sends(s))
    end)
  end

  it("never resends after a reset once the request went out: uncertain, stored once", function()
    assert(s:fault{ provider = "sens", kind = "reset_after", count = 1 })
    local r = client:send(shipped(7))
    assert.equal("uncertain", r.status)
    assert.equal(1, sends(s))
    assert.equal(1, delivered(s))
  end)

  it("never delivers twice when a reused keep-alive connection is reset after the request", function()
    assert.equal("accepted", client:send(shipped(70)).status)   -- opens the connection
    assert(s:fault{ provider = "sens", kind = "reset_after", count = 1 })
    local r = client:send(shipped(71))                           -- goes over the reused one
    assert.equal("uncertain", r.status)
    assert.equal(2, delivered(s))
    assert.equal(2, sends(s))
  end)

  it("treats a reset before the request was read as not processed", function()
    assert(s:fault{ provider = "sens", kind = "reset_before", count = 1 })
    local r = client:send(shipped(8))
    -- libcurl may have written the request before the close: either it knows nothing went
    -- out (retried, accepted) or it cannot tell (uncertain). Never two messages.
    assert.truthy(r.status == "accepted" or r.status == "uncertain")
    assert.is_true(delivered(s) <= 1)
  end)

  it("reports a timeout after sending as uncertain, without resending", function()
    assert(s:fault{ provider = "sens", kind = "delay", delay = 3, count = 1 })
    local r = client:send(shipped(9))
    assert.equal("uncertain", r.status)
    assert.equal("timeout", r.code)
    assert.truthy(sandbox.wait(function() return delivered(s) == 1 end, 5))
    assert.equal(1, sends(s))
  end)

  it("reports a stalled answer (the server read the request, then hung up) as uncertain", function()
    assert(s:fault{ provider = "sens", kind = "stall", delay = 2.5, count = 1 })
    local r = client:send(shipped(19))
    assert.equal("uncertain", r.status)
    assert.equal(1, r.attempts)
    assert.is_true(delivered(s) <= 1)
  end)

  it("reports malformed JSON after acceptance as uncertain", function()
    assert(s:fault{ provider = "sens", kind = "malformed", count = 1 })
    local r = client:send(shipped(10))
    assert.equal("uncertain", r.status)
    assert.equal(1, sends(s))
  end)

  it("maps Kakao 3005, quota and partial-batch codes per message", function()
    assert(s:fault{ provider = "sens", kind = "code", code = "3005", count = 1 })
    local r = client:send(shipped(11))
    assert.equal("uncertain", r.status)
    assert.equal("3005", r.code)
    assert.equal(1, sends(s))

    assert(s:fault{ provider = "sens", kind = "code", code = "B004", count = 1 })
    r = client:send(shipped(12))
    assert.equal("not_sent", r.status)
    assert.is_true(r.quota)

    assert(s:fault{ provider = "sens", kind = "code", code = "3016", message_rate = 0.5, count = 1 })
    local msgs = {}
    for i = 1, 20 do msgs[i] = shipped(100 + i) end
    local rs = client:send_batch(msgs)
    local acc, rej = 0, 0
    for _, x in ipairs(rs) do
      if x.status == "accepted" then acc = acc + 1 else
        assert.equal("rejected", x.status)
        assert.equal("3016", x.code)
        rej = rej + 1
      end
    end
    assert.is_true(acc > 0 and rej > 0, acc .. "/" .. rej)
  end)

  it("queries requests and messages and normalizes delivery results", function()
    local r = client:send(shipped(20))
    local got = sandbox.wait(function()
      local q = client:query_request(r.ids.request_id)
      return q and q.events[1] and q.events[1].status ~= "pending" and q
    end, 5)
    assert.truthy(got)
    assert.equal("delivered", got.events[1].status)
    assert.equal(r.ids.message_id, got.events[1].ids.message_id)
    local ev = assert(client:query_message(r.ids.message_id))
    assert.equal("delivered", ev.status)
    assert.equal("0000", ev.code)
    local none, err = client:query_message("no-such-message")
    assert.is_nil(none)
    assert.equal("NOT_FOUND", err.code)
    assert.matches("no message with id no%-such%-message at sens", tostring(err))
  end)

  it("reports a failed delivery result with the Kakao code", function()
    assert(s:fault{ provider = "sens", kind = "result_code", code = "3019", count = 1 })
    local r = client:send(shipped(21))
    assert.equal("accepted", r.status)
    local ev = sandbox.wait(function()
      local e = client:query_message(r.ids.message_id)
      return e and e.status ~= "pending" and e
    end, 5)
    assert.equal("failed", ev.status)
    assert.equal("3019", ev.code)
  end)

  it("reads and cancels reservations", function()
    local r = client:send(shipped(30, { reserve_time = os.date("!%Y-%m-%d %H:%M", os.time() + 86400 * 2),
                                        reserve_zone = "UTC" }))
    assert.equal("accepted", r.status)
    local st = assert(client:reservation(r.ids.request_id))
    assert.equal("READY", st.status)
    assert.is_true(client:cancel_reservation(r.ids.request_id))
    st = assert(client:reservation(r.ids.request_id))
    assert.equal("CANCELED", st.status)
  end)

  it("lists channels and templates and loads templates into the registry", function()
    local chans = assert(client:channels())
    assert.equal(creds.plus_friend_id, chans[1].channel_id)
    local tpls = assert(client:templates())
    assert.is_true(#tpls > 0)
    local fresh = assert(alimtalk.new{ provider = "sens", sens = s:client_options("sens") })
    local n = assert(fresh:load_templates())
    assert.equal(#tpls, n)
    assert.truthy(fresh.registry:get("ORDER_SHIPPED"))
    fresh:close()
  end)

  it("renders with templates loaded after the client has already checked a message", function()
    local fresh = assert(alimtalk.new{ provider = "sens", sens = s:client_options("sens") })
    -- checked (and refused) before any registry exists
    local none, err = fresh:send{ template = "WELCOME", vars = { name = "홍길동" } }
    assert.is_nil(none)
    assert.equal("to", err.field)
    assert.is_true(assert(fresh:load_templates()) > 0)
    local r = assert(fresh:send{ to = "010-5555-0002", template = "WELCOME",
                                 vars = { name = "홍길동", date = "2026-11-21" } })
    assert.equal("accepted", r.status)
    fresh:close()
  end)

  it("takes secrets from the environment and keeps them out of everything it returns", function()
    local conf = { base_url = s.https_url, ca_file = s.ca_file, access_key = creds.access_key,
                   secret_key_env = "ALIMTALK_SPEC_UNSET_SECRET", service_id = creds.service_id }
    local none, err = alimtalk.new{ provider = "sens", sens = conf }
    assert.is_nil(none)
    assert.equal("BAD_OPTION", err.code)
    assert.equal("sens.secret_key", err.field)
    -- a child process with the secret only in its environment sends successfully
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write(string.format([[
      local alimtalk = require "alimtalk"
      local c = assert(alimtalk.new{ provider = "sens", sens = { base_url = %q, ca_file = %q,
        access_key = %q, secret_key_env = "ALIMTALK_SPEC_SENS_SECRET", service_id = %q,
        plus_friend_id = %q }, templates = %q })
      local r, e = c:send{ to = "010-5555-0001", template = "welcome",
                           vars = { name = "환경", date = "2026-11-21" } }
      io.write(r and r.status or tostring(e), "\n", tostring(c), "\n")
    ]], s.https_url, s.ca_file, creds.access_key, creds.service_id, creds.plus_friend_id,
        sandbox.templates))
    f:close()
    local cmd = string.format("ALIMTALK_SPEC_SENS_SECRET='%s' LUA_PATH='lua/?.lua;lua/?/init.lua;;' "
      .. "LUA_CPATH=%q %s %s 2>&1", creds.secret_key, package.cpath, arg and arg[-1] or "lua5.4", script)
    local p = io.popen(cmd)
    local out = p:read("*a")
    p:close()
    os.remove(script)
    assert.matches("^accepted\n", out)
    assert.is_nil(out:find(creds.secret_key, 1, true))
    -- nothing the client hands back carries the secret
    local r = client:send(shipped(41))
    local seen = {}
    local function scan(v)
      if type(v) == "string" then assert.is_nil(v:find(creds.secret_key, 1, true)) end
      if type(v) == "table" and not seen[v] then
        seen[v] = true
        for k, x in pairs(v) do scan(k) scan(x) end
      end
    end
    scan(r)
    scan(client)
    assert.is_nil(tostring(client):find(creds.secret_key, 1, true))
    assert.is_nil(tostring(client:provider()):find(creds.secret_key, 1, true))
  end)
end)
