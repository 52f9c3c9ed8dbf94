--- Start, stop and drive the sandbox server: a private nginx (Debian's nginx + lua module)
-- that emulates SENS, BizMessage, API PLEX and Sinch on loopback, over plain HTTP and HTTPS
-- (with a CA made by the openssl CLI at start, so clients can test real TLS verification).
--
--     local server = require "alimtalk.sandbox.server"
--     local s = assert(server.start{ templates = "spec/fixtures/templates.json" })
--     -- s.http_url, s.https_url, s.ca_file, s.run_dir, s.credentials
--     s:outbox(); s:attempts(); s:fault{ provider = "sens", kind = "status", status = 503 }
--     s:stop()
--
-- Runs from plain Lua 5.4 or LuaJIT (not inside nginx). Admin calls go over HTTP through
-- `alimtalk.core`'s client when it is built, else the `curl` command.
-- @module alimtalk.sandbox.server
local cjson = require("cjson").new()
local webhook = require "alimtalk.sandbox.emu.webhook"
cjson.encode_number_precision(14)

local _M = {}

local mt = { __name = "alimtalk.sandbox.server" }
local methods = {}
mt.__index = methods

--- The default test credentials (documented in docs/sandbox.md); `start{ credentials = }`
-- overrides any of them, provider by provider.
_M.default_credentials = {
  sens = { access_key = "SBXACCESSKEY00000001", secret_key = "sandbox-sens-secret-key",
    service_id = "ncp:kkobizmsg:kr:0000001:sandbox", plus_friend_id = "@sandbox",
    channel_name = "Sandbox", failover_tel = "0212345678" },
  bizmessage = { client_id = "sandbox-client", client_secret = "sandbox-bizmessage-secret",
    sender_key = "0000000000000000000000000000000000sandbx", sender_no = "0212345678" },
  apiplex = { user_id = "sandbox", secret_key = "sandbox-apiplex-secret",
    sender_key = "0000000000000000000000000000000000sandbx", sender_number = "0212345678" },
  sinch = { key_id = "sandbox-key-id", key_secret = "sandbox-key-secret",
    project_id = "sandbox-project", app_id = "SANDBOXAPP", webhook_secret = "sandbox-webhook-secret" },
}

local OPTIONS = { port = "number", https_port = "number", host = "string", tls = "boolean",
  templates = "string", delivery_delay = "number", token_ttl = "number", run_dir = "string",
  credentials = "table", webhooks = "table", workers = "number", unreachable = "table",
  webhook_tries = "number", nginx = "string", daemon = "boolean", shm_size = "string",
  max_variable_chars = "number" }

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function run(cmd)
  local ok, _, code = os.execute(cmd)
  if ok == true or ok == 0 then return true end
  return false, code
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function write_file(path, data)
  local f, err = io.open(path, "wb")
  if not f then return nil, err end
  f:write(data)
  f:close()
  return true
end

-- The process's working directory. $PWD is not trusted: a parent that changed directory
-- without updating it (a stale $PWD) would send relative paths elsewhere. Plain Lua cannot
-- change directory, so the answer is kept.
local cwd
local function getcwd()
  if not cwd then
    local p = io.popen("pwd -P")
    cwd = p and p:read("l")
    if p then p:close() end
    cwd = cwd or "."
  end
  return cwd
end

-- Whether this process runs as root (then nginx needs `user root;` to run its workers as
-- root: as `nobody` they could not read a clone in a 0700 folder). The answer is kept.
local root
local function is_root()
  if root == nil then
    local p = io.popen("id -u")
    local uid = p and p:read("l")
    if p then p:close() end
    root = uid == "0"
  end
  return root
end

local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  return getcwd() .. "/" .. path
end

-- The repository's lua/ folder, from where this file was loaded.
local function lua_root()
  local src = debug.getinfo(1, "S").source
  local path = src:sub(1, 1) == "@" and src:sub(2) or "lua/alimtalk/sandbox/server.lua"
  local dir = path:match("^(.*)/alimtalk/sandbox/server%.lua$") or "lua"
  return absolute((dir:gsub("^%./", "")))
end
_M.lua_root = lua_root

local seeded = false
-- Listening ports are picked below the kernel's ephemeral range: a port in it may be the local
-- end of a client connection at any moment (the suite makes thousands on loopback), and then
-- nginx's bind() fails, or succeeds only after retries that leave [emerg] lines in its log.
local low_ephemeral
local function random_port()
  if not seeded then
    local f = io.open("/dev/urandom", "rb")
    local b = f and f:read(4) or ""
    if f then f:close() end
    local n = os.time()
    for i = 1, #b do n = n * 256 + b:byte(i) end
    math.randomseed(n % 2147483647)
    seeded = true
  end
  if low_ephemeral == nil then
    local r = read_file("/proc/sys/net/ipv4/ip_local_port_range")
    low_ephemeral = tonumber(r and r:match("^%s*(%d+)")) or 32768
  end
  if low_ephemeral > 12000 then return math.random(10000, low_ephemeral - 1) end
  return math.random(20000, 60999)   -- an unusual range: the old guess, retried on a clash
end
--- A port for a local server to listen on, outside the ephemeral range (see above).
_M.random_port = random_port

local function merge(base, over)
  local out = {}
  for k, v in pairs(base) do out[k] = v end
  for k, v in pairs(over or {}) do out[k] = v end
  return out
end

-- A CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI.
local function make_certs(dir)
  local q = function(f) return sh_quote(dir .. "/" .. f) end
  local ext = dir .. "/server.ext"
  assert(write_file(ext, "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
    .. "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:0:0:0:0:0:0:0:1,DNS:localhost\n"))
  local cmds = {
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650"
      .. " -subj '/CN=alimtalk sandbox CA' -keyout " .. q("ca.key") .. " -out " .. q("ca.pem")
      .. " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign",
    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/CN=127.0.0.1'"
      .. " -keyout " .. q("server.key") .. " -out " .. q("server.csr"),
    "openssl x509 -req -in " .. q("server.csr") .. " -CA " .. q("ca.pem") .. " -CAkey " .. q("ca.key")
      .. " -CAcreateserial -days 3650 -extfile " .. q("server.ext") .. " -out " .. q("server.pem"),
  }
  for _, c in ipairs(cmds) do
    if not run(c .. " >/dev/null 2>&1") then return nil, "openssl failed: " .. c end
  end
  return true
end

local CONF = [[
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
${user}
daemon ${daemon};
master_process on;
worker_processes ${workers};
pid ${run}/nginx.pid;
error_log ${run}/error.log warn;
${rlimit}
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${run}/tmp/body;
  proxy_temp_path ${run}/tmp/proxy;
  fastcgi_temp_path ${run}/tmp/fastcgi;
  uwsgi_temp_path ${run}/tmp/uwsgi;
  scgi_temp_path ${run}/tmp/scgi;
  client_body_buffer_size 1m;
  client_max_body_size 8m;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  server_tokens off;
  lua_package_path "${lua}/?.lua;${lua}/?/init.lua;;";
  lua_shared_dict sbx_state 16m;
  lua_shared_dict sbx_msg ${shm};
  lua_shared_dict sbx_log ${shm};
  lua_shared_dict sbx_tok 4m;
  lua_shared_dict sbx_seq 64k;
  lua_max_pending_timers 65536;
  lua_max_running_timers 4096;
  lua_socket_log_errors off;
  init_by_lua_block { require("alimtalk.sandbox.emu").init("${run}/sandbox.json") }
  init_worker_by_lua_block { require("alimtalk.sandbox.emu").init_worker() }
  server {
    listen ${host}:${port} backlog=4096;
${tls_listen}
    location / { content_by_lua_block { require("alimtalk.sandbox.emu").handle() } }
  }
}
]]

