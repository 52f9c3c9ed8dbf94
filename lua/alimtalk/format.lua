--- Formatters for the values Korean notices carry: won amounts, KST dates and times, masked
-- names and phone numbers, and text cut to a limit with an ellipsis.
--
--     local format = require "alimtalk.format"    -- also alimtalk.format
--     format.won(39000)                            --> "39,000원"
--     format.date("2026-12-07T15:05:00+09:00")     --> "2026년 12월 7일 (월)"
--     format.time(1796623500)                      --> "오후 3:05"
--     format.mask_name("홍길동")                   --> "홍*동"
--     format.mask_phone("+82 10-1234-5678")        --> "010-****-5678"
--     format.cut(text, 90, { unit = "cp949" })     --> at most 90 SMS bytes, ending in "…"
--
-- Every formatter takes the value and an optional table of options (unknown keys raise); `field`
-- names the value in errors (default "value"). A value a formatter cannot format honestly comes
-- back as `nil, err` (`alimtalk.errors`: `BAD_VALUE`, `BAD_UTF8` or `BAD_PHONE`, with `field`
-- and the reason), never as a guess. Results are the same on Lua 5.4 and LuaJIT.
-- @module alimtalk.format
local errors = require "alimtalk.errors"

local _M = {}

local byte, sub, find, floor = string.byte, string.sub, string.find, math.floor
local concat = table.concat

local function bad(field, why, code)
  return nil, errors.new{ code = code or "BAD_VALUE", field = field, message = why }
end

