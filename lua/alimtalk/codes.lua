--- The code catalogue: every result and error code the providers document, with its meaning
-- and what a caller should do about it (its outcome class).
--
-- Classes:
--
-- * `accepted`  the provider took the message (or, with `duplicate = true` on Kakao 3012,
--   already has a message under that serial: a resend with the same serial was accepted before)
-- * `rejected`  the input is wrong or not allowed; fix it, resending as is fails again
-- * `retryable` nothing was sent; the same request may be sent again (with the same serial)
-- * `uncertain` the message may have been sent; never resend under a new serial, reconcile by
--   a result query or resend with the same serial
-- * `quota`     credit or quota exhausted; stop the run
-- * `delivered`, `failed`, `pending`: final or interim delivery results (`failed` = the
--   recipient or channel could not take it; SMS failover applies)
--
-- Sources: seed 001 (SENS: request, reception result = Kakao codes, failover, reservation
-- status, HTTP), seed 003 (BizMessage result codes and detail codes; `kko_status_code` carries
-- the Kakao codes), seed 004 (API PLEX acceptance codes), seed 002 (Sinch statuses and reasons;
-- the reason codes beyond TEMPLATE_INSUFFICIENT_PARAMETERS come from Sinch's public reference).
-- @module alimtalk.codes
local _M = {}

-- Kakao AlimTalk result codes (seed 001 "Alim Talk reception result code"); SENS reports them
-- as messageStatusCode, BizMessage as kko_status_code, API PLEX in its result webhook.
local KAKAO = {
  ["0000"] = { "delivered", "Normal delivery" },
  ["1001"] = { "rejected", "NoJsonBody: request body is not in JSON format" },
  ["1002"] = { "rejected", "InvalidHubPartnerKey: invalid partner key" },
  ["1003"] = { "rejected", "InvalidSenderKey: invalid outgoing profile key" },
  ["1004"] = { "rejected", "NoValueJsonElement: name not found in request body" },
  ["1005"] = { "rejected", "SenderNotFound: outgoing profile not found" },
  ["1006"] = { "rejected", "DeletedSender: deleted outgoing profile" },
  ["1007"] = { "rejected", "StoppedSender: blocked outgoing profile" },
  ["1011"] = { "rejected", "ContractNotFound: contract information not found" },
  ["1012"] = { "rejected", "InvalidUserKeyException: invalid format of user key request" },
  ["1013"] = { "rejected", "InvalidAppLink: invalid app connection" },
  ["1014"] = { "rejected", "InvalidBizNum: invalid business registration number" },
  ["1015"] = { "rejected", "TalkUserIdNotFound: invalid app user id request" },
  ["1016"] = { "rejected", "BizNumNotEqual: mismatched business registration number" },
  ["1020"] = { "rejected", "InvalidReceiveUserException: no valid user identifier value" },
  ["1021"] = { "rejected", "BlockedProfile: blocked Kakao Talk Channel" },
  ["1022"] = { "rejected", "DeactivatedProfile: closed Kakao Talk Channel" },
  ["1023"] = { "rejected", "DeletedProfile: deleted Kakao Talk Channel" },
  ["1024"] = { "rejected", "DeletingProfile: deletion-pending Kakao Talk Channel" },
  ["1025"] = { "rejected", "SpammedProfile: message-blocked Kakao Talk Channel" },
  ["1026"] = { "rejected", "UnableUseMessageType: response method unavailable for the message type" },
  ["1027"] = { "rejected", "Message delivery failure due to channel message restriction status" },
  ["1030"] = { "rejected", "InvalidParameterException: invalid parameter request" },
  ["1033"] = { "rejected", "Template type and message type mismatch" },
  ["2000"] = { "retryable",
    "FailedToCheckFriendshipException: system error checking the friend relationship" },
  ["2003"] = { "failed", "FailedToSendMessageByNoFriendshipException: channel not added (test server)" },
  ["2004"] = { "retryable", "FailedToMatchTemplateException: internal Kakao error checking the template" },
  ["2005"] = { "retryable", "FailedToReadImageException: error reading image meta information" },
  ["2006"] = { "rejected", "FailedToMatchSerialNumberPrefixPattern: serial number format mismatch" },
  ["3000"] = { "retryable", "UnexpectedException: unexpected error" },
  ["3005"] = { "uncertain",
    "AckTimeoutException: sent, but the receipt was not confirmed (success uncertain)" },
  ["3006"] = { "retryable", "FailedToSendMessageException: Kakao internal system error" },
  ["3008"] = { "rejected", "InvalidPhoneNumberException: phone number error" },
  ["3010"] = { "rejected", "JsonParseException: JSON parsing error" },
  ["3011"] = { "failed", "MessageNotFoundException: message does not exist" },
  ["3012"] = { "accepted", "SerialNumberDuplicatedException: a message with this serial number exists "
    .. "(resending under the same serial: already accepted)", duplicate = true },
  ["3013"] = { "rejected", "MessageEmptyException: blank message" },
  ["3014"] = { "rejected", "MessageLengthOverLimitException: over 1000 characters (400 for image type)" },
  ["3015"] = { "rejected", "TemplateNotFoundException: template not found" },
  ["3016"] = { "rejected", "NoMatchedTemplateException: message content does not match the template" },
  ["3018"] = { "failed", "NoSendAvailableException: message could not be sent" },
  ["3019"] = { "failed", "MessageNoUserException: not a KakaoTalk user" },
  ["3020"] = { "failed", "MessageUserBlockedAlimTalkException: AlimTalk blocked by the user" },
  ["3021"] = { "failed", "MessageNotSupportedKakaotalkException: KakaoTalk version too old" },
  ["3022"] = { "rejected", "NoSendAvailableTimeException: outside the sending hours (FriendTalk/marketing "
    .. "08:00-20:00 KST)" },
  ["3023"] = { "rejected", "MessageInvalidVideoException: the video cannot be sent" },
  ["3024"] = { "rejected", "MessageInvalidImageException: the image cannot be sent" },
  ["3025"] = { "rejected", "ExceedMaxVariableLengthException: variable character limit exceeded" },
  ["3026"] = { "rejected", "InvalidExtra(EventName)Exception: button chat_extra/chat_event over limit "
    .. "([A-Za-z0-9_]{1,50})" },
  ["3027"] = { "rejected", "NoMatchedTemplateButtonException: buttons do not match the template" },
  ["3028"] = { "rejected", "NoMatchedTemplateTitleException: highlight title does not match the template" },
  ["3029"] = { "rejected", "ExceedMaxTitleLengthException: highlight title over 50 characters" },
  ["3030"] = { "rejected", "NoMatchedTemplateWithMessageTypeException: message type does not match the "
    .. "template highlight type" },
  ["3031"] = { "rejected", "NoMatchedTemplateHeaderException: header does not match the template (also "
    .. "listed as text type mismatch)" },
  ["3032"] = { "rejected", "ExceedMaxHeaderLengthException: header over 16 characters" },
  ["3033"] = { "rejected", "NoMatchedTemplateItemHighlightException: item highlight does not match" },
  ["3034"] = { "rejected", "ExceedMaxItemHighlightTitleLengthException: item highlight title over 30 "
    .. "characters (21 with image)" },
  ["3035"] = { "rejected", "ExceedMaxItemHighlightDescriptionLengthException: item highlight description "
    .. "over 19 characters (13-14 with image)" },
  ["3036"] = { "rejected", "NoMatchedTemplateItemListException: item list does not match the template" },
  ["3037"] = { "rejected", "ExceedMaxItemDescriptionLengthException: item description over 23 characters" },
  ["3038"] = { "rejected", "NoMatchedTemplateItemSummaryException: item summary does not match" },
  ["3039"] = { "rejected", "ExceedMaxItemSummaryDescriptionLengthException: summary description over 14 "
    .. "characters" },
  ["3040"] = { "rejected", "InvalidItemSummaryDescriptionException: summary description has characters "
    .. "other than currency symbol/code, digits, comma, period, space" },
  ["3041"] = { "rejected", "MessageInvalidWideItemListLengthException: wide item list count out of range" },
  ["3042"] = { "rejected", "NoMatchedTemplateRepresentLinkException: representative link does not match" },
  ["3046"] = { "rejected", "ExceedMaxAdditionalContentLengthException: additional information too long" },
  ["3047"] = { "rejected", "ExceedMaxCommerceTitleLengthException: commerce product name too long" },
  ["3050"] = { "rejected", "MessageNotSupportedUnsubscribeException: opt-out (N type) not supported" },
  ["3051"] = { "rejected", "InvalidateCarouselItemMin/MaxException: carousel item count out of range" },
  ["3052"] = { "rejected", "CarouselMessageLengthOverLimitException: carousel item message too long" },
  ["3056"] = { "rejected", "WideItemListTitleLengthOverLimitException: wide item list title too long" },
  ["3058"] = { "rejected", "CarouselHeaderLengthOverLimitException: carousel header too long" },
  ["3059"] = { "rejected", "MessageNotSupportedCouponException: coupon not supported" },
  ["4000"] = { "uncertain", "ResponseHistoryNotFoundException: delivery result not found" },
  ["4001"] = { "uncertain", "UnknownMessageStatusError: unknown message status" },
  ["7011"] = { "rejected", "Serial number pattern error" },
  ["7014"] = { "failed", "Message validity timeout" },
  ["8512"] = { "rejected", "Recipient type not found" },
  ["8514"] = { "rejected", "request_id not found" },
  ["8520"] = { "rejected", "Unsupported product type" },
  ["8521"] = { "rejected", "Message type not supported" },
  ["8522"] = { "rejected", "Test type not supported" },
  ["8523"] = { "rejected", "Response method not supported" },
  ["8530"] = { "rejected", "Recipient list size error" },
  ["8999"] = { "retryable", "Internal server error" },
  ["9998"] = { "retryable", "Service not currently provided (system problem under investigation)" },
  ["9999"] = { "retryable", "Unknown system problem under investigation" },
}

-- HTTP statuses as the response to a send request (all providers). 500, 502 and 504 may
-- come after the provider took the message, so they are uncertain; 503 and 429 are refusals.
local HTTP = {
  ["200"] = { "accepted", "OK" },
  ["201"] = { "accepted", "Created" },
  ["202"] = { "accepted", "Accepted (delivery request completed)" },
  ["204"] = { "accepted", "No Content (deletion completed)" },
  ["400"] = { "rejected", "Bad Request" },
  ["401"] = { "rejected", "Unauthorized (credentials or token)" },
  ["403"] = { "rejected", "Forbidden" },
  ["404"] = { "rejected", "Not Found" },
  ["408"] = { "retryable", "Request Timeout (the server did not process the request)" },
  ["409"] = { "rejected", "Conflict" },
  ["413"] = { "rejected", "Payload Too Large" },
  ["415"] = { "rejected", "Unsupported Media Type" },
  ["422"] = { "rejected", "Unprocessable Entity" },
  ["429"] = { "retryable", "Too Many Requests (honour Retry-After)" },
  ["500"] = { "uncertain", "Internal Server Error (the message may have been taken)" },
  ["502"] = { "uncertain", "Bad Gateway (the message may have been taken)" },
  ["503"] = { "retryable", "Service Unavailable" },
  ["504"] = { "uncertain", "Gateway Timeout (the message may have been taken)" },
}

local SENS = {
  A000 = { "accepted", "Delivery request success (requestStatusCode)", kind = "request" },
  -- SMS relay results: failover is not attempted for B codes (seed 001)
  B000 = { "retryable", "Prepare to relay failed", kind = "result" },
  B001 = { "failed", "Request to relay failed (relay company delivery failure)", kind = "result" },
  B002 = { "rejected", "Filtering for request to relay failed (invalid request)", kind = "result" },
  B003 = { "rejected", "Invalid phone number format (invalid caller ID format)", kind = "result" },
  B004 = { "quota", "Quota exceeded", kind = "result" },
  B005 = { "failed", "Message processing timeout exceeded", kind = "result" },
  B400 = { "rejected", "Invalid request (message format error)", kind = "result" },
  B999 = { "retryable", "Unexpected server error", kind = "result" },
  -- failover request status codes
  E4000 = { "rejected", "Failover settings are not valid", kind = "failover" },
  E4001 = { "rejected", "Failover settings information is omitted", kind = "failover" },
  E4002 = { "rejected", "Failover SMS service is not configured", kind = "failover" },
  E4003 = { "rejected", "Failover SMS type (SMS, LMS) is not configured", kind = "failover" },
  E4004 = { "rejected", "Failover SMS caller ID is not configured", kind = "failover" },
  E4005 = { "rejected", "Failover SMS title is not configured", kind = "failover" },
  E4006 = { "rejected", "Failover SMS content is not configured", kind = "failover" },
  E4007 = { "rejected", "Failover SMS recipient number is not configured", kind = "failover" },
  E4008 = { "rejected", "Failover SMS service is not available", kind = "failover" },
  E4009 = { "rejected", "Failover SMS caller ID is not authenticated", kind = "failover" },
  E4010 = { "rejected", "Failover SMS free 080 unsubscribe service is not available", kind = "failover" },
  E4999 = { "failed", "Failover settings parsing error (contact support)", kind = "failover" },
  E5000 = { "failed", "Failover internal error (contact support)", kind = "failover" },
  -- reservation status (reserveStatus)
  READY = { "pending", "Reservation waiting to be sent", kind = "reservation" },
  PROCESSING = { "pending", "Reservation being sent", kind = "reservation" },
  CANCELED = { "failed", "Reservation canceled", kind = "reservation" },
  FAIL = { "rejected", "Reserved delivery request failed", kind = "reservation" },
  DONE = { "accepted", "Reserved delivery request succeeded", kind = "reservation" },
  STALE = { "failed", "Reserved delivery request failed (timeout)", kind = "reservation" },
  -- status names (statusName, requestStatusName, messageStatusName)
  success = { "accepted", "success", kind = "status" },
  processing = { "pending", "being processed", kind = "status" },
  reserved = { "pending", "being reserved", kind = "status" },
  fail = { "rejected", "failure", kind = "status" },
  -- failover messageStatus
  COMPLETED = { "delivered", "Failover SMS processing completed", kind = "failover" },
}

local BIZMESSAGE = {
  ["100"] = { "pending", "In processing" },
  ["200"] = { "accepted", "Success" },
  ["400"] = { "rejected", "Authorization error" },
  ["410"] = { "rejected", "Invalid input value" },
  ["420"] = { "rejected", "File/image error" },
  ["500"] = { "uncertain", "Internal system error" },
  ["510"] = { "failed", "Failed to send" },
  ["520"] = { "retryable", "Failed but can be resent" },
  NRM0000 = { "accepted", "Success (detail code)", kind = "detail" },
  NRM00000 = { "accepted", "Success (detail code)", kind = "detail" },
}

local APIPLEX = {
  C100 = { "accepted", "Success" },
  C400_1 = { "rejected", "Invalid data type" },
  C400_2 = { "rejected", "Invalid request parameter" },
  C400_3 = { "rejected", "Missing required parameters" },
  C404_1 = { "rejected", "Unable to find the data" },
  C500_1 = { "uncertain", "Internal server error (may have been accepted: never resend it)" },
  G110 = { "rejected", "API UNIQUE ID exception (invalid URL)" },
  G140 = { "rejected", "Sender number exception" },
  G141 = { "rejected", "Recipient number exception" },
  G142 = { "rejected", "Invalid echo_to_webhook value (over 256 bytes or type error)" },
  G150 = { "quota", "Insufficient credit" },
  G160 = { "quota", "Exceeded the maximum number of transmissions per session" },
}

local SINCH = {
  DELIVERED = { "delivered", "Delivered", kind = "status" },
  FAILED = { "failed", "Failed (see reason)", kind = "status" },
  QUEUED_ON_CHANNEL = { "pending", "Queued on the channel", kind = "status" },
  READ = { "delivered", "Read", kind = "status" },
  SWITCHING_CHANNEL = { "pending", "Switching channel", kind = "status" },
  TEMPLATE_INSUFFICIENT_PARAMETERS = { "rejected", "Template parameters missing; for authentication "
    .. "templates: the text lacks an authentication keyword", kind = "reason" },
  UNSPECIFIED_SUB_CODE = { "failed", "No sub code", kind = "reason" },
  UNKNOWN = { "failed", "Unknown error", kind = "reason" },
  INTERNAL_ERROR = { "retryable", "Sinch internal error", kind = "reason" },
  RATE_LIMITED = { "retryable", "Rate limited", kind = "reason" },
  RECIPIENT_INVALID_CHANNEL_IDENTITY = { "rejected", "Invalid recipient identity", kind = "reason" },
  RECIPIENT_NOT_REACHABLE = { "failed", "Recipient not reachable on the channel", kind = "reason" },
  RECIPIENT_NOT_OPTED_IN = { "failed", "Recipient not opted in", kind = "reason" },
  OUTSIDE_ALLOWED_SENDING_WINDOW = { "rejected", "Outside the allowed sending window", kind = "reason" },
  CHANNEL_FAILURE = { "retryable", "Channel failure", kind = "reason" },
  CHANNEL_BAD_CONFIGURATION = { "rejected", "Channel misconfigured", kind = "reason" },
  CHANNEL_CONFIGURATION_MISSING = { "rejected", "Channel configuration missing", kind = "reason" },
  MEDIA_TYPE_UNSUPPORTED = { "rejected", "Media type not supported", kind = "reason" },
  MEDIA_TOO_LARGE = { "rejected", "Media too large", kind = "reason" },
  MEDIA_NOT_REACHABLE = { "rejected", "Media URL not reachable", kind = "reason" },
  NO_CHANNELS_LEFT = { "failed", "No channels left to try", kind = "reason" },
  TEMPLATE_NOT_FOUND = { "rejected", "Template not found", kind = "reason" },
  TEMPLATE_NON_EXISTING_LANGUAGE_OR_VERSION = { "rejected", "Template language or version not found",
    kind = "reason" },
  DELIVERY_TIMED_OUT = { "failed", "Delivery timed out", kind = "reason" },
  DELIVERY_REJECTED_DUE_TO_POLICY = { "rejected", "Rejected by channel policy", kind = "reason" },
  CONTACT_NOT_FOUND = { "rejected", "Contact not found", kind = "reason" },
  BAD_REQUEST = { "rejected", "Bad request", kind = "reason" },
  UNKNOWN_APP = { "rejected", "Unknown app", kind = "reason" },
  NO_CHANNEL_IDENTITY_FOR_CONTACT = { "rejected", "Contact has no identity on the channel", kind = "reason" },
  CHANNEL_REJECT = { "rejected", "Rejected by the channel", kind = "reason" },
  NO_PERMISSION = { "rejected", "No permission", kind = "reason" },
  NO_PROFILE_AVAILABLE = { "failed", "No profile available", kind = "reason" },
  UNSUPPORTED_OPERATION = { "rejected", "Unsupported operation", kind = "reason" },
}

local ALCMEON = {
  delivered = { "delivered", "Delivered (status webhook)", kind = "status" },
  failed = { "failed", "Failed (status webhook, see error)", kind = "status" },
  Pending = { "pending", "Template under review", kind = "template" },
  Accepted = { "accepted", "Template approved", kind = "template" },
  Rejected = { "rejected", "Template rejected", kind = "template" },
}

-- Per provider: own table first, then the shared Kakao table where the provider reports
-- Kakao's codes, then HTTP statuses.
local PROVIDERS = {
  sens = { SENS, KAKAO, HTTP },
  bizmessage = { BIZMESSAGE, KAKAO, HTTP },
  apiplex = { APIPLEX, KAKAO, HTTP },
  sinch = { SINCH, HTTP },
  alcmeon = { ALCMEON, KAKAO, HTTP },
  kakao = { KAKAO },
  http = { HTTP },
}

local function kind_of(tbl, e)
  if e.kind then return e.kind end
  if tbl == KAKAO then return "result" end
  if tbl == HTTP then return "http" end
  return "request"
end

local cache = {}

--- Look a code up.
-- @tparam string provider `sens`, `bizmessage`, `apiplex`, `sinch`, `alcmeon` (or `kakao`, `http`)
-- @param code the code (string or number, e.g. `"3016"`, `202`, `"C400_2"`, `"API_200"`)
-- @tparam[opt] string kind `"http"` to read `code` as an HTTP status (BizMessage's body codes
-- 200..520 share numbers with HTTP statuses)
-- @treturn table `{ code =, provider =, meaning =, class =, kind =, duplicate = }` or nil
function _M.lookup(provider, code, kind)
  if code == nil then return nil end
  code = tostring(code)
  local key = provider .. "\0" .. code .. "\0" .. (kind or "")
  local hit = cache[key]
  if hit then return hit end
  local chain = PROVIDERS[provider]
  if not chain then error("codes.lookup: unknown provider " .. tostring(provider), 2) end
  if kind == "http" then chain = { HTTP } end
  for _, tbl in ipairs(chain) do
    local e = tbl[code]
    if e then
      hit = { code = code, provider = provider, class = e[1], meaning = e[2], kind = kind_of(tbl, e),
        duplicate = e.duplicate or nil }
      break
    end
  end
  -- BizMessage status_code values are the body codes prefixed with API_ (seed 003: API_200)
  if not hit and provider == "bizmessage" then
    local n = code:match("^API_(%d+)$")
    local e = n and BIZMESSAGE[n]
    if e then
      -- as a message status, 200 means the message reached the recipient
      hit = { code = code, provider = provider, class = n == "200" and "delivered" or e[1],
        meaning = e[2], kind = "status" }
    end
  end
  if hit then cache[key] = hit end
  return hit
end

--- The outcome class of a code, or nil when the code is unknown.
-- @treturn string `accepted`, `rejected`, `retryable`, `uncertain`, `quota`, `delivered`,
-- `failed` or `pending`
function _M.class(provider, code, kind)
  local e = _M.lookup(provider, code, kind)
  return e and e.class or nil
end

--- Every code known for a provider (for documentation and tests).
-- @treturn table list of entries as returned by `lookup`, sorted by code
function _M.list(provider)
  local out, seen = {}, {}
  local chain = PROVIDERS[provider]
  if not chain then error("codes.list: unknown provider " .. tostring(provider), 2) end
  for _, tbl in ipairs(chain) do
    for code in pairs(tbl) do
      if not seen[code] then
        seen[code] = true
        out[#out + 1] = _M.lookup(provider, code, tbl == HTTP and "http" or nil)
      end
    end
  end
  table.sort(out, function(a, b) return a.code < b.code end)
  return out
end

return _M
