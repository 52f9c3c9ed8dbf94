--- The alimtalk client: send and send_batch with pre-flight validation, provider batching,
-- safe retries, failover routing, and every provider's query methods.
--
-- A result (one per message):
--
--     { status = "accepted" | "rejected" | "uncertain" | "not_sent",
--       provider = "sens", index = 1, id = "order-1001",          -- the caller's serial
--       ids = { request_id =, message_id =, uid =, cid =, msg_key = },
--       code = "A000", message = "success",                      -- the provider's code and text
--       attempts = 1,                                            -- requests made for it
--       routing = { { provider = "sens", decision = "send", status = "accepted", code = "A000",
--                     attempts = 1 } },                          -- every routing decision
--       duplicate = true | nil,   -- the provider already had this serial (counts as accepted)
--       quota = true | nil,       -- the provider refused for quota: stop the run
--       retry_after = n | nil,    -- seconds the provider asked to wait (not_sent)
--       error = err | nil }       -- rejected before sending: the validation error
--
-- `not_sent` is safe to send again later; `uncertain` may have been sent and must be
-- reconciled by query, never resent under a new serial.
-- @module alimtalk.client
local _M = {}

local config = require "alimtalk.config"
local errors = require "alimtalk.errors"
local retry = require "alimtalk.retry"
local router_mod = require "alimtalk.router"
local common = require "alimtalk.providers.common"

local validate = require "alimtalk.validate"

local PROVIDERS = { sens = true, bizmessage = true, apiplex = true, sinch = true, sandbox = true }

local spec = {
  provider = "string", providers = "table", route = "table", templates = "string|table",
  retry = "table", concurrency = "number", transport = "table", validate = "boolean",
  now = "function", metrics = "table", on_result = "function", policy = "string|table",
  sens = "table", bizmessage = "table", apiplex = "table", sinch = "table", sandbox = "table",
}

local mt = { __name = "alimtalk.client" }
local methods = {}
mt.__index = methods
mt.__tostring = function(self)
  return "alimtalk.client(" .. table.concat(self.names, ", ") .. ")"
end

local REQUEST_PHASES = { rewrite = true, access = true, content = true, timer = true,
                         ssl_cert = true, ssl_client_hello = true, preread = true }

local function default_transport(conf)
  local topts = { ca_file = conf.ca_file, connect_timeout = conf.connect_timeout,
                  timeout = conf.timeout, max_connections = conf.max_connections,
                  max_response = conf.max_response }
  if not topts.max_connections and conf.concurrency and conf.concurrency > 8 then
    topts.max_connections = math.min(conf.concurrency, 1024)
  end
  local ngx = rawget(_G, "ngx")
  if ngx and ngx.get_phase then
    return require("alimtalk.transport.cosocket").new(topts)
  end
  return require("alimtalk.transport.curl").new(topts)
end

-- A transport made on first use, so building a client never opens anything. Inside nginx
-- each call checks the phase: cosockets where nginx has them, and never the blocking curl
-- client (it would stall every request the worker serves): elsewhere a clear error.
local function lazy_transport(conf)
  local t
  local proxy = {}
  local ngx = rawget(_G, "ngx")
  local in_nginx = ngx ~= nil and type(ngx.get_phase) == "function"
  local function get()
    if in_nginx then
      local phase = ngx.get_phase()
      if not REQUEST_PHASES[phase] then
        error("alimtalk: cannot send in nginx's " .. tostring(phase) .. " phase: it has no "
          .. "cosockets, and a blocking client would stall the worker; send from a request "
          .. "handler (rewrite, access, content) or from a timer: "
          .. "ngx.timer.at(0, function() client:send(msg) end)", 0)
      end
    end
    t = t or default_transport(conf)
    return t
  end
  function proxy.request(_, req) return get():request(req) end
  function proxy.request_many(_, reqs) return get():request_many(reqs) end
  function proxy.stats() return t and t.stats and t:stats() or { connections = 0, requests = 0 } end
  if rawget(_G, "ngx") == nil then
    -- the curl transport's optional non-blocking pair (see the transport seam)
    function proxy.submit(_, req) t = t or default_transport(conf) return t:submit(req) end
    function proxy.wait(_, timeout) if not t then return nil end return t:wait(timeout) end
  end
  function proxy.close() if t and t.close then t:close() end t = nil end
  -- The curl transport queues requests beyond its connection limit (curl multi), so the
  -- client may hand it several waves at once and keep every connection busy.
  proxy.queues = rawget(_G, "ngx") == nil
  proxy.limit = conf.max_connections or math.max(8, conf.concurrency or 8)
  return proxy
end

local function load_registry(src)
  if src == nil then return nil end
  if type(src) == "table" and getmetatable(src) and src.get then return src end
  local registry = require "alimtalk.registry"
  local reg, err = registry.load(src)
  if not reg then
    error("alimtalk.new: templates: " .. tostring(err), 3)
  end
  return reg
