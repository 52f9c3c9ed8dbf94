--- Option checking and secrets for alimtalk clients.
-- Every constructor takes one options table; unknown keys raise (a typo in an option name must
-- not silently fall back to a default). Secrets may be given directly, by naming an environment
-- variable (`secret_key_env = "NCP_SECRET_KEY"`) or, failing both, read from the documented
-- default environment variable. Secrets are kept out of every public table: providers hold them
-- in a private store keyed by the provider object, so `tostring`, results, errors and logs
-- never show them.
-- @module alimtalk.config
local _M = {}

local errors = require "alimtalk.errors"

local type, pairs, tostring, error = type, pairs, tostring, error

--- Raise on unknown option keys and wrong types.
-- @tparam table opts the caller's options (nil is treated as `{}`)
-- @tparam table spec map of key -> type name ("string", "number", "boolean", "table",
--   "function", "any", or "string|table" alternatives)
-- @tparam string where name used in the error message, e.g. "alimtalk.new"
-- @treturn table opts (or a new empty table)
function _M.check(opts, spec, where)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(where .. ": options must be a table, got " .. type(opts), 3)
  end
  for k, v in pairs(opts) do
    local want = spec[k]
    if want == nil then
      error(where .. ": unknown option '" .. tostring(k) .. "'", 3)
    end
    if want ~= "any" then
      local t = type(v)
      local ok = false
      for alt in want:gmatch("[^|]+") do
        if alt == t then ok = true break end
      end
      if not ok then
        error(where .. ": option '" .. k .. "' must be " .. want .. ", got " .. t, 3)
      end
    end
  end
  return opts
end

--- Options every provider accepts besides its own keys.
_M.common = {
  base_url = "string", ca_file = "string", connect_timeout = "number", timeout = "number",
  max_connections = "number", max_response = "number", transport = "table",
}

--- Merge a provider's own spec with the common keys and the `_env` variants of its secrets.
-- @tparam table own key -> type
-- @tparam table secrets list of secret key names (each also accepts `<key>_env`)
-- @treturn table the full spec
function _M.provider_spec(own, secrets)
  local spec = {}
  for k, v in pairs(_M.common) do spec[k] = v end
  for k, v in pairs(own) do spec[k] = v end
  for _, k in ipairs(secrets or {}) do
    spec[k] = "string"
    spec[k .. "_env"] = "string"
  end
  return spec
end

-- The option and variable of the last `resolve` whose `<key>_env` named an unset variable.
local unset_key, unset_name

-- A secret goes into an HTTP header or a signature: a line break or NUL in it (a stray newline
-- at the end of a file or variable, most often) would be refused deep in the HTTP layer with
-- an error that names neither the setting nor where it came from.
local function checked(v, conf_key, from)
  if not v:find("[%z\r\n]") then return v end
  return nil, errors.new{ code = "BAD_OPTION", field = conf_key, message = conf_key .. " (from "
    .. from .. ") holds a line break or NUL character, which no HTTP header can carry" }
end

--- Resolve a value that may come from the environment.
-- Order: `conf[key]`, then the variable named by `conf[key .. "_env"]`, then `default_env`.
-- @tparam table conf provider options
-- @tparam string key option name
-- @tparam[opt] string default_env documented default variable name
-- @tparam[opt] function getenv for tests (defaults to os.getenv)
-- @tparam[opt] string provider provider name, for the field of an error
-- @treturn string|nil the value, or nil and a BAD_OPTION error when it holds a line break or
-- NUL (never showing the value)
function _M.resolve(conf, key, default_env, getenv, provider)
  getenv = getenv or os.getenv
  unset_key, unset_name = nil, nil
  local field = provider and provider .. "." .. key or key
  local v = conf[key]
  if v ~= nil and v ~= "" then return checked(v, field, "the configuration") end
  local name = conf[key .. "_env"]
  if name then
    v = getenv(name)
    if v ~= nil and v ~= "" then return checked(v, field, name .. ", named by " .. key .. "_env") end
    -- remembered for `missing`, which providers call right after (no yield in between)
    unset_key, unset_name = key, name
    return nil
  end
  if default_env then
    v = getenv(default_env)
    if v ~= nil and v ~= "" then return checked(v, field, default_env) end
  end
  return nil
