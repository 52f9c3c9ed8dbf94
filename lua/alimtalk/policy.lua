--- Policies: a business's own rules as Lua hooks that the client runs for every message.
--
-- A policy is a Lua file returning a table of hooks (or that table itself), given to the client
-- as `alimtalk.new{ policy = "policy.lua" }`. Every hook is optional:
--
--     return {
--       -- the providers for this message, in order (names of configured providers); or
--       -- ctx.hold(until, reason) to keep it back; nil: the client's own route
--       route = function(msg, ctx) return { "apiplex", "sens" } end,
--       -- variables filled or changed before rendering: mutate msg.vars, or return a new
--       -- vars table (it replaces msg.vars); msg is the client's copy, never the caller's
--       prepare = function(msg, ctx) msg.vars.name = msg.vars.name or "고객" end,
--       -- the SMS/LMS text when it should differ from the AlimTalk body (nil: as the message
--       -- says); it becomes msg.failover.content, keeping the message's type, from, subject
--       fallback = function(msg, ctx) return "[Shop] code " .. msg.vars.code end,
--       -- audit: once per final result, after the batch
--       after_result = function(result, ctx) end,
--       -- reporting: { type = "routed" | "held" | "policy_error" | "result", index =, id =,
--       --              ... } (see `events` below)
--       on_event = function(event) end,
--     }
--
-- The hooks run in this order per message, before it is validated: prepare, fallback, route;
-- after the batch: after_result then on_event's "result" event, per result in order.
--
-- A file is run once, when the client is made, in an environment of its own whose misses fall
-- through to the usual globals (`string`, `os`, `require`, ...): its globals stay its own.
--
-- `ctx` (one per message):
--
--     { index = 3, id = "order-1001",          -- the message's position in the batch, its id
--       kind = "alimtalk",                      -- the message kind (default alimtalk)
--       template_name = "otp", template = {...} | nil,   -- the registry entry, when known
--       providers = { "apiplex", "sens" },      -- the client's providers, in route order
--       now = function() end,                   -- the client's clock (epoch seconds)
--       hold = function(until_epoch, reason) end,  -- for route: keep the message back
--       client = client,                        -- the client (client:provider(name), ...)
--       format = alimtalk.format | false }      -- loaded on first use, false when absent
--
-- Failures: a hook that raises or returns something invalid costs its message alone. That
-- message is `rejected` with code `POLICY_ERROR` and `error.field` = `policy.<hook>` (the
-- reason in `error.message`), nothing is sent for it, and the batch goes on. A message held by
-- `route` is `not_sent` with code `POLICY_HOLD` and `held_until` (epoch seconds): never sent,
-- safe to send again after that time. after_result and on_event run after the messages went
-- out, so their failure must not cost the result: the error is kept in `result.policy_error`
-- (the first one) and the other hooks still run.
--
-- Routing decisions: a route hook's answer is the first entry of `result.routing`,
-- `{ decision = "route", by = "policy", providers = { ... } }` (then the router's own: circuit
-- skips, sends, failovers), or `{ decision = "hold", by = "policy", ... }` or
-- `{ decision = "reject", reason = "policy", hook = "route", code = "POLICY_ERROR" }`.
-- @module alimtalk.policy
local _M = {}

local errors = require "alimtalk.errors"

local HOOKS = { route = true, prepare = true, fallback = true, after_result = true,
                on_event = true }
local HOOK_LIST = "route, prepare, fallback, after_result, on_event"

local mt = { __name = "alimtalk.policy" }
local methods = {}
mt.__index = methods

local HOLD = { __name = "alimtalk.policy.hold" }

-- alimtalk.format, loaded when a hook first asks for ctx.format (false when not installed)
local format_mod
local CTX = { __index = function(t, k)
  if k ~= "format" then return nil end
  if format_mod == nil then
    local ok, m = pcall(require, "alimtalk.format")
    format_mod = ok and m or false
  end
  rawset(t, "format", format_mod)
  return format_mod
end }

