--- A private redis-server for specs: its own config, folder and random loopback port (never
-- the system's server), started and stopped by the spec.
--
--     local redis_server = require "support.redis"
--     local r = redis_server.start({ appendonly = true, password = "s3cret" })
--     r.host, r.port, r.url ("redis://127.0.0.1:<port>", no password in it), r.dir, r.socket,
--     r.password, r.pid
--     r:restart()         -- SIGTERM (Redis flushes the AOF), then start with the same dir/port
--     r:restart(true)     -- SIGKILL (a crash: only what was fsynced survives), then start
--     r:kill()            -- SIGKILL, keep the folder (r:start_again() brings it back)
--     r:stop()            -- SIGTERM, wait for the exit, remove the folder; safe twice
-- Options: `appendonly` (boolean), `appendfsync` ("always", "everysec", "no"), `password`
-- (requirepass), `config` (extra redis.conf lines), `dir` (default a fresh temp folder).
-- DEBUG is enabled (DEBUG SLEEP for timeout specs); a Unix socket is at r.socket.
local fs = require "support.fs"

local _M = {}

local instance = {}
instance.__index = instance

local function alive(pid)
  local stat = pid and fs.read_file("/proc/" .. pid .. "/stat")
  return stat ~= nil and stat:match("^%d+ %b() (%a)") ~= "Z"
end

local function config(self)
  local lines = {
    "bind 127.0.0.1", "port " .. self.port, "dir " .. self.dir, "daemonize yes",
    "pidfile " .. self.dir .. "/redis.pid", "logfile " .. self.dir .. "/redis.log",
    "unixsocket " .. self.socket, "unixsocketperm 700",
    "save \"\"", "enable-debug-command yes",
    "appendonly " .. (self.opts.appendonly and "yes" or "no"),
    "appendfsync " .. (self.opts.appendfsync or "everysec"),
  }
  if self.password then lines[#lines + 1] = "requirepass " .. self.password end
  if self.opts.config then lines[#lines + 1] = self.opts.config end
  return table.concat(lines, "\n") .. "\n"
end

local function ping(self)
  local env = self.password and ("REDISCLI_AUTH=" .. fs.q(self.password) .. " ") or ""
  local _, out = fs.capture(env .. "redis-cli -h 127.0.0.1 -p " .. self.port .. " PING")
  return out:find("PONG", 1, true) ~= nil
end

-- Start redis-server on self.port; true, or false and the log when it did not come up.
local function launch(self)
  fs.write(self.dir .. "/redis.conf", config(self))
  os.remove(self.dir .. "/redis.pid")
  os.remove(self.dir .. "/redis.log")
  if not fs.sh("redis-server " .. fs.q(self.dir .. "/redis.conf") .. " >/dev/null 2>&1") then
    return false, "redis-server did not start"
  end
  for _ = 1, 200 do
    local log = fs.read_file(self.dir .. "/redis.log") or ""
    if log:find("Ready to accept connections", 1, true) then
      self.pid = tonumber((fs.read_file(self.dir .. "/redis.pid") or ""):match("%d+"))
      if self.pid and ping(self) then return true end
    end
    if log:find("# Failed", 1, true) or log:find("Address already in use", 1, true)
        or log:find("FATAL", 1, true) then
      return false, log
    end
    fs.sleep(0.02)
  end
  return false, fs.read_file(self.dir .. "/redis.log") or "redis-server did not answer PING"
end

--- Start a private redis-server (see the module comment for the options).
-- @treturn table the instance; raises with the server's log when it does not start
function _M.start(opts)
  opts = opts or {}
  fs.seed_random()
  local self = setmetatable({ opts = opts, password = opts.password,
    dir = opts.dir or fs.tmpdir("alimtalk-redis") }, instance)
  self.socket = self.dir .. "/redis.sock"
  local last
  for _ = 1, 15 do
    self.port = require("alimtalk.sandbox.server").random_port()
    local ok, log = launch(self)
    if ok then
      self.host = "127.0.0.1"
      self.url = "redis://127.0.0.1:" .. self.port
      return self
    end
    last = log
    if not tostring(log):find("in use", 1, true) then break end
  end
  fs.rmtree(self.dir)
  error("could not start redis-server: " .. tostring(last))
end

-- Send `sig` and wait (up to 5 s) for the process to go.
local function signal(self, sig)
  if not self.pid then return end
  fs.sh("kill -" .. sig .. " " .. self.pid .. " 2>/dev/null")
  for _ = 1, 250 do
    if not alive(self.pid) then break end
    fs.sleep(0.02)
  end
  fs.sh("kill -KILL " .. self.pid .. " 2>/dev/null")
  self.pid = nil
end

--- Kill the server with SIGKILL (a crash), keeping its folder.
function instance:kill() signal(self, "KILL") end

--- Start the server again on the same folder and port (after `kill`).
function instance:start_again()
  assert(not self.pid, "the server is running")
  local ok, log = launch(self)
  if not ok then error("could not restart redis-server: " .. tostring(log)) end
end

--- Stop (SIGTERM, or SIGKILL when `crash`), then start on the same folder and port.
-- @tparam[opt] boolean crash kill with SIGKILL instead
function instance:restart(crash)
  signal(self, crash and "KILL" or "TERM")
  self:start_again()
end

--- Stop the server and remove its folder. Safe to call twice.
function instance:stop()
  signal(self, "TERM")
  if self.dir then fs.rmtree(self.dir) end
  self.dir = nil
end

return _M
