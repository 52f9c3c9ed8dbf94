-- alimtalk.async through the client: submit / submit_batch / poll / pending against the
-- sandbox server. Sends advance only inside submit and poll, poll(0) never waits on the
-- network, retries back off without blocking, and blocking sends can run in between.
local sandbox = require "support.sandbox"
local alimtalk = require "alimtalk"
local core = require "alimtalk.core"

local function shipped(i, extra)
  local m = { to = string.format("010-4000-%04d", i), template = "order_shipped",
              vars = { name = "고객" .. i, order = "A" .. i, courier = "우체국택배",
                       invoice = string.format("%013d", 6302114700000 + i) } }
  for k, v in pairs(extra or {}) do m[k] = v end
  return m
end

describe("client:submit / client:poll", function()
  local s, client

  setup(function() s = sandbox.start{ tls = false } end)
  teardown(function()
    if client then client:close() end
    assert.same({}, sandbox.stop(s))
  end)
  before_each(function()
    assert(s:reset())
    if client then client:close() end
    client = assert(alimtalk.new{ provider = "sens", templates = sandbox.templates,
      sens = s:client_options("sens", { timeout = 5 }),
      retry = { base_delay = 0.2, max_delay = 0.2, max_retry_after = 0.3 } })
  end)

  -- poll(0) until every submitted send finished; the finished ones and the polls it took
  local function drain(max_seconds)
    local out, polls, longest = {}, 0, 0
    local stop = core.monotonic() + (max_seconds or 5)
    while client:pending() > 0 and core.monotonic() < stop do
      local t = core.monotonic()
      for _, f in ipairs(client:poll(0)) do out[f.handle] = f end
      longest = math.max(longest, core.monotonic() - t)
      polls = polls + 1
      core.sleep(0.002)
    end
    return out, polls, longest
  end

  it("returns at once while the provider is slow, and poll(0) never waits", function()
    assert(s:fault{ provider = "sens", kind = "delay", delay = 0.3 })
    local t0 = core.monotonic()
    local h1 = assert(client:submit(shipped(1)))
    local h2 = assert(client:submit(shipped(2)))
    assert.is_true(core.monotonic() - t0 < 0.15, "submit does not wait for the answer")
    assert.are.equal(2, client:pending())
    assert.are.same({}, client:poll(0))
    local done, polls, longest = drain()
    assert.are.equal("accepted", done[h1].result.status)
    assert.are.equal("accepted", done[h2].result.status)
    assert.are.equal(0, client:pending())
    assert.is_true(polls > 20, "polled " .. polls .. " times meanwhile")
    assert.is_true(longest < 0.1, "longest poll " .. longest)
    assert.are.equal(2, #assert(s:outbox{ provider = "sens" }))
  end)

  it("backs off a retry without blocking (503, then accepted)", function()
    -- Retry-After 1 s, clamped to the client's max_retry_after (0.3 s)
    assert(s:fault{ provider = "sens", kind = "status", status = 503, retry_after = 1, count = 1 })
    local t0 = core.monotonic()
    local h = assert(client:submit(shipped(3)))
    local done, polls = drain()
    local r = done[h].result
    assert.are.equal("accepted", r.status)
    assert.are.equal(2, r.attempts)
    assert.is_true(core.monotonic() - t0 >= 0.28, "it waited its backoff")
    assert.is_true(polls > 20, "the caller kept control during the backoff: " .. polls)
    assert.are.equal(2, sandbox.count_attempts(s, "sens", "/messages$", "POST"))
  end)

  it("poll() without a timeout waits through a retry's backoff for the result", function()
    assert(s:fault{ provider = "sens", kind = "status", status = 503, retry_after = 1, count = 1 })
    local h = assert(client:submit(shipped(11)))
    local f = client:poll()
    assert.are.equal(h, f[1] and f[1].handle)
    assert.are.equal("accepted", f[1].result.status)
    assert.are.equal(2, f[1].result.attempts)
  end)

  it("refuses an invalid message at submit, as send does, and sends nothing", function()
    local h, err = client:submit(shipped(4, { to = "02-1" }))
    assert.is_nil(h)
    assert.are.equal("BAD_PHONE", err.code)
    assert.are.equal(0, client:pending())
    assert.are.equal(0, sandbox.count_attempts(s, "sens", "/messages$", "POST"))
    assert.has_error(function() client:submit("x") end, "submit: message must be a table")
  end)

  it("sends a batch, and lets blocking sends run while submitted ones are in flight", function()
    assert(s:fault{ provider = "sens", kind = "delay", delay = 0.2, count = 1 })
    local h = client:submit_batch({ shipped(5), shipped(6), shipped(7, { to = "02-1" }) })
    local r = assert(client:send(shipped(8)))         -- blocking, its own answer only
    assert.are.equal("accepted", r.status)
    assert.are.equal(1, client:pending())
    local f = client:poll()                           -- no timeout: until one finishes
    assert.are.equal(1, #f)
    assert.are.equal(h, f[1].handle)
    local rs = f[1].results
    assert.are.same({ "accepted", "accepted", "rejected" }, { rs[1].status, rs[2].status, rs[3].status })
    assert.are.same({}, client:poll())                -- none pending: returns at once
    assert.are.equal(4 - 1, #assert(s:outbox{ provider = "sens" }))
  end)

  it("settles sends in flight as uncertain when the client is closed under them", function()
    assert(s:fault{ provider = "sens", kind = "delay", delay = 0.3 })
    local h = assert(client:submit(shipped(10)))
    client:close()
    local f = client:poll()                           -- must not hang
    assert.are.equal(h, f[1].handle)
    assert.are.equal("uncertain", f[1].result.status)
    assert.are.equal(0, client:pending())
  end)

  it("finishes embedded-sandbox sends inside submit", function()
    local c = assert(alimtalk.new{ templates = sandbox.templates, sandbox = { outbox = false } })
    local h = assert(c:submit(shipped(9)))
    local f = c:poll(0)
    c:close()
    assert.are.equal(h, f[1].handle)
    assert.are.equal("accepted", f[1].result.status)
  end)
end)
