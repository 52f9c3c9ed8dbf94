--- The durable journal of a bulk campaign.
-- One append-only text file, one record per line, tab-separated:
--
--     H  {json}                 header: campaign, input, template, provider, input fingerprint
--     P  row  serial            planned: the row will be sent under this serial
--     G  first  last  provider  going out: every planned row in [first, last] without an
--                               outcome is now being sent (committed before the request leaves)
--     O  row  status  {json}    outcome: accepted | rejected | uncertain | not_sent
--     I  row  {json}            invalid: the reasons (the rejects file is made from these)
--     E  {json}                 event: pause, quota, stop, resume
--
-- The order P (commit) G (commit) send O is what makes a crash safe: a row with P but no G was
-- never sent; a row with G and no O may have been sent, so it is resent only under the same
-- serial where the provider drops duplicates, and otherwise reported as uncertain. Rows are
-- planned in input order, so the highest row seen (the high-water mark) plus the few rows in
-- flight describe the whole campaign: a scan keeps memory flat however long the journal is.
-- @module alimtalk.bulk.journal
local cjson = require("cjson.safe")
local sys = require("alimtalk.bulk.sys")

local _M = {}

local mt = { __name = "alimtalk.bulk.journal" }
local methods = {}
mt.__index = methods

local FINAL = { accepted = true, rejected = true }

--- Read a journal and rebuild the campaign's state without holding every row.
-- @tparam string path the journal file
-- @treturn table state: `header`, `hwm` (highest row planned or invalid), `planned`
-- (row -> serial: planned, never sent), `in_flight` (row -> serial: sent, no outcome),
-- `redo` (row -> { status, serial }: last outcome not_sent or uncertain), `counts`
-- (`accepted`, `rejected`, `invalid`, `not_sent`, `uncertain`), `events` (the last few),
-- `partial` (true when the last line was cut short), or nil and a message
function _M.scan(path)
  local f, e = io.open(path, "rb")
  if not f then return nil, e end
  local st = { hwm = 0, planned = {}, in_flight = {}, redo = {}, events = {},
               counts = { accepted = 0, rejected = 0, invalid = 0, not_sent = 0, uncertain = 0 },
               lines = 0 }
  for line in f:lines("L") do
    st.lines = st.lines + 1
    if line:sub(-1) ~= "\n" then st.partial = true break end
    local kind = line:sub(1, 1)
    if kind == "P" then
      local row, serial = line:match("^P\t(%d+)\t([^\t\n]*)\n$")
      row = tonumber(row)
      if row then
        st.planned[row] = serial
        if row > st.hwm then st.hwm = row end
      end
    elseif kind == "G" then
      local a, b = line:match("^G\t(%d+)\t(%d+)")
      a, b = tonumber(a), tonumber(b)
      if a then
        for row, serial in pairs(st.planned) do
          if row >= a and row <= b then
            st.in_flight[row] = serial
            st.planned[row] = nil
          end
        end
      end
    elseif kind == "O" then
      local row, status, detail = line:match("^O\t(%d+)\t([%w_]+)\t(.*)\n$")
      row = tonumber(row)
      if row then
        local serial = st.in_flight[row] or st.planned[row] or (st.redo[row] and st.redo[row].serial)
        st.in_flight[row], st.planned[row] = nil, nil
        local old = st.redo[row]
        if old then st.counts[old.status] = st.counts[old.status] - 1; st.redo[row] = nil end
        if FINAL[status] then
          st.counts[status] = st.counts[status] + 1
        elseif status == "not_sent" or status == "uncertain" then
          st.counts[status] = st.counts[status] + 1
          st.redo[row] = { status = status, serial = serial, detail = detail }
        end
        if row > st.hwm then st.hwm = row end
      end
    elseif kind == "I" then
      local row = tonumber(line:match("^I\t(%d+)\t"))
      if row then
        st.planned[row], st.in_flight[row] = nil, nil
        st.counts.invalid = st.counts.invalid + 1
        if row > st.hwm then st.hwm = row end
      end
    elseif kind == "H" and not st.header then
      st.header = cjson.decode(line:sub(3))
    elseif kind == "E" then
      local ev = cjson.decode(line:sub(3))
      if ev then
        st.events[#st.events + 1] = ev
        if #st.events > 20 then table.remove(st.events, 1) end
        if ev.event == "done" then st.done = ev elseif ev.event == "resume" then st.done = nil end
      end
    end
  end
  f:close()
  if not st.header then return nil, "journal " .. path .. " has no header record" end
  return st
end

--- Open a journal for appending (creating it with a header when new).
-- @tparam string path the journal file
-- @tparam[opt] table header written when the file is new
-- @tparam[opt] table opts `fsync` (default true): fsync on every commit, not just flush
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
  -- A power cut can leave half a record: end it so the next record starts on its own line
  -- (scan ignores the malformed remnant).
  if ends_cut then f:write("\n") end
  if not existed and header then
    self:write("H\t" .. assert(cjson.encode(header)) .. "\n")
    self:commit()
  end
  return self
end

function methods:write(s)
  self.f:write(s)
end

--- Planned: the row will be sent under `serial`.
function methods:planned(row, serial)
  self.f:write("P\t", row, "\t", serial, "\n")
end

--- Going out: the planned rows in [first, last] are about to be sent. Call `commit` next.
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

--- An event (pause, quota, stop, resume, done).
function methods:event(t)
  self.f:write("E\t", assert(cjson.encode(t)), "\n")
  self:commit()
end

--- Make everything written so far durable.
function methods:commit()
  if self.fsync then sys.fsync(self.f, self.path) else self.f:flush() end
end

--- Close the journal (flushes; safe to call twice).
function methods:close()
  if self.f then self.f:flush(); self.f:close(); self.f = nil end
end

return _M
