-- The embedded sandbox provider: the default client, in-process, validated like a real
-- provider profile, an outbox file of what handsets would show, dedupe by serial, simulated
-- delivery events; and the client's option checking.
local alimtalk = require "alimtalk"
local outbox = require "alimtalk.outbox"

local TEMPLATES = "examples/templates.json"

local function shipped(i)
  return { id = "sbx-" .. i, to = "010-1234-56" .. string.format("%02d", i % 100),
           template = "order_shipped",
           vars = { name = "홍길동", order = "O-" .. i, courier = "우체국택배",
                    invoice = string.format("%013d", 6302114700000 + i) } }
end

describe("client: embedded sandbox", function()
  local path, client

  before_each(function()
    path = os.tmpname()
    os.remove(path)
  end)
  after_each(function()
    if client then client:close() client = nil end
    os.remove(path)
  end)

  it("is the default when no provider is configured", function()
    client = assert(alimtalk.new{ sandbox = { outbox = path }, templates = TEMPLATES })
    assert.equal("alimtalk.client(sandbox)", tostring(client))
    local r = assert(client:send(shipped(1)))
    assert.equal("accepted", r.status)
    assert.equal("sandbox", r.provider)
    assert.matches("^SBR", r.ids.request_id)
    assert.matches("^SBM", r.ids.message_id)
    assert.equal("A000", r.code)  -- the default profile is SENS
    local bare = assert(alimtalk.new{ sandbox = { outbox = false } })
    assert.equal("sandbox", bare:provider().name)
    bare:close()
  end)

  it("writes what the handset shows to the outbox file", function()
    client = assert(alimtalk.new{ sandbox = { outbox = path }, templates = TEMPLATES })
    client:send(shipped(2))
    local recs = outbox.read(path)
    assert.equal(1, #recs)
    assert.equal("01012345602", recs[1].to)
    assert.equal("ORDER_SHIPPED", recs[1].template_code)
    assert.matches("홍길동님, 주문하신 상품이 발송되었습니다", recs[1].text)
    assert.equal("https://shop.example/orders/O-2", recs[1].buttons[2].url_mobile)
    local view = outbox.handset(recs[1])
    assert.matches("%[ 주문 상세 %]  %-> https://shop.example/orders/O%-2", view)
  end)

  it("bizmessage profile: accepts a cid once and answers a resend as a duplicate (3012)", function()
    client = assert(alimtalk.new{ sandbox = { outbox = path, profile = "bizmessage" },
                                  templates = TEMPLATES })
    local a = client:send(shipped(3))
    assert.equal("200", a.code)   -- BizMessage's own success code, not SENS's A000
    local b = client:send(shipped(3))
    assert.equal("accepted", b.status)
    assert.is_true(b.duplicate)
    assert.equal("510", b.code)          -- as BizMessage answers it: 510, detail 3012
    assert.equal("3012", b.detail_code)
    assert.equal(a.ids.message_id, b.ids.message_id)
    assert.equal(1, #outbox.read(path))
  end)

  it("sens profile: no serial, so the same message sent again is sent again", function()
    client = assert(alimtalk.new{ sandbox = { outbox = path, profile = "sens" }, templates = TEMPLATES })
    local a = client:send(shipped(3))
    local b = client:send(shipped(3))
    assert.equal("accepted", b.status)
    assert.is_nil(b.duplicate)
    assert.not_equal(a.ids.message_id, b.ids.message_id)
    assert.equal(2, #outbox.read(path))
  end)

  it("apiplex profile: a reused msg_key is refused, accepted only with dedupe_msg_key", function()
    client = assert(alimtalk.new{ sandbox = { outbox = path, profile = "apiplex" }, templates = TEMPLATES })
    assert.equal("accepted", client:send(shipped(3)).status)
    local b = client:send(shipped(3))
    assert.equal("rejected", b.status)
    assert.equal("C400_2", b.code)
    assert.equal(1, #outbox.read(path))
    client:close()
    os.remove(path)
    client = assert(alimtalk.new{ sandbox = { outbox = path, profile = "apiplex", dedupe_msg_key = true },
                                  templates = TEMPLATES })
    assert.equal("accepted", client:send(shipped(3)).status)
    local c = client:send(shipped(3))
    assert.equal("accepted", c.status)
    assert.is_true(c.duplicate)
    assert.equal(1, #outbox.read(path))
    assert.has_error(function()
      alimtalk.new{ sandbox = { outbox = false, profile = "sens", dedupe_msg_key = true } }
    end)
  end)

  it("validates with the chosen provider profile before recording anything", function()
    client = assert(alimtalk.new{ sandbox = { outbox = path, profile = "sens" }, templates = TEMPLATES })
    local m = shipped(4)
    m.vars.name = nil
    local r, err = client:send(m)
    assert.is_nil(r)
    assert.truthy(err.code)
    assert.matches("name", tostring(err))
    local rs = client:send_batch({ shipped(5), m, shipped(6) })
    assert.same({ "accepted", "rejected", "accepted" }, { rs[1].status, rs[2].status, rs[3].status })
    assert.equal("messages[2]", (rs[2].error.field or ""):match("^messages%[2%]"))
    assert.equal(2, #outbox.read(path))
    assert.is_true(client:validate(shipped(9)))
    local ok, verr = client:validate(m)
    assert.is_nil(ok)
    assert.matches("name", tostring(verr))
    assert.equal(2, #outbox.read(path))
  end)

  it("simulates delivery events, failing the configured numbers", function()
    local t = 1000
    client = assert(alimtalk.new{ templates = TEMPLATES, sandbox = { outbox = path,
      delivery_delay = 5, fail_numbers = { ["01012345608"] = "3019" }, now = function() return t end } })
    local ok = client:send(shipped(7))
    local bad = client:send(shipped(8))
    assert.same({}, client:poll_events())
    assert.equal("pending", client:query_message(ok.ids.message_id).status)
    t = t + 6
    local evs = client:poll_events()
    assert.equal(2, #evs)
    local by = {}
    for _, e in ipairs(evs) do by[e.ids.message_id] = e end
    assert.equal("delivered", by[ok.ids.message_id].status)
    assert.equal("failed", by[bad.ids.message_id].status)
    assert.equal("3019", by[bad.ids.message_id].code)
    assert.same({}, client:poll_events())
  end)

  it("keeps batch results in input order", function()
    client = assert(alimtalk.new{ sandbox = { outbox = path }, templates = TEMPLATES })
    local msgs = {}
    for i = 1, 230 do msgs[i] = shipped(100 + i) end
    local rs = client:send_batch(msgs, { concurrency = 4 })
    for i, r in ipairs(rs) do
      assert.equal(i, r.index)
      assert.equal("sbx-" .. (100 + i), r.id)
      assert.equal("accepted", r.status)
    end
    assert.equal(230, #outbox.read(path))
  end)

  it("raises on unknown options and misuse", function()
    assert.has_error(function() alimtalk.new{ provder = "sens" } end,
                     "alimtalk.new: unknown option 'provder'")
    assert.has_error(function() alimtalk.new{ provider = "kakao" } end)
    assert.has_error(function() alimtalk.new{ sandbox = { outbx = "x" } } end)
    assert.has_error(function() alimtalk.new{ sens = { access_key = "a", secret_key = "b",
                                                      service_id = "c", base_url = "https://h/x" } } end)
    client = assert(alimtalk.new{ sandbox = { outbox = path } })
    assert.has_error(function() client:send("text") end)
    assert.has_error(function() client:send_batch({ shipped(1) }, { concurency = 2 }) end)
  end)

  it("returns a BAD_OPTION error naming the missing setting, never a secret", function()
    local c, err = alimtalk.new{ sens = { access_key = "AK", secret_key = "TOPSECRET-1" } }
    assert.is_nil(c)
    assert.equal("BAD_OPTION", err.code)
    assert.equal("sens.service_id", err.field)
    assert.is_nil(tostring(err):find("TOPSECRET", 1, true))
    local ok = assert(alimtalk.new{ sens = { access_key = "AK", secret_key = "TOPSECRET-1",
                                             service_id = "svc" } })
    assert.is_nil(tostring(ok):find("TOPSECRET", 1, true))
    assert.is_nil(tostring(ok:provider()):find("TOPSECRET", 1, true))
    for _, v in pairs(ok:provider()) do assert.not_equal("TOPSECRET-1", v) end
  end)
end)
