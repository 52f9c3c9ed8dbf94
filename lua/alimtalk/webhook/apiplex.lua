--- API PLEX result webhooks: authenticate by echo token and parse into delivery events.
-- API PLEX posts `{"results":[{"msg_key","code","desc","request_date","done_date",
-- "echo_to_webhook","failback":{...}}]}` to the URL configured in its console, one result per
-- call, retrying up to 10 times. It documents no signature, so a receiver authenticates a call
-- by a secret echo token: send every message with `echo = token` (it travels as
-- `echo_to_webhook`, at most 256 bytes) and give the same token here; it is compared in
-- constant time. An optional `allow` list of source addresses adds a second check.
--
--     local hook = require("alimtalk.webhook.apiplex").new{ echo_token_env = "APIPLEX_ECHO_TOKEN" }
--     local events, err = hook:parse(headers, raw_body, remote_addr)
--
-- @module alimtalk.webhook.apiplex
local _M = {}

local config = require "alimtalk.config"
local core = require "alimtalk.core"
local errors = require "alimtalk.errors"
local events = require "alimtalk.events"
local common = require "alimtalk.providers.common"

local spec = { echo_token = "string", echo_token_env = "string", allow = "table" }

local mt = { __name = "alimtalk.webhook.apiplex" }
local methods = {}
mt.__index = methods
mt.__tostring = function() return "alimtalk.webhook.apiplex" end

--- Make a receiver.
-- @tparam table opts `echo_token` (or `echo_token_env`; default variable APIPLEX_ECHO_TOKEN),
--   `allow` (list of source addresses accepted; default any)
-- @treturn table receiver, or nil and a BAD_OPTION error when no token is set
function _M.new(opts)
  opts = config.check(opts, spec, "alimtalk.webhook.apiplex")
  local token, terr = config.need(opts, "apiplex_webhook", "echo_token", "APIPLEX_ECHO_TOKEN")
  if not token then return nil, terr end
  local allow
  if opts.allow then
    allow = {}
    for _, a in ipairs(opts.allow) do allow[a] = true end
  end
  local self = setmetatable({ allow = allow }, mt)
  config.hide(self, { echo_token = token })
  return self
end

local function fail(code, message)
  return nil, errors.new{ code = code, message = message, provider = "apiplex" }
end

--- Normalize one decoded result record (no authentication).
-- @treturn table event
function _M.normalize(r)
  local v = common.val
  local code = common.code(r.code)
  local status = events.status_for("apiplex", code, "failed")
  local fb = v(r.failback)
  local fallback
  if type(fb) == "table" then
    local fcode = common.code(fb.code)
    fallback = { code = fcode, message = v(fb.desc),
                 status = fcode and events.status_for("apiplex", fcode, "failed") }
  end
  return events.new{
    provider = "apiplex", status = status, code = code, message = v(r.desc),
    ids = { msg_key = v(r.msg_key) }, time = v(r.done_date) or v(r.request_date),
    requested = v(r.request_date), fallback = fallback, raw = r,
  }
end

--- Authenticate and parse one webhook call.
-- @tparam table headers request headers (unused today; kept for a future signature)
-- @tparam string body raw body
-- @tparam[opt] string remote_addr the peer address, checked against `allow`
-- @treturn table list of events (usually one), or nil and an error: `FORBIDDEN_SOURCE`,
--   `BAD_JSON`, `BAD_ECHO_TOKEN`
function methods:parse(headers, body, remote_addr)
  assert(headers == nil or type(headers) == "table", "parse: headers must be a table")
  assert(type(body) == "string", "parse: body must be the raw string")
  if self.allow and not self.allow[remote_addr or ""] then
    return fail("FORBIDDEN_SOURCE", "source address not allowed")
  end
  local doc = common.decode(body)
  if not doc or type(doc.results) ~= "table" or #doc.results == 0 then
    return fail("BAD_JSON", "body is not {\"results\":[...]}")
  end
  local token = config.secret(self, "echo_token")
  local out = {}
  for i, r in ipairs(doc.results) do
    if type(r) ~= "table" then return fail("BAD_JSON", "results[" .. i .. "] is not an object") end
    local echo = common.val(r.echo_to_webhook)
    if type(echo) ~= "string" or not core.equal(echo, token) then
      return fail("BAD_ECHO_TOKEN", "results[" .. i .. "].echo_to_webhook does not carry the token")
    end
    out[i] = _M.normalize(r)
  end
  return out
end

return _M
