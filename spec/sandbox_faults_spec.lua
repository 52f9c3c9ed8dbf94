-- Fault injection in the sandbox: every kind, deterministic by seed, driven with plain HTTP.
local sandbox = require "support.sandbox"

local TEXT = "홍길동님, 회원가입을 환영합니다.\n가입일: 2026-11-21"

describe("sandbox faults", function()
  local s, base

  setup(function()
    s = sandbox.start{ delivery_delay = 0.05 }
    base = sandbox.sens_base(s)
  end)

  teardown(function()
    assert.same({}, sandbox.stop(s))
  end)

  before_each(function()
    assert(s:reset())
  end)

  local function sens(to, n, timeout)
    local list = {}
    for i = 1, n or 1 do list[i] = { to = to, content = TEXT } end
    local uri = base .. "/messages"
    return sandbox.http(s, { method = "POST", path = uri, headers = sandbox.sens_headers(s, "POST", uri),
      json = { plusFriendId = "@sandbox", templateCode = "WELCOME", messages = list }, timeout = timeout })
  end

  local function stored(to)
    return #s:outbox({ to = to })
  end

  it("lists one provider's attempts when asked, its last ones with a limit", function()
    assert.equal(202, sens("01011112222").status)
    sandbox.bizmessage_token(s)
    assert.equal(202, sens("01011113333").status)
    local all = s:attempts()
    assert.equal(3, #all)
    local only = s:attempts({ provider = "sens" })
    assert.equal(2, #only)
    for _, a in ipairs(only) do assert.equal("sens", a.provider) end
    local biz = s:attempts({ provider = "bizmessage" })
    assert.equal(1, #biz)
    assert.equal("bizmessage", biz[1].provider)
    local last = s:attempts({ provider = "sens", limit = 1 })
    assert.equal(1, #last)
    assert.equal(only[2].seq, last[1].seq)
    assert.same({}, s:attempts({ provider = "apiplex" }))
  end)

  it("refuses a malformed fault spec", function()
    local ok, err = s:fault({ kind = "explode" })
    assert.is_nil(ok)
    assert.matches("unknown kind", err)
    assert.is_nil((s:fault({ kind = "status" })))
    assert.is_nil((s:fault({ kind = "code", provider = "nope", code = "1" })))
  end)

  it("reset_before: the connection closes unread, nothing is stored", function()
    assert(s:fault({ provider = "sens", kind = "reset_before", count = 1 }))
    local resp, err = sens("01000000001")
    assert.is_nil(resp)
    assert.is_string(err)
    assert.equal(0, stored("01000000001"))
    -- count = 1: the next request goes through
    assert.equal(202, assert(sens("01000000001")).status)
    assert.equal(1, stored("01000000001"))
    local a = s:attempts({ provider = "sens" })
    assert.equal("reset_before", a[1].fault)
  end)

  it("reset_after: no answer, but the message IS stored and delivered (uncertain)", function()
    assert(s:fault({ provider = "sens", kind = "reset_after", count = 1 }))
    local resp, err = sens("01000000002")
    assert.is_nil(resp)
    assert.is_string(err)
    assert.truthy(sandbox.wait(function()
      local box = s:outbox({ to = "01000000002" })
      return box[1] and box[1].status == "delivered"
    end, 3))
  end)

  it("stall: the client times out", function()
    assert(s:fault({ provider = "sens", kind = "stall", delay = 3, count = 1 }))
    local resp, _, code = sens("01000000003", 1, 0.5)
    assert.is_nil(resp)
    assert.equal("timeout", code)
  end)

  it("delay: the answer comes late but whole", function()
    assert(s:fault({ provider = "sens", kind = "delay", delay = 1, count = 1 }))
    local resp, _, code = sens("01000000004", 1, 0.3)
    assert.is_nil(resp)
    assert.equal("timeout", code)
    assert(s:fault({ provider = "sens", kind = "delay", delay = 0.2, count = 1 }))
    assert.equal(202, assert(sens("01000000004", 1, 5)).status)
  end)

  it("status: 503/429 with Retry-After, 500/502/504 without processing", function()
    assert(s:fault({ provider = "sens", kind = "status", status = 429, retry_after = 7, count = 1 }))
    local r = assert(sens("01000000005"))
    assert.equal(429, r.status)
    assert.equal("7", r.headers["retry-after"])
    for _, st in ipairs({ 500, 502, 503, 504 }) do
      assert(s:fault({ provider = "sens", kind = "status", status = st, count = 1 }))
      assert.equal(st, assert(sens("01000000005")).status)
    end
    assert.equal(0, stored("01000000005"))
  end)

  it("malformed: processed, answered with broken JSON", function()
    assert(s:fault({ provider = "sens", kind = "malformed", count = 1 }))
    local r = assert(sens("01000000006"))
    assert.equal(202, r.status)
    assert.is_nil(r.json)
    assert.equal(1, stored("01000000006"))
  end)

  it("count = N hits exactly the next N matching requests; path and provider filter", function()
    assert(s:fault({ provider = "sens", path = "/messages$", method = "POST", kind = "status", status = 500,
      count = 2 }))
    assert(s:fault({ provider = "bizmessage", kind = "status", status = 503 }))
    local st = {}
    for i = 1, 3 do st[i] = assert(sens("01000000007")).status end
    assert.same({ 500, 500, 202 }, st)
    -- a GET on another path is not matched
    local uri = base .. "/channels"
    local r = assert(sandbox.http(s, { path = uri, headers = sandbox.sens_headers(s, "GET", uri) }))
    assert.equal(200, r.status)
    local f = s:faults()
    assert.equal(2, f[1].fired)
    assert.equal(3, f[1].seen)
    assert(s:clear_faults())
    assert.same({}, s:faults())
  end)

  it("rate with a seed picks the same requests in every run", function()
    local function run()
      assert(s:reset())
      assert(s:fault({ provider = "sens", kind = "status", status = 503, rate = 0.4, seed = 42 }))
      local st = {}
      for i = 1, 20 do st[i] = assert(sens("01000000008")).status end
      return st
    end
    local a, b = run(), run()
    assert.same(a, b)
    local n = 0
    for _, x in ipairs(a) do if x == 503 then n = n + 1 end end
    assert.is_true(n > 0 and n < 20)
  end)

  it("key = body: the request's contents pick the faults, whatever order they come in", function()
    local function run(order)
      assert(s:reset())
      assert(s:fault({ provider = "sens", kind = "status", status = 500, rate = 0.5, seed = 3,
                       key = "body" }))
      local hit = {}
      for _, i in ipairs(order) do
        hit[i] = assert(sens(string.format("0100000%04d", i))).status == 500
      end
      return hit
    end
    local forward, backward = {}, {}
    for i = 1, 16 do forward[i], backward[i] = i, 17 - i end
    local a, b = run(forward), run(backward)
    assert.same(a, b)
    local n = 0
    for i = 1, 16 do if a[i] then n = n + 1 end end
    assert.is_true(n > 0 and n < 16)
    -- the same body sent again draws again: a resend is not doomed to the same fault
    assert(s:reset())
    assert(s:fault({ provider = "sens", kind = "status", status = 500, rate = 0.5, seed = 3,
                     key = "body" }))
    local seen = {}
    for _ = 1, 12 do seen[assert(sens("01000000100")).status] = true end
    assert.is_true(seen[500] and seen[202])
  end)

  it("group: one draw per request shared by its faults, each firing on its own share", function()
    assert(s:fault({
      { provider = "sens", kind = "status", status = 500, rate = 0.5, group = "g", seed = 5 },
      { provider = "sens", kind = "status", status = 502, rate = 0.25, group = "g", seed = 5 },
      { provider = "sens", kind = "status", status = 504, rate = 0.25, group = "g", seed = 5 } }))
    local by = {}
    for _ = 1, 40 do
      local st = assert(sens("01000000101")).status
      by[st] = (by[st] or 0) + 1
    end
    -- the bands cover [0, 1): every request meets exactly one of them, none gets through
    assert.is_nil(by[202])
    assert.equal(40, (by[500] or 0) + (by[502] or 0) + (by[504] or 0))
    assert.is_true((by[500] or 0) > 10 and (by[502] or 0) > 2 and (by[504] or 0) > 2)
    local f = s:faults()
    assert.equal(40, f[1].fired + f[2].fired + f[3].fired)
    -- a group needs rates; key is ordinal or body
    assert.is_nil((s:fault({ kind = "status", status = 500, group = "g" })))
    assert.is_nil((s:fault({ kind = "status", status = 500, rate = 0.1, key = "path" })))
  end)

  it("code with message_rate fails part of a batch, the same part for the same seed", function()
    local function run()
      assert(s:reset())
      assert(s:fault({ provider = "sens", kind = "code", code = "B004", message_rate = 0.5, seed = 7 }))
      local r = assert(sens("01000000009", 10))
      local codes = {}
      for i, m in ipairs(r.json.messages) do codes[i] = m.requestStatusCode end
      return codes
    end
    local a, b = run(), run()
    assert.same(a, b)
    local fails = 0
    for _, c in ipairs(a) do
      assert.is_true(c == "A000" or c == "B004")
      if c == "B004" then fails = fails + 1 end
    end
    assert.is_true(fails > 0 and fails < 10)
    assert.equal(10 - fails, stored("01000000009"))
  end)

  it("Kakao 3005 at BizMessage: answered 520/3005, yet the handset gets the message", function()
    local token = sandbox.bizmessage_token(s)
    assert(s:fault({ provider = "bizmessage", path = "/send/", kind = "code", code = "3005", count = 1 }))
    local body = { message_type = "AT", sender_key = s.credentials.bizmessage.sender_key, cid = "u-1",
      template_code = "TPL_0002", phone_number = "01000000010", sender_no = "0212345678", message = TEXT,
      fall_back_yn = false }
    local r = assert(sandbox.http(s, { method = "POST", path = "/v2/send/kakao", json = body,
      headers = { Authorization = "Bearer " .. token } }))
    assert.equal("520", r.json.code)
    assert.equal("3005", r.json.result.detail_code)
    assert.equal(1, stored("01000000010"))
    -- resending under the same serial is answered as a duplicate, not sent twice
    r = assert(sandbox.http(s, { method = "POST", path = "/v2/send/kakao", json = body,
      headers = { Authorization = "Bearer " .. token } }))
    assert.equal("3012", r.json.result.detail_code)
    assert.equal(1, stored("01000000010"))
  end)

  it("API PLEX quota codes and failed delivery results", function()
    local auth = s.credentials.apiplex.user_id .. ";" .. s.credentials.apiplex.secret_key
    local function send(key)
      return assert(sandbox.http(s, { method = "POST", path = "/at-standard/v2/send",
        headers = { Authorization = auth }, json = { msg_type = "AT", msg_data = { {
          sender_number = "0212345678", msg_key = key, msg = TEXT, receiver_number = "01000000011",
          template_code = "T0002", sender_key = s.credentials.apiplex.sender_key } } } })).json.results[1]
    end
    assert(s:fault({ provider = "apiplex", kind = "code", code = "G150", count = 1 }))
    assert.equal("G150", send("q-1").code)
    assert(s:fault({ provider = "apiplex", kind = "result_code", code = "3019", count = 1 }))
    assert.equal("C100", send("q-2").code)
    assert.truthy(sandbox.wait(function()
      local m = s:outbox({ to = "01000000011" })[1]
      return m and m.status == "failed" and m.result_code == "3019"
    end, 3))
  end)
end)
