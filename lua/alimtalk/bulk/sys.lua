--- The few system calls a campaign needs that plain Lua lacks: a sub-second clock, sleep,
-- fsync and "is this a terminal". They come from the C core; inside nginx the clock and sleep
-- come from nginx instead, so a campaign never blocks a worker.
-- @module alimtalk.bulk.sys
local core = require("alimtalk.core")

local _M = {}

local in_nginx = type(ngx) == "table" and ngx.now ~= nil and ngx.sleep ~= nil -- luacheck: ignore

--- Seconds since some fixed point, with sub-second resolution.
function _M.now()
  if in_nginx then ngx.update_time(); return ngx.now() end -- luacheck: ignore
  return core.monotonic()
end

--- Sleep for `s` seconds (fractions allowed); yields inside nginx.
_M.sleep = require("alimtalk.retry").sleep

--- Make what was written to an open file durable (flush, then fsync).
-- @param f an io file handle
-- @return true, or nil, message, "io"
function _M.fsync(f)
  return core.fsync(f)
end

--- Whether a standard stream (0, 1 or 2) is a terminal.
function _M.isatty(fd)
  return core.isatty(fd)
end

--- Peak resident memory of this process in KiB (VmHWM), or nil off Linux.
function _M.peak_rss_kib()
  local f = io.open("/proc/self/status", "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmHWM:%s*(%d+)"))
end

return _M
