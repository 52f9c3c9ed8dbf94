-- The real `bin/alimtalk` as a subprocess against the sandbox server: every command, human
-- and --json output, exit codes (0 ok, 1 failed, 2 bad arguments, 3 uncertain/pending) and
-- one-line errors for bad arguments.
local sandbox = require("support.sandbox")
local cjson = require("cjson")
local fs = require("support.fs")

local ROOT = sandbox.root
local RUNTIME = fs.RUNTIME

local read_file, write, q = fs.read_file, fs.write, fs.q

local dir, env_prefix

-- Run `alimtalk ARGS...` in `dir`; returns exit code, stdout, stderr.
local function run(args, opts)
  opts = opts or {}
  local parts = {}
  for i, a in ipairs(args) do parts[i] = q(a) end
  local cmd = ("cd %s && %s %s %s/bin/alimtalk %s < %s > out.txt 2> err.txt; echo $? > rc.txt")
    :format(q(dir), opts.env or env_prefix, RUNTIME, q(ROOT), table.concat(parts, " "),
            q(opts.stdin or "/dev/null"))
  os.execute(cmd)
  return tonumber(read_file(dir .. "/rc.txt")), read_file(dir .. "/out.txt"), read_file(dir .. "/err.txt")
end

-- `alimtalk ARGS...` refuses with exit 2, nothing on stdout and one line on stderr holding `want`.
local function assert_usage_error(args, want)
  local rc, out, err = run(args)
  assert.are.equal(2, rc, table.concat(args, " ") .. ": " .. err)
  assert.are.equal("", out)
  assert.matches(want, err, 1, true)
  local _, lines = err:gsub("\n", "")
  assert.are.equal(1, lines, err)
end

local function json(out) return cjson.decode((out:gsub("\n$", ""))) end

