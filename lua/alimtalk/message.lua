--- The one message model, shared by every provider.
--
-- A message is a plain table. Every field, in one place:
--
--    {
--      id = "order-1001-shipped",   -- the caller's serial: BizMessage cid (required there),
--                                   -- API PLEX msg_key; SENS has none. Reuse it when resending.
--      to = "010-1234-5678",        -- recipient; any of the forms phone.lua accepts
--      country_code = "82",         -- default "82"
--      from = "02-1234-5678",       -- sender number where the provider takes one per message
--                                   -- (BizMessage sender_no, API PLEX sender_number); optional,
--                                   -- default the configured one (failover.from is the SMS/LMS
--                                   -- sender; BizMessage has one number for both)
--      kind = "alimtalk",           -- "alimtalk" (default) | "friendtalk" | "advertising"
--      template = "order_shipped",  -- registry name, or the provider's template code
--      vars = { name = "홍길동" },   -- variable values (strings or numbers) ...
--      content = nil,               -- ... or the finished text (then checked against the template)
--      title = nil,                 -- highlight title (highlight templates only)
--      header = nil,                -- header (item-list templates only)
--      item_highlight = { title = "", description = "", image = false },  -- item-list only
--      items = { { title = "", description = "" } },                       -- item list, 2..10
--      summary = { title = "", description = "" },                         -- "39,000원"
--      buttons = { { type = "WL", name = "", url_mobile = "", url_pc = "", scheme_ios = "",
--                    scheme_android = "", chat_extra = "", chat_event = "",
--                    oneclick_id = "", product_id = "" } },  -- up to 5
--      quick_replies = { same shape as buttons },
--      failover = { type = "SMS"|"LMS", from = "", subject = "", content = "" } | true | false,
--      reserve_time = "2026-11-21 10:00", reserve_zone = "Asia/Seoul",  -- SENS only
--                                   -- (a TZ database name; other providers: NOT_SUPPORTED)
--      price = 39000, currency = "KRW",
--      authentication = false,      -- Sinch: send as an authentication template
--      echo = nil,                  -- API PLEX echo_to_webhook (up to 256 bytes; ignored elsewhere)
--      tax_cd1 = nil, tax_cd2 = nil, -- BizMessage settlement codes, text(50) (ignored elsewhere)
--      image = false,               -- image AlimTalk (400-character body); set from the template
--      -- FriendTalk through Sinch (generic Conversation API messages):
--      media = { url = "https://.../a.png", wide = false },
--      choices = { { title = "Yes", url = nil, postback = nil } },  -- url: a link choice
--      card = { title = "", description = "", media = { url =, wide = }, choices = { ... } },
--    }
--
-- `normalize` checks the shape (types, unknown fields), resolves the template in a registry,
-- renders whatever the caller left to the template (content, title, header, item list,
-- buttons) and, given a provider, normalizes the recipient number. Sizes and provider rules
-- are checked by `alimtalk.validate`.
-- @module alimtalk.message
local errors = require "alimtalk.errors"
local template = require "alimtalk.template"
local phone = require "alimtalk.phone"
local keys_in = require("alimtalk.core").keys_in

local _M = {}

local type, pairs = type, pairs

-- field -> expected Lua type ("string", "table", "boolean", "number", "scalar" = string|number,
-- "failover" = table|boolean)
local FIELDS = {
  id = "scalar", to = "scalar", country_code = "scalar", from = "string", kind = "string",
  template = "string", vars = "table", content = "string", title = "string", header = "string",
  item_highlight = "table", items = "table", summary = "table", buttons = "table",
  quick_replies = "table", failover = "failover", reserve_time = "string", reserve_zone = "string",
  price = "number", currency = "string", authentication = "boolean", echo = "string",
  image = "boolean", media = "table", choices = "table", card = "table",
  tax_cd1 = "string", tax_cd2 = "string",
}
_M.fields = FIELDS

local BUTTON_FIELDS = { type = true, name = true, url_mobile = true, url_pc = true, scheme_ios = true,
  scheme_android = true, chat_extra = true, chat_event = true, oneclick_id = true, product_id = true }
local BUTTON_LISTS = { "buttons", "quick_replies" }
local PAIRS = { "item_highlight", "summary" }
local KINDS = { alimtalk = true, friendtalk = true, advertising = true }
local FAILOVER_FIELDS = { type = true, from = true, subject = true, content = true }

