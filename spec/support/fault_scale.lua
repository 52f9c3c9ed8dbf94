--- Faults at scale: N messages through one provider of a sandbox server that injects the
-- failures a production run meets, then every row's reported status set against what the
-- handset got (the sandbox's outbox) and what reached the server (its attempt log).
-- Used by spec/faults_scale_spec.lua (small) and bench/faults_bench.lua (10,000 per provider).
--
--     local scale = require "support.fault_scale"
--     local t = scale.run(s, "sens", { rows = 500, timeout = 0.5 })
--     print(scale.format({ t }))
--
-- The faults (one shared draw per send request, keyed on its body, so the same messages meet
-- the same faults in every run; see docs/sandbox.md "Fault injection"):
--   5%   reset_after   processed, connection closed without an answer
--   2%   HTTP 500      unprocessed
--   0.5% delay        processed, answered after the client's timeout (a late success)
--   0.5% stall        never processed, never answered (the client times out)
--   1%   HTTP 429      Retry-After: 1, unprocessed
--   0.5% Kakao 3005   every message of the request (delivered anyway: AckTimeout)
--   5%   partial      SENS / API PLEX: 20% of the request's messages answered Kakao 3006
--                     (retryable, not stored), the rest accepted
-- Each row gets its own recipient, so the outbox says exactly what its handset received.
local core = require "alimtalk.core"
local cjson = require "cjson.safe"
local alimtalk = require "alimtalk"
local curl = require "alimtalk.transport.curl"

local _M = {}

_M.templates = require("alimtalk.sandbox.server").lua_root():gsub("/lua$", "")
  .. "/spec/fixtures/templates.json"

--- The send requests of each provider (the faults match only these).
_M.SEND_PATH = { sens = "/messages$", bizmessage = "^/v2/send/kakao$", apiplex = "/v2/send$" }

--- The fault mix for `provider`; `timeout` is the client's, so late answers come after it.
function _M.faults(provider, timeout, seed)
  local list = {
    { kind = "reset_after", rate = 0.05 },
    { kind = "status", status = 500, rate = 0.02 },
    { kind = "delay", delay = timeout * 2, rate = 0.005 },
    { kind = "stall", delay = timeout * 2, rate = 0.005 },
    { kind = "status", status = 429, retry_after = 1, rate = 0.01 },
    { kind = "code", code = "3005", rate = 0.005 },
  }
  if provider ~= "bizmessage" then
    -- one message per BizMessage request: no partial batch there
    list[#list + 1] = { kind = "code", code = "3006", message_rate = 0.2, rate = 0.05 }
  end
  for _, f in ipairs(list) do
    f.provider, f.path, f.method = provider, _M.SEND_PATH[provider], "POST"
    f.key, f.group, f.seed = "body", "mix", seed or 1
  end
  return list
end

-- National digits of a number in any spelling (010..., +8210..., 8210...).
local function national(n)
  n = tostring(n or ""):gsub("%D", "")
  if n:sub(1, 2) == "82" and #n > 10 then n = "0" .. n:sub(3) end
  return n
end

-- The digest the sandbox logs for a body (alimtalk.sandbox.emu.faults: HMAC of its pieces
-- between { } [ ] , sorted), computed here on its own.
local function digest(body)
  local pieces = {}
  for piece in body:gmatch("[^{}%[%],]+") do pieces[#pieces + 1] = piece end
  table.sort(pieces)
  return core.hex(core.hmac_sha256("sandbox-fault-body", table.concat(pieces, ",")))
end

-- The recipients a send request carries, by provider.
local function recipients(provider, body)
  local doc = cjson.decode(body)
  local out = {}
  if type(doc) ~= "table" then return out end
  if provider == "sens" then
    for _, m in ipairs(doc.messages or {}) do out[#out + 1] = m.to end
  elseif provider == "bizmessage" then
    out[1] = doc.phone_number
  else
    for _, m in ipairs(doc.msg_data or {}) do out[#out + 1] = m.receiver_number end
  end
  return out
end

-- A curl transport that notes, for every send request, which rows it carried (by body digest).
local function recording(provider, topts, carried)
  local inner = curl.new(topts)
  local path = _M.SEND_PATH[provider]
  local function note(req)
    local p = req.url:match("^%a+://[^/]+(/[^?]*)") or ""
    if req.method == "POST" and p:find(path) then
      local d = digest(req.body or "")
      if not carried[d] then carried[d] = recipients(provider, req.body or "") end
    end
  end
  local t = { queues = true, limit = topts.max_connections or 8 }
  function t.request(_, req) note(req) return inner:request(req) end
  function t.request_many(_, reqs)
    for _, r in ipairs(reqs) do note(r) end
    return inner:request_many(reqs)
  end
  function t.submit(_, req) note(req) return inner:submit(req) end
  function t.wait(_, timeout) return inner:wait(timeout) end
  function t.close() inner:close() end
  return t
end

--- Send `opts.rows` messages through `provider` of sandbox `s` under the fault mix, and
-- reconcile. opts: rows, timeout (client, seconds), seed, concurrency, max_attempts (3),
-- label, client (extra provider options, e.g. { dedupe_msg_key = true }), faults (false: none,
-- the baseline).
-- @treturn table the row counts (see `format`) plus `results` and `problems` (lists)
function _M.run(s, provider, opts)
  local rows, timeout = opts.rows, opts.timeout or 1
  assert(s:reset())
  if opts.faults ~= false then assert(s:fault(_M.faults(provider, timeout, opts.seed))) end
  local carried = {}
  local po = s:client_options(provider, opts.client)
  po.timeout, po.connect_timeout = timeout, timeout
  po.transport = recording(provider, { ca_file = po.ca_file, timeout = timeout,
    connect_timeout = timeout, max_connections = opts.concurrency or 8 }, carried)
  local transport = po.transport
  local client = assert(alimtalk.new{ provider = provider, [provider] = po,
    templates = opts.templates or _M.templates, concurrency = opts.concurrency or 8,
    retry = { max_attempts = opts.max_attempts or 3, base_delay = 0.05, max_delay = 0.5 } })
  local msgs, row_of = {}, {}
  local tag = opts.label or provider
  for i = 1, rows do
    local to = string.format("0109%07d", i)
    row_of[to] = i
    msgs[i] = { id = tag .. "-" .. i, to = to, template = "welcome",
                vars = { name = "고객" .. i, date = "2026-12-07" } }
  end
  local t0 = core.monotonic()
  local results = client:send_batch(msgs)
  local elapsed = core.monotonic() - t0
  client:close()
  transport:close()
  -- Late answers (delay faults) are processed after the client gave up: wait until each one
  -- that fired is in the attempt log (bounded).
  local deadline = core.monotonic() + timeout * 2 + 2
  repeat
    local late = 0
    for _, f in ipairs(assert(s:faults())) do
      if f.kind == "delay" then late = late + f.fired end
    end
    local logged = 0
    for _, a in ipairs(assert(s:attempts({ provider = provider }))) do
      if a.fault == "delay" then logged = logged + 1 end
    end
    if logged >= late then break end
    core.sleep(0.05)
  until core.monotonic() > deadline

  local got = {}          -- row -> times its handset got it
  for _, m in ipairs(assert(s:outbox({ provider = provider }))) do
    local i = row_of[national(m.to)]
    if i then got[i] = (got[i] or 0) + 1 end
  end
  local label = {}        -- fault id -> what the table calls it
  for _, f in ipairs(assert(s:faults())) do
    label[f.id] = f.kind == "status" and string.format("HTTP %d", f.status)
      or f.kind == "code" and ("code " .. f.code .. (f.message_rate and " (partial)" or ""))
      or f.kind
  end
  local arrived, fired, requests = {}, {}, 0   -- row -> requests carrying it that reached the server
  for _, a in ipairs(assert(s:attempts({ provider = provider }))) do
    if a.method == "POST" and a.path:find(_M.SEND_PATH[provider]) then
      requests = requests + 1
      if a.fault_id then
        local k = label[a.fault_id] or a.fault
        fired[k] = (fired[k] or 0) + 1
      end
      local d = a.body and a.body:match("^(%x+):")
      for _, to in ipairs(d and carried[d] or {}) do
        local i = row_of[national(to)]
        if i then arrived[i] = (arrived[i] or 0) + 1 end
      end
    end
  end

  local t = { provider = tag, rows = rows, requests = requests, seconds = elapsed, fired = fired,
              accepted = 0, rejected = 0, not_sent = 0, uncertain = 0, uncertain_delivered = 0,
              lost = 0, duplicated = 0, wrong = 0, unclassified = 0, uncertain_unsent = 0,
              max_attempts = 0, max_arrivals = 0, delivered = 0, results = results, problems = {} }
  local function problem(i, what)
    if #t.problems < 20 then
      local r = results[i]
      t.problems[#t.problems + 1] = string.format("row %d: %s (status %s, code %s, attempts %d, "
        .. "handset %d, arrived %d)", i, what, tostring(r.status), tostring(r.code), r.attempts or 0,
        got[i] or 0, arrived[i] or 0)
    end
  end
  for i = 1, rows do
    local r, n = results[i], got[i] or 0
    local st = r.status
    if n > 0 then t.delivered = t.delivered + 1 end
    if n > 1 then t.duplicated = t.duplicated + 1 problem(i, "delivered twice") end
    t.max_attempts = math.max(t.max_attempts, r.attempts or 0)
    t.max_arrivals = math.max(t.max_arrivals, arrived[i] or 0)
    if st == "accepted" then
      t.accepted = t.accepted + 1
      if n == 0 then t.lost = t.lost + 1 problem(i, "accepted, never delivered") end
    elseif st == "rejected" or st == "not_sent" then
      t[st] = t[st] + 1
      -- reported as safe to send again, yet the handset has it: a resend would duplicate it
      if n > 0 then t.wrong = t.wrong + 1 problem(i, st .. ", yet delivered") end
    elseif st == "uncertain" then
      t.uncertain = t.uncertain + 1
      if n > 0 then t.uncertain_delivered = t.uncertain_delivered + 1 end
      -- uncertain is right only where a request carrying it reached the server
      if (arrived[i] or 0) == 0 then
        t.uncertain_unsent = t.uncertain_unsent + 1
        problem(i, "uncertain, but no request carrying it reached the server")
      end
    else
      t.unclassified = t.unclassified + 1
      problem(i, "no final status")
    end
  end
  return t
end

--- Whether a run met the goals: nothing lost, duplicated, misreported or unclassified, no
-- uncertain row without a request out, at most `max` attempts (client and server side).
function _M.ok(t, max)
  max = max or 3
  return t.lost == 0 and t.duplicated == 0 and t.wrong == 0 and t.unclassified == 0
    and t.uncertain_unsent == 0 and t.max_attempts <= max and t.max_arrivals <= max
end

local function fired_text(f)
  local keys = {}
  for k in pairs(f) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. " " .. f[k] end
  return table.concat(parts, ", ")
end

--- The table of runs, one line per provider, with the faults each met below it.
function _M.format(list)
  local head = string.format("%-18s %6s %5s %8s %6s %6s %9s %9s %5s %5s %5s %6s %8s %9s %6s",
    "provider", "rows", "reqs", "accepted", "rejct", "n_sent", "uncertain", "(deliv'd)", "lost",
    "dup", "wrong", "unclas", "unc/unsent", "max att", "s")
  local out = { head }
  for _, t in ipairs(list) do
    out[#out + 1] = string.format("%-18s %6d %5d %8d %6d %6d %9d %9d %5d %5d %5d %6d %8d %4d/%-4d %6.1f",
      t.provider, t.rows, t.requests, t.accepted, t.rejected, t.not_sent, t.uncertain,
      t.uncertain_delivered, t.lost, t.duplicated, t.wrong, t.unclassified, t.uncertain_unsent,
      t.max_attempts, t.max_arrivals, t.seconds)
  end
  for _, t in ipairs(list) do
    out[#out + 1] = "  " .. t.provider .. " faults: " .. fired_text(t.fired)
  end
  return table.concat(out, "\n")
end

return _M
