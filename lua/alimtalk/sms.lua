--- SMS/LMS fallback sizing.
-- Korean carriers size SMS in EUC-KR/CP949 bytes: ASCII 1 byte, Hangul and other KS X 1001
-- characters 2 bytes. An SMS holds up to 90 bytes, an LMS up to 2000 (seed 001: "SMS if 90
-- bytes or less, LMS if it exceeds 90 bytes"; reference: LMS 2000 bytes). API PLEX converts its
-- LMS fallback to EUC-KR and refuses a title over 50 bytes. Characters with no CP949 encoding
-- (emoji, many symbols) cannot travel by SMS and are reported. Counting is done by the C core
-- (`alimtalk.core.measure_fields`).
-- @module alimtalk.sms
local core = require "alimtalk.core"
local errors = require "alimtalk.errors"

local _M = {}

--- Limits in CP949 bytes. Change them here if a carrier contract says otherwise.
_M.limits = { sms = 90, lms = 2000, lms_subject = { apiplex = 50 } }

local OPTS = { type = true, subject = true, provider = true, field = true }

--- Plan the fallback message for a text.
-- @tparam string text the fallback body
-- @tparam[opt] table opts `type` (`"SMS"` | `"LMS"` to force one; default: SMS when the text
-- fits in 90 bytes, else LMS), `subject` (LMS title), `provider` (`"apiplex"` applies its 50-byte
-- LMS title limit), `field` (path prefix for errors, default `"failover"`)
-- @treturn table `{ type =, bytes =, limit =, chars =, unencodable =, first_unencodable =,
-- subject_bytes = }`, or nil and an error (`TOO_LONG` with limit/actual/unit = "bytes",
-- `UNENCODABLE` with the character position, `BAD_UTF8`, `BAD_VALUE`); `err.errors` lists all
function _M.plan(text, opts)
  if type(text) ~= "string" then error("sms.plan: text must be a string", 2) end
  local want, subject, provider, prefix = nil, nil, nil, "failover"
  if opts then
    for k in pairs(opts) do
      if not OPTS[k] then error("sms.plan: unknown option " .. tostring(k), 2) end
    end
    want, subject, provider, prefix = opts.type, opts.subject, opts.provider, opts.field or prefix
  end
  local list
  local function add(e) list = list or {}; list[#list + 1] = errors.new(e) end
  if want ~= nil and want ~= "SMS" and want ~= "LMS" then
    add{ code = "BAD_VALUE", field = prefix .. ".type", message = "failover type must be SMS or LMS",
      provider_code = provider == "sens" and "E4000" or nil }
    want = nil
  end
  local valid, bad_off, chars, _, cp949, unenc, first_unenc = core.measure_fields(text)
  if not valid then
    return nil, errors.collect{ errors.new{ code = "BAD_UTF8", field = prefix .. ".content",
      message = "text is not valid UTF-8 at byte " .. tostring(bad_off) } }
  end
  local kind = want or (cp949 <= _M.limits.sms and "SMS" or "LMS")
  local limit = kind == "SMS" and _M.limits.sms or _M.limits.lms
  if cp949 > limit then
    add{ code = "TOO_LONG", field = prefix .. ".content", limit = limit, actual = cp949, unit = "bytes",
      message = string.format("%s text is %d CP949 bytes, over the %d-byte limit", kind, cp949, limit) }
  end
  if unenc > 0 then
    add{ code = "UNENCODABLE", field = prefix .. ".content", actual = unenc, position = first_unenc,
      unit = "chars", message = string.format("%d character(s) cannot be sent by SMS/LMS (no EUC-KR "
        .. "encoding), the first at character %d", unenc, first_unenc) }
  end
  local subject_bytes
  if subject ~= nil then
    if type(subject) ~= "string" then error("sms.plan: subject must be a string", 2) end
    local sv, _, _, _, sb, su, sfirst = core.measure_fields(subject)
    subject_bytes = sb
    local slimit = _M.limits.lms_subject[provider]
    if not sv then
      add{ code = "BAD_UTF8", field = prefix .. ".subject", message = "subject is not valid UTF-8" }
    elseif slimit and sb > slimit then
      add{ code = "TOO_LONG", field = prefix .. ".subject", limit = slimit, actual = sb, unit = "bytes",
        provider_code = provider == "apiplex" and "C400_2" or nil,
        message = string.format("LMS title is %d CP949 bytes, over the %d-byte limit", sb, slimit) }
    elseif su > 0 then
      add{ code = "UNENCODABLE", field = prefix .. ".subject", actual = su, position = sfirst, unit = "chars",
        message = "LMS title has characters with no EUC-KR encoding, the first at character " .. sfirst }
    end
  end
  if list then return nil, errors.collect(list) end
  return { type = kind, bytes = cp949, limit = limit, chars = chars, unencodable = unenc,
    first_unencodable = first_unenc, subject_bytes = subject_bytes }
end

return _M
