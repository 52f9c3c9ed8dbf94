-- Webhook receiver: verify Sinch delivery reports (HMAC signature, timestamp window, nonce)
-- and API PLEX result webhooks (echo token), turning both into the same delivery events.
--
-- `handle(provider, headers, raw_body)` is what a web handler calls with the request as
-- received (see examples/openresty/ for one inside nginx). Run as a script it checks captured
-- requests: with SANDBOX_URL and SANDBOX_SINK set, every webhook the sandbox server posted to
-- its sink of that name; otherwise a signed example of each kind made here, plus a forged one
-- that must be refused. Secrets come from the environment: SINCH_WEBHOOK_SECRET and
-- APIPLEX_ECHO_TOKEN (demo values are used when unset).
local cjson = require "cjson"

local receivers = {}

--- Verify and parse one webhook request.
-- @treturn integer HTTP status to answer (200, or 401 when refused), then the events or the error
local function handle(provider, headers, body)
  local r = receivers[provider]
  if not r then
    local err
    r, err = require("alimtalk.webhook." .. provider).new()
    if not r then return 500, err end
    receivers[provider] = r -- keep it: Sinch nonces are remembered between requests
  end
  local events, err = r:parse(headers, body)
  if not events then return 401, err end
  return 200, events.status and { events } or events
end

local function show(provider, status, res)
  if status ~= 200 then
    print(("%s webhook refused (%d): %s"):format(provider, status, tostring(res)))
    return
  end
  for _, ev in ipairs(res) do
    local ids = ev.ids or {}
    print(("%s %s %s: %s (code %s)"):format(provider, ev.kind or "delivery",
      tostring(ids.msg_key or ids.message_id or ids.uid or "?"), tostring(ev.status), tostring(ev.code)))
  end
end

local sandbox_url, sink = os.getenv("SANDBOX_URL"), os.getenv("SANDBOX_SINK")
if sandbox_url and sink then
  -- Everything the sandbox server posted to its sink: check each as a receiver would.
  local http = require("alimtalk.core").http_client({ timeout = 10 })
  local resp = assert(http:request({ method = "GET", url = sandbox_url .. "/_sandbox/sink/" .. sink }))
  http:close()
  local calls = cjson.decode(resp.body)
  local accepted = 0
  for _, call in ipairs(calls) do
    local provider = call.headers["x-sinch-webhook-signature"] and "sinch" or "apiplex"
    local status, res = handle(provider, call.headers, call.body)
    show(provider, status, res)
    if status == 200 then accepted = accepted + 1 end
  end
  print(("%d of %d captured webhooks verified"):format(accepted, #calls))
  os.exit((#calls > 0 and accepted == #calls) and 0 or 1)
end

-- No sandbox: sign examples here with the same secrets the receivers use.
local core = require "alimtalk.core"
local secret = os.getenv("SINCH_WEBHOOK_SECRET")
if not secret then
  secret = "demo-sinch-webhook-secret"
  receivers.sinch = assert(require("alimtalk.webhook.sinch").new{ secret = secret })
end
local token = os.getenv("APIPLEX_ECHO_TOKEN")
if not token then
  token = "demo-echo-token"
  receivers.apiplex = assert(require("alimtalk.webhook.apiplex").new{ echo_token = token })
end

local body = cjson.encode({ app_id = "APP", message_delivery_report = {
  message_id = "01HEXAMPLE", status = "DELIVERED",
  channel_identity = { channel = "KAKAOTALK", identity = "01012345678" } } })
local ts, nonce = tostring(os.time()), core.hex(core.random_bytes(8))
local headers = {
  ["x-sinch-webhook-signature"] = core.sinch_signature(secret, body, nonce, ts),
  ["x-sinch-webhook-signature-timestamp"] = ts,
  ["x-sinch-webhook-signature-nonce"] = nonce,
  ["x-sinch-webhook-signature-algorithm"] = "HmacSHA256",
}
local s1, r1 = handle("sinch", headers, body)
show("sinch", s1, r1)
local s2, r2 = handle("sinch", headers, body)           -- the same request again: a replay
show("sinch", s2, r2)
local ap = cjson.encode({ results = { { msg_key = "order-1001", code = "0000", desc = "success",
                                        echo_to_webhook = token } } })
local s3, r3 = handle("apiplex", {}, ap)
show("apiplex", s3, r3)
local forged = ap:gsub(token:gsub("%p", "%%%0"), "forged")
local s4, r4 = handle("apiplex", {}, forged)
show("apiplex", s4, r4)
os.exit((s1 == 200 and s2 == 401 and s3 == 200 and s4 == 401) and 0 or 1)
