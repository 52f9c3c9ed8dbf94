/* libFuzzer harness for the Redis reply handling (src/redis.c: hiredis's reader, then the
 * conversion of its reply tree to Lua values): the loopback server reads the client's commands
 * and plays the fuzzed bytes back as the answer; the properties are in redis.lua (the global
 * `answer(bytes, request_len)` sets what the server plays once it has read request_len bytes,
 * `port` is its port). */
#define _GNU_SOURCE
#include "loopback.h"
#include "fuzz_core.h"

static size_t request_len;   /* guarded by lb.lock: set by the fuzzing thread, read by the server */

static int redis_request_done(const char *p, size_t n) {
    size_t want;
    (void)p;
    pthread_mutex_lock(&lb.lock);
    want = request_len;
    pthread_mutex_unlock(&lb.lock);
    return n >= want;
}

static int l_answer(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    lua_Integer want = luaL_checkinteger(L, 2);
    loopback_answer(s, n);
    pthread_mutex_lock(&lb.lock);
    request_len = (size_t)want;
    pthread_mutex_unlock(&lb.lock);
    return 0;
}

static void setup(lua_State *L) {
    lua_pushinteger(L, loopback_start(redis_request_done));
    lua_setglobal(L, "port");
    lua_pushcfunction(L, l_answer);
    lua_setglobal(L, "answer");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_check(fuzz_state(setup), data, size);
    return 0;
}
