--- Failover routing across configured providers, with a circuit breaker per provider.
-- A plan is the order in which providers are tried for one message: by configured order, or
-- weighted (the first choice drawn by weight, the rest by weight too). Providers whose circuit
-- is open are skipped (and the skip is recorded as a decision). A circuit opens after
-- `failures` consecutive provider-down signals (transport failures, 5xx), stays open for
-- `cooldown` seconds, then lets one trial through (half-open): success closes it.
-- @module alimtalk.router
local _M = {}

local config = require "alimtalk.config"
local retry = require "alimtalk.retry"

local spec = {
  order = "table", weights = "table", failures = "number", cooldown = "number",
  now = "function", random = "function",
}

local mt = { __name = "alimtalk.router" }
local methods = {}
mt.__index = methods

--- Every provider a route names, once each: its list (or `order`) first, then the `weights`
-- names not in it, sorted. A route is `{ "a", "b" }`, `{ order = {...} }` or
-- `{ weights = {...} }` (as `alimtalk.new` takes it).
-- @tparam table route
-- @treturn table names
function _M.names(route)
  local names, seen = {}, {}
  local function add(n)
    if type(n) == "string" and not seen[n] then seen[n] = true; names[#names + 1] = n end
  end
  if type(route) ~= "table" then return names end
  for _, n in ipairs(route[1] ~= nil and route or route.order or {}) do add(n) end
  if type(route.weights) == "table" then
    local w = {}
    for n in pairs(route.weights) do w[#w + 1] = tostring(n) end
    table.sort(w)
    for _, n in ipairs(w) do add(n) end
  end
  return names
end

--- Make a router.
-- @tparam table opts `order` (list of provider names) or `weights` (name -> positive number;
--   ties broken by `order` if given), `failures` (default 5), `cooldown` seconds (default 30),
--   `now`, `random` for tests
-- @treturn table router
function _M.new(opts)
  opts = config.check(opts, spec, "alimtalk.router")
  local order = opts.order
  if not order then
    assert(opts.weights, "alimtalk.router: order or weights is required")
    order = {}
    for name in pairs(opts.weights) do order[#order + 1] = name end
    table.sort(order)
  end
  assert(#order > 0, "alimtalk.router: no providers")
  if opts.weights then
    for _, name in ipairs(order) do
      local w = opts.weights[name]
      if type(w) ~= "number" or w < 0 then
        error("alimtalk.router: weights." .. tostring(name) .. " must be a number >= 0", 2)
      end
    end
  end
  return setmetatable({
    order = order, weights = opts.weights,
    failures = opts.failures or 5, cooldown = opts.cooldown or 30,
    now = opts.now or retry.now, random = opts.random or math.random,
    state = {},
  }, mt)
end

local function circuit(self, name)
  local s = self.state[name]
  if not s then
    s = { failures = 0, open_until = nil, half_open = false, up_sent = nil }
    self.state[name] = s
  end
  return s
end

--- Circuit state of a provider: "closed", "open" or "half_open".
function methods:circuit_state(name)
  local s = circuit(self, name)
  if s.open_until == nil then return "closed" end
  if self.now() < s.open_until then return "open" end
  return "half_open"
end

-- Weighted order: repeatedly draw one of the remaining providers by weight.
local function weighted(self)
  local rest, out = {}, {}
  for _, n in ipairs(self.order) do
    if (self.weights[n] or 0) > 0 then rest[#rest + 1] = n end
  end
  while #rest > 0 do
    local total = 0
    for _, n in ipairs(rest) do total = total + self.weights[n] end
    local r, pick = self.random() * total, #rest
    for i, n in ipairs(rest) do
      r = r - self.weights[n]
      if r < 0 then pick = i break end
    end
    out[#out + 1] = table.remove(rest, pick)
  end
  return out
end

--- The providers to try for one message, in order, skipping open circuits.
-- @tparam[opt] table names the providers to try (a policy's route), default the router's own
-- @treturn table list of provider names
-- @treturn table decisions made ({ provider =, decision = "skip", reason = "circuit open" })
function methods:plan(names)
  names = names or (self.weights and weighted(self) or self.order)
  local out, decisions = {}, {}
  for _, n in ipairs(names) do
    local st = self:circuit_state(n)
    if st == "open" then
      decisions[#decisions + 1] = { provider = n, decision = "skip", reason = "circuit open" }
    else
      out[#out + 1] = n
    end
  end
  if #out == 0 and #names > 0 then
    -- Every circuit is open: try the one that reopens first rather than refusing outright.
    local best, at
    for _, n in ipairs(names) do
      local u = circuit(self, n).open_until
      if not at or u < at then best, at = n, u end
    end
    out[1] = best
    decisions[#decisions + 1] = { provider = best, decision = "try",
                                  reason = "every circuit open; trying the earliest to reopen" }
  end
  return out, decisions
end

--- Record the outcome of a request to a provider.
-- With `sent_at`, a failure of a request sent before the latest successful one was sent is
-- stale news and does not count: under concurrency the requests that hang until their
-- timeout are answered last, after requests sent later that succeeded, and a handful of them
-- finishing together is not the provider going down.
-- @tparam string name provider
-- @tparam boolean up false for provider-down signals (transport failure, 5xx), true otherwise
-- @tparam[opt] number sent_at when the request went out (the router's clock, `now`)
function methods:record(name, up, sent_at)
  local s = circuit(self, name)
  if up then
    s.failures, s.open_until = 0, nil
    if sent_at and (s.up_sent == nil or sent_at > s.up_sent) then s.up_sent = sent_at end
    return
  end
  if sent_at and s.up_sent and sent_at < s.up_sent then return end
  s.failures = s.failures + 1
  if s.open_until and self.now() >= s.open_until then
    s.open_until = self.now() + self.cooldown -- the half-open trial failed
  elseif s.failures >= self.failures then
    s.open_until = self.now() + self.cooldown
  end
end

return _M
