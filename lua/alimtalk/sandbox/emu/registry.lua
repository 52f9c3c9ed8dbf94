--- The templates the sandbox has "approved": the registry file given at start
-- (format in docs/architecture.md, "Template registry file"), indexed by each provider's code.
-- Matching is an independent implementation of Kakao's rule: the sent text must equal the
-- approved text exactly, only the `#{var}` slots may differ.
-- @module alimtalk.sandbox.emu.registry
local _M = {}

local templates = {}       -- list, in file order
local by_code = { sens = {}, bizmessage = {}, apiplex = {}, sinch = {} }

-- Split "a #{x} b" into its literal pieces ("a ", " b") and slot names ("x").
local function compile(s)
  if type(s) ~= "string" then return nil end
  local names, lits = {}, {}
  local pos = 1
  while true do
    local a, b, name = s:find("#{([^}]*)}", pos)
    local lit = s:sub(pos, (a or 0) - 1)
    if not a then lit = s:sub(pos) end
    lits[#lits + 1] = lit
    if not a then break end
    names[#names + 1] = name
    pos = b + 1
  end
  return { names = names, text = s, lits = lits }
end

--- Load a registry file (JSON). Raises on a malformed file: the server refuses to start.
-- @tparam string path the file
-- @tparam function decode JSON decoder
function _M.load(path, decode)
  templates = {}
  by_code = { sens = {}, bizmessage = {}, apiplex = {}, sinch = {} }
  if not path then return end
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  local doc = assert(decode(data), "templates file is not JSON: " .. path)
  assert(type(doc.templates) == "table", "templates file has no 'templates' list: " .. path)
  for i, t in ipairs(doc.templates) do
    assert(type(t.name) == "string" and type(t.body) == "string",
      "template " .. i .. " needs name and body")
    local c = {
      name = t.name, type = t.type or "basic", raw = t,
      body = compile(t.body), title = compile(t.title), header = compile(t.header),
      authentication = t.authentication == true,
      buttons = {}, items = {},
    }
    for _, b in ipairs(t.buttons or {}) do
      c.buttons[#c.buttons + 1] = { type = b.type, name = b.name,
        url_mobile = compile(b.url_mobile), url_pc = compile(b.url_pc) }
    end
    if type(t.item_highlight) == "table" then
      c.item_highlight = { title = compile(t.item_highlight.title),
        description = compile(t.item_highlight.description) }
    end
    for _, it in ipairs(t.items or {}) do
      c.items[#c.items + 1] = { title = compile(it.title), description = compile(it.description) }
    end
    if type(t.summary) == "table" then
      c.summary = { title = compile(t.summary.title), description = compile(t.summary.description) }
    end
    templates[#templates + 1] = c
    for provider, code in pairs(t.codes or {}) do
      if by_code[provider] then by_code[provider][code] = c end
    end
  end
end

--- The template a provider knows by this code, or nil.
function _M.find(provider, code)
  local p = by_code[provider]
  return p and p[code]
end

--- Every loaded template.
function _M.all() return templates end

local find = string.find

-- Walk `text` against the compiled template text `c`: it must start with the first literal
-- piece, end with the last and hold the ones between in order, each taken at its leftmost
-- place (a later place only leaves less room for the pieces after it). That placement also
-- gives each slot its shortest value, as an anchored pattern with lazy `(.-)` slots would,
-- without the pattern matcher's backtracking (this runs once per message and per button link,
-- the sandbox's hottest check) or its limit of 32 captures. Fills `caps` when given.
local function walk(c, text, caps)
  local lits = c.lits
  local k = #lits
  if k == 1 then return text == lits[1] end
  local head, tail = lits[1], lits[k]
  if head ~= "" and find(text, head, 1, true) ~= 1 then return false end
  local pos = #head + 1
  for j = 2, k - 1 do
    local piece = lits[j]
    local s = find(text, piece, pos, true)   -- an empty piece is found at pos
    if not s then return false end
    if caps then caps[j - 1] = text:sub(pos, s - 1) end
    pos = s + #piece
  end
  local at = #text - #tail + 1
  if at < pos then return false end
  if tail ~= "" and find(text, tail, at, true) ~= at then return false end
  if caps then caps[k - 1] = text:sub(pos, at - 1) end
  return true
end

--- Does `text` fit the compiled template text `c`? A nil template field matches only nil/"".
function _M.matches(c, text)
  if c == nil then return text == nil or text == "" end
  if type(text) ~= "string" then return false end
  return walk(c, text, nil)
end

--- The values of the `#{var}` slots in `text`, in order, or nil when it does not match.
function _M.captures(c, text)
  if c == nil or type(text) ~= "string" then return nil end
  local caps = {}
  if not walk(c, text, caps) then return nil end
  return caps
end

--- Fill `#{name}` slots from a table; returns the text, or nil and the first missing name.
function _M.render(c, vars)
  if c == nil then return nil end
  local missing
  local out = c.text:gsub("#{([^}]*)}", function(name)
    local v = vars and vars[name]
    if v == nil then missing = missing or name return "" end
    return tostring(v)
  end)
  if missing then return nil, missing end
  return out
end

return _M
