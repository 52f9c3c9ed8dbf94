--- `alimtalk webhook verify`: check a captured webhook payload and show its delivery events.
-- @module alimtalk.cli.webhook
local common = require("alimtalk.cli.common")

local _M = {}

_M.help = [[
usage: alimtalk webhook verify --provider sinch|apiplex|alcmeon --body FILE
                               [--headers FILE] [--header 'Name: value' ...] [options]

Verify a captured webhook exactly as a receiver would (Sinch: HMAC signature, timestamp
window, nonce; API PLEX: the echo token; Alcmeon: Basic credentials when configured) and
print the normalized delivery events.

  --provider NAME      sinch | apiplex | alcmeon
  --body FILE          the raw request body as received ('-' reads stdin)
  --headers FILE       request headers, one 'Name: value' per line (as captured)
  --header 'N: V'      one header (repeat)
  --at SECONDS         verify as if now were this Unix time (for an old capture)
  --remote-addr ADDR   source address (API PLEX allow lists)
  -c, --config FILE    configuration: 'webhook': { 'sinch': {...}, 'apiplex': {...} }
  --json               print JSON
  -h, --help           this help

Secrets come from the environment: SINCH_WEBHOOK_SECRET, APIPLEX_ECHO_TOKEN,
ALCMEON_HOOK_PASSWORD (or the *_env names or "env:NAME" values given in the configuration;
a secret written in the configuration itself works, with a warning).
Exit status: 0 verified, 1 refused (bad signature, stale, replayed, bad token), 2 bad arguments.
]]

local spec = {
  options = {
    body = { value = true }, headers = { value = true }, header = { value = true, multi = true },
    at = { value = true, number = true }, remote_addr = { value = true },
  },
  min_args = 1, max_args = 1, missing = "give a subcommand: verify",
  own_provider_check = true, -- webhooks: sinch, apiplex or alcmeon only (checked in main)
}

local function parse_headers(text, into)
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    line = line:gsub("\r$", "")
    local k, v = line:match("^([^:]+):%s*(.-)%s*$")
    if k then into[k:lower()] = v end
  end
end

--- Run `alimtalk webhook`.
function _M.main(args)
  local opts, cfg = common.start("webhook", spec, _M.help, args, true)
  if not opts then return cfg end
  if opts.args[1] ~= "verify" then
    return common.usage_error("webhook", "unknown subcommand '" .. tostring(opts.args[1]) .. "' (verify)")
  end
  local provider = opts.provider
  if provider ~= "sinch" and provider ~= "apiplex" and provider ~= "alcmeon" then
    return common.usage_error("webhook", "--provider must be sinch, apiplex or alcmeon")
  end
  if not opts.body then return common.usage_error("webhook", "--body FILE is required") end
  local body
  if opts.body == "-" then body = io.stdin:read("a") else body = common.read_file(opts.body) end
  if not body then return common.usage_error("webhook", "cannot read " .. opts.body) end
  local headers = {}
  if opts.headers then
    local t = common.read_file(opts.headers)
    if not t then return common.usage_error("webhook", "cannot read " .. opts.headers) end
    parse_headers(t, headers)
  end
  for _, h in ipairs(opts.header or {}) do
    if not h:find(":", 1, true) then return common.usage_error("webhook", "--header needs 'Name: value'") end
    parse_headers(h, headers)
  end
  local wopts, we = common.webhook_options(cfg, provider)
  if not wopts then return common.usage_error("webhook", we) end
  if opts.at and provider == "sinch" then
    local at = opts.at
    wopts.now = function() return at end
  end
  local okm, hook, herr = pcall(function() return require("alimtalk.webhook." .. provider).new(wopts) end)
  if not okm then return common.usage_error("webhook", common.raised(hook)) end
  if not hook then return common.usage_error("webhook", tostring(herr)) end
  local ok, res, err = pcall(hook.parse, hook, headers, body, opts.remote_addr)
  if not ok then return common.fail(opts, "webhook", common.raised(res), 1) end
  if not res then
    if type(err) == "table" and err.code == "STALE_TIMESTAMP" and type(err.message) == "string"
        and opts.at then
      err.message = err.message .. " as of --at " .. string.format("%d", opts.at)
    end
    if opts.json then common.print_json({ ok = false, provider = provider, error = err })
    else common.err("alimtalk webhook: refused: ", tostring(err), "\n") end
    return common.EXIT.failed
  end
  local list = res.status and { res } or res
  if opts.json then
    common.print_json({ ok = true, provider = provider, events = list })
  else
    common.out("verified ", provider, " webhook: ", #list, " event(s)\n")
    for _, ev in ipairs(list) do
      local parts = { "  " .. tostring(ev.kind or "event"), tostring(ev.status or "") }
      for _, k in ipairs({ "request_id", "message_id", "uid", "cid", "msg_key" }) do
        local v = type(ev.ids) == "table" and ev.ids[k]
        if v then parts[#parts + 1] = k .. "=" .. tostring(v) end
      end
      for _, k in ipairs({ "code", "to", "time" }) do
        if ev[k] ~= nil and type(ev[k]) ~= "table" then parts[#parts + 1] = k .. "=" .. tostring(ev[k]) end
      end
      common.out(table.concat(parts, " "), "\n")
    end
  end
  return common.EXIT.ok
end

return _M
