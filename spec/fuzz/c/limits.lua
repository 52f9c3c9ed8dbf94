-- Properties of core.limit_spec, core.within and core.within_values (libFuzzer target "limits",
-- harness fuzz_lua.c). The input is split into a limit table and texts:
--   byte 1: the number of specs (mod 6); then 4 bytes per spec: unit, flags, min, max;
--   the rest: texts separated by 0x1F, the first checked with within, all of them (some as
--   numbers, some beside values that are not texts) with within_values.
-- The verdicts must be the ones computed here from core.measure with the amounts
-- alimtalk.validate.rules defines, and a limit table that is not one must raise, never crash.
local UNITS = { "chars", "bytes", "cp949", "lines", "line_chars", "items", "" }
local TEXT_UNIT = { chars = true, bytes = true, cp949 = true, lines = true, line_chars = true }

-- A bound from a flag (2 bits choose its kind) and a byte.
local function bound(kind, b)
  if kind == 0 then return b % 64                                -- small integers, the usual
  elseif kind == 1 then return b / 4 - 8                           -- fractions, negatives
  elseif kind == 2 then
    local odd = { 0 / 0, math.huge, -math.huge, math.maxinteger, math.mininteger, 2 ^ 53 + 1, -0.0 }
    return odd[b % #odd + 1]
  end
  local bad = { "5", false, true, {} }                            -- not numbers: misuse
  return bad[b % #bad + 1]
end

local function decode(s)
  local specs, misuse = {}, false
  local n, pos = (s:byte(1) or 0) % 6, 2
  for i = 1, n do
    local u, f, lo, hi = s:byte(pos, pos + 3)
    if not hi then break end
    pos = pos + 4
    local sp
    if f % 16 == 15 then sp = "not a spec"; misuse = misuse or "entry"
    else
      sp = { unit = UNITS[u % #UNITS + 1], text_only = (f & 1) == 1 or nil }
      if f & 2 ~= 0 then sp.min = bound((f >> 4) & 3, lo) end
      if f & 4 ~= 0 then sp.max = bound((f >> 6) & 3, hi) end
      if u % 17 == 16 then sp.unit = nil end
    end
    specs[i] = sp
  end
  local texts = {}
  for t in (s:sub(pos) .. "\31"):gmatch("(.-)\31") do texts[#texts + 1] = t end
  return specs, texts
end

-- What limit_spec must do with specs: "raise", "nil" (a unit that is not a text's, checked in
-- Lua), or "ok"; entries are read in order, the first bad one decides.
local function expect(specs)
  for _, sp in ipairs(specs) do
    if type(sp) ~= "table" then return "raise" end
    if not TEXT_UNIT[sp.unit] then return "nil" end
    for _, k in ipairs({ "min", "max" }) do
      if sp[k] ~= nil and type(sp[k]) ~= "number" then return "raise" end
    end
  end
  return "ok"
end

-- The verdict from core.measure, amounts as alimtalk.validate.rules defines them.
local function reference(specs, s)
  local m = core.measure(s)
  if not m.valid then return false end
  for _, sp in ipairs(specs) do
    local a
    if sp.unit == "chars" then a = sp.text_only and m.chars - (m.lines - 1) or m.chars
    elseif sp.unit == "bytes" then a = m.bytes
    elseif sp.unit == "cp949" then a = m.euckr_bytes
    elseif sp.unit == "lines" then a = m.lines
    else a = m.lines > 1 and m.longest_line or 0 end
    if (sp.max and a > sp.max) or (sp.min and a < sp.min) then return false end
  end
  return true
end

local function show(s) return ("%q"):format(s) end

function check(data)     -- the harness calls it
  local specs, texts = decode(data)
  local want = expect(specs)
  local ok, c = pcall(core.limit_spec, specs)
  if want == "raise" then
    assert(not ok and type(c) == "string" and c:find("limit_spec", 1, true),
           "a bad limit table: " .. tostring(c))
    return
  end
  assert(ok, "limit_spec raised on a good limit table: " .. tostring(c))
  if want == "nil" then assert(c == nil, "limit_spec compiled a unit it cannot check"); return end
  assert(type(c) == "userdata", "limit_spec returned " .. type(c))

  assert(core.within(c, texts[1]) == reference(specs, texts[1]), "within on " .. show(texts[1]))

  -- the same texts as a table: array part, hash part, numbers (as tostring writes them), and
  -- values that are not texts (skipped)
  local t, all = { true, {} }, true
  for i, v in ipairs(texts) do
    local num = tonumber(v)
    local value = (num and i % 2 == 0) and num or v
    if i % 3 == 0 then t["k" .. i] = value else t[#t + 1] = value end
    all = all and reference(specs, type(value) == "number" and tostring(value) or value)
  end
  t.flag, t[false] = true, 1.5 == 0
  assert(core.within_values(c, t) == all, "within_values")
  assert(core.within_values(c, {}) == true, "within_values of no texts")
  assert(not pcall(core.within, specs, texts[1]), "within took a table for a compiled spec")
end
