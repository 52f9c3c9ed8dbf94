--- Helpers shared by the provider files: JSON, code classification, HTTP outcome rules,
-- rendering a message against its registry template.
--
-- An *outcome* is what a provider reports for one message of one attempt:
--     { status = "accepted" | "rejected" | "retryable" | "uncertain" | "quota"
--                | "unauthorized" | "duplicate",
--       code =, detail_code =, message =, ids = {...}, retry_after =, down = boolean }
-- `code` is the provider's documented per-message code; `detail_code` the finer one where the
-- provider gives one beside it (BizMessage `result.detail_code`), else nil.
-- `down` marks a provider-down signal for the circuit breaker (transport failure, 5xx).
-- @module alimtalk.providers.common
local _M = {}

local cjson = require "cjson.safe"
local config = require "alimtalk.config"
local codes = require "alimtalk.codes"
local template = require "alimtalk.template"
local phone = require "alimtalk.phone"
local core = require "alimtalk.core"

local encoder = cjson.new()
pcall(encoder.encode_empty_table_as_object, true)
pcall(encoder.encode_escape_forward_slash, false)

_M.null = cjson.null

--- Encode to JSON (forward slashes unescaped, so URLs read as written).
function _M.encode(v)
  return encoder.encode(v)
end

--- Decode JSON; nil on malformed input or a non-table top level.
function _M.decode(s)
  if type(s) ~= "string" or s == "" then return nil end
  local v = cjson.decode(s)
  if type(v) ~= "table" then return nil end
  return v
end

--- Drop cjson nulls: a JSON null reads as nil.
function _M.val(v)
  if v == cjson.null then return nil end
  return v
end

