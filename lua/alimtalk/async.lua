--- Non-blocking sends for a host that runs its own event loop (a C program embedding Lua, a
-- game loop, a GUI): `client:submit(msg)` starts a send and returns a handle at once;
-- `client:poll(timeout)` moves every submitted send on and returns the ones that finished.
--
--     local h = assert(client:submit(msg))     -- validated, built, signed, on the wire
--     while client:pending() > 0 do
--       for _, f in ipairs(client:poll(0)) do print(f.handle, f.result.status) end
--       do_other_work()                        -- the loop never waits on a provider
--     end
--
-- Each submitted send runs the ordinary send path (validation, batching, retries with their
-- backoff, failover, metrics, hooks) in its own coroutine. Where that path would block, the
-- coroutine yields instead: a request goes out through the transport's `submit` and the
-- coroutine waits for its answer, which `poll` collects with the transport's `wait(timeout)`;
-- a retry's backoff becomes a wake-up time. So a send is only ever advanced inside `submit`
-- (up to its first request) and `poll`. Needs a transport with `submit`/`wait` (the default
-- curl transport); a provider whose transport lacks them sends blocking, inside `submit`/`poll`.
-- The embedded sandbox answers at once: its sends are finished when `submit` returns.
-- Blocking `send`/`send_batch` calls may run meanwhile; they leave the submitted ones pending.
-- @module alimtalk.async
local _M = {}

local core = require "alimtalk.core"

local running, yield, resume, status = coroutine.running, coroutine.yield, coroutine.resume,
                                       coroutine.status
local monotonic = core.monotonic
local remove = table.remove

