-- wrk script for bench/sandbox_bench.sh: SENS sends signed (signature v2) in wrk's own LuaJIT
-- through the sandbox's FFI crypto module (OpenSSL). Signing every request would spend wrk's
-- CPU on the same 2 cores the server runs on, so each wrk thread re-signs with a fresh
-- timestamp every 500 requests and sends that request meanwhile: the server still verifies
-- every signature. Environment: ALIMTALK_LUA (the repo's lua/ folder), SENS_SERVICE,
-- SENS_ACCESS_KEY, SENS_SECRET_KEY; SENS_BATCH (default 1): messages per request, 1 sends the
-- WELCOME template, more send that many different ORDER_SHIPPED messages with their two
-- buttons (the shape of issue 5's bulk benchmark), all valid.
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
local batch = tonumber(os.getenv("SENS_BATCH") or "1")
-- SENS_BARE: the same request to /batch (the bare nginx of the bench), signed all the same
local path = os.getenv("SENS_BARE") and "/batch" or uri

-- Message i of an ORDER_SHIPPED batch, as JSON (only digits and fixed text vary: no escaping).
local function order(i)
  local id = "A" .. (1000 + i)
  local link = '"https://shop.example/o/' .. id .. '"'
  return '{"to":"010' .. (20000000 + i) .. '","content":"고객' .. i
    .. '님, 주문하신 상품이 발송되었습니다.\\n주문번호: ' .. id .. '\\n택배사: 우체국택배\\n송장번호: '
    .. (6302114700000 + i) .. '","buttons":[{"type":"DS","name":"배송조회"},'
    .. '{"type":"WL","name":"주문 보기","linkMobile":' .. link .. ',"linkPc":' .. link .. '}]}'
end

local body
if batch == 1 then
  body = '{"plusFriendId":"@sandbox","templateCode":"WELCOME","messages":[{"to":"01012345678",'
    .. '"content":"홍길동님, 회원가입을 환영합니다.\\n가입일: 2026-11-21"}]}'
else
  local msgs = {}
  for i = 1, batch do msgs[i] = order(i) end
  body = '{"plusFriendId":"@sandbox","templateCode":"ORDER_SHIPPED","messages":['
    .. table.concat(msgs, ",") .. ']}'
end

local statuses = {}

local function sign()
  ffi.C.gettimeofday(tv, nil)
  local ts = string.format("%d", tonumber(tv.tv_sec) * 1000 + math.floor(tonumber(tv.tv_usec) / 1000))
  local sig = crypto.hmac_sha256_base64(sk, "POST " .. uri .. "\n" .. ts .. "\n" .. ak)
  return wrk.format("POST", path, {
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

-- SENS_SAVE_ANSWER: write the first answer's body there (the bench serves the same bytes from
-- a bare nginx as the transport-only baseline).
local save = os.getenv("SENS_SAVE_ANSWER")

function response(status, _, answer) -- luacheck: ignore 111
  if save and answer then
    local f = io.open(save, "wb")
    if f then f:write(answer) f:close() end
    save = nil
  end
  statuses[status] = (statuses[status] or 0) + 1
  if status ~= (path == uri and 202 or 200) and not statuses.reported then
    statuses.reported = true
    io.stderr:write("unexpected status " .. status .. "\n")
  end
end
