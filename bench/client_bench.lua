-- bench-runtimes: lua5.4 luajit
-- Client benchmark against the sandbox server (plain http on loopback, keep-alive), measured
-- with its baselines in the same run:
--   1. sequential single sends/s through the SENS client (validation, rendering, JSON, a fresh
--      signature per request, HTTP, parsing the answer) vs a C libcurl loop replaying one
--      request the client signed (bench/c/sens_signed_loop.c, compiled now)   goal >= 0.8x
--      on Lua 5.4, 0.9x on LuaJIT;
--      with where the gap goes (that request through alimtalk.core alone; sends with
--      `validate = false`) and the same comparison against a 5 ms answer delay
--      (>= 0.97x on both against the 5 ms delay)
--   2. bulk: 100,000 messages through send_batch (SENS batches of 100, 8 requests in flight)
--      vs a Node script doing the same rendering, JSON, signing and requests with fetch
--      (bench/node/sens_bulk.js)                                               goal >= 3x;
--      client CPU per message <= Node's on Lua 5.4, <= half of it on LuaJIT; and vs the
--      minimal path (bench/minimal_path.lua: the same work by hand, no HTTP)
-- The bulk lines also print CPU time per message: the client process (os.clock), the Node
-- process (process.cpuUsage) and the sandbox's nginx workers (/proc), so it shows which side
-- bounds the rate on this machine's 2 cores.
-- Both sides run in alternating rounds and the best round of each side is compared (this
-- machine's cores are shared with other work, which would otherwise skew whichever side it
-- happened to hit); the sequential line also gives the median of each round's own ratio.
-- BENCH_SECONDS (default 4) is each side's total sequential time, in BENCH_ROUNDS (default 8)
-- rounds; BENCH_BULK (default 100000) messages per bulk run, in
-- BENCH_BULK_ROUNDS (default 3) rounds per side.
local server = require "alimtalk.sandbox.server"
local alimtalk = require "alimtalk"
local cjson = require "cjson"

local root = server.lua_root():gsub("/lua$", "")
local SECONDS = tonumber(os.getenv("BENCH_SECONDS")) or 4
local BULK = tonumber(os.getenv("BENCH_BULK")) or 100000
local ROUNDS = tonumber(os.getenv("BENCH_ROUNDS")) or 8
local BULK_ROUNDS = tonumber(os.getenv("BENCH_BULK_ROUNDS")) or 3

-- Issue 14's goals, per runtime (LuaJIT's are the stricter)
local JIT = rawget(_G, "jit") ~= nil
local SEQ_GOAL = JIT and 0.9 or 0.8          -- sequential sends / the C loop, loopback
local DELAY_GOAL = 0.97                      -- the same with a 5 ms answer
local CPU_GOAL = JIT and 0.5 or 1.0          -- client CPU per bulk message / Node's
local function verdict(ok) return ok and "met" or "missed" end

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  local ok = p:close()
  return out, ok
end

local function now()
  return require("alimtalk.core").monotonic()
end

