--- A loopback test HTTP(S) server on a private nginx, for the C core HTTP specs and benches.
--
-- `httpd.start(opts)` writes a config into a fresh temp folder, picks free ports (retrying on
-- a clash, since several nginx instances run on this machine at once), and starts nginx.
-- With `opts.tls`, it makes a throwaway CA with the openssl CLI, a certificate for localhost
-- and 127.0.0.1 (the "right" server) and one for wrong.example (the "wrong" server).
--
-- Endpoints (on every port):
--   /ok            200 "ok"; x-connection: $connection, x-connection-requests: $connection_requests
--   /echo          request body back; request headers back as x-echo-<name>; x-method
--   /headers       the raw request head as the body
--   /delay?ms=N    sleeps N ms then 200 "slept N"
--   /stall         reads the request then sleeps 30 s (clients time out first)
--   /big?bytes=N   N bytes, chunked (no Content-Length)
--   /big_cl?bytes=N  N bytes with a Content-Length
--   /redirect      302 to /ok
--   /drop          closes the connection without any response (nginx 444)
-- Every request is written to an access log, so specs can assert what the server saw.
local fs = require "support.fs"
local nginx = require "support.nginx"

local _M = {}

local sh, read_file, write_file, sleep = fs.sh, fs.read_file, fs.write, fs.sleep

local LOCATIONS = [[
    location = /ok {
      add_header x-connection $connection always;
      add_header x-connection-requests $connection_requests always;
      return 200 "ok";
    }
    location = /echo {
      client_max_body_size 16m;
      client_body_buffer_size 16m;
      content_by_lua_block {
        ngx.req.read_body()
        for k, v in pairs(ngx.req.get_headers(100)) do
          if type(v) == "table" then v = table.concat(v, ", ") end
          ngx.header["x-echo-" .. k] = v
        end
        ngx.header["x-method"] = ngx.req.get_method()
        ngx.header["x-connection"] = ngx.var.connection
        ngx.print(ngx.req.get_body_data() or "")
      }
    }
    location = /headers {
      content_by_lua_block { ngx.print(ngx.req.raw_header()) }
    }
    location = /delay {
      content_by_lua_block {
        local ms = tonumber(ngx.var.arg_ms) or 0
        ngx.sleep(ms / 1000)
        ngx.header["x-connection"] = ngx.var.connection
        ngx.print("slept " .. ms)
      }
    }
    location = /stall {
      content_by_lua_block {
        ngx.req.read_body()
        ngx.sleep(30)
        ngx.print("late")
      }
    }
    location = /big {
      content_by_lua_block {
        local n = tonumber(ngx.var.arg_bytes) or 0
        local chunk = string.rep("x", 65536)
        while n > 0 do
          local k = n < 65536 and n or 65536
          ngx.print(k == 65536 and chunk or chunk:sub(1, k))
          n = n - k
        end
      }
    }
    location = /big_cl {
      content_by_lua_block {
        local n = tonumber(ngx.var.arg_bytes) or 0
        ngx.header["content-length"] = n
        ngx.print(string.rep("y", n))
      }
    }
    location = /redirect {
      return 302 /ok;
    }
    location = /drop {
      return 444;
    }
]]

local function config(dir, ports, tls)
  local servers = {}
  servers[#servers + 1] = ("  server {\n    listen 127.0.0.1:%d;\n%s  }\n"):format(ports.http, LOCATIONS)
  if tls then
    servers[#servers + 1] = ([[
  server {
    listen 127.0.0.1:%d ssl;
    server_name localhost;
    ssl_certificate %s/right.crt;
    ssl_certificate_key %s/right.key;
%s  }
  server {
    listen 127.0.0.1:%d ssl;
    server_name wrong.example;
    ssl_certificate %s/wrong.crt;
    ssl_certificate_key %s/wrong.key;
%s  }
]]):format(ports.https, dir, dir, LOCATIONS, ports.wrong, dir, dir, LOCATIONS)
  end
  return nginx.head(dir) .. ([[
  log_format seen '$connection $request_method $request_uri';
  access_log %s/access.log seen;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  lua_code_cache on;
%s}
]]):format(dir, table.concat(servers))
end

