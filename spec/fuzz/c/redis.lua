-- Properties of the Redis reply handling (src/redis.c over hiredis's reader: status, error,
-- integer, bulk, nil and nested array replies to Lua values) over any answer bytes (libFuzzer
-- target "redis", harness fuzz_redis.c). The first input byte picks 1 to 4 commands, sent with
-- :command (one) or :pipeline; the rest is the server's answer. Where a strict RESP2 reader
-- written here reads the answer's first replies, the client must give exactly those values;
-- on any answer it gives well-typed values or `nil, message, code` with a known code, and is
-- closed after a failure other than a Redis error reply.
local NULL = core.redis_null
local CODES = { io = true, protocol = true, timeout = true, redis = true, closed = true }
local MAX_DEPTH = 6   -- hiredis 0.14 reads at most 7 levels; beyond, no comparison

local function resp_command(args)
  local out = { "*" .. #args .. "\r\n" }
  for _, a in ipairs(args) do out[#out + 1] = "$" .. #a .. "\r\n" .. a .. "\r\n" end
  return table.concat(out)
end

-- The reply at pos in strict RESP2 (no leading zeros or "+" signs, "-1" the only negative
-- length, lines without CR or LF): its value and the position after it, or nil.
local function decode(s, pos, depth)
  local t = s:sub(pos, pos)
  local eol = s:find("\r\n", pos, true)
  if not eol then return nil end
  local line, nxt = s:sub(pos + 1, eol - 1), eol + 2
  local count = (line == "0" or line:find("^[1-9]%d*$")) and #line <= 4 and tonumber(line)
  if t == "+" or t == "-" then
    if line:find("[\r\n]") then return nil end
    if t == "+" then return line, nxt end
    return { err = line }, nxt
  elseif t == ":" then
    if not (line == "0" or line:find("^%-?[1-9]%d*$")) or #line > 18 then return nil end
    return math.tointeger(tonumber(line)), nxt
  elseif t == "$" then
    if line == "-1" then return NULL, nxt end
    if not count or s:sub(nxt + count, nxt + count + 1) ~= "\r\n" then return nil end
    return s:sub(nxt, nxt + count - 1), nxt + count + 2
  elseif t == "*" then
    if line == "-1" then return NULL, nxt end
    if not count or depth >= MAX_DEPTH then return nil end
    local list = {}
    for i = 1, count do
      list[i], nxt = decode(s, nxt, depth + 1)
      if list[i] == nil then return nil end
    end
    return list, nxt
  end
  return nil
end

local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) == "number" then return math.type(a) == math.type(b) and a == b end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function well_typed(v, depth)
  local t = type(v)
  if t == "string" or v == NULL then return true end
  if t == "number" then return math.type(v) == "integer" end
  if t ~= "table" or depth > 8 then return false end
  if v.err ~= nil then return type(v.err) == "string" and next(v, next(v)) == nil end
  local n = #v
  for k, e in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 or k > n or not well_typed(e, depth + 1) then return false end
  end
  return true
end

local function check_failure(conn, msg, code)
  -- (a Redis error reply's text is the server's, verbatim: "-\r\n" gives "")
  assert(type(msg) == "string" and (msg ~= "" or code == "redis"), "a failure without a message")
  assert(CODES[code], "unknown failure code " .. tostring(code))
  if code ~= "redis" then assert(not conn:connected(), "still connected after a " .. code .. " failure") end
end

function check(s)     -- the harness calls it
  if #s == 0 then return end
  local mode, rest = s:byte(1), s:sub(2)
  local n = mode % 4 + 1
  local use_pipeline = n > 1 or (mode >> 2) % 2 == 1
  local cmds, request = {}, {}
  for i = 1, n do
    cmds[i] = { "GET", "k" .. i }
    request[i] = resp_command(cmds[i])
  end
  answer(rest, #table.concat(request))
  -- what a strict reader gives for the first n replies (nil: no comparison)
  local want, pos = {}, 1
  for i = 1, n do
    want[i], pos = decode(rest, pos, 0)
    if want[i] == nil then want = nil break end
  end
  local conn, cerr, ccode = core.redis_connect{ host = "127.0.0.1", port = port, timeout = 2,
                                                connect_timeout = 2 }
  assert(conn, "connect failed: " .. tostring(cerr) .. " " .. tostring(ccode))
  if use_pipeline then
    local out, msg, code = conn:pipeline(cmds)
    if out then
      assert(type(out) == "table" and #out == n, "a pipeline result without one reply per command")
      for i = 1, n do assert(well_typed(out[i], 0), "reply " .. i .. " is not well typed") end
      if want then assert(same(out, want), "the pipeline's replies differ from the answer") end
    else
      check_failure(conn, msg, code)
      assert(code ~= "redis", "a pipeline reports a Redis error reply as a failure")
      assert(not want, "a readable answer failed: " .. code .. ": " .. msg)
    end
  else
    local v, msg, code = conn:command("GET", "k1")
    if v ~= nil then
      assert(well_typed(v, 0) and not (type(v) == "table" and v.err), "the reply is not well typed")
      if want then assert(same(v, want[1]), "the reply differs from the answer") end
    else
      check_failure(conn, msg, code)
      if want then
        assert(type(want[1]) == "table" and want[1].err == msg and code == "redis",
               "a readable answer failed: " .. code .. ": " .. msg)
      end
    end
  end
  conn:close()
  assert(not conn:connected(), "connected after close")
end
