-- Each provider's answers outside sending, through the whole client with a transport that
-- answers mutated real answers (spec/fixtures/provider_answers.lua and
-- spec/fixtures/validation/sens_templates.json, the source documents' own examples, and the
-- sandbox emulator's query answers) under random HTTP statuses: delivery results (SENS
-- query_request and query_message; BizMessage poll_results, search, search_all and detail),
-- SENS channels, reservations and templates loaded into a registry (load_templates).
-- Mutations are structural (an entry or a field replaced by another JSON value or a catalogue
-- code) and then byte edits. Properties: no call raises; each gives a result or `nil, err` with an
-- error table carrying a code; every event has a delivery status; `delivered` only when the
-- record carries the provider's delivery marker: SENS messageStatusCode 0000 (not with a failed
-- request stage or a "fail" status name), BizMessage kko_status_code 0000, or no
-- kko_status_code and status_code API_200 (never while ended_yn is N).
local alimtalk = require "alimtalk"
local gen = require "fuzz.lua.gen"
local answers = require "fixtures.provider_answers"
local cjson = require "cjson.safe"

local HTTP = { 200, 200, 200, 200, 202, 400, 401, 404, 429, 500, 503 }
local CODES = { "0000", "A000", "success", "fail", "processing", "reserved", "200", "API_200",
                "API_100", "API_510", "NRM0000", "DONE", "COMPLETED", "DELIVERED", "3019", "N", "Y",
                "C100", "0" }
local TOKEN = '{"access_token":"t","expires_in":3600}'
local STATUSES = { delivered = true, failed = true, pending = true }

local function str(v)       -- as providers/common.lua's code(): "" and null are no code
  if v == nil or v == cjson.null or v == "" then return nil end
  if type(v) == "number" and v == math.floor(v) and math.abs(v) < 2 ^ 53 then
    return string.format("%d", v)
  end
  return tostring(v)
end

-- SENS "Get message delivery results by request": the sandbox emulator's shape (spec seed 001),
-- a delivered message, one failed with its SMS failover leg, one in processing and one refused
-- at the request stage
local SENS_REQUEST = [[{"requestId":"RID-1","statusCode":"202","statusName":"success",
"messages":[
{"requestTime":"2026-11-21 10:00:00","messageId":"MID-1","countryCode":"82","to":"01012345678",
 "content":"a","plusFriendId":"@shop","templateCode":"T1","requestStatusCode":"A000",
 "requestStatusName":"success","requestStatusDesc":"성공","useSmsFailover":false,
 "completeTime":"2026-11-21 10:00:02","messageStatusCode":"0000","messageStatusName":"success",
 "messageStatusDesc":"정상 발송"},
{"requestTime":"2026-11-21 10:00:00","messageId":"MID-2","countryCode":"82","to":"01012345679",
 "content":"b","requestStatusCode":"A000","requestStatusName":"success","useSmsFailover":true,
 "completeTime":"2026-11-21 10:00:02","messageStatusCode":"3019","messageStatusName":"fail",
 "messageStatusDesc":"MessageNoUserException","failover":{"smsServiceId":"ncp:sms:kr:1",
 "requestId":"RID-F","messageId":"MID-F","requestStatusCode":"0","requestStatusName":"success",
 "messageStatus":"COMPLETED","messageStatusCode":"0","messageStatusName":"success",
 "messageStatusDesc":"success"}},
{"requestTime":"2026-11-21 10:00:00","messageId":"MID-3","to":"01012345670","content":"c",
 "requestStatusCode":"A000","requestStatusName":"success","messageStatusName":"processing"},
{"requestTime":"2026-11-21 10:00:00","messageId":"MID-4","to":"01012345671","content":"d",
 "requestStatusCode":"3016","requestStatusName":"fail","requestStatusDesc":"NoMatchedTemplateException",
 "messageStatusName":"fail"}],
"pageSize":100,"pageIndex":0,"itemCount":4,"hasMore":false}]]
local SENS_DELIVERED = (answers.sens.message:gsub('"3019"', '"0000"'):gsub('"fail"', '"success"'))
local SENS_RESERVATION = [[{"reserveId":"R-1","reserveTime":"2026-12-08 10:00",
"reserveTimeZone":"Asia/Seoul","reserveStatus":"READY"}]]
local SENS_TEMPLATES = gen.read_spec_file("fixtures/validation/sens_templates.json")
local SENS_CHANNELS = [[[{"channelId":"@shop","channelName":"Shop","channelStatus":"ACTIVE",
"useSmsFailover":true,"failoverTelNo":"0212345678","isBlock":false,"isDormant":false}]
]]

local function client(conf)
  local routes = {}
  local transport = {}
  function transport.request(_, req)
    if req.url:find("/oauth", 1, true) then return { status = 200, headers = {}, body = TOKEN } end
    local r = routes.current
    return { status = r.status, headers = {}, body = r.body }
  end
  function transport.close() end
  conf.validate, conf.transport, conf.retry = false, transport, { max_attempts = 1 }
  return assert(alimtalk.new(conf)), routes
end

local sens, sens_routes = client{ provider = "sens", sens = { base_url = "https://sens.test",
  access_key = "AK", secret_key = "SK", service_id = "svc", plus_friend_id = "@shop" } }
