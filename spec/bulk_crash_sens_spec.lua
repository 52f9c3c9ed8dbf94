-- Crash test against a provider that does NOT drop duplicates (SENS): the first run finds the
-- provider down (every row not_sent), then resumes are killed with SIGKILL while rows are in
-- flight. A row that may have gone out must never be sent again, so the sandbox's outbox must
-- hold every row at most once, and at the end every row is accepted or uncertain.
-- Each kill also leaves at most `concurrency` requests' rows unaccounted for (outcomes reach
-- the journal per response, not per chunk).
local sandbox = require("support.sandbox")
local journal = require("alimtalk.bulk.journal")
local cjson = require("cjson")
local fs = require("support.fs")

local ROOT = sandbox.root
local RUNTIME = fs.RUNTIME

local sh, read_lines = fs.sh, fs.read_lines

-- Enough rows that resumes killed after 50-250 ms cannot finish the campaign in fewer than 3 kills.
local ROWS, CONC, PER_REQUEST = 8000, 4, 100

describe("bulk campaign on SENS (no dedupe), not_sent first, then killed", function()
  local s, dir

  setup(function()
    s = sandbox.start({ delivery_delay = 0.08 })
    dir = fs.tmpdir("alimtalk-crash-sens")
  end)

  teardown(function()
    local errs = sandbox.stop(s)
    if os.getenv("KEEP") then dir = nil end
    fs.rmtree(dir)
    assert.are.same({}, errs)
  end)

  it("never sends a row twice, and a kill leaves at most concurrency requests in doubt", function()
    local id = "sens-" .. RUNTIME:gsub("%.", "") .. "-" .. math.random(1e6)
    local phone = {}
    local f = assert(io.open(dir .. "/in.csv", "wb"))
    f:write("to,name,date\n")
    for i = 1, ROWS do
      phone[i] = string.format("0107%03d%04d", math.floor(i / 10000), i % 10000)
      f:write(phone[i], ",고객", i, ",2026-11-21\n")
    end
    f:close()
    local c = s.credentials.sens
    local cfg = assert(io.open(dir .. "/alimtalk.json", "wb"))
    cfg:write(cjson.encode({
      provider = "sens", templates = sandbox.templates,
      sens = { base_url = s.http_url, access_key = c.access_key, service_id = c.service_id,
               plus_friend_id = c.plus_friend_id, secret_key_env = "CRASH_SENS_SECRET" },
    }))
    cfg:close()
    local env = "CRASH_SENS_SECRET='" .. c.secret_key .. "' "
    local base = ("cd '%s' && exec env %s %s '%s/bin/alimtalk' bulk"):format(dir, env, RUNTIME, ROOT)
    local jpath = dir .. "/state/" .. id .. "/journal.log"
    local opts = (" --state-dir state --progress none --chunk 1000 --concurrency %d"):format(CONC)

    -- 1. the provider is down: every request answers 503
    s:fault{ provider = "sens", kind = "status", status = 503, retry_after = 0 }
    sh(("%s run in.csv --campaign %s --template welcome%s >>'%s/log' 2>&1")
      :format(base, id, opts, dir))
    s:clear_faults()
    -- then it is slow (80 ms a request), so a kill finds requests in flight
    s:fault{ provider = "sens", kind = "delay", delay = 0.08 }
    local st = assert(journal.scan(jpath))
    -- its circuit opened in the first chunk: those rows are not_sent, the campaign stopped
    assert.are.equal(1000, st.counts.not_sent)
    assert.is_nil(st.done)

    -- 2. resumes killed at random moments
    local kills, caught, tries, worst = 0, 0, 0, 0
    while kills < 6 and tries < 40 do
      tries = tries + 1
      local cmd = ("%s resume %s%s"):format(base, id, opts)
      local delay = (50 + math.random(0, 200)) / 1000
      local script = ("(%s) >>'%s/log' 2>&1 & pid=$!; sleep %.3f; if kill -9 $pid 2>/dev/null; then "
        .. "wait $pid; exit 0; else wait $pid; exit 1; fi"):format(cmd, dir, delay)
      sh("bash -c '" .. script:gsub("'", "'\\''") .. "' 2>/dev/null")
      st = assert(journal.scan(jpath))
      if st.done then break end -- finished before the kill landed
      do
        kills = kills + 1
        local n = 0
        for _ in pairs(st.in_flight) do n = n + 1 end
        if n > 0 then caught = caught + 1 end
        if n > worst then worst = n end
        assert.is_true(n <= CONC * PER_REQUEST, n .. " rows in doubt after a kill")
      end
    end
    assert.is_true(kills >= 3, "the campaign finished before 3 kills landed")
    print(("\n  %s: %d kills, %d caught rows in flight, at most %d rows in doubt (bound %d)")
      :format(RUNTIME, kills, caught, worst, CONC * PER_REQUEST))

    -- 3. the last resume, to the end
    sh(("%s resume %s%s --json > '%s/summary.out' 2>>'%s/log'"):format(base, id, opts, dir, dir))
    local summary = cjson.decode(read_lines(dir .. "/summary.out")[1])
    assert.are.equal(ROWS, summary.counts.accepted + summary.counts.uncertain)
    assert.are.equal(0, summary.counts.not_sent)

    -- The sandbox's outbox: no phone number got the message twice.
    local http = require("alimtalk.core").http_client({ max_response = 64 * 1048576, timeout = 60 })
    local resp = assert(http:request({ method = "GET",
                                       url = s.http_url .. "/_sandbox/outbox?provider=sens" }))
    http:close()
    assert.are.equal(200, resp.status)
    local got, twice = {}, 0
    for _, m in ipairs(cjson.decode(resp.body)) do
      local to = tostring(m.to):gsub("%D", "")
      got[to] = (got[to] or 0) + 1
      if got[to] == 2 then twice = twice + 1 end
    end
    assert.are.equal(0, twice, "rows sent twice to SENS")
    -- every accepted row did go out, and uncertain ones at most once
    local missing = 0
    for _, l in ipairs(read_lines(dir .. "/state/" .. id .. "/accepted.jsonl")) do
      local r = cjson.decode(l)
      if not got[phone[r.row]] then missing = missing + 1 end
    end
    assert.are.equal(0, missing)
    assert.are.equal(summary.counts.accepted, #read_lines(dir .. "/state/" .. id .. "/accepted.jsonl"))
  end)
end)
