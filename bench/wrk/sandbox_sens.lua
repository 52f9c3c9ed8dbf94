-- wrk script for bench/sandbox_bench.sh: one-message SENS sends signed (signature v2) in wrk's
-- own LuaJIT through the sandbox's FFI crypto module (OpenSSL). Signing every request would
-- spend wrk's CPU on the same 2 cores the server runs on, so each wrk thread re-signs with a
-- fresh timestamp every 500 requests and sends that request meanwhile: the server still
-- verifies every signature. Environment: ALIMTALK_LUA (the repo's lua/ folder),
-- SENS_SERVICE, SENS_ACCESS_KEY, SENS_SECRET_KEY.
-- luacheck: globals wrk
package.path = os.getenv("ALIMTALK_LUA") .. "/?.lua;" .. package.path
local crypto = require "alimtalk.sandbox.emu.crypto"
local ffi = require "ffi"

ffi.cdef [[
typedef struct { long tv_sec; long tv_usec; } sbx_timeval;
int gettimeofday(sbx_timeval *tv, void *tz);
]]
local tv = ffi.new("sbx_timeval")

local service = os.getenv("SENS_SERVICE")
local ak = os.getenv("SENS_ACCESS_KEY")
local sk = os.getenv("SENS_SECRET_KEY")
local uri = "/alimtalk/v2/services/" .. service .. "/messages"
local body = '{"plusFriendId":"@sandbox","templateCode":"WELCOME","messages":[{"to":"01012345678",'
  .. '"content":"홍길동님, 회원가입을 환영합니다.\\n가입일: 2026-11-21"}]}'

local statuses = {}

local function sign()
  ffi.C.gettimeofday(tv, nil)
  local ts = string.format("%d", tonumber(tv.tv_sec) * 1000 + math.floor(tonumber(tv.tv_usec) / 1000))
  local sig = crypto.hmac_sha256_base64(sk, "POST " .. uri .. "\n" .. ts .. "\n" .. ak)
  return wrk.format("POST", uri, {
    ["Content-Type"] = "application/json; charset=utf-8",
    ["x-ncp-apigw-timestamp"] = ts,
    ["x-ncp-iam-access-key"] = ak,
    ["x-ncp-apigw-signature-v2"] = sig,
  }, body)
end

local current, left = nil, 0

function request() -- luacheck: ignore 111 (wrk calls this global)
  if left == 0 then current, left = sign(), 500 end
  left = left - 1
  return current
end

function response(status) -- luacheck: ignore 111
  statuses[status] = (statuses[status] or 0) + 1
  if status ~= 202 and not statuses.reported then
    statuses.reported = true
    io.stderr:write("unexpected status " .. status .. "\n")
  end
end
