-- Issue 16: a resumed campaign never loses rows to a forgotten or changed setup. Each case runs
-- the real `alimtalk bulk run` against the sandbox server (API PLEX, which drops a repeated
-- msg_key), kills it with SIGKILL once some rows are out, resumes it with the setup forgotten,
-- changed or wrong, then fixed, and counts the server's outbox: every row delivered exactly
-- once, nothing charged to a row in rejects.jsonl. Also the journal's setup record through
-- the Lua API, a journal from before it, the mid-run stop and the one classification.
local sandbox = require("support.sandbox")
local campaign = require("alimtalk.bulk.campaign")
local journal = require("alimtalk.bulk.journal")
local bsetup = require("alimtalk.bulk.setup")
local alimtalk = require("alimtalk")
local cjson = require("cjson")
local fs = require("support.fs")
local old_journal = require("support.old_journal")

local ROOT, RUNTIME = sandbox.root, fs.RUNTIME
local write, read_lines, read_file, capture = fs.write, fs.read_lines, fs.read_file, fs.capture

local ROWS = 1000

local function phone(i) return string.format("010-%04d-%04d", 6000 + math.floor(i / 10000), i % 10000) end

local function csv(path, n)
  local t = { "to,name,date" }
  for i = 1, n do t[#t + 1] = phone(i) .. ",고객" .. i .. ",2026-11-21" end
  write(path, table.concat(t, "\n") .. "\n")
end

describe("bulk resume restores the setup its rows depend on", function()
  local s, dir, n_case = nil, nil, 0

  local function secret_env()
    return "ALIMTALK_APIPLEX_SECRET_KEY=" .. fs.q(s.credentials.apiplex.secret_key)
  end

  -- run `alimtalk bulk ARGS` in the case's folder: exit code, stdout lines, stderr lines
  local function bulk(case, args, env)
    local out, err = case .. "/cmd.out", case .. "/cmd.err"
    local rc = capture(("(cd %s && %s %s %s/bin/alimtalk bulk %s --state-dir st --progress none >%s 2>%s)")
      :format(fs.q(case), env or secret_env(), RUNTIME, fs.q(ROOT), args, fs.q(out), fs.q(err)))
    return rc, read_lines(out), read_lines(err)
  end

  -- `bulk run ARGS` in the background, killed with SIGKILL once its journal has outcomes
  local function killed_run(case, id, args)
    local jpath = case .. "/st/" .. id .. "/journal.log"
    local cmd = ("cd %s && exec env %s %s %s/bin/alimtalk bulk run %s --state-dir st --progress none")
      :format(fs.q(case), secret_env(), RUNTIME, fs.q(ROOT), args)
    local script = ("(%s) >/dev/null 2>&1 & pid=$!; for i in $(seq 400); do "
      .. "grep -q '^O' %s 2>/dev/null && break; sleep 0.02; done; sleep 0.15; "
      .. "if kill -9 $pid 2>/dev/null; then wait $pid; exit 0; else wait $pid; exit 1; fi")
      :format(cmd, fs.q(jpath))
    assert.is_true(fs.sh("bash -c " .. fs.q(script) .. " 2>/dev/null"), "the run ended before the kill")
    return jpath
  end

  local function outbox() return assert(s:outbox({ provider = "apiplex" })) end

  -- every row delivered exactly once, and the summary says so
  local function all_once(case, id)
    local box, seen = outbox(), {}
    for _, m in ipairs(box) do
      assert.is_nil(seen[m.to], "delivered twice: " .. tostring(m.to))
      seen[m.to] = true
    end
    assert.are.equal(ROWS, #box)
    local st = journal.scan(case .. "/st/" .. id .. "/journal.log")
    assert.are.same({ accepted = ROWS, rejected = 0, invalid = 0, not_sent = 0, uncertain = 0 },
                    st.counts)
    assert.are.same({}, read_lines(case .. "/st/" .. id .. "/rejects.jsonl"))
  end

  -- a folder with the input, a copy of the registry and a configuration naming no registry
  local function new_case()
    n_case = n_case + 1
    local case = dir .. "/c" .. n_case
    assert(fs.sh("mkdir -p " .. fs.q(case)))
    csv(case .. "/in.csv", ROWS)
    write(case .. "/reg.json", read_file(sandbox.templates))
    local c = s.credentials.apiplex
    write(case .. "/cfg.json", cjson.encode({ provider = "apiplex", retry = { max_attempts = 1 },
      apiplex = { base_url = s.http_url, user_id = c.user_id or "sandbox", sender_key = c.sender_key,
                  sender_number = "0212345678", dedupe_msg_key = true } }))
    return case
  end

  setup(function()
    s = sandbox.start({ delivery_delay = 0.05 })
    dir = fs.tmpdir("alimtalk-resume")
  end)
  teardown(function()
    local errs = sandbox.stop(s)
    fs.rmtree(dir)
    assert.are.same({}, errs)
  end)
  before_each(function() s:reset() end)

  it("(a) a resume without --templates reloads the registry the journal records", function()
    local case = new_case()
    killed_run(case, "a", "in.csv --campaign a --template welcome -c cfg.json --templates reg.json "
      .. "--rate 1000")
    local before = #outbox()
    assert.is_true(before > 0 and before < ROWS, "delivered before the kill: " .. before)
    -- neither --templates nor -c: both come from the journal
    local rc, out = bulk(case, "resume a")
    assert.are.equal(0, rc)
    assert.matches("invalid +0", table.concat(out, "\n"))
    all_once(case, "a")
    local rec = journal.scan(case .. "/st/a/journal.log").setup
    assert.are.equal(case .. "/reg.json", rec.templates.path)
    assert.are.equal(bsetup.file_digest(case .. "/reg.json", "templates"), rec.templates.digest)
    assert.are.equal(case .. "/cfg.json", rec.config.path)
    assert.are.equal("apiplex", rec.config.section)
  end)

  it("(b) refuses a resume after the registry file changed, until it is given again", function()
    local case = new_case()
    local jpath = killed_run(case, "b", "in.csv --campaign b --template welcome -c cfg.json "
      .. "--templates reg.json --rate 1000")
    local before = #outbox()
    -- the registry gains a template: its content changed
    local reg = cjson.decode(read_file(case .. "/reg.json"))
    reg.templates[#reg.templates + 1] = { name = "extra", body = "#{name}님", codes = { apiplex = "TX" } }
    write(case .. "/reg.json", cjson.encode(reg))
    local journal_before = read_file(jpath)
    local rc, out, err = bulk(case, "resume b")
    assert.are.equal(2, rc)
    assert.are.same({}, out)
    assert.are.equal(1, #err)
    assert.matches("SETUP_CHANGED", err[1], 1, true)
    assert.matches(case .. "/reg.json, which changed since the campaign started", err[1], 1, true)
    assert.are.equal(journal_before, read_file(jpath))   -- no row touched
    assert.are.equal(before, #outbox())
    -- gone is refused as well, naming the file
    os.rename(case .. "/reg.json", case .. "/moved.json")
    rc, out, err = bulk(case, "resume b")
    assert.are.equal(2, rc)
    assert.are.same({}, out)
    assert.matches(case .. "/reg.json, which is gone", err[1], 1, true)
    assert.are.equal(journal_before, read_file(jpath))
    os.rename(case .. "/moved.json", case .. "/reg.json")
    -- given again: taken, and its new digest recorded for later resumes
    rc = bulk(case, "resume b --templates reg.json")
    assert.are.equal(0, rc)
    all_once(case, "b")
    assert.are.equal(bsetup.file_digest(case .. "/reg.json", "templates"),
                     journal.scan(jpath).setup.templates.digest)
    assert.are.equal(0, (bulk(case, "resume b")))
  end)

  it("(c) refuses a resume whose provider credential is missing; sends all once when it is back", function()
    local case = new_case()
    local jpath = killed_run(case, "c", "in.csv --campaign c --template welcome -c cfg.json "
      .. "--templates reg.json --rate 1000")
    local before = #outbox()
    local journal_before = read_file(jpath)
    local rc, out, err = bulk(case, "resume c", "ALIMTALK_APIPLEX_SECRET_KEY=")
    assert.are.equal(2, rc)
    assert.are.same({}, out)
    assert.matches("secret_key", table.concat(err, "\n"), 1, true)
    assert.matches("ALIMTALK_APIPLEX_SECRET_KEY", table.concat(err, "\n"), 1, true)
    assert.are.equal(journal_before, read_file(jpath))
    assert.are.equal(before, #outbox())
    rc = bulk(case, "resume c")
    assert.are.equal(0, rc)
    all_once(case, "c")
  end)

  it("(d) refuses a template name no registry has, at the start and on a resume", function()
    local case = new_case()
    local rc, out, err = bulk(case, "run in.csv --campaign d --template wellcome -c cfg.json "
      .. "--templates reg.json")
    assert.are.equal(2, rc)
    assert.are.same({}, out)
    assert.matches("'wellcome' (--template) is not in its template registry " .. case .. "/reg.json",
                   err[1], 1, true)
    assert.is_nil(io.open(case .. "/st/d/journal.log"))
    assert.are.equal(0, #outbox())
    -- the right name, killed; then a resume given a registry without that template
    local jpath = killed_run(case, "d", "in.csv --campaign d --template welcome -c cfg.json "
      .. "--templates reg.json --rate 1000")
    local before = #outbox()
    local reg = cjson.decode(read_file(case .. "/reg.json"))
    local kept = {}
    for _, t in ipairs(reg.templates) do if t.name ~= "welcome" then kept[#kept + 1] = t end end
    write(case .. "/other.json", cjson.encode({ templates = kept }))
    local journal_before = read_file(jpath)
    rc, out, err = bulk(case, "resume d --templates other.json")
    assert.are.same({}, out)
    assert.are.equal(2, rc)
    assert.matches("'welcome' (--template) is not in its template registry", err[1], 1, true)
    assert.are.equal(journal_before, read_file(jpath))
    assert.are.equal(before, #outbox())
    rc = bulk(case, "resume d")
    assert.are.equal(0, rc)
    all_once(case, "d")
  end)

  it("stops a run when a row needs a registry there is none of, leaving the rest untried", function()
    -- JSON lines: 150 finished texts, then 150 templates with variables; no registry at all
    local case = new_case()
    local lines = {}
    for i = 1, 300 do
      local m = { to = phone(i), template = "T0002", id = "m" .. i }
      if i <= 150 then m.content = "고객" .. i .. "님, 회원가입을 환영합니다.\n가입일: 2026-11-21"
      else m.template, m.vars = "welcome", { name = "고객" .. i, date = "2026-11-21" } end
      lines[i] = cjson.encode(m)
    end
    write(case .. "/m.jsonl", table.concat(lines, "\n") .. "\n")
    local rc, out, err = bulk(case, "run m.jsonl --campaign m -c cfg.json --chunk 50")
    assert.are.equal(2, rc)
    local text = table.concat(out, "\n")
    assert.matches("accepted +150", text)
    assert.matches("invalid +0", text)
    assert.matches("not tried +150", text)
    assert.matches("NO_REGISTRY", read_file(case .. "/st/m/journal.log"), 1, true)
    assert.matches("configuration: template 'welcome' has variables", err[#err], 1, true)
    assert.are.same({}, read_lines(case .. "/st/m/rejects.jsonl"))
    rc = bulk(case, "resume m --templates reg.json")
    assert.are.equal(0, rc)
    local box = outbox()
    assert.are.equal(300, #box)
    assert.are.equal(300, journal.scan(case .. "/st/m/journal.log").counts.accepted)
  end)

  it("resumes a journal from before the setup record as before", function()
    local case = new_case()
    csv(case .. "/o.csv", 6)
    local cf = cjson.decode(read_file(case .. "/cfg.json"))
    cf.templates = "reg.json"   -- relative to the configuration file
    write(case .. "/withreg.json", cjson.encode(cf))
    assert.are.equal(0, (bulk(case, "run o.csv --campaign o --template welcome -c withreg.json")))
    -- the header as an older version wrote it, rows 5 and 6 not done
    old_journal.rewrite(case .. "/st/o/journal.log", "setup", { 5, 6 })
    assert.is_nil(journal.scan(case .. "/st/o/journal.log").setup)
    s:reset()
    -- as before: the registry from the configuration given to the resume
    assert.are.equal(0, (bulk(case, "resume o -c withreg.json")))
    assert.are.equal(2, #outbox())
    -- and from then on the journal records what that resume used
    local rec = journal.scan(case .. "/st/o/journal.log").setup
    assert.are.equal(case .. "/reg.json", rec.templates.path)
  end)

  describe("through the Lua API", function()
    local function client(templates)
      local c = s.credentials.apiplex
      return assert(alimtalk.new({ provider = "apiplex", templates = templates,
        retry = { max_attempts = 1 },
        apiplex = { base_url = s.http_url, user_id = c.user_id, secret_key = c.secret_key,
                    sender_key = c.sender_key, sender_number = "0212345678", dedupe_msg_key = true } }))
    end
    -- a campaign run through `cl` that stops (an error) after its first chunk
    local function stopped_early(cl, id, case, extra)
      local o = { client = cl, campaign = id, state_dir = case, input = case .. "/l.csv",
                  template = "welcome", fsync = false, chunk = 10,
                  on_chunk = function() error("stop after the first chunk") end }
      for k, v in pairs(extra or {}) do o[k] = v end
      assert.is_false(pcall(campaign.run, o))
      collectgarbage() -- closes the journal the error left open
    end

    it("restores the registry it recorded, refuses it changed, and takes it given again", function()
      local case = new_case()
      csv(case .. "/l.csv", 30)
      local bare = client(nil)
      stopped_early(bare, "l1", case, { templates = case .. "/reg.json" })
      assert.is_nil(bare.registry)   -- the client's own (none) is put back
      -- the registry changes: refused, with nothing written
      local jpath = case .. "/l1/journal.log"
      local reg = cjson.decode(read_file(case .. "/reg.json"))
      reg.templates[1].language = "en"
      write(case .. "/reg.json", cjson.encode(reg))
      local before = read_file(jpath)
      local sum, err = campaign.run({ client = bare, campaign = "l1", state_dir = case, fsync = false })
      assert.is_nil(sum)
      assert.are.same({ "SETUP_CHANGED", "templates" }, { err.code, err.field })
      assert.matches(case .. "/reg.json", err.message, 1, true)
      assert.are.equal(before, read_file(jpath))
      sum = assert(campaign.run({ client = bare, campaign = "l1", state_dir = case, fsync = false,
                                  templates = case .. "/reg.json" }))
      assert.are.equal(30, sum.counts.accepted)
      assert.are.equal(0, sum.counts.invalid)
      bare:close()
    end)

    it("restores a file registry for a client without one, and refuses a client with another", function()
      local case = new_case()
      csv(case .. "/l.csv", 30)
      local with = client(case .. "/reg.json")
      stopped_early(with, "l2", case, { templates = case .. "/reg.json" })
      -- a client whose registry holds other content (a table, no path)
      local reg = cjson.decode(read_file(case .. "/reg.json"))
      table.remove(reg.templates)
      local other = client(reg)
      local sum, err = campaign.run({ client = other, campaign = "l2", state_dir = case, fsync = false })
      other:close()
      assert.is_nil(sum)
      assert.are.equal("SETUP_CHANGED", err.code)
      assert.matches("the client's has other content", err.message, 1, true)
      -- a client without a registry: the recorded file is loaded
      local bare = client(nil)
      local none, nerr = campaign.resume({ client = bare, campaign = "nosuch", state_dir = case })
      assert.is_nil(none)
      assert.are.equal("NO_CAMPAIGN", nerr.code)
      sum = assert(campaign.resume({ client = bare, campaign = "l2", state_dir = case, fsync = false }))
      bare:close()
      with:close()
      assert.are.equal(30, sum.counts.accepted)
      for i = 1, 30 do assert.are.equal(1, #assert(s:outbox({ to = phone(i):gsub("%-", "") }))) end
    end)

    it("stops when the client refuses rows before sending for its setup, not the rows'", function()
      -- a client that refuses every message before sending with a configuration error
      local case = new_case()
      csv(case .. "/l.csv", 30)
      local real = client(case .. "/reg.json")
      local broken = setmetatable({ send_batch = function(_, msgs)
        local out = {}
        for i = 1, #msgs do
          out[i] = { status = "rejected", attempts = 0, error = require("alimtalk.errors").new{
            code = "BAD_OPTION", field = "apiplex.sender_key", message = "sender_key is not set" } }
        end
        return out
      end }, { __index = real })
      local sum = assert(campaign.run({ client = broken, campaign = "l4", state_dir = case, fsync = false,
                                        input = case .. "/l.csv", template = "welcome", chunk = 10 }))
      assert.are.equal("BAD_OPTION", sum.configuration_error.code)
      assert.matches("^configuration: sender_key is not set", sum.stopped)
      assert.are.same({ 0, 0, 10, 20 }, { sum.counts.accepted, sum.counts.invalid, sum.counts.not_sent,
                                          sum.counts.unattempted })
      assert.are.same({}, read_lines(case .. "/l4/rejects.jsonl"))
      sum = assert(campaign.run({ client = real, campaign = "l4", state_dir = case, fsync = false }))
      real:close()
      assert.is_nil(sum.stopped)
      assert.are.same({ 30, 0, 0 }, { sum.counts.accepted, sum.counts.invalid, sum.counts.not_sent })
      for i = 1, 30 do assert.are.equal(1, #assert(s:outbox({ to = phone(i):gsub("%-", "") }))) end
    end)

    it("refuses to resume without a registry given as a table, which it cannot reload", function()
      local case = new_case()
      csv(case .. "/l.csv", 30)
      local tbl = client(cjson.decode(read_file(case .. "/reg.json")))
      stopped_early(tbl, "l3", case)
      tbl:close()
      local bare = client(nil)
      local sum, err = campaign.run({ client = bare, campaign = "l3", state_dir = case, fsync = false })
      bare:close()
      assert.is_nil(sum)
      assert.are.equal("SETUP_CHANGED", err.code)
      assert.matches("the client does not have", err.message, 1, true)
    end)
  end)
end)

describe("bulk setup: which failures are the setup's", function()
  it("tells a setup failure from a row's own fault in one place", function()
    local tpl = { to = "01012345678", template = "welcome", vars = { name = "a" } }
    local reg = {}
    -- no registry for a template with variables: every row alike
    assert.are.equal("configuration", bsetup.kind({ code = "REQUIRED", field = "content" }, tpl, {}))
    assert.are.equal("row", bsetup.kind({ code = "REQUIRED", field = "to" }, tpl, { registry = reg }))
    assert.are.equal("configuration", bsetup.kind({ code = "BAD_OPTION" }, tpl, { registry = reg }))
    assert.are.equal("configuration", bsetup.kind({ code = "AUTH" }, nil, { registry = reg }))
    -- an unknown template: the setup's when it is the campaign's --template, else the row's
    local nf = { code = "TEMPLATE_NOT_FOUND", field = "template" }
    assert.are.equal("configuration", bsetup.kind(nf, tpl, { registry = reg, default_template = true }))
    assert.are.equal("row", bsetup.kind(nf, tpl, { registry = reg, default_template = false }))
    -- any of several violations
    assert.are.equal("configuration", bsetup.kind({ code = "TOO_LONG", errors = { { code = "TOO_LONG" },
      { code = "NO_REGISTRY" } } }, tpl, { registry = reg }))
    assert.are.equal("row", bsetup.kind({ code = "BAD_PHONE" }, tpl, { registry = reg }))
  end)

  it("digests a registry's content the same from its file and from the loaded registry", function()
    local path = sandbox.templates
    local reg = assert(require("alimtalk.registry").load(path))
    assert.are.equal(bsetup.file_digest(path, "templates"), bsetup.registry_digest(reg))
    -- reformatting is no change; a changed value is
    local data = cjson.decode(read_file(path))
    local tmp = os.tmpname()
    write(tmp, cjson.encode(data))
    assert.are.equal(bsetup.file_digest(path, "templates"), bsetup.file_digest(tmp, "templates"))
    data.templates[1].body = data.templates[1].body .. "!"
    write(tmp, cjson.encode(data))
    assert.are_not.equal(bsetup.file_digest(path, "templates"), bsetup.file_digest(tmp, "templates"))
    os.remove(tmp)
    local d, why = bsetup.file_digest(tmp, "templates")
    assert.is_nil(d)
    assert.matches("^is gone", why)
  end)
end)
