--- Admin endpoints of the sandbox, under /_sandbox/ (never faulted, no authentication):
--   GET    /_sandbox/health                       {"ok":true}
--   GET    /_sandbox/attempts[?provider=&since=&limit=]   every request the providers saw
--   GET    /_sandbox/outbox[?provider=&to=&status=]       what each handset received
--   GET    /_sandbox/messages/{provider}/{id}     one stored message (also rejected ones)
--   POST   /_sandbox/reset                        forget messages, logs, tokens, faults, settings
--   GET|POST|DELETE /_sandbox/faults             list / add (object or list) / clear faults
--   GET|POST /_sandbox/settings                   read / override delivery_delay, token_ttl,
--                                                 webhook_tries, unreachable, webhooks
--   POST   /_sandbox/tokens/expire                expire every bearer token now
--   GET    /_sandbox/webhooks                     every webhook try (url, status, body, headers)
--   POST   /_sandbox/sink/{name}[?status=500]     a webhook receiver: records the call
--   GET|DELETE /_sandbox/sink/{name}              what the receiver got / forget it
--   GET    /_sandbox/templates                    the loaded template registry
-- @module alimtalk.sandbox.emu.admin
local state = require "alimtalk.sandbox.emu.state"
local faults = require "alimtalk.sandbox.emu.faults"
local registry = require "alimtalk.sandbox.emu.registry"
local webhook = require "alimtalk.sandbox.emu.webhook"

local ngx = ngx
local _M = {}

local SETTINGS = { delivery_delay = "number", token_ttl = "number", webhook_tries = "number",
  unreachable = "table", webhooks = "table", max_variable_chars = "number" }

local PROVIDERS = { "sens", "bizmessage", "apiplex", "sinch" }

-- EUC-KR size as the SMS/LMS split counts it: ASCII 1 byte, anything else 2.
local function euckr_bytes(s)
  local ascii = select(2, s:gsub("[%z\1-\127]", ""))
  local chars = select(2, s:gsub("[^\128-\191]", ""))
  return ascii + 2 * (chars - ascii)
end

-- The SMS/LMS a handset gets when the AlimTalk failed and the sender asked for a fallback
-- (SENS useSmsFailover + failoverConfig, BizMessage fall_back_yn + fall_back_*). Kakao-side
-- B codes get none (seed 001).
local function fallback(r, st)
  if st ~= "failed" or (r.result_code or ""):find("^B") then return nil end
  local text, subject, kind
  if r.provider == "sens" and r.use_sms_failover then
    local f = type(r.failover) == "table" and r.failover or {}
    text, subject, kind = f.content or r.text, f.subject, f.type
  elseif r.provider == "bizmessage" and r.fall_back then
    text, subject = r.fall_back_message or r.text, r.fall_back_title
    kind = (r.fall_back_type == "SM" and "SMS") or (r.fall_back_type == "LM" and "LMS") or nil
  else
    return nil
  end
  if type(text) ~= "string" then return nil end
  kind = kind or (euckr_bytes(text) <= 90 and "SMS" or "LMS")
  return { type = kind, text = text, subject = kind == "LMS" and subject or nil, status = "delivered" }
end

local function template_name(provider, code)
  local t = code and registry.find(provider, code)
  return t and t.name or nil
end

