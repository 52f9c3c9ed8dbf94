--- A send queue in Redis Streams, drained by workers on any number of hosts.
--
--     local queue = require "alimtalk.queue"
--     local q = assert(queue.new{ redis = "redis://127.0.0.1:6379/0", name = "orders",
--                                 client = client })
--     local ticket, err = q:enqueue{ id = "order-1001", to = "010-1234-5678",
--                                    template = "order_shipped", vars = { name = "홍길동" } }
--     q:work{ batch = 100 }            -- in a worker process (alimtalk worker)
--     q:result("order-1001")           -- { state = "accepted", provider = "sens", ... }
--
-- `enqueue` checks the message as `client:send` would (nothing is queued when it is invalid),
-- gives it a serial when it has no `id`, and queues each id once (atomically, in Redis). The
-- workers (alimtalk.queue.worker) read the stream through one consumer group, send through the
-- client, store each outcome and only then acknowledge the entry. docs/scale-out.md has the
-- keys, the states and what each failure leaves behind.
-- @module alimtalk.queue
local cjson = require("cjson.safe")
local config = require "alimtalk.config"
local errors = require "alimtalk.errors"
local scripts = require "alimtalk.queue.scripts"
local common = require "alimtalk.providers.common"

local _M = {}

local mt = { __name = "alimtalk.queue" }
local methods = {}
mt.__index = methods
mt.__tostring = function(self) return "alimtalk.queue(" .. self.name .. ")" end
_M.methods = methods

local SPEC = { redis = "string|table", name = "string", client = "table", validate = "boolean",
               account = "string", redis_options = "table" }

local NAME = "^[%w_.%-]+$"

local function now_ms()
  local ngx = rawget(_G, "ngx")
  if ngx and ngx.now then return math.floor(ngx.now() * 1000) end
  return math.floor(require("alimtalk.core").now() * 1000)
end
_M.now_ms = now_ms

--- The error for Redis being unreachable or refusing us: `code = "REDIS"`, and what was not done.
-- @tparam string what what did not happen ("not queued")
-- @param e the connection's error (string or table; never carries the password)
function _M.redis_error(what, e)
  local m = type(e) == "table" and (e.message or e.err or tostring(e)) or tostring(e)
  local code = type(e) == "table" and e.code == "BAD_OPTION" and "BAD_OPTION" or "REDIS"
  return errors.new{ code = code, field = type(e) == "table" and e.field or nil, message = what .. ": " .. m,
                     reason = type(e) == "table" and e.reason or nil }
end

-- Whether an error means the connection is gone (not an error reply on a live connection).
local function connection_lost(e)
  return not (type(e) == "table" and e.reason == "redis")
end
_M.connection_lost = connection_lost

--- Run a command; `nil, err` on a connection failure or an error reply.
function methods:call(...)
  local conn = self.conn
  if not conn then return nil, "not connected" end
  local ok, res, err = pcall(conn.call, conn, ...)
  if not ok then return nil, res end
  if res == nil and err ~= nil then return nil, err end
  return res
end

-- The replies of n commands, or nil and the first error reply among them.
local function all_ok(res, n)
  for i = 1, n do
    local r = res[i]
    if type(r) == "table" and r.err ~= nil and r[1] == nil then return nil, r end
  end
  return res
end

