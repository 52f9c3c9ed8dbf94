--- Kakao's own AlimTalk rules, shared by the profiles of the providers that pass messages to
-- Kakao field by field (SENS, BizMessage, API PLEX): template match (3016, 3027, 3028, 3031,
-- 3033, 3036, 3038), fields allowed only with some template types (3030...), lengths (3014,
-- 3029, 3032, 3034, 3035, 3037, 3039), the item summary's characters (3040), buttons and their
-- required links, DS couriers, SMS/LMS failover sizing, reservations and send windows.
-- Each profile supplies its limits (units and provider codes), button types and codes.
-- @module alimtalk.validate.kakao
local template = require "alimtalk.template"
local courier = require "alimtalk.courier"
local sms = require "alimtalk.sms"
local phone = require "alimtalk.phone"
local sendwindow = require "alimtalk.sendwindow"
local rules = require "alimtalk.validate.rules"
local iso4217 = require "alimtalk.iso4217"
local within_values = require("alimtalk.core").within_values

local _M = {}

local len = rules.len
local path = rules.path
local NONE = {}
local URL_FIELDS = { "url_mobile", "url_pc" }
local COMPARED = { "name", "url_mobile", "url_pc", "scheme_ios", "scheme_android" }
local SINCH_ONLY = { "media", "choices", "card" }
local KEYS = {
  button = { name = "button_name", chat_extra = "chat_extra", chat_event = "chat_event",
    count = "buttons", label = "button name" },
  ["quick reply"] = { name = "qr_button_name", chat_extra = "qr_chat_extra", chat_event = "qr_chat_event",
    count = "quick_replies", label = "quick reply name" },
}

--- Kakao's character limits (seed 001 result codes 3014-3039 and field tables; seed 003 text(n)).
-- Profiles copy this table and add or replace entries.
function _M.base_limits()
  return {
    content = { { max = 1000, unit = "chars", code = "3014" } },
    content_image = { { max = 400, unit = "chars", code = "3014" } },
    title = { { max = 50, unit = "chars", code = "3029" } },
    header = { { max = 16, unit = "chars", code = "3032" } },
    -- up to 30 characters on at most 2 lines of 15 (21 on 2 lines of 10 with an image)
    ih_title = { { max = 30, unit = "chars", code = "3034", text_only = true }, { max = 2, unit = "lines",
      code = "3034" },
      { max = 15, unit = "line_chars", code = "3034" } },
    ih_title_image = { { max = 21, unit = "chars", code = "3034", text_only = true }, { max = 2,
      unit = "lines", code = "3034" },
      { max = 10, unit = "line_chars", code = "3034" } },
    ih_description = { { max = 19, unit = "chars", code = "3035" } },
    ih_description_image = { { max = 13, unit = "chars", code = "3035" } },
    item_title = { { max = 6, unit = "chars" } },
    item_description = { { max = 23, unit = "chars", code = "3037" } },
    items = { { min = 2, max = 10, unit = "items" } },
    summary_title = { { max = 6, unit = "chars" } },
    summary_description = { { max = 14, unit = "chars", code = "3039" } },
    buttons = { { max = 5, unit = "items" } },
    chat_extra = { { max = 50, unit = "chars", code = "3026" } },
    chat_event = { { max = 50, unit = "chars", code = "3026" } },
  }
end

-- Unicode currency symbols (category Sc) plus 元, 円 and 원 (seed 001/003: currency symbols,
-- yuan, yen, won).
local CURRENCY_CP = { [0x24] = true, [0xA2] = true, [0xA3] = true, [0xA4] = true, [0xA5] = true,
  [0x58F] = true, [0x60B] = true, [0x7FE] = true, [0x7FF] = true, [0x9F2] = true, [0x9F3] = true,
  [0x9FB] = true, [0xAF1] = true, [0xBF9] = true, [0xE3F] = true, [0x17DB] = true, [0xA838] = true,
  [0xFDFC] = true, [0xFE69] = true, [0xFF04] = true, [0xFFE0] = true, [0xFFE1] = true, [0xFFE5] = true,
  [0xFFE6] = true, [0x5143] = true, [0x5186] = true, [0xC6D0] = true }

--- Whether an item summary description uses only the allowed characters: currency symbols,
-- ISO 4217 codes (the active ones, alimtalk.iso4217), digits, commas, decimal points, spaces;
-- at most two decimals.
-- @treturn boolean ok, and a reason when not
local ISO4217 = iso4217.codes

