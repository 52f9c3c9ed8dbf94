--- Files, shell commands and subprocesses for specs (shared so each spec does not carry its own).
--
--     local fs = require "support.fs"
--     fs.read_file(path)          -- whole file, or nil when it cannot be opened
--     fs.write(path, s)           -- (over)write a file; raises when it cannot
--     fs.read_lines(path)         -- list of lines ({} when the file is missing)
--     fs.read_fixture(path)       -- a file that must exist, without its final newline
--     fs.sh(cmd)                  -- os.execute, true when the command exited 0
--     fs.capture(cmd)             -- exit code and stdout+stderr of `cmd`
--     fs.q(s)                     -- single-quoted for sh
--     fs.sleep(seconds)
--     fs.tmpdir(name)             -- a fresh /tmp/<name>.XXXXXX folder
--     fs.rmtree(dir)              -- remove a folder and everything in it (nil: nothing)
--     fs.seed_random()            -- seed math.random from /dev/urandom (once)
--     fs.RUNTIME                  -- "luajit" or "lua5.4": the interpreter running the spec
local _M = {}

_M.RUNTIME = type(jit) == "table" and "luajit" or "lua5.4"

--- Run a shell command; true when it exited 0 (Lua 5.1 and 5.4 return values differ).
function _M.sh(cmd)
  local ok = os.execute(cmd)
  return ok == true or ok == 0
end

--- Run a shell command; its exit code and its output (stdout and stderr together).
function _M.capture(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"rc=$?\"")
  local out = p:read("*a")
  p:close()
  return tonumber(out:match("rc=(%d+)%s*$")), out
end

--- The whole file, or nil when it cannot be opened.
function _M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

--- A file that must exist (a fixture), without its final newline.
function _M.read_fixture(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return (s:gsub("\n$", ""))
end

--- Write `s` to `path`, replacing it.
function _M.write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

--- The file's lines; an empty list when it is missing.
function _M.read_lines(path)
  local out = {}
  local f = io.open(path, "rb")
  if not f then return out end
  for l in f:lines() do out[#out + 1] = l end
  f:close()
  return out
end

local root
--- Whether the suite runs as root (then nginx would run its workers as `nobody`).
function _M.is_root()
  if root == nil then
    local _, out = _M.capture("id -u")
    root = out:match("^0%s") ~= nil
  end
  return root
end

--- `s` single-quoted for a POSIX shell.
function _M.q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

function _M.sleep(s)
  os.execute("sleep " .. s)
end

--- A fresh folder /tmp/<name>.XXXXXX (the caller removes it).
function _M.tmpdir(name)
  local p = assert(io.popen("mktemp -d /tmp/" .. name .. ".XXXXXX"))
  local dir = p:read("*l")
  p:close()
  assert(dir and dir ~= "", "mktemp failed")
  return dir
end

--- Remove `dir` and everything below it; nothing when `dir` is nil.
function _M.rmtree(dir)
  if dir then _M.sh("rm -rf " .. _M.q(dir)) end
end

-- LuaJIT seeds math.random the same way every run, so two specs running at once would try
-- the same "random" ports: mix in /dev/urandom.
local seeded = false
function _M.seed_random()
  if seeded then return end
  seeded = true
  local f = io.open("/dev/urandom", "rb")
  local b = f and f:read(4) or ""
  if f then f:close() end
  local seed = os.time()
  for i = 1, #b do seed = seed * 256 + b:byte(i) end
  math.randomseed(seed % 2147483647)
end

return _M
