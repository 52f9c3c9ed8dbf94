local sendwindow = require "alimtalk.sendwindow"
local common = require "fixtures.validation.common"
local kst = common.kst

describe("alimtalk.sendwindow", function()
  it("lets AlimTalk go at any hour", function()
    assert.is_true(sendwindow.check("alimtalk", "sens", kst(2026, 11, 21, 3, 0)))
  end)

  local cases = {
    -- provider, hour, minute, allowed
    { "sens", 7, 59, false }, { "sens", 8, 0, true }, { "sens", 19, 59, true }, { "sens", 20, 0, false },
    { "bizmessage", 20, 0, false }, { "apiplex", 8, 0, true },
    { "sinch", 20, 30, true }, { "sinch", 20, 59, true }, { "sinch", 21, 0, false }, { "sinch", 7, 59,
      false },
    { "alcmeon", 8, 59, false }, { "alcmeon", 9, 0, true }, { "alcmeon", 19, 59, true }, { "alcmeon", 20, 0,
      false },
  }
  for _, c in ipairs(cases) do
    it(string.format("%s FriendTalk at %02d:%02d KST is %s", c[1], c[2], c[3],
      c[4] and "allowed" or "refused"),
      function()
        local ok, err = sendwindow.check("friendtalk", c[1], kst(2026, 11, 21, c[2], c[3]))
        if c[4] then
          assert.is_true(ok)
        else
          assert.is_nil(ok)
          assert.equal("OUTSIDE_SEND_WINDOW", err.code)
        end
      end)
  end

  it("gives Kakao's code 3022 and the next allowed time (same day before opening)", function()
    local _, err = sendwindow.check("advertising", "sens", kst(2026, 11, 21, 6, 30))
    assert.equal("3022", err.provider_code)
    assert.equal(kst(2026, 11, 21, 8, 0), err.next_allowed)
  end)

  it("offers the next morning after closing, across a month end", function()
    local _, err = sendwindow.check("friendtalk", "sinch", kst(2026, 11, 30, 21, 0))
    assert.is_nil(err.provider_code)
    assert.equal(kst(2026, 12, 1, 8, 0), err.next_allowed)
    assert.matches("2026%-12%-01 08:00", err.message)
  end)

  it("takes a configured window", function()
    assert.is_true(sendwindow.check("friendtalk", "sens", kst(2026, 11, 21, 21, 30), { window = { "09:00",
      "22:00" } }))
    local _, err = sendwindow.check("friendtalk", "sens", kst(2026, 11, 21, 8, 30), { window = { "09:00",
      "22:00" } })
    assert.equal(kst(2026, 11, 21, 9, 0), err.next_allowed)
  end)

  it("parses reservation times in Asia/Seoul and UTC, independent of the host zone", function()
    assert.equal(1795258800, sendwindow.parse_reserve("2026-11-21 20:00", "Asia/Seoul"))
    assert.equal(1795258800, sendwindow.parse_reserve("2026-11-21 11:00", "UTC"))
    assert.is_nil(sendwindow.parse_reserve("2026-02-30 10:00"))
    assert.is_nil(sendwindow.parse_reserve("2026-11-21T10:00"))
    assert.is_nil(sendwindow.parse_reserve("2026-11-21 10:00", "Mars/Base"))
  end)

  it("tells a bad format, an impossible date and an unconvertible zone apart", function()
    assert.same({ nil, "format" }, { sendwindow.parse_reserve("2026-11-21T10:00") })
    assert.same({ nil, "date" }, { sendwindow.parse_reserve("2026-02-29 10:00") })
    assert.same({ nil, "date" }, { sendwindow.parse_reserve("2026-11-21 24:00") })
    assert.same({ nil, "zone" }, { sendwindow.parse_reserve("2026-11-21 10:00", "Europe/Paris") })
    assert.truthy(sendwindow.parse_reserve("2028-02-29 10:00"))
    assert.truthy(sendwindow.parse_reserve("2000-02-29 10:00"))
    assert.is_nil(sendwindow.parse_reserve("2100-02-29 10:00"))
  end)

  it("knows TZ database names and nothing else", function()
    assert.is_true(sendwindow.zone_known("Asia/Seoul"))
    assert.is_true(sendwindow.zone_known("UTC"))
    for _, bad in ipairs({ "Mars/Base", "../../etc/passwd", "Asia/../UTC", "Asia", "", "Asia/Seoul/" }) do
      assert.is_false(sendwindow.zone_known(bad), bad)
    end
  end)

  it("raises on an unknown kind or provider", function()
    assert.has_error(function() sendwindow.check("spam", "sens", 0) end)
    assert.has_error(function() sendwindow.check("friendtalk", "kakao", 0) end)
  end)
end)