-- CPU seconds the sandbox's nginx workers have used so far (utime + stime from /proc).
local TICKS = tonumber((sh("getconf CLK_TCK"))) or 100
local function server_cpu(s)
  local total = 0
  for pid in sh("pgrep -P " .. s:pid()):gmatch("%d+") do
    local f = io.open("/proc/" .. pid .. "/stat")
    if f then
      local stat = f:read("*a")
      f:close()
      -- fields after the ")" that ends the command name: state is 3rd, utime 14th, stime 15th
      local rest = stat:match("%) (.*)$")
      local fields = {}
      for x in rest:gmatch("%S+") do fields[#fields + 1] = x end
      total = total + (tonumber(fields[12]) + tonumber(fields[13])) / TICKS
    end
  end
  return total
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
  local function sens_client(validate)
    return assert(alimtalk.new{ provider = "sens", validate = validate,
      templates = root .. "/spec/fixtures/templates.json",
      sens = { base_url = s.http_url, access_key = c.access_key, secret_key = c.secret_key,
               service_id = c.service_id, plus_friend_id = c.plus_friend_id, timeout = 30 } })
  end
  local client = sens_client(true)

  -- 1. sequential single sends: the same message each time, as the C loop replays one request
  -- (the emulator's work then matches; a fresh message table per send, as a caller would make)
  local function send_round(cl, secs)
    local n, t0 = 0, now()
    repeat
      n = n + 1
      local r = cl:send(shipped(1))
      assert(r.status == "accepted", r.code)
    until now() - t0 >= secs
    return n / (now() - t0)
  end
  local function lua_round(secs) return send_round(client, secs) end
  send_round(client, 0.2)  -- warm up

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
  local function c_round(secs)
    local out = sh(string.format("'%s' '%s' '%s' '%s' 100000000 %s", bin, req.url, hfile, bfile, secs))
    local accepted, count, took = out:match("^(%d+) (%d+) ([%d.]+)")
    assert(accepted and tonumber(accepted) == tonumber(count), "C loop failed: " .. out)
    return tonumber(count) / tonumber(took)
  end
  c_round(0.2)  -- warm up

  -- Where the gap to the C loop goes, measured in the same rounds: the same signed request
  -- through the client's own HTTP layer (alimtalk.core, no per-send Lua work), and sends
  -- through a client made with `validate = false` (rendering, JSON, signing and parsing, but
  -- no pre-flight checks).
  local transport = p.transport
  local function core_round(secs)
    local n, t0 = 0, now()
    repeat
      n = n + 1
      local resp = transport:request(req)
      assert(resp and resp.status == 202, "core request failed")
    until now() - t0 >= secs
    return n / (now() - t0)
  end
  local unchecked = sens_client(false)
  local function unchecked_round(secs) return send_round(unchecked, secs) end
  unchecked_round(0.2)  -- warm up

  local function median(t)
    table.sort(t)
    local mid = math.floor(#t / 2)
    return #t % 2 == 1 and t[mid + 1] or (t[mid] + t[mid + 1]) / 2
  end
  local lua_best, c_best, lua_all, c_all, ratios = 0, 0, {}, {}, {}
  local core_ratios, unchecked_ratios = {}, {}
  local secs = SECONDS / ROUNDS
  for i = 1, ROUNDS do
    local l, cr, co, un
    if i % 2 == 1 then
      l = lua_round(secs) cr = c_round(secs) co = core_round(secs) un = unchecked_round(secs)
    else
      un = unchecked_round(secs) co = core_round(secs) cr = c_round(secs) l = lua_round(secs)
    end
    lua_all[i], c_all[i] = string.format("%.0f", l), string.format("%.0f", cr)
    lua_best, c_best = math.max(lua_best, l), math.max(c_best, cr)
    ratios[i], core_ratios[i], unchecked_ratios[i] = l / cr, co / cr, un / cr
  end
  -- Also the median of the rounds' own ratios (as core_bench does): other work on the machine
  -- slows both sides of a round alike, and the median drops the rounds it hit unevenly.
  print(string.format("sequential SENS sends: client %.0f/s, C libcurl loop %.0f/s, "
    .. "ratio %.2fx best vs best, %.2fx median of the rounds' ratios (goal >= %.2fx: %s)  "
    .. "[%d rounds each; client %s; C %s]", lua_best, c_best, lua_best / c_best, median(ratios),
    SEQ_GOAL, verdict(median(ratios) >= SEQ_GOAL),
    ROUNDS, table.concat(lua_all, " "), table.concat(c_all, " ")))
  print(string.format("  the same rounds, medians of the ratios to the C loop: the signed request "
    .. "through alimtalk.core alone %.2fx; sends with validate = false %.2fx; sends %.2fx",
    median(core_ratios), median(unchecked_ratios), median(ratios)))

  -- The same comparison with the sandbox answering after 5 ms, a round trip nearer a real
  -- provider's over the internet (tens of ms): the client's own work is then a small share.
  local DELAY = 0.005
  assert(s:fault{ provider = "sens", kind = "delay", delay = DELAY })
  local dl, dc = {}, {}
  for i = 1, 2 do
    if i == 1 then dl[i] = lua_round(1) dc[i] = c_round(1) else dc[i] = c_round(1) dl[i] = lua_round(1) end
  end
  assert(s:clear_faults())
  local delay_ratio = math.max(dl[1], dl[2]) / math.max(dc[1], dc[2])
  print(string.format("  with the sandbox answering after %d ms: client %.0f/s, C libcurl loop %.0f/s, "
    .. "ratio %.2fx (goal >= %.2fx: %s)  [best of 2 rounds each]", DELAY * 1000, math.max(dl[1], dl[2]),
    math.max(dc[1], dc[2]), delay_ratio, DELAY_GOAL, verdict(delay_ratio >= DELAY_GOAL)))
  unchecked:close()
  os.remove(hfile)
  os.remove(bfile)

  -- 2. bulk
  local function lua_bulk_round()
    assert(s:reset())
    -- the message tables are made inside the timed part, as the Node script makes its objects
    local s0, c0, t0 = server_cpu(s), os.clock(), now()
    local msgs = {}
    for i = 1, BULK do msgs[i] = shipped(i) end
    local rs = client:send_batch(msgs, { concurrency = 8 })
    local bulk_secs, cpu, scpu = now() - t0, os.clock() - c0, server_cpu(s) - s0
    local acc = 0
    for _, r in ipairs(rs) do if r.status == "accepted" then acc = acc + 1 end end
    assert(acc == BULK, "bulk: only " .. acc .. " accepted")
    return BULK / bulk_secs, cpu / BULK * 1e6, scpu / BULK * 1e6
  end
  -- the minimal path (bench/minimal_path.lua): the same messages, the same work, no HTTP
  local minimal = dofile(root .. "/bench/minimal_path.lua")
  local function minimal_round()
    local c0 = os.clock()
    local msgs = {}
    for i = 1, BULK do msgs[i] = shipped(i) end
    local rs = minimal.run(msgs)
    assert(#rs == BULK)
    return (os.clock() - c0) / BULK * 1e6
  end
  local has_node = os.execute("command -v node >/dev/null 2>&1")
  local function node_bulk_round()
    assert(s:reset())
    local s0 = server_cpu(s)
    local out = sh(string.format(
      "SENS_SECRET_KEY='%s' node '%s/bench/node/sens_bulk.js' '%s' '%s' '%s' '%s' %d 8 2>&1",
      c.secret_key, root, s.http_url, c.service_id, c.plus_friend_id, c.access_key, BULK))
    local res = cjson.decode(out:match("{.*}") or "null")
    assert(res and res.accepted == BULK, "node bulk failed: " .. out)
    return BULK / res.seconds, res.cpu_seconds / BULK * 1e6, (server_cpu(s) - s0) / BULK * 1e6
  end
  -- CPU per message: the lowest of the rounds (the least disturbed by other work)
  local lb, nb, la, na = 0, 0, {}, {}
  local lcpu, ncpu, lscpu, nscpu, mcpu = math.huge, math.huge, math.huge, math.huge, math.huge
  for i = 1, BULK_ROUNDS do
    mcpu = math.min(mcpu, minimal_round())
    local l, n, lc, nc, ls, ns
    if i % 2 == 1 then
      l, lc, ls = lua_bulk_round()
      if has_node then n, nc, ns = node_bulk_round() end
    else
      if has_node then n, nc, ns = node_bulk_round() end
      l, lc, ls = lua_bulk_round()
    end
    la[i], lb = string.format("%.0f", l), math.max(lb, l)
    lcpu, lscpu = math.min(lcpu, lc), math.min(lscpu, ls)
    if n then
      na[i], nb = string.format("%.0f", n), math.max(nb, n)
      ncpu, nscpu = math.min(ncpu, nc), math.min(nscpu, ns)
    end
  end
  client:close()
  local node_line
  if has_node then
    node_line = string.format(", Node fetch %.0f msgs/s, ratio %.2fx (goal >= 3x)  [best of %d "
      .. "rounds each; client %s; Node %s]", nb, lb / nb, BULK_ROUNDS, table.concat(la, " "),
      table.concat(na, " "))
  else
    node_line = ", Node not installed: no baseline"
  end
  print(string.format("bulk %d messages (SENS batches of 100, 8 in flight): client %.0f msgs/s%s",
                      BULK, lb, node_line))
  print(string.format("bulk CPU per message: client process %.1f us (HTTP included), minimal path "
    .. "%.1f us (bench/minimal_path.lua, no HTTP): ratio %.2fx  [lowest of %d rounds; instructions: "
    .. "tools/client-instructions, goal <= 1.3x]", lcpu, mcpu, lcpu / mcpu, BULK_ROUNDS))
  if has_node then
    print(string.format("bulk CPU per message: client process %.1f us, Node process %.1f us "
      .. "(client/Node %.2fx, goal <= %.1fx: %s); sandbox nginx workers %.1f us serving the client, "
      .. "%.1f us serving Node  [lowest of %d rounds]", lcpu, ncpu, lcpu / ncpu, CPU_GOAL,
      verdict(lcpu / ncpu <= CPU_GOAL), lscpu, nscpu, BULK_ROUNDS))
    -- What 3x the Node script leaves the client on this machine: the cores' time per message at
    -- that rate, less the server's share; and what lua-cjson alone takes of it (encoding a
    -- 100-message SENS body and decoding its answer, the shapes the client sends and reads).
    local cores = tonumber((sh("nproc"))) or 1
    local budget = cores / (3 * nb) * 1e6 - lscpu
    local sens = client:provider("sens")
    local entries = {}
    for i = 1, 100 do entries[i] = sens:prepare(shipped(i), client.registry:get("order_shipped"),
                                             "ORDER_SHIPPED").payload end
    local answer = {}
    for i = 1, 100 do
      answer[i] = { messageId = string.format("00000001-0002-4003-a004-%012x", i), countryCode = "82",
        to = entries[i].to, content = entries[i].content, requestStatusCode = "A000",
        requestStatusName = "success", requestStatusDesc = "성공", useSmsFailover = false }
    end
    local body = { plusFriendId = "@pf", templateCode = "ORDER_SHIPPED", messages = entries }
    local answer_json = cjson.encode({ requestId = "RSAL-1-100-abcdef", statusCode = "202",
      statusName = "success", requestTime = "2026-11-21T13:00:00.000", messages = answer })
    local json_best = math.huge
    for _ = 1, 5 do
      local c0 = os.clock()
      for _ = 1, 200 do cjson.decode(answer_json); cjson.encode(body) end
      json_best = math.min(json_best, (os.clock() - c0) / (200 * 100) * 1e6)
    end
    -- and what the pre-flight checks with rendering take, as the client runs them
    local validate = require "alimtalk.validate"
    local vopts = validate.options{ provider = "sens", registry = client.registry, now = os.time() }
    local vmsgs = {}
    for i = 1, 20000 do vmsgs[i] = shipped(i) end
    local check_best = math.huge
    for _ = 1, 3 do
      local c0 = os.clock()
      for i = 1, #vmsgs do assert(validate.message(vmsgs[i], vopts)) end
      check_best = math.min(check_best, (os.clock() - c0) / #vmsgs * 1e6)
    end
    print(string.format("3x the Node script is %.0f msgs/s: %d cores then give %.1f us of CPU per "
      .. "message, %.1f us once the sandbox's share is taken out, for all of the client's work; "
      .. "lua-cjson alone takes %.1f us per message (encoding the request, decoding the answer) and "
      .. "the pre-flight checks with rendering %.1f us", 3 * nb, cores, cores / (3 * nb) * 1e6,
      budget, json_best, check_best))
  end
end)
s:stop()
if not ok then error(err, 0) end