end

--- Make a client. See `alimtalk.new` for the options.
function _M.new(opts)
  opts = config.check(opts, spec, "alimtalk.new")
  local confs = {}
  if opts.providers then
    for name, conf in pairs(opts.providers) do
      if not PROVIDERS[name] then error("alimtalk.new: unknown provider '" .. tostring(name) .. "'", 2) end
      confs[name] = conf
    end
  end
  for name in pairs(PROVIDERS) do
    if opts[name] then
      if confs[name] then error("alimtalk.new: " .. name .. " configured twice", 2) end
      confs[name] = opts[name]
    end
  end
  local order
  if opts.provider and opts.route then
    -- one provider, or several in an order: both at once would leave one of them unused
    -- (a route of that provider alone says the same thing, and is taken)
    for _, n in ipairs(router_mod.names(opts.route)) do
      if n ~= opts.provider then
        error("alimtalk.new: give provider (one provider) or route (several), not both", 2)
      end
    end
  end
  if opts.provider then
    if not PROVIDERS[opts.provider] then
      error("alimtalk.new: unknown provider '" .. opts.provider .. "'", 2)
    end
    confs[opts.provider] = confs[opts.provider] or (opts.provider == "sandbox" and {} or nil)
    if not confs[opts.provider] then
      error("alimtalk.new: provider '" .. opts.provider .. "' has no configuration (" ..
            opts.provider .. " = {...})", 2)
    end
    order = { opts.provider }
  end
  local route = opts.route or {}
  if route[1] then route = { order = route } end
  if not order then
    order = route.order
    if not order and route.weights then
      order = {}
      for n in pairs(route.weights) do order[#order + 1] = n end
      table.sort(order)
    end
  end
  if not order then
    local names = {}
    for n in pairs(confs) do names[#names + 1] = n end
    if #names == 0 then
      confs.sandbox, names = {}, { "sandbox" }  -- nothing configured: the embedded sandbox
    end
    if #names > 1 then
      error("alimtalk.new: several providers configured: give route = { ... } to order them", 2)
    end
    order = names
  end
  local self = setmetatable({
    providers = {}, names = {}, transports = {},
    registry = load_registry(opts.templates),
    concurrency = opts.concurrency or 8,
    preflight = opts.validate ~= false,
    now = opts.now or retry.now,
    metrics = opts.metrics, on_result = opts.on_result,
  }, mt)
  local m = opts.metrics
  if m and (type(m.observe) ~= "function" or type(m.observe_request) ~= "function") then
    error("alimtalk.new: metrics must have observe and observe_request (alimtalk.metrics.new)", 2)
  end
  local ropts = config.copy(opts.retry) or {}
  self.retry = retry.new(ropts)
  for _, name in ipairs(order) do
    local conf = confs[name]
    if not conf then
      error("alimtalk.new: route names '" .. tostring(name) .. "' which is not configured", 2)
    end
    conf = config.copy(conf)
    local transport = conf.transport or opts.transport
    if name ~= "sandbox" then
      if not transport then
        transport = lazy_transport{ ca_file = conf.ca_file, connect_timeout = conf.connect_timeout,
          timeout = conf.timeout, max_connections = conf.max_connections,
          max_response = conf.max_response, concurrency = opts.concurrency }
        self.transports[#self.transports + 1] = transport
      end
      conf.transport = nil
    end
    local p, err = require("alimtalk.providers." .. name).new(conf, { transport = transport,
                                                                    registry = self.registry })
    if not p then return nil, err end
    p.transport = transport
    self.providers[name] = p
    self.names[#self.names + 1] = name
  end
  for name in pairs(confs) do
    if not self.providers[name] then
      error("alimtalk.new: provider '" .. name .. "' is configured but not in the route", 2)
    end
  end
  if opts.policy then
    local ok, pol = pcall(require("alimtalk.policy").load, opts.policy, self.names)
    if not ok then error("alimtalk.new: " .. tostring(pol), 2) end
    self.policy = pol
  end
  self.router = router_mod.new{ order = order, weights = route.weights, failures = route.failures,
                                cooldown = route.cooldown, now = opts.now }
  return self
end

--- The provider object by name (for its own methods), or nil.
function methods:provider(name)
  return self.providers[name or self.names[1]]
end

-- Template entry and the provider's code for a message. A validated copy carries the entry it
-- was rendered from; otherwise the registry is asked once. The code is the provider's own, else
-- its profile's (the sandbox sends as the profile it imitates), else the name as given.
function methods:_template(msg, p)
  local name = msg.template
  local tpl = msg.template_entry
  if tpl == nil and name and self.registry then tpl = self.registry:get(name) end
  if not tpl then return nil, name or "" end
  local codes = tpl.codes
  return tpl, codes[p.name] or codes[p.profile] or name
end

-- Pre-flight validation against a provider's rules.
function methods:_check(msg, p, index)
  if not self.preflight then return true end
  local vopts = self._vopts
  if not vopts or vopts.provider ~= p.profile or vopts.registry ~= self.registry then
    -- checked once here rather than on every message (`now` is set per message below)
    vopts = validate.options{ provider = p.profile, registry = self.registry, now = 0 }
    self._vopts = vopts
  end
  vopts.now = self.now()
  local ok, err = validate.message(msg, vopts)
  if ok then return true, err end
  if index then
    -- Name the message in the error's fields: validate again with the path prefix (rare).
    ok, err = validate.message(msg, { provider = p.profile, registry = self.registry,
                                      now = vopts.now, field_prefix = "messages[" .. index .. "]" })
    if ok then return true, err end
  end
  if type(err) == "table" then err.provider = err.provider or p.name end
  return nil, err
end

local function finalize(it, p, o, status)
  local r = it.result
  r.status = status
  r.provider = p.name
  r.code = o.code
  -- the finer code where the provider gives one (most give none: no key set then)
  if o.detail_code ~= nil or r.detail_code ~= nil then r.detail_code = o.detail_code end
  r.message = o.message
  r.ids = o.ids or {}
  local e = it.entry
  if e and e.serial then
    if p.name == "apiplex" or p.profile == "apiplex" then r.ids.msg_key = r.ids.msg_key or e.serial
    elseif p.name == "bizmessage" or p.profile == "bizmessage" then r.ids.cid = r.ids.cid or e.serial end
  end
  r.duplicate = o.status == "duplicate" or nil
  -- went again under its serial after an attempt that may have reached the provider: a
  -- duplicate answer is then this message's own first copy
  r.resent = it.maybe_sent and it.attempts_here > 1 or nil
  r.quota = o.status == "quota" or nil
  r.retry_after = status == "not_sent" and o.retry_after or nil
  r.routing[#r.routing + 1] = { provider = p.name, decision = "send", status = status,
                                code = o.code, attempts = it.attempts_here }
  it.done_here = true
  -- the validated copy and the provider entry are not needed any more: let a long batch's
  -- garbage collector forget them now rather than hold them to the end
  it.entry, it.norm = nil, nil
end

-- A message that failed validation for provider `name`: rejected when nothing was decided for
-- it yet, else the provider is skipped (failover goes on).
local function invalid(it, name, err)
  local r = it.result
  if r.status == nil then
    r.status, r.provider, r.error = "rejected", name, err
    r.code = err.provider_code or err.code
    r.message = tostring(err)
    r.routing[#r.routing + 1] = { provider = name, decision = "reject", reason = "validation",
                                  code = r.code }
    it.finished = true
  else
    r.routing[#r.routing + 1] = { provider = name, decision = "skip",
      reason = "invalid for this provider: " .. tostring(err) }
  end
end

-- After a quota answer the provider takes nothing more in this run.
local function stop_for_quota(p, quota_hit, c)
  for _, e in ipairs(c) do
    local it = e.item
    finalize(it, p, { status = "quota", code = quota_hit.code, message = "not sent: " .. p.name
      .. " answered " .. tostring(quota_hit.code) .. " (quota) earlier in this run" },
      it.maybe_sent and "uncertain" or "not_sent")
  end
end

-- before_send: the request's messages, just before it goes out.
local function announce(p, hooks, c)
  local list = {}
  for j, e in ipairs(c) do list[j] = { index = e.item.index, serial = e.serial } end
  hooks.before_send(p.name, list)
end

-- after_response: the request's messages whose result at this provider is now settled
-- (not retried here), as soon as its answer (or failure) is handled.
local function settled(p, hooks, c)
  local list = {}
  for _, e in ipairs(c) do
    local it = e.item
    if it.done_here then list[#list + 1] = { index = it.index, result = it.result } end
  end
  if #list > 0 then hooks.after_response(p.name, list) end
end

-- The send loop below keeps its state in one table per run (`st`) and uses module-level
-- functions rather than closures made per call: a single send then allocates less, and
-- LuaJIT can compile it (creating a closure, FNEW, aborts a trace).

-- Check an item against this provider's rules and map it to the provider's entry (nil when
-- it is refused here). Done as the first round asks for each item, so a long batch is
-- validated while earlier requests travel.
local function admit(self, p, it)
  if it.unchecked then
    it.unchecked = nil
    local ok, err = self:_check(it.msg, p, it.field_index)
    if not ok then
      invalid(it, p.name, err)
      return nil
    end
    it.norm = type(err) == "table" and err or nil
  end
  -- The validated copy has the template rendered and the number in this provider's format.
  local src = it.norm or it.msg
  local tpl, code = self:_template(src, p)
  it.entry, it.attempts_here, it.done_here, it.reauth = nil, 0, false, false
  local entry = p:prepare(src, tpl, code)
  entry.item = it
  it.entry = entry
  if entry.rejected then
    -- refused by the provider object itself (e.g. a field its configuration cannot carry)
    it.result.error = entry.rejected.error
    finalize(it, p, entry.rejected, "rejected")
    return nil
  end
  return entry
end

-- The next chunk of a round: consecutive entries with the same group, at most max_batch each,
-- made on demand (a full chunk goes at once; partly filled ones go at the end, oldest first).
-- A round of one message (a single send) skips the grouping.
local function next_chunk(st)
  local p = st.p
  if st.single then
    local e = st.src[1]
    if st.src_i > 1 or e == nil then return nil end
    st.src_i = 2
    if st.round_one then
      e = admit(st.client, p, e)
      if e == nil then return nil end
      st.policy:earn(1)
    end
    return { e }
  end
  local src, ready, by_group = st.src, st.ready, st.by_group
  while ready[st.ready_i] == nil and st.src_i <= #src do
    local e = src[st.src_i]
    st.src_i = st.src_i + 1
    if st.round_one then e = admit(st.client, p, e) end
    if e then
      local c = by_group[e.group]
      if not c then
        c = {}
        by_group[e.group] = c
        st.created[#st.created + 1] = c
      end
      c[#c + 1] = e
      if #c >= p.max_batch then
        by_group[e.group] = nil
        st.ready_n = st.ready_n + 1
        ready[st.ready_n] = c
      end
    end
  end
  if ready[st.ready_i] == nil and st.created then
    for _, c in ipairs(st.created) do
      if by_group[c[1].group] == c then
        st.ready_n = st.ready_n + 1
        ready[st.ready_n] = c
      end
    end
    st.created = nil
  end
  local c = ready[st.ready_i]
  if c then
    ready[st.ready_i] = nil
    st.ready_i = st.ready_i + 1
    if st.round_one then st.policy:earn(#c) end
  end
  return c
end

-- Every entry the round still has, in order (when nothing will be sent).
local function all_entries(st)
  local list = {}
  while true do
    local c = next_chunk(st)
    if not c then break end
    for _, e in ipairs(c) do list[#list + 1] = e end
  end
  return list
end

-- One retry decision per request: a 429 on a batch of 100 costs one retry, not 100.
local function may_retry(st, it, chunk)
  local key = chunk or it
  local decided = st.decided
  if not decided then decided = {} st.decided = decided end
  local d = decided[key]
  if d == nil then
    d = st.policy:allow(it.attempts_here) and true or false
    decided[key] = d
  end
  return d
end

-- One message's outcome of one attempt: settle it here, or queue it for the next round.
local function handle(st, e, o, chunk)
  local p, policy = st.p, st.policy
  local it = e.item
  it.attempts_here = it.attempts_here + 1
  it.result.attempts = it.result.attempts + 1
  local s = o.status
  if s == "accepted" or s == "duplicate" then
    finalize(it, p, o, "accepted")
  elseif s == "rejected" then
    finalize(it, p, o, "rejected")
  elseif s == "quota" or s == "auth_failed" then
    if s == "quota" then st.quota_hit = st.quota_hit or o end
    finalize(it, p, o, it.maybe_sent and "uncertain" or "not_sent")
  elseif s == "unauthorized" and p.unauthorized and not it.reauth then
    it.reauth, st.reauth = true, true
    st.again[#st.again + 1] = e
  elseif s == "retryable" then
    if may_retry(st, it, chunk) then
      st.wait = math.max(st.wait, policy:delay(it.attempts_here, o.retry_after))
      st.again[#st.again + 1] = e
    else
      local ra = o.retry_after
      o.retry_after = ra and (tonumber(ra) or retry.parse_retry_after(ra, st.client.now())) or nil
      finalize(it, p, o, it.maybe_sent and "uncertain" or "not_sent")
    end
  elseif s == "unauthorized" then
    finalize(it, p, o, it.maybe_sent and "uncertain" or "not_sent")
  else
    -- uncertain (or anything unexpected): resend only under the same serial where the
    -- provider dedupes; otherwise it must be reconciled, never resent.
    it.maybe_sent = true
    if p.dedupes and e.serial and may_retry(st, it, chunk) then
      st.wait = math.max(st.wait, policy:delay(it.attempts_here))
      st.again[#st.again + 1] = e
    else
      o.status = "uncertain"
      finalize(it, p, o, "uncertain")
    end
  end
end

-- A request's answer (or failure) for chunk c: every message's outcome handled, the circuit
-- breaker told, and the after_response hook called.
local function outcome(st, c, resp, err, code, sent)
  local p = st.p
  local m = st.metrics
  -- the round trip ends on arrival, now; `dt` only when one call brought several answers
  -- (request_many), each of which took that call's time
  local dt = c.dt
  if m and (dt or c.t0) then
    m:observe_request(p.name, resp and resp.status or code, dt or (m.clock() - c.t0))
    c.dt = nil
  end
  local outs
  if resp then
    -- A provider answer we cannot read must not cost the batch its other results: every
    -- message of this request is then uncertain (it may have been taken).
    local parsed_ok, parsed = pcall(p.parse, p, resp, c)
    if parsed_ok and type(parsed) == "table" and #parsed == #c then
      outs = parsed
    else
      outs = common.each(#c, { status = "uncertain", code = tostring(resp.status),
        message = "unreadable answer: " .. (parsed_ok and "wrong number of results"
                                              or tostring(parsed):gsub("^[^:]*:%d+: ", "")) })
    end
  else
    outs = common.each(#c, common.transport_outcome(err, code, sent ~= false))
    for j, e in ipairs(c) do
      if e.serial then
        outs[j].ids.msg_key, outs[j].ids.cid = nil, nil
      end
    end
  end
  local down = false
  for j = 1, #c do if outs[j].down then down = true end end
  st.router:record(p.name, not down, c.sent_at)
  for j = 1, #c do handle(st, c[j], outs[j], c) end
  local hooks = st.hooks
  if hooks and hooks.after_response then settled(p, hooks, c) end
end

-- After a quota answer the provider takes nothing more in this run: what has not gone out
-- yet is not_sent with `quota` (and may fail over: it was never sent).
local function quota_stop(st, c)
  return stop_for_quota(st.p, st.quota_hit, c)
end

-- The next chunk to send in the pipelined loop: the two read ahead first.
local function take(st, queue)
  local q = table.remove(queue, 1)
  if q then return q end
  return next_chunk(st)
end

-- Pipelined: keep `conc` requests unsettled; check, map and build the next requests (and
-- read the answers that came back) while the others travel. Each answer is handled (hooks
-- run) as it arrives and only then frees its slot: so at most `conc` requests are ever sent
-- without a settled outcome, the bound a crashed campaign's journal relies on, and a request
-- that hangs until its timeout holds one slot, not the whole pipeline (handled in submission
-- order, every timeout stalled all `conc` slots: 1% timeouts made a BizMessage batch 60x
-- slower). Results keep the caller's order; the hooks see the order answers came in.
local function run_pipelined(st, c1, c2, conc)
  local p, transport, hooks = st.p, st.p.transport, st.hooks
  local inflight, n_inflight, order, tail = {}, 0, {}, 0
  local queue = { c1, c2 }
  local c = take(st, queue)
  while true do
    while c and n_inflight < conc do
      if st.quota_hit then
        quota_stop(st, c)
        while true do
          local rest = take(st, queue)
          if not rest then break end
          quota_stop(st, rest)
        end
        c = nil
        break
      end
      if hooks and hooks.before_send then announce(p, hooks, c) end
      local req = p:build(c)
      if st.metrics then c.t0 = st.metrics.clock() end
      local id = transport:submit(req)
      -- answers come back in any order: the breaker weighs each by when it went out
      c.sent_at = st.router.now()
      inflight[id] = c
      n_inflight = n_inflight + 1
      tail = tail + 1
      order[tail] = id   -- submission order, for the transport-lost case below
      c = take(st, queue)
    end
    if n_inflight == 0 then break end   -- all answered (or stopped for quota)
    local id, resp, err, code, sent = transport:wait()
    local hc = id and inflight[id]
    if hc then
      inflight[id] = nil
      outcome(st, hc, resp, err, code, sent)
      n_inflight = n_inflight - 1
    elseif not id then
      -- The transport lost track of its requests: they may have gone out. Settle them as
      -- uncertain (in order) rather than raise and lose every result of the batch.
      for k = 1, tail do
        local lost = inflight[order[k]]
        if lost then
          inflight[order[k]] = nil
          outcome(st, lost, nil, "transport lost the request", "protocol", true)
        end
      end
      n_inflight = 0
      -- what was never submitted did not go out
      if c then outcome(st, c, nil, "transport lost its requests", "protocol", false); c = nil end
      while true do
        local rest = take(st, queue)
        if not rest then break end
        outcome(st, rest, nil, "transport lost its requests", "protocol", false)
      end
    end
  end
end

-- Waves of `conc` requests through request_many (or the provider's own send_chunk).
local function run_waves(st, c1, c2, conc)
  local p, transport, hooks = st.p, st.p.transport, st.hooks
  local chunks = { c1, c2 }
  if c2 then
    while true do
      local c = next_chunk(st)
      if not c then break end
      chunks[#chunks + 1] = c
    end
  end
  -- A queuing transport keeps `conc` requests in flight itself: give it more per call so no
  -- connection idles while the client builds the next requests.
  local per_call = conc
  if transport and transport.queues and conc >= (transport.limit or math.huge) then
    per_call = conc * 4
  end
  for w = 1, #chunks, per_call do
    if st.quota_hit then
      for k = w, #chunks do quota_stop(st, chunks[k]) end
      break
    end
    local wave = {}
    for k = w, math.min(w + per_call - 1, #chunks) do wave[#wave + 1] = chunks[k] end
    if hooks and hooks.before_send then
      for _, c in ipairs(wave) do announce(p, hooks, c) end
    end
    if p.send_chunk then
      for _, c in ipairs(wave) do
        local m = st.metrics
        local t0 = m and m.clock()
        local outs = p:send_chunk(c)
        if m then m:observe_request(p.name, "embedded", m.clock() - t0) end
        for j, e in ipairs(c) do handle(st, e, outs[j], c) end
        if hooks and hooks.after_response then settled(p, hooks, c) end
      end
    else
      local reqs = {}
      for k, c in ipairs(wave) do reqs[k] = p:build(c) end
      local m = st.metrics
      if #reqs == 1 then
        if m then wave[1].t0 = m.clock() end
        local resp, err, code, sent = transport:request(reqs[1])
        outcome(st, wave[1], resp, err, code, sent)
      else
        -- one call for the wave: each request's round trip is the wave's
        local t0 = m and m.clock()
        local res = transport:request_many(reqs)
        if m then
          local dt = m.clock() - t0
          for _, c in ipairs(wave) do c.dt = dt end
        end
        for k, c in ipairs(wave) do
          local r = res[k]
          outcome(st, c, r.resp, r.err, r.code, r.sent)
        end
      end
    end
  end
end

-- Send items through one provider until each has a final status there. Items marked
-- `unchecked` are validated for it first.
function methods:_run(p, items, conc, hooks)
  local router = self.router
  local st = { client = self, p = p, policy = self.retry, router = router, hooks = hooks,
               metrics = self.metrics,
               quota_hit = nil, again = nil, wait = 0, reauth = false, decided = nil,
               round_one = true, single = false, src = nil, src_i = 1, ready = nil, ready_i = 1,
               ready_n = 0, by_group = nil, created = nil }
  local transport = p.transport
  local pending = items
  while #pending > 0 do
    st.again, st.wait, st.reauth, st.decided = {}, 0, false, nil
    st.src, st.src_i = pending, 1
    st.single = #pending == 1
    if not st.single then
      st.ready, st.ready_i, st.ready_n, st.by_group, st.created = {}, 1, 0, {}, {}
    end
    if p.name ~= "sandbox" and router:circuit_state(p.name) == "open" then
      for _, e in ipairs(all_entries(st)) do
        finalize(e.item, p, { code = "CIRCUIT_OPEN", message = "provider circuit open" },
                 e.item.maybe_sent and "uncertain" or "not_sent")
      end
      break
    end
    local ok, aout = true, nil
    if p.authorize then ok, aout = p:authorize() end
    if not ok then
      router:record(p.name, not aout.down)
      local list = all_entries(st)
      for _, e in ipairs(list) do
        handle(st, e, config.copy(aout), list)
      end
    else
      local c1 = next_chunk(st)
      local c2 = c1 and next_chunk(st)
      if c2 and transport and transport.submit and not p.send_chunk then
        run_pipelined(st, c1, c2, conc)
      elseif c1 and not c2 and not p.send_chunk then
        -- one request (a single send, or a small batch)
        if st.quota_hit then
          quota_stop(st, c1)
        else
          if hooks and hooks.before_send then announce(p, hooks, c1) end
          local req = p:build(c1)
          if st.metrics then c1.t0 = st.metrics.clock() end
          local resp, err, code, sent = transport:request(req)
          outcome(st, c1, resp, err, code, sent)
        end
      else
        run_waves(st, c1, c2, conc)
      end
    end
    st.round_one = false
    if st.reauth and p.unauthorized then p:unauthorized() end
    local again = st.again
    if st.quota_hit and #again > 0 then
      quota_stop(st, again)
      again = {}
    end
    if #again > 0 and st.wait > 0 then st.policy.sleep(st.wait) end
    pending = again
  end
end

local function run_group(self, name, items, conc, opts)
  if opts.before_send or opts.after_response then
    self:_run(self.providers[name], items, conc,
              { before_send = opts.before_send, after_response = opts.after_response })
  else
    self:_run(self.providers[name], items, conc)
  end
end

-- Each final result to the metrics and the on_result hook. A hook that raises does not cost
-- the caller the results (the messages went out): its error is kept in `result.hook_error`.
local function observe_results(self, results)
  local m, hook = self.metrics, self.on_result
  for i = 1, #results do
    local r = results[i]
    if m then m:observe(r) end
    if hook then
      local ok, e = pcall(hook, r)
      if not ok then r.hook_error = tostring(e) end
    end
  end
end

local NO_OPTS = setmetatable({}, { __newindex = function() error("read-only", 2) end })
local BATCH_SPEC = { concurrency = "number", before_send = "function", after_response = "function" }

local function new_result(i, msg)
  -- `ids` is set by finalize (or at the end of send_batch for results that never got that far)
  return { index = i, id = msg.id, status = nil, provider = nil, ids = nil, attempts = 0,
           routing = {}, code = nil, message = nil }
end

--- Send several messages; one result per input, in order.
-- Invalid messages get a `rejected` result carrying the validation `error`, and nothing is sent
-- for them. Valid ones are grouped into the provider's batches (SENS 100, API PLEX 10, others
-- one per request) and sent `concurrency` requests at a time.
-- @tparam table msgs list of messages (see alimtalk.message)
-- @tparam[opt] table opts `concurrency` (default the client's, 8), `before_send`
--   (function(provider, list of { index =, serial = }) called before each request goes out),
--   `after_response` (function(provider, list of { index =, result = }) called as each
--   request's answer is handled, with its messages whose result at that provider is settled;
--   a `not_sent` one may still fail over to the next provider of the route)
-- @treturn table results
function methods:send_batch(msgs, opts)
  assert(type(msgs) == "table", "send_batch: messages must be a list")
  opts = opts == nil and NO_OPTS or config.check(opts, BATCH_SPEC, "send_batch")
  local conc = opts.concurrency or self.concurrency
  assert(conc >= 1, "send_batch: concurrency must be >= 1")
  local results, items, seen = {}, {}, {}
  local policy = self.policy
  for i, msg in ipairs(msgs) do
    if type(msg) ~= "table" then error("send_batch: messages[" .. i .. "] is not a table", 2) end
    local r = new_result(i, msg)
    results[i] = r
    local first = msg.id ~= nil and seen[msg.id]
    if msg.id ~= nil and not first then seen[msg.id] = i end
    if first then
      -- One serial, two messages: the provider would keep one (BizMessage, API PLEX) and answer
      -- the other as a duplicate, or results keyed by serial would cross. Refuse the second.
      local err = errors.new{ code = "DUPLICATE_ID", field = "messages[" .. i .. "].id",
        message = "id " .. tostring(msg.id) .. " is already used by messages[" .. first
                  .. "] in this batch; each message needs its own id" }
      r.status, r.code, r.message, r.error = "rejected", "DUPLICATE_ID", err.message, err
    else
      local plan, decisions, names
      -- a policy's prepare/fallback/route (nil msg: it rejected or held the message)
      if policy then msg, names = policy:admit(self, msg, i, r) end
      if not msg then
        plan = nil
      elseif names then   -- the policy's providers (open circuits skipped as in any plan)
        plan, decisions = self.router:plan(names)
      elseif #self.names == 1 then
        plan, decisions = self.names, nil
      else
        plan, decisions = self.router:plan()
      end
      if decisions then for _, d in ipairs(decisions) do r.routing[#r.routing + 1] = d end end
      -- every field the send loop sets is named here, so the table is sized once (no rehash)
      if plan then
        items[#items + 1] = { index = i, msg = msg, result = r, plan = plan, step = 1, attempts = 0,
                              field_index = #msgs > 1 and i or nil, unchecked = true, norm = nil,
                              entry = nil, attempts_here = 0, done_here = false, reauth = false,
                              maybe_sent = nil, finished = nil }
      end
    end
  end
  local active = items
  while #active > 0 do
    if #self.names == 1 then
      -- one provider: every active message goes there
      for i = 1, #active do active[i].unchecked = true end
      run_group(self, self.names[1], active, conc, opts)
    else
      local groups, names = {}, {}
      for _, it in ipairs(active) do
        local name = it.plan[it.step]
        it.unchecked = true
        if not groups[name] then groups[name] = {} names[#names + 1] = name end
        local g = groups[name]
        g[#g + 1] = it
      end
      for _, name in ipairs(names) do run_group(self, name, groups[name], conc, opts) end
    end
    -- Fail over what is certainly not sent; never what may have been.
    local nxt = {}
    for k = 1, #active do
      local it = active[k]
      local r = it.result
      if not it.finished and (r.status == nil or r.status == "not_sent") then
        local from = it.plan[it.step]
        it.step = it.step + 1
        local to = it.plan[it.step]
        if to then
          r.routing[#r.routing + 1] = { provider = to, decision = "failover", from = from,
            reason = r.status == "not_sent" and ("not sent at " .. from .. " (" .. tostring(r.code) .. ")")
                     or ("invalid for " .. from) }
          nxt[#nxt + 1] = it
        elseif r.status == nil then
          -- Invalid for every provider in its plan after the first was skipped.
          r.status, r.provider, r.code, r.message = "rejected", from, "INVALID", "invalid for every provider"
        end
      end
    end
    active = nxt
  end
  for i = 1, #results do
    local r = results[i]
    if r.ids == nil then r.ids = {} end
  end
  if policy then policy:finish(self, msgs, results) end
  if self.metrics or self.on_result then observe_results(self, results) end
  return results
end

--- Check a message against a provider's rules without sending anything. With a policy, the
-- message is checked as its prepare hook leaves it (a raising hook gives POLICY_ERROR).
-- @tparam table msg the message
-- @tparam[opt] string provider provider name (default the first in the route)
-- @treturn boolean true, or nil and the validation error (every violation in `err.errors`)
function methods:validate(msg, provider)
  local p = self.providers[provider or self.names[1]]
  if not p then error("validate: provider '" .. tostring(provider) .. "' is not configured", 2) end
  if self.policy then
    local perr
    msg, perr = self.policy:prepared(self, msg)
    if not msg then return nil, perr end
  end
  local ok, err = validate.message(msg, { provider = p.profile, registry = self.registry,
                                          now = self.now() })
  if ok then return true end
  return nil, err
end

--- Send one message.
-- @tparam table msg the message (see alimtalk.message)
-- @treturn table result, or nil and a validation error (nothing was sent)
function methods:send(msg)
  if type(msg) ~= "table" then error("send: message must be a table", 2) end
  local r = self:send_batch({ msg })[1]
  if r.error and r.attempts == 0 and r.status == "rejected" then return nil, r.error end
  return r
end

--- Start sending one message without waiting (see alimtalk.async): returns a handle once its
-- first request is on the wire, or nil and the validation error (nothing sent), as `send`.
function methods:submit(msg) return require("alimtalk.async").submit(self, msg) end
--- Start sending several messages without waiting (as send_batch): returns a handle.
function methods:submit_batch(msgs, opts) return require("alimtalk.async").submit_batch(self, msgs, opts) end
--- Move submitted sends on: the finished ones, `{ handle =, result = }` (`results =` for a
-- batch); `timeout` seconds to wait for one (0: none, nil: until one finishes).
function methods:poll(timeout) return require("alimtalk.async").poll(self, timeout) end
--- Submitted sends not yet returned by poll.
function methods:pending() return require("alimtalk.async").pending(self) end

-- Forward a query method to the provider that has it (or the named one).
local function forward(method)
  return function(self, arg, provider)
    local p
    if provider then
      p = self.providers[provider]
      if not p then error(method .. ": provider '" .. tostring(provider) .. "' is not configured", 2) end
    else
      for _, name in ipairs(self.names) do
        if self.providers[name][method] then p = self.providers[name] break end
      end
    end
    if not p or not p[method] then
      return nil, errors.new{ code = "UNSUPPORTED", message = method .. " is not offered by "
        .. (p and p.name or table.concat(self.names, ", ")) }
    end
    return p[method](p, arg)
  end
end

--- SENS: delivery events of a send request (`request_id` string or query table).
methods.query_request = forward("query_request")
--- SENS / sandbox: delivery state of one message by message id.
methods.query_message = forward("query_message")
--- SENS: reservation status.
methods.reservation = forward("reservation")
--- SENS: cancel a reservation.
methods.cancel_reservation = forward("cancel_reservation")
--- SENS: Kakao Talk channels.
methods.channels = forward("channels")
--- SENS: templates of a channel.
methods.templates = forward("templates")
--- BizMessage: polling results (closing the report group unless `{ close = false }`).
methods.poll_results = forward("poll_results")
--- BizMessage: close a report group.
methods.close_report_group = forward("close_report_group")
--- BizMessage: one page of the delivery list.
methods.search = forward("search")
--- BizMessage: every page of the delivery list.
methods.search_all = forward("search_all")
--- BizMessage: detail of one message by uid.
methods.detail = forward("detail")
--- Sandbox: simulated delivery events that became due.
methods.poll_events = forward("poll_events")

--- Fetch SENS templates and add them to the client's registry (creating one if needed).
-- @tparam[opt] table q as for `templates`
-- @treturn number how many templates were added, or nil and an error
function methods:load_templates(q)
  local list, err = self:templates(q, "sens")
  if not list then return nil, err end
  if not self.registry then
    self.registry = require("alimtalk.registry").new()
  end
  local n, aerr = self.registry:add_sens_templates(list)
  if not n then return nil, aerr end
  return n
end

--- Close every transport and the sandbox outbox (safe to call twice).
function methods:close()
  for _, t in ipairs(self.transports) do t:close() end
  for _, p in pairs(self.providers) do
    if p.name == "sandbox" and p.close then p:close() end
  end
end

return _M
