--- Text measures the providers' limits are written in (runs in nginx's LuaJIT).
-- Characters are Unicode code points of UTF-8 text; bytes are UTF-8 bytes.
-- @module alimtalk.sandbox.emu.text
local _M = {}

local find, gsub, byte = string.find, string.gsub, string.byte

--- Number of code points in UTF-8 text.
function _M.chars(s)
  if not find(s, "[\128-\255]") then return #s end
  local _, n = gsub(s, "[^\128-\191]", "")
  return n
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

--- True when the string is well-formed UTF-8.
function _M.valid_utf8(s)
  if not find(s, "[\128-\255]") then return true end
  local i, n = 1, #s
  while i <= n do
    local c = byte(s, i)
    local len
    if c < 0x80 then len = 1
    elseif c >= 0xC2 and c <= 0xDF then len = 2
    elseif c >= 0xE0 and c <= 0xEF then len = 3
    elseif c >= 0xF0 and c <= 0xF4 then len = 4
    else return false end
    for j = i + 1, i + len - 1 do
      local cc = byte(s, j)
      if not cc or cc < 0x80 or cc > 0xBF then return false end
    end
    i = i + len
  end
  return true
end

--- Korean mobile number check: 01x followed by 7 or 8 digits (or the same with 82 in front).
-- @treturn string|nil the national form `01...` or nil
function _M.kr_mobile(s)
  if type(s) ~= "string" then return nil end
  local d = s:gsub("[%-%s]", "")
  d = d:gsub("^%+", "")
  if d:find("^82") then d = "0" .. d:sub(3) end
  if d:find("^01[016789]%d%d%d%d%d%d%d%d?$") then return d end
  return nil
end

return _M
