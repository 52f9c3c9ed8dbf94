--- Sinch Conversation API, KakaoTalk channel (seed 002).
-- OAuth client-credentials token from `auth_url` (cached until shortly before it expires,
-- refreshed once on a 401). AlimTalk goes out as a `template_message` with a KAKAOTALK
-- `channel_template` (template id + parameters); authentication templates set the channel
-- property KAKAOTALK_AUTHENTICATION. FriendTalk and advertising messages (`kind` other than
-- alimtalk) go as the Conversation API's generic messages (seed 002): `content` as a
-- `text_message`, `content` with `choices` as a `choice_message`, `media` as a
-- `media_message`, `card` as a `card_message` (title, description, media, choices). A choice is
-- `{ title =, url = nil, postback = nil }`: with a url it becomes a `url_message` choice, else
-- a `text_message` choice. One message per request. Sinch takes no caller serial, so
-- an uncertain send is reported `uncertain`, never resent; the caller's `id` travels as
-- `correlation_id` for reconciliation.
--
-- Options: `project_id`, `app_id`, `key_id`, `key_secret` (or `key_secret_env`; default
-- variable SINCH_KEY_SECRET), `region` (us | eu | br, default us; must match the app's),
-- `auth_url` (default https://auth.sinch.com), `base_url` (default
-- https://{region}.conversation.api.sinch.com), `ca_file`, `connect_timeout`, `timeout`.
-- @module alimtalk.providers.sinch
local _M = {}

local config = require "alimtalk.config"
local core = require "alimtalk.core"
local common = require "alimtalk.providers.common"
local retry = require "alimtalk.retry"

local spec = config.provider_spec({
  project_id = "string", app_id = "string", key_id = "string", region = "string",
  auth_url = "string", refresh_margin = "number", now = "function",
}, { "key_secret" })

local regions = { us = true, eu = true, br = true }

local mt = { __name = "alimtalk.provider.sinch" }
local methods = {}
mt.__index = methods
mt.__tostring = function(self) return "alimtalk.provider.sinch(" .. self.project_id .. ")" end

--- Make a Sinch provider.
-- @treturn table provider, or nil and a BAD_OPTION error
function _M.new(conf, deps)
  conf = config.check(conf, spec, "alimtalk.new: sinch")
  for _, k in ipairs({ "project_id", "app_id", "key_id" }) do
    if not conf[k] then return nil, config.missing("sinch", k) end
  end
  local secret, serr = config.need(conf, "sinch", "key_secret", "SINCH_KEY_SECRET")
  if not secret then return nil, serr end
  local region = conf.region or "us"
  if not regions[region] then error("alimtalk.new: sinch.region must be us, eu or br", 2) end
  local self = setmetatable({
    name = "sinch", profile = "sinch", max_batch = 1, dedupes = false,
    project_id = conf.project_id, app_id = conf.app_id, key_id = conf.key_id, region = region,
    auth = config.base_url(conf.auth_url or "https://auth.sinch.com", "sinch.auth_url"),
    base = config.base_url(conf.base_url or ("https://" .. region .. ".conversation.api.sinch.com"),
                           "sinch"),
    refresh_margin = conf.refresh_margin or 60,
    timeout = conf.timeout, connect_timeout = conf.connect_timeout,
    transport = deps and deps.transport, now = conf.now or retry.now, token_expires = 0,
    token_fetches = 0,
  }, mt)
  config.hide(self, { key_secret = secret })
  return self
end

--- Make sure a bearer token is cached.
-- @treturn boolean true, or nil and an outcome for the messages waiting on it
function methods:authorize()
  if common.token_valid(self) then return true end
  local basic = core.base64_encode(self.key_id .. ":" .. config.secret(self, "key_secret"))
  return common.fetch_token(self, {
    method = "POST", url = self.auth .. "/oauth2/token",
    headers = { ["Authorization"] = "Basic " .. basic,
                ["Content-Type"] = "application/x-www-form-urlencoded" },
    body = "grant_type=client_credentials",
    timeout = self.timeout, connect_timeout = self.connect_timeout,
  }, 3600)
end

--- Drop the cached token (after a 401).
methods.unauthorized = common.drop_token

local function choice_list(list)
  if type(list) ~= "table" or #list == 0 then return nil end
  local out = {}
  for i, c in ipairs(list) do
    local o = { postback_data = c.postback }
    if c.url then o.url_message = { title = c.title, url = c.url }
    else o.text_message = { text = c.title } end
    out[i] = o
  end
  return out
end

-- The generic Conversation API message for FriendTalk / advertising (seed 002 shapes).
local function generic(msg, content)
  local card = msg.card
  if card then
    return { card_message = {
      title = card.title, description = card.description,
      media_message = type(card.media) == "table" and { url = card.media.url } or nil,
      choices = choice_list(card.choices) } }
  end
  if msg.media then return { media_message = { url = msg.media.url } } end
  local choices = choice_list(msg.choices)
  if choices then
    return { choice_message = { text_message = { text = content }, choices = choices } }
  end
  return { text_message = { text = content } }
end

--- Map one message to a messages:send body.
-- AlimTalk: parameters are the message's `vars` (as strings); a message given as finished
-- `content` needs a registry template so its variables can be recovered by matching.
-- Other kinds: a generic message (see the module description).
function methods:prepare(msg, tpl, code)
  local texts = common.texts(msg, tpl)
  local message
  if msg.kind == nil or msg.kind == "alimtalk" then
    local params = {}
    for k, v in pairs(texts.vars or {}) do params[k] = tostring(v) end
    message = { template_message = { channel_template = { KAKAOTALK = {
      template_id = code, parameters = params,
      language_code = tpl and common.val(tpl.language) or nil } } } }
  else
    message = generic(msg, texts.content)
  end
  local body = {
    app_id = self.app_id,
    recipient = { identified_by = { channel_identities = {
      { channel = "KAKAOTALK",
        identity = msg.recipient or common.phone(msg.to, "sinch", msg.country_code) } } } },
    message = message,
    channel_priority_order = { "KAKAOTALK" },
    correlation_id = msg.id,
  }
  local auth = msg.authentication
  if auth == nil and tpl then auth = tpl.authentication end
  if auth and message.template_message then
    body.channel_properties = { KAKAOTALK_AUTHENTICATION = "true" }
  end
  return { payload = body, group = "" }
end

--- Build the send request for one entry (token must be cached).
function methods:build(chunk)
  return {
    method = "POST", url = self.base .. "/v1/projects/" .. self.project_id .. "/messages:send",
    headers = { ["Authorization"] = "Bearer " .. (config.secret(self, "token") or ""),
                ["Content-Type"] = "application/json" },
    body = common.encode(chunk[1].payload),
    timeout = self.timeout, connect_timeout = self.connect_timeout,
  }
end

--- Outcome of a messages:send answer.
function methods.parse(_, resp)
  local doc = common.decode(resp.body)
  if resp.status == 200 or resp.status == 201 or resp.status == 202 then
    local id = doc and common.val(doc.message_id)
    -- no id (or an empty or non-string one) to reconcile by: the message may be on its way
    if type(id) ~= "string" or id == "" then
      return { { status = "uncertain", code = tostring(resp.status), message = "unreadable send response" } }
    end
    return { { status = "accepted", code = tostring(resp.status), message = "accepted",
               ids = { message_id = id }, accepted_time = common.val(doc.accepted_time) } }
  end
  local o = common.http_outcome(resp)
  local e = doc and type(doc.error) == "table" and doc.error
  if e then
    local status = common.val(e.status)
    o.code = status or o.code
    o.message = common.val(e.message) or o.message
    local c = status and common.classify("sinch", status)
    -- an error answer's status refines a refusal; a success-like one (an HTTP code, a
    -- delivery status) in it does not turn the refusal into an acceptance
    if c == "accepted" or c == "delivered" or c == "pending" then c = nil end
    if c and o.status == "rejected" then
      if c == "failed" then c = "rejected" end
      o.status = c
    end
    if status == "RESOURCE_EXHAUSTED" and resp.status == 429 then o.status = "retryable" end
  end
  o.ids = {}
  return { o }
end

return _M
