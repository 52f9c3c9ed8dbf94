-- Retry policy: backoff bounds, Retry-After parsing and clamping, attempt and budget limits.
local retry = require "alimtalk.retry"

describe("retry", function()
  it("backs off exponentially with jitter in [d/2, d], capped", function()
    local lo = retry.new{ base_delay = 0.5, max_delay = 4, random = function() return 0 end }
    local hi = retry.new{ base_delay = 0.5, max_delay = 4, random = function() return 1 end }
    assert.equal(0.25, lo:backoff(1))
    assert.equal(0.5, hi:backoff(1))
    assert.equal(1, hi:backoff(2))
    assert.equal(2, hi:backoff(3))
    assert.equal(4, hi:backoff(4))
    assert.equal(4, hi:backoff(10))
    assert.equal(2, lo:backoff(10))
  end)

  it("parses Retry-After as seconds or any HTTP date form", function()
    local now = 1445412480 -- Wed, 21 Oct 2015 07:28:00 GMT
    assert.equal(120, retry.parse_retry_after("120", now))
    assert.equal(0, retry.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now))
    assert.equal(30, retry.parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now))
    assert.equal(30, retry.parse_retry_after("Wednesday, 21-Oct-15 07:28:30 GMT", now))
    assert.equal(30, retry.parse_retry_after("Wed Oct 21 07:28:30 2015", now))
    assert.equal(0, retry.parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now))
    assert.is_nil(retry.parse_retry_after("soon", now))
    assert.is_nil(retry.parse_retry_after("-5", now))
  end)

  it("honours Retry-After over backoff, clamped to max_retry_after", function()
    local now = 1445412480
    local p = retry.new{ max_retry_after = 10, random = function() return 1 end,
                         now = function() return now end }
    assert.equal(3, p:delay(1, "3"))
    assert.equal(10, p:delay(1, "3600"))
    assert.equal(5, p:delay(1, "Wed, 21 Oct 2015 07:28:05 GMT"))
    assert.equal(0.2, p:delay(1, "garbage"))
    assert.equal(0.2, p:delay(1, nil))
  end)

  it("bounds attempts per message and retries overall", function()
    local p = retry.new{ max_attempts = 3, budget_min = 2, budget_ratio = 0.5 }
    assert.is_true(p:allow(1))
    assert.is_true(p:allow(2))
    local ok, why = p:allow(3)
    assert.is_false(ok)
    assert.equal("attempts", why)
    ok, why = p:allow(1)
    assert.is_false(ok)
    assert.equal("budget", why)
    p:earn(2)              -- two first attempts earn one retry
    assert.is_true(p:allow(1))
    assert.is_false((p:allow(1)))
  end)

  it("raises on unknown options", function()
    assert.has_error(function() retry.new{ max_attempt = 3 } end)
  end)
end)