-- An answer for a task: queued in its inbox, the task marked runnable.
local function deliver(A, slot, id, resp, err, code, sent)
  local task = slot.owner[id]
  if not task then return end
  slot.owner[id] = nil
  slot.n = slot.n - 1
  task.out[slot] = task.out[slot] - 1
  task.inbox[#task.inbox + 1] = { id, resp, err, code, sent, slot = slot }
  A.runnable[#A.runnable + 1] = task
end

local function own(slot, task, id)
  slot.owner[id] = task
  slot.n = slot.n + 1
  task.out[slot] = (task.out[slot] or 0) + 1
end

-- Inside a task: the answer of request `id`, yielding until it came.
local function await_id(task, slot, id)
  while true do
    local inbox = task.inbox
    for i = 1, #inbox do
      local a = inbox[i]
      if a.slot == slot and a[1] == id then return remove(inbox, i) end
    end
    yield()
  end
end

-- Inside a task: the next answer of any of its requests on `slot`; nil when none is out.
local function await_any(task, slot)
  while true do
    local inbox = task.inbox
    for i = 1, #inbox do
      if inbox[i].slot == slot then return remove(inbox, i) end
    end
    if (task.out[slot] or 0) == 0 then return nil end
    yield()
  end
end

-- A provider's transport, made to yield inside a task (and unchanged outside one).
local function wrap(A, base)
  local slot = A.slot_of[base]
  if not slot then
    slot = { base = base, owner = {}, n = 0 }
    A.slot_of[base] = slot
    A.slots[#A.slots + 1] = slot
  end
  local w = { queues = base.queues, limit = base.limit, async_base = base }
  function w.request(_, req)
    local task = A.task_of[running() or 0]
    if not task then return base:request(req) end
    local id = base:submit(req)
    own(slot, task, id)
    local a = await_id(task, slot, id)
    return a[2], a[3], a[4], a[5]
  end
  function w.request_many(_, reqs)
    local task = A.task_of[running() or 0]
    if not task then return base:request_many(reqs) end
    local ids = {}
    for k, req in ipairs(reqs) do
      ids[k] = base:submit(req)
      own(slot, task, ids[k])
    end
    local out = {}
    for k, id in ipairs(ids) do
      local a = await_id(task, slot, id)
      out[k] = a[2] and { resp = a[2] } or { err = a[3], code = a[4], sent = a[5] }
    end
    return out
  end
  function w.submit(_, req)
    local task = A.task_of[running() or 0]
    local id = base:submit(req)
    if task then own(slot, task, id) end
    return id
  end
  function w.wait(_, timeout)
    local task = A.task_of[running() or 0]
    if task then
      local a = await_any(task, slot)
      if not a then return nil end
      return a[1], a[2], a[3], a[4], a[5]
    end
    -- a blocking caller: answers that belong to submitted sends are kept for them
    while true do
      local id, resp, err, code, sent = base:wait(timeout)
      if id == nil or not slot.owner[id] then return id, resp, err, code, sent end
      deliver(A, slot, id, resp, err, code, sent)
    end
  end
  function w.stats() return base.stats and base:stats() or { connections = 0, requests = 0 } end
  function w.close() if base.close then base:close() end end
  return w
end

-- The client's async state, made on first submit: the transports wrapped, the retry sleep
-- turned into a wake-up time inside tasks.
local function state(client)
  local A = client._async
  if A then return A end
  A = { next = 0, count = 0, task_of = setmetatable({}, { __mode = "k" }), tasks = {},
        runnable = {}, ready = {}, slots = {}, slot_of = {} }
  for _, p in pairs(client.providers) do
    local t = p.transport
    if t and t.submit and t.wait and not t.async_base then p.transport = wrap(A, t) end
  end
  local policy = client.retry
  local base_sleep = policy.sleep
  policy.sleep = function(s)
    local task = A.task_of[running() or 0]
    if not task then return base_sleep(s) end
    task.wake = monotonic() + s
    while task.wake do yield() end
  end
  client._async = A
  return A
end

-- Run a task until it yields or ends; an ended one goes to `ready`.
local function step(A, task)
  if task.done then return end
  local ok, res = resume(task.co)
  if not ok then
    task.done = true
    A.task_of[task.co], A.tasks[task.handle] = nil, nil
    A.count = A.count - 1
    error("alimtalk: submitted send " .. task.handle .. " raised: " .. tostring(res), 0)
  end
  if status(task.co) == "dead" then
    task.done = true
    A.task_of[task.co], A.tasks[task.handle] = nil, nil
    local f = { handle = task.handle }
    if task.batch then f.results = res else f.result = res[1] end
    A.ready[#A.ready + 1] = f
  end
end

local function start(client, fn, batch)
  local A = state(client)
  A.next = A.next + 1
  local task = { handle = A.next, inbox = {}, out = {}, batch = batch, wake = nil, done = false }
  task.co = coroutine.create(fn)
  A.task_of[task.co] = task
  A.tasks[task.handle] = task
  A.count = A.count + 1
  step(A, task)
  return A, task
end

--- Start sending one message; returns at once (once its first request is on the wire).
-- @tparam table client
-- @tparam table msg the message
-- @treturn integer handle that `poll` returns with the result; or nil and the validation
--   error when the message was refused before anything was sent (as `send`)
function _M.submit(client, msg)
  if type(msg) ~= "table" then error("submit: message must be a table", 3) end
  local A, task = start(client, function() return client:send_batch({ msg }) end, false)
  local last = A.ready[#A.ready]
  if task.done and last and last.handle == task.handle then
    local r = last.result
    if r.error and r.attempts == 0 and r.status == "rejected" then
      A.ready[#A.ready] = nil
      A.count = A.count - 1
      return nil, r.error
    end
  end
  return task.handle
end

--- Start sending several messages (as `send_batch`, with its options); returns at once.
-- @treturn integer handle that `poll` returns with `results`
function _M.submit_batch(client, msgs, opts)
  if type(msgs) ~= "table" then error("submit_batch: messages must be a list", 3) end
  local _, task = start(client, function() return client:send_batch(msgs, opts) end, true)
  return task.handle
end

--- Move every submitted send on; the finished ones, each returned once.
-- @tparam[opt] number timeout seconds to wait for one to finish (0: only what is ready now;
--   nil: until one finishes, or none is pending)
-- @treturn table list of `{ handle =, result = }` (`results =` for submit_batch), in the
--   order they finished; empty when none did in time
function _M.poll(client, timeout)
  local A = client._async
  if not A then return {} end
  local deadline = timeout and monotonic() + timeout
  while true do
    -- answers that came, without waiting
    for _, slot in ipairs(A.slots) do
      while slot.n > 0 do
        local id, resp, err, code, sent = slot.base:wait(0)
        if not id then break end
        deliver(A, slot, id, resp, err, code, sent)
      end
    end
    local now = monotonic()
    local next_wake
    for _, task in pairs(A.tasks) do
      if task.wake then
        if task.wake <= now then
          task.wake = nil
          A.runnable[#A.runnable + 1] = task
        elseif not next_wake or task.wake < next_wake then
          next_wake = task.wake
        end
      end
    end
    local runnable = A.runnable
    A.runnable = {}
    for _, task in ipairs(runnable) do step(A, task) end
    if #A.ready > 0 or next(A.tasks) == nil then break end
    if #A.runnable == 0 then
      now = monotonic()
      if deadline and now >= deadline then break end
      -- (a task that just began a backoff has a wake-up time the scan above did not see)
      next_wake = nil
      for _, task in pairs(A.tasks) do
        if task.wake and (not next_wake or task.wake < next_wake) then next_wake = task.wake end
      end
      -- wait for the next answer or the next wake-up, whichever comes first
      local slice = deadline and deadline - now
      if next_wake and (not slice or next_wake - now < slice) then slice = math.max(0, next_wake - now) end
      local busy, n = nil, 0
      for _, slot in ipairs(A.slots) do
        if slot.n > 0 then busy, n = slot, n + 1 end
      end
      if n == 1 then
        local id, resp, err, code, sent = busy.base:wait(slice)
        if id then deliver(A, busy, id, resp, err, code, sent)
        elseif not slice then
          -- told to wait for the next and nothing is pending: the transport dropped them
          -- (closed). They may have gone out: each is settled as a failure that was sent.
          local lost = {}
          for lid in pairs(busy.owner) do lost[#lost + 1] = lid end
          table.sort(lost)
          for _, lid in ipairs(lost) do
            deliver(A, busy, lid, nil, "transport lost the request", "protocol", true)
          end
        end
      elseif n > 1 or slice then
        -- several transports cannot be waited on at once: look at each every 5 ms
        core.sleep(math.min(slice or 0.005, 0.005))
      else
        break   -- nothing in flight and nothing to wake: cannot happen; never spin
      end
    end
  end
  local out = A.ready
  A.ready = {}
  A.count = A.count - #out
  return out
end

--- Submitted sends not yet returned by `poll`.
function _M.pending(client)
  local A = client._async
  return A and A.count or 0
end

return _M
