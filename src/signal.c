/* Stop requests by signal for the long-running commands (alimtalk worker, bulk run): SIGTERM
 * and SIGINT set a flag that the Lua loop polls between rounds, so the round in flight ends
 * with its outcomes stored and the process exits by itself. A second signal (either kind)
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

static struct sigaction previous[NSIGNALS];   /* the action each trap replaced */
static int trapped[NSIGNALS];

static void on_signal(int sig) {
    if (caught != 0) {
        /* asked again (by either signal): stop now. The signal is blocked while its handler
         * runs, so it is delivered, with the default action, once this returns. */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    caught = sig;
}

static int signal_index(lua_State *L, int idx) {
    const char *name = luaL_checkstring(L, idx);
    size_t i;
    if (strncmp(name, "SIG", 3) == 0) name += 3;
    for (i = 0; i < NSIGNALS; i++)
        if (strcmp(name, SIGNALS[i].name) == 0) return (int)i;
    return luaL_argerror(L, idx, "signal must be TERM or INT");
}

static void untrap(size_t i) {
    if (!trapped[i]) return;
    sigaction(SIGNALS[i].sig, &previous[i], NULL);
    trapped[i] = 0;
}

/* core.trap_signals(name...) -> true | nil, message: from now on these signals ask the process
 * to stop (core.stop_signal) instead of ending it. A signal the process was started with
 * ignored (nohup, `&` in a script for SIGINT) stays ignored. On a failure nothing is trapped. */
static int l_trap_signals(lua_State *L) {
    int n = lua_gettop(L), i;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (i = 1; i <= n; i++) signal_index(L, i);   /* check them all before changing any */
    for (i = 1; i <= n; i++) {
        size_t k = (size_t)signal_index(L, i);
        struct sigaction old;
        if (trapped[k]) continue;
        if (sigaction(SIGNALS[k].sig, NULL, &old) != 0 ||
            (old.sa_handler != SIG_IGN && sigaction(SIGNALS[k].sig, &sa, &previous[k]) != 0)) {
            int e = errno, j;
            for (j = 1; j < i; j++) untrap((size_t)signal_index(L, j));
            lua_pushnil(L);
            lua_pushfstring(L, "cannot trap SIG%s: %s", SIGNALS[k].name, strerror(e));
            return 2;
        }
        trapped[k] = old.sa_handler != SIG_IGN;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* core.stop_signal() -> "TERM" | "INT" | nil: the first trapped signal received */
static int l_stop_signal(lua_State *L) {
    size_t i;
    int sig = caught;
    for (i = 0; i < NSIGNALS; i++) {
        if (SIGNALS[i].sig == sig) {
            lua_pushstring(L, SIGNALS[i].name);
            return 1;
        }
    }
    lua_pushnil(L);
    return 1;
}

/* core.untrap_signals(name...): the actions from before the trap back, and the flag cleared */
static int l_untrap_signals(lua_State *L) {
    int n = lua_gettop(L), i;
    for (i = 1; i <= n; i++) signal_index(L, i);
    for (i = 1; i <= n; i++) untrap((size_t)signal_index(L, i));
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
