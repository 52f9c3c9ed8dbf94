-- examples/embed/: the C program embedding Lua 5.4, built with `make embed`, runs a user's
-- script that sends (blocking), and drives non-blocking sends from its own event loop while
-- the sandbox server holds every answer for 0.3 s: the loop keeps ticking meanwhile.
local sandbox = require "support.sandbox"
local fs = require "support.fs"

local ROOT = sandbox.root
local HOST = ROOT .. "/build/embed/alimtalk-embed"
local q = fs.q

local function run(args, env)
  return fs.capture(("cd %s && env %s %s %s"):format(q(ROOT), env or "", q(HOST), args))
end

describe("embedded host (examples/embed)", function()
  local s

  setup(function()
    local rc, out = fs.capture("make -s -C " .. q(ROOT) .. " embed")
    assert.are.equal(0, rc, out)
    s = sandbox.start{ templates = ROOT .. "/examples/templates.json", tls = false }
  end)
  teardown(function() assert.same({}, sandbox.stop(s)) end)
  before_each(function() assert(s:reset()) end)

  local function env() return "ALIMTALK_SANDBOX_DIR=" .. q(s.run_dir) end

  it("runs a script that sends through the embedded sandbox by default", function()
    local rc, out = run("examples/embed/send.lua 3", "ALIMTALK_SANDBOX_DIR=")
    assert.are.equal(0, rc, out)
    assert.matches("message 3: accepted via sandbox (A000)", out, 1, true)
    assert.matches("sent 3, accepted 3", out, 1, true)
  end)

  it("runs a script that sends through the sandbox server", function()
    local rc, out = run("examples/embed/send.lua 3", env())
    assert.are.equal(0, rc, out)
    assert.matches("sent 3, accepted 3", out, 1, true)
    assert.are.equal(3, #assert(s:outbox{ provider = "sens" }))
  end)

  it("drives non-blocking sends from the host's own loop without waiting on them", function()
    assert(s:fault{ provider = "sens", kind = "delay", delay = 0.3 })
    local rc, out = run("--loop examples/embed/loop.lua 5", env())
    assert.are.equal(0, rc, out)
    assert.matches("submitted 5 sends; 5 in flight", out, 1, true)
    assert.matches("finished 5, accepted 5", out, 1, true)
    assert.are.equal(5, sandbox.count_attempts(s, "sens", "/messages$", "POST"))
    assert.are.equal(5, #assert(s:outbox{ provider = "sens" }))
    -- 10 ms ticks for the 0.3 s the answers took: the loop turned while they were in flight
    local busy = tonumber(out:match("ticks while sends were in flight: (%d+)"))
    assert.is_true(busy and busy >= 15, out)
    -- and no tick waited on the network
    local longest = tonumber(out:match("longest tick in Lua ([%d.]+) ms"))
    assert.is_true(longest and longest < 100, out)
  end)

  it("fails the run when the script raises, with its traceback", function()
    local dir = fs.tmpdir("alimtalk-embed")
    fs.write(dir .. "/bad.lua", "error('no such template')\n")
    local rc, out = run(q(dir .. "/bad.lua"))
    fs.rmtree(dir)
    assert.are.equal(1, rc, out)
    assert.matches("alimtalk%-embed: .*no such template", out)
    assert.matches("stack traceback", out, 1, true)
  end)
end)