local function describe(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

-- Check an options table against the keys a formatter knows; returns the field name.
local function options(opts, known, fname)
  if opts == nil then return "value" end
  if type(opts) ~= "table" then error("format." .. fname .. ": options must be a table", 3) end
  for k in pairs(opts) do
    if k ~= "field" and not known[k] then
      error("format." .. fname .. ": unknown option " .. tostring(k), 3)
    end
  end
  if opts.field ~= nil and type(opts.field) ~= "string" then
    error("format." .. fname .. ": field must be a string", 3)
  end
  return opts.field or "value"
end

local function measure(s)
  return require("alimtalk.core").measure_fields(s)
end

------------------------------------------------------------------------------------------------
-- Amounts

-- The largest integer a double holds exactly along with its neighbours (2^53 - 1): beyond it a
-- number may already have lost digits before it reached us, so only digit strings go further.
local MAX_SAFE = 9007199254740991

local NOT_AMOUNT = " is not an amount (digits, optionally grouped by commas: 39000, 39,000, -39000)"

-- sign ("" or "-") and the digits of an integral amount, or nil and the reason
local function amount_digits(v)
  local sign, int, frac
  if type(v) == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return nil, "is not a finite number" end
    if floor(v) ~= v then
      return nil, describe(v) .. " has a fraction, and won has no minor unit (round it before formatting)"
    end
    if v > MAX_SAFE or v < -MAX_SAFE then
      return nil, "is beyond 2^53 - 1, where a Lua number may have lost digits: pass it as a digit string"
    end
    if v == 0 then return "", "0" end
    sign = v < 0 and "-" or ""
    int = string.format("%.0f", v < 0 and -v or v)
    return sign, int
  end
  if type(v) ~= "string" then
    return nil, "is " .. (v == nil and "missing" or "a " .. type(v)) .. ", not an amount"
  end
  local s = v:match("^%s*(.-)%s*$")
  sign, int, frac = s:match("^([+-]?)([%d,]+)(.*)$")
  if not sign or int:sub(1, 1) == "," then
    return nil, describe(v) .. NOT_AMOUNT
  end
  if find(int, ",", 1, true) then
    local head, rest = int:match("^(%d%d?%d?)(,.*)$")
    if not head or rest:gsub(",%d%d%d", "") ~= "" then
      return nil, describe(v) .. " has misplaced thousands separators (write 39,000 or 39000)"
    end
    int = int:gsub(",", "")
  end
  if frac ~= "" then
    local f = frac:match("^%.(%d+)$")
    if not f then
      return nil, describe(v) .. NOT_AMOUNT
    end
    if find(f, "[1-9]") then
      return nil, describe(v) .. " has a fraction, and won has no minor unit (round it before formatting)"
    end
  end
  int = int:gsub("^0+", "")
  if int == "" then return "", "0" end
  return sign == "-" and "-" or "", int
end

local function group(d)
  local head = #d % 3
  if head == 0 then head = 3 end
  local parts = { sub(d, 1, head) }
  for i = head + 1, #d, 3 do parts[#parts + 1] = sub(d, i, i + 2) end
  return concat(parts, ",")
end

local NO_OPTS = {}

--- Group an integer by thousands: `39000` → `"39,000"`.
-- @tparam number|string v an integral number within ±(2^53 - 1), or a string of digits of any
-- length, optionally signed, grouped by commas (`"39,000"`) and with a zero fraction (`"39000.00"`)
-- @tparam[opt] table opts `field` (the name in errors)
-- @treturn string the grouped number, or nil and a `BAD_VALUE` error saying why (a fraction
-- other than zero, a number beyond 2^53 - 1, text that is not a number, nil)
function _M.number(v, opts)
  local field = options(opts, NO_OPTS, "number")
  local sign, d = amount_digits(v)
  if not sign then return bad(field, d) end
  return sign .. group(d)
end

--- Format a won amount: `39000` → `"39,000원"`, `-39000` → `"-39,000원"`, `0` → `"0원"`.
-- Won has no minor unit, so an amount with a fraction is refused rather than rounded.
-- @tparam number|string v as for `number`
-- @tparam[opt] table opts `field` (the name in errors)
-- @treturn string the amount, or nil and a `BAD_VALUE` error saying why
function _M.won(v, opts)
  local field = options(opts, NO_OPTS, "won")
  local sign, d = amount_digits(v)
  if not sign then return bad(field, d) end
  return sign .. group(d) .. "원"
end

------------------------------------------------------------------------------------------------
-- Dates and times in KST

local KST = 9 * 3600          -- Korea has kept UTC+9 without daylight saving since 1988
local WEEKDAY = { [0] = "일", "월", "화", "수", "목", "금", "토" }
local MONTH_DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }
-- 0001-01-01T00:00:00 KST and 9999-12-31T23:59:59 KST in epoch seconds
local MIN_EPOCH, MAX_EPOCH = -62135596800 - KST, 253402300799 - KST

local function leap(y) return y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0) end

local function month_days(y, m)
  if m == 2 and leap(y) then return 29 end
  return MONTH_DAYS[m]
end

-- Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's algorithms, in
-- floor divisions so that doubles and integers give the same numbers).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = m > 2 and m - 3 or m + 9
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = floor(z / 146097)
  local doe = z - era * 146097
  local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
  local mp = floor((5 * doy + 2) / 153)
  local d = doy - floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y, m, d
end

local function from_epoch(t)
  if t ~= t or t < MIN_EPOCH or t > MAX_EPOCH then
    return nil, describe(t) .. " is outside the years 1 to 9999 (epoch seconds expected)"
  end
  t = floor(t) + KST
  local days = floor(t / 86400)
  local secs = t - days * 86400
  local y, m, d = civil_from_days(days)
  local hour = floor(secs / 3600)
  local min = floor((secs - hour * 3600) / 60)
  return { year = y, month = m, day = d, hour = hour, min = min, sec = secs - hour * 3600 - min * 60,
           wday = (days + 4) % 7 }
end

