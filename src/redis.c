/* core.redis_connect(opts) -> conn: a blocking Redis connection over hiredis, for code that
 * runs outside nginx (inside nginx, lua/alimtalk/redis/resty.lua uses cosockets instead).
 *
 * Thin on purpose: a command goes out from its argument list (binary-safe, numbers formatted
 * here), a reply comes back as Lua values, a pipeline appends N commands and reads N replies.
 * AUTH, SELECT and URL parsing are the Lua seam's (lua/alimtalk/redis.lua).
 *
 * Replies: status -> string, integer -> integer, bulk -> string, nil -> core.redis_null (a NULL
 * light userdata, the same value as ngx.null and cjson.null), array -> table (nested), and an
 * error reply -> `nil, message, "redis"` from :command, `{ err = message }` inside a pipeline's
 * list or an array. Failures return `nil, message, code` with code "connect", "timeout", "io",
 * "protocol" or "closed"; after any of them (except "redis") the connection is closed.
 *
 * Ownership: the hiredis context and the reply being converted both live in the userdata, so a
 * Lua error (out of memory while building a reply table) leaks nothing: the next call or
 * close/__gc frees them. A call interrupted that way leaves the protocol state unknown, so the
 * connection is closed on its next use. hiredis 0.14 (Debian 12) writes with write(2), which
 * raises SIGPIPE on a connection the server closed: every I/O runs with SIGPIPE blocked and a
 * pending one consumed, so the caller sees an "io" failure instead of a dead process. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "compat.h"

#define REDIS_CONN_MT "alimtalk.core.redis_conn"
#define DEFAULT_PORT 6379
#define DEFAULT_CONNECT_TIMEOUT 5.0
#define DEFAULT_TIMEOUT 30.0
#define SMALL_ARGC 16

/* hiredis 0.14 allocates an array reply's element table from the count the server announces,
 * before any element arrives: the 14 bytes "*1000000000\r\n" cost 8 GB and half a minute
 * (found by the redis fuzz target). Longer arrays are refused (no command here reads more than
 * a few thousand elements); hiredis 1.x has reader->maxelements for it, 0.14 a createArray of
 * ours in front of its own. */
#define REPLY_MAX_ELEMENTS (1 << 20)

typedef struct {
    redisContext *ctx;    /* NULL once closed */
    redisReply *reply;    /* a reply being converted; freed by the next call or close */
    int busy;             /* set while a call runs: still set on entry = a call raised midway */
    int outstanding;      /* replies of conn:send not yet taken by conn:receive */
#if HIREDIS_MAJOR < 1
    int too_long;         /* capped_array refused an array: the reader's "Out of memory" */
    redisReplyObjectFunctions fns;         /* hiredis's, with capped_array */
    redisReplyObjectFunctions *hiredis_fns;
#endif
} redis_conn;

#if HIREDIS_MAJOR < 1
static void *capped_array(const redisReadTask *task, int elements) {
    redis_conn *c = task->privdata;
    if (elements > REPLY_MAX_ELEMENTS) { c->too_long = 1; return NULL; }
    return c->hiredis_fns->createArray(task, elements);
}
#endif

/* ---- SIGPIPE ------------------------------------------------------------------------------ */

typedef struct { sigset_t old; int was_pending; } pipe_guard;

static void pipe_block(pipe_guard *g) {
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE);
    sigprocmask(SIG_BLOCK, &set, &g->old);
}

static void pipe_unblock(pipe_guard *g) {
    if (!g->was_pending) {   /* one we caused: consume it so it is not delivered on unblock */
        sigset_t set, pending;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE)) {
            struct timespec zero = { 0, 0 };
            while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR) {}
        }
    }
    sigprocmask(SIG_SETMASK, &g->old, NULL);
}

/* ---- connection state --------------------------------------------------------------------- */

static void conn_release(redis_conn *c) {
    if (c->reply) { freeReplyObject(c->reply); c->reply = NULL; }
    if (c->ctx) { redisFree(c->ctx); c->ctx = NULL; }
    c->busy = 0;
    c->outstanding = 0;
}