local TLS = [[
    listen ${host}:${https_port} ssl backlog=4096;
    ssl_certificate ${run}/server.pem;
    ssl_certificate_key ${run}/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:sbx_ssl:1m;]]

local function fill(tpl, vars)
  return (tpl:gsub("%${([%w_]+)}", function(k) return tostring(vars[k]) end))
end

-- Unknown provider names and fields raise, as unknown options do.
local function check_tables(opts)
  local where = "alimtalk.sandbox.server.start: "
  for p, c in pairs(opts.credentials or {}) do
    local known = _M.default_credentials[p]
    if not known then error(where .. "unknown credentials provider " .. tostring(p), 4) end
    if type(c) ~= "table" then error(where .. "credentials." .. p .. " must be a table", 4) end
    for k, v in pairs(c) do
      if not known[k] then error(where .. "unknown credentials." .. p .. " field " .. tostring(k), 4) end
      if type(v) ~= "string" then
        error(where .. "credentials." .. p .. "." .. k .. " must be a string", 4)
      end
    end
  end
  for p, url in pairs(opts.webhooks or {}) do
    if p ~= "apiplex" and p ~= "sinch" then
      error(where .. "unknown webhooks provider " .. tostring(p) .. " (apiplex, sinch)", 4)
    end
    if type(url) ~= "string" then error(where .. "webhooks." .. p .. " must be a string", 4) end
  end
