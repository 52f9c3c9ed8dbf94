/* Shared by the libFuzzer harnesses: one Lua 5.4 state holding the C core as the global `core`,
 * and a property script run on every input.
 *
 * A harness links the files of src/ itself (built with the sanitizers) and reaches the core through the
 * same Lua API a user's code does, so no static function of src/ is exposed for the fuzzer.
 * The properties are written in Lua, in spec/fuzz/c/<target>.lua (its path is compiled in as
 * FUZZ_SCRIPT): its global `check(data)` must return normally for every input; any Lua error in it is a finding, printed and turned into
 * an abort so libFuzzer saves the input. The sanitizers catch memory errors under it. */
#ifndef ALIMTALK_FUZZ_CORE_H
#define ALIMTALK_FUZZ_CORE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

int luaopen_alimtalk_core(lua_State *L);

/* The state, made on first use: standard libraries, `core`, what `extra` adds, then the
 * property script. */
static lua_State *fuzz_state(void (*extra)(lua_State *)) {
    static lua_State *L;
    if (L) return L;
    L = luaL_newstate();
    if (!L) abort();
    luaL_openlibs(L);
    luaL_requiref(L, "alimtalk.core", luaopen_alimtalk_core, 0);
    lua_setglobal(L, "core");
    if (extra) extra(L);
    if (luaL_dofile(L, FUZZ_SCRIPT) != LUA_OK) {
        fprintf(stderr, "fuzz: the property script failed to load: %s\n", lua_tostring(L, -1));
        abort();
    }
    return L;
}

static int fuzz_traceback(lua_State *L) {
    luaL_traceback(L, L, lua_tostring(L, 1), 1);
    return 1;
}

/* check(data) through pcall; a raised error is a finding. */
static void fuzz_check(lua_State *L, const uint8_t *data, size_t size) {
    int top = lua_gettop(L);
    lua_pushcfunction(L, fuzz_traceback);
    lua_getglobal(L, "check");
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 1, 0, top + 1) != LUA_OK) {
        fprintf(stderr, "fuzz: property failed: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_settop(L, top);
    /* a small step now and then so collected objects (and their __gc) are exercised too */
    lua_gc(L, LUA_GCSTEP, 0);
}

#endif