local function read(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("*a")
  f:close()
  return text
end

-- The hook's error message without the chunk position the caller cannot act on twice
local function reason(e)
  return (tostring(e):gsub("^[^\n]-:%d+: ", "", 1))
end

--- Load a policy.
-- @param src path of a Lua file returning a table of hooks, or that table
-- @tparam table names the client's provider names (what `route` may name), in route order
-- @treturn table the policy; raises naming the file when it cannot be loaded, runs with an
--   error, returns something other than a table, or has a key that is not a hook function
function _M.load(src, names)
  local where, hooks
  if type(src) == "string" then
    where = src
    local text, err = read(src)
    if not text then error("policy " .. src .. ": cannot read: " .. tostring(err), 0) end
    local env = setmetatable({}, { __index = _G })
    local chunk, lerr = load(text, "@" .. src, "t", env)
    if not chunk then error("policy " .. src .. ": " .. tostring(lerr), 0) end
    local ok, v = pcall(chunk)
    if not ok then error("policy " .. src .. ": raised while loading: " .. tostring(v), 0) end
    hooks = v
  elseif type(src) == "table" then
    where, hooks = "table", src
  else
    error("policy must be a file path or a table of hooks, not a " .. type(src), 0)
  end
  if type(hooks) ~= "table" then
    error("policy " .. where .. " returned a " .. type(hooks) .. ", not a table of hooks", 0)
  end
  for k, v in pairs(hooks) do
    if not HOOKS[k] then
      error("policy " .. where .. ": unknown hook '" .. tostring(k) .. "' (hooks: " .. HOOK_LIST
            .. ")", 0)
    end
    if type(v) ~= "function" then
      error("policy " .. where .. ": " .. k .. " must be a function, not a " .. type(v), 0)
    end
  end
  local set = {}
  for _, n in ipairs(names) do set[n] = true end
  return setmetatable({ hooks = hooks, source = where, names = names, configured = set,
                        ctx_of = setmetatable({}, { __mode = "k" }) }, mt)
end

--- What `route` returns to keep a message back until `until_epoch` (`ctx.hold`).
-- @tparam number until_epoch epoch seconds
-- @tparam[opt] string why shown in the result's message
function _M.hold(until_epoch, why)
  if type(until_epoch) ~= "number" then error("hold: until must be epoch seconds (a number)", 2) end
  return setmetatable({ held_until = until_epoch, reason = why }, HOLD)
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- Report an event; a raising on_event is kept in the result, never raised.
local function emit(self, r, ev)
  local h = self.hooks.on_event
  if not h then return end
  local ok, e = pcall(h, ev)
  if not ok and r and r.policy_error == nil then r.policy_error = "on_event raised: " .. reason(e) end
end

-- The message is rejected for what a hook did.
local function fail(self, r, hook, why)
  local err = errors.new{ code = "POLICY_ERROR", field = "policy." .. hook,
                          message = "policy " .. hook .. " " .. why }
  r.status, r.code, r.message, r.error = "rejected", "POLICY_ERROR", err.message, err
  r.routing[#r.routing + 1] = { decision = "reject", reason = "policy", hook = hook,
                                code = "POLICY_ERROR", message = err.message }
  emit(self, r, { type = "policy_error", index = r.index, id = r.id, hook = hook,
                  message = err.message })
  return nil
end

-- A route hook's answer as a list of configured provider names, or nil and why not.
local function check_route(self, v)
  if type(v) ~= "table" then
    return nil, "returned a " .. type(v) .. ", want a list of provider names"
  end
  if v[1] == nil then return nil, "returned an empty list, want provider names" end
  local out, seen = {}, {}
  for i, n in ipairs(v) do
    if type(n) ~= "string" then
      return nil, "returned a " .. type(n) .. " at [" .. i .. "], want a provider name"
    end
    if not self.configured[n] then
      return nil, "named '" .. n .. "', which is not configured (" .. table.concat(self.names, ", ")
                  .. ")"
    end
    if seen[n] then return nil, "named '" .. n .. "' twice" end
    seen[n] = true
    out[i] = n
  end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  if n ~= #out then return nil, "returned a table that is not a list of provider names" end
  return out
end

-- prepare on a copy of msg: the message to send, or nil and why the hook failed.
local function run_prepare(prepare, msg, ctx)
  local m = copy(msg)
  m.vars = type(msg.vars) == "table" and copy(msg.vars) or msg.vars
  local ok, v = pcall(prepare, m, ctx)
  if not ok then return nil, "raised: " .. reason(v) end
  if v ~= nil then
    if type(v) ~= "table" then return nil, "returned a " .. type(v) .. ", want a vars table or nil" end
    m.vars = v
  end
  return m
end

--- The context of one message (see the module's ctx).
function methods:context(client, msg, i)
  local tpl
  if msg.template and client.registry then tpl = client.registry:get(msg.template) end
  return setmetatable({ index = i, id = msg.id, kind = msg.kind or "alimtalk",
                        template_name = msg.template, template = tpl or nil,
                        providers = self.names, now = client.now, hold = _M.hold,
                        client = client }, CTX)
end

--- Run prepare, fallback and route for one message of a batch.
-- @tparam table client the client
-- @tparam table msg the caller's message (never changed)
-- @tparam number i its index
-- @tparam table r its result (filled in when the policy rejects or holds it)
-- @treturn table the message to send (a copy when a hook changed it), or nil when rejected/held
-- @treturn table the providers route chose, or nil for the client's own route
function methods:admit(client, msg, i, r)
  local h = self.hooks
  local ctx = self:context(client, msg, i)
  if h.after_result then self.ctx_of[r] = ctx end   -- the same ctx again after the batch
  local m = msg
  if h.prepare then
    local why
    m, why = run_prepare(h.prepare, msg, ctx)
    if not m then return fail(self, r, "prepare", why) end
  end
  if h.fallback then
    local ok, v = pcall(h.fallback, m, ctx)
    if not ok then return fail(self, r, "fallback", "raised: " .. reason(v)) end
    if v ~= nil then
      if type(v) ~= "string" or v == "" then
        return fail(self, r, "fallback", "returned " .. (v == "" and "an empty string" or
                    "a " .. type(v)) .. ", want the SMS/LMS text or nil")
      end
      if m == msg then m = copy(msg) end
      local fo = type(m.failover) == "table" and copy(m.failover) or {}
      fo.content = v
      m.failover = fo
    end
  end
  local names
  if h.route then
    local ok, v = pcall(h.route, m, ctx)
    if not ok then return fail(self, r, "route", "raised: " .. reason(v)) end
    if v ~= nil then
      if getmetatable(v) == HOLD then
        local at = v.held_until
        local why = v.reason and (": " .. tostring(v.reason)) or ""
        r.status, r.code, r.held_until = "not_sent", "POLICY_HOLD", at
        r.message = "held by policy until " .. os.date("!%Y-%m-%d %H:%M", math.floor(at) + 9 * 3600)
                    .. " KST" .. why
        r.routing[#r.routing + 1] = { decision = "hold", by = "policy", held_until = at,
                                      reason = v.reason }
        emit(self, r, { type = "held", index = i, id = msg.id, held_until = at, reason = v.reason })
        return nil
      end
      local why
      names, why = check_route(self, v)
      if not names then return fail(self, r, "route", why) end
      r.routing[#r.routing + 1] = { decision = "route", by = "policy", providers = names }
      emit(self, r, { type = "routed", index = i, id = msg.id, providers = names })
    end
  end
  return m, names
end

--- The message as prepare leaves it, for checks made before sending (client:validate, and
-- so queue:enqueue): no events, no routing. A message prepare would fix is valid there too.
-- @tparam table client the client
-- @tparam table msg the caller's message (never changed)
-- @treturn table the prepared message (msg itself without a prepare hook), or nil and a
--   POLICY_ERROR error naming the hook
function methods:prepared(client, msg)
  local prepare = self.hooks.prepare
  if not prepare then return msg end
  local m, why = run_prepare(prepare, msg, self:context(client, msg, 1))
  if m then return m end
  return nil, errors.new{ code = "POLICY_ERROR", field = "policy.prepare",
                          message = "policy prepare " .. why }
end

--- After the batch: after_result and the "result" event for every result, in order.
-- @tparam table client the client
-- @tparam table msgs the batch's messages
-- @tparam table results its results
function methods:finish(client, msgs, results)
  local h = self.hooks
  if not (h.after_result or h.on_event) then return end
  for i = 1, #results do
    local r = results[i]
    local ctx = self.ctx_of[r]
    self.ctx_of[r] = nil
    if h.after_result then
      ctx = ctx or self:context(client, msgs[i], i)
      local ok, e = pcall(h.after_result, r, ctx)
      if not ok and r.policy_error == nil then r.policy_error = "after_result raised: " .. reason(e) end
    end
    emit(self, r, { type = "result", index = i, id = r.id, status = r.status, code = r.code,
                    provider = r.provider, result = r })
  end
end

return _M