-- Check civil fields; returns the KST time as a table (with wday), or nil and the reason.
-- `offset` (seconds east of UTC) converts a time given in another zone.
local function civil(y, m, d, hour, min, sec, offset, what)
  if y < 1 or y > 9999 then return nil, string.format("%s has the year %d (1 to 9999)", what, y) end
  if m < 1 or m > 12 then return nil, string.format("%s has the month %d (1 to 12)", what, m) end
  if d < 1 or d > month_days(y, m) then
    return nil, string.format("%s has the day %d, and %04d-%02d has %d days", what, d, y, m, month_days(y, m))
  end
  local function out(name, n, hi) return string.format("%s has the %s %d (0 to %d)", what, name, n, hi) end
  if hour and (hour < 0 or hour > 23) then return nil, out("hour", hour, 23) end
  if min and (min < 0 or min > 59) then return nil, out("minute", min, 59) end
  if sec and (sec < 0 or sec > 59) then return nil, out("second", sec, 59) end
  local days = days_from_civil(y, m, d)
  if hour == nil then
    return { year = y, month = m, day = d, wday = (days + 4) % 7 }
  end
  if offset == nil then offset = KST end
  return from_epoch(days * 86400 + hour * 3600 + min * 60 + (sec or 0) - offset)
end

local function integral(v) return type(v) == "number" and floor(v) == v end

local ISO_HINT = " (ISO 8601 such as 2026-12-07, 2026-12-07T15:05:00+09:00 or 2026-12-07T06:05:00Z, "
  .. "or @epoch-seconds)"

local function from_string(v)
  local s = v:match("^%s*(.-)%s*$")
  local epoch = s:match("^@(%-?%d+)$")
  if epoch then return from_epoch(tonumber(epoch)) end
  local y, mo, d, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then return nil, describe(v) .. " is not a date" .. ISO_HINT end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if rest == "" then return civil(y, mo, d, nil, nil, nil, nil, describe(v)) end
  local hh, mi, more = rest:match("^[Tt ](%d%d):(%d%d)(.*)$")
  if not hh then return nil, describe(v) .. " is not a date" .. ISO_HINT end
  local ss = 0
  local s2, after = more:match("^:(%d%d)(.*)$")
  if s2 then
    ss, more = tonumber(s2), after
    more = more:match("^[.,]%d+(.*)$") or more   -- fractions of a second are dropped
  end
  local offset
  if more == "Z" or more == "z" then
    offset = 0
  elseif more ~= "" then
    local sign, oh, om = more:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then sign, oh = more:match("^([+-])(%d%d)$"); om = "00" end
    if not sign then return nil, describe(v) .. " has an unreadable UTC offset" .. ISO_HINT end
    oh, om = tonumber(oh), tonumber(om)
    if oh > 23 or om > 59 then
      return nil, describe(v) .. " has the UTC offset " .. more .. ", out of range"
    end
    offset = (oh * 3600 + om * 60) * (sign == "-" and -1 or 1)
  end
  -- no offset: a wall-clock time in Korea, the zone these notices speak
  return civil(y, mo, d, tonumber(hh), tonumber(mi), ss, offset, describe(v))
end

local TABLE_KEYS = { year = true, month = true, day = true, hour = true, min = true, sec = true,
  wday = true, yday = true, isdst = true }

local function from_table(v)
  for k in pairs(v) do
    if not TABLE_KEYS[k] then
      return nil, "has the unknown key " .. tostring(k) .. " (year, month, day, hour, min, sec)"
    end
  end
  for _, k in ipairs({ "year", "month", "day" }) do
    if not integral(v[k]) then return nil, "has no integral " .. k end
  end
  for _, k in ipairs({ "hour", "min", "sec" }) do
    if v[k] ~= nil and not integral(v[k]) then return nil, "has a " .. k .. " that is not an integer" end
  end
  if v.hour == nil and (v.min ~= nil or v.sec ~= nil) then return nil, "has minutes but no hour" end
  local min = v.min
  if v.hour ~= nil and min == nil then min = 0 end
  return civil(v.year, v.month, v.day, v.hour, min, v.sec, nil, "the date")
end

