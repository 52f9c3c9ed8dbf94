-- Part 1 of the embedded host: a user's script, run by `alimtalk-embed send.lua [N]`, that
-- sends N order notices (default 3) with the ordinary blocking API and prints each result.
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
-- luacheck: read globals host
local client = dofile(here .. "/client.lua")()

local n = tonumber(host.args[1]) or 3
local msgs = {}
for i = 1, n do
  msgs[i] = { id = ("embed-%d-%d"):format(os.time(), i), to = ("010-2000-%04d"):format(i),
              template = "order_shipped",
              vars = { name = "고객" .. i, order = "A" .. i, courier = "우체국택배",
                       invoice = ("%013d"):format(6302114700000 + i) } }
end
local accepted = 0
for i, r in ipairs(client:send_batch(msgs)) do
  print(("message %d: %s via %s (%s)"):format(i, r.status, r.provider, tostring(r.code)))
  if r.status == "accepted" then accepted = accepted + 1 end
end
client:close()
print(("sent %d, accepted %d"):format(n, accepted))
return accepted == n
