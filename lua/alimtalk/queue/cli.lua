--- The queue's command-line parts: `alimtalk worker`, `alimtalk status --queue` and
-- `alimtalk bulk run|status --queue` (the bulk and status commands hand over to this module
-- when `--queue` is given).
-- @module alimtalk.queue.cli
local common = require("alimtalk.cli.common")

local _M = {}

_M.DEFAULT_URL = "redis://127.0.0.1:6379/0"

--- Whether a command's arguments ask for the queue (`--queue NAME` or `--queue=NAME`).
function _M.wanted(args)
  for _, a in ipairs(args) do
    if a == "--" then return false end
    if a == "--queue" or a:sub(1, 8) == "--queue=" then return true end
  end
  return false
end

local REDIS_OPTS = { queue = { value = true }, redis = { value = true } }

local function with(spec)
  for k, v in pairs(REDIS_OPTS) do spec.options[k] = v end
  return spec
end

-- The queue from the options: URL from --redis, else $ALIMTALK_REDIS_URL, else the default;
-- the password from the URL or $ALIMTALK_REDIS_PASSWORD (never printed).
local function open_queue(cmd, opts, client)
  if not opts.queue or not opts.queue:find("^[%w_.%-]+$") then
    return nil, common.usage_error(cmd, "--queue needs a name (letters, digits, '_', '.', '-')")
  end
  local url = opts.redis or os.getenv("ALIMTALK_REDIS_URL") or _M.DEFAULT_URL
  local q, err = require("alimtalk.queue").new{ redis = url, name = opts.queue, client = client }
  if not q then
    common.err("alimtalk ", cmd, ": ", common.redact(tostring(err)), "\n")
    return nil, err.code == "BAD_OPTION" and common.EXIT.usage or common.EXIT.failed
  end
  return q
end

-- ---------------------------------------------------------------------------------------
-- alimtalk worker

