--- Kakao i Connect Message BizMessage rules (seed 003). Its `text(n)` limits count characters
-- (they equal Kakao's character limits: message text(1000) is Kakao's 1000 characters, title
-- text(50) is 3029's 50 characters, header text(16) is 3032's 16 characters).
--
-- * `cid` (the message `id`) is required; template_code text(30); phone_number text(16) (with
--   82); sender_no text(16); message text(1000); title text(50); header text(16)
-- * item list: title text(6), description text(23); summary: title text(6), description
--   text(14) with currency characters only and up to 2 decimals; item highlight: title text(30)
--   (21 with an image), description text(19) (13 with an image)
-- * fall_back_message text(2000) (and the LMS 2000 EUC-KR-byte carrier limit), LMS title
--   text(60) (result field "title"), fall_back_message_type SMS/LMS
-- * price an integer, currency_type an ISO 4217 code; tax_cd1 / tax_cd2 text(50)
-- * buttons and quick replies with Kakao's types (WL needs url_mobile; AL one of its links)
-- * one `sender_no` for the message and its SMS/LMS fallback: `from` and `failover.from` must
--   agree when both are given
-- * no reservations (`reserve_time`: NOT_SUPPORTED)
-- @module alimtalk.validate.bizmessage
local kakao = require "alimtalk.validate.kakao"

local limits = kakao.base_limits()
limits.template_code = { { max = 30, unit = "chars" } }
limits.recipient = { { max = 16, unit = "chars" } }
limits.from = { { max = 16, unit = "chars" } }
limits.failover_content = { { max = 2000, unit = "chars" } }
limits.failover_subject = { { max = 60, unit = "chars" } }
limits.tax_cd = { { max = 50, unit = "chars" } }

local TYPES = {
  DS = {}, WL = { all = { "url_mobile" } }, AL = { any = { "scheme_android", "scheme_ios", "url_mobile" } },
  BK = {}, MD = {}, BC = {}, BT = {}, AC = { names = { "채널 추가", "Add channel" } },
}
local QR_TYPES = {
  WL = { all = { "url_mobile" } }, AL = { any = { "scheme_android", "scheme_ios", "url_mobile" } },
  BK = {}, MD = {}, BC = {}, BT = {},
}

local P = {
  name = "bizmessage",
  limits = limits,
  max_batch = 1,
  codes = { bad_phone = "3008" },
  kakao_event_pattern = true,
  button_types = TYPES,
  quick_reply_types = QR_TYPES,
}

function P.check(ctx, m)
  kakao.check(ctx, m)
  if m.id == nil or m.id == "" then
    ctx:add("REQUIRED", "id", "BizMessage needs the message serial (cid): set id")
  end
  if m.template_code then ctx:size("template", m.template_code, "template_code", "template code") end
  if m.recipient then ctx:size("to", m.recipient, "recipient", "phone_number") end
  if m.from ~= nil then
    local phone = require "alimtalk.phone"
    local d, err = phone.sender(m.from, "from")
    if not d then ctx:push(err) else ctx:size("from", d, "from", "sender_no") end
    local fo = m.failover
    if d and type(fo) == "table" and fo.from and phone.sender(fo.from) and phone.sender(fo.from) ~= d then
      ctx:add("NOT_SUPPORTED", "failover.from", "BizMessage has one sender_no for the message and its "
        .. "fallback: failover.from must equal from (or be left out)")
    end
  end
  if m.tax_cd1 then ctx:size("tax_cd1", m.tax_cd1, "tax_cd", "tax_cd1") end
  if m.tax_cd2 then ctx:size("tax_cd2", m.tax_cd2, "tax_cd", "tax_cd2") end
  if m.price ~= nil and m.price % 1 ~= 0 then
    ctx:add("BAD_TYPE", "price", "BizMessage price is an integer")
  end
end

return P
