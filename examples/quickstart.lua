-- Quickstart: send one AlimTalk and print the result.
--
-- With no settings it uses the embedded sandbox (nothing leaves the machine). To send through
-- NAVER Cloud SENS (or the sandbox server, which speaks SENS), set:
--   SENS_BASE_URL   e.g. https://sens.apigw.ntruss.com or the sandbox server's https URL
--   SENS_SERVICE_ID, SENS_PLUS_FRIEND_ID, NCP_ACCESS_KEY, NCP_SECRET_KEY
--   SENS_CA_FILE    (optional) CA bundle, e.g. the sandbox server's CA
local alimtalk = require "alimtalk"

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local opts = { templates = here .. "/templates.json" }
if os.getenv("SENS_BASE_URL") then
  opts.provider = "sens"
  opts.sens = {
    base_url = os.getenv("SENS_BASE_URL"),
    service_id = os.getenv("SENS_SERVICE_ID"),
    plus_friend_id = os.getenv("SENS_PLUS_FRIEND_ID"),
    access_key_env = "NCP_ACCESS_KEY",      -- secrets come from the environment
    secret_key_env = "NCP_SECRET_KEY",
    ca_file = os.getenv("SENS_CA_FILE"),
  }
else
  opts.sandbox = { outbox = os.getenv("ALIMTALK_OUTBOX") or os.tmpname() }
end

local client = assert(alimtalk.new(opts))
local result, err = client:send{
  id = "quickstart-" .. os.time(),
  to = "010-1234-5678",
  template = "payment_done",
  vars = { name = "홍길동", amount = "39,000", paid_at = "2026-11-21 10:00", receipt = "R-7781" },
}
if not result then
  print("invalid message: " .. tostring(err))
  os.exit(1)
end
print(("%s via %s: %s %s (message id %s, %d attempt(s))"):format(result.status, result.provider,
  tostring(result.code), tostring(result.message), tostring(result.ids.message_id), result.attempts))
client:close()
os.exit(result.status == "accepted" and 0 or 1)
