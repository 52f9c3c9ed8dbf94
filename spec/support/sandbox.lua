--- The sandbox server for specs: start/stop it and talk to it with plain HTTP.
--
--     local sandbox = require "support.sandbox"
--     local s = sandbox.start{ delivery_delay = 0.1 }  -- any alimtalk.sandbox.server.start
--                                                     -- option; templates default to
--                                                     -- spec/fixtures/templates.json
--     s.http_url, s.https_url, s.ca_file, s.credentials   -- see docs/sandbox.md
--     local resp = sandbox.http(s, { method = "POST", path = "/v2/send/kakao",
--                                    headers = {...}, json = {...} })
--     -- resp.status, resp.body, resp.json (decoded when JSON), resp.headers;
--     -- on a transport failure: nil, message, code ("connect", "timeout", "protocol", ...)
--     sandbox.sens_headers(s, "POST", "/alimtalk/v2/services/.../messages")  -- signed (luaossl)
--     sandbox.bizmessage_token(s), sandbox.sinch_token(s)   -- fresh bearer tokens
--     sandbox.wait(function() return cond end, 5)           -- poll until true (bounded)
--     sandbox.count_attempts(s, "sens", "/messages$", "POST")  -- requests the server logged
--     sandbox.count_delivered(s, "apiplex", serial)          -- messages in the outbox
--     sandbox.stop(s)   -- stops nginx; returns the Lua error lines of its error log
--
-- HTTP goes through alimtalk.core's client when it is built, else through the curl command.
-- Signatures here use luaossl, a third implementation next to the C core and the server's FFI.
local server = require "alimtalk.sandbox.server"
local cjson = require("cjson").new()
local hmac = require "openssl.hmac"
local fs = require "support.fs"

local q = fs.q

local _M = {}

_M.root = server.lua_root():gsub("/lua$", "")
_M.templates = _M.root .. "/spec/fixtures/templates.json"

