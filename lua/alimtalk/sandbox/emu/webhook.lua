--- Outgoing webhooks of the sandbox (API PLEX results, Sinch delivery reports): a minimal
-- HTTP/1.1 POST over nginx cosockets, retried with backoff, every try logged under
-- GET /_sandbox/webhooks.
-- Hosts are IP addresses or `localhost`: nginx cosockets resolve names only through a
-- configured `resolver`, which the sandbox (loopback only) has none of. `check_url` refuses
-- other names when a webhook is configured; it is pure Lua so `server.start` uses it too.
-- HTTPS webhooks do not verify the receiver's certificate: receivers under test use
-- self-signed certificates and the sandbox has no trust store to check them against.
-- @module alimtalk.sandbox.emu.webhook
local state -- required on first delivery: check_url also runs outside nginx

local _M = {}

-- scheme, host as written, host to connect to, port, path; nil when not an http(s) URL.
local function parse_url(url)
  if type(url) ~= "string" then return nil end
  local scheme, host, port, path = url:match("^(https?)://(%[[%x:%.]+%]):?(%d*)(.*)$")
  if not scheme then scheme, host, port, path = url:match("^(https?)://([^/:%[%]?#@]+):?(%d*)(.*)$") end
  if not scheme then return nil end
  if path ~= "" and path:sub(1, 1) ~= "/" then return nil end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  if path == "" then path = "/" end
  local connect = host
  if host:lower() == "localhost" then connect = "127.0.0.1" end
  return scheme, host, connect, port, path
end

local function ip_literal(host)
  if host:find("^%[[%x:%.]+%]$") then return true end
  local a, b, c, d = host:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  return a ~= nil and tonumber(a) < 256 and tonumber(b) < 256 and tonumber(c) < 256
    and tonumber(d) < 256
end

--- Can the sandbox deliver to this webhook URL? "" (none) and paths on the sandbox itself
-- ("/...") are fine; else http(s) to an IP address (IPv6 in brackets) or `localhost`.
-- @treturn true|nil,string true, or nil and a message naming the URL
function _M.check_url(url)
  if url == "" or (type(url) == "string" and url:sub(1, 1) == "/") then return true end
  local scheme, host, _, port = parse_url(url)
  if not scheme or port < 1 or port > 65535 then
    return nil, "webhook URL must be http(s)://host[:port]/path or a /path on the sandbox: "
      .. tostring(url)
  end
  if host:lower() ~= "localhost" and not ip_literal(host) then
    return nil, "webhook URL host must be an IP address or localhost (the sandbox resolves no "
      .. "names): " .. url
  end
  return true
end

--- POST a body; returns the HTTP status or nil and an error message.
function _M.post(url, body, headers)
  local scheme, host, connect, port, path = parse_url(url)
  if not scheme then return nil, "bad url" end
  local sock = ngx.socket.tcp()
  sock:settimeouts(2000, 5000, 5000)
  local ok, err = sock:connect(connect, port)
  if not ok then return nil, "connect: " .. err end
  if scheme == "https" then
    ok, err = sock:sslhandshake(nil, not ip_literal(host) and host or nil, false)
    if not ok then sock:close() return nil, "tls: " .. err end
  end
  local lines = { "POST " .. path .. " HTTP/1.1", "Host: " .. host .. ":" .. port,
    "Connection: close", "Content-Type: application/json", "Content-Length: " .. #body,
    "User-Agent: alimtalk-sandbox" }
  for k, v in pairs(headers or {}) do lines[#lines + 1] = k .. ": " .. v end
  lines[#lines + 1] = ""
  lines[#lines + 1] = body
  ok, err = sock:send(table.concat(lines, "\r\n"))
  if not ok then sock:close() return nil, "send: " .. err end
  local line
  line, err = sock:receive("*l")
  if not line then sock:close() return nil, "receive: " .. err end
  local status = tonumber(line:match("^HTTP/%d%.%d (%d%d%d)"))
  -- Drain the headers and close: the answer body does not matter to the sender.
  repeat line = sock:receive("*l") until not line or line == ""
  sock:close()
  if not status then return nil, "bad status line" end
  return status
end

-- One try; on failure schedule the next with backoff, up to `tries`.
local function attempt(premature, job)
  if premature then return end
  state = state or require "alimtalk.sandbox.emu.state"
  local headers = job.sign and job.sign(job.body) or job.headers
  local status, err = _M.post(job.url, job.body, headers)
  job.try = job.try + 1
  local ok = status and status >= 200 and status < 300
  state.log("w", { provider = job.provider, url = job.url, try = job.try, status = status,
    error = err, body = job.body, headers = headers, time = ngx.now(), id = job.id })
  if not ok and job.try < job.tries then
    local wait = math.min(0.1 * 2 ^ (job.try - 1), 2)
    local okt, terr = ngx.timer.at(wait, attempt, job)
    if not okt then ngx.log(ngx.WARN, "sandbox: webhook retry not scheduled: ", terr) end
  end
end

--- Deliver a webhook `delay` seconds from now.
-- @tparam table job `url`, `body` (string), `headers` or `sign(body) -> headers`, `provider`,
-- `id`, `tries` (default 10)
function _M.schedule(delay, job)
  job.try = 0
  job.tries = job.tries or 10
  local ok, err = ngx.timer.at(delay, attempt, job)
  if not ok then ngx.log(ngx.WARN, "sandbox: webhook not scheduled: ", err) end
end

return _M
