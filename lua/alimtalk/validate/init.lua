--- Pre-flight validation: predict the provider's verdict before sending.
-- Each provider has a rule set (`alimtalk.validate.<provider>`); Kakao's own rules are shared
-- (`alimtalk.validate.kakao`). Every violation is reported at once, each with the field path,
-- the limit, the actual size and its unit, a readable message and the provider's own code
-- where one exists (3016, 3029, 3034, C400_2, G142...). See docs/messages.md for the list.
--
--    local validate = require "alimtalk.validate"
--    local ok, err = validate.message(msg, { provider = "sens", registry = reg })
--    if not ok then for _, e in ipairs(err.errors) do print(e.field, e.code, e.provider_code) end end
-- @module alimtalk.validate
local errors = require "alimtalk.errors"
local message = require "alimtalk.message"
local rules = require "alimtalk.validate.rules"

local _M = {}

local PROVIDERS = { sens = true, bizmessage = true, apiplex = true, sinch = true, alcmeon = true }
local OPTS = { provider = true, registry = true, now = true, field_prefix = true, limits = true,
  allow_unknown = true, window = true }

local profiles, contexts = {}, {}

--- The rule set of a provider (its `limits`, `max_batch`, button types, codes).
function _M.profile(provider)
  local p = profiles[provider]
  if p then return p end
  if not PROVIDERS[provider] then
    error("validate: provider must be sens, bizmessage, apiplex, sinch or alcmeon, got "
      .. tostring(provider), 3)
  end
  p = require("alimtalk.validate." .. provider)
  profiles[provider] = p
  contexts[provider] = rules.context(p)
  return p
end

-- Option tables made by `options`: their keys were checked when made and every key added
-- later is checked as it is added, so a call needs no pass over them.
local checked = setmetatable({}, { __mode = "k" })
local options_mt = { __name = "alimtalk.validate.options" }
function options_mt.__newindex(t, k, v)
  if not OPTS[k] then error("validate: unknown option " .. tostring(k), 2) end
  rawset(t, k, v)
end

local function check_opts(opts, fname)
  if checked[opts] and profiles[opts.provider] then return end
  if type(opts) ~= "table" then error(fname .. ": opts with a provider are required", 3) end
  for k in pairs(opts) do
    if not OPTS[k] then error(fname .. ": unknown option " .. tostring(k), 3) end
  end
  _M.profile(opts.provider)
end

--- Options checked once, for many calls of `message` or `batch` (a client validating every
-- message it sends): the same keys as those functions take; a key added later is checked
-- when it is set (an unknown one raises), so each call skips the pass over the options.
-- @tparam table opts as for `message`
-- @treturn table a copy to pass instead of opts (change its fields as needed, e.g. `now`)
function _M.options(opts)
  check_opts(opts, "validate.options")
  local o = setmetatable({}, options_mt)
  for k, v in pairs(opts) do rawset(o, k, v) end
  checked[o] = true
  return o
end

