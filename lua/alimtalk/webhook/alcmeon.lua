--- Alcmeon KakaoTalk status webhooks: parse into delivery events.
-- Body (Alcmeon developer docs): `{"message_id", "status": "delivered"|"failed", "time",
-- "error": {"code", "errorText"}}`. Alcmeon documents no signature for these calls; when the
-- webhook URL is configured with HTTP Basic credentials, give them here and they are checked
-- in constant time (unverified against Alcmeon: make sure your endpoint also sits behind TLS).
--
--     local hook = require("alimtalk.webhook.alcmeon").new{ basic_user = "alcmeon",
--                                                           basic_password_env = "ALCMEON_HOOK_PASSWORD" }
--     local event, err = hook:parse(headers, raw_body)
--
-- @module alimtalk.webhook.alcmeon
local _M = {}

local config = require "alimtalk.config"
local core = require "alimtalk.core"
local errors = require "alimtalk.errors"
local events = require "alimtalk.events"
local common = require "alimtalk.providers.common"

local spec = { basic_user = "string", basic_password = "string", basic_password_env = "string" }

local mt = { __name = "alimtalk.webhook.alcmeon" }
local methods = {}
mt.__index = methods
mt.__tostring = function() return "alimtalk.webhook.alcmeon" end

--- Make a receiver.
-- @tparam[opt] table opts `basic_user` and `basic_password` (or `basic_password_env`) to require
--   HTTP Basic authentication
-- @treturn table receiver
function _M.new(opts)
  opts = config.check(opts, spec, "alimtalk.webhook.alcmeon")
  local self = setmetatable({ user = opts.basic_user }, mt)
  if opts.basic_user then
    local pw, perr = config.need(opts, "alcmeon_webhook", "basic_password", "ALCMEON_HOOK_PASSWORD")
    if not pw then return nil, perr end
    config.hide(self, { expected = "Basic " .. core.base64_encode(opts.basic_user .. ":" .. pw) })
  end
  return self
end

local function fail(code, message)
  return nil, errors.new{ code = code, message = message, provider = "alcmeon" }
end

--- Normalize a decoded status body (no authentication).
-- @treturn table event, or nil and an error
function _M.normalize(doc)
  local v = common.val
  local st = v(doc.status)
  if st ~= "delivered" and st ~= "failed" then
    return fail("UNSUPPORTED", "status must be delivered or failed")
  end
  local e = type(v(doc.error)) == "table" and doc.error or nil
  local code = e and common.code(e.code) or st
  return events.new{
    provider = "alcmeon", status = st, code = code,
    message = e and v(e.errorText) or st, ids = { message_id = v(doc.message_id) },
    time = v(doc.time), raw = doc,
  }
end

--- Authenticate (when configured) and parse one status webhook.
-- @treturn table event, or nil and an error: `UNAUTHORIZED`, `BAD_JSON`, `UNSUPPORTED`
function methods:parse(headers, body)
  assert(type(body) == "string", "parse: body must be the raw string")
  local expected = config.secret(self, "expected")
  if expected then
    local got = headers and common.header(headers, "authorization")
    if type(got) ~= "string" or not core.equal(got, expected) then
      return fail("UNAUTHORIZED", "missing or wrong Basic credentials")
    end
  end
  local doc = common.decode(body)
  if not doc then return fail("BAD_JSON", "body is not a JSON object") end
  return _M.normalize(doc)
end

return _M
