/* luaopen_alimtalk_core: one module table holding the signing, HTTP and measurement parts,
 * plus the clock and sleep that plain Lua lacks. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <time.h>

#include "compat.h"

static lua_Number clock_seconds(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9;
}

/* core.now() -> wall clock, seconds since the Unix epoch with sub-second precision */
static int l_now(lua_State *L) {
    lua_pushnumber(L, clock_seconds(CLOCK_REALTIME));
    return 1;
}

/* core.monotonic() -> seconds from an arbitrary fixed point; never goes backwards */
static int l_monotonic(lua_State *L) {
    lua_pushnumber(L, clock_seconds(CLOCK_MONOTONIC));
    return 1;
}

/* core.sleep(seconds): blocks the whole process (inside nginx use ngx.sleep instead) */
static int l_sleep(lua_State *L) {
    lua_Number s = luaL_checknumber(L, 1);
    struct timespec ts;
    if (!(s >= 0 && s <= 86400)) return luaL_argerror(L, 1, "seconds must be from 0 to 86400");
    ts.tv_sec = (time_t)floor(s);
    ts.tv_nsec = (long)((s - floor(s)) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    return 0;
}

AT_EXPORT int luaopen_alimtalk_core(lua_State *L) {
    static const luaL_Reg fns[] = {
        { "now", l_now },
        { "monotonic", l_monotonic },
        { "sleep", l_sleep },
        { NULL, NULL },
    };
    lua_newtable(L);
    luaL_setfuncs(L, fns, 0);
    at_limits_open(L);
    at_sign_open(L);
    at_http_open(L);
    lua_pushliteral(L, ALIMTALK_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
