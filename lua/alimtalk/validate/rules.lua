--- Validation machinery shared by the provider profiles: a context collecting violations, and
-- size checks driven by limit tables measured by the C core in one pass.
--
-- A limit table maps a rule key to a list of specs `{ max =, min =, unit =, code = }`:
--
-- * `unit = "chars"`: Unicode code points (what Kakao counts: "30 characters"); with
--   `text_only = true` line breaks are not counted
-- * `unit = "bytes"`: UTF-8 bytes (the encoding of the JSON body; API PLEX's byte limits)
-- * `unit = "cp949"`: EUC-KR/CP949 bytes (SMS/LMS; reported with unit "bytes")
-- * `unit = "lines"`: explicit lines; `unit = "line_chars"`: characters of the longest line,
--   checked only when the text has more than one line
-- * `unit = "items"`: list length (`count`)
--
-- `code` is the provider's own code for the violation, when there is one.
-- @module alimtalk.validate.rules
local core = require "alimtalk.core"
local errors = require "alimtalk.errors"

local measure_fields = core.measure_fields
local limit_spec, core_within = core.limit_spec, core.within

local _M = {}

local ctx_mt = { __name = "alimtalk.validate.context" }
ctx_mt.__index = ctx_mt

local UNIT_WORD = { chars = "characters", bytes = "UTF-8 bytes", cp949 = "EUC-KR bytes", lines = "lines",
  line_chars = "characters on a line", items = "items" }
local UNIT_OUT = { chars = "chars", bytes = "bytes", cp949 = "bytes", lines = "lines", line_chars = "chars",
  items = "items" }

--- Make a context for one profile (reused across messages: `reset` before each).
function _M.context(profile)
  -- the profile's own specs per rule key, compiled for the C core on first use (false: a key
  -- the core cannot check, such as one with "items" specs); overrides are checked in Lua
  local compiled = setmetatable({}, { __index = function(t, key)
    local specs = profile.limits[key]
    local c = specs and limit_spec(specs) or false
    t[key] = c
    return c
  end })
  return setmetatable({ profile = profile, limits = profile.limits, list = nil, prefix = "",
                        compiled = compiled, own_compiled = compiled }, ctx_mt)
end

local NOT_COMPILED = {}

--- Start a new message: clear violations, set the field prefix and limit overrides.
function ctx_mt:reset(prefix, overrides, opts)
  self.list = nil
  self.prefix = prefix
  self.opts = opts
  if overrides then
    local base = self.profile.limits
    local merged = setmetatable({}, { __index = base })
    for k, v in pairs(overrides) do
      if type(v) == "number" then
        local specs = base[k]
        if not specs then error("validate: no limit named " .. tostring(k) .. " for " .. self.profile.name,
          3) end
        local copy = {}
        for i, sp in ipairs(specs) do
          copy[i] = {}
          for kk, vv in pairs(sp) do copy[i][kk] = vv end
        end
        copy[1].max = v
        merged[k] = copy
      elseif type(v) == "table" then
        merged[k] = v
      else
        error("validate: limits." .. tostring(k) .. " must be a number or a list of specs", 3)
      end
    end
    self.limits = merged
    self.compiled = NOT_COMPILED
  else
    self.limits = self.profile.limits
    self.compiled = self.own_compiled
  end
end

