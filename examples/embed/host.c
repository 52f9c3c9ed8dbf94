/* A C program that embeds Lua 5.4 and sends AlimTalk messages through alimtalk.
 *
 *   alimtalk-embed SCRIPT [ARG...]          run a Lua script that sends (blocking is fine)
 *   alimtalk-embed --loop SCRIPT [ARG...]   the host's own event loop drives the script's
 *                                           non-blocking sends (client:submit / client:poll)
 *
 * The host opens the standard libraries, points package.path and package.cpath at an
 * alimtalk checkout (ALIMTALK_ROOT, default the checkout this was built from: its lua/ and
 * build/lua5.4/), and gives the script a table `host` with `args` and `mode`.
 *
 * In --loop mode the script returns a table with `start()` and `tick(n)`; the host then runs a
 * poll() loop on a 10 ms timerfd: each expiry is one tick, where the host does its own work
 * (here: counts ticks and keeps a heartbeat) and calls `tick(n)`, which must not block (it
 * calls client:poll(0)). `tick` returns true when the script is done. The host prints how
 * many ticks ran, so it is visible that the loop kept turning while sends were in flight.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#ifndef ALIMTALK_ROOT
#define ALIMTALK_ROOT "."
#endif

#define TICK_NS (10 * 1000 * 1000) /* 10 ms */
#define MAX_TICKS (100 * 60)       /* give up after a minute: a loop must end */

/* The message of an error raised in Lua, with a traceback. */
static int traceback(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
    return 1;
}

static int pcall_traced(lua_State *L, int nargs, int nresults) {
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback);
    lua_insert(L, base);
    int rc = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    if (rc != LUA_OK) {
        fprintf(stderr, "alimtalk-embed: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return rc;
}

/* package.path / package.cpath: the checkout's modules first, then Lua's defaults. */
static void set_paths(lua_State *L, const char *root) {
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua;", root, root);
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");
    lua_pushfstring(L, "%s/build/lua5.4/?.so;", root);
    lua_getfield(L, -2, "cpath");
    lua_concat(L, 2);
    lua_setfield(L, -2, "cpath");
    lua_pop(L, 1);
}

/* The global `host`: { mode = "script"|"loop", args = { ... } }. */
static void set_host(lua_State *L, const char *mode, int argc, char **argv) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, mode);
    lua_setfield(L, -2, "mode");
    lua_createtable(L, argc, 0);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "args");
    lua_setglobal(L, "host");
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Call script[name](args...) with the table at `idx`; returns the Lua status. */
static int call_field(lua_State *L, int idx, const char *name, int nargs, int nresults) {
    lua_getfield(L, idx, name);
    if (!lua_isfunction(L, -1)) {
        fprintf(stderr, "alimtalk-embed: the script's table has no function '%s'\n", name);
        lua_pop(L, 1 + nargs);
        return LUA_ERRRUN;
    }
    lua_insert(L, -1 - nargs);
    return pcall_traced(L, nargs, nresults);
}

/* The host's event loop: a 10 ms timer in poll(), the host's own work and one script tick
 * per expiry. */
static int run_loop(lua_State *L, int script) {
    if (call_field(L, script, "start", 0, 0) != LUA_OK) return 1;
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    if (tfd < 0) {
        perror("alimtalk-embed: timerfd_create");
        return 1;
    }
    struct itimerspec its = { { 0, TICK_NS }, { 0, TICK_NS } };
    if (timerfd_settime(tfd, 0, &its, NULL) != 0) {
        perror("alimtalk-embed: timerfd_settime");
        close(tfd);
        return 1;
    }
    double t0 = now_seconds(), longest = 0;
    long ticks = 0;
    int rc = 1;
    struct pollfd pfd = { tfd, POLLIN, 0 };
    while (ticks < MAX_TICKS) {
        int n = poll(&pfd, 1, 1000);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { perror("alimtalk-embed: poll"); break; }
        if (n == 0) continue;
        uint64_t expirations;
        if (read(tfd, &expirations, sizeof expirations) != (ssize_t)sizeof expirations) continue;
        ticks++;
        /* the host's own work for this tick would go here (I/O, timers, rendering...) */
        double before = now_seconds();
        lua_pushinteger(L, (lua_Integer)ticks);
        if (call_field(L, script, "tick", 1, 1) != LUA_OK) break;
        int done = lua_toboolean(L, -1);
        lua_pop(L, 1);
        double spent = now_seconds() - before;
        if (spent > longest) longest = spent;
        if (done) { rc = 0; break; }
    }
    close(tfd);
    if (ticks >= MAX_TICKS) fprintf(stderr, "alimtalk-embed: the script did not finish\n");
    printf("host: loop ticked %ld times in %.3f s; longest tick in Lua %.1f ms\n", ticks,
           now_seconds() - t0, longest * 1000);
    return rc;
}

int main(int argc, char **argv) {
    int loop = 0, first = 1;
    if (argc > 1 && strcmp(argv[1], "--loop") == 0) { loop = 1; first = 2; }
    if (argc <= first) {
        fprintf(stderr, "usage: %s [--loop] SCRIPT [ARG...]\n", argv[0]);
        return 2;
    }
    const char *root = getenv("ALIMTALK_ROOT");
    if (!root || !*root) root = ALIMTALK_ROOT;

    lua_State *L = luaL_newstate();
    if (!L) { fprintf(stderr, "alimtalk-embed: out of memory\n"); return 1; }
    luaL_openlibs(L);
    set_paths(L, root);
    set_host(L, loop ? "loop" : "script", argc - first - 1, argv + first + 1);

    int rc = 1;
    if (luaL_loadfile(L, argv[first]) != LUA_OK) {
        fprintf(stderr, "alimtalk-embed: %s\n", lua_tostring(L, -1));
    } else if (pcall_traced(L, 0, 1) == LUA_OK) {
        if (!loop) {
            /* a script may return false (or nil, message) to fail the run */
            rc = (lua_isnoneornil(L, -1) || lua_toboolean(L, -1)) ? 0 : 1;
        } else if (lua_istable(L, -1)) {
            rc = run_loop(L, lua_gettop(L));
        } else {
            fprintf(stderr, "alimtalk-embed: a --loop script returns { start =, tick = }\n");
        }
    }
    lua_close(L); /* closes the script's clients (their __gc) before the process goes */
    return rc;
}
