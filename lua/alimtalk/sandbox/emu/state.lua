--- Shared state of the sandbox emulator (runs inside nginx).
-- Everything that must be seen by every nginx worker lives in `lua_shared_dict`s:
-- `sbx_state` (counters, dedup keys, report groups, faults, settings), `sbx_msg` (accepted
-- messages and the per-provider indexes), `sbx_log` (attempts, webhook deliveries, sink
-- captures), `sbx_tok` (bearer tokens, with their TTL as the dict expiry) and `sbx_seq`
-- (the message index counters, which a reset keeps).
-- Also the JSON helpers, the time formats the providers use and the response helper.
-- @module alimtalk.sandbox.emu.state
local cjson = require("cjson").new()
local crypto = require "alimtalk.sandbox.emu.crypto"

local ngx = ngx

local floor = math.floor
local concat = table.concat

cjson.encode_number_precision(14)
cjson.decode_max_depth(64)

local _M = {}

_M.config = nil          -- the decoded sandbox.json, set by init
_M.settings = {}         -- runtime settings (config + admin overrides)

local dicts = {}
local function dict(name)
  local d = dicts[name]
  if not d then
    d = ngx.shared[name]
    dicts[name] = d
  end
  return d
end
_M.dict = dict

-- An empty JSON array: lua-cjson 2.1.0 encodes {} as an object, so lists that may be empty
-- hold this marker and `encode` rewrites it.
local EMPTY = "\1[]"
_M.EMPTY_ARRAY = EMPTY

--- Encode a value as JSON (empty-array markers become `[]`).
function _M.encode(v)
  local s = cjson.encode(v)
  if s:find("\\u0001[]", 1, true) then s = s:gsub('"\\u0001%[%]"', "[]") end
  return s
end

--- Decode JSON; nil and a message on malformed input (never raises).
function _M.decode(s)
  if type(s) ~= "string" then return nil, "no body" end
  local ok, v = pcall(cjson.decode, s)
  if not ok then return nil, tostring(v) end
  return v
end

_M.null = cjson.null

--- Encode one plain value (a string, number, boolean) as JSON, for bodies written piece by
-- piece (no empty-array markers are rewritten).
_M.encode_value = cjson.encode

-- Object members set to null are treated as absent, as the providers' JSON binders do
-- (null list elements stay: they are errors the providers report).
local null = cjson.null
local function strip(t, depth)
  for k, v in pairs(t) do
    if v == null then
      if type(k) == "string" then t[k] = nil end
    elseif type(v) == "table" and depth < 16 then
      strip(v, depth + 1)
    end
  end
  return t
end

--- Decode a provider request body: like `decode`, with null object members removed.
function _M.decode_request(s)
  local v, err = _M.decode(s)
  -- Walking every table costs more than the decode itself on a 100-message SENS batch;
  -- a body without the word null has no null to strip.
  if type(v) == "table" and s:find("null", 1, true) then strip(v, 1) end
  return v, err
end

--- A list that encodes as `[]` when empty.
function _M.list(t)
  if t == nil or next(t) == nil then return EMPTY end
  return t
end

local KST = 9 * 3600

local kst_sec, kst_str = -1, ""

--- `yyyy-MM-ddTHH:mm:ss[.SSS]` in Korea time (what the Korean providers print).
function _M.kst(t, ms)
  t = t or ngx.now()
  local sec = floor(t)
  if sec ~= kst_sec then kst_sec, kst_str = sec, os.date("!%Y-%m-%dT%H:%M:%S", sec + KST) end
  if ms then return kst_str .. string.format(".%03d", floor((t % 1) * 1000)) end
  return kst_str
end

--- `yyyy-MM-dd HH:mm:ss` in Korea time (API PLEX).
function _M.kst_space(t)
  return os.date("!%Y-%m-%d %H:%M:%S", floor(t or ngx.now()) + KST)
end

--- RFC 3339 UTC with milliseconds (Sinch).
function _M.utc(t)
  t = t or ngx.now()
  return os.date("!%Y-%m-%dT%H:%M:%S", floor(t)) .. string.format(".%03dZ", floor((t % 1) * 1000))
end

--- Next value of a shared counter (1, 2, ...).
function _M.next(name)
  return dict("sbx_state"):incr(name, 1, 0)
end

local ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

--- A random string of `n` characters from [0-9A-Za-z].
function _M.random_id(n)
  local raw = crypto.random_bytes(n)
  local out = {}
  for i = 1, n do
    local b = raw:byte(i) % 62 + 1
    out[i] = ALNUM:sub(b, b)
  end
  return concat(out)
end

-- Store a value in a dict; when it is full, the least recently used entries go (the sandbox
-- keeps recent history, not all of it).
local function put(d, k, v, ttl)
  local ok, err = d:set(k, v, ttl or 0)
  if not ok then ngx.log(ngx.WARN, "sandbox: shared dict full: ", err) end
