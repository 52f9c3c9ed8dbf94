--- The nginx backend of `alimtalk.redis`: lua-resty-redis on cosockets (`ngx.socket.tcp`),
-- so a call inside a request never blocks the worker. Same raw contract as
-- `alimtalk.redis.hiredis`: `command(name, ...)`, `pipeline(list)`, `connected()`, `reused()`
-- and `close(pool)`, answering `nil, message, code` with the codes of the C core.
--
-- Connections are pooled per worker by host, port, database and user (`set_keepalive` on
-- `close(true)` when the connection is healthy); a pooled connection is authenticated and has
-- its database selected already. TLS (rediss://) uses the cosocket's `sslhandshake`, verified
-- against nginx's `lua_ssl_trusted_certificate`.
-- @module alimtalk.redis.resty
local _M = {}

local type, tostring, select, floor, format = type, tostring, select, math.floor, string.format

-- Debian's lua-nginx-redis installs lua-resty-redis as nginx.redis.
local function resty_redis()
  local ok, mod = pcall(require, "resty.redis")
  if ok then return mod end
  ok, mod = pcall(require, "nginx.redis")
  if ok then return mod end
  error("alimtalk.redis: lua-resty-redis is not installed (Debian: apt install lua-nginx-redis)", 0)
end

-- Methods of a resty.redis object that are not Redis commands: a name among them would call
-- the method instead of sending the command.
local NOT_COMMANDS = { new = true, connect = true, close = true, set_timeout = true,
  set_timeouts = true, set_keepalive = true, get_reused_times = true, read_reply = true,
  init_pipeline = true, cancel_pipeline = true, commit_pipeline = true, array_to_hash = true,
  add_commands = true }

local mt = { __name = "alimtalk.redis.resty" }
local methods = {}
mt.__index = methods

local function classify(err)
  err = tostring(err)
  if err == "timeout" then return "timeout" end
  if err:find("unknown prefix", 1, true) then return "protocol" end
  return "io"
end

-- The bytes of a number as the C core writes them (integers in full, else 17 digits).
local function arg_string(v, what)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then
    if v == floor(v) and v > -2^53 and v < 2^53 then return format("%d", v) end
    return format("%.17g", v)
  end
  error(what .. " must be a string or a number, got " .. t, 4)
end

-- resty.redis marks an error reply inside an array as {false, message}: ours is {err = message}.
local function convert(v)
  if type(v) ~= "table" then return v end
  if v[1] == false then return { err = v[2] } end
  for i = 1, #v do
    if type(v[i]) == "table" then v[i] = convert(v[i]) end
  end
  return v
end

--- Open a connection (or take one from the pool).
-- @tparam table s settings from `alimtalk.redis`
-- @treturn table the raw connection, or nil, message, code ("connect" or "tls")
function _M.open(s)
  local ngx = rawget(_G, "ngx")
  if s.path then return nil, "redis: a Unix socket path needs the hiredis backend", "connect" end
  local rr = resty_redis()
  local red, err = rr:new()
  if not red then return nil, "redis connect: " .. tostring(err), "connect" end
  red:set_timeout(s.connect_timeout * 1000)
  local pool = ("alimtalk.redis:%s:%d:%d:%s:%s"):format(s.host, s.port, s.db, s.username or "",
    s.password and ngx.encode_base64(ngx.sha1_bin(s.password)) or "")
  local host = s.host == "localhost" and "127.0.0.1" or s.host
  local copts = { pool = pool, pool_size = s.pool_size }
  local where = s.host .. ":" .. s.port
  local ok, cerr = red:connect(host, s.port, copts)
  if not ok then return nil, "redis connect to " .. where .. ": " .. tostring(cerr), "connect" end
  local reused = (red:get_reused_times() or 0) > 0
  if s.tls and not reused then
    -- lua-resty-redis 0.27 (Debian 12) has no ssl option: the handshake goes on its socket
    local sock = rawget(red, "_sock")
    local sess, herr = sock:sslhandshake(nil, s.server_name, s.tls_verify)
    if not sess then
      sock:close()
      return nil, "redis TLS handshake with " .. where .. ": " .. tostring(herr), "tls"
    end
  end
  red:set_timeout(s.timeout * 1000)
  return setmetatable({ red = red, open = true, was_reused = reused,
    keepalive_ms = s.keepalive_timeout * 1000, pool_size = s.pool_size }, mt)
end

-- A connection failure: close, and answer like the C core.
local function dead(self, during, err)
  self.red:close()
  self.open = false
  local code = classify(err)
  local text = code == "timeout" and "timed out" or tostring(err)
  if text == "closed" then text = "the server closed the connection" end
  return nil, "redis " .. during .. ": " .. text, code
end

local function closed()
  return nil, "redis: the connection is closed", "closed"
end

local run_pipeline, flush_kept

function methods:command(name, ...)
  if not self.open then return closed() end
  local ok, ferr, fcode = flush_kept(self)
  if not ok then return nil, ferr, fcode end
  local n = select("#", ...)
  local args = { ... }
  for i = 1, n do args[i] = arg_string(args[i], "redis command: argument " .. (i + 1)) end
  local lname = name:lower()
  if NOT_COMMANDS[lname] then error("redis command: '" .. name .. "' is not a Redis command", 2) end
  local res, err = self.red[lname](self.red, (table.unpack or unpack)(args, 1, n))
  if res == nil then return dead(self, "command", err) end
  if res == false then return nil, err, "redis" end
  return convert(res)
end

-- The commands of a list as strings, checked: a misuse raises (at the caller's caller).
local function checked(list, what)
  local cmds = {}
  for i = 1, #list do
    local cmd = list[i]
    if type(cmd) ~= "table" then
      error(what .. ": command " .. i .. " must be a table, got " .. type(cmd), 3)
    end
    if #cmd < 1 then error(what .. ": command " .. i .. " is empty", 3) end
    local out = {}
    for j = 1, #cmd do out[j] = arg_string(cmd[j], what .. ": command " .. i .. " argument " .. j) end
    out[1] = out[1]:lower()
    if NOT_COMMANDS[out[1]] then error(what .. ": '" .. cmd[1] .. "' is not a Redis command", 3) end
    cmds[#cmds + 1] = out
  end
  return cmds
end

-- Commands kept by `send` and not received run before any other call (their replies dropped),
-- as the hiredis backend's would have run already.
flush_kept = function(self)
  local kept = self.kept
  if not kept then return true end
  self.kept = nil
  local res, err, code = run_pipeline(self, kept)
  if res == nil then return nil, err, code end
  return true
end

function methods:pipeline(list)
  -- check everything first: a misuse raises with nothing sent
  local cmds = checked(list, "redis pipeline")
  if not self.open then return closed() end
  local ok, err, code = flush_kept(self)
  if not ok then return nil, err, code end
  return run_pipeline(self, cmds)
end

-- Cosockets cannot write now and read later without yielding, so `send` keeps the commands
-- and `receive` runs them as one pipeline: the same replies, without the overlap.
function methods:send(list)
  local cmds = checked(list, "redis send")
  if not self.open then return closed() end
  local kept = self.kept or {}
  for i = 1, #cmds do kept[#kept + 1] = cmds[i] end
  self.kept = kept
  return true
end

function methods:receive()
  if not self.open then return closed() end
  local kept = self.kept or {}
  self.kept = nil
  return run_pipeline(self, kept)
end

run_pipeline = function(self, cmds)
  if #cmds == 0 then return {} end
  local red = self.red
  red:init_pipeline(#cmds)
  for i = 1, #cmds do
    local c = cmds[i]
    red[c[1]](red, (table.unpack or unpack)(c, 2))
  end
  local res, err = red:commit_pipeline()
  if not res then return dead(self, "pipeline", err) end
  for i = 1, #res do res[i] = convert(res[i]) end
  return res
end

function methods:connected() return self.open end
function methods:reused() return self.was_reused end

function methods:close(pool)
  if not self.open then return end
  self.open = false
  if pool then
    local ok = self.red:set_keepalive(self.keepalive_ms, self.pool_size)
    if ok then return end
  end
  self.red:close()
end

return _M