/* The failure of the context as `nil, message, code`; the connection is closed after it. */
static int push_ctx_failure(lua_State *L, redis_conn *c, int saved_errno, const char *during) {
    const char *code = "io";
    char msg[160];
    int err = c->ctx ? c->ctx->err : REDIS_ERR_OTHER;
    const char *text = c->ctx && c->ctx->errstr[0] ? c->ctx->errstr : "unknown error";
    if (err == REDIS_ERR_IO && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK)) {
        code = "timeout";
        text = "timed out";
    } else if (err == REDIS_ERR_PROTOCOL) {
        code = "protocol";
#if HIREDIS_MAJOR < 1
    } else if (err == REDIS_ERR_OOM && c->too_long) {
        code = "protocol";
        text = "Multi-bulk length out of range (over 1048576 elements)";
#endif
    } else if (err == REDIS_ERR_EOF) {
        text = "the server closed the connection";
    }
    snprintf(msg, sizeof msg, "redis %s: %s", during, text);
    conn_release(c);
    lua_pushnil(L);
    lua_pushstring(L, msg);
    lua_pushstring(L, code);
    return 3;
}

/* One reply off the wire into *reply, with SIGPIPE held back; REDIS_OK, or REDIS_ERR with the
 * I/O errno in *saved. */
static int get_reply(redis_conn *c, void **reply, int *saved) {
    pipe_guard g;
    int rc;
    *reply = NULL;
    pipe_block(&g);
    rc = redisGetReply(c->ctx, reply);
    *saved = errno;
    pipe_unblock(&g);
    return rc == REDIS_OK && *reply ? REDIS_OK : REDIS_ERR;
}

/* The connection for a call, or NULL with `nil, message, code` pushed (*nret = 3 then). The
 * replies of a conn:send nobody received (its caller raised before conn:receive) are read and
 * dropped first, so this call gets its own replies. */
static redis_conn *conn_for_call(lua_State *L, int *nret) {
    redis_conn *c = luaL_checkudata(L, 1, REDIS_CONN_MT);
    if (c->busy) conn_release(c);   /* an earlier call raised before it finished reading */
    if (c->reply) { freeReplyObject(c->reply); c->reply = NULL; }
    if (!c->ctx) {
        lua_pushnil(L);
        lua_pushliteral(L, "redis: the connection is closed");
        lua_pushliteral(L, "closed");
        *nret = 3;
        return NULL;
    }
    while (c->outstanding > 0) {
        void *reply;
        int saved;
        if (get_reply(c, &reply, &saved) != REDIS_OK) {
            *nret = push_ctx_failure(L, c, saved, "reading the replies of an earlier send");
            return NULL;
        }
        freeReplyObject(reply);
        c->outstanding--;
    }
    return c;
}

/* ---- arguments ---------------------------------------------------------------------------- */

#define NUM_LEN 32   /* "%.17g" of a double, "%lld" of a 64-bit integer, with room to spare */

/* Room for argc pointers, lengths and formatted numbers: on the C stack when small, else a
 * userdata pushed on the Lua stack (collected, so nothing is held across a raise). */
typedef struct {
    const char *small_argv[SMALL_ARGC];
    size_t small_len[SMALL_ARGC];
    char small_num[SMALL_ARGC][NUM_LEN];
    const char **argv;
    size_t *len;
    char (*num)[NUM_LEN];
} argv_buf;

static void argv_reserve(lua_State *L, argv_buf *b, int argc) {
    if (argc <= SMALL_ARGC) {
        b->argv = b->small_argv;
        b->len = b->small_len;
        b->num = b->small_num;
    } else {
        size_t n = (size_t)argc;
        char *block = lua_newuserdata(L, n * (NUM_LEN + sizeof(size_t) + sizeof(char *)));
        b->num = (char (*)[NUM_LEN])block;
        b->len = (size_t *)(block + n * NUM_LEN);
        b->argv = (const char **)(block + n * (NUM_LEN + sizeof(size_t)));
    }
}