_M.worker_help = [[
usage: alimtalk worker --queue NAME [options]

Drain a send queue in Redis: read its stream through the consumer group 'workers', send each
batch through the configured provider (or route), store every outcome in Redis (a result per
message, and the results stream), and acknowledge an entry only after its outcome is stored.
Run as many workers as you like, on as many hosts: they share the queue, the rate limit and
the quota pauses. A worker that dies leaves its entries to the others (claimed after
--min-idle seconds); those it may have sent are resent under their serial only where the
provider drops duplicate serials, and otherwise stored 'uncertain'. SIGTERM or SIGINT stops
a worker cleanly: the round in flight is sent, stored and acknowledged, then it exits 0 (a
second signal kills it). Stopped while Redis is away holding answers it could not store, it
goes on trying for --stop-grace seconds, then exits 1 saying how many. A worker killed at
any moment loses nothing and sends nothing twice; what it had in flight is settled by the
next worker as above.

  --queue NAME         the queue (as given to queue.new / bulk run --queue)
  --redis URL          redis://[user:password@]host[:port][/db] (default $ALIMTALK_REDIS_URL,
                       else redis://127.0.0.1:6379/0); the password preferably from
                       $ALIMTALK_REDIS_PASSWORD
  --batch N            entries read per round (default 100)
  --concurrency N      requests in flight (default: the client's concurrency)
  --rate N             messages per second for the provider account, shared by every worker
  --burst N            token bucket size (default max(1, rate/10))
  --account NAME       the account the rate and pauses are shared by (default: the providers)
  --min-idle S         seconds before another worker's entries are claimed (default 60)
  --block S            seconds to wait for new entries per read (default 1)
  --quota-pause S      seconds every worker pauses after a quota answer (default 60)
  --max-deliveries N   an entry delivered more than N times without an outcome (its
                       processing keeps stopping workers) goes to the dead letters, its
                       message stored 'not_sent'; one in doubt is stored 'uncertain', not
                       resent (default 10). Counted: each claim, and each restart of a
                       worker under the same --consumer name holding it; a whole batch is
                       counted, so a crash loop also counts the healthy entries read with
                       the culprit
  --keep S             retention: every min(60, max(1, S/4)) seconds, forget final messages
                       older than S seconds (their hashes, refs, results, dead letters and
                       work entries; never a message without its outcome). At least
                       --min-idle. Ids dedupe only within S: a forgotten id can be queued
                       again. Default: nothing is trimmed
  --stop-grace S       on a stop, seconds to go on trying to reach Redis to store the
                       answers this worker holds (default 10)
  --consumer NAME      this worker's name in the group, unique among live workers (two
                       under one name would read and settle each other's entries; default
                       host:pid:random)
  --until-empty        exit once every queued message has its outcome
  --idle-exit S        exit after S seconds without work
  --max-messages N     exit after storing N outcomes
  --templates FILE     template registry (overrides the configuration's)
  --policy FILE        policy script: routing, variables, fallback text (docs/policies.md)
  -p, --provider NAME  provider (default: the configured one)
  -c, --config FILE    configuration (default $ALIMTALK_CONFIG or ./alimtalk.json)
  --json               print the worker's counts as JSON when it exits
  -v, --verbose        log what the worker does on stderr
  -h, --help           this help

Exit status: 0 stopped as asked (--until-empty, --idle-exit, --max-messages, SIGTERM or
SIGINT), 1 Redis could not be reached (or the worker stopped holding outcomes it could not
store: their messages are in doubt), 2 bad arguments or configuration.
]]

local worker_spec = with{
  options = {
    batch = { value = true, number = true, min = 1 },
    concurrency = { value = true, number = true, min = 1 },
    rate = { value = true, number = true, min = 0 }, burst = { value = true, number = true, min = 1 },
    account = { value = true },
    ["min-idle"] = { value = true, number = true, min = 0 },
    block = { value = true, number = true, min = 0 },
    ["quota-pause"] = { value = true, number = true, min = 0 },
    ["max-deliveries"] = { value = true, number = true, min = 1 },
    keep = { value = true, number = true, min = 0 },
    ["stop-grace"] = { value = true, number = true, min = 0 },
    consumer = { value = true }, ["until-empty"] = {},
    ["idle-exit"] = { value = true, number = true, min = 0 },
    ["max-messages"] = { value = true, number = true, min = 1 },
    templates = { value = true }, policy = { value = true },
  },
  max_args = 0,
}

--- Run `alimtalk worker`.
function _M.worker(args)
  local opts, cfg = common.start("worker", worker_spec, _M.worker_help, args, true)
  if not opts then return cfg end
  if opts.keep and opts.keep < (opts.min_idle or 60) then
    return common.usage_error("worker", string.format("--keep (%g s) must be at least --min-idle (%g s)",
      opts.keep, opts.min_idle or 60))
  end
  if opts.templates then cfg.templates = opts.templates end
  local client, ce = common.client(cfg)
  if not client then return common.usage_error("worker", ce) end
  local q, code = open_queue("worker", opts, client)
  if not q then client:close() return code end
  if opts.account then
    local scripts = require "alimtalk.queue.scripts"
    q.account, q.account_keys = opts.account, scripts.account_keys(opts.account)
  end
  local log
  if opts.verbose then
    log = function(line) common.err("alimtalk worker: ", line, "\n") end
  end
  -- SIGTERM/SIGINT: finish the round in flight (outcomes stored, entries acked), then exit 0
  local stop_on = common.trap_stop_signals()
  local ok, stats, err = pcall(q.work, q, {
    consumer = opts.consumer, batch = opts.batch, concurrency = opts.concurrency,
    max_deliveries = opts.max_deliveries, keep = opts.keep, stop_grace = opts.stop_grace,
    rate = opts.rate ~= 0 and opts.rate or nil, burst = opts.burst, min_idle = opts.min_idle,
    block = opts.block, quota_pause = opts.quota_pause, until_empty = opts.until_empty,
    idle_exit = opts.idle_exit, max_messages = opts.max_messages, log = log, stop = stop_on.asked })
  stop_on.release()
  q:close()
  client:close()
  if not ok then return common.fail(opts, "worker", common.raised(stats), 1) end
  if not stats then return common.fail(opts, "worker", err, 1) end
  stats.signal = stop_on.signal
  if stats.unsaved then
    -- answers the provider gave, lost with this process: their messages stay going
    common.err(string.format("alimtalk worker: stopped with %d outcomes not stored (Redis unavailable):"
      .. " their messages stay 'going' and are in doubt (resent under their serial where the"
      .. " provider drops duplicates, else stored 'uncertain' by the next worker)\n", stats.unsaved))
  end
  if opts.json then common.print_json(stats)
  elseif opts.verbose then
    if stop_on.signal then common.err("alimtalk worker: stopped on SIG", stop_on.signal, "\n") end
    common.err(string.format("alimtalk worker: stored %d outcomes (%d accepted, %d rejected, %d uncertain, "
      .. "%d not sent), %d dead letters, %d claimed\n", stats.done, stats.accepted, stats.rejected,
      stats.uncertain, stats.not_sent, stats.dead, stats.claimed))
  end
  return stats.unsaved and common.EXIT.failed or common.EXIT.ok
end

-- ---------------------------------------------------------------------------------------
-- alimtalk status --queue NAME [ID...]

local status_spec = with{ options = {}, no_provider = true }

local function print_counts(opts, name, c, extra)
  if opts.json then
    c.queue = name
    for k, v in pairs(extra or {}) do c[k] = v end
    common.print_json(c)
    return
  end
  common.out(string.format("queue %s\n", name))
  for _, row in ipairs({ { "queued", "queued (ever)" }, { "waiting", "waiting" }, { "pending", "being sent" },
                         { "accepted", "accepted" }, { "rejected", "rejected" }, { "uncertain", "uncertain" },
                         { "not_sent", "not sent" }, { "delivered", "delivered" }, { "failed", "failed" },
                         { "dead", "dead letters" } }) do
    common.out(string.format("  %-14s %8d\n", row[2], c[row[1]] or 0))
  end
  if c.consumers then common.out(string.format("  %-14s %8d\n", "workers", c.consumers)) end
  for k, v in pairs(extra or {}) do common.out(string.format("  %-14s %8s\n", k, tostring(v))) end
end

--- Run `alimtalk status --queue NAME [ID...]`: each message's stored outcome (and delivery),
-- or without ids the queue's counts.
function _M.status(args)
  local opts = common.start("status", status_spec, require("alimtalk.cli.status").help, args, false)
  if not opts then return 2 end
  local q, code = open_queue("status", opts, nil)
  if not q then return code end
  if #opts.args == 0 then
    local c, err = q:counts()
    q:close()
    if not c then return common.fail(opts, "status", err, 1) end
    print_counts(opts, q.name, c)
    return common.EXIT.ok
  end
  local failed, pending = false, false
  for _, id in ipairs(opts.args) do
    local r, err = q:result(id)
    if not r then
      failed = true
      if opts.json then common.print_json({ query = id, ok = false, error = err })
      else common.err("alimtalk status: ", id, ": ", tostring(err), "\n") end
    else
      if opts.json then common.print_json(r)
      else
        local parts = { r.id, tostring(r.state) }
        if r.provider then parts[#parts + 1] = "via " .. r.provider end
        if r.code then parts[#parts + 1] = "code=" .. tostring(r.code) end
        if r.delivery then
          parts[#parts + 1] = "delivery=" .. tostring(r.delivery.status)
            .. (r.delivery.code and ("(" .. r.delivery.code .. ")") or "")
        end
        if r.reason then parts[#parts + 1] = "(" .. r.reason .. ")"
        elseif r.message then parts[#parts + 1] = "(" .. tostring(r.message) .. ")" end
        common.out(table.concat(parts, " "), "\n")
      end
      local s = r.delivery and r.delivery.status or r.state
      if s == "failed" or s == "rejected" or s == "not_sent" then failed = true
      elseif s ~= "delivered" and s ~= "accepted" then pending = true end
    end
  end
  q:close()
  if failed then return common.EXIT.failed end
  return pending and common.EXIT.uncertain or common.EXIT.ok
end

-- ---------------------------------------------------------------------------------------
-- alimtalk bulk run INPUT --campaign ID --queue NAME / bulk status ID --queue NAME

local bulk_spec = with{
  options = {
    campaign = { value = true }, template = { value = true, short = "t" },
    format = { value = true, choices = { "csv", "jsonl" } },
    ["to-column"] = { value = true }, ["key-column"] = { value = true },
    chunk = { value = true, number = true, min = 1 }, templates = { value = true }, policy = { value = true },
    progress = { value = true, choices = { "auto", "bar", "lines", "none" } },
  },
  min_args = 1, max_args = 2, missing = "give a subcommand: run or status",
}

local function campaign_key(q, id) return q.keys.prefix .. "campaign:" .. id end

--- Run `alimtalk bulk run|status ... --queue NAME`: load a file into the queue (the workers
-- send it), or show the queue's counts and the campaign's loading record.
function _M.bulk(args)
  local opts, cfg = common.start("bulk", bulk_spec, require("alimtalk.cli.bulk").help, args, true)
  if not opts then return cfg end
  local sub, arg2 = opts.args[1], opts.args[2]
  if sub == "status" then
    local id = arg2 or opts.campaign
    local q, code = open_queue("bulk", opts, nil)
    if not q then return code end
    local c, err = q:counts()
    local rec = id and q:call("HGETALL", campaign_key(q, id))
    q:close()
    if not c then return common.fail(opts, "bulk", err, 1) end
    local extra = {}
    rec = type(rec) == "table" and require("alimtalk.queue").hash_to_table(rec) or {}
    if id then
      if next(rec) == nil then
        return common.fail(opts, "bulk", "no campaign '" .. id .. "' was loaded into queue " .. q.name, 2)
      end
      extra = { campaign = id, rows = tonumber(rec.rows), loaded = tonumber(rec.queued),
                already = tonumber(rec.already), invalid = tonumber(rec.invalid),
                loading = rec.done == "1" and "finished" or "not finished" }
    end
    print_counts(opts, q.name, c, extra)
    if c.waiting > 0 or (id and rec.done ~= "1") then return common.EXIT.failed end
    return common.exit_for(c)
  end
  if sub ~= "run" then
    return common.usage_error("bulk", "with --queue: bulk run INPUT --campaign ID, or bulk status [ID]")
  end
  local input_path, id = arg2, opts.campaign
  if not input_path then return common.usage_error("bulk", "bulk run needs an INPUT file") end
  if not id or not id:find("^[%w_.%-]+$") then
    return common.usage_error("bulk", "bulk run needs --campaign ID (letters, digits, '_', '.', '-')")
  end
  if opts.templates then cfg.templates = opts.templates end
  local client, ce = common.client(cfg)
  if not client then return common.usage_error("bulk", ce) end
  local campaign = require("alimtalk.bulk.campaign")
  local rows, reader = campaign.rows{ input = input_path, format = opts.format, template = opts.template,
    to_column = opts.to_column, key_column = opts.key_column, campaign = id, registry = client.registry,
    check_serials = true }
  if not rows then client:close() return common.fail(opts, "bulk", reader, 2) end
  local q, code = open_queue("bulk", opts, client)
  if not q then reader:close() client:close() return code end
  local ck = campaign_key(q, id)
  local counts = { rows = 0, queued = 0, already = 0, invalid = 0 }
  local chunk_size = opts.chunk or 500
  local batch, batch_rows = {}, {}
  local failure
  local function flush()
    if #batch == 0 then return true end
    local res, err = q:enqueue_many(batch)
    if not res then failure = err return false end
    for i, t in ipairs(res) do
      if t.error then
        counts.invalid = counts.invalid + 1
        -- the row names the message here, not its place in this pipeline
        local e = t.error
        if type(e.field) == "string" then e.field = e.field:gsub("^messages%[%d+%]%.", "") end
        common.err("alimtalk bulk: row ", batch_rows[i], ": invalid: ", tostring(t.error), "\n")
      elseif t.duplicate then counts.already = counts.already + 1
      else counts.queued = counts.queued + 1 end
    end
    -- the loading record: a rerun after a kill sees how far it got (entries dedupe by serial)
    local ok, herr = q:call("HSET", ck, "rows", counts.rows, "queued", counts.queued,
      "already", counts.already,
                            "invalid", counts.invalid, "done", "0")
    if ok == nil then failure = herr return false end
    batch, batch_rows = {}, {}
    return true
  end
  for row, msg, err in rows do
    counts.rows = counts.rows + 1
    if not msg then
      counts.invalid = counts.invalid + 1
      common.err("alimtalk bulk: row ", row, ": invalid: ", tostring(err), "\n")
    else
      batch[#batch + 1] = msg
      batch_rows[#batch] = row
      if #batch >= chunk_size and not flush() then break end
    end
  end
  if not failure then flush() end
  reader:close()
  if not failure then
    local ok, herr = q:call("HSET", ck, "rows", counts.rows, "queued", counts.queued,
      "already", counts.already,
                            "invalid", counts.invalid, "done", "1")
    if ok == nil then failure = herr end
  end
  q:close()
  client:close()
  if failure then
    return common.fail(opts, "bulk", tostring(failure) .. " (loading stopped after " .. counts.rows
      .. " rows; run the same command again: rows already queued are not queued twice, within the"
      .. " queue's retention)", 1)
  end
  if opts.json then
    counts.campaign, counts.queue = id, opts.queue
    common.print_json(counts)
  else
    common.out(string.format("campaign %s loaded into queue %s: %d rows, %d queued, %d already queued, "
      .. "%d invalid\n",
                             id, opts.queue, counts.rows, counts.queued, counts.already, counts.invalid))
    common.out("  workers send it: 'alimtalk worker --queue " .. opts.queue
      .. "'; counts: 'alimtalk bulk status "
               .. id .. " --queue " .. opts.queue .. "'\n")
  end
  return counts.invalid > 0 and common.EXIT.failed or common.EXIT.ok
end

return _M
