--- Korean phone numbers, normalized the way each provider wants them.
-- Accepted inputs: `010-1234-5678`, `01012345678`, `010 1234 5678`, `(010) 1234-5678`,
-- `+82 10-1234-5678`, `+82 010-1234-5678`, `82-10-1234-5678`, `821012345678`. The country
-- code defaults to 82. AlimTalk goes to mobile numbers: 010 with 8 digits, or the old
-- 011/016/017/018/019 prefixes with 7 or 8 digits.
--
-- Per provider (seeds 001-004):
--
-- * `sens`: `to` = `01012345678` (no country code; `countryCode` "82" is sent beside it)
-- * `bizmessage`: `phone_number` = `821012345678` (country code included, text(16))
-- * `apiplex`: `receiver_number` = `01012345678`
-- * `sinch`: MSISDN `+821012345678`
-- * `alcmeon`: `+821012345678` (unverified; the seed only says AlimTalk uses the phone number)
-- @module alimtalk.phone
local errors = require "alimtalk.errors"

local _M = {}

local find, sub = string.find, string.sub

local MOBILE_PREFIX = { ["010"] = { 8 }, ["011"] = { 7, 8 }, ["016"] = { 7, 8 }, ["017"] = { 7, 8 },
  ["018"] = { 7, 8 }, ["019"] = { 7, 8 } }

local function bad(number, why, field)
  return nil, errors.new{ code = "BAD_PHONE", field = field or "to",
    message = string.format("%q is not a valid Korean mobile number: %s", tostring(number), why) }
end

local function check_opts(opts, fname)
  if opts == nil then return end
  for k in pairs(opts) do
    if k ~= "country_code" and k ~= "field" then
      error(fname .. ": unknown option " .. tostring(k), 3)
    end
  end
end

--- Parse a Korean mobile number.
-- @tparam string number as the user typed it
-- @tparam[opt] table opts `country_code` (default "82"; only 82 is understood), `field`
-- (path used in errors, default "to")
-- @treturn table `{ country_code = "82", national = "01012345678", e164 = "+821012345678" }`,
-- or nil and a `BAD_PHONE` error
function _M.parse(number, opts)
  -- fast path for the two common spellings of a 010 number
  if opts == nil and type(number) == "string" then
    local a, b = number:match("^010%-?(%d%d%d%d)%-?(%d%d%d%d)$")
    if a then
      local national = "010" .. a .. b
      return { country_code = "82", national = national, e164 = "+8210" .. a .. b }
    end
  end
  check_opts(opts, "phone.parse")
  local field = opts and opts.field
  local cc = opts and opts.country_code or "82"
  if type(number) == "number" then number = string.format("%.0f", number) end
  if type(number) ~= "string" then return bad(number, "not a string", field) end
  if cc ~= "82" then return bad(number, "only country code 82 is supported", field) end
  local s = number:gsub("^%s+", ""):gsub("%s+$", "")
  local plus = s:sub(1, 1) == "+"
  if plus then s = s:sub(2) end
  if s:find("[^%d%s%-%.%(%)]") then return bad(number, "unexpected characters", field) end
  local digits = s:gsub("[^%d]", "")
  local national
  if plus or (digits:sub(1, 2) == "82" and digits:sub(1, 1) ~= "0") then
    if digits:sub(1, 2) ~= "82" then return bad(number, "country code is not 82", field) end
    local rest = digits:sub(3)
    if rest:sub(1, 1) == "0" then national = rest else national = "0" .. rest end
  else
    national = digits
  end
  local lens = MOBILE_PREFIX[national:sub(1, 3)]
  if not lens then return bad(number, "not a mobile prefix (010, 011, 016-019)", field) end
  local sub_len = #national - 3
  if sub_len ~= lens[1] and sub_len ~= lens[2] then
    return bad(number, string.format("%d digits after the prefix", sub_len), field)
  end
  return { country_code = "82", national = national, e164 = "+82" .. national:sub(2) }
end

local FORMATS = {
  sens = function(p) return p.national end,
  apiplex = function(p) return p.national end,
  bizmessage = function(p) return "82" .. p.national:sub(2) end,
  sinch = function(p) return p.e164 end,
  alcmeon = function(p) return p.e164 end,
  e164 = function(p) return p.e164 end,
  national = function(p) return p.national end,
}

--- Normalize a recipient number for a provider.
-- @tparam string number as typed
-- @tparam string provider `sens`, `bizmessage`, `apiplex`, `sinch`, `alcmeon`, or the formats
-- `e164` / `national`
-- @tparam[opt] table opts as for `parse`
-- @treturn string the number in the provider's format, and the country code ("82"), or nil
-- and a `BAD_PHONE` error
function _M.normalize(number, provider, opts)
  local f = FORMATS[provider]
  if not f then error("phone.normalize: unknown provider " .. tostring(provider), 2) end
  if opts == nil and type(number) == "string" then
    -- the usual spelling, 010 and 8 digits, is already the national form: no captures, and
    -- SENS and API PLEX get the caller's own string back
    if #number == 11 and find(number, "^010%d+$") then
      if f == FORMATS.sens or f == FORMATS.apiplex or f == FORMATS.national then return number, "82" end
      if f == FORMATS.bizmessage then return "82" .. sub(number, 2), "82" end
      return "+82" .. sub(number, 2), "82"
    end
    local a, b = number:match("^010%-?(%d%d%d%d)%-?(%d%d%d%d)$")
    if a then
      if f == FORMATS.sens or f == FORMATS.apiplex or f == FORMATS.national then return "010" .. a .. b,
        "82" end
      if f == FORMATS.bizmessage then return "8210" .. a .. b, "82" end
      return "+8210" .. a .. b, "82"
    end
  end
  local p, err = _M.parse(number, opts)
  if not p then return nil, err end
  return f(p), p.country_code
end

--- Check a Korean sender (caller ID) number: mobile, area-code landline (02, 031..064),
-- 070 internet phone, or an 8-digit representative number (15xx, 16xx, 18xx).
-- @tparam string number as typed
-- @tparam[opt] string field path used in errors (default "from")
-- @treturn string the digits, or nil and a `BAD_PHONE` error
function _M.sender(number, field)
  field = field or "from"
  if type(number) ~= "string" then return bad(number, "not a string", field) end
  if number:find("[^%d%s%-%.%(%)]") then return bad(number, "unexpected characters", field) end
  local d = number:gsub("[^%d]", "")
  local ok = false
  if d:match("^1[568]%d%d%d%d%d%d$") then ok = true
  elseif d:match("^02%d%d%d%d%d%d%d?%d?$") and (#d == 9 or #d == 10) then ok = true
  elseif d:match("^0[3-6][1-5]%d+$") and (#d == 10 or #d == 11) then ok = true
  elseif d:match("^070%d+$") and #d == 11 then ok = true
  elseif d:match("^050%d+$") and #d >= 11 and #d <= 12 then ok = true
  elseif _M.parse(d) then ok = true end
  if not ok then
    return nil, errors.new{ code = "BAD_PHONE", field = field,
      message = string.format("%q is not a valid Korean sender number", number) }
  end
  return d
end

return _M
