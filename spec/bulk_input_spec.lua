-- Streaming input readers for bulk campaigns: CSV by RFC 4180 (LPeg grammar) and JSON lines.
local input = require("alimtalk.bulk.input")
local fs = require("support.fs")

local write = fs.write

local function read_all(path, opts)
  local r = assert(input.open(path, opts))
  local rows = {}
  while true do
    local n, t, e = r:next()
    if not n then break end
    rows[#rows + 1] = { n = n, t = t, e = e }
  end
  r:close()
  return rows, r
end

describe("bulk.input", function()
  local tmp = os.tmpname()
  after_each(function() os.remove(tmp) end)

  it("reads quoted fields: commas, doubled quotes, newlines, CRLF and a byte order mark", function()
    write(tmp, '\239\187\191to, name ,note\r\n010-1234-5678,"홍, 길동","he said ""hi""\nand left"\r\n'
      .. "\n010-2222-3333,bob,\n")
    local rows = read_all(tmp, { format = "csv" })
    assert.are.equal(2, #rows)
    assert.are.same({ to = "010-1234-5678", name = "홍, 길동", note = 'he said "hi"\nand left' }, rows[1].t)
    assert.are.same({ to = "010-2222-3333", name = "bob", note = "" }, rows[2].t)
    assert.are.equal(2, rows[2].n) -- the blank line is not a row
  end)

  it("returns a malformed row as an error for that row and goes on", function()
    write(tmp, 'to,name\n010-1,a\n010-2,"b"x\n010-3\n010-4,"d"\n')
    local rows = read_all(tmp)
    assert.are.same({ to = "010-1", name = "a" }, rows[1].t)
    assert.is_nil(rows[2].t)
    assert.matches("line 3 is not valid CSV", rows[2].e)
    assert.matches("line 4 has 1 fields, the header has 2", rows[3].e)
    assert.are.same({ to = "010-4", name = "d" }, rows[4].t)
    assert.are.equal(4, rows[4].n)
  end)

  it("rejects just the row of a stray quote and goes on at the next line", function()
    local t = { "to,name" }
    t[2] = '010-0001,"stray'
    for i = 2, 500 do t[#t + 1] = string.format("010-%04d,name%d", i, i) end
    write(tmp, table.concat(t, "\n") .. "\n")
    local rows = read_all(tmp)
    assert.are.equal(500, #rows)
    assert.is_nil(rows[1].t)
    assert.matches("line 2: a quoted field runs past 100 lines", rows[1].e)
    for i = 2, 500 do
      assert.are.same({ to = string.format("010-%04d", i), name = "name" .. i }, rows[i].t)
    end
    -- an unclosed quote near the end of the file: that row only
    write(tmp, 'to,name\n010-1,a\n010-2,"b\n010-3,c\n')
    rows = read_all(tmp)
    assert.are.equal(3, #rows)
    assert.matches("line 3: a quoted field is still open at the end of the file", rows[2].e)
    assert.are.same({ to = "010-3", name = "c" }, rows[3].t)
    assert.are.equal(3, rows[3].n)
  end)

  it("caps a quoted field at 64 KiB, and keeps a long legitimate one under the caps", function()
    local big = string.rep("가", 8000) -- 24,000 bytes a line
    write(tmp, 'to,note\n010-1,"' .. big .. "\n" .. big .. "\n" .. big .. '"\n010-2,ok\n')
    local rows = read_all(tmp)
    assert.matches("line 2: a quoted field runs past 65536 bytes", rows[1].e)
    -- the field's inner lines are read again as rows of their own, then the next real row
    assert.are.same({ to = "010-2", note = "ok" }, rows[#rows].t)
    local lines = {}
    for i = 1, 99 do lines[i] = "line " .. i end
    write(tmp, 'to,note\n010-1,"' .. table.concat(lines, "\n") .. '"\n010-2,ok\n')
    rows = read_all(tmp)
    assert.are.equal(2, #rows)
    assert.are.equal(table.concat(lines, "\n"), rows[1].t.note)
    assert.are.same({ to = "010-2", note = "ok" }, rows[2].t)
  end)

  it("refuses a header with an empty or repeated column", function()
    write(tmp, "to,,name\n1,2,3\n")
    local r, e = input.open(tmp)
    assert.is_nil(r)
    assert.matches("header column 2 is empty", e)
    write(tmp, "to,name,name\n1,2,3\n")
    r, e = input.open(tmp)
    assert.is_nil(r)
    assert.matches("'name' appears twice", e)
    write(tmp, "")
    r, e = input.open(tmp)
    assert.is_nil(r)
    assert.matches("empty", e)
  end)

  it("reads JSON lines, one message object per line, and reports a bad line", function()
    local path = tmp .. ".jsonl"
    write(path, '{"to":"010-1","vars":{"name":"a"}}\n\n[1,2]\n{"to":"010-3"\n{"to":"010-4","template":"t"}\n')
    local rows = read_all(path)
    os.remove(path)
    assert.are.same({ to = "010-1", vars = { name = "a" } }, rows[1].t)
    assert.matches("line 3 is not a JSON object", rows[2].e)
    assert.matches("line 4 is not a JSON object", rows[3].e)
    assert.are.same({ to = "010-4", template = "t" }, rows[4].t)
    assert.are.equal(4, rows[4].n)
  end)

  it("tracks how much of the file was read", function()
    write(tmp, "to\n1\n2\n3\n")
    local r = assert(input.open(tmp))
    assert.is_true(r:progress() < 0.5)
    while r:next() do end
    assert.are.equal(1, r:progress())
    r:close()
    r:close()
  end)

  it("finds the rows whose key an earlier row has, with the first row of each key", function()
    local rows = { "to,code" }
    for i = 1, 3000 do rows[#rows + 1] = "0101234" .. string.format("%04d", i) .. "," .. (i % 1000) end
    rows[#rows + 1] = "01099990000,"        -- no key: never a repeat
    rows[#rows + 1] = "01099990001,"
    write(tmp, table.concat(rows, "\n") .. "\n")
    local seen = {}
    local ok = input.repeats(tmp, { format = "csv" }, function(t)
      if t.code ~= "" then return t.code end
    end, function(row, first) seen[#seen + 1] = { row, first } end)
    assert.is_true(ok)
    assert.equal(2000, #seen)           -- keys 0..999 each come 3 times
    table.sort(seen, function(a, b) return a[1] < b[1] end)
    assert.same({ 1001, 1 }, seen[1])   -- row 1001 has code 1, first seen at row 1
    assert.same({ 3000, 1000 }, seen[2000])
    -- no sort(1): said, on every runtime (a pipe's close() hides the failure on LuaJIT)
    local ok2, why = input.repeats(tmp, { format = "csv", sort = "/nonexistent/sort" }, function(t)
      if t.code ~= "" then return t.code end
    end, function() error("no repeat can be known without sort") end)
    assert.is_nil(ok2)
    assert.matches("sort(1) failed", why, 1, true)
    -- the reader validate and render use hands the warning to its caller (not to stderr)
    local campaign = require("alimtalk.bulk.campaign")
    local it, _, warning = campaign.rows{ input = tmp, format = "csv", key_column = "code",
      template = "welcome", campaign = "c", check_serials = true, sort = "/nonexistent/sort" }
    assert.is_function(it)
    assert.matches("sort(1) failed", warning, 1, true)
    local n = 0
    for _ in it do n = n + 1 end
    assert.equal(3002, n)
  end)

  it("raises on an unknown option (misuse)", function()
    write(tmp, "to\n1\n")
    assert.has_error(function() input.open(tmp, { delimiter = ";" }) end)
  end)
end)
