--- What a campaign's rows depend on besides the input, and which failures are the setup's.
--
-- A campaign's journal records its setup (`setup` in the header, replaced part by part by a
-- resume that was given a part again): the template registry (`templates`: its path where
-- known and a digest of its content) and the configuration file (`config`: path, digest and
-- the provider section the campaign goes through). A resume given neither restores them; a
-- file that is gone or whose content changed is refused (`SETUP_CHANGED`, naming the file and
-- what changed) before any row is touched, unless it is given again, which records the new
-- digest. Digests are SHA-256 over the file's JSON in a canonical form (keys sorted), so
-- reformatting a file is no change.
--
-- The one place that decides whether a failure is the setup's or the row's is `kind`: a
-- failure that would fail every row alike (no registry, a `--template` the registry lacks, a
-- setting missing) is the setup's, and stops the campaign with the rows untried; only a fault
-- of the row itself goes to `rejects.jsonl`.
-- @module alimtalk.bulk.setup
local cjson = require("cjson.safe")
local core = require("alimtalk.core")
local errors = require("alimtalk.errors")

local _M = {}

-- Error codes that say the setup is wrong, whichever row meets them: every row would fail
-- the same way, so none of them is charged to a row.
_M.CONFIGURATION = {
  NO_REGISTRY = true,     -- a template with variables and no registry to render it
  SETUP_CHANGED = true,   -- a recorded registry or configuration file is gone or changed
  BAD_OPTION = true,      -- a setting (a configuration value, a campaign option) is wrong
  AUTH = true,            -- the provider refuses the credentials
  NOT_CONFIGURED = true,  -- the provider a row needs is not configured
}

-- Error codes about the template a message names: the setup's when the campaign's own
-- template (`--template`) is the one meant, the row's when the row names its own.
_M.TEMPLATE = { TEMPLATE_NOT_FOUND = true, NO_TEMPLATE_CODE = true }

--- Whether a message needs a template registry to be sent: it names a template and gives
-- variables to fill in, without finished content.
function _M.needs_registry(msg)
  return type(msg) == "table" and msg.template ~= nil and msg.content == nil
    and type(msg.vars) == "table" and next(msg.vars) ~= nil
end

--- Whether a failure is the setup's (`"configuration"`) or the row's own (`"row"`).
-- @param err the error (a table from alimtalk.errors, with `errors` when there are several)
-- @tparam[opt] table msg the message the row became
-- @tparam[opt] table ctx `registry` (the campaign's, or nil), `default_template` (true when
-- the message's template is the campaign's `--template`, not one the row names)
-- @treturn string `"configuration"` or `"row"`
function _M.kind(err, msg, ctx)
  ctx = ctx or {}
  if ctx.registry == nil and _M.needs_registry(msg) then return "configuration" end
  if type(err) ~= "table" then return "row" end
  local list = type(err.errors) == "table" and #err.errors > 0 and err.errors or { err }
  for _, e in ipairs(list) do
    local code = type(e) == "table" and e.code or nil
    if _M.CONFIGURATION[code] then return "configuration" end
    if _M.TEMPLATE[code] and ctx.default_template then return "configuration" end
  end
  return "row"
end

--- The error for a message that needs a registry when the campaign has none.
function _M.no_registry(msg)
  return errors.new{ code = "NO_REGISTRY", field = "template", message = "template '"
    .. tostring(msg and msg.template) .. "' has variables to fill in but the campaign has no "
    .. "template registry: give one (--templates FILE, or templates in the configuration)" }
end