/* Argument i (0-based) of a command, the Lua value at `idx`, into b: strings as they are
 * (the pointer stays valid while the string is on the stack), numbers formatted into b so that
 * Redis reads them back exactly (integers without a fraction or exponent, even past 2^31 on
 * LuaJIT; other numbers with 17 significant digits). Anything else raises. */
static void arg_bytes(lua_State *L, int idx, argv_buf *b, int i, const char *what, int cmd) {
    int t = lua_type(L, idx);
    if (t == LUA_TSTRING) {
        b->argv[i] = lua_tolstring(L, idx, &b->len[i]);
        return;
    }
    if (t == LUA_TNUMBER) {
        int n;
#if LUA_VERSION_NUM >= 503
        if (lua_isinteger(L, idx)) {
            n = snprintf(b->num[i], NUM_LEN, "%lld", (long long)lua_tointeger(L, idx));
        } else
#endif
        {
            lua_Number v = lua_tonumber(L, idx);
            if (v == floor(v) && fabs(v) <= 9007199254740992.0)
                n = snprintf(b->num[i], NUM_LEN, "%.0f", (double)v);
            else
                n = snprintf(b->num[i], NUM_LEN, "%.17g", (double)v);
        }
        b->argv[i] = b->num[i];
        b->len[i] = (size_t)n;
        return;
    }
    if (cmd > 0)
        luaL_error(L, "%s: command %d argument %d must be a string or a number, got %s", what, cmd,
                   i + 1, luaL_typename(L, idx));
    else
        luaL_error(L, "%s: argument %d must be a string or a number, got %s", what, i + 1,
                   luaL_typename(L, idx));
}

/* ---- replies ------------------------------------------------------------------------------ */

static void push_reply(lua_State *L, const redisReply *r) {
    size_t i;
    luaL_checkstack(L, 4, "redis reply nested too deeply");
    switch (r->type) {
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_STRING:
        lua_pushlstring(L, r->str, r->len);
        break;
    case REDIS_REPLY_INTEGER:
#if LUA_VERSION_NUM >= 503
        lua_pushinteger(L, (lua_Integer)r->integer);
#else
        lua_pushnumber(L, (lua_Number)r->integer);
#endif
        break;
    case REDIS_REPLY_NIL:
        lua_pushlightuserdata(L, NULL);
        break;
    case REDIS_REPLY_ERROR:
        lua_createtable(L, 0, 1);
        lua_pushlstring(L, r->str, r->len);
        lua_setfield(L, -2, "err");
        break;
    case REDIS_REPLY_ARRAY:
        lua_createtable(L, r->elements > (size_t)0x7fffffff ? 0 : (int)r->elements, 0);
        for (i = 0; i < r->elements; i++) {
            push_reply(L, r->element[i]);
            lua_rawseti(L, -2, (int)(i + 1));
        }
        break;
    default:
        lua_pushnil(L);   /* not produced by a RESP2 server */
        break;
    }
}

/* ---- methods ------------------------------------------------------------------------------ */

/* conn:command(name, ...) -> reply | nil, message, code */
static int l_command(lua_State *L) {
    int nret, argc = lua_gettop(L) - 1, i, saved;
    redis_conn *c = conn_for_call(L, &nret);
    argv_buf b;
    pipe_guard g;
    void *reply;
    if (argc < 1) return luaL_error(L, "redis command: the command name is missing");
    if (!c) return nret;
    argv_reserve(L, &b, argc);
    for (i = 0; i < argc; i++) arg_bytes(L, i + 2, &b, i, "redis command", 0);

    c->busy = 1;
    pipe_block(&g);
    reply = redisCommandArgv(c->ctx, argc, b.argv, b.len);
    saved = errno;
    pipe_unblock(&g);
    if (!reply) return push_ctx_failure(L, c, saved, "command");
    c->reply = reply;
    if (c->reply->type == REDIS_REPLY_ERROR) {
        lua_pushnil(L);
        lua_pushlstring(L, c->reply->str, c->reply->len);
        lua_pushliteral(L, "redis");
        nret = 3;
    } else {
        push_reply(L, c->reply);
        nret = 1;
    }
    freeReplyObject(c->reply);
    c->reply = NULL;
    c->busy = 0;
    return nret;
}