local core_ok, core = pcall(require, "alimtalk.core")
if not (core_ok and type(core) == "table" and core.http_client) then core = nil end
_M.has_core_http = core ~= nil

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
--- Standard base64 (pure Lua, both runtimes).
function _M.base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1, c2 = math.floor(n / 262144) % 64, math.floor(n / 4096) % 64
    local c3, c4 = math.floor(n / 64) % 64, n % 64
    out[#out + 1] = B64:sub(c1 + 1, c1 + 1) .. B64:sub(c2 + 1, c2 + 1)
      .. (b and B64:sub(c3 + 1, c3 + 1) or "=") .. (c and B64:sub(c4 + 1, c4 + 1) or "=")
  end
  return table.concat(out)
end

--- base64(HMAC-SHA256(key, data)) with luaossl.
function _M.hmac_b64(key, data)
  return _M.base64(hmac.new(key, "sha256"):final(data))
end

--- Start a sandbox (fixture templates, short delivery delay by default).
function _M.start(opts)
  opts = opts or {}
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.templates = o.templates or _M.templates
  o.delivery_delay = o.delivery_delay or 0.1
  return assert(server.start(o))
end

--- Stop it; returns the list of Lua error lines found in its error log.
function _M.stop(s)
  if not s then return {} end
  local errs = s:lua_errors()
  for _, k in ipairs({ "_spec_client", "_spec_tls_client" }) do
    if s[k] then s[k]:close() s[k] = nil end
  end
  s:stop()
  return errs
end

local function curl(req)
  local tmp = os.tmpname()
  local parts = { "curl -s -S -o", q(tmp), "-D", q(tmp .. ".h"), "-w '%{http_code}'", "-X", req.method,
    "--max-time", tostring(req.timeout or 10) }
  for k, v in pairs(req.headers or {}) do parts[#parts + 1] = "-H " .. q(k .. ": " .. v) end
  if req.body then
    fs.write(tmp .. ".b", req.body)
    parts[#parts + 1] = "--data-binary @" .. q(tmp .. ".b")
  end
  if req.ca_file then parts[#parts + 1] = "--cacert " .. q(req.ca_file) end
  parts[#parts + 1] = q(req.url) .. " 2>&1; echo \" rc=$?\""
  local p = io.popen(table.concat(parts, " "))
  local out = p:read("*a")
  p:close()
  local body = fs.read_file(tmp) or ""
  local head = fs.read_file(tmp .. ".h") or ""
  os.remove(tmp) os.remove(tmp .. ".h") os.remove(tmp .. ".b")
  local rc = tonumber(out:match("rc=(%d+)"))
  if rc ~= 0 then
    local code = ({ [7] = "connect", [28] = "timeout", [35] = "tls", [60] = "tls", [52] = "protocol",
      [56] = "protocol" })[rc] or "protocol"
    return nil, out, code
  end
  local headers = {}
  for k, v in head:gmatch("([%w%-]+):%s*([^\r\n]*)") do headers[k:lower()] = v end
  return { status = tonumber(out:match("^(%d%d%d)")), body = body, headers = headers }
end

--- One HTTP request. `req`: method, path (relative to the server) or url, headers, body or
-- json (a table, encoded, Content-Type set), https (use https_url and the CA), timeout.
function _M.http(s, req)
  local r = { method = req.method or "GET", headers = {}, timeout = req.timeout or 10 }
  for k, v in pairs(req.headers or {}) do r.headers[k] = v end
  local base = req.https and s.https_url or s.http_url
  r.url = req.url or (base .. req.path)
  if req.https then r.ca_file = s.ca_file end
  if req.json ~= nil then
    r.body = cjson.encode(req.json)
    r.headers["Content-Type"] = r.headers["Content-Type"] or "application/json"
  else
    r.body = req.body
  end
  local resp, err, code
  if core then
    -- one keep-alive client per server and CA (a fresh one when a timeout is asked for)
    local key = r.ca_file and "_spec_tls_client" or "_spec_client"
    local client = s[key]
    if not client or req.timeout then
      client = core.http_client({ ca_file = r.ca_file, timeout = r.timeout })
      if not req.timeout then s[key] = client end
    end
    resp, err, code = client:request({ method = r.method, url = r.url, headers = r.headers,
      body = r.body, timeout = r.timeout })
    if req.timeout then client:close() end
    if resp then
      local h = {}
      for k, v in pairs(resp.headers or {}) do h[k:lower()] = v end
      resp = { status = resp.status, body = resp.body, headers = h }
    end
  else
    resp, err, code = curl(r)
  end
  if not resp then return nil, err, code end
  local ok, v = pcall(cjson.decode, resp.body)
  if ok then resp.json = v end
  return resp
end

--- Signed SENS headers for `method uri` (uri = path + query exactly as sent).
-- opts: timestamp (ms string), access_key, secret_key (default: the server's).
function _M.sens_headers(s, method, uri, opts)
  opts = opts or {}
  local c = s.credentials.sens
  local ts = opts.timestamp or string.format("%d", math.floor(os.time() * 1000))
  local ak, sk = opts.access_key or c.access_key, opts.secret_key or c.secret_key
  return {
    ["Content-Type"] = "application/json; charset=utf-8",
    ["x-ncp-apigw-timestamp"] = ts,
    ["x-ncp-iam-access-key"] = ak,
    ["x-ncp-apigw-signature-v2"] = _M.hmac_b64(sk, method .. " " .. uri .. "\n" .. ts .. "\n" .. ak),
  }
end

--- The SENS base path of the default service.
function _M.sens_base(s)
  return "/alimtalk/v2/services/" .. s.credentials.sens.service_id
end

--- A fresh BizMessage bearer token.
function _M.bizmessage_token(s)
  local c = s.credentials.bizmessage
  local resp = assert(_M.http(s, { method = "POST", path = "/v2/oauth/token",
    headers = { Authorization = "Basic " .. c.client_id .. " " .. c.client_secret,
      ["Content-Type"] = "application/x-www-form-urlencoded" }, body = "grant_type=client_credentials" }))
  assert(resp.status == 200, resp.body)
  return resp.json.access_token
end

--- A fresh Sinch bearer token.
function _M.sinch_token(s)
  local c = s.credentials.sinch
  local resp = assert(_M.http(s, { method = "POST", path = "/oauth2/token",
    headers = { Authorization = "Basic " .. _M.base64(c.key_id .. ":" .. c.key_secret),
      ["Content-Type"] = "application/x-www-form-urlencoded" }, body = "grant_type=client_credentials" }))
  assert(resp.status == 200, resp.body)
  return resp.json.access_token
end

--- Poll `fn` every 50 ms until it returns a truthy value or `timeout` seconds pass.
function _M.wait(fn, timeout)
  local deadline = os.time() + (timeout or 5) + 1
  repeat
    local v = fn()
    if v then return v end
    fs.sleep(0.05)
  until os.time() > deadline
  return fn()
end

--- How many requests the server logged for `provider` whose path matches the Lua pattern `pat`
-- (and whose method is `method`, when given).
function _M.count_attempts(s, provider, pat, method)
  local n = 0
  for _, a in ipairs(s:attempts({ provider = provider }) or {}) do
    if (method == nil or a.method == method) and a.path:find(pat) then n = n + 1 end
  end
  return n
end

--- How many messages reached the handset (the outbox) through `provider`; with `serial`, only
-- those sent under that serial (cid, msg_key).
function _M.count_delivered(s, provider, serial)
  local n = 0
  for _, m in ipairs(s:outbox{ provider = provider } or {}) do
    if serial == nil or m.serial == serial then n = n + 1 end
  end
  return n
end

return _M
