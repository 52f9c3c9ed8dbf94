/* luaopen_alimtalk_core: one module table holding the signing, HTTP and measurement parts. */
#include "compat.h"

AT_EXPORT int luaopen_alimtalk_core(lua_State *L) {
    lua_newtable(L);
    at_limits_open(L);
    at_sign_open(L);
    at_http_open(L);
    lua_pushliteral(L, ALIMTALK_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