/* Check a list of commands (at stack index 2) without sending anything: a misuse raises.
 * Returns the largest argument count. */
static int check_list(lua_State *L, const char *what) {
    int n = (int)lua_rawlen(L, 2), i, j, maxargc = 0;
    for (i = 1; i <= n; i++) {
        int argc;
        lua_rawgeti(L, 2, i);
        if (lua_type(L, -1) != LUA_TTABLE)
            return luaL_error(L, "%s: command %d must be a table, got %s", what, i,
                              luaL_typename(L, -1));
        argc = (int)lua_rawlen(L, -1);
        if (argc < 1) return luaL_error(L, "%s: command %d is empty", what, i);
        for (j = 1; j <= argc; j++) {
            int t;
            lua_rawgeti(L, -1, j);
            t = lua_type(L, -1);
            if (t != LUA_TSTRING && t != LUA_TNUMBER)
                return luaL_error(L, "%s: command %d argument %d must be a string or a "
                                  "number, got %s", what, i, j, luaL_typename(L, -1));
            lua_pop(L, 1);
        }
        if (argc > maxargc) maxargc = argc;
        lua_pop(L, 1);
    }
    return maxargc;
}

/* Append the checked list's commands to the context's output buffer (nothing written yet).
 * Returns 0, or the number of values pushed for a failure. */
static int append_list(lua_State *L, redis_conn *c, int n, int maxargc, const char *what) {
    argv_buf b;
    int i, j;
    argv_reserve(L, &b, maxargc);   /* stack: conn, list, [buffer] */
    luaL_checkstack(L, maxargc + 6, "redis: a command has too many arguments");
    for (i = 1; i <= n; i++) {
        int top = lua_gettop(L), argc;
        lua_rawgeti(L, 2, i);
        argc = (int)lua_rawlen(L, -1);
        for (j = 1; j <= argc; j++) {   /* each string stays on the stack until appended */
            lua_rawgeti(L, top + 1, j);
            arg_bytes(L, lua_gettop(L), &b, j - 1, what, i);
        }
        if (redisAppendCommandArgv(c->ctx, argc, b.argv, b.len) != REDIS_OK)
            return push_ctx_failure(L, c, 0, what);
        lua_settop(L, top);
    }
    return 0;
}

/* Read n replies into a new table on the stack. Returns 0, or the values pushed for a failure. */
static int read_replies(lua_State *L, redis_conn *c, int n, const char *what) {
    int i;
    lua_createtable(L, n, 0);
    for (i = 1; i <= n; i++) {
        void *reply;
        int saved;
        if (get_reply(c, &reply, &saved) != REDIS_OK) return push_ctx_failure(L, c, saved, what);
        c->reply = reply;
        push_reply(L, c->reply);
        lua_rawseti(L, -2, i);
        freeReplyObject(c->reply);
        c->reply = NULL;
    }
    return 0;
}

/* conn:pipeline({ {name, ...}, ... }) -> { reply or {err=...}, ... } | nil, message, code.
 * Every command is checked before any is sent, so a misuse raises with nothing sent. On an I/O
 * failure some of the commands may have run; the connection is closed. */
static int l_pipeline(lua_State *L) {
    int nret, n, maxargc;
    redis_conn *c;
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    n = (int)lua_rawlen(L, 2);
    maxargc = check_list(L, "redis pipeline");
    c = conn_for_call(L, &nret);
    if (!c) return nret;
    if (n == 0) { lua_newtable(L); return 1; }
    c->busy = 1;
    if ((nret = append_list(L, c, n, maxargc, "redis pipeline")) != 0) return nret;
    if ((nret = read_replies(L, c, n, "redis pipeline")) != 0) return nret;
    c->busy = 0;
    return 1;
}

/* conn:send({ {name, ...}, ... }) -> true | nil, message, code: write the commands and return
 * without waiting for their replies, so the caller works while the server runs them
 * (conn:receive takes the replies). Checked as a pipeline is. */
