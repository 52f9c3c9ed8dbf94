--- Sinch Conversation API emulation, KakaoTalk channel (seed 002, protocols.md):
--   POST /oauth2/token     Authorization: Basic base64(key_id:key_secret),
--                          grant_type=client_credentials -> {access_token, expires_in, ...}
--   POST /v1/projects/{project_id}/messages:send   bearer token; AlimTalk as
--        message.template_message.channel_template.KAKAOTALK {template_id, parameters},
--        FriendTalk as a generic message (seed 002): text_message {text} (1000 characters),
--        media_message {url}, choice_message {text_message, choices} (text 1000, choice
--        titles 14), card_message {title, description, media_message, choices} (title +
--        description 1000, 400 with media); .png/.jpg media only, other media fail delivery
--        with MEDIA_TYPE_UNSUPPORTED (the 76-character wide-image rule needs the image's size,
--        which the sandbox does not fetch); authentication templates with
--        channel_properties.KAKAOTALK_AUTHENTICATION = "true" (the rendered text must hold a
--        keyword: auth, password, verif, にんしょう, 認証, 비밀번호, 인증).
-- Errors are Google-style: {"error":{"code":400,"message":...,"status":"INVALID_ARGUMENT"}}.
-- Template problems are not refused at send: the message is accepted and its delivery report
-- says FAILED with a reason (TEMPLATE_NOT_FOUND, TEMPLATE_INSUFFICIENT_PARAMETERS, ...), as
-- Sinch does. Delivery reports go to the configured webhook URL, signed as Sinch signs them.
-- @module alimtalk.sandbox.emu.sinch
local state = require "alimtalk.sandbox.emu.state"
local registry = require "alimtalk.sandbox.emu.registry"
local text = require "alimtalk.sandbox.emu.text"
local crypto = require "alimtalk.sandbox.emu.crypto"
local webhook = require "alimtalk.sandbox.emu.webhook"

local ngx = ngx
local _M = {}

local KEYWORDS = { "auth", "password", "verif", "にんしょう", "認証", "비밀번호", "인증" }
local AUTH_FAIL = "Authentication message not included in Template, when sending an authentication "
  .. "message.The content must contain auth guide ment."

local function gerror(code, status, message)
  return code, { error = { code = code, message = message, status = status, details = state.EMPTY_ARRAY } }
end

local function token(ctx, creds)
  if ctx.method ~= "POST" then return gerror(405, "INVALID_ARGUMENT", "POST only") end
  local auth = ngx.var.http_authorization or ""
  local b64 = auth:match("^Basic%s+(%S+)$")
  local dec = b64 and ngx.decode_base64(b64)
  local id, secret = (dec or ""):match("^([^:]*):(.*)$")
  if not id or id ~= creds.key_id or secret ~= creds.key_secret then
    return 401, { error = "invalid_client", error_description = "Client authentication failed" }
  end
  local form = ngx.decode_args(ctx.body(), 10)
  if form.grant_type ~= "client_credentials" then
    return 400, { error = "unsupported_grant_type",
      error_description = "grant_type must be client_credentials" }
  end
  local ttl = state.settings.token_ttl or 3600
  local tok = state.random_id(48)
  state.dict("sbx_tok"):set("st:" .. tok, id, ttl)
  return 200, { access_token = tok, expires_in = ttl, scope = "", token_type = "bearer" }
end

local function has_keyword(s)
  local low = s:lower()
  for _, k in ipairs(KEYWORDS) do
    if low:find(k, 1, true) then return true end
  end
  return false
end

local function sign_headers(secret)
  return function(body)
    local nonce = state.random_id(24)
    local ts = tostring(ngx.time())
    local sig = crypto.hmac_sha256_base64(secret, body .. "." .. nonce .. "." .. ts)
    return { ["x-sinch-webhook-signature"] = sig,
      ["x-sinch-webhook-signature-timestamp"] = ts, ["x-sinch-webhook-signature-nonce"] = nonce,
      ["x-sinch-webhook-signature-algorithm"] = "HmacSHA256" }
  end