--- The KST (UTC+9) calendar fields of a moment, whatever the machine's time zone.
-- @tparam number|string|table v epoch seconds (a number; fractions are dropped); a string in
-- ISO 8601 extended form: `2026-12-07`, `2026-12-07T15:05`, `2026-12-07T15:05:00+09:00`,
-- `2026-12-07T06:05:00Z`, `2026-12-07 15:05:00.250-05:00` (with no offset the time is taken as
-- KST; a date alone has no time of day), or `@1796623500` (epoch seconds as text); or a table
-- `{ year, month, day [, hour [, min [, sec]]] }` holding a KST wall-clock time
-- @tparam[opt] table opts `field` (the name in errors)
-- @treturn table `{ year, month, day, wday (0 = Sunday), hour, min, sec }` (no hour, min or sec
-- for a date alone), or nil and a `BAD_VALUE` error
function _M.kst(v, opts)
  local field = options(opts, NO_OPTS, "kst")
  local t, why
  if type(v) == "number" then t, why = from_epoch(v)
  elseif type(v) == "string" then t, why = from_string(v)
  elseif type(v) == "table" then t, why = from_table(v)
  else why = "is " .. (v == nil and "missing" or "a " .. type(v)) .. ", not a date" end
  if not t then return bad(field, why) end
  return t
end

local function pad2(n) return string.format("%02d", n) end
local function plain(n) return string.format("%d", n) end

-- token letter -> { needs a time of day, function(t, unpadded) }
local TOKENS = {
  Y = { false, function(t) return string.format("%04d", t.year) end },
  m = { false, function(t, u) return (u and plain or pad2)(t.month) end },
  d = { false, function(t, u) return (u and plain or pad2)(t.day) end },
  a = { false, function(t) return WEEKDAY[t.wday] end },
  A = { false, function(t) return WEEKDAY[t.wday] .. "요일" end },
  H = { true, function(t, u) return (u and plain or pad2)(t.hour) end },
  I = { true, function(t, u)
    local h = t.hour % 12
    return (u and plain or pad2)(h == 0 and 12 or h)
  end },
  p = { true, function(t) return t.hour < 12 and "오전" or "오후" end },
  M = { true, function(t, u) return (u and plain or pad2)(t.min) end },
  S = { true, function(t, u) return (u and plain or pad2)(t.sec) end },
}

--- The default patterns of `date`, `time` and `datetime`.
_M.patterns = {
  date = "%Y년 %-m월 %-d일 (%a)",
  time = "%p %-I:%M",
  datetime = "%Y년 %-m월 %-d일 (%a) %p %-I:%M",
}

-- Check a pattern; returns whether it needs a time of day, or nil and the reason.
local function check_pattern(p)
  if type(p) ~= "string" then return nil, "a pattern must be a string" end
  local needs, why = false, nil
  for flag, letter in p:gmatch("%%(%-?)(.?)") do
    if (letter ~= "%" or flag ~= "") and not TOKENS[letter] then
      why = why or ("unknown pattern token %" .. flag .. letter .. " (known: %Y %m %d %a %A %H %I %p %M %S, "
        .. "%-m for no zero padding, %% for %)")
    elseif letter ~= "%" then
      needs = needs or TOKENS[letter][1]
    end
  end
  if why then return nil, why end
  return needs
end

local function render(t, p)
  return (p:gsub("%%(%-?)(.)", function(flag, letter)
    if letter == "%" then return "%" end
    return TOKENS[letter][2](t, flag == "-")
  end))
end

local DATE_OPTS = { pattern = true }

local function datelike(kind, v, opts)
  local field = options(opts, DATE_OPTS, kind)
  local p = opts and opts.pattern or _M.patterns[kind]
  local needs, why = check_pattern(p)
  if needs == nil then error("format." .. kind .. ": " .. why, 3) end
  local t, err = _M.kst(v, { field = field })
  if not t then return nil, err end
  if needs and t.hour == nil then
    return bad(field, describe(v) .. " is a date without a time of day")
  end
  return render(t, p)
