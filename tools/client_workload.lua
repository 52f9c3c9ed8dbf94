-- A fixed client workload for tools/client-instructions: the SENS client with the spec
-- registry, validating and rendering as usual, over a transport table that answers every
-- request at once with a canned SENS answer (no server, no network), so instruction counts
-- measure the client's own work and nothing else.
--   lua client_workload.lua single|bulk N      (N = 0 measures start-up alone)
--   lua client_workload.lua stage NAME N       (one stage of the bulk path, see below)
local alimtalk = require "alimtalk"
local cjson = require "cjson"
local common = require "alimtalk.providers.common"

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
elseif mode == "stage" then
  -- One stage of a bulk send run alone over N messages, for tools/client-stages. Every input
  -- of every stage is made first, whatever NAME is, so NAME = "none" measures that set-up and
  -- the difference to it is the stage's own cost.
  local validate = require "alimtalk.validate"
  local message = require "alimtalk.message"
  local stage = arg[2]
  N = tonumber(arg[3]) or 0
  local p, reg = client:provider(), client.registry
  local vopts = validate.options{ provider = "sens", registry = reg, now = os.time() }
  local msgs, norms, entries, chunks, resps = {}, {}, {}, {}, {}
  for i = 1, N do
    msgs[i] = shipped(i)
    local ok, m = validate.message(msgs[i], vopts)
    norms[i] = assert(ok and m)
    entries[i] = p:prepare(m, m.template_entry, m.template_code)
  end
  for first = 1, N, 100 do
    local c = {}
    for i = first, math.min(first + 99, N) do c[#c + 1] = entries[i] end
    chunks[#chunks + 1] = c
    resps[#resps + 1] = answer{ body = #c == 1 and "" or string.rep(" ", 3000) }
  end
  local out = {}
  if stage == "make" then             -- the messages themselves (the bulk mode makes them too)
    for i = 1, N do out[i] = shipped(i) end
  elseif stage == "normalize" then        -- the validated copy: shape, rendering, the number
    for i = 1, N do out[i] = message.normalize_args(msgs[i], reg, "sens", nil, nil) end
  elseif stage == "validate" then     -- the copy and every Kakao and SENS check on it
    for i = 1, N do out[i] = select(2, validate.message(msgs[i], vopts)) end
  elseif stage == "prepare" then      -- the SENS messages[] element of each copy
    for i = 1, N do
      local m = norms[i]
      out[i] = p:prepare(m, m.template_entry, m.template_code)
    end
  elseif stage == "build" then        -- the request: the JSON body and its signature
    for k = 1, #chunks do out[k] = p:build(chunks[k]) end
  elseif stage == "decode" then       -- lua-cjson decoding the answers
    for k = 1, #resps do out[k] = common.decode(resps[k].body) end
  elseif stage == "parse" then        -- the answers decoded and read into outcomes
    for k = 1, #resps do out[k] = p:parse(resps[k], chunks[k]) end
  else
    assert(stage == "none", "stage: none, make, normalize, validate, prepare, build, decode or parse")
  end
  assert(#out == (stage == "none" and 0 or #out))   -- (kept to the end, as a send keeps them)
elseif mode == "bulk" then
  local msgs = {}
  for i = 1, N do msgs[i] = shipped(i) end
  local rs = client:send_batch(msgs, { concurrency = 8 })
  assert(N == 0 or rs[N].status == "accepted")
else
  error("usage: client_workload.lua single|bulk N | stage NAME N")
end
