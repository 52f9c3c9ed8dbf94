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
