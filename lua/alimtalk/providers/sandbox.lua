--- The embedded sandbox provider: in-process, no server, nothing leaves the machine.
-- It applies the validation of a chosen real provider profile (the client runs it before
-- sending, exactly as for that provider), records every accepted message to an outbox file
-- (JSON lines: what the handset would show), answers with realistic ids, treats a reused
-- serial as the chosen profile's provider does, and simulates delivery: each accepted message
-- becomes a delivery event after `delivery_delay` seconds, `failed` with the configured code
-- for numbers listed in `fail_numbers`, else `delivered`.
--
-- Reused serials (the message `id`), by profile: `sens` and `sinch` take no serial, so every
-- send is a new message (sent and recorded again); `bizmessage` dedupes `cid`: a reused one is
-- answered 3012 and counts as accepted (`duplicate`); `apiplex` answers a reused `msg_key`
-- C400_2 "duplicated msg_key", which is `rejected` unless `dedupe_msg_key = true` (then it
-- counts as accepted, as for a real API PLEX account configured so).
--
-- Options: `profile` (sens | bizmessage | apiplex | sinch; default sens), `outbox` (path, or
-- false for none; default $ALIMTALK_OUTBOX or alimtalk-outbox.jsonl), `delivery_delay`
-- (seconds, default 0), `fail_numbers` (normalized number -> Kakao code, e.g.
-- `{ ["01000000000"] = "3019" }`), `dedupe_msg_key` (apiplex profile only), `now`.
-- @module alimtalk.providers.sandbox
local _M = {}

local config = require "alimtalk.config"
local common = require "alimtalk.providers.common"
local events = require "alimtalk.events"
local outbox = require "alimtalk.outbox"
local retry = require "alimtalk.retry"

local spec = {
  profile = "string", outbox = "string|boolean", delivery_delay = "number",
  fail_numbers = "table", now = "function", dedupe_msg_key = "boolean",
}
local profiles = { sens = true, bizmessage = true, apiplex = true, sinch = true }

local mt = { __name = "alimtalk.provider.sandbox" }
local methods = {}
mt.__index = methods
mt.__tostring = function(self) return "alimtalk.provider.sandbox(" .. self.profile .. ")" end

--- Make the embedded sandbox provider.
function _M.new(conf)
  conf = config.check(conf, spec, "alimtalk.new: sandbox")
  local profile = conf.profile or "sens"
  if not profiles[profile] then
    error("alimtalk.new: sandbox.profile must be sens, bizmessage, apiplex or sinch", 2)
  end
  local path = conf.outbox
  if path == nil then path = os.getenv("ALIMTALK_OUTBOX") or "alimtalk-outbox.jsonl" end
  if path == true then path = "alimtalk-outbox.jsonl" end
  if conf.dedupe_msg_key ~= nil and profile ~= "apiplex" then
    error("alimtalk.new: sandbox.dedupe_msg_key applies to the apiplex profile only", 2)
  end
  local keeps_serials = profile == "bizmessage" or profile == "apiplex"
  return setmetatable({
    name = "sandbox", profile = profile, max_batch = profile == "sens" and 100
      or (profile == "apiplex" and 10 or 1),
    keeps_serials = keeps_serials,
    dedupes = profile == "bizmessage" or (profile == "apiplex" and conf.dedupe_msg_key == true),
    outbox_path = path or nil,
    delivery_delay = conf.delivery_delay or 0, fail_numbers = conf.fail_numbers or {},
    now = conf.now or retry.now, seq = 0, serials = {}, sent = {}, queue = {},
  }, mt)
end

-- What each profile's provider answers for an accepted message (seeds 001, 003, 004; Sinch
-- answers HTTP 200 with a message id and no code of its own): code, text, detail code.
local ACCEPTED = {
  sens = { "A000", "success" }, bizmessage = { "200", "Success", "NRM0000" },
  apiplex = { "C100", "Success" }, sinch = { "200", "OK" },
}

local function iso(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t)) .. string.format(".%03dZ", math.floor(t % 1 * 1000))
end

