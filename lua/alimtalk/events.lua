--- The normalized delivery event: one shape for every provider's delivery results, polling
-- answers and webhooks.
--
--     {
--       kind = "delivery",            -- or "inbound" (a message from the user, Sinch)
--       status = "delivered" | "failed" | "pending",
--       provider = "sens",
--       code = "3019", message = "Not a Talk user",   -- the provider's own code and text
--       detail_code = nil,            -- the finer code where the provider gives one beside it
--                                     -- (BizMessage kko_status_code, Sinch reason.sub_code)
--       ids = { request_id =, message_id =, uid =, cid =, msg_key = },
--       to = "01012345678", time = "2026-11-21T10:00:00",
--       fallback = { status =, code =, message = } | nil,  -- SMS/LMS failover leg when known
--       text = nil,                   -- inbound messages: what the user wrote
--       raw = { ... },                -- the provider's decoded record, for anything else
--     }
-- @module alimtalk.events
local _M = {}

local codes = require "alimtalk.codes"

local statuses = { delivered = true, failed = true, pending = true }
_M.statuses = statuses

local mt = { __name = "alimtalk.event" }
mt.__tostring = function(e)
  local id = e.ids and (e.ids.message_id or e.ids.uid or e.ids.msg_key or e.ids.cid) or "?"
  return string.format("%s %s %s (%s) %s", e.provider or "?", e.kind or "delivery", id,
                       tostring(e.code or "-"), e.status or "")
end

--- Make an event; `status` must be delivered, failed or pending (deliveries).
-- @tparam table fields see the module description
-- @treturn table event
function _M.new(fields)
  fields.kind = fields.kind or "delivery"
  if fields.kind == "delivery" then
    assert(statuses[fields.status], "events.new: bad status " .. tostring(fields.status))
  end
  fields.ids = fields.ids or {}
  return setmetatable(fields, mt)
end

--- Delivery status for a provider's result code, by the code catalogue.
-- @tparam string provider
-- @tparam string code
-- @tparam[opt] string default status when the catalogue does not know the code
-- @treturn string delivered|failed|pending
-- @treturn string|nil the catalogue's meaning
function _M.status_for(provider, code, default)
  if code == nil then return default or "pending" end
  local c = codes.lookup(provider, tostring(code))
  if c then
    local class = c.class
    if class == "delivered" or class == "accepted" then return "delivered", c.meaning end
    if class == "pending" then return "pending", c.meaning end
    if class == "failed" or class == "rejected" or class == "quota" then return "failed", c.meaning end
    if class == "retryable" or class == "uncertain" then return "failed", c.meaning end
  end
  return default or "failed"
end

return _M