function _M.summary_ok(s)
  local i, n = 1, #s
  local byte = string.byte
  while i <= n do
    local b = byte(s, i)
    if b < 0x80 then
      if b >= 0x41 and b <= 0x5A then
        local code = s:match("^%u+", i)
        if #code ~= 3 then return false, "letters other than a three-letter currency code" end
        if not ISO4217[code] then return false, code .. " is not an ISO 4217 currency code" end
        i = i + 3
      elseif (b >= 0x30 and b <= 0x39) or b == 0x2C or b == 0x20 then
        i = i + 1
      elseif b == 0x2E then
        local frac = s:match("^%d*", i + 1)
        if #frac > 2 then return false, "more than two decimal places" end
        if #frac > 0 and s:match("^%d*%.", i + 1 + #frac) then
          return false, "a number with two decimal points"
        end
        i = i + 1
      elseif b == 0x24 then
        i = i + 1
      else
        return false, string.format("character %q is not allowed", string.char(b))
      end
    else
      local cp, w
      if b >= 0xF0 then cp, w = b % 8, 4 elseif b >= 0xE0 then cp, w = b % 16, 3 else cp, w = b % 32, 2 end
      for k = 1, w - 1 do cp = cp * 64 + (byte(s, i + k) or 0) % 64 end
      if not (CURRENCY_CP[cp] or (cp >= 0x20A0 and cp <= 0x20C0)) then
        return false, string.format("character %q is not allowed", s:sub(i, i + w - 1))
      end
      i = i + w
    end
  end
  return true
end

local function match(ctx, tpl, text, field, pcode)
  local _, err = template.match(tpl, text, { field = field, provider_code = pcode })
  if err then ctx:push(err) end
end

-- A title/description pair given by the caller against the template's (item highlight, each
-- item, summary): each part present on both sides must match.
local function match_pair(ctx, tpl, given, title_field, description_field, pcode)
  if tpl.title and given.title then match(ctx, tpl.title, given.title, title_field, pcode) end
  if tpl.description and given.description then
    match(ctx, tpl.description, given.description, description_field, pcode)
  end
end

local function http_url(s)
  return s:match("^[Hh][Tt][Tt][Pp][Ss]?://.") ~= nil
end

