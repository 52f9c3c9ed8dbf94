--- AlimTalk templates: parse, list variables, render, and match a finished text.
-- Kakao writes variables as `#{name}`; Alcmeon writes `{{name}}`. A parsed template is
-- precompiled once (literal pieces, slot names, a generated renderer) so rendering a message
-- costs one concatenation.
--
-- Kakao accepts a message only if its text equals the approved template exactly, whitespace
-- and newlines included, with only the variable slots differing (code 3016). `match` checks
-- that before sending and, when it fails, says where: the first differing character position
-- and a snippet of the template and of the text at that point.
-- @module alimtalk.template
local errors = require "alimtalk.errors"

local _M = {}

local type, tostring, concat, find, sub, byte = type, tostring, table.concat, string.find,
  string.sub, string.byte

local tpl_mt = { __name = "alimtalk.template" }
tpl_mt.__index = tpl_mt

local SNIPPET = 24 -- bytes of context on each side of a mismatch, widened to whole characters

-- Number of UTF-8 characters in s[1..n] (counts lead bytes; the text is UTF-8 checked
-- elsewhere by the C core, this only turns a byte offset into a position for a message).
local function char_pos(s, byte_off)
  local n = 0
  for i = 1, byte_off - 1 do
    local b = byte(s, i)
    if b < 0x80 or b >= 0xC0 then n = n + 1 end
  end
  return n + 1
end

-- Cut s[i..j] widened so no UTF-8 sequence is split.
local function snippet(s, i, j)
  if i < 1 then i = 1 end
  if j > #s then j = #s end
  while i > 1 and i <= #s do
    local b = byte(s, i)
    if b < 0x80 or b >= 0xC0 then break end
    i = i - 1
  end
  while j < #s do
    local b = byte(s, j + 1)
    if not b or b < 0x80 or b >= 0xC0 then break end
    j = j + 1
  end
  return sub(s, i, j)
end

-- Quote a snippet for a one-line message.
local function show(s)
  return '"' .. s:gsub("\\", "\\\\"):gsub("\n", "\\n"):gsub('"', '\\"') .. '"'
end

local function detect(body)
  if find(body, "#{", 1, true) then return "kakao" end
  if find(body, "{{", 1, true) then return "alcmeon" end
  return "kakao"
end

