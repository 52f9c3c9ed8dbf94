--- API PLEX AlimTalk emulation (seed 004, protocols.md):
--   POST /{service_id}/v2/send   service_id at-standard | at-bulk | at-finance | at-verify,
--                                `Authorization: userID;secret_key`, up to 10 msg_data.
-- The answer is HTTP 200 `{"results":[{"msg_key","code","desc"}]}` with an acceptance code per
-- message: C100 accepted, C400_1 wrong type, C400_2 invalid value (also a reused msg_key:
-- desc "duplicated msg_key"), C400_3 missing field, C404_1 unknown template/sender key,
-- G140 sender number, G141 recipient number, G142 echo_to_webhook over 256 bytes or not a
-- string. A P3 button without oneclick_id/product_id is C400_3 (a missing parameter); a
-- quick reply of a type other than WL/AL/BK/MD/BC/BT is C400_2.
-- More than 10 msg_data: HTTP 400 with code G160 for the request. A template mismatch is
-- accepted (C100) and reported by the result webhook (code 3016), as Kakao reports it.
-- The result webhook POSTs `{"results":[{msg_key, code, desc, request_date, done_date,
-- echo_to_webhook}]}` (one result per call, retried up to 10 times) to the configured URL.
-- @module alimtalk.sandbox.emu.apiplex
local state = require "alimtalk.sandbox.emu.state"
local registry = require "alimtalk.sandbox.emu.registry"
local kakao = require "alimtalk.sandbox.emu.kakao"
local text = require "alimtalk.sandbox.emu.text"
local faults = require "alimtalk.sandbox.emu.faults"
local webhook = require "alimtalk.sandbox.emu.webhook"

local ngx = ngx
local _M = {}

local OK_CODE = "0000"
local SERVICES = { ["at-standard"] = true, ["at-bulk"] = true, ["at-finance"] = true, ["at-verify"] = true }

local DESC = { C100 = "Success", C400_1 = "Invalid data type", C400_2 = "Invalid request parameter",
  C400_3 = "Missing required parameters", C404_1 = "Unable to find the data",
  C500_1 = "Internal server error", G110 = "API UNIQUE ID exception (Invalid URL)",
  G140 = "Sender number exception", G141 = "Recipient number exception",
  G142 = "Invalid echo_to_webhook value", G150 = "Insufficient credit",
  G160 = "Exceeded the maximum number of transmissions per session" }
_M.DESC = DESC

-- Byte limits (seed 004).
local BYTES = { header = 64, title = 200, currency_type = 12, echo_to_webhook = 256 }
local BUTTON_BYTES = { name = 112, chat_extra = 50, chat_event = 50 }
local QUICK_BYTES = { name = 54, chat_extra = 200, chat_event = 200 }
local STRINGS = { "sender_number", "msg_key", "header", "msg", "receiver_number", "title",
  "template_code", "sender_key", "currency_type" }