end
_M.put = put

--- Reserve `k` consecutive index positions of a provider's message list (1-based).
-- @treturn integer the first of them
function _M.reserve(provider, k)
  return dict("sbx_seq"):incr("n:" .. provider, k or 1, 0) - (k or 1) + 1
end

-- Records are stored by index position ("m:<provider>:<n>"), or, for a provider that
-- registers a batch reader, as one entry per request ("b:<provider>:<first>", see
-- `save_batch`). Where a provider's message id carries the position (SENS: the last group of
-- the UUID-like id, and its offset in the batch in the third) no second key is needed; for the
-- others "x:<provider>:<id>" maps the id to its position.
local ID_CARRIES_INDEX = { sens = function(id)
  if type(id) ~= "string" then return nil end
  local off, hex = id:match("^%x+%-%x+%-4(%x%x%x)%-%x+%-(%x+)$")
  local n = hex and tonumber(hex, 16)
  return n, n and n - tonumber(off, 16)
end }

-- provider -> function(value, first) returning the records of a stored batch
local batch_readers = {}

--- Let a provider store its messages one batch per request: `read(value, first)` turns a
-- stored value back into the batch's records (in order, with `index` set), exactly as
-- `message_at` would have returned them one by one.
function _M.batch_reader(provider, read)
  batch_readers[provider] = read
end

--- Store a batch of messages reserved at positions `first`... (see `reserve`) as one value.
-- One shared dict write per request instead of one encoded record per message: on a
-- 100-message SENS send the per-message writes were the largest cost of the server.
function _M.save_batch(provider, first, value)
  put(dict("sbx_msg"), "b:" .. provider .. ":" .. first, value)
end

--- The stored value of the batch at `first`, or nil.
function _M.batch_value(provider, first)
  return dict("sbx_msg"):get("b:" .. provider .. ":" .. first)
end

-- The last batches read, decoded: lookups one message id at a time (GET .../messages/{id}, the
-- CLI's status) meet the same batch again and again, and decoding it is most of the work.
-- Keyed by the stored value itself, so a batch that changed (a canceled reservation) is read
-- anew.
local cache, cache_order, cache_next = {}, {}, 0
local CACHED = 8

--- The records of the batch at `first`, or nil. They may be shared with later calls: read
-- them, never change them.
function _M.batch(provider, first)
  local read = batch_readers[provider]
  local s = read and dict("sbx_msg"):get("b:" .. provider .. ":" .. first)
  if not s then return nil end
  local key = provider .. ":" .. first
  local hit = cache[key]
  if hit and hit.value == s then return hit.recs end
  local recs = read(s, first)
  if recs then
    if not hit then
      cache_next = cache_next % CACHED + 1
      local old = cache_order[cache_next]
      if old then cache[old] = nil end
      cache_order[cache_next] = key
    end
    cache[key] = { value = s, recs = recs }
  end
  return recs
end

--- Store a message record (rejected ones too: `rec.rejected` keeps them off the outbox).
-- @tparam string provider sens|bizmessage|apiplex|sinch
-- @tparam string id the provider's message id
-- @tparam table rec the record (encoded to JSON)
-- @tparam[opt] integer n its index position from `reserve` (default: a new one)
function _M.save_message(provider, id, rec, n)
  local d = dict("sbx_msg")
  n = n or _M.reserve(provider, 1)
  rec.index = n
  put(d, "m:" .. provider .. ":" .. n, _M.encode(rec))
  if not ID_CARRIES_INDEX[provider] then put(d, "x:" .. provider .. ":" .. id, n) end
  return n
end

--- The record at a provider's index position, or nil.
function _M.message_at(provider, n)
  local s = dict("sbx_msg"):get("m:" .. provider .. ":" .. n)
  if s then return _M.decode(s) end
end

--- Fetch a stored message record by the provider's id, or nil (read it, never change it: it
-- may be shared, see `batch`).
function _M.message(provider, id)
  local carried = ID_CARRIES_INDEX[provider]
  local n, first, r
  if carried then n, first = carried(id) else n = dict("sbx_msg"):get("x:" .. provider .. ":" .. id) end
  if first and first >= 1 then
    local recs = _M.batch(provider, first)
    r = recs and recs[n - first + 1]
  end
  r = r or (n and _M.message_at(provider, n))
  if r and r.id == id then return r end
  return nil
end

