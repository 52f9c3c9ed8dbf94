--- API PLEX AlimTalk (seed 004).
-- `Authorization: userID;secret_key`, `POST {base}/{service_id}/v2/send` with up to 10
-- `msg_data` records. `msg_key` is the serial: the caller's `id`, or one generated per message.
--
-- Seed 004 does not say that API PLEX dedupes `msg_key`, so by default an uncertain send
-- (timeout after sending, 502/504, C500_1) is reported `uncertain` and never resent, and a
-- "duplicated msg_key" answer is `rejected` (the caller reused an id). Where the provider has
-- confirmed for the account that a reused `msg_key` is never delivered twice, set
-- `dedupe_msg_key = true`: uncertain sends are then resent with the same `msg_key` and a
-- duplicated-key answer counts as accepted.
--
-- Image AlimTalk (template type image, or `image = true`) goes out with `msg_type` AI, in
-- requests of its own (`msg_type` is per request); other messages with AT. SMS/LMS fallback
-- (`failover` on a message) becomes `failback_data` when `failback_api_unique_id` and
-- `failback_secret_key` are configured; without them such a message is rejected before
-- sending. Results arrive by webhook (see alimtalk.webhook.apiplex); `echo` on a message
-- becomes `echo_to_webhook`.
--
-- Options: `user_id`, `secret_key` (or `secret_key_env`; default variable APIPLEX_SECRET_KEY),
-- `service_id` (at-standard | at-bulk | at-finance | at-verify; default at-standard),
-- `sender_key`, `sender_number` (default sender; a message's `from` wins), `base_url` (the
-- product's API Gateway host; default the one in seed 004), `msg_type` (for messages that are
-- not image AlimTalk, default "AT"), `dedupe_msg_key` (default false), `failback_api_unique_id`,
-- `failback_secret_key` (or `failback_secret_key_env`; default variable
-- APIPLEX_FAILBACK_SECRET_KEY), `ca_file`, `connect_timeout`, `timeout`.
-- @module alimtalk.providers.apiplex
local _M = {}

local config = require "alimtalk.config"
local common = require "alimtalk.providers.common"
local errors = require "alimtalk.errors"
local sms = require "alimtalk.sms"

local spec = config.provider_spec({
  user_id = "string", service_id = "string", sender_key = "string", sender_number = "string",
  msg_type = "string", dedupe_msg_key = "boolean", failback_api_unique_id = "string",
}, { "secret_key", "failback_secret_key" })

local services = { ["at-standard"] = true, ["at-bulk"] = true, ["at-finance"] = true,
                   ["at-verify"] = true }

local mt = { __name = "alimtalk.provider.apiplex" }
local methods = {}
mt.__index = methods
mt.__tostring = function(self) return "alimtalk.provider.apiplex(" .. self.service_id .. ")" end

--- Make an API PLEX provider.
-- @treturn table provider, or nil and a BAD_OPTION error
function _M.new(conf, deps)
  conf = config.check(conf, spec, "alimtalk.new: apiplex")
  local user = conf.user_id or os.getenv("APIPLEX_USER_ID")
  if not user then return nil, config.missing("apiplex", "user_id") end
  local secret, serr = config.need(conf, "apiplex", "secret_key", "APIPLEX_SECRET_KEY")
  if not secret then return nil, serr end
  if not conf.sender_key then return nil, config.missing("apiplex", "sender_key") end
  if not conf.sender_number then return nil, config.missing("apiplex", "sender_number") end
  local service = conf.service_id or "at-standard"
  if not services[service] then
    error("alimtalk.new: apiplex.service_id must be at-standard, at-bulk, at-finance or at-verify", 2)
  end
  local msg_type = conf.msg_type or "AT"
  if msg_type ~= "AT" and msg_type ~= "AI" then
    error("alimtalk.new: apiplex.msg_type must be AT or AI", 2)
  end
  local fb_secret, fb_bad = config.resolve(conf, "failback_secret_key", "APIPLEX_FAILBACK_SECRET_KEY",
                                           nil, "apiplex")
  if fb_bad then return nil, fb_bad end
  local self = setmetatable({
    name = "apiplex", profile = "apiplex", max_batch = 10, dedupes = conf.dedupe_msg_key == true,
    user_id = user, service_id = service, sender_key = conf.sender_key,
    sender_number = conf.sender_number, msg_type = msg_type,
    failback_api_unique_id = conf.failback_api_unique_id, has_failback_secret = fb_secret ~= nil,
    base = config.base_url(conf.base_url or "https://27ep4ci1w0.apigw.ntruss.com", "apiplex"),
    timeout = conf.timeout, connect_timeout = conf.connect_timeout,
    transport = deps and deps.transport,
  }, mt)
  config.hide(self, { secret_key = secret, failback_secret_key = fb_secret })
  return self
