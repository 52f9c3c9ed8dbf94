#include "compat.h"
void at_http_open(lua_State *L) { (void)L; }