--- Every stored record of a provider (single and batched), in index order; positions whose
-- entry was evicted (or is still being written by another worker) are skipped. Read the
-- records, never change them (see `batch`).
function _M.messages(provider)
  local out = {}
  local n, count = _M.first(provider), _M.count(provider)
  local batched = batch_readers[provider] ~= nil
  while n <= count do
    local recs = batched and _M.batch(provider, n)
    if recs and recs[1] then
      for i = 1, #recs do out[#out + 1] = recs[i] end
      n = n + #recs
    else
      local r = _M.message_at(provider, n)
      if r then out[#out + 1] = r end
      n = n + 1
    end
  end
  return out
end

--- The last index position a provider has handed out (positions run `first`..`count`).
function _M.count(provider)
  return dict("sbx_seq"):get("n:" .. provider) or 0
end

--- The first index position stored since the last reset (1 before any reset).
function _M.first(provider)
  return dict("sbx_msg"):get("f:" .. provider) or 1
end

--- The delivery status of a record now: "pending", "delivered", "failed" or "canceled".
function _M.status(rec, now)
  if rec.canceled then return "canceled" end
  if (now or ngx.now()) < rec.due then return "pending" end
  -- Records leave out the usual values: a missing result_code means the provider's success.
  local r = rec.result_code
  return (r == nil or r == rec.ok_code) and "delivered" or "failed"
end

--- Append one entry to a log (attempts "a", webhooks "w", sink captures "s:<name>").
function _M.log(kind, entry)
  local d = dict("sbx_log")
  local n = d:incr("n:" .. kind, 1, 0)
  entry.seq = n
  put(d, kind .. ":" .. n, _M.encode(entry))
  return n
end

--- Read a log back, oldest first (entries evicted under memory pressure are skipped).
function _M.read_log(kind, from, limit)
  local d = dict("sbx_log")
  local n = d:get("n:" .. kind) or 0
  local out = {}
  from = from or 1
  if limit and n - from + 1 > limit then from = n - limit + 1 end
  for i = from, n do
    local s = d:get(kind .. ":" .. i)
    if s then out[#out + 1] = _M.decode(s) end
  end
  return out
end

--- Remember a serial (cid, msg_key); false when it was already used.
function _M.claim(kind, serial, value)
  local ok, err = dict("sbx_state"):add("d:" .. kind .. ":" .. serial, value or true)
  if ok then return true end
  if err == "exists" then return false, dict("sbx_state"):get("d:" .. kind .. ":" .. serial) end
  ngx.log(ngx.WARN, "sandbox: dedup dict: ", err)
  return true
end

--- Forget everything (messages, logs, tokens, dedup keys, faults, settings overrides).
-- Index positions are never handed out twice in a server's life, reset or not: a SENS message
-- id carries its position, so an id from before a reset must not find a message sent after it.
local PROVIDERS = { "sens", "bizmessage", "apiplex", "sinch" }
function _M.reset()
  for _, name in ipairs({ "sbx_state", "sbx_msg", "sbx_log", "sbx_tok" }) do
    dict(name):flush_all()
    dict(name):flush_expired()
  end
  local msg, seq = dict("sbx_msg"), dict("sbx_seq")
  for _, p in ipairs(PROVIDERS) do put(msg, "f:" .. p, (seq:get("n:" .. p) or 0) + 1) end
  dict("sbx_state"):set("v", ngx.now())
end

-- Runtime settings: sandbox.json values, overridden by POST /_sandbox/settings. Each worker
-- re-reads them (and the fault list) when the version key changes.
local seen_version = false
local on_reload = {}
function _M.on_reload(f) on_reload[#on_reload + 1] = f end

--- Call once per request: refresh settings and faults if another worker changed them.
function _M.refresh()
  local v = dict("sbx_state"):get("v")
  if v == seen_version then return end
  seen_version = v
  local s = {}
  for k, val in pairs(_M.config.settings) do s[k] = val end
  local over = dict("sbx_state"):get("settings")
  if over then
    for k, val in pairs(_M.decode(over) or {}) do s[k] = val end
  end
  _M.settings = s
  for _, f in ipairs(on_reload) do f() end
end

--- The webhook URL for a provider now (settings override the start config), or nil.
function _M.webhook_url(provider)
  local w = _M.settings.webhooks
  local url = (type(w) == "table" and w[provider]) or (_M.config.webhooks or {})[provider]
  if type(url) ~= "string" or url == "" then return nil end
  if url:sub(1, 1) == "/" then url = _M.config.self_url .. url end
  return url
end

--- Mark settings/faults as changed for every worker.
function _M.bump()
  dict("sbx_state"):incr("v", 1, 0)
end

-- luacheck: push ignore 122 (ngx.status and ngx.header are meant to be written)
--- Send a response: status, JSON body (table or string), extra headers.
function _M.respond(status, body, headers)
  ngx.status = status
  local h = ngx.header
  local typed = false
  if headers then
    for k, v in pairs(headers) do
      h[k] = v
      if k == "Content-Type" then typed = true end
    end
  end
  if body == nil then return ngx.exit(status) end
  if body == EMPTY then body = "[]" elseif type(body) ~= "string" then body = _M.encode(body) end
  if not typed then h["Content-Type"] = "application/json;charset=UTF-8" end
  h["Content-Length"] = #body
  -- No ngx.exit here: returning from the content handler finishes the request more cheaply.
  ngx.print(body)
end
-- luacheck: pop

return _M
