--- The queue's worker loop: read the stream through the consumer group, send each batch
-- through the client, store every outcome, then acknowledge.
--
-- One round: the worker reads up to `batch` entries (its own unacknowledged ones first after a
-- start or a reconnect, then entries of dead workers idle for `min_idle` seconds, claimed with
-- XAUTOCLAIM, then new ones), looks up each message's state, and hands the messages still to
-- send to `client:send_batch`, which groups them into provider requests. Just before each
-- request leaves, its messages are marked `going` in Redis (only while this worker still owns
-- their entries); as each answer comes back its outcomes are stored and their entries
-- acknowledged in one script. Whatever Redis does not confirm is not sent: a failed mark or
-- store stops the batch, the worker stops taking work and reconnects with backoff, and the
-- outcomes it could not store are stored first once it is back.
--
-- A message found `going` was in a request when its worker died: it is in doubt. It is resent
-- under its serial only through the provider it went to, and only when that provider drops
-- duplicate serials (BizMessage, API PLEX with `dedupe_msg_key`, the sandbox's bizmessage
-- profile); otherwise it is stored `uncertain`, to be reconciled by query.
--
-- An entry read again from a pending list (claimed, or this worker's own after a restart)
-- after more than `max_deliveries` deliveries is not processed again: its processing may be
-- what stops the workers. Queued, it goes to the dead letters and its message is stored
-- `not_sent`; in doubt, it is stored `uncertain` without a resend. (A re-read of its own
-- entries that this process read before, after a lost connection or a stopped batch, is set
-- one back: it came back to a live worker.) With `keep`, the worker also trims the queue
-- every so often (alimtalk.queue.retention).
-- @module alimtalk.queue.worker
local cjson = require("cjson.safe")
local scripts = require "alimtalk.queue.scripts"
local queue_mod = require "alimtalk.queue"
local retry = require "alimtalk.retry"
local errors = require "alimtalk.errors"
local config = require "alimtalk.config"

local _M = {}

-- results (and work entries, dead letters) forgotten at most per trim of a worker's round
_M.TRIM_LIMIT = 10000

local hash_to_table = queue_mod.hash_to_table
local now_ms = queue_mod.now_ms
local FINAL = scripts.FINAL
local GROUP = scripts.GROUP

local OPTS = {
  consumer = "string", batch = "number", block = "number", min_idle = "number",
  concurrency = "number", rate = "number", burst = "number", quota_pause = "number",
  dedupes = "boolean", stop = "function", until_empty = "boolean", idle_exit = "number",
  max_messages = "number", log = "function", reconnect_max = "number", give_up = "number",
  sleep = "function", max_deliveries = "number", keep = "number", stop_grace = "number",
}

local function clock()
  return require("alimtalk.core").monotonic()
end

local function hostname()
  local f = io.open("/proc/sys/kernel/hostname", "r")
  local h = f and f:read("l")
  if f then f:close() end
  return h or "host"
end

local function pid()
  local f = io.open("/proc/self/stat", "r")
  local s = f and f:read("l")
  if f then f:close() end
  return s and s:match("^(%d+)") or tostring(math.random(1, 1e9))
end

-- 6 hex digits from /dev/urandom (math.random where it cannot be read)
local function suffix()
  local f = io.open("/dev/urandom", "rb")
  local b = f and f:read(3)
  if f then f:close() end
  if not b or #b ~= 3 then return string.format("%06x", math.random(0, 0xffffff)) end
  return string.format("%02x%02x%02x", b:byte(1, 3))
end

--- The default consumer name: host, process id and a random suffix, so that two live workers
-- never share one (a pid reused in another container, a second `queue:work` in one process).
function _M.consumer_name()
  return hostname() .. ":" .. pid() .. ":" .. suffix()
end

-- A Redis failure inside a send_batch hook: raised to stop the batch (nothing more is sent),
-- caught by the worker.
local LOST = { __name = "alimtalk.queue.lost" }
local CLAIMED = { __name = "alimtalk.queue.claimed" }

local function log(w, ...)
  if w.opts.log then w.opts.log(table.concat({ ... })) end
end

local function short(e)
  return type(e) == "table" and (e.message or tostring(e)) or tostring(e)
end

-- ---------------------------------------------------------------------------------------
-- Entries this process holds

-- `w.mine`: the entries this process read whose delivery count still includes that read.
-- Read again from its own list (after a lost connection, a stopped batch), such an entry's
-- count is set one back (`setback`): it came back to a live worker. An entry leaves the set
-- once finished; past MINE_MAX the set is emptied (a re-read then counts, as after a start).
local MINE_MAX = 100000

local function hold(w, list)
  for _, e in ipairs(list) do
    local eid = type(e) == "table" and e[1]
    if type(eid) == "string" and not w.mine[eid] then
      if w.mine_n >= MINE_MAX then w.mine, w.mine_n = {}, 0 end
      w.mine[eid] = true
      w.mine_n = w.mine_n + 1
    end
  end
end

local function release(w, eid)
  if w.mine[eid] then
    w.mine[eid] = nil
    w.mine_n = w.mine_n - 1
  end
end

-- ---------------------------------------------------------------------------------------
-- Storing outcomes

local function result_json(r, reason)
  local e = r.error
  return cjson.encode({
    status = r.status, provider = r.provider, code = r.code, message = r.message, ids = r.ids,
    attempts = r.attempts, duplicate = r.duplicate, resent = r.resent, quota = r.quota,
    retry_after = r.retry_after, reason = reason or r.reason,
    -- (the field without the worker's batch position, which says nothing to the caller)
    error = type(e) == "table" and { code = e.code, message = e.message,
      field = type(e.field) == "string" and e.field:gsub("^messages%[%d+%]%.", "") or e.field } or nil,
  }) or '{"status":"' .. tostring(r.status) .. '"}'
end

local function refs_of(r)
  local ids = type(r.ids) == "table" and r.ids or {}
  local out = {}
  for _, f in ipairs({ "message_id", "uid" }) do
    local v = ids[f]
    if v ~= nil and tostring(v):find("^%S+$") then out[#out + 1] = tostring(v) end
  end
  return table.concat(out, " ")
end

-- A store row for item `it` with final result `r`.
local function row(it, r, reason)
  return { eid = it.eid, id = it.id, status = r.status, json = result_json(r, reason), refs = refs_of(r) }
end

-- Store rows (outcome + ack, atomically per call). nil, err when Redis did not confirm.
local function store(w, rows)
  if #rows == 0 then return true end
  local q, k = w.q, w.q.keys
  local keys, args = { k.stream, k.results, k.counts, k.refs }, { GROUP, now_ms() }
  for _, x in ipairs(rows) do
    keys[#keys + 1] = k.msg(x.id)
    args[#args + 1] = x.eid
    args[#args + 1] = x.id
    args[#args + 1] = x.status
    args[#args + 1] = x.json
    args[#args + 1] = x.refs
  end
  local res, err = q:script("store", keys, args)
  if res == nil then return nil, err end
  for _, x in ipairs(rows) do
    w.stats[x.status] = (w.stats[x.status] or 0) + 1
    w.stats.done = w.stats.done + 1
    release(w, x.eid)
  end
  return true
end

-- Rows that could not be stored are kept, and stored first when Redis is back.
local function store_or_keep(w, rows)
  local ok, err = store(w, rows)
  if not ok then
    for _, x in ipairs(rows) do w.unsaved[#w.unsaved + 1] = x end
  end
  return ok, err
end

local function dead(w, eid, reason, fields)
  local k = w.q.keys
  local res, err = w.q:script("dead", { k.stream, k.dead, k.counts },
                              { GROUP, eid, reason, cjson.encode(fields or {}) or "{}" })
  if res == nil then return nil, err end
  w.stats.dead = w.stats.dead + 1
  release(w, eid)
  log(w, "dead-letter ", eid, ": ", reason)
  return true
end

-- A poison entry: delivered `n` times while its message stayed queued (its processing keeps
-- killing workers). Dead-lettered, its message stored not_sent; left as it is when the script
-- finds the entry claimed away or the message no longer queued.
local function poison(w, it, n)
  local k = w.q.keys
  local reason = "delivered " .. n .. " times (more than max_deliveries " .. w.opts.max_deliveries
    .. ") without an outcome: its processing may be stopping workers; not sent"
  local json = result_json({ status = "not_sent", code = "MAX_DELIVERIES", message = reason })
  local res, err = w.q:script("poison", { k.stream, k.dead, k.counts, k.results, k.msg(it.id) },
    { GROUP, w.consumer, it.eid, it.id, reason, cjson.encode(it.fields) or "{}", now_ms(), json })
  if res == nil then return nil, err end
  if res == 1 then
    w.stats.dead = w.stats.dead + 1
    w.stats.not_sent = w.stats.not_sent + 1
    w.stats.done = w.stats.done + 1
    release(w, it.eid)
    log(w, "dead-letter ", it.eid, " (message ", it.id, "): ", reason)
  end
  return true
end

-- ---------------------------------------------------------------------------------------
-- Reading

local function entries_of(reply)
  -- XREADGROUP: { { stream, { { id, fields }, ... } } } (or null on timeout)
  if type(reply) ~= "table" then return {} end
  local s = reply[1]
  if type(s) ~= "table" then
    -- a map keyed by stream name (RESP3 style)
    local _, v = next(reply)
    return type(v) == "table" and v or {}
  end
  return type(s[2]) == "table" and s[2] or {}
end

-- How often each entry of `list` was delivered (XPENDING's count), for entries read from a
-- pending list (this consumer's own, or claimed): one XPENDING over their range, narrowed to
-- this consumer. Own entries are a contiguous run of its pending list, and a claim happens only
-- once the own ones are all processed, so the reply is exactly these entries; one left out
-- would only go unchecked this round. Nil when Redis did not answer (checked next time).
local function deliveries(w, list)
  local q = w.q
  if #list == 0 or w.opts.max_deliveries == math.huge then return nil end
  local res = q:call("XPENDING", q.keys.stream, GROUP, list[1][1], list[#list][1], #list, w.consumer)
  if type(res) ~= "table" then return nil end
  local out = {}
  for _, p in ipairs(res) do
    if type(p) == "table" and type(p[1]) == "string" then out[p[1]] = tonumber(p[4]) end
  end
  return out
end

-- The next entries: a list, nil, and the delivery counts of those read from a pending list
-- (or nil and an error).
local function read(w)
  local q, k, o = w.q, w.q.keys, w.opts
  if w.own then
    -- after a start or a reconnect: this consumer's own unacknowledged entries first
    local res, err = q:call("XREADGROUP", "GROUP", GROUP, w.consumer, "COUNT", o.batch,
                            "STREAMS", k.stream, w.own_from)
    if res == nil and err ~= nil then return nil, err end
    local list = entries_of(res)
    if #list > 0 then
      w.own_from = list[#list][1]
      -- those this process read before came back to it alive: not one more delivery
      local args = { GROUP, w.consumer }
      for _, e in ipairs(list) do
        if w.mine[e[1]] then args[#args + 1] = e[1] end
      end
      if #args > 2 then
        local sres, serr = q:script("setback", { k.stream }, args)
        if sres == nil then return nil, serr end
      end
      hold(w, list)
      return list, nil, deliveries(w, list)
    end
    w.own, w.own_from = false, "0"
  end
  local t = clock()
  if t >= w.next_claim then
    w.next_claim = t + w.claim_every
    local res, err = q:call("XAUTOCLAIM", k.stream, GROUP, w.consumer, math.floor(o.min_idle * 1000),
                            w.claim_cursor, "COUNT", o.batch)
    if res == nil and err ~= nil then return nil, err end
    if type(res) == "table" then
      w.claim_cursor = type(res[1]) == "string" and res[1] or "0-0"
      local list = type(res[2]) == "table" and res[2] or {}
      if w.claim_cursor ~= "0-0" then w.next_claim = t end   -- more to claim: go on next round
      if #list > 0 then
        w.stats.claimed = w.stats.claimed + #list
        log(w, "claimed ", #list, " entries idle for ", o.min_idle, " s or more")
        hold(w, list)
        return list, nil, deliveries(w, list)
      end
    end
  end
  local res, err = q:call("XREADGROUP", "GROUP", GROUP, w.consumer, "COUNT", o.batch,
                          "BLOCK", math.floor(o.block * 1000), "STREAMS", k.stream, ">")
  if res == nil and err ~= nil then return nil, err end
  local list = entries_of(res)
  hold(w, list)
  return list
end

-- ---------------------------------------------------------------------------------------
-- Sending

-- Whether a message in doubt at provider `p` may be resent under its serial now.
local function may_resend(w, p)
  local client = w.q.client
  if p == nil or p == "" or #client.names ~= 1 or client.names[1] ~= p then return false end
  if w.opts.dedupes ~= nil then return w.opts.dedupes end
  local prov = client:provider(p)
  return type(prov) == "table" and prov.dedupes == true
end

local function in_doubt_result(it, r, what)
  local d = {}
  for k, v in pairs(r or {}) do d[k] = v end
  d.status = "uncertain"
  d.provider = d.provider or it.provider
  return d, "a worker stopped while its request may have been on the wire; " .. what
end

-- Pause every worker of the account: quota answer or Retry-After.
local function pause(w, seconds, why)
  local ak = w.q.account_keys
  local res, err = w.q:script("pause", { ak.pause }, { math.max(1, math.floor(seconds * 1000)), why })
  if res == nil then return nil, err end
  if res == 1 then log(w, "pausing account ", w.q.account, " for ", seconds, " s: ", why) end
  return true
end

-- The final result of a message, with its reason, or nil when it goes back to the queue.
local function final_of(it, r)
  if type(r) ~= "table" or r.status == nil then
    r = { status = "uncertain", code = "NO_RESULT", message = "the client gave no result" }
  end
  if r.status == "accepted" and r.duplicate and not (it.in_doubt or r.resent) then
    -- the provider already had this serial, and not from this message: another message (or
    -- queue) used the id, and this one was not delivered
    local d = {}
    for k, v in pairs(r) do d[k] = v end
    d.status, d.duplicate, d.provider_code, d.code = "rejected", nil, r.code, "DUPLICATE_ID"
    d.message = tostring(r.provider) .. " already has serial " .. it.id
      .. " from another message; this one was not delivered"
    return d
  end
  if r.status == "not_sent" and it.in_doubt then
    return in_doubt_result(it, r, "its resend did not go out now (" .. tostring(r.code) .. ")")
  end
  return r
end

local function send(w, list)
  local q, o = w.q, w.opts
  local client, k = q.client, q.keys
  if o.rate and o.rate > 0 then
    local res, err = q:script("reserve", { q.account_keys.bucket }, { o.rate, o.burst, #list })
    if res == nil then return nil, err end
    local wait = tonumber(res) or 0
    if wait > 0 then w.sleep(wait) end
  end
  local msgs = {}
  for i, it in ipairs(list) do msgs[i] = it.msg end
  local stored = {}
  local function before_send(pname, l)
    local keys, args = { k.stream }, { GROUP, w.consumer, pname, now_ms() }
    for _, x in ipairs(l) do
      local it = list[x.index]
      keys[#keys + 1] = k.msg(it.id)
      args[#args + 1] = it.eid
    end
    local res, err = q:script("going", keys, args)
    if res == nil then error(setmetatable({ err = err }, LOST)) end
    if type(res) == "table" and #res > 0 then error(setmetatable({ n = #res }, CLAIMED)) end
    for _, x in ipairs(l) do list[x.index].provider = pname end
  end
  local function after_response(_, l)
    local rows = {}
    for _, x in ipairs(l) do
      local r = x.result
      if r.status == "accepted" or r.status == "rejected" or r.status == "uncertain" then
        local it = list[x.index]
        local f, reason = final_of(it, r)
        rows[#rows + 1] = row(it, f, reason)
        stored[x.index] = true
      end
    end
    local ok, err = store_or_keep(w, rows)
    if not ok then error(setmetatable({ err = err }, LOST)) end
  end
  local ok, results = pcall(client.send_batch, client, msgs,
    { concurrency = o.concurrency, before_send = before_send, after_response = after_response })
  w.stats.batches = w.stats.batches + 1
  if not ok then
    local m = getmetatable(results)
    -- the requests of this batch already marked going are in this worker's pending list:
    -- they are looked at again (in doubt) once it reads its own entries
    w.own, w.own_from = true, "0"
    if m == LOST then return nil, results.err end
    if m == CLAIMED then
      log(w, "stopped a batch: ", results.n, " of its entries are no longer this worker's"
        .. " (claimed by another worker)")
      return true
    end
    error(results, 0)
  end
  local rows, requeue, paused = {}, {}, nil
  for i, it in ipairs(list) do
    if not stored[i] then
      local r = results[i]
      if type(r) == "table" and r.status == "not_sent" and (r.quota or r.retry_after) then
        requeue[#requeue + 1] = it
        local secs = r.quota and o.quota_pause or r.retry_after
        if not paused or secs > paused[1] then
          paused = { secs, (r.quota and "quota " or "retry-after ") .. tostring(r.code) .. " at "
            .. tostring(r.provider) }
        end
      else
        local f, reason = final_of(it, r)
        rows[#rows + 1] = row(it, f, reason)
      end
    end
  end
  local sok, serr = store_or_keep(w, rows)
  if not sok then return nil, serr end
  if #requeue > 0 then
    -- certainly not sent: back to queued (those in doubt stay going), left unacknowledged
    -- in this worker's pending list, read again once the pause is over; only those this
    -- worker still owns (another may have claimed one meanwhile and marked it going)
    local keys, args = { k.stream }, { GROUP, w.consumer }
    for _, it in ipairs(requeue) do
      keys[#keys + 1] = k.msg(it.id)
      args[#args + 1] = it.eid
      args[#args + 1] = it.in_doubt and "0" or "1"
    end
    local res, err = q:script("requeue", keys, args)
    if res == nil then return nil, err end
    -- (requeue set their counts back itself)
    for _, it in ipairs(requeue) do release(w, it.eid) end
    local pok, perr = pause(w, paused[1], paused[2])
    if not pok then return nil, perr end
    w.own, w.own_from = true, "0"
    w.stats.requeued = w.stats.requeued + (tonumber(res) or 0)
  end
  return true
end

-- One round over read entries: dead-letter the malformed ones, ack those already done, put
-- the in-doubt ones aside, send the rest. `counts` (entry id -> deliveries, for entries read
-- from a pending list) catches the entries delivered more than `max_deliveries` times.
local function process(w, entries, counts)
  local q, k = w.q, w.q.keys
  local items, acks, seen = {}, {}, {}
  for _, e in ipairs(entries) do
    local eid = type(e) == "table" and e[1]
    if type(eid) == "string" and not seen[eid] then
      seen[eid] = true
      local f = type(e[2]) == "table" and hash_to_table(e[2]) or nil
      if not f then
        acks[#acks + 1] = eid   -- the entry was deleted from the stream (XDEL/XTRIM)
      elseif type(f.id) ~= "string" or f.id == "" or type(f.msg) ~= "string" then
        local ok, err = dead(w, eid, "malformed entry: needs the fields 'id' and 'msg'", f)
        if not ok then return nil, err end
      else
        local msg, jerr = cjson.decode(f.msg)
        if type(msg) ~= "table" then
          local ok, err = dead(w, eid, "malformed entry: 'msg' is not a JSON object ("
                               .. tostring(jerr or type(msg)) .. ")", f)
          if not ok then return nil, err end
        elseif tostring(msg.id) ~= f.id then
          local ok, err = dead(w, eid, "malformed entry: 'msg.id' is not the entry's id " .. f.id, f)
          if not ok then return nil, err end
        else
          items[#items + 1] = { eid = eid, id = f.id, msg = msg, fields = f }
        end
      end
    end
  end
  if #items > 0 then
    local cmds = {}
    for i, it in ipairs(items) do cmds[i] = { "HMGET", k.msg(it.id), "state", "entry", "provider" } end
    local res, err = q:pipeline(cmds)
    if not res then return nil, err end
    local todo, rows = {}, {}
    local max = w.opts.max_deliveries
    for i, it in ipairs(items) do
      local h = res[i] or {}
      local state, entry, prov = h[1], h[2], h[3]
      local n = counts and counts[it.eid]
      local over = n ~= nil and n > max
      if type(state) ~= "string" then
        local ok, derr = dead(w, it.eid, "no record of message " .. it.id
          .. ": not queued by queue:enqueue", it.fields)
        if not ok then return nil, derr end
      elseif entry ~= it.eid then
        local ok, derr = dead(w, it.eid, "a second entry for message " .. it.id .. " (queued as "
                              .. tostring(entry) .. "): not sent again", it.fields)
        if not ok then return nil, derr end
      elseif FINAL[state] then
        acks[#acks + 1] = it.eid   -- its outcome is stored: only the ack was missing
      elseif state == "going" and over then
        -- in doubt and delivered too often: not resent again (each resend may be what stops
        -- the workers), and not dead-lettered either (it may have been sent)
        it.provider = type(prov) == "string" and prov or nil
        local r, reason = in_doubt_result(it, { code = "IN_DOUBT", message = "may have been sent" },
          "delivered " .. n .. " times (more than max_deliveries " .. max .. "): not resent again;"
            .. " reconcile by query")
        rows[#rows + 1] = row(it, r, reason)
      elseif state == "going" then
        it.provider = type(prov) == "string" and prov or nil
        if may_resend(w, it.provider) then
          it.in_doubt = true
          todo[#todo + 1] = it
          w.stats.in_doubt = w.stats.in_doubt + 1
        else
          local r, reason = in_doubt_result(it, { code = "IN_DOUBT", message = "may have been sent" },
            tostring(it.provider)
              .. " does not drop duplicate serials (or it was routed): reconcile by query")
          rows[#rows + 1] = row(it, r, reason)
        end
      elseif over then
        local ok, perr = poison(w, it, n)
        if not ok then return nil, perr end
      else
        todo[#todo + 1] = it
      end
    end
    local ok, serr = store_or_keep(w, rows)
    if not ok then return nil, serr end
    if #todo > 0 then
      local sok, e2 = send(w, todo)
      if not sok then return nil, e2 end
    end
  end
  if #acks > 0 then
    local res, err = q:call("XACK", k.stream, GROUP,
      table.unpack and table.unpack(acks) or unpack(acks)) -- luacheck: ignore 143
    if res == nil then return nil, err end
    for _, eid in ipairs(acks) do release(w, eid) end
  end
  return true
end

-- ---------------------------------------------------------------------------------------
-- The loop

local function stopping(w)
  if w.opts.stop and w.opts.stop() then return true end
  if w.opts.max_messages and w.stats.done >= w.opts.max_messages then return true end
  return false
end

-- Reconnect with exponential backoff (jittered), storing the kept outcomes first. A stop ends
-- it at once when nothing is kept; with outcomes kept (answers the provider gave: dropped,
-- their messages would stay in doubt) it goes on until `stop_grace` seconds after the stop.
local function reconnect(w)
  local delay = 0.1
  local t0 = clock()
  while true do
    if stopping(w) then
      if #w.unsaved == 0 then return true end
      w.stop_at = w.stop_at or clock() + w.opts.stop_grace
      if clock() >= w.stop_at then return true end
    end
    local ok, err = w.q:connect()
    if ok then ok, err = w.q:prepare() end
    if ok and #w.unsaved > 0 then
      local rows = w.unsaved
      w.unsaved = {}
      ok, err = store_or_keep(w, rows)
      if ok then log(w, "stored ", #rows, " outcomes kept while Redis was away") end
    end
    if ok then
      w.own, w.own_from = true, "0"
      w.stats.reconnects = w.stats.reconnects + 1
      log(w, "reconnected to Redis")
      return true
    end
    if w.opts.give_up and clock() - t0 > w.opts.give_up then return nil, err end
    local d = delay / 2 + math.random() * delay / 2
    if w.stop_at then d = math.max(0, math.min(d, w.stop_at - clock())) end
    log(w, "Redis unavailable (", short(err), "); retrying in ", string.format("%.1f", d), " s")
    w.sleep(d)
    delay = math.min(delay * 2, w.opts.reconnect_max)
  end
end

-- Retention (`keep`): trim the queue every so often, a bounded amount per round, and again
-- on the next round while a trim stops at its limit (a busy queue). A failure is only logged:
-- a lost connection shows in the round's next command.
local function trim(w)
  local o = w.opts
  w.next_trim = clock() + math.max(1, math.min(60, o.keep / 4))
  local res, err = w.q:trim{ keep = o.keep, limit = _M.TRIM_LIMIT }
  if not res then log(w, "trim failed: ", short(err)) return end
  if res.more then w.next_trim = clock() end
  if res.messages + res.stream + res.results + res.dead > 0 then
    log(w, "trimmed ", res.messages, " messages, ", res.stream, " work entries, ", res.results,
        " results, ", res.dead, " dead letters older than ", o.keep, " s")
  end
end

-- A worker that stops with an empty pending list leaves the group, so the names of stopped
-- workers do not pile up in it. Only an empty list (XGROUP DELCONSUMER drops the entries a
-- consumer holds), checked in the same script that removes the name.
local function leave(w)
  if not w.q.conn or #w.unsaved > 0 then return end
  if w.q:script("leave", { w.q.keys.stream }, { GROUP, w.consumer }) == 1 then
    w.stats.left_group = true
  end
end

local function drained(w)
  local c = w.q:counts()
  return c ~= nil and c.waiting <= 0 and (c.lag or 0) == 0 and c.pending == 0
end

--- Drain a queue in this process until told to stop.
-- @tparam table q the queue (alimtalk.queue; its `client` sends)
-- @tparam table opts `consumer` (name in the group, unique among live workers; default
--   host:pid:random), `batch` (entries per
--   round, default 100), `block` (seconds to wait for new entries, default 1), `min_idle`
--   (seconds an entry of another worker must be idle before it is claimed, default 60: more
--   than a request can take), `concurrency` (requests in flight, the client's by default),
--   `rate` (messages per second for the whole account, shared by every worker through Redis)
--   and `burst` (bucket size, default rate / 10, at least 1), `quota_pause` (seconds every
--   worker pauses after a quota answer, default 60), `dedupes` (whether the provider drops
--   duplicate serials; default its provider object's word), `stop` (function: true stops the
--   loop), `until_empty` (stop once nothing is waiting), `idle_exit` (stop after this many
--   seconds without work), `max_messages` (stop after storing this many outcomes), `log`
--   (function(line) for what the worker does), `reconnect_max` (longest wait between
--   reconnects, default 5 s), `give_up` (seconds without Redis before returning an error;
--   default never), `max_deliveries` (an entry read from a pending list after more deliveries
--   than this is not processed again: dead-lettered and stored `not_sent` when its message is
--   `queued`, stored `uncertain` when it is `going`; default 10, `math.huge` never),
--   `keep` (seconds of retention, at least `min_idle`: every `min(60, max(1, keep/4))` seconds
--   the worker runs `queue:trim{ keep = }`; default no trimming), `stop_grace` (seconds a
--   stopped worker goes on trying to reach Redis to store the outcomes it holds, default 10)
-- @treturn table stats `{ done =, accepted =, ..., batches =, claimed =, dead =, in_doubt =,
--   requeued =, reconnects = }`, with `unsaved = n` when it stopped holding n outcomes it could
--   not store (their messages stay `going`, in doubt), or nil and an error (misuse raises)
function _M.run(q, opts)
  config.check(opts, OPTS, "queue:work")
  if not q.client then error("queue:work: the queue needs a client (queue.new{ client = })", 2) end
  local o = {}
  for key, v in pairs(opts) do o[key] = v end
  o.batch = o.batch or 100
  o.block = o.block or 1
  o.min_idle = o.min_idle or 60
  o.quota_pause = o.quota_pause or 60
  o.reconnect_max = o.reconnect_max or 5
  o.max_deliveries = o.max_deliveries or 10
  o.stop_grace = o.stop_grace or 10
  if o.rate then o.burst = o.burst or math.max(1, o.rate / 10) end
  assert(o.batch >= 1, "queue:work: batch must be >= 1")
  assert(o.max_deliveries >= 1, "queue:work: max_deliveries must be >= 1")
  assert(o.keep == nil or o.keep >= 0, "queue:work: keep must be >= 0")
  if o.keep and o.keep < o.min_idle then
    -- a late answer comes up to about min_idle after another worker stored its message
    -- uncertain; forgotten sooner, the answer would only be acked
    error(string.format("queue:work: keep (%g s) must be at least min_idle (%g s)", o.keep, o.min_idle), 2)
  end
  local w = { q = q, opts = o, consumer = o.consumer or _M.consumer_name(), own = true, own_from = "0",
              unsaved = {}, mine = {}, mine_n = 0, next_claim = 0, claim_cursor = "0-0", next_trim = 0,
              claim_every = math.max(0.2, math.min(5, o.min_idle / 4)),
              sleep = o.sleep or retry.sleep,
              stats = { done = 0, batches = 0, claimed = 0, dead = 0, in_doubt = 0, requeued = 0,
                        reconnects = 0, accepted = 0, rejected = 0, uncertain = 0, not_sent = 0 } }
  local pok, perr = q:prepare()
  if not pok then
    log(w, "cannot set up the queue: ", short(perr))
    q:close()
  end
  local idle_since = clock()
  while not stopping(w) do
    if not q.conn or #w.unsaved > 0 then
      local ok, err = reconnect(w)
      if not ok then
        local n = #w.unsaved
        return nil, queue_mod.redis_error("worker gave up" .. (n > 0 and (" holding " .. n
          .. " outcomes it could not store (their messages stay going, in doubt)") or ""), err)
      end
      if stopping(w) then break end
    end
    local ttl, terr = q:call("PTTL", q.account_keys.pause)
    if ttl == nil and terr ~= nil then
      log(w, "lost Redis: ", short(terr))
      q:close()
    elseif tonumber(ttl) and tonumber(ttl) > 0 then
      w.sleep(math.min(tonumber(ttl) / 1000, 1))
      idle_since = clock()
    else
      if o.keep and clock() >= w.next_trim then trim(w) end
      local list, err, counts = read(w)
      if not list then
        log(w, "lost Redis: ", short(err))
        q:close()
      elseif #list == 0 then
        if o.until_empty and drained(w) then break end
        if o.idle_exit and clock() - idle_since > o.idle_exit then break end
      else
        idle_since = clock()
        local ok, perr2 = process(w, list, counts)
        if not ok then
          log(w, "lost Redis: ", short(perr2), " (nothing more is sent until it is back)")
          q:close()
        end
      end
    end
  end
  -- stopped while holding outcomes (a stop seen before the reconnect): one bounded try more
  if #w.unsaved > 0 then reconnect(w) end
  leave(w)
  if #w.unsaved > 0 then
    w.stats.unsaved = #w.unsaved
    log(w, "stopped holding ", #w.unsaved, " outcomes it could not store: their messages stay going")
  end
  return w.stats
end

_M.errors = errors

return _M