-- Quick replies take only these types (seed 004's quick_reply table).
local QUICK_TYPES = { WL = true, AL = true, BK = true, MD = true, BC = true, BT = true }
local function nonempty(v) return type(v) == "string" and v ~= "" end

local function check_buttons(list, where, limits)
  if list == nil then return nil end
  if type(list) ~= "table" then return "C400_1", where .. " must be a list" end
  if #list > (where == "button" and 5 or 10) then return "C400_2", where .. ": too many entries" end
  for i, b in ipairs(list) do
    if type(b) ~= "table" then return "C400_1", where .. "[" .. i .. "] must be an object" end
    for k, max in pairs(limits) do
      if b[k] ~= nil and (type(b[k]) ~= "string" or #b[k] > max) then
        return "C400_2", string.format("%s[%d].%s is over %d bytes", where, i, k, max)
      end
    end
    if where == "quick_reply" and type(b.type) == "string" and not QUICK_TYPES[b.type] then
      return "C400_2", string.format("quick_reply[%d]: type %s is not a quick reply type "
        .. "(WL, AL, BK, MD, BC, BT)", i, b.type)
    end
    -- "Must send oneclick_id or product_id": a missing parameter (C400_3)
    if where == "button" and b.type == "P3" and not nonempty(b.oneclick_id)
        and not nonempty(b.product_id) then
      return "C400_3", string.format("button[%d]: a P3 button needs oneclick_id or product_id", i)
    end
    local code, desc = kakao.check_button(b, where .. "[" .. i .. "]")
    if code then return "C400_2", desc end
  end
end

local function check(m, creds)
  for _, k in ipairs({ "sender_number", "msg", "receiver_number", "template_code", "sender_key" }) do
    if m[k] == nil or m[k] == "" or m[k] == ngx.null then return "C400_3", "required parameter: " .. k end
  end
  -- G142: "Exceed 256 byte or type error"
  local echo = m.echo_to_webhook
  if echo ~= nil and echo ~= ngx.null and (type(echo) ~= "string" or #echo > 256) then
    return "G142", type(echo) ~= "string" and "echo_to_webhook must be a string"
      or "echo_to_webhook is over 256 bytes"
  end
  for _, k in ipairs(STRINGS) do
    if m[k] ~= nil and m[k] ~= ngx.null and type(m[k]) ~= "string" then
      return "C400_1", k .. " must be a string"
    end
  end
  if m.price ~= nil and type(m.price) ~= "number" then return "C400_1", "price must be a number" end
  for k, max in pairs(BYTES) do
    if type(m[k]) == "string" and #m[k] > max then
      return "C400_2", string.format("%s is over %d bytes", k, max)
    end
  end
  if text.chars(m.msg) > 1000 then return "C400_2", "msg is over 1000 characters" end
  if not m.sender_number:gsub("%-", ""):find("^%d%d%d%d%d%d%d%d?%d?%d?%d?$") then
    return "G140", "invalid sender_number"
  end
  if not text.kr_mobile(m.receiver_number) then return "G141", "invalid receiver_number" end
  if m.sender_key ~= creds.sender_key then return "C404_1", "sender_key not found" end
  local att = m.attachment
  if att ~= nil and type(att) ~= "table" then return "C400_1", "attachment must be an object" end
  att = att or {}
  local code, desc = check_buttons(att.button, "button", BUTTON_BYTES)
  if code then return code, desc end
  local sup = m.supplement
  if sup ~= nil and type(sup) ~= "table" then return "C400_1", "supplement must be an object" end
  code, desc = check_buttons(sup and sup.quick_reply, "quick_reply", QUICK_BYTES)
  if code then return code, desc end
  local ih = att.item_highlight
  if ih ~= nil then
    if type(ih) ~= "table" or type(ih.title) ~= "string" or type(ih.description) ~= "string" then
      return "C400_3", "item_highlight needs title and description"
    end
    if #ih.title > 120 or #ih.description > 76 then
      return "C400_2", "item_highlight is over its byte limits"
    end
  end
  local item = att.item
  if item ~= nil then
    if type(item) ~= "table" or type(item.list) ~= "table" then return "C400_3", "item needs list" end
    for i, it in ipairs(item.list) do
      if type(it) ~= "table" or type(it.title) ~= "string" or type(it.description) ~= "string" then
        return "C400_3", "item.list[" .. i .. "] needs title and description"
      end
      if #it.title > 24 or #it.description > 92 then
        return "C400_2", "item.list[" .. i .. "] is over its byte limits"
      end
    end
    local su = item.summary
    if su ~= nil then
      if type(su) ~= "table" or type(su.title) ~= "string" or type(su.description) ~= "string" then
        return "C400_3", "item.summary needs title and description"
      end
      if #su.title > 24 or #su.description > 56 then
        return "C400_2", "item.summary is over its byte limits"
      end
    end
  end
  if not registry.find("apiplex", m.template_code) then
    return "C404_1", "template not found: " .. m.template_code
  end
  return nil
end

local function normalize(m)
  local att = type(m.attachment) == "table" and m.attachment or {}
  local n = { content = m.msg, title = m.title, header = m.header, buttons = att.button,
    item_highlight = att.item_highlight, quick_replies = type(m.supplement) == "table"
      and m.supplement.quick_reply or nil, summary_limit = 23 }
  if type(att.item) == "table" then n.items, n.summary = att.item.list, att.item.summary end
  return n
end

local function auth_ok(creds)
  local a = ngx.var.http_authorization
  return a ~= nil and a == creds.user_id .. ";" .. creds.secret_key
end

local function result_webhook(rec)
  local url = state.webhook_url("apiplex")
  if not url then return end
  local st = state.status(rec, rec.due)
  local body = state.encode({ results = { {
    msg_key = rec.serial, code = rec.result_code,
    desc = st == "delivered" and "Success" or (rec.result_desc or kakao.names[rec.result_code] or "fail"),
    request_date = state.kst_space(rec.accepted_at), done_date = state.kst_space(rec.due),
    echo_to_webhook = rec.echo, failback = rec.failback } } })
  webhook.schedule(math.max(0, rec.due - ngx.now()), { url = url, body = body, provider = "apiplex",
    id = rec.id, tries = state.settings.webhook_tries or 10 })
end

local function send(ctx, creds)
  local req = state.decode_request(ctx.body())
  if type(req) ~= "table" then
    return 400, { code = "C400_1", desc = "request body is not JSON", results = state.EMPTY_ARRAY }
  end
  if req.msg_type ~= "AT" and req.msg_type ~= "AI" then
    return 400, { code = req.msg_type == nil and "C400_3" or "C400_2",
      desc = "msg_type must be AT or AI", results = state.EMPTY_ARRAY }
  end
  local data = req.msg_data
  if type(data) ~= "table" or #data == 0 then
    return 400, { code = "C400_3", desc = "msg_data is required", results = state.EMPTY_ARRAY }
  end
  if #data > 10 then
    return 400, { code = "G160", desc = DESC.G160 .. " (msg_data holds at most 10 records)",
      results = state.EMPTY_ARRAY }
  end
  local now = ngx.now()
  local fault, fired = ctx.fault, ctx.fired
  local results, ids, codes, serials = {}, {}, {}, {}
  for i, m in ipairs(data) do
    local code, desc
    if type(m) ~= "table" then code, desc = "C400_1", "msg_data[" .. i .. "] must be an object"
    else code, desc = check(m, creds) end
    local key = type(m) == "table" and type(m.msg_key) == "string" and m.msg_key ~= "" and m.msg_key
    key = key or nil
    local deliver = code == nil
    if not code and fault and fault.kind == "code" and faults.hits_message(fault, fired, i) then
      code, desc = fault.code, fault.desc or DESC[fault.code] or kakao.names[fault.code] or "injected"
      deliver = fault.deliver == true or (fault.deliver == nil and code == "3005")
    end
    local id = string.format("AP%d%06d", ngx.time(), state.next("apiplex_msg") % 1000000)
    key = key or id
    if deliver then
      local fresh = state.claim("apiplex", key, id)
      if not fresh then
        code, desc, deliver = "C400_2", "duplicated msg_key", false
      end
    end
    if deliver then
      local tpl = registry.find("apiplex", m.template_code)
      local result, rdesc = OK_CODE, nil
      local kcode, kdesc = kakao.check(tpl, normalize(m), state.settings.max_variable_chars)
      if kcode then result, rdesc = kcode, kdesc end
      if fault and fault.kind == "result_code" then result = fault.code end
      local phone = text.kr_mobile(m.receiver_number)
      if state.settings.unreachable and state.settings.unreachable[phone] then result = "3019" end
      local nm = normalize(m)
      local rec = { provider = "apiplex", id = id, serial = key, to = m.receiver_number,
        text = m.msg, title = m.title, header = m.header, template = tpl.name,
        template_code = m.template_code, buttons = nm.buttons, quick_replies = nm.quick_replies,
        item_highlight = nm.item_highlight, items = nm.items, summary = nm.summary,
        echo = m.echo_to_webhook, accepted_at = now,
        due = now + (state.settings.delivery_delay or 0), ok_code = OK_CODE, result_code = result,
        result_desc = rdesc, service_id = ctx.service_id, failback = m.failback_data and {} or nil }
      state.save_message("apiplex", id, rec)
      result_webhook(rec)
      ids[#ids + 1] = id
    end
    codes[i], serials[i] = code or "C100", key
    results[i] = { msg_key = key, code = code or "C100", desc = desc or DESC.C100 }
  end
  ctx.ids, ctx.codes, ctx.serials = ids, codes, serials
  return 200, { results = results }
end

--- Handle POST /{service_id}/v2/send; returns status, body, headers.
function _M.handle(ctx)
  local creds = state.config.credentials.apiplex
  local service_id = ctx.path:match("^/([^/]+)/v2/send$")
  if not SERVICES[service_id] then
    return 404, { code = "G110", desc = DESC.G110, results = state.EMPTY_ARRAY }
  end
  if not auth_ok(creds) then
    return 401, { error = { errorCode = "200", message = "Authentication Failed",
      details = "Authorization must be 'userID;secret_key'" } }
  end
  if ctx.method ~= "POST" then
    return 405, { code = "C400_2", desc = "POST only", results = state.EMPTY_ARRAY }
  end
  ctx.service_id = service_id
  return send(ctx, creds)
end

return _M
