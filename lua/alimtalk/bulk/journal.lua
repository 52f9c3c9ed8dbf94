--- The durable journal of a bulk campaign.
-- One append-only text file, one record per line, tab-separated:
--
--     H  {json}                 header: campaign, input, format, template, to/key columns,
--                               provider, input fingerprint, run options (rate, concurrency,
--                               ...) and setup (registry and configuration files with their
--                               digests); a resume's event may replace options and setup
--     B  boot_id                a run started on this boot of the machine
--     P  row  serial            planned: the row will be sent under this serial
--     C  first  last            chunk: the planned rows in [first, last] may be sent from now
--                               on (fsynced before any of them leaves)
--     G  first  last  provider  going out: these planned rows are in a request about to leave
--                               (flushed to the OS before it leaves)
--     O  row  status  {json}    outcome: accepted | rejected | uncertain | not_sent
--     I  row  {json}            invalid: the reasons (the rejects file is made from these)
--     E  {json}                 event: pause, quota, stop, resume, done
--     X                         void: the line before was cut short (by a crash mid-write)
--
-- Why two levels: a killed process (SIGKILL, OOM) loses nothing the OS already has, so the
-- flushed G records say exactly which requests may have left; a power cut loses what was not
-- fsynced, so then only the fsynced C records count, and every planned row of the chunk is
-- treated as possibly sent. A resume tells the two apart by the boot id (`B`): same boot,
-- the process died; another boot, the machine did. Either way a row that may have been sent
-- is resent only under its same serial where the provider drops duplicates, and otherwise
-- reported as uncertain; a row that certainly was not sent is simply sent.
--
-- Rows are planned in input order, so the highest row seen (the high-water mark) plus the few
-- rows in flight describe the whole campaign: a scan keeps memory flat however long the
-- journal is. One fsync per chunk (default 500 rows) keeps the cost low.
-- @module alimtalk.bulk.journal
local cjson = require("cjson.safe")
local sys = require("alimtalk.bulk.sys")

local _M = {}

local mt = { __name = "alimtalk.bulk.journal" }
local methods = {}
mt.__index = methods

local FINAL = { accepted = true, rejected = true }

-- A set of row numbers as a bitset: 48 rows per number (exact in a double, so the same code
-- works on Lua 5.4 and LuaJIT without bit operators). A campaign of a million rows all
-- not_sent costs about 330 KB, not a table per row.
local W = 48
local POW = {}
for b = 0, W - 1 do POW[b] = 2 ^ b end
local floor = math.floor
local bits_mt = {}
bits_mt.__index = bits_mt

--- A new, empty set of rows (`has`, `set`, `clear`, `each` in ascending order, field `n`).
function _M.bits()
  return setmetatable({ n = 0, top = 0 }, bits_mt)
end

function bits_mt:has(row)
  local w = self[floor(row / W) + 1]
  return w ~= nil and floor(w / POW[row % W]) % 2 == 1
end

function bits_mt:set(row)
  local k = floor(row / W) + 1
  local w = self[k] or 0
  local p = POW[row % W]
  if floor(w / p) % 2 == 0 then
    self[k] = w + p
    self.n = self.n + 1
    if k > self.top then self.top = k end
  end
end

function bits_mt:clear(row)
  local k = floor(row / W) + 1
  local w = self[k]
  local p = POW[row % W]
  if w and floor(w / p) % 2 == 1 then
    self[k] = w - p
    self.n = self.n - 1
  end
end

function bits_mt:each()
  local k, b = 1, -1
  return function()
    while k <= self.top do
      local w = self[k]
      if w and w > 0 then
        b = b + 1
        while b < W do
          if floor(w / POW[b]) % 2 == 1 then return (k - 1) * W + b end
          b = b + 1
        end
      end
      k, b = k + 1, -1
    end
    return nil
  end
end

--- This boot of the machine (Linux), or "unknown".
function _M.boot_id()
  local f = io.open("/proc/sys/kernel/random/boot_id", "r")
  if not f then return "unknown" end
  local id = f:read("l") or "unknown"
  f:close()
  return id
