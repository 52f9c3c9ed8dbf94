--- OpenResty transport: HTTP/1.1 on nginx cosockets (`ngx.socket.tcp`), so a send inside an
-- nginx request never blocks the worker.
--
-- Same contract as the transport seam in docs/architecture.md:
-- `transport:request(req) -> resp | nil, message, code, sent` and
-- `transport:request_many(reqs) -> results`, with the request/response shapes of
-- `core.http_client`. Connections go back to nginx's per-worker keepalive pool
-- (`setkeepalive`); HTTPS is verified (`sslhandshake(nil, host, true)`) against the CA file
-- named by the nginx directive `lua_ssl_trusted_certificate` (nginx has no per-socket CA,
-- and which file that directive names cannot be read back from Lua, so a `ca_file` option is
-- refused with a message saying so; `lua_ssl_verify_depth` applies too).
-- `request_many` runs the requests on light threads (`ngx.thread.spawn`), at most
-- `max_connections` at a time. nginx resolves host names only through its `resolver`
-- directive (it does not read /etc/hosts), so configure one for the providers' hosts;
-- `localhost` is connected to 127.0.0.1 directly.
--
-- Failure codes follow the C client: `dns`, `connect`, `tls`, `timeout`, `too_large`,
-- `protocol`; `sent` is false only when no byte of the request left (safe to retry).
-- @module alimtalk.transport.cosocket
local _M = {}

local ngx = ngx -- luacheck: ignore
local tonumber, tostring, pairs, ipairs, type = tonumber, tostring, pairs, ipairs, type
local concat, lower = table.concat, string.lower

local OPTIONS = {
  ca_file = "string", connect_timeout = "number", timeout = "number", max_response = "number",
  max_connections = "number", user_agent = "string", keepalive_timeout = "number",
  pool_size = "number",
}

-- Phases in which cosockets work (not init, set, header_filter, body_filter, log).
local COSOCKET_PHASES = {
  rewrite = true, access = true, content = true, timer = true, ssl_cert = true,
  ssl_session_fetch = true, ssl_client_hello = true, preread = true,
}

--- Whether the cosocket transport can be used here: inside nginx, in a phase that allows
-- cosockets. Clients pick this transport automatically when it returns true.
-- @treturn boolean
function _M.available()
  if type(ngx) ~= "table" or type(ngx.socket) ~= "table" or type(ngx.get_phase) ~= "function" then
    return false
  end
  return COSOCKET_PHASES[ngx.get_phase()] == true
end

local mt = { __name = "alimtalk.transport.cosocket" }
local methods = {}
mt.__index = methods

--- Make a transport.
-- @tparam[opt] table opts `connect_timeout` (s, default 5), `timeout` (s, default 30: each
-- send and read step), `max_response` (bytes, default 1 MiB), `max_connections` (parallel
-- requests in `request_many`, default 16), `keepalive_timeout` (s idle in the pool, default 60),
-- `pool_size` (per host, default 32), `user_agent` (suffix); `ca_file` raises: put the CA in
-- nginx's `lua_ssl_trusted_certificate` instead
-- @treturn table transport
function _M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("alimtalk.transport.cosocket: options must be a table", 2) end
  for k, v in pairs(opts) do
    local want = OPTIONS[k]
    if not want then error("alimtalk.transport.cosocket: unknown option '" .. tostring(k) .. "'", 2) end
    if type(v) ~= want then
      error("alimtalk.transport.cosocket: option '" .. k .. "' must be " .. want .. ", got " .. type(v), 2)
    end
  end
  if type(ngx) ~= "table" or type(ngx.socket) ~= "table" then
    error("alimtalk.transport.cosocket: only available inside nginx (OpenResty)", 2)
  end
  if opts.ca_file then
    error("alimtalk.transport.cosocket: the ca_file option cannot apply inside nginx (no CA per "
      .. "connection): remove it from the provider's configuration and name the CA file in nginx's "
      .. "lua_ssl_trusted_certificate directive", 2)
  end
  return setmetatable({
    connect_timeout = opts.connect_timeout or 5,
    timeout = opts.timeout or 30,
    max_response = opts.max_response or 1048576,
    max_connections = opts.max_connections or 16,
    keepalive_timeout = opts.keepalive_timeout or 60,
    pool_size = opts.pool_size or 32,
    user_agent = "alimtalk" .. (opts.user_agent and (" " .. opts.user_agent) or ""),
    requests = 0, connections = 0,
  }, mt)
