--- The few system calls a campaign needs that plain Lua lacks: a sub-second clock, sleep,
-- fsync and "is this a terminal". Each uses the best thing available: nginx's API inside
-- OpenResty, the C core when it offers the call, LuaSocket when installed, and otherwise the
-- coreutils commands (`sleep`, `sync FILE`, `test -t`), which work anywhere on Debian.
-- @module alimtalk.bulk.sys
local _M = {}

local ok_core, core = pcall(require, "alimtalk.core")
if not ok_core then core = {} end
local ok_socket, socket = pcall(require, "socket")
if not ok_socket then socket = nil end
local in_nginx = type(ngx) == "table" and ngx.now ~= nil -- luacheck: ignore

--- Seconds since some fixed point, with sub-second resolution where possible.
function _M.now()
  if in_nginx then ngx.update_time(); return ngx.now() end -- luacheck: ignore
  if core.monotonic then return core.monotonic() end
  if socket then return socket.gettime() end
  return os.time()
end

--- Sleep for `s` seconds (fractions allowed).
function _M.sleep(s)
  if s <= 0 then return end
  if in_nginx then return ngx.sleep(s) end -- luacheck: ignore
  if core.sleep then return core.sleep(s) end
  if socket then return socket.sleep(s) end
  os.execute(string.format("sleep %.3f", s))
end

--- Make what was written to an open file durable (flush, then fsync).
-- @param f an io file handle
-- @tparam string path its path (for the `sync FILE` fallback)
function _M.fsync(f, path)
  f:flush()
  if core.fsync then return core.fsync(f) end
  -- coreutils `sync FILE` fsyncs that one file; the path is ours, quote it for the shell.
  os.execute("sync -d '" .. path:gsub("'", "'\\''") .. "' 2>/dev/null")
end

--- Whether a standard stream (1 or 2) is a terminal.
function _M.isatty(fd)
  if core.isatty then return core.isatty(fd) end
  local ok = os.execute("test -t " .. tonumber(fd))
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