end

local buttons, digits = common.kakao_buttons, common.sender_digits

-- The config keys failback needs that are not set (nil when both are).
function methods:missing_failback()
  local miss = {}
  if not self.failback_api_unique_id then miss[#miss + 1] = "apiplex.failback_api_unique_id" end
  if not self.has_failback_secret then
    miss[#miss + 1] = "apiplex.failback_secret_key (or APIPLEX_FAILBACK_SECRET_KEY)"
  end
  if #miss == 0 then return nil end
  return miss
end

-- `failback_data` for an SMS/LMS fallback. The payload field is a string in seed 004 ("payload
-- for failback service request body"); its name and the failback service's body fields are
-- not documented there: sent as a JSON string with API PLEX's own field names (unverified).

local function failback(self, fo, receiver, content)
  local text = fo.content
  if text == nil or text == "" then text = content end
  local kind = fo.type
  if kind == nil then
    local plan = type(text) == "string" and sms.plan(text, { provider = "apiplex" })
    kind = plan and plan.type or "LMS"
  end
  return {
    api_unique_id = self.failback_api_unique_id,
    secret_key = config.secret(self, "failback_secret_key"),
    payload = common.encode({ msg_type = kind, sender_number = digits(fo.from) or self.sender_number,
                              receiver_number = receiver, title = kind == "LMS" and fo.subject or nil,
                              msg = text }),
  }
end

--- Map one message to its `msg_data` record.
-- A message asking for SMS/LMS fallback when failback is not configured gets `rejected` (an
-- outcome with its error) and is never sent.
function methods:prepare(msg, tpl, code)
  local t = common.texts(msg, tpl)
  local serial = msg.id or common.serial()
  local receiver = msg.recipient or common.phone(msg.to, "apiplex", msg.country_code)
  local d = {
    msg_key = serial, sender_key = self.sender_key,
    sender_number = digits(msg.from) or self.sender_number,
    receiver_number = receiver,
    msg = t.content, template_code = code, title = t.title, header = t.header,
    price = msg.price, currency_type = msg.currency, echo_to_webhook = msg.echo,
  }
  local attachment = { button = buttons(t.buttons) }
  if msg.item_highlight then
    attachment.item_highlight = { title = msg.item_highlight.title,
                                  description = msg.item_highlight.description }
  end
  if msg.items or msg.summary then attachment.item = { list = msg.items, summary = msg.summary } end
  if next(attachment) then d.attachment = attachment end
  local qr = buttons(msg.quick_replies)
  if qr then d.supplement = { quick_reply = qr } end
  -- msg_type is per request: image AlimTalk goes in requests of its own as AI.
  local image = msg.image
  if image == nil and tpl then image = tpl.type == "image" end
  local group = image and "AI" or self.msg_type
  local entry = { payload = d, serial = serial, group = group, content = t.content }
  local fo = msg.failover == true and {} or msg.failover   -- true: unvalidated shorthand
  if type(fo) == "table" then
    local miss = self:missing_failback()
    if miss then
      local err = errors.new{ code = "NOT_SUPPORTED", field = "failover", provider = "apiplex",
        message = "SMS/LMS fallback through API PLEX needs failback configuration: set "
          .. table.concat(miss, " and ") }
      entry.rejected = { status = "rejected", code = "NOT_SUPPORTED", message = tostring(err),
                         error = err, ids = {} }
    else
      d.failback_data = failback(self, fo, receiver, t.content)
    end
  end
  return entry
end

--- Build the send request for up to 10 entries.
function methods:build(chunk)
  local list = {}
  for i = 1, #chunk do list[i] = chunk[i].payload end
  return {
    method = "POST", url = self.base .. "/" .. self.service_id .. "/v2/send",
    headers = { ["Authorization"] = self.user_id .. ";" .. config.secret(self, "secret_key"),
                ["Content-Type"] = "application/json;charset=utf-8" },
    body = common.encode({ msg_type = chunk[1].group or self.msg_type, msg_data = list }),
    timeout = self.timeout, connect_timeout = self.connect_timeout,
  }
end

local function is_duplicate(code, desc)
  return type(desc) == "string" and (desc:lower():find("duplicat", 1, true) ~= nil)
         and (code == "C400_2" or code == "C400_1" or code == "C409" or code:sub(1, 4) == "C400")
end

local function class_of(code, desc, dedupes)
  if code == "C100" then return "accepted" end
  -- A reused msg_key counts as accepted only where API PLEX is known to dedupe it.
  if is_duplicate(code, desc) then return dedupes and "duplicate" or "rejected" end
  local c = common.classify("apiplex", code)
  if c then
    -- only C100 says the message was taken (seed 004); a delivery result (Kakao 0000) or an
    -- HTTP status in this field is no acceptance code: it may or may not have been taken
    if c == "delivered" or c == "pending" or c == "accepted" then return "uncertain" end
    -- Kakao 3012 (a message under this serial exists) is a duplicate only where API PLEX is
    -- known to dedupe msg_key, as for a "duplicate" description above
    if c == "duplicate" then return dedupes and "duplicate" or "rejected" end
    if c == "failed" then return "rejected" end
    return c
  end
  if code == "G150" then return "quota" end
  if code == "G160" then return "retryable" end
  if code == "C500_1" then return "uncertain" end
  -- A code seed 004 does not list: nothing tells that the message was refused.
  return "uncertain"
end

--- Per-message outcomes of a send response, matched by `msg_key` (position as a fallback).
function methods.parse(self, resp, chunk)
  local doc = common.decode(resp.body)
  local results = doc and doc.results
  if type(results) == "table" and #results > 0 then
    local by_key = {}
    for i, r in ipairs(results) do
      r = common.val(r)
      if type(r) ~= "table" then r = {}; results[i] = r end
      local k = common.code(r.msg_key)
      if k then by_key[k] = r end
    end
    local out = {}
    for i, e in ipairs(chunk) do
      local r = by_key[e.serial] or (#results == #chunk and results[i])
      if r then
        local code = common.code(r.code)
        -- A result without a code says nothing about the message: it may have been taken.
        local status = code and class_of(code, common.val(r.desc), self.dedupes) or "uncertain"
        out[i] = { status = status, code = code or tostring(resp.status),
                   message = common.val(r.desc), ids = { msg_key = e.serial } }
      else
        out[i] = { status = "uncertain", code = tostring(resp.status),
                   message = "no result for this msg_key", ids = { msg_key = e.serial } }
      end
      if resp.status == 429 then
        out[i].status, out[i].retry_after = "retryable", resp.headers["retry-after"]
      end
    end
    return out
  end
  local o
  if resp.status >= 200 and resp.status < 300 then
    o = { status = "uncertain", code = tostring(resp.status), message = "unreadable send response" }
  else
    o = common.http_outcome(resp)
    if o.status == "unauthorized" then o.status = "auth_failed" end
    local code = doc and common.code(doc.code)
    if code then o.code = code o.message = common.val(doc.desc) or o.message end
  end
  local out = common.each(#chunk, o)
  for i, e in ipairs(chunk) do out[i].ids.msg_key = e.serial end
  return out
end

return _M