end

--- Format a date in Korean, in KST: `"2026년 12월 7일 (월)"`.
-- @tparam number|string|table v a moment, as for `kst`
-- @tparam[opt] table opts `pattern` (default `_M.patterns.date`, `"%Y년 %-m월 %-d일 (%a)"`):
-- `%Y` year, `%m` month and `%d` day (two digits; `%-m`, `%-d` without the zero), `%a` weekday
-- (`월`), `%A` (`월요일`), `%H` hour 00-23, `%I` hour 01-12, `%p` `오전`/`오후`, `%M` minute,
-- `%S` second (each with `-` for no zero padding), `%%` a percent sign; an unknown token raises.
-- `field` (the name in errors).
-- @treturn string the date, or nil and a `BAD_VALUE` error
function _M.date(v, opts) return datelike("date", v, opts) end

--- Format a time of day in Korean, in KST, on a 12-hour clock: `"오후 3:05"`; midnight is
-- `"오전 12:00"` and noon `"오후 12:00"`.
-- @tparam number|string|table v a moment with a time of day, as for `kst`
-- @tparam[opt] table opts `pattern` (default `"%p %-I:%M"`, tokens as for `date`), `field`
-- @treturn string the time, or nil and a `BAD_VALUE` error (also for a date without a time)
function _M.time(v, opts) return datelike("time", v, opts) end

--- Format a date and time in Korean, in KST: `"2026년 12월 7일 (월) 오후 3:05"`.
-- @tparam number|string|table v a moment with a time of day, as for `kst`
-- @tparam[opt] table opts `pattern` (default `"%Y년 %-m월 %-d일 (%a) %p %-I:%M"`), `field`
-- @treturn string the date and time, or nil and a `BAD_VALUE` error
function _M.datetime(v, opts) return datelike("datetime", v, opts) end

------------------------------------------------------------------------------------------------
-- Characters as a reader sees them

-- The code point at byte i of valid UTF-8, and its length.
local function code_point(s, i)
  local c = byte(s, i)
  if c < 0x80 then return c, 1 end
  if c < 0xE0 then return (c - 0xC0) * 64 + byte(s, i + 1) - 0x80, 2 end
  if c < 0xF0 then return ((c - 0xE0) * 64 + byte(s, i + 1) - 0x80) * 64 + byte(s, i + 2) - 0x80, 3 end
  return (((c - 0xF0) * 64 + byte(s, i + 1) - 0x80) * 64 + byte(s, i + 2) - 0x80) * 64
    + byte(s, i + 3) - 0x80, 4
end

-- Code points that belong to the character before them: combining marks, Hangul medial and final
-- jamo, variation selectors, emoji skin tones, tag characters, joiners.
local EXTEND = {
  { 0x0300, 0x036F }, { 0x0483, 0x0489 }, { 0x0591, 0x05BD }, { 0x0610, 0x061A }, { 0x064B, 0x065F },
  { 0x1160, 0x11FF }, { 0x1AB0, 0x1AFF }, { 0x1DC0, 0x1DFF }, { 0x200C, 0x200D }, { 0x20D0, 0x20FF },
  { 0x302A, 0x302F }, { 0x3099, 0x309A }, { 0xD7B0, 0xD7FF }, { 0xFE00, 0xFE0F }, { 0xFE20, 0xFE2F },
  { 0x1F3FB, 0x1F3FF }, { 0xE0020, 0xE007F }, { 0xE0100, 0xE01EF },
}

local function extends(cp)
  if cp < 0x0300 then return false end
  for _, r in ipairs(EXTEND) do
    if cp < r[1] then return false end
    if cp <= r[2] then return true end
  end
  return false
end

local function pictographic(cp)
  return (cp >= 0x2190 and cp <= 0x2BFF) or (cp >= 0x1F000 and cp <= 0x1FAFF)