static int l_send(lua_State *L) {
    int nret, n, maxargc, done = 0, saved;
    redis_conn *c;
    pipe_guard g;
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    n = (int)lua_rawlen(L, 2);
    maxargc = check_list(L, "redis send");
    /* the replies of an earlier send stay to be received: only a plain call drops them */
    c = luaL_checkudata(L, 1, REDIS_CONN_MT);
    if (c->outstanding == 0 || c->busy || !c->ctx) {
        c = conn_for_call(L, &nret);
        if (!c) return nret;
    }
    if (n > 0) {
        c->busy = 1;
        if ((nret = append_list(L, c, n, maxargc, "redis send")) != 0) return nret;
        pipe_block(&g);
        while (!done) {
            if (redisBufferWrite(c->ctx, &done) != REDIS_OK) {
                saved = errno;
                pipe_unblock(&g);
                return push_ctx_failure(L, c, saved, "send");
            }
        }
        pipe_unblock(&g);
        c->busy = 0;
        c->outstanding += n;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* conn:receive() -> { reply or {err=...}, ... } | nil, message, code: the replies of every
 * conn:send since the last receive, in order. */
static int l_receive(lua_State *L) {
    int nret, n;
    redis_conn *c = luaL_checkudata(L, 1, REDIS_CONN_MT);
    if (c->busy) conn_release(c);
    if (!c->ctx) {
        lua_pushnil(L);
        lua_pushliteral(L, "redis: the connection is closed");
        lua_pushliteral(L, "closed");
        return 3;
    }
    n = c->outstanding;
    c->busy = 1;
    c->outstanding = 0;
    if ((nret = read_replies(L, c, n, "redis receive")) != 0) return nret;
    c->busy = 0;
    return 1;
}

/* conn:connected() -> boolean: false once closed (by :close or after a failure) */
static int l_connected(lua_State *L) {
    redis_conn *c = luaL_checkudata(L, 1, REDIS_CONN_MT);
    lua_pushboolean(L, c->ctx != NULL && !c->busy);
    return 1;
}

/* conn:close(), __gc and __close: one idempotent function */
static int l_close(lua_State *L) {
    conn_release(luaL_checkudata(L, 1, REDIS_CONN_MT));
    return 0;
}

static int l_tostring(lua_State *L) {
    redis_conn *c = luaL_checkudata(L, 1, REDIS_CONN_MT);
    lua_pushfstring(L, REDIS_CONN_MT " (%s): %p", c->ctx ? "open" : "closed", (void *)c);
    return 1;
}

/* ---- constructor -------------------------------------------------------------------------- */

static const char *const CONNECT_KEYS[] = { "host", "port", "path", "connect_timeout", "timeout",
                                            NULL };

static struct timeval seconds_arg(lua_State *L, int idx, const char *field) {
    struct timeval tv;
    lua_Number s;
    if (lua_type(L, idx) != LUA_TNUMBER)
        luaL_error(L, "redis_connect opts.%s: must be a number of seconds, got %s", field,
                   luaL_typename(L, idx));
    s = lua_tonumber(L, idx);
    if (!(s > 0 && s <= 86400))
        luaL_error(L, "redis_connect opts.%s: must be more than 0 and at most 86400 seconds", field);
    tv.tv_sec = (time_t)floor(s);
    tv.tv_usec = (suseconds_t)((s - floor(s)) * 1e6);
    if (tv.tv_sec == 0 && tv.tv_usec == 0) tv.tv_usec = 1;
    return tv;
}

/* core.redis_connect(opts) -> conn | nil, message, "connect"
 * opts: host (string) and port (integer, default 6379), or path (a Unix socket);
 * connect_timeout (s, default 5); timeout (s, default 30: each read or write waits at most this) */
static int l_redis_connect(lua_State *L) {
    const char *host = NULL, *path = NULL;
    lua_Integer port = DEFAULT_PORT;
    struct timeval cto = { (time_t)DEFAULT_CONNECT_TIMEOUT, 0 }, to = { (time_t)DEFAULT_TIMEOUT, 0 };
    redis_conn *c;
    char msg[200];
    int flags;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        int k, known = 0;
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING)
            for (k = 0; CONNECT_KEYS[k]; k++)
                if (strcmp(lua_tostring(L, -1), CONNECT_KEYS[k]) == 0) known = 1;
        if (!known)
            return luaL_error(L, "redis_connect opts: unknown option '%s'",
                              lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?");
    }
    lua_getfield(L, 1, "host");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0 ||
            strlen(lua_tostring(L, -1)) != lua_rawlen(L, -1))
            return luaL_error(L, "redis_connect opts.host: must be a non-empty string");
        host = lua_tostring(L, -1);
    }
    lua_getfield(L, 1, "path");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0 ||
            strlen(lua_tostring(L, -1)) != lua_rawlen(L, -1))
            return luaL_error(L, "redis_connect opts.path: must be a non-empty string");
        path = lua_tostring(L, -1);
    }
    if ((host == NULL) == (path == NULL))
        return luaL_error(L, "redis_connect opts: give host (and port) or path, not both or neither");
    lua_getfield(L, 1, "port");
    if (!lua_isnil(L, -1)) {
        lua_Number p = lua_tonumber(L, -1);
        if (lua_type(L, -1) != LUA_TNUMBER || p != floor(p) || p < 1 || p > 65535)
            return luaL_error(L, "redis_connect opts.port: must be an integer from 1 to 65535");
        port = (lua_Integer)p;
    }
    lua_getfield(L, 1, "connect_timeout");
    if (!lua_isnil(L, -1)) cto = seconds_arg(L, -1, "connect_timeout");
    lua_getfield(L, 1, "timeout");
    if (!lua_isnil(L, -1)) to = seconds_arg(L, -1, "timeout");

    c = lua_newuserdata(L, sizeof *c);
    memset(c, 0, sizeof *c);
    luaL_getmetatable(L, REDIS_CONN_MT);
    lua_setmetatable(L, -2);                 /* __gc armed before anything is acquired */
    c->ctx = path ? redisConnectUnixWithTimeout(path, cto)
                  : redisConnectWithTimeout(host, (int)port, cto);
    if (c->ctx == NULL) return luaL_error(L, "alimtalk.core.redis_connect: out of memory");
    if (c->ctx->err || redisSetTimeout(c->ctx, to) != REDIS_OK) {
        if (path) snprintf(msg, sizeof msg, "redis connect to %s: %s", path, c->ctx->errstr);
        else snprintf(msg, sizeof msg, "redis connect to %s:%d: %s", host, (int)port, c->ctx->errstr);
        conn_release(c);
        lua_pushnil(L);
        lua_pushstring(L, msg);
        lua_pushliteral(L, "connect");
        return 3;
    }
