-- The normalized delivery event shape.
local events = require "alimtalk.events"

describe("events", function()
  it("builds delivery events and refuses unknown statuses", function()
    local e = events.new{ provider = "sens", status = "failed", code = "3019",
                          ids = { message_id = "m-1" } }
    assert.equal("delivery", e.kind)
    assert.matches("sens delivery m%-1 %(3019%) failed", tostring(e))
    assert.has_error(function() events.new{ provider = "sens", status = "sent" } end)
    assert.equal("inbound", events.new{ kind = "inbound", provider = "sinch", text = "hi" }.kind)
  end)

  it("classifies provider codes by the catalogue", function()
    assert.equal("delivered", (events.status_for("sens", "0000")))
    assert.equal("failed", (events.status_for("sens", "3019")))
    assert.equal("pending", (events.status_for("sinch", "QUEUED_ON_CHANNEL")))
    assert.equal("delivered", (events.status_for("sinch", "DELIVERED")))
    assert.equal("pending", events.status_for("sens", nil))
    assert.equal("failed", events.status_for("sens", "NOT_A_CODE"))
  end)
end)
