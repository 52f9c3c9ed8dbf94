-- Properties of core.base64_decode (strict RFC 4648), core.base64_encode and core.hex over any
-- bytes (libFuzzer target "base64", harness fuzz_lua.c).
local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

-- An independent decoder (bit arithmetic in Lua): the value, or nil when s is not the one
-- canonical base64 text of some bytes.
local value = {}
for i = 1, 64 do value[ALPHABET:byte(i)] = i - 1 end
local function decode(s)
  if #s % 4 ~= 0 then return nil end
  local out = {}
  for i = 1, #s, 4 do
    local a, b, c, d = s:byte(i, i + 3)
    local last = i + 3 == #s
    local va, vb = value[a], value[b]
    if not va or not vb then return nil end
    if last and c == 61 and d == 61 then
      if vb % 16 ~= 0 then return nil end
      out[#out + 1] = string.char(va * 4 + vb // 16)
    elseif last and d == 61 then
      local vc = value[c]
      if not vc or vc % 4 ~= 0 then return nil end
      out[#out + 1] = string.char(va * 4 + vb // 16, (vb % 16) * 16 + vc // 4)
    else
      local vc, vd = value[c], value[d]
      if not vc or not vd then return nil end
      out[#out + 1] = string.char(va * 4 + vb // 16, (vb % 16) * 16 + vc // 4, (vc % 4) * 64 + vd)
    end
  end
  return table.concat(out)
end

function check(s)     -- the harness calls it
  local d, msg, code = core.base64_decode(s)
  local want = decode(s)
  if want == nil then
    assert(d == nil and code == "bad_base64" and type(msg) == "string" and msg:find("^invalid base64"),
           "accepted a text that is not canonical base64")
  else
    assert(d == want, "decoded bytes differ from the reference decoder")
    assert(core.base64_encode(d) == s, "decode then encode does not give the text back")
  end
  -- any bytes: encode then decode gives them back, the text is canonical
  local e = core.base64_encode(s)
  assert(#e == 4 * ((#s + 2) // 3) and not e:find("[^%w+/=]"), "encoded text shape")
  assert(core.base64_decode(e) == s and decode(e) == s, "encode then decode")
  local h = core.hex(s)
  assert(#h == 2 * #s and not h:find("[^0-9a-f]"), "hex shape")
  assert((h:gsub("..", function(x) return string.char(tonumber(x, 16)) end)) == s, "hex round trip")
  assert(core.equal(s, s) and (#s == 0 or not core.equal(s, s .. "x")), "equal")
end