#if HIREDIS_MAJOR < 1
    c->hiredis_fns = c->ctx->reader->fn;
    c->fns = *c->hiredis_fns;
    c->fns.createArray = capped_array;
    c->ctx->reader->fn = &c->fns;
    c->ctx->reader->privdata = c;        /* the userdata does not move and outlives ctx */
#else
    c->ctx->reader->maxelements = REPLY_MAX_ELEMENTS;
#endif
    /* not inherited by the programs the CLI runs (sort, sh) */
    flags = fcntl(c->ctx->fd, F_GETFD);
    if (flags >= 0) fcntl(c->ctx->fd, F_SETFD, flags | FD_CLOEXEC);
    return 1;
}

void at_redis_open(lua_State *L) {
    static const luaL_Reg methods[] = {
        { "command", l_command },
        { "pipeline", l_pipeline },
        { "send", l_send },
        { "receive", l_receive },
        { "connected", l_connected },
        { "close", l_close },
        { NULL, NULL },
    };
    if (luaL_newmetatable(L, REDIS_CONN_MT)) {
        lua_pushliteral(L, REDIS_CONN_MT);
        lua_setfield(L, -2, "__name");
        lua_pushcfunction(L, l_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, l_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_newtable(L);
        luaL_setfuncs(L, methods, 0);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, l_redis_connect);
    lua_setfield(L, -2, "redis_connect");
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "redis_null");
}