describe("alimtalk command line", function()
  local s

  setup(function()
    s = sandbox.start({ delivery_delay = 0.1 })
    dir = fs.tmpdir("alimtalk-cli")
    local c = s.credentials
    write(dir .. "/alimtalk.json", cjson.encode({
      provider = "sens", templates = sandbox.templates,
      sens = { base_url = s.http_url, access_key = c.sens.access_key, service_id = c.sens.service_id,
               plus_friend_id = c.sens.plus_friend_id },
      apiplex = { base_url = s.http_url, user_id = c.apiplex.user_id, sender_key = c.apiplex.sender_key,
                  sender_number = "0212345678", dedupe_msg_key = true },
    }))
    env_prefix = ("env ALIMTALK_SENS_SECRET_KEY=%s ALIMTALK_APIPLEX_SECRET_KEY=%s ALIMTALK_OUTBOX=%s")
      :format(q(c.sens.secret_key), q(c.apiplex.secret_key), q(dir .. "/outbox.jsonl"))
  end)

  teardown(function()
    local errs = sandbox.stop(s)
    fs.rmtree(dir)
    assert.are.same({}, errs)
  end)

  it("prints help for the program and for every command, exit 0", function()
    local rc, out = run({ "--help" })
    assert.are.equal(0, rc)
    assert.matches("usage: alimtalk <command>", out)
    for _, cmd in ipairs({ "send", "bulk", "render", "validate", "templates", "status", "webhook" }) do
      rc, out = run({ cmd, "--help" })
      assert.are.equal(0, rc, cmd)
      assert.matches("usage: alimtalk " .. cmd, out, 1, true)
      assert.matches("Exit status", out, 1, true)
    end
  end)

  it("answers bad arguments with one line on stderr and exit 2", function()
    local cases = {
      { { "send", "--bogus" }, "alimtalk send: unknown option '--bogus'" },
      { { "send", "--to" }, "alimtalk send: option '--to' needs a value" },
      { { "send", "--to", "010-1234-5678" }, "alimtalk send: give --template" },
      { { "bulk", "run", "x.csv", "--campaign", "c", "--rate", "fast" }, "option '--rate' needs a number" },
      { { "bulk", "explode" }, "unknown subcommand 'explode'" },
      { { "bulk", "run", "missing.csv", "--campaign", "c" }, "cannot open input missing.csv" },
      { { "bulk", "run", "x.csv", "--campaign", "c", "--progress", "loud" }, "must be one of auto, bar" },
      { { "render" }, "give --template NAME or a FILE" },
      { { "templates" }, "give a subcommand: list or fetch" },
      { { "status" }, "give at least one id" },
      { { "webhook", "verify", "--provider", "nope" }, "--provider must be sinch, apiplex or alcmeon" },
      { { "send", "--to", "1", "--content", "x", "-c", "nonexistent.json" }, "cannot read configuration" },
      { { "frobnicate" }, "unknown command 'frobnicate'" },
      -- -p where it would mean nothing is refused, not ignored (docs/cli.md's table)
      { { "render", "-p", "sens", "--template", "welcome" }, "alimtalk render: unknown option '-p'" },
      -- a variable given twice is refused, naming it, instead of silently keeping the last
      { { "send", "--to", "010-1234-5678", "--template", "welcome", "--var", "date=1", "--var", "name=a",
          "--var", "name=b" }, "alimtalk send: --var name is given twice" },
      { { "render", "--template", "welcome", "--var", "name=a", "--var", "name=b" },
        "alimtalk render: --var name is given twice" },
      { { "validate", "--to", "010-1234-5678", "--template", "welcome", "--var", "date=a",
          "--var", "date=a" },
        "alimtalk validate: --var date is given twice" },
    }
    for _, c in ipairs(cases) do
      assert_usage_error(c[1], c[2])
    end
  end)

  it("send: accepted through SENS (exit 0), --json result, invalid input (exit 1)", function()
    local rc, out, err = run({ "send", "--to", "010-3000-0001", "--template", "welcome",
                               "--var", "name=홍길동", "--var", "date=2026-11-21", "-v" })
    assert.are.equal(0, rc, err)
    assert.matches("^accepted via sens request_id=%S+ message_id=%S+ code=A000", out)
    assert.matches("route: provider=sens decision=send status=accepted", out, 1, true)
    rc, out = run({ "send", "--to", "010-3000-0002", "--template", "welcome", "--var", "name=김",
                    "--var", "date=2026-11-21", "--json" })
    assert.are.equal(0, rc)
    local r = json(out)
    assert.are.equal("accepted", r.status)
    assert.are.equal("sens", r.provider)
    assert.is_string(r.ids.message_id)
    local box = s:outbox({ to = "01030000002" })
    assert.are.equal("김님, 회원가입을 환영합니다.\n가입일: 2026-11-21", box[1].text)
    -- a missing variable: nothing sent, the field and the reason, exit 1
    rc, out, err = run({ "send", "--to", "010-3000-0003", "--template", "welcome", "--var", "name=x" })
    assert.are.equal(1, rc)
    assert.are.equal("", out)
    assert.matches("alimtalk send: invalid: ", err, 1, true)
    assert.matches("nothing was sent", err, 1, true)
    assert.matches("vars.date", err, 1, true)
    assert.are.equal(0, #s:outbox({ to = "01030000003" }))
    -- --json for the refusal too
    rc, out = run({ "send", "--to", "12", "--template", "welcome", "--var", "name=x", "--var", "date=y",
                    "--json" })
    assert.are.equal(1, rc)
    r = json(out)
    assert.are.equal("rejected", r.status)
    assert.are.equal("BAD_PHONE", r.error.code)
    assert.are.equal("to", r.error.field)
  end)

  it("send, render, validate: --format NAME=FORMATTER formats a variable; a refusal sends nothing", function()
    local rc, out, err = run({ "send", "--to", "010-3000-0011", "--template", "welcome",
      "--var", "name=홍길동", "--format", "name=mask_name", "--var", "date=2026-12-07T06:05:00Z",
      "--format", "date=datetime", "--json" })
    assert.are.equal(0, rc, err)
    assert.are.equal("accepted", json(out).status)
    local box = s:outbox({ to = "01030000011" })
    assert.are.equal("홍*동님, 회원가입을 환영합니다.\n가입일: 2026년 12월 7일 (월) 오후 3:05", box[1].text)
    rc, out = run({ "render", "--template", "welcome", "--var", "name=John Smith",
      "--format", "name=mask_name", "--var", "date=@1796623500", "--format", "date=date:%Y.%m.%d" })
    assert.are.equal(0, rc)
    assert.are.equal("J*** S****님, 회원가입을 환영합니다.\n가입일: 2026.12.07\n", out)
    rc, out = run({ "render", "--template", "welcome", "--var", "name=가나다라마바", "--format", "name=cut:4",
      "--var", "date=39000", "--format", "date=won" })
    assert.are.equal(0, rc)
    assert.are.equal("가나다…님, 회원가입을 환영합니다.\n가입일: 39,000원\n", out)
    rc, out = run({ "validate", "--to", "010-1234-5678", "--template", "welcome", "--var", "name=a",
      "--var", "date=2026-12-07", "--format", "date=date" })
    assert.are.equal(0, rc)
    assert.are.equal("ok\n", out)
    -- refused: exit 2, the variable and the reason on one line, nothing sent
    local cases = {
      { { "send", "--to", "010-3000-0012", "--template", "welcome", "--var", "name=a",
          "--var", "date=39000.5", "--format", "date=won" },
        "alimtalk send: --format date=won: vars.date \"39000.5\" has a fraction, and won has no minor unit" },
      { { "send", "--to", "010-3000-0012", "--template", "welcome", "--var", "name=a", "--var", "date=1",
          "--format", "date=wonn" }, "alimtalk send: --format date=wonn: unknown formatter 'wonn'" },
      { { "send", "--to", "010-3000-0012", "--template", "welcome", "--var", "name=a", "--var", "date=내일",
          "--format", "date=date" }, "alimtalk send: --format date=date: vars.date \"내일\" is not a date" },
      { { "send", "--to", "010-3000-0012", "--template", "welcome", "--var", "name=a", "--var", "date=1",
          "--format", "name=mask_phone" },
        "--format name=mask_phone: vars.name \"a\" is not a Korean mobile" },
      { { "send", "--to", "010-3000-0012", "--template", "welcome", "--var", "name=a", "--var", "date=1",
          "--format", "amount=won" }, "alimtalk send: --format amount=won: there is no variable amount" },
      { { "send", "--to", "010-3000-0012", "--template", "welcome", "--var", "name=a", "--var", "date=1",
          "--format", "date=cut:x" }, "alimtalk send: --format date=cut:x: formatter cut needs a limit" },
      { { "send", "--to", "010-3000-0012", "--template", "welcome", "--var", "name=a", "--var", "date=1",
          "--format", "date=won", "--format", "date=number" }, "--format date is given twice" },
      { { "render", "--template", "welcome", "--format", "xml" },
        "--format needs csv, jsonl or NAME=FORMATTER" },
      { { "render", "r.csv", "--format", "name=won" },
        "--format NAME=FORMATTER goes with --var, not a FILE" },
      { { "validate", "--to", "010-1234-5678", "--template", "welcome", "--var", "name=a", "--var", "date=x",
          "--format", "date=time" }, "alimtalk validate: --format date=time: vars.date \"x\" is not a date" },
    }
    for _, c in ipairs(cases) do
      assert_usage_error(c[1], c[2])
    end
    assert.are.equal(0, #s:outbox({ to = "01030000012" }))
  end)

  it("send: a whole message from stdin, through another provider", function()
    write(dir .. "/msg.json", cjson.encode({ to = "010-3000-0004", template = "welcome", id = "cli-msg-4",
                                              vars = { name = "이", date = "2026-11-21" } }))
    local rc, out, err = run({ "send", "--message", "-", "--provider", "apiplex", "--json" },
                             { stdin = dir .. "/msg.json" })
    assert.are.equal(0, rc, err)
    local r = json(out)
    assert.are.equal("apiplex", r.provider)
    assert.are.equal("cli-msg-4", r.ids.msg_key)
    -- the same serial again: the provider drops it, the command says it was already accepted
    rc, out = run({ "send", "--message", "-", "--provider", "apiplex" }, { stdin = dir .. "/msg.json" })
    assert.are.equal(0, rc)
    assert.matches("duplicate serial", out, 1, true)
    assert.are.equal(1, #s:outbox({ to = "01030000004" }))
  end)

  it("send: with no configuration at all, the embedded sandbox", function()
    local rc, _, err = run({ "send", "--to", "010-3000-0005", "--content", "안녕하세요", "--template", "X",
                             "--json" }, { env = "env ALIMTALK_OUTBOX=" .. q(dir .. "/embedded.jsonl")
                                                 .. " ALIMTALK_CONFIG=/dev/null/none" })
    local out
    -- an unreadable configuration is a configuration error
    assert.are.equal(2, rc, err)
    os.execute("mkdir -p " .. q(dir .. "/empty"))
    local cmd_dir = dir
    dir = dir .. "/empty"
    rc, out, err = run({ "send", "--to", "010-3000-0005", "--content", "안녕하세요", "--template", "X",
                         "--json" }, { env = "env ALIMTALK_OUTBOX=" .. q(cmd_dir .. "/embedded.jsonl") })
    dir = cmd_dir
    assert.are.equal(0, rc, err)
    assert.are.equal("sandbox", json(out).provider)
    assert.matches("안녕하세요", read_file(dir .. "/embedded.jsonl"), 1, true)
  end)

  it("render: a template with variables, a file of messages, a missing variable", function()
    local rc, out = run({ "render", "--template", "welcome", "--var", "name=홍길동", "--var", "date=내일" })
    assert.are.equal(0, rc)
    assert.are.equal("홍길동님, 회원가입을 환영합니다.\n가입일: 내일\n", out)
    rc, out = run({ "render", "--template", "welcome", "--var", "name=홍길동", "--json" })
    assert.are.equal(1, rc)
    local r = json(out)
    assert.is_false(r.ok)
    assert.are.equal("MISSING_VARIABLE", r.error.code)
    assert.are.equal("vars.date", r.error.field)
    write(dir .. "/r.csv", "to,name,date\n010-1,가,1일\n010-2,나,2일\n")
    rc, out = run({ "render", "r.csv", "--template", "welcome" })
    assert.are.equal(0, rc)
    assert.matches("--- row 1 to 010-1\n가님, 회원가입을 환영합니다.\n가입일: 1일\n--- row 2", out, 1, true)
  end)

  it("render: templates with buttons and a title (a variable used only in a button)", function()
    local reg = ROOT .. "/examples/templates.json"
    local rc, out, err = run({ "render", "--templates", reg, "--template", "payment_done",
      "--var", "name=홍길동", "--var", "amount=12,000", "--var", "paid_at=11월 21일",
      "--var", "receipt=R-77" })
    assert.are.equal(0, rc, err)
    assert.matches("[title] 12,000원\n", out, 1, true)
    assert.matches("홍길동님, 결제가 완료되었습니다.", out, 1, true)
    assert.matches("[button WL] 영수증 보기 https://shop.example/receipts/R-77\n", out, 1, true)
    rc, out = run({ "render", "--templates", reg, "--template", "order_shipped", "--json",
      "--var", "name=가", "--var", "order=O-1", "--var", "courier=CJ", "--var", "invoice=123" })
    assert.are.equal(0, rc)
    local r = json(out)
    assert.are.equal("DS", r.buttons[1].type)
    assert.are.equal("https://shop.example/orders/O-1", r.buttons[2].url_mobile)
    -- a variable no field uses is still refused, and a button's missing variable is named
    rc, out = run({ "render", "--templates", reg, "--template", "payment_done", "--json",
      "--var", "name=a", "--var", "amount=1", "--var", "paid_at=b", "--var", "recipt=x" })
    assert.are.equal(1, rc)
    r = json(out)
    local codes = {}
    for _, e in ipairs(r.error.errors) do codes[e.field] = e.code end
    assert.are.same({ ["vars.receipt"] = "MISSING_VARIABLE", ["vars.recipt"] = "UNKNOWN_VARIABLE" }, codes)
  end)

  it("validate: every violation with its field and provider code", function()
    local rc, out = run({ "validate", "--to", "010-1234-5678", "--template", "welcome",
                          "--var", "name=a", "--var", "date=b" })
    assert.are.equal(0, rc)
    assert.are.equal("ok\n", out)
    write(dir .. "/v.jsonl", table.concat({
      cjson.encode({ to = "010-1234-5678", template = "welcome", vars = { name = "a", date = "b" } }),
      cjson.encode({ to = "12", template = "welcome", vars = { name = "a" } }),
      "not json",
    }, "\n") .. "\n")
    rc, out = run({ "validate", "v.jsonl", "--provider", "sens" })
    assert.are.equal(1, rc)
    assert.matches("1: ok", out, 1, true)
    assert.matches("2: to: BAD_PHONE (provider code 3008)", out, 1, true)
    assert.matches("vars.date", out, 1, true)
    assert.matches("3: BAD_ROW", out, 1, true)
    assert.matches("3 message(s), 1 valid, 2 invalid (sens rules)", out, 1, true)
    rc, out = run({ "validate", "v.jsonl", "--json", "--provider", "apiplex" })
    assert.are.equal(1, rc)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = cjson.decode(l) end
    assert.is_true(lines[1].ok)
    assert.is_false(lines[2].ok)
    assert.are.equal("apiplex", lines[2].provider)
    local codes = {}
    for _, e in ipairs(lines[2].errors) do codes[e.code] = e.provider_code or true end
    assert.are.equal("G141", codes.BAD_PHONE)
  end)

  it("validate -p bizmessage: the serial comes as bulk run and send give it", function()
    local c = s.credentials.bizmessage
    write(dir .. "/bz.json", cjson.encode({ provider = "bizmessage", templates = sandbox.templates,
      bizmessage = { base_url = s.http_url, client_id = c.client_id, sender_key = c.sender_key,
                     sender_no = c.sender_no } }))
    local env = env_prefix .. " ALIMTALK_BIZMESSAGE_CLIENT_SECRET=" .. q(c.client_secret)
    -- one message: --id, as for send; without it the missing serial says how to give it
    local rc, out, err = run({ "validate", "-c", "bz.json", "--to", "010-3500-0001", "--template", "welcome",
                               "--var", "name=a", "--var", "date=b", "--id", "v-1" }, { env = env })
    assert.are.equal(0, rc, out .. err)
    assert.are.equal("ok\n", out)
    rc, out = run({ "validate", "-c", "bz.json", "--to", "010-3500-0001", "--template", "welcome",
                    "--var", "name=a", "--var", "date=b" }, { env = env })
    assert.are.equal(1, rc)
    assert.matches("id: REQUIRED .* %(%-%-id SERIAL%)", out)
    -- a file: the serials bulk run makes (row numbers here), so the same CSV validates clean ...
    write(dir .. "/bz.csv", "to,name,date\n010-3500-0002,가,1일\n010-3500-0003,나,2일\n")
    rc, out, err = run({ "validate", "-c", "bz.json", "bz.csv", "--template", "welcome" }, { env = env })
    assert.are.equal(0, rc, out .. err)
    assert.matches("2 message(s), 2 valid, 0 invalid (bizmessage rules)", out, 1, true)
    -- ... and is sent whole by bulk run
    rc, out, err = run({ "bulk", "run", "bz.csv", "--campaign", "cli-bz", "--template", "welcome",
                         "-c", "bz.json", "--progress", "none", "--json" }, { env = env })
    assert.are.equal(0, rc, out .. err)
    assert.are.equal(2, json(out).counts.accepted)
    assert.are.equal(1, #s:outbox({ provider = "bizmessage", to = "821035000003" }))
    -- JSON lines keep their own id; --key-column makes the serial from that column, which is a
    -- variable only where the template uses it, and an empty key is that row's violation
    write(dir .. "/bz.jsonl", cjson.encode({ to = "010-3500-0004", template = "welcome", id = "own-1",
                                             vars = { name = "a", date = "b" } }) .. "\n")
    rc, out, err = run({ "validate", "-c", "bz.json", "bz.jsonl" }, { env = env })
    assert.are.equal(0, rc, out .. err)
    write(dir .. "/bzk.csv", "to,customer_id,name,date\n010-3500-0005,C-1,가,1일\n010-3500-0006,,나,2일\n")
    rc, out = run({ "validate", "-c", "bz.json", "bzk.csv", "--template", "welcome",
                    "--key-column", "customer_id", "--json" }, { env = env })
    assert.are.equal(1, rc)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = cjson.decode(l) end
    assert.are.same({ row = 1, ok = true, provider = "bizmessage" }, lines[1])
    assert.are.equal(2, lines[2].row)
    assert.are.equal("customer_id", lines[2].errors[1].field)
    assert.are.equal(1, #lines[2].errors)
    -- a key repeated anywhere in the file: the later rows would share a serial, bulk run
    -- refuses them, and so does validate
    write(dir .. "/bzd.csv", "to,customer_id,name,date\n010-3500-0007,C-1,가,1일\n010-3500-0008,C-2,나,2일\n"
      .. "010-3500-0009,C-1,다,3일\n")
    rc, out = run({ "validate", "-c", "bz.json", "bzd.csv", "--template", "welcome",
                    "--key-column", "customer_id" }, { env = env })
    assert.are.equal(1, rc)
    assert.matches("1: ok\n2: ok\n3: customer_id: DUPLICATE_ID the key column 'customer_id' value 'C-1' "
      .. "is already used by row 1", out, 1, true)
    -- a key column the file lacks is refused up front
    rc, out, err = run({ "validate", "-c", "bz.json", "bzk.csv", "--template", "welcome",
                         "--key-column", "nope" }, { env = env })
    assert.are.equal(2, rc)
    assert.are.equal("", out)
    assert.matches("bzk.csv has no column 'nope' (--key-column)", err, 1, true)
  end)

  it("render FILE and validate FILE without a template to use are refused up front", function()
    write(dir .. "/nt2.csv", "to,name,date\n010-3500-0010,가,1일\n")
    for _, cmd in ipairs({ "render", "validate" }) do
      assert_usage_error({ cmd, "nt2.csv" }, "alimtalk " .. cmd .. ": no template: give --template NAME "
        .. "(nt2.csv has no 'template' column)")
    end
    -- render --json names the row by its number, as validate --json does
    local rc, out = run({ "render", "nt2.csv", "--template", "welcome", "--json" })
    assert.are.equal(0, rc)
    assert.are.equal(1, json(out).row)
    rc, out = run({ "render", "nt2.csv", "--template", "login_code", "--json" })
    assert.are.equal(1, rc)
    assert.are.equal(1, json(out).row)
    assert.is_false(json(out).ok)
  end)

  it("templates: list the registry, fetch SENS templates into a registry file", function()
    local rc, out = run({ "templates", "list" })
    assert.are.equal(0, rc)
    assert.matches("welcome%s+basic%s+vars: name,date%s+codes: apiplex=T0002 bizmessage=TPL_0002 "
                   .. "sens=WELCOME", out)
    rc, out = run({ "templates", "list", "--json" })
    assert.are.equal(0, rc)
    local names = {}
    for _, t in ipairs(json(out).templates) do names[t.name] = t end
    assert.are.same({ "name", "date" }, names.welcome.variables)
    rc, out = run({ "templates", "fetch", "--templates", "fetched.json", "--json" })
    assert.are.equal(0, rc, out)
    local r = json(out)
    assert.is_true(r.fetched > 0)
    local reg = cjson.decode(read_file(dir .. "/fetched.json"))
    local found = false
    for _, t in ipairs(reg.templates) do if t.codes.sens == "WELCOME" then found = true end end
    assert.is_true(found)
    -- the fetched registry is usable as is
    rc, out = run({ "render", "--templates", "fetched.json", "--template", "WELCOME", "--var", "name=x",
                    "--var", "date=y" })
    assert.are.equal(0, rc, out)
    assert.matches("x님, 회원가입을 환영합니다", out, 1, true)
  end)

  it("status: delivery results by message id and by request id", function()
    local rc, out = run({ "send", "--to", "010-3000-0006", "--template", "welcome", "--var", "name=a",
                          "--var", "date=b", "--json" })
    assert.are.equal(0, rc)
    local r = json(out)
    sandbox.wait(function() return s:outbox({ to = "01030000006" })[1].status == "delivered" end, 5)
    local err
    rc, out, err = run({ "status", r.ids.message_id })
    assert.are.equal(0, rc, err)
    assert.matches(r.ids.message_id .. " delivered", out, 1, true)
    rc, out = run({ "status", "--request", r.ids.request_id, "--json" })
    assert.are.equal(0, rc)
    assert.are.equal("delivered", json(out).status)
    rc, out, err = run({ "status", "no-such-message" })
    assert.are.equal("", out)
    assert.are.equal(1, rc)
    assert.matches("no message with id no-such-message at sens", err, 1, true)
    assert.is_nil(err:find(" fail\n", 1, true), err)
  end)

  it("status: a question the provider cannot answer is a bad argument naming who can", function()
    local rc, out, err = run({ "status", "-p", "apiplex", "--request", "R-1" })
    assert.are.equal(2, rc, err)
    assert.are.equal("", out)
    assert.matches("--request (a send request id) works with sens only; apiplex has no request query", err,
                   1, true)
    local _, lines = err:gsub("\n", "")
    assert.are.equal(1, lines, err)
    rc, out, err = run({ "status", "-p", "apiplex", "M-1" })
    assert.are.equal(2, rc, err)
    assert.are.equal("", out)
    assert.matches("apiplex cannot be asked about a message", err, 1, true)
    assert.matches("status works with sens, bizmessage, sandbox", err, 1, true)
  end)

  it("webhook verify: a signed Sinch capture passes, a changed byte or an old one fails", function()
    local body = cjson.encode({ app_id = "SANDBOXAPP", message_delivery_report = {
      message_id = "01CLI", status = "DELIVERED",
      channel_identity = { channel = "KAKAOTALK", identity = "01030000007" } } })
    local ts, nonce = tostring(os.time()), "cli-nonce-1"
    local secret = s.credentials.sinch.webhook_secret
    write(dir .. "/hook.json", body)
    write(dir .. "/hook.headers", table.concat({
      "x-sinch-webhook-signature: " .. sandbox.hmac_b64(secret, body .. "." .. nonce .. "." .. ts),
      "X-Sinch-Webhook-Signature-Timestamp: " .. ts,
      "x-sinch-webhook-signature-nonce: " .. nonce,
      "x-sinch-webhook-signature-algorithm: HmacSHA256", "" }, "\r\n"))
    local env = env_prefix .. " SINCH_WEBHOOK_SECRET=" .. q(secret)
    local rc, out, err = run({ "webhook", "verify", "--provider", "sinch", "--body", "hook.json",
                               "--headers", "hook.headers" }, { env = env })
    assert.are.equal(0, rc, err)
    assert.matches("verified sinch webhook: 1 event", out, 1, true)
    assert.matches("delivered", out, 1, true)
    write(dir .. "/hook2.json", (body:gsub("DELIVERED", "DELIVERRD")))
    rc, out = run({ "webhook", "verify", "--provider", "sinch", "--body", "hook2.json",
                    "--headers", "hook.headers", "--json" }, { env = env })
    assert.are.equal(1, rc)
    assert.are.equal("BAD_SIGNATURE", json(out).error.code)
    rc, out, err = run({ "webhook", "verify", "--provider", "sinch", "--body", "hook.json",
                       "--headers", "hook.headers", "--at", tostring(tonumber(ts) + 400) }, { env = env })
    assert.are.equal("", out)
    assert.are.equal(1, rc)
    assert.matches("STALE_TIMESTAMP timestamp is 400 s old (window 300 s) as of --at", err, 1, true)
    rc, out, err = run({ "webhook", "verify", "--provider", "sinch", "--body", "hook.json",
                         "--headers", "hook.headers", "--at", tostring(tonumber(ts) - 400) }, { env = env })
    assert.are.equal("", out)
    assert.are.equal(1, rc)
    assert.matches("timestamp is 400 s in the future (window 300 s)", err, 1, true)
    -- API PLEX: the echo token
    write(dir .. "/ap.json", cjson.encode({ results = { { msg_key = "k1", code = "0000", desc = "ok",
                                                         echo_to_webhook = "tok-123" } } }))
    rc, out = run({ "webhook", "verify", "--provider", "apiplex", "--body", "ap.json", "--json" },
                  { env = env_prefix .. " APIPLEX_ECHO_TOKEN=tok-123" })
    assert.are.equal(0, rc)
    local r = json(out)
    assert.are.equal("delivered", r.events[1].status)
    assert.are.equal("k1", r.events[1].ids.msg_key)
    rc = run({ "webhook", "verify", "--provider", "apiplex", "--body", "ap.json" },
             { env = env_prefix .. " APIPLEX_ECHO_TOKEN=other" })
    assert.are.equal(1, rc)
  end)

  it("bulk: run, status and resume with summaries and exit codes", function()
    write(dir .. "/b.csv", "phone,name,date\n010-3100-0001,가,1일\n02-1,나,2일\n010-3100-0003,다,3일\n")
    local rc, out, err = run({ "bulk", "run", "b.csv", "--campaign", "cli-b", "--template", "welcome",
                               "--progress", "lines" })
    assert.are.equal(1, rc, err) -- one row invalid
    assert.matches("campaign cli-b finished", out, 1, true)
    assert.matches("accepted +2 .*accepted%.jsonl", out)
    assert.matches("invalid +1 .*rejects%.jsonl", out)
    assert.matches("bulk: 3 rows %(100%%%)", err)
    -- rejects.jsonl: every violation in error.errors, even a single one
    local rej = json(read_file(dir .. "/alimtalk-campaigns/cli-b/rejects.jsonl"))
    assert.are.equal(2, rej.row)
    assert.is_table(rej.error.errors)
    assert.are.equal("BAD_PHONE", rej.error.errors[1].code)
    assert.are.equal("to", rej.error.errors[1].field)
    assert.is_string(rej.error.errors[1].provider_code)
    assert.is_string(rej.error.errors[1].message)
    rc, out = run({ "bulk", "status", "cli-b", "--json" })
    assert.are.equal(1, rc)
    local st = json(out)
    assert.is_true(st.done)
    assert.are.equal(2, st.counts.accepted)
    assert.are.equal(1, st.counts.invalid)
    rc, out, err = run({ "bulk", "run", "b.csv", "--campaign", "cli-b", "--template", "welcome" })
    assert.are.equal("", out)
    assert.are.equal(2, rc)
    assert.matches("already exists", err, 1, true)
    rc, out = run({ "bulk", "resume", "cli-b", "--json" })
    assert.are.equal(1, rc)
    assert.are.equal(2, json(out).counts.accepted)
    assert.are.equal(1, #s:outbox({ to = "01031000001" }))
    write(dir .. "/ok.csv", "to,name,date\n010-3100-0004,라,4일\n")
    rc, out = run({ "bulk", "run", "ok.csv", "--campaign", "cli-ok", "--template", "welcome", "--json",
                    "--no-fsync", "--rate", "5" })
    assert.are.equal(0, rc)
    assert.are.equal(1, json(out).counts.accepted)
    rc = run({ "bulk", "status", "nope" })
    assert.are.equal(2, rc)
  end)

  it("send/validate: --template with --var and no registry configured says so, exit 2", function()
    local c = s.credentials
    write(dir .. "/noreg.json", cjson.encode({ provider = "sens",
      sens = { base_url = s.http_url, access_key = c.sens.access_key, service_id = c.sens.service_id,
               plus_friend_id = c.sens.plus_friend_id } }))
    for _, cmd in ipairs({ "send", "validate" }) do
      local rc, out, err = run({ cmd, "-c", "noreg.json", "--to", "010-3300-0001", "--template", "welcome",
                                 "--var", "name=a", "--var", "date=b" })
      assert.are.equal(2, rc, err)
      assert.are.equal("", out)
      assert.matches("no template registry: pass --templates FILE or set templates in the config",
        err, 1, true)
      assert.is_nil(err:find("REQUIRED", 1, true), err)
      local _, lines = err:gsub("\n", "")
      assert.are.equal(1, lines, err)
    end
    assert.are.equal(0, #s:outbox({ to = "01033000001" }))
    -- a file of messages: the rows say it (and nothing about a missing content)
    write(dir .. "/noreg.jsonl", cjson.encode({ to = "010-3300-0002", template = "welcome",
      vars = { name = "a", date = "b" } }) .. "\n")
    local rc, out = run({ "validate", "-c", "noreg.json", "noreg.jsonl" })
    assert.are.equal(1, rc)
    assert.matches("no template registry", out, 1, true)
    assert.is_nil(out:find("REQUIRED", 1, true), out)
  end)

  it("an unknown --provider is one line and exit 2 for every command taking it", function()
    write(dir .. "/p.jsonl", cjson.encode({ to = "010-1234-5678", template = "welcome" }) .. "\n")
    for _, args in ipairs({
      { "validate", "--provider", "nope", "p.jsonl" },
      { "validate", "--provider", "nope", "--to", "010-1234-5678", "--content", "x" },
      { "send", "--provider", "nope", "--to", "010-1234-5678", "--content", "x", "--template", "T" },
      { "status", "--provider=nope", "x" },
      { "bulk", "run", "p.jsonl", "--campaign", "pp", "--provider", "nope" },
      { "templates", "list", "--provider", "nope" },
    }) do
      local rc, out, err = run(args)
      local what = table.concat(args, " ")
      assert.are.equal(2, rc, what .. ": " .. err)
      assert.are.equal("", out, what)
      assert.matches("unknown provider 'nope'", err, 1, true)
      assert.is_nil(err:find("traceback", 1, true), err)
      local _, lines = err:gsub("\n", "")
      assert.are.equal(1, lines, what .. ": " .. err)
    end
  end)

  it("a missing variable is reported once, naming where it is needed", function()
    local reg = ROOT .. "/examples/templates.json"
    local rc, out, err = run({ "validate", "--templates", reg, "--to", "010-1234-5678",
                               "--template", "order_shipped", "--var", "name=x" })
    assert.are.equal(1, rc, err)
    local _, n = out:gsub("vars%.order:", "")
    assert.are.equal(1, n, out)
    assert.matches("vars.order: MISSING_VARIABLE variable order is used by the template's content",
      out, 1, true)
    assert.is_nil(out:find("REQUIRED", 1, true), out)
    rc, out = run({ "render", "--templates", reg, "--template", "order_shipped", "--var", "name=x",
      "--json" })
    assert.are.equal(1, rc)
    local r = json(out)
    local fields = {}
    for _, e in ipairs(r.error.errors) do fields[#fields + 1] = e.field end
    table.sort(fields)
    assert.are.same({ "vars.courier", "vars.invoice", "vars.order" }, fields)
    rc, out, err = run({ "send", "--templates", reg, "--to", "010-3300-0003", "--template", "order_shipped",
                         "--var", "name=x" })
    assert.are.equal("", out)
    assert.are.equal(1, rc)
    local _, m = err:gsub("vars%.order", "")
    assert.are.equal(1, m, err)
    assert.is_nil(err:find("REQUIRED", 1, true), err)
  end)

  it("render: an item-list template shows its item highlight, items and summary", function()
    local rc, out, err = run({ "render", "--template", "order_items", "--var", "name=가", "--var", "product=책",
      "--var", "order=O-9", "--var", "qty=2", "--var", "total=39,000원" })
    assert.are.equal(0, rc, err)
    assert.matches("[header] 주문 내역\n", out, 1, true)
    assert.matches("[item highlight] 책 | 주문번호 O-9\n", out, 1, true)
    assert.matches("[item 1] 상품 | 책\n[item 2] 수량 | 2개\n", out, 1, true)
    assert.matches("[summary] 합계 | 39,000원\n", out, 1, true)
    rc, out = run({ "render", "--template", "order_items", "--json", "--var", "name=가", "--var", "product=책",
      "--var", "order=O-9", "--var", "qty=2", "--var", "total=1원" })
    assert.are.equal(0, rc)
    local r = json(out)
    assert.are.equal("2개", r.items[2].description)
    assert.are.equal("1원", r.summary.description)
    assert.are.equal("책", r.item_highlight.title)
  end)

  it("a secret named by <key>_env but unset is named, with the ALIMTALK_ variable too", function()
    local c = s.credentials
    write(dir .. "/envname.json", cjson.encode({ provider = "sens", templates = sandbox.templates,
      sens = { base_url = s.http_url, access_key_env = "ALIMTALK_SPEC_UNSET_ACCESS",
               service_id = c.sens.service_id, plus_friend_id = c.sens.plus_friend_id } }))
    local rc, out, err = run({ "send", "-c", "envname.json", "--to", "010-3300-0004", "--content", "x",
                               "--template", "T" })
    assert.are.equal(2, rc)
    assert.are.equal("", out)
    assert.matches("ALIMTALK_SPEC_UNSET_ACCESS (named by access_key_env) is not set", err, 1, true)
    assert.matches("ALIMTALK_SENS_ACCESS_KEY", err, 1, true)
  end)

  it("an unset env: reference in a section the command does not use is no error", function()
    local c = s.credentials
    write(dir .. "/lazy.json", cjson.encode({ provider = "sens", templates = sandbox.templates,
      sens = { base_url = s.http_url, access_key = "env:ALIMTALK_SPEC_UNSET_NCP",
               service_id = c.sens.service_id, plus_friend_id = c.sens.plus_friend_id },
      apiplex = { base_url = s.http_url, user_id = c.apiplex.user_id, sender_key = c.apiplex.sender_key,
                  sender_number = "0212345678" } }))
    local args = { "send", "-c", "lazy.json", "--to", "010-3300-0010", "--template", "welcome",
                   "--var", "name=a", "--var", "date=b" }
    -- the section it sends through: the variable is named, exit 2
    local rc, out, err = run(args)
    assert.are.equal(2, rc, err)
    assert.are.equal("", out)
    assert.matches("sens.access_key names the environment variable ALIMTALK_SPEC_UNSET_NCP", err, 1, true)
    -- another provider chosen: the sens section is never read
    args[#args + 1] = "-p"
    args[#args + 1] = "apiplex"
    rc, out, err = run(args)
    assert.are.equal(0, rc, err)
    assert.matches("^accepted via apiplex", out)
    -- ALIMTALK_SENS_ACCESS_KEY given: the reference it replaces is not needed
    rc, out, err = run({ "send", "-c", "lazy.json", "--to", "010-3300-0011", "--template", "welcome",
                         "--var", "name=a", "--var", "date=b" },
                       { env = env_prefix .. " ALIMTALK_SENS_ACCESS_KEY=" .. q(c.sens.access_key) })
    assert.are.equal(0, rc, err)
    assert.matches("^accepted via sens", out)
    -- the read-only bulk status sends through nothing
    write(dir .. "/lz.csv", "to,name,date\n010-3300-0012,a,b\n")
    rc, out, err = run({ "bulk", "run", "lz.csv", "--campaign", "cli-lz", "--template", "welcome",
                         "--progress", "none" })
    assert.are.equal(0, rc, err .. out)
    rc, out, err = run({ "bulk", "status", "cli-lz", "-c", "lazy.json",
                         "--state-dir", dir .. "/alimtalk-campaigns", "--json" })
    assert.are.equal(0, rc, err)
    assert.are.equal(1, json(out).counts.accepted)
  end)

  it("a secret written in the configuration file works, with a warning that never shows it", function()
    local c = s.credentials
    write(dir .. "/literal.json", cjson.encode({ provider = "apiplex", templates = sandbox.templates,
      apiplex = { base_url = s.http_url, user_id = c.apiplex.user_id, sender_key = c.apiplex.sender_key,
                  sender_number = "0212345678", secret_key = c.apiplex.secret_key },
      -- a section the command does not send through draws no warning
      sinch = { key_id = "k", key_secret = "unused-literal-secret" } }))
    local rc, out, err = run({ "send", "-c", "literal.json", "--to", "010-3300-0030",
                               "--template", "welcome", "--var", "name=a", "--var", "date=b" },
                             { env = "env ALIMTALK_OUTBOX=" .. q(dir .. "/outbox.jsonl") })
    assert.are.equal(0, rc, err)
    assert.matches("^accepted via apiplex", out)
    assert.are.equal("alimtalk: warning: apiplex.secret_key is written in the configuration file "
      .. "literal.json: anyone who can read the file can use it; prefer \"env:NAME\" or "
      .. "ALIMTALK_APIPLEX_SECRET_KEY (docs/cli.md)\n", err)
    assert.is_nil((out .. err):find(c.apiplex.secret_key, 1, true))
    -- the variable given: it wins, and there is nothing to warn about
    rc, out, err = run({ "send", "-c", "literal.json", "--to", "010-3300-0031", "--template", "welcome",
                         "--var", "name=a", "--var", "date=b" })
    assert.are.equal(0, rc, err)
    assert.matches("^accepted via apiplex", out)
    assert.are.equal("", err)
  end)

  it("a secret with a line break is named by its field and source, never shown", function()
    for _, case in ipairs({
      { "ALIMTALK_APIPLEX_SECRET_KEY", "apiplex.secret_key (from ALIMTALK_APIPLEX_SECRET_KEY)" },
      { "ALIMTALK_SENS_SECRET_KEY", "sens.secret_key (from ALIMTALK_SENS_SECRET_KEY)" },
    }) do
      local provider = case[2]:match("^(%w+)")
      local rc, out, err = run({ "send", "-p", provider, "--to", "010-3300-0020", "--template", "welcome",
                                 "--var", "name=a", "--var", "date=b" },
        { env = env_prefix .. " " .. case[1] .. "=" .. q("crlf-first-half\r\ncrlf-second-half") })
      assert.are.equal(2, rc, err)
      assert.are.equal("", out)
      assert.matches("configuration " .. case[2] .. " contains a line break", err, 1, true)
      assert.is_nil(err:find(".lua:", 1, true), err)
      assert.is_nil(err:find("crlf-", 1, true), err)
      local _, lines = err:gsub("\n", "")
      assert.are.equal(1, lines, err)
    end
    assert.are.equal(0, #s:outbox({ to = "01033000020" }))
  end)

  it("bulk run without --template and without a template column is refused up front", function()
    write(dir .. "/nt.csv", "to,name,date\n010-3400-0001,가,1일\n010-3400-0002,나,2일\n")
    local rc, out, err = run({ "bulk", "run", "nt.csv", "--campaign", "cli-nt" })
    assert.are.equal(2, rc)
    assert.are.equal("", out)
    assert.matches("no template: give --template NAME", err, 1, true)
    local _, lines = err:gsub("\n", "")
    assert.are.equal(1, lines, err)
    assert.is_nil(read_file(dir .. "/alimtalk-campaigns/cli-nt/journal.log"))
    -- a template column is enough
    write(dir .. "/wt.csv", "to,template,name,date\n010-3400-0003,welcome,다,3일\n")
    rc = run({ "bulk", "run", "wt.csv", "--campaign", "cli-wt", "--progress", "none" })
    assert.are.equal(0, rc)
  end)

  it("the sandbox's documented BizMessage credentials are enough for the client", function()
    local c = s.credentials.bizmessage
    assert.is_string(c.sender_no)
    write(dir .. "/biz.json", cjson.encode({ provider = "bizmessage", templates = sandbox.templates,
      bizmessage = { base_url = s.http_url, client_id = c.client_id, sender_key = c.sender_key,
                     sender_no = c.sender_no } }))
    local rc, out, err = run({ "send", "-c", "biz.json", "--to", "010-3300-0005", "--template", "welcome",
      "--var", "name=a", "--var", "date=b", "--id", "cli-biz-1" },
      { env = env_prefix .. " ALIMTALK_BIZMESSAGE_CLIENT_SECRET=" .. q(c.client_secret) })
    assert.are.equal(0, rc, err)
    assert.matches("^accepted via bizmessage", out)
  end)

  it("sandbox: start, outbox and stop a server of its own", function()
    local rc, out, err = run({ "sandbox", "start", "--run-dir", "sbx", "--no-tls",
                               "--templates", sandbox.templates })
    finally(function() run({ "sandbox", "stop", "--run-dir", "sbx" }) end)
    assert.are.equal(0, rc, err)
    local url = out:match("(http://127%.0%.0%.1:%d+)")
    assert.is_string(url, out)
    local c = s.credentials
    write(dir .. "/own.json", cjson.encode({ provider = "sens", templates = sandbox.templates,
      sens = { base_url = url, access_key = c.sens.access_key, service_id = c.sens.service_id,
               plus_friend_id = c.sens.plus_friend_id } }))
    rc, out, err = run({ "send", "-c", "own.json", "--to", "010-3200-0001", "--template", "welcome",
                         "--var", "name=마", "--var", "date=5일" })
    assert.matches("^accepted via sens", out)
    assert.are.equal(0, rc, err)
    rc, out = run({ "sandbox", "outbox", "--run-dir", "sbx", "--json" })
    assert.are.equal(0, rc)
    assert.matches("마님, 회원가입을 환영합니다", out, 1, true)
    -- --to in any spelling finds the message, whatever form the provider stored
    for _, to in ipairs({ "010-3200-0001", "01032000001", "+82 10-3200-0001" }) do
      rc, out = run({ "sandbox", "outbox", "--run-dir", "sbx", "--to", to })
      assert.are.equal(0, rc)
      assert.matches("마님, 회원가입을 환영합니다", out, 1, true)
    end
    rc, out = run({ "sandbox", "outbox", "--run-dir", "sbx", "--to", "010-3200-0009" })
    assert.are.equal(0, rc)
    assert.are.equal("", out)
    rc = run({ "sandbox", "stop", "--run-dir", "sbx" })
    assert.are.equal(0, rc)
    rc = run({ "sandbox", "status", "--run-dir", "sbx" })
    assert.are.equal(1, rc)
  end)

  it("sandbox: bad arguments are one quoted line and exit 2", function()
    for _, c in ipairs({
      { { "sandbox", "start", "--bogus" },
        "alimtalk sandbox: unknown option '--bogus' (try 'alimtalk sandbox --help')\n" },
      { { "sandbox", "outbox", "--provider", "nope" }, "alimtalk sandbox: unknown provider 'nope'" },
      { { "sandbox", "outbox", "--run-dir", "/nonexistent-alimtalk-run" },
        "/nonexistent-alimtalk-run: no such folder" },
    }) do
      assert_usage_error(c[1], c[2])
    end
  end)

  it("sandbox: a bad port is a bad option, a busy one a single line naming it", function()
    for _, port in ipairs({ "99999", "-1", "1.5", "http" }) do
      assert_usage_error({ "sandbox", "start", "--run-dir", "sbx-port", "--port", port },
        "alimtalk sandbox: --port ")
    end
    local busy = s.http_url:match(":(%d+)$")
    local rc, out, err = run({ "sandbox", "start", "--run-dir", "sbx-busy", "--no-tls", "--port", busy })
    finally(function() run({ "sandbox", "stop", "--run-dir", "sbx-busy" }) end)
    assert.are.equal(1, rc, err)
    assert.are.equal("", out)
    assert.are.equal("alimtalk sandbox: port " .. busy .. " is already in use: give another "
      .. "--port/--https-port, or none for a free one\n", err)
    -- -v adds nginx's own messages
    rc, out, err = run({ "sandbox", "start", "--run-dir", "sbx-busy", "--no-tls", "--port", busy, "-v" })
    assert.are.equal("", out)
    assert.are.equal(1, rc)
    assert.matches("[emerg]", err, 1, true)
  end)

  it("sandbox: -c, -p, --json and -v where they mean something, refused where they do not", function()
    write(dir .. "/sbx-cfg.json", cjson.encode({ templates = sandbox.templates }))
    local rc, out, err = run({ "sandbox", "start", "--run-dir", "sbx-opt", "--no-tls", "-c", "sbx-cfg.json",
                               "--json" })
    finally(function() run({ "sandbox", "stop", "--run-dir", "sbx-opt" }) end)
    assert.are.equal(0, rc, err)
    local r = json(out)
    assert.is_true(r.running)
    assert.are.equal(sandbox.templates, r.templates)
    assert.matches("^http://127%.0%.0%.1:%d+$", r.http_url)
    rc, out = run({ "sandbox", "outbox", "--run-dir", "sbx-opt", "-p", "sens", "--json" })
    assert.are.equal(0, rc)
    assert.are.equal("", out)
    for _, c in ipairs({
      { { "sandbox", "status", "--run-dir", "sbx-opt", "-v" }, "-v is not an option of 'sandbox status'" },
      { { "sandbox", "status", "--run-dir", "sbx-opt", "-c", "sbx-cfg.json" },
        "-c is not an option of 'sandbox status'" },
      { { "sandbox", "start", "--run-dir", "sbx-opt", "--to", "010" },
        "--to is not an option of 'sandbox start'" },
      { { "sandbox", "stop", "--run-dir", "sbx-opt", "-p", "sens" },
        "-p is not an option of 'sandbox stop'" },
    }) do
      assert_usage_error(c[1], c[2])
    end
    rc, out = run({ "sandbox", "stop", "--run-dir", "sbx-opt", "--json" })
    assert.are.equal(0, rc)
    assert.is_true(json(out).stopped)
  end)

  it("sandbox start: the default registry is examples/templates.json, as in README and examples", function()
    local rc, out, err = run({ "sandbox", "start", "--run-dir", "sbx-def", "--no-tls" })
    finally(function() run({ "sandbox", "stop", "--run-dir", "sbx-def" }) end)
    assert.are.equal(0, rc, err)
    assert.matches("templates: " .. ROOT .. "/examples/templates.json\n", out, 1, true)
    local cfg = json(read_file(dir .. "/sbx-def/sandbox.json"))
    assert.are.equal(ROOT .. "/examples/templates.json", cfg.templates)
    rc, out = run({ "sandbox", "--help" })
    assert.are.equal(0, rc)
    assert.matches("examples/templates.json", out, 1, true)
    assert.is_nil(out:find("spec/fixtures", 1, true), out)
  end)

  it("sandbox: a bad or missing subcommand is one line and exit 2, not the whole usage", function()
    local rc, out, err = run({ "sandbox", "frobnicate" })
    assert.are.equal(2, rc)
    assert.are.equal("", out)
    assert.are.equal("alimtalk sandbox: unknown subcommand 'frobnicate' "
      .. "(try 'alimtalk sandbox --help')\n", err)
    rc, out, err = run({ "sandbox" })
    assert.are.equal(2, rc)
    assert.are.equal("", out)
    assert.matches("^alimtalk sandbox: give a subcommand: start, stop, status or outbox [^\n]*\n$", err)
  end)

  it("sandbox: a credentials file with an unknown key is one clear line and exit 2", function()
    write(dir .. "/bad-creds.json", cjson.encode({ sens = { acces_key = "typo" } }))
    local rc, out, err = run({ "sandbox", "start", "--run-dir", "sbx-bad", "--no-tls",
                               "--credentials", "bad-creds.json" })
    finally(function() run({ "sandbox", "stop", "--run-dir", "sbx-bad" }) end)
    assert.are.equal(2, rc)
    assert.are.equal("", out)
    assert.matches("^alimtalk sandbox: .*acces_key\n$", err)
    assert.is_nil(err:find("traceback", 1, true))
  end)
end)
