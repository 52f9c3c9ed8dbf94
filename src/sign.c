/* Signing on OpenSSL 3: HMAC-SHA256, SHA-256, base64, hex, constant-time compare, random
 * bytes, the NCP API Gateway signature v2 and the Sinch webhook signature.
 *
 * HMAC speed: fetching the HMAC implementation and setting a key cost far more than hashing
 * 100 bytes, so each Lua state keeps one fetched EVP_MAC and a few keyed EVP_MAC_CTX slots in
 * a userdata (an upvalue of every function here). A call with a key already in a slot only
 * re-initialises that context (EVP_MAC_init with a NULL key keeps the key). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "compat.h"

#define SIGN_CACHE_MT "alimtalk.core.hmac_cache"
#define HMAC_SLOTS 4
#define HMAC_MAX_CACHED_KEY 256
#define B64_LEN(n) (4 * (((n) + 2) / 3))
#define RANDOM_MAX (1024 * 1024)

typedef struct {
    EVP_MAC_CTX *ctx;
    size_t klen;
    int used;
    unsigned char key[HMAC_MAX_CACHED_KEY];
} hmac_slot;

typedef struct {
    EVP_MAC *mac;
    unsigned next;
    hmac_slot slot[HMAC_SLOTS];
    EVP_MAC_CTX *spare;     /* for keys too long to cache */
} hmac_cache;

static int cache_gc(lua_State *L) {
    hmac_cache *c = luaL_checkudata(L, 1, SIGN_CACHE_MT);
    int i;
    for (i = 0; i < HMAC_SLOTS; i++) {
        if (c->slot[i].ctx) { EVP_MAC_CTX_free(c->slot[i].ctx); c->slot[i].ctx = NULL; }
        OPENSSL_cleanse(c->slot[i].key, sizeof c->slot[i].key);
        c->slot[i].used = 0;
    }
    if (c->spare) { EVP_MAC_CTX_free(c->spare); c->spare = NULL; }
    if (c->mac) { EVP_MAC_free(c->mac); c->mac = NULL; }
    return 0;
}

static hmac_cache *get_cache(lua_State *L) {
    return (hmac_cache *)lua_touserdata(L, lua_upvalueindex(1));
}

static EVP_MAC_CTX *keyed_ctx(lua_State *L, EVP_MAC_CTX **slot, const void *key, size_t klen) {
    hmac_cache *c = get_cache(L);
    OSSL_PARAM params[2];
    static const unsigned char empty = 0;
    if (*slot == NULL && (*slot = EVP_MAC_CTX_new(c->mac)) == NULL)
        luaL_error(L, "alimtalk.core: out of memory for an HMAC context");
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    /* a NULL key means "keep the old key", so an empty key must be a non-NULL pointer */
    if (!EVP_MAC_init(*slot, klen ? key : &empty, klen, params))
        luaL_error(L, "alimtalk.core: HMAC-SHA256 key setup failed");
    return *slot;
}

/* A context ready for EVP_MAC_update with this key. Raises only on OpenSSL failure; nothing
 * allocated here is left unowned (contexts live in the cache userdata). */
static EVP_MAC_CTX *hmac_begin(lua_State *L, const char *key, size_t klen) {
    hmac_cache *c = get_cache(L);
    hmac_slot *s;
    int i;
    if (klen > HMAC_MAX_CACHED_KEY) return keyed_ctx(L, &c->spare, key, klen);
    for (i = 0; i < HMAC_SLOTS; i++) {
        s = &c->slot[i];
        if (s->used && s->klen == klen && CRYPTO_memcmp(s->key, key, klen) == 0) {
            if (!EVP_MAC_init(s->ctx, NULL, 0, NULL))
                luaL_error(L, "alimtalk.core: HMAC-SHA256 re-initialisation failed");
            return s->ctx;
        }
    }
    s = &c->slot[c->next++ % HMAC_SLOTS];
    s->used = 0;
    keyed_ctx(L, &s->ctx, key, klen);
    memcpy(s->key, key, klen);
    s->klen = klen;
    s->used = 1;
    return s->ctx;
}

