--- The template registry: what each provider has approved.
-- Entries come from a JSON file, a Lua table, or the SENS template API (`add_sens_templates`).
-- Each entry holds the body, the template type (`basic`, `highlight`, `item_list`, `image`),
-- the optional highlight title, header, item highlight, item list and summary, the buttons,
-- and per-provider template codes. Every text part is parsed once into a template
-- (`alimtalk.template`) so messages render and match without reparsing.
--
-- File format (see docs/architecture.md, "Template registry file"):
--    { "templates": [ { "name": "order_shipped", "type": "basic", "body": "#{name}님 ...",
--      "title": null, "header": null, "buttons": [ { "type": "DS", "name": "배송조회" } ],
--      "codes": { "sens": "ORDER_SHIPPED", "bizmessage": "TPL_0001" },
--      "authentication": false, "language": "ko" } ] }
-- @module alimtalk.registry
local errors = require "alimtalk.errors"
local template = require "alimtalk.template"

local _M = {}

local reg_mt = { __name = "alimtalk.registry" }
reg_mt.__index = reg_mt

local TYPES = { basic = true, highlight = true, item_list = true, image = true }
local BUTTON_TEXT_FIELDS = { "name", "url_mobile", "url_pc", "scheme_ios", "scheme_android",
  "chat_extra", "chat_event" }
local ENTRY_KEYS = { name = true, type = true, body = true, title = true, header = true,
  buttons = true, quick_replies = true, codes = true, authentication = true, language = true,
  item_highlight = true, items = true, summary = true, status = true, display_name = true,
  syntax = true, category = true }

--- Make an empty registry.
-- @treturn table the registry
function _M.new()
  return setmetatable({ entries = {}, by_name = {}, by_code = {} }, reg_mt)
end

local function is_null(v)
  -- cjson decodes JSON null to a lightuserdata sentinel
  return v == nil or type(v) == "userdata"
end

local function bad(field, message)
  return nil, errors.new{ code = "BAD_TEMPLATE", field = field, message = message }
end

local function parse_text(v, field, syntax)
  if type(v) ~= "string" then return nil, field .. " must be a string" end
  local t, err = template.parse(v, { syntax = syntax })
  if not t then return nil, field .. ": " .. err.message end
  return t
end


