--- Streaming readers for bulk campaign input: CSV (RFC 4180, header row) and JSON lines.
-- Rows are read one at a time so memory stays flat however long the file is. CSV records are
-- parsed with an LPeg grammar (quoted fields, doubled quotes, commas and newlines inside
-- quotes); a record that does not parse is returned as an error for that row, not raised, so
-- a campaign can put it in its rejects file and go on.
-- @module alimtalk.bulk.input
local lpeg = require("lpeg")
local cjson = require("cjson.safe")

local _M = {}

local P, C, Cs, Ct = lpeg.P, lpeg.C, lpeg.Cs, lpeg.Ct

-- RFC 4180 record (one logical line, newlines inside quotes included, no trailing newline).
local quoted = P('"') * Cs(((P(1) - P('"')) + P('""') / '"') ^ 0) * P('"')
local bare = C((P(1) - lpeg.S(',"\n')) ^ 0)
local field = quoted + bare
local record = Ct(field * (P(",") * field) ^ 0) * -1

local reader_mt = { __name = "alimtalk.bulk.input" }
local reader = {}
reader_mt.__index = reader

local function count_quotes(s)
  local _, n = s:gsub('"', "")
  return n
end

-- Read one physical line keeping track of the byte offset; strips "\n" and a trailing "\r".
local function read_line(self)
  local line = self.f:read("L")
  if not line then return nil end
  self.offset = self.offset + #line
  line = line:gsub("\r?\n$", "")
  return line
end

-- A quoted field may hold newlines, but a stray quote would otherwise swallow the rest of
-- the file into one row: a record is cut off at this many physical lines or bytes.
_M.MAX_RECORD_LINES = 100
_M.MAX_RECORD_BYTES = 65536