static void hmac_update(lua_State *L, EVP_MAC_CTX *ctx, const void *p, size_t n) {
    if (n && !EVP_MAC_update(ctx, p, n)) luaL_error(L, "alimtalk.core: HMAC-SHA256 update failed");
}

static void hmac_final(lua_State *L, EVP_MAC_CTX *ctx, unsigned char out[32]) {
    size_t outl = 0;
    if (!EVP_MAC_final(ctx, out, &outl, 32) || outl != 32)
        luaL_error(L, "alimtalk.core: HMAC-SHA256 final failed");
}

static void push_base64(lua_State *L, const unsigned char *p, size_t n) {
    char small[256];
    size_t outl = B64_LEN(n);
    if (outl < sizeof small) {
        EVP_EncodeBlock((unsigned char *)small, p, (int)n);
        lua_pushlstring(L, small, outl);
    } else {
        /* scratch space owned by Lua, so an error while pushing leaks nothing */
        unsigned char *buf = lua_newuserdata(L, outl + 1);
        EVP_EncodeBlock(buf, p, (int)n);
        lua_pushlstring(L, (const char *)buf, outl);
        lua_remove(L, -2);
    }
}

/* A timestamp given as a decimal string or as an integral number (LuaJIT numbers are doubles,
 * and tostring() would print 1.7e+12). Only digits are accepted. */
static const char *check_timestamp(lua_State *L, int arg, char *buf, size_t bufsz, size_t *len) {
    const char *s;
    size_t i;
    if (lua_type(L, arg) == LUA_TNUMBER) {
        lua_Number v = lua_tonumber(L, arg);
        if (!(v >= 0 && v <= 9007199254740991.0) || v != (lua_Number)(int64_t)v)
            luaL_argerror(L, arg, "timestamp must be a non-negative integer");
        *len = (size_t)snprintf(buf, bufsz, "%lld", (long long)v);
        return buf;
    }
    s = luaL_checklstring(L, arg, len);
    if (*len == 0) luaL_argerror(L, arg, "timestamp must not be empty");
    for (i = 0; i < *len; i++)
        if (s[i] < '0' || s[i] > '9') luaL_argerror(L, arg, "timestamp must be decimal digits");
    return s;
}

static int has_ctl(const char *s, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F) return 1;
    return 0;
}

/* HMAC-SHA256 of the (key, data) arguments 1 and 2 into out. */
static void hmac_args(lua_State *L, unsigned char out[32]) {
    size_t kl, dl;
    const char *k = luaL_checklstring(L, 1, &kl);
    const char *d = luaL_checklstring(L, 2, &dl);
    EVP_MAC_CTX *ctx = hmac_begin(L, k, kl);
    hmac_update(L, ctx, d, dl);
    hmac_final(L, ctx, out);
}

/* core.hmac_sha256(key, data) -> 32 raw bytes */
static int l_hmac_sha256(lua_State *L) {
    unsigned char out[32];
    hmac_args(L, out);
    lua_pushlstring(L, (const char *)out, 32);
    return 1;
}

/* core.hmac_sha256_base64(key, data) -> base64 of the 32-byte MAC, in one call */
static int l_hmac_sha256_base64(lua_State *L) {
    unsigned char out[32];
    hmac_args(L, out);
    push_base64(L, out, 32);
    return 1;
}

/* core.sha256(data) -> 32 raw bytes */
static int l_sha256(lua_State *L) {
    size_t n;
    const char *d = luaL_checklstring(L, 1, &n);
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int outl = 0;
    if (!EVP_Digest(d, n, out, &outl, EVP_sha256(), NULL))
        return luaL_error(L, "alimtalk.core: SHA-256 failed");
    lua_pushlstring(L, (const char *)out, outl);
    return 1;
}

/* core.base64_encode(s) -> standard base64 with padding, no line breaks */
static int l_base64_encode(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    if (n > (size_t)INT32_MAX / 4 * 3 - 3) return luaL_argerror(L, 1, "string too long to encode");
    push_base64(L, (const unsigned char *)s, n);
    return 1;
}

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

