--- Kakao i Connect Message BizMessage (seed 003).
-- OAuth client-credentials token (cached, refreshed `refresh_margin` seconds before expiry and
-- once on a 401), one message per `POST /v2/send/kakao`. `cid` is the message serial: the
-- caller's `id`, or one generated per message and kept across retries. Because BizMessage
-- dedupes by `cid`, an uncertain send is resent with the same `cid`, and a
-- duplicated-serial answer (Kakao 3012) then counts as accepted. An answer with code 400
-- (Authorization error) is treated like HTTP 401: the token is refreshed once and the message
-- resent; a second 400 is rejected. `sender_no` is the message's `from`, else its
-- `failover.from` (BizMessage has one sender number for the message and its fallback), else
-- the configured one.
--
-- Options: `client_id`, `client_secret` (or `client_secret_env`; default variable
-- BIZMSG_CLIENT_SECRET), `sender_key`, `sender_no`, `base_url` (default
-- https://bizmsg-web.kakaoenterprise.com; see seed 003 for the finance/stock/public and staging
-- hosts, and note the staging hosts deliver real messages), `token_ttl` (seconds assumed when the
-- token answer has no `expires_in`, default 3600), `refresh_margin` (default 60),
-- `ca_file`, `connect_timeout`, `timeout`.
-- @module alimtalk.providers.bizmessage
local _M = {}

local config = require "alimtalk.config"
local common = require "alimtalk.providers.common"
local errors = require "alimtalk.errors"
local events = require "alimtalk.events"
local retry = require "alimtalk.retry"

local spec = config.provider_spec({
  client_id = "string", sender_key = "string", sender_no = "string", token_ttl = "number",
  refresh_margin = "number", now = "function",
}, { "client_secret" })

local mt = { __name = "alimtalk.provider.bizmessage" }
local methods = {}
mt.__index = methods
mt.__tostring = function(self) return "alimtalk.provider.bizmessage(" .. self.base .. ")" end

--- Make a BizMessage provider.
-- @tparam table conf options
-- @tparam table deps `transport`
-- @treturn table provider, or nil and a BAD_OPTION error
function _M.new(conf, deps)
  conf = config.check(conf, spec, "alimtalk.new: bizmessage")
  local id = conf.client_id or os.getenv("BIZMSG_CLIENT_ID")
  if not id then return nil, config.missing("bizmessage", "client_id") end
  local secret, serr = config.need(conf, "bizmessage", "client_secret", "BIZMSG_CLIENT_SECRET")
  if not secret then return nil, serr end
  if not conf.sender_key then return nil, config.missing("bizmessage", "sender_key") end
  if not conf.sender_no then return nil, config.missing("bizmessage", "sender_no") end
  local self = setmetatable({
    name = "bizmessage", profile = "bizmessage", max_batch = 1, dedupes = true,
    client_id = id, sender_key = conf.sender_key, sender_no = conf.sender_no,
    base = config.base_url(conf.base_url or "https://bizmsg-web.kakaoenterprise.com", "bizmessage"),
    token_ttl = conf.token_ttl or 3600, refresh_margin = conf.refresh_margin or 60,
    timeout = conf.timeout, connect_timeout = conf.connect_timeout,
    transport = deps and deps.transport, now = conf.now or retry.now,
    token_fetches = 0, token_expires = 0,
  }, mt)
  config.hide(self, { client_secret = secret })
  return self
end

--- Make sure a valid token is cached (fetching one when missing or about to expire).
-- @treturn boolean true, or nil and an outcome for every message waiting on it
function methods:authorize()
  if common.token_valid(self) then return true end
  return common.fetch_token(self, {
    method = "POST", url = self.base .. "/v2/oauth/token",
    headers = {
      -- Kakao's documented form: the two values with a space, not base64.
      ["Authorization"] = "Basic " .. self.client_id .. " " .. config.secret(self, "client_secret"),
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["accept"] = "*/*",
    },
    body = "grant_type=client_credentials",
    timeout = self.timeout, connect_timeout = self.connect_timeout,
  }, self.token_ttl)
