local template = require "alimtalk.template"

describe("alimtalk.template", function()
  describe("parse", function()
    it("lists Kakao #{name} variables in order, once each", function()
      local t = assert(template.parse("#{name}님, #{item} 주문. #{name}님 감사합니다."))
      assert.same({ "name", "item" }, t.variables)
      assert.equal("kakao", t.syntax)
    end)

    it("parses Alcmeon {{name}} templates, trimming spaces inside the braces", function()
      local t = assert(template.parse("Hello {{ first_name }}, order {{order}}", { syntax = "alcmeon" }))
      assert.same({ "first_name", "order" }, t.variables)
      assert.equal("alcmeon", t.syntax)
    end)

    it("detects the syntax automatically", function()
      assert.equal("alcmeon", template.parse("{{a}} x").syntax)
      assert.equal("kakao", template.parse("#{a} x").syntax)
    end)

    it("accepts Korean variable names", function()
      assert.same({ "고객명" }, template.parse("#{고객명}님 안녕하세요").variables)
    end)

    it("rejects an unclosed variable with BAD_TEMPLATE", function()
      local t, err = template.parse("#{name 님")
      assert.is_nil(t)
      assert.equal("BAD_TEMPLATE", err.code)
    end)

    it("raises on an unknown option", function()
      assert.has_error(function() template.parse("x", { bogus = 1 }) end)
    end)
  end)

  describe("render", function()
    local t = template.parse("#{name}님, 주문번호 #{order}의 상품이 발송되었습니다. #{name}님 감사합니다.")

    it("substitutes every slot, numbers included", function()
      assert.equal("홍길동님, 주문번호 1001의 상품이 발송되었습니다. 홍길동님 감사합니다.",
        template.render(t, { name = "홍길동", order = 1001 }))
    end)

    it("names the missing variable", function()
      local s, err = template.render(t, { name = "홍길동" })
      assert.is_nil(s)
      assert.equal("MISSING_VARIABLE", err.code)
      assert.equal("vars.order", err.field)
      assert.matches("order", err.message)
    end)

    it("reports every missing variable once", function()
      local _, err = template.render(t, {})
      assert.equal(2, #err.errors)
    end)

    it("refuses unknown variables unless allowed", function()
      local s, err = template.render(t, { name = "a", order = "1", coupon = "X" })
      assert.is_nil(s)
      assert.equal("UNKNOWN_VARIABLE", err.code)
      assert.equal("vars.coupon", err.field)
      assert.truthy(template.render(t, { name = "a", order = "1", coupon = "X" }, { allow_unknown = true }))
    end)

    it("refuses values that are not strings or numbers", function()
      local _, err = template.render(t, { name = {}, order = "1" })
      assert.equal("BAD_VARIABLE", err.code)
    end)

    it("renders a body string directly and Alcmeon templates", function()
      assert.equal("Hi Kim", template.render("Hi {{ who }}", { who = "Kim" }))
    end)

    it("renders templates with many slots", function()
      local parts, vars = {}, {}
      for i = 1, 80 do parts[i] = "#{v" .. i .. "}"; vars["v" .. i] = tostring(i % 10) end
      local s = assert(template.render(table.concat(parts, "-"), vars))
      assert.equal(80 * 2 - 1, #s)
    end)
  end)

  describe("match", function()
    it("recovers every value of a template with more slots than a Lua pattern can capture", function()
      local slots, vals, vars = {}, {}, {}
      for i = 1, 40 do
        slots[i], vals[i], vars["v" .. i] = "#{v" .. i .. "}", "값" .. i, "값" .. i
      end
      local t = assert(template.parse("시작 " .. table.concat(slots, ", ") .. " 끝"))
      local got = assert(template.match(t, "시작 " .. table.concat(vals, ", ") .. " 끝"))
      assert.same(vars, got)
      -- a text that does not fit is a mismatch error, not a raised one
      local none, err = template.match(t, "시작 " .. table.concat(vals, "; ") .. " 끝")
      assert.is_nil(none)
      assert.equal("TEMPLATE_MISMATCH", err.code)
    end)

    local t = template.parse("#{name}님, 주문하신 #{item}이(가) 발송되었습니다.\n송장번호: #{invoice}")

    it("returns the captured values of a matching text", function()
      local caps = assert(template.match(t,
        "홍길동님, 주문하신 책이(가) 발송되었습니다.\n송장번호: 123-4567-8901"))
      assert.same({ name = "홍길동", item = "책", invoice = "123-4567-8901" }, caps)
    end)

    it("reports the first difference with its character position and both snippets (3016)", function()
      local caps, err = template.match(t,
        "홍길동님, 주문하신 책이(가) 발송됐습니다.\n송장번호: 1")
      assert.is_nil(caps)
      assert.equal("TEMPLATE_MISMATCH", err.code)
      assert.equal("3016", err.provider_code)
      assert.equal("content", err.field)
      assert.equal(20, err.position)               -- "발송" ends at character 19
      assert.matches("^되었습니다%.\n송장", err.expected)
      assert.matches("^됐습니다%.\n송장", err.actual)
    end)

    it("catches a changed space", function()
      local _, err = template.match(t,
        "홍길동님 주문하신 책이(가) 발송되었습니다.\n송장번호: 1")
      assert.equal(5, err.position)
      assert.equal(", 주문하신 ", err.expected:sub(1, #", 주문하신 "))
    end)

    it("catches a missing newline", function()
      local _, err = template.match(t,
        "홍길동님, 주문하신 책이(가) 발송되었습니다. 송장번호: 1")
      assert.equal("TEMPLATE_MISMATCH", err.code)
      assert.matches("^\n", err.expected)
    end)

    it("catches extra text after a fixed end", function()
      local _, err = template.match("결제가 완료되었습니다.",
        "결제가 완료되었습니다. 감사합니다")
      assert.equal(13, err.position)
      assert.equal("", err.expected)
      assert.equal(" 감사합니다", err.actual)
    end)

    it("catches a truncated text", function()
      local _, err = template.match("결제가 완료되었습니다.", "결제가 완료")
      assert.equal(7, err.position)
      assert.equal("되었습니다.", err.expected)
    end)

    it("requires a repeated variable to hold the same value", function()
      local _, err = template.match("#{a} and #{a}", "x and y")
      assert.equal("TEMPLATE_MISMATCH", err.code)
    end)

    it("takes the field and provider code to report", function()
      local _, err = template.match("#{amount}원", "39000달러", { field = "title",
        provider_code = "3028" })
      assert.equal("title", err.field)
      assert.equal("3028", err.provider_code)
    end)

    it("matches templates with regex-like characters literally", function()
      assert.truthy(template.match("[%s] (50%) #{x}.*", "[%s] (50%) y.*"))
      assert.is_nil(template.match("[%s] (50%) #{x}.*", "[%s] (50%) y.+"))
    end)
  end)
end)