end

local function report(rec, creds)
  local url = state.webhook_url("sinch")
  if not url then return end
  local delivered = rec.result_code == rec.ok_code
  local dr = { message_id = rec.id, conversation_id = rec.conversation_id,
    status = delivered and "DELIVERED" or "FAILED",
    channel_identity = { channel = "KAKAOTALK", identity = rec.to, app_id = "" },
    contact_id = rec.contact_id, metadata = rec.metadata or "" }
  if not delivered then
    dr.reason = { code = rec.result_code, description = rec.result_desc or rec.result_code,
      sub_code = "UNSPECIFIED_SUB_CODE" }
  end
  local body = state.encode({ app_id = rec.app_id, accepted_time = state.utc(rec.accepted_at),
    event_time = state.utc(rec.due), project_id = creds.project_id, message_delivery_report = dr,
    message_metadata = "" })
  webhook.schedule(math.max(0, rec.due - ngx.now()), { url = url, body = body, provider = "sinch",
    id = rec.id, sign = sign_headers(creds.webhook_secret), tries = state.settings.webhook_tries or 10 })
end

local CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
local function ulid()
  local t = math.floor(ngx.now() * 1000)
  local out = {}
  for i = 10, 1, -1 do
    local d = t % 32
    out[i] = CROCKFORD:sub(d + 1, d + 1)
    t = (t - d) / 32
  end
  local r = crypto.random_bytes(16)
  for i = 1, 16 do
    local d = r:byte(i) % 32
    out[10 + i] = CROCKFORD:sub(d + 1, d + 1)
  end
  return table.concat(out)
end

local function media_ok(url)
  local path = (url:match("^[^?#]*") or url):lower()
  return path:match("%.png$") ~= nil or path:match("%.jpe?g$") ~= nil
end

-- Choices of a choice or card message -> recorded buttons; nil, error text when malformed.
local function read_choices(list, where)
  if list == nil then return {} end
  if type(list) ~= "table" then return nil, where .. " must be a list" end
  local out = {}
  for i, c in ipairs(list) do
    local f = where .. "[" .. i .. "]"
    if type(c) ~= "table" then return nil, f .. " must be an object" end
    local title, url
    if type(c.text_message) == "table" and type(c.text_message.text) == "string" then
      title = c.text_message.text
    elseif type(c.url_message) == "table" and type(c.url_message.title) == "string"
        and type(c.url_message.url) == "string" then
      title, url = c.url_message.title, c.url_message.url
    elseif type(c.call_message) == "table" and type(c.call_message.title) == "string" then
      title = c.call_message.title
    else
      return nil, f .. " needs text_message, url_message or call_message"
    end
    if text.chars(title) > 14 then return nil, f .. " title is over 14 characters" end
    out[i] = { type = url and "url" or "choice", name = title, url_mobile = url }
  end
  return out
end

