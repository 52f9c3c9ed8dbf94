--- NAVER Cloud SENS AlimTalk rules (seed 001).
-- Kakao's rules apply (SENS forwards every field to Kakao), with SENS's own documents where
-- they differ:
--
-- * `headerContent`: "Less than 16 bytes can be entered": at most 15 bytes (16 fails), counted
--   in UTF-8 bytes (the request is `application/json; charset=utf-8`), so at most 5 Hangul
--   characters; Kakao's own 3032 limit is 16 characters, and the byte rule is the stricter.
-- * item summary description: SENS's field table says 23 characters but SENS's result code
--   3039 (and BizMessage's text(14)) say 14; Kakao rejects over 14, so 14 is enforced.
-- * buttons DS, WL (linkMobile and linkPc both required, as seed 001 lists them, both http(s)
--   URLs; BizMessage and API PLEX mark the PC link optional: to accept WL buttons without it
--   on SENS too, set
--   `require("alimtalk.validate").profile("sens").button_types.WL.all = { "url_mobile" }`),
--   AL (schemeIos and
--   schemeAndroid), BK, MD, AC (name fixed: "채널 추가" / "Add channel"); no quick replies.
-- * up to 100 messages per request, sharing one templateCode and one reservation (top-level
--   fields; `validate.batch` reports BATCH_MIXED); failover type SMS|LMS; a caller ID in Korean format
--   (B003 when not); empty failover content E4006, empty LMS subject E4005.
-- @module alimtalk.validate.sens
local kakao = require "alimtalk.validate.kakao"

local limits = kakao.base_limits()
limits.header = { { max = 15, unit = "bytes", code = "3032" } }

local P = {
  name = "sens",
  limits = limits,
  max_batch = 100,
  reservations = true,   -- reserveTime / reserveTimeZone
  -- top-level request fields: one template code and one reservation for all messages
  batch_same = { "template_code", "reserve_time", "reserve_zone" },
  codes = { bad_phone = "3008", bad_sender = "B003", failover_type = "E4000", failover_content = "E4006",
    failover_subject = "E4005" },
  kakao_event_pattern = true,
  button_types = {
    DS = {},
    WL = { all = { "url_mobile", "url_pc" } },
    AL = { all = { "scheme_ios", "scheme_android" } },
    BK = {},
    MD = {},
    AC = { names = { "채널 추가", "Add channel" } },
  },
}

function P.check(ctx, m)
  kakao.check(ctx, m)
  local cc = m.country_code
  if cc ~= nil and cc ~= "82" and not tostring(cc):match("^%d+$") then
    ctx:add("BAD_FORMAT", "country_code", "country_code must be digits (default 82)")
  end
end

return P
