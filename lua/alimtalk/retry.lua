--- Retry policy: jittered exponential backoff, Retry-After, a bounded retry budget, and clocks.
-- Only what is safe is retried (nothing sent, HTTP 429, codes the catalogue marks retryable);
-- the client decides that, this module only decides *when* and *whether budget remains*.
-- @module alimtalk.retry
local _M = {}

local config = require "alimtalk.config"

local floor, min, max = math.floor, math.min, math.max

local core = require "alimtalk.core"

--- Wall clock in seconds, with fractions.
-- @function now
_M.now = core.now   -- (the C function itself: clients read it once per message)

--- Sleep for `s` seconds without spinning.
function _M.sleep(s)
  if s <= 0 then return end
  -- Inside nginx, yield to the event loop; core.sleep would block the whole worker.
  local ngx = rawget(_G, "ngx")
  if ngx and ngx.sleep then return ngx.sleep(s) end
  return core.sleep(s)
end

local spec = {
  max_attempts = "number",      -- attempts per message, first one included (default 4)
  base_delay = "number",        -- first backoff in seconds (default 0.2)
  max_delay = "number",         -- backoff cap in seconds (default 10)
  max_retry_after = "number",   -- Retry-After is clamped to this (default 30)
  budget_ratio = "number",      -- retries earned per first attempt (default 0.2)
  budget_min = "number",        -- retries always allowed in a burst (default 20)
  now = "function", sleep = "function", random = "function",
}

local mt = { __name = "alimtalk.retry" }
local methods = {}
mt.__index = methods

--- Make a retry policy.
-- @tparam[opt] table opts `max_attempts`, `base_delay`, `max_delay`, `max_retry_after`,
--   `budget_ratio`, `budget_min`, and `now`, `sleep`, `random` for tests
-- @treturn table policy
function _M.new(opts)
  opts = config.check(opts, spec, "alimtalk.retry")
  local self = setmetatable({
    max_attempts = opts.max_attempts or 4,
    base_delay = opts.base_delay or 0.2,
    max_delay = opts.max_delay or 10,
    max_retry_after = opts.max_retry_after or 30,
    budget_ratio = opts.budget_ratio or 0.2,
    budget_min = opts.budget_min or 20,
    now = opts.now or _M.now,
    sleep = opts.sleep or _M.sleep,
    random = opts.random or math.random,
  }, mt)
  assert(self.max_attempts >= 1, "alimtalk.retry: max_attempts must be >= 1")
  self.tokens = self.budget_min
  return self
end

--- Backoff before attempt `attempt + 1`, with full jitter: uniform in [d/2, d] where
-- d = min(max_delay, base_delay * 2^(attempt-1)).
-- @tparam number attempt attempts made so far (>= 1)
-- @treturn number seconds
function methods:backoff(attempt)
  local d = min(self.max_delay, self.base_delay * 2 ^ (attempt - 1))
  return d / 2 + self.random() * d / 2
end

local months = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8,
                 Sep = 9, Oct = 10, Nov = 11, Dec = 12 }

-- Days from 1970-01-01 to y-m-d (proleptic Gregorian), independent of the local time zone.
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

--- Parse a Retry-After header value: delta seconds or an IMF-fixdate / RFC 850 / asctime date.
-- @tparam string value header value
-- @tparam number now current epoch seconds
-- @treturn number|nil seconds to wait (not clamped; never negative), nil if unparsable
function _M.parse_retry_after(value, now)
  if type(value) ~= "string" then return nil end
  value = value:match("^%s*(.-)%s*$")
  if value:match("^%d+$") then return tonumber(value) end
  local d, mon, y, hh, mm, ss = value:match("^%a+,%s+(%d+)[%s%-](%a+)[%s%-](%d+)%s+(%d+):(%d+):(%d+)%s+GMT$")
  if not d then
    mon, d, hh, mm, ss, y = value:match("^%a+%s+(%a+)%s+(%d+)%s+(%d+):(%d+):(%d+)%s+(%d+)$")
  end
  if not d or not months[mon] then return nil end
  y = tonumber(y)
  if y < 100 then y = y + (y < 70 and 2000 or 1900) end
  local t = days_from_civil(y, months[mon], tonumber(d)) * 86400
            + tonumber(hh) * 3600 + tonumber(mm) * 60 + tonumber(ss)
  return max(0, t - now)
end

--- Delay to wait before retrying, honouring Retry-After (clamped to `max_retry_after`).
-- @tparam number attempt attempts made so far
-- @tparam[opt] string|number retry_after header value or seconds
-- @treturn number seconds
function methods:delay(attempt, retry_after)
  local backoff = self:backoff(attempt)
  if retry_after ~= nil then
    local ra = type(retry_after) == "number" and retry_after
               or _M.parse_retry_after(retry_after, self.now())
    if ra then return min(self.max_retry_after, max(ra, 0)) end
  end
  return backoff
end

--- Record a first attempt (earns a fraction of a retry token).
-- @tparam[opt] number n how many first attempts (default 1)
function methods:earn(n)
  self.tokens = min(self.tokens + (n or 1) * self.budget_ratio, self.budget_min * 10)
end

--- Whether one more retry is allowed for a message that has made `attempt` attempts;
-- takes a token from the budget when it is.
-- @tparam number attempt attempts made so far
-- @treturn boolean allowed
-- @treturn string|nil why not ("attempts" or "budget")
function methods:allow(attempt)
  if attempt >= self.max_attempts then return false, "attempts" end
  if self.tokens < 1 then return false, "budget" end
  self.tokens = self.tokens - 1
  return true
end

return _M