end

local function parse_url(url)
  local scheme, rest = url:match("^(https?)://(.*)$")
  if not scheme then return nil, "unsupported URL (http or https only): " .. tostring(url) end
  local authority, path = rest:match("^([^/?#]*)(.*)$")
  if path == "" or path:sub(1, 1) ~= "/" then path = "/" .. path end
  path = path:gsub("#.*$", "")
  local host, port = authority:match("^%[(.+)%]:?(%d*)$")
  if not host then host, port = authority:match("^([^:]+):?(%d*)$") end
  if not host or host == "" then return nil, "URL has no host: " .. tostring(url) end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  return { scheme = scheme, host = host, port = port, path = path, authority = authority }
end

local function classify_connect(err)
  err = tostring(err)
  if err:find("resolve", 1, true) or err:find("resolver", 1, true) then return "dns" end
  if err:find("timeout", 1, true) then return "connect" end
  return "connect"
end

-- Reads from a socket against one deadline for the whole request. nginx re-arms a cosocket's
-- read timer whenever bytes arrive, so one `receive(n)` fed a byte a second never times out;
-- here every wait gets only the time left, and takes whatever has arrived (`receiveany`).
local floor, max_ = math.floor, math.max

local function fill(r)
  local left = r.deadline - ngx.now()
  if left <= 0 then return nil, "timeout" end
  local ms = max_(1, floor(left * 1000))
  r.sock:settimeouts(ms, ms, ms)
  local data, err = r.sock:receiveany(65536)
  if not data then return nil, err end
  if r.pos > #r.buf then
    r.buf, r.pos = data, 1
  else
    r.buf, r.pos = r.buf:sub(r.pos) .. data, 1
  end
  return true
end

-- One line without its CRLF; on failure nil, err, and what had arrived of the line.
local function read_line(r)
  while true do
    local e = r.buf:find("\n", r.pos, true)
    if e then
      local line = r.buf:sub(r.pos, e - 1)
      r.pos = e + 1
      if line:byte(-1) == 13 then line = line:sub(1, -2) end
      return line
    end
    if #r.buf - r.pos > 16384 then return nil, "line too long" end
    local ok, err = fill(r)
    if not ok then return nil, err, r.buf:sub(r.pos) end
  end
end

