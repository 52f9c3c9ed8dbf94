--- Hostile HTTP(S) servers on loopback, for the transport and client specs: one private nginx
-- with one port per misbehaviour, so a client whose paths are its own (a provider's send
-- path) meets the behaviour whatever it asks for. Answers are written as raw bytes on the
-- request's socket (`ngx.req.socket(true)`), so status line, headers and framing are exactly
-- what each case needs.
--
--     local hostile = require "support.hostile"
--     local h = hostile.start()
--     h:url("stall")            -- http://127.0.0.1:PORT (plain cases) or https://localhost:PORT
--     h.ca_file                 -- the CA that signed the good, wrong-name and expired certs
--     h:stop()
--
-- Plain HTTP cases:
--   stall       reads the request, then never answers (closes after 60 s)
--   trickle     answers 200 with a 4-byte body, one byte a second from the status line on
--   big         200 with Content-Length 50 MiB, and sends it
--   big_close   HTTP/1.0 200 without a length, 50 MiB, then closes
--   redirect    302 Found, Location: /elsewhere (a client must not follow it)
--   reset       reads only the head (the body stays unread, so closing sends a TCP RST), answers
--               a status line, headers with Content-Length 1000 and part of the body, then resets
--   http10      HTTP/1.0 200, body delimited by the close: a whole SENS send answer for one
--               message (`hostile.SENS_ANSWER`)
--   http10_cut  the same framing, cut halfway through the JSON, then closed (FIN)
--   ok          HTTP/1.1 200 with the SENS answer and a Content-Length (the control case)
-- TLS cases (https://localhost:PORT, every one answering as `ok` once connected):
--   tls_ok        a certificate for localhost from `ca_file`
--   self_signed   a self-signed certificate for localhost, in no CA file
--   wrong_host    a certificate for wrong.example from `ca_file`
--   expired       a certificate for localhost from `ca_file`, valid 2020-01-01..2020-01-02
-- Every request a case read is counted: `h:hits(case)`.
-- Not a case of its own: `h:playback(name, bytes)` gives the URL of a plain server that reads the
-- request, writes those bytes as they are and closes (for answers a spec writes byte by byte).
local fs = require "support.fs"
local nginx = require "support.nginx"

local _M = {}

_M.PLAIN = { "stall", "trickle", "big", "big_close", "redirect", "reset", "http10", "http10_cut",
             "ok" }
_M.TLS = { "tls_ok", "self_signed", "wrong_host", "expired" }
-- the plain servers: the cases, then playback
local SERVED = {}
for i, c in ipairs(_M.PLAIN) do SERVED[i] = c end
SERVED[#SERVED + 1] = "playback"

--- The SENS answer the http10 and ok cases give (one accepted message).
_M.SENS_ANSWER = '{"requestId":"R-HOSTILE-1","requestTime":"2026-12-07T10:00:00.000",'
  .. '"statusCode":"202","statusName":"success","messages":[{"messageId":"M-HOSTILE-1",'
  .. '"countryCode":"82","to":"01012345678","content":"x","requestStatusCode":"A000",'
  .. '"requestStatusName":"success","requestStatusDesc":"성공","useSmsFailover":false}]}'

-- Runs in the hostile nginx: one function per case, on the raw request socket.
local HANDLER = [=[
local _M = {}
local ANSWER = ANSWER_TEXT
local PLAYBACK_DIR = PLAYBACK_DIR_TEXT
local function raw(read_body)
  if read_body then ngx.req.read_body() end
  ngx.shared.hits:incr(ngx.var.mode, 1, 0)
  return assert(ngx.req.socket(true))
end
local function ok_answer(sock, version, framing)
  sock:send(version .. " 200 OK\r\nContent-Type: application/json;charset=UTF-8\r\n"
    .. (framing or ("Content-Length: " .. #ANSWER .. "\r\n")) .. "\r\n" .. ANSWER)
end
function _M.serve(mode)
  if mode == "stall" then
    raw(true)
    ngx.sleep(60)
    return ngx.exit(444)
  elseif mode == "trickle" then
    local sock = raw(true)
    local text = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow"
    for i = 1, #text do
      if not sock:send(text:sub(i, i)) then break end
      ngx.sleep(1)
    end
    return ngx.exit(444)
  elseif mode == "big" or mode == "big_close" then
    local sock = raw(true)
    local n = 50 * 1024 * 1024
    sock:send(mode == "big" and ("HTTP/1.1 200 OK\r\nContent-Length: " .. n .. "\r\n\r\n")
              or "HTTP/1.0 200 OK\r\n\r\n")
    local piece = string.rep("z", 65536)
    for _ = 1, n / 65536 do
      if not sock:send(piece) then break end   -- the client hung up: stop
    end
    return ngx.exit(444)
  elseif mode == "redirect" then
    local sock = raw(true)
    sock:send("HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n")
    return ngx.exit(444)
  elseif mode == "reset" then
    local sock = raw(false)
    sock:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
      .. ANSWER:sub(1, 40))
    ngx.sleep(0.1)
    return ngx.exit(444)
  elseif mode == "http10" then
    ok_answer(raw(true), "HTTP/1.0", "")
    return ngx.exit(444)
  elseif mode == "http10_cut" then
    local sock = raw(true)
    sock:send("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" .. ANSWER:sub(1, 90))
    return ngx.exit(444)
  elseif mode == "playback" then
    local name = ngx.var.arg_answer or ""
    local f = name:find("^[%w_-]+$") and io.open(PLAYBACK_DIR .. "/" .. name, "rb")
    local sock = raw(true)
    sock:send(f and f:read("*a") or "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    if f then f:close() end
    return ngx.exit(444)
  else
    ok_answer(raw(true), "HTTP/1.1")
    return ngx.exit(444)
  end
end
return _M
]=]

local function sh(cmd)
  assert(fs.sh(cmd .. " >/dev/null 2>&1"), "failed: " .. cmd)
end

-- The CA, and the certificates of the TLS cases (openssl CLI; `openssl ca` for the expired
-- one, since `x509 -req` cannot date a certificate in the past).
local function make_certs(dir)
  local q = fs.q
  local d = q(dir)
  sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 "
    .. "-subj '/CN=alimtalk hostile test CA' -keyout " .. d .. "/ca.key -out " .. d .. "/ca.crt")
  local function csr(name, cn, san)
    fs.write(dir .. "/" .. name .. ".ext", "subjectAltName=" .. san .. "\n")
    sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/CN=" .. cn
      .. "' -keyout " .. d .. "/" .. name .. ".key -out " .. d .. "/" .. name .. ".csr")
  end
  local function sign(name)
    sh("openssl x509 -req -in " .. d .. "/" .. name .. ".csr -CA " .. d .. "/ca.crt -CAkey " .. d
      .. "/ca.key -CAcreateserial -days 30 -extfile " .. d .. "/" .. name .. ".ext -out " .. d
      .. "/" .. name .. ".crt")
  end
  csr("tls_ok", "localhost", "DNS:localhost,IP:127.0.0.1")
  sign("tls_ok")
  csr("wrong_host", "wrong.example", "DNS:wrong.example")
  sign("wrong_host")
  sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 "
    .. "-subj '/CN=localhost' -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' -keyout "
    .. d .. "/self_signed.key -out " .. d .. "/self_signed.crt")
  csr("expired", "localhost", "DNS:localhost,IP:127.0.0.1")
  fs.write(dir .. "/index.txt", "")
  fs.write(dir .. "/serial", "1000\n")
  fs.write(dir .. "/ca.cnf", ([[
[ca]
default_ca = hostile
[hostile]
dir = DIR
database = DIR/index.txt
serial = DIR/serial
new_certs_dir = DIR
certificate = DIR/ca.crt
private_key = DIR/ca.key
default_md = sha256
policy = anything
copy_extensions = copy
unique_subject = no
[anything]
commonName = supplied
]]):gsub("DIR", dir))
  sh("openssl ca -batch -config " .. d .. "/ca.cnf -startdate 20200101000000Z -enddate "
    .. "20200102000000Z -extfile " .. d .. "/expired.ext -in " .. d .. "/expired.csr -out "
    .. d .. "/expired.crt -notext")
end

local function config(dir, ports)
  local servers = {}
  local i = 0
  for _, mode in ipairs(SERVED) do
    i = i + 1
    servers[#servers + 1] = ("  server {\n    listen 127.0.0.1:%d;\n    set $mode %s;\n"
      .. "    location / { content_by_lua_block { require('hostile_handler').serve(ngx.var.mode) } }\n"
      .. "  }\n"):format(ports[i], mode)
  end
  for _, mode in ipairs(_M.TLS) do
    i = i + 1
    servers[#servers + 1] = ("  server {\n    listen 127.0.0.1:%d ssl;\n    set $mode %s;\n"
      .. "    ssl_certificate %s/%s.crt;\n    ssl_certificate_key %s/%s.key;\n"
      .. "    location / { content_by_lua_block { require('hostile_handler').serve('ok') } }\n"
      .. "  }\n"):format(ports[i], mode, dir, mode, dir, mode)
  end
  return nginx.head(dir) .. ([[
  access_log off;
  lingering_close off;
  client_body_buffer_size 1m;
  client_max_body_size 16m;
  lua_package_path "%s/?.lua;;";
  lua_shared_dict hits 1m;
  server {
    listen 127.0.0.1:%d;
    location = /hits {
      content_by_lua_block {
        ngx.print(ngx.shared.hits:get(ngx.var.arg_mode) or 0)
      }
    }
  }
%s}
]]):format(dir, ports[i + 1], table.concat(servers))
end

local server = {}
server.__index = server

--- Start the hostile servers (fresh certificates in a temp folder).
-- @treturn table with `ca_file`, `dir`, `port(case)`, `url(case)`, `hits(case)`, `stop()`
function _M.start()
  local dir = fs.tmpdir("alimtalk-hostile")
  make_certs(dir)
  fs.write(dir .. "/hostile_handler.lua",
    (HANDLER:gsub("ANSWER_TEXT", function() return string.format("%q", _M.SENS_ANSWER) end)
            :gsub("PLAYBACK_DIR_TEXT", function() return string.format("%q", dir .. "/playback") end)))
  assert(fs.sh("mkdir -p " .. fs.q(dir .. "/playback")))
  local n = nginx.start({ dir = dir, ports = #SERVED + #_M.TLS + 1, config = config })
  local ports = {}
  for i, mode in ipairs(SERVED) do ports[mode] = n.ports[i] end
  for i, mode in ipairs(_M.TLS) do ports[mode] = n.ports[#SERVED + i] end
  return setmetatable({ nginx = n, dir = dir, ports = ports, admin = n.ports[#n.ports],
                        ca_file = dir .. "/ca.crt" }, server)
end

--- The port of a case.
function server:port(case) return assert(self.ports[case], "no such case: " .. tostring(case)) end

--- The base URL of a case: http://127.0.0.1:PORT, or https://localhost:PORT for TLS cases.
function server:url(case)
  for _, m in ipairs(_M.TLS) do
    if m == case then return ("https://localhost:%d"):format(self:port(case)) end
  end
  return ("http://127.0.0.1:%d"):format(self:port(case))
end

--- The URL of the playback case that answers with `bytes` as they are (then closes).
-- @tparam string name the answer's name (letters, digits, `_` and `-`)
function server:playback(name, bytes)
  assert(name:find("^[%w_-]+$"), "playback: a name of letters, digits, _ and -")
  fs.write(self.dir .. "/playback/" .. name, bytes)
  return self:url("playback") .. "/?answer=" .. name
end

--- How many requests the server read for a plain case.
function server:hits(case)
  local p = io.popen(("curl -s --max-time 5 'http://127.0.0.1:%d/hits?mode=%s'"):format(self.admin, case))
  local out = p:read("*a")
  p:close()
  return tonumber(out) or 0
end

--- Stop nginx and remove the folder (safe twice).
function server:stop()
  self.nginx:stop()
end

return _M
