--- Send metrics: message counters by provider, status and code, request counters, and a
-- request-latency histogram, exposed as Prometheus text.
--
--     local metrics = require "alimtalk.metrics"
--     local m = metrics.new()                          -- in-process counters
--     local client = alimtalk.new{ provider = "sens", sens = {...}, metrics = m }
--     ...
--     io.write(m:prometheus())
--
-- Families (docs/metrics.md):
--
--     alimtalk_messages_total{provider,status,code}   counter, one per message result
--     alimtalk_requests_total{provider,outcome}       counter, one per provider request
--                                                      (outcome: HTTP status or transport code)
--     alimtalk_send_seconds{provider}                  histogram of request round trips
--
-- Values live in a store (`incr(key, n)` and `snapshot()`): `metrics.memory()` by default, or
-- `metrics.shared_dict(name)` in OpenResty, where every worker adds to one `lua_shared_dict`.
-- @module alimtalk.metrics
local _M = {}

local config = require "alimtalk.config"

local type, tostring, pairs, ipairs = type, tostring, pairs, ipairs
local floor, fmt, concat, sort = math.floor, string.format, table.concat, table.sort

--- Prometheus' default buckets (seconds).
_M.DEFAULT_BUCKETS = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 }

local MESSAGES = "alimtalk_messages_total"
local REQUESTS = "alimtalk_requests_total"
local SECONDS = "alimtalk_send_seconds"

local FAMILIES = {
  { name = MESSAGES, type = "counter",
    help = "Messages by final result: provider, status (accepted, rejected, uncertain, "
      .. "not_sent) and the provider's code." },
  { name = REQUESTS, type = "counter",
    help = "Requests to a provider by outcome: the HTTP status, or the transport failure code." },
  { name = SECONDS, type = "histogram",
    help = "Round-trip time of requests to a provider, in seconds." },
}

