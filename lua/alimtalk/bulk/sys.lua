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

--- A word for `sh`, quoted: any string, and never read as an option (a leading `-` becomes
-- `./-`, so pass paths only).
function _M.quote(s)
  s = tostring(s)
  if s:sub(1, 1) == "-" then s = "./" .. s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- Run a shell command; whether it exited 0 (os.execute says so differently on Lua 5.4, which
-- returns true, and LuaJIT, which returns the status number).
function _M.run(cmd)
  local ok = os.execute(cmd)
  return ok == true or ok == 0
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
