-- make demo: send a realistic templated AlimTalk end to end through the embedded sandbox
-- provider (in-process; nothing leaves this machine), then show what the handset would
-- display, the result the client returned, and the simulated delivery event.
local alimtalk = require "alimtalk"
local outbox = require "alimtalk.outbox"

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local outbox_path = os.getenv("ALIMTALK_OUTBOX") or os.tmpname()

local client = assert(alimtalk.new{
  provider = "sandbox",
  -- validated as BizMessage would validate it; like BizMessage, it dedupes the serial (cid)
  sandbox = { profile = "bizmessage", outbox = outbox_path },
  templates = here .. "/templates.json",
})

local message = {
  id = "order-20261121-1001-shipped",      -- our serial (BizMessage cid): a resend is not a second send
  to = "010-1234-5678",
  template = "order_shipped",
  vars = { name = "홍길동", order = "20261121-1001", courier = "우체국택배",
           invoice = "6302114722318" },
}

local result, err = client:send(message)
if not result then
  io.stderr:write("not sent: ", tostring(err), "\n")
  os.exit(1)
end

print("== what the recipient's KakaoTalk shows")
local records = outbox.read(outbox_path)
print(outbox.handset(records[#records]))

print("\n== result")
print(string.format("status   %s", result.status))
print(string.format("provider %s (validated as %s)", result.provider, client:provider().profile))
print(string.format("code     %s %s", tostring(result.code), tostring(result.message)))
print(string.format("ids      request_id=%s message_id=%s", tostring(result.ids.request_id),
                    tostring(result.ids.message_id)))
print(string.format("attempts %d", result.attempts))

local again = client:send(message)
print(string.format("\n== the same serial sent again: %s, code %s (duplicate=%s): %s",
                    again.status, tostring(again.code), tostring(again.duplicate),
                    again.duplicate and "BizMessage dedupes the cid, delivered once"
                    or "a second message"))

print("\n== delivery report")
for _, ev in ipairs(client:poll_events()) do
  print(string.format("%s %s code=%s", ev.ids.message_id, ev.status, tostring(ev.code)))
end

print("\noutbox: " .. outbox_path)
client:close()
if result.status ~= "accepted" then os.exit(1) end