static int bad_base64(lua_State *L, const char *fmt, size_t pos) {
    lua_pushnil(L);
    lua_pushfstring(L, fmt, (int)pos);
    lua_pushliteral(L, "bad_base64");
    return 3;
}

/* core.base64_decode(s) -> bytes | nil, message, "bad_base64"
 * Strict RFC 4648: standard alphabet, padded to a multiple of 4, '=' only at the end, no
 * whitespace, and the unused bits before the padding must be zero (one text per value). */
static int l_base64_decode(lua_State *L) {
    size_t n, i, pad = 0, outl;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    unsigned char *buf;
    if (n % 4 != 0)
        return bad_base64(L, "invalid base64: length %d is not a multiple of 4", n);
    if (n && s[n - 1] == '=') pad = (n >= 2 && s[n - 2] == '=') ? 2 : 1;
    for (i = 0; i < n - pad; i++)
        if (b64_value(s[i]) < 0) {
            if (s[i] == '=') return bad_base64(L, "invalid base64: padding at byte %d before the end", i + 1);
            return bad_base64(L, "invalid base64: byte %d is not in the base64 alphabet", i + 1);
        }
    if (pad == 2 && (b64_value(s[n - 3]) & 0x0F))
        return bad_base64(L, "invalid base64: non-zero bits before the padding at byte %d", n - 2);
    if (pad == 1 && (b64_value(s[n - 2]) & 0x03))
        return bad_base64(L, "invalid base64: non-zero bits before the padding at byte %d", n - 1);
    if (n == 0) { lua_pushliteral(L, ""); return 1; }
    if (n > (size_t)INT32_MAX) return luaL_argerror(L, 1, "string too long to decode");
    buf = lua_newuserdata(L, n / 4 * 3 + 1);
    if (EVP_DecodeBlock(buf, s, (int)n) < 0)
        return bad_base64(L, "invalid base64 at byte %d", 1);
    outl = n / 4 * 3 - pad;
    lua_pushlstring(L, (const char *)buf, outl);
    return 1;
}

/* core.hex(s) -> lower-case hex */
static int l_hex(lua_State *L) {
    static const char digits[] = "0123456789abcdef";
    size_t n, i;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (i = 0; i < n; i++) {
        luaL_addchar(&b, digits[s[i] >> 4]);
        luaL_addchar(&b, digits[s[i] & 0x0F]);
    }
    luaL_pushresult(&b);
    return 1;
}

/* core.equal(a, b) -> boolean; time depends only on the lengths, not on the contents */
static int l_equal(lua_State *L) {
    size_t an, bn;
    const char *a = luaL_checklstring(L, 1, &an);
    const char *b = luaL_checklstring(L, 2, &bn);
    int same = an == bn;
    /* compare a with itself when the lengths differ so the work done stays the same */
    lua_pushboolean(L, (CRYPTO_memcmp(a, same ? b : a, an) == 0) & same);
    return 1;
}

/* core.random_bytes(n) -> n bytes from the OpenSSL CSPRNG | nil, message, "random" */
static int l_random_bytes(lua_State *L) {
    lua_Number v = luaL_checknumber(L, 1);
    size_t n;
    unsigned char *buf;
    if (!(v >= 0 && v <= RANDOM_MAX) || v != (lua_Number)(int)v)
        return luaL_argerror(L, 1, "n must be an integer from 0 to 1048576");
    n = (size_t)v;
    buf = lua_newuserdata(L, n ? n : 1);
    if (n && RAND_bytes(buf, (int)n) != 1) {
        lua_pushnil(L);
        lua_pushliteral(L, "the random generator failed");
        lua_pushliteral(L, "random");
        return 3;
    }
    lua_pushlstring(L, (const char *)buf, n);
    return 1;
}

/* core.ncp_signature(method, uri, timestamp, access_key, secret_key) -> base64 string
 * base64(HMAC-SHA256(secret_key, METHOD .. " " .. URI .. "\n" .. timestamp .. "\n" .. access_key)) */