end

local function regional(cp) return cp >= 0x1F1E6 and cp <= 0x1F1FF end

-- The end byte of each user-perceived character of valid UTF-8 `s`: a simplified form of
-- Unicode's extended grapheme clusters (UAX #29) covering what Korean notices meet: a letter
-- with its combining marks, decomposed Hangul syllables, emoji with skin tones, variation
-- selectors and ZWJ sequences, flags (regional indicator pairs), CR LF.
local function clusters(s)
  local ends = {}
  local n, i = 0, 1
  local after_zwj, open_flag = false, false
  while i <= #s do
    local cp, len = code_point(s, i)
    local join = n > 0 and (extends(cp) or (after_zwj and pictographic(cp)) or (open_flag and regional(cp))
      or (cp == 10 and byte(s, i - 1) == 13))
    if join then
      open_flag = false
    else
      n = n + 1
      open_flag = regional(cp)
    end
    ends[n] = i + len - 1
    after_zwj = cp == 0x200D
    i = i + len
  end
  return ends
end

local function utf8_text(v, field, what)
  if type(v) ~= "string" then
    return nil, select(2, bad(field, "is " .. (v == nil and "missing" or "a " .. type(v)) .. ", not "
      .. what))
  end
  local valid, at = measure(v)
  if not valid then
    return nil, select(2, bad(field, "is not valid UTF-8 (at byte " .. at .. ")", "BAD_UTF8"))
  end
  return v
end

------------------------------------------------------------------------------------------------
-- Masking

