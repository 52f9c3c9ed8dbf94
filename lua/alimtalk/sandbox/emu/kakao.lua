--- Kakao's AlimTalk rules shared by the three Korean providers (SENS, BizMessage, API PLEX),
-- written from the source documents independently of lua/alimtalk/validate: the client's
-- pre-flight is tested against this second implementation.
-- Each provider first maps its own field names to the shape below, checks its own size rules,
-- then calls `check`, which answers with a Kakao code (3014, 3016, 3027, ...).
--   { content, title, header, item_highlight = { title, description },
--     items = { { title, description } }, summary = { title, description },
--     buttons = { { type, name, url_mobile, url_pc, scheme_ios, scheme_android,
--                   chat_extra, chat_event } } }
-- @module alimtalk.sandbox.emu.kakao
local registry = require "alimtalk.sandbox.emu.registry"
local text = require "alimtalk.sandbox.emu.text"
-- the one list of currency codes (data, not rules: shared with the client's validate/)
local ISO4217 = require("alimtalk.iso4217").codes

local _M = {}

--- Kakao result code names (seed 001's table), used for `*Desc` fields.
_M.names = {
  ["0000"] = "Success", ["1001"] = "NoJsonBody", ["1003"] = "InvalidSenderKey",
  ["1004"] = "NoValueJsonElement", ["1030"] = "InvalidParameterException",
  ["3005"] = "AckTimeoutException", ["3006"] = "FailedToSendMessageException",
  ["3008"] = "InvalidPhoneNumberException", ["3010"] = "JsonParseException",
  ["3012"] = "SerialNumberDuplicatedException", ["3013"] = "MessageEmptyException",
  ["3014"] = "MessageLengthOverLimitException", ["3015"] = "TemplateNotFoundException",
  ["3016"] = "NoMatchedTemplateException", ["3018"] = "NoSendAvailableException",
  ["3019"] = "MessageNoUserException", ["3020"] = "MessageUserBlockedAlimTalkException",
  ["3025"] = "ExceedMaxVariableLengthException",
  ["3026"] = "InvalidExtra(EventName)Exception",
  ["3027"] = "NoMatchedTemplateButtonException", ["3028"] = "NoMatchedTemplateTitleException",
  ["3029"] = "ExceedMaxTitleLengthException", ["3030"] = "NoMatchedTemplateWithMessageTypeException",
  ["3031"] = "NoMatchedTemplateHeaderException", ["3032"] = "ExceedMaxHeaderLengthException",
  ["3033"] = "NoMatchedTemplateItemHighlightException",
  ["3034"] = "ExceedMaxItemHighlightTitleLengthException",
  ["3035"] = "ExceedMaxItemHighlightDescriptionLengthException",
  ["3036"] = "NoMatchedTemplateItemListException",
  ["3037"] = "ExceedMaxItemDescriptionLengthException",
  ["3038"] = "NoMatchedTemplateItemSummaryException",
  ["3039"] = "ExceedMaxItemSummaryDescriptionLengthException",
  ["3040"] = "InvalidItemSummaryDescriptionException",
  ["B004"] = "Quota Exceed",
}

local BUTTON_TYPES = { DS = true, WL = true, AL = true, BK = true, MD = true, AC = true,
  BC = true, BT = true, P1 = true, P2 = true, P3 = true }
_M.BUTTON_TYPES = BUTTON_TYPES

local function nonempty(s) return type(s) == "string" and s ~= "" end

local NONE = {}   -- an absent list, read only

local byte, find = string.byte, string.find

-- Does `u` start with http:// or https://? (`find(u, "^https?://")`, by bytes: it runs for
-- every link button of every message and the pattern matcher is not compiled.)
local function http_url(u)
  local h, t1, t2, p, x = byte(u, 1, 5)
  if h ~= 104 or t1 ~= 116 or t2 ~= 116 or p ~= 112 then return false end   -- "http"
  if x == 115 then return find(u, "://", 6, true) == 6 end                  -- "https://"
  return x == 58 and find(u, "//", 6, true) == 6                             -- "http://"
end

-- Item summary description: currency symbols/codes, digits, commas, points, spaces; at most
-- two decimals (seed 001). A run of capitals must be one active ISO 4217 code.
local CURRENCY = { "₩", "원", "元", "円", "¥", "$", "€", "£" }
local function summary_ok(s)
  if s:find("%d[%d,]*%.%d%d%d") then return false end
  for word in s:gmatch("%u+") do
    if not ISO4217[word] then return false end
  end
  local rest = s:gsub("%u+", ""):gsub("[%d,%. ]", "")
  for _, c in ipairs(CURRENCY) do rest = rest:gsub(c:gsub("%$", "%%$"), "") end
  return rest == ""
end

local CHAT_KEYS = { "chat_extra", "chat_event" }

-- A button's name in a description: "prefix[i]", or `prefix` alone without `i`. Built only
-- when there is something to describe: the checks run for every button of every message.
local function where(prefix, i)
  return i and (prefix .. "[" .. i .. "]") or prefix
end

local function check_button(b, prefix, i)
  if type(b) ~= "table" or not nonempty(b.type) or not nonempty(b.name) then
    return "1030", where(prefix, i) .. ": type and name are required"
  end
  if not BUTTON_TYPES[b.type] then return "1030", where(prefix, i) .. ": unknown button type " .. b.type end
  if b.type == "WL" then
    if not nonempty(b.url_mobile) then return "1030", where(prefix, i) .. ": WL needs the mobile link" end
    if not http_url(b.url_mobile) or (nonempty(b.url_pc) and not http_url(b.url_pc)) then
      return "1030", where(prefix, i) .. ": WL links must start with http:// or https://"
    end
  elseif b.type == "AL" then
    if not (nonempty(b.scheme_ios) or nonempty(b.scheme_android) or nonempty(b.url_mobile)) then
      return "1030", where(prefix, i) .. ": AL needs the iOS/Android schemes"
    end
  elseif b.type == "AC" and b.name ~= "채널 추가" and b.name ~= "Add channel" then
    return "3027", where(prefix, i) .. ": the AC button name is fixed ('채널 추가')"
  end
  for _, k in ipairs(CHAT_KEYS) do
    if b[k] ~= nil and (type(b[k]) ~= "string" or not b[k]:find("^[%w_]*$") or #b[k] > 50) then
      return "3026", where(prefix, i) .. "." .. k .. " must match [A-Za-z0-9_]{1,50}"
    end
  end
end

--- Check one button's own rules (not the template match).
-- @treturn nil|string,string a Kakao code and a description
function _M.check_button(b, name)
  return check_button(b, name)
end

--- Check a message (normalized shape) against its approved template.
-- @tparam table tpl compiled template (registry)
-- @tparam table m normalized message
-- @tparam[opt] integer max_var the longest a variable's value may be (characters), Kakao code
-- 3025; Kakao does not publish the limit, so it is off unless the `max_variable_chars` setting
-- gives one
-- @treturn nil|string,string,string Kakao code, description, field
function _M.check(tpl, m, max_var)
  local content = m.content
  if not nonempty(content) then return "3013", "message is empty", "content" end
  if not text.valid_utf8(content) then return "1030", "content is not UTF-8", "content" end
  local max = tpl.type == "image" and 400 or 1000
  if text.over(content, max) then
    return "3014", string.format("content is %d characters, the limit is %d", text.chars(content), max),
      "content"
  end
  if max_var then
    local caps = registry.captures(tpl.body, content)
    if not caps then return "3016", "content does not match template " .. tpl.name, "content" end
    for i, v in ipairs(caps) do
      if text.over(v, max_var) then
        return "3025", string.format("variable #{%s} is over %d characters", tpl.body.names[i], max_var),
          "content"
      end
    end
  elseif not registry.matches(tpl.body, content) then
    return "3016", "content does not match template " .. tpl.name, "content"
  end
  -- highlight title
  if tpl.title then
    if not nonempty(m.title) then return "3028", "the template needs a highlight title", "title" end
    if text.over(m.title, 50) then return "3029", "title is over 50 characters", "title" end
    if not registry.matches(tpl.title, m.title) then return "3028", "title does not match", "title" end
  elseif nonempty(m.title) then
    return "3030", "the template has no highlight title", "title"
  end
  -- item list header
  if tpl.header then
    if not nonempty(m.header) then return "3031", "the template needs a header", "header" end
    if text.over(m.header, 16) then return "3032", "header is over 16 characters", "header" end
    if not registry.matches(tpl.header, m.header) then return "3031", "header does not match", "header" end
  elseif nonempty(m.header) then
    return "3031", "the template has no header", "header"
  end
  -- item highlight
  local ih = m.item_highlight
  if tpl.item_highlight then
    if type(ih) ~= "table" or not nonempty(ih.title) or not nonempty(ih.description) then
      return "3033", "the template needs item highlight title and description", "item_highlight"
    end
    local img = ih.image == true
    local tmax, lmax, dmax = img and 21 or 30, img and 10 or 15, img and 13 or 19
    if text.over(ih.title, tmax) or text.lines(ih.title) > 2 or text.longest_line(ih.title) > lmax then
      return "3034", string.format("item highlight title over %d characters (%d per line, 2 lines)",
        tmax, lmax), "item_highlight.title"
    end
    if text.over(ih.description, dmax) or text.lines(ih.description) > 1 then
      return "3035", string.format("item highlight description over %d characters", dmax),
        "item_highlight.description"
    end
    if not registry.matches(tpl.item_highlight.title, ih.title)
        or not registry.matches(tpl.item_highlight.description, ih.description) then
      return "3033", "item highlight does not match", "item_highlight"
    end
  elseif type(ih) == "table" and next(ih) then
    return "3033", "the template has no item highlight", "item_highlight"
  end
  -- item list
  local items = m.items
  if #tpl.items > 0 then
    if type(items) ~= "table" or #items < 2 or #items > 10 then
      return "3036", "the item list needs 2 to 10 items", "items"
    end
    if #items ~= #tpl.items then return "3036", "item count differs from the template", "items" end
    for i, it in ipairs(items) do
      local f = "items[" .. i .. "]"
      if type(it) ~= "table" or not nonempty(it.title) or not nonempty(it.description) then
        return "3036", f .. " needs title and description", f
      end
      if text.over(it.title, 6) then return "3036", f .. ".title is over 6 characters", f .. ".title" end
      if text.over(it.description, 23) then
        return "3037", f .. ".description is over 23 characters", f .. ".description"
      end
      if not registry.matches(tpl.items[i].title, it.title)
          or not registry.matches(tpl.items[i].description, it.description) then
        return "3036", f .. " does not match the template", f
      end
    end
  elseif type(items) == "table" and #items > 0 then
    return "3036", "the template has no item list", "items"
  end
  -- item summary
  local su = m.summary
  if tpl.summary then
    if type(su) ~= "table" or not nonempty(su.title) or not nonempty(su.description) then
      return "3038", "the template needs the item summary", "summary"
    end
    if text.over(su.title, 6) then return "3038", "summary title is over 6 characters", "summary.title" end
    if text.over(su.description, m.summary_limit or 23) then
      return "3039", "summary description is too long", "summary.description"
    end
    if not summary_ok(su.description) then
      return "3040", "summary description may hold only currency, digits, commas, points, spaces",
        "summary.description"
    end
    if not registry.matches(tpl.summary.title, su.title)
        or not registry.matches(tpl.summary.description, su.description) then
      return "3038", "summary does not match", "summary"
    end
  elseif type(su) == "table" and next(su) then
    return "3038", "the template has no item summary", "summary"
  end
  -- buttons
  local bs = m.buttons or NONE
  if type(bs) ~= "table" then return "1030", "buttons must be a list", "buttons" end
  if #bs > 5 then return "3027", "at most 5 buttons", "buttons" end
  for i, b in ipairs(bs) do
    local code, desc = check_button(b, "buttons", i)
    if code then return code, desc, "buttons[" .. i .. "]" end
  end
  if #bs ~= #tpl.buttons then
    return "3027", string.format("%d buttons sent, the template has %d", #bs, #tpl.buttons), "buttons"
  end
  for i, tb in ipairs(tpl.buttons) do
    local b = bs[i]
    if b.type ~= tb.type or b.name ~= tb.name then
      return "3027", "buttons[" .. i .. "] does not match the template", "buttons[" .. i .. "]"
    end
    if tb.url_mobile and not registry.matches(tb.url_mobile, b.url_mobile) then
      return "3027", "buttons[" .. i .. "] mobile link does not match", "buttons[" .. i .. "].url_mobile"
    end
    if tb.url_pc and nonempty(b.url_pc) and not registry.matches(tb.url_pc, b.url_pc) then
      return "3027", "buttons[" .. i .. "] PC link does not match", "buttons[" .. i .. "].url_pc"
    end
  end
  for i, b in ipairs(m.quick_replies or NONE) do
    local code, desc = check_button(b, "quick_replies", i)
    if code then return code, desc, "quick_replies[" .. i .. "]" end
  end
  return nil
end

return _M