static int l_ncp_signature(lua_State *L) {
    size_t ml, ul, tl, al, sl, i;
    char tbuf[32];
    const char *m = luaL_checklstring(L, 1, &ml);
    const char *u = luaL_checklstring(L, 2, &ul);
    const char *t = check_timestamp(L, 3, tbuf, sizeof tbuf, &tl);
    const char *a = luaL_checklstring(L, 4, &al);
    const char *s = luaL_checklstring(L, 5, &sl);
    unsigned char out[32];
    EVP_MAC_CTX *ctx;
    if (ml == 0) luaL_argerror(L, 1, "method must not be empty");
    for (i = 0; i < ml; i++)
        if (m[i] < 'A' || m[i] > 'Z') luaL_argerror(L, 1, "method must be upper-case letters");
    if (ul == 0 || u[0] != '/') luaL_argerror(L, 2, "uri must be a path starting with '/'");
    if (has_ctl(u, ul) || memchr(u, ' ', ul)) luaL_argerror(L, 2, "uri must not hold spaces or control characters");
    if (al == 0 || has_ctl(a, al)) luaL_argerror(L, 4, "access key must be non-empty without control characters");
    if (sl == 0) luaL_argerror(L, 5, "secret key must not be empty");
    ctx = hmac_begin(L, s, sl);
    hmac_update(L, ctx, m, ml);
    hmac_update(L, ctx, " ", 1);
    hmac_update(L, ctx, u, ul);
    hmac_update(L, ctx, "\n", 1);
    hmac_update(L, ctx, t, tl);
    hmac_update(L, ctx, "\n", 1);
    hmac_update(L, ctx, a, al);
    hmac_final(L, ctx, out);
    push_base64(L, out, 32);
    return 1;
}

/* core.sinch_signature(secret, raw_body, nonce, timestamp) -> base64 string
 * base64(HMAC-SHA256(secret, raw_body .. "." .. nonce .. "." .. timestamp)) */
static int l_sinch_signature(lua_State *L) {
    size_t sl, bl, nl, tl;
    char tbuf[32];
    const char *s = luaL_checklstring(L, 1, &sl);
    const char *b = luaL_checklstring(L, 2, &bl);
    const char *n = luaL_checklstring(L, 3, &nl);
    const char *t = check_timestamp(L, 4, tbuf, sizeof tbuf, &tl);
    unsigned char out[32];
    EVP_MAC_CTX *ctx;
    if (sl == 0) luaL_argerror(L, 1, "secret must not be empty");
    ctx = hmac_begin(L, s, sl);
    hmac_update(L, ctx, b, bl);
    hmac_update(L, ctx, ".", 1);
    hmac_update(L, ctx, n, nl);
    hmac_update(L, ctx, ".", 1);
    hmac_update(L, ctx, t, tl);
    hmac_final(L, ctx, out);
    push_base64(L, out, 32);
    return 1;
}

void at_sign_open(lua_State *L) {
    static const luaL_Reg fns[] = {
        { "hmac_sha256", l_hmac_sha256 },
        { "hmac_sha256_base64", l_hmac_sha256_base64 },
        { "sha256", l_sha256 },
        { "base64_encode", l_base64_encode },
        { "base64_decode", l_base64_decode },
        { "hex", l_hex },
        { "equal", l_equal },
        { "random_bytes", l_random_bytes },
        { "ncp_signature", l_ncp_signature },
        { "sinch_signature", l_sinch_signature },
        { NULL, NULL },
    };
    hmac_cache *c = lua_newuserdata(L, sizeof *c);
    memset(c, 0, sizeof *c);
    if (luaL_newmetatable(L, SIGN_CACHE_MT)) {
        lua_pushcfunction(L, cache_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);          /* __gc armed before anything is acquired */
    c->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (c->mac == NULL) luaL_error(L, "alimtalk.core: OpenSSL has no HMAC implementation");
    luaL_setfuncs(L, fns, 1);         /* the cache is the upvalue of every function */
}