--- A provider code as text: JSON numbers become integers ("200", not Lua 5.4's "200.0"),
-- null and absent become nil.
function _M.code(v)
  if type(v) == "string" and v ~= "" then return v end   -- the usual case, at once
  v = _M.val(v)
  -- (beyond 2^53 not every whole float has an integer form: "%d" would raise on 1e20)
  if type(v) == "number" and v == math.floor(v) and math.abs(v) < 2 ^ 53 then
    return string.format("%d", v)
  end
  if v == nil or v == "" then return nil end
  return tostring(v)
end

--- Outcome class of a provider code by the catalogue, or `fallback`.
-- @treturn string class
-- @treturn string|nil meaning
function _M.classify(provider, code, fallback)
  if code ~= nil then
    local c = codes.lookup(provider, tostring(code))
    if c and c.duplicate then return "duplicate", c.meaning end
    if c and c.class then return c.class, c.meaning end
  end
  return fallback
end

--- Outcome for a transport failure: nothing sent is safe to retry; anything sent is uncertain.
function _M.transport_outcome(message, code, sent)
  return { status = sent and "uncertain" or "retryable", code = code or "transport",
           message = message, down = true, transport = true }
end

--- Outcome for an HTTP status that says nothing per message (no usable body).
-- 429 and 503 are refusals before processing: retry. 502/504 and other 5xx may have been
-- processed: uncertain. A redirect (never followed) may come after the POST was acted on
-- (post/redirect/get): uncertain too. 401 is for the token logic. Other 4xx: rejected.
function _M.http_outcome(resp)
  local s = resp.status
  local h = resp.headers or {}
  if s == 429 then
    return { status = "retryable", code = "429", message = "Too Many Requests",
             retry_after = h["retry-after"] }
  elseif s == 503 then
    return { status = "retryable", code = "503", message = "Service Unavailable",
             retry_after = h["retry-after"], down = true }
  elseif s == 401 then
    return { status = "unauthorized", code = "401", message = "Unauthorized" }
  elseif s >= 500 then
    return { status = "uncertain", code = tostring(s), message = "HTTP " .. s, down = true }
  elseif s < 400 then
    return { status = "uncertain", code = tostring(s), message = "HTTP " .. s
      .. ": an unexpected answer (a redirect is not followed); the request may have been acted on" }
  else
    return { status = "rejected", code = tostring(s), message = "HTTP " .. s }
  end
end

--- Copy an outcome for one message of a chunk.
function _M.each(n, outcome)
  local out = {}
  for i = 1, n do
    local o = {}
    for k, v in pairs(outcome) do o[k] = v end
    o.ids = {}
    out[i] = o
  end
  return out
end

--- Percent-encode a query value.
function _M.escape(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

--- Percent-encode a path segment (RFC 3986 pchar: sub-delims such as + stay as they are).
function _M.escape_path(s)
  return (tostring(s):gsub("[^%w%-%._~!$&'()*+,;=:@]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end

--- Build `?a=1&b=2` from a table (keys sorted; nil values skipped).
function _M.query(params)
  local keys = {}
  for k in pairs(params) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    parts[#parts + 1] = _M.escape(k) .. "=" .. _M.escape(params[k])
  end
  if #parts == 0 then return "" end
  return "?" .. table.concat(parts, "&")
end

--- Normalize a phone number for a provider with phone.lua, or return it with separators dropped
-- (validation, when it ran, has refused what phone.lua cannot read).
function _M.phone(number, provider, country_code)
  local n = phone.normalize(number, provider, country_code and { country_code = country_code } or nil)
  if n then return n end
  return (tostring(number):gsub("[%s%-%(%)]", ""))
end

--- A sender number as digits for the wire (validation has checked it; left as typed if it
-- cannot be read; nil stays nil).
function _M.sender_digits(n)
  if n then return phone.sender(n) or n end
  return n
end

--- Buttons or quick replies as Kakao's snake_case objects, which BizMessage and API PLEX both
-- send as is (`attachment.button`, `supplement.quick_reply`).
-- @tparam table list buttons from the message or the template (nil or empty: none)
-- @treturn table|nil the list, or nil when there is nothing to send
function _M.kakao_buttons(list)
  if not list or #list == 0 then return nil end
  local out = {}
  for i, b in ipairs(list) do
    out[i] = { type = b.type, name = b.name, url_mobile = b.url_mobile, url_pc = b.url_pc,
               scheme_ios = b.scheme_ios, scheme_android = b.scheme_android,
               chat_extra = b.chat_extra, chat_event = b.chat_event,
               oneclick_id = b.oneclick_id, product_id = b.product_id }
  end
  return out
end

local RENDER_OPTS = { allow_unknown = true }

-- Render a registry text (a parsed template) with vars; nil when a variable is missing.
local function render_text(t, vars)
  if t == nil or t == cjson.null then return nil end
  if type(t) == "string" then
    t = template.parse(t)
    if not t then return nil end
  end
  if not template.is(t) then return t end
  if #t.names == 0 then return t.body end
  return (template.render(t, vars or {}, RENDER_OPTS))
end
_M.render_text = render_text

-- Per registry entry, its buttons as { type, { field, text } ... } with fixed texts resolved
-- once (most button names and many links have no variables).
local button_plans = setmetatable({}, { __mode = "k" })

local function button_plan(tpl)
  local plan = button_plans[tpl]
  if plan then return plan end
  plan = {}
  for i, b in ipairs(tpl.buttons) do
    local fields = {}
    for k, v in pairs(b) do
      if k ~= "type" then
        local fixed = template.is(v) and #v.names == 0 and v.body
                      or (type(v) == "string" and v) or nil
        fields[#fields + 1] = { k, v, fixed }
      end
    end
    plan[i] = { b.type, fields }
  end
  button_plans[tpl] = plan
  return plan
end

--- Finished texts of a message: its own fields, or its registry template rendered with vars
-- (when only `content` is given, the variables are recovered by matching it to the body, so
-- titles and button links render too).
-- @tparam table msg message model
-- @tparam[opt] table tpl registry template entry
-- @treturn table { content =, title =, header =, buttons =, vars = }
function _M.texts(msg, tpl)
  local vars = msg.vars
  local t = {
    content = msg.content, title = msg.title, header = msg.header, buttons = msg.buttons,
    vars = vars,
  }
  if tpl then
    if vars == nil and type(msg.content) == "string" and template.is(tpl.body) then
      vars = template.match(tpl.body, msg.content)
      t.vars = vars
    end
    if t.content == nil then t.content = render_text(tpl.body, vars) end
    if t.title == nil and tpl.title ~= nil then t.title = render_text(tpl.title, vars) end
    if t.header == nil and tpl.header ~= nil then t.header = render_text(tpl.header, vars) end
    if t.buttons == nil and type(tpl.buttons) == "table" and #tpl.buttons > 0 then
      local bs = {}
      for i, b in ipairs(button_plan(tpl)) do
        local c = { type = b[1] }
        for _, f in ipairs(b[2]) do
          c[f[1]] = f[3] or render_text(f[2], vars)
        end
        bs[i] = c
      end
      t.buttons = bs
    end
  end
  return t
end

--- Header value by case-insensitive name.
function _M.header(headers, name)
  if not headers then return nil end
  local v = headers[name]
  if v ~= nil then return v end
  name = name:lower()
  for k, val in pairs(headers) do
    if type(k) == "string" and k:lower() == name then return val end
  end
  return nil
end

--- OAuth client-credentials bearer tokens (BizMessage, Sinch): whether the cached token is
-- good for at least `refresh_margin` more seconds. The provider object holds `now`,
-- `token_expires`, `refresh_margin`, `transport` and `token_fetches`.
function _M.token_valid(p)
  return config.secret(p, "token") ~= nil and p.now() < p.token_expires - p.refresh_margin
end

-- The longest lifetime an answer's expires_in is believed for, in seconds (a 401 refreshes a
-- token that dies sooner anyway).
local MAX_TOKEN_TTL = 86400

--- Fetch a token with `req` and cache it (hidden like the other secrets) for the answer's
-- `expires_in` (a number or a numeric string; at most a day), else `default_ttl` seconds. No
-- message has gone out yet, so every failure is safe to retry, except credentials the provider
-- refuses (`auth_failed`). An HTTP 200 without a usable token (not a JSON object, or an
-- `access_token` that is not a non-empty string of visible ASCII, which is all a bearer token
-- may hold in a header) gives the code `BAD_TOKEN`.
-- @treturn boolean true, or nil and an outcome for the messages waiting on the token
function _M.fetch_token(p, req, default_ttl)
  p.token_fetches = p.token_fetches + 1
  local resp, err, code = p.transport:request(req)
  if not resp then
    return nil, { status = "retryable", code = code or "transport", message = "token: " .. err,
                  down = true }
  end
  local doc = _M.decode(resp.body)
  local access = doc and doc.access_token
  if type(access) ~= "string" or not access:find("^[\33-\126]+$") then access = nil end
  if resp.status == 200 and not access then
    return nil, { status = "retryable", code = "BAD_TOKEN",
                  message = "token answer (HTTP 200) without a usable access_token" }
  elseif resp.status ~= 200 or not access then
    local o = _M.http_outcome(resp)
    if o.status == "uncertain" then o.status = "retryable" end
    if resp.status == 401 or resp.status == 400 or resp.status == 403 then o.status = "auth_failed" end
    o.message = "token request refused (HTTP " .. resp.status .. ")"
    return nil, o
  end
  -- NaN, infinities, zero and negatives are no lifetime: the default then
  local ttl = tonumber(_M.val(doc.expires_in))
  if not ttl or ttl ~= ttl or ttl <= 0 or ttl == math.huge then ttl = default_ttl
  elseif ttl > MAX_TOKEN_TTL then ttl = MAX_TOKEN_TTL end
  config.hide_one(p, "token", access)
  p.token_expires = p.now() + ttl
  return true
end

--- Drop the cached token (after a 401) so the next authorization fetches a new one.
function _M.drop_token(p)
  config.hide_one(p, "token", nil)
  p.token_expires = 0
end

--- A serial for providers that dedupe by it, when the caller gave none: random, 20 hex chars.
function _M.serial()
  return core.hex(core.random_bytes(10))
end

return _M