-- Check a list of buttons or quick replies against the profile's types.
local function check_buttons(ctx, list, base, types, kind)
  local P = ctx.profile
  local n = #list
  local keys = KEYS[kind]
  ctx:count(base, n, keys.count, base)
  for i = 1, n do
    local b = list[i]
    local spec = b.type and types[b.type]
    if b.type == nil or b.type == "" then
      ctx:add("REQUIRED", path(base, i, "type"), "a " .. kind .. " needs a type", P.codes.required)
    elseif not spec then
      local names = {}
      for k in pairs(types) do names[#names + 1] = k end
      table.sort(names)
      ctx:add("BAD_VALUE", path(base, i, "type"), string.format("%s type %s is not supported by %s "
        .. "(supported: %s)", kind, b.type, P.name, table.concat(names, ", ")), P.codes.bad_param)
    end
    if b.name == nil or b.name == "" then
      ctx:add("REQUIRED", path(base, i, "name"), "a " .. kind .. " needs a name", P.codes.required)
    else
      ctx:size(path(base, i, "name"), b.name, keys.name, keys.label)
    end
    if spec then
      local all = spec.all
      if all then
        for j = 1, #all do
          local k = all[j]
          if b[k] == nil or b[k] == "" then
            ctx:add("REQUIRED", path(base, i, k), string.format("%s %s needs %s", b.type, kind, k),
              P.codes.required)
          end
        end
      end
      if spec.any then
        local found = false
        for _, k in ipairs(spec.any) do if b[k] and b[k] ~= "" then found = true end end
        if not found then
          ctx:add("REQUIRED", path(base, i, spec.any[1]), string.format("%s %s needs one of %s", b.type, kind,
            table.concat(spec.any, ", ")), P.codes.required)
        end
      end
      if spec.names then
        local ok = false
        for _, nm in ipairs(spec.names) do if b.name == nm then ok = true end end
        if not ok and b.name then
          local msg = string.format("the %s %s name is fixed: %q", b.type, kind, spec.names[1])
          ctx:add("BAD_VALUE", path(base, i, "name"), msg, "3027")
        end
      end
    end
    for j = 1, 2 do
      local k = URL_FIELDS[j]
      local u = b[k]
      if u and u ~= "" and not http_url(u) then
        ctx:add("BAD_FORMAT", path(base, i, k), k .. " must start with http:// or https://",
          P.codes.bad_param)
      end
    end
    if b.chat_extra then
      ctx:size(path(base, i, "chat_extra"), b.chat_extra, keys.chat_extra, "chat_extra")
    end
    if b.chat_event then
      ctx:size(path(base, i, "chat_event"), b.chat_event, keys.chat_event, "chat_event")
      if kind == "button" and P.kakao_event_pattern and not b.chat_event:match("^[%w_]+$") then
        ctx:add("BAD_FORMAT", path(base, i, "chat_event"), "chat_event must match [A-Za-z0-9_]{1,50}", "3026")
      end
    end
  end
end
_M.check_buttons = check_buttons

-- Whether the checks of a template's buttons cannot depend on the variables: every text is
-- fixed, except links whose fixed start already holds the http(s):// scheme (no profile limits
-- a link's length).
local function static_buttons(e)
  for _, b in ipairs(e.buttons) do
    for _, k in ipairs(b.parts) do
      local t = b[k]
      if #t.names > 0 then
        if not (k == "url_mobile" or k == "url_pc") or not http_url(t.literals[1]) then return false end
      end
    end
  end
  return true
end

-- Buttons rendered from a registry entry: checked once per entry and provider when the result
-- cannot depend on the variables, then replayed (usually: nothing to report).
local function cached_buttons(ctx, e, buttons)
  local P = ctx.profile
  local cache = e.button_checks
  if not cache then cache = {}; e.button_checks = cache end
  local c = cache[P.name]
  if c == nil then
    if static_buttons(e) then
      -- check the template's own buttons (links with their slots unfilled: the fixed start
      -- holds the scheme), so the cached verdict never depends on one message's variables
      local probe = {}
      for i, b in ipairs(e.buttons) do
        local pb = { type = b.type }
        for _, k in ipairs(b.parts) do pb[k] = b[k].body end
        probe[i] = pb
      end
      local saved_list, saved_prefix = ctx.list, ctx.prefix
      ctx.list, ctx.prefix = nil, ""
      check_buttons(ctx, probe, "buttons", P.button_types, "button")
      c = ctx.list or false
      ctx.list, ctx.prefix = saved_list, saved_prefix
    else
      c = "dynamic"
    end
    cache[P.name] = c
  end
  if c == "dynamic" then
    check_buttons(ctx, buttons, "buttons", P.button_types, "button")
  elseif c then
    for _, err in ipairs(c) do
      local copy = {}
      for k, v in pairs(err) do copy[k] = v end
      ctx:push(setmetatable(copy, getmetatable(err)))
    end
  end
end

-- Buttons must be the template's, in order, with the same type and name and links matching
-- the template's links (which may hold variables).
local function compare_buttons(ctx, list, tbuttons)
  local n, tn = len(list), len(tbuttons)
  if n ~= tn then
    ctx:add("TEMPLATE_MISMATCH", "buttons", string.format("the template has %d button(s), the message %d",
      tn, n), "3027", tn, n, "items")
    return
  end
  for i = 1, n do
    local b, t = list[i], tbuttons[i]
    if b.type ~= t.type then
      ctx:add("TEMPLATE_MISMATCH", path("buttons", i, "type"),
        string.format("button type %s differs from the template's %s",
        tostring(b.type), t.type), "3027", nil, nil, nil, { expected = t.type, actual = b.type })
    end
    for _, k in ipairs(COMPARED) do
      local tv, bv = t[k], b[k]
      if tv and bv then
        match(ctx, tv, bv, path("buttons", i, k), "3027")
      elseif tv and not bv and k ~= "name" then
        ctx:add("TEMPLATE_MISMATCH", path("buttons", i, k), "the template's button has " .. k
          .. ", the message's not",
          "3027")
      elseif bv and bv ~= "" and not tv then
        ctx:add("TEMPLATE_MISMATCH", path("buttons", i, k), "the template's button has no " .. k, "3027")
      end
    end
  end
end

local function only_item_list(ctx, e, field, code, what)
  if e and e.type ~= "item_list" then
    ctx:add("NOT_ALLOWED", field, what .. " is only allowed with an item list template", code)
    return false
  end
  return true
end

-- "<field>.title" and "<field>.description", made once per field name (no string building per
-- message)
local SUBFIELDS = setmetatable({}, { __index = function(t, field)
  local v = { field .. ".title", field .. ".description" }
  t[field] = v
  return v
end })

