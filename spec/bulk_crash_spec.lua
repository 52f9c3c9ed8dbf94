-- The crash test of issue 6: a 20,000-message campaign run by the real `alimtalk bulk` command
-- against the sandbox server (API PLEX, which drops duplicate msg_keys), killed with SIGKILL
-- at 20 random points and resumed each time. The server's attempt log must show every valid
-- row accepted exactly once, and the rejects file must list every invalid row.
local sandbox = require("support.sandbox")
local campaign = require("alimtalk.bulk.campaign")
local cjson = require("cjson")
local fs = require("support.fs")

local ROOT = sandbox.root
local RUNTIME = fs.RUNTIME

local sh, read_lines = fs.sh, fs.read_lines

local ROWS = 20000

describe("bulk campaign killed with SIGKILL", function()
  local s, dir

  setup(function()
    s = sandbox.start({ delivery_delay = 0.05 })
    dir = fs.tmpdir("alimtalk-crash")
  end)

  teardown(function()
    local errs = sandbox.stop(s)
    fs.rmtree(dir)
    assert.are.same({}, errs)
  end)

  it("resumes 20 times with nothing lost and nothing sent twice", function()
    local id = "crash-" .. RUNTIME:gsub("%.", "") .. "-" .. math.random(1e6)
    -- Invalid rows: a phone that is no mobile number (pre-flight validation) and a row with
    -- the wrong number of fields (the CSV reader). Everything else is valid.
    local expect_invalid = {}
    local f = assert(io.open(dir .. "/in.csv", "wb"))
    f:write("to,name,date\n")
    for i = 1, ROWS do
      if i % 101 == 0 then
        f:write("02-123,", "고객", i, ",2026-11-21\n")
        expect_invalid[i] = "BAD_PHONE"
      elseif i % 499 == 0 then
        f:write(string.format("010-%04d-%04d,\"고객, %d\",2026-11-21,extra\n",
                              math.floor(i / 10000) % 10000, i % 10000, i))
        expect_invalid[i] = "BAD_ROW"
      else
        f:write(string.format("010-%04d-%04d,\"고객 \"\"%d\"\"\",2026-11-21\n",
                              1000 + math.floor(i / 10000), i % 10000, i))
      end
    end
    f:close()
    local cfg = assert(io.open(dir .. "/alimtalk.json", "wb"))
    cfg:write(cjson.encode({
      provider = "apiplex", templates = sandbox.templates,
      apiplex = { base_url = s.http_url, user_id = s.credentials.apiplex.user_id or "sandbox",
                  sender_key = s.credentials.apiplex.sender_key, sender_number = "0212345678",
                  -- the sandbox drops a reused msg_key, as the account would confirm
                  dedupe_msg_key = true,
                  secret_key_env = "CRASH_APIPLEX_SECRET" },
    }))
    cfg:close()
    local env = "CRASH_APIPLEX_SECRET='" .. s.credentials.apiplex.secret_key .. "' "
    local base = ("cd '%s' && exec env %s %s '%s/bin/alimtalk' bulk"):format(dir, env, RUNTIME, ROOT)
    local journal = dir .. "/state/" .. id .. "/journal.log"
    local kills, tries = 0, 0
    while kills < 20 and tries < 80 do
      tries = tries + 1
      local cmd
      if io.open(journal, "rb") then
        cmd = ("%s resume %s --state-dir state --progress none --chunk 200"):format(base, id)
      else
        cmd = ("%s run in.csv --campaign %s --template welcome --state-dir state --progress none --chunk 200")
          :format(base, id)
      end
      -- kill at a random moment: 30..250 ms after the start (a run takes a few seconds)
      local delay = (30 + math.random(0, 220)) / 1000
      local script = ("(%s) >>'%s/log' 2>&1 & pid=$!; sleep %.3f; if kill -9 $pid 2>/dev/null; then "
        .. "wait $pid; exit 0; else wait $pid; exit 1; fi"):format(cmd, dir, delay)
      local quoted = "'" .. script:gsub("'", "'\\''") .. "'"
      if sh("bash -c " .. quoted .. " 2>/dev/null") then kills = kills + 1 end
    end
    assert.are.equal(20, kills, "the campaign finished before 20 kills landed")
    -- and the last resume, to the end
    local rc = sh(("%s resume %s --state-dir state --progress none --json > '%s/summary.out' 2>>'%s/log'")
      :format(base, id, dir, dir))
    assert.is_false(rc) -- exit 1: some rows were invalid
    local summary = cjson.decode(read_lines(dir .. "/summary.out")[1])
    local n_invalid = 0
    for _ in pairs(expect_invalid) do n_invalid = n_invalid + 1 end
    assert.are.equal(ROWS - n_invalid, summary.counts.accepted)
    assert.are.equal(n_invalid, summary.counts.invalid)
    assert.are.equal(0, summary.counts.uncertain)
    assert.are.equal(0, summary.counts.not_sent)

    -- The server's attempt log: each valid row's serial accepted (C100) exactly once.
    local accepted, dup_answers = {}, 0
    -- the whole log at once is larger than the admin client's default 1 MiB answer limit
    local http = require("alimtalk.core").http_client({ max_response = 256 * 1048576, timeout = 60 })
    local resp = assert(http:request({ method = "GET", url = s.http_url .. "/_sandbox/attempts" }))
    http:close()
    assert.are.equal(200, resp.status)
    for _, a in ipairs(cjson.decode(resp.body)) do
      if a.provider ~= "apiplex" then a.codes = {} end
      for k, code in ipairs(a.codes or {}) do
        local serial = a.serials[k]
        if code == "C100" then accepted[serial] = (accepted[serial] or 0) + 1
        else dup_answers = dup_answers + 1 end
      end
    end
    local missing, twice = 0, 0
    for i = 1, ROWS do
      local serial = campaign.serial(id, "row:" .. i)
      local n = accepted[serial] or 0
      if expect_invalid[i] then
        assert.are.equal(0, n, "invalid row " .. i .. " reached the provider")
      elseif n == 0 then missing = missing + 1
      elseif n > 1 then twice = twice + 1 end
      accepted[serial] = nil
    end
    assert.are.equal(0, missing, "valid rows never accepted")
    assert.are.equal(0, twice, "valid rows accepted more than once")
    assert.are.same({}, accepted) -- nothing accepted that is not a row of this campaign

    -- The rejects file: every invalid row once, with its reason.
    local seen = {}
    for _, l in ipairs(read_lines(dir .. "/state/" .. id .. "/rejects.jsonl")) do
      local r = cjson.decode(l)
      assert.is_nil(seen[r.row], "row " .. r.row .. " listed twice")
      seen[r.row] = r.error.code
    end
    assert.are.same(expect_invalid, seen)
    -- accepted.jsonl lists each accepted row once
    assert.are.equal(ROWS - n_invalid, #read_lines(dir .. "/state/" .. id .. "/accepted.jsonl"))
  end)
end)
