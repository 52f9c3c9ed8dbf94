-- The Sinch client against the sandbox server over https: OAuth token cache and refresh,
-- template messages with parameters, authentication templates, uncertain outcomes never
-- resent (Sinch takes no serial), and signed delivery-report webhooks verified by our receiver.
local sandbox = require "support.sandbox"
local alimtalk = require "alimtalk"
local webhook = require "alimtalk.webhook.sinch"

local function shipped(i)
  return { id = "sinch-" .. i, to = string.format("010-4000-%04d", i), template = "order_shipped",
           vars = { name = "고객" .. i, order = "S" .. i, courier = "우체국택배",
                    invoice = string.format("%013d", 6302114700000 + i) } }
end

local function count(s, pat) return sandbox.count_attempts(s, "sinch", pat) end

describe("client: Sinch", function()
  local s, client, creds

  setup(function()
    s = sandbox.start{ delivery_delay = 0.05, webhooks = { sinch = "/_sandbox/sink/sinch" } }
    creds = s.credentials.sinch
  end)
  teardown(function()
    if client then client:close() end
    assert.same({}, sandbox.stop(s))
  end)
  before_each(function()
    assert(s:reset())
    if client then client:close() end
    client = assert(alimtalk.new{ provider = "sinch", templates = sandbox.templates,
      sinch = s:client_options("sinch", { timeout = 2 }),
      retry = { base_delay = 0.01, max_delay = 0.05, max_retry_after = 0.2 } })
  end)

  it("sends template messages with one cached token", function()
    local rs = client:send_batch({ shipped(1), shipped(2), shipped(3) })
    for _, r in ipairs(rs) do
      assert.equal("accepted", r.status)
      assert.truthy(r.ids.message_id)
    end
    assert.equal(1, count(s, "/oauth2/token$"))
    assert.equal(3, count(s, "messages:send$"))
    local ob = s:outbox{ provider = "sinch" }
    assert.equal(3, #ob)
    assert.matches("고객%d님, 주문하신 상품이 발송되었습니다", ob[1].text or ob[1].content)
  end)

  it("refreshes the token once after it expires", function()
    assert.equal("accepted", client:send(shipped(4)).status)
    assert(s:expire_tokens())
    assert.equal("accepted", client:send(shipped(5)).status)
    assert.equal(2, count(s, "/oauth2/token$"))
  end)

  it("marks authentication templates so Sinch applies the keyword rule", function()
    local r = client:send{ to = "010-4000-0009", template = "auth_code",
                           vars = { service = "쇼핑몰", code = "482913" } }
    assert.equal("accepted", r.status)
    -- The flag really travels: without pre-flight checks, an authentication message whose text
    -- lacks every keyword is accepted and then fails delivery the way Sinch reports it.
    local raw = assert(alimtalk.new{ provider = "sinch", templates = sandbox.templates, validate = false,
      sinch = s:client_options("sinch") })
    local bad = raw:send{ to = "010-4000-0010", template = "notice_plain", authentication = true,
                          vars = { service = "쇼핑몰", name = "홍길동" } }
    assert.equal("accepted", bad.status)
    raw:close()
    local rec = sandbox.wait(function()
      for _, m in ipairs(s:outbox{ provider = "sinch" } or {}) do
        if m.id == bad.ids.message_id and m.status ~= "pending" then return m end
      end
    end, 5)
    assert.truthy(rec)
    assert.equal("failed", rec.status)
    assert.equal("TEMPLATE_INSUFFICIENT_PARAMETERS", rec.result_code)
    -- with pre-flight checks the same message is refused before anything is sent
    local none, err = client:send{ to = "010-4000-0011", template = "notice_plain",
                                   authentication = true, vars = { service = "쇼핑몰", name = "홍길동" } }
    assert.is_nil(none)
    assert.truthy(err.code)
  end)

  for _, fault in ipairs({ { kind = "status", status = 502 }, { kind = "reset_after" },
                           { kind = "malformed" } }) do
    it("reports uncertain after " .. fault.kind .. (fault.status or "") .. " and never resends", function()
      fault.provider, fault.count, fault.path = "sinch", 1, "messages:send"
      assert(s:fault(fault))
      local r = client:send(shipped(10))
      assert.equal("uncertain", r.status)
      assert.equal(1, r.attempts)
      assert.equal(1, count(s, "messages:send$"))
    end)
  end

  it("retries 429 and 503", function()
    assert(s:fault{ provider = "sinch", path = "messages:send", kind = "status", status = 429,
                    retry_after = 0, count = 1 })
    assert(s:fault{ provider = "sinch", path = "messages:send", kind = "status", status = 503,
                    retry_after = 0, count = 1 })
    local r = client:send(shipped(11))
    assert.equal("accepted", r.status)
    assert.equal(3, r.attempts)
    assert.equal(1, #(s:outbox{ provider = "sinch" } or {}))
  end)

  it("delivers signed delivery reports that our receiver verifies", function()
    local r = client:send(shipped(12))
    local hook = assert(webhook.new{ secret = creds.webhook_secret })
    local call = sandbox.wait(function()
      for _, c in ipairs(s:sink("sinch") or {}) do
        if c.body:find(r.ids.message_id, 1, true) then return c end
      end
    end, 5)
    assert.truthy(call)
    local ev, err = hook:parse(call.headers, call.body)
    assert.is_nil(err)
    assert.equal("delivered", ev.status)
    assert.equal(r.ids.message_id, ev.ids.message_id)
    local again, rerr = hook:parse(call.headers, call.body)
    assert.is_nil(again)
    assert.equal("REPLAYED", rerr.code)
    local wrong = assert(webhook.new{ secret = "not-the-secret" })
    assert.is_nil((wrong:parse(call.headers, call.body)))
  end)

  describe("FriendTalk (generic Conversation API messages)", function()
    -- noon KST, inside Sinch's 08:00-21:00 FriendTalk window
    local NOON = 1795230000   -- 2026-11-21 03:00 UTC
    local ft

    before_each(function()
      ft = assert(alimtalk.new{ provider = "sinch", now = function() return NOON end,
        sinch = s:client_options("sinch", { timeout = 2 }),
        retry = { base_delay = 0.01, max_delay = 0.05 } })
    end)
    after_each(function() ft:close() end)

    local function last(to)
      local found
      for _, m in ipairs(s:outbox{ provider = "sinch" } or {}) do
        if m.to == to then found = m end
      end
      return found
    end

    it("sends text as a text_message, not an empty template", function()
      local r = ft:send{ kind = "friendtalk", to = "010-4000-0201", content = "이번 주 특가 안내입니다." }
      assert.equal("accepted", r.status, r.message)
      local m = assert(last("+821040000201"))
      assert.equal("friendtalk", m.kind)
      assert.equal("이번 주 특가 안내입니다.", m.text)
    end)

    it("sends text with choices as a choice_message", function()
      local r = ft:send{ kind = "friendtalk", to = "010-4000-0202", content = "참석하시나요?",
        choices = { { title = "네" }, { title = "웹에서 보기", url = "https://shop.example/e/1" } } }
      assert.equal("accepted", r.status, r.message)
      local m = assert(last("+821040000202"))
      assert.equal("참석하시나요?", m.text)
      assert.equal("네", m.buttons[1].name)
      assert.equal("https://shop.example/e/1", m.buttons[2].url_mobile)
    end)

    it("sends media as a media_message and a card as a card_message", function()
      local r = ft:send{ kind = "friendtalk", to = "010-4000-0203",
                         media = { url = "https://cdn.example/banner.png" } }
      assert.equal("accepted", r.status, r.message)
      assert.truthy(last("+821040000203"))
      r = ft:send{ kind = "friendtalk", to = "010-4000-0204",
        card = { title = "겨울 세일", description = "최대 50% 할인",
                 media = { url = "https://cdn.example/c.jpg" },
                 choices = { { title = "쇼핑하기", url = "https://shop.example/sale" } } } }
      assert.equal("accepted", r.status, r.message)
      local m = assert(last("+821040000204"))
      assert.equal("겨울 세일", m.title)
      assert.equal("최대 50% 할인", m.text)
      assert.equal("쇼핑하기", m.buttons[1].name)
    end)

    it("is refused by the server past its limits when pre-flight validation is off", function()
      local raw = assert(alimtalk.new{ provider = "sinch", validate = false,
        sinch = s:client_options("sinch", { timeout = 2 }) })
      local r = raw:send{ kind = "friendtalk", to = "010-4000-0205", content = string.rep("가", 1001) }
      assert.equal("rejected", r.status)
      assert.equal("INVALID_ARGUMENT", r.code)
      r = raw:send{ kind = "friendtalk", to = "010-4000-0206", content = "고르세요",
                    choices = { { title = string.rep("가", 15) } } }
      assert.equal("rejected", r.status)
      assert.is_nil(last("+821040000205"))
      raw:close()
    end)
  end)
end)
