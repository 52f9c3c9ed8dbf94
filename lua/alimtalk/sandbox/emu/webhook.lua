--- Outgoing webhooks of the sandbox (API PLEX results, Sinch delivery reports): a minimal
-- HTTP/1.1 POST over nginx cosockets, retried with backoff, every try logged under
-- GET /_sandbox/webhooks.
-- @module alimtalk.sandbox.emu.webhook
local state = require "alimtalk.sandbox.emu.state"

local _M = {}

local function parse_url(url)
  local scheme, host, port, path = url:match("^(https?)://([^/:]+):?(%d*)(.*)$")
  if not scheme then return nil end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  if path == "" then path = "/" end
  return scheme, host, port, path
end

--- POST a body; returns the HTTP status or nil and an error message.
function _M.post(url, body, headers)
  local scheme, host, port, path = parse_url(url)
  if not scheme then return nil, "bad url" end
  local sock = ngx.socket.tcp()
  sock:settimeouts(2000, 5000, 5000)
  local ok, err = sock:connect(host, port)
  if not ok then return nil, "connect: " .. err end
  if scheme == "https" then
    ok, err = sock:sslhandshake(nil, host, false)
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
