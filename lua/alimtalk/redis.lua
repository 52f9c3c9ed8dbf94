--- Redis connections: one API over two backends.
--
-- Outside nginx a connection is hiredis in the C core (`core.redis_connect`, blocking, with a
-- connect timeout and a timeout on every read and write). Inside nginx, in a phase with
-- cosockets, it is lua-resty-redis on `ngx.socket.tcp` (never blocks the worker), and
-- `conn:close()` puts a healthy connection back into nginx's per-worker keepalive pool.
--
--     local redis = require "alimtalk.redis"
--     local conn, err = redis.connect("redis://127.0.0.1:6379/2")
--     if not conn then error(tostring(err)) end
--     conn:call("SET", "k", "v")                          --> "OK"
--     conn:call("GET", "missing") == redis.null           --> true
--     conn:pipeline({ { "INCR", "n" }, { "LPOP", "l" } }) --> { 1, redis.null }
--     conn:eval("return redis.call('GET', KEYS[1])", { "k" }, {})  --> "v"
--     conn:close()
--
-- Replies: status -> string ("OK"), integer -> integer, bulk -> string (binary-safe),
-- nil -> `redis.null`, array -> table (nested). An error reply from the server is `nil, err`
-- from `call`, and `{ err = "WRONGTYPE ..." }` as an entry of a pipeline's list or of an array.
--
-- Errors are `alimtalk.errors` tables with `code = "REDIS"` and a `reason`: "redis" (the
-- server answered with an error reply; `redis_code` holds its first word, e.g. "NOSCRIPT",
-- "WRONGTYPE"; the connection stays usable), "auth" (AUTH was refused), "connect", "timeout",
-- "io", "protocol", "closed" (the connection is closed: after any of these it is, and every
-- later call answers "closed"; reconnecting is the caller's policy). A bad URL or option
-- value is `code = "BAD_OPTION"` with `field`. Passwords never appear in an error or a
-- `tostring`.
-- @module alimtalk.redis
local errors = require "alimtalk.errors"

local _M = {}

--- The nil reply (a NULL light userdata: the same value as `ngx.null` and `cjson.null`).
local ngx = rawget(_G, "ngx")
_M.null = ngx and ngx.null or require("alimtalk.core").redis_null

--- The environment variable read for the password when neither the URL nor the options
-- give one.
_M.PASSWORD_ENV = "ALIMTALK_REDIS_PASSWORD"

local OPTIONS = {
  url = "string", host = "string", port = "number", path = "string", db = "number",
  username = "string", password = "string", password_env = "string", tls = "boolean",
  tls_verify = "boolean", server_name = "string", connect_timeout = "number",
  timeout = "number", backend = "string", keepalive_timeout = "number", pool_size = "number",
}

-- Commands that turn a connection into a stream of pushes: not a request/reply connection.
local REFUSED = { SUBSCRIBE = true, PSUBSCRIBE = true, SSUBSCRIBE = true, MONITOR = true,
                  UNSUBSCRIBE = true, PUNSUBSCRIBE = true, SUNSUBSCRIBE = true, RESET = true }

-- nginx phases in which cosockets work (as in alimtalk.transport.cosocket)
local COSOCKET_PHASES = { rewrite = true, access = true, content = true, timer = true,
                          ssl_cert = true, ssl_client_hello = true, preread = true }

local function bad(field, message)
  return nil, errors.new{ code = "BAD_OPTION", field = field, message = message }
end

local function redis_error(reason, message)
  local e = { code = "REDIS", reason = reason, message = message }
  if reason == "redis" or reason == "auth" then e.redis_code = message:match("^(%u[%u%d_]*)") end
  return errors.new(e)
end
_M.error = redis_error

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

--- Parse a `redis://` or `rediss://` URL.
-- Form: `redis[s]://[[username]:password@]host[:port][/db]`, host a name, an IPv4 address or
-- a bracketed IPv6 address; userinfo percent-decoded.
-- @tparam string url
-- @treturn table `{ host, port, db, username, password, tls }` (absent parts nil), or nil and a
--   BAD_OPTION error for field "url" (the error never repeats the password)
function _M.parse_url(url)
  local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then
    return bad("url", "not a URL (expected redis://host:port/db or rediss://...)")
  end
  scheme = scheme:lower()
  if scheme ~= "redis" and scheme ~= "rediss" then
    return bad("url", "unsupported scheme '" .. scheme .. "' (redis:// or rediss:// only)")
  end
  if rest:find("[?#]") then return bad("url", "query and fragment parts are not supported") end
  local authority, path = rest:match("^([^/]*)(.*)$")
  local out = { tls = scheme == "rediss" }
  local userinfo, hostport = authority:match("^(.*)@([^@]*)$")
  if userinfo then
    local user, pass = userinfo:match("^([^:]*):(.*)$")
    if not user then
      -- a lone userinfo part is the password (as redis-cli and most clients read it)
      user, pass = "", userinfo
    end
    if user ~= "" then out.username = unescape(user) end
    if pass ~= "" then out.password = unescape(pass) end
  else
    hostport = authority
  end
  local host, port = hostport:match("^%[([%x:.]+)%]:?(.*)$")
  if not host then host, port = hostport:match("^([^:]*):?(.*)$") end
  if not host or host == "" then return bad("url", "the URL has no host") end
  if host:find("[^%w.:_-]") then return bad("url", "the URL's host has characters a host name cannot") end
  out.host = host
  if port ~= "" then
    local p = tonumber(port)
    if not port:match("^%d+$") or p < 1 or p > 65535 then
      return bad("url", "the URL's port must be a number from 1 to 65535, got '" .. port .. "'")
    end
    out.port = p
  end
  if path ~= "" and path ~= "/" then
    local db = path:match("^/(%d+)/?$")
    if not db then return bad("url", "the URL's path must be a database number, like /0") end
    out.db = tonumber(db)
  end
  return out
end

-- The settings for a connection from a URL, an options table, and the environment.
local function settings(arg)
  local opts = type(arg) == "string" and { url = arg } or arg
  if type(opts) ~= "table" then error("alimtalk.redis.connect: expects a URL or an options table", 3) end
  for k, v in pairs(opts) do
    local want = OPTIONS[k]
    if not want then error("alimtalk.redis.connect: unknown option '" .. tostring(k) .. "'", 3) end
    if type(v) ~= want then
      error("alimtalk.redis.connect: option '" .. k .. "' must be a " .. want .. ", got " .. type(v), 3)
    end
  end
  local s = {}
  if opts.url then
    local u, err = _M.parse_url(opts.url)
    if not u then return nil, err end
    s = u
  end
  -- explicit options win over the URL's parts
  for _, k in ipairs({ "host", "port", "path", "db", "username", "password", "tls" }) do
    if opts[k] ~= nil then s[k] = opts[k] end
  end
  if s.path then
    if opts.host or (opts.url and not opts.path) then
      return bad("path", "give a Unix socket path or a host, not both")
    end
    s.host = nil
  elseif not s.host then
    s.host = "127.0.0.1"
  end
  s.port = s.port or 6379
  if s.port ~= math.floor(s.port) or s.port < 1 or s.port > 65535 then
    return bad("port", "must be an integer from 1 to 65535")
  end
  s.db = s.db or 0
  if s.db ~= math.floor(s.db) or s.db < 0 or s.db > 2147483647 then
    return bad("db", "must be a database number (an integer from 0)")
  end
  for _, k in ipairs({ "connect_timeout", "timeout", "keepalive_timeout" }) do
    local v = opts[k]
    if v ~= nil and not (v > 0 and v <= 86400) then
      return bad(k, "must be more than 0 and at most 86400 seconds")
    end
  end
  s.connect_timeout = opts.connect_timeout or 5
  s.timeout = opts.timeout or 30
  s.keepalive_timeout = opts.keepalive_timeout or 60
  s.pool_size = opts.pool_size or 32
  if s.pool_size ~= math.floor(s.pool_size) or s.pool_size < 1 then
    return bad("pool_size", "must be a positive integer")
  end
  s.tls_verify = opts.tls_verify ~= false
  s.server_name = opts.server_name or s.host
  -- the password: options, the URL, the variable named by password_env, the default variable
  if not s.password then
    if opts.password_env then
      local v = os.getenv(opts.password_env)
      if v == nil or v == "" then
        return bad("password_env", "the environment variable " .. opts.password_env .. " is not set")
      end
      s.password = v
    else
      local v = os.getenv(_M.PASSWORD_ENV)
      if v ~= nil and v ~= "" then s.password = v end
    end
  end
  if s.password and s.password:find("[%z\r\n]") then
    return bad("password", "holds a line break or NUL character")
  end
  if s.username and not s.password then
    return bad("password", "a username (" .. s.username .. ") needs a password")
  end
  s.backend = opts.backend
  return s
end

local function pick_backend(name)
  if name == nil then
    if ngx and type(ngx.get_phase) == "function" then
      local phase = ngx.get_phase()
      if not COSOCKET_PHASES[phase] then
        error("alimtalk.redis: cannot connect in nginx's " .. tostring(phase) .. " phase: it has "
          .. "no cosockets, and a blocking connection would stall the worker; connect from a "
          .. "request handler or a timer (or pass backend = \"hiredis\" where blocking is fine)", 3)
      end
      name = "resty"
    else
      name = "hiredis"
    end
  end
  if name ~= "hiredis" and name ~= "resty" then
    error("alimtalk.redis.connect: backend must be \"hiredis\" or \"resty\", got '" .. name .. "'", 3)
  end
  return require("alimtalk.redis." .. name), name
end

local mt = { __name = "alimtalk.redis.conn" }
local methods = {}
mt.__index = methods
mt.__tostring = function(self)
  return ("alimtalk.redis.conn (%s, %s, %s)"):format(self.where, self.backend_name,
    self.raw and self.raw:connected() and "open" or "closed")
end

-- A native failure (`message, code` from a backend) as an error table.
local function fail(msg, code)
  return nil, redis_error(code or "io", msg)
end

--- Connect, authenticate (AUTH) and select the database (SELECT).
-- @tparam string|table arg a URL, or options: `url`; or `host` (default 127.0.0.1), `port`
--   (default 6379), `path` (a Unix socket, hiredis only); `db` (default 0, or the URL's path);
--   `username` and `password` (ACL; prefer the URL's userinfo or the environment),
--   `password_env` (name of the variable holding the password; default: `ALIMTALK_REDIS_PASSWORD`
--   when set); `tls` (rediss:// sets it: inside nginx only, see docs/architecture.md),
--   `tls_verify` (default true), `server_name` (default the host); `connect_timeout` (s,
--   default 5), `timeout` (s, default 30: each read and write; make it longer than any blocking
--   command's own wait); `backend` ("hiredis" or "resty"; default: resty inside nginx, else
--   hiredis); inside nginx `keepalive_timeout` (s idle in the pool, default 60) and `pool_size`
--   (default 32). Options given beside `url` win over its parts.
-- @treturn table the connection, or nil and an error (BAD_OPTION with `field`, or REDIS with
--   `reason` "connect", "auth", "timeout", "io", "protocol", "redis", "tls")
function _M.connect(arg)
  local s, err = settings(arg)
  if not s then return nil, err end
  local backend, name = pick_backend(s.backend)
  if s.tls and name == "hiredis" then
    return bad("url", "rediss:// (TLS) is not available outside nginx: Debian 12's hiredis 0.14 "
      .. "has no TLS support; connect inside nginx, or through a local TLS tunnel (stunnel) "
      .. "with redis://")
  end
  local raw, msg, code = backend.open(s)
  if not raw then return fail(msg, code) end
  local conn = setmetatable({ raw = raw, backend_name = name,
    where = s.path or (s.host:find(":", 1, true) and "[" .. s.host .. "]" or s.host) .. ":" .. s.port }, mt)
  -- a connection back from nginx's pool has been authenticated and switched already
  if not raw:reused() then
    if s.password then
      local r, m, c
      if s.username then r, m, c = raw:command("AUTH", s.username, s.password)
      else r, m, c = raw:command("AUTH", s.password) end
      if r == nil then
        raw:close(false)
        if c == "redis" then
          local e = redis_error("auth", "AUTH refused: " .. m)
          e.redis_code, e.field = m:match("^(%u[%u%d_]*)"), "password"
          return nil, e
        end
        return fail(m, c)
      end
    end
    if s.db ~= 0 then
      local r, m, c = raw:command("SELECT", s.db)
      if r == nil then
        raw:close(false)
        return fail("SELECT " .. s.db .. ": " .. m, c)
      end
    end
  end
  return conn
end

-- Commands after which a connection must not go back to nginx's pool, where the next user
-- expects the state `connect` set up: true = for good, "open"/"close" = a transaction or a
-- WATCH begun or ended.
local STATEFUL = { SELECT = true, AUTH = true, HELLO = true, CLIENT = true, READONLY = true,
                   READWRITE = true, MULTI = "open", WATCH = "open", EXEC = "close",
                   DISCARD = "close", UNWATCH = "close" }

-- Check a command name (misuse raises) and note what it does to the connection's state.
local function check_name(self, name)
  if type(name) ~= "string" then error("alimtalk.redis: the command name must be a string", 3) end
  local up = name:upper()
  if REFUSED[up] then
    error("alimtalk.redis: " .. up .. " is not supported: the connection is for requests "
      .. "and replies (pub/sub and MONITOR need a connection of their own)", 3)
  end
  local st = STATEFUL[up]
  if st == true then self.no_pool = true
  elseif st == "open" then self.in_txn = true
  elseif st == "close" then self.in_txn = false end
end

-- Check the command names of a list (the backend checks the rest): misuse raises.
local function check_names(self, list, what)
  if type(list) ~= "table" then error("alimtalk.redis: " .. what .. " expects a list of commands", 3) end
  for i = 1, #list do
    local cmd = list[i]
    if type(cmd) == "table" then check_name(self, cmd[1]) end
  end
end

--- Run one command.
-- @tparam string name the command, e.g. "XADD"
-- @param ... its arguments: strings (binary-safe) or numbers (integers written without a
--   fraction; other values with 17 significant digits); anything else raises
-- @return the reply (see the module), or nil and an error (`reason` "redis" for an error reply)
function methods:call(name, ...)
  check_name(self, name)
  local r, msg, code = self.raw:command(name, ...)
  if r == nil then return fail(msg, code) end
  return r
end

--- Send several commands at once and read all their replies (one round trip).
-- Every command is checked before any is sent: a misuse raises with nothing sent.
-- @tparam table list commands, each a list `{ name, arg, ... }`
-- @treturn table the replies in order, an error reply as `{ err = "message" }`; or nil and an
--   error when the connection failed (then some commands may have run: the connection closes)
function methods:pipeline(list)
  check_names(self, list, "pipeline")
  local r, msg, code = self.raw:pipeline(list)
  if r == nil then return fail(msg, code) end
  return r
end

--- Send several commands without waiting for their replies, so the caller can do other work
-- while the server runs them; `receive` takes the replies. Checked as `pipeline` is. With
-- hiredis the commands are written at once; inside nginx (lua-resty-redis) they are kept and go
-- out as one pipeline at `receive`. A call other than `send` or `receive` in between drops the
-- replies not received yet.
-- @tparam table list commands, each a list `{ name, arg, ... }`
-- @treturn boolean true, or nil and an error (the connection closes)
function methods:send(list)
  check_names(self, list, "send")
  local r, msg, code = self.raw:send(list)
  if r == nil then return fail(msg, code) end
  return true
end

--- The replies of every `send` since the last `receive`, in order (as `pipeline` gives them).
-- @treturn table the replies, or nil and an error (some commands may have run: the
--   connection closes)
function methods:receive()
  local r, msg, code = self.raw:receive()
  if r == nil then return fail(msg, code) end
  return r
end

--- PING the server.
-- @treturn boolean true, or nil and an error
function methods:ping()
  local r, err = self:call("PING")
  if r == nil then return nil, err end
  if r ~= "PONG" then return nil, redis_error("protocol", "PING answered " .. tostring(r)) end
  return true
end

-- Script digests by source, per process (a digest depends on the source alone): Redis caches
-- scripts server-wide, so one loaded stays until the server restarts or SCRIPT FLUSH, and
-- `eval` then reloads it through EVAL. Grows with the number of distinct scripts.
local digests = {}

--- The SHA1 digest of a script, loading it into the server's script cache (once per process).
-- For pipelines of `{ "EVALSHA", digest, numkeys, ... }`.
-- @tparam string script Lua source
-- @treturn string the digest, or nil and an error
function methods:script_load(script)
  if type(script) ~= "string" then error("alimtalk.redis: the script must be a string", 2) end
  local sha = digests[script]
  if sha then return sha end
  local r, err = self:call("SCRIPT", "LOAD", script)
  if r == nil then return nil, err end
  digests[script] = r
  return r
end

local function pack_eval(name, body, keys, args)
  local cmd = { name, body, #keys }
  for i = 1, #keys do cmd[#cmd + 1] = keys[i] end
  for i = 1, #args do cmd[#cmd + 1] = args[i] end
  return cmd
end

--- Run a Lua script by its digest (EVALSHA), loading it first when this process has not, and
-- falling back to EVAL when the server has lost it (NOSCRIPT: a restart or SCRIPT FLUSH).
-- @tparam string script Lua source
-- @tparam[opt] table keys the KEYS list
-- @tparam[opt] table args the ARGV list
-- @return the script's reply, or nil and an error
function methods:eval(script, keys, args)
  keys, args = keys or {}, args or {}
  local sha, err = self:script_load(script)
  if not sha then return nil, err end
  local cmd = pack_eval("EVALSHA", sha, keys, args)
  -- as a one-command pipeline: a table, so no limit on the number of arguments
  local r, msg, code = self.raw:pipeline({ cmd })
  if r and type(r[1]) == "table" and type(r[1].err) == "string" and r[1].err:find("^NOSCRIPT") then
    cmd[1], cmd[2] = "EVAL", script
    r, msg, code = self.raw:pipeline({ cmd })
  end
  if r == nil then return fail(msg, code) end
  r = r[1]
  if type(r) == "table" and type(r.err) == "string" and r[1] == nil then return fail(r.err, "redis") end
  return r
end

--- Whether the connection is open (false after `close` or a connection failure).
-- @treturn boolean
function methods:connected()
  return self.raw:connected()
end

--- Close the connection; inside nginx a healthy one goes back to the keepalive pool (not one
-- whose state a command changed: SELECT, AUTH, HELLO, CLIENT, READONLY, or a MULTI or WATCH
-- not ended by EXEC, DISCARD or UNWATCH). Safe to call twice.
function methods:close()
  self.raw:close(not self.no_pool and not self.in_txn)
end
mt.__close = methods.close

return _M
