-- Properties of core.ncp_signature and core.sinch_signature over any inputs (libFuzzer target
-- "sign", harness fuzz_lua.c): the input is split at 0x00 bytes into the arguments. A call
-- either raises an argument error for the documented reasons (checked here independently) or
-- returns the base64 HMAC-SHA256 that luaossl (a separate OpenSSL binding) computes over the
-- documented string. The first byte picks which signature and how the timestamp is passed;
-- secrets repeat across calls, so the core's cache of keyed HMAC contexts is exercised too.
local hmac = require "openssl.hmac"

local function want(key, text)
  local h = hmac.new(key, "sha256")
  return core.base64_encode(h:final(text))
end

local function split(s)
  local parts = {}
  for p in (s .. "\0"):gmatch("([^%z]*)%z") do parts[#parts + 1] = p end
  return parts
end

local function raises(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an argument error matching " .. pattern)
  assert(tostring(err):find(pattern), "unexpected error: " .. tostring(err))
end

local function timestamp(raw, as_number)
  if as_number then
    local n = 0
    -- at most 6 bytes: below 2^53, so exact as a double
    for i = 1, math.min(#raw, 6) do n = n * 256 + raw:byte(i) end
    return n
  end
  return raw
end

function check(s)     -- the harness calls it
  if #s == 0 then return end
  local mode = s:byte(1)
  local p = split(s:sub(2))
  local as_number = mode & 2 ~= 0
  if mode & 1 == 0 then
    local method, uri, ts, access, secret = p[1], p[2] or "/", timestamp(p[3] or "1", as_number),
      p[4] or "a", p[5] or "s"
    local tstext = type(ts) == "number" and string.format("%d", ts) or ts
    -- in the order the core checks its arguments
    if tstext == "" or tstext:find("[^0-9]") then
      return raises("timestamp", core.ncp_signature, method, uri, ts, access, secret)
    elseif method == "" or method:find("[^A-Z]") then
      return raises("method", core.ncp_signature, method, uri, ts, access, secret)
    elseif uri == "" or uri:sub(1, 1) ~= "/" or uri:find("[%c ]") then
      return raises("uri", core.ncp_signature, method, uri, ts, access, secret)
    elseif access == "" or access:find("%c") then
      return raises("access key", core.ncp_signature, method, uri, ts, access, secret)
    elseif secret == "" then
      return raises("secret key", core.ncp_signature, method, uri, ts, access, secret)
    end
    local got = core.ncp_signature(method, uri, ts, access, secret)
    assert(got == want(secret, method .. " " .. uri .. "\n" .. tstext .. "\n" .. access),
           "ncp_signature differs from luaossl's HMAC")
  else
    local secret, body, nonce, ts = p[1], p[2] or "", p[3] or "", timestamp(p[4] or "1", as_number)
    local tstext = type(ts) == "number" and string.format("%d", ts) or ts
    if tstext == "" or tstext:find("[^0-9]") then
      return raises("timestamp", core.sinch_signature, secret, body, nonce, ts)
    elseif secret == "" then
      return raises("secret", core.sinch_signature, secret, body, nonce, ts)
    end
    local got = core.sinch_signature(secret, body, nonce, ts)
    assert(got == want(secret, body .. "." .. nonce .. "." .. tstext), "sinch_signature differs")
  end
  -- the plain HMAC with the same (now cached) key agrees too
  local key = p[1] ~= "" and p[1] or "k"
  assert(core.hmac_sha256_base64(key, s) == want(key, s), "hmac_sha256_base64")
  assert(core.hmac_sha256(key, s) == hmac.new(key, "sha256"):final(s), "hmac_sha256")
end
