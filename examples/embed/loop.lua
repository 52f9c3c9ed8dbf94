-- Part 2 of the embedded host: run by `alimtalk-embed --loop loop.lua [N]`. The host owns the
-- event loop; this script starts N sends without blocking (client:submit) and, on each tick
-- of the host's loop, collects what finished with client:poll(0), which never waits.
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
-- luacheck: read globals host
local client = dofile(here .. "/client.lua")()

local n = tonumber(host.args[1]) or 5
local accepted, finished, busy_ticks = 0, 0, 0
local script = {}

function script.start()
  for i = 1, n do
    local h, err = client:submit{ to = ("010-3000-%04d"):format(i), template = "order_shipped",
      vars = { name = "고객" .. i, order = "B" .. i, courier = "우체국택배",
               invoice = ("%013d"):format(6302114800000 + i) } }
    if not h then error("message " .. i .. " refused: " .. tostring(err)) end
  end
  print(("submitted %d sends; %d in flight"):format(n, client:pending()))
end

--- One tick of the host's loop: never blocks. Returns true when every send finished.
function script.tick(t)
  if client:pending() > 0 then busy_ticks = busy_ticks + 1 end
  for _, f in ipairs(client:poll(0)) do
    finished = finished + 1
    local r = f.result
    if r.status == "accepted" then accepted = accepted + 1 end
    print(("tick %d: send %d %s via %s (%s)"):format(t, f.handle, r.status, r.provider, tostring(r.code)))
  end
  if client:pending() == 0 then
    print(("ticks while sends were in flight: %d"):format(busy_ticks))
    print(("finished %d, accepted %d"):format(finished, accepted))
    client:close()
    return true
  end
  return false
end

return script
