--- NAVER Cloud SENS AlimTalk emulation (seed 001, protocols.md), under
-- /alimtalk/v2/services/{serviceId}/...: send (up to 100 messages), request query, message
-- result, reservation status and cancel, channels, templates. Every call is authenticated as
-- NCP's API gateway does: signature v2 over the exact method and URI received, timestamp
-- within 5 minutes, known access key.
-- Answers whose exact shape the seed leaves open (400 bodies) are documented in docs/sandbox.md.
-- @module alimtalk.sandbox.emu.sens
local state = require "alimtalk.sandbox.emu.state"
local crypto = require "alimtalk.sandbox.emu.crypto"
local registry = require "alimtalk.sandbox.emu.registry"
local kakao = require "alimtalk.sandbox.emu.kakao"
local text = require "alimtalk.sandbox.emu.text"
local faults = require "alimtalk.sandbox.emu.faults"

local ngx = ngx
local concat = table.concat
local new_table = require "table.new"   -- LuaJIT: presized, no regrowing
local json = state.encode_value
local _M = {}

local OK_CODE = "0000"

-- NCP API gateway error body.
local function gateway(status, code, message, details)
  return status, { error = { errorCode = code, message = message, details = details } }
end
_M.gateway = gateway

local function bad_request(code, message)
  return 400, { statusCode = "400", statusName = "fail", errorCode = code, errorMessage = message }
end

--- Verify the signature v2 headers; nil when fine, else status and body.
function _M.authenticate(creds, method)
  local ts = ngx.var.http_x_ncp_apigw_timestamp
  local ak = ngx.var.http_x_ncp_iam_access_key
  local sig = ngx.var.http_x_ncp_apigw_signature_v2
  if not ts or not ak or not sig then
    return gateway(401, "200", "Authentication Failed", "Required authentication headers are missing.")
  end
  if ak ~= creds.access_key then
    return gateway(401, "200", "Authentication Failed", "Invalid authentication information.")
  end
  local t = tonumber(ts)
  if not t or not ts:find("^%d+$") or math.abs(ngx.now() * 1000 - t) > 300000 then
    return gateway(401, "200", "Authentication Failed",
      "Timestamp is more than 5 minutes away from the server time.")
  end
  local want = crypto.hmac_sha256_base64(creds.secret_key,
    method .. " " .. ngx.var.request_uri .. "\n" .. ts .. "\n" .. ak)
  if not crypto.equal(want, sig) then
    return gateway(401, "200", "Authentication Failed", "Invalid signature.")
  end
  return nil
end

-- A table of `scratch` under `key`, made on first use; a new table without `scratch`.
local function reuse(scratch, key)
  if not scratch then return {} end
  local t = scratch[key]
  if not t then t = {} scratch[key] = t end
  return t
end

-- Map SENS field names to the shared Kakao shape. The send path passes one `scratch` table
-- for all its messages (kakao.check keeps nothing of it), which saves four tables per
-- message; stored records get new tables.
local function normalize(m, scratch)
  local n = scratch or {}
  n.content, n.title, n.header = m.content, m.title, m.headerContent
  n.item_highlight, n.items, n.summary, n.buttons = nil, nil, nil, nil
  if type(m.itemHighlight) == "table" then
    local ih = reuse(scratch, "_ih")
    ih.title, ih.description = m.itemHighlight.title, m.itemHighlight.description
    n.item_highlight = ih
  end
  if type(m.item) == "table" then
    n.items = m.item.list
    if type(m.item.summary) == "table" then
      local su = reuse(scratch, "_summary")
      su.title, su.description = m.item.summary.title, m.item.summary.description
      n.summary = su
    end
  end
  if m.buttons ~= nil then
    if type(m.buttons) ~= "table" then n.buttons = false else
      local list, pool = reuse(scratch, "_buttons"), reuse(scratch, "_pool")
      local count = 0
      for i, b in ipairs(m.buttons) do
        count = i
        if type(b) ~= "table" then list[i] = b else
          local nb = scratch and reuse(pool, i) or {}
          nb.type, nb.name, nb.url_mobile, nb.url_pc = b.type, b.name, b.linkMobile, b.linkPc
          nb.scheme_ios, nb.scheme_android = b.schemeIos, b.schemeAndroid
          list[i] = nb
        end
      end
      for i = #list, count + 1, -1 do list[i] = nil end
      n.buttons = list
    end
  end
  return n
