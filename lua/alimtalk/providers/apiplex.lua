--- API PLEX AlimTalk (seed 004).
-- `Authorization: userID;secret_key`, `POST {base}/{service_id}/v2/send` with up to 10
-- `msg_data` records. `msg_key` is the serial: the caller's `id`, or one generated per message
-- and kept across retries, so an uncertain send is resent with the same `msg_key` and a
-- duplicate-key answer counts as accepted. Results arrive by webhook (see
-- alimtalk.webhook.apiplex); `echo` on a message becomes `echo_to_webhook`.
--
-- Options: `user_id`, `secret_key` (or `secret_key_env`; default variable APIPLEX_SECRET_KEY),
-- `service_id` (at-standard | at-bulk | at-finance | at-verify; default at-standard),
-- `sender_key`, `sender_number`, `base_url` (the product's API Gateway host; default the one
-- in seed 004), `msg_type` ("AT" default, "AI" for image AlimTalk), `ca_file`,
-- `connect_timeout`, `timeout`.
-- @module alimtalk.providers.apiplex
local _M = {}

local config = require "alimtalk.config"
local common = require "alimtalk.providers.common"

local spec = config.provider_spec({
  user_id = "string", service_id = "string", sender_key = "string", sender_number = "string",
  msg_type = "string",
}, { "secret_key" })

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
  local secret = config.resolve(conf, "secret_key", "APIPLEX_SECRET_KEY")
  if not secret then return nil, config.missing("apiplex", "secret_key", "APIPLEX_SECRET_KEY") end
  if not conf.sender_key then return nil, config.missing("apiplex", "sender_key") end
  if not conf.sender_number then return nil, config.missing("apiplex", "sender_number") end
  local service = conf.service_id or "at-standard"
  if not services[service] then
    error("alimtalk.new: apiplex.service_id must be at-standard, at-bulk, at-finance or at-verify", 2)
  end
  local self = setmetatable({
    name = "apiplex", profile = "apiplex", max_batch = 10, dedupes = true,
    user_id = user, service_id = service, sender_key = conf.sender_key,
    sender_number = conf.sender_number, msg_type = conf.msg_type or "AT",
    base = config.base_url(conf.base_url or "https://27ep4ci1w0.apigw.ntruss.com", "apiplex"),
    timeout = conf.timeout, connect_timeout = conf.connect_timeout,
    transport = deps and deps.transport,
  }, mt)
  config.hide(self, { secret_key = secret })
  return self
end

local function buttons(list)
  if not list or #list == 0 then return nil end
  local out = {}
  for i, b in ipairs(list) do
    out[i] = { type = b.type, name = b.name, url_mobile = b.url_mobile, url_pc = b.url_pc,
               scheme_ios = b.scheme_ios, scheme_android = b.scheme_android,
               chat_extra = b.chat_extra, chat_event = b.chat_event }
  end
  return out
end

--- Map one message to its `msg_data` record.
function methods:prepare(msg, tpl, code)
  local t = common.texts(msg, tpl)
  local serial = msg.id or common.serial()
  local d = {
    msg_key = serial, sender_key = self.sender_key,
    sender_number = (type(msg.failover) == "table" and msg.failover.from) or self.sender_number,
    receiver_number = msg.recipient or common.phone(msg.to, "apiplex", msg.country_code),
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
  return { payload = d, serial = serial, group = "", content = t.content }
end

--- Build the send request for up to 10 entries.
function methods:build(chunk)
  local list = {}
  for i = 1, #chunk do list[i] = chunk[i].payload end
  return {
    method = "POST", url = self.base .. "/" .. self.service_id .. "/v2/send",
    headers = { ["Authorization"] = self.user_id .. ";" .. config.secret(self, "secret_key"),
                ["Content-Type"] = "application/json;charset=utf-8" },
    body = common.encode({ msg_type = self.msg_type, msg_data = list }),
    timeout = self.timeout, connect_timeout = self.connect_timeout,
  }
end

local function is_duplicate(code, desc)
  return type(desc) == "string" and (desc:lower():find("duplicat", 1, true) ~= nil)
         and (code == "C400_2" or code == "C400_1" or code == "C409" or code:sub(1, 4) == "C400")
end

local function class_of(code, desc)
  if code == "C100" then return "accepted" end
  if is_duplicate(code, desc) then return "duplicate" end
  local c = common.classify("apiplex", code)
  if c then
    if c == "delivered" or c == "pending" then return "accepted" end
    if c == "failed" then return "rejected" end
    return c
  end
  if code == "G150" then return "quota" end
  if code == "G160" then return "retryable" end
  if code == "C500_1" then return "uncertain" end
  return "rejected"
end

--- Per-message outcomes of a send response, matched by `msg_key` (position as a fallback).
function methods.parse(_, resp, chunk)
  local doc = common.decode(resp.body)
  local results = doc and doc.results
  if type(results) == "table" and #results > 0 then
    local by_key = {}
    for _, r in ipairs(results) do
      local k = common.val(r.msg_key)
      if k then by_key[tostring(k)] = r end
    end
    local out = {}
    for i, e in ipairs(chunk) do
      local r = by_key[e.serial] or (#results == #chunk and results[i])
      if r then
        local code = tostring(common.val(r.code) or "")
        out[i] = { status = class_of(code, common.val(r.desc)), code = code,
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
    if doc and doc.code then o.code = tostring(doc.code) o.message = common.val(doc.desc) or o.message end
  end
  local out = common.each(#chunk, o)
  for i, e in ipairs(chunk) do out[i].ids.msg_key = e.serial end
  return out
end

return _M
