--- API PLEX AlimTalk rules (seed 004).
--
-- API PLEX states its limits in bytes. They are UTF-8 bytes: the request is
-- `application/json;charset=utf-8`, and every figure is four times Kakao's character limit for
-- the same field (the widest UTF-8 character is 4 bytes): title 200 = 4 x 50, header 64 =
-- 4 x 16, item highlight title 120 = 4 x 30 and description 76 = 4 x 19, item title 24 = 4 x 6
-- and description 92 = 4 x 23, summary description 56 = 4 x 14. So both the byte limit (API
-- PLEX refuses the request: C400_2) and Kakao's character limit (Kakao refuses the message
-- later: 3029, 3032, 3034...) are checked; for Hangul (3 UTF-8 bytes) the character limit
-- bites first. The LMS failback is converted to EUC-KR: title 50 and body 2000 EUC-KR bytes.
--
-- Also: msg 1000 characters; button name 112 bytes, chat_extra/chat_event 50 bytes; quick
-- reply name 54 bytes, chat_extra/chat_event 200 bytes; echo_to_webhook 256 bytes (G142);
-- currency_type 12 bytes; up to 5 buttons; up to 10 messages per request (msg_data); button
-- types WL AL DS BK MD BC BT AC P1 P2 P3 (WL needs url_mobile, AL one of scheme_android,
-- scheme_ios, url_mobile, P3 oneclick_id or product_id), quick reply types WL AL BK MD BC BT.
-- Missing required values are C400_3, bad values C400_2, a bad recipient G141, a bad sender
-- G140. No reservations (`reserve_time`: NOT_SUPPORTED). SMS/LMS fallback needs the provider's
-- failback configuration, which validation cannot see: the provider object rejects such a
-- message before sending when it is missing (alimtalk.providers.apiplex).
-- @module alimtalk.validate.apiplex
local kakao = require "alimtalk.validate.kakao"

local limits = kakao.base_limits()
local function bytes(key, max, code)
  limits[key] = limits[key] or {}
  local l = {}
  for i, sp in ipairs(limits[key]) do l[i] = sp end
  l[#l + 1] = { max = max, unit = "bytes", code = code or "C400_2" }
  limits[key] = l
end
bytes("title", 200)
bytes("header", 64)
bytes("ih_title", 120)
bytes("ih_title_image", 120)
bytes("ih_description", 76)
bytes("ih_description_image", 76)
bytes("item_title", 24)
bytes("item_description", 92)
bytes("summary_title", 24)
bytes("summary_description", 56)
bytes("button_name", 112)
bytes("chat_extra", 50)
bytes("chat_event", 50)
bytes("qr_button_name", 54)
bytes("qr_chat_extra", 200)
bytes("qr_chat_event", 200)
bytes("echo", 256, "G142")
bytes("currency", 12)
limits.buttons = { { max = 5, unit = "items", code = "C400_2" } }

local P = {
  name = "apiplex",
  limits = limits,
  max_batch = 10,
  batch_code = "C400_2",
  codes = { required = "C400_3", bad_param = "C400_2", bad_type = "C400_1", bad_phone = "G141",
    bad_sender = "G140" },
  kakao_event_pattern = true,
  button_types = {
    WL = { all = { "url_mobile" } },
    AL = { any = { "scheme_android", "scheme_ios", "url_mobile" } },
    DS = {}, BK = {}, MD = {}, BC = {}, BT = {}, AC = {}, P1 = {}, P2 = {},
    P3 = { any = { "oneclick_id", "product_id" } },
  },
  quick_reply_types = {
    WL = { all = { "url_mobile" } },
    AL = { any = { "scheme_android", "scheme_ios", "url_mobile" } },
    BK = {}, MD = {}, BC = {}, BT = {},
  },
}

function P.check(ctx, m)
  kakao.check(ctx, m)
  if m.echo ~= nil then ctx:size("echo", m.echo, "echo", "echo_to_webhook") end
  if m.from ~= nil then
    local phone = require "alimtalk.phone"
    local d, err = phone.sender(m.from, "from")
    if not d then err.provider_code = "G140"; ctx:push(err) end
  end
end

return P