end

-- Reservation time in Korea/UTC; nil when not parseable.
local ZONES = { ["Asia/Seoul"] = 9, ["Asia/Tokyo"] = 9, UTC = 0, ["Etc/UTC"] = 0, GMT = 0 }
local function reserve_epoch(s, zone)
  local y, mo, d, h, mi = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d) (%d%d):(%d%d)$")
  if not y then return nil end
  local off = ZONES[zone or "Asia/Seoul"]
  if not off then return nil end
  -- os.time reads a local time; the nginx workers run with TZ unset (UTC) is not guaranteed,
  -- so compute from the UTC epoch of 1970 directly.
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  local yy = mo <= 2 and y - 1 or y
  local era = math.floor(yy / 400)
  local yoe = yy - era * 400
  local doy = math.floor((153 * (mo + (mo > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 - off * 3600
end

-- Message ids look like UUIDs and carry the time, the worker, the message's offset in its
-- request (third group), a per-request random tag (fourth) and the index position (last
-- group): `state.message` finds the stored batch from the id alone, and the ids of a batch
-- need not be stored (the batch keeps `prefix` and `tag`).
local function id_prefix(now)
  return string.format("%08x-%04x-4", math.floor(now), ngx.worker.pid() % 65536)
end

local HEX3 = {}   -- "%03x-a" of 0..99, the offsets a batch can have
for i = 0, 99 do HEX3[i] = string.format("%03x-a", i) end

local tohex = require("bit").tohex

local function message_id(prefix, tag, i, n)
  -- bit.tohex works on 32 bits (and is compiled, string.format is not)
  return prefix .. HEX3[i - 1] .. tag .. "-" .. (n < 0x100000000 and tohex(n, 12)
    or string.format("%012x", n))
end

-- A request id names its messages' index positions (they are reserved as one block), so no
-- request record has to be stored: "RSAL-<first>-<count>-<random>".
local function request_id(first, count)
  return string.format("RSAL-%d-%d-%06x", first, count, math.random(0, 16777215))
end

-- A batch is stored as one shared dict value: a JSON header, a newline, then the request
-- body exactly as received. Everything a record holds is either in the body (rebuilt through
-- `normalize`, as at send time) or in the header: request id, times, the id parts, and the
-- messages whose outcome is not the default (code, description, rejected, result code).
-- Encoding one record per message was most of the send path's cost.
local function batch_records(value, first)
  local nl = value:find("\n", 1, true)
  local h = nl and state.decode(value:sub(1, nl - 1))
  local req = h and state.decode_request(value:sub(nl + 1))
  if type(h) ~= "table" or type(req) ~= "table" then return nil end
  local ex = {}
  for _, e in ipairs(h.ex or {}) do ex[e.i] = e end
  local recs = {}
  for i, m in ipairs(req.messages) do
    local nm = normalize(m)
    local cc = m.countryCode or "82"
    local e = ex[i]
    local result = e and e.r or h.res
    recs[i] = {
      provider = "sens", id = message_id(h.prefix, h.tag, i, first + i - 1), request_id = h.rid,
      to = m.to, country_code = cc ~= "82" and cc or nil, text = m.content, title = m.title,
      header = m.headerContent, template_code = req.templateCode,
      buttons = nm.buttons or nil, item_highlight = nm.item_highlight, items = nm.items,
      summary = nm.summary, use_sms_failover = m.useSmsFailover == true or nil,
      failover = m.failoverConfig, request_code = e and e.c, request_desc = e and e.d,
      accepted_at = h.at, due = h.due, result_code = result ~= OK_CODE and result or nil,
      reserve_time = req.reserveTime, reserve_zone = h.zone, rejected = e and e.j or nil,
      canceled = h.canceled, index = first + i - 1,
    }
  end
  return recs
end
state.batch_reader("sens", batch_records)

local function split_batch(value)
  local nl = value:find("\n", 1, true)
  return state.decode(value:sub(1, nl - 1)), value:sub(nl + 1)
end

local function send(ctx, creds)
  local raw = ctx.body()
  local req = state.decode_request(raw)
  if type(req) ~= "table" then return bad_request("1001", "Request body is not in JSON format.") end
  if type(req.plusFriendId) ~= "string" or req.plusFriendId == "" then
    return bad_request("1004", "plusFriendId is required.")
  end
  if type(req.templateCode) ~= "string" or req.templateCode == "" then
    return bad_request("1004", "templateCode is required.")
  end
  local msgs = req.messages
  if type(msgs) ~= "table" or #msgs == 0 then return bad_request("1004", "messages is required.") end
  if #msgs > 100 then return bad_request("8530", "messages may hold at most 100 entries.") end
  if req.plusFriendId ~= creds.plus_friend_id then
    return bad_request("1005", "Kakao Talk Channel not found: " .. req.plusFriendId)
  end
  for i, m in ipairs(msgs) do
    if type(m) ~= "table" then return bad_request("1030", "messages[" .. i .. "] must be an object.") end
    if type(m.to) ~= "string" or m.to == "" then
      return bad_request("1004", "messages[" .. i .. "].to is required.")
    end
    if type(m.content) ~= "string" then
      return bad_request("1004", "messages[" .. i .. "].content is required.")
    end
    if m.buttons ~= nil and (type(m.buttons) ~= "table"
        or (next(m.buttons) ~= nil and m.buttons[1] == nil)) then
      return bad_request("1030", "messages[" .. i .. "].buttons must be an array.")
    end
  end
  local reserve, zone
  if req.reserveTime ~= nil then
    zone = req.reserveTimeZone or "Asia/Seoul"
    reserve = type(req.reserveTime) == "string" and reserve_epoch(req.reserveTime, zone)
    if not reserve then
      return bad_request("1030", "reserveTime must be 'yyyy-MM-dd HH:mm' in a supported reserveTimeZone.")
    end
    -- minute precision: the current minute is still accepted
    if reserve < math.floor(ngx.now() / 60) * 60 then
      return bad_request("1030", "reserveTime is in the past.")
    end
  end
  local tpl = registry.find("sens", req.templateCode)
  if not tpl then return bad_request("3015", "Template not found: " .. req.templateCode) end

  local now = ngx.now()
  local settings = state.settings
  local unreachable = settings.unreachable
  local fault, fired = ctx.fault, ctx.fired
  local n = #msgs
  local first = state.reserve("sens", n)
  local rid = request_id(first, n)
  local prefix, tag = id_prefix(now), string.format("%03x", math.random(0, 4095))
  local request_time = state.kst(now, true)
  local due = now + (settings.delivery_delay or 0)
  if reserve and reserve > due then due = reserve end
  -- every message's delivery result, unless it is unreachable
  local res = fault and fault.kind == "result_code" and fault.code or OK_CODE
  -- The answer echoes every message, so encoding it is a large part of a send: it is written
  -- here piece by piece (only the request's own strings go through the JSON encoder), which
  -- takes half the time of building a table per message for cjson.
  local out, k = new_table(13 * n, 0), 0
  local ids, codes, ex = new_table(n, 0), new_table(n, 0), {}
  local scratch = {}
  for i = 1, n do
    local m = msgs[i]
    local id = message_id(prefix, tag, i, first + i - 1)
    local to = m.to
    local code, desc
    local cc = m.countryCode or "82"
    -- the national form, computed once: the phone check and the unreachable list use it
    local national = cc == "82" and text.kr_mobile(to)
    if type(cc) ~= "string" then
      code, desc = "1030", "countryCode must be a string"
    elseif (cc == "82" and not national)
        -- digits only (dashes aside); a number kr_mobile took unchanged is all digits
        or (national ~= to and not (to:find("^%d+$") or to:gsub("%-", ""):find("^%d+$"))) then
      code, desc = "3008", "invalid phone number"
    else
      code, desc = kakao.check(tpl, normalize(m, scratch), settings.max_variable_chars)
    end
    local deliver = code == nil
    if not code and fault and fault.kind == "code" and faults.hits_message(fault, fired, i) then
      code, desc = fault.code, fault.desc or kakao.names[fault.code] or "injected"
      deliver = fault.deliver == true or (fault.deliver == nil and code == "3005")
    end
    local result = res
    if unreachable and unreachable[national or (cc ~= "82" and text.kr_mobile(to)) or to] then
      result = "3019"
    end
    if code or result ~= res then
      ex[#ex + 1] = { i = i, c = code, d = desc, j = not deliver or nil,
        r = result ~= res and result or nil }
    end
    ids[i] = id
    codes[i] = code or "A000"
    out[k + 1] = i == 1 and '{"messageId":"' or ',{"messageId":"'
    out[k + 2] = id
    out[k + 3] = '","countryCode":'
    out[k + 4] = cc == "82" and '"82"' or json(cc)
    out[k + 5] = ',"to":'
    out[k + 6] = national == to and '"' .. to .. '"' or json(to)   -- digits need no escapes
    out[k + 7] = ',"content":'
    out[k + 8] = json(m.content)
    if code then
      out[k + 9] = ',"requestStatusCode":'
      out[k + 10] = json(code)
      out[k + 11] = ',"requestStatusName":"fail","requestStatusDesc":'
      out[k + 12] = json(desc or kakao.names[code] or "성공")
    else
      out[k + 9] = ',"requestStatusCode":"A000","requestStatusName":"success","requestStatusDesc":"성공"'
      out[k + 10], out[k + 11], out[k + 12] = "", "", ""
    end
    out[k + 13] = m.useSmsFailover == true and ',"useSmsFailover":true}' or ',"useSmsFailover":false}'
    k = k + 13
  end
  -- Stored after every message is checked, in one write (see batch_records); rejected
  -- messages too, as before: queries and /_sandbox/messages show them.
  state.save_batch("sens", first, state.encode({ rid = rid, at = now, due = due, prefix = prefix,
    tag = tag, zone = zone, res = res ~= OK_CODE and res or nil, ex = ex[1] and ex or nil })
    .. "\n" .. raw)
  if reserve then
    state.dict("sbx_msg"):set("rv:" .. rid, state.encode({ reserveTime = req.reserveTime,
      reserveTimeZone = zone, due = due, first = first }))
  end
  ctx.ids, ctx.codes = ids, codes
  return 202, '{"requestId":"' .. rid .. '","requestTime":"' .. request_time
    .. '","statusCode":"202","statusName":"' .. (reserve and "reserved" or "success")
    .. '","messages":[' .. concat(out) .. ']}'
end

-- One stored message as the query endpoints print it.
local function view(rec, now, with_request)
  local st = state.status(rec, now)
  local v = { requestTime = state.kst(rec.accepted_at, true), messageId = rec.id,
    countryCode = rec.country_code or "82", to = rec.to, content = rec.text,
    plusFriendId = state.config.credentials.sens.plus_friend_id, templateCode = rec.template_code,
    requestStatusCode = rec.request_code or "A000",
    requestStatusName = rec.request_code and "fail" or "success",
    requestStatusDesc = rec.request_desc or (rec.rejected and kakao.names[rec.request_code]) or "성공",
    useSmsFailover = rec.use_sms_failover == true }
  if with_request then v.requestId = rec.request_id end
  if rec.rejected then
    v.messageStatusName = "fail"
  elseif st == "pending" then
    v.messageStatusName = rec.reserve_time and "reserved" or "processing"
  elseif st == "canceled" then
    v.messageStatusName = "fail"
    v.messageStatusCode = "CANCELED"
    v.messageStatusDesc = "reservation canceled"
  else
    v.completeTime = state.kst(rec.due)
    v.messageStatusCode = rec.result_code or OK_CODE
    v.messageStatusName = st == "delivered" and "success" or "fail"
    v.messageStatusDesc = st == "delivered" and "정상 발송" or (kakao.names[rec.result_code or ""] or "fail")
    if st == "failed" and rec.use_sms_failover and not (rec.result_code or ""):find("^B") then
      -- SENS falls back to SMS/LMS on a failed AlimTalk (not for B codes): the sandbox's SMS
      -- always arrives
      v.failover = { smsServiceId = "ncp:sms:kr:sandbox", requestId = rec.request_id,
        messageId = rec.id, requestStatusCode = "0", requestStatusName = "success",
        requestStatusDesc = "success", messageStatus = "COMPLETED", messageStatusCode = "0",
        messageStatusName = "success", messageStatusDesc = "success" }
    end
  end
  return v
end

-- A query time "yyyy-MM-ddTHH:mm:ss" as seconds (same zone on both ends), or nil.
local function query_time(s)
  if type(s) ~= "string" then return nil end
  local day, h, mi, sec = s:match("^(%d%d%d%d%-%d%d%-%d%d)T(%d%d):(%d%d):(%d%d)$")
  local t = day and reserve_epoch(day .. " " .. h .. ":" .. mi, "UTC")
  return t and t + tonumber(sec)
end

local function query(creds)
  local args = ngx.req.get_uri_args(50)
  local now = ngx.now()
  local page_size = tonumber(args.pageSize)
  local page_index = tonumber(args.pageIndex) or 0
  if (args.pageSize and (not page_size or page_size < 1 or page_size > 100 or page_size % 1 ~= 0))
      or page_index < 0 or page_index % 1 ~= 0 then
    return bad_request("1030", "pageSize must be 1..100 and pageIndex >= 0.")
  end
  local recs = {}
  if type(args.requestId) == "string" then
    local first, count = args.requestId:match("^RSAL%-(%d+)%-(%d+)%-%x+$")
    first, count = tonumber(first), tonumber(count)
    -- The id is request-controlled: a block can only name stored positions of one send
    -- (at most 100 messages), else it is unknown, as SENS answers any unknown request.
    if first and (first < 1 or count < 1 or count > 100
        or first + count - 1 > state.count("sens")) then
      first = nil
    end
    for _, r in ipairs(first and state.batch("sens", first) or {}) do
      if r.request_id == args.requestId then recs[#recs + 1] = r end
    end
    if #recs == 0 then
      return 404, { statusCode = "404", statusName = "fail", errorMessage = "requestId not found" }
    end
    page_size = page_size or 100
  else
    local rs, re = args.requestStartTime, args.requestEndTime
    local cs, ce = args.completeStartTime, args.completeEndTime
    if not ((rs and re) or (cs and ce)) or ((rs or re) and (cs or ce)) then
      return bad_request("1030",
        "Give requestId, or requestStartTime + requestEndTime, or completeStartTime + completeEndTime.")
    end
    if type(args.plusFriendId) ~= "string" then
      return bad_request("1004", "plusFriendId is required without requestId.")
    end
    -- Seed 001: a request range spans at most 31 days, a completion range at most 24 hours.
    local from, to = query_time(rs or cs), query_time(re or ce)
    if not from or not to then
      return bad_request("1030", "Query times are yyyy-MM-dd'T'HH:mm:ss.")
    end
    local span = rs and 31 * 86400 or 86400
    if to < from or to - from > span then
      return bad_request("1030", rs and "requestStartTime..requestEndTime may span at most 31 days."
        or "completeStartTime..completeEndTime may span at most 24 hours.")
    end
    page_size = page_size or 20
    for _, r in ipairs(state.messages("sens")) do
      if args.plusFriendId == creds.plus_friend_id then
        local keep
        if rs then
          local t = state.kst(r.accepted_at)
          keep = t >= rs and t <= re
        else
          keep = not r.rejected and state.status(r, now) ~= "pending"
          if keep then local t = state.kst(r.due) keep = t >= cs and t <= ce end
        end
        if keep and args.messageId and r.id ~= args.messageId then keep = false end
        if keep and args.templateCode and r.template_code ~= args.templateCode then keep = false end
        if keep and args.to and (r.to:gsub("%-", "")) ~= args.to then keep = false end
        if keep then recs[#recs + 1] = r end
      end
    end
  end
  local views = {}
  for _, r in ipairs(recs) do
    local v = view(r, now)
    if (not args.requestStatusName or args.requestStatusName == v.requestStatusName)
        and (not args.messageStatusName or args.messageStatusName == v.messageStatusName) then
      views[#views + 1] = v
    end
  end
  local page = {}
  local first = page_index * page_size + 1
  for i = first, math.min(#views, first + page_size - 1) do page[#page + 1] = views[i] end
  local status_name = "success"
  for _, v in ipairs(page) do
    if v.messageStatusName == "processing" then status_name = "processing" end
    if v.messageStatusName == "reserved" then status_name = "reserved" end
  end
  return 200, { requestId = args.requestId, statusCode = "202", statusName = status_name,
    messages = state.list(page), pageSize = page_size, pageIndex = page_index, itemCount = #page,
    hasMore = #views > first + page_size - 1 }
end

local function not_found(what)
  return 404, { statusCode = "404", statusName = "fail", errorMessage = what .. " not found" }
end

local function result(id)
  local r = state.message("sens", id)
  if not r then return not_found("messageId") end
  return 200, view(r, ngx.now(), true)
end

local function reservation(rid, cancel)
  local d = state.dict("sbx_msg")
  local s = d:get("rv:" .. rid)
  if not s then return not_found("reserveId") end
  local rv = state.decode(s)
  local now = ngx.now()
  local st = rv.canceled and "CANCELED" or (now < rv.due and "READY" or "DONE")
  if not cancel then
    return 200, { reserveId = rid, reserveTimeZone = rv.reserveTimeZone, reserveTime = rv.reserveTime,
      reserveStatus = st }
  end
  if st ~= "READY" then
    return bad_request("1030", "The reservation is " .. st .. " and cannot be canceled.")
  end
  rv.canceled = true
  d:set("rv:" .. rid, state.encode(rv))
  -- a reservation is one request, so one stored batch: every message in it is canceled
  local value = state.batch_value("sens", rv.first)
  if value then
    local h, body = split_batch(value)
    if h then
      h.canceled = true
      state.save_batch("sens", rv.first, state.encode(h) .. "\n" .. body)
    end
  end
  return 204, nil
end

local function channels(creds, service_id)
  local args = ngx.req.get_uri_args(20)
  local size = tonumber(args.pageSize) or 100
  if size < 1 or size > 100 then return bad_request("1030", "pageSize must be 1..100.") end
  local ch = { createTime = "2026-01-02T10:00:00", updateTime = "2026-01-02T10:00:00",
    serviceId = service_id, channelId = creds.plus_friend_id, channelName = creds.channel_name or "Sandbox",
    channelStatus = "ACTIVE", useSmsFailover = true, failoverServiceId = "ncp:sms:kr:sandbox",
    failoverTelNo = creds.failover_tel or "0212345678", isBlock = false, isDormant = false }
  if (tonumber(args.pageIndex) or 0) > 0 then return 200, state.EMPTY_ARRAY end
  return 200, { ch }
end

local TYPE = { basic = "NONE", highlight = "TEXT", image = "IMAGE", item_list = "ITEM_LIST" }

local function str(v) return type(v) == "string" and v or nil end

local function pair(v)
  if type(v) ~= "table" then return nil end
  return { title = str(v.title), description = str(v.description) }
end

-- One registry entry as SENS describes an approved template (seed 001: every mandatory field).
local function template_view(t, code, creds)
  local raw = t.raw
  local buttons = {}
  for i, b in ipairs(type(raw.buttons) == "table" and raw.buttons or {}) do
    buttons[i] = { order = i, type = b.type, name = b.name, linkMobile = str(b.url_mobile),
      linkPc = str(b.url_pc), schemeIos = str(b.scheme_ios), schemeAndroid = str(b.scheme_android) }
  end
  local ih = type(raw.item_highlight) == "table" and raw.item_highlight or nil
  local item
  if type(raw.items) == "table" and #raw.items > 0 or type(raw.summary) == "table" then
    local list = {}
    for i, it in ipairs(type(raw.items) == "table" and raw.items or {}) do list[i] = pair(it) end
    item = { list = state.list(list), summary = pair(raw.summary) }
  end
  return { createTime = "2026-01-02T10:00:00", updateTime = "2026-01-02T10:00:00",
    channelId = creds.plus_friend_id, templateCode = code, templateName = raw.name,
    categoryCode = "999999", categoryName = "기타", messageType = "BA",
    emphasizeType = TYPE[t.type] or "NONE", content = raw.body, title = str(raw.title),
    headerContent = str(raw.header), templateInspectionStatus = "COMPLETE",
    templateStatus = "ACTIVE", buttons = state.list(buttons), securityFlag = raw.authentication == true,
    isBlock = false, isDormant = false, useImage = t.type == "image",
    useHeaderContent = type(raw.header) == "string",
    useItemHighlight = ih ~= nil, useItemHighlightImage = ih ~= nil
      and (ih.image == true or type(ih.image) == "string"),
    itemHighlight = ih and { title = str(ih.title), description = str(ih.description),
      imageUrl = str(ih.image) },
    item = item }
end

local function templates(creds)
  local args = ngx.req.get_uri_args(20)
  if type(args.channelId) ~= "string" then return bad_request("1004", "channelId is required.") end
  if (args.templateCode ~= nil and type(args.templateCode) ~= "string")
      or (args.templateName ~= nil and type(args.templateName) ~= "string") then
    return bad_request("1030", "templateCode and templateName are strings.")
  end
  if args.channelId ~= creds.plus_friend_id then
    return 404, { statusCode = "404", statusName = "fail", errorMessage = "channel not found" }
  end
  local out = {}
  for _, t in ipairs(registry.all()) do
    local raw = t.raw
    local code = raw.codes and raw.codes.sens
    if code and (not args.templateCode or args.templateCode == code)
        and (not args.templateName or raw.name:find(args.templateName, 1, true)) then
      out[#out + 1] = template_view(t, code, creds)
    end
  end
  if args.templateCode and #out == 0 then
    return 404, { statusCode = "404", statusName = "fail", errorMessage = "template not found" }
  end
  return 200, state.list(out)
end

--- Handle a request under /alimtalk/v2/services/. Returns status, body, headers.
function _M.handle(ctx)
  local creds = state.config.credentials.sens
  local status, body = _M.authenticate(creds, ctx.method)
  if status then return status, body end
  local service_id, rest = ctx.path:match("^/alimtalk/v2/services/([^/]+)(/.*)$")
  if not service_id or service_id ~= creds.service_id then
    return gateway(404, "300", "Not Found Exception", "service not found")
  end
  local m = ctx.method
  if rest == "/messages" then
    if m == "POST" then return send(ctx, creds) end
    if m == "GET" then return query(creds) end
  elseif rest:find("^/messages/[^/]+$") then
    if m == "GET" then return result(rest:sub(11)) end
  elseif rest:find("^/reservations/[^/]+/reserve%-status$") then
    if m == "GET" then return reservation(rest:match("^/reservations/([^/]+)"), false) end
  elseif rest:find("^/reservations/[^/]+$") then
    if m == "DELETE" then return reservation(rest:sub(15), true) end
  elseif rest == "/channels" then
    if m == "GET" then return channels(creds, service_id) end
  elseif rest == "/templates" then
    if m == "GET" then return templates(creds) end
  else
    return gateway(404, "300", "Not Found Exception", "no such resource")
  end
  return gateway(405, "100", "Bad Request Exception", "method not allowed")
end

return _M
