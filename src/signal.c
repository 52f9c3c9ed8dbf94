/* Stop requests by signal for the long-running commands (alimtalk worker, bulk run): SIGTERM
 * and SIGINT set a flag that the Lua loop polls between rounds, so the round in flight ends
 * with its outcomes stored and the process exits by itself. A second signal of the same kind
 * gets the default action (a kill), which the queue and the journal survive by design.
 *
 * Plain Lua has no signal API, and luaposix is not a dependency; sigaction with a flag is the
 * whole of it. SA_RESTART keeps libcurl's and hiredis's blocking calls going: the flag is read
 * once they return. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "compat.h"

static volatile sig_atomic_t caught;   /* the first trapped signal's number, 0 before */

static const struct { const char *name; int sig; } SIGNALS[] = {
    { "TERM", SIGTERM }, { "INT", SIGINT },
};
#define NSIGNALS (sizeof SIGNALS / sizeof SIGNALS[0])

static void on_signal(int sig) {
    if (caught == sig) {
        /* asked twice: stop now */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    if (caught == 0) caught = sig;
}

static int signal_number(lua_State *L, int idx) {
    const char *name = luaL_checkstring(L, idx);
    size_t i;
    if (strncmp(name, "SIG", 3) == 0) name += 3;
    for (i = 0; i < NSIGNALS; i++)
        if (strcmp(name, SIGNALS[i].name) == 0) return SIGNALS[i].sig;
    return luaL_argerror(L, idx, "signal must be TERM or INT");
}

static const char *signal_name(int sig) {
    size_t i;
    for (i = 0; i < NSIGNALS; i++)
        if (SIGNALS[i].sig == sig) return SIGNALS[i].name;
    return "?";
}

/* core.trap_signals(name...) -> true | nil, message: from now on these signals ask the process
 * to stop (core.stop_signal) instead of ending it. */
static int l_trap_signals(lua_State *L) {
    int n = lua_gettop(L), i;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (i = 1; i <= n; i++) signal_number(L, i);   /* check them all before changing any */
    for (i = 1; i <= n; i++) {
        if (sigaction(signal_number(L, i), &sa, NULL) != 0) {
            lua_pushnil(L);
            lua_pushfstring(L, "cannot trap SIG%s: %s", lua_tostring(L, i), strerror(errno));
            return 2;
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* core.stop_signal() -> "TERM" | "INT" | nil: the first trapped signal received */
static int l_stop_signal(lua_State *L) {
    int sig = caught;
    if (sig == 0) lua_pushnil(L);
    else lua_pushstring(L, signal_name(sig));
    return 1;
}

/* core.untrap_signals(name...): the default action again, and the flag cleared */
static int l_untrap_signals(lua_State *L) {
    int n = lua_gettop(L), i;
    for (i = 1; i <= n; i++) signal(signal_number(L, i), SIG_DFL);
    caught = 0;
    return 0;
}

void at_signal_open(lua_State *L) {
    static const luaL_Reg fns[] = {
        { "trap_signals", l_trap_signals },
        { "stop_signal", l_stop_signal },
        { "untrap_signals", l_untrap_signals },
        { NULL, NULL },
    };
    luaL_setfuncs(L, fns, 0);
}