--- Record a violation.
-- @tparam string code our stable code
-- @tparam string field path below the message (the prefix is added)
-- @tparam string message readable text
-- @param[opt] pcode the provider's code
function ctx_mt:add(code, field, message, pcode, limit, actual, unit, extra)
  local list = self.list
  if not list then list = {}; self.list = list end
  local e = errors.new{ code = code, field = self.prefix .. field, message = message, provider_code = pcode,
    limit = limit, actual = actual, unit = unit, provider = self.profile.name }
  if extra then for k, v in pairs(extra) do e[k] = v end end
  list[#list + 1] = e
  return e
end

--- Add an existing error table (e.g. from template.match), prefixing its field.
function ctx_mt:push(e)
  local list = self.list
  if not list then list = {}; self.list = list end
  e.field = self.prefix .. (e.field or "")
  e.provider = self.profile.name
  list[#list + 1] = e
end

local function over(self, field, label, sp, actual)
  local unit = sp.unit
  if sp.max and actual > sp.max then
    self:add("TOO_LONG", field, string.format("%s is %d %s; the limit is %d", label, actual, UNIT_WORD[unit],
      sp.max), sp.code, sp.max, actual, UNIT_OUT[unit], unit == "cp949" and { encoding = "cp949" } or nil)
  elseif sp.min and actual < sp.min then
    self:add("TOO_SHORT", field, string.format("%s is %d %s; the minimum is %d", label, actual,
      UNIT_WORD[unit], sp.min), sp.code, sp.min, actual, UNIT_OUT[unit])
  end
end

-- The amount a spec limits, from one measurement.
local function amount(sp, chars, bytes, cp949, lines, longest)
  local unit = sp.unit
  if unit == "chars" then
    -- "30 characters (2 lines)": the line break itself is not one of the 30
    if sp.text_only then return chars - (lines - 1) end
    return chars
  elseif unit == "bytes" then return bytes
  elseif unit == "cp949" then return cp949
  elseif unit == "lines" then return lines
  elseif unit == "line_chars" then return lines > 1 and longest or 0
  end
  error("validate: bad unit " .. tostring(unit))
end

--- Measure a text and check the specs of a rule key against it.
-- @tparam string field path below the message
-- @tparam string s the text
-- @tparam string key rule key in the profile's limits (missing: only UTF-8 validity is checked)
-- @tparam[opt] string label words for the message (default: the field)
-- @treturn number characters, or nil when the text is not valid UTF-8
function ctx_mt:size(field, s, key, label)
  local valid, bad, chars, bytes, cp949, _, _, lines, longest = measure_fields(s)
  if not valid then
    self:add("BAD_UTF8", field, (label or field) .. " is not valid UTF-8 at byte " .. tostring(bad))
    return nil
  end
  local specs = self.limits[key]
  if specs then
    for i = 1, #specs do
      local sp = specs[i]
      local actual = amount(sp, chars, bytes, cp949, lines, longest)
      local max, min = sp.max, sp.min
      if (max and actual > max) or (min and actual < min) then
        over(self, field, label or field, sp, actual)
      end
    end
  end
  return chars
end

--- Whether a text is valid UTF-8 within every spec of a rule key (nothing recorded): lets a
-- caller build a field path only for a text that `size` will report.
-- @treturn boolean
function ctx_mt:within(s, key)
  local c = self.compiled[key]
  if c then return core_within(c, s) end
  local valid, _, chars, bytes, cp949, _, _, lines, longest = measure_fields(s)
  if not valid then return false end
  local specs = self.limits[key]
  if not specs then return true end
  for i = 1, #specs do
    local sp = specs[i]
    local actual = amount(sp, chars, bytes, cp949, lines, longest)
    if (sp.max and actual > sp.max) or (sp.min and actual < sp.min) then return false end
  end
  return true
end

--- Check a list's length against a rule key (unit "items").
function ctx_mt:count(field, n, key, label)
  local specs = self.limits[key]
  if not specs then return end
  for i = 1, #specs do
    local sp = specs[i]
    if sp.max and n > sp.max then
      self:add("TOO_MANY", field, string.format("%s has %d items; at most %d are allowed", label or field, n,
        sp.max), sp.code, sp.max, n, "items")
    elseif sp.min and n < sp.min then
      self:add("TOO_FEW", field, string.format("%s has %d items; at least %d are required", label or field, n,
        sp.min), sp.code, sp.min, n, "items")
    end
  end
end

--- The limit (max) of a rule key, or nil.
function ctx_mt:limit(key)
  local specs = self.limits[key]
  return specs and specs[1] and specs[1].max
end

--- Number of elements of a list.
function _M.len(t)
  return #t
end

-- Field paths like "buttons[2].name", built once and reused (no string building per message).
local paths = {}

--- The path `base[i].key` (or `base[i]` without key), memoized.
function _M.path(base, i, key)
  local b = paths[base]
  if not b then b = {}; paths[base] = b end
  local bi = b[i]
  if not bi then bi = { [""] = base .. "[" .. i .. "]" }; b[i] = bi end
  key = key or ""
  local p = bi[key]
  if not p then p = bi[""] .. "." .. key; bi[key] = p end
  return p
end

return _M
