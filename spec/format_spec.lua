-- alimtalk.format against tables of expected strings: at the limits, with odd input, the same
-- on Lua 5.4 and LuaJIT, and KST whatever the machine's zone.
local format = require "alimtalk.format"
local core = require "alimtalk.core"
local errors = require "alimtalk.errors"

-- 2026-12-07T15:05:00+09:00, a Monday
local MON_1505 = 1796623500

local function refused(code, want, fn, ...)
  local v, err = fn(...)
  assert.is_nil(v)
  assert.is_true(errors.is(err), tostring(err))
  assert.are.equal(code, err.code)
  assert.matches(want, err.message, 1, true)
  return err
end

describe("alimtalk.format", function()
  it("is alimtalk.format", function()
    assert.are.equal(format, require("alimtalk").format)
  end)

  describe("won", function()
    it("formats amounts as the table says", function()
      local cases = {
        { 39000, "39,000원" }, { "39000", "39,000원" }, { "39,000", "39,000원" }, { " 39,000 ", "39,000원" },
        { -39000, "-39,000원" }, { "-39,000", "-39,000원" }, { "+39000", "39,000원" },
        { 0, "0원" }, { -0.0, "0원" }, { "-0", "0원" }, { "000", "0원" }, { "0039000", "39,000원" },
        { 1, "1원" }, { 12, "12원" }, { 123, "123원" }, { 1000, "1,000원" }, { 999999, "999,999원" },
        { 1000000, "1,000,000원" }, { 39000.0, "39,000원" }, { "39000.00", "39,000원" },
        { 9007199254740991, "9,007,199,254,740,991원" }, { -9007199254740991, "-9,007,199,254,740,991원" },
        -- beyond 2^53 as digits: no digit lost
        { "9007199254740993", "9,007,199,254,740,993원" },
        { "123456789012345678901234567890", "123,456,789,012,345,678,901,234,567,890원" },
      }
      for _, c in ipairs(cases) do
        assert.are.equal(c[2], format.won(c[1]), tostring(c[1]))
      end
      assert.are.equal("1,234,567", format.number(1234567))
      assert.are.equal("-12,000", format.number("-12000"))
    end)

    it("refuses what it cannot format honestly, naming the field and the reason", function()
      local err = refused("BAD_VALUE", "is missing", format.won, nil, { field = "vars.amount" })
      assert.are.equal("vars.amount", err.field)
      assert.matches("^BAD_VALUE vars.amount: ", tostring(err))
      refused("BAD_VALUE", "won has no minor unit", format.won, 39000.5)
      refused("BAD_VALUE", "won has no minor unit", format.won, "39000.50")
      refused("BAD_VALUE", "2^53", format.won, 2 ^ 53)
      refused("BAD_VALUE", "2^53", format.won, -2 ^ 60)
      refused("BAD_VALUE", "not a finite number", format.won, 0 / 0)
      refused("BAD_VALUE", "not a finite number", format.won, math.huge)
      refused("BAD_VALUE", "misplaced thousands separators", format.won, "3,9000")
      refused("BAD_VALUE", "misplaced thousands separators", format.won, "39,00")
      for _, s in ipairs({ "", "-", "abc", "39,000원", ",39000", "39000.", "1e5", "39 000", "--1" }) do
        refused("BAD_VALUE", "is not an amount", format.won, s)
      end
      refused("BAD_VALUE", "a table", format.won, {})
      assert.has_error(function() format.won(1, { bogus = true }) end, "format.won: unknown option bogus")
    end)
  end)

  describe("dates and times in KST", function()
    it("formats a moment given as epoch seconds, ISO 8601 with any offset, or a table", function()
      local same = { MON_1505, MON_1505 + 0.9, "@1796623500", "2026-12-07T15:05:00+09:00",
        "2026-12-07T06:05:00Z", "2026-12-07t06:05:00z", "2026-12-07T01:05:00-05:00",
        "2026-12-07T15:05:00+0900", "2026-12-07T15:05+09",
        "2026-12-07 15:05:00.999+09:00", "2026-12-07T15:05", "2026-12-07T15:05:00",
        { year = 2026, month = 12, day = 7, hour = 15, min = 5 } }
      for _, v in ipairs(same) do
        local what = type(v) == "table" and "table" or tostring(v)
        assert.are.equal("2026년 12월 7일 (월)", format.date(v), what)
        assert.are.equal("오후 3:05", format.time(v), what)
        assert.are.equal("2026년 12월 7일 (월) 오후 3:05", format.datetime(v), what)
      end
    end)

    it("crosses the date line at KST midnight, not at the machine's", function()
      -- 2026-12-07T14:59:59Z is 23:59:59 KST, one second later it is Tuesday in Korea
      assert.are.equal("2026년 12월 7일 (월) 오후 11:59", format.datetime("2026-12-07T14:59:59Z"))
      assert.are.equal("2026년 12월 8일 (화) 오전 12:00", format.datetime("2026-12-07T15:00:00Z"))
      assert.are.equal("1970년 1월 1일 (목) 오전 9:00", format.datetime(0))
      assert.are.equal("1970년 1월 1일 (목) 오전 8:59", format.datetime(-1))
      local t = format.kst(MON_1505)
      assert.are.same({ year = 2026, month = 12, day = 7, hour = 15, min = 5, sec = 0, wday = 1 }, t)
    end)

    it("gives the same text whatever TZ the process runs in", function()
      local fs = require "support.fs"
      local code = [[local f = require "alimtalk.format"; io.write(f.datetime(1796623500), "|",
        f.datetime("2026-12-07T15:05:00")) ]]
      local outs = {}
      for _, tz in ipairs({ "UTC", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Kiritimati" }) do
        local p = io.popen(("TZ=%s LUA_PATH='lua/?.lua;;' %s -e %s"):format(tz, fs.RUNTIME, fs.q(code)))
        outs[#outs + 1] = p:read("a")
        p:close()
      end
      for _, o in ipairs(outs) do
        assert.are.equal("2026년 12월 7일 (월) 오후 3:05|2026년 12월 7일 (월) 오후 3:05", o)
      end
    end)

    it("uses a 12-hour clock: midnight is 오전 12:00, noon 오후 12:00", function()
      local cases = { { "00:00", "오전 12:00" }, { "00:59", "오전 12:59" }, { "01:00", "오전 1:00" },
        { "11:59", "오전 11:59" }, { "12:00", "오후 12:00" }, { "12:30", "오후 12:30" }, { "13:00", "오후 1:00" },
        { "23:59", "오후 11:59" } }
      for _, c in ipairs(cases) do
        assert.are.equal(c[2], format.time("2026-12-07T" .. c[1]), c[1])
      end
    end)

    it("names every weekday and knows leap years", function()
      local week = { "월", "화", "수", "목", "금", "토", "일" }
      for i = 0, 6 do
        assert.are.equal(("2026년 12월 %d일 (%s)"):format(7 + i, week[i + 1]),
          format.date({ year = 2026, month = 12, day = 7 + i }))
      end
      assert.are.equal("2024년 2월 29일 (목)", format.date("2024-02-29"))
      assert.are.equal("2000년 2월 29일 (화)", format.date("2000-02-29"))
      assert.are.equal("0001년 1월 1일 (월)", format.date("0001-01-01"))
      assert.are.equal("9999년 12월 31일 (금)", format.date("9999-12-31T23:59:59+09:00"))
      refused("BAD_VALUE", "2023-02 has 28 days", format.date, "2023-02-29")
      refused("BAD_VALUE", "1900-02 has 28 days", format.date, { year = 1900, month = 2, day = 29 })
    end)

    it("takes a pattern", function()
      assert.are.equal("2026.12.07", format.date(MON_1505, { pattern = "%Y.%m.%d" }))
      assert.are.equal("12/7(월요일)", format.date(MON_1505, { pattern = "%-m/%-d(%A)" }))
      assert.are.equal("15:05:00 100%", format.time(MON_1505, { pattern = "%H:%M:%S 100%%" }))
      assert.are.equal("03시 5분", format.time(MON_1505, { pattern = "%I시 %-M분" }))
      assert.has_error(function() format.date(MON_1505, { pattern = "%Q" }) end,
        "format.date: unknown pattern token %Q (known: %Y %m %d %a %A %H %I %p %M %S, "
        .. "%-m for no zero padding, %% for %)")
    end)

    it("refuses what is not a moment, naming the field", function()
      local err = refused("BAD_VALUE", "is missing", format.date, nil, { field = "vars.paid_at" })
      assert.are.equal("vars.paid_at", err.field)
      refused("BAD_VALUE", "without a time of day", format.time, "2026-12-07")
      refused("BAD_VALUE", "without a time of day", format.datetime, { year = 2026, month = 12, day = 7 })
      refused("BAD_VALUE", "is not a date", format.date, "20261207")       -- digits alone: ambiguous
      refused("BAD_VALUE", "is not a date", format.date, "1796623500")
      refused("BAD_VALUE", "is not a date", format.date, "내일")
      refused("BAD_VALUE", "is not a date", format.date, "2026-12-07T15")
      refused("BAD_VALUE", "unreadable UTC offset", format.date, "2026-12-07T15:05:00 KST")
      refused("BAD_VALUE", "out of range", format.date, "2026-12-07T15:05:00+24:00")
      refused("BAD_VALUE", "the month 13", format.date, "2026-13-01")
      refused("BAD_VALUE", "the hour 24", format.time, "2026-12-07T24:00")
      refused("BAD_VALUE", "the minute 60", format.time, "2026-12-07T23:60")
      refused("BAD_VALUE", "the second 60", format.time, "2026-12-31T23:59:60")
      refused("BAD_VALUE", "the year 0", format.date, "0000-01-01")
      refused("BAD_VALUE", "outside the years 1 to 9999", format.date, 1e15)
      refused("BAD_VALUE", "outside the years 1 to 9999", format.date, 0 / 0)
      refused("BAD_VALUE", "unknown key minute", format.time, { year = 2026, month = 1, day = 1, minute = 5 })
      refused("BAD_VALUE", "no integral month", format.date, { year = 2026, day = 1 })
      refused("BAD_VALUE", "a boolean", format.date, true)
    end)
  end)

  describe("mask_name", function()
    it("masks names as the table says", function()
      local cases = {
        { "홍길동", "홍*동" }, { "남궁민수", "남**수" }, { "김철", "김*" }, { "김", "*" }, { " 홍길동 ", "홍*동" },
        { "독고영재다", "독***다" },
        { "John Smith", "J*** S****" }, { "John", "J**n" }, { "Al", "A*" },
        { "Mary-Jane O'Neil", "M***-J*** O'N***" },
        { "마이클·잭슨", "마**·잭*" }, { "José", "J**é" },
        -- decomposed é (e + U+0301) is one character: masked as one, never split
        { "Jose\204\129 Li", "J*** L*" }, { "Jose\204\129", "J**e\204\129" },
        -- Hangul from conjoining jamo (ᄒ ᅩ ᆼ = 홍): one character each
        { "\225\132\146\225\133\169\225\134\188길동", "\225\132\146\225\133\169\225\134\188*동" },
        { "😀", "*" }, { "👍🏽김", "👍🏽*" },
      }
      for _, c in ipairs(cases) do
        assert.are.equal(c[2], format.mask_name(c[1]), c[1])
      end
      assert.are.equal("홍○동", format.mask_name("홍길동", { mask = "○" }))
    end)

    it("refuses a missing, empty or broken name", function()
      local err = refused("BAD_VALUE", "is missing", format.mask_name, nil, { field = "vars.name" })
      assert.are.equal("vars.name", err.field)
      refused("BAD_VALUE", "empty name", format.mask_name, "  ")
      refused("BAD_VALUE", "a number", format.mask_name, 12)
      refused("BAD_UTF8", "not valid UTF-8 (at byte 2)", format.mask_name, "a\234\176")
    end)
  end)

  describe("mask_phone", function()
    it("masks the middle group of every spelling phone.parse reads, and landlines", function()
      local cases = {
        { "01012345678", "010-****-5678" }, { "010-1234-5678", "010-****-5678" },
        { "010 1234 5678", "010-****-5678" },
        { "+82 10-1234-5678", "010-****-5678" }, { "+82 010-1234-5678", "010-****-5678" },
        { "821012345678", "010-****-5678" }, { "011-123-4567", "011-***-4567" },
        { "0111234567", "011-***-4567" },
        { "016-1234-5678", "016-****-5678" }, { "02-123-4567", "02-***-4567" },
        { "02-1234-5678", "02-****-5678" },
        { "031-123-4567", "031-***-4567" }, { "031-1234-5678", "031-****-5678" },
        { "070-1234-5678", "070-****-5678" },
      }
      for _, c in ipairs(cases) do
        assert.are.equal(c[2], format.mask_phone(c[1]), c[1])
      end
    end)

    it("refuses what is not a Korean number", function()
      local err = refused("BAD_PHONE", "is not a Korean mobile or landline number", format.mask_phone,
        "010-123", { field = "vars.phone" })
      assert.are.equal("vars.phone", err.field)
      refused("BAD_PHONE", "not a Korean mobile or landline", format.mask_phone, "+1 415 555 0100")
      refused("BAD_PHONE", "not a Korean mobile or landline", format.mask_phone, "1588-1234")
      refused("BAD_PHONE", "loses its leading 0", format.mask_phone, 1012345678)
      refused("BAD_PHONE", "is missing", format.mask_phone, nil)
    end)
  end)

  describe("cut", function()
    local function size(s, unit)
      local _, _, chars, bytes, cp949 = core.measure_fields(s)
      return ({ chars = chars, bytes = bytes, cp949 = cp949 })[unit]
    end

    it("cuts to the limit in its unit, the ellipsis included", function()
      local text = "가나다라마바사"   -- 7 chars, 21 UTF-8 bytes, 14 CP949 bytes
      local cases = {
        { 7, "chars", text }, { 100, "chars", text }, { 6, "chars", "가나다라마…" }, { 5, "chars", "가나다라…" },
        { 2, "chars", "가…" }, { 1, "chars", "가" }, { 0, "chars", "" },
        { 21, "bytes", text }, { 20, "bytes", "가나다라마…" }, { 12, "bytes", "가나다…" },
        { 11, "bytes", "가나…" }, { 6, "bytes", "가…" },
        { 5, "bytes", "가" }, { 3, "bytes", "가" }, { 2, "bytes", "" },
        { 14, "cp949", text }, { 13, "cp949", "가나다라마…" }, { 12, "cp949", "가나다라마…" },
        { 4, "cp949", "가…" }, { 3, "cp949", "가" }, { 2, "cp949", "가" }, { 1, "cp949", "" },
      }
      for _, c in ipairs(cases) do
        local got = format.cut(text, c[1], { unit = c[2] })
        assert.are.equal(c[3], got, c[1] .. " " .. c[2])
        assert.is_true(size(got, c[2]) <= c[1])
      end
      -- ASCII: one byte in every unit
      assert.are.equal("abcd…", format.cut("abcdefghij", 5))
      assert.are.equal("ab…", format.cut("abcdefghij", 5, { unit = "bytes" }))
      assert.are.equal("abc…", format.cut("abcdefghij", 5, { unit = "cp949" }))
      assert.are.equal("ab...", format.cut("abcdefghij", 5, { ellipsis = "..." }))
      assert.are.equal("abcde", format.cut("abcdefghij", 5, { ellipsis = "" }))
      -- no space left hanging before the ellipsis
      assert.are.equal("주문이…", format.cut("주문이 접수되었습니다", 5))
    end)

    it("never splits a code point, a letter from its marks, a syllable from its jamo, an emoji", function()
      local e_acute = "e\204\129"                       -- e + COMBINING ACUTE ACCENT
      local cases = {
        { "caf" .. e_acute .. " au lait", 5, "caf…" },   -- "cafe" + … would drop the accent
        { "caf" .. e_acute .. " au lait", 6, "caf" .. e_acute .. "…" },
        { "ab👍🏽cd", 4, "ab…" }, { "ab👍🏽cd", 5, "ab👍🏽…" },
        { "가👨‍👩‍👧나다", 6, "가…" }, { "가👨‍👩‍👧나다", 7, "가👨‍👩‍👧…" },
        { "🇰🇷🇯🇵🇺🇸", 4, "🇰🇷…" }, { "1\239\184\143\226\131\163 2", 3, "1\239\184\143\226\131\163" },
        -- 홍 from conjoining jamo is 3 code points: with the ellipsis it needs 4
        { "\225\132\146\225\133\169\225\134\188길동", 4, "\225\132\146\225\133\169\225\134\188…" },
        { "\225\132\146\225\133\169\225\134\188길동", 3, "\225\132\146\225\133\169\225\134\188" },
        { "\225\132\146\225\133\169\225\134\188길동", 2, "" },
        { "가나\r\n다라", 3, "가나…" }, { "가나\r\n다라", 6, "가나\r\n다라" },
      }
      for i, c in ipairs(cases) do
        local got = format.cut(c[1], c[2])
        assert.are.equal(c[3], got, "case " .. i)
        assert.is_true(core.measure(got).valid)
        assert.is_true(size(got, "chars") <= c[2], "case " .. i)
      end
      -- cutting byte by byte, the result is always whole UTF-8 within the limit
      local text = "홍길동 🎉 café ñ 가"
      for limit = 0, #text do
        local got = format.cut(text, limit, { unit = "bytes" })
        assert.is_true(core.measure(got).valid, limit)
        assert.is_true(#got <= limit, limit)
      end
    end)

    it("fits what sms.plan sends as an SMS", function()
      local long = string.rep("결제가 완료되었습니다. ", 10)
      local got = format.cut(long, 90, { unit = "cp949" })
      local plan = assert(require("alimtalk.sms").plan(got))
      assert.are.equal("SMS", plan.type)
      assert.is_true(plan.bytes <= 90 and plan.bytes >= 88, plan.bytes)
    end)

    it("refuses a missing or broken text; a bad limit or unit raises", function()
      local err = refused("BAD_VALUE", "is missing", format.cut, nil, 5, { field = "vars.note" })
      assert.are.equal("vars.note", err.field)
      refused("BAD_UTF8", "not valid UTF-8", format.cut, "ab\255", 5)
      assert.has_error(function() format.cut("x", -1) end, "format.cut: limit must be an integer >= 0")
      assert.has_error(function() format.cut("x", 1.5) end, "format.cut: limit must be an integer >= 0")
      assert.has_error(function() format.cut("x", 1, { unit = "lines" }) end)
    end)
  end)

  describe("formatter", function()
    it("makes formatters by name, with an argument", function()
      local cases = {
        { "won", 39000, "39,000원" }, { "number", "1200", "1,200" }, { "date", MON_1505, "2026년 12월 7일 (월)" },
        { "time", MON_1505, "오후 3:05" }, { "datetime", MON_1505, "2026년 12월 7일 (월) 오후 3:05" },
        { "date:%Y.%m.%d", MON_1505, "2026.12.07" }, { "time:%H:%M", MON_1505, "15:05" },
        { "mask_name", "홍길동", "홍*동" }, { "mask_phone", "01012345678", "010-****-5678" },
        { "cut:3", "가나다라", "가나…" }, { "cut:5:bytes", "가나다라", "가" }, { "cut:6:cp949", "가나다라", "가나…" },
      }
      for _, c in ipairs(cases) do
        local f = assert(format.formatter(c[1]))
        assert.are.equal(c[3], f(c[2], "vars.x"), c[1])
      end
      local _, err = format.formatter("won")("12.5", "vars.amount")
      assert.are.equal("vars.amount", err.field)
    end)

    it("explains a bad name or argument", function()
      local cases = {
        { "wonn", "unknown formatter 'wonn' (known: won, number, date" },
        { "won:2", "won takes no argument" },
        { "cut", "cut needs a limit" }, { "cut:x", "cut needs a limit" },
        { "cut:20:lines", "cut needs a limit" },
        { "cut:-1", "cut needs a limit" }, { "date:%Q", "unknown pattern token %Q" }, { "date:", "is empty" },
      }
      for _, c in ipairs(cases) do
        local f, e = format.formatter(c[1])
        assert.is_nil(f, c[1])
        assert.matches(c[2], e, 1, true)
      end
    end)
  end)
end)
