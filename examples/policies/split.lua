-- Policy: 90% of the messages through SENS, 10% through BizMessage, each with the other as its
-- failover.
--
-- The split is by a hash of the message id, not a random draw: a message sent again (a retry,
-- a resumed campaign, a queue entry redelivered) goes the same way as the first time, so the
-- provider that may already have it sees the resend under the same serial. A message without
-- an id is left to the client's own route (`route = { weights = ... }` draws at random).
local SHARE = 90   -- percent through SENS

-- A polynomial hash of the id's bytes modulo the largest prime below 2^32: exact in doubles on
-- Lua 5.4 and LuaJIT alike (h * 131 + 255 < 2^53), no bit operators needed.
local function bucket(id)
  local h = 0
  for i = 1, #id do h = (h * 131 + id:byte(i)) % 4294967291 end
  return h % 100
end

return {
  route = function(msg)
    if msg.id == nil then return nil end
    if bucket(tostring(msg.id)) < SHARE then return { "sens", "bizmessage" } end
    return { "bizmessage", "sens" }
  end,
}
