--- Runs one Lua property fuzzer (for tools/fuzz-lua and spec/fuzz_spec.lua). A target module
-- returns `{ run = function(g) ... end }`: one case per call, drawn from the generator `g`,
-- raising when a property fails (after setting `g.case` to a description of the input).
local gen = require "fuzz.lua.gen"
local core = require "alimtalk.core"

local _M = {}

--- @tparam string target file name under spec/fuzz/lua/
-- @tparam table opts `seconds` and/or `iterations` (whichever ends first), `seed`
-- @treturn boolean whether every case held, and a one-line (or, on a finding, longer) report
function _M.run(target, opts)
  local t = require("fuzz.lua." .. target)
  local seed = opts.seed or (math.floor(core.now() * 1000) % 2147483647)
  local g = gen.new(seed)
  local runtime = rawget(_G, "jit") and "luajit" or _VERSION
  local deadline = opts.seconds and core.monotonic() + opts.seconds
  local n = 0
  while (not opts.iterations or n < opts.iterations) and (not deadline or core.monotonic() < deadline) do
    n = n + 1
    g.case = nil
    local ok, err = xpcall(t.run, debug.traceback, g)
    if not ok then
      return false, string.format("fuzz-lua %s on %s: FAILED at case %d (FUZZ_SEED=%d; repeat with "
        .. "FUZZ_SEED=%d tools/fuzz-lua %s --iterations %d)\ninput: %s\n%s", target, runtime, n, seed,
        seed, target, n, g.case and string.format("%q", tostring(g.case)) or "?", tostring(err))
    end
  end
  return true, string.format("fuzz-lua %s on %s: %d cases held (FUZZ_SEED=%d)", target, runtime, n, seed)
end

return _M
