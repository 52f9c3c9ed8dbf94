--- The durable journal of a bulk campaign.
-- One append-only text file, one record per line, tab-separated:
--
--     H  {json}                 header: campaign, input, template, provider, input fingerprint
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

--- Read a journal and rebuild the campaign's state without holding every row.
-- @tparam string path the journal file
-- @treturn table state: `header`, `hwm` (highest row planned or invalid), `planned`
-- (row -> serial: planned, no request recorded), `chunked` (row -> true: planned rows under
-- a C record), `in_flight` (row -> serial: in a request, no outcome), `sent_via` (row ->
-- provider of that request), `run_provider` (the provider of the last run), `redo` (row ->
-- { status, serial, detail, provider }: last outcome not_sent or uncertain), `counts` (`accepted`,
-- `rejected`, `invalid`, `not_sent`, `uncertain`), `events` (the last few), `boot_id` (of
-- the last run), `done`, or nil and a message
function _M.scan(path)
  local f, e = io.open(path, "rb")
  if not f then return nil, e end
  local st = { hwm = 0, planned = {}, chunked = {}, in_flight = {}, sent_via = {}, redo = {}, events = {},
               counts = { accepted = 0, rejected = 0, invalid = 0, not_sent = 0, uncertain = 0 },
               lines = 0 }
  local planned, chunked, in_flight, redo, counts = st.planned, st.chunked, st.in_flight, st.redo, st.counts
  local sent_via = st.sent_via
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
        local old = redo[row]
        if old then counts[old.status] = counts[old.status] - 1; redo[row] = nil end
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
        local serial = in_flight[row] or planned[row] or (redo[row] and redo[row].serial)
        in_flight[row], planned[row], chunked[row], sent_via[row] = nil, nil, nil, nil
        local old = redo[row]
        if old then counts[old.status] = counts[old.status] - 1; redo[row] = nil end
        if FINAL[status] then
          counts[status] = counts[status] + 1
        elseif status == "not_sent" or status == "uncertain" then
          counts[status] = counts[status] + 1
          redo[row] = { status = status, serial = serial, detail = detail,
                        provider = status == "uncertain" and detail:match('"provider":"([^"]*)"') or nil }
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
      st.run_provider = st.header and st.header.provider
    elseif kind == "E" then
      local ev = cjson.decode(line:sub(3))
      if ev then
        st.events[#st.events + 1] = ev
        if #st.events > 20 then table.remove(st.events, 1) end
        if ev.event == "done" then st.done = ev
        elseif ev.event == "resume" then
          st.done = nil
          if ev.provider then st.run_provider = ev.provider end
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
