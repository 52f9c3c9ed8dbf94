-- Bulk campaigns against the sandbox server: rejects with reasons, interrupted requests
-- (uncertain where the provider does not dedupe, resent under the same serial where it does),
-- quota pauses and stops, the rate limit, reruns recreating the same serials, and a changed
-- input refused on resume.
local sandbox = require("support.sandbox")
local campaign = require("alimtalk.bulk.campaign")
local alimtalk = require("alimtalk")
local cjson = require("cjson")
local fs = require("support.fs")

local ROOT = sandbox.root
local RUNTIME = fs.RUNTIME

local sh, read_lines, write = fs.sh, fs.read_lines, fs.write

local function phone(i) return string.format("010-%04d-%04d", 2000 + math.floor(i / 10000), i % 10000) end

local function csv(path, n, bad)
  local t = { "to,name,date" }
  for i = 1, n do
    t[#t + 1] = ((bad and bad[i]) and "02-1" or phone(i)) .. ",고객" .. i .. ",2026-11-21"
  end
  write(path, table.concat(t, "\n") .. "\n")
end

describe("bulk campaigns against the sandbox server", function()
  local s, dir
  local function conf(provider)
    local c = s.credentials
    if provider == "sens" then
      return { provider = "sens", templates = sandbox.templates,
               sens = { base_url = s.http_url, access_key = c.sens.access_key,
                        secret_key = c.sens.secret_key, service_id = c.sens.service_id,
                        plus_friend_id = c.sens.plus_friend_id } }
    end
    return { provider = "apiplex", templates = sandbox.templates,
             apiplex = { base_url = s.http_url, user_id = c.apiplex.user_id,
                         secret_key = c.apiplex.secret_key, sender_key = c.apiplex.sender_key,
                         sender_number = "0212345678", dedupe_msg_key = true } }
  end
  local function client(provider) return assert(alimtalk.new(conf(provider))) end
  local function bizmessage()
    local c = s.credentials.bizmessage
    return assert(alimtalk.new({ provider = "bizmessage", templates = sandbox.templates,
      bizmessage = { base_url = s.http_url, client_id = c.client_id, client_secret = c.client_secret,
                     sender_key = c.sender_key, sender_no = "0212345678" } }))
  end
  local function outbox_count(to)
    return #assert(s:outbox({ to = to:gsub("%-", "") }))
  end
  -- BizMessage's outbox names the handset in the international form (8210...)
  local function biz_count(to)
    local n, want = 0, "82" .. to:gsub("%-", ""):sub(2)
    for _, m in ipairs(assert(s:outbox({ provider = "bizmessage" }))) do
      if m.to == want then n = n + 1 end
    end
    return n
  end

  setup(function()
    s = sandbox.start({ delivery_delay = 0.05 })
    dir = fs.tmpdir("alimtalk-bulk")
  end)
  teardown(function()
    local errs = sandbox.stop(s)
    fs.rmtree(dir)
    assert.are.same({}, errs)
  end)
  before_each(function() s:reset() end)

  it("sends the valid rows, lists invalid ones with reasons, and summarizes", function()
    csv(dir .. "/a.csv", 30, { [7] = true, [19] = true })
    local c = client("apiplex")
    local sum = assert(campaign.run({ client = c, campaign = "a1", state_dir = dir, input = dir .. "/a.csv",
                                      template = "welcome", fsync = false }))
    c:close()
    assert.are.same({ accepted = 28, rejected = 0, invalid = 2, uncertain = 0, not_sent = 0,
                      unattempted = 0 }, sum.counts)
    local rejects = read_lines(sum.files.rejects)
    assert.are.equal(2, #rejects)
    local r7 = cjson.decode(rejects[1])
    assert.are.equal(7, r7.row)
    assert.are.equal("BAD_PHONE", r7.error.code)
    assert.are.equal("to", r7.error.field)
    assert.are.equal("02-1", r7.input.to)
    assert.are.equal(28, #read_lines(sum.files.accepted))
    -- what the handset shows: the template filled with the row's columns
    local box = assert(s:outbox({ to = "01020000005" }))
    assert.are.equal(1, #box)
    assert.matches("^고객5님, 회원가입을 환영합니다%.\n가입일: 2026%-11%-21$", box[1].text)
  end)

  it("recreates the same serials on a rerun, so the provider drops the repeats", function()
    csv(dir .. "/b.csv", 12)
    local c = client("apiplex")
    local sum = assert(campaign.run({ client = c, campaign = "b1", state_dir = dir, input = dir .. "/b.csv",
                                      template = "welcome", fsync = false }))
    assert.are.equal(12, sum.counts.accepted)
    -- accepted.jsonl is in the order the answers came back: find row 1
    local first
    for _, l in ipairs(read_lines(sum.files.accepted)) do
      local r = cjson.decode(l)
      if r.row == 1 then first = r end
    end
    assert.are.equal(campaign.serial("b1", "row:1"), first.result.serial)
    -- the state is lost, the same campaign is run again from scratch: nothing is delivered
    -- twice, and since this journal never sent these rows, their duplicate answers are not
    -- counted as deliveries of this run
    sh("rm -rf '" .. dir .. "/b1'")
    sum = assert(campaign.run({ client = c, campaign = "b1", state_dir = dir, input = dir .. "/b.csv",
                                template = "welcome", fsync = false }))
    c:close()
    assert.are.equal(0, sum.counts.accepted)
    assert.are.equal(12, sum.counts.rejected)
    for i = 1, 12 do assert.are.equal(1, outbox_count(phone(i))) end
    local r = cjson.decode(read_lines(sum.files.rejected)[1]).result
    assert.are.equal("DUPLICATE_ID", r.code)
    assert.are.equal("C400_2", r.provider_code)
  end)

  it("refuses a key an earlier row has, even in another chunk, and never reports it delivered", function()
    -- row 5 repeats row 1's key: one serial for two messages, of which BizMessage keeps one
    write(dir .. "/k.csv", "to,name,date,cust\n" .. phone(1) .. ",a,d,C1\n" .. phone(2) .. ",b,d,C2\n"
      .. phone(3) .. ",c,d,C3\n" .. phone(4) .. ",d,d,C4\n" .. phone(5) .. ",e,d,C1\n")
    local b = bizmessage()
    local sum = assert(campaign.run({ client = b, campaign = "k1", state_dir = dir, input = dir .. "/k.csv",
                                      template = "welcome", key_column = "cust", chunk = 2, fsync = false }))
    b:close()
    assert.are.same({ accepted = 4, rejected = 0, invalid = 1, uncertain = 0, not_sent = 0, unattempted = 0 },
                    sum.counts)
    local why = cjson.decode(read_lines(sum.files.rejects)[1])
    assert.are.equal(5, why.row)
    assert.are.equal("DUPLICATE_ID", why.error.code)
    assert.are.equal("cust", why.error.field)
    assert.matches("'C1'", why.error.message, 1, true)
    for i = 1, 4 do assert.are.equal(1, biz_count(phone(i)), "row " .. i) end
    assert.are.equal(0, biz_count(phone(5)))
  end)

  it("refuses a JSON lines id an earlier line has, even in another chunk", function()
    local lines = {}
    for i, id in ipairs({ "o-1", "o-2", "o-1", "o-3" }) do
      lines[i] = cjson.encode({ to = phone(40 + i), template = "welcome", id = id,
                                vars = { name = "n" .. i, date = "d" } })
    end
    write(dir .. "/j.jsonl", table.concat(lines, "\n") .. "\n")
    local c = client("apiplex") -- drops a repeated msg_key (dedupe_msg_key): it would be lost
    local sum = assert(campaign.run({ client = c, campaign = "j1", state_dir = dir, input = dir .. "/j.jsonl",
                                      chunk = 1, fsync = false }))
    c:close()
    assert.are.same({ 3, 1 }, { sum.counts.accepted, sum.counts.invalid })
    local why = cjson.decode(read_lines(sum.files.rejects)[1])
    assert.are.same({ 3, "DUPLICATE_ID", "id" }, { why.row, why.error.code, why.error.field })
    assert.matches("'o-1'", why.error.message, 1, true)
    assert.are.equal(0, outbox_count(phone(43)))
  end)

  it("reports a duplicate-serial answer for a row it never sent before as rejected DUPLICATE_ID", function()
    -- another campaign with the same id already used key C2 (for another customer): the
    -- provider drops row 2 as a duplicate, and row 2's recipient got nothing
    write(dir .. "/o.csv", "to,name,date,cust\n" .. phone(11) .. ",a,d,C1\n" .. phone(12) .. ",b,d,C2\n")
    write(dir .. "/n.csv", "to,name,date,cust\n" .. phone(21) .. ",x,d,C9\n" .. phone(22) .. ",y,d,C2\n"
      .. phone(23) .. ",z,d,C3\n")
    local b = bizmessage()
    assert(campaign.run({ client = b, campaign = "dk", state_dir = dir .. "/elsewhere",
                          input = dir .. "/o.csv", template = "welcome", key_column = "cust",
                          fsync = false }))
    local sum = assert(campaign.run({ client = b, campaign = "dk", state_dir = dir, input = dir .. "/n.csv",
                                      template = "welcome", key_column = "cust", fsync = false }))
    b:close()
    assert.are.equal(2, sum.counts.accepted)
    assert.are.equal(1, sum.counts.rejected)
    local r = cjson.decode(read_lines(sum.files.rejected)[1])
    assert.are.equal(2, r.row)
    assert.are.equal("DUPLICATE_ID", r.result.code)
    assert.are.equal("510", r.result.provider_code)   -- BizMessage's result code (detail 3012)
    assert.are.equal("cust", r.result.field)
    assert.are.equal("C2", r.result.key)
    assert.matches("'C2'", r.result.message, 1, true)
    assert.are.equal(1, biz_count(phone(12))) -- the other campaign's
    assert.are.equal(0, biz_count(phone(22)))
    assert.are.equal(1, biz_count(phone(21)))
    for _, l in ipairs(read_lines(sum.files.accepted)) do
      assert.are_not.equal(2, cjson.decode(l).row)
    end
  end)

  it("does not take the key column for a template variable unless the template has one so named", function()
    write(dir .. "/v.csv", "to,name,date,customer_id\n" .. phone(31) .. ",a,2026-01-01,c-1\n"
      .. phone(32) .. ",b,2026-01-02,c-2\n")
    local c = client("sens")
    local sum = assert(campaign.run({ client = c, campaign = "v1", state_dir = dir, input = dir .. "/v.csv",
                                      template = "welcome", key_column = "customer_id", fsync = false }))
    assert.are.equal(2, sum.counts.accepted)
    assert.are.equal(0, sum.counts.invalid)
    -- a key column the template uses is still a variable
    sum = assert(campaign.run({ client = c, campaign = "v2", state_dir = dir, input = dir .. "/v.csv",
                                template = "welcome", key_column = "name", to_column = "to", fsync = false }))
    c:close()
    assert.are.equal(2, sum.counts.invalid) -- customer_id is not a variable of welcome
    assert.are.equal("vars.customer_id", cjson.decode(read_lines(sum.files.rejects)[1]).error.field)
  end)

  it("refuses a recipient or key column the CSV header lacks, before anything starts", function()
    csv(dir .. "/h.csv", 3)
    local c = client("sens")
    local sum, err = campaign.run({ client = c, campaign = "h1", state_dir = dir, input = dir .. "/h.csv",
                                    template = "welcome", to_column = "mobile", fsync = false })
    assert.is_nil(sum)
    assert.are.equal("BAD_OPTION", err.code)
    assert.are.equal("to_column", err.field)
    assert.matches("'mobile'", err.message, 1, true)
    assert.matches("to, name, date", err.message, 1, true)
    sum, err = campaign.run({ client = c, campaign = "h1", state_dir = dir, input = dir .. "/h.csv",
                              template = "welcome", key_column = "cust", fsync = false })
    c:close()
    assert.is_nil(sum)
    assert.are.equal("key_column", err.field)
    assert.matches("'cust'", err.message, 1, true)
    assert.is_nil(io.open(dir .. "/h1/journal.log"))
    assert.are.equal(0, outbox_count(phone(1)))
  end)

  it("records the run options in the journal and resumes with them; a resume's own replace them", function()
    csv(dir .. "/ro.csv", 30)
    local c = client("sens")
    local ok = pcall(campaign.run, { client = c, campaign = "ro", state_dir = dir, input = dir .. "/ro.csv",
      template = "welcome", rate = 40, concurrency = 2, quota_pause = 7, max_pauses = 5, fsync = false,
      on_chunk = function() error("stop after the first chunk") end })
    assert.is_false(ok)
    collectgarbage() -- closes the journal the error left open
    local journal = require("alimtalk.bulk.journal")
    assert.are.same({ rate = 40, concurrency = 2, quota_pause = 7, max_pauses = 5, fsync = false },
                    journal.scan(dir .. "/ro/journal.log").options)
    s:reset()
    local sum = assert(campaign.run({ client = c, campaign = "ro", state_dir = dir }))
    assert.are.equal(30, sum.counts.accepted)
    -- the 26 rows left went out at 40/s: at least 0.5 s from the first to the last
    local first, last = math.huge, 0
    for _, a in ipairs(assert(s:attempts({ provider = "sens" }))) do
      if a.method == "POST" then first, last = math.min(first, a.time), math.max(last, a.time) end
    end
    assert.is_true(last - first >= 0.5, "spread " .. (last - first))
    -- a resume's own option replaces the recorded one, for later resumes too
    assert(campaign.run({ client = c, campaign = "ro", state_dir = dir, rate = 1000 }))
    c:close()
    local o = journal.scan(dir .. "/ro/journal.log").options
    assert.are.equal(1000, o.rate)
    assert.are.equal(2, o.concurrency)
  end)

  -- Run the real command in the background and kill it while a request hangs in the server.
  local function killed_mid_request(provider, id, n)
    csv(dir .. "/" .. id .. ".csv", n)
    write(dir .. "/" .. id .. ".json", cjson.encode(conf(provider)))
    assert(s:fault({ provider = provider, kind = "delay", delay = 3, count = 1 }))
    local cmd = ("cd '%s' && exec %s '%s/bin/alimtalk' bulk run %s.csv --campaign %s --template welcome "
      .. "-c %s.json --state-dir st --progress none --chunk 10 --concurrency 1")
      :format(dir, RUNTIME, ROOT, id, id, id)
    -- the first request hangs 3 s in the server: kill the command 1.5 s in
    sh(("bash -c '(%s) >/dev/null 2>&1 & pid=$!; sleep 1.5; kill -9 $pid; wait $pid' 2>/dev/null")
      :format(cmd:gsub("'", "'\\''")))
    local st = require("alimtalk.bulk.journal").scan(dir .. "/st/" .. id .. "/journal.log")
    local inflight = 0
    for _ in pairs(st.in_flight) do inflight = inflight + 1 end
    assert.is_true(inflight > 0, "the kill did not land during a request")
    sh("sleep 2") -- the hung request completes in the server meanwhile
    s:clear_faults()
    local resume = ("cd '%s' && %s '%s/bin/alimtalk' bulk resume %s -c %s.json --state-dir st "
      .. "--progress none "
      .. "--json > %s.out 2>/dev/null"):format(dir, RUNTIME, ROOT, id, id, id)
    sh(resume)
    return cjson.decode(read_lines(dir .. "/" .. id .. ".out")[1]), inflight
  end

  it("reports rows of an interrupted request as uncertain where the provider does not dedupe", function()
    local sum, inflight = killed_mid_request("sens", "u1", 25)
    assert.are.equal(inflight, sum.counts.uncertain)
    assert.are.equal(25 - inflight, sum.counts.accepted)
    -- nothing delivered twice, and nothing lost: the hung request was delivered once
    for i = 1, 25 do assert.are.equal(1, outbox_count(phone(i)), "row " .. i) end
    local unc = read_lines(dir .. "/st/u1/uncertain.jsonl")
    assert.are.equal(inflight, #unc)
    assert.matches("interrupted", cjson.decode(unc[1]).result.reason)
  end)

  it("resends rows of an interrupted request under the same serial where the provider dedupes", function()
    local sum = killed_mid_request("apiplex", "d1", 25)
    assert.are.equal(25, sum.counts.accepted)
    assert.are.equal(0, sum.counts.uncertain)
    for i = 1, 25 do assert.are.equal(1, outbox_count(phone(i)), "row " .. i) end
  end)

  -- A chunk fsynced as "may be sent" whose per-request records were lost: after a reboot
  -- (another boot id) its rows may have left, after a killed process (same boot) they did not.
  local function half_sent(id, boot)
    csv(dir .. "/" .. id .. ".csv", 10)
    local c = client("sens")
    local ok = pcall(campaign.run, { client = c, campaign = id, state_dir = dir, fsync = false, chunk = 5,
      input = dir .. "/" .. id .. ".csv", template = "welcome",
      on_chunk = function() error("stop after the first chunk") end })
    assert.is_false(ok)
    collectgarbage() -- closes the journal the error left open
    local f = assert(io.open(dir .. "/" .. id .. "/journal.log", "ab"))
    f:write("B\t", boot, "\n")
    for row = 6, 10 do f:write("P\t", row, "\t", campaign.serial(id, "row:" .. row), "\n") end
    f:write("C\t6\t10\n")
    f:close()
    local sum = assert(campaign.run({ client = c, campaign = id, state_dir = dir, fsync = false }))
    c:close()
    return sum
  end

  it("after a reboot, treats a chunk that may have left as uncertain (no dedupe: not resent)", function()
    local sum = half_sent("pc1", "another-boot-id")
    assert.are.equal(5, sum.counts.accepted)
    assert.are.equal(5, sum.counts.uncertain)
    for i = 6, 10 do assert.are.equal(0, outbox_count(phone(i)), "row " .. i) end
  end)

  it("after a killed process (same boot), sends a chunk whose requests never left", function()
    local boot = require("alimtalk.bulk.journal").boot_id()
    local sum = half_sent("pc2", boot)
    assert.are.equal(10, sum.counts.accepted)
    assert.are.equal(0, sum.counts.uncertain)
    for i = 1, 10 do assert.are.equal(1, outbox_count(phone(i)), "row " .. i) end
  end)

  it("never resends a row that may have gone out through another provider than its own", function()
    -- Killed with requests in flight at API PLEX (dedupes): its "going out" records name the
    -- provider, the outcomes never came. A resume through BizMessage (which dedupes too, but
    -- has never seen these serials) must not send them there: they are uncertain. A later
    -- resume through API PLEX again resends them under their serials (dropped as duplicates).
    csv(dir .. "/x.csv", 8)
    local a = client("apiplex")
    assert(campaign.run({ client = a, campaign = "x1", state_dir = dir, input = dir .. "/x.csv",
                          template = "welcome", fsync = false }))
    local jpath = dir .. "/x1/journal.log"
    local kept = {}
    for _, l in ipairs(read_lines(jpath)) do
      if not l:match("^O\t") and not l:match('^E\t{.*"done"') then kept[#kept + 1] = l end
    end
    write(jpath, table.concat(kept, "\n") .. "\n")
    local c = s.credentials.bizmessage
    local b = assert(alimtalk.new({ provider = "bizmessage", templates = sandbox.templates,
      bizmessage = { base_url = s.http_url, client_id = c.client_id, client_secret = c.client_secret,
                     sender_key = c.sender_key, sender_no = "0212345678" } }))
    local sum = assert(campaign.run({ client = b, campaign = "x1", state_dir = dir, fsync = false }))
    b:close()
    assert.are.equal(8, sum.counts.uncertain)
    assert.are.equal(0, sum.counts.accepted)
    for i = 1, 8 do assert.are.equal(1, outbox_count(phone(i)), "row " .. i) end
    assert.are.equal("apiplex", cjson.decode(read_lines(sum.files.uncertain)[1]).result.provider)
    sum = assert(campaign.run({ client = a, campaign = "x1", state_dir = dir, fsync = false }))
    a:close()
    assert.are.equal(8, sum.counts.accepted)
    assert.are.equal(0, sum.counts.uncertain)
    for i = 1, 8 do assert.are.equal(1, outbox_count(phone(i)), "row " .. i) end
  end)

  it("stops when the provider is down, leaving the rest untried for a resume", function()
    csv(dir .. "/dn.csv", 3000)
    local cf = conf("sens")
    cf.sens.base_url = "http://127.0.0.1:1" -- nothing listens there: every request is refused
    cf.retry = { max_attempts = 1 }
    local c = assert(alimtalk.new(cf))
    local sum = assert(campaign.run({ client = c, campaign = "dn", state_dir = dir, input = dir .. "/dn.csv",
                                      template = "welcome", fsync = false, chunk = 500 }))
    c:close()
    assert.matches("^provider down", sum.stopped)
    -- the chunk whose failures opened the circuit; the rest untried
    assert.are.equal(500, sum.counts.not_sent)
    assert.are.equal(2500, sum.counts.unattempted)
    assert.are.equal(3000, sum.counts.not_sent + sum.counts.unattempted)
    -- once it is back, a resume sends everything, each row once
    c = client("sens")
    sum = assert(campaign.run({ client = c, campaign = "dn", state_dir = dir, fsync = false }))
    c:close()
    assert.is_nil(sum.stopped)
    assert.are.equal(3000, sum.counts.accepted)
    assert.are.equal(0, sum.counts.not_sent)
    for _, i in ipairs({ 1, 499, 500, 501, 2999, 3000 }) do
      assert.are.equal(1, outbox_count(phone(i)), "row " .. i)
    end
  end)

  it("counts as untried only the rows a stopped resume would have sent", function()
    -- first run: the first request fails (row 1..100 not_sent), the rest is accepted
    csv(dir .. "/dn2.csv", 300)
    assert(s:fault({ provider = "sens", kind = "status", status = 503, count = 1 }))
    local cf = conf("sens")
    cf.retry = { max_attempts = 1 }
    local c = assert(alimtalk.new(cf))
    local sum = assert(campaign.run({ client = c, campaign = "dn2", state_dir = dir, chunk = 100,
                                      input = dir .. "/dn2.csv", template = "welcome", fsync = false }))
    c:close()
    assert.are.same({ 200, 100 }, { sum.counts.accepted, sum.counts.not_sent })
    -- the resume finds the provider down at once: it stops, and nothing else was left to try
    cf.sens.base_url = "http://127.0.0.1:1"
    cf.provider, cf.route = nil, { order = { "sens" }, failures = 1 }
    c = assert(alimtalk.new(cf))
    sum = assert(campaign.run({ client = c, campaign = "dn2", state_dir = dir, chunk = 100, fsync = false }))
    c:close()
    assert.matches("^provider down", sum.stopped)
    assert.are.same({ 200, 100, 0 }, { sum.counts.accepted, sum.counts.not_sent, sum.counts.unattempted })
  end)

  it("pauses on a quota code and goes on; stops after too many and resumes later", function()
    csv(dir .. "/q.csv", 40)
    local c = client("apiplex")
    assert(s:fault({ provider = "apiplex", kind = "code", code = "G150", count = 1 }))
    local sum = assert(campaign.run({ client = c, campaign = "q1", state_dir = dir, input = dir .. "/q.csv",
                                      template = "welcome", fsync = false, quota_pause = 0.1, chunk = 10 }))
    assert.are.equal(40, sum.counts.accepted)
    local paused = false
    for _, l in ipairs(read_lines(dir .. "/q1/journal.log")) do
      if l:find('"event":"pause"', 1, true) then paused = true end
    end
    assert.is_true(paused)
    -- a quota that does not lift: stop, keep the rest for later
    assert(s:fault({ provider = "apiplex", kind = "code", code = "G150" }))
    sum = assert(campaign.run({ client = c, campaign = "q2", state_dir = dir, input = dir .. "/q.csv",
                                template = "welcome", fsync = false, quota_pause = 0.05, max_pauses = 1,
                                chunk = 10 }))
    assert.matches("quota", sum.stopped)
    assert.are.equal(0, sum.counts.accepted)
    assert.are.equal(10, sum.counts.not_sent)
    assert.are.equal(30, sum.counts.unattempted)
    s:clear_faults()
    sum = assert(campaign.run({ client = c, campaign = "q2", state_dir = dir, fsync = false, chunk = 10 }))
    c:close()
    assert.is_nil(sum.stopped)
    assert.are.equal(40, sum.counts.accepted)
    assert.are.equal(0, sum.counts.not_sent)
  end)

  it("keeps to the rate limit", function()
    csv(dir .. "/r.csv", 30)
    local c = client("sens")
    assert(campaign.run({ client = c, campaign = "r1", state_dir = dir, input = dir .. "/r.csv",
                          template = "welcome", fsync = false, rate = 40 }))
    c:close()
    -- 30 messages at 40/s: the server saw them spread over at least 0.5 s
    local first, last = math.huge, 0
    for _, a in ipairs(assert(s:attempts({ provider = "sens" }))) do
      if a.method == "POST" then
        first, last = math.min(first, a.time), math.max(last, a.time)
      end
    end
    assert.is_true(last - first >= 0.5, "spread " .. (last - first))
  end)

  it("runs a campaign in one process at a time, taking over a lock its dead owner left", function()
    csv(dir .. "/l.csv", 30)
    write(dir .. "/l.json", cjson.encode(conf("sens")))
    -- a slow run (20 messages/s) in the background, then a second run of the same campaign
    local cmd = ("cd '%s' && %s '%s/bin/alimtalk' bulk run l.csv --campaign l1 --template welcome -c l.json "
      .. "--state-dir st --progress none --no-fsync --rate 20 >/dev/null 2>&1 &"):format(dir, RUNTIME, ROOT)
    sh(cmd)
    sandbox.wait(function()
      local f = io.open(dir .. "/st/l1/lock/owner")
      if f then f:close() end
      return f ~= nil
    end, 5)
    local c = client("sens")
    local sum, err = campaign.run({ client = c, campaign = "l1", state_dir = dir .. "/st", fsync = false })
    assert.is_nil(sum)
    assert.are.equal("CAMPAIGN_BUSY", err.code)
    sandbox.wait(function() return io.open(dir .. "/st/l1/lock/owner") == nil end, 10)
    sum = assert(campaign.run({ client = c, campaign = "l1", state_dir = dir .. "/st", fsync = false }))
    assert.are.equal(30, sum.counts.accepted)
    for i = 1, 30 do assert.are.equal(1, outbox_count(phone(i))) end
    -- a lock left by a process that is gone is stale
    sh("mkdir -p '" .. dir .. "/st/l1/lock'")
    write(dir .. "/st/l1/lock/owner", "999999 1 " .. require("alimtalk.bulk.journal").boot_id() .. "\n")
    sum = assert(campaign.run({ client = c, campaign = "l1", state_dir = dir .. "/st", fsync = false }))
    assert.are.equal(30, sum.counts.accepted)
    -- a live owner that has not written its journal yet (it just started): busy, not "no input"
    local stat = require("support.fs").read_file("/proc/self/stat")
    local fields = {}
    for w in stat:match("^%d+ %b() (.*)$"):gmatch("%S+") do fields[#fields + 1] = w end
    sh("mkdir -p '" .. dir .. "/st/l2/lock'")
    write(dir .. "/st/l2/lock/owner", stat:match("^%d+") .. " " .. fields[20] .. " "
      .. require("alimtalk.bulk.journal").boot_id() .. "\n")
    local _, e1 = campaign.run({ client = c, campaign = "l2", state_dir = dir .. "/st", fsync = false })
    local _, e2 = campaign.resume({ client = c, campaign = "l2", state_dir = dir .. "/st", fsync = false })
    c:close()
    assert.are.same({ "CAMPAIGN_BUSY", "CAMPAIGN_BUSY" }, { e1 and e1.code, e2 and e2.code })
  end)

  it("bulk status only reads while the campaign runs, and refreshes the lists when it does not", function()
    csv(dir .. "/st.csv", 6)
    local c = client("apiplex")
    assert(campaign.run({ client = c, campaign = "st1", state_dir = dir, input = dir .. "/st.csv",
                          template = "welcome", fsync = false }))
    c:close()
    local accepted = dir .. "/st1/accepted.jsonl"
    os.remove(accepted)
    -- a live process holds the lock (this one): status must not write anything
    local f = assert(io.open("/proc/self/stat"))
    local stat = f:read("a")
    f:close()
    local pid, rest = stat:match("^(%d+) %(.*%) (.*)$")
    local fields = {}
    for w in rest:gmatch("%S+") do fields[#fields + 1] = w end
    sh("mkdir -p '" .. dir .. "/st1/lock'")
    write(dir .. "/st1/lock/owner", pid .. " " .. fields[20] .. " "
      .. require("alimtalk.bulk.journal").boot_id() .. "\n")
    local st = assert(campaign.status(dir, "st1"))
    assert.is_true(st.running)
    assert.are.equal(6, st.counts.accepted)
    assert.is_nil(io.open(accepted), "status rewrote a list while the campaign ran")
    local leftovers = io.popen("ls '" .. dir .. "/st1' | grep -c tmp"):read("*l")
    assert.are.equal("0", leftovers)
    sh("rm -rf '" .. dir .. "/st1/lock'")
    st = assert(campaign.status(dir, "st1"))
    assert.is_nil(st.running)
    assert.are.equal(6, #read_lines(accepted))
  end)

  it("refuses to resume when the input file changed", function()
    csv(dir .. "/c.csv", 5)
    local c = client("apiplex")
    assert(campaign.run({ client = c, campaign = "c1", state_dir = dir, input = dir .. "/c.csv",
                          template = "welcome", fsync = false }))
    csv(dir .. "/c.csv", 6)
    local sum, err = campaign.run({ client = c, campaign = "c1", state_dir = dir, fsync = false })
    c:close()
    assert.is_nil(sum)
    assert.are.equal("INPUT_CHANGED", err.code)
  end)
end)