end

--- Drop the cached token (after a 401) so the next `authorize` fetches a new one.
methods.unauthorized = common.drop_token

local buttons, digits = common.kakao_buttons, common.sender_digits


--- Map one message to the send body.
function methods:prepare(msg, tpl, code)
  local t = common.texts(msg, tpl)
  local serial = msg.id or common.serial()
  local body = {
    message_type = "AT", sender_key = self.sender_key, cid = serial, template_code = code,
    phone_number = msg.recipient or common.phone(msg.to, "bizmessage", msg.country_code),
    sender_no = digits(msg.from) or (type(msg.failover) == "table" and digits(msg.failover.from))
      or self.sender_no,
    message = t.content, title = t.title, header = t.header,
    price = msg.price, currency_type = msg.currency, tax_cd1 = msg.tax_cd1, tax_cd2 = msg.tax_cd2,
    fall_back_yn = false,
  }
  local attachment = {}
  attachment.button = buttons(t.buttons)
  if msg.item_highlight then
    attachment.item_highlight = { title = msg.item_highlight.title,
                                  description = msg.item_highlight.description }
  end
  if msg.items or msg.summary then attachment.item = { list = msg.items, summary = msg.summary } end
  if next(attachment) then body.attachment = attachment end
  local qr = buttons(msg.quick_replies)
  if qr then body.supplement = { quick_reply = qr } end
  local fo = msg.failover == true and {} or msg.failover   -- true: unvalidated shorthand
  if type(fo) == "table" then
    body.fall_back_yn = true
    body.fall_back_message_type = fo.type == "LMS" and "LM" or (fo.type == "SMS" and "SM" or nil)
    body.fall_back_title = fo.subject
    body.fall_back_message = fo.content or t.content
  end
  return { payload = body, serial = serial, group = "", content = t.content }
end

--- Build the send request for a chunk of one entry (the token must be cached).
function methods:build(chunk)
  return {
    method = "POST", url = self.base .. "/v2/send/kakao",
    headers = { ["Authorization"] = "Bearer " .. (config.secret(self, "token") or ""),
                ["Content-Type"] = "application/json", ["accept"] = "*/*" },
    body = common.encode(chunk[1].payload),
    timeout = self.timeout, connect_timeout = self.connect_timeout,
  }
end

-- Outcome class of a BizMessage send answer: `code` is 100..520, `result.detail_code` finer.
local function send_class(code, detail)
  if detail and (detail == "3012" or detail:match("3012$")) then return "duplicate" end
  local c = detail and common.classify("bizmessage", detail)
  -- the detail is "for reference" (seed 003): a success detail under a code that is no
  -- success (510, or one the documents do not list) must not make the message accepted
  if (c == "accepted" or c == "delivered" or c == "pending") and code ~= "200" and code ~= "100" then
    c = nil
  end
  if c then return c end
  c = common.classify("bizmessage", code)
  -- only 200 (and 100, in processing) accept; a detail code or an HTTP status the catalogue
  -- knows as a success, found in `code`, is no documented send result: uncertain
  if (c == "accepted" or c == "delivered") and code ~= "200" then c = "uncertain" end
  if c then return c end
  if code == "200" or code == "100" then return "accepted" end
  if code == "520" then return "retryable" end
  -- 500, or a code the documents do not list: the message may have been taken. BizMessage
  -- dedupes the cid, so an uncertain message is resent under the same one.
  return "uncertain"
end

