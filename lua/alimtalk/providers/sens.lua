--- NAVER Cloud SENS AlimTalk (seed 001).
-- Every request is signed (signature v2) with a timestamp taken for that request. Sends carry
-- up to 100 messages sharing one template code (and reservation time); the response lists one
-- result per message in order. SENS has no caller serial, so an uncertain send is never resent:
-- reconcile it with `query_request` / `query_message`.
--
-- Options: `access_key`, `secret_key` (or `access_key_env`/`secret_key_env`; default variables
-- NCP_ACCESS_KEY and NCP_SECRET_KEY), `service_id`, `plus_friend_id`, `base_url`
-- (default https://sens.apigw.ntruss.com; government cloud https://sens.apigw.gov-ntruss.com),
-- `use_sms_failover` (boolean, default: the channel's setting), `ca_file`, `connect_timeout`,
-- `timeout`.
-- @module alimtalk.providers.sens
local _M = {}

local config = require "alimtalk.config"
local common = require "alimtalk.providers.common"
local events = require "alimtalk.events"
local retry = require "alimtalk.retry"

local format = string.format
local floor = math.floor
local null = common.null

local PREFIX = "/alimtalk/v2/services/"

local spec = config.provider_spec({
  service_id = "string", plus_friend_id = "string", use_sms_failover = "boolean",
  now = "function",
}, { "access_key", "secret_key" })

local mt = { __name = "alimtalk.provider.sens" }
local methods = {}
mt.__index = methods
mt.__tostring = function(self) return "alimtalk.provider.sens(" .. self.service_id .. ")" end

--- Make a SENS provider.
-- @tparam table conf options (see module description)
-- @tparam table deps `transport`, `registry`
-- @treturn table provider, or nil and a BAD_OPTION error when a required setting is missing
function _M.new(conf, deps)
  conf = config.check(conf, spec, "alimtalk.new: sens")
  local access, aerr = config.need(conf, "sens", "access_key", "NCP_ACCESS_KEY")
  if not access then return nil, aerr end
  local secret, serr = config.need(conf, "sens", "secret_key", "NCP_SECRET_KEY")
  if not secret then return nil, serr end
  if not conf.service_id then return nil, config.missing("sens", "service_id") end
  local self = setmetatable({
    name = "sens", profile = "sens", max_batch = 100, dedupes = false,
    service_id = conf.service_id, plus_friend_id = conf.plus_friend_id,
    base = config.base_url(conf.base_url or "https://sens.apigw.ntruss.com", "sens"),
    use_sms_failover = conf.use_sms_failover,
    timeout = conf.timeout, connect_timeout = conf.connect_timeout,
    transport = deps and deps.transport, now = conf.now or retry.now,
  }, mt)
  self.path = PREFIX .. self.service_id
  self.send_path = self.path .. "/messages"
  self.send_url = self.base .. self.send_path   -- made once: every send request uses it
  config.hide(self, { access_key = access, secret_key = secret })
  self.core = require "alimtalk.core"
  return self
end

-- Signed request for METHOD and URI (path + query exactly as sent); `url` when the caller
-- already has base .. uri.
function methods:signed(method, uri, body, url)
  local ts = format("%d", floor(self.now() * 1000))   -- ("%.0f" costs a multi-precision print)
  local access = config.secret(self, "access_key")
  local sig = self.core.ncp_signature(method, uri, ts, access, config.secret(self, "secret_key"))
  local headers = {
    ["x-ncp-apigw-timestamp"] = ts,
    ["x-ncp-iam-access-key"] = access,
    ["x-ncp-apigw-signature-v2"] = sig,
  }
  if body then headers["Content-Type"] = "application/json; charset=utf-8" end
  return { method = method, url = url or self.base .. uri, headers = headers, body = body,
           timeout = self.timeout, connect_timeout = self.connect_timeout }
end

local function button(b)
  return {
    type = b.type, name = b.name, linkMobile = b.url_mobile, linkPc = b.url_pc,
    schemeIos = b.scheme_ios, schemeAndroid = b.scheme_android,
  }
end

-- The SENS form of each of a registry entry's buttons whose texts hold no variable (false for
-- the others): the same for every message rendered from the entry, so made once per entry
-- and shared by their payloads (which are only encoded, never changed).
local function fixed_buttons(tpl)
  local fixed = tpl.sens_buttons
  if fixed then return fixed end
  fixed = {}
  for i, b in ipairs(tpl.buttons) do
    local texts = { type = b.type }
    for _, k in ipairs(b.parts) do
      if #b[k].names > 0 then texts = nil break end
      texts[k] = b[k].body
    end
    fixed[i] = texts and button(texts) or false
  end
  tpl.sens_buttons = fixed
  return fixed
end

--- Map one message to its SENS `messages[]` element.
-- @tparam table msg message model
-- @tparam[opt] table tpl registry entry
-- @tparam string code SENS template code
-- @treturn table entry `{ payload =, group =, code = }`
function methods:prepare(msg, tpl, code)
  -- a validated copy (`rendered` set) already holds every finished text
  local t = msg.rendered and msg or common.texts(msg, tpl)
  local m = {
    countryCode = msg.country_code, to = msg.recipient or common.phone(msg.to, "sens", msg.country_code),
    content = t.content, title = t.title, headerContent = t.header,
  }
  if msg.item_highlight then
    m.itemHighlight = { title = msg.item_highlight.title,
                        description = msg.item_highlight.description }
  end
  if msg.items or msg.summary then
    m.item = { list = msg.items, summary = msg.summary }
  end
  local list = t.buttons
  if list and #list > 0 then
    local fixed = tpl and msg.rendered and msg.rendered.buttons and fixed_buttons(tpl)
    local bs = { nil, nil, nil, nil, nil }   -- room for Kakao's 5 buttons: no regrowth
    for i = 1, #list do bs[i] = fixed and fixed[i] or button(list[i]) end
    m.buttons = bs
  end
  local fo = msg.failover
  if fo == false then
    m.useSmsFailover = false
  elseif fo ~= nil and type(fo) == "table" then
    m.useSmsFailover = true
    m.failoverConfig = { type = fo.type, from = fo.from, subject = fo.subject, content = fo.content }
  elseif self.use_sms_failover ~= nil then
    m.useSmsFailover = self.use_sms_failover
  end
  local group = code
  if msg.reserve_time then
    group = code .. "\0" .. msg.reserve_time .. "\0" .. (msg.reserve_zone or "")
  end
  return { payload = m, group = group, code = code, reserve_time = msg.reserve_time,
           reserve_zone = msg.reserve_zone, content = t.content }
end

--- Build the send request for a chunk of entries sharing one group.
function methods:build(chunk)
  local first = chunk[1]
  local list = {}
  for i = 1, #chunk do list[i] = chunk[i].payload end
  local body = common.encode({
    plusFriendId = self.plus_friend_id, templateCode = first.code, messages = list,
    reserveTime = first.reserve_time, reserveTimeZone = first.reserve_zone,
  })
  return self:signed("POST", self.send_path, body, self.send_url)
end

-- A code or message field as text (a hostile or broken answer may put an object there).
local function text(v)
  v = common.val(v)
  if type(v) == "number" then return common.code(v) end
  return type(v) == "string" and v ~= "" and v or nil
end

local function error_of(doc)
  -- API Gateway errors: {"error":{"errorCode":"200","message":"Authentication Failed"}}
  local e = doc and doc.error
  if type(e) == "table" then
    return text(e.errorCode) or text(e.code), text(e.message) or text(e.details)
  end
  if doc then
    return text(doc.statusCode) or text(doc.errorCode),
           text(doc.statusName) or text(doc.errorMessage) or text(doc.message)
  end
end

--- Per-message outcomes of a send response.
function methods.parse(_, resp, chunk)
  local doc = common.decode(resp.body)
  local n = #chunk
  if resp.status == 202 or resp.status == 200 then
    local list = doc and doc.messages
    if type(list) ~= "table" or #list ~= n then
      -- Accepted by HTTP but unreadable: the messages may well be on their way.
      return common.each(n, { status = "uncertain", code = tostring(resp.status),
                              message = "unreadable send response" })
    end
    local out, request_id = {}, common.val(doc.requestId)
    for i = 1, n do
      local m = list[i]
      if type(m) ~= "table" then m = {} end   -- (a JSON null too)
      local code = common.code(m.requestStatusCode)
      -- An accepted request whose entry has no code, or one the catalogue does not know, may
      -- well be on its way: uncertain, never a rejection the caller would resend.
      local class = code == "A000" and "accepted" or common.classify("sens", code, "uncertain")
      -- only A000 says the request was taken (seed 001: other codes are failures); a status
      -- name, delivery or HTTP code the catalogue knows as a success is no answer SENS
      -- documents here: uncertain, neither accepted nor a rejection to resend
      if code ~= "A000" and (class == "accepted" or class == "pending" or class == "delivered") then
        class = "uncertain"
      end
      if class == "failed" then class = "rejected" end
      -- (common.val inline: a JSON null reads as nil)
      local desc, id = m.requestStatusDesc, m.messageId
      if not desc or desc == null then
        desc = m.requestStatusName
        if desc == null then desc = nil end
      end
      if id == null then id = nil end
      out[i] = { status = class, code = code, message = desc,
                 ids = { request_id = request_id, message_id = id } }
    end
    return out
  end
  local o = common.http_outcome(resp)
  if o.status == "rejected" or o.status == "unauthorized" then
    local code, msg = error_of(doc)
    if code then o.provider_code = common.code(code) end
    if msg then o.message = msg end
  end
  return common.each(n, o)
end

-- Run one signed GET/DELETE through the transport and decode the JSON answer. `what` names
-- the thing looked up ("message with id X"), so a 404 says what was not found.
function methods:call(method, uri, what)
  if not self.transport then return nil, "no transport" end
  local resp, err, code = self.transport:request(self:signed(method, uri))
  if not resp then
    return nil, require("alimtalk.errors").new{ code = "TRANSPORT", message = err,
                                                provider_code = code, provider = "sens" }
  end
  local doc = common.decode(resp.body)
  if resp.status >= 300 then
    local pc, msg = error_of(doc)
    if resp.status == 404 and what then
      msg = "no " .. what .. " at sens" .. (msg and msg ~= "fail" and (" (" .. msg .. ")") or "")
    end
    return nil, require("alimtalk.errors").new{
      code = resp.status == 404 and "NOT_FOUND" or "PROVIDER",
      message = msg or ("HTTP " .. resp.status), provider_code = pc and tostring(pc)
        or tostring(resp.status), provider = "sens", status = resp.status }
  end
  return doc or {}, resp
end

-- A delivery event from one message record of a query answer. Delivered only on
-- messageStatusCode 0000 after a successful request stage: any other code the catalogue reads
-- as success (A000, 200, DONE) is not a delivery result.
local function message_event(m, request_id)
  if type(m) ~= "table" then
    -- an entry that is not an object tells nothing about any message: not settled
    return events.new{ provider = "sens", status = "pending", ids = { request_id = request_id },
                       message = "an unreadable message entry in the answer", raw = m }
  end
  local code = common.code(m.messageStatusCode)
  local name = common.val(m.messageStatusName)
  local rcode = common.code(m.requestStatusCode)
  local status
  if name == "processing" or (code == nil and rcode == "A000") then
    status = "pending"
  elseif rcode and rcode ~= "A000" then
    status, code = "failed", rcode
  elseif code == "0000" and name ~= "fail" then
    status = "delivered"
  elseif code == nil then
    status = name == "fail" and "failed" or "pending"
  else
    status = events.status_for("sens", code, "failed")
    if status == "delivered" then status = "failed" end
  end
  local fo = common.val(m.failover)
  local fallback
  if type(fo) == "table" then
    local fcode = common.code(fo.messageStatusCode) or common.code(fo.requestStatusCode)
    local fstatus = common.val(fo.messageStatus)
    fallback = {
      status = fstatus == "COMPLETED" and (common.val(fo.messageStatusName) == "success"
        and "delivered" or "failed") or "pending",
      code = fcode, message = common.val(fo.messageStatusDesc) or common.val(fo.requestStatusDesc),
      ids = { request_id = common.val(fo.requestId), message_id = common.val(fo.messageId) },
    }
  end
  return events.new{
    provider = "sens", status = status, code = code,
    message = common.val(m.messageStatusDesc) or common.val(m.requestStatusDesc),
    ids = { request_id = common.val(m.requestId) or request_id, message_id = common.val(m.messageId) },
    to = common.val(m.to), time = common.val(m.completeTime) or common.val(m.requestTime),
    template = common.val(m.templateCode), content = common.val(m.content),
    fallback = fallback, raw = m,
  }
end

--- Query a send request (or a time range): delivery events for its messages.
-- @tparam table q `request_id`, or `request_start`/`request_end` or `complete_start`/`complete_end`
--   (yyyy-MM-dd'T'HH:mm:ss), and optionally `message_id`, `template_code`, `to`, `page_index`,
--   `page_size` (max 100), `plus_friend_id` (default the configured one)
-- @treturn table `{ request_id =, events = {...}, page_index =, page_size =, has_more = }`
function methods:query_request(q)
  if type(q) == "string" then q = { request_id = q } end
  local params = {
    requestId = q.request_id, requestStartTime = q.request_start, requestEndTime = q.request_end,
    completeStartTime = q.complete_start, completeEndTime = q.complete_end,
    messageId = q.message_id, templateCode = q.template_code, to = q.to,
    pageIndex = q.page_index, pageSize = q.page_size,
    requestStatusName = q.request_status, messageStatusName = q.message_status,
  }
  if not q.request_id then params.plusFriendId = q.plus_friend_id or self.plus_friend_id end
  local doc, err = self:call("GET", self.path .. "/messages" .. common.query(params),
                             q.request_id and ("request with id " .. tostring(q.request_id)))
  if not doc then return nil, err end
  local evs = {}
  for i, m in ipairs(type(doc.messages) == "table" and doc.messages or {}) do
    evs[i] = message_event(m, common.val(doc.requestId))
  end
  return { request_id = common.val(doc.requestId), events = evs,
           page_index = common.val(doc.pageIndex), page_size = common.val(doc.pageSize),
           item_count = common.val(doc.itemCount), has_more = common.val(doc.hasMore) == true }
end

--- Delivery result of one message.
-- @tparam string message_id
-- @treturn table event
function methods:query_message(message_id)
  local doc, err = self:call("GET", self.path .. "/messages/" .. common.escape(message_id),
                             "message with id " .. tostring(message_id))
  if not doc then return nil, err end
  return message_event(doc)
end

--- Reservation status: `{ reserve_id =, reserve_time =, reserve_zone =, status = }` where status
-- is READY, PROCESSING, CANCELED, FAIL, DONE or STALE.
function methods:reservation(reserve_id)
  local doc, err = self:call("GET", self.path .. "/reservations/" .. common.escape(reserve_id)
                             .. "/reserve-status", "reservation " .. tostring(reserve_id))
  if not doc then return nil, err end
  return { reserve_id = common.val(doc.reserveId), reserve_time = common.val(doc.reserveTime),
           reserve_zone = common.val(doc.reserveTimeZone), status = common.val(doc.reserveStatus) }
end

--- Cancel a reservation. @treturn boolean true, or nil and an error
function methods:cancel_reservation(reserve_id)
  local doc, err = self:call("DELETE", self.path .. "/reservations/" .. common.escape(reserve_id),
                             "reservation " .. tostring(reserve_id))
  if not doc then return nil, err end
  return true
end

--- Kakao Talk channels of the service: list of `{ channel_id =, name =, status =, ... }`.
function methods:channels(q)
  q = q or {}
  local doc, err = self:call("GET", self.path .. "/channels"
                             .. common.query{ pageIndex = q.page_index, pageSize = q.page_size })
  if not doc then return nil, err end
  local out = {}
  for _, c in ipairs(doc) do
    if type(c) == "table" then
      out[#out + 1] = { channel_id = common.val(c.channelId), name = common.val(c.channelName),
        status = common.val(c.channelStatus), use_sms_failover = common.val(c.useSmsFailover),
        failover_tel_no = common.val(c.failoverTelNo), blocked = common.val(c.isBlock),
        dormant = common.val(c.isDormant), raw = c }
    end
  end
  return out
end

--- Templates of a channel (SENS template objects as decoded: templateCode, content, buttons, ...).
-- @tparam table q `channel_id` (default plus_friend_id), `template_code`, `template_name`,
--   `page_index`, `page_size`
-- @treturn table list of SENS template records
function methods:templates(q)
  q = q or {}
  local doc, err = self:call("GET", self.path .. "/templates" .. common.query{
    channelId = q.channel_id or self.plus_friend_id, templateCode = q.template_code,
    templateName = q.template_name, pageIndex = q.page_index, pageSize = q.page_size })
  if not doc then return nil, err end
  if doc.templateCode then return { doc } end
  return doc
end

return _M
