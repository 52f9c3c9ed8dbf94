--- The queue's Redis keys and the Lua scripts that change them atomically.
--
-- Every key of a queue carries the hash tag `{NAME}`, so on Redis Cluster one queue lives in
-- one slot and each script below touches one slot only (docs/scale-out.md):
--
--     alimtalk:{NAME}:stream    work stream (fields `id`, `msg` = the message as JSON)
--     alimtalk:{NAME}:m:ID      one hash per message: state, entry, provider, result (with its
--                               results entry `result_entry` and provider `refs`), delivery
--     alimtalk:{NAME}:counts    hash of counters (queued, accepted, ..., dead, delivered, failed)
--     alimtalk:{NAME}:results   results stream (id, status, entry) in the order outcomes landed
--     alimtalk:{NAME}:dead      dead-letter stream (entry, reason, the raw fields)
--     alimtalk:{NAME}:refs      provider id (SENS messageId, BizMessage uid, ...) -> message id
--     alimtalk:{ACCOUNT}:bucket token bucket of a provider account (shared by every queue)
--     alimtalk:{ACCOUNT}:pause  set while the account is paused (quota, Retry-After)
--
-- A message's `state` is `queued`, `going` (its request may be on the wire), or final:
-- `accepted`, `rejected`, `uncertain`, `not_sent`.
-- @module alimtalk.queue.scripts
local _M = {}

_M.GROUP = "workers"
_M.FINAL = { accepted = true, rejected = true, uncertain = true, not_sent = true }

--- The keys of queue `name`.
-- @tparam string name queue name
-- @treturn table `stream`, `counts`, `results`, `dead`, `refs` and `msg(id)`
function _M.keys(name)
  local p = "alimtalk:{" .. name .. "}:"
  return { prefix = p, stream = p .. "stream", counts = p .. "counts", results = p .. "results",
           dead = p .. "dead", refs = p .. "refs",
           msg = function(id) return p .. "m:" .. id end }
end

--- The keys of a provider account (rate bucket and pause flag).
function _M.account_keys(account)
  local p = "alimtalk:{" .. account .. "}:"
  return { bucket = p .. "bucket", pause = p .. "pause" }
end

-- Enqueue one message, once per id.
-- KEYS: stream, message hash, counts. ARGV: id, message JSON, now (ms).
-- Returns { 1 (new) | 0 (already queued), entry id, state }.
_M.enqueue = [[
local e = redis.call('HGET', KEYS[2], 'entry')
if e then return { 0, e, redis.call('HGET', KEYS[2], 'state') or '' } end
local eid = redis.call('XADD', KEYS[1], '*', 'id', ARGV[1], 'msg', ARGV[2])
redis.call('HSET', KEYS[2], 'state', 'queued', 'entry', eid, 'queued_at', ARGV[3])
redis.call('HINCRBY', KEYS[3], 'queued', 1)
return { 1, eid, 'queued' }
]]

