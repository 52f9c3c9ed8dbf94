#include "compat.h"
void at_sign_open(lua_State *L) { (void)L; }
