-- Failover: SENS first, then a second provider when SENS certainly did not take the message.
--
-- As is, SENS points at a closed local port (a provider that is down), so every message is
-- `not_sent` there and fails over to the embedded sandbox; the routing decisions printed show
-- why. Point SENS_BASE_URL (and the keys, see quickstart.lua) at a real endpoint or the sandbox
-- server to see it taken by SENS instead. A message whose outcome at SENS is `uncertain` is
-- never failed over: it may have been sent.
local alimtalk = require "alimtalk"

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."

local function closed_port()
  -- Port 9 (discard) is not served on loopback here; connection refused = nothing sent.
  return "http://127.0.0.1:9"
end

local client = assert(alimtalk.new{
  providers = {
    sens = {
      base_url = os.getenv("SENS_BASE_URL") or closed_port(),
      service_id = os.getenv("SENS_SERVICE_ID") or "ncp:kkobizmsg:kr:0000001:demo",
      plus_friend_id = os.getenv("SENS_PLUS_FRIEND_ID") or "@demo",
      access_key = os.getenv("NCP_ACCESS_KEY") or "demo-access-key",
      secret_key = os.getenv("NCP_SECRET_KEY") or "demo-secret-key",
      ca_file = os.getenv("SENS_CA_FILE"),
      connect_timeout = 1, timeout = 5,
    },
    sandbox = { profile = "sens", outbox = os.getenv("ALIMTALK_OUTBOX") or os.tmpname() },
  },
  route = { order = { "sens", "sandbox" }, failures = 3, cooldown = 30 },
  retry = { max_attempts = 2, base_delay = 0.05 },
  templates = here .. "/templates.json",
})

local msgs = {}
for i = 1, 3 do
  msgs[i] = { id = "failover-demo-" .. i, to = "010-1234-567" .. i, template = "order_shipped",
              vars = { name = "고객" .. i, order = "A-100" .. i, courier = "우체국택배",
                       invoice = "630211472231" .. i } }
end

local exit = 0
for _, r in ipairs(client:send_batch(msgs)) do
  print(("%s: %s via %s (%s), %d attempt(s)"):format(r.id, r.status, tostring(r.provider),
        tostring(r.code), r.attempts))
  for _, d in ipairs(r.routing) do
    print(("    %-8s %-9s %s"):format(d.provider, d.decision, d.reason or
          (tostring(d.status) .. " " .. tostring(d.code))))
  end
  if r.status ~= "accepted" then exit = 1 end
end
client:close()
os.exit(exit)
