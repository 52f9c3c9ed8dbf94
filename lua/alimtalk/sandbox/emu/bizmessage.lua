--- Kakao i Connect Message BizMessage emulation (seed 003, protocols.md):
--   POST /v2/oauth/token        Authorization: "Basic {client_id} {client_secret}" (literal, not
--                               base64), grant_type=client_credentials -> bearer token with TTL
--   POST /v2/send/kakao         send one AlimTalk (cid = the client's serial; a reused cid is
--                               answered code 510 / detail 3012)
--   GET  /v2/info/message/results                       polling results (a report group)
--   PUT  /v2/info/message/results/complete/{group_no}   close the report group
--   POST /v2/info/message/search                        delivery list with paging
--   GET  /v2/info/message/search/detail/{uid}           one message
-- A processed call answers HTTP 200 with `code` (200 success, 400 authorization, 410 invalid
-- input, 510 failed to send, 520 failed but can be resent) and the Kakao code as detail_code.
-- Authentication failures answer HTTP 401 with code 400.
-- @module alimtalk.sandbox.emu.bizmessage
local state = require "alimtalk.sandbox.emu.state"
local registry = require "alimtalk.sandbox.emu.registry"
local kakao = require "alimtalk.sandbox.emu.kakao"
local text = require "alimtalk.sandbox.emu.text"
local faults = require "alimtalk.sandbox.emu.faults"

local ngx = ngx
local _M = {}

local OK_CODE = "0000"

local function detail(code, message)
  return { detail_code = code, detail_message = message }
end

local function unauthorized(message)
  return 401, { code = "400", code_detail = detail("ATH0001", message) }
end

local function token(ctx, creds)
  if ctx.method ~= "POST" then return 405, { code = "410", code_detail = detail("1030", "POST only") } end
  local auth = ngx.var.http_authorization or ""
  local id, secret = auth:match("^Basic (%S+) (%S+)$")
  if not id then
    return unauthorized("Authorization must be 'Basic {client_id} {client_secret}'")
  end
  if id ~= creds.client_id or secret ~= creds.client_secret then
    return unauthorized("invalid client credentials")
  end
  local form = ngx.decode_args(ctx.body(), 10)
  if form.grant_type ~= "client_credentials" then
    return 400, { code = "410", code_detail = detail("1030", "grant_type must be client_credentials") }
  end
  local ttl = state.settings.token_ttl or 3600
  local tok = state.random_id(40)
  state.dict("sbx_tok"):set("bt:" .. tok, id, ttl)
  return 200, { code = "200", access_token = tok, token_type = "bearer", expires_in = ttl,
    scope = "bizmessage" }
end

local function bearer()
  local auth = ngx.var.http_authorization
  local tok = auth and auth:match("^[Bb]earer (%S+)$")
  if not tok or not state.dict("sbx_tok"):get("bt:" .. tok) then return false end
  return true
end

local LIMITS = { message_type = 2, sender_key = 40, template_code = 30, phone_number = 16,
  sender_no = 16, message = 1000, title = 50, header = 16, fall_back_message = 2000,
  fall_back_message_type = 2, tax_cd1 = 50, tax_cd2 = 50 }
local REQUIRED = { "message_type", "sender_key", "cid", "template_code", "phone_number", "sender_no",
  "message" }

local function answer(code, cid, uid, dcode, dmsg)
  return 200, { code = code, uid = uid or "", cid = cid or "", result = detail(dcode, dmsg) }
end

local function uid_for(now)
  return os.date("!%y%m%d%H%M%S", math.floor(now) + 9 * 3600)
    .. string.format("%03d", math.floor((now % 1) * 1000)) .. state.random_id(15)
end

-- Buttons, items and quick replies: the `attachment` / `supplement` objects (as Kakao's
-- BizMessage and API PLEX write them) or the same keys at the top level.
local function normalize(req)
  local att = type(req.attachment) == "table" and req.attachment or req
  local sup = type(req.supplement) == "table" and req.supplement or req
  local m = { content = req.message, title = req.title, header = req.header,
    buttons = att.button, quick_replies = sup.quick_reply, item_highlight = att.item_highlight,
    summary_limit = 14 }
  if type(att.item) == "table" then
    m.items = att.item.list
    m.summary = att.item.summary
  end
  return m
end

