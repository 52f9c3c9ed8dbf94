--- Resumable bulk campaigns: a CSV or JSON-lines file sent through an alimtalk client.
--
-- Each row gets a serial derived from the campaign id and the row (its number, or the value
-- of a key column), so a rerun recreates the same serials. Rows are read one at a time and
-- sent in chunks; before a chunk goes out its rows are written to the journal (see
-- alimtalk.bulk.journal) and committed, so a campaign killed at any moment resumes with nothing
-- lost and nothing sent twice. Invalid rows go to `rejects.jsonl` with their reasons while the
-- valid ones are sent. At the end the outcome of every row is listed in `accepted.jsonl`,
-- `rejected.jsonl`, `uncertain.jsonl` and `not_sent.jsonl` beside the journal.
--
-- State lives in one folder per campaign: `<state_dir>/<campaign>/`.
-- @module alimtalk.bulk.campaign
local cjson = require("cjson.safe")
local input = require("alimtalk.bulk.input")
local journal_mod = require("alimtalk.bulk.journal")
local setup = require("alimtalk.bulk.setup")
local sys = require("alimtalk.bulk.sys")
local errors = require("alimtalk.errors")

local _M = {}

_M.VERSION = 1

-- Providers that drop a second message with a serial they have seen (answering "duplicate"),
-- so resending an interrupted row under the same serial cannot deliver it twice; used only
-- when the client's provider object does not say (its `dedupes` field). API PLEX dedupes
-- only where configured (`dedupe_msg_key`), which its provider object reports.
_M.DEDUPING = { bizmessage = true, sandbox = true }

local OPTIONS = {
  client = true, input = true, format = true, campaign = true, state_dir = true, template = true,
  to_column = true, key_column = true, rate = true, chunk = true, concurrency = true,
  dedupes = true, fsync = true, progress = true, quota_pause = true, max_pauses = true,
  validate = true, provider = true, on_chunk = true, same_provider = true, templates = true,
  config = true, stop = true,
}

