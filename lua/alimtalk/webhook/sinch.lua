--- Sinch Conversation API webhooks: verify and parse delivery reports and inbound messages.
-- Verification follows Sinch's SDKs: HMAC-SHA256 over `raw_body .. "." .. nonce .. "." ..
-- timestamp` with the webhook secret, base64, compared in constant time with the
-- `x-sinch-webhook-signature` header. The timestamp (epoch seconds) must be within `window`
-- seconds of now in either direction, and each nonce is accepted once while its timestamp is in
-- the window (replays are refused). Verify the raw bytes as received, before any JSON decoding.
--
--     local hook = require("alimtalk.webhook.sinch").new{ secret_env = "SINCH_WEBHOOK_SECRET" }
--     local event, err = hook:parse(headers, raw_body)   -- verified, normalized
--
-- @module alimtalk.webhook.sinch
local _M = {}

local config = require "alimtalk.config"
local core = require "alimtalk.core"
local errors = require "alimtalk.errors"
local events = require "alimtalk.events"
local retry = require "alimtalk.retry"
local common = require "alimtalk.providers.common"

local spec = {
  secret = "string", secret_env = "string", window = "number", max_nonces = "number",
  now = "function",
}

local mt = { __name = "alimtalk.webhook.sinch" }
local methods = {}
mt.__index = methods
mt.__tostring = function() return "alimtalk.webhook.sinch" end

--- Make a verifier.
-- @tparam table opts `secret` (or `secret_env`; default variable SINCH_WEBHOOK_SECRET),
--   `window` seconds (default 300), `max_nonces` remembered (default 100000), `now`
-- @treturn table verifier, or nil and a BAD_OPTION error when no secret is set
function _M.new(opts)
  opts = config.check(opts, spec, "alimtalk.webhook.sinch")
  local secret, serr = config.need(opts, "sinch_webhook", "secret", "SINCH_WEBHOOK_SECRET")
  if not secret then return nil, serr end
  local self = setmetatable({
    window = opts.window or 300, max_nonces = opts.max_nonces or 100000,
    now = opts.now or retry.now,
    nonces = {}, order = {}, head = 1, count = 0,
  }, mt)
  config.hide(self, { secret = secret })
  return self
end

local function fail(code, message)
  return nil, errors.new{ code = code, message = message, provider = "sinch" }
end

-- Forget nonces whose timestamps left the window; keep at most max_nonces.
function methods:_prune(now)
  local order = self.order
  while self.head <= #order do
    local item = order[self.head]
    if self.count < self.max_nonces and item.ts >= now - self.window then break end
    if self.nonces[item.nonce] == item.ts then
      self.nonces[item.nonce] = nil
      self.count = self.count - 1
    end
    order[self.head] = nil
    self.head = self.head + 1
  end
  if self.head > 1024 and self.head > #order / 2 then
    local compact = {}
    for i = self.head, #order do compact[#compact + 1] = order[i] end
    self.order, self.head = compact, 1
  end
end

--- Verify a webhook's signature, timestamp and nonce.
-- @tparam table headers request headers (any case)
-- @tparam string body the raw request body, exactly as received
-- @treturn boolean true, or nil and an error: `MISSING_HEADER`, `BAD_HEADER` (one sent twice),
--   `BAD_ALGORITHM`,
--   `BAD_TIMESTAMP`, `STALE_TIMESTAMP`, `BAD_SIGNATURE`, `REPLAYED`
function methods:verify(headers, body)
  assert(type(headers) == "table", "verify: headers must be a table")
  assert(type(body) == "string", "verify: body must be the raw string")
  local sig = common.header(headers, "x-sinch-webhook-signature")
  local ts = common.header(headers, "x-sinch-webhook-signature-timestamp")
  local nonce = common.header(headers, "x-sinch-webhook-signature-nonce")
  local alg = common.header(headers, "x-sinch-webhook-signature-algorithm")
  if not sig or not ts or not nonce then
    return fail("MISSING_HEADER", "x-sinch-webhook-signature, -timestamp and -nonce are required")
  end
  -- a header sent twice comes as a list (OpenResty's get_headers): refused, not raised on
  for _, h in ipairs({ sig, ts, nonce, alg or "" }) do
    if type(h) ~= "string" and type(h) ~= "number" then
      return fail("BAD_HEADER", "each x-sinch-webhook-signature header must appear once")
    end
  end
  sig, ts, nonce = tostring(sig), tostring(ts), tostring(nonce)
  if alg and alg ~= "HmacSHA256" then return fail("BAD_ALGORITHM", "unsupported signature algorithm") end
  if not tostring(ts):match("^%d+$") then return fail("BAD_TIMESTAMP", "timestamp is not epoch seconds") end
  local t = tonumber(ts)
  local now = self.now()
  if math.abs(now - t) > self.window then
    local age = math.floor(now - t)
    -- %.0f: an absurd timestamp (20 digits) has no integer representation for %d
    return fail("STALE_TIMESTAMP", string.format("timestamp is %.0f s %s (window %d s)",
      math.abs(age), age >= 0 and "old" or "in the future", self.window))
  end
  local want = core.sinch_signature(config.secret(self, "secret"), body, nonce, ts)
  if not core.equal(want, sig) then
    return fail("BAD_SIGNATURE", "signature does not match the body")
  end
  -- Remember the nonce only after the signature holds, so forgeries cannot fill the cache.
  self:_prune(now)
  if self.nonces[nonce] then return fail("REPLAYED", "nonce already seen") end
  self.nonces[nonce] = t
  self.count = self.count + 1
  self.order[#self.order + 1] = { nonce = nonce, ts = t }
  return true
end

local DELIVERY = { DELIVERED = "delivered", READ = "delivered", FAILED = "failed",
                   QUEUED_ON_CHANNEL = "pending", SWITCHING_CHANNEL = "pending" }

--- Normalize a decoded Sinch callback (no verification).
-- @tparam table doc the decoded JSON body
-- @treturn table event (`kind` "delivery" or "inbound"), or nil and an error
function _M.normalize(doc)
  local v = common.val
  local rep = v(doc.message_delivery_report)
  if type(rep) == "table" then
    local st = v(rep.status)
    local reason = type(v(rep.reason)) == "table" and rep.reason or nil
    local ci = type(v(rep.channel_identity)) == "table" and rep.channel_identity or {}
    return events.new{
      provider = "sinch", status = DELIVERY[st] or events.status_for("sinch", st, "pending"),
      -- `code`: the failure reason's code (else the status), `detail_code` its sub_code
      code = reason and v(reason.code) or st, message = reason and v(reason.description) or st,
      detail_code = reason and v(reason.sub_code) or nil,
      ids = { message_id = v(rep.message_id), conversation_id = v(rep.conversation_id),
              contact_id = v(rep.contact_id) },
      to = v(ci.identity), channel = v(ci.channel), time = v(doc.event_time) or v(doc.accepted_time),
      raw = doc,
    }
  end
  local m = v(doc.message)
  if type(m) == "table" and type(v(m.contact_message)) == "table" then
    local cm = m.contact_message
    local ci = type(v(m.channel_identity)) == "table" and m.channel_identity or {}
    local text, media, choice
    if type(v(cm.text_message)) == "table" then text = v(cm.text_message.text) end
    if type(v(cm.media_message)) == "table" then media = v(cm.media_message.url) end
    if type(v(cm.choice_response_message)) == "table" then
      choice = v(cm.choice_response_message.postback_data)
    end
    return events.new{
      kind = "inbound", provider = "sinch", text = text, media_url = media, postback = choice,
      from = v(ci.identity), channel = v(ci.channel),
      ids = { message_id = v(m.id), conversation_id = v(m.conversation_id),
              contact_id = v(m.contact_id) },
      time = v(m.accept_time) or v(doc.event_time), raw = doc,
    }
  end
  return nil, errors.new{ code = "UNSUPPORTED", provider = "sinch",
                          message = "neither a delivery report nor an inbound message" }
end

--- Verify and normalize one webhook.
-- @tparam table headers
-- @tparam string body raw body
-- @treturn table event, or nil and an error (verification errors as `verify`, `BAD_JSON`,
--   `UNSUPPORTED`)
function methods:parse(headers, body)
  local ok, err = self:verify(headers, body)
  if not ok then return nil, err end
  local doc = common.decode(body)
  if not doc then return fail("BAD_JSON", "body is not a JSON object") end
  return _M.normalize(doc)
end

return _M
