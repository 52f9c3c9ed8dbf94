--- Fault injection for the sandbox, deterministic by seed.
-- A fault is a table (set through POST /_sandbox/faults):
--   provider  "sens"|"bizmessage"|"apiplex"|"sinch" (nil: any provider)
--   path      Lua pattern searched in the request path (nil: any); method (nil: any)
--   kind      "reset_before"  close the connection before the request is read (not processed)
--             "reset_after"   process the request (messages ARE stored), close without answer
--             "delay"         wait `delay` seconds, then answer normally
--             "stall"         wait `delay` seconds (default 30), then close without answer
--             "status"        answer HTTP `status` (500/502/503/504/429...) without processing;
--                             429 and 503 carry `Retry-After: retry_after` (default 1)
--             "malformed"     process, then answer 200 with truncated JSON
--             "code"          answer every message (or a `message_rate` share of them: a
--                             partial batch) with the provider code `code` (Kakao "3005",
--                             SENS "B004", API PLEX "G150"/"G160", Sinch error status...)
--             "result_code"   accept, but the delivery result carries `code`
--   rate      probability per matching request (nil: every matching request)
--   count     fire at most this many times (nil: unlimited)
--   seed      integer seed for `rate`/`message_rate` decisions (default 1)
--   key       "ordinal" (default) or "body": what a `rate` draw is keyed on (below)
--   group     a name: the `rate` faults of one group share one draw per request and take
--             consecutive bands of it, so at most one of them fires and each fires on exactly
--             its `rate` share (5% + 2% + 1% stay 5%, 2% and 1%, not 2% of what 5% left)
-- The decision for the n-th matching request is HMAC(seed, id:n) < rate, so the same
-- sequence of requests meets the same faults in every run. With `key = "body"` it is
-- HMAC(seed, id:digest(body):k) for the k-th request carrying that body (in a canonical form:
-- JSON member order does not count): the requests' contents
-- decide, not the order in which concurrent requests happen to arrive, and a resend of the
-- same body draws again. (The body is then read before a `reset_before` closes.)
-- @module alimtalk.sandbox.emu.faults
local state = require "alimtalk.sandbox.emu.state"
local crypto = require "alimtalk.sandbox.emu.crypto"

local _M = {}

local KINDS = { reset_before = true, reset_after = true, delay = true, stall = true, status = true,
  malformed = true, code = true, result_code = true }
local PROVIDERS = { sens = true, bizmessage = true, apiplex = true, sinch = true }

local active = {}          -- this worker's decoded copy of the fault list

state.on_reload(function()
  local s = state.dict("sbx_state"):get("faults")
  active = s and state.decode(s) or {}
end)

-- A deterministic number in [0, 1) for (seed, key).
local function draw(seed, key)
  local h = crypto.hmac_sha256(tostring(seed or 1), key)
  local a, b, c, d = h:byte(1, 4)
  return (((a * 256 + b) * 256 + c) * 256 + d) / 4294967296
end
_M.draw = draw

--- Check a fault spec; nil and a message when it is not valid.
function _M.validate(f)
  if type(f) ~= "table" then return nil, "a fault is a JSON object" end
  if not KINDS[f.kind] then return nil, "unknown kind: " .. tostring(f.kind) end
  if f.provider ~= nil and not PROVIDERS[f.provider] then
    return nil, "unknown provider: " .. tostring(f.provider)
  end
  if f.path ~= nil and (type(f.path) ~= "string" or not pcall(string.find, "", f.path)) then
    return nil, "path must be a Lua pattern"
  end
  if f.rate ~= nil and (type(f.rate) ~= "number" or f.rate < 0 or f.rate > 1) then
    return nil, "rate must be a number in [0, 1]"
  end
  if f.message_rate ~= nil and (type(f.message_rate) ~= "number" or f.message_rate < 0
      or f.message_rate > 1) then
    return nil, "message_rate must be a number in [0, 1]"
  end
  if f.count ~= nil and (type(f.count) ~= "number" or f.count < 1) then
    return nil, "count must be a positive integer"
  end
  if f.kind == "status" and (type(f.status) ~= "number" or f.status < 400 or f.status > 599) then
    return nil, "kind status needs status 400..599"
  end
  if (f.kind == "code" or f.kind == "result_code") and type(f.code) ~= "string" then
    return nil, "kind " .. f.kind .. " needs code (string)"
  end
  if f.delay ~= nil and (type(f.delay) ~= "number" or f.delay < 0 or f.delay > 600) then
    return nil, "delay must be seconds in [0, 600]"
  end
  if f.key ~= nil and f.key ~= "ordinal" and f.key ~= "body" then
    return nil, "key must be \"ordinal\" or \"body\""
  end
  if f.group ~= nil and (type(f.group) ~= "string" or f.group == "") then
    return nil, "group must be a non-empty string"
  end
  if f.group ~= nil and f.rate == nil then
    return nil, "a fault in a group needs a rate"
  end
  return true