-- A label value as the exposition format wants it: backslash, double quote and line feed
-- escaped.
local function escape(v)
  v = tostring(v == nil and "" or v)
  if v:find('[\\"\n]') then
    v = v:gsub('[\\"\n]', { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" })
  end
  return v
end
_M.escape = escape

local function number(v)
  if v == floor(v) and v > -2^53 and v < 2^53 then return fmt("%d", v) end
  if v ~= v then return "NaN" end
  if v == math.huge then return "+Inf" elseif v == -math.huge then return "-Inf" end
  return fmt("%.17g", v)
end

local function bound(b)
  if b == math.huge then return "+Inf" end
  return (fmt("%.10g", b))
end

-- Stores ---------------------------------------------------------------------------------

local memory_mt = { __name = "alimtalk.metrics.memory" }
memory_mt.__index = memory_mt

function memory_mt:incr(key, n)
  local v = self.values
  v[key] = (v[key] or 0) + n
end

function memory_mt:snapshot()
  local out = {}
  for k, v in pairs(self.values) do out[k] = v end
  return out
end

--- A store in this process's memory (the default).
-- @treturn table store with `incr(key, n)` and `snapshot() -> { key = value }`
function _M.memory()
  return setmetatable({ values = {} }, memory_mt)
end

local dict_mt = { __name = "alimtalk.metrics.shared_dict" }
dict_mt.__index = dict_mt

function dict_mt:incr(key, n)
  local ok, err = self.dict:incr(key, n, 0)
  if not ok and not self.warned then
    -- a full dict loses counts: say so once per worker, not on every send
    self.warned = true
    local ngx = rawget(_G, "ngx")
    ngx.log(ngx.WARN, "alimtalk.metrics: shared dict '", self.name, "': ", tostring(err),
            " (make it larger; counts are being lost)")
  end
end

function dict_mt:snapshot()
  local out = {}
  local dict = self.dict
  for _, k in ipairs(dict:get_keys(0)) do
    if k:sub(1, 9) == "alimtalk_" then
      local v = dict:get(k)
      if type(v) == "number" then out[k] = v end
    end
  end
  return out
end

--- A store in an OpenResty `lua_shared_dict` (`lua_shared_dict alimtalk_metrics 1m;`): every
-- nginx worker adds to the same counters (`incr` with an initial value, atomic), so one
-- `/metrics` answer covers all of them.
-- @tparam string name the dict's name
-- @treturn table store
function _M.shared_dict(name)
  local ngx = rawget(_G, "ngx")
  local dict = ngx and ngx.shared and ngx.shared[name]
  if not dict then
    error("alimtalk.metrics.shared_dict: no lua_shared_dict '" .. tostring(name) .. "'", 2)
  end
  return setmetatable({ dict = dict, name = name }, dict_mt)
end

-- Metrics --------------------------------------------------------------------------------

local mt = { __name = "alimtalk.metrics" }
local methods = {}
mt.__index = methods

local spec = { buckets = "table", store = "table", samples = "number", clock = "function" }

--- Make a metrics collector.
-- @tparam[opt] table opts `buckets` (increasing upper bounds in seconds, default
--   `DEFAULT_BUCKETS`; `+Inf` is always added), `store` (default `metrics.memory()`),
--   `samples` (keep up to this many request durations in this process for exact `quantile`s,
--   e.g. a CLI summary; default 0: quantiles are estimated from the histogram), `clock`
--   (seconds, for durations; default `alimtalk.core.monotonic`)
-- @treturn table metrics
function _M.new(opts)
  opts = config.check(opts, spec, "alimtalk.metrics.new")
  local buckets = opts.buckets or _M.DEFAULT_BUCKETS
  local list, les, index = {}, {}, {}
  for i, b in ipairs(buckets) do
    if type(b) ~= "number" or b ~= b or b <= 0 or b == math.huge then
      error("alimtalk.metrics.new: buckets[" .. i .. "] must be a positive finite number", 2)
    end
    if i > 1 and b <= list[i - 1] then
      error("alimtalk.metrics.new: buckets must increase (buckets[" .. i .. "])", 2)
    end
    list[i], les[i] = b, bound(b)
    index[les[i]] = i
  end
  if #list == 0 then error("alimtalk.metrics.new: buckets is empty", 2) end
  les[#list + 1] = "+Inf"
  index["+Inf"] = #list + 1
  local store = opts.store or _M.memory()
  if type(store.incr) ~= "function" or type(store.snapshot) ~= "function" then
    error("alimtalk.metrics.new: store needs incr(key, n) and snapshot()", 2)
  end
  local samples = opts.samples or 0
  if samples < 0 or samples ~= floor(samples) then
    error("alimtalk.metrics.new: samples must be a whole number >= 0", 2)
  end
  return setmetatable({
    buckets = list, les = les, le_index = index, store = store,
    clock = opts.clock or require("alimtalk.core").monotonic,
    max_samples = samples, samples = {}, seen = 0,
    -- series names by label values, made once: an observation is then one lookup and an incr
    msg_keys = {}, req_keys = {}, hist_keys = {},
  }, mt)
end

-- The series name of a message result, cached by provider, status and code.
local function message_key(self, provider, status, code)
  local a = self.msg_keys[provider]
  if not a then a = {} self.msg_keys[provider] = a end
  local b = a[status]
  if not b then b = {} a[status] = b end
  local k = b[code]
  if not k then
    k = MESSAGES .. '{provider="' .. escape(provider) .. '",status="' .. escape(status)
      .. '",code="' .. escape(code) .. '"}'
    b[code] = k
  end
  return k
end

--- Count one message result (the client calls this once per result with `metrics = m`).
-- @tparam table result a send result (`provider`, `status`, `code`)
function methods:observe(result)
  local provider = result.provider or ""
  local status = result.status or ""
  local code = result.code
  if code == nil then code = "" end
  self.store:incr(message_key(self, provider, status, code), 1)
end

-- The histogram's series names for one provider: a bucket name per bound, sum and count.
local function hist_keys(self, provider)
  local h = self.hist_keys[provider]
  if h then return h end
  local labels = 'provider="' .. escape(provider) .. '"'
  h = { sum = SECONDS .. "_sum{" .. labels .. "}", count = SECONDS .. "_count{" .. labels .. "}" }
  for i, le in ipairs(self.les) do h[i] = SECONDS .. "_bucket{" .. labels .. ',le="' .. le .. '"}' end
  self.hist_keys[provider] = h
  return h
end

--- Count one request and its round trip (the client calls this once per request).
-- @tparam string provider provider name
-- @tparam string|number outcome the HTTP status, or the transport failure code (`timeout`, ...)
-- @tparam number seconds the request's round trip
function methods:observe_request(provider, outcome, seconds)
  provider = provider or ""
  if outcome == nil then outcome = "" end
  local a = self.req_keys[provider]
  if not a then a = {} self.req_keys[provider] = a end
  local k = a[outcome]
  if not k then
    k = REQUESTS .. '{provider="' .. escape(provider) .. '",outcome="' .. escape(outcome) .. '"}'
    a[outcome] = k
  end
  local store = self.store
  store:incr(k, 1)
  if type(seconds) ~= "number" or seconds ~= seconds then return end
  if seconds < 0 then seconds = 0 end
  local h = hist_keys(self, provider)
  -- one bucket per observation (the exposition adds them up): three incr, whatever the bounds
  local b, i = self.buckets, 1
  while b[i] and seconds > b[i] do i = i + 1 end
  store:incr(h[i], 1)
  store:incr(h.sum, seconds)
  store:incr(h.count, 1)
  local n = self.seen + 1
  self.seen = n
  local max = self.max_samples
  if max > 0 then
    local s = self.samples
    if n <= max then s[n] = seconds
    else
      -- reservoir sampling: every request equally likely to be kept
      local j = math.random(n)
      if j <= max then s[j] = seconds end
    end
  end
end

--- A function(result) counting each result, for an `on_result` hook.
function methods:hook()
  return function(result) self:observe(result) end
end

-- Parse a histogram bucket's stored name back into its labels and bound.
local function split_bucket(key)
  return key:match('^' .. SECONDS .. '_bucket{(.*),le="([^"]*)"}$')
end

--- The current values, as a table of series name -> value (the histogram's buckets
-- cumulative, as exposed).
-- @treturn table
function methods:values()
  local snap = self.store:snapshot()
  local out, buckets = {}, {}
  for k, v in pairs(snap) do
    local labels, le = split_bucket(k)
    if labels then
      local i = self.le_index[le]
      if i then
        local b = buckets[labels]
        if not b then b = {} buckets[labels] = b end
        b[i] = (b[i] or 0) + v
      end
    else
      out[k] = v
    end
  end
  for labels, b in pairs(buckets) do
    local acc = 0
    for i, le in ipairs(self.les) do
      acc = acc + (b[i] or 0)
      out[SECONDS .. "_bucket{" .. labels .. ',le="' .. le .. '"}'] = acc
    end
  end
  return out
end

--- The metrics in the Prometheus text exposition format (version 0.0.4): HELP and TYPE for
-- each family, then its series sorted; histogram buckets cumulative with `le`, `_sum`, `_count`.
-- Serve it with `Content-Type: text/plain; version=0.0.4`.
-- @treturn string
function methods:prometheus()
  local values = self:values()
  local by_family = {}
  for k in pairs(values) do
    local name = k:match("^[%w_]+")
    local fam = name:gsub("_bucket$", ""):gsub("_sum$", ""):gsub("_count$", "")
    if fam ~= SECONDS then fam = name end
    local l = by_family[fam]
    if not l then l = {} by_family[fam] = l end
    l[#l + 1] = k
  end
  local out = {}
  for _, f in ipairs(FAMILIES) do
    out[#out + 1] = "# HELP " .. f.name .. " " .. f.help
    out[#out + 1] = "# TYPE " .. f.name .. " " .. f.type
    local keys = by_family[f.name] or {}
    if f.type == "histogram" then
      -- per label set: the buckets in bound order, then _sum and _count
      local sets, order = {}, {}
      for _, k in ipairs(keys) do
        local labels = split_bucket(k) or k:match("^[%w_]+{(.*)}$")
        if not sets[labels] then sets[labels] = true order[#order + 1] = labels end
      end
      sort(order)
      for _, labels in ipairs(order) do
        for _, le in ipairs(self.les) do
          local k = SECONDS .. "_bucket{" .. labels .. ',le="' .. le .. '"}'
          out[#out + 1] = k .. " " .. number(values[k] or 0)
        end
        local s, c = SECONDS .. "_sum{" .. labels .. "}", SECONDS .. "_count{" .. labels .. "}"
        out[#out + 1] = s .. " " .. number(values[s] or 0)
        out[#out + 1] = c .. " " .. number(values[c] or 0)
      end
    else
      sort(keys)
      for _, k in ipairs(keys) do out[#out + 1] = k .. " " .. number(values[k]) end
    end
  end
  out[#out + 1] = ""
  return concat(out, "\n")
end

--- A request-latency quantile, in seconds: exact from the kept samples (`samples` option),
-- else estimated from the histogram by linear interpolation within the bucket it falls in
-- (as Prometheus' histogram_quantile; a quantile beyond the last bound is that bound).
-- @tparam number q between 0 and 1
-- @tparam[opt] string provider one provider's requests (histogram estimate only)
-- @treturn number|nil seconds, nil when no request was observed
function methods:quantile(q, provider)
  assert(type(q) == "number" and q >= 0 and q <= 1, "quantile: q must be within 0..1")
  if self.max_samples > 0 and not provider then
    local s = {}
    for i, v in ipairs(self.samples) do s[i] = v end
    if #s == 0 then return nil end
    sort(s)
    -- nearest rank
    local r = math.max(1, math.ceil(q * #s))
    return s[r]
  end
  local values = self:values()
  local counts = {}
  for k, v in pairs(values) do
    local labels, le = split_bucket(k)
    if labels and (not provider or labels == 'provider="' .. escape(provider) .. '"') then
      local i = self.le_index[le]
      counts[i] = (counts[i] or 0) + v
    end
  end
  local total = counts[#self.les]
  if not total or total == 0 then return nil end
  local rank = q * total
  local prev_count, prev_bound = 0, 0
  for i, b in ipairs(self.buckets) do
    local c = counts[i] or 0
    if c >= rank then
      if c == prev_count then return b end
      return prev_bound + (b - prev_bound) * (rank - prev_count) / (c - prev_count)
    end
    prev_count, prev_bound = c, b
  end
  return self.buckets[#self.buckets]
end

--- How many request durations were observed in this process (samples kept or not).
function methods:sampled()
  return self.seen
end

_M.FAMILIES = FAMILIES

return _M
