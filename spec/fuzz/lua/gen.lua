--- The seeded generator of the Lua property fuzzers (spec/fuzz/lua/<target>.lua): random
-- values and mutations of real inputs. One seed gives one sequence on a given runtime, so a
-- finding repeats with FUZZ_SEED (tools/fuzz-lua prints the seed of every run).
local _M = {}
local mt = { __index = _M }

local TOKENS = { "\0", "\r\n", "\n", '"', "\\", "{", "}", "[", "]", ",", ":", "#{", "{{", "}}",
  "null", "true", "-1", "1e400", "99999999999999999999", "0", "\"\"", "[]", "{}", "\239\187\191",
  "주문", "\237\160\128", "\192\175", "A000", "C100", "200", "0000", "3012", "%", "=" }

function _M.new(seed)
  math.randomseed(seed)
  return setmetatable({ seed = seed }, mt)
end

function _M.int(_, a, b) return math.random(a, b) end
function _M.chance(_, p) return math.random() < p end
function _M.pick(_, list) return list[math.random(1, #list)] end
function _M.token(self) return self:pick(TOKENS) end

--- Random bytes (any value), or text from `alphabet` when given.
function _M.bytes(self, n, alphabet)
  local out = {}
  for i = 1, n do
    if alphabet then
      local k = math.random(1, #alphabet)
      out[i] = alphabet:sub(k, k)
    elseif self:chance(0.2) then out[i] = self:token()
    else out[i] = string.char(math.random(0, 255)) end
  end
  return table.concat(out)
end

--- A few random edits of s: byte changes, insertions (of bytes or of tokens that matter to
-- the parsers), deletions, duplicated or swapped pieces.
function _M.mutate(self, s, edits)
  for _ = 1, edits or math.random(1, 4) do
    local n = #s
    local i = math.random(1, n + 1)
    local op = math.random(1, 6)
    if op == 1 and n > 0 then
      s = s:sub(1, i - 1) .. string.char(math.random(0, 255)) .. s:sub(i + 1)
    elseif op == 2 then
      s = s:sub(1, i - 1) .. self:token() .. s:sub(i)
    elseif op == 3 and n > 0 then
      s = s:sub(1, i - 1) .. s:sub(i + math.random(1, 8))
    elseif op == 4 and i <= n then
      local j = math.random(i, math.min(n, i + 16))
      s = s:sub(1, j) .. s:sub(i, j) .. s:sub(j + 1)
    elseif op == 5 then
      s = s:sub(1, i - 1) .. self:bytes(math.random(1, 4)) .. s:sub(i)
    else
      s = s:sub(1, math.random(0, n))    -- truncated
    end
  end
  return s
end

--- A random JSON-ish value (for headers, fields, options): any Lua type cjson can give.
function _M.value(self, depth)
  depth = depth or 0
  local k = math.random(1, depth > 2 and 5 or 7)
  if k == 1 then return self:bytes(math.random(0, 12)) end
  if k == 2 then return math.random(-1000, 100000) end
  if k == 3 then return math.random() * 1e20 end
  if k == 4 then return self:chance(0.5) end
  if k == 5 then return self:pick({ "", "A000", "200", "C100", "0000", "DELIVERED", "x" }) end
  local t = {}
  for i = 1, math.random(0, 3) do
    local key = k == 6 and i or self:bytes(math.random(1, 6), "abcxyz_")
    t[key] = self:value(depth + 1)
  end
  return t
end

-- the checkout, from where this file is
local ROOT = (debug.getinfo(1, "S").source:match("^@(.*)/spec/fuzz/lua/gen%.lua$") or ".")

--- The bytes of a file under spec/ (fixtures, corpora).
function _M.read_spec_file(rel)
  local f = assert(io.open(ROOT .. "/spec/" .. rel, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

return _M
