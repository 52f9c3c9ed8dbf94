-- The Lua property fuzzers (spec/fuzz/lua/*.lua) for a short, deterministic pass: each target
-- runs FUZZ_ITERATIONS cases (default 1000) from FUZZ_SEED (default 20261207). `make fuzz`
-- runs them for longer, from a fresh seed (tools/run-fuzz, tools/fuzz-lua).
local runner = require "fuzz.lua.runner"

local ITER = tonumber(os.getenv("FUZZ_ITERATIONS") or "") or 1000
local SEED = tonumber(os.getenv("FUZZ_SEED") or "") or 20261207

describe("Lua property fuzzers (" .. ITER .. " cases each, seed " .. SEED .. ")", function()
  for _, target in ipairs({ "template", "webhook", "bulk_input", "config", "providers",
                            "queries" }) do
    it(target, function()
      local ok, report = runner.run(target, { iterations = ITER, seed = SEED })
      assert(ok, report)
    end)
  end
end)