-- word separators kept as they are: ASCII spaces and punctuation, the middle dot of
-- transliterated foreign names (마이클·잭슨)
local function separator(piece)
  return piece == "·" or (#piece == 1 and find(piece, "^[%s%-%.,'_]$") ~= nil)
end

local MASK_OPTS = { mask = true }

--- Mask a person's name, keeping its length: `홍길동` → `홍*동`, `남궁민수` → `남**수`,
-- `김철` → `김*`, a one-character name `김` → `*`. A name of one word keeps its first and last
-- characters (two characters keep the first); a name of several words (`John Smith`, split at
-- spaces, `-`, `.`, `,`, `'`, `_` and `·`, which are kept) keeps the first character of each
-- word: `J*** S****`. Characters are what a reader sees: a letter with its combining marks or
-- an emoji sequence is masked as one, and a code point is never split.
-- @tparam string v the name (surrounding spaces are dropped)
-- @tparam[opt] table opts `mask` (the masking character, default `"*"`), `field`
-- @treturn string the masked name, or nil and a `BAD_VALUE` (not a string, empty) or
-- `BAD_UTF8` error
function _M.mask_name(v, opts)
  local field = options(opts, MASK_OPTS, "mask_name")
  local mask = opts and opts.mask or "*"
  if type(mask) ~= "string" then error("format.mask_name: mask must be a string", 2) end
  local s, err = utf8_text(v, field, "a name")
  if not s then return nil, err end
  s = s:match("^%s*(.-)%s*$")
  if s == "" then return bad(field, "is an empty name") end
  local words, cur = {}, nil
  local start = 1
  for _, e in ipairs(clusters(s)) do
    local piece = sub(s, start, e)
    start = e + 1
    if separator(piece) then
      words[#words + 1] = piece
      cur = nil
    else
      if not cur then cur = {}; words[#words + 1] = cur end
      cur[#cur + 1] = piece
    end
  end
  local nwords = 0
  for _, w in ipairs(words) do if type(w) == "table" then nwords = nwords + 1 end end
  local out = {}
  for _, w in ipairs(words) do
    if type(w) == "string" then
      out[#out + 1] = w
    elseif nwords == 1 then
      local n = #w
      if n == 1 then out[#out + 1] = mask
      elseif n == 2 then out[#out + 1] = w[1] .. mask
      else out[#out + 1] = w[1] .. string.rep(mask, n - 2) .. w[n] end
    else
      out[#out + 1] = w[1] .. string.rep(mask, #w - 1)
    end
  end
  return concat(out)
end

--- Mask the middle of a Korean phone number: `01012345678`, `010-1234-5678` or
-- `+82 10-1234-5678` → `010-****-5678`; `011-123-4567` → `011-***-4567`; landlines too
-- (`02-123-4567` → `02-***-4567`, `031-1234-5678` → `031-****-5678`). Mobile numbers are read by
-- `alimtalk.phone.parse` (every spelling it accepts), landlines by `alimtalk.phone.sender`.
-- @tparam string v the number as typed
-- @tparam[opt] table opts `mask` (default `"*"`), `field`
-- @treturn string the masked number in national form with dashes, or nil and a `BAD_PHONE` error
function _M.mask_phone(v, opts)
  local field = options(opts, MASK_OPTS, "mask_phone")
  local mask = opts and opts.mask or "*"
  if type(mask) ~= "string" then error("format.mask_phone: mask must be a string", 2) end
  local phone = require "alimtalk.phone"
  if type(v) ~= "string" then
    return bad(field, "is " .. (v == nil and "missing" or "a " .. type(v)) .. ", not a phone number "
      .. "(give it as text: a number loses its leading 0)", "BAD_PHONE")
  end
  local p = phone.parse(v, { field = field })
  local d = p and p.national
  if not d then
    d = phone.sender(v, field)
    if d and sub(d, 1, 1) ~= "0" then d = nil end   -- 15xx-xxxx: a company's number
  end
  if not d then
    return bad(field, describe(v) .. " is not a Korean mobile or landline number", "BAD_PHONE")
  end
  local area = (sub(d, 1, 2) == "02" and 2) or (sub(d, 1, 3) == "050" and #d == 12 and 4) or 3
  local middle = #d - area - 4
  return sub(d, 1, area) .. "-" .. string.rep(mask, middle) .. "-" .. sub(d, -4)
end

------------------------------------------------------------------------------------------------
-- Cutting

-- unit -> which of core.measure_fields' results counts it
local UNITS = { chars = 3, bytes = 4, cp949 = 5 }

local function amount(s, which)
  return (select(which, measure(s)))
end

local CUT_OPTS = { unit = true, ellipsis = true }

--- Cut a text to a limit, in the limit's own unit, ending it with an ellipsis.
-- A text within the limit comes back unchanged. Otherwise the result, ellipsis included, fits
-- the limit: as many whole characters as fit (trailing spaces dropped) and the ellipsis; when
-- not even one character fits beside the ellipsis, as many characters as fit without it (so a
-- limit of 1 keeps the first character, and a limit smaller than that gives `""`). A code point
-- is never split, nor a letter from its combining marks, a Hangul syllable from its jamo or an
-- emoji sequence. Sizes are measured by the C core as the validators measure them
-- (`alimtalk.core.measure_fields`): in `cp949` a character with no EUC-KR encoding counts 0
-- bytes (`alimtalk.sms.plan` reports such characters).
-- @tparam string text the text
-- @tparam integer limit the most the result may hold (0 or more)
-- @tparam[opt] table opts `unit`: `"chars"` (code points, as Kakao counts; the default),
-- `"bytes"` (UTF-8 bytes, API PLEX and SENS byte limits) or `"cp949"` (EUC-KR bytes, SMS/LMS);
-- `ellipsis` (default `"…"`, one character, 3 UTF-8 bytes, 2 EUC-KR bytes; `""` for none);
-- `field` (the name in errors)
-- @treturn string the text, or nil and a `BAD_VALUE` (not a string) or `BAD_UTF8` error
function _M.cut(text, limit, opts)
  local field = options(opts, CUT_OPTS, "cut")
  if not integral(limit) or limit < 0 then error("format.cut: limit must be an integer >= 0", 2) end
  local unit = opts and opts.unit or "chars"
  local which = UNITS[unit]
  if not which then error("format.cut: unit must be chars, bytes or cp949, not " .. tostring(unit), 2) end
  local ellipsis = opts and opts.ellipsis or "…"
  if type(ellipsis) ~= "string" or not measure(ellipsis) then
    error("format.cut: ellipsis must be a UTF-8 string", 2)
  end
  local s, err = utf8_text(text, field, "text")
  if not s then return nil, err end
  if amount(s, which) <= limit then return s end
  local ends = clusters(s)
  -- the most characters (a prefix of k of them) whose size plus `extra` fits: sizes grow with k
  local function most(extra)
    local lo, hi = 0, #ends - 1            -- the whole text is known not to fit
    while lo < hi do
      local mid = floor((lo + hi + 1) / 2)
      if amount(sub(s, 1, ends[mid]), which) + extra <= limit then lo = mid else hi = mid - 1 end
    end
    return lo
  end
  local e = amount(ellipsis, which)
  local k = e <= limit and most(e) or 0
  if k == 0 then
    k = most(0)
    return k > 0 and sub(s, 1, ends[k]) or ""
  end
  local kept = sub(s, 1, ends[k]):gsub("%s+$", "")
  if kept == "" then return sub(s, 1, ends[most(0)]) end
  return kept .. ellipsis
end

------------------------------------------------------------------------------------------------
-- By name (the CLI's --format, policies' tables of formatters)

local NAMED = {
  won = { fn = _M.won }, number = { fn = _M.number },
  date = { fn = _M.date, pattern = true }, time = { fn = _M.time, pattern = true },
  datetime = { fn = _M.datetime, pattern = true },
  mask_name = { fn = _M.mask_name }, mask_phone = { fn = _M.mask_phone },
  cut = { fn = _M.cut, cut = true },
}

--- The names `formatter` knows.
_M.names = { "won", "number", "date", "time", "datetime", "mask_name", "mask_phone", "cut" }

--- A formatter by name, with its argument after a colon: `"won"`, `"date"`, `"date:%Y.%m.%d"`
-- (a pattern, as for `date`), `"cut:20"` (characters), `"cut:90:cp949"`, `"cut:64:bytes"`.
-- @tparam string spec the name and argument
-- @treturn function `f(value, field)` returning the formatted string or nil and an error
-- naming `field`; or nil and a message saying what is wrong with `spec`
function _M.formatter(spec)
  if type(spec) ~= "string" then return nil, "a formatter name must be a string" end
  local name, arg = spec:match("^([%w_]+):(.*)$")
  if not name then name = spec end
  local f = NAMED[name]
  if not f then
    return nil, "unknown formatter '" .. name .. "' (known: " .. concat(_M.names, ", ") .. ")"
  end
  if f.pattern then
    if arg == nil then return function(v, field) return f.fn(v, { field = field }) end end
    if arg == "" then return nil, "formatter " .. name .. ": the pattern after ':' is empty" end
    local needs, why = check_pattern(arg)
    if needs == nil then return nil, "formatter " .. name .. ": " .. why end
    return function(v, field) return f.fn(v, { field = field, pattern = arg }) end
  end
  if f.cut then
    local n, unit = (arg or ""):match("^(%d+)(.*)$")
    unit = unit and unit:match("^:(.+)$") or (unit == "" and "chars") or nil
    if not n or not UNITS[unit] then
      return nil, "formatter cut needs a limit and optionally a unit: cut:20, cut:90:cp949, cut:64:bytes "
        .. "(units chars, bytes, cp949)"
    end
    n = tonumber(n)
    return function(v, field) return _M.cut(v, n, { field = field, unit = unit }) end
  end
  if arg ~= nil then return nil, "formatter " .. name .. " takes no argument" end
  return function(v, field) return f.fn(v, { field = field }) end
end

return _M
