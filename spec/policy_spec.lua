-- Policy scripts (alimtalk.policy through the client): loading a file or a table, each hook
-- (route in result.routing, prepare before rendering, fallback into the SMS/LMS failover,
-- after_result and on_event for audit), a failing hook costing its own message only, holds,
-- and the same policy in bulk campaigns and the queue worker.
local alimtalk = require "alimtalk"
local sandbox = require "support.sandbox"
local fs = require "support.fs"
local cjson = require "cjson"

local function shipped(i, extra)
  local m = { id = "p-" .. i, to = string.format("010-5100-%04d", i), template = "order_shipped",
              vars = { name = "고객" .. i, order = "P" .. i, courier = "우체국택배",
                       invoice = string.format("%013d", 6302114800000 + i) } }
  for k, v in pairs(extra or {}) do m[k] = v end
  return m
end

local function outbox(path)
  local list = {}
  for line in (fs.read_file(path) or ""):gmatch("[^\n]+") do list[#list + 1] = cjson.decode(line) end
  return list
end

describe("alimtalk.policy", function()
  local dir, n = nil, 0
  setup(function() dir = fs.tmpdir("policy") end)
  teardown(function() fs.rmtree(dir) end)

  -- a client on the embedded sandbox (SENS rules) with its own outbox
  local function embedded(policy, extra)
    n = n + 1
    local box = dir .. "/outbox" .. n .. ".jsonl"
    local o = { sandbox = { profile = "sens", outbox = box }, templates = sandbox.templates,
                policy = policy }
    for k, v in pairs(extra or {}) do o[k] = v end
    return assert(alimtalk.new(o)), box
  end

  local function file(text)
    n = n + 1
    local p = dir .. "/policy" .. n .. ".lua"
    fs.write(p, text)
    return p
  end

  describe("loading", function()
    it("loads a file of hooks in an environment of its own", function()
      local p = file("seen = 1\nreturn { route = function() seen = seen + 1 return { 'sandbox' } end }")
      local client, box = embedded(p)
      local r = assert(client:send(shipped(1)))
      assert.equal("accepted", r.status)
      assert.equal(1, #outbox(box))
      assert.is_nil(rawget(_G, "seen"))   -- the script's globals stay its own
      client:close()
    end)

    it("names the file and the reason when it cannot be used", function()
      local cases = {
        { nil, "cannot read" },
        { "return {", "policy[%d]*%.lua:1: " },
        { "error('no settings')", "raised while loading: .*no settings" },
        { "return 42", "returned a number, not a table of hooks" },
        { "return { rout = function() end }", "unknown hook 'rout' %(hooks: route, prepare" },
        { "return { route = 'sens' }", "route must be a function, not a string" },
      }
      for _, c in ipairs(cases) do
        local p = c[1] and file(c[1]) or dir .. "/missing.lua"
        local ok, err = pcall(alimtalk.new, { policy = p })
        assert.is_false(ok)
        assert.matches("alimtalk.new: policy " .. p:gsub("%p", "%%%0"), err)
        assert.matches(c[2], err)
      end
      local ok, err = pcall(alimtalk.new, { policy = { after = function() end } })
      assert.is_false(ok)
      assert.matches("policy table: unknown hook 'after'", err)
    end)
  end)

  describe("route", function()
    local s, client
    setup(function() s = sandbox.start{} end)
    teardown(function()
      if client then client:close() end
      assert.same({}, sandbox.stop(s))
    end)
    before_each(function() assert(s:reset()) end)

    local function two(policy)
      if client then client:close() end
      client = assert(alimtalk.new{
        providers = { sens = s:client_options("sens", { timeout = 2 }),
                      apiplex = s:client_options("apiplex", { timeout = 2, service_id = "at-verify",
                                                               sender_number = "0212345678" }) },
        route = { "sens", "apiplex" }, templates = sandbox.templates, policy = policy,
        retry = { max_attempts = 1 } })
      return client
    end

    it("sends through the providers it names, and says so in result.routing", function()
      two{ route = function(msg) if msg.template == "auth_code" then return { "apiplex", "sens" } end end }
      local rs = client:send_batch({
        { id = "otp-1", to = "010-5100-0001", template = "auth_code",
          vars = { service = "Shop", code = "123456" } },
        shipped(2) })
      assert.equal("accepted", rs[1].status)
      assert.equal("apiplex", rs[1].provider)
      assert.same({ decision = "route", by = "policy", providers = { "apiplex", "sens" } }, rs[1].routing[1])
      assert.equal("send", rs[1].routing[2].decision)
      assert.equal("apiplex", rs[1].routing[2].provider)
      -- no answer: the client's own route
      assert.equal("sens", rs[2].provider)
      assert.equal("send", rs[2].routing[1].decision)
      assert.equal(1, #assert(s:outbox{ provider = "apiplex" }))
      assert.equal(1, #assert(s:outbox{ provider = "sens" }))
    end)

    it("fails over along the policy's order", function()
      two{ route = function() return { "apiplex", "sens" } end }
      assert(s:fault{ provider = "apiplex", kind = "status", status = 503, retry_after = 0 })
      local r = assert(client:send(shipped(3)))
      assert.equal("accepted", r.status)
      assert.equal("sens", r.provider)
      assert.equal("route", r.routing[1].decision)
      assert.equal("not_sent", r.routing[2].status)
      assert.equal("failover", r.routing[3].decision)
    end)

    it("rejects a message whose route is invalid with POLICY_ERROR, sending nothing for it", function()
      local answers = {
        { 42, "policy route returned a number, want a list of provider names" },
        { {}, "policy route returned an empty list" },
        { { "sinch" }, "policy route named 'sinch', which is not configured %(sens, apiplex%)" },
        { { "sens", "sens" }, "policy route named 'sens' twice" },
        { { "sens", x = 1 }, "not a list of provider names" },
      }
      for i, a in ipairs(answers) do
        two{ route = function(msg) if msg.id == "p-1" then return a[1] end return { "sens" } end }
        local rs = client:send_batch({ shipped(1), shipped(2) })
        assert.equal("rejected", rs[1].status, i)
        assert.equal("POLICY_ERROR", rs[1].code)
        assert.equal("policy.route", rs[1].error.field)
        assert.matches(a[2], rs[1].error.message)
        assert.equal(0, rs[1].attempts)
        assert.equal("accepted", rs[2].status)
      end
      assert.equal(#answers, #assert(s:outbox{ provider = "sens" }))
      assert.equal(0, #assert(s:outbox{ provider = "apiplex" }))
    end)
  end)

  it("a raising hook rejects its message alone; the others are sent", function()
    for _, hook in ipairs({ "route", "prepare", "fallback" }) do
      local client, box = embedded{ [hook] = function(msg)
        if msg.id == "p-2" then error("no rule for " .. msg.id) end
      end }
      local rs = client:send_batch({ shipped(1), shipped(2), shipped(3) })
      assert.equal("accepted", rs[1].status)
      assert.equal("accepted", rs[3].status)
      assert.equal("rejected", rs[2].status)
      assert.equal("POLICY_ERROR", rs[2].code)
      assert.equal("policy." .. hook, rs[2].error.field)
      assert.equal("policy " .. hook .. " raised: no rule for p-2", rs[2].error.message)
      assert.same({ decision = "reject", reason = "policy", hook = hook, code = "POLICY_ERROR",
                    message = rs[2].error.message }, rs[2].routing[1])
      local sent = outbox(box)
      assert.equal(2, #sent)
      assert.equal("p-1", sent[1].serial)
      assert.equal("p-3", sent[2].serial)
      -- send gives the error, as for an invalid message
      local r, err = client:send(shipped(2))
      assert.is_nil(r)
      assert.equal("POLICY_ERROR", err.code)
      client:close()
    end
  end)

  describe("prepare", function()
    it("changes the variables before rendering, never the caller's message", function()
      local client, box = embedded{ prepare = function(msg, ctx)
        assert(ctx.template.name == "order_shipped")
        msg.vars.name = msg.vars.name .. "님"
      end }
      local m = shipped(1)
      assert.equal("accepted", assert(client:send(m)).status)
      assert.matches("^고객1님님, 주문하신 상품이 발송되었습니다", outbox(box)[1].text)
      assert.equal("고객1", m.vars.name)
      client:close()
    end)

    it("formats through ctx.format as docs/policies.md shows; a refused value is POLICY_ERROR", function()
      local function fmt(f, name, v, ...)
        local out, err = f(v, ...)
        if not out then error(name .. ": " .. err.message, 0) end
        return out
      end
      local client, box = embedded{ prepare = function(msg, ctx)
        local f, v = ctx.format, msg.vars
        if v.name then v.name = fmt(f.mask_name, "name", v.name) end
      end }
      local bad = shipped(2)
      bad.vars.name = ""
      local rs = client:send_batch({ shipped(1), bad, shipped(3) })
      assert.equal("accepted", rs[1].status)
      assert.equal("accepted", rs[3].status)
      assert.matches("^고%*1님, 주문하신 상품이 발송되었습니다", outbox(box)[1].text)
      assert.matches("^고%*3님, ", outbox(box)[2].text)
      assert.equal(2, #outbox(box))
      assert.equal("rejected", rs[2].status)
      assert.equal("POLICY_ERROR", rs[2].code)
      assert.matches("name: ", rs[2].error.message)
      client:close()
    end)

    it("may return the variables instead; anything else is POLICY_ERROR", function()
      local client, box = embedded{ prepare = function(msg)
        if msg.id == "p-2" then return "name" end
        return { name = "VIP", order = "X1", courier = "우체국택배", invoice = "1234567890123" }
      end }
      local rs = client:send_batch({ shipped(1), shipped(2) })
      assert.matches("^VIP님, .*주문번호: X1\n", outbox(box)[1].text)
      assert.equal("POLICY_ERROR", rs[2].code)
      assert.equal("policy prepare returned a string, want a vars table or nil", rs[2].error.message)
      client:close()
    end)
  end)

  describe("fallback", function()
    it("puts its text into the SMS/LMS failover, keeping the message's own settings", function()
      local client, box = embedded{ fallback = function(msg)
        if msg.id == "p-3" then return 7 end
        if msg.id == "p-2" then return nil end
        return "[Shop] " .. msg.vars.order .. " shipped: " .. msg.vars.invoice
      end }
      local rs = client:send_batch({ shipped(1, { failover = { type = "LMS", subject = "배송" } }),
                                     shipped(2), shipped(3) })
      local sent = outbox(box)
      assert.equal(2, #sent)
      assert.same({ type = "LMS", subject = "배송", content = "[Shop] P1 shipped: 6302114800001" },
                  sent[1].failover)
      assert.is_nil(sent[2].failover)   -- nil: the message as it was
      assert.equal("POLICY_ERROR", rs[3].code)
      assert.equal("policy fallback returned a number, want the SMS/LMS text or nil", rs[3].error.message)
      client:close()
    end)
  end)

  describe("after_result and on_event", function()
    it("see every final result with its context, and the routing events", function()
      local seen, events = {}, {}
      local client = embedded{
        route = function(msg) if msg.id == "p-2" then return { "nope" } end return { "sandbox" } end,
        after_result = function(result, ctx) seen[#seen + 1] = { result = result, ctx = ctx } end,
        on_event = function(ev) events[#events + 1] = ev end,
      }
      local rs = client:send_batch({ shipped(1), shipped(2, { kind = "alimtalk" }) })
      assert.equal(2, #seen)
      assert.equal(rs[1], seen[1].result)
      assert.equal("accepted", seen[1].result.status)
      assert.equal(1, seen[1].ctx.index)
      assert.equal("p-1", seen[1].ctx.id)
      assert.equal("alimtalk", seen[1].ctx.kind)
      assert.equal("order_shipped", seen[1].ctx.template_name)
      assert.same({ "sandbox" }, seen[1].ctx.providers)
      assert.equal("number", type(seen[1].ctx.now()))
      assert.equal("POLICY_ERROR", seen[2].result.code)
      local kinds = {}
      for _, ev in ipairs(events) do kinds[#kinds + 1] = ev.type .. ":" .. tostring(ev.id) end
      assert.same({ "routed:p-1", "policy_error:p-2", "result:p-1", "result:p-2" }, kinds)
      assert.same({ "sandbox" }, events[1].providers)
      assert.equal("policy.route", "policy." .. events[2].hook)
      assert.equal("accepted", events[3].status)
      assert.equal(rs[1], events[3].result)
      client:close()
    end)

    it("raising keeps the result, with the error in result.policy_error", function()
      local client, box = embedded{
        after_result = function(r) if r.id == "p-1" then error("audit db down") end end,
        on_event = function(ev) if ev.type == "result" and ev.id == "p-2" then error("no socket") end end,
      }
      local rs = client:send_batch({ shipped(1), shipped(2), shipped(3) })
      assert.equal(3, #outbox(box))
      for _, r in ipairs(rs) do assert.equal("accepted", r.status) end
      assert.equal("after_result raised: audit db down", rs[1].policy_error)
      assert.equal("on_event raised: no socket", rs[2].policy_error)
      assert.is_nil(rs[3].policy_error)
      client:close()
    end)
  end)

  it("route may hold a message: not sent, POLICY_HOLD with the time it is held until", function()
    local at = 1796684400   -- 2026-12-08 08:00 KST
    local client, box = embedded{ route = function(msg, ctx)
      if msg.kind == "friendtalk" then return ctx.hold(at, "quiet hours") end
    end }
    local rs = client:send_batch({ shipped(1), shipped(2, { kind = "friendtalk" }) })
    assert.equal("accepted", rs[1].status)
    assert.equal("not_sent", rs[2].status)
    assert.equal("POLICY_HOLD", rs[2].code)
    assert.equal(at, rs[2].held_until)
    assert.equal("held by policy until 2026-12-08 08:00 KST: quiet hours", rs[2].message)
    assert.same({ decision = "hold", by = "policy", held_until = at, reason = "quiet hours" },
                rs[2].routing[1])
    assert.equal(1, #outbox(box))
    client:close()
  end)

  it("drives bulk campaigns", function()
    local campaign = require "alimtalk.bulk.campaign"
    local rows = { "to,name,date" }
    for i = 1, 6 do rows[#rows + 1] = string.format("010-5200-%04d,고객%d,2026-11-21", i, i) end
    fs.write(dir .. "/b.csv", table.concat(rows, "\n") .. "\n")
    local client, box = embedded{
      prepare = function(msg) msg.vars.name = "VIP " .. msg.vars.name end,
      route = function(msg) if msg.to == "010-5200-0004" then error("blocked number") end end,
    }
    local sum = assert(campaign.run({ client = client, campaign = "pol1", state_dir = dir,
                                      input = dir .. "/b.csv", template = "welcome", fsync = false }))
    client:close()
    assert.equal(5, sum.counts.accepted)
    assert.equal(1, sum.counts.invalid)   -- rejected before sending, as an invalid row
    local sent = outbox(box)
    assert.equal(5, #sent)
    assert.matches("^VIP 고객1님, 회원가입을 환영합니다", sent[1].text)
    local rejected = fs.read_file(sum.files.rejects) or ""
    assert.matches("POLICY_ERROR", rejected)
    assert.matches("blocked number", rejected)
  end)

  describe("the queue worker", function()
    local redis_server = require "support.redis"
    local queue = require "alimtalk.queue"
    local r
    setup(function() r = redis_server.start({}) end)
    teardown(function() if r then r:stop() end end)

    it("sends through the client's policy and stores its verdicts", function()
      local client, box = embedded{
        prepare = function(msg) msg.vars.name = "Q " .. msg.vars.name end,
        route = function(msg) if msg.id == "p-2" then return { "sinch" } end end,
      }
      local q = assert(queue.new{ redis = r.url, name = "policy", client = client })
      for i = 1, 3 do assert(q:enqueue(shipped(i))) end
      local stats = assert(q:work{ until_empty = true, block = 0.05 })
      assert.equal(2, stats.accepted)
      assert.equal(1, stats.rejected)
      local res = assert(q:result("p-2"))
      assert.equal("rejected", res.state)
      assert.equal("POLICY_ERROR", res.code)
      assert.matches("policy route named 'sinch'", res.error.message)
      local sent = outbox(box)
      assert.equal(2, #sent)
      assert.matches("^Q 고객1님", sent[1].text)
      q:close() client:close()
    end)

    it("enqueue checks a message as prepare leaves it, and a raising prepare queues nothing", function()
      local client, box = embedded{ prepare = function(msg)
        if msg.id == "p-5" then error("no courier for this order") end
        msg.vars.courier = msg.vars.courier or "우체국택배"   -- the policy fills it in
      end }
      local q = assert(queue.new{ redis = r.url, name = "policy-prepare", client = client })
      local m4 = shipped(4)
      m4.vars.courier = nil
      assert(q:enqueue(m4))
      assert.equal(true, client:validate(m4))
      local t, err = q:enqueue(shipped(5))
      assert.is_nil(t)
      assert.equal("POLICY_ERROR", err.code)
      assert.equal("policy.prepare", err.field)
      assert.matches("no courier for this order", err.message)
      local stats = assert(q:work{ until_empty = true, block = 0.05 })
      assert.equal(1, stats.accepted)
      assert.is_nil(q:result("p-5"))
      local sent = outbox(box)
      assert.equal(1, #sent)
      assert.matches("우체국택배", sent[1].text)
      -- without the policy the same message is invalid: the check really ran on the prepared copy
      local plain = assert(alimtalk.new{ sandbox = { profile = "sens" }, templates = sandbox.templates })
      assert.is_nil((plain:validate(m4)))
      q:close() client:close() plain:close()
    end)
  end)

  it("the 90/10 split policy is 90/10 over 1000 ids, and a resend goes the same way", function()
    local pol = require("alimtalk.policy").load(sandbox.root .. "/examples/policies/split.lua",
                                                { "sens", "bizmessage" })
    local route = pol.hooks.route
    local first = { sens = 0, bizmessage = 0 }
    for i = 1, 1000 do
      local id = "order-" .. (20261207000 + i)
      local plan = route({ id = id })
      first[plan[1]] = first[plan[1]] + 1
      assert.same(plan, route({ id = id }))
      assert.equal(2, #plan)
    end
    assert.is_true(first.sens >= 870 and first.sens <= 930, "sens got " .. first.sens)
    assert.equal(1000, first.sens + first.bizmessage)
    assert.is_nil(route({}))   -- no id: the client's own route
  end)

  describe("the CLI", function()
    local function cli(args, cwd)
      local q = fs.q
      local parts = {}
      for i, a in ipairs(args) do parts[i] = q(a) end
      local cmd = ("cd %s && env LUA_PATH=%s LUA_CPATH=%s ALIMTALK_OUTBOX=%s %s %s/bin/alimtalk %s "
        .. "> out.txt 2> err.txt < /dev/null; echo $? > rc.txt"):format(q(cwd),
        q(sandbox.root .. "/lua/?.lua;" .. sandbox.root .. "/lua/?/init.lua;;"),
        q(sandbox.root .. "/build/" .. fs.RUNTIME .. "/?.so;;"), q(cwd .. "/outbox.jsonl"), fs.RUNTIME,
        q(sandbox.root), table.concat(parts, " "))
      os.execute(cmd)
      return tonumber(fs.read_file(cwd .. "/rc.txt")), fs.read_file(cwd .. "/out.txt"),
             fs.read_file(cwd .. "/err.txt")
    end

    it("takes the configuration's policy (relative to it) and --policy, which wins", function()
      local cwd = dir .. "/cli"
      os.execute("mkdir -p " .. fs.q(cwd .. "/conf"))
      fs.write(cwd .. "/conf/strict.lua", "return { route = function() error('from the config') end }")
      fs.write(cwd .. "/conf/alimtalk.json", '{ "provider": "sandbox", "policy": "strict.lua" }')
      fs.write(cwd .. "/hold.lua",
               "return { route = function(m, ctx) return ctx.hold(1796684400, 'later') end }")
      local base = { "send", "--to", "010-1234-5678", "--content", "hello", "--json",
                     "-c", "conf/alimtalk.json" }
      local rc, out = cli(base, cwd)
      assert.equal(1, rc)
      local r = cjson.decode(out)
      assert.equal("POLICY_ERROR", r.error.code)
      assert.equal("policy route raised: from the config", r.error.message)
      base[#base + 1] = "--policy"
      base[#base + 1] = "hold.lua"
      rc, out = cli(base, cwd)
      assert.equal(1, rc)
      r = cjson.decode(out)
      assert.equal("not_sent", r.status)
      assert.equal("POLICY_HOLD", r.code)
      assert.is_nil(fs.read_file(cwd .. "/outbox.jsonl"))
      local erc, _, err = cli({ "send", "--to", "010-1234-5678", "--content", "x",
                                "--policy", "nope.lua" }, cwd)
      assert.equal(2, erc)
      assert.matches("policy nope.lua: cannot read", err)
    end)

    it("bulk run and resume take --policy", function()
      local cwd = dir .. "/cli-bulk"
      os.execute("mkdir -p " .. fs.q(cwd))
      fs.write(cwd .. "/rows.csv", "to,name,date\n010-5300-0001,A,2026-11-21\n010-5300-0002,B,2026-11-21\n")
      fs.write(cwd .. "/p.lua", "return { prepare = function(m) m.vars.name = 'VIP ' .. m.vars.name end,\n"
        .. "  route = function(m) if m.to == '010-5300-0002' then error('blocked') end end }")
      local rc, out, err = cli({ "bulk", "run", "rows.csv", "--campaign", "c1", "--template", "welcome",
                                 "--templates", sandbox.templates, "--policy", "p.lua", "--json",
                                 "--state-dir", "st" }, cwd)
      assert.equal(1, rc, err)
      local sum = cjson.decode(out)
      assert.equal(1, sum.counts.accepted)
      assert.equal(1, sum.counts.invalid)
      assert.matches("POLICY_ERROR", fs.read_file(cwd .. "/st/c1/rejects.jsonl"))
      assert.matches("VIP A님", fs.read_file(cwd .. "/outbox.jsonl"))
      local rrc, _, rerr = cli({ "bulk", "resume", "c1", "--policy", "p.lua", "--state-dir", "st" }, cwd)
      assert.are_not.equal(2, rrc, rerr)   -- --policy is taken on resume too
    end)
  end)
end)