local function pair(ctx, p, field, tkey, dkey, required_code)
  local sub = SUBFIELDS[field]
  if p.title == nil or p.title == "" then
    ctx:add("REQUIRED", sub[1], field .. " needs a title", required_code)
  else
    ctx:size(sub[1], p.title, tkey, sub[1])
  end
  if p.description == nil or p.description == "" then
    ctx:add("REQUIRED", sub[2], field .. " needs a description", required_code)
  else
    ctx:size(sub[2], p.description, dkey, sub[2])
  end
end

--- SMS/LMS failover checks (sizes in CP949 bytes, sender number).
function _M.check_failover(ctx, m)
  local fo = m.failover
  if fo == nil or type(fo) ~= "table" then return end
  local P = ctx.profile
  if fo.content == "" then
    ctx:add("REQUIRED", "failover.content", "failover content is empty", P.codes.failover_content)
  end
  if fo.type == "LMS" and fo.subject == "" then
    ctx:add("REQUIRED", "failover.subject", "LMS failover subject is empty", P.codes.failover_subject)
  end
  local text = fo.content
  if text == nil or text == "" then text = m.content end
  if type(text) == "string" then
    local _, err = sms.plan(text, { type = fo.type, subject = fo.subject, provider = P.name,
      field = "failover" })
    if err then
      for _, e in ipairs(err.errors) do
        if e.code == "BAD_VALUE" then e.provider_code = P.codes.failover_type end
        ctx:push(e)
      end
    end
    if fo.content then ctx:size("failover.content", fo.content, "failover_content", "failover content") end
  end
  if fo.subject and fo.subject ~= "" then
    ctx:size("failover.subject", fo.subject, "failover_subject", "failover subject")
  end
  if fo.from then
    local d, err = phone.sender(fo.from, "failover.from")
    if not d then
      err.provider_code = P.codes.bad_sender
      ctx:push(err)
    else
      ctx:size("failover.from", d, "from", "sender number")
    end
  end
end

--- Reservation format and the send window (checked at the reservation time when there is one).
-- Providers whose profile has no `reservations` flag cannot send a reservation: NOT_SUPPORTED.
-- A zone must be a TZ database name; for zones without a fixed offset in
-- `sendwindow.offsets` the reservation cannot be placed on the clock, so neither the
-- past-time nor the send-window check runs for it.
function _M.check_timing(ctx, m, window_provider)
  -- no reservation and a kind without a window (AlimTalk): nothing to check
  if m.reserve_time == nil and m.reserve_zone == nil and not sendwindow.kinds[m.kind] then return end
  local opts = ctx.opts or NONE
  local P = ctx.profile
  local at
  local skip_window = false
  if (m.reserve_time ~= nil or m.reserve_zone ~= nil) and not P.reservations then
    local f = m.reserve_time ~= nil and "reserve_time" or "reserve_zone"
    ctx:add("NOT_SUPPORTED", f, P.name .. " does not take reservations (reserve_time): send the "
      .. "message at the time it should go out", P.codes.bad_param)
  else
    local zone = m.reserve_zone
    local zone_ok = true
    if zone ~= nil and not sendwindow.zone_known(zone) then
      zone_ok = false
      ctx:add("BAD_VALUE", "reserve_zone", "reserve_zone must be a TZ database name like Asia/Seoul, got "
        .. string.format("%q", zone), P.codes.bad_param)
    end
    if m.reserve_time ~= nil then
      local wall, why = sendwindow.parse_wallclock(m.reserve_time)
      if not wall then
        if why == "format" then
          ctx:add("BAD_FORMAT", "reserve_time", "reserve_time must be yyyy-MM-dd HH:mm", P.codes.bad_param)
        else
          ctx:add("BAD_VALUE", "reserve_time", "reserve_time " .. m.reserve_time .. " is not a real date "
            .. "and time", P.codes.bad_param)
        end
        skip_window = true
      elseif zone_ok then
        local off = sendwindow.offsets[zone or "Asia/Seoul"]
        if off then
          at = wall - off
          if opts.now and at < opts.now then
            ctx:add("BAD_VALUE", "reserve_time", "reserve_time is in the past", P.codes.bad_param)
          end
        else
          skip_window = true   -- a real zone with no fixed offset here: cannot be placed
        end
      else
        skip_window = true
      end
    end
  end
  if sendwindow.kinds[m.kind] and not skip_window then
    local _, err = sendwindow.check(m.kind, window_provider or P.name, at or opts.now or os.time(),
      { window = opts.window, field = "kind" })
    if err then ctx:push(err) end
  end
