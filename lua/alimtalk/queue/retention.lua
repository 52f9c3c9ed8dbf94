--- Retention of a queue: forget what is older than `keep` seconds and final.
--
-- The results stream is the index by time: each outcome stored adds an entry there, and the
-- message hash records that entry (`result_entry`). `trim` walks the results stream up to the
-- cutoff in chunks; a message whose latest outcome is that old is deleted with its refs, then
-- the chunk is trimmed from the results stream (`expire` script). Last, the work stream is
-- trimmed below the cutoff but never at or past an entry that is pending or not read yet, and
-- the dead-letter stream below the cutoff, in steps of whole stream nodes (`trim` script).
-- Each script is atomic and does a bounded amount of work; running `trim` from several
-- workers at once is safe (docs/scale-out.md).
-- @module alimtalk.queue.retention
local config = require "alimtalk.config"
local scripts = require "alimtalk.queue.scripts"
local hash_to_table = require("alimtalk.queue").hash_to_table

local _M = {}

local OPTS = { keep = "number", limit = "number" }

-- results entries per `expire` call
_M.CHUNK = 500
-- work entries and dead letters, each, per `trim` call (at most; whole nodes of ~100 go)
_M.TRIM_CHUNK = 10000

--- Trim queue `q` (see `queue:trim`).
function _M.trim(q, opts)
  config.check(opts, OPTS, "queue:trim")
  local keep, limit = opts.keep, opts.limit or math.huge
  if type(keep) ~= "number" or keep < 0 then error("queue:trim: keep (seconds, >= 0) is required", 3) end
  local k = q.keys
  -- the cutoff on the server's clock, which also stamps the stream ids
  local t, terr = q:call("TIME")
  if type(t) ~= "table" then return nil, terr end
  local cutoff = math.floor(tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000 - keep * 1000)
  local out = { messages = 0, refs = 0, results = 0, stream = 0, dead = 0 }
  if cutoff < 1 then return out end   -- a retention longer than the epoch: nothing is that old
  local last = string.format("%d", cutoff - 1)   -- XRANGE's end is inclusive
  cutoff = string.format("%d", cutoff)
  while out.results < limit do
    local list, err = q:call("XRANGE", k.results, "-", last, "COUNT", math.min(_M.CHUNK, limit - out.results))
    if type(list) ~= "table" then return nil, err end
    if #list == 0 then break end
    local keys, args = { k.results, k.refs }, { cutoff, list[#list][1] }
    for _, e in ipairs(list) do
      local f = hash_to_table(e[2]) or {}
      if f.event ~= "delivery" and type(f.id) == "string" then
        keys[#keys + 1] = k.msg(f.id)
        args[#args + 1] = e[1]
        args[#args + 1] = f.id
      end
    end
    local res, serr = q:script("expire", keys, args)
    if type(res) ~= "table" then return nil, serr end
    out.messages = out.messages + (tonumber(res[1]) or 0)
    out.refs = out.refs + (tonumber(res[2]) or 0)
    out.results = out.results + (tonumber(res[3]) or 0)
    if #list < _M.CHUNK or tonumber(res[3]) == 0 then break end
  end
  out.more = out.results >= limit or nil
  -- each call frees at most TRIM_CHUNK entries of each stream (whole nodes: a smaller LIMIT
  -- than a node would free nothing); until one frees nothing, or `limit` is passed
  while true do
    local res, err = q:script("trim", { k.stream, k.dead }, { scripts.GROUP, cutoff, _M.TRIM_CHUNK })
    if type(res) ~= "table" then return nil, err end
    local ns, nd = tonumber(res[1]) or 0, tonumber(res[2]) or 0
    out.stream, out.dead = out.stream + ns, out.dead + nd
    if ns == 0 and nd == 0 then break end
    if out.stream >= limit or out.dead >= limit then out.more = true break end
  end
  return out
end

return _M