-- Enqueue many messages in one call (each once per id), for pipelined loading.
-- KEYS: stream, counts, message hashes... ARGV: now (ms), then id and JSON per message.
-- Returns { new (1|0), entry id, state } per message, flattened.
_M.enqueue_many = [[
local out, added = {}, 0
for i = 3, #KEYS do
  local id, payload = ARGV[2 * (i - 3) + 2], ARGV[2 * (i - 3) + 3]
  local e = redis.call('HGET', KEYS[i], 'entry')
  if e then
    out[#out + 1] = 0
    out[#out + 1] = e
    out[#out + 1] = redis.call('HGET', KEYS[i], 'state') or ''
  else
    local eid = redis.call('XADD', KEYS[1], '*', 'id', id, 'msg', payload)
    redis.call('HSET', KEYS[i], 'state', 'queued', 'entry', eid, 'queued_at', ARGV[1])
    added = added + 1
    out[#out + 1] = 1
    out[#out + 1] = eid
    out[#out + 1] = 'queued'
  end
end
if added > 0 then redis.call('HINCRBY', KEYS[2], 'queued', added) end
return out
]]

-- Mark a request's messages as going, only if this consumer still owns every entry (another
-- worker may have claimed them meanwhile: then nothing is marked, and nothing may be sent) and
-- each hash is still its entry's (as every script here that writes a message hash checks).
-- KEYS: stream, message hashes... ARGV: group, consumer, provider, now (ms), entry ids...
-- Returns the positions (1-based) of the entries refused (empty: all marked).
_M.going = [[
local refused = {}
for i = 2, #KEYS do
  local eid = ARGV[3 + i]
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], eid, eid, 1)
  if p[1] == nil or p[1][2] ~= ARGV[2] or redis.call('HGET', KEYS[i], 'entry') ~= eid then
    refused[#refused + 1] = i - 1
  end
end
if #refused > 0 then return refused end
for i = 2, #KEYS do
  redis.call('HSET', KEYS[i], 'state', 'going', 'provider', ARGV[3], 'going_at', ARGV[4],
             'worker', ARGV[2])
end
return refused
]]

-- Store outcomes, then acknowledge their entries, in one step: an entry is never acked
-- without its outcome. A final outcome is not replaced, except `uncertain` by an answer
-- (a worker that was only slow may report after another one gave up on it). An outcome is
-- stored only on the hash whose `entry` is the entry it answers: a hash that is gone (expired
-- by `trim` after a split longer than its retention), or that belongs to a newer message
-- queued under the same id since, gets only the ack (storing there would count the message a
-- second time, or mark the newer one final unsent).
-- KEYS: stream, results, counts, refs, message hashes... ARGV: group, now (ms), then per
-- message 5 values: entry id, message id, status, result JSON, provider refs ("a b c").
-- Returns the number of outcomes stored.
_M.store = [[
local stored = 0
for i = 5, #KEYS do
  local b = 2 + (i - 5) * 5
  local eid, id, status, res, refs = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5]
  local h = redis.call('HMGET', KEYS[i], 'state', 'entry')
  local cur = h[2] == eid and h[1] or nil
  local final = cur == 'accepted' or cur == 'rejected' or cur == 'uncertain' or cur == 'not_sent'
  if cur and (not final or (cur == 'uncertain' and status ~= 'uncertain' and status ~= 'not_sent')) then
    local rid = redis.call('XADD', KEYS[2], '*', 'id', id, 'status', status, 'entry', eid)
    redis.call('HSET', KEYS[i], 'state', status, 'result', res, 'done_at', ARGV[2], 'result_entry', rid)
    if refs ~= '' then redis.call('HSET', KEYS[i], 'refs', refs) end
    if final then redis.call('HINCRBY', KEYS[3], cur, -1) end
    redis.call('HINCRBY', KEYS[3], status, 1)
    for ref in string.gmatch(refs, '%S+') do redis.call('HSET', KEYS[4], ref, id) end
    stored = stored + 1
  end
  redis.call('XACK', KEYS[1], ARGV[1], eid)
end
return stored
]]

-- Set messages the provider did not take (quota, Retry-After) back to `queued`, leaving their
-- entries unacknowledged in this consumer's pending list. Only entries this consumer still
-- owns are touched (another worker may have claimed one meanwhile and marked it going: that
-- mark must stay), and only a message that is `queued`, or `going` by this consumer, is set
-- back, and only while its hash is this entry's (`entry`). Messages in doubt (flag 0: an
-- earlier request may have been sent) keep `going`. The
-- delivery count of each owned entry is set one back, so the read after the pause does not
-- count as one more delivery (`max_deliveries` counts the deliveries that did not come back).
-- KEYS: stream, message hashes... ARGV: group, consumer, then per message: entry id, flag
-- (1: set back to queued, 0: in doubt, keep going).
-- Returns the number of messages set back.
_M.requeue = [[
local n = 0
for i = 2, #KEYS do
  local eid, back = ARGV[2 * i - 1], ARGV[2 * i] == '1'
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], eid, eid, 1)
  if p[1] ~= nil and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, eid, 'RETRYCOUNT', math.max(0, p[1][4] - 1), 'JUSTID')
    if back then
      local h = redis.call('HMGET', KEYS[i], 'state', 'worker', 'entry')
      if h[3] == eid and (h[1] == 'queued' or (h[1] == 'going' and h[2] == ARGV[2])) then
        redis.call('HSET', KEYS[i], 'state', 'queued')
        n = n + 1
      end
    end
  end
end
return n
]]

