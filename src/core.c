/* luaopen_alimtalk_core: one module table holding the signing, HTTP, Redis and measurement parts,
 * plus the clock and sleep that plain Lua lacks. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <string.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include <lualib.h> /* LUA_FILEHANDLE on LuaJIT */

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

/* The FILE* inside a Lua file handle: Lua 5.4's luaL_Stream and LuaJIT's FILE** both start
 * with it, under the same "FILE*" metatable name. */
static FILE *check_file(lua_State *L, int idx) {
#if LUA_VERSION_NUM >= 502
    luaL_Stream *st = (luaL_Stream *)luaL_checkudata(L, idx, LUA_FILEHANDLE);
    if (st->closef == NULL) luaL_argerror(L, idx, "attempt to use a closed file");
    return st->f;
#else
    FILE **fp = (FILE **)luaL_checkudata(L, idx, LUA_FILEHANDLE);
    if (*fp == NULL) luaL_argerror(L, idx, "attempt to use a closed file");
    return *fp;
#endif
}

/* core.fsync(file) -> true | nil, message, "io": flush Lua's buffer, then fsync, so what
 * was written survives a power cut (the bulk journal's durability rests on this). */
static int l_fsync(lua_State *L) {
    FILE *f = check_file(L, 1);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, strerror(errno));
        lua_pushliteral(L, "io");
        return 3;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* core.isatty(fd) -> boolean: whether standard stream fd (0, 1 or 2) is a terminal */
static int l_isatty(lua_State *L) {
    lua_Integer fd = luaL_checkinteger(L, 1);
    if (fd < 0 || fd > 2) return luaL_argerror(L, 1, "fd must be 0, 1 or 2");
    lua_pushboolean(L, isatty((int)fd));
    return 1;
}

AT_EXPORT int luaopen_alimtalk_core(lua_State *L) {
    static const luaL_Reg fns[] = {
        { "now", l_now },
        { "monotonic", l_monotonic },
        { "sleep", l_sleep },
        { "fsync", l_fsync },
        { "isatty", l_isatty },
        { NULL, NULL },
    };
    lua_newtable(L);
    luaL_setfuncs(L, fns, 0);
    at_limits_open(L);
    at_sign_open(L);
    at_http_open(L);
    at_redis_open(L);
    at_signal_open(L);
    lua_pushliteral(L, ALIMTALK_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
