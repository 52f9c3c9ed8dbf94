-- alimtalk.core.measure / measure_fields: one pass over a string for every size rule.
local core = require "alimtalk.core"
local kat = require "fixtures.kat.read"

local FIELDS = { "valid", "bad_offset", "chars", "bytes", "euckr_bytes", "unencodable",
                 "first_unencodable", "lines", "longest_line" }

-- measure_fields must return the same values as measure, in the documented order.
local function both(s)
  local t = core.measure(s)
  local f = { core.measure_fields(s) }
  for i, name in ipairs(FIELDS) do
    assert.are.equal(t[name], f[i], name .. " differs between measure and measure_fields")
  end
  return t
end

describe("core.measure", function()
  it("matches wc -m, wc -c and iconv -t CP949 on the committed vectors", function()
    for _, row in ipairs(kat.rows("measure.tsv")) do
      local s = kat.unhex(row[2])
      local t = both(s)
      assert.is_true(t.valid, row[1])
      assert.is_nil(t.bad_offset, row[1])
      assert.are.equal(tonumber(row[3]), t.chars, row[1] .. " chars")
      assert.are.equal(tonumber(row[4]), t.bytes, row[1] .. " bytes")
      assert.are.equal(tonumber(row[5]), t.euckr_bytes, row[1] .. " euckr_bytes")
    end
  end)

  it("counts ASCII as 1 CP949 byte and Hangul as 2", function()
    local t = both("홍길동님 안녕하세요 abc")
    assert.are.equal(14, t.chars)
    assert.are.equal(9 * 3 + 5, t.bytes)         -- 9 syllables, 2 spaces, 3 letters
    assert.are.equal(9 * 2 + 5, t.euckr_bytes)
  end)

  it("reports the characters CP949 cannot encode, with the first position", function()
    local t = both("배송 완료 😀 ★ 👍")
    assert.are.equal(2, t.unencodable)
    assert.are.equal(7, t.first_unencodable)
    assert.are.equal(11, t.chars)
    assert.are.equal(4 * 2 + 4 + 2, t.euckr_bytes) -- emoji add nothing
    t = both("plain ascii")
    assert.are.equal(0, t.unencodable)
    assert.is_nil(t.first_unencodable)
    t = both("\u{1100}\u{1161}")      -- conjoining jamo are not in CP949
    assert.are.equal(2, t.unencodable)
    assert.are.equal(1, t.first_unencodable)
  end)

  it("counts lines and the longest line in characters; CRLF is one break", function()
    local t = both("")
    assert.are.equal(0, t.lines)
    assert.are.equal(0, t.longest_line)
    t = both("a")
    assert.are.equal(1, t.lines)
    assert.are.equal(1, t.longest_line)
    t = both("a\nb")
    assert.are.equal(2, t.lines)
    t = both("첫 줄\r\n두 번째 줄입니다\r\n끝")
    assert.are.equal(3, t.lines)
    assert.are.equal(9, t.longest_line)
    assert.are.equal(3 + 2 + 9 + 2 + 1, t.chars) -- CR and LF are characters
    t = both("a\n")
    assert.are.equal(2, t.lines)
    t = both("\n\n\n")
    assert.are.equal(4, t.lines)
    assert.are.equal(0, t.longest_line)
    t = both("x\ry")                  -- a lone CR breaks a line too
    assert.are.equal(2, t.lines)
  end)

  it("rejects overlongs, surrogates, values above U+10FFFF and truncation, with the offset", function()
    local cases = {
      { "ab\xC0\xAF", 3 },            -- overlong '/'
      { "\xE0\x80\xAF", 1 },          -- overlong 3-byte
      { "\xF0\x80\x80\xAF", 1 },      -- overlong 4-byte
      { "가\xED\xA0\x80", 4 },        -- UTF-16 surrogate
      { "\xF4\x90\x80\x80", 1 },      -- U+110000
      { "\xF5\x80\x80\x80", 1 },
      { "ok\xEA\xB0", 3 },            -- truncated Hangul
      { "\x80", 1 },                  -- stray continuation byte
      { "abc\xFF", 4 },
    }
    for _, c in ipairs(cases) do
      local t = both(c[1])
      assert.is_false(t.valid, ("%q"):format(c[1]))
      assert.are.equal(c[2], t.bad_offset, ("%q"):format(c[1]))
      assert.are.equal(#c[1], t.bytes)
      if utf8 and utf8.len then       -- Lua 5.4's own decoder agrees on the offset
        local n, pos = utf8.len(c[1])
        assert.is_nil(n)
        assert.are.equal(c[2], pos)
      end
    end
  end)

  it("still measures invalid text, one replacement character per bad byte", function()
    local t = both("가\xFF나")
    assert.is_false(t.valid)
    assert.are.equal(4, t.bad_offset)
    assert.are.equal(3, t.chars)
    assert.are.equal(4, t.euckr_bytes)
    assert.are.equal(1, t.unencodable)
    assert.are.equal(2, t.first_unencodable)
  end)

  it("accepts the edges of the valid ranges", function()
    for _, s in ipairs({ "\u{7F}", "\u{80}", "\u{7FF}", "\u{800}", "\u{D7FF}", "\u{E000}",
                         "\u{FFFF}", "\u{10000}", "\u{10FFFF}" }) do
      local t = both(s)
      assert.is_true(t.valid, ("%q"):format(s))
      assert.are.equal(1, t.chars)
    end
  end)

  it("handles NUL bytes and long inputs", function()
    local t = both("a\0b")
    assert.are.equal(3, t.chars)
    local long = string.rep("가나다라마바사 ", 20000)
    t = both(long)
    assert.are.equal(8 * 20000, t.chars)
    assert.are.equal(15 * 20000, t.euckr_bytes)
    assert.are.equal(22 * 20000, t.bytes)
  end)

  it("raises on a non-string argument", function()
    assert.has_error(function() core.measure({}) end)
    assert.has_error(function() core.measure_fields() end)
  end)
end)

-- core.within: a rule key's specs compiled once, checked in one call; it must give the verdict
-- the Lua check (validate.rules ctx:within without the compiled table) gives.
describe("core.within", function()
  local rules = require "alimtalk.validate.rules"
  local SPECS = {
    { { unit = "chars", max = 5 } },
    { { unit = "chars", max = 4, text_only = true }, { unit = "lines", max = 2 } },
    { { unit = "bytes", max = 6 } },
    { { unit = "cp949", max = 4 } },
    { { unit = "line_chars", max = 2 } },
    { { unit = "chars", min = 2, max = 3 } },
  }
  local TEXTS = { "", "a", "abcde", "abcdef", "가나", "가나다", "a\nb", "ab\ncd\ne", "é", "\xff",
                  "12345", "a\n\nb" }

  it("agrees with the Lua check on every unit, min and max, and invalid UTF-8", function()
    for si, specs in ipairs(SPECS) do
      local ctx = rules.context({ name = "t", limits = { k = specs } })
      ctx.compiled = {}   -- the Lua path
      local c = core.limit_spec(specs)
      for _, s in ipairs(TEXTS) do
        assert.are.equal(ctx:within(s, "k"), core.within(c, s), "specs " .. si .. " on " .. ("%q"):format(s))
      end
    end
  end)

  it("checks every string and number value of a table in one call", function()
    local c = core.limit_spec({ { unit = "chars", max = 3 } })
    assert.is_true(core.within_values(c, { a = "abc", b = 123, c = true, d = {} }))
    assert.is_false(core.within_values(c, { a = "abc", b = 1234 }))
    assert.is_false(core.within_values(c, { "ab", "abcd" }))
    assert.is_false(core.within_values(c, { x = "\xff" }))
  end)

  it("says whether every key of a table is in a set, by raw lookups", function()
    local set = { name = true, order = true }
    assert.is_true(core.keys_in({ name = "n", order = 1 }, set))
    assert.is_true(core.keys_in({}, set))
    assert.is_false(core.keys_in({ name = "n", invoice = "i" }, set))
    assert.is_false(core.keys_in({ "positional" }, set))
    assert.is_false(core.keys_in({ name = "n" }, setmetatable({}, { __index = set })))
    assert.has_error(function() core.keys_in("x", set) end)
  end)

  it("leaves a key with a non-text unit to Lua, and raises on misuse", function()
    assert.is_nil(core.limit_spec({ { unit = "items", max = 3 } }))
    assert.has_error(function() core.within({}, "x") end)
    assert.has_error(function() core.within(core.limit_spec({}), {}) end)
  end)

  -- found by the libFuzzer target "limits" (spec/fuzz/corpus/limits/regress-string-max): a
  -- bound that is not a number was read as 0 (false) or converted ("5"), where the Lua check
  -- skips false and raises on a string
  it("raises on a bound that is not a number, or an entry that is not a table", function()
    for _, bad in ipairs({ "5", false, true, {} }) do
      assert.has_error(function() core.limit_spec({ { unit = "chars", max = bad } }) end,
        "alimtalk.core.limit_spec: specs[1].min and .max must be numbers")
      local two = { { unit = "chars", max = 3 }, { unit = "bytes", min = bad } }
      assert.has_error(function() core.limit_spec(two) end,
        "alimtalk.core.limit_spec: specs[2].min and .max must be numbers")
    end
    assert.has_error(function() core.limit_spec({ "chars" }) end,
      "alimtalk.core.limit_spec: specs[1] is not a table")
    assert.is_true(core.within(core.limit_spec({ { unit = "chars", max = 0 / 0 } }), "abc"))
  end)
end)
