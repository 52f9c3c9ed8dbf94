--- Send windows for FriendTalk and advertising messages, in Korea time (KST, UTC+9, no DST).
-- Kakao refuses FriendTalk/marketing messages outside 08:00-20:00 with code 3022 (seed 001);
-- Sinch allows FriendTalk 08:00-21:00 (seed 002); Alcmeon blocks FriendTalk outside
-- 09:00-20:00 (seed 000). The window is half-open: a message at exactly the closing time is
-- outside. AlimTalk (informational) messages have no window.
-- @module alimtalk.sendwindow
local errors = require "alimtalk.errors"

local _M = {}

local KST = 9 * 3600
local floor = math.floor

-- integer division that also parses on LuaJIT (no // operator there)
local function idiv(a, b) return floor(a / b) end

--- Default windows per provider, as `{ open, close }` in minutes after midnight KST.
-- Edit this table (or pass `opts.window`) to configure.
_M.windows = {
  sens = { 8 * 60, 20 * 60 },
  bizmessage = { 8 * 60, 20 * 60 },
  apiplex = { 8 * 60, 20 * 60 },
  sinch = { 8 * 60, 21 * 60 },
  alcmeon = { 9 * 60, 20 * 60 },
}

-- Kinds of message subject to a window.
_M.kinds = { friendtalk = true, advertising = true, alimtalk = false }

local KAKAO_CODE = { sens = "3022", bizmessage = "3022", apiplex = "3022" }

local function parse_hhmm(s)
  if type(s) == "number" then return s end
  local h, m = tostring(s):match("^(%d%d?):(%d%d)$")
  if not h then error("sendwindow: bad time " .. tostring(s) .. " (want HH:MM)", 3) end
  return tonumber(h) * 60 + tonumber(m)
end

local function hhmm(minutes)
  return string.format("%02d:%02d", idiv(minutes, 60) % 24, minutes % 60)
end

--- Format an epoch time as KST `yyyy-mm-dd HH:MM`.
function _M.kst(epoch)
  return os.date("!%Y-%m-%d %H:%M", math.floor(epoch) + KST)
end

--- Check whether a message of a kind may be sent now.
-- @tparam string kind `"friendtalk"`, `"advertising"` or `"alimtalk"` (always allowed)
-- @tparam string provider `sens`, `bizmessage`, `apiplex`, `sinch`, `alcmeon`
-- @tparam[opt] number now epoch seconds (default `os.time()`)
-- @tparam[opt] table opts `window` = `{ "08:00", "20:00" }` (or minutes) overriding the default,
-- `field` (path used in the error, default `"kind"`)
-- @treturn boolean true, or nil and an error `OUTSIDE_SEND_WINDOW` (provider_code "3022" for the
-- Kakao-run providers) with `next_allowed` (epoch seconds of the next opening)
function _M.check(kind, provider, now, opts)
  if _M.kinds[kind] == nil then error("sendwindow.check: unknown kind " .. tostring(kind), 2) end
  if not _M.kinds[kind] then return true end
  local w = opts and opts.window or _M.windows[provider]
  if not w then error("sendwindow.check: unknown provider " .. tostring(provider), 2) end
  local open, close = parse_hhmm(w[1]), parse_hhmm(w[2])
  now = math.floor(now or os.time())
  local local_s = now + KST
  local day_start = local_s - local_s % 86400 -- midnight KST, in "KST seconds"
  local minute = (local_s % 86400) / 60
  if minute >= open and minute < close then return true end
  local next_local = day_start + open * 60
  if minute >= open then next_local = next_local + 86400 end
  local next_allowed = next_local - KST
  return nil, errors.new{ code = "OUTSIDE_SEND_WINDOW", field = opts and opts.field or "kind",
    provider_code = KAKAO_CODE[provider], next_allowed = next_allowed,
    limit = hhmm(open) .. "-" .. hhmm(close), actual = _M.kst(now):sub(12),
    message = string.format("%s messages via %s may be sent %s-%s KST only; it is %s KST; next allowed "
      .. "%s KST", kind, provider, hhmm(open), hhmm(close), _M.kst(now), _M.kst(next_allowed)) }
end

--- Fixed UTC offsets (seconds) of the zones whose reservations can be checked: zones without
-- daylight saving time. Other TZ database names are accepted (see `zone_known`) but their
-- reservations are not checked against the clock or the send window.
_M.offsets = {
  ["Asia/Seoul"] = KST, ["Asia/Tokyo"] = KST, ["Asia/Pyongyang"] = KST,
  ["Asia/Shanghai"] = 8 * 3600, ["Asia/Hong_Kong"] = 8 * 3600, ["Asia/Taipei"] = 8 * 3600,
  ["Asia/Singapore"] = 8 * 3600, ["Asia/Manila"] = 8 * 3600,
  ["Asia/Bangkok"] = 7 * 3600, ["Asia/Ho_Chi_Minh"] = 7 * 3600, ["Asia/Jakarta"] = 7 * 3600,
  ["Asia/Kolkata"] = 19800,
  UTC = 0, ["Etc/UTC"] = 0, GMT = 0, ["Etc/GMT"] = 0,
}

--- The directory holding the host's TZ database (binary TZif files).
_M.zoneinfo = "/usr/share/zoneinfo"

--- Whether a zone is a TZ database name: in the offset table, or a TZif file under
-- `zoneinfo` (the name is checked for shape first, so it cannot leave that directory).
-- @tparam string zone
-- @treturn boolean
function _M.zone_known(zone)
  if type(zone) ~= "string" then return false end
  if _M.offsets[zone] then return true end
  if not zone:match("^%a[%w_%+%-]*$") and not zone:match("^%a[%w_%+%-]*/[%w_%+%-/]+$") then
    return false
  end
  if zone:find("..", 1, true) or zone:find("//", 1, true) or zone:sub(-1) == "/" then return false end
  local f = io.open(_M.zoneinfo .. "/" .. zone, "rb")
  if not f then return false end
  local magic = f:read(4)
  f:close()
  return magic == "TZif"
end

local DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

local function leap(y)
  return (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
end

--- Parse a reservation time `yyyy-MM-dd HH:mm` as a wall-clock time: seconds since
-- 1970-01-01 00:00 of that wall clock (add a zone offset to get epoch seconds).
-- @treturn number seconds, or nil and "format" (not yyyy-MM-dd HH:mm) or "date" (no such day
-- or time, e.g. 2026-02-30 or 24:00)
function _M.parse_wallclock(s)
  if type(s) ~= "string" then return nil, "format" end
  local y, mo, d, h, mi = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d) (%d%d):(%d%d)$")
  if not y then return nil, "format" end
  y, mo, d, h, mi = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi)
  if mo < 1 or mo > 12 or h > 23 or mi > 59 then return nil, "date" end
  local dim = (mo == 2 and leap(y)) and 29 or DAYS[mo]
  if d < 1 or d > dim then return nil, "date" end
  -- days from civil (proleptic Gregorian), independent of the host's time zone
  local yy = mo <= 2 and y - 1 or y
  local era = idiv(yy >= 0 and yy or yy - 399, 400)
  local yoe = yy - era * 400
  local mp = (mo + 9) % 12
  local doy = idiv(153 * mp + 2, 5) + d - 1
  local doe = yoe * 365 + idiv(yoe, 4) - idiv(yoe, 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + h * 3600 + mi * 60
end

--- Parse a reservation time `yyyy-MM-dd HH:mm` in a zone to epoch seconds.
-- Only the zones in `offsets` can be converted.
-- @treturn number epoch seconds, or nil and the reason: "format", "date" (no such day or
-- time), "zone" (not a zone in `offsets`)
function _M.parse_reserve(s, zone)
  local t, why = _M.parse_wallclock(s)
  if not t then return nil, why end
  local off = _M.offsets[zone or "Asia/Seoul"]
  if not off then return nil, "zone" end
  return t - off
end

return _M
