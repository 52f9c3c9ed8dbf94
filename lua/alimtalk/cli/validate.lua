--- `alimtalk validate`: check messages against a provider's rules without sending.
-- @module alimtalk.cli.validate
local common = require("alimtalk.cli.common")
local messages = require("alimtalk.cli.messages")

local _M = {}

_M.help = [[
usage: alimtalk validate --to PHONE --template NAME [--var NAME=VALUE ...] [--id SERIAL] [options]
       alimtalk validate FILE [--template NAME] [--key-column NAME] [options]

Check messages against a provider's rules (field limits in their own units, template
matching, phone numbers, buttons) without sending anything, and show every violation with
its field and the code the provider would answer. FILE is read as 'alimtalk bulk run' reads
it: CSV (a header row; 'to' or 'phone' is the recipient, 'template' optional, other columns
are variables) or JSON lines (one message per line), and each message gets the serial bulk
run would give it (from --key-column, else the row number; JSON lines: its own 'id'), so a
file bulk run accepts validates clean, BizMessage's required serial included, and a row whose
serial an earlier row has (a repeated key or id) is DUPLICATE_ID, as bulk run refuses it.

  --to PHONE           recipient
  --template NAME      registry template name or provider code (with --var a registry
                       is needed: --templates FILE or the configuration's); for FILE, the
                       template of rows without a 'template' column / field
  --var NAME=VALUE     a template variable (repeat for each)
  --format NAME=FMT    format variable NAME first, as 'alimtalk send --format' (won, date,
                       time, datetime, mask_name, mask_phone, cut:N, ...)
  --content TEXT       the finished text instead of variables
  --id SERIAL          the message's serial, as 'alimtalk send --id' (BizMessage needs one)
  --to-column NAME     FILE: CSV column with the phone number (default 'to', then 'phone')
  --key-column NAME    FILE: CSV column whose value makes the serial (a variable only where
                       the template uses it), as in 'alimtalk bulk run'

  -p, --provider NAME  whose rules: sens | bizmessage | apiplex | sinch (default: the
                       configured provider; the sandbox's profile for the sandbox)
  --templates FILE     template registry (default: the configuration's 'templates')
  --format csv|jsonl   format of FILE (default: from its extension)
  -c, --config FILE    configuration (default $ALIMTALK_CONFIG or ./alimtalk.json)
  --json               one JSON object per message
  -h, --help           this help

Exit status: 0 every message valid, 1 some invalid, 2 bad arguments or configuration.
]]

local spec = {
  options = {
    to = { value = true }, template = { value = true, short = "t" },
    var = { value = true, multi = true }, content = { value = true }, id = { value = true },
    templates = { value = true }, format = { value = true, multi = true },
    ["to-column"] = { value = true }, ["key-column"] = { value = true },
  },
  max_args = 1,
}

local function violations(err)
  if type(err) ~= "table" then return { { message = tostring(err) } } end
  if err.errors and #err.errors > 0 then return err.errors end
  return { err }
end

local function line(v)
  local s = (v.field and (v.field .. ": ") or "") .. tostring(v.code or "INVALID")
  if v.provider_code then s = s .. " (provider code " .. tostring(v.provider_code) .. ")" end
  s = s .. " " .. tostring(v.message or "")
  if v.limit then
    s = s .. string.format(" [%s of at most %s %s]", tostring(v.actual), tostring(v.limit),
                           tostring(v.unit or ""))
  end
  return s
end

--- Run `alimtalk validate`.
function _M.main(args)
  local opts, cfg = common.start("validate", spec, _M.help, args, true)
  if not opts then return cfg end
  local formatters, fe
  opts.format, formatters, fe = common.split_formats(opts.format)
  if fe then return common.usage_error("validate", fe) end
  if formatters and opts.args[1] then
    return common.usage_error("validate", "--format NAME=FORMATTER goes with --var, not a FILE")
  end
  local profile = opts.provider or cfg.provider or (cfg.route and cfg.route[1]) or "sens"
  if profile == "sandbox" then profile = (cfg.sandbox and cfg.sandbox.profile) or "sens" end
  local validate = require "alimtalk.validate"
  if not pcall(validate.profile, profile) then
    return common.usage_error("validate", common.unknown_provider(profile))
  end
  local reg, re = messages.registry(opts, cfg, true)
  if reg == nil then return common.usage_error("validate", re) end
  local bad, total = 0, 0
  local function check(label, msg)
    total = total + 1
    local ok, err
    if not reg and messages.needs_registry(msg) then
      ok, err = nil, { errors = { messages.no_registry_error(msg) } }
    else
      ok, err = validate.message(msg, { provider = profile, registry = reg or nil, now = os.time() })
      if not ok and not label then messages.hint_id(err) end
    end
    if opts.json then
      common.print_json({ row = label, ok = ok and true or false, provider = profile,
                          errors = not ok and violations(err) or nil })
    elseif ok then
      common.out(label and (label .. ": ") or "", "ok\n")
    else
      for _, v in ipairs(violations(err)) do
        common.out(label and (label .. ": ") or "", line(v), "\n")
      end
    end
    if not ok then bad = bad + 1 end
  end
  if opts.args[1] then
    opts.need_to, opts.check_serials = true, true
    if opts.to or opts.var or opts.content or opts.id then
      return common.usage_error("validate", "FILE cannot be combined with --to/--var/--content/--id")
    end
    if not opts.template then
      local te = messages.no_template(opts.args[1], opts.format)
      if te then return common.usage_error("validate", te) end
    end
    local ok, e = messages.each(opts.args[1], opts, function(row, msg, perr)
      if perr then
        total, bad = total + 1, bad + 1
        if opts.json then common.print_json({ row = row, ok = false, errors = { perr } })
        else common.out(row, ": ", line(perr), "\n") end
      else
        check(row, msg)
      end
    end, reg or nil)
    if not ok then return common.usage_error("validate", e) end
    if not opts.json then
      common.out(string.format("%d message(s), %d valid, %d invalid (%s rules)\n",
                               total, total - bad, bad, profile))
    end
  else
    if opts.to_column or opts.key_column then
      return common.usage_error("validate", "--to-column and --key-column are for a FILE")
    end
    if not opts.to then return common.usage_error("validate", "give --to and --template, or a FILE") end
    if not opts.template and not opts.content then
      return common.usage_error("validate", "give --template (with --var) or --content")
    end
    local vars, ve = common.parse_vars(opts.var)
    if not vars then return common.usage_error("validate", ve) end
    if formatters then
      local _, fme = common.apply_formats(vars, formatters)
      if fme then return common.usage_error("validate", fme) end
    end
    if not reg and opts.template and next(vars) then
      return common.usage_error("validate", messages.NO_REGISTRY)
    end
    check(nil, { to = opts.to, template = opts.template, content = opts.content, id = opts.id,
                 vars = next(vars) and vars or nil })
  end
  return bad > 0 and common.EXIT.failed or common.EXIT.ok
end

return _M
