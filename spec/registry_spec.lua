local registry = require "alimtalk.registry"
local cjson = require "cjson"
local common = require "fixtures.validation.common"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

describe("alimtalk.registry", function()
  it("loads the JSON file format of docs/architecture.md", function()
    local reg = assert(registry.load("spec/fixtures/validation/registry.json"))
    local e = reg:get("order_shipped")
    assert.equal("basic", e.type)
    assert.same({ "name" }, e.body.variables)
    assert.equal(2, #e.buttons)
    assert.equal("DS", e.buttons[1].type)
    assert.same({ "name", "order" }, e.variables)
    assert.equal("ko", e.language)
  end)

  it("loads a Lua table", function()
    local reg = common.registry()
    assert.equal("item_list", reg:get("receipt").type)
    assert.equal(2, #reg:get("receipt").items)
  end)

  it("finds an entry by name or by a provider's template code", function()
    local reg = common.registry()
    assert.equal("order_shipped", reg:get("ORDER_SHIPPED", "sens").name)
    assert.equal("order_shipped", reg:get("T0001", "apiplex").name)
    assert.equal("order_shipped", reg:get("TPL_0001").name)
    assert.is_nil(reg:get("T0001", "sens"))
    assert.is_nil(reg:get("nope"))
  end)

  it("gives the code to send to each provider", function()
    local reg = common.registry()
    local e = reg:get("order_shipped")
    assert.equal("ORDER_SHIPPED", reg:code_for(e, "sens"))
    assert.equal("TPL_0001", reg:code_for("order_shipped", "bizmessage"))
    local c, err = reg:code_for(reg:get("otp"), "sens")
    assert.is_nil(c)
    assert.equal("NO_TEMPLATE_CODE", err.code)
    local _, err2 = reg:code_for("missing", "sens")
    assert.equal("TEMPLATE_NOT_FOUND", err2.code)
    assert.equal("3015", err2.provider_code)
  end)

  it("rejects bad entries with the field at fault", function()
    local reg, err = registry.load{ templates = { { name = "x", type = "carousel", body = "a" } } }
    assert.is_nil(reg)
    assert.equal("BAD_TEMPLATE", err.code)
    assert.equal("templates[1].type", err.field)
    local _, err2 = registry.load{ templates = { { name = "x", body = "#{a" } } }
    assert.equal("templates[1].body", err2.field)
    local _, err3 = registry.load{ templates = { { name = "x", body = "a", colour = "red" } } }
    assert.equal("templates[1].colour", err3.field)
  end)

  it("reports a missing file and bad JSON", function()
    local _, err = registry.load("spec/fixtures/validation/none.json")
    assert.equal("IO", err.code)
    local path = os.tmpname()
    local f = assert(io.open(path, "w")); f:write("{ nope"); f:close()
    local _, err2 = registry.load(path)
    os.remove(path)
    assert.equal("BAD_JSON", err2.code)
  end)

  it("replaces an entry added again under the same name", function()
    local reg = registry.new()
    assert(reg:add{ name = "a", body = "one", codes = { sens = "A1" } })
    assert(reg:add{ name = "a", body = "two", codes = { sens = "A2" } })
    assert.equal(1, #reg:list())
    assert.equal("two", reg:get("a").body.body)
    assert.is_nil(reg:get("A1", "sens"))
    assert.equal("a", reg:get("A2", "sens").name)
  end)

  describe("add_sens_templates", function()
    local list = cjson.decode(read("spec/fixtures/validation/sens_templates.json"))

    it("maps emphasizeType, buttons (in order), header, item highlight, item list and summary", function()
      local reg = registry.new()
      assert.equal(3, reg:add_sens_templates(list))
      local e = reg:get("ORDER_SHIPPED", "sens")
      assert.equal("basic", e.type)
      assert.equal("DS", e.buttons[1].type)
      assert.equal("WL", e.buttons[2].type)
      assert.equal("https://shop.example/o/#{order}", e.buttons[2].url_mobile.body)
      assert.equal("https://shop.example/o/#{order}", e.buttons[2].url_pc.body)
      assert.equal("ACTIVE", e.status)
      local r = reg:get("RECEIPT", "sens")
      assert.equal("item_list", r.type)
      assert.equal("주문 내역", r.header.body)
      assert.is_true(r.item_highlight.image)
      assert.equal(2, #r.items)
      assert.equal("#{total}원", r.summary.description.body)
      local p = reg:get("PAYMENT", "sens")
      assert.equal("highlight", p.type)
      assert.equal("#{amount}원", p.title.body)
      assert.equal("shop://pay", p.buttons[1].scheme_ios.body)
    end)

    it("refreshes an entry that already has the SENS code, keeping its name and other codes", function()
      local reg = common.registry()
      assert(reg:add_sens_templates({ templates = list }))
      local e = reg:get("order_shipped")
      assert.equal("ORDER_SHIPPED", e.codes.sens)
      assert.equal("TPL_0001", e.codes.bizmessage)
      assert.matches("송장번호", e.body.body)
    end)

    it("rejects a template without code or content", function()
      local _, err = registry.new():add_sens_templates({ { templateName = "x" } })
      assert.equal("BAD_TEMPLATE", err.code)
    end)

    it("reads a malformed answer without raising: entries that are not objects", function()
      -- found by spec/fuzz/lua/queries.lua (load_templates of mutated SENS answers): a template,
      -- item or button that was not an object, or a `templates` field that was not a list, raised
      local null = cjson.null
      for _, bad in ipairs({ { 1 }, { null }, { true } }) do
        local n, err = registry.new():add_sens_templates(bad)
        assert.is_nil(n)
        assert.equal("BAD_TEMPLATE", err.code)
      end
      assert.equal(0, registry.new():add_sens_templates({ templates = "x", content = 3 }))
      local t = cjson.decode(cjson.encode(list[2]))     -- RECEIPT: item list and summary
      t.item.list = { 1, null, { title = "상품", description = "#{product}" } }
      local reg = registry.new()
      assert.equal(1, reg:add_sens_templates({ t }))
      assert.equal(1, #reg:get("RECEIPT", "sens").items)
      t = cjson.decode(cjson.encode(list[1]))           -- ORDER_SHIPPED: two buttons
      t.buttons = { false, t.buttons[1], 7, null }
      reg = registry.new()
      assert.equal(1, reg:add_sens_templates({ t }))
      assert.equal(1, #reg:get("ORDER_SHIPPED", "sens").buttons)
    end)
  end)
end)