-- Run options kept in the journal (header, then each resume's event): a resume reuses them,
-- and an option given to the resume replaces the recorded one from then on.
_M.RUN_OPTIONS = { "rate", "chunk", "concurrency", "quota_pause", "max_pauses", "fsync" }

local core = require "alimtalk.core"
local hex = core.hex

--- The serial of a row: 32 hex digits of SHA-256(campaign, key), stable across reruns.
-- @tparam string campaign campaign id
-- @tparam string key `"row:<n>"` or `"key:<value>"`
function _M.serial(campaign, key)
  return hex(core.sha256(campaign .. "\0" .. key)):sub(1, 32)
end

-- A fingerprint of the input so a resume notices an edited file: size + hash of the head.
local function fingerprint(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local size = f:seek("end")
  f:seek("set", 0)
  local head = f:read(65536) or ""
  f:close()
  return { size = size, head_sha256 = hex(core.sha256(head)) }
end

--- Paths of a campaign's files.
-- @tparam string state_dir folder holding campaigns
-- @tparam string campaign campaign id
-- @treturn table `dir`, `journal`, `rejects`, `accepted`, `rejected`, `uncertain`, `not_sent`, `summary`
function _M.paths(state_dir, campaign)
  local dir = state_dir .. "/" .. campaign
  return {
    dir = dir, journal = dir .. "/journal.log", rejects = dir .. "/rejects.jsonl",
    accepted = dir .. "/accepted.jsonl", rejected = dir .. "/rejected.jsonl",
    uncertain = dir .. "/uncertain.jsonl", not_sent = dir .. "/not_sent.jsonl",
    summary = dir .. "/summary.json",
  }
end

local function mkdir_p(dir)
  return sys.run("mkdir -p " .. sys.quote(dir))
end

local function file_exists(p)
  local f = io.open(p, "rb")
  if f then f:close() return true end
  return false
end

-- Whether the registry entry of template `tname` has a variable `name` (remembered per name).
local function uses_var(c, tname, name)
  if tname == nil then return false end
  local known = c.uses_key[tname]
  if known == nil then
    local reg = c.registry
    local e = type(reg) == "table" and type(reg.get) == "function" and reg:get(tname) or nil
    known = type(e) == "table" and type(e.varset) == "table" and e.varset[name] ~= nil or false
    c.uses_key[tname] = known
  end
  return known
end

-- The recipient and key columns must be in a CSV's header: otherwise every row would be
-- rejected ("no phone number"), so the campaign is refused before it starts.
local function missing_column(header, c)
  local have = {}
  for _, name in ipairs(header) do have[name] = true end
  local cols = " (its columns: " .. table.concat(header, ", ") .. ")"
  if c.need_to ~= false and not have[c.to_column] and not (c.to_column == "to" and have.phone) then
    local what = c.to_column == "to" and "no 'to' or 'phone' column (name it with --to-column)"
      or ("no column '" .. c.to_column .. "' (--to-column)")
    return errors.new{ code = "BAD_OPTION", field = "to_column", message = "input " .. c.input
      .. " has " .. what .. cols }
  end
  if c.key_column and not have[c.key_column] then
    return errors.new{ code = "BAD_OPTION", field = "key_column", message = "input " .. c.input
      .. " has no column '" .. c.key_column .. "' (--key-column)" .. cols }
  end
  return nil
end

-- Rows whose serial an earlier row of the input already has (a --key-column value or a JSON
-- lines id seen before): the provider would keep one message of the two and drop the other as
-- a duplicate, so these rows are refused before sending, wherever they are in the input
-- (`input.repeats`, flat memory). This process keeps a bit per repeat. Returns the bitset, or
-- nil when there is nothing to check (serials from row numbers), and why it could not look.
-- Should sort(1) fail, only providers that drop duplicate serials still catch a repeat (their
-- duplicate answer for a row not in doubt is DUPLICATE_ID); elsewhere both rows are sent.
local function serial_key(c)
  if c.format == "csv" then
    return function(t)
      local k = t[c.key_column]
      if k ~= nil and k ~= "" then return "key:" .. k end
    end
  end
  return function(t) if t.id ~= nil then return "id:" .. tostring(t.id) end end
end

local function repeated_keys(c, dir)
  if c.format == "csv" and not c.key_column then return nil end
  local dup = journal_mod.bits()
  local ok, why = input.repeats(c.input, { format = c.format, dir = dir }, serial_key(c),
                                function(row) dup:set(row) end)
  return dup, not ok and why or nil
end

-- The reason a row whose key an earlier row already has is refused.
local function repeated_key(c, t, first)
  local field, what
  if c.format == "csv" then
    field = c.key_column
    what = "the key column '" .. field .. "' value '" .. tostring(t[field]) .. "'"
  else
    field, what = "id", "the id '" .. tostring(t.id) .. "'"
  end
  return errors.new{ code = "DUPLICATE_ID", field = field, message = what .. " is already used by "
    .. (first and ("row " .. first) or "an earlier row") .. ": the two would share a serial and the "
    .. "provider would keep only one of them" }
end

-- Turn one input row into a message.
-- Also returns whether the row names its own template (not the campaign's `template`).
local function row_message(c, row, t)
  local msg, own
  if c.format == "jsonl" then
    msg = t
    own = msg.template ~= nil
    if msg.template == nil and msg.content == nil then msg.template = c.template end
    if msg.id ~= nil then
      msg.id = tostring(msg.id)
    else
      msg.id = _M.serial(c.campaign, "row:" .. row)
    end
  else
    local to = t[c.to_column]
    if to == nil and c.to_column == "to" then to = t.phone end
    own = t.template ~= nil and t.template ~= ""
    local tname = own and t.template or c.template
    -- the key column makes the serial; like the phone column it is no variable, unless the
    -- row's template has a variable of that name
    local kc = c.key_column
    local key = kc and t[kc]
    local key_var = kc ~= nil and uses_var(c, tname, kc)
    local vars = {}
    for k, v in pairs(t) do
      if k ~= c.to_column and k ~= "template" and (k ~= "phone" or c.to_column ~= "to" or t.to)
        and (k ~= kc or key_var) then
        vars[k] = v
      end
    end
    if kc and (key == nil or key == "") then
      return nil, errors.new{ code = "REQUIRED", field = kc,
                              message = "the key column '" .. kc .. "' is empty" }
    end
    msg = { to = to, template = tname, vars = vars }
    msg.id = _M.serial(c.campaign, key and ("key:" .. key) or ("row:" .. row))
  end
  if c.need_to ~= false and (msg.to == nil or msg.to == "") then
    return nil, errors.new{ code = "REQUIRED", field = "to", message = "the row has no phone number" }
  end
  if msg.template == nil and msg.content == nil then
    return nil, errors.new{ code = "REQUIRED", field = "template",
                            message = "no template: give --template or a template column" }
  end
  return msg, nil, own
end

--- Read a file's rows as `bulk run` reads them (for `alimtalk validate`/`render FILE`): each
-- row becomes the message bulk run would send, with the serial it would give it, and a row
-- whose key an earlier row has is a DUPLICATE_ID error, as bulk run refuses it.
-- @tparam table o `input` (path), `format`, `template`, `to_column`, `key_column`, `campaign`
-- (the serials' campaign id), `registry`, `need_to` (false: a row without a recipient is fine),
-- `check_serials` (look for repeated keys), `sort` (the sort(1) command, as for `input.repeats`)
-- @treturn function|nil an iterator of `row, msg` or `row, nil, err` (call `close` on the
-- second value when stopping early), or nil and an error
-- @treturn table the reader
-- @treturn string|nil a warning: repeated keys could not be looked for (sort(1) failed)
function _M.rows(o)
  local c = { campaign = o.campaign, uses_key = {}, registry = o.registry, input = o.input,
              template = o.template, to_column = o.to_column or "to", key_column = o.key_column,
              need_to = o.need_to }
  local reader, re = input.open(o.input, { format = o.format })
  if not reader then return nil, errors.new{ code = "BAD_INPUT", field = "input", message = re } end
  c.format = reader.format
  local ce = reader.header and missing_column(reader.header, c)
  if ce then reader:close(); return nil, ce end
  local repeats, warning = {}, nil
  if o.check_serials and not (c.format == "csv" and not c.key_column) then
    local ok, why = input.repeats(c.input, { format = c.format, sort = o.sort }, serial_key(c),
                                  function(row, first) repeats[row] = first end)
    if not ok then warning = why end
  end
  return function()
    local row, t, perr = reader:next()
    if not row then reader:close() return nil end
    if not t then return row, nil, errors.new{ code = "BAD_ROW", message = perr } end
    if repeats[row] then return row, nil, repeated_key(c, t, repeats[row]) end
    local msg, merr = row_message(c, row, t)
    if not msg then return row, nil, merr end
    return row, msg
  end, reader, warning
end

local function plain_err(e)
  if type(e) ~= "table" then return { code = "INVALID", message = tostring(e) } end
  -- the client names fields by their place in its batch ("messages[3].to"): a row has its own
  local field = type(e.field) == "string" and e.field:gsub("^messages%[%d+%]%.?", "") or e.field
  if field == "" then field = nil end
  local o = { code = e.code, field = field, message = e.message, provider_code = e.provider_code,
              limit = e.limit, actual = e.actual, unit = e.unit }
  if e.errors and #e.errors > 1 then
    o.errors = {}
    for i, x in ipairs(e.errors) do o.errors[i] = plain_err(x) end
  end
  return o
end

-- What the journal keeps of a result: ids, codes, attempts. Results never hold secrets.
local DETAIL_KEYS = { "provider", "code", "detail_code", "provider_code", "message", "request_id",
                      "message_id", "uid", "msg_key", "attempts", "class", "reason", "field", "key" }
local function result_detail(r)
  local d = {}
  for _, k in ipairs(DETAIL_KEYS) do
    local v = r[k]
    if type(v) == "string" or type(v) == "number" or type(v) == "boolean" then d[k] = v end
  end
  if type(r.ids) == "table" then
    d.ids = {}
    for k, v in pairs(r.ids) do if type(v) ~= "table" then d.ids[k] = v end end
  end
  return d
end

local function is_quota(r)
  return r.quota == true or r.class == "quota"
end

-- Rows as [first, last] runs, for the journal's "going out" records.
local function runs(list)
  table.sort(list)
  local out, a, b = {}, nil, nil
  for _, r in ipairs(list) do
    if a and r == b + 1 then b = r
    else
      if a then out[#out + 1] = { a, b } end
      a, b = r, r
    end
  end
  if a then out[#out + 1] = { a, b } end
  return out
end

local function reject_record(err, raw)
  local pe = plain_err(err)
  -- `errors` always lists every violation, even when there is only one
  if not pe.errors then
    pe.errors = { { code = pe.code, field = pe.field, message = pe.message,
      provider_code = pe.provider_code, limit = pe.limit, actual = pe.actual, unit = pe.unit } }
  end
  local why = { error = pe, input = raw }
  if not cjson.encode(why) then why.input = nil end
  return why
end

-- One process at a time per campaign: two runs of the same campaign (an overlapping cron job)
-- could otherwise both resend the same interrupted rows. The lock is a directory (mkdir is
-- atomic) holding its owner's pid, process start time and boot id; a lock whose owner is gone
-- (killed, or the machine rebooted) is stale and taken over. Linux only (/proc); elsewhere
-- campaigns are not locked.
local function self_process()
  local f = io.open("/proc/self/stat", "r")
  if not f then return nil end
  local st = f:read("a")
  f:close()
  local pid, rest = st:match("^(%d+) %(.*%) (.*)$")
  if not pid then return nil end
  local fields = {}
  for w in rest:gmatch("%S+") do fields[#fields + 1] = w end
  return pid, fields[20] -- field 22 of stat, the start time (fields here start at field 3)
end

local function process_alive(pid, start)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if not f then return false end
  local st = f:read("a")
  f:close()
  local rest = st:match("^%d+ %(.*%) (.*)$")
  local fields = {}
  for w in (rest or ""):gmatch("%S+") do fields[#fields + 1] = w end
  return fields[20] == start
end

-- CAMPAIGN_BUSY when a live process holds the lock of campaign folder `dir`, else nil.
local function busy(dir)
  local f = io.open(dir .. "/lock/owner", "rb")
  local text = f and f:read("a") or ""
  if f then f:close() end
  local opid, ostart, oboot = text:match("^(%d+) (%S+) (%S+)")
  if opid and oboot == journal_mod.boot_id() and process_alive(opid, ostart) then
    return errors.new{ code = "CAMPAIGN_BUSY", field = "campaign",
                       message = "the campaign is being run by process " .. opid }
  end
  return nil
end

local function lock(dir)
  local pid, start = self_process()
  if not pid then return function() end end
  local path = dir .. "/lock"
  local owner = path .. "/owner"
  for _ = 1, 2 do
    if sys.run("mkdir " .. sys.quote(path) .. " 2>/dev/null") then
      local f = assert(io.open(owner, "wb"))
      f:write(pid, " ", start, " ", journal_mod.boot_id(), "\n")
      f:close()
      return function() os.remove(owner); os.remove(path) end
    end
    local held = busy(dir)
    if held then return nil, held end
    os.remove(owner) -- stale: its owner is gone
    os.remove(path)
  end
  return nil, errors.new{ code = "CAMPAIGN_BUSY", field = "campaign",
                          message = "cannot take the lock " .. path }
end

-- The template registry a run uses and the setup to record (alimtalk.bulk.setup): the part
-- given to this run (`templates`, `config`) is taken and recorded with its digest; on a resume
-- a part not given again is the recorded one, refused when its file is gone or changed.
-- Returns the registry (or nil for none) and the parts to record (all of them for a new
-- campaign, those given or new on a resume), or nil, nil and the error. Touches nothing.
local function resolve_setup(opts, campaign, recorded, resuming, provider)
  local client = opts.client
  local now, given = {}, {}
  if opts.config ~= nil then
    if opts.config == false then
      now.config = false
    else
      if type(opts.config) ~= "string" then error("alimtalk.bulk.campaign.run: config must be a path", 3) end
      local d, why = setup.file_digest(opts.config, "config")
      if not d then
        return nil, nil, errors.new{ code = "BAD_OPTION", field = "config",
                                     message = "configuration " .. opts.config .. " " .. why }
      end
      now.config = { path = opts.config, digest = d, section = provider }
    end
    given.config = true
  elseif type(recorded) == "table" and type(recorded.config) == "table"
    and type(recorded.config.path) == "string" then
    local ok, e = setup.check(campaign, "config", recorded.config)
    if not ok then return nil, nil, e end
  end
  local registry = require("alimtalk.registry")
  local reg = client.registry
  if opts.templates ~= nil then
    if type(opts.templates) ~= "string" then
      error("alimtalk.bulk.campaign.run: templates must be a path", 3)
    end
    local r, e = registry.load(opts.templates)
    if not r then
      return nil, nil, errors.new{ code = "BAD_OPTION", field = "templates", message = "template registry "
        .. opts.templates .. ": " .. tostring(type(e) == "table" and e.message or e) }
    end
    reg = r
    now.templates = { path = opts.templates, digest = setup.registry_digest(r) }
    given.templates = true
  end
  local rt = type(recorded) == "table" and recorded.templates or nil
  if not given.templates then
    if type(rt) == "table" then
      if reg then
        -- the client's own registry: only the one the campaign was started with
        if setup.registry_digest(reg) ~= rt.digest then
          return nil, nil, setup.registry_mismatch(campaign, rt, true)
        end
      elseif type(rt.path) == "string" then
        local ok, e = setup.check(campaign, "templates", rt)
        if not ok then return nil, nil, e end
        local r, le = registry.load(rt.path)
        if not r then
          return nil, nil, errors.new{ code = "SETUP_CHANGED", field = "templates", message = "campaign "
            .. campaign .. " was started with the template registry " .. rt.path .. ", which no longer "
            .. "loads (" .. tostring(type(le) == "table" and le.message or le) .. "); nothing was sent" }
        end
        reg = r
      else
        return nil, nil, setup.registry_mismatch(campaign, rt, false)
      end
    elseif not resuming or rt == nil or (rt == false and reg) then
      -- a new campaign (or one whose journal predates the setup record), or a registry where
      -- the campaign had none: the client's
      now.templates = reg and { digest = setup.registry_digest(reg) } or false
    end
  end
  return reg, now
end

-- A failure of the setup that every row would meet, found before the campaign starts or
-- resumes: the campaign's template missing from its registry, or a CSV whose rows all have
-- variables to fill in without any registry.
local function setup_fault(c, header)
  local reg = c.registry
  if c.template ~= nil and reg and not reg:get(c.template) then
    return errors.new{ code = "TEMPLATE_NOT_FOUND", field = "template", provider_code = "3015",
      message = "the campaign's template '" .. tostring(c.template) .. "' (--template) is not in "
        .. "its template registry" .. (c.templates_path and (" " .. c.templates_path) or "")
        .. "; nothing was sent: give the right name, or the registry that has it (--templates FILE)" }
  end
  if reg == nil and header then
    local have = {}
    for _, name in ipairs(header) do have[name] = true end
    local var, tcol = false, have.template == true
    for _, name in ipairs(header) do
      local recipient = name == c.to_column or (name == "phone" and c.to_column == "to" and not have.to)
      if not recipient and name ~= "template" and name ~= c.key_column then var = true end
    end
    if var and (c.template ~= nil or tcol) then
      return setup.no_registry({ template = c.template or "(from the template column)" })
    end
  end
  return nil
end

--- Run a campaign, or resume it when its journal exists.
-- @tparam table opts
--  `client` (an alimtalk client, required), `campaign` (id, `[%w._-]+`, required),
--  `state_dir` (default "."), `input` (path; required for a new campaign), `format` ("csv" |
--  "jsonl", default from the extension), `template` (default template name), `to_column`
--  (default "to", then "phone"), `key_column` (serials from this column's values instead of
--  row numbers), `rate` (messages per second, default unlimited), `chunk` (rows per journal
--  commit, default: the provider's batch size x concurrency x 2, within 500..2000),
--  `concurrency` (send_batch concurrency, default 8), `dedupes` (the provider drops
--  duplicate serials; default from the client's provider), `fsync` (default true),
--  `progress` (an alimtalk.bulk.progress or nil), `quota_pause` (seconds, default 60),
--  `max_pauses` (default 3), `validate` (function(msg) -> true | nil, err, checked before
--  the client's own pre-flight validation), `provider` (name, for the journal), `on_chunk`
--  (function(stats) after each chunk), `stop` (function: true asks the run to stop before
--  the next row, as on SIGTERM; the chunk being sent is finished and journaled first, the
--  rows read after it stay untried for a resume), `same_provider` (a resume through another provider
--  than the journal's is refused: `PROVIDER_CHANGED`). The run options (`rate`, `chunk`,
--  `concurrency`, `quota_pause`, `max_pauses`, `fsync`) are recorded in the journal; a resume
--  takes the recorded ones unless given again (a given one is recorded for later resumes).
--  A CSV whose header lacks the recipient or key column is refused (`BAD_OPTION`).
--  `templates` (path of a template registry file: the campaign's registry, used instead of
--  the client's own for the run) and `config` (path of the configuration file the client was
--  made from, or false for none) are recorded with a digest of their content, as is the
--  client's own registry; a resume given neither restores them (a registry recorded with its
--  path is loaded again), and refuses with `SETUP_CHANGED` (nothing touched) when such a file
--  is gone or its content changed, or the client's registry is another one; given again, the
--  new digest is recorded. A failure of the setup that every row would meet (no registry for
--  templates with variables, a `template` no registry has, see alimtalk.bulk.setup) refuses
--  the campaign before it starts, or stops it when a row meets it: the rows stay untried
--  (`configuration_error` in the summary) and a resume with the setup fixed sends them.
-- @treturn table summary: `counts` (accepted, rejected, invalid, uncertain, not_sent,
--  unattempted), `files`, `stopped` (reason when the campaign stopped early),
--  `configuration_error` (when a failure of the setup stopped it), or nil and an error
local run_locked

function _M.run(opts)
  for k in pairs(opts) do
    if not OPTIONS[k] then error("alimtalk.bulk.campaign.run: unknown option '" .. tostring(k) .. "'", 2) end
  end
  assert(opts.client, "alimtalk.bulk.campaign.run: client is required")
  local campaign = opts.campaign
  if type(campaign) ~= "string" or not campaign:match("^[%w._-]+$") or campaign:sub(1, 1) == "." then
    return nil, errors.new{ code = "BAD_OPTION", field = "campaign",
                            message = "campaign id must be letters, digits, '.', '_' or '-'" }
  end
  local paths = _M.paths(opts.state_dir or ".", campaign)
  if not file_exists(paths.journal) and not opts.input then
    -- (a campaign just started by another process may not have written its journal yet)
    return nil, busy(paths.dir) or errors.new{ code = "REQUIRED", field = "input", message = "no input file" }
  end
  if not mkdir_p(paths.dir) then
    return nil, errors.new{ code = "BAD_OPTION", field = "state_dir",
                            message = "cannot create " .. paths.dir }
  end
  local unlock, le = lock(paths.dir)
  if not unlock then return nil, le end
  -- the run may give the client the campaign's registry: its own is put back afterwards
  local own_registry = opts.client.registry
  local ok, summary, err = pcall(run_locked, opts, campaign, paths)
  opts.client.registry = own_registry
  unlock()
  -- a new campaign refused before its journal was written leaves no empty folder behind
  if not file_exists(paths.journal) then os.remove(paths.dir) end
  if not ok then error(summary, 0) end
  return summary, err
end

--- Resume a campaign: `run` for one whose journal exists (`NO_CAMPAIGN` otherwise), through
-- the provider its journal records (`same_provider` on). Everything its rows depend on comes
-- from the journal unless given again (see `run`).
-- @tparam table opts as for `run`, without `input`
-- @treturn table the summary, or nil and an error
function _M.resume(opts)
  if type(opts) ~= "table" then error("alimtalk.bulk.campaign.resume: options must be a table", 2) end
  local id = opts.campaign
  if type(id) == "string" and id:match("^[%w._-]+$") and id:sub(1, 1) ~= "." and not file_exists(
    _M.paths(opts.state_dir or ".", id).journal) then
    return nil, busy(_M.paths(opts.state_dir or ".", id).dir) or errors.new{ code = "NO_CAMPAIGN",
      field = "campaign", message = "no campaign '" .. id .. "' in " .. tostring(opts.state_dir or ".") }
  end
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  if o.same_provider == nil then o.same_provider = true end
  return _M.run(o)
end

run_locked = function(opts, campaign, paths)
  local resuming = file_exists(paths.journal)
  local st
  local c = { campaign = campaign, uses_key = {}, registry = opts.client.registry }
  -- the run options: given ones, else the journal's (ro), else the defaults below
  local ro, given = {}, {}
  for _, k in ipairs(_M.RUN_OPTIONS) do
    if opts[k] ~= nil then ro[k], given[k] = opts[k], opts[k] end
  end
  if resuming then
    local e
    st, e = journal_mod.scan(paths.journal)
    if not st then return nil, errors.new{ code = "BAD_JOURNAL", message = tostring(e) } end
    local h = st.header
    if opts.input and opts.input ~= h.input then
      return nil, errors.new{ code = "BAD_OPTION", field = "input", message = "campaign " .. campaign
        .. " was started with input " .. tostring(h.input) .. "; resume it without --input" }
    end
    c.input, c.format, c.template = h.input, h.format, h.template
    c.to_column, c.key_column = h.to_column, h.key_column
    for k, v in pairs(st.options) do
      if ro[k] == nil then ro[k] = v end
    end
    local fp = fingerprint(c.input)
    if not fp then
      return nil, errors.new{ code = "BAD_OPTION", field = "input",
                              message = "cannot open input " .. c.input }
    end
    if fp.size ~= h.fingerprint.size or fp.head_sha256 ~= h.fingerprint.head_sha256 then
      return nil, errors.new{ code = "INPUT_CHANGED", field = "input", message = "input " .. c.input
        .. " changed since the campaign started; restore it or start a new campaign" }
    end
  else
    if not opts.input then
      return nil, errors.new{ code = "REQUIRED", field = "input", message = "no input file" }
    end
    c.input, c.format, c.template = opts.input, opts.format, opts.template
    c.to_column, c.key_column = opts.to_column or "to", opts.key_column
  end
  local reader, re = input.open(c.input, { format = c.format })
  if not reader then return nil, errors.new{ code = "BAD_INPUT", field = "input", message = re } end
  c.format = reader.format
  local ce = reader.header and missing_column(reader.header, c)
  if ce then reader:close(); return nil, ce end

  local client = opts.client
  local provider = opts.provider
  if provider == nil and type(client.names) == "table" then provider = table.concat(client.names, ",") end
  if type(provider) ~= "string" then provider = st and st.header.provider or nil end
  if st and opts.same_provider and st.run_provider and provider ~= st.run_provider then
    reader:close()
    return nil, errors.new{ code = "PROVIDER_CHANGED", field = "provider", message = "campaign "
      .. campaign .. " is sent through " .. st.run_provider .. ", not " .. tostring(provider)
      .. ": resume it through " .. st.run_provider .. " (rows in doubt are resent only to the "
      .. "provider they may have reached)" }
  end
  -- What the rows depend on: restored and checked, and the failures every row would meet,
  -- all before anything is written (a refused resume leaves the journal as it was).
  local reg, now_setup, se = resolve_setup(opts, campaign, st and st.setup, st ~= nil, provider)
  if se then reader:close(); return nil, se end
  c.registry = reg
  c.templates_path = now_setup.templates and now_setup.templates.path
    or (st and st.setup and type(st.setup.templates) == "table" and st.setup.templates.path) or nil
  local sf = setup_fault(c, reader.header)
  if sf then reader:close(); return nil, sf end
  client.registry = reg
  local dedupes = opts.dedupes
  if dedupes == nil then
    -- Resending under the same serial is safe only when one provider that drops duplicate
    -- serials gets every message (with failover, a resend could reach another provider).
    local names = type(client.names) == "table" and client.names or { provider }
    local p = #names == 1 and type(client.provider) == "function" and client:provider(names[1])
    if type(p) == "table" and p.dedupes ~= nil then dedupes = p.dedupes == true
    else dedupes = #names == 1 and _M.DEDUPING[names[1] or ""] or false end
  end
  local header = { campaign = campaign, input = c.input, format = c.format, template = c.template,
                   to_column = c.to_column, key_column = c.key_column, provider = provider,
                   options = ro, fingerprint = fingerprint(c.input), version = _M.VERSION,
                   started = os.time(), setup = now_setup }
  local j, je = journal_mod.open(paths.journal, header, { fsync = ro.fsync })
  if not j then reader:close(); return nil, errors.new{ code = "BAD_JOURNAL", message = je } end

  local counts = { accepted = 0, rejected = 0, invalid = 0, uncertain = 0, not_sent = 0 }
  local hwm, resend = 0, {}
  -- rows an earlier run may have sent, resent now under their serial: a "duplicate serial"
  -- answer for one of them is the provider dropping the repeat (accepted)
  local in_doubt = {}
  -- rows whose last outcome was not_sent (all resent), or uncertain at this provider where it
  -- dedupes (resent under the same serial): bitsets from the scan, nothing per row
  local redo_not_sent, redo_uncertain
  if st then
    for k, v in pairs(st.counts) do counts[k] = v end
    hwm = st.hwm
    -- Which planned rows may have left: on the same boot (the process died) the flushed "going
    -- out" records are exact; after a reboot only the fsynced chunk records are trusted.
    local same_boot = st.boot_id ~= nil and st.boot_id == journal_mod.boot_id() and st.boot_id ~= "unknown"
    local maybe, via = {}, {}
    for row, serial in pairs(st.in_flight) do
      maybe[row], via[row] = serial, st.sent_via[row] or st.run_provider
    end
    for row, serial in pairs(st.planned) do
      if st.chunked[row] and not same_boot then maybe[row], via[row] = serial, st.run_provider
      else resend[row] = serial end -- certainly never sent: send it under the same serial
    end
    -- May have been sent: resend under the same serial only to the provider it may have
    -- reached, and only where that provider drops duplicates; never through another one.
    local function may_resend(row_provider)
      return dedupes and row_provider ~= nil and row_provider == provider
    end
    for row, serial in pairs(maybe) do
      if may_resend(via[row]) then
        resend[row] = serial
        in_doubt[row] = true
      else
        j:outcome(row, "uncertain", { reason = "interrupted while sending; reconcile by query",
                                      serial = serial, provider = via[row] })
        counts.uncertain = counts.uncertain + 1
      end
    end
    redo_not_sent = st.not_sent
    counts.not_sent = counts.not_sent - st.not_sent.n
    if may_resend(provider) and st.uncertain_at[provider] then
      redo_uncertain = st.uncertain_at[provider]
      counts.uncertain = counts.uncertain - redo_uncertain.n
    end
    j:event{ event = "resume", at = os.time(), hwm = hwm, dedupes = dedupes, provider = provider,
             options = next(given) and given or nil, setup = next(now_setup) and now_setup or nil }
  end
  local rejects, rerr = io.open(paths.rejects, "ab")
  if not rejects then
    j:close(); reader:close()
    return nil, errors.new{ code = "BAD_OPTION", message = tostring(rerr) }
  end

  local validate = opts.validate or function() return true end
  local repeats, rwhy = repeated_keys(c, paths.dir)   -- (rwhy: in the summary's warnings)
  if rwhy and opts.progress then opts.progress:note(rwhy) end
  -- Rows per chunk (one fsync each): enough for every request slot to be busy, e.g. SENS
  -- 100 per request x 8 in flight x 2; at least 500, at most 2000 (memory grows with it).
  local chunk_size = ro.chunk
  if not chunk_size then
    local p = type(client.provider) == "function" and client:provider() or nil
    local per_request = type(p) == "table" and tonumber(p.max_batch) or 1
    chunk_size = math.max(500, math.min(2000, per_request * (ro.concurrency or 8) * 2))
  end
  local rate = ro.rate
  -- with a rate, chunks of a tenth of a second's worth keep the flow even
  if rate and rate > 0 then chunk_size = math.max(1, math.min(chunk_size, math.floor(rate / 10))) end
  local concurrency = ro.concurrency or 8
  local quota_pause, max_pauses = ro.quota_pause or 60, ro.max_pauses or 3
  local progress = opts.progress
  local t0 = sys.now()
  local sent_this_run, done_this_run = 0, 0
  local paced = 0   -- messages handed to the client this run: what --rate spreads
  local start_fraction = 0
  local stopped
  local total_done = counts.accepted + counts.rejected + counts.invalid + counts.uncertain + counts.not_sent

  -- The chunk being assembled, in input order: valid rows (row, msg) and invalid ones
  -- (row, err, raw). Nothing about a row reaches the journal before its chunk is flushed, and
  -- then every record is written in row order, so the highest row in the journal always
  -- means every row before it is recorded too.
  local rows, msgs, raws, owns, chunk = {}, {}, {}, {}, {}
  -- the failure of the setup that stopped the run (alimtalk.bulk.setup.kind), if one did
  local config_error

  -- Whether a row's failure is the setup's (one place decides: alimtalk.bulk.setup.kind).
  local function setup_failure(err, msg, own)
    return setup.kind(err, msg, { registry = c.registry, default_template = msg ~= nil and not own })
      == "configuration"
  end

  -- Rows an earlier run may have delivered, resent now under their serial. Whatever keeps such
  -- a row from going out now (its resend was not sent, or it was refused before sending, say
  -- its template is gone), it stays uncertain at this provider: a later resume resends it under
  -- its serial again and a duplicate answer then counts. Never not_sent or invalid, which would
  -- read as "not delivered" and invite a resend under a new serial.
  local function was_in_doubt(row)
    return in_doubt[row] or (redo_uncertain ~= nil and redo_uncertain:has(row))
  end
  local function still_in_doubt(r, what)
    local d = {}
    for k, v in pairs(r) do d[k] = v end
    d.status, d.provider = "uncertain", provider
    d.reason = "an earlier run may have delivered it; " .. (what or ("this resend did not go out ("
      .. tostring(r.code or r.reason or "not sent") .. ")"))
    return d
  end

  local function write_reject(row, why)
    if was_in_doubt(row) then
      local e = type(why) == "table" and type(why.error) == "table" and why.error or {}
      j:outcome(row, "uncertain", result_detail(still_in_doubt({ code = e.code },
        "refused before sending now: " .. tostring(e.message or e.code))))
      counts.uncertain = counts.uncertain + 1
      done_this_run = done_this_run + 1
      return
    end
    rejects:write('{"row":', row, ',', cjson.encode(why):sub(2), "\n")
    j:invalid(row, why)
    counts.invalid = counts.invalid + 1
    done_this_run = done_this_run + 1
  end

  -- Every provider of the client has its circuit open: the provider is down.
  local function all_down()
    local router, names = client.router, client.names
    if type(router) ~= "table" or type(router.circuit_state) ~= "function" or type(names) ~= "table"
      or #names == 0 then
      return nil
    end
    for _, n in ipairs(names) do
      if n == "sandbox" or router:circuit_state(n) ~= "open" then return nil end
    end
    return table.concat(names, ",")
  end

  -- The provider answered that it already has this row's serial. For a row in doubt from an
  -- earlier run (or resent by the client after a request that may have landed) that is the
  -- dedupe working: accepted. For any other row the serial was used by another row or
  -- campaign, and this row was not delivered: rejected, DUPLICATE_ID.
  local function duplicate_answer(row, serial, raw, r)
    if was_in_doubt(row) or r.resent then return r end
    local field, key, what
    if c.key_column then
      field, key = c.key_column, type(raw) == "table" and raw[c.key_column] or nil
      what = "the key column '" .. field .. "' value '" .. tostring(key) .. "'"
    elseif c.format == "jsonl" and type(raw) == "table" and raw.id ~= nil then
      field, key = "id", tostring(raw.id)
      what = "the id '" .. key .. "'"
    else
      field, key = "row", tostring(row)
      what = "row " .. row .. " of campaign '" .. campaign .. "'"
    end
    local d = {}
    for k, v in pairs(r) do d[k] = v end
    d.status, d.duplicate, d.code, d.provider_code = "rejected", nil, "DUPLICATE_ID", r.code
    d.field, d.key = field, key
    d.message = (r.provider or "the provider") .. " already has serial " .. tostring(serial)
      .. " (from " .. what .. "), from another row or campaign with the same key, or from a run "
      .. "whose journal is gone; this row was not delivered now"
    return d
  end

  local function send_chunk()
    if #chunk == 0 then return true end
    -- Rate limit: this run's messages spread evenly from its start.
    if rate and rate > 0 and #rows > 0 then
      local due = t0 + paced / rate
      local now = sys.now()
      if due > now then sys.sleep(due - now) end
    end
    local has_rejects = false
    for _, e in ipairs(chunk) do
      if e.msg then j:planned(e.row, e.msg.id)
      else write_reject(e.row, e.why); has_rejects = true end
    end
    if has_rejects then rejects:flush() end
    if #rows > 0 then j:chunk(rows[1], rows[#rows]) end
    j:commit(true)
    chunk = {}
    local todo_rows, todo_msgs, todo_raws, todo_owns = rows, msgs, raws, owns
    rows, msgs, raws, owns = {}, {}, {}, {}
    local pauses = 0
    while #todo_rows > 0 do
      -- Journal each request's rows as going out, handed to the OS before the request leaves.
      local function before_send(pname, list)
        local going = {}
        for k, x in ipairs(list) do going[k] = todo_rows[x.index] end
        for _, run in ipairs(runs(going)) do j:going(run[1], run[2], pname) end
        j:commit(false)
      end
      -- Outcomes reach the journal (handed to the OS) as each request's answer comes back, so
      -- a killed process leaves in doubt at most the requests in flight, not the whole chunk.
      -- not_sent may still fail over or be retried after a quota pause: written at the end.
      local written = {}
      local function record(i, r)
        local answered = r.status ~= "not_sent"   -- (before a not_sent becomes uncertain below)
        if r.status == "accepted" and r.duplicate then
          r = duplicate_answer(todo_rows[i], todo_msgs[i].id, todo_raws[i], r)
        elseif r.status == "not_sent" and was_in_doubt(todo_rows[i]) then
          r = still_in_doubt(r)
        end
        local d = result_detail(r)
        d.serial = todo_msgs[i].id
        j:outcome(todo_rows[i], r.status, d)
        counts[r.status] = (counts[r.status] or 0) + 1
        done_this_run = done_this_run + 1
        -- messages the provider answered for (not_sent ones never reached it)
        if answered then sent_this_run = sent_this_run + 1 end
        written[i] = true
      end
      local function after_response(_, list)
        for _, x in ipairs(list) do
          local r = x.result
          if r.status == "accepted" or r.status == "rejected" or r.status == "uncertain" then
            record(x.index, r)
          end
        end
        j:commit(false)
      end
      paced = paced + #todo_msgs   -- each goes to the provider, answered or not
      local results = client:send_batch(todo_msgs, { concurrency = concurrency, before_send = before_send,
                                                     after_response = after_response })
      local again_rows, again_msgs, again_raws, again_owns = {}, {}, {}, {}
      local quota, invalid, down, misconfigured = false, false, nil, nil
      for i, row in ipairs(todo_rows) do
        local r = results[i]
        if type(r) ~= "table" or r.status == nil then
          r = { status = "uncertain", code = "NO_RESULT", message = "the client gave no result" }
        end
        if r.status == "not_sent" and is_quota(r) then quota = true end
        if r.status == "not_sent" and r.code == "CIRCUIT_OPEN" then down = r.provider or true end
        if written[i] then -- luacheck: ignore 542 (already in the journal)
        elseif r.status == "rejected" and r.error and (r.attempts or 0) == 0
          and setup_failure(r.error, todo_msgs[i], todo_owns[i]) then
          -- refused before sending for a fault of the setup, not of the row: not sent (a
          -- resume with the setup fixed sends it), and the run stops below
          misconfigured = misconfigured or r.error
          record(i, { status = "not_sent", reason = "configuration", code = r.error.code,
                      message = r.error.message })
        elseif r.status == "rejected" and r.error and (r.attempts or 0) == 0 then
          -- failed the client's pre-flight validation: nothing was sent
          write_reject(row, reject_record(r.error, todo_raws[i] or nil))
          invalid = true
        elseif quota and r.status == "not_sent" then
          again_rows[#again_rows + 1] = row
          again_msgs[#again_msgs + 1] = todo_msgs[i]
          again_raws[#again_raws + 1] = todo_raws[i]
          again_owns[#again_owns + 1] = todo_owns[i]
        else
          record(i, r)
        end
      end
      if invalid then rejects:flush() end
      j:commit()
      -- Stop the run: the rows waiting for another try are not_sent (a resume sends them).
      local function stop_run(reason, event, why)
        j:event(event)
        stopped = why .. "; run 'alimtalk bulk resume " .. campaign .. "' later"
        for i, row in ipairs(again_rows) do
          local r = { status = "not_sent", reason = reason }
          if was_in_doubt(row) then r = still_in_doubt(r) end
          local d = result_detail(r)
          d.serial = again_msgs[i].id
          j:outcome(row, r.status, d)
          counts[r.status] = counts[r.status] + 1
        end
        j:commit()
        return false
      end
      if misconfigured then
        config_error = misconfigured
        return stop_run("configuration", { event = "stop", reason = "configuration",
            code = misconfigured.code, message = misconfigured.message, at = os.time() },
          "configuration: " .. tostring(misconfigured.message))
      end
      down = down or all_down()
      if down then
        -- The provider is down (its circuit opened after repeated failures): stop, leaving the
        -- rest untried for a resume, rather than run every remaining row into not_sent.
        return stop_run("provider down", { event = "stop", reason = "provider down",
            provider = down ~= true and down or nil, at = os.time() },
          "provider down: " .. (down ~= true and down or "the provider")
            .. " failed repeatedly (circuit open)")
      end
      if #again_rows > 0 then
        pauses = pauses + 1
        if pauses > max_pauses then
          return stop_run("quota", { event = "stop", reason = "quota", at = os.time(), row = again_rows[1] },
            "the provider reported its quota exhausted " .. pauses .. " times")
        end
        -- Asked to stop: not after a pause of minutes (a service manager's stop timeout would
        -- kill the run first); the rows waiting for it are not_sent, for a resume.
        local function asked()
          if not (opts.stop and opts.stop()) then return false end
          stop_run("asked", { event = "stop", reason = "asked", at = os.time(), row = again_rows[1] },
            "stopped as asked")
          return true
        end
        if asked() then return false end
        j:event{ event = "pause", reason = "quota", seconds = quota_pause, at = os.time() }
        if progress then progress:note("quota reached: pausing " .. quota_pause .. " s") end
        local wake = sys.now() + quota_pause
        while sys.now() < wake do
          if asked() then return false end
          sys.sleep(math.min(1, wake - sys.now()))
        end
        if asked() then return false end
      end
      todo_rows, todo_msgs, todo_raws, todo_owns = again_rows, again_msgs, again_raws, again_owns
    end
    if opts.on_chunk then opts.on_chunk({ sent = sent_this_run, done = done_this_run }) end
    if progress then
      progress:update({ done = done_this_run, total_done = total_done + done_this_run,
                        sent = sent_this_run, fraction = reader:progress(),
                        start_fraction = start_fraction })
    end
    return true
  end

  local function add(e)
    chunk[#chunk + 1] = e
    if e.msg then
      rows[#rows + 1] = e.row; msgs[#msgs + 1] = e.msg; raws[#raws + 1] = e.raw or false
      owns[#owns + 1] = e.own or false
    end
    if #rows >= chunk_size or #chunk >= 4 * chunk_size then send_chunk() end
  end

  local unattempted = 0
  -- Stop before a row: it and the rows of the chunk not sent yet stay untried (nothing about
  -- them is in the journal, so a resume reads them again).
  local function stop_before(why, event)
    stopped = why
    j:event(event)
    unattempted = unattempted + #chunk + 1
    chunk, rows, msgs, raws, owns = {}, {}, {}, {}, {}
  end
  -- A row that cannot be sent: a fault of the setup stops the run, the row's own goes to the
  -- rejects file.
  local function refuse(row, err, t, msg, own)
    if setup_failure(err, msg, own) then
      config_error = err
      stop_before("configuration: " .. tostring(type(err) == "table" and err.message or err)
        .. "; fix it and run 'alimtalk bulk resume " .. campaign .. "'",
        { event = "stop", reason = "configuration", row = row, at = os.time(),
          code = type(err) == "table" and err.code or nil,
          message = type(err) == "table" and err.message or tostring(err) })
    else
      add{ row = row, why = reject_record(err, t) }
    end
  end
  local stop_fraction -- how far into the input the run got when it stopped
  while true do
    if stopped and not stop_fraction then stop_fraction = reader:progress() end
    local row, t, perr = reader:next()
    if not row then break end
    local redo = resend[row]
    if not redo and row <= hwm and redo_not_sent then
      redo = redo_not_sent:has(row) or (redo_uncertain ~= nil and redo_uncertain:has(row))
    end
    if not stopped and opts.stop and (row > hwm or redo) and opts.stop() then
      stop_before("stopped as asked; run 'alimtalk bulk resume " .. campaign .. "' to go on",
        { event = "stop", reason = "asked", row = row, at = os.time() })
    elseif stopped then
      -- only rows this run would have sent (not those finished in earlier runs)
      if row > hwm or redo then unattempted = unattempted + 1 end
    else
      if row > hwm or redo then
        if perr then
          add{ row = row, why = reject_record(errors.new{ code = "BAD_ROW", message = perr }) }
        else
          local msg, merr, own = row_message(c, row, t)
          if msg and type(redo) == "string" and redo ~= msg.id then
            stop_before("row " .. row .. " has serial " .. msg.id .. " but the journal says " .. redo
              .. ": the input changed", { event = "stop", reason = "input changed", row = row,
                                          at = os.time() })
          elseif not msg then
            refuse(row, merr, t)
          elseif repeats and repeats:has(row) and not redo then
            add{ row = row, why = reject_record(repeated_key(c, t), t) }
          elseif c.registry == nil and setup.needs_registry(msg) then
            refuse(row, setup.no_registry(msg), t, msg, own)
          else
            local ok, verr = validate(msg)
            if ok then add{ row = row, msg = msg, raw = t, own = own }
            else refuse(row, verr, t, msg, own) end
          end
        end
      elseif row == hwm then
        start_fraction = reader:progress()
      end
    end
  end
  if not stopped then send_chunk() end
  reader:close()
  rejects:close()
  local elapsed = sys.now() - t0
  if progress then
    progress:update({ done = done_this_run, total_done = total_done + done_this_run,
                      sent = sent_this_run, fraction = stopped and (stop_fraction or 0) or 1,
                      start_fraction = start_fraction, not_tried = stopped and unattempted or nil },
                    true)
  end
  if not stopped then j:event{ event = "done", at = os.time() } end
  j:close()
  local summary = _M.report(opts.state_dir or ".", campaign)
  summary.counts.unattempted = unattempted
  summary.stopped = stopped
  summary.configuration_error = config_error and plain_err(config_error) or nil
  summary.warnings = rwhy and { rwhy } or nil
  summary.elapsed = elapsed
  summary.sent_this_run = sent_this_run
  summary.tried_this_run = done_this_run
  summary.rate = elapsed > 0 and sent_this_run > 0 and sent_this_run / elapsed or nil
  local f = io.open(paths.summary, "wb")
  if f then f:write(cjson.encode(summary), "\n"); f:close() end
  return summary
end

--- Write the outcome lists from a campaign's journal and return its state (no sending).
-- Streams the journal: forwards for the final outcomes, backwards for each row's last
-- not_sent/uncertain one; memory holds a bit per such row, not the rows.
-- @tparam string state_dir folder holding campaigns
-- @tparam string campaign campaign id
-- @tparam[opt] table opts `write = false`: only read the journal (the lists are not rewritten)
-- @treturn table `campaign`, `counts`, `files`, `done`, `hwm`, `in_flight`, `events`, or nil and an error
function _M.report(state_dir, campaign, opts)
  local paths = _M.paths(state_dir, campaign)
  local st, e = journal_mod.scan(paths.journal)
  if not st then return nil, errors.new{ code = "NO_CAMPAIGN", message = tostring(e) } end
  if not (opts and opts.write == false) then
    -- unique temporary names: a `bulk status` may run while the campaign runs
    local tmp = ".tmp." .. (tostring({}):match("(%x+)$") or "") .. os.time()
    local out = {}
    for _, k in ipairs({ "accepted", "rejected", "uncertain", "not_sent", "rejects" }) do
      out[k] = assert(io.open(paths[k] .. tmp, "wb"))
    end
    local f = assert(io.open(paths.journal, "rb"))
    for line in journal_mod.records(f) do
      if line:sub(1, 2) == "O\t" and line:sub(-1) == "\n" then
        local row, status, detail = line:match("^O\t(%d+)\t([%w_]+)\t(.*)\n$")
        if status == "accepted" or status == "rejected" then
          out[status]:write('{"row":', row, ',"status":"', status, '","result":', detail, "}\n")
        end
      elseif line:sub(1, 2) == "I\t" and line:sub(-1) == "\n" then
        -- the rejects file, rebuilt from the journal: exactly one line per invalid row
        local row, why = line:match("^I\t(%d+)\t{(.*)\n$")
        if row then out.rejects:write('{"row":', row, ',', why, "\n") end
      end
    end
    -- Rows whose last outcome is uncertain or not_sent: read backwards, a row's first such
    -- record met is its last; its bit is cleared so older ones are skipped. Written backwards
    -- to a scratch file, then turned around, so the lists are in journal order.
    local pending = { not_sent = st.not_sent, uncertain = st.uncertain }
    local back = {}
    for k in pairs(pending) do back[k] = assert(io.open(paths[k] .. tmp .. ".rev", "wb")) end
    local left = st.not_sent.n + st.uncertain.n
    f = assert(io.open(paths.journal, "rb"))
    for line in journal_mod.records_backwards(f) do
      if left == 0 then break end
      if line:sub(1, 2) == "O\t" then
        local row, status, detail = line:match("^O\t(%d+)\t([%w_]+)\t(.*)\n$")
        local set = pending[status]
        row = tonumber(row)
        if set and row and set:has(row) then
          set:clear(row)
          left = left - 1
          back[status]:write('{"row":', row, ',"status":"', status, '","result":', detail, "}\n")
        end
      end
    end
    f:close()
    for k, fh in pairs(back) do
      fh:close()
      fh = assert(io.open(paths[k] .. tmp .. ".rev", "rb"))
      for line in journal_mod.records_backwards(fh) do out[k]:write(line) end
      fh:close()
      os.remove(paths[k] .. tmp .. ".rev")
    end
    -- rows sent with no outcome yet (a request in flight, or the process killed): few
    local rows = {}
    for row in pairs(st.in_flight) do rows[#rows + 1] = row end
    table.sort(rows)
    for _, row in ipairs(rows) do
      out.uncertain:write('{"row":', row, ',"status":"uncertain","result":',
                          cjson.encode({ serial = st.in_flight[row], reason = "sending" }), "}\n")
    end
    for k, fh in pairs(out) do fh:close(); os.rename(paths[k] .. tmp, paths[k]) end
  end
  local counts = {}
  for k, v in pairs(st.counts) do counts[k] = v end
  for _ in pairs(st.in_flight) do counts.uncertain = counts.uncertain + 1 end
  return {
    campaign = campaign, counts = counts, done = st.done ~= nil, hwm = st.hwm,
    header = st.header, events = st.events,
    files = { rejects = paths.rejects, accepted = paths.accepted, rejected = paths.rejected,
              uncertain = paths.uncertain, not_sent = paths.not_sent, journal = paths.journal,
              summary = paths.summary },
  }
end

--- A campaign's state for `alimtalk bulk status`: the lists are rewritten only when no
-- process is running the campaign (its lock is free); otherwise the journal is only read and
-- `running` is set.
-- @tparam string state_dir folder holding campaigns
-- @tparam string campaign campaign id
-- @treturn table as `report`, or nil and an error
function _M.status(state_dir, campaign)
  local paths = _M.paths(state_dir, campaign)
  if not file_exists(paths.journal) then
    return nil, errors.new{ code = "NO_CAMPAIGN", message = "no journal " .. paths.journal }
  end
  local unlock = lock(paths.dir)
  if not unlock then
    local s, e = _M.report(state_dir, campaign, { write = false })
    if s then s.running = true end
    return s, e
  end
  local ok, s, e = pcall(_M.report, state_dir, campaign)
  unlock()
  if not ok then error(s, 0) end
  return s, e
end

return _M