-- Exactly n bytes.
local function read_n(r, n)
  local have = #r.buf - r.pos + 1
  if have >= n then
    local s = r.buf:sub(r.pos, r.pos + n - 1)
    r.pos = r.pos + n
    return s
  end
  local parts = { r.buf:sub(r.pos) }
  r.buf, r.pos = "", 1
  while have < n do
    local ok, err = fill(r)
    if not ok then return nil, err end
    local piece = r.buf
    if have + #piece > n then
      parts[#parts + 1] = piece:sub(1, n - have)
      r.pos = n - have + 1
      have = n
    else
      parts[#parts + 1] = piece
      have = have + #piece
      r.buf, r.pos = "", 1
    end
  end
  return concat(parts)
end

-- Read the body announced by Content-Length, chunked encoding, or the close of the connection.
-- Returns body, nil, reusable; or nil, err.
local function read_body(r, headers, max)
  local te = headers["transfer-encoding"]
  if te and lower(te):find("chunked", 1, true) then
    local parts, total = {}, 0
    while true do
      local line, err = read_line(r)
      if not line then return nil, err end
      local size = tonumber(line:match("^%s*(%x+)"), 16)
      if not size then return nil, "bad chunk size" end
      if size == 0 then
        -- trailers until the empty line
        repeat
          local t, terr = read_line(r)
          if not t then return nil, terr end
        until t == ""
        break
      end
      total = total + size
      if total > max then return nil, "too_large" end
      local data, derr = read_n(r, size)
      if not data then return nil, derr end
      parts[#parts + 1] = data
      local crlf, cerr = read_n(r, 2)
      if not crlf then return nil, cerr end
    end
    return concat(parts), nil, true
  end
  local len = headers["content-length"]
  if len then
    len = tonumber(len)
    if not len or len < 0 then return nil, "bad content-length" end
    if len > max then return nil, "too_large" end
    if len == 0 then return "", nil, true end
    local data, err = read_n(r, len)
    if not data then return nil, err end
    return data, nil, true
  end
  -- No length: the body runs to the close of the connection.
  local parts, total = { r.buf:sub(r.pos) }, #r.buf - r.pos + 1
  r.buf, r.pos = "", 1
  if total > max then return nil, "too_large" end
  while true do
    local ok, err = fill(r)
    if not ok then
      if err == "closed" then return concat(parts), nil, false end
      return nil, err
    end
    total = total + #r.buf
    if total > max then return nil, "too_large" end
    parts[#parts + 1] = r.buf
    r.buf, r.pos = "", 1
  end
end

local IDEMPOTENT = { GET = true, HEAD = true, PUT = true, DELETE = true, OPTIONS = true }

-- One attempt on one connection. Returns resp, or nil, message, code, sent, retry_on_fresh.
local function attempt(self, u, req, head, body)
  local sock = ngx.socket.tcp()
  -- `timeout` bounds the whole attempt, as it does in the C client: connect, TLS, send and
  -- every read share one deadline
  local timeout = req.timeout or self.timeout
  ngx.update_time()
  local deadline = ngx.now() + timeout
  local connect_ms = floor(math.min(req.connect_timeout or self.connect_timeout, timeout) * 1000)
  local timeout_ms = max_(1, floor(timeout * 1000))
  sock:settimeouts(connect_ms, timeout_ms, timeout_ms)
  local pool = u.scheme .. "://" .. u.host .. ":" .. u.port
  -- nginx resolves names with its `resolver` directive only (no /etc/hosts): connect to
  -- loopback for "localhost" ourselves, still verifying the certificate for "localhost".
  local addr = u.host == "localhost" and "127.0.0.1" or u.host
  local ok, err = sock:connect(addr, u.port, { pool = pool, pool_size = self.pool_size })
  if not ok then
    return nil, "connect to " .. u.host .. ":" .. u.port .. " failed: " .. tostring(err),
      classify_connect(err), false
  end
  local reused = sock:getreusedtimes() or 0
  if reused == 0 then
    self.connections = self.connections + 1
    if u.scheme == "https" then
      -- nginx checks the certificate against a host name only (X509_check_host), never an IP
      -- address, so an https URL must name its host: say so rather than fail obscurely.
      if u.host:match("^[%d.]+$") or u.host:find(":", 1, true) then
        sock:close()
        return nil, "TLS to " .. u.host .. ": nginx verifies certificates by host name only; "
          .. "use the host name in the URL", "tls", false
      end
      -- When the handshake completes at once but verification fails, resty.core 0.1.25 with
      -- ngx_lua 0.10.23 raises an assertion while fetching the session instead of returning
      -- the error (and asking for no session hides the failure): a raise is a failed check.
      local left = max_(1, floor((deadline - ngx.now()) * 1000))
      sock:settimeouts(connect_ms, left, left)
      local okh, sess, serr = pcall(sock.sslhandshake, sock, nil, u.host, true)
      if not okh then sess, serr = nil, "certificate verification failed" end
      if not sess then
        sock:close()
        return nil, "TLS handshake with " .. u.host .. " failed: " .. tostring(serr), "tls", false
      end
    end
  end
  local left = deadline - ngx.now()
  if left <= 0 then
    sock:close()
    return nil, "timed out before the request was sent", "timeout", false
  end
  left = max_(1, floor(left * 1000))
  sock:settimeouts(connect_ms, left, left)
  local bytes, serr = sock:send({ head, body })
  if not bytes then
    sock:close()
    -- The request did not go out whole, so no server can have acted on it (a request is only
    -- complete with its last body byte): not sent. On a pooled connection the server had
    -- already closed, try once on a fresh one.
    return nil, "send failed: " .. tostring(serr), serr == "timeout" and "timeout" or "connect",
      false, reused > 0
  end
  local r = { sock = sock, deadline = deadline, buf = "", pos = 1 }
  local status_line, rerr, partial = read_line(r)
  if not status_line then
    sock:close()
    if reused > 0 and rerr == "closed" and (partial == nil or partial == "") then
      -- The whole request went out on a reused connection and the server closed it without
      -- a word: usually an idle close racing our request, but the server may have received
      -- and processed it. Resend only what is idempotent; a POST may have been sent.
      if IDEMPOTENT[req.method or "GET"] then
        return nil, "connection closed before the response", "protocol", true, true
      end
      return nil, "the server closed a reused connection without a response; the request may "
        .. "have been received, so it was not sent again", "protocol", true
    end
    if rerr == "timeout" then return nil, "timed out waiting for the response", "timeout", true end
    return nil, "reading the response failed: " .. tostring(rerr), "protocol", true
  end
  local status = tonumber(status_line:match("^HTTP/%d%.%d (%d%d%d)"))
  if not status then
    sock:close()
    return nil, "not an HTTP response", "protocol", true
  end
  local headers = {}
  while true do
    local line, herr = read_line(r)
    if not line then
      sock:close()
      return nil, "reading headers failed: " .. tostring(herr),
        herr == "timeout" and "timeout" or "protocol", true
    end
    if line == "" then break end
    local name, value = line:match("^([^:]+):%s*(.-)%s*$")
    if name then
      name = lower(name)
      if headers[name] and name ~= "set-cookie" then
        headers[name] = headers[name] .. ", " .. value
      else
        headers[name] = value
      end
    end
  end
  local resp_body, berr, reusable = "", nil, true
  if req.method ~= "HEAD" and status ~= 204 and status ~= 304 and not (status >= 100 and status < 200) then
    resp_body, berr, reusable = read_body(r, headers, req.max_response or self.max_response)
  end
  if not resp_body then
    sock:close()
    if berr == "too_large" then return nil, "response larger than max_response", "too_large", true end
    if berr == "timeout" then return nil, "timed out reading the response body", "timeout", true end
    return nil, "reading the response body failed: " .. tostring(berr), "protocol", true
  end
  local conn = lower(headers["connection"] or "")
  -- (bytes past the answer would be read as the next one's: such a connection is not reused)
  if reusable and r.pos > #r.buf and not conn:find("close", 1, true)
      and status_line:match("^HTTP/1%.1") then
    sock:setkeepalive(math.floor(self.keepalive_timeout * 1000), self.pool_size)
  else
    sock:close()
  end
  return { status = status, headers = headers, body = resp_body }
end

--- Send one request.
-- @tparam table req `method`, `url`, `headers`, `body`, `connect_timeout`, `timeout`, `max_response`
-- @treturn table resp `{ status, headers (lower-case names), body }`, or nil, message, code, sent
function methods:request(req)
  local u, uerr = parse_url(req.url or "")
  if not u then return nil, uerr, "protocol", false end
  local method = req.method or "GET"
  local body = req.body or ""
  local lines = { method .. " " .. u.path .. " HTTP/1.1" }
  local has = {}
  for k, v in pairs(req.headers or {}) do
    local lk = lower(k)
    has[lk] = true
    if v ~= "" then lines[#lines + 1] = k .. ": " .. tostring(v) end
  end
  if not has["host"] then lines[#lines + 1] = "Host: " .. u.authority end
  if not has["user-agent"] then lines[#lines + 1] = "User-Agent: " .. self.user_agent end
  local wants_length = #body > 0 or method == "POST" or method == "PUT" or method == "PATCH"
  if not has["content-length"] and wants_length then
    lines[#lines + 1] = "Content-Length: " .. #body
  end
  lines[#lines + 1] = "\r\n"
  local head = concat(lines, "\r\n")
  self.requests = self.requests + 1
  local resp, msg, code, sent, again = attempt(self, u, req, head, body)
  if not resp and again then
    resp, msg, code, sent = attempt(self, u, req, head, body)
  end
  if not resp then return nil, msg, code, sent end
  return resp
end

--- Send several requests concurrently on light threads.
-- @tparam table reqs list of requests
-- @treturn table results in the same order: `{ resp = resp }` or `{ err =, code =, sent = }`
function methods:request_many(reqs)
  local results = {}
  local n = #reqs
  local next_i = 0
  local function worker()
    while true do
      next_i = next_i + 1
      local i = next_i
      if i > n then return end
      local resp, msg, code, sent = self:request(reqs[i])
      if resp then results[i] = { resp = resp }
      else results[i] = { err = msg, code = code, sent = sent and true or false } end
    end
  end
  local threads = {}
  for t = 1, math.min(self.max_connections, n) do
    threads[t] = ngx.thread.spawn(worker)
  end
  for _, th in ipairs(threads) do
    local ok, err = ngx.thread.wait(th)
    if not ok then
      -- a thread raised: mark whatever it left unfinished as failed (it may have sent)
      for i = 1, n do
        if not results[i] then results[i] = { err = tostring(err), code = "protocol", sent = true } end
      end
    end
  end
  return results
end

--- Connections opened and requests made by this transport (pooled reuses are not opens).
function methods:stats()
  return { connections = self.connections, requests = self.requests }
end

--- Nothing to close: connections belong to nginx's keepalive pool.
function methods.close() end

return _M