-- Set the delivery count of entries one back, for a worker re-reading its own entries that
-- it read before in the same process (after a lost connection, a stopped batch): the read came
-- back to a live worker, so it is not one whose processing could have stopped it
-- (`max_deliveries`). Only entries this consumer owns, and never below 1.
-- KEYS: stream. ARGV: group, consumer, entry ids...
-- Returns the number set back.
_M.setback = [[
local n = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] ~= nil and p[1][2] == ARGV[2] and p[1][4] > 1 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'RETRYCOUNT', p[1][4] - 1, 'JUSTID')
    n = n + 1
  end
end
return n
]]

-- Move a malformed entry to the dead-letter stream with its reason, and acknowledge it.
-- KEYS: stream, dead, counts. ARGV: group, entry id, reason, the raw fields as JSON.
_M.dead = [[
redis.call('XADD', KEYS[2], '*', 'entry', ARGV[2], 'reason', ARGV[3], 'fields', ARGV[4])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[3], 'dead', 1)
return 1
]]

-- Move a poison entry (delivered more than `max_deliveries` times while its message stayed
-- `queued`: its processing keeps killing workers) to the dead-letter stream, store its message
-- `not_sent` (so it is final and `waiting` reaches 0), and acknowledge it; only while this
-- consumer owns the entry and the message (its hash's `entry` is this one) is still `queued`.
-- KEYS: stream, dead, counts, results, message hash. ARGV: group, consumer, entry id, message
-- id, reason, the raw fields as JSON, now (ms), result JSON.
-- Returns 1 when moved, 0 when not (claimed away, no longer queued, or another entry's hash).
_M.poison = [[
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if p[1] == nil or p[1][2] ~= ARGV[2] then return 0 end
local h = redis.call('HMGET', KEYS[5], 'state', 'entry')
if h[1] ~= 'queued' or h[2] ~= ARGV[3] then return 0 end
redis.call('XADD', KEYS[2], '*', 'entry', ARGV[3], 'reason', ARGV[5], 'fields', ARGV[6])
local rid = redis.call('XADD', KEYS[4], '*', 'id', ARGV[4], 'status', 'not_sent', 'entry', ARGV[3])
redis.call('HSET', KEYS[5], 'state', 'not_sent', 'result', ARGV[8], 'done_at', ARGV[7], 'result_entry', rid)
redis.call('HINCRBY', KEYS[3], 'not_sent', 1)
redis.call('HINCRBY', KEYS[3], 'dead', 1)
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
return 1
]]

-- Remove a consumer from the group, only while its pending list is empty (XGROUP DELCONSUMER
-- drops the entries a consumer holds), check and removal in one step.
-- KEYS: stream. ARGV: group, consumer.
-- Returns 1 when removed, 0 when it holds entries.
_M.leave = [[
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if p[1] ~= nil then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
]]

-- Token bucket of a provider account, by reservation: take `n` tokens (the count may go
-- below zero) and return how long the caller must wait before sending, in seconds, as a
-- string. Time is the server's, so every host shares one clock.
-- KEYS: bucket. ARGV: rate (tokens per second), burst (bucket size), n.
_M.reserve = [[
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local rate, burst, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate) else now = ts end
tokens = tokens - n
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'ts', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(((burst - tokens) / rate + 60) * 1000))
if tokens >= 0 then return '0' end
return string.format('%.6f', -tokens / rate)
]]

-- Pause an account for `ms` milliseconds, unless it is already paused for longer.
-- KEYS: pause. ARGV: ms, reason.
_M.pause = [[
local ttl = redis.call('PTTL', KEYS[1])
if ttl < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1]) return 1 end
return 0
]]

-- Record a delivery event against a message. KEYS: message hash, counts, results.
-- ARGV: id, status (delivered|failed|pending), code, time, event JSON.
-- Returns 0 when the message is unknown, else 1. Counts move once per message: a final
-- delivery status replaces pending, and a later copy of the same event changes nothing.
_M.event = [[
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local cur = redis.call('HGET', KEYS[1], 'delivery')
if cur == ARGV[2] or ((cur == 'delivered' or cur == 'failed') and ARGV[2] == 'pending') then
  return 1
end
redis.call('HSET', KEYS[1], 'delivery', ARGV[2], 'delivery_code', ARGV[3], 'delivery_at', ARGV[4],
           'event', ARGV[5])
if cur == 'delivered' or cur == 'failed' then redis.call('HINCRBY', KEYS[2], cur, -1) end
if ARGV[2] ~= 'pending' then redis.call('HINCRBY', KEYS[2], ARGV[2], 1) end
redis.call('XADD', KEYS[3], '*', 'id', ARGV[1], 'status', ARGV[2], 'event', 'delivery')
return 1
]]