-- Read one CSV record, joining physical lines while a quoted field is open. A record whose
-- quote is still open after MAX_RECORD_LINES lines or MAX_RECORD_BYTES bytes, or at the end
-- of the file, is an error for its first line alone; reading goes on at the next line.
local function read_record(self)
  local line = read_line(self)
  if not line then return nil end
  self.line = self.line + 1
  local first_line = self.line
  local quotes = count_quotes(line)
  if quotes % 2 == 0 then return line, first_line end
  local resume_at = self.offset
  local parts, bytes = { line }, #line
  local why
  while quotes % 2 == 1 do
    if #parts >= _M.MAX_RECORD_LINES then
      why = "runs past " .. _M.MAX_RECORD_LINES .. " lines"
      break
    end
    local more = read_line(self)
    if not more then why = "is still open at the end of the file"; break end
    bytes = bytes + 1 + #more
    if bytes > _M.MAX_RECORD_BYTES then
      why = "runs past " .. _M.MAX_RECORD_BYTES .. " bytes"
      break
    end
    parts[#parts + 1] = more
    quotes = quotes + count_quotes(more)
  end
  if why then
    -- a stray quote: reject this line alone and go on with the next one
    self.f:seek("set", resume_at)
    self.offset, self.line = resume_at, first_line
    return line, first_line, "line " .. first_line .. ": a quoted field " .. why
      .. " (a stray or unclosed quote?)"
  end
  self.line = first_line + #parts - 1
  return table.concat(parts, "\n"), first_line
end

--- Open an input file.
-- @tparam string path the file
-- @tparam[opt] table opts `format` = `"csv"` | `"jsonl"` (default: from the extension,
-- `.jsonl`/`.ndjson`/`.json` are JSON lines, anything else CSV)
-- @treturn reader or nil and an error message
function _M.open(path, opts)
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "format" then error("alimtalk.bulk.input.open: unknown option '" .. tostring(k) .. "'", 2) end
  end
  local format = opts.format
  if not format then
    format = (path:match("%.jsonl$") or path:match("%.ndjson$") or path:match("%.json$")) and "jsonl"
      or "csv"
  end
  if format ~= "csv" and format ~= "jsonl" then
    return nil, "unknown input format '" .. tostring(format) .. "' (csv or jsonl)"
  end
  local f, e = io.open(path, "rb")
  if not f then return nil, "cannot open input: " .. tostring(e) end
  local size = f:seek("end")
  f:seek("set", 0)
  local self = setmetatable({ f = f, path = path, format = format, offset = 0, line = 0,
                              row = 0, size = size }, reader_mt)
  if format == "csv" then
    local text, _, herr = read_record(self)
    if not text then f:close(); return nil, "input " .. path .. " is empty (a CSV needs a header row)" end
    if herr then f:close(); return nil, "input " .. path .. ": the header row: " .. herr end
    text = text:gsub("^\239\187\191", "") -- UTF-8 byte order mark from spreadsheet exports
    local header = record:match(text)
    if not header then f:close(); return nil, "input " .. path .. ": the header row is not valid CSV" end
    local seen = {}
    for i, name in ipairs(header) do
      name = name:match("^%s*(.-)%s*$")
      if name == "" then f:close(); return nil, "input " .. path .. ": header column " .. i .. " is empty" end
      if seen[name] then
        f:close(); return nil, "input " .. path .. ": header column '" .. name .. "' appears twice"
      end
      seen[name] = true
      header[i] = name
    end
    self.header = header
  end
  return self
end

--- Read the next row.
-- @treturn integer the row number (1 = first data row), then the row as a table (CSV: column
-- name -> string; JSON lines: the decoded object), or the row number, nil and a reason when the
-- row is malformed; nil at the end of the input
function reader:next()
  if self.format == "csv" then
    while true do
      local text, line_no, rerr = read_record(self)
      if not text then return nil end
      if rerr then
        self.row = self.row + 1
        return self.row, nil, rerr
      end
      if text:find("[^%s]") then
        self.row = self.row + 1
        local fields = record:match(text)
        if not fields then
          return self.row, nil, "line " .. line_no .. " is not valid CSV (a stray or unclosed quote)"
        end
        if #fields ~= #self.header then
          return self.row, nil, string.format("line %d has %d fields, the header has %d",
                                              line_no, #fields, #self.header)
        end
        local t = {}
        for i, name in ipairs(self.header) do t[name] = fields[i] end
        return self.row, t
      end
    end
  end
  while true do
    local text = read_line(self)
    if not text then return nil end
    self.line = self.line + 1
    if text:find("[^%s]") then
      self.row = self.row + 1
      local v, e = cjson.decode(text)
      if type(v) ~= "table" or v[1] ~= nil then
        return self.row, nil, "line " .. self.line .. " is not a JSON object" ..
          (e and (": " .. tostring(e)) or "")
      end
      return self.row, v
    end
  end
end

--- Fraction of the input read so far (by bytes), 0..1.
function reader:progress()
  if self.size == 0 then return 1 end
  return self.offset / self.size
end

--- Close the file (safe to call twice).
function reader:close()
  if self.f then self.f:close(); self.f = nil end
end

--- Rows of an input whose key an earlier row already has, found with flat memory however long
-- the input is: one pass writes "hash<TAB>row" lines to a scratch file that sort(1) orders by
-- hash, then row, within a fixed budget (16 MiB, spilling to `opts.dir`); the rows after the
-- first of each hash are the repeats. (A Lua table of every key would grow with the input: a
-- million keys take far more than the campaign's whole memory budget.) Needs sort(1).
-- @tparam string path the input
-- @tparam table opts `format` (as for `open`), `dir` (scratch folder, default the system's),
-- `sort` (the sort command, default `sort`)
-- @tparam function key `key(t)`: the row's key (a string) for a parsed row `t`, or nil
-- @tparam function on_repeat `on_repeat(row, first_row)` for each row whose key `first_row` had
-- @treturn true, or nil and a message (the input cannot be read, or sort(1) failed)
function _M.repeats(path, opts, key, on_repeat)
  local core = require "alimtalk.core"
  local r, e = _M.open(path, { format = opts.format })
  if not r then return nil, e end
  local tmp = opts.dir and (opts.dir .. "/keys.tmp") or os.tmpname()
  local sorted = tmp .. ".sorted"
  local f, ferr = io.open(tmp, "wb")
  if not f then r:close() return nil, ferr end
  local n = 0
  while true do
    local row, t = r:next()
    if not row then break end
    local k = t and key(t)
    if k ~= nil then
      f:write(core.hex(core.sha256(k)):sub(1, 32), "\t", row, "\n")
      n = n + 1
    end
  end
  r:close()
  f:close()
  local ok, why = true, nil
  if n > 1 then
    -- into a file and by exit status: a pipe's close() does not report it on LuaJIT
    local sys = require "alimtalk.bulk.sys"
    local q = sys.quote
    local sf = sys.run("LC_ALL=C " .. (opts.sort or "sort") .. " -S 16M"
      .. (opts.dir and " -T " .. q(opts.dir) or "") .. " -t '\t' -k1,1 -k2,2n -o " .. q(sorted)
      .. " -- " .. q(tmp) .. " 2>/dev/null") and io.open(sorted, "rb")
    if sf then
      local last, first
      for line in sf:lines() do
        local h, row = line:match("^(%x+)\t(%d+)$")
        row = tonumber(row)
        if h == last then on_repeat(row, first) else last, first = h, row end
      end
      sf:close()
    else
      ok, why = nil, "sort(1) failed: repeated keys were not looked for"
    end
  end
  os.remove(tmp)
  os.remove(sorted)
  return ok, why
end

return _M