local biz, biz_routes = client{ provider = "bizmessage", bizmessage = { base_url = "https://biz.test",
  client_id = "id", client_secret = "secret", sender_key = "key", sender_no = "0212345678" } }

local function sens_marker(m)
  if type(m) ~= "table" then return false end
  local rcode, name = str(m.requestStatusCode), str(m.messageStatusName)
  return str(m.messageStatusCode) == "0000" and (rcode == nil or rcode == "A000") and name ~= "fail"
    and name ~= "processing"
end

local function biz_marker(r)
  if type(r) ~= "table" or str(r.ended_yn) == "N" then return false end
  local kko = str(r.kko_status_code)
  return kko == "0000" or (kko == nil and str(r.status_code) == "API_200")
end

local CALLS = {
  { name = "sens query_request", c = sens, routes = sens_routes, answers = { SENS_REQUEST },
    call = function(c) return c:query_request("RID-1") end, marker = sens_marker, list = true },
  { name = "sens query_message", c = sens, routes = sens_routes,
    answers = { answers.sens.message, SENS_DELIVERED },
    call = function(c) return c:query_message("MID-2") end, marker = sens_marker },
  { name = "sens channels", c = sens, routes = sens_routes, answers = { SENS_CHANNELS },
    call = function(c) return c:channels() end },
  { name = "sens reservation", c = sens, routes = sens_routes, answers = { SENS_RESERVATION },
    call = function(c) return c:reservation("R-1") end },
  { name = "sens load_templates", c = sens, routes = sens_routes, answers = { SENS_TEMPLATES },
    call = function(c)
      c.registry = nil   -- a fresh one each time (load_templates makes it): no growth over a run
      return c:load_templates()
    end },
  { name = "bizmessage poll_results", c = biz, routes = biz_routes, answers = { answers.bizmessage.results },
    call = function(c) return c:poll_results() end, marker = biz_marker, list = true },
  { name = "bizmessage search", c = biz, routes = biz_routes, answers = { answers.bizmessage.search },
    call = function(c) return c:search({ start_date = "2022-10-18" }) end, marker = biz_marker, list = true },
  { name = "bizmessage search_all", c = biz, routes = biz_routes, answers = { answers.bizmessage.search },
    call = function(c)
      local all, err = c:search_all({ start_date = "2022-10-18", max_pages = 3 })
      return all and { events = all } or nil, err
    end, marker = biz_marker, list = true },
  { name = "bizmessage detail", c = biz, routes = biz_routes, answers = { answers.bizmessage.detail },
    call = function(c) return c:detail("221018080314511j7usTgzgQDOXvIk") end, marker = biz_marker },
}

-- Replace a random node of the decoded document by another value: a catalogue code, a JSON
-- value of another type, or null.
local function mutate_tree(g, doc)
  local nodes = {}
  local function walk(t, depth)
    if depth > 4 then return end
    for k, v in pairs(t) do
      nodes[#nodes + 1] = { t, k }
      if type(v) == "table" then walk(v, depth + 1) end
    end
  end
  walk(doc, 0)
  if #nodes == 0 then return doc end
  for _ = 1, g:int(1, 3) do
    local n = g:pick(nodes)
    local k = g:int(1, 4)
    n[1][n[2]] = k == 1 and g:pick(CODES) or k == 2 and cjson.null or g:value()
  end
  return doc
end

local function check_event(p, e, raw_of)
  assert(type(e) == "table", p.name .. ": an event that is not a table")
  assert(STATUSES[e.status], p.name .. ": an event without a delivery status: " .. tostring(e.status))
  if e.status == "delivered" then
    assert(p.marker(raw_of(e)), p.name .. ": delivered without the delivery marker (code "
      .. tostring(e.code) .. ")")
  end
  local fb = e.fallback
  if fb ~= nil then
    -- BizMessage's leg has only its code (sms_status_code); SENS's has a status too
    assert(type(fb) == "table" and (fb.status == nil or STATUSES[fb.status])
           and (fb.code == nil or type(fb.code) == "string"), p.name .. ": a malformed fallback leg")
  end
end

local _M = {}

function _M.run(g)
  local p = g:pick(CALLS)
  local body = g:pick(p.answers)
  if g:chance(0.6) then
    local doc = cjson.decode(body)
    if type(doc) == "table" then body = cjson.encode(mutate_tree(g, doc)) or body end
  end
  if g:chance(0.5) then body = g:mutate(body) end
  p.routes.current = { status = g:chance(0.8) and 200 or g:pick(HTTP), body = body }
  g.case = p.name .. " HTTP " .. p.routes.current.status .. "\n" .. body
  local ok, r, err = pcall(p.call, p.c)
  assert(ok, p.name .. " raised: " .. tostring(r))
  if r == nil then
    assert(type(err) == "table" and type(err.code) == "string", p.name .. ": nil without an error code")
    return
  end
  if not p.marker then return end
  assert(type(r) == "table", p.name .. ": a result that is not a table")
  -- the record an event was read from: `raw`, or for a malformed entry nothing (no marker)
  local function raw_of(e) return rawget(e, "raw") end
  if p.list then
    assert(type(r.events) == "table", p.name .. ": no events list")
    for _, e in ipairs(r.events) do check_event(p, e, raw_of) end
  else
    check_event(p, r, raw_of)
  end
end

return _M