end

--- A required setting that may come from the environment: `resolve`, and when it gives
-- nothing, the error that says why (`missing`, or the value's own BAD_OPTION).
-- @tparam table conf provider options
-- @tparam string provider provider name (for the error's field)
-- @tparam string key option name
-- @tparam[opt] string default_env documented default variable name
-- @treturn string the value, or nil and a BAD_OPTION error
function _M.need(conf, provider, key, default_env)
  local v, bad = _M.resolve(conf, key, default_env, nil, provider)
  if v then return v end
  return nil, bad or _M.missing(provider, key, default_env)
end

-- What a setting is, for the error that says it is missing (a name alone rarely tells).
local WHAT = {
  ["bizmessage.sender_no"] = "the sender's phone number registered with BizMessage",
  ["bizmessage.sender_key"] = "the KakaoTalk channel's sender key",
  ["bizmessage.client_id"] = "the BizMessage OAuth client id",
  ["apiplex.sender_number"] = "the sender's phone number registered with API PLEX",
  ["apiplex.sender_key"] = "the KakaoTalk channel's sender key",
  ["apiplex.user_id"] = "the API PLEX user id",
  ["sens.service_id"] = "the SENS AlimTalk service id, ncp:kkobizmsg:...",
  ["sens.plus_friend_id"] = "the KakaoTalk channel id, @name",
}

--- Build a BAD_OPTION error naming a missing setting (never its value).
-- @tparam string provider provider name
-- @tparam string key option name
-- @tparam[opt] string env documented environment variable
-- @treturn table error
function _M.missing(provider, key, env)
  local msg
  local what = WHAT[provider .. "." .. key]
  if unset_key == key and unset_name then
    -- the caller named a variable: say that one is unset, not that the option is missing
    msg = unset_name .. " (named by " .. key .. "_env) is not set"
  else
    msg = provider .. "." .. key .. (what and (" (" .. what .. ")") or "") .. " is required"
    if env then msg = msg .. " (or set " .. env .. " or " .. key .. "_env)" end
  end
  unset_key, unset_name = nil, nil
  return errors.new{ code = "BAD_OPTION", field = provider .. "." .. key, message = msg,
                     provider = provider }
end

--- A URL fit to show in an error or a result: userinfo (`user:password@`), query and
-- fragment removed, since any of them may carry credentials.
-- @tparam string url
-- @treturn string
function _M.redact_url(url)
  local u = tostring(url)
  u = u:gsub("[?#].*$", "")
  local scheme, rest = u:match("^(%a[%w+.%-]*://)(.*)$")
  if not scheme then scheme, rest = "", u end
  local auth, path = rest:match("^([^/]*)(.*)$")
  auth = auth:gsub("^.*@", "")
  return scheme .. auth .. path
end

--- Check that a base URL is scheme://host[:port] with nothing after it.
-- @tparam string url
-- @tparam string where option path for the error
-- @treturn string the URL without a trailing slash
function _M.base_url(url, where)
  local u = url:gsub("/+$", "")
  if not u:match("^https?://[%w%.%-%[%]:]+$") then
    error(where .. ": base_url must be scheme://host[:port] (paths are added by alimtalk), got "
          .. _M.redact_url(u), 3)
  end
  return u
end

-- Private store for secrets: keyed weakly by the owning object so nothing public holds them.
local store = setmetatable({}, { __mode = "k" })

--- Keep secrets for an object out of its public fields.
-- @tparam table owner the object
-- @tparam table secrets name -> value
function _M.hide(owner, secrets)
  store[owner] = secrets
end

--- Set (or, with nil, drop) one hidden secret, keeping the others.
-- @tparam table owner
-- @tparam string name
-- @tparam string|nil value
function _M.hide_one(owner, name, value)
  local s = store[owner]
  if not s then s = {}; store[owner] = s end
  s[name] = value
end

--- Read a hidden secret.
-- @tparam table owner
-- @tparam string name
-- @treturn string|nil
function _M.secret(owner, name)
  local s = store[owner]
  return s and s[name]
end

--- Shallow copy of a table (nil stays nil).
function _M.copy(t)
  if t == nil then return nil end
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

return _M