-- A generic (FriendTalk) message into rec; returns an error text for a 400 answer.
local function generic(msg, rec)
  rec.kind = "friendtalk"
  if type(msg.text_message) == "table" and type(msg.text_message.text) == "string" then
    rec.text, rec.message_type = msg.text_message.text, "text"
    if text.chars(rec.text) > 1000 then return "text_message.text is over 1000 characters" end
  elseif type(msg.media_message) == "table" then
    local url = msg.media_message.url
    if type(url) ~= "string" or url == "" then return "media_message.url is required" end
    rec.message_type, rec.media, rec.text = "media", url, ""
  elseif type(msg.choice_message) == "table" then
    local cm = msg.choice_message
    local t = type(cm.text_message) == "table" and cm.text_message.text
    if type(t) ~= "string" or t == "" then return "choice_message.text_message.text is required" end
    if text.chars(t) > 1000 then return "choice_message text is over 1000 characters" end
    local choices, err = read_choices(cm.choices, "choice_message.choices")
    if not choices then return err end
    if #choices == 0 then return "choice_message.choices is required" end
    rec.message_type, rec.text, rec.buttons = "choice", t, choices
  elseif type(msg.card_message) == "table" then
    local cm = msg.card_message
    local title = type(cm.title) == "string" and cm.title or ""
    local desc = type(cm.description) == "string" and cm.description or ""
    local media = type(cm.media_message) == "table" and cm.media_message.url or nil
    if cm.media_message ~= nil and type(media) ~= "string" then
      return "card_message.media_message.url is required"
    end
    if title == "" and desc == "" and not media then
      return "card_message needs a title, description or media"
    end
    local max = media and 400 or 1000
    if text.chars(title .. desc) > max then
      return string.format("card_message title + description is over %d characters", max)
    end
    local choices, err = read_choices(cm.choices, "card_message.choices")
    if not choices then return err end
    rec.message_type, rec.title, rec.text, rec.media, rec.buttons = "card", title, desc, media, choices
  else
    return "message needs template_message (AlimTalk) or text_message, media_message, choice_message or "
      .. "card_message (FriendTalk)"
  end
  return nil
end