-- Every accepted message of every provider, in acceptance order.
local function outbox(args)
  local now = ngx.now()
  local out = {}
  for _, provider in ipairs(PROVIDERS) do
    if not args.provider or args.provider == provider then
      for _, r in ipairs(state.messages(provider)) do
        if not r.rejected then out[#out + 1] = r end
      end
    end
  end
  table.sort(out, function(a, b)
    if a.accepted_at ~= b.accepted_at then return a.accepted_at < b.accepted_at end
    if a.provider ~= b.provider then return a.provider < b.provider end
    return a.index < b.index
  end)
  local list = out
  out = {}
  for _, r in ipairs(list) do
    local st = state.status(r, now)
    if (not args.to or args.to == r.to) and (not args.status or args.status == st) then
      out[#out + 1] = { provider = r.provider, id = r.id, to = r.to, text = r.text, title = r.title,
        header = r.header, buttons = r.buttons, quick_replies = r.quick_replies,
        item_highlight = r.item_highlight, items = r.items, summary = r.summary,
        template = r.template or template_name(r.provider, r.template_code),
        template_code = r.template_code, serial = r.serial,
        status = st, result_code = r.result_code or r.ok_code or "0000", accepted_at = r.accepted_at,
        delivered_at = st ~= "pending" and r.due or nil, kind = r.kind, echo = r.echo,
        fallback = fallback(r, st) }
    end
  end
  return out
end

-- First log entry to read: `since` is request-controlled and bounds a loop, so it starts at 1.
local function since(args)
  local n = tonumber(args.since)
  if not n or n ~= n then return 1 end
  return math.max(1, math.floor(n))
end

local function read_json(ctx)
  local v = state.decode(ctx.body())
  if type(v) ~= "table" then return nil, "body must be a JSON object or list" end
  return v
end

--- Handle /_sandbox/... ; returns status, body, headers.
function _M.handle(ctx)
  local path, m = ctx.path, ctx.method
  local args = ngx.req.get_uri_args(20)
  if path == "/_sandbox/health" then
    return 200, { ok = true, pid = ngx.worker.pid(), templates = #registry.all() }
  elseif path == "/_sandbox/attempts" and m == "GET" then
    local limit = tonumber(args.limit)
    if not args.provider then return 200, state.list(state.read_log("a", since(args), limit)) end
    -- one provider's: filtered first, so `limit` keeps that provider's last entries
    local out = {}
    for _, a in ipairs(state.read_log("a", since(args))) do
      if a.provider == args.provider then out[#out + 1] = a end
    end
    if limit and #out > limit then
      local last = {}
      for i = #out - math.max(0, math.floor(limit)) + 1, #out do last[#last + 1] = out[i] end
      out = last
    end
    return 200, state.list(out)
  elseif path == "/_sandbox/outbox" and m == "GET" then
    return 200, state.list(outbox(args))
  elseif path:find("^/_sandbox/messages/%w+/.+$") and m == "GET" then
    local provider, id = path:match("^/_sandbox/messages/(%w+)/(.+)$")
    local r = state.message(provider, id)
    if not r then return 404, { error = "no such message" } end
    local out = {}   -- a copy: stored records are shared
    for k, v in pairs(r) do out[k] = v end
    out.status = state.status(r)
    return 200, out
  elseif path == "/_sandbox/reset" and m == "POST" then
    state.reset()
    return 200, { ok = true }
  elseif path == "/_sandbox/faults" then
    if m == "GET" then return 200, state.list(faults.list()) end
    if m == "DELETE" then faults.clear() return 200, { ok = true } end
    if m == "POST" then
      local v, err = read_json(ctx)
      if not v then return 400, { error = err } end
      local list = v[1] and v or { v }
      for i, f in ipairs(list) do
        local ok, ferr = faults.validate(f)
        if not ok then return 400, { error = "fault " .. i .. ": " .. ferr } end
      end
      return 200, faults.add(list)
    end
  elseif path == "/_sandbox/settings" then
    if m == "GET" then return 200, state.settings end
    if m == "POST" then
      local v, err = read_json(ctx)
      if type(v) ~= "table" then return 400, { error = err or "settings must be an object" } end
      local d = state.dict("sbx_state")
      local cur = state.decode(d:get("settings") or "{}") or {}
      for k, val in pairs(v) do
        if not SETTINGS[k] then return 400, { error = "unknown setting " .. k } end
        if type(val) ~= SETTINGS[k] then return 400, { error = k .. " must be a " .. SETTINGS[k] } end
        if k == "webhooks" then
          for provider, url in pairs(val) do
            if provider ~= "apiplex" and provider ~= "sinch" then
              return 400, { error = "webhooks: unknown provider " .. tostring(provider)
                .. " (apiplex, sinch)" }
            end
            local ok, werr = webhook.check_url(url)
            if not ok then return 400, { error = "webhooks." .. provider .. ": " .. werr } end
          end
        elseif k == "unreachable" then
          local set = {}
          for _, num in ipairs(val) do set[num] = true end
          val = set
        end
        cur[k] = val
      end
      d:set("settings", state.encode(cur))
      state.bump()
      state.refresh()
      return 200, state.settings
    end
  elseif path == "/_sandbox/tokens/expire" and m == "POST" then
    state.dict("sbx_tok"):flush_all()
    return 200, { ok = true }
  elseif path == "/_sandbox/webhooks" and m == "GET" then
    return 200, state.list(state.read_log("w", since(args), tonumber(args.limit)))
  elseif path:find("^/_sandbox/sink/[%w_%-]+$") then
    local name = path:sub(16)
    if m == "POST" then
      local headers = ngx.req.get_headers(100)
      state.log("s:" .. name, { headers = headers, body = ctx.body(), time = ngx.now(),
        uri = ngx.var.request_uri })
      local st = tonumber(args.status) or 200
      return st, { ok = st < 300 }
    elseif m == "GET" then
      return 200, state.list(state.read_log("s:" .. name, 1))
    elseif m == "DELETE" then
      local d = state.dict("sbx_log")
      local n = d:get("n:s:" .. name) or 0
      for i = 1, n do d:delete("s:" .. name .. ":" .. i) end
      d:delete("n:s:" .. name)
      return 200, { ok = true }
    end
  elseif path == "/_sandbox/templates" and m == "GET" then
    local out = {}
    for _, t in ipairs(registry.all()) do out[#out + 1] = t.raw end
    return 200, state.list(out)
  end
  return 404, { error = "no admin endpoint " .. m .. " " .. path }
end

return _M
