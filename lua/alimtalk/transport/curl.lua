--- The default transport: alimtalk.core's keep-alive libcurl client.
-- Implements the transport seam documented in docs/architecture.md: `request(req)` and
-- `request_many(reqs)` with the request/response shapes of `core.http_client`, plus the
-- optional non-blocking `submit(req)` / `wait(timeout)`. Providers hand
-- their request tables here and never touch HTTP themselves, so `transport/cosocket.lua` can
-- take this one's place inside nginx.
-- @module alimtalk.transport.curl
local _M = {}

local config = require "alimtalk.config"

local spec = {
  ca_file = "string", connect_timeout = "number", timeout = "number", max_response = "number",
  max_connections = "number", user_agent = "string",
}

local mt = { __name = "alimtalk.transport.curl" }
local methods = {}
mt.__index = methods

--- Make a transport.
-- @tparam[opt] table opts `ca_file`, `connect_timeout`, `timeout` (seconds), `max_response`
--   (bytes), `max_connections`, `user_agent` (suffix): passed to `core.http_client`
-- @treturn table transport
function _M.new(opts)
  opts = config.check(opts, spec, "alimtalk.transport.curl")
  local core = require "alimtalk.core"
  assert(core.http_client, "alimtalk.core has no http_client (build the C core)")
  return setmetatable({ http = core.http_client(opts) }, mt)
end

--- Send one request. @treturn table|nil resp, or nil, message, code, sent
function methods:request(req)
  return self.http:request(req)
end

--- Send several requests concurrently. @treturn table results in order
function methods:request_many(reqs)
  return self.http:request_many(reqs)
end

--- Start one request without waiting for it (optional capability of a transport: the client
-- pipelines batches when a transport has `submit` and `wait`).
-- @tparam table req request table
-- @treturn integer id that `wait` returns with the outcome
function methods:submit(req)
  return self.http:submit(req)
end

--- Outcome of a submitted request: `id, resp` or `id, nil, message, code, sent`; nil when none
-- finished within `timeout` seconds (default: wait for the next) or none is pending.
function methods:wait(timeout)
  return self.http:wait(timeout)
end

--- Connections opened and requests made so far.
function methods:stats()
  return self.http:stats()
end

--- Close every connection (safe to call twice).
function methods:close()
  return self.http:close()
end

return _M