--- Outcomes of a send response (one message per request).
function methods.parse(_, resp, chunk)
  local doc = common.decode(resp.body)
  if resp.status == 401 then
    return { { status = "unauthorized", code = "401", message = "token refused" } }
  end
  local code = doc and common.code(doc.code)
  if code then
    local e = chunk[1]
    if code == "400" and not e.auth_retried then
      -- "Authorization error": refresh the token once and resend, as for a 401
      e.auth_retried = true
      local result = type(doc.result) == "table" and doc.result or {}
      return { { status = "unauthorized", code = "400", detail_code = common.code(result.detail_code),
                 message = common.val(result.detail_message) or "Authorization error",
                 ids = { cid = e.serial } } }
    end
    local result = type(doc.result) == "table" and doc.result or {}
    local detail = common.code(result.detail_code)
    local class = send_class(code, detail)
    if class == "delivered" or class == "pending" then class = "accepted" end
    if class == "failed" then class = "rejected" end
    -- `code` stays the documented delivery result code (seed 003: 100..520), which callers
    -- alert on and count by; the finer detail code (classified first) goes beside it.
    local o = {
      status = class, code = code, detail_code = detail, message = common.val(result.detail_message),
      ids = { uid = common.val(doc.uid), cid = common.val(doc.cid) or chunk[1].serial },
    }
    if resp.status == 429 then o.status, o.retry_after = "retryable", resp.headers["retry-after"] end
    if resp.status >= 500 and class ~= "retryable" and class ~= "rejected" then o.down = true end
    return { o }
  end
  if resp.status >= 200 and resp.status < 300 then
    return { { status = "uncertain", code = tostring(resp.status), message = "unreadable send response",
               ids = { cid = chunk[1].serial } } }
  end
  local o = common.http_outcome(resp)
  o.ids = { cid = chunk[1].serial }
  return { o }
end

-- An authorized call outside sending (polling, search, detail), refreshing the token once on 401.
function methods:call(method, path, body)
  local ok, out = self:authorize()
  if not ok then
    return nil, errors.new{ code = out.status == "auth_failed" and "AUTH" or "TRANSPORT",
                            message = out.message, provider_code = out.code, provider = "bizmessage" }
  end
  for attempt = 1, 2 do
    local req = {
      method = method, url = self.base .. path,
      headers = { ["Authorization"] = "Bearer " .. config.secret(self, "token"), ["accept"] = "*/*",
                  ["Content-Type"] = body and "application/json" or nil },
      body = body and common.encode(body) or nil,
      timeout = self.timeout, connect_timeout = self.connect_timeout,
    }
    local resp, err, code = self.transport:request(req)
    if not resp then
      return nil, errors.new{ code = "TRANSPORT", message = err, provider_code = code,
                              provider = "bizmessage" }
    end
    if resp.status == 401 and attempt == 1 then
      self:unauthorized()
      ok, out = self:authorize()
      if not ok then
        return nil, errors.new{ code = "AUTH", message = out.message, provider = "bizmessage" }
      end
    else
      local doc = common.decode(resp.body)
      if doc then doc[0] = resp.body end
      if resp.status >= 300 or not doc then
        return nil, errors.new{ code = resp.status == 404 and "NOT_FOUND" or "PROVIDER",
          message = "HTTP " .. resp.status, provider_code = doc and common.code(doc.code)
          or tostring(resp.status), provider = "bizmessage" }
      end
      return doc
    end
  end
end

-- A delivery record (polling, search, detail): `code` is its message status code (status_code,
-- API_100..API_520), `detail_code` KakaoTalk's processing result (kko_status_code, the Kakao
-- codes), which decides the status first.
-- Delivered only on kko_status_code 0000, or status_code API_200 without a Kakao code: any
-- other code the catalogue reads as success (NRM0000, 200, API_200 as a Kakao code) is not one.
local function result_event(r)
  if type(r) ~= "table" then
    -- an entry that is not an object tells nothing about any message: not settled
    return events.new{ provider = "bizmessage", status = "pending", raw = r,
                       message = "an unreadable delivery record in the answer" }
  end
  local kko = common.code(r.kko_status_code)
  local st = common.code(r.status_code)
  local status
  if common.val(r.ended_yn) == "N" or (kko == nil and (st == "API_100" or st == nil)) then
    status = "pending"
  elseif kko == "0000" or (kko == nil and st == "API_200") then
    status = "delivered"
  else
    status = events.status_for("bizmessage", kko or st, "failed")
    if status == "delivered" then status = "failed" end
  end
  local sms = common.code(r.sms_status_code)
  return events.new{
    provider = "bizmessage", status = status, code = st or kko, detail_code = st and kko or nil,
    message = common.val(r.error_message), to = common.val(r.phone_number),
    ids = { uid = common.val(r.uid), cid = common.val(r.cid) },
    time = common.val(r.ended_date) or common.val(r.reg_date),
    fallback = sms and sms ~= "-100" and { code = sms } or nil,
    content = common.val(r.message), template = common.val(r.template_code),
    raw = r,
  }
