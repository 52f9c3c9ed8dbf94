--- alimtalk: send KakaoTalk AlimTalk through NAVER Cloud SENS, Kakao i Connect BizMessage,
-- API PLEX or Sinch, with pre-flight validation, safe retries, failover and an embedded sandbox.
--
--     local alimtalk = require "alimtalk"
--     local client = assert(alimtalk.new{
--       provider = "sens",
--       sens = { access_key = "...", secret_key_env = "NCP_SECRET_KEY",
--                service_id = "ncp:kkobizmsg:kr:123:shop", plus_friend_id = "@shop" },
--       templates = "templates.json",
--     })
--     local result, err = client:send{ to = "010-1234-5678", template = "order_shipped",
--                                      vars = { name = "홍길동" }, id = "order-1001-shipped" }
--
-- See docs/providers.md for every provider's options, the result shape, retries and failover.
-- @module alimtalk
local _M = { _VERSION = "0.1.0" }

--- The formatters Korean notices use (won amounts, KST dates, masking, cutting): `alimtalk.format`.
_M.format = require "alimtalk.format"

--- Make a client.
-- @tparam[opt] table opts
--   `provider` ("sens" | "bizmessage" | "apiplex" | "sinch" | "sandbox"), and that provider's
--   options under its name (`sens = {...}`); or several under `providers = {...}` (or by name)
--   with `route = { "sens", "bizmessage" }` (order) or
--   `route = { weights = { sens = 3, bizmessage = 1 }, failures = 5, cooldown = 30 }`;
--   `templates` (registry JSON path or table), `retry` (see alimtalk.retry),
--   `concurrency` (requests in flight in send_batch, default 8), `transport` (an object with
--   request/request_many, for every provider), `validate` (false skips pre-flight checks),
--   `metrics` (an `alimtalk.metrics` collector: message, request and latency counts),
--   `on_result` (function(result) called once per final result; see docs/metrics.md),
--   `policy` (a Lua policy file or a table of hooks: route, prepare, fallback, after_result,
--   on_event; see alimtalk.policy and docs/policies.md).
--   With no provider at all, the embedded sandbox is used.
-- @treturn table client, or nil and an error (a required setting missing)
function _M.new(opts)
  return require("alimtalk.client").new(opts)
end

return _M
