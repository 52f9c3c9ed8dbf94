--- `alimtalk render`: render a registry template with variables, or every message of a file.
-- @module alimtalk.cli.render
local common = require("alimtalk.cli.common")
local messages = require("alimtalk.cli.messages")

local _M = {}

_M.help = [[
usage: alimtalk render --template NAME [--var NAME=VALUE ...] [options]
       alimtalk render FILE [--template NAME] [options]

Show the text a message will carry: the template from the registry with the variables
filled in (body, title, header, item highlight, items, summary and button links). FILE is
read as 'alimtalk bulk run' reads it: CSV (a header row; 'to' or 'phone' the recipient,
'template' optional, other columns variables) or JSON lines (one message per line); every
row is rendered. Without --template, FILE must name each row's template (a 'template'
column or field). A missing variable is reported once, with the first part that needs it;
an unknown one with its field.

  --template NAME      registry template name (or a provider code listed in the registry)
  --var NAME=VALUE     a template variable (repeat for each)
  --format NAME=FMT    format variable NAME first, as 'alimtalk send --format' (won, date,
                       time, datetime, mask_name, mask_phone, cut:N, ...)
  --to-column NAME     FILE: CSV column with the phone number (default 'to', then 'phone')
  --key-column NAME    FILE: CSV column of bulk run's serials (a variable only where the
                       template uses it)
  --templates FILE     template registry (default: the configuration's 'templates')
  --format csv|jsonl   format of FILE (default: from its extension)
  -c, --config FILE    configuration (default $ALIMTALK_CONFIG or ./alimtalk.json)
  --json               one JSON object per message
  -h, --help           this help

Exit status: 0 every message rendered, 1 some could not be, 2 bad arguments.
]]

local spec = {
  options = {
    template = { value = true, short = "t" }, var = { value = true, multi = true },
    templates = { value = true }, format = { value = true, multi = true },
    ["to-column"] = { value = true }, ["key-column"] = { value = true },
  },
  max_args = 1, no_provider = true,
}

--- Run `alimtalk render`.
function _M.main(args)
  local opts, cfg = common.start("render", spec, _M.help, args, true)
  if not opts then return cfg end
  local formatters, fe
  opts.format, formatters, fe = common.split_formats(opts.format)
  if fe then return common.usage_error("render", fe) end
  if formatters and opts.args[1] then
    return common.usage_error("render", "--format NAME=FORMATTER goes with --var, not a FILE")
  end
  local reg, re = messages.registry(opts, cfg)
  if not reg then return common.usage_error("render", re) end
  local failed = 0
  -- `row` is the row number of FILE (a number in --json, as validate gives it), nil for one message
  local function show(row, msg)
    local label = row and ("row " .. row)
    local out, err = messages.render(reg, msg)
    if not out then
      failed = failed + 1
      if opts.json then
        common.print_json({ row = row, ok = false, error = err })
      else
        common.out(label and (label .. ": ") or "", "error: ", tostring(err), "\n")
      end
      return
    end
    if opts.json then
      out.row = row
      out.ok = true
      common.print_json(out)
    else
      if label then common.out("--- ", label, (msg.to and (" to " .. msg.to) or ""), "\n") end
      if out.title then common.out("[title] ", out.title, "\n") end
      if out.header then common.out("[header] ", out.header, "\n") end
      common.out(out.text, "\n")
      local function pair(name, p)
        if not p then return end
        local s = "[" .. name .. "] " .. tostring(p.title or "")
        if p.description then s = s .. " | " .. tostring(p.description) end
        if p.image then s = s .. " (image)" end
        common.out(s, "\n")
      end
      pair("item highlight", out.item_highlight)
      for i, it in ipairs(out.items or {}) do pair("item " .. i, it) end
      pair("summary", out.summary)
      for _, b in ipairs(out.buttons or {}) do
        common.out("[button ", tostring(b.type), "] ", tostring(b.name),
                   b.url_mobile and (" " .. b.url_mobile) or "", "\n")
      end
    end
  end
  if opts.args[1] then
    if opts.var then return common.usage_error("render", "FILE cannot be combined with --var") end
    if not opts.template then
      local te = messages.no_template(opts.args[1], opts.format)
      if te then return common.usage_error("render", te) end
    end
    local ok, e = messages.each(opts.args[1], opts, function(row, msg, perr)
      if perr then
        failed = failed + 1
        if opts.json then common.print_json({ row = row, ok = false, error = perr })
        else common.out("row ", row, ": error: ", tostring(perr), "\n") end
      else
        show(row, msg)
      end
    end, reg)
    if not ok then return common.usage_error("render", e) end
  else
    if opts.to_column or opts.key_column then
      return common.usage_error("render", "--to-column and --key-column are for a FILE")
    end
    if not opts.template then return common.usage_error("render", "give --template NAME or a FILE") end
    local vars, ve = common.parse_vars(opts.var)
    if not vars then return common.usage_error("render", ve) end
    if formatters then
      local _, fme = common.apply_formats(vars, formatters)
      if fme then return common.usage_error("render", fme) end
    end
    show(nil, { template = opts.template, vars = vars })
  end
  return failed > 0 and common.EXIT.failed or common.EXIT.ok
end

return _M
