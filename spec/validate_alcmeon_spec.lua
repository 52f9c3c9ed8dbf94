local validate = require "alimtalk.validate"
local common = require "fixtures.validation.common"
local H, A = common.hangul, common.ascii

local function def(extra)
  local d = { name = "order_update", category = "alimtalk", languages = { "en", "kr" }, usage = { "api" },
    body = "Hello {{first_name}}, your order {{order}} has arrived.",
    header = { type = "text", text = "Order" },
    buttons = { { type = "contact", name = "Contact Customer Service" },
      { type = "url", name = "See order", url = "https://shop.example/o" } } }
  for k, v in pairs(extra or {}) do d[k] = v end
  return d
end

describe("validate Alcmeon", function()
  local opts = { provider = "alcmeon" }

  it("accepts a well-formed template definition", function()
    assert.truthy(validate.template(def(), opts))
  end)

  local limits = {
    { "name", 512, function(n) return def{ name = string.rep("a", n) } end, "chars" },
    { "body", 1024, function(n) return def{ body = H(n) } end, "chars" },
  }
  for _, l in ipairs(limits) do
    it(l[1] .. " passes at " .. l[2] .. " and fails at " .. (l[2] + 1), function()
      assert.truthy(validate.template(l[3](l[2]), opts))
      local _, err = validate.template(l[3](l[2] + 1), opts)
      local e = common.find(err, l[1], "TOO_LONG")
      assert.equal(l[2], e.limit)
      assert.equal(l[2] + 1, e.actual)
      assert.equal(l[4], e.unit)
    end)
  end

  it("takes up to 5 buttons", function()
    local b = {}
    for i = 1, 5 do b[i] = { type = "url", name = "b" .. i, url = "https://x.example/" .. i } end
    assert.truthy(validate.template(def{ buttons = b }, opts))
    b[6] = { type = "contact", name = "cs" }
    local _, err = validate.template(def{ buttons = b }, opts)
    assert.equal(5, common.find(err, "buttons", "TOO_MANY").limit)
  end)

  it("checks names, languages, usage, header and button types", function()
    local _, err = validate.template(def{ name = "Order-Update", languages = { "fr" }, usage = { "chatbot" },
      header = { type = "video" }, buttons = { { type = "call", name = "x" }, { type = "url",
        name = "u" } } }, opts)
    assert.truthy(common.find(err, "name", "BAD_FORMAT"))
    assert.truthy(common.find(err, "languages[1]", "BAD_VALUE"))
    assert.truthy(common.find(err, "usage", "BAD_VALUE"))
    assert.truthy(common.find(err, "header.type", "BAD_VALUE"))
    assert.truthy(common.find(err, "buttons[1].type", "BAD_VALUE"))
    assert.truthy(common.find(err, "buttons[2].url", "REQUIRED"))
    -- FriendTalk templates may use other languages
    assert.truthy(validate.template(def{ category = "friendtalk", languages = { "fr" },
      usage = { "chatbot" } }, opts))
  end)

  it("rejects an unclosed {{variable}}", function()
    local _, err = validate.template(def{ body = "Hello {{name" }, opts)
    assert.truthy(common.find(err, "body", "BAD_TEMPLATE"))
  end)

  describe("messages", function()
    local function msg(extra)
      local m = { to = "010-1234-5678", template = "order_update", content = "Hello Kim" }
      for k, v in pairs(extra or {}) do m[k] = v end
      return m
    end

    it("limits the text to Kakao's 1000 characters", function()
      assert.truthy(validate.message(msg{ content = H(1000) }, opts))
      local _, err = validate.message(msg{ content = H(1001) }, opts)
      assert.equal("3014", common.find(err, "content", "TOO_LONG").provider_code)
    end)

    it("allows FriendTalk 09:00-20:00 KST only", function()
      local at = common.kst(2026, 11, 21, 8, 59)
      local _, err = validate.message(msg{ kind = "friendtalk" }, { provider = "alcmeon", now = at })
      assert.equal(common.kst(2026, 11, 21, 9, 0), common.find(err, "kind",
        "OUTSIDE_SEND_WINDOW").next_allowed)
      assert.truthy(validate.message(msg{ kind = "friendtalk" },
        { provider = "alcmeon", now = common.kst(2026, 11, 21, 19, 59) }))
    end)

    it("refuses reservations", function()
      local _, err = validate.message(msg{ reserve_time = "2030-01-01 10:00" }, opts)
      assert.truthy(common.find(err, "reserve_time", "NOT_SUPPORTED"))
    end)

    it("takes up to 5 buttons", function()
      local b = {}
      for i = 1, 6 do b[i] = { type = "url", name = A(3), url_mobile = "https://x.example" } end
      local _, err = validate.message(msg{ buttons = b }, opts)
      assert.truthy(common.find(err, "buttons", "TOO_MANY"))
    end)
  end)
end)