end

-- The courier and invoice Kakao needs to show a DS button. For a text rendered from a
-- registry template, the courier named in the template's fixed text is found once per entry
-- and cached, and only the variable values are searched for the invoice; a text given by the
-- caller is scanned whole.
local function check_ds(ctx, m, e, rendered, content, i)
  local name, invoice
  if e and rendered.content and m.vars then
    local c = e.courier
    if c == nil then
      local found = courier.scan(table.concat(e.body.literals, "\n"))
      c = found and courier.find(found) or false
      e.courier = c
    end
    local vars = m.vars
    if not c then
      -- Kakao reads the first courier name in the text: the first variable, in the order the
      -- template uses them, whose value names one (never a remembered one: the verdict must
      -- not depend on the messages checked before)
      local names = e.body.variables
      for j = 1, #names do
        c = courier.find(vars[names[j]])
        if c then break end
      end
    end
    if c then
      name = c.names[1]
      -- the variable that held the invoice last time is tried first
      local last = e.courier_var
      local v = last and vars[last]
      if v ~= nil then
        if type(v) ~= "string" then v = tostring(v) end
        invoice = courier.invoice_in(c, v)
      end
      if not invoice then
        for k, val in pairs(vars) do
          if type(val) == "string" or type(val) == "number" then
            invoice = courier.invoice_in(c, tostring(val))
            if invoice then e.courier_var = k; break end
          end
        end
      end
    end
  else
    name, invoice = courier.scan(content)
  end
  if not name then
    ctx:add("BAD_COURIER", "buttons[" .. i .. "]", "DS button: the content names no courier Kakao "
      .. "tracks, so Kakao drops the button (use a WL button to the tracking page)")
  elseif not invoice then
    ctx:add("BAD_INVOICE", "buttons[" .. i .. "]", "DS button: the content has no " .. name
      .. " invoice number in that courier's format, so Kakao drops the button")
  end
end

