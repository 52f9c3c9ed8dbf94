-- The CSV and JSON lines readers (lua/alimtalk/bulk/input.lua). Properties: rows written as
-- RFC 4180 CSV (quotes, commas, CR and LF inside fields) or as JSON lines read back exactly,
-- numbered 1, 2, ...; a mutated file never raises: open gives a reader or nil and a message,
-- next gives (row, table) or (row, nil, reason) with rows counting up, then nil.
local input = require "alimtalk.bulk.input"
local cjson = require "cjson"

local PATH = os.tmpname()
-- no CR inside fields: the reader reads a line break inside quotes as LF (a CR before it,
-- written or part of a CRLF file, is dropped), a normalization, not a round trip
local FIELD = 'ab ,"\n주x'

local function write(s)
  local f = assert(io.open(PATH, "wb"))
  f:write(s)
  f:close()
end

local function quote(v)
  if v:find('[,"\r\n]') or v == "" then return '"' .. v:gsub('"', '""') .. '"' end
  return v
end

local function read_all(format)
  local r, err = input.open(PATH, { format = format })
  if not r then
    assert(type(err) == "string", "open failed without a message")
    return nil
  end
  local rows, last = {}, 0
  for _ = 1, 100000 do
    local row, t, why = r:next()
    if not row then break end
    assert(row == last + 1, "row numbers do not count up")
    last = row
    assert((type(t) == "table") ~= (type(why) == "string"), "a row is neither a table nor a reason")
    rows[row] = t or false
  end
  assert(r:next() == nil, "a reader goes on after its end")
  local p = r:progress()
  assert(p >= 0 and p <= 1, "progress outside 0..1")
  r:close()
  r:close()
  return rows
end

local _M = {}

function _M.run(g)
  local jsonl = g:chance(0.4)
  local ncol = g:int(1, 4)
  local header = {}
  for i = 1, ncol do header[i] = "c" .. i end
  local rows = {}
  for i = 1, g:int(0, 6) do
    local row = {}
    for c = 1, ncol do row[header[c]] = g:bytes(g:int(0, 5), jsonl and (FIELD .. "\0\\") or FIELD) end
    rows[i] = row
  end
  local lines = {}
  if jsonl then
    for i, row in ipairs(rows) do lines[i] = cjson.encode(row) end
  else
    local h = {}
    for i, name in ipairs(header) do h[i] = name end
    lines[1] = table.concat(h, ",")
    for _, row in ipairs(rows) do
      local f = {}
      for c, name in ipairs(header) do f[c] = quote(row[name]) end
      -- a row of one empty field would read as a blank line, which is skipped
      lines[#lines + 1] = table.concat(f, ",")
    end
  end
  local text = table.concat(lines, g:chance(0.5) and "\r\n" or "\n") .. (g:chance(0.5) and "\n" or "")
  local format = jsonl and "jsonl" or "csv"
  if g:chance(0.5) then
    write(text)
    g.case = text
    local got = read_all(format)
    assert(got, "a well-formed file does not open")
    local n = 0
    for _ in pairs(got) do n = n + 1 end
    local want_n = #rows
    if not jsonl and ncol == 1 then   -- blank lines are skipped: rows of one empty field
      want_n = 0
      for _, row in ipairs(rows) do if row.c1:find("[^%s]") or row.c1 == "" then want_n = want_n + 1 end end
    end
    if jsonl or ncol > 1 then
      assert(n == want_n, "read " .. n .. " rows of " .. want_n)
      for i, row in ipairs(rows) do
        assert(got[i], "row " .. i .. " refused")
        for k, v in pairs(row) do assert(got[i][k] == v, "row " .. i .. " field " .. k .. " differs") end
      end
    end
  else
    local m = g:mutate(text, g:int(1, 6))
    write(m)
    g.case = m
    read_all(format)
  end
end

return _M
