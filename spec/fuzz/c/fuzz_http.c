/* libFuzzer harness for the HTTP client's answer handling (src/http.c): the loopback server
 * plays the fuzzed bytes back as the answer to the client's requests; the properties are in
 * http.lua (the global `answer(bytes)` sets what the server plays, `port` is its port). */
#define _GNU_SOURCE
#include "loopback.h"
#include "fuzz_core.h"

/* whole once the header block has ended and Content-Length bytes of body followed it */
static int http_request_done(const char *p, size_t n) {
    const char *end = memmem(p, n, "\r\n\r\n", 4), *cl;
    size_t body = 0;
    if (!end) return 0;
    cl = memmem(p, (size_t)(end - p), "Content-Length: ", 16);
    if (cl) body = strtoul(cl + 16, NULL, 10);
    return (size_t)(end + 4 - p) + body <= n;
}

static int l_answer(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    loopback_answer(s, n);
    return 0;
}

static void setup(lua_State *L) {
    lua_pushinteger(L, loopback_start(http_request_done));
    lua_setglobal(L, "port");
    lua_pushcfunction(L, l_answer);
    lua_setglobal(L, "answer");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_check(fuzz_state(setup), data, size);
    return 0;
}