end

--- Add faults (a list); they get ids and are seen by every worker.
function _M.add(list)
  local s = state.dict("sbx_state"):get("faults")
  local cur = s and state.decode(s) or {}
  for _, f in ipairs(list) do
    f.id = state.next("fault_id")
    cur[#cur + 1] = f
  end
  state.dict("sbx_state"):set("faults", state.encode(cur))
  state.bump()
  return list
end

--- Remove every fault.
function _M.clear()
  state.dict("sbx_state"):delete("faults")
  state.bump()
end

--- The current fault list with how often each fired.
function _M.list()
  local s = state.dict("sbx_state"):get("faults")
  local cur = s and state.decode(s) or {}
  local d = state.dict("sbx_state")
  for _, f in ipairs(cur) do
    f.seen = d:get("f:" .. f.id .. ":seen") or 0
    f.fired = d:get("f:" .. f.id .. ":fired") or 0
  end
  return cur
end

--- The body in a canonical form: its pieces between JSON's { } [ ] , sorted. A client's JSON
-- encoder may order an object's members differently in each process (Lua's string hashing is
-- seeded per process), and the same request must meet the same faults in every run.
function _M.canonical(body)
  local t, n = {}, 0
  for piece in body:gmatch("[^{}%[%],]+") do
    n = n + 1
    t[n] = piece
  end
  table.sort(t)
  return table.concat(t, ",")
end

-- How often this body was seen, as "digest:k" (one count per request, shared by the faults).
local function body_key(d, body)
  local digest = crypto.hex(crypto.hmac_sha256("sandbox-fault-body", _M.canonical(body())))
  return digest .. ":" .. d:incr("fb:" .. digest, 1, 0)
end

--- The fault that applies to this request, or nil.
-- @tparam string provider
-- @tparam string method
-- @tparam string path
-- @tparam function body returns the request body (read only for `key = "body"` faults)
-- @treturn table|nil the fault spec
-- @return what its `message_rate` draws are keyed on (its firing ordinal, or the body key)
-- @treturn string|nil the body key "digest:k" when a `key = "body"` fault looked at the
--   request (fired or not), which the attempt log records so a client can match its requests
function _M.pick(provider, method, path, body)
  if active[1] == nil then return nil end
  local d = state.dict("sbx_state")
  local bkey, groups
  for i = 1, #active do
    local f = active[i]
    if (f.provider == nil or f.provider == provider)
        and (f.method == nil or f.method == method)
        and (f.path == nil or path:find(f.path)) then
      local seen = d:incr("f:" .. f.id .. ":seen", 1, 0)
      local key = seen
      if f.key == "body" then
        bkey = bkey or body_key(d, body)
        key = bkey
      end
      local fire
      if f.rate == nil then
        fire = true
      elseif f.group then
        groups = groups or {}
        local g = groups[f.group]
        if not g then
          g = { x = draw(f.seed, "group:" .. f.group .. ":" .. key), from = 0 }
          groups[f.group] = g
        end
        fire = g.x >= g.from and g.x < g.from + f.rate
        g.from = g.from + f.rate
      else
        fire = draw(f.seed, f.id .. ":" .. key) < f.rate
      end
      if fire then
        local fired = d:incr("f:" .. f.id .. ":fired", 1, 0)
        if f.count == nil or fired <= f.count then
          return f, f.key == "body" and bkey or fired, bkey
        end
        d:incr("f:" .. f.id .. ":fired", -1)
      end
    end
  end
  return nil, nil, bkey
end

--- For a "code" fault: does message `i` of this request get the code?
-- @param key the second value `pick` returned
function _M.hits_message(f, key, i)
  if f.message_rate == nil then return true end
  return draw(f.seed, f.id .. ":" .. key .. ":" .. i) < f.message_rate
end

return _M