--- Run several commands in one round trip; the replies in order, or `nil, err`.
function methods:pipeline(cmds)
  local conn = self.conn
  if not conn then return nil, "not connected" end
  local ok, res, err = pcall(conn.pipeline, conn, cmds)
  if not ok then return nil, res end
  if res == nil then return nil, err end
  return all_ok(res, #cmds)
end

local function is_noscript(e)
  local m = type(e) == "table" and (e.err or e.message) or e
  return type(m) == "string" and m:find("NOSCRIPT", 1, true) ~= nil
end

--- Run one of the queue's scripts (alimtalk.queue.scripts) by name: EVALSHA, reloaded after
-- a Redis restart.
function methods:script(name, keys, args)
  local conn = self.conn
  if not conn then return nil, "not connected" end
  local ok, res, err = pcall(conn.eval, conn, scripts[name], keys, args)
  if not ok then return nil, res end
  if res == nil then return nil, err end
  return res
end

-- A script call as a pipeline command (EVALSHA by the digest `connect` loaded).
function methods:script_cmd(name, keys, args)
  local cmd = { "EVALSHA", self.shas and self.shas[name] or "", #keys }
  for _, k in ipairs(keys) do cmd[#cmd + 1] = k end
  for _, a in ipairs(args) do cmd[#cmd + 1] = a end
  return cmd
end

--- Load every script into Redis (SCRIPT LOAD) so pipelines can name them by digest.
function methods:load_scripts()
  local shas = {}
  for _, name in ipairs(scripts.NAMES) do
    local sha, err = self:call("SCRIPT", "LOAD", scripts[name])
    if not sha then return nil, err end
    shas[name] = sha
  end
  self.shas = shas
  return true
end

-- A pipeline of script calls: after a Redis restart (the scripts forgotten, NOSCRIPT) they are
-- loaded again and the whole pipeline is run once more (only idempotent scripts go this way).
function methods:script_pipeline(cmds)
  local res, err = self:pipeline(cmds)
  if res == nil and is_noscript(err) then
    local ok, lerr = self:load_scripts()
    if not ok then return nil, lerr end
    res, err = self:pipeline(cmds)
  end
  return res, err
end

--- Make the consumer group (from the stream's start) unless it exists.
function methods:ensure_group()
  local ok, err = self:call("XGROUP", "CREATE", self.keys.stream, scripts.GROUP, "0", "MKSTREAM")
  if ok == nil and not tostring(type(err) == "table" and err.message or err):find("BUSYGROUP", 1, true) then
    return nil, err
  end
  return true
end

--- (Re)connect to Redis. Scripts are loaded on first use; the consumer group is made by
-- `prepare` (the workers), so an enqueue costs one round trip, even on a fresh connection.
-- @treturn boolean true, or nil and a `REDIS` error
function methods:connect()
  if self.conn and self.conn.close then pcall(self.conn.close, self.conn) end
  self.conn, self.shas = nil, nil
  local conn, err = self.connector()
  if not conn then return nil, _M.redis_error("cannot connect to Redis", err) end
  self.conn = conn
  return true
end

--- Load the scripts and make the consumer group (workers do this on every (re)connect).
-- @treturn boolean true, or nil and a `REDIS` error
function methods:prepare()
  local ok, e = self:load_scripts()
  if ok then ok, e = self:ensure_group() end
  if not ok then return nil, _M.redis_error("Redis refused the queue's setup", e) end
  return true
end

--- Open a queue.
-- @tparam table opts `redis` (a `redis://` / `rediss://` URL, or a connection from
--   `alimtalk.redis.connect`), `name` (letters, digits, `_`, `.`, `-`), `client` (the
--   alimtalk client: its pre-flight checks run on enqueue, and workers send through it),
--   `validate` (false: skip the checks at enqueue; default true when a client is given),
--   `account` (the provider account whose rate bucket and pause flag are shared; default
--   the client's provider names), `redis_options` (passed to `alimtalk.redis.connect`)
-- @treturn table the queue, or nil and an error (`REDIS` when Redis cannot be reached)
function _M.new(opts)
  config.check(opts, SPEC, "queue.new")
  if type(opts.name) ~= "string" or not opts.name:find(NAME) then
    error("queue.new: name must be letters, digits, '_', '.' or '-'", 2)
  end
  if opts.redis == nil then error("queue.new: redis (a URL or a connection) is required", 2) end
  local self = setmetatable({ name = opts.name, client = opts.client, keys = scripts.keys(opts.name),
                              validate = opts.validate ~= false and opts.client ~= nil }, mt)
  local names = opts.client and opts.client.names
  self.account = opts.account or (type(names) == "table" and table.concat(names, "+")) or opts.name
  self.account_keys = scripts.account_keys(self.account)
  if type(opts.redis) == "table" then
    local conn = opts.redis
    self.connector = function() return conn end
  else
    local url, ropts = opts.redis, opts.redis_options
    self.connector = function() return require("alimtalk.redis").connect(url, ropts) end
  end
  local ok, err = self:connect()
  if not ok then return nil, err end
  return self
end

-- Pre-flight checks and the JSON payload of a message; nil and an error when invalid.
local function prepare(self, msg, field)
  if type(msg) ~= "table" then error("queue:enqueue: the message must be a table", 3) end
  if msg.id ~= nil and (type(msg.id) ~= "string" and type(msg.id) ~= "number") then
    return nil, errors.new{ code = "BAD_OPTION", field = field .. "id", message = "id must be a string" }
  end
  local m = msg
  if msg.id == nil then
    m = {}
    for k, v in pairs(msg) do m[k] = v end
    m.id = common.serial()
  elseif type(msg.id) == "number" then
    m = {}
    for k, v in pairs(msg) do m[k] = v end
    m.id = tostring(msg.id)
  end
  if m.id == "" or #m.id > 200 or m.id:find("[%c%s]") then
    return nil, errors.new{ code = "BAD_OPTION", field = field .. "id",
                            message = "id must be 1..200 characters without spaces or control characters" }
  end
  if self.validate then
    local ok, err = self.client:validate(m)
    if not ok then
      if field ~= "" and type(err) == "table" and err.field then err.field = field .. err.field end
      return nil, err
    end
  end
  local payload, jerr = cjson.encode(m)
  if not payload then
    return nil, errors.new{ code = "BAD_OPTION", field = field:gsub("%.$", ""),
                            message = "the message cannot be stored as JSON: " .. tostring(jerr) }
  end
  return m, payload
end

local function ticket(self, id, res)
  return { queue = self.name, id = id, entry = res[2], state = res[3], duplicate = res[1] == 0 or nil }
end

--- Queue one message. It is checked first (invalid: nothing is queued), given a serial when
-- it has no `id`, and queued once per id: enqueueing the same id again returns the first
-- ticket with `duplicate = true`.
-- @tparam table msg the message (see alimtalk.message)
-- @treturn table the ticket `{ queue =, id =, entry =, state =, duplicate = }`, or nil and
--   an error (the validation error, or `REDIS`: the message was not queued)
function methods:enqueue(msg)
  local m, payload = prepare(self, msg, "")
  if not m then return nil, payload end
  local k = self.keys
  local res, err = self:script("enqueue", { k.stream, k.msg(m.id), k.counts }, { m.id, payload, now_ms() })
  if not res then
    if connection_lost(err) then
      -- one reconnect, then the caller knows it was not queued
      if self:connect() then
        res, err = self:script("enqueue", { k.stream, k.msg(m.id), k.counts }, { m.id, payload, now_ms() })
      end
    end
    if not res then return nil, _M.redis_error("not queued", err) end
  end
  return ticket(self, m.id, res)
end

-- Write script calls without waiting (the connection's `send`), so Redis runs one group of
-- messages while the next is checked and encoded; `receive` then takes every reply. A
-- connection without `send` (one the caller made) gets them all as one pipeline instead.
local function overlapped(self)
  local conn = self.conn
  return conn ~= nil and type(conn.send) == "function" and type(conn.receive) == "function"
end

local function send_cmds(self, cmds)
  local conn = self.conn
  if not conn then return nil, "not connected" end
  local ok, res, err = pcall(conn.send, conn, cmds)
  if not ok then return nil, res end
  if res == nil then return nil, err end
  return true
end

local function receive_all(self, n)
  local conn = self.conn
  local ok, res, err = pcall(conn.receive, conn)
  if not ok then return nil, res end
  if res == nil then return nil, err end
  if #res ~= n then return nil, "expected " .. n .. " replies, got " .. #res end
  return all_ok(res, n)
end

local GROUP_SIZE = 250   -- messages per script call: long enough to amortize, short for Redis

--- Queue many messages in one round trip (one script call per 250 messages, pipelined).
-- Each group of 250 goes to Redis as soon as it is checked, so Redis queues it while the next
-- one is checked.
-- @tparam table msgs list of messages
-- @treturn table one entry per message, in order: a ticket, or `{ error = err }` (invalid,
--   not queued); or nil and a `REDIS` error when the call failed (then none of the messages
--   is known to be queued: enqueueing them again is safe, ids dedupe)
function methods:enqueue_many(msgs)
  local out, cmds, at = {}, {}, {}
  local k = self.keys
  local now = now_ms()
  if not self.shas then
    local ok, lerr = self:load_scripts()
    if not ok then return nil, _M.redis_error("not queued", lerr) end
  end
  for i = 1, #msgs do   -- a misuse raises before anything is sent
    if type(msgs[i]) ~= "table" then error("queue:enqueue_many: message " .. i .. " must be a table", 2) end
  end
  local overlap = overlapped(self)
  local keys, args, list
  local failed   -- a send that failed: nothing more is sent, the call fails below
  local function close_group()
    if not keys then return end
    cmds[#cmds + 1] = self:script_cmd("enqueue_many", keys, args)
    at[#cmds] = list
    if overlap and not failed then
      local ok, err = send_cmds(self, { cmds[#cmds] })
      if not ok then failed = err end
    end
    keys = nil
  end
  local pok, perr = pcall(function()
    for i, msg in ipairs(msgs) do
      local m, payload = prepare(self, msg, "messages[" .. i .. "].")
      if not m then out[i] = { error = payload }
      else
        if keys and #list >= GROUP_SIZE then close_group() end
        if not keys then keys, args, list = { k.stream, k.counts }, { now }, {} end
        keys[#keys + 1] = k.msg(m.id)
        args[#args + 1] = m.id
        args[#args + 1] = payload
        list[#list + 1] = { i, m.id }
      end
    end
  end)
  if not pok then
    -- a check raised after some groups went out: take their replies, so the connection's next
    -- call gets its own, then raise (those groups are queued; enqueueing them again is a no-op)
    if overlap and #cmds > 0 and not failed then pcall(self.conn.receive, self.conn) end
    error(perr, 0)
  end
  close_group()
  if #cmds > 0 then
    local res, err
    if failed then res, err = nil, failed
    elseif overlap then
      res, err = receive_all(self, #cmds)
      if not res and is_noscript(err) then
        -- Redis restarted since the digests were loaded: none of these calls ran
        local ok, lerr = self:load_scripts()
        if not ok then return nil, _M.redis_error("not queued", lerr) end
        for _, c in ipairs(cmds) do c[2] = self.shas.enqueue_many end
        res, err = self:pipeline(cmds)
      end
    else
      res, err = self:script_pipeline(cmds)
    end
    if not res then return nil, _M.redis_error("not queued", err) end
    for j, r in ipairs(res) do
      for n, x in ipairs(at[j]) do
        out[x[1]] = ticket(self, x[2], { r[3 * n - 2], r[3 * n - 1], r[3 * n] })
      end
    end
  end
  return out
end

local function hash_to_table(reply)
  if type(reply) ~= "table" then return nil end
  if reply[1] == nil and next(reply) ~= nil then return reply end  -- already a map
  local t = {}
  for i = 1, #reply, 2 do t[reply[i]] = reply[i + 1] end
  return t
end
_M.hash_to_table = hash_to_table

--- What became of a message.
-- @tparam string id the message id (its ticket's `id`)
-- @treturn table `{ id =, state =, entry =, provider =, code =, message =, ids =, attempts =,
--   queued_at =, going_at =, done_at =, reason =, delivery = { status =, code =, at = } }`
--   (times in epoch milliseconds), or nil and an error (`NOT_FOUND`, `REDIS`)
function methods:result(id)
  local h, err = self:call("HGETALL", self.keys.msg(tostring(id)))
  if not h then return nil, _M.redis_error("cannot read the result", err) end
  h = hash_to_table(h)
  if not h or next(h) == nil then
    return nil, errors.new{ code = "NOT_FOUND", field = "id",
                            message = "no message with id " .. tostring(id) .. " in queue " .. self.name }
  end
  local r = { id = tostring(id), state = h.state, entry = h.entry, provider = h.provider,
              queued_at = tonumber(h.queued_at), going_at = tonumber(h.going_at),
              done_at = tonumber(h.done_at) }
  local res = h.result and cjson.decode(h.result)
  if type(res) == "table" then
    for _, f in ipairs({ "code", "message", "ids", "attempts", "reason", "duplicate", "resent",
                         "quota", "error" }) do
      r[f] = res[f]
    end
    r.provider = res.provider or r.provider
  end
  if h.delivery then
    r.delivery = { status = h.delivery, code = h.delivery_code ~= "" and h.delivery_code or nil,
                   at = h.delivery_at ~= "" and h.delivery_at or nil }
  end
  return r
end

--- The queue's counters and stream lengths.
-- @treturn table `{ queued =, accepted =, rejected =, uncertain =, not_sent =, dead =,
--   delivered =, failed =, stream =, pending =, lag =, consumers = }` (queued counts every
--   message ever queued; `pending` entries are read by a worker and not acknowledged yet,
--   `lag` not read yet), or nil and a `REDIS` error
function methods:counts()
  local k = self.keys
  local conn = self.conn
  if not conn then return nil, _M.redis_error("cannot read the counts", "not connected") end
  -- (XPENDING and XINFO answer an error before the first enqueue or worker: no stream yet)
  local ok, res, err = pcall(conn.pipeline, conn, { { "HGETALL", k.counts }, { "XLEN", k.stream },
                                   { "XPENDING", k.stream, scripts.GROUP }, { "XLEN", k.dead },
                                   { "XINFO", "GROUPS", k.stream } })
  if not ok then err, res = res, nil end
  if not res then return nil, _M.redis_error("cannot read the counts", err) end
  if type(res[1]) == "table" and res[1].err then
    return nil, _M.redis_error("cannot read the counts", res[1].err)
  end
  local c = {}
  for f, v in pairs(hash_to_table(res[1]) or {}) do c[f] = tonumber(v) end
  for _, f in ipairs({ "queued", "accepted", "rejected", "uncertain", "not_sent", "dead",
                       "delivered", "failed" }) do
    c[f] = c[f] or 0
  end
  c.stream = tonumber(res[2]) or 0
  c.pending = type(res[3]) == "table" and tonumber(res[3][1]) or 0
  c.dead_letters = tonumber(res[4]) or 0
  for _, g in ipairs(type(res[5]) == "table" and res[5] or {}) do
    local gt = hash_to_table(g) or {}
    if gt.name == scripts.GROUP then
      c.consumers = tonumber(gt.consumers)
      c.lag = tonumber(gt.lag)
    end
  end
  c.done = c.accepted + c.rejected + c.uncertain + c.not_sent
  c.waiting = c.queued - c.done
  return c
end

--- The dead-letter entries (malformed stream entries, with their reasons), oldest first.
-- @tparam[opt] number count at most this many (default 100)
-- @treturn table list of `{ entry =, reason =, fields = }`, or nil and an error
function methods:dead_letters(count)
  local res, err = self:call("XRANGE", self.keys.dead, "-", "+", "COUNT", count or 100)
  if not res then return nil, _M.redis_error("cannot read the dead letters", err) end
  local out = {}
  for _, e in ipairs(res) do
    local f = hash_to_table(e[2]) or {}
    out[#out + 1] = { id = e[1], entry = f.entry, reason = f.reason,
      fields = cjson.decode(f.fields or "null") }
  end
  return out
end

-- The message a provider id names: our serial itself (BizMessage cid, API PLEX msg_key), or
-- a provider id the store recorded (SENS messageId, BizMessage uid, Sinch message id).
local function find_id(self, ev)
  local ids = type(ev.ids) == "table" and ev.ids or {}
  for _, f in ipairs({ "cid", "msg_key", "correlation_id" }) do
    local v = ids[f] or (f == "correlation_id" and type(ev.raw) == "table" and ev.raw.correlation_id) or nil
    if v then
      local n = self:call("EXISTS", self.keys.msg(tostring(v)))
      if n == 1 then return tostring(v) end
    end
  end
  for _, f in ipairs({ "message_id", "uid", "cid", "msg_key" }) do
    if ids[f] then
      local id = self:call("HGET", self.keys.refs, tostring(ids[f]))
      if type(id) == "string" then return id end
    end
  end
  return nil
end

--- Record a delivery event (alimtalk.events, from a webhook or polling) against its message,
-- so `result(id)` shows delivered or failed.
-- @tparam table ev the event
-- @tparam[opt] string id the message id (default: found from the event's ids)
-- @treturn string the message id, or nil and an error (`NOT_FOUND`: no message of this
--   queue has the event's ids; `REDIS`)
function methods:record_event(ev, id)
  assert(type(ev) == "table", "queue:record_event: the event must be a table")
  if ev.kind ~= nil and ev.kind ~= "delivery" then
    return nil, errors.new{ code = "BAD_OPTION", field = "kind",
      message = "only delivery events are recorded" }
  end
  id = id or find_id(self, ev)
  if not id then
    return nil, errors.new{ code = "NOT_FOUND", field = "ids",
                            message = "no message of queue " .. self.name .. " has this event's ids" }
  end
  local k = self.keys
  local res, err = self:script("event", { k.msg(id), k.counts, k.results },
    { id, tostring(ev.status), ev.code ~= nil and tostring(ev.code) or "", tostring(ev.time or ""),
      cjson.encode({ status = ev.status, code = ev.code, message = ev.message, provider = ev.provider,
                     ids = ev.ids, time = ev.time, fallback = ev.fallback }) or "{}" })
  if res == nil then return nil, _M.redis_error("event not recorded", err) end
  if res == 0 then
    return nil, errors.new{ code = "NOT_FOUND", field = "id", message = "no message with id " .. id
                            .. " in queue " .. self.name }
  end
  return id
end

--- Drain the queue in this process (see alimtalk.queue.worker for the options).
function methods:work(opts)
  return require("alimtalk.queue.worker").run(self, opts or {})
end

--- Forget what is older than `keep` seconds and final: the message hashes whose latest
-- outcome is older (with their refs), the results stream and the dead-letter stream below
-- that age, and the work stream below it but never at or past an entry that is pending or
-- not read yet. Messages not final, and their entries, are never removed. An id whose message
-- was forgotten can be queued (and sent) again: ids dedupe within the retention only.
-- @tparam table opts `keep` (seconds, required), `limit` (at most this many results entries
--   per call, in chunks of 500; the work and dead-letter streams are trimmed in steps of up
--   to 10,000 entries each until one passes the limit; default all)
-- @treturn table `{ messages =, refs =, results =, stream =, dead = }` (how many were removed,
--   with `more = true` when a limit stopped it), or nil and a `REDIS` error
function methods:trim(opts)
  local res, err = require("alimtalk.queue.retention").trim(self, opts or {})
  if not res then return nil, _M.redis_error("not trimmed", err) end
  return res
end

--- Close the Redis connection (safe to call twice).
function methods:close()
  if self.conn and self.conn.close then pcall(self.conn.close, self.conn) end
  self.conn = nil
end

return _M
