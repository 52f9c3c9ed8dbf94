-- The minimal path: a plain hand-written script doing exactly the work a validated SENS bulk
-- send must do, and nothing else, as the baseline for the client's own cost (issue 14):
-- render the template, check the content's length and the DS button's invoice, build the
-- 100-message SENS request with lua-cjson, sign it (alimtalk.core's HMAC, as the client does),
-- decode the answer and make one result table per message. Same template, messages and canned
-- answer as tools/client_workload.lua.
--   lua minimal_path.lua N        (N messages; N = 0 measures start-up alone)
-- tools/client-instructions counts its instructions; bench/client_bench.lua times it.
local cjson = require "cjson"
local core = require "alimtalk.core"

-- (N only when run as a script: bench/client_bench.lua loads it for `run`)
local N = arg and arg[0] and arg[0]:match("minimal_path%.lua$") and tonumber(arg[1]) or 0

local BODY = "#{name}님, 주문하신 상품이 발송되었습니다.\n주문번호: #{order}\n택배사: #{courier}\n송장번호: #{invoice}"
local LINK = "https://shop.example/o/#{order}"
local PATH = "/alimtalk/v2/services/svc/messages"

local function shipped(i)
  return { to = string.format("010%08d", 10000000 + i % 90000000), template = "order_shipped",
           vars = { name = "고객" .. i, order = "A" .. i, courier = "우체국택배",
                    invoice = string.format("%013d", 6302114700000 + i) } }
end

-- The canned answer: 100 entries shaped like the sandbox's, as the workload answers.
local entries = {}
for j = 1, 100 do
  entries[j] = { messageId = string.format("00000001-0002-4003-a004-%012x", j), countryCode = "82",
    to = "01012345678", content = string.rep("가", 60), requestStatusCode = "A000",
    requestStatusName = "success", requestStatusDesc = "성공", useSmsFailover = false }
end
local ANSWER = cjson.encode({ requestId = "RSAL-1-100-abcdef", requestTime = "2026-11-21T13:00:00.000",
                              statusCode = "202", statusName = "success", messages = entries })

local function send_chunk(msgs, first, last, results)
  local list = {}
  for i = first, last do
    local v = msgs[i].vars
    local content = BODY:gsub("#{(%w+)}", v)
    if core.measure(content).chars > 1000 then error("content too long") end
    if not (content:find(v.courier, 1, true) and v.invoice:match("^%d%d%d%d%d%d%d%d%d%d%d%d%d$")) then
      error("DS button: no invoice")
    end
    local link = LINK:gsub("#{(%w+)}", v)
    list[#list + 1] = { to = msgs[i].to, content = content, buttons = {
      { type = "DS", name = "배송조회" },
      { type = "WL", name = "주문 보기", linkMobile = link, linkPc = link } } }
  end
  local body = cjson.encode({ plusFriendId = "@pf", templateCode = "ORDER_SHIPPED", messages = list })
  local ts = string.format("%d", math.floor(core.now() * 1000))
  local req = { url = "http://127.0.0.1:9" .. PATH, body = body, headers = {
    ["x-ncp-apigw-timestamp"] = ts, ["x-ncp-iam-access-key"] = "ak",
    ["x-ncp-apigw-signature-v2"] = core.ncp_signature("POST", PATH, ts, "ak", "sk"),
    ["Content-Type"] = "application/json; charset=utf-8" } }
  assert(#req.body > 0)
  local doc = cjson.decode(ANSWER)
  for k, i in ipairs(doc.messages) do
    if first + k - 1 > last then break end
    results[first + k - 1] = { status = i.requestStatusCode == "A000" and "accepted" or "rejected",
                               code = i.requestStatusCode, message_id = i.messageId,
                               request_id = doc.requestId }
  end
end

--- Send MSGS (a list of shipped() messages) the minimal way, returning one result per message.
local function run(msgs)
  local results = {}
  for first = 1, #msgs, 100 do send_chunk(msgs, first, math.min(first + 99, #msgs), results) end
  return results
end

if N > 0 then
  local msgs = {}
  for i = 1, N do msgs[i] = shipped(i) end
  local rs = run(msgs)
  assert(#rs == N and rs[N].status == "accepted")
end

return { run = run, shipped = shipped }