local function send(ctx, creds)
  local req = state.decode_request(ctx.body())
  if type(req) ~= "table" then
    return 400, { code = "410", uid = "", cid = "", result = detail("3010", "JsonParseException") }
  end
  local cid = type(req.cid) == "string" and req.cid or nil
  for _, k in ipairs(REQUIRED) do
    if type(req[k]) ~= "string" or req[k] == "" then
      return answer("410", cid, nil, "1004", "NoValueJsonElement: " .. k .. " is required")
    end
  end
  if type(req.fall_back_yn) ~= "boolean" then
    return answer("410", cid, nil, "1004", "NoValueJsonElement: fall_back_yn (boolean) is required")
  end
  for k, max in pairs(LIMITS) do
    local v = req[k]
    if v ~= nil then
      if type(v) ~= "string" then return answer("410", cid, nil, "1030", k .. " must be a string") end
      if text.chars(v) > max then
        local code = (k == "message" and "3014") or (k == "title" and "3029")
          or (k == "header" and "3032") or "1030"
        return answer("410", cid, nil, code, string.format("%s is over text(%d)", k, max))
      end
    end
  end
  if req.message_type ~= "AT" and req.message_type ~= "AI" then
    return answer("410", cid, nil, "8521", "message_type must be AT (or AI)")
  end
  if req.sender_key ~= creds.sender_key then
    return answer("400", cid, nil, "1003", "InvalidSenderKey")
  end
  local phone = text.kr_mobile(req.phone_number)
  if not phone then return answer("410", cid, nil, "3008", "InvalidPhoneNumberException") end
  if not req.sender_no:find("^%d+$") then
    return answer("410", cid, nil, "1030", "sender_no must be digits")
  end
  if req.fall_back_yn and req.fall_back_message_type ~= nil
      and req.fall_back_message_type ~= "SM" and req.fall_back_message_type ~= "LM" then
    return answer("410", cid, nil, "1030", "fall_back_message_type must be SM or LM")
  end
  local tpl = registry.find("bizmessage", req.template_code)
  if not tpl then return answer("510", cid, nil, "3015", "TemplateNotFoundException") end
  local code, desc = kakao.check(tpl, normalize(req), state.settings.max_variable_chars)
  if code then
    return answer(code == "1030" and "410" or "510", cid, nil, code, desc)
  end
  local fault, fired = ctx.fault, ctx.fired
  local deliver = true
  if fault and fault.kind == "code" and faults.hits_message(fault, fired, 1) then
    code = fault.code
    deliver = fault.deliver == true or (fault.deliver == nil and code == "3005")
  end
  -- The serial is claimed only by a request that gets through (a rejected one may be fixed and
  -- sent again under the same cid).
  local now = ngx.now()
  local uid = uid_for(now)
  if not code or deliver then
    local fresh, first_uid = state.claim("bizmessage", cid, uid)
    if not fresh then
      ctx.serials = { cid }
      return answer("510", cid, first_uid, "3012", "SerialNumberDuplicatedException")
    end
  end
  local result = OK_CODE
  if fault and fault.kind == "result_code" then result = fault.code end
  if state.settings.unreachable and state.settings.unreachable[phone] then result = "3019" end
  local nm = normalize(req)
  local rec = { provider = "bizmessage", id = uid, serial = cid, to = req.phone_number,
    text = req.message, title = req.title, header = req.header, template = tpl.name,
    template_code = req.template_code, buttons = nm.buttons, quick_replies = nm.quick_replies,
    item_highlight = nm.item_highlight, items = nm.items, summary = nm.summary,
    sender_no = req.sender_no, message_type = req.message_type, accepted_at = now,
    reg_date = state.kst(now), due = now + (state.settings.delivery_delay or 0),
    ok_code = OK_CODE, result_code = result, fall_back = req.fall_back_yn, client_id = req.client_id,
    fall_back_type = req.fall_back_message_type, fall_back_message = req.fall_back_message,
    fall_back_title = req.fall_back_title,
    etc = { req.etc1, req.etc2 } }
  if code and not deliver then rec.rejected = true end
  state.save_message("bizmessage", uid, rec)
  if deliver then
    state.dict("sbx_state"):rpush("bm_reports", uid)
  end
  ctx.ids, ctx.serials = { uid }, { cid }
  if code then
    ctx.codes = { code }
    return answer(code == "3005" and "520" or "510", cid, uid, code, kakao.names[code] or "injected")
  end
  ctx.codes = { "200" }
  return answer("200", cid, uid, "NRM0000", "Success")
end

local function status_code(rec, now)
  local st = state.status(rec, now)
  if st == "pending" then return "API_100", nil end
  if st == "delivered" then return "API_200", rec.result_code end
  return "API_510", rec.result_code
end

local function result_row(rec, seq, now)
  local sc, kko = status_code(rec, now)
  return { seq_no = seq, client_id = rec.client_id or "", uid = rec.id, cid = rec.serial,
    status_code = sc, kko_status_code = kko, sms_status_code = "-100",
    ended_yn = "Y", ended_date = state.kst(rec.due), message_type = rec.message_type or "AT" }
end