-- Build a registry entry from a plain description, parsing every text part.
local function compile(src, where)
  if type(src) ~= "table" then return bad(where, "template entry must be a table") end
  for k in pairs(src) do
    if not ENTRY_KEYS[k] then return bad(where .. "." .. tostring(k), "unknown template field") end
  end
  if type(src.name) ~= "string" or src.name == "" then
    return bad(where .. ".name", "name is required")
  end
  if type(src.body) ~= "string" then return bad(where .. ".body", "body is required") end
  local ttype = is_null(src.type) and "basic" or src.type
  if not TYPES[ttype] then
    return bad(where .. ".type", "type must be basic, highlight, item_list or image")
  end
  local syntax = is_null(src.syntax) and "auto" or src.syntax
  local e = { name = src.name, type = ttype, codes = {}, authentication = src.authentication == true,
    language = not is_null(src.language) and src.language or nil, status = src.status,
    display_name = src.display_name, category = src.category, source = src }
  local msg
  e.body, msg = parse_text(src.body, "body", syntax)
  if not e.body then return bad(where .. ".body", msg) end
  for _, k in ipairs({ "title", "header" }) do
    if not is_null(src[k]) then
      e[k], msg = parse_text(src[k], k, syntax)
      if not e[k] then return bad(where .. "." .. k, msg) end
    end
  end
  local function pair(t, f)
    if is_null(t) then return nil end
    if type(t) ~= "table" then return nil, f .. " must be an object" end
    local out = {}
    for _, k in ipairs({ "title", "description" }) do
      if not is_null(t[k]) then
        local p, m = parse_text(t[k], f .. "." .. k, syntax)
        if not p then return nil, m end
        out[k] = p
      end
    end
    out.image = t.image == true or (type(t.image_url) == "string" and t.image_url ~= "")
    return out
  end
  if not is_null(src.item_highlight) then
    e.item_highlight, msg = pair(src.item_highlight, "item_highlight")
    if not e.item_highlight then return bad(where .. ".item_highlight", msg) end
  end
  if not is_null(src.summary) then
    e.summary, msg = pair(src.summary, "summary")
    if not e.summary then return bad(where .. ".summary", msg) end
  end
  if not is_null(src.items) then
    if type(src.items) ~= "table" then return bad(where .. ".items", "items must be a list") end
    e.items = {}
    for i, it in ipairs(src.items) do
      local p, m = pair(it, "items[" .. i .. "]")
      if not p then return bad(where .. ".items[" .. i .. "]", m) end
      e.items[i] = p
    end
  end
  for _, list in ipairs({ "buttons", "quick_replies" }) do
    if not is_null(src[list]) then
      if type(src[list]) ~= "table" then return bad(where .. "." .. list, list .. " must be a list") end
      local out = {}
      for i, b in ipairs(src[list]) do
        local f = where .. "." .. list .. "[" .. i .. "]"
        if type(b) ~= "table" or type(b.type) ~= "string" or type(b.name) ~= "string" then
          return bad(f, "a button needs a type and a name")
        end
        -- `parts` lists the present text fields once, so rendering skips the absent ones
        local cb = { type = b.type, parts = {} }
        for _, k in ipairs(BUTTON_TEXT_FIELDS) do
          if not is_null(b[k]) and b[k] ~= "" then
            local p, m = parse_text(b[k], k, syntax)
            if not p then return bad(f .. "." .. k, m) end
            cb[k] = p
            cb.parts[#cb.parts + 1] = k
          end
        end
        out[i] = cb
      end
      e[list] = out
    end
  end
  if not is_null(src.codes) then
    if type(src.codes) ~= "table" then return bad(where .. ".codes", "codes must be an object") end
    for p, c in pairs(src.codes) do
      if type(c) ~= "string" or c == "" then
        return bad(where .. ".codes." .. tostring(p), "a template code must be a non-empty string")
      end
      e.codes[p] = c
    end
  end
  -- every variable the entry uses anywhere, in order of first appearance
  local vars, seen = {}, {}
  local function collect(t)
    if not t then return end
    for _, v in ipairs(t.variables) do
      if not seen[v] then seen[v] = true; vars[#vars + 1] = v end
    end
  end
  collect(e.body); collect(e.title); collect(e.header)
  if e.item_highlight then collect(e.item_highlight.title); collect(e.item_highlight.description) end
  for _, it in ipairs(e.items or {}) do collect(it.title); collect(it.description) end
  if e.summary then collect(e.summary.title); collect(e.summary.description) end
  for _, b in ipairs(e.buttons or {}) do
    for _, k in ipairs(BUTTON_TEXT_FIELDS) do collect(b[k]) end
  end
  e.variables, e.varset = vars, seen
  return e
end

--- Add one template entry (or replace the entry of the same name).
-- @tparam table src an entry in the file format (name, type, body, title, header, buttons,
-- quick_replies, item_highlight, items, summary, codes, authentication, language)
-- @treturn table the compiled entry, or nil and an error (`BAD_TEMPLATE`)
function reg_mt:add(src, where)
  local e, err = compile(src, where or "templates[" .. (#self.entries + 1) .. "]")
  if not e then return nil, err end
  local old = self.by_name[e.name]
  if old then
    for i, x in ipairs(self.entries) do if x == old then self.entries[i] = e end end
    for p, c in pairs(old.codes) do
      if self.by_code[p] and self.by_code[p][c] == old then self.by_code[p][c] = nil end
    end
  else
    self.entries[#self.entries + 1] = e
  end
  self.by_name[e.name] = e
  for p, c in pairs(e.codes) do
    self.by_code[p] = self.by_code[p] or {}
    self.by_code[p][c] = e
  end
  return e
end

--- Find an entry by registry name or by a provider's template code.
-- @tparam string key a registry name or a template code
-- @tparam[opt] string provider when given, codes are looked up for that provider only
-- @treturn table the entry or nil
function reg_mt:get(key, provider)
  if type(key) ~= "string" then return nil end
  local e = self.by_name[key]
  if e then return e end
  if provider then
    local t = self.by_code[provider]
    return t and t[key] or nil
  end
  for _, t in pairs(self.by_code) do
    if t[key] then return t[key] end
  end
  return nil
end

--- The template code to send to a provider for an entry.
-- @tparam table entry a registry entry (or a name)
-- @tparam string provider `sens`, `bizmessage`, `apiplex`, `sinch`, `alcmeon`
-- @treturn string the code, or nil and an error `NO_TEMPLATE_CODE`
function reg_mt:code_for(entry, provider)
  if type(entry) == "string" then entry = self:get(entry, provider) end
  if not entry then
    return nil, errors.new{ code = "TEMPLATE_NOT_FOUND", field = "template",
      message = "template not in the registry", provider_code = "3015" }
  end
  local c = entry.codes[provider]
  if c then return c end
  return nil, errors.new{ code = "NO_TEMPLATE_CODE", field = "template",
    message = string.format("template %s has no code for provider %s", entry.name, tostring(provider)) }
end

--- All entries, in insertion order.
function reg_mt:list() return self.entries end

-- SENS emphasizeType -> registry type (seed 001, template API).
local SENS_TYPES = { NONE = "basic", TEXT = "highlight", IMAGE = "image", ITEM_LIST = "item_list" }

local function str(v) if type(v) == "string" and v ~= "" then return v end end

--- Add (or refresh) templates from a SENS "Get template" response.
-- Accepts the decoded JSON: a list of template objects, or a table whose `templates` (or
-- `content`) field is that list. Fields read (seed 001): templateCode, templateName, content,
-- emphasizeType (NONE/TEXT/IMAGE/ITEM_LIST), title, headerContent, itemHighlight
-- {title, description, imageUrl}, item {list[{title, description}], summary}, buttons
-- [{order, type, name, linkMobile, linkPc, schemeIos, schemeAndroid}], templateStatus,
-- templateInspectionStatus. An entry that already has this SENS code is updated in place
-- (keeping its name and other providers' codes); otherwise the entry is named after the code.
-- @tparam table list the templates
-- @treturn number how many were added or updated, or nil and an error
function reg_mt:add_sens_templates(list)
  if type(list) ~= "table" then error("add_sens_templates: expected a table", 2) end
  -- (a provider's answer: any field may hold any JSON value)
  if type(list.templates) == "table" then list = list.templates
  elseif type(list.content) == "table" then list = list.content end
  if list.templateCode ~= nil then list = { list } end
  local n = 0
  for i, t in ipairs(list) do
    local code = type(t) == "table" and str(t.templateCode)
    if not code or type(t.content) ~= "string" then
      return nil, errors.new{ code = "BAD_TEMPLATE", field = "templates[" .. i .. "]",
        message = "SENS template needs templateCode and content" }
    end
    local existing = self.by_code.sens and self.by_code.sens[code]
    local codes = {}
    if existing then for p, c in pairs(existing.codes) do codes[p] = c end end
    codes.sens = code
    local src = {
      name = existing and existing.name or code,
      display_name = str(t.templateName),
      type = SENS_TYPES[t.emphasizeType] or "basic",
      body = t.content,
      title = str(t.title),
      header = str(t.headerContent),
      codes = codes,
      status = str(t.templateStatus) or str(t.templateInspectionStatus),
      syntax = "kakao",
      authentication = existing and existing.authentication or nil,
      language = existing and existing.language or nil,
    }
    if type(t.itemHighlight) == "table" then
      src.item_highlight = { title = str(t.itemHighlight.title),
        description = str(t.itemHighlight.description),
        image = str(t.itemHighlight.imageUrl) ~= nil }
    end
    if type(t.item) == "table" then
      if type(t.item.list) == "table" then
        src.items = {}
        for _, it in ipairs(t.item.list) do
          if type(it) == "table" then
            src.items[#src.items + 1] = { title = str(it.title), description = str(it.description) }
          end
        end
      end
      if type(t.item.summary) == "table" then
        src.summary = { title = str(t.item.summary.title), description = str(t.item.summary.description) }
      end
    end
    if type(t.buttons) == "table" then
      local bs = {}
      for _, b in ipairs(t.buttons) do if type(b) == "table" then bs[#bs + 1] = b end end
      table.sort(bs, function(a, b) return (tonumber(a.order) or 0) < (tonumber(b.order) or 0) end)
      src.buttons = {}
      for j, b in ipairs(bs) do
        src.buttons[j] = { type = b.type, name = b.name, url_mobile = str(b.linkMobile),
          url_pc = str(b.linkPc), scheme_ios = str(b.schemeIos), scheme_android = str(b.schemeAndroid) }
      end
    end
    local _, err = self:add(src, "templates[" .. i .. "]")
    if err then return nil, err end
    n = n + 1
  end
  return n
end

--- Load a registry from a JSON file path or a Lua table (`{ templates = { ... } }` or a list).
-- @param source path string or table
-- @treturn table the registry, or nil and an error (`BAD_TEMPLATE`, `IO`, `BAD_JSON`)
function _M.load(source)
  local data = source
  if type(source) == "string" then
    local f, ferr = io.open(source, "rb")
    if not f then return nil, errors.new{ code = "IO", message = "cannot open registry: " .. ferr } end
    local text = f:read("*a")
    f:close()
    local cjson = require "cjson.safe"
    local d, jerr = cjson.decode(text)
    if not d then
      return nil, errors.new{ code = "BAD_JSON", message = "registry file is not JSON: " .. tostring(jerr) }
    end
    data = d
  elseif type(source) ~= "table" then
    error("registry.load: expected a path or a table", 2)
  end
  local list = data.templates or data
  if type(list) ~= "table" then
    return nil, errors.new{ code = "BAD_TEMPLATE", field = "templates", message = "templates must be a list" }
  end
  local reg = _M.new()
  for i, src in ipairs(list) do
    local _, err = reg:add(src, "templates[" .. i .. "]")
    if err then return nil, err end
  end
  return reg
end

--- Whether a value is a registry.
function _M.is(v) return getmetatable(v) == reg_mt end

return _M
