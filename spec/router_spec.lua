-- Failover routing: plans by order and weight, the circuit breaker and its decisions.
local router = require "alimtalk.router"

describe("router", function()
  it("plans in the configured order", function()
    local r = router.new{ order = { "sens", "bizmessage", "apiplex" } }
    local plan, decisions = r:plan()
    assert.same({ "sens", "bizmessage", "apiplex" }, plan)
    assert.same({}, decisions)
  end)

  it("draws the first choice by weight and never picks a zero weight", function()
    local seq, i = { 0.1, 0.0, 0.9, 0.0 }, 0
    local r = router.new{ weights = { sens = 3, bizmessage = 1, sinch = 0 },
                          random = function() i = i + 1 return seq[i] end }
    local plan = r:plan()
    assert.same({ "bizmessage", "sens" }, plan) -- sorted order bizmessage, sens; 0.1*4 < 1
    plan = r:plan()
    assert.same({ "sens", "bizmessage" }, plan) -- 0.9*4 = 3.6: past bizmessage's 1
    local counts = { sens = 0, bizmessage = 0 }
    local r2 = router.new{ weights = { sens = 3, bizmessage = 1 } }
    for _ = 1, 4000 do local p = r2:plan() counts[p[1]] = counts[p[1]] + 1 end
    assert.is_true(counts.sens > 2700 and counts.sens < 3300, "sens first " .. counts.sens)
  end)

  it("opens a circuit after consecutive failures, skips it, and half-opens after the cooldown", function()
    local t = 1000
    local r = router.new{ order = { "sens", "bizmessage" }, failures = 3, cooldown = 30,
                          now = function() return t end }
    r:record("sens", false)
    r:record("sens", false)
    r:record("sens", true)   -- success resets the count
    r:record("sens", false)
    r:record("sens", false)
    assert.equal("closed", r:circuit_state("sens"))
    r:record("sens", false)
    assert.equal("open", r:circuit_state("sens"))
    local plan, decisions = r:plan()
    assert.same({ "bizmessage" }, plan)
    assert.same({ { provider = "sens", decision = "skip", reason = "circuit open" } }, decisions)
    t = t + 31
    assert.equal("half_open", r:circuit_state("sens"))
    assert.same({ "sens", "bizmessage" }, (r:plan()))
    r:record("sens", false)     -- the trial failed: open again for a full cooldown
    assert.equal("open", r:circuit_state("sens"))
    t = t + 31
    r:record("sens", true)
    assert.equal("closed", r:circuit_state("sens"))
  end)

  it("does not count failures of requests sent before the latest success went out", function()
    local t = 100
    local r = router.new{ order = { "sens" }, failures = 3, cooldown = 30, now = function() return t end }
    -- five requests hang from t=100 to their timeout; requests sent at t=101 succeed meanwhile
    r:record("sens", true, 101)
    t = 110
    for _ = 1, 5 do r:record("sens", false, 100) end
    assert.equal("closed", r:circuit_state("sens"))
    -- failures of requests sent after that success do count: the provider went down
    for _ = 1, 3 do r:record("sens", false, 102) end
    assert.equal("open", r:circuit_state("sens"))
  end)

  it("still tries the provider that reopens first when every circuit is open", function()
    local t = 0
    local r = router.new{ order = { "a", "b" }, failures = 1, cooldown = 10, now = function() return t end }
    r:record("a", false)
    t = 5
    r:record("b", false)
    local plan, decisions = r:plan()
    assert.same({ "a" }, plan)
    assert.equal(3, #decisions)
  end)

  it("names every provider of a route once, in its order, then its weighted ones sorted", function()
    assert.same({ "sens", "bizmessage" }, router.names({ "sens", "bizmessage" }))
    assert.same({ "sens", "apiplex", "bizmessage" },
                router.names({ order = { "sens" }, weights = { bizmessage = 1, apiplex = 2, sens = 3 } }))
    assert.same({}, router.names(nil))
  end)

  it("raises on bad options", function()
    assert.has_error(function() router.new{ orders = { "a" } } end)
    assert.has_error(function() router.new{ weights = { a = -1 } } end)
  end)
end)
