-- alimtalk.core.now / monotonic / sleep: the clock and sleep plain Lua lacks.
local core = require "alimtalk.core"

describe("core clock", function()
  it("now() is the wall clock in epoch seconds, with fractions", function()
    -- generous bounds: a busy machine (or a sanitizer run) may pause between the two reads
    local t = core.now()
    assert.is_true(math.abs(t - os.time()) <= 5)
    local p = io.popen("date +%s.%N")
    local d = tonumber(p:read("*l"))
    p:close()
    assert.is_true(math.abs(core.now() - d) < 5)
    local frac = false
    for _ = 1, 5 do
      local v = core.now()
      if v ~= math.floor(v) then frac = true end
    end
    assert.is_true(frac, "now() has no fractional seconds")
  end)

  it("sleep() waits at least that long, measured by monotonic()", function()
    local t0 = core.monotonic()
    core.sleep(0.05)
    local dt = core.monotonic() - t0
    assert.is_true(dt >= 0.05, tostring(dt))
    assert.is_true(dt < 2, tostring(dt))
    core.sleep(0)
    assert.is_true(core.monotonic() >= t0)
  end)

  it("sleep() raises on bad durations", function()
    assert.has_error(function() core.sleep(-1) end)
    assert.has_error(function() core.sleep(0 / 0) end)
    assert.has_error(function() core.sleep("soon") end)
  end)
end)

describe("core fsync and isatty", function()

  it("fsync() flushes Lua's buffer and syncs an open file, so another reader sees the bytes", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:setvbuf("full", 65536)
    f:write("journal record\n")
    assert.is_true(core.fsync(f))
    local r = assert(io.open(path)); local seen = r:read("a"); r:close()
    assert.equal("journal record\n", seen)
    f:close(); os.remove(path)
  end)

  it("fsync() raises on a closed file or a non-file", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w")); f:close(); os.remove(path)
    assert.has_error(function() core.fsync(f) end)
    assert.has_error(function() core.fsync("journal.log") end)
  end)

  it("isatty() answers for the standard streams and rejects other descriptors", function()
    assert.is_boolean(core.isatty(1))
    assert.has_error(function() core.isatty(3) end)
    -- A pipe is never a terminal: run a child whose stdout is our pipe.
    local lua = (type(jit) == "table") and "luajit" or "lua5.4"
    local child = assert(io.popen(string.format(
      "LUA_CPATH=%q %s -e 'io.write(tostring(require(\"alimtalk.core\").isatty(1)))'",
      package.cpath, lua)))
    local out = child:read("a"); child:close()
    assert.equal("false", out)
  end)
end)