end

--- Iterate over a journal's complete records (voided and cut-short lines skipped).
-- @param f an open file
-- @treturn function iterator giving each line, "\n" included
function _M.records(f)
  local it = f:lines("L")
  local pending = it()
  return function()
    while pending do
      local line = pending
      pending = it()
      if pending == "X\n" then
        pending = it()
      elseif line:sub(-1) == "\n" and line ~= "X\n" then
        return line
      end
    end
    return nil
  end
end

-- The provider a campaign goes through and its run options: the header's (`H`), then each
-- resume's (`E` with event "resume") replacing them. `scan` and `run_provider` both fold
-- their records through this.
local function take_run(st, rec)
  if type(rec) ~= "table" then return end
  if rec.provider then st.run_provider = rec.provider end
  if type(rec.options) == "table" then
    for k, v in pairs(rec.options) do st.options[k] = v end
  end
  -- the setup (alimtalk.bulk.setup): recorded parts replaced one by one; none in older journals
  if type(rec.setup) == "table" then
    st.setup = st.setup or {}
    for k, v in pairs(rec.setup) do st.setup[k] = v end
  end
end

--- The provider a campaign goes through now, its recorded run options and its setup: the
-- header's, as replaced by later resumes (what `scan` calls `run_provider`, `options` and
-- `setup`), read without building the rest of the scan.
-- @tparam string path the journal
-- @treturn string|nil the provider
-- @treturn table the run options recorded (empty for a journal from before they were)
-- @treturn table|nil the setup recorded (nil for a journal from before it was)
function _M.run_provider(path)
  local st = { options = {} }
  local f = io.open(path, "rb")
  if not f then return nil, st.options end
  local seen_header = false
  for line in _M.records(f) do
    local kind = line:sub(1, 1)
    if kind == "H" and not seen_header then
      seen_header = true
      take_run(st, cjson.decode(line:sub(3)))
    elseif kind == "E" and line:find('"resume"', 1, true) then
      local ev = cjson.decode(line:sub(3))
      if type(ev) == "table" and ev.event == "resume" then take_run(st, ev) end
    end
  end
  f:close()
  return st.run_provider, st.options, st.setup
end

--- Iterate over a journal's complete records from the last to the first (voided and
-- cut-short lines skipped), reading 64 KiB blocks from the end: memory stays flat.
-- @param f an open file
-- @treturn function iterator giving each line, "\n" included
function _M.records_backwards(f)
  local pos = f:seek("end")
  local lines, i, carry = {}, 0, ""
  local skip = false
  local first = true
  return function()
    while true do
      while i > 0 do
        local line = lines[i]
        lines[i] = nil
        i = i - 1
        if line == "X\n" then skip = true
        elseif skip then skip = false
        else return line end
      end
      if pos <= 0 then
        if carry ~= "" and carry:sub(-1) == "\n" then
          local line = carry
          carry = ""
          if line ~= "X\n" and not skip then return line end
        end
        return nil
      end
      local n = math.min(65536, pos)
      pos = pos - n
      f:seek("set", pos)
      local text = f:read(n) .. carry
      if first then
        -- a last line cut short (no newline) is no record
        first = false
        text = text:match("^(.*\n)") or ""
      end
      local start = 1
      if pos > 0 then
        local nl = text:find("\n", 1, true)
        if not nl then carry = text; text = ""
        else carry = text:sub(1, nl); start = nl + 1 end
      else
        carry = ""
      end
      -- the block's lines in order; popped from the end, they run backwards
      for line in text:sub(start):gmatch("[^\n]*\n") do
        i = i + 1
        lines[i] = line
      end
    end
  end
end