local function send(ctx, creds)
  local req = state.decode_request(ctx.body())
  if type(req) ~= "table" then return gerror(400, "INVALID_ARGUMENT", "Invalid JSON payload received.") end
  if type(req.app_id) ~= "string" or req.app_id == "" then
    return gerror(400, "INVALID_ARGUMENT", "app_id is required")
  end
  if req.app_id ~= creds.app_id then
    return gerror(404, "NOT_FOUND", "App " .. req.app_id .. " not found in project " .. creds.project_id)
  end
  local rcpt = req.recipient
  if type(rcpt) ~= "table" then return gerror(400, "INVALID_ARGUMENT", "recipient is required") end
  local identity
  if type(rcpt.contact_id) == "string" and rcpt.contact_id ~= "" then
    identity = rcpt.contact_id
  elseif type(rcpt.identified_by) == "table" and type(rcpt.identified_by.channel_identities) == "table" then
    for _, ci in ipairs(rcpt.identified_by.channel_identities) do
      if type(ci) == "table" and ci.channel == "KAKAOTALK" and type(ci.identity) == "string" then
        identity = ci.identity
      end
    end
    if not identity then
      return gerror(400, "INVALID_ARGUMENT",
        "recipient.identified_by.channel_identities needs a KAKAOTALK identity"
          .. " (the sandbox emulates KakaoTalk)")
    end
  else
    return gerror(400, "INVALID_ARGUMENT", "recipient needs contact_id or identified_by.channel_identities")
  end
  local msg = req.message
  if type(msg) ~= "table" then return gerror(400, "INVALID_ARGUMENT", "message is required") end
  local now = ngx.now()
  local rec = { provider = "sinch", id = ulid(), to = identity, app_id = req.app_id, accepted_at = now,
    due = now + (state.settings.delivery_delay or 0), ok_code = "DELIVERED", result_code = "DELIVERED",
    conversation_id = ulid(), contact_id = ulid(), metadata = type(req.message_metadata) == "string"
      and req.message_metadata or nil, serial = req.correlation_id }
  local props = type(req.channel_properties) == "table" and req.channel_properties or {}
  local auth = props.KAKAOTALK_AUTHENTICATION == "true" or props.KAKAOTALK_AUTHENTICATION == true
  local function fail(code, desc) rec.result_code, rec.result_desc = code, desc end
  if type(msg.template_message) == "table" then
    local ct = msg.template_message.channel_template
    local kt = type(ct) == "table" and ct.KAKAOTALK
    if type(kt) ~= "table" or type(kt.template_id) ~= "string" or kt.template_id == "" then
      return gerror(400, "INVALID_ARGUMENT",
        "message.template_message.channel_template.KAKAOTALK.template_id is required")
    end
    if kt.parameters ~= nil and type(kt.parameters) ~= "table" then
      return gerror(400, "INVALID_ARGUMENT", "parameters must be a map of strings")
    end
    -- map<string, string>: Sinch's JSON binding refuses any other value
    for k, v in pairs(kt.parameters or {}) do
      if type(k) ~= "string" or type(v) ~= "string" then
        return gerror(400, "INVALID_ARGUMENT", "parameters." .. tostring(k) .. " must be a string")
      end
    end
    rec.kind, rec.template_code, rec.authentication = "alimtalk", kt.template_id, auth
    local tpl = registry.find("sinch", kt.template_id)
    if not tpl then
      fail("TEMPLATE_NOT_FOUND", "Template " .. kt.template_id .. " not found")
    else
      rec.template = tpl.name
      local body, missing = registry.render(tpl.body, kt.parameters or {})
      local title = registry.render(tpl.title, kt.parameters or {})
      rec.text, rec.title = body, title
      local buttons = {}
      for i, b in ipairs(tpl.buttons) do
        buttons[i] = { type = b.type, name = b.name,
          url_mobile = b.url_mobile and registry.render(b.url_mobile, kt.parameters or {}) or nil,
          url_pc = b.url_pc and registry.render(b.url_pc, kt.parameters or {}) or nil }
      end
      rec.buttons = buttons
      if not body then
        fail("TEMPLATE_INSUFFICIENT_PARAMETERS", "Missing template parameter: " .. missing)
      elseif text.chars(body) > (tpl.type == "image" and 400 or 1000) then
        fail("BAD_REQUEST", "The rendered message is over the KakaoTalk length limit")
      elseif auth and not has_keyword(body) then
        fail("TEMPLATE_INSUFFICIENT_PARAMETERS", AUTH_FAIL)
      end
    end
  else
    local err = generic(msg, rec)
    if err then return gerror(400, "INVALID_ARGUMENT", err) end
    if rec.media and not media_ok(rec.media) then
      fail("MEDIA_TYPE_UNSUPPORTED", "KakaoTalk takes .png and .jpg media only")
    end
  end
  if rec.result_code == "DELIVERED" and not identity:find("^%+?%d%d%d%d%d%d%d%d+$") then
    fail("RECIPIENT_INVALID_CHANNEL_IDENTITY", "identity is not an MSISDN")
  end
  local phone = text.kr_mobile(identity)
  if rec.result_code == "DELIVERED" and state.settings.unreachable
      and state.settings.unreachable[phone or identity] then
    fail("RECIPIENT_NOT_REACHABLE", "Not a KakaoTalk user")
  end
  local fault = ctx.fault
  if fault and fault.kind == "code" then
    return gerror(fault.status or 400, fault.code, fault.desc or "injected by sandbox")
  end
  if fault and fault.kind == "result_code" then fail(fault.code, fault.desc or "injected by sandbox") end
  state.save_message("sinch", rec.id, rec)
  report(rec, creds)
  ctx.ids, ctx.codes = { rec.id }, { "accepted" }
  return 200, { accepted_time = state.utc(now), message_id = rec.id }
end

--- Handle /oauth2/token and /v1/projects/...; returns status, body, headers.
function _M.handle(ctx)
  local creds = state.config.credentials.sinch
  if ctx.path == "/oauth2/token" then return token(ctx, creds) end
  local auth = ngx.var.http_authorization
  local tok = auth and auth:match("^[Bb]earer (%S+)$")
  if not tok or not state.dict("sbx_tok"):get("st:" .. tok) then
    return gerror(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
  end
  local project, rest = ctx.path:match("^/v1/projects/([^/]+)(/.*)$")
  if project ~= creds.project_id then
    return gerror(403, "PERMISSION_DENIED", "The token does not give access to project " .. tostring(project))
  end
  if rest == "/messages:send" and ctx.method == "POST" then return send(ctx, creds) end
  return gerror(404, "NOT_FOUND", "No such API: " .. ctx.method .. " " .. ctx.path)
end

return _M
