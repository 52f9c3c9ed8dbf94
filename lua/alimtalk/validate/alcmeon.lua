--- Alcmeon rules (seed 000): KakaoTalk message templates and messages sent with them.
--
-- Template definitions (`validate.template(def, { provider = "alcmeon" })`):
-- name of lowercase letters, digits and `_`, up to 512 characters; one or more languages,
-- AlimTalk templates in EN or KR only; body up to 1024 characters with `{{variable}}` slots;
-- a text or image header; up to 5 buttons of the types "Contact Customer Service"
-- (`contact`) and "URL" (`url`, needs a url); category `alimtalk` or `friendtalk`, AlimTalk
-- usage API only.
--
-- Messages: the text after substitution goes to Kakao, so its 1000-character limit applies;
-- up to 5 buttons; FriendTalk only 09:00-20:00 KST; no reservations (`reserve_time`: NOT_SUPPORTED).
-- @module alimtalk.validate.alcmeon
local kakao = require "alimtalk.validate.kakao"
local rules = require "alimtalk.validate.rules"
local template = require "alimtalk.template"

local len = rules.len

local P = {
  name = "alcmeon",
  limits = {
    content = { { max = 1000, unit = "chars", code = "3014" } },
    buttons = { { max = 5, unit = "items" } },
    template_name = { { max = 512, unit = "chars" } },
    template_body = { { max = 1024, unit = "chars" } },
    template_buttons = { { max = 5, unit = "items" } },
  },
  max_batch = 1,
  codes = {},
  button_types = { contact = {}, url = { all = { "url_mobile" } } },
}

local SINCH_ONLY = { "media", "choices", "card" }
local LANGS = { en = true, kr = true, ko = true }
local BUTTONS = { contact = true, url = true }

function P.check(ctx, m)
  if m.content == nil then
    if m.kind == "alimtalk" and not m.template then ctx:add("REQUIRED", "content",
      "content or template needed") end
  elseif m.content == "" then
    ctx:add("REQUIRED", "content", "content is empty")
  else
    ctx:size("content", m.content, "content", "content")
  end
  if m.buttons then ctx:count("buttons", len(m.buttons), "buttons", "buttons") end
  for _, f in ipairs(SINCH_ONLY) do
    if m[f] ~= nil then ctx:add("NOT_SUPPORTED", f, f .. " is not an Alcmeon field") end
  end
  kakao.check_timing(ctx, m)
end

--- Check an Alcmeon template definition.
-- @tparam table def `{ name =, category = "alimtalk"|"friendtalk", languages = { "en", "kr" },
-- usage = { "api" }, header = { type = "text"|"image", text =, url = }, body = "...",
-- buttons = { { type = "contact"|"url", name =, url = } } }`
function P.check_template(ctx, def)
  local name = def.name
  if type(name) ~= "string" or name == "" then
    ctx:add("REQUIRED", "name", "a template needs a name")
  else
    if not name:match("^[a-z0-9_]+$") then
      ctx:add("BAD_FORMAT", "name", "template names take lowercase letters, digits and _ only")
    end
    ctx:size("name", name, "template_name", "template name")
  end
  local cat = def.category
  if cat ~= "alimtalk" and cat ~= "friendtalk" then
    ctx:add("BAD_VALUE", "category", "category must be alimtalk or friendtalk")
  end
  local langs = def.languages
  if type(langs) ~= "table" or len(langs) == 0 then
    ctx:add("REQUIRED", "languages", "a template needs at least one language")
  else
    for i = 1, len(langs) do
      local l = tostring(langs[i]):lower()
      if cat == "alimtalk" and not LANGS[l] then
        ctx:add("BAD_VALUE", "languages[" .. i .. "]", "AlimTalk templates can only be EN or KR")
      end
    end
  end
  if cat == "alimtalk" and def.usage ~= nil then
    local u = type(def.usage) == "table" and def.usage or { def.usage }
    for i = 1, len(u) do
      if tostring(u[i]):lower() ~= "api" then
        ctx:add("BAD_VALUE", "usage", "the only usage of an AlimTalk template is API")
      end
    end
  end
  if type(def.body) ~= "string" or def.body == "" then
    ctx:add("REQUIRED", "body", "a template needs a body")
  else
    ctx:size("body", def.body, "template_body", "template body")
    local _, err = template.parse(def.body, { syntax = "alcmeon" })
    if err then ctx:push(err) end
  end
  local h = def.header
  if h ~= nil then
    if type(h) ~= "table" or (h.type ~= "text" and h.type ~= "image") then
      ctx:add("BAD_VALUE", "header.type", "a header is text or image")
    elseif h.type == "text" and (type(h.text) ~= "string" or h.text == "") then
      ctx:add("REQUIRED", "header.text", "a text header needs its text")
    elseif h.type == "image" and (type(h.url) ~= "string" or h.url == "") then
      ctx:add("REQUIRED", "header.url", "an image header needs its file url")
    end
  end
  if def.buttons ~= nil then
    local bs = def.buttons
    ctx:count("buttons", len(bs), "template_buttons", "buttons")
    for i = 1, len(bs) do
      local b = bs[i]
      local f = "buttons[" .. i .. "]"
      if type(b) ~= "table" or not BUTTONS[b.type] then
        ctx:add("BAD_VALUE", f .. ".type", "button type must be contact (Contact Customer Service) or url")
      else
        if type(b.name) ~= "string" or b.name == "" then ctx:add("REQUIRED", f .. ".name",
          "a button needs a name") end
        if b.type == "url" and (type(b.url) ~= "string" or not b.url:match("^https?://.")) then
          ctx:add("REQUIRED", f .. ".url", "a URL button needs an http(s) url")
        end
      end
    end
  end
end

return P
