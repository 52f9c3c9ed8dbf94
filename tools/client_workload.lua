-- A fixed client workload for tools/client-instructions: the SENS client with the spec
-- registry, validating and rendering as usual, over a transport table that answers every
-- request at once with a canned SENS answer (no server, no network), so instruction counts
-- measure the client's own work and nothing else.
--   lua client_workload.lua single|bulk N      (N = 0 measures start-up alone)
local alimtalk = require "alimtalk"
local cjson = require "cjson"

local mode, N = arg[1], tonumber(arg[2]) or 0
local root = (debug.getinfo(1, "S").source:match("^@(.*)/tools/[^/]*$")) or "."

local function shipped(i)
  return { to = string.format("010%08d", 10000000 + i % 90000000), template = "order_shipped",
           vars = { name = "고객" .. i, order = "A" .. i, courier = "우체국택배",
                    invoice = string.format("%013d", 6302114700000 + i) } }
end

-- One answer per message count, shaped like the sandbox's (each entry echoes the message).
local answers = {}
local function answer(req)
  local n = #req.body < 3000 and 1 or 100   -- this workload sends 1 or 100 per request
  local a = answers[n]
  if not a then
    local out = {}
    for j = 1, n do
      out[j] = { messageId = string.format("00000001-0002-4003-a004-%012x", j), countryCode = "82",
        to = "01012345678", content = string.rep("가", 60), requestStatusCode = "A000",
        requestStatusName = "success", requestStatusDesc = "성공", useSmsFailover = false }
    end
    a = { status = 202, headers = { ["content-type"] = "application/json" },
          body = cjson.encode({ requestId = "RSAL-1-100-abcdef", requestTime = "2026-11-21T13:00:00.000",
                                statusCode = "202", statusName = "success", messages = out }) }
    answers[n] = a
  end
  return a
end
local queue, next_id = {}, 0
local transport = {
  request = function(_, req) return answer(req) end,
  request_many = function(_, reqs)
    local r = {}
    for i, x in ipairs(reqs) do r[i] = { resp = answer(x) } end
    return r
  end,
  submit = function(_, req)
    next_id = next_id + 1
    queue[#queue + 1] = { next_id, answer(req) }
    return next_id
  end,
  wait = function()
    local x = table.remove(queue, 1)
    if not x then return nil end
    return x[1], x[2]
  end,
  close = function() end,
}

local client = assert(alimtalk.new{ provider = "sens", transport = transport,
  templates = root .. "/spec/fixtures/templates.json",
  sens = { base_url = "http://127.0.0.1:9", access_key = "ak", secret_key = "sk", service_id = "svc",
           plus_friend_id = "@pf" } })
assert(client:send(shipped(1)).status == "accepted")   -- modules loaded, caches warm
if mode == "single" then
  local m = shipped(1)
  for _ = 1, N do client:send(m) end
elseif mode == "bulk" then
  local msgs = {}
  for i = 1, N do msgs[i] = shipped(i) end
  local rs = client:send_batch(msgs, { concurrency = 8 })
  assert(N == 0 or rs[N].status == "accepted")
else
  error("usage: client_workload.lua single|bulk N")
end
