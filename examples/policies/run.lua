-- Run one of the worked policies of docs/policies.md against a sandbox server of its own:
--
--     lua5.4 examples/policies/run.lua otp_verify | split | quiet_hours
--
-- It starts the sandbox server (nginx on loopback, the providers' APIs with their default
-- credentials, see docs/sandbox.md), makes a client with SENS, API PLEX (at-verify),
-- BizMessage and Sinch pointed at it and the policy file, sends a few messages, prints each
-- result with its routing decisions, and exits 0 when the policy did what docs/policies.md
-- says (1 when not).
local alimtalk = require "alimtalk"
local server = require "alimtalk.sandbox.server"

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local name = arg and arg[1]
local POLICIES = { otp_verify = true, split = true, quiet_hours = true }
if not POLICIES[name] then
  io.stderr:write("usage: run.lua otp_verify | split | quiet_hours\n")
  os.exit(2)
end
local templates = here .. "/../templates.json"

local s = assert(server.start{ templates = templates })

local function client(now)
  return assert(alimtalk.new{
    providers = {
      sens = s:client_options("sens"),
      apiplex = s:client_options("apiplex", { service_id = "at-verify",
        failback_api_unique_id = "sandbox-failback", failback_secret_key = "sandbox-failback-key" }),
      bizmessage = s:client_options("bizmessage", { sender_no = "0212345678" }),
      sinch = s:client_options("sinch"),
    },
    route = { "sens", "apiplex", "bizmessage", "sinch" },
    templates = templates,
    retry = { max_attempts = 1 },
    policy = here .. "/" .. name .. ".lua",
    now = now,
  })
end

local function show(r)
  print(("%s: %s via %s (%s)%s"):format(tostring(r.id), r.status, tostring(r.provider),
        tostring(r.code), r.held_until and ("; " .. r.message) or ""))
  for _, d in ipairs(r.routing) do
    print(("    %-9s %s"):format(d.decision, d.providers and table.concat(d.providers, ", ")
          or d.decision == "hold" and d.reason
          or (tostring(d.provider) .. " " .. tostring(d.status or d.reason or ""))))
  end
end

local failed = {}
local function expect(ok, what) if not ok then failed[#failed + 1] = what end end

local function code(i)
  return { id = "otp-" .. i, to = "010-3000-000" .. i, template = "login_code",
           vars = { code = string.format("%06d", 424242 + i) } }
end
local function shipped(i)
  return { id = "order-" .. i, to = string.format("010-4000-%04d", i), template = "order_shipped",
           vars = { name = "고객" .. i, order = "A-" .. i, courier = "우체국택배",
                    invoice = string.format("%013d", 6302114700000 + i) } }
end

if name == "otp_verify" then
  local c = client()
  local rs = c:send_batch({ code(1), shipped(1) })
  for _, r in ipairs(rs) do show(r) end
  expect(rs[1].status == "accepted" and rs[1].provider == "apiplex", "a code goes through API PLEX")
  expect(rs[2].status == "accepted" and rs[2].provider == "sens", "the rest goes through SENS")
  -- API PLEX down: the code fails over to SENS, with the short SMS text
  assert(s:fault{ provider = "apiplex", kind = "status", status = 503, retry_after = 0 })
  local r = c:send(code(2))
  show(r)
  expect(r.status == "accepted" and r.provider == "sens", "a code fails over to SENS")
  local box = s:outbox{ provider = "sens", to = "01030000002" } or {}
  expect(#box == 1, "SENS has the code")
  c:close()
elseif name == "split" then
  local c = client()
  local msgs = {}
  for i = 1, 200 do msgs[i] = shipped(i) end
  local n = { sens = 0, bizmessage = 0 }
  local rs = c:send_batch(msgs)
  for _, r in ipairs(rs) do
    if r.status == "accepted" then n[r.provider] = (n[r.provider] or 0) + 1 end
  end
  show(rs[1])
  print(("sens %d, bizmessage %d of %d"):format(n.sens, n.bizmessage, #msgs))
  expect(n.sens + n.bizmessage == #msgs, "every message accepted")
  expect(n.bizmessage >= 8 and n.bizmessage <= 35, "about 10% through BizMessage")
  -- sent again, each message goes the same way
  local again = c:send_batch({ msgs[1], msgs[2], msgs[3] })
  for k = 1, 3 do expect(again[k].provider == rs[k].provider, "a resend goes the same way") end
  c:close()
else
  local night = 1796569200 + 22 * 3600 + 1800   -- 2026-12-07 22:30 KST
  local day = 1796569200 + 10 * 3600            -- 2026-12-07 10:00 KST
  local ad = { id = "ft-1", to = "010-5000-0001", kind = "friendtalk", content = "(광고) 주말 특가 안내" }
  local c = client(function() return night end)
  local rs = c:send_batch({ ad, shipped(1) })
  for _, r in ipairs(rs) do show(r) end
  expect(rs[1].status == "not_sent" and rs[1].code == "POLICY_HOLD", "FriendTalk held at night")
  expect(rs[1].held_until == 1796688000,   -- 2026-12-08 09:00 KST
         "held until 09:00 KST")
  expect(rs[2].status == "accepted" and rs[2].provider == "sens", "AlimTalk goes at night")
  c:close()
  c = client(function() return day end)
  local r = c:send(ad)
  show(r)
  expect(r.status == "accepted" and r.provider == "sinch", "FriendTalk sent in the day")
  c:close()
end

s:stop()
for _, f in ipairs(failed) do io.stderr:write("not as documented: ", f, "\n") end
os.exit(#failed == 0 and 0 or 1)
