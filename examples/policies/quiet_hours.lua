-- Policy: FriendTalk (and advertising) only 09:00-20:00 KST, held outside; AlimTalk any time.
--
-- Kakao's own FriendTalk window is 08:00-20:00 (Sinch 08:00-21:00, see alimtalk.sendwindow);
-- this business keeps a stricter one. Outside it a FriendTalk message is held: not sent, its
-- result `not_sent` with code `POLICY_HOLD` and `held_until` = the next opening (epoch
-- seconds), safe to send again from then on. FriendTalk goes through Sinch, AlimTalk through
-- SENS. The clock is the client's (`alimtalk.new{ now = ... }`, default the system clock).
local sendwindow = require "alimtalk.sendwindow"

local OPEN, CLOSE = "09:00", "20:00"

return {
  route = function(msg, ctx)
    if msg.kind == "friendtalk" or msg.kind == "advertising" then
      local ok, err = sendwindow.check(msg.kind, "sinch", ctx.now(), { window = { OPEN, CLOSE } })
      if not ok then
        return ctx.hold(err.next_allowed, "quiet hours: " .. msg.kind .. " goes out " .. OPEN .. "-"
                        .. CLOSE .. " KST only")
      end
      return { "sinch" }
    end
    return { "sens" }
  end,
}
