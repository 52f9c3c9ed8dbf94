-- `alimtalk bulk` on the command line against the sandbox server: a resume keeps the provider
-- and the run options its journal records, a recipient or key column the CSV lacks is refused
-- up front, a row naming its own unknown template is that row's fault, and a campaign
-- that stops early says what it left untried.
local sandbox = require("support.sandbox")
local journal = require("alimtalk.bulk.journal")
local cjson = require("cjson")
local fs = require("support.fs")
local old_journal = require("support.old_journal")

local ROOT, RUNTIME = sandbox.root, fs.RUNTIME
local write, read_lines, capture = fs.write, fs.read_lines, fs.capture

local function phone(i) return string.format("010-%04d-%04d", 5000 + math.floor(i / 10000), i % 10000) end

local function csv(path, n)
  local t = { "to,name,date" }
  for i = 1, n do t[#t + 1] = phone(i) .. ",고객" .. i .. ",2026-11-21" end
  write(path, table.concat(t, "\n") .. "\n")
end

describe("alimtalk bulk (command line)", function()
  local s, dir

  -- a configuration naming SENS as the provider, with a BizMessage section too (the secrets
  -- come from the environment, as docs/cli.md says)
  local function config(path, sens_url)
    local c = s.credentials
    write(path, cjson.encode({ provider = "sens", templates = sandbox.templates,
      retry = { max_attempts = 1 },
      sens = { base_url = sens_url or s.http_url, service_id = c.sens.service_id,
               plus_friend_id = c.sens.plus_friend_id },
      bizmessage = { base_url = s.http_url, client_id = c.bizmessage.client_id,
                     sender_key = c.bizmessage.sender_key, sender_no = "0212345678" } }))
  end

  -- run `alimtalk bulk ARGS` in dir: exit code, stdout lines, stderr lines
  local function bulk(args)
    local out, err = dir .. "/cmd.out", dir .. "/cmd.err"
    local c = s.credentials
    local env = ("ALIMTALK_SENS_ACCESS_KEY=%s ALIMTALK_SENS_SECRET_KEY=%s "
      .. "ALIMTALK_BIZMESSAGE_CLIENT_SECRET=%s"):format(fs.q(c.sens.access_key), fs.q(c.sens.secret_key),
      fs.q(c.bizmessage.client_secret))
    local rc = capture(("(cd %s && %s %s %s/bin/alimtalk bulk %s --state-dir st >%s 2>%s)")
      :format(fs.q(dir), env, RUNTIME, fs.q(ROOT), args, fs.q(out), fs.q(err)))
    return rc, read_lines(out), read_lines(err)
  end

  local function outbox(provider)
    return assert(s:outbox({ provider = provider }))
  end

  setup(function()
    s = sandbox.start({ delivery_delay = 0.05 })
    dir = fs.tmpdir("alimtalk-bulk-cli")
    config(dir .. "/cfg.json")
  end)
  teardown(function()
    local errs = sandbox.stop(s)
    fs.rmtree(dir)
    assert.are.same({}, errs)
  end)
  before_each(function() s:reset() end)

  it("resumes through the journal's provider, and refuses -p naming another", function()
    csv(dir .. "/p.csv", 6)
    -- BizMessage fails one request: that row is not sent, the others are accepted
    assert(s:fault({ provider = "bizmessage", path = "/v2/send/kakao", kind = "status", status = 503,
                     count = 1 }))
    local rc = bulk("run p.csv --campaign p1 --template welcome -c cfg.json -p bizmessage --progress none")
    assert.are.equal(1, rc)
    assert.are.equal(5, #outbox("bizmessage"))
    s:clear_faults()
    -- the configuration's provider is SENS: naming it for the resume is refused
    local out, err
    rc, out, err = bulk("resume p1 -c cfg.json -p sens --progress none")
    assert.are.equal(2, rc)
    assert.are.same({}, out)
    assert.are.equal(1, #err)
    assert.matches("bizmessage", err[1], 1, true)
    assert.matches("not sens", err[1], 1, true)
    -- without -p the rest goes through BizMessage, as the journal says, not the config's SENS
    rc = bulk("resume p1 -c cfg.json --progress none")
    assert.are.equal(0, rc)
    assert.are.equal(6, #outbox("bizmessage"))
    assert.are.equal(0, #outbox("sens"))
  end)

  -- `bulk run ARGS` killed (SIGKILL) while its first request waits 2 s for an answer the
  -- server then gives: that request's rows are in flight in the journal, and delivered.
  local function killed_in_flight(provider, args, journal_path, n_flying)
    assert(s:fault({ provider = provider, kind = "delay", delay = 2, count = 1,
                     path = provider == "apiplex" and "/v2/send" or "/v2/send/kakao" }))
    local c = s.credentials
    local cmd = ("cd %s && exec env ALIMTALK_BIZMESSAGE_CLIENT_SECRET=%s ALIMTALK_APIPLEX_SECRET_KEY=%s "
      .. "%s %s/bin/alimtalk bulk run %s --state-dir st --progress none --concurrency 1")
      :format(fs.q(dir), fs.q(c.bizmessage.client_secret), fs.q(c.apiplex.secret_key), RUNTIME,
              fs.q(ROOT), args)
    fs.sh(("bash -c %s 2>/dev/null"):format(fs.q(("(%s) >/dev/null 2>&1 & pid=$!; sleep 1; kill -9 $pid; "
      .. "wait $pid"):format(cmd))))
    local flying = 0
    for _ in pairs(journal.scan(journal_path).in_flight) do flying = flying + 1 end
    assert.are.equal(n_flying, flying)
    sandbox.wait(function() return #outbox(provider) == n_flying end, 5)   -- the server delivers them
    s:clear_faults()
  end

  it("keeps a row in doubt uncertain when its resend does not go out, and accepts it later", function()
    -- a BizMessage run killed with row 1 in flight (and delivered), a resume whose resends all
    -- fail with 503, then a clean resume
    csv(dir .. "/dd.csv", 25)
    killed_in_flight("bizmessage", "dd.csv --campaign dd1 --template welcome -c cfg.json -p bizmessage "
      .. "--chunk 10", dir .. "/st/dd1/journal.log", 1)
    assert(s:fault({ provider = "bizmessage", path = "/v2/send/kakao", kind = "status", status = 503 }))
    local rc = bulk("resume dd1 -c cfg.json --progress none")
    assert.are.equal(1, rc)
    local after = journal.scan(dir .. "/st/dd1/journal.log")
    -- row 1 may have been delivered (it was): uncertain, not "not sent"
    assert.is_true(after.uncertain:has(1))
    assert.is_false(after.not_sent:has(1))
    s:clear_faults()
    rc = bulk("resume dd1 -c cfg.json --progress none")
    assert.are.equal(0, rc)
    local box, to = outbox("bizmessage"), {}
    assert.are.equal(25, #box)
    for _, m in ipairs(box) do
      assert.is_nil(to[m.to], "delivered twice: " .. m.to)
      to[m.to] = true
    end
    local final = journal.scan(dir .. "/st/dd1/journal.log")
    assert.are.equal(25, final.counts.accepted)
    assert.are.equal(0, final.counts.rejected)
  end)

  it("keeps a row in doubt uncertain when a resume refuses it before sending", function()
    -- killed with row 1 in flight (delivered)
    csv(dir .. "/dv.csv", 5)
    killed_in_flight("bizmessage", "dv.csv --campaign dv1 --template welcome -c cfg.json -p bizmessage "
      .. "--chunk 10", dir .. "/st/dv1/journal.log", 1)
    local reg = cjson.decode(table.concat(read_lines(sandbox.templates), "\n"))
    -- a registry without the campaign's template is the setup's fault: refused, nothing touched
    local kept = {}
    for _, t in ipairs(reg.templates) do if t.name ~= "welcome" then kept[#kept + 1] = t end end
    write(dir .. "/nowelcome.json", cjson.encode({ templates = kept }))
    local before = fs.read_file(dir .. "/st/dv1/journal.log")
    local rc, _, err = bulk("resume dv1 -c cfg.json --templates nowelcome.json --progress none")
    assert.are.equal(2, rc)
    assert.matches("'welcome' (--template) is not in its template registry", err[1], 1, true)
    assert.are.equal(before, fs.read_file(dir .. "/st/dv1/journal.log"))
    -- a template whose variable no row has is the rows' fault: row 1 stays uncertain
    for _, t in ipairs(reg.templates) do
      if t.name == "welcome" then t.body = t.body .. "\n쿠폰: #{coupon}" end
    end
    write(dir .. "/coupon.json", cjson.encode(reg))
    rc = bulk("resume dv1 -c cfg.json --templates coupon.json --progress none")
    assert.are.equal(3, rc)                 -- some uncertain: reconcile them
    local st = journal.scan(dir .. "/st/dv1/journal.log")
    assert.is_true(st.uncertain:has(1))     -- may have been (and was) delivered: not "invalid"
    assert.are.equal(1, st.counts.uncertain)
    assert.are.equal(4, st.counts.invalid)
  end)

  it("keeps rows in doubt uncertain when a quota stop leaves them unsent, and accepts them later", function()
    local c = s.credentials
    write(dir .. "/ap.json", cjson.encode({ provider = "apiplex", templates = sandbox.templates,
      retry = { max_attempts = 1 },
      apiplex = { base_url = s.http_url, user_id = c.apiplex.user_id or "sandbox",
                  sender_key = c.apiplex.sender_key, sender_number = "0212345678",
                  dedupe_msg_key = true } }))
    csv(dir .. "/q.csv", 25)
    -- killed with the first request's 10 rows in flight (and delivered)
    killed_in_flight("apiplex", "q.csv --campaign q1 --template welcome -c ap.json --chunk 10",
                     dir .. "/st/q1/journal.log", 10)
    -- the resume meets the quota at once and stops (no pause allowed)
    assert(s:fault({ provider = "apiplex", kind = "code", code = "G150" }))
    local env = "ALIMTALK_APIPLEX_SECRET_KEY=" .. fs.q(c.apiplex.secret_key)
    local rc = capture(("(cd %s && %s %s %s/bin/alimtalk bulk resume q1 -c ap.json --state-dir st "
      .. "--progress none --max-pauses 0 >/dev/null 2>&1)"):format(fs.q(dir), env, RUNTIME, fs.q(ROOT)))
    assert.are.equal(1, rc)
    local st = journal.scan(dir .. "/st/q1/journal.log")
    for row = 1, 10 do
      assert.is_true(st.uncertain:has(row), "row " .. row)
      assert.is_false(st.not_sent:has(row), "row " .. row)
    end
    s:clear_faults()
    rc = capture(("(cd %s && %s %s %s/bin/alimtalk bulk resume q1 -c ap.json --state-dir st "
      .. "--progress none >/dev/null 2>&1)"):format(fs.q(dir), env, RUNTIME, fs.q(ROOT)))
    assert.are.equal(0, rc)
    local box, to = outbox("apiplex"), {}
    assert.are.equal(25, #box)
    for _, m in ipairs(box) do
      assert.is_nil(to[m.to], "delivered twice: " .. m.to)
      to[m.to] = true
    end
    assert.are.equal(25, journal.scan(dir .. "/st/q1/journal.log").counts.accepted)
  end)

  it("resumes with the run options the journal recorded; one given to resume replaces it", function()
    csv(dir .. "/r.csv", 30)
    -- the first 4 requests fail: their rows are not sent (a rate of 40/s makes chunks of 4 rows,
    -- one request each)
    assert(s:fault({ provider = "sens", path = "messages", kind = "status", status = 503, count = 4 }))
    local rc = bulk("run r.csv --campaign r1 --template welcome -c cfg.json --progress none --rate 40 "
      .. "--concurrency 2 --quota-pause 7 --max-pauses 5 --no-fsync")
    assert.are.equal(1, rc)
    s:reset()
    rc = bulk("resume r1 -c cfg.json --progress none")
    assert.are.equal(0, rc)
    assert.are.same({ rate = 40, concurrency = 2, quota_pause = 7, max_pauses = 5, fsync = false },
                    journal.scan(dir .. "/st/r1/journal.log").options)
    assert.are.equal(16, #outbox("sens"))
    -- the 16 rows left went out at 40/s again: 4 chunks of 4, a tenth of a second apart
    local first, last = math.huge, 0
    for _, a in ipairs(assert(s:attempts())) do
      if a.method == "POST" then first, last = math.min(first, a.time), math.max(last, a.time) end
    end
    assert.is_true(last - first >= 0.25, "spread " .. (last - first))
    -- an option given to resume replaces the recorded one
    rc = bulk("resume r1 -c cfg.json --progress none --rate 500 --fsync")
    assert.are.equal(0, rc)
    local o = journal.scan(dir .. "/st/r1/journal.log").options
    assert.are.equal(500, o.rate)
    assert.are.equal(true, o.fsync)
    assert.are.equal(2, o.concurrency)
  end)

  it("keeps to --rate while the provider fails (not_sent rows went out too)", function()
    csv(dir .. "/f.csv", 6)
    assert(s:fault({ provider = "sens", path = "messages", kind = "status", status = 503 }))
    -- 20/s: chunks of 2 rows, one request each, a tenth of a second apart
    local rc = bulk("run f.csv --campaign f1 --template welcome -c cfg.json --progress none --rate 20")
    assert.are.equal(1, rc)
    local t = {}
    for _, a in ipairs(assert(s:attempts())) do if a.method == "POST" then t[#t + 1] = a.time end end
    assert.are.equal(3, #t)
    assert.is_true(t[3] - t[1] >= 0.15, "spread " .. (t[3] - t[1]))
  end)

  it("resumes a journal that records no options (an older one) with the configuration's", function()
    csv(dir .. "/o.csv", 5)
    local c = cjson.decode(table.concat(read_lines(dir .. "/cfg.json"), "\n"))
    c.bulk = { rate = 5 }
    write(dir .. "/old.json", cjson.encode(c))
    assert.are.equal(0, (bulk("run o.csv --campaign o1 --template welcome -c cfg.json --progress none")))
    -- rewrite the header as an older version wrote it, and drop the outcomes of rows 4 and 5
    old_journal.rewrite(dir .. "/st/o1/journal.log", "options", { 4, 5 })
    s:reset()
    assert.are.equal(0, (bulk("resume o1 -c old.json --progress none")))
    assert.are.equal(2, #outbox("sens"))
    -- the configuration's bulk.rate (5/s), as the version that wrote the journal applied it
    local t = {}
    for _, a in ipairs(assert(s:attempts())) do if a.method == "POST" then t[#t + 1] = a.time end end
    assert.are.equal(2, #t)
    assert.is_true(math.abs(t[2] - t[1]) >= 0.15, "spread " .. math.abs(t[2] - t[1]))
  end)

  it("reads the provider and run options a journal records, resumes included", function()
    local path = dir .. "/rp.log"
    write(path, "H\t" .. cjson.encode({ campaign = "x", provider = "bizmessage" }) .. "\n"
      .. "E\t" .. cjson.encode({ event = "resume", provider = "sens", options = { rate = 2 } }) .. "\n"
      .. "E\t" .. cjson.encode({ event = "resume", options = { concurrency = 3 } }) .. "\n")
    local provider, options = journal.run_provider(path)
    assert.are.equal("sens", provider)
    assert.are.same({ rate = 2, concurrency = 3 }, options)
    assert.are.same({}, select(2, journal.run_provider(dir .. "/none.log")))
  end)

  it("resumes through the provider an older version's resume switched the campaign to", function()
    csv(dir .. "/w.csv", 6)
    assert(s:fault({ provider = "bizmessage", path = "/v2/send/kakao", kind = "status", status = 503,
                     count = 1 }))
    assert.are.equal(1, (bulk("run w.csv --campaign w1 --template welcome -c cfg.json -p bizmessage "
      .. "--progress none")))
    s:clear_faults()
    -- an older version resumed it through the configuration's provider and was killed at once
    local f = assert(io.open(dir .. "/st/w1/journal.log", "ab"))
    f:write("E\t", cjson.encode({ event = "resume", provider = "sens", hwm = 6, at = os.time() }), "\n")
    f:close()
    local rc, _, err = bulk("resume w1 -c cfg.json -p bizmessage --progress none")
    assert.are.equal(2, rc)
    assert.matches("sent through sens, not bizmessage", err[1], 1, true)
    rc = bulk("resume w1 -c cfg.json --progress none")
    assert.are.equal(0, rc)
    assert.are.equal(1, #outbox("sens"))
  end)

  it("refuses a --to-column or --key-column the CSV header lacks, with the header's columns", function()
    csv(dir .. "/h.csv", 3)
    for _, case in ipairs({ { "--to-column nosuch", "'nosuch'" }, { "--key-column cust", "'cust'" } }) do
      local rc, out, err = bulk("run h.csv --campaign h1 --template welcome -c cfg.json --progress none "
        .. case[1])
      assert.are.equal(2, rc)
      assert.are.same({}, out)
      assert.are.equal(1, #err)
      assert.matches(case[2], err[1], 1, true)
      assert.matches("to, name, date", err[1], 1, true)
    end
    -- without --to-column, a CSV with neither 'to' nor 'phone'
    write(dir .. "/m.csv", "mobile,name,date\n010-5000-0001,a,b\n")
    local rc, _, err = bulk("run m.csv --campaign h2 --template welcome -c cfg.json --progress none")
    assert.are.equal(2, rc)
    assert.matches("'to' or 'phone'", err[1], 1, true)
    assert.matches("mobile, name, date", err[1], 1, true)
    assert.are.equal(0, #outbox())
    assert.is_nil(io.open(dir .. "/st/h1/journal.log"))
  end)

  it("says how many rows a stopped campaign did not try, and no rate for messages never sent", function()
    csv(dir .. "/d.csv", 1500)
    config(dir .. "/down.json", "http://127.0.0.1:1") -- nothing listens there
    local rc, out, err = bulk("run d.csv --campaign d1 --template welcome -c down.json --progress lines "
      .. "--chunk 500")
    assert.are.equal(1, rc)
    local last = err[#err]
    assert.matches("1000 rows not tried", last, 1, true)
    assert.is_nil(last:find("100%", 1, true), last)
    assert.is_nil(last:find("ETA", 1, true), last)
    local text = table.concat(out, "\n")
    assert.matches("not tried +1000", text)
    assert.matches("500 rows handled, 0 sent to the provider", text, 1, true)
    assert.is_nil(text:find("messages/s", 1, true), text)
  end)

  it("sends the other rows when one names its own template the registry lacks", function()
    -- the campaign's --template is known; row 2 names an unknown one in its template column:
    -- that row's fault (rejects.jsonl), not the setup's (which would stop the campaign, exit 2)
    write(dir .. "/t.csv", "to,template,name,date\n" .. phone(1) .. ",,a,2026-11-21\n"
      .. phone(2) .. ",nosuch_template,b,2026-11-21\n" .. phone(3) .. ",,c,2026-11-21\n")
    local rc, out, err = bulk("run t.csv --campaign t1 --template welcome -c cfg.json --progress none")
    assert.are_not.equal(2, rc, table.concat(err, "\n"))
    assert.is_nil(table.concat(err, "\n"):find("configuration", 1, true))
    sandbox.wait(function() return #outbox("sens") == 2 end, 5)
    assert.are.equal(2, #outbox("sens"))
    local rejects = read_lines(dir .. "/st/t1/rejects.jsonl")
    assert.are.equal(1, #rejects)
    local r = cjson.decode(rejects[1])
    assert.are.equal(2, r.row)
    assert.matches("TEMPLATE_NOT_FOUND", rejects[1], 1, true)
    assert.matches("nosuch_template", rejects[1], 1, true)
    assert.matches("invalid +1 ", table.concat(out, "\n"))
  end)
end)
