--- Error values returned by alimtalk.
-- Every failure a caller can act on comes back as `nil, err`, where `err` is a table built
-- here: a stable `code`, the `field` at fault (a path into the caller's input), a readable
-- `message`, the provider's own code where one exists and, when several rules failed, the
-- full list in `errors`. `tostring(err)` gives one line fit for a log.
-- @module alimtalk.errors
local _M = {}

local mt = { __name = "alimtalk.error" }

local function describe(e)
  local parts = { e.code or "ERROR" }
  if e.provider_code then parts[#parts + 1] = "(" .. tostring(e.provider_code) .. ")" end
  if e.field then parts[#parts + 1] = e.field .. ":" end
  parts[#parts + 1] = e.message or ""
  return table.concat(parts, " ")
end

mt.__tostring = function(e)
  local s = describe(e)
  if e.errors and #e.errors > 1 then
    s = s .. string.format(" (and %d more: ", #e.errors - 1)
    local rest = {}
    for i = 2, #e.errors do rest[#rest + 1] = describe(e.errors[i]) end
    s = s .. table.concat(rest, "; ") .. ")"
  end
  return s
end

--- Make an error table.
-- @tparam table fields `code` (string, required), `message` (string, required), and
-- optionally `field`, `provider_code`, `limit`, `actual`, `unit`, `errors`, `provider`.
-- @treturn table the error, printable with `tostring`
function _M.new(fields)
  assert(type(fields) == "table", "errors.new expects a table")
  assert(type(fields.code) == "string", "errors.new: code must be a string")
  return setmetatable(fields, mt)
end

--- Combine several violations into one error whose first entry leads.
-- @tparam table list non-empty list of error tables
-- @treturn table an error with `errors` set to the list
function _M.collect(list)
  assert(#list > 0, "errors.collect: empty list")
  local first = list[1]
  local e = {}
  for k, v in pairs(first) do e[k] = v end
  e.errors = list
  return setmetatable(e, mt)
end

--- Whether a value is an alimtalk error table.
function _M.is(v)
  return getmetatable(v) == mt
end

return _M