-- JSON in a canonical form: object keys sorted, JSON null as null.
local function canon(v, out)
  local t = type(v)
  if t == "table" then
    local n, keys = 0, {}
    for k in pairs(v) do
      n = n + 1
      keys[n] = k
    end
    if n > 0 and n == #v then
      out[#out + 1] = "["
      for i = 1, n do
        if i > 1 then out[#out + 1] = "," end
        canon(v[i], out)
      end
      out[#out + 1] = "]"
    else
      for i = 1, n do keys[i] = tostring(keys[i]) end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        local x = v[k]
        if x == nil then x = v[tonumber(k)] end
        out[#out + 1] = cjson.encode(k)
        out[#out + 1] = ":"
        canon(x, out)
      end
      out[#out + 1] = "}"
    end
  elseif t == "string" or t == "number" or t == "boolean" then
    out[#out + 1] = cjson.encode(v)
  else
    out[#out + 1] = "null" -- cjson's null, and anything JSON has no word for
  end
  return out
end

local function digest_of(v)
  return core.hex(core.sha256(table.concat(canon(v, {}))))
end

--- The digest of a decoded value (canonical JSON, SHA-256, hex).
_M.digest = digest_of

-- The templates of a registry file's content: `{ "templates": [...] }` or a bare list.
local function template_list(data)
  if type(data) == "table" and type(data.templates) == "table" then return data.templates end
  return data
end

--- The digest of a registry's content: the same for a registry object and for the file it was
-- loaded from.
-- @param reg an alimtalk.registry
-- @treturn string|nil hex digest (nil for something that lists no entries)
function _M.registry_digest(reg)
  if type(reg) ~= "table" or type(reg.list) ~= "function" then return nil end
  local list = {}
  for i, e in ipairs(reg:list()) do list[i] = e.source or e.name end
  return digest_of(list)
end

--- Read a JSON file and digest it.
-- @tparam string path
-- @tparam string what `"templates"` (the digest of its template list) or `"config"`
-- @treturn string|nil the digest, or nil and why not (`"is gone (...)"`, `"is not valid JSON"`)
function _M.file_digest(path, what)
  local f, e = io.open(path, "rb")
  if not f then return nil, "is gone (" .. tostring(e):gsub("^.-: ", "") .. ")" end
  local text = f:read("a")
  f:close()
  local data, je = cjson.decode(text or "")
  if data == nil then return nil, "is no longer valid JSON (" .. tostring(je) .. ")" end
  if what == "templates" then data = template_list(data) end
  return digest_of(data)
end

local WHAT = {
  templates = { noun = "template registry", flag = "--templates", opt = "templates" },
  config = { noun = "configuration", flag = "-c", opt = "config" },
}

--- Check one recorded part of a campaign's setup against its file now.
-- @tparam string campaign campaign id (for the message)
-- @tparam string part `"templates"` or `"config"`
-- @tparam table rec the recorded `{ path =, digest = }`
-- @treturn true, or nil and a `SETUP_CHANGED` error naming the file and what changed
function _M.check(campaign, part, rec)
  local w = WHAT[part]
  local path = rec.path
  local now, why = _M.file_digest(path, part)
  if now == rec.digest then return true end
  if now then
    why = "changed since the campaign started (content digest " .. tostring(rec.digest):sub(1, 12)
      .. "..., now " .. now:sub(1, 12) .. "...)"
  end
  return nil, errors.new{ code = "SETUP_CHANGED", field = part, message = "campaign " .. campaign
    .. " was started with the " .. w.noun .. " " .. path .. ", which " .. why .. "; nothing was "
    .. "sent: restore it, or give it again (" .. w.flag .. " " .. path .. ", or " .. w.opt
    .. " = ... from Lua) to send the rest with what it holds now" }
end

--- Check every recorded part a resume restores (those not given again).
-- @tparam string campaign
-- @tparam[opt] table recorded the journal's `setup`
-- @tparam[opt] table given parts given again (`templates = true`, `config = true`): not checked
-- @treturn true, or nil and a `SETUP_CHANGED` error
function _M.check_all(campaign, recorded, given)
  given = given or {}
  for _, part in ipairs({ "config", "templates" }) do
    local rec = type(recorded) == "table" and recorded[part] or nil
    if type(rec) == "table" and type(rec.path) == "string" and not given[part] then
      local ok, e = _M.check(campaign, part, rec)
      if not ok then return nil, e end
    end
  end
  return true
end

--- The refusal for a resume whose client lacks the registry the campaign was started with
-- (recorded without a path: a registry given to the client as a table) or has another one.
function _M.registry_mismatch(campaign, rec, has)
  local where = type(rec.path) == "string" and (" (" .. rec.path .. ")") or ""
  return errors.new{ code = "SETUP_CHANGED", field = "templates", message = "campaign " .. campaign
    .. " was started with a template registry" .. where .. (has and ", and the client's has other "
    .. "content" or " the client does not have") .. "; nothing was sent: give the client that "
    .. "registry, or give one again (--templates FILE, or templates = ... from Lua) to send the "
    .. "rest with it" }
end

return _M
