-- Client benchmark against the sandbox server (plain http on loopback, keep-alive), measured
-- with its baselines in the same run:
--   1. sequential single sends/s through the SENS client (validation, rendering, JSON, a fresh
--      signature per request, HTTP, parsing the answer) vs a C libcurl loop replaying one
--      request the client signed (bench/c/sens_signed_loop.c, compiled now)   goal >= 0.8x
--   2. bulk: 100,000 messages through send_batch (SENS batches of 100, 8 requests in flight)
--      vs a Node script doing the same rendering, JSON, signing and requests with fetch
--      (bench/node/sens_bulk.js)                                               goal >= 3x
-- BENCH_SECONDS (default 3) bounds the sequential runs; BENCH_BULK (default 100000) the bulk.
local server = require "alimtalk.sandbox.server"
local alimtalk = require "alimtalk"
local cjson = require "cjson"

local root = server.lua_root():gsub("/lua$", "")
local SECONDS = tonumber(os.getenv("BENCH_SECONDS")) or 3
local BULK = tonumber(os.getenv("BENCH_BULK")) or 100000

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  local ok = p:close()
  return out, ok
end

local function now()
  return require("alimtalk.core").monotonic()
end

local function shipped(i)
  return { to = string.format("010%08d", 10000000 + i % 90000000), template = "order_shipped",
           vars = { name = "고객" .. i, order = "A" .. i, courier = "우체국택배",
                    invoice = string.format("%013d", 6302114700000 + i) } }
end

local s = assert(server.start{ templates = root .. "/spec/fixtures/templates.json", tls = false,
                               delivery_delay = 3600, shm_size = "512m" })
local ok, err = pcall(function()
  local c = s.credentials.sens
  local client = assert(alimtalk.new{ provider = "sens",
    templates = root .. "/spec/fixtures/templates.json",
    sens = { base_url = s.http_url, access_key = c.access_key, secret_key = c.secret_key,
             service_id = c.service_id, plus_friend_id = c.plus_friend_id, timeout = 30 } })

  -- 1. sequential single sends: the same message each time, as the C loop replays one request
  -- (the emulator's work then matches; a fresh message table per send, as a caller would make)
  for _ = 1, 200 do assert(client:send(shipped(1)).status == "accepted") end -- warm up
  local n, t0 = 0, now()
  repeat
    n = n + 1
    local r = client:send(shipped(1))
    assert(r.status == "accepted", r.code)
  until now() - t0 >= SECONDS
  local lua_rate = n / (now() - t0)

  local bin = root .. "/build/bench/sens_signed_loop"
  assert(os.execute("mkdir -p '" .. root .. "/build/bench' && gcc -std=c99 -O2 -Wall -Wextra -Werror -o '"
    .. bin .. "' '" .. root .. "/bench/c/sens_signed_loop.c' -lcurl"), "cannot compile sens_signed_loop.c")
  local p = client:provider("sens")
  local entry = p:prepare(shipped(1), client.registry:get("order_shipped"), "ORDER_SHIPPED")
  local req = p:build({ entry })
  local hfile, bfile = os.tmpname(), os.tmpname()
  local hf = assert(io.open(hfile, "w"))
  for k, v in pairs(req.headers) do hf:write(k, ": ", v, "\n") end
  hf:close()
  local bf = assert(io.open(bfile, "wb"))
  bf:write(req.body)
  bf:close()
  sh(string.format("'%s' '%s' '%s' '%s' 200 10", bin, req.url, hfile, bfile))  -- warm up
  local out = sh(string.format("'%s' '%s' '%s' '%s' 100000000 %s", bin, req.url, hfile, bfile, SECONDS))
  os.remove(hfile)
  os.remove(bfile)
  local accepted, count, secs = out:match("^(%d+) (%d+) ([%d.]+)")
  assert(accepted and tonumber(accepted) == tonumber(count), "C loop failed: " .. out)
  local c_rate = tonumber(count) / tonumber(secs)
  print(string.format("sequential SENS sends: client %.0f/s, C libcurl loop %.0f/s, "
    .. "ratio %.2fx (goal >= 0.8x)", lua_rate, c_rate, lua_rate / c_rate))

  -- 2. bulk
  assert(s:reset())
  local msgs = {}
  for i = 1, BULK do msgs[i] = shipped(i) end
  t0 = now()
  local rs = client:send_batch(msgs, { concurrency = 8 })
  local bulk_secs = now() - t0
  local acc = 0
  for _, r in ipairs(rs) do if r.status == "accepted" then acc = acc + 1 end end
  assert(acc == BULK, "bulk: only " .. acc .. " accepted")
  local lua_bulk = BULK / bulk_secs
  client:close()

  local node_line
  if os.execute("command -v node >/dev/null 2>&1") then
    assert(s:reset())
    out = sh(string.format(
      "SENS_SECRET_KEY='%s' node '%s/bench/node/sens_bulk.js' '%s' '%s' '%s' '%s' %d 8 2>&1",
      c.secret_key, root, s.http_url, c.service_id, c.plus_friend_id, c.access_key, BULK))
    local res = cjson.decode(out:match("{.*}") or "null")
    assert(res and res.accepted == BULK, "node bulk failed: " .. out)
    local node_bulk = BULK / res.seconds
    node_line = string.format(", Node fetch %.0f msgs/s, ratio %.2fx (goal >= 3x)", node_bulk,
                              lua_bulk / node_bulk)
  else
    node_line = ", Node not installed: no baseline"
  end
  print(string.format("bulk %d messages (SENS batches of 100, 8 in flight): client %.0f msgs/s%s",
                      BULK, lua_bulk, node_line))
end)
s:stop()
if not ok then error(err, 0) end
