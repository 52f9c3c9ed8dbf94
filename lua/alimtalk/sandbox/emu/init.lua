--- The sandbox emulator inside nginx: one location hands every request to `handle`, which
-- picks the provider by path (all four on one port, each with its own path layout), applies
-- any injected fault, runs the provider's handler and logs the attempt.
--   /alimtalk/v2/services/...          NAVER Cloud SENS
--   /v2/oauth/token, /v2/send/kakao, /v2/info/...   Kakao i Connect BizMessage
--   /{service_id}/v2/send               API PLEX
--   /oauth2/token, /v1/projects/...     Sinch Conversation API
--   /_sandbox/...                       admin (alimtalk.sandbox.emu.admin)
-- @module alimtalk.sandbox.emu
local state = require "alimtalk.sandbox.emu.state"
local registry = require "alimtalk.sandbox.emu.registry"
local faults = require "alimtalk.sandbox.emu.faults"

local ngx = ngx
local _M = {}

local handlers = {}

--- init_by_lua: read the run folder's sandbox.json and the template registry.
function _M.init(config_path)
  local f = assert(io.open(config_path, "rb"))
  local cfg = assert(state.decode(f:read("*a")), "bad sandbox config " .. config_path)
  f:close()
  cfg.settings = cfg.settings or {}
  if type(cfg.settings.unreachable) == "table" and cfg.settings.unreachable[1] then
    local set = {}
    for _, n in ipairs(cfg.settings.unreachable) do set[n] = true end
    cfg.settings.unreachable = set
  end
  state.config = cfg
  registry.load(cfg.templates, state.decode)
  handlers.sens = require "alimtalk.sandbox.emu.sens"
  handlers.bizmessage = require "alimtalk.sandbox.emu.bizmessage"
  handlers.apiplex = require "alimtalk.sandbox.emu.apiplex"
  handlers.sinch = require "alimtalk.sandbox.emu.sinch"
  handlers.admin = require "alimtalk.sandbox.emu.admin"
end

--- init_worker_by_lua.
function _M.init_worker()
  math.randomseed(ngx.now() * 1000 + ngx.worker.pid())
end

local function provider_of(path)
  local c = path:byte(2)
  if c == 97 and path:find("^/alimtalk/v2/services/") then return "sens" end       -- 'a'
  if c == 95 and path:find("^/_sandbox/") then return "admin" end                  -- '_'
  if path:find("^/v2/") then return "bizmessage" end
  if path == "/oauth2/token" or path:find("^/v1/projects/") then return "sinch" end
  if path:find("^/[^/]+/v2/send$") then return "apiplex" end
  return nil
end

-- Request body, read once (kept in memory: client_body_buffer_size is 1m in the config).
local function body()
  ngx.req.read_body()
  local b = ngx.req.get_body_data()
  if b then return b end
  local file = ngx.req.get_body_file()
  if not file then return "" end
  local fh = io.open(file, "rb")
  if not fh then return "" end
  b = fh:read("*a")
  fh:close()
  return b
end

local function log_attempt(ctx, provider, status, resp, extra)
  state.log("a", { provider = provider, method = ctx.method, path = ctx.path, status = status,
    time = ctx.start, fault = ctx.fault and ctx.fault.kind or nil, ids = ctx.ids,
    fault_id = ctx.fault and ctx.fault.id or nil,
    codes = ctx.codes, serials = ctx.serials, note = extra, body = ctx.body_key,
    code = type(resp) == "table" and type(resp.code) == "string" and resp.code or nil,
    detail = type(resp) == "table" and type(resp.result) == "table" and resp.result.detail_code or nil,
    error = (status >= 400 and type(resp) == "table") and resp or nil })
end

local function process(provider)
  local ctx = { method = ngx.req.get_method(), path = ngx.var.uri, start = ngx.now() }
  local cached
  ctx.body = function()
    if not cached then cached = body() end
    return cached
  end
  if provider == "admin" then
    local status, resp, headers = handlers.admin.handle(ctx)
    return state.respond(status, resp, headers)
  end
  local fault, fired, body_key = faults.pick(provider, ctx.method, ctx.path, ctx.body)
  ctx.fault, ctx.fired, ctx.body_key = fault, fired, body_key
  local kind = fault and fault.kind
  if kind then
    if kind == "reset_before" then
      log_attempt(ctx, provider, 0, nil, "connection closed before the request was read")
      return ngx.exit(444)
    elseif kind == "delay" then
      ngx.sleep(fault.delay or 1)
    elseif kind == "stall" then
      ngx.sleep(fault.delay or 30)
      log_attempt(ctx, provider, 0, nil, "stalled, then closed")
      return ngx.exit(444)
    elseif kind == "status" then
      ctx.body()
      local st = fault.status
      local headers
      if st == 429 or st == 503 then headers = { ["Retry-After"] = tostring(fault.retry_after or 1) } end
      log_attempt(ctx, provider, st, nil, "injected status")
      local b = fault.body or ('{"error":{"errorCode":"' .. st .. '","message":"injected by sandbox"}}')
      return state.respond(st, b, headers)
    end
  end
  local status, resp, headers = handlers[provider].handle(ctx)
  log_attempt(ctx, provider, status, resp)
  if kind == "reset_after" then
    return ngx.exit(444)
  elseif kind == "malformed" then
    local s = type(resp) == "table" and state.encode(resp) or tostring(resp or "{}")
    return state.respond(status, s:sub(1, math.max(1, math.floor(#s / 2))), headers)
  end
  return state.respond(status, resp, headers)
end

--- content_by_lua: handle one request.
function _M.handle()
  state.refresh()
  local path = ngx.var.uri
  local provider = provider_of(path)
  if not provider then
    return state.respond(404, { error = "no provider serves " .. path, sandbox = true })
  end
  local ok, err = xpcall(process, debug.traceback, provider)
  if not ok then
    ngx.log(ngx.ERR, "sandbox bug: ", err)
    return state.respond(500, { sandbox_error = "internal error, see the nginx error log" })
  end
end

return _M
