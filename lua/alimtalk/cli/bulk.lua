--- `alimtalk bulk`: run, resume or inspect a resumable bulk campaign.
-- @module alimtalk.cli.bulk
local common = require("alimtalk.cli.common")
local campaign = require("alimtalk.bulk.campaign")

local _M = {}

_M.help = [[
usage: alimtalk bulk run INPUT --campaign ID [--template NAME] [options]
       alimtalk bulk resume ID [options]
       alimtalk bulk status ID [options]

run     send every row of INPUT (CSV with a header row: 'to' or 'phone' is the recipient,
        'template' optional, every other column a template variable; or JSON lines, one
        message per line). Each row's serial is derived from the campaign id and the row
        (its number, or --key-column), and every request is written to the campaign's
        journal before it goes out, so a campaign killed at any moment is resumed with
        nothing lost and nothing sent twice. Invalid rows go to rejects.jsonl with their
        reasons while the valid ones are sent.
resume  continue a stopped or killed campaign: the input, --template, the columns, the
        provider, the run options (--rate, --concurrency, --chunk, --quota-pause,
        --max-pauses, --no-fsync), the template registry and the configuration file come
        from its journal; a run option given to resume replaces the recorded one. A registry
        or configuration file gone or changed since is refused (exit 2, nothing touched)
        unless given again (--templates, -c). A -p naming another provider is refused
status  show a campaign's counts and files without sending (read-only while the campaign
        runs; otherwise the lists are brought up to date from the journal)

Campaign files are in STATE_DIR/ID/: journal.log, rejects.jsonl, accepted.jsonl,
rejected.jsonl, uncertain.jsonl, not_sent.jsonl, summary.json.

  --campaign ID        campaign id (letters, digits, '.', '_', '-'); required for run
  --template NAME      template for rows without a 'template' column / field
  --state-dir DIR      where campaigns live (default: config bulk.state_dir or
                       ./alimtalk-campaigns)
  --format csv|jsonl   input format (default: from the extension)
  --to-column NAME     CSV column with the phone number (default 'to', then 'phone')
  --key-column NAME    CSV column whose value makes the serial (default: the row number)
  --rate N             at most N messages per second (default: no limit)
  --concurrency N      requests in flight (default 8)
  --chunk N            rows per journal commit, one fsync each (default: the provider's
                       batch size x concurrency x 2, within 500..2000; with --rate, a
                       tenth of a second's worth)
  --quota-pause S      seconds to pause when the provider reports its quota (default 60)
  --max-pauses N       quota pauses before stopping (default 3)
  --no-fsync           flush the journal without fsync (survives a killed process, not a
                       power cut); --fsync on resume turns fsync back on
  --progress MODE      auto | bar | lines | none (default auto: a bar on a terminal)
  --templates FILE     template registry (overrides the configuration's)
  --policy FILE        policy script: routing, variables, fallback text (docs/policies.md)
  -p, --provider NAME  provider (default: the configured one)
  -c, --config FILE    configuration (default $ALIMTALK_CONFIG or ./alimtalk.json)
  --json               print the summary as JSON
  -h, --help           this help

With --queue NAME (and --redis URL): 'bulk run' loads the rows into that send queue
in Redis instead (flat memory; run it again after a kill: rows already queued are not
queued twice, within the queue's retention (worker --keep)) and workers on any host send
them ('alimtalk worker'); 'bulk status [ID]
--queue NAME' shows the queue's counts from Redis (docs/scale-out.md).

Exit status: 0 every row accepted, 1 some rejected, invalid or not sent (or the campaign
stopped, as on SIGTERM or SIGINT: the chunk being sent is finished and journaled, the rest
waits for 'bulk resume'; a second signal kills), 2 bad arguments or configuration (also a
campaign stopped by a configuration failure: its rows stay untried for a resume), 3 some
uncertain (reconcile with 'alimtalk status' before anything else).
]]

local spec = {
  options = {
    campaign = { value = true }, template = { value = true, short = "t" },
    ["state-dir"] = { value = true },
    format = { value = true, choices = { "csv", "jsonl" } },
    ["to-column"] = { value = true }, ["key-column"] = { value = true },
    rate = { value = true, number = true, min = 0 }, concurrency = { value = true, number = true, min = 1 },
    chunk = { value = true, number = true, min = 1 },
    ["quota-pause"] = { value = true, number = true, min = 0 },
    ["max-pauses"] = { value = true, number = true, min = 0 },
    ["no-fsync"] = {}, fsync = {}, progress = { value = true, choices = { "auto", "bar", "lines", "none" } },
    templates = { value = true }, policy = { value = true },
  },
  min_args = 1, max_args = 2, missing = "give a subcommand: run, resume or status",
}

local function abs(path)
  if path:sub(1, 1) == "/" then return path end
  local pwd = os.getenv("PWD")
  if not pwd then
    local p = io.popen("pwd")
    pwd = p and p:read("l")
    if p then p:close() end
  end
  return pwd and (pwd .. "/" .. path) or path
end

local function print_summary(opts, s, verb)
  for _, w in ipairs(s.warnings or {}) do common.err("alimtalk bulk: warning: ", w, "\n") end
  if opts.json then
    common.print_json(s)
    return
  end
  local c = s.counts
  common.out(string.format("campaign %s %s\n", s.campaign, verb))
  common.out(string.format("  accepted   %8d  %s\n", c.accepted or 0, s.files.accepted))
  common.out(string.format("  rejected   %8d  %s\n", c.rejected or 0, s.files.rejected))
  common.out(string.format("  invalid    %8d  %s\n", c.invalid or 0, s.files.rejects))
  common.out(string.format("  uncertain  %8d  %s\n", c.uncertain or 0, s.files.uncertain))
  common.out(string.format("  not sent   %8d  %s\n", c.not_sent or 0, s.files.not_sent))
  if c.unattempted and c.unattempted > 0 then
    common.out(string.format("  not tried  %8d  (rows after the stop; 'alimtalk bulk resume %s')\n",
                             c.unattempted, s.campaign))
  end
  if s.sent_this_run then
    -- messages the provider answered for; rows not sent or not tried are not in the rate
    common.out(string.format("  this run: %d rows handled, %d sent to the provider%s\n",
      s.tried_this_run or 0, s.sent_this_run,
      s.rate and string.format(" (%.0f messages/s)", s.rate) or ""))
  end
  local l = s.latency
  if l then
    -- request round trips as the client measured them (one request carries up to a batch)
    common.out(string.format("  latency: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms over %d requests\n",
      l.p50 * 1000, l.p90 * 1000, l.p99 * 1000, l.requests))
  end
  if s.stopped then common.out("  stopped: ", s.stopped, "\n") end
  if (c.uncertain or 0) > 0 then
    common.out("  uncertain rows may have been sent: reconcile them with 'alimtalk status' ",
               "before sending them again\n")
  end
end

-- The header record of a campaign's journal (its first line), or nil.
local function journal_header(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local line = f:read("l")
  f:close()
  local h = line and line:sub(1, 2) == "H\t" and require("cjson.safe").decode(line:sub(3))
  return type(h) == "table" and h or nil
end

--- Run `alimtalk bulk`.
function _M.main(args)
  local queue_cli = require("alimtalk.queue.cli")
  if queue_cli.wanted(args) then return queue_cli.bulk(args) end
  local opts, cfg = common.start("bulk", spec, _M.help, args, true)
  if not opts then return cfg end
  if opts.fsync and opts.no_fsync then
    return common.usage_error("bulk", "give --fsync or --no-fsync, not both")
  end
  local sub, arg2 = opts.args[1], opts.args[2]
  local bulkcfg = type(cfg.bulk) == "table" and cfg.bulk or {}
  local state_dir = opts.state_dir or bulkcfg.state_dir or "alimtalk-campaigns"
  state_dir = abs(state_dir)
  if sub == "status" then
    if not arg2 then return common.usage_error("bulk", "bulk status needs a campaign id") end
    local s, e = campaign.status(state_dir, arg2)
    if not s then return common.fail(opts, "bulk", "no campaign '" .. arg2 .. "' in " .. state_dir
                                     .. " (" .. tostring(e and e.message or e) .. ")", 2) end
    print_summary(opts, s, s.running and "running (counts from its journal; the lists are rewritten "
      .. "when it ends)" or s.done and "finished" or "not finished (resume it)")
    if not s.done then return common.EXIT.failed end
    return common.exit_for(s.counts)
  end
  if sub ~= "run" and sub ~= "resume" then
    return common.usage_error("bulk", "unknown subcommand '" .. tostring(sub) .. "' (run, resume or status)")
  end
  local id, input_path, journal_options
  -- what the campaign is told of its setup (alimtalk.bulk.setup): the files given to this run;
  -- on a resume, a file not given again is left to the campaign, which restores and checks it
  local run_templates, run_config
  local restored_config = false
  if sub == "run" then
    input_path = arg2
    id = opts.campaign
    if not input_path then return common.usage_error("bulk", "bulk run needs an INPUT file") end
    if not id then return common.usage_error("bulk", "bulk run needs --campaign ID") end
    local f = io.open(input_path, "rb")
    if not f then return common.usage_error("bulk", "cannot open input " .. input_path) end
    f:close()
    if not opts.template then
      local te = require("alimtalk.cli.messages").no_template(input_path, opts.format)
      if te then return common.usage_error("bulk", te) end
    end
    local j = io.open(campaign.paths(state_dir, id).journal, "rb")
    if j then
      j:close()
      return common.usage_error("bulk", "campaign '" .. id .. "' already exists in " .. state_dir
                                .. ": use 'alimtalk bulk resume " .. id .. "'")
    end
    input_path = abs(input_path)
  else
    id = arg2 or opts.campaign
    if not id then return common.usage_error("bulk", "bulk resume needs a campaign id") end
    local h = journal_header(campaign.paths(state_dir, id).journal)
    if not h then return common.usage_error("bulk", "no campaign '" .. id .. "' in " .. state_dir) end
    -- The rest of the campaign goes through the provider it is sent through (the one it was
    -- started with, or the one an older version's resume switched it to): another one would
    -- bill elsewhere and could not drop the duplicates of rows in doubt.
    local recorded, recorded_setup
    recorded, journal_options, recorded_setup = require("alimtalk.bulk.journal").run_provider(
      campaign.paths(state_dir, id).journal)
    if type(recorded) ~= "string" then recorded = nil end
    if recorded_setup and not opts.config then
      -- the configuration the campaign was started with (none, or its file, unchanged)
      local rc = recorded_setup.config
      if type(rc) == "table" and type(rc.path) == "string" then
        local ok, se = require("alimtalk.bulk.setup").check(id, "config", rc)
        if not ok then return common.fail(opts, "bulk", se, 2) end
      end
      if rc ~= nil then
        restored_config = true
        local ce
        cfg, ce = common.load_config({ config = type(rc) == "table" and rc.path or false,
                                       provider = opts.provider, policy = opts.policy })
        if not cfg then return common.usage_error("bulk", ce) end
        bulkcfg = type(cfg.bulk) == "table" and cfg.bulk or {}
      end
    end
    if recorded_setup and not opts.templates and not opts.config then
      -- the registry too: the campaign loads the recorded one (or none) and checks it
      cfg.templates = nil
    end
    if recorded and opts.provider and opts.provider ~= recorded then
      return common.usage_error("bulk", "campaign '" .. id .. "' is sent through " .. recorded
        .. ", not " .. opts.provider .. ": resume it without -p (rows in doubt are resent only to "
        .. "the provider they may have reached)")
    end
    if recorded and not opts.provider and common.known_provider(recorded) then
      -- as -p does (common.load_config): the one provider, not the configuration's route
      opts.provider, cfg.provider, cfg.route = recorded, recorded, nil
    end
  end
  if opts.templates then cfg.templates = opts.templates end
  if type(cfg.templates) == "string" then run_templates = abs(cfg.templates) end
  -- the campaign loads the registry (and records it); the client is made without one
  cfg.templates = nil
  if not restored_config then
    local cp = common.config_path(cfg)
    run_config = cp and abs(cp) or false
  end
  -- request latencies for the summary's percentiles (exact: every round trip kept, to 100000)
  local latency = require("alimtalk.metrics").new{ samples = 100000 }
  cfg.metrics = latency
  local client, ce = common.client(cfg)
  if not client then return common.usage_error("bulk", ce) end
  local progress = require("alimtalk.bulk.progress").new{
    mode = opts.json and "none" or (opts.progress or bulkcfg.progress or "auto") }
  local run = {
    client = client, campaign = id, state_dir = state_dir, input = input_path,
    format = opts.format, template = opts.template, to_column = opts.to_column,
    key_column = opts.key_column, rate = opts.rate, chunk = opts.chunk,
    concurrency = opts.concurrency, quota_pause = opts.quota_pause, max_pauses = opts.max_pauses,
    progress = progress, same_provider = sub == "resume" or nil,
    templates = run_templates, config = run_config,
  }
  if opts.no_fsync then run.fsync = false elseif opts.fsync then run.fsync = true end
  -- A new campaign takes the configuration's defaults; a resume, the journal's options (for an
  -- option a journal from before they were recorded lacks: the configuration's, as then).
  local recorded_opts = sub == "resume" and journal_options or {}
  if recorded_opts.rate == nil then run.rate = run.rate or bulkcfg.rate end
  if recorded_opts.concurrency == nil then run.concurrency = run.concurrency or bulkcfg.concurrency end
  if recorded_opts.fsync == nil and run.fsync == nil then run.fsync = bulkcfg.fsync ~= false end
  -- SIGTERM/SIGINT: finish and journal the chunk being sent, then stop (a second one kills)
  local stop_on = common.trap_stop_signals()
  run.stop = stop_on.asked
  local ok, s, e = pcall(campaign.run, run)
  stop_on.release()
  client:close()
  if not ok then return common.fail(opts, "bulk", common.redact(s), 1) end
  if not s then return common.fail(opts, "bulk", e, 2) end
  if latency:sampled() > 0 then
    s.latency = { requests = latency:sampled(), p50 = latency:quantile(0.5),
                  p90 = latency:quantile(0.9), p99 = latency:quantile(0.99) }
  end
  print_summary(opts, s, s.stopped and "stopped" or "finished")
  if s.configuration_error then
    -- the setup is wrong, not any row: exit 2, as for a configuration refused before the start
    if not opts.json then common.err("alimtalk bulk: ", s.stopped, "\n") end
    return common.EXIT.usage
  end
  if s.stopped then
    if stop_on.signal and not opts.json then
      common.err("alimtalk bulk: stopped on SIG", stop_on.signal, "\n")
    end
    return common.EXIT.failed
  end
  return common.exit_for(s.counts)
end

return _M
