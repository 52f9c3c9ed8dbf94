-- Failover routing against the sandbox server: SENS first, BizMessage second. Fail over only
-- what SENS certainly did not take; never what may have been sent; a circuit breaker skips a
-- provider that is down; per-provider template codes; every decision in the result.
local sandbox = require "support.sandbox"
local alimtalk = require "alimtalk"

local function shipped(i)
  return { id = "fo-" .. i, to = string.format("010-5000-%04d", i), template = "order_shipped",
           vars = { name = "고객" .. i, order = "F" .. i, courier = "우체국택배",
                    invoice = string.format("%013d", 6302114700000 + i) } }
end

local function outbox(s, provider)
  return s:outbox{ provider = provider } or {}
end

describe("client: failover", function()
  local s, client

  local function new_client(route)
    return assert(alimtalk.new{
      providers = {
        sens = s:client_options("sens", { timeout = 2 }),
        bizmessage = s:client_options("bizmessage", { timeout = 2 }),
      },
      route = route or { order = { "sens", "bizmessage" }, failures = 2, cooldown = 60 },
      templates = sandbox.templates,
      retry = { max_attempts = 2, base_delay = 0.01, max_delay = 0.02, max_retry_after = 0.05 },
    })
  end

  setup(function() s = sandbox.start{} end)
  teardown(function()
    if client then client:close() end
    assert.same({}, sandbox.stop(s))
  end)
  before_each(function()
    assert(s:reset())
    if client then client:close() end
    client = new_client()
  end)

  it("uses the first provider while it works", function()
    local r = client:send(shipped(1))
    assert.equal("accepted", r.status)
    assert.equal("sens", r.provider)
    assert.same({ { provider = "sens", decision = "send", status = "accepted", code = "A000",
                    attempts = 1 } }, r.routing)
    assert.equal(0, #outbox(s, "bizmessage"))
  end)

  it("fails over what was certainly not sent, with the second provider's template code", function()
    assert(s:fault{ provider = "sens", kind = "status", status = 503, retry_after = 0 })
    local rs = client:send_batch({ shipped(2), shipped(3) })
    for _, r in ipairs(rs) do
      assert.equal("accepted", r.status)
      assert.equal("bizmessage", r.provider)
      assert.equal("sens", r.routing[1].provider)
      assert.equal("not_sent", r.routing[1].status)
      assert.equal("failover", r.routing[2].decision)
      assert.equal("bizmessage", r.routing[3].provider)
      assert.equal("accepted", r.routing[3].status)
    end
    local ob = outbox(s, "bizmessage")
    assert.equal(2, #ob)
    assert.equal("TPL_0001", ob[1].template_code)
    assert.equal(0, #outbox(s, "sens"))
  end)

  it("never fails over an uncertain outcome", function()
    assert(s:fault{ provider = "sens", kind = "status", status = 502, count = 1 })
    local r = client:send(shipped(4))
    assert.equal("uncertain", r.status)
    assert.equal("sens", r.provider)
    assert.equal(1, #r.routing)
    assert.equal(0, #outbox(s, "bizmessage"))
    assert(s:fault{ provider = "sens", kind = "reset_after", count = 1 })
    r = client:send(shipped(5))
    assert.equal("uncertain", r.status)
    assert.equal(0, #outbox(s, "bizmessage"))
    assert.equal(1, #outbox(s, "sens"))
  end)

  it("does not fail over rejections (the input must be fixed)", function()
    assert(s:fault{ provider = "sens", kind = "code", code = "3016", count = 1 })
    local r = client:send(shipped(6))
    assert.equal("rejected", r.status)
    assert.equal("sens", r.provider)
    assert.equal(0, #outbox(s, "bizmessage"))
  end)

  it("opens the circuit after repeated failures and routes straight to the next provider", function()
    assert(s:fault{ provider = "sens", kind = "status", status = 503, retry_after = 0 })
    client:send(shipped(7))                 -- two failed attempts open the circuit (failures = 2)
    local before = 0
    for _, a in ipairs(s:attempts{ provider = "sens" } or {}) do
      if a.provider == "sens" and a.method == "POST" then before = before + 1 end
    end
    local r = client:send(shipped(8))
    assert.equal("accepted", r.status)
    assert.equal("bizmessage", r.provider)
    assert.same({ provider = "sens", decision = "skip", reason = "circuit open" }, r.routing[1])
    local after = 0
    for _, a in ipairs(s:attempts{ provider = "sens" } or {}) do
      if a.provider == "sens" and a.method == "POST" then after = after + 1 end
    end
    assert.equal(before, after)             -- SENS was not even tried
  end)

  it("spreads first choices by weight", function()
    client:close()
    client = new_client({ weights = { sens = 1, bizmessage = 1 } })
    local msgs = {}
    for i = 1, 40 do msgs[i] = shipped(100 + i) end
    local rs = client:send_batch(msgs)
    local n = { sens = 0, bizmessage = 0 }
    for _, r in ipairs(rs) do
      assert.equal("accepted", r.status)
      n[r.provider] = n[r.provider] + 1
    end
    assert.is_true(n.sens > 5 and n.bizmessage > 5, n.sens .. "/" .. n.bizmessage)
    assert.equal(40, #outbox(s, "sens") + #outbox(s, "bizmessage"))
  end)

  it("raises on routes that name unconfigured providers or leave one out", function()
    assert.has_error(function()
      alimtalk.new{ providers = { sandbox = {} }, route = { "sens" } }
    end)
    assert.has_error(function()
      alimtalk.new{ providers = { sandbox = {}, sens = { access_key = "a", secret_key = "b",
                    service_id = "c" } } }
    end)
  end)

  it("raises when given both one provider and a route, naming both", function()
    -- (it used to take the provider, drop the route, and then blame the route's second
    -- provider for being "not in the route")
    assert.has_error(function()
      alimtalk.new{ provider = "sandbox", route = { "sandbox", "sens" }, sandbox = {},
                    sens = { access_key = "a", secret_key = "b", service_id = "c" } }
    end, "alimtalk.new: give provider (one provider) or route (several), not both")
    -- a route of that provider alone says the same thing: taken, as before
    local c = assert(alimtalk.new{ provider = "sandbox", route = { order = { "sandbox" } }, sandbox = {} })
    assert.are.same({ "sandbox" }, c.names)
    c:close()
  end)
end)
