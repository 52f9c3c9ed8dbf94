--- The OpenResty example's handlers (see nginx.conf beside this file).
--
-- One alimtalk client per provider and nginx worker, made on first use from the JSON file
-- named by $ALIMTALK_CONFIG (`{ "provider": "sens", "sens": { ..., "secret_key_env": "..." },
-- "apiplex": { ... }, "templates": "templates.json" }`); `POST /send?provider=apiplex` picks
-- another configured provider than the default. Inside a request, the client picks the cosocket
-- transport by itself, so a send waiting on a slow provider never blocks the worker, and the
-- provider's OAuth token (BizMessage, Sinch) is cached once for every request of the worker.
-- Signing and text measurement run in the C core built for LuaJIT (lua_package_cpath).
-- Every client counts its sends into the `alimtalk_metrics` shared dict (when nginx.conf has
-- it), so `GET /metrics` answers for all workers at once.
local cjson = require("cjson.safe")

local _M = {}

local clients, client_errs = {}, {}
local metrics   -- this worker's alimtalk.metrics over the shared dict (nil without the dict)
local hooks = {}

local function reply(status, body)
  ngx.status = status -- luacheck: ignore 122
  ngx.header["Content-Type"] = "application/json" -- luacheck: ignore 122
  ngx.say(cjson.encode(body))
  return ngx.exit(status)
end

-- The configuration, read once per worker (not on every request).
local config, config_err

local function read_config()
  local path = os.getenv("ALIMTALK_CONFIG")
  if not path then return {} end -- no configuration: the embedded sandbox
  local f, e = io.open(path, "rb")
  if not f then return nil, "cannot read ALIMTALK_CONFIG: " .. tostring(e) end
  local text = f:read("*a")
  f:close()
  local cfg, je = cjson.decode(text)
  if type(cfg) ~= "table" then return nil, "ALIMTALK_CONFIG is not a JSON object: " .. tostring(je) end
  return cfg
end

local function load_config()
  if config == nil and config_err == nil then
    config, config_err = read_config()
    config = config or false
  end
  return config or nil, config_err
end

--- init_worker: check the configuration early (the client itself is made on first use).
function _M.init()
  local cfg, e = load_config()
  if not cfg then ngx.log(ngx.ERR, "alimtalk: ", e) end
end

local PROVIDERS = { sens = true, bizmessage = true, apiplex = true, sinch = true, sandbox = true }

local function get_client(name)
  local cfg, e = load_config()
  if not cfg then return nil, e end
  name = name or cfg.provider or "sandbox"
  if not PROVIDERS[name] or (name ~= "sandbox" and not cfg[name]) then
    return nil, "provider '" .. tostring(name) .. "' is not configured", 400   -- the caller's mistake
  end
  if clients[name] or client_errs[name] then return clients[name], client_errs[name] end
  if metrics == nil and ngx.shared.alimtalk_metrics then
    local m = require("alimtalk.metrics")
    metrics = m.new{ store = m.shared_dict("alimtalk_metrics") }
  end
  local ok, c, err = pcall(require("alimtalk").new, { provider = name, [name] = cfg[name],
                                                      templates = cfg.templates, metrics = metrics })
  if not ok then client_errs[name] = tostring(c)
  elseif not c then client_errs[name] = tostring(err)
  else clients[name] = c end
  return clients[name], client_errs[name]
end

--- POST /send[?provider=NAME]: the body is one message; answers the result (200 accepted,
-- 202 uncertain, 422 rejected or invalid, 503 not sent).
function _M.send()
  ngx.req.read_body()
  local msg = cjson.decode(ngx.req.get_body_data() or "")
  if type(msg) ~= "table" then return reply(400, { error = "the body must be a JSON message" }) end
  local c, e, status = get_client(ngx.var.arg_provider)
  if not c then return reply(status or 500, { error = e }) end
  -- API PLEX result webhooks carry the echo token back: that is how /webhooks/apiplex
  -- knows a result is genuine.
  local token = os.getenv("APIPLEX_ECHO_TOKEN")
  if token and msg.echo == nil and c:provider("apiplex") then msg.echo = token end
  local result, err = c:send(msg)
  if not result then
    return reply(422, { status = "rejected", error = { code = err.code, field = err.field,
      message = err.message, provider_code = err.provider_code } })
  end
  local code = ({ accepted = 200, uncertain = 202, rejected = 422, not_sent = 503 })[result.status] or 500
  return reply(code, { status = result.status, provider = result.provider, id = result.id,
                       ids = result.ids, code = result.code, message = result.message,
                       attempts = result.attempts })
end

--- POST /webhooks/sinch and /webhooks/apiplex: verify, then keep the delivery events.
function _M.webhook(provider)
  local hook = hooks[provider]
  if not hook then
    local err
    hook, err = require("alimtalk.webhook." .. provider).new()
    if not hook then return reply(500, { error = tostring(err) }) end
    hooks[provider] = hook -- per worker: Sinch nonces are remembered across requests
  end
  ngx.req.read_body()
  local body = ngx.req.get_body_data() or ""
  local headers = ngx.req.get_headers(100)
  local res, err = hook:parse(headers, body, ngx.var.remote_addr)
  if not res then
    ngx.log(ngx.WARN, "alimtalk: refused ", provider, " webhook: ", tostring(err))
    return reply(401, { error = err.code })
  end
  if provider == "sinch" then
    -- Each worker remembers the nonces it saw; a replay sent to another worker is caught
    -- here, in a dict every worker shares (kept for the signature window, 300 s, and more).
    local nonce = headers["x-sinch-webhook-signature-nonce"]
    local ok, derr = ngx.shared.alimtalk_nonces:add("sinch:" .. tostring(nonce), true, 600)
    if not ok and derr == "exists" then
      ngx.log(ngx.WARN, "alimtalk: refused sinch webhook: nonce already seen by another worker")
      return reply(401, { error = "REPLAYED" })
    end
  end
  local list = res.status and { res } or res
  local dict = ngx.shared.alimtalk_events
  for _, ev in ipairs(list) do
    local n = dict:incr("n", 1, 0)
    dict:set("e:" .. n, cjson.encode({ provider = provider, kind = ev.kind, status = ev.status,
                                      ids = ev.ids, code = ev.code, to = ev.to }))
    dict:delete("e:" .. (n - 100))
  end
  return reply(200, { received = #list })
end

--- GET /events: the last delivery events received (at most 100).
function _M.events()
  local dict = ngx.shared.alimtalk_events
  local n = dict:get("n") or 0
  local out = {}
  for i = math.max(1, n - 99), n do
    local e = dict:get("e:" .. i)
    if e then out[#out + 1] = cjson.decode(e) end
  end
  return reply(200, { events = out })
end

--- GET /metrics: the send counters and latency histogram of every worker, as Prometheus text.
function _M.metrics()
  local dict = ngx.shared.alimtalk_metrics
  if not dict then return reply(404, { error = "no lua_shared_dict alimtalk_metrics" }) end
  local m = require("alimtalk.metrics")
  metrics = metrics or m.new{ store = m.shared_dict("alimtalk_metrics") }
  ngx.header["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8" -- luacheck: ignore 122
  ngx.print(metrics:prometheus())
end

--- GET /health: a handler that shares the worker with the sends.
function _M.health()
  local core = require("alimtalk.core")
  return reply(200, { ok = true, core = core.version })
end

return _M
