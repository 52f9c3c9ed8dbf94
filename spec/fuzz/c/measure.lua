-- Properties of core.measure and core.measure_fields over any bytes (libFuzzer target
-- "measure", harness fuzz_lua.c). The reference counts below walk the text with Lua 5.4's own
-- strict UTF-8 decoder (utf8.len/utf8.codepoint reject overlong forms, surrogates and values
-- above U+10FFFF, as the core must).
local FIELDS = { "valid", "bad_offset", "chars", "bytes", "euckr_bytes", "unencodable",
                 "first_unencodable", "lines", "longest_line" }

local function reference(s)
  local r = { chars = 0, ascii = 0, invalid = 0, astral = 0, hangul = 0, lines = 0, longest = 0 }
  local i, n, line = 1, #s, 0
  while i <= n do
    local b = s:byte(i)
    r.chars = r.chars + 1
    if b < 0x80 then
      r.ascii = r.ascii + 1
      if b == 10 or b == 13 then
        if b == 13 and s:byte(i + 1) == 10 then
          r.chars, r.ascii, i = r.chars + 1, r.ascii + 1, i + 1
        end
        if line > r.longest then r.longest = line end
        line, r.lines = 0, r.lines + 1
      else
        line = line + 1
      end
      i = i + 1
    elseif utf8.len(s, i, i) == 1 then
      local cp = utf8.codepoint(s, i)
      if cp >= 0xAC00 and cp <= 0xD7A3 then r.hangul = r.hangul + 1 end
      if cp > 0xFFFF then r.astral = r.astral + 1 end
      line = line + 1
      i = i + #utf8.char(cp)
    else
      r.invalid = r.invalid + 1
      line = line + 1
      i = i + 1
    end
  end
  if line > r.longest then r.longest = line end
  r.lines = n > 0 and r.lines + 1 or 0
  return r
end

function check(s)     -- the harness calls it
  local m = core.measure(s)
  local f = table.pack(core.measure_fields(s))
  assert(f.n == #FIELDS, "measure_fields returned " .. f.n .. " values")
  for i, k in ipairs(FIELDS) do
    assert(m[k] == f[i], k .. ": measure and measure_fields differ")
  end
  assert(m.bytes == #s, "bytes")
  local len, bad = utf8.len(s)
  assert(m.valid == (len ~= nil), "valid disagrees with utf8.len")
  if len then assert(m.bad_offset == nil and m.chars == len, "chars of a valid text")
  else assert(m.bad_offset == bad, "bad_offset " .. tostring(m.bad_offset) .. " ~= " .. bad) end

  local r = reference(s)
  assert(m.chars == r.chars, "chars " .. m.chars .. " ~= " .. r.chars)
  assert(m.lines == r.lines, "lines " .. m.lines .. " ~= " .. r.lines)
  assert(m.longest_line == r.longest, "longest_line " .. m.longest_line .. " ~= " .. r.longest)
  -- CP949 takes 1 byte for ASCII and 2 for every other character it has; invalid bytes
  -- (U+FFFD) and characters outside the BMP it has not, Hangul syllables it always has
  assert(m.euckr_bytes == r.ascii + 2 * (m.chars - r.ascii - m.unencodable), "euckr_bytes")
  assert(m.unencodable >= r.invalid + r.astral, "unencodable misses invalid or astral ones")
  assert(m.unencodable <= m.chars - r.ascii - r.hangul, "unencodable counts ASCII or Hangul")
  assert((m.unencodable == 0) == (m.first_unencodable == nil), "first_unencodable")
  if m.first_unencodable then
    assert(m.first_unencodable >= 1 and m.first_unencodable <= m.chars, "first_unencodable range")
  end
end