local function run(msg, opts, prefix)
  local provider = opts.provider
  local P = profiles[provider]
  local m, early, fatal = message.normalize_args(msg, opts.registry, provider, opts.allow_unknown, prefix)
  if early then
    for _, e in ipairs(early) do
      e.provider = provider
      if e.code == "BAD_PHONE" then e.provider_code = P.codes.bad_phone end
      if e.code == "REQUIRED" then e.provider_code = P.codes.required end
    end
    if fatal then return early end
  end
  local ctx = contexts[provider]
  ctx:reset(prefix and prefix .. "." or "", opts.limits, opts)
  P.check(ctx, m)
  local list = ctx.list
  ctx.list, ctx.opts = nil, nil
  if early then
    for _, e in ipairs(list or {}) do early[#early + 1] = e end
    return early
  end
  return list, m
end

--- Validate one message for a provider.
-- @tparam table msg a message (see `alimtalk.message`)
-- @tparam table opts `provider` (required: `sens`, `bizmessage`, `apiplex`, `sinch`, `alcmeon`),
-- `registry` (templates: enables template matching and type rules), `now` (epoch seconds for
-- send windows, default `os.time()`), `field_prefix` (e.g. `"messages[3]"`), `limits` (overrides
-- by rule key: a number replaces the first limit, a list of specs replaces them all; keys in
-- docs/messages.md), `allow_unknown` (variables the template does not use), `window` (send
-- window override `{ "08:00", "20:00" }`)
-- @treturn boolean true, or nil and an error made by `errors.collect` whose `errors` lists every
-- violation (`code`, `field`, `message`, `provider_code`, and for sizes `limit`, `actual`, `unit`)
-- @treturn table the normalized message when valid
function _M.message(msg, opts)
  -- (`options` tables are checked when made: the client's per-message call skips the call)
  if not (checked[opts] and profiles[opts.provider]) then check_opts(opts, "validate.message") end
  if type(msg) ~= "table" then error("validate.message: message must be a table", 2) end
  local list, m = run(msg, opts, opts.field_prefix)
  if list then return nil, errors.collect(list) end
  return true, m
end

--- Validate a batch: every message, and the provider's batch size.
-- @tparam table msgs list of messages
-- @tparam table opts as for `message` (`field_prefix` defaults to `"messages"`; messages are
-- `messages[1]`, `messages[2]`...)
-- @treturn table list of the normalized valid messages (nil where a message is invalid)
-- @treturn table|nil errors by message index (`errors.collect` tables); index 0 holds a batch
-- error (`TOO_MANY`, unit "items", with the provider's per-request limit: SENS 100, API PLEX
-- 10, when the list is meant as one request; providers that take one message per request
-- have no such limit); `BATCH_MIXED` marks a
-- message that cannot share the request (SENS: one template and one reservation per request)
function _M.batch(msgs, opts)
  check_opts(opts, "validate.batch")
  if type(msgs) ~= "table" then error("validate.batch: messages must be a list", 2) end
  local P = profiles[opts.provider]
  local base = opts.field_prefix or "messages"
  local ok_list, by_index = {}, nil
  local n = rules.len(msgs)
  -- One-message-per-request providers (BizMessage, Sinch, Alcmeon) have no multi-message
  -- request to overflow: the client sends each message on its own.
  if P.max_batch and P.max_batch > 1 and n > P.max_batch then
    by_index = { [0] = errors.collect{ errors.new{ code = "TOO_MANY", field = base, limit = P.max_batch,
      actual = n, unit = "items", provider = P.name, provider_code = P.batch_code,
      message = string.format("one %s request takes at most %d messages, got %d (client:send_batch "
        .. "splits a longer list into requests)", P.name, P.max_batch, n) } } }
  end
  if n == 0 then
    by_index = { [0] = errors.collect{ errors.new{ code = "TOO_FEW", field = base, limit = 1, actual = 0,
      unit = "items", provider = P.name, message = "the batch is empty" } } }
  end
  for i = 1, n do
    local msg = msgs[i]
    if type(msg) ~= "table" then
      by_index = by_index or {}
      by_index[i] = errors.collect{ errors.new{ code = "BAD_TYPE", field = base .. "[" .. i .. "]",
        provider = P.name, message = "a message must be a table" } }
    else
      -- checked without its path first: "messages[i]" is built only for a message with errors,
      -- which is checked again to name it in every field
      local list, m = run(msg, opts, nil)
      if list then
        list = run(msg, opts, base .. "[" .. i .. "]")
        by_index = by_index or {}
        by_index[i] = errors.collect(list)
      else
        ok_list[i] = m
      end
    end
  end
  -- fields one request carries once for all its messages (SENS: templateCode, reserveTime,
  -- reserveTimeZone are top-level): every valid message must agree with the first valid one
  local same = P.batch_same
  if same then
    local first
    for i = 1, n do
      local m = ok_list[i]
      if m then
        if not first then
          first = m
        else
          for _, f in ipairs(same) do
            if m[f] ~= first[f] then
              local name = f == "template_code" and "template" or f
              local e = errors.new{ code = "BATCH_MIXED", field = base .. "[" .. i .. "]." .. name,
                provider = P.name, message = string.format("%s sends one %s per request; this message "
                  .. "has %s, the first %s", P.name, name, tostring(m[f]), tostring(first[f])) }
              by_index = by_index or {}
              by_index[i] = errors.collect{ e }
              ok_list[i] = nil
              break
            end
          end
        end
      end
    end
  end
  return ok_list, by_index
end

--- Validate a template definition (Alcmeon's model, seed 000).
-- @tparam table def the definition (see `alimtalk.validate.alcmeon`)
-- @tparam table opts `provider` = "alcmeon", `field_prefix`, `limits`
-- @treturn boolean true, or nil and an error listing every violation
function _M.template(def, opts)
  check_opts(opts, "validate.template")
  local P = profiles[opts.provider]
  if not P.check_template then
    error("validate.template: no template rules for " .. opts.provider, 2)
  end
  if type(def) ~= "table" then error("validate.template: definition must be a table", 2) end
  local ctx = contexts[opts.provider]
  ctx:reset(opts.field_prefix and opts.field_prefix .. "." or "", opts.limits, opts)
  P.check_template(ctx, def)
  local list = ctx.list
  ctx.list, ctx.opts = nil, nil
  if list then return nil, errors.collect(list) end
  return true
end

return _M
