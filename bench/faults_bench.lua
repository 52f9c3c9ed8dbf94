-- Faults at scale: 10,000 messages each through SENS (batches of 100), BizMessage and API PLEX
-- (with and without dedupe_msg_key) against the sandbox server injecting, per send request
-- (one shared draw keyed on the request's body, so every run meets the same faults):
-- 5% connection resets after the request was read, 2% HTTP 500, 1% timeouts (half answered
-- after the client gave up, half never), 1% 429 with Retry-After: 1, 0.5% Kakao 3005, and on
-- SENS / API PLEX 5% partial batches (a fifth of the request's messages answered Kakao 3006).
-- Every row's reported status is set against what its handset got (the sandbox's outbox) and
-- which of its requests reached the server (the attempt log); spec/support/fault_scale.lua.
-- Goals: 0 lost (accepted, never delivered), 0 duplicated (delivered twice), 0 wrong (not_sent
-- or rejected, yet delivered), 0 unclassified, uncertain only where a request carrying the row
-- reached the server ("unc/unsent" 0), at most 3 attempts per message (client count / server
-- arrivals). The baseline is the same run without faults: the time ratio is what the faults
-- cost. BENCH_ROWS (default 10000) rows per provider, BENCH_TIMEOUT (default 1) the client's
-- timeout in seconds.
local server = require "alimtalk.sandbox.server"
local scale = require "support.fault_scale"

local ROWS = tonumber(os.getenv("BENCH_ROWS")) or 10000
local TIMEOUT = tonumber(os.getenv("BENCH_TIMEOUT")) or 1

local s = assert(server.start{ templates = scale.templates, tls = false, delivery_delay = 0.05,
                               shm_size = "256m" })
local runs, base, failed = {}, {}, false
local ok, err = pcall(function()
  -- SENS carries 100 messages a request, so 10,000 rows are only 100 requests: a second run of
  -- 50,000 meets each fault kind more often
  local plan = {
    { "sens" }, { "sens", "sens-50k", nil, 50000 }, { "bizmessage" }, { "apiplex" },
    { "apiplex", "apiplex-dedupe", { dedupe_msg_key = true } },
  }
  for _, p in ipairs(plan) do
    local rows = p[4] and math.max(p[4], ROWS) or ROWS
    local b = scale.run(s, p[1], { rows = rows, timeout = TIMEOUT, label = p[2], client = p[3],
                                   faults = false })
    local t = scale.run(s, p[1], { rows = rows, timeout = TIMEOUT, label = p[2], client = p[3] })
    runs[#runs + 1], base[#base + 1] = t, b
    for _, line in ipairs(t.problems) do print("  " .. t.provider .. ": " .. line) end
    if not scale.ok(t, 3) or b.accepted ~= rows then failed = true end
  end
end)
if ok then
  print(string.format("%d rows per provider, client timeout %g s, max_attempts 3, concurrency 8",
    ROWS, TIMEOUT))
  print(scale.format(runs))
  for i, t in ipairs(runs) do
    print(string.format("  %s: %.1f s with faults vs %.1f s without (%.1fx); goals %s", t.provider,
      t.seconds, base[i].seconds, t.seconds / base[i].seconds, scale.ok(t, 3) and "met" or "MISSED"))
  end
end
local errs = s:lua_errors()
s:stop()
if not ok then error(err, 0) end
if #errs > 0 then print("sandbox errors:\n" .. table.concat(errs, "\n")) failed = true end
if failed then os.exit(1) end