end

-- The admin API has no authentication: the server listens on loopback only.
local function loopback(host)
  if host == "localhost" or host == "::1" or host == "[::1]" then return true end
  local a, b, c = host:match("^127%.(%d%d?%d?)%.(%d%d?%d?)%.(%d%d?%d?)$")
  return a ~= nil and tonumber(a) < 256 and tonumber(b) < 256 and tonumber(c) < 256
end

local function start(opts, made)
  opts = opts or {}
  for k, v in pairs(opts) do
    if not OPTIONS[k] then error("alimtalk.sandbox.server.start: unknown option " .. tostring(k), 3) end
    if type(v) ~= OPTIONS[k] then
      error("alimtalk.sandbox.server.start: " .. k .. " must be a " .. OPTIONS[k], 3)
    end
  end
  check_tables(opts)
  local host = opts.host or "127.0.0.1"
  if not loopback(host) then
    return nil, "host must be a loopback address (127.0.0.0/8, ::1, localhost): the admin API "
      .. "has no authentication; got " .. host
  end
  for p, url in pairs(opts.webhooks or {}) do
    local ok, err = webhook.check_url(url)
    if not ok then return nil, "webhooks." .. p .. ": " .. err end
  end
  -- IPv6 literals go in brackets in nginx's listen and in URLs
  if host == "::1" then host = "[::1]" end
  local tls = opts.tls ~= false
  local run_dir = opts.run_dir
  local temporary = not run_dir
  if not run_dir then
    local p = io.popen("mktemp -d /tmp/alimtalk-sandbox.XXXXXX")
    run_dir = p:read("l")
    p:close()
    if not run_dir then return nil, "mktemp failed" end
    made.dir = run_dir
  end
  run_dir = absolute(run_dir)
  if not run("mkdir -p " .. sh_quote(run_dir .. "/tmp")) then return nil, "cannot create " .. run_dir end
  local creds = {}
  for p, d in pairs(_M.default_credentials) do
    creds[p] = merge(d, opts.credentials and opts.credentials[p])
  end
  local templates = opts.templates and absolute(opts.templates)
  if templates and not read_file(templates) then return nil, "cannot read templates " .. templates end
  local config = {
    templates = templates, credentials = creds, webhooks = opts.webhooks or {},
    settings = { delivery_delay = opts.delivery_delay or 0.05, token_ttl = opts.token_ttl or 3600,
      unreachable = opts.unreachable, webhook_tries = opts.webhook_tries or 10,
      max_variable_chars = opts.max_variable_chars },
  }
  local ok, err
  if tls and not read_file(run_dir .. "/server.pem") then
    ok, err = make_certs(run_dir)
    if not ok then return nil, err end
  end
  local nginx = opts.nginx or "nginx"
  local as_root = is_root()
  local last_err
  for _ = 1, 25 do
    local port = (opts.port and opts.port ~= 0) and opts.port or random_port()
    local https_port = (opts.https_port and opts.https_port ~= 0) and opts.https_port or random_port()
    if https_port == port then https_port = port + 1 end
    local vars = { run = run_dir, lua = lua_root(), host = host, port = port, https_port = https_port,
      workers = opts.workers or 2, daemon = opts.daemon == false and "off" or "on",
      user = as_root and "user root;" or "", shm = opts.shm_size or "64m",
      rlimit = as_root and "worker_rlimit_nofile 16384;" or "" }
    vars.tls_listen = tls and fill(TLS, vars) or ""
    -- webhook URLs starting with "/" point at this server itself (e.g. its /_sandbox/sink/)
    config.self_url = "http://" .. host .. ":" .. port
    ok, err = write_file(run_dir .. "/sandbox.json", cjson.encode(config))
    if not ok then return nil, err end
    assert(write_file(run_dir .. "/nginx.conf", fill(CONF, vars)))
    os.remove(run_dir .. "/error.log")
    -- nginx's Lua is LuaJIT: a LUA_PATH/LUA_CPATH meant for the caller's runtime (e.g. Lua
    -- 5.4's cjson.so) must not reach it
    local cmd = "env -u LUA_PATH -u LUA_CPATH " .. nginx .. " -p " .. sh_quote(run_dir)
      .. " -e " .. sh_quote(run_dir .. "/error.log") .. " -c " .. sh_quote(run_dir .. "/nginx.conf")
    if run(cmd .. " >" .. sh_quote(run_dir .. "/start.log") .. " 2>&1") then
      local s = setmetatable({ run_dir = run_dir, host = host, port = port,
        https_port = tls and https_port or nil,
        http_url = "http://" .. host .. ":" .. port,
        https_url = tls and ("https://" .. host .. ":" .. https_port) or nil,
        ca_file = tls and (run_dir .. "/ca.pem") or nil,
        error_log = run_dir .. "/error.log", credentials = creds, templates = templates,
        _temporary = temporary }, mt)
      -- The master has bound the ports before daemonizing; wait until a worker answers.
      local up
      for _ = 1, 100 do
        local resp = s:request("GET", "/_sandbox/health")
        if resp and resp.status == 200 then up = true break end
        run("sleep 0.05")
      end
      if not up then
        s:stop()
        return nil, "sandbox did not answer: " .. (read_file(run_dir .. "/error.log") or "")
      end
      write_file(run_dir .. "/server.json", cjson.encode({ http_url = s.http_url,
        https_url = s.https_url, ca_file = s.ca_file, port = port, https_port = s.https_port,
        credentials = creds }))
      return s
    end
    last_err = (read_file(run_dir .. "/start.log") or "") .. (read_file(run_dir .. "/error.log") or "")
    if not last_err:find("Address already in use", 1, true) or (opts.port and opts.port ~= 0) then
      break
    end
  end
  return nil, "nginx did not start: " .. tostring(last_err)
end

--- Start a sandbox server.
-- @tparam[opt] table opts
--   `port` (0 or nil: a free one), `https_port` (same), `host` ("127.0.0.1"; loopback only:
--   127.0.0.0/8, ::1 or localhost, the admin API has no authentication), `tls` (true),
--   `templates` (registry JSON path), `delivery_delay` (seconds until accepted messages are
--   delivered, default 0.05), `token_ttl` (bearer token lifetime, default 3600), `run_dir`
--   (default a new folder under /tmp, removed again by `stop`), `credentials` (overrides of
--   `default_credentials`, per provider; unknown providers or fields raise), `webhooks`
--   ({ apiplex = url, sinch = url }; a URL starting with "/" means this server itself, e.g.
--   "/_sandbox/sink/sinch"; hosts are IP addresses or localhost), `unreachable` (list of
--   numbers that are not KakaoTalk users: delivery fails with 3019), `webhook_tries` (10),
--   `max_variable_chars` (longest variable value, Kakao code 3025; off by default: unpublished),
--   `workers` (2), `daemon` (true), `shm_size` ("64m").
-- Relative paths are resolved against the real working directory.
-- @treturn table|nil the server object, or nil and a message string
function _M.start(opts)
  local made = {}
  local s, err = start(opts, made)
  if not s and made.dir and made.dir:find("^/tmp/alimtalk%-sandbox%.") then
    run("rm -rf " .. sh_quote(made.dir))
  end
  return s, err
end

--- Attach to a server started earlier (by `alimtalk sandbox start`) from its run folder.
-- @tparam string run_dir the folder
-- @treturn table|nil the server object, or nil and a message
function _M.attach(run_dir)
  run_dir = absolute(run_dir)
  local info = read_file(run_dir .. "/server.json")
  if not info then return nil, "no sandbox in " .. run_dir end
  local t = cjson.decode(info)
  t.run_dir = run_dir
  t.host = "127.0.0.1"
  t.error_log = run_dir .. "/error.log"
  return setmetatable(t, mt)
end

-- Is the process alive? A daemonized nginx that has exited stays a zombie until init reaps
-- it (seconds, on some machines), so /proc is read rather than `kill -0` trusted.
local function alive(pid)
  local stat = read_file("/proc/" .. pid .. "/stat")
  if stat then return not stat:match("^%d+ %b() ([ZX])") end
  return run("kill -0 " .. pid .. " 2>/dev/null")
end

--- The nginx master pid, or nil when not running.
function methods:pid()
  local s = read_file(self.run_dir .. "/nginx.pid")
  local pid = s and tonumber(s:match("%d+"))
  if pid and alive(pid) then return pid end
  return nil
end

--- Stop the server (waits until nginx has exited). Safe to call twice. A run folder that
-- `start` made itself (no `run_dir` given) is removed; read `lua_errors()` before stopping.
function methods:stop()
  if self._client then self._client:close() self._client = nil end
  local pid = self:pid()
  if pid then
    run("kill -TERM " .. pid .. " 2>/dev/null")
    local gone = false
    for _ = 1, 200 do
      if not alive(pid) then gone = true break end
      run("sleep 0.02")
    end
    if not gone then run("kill -KILL " .. pid .. " 2>/dev/null") end
  end
  if self._temporary and self.run_dir:find("^/tmp/alimtalk%-sandbox%.") then
    run("rm -rf " .. sh_quote(self.run_dir))
    self._temporary = false
  end
  return true
end

-- HTTP for admin calls: alimtalk.core's client if built, else curl.
local core_ok, core = pcall(require, "alimtalk.core")
if not (core_ok and type(core) == "table" and core.http_client) then core = nil end

local function curl_request(req)
  local tmp = os.tmpname()
  local hdr = {}
  for k, v in pairs(req.headers or {}) do hdr[#hdr + 1] = "-H " .. sh_quote(k .. ": " .. v) end
  local cmd = "curl -s -S -o " .. sh_quote(tmp) .. " -w '%{http_code}' -X " .. req.method
    .. " --max-time " .. tostring(req.timeout or 10) .. " " .. table.concat(hdr, " ")
  if req.body then
    local bf = tmp .. ".body"
    write_file(bf, req.body)
    cmd = cmd .. " --data-binary @" .. sh_quote(bf)
  end
  if req.ca_file then cmd = cmd .. " --cacert " .. sh_quote(req.ca_file) end
  local p = io.popen(cmd .. " " .. sh_quote(req.url) .. " 2>&1")
  local out = p:read("a")
  p:close()
  local body = read_file(tmp)
  os.remove(tmp)
  os.remove(tmp .. ".body")
  local status = tonumber(out:match("(%d%d%d)$"))
  if not status or status == 0 then return nil, out end
  return { status = status, body = body or "", headers = {} }
end

--- One HTTP request to the server (path relative to http_url); used by the admin helpers.
-- @treturn table|nil `{ status, body, headers }`, or nil and a message
function methods:request(method, path, body, headers)
  local req = { method = method, url = self.http_url .. path, body = body,
    headers = headers or (body and { ["Content-Type"] = "application/json" }) or {} }
  if core then
    -- the outbox and attempt log of a big run are many megabytes: no 1 MiB cap here
    self._client = self._client or core.http_client({ timeout = 30, max_response = 1024 * 1024 * 1024 })
    local resp, err = self._client:request(req)
    if resp then return resp end
    return nil, err
  end
  return curl_request(req)
end

local function admin(self, method, path, value)
  local resp, err = self:request(method, path, value ~= nil and cjson.encode(value) or nil)
  if not resp then return nil, err end
  local ok, v = pcall(cjson.decode, resp.body)
  if resp.status >= 300 then return nil, (ok and type(v) == "table" and v.error) or resp.body end
  if not ok then return nil, "bad admin answer: " .. resp.body end
  return v
end

--- Every request the emulated providers saw, oldest first.
-- @tparam[opt] table q `provider`, `since` (sequence number), `limit`
function methods:attempts(q)
  local qs = {}
  for k, v in pairs(q or {}) do qs[#qs + 1] = k .. "=" .. tostring(v) end
  return admin(self, "GET", "/_sandbox/attempts" .. (#qs > 0 and "?" .. table.concat(qs, "&") or ""))
end

--- What each handset received: accepted messages with rendered text, buttons and status
-- ("pending", "delivered", "failed", "canceled").
-- @tparam[opt] table q `provider`, `to`, `status`
function methods:outbox(q)
  local qs = {}
  for k, v in pairs(q or {}) do qs[#qs + 1] = k .. "=" .. tostring(v) end
  return admin(self, "GET", "/_sandbox/outbox" .. (#qs > 0 and "?" .. table.concat(qs, "&") or ""))
end

--- Add a fault (or a list of faults); see alimtalk.sandbox.emu.faults for the fields.
function methods:fault(f) return admin(self, "POST", "/_sandbox/faults", f) end

--- Remove every fault.
function methods:clear_faults() return admin(self, "DELETE", "/_sandbox/faults") end

--- The faults with how often each was seen/fired.
function methods:faults() return admin(self, "GET", "/_sandbox/faults") end

--- Forget all state (messages, logs, tokens, serials, faults, settings overrides).
function methods:reset() return admin(self, "POST", "/_sandbox/reset") end

--- Override settings at runtime: `delivery_delay`, `token_ttl`, `webhook_tries`, `unreachable`,
-- `max_variable_chars`,
-- `webhooks` ({ apiplex = url, sinch = url }).
function methods:settings(t) return admin(self, "POST", "/_sandbox/settings", t) end

--- Expire every bearer token now (BizMessage and Sinch).
function methods:expire_tokens() return admin(self, "POST", "/_sandbox/tokens/expire") end

-- The credentials each provider's client options take (same names as the sandbox's).
local CLIENT_KEYS = {
  sens = { "access_key", "secret_key", "service_id", "plus_friend_id" },
  bizmessage = { "client_id", "client_secret", "sender_key", "sender_no" },
  apiplex = { "user_id", "secret_key", "sender_key", "sender_number" },
  sinch = { "project_id", "app_id", "key_id", "key_secret" },
}

--- Options for `alimtalk.new{ [provider] = ... }` that talk to this sandbox over https with its
-- CA and its credentials (plain http when started without TLS).
-- @tparam string provider "sens" | "bizmessage" | "apiplex" | "sinch"
-- @tparam[opt] table extra options to add or override (`timeout`, `refresh_margin`, ...)
-- @treturn table the provider's options
function methods:client_options(provider, extra)
  local keys = CLIENT_KEYS[provider]
  if not keys then error("client_options: unknown provider '" .. tostring(provider) .. "'", 2) end
  local base = self.https_url or self.http_url
  local o = { base_url = base, ca_file = self.https_url and self.ca_file or nil }
  if provider == "sinch" then o.auth_url = base end
  local creds = self.credentials[provider]
  for _, k in ipairs(keys) do o[k] = creds[k] end
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

--- Every webhook delivery try made by the server.
function methods:webhooks() return admin(self, "GET", "/_sandbox/webhooks") end

--- URL of a webhook receiver hosted by the sandbox itself (`status` makes it answer that).
function methods:sink_url(name, status)
  return self.http_url .. "/_sandbox/sink/" .. name .. (status and ("?status=" .. status) or "")
end

--- What the receiver `name` got: list of `{ headers, body, time }`.
function methods:sink(name) return admin(self, "GET", "/_sandbox/sink/" .. name) end

--- Lines of the nginx error log that report Lua errors (empty list when clean).
function methods:lua_errors()
  local out = {}
  local log = read_file(self.error_log) or ""
  for line in log:gmatch("[^\n]+") do
    if line:find("%[error%]") or line:find("%[alert%]") or line:find("%[crit%]")
        or line:find("%[emerg%]") or line:find("lua entry thread aborted") then
      out[#out + 1] = line
    end
  end
  return out
end

return _M