--- Read a journal and rebuild the campaign's state without holding every row: what must be
-- remembered per row (not_sent or uncertain) is a bit in a bitset.
-- @tparam string path the journal file
-- @treturn table state: `header`, `hwm` (highest row planned or invalid), `planned`
-- (row -> serial: planned, no request recorded), `chunked` (row -> true: planned rows under
-- a C record), `in_flight` (row -> serial: in a request, no outcome), `sent_via` (row ->
-- provider of that request), `run_provider` (the provider of the last run), `not_sent`,
-- `uncertain` (bitsets of the rows whose last outcome is that), `uncertain_at` (provider ->
-- bitset: the uncertain rows that may have reached that provider), `counts` (`accepted`,
-- `rejected`, `invalid`, `not_sent`, `uncertain`), `events` (the last few), `boot_id` (of
-- the last run), `options` (the run options: the header's, as replaced by later resumes),
-- `setup` (what the rows depend on, alimtalk.bulk.setup; nil in older journals), `done`, or
-- nil and a message
function _M.scan(path)
  local f, e = io.open(path, "rb")
  if not f then return nil, e end
  local st = { hwm = 0, planned = {}, chunked = {}, in_flight = {}, sent_via = {}, events = {},
               not_sent = _M.bits(), uncertain = _M.bits(), uncertain_at = {},
               counts = { accepted = 0, rejected = 0, invalid = 0, not_sent = 0, uncertain = 0 },
               lines = 0, options = {} }
  local planned, chunked, in_flight, counts = st.planned, st.chunked, st.in_flight, st.counts
  local sent_via, not_sent, uncertain, uncertain_at = st.sent_via, st.not_sent, st.uncertain, st.uncertain_at
  -- forget a row's not_sent/uncertain outcome (superseded by a new plan or outcome)
  local function unpend(row)
    if not_sent:has(row) then
      not_sent:clear(row)
      counts.not_sent = counts.not_sent - 1
    elseif uncertain:has(row) then
      uncertain:clear(row)
      counts.uncertain = counts.uncertain - 1
      for _, b in pairs(uncertain_at) do b:clear(row) end
    end
  end
  for line in _M.records(f) do
    st.lines = st.lines + 1
    local kind = line:sub(1, 1)
    if kind == "P" then
      local row, serial = line:match("^P\t(%d+)\t([^\t\n]*)\n$")
      row = tonumber(row)
      if row then
        planned[row] = serial
        -- A new plan supersedes an older not_sent/uncertain outcome: from now on the row is
        -- planned (then in flight, then its new outcome), never still "not sent".
        unpend(row)
        if row > st.hwm then st.hwm = row end
      end
    elseif kind == "C" or kind == "G" then
      local a, b, via = line:match("^.\t(%d+)\t(%d+)\t?([^\t\n]*)")
      a, b = tonumber(a), tonumber(b)
      if a then
        for row, serial in pairs(planned) do
          if row >= a and row <= b then
            if kind == "C" then
              chunked[row] = true
            else
              in_flight[row] = serial
              sent_via[row] = via ~= "" and via or nil
              planned[row], chunked[row] = nil, nil
            end
          end
        end
      end
    elseif kind == "O" then
      local row, status, detail = line:match("^O\t(%d+)\t([%w_]+)\t(.*)\n$")
      row = tonumber(row)
      if row then
        in_flight[row], planned[row], chunked[row], sent_via[row] = nil, nil, nil, nil
        unpend(row)
        if FINAL[status] then
          counts[status] = counts[status] + 1
        elseif status == "not_sent" then
          counts.not_sent = counts.not_sent + 1
          not_sent:set(row)
        elseif status == "uncertain" then
          counts.uncertain = counts.uncertain + 1
          uncertain:set(row)
          local via = detail:match('"provider":"([^"]*)"')
          if via then
            uncertain_at[via] = uncertain_at[via] or _M.bits()
            uncertain_at[via]:set(row)
          end
        end
        if row > st.hwm then st.hwm = row end
      end
    elseif kind == "I" then
      local row = tonumber(line:match("^I\t(%d+)\t"))
      if row then
        planned[row], chunked[row], in_flight[row], sent_via[row] = nil, nil, nil, nil
        counts.invalid = counts.invalid + 1
        if row > st.hwm then st.hwm = row end
      end
    elseif kind == "B" then
      st.boot_id = line:match("^B\t([^\n]*)\n$")
    elseif kind == "H" and not st.header then
      st.header = cjson.decode(line:sub(3))
      take_run(st, st.header)
    elseif kind == "E" then
      local ev = cjson.decode(line:sub(3))
      if ev then
        st.events[#st.events + 1] = ev
        if #st.events > 20 then table.remove(st.events, 1) end
        if ev.event == "done" then st.done = ev
        elseif ev.event == "resume" then
          st.done = nil
          take_run(st, ev)
        end
      end
    end
  end
  f:close()
  if not st.header then return nil, "journal " .. path .. " has no header record" end
  return st
end

--- Open a journal for appending (creating it with a header when new) and record this boot.
-- @tparam string path the journal file
-- @tparam[opt] table header written when the file is new
-- @tparam[opt] table opts `fsync` (default true): fsync on durable commits, not just flush
-- @treturn journal or nil and a message
function _M.open(path, header, opts)
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "fsync" then error("alimtalk.bulk.journal.open: unknown option '" .. tostring(k) .. "'", 2) end
  end
  local existed = io.open(path, "rb")
  local ends_cut = false
  if existed then
    local size = existed:seek("end")
    if size > 0 then
      existed:seek("set", size - 1)
      ends_cut = existed:read(1) ~= "\n"
    end
    existed:close()
  end
  local f, e = io.open(path, "ab")
  if not f then return nil, "cannot open journal: " .. tostring(e) end
  f:setvbuf("full")
  local self = setmetatable({ f = f, path = path, fsync = opts.fsync ~= false }, mt)
  -- A crash can leave half a record (the OS got part of a buffer): end it and void it.
  if ends_cut then f:write("\nX\n") end
  if not existed and header then
    f:write("H\t", assert(cjson.encode(header)), "\n")
  end
  f:write("B\t", _M.boot_id(), "\n")
  self:commit(true)
  return self
end

--- Planned: the row will be sent under `serial`.
function methods:planned(row, serial)
  self.f:write("P\t", row, "\t", serial, "\n")
end

--- Chunk: the planned rows in [first, last] may be sent from now on. Commit durably next.
function methods:chunk(first, last)
  self.f:write("C\t", first, "\t", last, "\n")
end

--- Going out: the planned rows in [first, last] are in a request about to leave. Commit next.
function methods:going(first, last, provider)
  self.f:write("G\t", first, "\t", last, "\t", provider or "", "\n")
end

--- Outcome of one row.
-- @tparam integer row
-- @tparam string status accepted | rejected | uncertain | not_sent
-- @tparam table detail provider ids, code, message (no secrets: results never hold any)
function methods:outcome(row, status, detail)
  self.f:write("O\t", row, "\t", status, "\t", assert(cjson.encode(detail or {})), "\n")
end

--- The row is invalid.
-- @tparam integer row
-- @tparam table why `{ error = {...}, input = {...} }`, one line of the rejects file
function methods:invalid(row, why)
  self.f:write("I\t", row, "\t", assert(cjson.encode(why)), "\n")
end

--- An event (pause, quota, stop, resume, done). Commits durably.
function methods:event(t)
  self.f:write("E\t", assert(cjson.encode(t)), "\n")
  self:commit(true)
end

--- Hand what was written to the OS (survives the process being killed); with `durable`,
-- also fsync it (survives a power cut) unless the journal was opened with `fsync = false`.
-- A journal that cannot be made durable cannot protect against double sends, so a failed
-- fsync stops the campaign rather than sending on.
function methods:commit(durable)
  if durable and self.fsync then
    local ok, err = sys.fsync(self.f)
    if not ok then error("alimtalk.bulk.journal: cannot fsync " .. self.path .. ": " .. tostring(err), 2) end
  else
    self.f:flush()
  end
end

--- Close the journal (flushes; safe to call twice).
function methods:close()
  if self.f then self.f:flush(); self.f:close(); self.f = nil end
end

return _M