--- Map a message to what the sandbox records.
function methods:prepare(msg, tpl, code)
  local t = common.texts(msg, tpl)
  return {
    group = code .. "\0" .. (msg.reserve_time or ""), code = code, serial = msg.id,
    content = t.content,
    record = {
      provider = "sandbox", profile = self.profile, serial = msg.id,
      to = msg.recipient or common.phone(msg.to, self.profile, msg.country_code),
      template = msg.template, template_code = code, header = t.header, title = t.title,
      text = t.content, buttons = t.buttons, item_highlight = msg.item_highlight,
      items = msg.items, summary = msg.summary, failover = msg.failover or nil,
      reserve_time = msg.reserve_time,
    },
  }
end

function methods:next_id(prefix)
  self.seq = self.seq + 1
  local t = self.now()
  return string.format("%s%s%06d", prefix, os.date("!%Y%m%d%H%M%S", math.floor(t)), self.seq)
end

--- Accept a chunk in-process: outcomes as a provider would answer.
function methods:send_chunk(chunk)
  if self.outbox_path and not self.outbox then
    local ob, err = outbox.open(self.outbox_path)
    if not ob then error("sandbox outbox: " .. tostring(err), 0) end
    self.outbox = ob
  end
  local request_id = self:next_id("SBR")
  local now = self.now()
  local out = {}
  for i, e in ipairs(chunk) do
    local prior = self.keeps_serials and e.serial and self.serials[e.serial]
    if prior and self.profile == "bizmessage" then
      -- as BizMessage answers it: result code 510, detail code Kakao's 3012
      out[i] = { status = "duplicate", code = "510", detail_code = "3012",
                 message = "SerialNumberDuplicatedException",
                 ids = { request_id = prior.request_id, message_id = prior.message_id } }
    elseif prior then
      -- API PLEX: a reused msg_key is refused; whether that proves the first was delivered is
      -- what `dedupe_msg_key` asserts
      out[i] = { status = self.dedupes and "duplicate" or "rejected", code = "C400_2",
                 message = "duplicated msg_key",
                 ids = { request_id = prior.request_id, message_id = prior.message_id } }
    else
      local message_id = self:next_id("SBM")
      local r = e.record
      r.request_id, r.message_id, r.time = request_id, message_id, iso(now)
      if self.outbox then self.outbox:append(r) end
      local rec = { request_id = request_id, message_id = message_id, to = r.to,
                    due = now + self.delivery_delay, record = r }
      self.sent[message_id] = rec
      self.queue[#self.queue + 1] = rec
      if e.serial and self.keeps_serials then self.serials[e.serial] = rec end
      local ok_code = ACCEPTED[self.profile] or ACCEPTED.sens
      out[i] = { status = "accepted", code = ok_code[1], detail_code = ok_code[3], message = ok_code[2],
                 ids = { request_id = request_id, message_id = message_id } }
    end
  end
  return out
end

local function event_of(self, rec, now)
  local fail = self.fail_numbers[rec.to]
  local status = now < rec.due and "pending" or (fail and "failed" or "delivered")
  return events.new{
    provider = "sandbox", status = status, code = status == "pending" and nil or (fail or "0000"),
    message = status, to = rec.to, time = iso(math.min(now, rec.due)),
    ids = { request_id = rec.request_id, message_id = rec.message_id, cid = rec.record.serial },
    content = rec.record.text, template = rec.record.template_code,
  }
end

--- Delivery events that became due since the last call (each reported once).
-- @treturn table list of events
function methods:poll_events()
  local now, out, keep = self.now(), {}, {}
  for _, rec in ipairs(self.queue) do
    if now >= rec.due then out[#out + 1] = event_of(self, rec, now) else keep[#keep + 1] = rec end
  end
  self.queue = keep
  return out
end

--- Current delivery state of one message.
function methods:query_message(message_id)
  local rec = self.sent[message_id]
  if not rec then
    return nil, require("alimtalk.errors").new{ code = "NOT_FOUND", message = "unknown message id",
                                                provider = "sandbox" }
  end
  return event_of(self, rec, self.now())
end

--- Close the outbox file.
function methods:close()
  if self.outbox then self.outbox:close() self.outbox = nil end
end

return _M
