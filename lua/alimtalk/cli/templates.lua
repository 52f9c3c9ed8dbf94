--- `alimtalk templates`: list the registry, or fetch templates from a provider into it.
-- @module alimtalk.cli.templates
local common = require("alimtalk.cli.common")
local messages = require("alimtalk.cli.messages")
local cjson = require("cjson.safe")

local _M = {}

_M.help = [[
usage: alimtalk templates list [--templates FILE] [options]
       alimtalk templates fetch [--channel ID] [--code CODE] [--templates FILE] [options]

list    show every template in the registry file: name, type, variables and the
        template code for each provider
fetch   ask the provider (SENS) for its approved templates and add them to the registry
        file (an entry that already has that SENS code is updated in place, keeping its
        name and its other providers' codes); the file is created when missing

  --templates FILE     the registry file (default: the configuration's 'templates')
  --channel ID         SENS channel (plusFriendId; default: the configured one)
  --code CODE          fetch only this template code
  -p, --provider NAME  provider to fetch from (default: the configured one)
  -c, --config FILE    configuration (default $ALIMTALK_CONFIG or ./alimtalk.json)
  --json               print JSON
  -h, --help           this help

Exit status: 0 done, 1 the provider refused or failed, 2 bad arguments or configuration.
]]

local spec = {
  options = { templates = { value = true }, channel = { value = true }, code = { value = true } },
  min_args = 1, max_args = 1, missing = "give a subcommand: list or fetch",
}

local FIELDS = { "name", "type", "body", "title", "header", "buttons", "quick_replies", "item_highlight",
                 "items", "summary", "codes", "authentication", "language", "status", "display_name",
                 "category", "syntax" }

local function source_of(e)
  local src = {}
  for _, k in ipairs(FIELDS) do
    local v = e.source and e.source[k]
    if v ~= nil and v ~= cjson.null then src[k] = v end
  end
  src.name, src.codes = e.name, e.codes
  return src
end

local function list(opts, cfg)
  local reg, re = messages.registry(opts, cfg)
  if not reg then return common.usage_error("templates", re) end
  local out = {}
  for _, e in ipairs(reg:list()) do
    out[#out + 1] = { name = e.name, type = e.type, variables = e.variables, codes = e.codes,
                      authentication = e.authentication or nil }
  end
  if opts.json then
    common.print_json({ templates = out })
  else
    for _, t in ipairs(out) do
      local codes = {}
      for p, c in pairs(t.codes) do codes[#codes + 1] = p .. "=" .. c end
      table.sort(codes)
      common.out(string.format("%-24s %-10s vars: %s  codes: %s\n", t.name, t.type,
        #t.variables > 0 and table.concat(t.variables, ",") or "-",
        #codes > 0 and table.concat(codes, " ") or "-"))
    end
    common.out(#out, " template(s)\n")
  end
  return common.EXIT.ok
end

local function fetch(opts, cfg)
  local path = opts.templates or cfg.templates
  if not path then return common.usage_error("templates", "give --templates FILE to write to") end
  local registry = require("alimtalk.registry")
  local reg
  local f = io.open(path, "rb")
  if f then
    f:close()
    local r, e = registry.load(path)
    if not r then return common.usage_error("templates", tostring(e)) end
    reg = r
  else
    reg = registry.new()
  end
  cfg.templates = nil
  local client, ce = common.client(cfg)
  if not client then return common.usage_error("templates", ce) end
  local q = { channel_id = opts.channel, template_code = opts.code }
  local okc, got, err = pcall(client.templates, client, q)
  client:close()
  if not okc then return common.fail(opts, "templates", common.raised(got), 2) end
  if not got then return common.fail(opts, "templates", err) end
  local n, ae = reg:add_sens_templates(got)
  if not n then return common.fail(opts, "templates", ae) end
  local entries = {}
  for i, e in ipairs(reg:list()) do entries[i] = source_of(e) end
  local text = assert(cjson.encode({ templates = entries }))
  local tmp = path .. ".tmp"
  local w, we = io.open(tmp, "wb")
  if not w then return common.fail(opts, "templates", "cannot write " .. tmp .. ": " .. tostring(we)) end
  w:write(text, "\n")
  w:close()
  os.rename(tmp, path)
  if opts.json then
    common.print_json({ ok = true, fetched = n, total = #entries, file = path })
  else
    common.out("fetched ", n, " template(s) into ", path, " (", #entries, " in the registry)\n")
  end
  return common.EXIT.ok
end

--- Run `alimtalk templates`.
function _M.main(args)
  local opts, cfg = common.start("templates", spec, _M.help, args, true)
  if not opts then return cfg end
  local sub = opts.args[1]
  if sub == "list" then return list(opts, cfg) end
  if sub == "fetch" then return fetch(opts, cfg) end
  return common.usage_error("templates", "unknown subcommand '" .. tostring(sub) .. "' (list or fetch)")
end

return _M
