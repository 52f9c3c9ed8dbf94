/* Lua 5.1/LuaJIT vs 5.4 differences used by the alimtalk core, and shared declarations.
 * LuaJIT 2.1 already provides luaL_setfuncs, luaL_testudata and luaL_setmetatable. */
#ifndef ALIMTALK_COMPAT_H
#define ALIMTALK_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502
#define lua_rawlen(L, i) lua_objlen((L), (i))
#endif

/* Integers that fit a lua_Number exactly on 5.1 too (counts and offsets of a string). */
#if LUA_VERSION_NUM >= 503
#define at_pushcount(L, n) lua_pushinteger((L), (lua_Integer)(n))
#else
#define at_pushcount(L, n) lua_pushnumber((L), (lua_Number)(n))
#endif

#define AT_EXPORT __attribute__((visibility("default")))
#define ALIMTALK_VERSION "0.1.0"

/* Each part registers its functions into the module table on top of the stack. */
void at_limits_open(lua_State *L);
void at_sign_open(lua_State *L);
void at_http_open(lua_State *L);
void at_redis_open(lua_State *L);
void at_signal_open(lua_State *L);

#endif