local function make_certs(dir)
  local q = "'" .. dir .. "'"
  local cmds = {
    -- throwaway CA
    ("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
      .. "-subj '/CN=alimtalk test CA' -keyout %s/ca.key -out %s/ca.crt"),
  }
  for _, c in ipairs({ { "right", "localhost", "DNS:localhost,IP:127.0.0.1" },
                       { "wrong", "wrong.example", "DNS:wrong.example" } }) do
    cmds[#cmds + 1] = ("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
      .. "-subj '/CN=" .. c[2] .. "' -keyout %s/" .. c[1] .. ".key -out %s/" .. c[1] .. ".csr")
    write_file(dir .. "/" .. c[1] .. ".ext", "subjectAltName=" .. c[3] .. "\n")
    cmds[#cmds + 1] = ("openssl x509 -req -in %s/" .. c[1] .. ".csr -CA %s/ca.crt -CAkey %s/ca.key "
      .. "-CAcreateserial -days 2 -extfile %s/" .. c[1] .. ".ext -out %s/" .. c[1] .. ".crt")
  end
  for _, c in ipairs(cmds) do
    local line = c:gsub("%%s", q)
    assert(sh(line .. " >/dev/null 2>&1"), "openssl failed: " .. line)
  end
end

local server = {}
server.__index = server

--- Start a server.
-- @tparam[opt] table opts `tls` (boolean): also start the right- and wrong-name TLS servers
-- @treturn table server with `port`, `https_port`, `wrong_port`, `ca_file`, `dir`, and methods
--   `url(path)`, `https_url(path)`, `wrong_url(path)`, `seen()` (access log lines), `stop()`
function _M.start(opts)
  opts = opts or {}
  local tmp = fs.tmpdir("alimtalk-httpd")
  if opts.tls then make_certs(tmp) end
  local n = nginx.start({ dir = tmp, ports = 3, config = function(dir, p)
    return config(dir, { http = p[1], https = p[2], wrong = p[3] }, opts.tls)
  end })
  return setmetatable({ nginx = n, dir = tmp, port = n.ports[1], https_port = opts.tls and n.ports[2],
                        wrong_port = opts.tls and n.ports[3],
                        ca_file = opts.tls and (tmp .. "/ca.crt") or nil }, server)
end

-- Is something listening on 127.0.0.1/0.0.0.0/:: `port`? Read from the kernel's socket tables.
local function listening(p)
  local hex = (":%04X "):format(p)
  for _, f in ipairs({ "/proc/net/tcp", "/proc/net/tcp6" }) do
    for line in (read_file(f) or ""):gmatch("[^\n]+") do
      local loc, st = line:match("^%s*%d+:%s+(%S+)%s+%S+%s+(%x%x)")
      if loc and st == "0A" and (loc .. " "):find(hex, 1, true) then return true end
    end
  end
  return false
end

--- A loopback port that refuses connections: one a server of ours just listened on and
-- released, checked to have no listener (a fixed port such as 1 could be taken by anyone).
-- @treturn number the port
function _M.closed_port()
  for _ = 1, 5 do
    local s = _M.start()
    local p = s.port
    s:stop()
    if not listening(p) then return p end
  end
  error("no closed port found")
end

function server:url(path) return ("http://127.0.0.1:%d%s"):format(self.port, path or "/ok") end
function server:https_url(path) return ("https://localhost:%d%s"):format(self.https_port, path or "/ok") end
function server:wrong_url(path) return ("https://localhost:%d%s"):format(self.wrong_port, path or "/ok") end

--- Lines of the access log: "<connection> <method> <uri>" per request the server finished.
function server:seen()
  local lines = {}
  for l in (read_file(self.dir .. "/access.log") or ""):gmatch("[^\n]+") do lines[#lines + 1] = l end
  return lines
end

--- Wait (up to 3 s) until a log line contains `needle`; nginx logs just after it responds.
-- @treturn number|nil the index of that line in `seen()`, and the lines
function server:wait_seen(needle)
  for _ = 1, 60 do
    local lines = self:seen()
    for i = #lines, 1, -1 do
      if lines[i]:find(needle, 1, true) then return i, lines end
    end
    sleep(0.05)
  end
  return nil, self:seen()
end

--- Stop nginx (fast shutdown) and remove the temp folder. Safe to call twice.
function server:stop()
  self.nginx:stop()
end

return _M