--- All Kakao rules for one normalized message.
function _M.check(ctx, m)
  local P = ctx.profile
  local e = m.template_entry
  local rendered = m.rendered or NONE
  local content = m.content
  if content == nil then
    -- a template that could not be rendered has its missing variables reported already
    if not rendered.content then
      if m.template ~= nil and m.vars ~= nil and not e then
        -- with a registry, TEMPLATE_NOT_FOUND has said what is wrong
        if not (ctx.opts and ctx.opts.registry) then
          ctx:add("REQUIRED", "content", "template " .. tostring(m.template) .. " has vars but no "
            .. "template registry is configured to render them: give templates (a registry) or content",
            P.codes.required)
        end
      else
        ctx:add("REQUIRED", "content", "content (or a template with vars) is required", P.codes.required)
      end
    end
  elseif content == "" then
    ctx:add("REQUIRED", "content", "content is empty", "3013")
  else
    local key = m.image and "content_image" or "content"
    -- measured and checked in one C call; measured again (to say what is wrong) only when over
    if not ctx:within(content, key) then ctx:size("content", content, key, "content") end
    if e and not rendered.content then match(ctx, e.body, content, "content", "3016") end
  end
  local vars = m.vars
  if vars and ctx.limits.variable
     and not (ctx.compiled.variable and within_values(ctx.compiled.variable, vars)) then
    -- some value breaks a limit (all are checked in one C call first): say which
    for k, v in pairs(vars) do
      local tv = type(v)
      if tv == "string" or tv == "number" then
        v = tostring(v)
        -- the field and label are made only for a value that breaks a limit
        if not ctx:within(v, "variable") then
          ctx:size("vars." .. tostring(k), v, "variable", "variable " .. tostring(k))
        end
      end
    end
  end
  if m.title ~= nil then
    if e and e.type ~= "highlight" then
      ctx:add("NOT_ALLOWED", "title", "a highlight title is only allowed with a highlight template", "3030")
    else
      ctx:size("title", m.title, "title", "highlight title")
      if e and e.title and not rendered.title then match(ctx, e.title, m.title, "title", "3028") end
    end
  end
  if m.header ~= nil and only_item_list(ctx, e, "header", "3031", "a header") then
    ctx:size("header", m.header, "header", "header")
    if e and e.header and not rendered.header then match(ctx, e.header, m.header, "header", "3031") end
  end
  local ih = m.item_highlight
  if ih and only_item_list(ctx, e, "item_highlight", "3033", "an item highlight") then
    if ih.image then
      pair(ctx, ih, "item_highlight", "ih_title_image", "ih_description_image", P.codes.required)
    else
      pair(ctx, ih, "item_highlight", "ih_title", "ih_description", P.codes.required)
    end
    local tih = e and not rendered.item_highlight and e.item_highlight
    if tih then match_pair(ctx, tih, ih, "item_highlight.title", "item_highlight.description", "3033") end
  end
  local items = m.items
  if items and only_item_list(ctx, e, "items", "3036", "an item list") then
    local n = len(items)
    ctx:count("items", n, "items", "item list")
    for i = 1, n do pair(ctx, items[i], path("items", i), "item_title", "item_description",
      P.codes.required) end
    local titems = e and not rendered.items and e.items
    if titems then
      if len(titems) ~= n then
        ctx:add("TEMPLATE_MISMATCH", "items", string.format("the template has %d items, the message %d",
          len(titems), n), "3036", len(titems), n, "items")
      else
        for i = 1, n do
          match_pair(ctx, titems[i], items[i], path("items", i, "title"),
            path("items", i, "description"), "3036")
        end
      end
    end
  end
  local sm = m.summary
  if sm and only_item_list(ctx, e, "summary", "3038", "an item summary") then
    pair(ctx, sm, "summary", "summary_title", "summary_description", P.codes.required)
    if sm.description and sm.description ~= "" then
      local ok, why = _M.summary_ok(sm.description)
      if not ok then
        ctx:add("BAD_CHARS", "summary.description", "summary description: " .. why
          .. " (allowed: currency symbols and codes, digits, commas, decimal points, spaces)", "3040")
      end
    end
    local ts = e and not rendered.summary and e.summary
    if ts then match_pair(ctx, ts, sm, "summary.title", "summary.description", "3038") end
  end
  local buttons = m.buttons
  if buttons then
    if rendered.buttons and ctx.limits == P.limits then
      cached_buttons(ctx, e, buttons)
    else
      check_buttons(ctx, buttons, "buttons", P.button_types, "button")
    end
    if e and not rendered.buttons then compare_buttons(ctx, buttons, e.buttons or NONE) end
    -- (content is a string or nil here: the copy holds only fields of the right type)
    if content ~= nil and content ~= "" then
      -- the first DS button; for buttons rendered from the entry, found once per entry
      local ds = rendered.buttons and e.ds_index
      if ds == nil then
        ds = false
        for i = 1, len(buttons) do
          if buttons[i].type == "DS" then ds = i; break end
        end
        if rendered.buttons then e.ds_index = ds end
      end
      if ds then check_ds(ctx, m, e, rendered, content, ds) end
    end
  elseif e and e.buttons and len(e.buttons) > 0 and not rendered.buttons then
    ctx:add("TEMPLATE_MISMATCH", "buttons", "the template has buttons, the message none", "3027")
  end
  if m.quick_replies then
    if not P.quick_reply_types then
      ctx:add("NOT_SUPPORTED", "quick_replies", P.name .. " does not send quick replies", P.codes.bad_param)
    else
      check_buttons(ctx, m.quick_replies, "quick_replies", P.quick_reply_types, "quick reply")
    end
  end
  -- (both return at once when there is nothing to check; the guards save the calls)
  if m.failover ~= nil then _M.check_failover(ctx, m) end
  if m.reserve_time ~= nil or m.reserve_zone ~= nil or sendwindow.kinds[m.kind] then
    _M.check_timing(ctx, m)
  end
  if m.currency ~= nil then
    if not ISO4217[m.currency] then
      ctx:add("BAD_FORMAT", "currency", "currency must be an active ISO 4217 code such as KRW, USD, EUR",
        P.codes.bad_param)
    end
    ctx:size("currency", m.currency, "currency", "currency")
  end
  if m.price ~= nil and (m.price < 0 or m.price ~= m.price) then
    ctx:add("BAD_VALUE", "price", "price must be a non-negative number", P.codes.bad_type)
  end
  if m.media ~= nil or m.choices ~= nil or m.card ~= nil then
    for _, f in ipairs(SINCH_ONLY) do
      if m[f] ~= nil then
        ctx:add("NOT_SUPPORTED", f, f .. " is a Sinch FriendTalk field; " .. P.name .. " does not send it")
      end
    end
  end
end

return _M