end

--- Polling results (contracts using the Polling method, and SMS/LMS fallback results).
-- @tparam[opt] table opts `close` (default true): close the report group once read, so the
--   same results are not returned again
-- @treturn table `{ report_group_no =, events = {...}, closed = boolean }`
function methods:poll_results(opts)
  opts = opts or {}
  local doc, err = self:call("GET", "/v2/info/message/results")
  if not doc then return nil, err end
  local evs = {}
  for i, r in ipairs(type(doc.results) == "table" and doc.results or {}) do evs[i] = result_event(r) end
  -- report_group_no is a 19-digit number: read it from the raw text, a double would round it.
  local raw = tostring(doc[0] or "")
  local group = raw:match('"report_group_no"%s*:%s*"([^"]+)"')
                or raw:match('"report_group_no"%s*:%s*(%d+)')
  local out = { report_group_no = group, events = evs, closed = false }
  if group and opts.close ~= false then
    local ok, cerr = self:close_report_group(out.report_group_no)
    if not ok then return nil, cerr end
    out.closed = true
  end
  return out
end

--- Close a report group so its results are not served again.
function methods:close_report_group(report_group_no)
  local doc, err = self:call("PUT", "/v2/info/message/results/complete/"
                                    .. common.escape_path(report_group_no))
  if not doc then return nil, err end
  return true
end

--- One page of the delivery list.
-- @tparam[opt] table q `start_date`, `end_date` (yyyy-mm-dd), `size` (max 1000), `last_uid`,
--   `status_code`, `client_id`, `etc1`, `etc2`
-- @treturn table `{ events = {...}, next = boolean, last_uid =, count = }`
function methods:search(q)
  q = q or {}
  local doc, err = self:call("POST", "/v2/info/message/search", {
    start_date = q.start_date, end_date = q.end_date, size = q.size, last_uid = q.last_uid,
    status_code = q.status_code, client_id = q.client_id, etc1 = q.etc1, etc2 = q.etc2 })
  if not doc then return nil, err end
  local evs = {}
  for i, r in ipairs(type(doc.results) == "table" and doc.results or {}) do evs[i] = result_event(r) end
  local last = common.val(doc.last_uid) or (evs[#evs] and evs[#evs].ids.uid)
  return { events = evs, next = common.val(doc.next) == true, last_uid = last,
           count = common.val(doc.count) }
end

--- Every page of the delivery list (follows `last_uid`; at most `max_pages`, default 100).
-- @treturn table list of events
function methods:search_all(q)
  q = config.copy(q) or {}
  local max_pages = q.max_pages or 100
  q.max_pages = nil
  local all = {}
  for _ = 1, max_pages do
    local page, err = self:search(q)
    if not page then return nil, err end
    for _, e in ipairs(page.events) do all[#all + 1] = e end
    if not page.next or not page.last_uid or page.last_uid == q.last_uid then break end
    q.last_uid = page.last_uid
  end
  return all
end

--- Detail of one message by uid. @treturn table event (with `raw` holding every field)
function methods:detail(uid)
  local doc, err = self:call("GET", "/v2/info/message/search/detail/" .. common.escape(uid))
  if not doc then return nil, err end
  if type(doc.result) ~= "table" then
    return nil, errors.new{ code = "NOT_FOUND", message = "no message with uid " .. tostring(uid)
                            .. " at bizmessage", provider = "bizmessage",
                            provider_code = common.code(doc.code) }
  end
  return result_event(doc.result)
end

return _M
