-- Faults at scale (small): hundreds of messages per provider through a sandbox injecting
-- resets after the request was read, HTTP 500, timeouts (late answers and stalls), 429 with
-- Retry-After, Kakao 3005 and partial batches (Kakao 3006 on part of a batch), each row's
-- reported status reconciled with what its handset got. bench/faults_bench.lua runs 10,000
-- per provider; spec/support/fault_scale.lua has the fault mix and the reconciliation.
local sandbox = require "support.sandbox"
local scale = require "support.fault_scale"

describe("faults at scale", function()
  local s

  setup(function()
    s = sandbox.start{ tls = false, delivery_delay = 0.05, shm_size = "128m" }
  end)

  teardown(function()
    assert.same({}, sandbox.stop(s))
  end)

  local function check(t, kinds)
    local msg = scale.format({ t }) .. "\n" .. table.concat(t.problems, "\n")
    assert.is_true(scale.ok(t, 3), msg)
    assert.equal(t.rows, t.accepted + t.rejected + t.not_sent + t.uncertain, msg)
    -- every row the handset got is reported accepted or uncertain, and the sum adds up
    assert.equal(t.delivered, t.accepted + t.uncertain_delivered, msg)
    local n = 0
    for _ in pairs(t.fired) do n = n + 1 end
    assert.is_true(n >= kinds, "too few fault kinds met:\n" .. msg)
  end

  it("SENS: batches of 100, nothing lost or sent twice; uncertain only where a request went out",
     function()
    local t = scale.run(s, "sens", { rows = 5000, timeout = 0.5 })
    check(t, 4)
    -- SENS has no serial: a reset after the request was read leaves its 100 rows uncertain
    -- (never resent), and the handset record shows which of them it got
    assert.is_true(t.uncertain > 0 and t.uncertain_delivered > 0)
    -- the sandbox's handset record of a run this size is over the admin client's old 1 MiB cap
    local raw = assert(s:request("GET", "/_sandbox/outbox?provider=sens"))
    assert.is_true(#raw.body > 1024 * 1024, #raw.body)
  end)

  it("BizMessage: uncertain sends go again under their cid; no message reaches a handset twice",
     function()
    local t = scale.run(s, "bizmessage", { rows = 500, timeout = 0.5 })
    check(t, 4)
    -- resent under the same serial: what is left uncertain is what 3 attempts did not settle
    assert.is_true(t.uncertain < 10, scale.format({ t }))
  end)

  it("API PLEX: by default an uncertain send is left uncertain, with dedupe_msg_key resent",
     function()
    local plain = scale.run(s, "apiplex", { rows = 1000, timeout = 0.5 })
    check(plain, 4)
    assert.is_true(plain.uncertain > 0)
    local dedupe = scale.run(s, "apiplex", { rows = 1000, timeout = 0.5, label = "apiplex-dedupe",
                                             client = { dedupe_msg_key = true } })
    check(dedupe, 4)
    assert.is_true(dedupe.uncertain < plain.uncertain, scale.format({ plain, dedupe }))
  end)
end)
