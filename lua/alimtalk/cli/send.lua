--- `alimtalk send`: send one message.
-- @module alimtalk.cli.send
local common = require("alimtalk.cli.common")
local messages = require("alimtalk.cli.messages")

local _M = {}

_M.help = [[
usage: alimtalk send --to PHONE --template NAME [--var NAME=VALUE ...] [options]
       alimtalk send --to PHONE --content TEXT --template CODE [options]
       alimtalk send --message FILE|- [options]

Send one AlimTalk through the configured provider and print the result.

  --to PHONE           recipient (010-1234-5678, 01012345678, +82 10 ...)
  --template NAME      registry name or the provider's template code (with --var a
                       registry is needed: --templates FILE or the configuration's)
  --var NAME=VALUE     a template variable (repeat for each)
  --format NAME=FMT    format variable NAME first (repeat for each): won, number, date,
                       time, datetime (KST; date:PATTERN too), mask_name, mask_phone,
                       cut:N[:chars|bytes|cp949]; e.g. --var amount=39000 --format amount=won
  --content TEXT       the finished text instead of variables
  --id SERIAL          your serial for the message; sending again with the same serial is
                       not delivered twice where the provider drops duplicates
  --message FILE       the whole message as JSON (alimtalk.message fields); '-' reads stdin
  --templates FILE     template registry (overrides the configuration's)
  --policy FILE        policy script: routing, variables, fallback text (docs/policies.md)
  -p, --provider NAME  sens | bizmessage | apiplex | sinch | sandbox
  -c, --config FILE    configuration (default $ALIMTALK_CONFIG or ./alimtalk.json)
  --json               print the result as one JSON object
  -v, --verbose        also print every routing decision
  -h, --help           this help

Secrets come from the environment (or, with a warning, the configuration file; see
docs/cli.md), never from arguments.
Exit status: 0 accepted, 1 rejected or not sent, 2 bad arguments or configuration,
3 uncertain (may have been sent: reconcile with 'alimtalk status').
]]

local spec = {
  options = {
    to = { value = true }, template = { value = true, short = "t" },
    var = { value = true, multi = true }, content = { value = true }, id = { value = true },
    format = { value = true, multi = true },
    message = { value = true, short = "m" }, templates = { value = true }, policy = { value = true },
  },
  max_args = 0,
}

--- Run `alimtalk send`.
-- @tparam table args arguments after the command name
-- @treturn integer exit code
function _M.main(args)
  local opts, cfg = common.start("send", spec, _M.help, args, true)
  if not opts then return cfg end
  local msg
  if opts.message then
    if opts.to or opts.template or opts.var or opts.content then
      return common.usage_error("send", "--message cannot be combined with --to/--template/--var/--content")
    end
    local text
    if opts.message == "-" then text = io.stdin:read("a") else text = common.read_file(opts.message) end
    if not text then return common.usage_error("send", "cannot read " .. opts.message) end
    local e
    msg, e = common.decode_json(text, "--message")
    if type(msg) ~= "table" then return common.usage_error("send", e or "--message must be a JSON object") end
  else
    if not opts.to then return common.usage_error("send", "--to is required") end
    if not opts.template and not opts.content then
      return common.usage_error("send", "give --template (with --var) or --content")
    end
    local vars, ve = common.parse_vars(opts.var)
    if not vars then return common.usage_error("send", ve) end
    msg = { to = opts.to, template = opts.template, content = opts.content }
    if next(vars) then msg.vars = vars end
  end
  if opts.format then
    if type(msg.vars) ~= "table" then
      return common.usage_error("send", "--format needs variables to format")
    end
    local _, fe = common.apply_formats(msg.vars, opts.format)
    if fe then return common.usage_error("send", fe) end
  end
  if opts.id then msg.id = opts.id end
  if opts.templates then cfg.templates = opts.templates end
  if not cfg.templates and messages.needs_registry(msg) then
    return common.usage_error("send", messages.NO_REGISTRY)
  end
  local client, ce = common.client(cfg)
  if not client then return common.usage_error("send", ce) end
  local ok, r, err = pcall(client.send, client, msg)
  if not ok then
    client:close()
    return common.usage_error("send", common.raised(r))
  end
  client:close()
  if not r then
    messages.hint_id(err)
    if opts.json then
      common.print_json({ ok = false, status = "rejected", error = err })
    else
      common.err("alimtalk send: invalid: ", tostring(err), " (nothing was sent)\n")
    end
    return common.EXIT.failed
  end
  if opts.json then
    common.print_json(r)
  else
    common.out(common.describe_result(r), "\n")
    if opts.verbose then
      for _, d in ipairs(r.routing or {}) do
        local parts = {}
        for _, k in ipairs({ "provider", "decision", "status", "code", "reason", "from", "attempts" }) do
          if d[k] ~= nil then parts[#parts + 1] = k .. "=" .. tostring(d[k]) end
        end
        common.out("  route: ", table.concat(parts, " "), "\n")
      end
    end
  end
  return common.exit_for({ [r.status] = 1 })
end

return _M
