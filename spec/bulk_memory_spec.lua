-- Memory of a campaign whose rows all ended not_sent: the journal scan and the report keep a
-- bit per such row, not a table, and write the lists in a streaming pass. Measured
-- structurally: the peak resident size (VmHWM) of a process reporting on 200,000 not_sent
-- rows stays within 10% of the same for 20,000.
local sandbox = require("support.sandbox")
local cjson = require("cjson")
local fs = require("support.fs")

local ROOT = sandbox.root
local RUNTIME = fs.RUNTIME
local CPATH = ROOT .. "/build/" .. RUNTIME .. "/?.so;;"

local function journal(dir, id, n)
  os.execute("mkdir -p '" .. dir .. "/" .. id .. "'")
  local f = assert(io.open(dir .. "/" .. id .. "/journal.log", "wb"))
  f:write("H\t", cjson.encode({ campaign = id, provider = "sens", version = 1 }), "\n", "B\tboot\n")
  for first = 1, n, 1000 do
    local last = math.min(n, first + 999)
    for row = first, last do f:write("P\t", row, "\t", string.format("%032x", row), "\n") end
    f:write("C\t", first, "\t", last, "\n")
    for a = first, last, 100 do f:write("G\t", a, "\t", math.min(last, a + 99), "\tsens\n") end
    for row = first, last do
      f:write("O\t", row, "\tnot_sent\t", cjson.encode({ code = "CIRCUIT_OPEN", provider = "sens",
        message = "provider circuit open", serial = string.format("%032x", row) }), "\n")
    end
  end
  f:write("E\t{\"event\":\"done\"}\n")
  f:close()
end

-- Report on the campaign in a fresh process; its peak RSS (kB) and the summary's count.
local function peak(dir, id)
  local code = ([[
    local s = assert(require("alimtalk.bulk.campaign").report(%q, %q))
    local f = io.open("/proc/self/status")
    local hwm = f:read("a"):match("VmHWM:%%s*(%%d+)")
    print(hwm, s.counts.not_sent)
  ]]):format(dir, id)
  local p = assert(io.popen(("cd '%s' && LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='%s' %s -e %q")
    :format(ROOT, CPATH, RUNTIME, code)))
  local out = p:read("a")
  p:close()
  local hwm, n = out:match("^(%d+)%s+(%d+)")
  return tonumber(hwm), tonumber(n)
end

describe("bulk campaign memory", function()
  local dir
  setup(function() dir = fs.tmpdir("alimtalk-mem") end)
  teardown(function() fs.rmtree(dir) end)

  it("stays flat however many rows are not_sent", function()
    journal(dir, "small", 20000)
    journal(dir, "large", 200000)
    local small, n1 = peak(dir, "small")
    local large, n2 = peak(dir, "large")
    assert.are.equal(20000, n1)
    assert.are.equal(200000, n2)
    print(("\n  %s: peak RSS %d kB for 20,000 not_sent rows, %d kB for 200,000")
      :format(RUNTIME, small, large))
    assert.is_true(large <= small * 1.10, ("%d kB vs %d kB"):format(large, small))
    -- the not_sent list has every row once, in order
    local f = assert(io.open(dir .. "/large/not_sent.jsonl"))
    local k = 0
    for l in f:lines() do
      k = k + 1
      local r = cjson.decode(l)
      assert.are.equal(k, r.row)
      assert.are.equal("CIRCUIT_OPEN", r.result.code)
    end
    f:close()
    assert.are.equal(200000, k)
  end)
end)
