--- The blocking backend of `alimtalk.redis`: hiredis in the C core (`core.redis_connect`).
-- A backend opens a raw connection with `command(name, ...)`, `pipeline(list)`, `send(list)`
-- and `receive()` (a pipeline split in two), `connected()`, `reused()` and `close(pool)`,
-- answering `nil, message, code` like the core.
-- @module alimtalk.redis.hiredis
local core = require "alimtalk.core"

local _M = {}

local mt = { __name = "alimtalk.redis.hiredis" }
local methods = {}
mt.__index = methods

--- Open a connection.
-- @tparam table s settings from `alimtalk.redis` (`host`, `port` or `path`, `connect_timeout`,
--   `timeout`)
-- @treturn table the raw connection, or nil, message, "connect"
function _M.open(s)
  local tcp = not s.path
  local c, msg, code = core.redis_connect({ host = tcp and s.host or nil, port = tcp and s.port or nil,
    path = s.path, connect_timeout = s.connect_timeout, timeout = s.timeout })
  if not c then return nil, msg, code end
  return setmetatable({ c = c }, mt)
end

function methods:command(...) return self.c:command(...) end
function methods:pipeline(list) return self.c:pipeline(list) end
function methods:send(list) return self.c:send(list) end
function methods:receive() return self.c:receive() end
function methods:connected() return self.c:connected() end
function methods.reused() return false end
function methods:close() self.c:close() end

return _M
