--- Shared pieces of the `alimtalk` commands: argument parsing, the configuration file,
-- secrets, output (human or `--json`) and exit codes.
--
-- Secrets come from the environment (`"env:NAME"`, `<key>_env`, ALIMTALK_<PROVIDER>_<KEY>, the
-- providers' own variables) or, with a warning on stderr, from the configuration file itself;
-- never from arguments. Every line the command line prints passes through a filter that blanks
-- any secret value it knows, so not even `--verbose` or an error message quoting a provider's
-- answer can show one.
-- @module alimtalk.cli.common
local cjson = require("cjson.safe")

local _M = {}

--- Exit codes shared by every command (also documented in alimtalk.cli).
_M.EXIT = { ok = 0, failed = 1, usage = 2, uncertain = 3 }

-- Configuration keys that hold secrets, per provider vocabulary. Their values never print.
local SECRET_KEYS = {
  secret_key = true, access_key = true, client_secret = true, key_secret = true,
  api_key = true, token = true, password = true, application_secret = true,
  webhook_secret = true, echo_token = true,
}
_M.SECRET_KEYS = SECRET_KEYS

-- The secret keys each provider takes, which ALIMTALK_<PROVIDER>_<KEY> may fill.
local PROVIDER_SECRETS = {
  sens = { "access_key", "secret_key" }, bizmessage = { "client_secret" },
  apiplex = { "secret_key" }, sinch = { "key_secret" }, alcmeon = { "application_secret" },
  sandbox = {},
}

local PROVIDERS = { "sens", "bizmessage", "apiplex", "sinch", "sandbox", "alcmeon" }
_M.PROVIDERS = PROVIDERS

-- Every secret value seen so far (from the environment or the config), longest first.
local secrets = {}

local function add_secret(v)
  if type(v) == "string" and #v >= 4 then
    for _, s in ipairs(secrets) do if s == v then return end end
    secrets[#secrets + 1] = v
    table.sort(secrets, function(a, b) return #a > #b end)
  end
end
_M.add_secret = add_secret

local function plain_gsub_all(s, find, repl)
  local out, i = {}, 1
  while true do
    local a, b = s:find(find, i, true)
    if not a then break end
    out[#out + 1] = s:sub(i, a - 1)
    out[#out + 1] = repl
    i = b + 1
  end
  if i == 1 then return s end
  out[#out + 1] = s:sub(i)
  return table.concat(out)
end

--- Remember, for redaction, every environment value whose name says it is a secret
-- (SECRET, PASSWORD, TOKEN, KEY in the name). Reads /proc/self/environ where there is one.
function _M.collect_env_secrets()
  local f = io.open("/proc/self/environ", "rb")
  if not f then return end
  local env = f:read("a") or ""
  f:close()
  for name, value in env:gmatch("([^=%z]+)=([^%z]*)") do
    local up = name:upper()
    if up:find("SECRET") or up:find("PASSWORD") or up:find("TOKEN") or up:find("KEY")
       or up:find("CANARY") then
      add_secret(value)
    end
  end
end

--- Blank every known secret in a string.
-- @tparam string s text about to be printed or written
-- @treturn string the text with secrets replaced by `[redacted]`
function _M.redact(s)
  s = tostring(s)
  for _, v in ipairs(secrets) do s = plain_gsub_all(s, v, "[redacted]") end
  return s
end

--- Write to stdout through the secret filter.
function _M.out(...)
  local parts = { ... }
  for i = 1, #parts do parts[i] = _M.redact(parts[i]) end
  io.stdout:write(table.concat(parts))
end

--- Write to stderr through the secret filter.
function _M.err(...)
  local parts = { ... }
  for i = 1, #parts do parts[i] = _M.redact(parts[i]) end
  io.stderr:write(table.concat(parts))
end

-- Make a value JSON-safe: error tables lose their metatable, functions and userdata vanish.
local function plain(v, depth)
  depth = depth or 0
  if depth > 20 then return nil end
  local t = type(v)
  if t == "table" then
    local o = {}
    for k, x in pairs(v) do
      if type(k) == "string" or type(k) == "number" then
        local px = plain(x, depth + 1)
        if px ~= nil then o[k] = px end
      end
    end
    return o
  elseif t == "string" or t == "number" or t == "boolean" then
    return v
  end
  return nil
end
_M.plain = plain

--- Encode a value as one line of JSON (secrets filtered).
function _M.json(v)
  local s = assert(cjson.encode(plain(v)))
  return (s:gsub("\\/", "/"))
end

--- Print a value as one JSON line on stdout.
function _M.print_json(v)
  _M.out(_M.json(v), "\n")
end

--- Report a bad-argument or configuration error on one line and return exit code 2.
-- @tparam string cmd the command name (e.g. "send")
-- @tparam string msg the message
function _M.usage_error(cmd, msg)
  _M.err("alimtalk ", cmd, ": ", msg, " (try 'alimtalk ", cmd, " --help')\n")
  return _M.EXIT.usage
end

--- Report a runtime failure on one line (or as JSON on stdout with `--json`).
-- @tparam table opts parsed options (`json` read)
-- @tparam string cmd the command name
-- @param e an error (table from alimtalk.errors, or string)
-- @tparam[opt=1] integer code the exit code to return
function _M.fail(opts, cmd, e, code)
  if opts and opts.json then
    local body = type(e) == "table" and plain(e) or { message = tostring(e) }
    body.message = body.message or tostring(e)
    _M.print_json({ ok = false, error = body })
  else
    _M.err("alimtalk ", cmd, ": ", tostring(e), "\n")
  end
  return code or _M.EXIT.failed
end

--- Whether a name is one of the providers the commands know.
function _M.known_provider(name)
  for _, p in ipairs(PROVIDERS) do if p == name then return true end end
  return false
end

--- The one-line message for an unknown provider name.
function _M.unknown_provider(name)
  return "unknown provider '" .. tostring(name) .. "' (known: " .. table.concat(PROVIDERS, ", ") .. ")"
end

--- Parse command arguments against a specification.
-- `spec.options` maps long names to `{ value = true|false, short = "x", multi = true,
-- number = true, choices = { ... } }`. `--name value`, `--name=value`, `-x value`, flags and
-- positionals are accepted; `--` ends options. `help`, `json`, `verbose`, `config` and
-- `provider` are known (`provider` unless `spec.no_provider` says the command has no use for
-- one); `--provider` must name a known provider unless `spec.own_provider_check` says the
-- command checks it itself.
-- @tparam table spec `{ options = {...}, min_args = n, max_args = n }`
-- @tparam table args the raw arguments
-- @treturn table options by name (dashes become underscores) with positionals in `opts.args`,
-- or nil and a one-line message
function _M.parse(spec, args)
  local options = {
    help = { short = "h" }, json = {}, verbose = { short = "v" },
    config = { value = true, short = "c" }, provider = { value = true, short = "p" },
  }
  -- a command that has no use for a provider refuses -p rather than ignoring it
  if spec.no_provider then options.provider = nil end
  for k, v in pairs(spec.options or {}) do options[k] = v end
  local short = {}
  for k, v in pairs(options) do if v.short then short[v.short] = k end end
  local opts, pos = {}, {}
  local i, only_pos = 1, false
  while i <= #args do
    local a = args[i]
    if only_pos or a == "-" or a:sub(1, 1) ~= "-" then
      pos[#pos + 1] = a
    elseif a == "--" then
      only_pos = true
    else
      local name, value
      if a:sub(1, 2) == "--" then
        name, value = a:match("^%-%-([^=]+)=(.*)$")
        if not name then name = a:sub(3) end
      else
        name = short[a:sub(2, 2)]
        if not name or #a > 2 then return nil, "unknown option '" .. a .. "'" end
      end
      local o = options[name]
      if not o then return nil, "unknown option '--" .. name .. "'" end
      if o.value then
        if value == nil then
          i = i + 1
          value = args[i]
          if value == nil then return nil, "option '--" .. name .. "' needs a value" end
        end
        if o.number then
          local n = tonumber(value)
          if not n or n < (o.min or -math.huge) then
            return nil, "option '--" .. name .. "' needs a number" ..
              (o.min and (" >= " .. o.min) or "") .. ", got '" .. value .. "'"
          end
          value = n
        end
        if o.choices then
          local ok = false
          for _, c in ipairs(o.choices) do if c == value then ok = true end end
          if not ok then
            return nil, "option '--" .. name .. "' must be one of " .. table.concat(o.choices, ", ")
              .. ", got '" .. tostring(value) .. "'"
          end
        end
        local key = name:gsub("%-", "_")
        if o.multi then
          opts[key] = opts[key] or {}
          table.insert(opts[key], value)
        else
          opts[key] = value
        end
      else
        if value ~= nil then return nil, "option '--" .. name .. "' takes no value" end
        opts[(name:gsub("%-", "_"))] = true
      end
    end
    i = i + 1
  end
  opts.args = pos
  if opts.provider ~= nil and not spec.own_provider_check and not _M.known_provider(opts.provider) then
    return nil, _M.unknown_provider(opts.provider)
  end
  if not opts.help then
    if spec.min_args and #pos < spec.min_args then
      return nil, spec.missing or "missing arguments"
    end
    if spec.max_args and #pos > spec.max_args then
      return nil, "unexpected argument '" .. pos[spec.max_args + 1] .. "'"
    end
  end
  return opts
end

--- Parse `name=value` pairs given with `--var`.
-- A name given twice is refused: keeping one of two values silently would send a message
-- nobody asked for.
-- @tparam table list strings like `name=홍길동`
-- @treturn table vars, or nil and a message
function _M.parse_vars(list)
  local vars = {}
  for _, kv in ipairs(list or {}) do
    local k, v = kv:match("^([^=]+)=(.*)$")
    if not k then return nil, "--var needs name=value, got '" .. kv .. "'" end
    if vars[k] ~= nil then return nil, "--var " .. k .. " is given twice (give each variable once)" end
    vars[k] = v
  end
  return vars
end

--- Split `--format` values into the input file's format (`csv` | `jsonl`) and formatters
-- (`NAME=FORMATTER`, alimtalk.format.formatter): render and validate take both.
-- @tparam table list the `--format` values (or nil)
-- @treturn string|nil the input format, and the list of formatters (or nil); or nil, nil and
-- a message
function _M.split_formats(list)
  local input_format, formatters
  for _, v in ipairs(list or {}) do
    if v:find("=", 1, true) then
      formatters = formatters or {}
      formatters[#formatters + 1] = v
    elseif v == "csv" or v == "jsonl" then
      if input_format and input_format ~= v then
        return nil, nil, "--format is given as both csv and jsonl"
      end
      input_format = v
    else
      return nil, nil, "--format needs csv, jsonl or NAME=FORMATTER (e.g. amount=won), got '" .. v .. "'"
    end
  end
  return input_format, formatters
end

--- Apply `--format NAME=FORMATTER` to variables (alimtalk.format): `amount=won`,
-- `paid_at=datetime`, `note=cut:20`. Every formatter name is checked before any is applied.
-- @tparam table vars the variables (changed in place)
-- @tparam table list strings like `amount=won` (or nil)
-- @treturn table vars, or nil and a message naming the variable and the reason
function _M.apply_formats(vars, list)
  if not list then return vars end
  local format = require("alimtalk.format")
  local todo, seen = {}, {}
  for _, kv in ipairs(list) do
    local k, spec = kv:match("^([^=]+)=(.*)$")
    if not k or spec == "" then
      return nil, "--format needs NAME=FORMATTER (e.g. amount=won), got '" .. kv .. "'"
    end
    if seen[k] then return nil, "--format " .. k .. " is given twice (give each variable one formatter)" end
    seen[k] = true
    local f, fe = format.formatter(spec)
    if not f then return nil, "--format " .. kv .. ": " .. fe end
    todo[#todo + 1] = { k, spec, f }
  end
  for _, t in ipairs(todo) do
    local k, spec, f = t[1], t[2], t[3]
    if vars[k] == nil then return nil, "--format " .. k .. "=" .. spec .. ": there is no variable " .. k end
    local v, err = f(vars[k], "vars." .. k)
    if not v then
      return nil, "--format " .. k .. "=" .. spec .. ": " .. (err.field or "") .. " " .. err.message
    end
    vars[k] = v
  end
  return vars
end

--- Read a whole file.
function _M.read_file(path)
  local f, e = io.open(path, "rb")
  if not f then return nil, e end
  local s = f:read("a")
  f:close()
  return s
end

--- Decode JSON text with a readable error.
function _M.decode_json(text, what)
  local v, e = cjson.decode(text)
  if v == nil then return nil, (what or "input") .. " is not valid JSON: " .. tostring(e) end
  return v
end

-- What load_config learnt about each configuration it returned (weak keys): the getenv it
-- read with and the sections already resolved by `resolve`.
local loaded = setmetatable({}, { __mode = "k" })

-- Note a provider section's secrets for redaction and fill ALIMTALK_<PROVIDER>_<KEY> into it.
-- `"env:NAME"` references are left for `resolve`: a section the command does not send through
-- must not fail for a variable it would never read.
local function fill_from_env(name, section, getenv, from)
  for k, v in pairs(section) do
    if type(k) == "string" and type(v) == "string" and not v:match("^env:[%w_]+$") then
      if SECRET_KEYS[k] then
        add_secret(v)
        from[name .. "." .. k] = false -- written in the file itself
      elseif k:match("_env$") and SECRET_KEYS[k:sub(1, -5)] then
        add_secret(getenv(v))
      end
    end
  end
  -- Every key of the provider's vocabulary may come from ALIMTALK_<PROVIDER>_<KEY>, which
  -- wins over the file (an `env:` reference it replaces is never read).
  local prefix = "ALIMTALK_" .. name:upper() .. "_"
  for _, k in ipairs(PROVIDER_SECRETS[name] or {}) do
    local val = getenv(prefix .. k:upper())
    if val and val ~= "" then
      section[k] = val
      add_secret(val)
      from[name .. "." .. k] = prefix .. k:upper()
    end
  end
  return section
end

--- Load the configuration: `--config FILE`, else $ALIMTALK_CONFIG, else ./alimtalk.json when
-- present, else the defaults (the embedded sandbox provider). The file is JSON:
-- `{ "provider": "sens", "providers": { "sens": { ... } }, "route": [...], "templates": "t.json" }`
-- (and `"policy": "policy.lua"`, a policy script, see docs/policies.md; `--policy` wins)
-- (a provider section may also sit at the top level under its name, as in `alimtalk.new`).
-- Secret keys come from the environment: `"secret_key": "env:NCP_SECRET_KEY"`, or
-- ALIMTALK_<PROVIDER>_<KEY> (e.g. ALIMTALK_SENS_SECRET_KEY) which fills the key when set.
-- `"env:NAME"` references are resolved by `resolve` (which `client` calls), only in the
-- sections the command sends through. `--provider NAME` on the command line picks the provider.
-- @tparam table opts parsed options (`config`, `provider`); `config = false`: no file at all,
-- only the defaults and the environment (a campaign started without one is resumed so)
-- @tparam[opt] function getenv defaults to os.getenv
-- @treturn table the options for `alimtalk.new`, or nil and a message
function _M.load_config(opts, getenv)
  getenv = getenv or os.getenv
  local path = opts.config
  if path == nil then path = getenv("ALIMTALK_CONFIG") end
  if path == false then
    path = nil
  elseif not path then
    local f = io.open("alimtalk.json", "r")
    if f then f:close(); path = "alimtalk.json" end
  end
  local cfg = {}
  if path then
    local text, e = _M.read_file(path)
    if not text then return nil, "cannot read configuration: " .. tostring(e) end
    local v, de = _M.decode_json(text, "configuration " .. path)
    if not v then return nil, de end
    if type(v) ~= "table" then return nil, "configuration " .. path .. " must be a JSON object" end
    cfg = v
    if cfg.providers ~= nil and type(cfg.providers) ~= "table" then
      return nil, "configuration: providers must be an object"
    end
    -- Relative file names in the configuration are relative to the file itself.
    local dir = path:match("^(.*)/[^/]*$")
    if dir then
      local function rel(p)
        if type(p) == "string" and p:sub(1, 1) ~= "/" then return dir .. "/" .. p end
        return p
      end
      cfg.templates = rel(cfg.templates)
      cfg.policy = rel(cfg.policy)
      for _, name in ipairs(PROVIDERS) do
        local sec = (cfg.providers and cfg.providers[name]) or cfg[name]
        if type(sec) == "table" then sec.ca_file = rel(sec.ca_file); sec.outbox = rel(sec.outbox) end
      end
    end
  end
  if cfg.providers ~= nil and type(cfg.providers) ~= "table" then
    return nil, "configuration: providers must be an object"
  end
  -- Fold `providers = { x = {...} }` and top-level sections into top-level sections.
  local providers = cfg.providers or {}
  cfg.providers = nil
  local from = {} -- "sens.access_key" -> the variable that gave it
  for _, name in ipairs(PROVIDERS) do
    local sec = providers[name] or cfg[name]
    if sec ~= nil then
      -- (a JSON array decodes to a table too: its numbered entries are no settings)
      if type(sec) ~= "table" or sec[1] ~= nil then
        return nil, "configuration: " .. name .. " must be an object"
      end
      cfg[name] = fill_from_env(name, sec, getenv, from)
    end
  end
  for name in pairs(providers) do
    local known = false
    for _, p in ipairs(PROVIDERS) do if p == name then known = true end end
    if not known then return nil, "configuration: unknown provider '" .. tostring(name) .. "'" end
  end
  -- A secret in the environment alone (no section in the file) still makes a section.
  for _, name in ipairs(PROVIDERS) do
    if cfg[name] == nil then
      local sec = fill_from_env(name, {}, getenv, from)
      if next(sec) then cfg[name] = sec end
    end
  end
  if opts.provider then
    cfg.provider = opts.provider
    cfg.route = nil
  elseif cfg.provider ~= nil and cfg.route ~= nil then
    -- as alimtalk.new: one of the two would go unused, and which one is a guess (a route of
    -- that provider alone says the same thing)
    local other = false
    for _, n in ipairs(require("alimtalk.router").names(cfg.route)) do
      other = other or n ~= cfg.provider
    end
    if other then
      return nil, "configuration: give provider (one provider) or route (several, with failover), "
        .. "not both; --provider picks one for a single command"
    end
    -- kept: alimtalk.new takes the two together, with the route's failures and cooldown
  end
  if cfg.provider == nil and cfg.route == nil then cfg.provider = "sandbox" end
  -- the policy script (docs/policies.md): --policy FILE wins over the file's "policy"
  if opts.policy then cfg.policy = opts.policy end
  if cfg.policy ~= nil and type(cfg.policy) ~= "string" then
    return nil, "configuration: policy must be a file name (a Lua policy script)"
  end
  loaded[cfg] = { getenv = getenv, path = path, done = {}, from = from, warned = {} }
  return cfg
end

--- The file a configuration came from (as given: maybe relative), or nil for none.
-- @tparam table cfg from load_config
function _M.config_path(cfg)
  local info = loaded[cfg]
  return info and info.path or nil
end

--- The providers a configuration sends through: its route's, else its provider.
-- @tparam table cfg from load_config
-- @treturn table names in route order
local function used_sections(cfg)
  if type(cfg.route) == "table" then return require("alimtalk.router").names(cfg.route) end
  return type(cfg.provider) == "string" and { cfg.provider } or {}
end
_M.used_sections = used_sections

-- The variables the providers read a secret from when the configuration gives none
-- (alimtalk.providers.*), checked here too so a bad value is named before any request.
local DEFAULT_ENV = {
  ["sens.access_key"] = "NCP_ACCESS_KEY", ["sens.secret_key"] = "NCP_SECRET_KEY",
  ["bizmessage.client_secret"] = "BIZMSG_CLIENT_SECRET", ["apiplex.secret_key"] = "APIPLEX_SECRET_KEY",
  ["sinch.key_secret"] = "SINCH_KEY_SECRET",
}

-- A value that cannot go into a request (a header, a signed string): a line break or a NUL,
-- most often the newline at the end of a file a secret was copied from.
local function control(v)
  return type(v) == "string" and (v:find("[\r\n]") or v:find("\0", 1, true))
end

local function bad_value(field, from)
  return "configuration " .. field .. (from and (" (from " .. from .. ")") or "")
    .. " contains a line break (CR, LF) or NUL byte, which cannot go into a request: remove it"
end

-- Refuse a value of a provider section (given, or from the variable it names) that cannot go
-- into a request, naming the field and where the value came from, never the value.
local function check_values(name, sec, info)
  local keys = {}
  for k in pairs(sec) do if type(k) == "string" then keys[#keys + 1] = k end end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = sec[k]
    local base = k:match("^(.-)_env$")
    if base and SECRET_KEYS[base] and type(v) == "string" then
      if control(info.getenv(v)) then return nil, bad_value(name .. "." .. base, v) end
    elseif control(v) then
      local field = name .. "." .. k
      return nil, bad_value(field, info.from[field] or (info.path and ("the configuration file "
        .. info.path)))
    end
  end
  for field, var in pairs(DEFAULT_ENV) do
    local p, k = field:match("^(%w+)%.(.+)$")
    if p == name and sec[k] == nil and sec[k .. "_env"] == nil and control(info.getenv(var)) then
      return nil, bad_value(field, var)
    end
  end
  return true
end

--- Warn on stderr, once per field, that a secret is written in the configuration file itself:
-- it works, but anyone who can read the file (a backup, a repository) can use it. An NCP
-- access key is the public half of its key pair and draws no warning.
-- @tparam string field e.g. `apiplex.secret_key`
-- @tparam[opt] string path the configuration file
-- @tparam[opt] string var the variable that would hold it instead
function _M.warn_literal(field, path, var)
  _M.err("alimtalk: warning: ", field, " is written in the configuration file", path and (" " .. path) or "",
    ": anyone who can read the file can use it; prefer \"env:NAME\"",
    var and (" or " .. var) or "", " (docs/cli.md)\n")
end

local function warn_literals(name, sec, info)
  for k in pairs(sec) do
    local field = name .. "." .. k
    if SECRET_KEYS[k] and k ~= "access_key" and info.from[field] == false and not info.warned[field] then
      info.warned[field] = true
      local listed = false
      for _, pk in ipairs(PROVIDER_SECRETS[name] or {}) do if pk == k then listed = true end end
      _M.warn_literal(field, info.path, listed and ("ALIMTALK_" .. name:upper() .. "_" .. k:upper()) or nil)
    end
  end
end

--- Resolve the `"env:NAME"` references of the provider sections a configuration sends through
-- (its route, else its provider), and check their values. A section no command sends through
-- is never read, so an unset variable there is no error.
-- @tparam table cfg from load_config
-- @treturn table cfg, or nil and a one-line message naming the field and the variable (a
-- value with a line break or NUL is refused, naming the field and its source, never the value)
function _M.resolve(cfg)
  local info = loaded[cfg]
  if not info then return cfg end
  for _, name in ipairs(used_sections(cfg)) do
    local sec = cfg[name]
    if type(sec) == "table" and not info.done[name] then
      for k, v in pairs(sec) do
        local var = type(v) == "string" and v:match("^env:([%w_]+)$")
        if var then
          local val = info.getenv(var)
          if val == nil or val == "" then
            return nil, "configuration " .. name .. "." .. k .. " names the environment variable "
              .. var .. ", which is not set"
          end
          sec[k] = val
          if SECRET_KEYS[k] then add_secret(val) end
          info.from[name .. "." .. k] = var
        end
      end
      local ok, e = check_values(name, sec, info)
      if not ok then return nil, e end
      warn_literals(name, sec, info)
      info.done[name] = true
    end
  end
  return cfg
end

-- The secret options of the webhook receivers (alimtalk.webhook.*).
local WEBHOOK_SECRETS = { secret = true, echo_token = true, basic_password = true }

--- The configuration's `webhook.<provider>` options for a receiver: `"env:NAME"` values
-- resolved, secrets remembered for redaction, and a warning for a secret written in the file.
-- @tparam table cfg from load_config
-- @tparam string provider sinch, apiplex or alcmeon
-- @treturn table options (a copy), or nil and a one-line message
function _M.webhook_options(cfg, provider)
  local info = loaded[cfg] or { getenv = os.getenv }
  local section = type(cfg.webhook) == "table" and cfg.webhook[provider] or nil
  local out = {}
  if type(section) ~= "table" then return out end
  for k, v in pairs(section) do
    local var = type(v) == "string" and v:match("^env:([%w_]+)$")
    if var then
      v = info.getenv(var)
      if v == nil or v == "" then
        return nil, "configuration webhook." .. provider .. "." .. k .. " names the environment variable "
          .. var .. ", which is not set"
      end
      if WEBHOOK_SECRETS[k] then add_secret(v) end
    elseif WEBHOOK_SECRETS[k] and type(v) == "string" then
      add_secret(v)
      _M.warn_literal("webhook." .. provider .. "." .. k, info.path)
    elseif type(k) == "string" and k:match("_env$") and WEBHOOK_SECRETS[k:sub(1, -5)] then
      add_secret(info.getenv(v))
    end
    out[k] = v
  end
  return out
end

--- An error raised inside the library, for one line on stderr: without the `file.lua:N:` it
-- starts with (an internal path says nothing to a user) and with every known secret blanked.
function _M.raised(e)
  return (_M.redact(tostring(e)):gsub("^[^\n]-%.lua:%d+: ", ""))
end

--- Trap SIGTERM and SIGINT for a long-running command (worker, bulk run), which polls
-- `asked` between units of work and stops cleanly; a second signal kills as usual.
-- @treturn table `asked()` (true once a signal came; `signal` then holds its name, "TERM" or
--   "INT") and `release()` (the default actions back)
function _M.trap_stop_signals()
  local core = require "alimtalk.core"
  local t = {}
  local ok, err = core.trap_signals("TERM", "INT")
  if not ok then _M.err("alimtalk: ", tostring(err), " (a signal will end the command as a kill)\n") end
  function t.asked()
    local sig = core.stop_signal()
    if sig then t.signal = sig return true end
    return false
  end
  function t.release()
    t.asked()
    core.untrap_signals("TERM", "INT")
  end
  return t
end

--- Build a client from the configuration.
-- @tparam table cfg from load_config
-- @treturn client, or nil and a message
function _M.client(cfg)
  local rok, re = _M.resolve(cfg)
  if not rok then return nil, re end
  local alimtalk = require "alimtalk"
  local c = {}
  local sections = {}
  for _, name in ipairs(PROVIDERS) do sections[name] = true end
  for k, v in pairs(cfg) do
    -- keys only the command line reads stay here; with one provider chosen, the configuration
    -- may describe others too (the client takes only the ones it sends through)
    if k ~= "bulk" and k ~= "webhook" and not sections[k] then c[k] = v end
  end
  for _, name in ipairs(used_sections(cfg)) do c[name] = cfg[name] end
  local okn, client, e = pcall(alimtalk.new, c)
  if not okn then return nil, _M.raised(client) end
  if not client then
    -- a missing secret: the command line also reads ALIMTALK_<PROVIDER>_<KEY> (docs/cli.md)
    if type(e) == "table" and e.code == "BAD_OPTION" and type(e.field) == "string" then
      local p, k = e.field:match("^(%w+)%.([%w_]+)$")
      for _, sk in ipairs(p and PROVIDER_SECRETS[p] or {}) do
        if sk == k then
          e.message = tostring(e.message) .. "; or set ALIMTALK_" .. p:upper() .. "_" .. k:upper()
          break
        end
      end
    end
    return nil, e
  end
  return client
end

--- The common start of every command: parse, print help, load the configuration.
-- @tparam string cmd command name
-- @tparam table spec option spec for `parse`
-- @tparam string help the help text (printed for --help)
-- @tparam table args raw arguments
-- @tparam[opt] boolean need_config load the configuration too
-- @treturn opts, cfg or nil, exit_code
function _M.start(cmd, spec, help, args, need_config)
  _M.collect_env_secrets()
  local opts, e = _M.parse(spec, args)
  if not opts then return nil, _M.usage_error(cmd, e) end
  if opts.help then
    _M.out(help)
    return nil, _M.EXIT.ok
  end
  if need_config then
    local cfg, ce = _M.load_config(opts)
    if not cfg then return nil, _M.usage_error(cmd, ce) end
    return opts, cfg
  end
  return opts
end

--- Exit code for a set of counts (accepted, rejected, uncertain, not_sent).
function _M.exit_for(counts)
  if (counts.uncertain or 0) > 0 then return _M.EXIT.uncertain end
  if (counts.rejected or 0) > 0 or (counts.not_sent or 0) > 0 or (counts.invalid or 0) > 0 then
    return _M.EXIT.failed
  end
  return _M.EXIT.ok
end

--- One line describing a send result for people.
function _M.describe_result(r, i)
  local parts = { (i and ("#" .. i .. " ") or "") .. tostring(r.status) }
  if r.provider then parts[#parts + 1] = "via " .. tostring(r.provider) end
  if r.id then parts[#parts + 1] = "id=" .. tostring(r.id) end
  local ids = type(r.ids) == "table" and r.ids or r
  for _, k in ipairs({ "request_id", "message_id", "uid", "cid", "msg_key" }) do
    if ids[k] then parts[#parts + 1] = k .. "=" .. tostring(ids[k]) end
  end
  if r.duplicate then parts[#parts + 1] = "(duplicate serial: already accepted)" end
  if r.code or r.provider_code then parts[#parts + 1] = "code=" .. tostring(r.code or r.provider_code) end
  if r.detail_code then parts[#parts + 1] = "detail=" .. tostring(r.detail_code) end
  if r.message and not r.error then parts[#parts + 1] = "(" .. tostring(r.message) .. ")" end
  if r.error then parts[#parts + 1] = tostring(r.error) end
  if r.attempts then parts[#parts + 1] = "attempts=" .. tostring(r.attempts) end
  return table.concat(parts, " ")
end

return _M
