--- Text measures the providers' limits are written in (runs in nginx's LuaJIT: uses FFI).
-- Characters are Unicode code points of UTF-8 text; bytes are UTF-8 bytes.
-- @module alimtalk.sandbox.emu.text
local _M = {}

local ffi = require "ffi"

local find, gsub, byte = string.find, string.gsub, string.byte
local cast, u8p = ffi.cast, ffi.typeof("const uint8_t *")

--- Number of code points in UTF-8 text.
function _M.chars(s)
  if not find(s, "[\128-\255]") then return #s end
  -- every byte but the continuation bytes (0x80-0xBF) starts a code point; a byte loop is
  -- compiled by LuaJIT, a gsub building a throwaway string is not
  local n = 0
  for i = 1, #s do
    local b = byte(s, i)
    if b < 0x80 or b > 0xBF then n = n + 1 end
  end
  return n
end

--- Is `s` longer than `limit` code points? A string of at most `limit` bytes never is, so
-- the usual short text is not counted at all.
function _M.over(s, limit)
  return #s > limit and _M.chars(s) > limit
end

--- Number of lines (1 + newlines).
function _M.lines(s)
  local _, n = gsub(s, "\n", "")
  return n + 1
end

--- Longest line in code points.
function _M.longest_line(s)
  local m = 0
  for line in (s .. "\n"):gmatch("(.-)\n") do
    local c = _M.chars(line)
    if c > m then m = c end
  end
  return m
end

--- True when the string is well-formed UTF-8 (lead bytes C2-DF, E0-EF, F0-F4 followed by
-- 1, 2, 3 continuation bytes). Read through an FFI pointer, 3-byte sequences (Hangul) first:
-- this runs on every message's content.
function _M.valid_utf8(s)
  if not find(s, "[\128-\255]") then return true end
  local p, n = cast(u8p, s), #s
  local i = 0
  while i < n do
    local c = p[i]
    if c < 0x80 then
      i = i + 1
    elseif c >= 0xE0 and c <= 0xEF then
      if i + 3 > n then return false end
      local c1, c2 = p[i + 1], p[i + 2]
      if c1 < 0x80 or c1 > 0xBF or c2 < 0x80 or c2 > 0xBF then return false end
      i = i + 3
    elseif c >= 0xC2 and c <= 0xDF then
      if i + 2 > n then return false end
      local c1 = p[i + 1]
      if c1 < 0x80 or c1 > 0xBF then return false end
      i = i + 2
    elseif c >= 0xF0 and c <= 0xF4 then
      if i + 4 > n then return false end
      local c1, c2, c3 = p[i + 1], p[i + 2], p[i + 3]
      if c1 < 0x80 or c1 > 0xBF or c2 < 0x80 or c2 > 0xBF or c3 < 0x80 or c3 > 0xBF then
        return false
      end
      i = i + 4
    else
      return false
    end
  end
  return true
end

-- Is `s` exactly "01[016789]" and 7 or 8 more digits? (the pattern below, by bytes: this runs
-- for every message and the pattern matcher is not compiled)
local function national(s)
  local n = #s
  if n ~= 10 and n ~= 11 then return false end
  local a, b, c = byte(s, 1, 3)
  if a ~= 48 or b ~= 49 or not (c == 48 or c == 49 or c >= 54 and c <= 57) then return false end
  for i = 4, n do
    local d = byte(s, i)
    if d < 48 or d > 57 then return false end
  end
  return true
end

--- Korean mobile number check: 01x followed by 7 or 8 digits (or the same with 82 in front).
-- @treturn string|nil the national form `01...` or nil
function _M.kr_mobile(s)
  if type(s) ~= "string" then return nil end
  -- the usual case, already national with nothing to strip, without the gsubs below
  if national(s) then return s end
  local d = s:gsub("[%-%s]", "")
  d = d:gsub("^%+", "")
  if d:find("^82") then d = "0" .. d:sub(3) end
  if d:find("^01[016789]%d%d%d%d%d%d%d%d?$") then return d end
  return nil
end

return _M