-- Retention, step 1: forget the messages of a chunk of the results stream older than the
-- cutoff (read by the caller with XRANGE), then trim the results stream up to the chunk's last
-- entry. A message hash is deleted only when it is final and this results entry is its latest
-- outcome (`result_entry`; an `uncertain` replaced later by an answer has a newer one), with
-- the refs that point to it. Delivery-event entries are passed with an empty message id.
-- KEYS: results, refs, message hashes... ARGV: cutoff (ms), the chunk's last entry id, then
-- per message: its results entry id and message id.
-- Returns { messages deleted, refs deleted, results entries trimmed }.
_M.expire = [[
local msgs, refs = 0, 0
for i = 3, #KEYS do
  local rid, id = ARGV[2 * i - 3], ARGV[2 * i - 2]
  local h = redis.call('HMGET', KEYS[i], 'state', 'result_entry', 'done_at', 'refs', 'result')
  local st = h[1]
  if st == 'accepted' or st == 'rejected' or st == 'uncertain' or st == 'not_sent' then
    -- (hashes stored before `result_entry` existed: by their done_at)
    if h[2] == rid or (not h[2] and (tonumber(h[3]) or 0) < tonumber(ARGV[1])) then
      local list = {}
      if h[4] then
        for ref in string.gmatch(h[4], '%S+') do list[#list + 1] = ref end
      elseif h[5] then
        local ok, r = pcall(cjson.decode, h[5])
        local ids = ok and type(r) == 'table' and type(r.ids) == 'table' and r.ids or {}
        for _, f in ipairs({ 'message_id', 'uid' }) do
          if type(ids[f]) == 'string' then list[#list + 1] = ids[f] end
        end
      end
      for _, ref in ipairs(list) do
        if redis.call('HGET', KEYS[2], ref) == id then
          redis.call('HDEL', KEYS[2], ref)
          refs = refs + 1
        end
      end
      redis.call('DEL', KEYS[i])
      msgs = msgs + 1
    end
  end
end
local ms, seq = string.match(ARGV[2], '^(%d+)%-(%d+)$')
local trimmed = redis.call('XTRIM', KEYS[1], 'MINID', ms .. '-' .. string.format('%d', tonumber(seq) + 1))
return { msgs, refs, trimmed }
]]

-- Retention, step 2: trim the work stream below the cutoff, but never at or past its oldest
-- entry that is pending (read, not acknowledged) or not read yet by the group: every entry
-- below both was acknowledged, which happens only with its outcome stored or as a dead letter.
-- Without the group (no worker ever started) nothing of the work stream is trimmed. The
-- dead-letter stream is trimmed below the cutoff. Both trims are approximate and bounded
-- (`XTRIM MINID ~ bound LIMIT n`): Redis frees whole nodes of the stream (about 100 entries)
-- that lie entirely below the bound, never an entry at or past it, at most n entries per call;
-- the caller calls again until nothing more goes.
-- KEYS: stream, dead. ARGV: group, cutoff (ms), n (entries per stream, >= 1).
-- Returns { work entries trimmed, dead letters trimmed }.
_M.trim = [[
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)%-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
local cutoff = ARGV[2] .. '-0'
local work = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  local last
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
    local t = {}
    for j = 1, #g, 2 do local f = g[j] t[f] = g[j + 1] end
    if t.name == ARGV[1] then last = t['last-delivered-id'] end
  end
  if last then
    local bound = cutoff
    local first = redis.call('XRANGE', KEYS[1], '(' .. last, '+', 'COUNT', 1)
    if first[1] and less(first[1][1], bound) then bound = first[1][1] end
    local p = redis.call('XPENDING', KEYS[1], ARGV[1])
    if p[1] > 0 and less(p[2], bound) then bound = p[2] end
    work = redis.call('XTRIM', KEYS[1], 'MINID', '~', bound, 'LIMIT', ARGV[3])
  end
end
return { work, redis.call('XTRIM', KEYS[2], 'MINID', '~', cutoff, 'LIMIT', ARGV[3]) }
]]

_M.NAMES = { "enqueue", "enqueue_many", "going", "store", "requeue", "setback", "dead", "poison",
             "leave", "reserve", "pause", "event", "expire", "trim" }

return _M
