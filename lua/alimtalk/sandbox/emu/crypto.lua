--- HMAC-SHA256, base64 and constant-time compare for the sandbox, on OpenSSL through LuaJIT FFI.
-- The sandbox verifies signatures with this module and never with `alimtalk.core`, so a
-- signing bug in our client cannot be hidden by the same bug in the verifier. Runs in any
-- LuaJIT with FFI (nginx's, wrk's, plain `luajit`).
-- @module alimtalk.sandbox.emu.crypto
local ffi = require "ffi"

local _M = {}

ffi.cdef [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md, unsigned int *md_len);
int EVP_EncodeBlock(unsigned char *t, const unsigned char *f, int n);
int CRYPTO_memcmp(const void *a, const void *b, size_t len);
int RAND_bytes(unsigned char *buf, int num);
typedef struct hmac_ctx_st HMAC_CTX;
typedef struct engine_st ENGINE;
HMAC_CTX *HMAC_CTX_new(void);
void HMAC_CTX_free(HMAC_CTX *ctx);
int HMAC_Init_ex(HMAC_CTX *ctx, const void *key, int len, const EVP_MD *md, ENGINE *impl);
int HMAC_Update(HMAC_CTX *ctx, const unsigned char *data, size_t len);
int HMAC_Final(HMAC_CTX *ctx, unsigned char *md, unsigned int *len);
]]

-- nginx is already linked with libcrypto; a plain luajit needs it loaded by name.
local lib
for _, name in ipairs({ "libcrypto.so.3", "crypto" }) do
  local ok, l = pcall(ffi.load, name)
  if ok then lib = l break end
end
lib = lib or ffi.C

local sha256 = lib.EVP_sha256()
local md = ffi.new("unsigned char[32]")
local md_len = ffi.new("unsigned int[1]")
local b64_cap = 4096
local b64 = ffi.new("unsigned char[?]", b64_cap)

--- HMAC-SHA256.
-- @tparam string key the secret
-- @tparam string data the bytes to sign
-- @treturn string 32 raw bytes
function _M.hmac_sha256(key, data)
  lib.HMAC(sha256, key, #key, data, #data, md, md_len)
  return ffi.string(md, 32)
end

--- Standard base64 (with padding) of a string.
-- @tparam string s raw bytes
-- @treturn string base64 text
function _M.base64(s)
  local need = math.floor((#s + 2) / 3) * 4 + 1
  local buf = b64
  if need > b64_cap then buf = ffi.new("unsigned char[?]", need) end
  local n = lib.EVP_EncodeBlock(buf, s, #s)
  return ffi.string(buf, n)
end

-- One keyed HMAC context per secret, reset (not re-keyed) for each message: OpenSSL 3's
-- one-shot HMAC() fetches the algorithm on every call, which costs more than the MAC itself.
local contexts, n_contexts = {}, 0
local function context(key)
  local ctx = contexts[key]
  if ctx then return ctx end
  if n_contexts >= 64 then return nil end   -- a bound for hostile key churn
  ctx = ffi.gc(lib.HMAC_CTX_new(), lib.HMAC_CTX_free)
  if ctx == nil or lib.HMAC_Init_ex(ctx, key, #key, sha256, nil) ~= 1 then return nil end
  contexts[key] = ctx
  n_contexts = n_contexts + 1
  return ctx
end

--- base64(HMAC-SHA256(key, data)), the form NCP and Sinch signatures take.
-- @tparam string key the secret
-- @tparam string data the bytes to sign
-- @treturn string base64 text
function _M.hmac_sha256_base64(key, data)
  local ctx = context(key)
  if ctx and lib.HMAC_Init_ex(ctx, nil, 0, nil, nil) == 1 and lib.HMAC_Update(ctx, data, #data) == 1
      and lib.HMAC_Final(ctx, md, md_len) == 1 then
    return ffi.string(b64, lib.EVP_EncodeBlock(b64, md, 32))
  end
  lib.HMAC(sha256, key, #key, data, #data, md, md_len)
  return ffi.string(b64, lib.EVP_EncodeBlock(b64, md, 32))
end

--- Compare two strings in time independent of where they differ.
-- @tparam string a
-- @tparam string b
-- @treturn boolean true when equal
function _M.equal(a, b)
  if type(a) ~= "string" or type(b) ~= "string" or #a ~= #b then return false end
  return lib.CRYPTO_memcmp(a, b, #a) == 0
end

--- Random bytes from OpenSSL's CSPRNG.
-- @tparam integer n how many
-- @treturn string n raw bytes
function _M.random_bytes(n)
  local buf = ffi.new("unsigned char[?]", n)
  assert(lib.RAND_bytes(buf, n) == 1, "RAND_bytes failed")
  return ffi.string(buf, n)
end

--- Lower-case hex of a string.
-- @tparam string s raw bytes
-- @treturn string hex text
function _M.hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

return _M
