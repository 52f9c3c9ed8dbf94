--- Sinch Conversation API rules for the KakaoTalk channel (seed 002).
--
-- * AlimTalk is a template message: Sinch sends the template id and parameters (`vars`), the
--   buttons and texts are the registered template's, so caller-set buttons, title, header or
--   item list are not sent (NOT_SUPPORTED). When the registry knows the template, the rendered
--   text is checked: at most 1000 characters.
-- * Authentication templates (`authentication = true`, sent with KAKAOTALK_AUTHENTICATION):
--   the text after substitution must contain one of auth, password, verif, にんしょう, 認証,
--   비밀번호, 인증, or Sinch fails the message with TEMPLATE_INSUFFICIENT_PARAMETERS.
-- * FriendTalk (`kind = "friendtalk"`): 08:00-21:00 KST only; text up to 1000 characters;
--   choice titles up to 14 characters; card title + description up to 1000 characters (400
--   with media, 76 with a wide image; one choice only with a wide image); media .png/.jpg.
--   One generic message per send: a `card` carries its own text, media and choices, so
--   top-level `content`, `media` or `choices` beside it are NOT_SUPPORTED, and a media message
--   has no text or choices (use a card for an image with text).
-- * no reservations (`reserve_time`: NOT_SUPPORTED): Sinch sends at once.
-- @module alimtalk.validate.sinch
local kakao = require "alimtalk.validate.kakao"
local rules = require "alimtalk.validate.rules"

local len = rules.len

local P = {
  name = "sinch",
  limits = {
    content = { { max = 1000, unit = "chars" } },
    choice_title = { { max = 14, unit = "chars" } },
    card = { { max = 1000, unit = "chars" } },
    card_media = { { max = 400, unit = "chars" } },
    card_wide = { { max = 76, unit = "chars" } },
    card_wide_choices = { { max = 1, unit = "items" } },
  },
  max_batch = 1,
  codes = {},
}

--- Authentication keywords (seed 002).
P.keywords = { "auth", "password", "verif", "にんしょう", "認証", "비밀번호", "인증" }

local function has_keyword(text)
  local lower = text:lower()
  for _, k in ipairs(P.keywords) do
    if lower:find(k, 1, true) then return true end
  end
  return false
end

local function media_ok(url)
  local path = url:match("^[^?#]*") or url
  path = path:lower()
  return path:match("%.png$") or path:match("%.jpe?g$")
end

local function check_choices(ctx, list, base)
  for i = 1, len(list) do
    local c = list[i]
    local f = base .. "[" .. i .. "]"
    if type(c) ~= "table" or type(c.title) ~= "string" or c.title == "" then
      ctx:add("REQUIRED", f .. ".title", "a choice needs a title")
    else
      ctx:size(f .. ".title", c.title, "choice_title", "choice title")
      if c.url ~= nil and (type(c.url) ~= "string" or not c.url:match("^[Hh][Tt][Tt][Pp][Ss]?://.")) then
        ctx:add("BAD_FORMAT", f .. ".url", "a choice url must start with http:// or https://")
      end
    end
  end
end

function P.check(ctx, m)
  local rendered = m.rendered or {}
  if m.content ~= nil then
    if m.content == "" then ctx:add("REQUIRED", "content", "text is empty")
    else ctx:size("content", m.content, "content", "text") end
  end
  if m.kind == "alimtalk" then
    if not m.template then ctx:add("REQUIRED", "template", "an AlimTalk message needs a template id") end
    for _, f in ipairs({ "title", "header", "item_highlight", "items", "summary", "buttons",
      "quick_replies" }) do
      if m[f] ~= nil and not rendered[f] then
        ctx:add("NOT_SUPPORTED", f, "Sinch sends AlimTalk as template id + parameters; " .. f
          .. " comes from the registered template")
      end
    end
    if m.authentication and type(m.content) == "string" and not has_keyword(m.content) then
      ctx:add("MISSING_KEYWORD", "content", "an authentication message must contain one of: "
        .. table.concat(P.keywords, ", "), "TEMPLATE_INSUFFICIENT_PARAMETERS")
    end
  else
    if m.content == nil and m.media == nil and m.card == nil then
      ctx:add("REQUIRED", "content", "a FriendTalk message needs text, media or a card")
    end
    if m.card then
      for _, f in ipairs({ "content", "media", "choices" }) do
        if m[f] ~= nil and not (f == "content" and rendered.content) then
          ctx:add("NOT_SUPPORTED", f, "a card message carries its own " .. f .. ": put it in card")
        end
      end
    elseif m.media then
      for _, f in ipairs({ "content", "choices" }) do
        if m[f] ~= nil and not (f == "content" and rendered.content) then
          ctx:add("NOT_SUPPORTED", f, "a media message has no " .. f .. ": send a card (card = { description "
            .. "=, media =, choices = })")
        end
      end
    end
    if m.choices then check_choices(ctx, m.choices, "choices") end
    if m.media then
      if type(m.media.url) ~= "string" then ctx:add("REQUIRED", "media.url", "media needs a url")
      elseif not media_ok(m.media.url) then
        ctx:add("BAD_VALUE", "media.url", "KakaoTalk takes .png or .jpg media only", "MEDIA_TYPE_UNSUPPORTED")
      end
    end
    local card = m.card
    if card then
      local text = (card.title or "") .. (card.description or "")
      local media = card.media
      local key = "card"
      if media then
        key = media.wide and "card_wide" or "card_media"
        if type(media.url) ~= "string" then ctx:add("REQUIRED", "card.media.url", "card media needs a url")
        elseif not media_ok(media.url) then
          ctx:add("BAD_VALUE", "card.media.url", "KakaoTalk cards take .png or .jpg media only",
            "MEDIA_TYPE_UNSUPPORTED")
        end
      end
      ctx:size("card", text, key, "card title + description")
      if card.choices then
        check_choices(ctx, card.choices, "card.choices")
        if media and media.wide then ctx:count("card.choices", len(card.choices), "card_wide_choices") end
      end
    end
  end
  if m.failover then
    ctx:add("NOT_SUPPORTED", "failover", "SMS failover through Sinch is configured as channel fallback, "
      .. "not per message")
  end
  kakao.check_timing(ctx, m)
end

return P