-- render options for template parts: unknown variables are judged once against the whole entry
local PARTIAL = { allow_unknown = true, field = "vars" }

local NOVARS = {}
-- fields holding tables whose shape is checked
local NESTED = { buttons = true, quick_replies = true, item_highlight = true, summary = true, items = true,
  failover = true }

local OPTS = { registry = true, provider = true, allow_unknown = true, field_prefix = true }

-- OK[want][type(v)]: whether a value of that Lua type fits the field
local OK = {
  string = { string = true }, table = { table = true }, boolean = { boolean = true },
  number = { number = true }, scalar = { string = true, number = true },
  failover = { table = true, boolean = true },
}
local WANT_WORD = { scalar = "string", failover = "table or boolean" }

local function add(list, prefix, code, field, message, pcode)
  list = list or {}
  list[#list + 1] = errors.new{ code = code, field = prefix .. field, message = message,
    provider_code = pcode }
  return list
end

-- Render one template part (`where` names it: "content", "buttons[2].url_mobile"); errors
-- (missing variables) are appended to list. A variable several parts use is reported once,
-- naming the first part that needs it.
-- In lenient mode (values recovered from a finished text) a part that cannot be rendered
-- keeps its template text and no error is reported.
local function fill(tpl, vars, prefix, list, lenient, where, idx, sub)
  if #tpl.names == 0 then return tpl.body, list end
  local fast = tpl.fast
  if fast then
    local s = fast(vars)
    if s then return s, list end
  end
  local s, rerr = template.render(tpl, vars, PARTIAL)
  if s then return s, list end
  if lenient then return tpl.body, list end
  list = list or {}
  for _, e in ipairs(rerr.errors) do
    local field = prefix .. e.field
    local seen = false
    if e.code == "MISSING_VARIABLE" then
      for j = 1, #list do
        local o = list[j]
        if o.code == "MISSING_VARIABLE" and o.field == field then seen = true break end
      end
      if not seen and where then
        -- the part's name is built only here, off the hot path
        if idx then where = where .. "[" .. idx .. "]." .. sub end
        e.message = e.message:gsub(" is used by the template ", " is used by the template's "
          .. where .. " ", 1)
      end
    end
    if not seen then
      e.field = field
      list[#list + 1] = e
    end
  end
  return nil, list
end

-- Shape checks of the nested tables; returns list and whether the shape is broken.
local function check_nested(m, prefix, list)
  local fatal = false
  for _, lname in ipairs(BUTTON_LISTS) do
    local bl = m[lname]
    if bl then
      for i, b in ipairs(bl) do
        local f = lname .. "[" .. i .. "]"
        if type(b) ~= "table" then
          fatal = true
          list = add(list, prefix, "BAD_TYPE", f, "a button must be a table")
        else
          for k, v in pairs(b) do
            if not BUTTON_FIELDS[k] then
              list = add(list, prefix, "UNKNOWN_FIELD", f .. "." .. tostring(k), "unknown button field")
            elseif type(v) ~= "string" then
              fatal = true
              list = add(list, prefix, "BAD_TYPE", f .. "." .. k, k .. " must be a string")
            end
          end
        end
      end
    end
  end
  for _, pname in ipairs(PAIRS) do
    local p = m[pname]
    if p then
      for k, v in pairs(p) do
        if k == "image" then
          if type(v) ~= "boolean" then
            fatal = true
            list = add(list, prefix, "BAD_TYPE", pname .. ".image", "image must be a boolean")
          end
        elseif k ~= "title" and k ~= "description" then
          list = add(list, prefix, "UNKNOWN_FIELD", pname .. "." .. tostring(k), "unknown field")
        elseif type(v) ~= "string" then
          fatal = true
          list = add(list, prefix, "BAD_TYPE", pname .. "." .. k, k .. " must be a string")
        end
      end
    end
  end
  if m.items then
    for i, it in ipairs(m.items) do
      if type(it) ~= "table" or (it.title ~= nil and type(it.title) ~= "string")
        or (it.description ~= nil and type(it.description) ~= "string") then
        fatal = true
        list = add(list, prefix, "BAD_TYPE", "items[" .. i .. "]",
          "an item is { title = string, description = string }")
      end
    end
  end
  if type(m.failover) == "table" then
    for k, v in pairs(m.failover) do
      if not FAILOVER_FIELDS[k] then
        list = add(list, prefix, "UNKNOWN_FIELD", "failover." .. tostring(k), "unknown failover field")
      elseif type(v) ~= "string" then
        fatal = true
        list = add(list, prefix, "BAD_TYPE", "failover." .. k, k .. " must be a string")
      end
    end
  end
  return list, fatal
end

-- Bits of the `rendered` set, one per part a registry entry can fill.
local R_CONTENT, R_TITLE, R_HEADER, R_IH, R_ITEMS, R_SUMMARY, R_BUTTONS = 1, 2, 4, 8, 16, 32, 64
local R_NAMES = { { R_CONTENT, "content" }, { R_TITLE, "title" }, { R_HEADER, "header" },
  { R_IH, "item_highlight" }, { R_ITEMS, "items" }, { R_SUMMARY, "summary" }, { R_BUTTONS, "buttons" } }

-- The `rendered` set for one combination of filled parts: made once per entry and combination
-- and shared by the messages rendered from it (one table fewer per message).
local function rendered_set(entry, mask)
  local sets = entry.rendered_sets
  if not sets then sets = {}; entry.rendered_sets = sets end
  local r = sets[mask]
  if r then return r end
  r = {}
  for i = 1, #R_NAMES do
    local bit, name = R_NAMES[i][1], R_NAMES[i][2]
    if mask % (2 * bit) >= bit then r[name] = true end
  end
  sets[mask] = r
  return r
end

local function quote(str) return (string.format("%q", str):gsub("\r", "\\r")) end

-- Per entry, a generated function that builds the rendered buttons in one go: each button one
-- table constructor with its texts in place (constants inline, a text shared by several
-- parts rendered once, e.g. `url_pc` equal to `url_mobile`). It returns nil when a value is
-- missing or not a string or number, and the general path then reports why. false when the
-- entry has too many buttons or variables for one generated function.
local function compile_buttons(entry)
  local tbuttons = entry.buttons
  if #tbuttons > 10 then return false end
  local head, build = { "local type, tostring = ...\nreturn function(vars)\nlocal t\n" }, {}
  local slot, text, nvars, ntexts = {}, {}, 0, 0
  for i = 1, #tbuttons do
    local b = tbuttons[i]
    local parts = b.parts
    local fields = { "type = " .. quote(b.type) }
    for j = 1, #parts do
      local k = parts[j]
      local t = b[k]
      local expr
      if #t.names == 0 then
        expr = quote(t.body)
      else
        expr = text[t.body]
        -- one `..` operand per slot and literal: past 50 slots the expression gets too deep
        -- for the compiler (C stack / syntax levels), so the general path renders it
        if not expr and #t.names > 50 then return false end
        if not expr then
          local pieces = {}
          for n = 1, #t.names + 1 do
            if t.literals[n] ~= "" then pieces[#pieces + 1] = quote(t.literals[n]) end
            local name = t.names[n]
            if name then
              local v = slot[name]
              if not v then
                nvars = nvars + 1
                if nvars > 50 then return false end
                v = "v" .. nvars
                slot[name] = v
                head[#head + 1] = string.format("local %s = vars[%s]\nt = type(%s)\nif t == 'number' then "
                  .. "%s = tostring(%s) elseif t ~= 'string' then return nil end\n", v, quote(name), v, v, v)
              end
              pieces[#pieces + 1] = v
            end
          end
          ntexts = ntexts + 1
          if ntexts > 50 then return false end
          expr = "s" .. ntexts
          text[t.body] = expr
          head[#head + 1] = string.format("local %s = %s\n", expr, table.concat(pieces, " .. "))
        end
      end
      fields[#fields + 1] = "[" .. quote(k) .. "] = " .. expr
    end
    build[i] = "{ " .. table.concat(fields, ", ") .. " }"
  end
  local src = table.concat(head) .. "return { " .. table.concat(build, ",\n") .. " }\nend\n"
  local chunk = load(src, "=buttons", "t")
  if not chunk then return false end   -- the general path renders what cannot be compiled
  return chunk(type, tostring)
end

-- Fill what the caller left to the registry entry.
local function render_entry(m, entry, allow_unknown, prefix, list)
  local vars = m.vars or NOVARS
  local lenient = false
  if m.vars == nil and m.content ~= nil then
    -- a finished text without vars: recover the values from it to render the other parts
    vars = template.match(entry.body, m.content) or NOVARS
    lenient = true
  end
  local mask = 0
  if entry.type == "image" and m.image == nil then m.image = true end
  if m.content == nil then
    -- the usual case inline: a compiled renderer and every value present
    local body = entry.body
    local fast = body.fast
    local s = fast and fast(vars)
    if s then m.content = s else m.content, list = fill(body, vars, prefix, list, false, "content") end
    mask = R_CONTENT
    -- the entry decides which variables exist (unknown ones are errors unless allowed)
    -- (every name known, the usual case, is one C call; the loop names the unknown ones)
    if not allow_unknown and m.vars and not keys_in(vars, entry.varset) then
      local varset = entry.varset
      for k in pairs(vars) do
        if not varset[k] then
          list = add(list, prefix, "UNKNOWN_VARIABLE", "vars." .. tostring(k), "variable " .. tostring(k)
            .. " is not used by the template")
        end
      end
    end
  end
  if m.title == nil and entry.title then
    m.title, list = fill(entry.title, vars, prefix, list, lenient, "title")
    mask = mask + R_TITLE
  end
  if m.header == nil and entry.header then
    m.header, list = fill(entry.header, vars, prefix, list, lenient, "header")
    mask = mask + R_HEADER
  end
  if m.item_highlight == nil and entry.item_highlight then
    local ih, t, d = entry.item_highlight, nil, nil
    if ih.title then t, list = fill(ih.title, vars, prefix, list, lenient, "item_highlight.title") end
    if ih.description then
      d, list = fill(ih.description, vars, prefix, list, lenient, "item_highlight.description")
    end
    m.item_highlight = { title = t, description = d, image = ih.image }
    mask = mask + R_IH
  end
  if m.items == nil and entry.items then
    m.items = {}
    for i, it in ipairs(entry.items) do
      local t, d
      if it.title then t, list = fill(it.title, vars, prefix, list, lenient, "items", i, "title") end
      if it.description then
        d, list = fill(it.description, vars, prefix, list, lenient, "items", i, "description")
      end
      m.items[i] = { title = t, description = d }
    end
    mask = mask + R_ITEMS
  end
  if m.summary == nil and entry.summary then
    local sm, t, d = entry.summary, nil, nil
    if sm.title then t, list = fill(sm.title, vars, prefix, list, lenient, "summary.title") end
    if sm.description then
      d, list = fill(sm.description, vars, prefix, list, lenient, "summary.description")
    end
    m.summary = { title = t, description = d }
    mask = mask + R_SUMMARY
  end
  local tbuttons = entry.buttons
  if m.buttons == nil and tbuttons then
    local build = entry.build_buttons
    if build == nil then build = compile_buttons(entry); entry.build_buttons = build end
    local out = build and build(vars)
    if not out then
      out = {}
      for i = 1, #tbuttons do
        local b = tbuttons[i]
        local nb = { type = b.type, name = nil, url_mobile = nil, url_pc = nil }
        local parts = b.parts
        for j = 1, #parts do
          local k = parts[j]
          nb[k], list = fill(b[k], vars, prefix, list, lenient, "buttons", i, k)
        end
        out[i] = nb
      end
    end
    m.buttons = out
    mask = mask + R_BUTTONS
  end
  local sets = entry.rendered_sets
  m.rendered = sets and sets[mask] or rendered_set(entry, mask)
  if m.authentication == nil then m.authentication = entry.authentication end
  return list
end

-- The work of normalize: returns the (partial) copy, the error list, and whether the shape
-- is broken (a nested value of the wrong type) so that no further check can run on it.
local function normalize(msg, reg, provider, allow_unknown, pfx)
  local prefix = pfx and pfx .. "." or ""
  local list, fatal

  -- The fields named in the constructor presize the table to the next power of two, 16 slots
  -- for the 13 or so fields a templated message gets (no rehash while filling it); nine names
  -- are enough for that, and each one more would cost an instruction per message.
  local m = { to = nil, template = nil, vars = nil, kind = nil, country_code = nil, content = nil,
    buttons = nil, template_code = nil, template_entry = nil }
  local nested = false
  for k, v in pairs(msg) do
    local want = FIELDS[k]
    if not want then
      list = add(list, prefix, "UNKNOWN_FIELD", tostring(k), "unknown message field " .. tostring(k))
    elseif not OK[want][type(v)] then
      list = add(list, prefix, "BAD_TYPE", k, string.format("%s must be a %s, got %s", k,
        WANT_WORD[want] or want, type(v)))
    else
      m[k] = v
      if NESTED[k] then nested = true end
    end
  end
  if m.to == nil then list = add(list, prefix, "REQUIRED", "to", "the recipient number is required") end
  local kind = m.kind
  if kind == nil then m.kind = "alimtalk"
  elseif not KINDS[kind] then
    list = add(list, prefix, "BAD_VALUE", "kind", "kind must be alimtalk, friendtalk or advertising")
  end
  local cc = m.country_code
  if cc == nil then m.country_code = "82" elseif type(cc) == "number" then m.country_code = tostring(cc) end
  local id = m.id
  if id ~= nil and type(id) == "number" then m.id = tostring(id) end
  if nested then list, fatal = check_nested(m, prefix, list) end
  if m.failover == true then m.failover = {} end

  -- template resolution and rendering
  local entry
  if m.template then
    if reg then
      -- a registry name straight from the registry's index; codes and other registries via get
      local by_name = reg.by_name
      entry = by_name and by_name[m.template] or reg:get(m.template, provider)
      if not entry then
        list = add(list, prefix, "TEMPLATE_NOT_FOUND", "template", "template " .. m.template
          .. " is not in the registry", "3015")
      end
    end
    m.template_code = entry and provider and entry.codes[provider] or m.template
  elseif m.content == nil and m.kind == "alimtalk" then
    list = add(list, prefix, "REQUIRED", "template", "an AlimTalk message needs a template")
  end
  m.template_entry = entry
  if entry then list = render_entry(m, entry, allow_unknown, prefix, list) end
  if m.image == nil then m.image = false end

  if provider and m.to ~= nil then
    cc = m.country_code
    local r, perr = phone.normalize(m.to, provider, cc ~= "82" and { country_code = cc } or nil)
    if r then m.recipient = r
    else
      perr.field = prefix .. "to"
      list = list or {}
      list[#list + 1] = perr
    end
  end
  return m, list, fatal
end

--- Normalize a message, reporting every problem found, including those that do not stop
-- validation from going on (`validate` uses `normalize_all`).
-- @return the (partial) normalized message, the list of errors or nil, and whether the shape
-- is too broken to check further
function _M.normalize_all(msg, opts)
  if type(msg) ~= "table" then error("message.normalize: message must be a table", 2) end
  if opts == nil then return normalize(msg) end
  for k in pairs(opts) do
    if not OPTS[k] then error("message.normalize: unknown option " .. tostring(k), 2) end
  end
  return normalize(msg, opts.registry, opts.provider, opts.allow_unknown, opts.field_prefix)
end

--- `normalize_all` with its options as arguments (for alimtalk.validate's hot path):
-- `normalize_args(msg, registry, provider, allow_unknown, field_prefix)`.
_M.normalize_args = normalize

--- Normalize a message.
-- @tparam table msg the message (see the module description)
-- @tparam[opt] table opts `registry` (an `alimtalk.registry`), `provider` (normalize `to` for
-- it and pick its template code), `allow_unknown` (vars the template does not use are allowed),
-- `field_prefix` (e.g. `"messages[3]"`, prepended to error fields)
-- @treturn table a normalized copy, the caller's table untouched. Added fields:
-- `template_entry` (registry entry or nil), `template_code` (the provider's code, or the
-- `template` string itself when the registry does not know it), `recipient` (the number in the
-- provider's format), `rendered` (set of fields filled from the template: `content`, `title`,
-- `header`, `item_highlight`, `items`, `summary`, `buttons`; one table shared by the messages
-- rendered the same way from an entry: read it, do not change it). Defaults: `kind` "alimtalk",
-- `country_code` "82", `failover` `true` becomes `{}`.
-- @return or nil and an error whose `errors` lists every problem (`BAD_TYPE`, `UNKNOWN_FIELD`,
-- `REQUIRED`, `BAD_VALUE`, `TEMPLATE_NOT_FOUND` (3015), `MISSING_VARIABLE`, `UNKNOWN_VARIABLE`,
-- `BAD_PHONE`)
function _M.normalize(msg, opts)
  if type(msg) ~= "table" then error("message.normalize: message must be a table", 2) end
  local m, list = _M.normalize_all(msg, opts)
  if list then return nil, errors.collect(list) end
  return m
end

return _M
