--- A private nginx (with the Lua module) for specs: the config preamble, start on free ports
-- with retry (several nginx instances run on this machine at once), and stop.
--
--     local nginx = require "support.nginx"
--     local n = nginx.start({ dir = fs.tmpdir("alimtalk-x"), ports = 1,
--                             config = function(dir, ports)
--                               return nginx.head(dir) .. "  server { listen 127.0.0.1:"
--                                 .. ports[1] .. "; ... }\n}\n"
--                             end })
--     n.dir, n.ports, n.port (= n.ports[1]), n.pid
--     n:stop()   -- fast shutdown, waits for the master to go, removes n.dir; safe twice
local fs = require "support.fs"

local _M = {}


--- The start of a config for a server in `dir`: the ndk and Lua modules, one worker, pid and
-- error log in `dir`, and an open `http {` block with every temp path in `dir`. The caller
-- appends its http-level lines and servers and closes the block with "}". Started by root, the
-- workers run as root too: as `nobody` (nginx's default) they could not read a checkout in a
-- folder other users cannot enter (spec/clone_spec.lua); otherwise they run as this user.
-- @tparam string dir the run folder
-- @tparam[opt] table opts `worker_connections` (default 1024)
function _M.head(dir, opts)
  opts = opts or {}
  local head = ([[
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
USER
worker_processes 1;
daemon on;
pid DIR/nginx.pid;
error_log DIR/error.log warn;
events { worker_connections CONNS; }
http {
  client_body_temp_path DIR/client_body;
  proxy_temp_path DIR/proxy;
  fastcgi_temp_path DIR/fastcgi;
  uwsgi_temp_path DIR/uwsgi;
  scgi_temp_path DIR/scgi;
]]):gsub("USER", fs.is_root() and "user root;" or ""):gsub("CONNS", tostring(opts.worker_connections or 1024))
    :gsub("DIR", (dir:gsub("%%", "%%%%")))
  return head
end

local instance = {}
instance.__index = instance

--- Start nginx in `opts.dir` (which must exist) with the config `opts.config(dir, ports)`
-- returns, trying new random ports while the old ones are in use.
-- @tparam table opts `dir`, `config` (function), `ports` (how many ports, default 1)
-- @treturn table the instance (`dir`, `ports`, `port`, `pid`, `:stop()`); raises with the
--   error log when nginx does not start (the folder is removed then)
function _M.start(opts)
  fs.seed_random()
  local dir, last = opts.dir, nil
  for _ = 1, 15 do
    local ports = {}
    -- (outside the ephemeral range, where a client connection's own port could be in the way)
    for i = 1, opts.ports or 1 do ports[i] = require("alimtalk.sandbox.server").random_port() end
    fs.write(dir .. "/nginx.conf", opts.config(dir, ports))
    os.remove(dir .. "/error.log")
    local cmd = ("nginx -p '%s' -e '%s/error.log' -c '%s/nginx.conf' >/dev/null 2>&1"):format(dir, dir, dir)
    if fs.sh(cmd) then
      -- nginx daemonizes once it listens; the pid file confirms the master is up
      for _ = 1, 50 do
        if fs.read_file(dir .. "/nginx.pid") then break end
        fs.sleep(0.05)
      end
      local pid = tonumber((fs.read_file(dir .. "/nginx.pid") or ""):match("%d+"))
      assert(pid, "nginx started without a pid file")
      return setmetatable({ dir = dir, ports = ports, port = ports[1], pid = pid }, instance)
    end
    last = fs.read_file(dir .. "/error.log") or "?"
    if not last:find("in use", 1, true) then break end
  end
  fs.rmtree(dir)
  error("could not start nginx: " .. tostring(last))
end

--- Stop nginx (fast shutdown) and remove its folder. Safe to call twice.
function instance:stop()
  if not self.pid then return end
  fs.sh("kill -TERM " .. self.pid .. " 2>/dev/null")
  for _ = 1, 100 do
    -- gone, or a zombie (the daemonized master's parent is init, which may be slow to reap)
    local stat = fs.read_file("/proc/" .. self.pid .. "/stat")
    if not stat or stat:match("^%d+ %b() (%a)") == "Z" then break end
    fs.sleep(0.05)
  end
  fs.sh("kill -KILL " .. self.pid .. " 2>/dev/null")
  self.pid = nil
  fs.rmtree(self.dir)
end

return _M