-- Generate a renderer for one template: a single `..` expression over its pieces (one VM
-- concat, no buffer), with the names and literal pieces as constants of the generated code
-- (no table lookups to fetch them). It returns nil when a value is missing or not a string or
-- number, and the general path then reports the errors. Templates with very many slots use
-- the general path only (a Lua function has a limited number of registers).
local function compile_render(names, literals)
  local n = #names
  if n == 0 or n > 50 then return nil end
  local q = function(s) return (string.format("%q", s):gsub("\r", "\\r")) end
  local src = { "local type, tostring = ...\nreturn function(vars)\nlocal t\n" }
  for i = 1, n do
    src[#src + 1] = string.format("local v%d = vars[%s]\nt = type(v%d)\n", i, q(names[i]), i)
    src[#src + 1] = string.format("if t == 'number' then v%d = tostring(v%d) elseif t ~= 'string' then "
      .. "return nil end\n", i, i)
  end
  local expr = {}
  for i = 1, n + 1 do
    if literals[i] ~= "" then expr[#expr + 1] = q(literals[i]) end
    if i <= n then expr[#expr + 1] = "v" .. i end
  end
  src[#src + 1] = "return " .. concat(expr, " .. ") .. "\nend\n"
  local chunk = assert(load(concat(src), "=template", "t"))
  return chunk(type, tostring)
end

--- Parse a template body.
-- @tparam string body the template text with `#{name}` (Kakao) or `{{name}}` (Alcmeon) slots
-- @tparam[opt] table opts `syntax` = `"kakao"` | `"alcmeon"` | `"auto"` (default: auto, which
-- picks Kakao when the body contains `#{`, Alcmeon when it contains `{{`)
-- @treturn table the template: `body`, `syntax`, `variables` (ordered unique names),
-- `parts` (literal, name, literal, ..., literal) or nil and an error (`BAD_TEMPLATE`)
function _M.parse(body, opts)
  if type(body) ~= "string" then error("template.parse: body must be a string", 2) end
  local syntax = "auto"
  if opts ~= nil then
    for k in pairs(opts) do
      if k ~= "syntax" then error("template.parse: unknown option " .. tostring(k), 2) end
    end
    syntax = opts.syntax or "auto"
  end
  if syntax == "auto" then syntax = detect(body) end
  local open, close
  if syntax == "kakao" then open, close = "#{", "}"
  elseif syntax == "alcmeon" then open, close = "{{", "}}"
  else error("template.parse: syntax must be kakao, alcmeon or auto", 2) end

  local literals, names, variables, seen = {}, {}, {}, {}
  local pos = 1
  while true do
    local s = find(body, open, pos, true)
    if not s then break end
    local e = find(body, close, s + #open, true)
    if not e then
      return nil, errors.new{ code = "BAD_TEMPLATE", field = "body",
        message = string.format("unclosed variable %q at byte %d", open, s) }
    end
    local name = sub(body, s + #open, e - 1)
    if syntax == "alcmeon" then name = name:match("^%s*(.-)%s*$") end
    if name == "" or find(name, open, 1, true) or find(name, "\n", 1, true) then
      return nil, errors.new{ code = "BAD_TEMPLATE", field = "body",
        message = string.format("bad variable name at byte %d", s) }
    end
    literals[#literals + 1] = sub(body, pos, s - 1)
    names[#names + 1] = name
    if not seen[name] then
      seen[name] = #names
      variables[#variables + 1] = name
    end
    pos = e + #close
  end
  literals[#literals + 1] = sub(body, pos)

  return setmetatable({
    body = body, syntax = syntax, variables = variables, names = names, literals = literals,
    varset = seen, buf = {}, fast = compile_render(names, literals),
  }, tpl_mt)
end

local function as_tpl(t, opts)
  if type(t) == "table" and getmetatable(t) == tpl_mt then return t end
  if type(t) ~= "string" then error("template: expected a template or a string", 3) end
  return _M.parse(t, opts)
end

--- Whether a value is a parsed template.
function _M.is(v) return getmetatable(v) == tpl_mt end

--- Render a template with variable values.
-- @param tpl a parsed template or a body string (parsed on the fly)
-- @tparam table vars values by name (strings or numbers)
-- @tparam[opt] table opts `allow_unknown` (boolean): accept names the template does not use;
-- `field` (string): path prefix used in errors (default `"vars"`)
-- @treturn string the finished text, or nil and an error: `MISSING_VARIABLE` naming the first
-- missing variable (all of them in `err.errors`), `UNKNOWN_VARIABLE`, `BAD_VARIABLE`
function _M.render(tpl, vars, opts)
  local t, perr = as_tpl(tpl)
  if not t then return nil, perr end
  vars = vars or {}
  local allow_unknown, fprefix = false, "vars"
  if opts ~= nil then
    allow_unknown = opts.allow_unknown and true or false
    fprefix = opts.field or "vars"
  end
  local names, literals, buf = t.names, t.literals, t.buf
  local n = #names
  if n == 0 and allow_unknown then return t.body end
  local fast = t.fast
  if fast then
    local s = fast(vars)
    if s then
      if allow_unknown then return s end
      local varset, clean = t.varset, true
      for k in pairs(vars) do
        if not varset[k] then clean = false; break end
      end
      if clean then return s end
    end
  end
  local list, missing
  buf[1] = literals[1]
  for i = 1, n do
    local name = names[i]
    local v = vars[name]
    local tv = type(v)
    if tv == "number" then
      v = tostring(v)
    elseif tv ~= "string" then
      list = list or {}
      if v == nil then
        missing = missing or {}
        if not missing[name] then
          missing[name] = true
          list[#list + 1] = errors.new{ code = "MISSING_VARIABLE", field = fprefix .. "." .. name,
            message = "variable " .. name .. " is used by the template but has no value" }
        end
      else
        list[#list + 1] = errors.new{ code = "BAD_VARIABLE", field = fprefix .. "." .. name,
          message = "variable " .. name .. " must be a string or a number, got " .. tv }
      end
      v = ""
    end
    buf[2 * i] = v
    buf[2 * i + 1] = literals[i + 1]
  end
  if not allow_unknown then
    local varset = t.varset
    for k in pairs(vars) do
      if not varset[k] then
        list = list or {}
        list[#list + 1] = errors.new{ code = "UNKNOWN_VARIABLE", field = fprefix .. "." .. tostring(k),
          message = "variable " .. tostring(k) .. " is not used by the template" }
      end
    end
  end
  if list then
    for i = 1, 2 * n + 1 do buf[i] = nil end
    return nil, errors.collect(list)
  end
  local s = concat(buf, "", 1, 2 * n + 1)
  return s
end

-- How many bytes of `lit` the text holds from `at` on.
local function common_prefix(text, at, lit)
  local k = 0
  while k < #lit and byte(text, at + k) == byte(lit, k + 1) do k = k + 1 end
  return k
end

-- A literal piece that is not in the text after `pos`: where its longest prefix found there
-- stops matching (the text position, the piece, the position in the piece).
local function closest(text, lit, pos)
  local best_at, best_k = pos, 0
  if lit ~= "" then
    local first = sub(lit, 1, 1)
    local s = find(text, first, pos, true)
    while s do
      local k = common_prefix(text, s, lit)
      if k > best_k then best_at, best_k = s, k end
      s = find(text, first, s + 1, true)
    end
  end
  return best_at + best_k, lit, best_k + 1
end

-- Locate the first difference between a template and a text that does not match it: walk
-- literal pieces left to right, letting each slot absorb text up to the next literal piece.
local function first_difference(t, text)
  local literals, n = t.literals, #t.names
  local pos = 1
  for i = 1, n + 1 do
    local lit = literals[i]
    if i == 1 or lit == "" and i <= n then
      -- a literal at a fixed place (the start), or an empty one between two slots
      if sub(text, pos, pos + #lit - 1) ~= lit then
        local k = common_prefix(text, pos, lit)
        return pos + k, lit, k + 1
      end
      pos = pos + #lit
    elseif i == n + 1 then
      -- the last piece must end the text: align it with the end
      local start = #text - #lit + 1
      if start < pos or sub(text, start) ~= lit then return closest(text, lit, pos) end
      return nil
    else
      local s = find(text, lit, pos, true)
      if not s then return closest(text, lit, pos) end
      pos = s + #lit
    end
  end
  if pos <= #text then return pos, "", 1 end
  return nil
end

-- The slot values of a text that fits the template, or nil: each literal piece at its leftmost
-- place after the one before, the last piece at the end of the text. That is enough (a later
-- place only leaves less room for the pieces after it) and gives each slot the shortest value,
-- as the anchored pattern with lazy `(.-)` slots would, without its backtracking or its limit
-- of 32 captures.
local function leftmost_captures(t, text)
  local lits, n = t.literals, #t.names
  if n == 0 then return text == lits[1] and {} or nil end
  local head, tail = lits[1], lits[n + 1]
  if sub(text, 1, #head) ~= head then return nil end
  local caps, pos = {}, #head + 1
  for i = 2, n do
    local piece = lits[i]
    local s = find(text, piece, pos, true)
    if not s then return nil end
    caps[i - 1] = sub(text, pos, s - 1)
    pos = s + #piece
  end
  local at = #text - #tail + 1
  if at < pos or sub(text, at) ~= tail then return nil end
  caps[n] = sub(text, pos, at - 1)
  return caps
end

--- Match a finished text against a template: exact everywhere except the variable slots.
-- @param tpl a parsed template or a body string
-- @tparam string text the finished message text
-- @tparam[opt] table opts `field` (path used in the error, default `"content"`),
-- `provider_code` (default `"3016"`; `"3028"` for titles, `"3027"` for buttons...)
-- @treturn table captured values by variable name, or nil and an error
-- `TEMPLATE_MISMATCH` with `position` (1-based character position in the text), `byte_offset`,
-- `expected` (template snippet from there) and `actual` (text snippet from there)
function _M.match(tpl, text, opts)
  local t, perr = as_tpl(tpl)
  if not t then return nil, perr end
  if type(text) ~= "string" then error("template.match: text must be a string", 2) end
  local field, pcode = "content", "3016"
  if opts then field = opts.field or field; pcode = opts.provider_code or pcode end
  local caps = leftmost_captures(t, text)
  if caps then
    local out, names = {}, t.names
    for i = 1, #names do
      local name, v = names[i], caps[i]
      local prev = out[name]
      if prev ~= nil and prev ~= v then
        local e = errors.new{ code = "TEMPLATE_MISMATCH", field = field, provider_code = pcode,
          message = string.format("variable %s appears twice in the template with different values "
            .. "(%q and %q)", name, prev, v), expected = prev, actual = v, variable = name }
        return nil, e
      end
      out[name] = v
    end
    return out
  end
  local at, lit, lit_i = first_difference(t, text)
  at, lit, lit_i = at or 1, lit or "", lit_i or 1
  -- the difference may start inside a multi-byte character: report from its first byte
  while at > 1 and lit_i > 1 do
    local b = byte(text, at)
    if not b or b < 0x80 or b >= 0xC0 then break end
    at, lit_i = at - 1, lit_i - 1
  end
  local expected = snippet(lit, lit_i, lit_i + SNIPPET - 1)
  local actual = snippet(text, at, at + SNIPPET - 1)
  local position = char_pos(text, at)
  return nil, errors.new{ code = "TEMPLATE_MISMATCH", field = field, provider_code = pcode,
    position = position, byte_offset = at, expected = expected, actual = actual,
    message = string.format("text differs from the template at character %d: expected %s, got %s",
      position, show(expected), show(actual)) }
end

--- Whether the template has no variable slots (its text is fixed).
function tpl_mt:is_fixed() return #self.names == 0 end

return _M