local function results()
  local d = state.dict("sbx_state")
  local open = d:get("bm_group")
  if open then
    return 200, { code = "200", code_detail = detail("NRM00000", "Success"), report_group_no = open,
      results = state.list(state.decode(d:get("bg:" .. open) or "[]")) }
  end
  local now = ngx.now()
  local rows = {}
  while #rows < 1000 do
    local uid = d:lpop("bm_reports")
    if not uid then break end
    local rec = state.message("bizmessage", uid)
    if rec then
      if now < rec.due then d:lpush("bm_reports", uid) break end
      rows[#rows + 1] = result_row(rec, state.next("bm_seq"), now)
    end
  end
  if #rows == 0 then
    return 200, { code = "200", code_detail = detail("NRM00000", "Success"), report_group_no = "",
      results = state.EMPTY_ARRAY }
  end
  local group = tostring(8493608862000000000 + state.next("bm_group_n"))
  d:set("bg:" .. group, state.encode(rows))
  d:set("bm_group", group)
  return 200, { code = "200", code_detail = detail("NRM00000", "Success"), report_group_no = group,
    results = rows }
end

local function complete(group)
  local d = state.dict("sbx_state")
  if d:get("bm_group") ~= group then
    return 200, { code = "410", code_detail = detail("8514", "report group not found or already closed") }
  end
  d:delete("bm_group")
  d:delete("bg:" .. group)
  return 200, { code = "200", code_detail = detail("NRM00000", "Success") }
end

local function search(ctx)
  local req = state.decode_request(ctx.body() ~= "" and ctx.body() or "{}")
  if type(req) ~= "table" then
    return 400, { status = "410", code = "410", code_detail = detail("3010", "JsonParseException") }
  end
  local size = req.size or 1000
  if type(size) ~= "number" or size < 1 or size > 1000 or size % 1 ~= 0 then
    return 200, { status = "410", code = "410", code_detail = detail("1030", "size must be 1..1000") }
  end
  local today = state.kst():sub(1, 10)
  local sd, ed = req.start_date, req.end_date
  if (sd == nil) ~= (ed == nil) then
    return 200, { status = "410", code = "410",
      code_detail = detail("1030", "start_date and end_date go together") }
  end
  sd, ed = sd or today, ed or today
  if type(sd) ~= "string" or not sd:find("^%d%d%d%d%-%d%d%-%d%d$") or type(ed) ~= "string"
      or not ed:find("^%d%d%d%d%-%d%d%-%d%d$") then
    return 200, { status = "410", code = "410", code_detail = detail("1030", "dates are yyyy-mm-dd") }
  end
  local now = ngx.now()
  local n = state.count("bizmessage")
  local start = state.first("bizmessage")
  if req.last_uid then
    local rec = state.message("bizmessage", tostring(req.last_uid))
    if not rec then
      return 200, { status = "410", code = "410", code_detail = detail("1030", "unknown last_uid") }
    end
    start = (rec.index or 0) + 1
  end
  local rows, more = {}, false
  for i = start, n do
    local rec = state.message_at("bizmessage", i)
    if rec then
      local day = rec.reg_date:sub(1, 10)
      local sc, kko = status_code(rec, now)
      if rec.rejected then sc, kko = "API_510", rec.result_code end
      if day >= sd and day <= ed and (not req.status_code or req.status_code == sc)
          and (not req.client_id or req.client_id == rec.client_id) then
        if #rows == size then more = true break end
        rows[#rows + 1] = { uid = rec.id, reg_date = rec.reg_date, status_code = sc,
          kko_status_code = kko, sms_status_code = "-100", cid = rec.serial,
          etc1 = rec.etc[1], etc2 = rec.etc[2] }
      end
    end
  end
  return 200, { status = "200", code = "200", count = #rows, next = more,
    last_uid = rows[#rows] and rows[#rows].uid or nil,
    code_detail = detail("NRM00000", "success"), results = state.list(rows) }
end

local function search_detail(uid)
  local rec = state.message("bizmessage", uid)
  if not rec then
    return 200, { code = "410", code_detail = detail("4000", "ResponseHistoryNotFoundException") }
  end
  local sc, kko = status_code(rec, ngx.now())
  return 200, { code = "200", code_detail = detail("NRM00000", "success"), result = {
    uid = rec.id, reg_date = rec.reg_date, message_type = rec.message_type, status_code = sc,
    phone_number = rec.to, template_code = rec.template_code, req_date = rec.reg_date,
    req_sms_yn = rec.fall_back and "Y" or "N", kko_status_code = kko, message = rec.text,
    cid = rec.serial, sender_no = rec.sender_no, kko_title = rec.title, header = rec.header } }
end

--- Handle /v2/...; returns status, body, headers.
function _M.handle(ctx)
  local creds = state.config.credentials.bizmessage
  local path, m = ctx.path, ctx.method
  if path == "/v2/oauth/token" then return token(ctx, creds) end
  if not bearer() then return unauthorized("invalid or expired access token") end
  if path == "/v2/send/kakao" and m == "POST" then return send(ctx, creds) end
  if path == "/v2/info/message/results" and m == "GET" then return results() end
  if m == "PUT" and path:find("^/v2/info/message/results/complete/[^/]+$") then
    return complete(path:sub(35))
  end
  if path == "/v2/info/message/search" and m == "POST" then return search(ctx) end
  if m == "GET" and path:find("^/v2/info/message/search/detail/[^/]+$") then
    return search_detail(path:sub(32))
  end
  return 404, { code = "410", code_detail = detail("NOT_FOUND", "no such API: " .. m .. " " .. path) }
end

return _M
