/* A keep-alive HTTP client on curl multi.
 *
 * One client = one curl multi handle, whose connection cache keeps connections alive between
 * calls. Each call (request or request_many) validates every request first, then builds its
 * transfers inside a "batch" userdata whose __gc frees whatever the call still owns, so an
 * error raised at any point leaks nothing. While curl runs, no Lua function is called: the
 * callbacks only copy bytes into the batch's buffers. Every easy handle is removed from the
 * multi before the call touches the Lua stack again.
 *
 * Safe defaults: TLS verification always on (ca_file may name the trust store), http:// only
 * to loopback hosts, redirects not followed, "Expect:" blanked, no signals, proxies only when
 * asked for, a response cap, and error messages that carry neither header values nor the URL. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "compat.h"

#define HTTP_CLIENT_MT "alimtalk.core.http_client"
#define HTTP_BATCH_MT "alimtalk.core.http_batch"
#define HTTP_RESP_MT "alimtalk.core.http_response"
#define IDLE_MAX 16
#define HEADERS_MAX (256 * 1024)
#define DEFAULT_MAX_RESPONSE (1024 * 1024)
#define DEFAULT_CONNECT_TIMEOUT 10.0
#define DEFAULT_TIMEOUT 30.0
#define DEFAULT_MAX_CONNECTIONS 8

typedef struct {
    char *p;
    size_t len, cap;
} membuf;

typedef struct {
    CURL *easy;
    struct curl_slist *hdrs;
    membuf head, body;
    curl_off_t cap;
    int too_large, prereq, resend_blocked, idempotent, done, copy_body;
    CURLcode result;
    lua_Integer id;            /* submit()'s handle */
    char err[CURL_ERROR_SIZE];
} xfer;

typedef struct {
    CURLM *multi;
    CURL *idle[IDLE_MAX];      /* easy handles with the client-wide options already set */
    int n_idle;
    int pool_easy;             /* 0: a fresh easy handle per transfer (see l_http_client) */
    long connect_timeout_ms, timeout_ms, max_connections;
    curl_off_t max_response;
    char *ca_file, *proxy, *user_agent;
    char *last_url;            /* the last URL that passed check_url, to skip re-parsing it */
    size_t last_url_len;
    size_t connections, requests;
    int closed;
    xfer one;                  /* request()'s transfer; request_many uses a batch userdata */
    xfer **async;              /* submit()ted transfers not yet returned by wait(), in order */
    size_t n_async, cap_async;
    xfer *stage;               /* the transfer submit() is preparing (freed if preparing raised) */
    lua_Integer next_id;
} http_client;

typedef struct {
    size_t n;
    xfer x[1];              /* n of them */
} batch;

/* ---------------------------------------------------------------- small helpers */

static double at_monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int mb_add(membuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        char *p;
        while (cap < b->len + n + 1) cap *= 2;
        if ((p = realloc(b->p, cap)) == NULL) return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static void mb_free(membuf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Gives x's easy handle back to c's idle pool (or frees it without c) and frees the rest.
 * With keep_buffers, small response buffers stay allocated for the next request(). */
static void xfer_release_keep(xfer *x, http_client *c, int keep_buffers) {
    if (x->easy) {
        if (c && !c->closed && c->pool_easy && c->n_idle < IDLE_MAX) {
            /* forget pointers into this call (header list, body, error buffer) while idle */
            curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
            curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, (char *)NULL);
            curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, (char *)NULL);
            curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (void *)NULL);
            c->idle[c->n_idle++] = x->easy;
        } else {
            curl_easy_cleanup(x->easy);
        }
        x->easy = NULL;
    }
    if (x->hdrs) { curl_slist_free_all(x->hdrs); x->hdrs = NULL; }
    if (keep_buffers && x->head.cap <= 65536) x->head.len = 0; else mb_free(&x->head);
    if (keep_buffers && x->body.cap <= 65536) x->body.len = 0; else mb_free(&x->body);
}

static void xfer_release(xfer *x, http_client *c) {
    xfer_release_keep(x, c, 0);
}

static int batch_gc(lua_State *L) {
    batch *b = luaL_checkudata(L, 1, HTTP_BATCH_MT);
    size_t i;
    for (i = 0; i < b->n; i++) xfer_release(&b->x[i], NULL);
    return 0;
}

static batch *new_batch(lua_State *L, size_t n) {
    size_t sz = sizeof(batch) + (n ? n - 1 : 0) * sizeof(xfer);
    batch *b;
    if (n > (((size_t)-1) - sizeof(batch)) / sizeof(xfer)) luaL_error(L, "too many requests");
    b = lua_newuserdata(L, sz);
    memset(b, 0, sz);
    luaL_getmetatable(L, HTTP_BATCH_MT);
    lua_setmetatable(L, -2);
    b->n = n;
    return b;
}

static http_client *check_client(lua_State *L) {
    http_client *c = luaL_checkudata(L, 1, HTTP_CLIENT_MT);
    if (c->closed) luaL_error(L, "alimtalk.core http client: used after close()");
    return c;
}

/* seconds (a positive finite number) -> whole milliseconds, at least 1 */
static long seconds_ms(lua_State *L, int idx, const char *label, const char *field) {
    lua_Number v;
    if (lua_type(L, idx) != LUA_TNUMBER)
        luaL_error(L, "%s.%s: must be a number of seconds, got %s", label, field, luaL_typename(L, idx));
    v = lua_tonumber(L, idx);
    if (!(v > 0) || v > 86400.0)
        luaL_error(L, "%s.%s: must be a positive number of seconds up to 86400", label, field);
    return (long)ceil(v * 1000.0);
}

static curl_off_t size_arg(lua_State *L, int idx, const char *label, const char *field) {
    lua_Number v;
    if (lua_type(L, idx) != LUA_TNUMBER)
        luaL_error(L, "%s.%s: must be a number of bytes, got %s", label, field, luaL_typename(L, idx));
    v = lua_tonumber(L, idx);
    if (!(v >= 1) || v > 1099511627776.0 || v != floor(v))
        luaL_error(L, "%s.%s: must be a positive whole number of bytes", label, field);
    return (curl_off_t)v;
}

static const char *opt_string(lua_State *L, int idx, const char *label, const char *field) {
    if (lua_type(L, idx) != LUA_TSTRING)
        luaL_error(L, "%s.%s: must be a string, got %s", label, field, luaL_typename(L, idx));
    return lua_tostring(L, idx);
}

/* Raises unless every key of the table at idx is one of names. */
static void check_keys(lua_State *L, int idx, const char *const names[], const char *label) {
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int ok = 0, i;
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -1);
            for (i = 0; names[i]; i++)
                if (strcmp(k, names[i]) == 0) { ok = 1; break; }
            if (!ok) luaL_error(L, "%s: unknown option '%s'", label, k);
        } else {
            luaL_error(L, "%s: option keys must be strings", label);
        }
    }
}

static char *dup_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

/* ---------------------------------------------------------------- URL and header checks */

static int is_tchar(unsigned char ch) {
    return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* 127.0.0.0/8 written as a dotted quad, ::1, or localhost */
static int is_loopback_host(const char *h) {
    unsigned a, b, c, d;
    char extra;
    if (strcmp(h, "localhost") == 0 || strcmp(h, "[::1]") == 0) return 1;
    if (sscanf(h, "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) == 4)
        return a == 127 && b < 256 && c < 256 && d < 256;
    return 0;
}

/* Returns NULL if the URL is acceptable, else the reason. Nothing is left allocated. */
static const char *check_url(const char *url, size_t len) {
    CURLU *u;
    char *scheme = NULL, *host = NULL;
    const char *why = NULL;
    if (strlen(url) != len) return "must not contain NUL bytes";
    if ((u = curl_url()) == NULL) return "out of memory while parsing";
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        why = "is not a valid absolute URL";
    } else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
               (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)) {
        why = "scheme must be https (or http to a loopback host)";
    } else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0') {
        why = "has no host";
    } else if (strcmp(scheme, "http") == 0 && !is_loopback_host(host)) {
        why = "plain http is allowed only to loopback hosts (127.0.0.0/8, ::1, localhost); use https";
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return why;
}

/* ---------------------------------------------------------------- curl callbacks (no Lua) */

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    xfer *x = ud;
    size_t len = size * n;
    if ((curl_off_t)(x->body.len + len) > x->cap) { x->too_large = 1; return 0; }
    if (mb_add(&x->body, p, len) != 0) return 0;
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    xfer *x = ud;
    size_t len = size * n;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) x->head.len = 0;   /* a new status line: 1xx then final */
    if (x->head.len + len > HEADERS_MAX) { x->too_large = 1; return 0; }
    if (mb_add(&x->head, p, len) != 0) return 0;
    return len;
}

/* Called once the connection (TLS included) is ready and just before the request goes out. */
static int on_prereq(void *ud, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
                     int conn_local_port) {
    xfer *x = ud;
    (void)conn_primary_ip; (void)conn_local_ip; (void)conn_primary_port; (void)conn_local_port;
    if (x->prereq && !x->idempotent) {
        /* libcurl silently resends a request once on a fresh connection when a reused one
         * died without a response byte; the server may have acted on the first copy (a
         * message sent twice), so for POST and PATCH stop here and let the caller decide. */
        x->resend_blocked = 1;
        return CURL_PREREQFUNC_ABORT;
    }
    x->prereq = 1;
    return CURL_PREREQFUNC_OK;
}

/* ---------------------------------------------------------------- building a transfer */

static const char *const REQ_KEYS[] = { "method", "url", "headers", "body", "connect_timeout",
                                        "timeout", "max_response", NULL };

#define SETOPT(opt, val) do { if (curl_easy_setopt(e, opt, val) != CURLE_OK) goto setopt_failed; } while (0)

/* An easy handle from the idle pool, or a new one with the options that never change for
 * this client. NULL when out of memory or libcurl refuses an option. */
static CURL *acquire_easy(http_client *c) {
    CURL *e;
    if (c->n_idle > 0) return c->idle[--c->n_idle];
    if ((e = curl_easy_init()) == NULL) return NULL;
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->ca_file) SETOPT(CURLOPT_CAINFO, c->ca_file);
    SETOPT(CURLOPT_PROXY, c->proxy ? c->proxy : "");
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_PREREQFUNCTION, on_prereq);
    return e;
setopt_failed:
    curl_easy_cleanup(e);
    return NULL;
}

/* Validates the request table at index idx and sets up x (owned by the batch, so raising is
 * safe). The body string stays referenced by the request table, itself held by the caller's
 * argument, for the whole call, so curl may point at it without copying. */
static void prepare(lua_State *L, http_client *c, xfer *x, int idx, const char *label) {
    const char *method = "GET", *url, *body = NULL;
    size_t ulen, blen = 0, i;
    long cto = c->connect_timeout_ms, to = c->timeout_ms;
    curl_off_t cap = c->max_response;
    const char *why;
    CURL *e;
    int top = lua_gettop(L), own_ua = 0;

    if (lua_type(L, idx) != LUA_TTABLE)
        luaL_error(L, "%s: must be a table, got %s", label, luaL_typename(L, idx));
    check_keys(L, idx, REQ_KEYS, label);

    lua_getfield(L, idx, "method");
    if (!lua_isnil(L, -1)) {
        size_t ml;
        method = opt_string(L, -1, label, "method");
        ml = strlen(method);
        if (ml == 0 || ml > 32) luaL_error(L, "%s.method: must be 1 to 32 upper-case letters", label);
        for (i = 0; i < ml; i++)
            if (method[i] < 'A' || method[i] > 'Z')
                luaL_error(L, "%s.method: must be upper-case letters such as \"POST\"", label);
    }
    lua_getfield(L, idx, "url");
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "%s.url: must be a string, got %s", label, luaL_typename(L, -1));
    url = lua_tolstring(L, -1, &ulen);
    if (!(c->last_url && c->last_url_len == ulen && memcmp(c->last_url, url, ulen) == 0)) {
        char *copy;
        if ((why = check_url(url, ulen)) != NULL) luaL_error(L, "%s.url: %s", label, why);
        if ((copy = malloc(ulen + 1)) != NULL) {     /* only a cache: no copy, no harm */
            memcpy(copy, url, ulen + 1);
            free(c->last_url);
            c->last_url = copy;
            c->last_url_len = ulen;
        }
    }
    lua_getfield(L, idx, "body");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s.body: must be a string, got %s", label, luaL_typename(L, -1));
        body = lua_tolstring(L, -1, &blen);
    }
    lua_getfield(L, idx, "connect_timeout");
    if (!lua_isnil(L, -1)) cto = seconds_ms(L, -1, label, "connect_timeout");
    lua_getfield(L, idx, "timeout");
    if (!lua_isnil(L, -1)) to = seconds_ms(L, -1, label, "timeout");
    lua_getfield(L, idx, "max_response");
    if (!lua_isnil(L, -1)) cap = size_arg(L, -1, label, "max_response");

    /* headers: validated while the list is built; the list is owned by x */
    lua_getfield(L, idx, "headers");
    if (!lua_isnil(L, -1)) {
        int h = lua_gettop(L);
        if (lua_type(L, h) != LUA_TTABLE)
            luaL_error(L, "%s.headers: must be a table, got %s", label, luaL_typename(L, h));
        lua_pushnil(L);
        while (lua_next(L, h)) {
            const char *name, *value;
            size_t nl, vl;
            struct curl_slist *nl_list;
            char line[512];
            if (lua_type(L, -2) != LUA_TSTRING)
                luaL_error(L, "%s.headers: names must be strings", label);
            name = lua_tolstring(L, -2, &nl);
            for (i = 0; i < nl; i++)
                if (!is_tchar((unsigned char)name[i])) break;
            if (nl == 0 || i < nl)
                luaL_error(L, "%s.headers: a header name is empty or holds characters not allowed in "
                              "a name (NUL, CR, LF, space, ':', ...)", label);
            if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
                luaL_error(L, "%s.headers[\"%s\"]: value must be a string, got %s", label, name,
                           luaL_typename(L, -1));
            lua_pushvalue(L, -1);   /* convert a copy: lua_tolstring on a number changes it */
            value = lua_tolstring(L, -1, &vl);
            for (i = 0; i < vl; i++)
                if (value[i] == '\0' || value[i] == '\r' || value[i] == '\n')
                    luaL_error(L, "%s.headers[\"%s\"]: value must not contain NUL, CR or LF", label, name);
            if (nl == 10 && strcasecmp(name, "User-Agent") == 0) own_ua = 1;
            if (strcasecmp(name, "Content-Length") == 0 || strcasecmp(name, "Transfer-Encoding") == 0)
                luaL_error(L, "%s.headers[\"%s\"]: is set by the client from the body", label, name);
            /* "Name;" is curl's way to send a header with an empty value */
            if (nl + vl + 3 <= sizeof line) {
                memcpy(line, name, nl);
                if (vl == 0) {
                    line[nl] = ';';
                    line[nl + 1] = '\0';
                } else {
                    line[nl] = ':';
                    line[nl + 1] = ' ';
                    memcpy(line + nl + 2, value, vl + 1);
                }
                nl_list = curl_slist_append(x->hdrs, line);
            } else {
                if (vl == 0) lua_pushfstring(L, "%s;", name);
                else lua_pushfstring(L, "%s: %s", name, value);
                nl_list = curl_slist_append(x->hdrs, lua_tostring(L, -1));
                lua_pop(L, 1);
            }
            if (nl_list == NULL) luaL_error(L, "%s.headers: out of memory", label);
            x->hdrs = nl_list;
            lua_pop(L, 2);
        }
    }
    {
        struct curl_slist *l = curl_slist_append(x->hdrs, "Expect:");
        if (l == NULL) luaL_error(L, "%s: out of memory", label);
        x->hdrs = l;
        /* the library's User-Agent as a header line (CURLOPT_USERAGENT costs more per request),
         * unless the request brings its own */
        if (!own_ua) {
            if ((l = curl_slist_append(x->hdrs, c->user_agent)) == NULL) luaL_error(L, "%s: out of memory", label);
            x->hdrs = l;
        }
    }

    /* everything valid: set up the easy handle */
    x->cap = cap;
    x->idempotent = strcmp(method, "POST") != 0 && strcmp(method, "PATCH") != 0;
    if ((x->easy = e = acquire_easy(c)) == NULL) luaL_error(L, "%s: out of memory for a transfer", label);
    SETOPT(CURLOPT_PRIVATE, (void *)x);
    SETOPT(CURLOPT_URL, url);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, cto);
    SETOPT(CURLOPT_TIMEOUT_MS, to);
    /* the cap's early refusal reads Content-Length, which a HEAD answer gives for a body it
     * does not send (0: no such check; on_body still holds any body to the cap) */
    SETOPT(CURLOPT_MAXFILESIZE_LARGE, strcmp(method, "HEAD") == 0 ? (curl_off_t)0 : cap);
    SETOPT(CURLOPT_HTTPHEADER, x->hdrs);
    SETOPT(CURLOPT_ERRORBUFFER, x->err);
    SETOPT(CURLOPT_WRITEDATA, (void *)x);
    SETOPT(CURLOPT_HEADERDATA, (void *)x);
    SETOPT(CURLOPT_PREREQDATA, (void *)x);
    /* a pooled handle keeps the previous request's method: set every method option */
    if (strcmp(method, "HEAD") == 0) {
        SETOPT(CURLOPT_CUSTOMREQUEST, (char *)NULL);
        SETOPT(CURLOPT_NOBODY, 1L);
    } else if (body) {
        SETOPT(CURLOPT_HTTPGET, 1L);                    /* clears NOBODY */
        SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
        if (x->copy_body) SETOPT(CURLOPT_COPYPOSTFIELDS, body);   /* outlives this call */
        else SETOPT(CURLOPT_POSTFIELDS, body);
        SETOPT(CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") != 0 ? method : (char *)NULL);
    } else {
        SETOPT(CURLOPT_HTTPGET, 1L);
        SETOPT(CURLOPT_CUSTOMREQUEST, strcmp(method, "GET") != 0 ? method : (char *)NULL);
    }
    lua_settop(L, top);
    return;
setopt_failed:
    luaL_error(L, "%s: libcurl refused an option", label);
}

/* ---------------------------------------------------------------- running a batch */

/* Reads every finished transfer's result into its xfer (submitted ones included). */
static void drain_done(http_client *c) {
    CURLMsg *m;
    int q;
    while ((m = curl_multi_info_read(c->multi, &q)) != NULL) {
        if (m->msg == CURLMSG_DONE) {
            xfer *x = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            if (x) { x->done = 1; x->result = m->data.result; }
        }
    }
}

/* Takes a finished (or failed) transfer off the multi handle and counts it. */
static void finish_xfer(http_client *c, xfer *x, CURLMcode mc) {
    long nconn = 0;
    curl_multi_remove_handle(c->multi, x->easy);
    if (!x->done) {   /* the multi handle itself failed */
        x->done = 1;
        x->result = CURLE_RECV_ERROR;
        strcpy(x->err, "the transfer loop failed: ");
        strncat(x->err, curl_multi_strerror(mc), sizeof x->err - strlen(x->err) - 1);
    }
    if (curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &nconn) == CURLE_OK) c->connections += (size_t)nconn;
    c->requests += 1;
}

/* Runs the n prepared transfers at xs to completion on c's multi handle (submitted transfers
 * progress meanwhile, and stay on it). Calls no Lua. */
static void run_transfers(http_client *c, xfer *xs, size_t n) {
    size_t i, left = 0;
    int running = 0;
    CURLMcode mc = CURLM_OK;
    for (i = 0; i < n; i++) {
        xfer *x = &xs[i];
        if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) {
            x->done = 1;
            x->result = CURLE_OUT_OF_MEMORY;
        }
    }
    for (;;) {
        mc = curl_multi_perform(c->multi, &running);
        drain_done(c);
        for (i = 0, left = 0; i < n; i++) left += !xs[i].done;
        if (mc != CURLM_OK || left == 0 || running == 0) break;
        if ((mc = curl_multi_poll(c->multi, NULL, 0, 1000, NULL)) != CURLM_OK) break;
    }
    for (i = 0; i < n; i++) finish_xfer(c, &xs[i], mc);
}

static int was_sent(xfer *x) {
    long reqsize = 0;
    curl_off_t up = 0;
    curl_easy_getinfo(x->easy, CURLINFO_REQUEST_SIZE, &reqsize);
    curl_easy_getinfo(x->easy, CURLINFO_SIZE_UPLOAD_T, &up);
    /* prereq fires once the connection is ready, just before the first request byte: from
     * then on the request may have left, so "sent" errs on the side of "maybe" */
    return x->prereq || reqsize > 0 || up > 0;
}

static const char *failure_code(xfer *x) {
    switch (x->result) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return "dns";
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
        return "connect";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
        return "tls";
    case CURLE_OPERATION_TIMEDOUT:
        if (strncmp(x->err, "Resolving timed out", 19) == 0) return "dns";
        return "timeout";
    case CURLE_FILESIZE_EXCEEDED:
        return "too_large";
    case CURLE_WRITE_ERROR:
        return x->too_large ? "too_large" : "protocol";
    case CURLE_ABORTED_BY_CALLBACK:     /* only on_prereq aborts: see there */
    default:
        return "protocol";
    }
}

/* pushes message and code; the message names no header value and not the URL path */
static void push_failure(lua_State *L, xfer *x) {
    const char *code = failure_code(x);
    if (strcmp(code, "too_large") == 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "response larger than max_response (%lld bytes)", (long long)x->cap);
        lua_pushstring(L, msg);
    }
    else if (x->resend_blocked)
        lua_pushliteral(L, "the server closed a reused connection without a response; the request "
                           "may have been received, so it was not sent again");
    else if (x->result == CURLE_BAD_FUNCTION_ARGUMENT && !x->err[0])
        /* during a transfer, only libcurl's header store says this: a folded header line
         * with no header before it to continue */
        lua_pushliteral(L, "malformed answer: its first header line is folded (starts with a space or tab)");
    else if (x->err[0])
        lua_pushstring(L, x->err);
    else
        lua_pushstring(L, curl_easy_strerror(x->result));
    lua_pushstring(L, code);
}

static int count_lines(const char *p, size_t n) {
    int lines = 0;
    const char *end = p ? p + n : NULL;
    while (p && p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) { lines++; p++; }
    return lines;
}

/* Pushes a table of the header lines in p[0..len) (names lower-cased, repeats joined). A line
 * starting with a space or tab continues the header before it (obs-fold): RFC 9112 5.2 has a
 * user agent replace the fold with a space. libcurl 7.88 passes such lines on as they came;
 * since 8.18 it unfolds them itself. */
static void push_headers(lua_State *L, const char *p, size_t len) {
    const char *end = p ? p + len : NULL;
    int t, last = 0;                                /* last: a header a folded line may continue */
    lua_createtable(L, 0, count_lines(p, len));   /* no rehash while filling */
    t = lua_gettop(L);
    lua_pushnil(L);                                 /* t + 1: the name of that header */
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p)), *colon, *v, *ve;
        const char *le = eol ? eol : end;
        int folded = *p == ' ' || *p == '\t';
        colon = folded ? NULL : memchr(p, ':', (size_t)(le - p));
        v = colon ? colon + 1 : p;
        ve = le;
        if (folded || colon) {
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
        }
        if (folded) {
            if (last && ve > v) {
                size_t ol;
                lua_pushvalue(L, t + 1);
                lua_pushvalue(L, -1);
                lua_rawget(L, t);
                lua_tolstring(L, -1, &ol);
                if (ol) lua_pushliteral(L, " "); else lua_pushliteral(L, "");
                lua_pushlstring(L, v, (size_t)(ve - v));
                lua_concat(L, 3);
                lua_rawset(L, t);
            }
        } else if (colon && colon > p && !((size_t)(le - p) >= 5 && memcmp(p, "HTTP/", 5) == 0)) {
            char name[128];
            size_t nl = (size_t)(colon - p), k;
            if (nl < sizeof name) {
                for (k = 0; k < nl; k++) name[k] = (char)tolower((unsigned char)p[k]);
                lua_pushlstring(L, name, nl);           /* name */
            } else {
                luaL_Buffer nb;
                luaL_buffinit(L, &nb);
                for (k = 0; k < nl; k++) luaL_addchar(&nb, (char)tolower((unsigned char)p[k]));
                luaL_pushresult(&nb);
            }
            lua_pushvalue(L, -1);
            lua_replace(L, t + 1);
            last = 1;
            lua_pushvalue(L, -1);
            lua_rawget(L, t);                           /* existing value? */
            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                lua_pushlstring(L, v, (size_t)(ve - v));
            } else {                                    /* repeated header: join with ", " */
                lua_pushliteral(L, ", ");
                lua_pushlstring(L, v, (size_t)(ve - v));
                lua_concat(L, 3);
            }
            lua_rawset(L, t);
        } else {
            last = 0;                                   /* a status line, or no header */
        }
        p = eol ? eol + 1 : end;
    }
    lua_settop(L, t);
}

/* Key (a light userdata) under which a response keeps its raw header block until
 * `headers` is first read: most answers are judged by status and body alone, and building
 * the table costs a string per name and value. */
static char RAW_HEAD_KEY;

/* __index of a response: `headers`, built from the raw block on first access and kept. */
static int resp_index(lua_State *L) {
    const char *raw;
    size_t len = 0;
    if (lua_type(L, 2) != LUA_TSTRING || strcmp(lua_tostring(L, 2), "headers") != 0) return 0;
    lua_pushlightuserdata(L, &RAW_HEAD_KEY);
    lua_rawget(L, 1);
    raw = lua_tolstring(L, -1, &len);
    push_headers(L, raw, raw ? len : 0);
    lua_pushliteral(L, "headers");
    lua_pushvalue(L, -2);
    lua_rawset(L, 1);
    lua_pushlightuserdata(L, &RAW_HEAD_KEY);
    lua_pushnil(L);
    lua_rawset(L, 1);
    return 1;
}

static void push_response(lua_State *L, xfer *x) {
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)status);
    lua_setfield(L, -2, "status");
    lua_pushlightuserdata(L, &RAW_HEAD_KEY);
    lua_pushlstring(L, x->head.p ? x->head.p : "", x->head.len);
    lua_rawset(L, -3);
    lua_pushlstring(L, x->body.p ? x->body.p : "", x->body.len);
    lua_setfield(L, -2, "body");
    luaL_getmetatable(L, HTTP_RESP_MT);
    lua_setmetatable(L, -2);
}

/* client:request(req) -> resp | nil, message, code, sent */
static int l_request(lua_State *L) {
    http_client *c = check_client(L);
    xfer *x = &c->one;
    membuf head, body;
    luaL_checkany(L, 2);
    lua_settop(L, 2);
    /* the client owns this transfer, so an error raised below leaks nothing: whatever a
     * raising call left in it is released here, or by close/__gc */
    xfer_release_keep(x, c, 1);
    head = x->head;
    body = x->body;
    memset(x, 0, sizeof *x);
    x->head = head;
    x->body = body;
    prepare(L, c, x, 2, "req");
    run_transfers(c, x, 1);
    if (x->result == CURLE_OK) {
        push_response(L, x);
        xfer_release_keep(x, c, 1);
        return 1;
    }
    lua_pushnil(L);
    push_failure(L, x);
    lua_pushboolean(L, was_sent(x));
    xfer_release_keep(x, c, 1);
    return 4;
}

/* client:request_many(reqs) -> { { resp = resp } | { err = message, code = code, sent = bool }, ... } */
static int l_request_many(lua_State *L) {
    http_client *c = check_client(L);
    size_t n, i;
    batch *b;
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    n = lua_rawlen(L, 2);
    b = new_batch(L, n);                     /* index 3 */
    for (i = 0; i < n; i++) {
        char label[48];
        snprintf(label, sizeof label, "reqs[%u]", (unsigned)(i + 1));
        lua_rawgeti(L, 2, (int)(i + 1));
        prepare(L, c, &b->x[i], lua_gettop(L), label);
        lua_pop(L, 1);
    }
    if (n) run_transfers(c, b->x, n);
    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n; i++) {
        xfer *x = &b->x[i];
        lua_createtable(L, 0, 3);
        if (x->result == CURLE_OK) {
            push_response(L, x);
            lua_setfield(L, -2, "resp");
        } else {
            push_failure(L, x);
            lua_setfield(L, -3, "code");
            lua_setfield(L, -2, "err");
            lua_pushboolean(L, was_sent(x));
            lua_setfield(L, -2, "sent");
        }
        lua_rawseti(L, -2, (int)(i + 1));
        xfer_release(x, c);
    }
    return 1;
}

/* Frees a transfer made by submit (off the multi handle already, or never added). */
static void free_async(http_client *c, xfer *x) {
    xfer_release(x, c);
    free(x);
}

/* client:submit(req) -> id: starts req and returns at once; wait() returns its outcome. The
 * body is copied, so the request table need not outlive the call. */
static int l_submit(lua_State *L) {
    http_client *c = check_client(L);
    xfer *x;
    int running = 0;
    luaL_checkany(L, 2);
    lua_settop(L, 2);
    if (c->stage) { free_async(c, c->stage); c->stage = NULL; }   /* left by a raising call */
    if (c->n_async == c->cap_async) {
        size_t cap = c->cap_async ? c->cap_async * 2 : 16;
        xfer **a = realloc(c->async, cap * sizeof *a);
        if (a == NULL) return luaL_error(L, "req: out of memory");
        c->async = a;
        c->cap_async = cap;
    }
    if ((x = calloc(1, sizeof *x)) == NULL) return luaL_error(L, "req: out of memory");
    c->stage = x;
    x->copy_body = 1;
    prepare(L, c, x, 2, "req");
    c->stage = NULL;
    x->id = ++c->next_id;
    c->async[c->n_async++] = x;
    if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) {
        x->done = 1;
        x->result = CURLE_OUT_OF_MEMORY;
    } else {
        curl_multi_perform(c->multi, &running);   /* send what can be sent now */
        drain_done(c);
    }
    lua_pushinteger(L, x->id);
    return 1;
}

/* Index of the first finished submitted transfer, or -1. */
static long first_done(http_client *c) {
    size_t i;
    for (i = 0; i < c->n_async; i++)
        if (c->async[i]->done) return (long)i;
    return -1;
}

/* client:wait([timeout]) -> id, resp | id, nil, message, code, sent | nil
 * Drives the submitted transfers until one has finished (the earliest submitted of those
 * finished) and returns its outcome, as request() does, after its id. With a timeout in
 * seconds (0: only what is ready now) it returns nil when none finished in time; without
 * one it waits for the next (each transfer's own timeout bounds that). Nil when none is
 * pending. */
static int l_wait(lua_State *L) {
    http_client *c = check_client(L);
    long ms_left = -1, at;
    double deadline = 0;
    CURLMcode mc = CURLM_OK;
    xfer *x;
    int running = 0;
    if (!lua_isnoneornil(L, 2)) {
        lua_Number t = luaL_checknumber(L, 2);
        if (!(t >= 0) || t > 86400.0) return luaL_error(L, "wait: timeout must be 0 to 86400 seconds");
        ms_left = (long)ceil(t * 1000.0);
        deadline = at_monotonic() + t;
    }
    for (;;) {
        if ((at = first_done(c)) >= 0 || c->n_async == 0) break;
        mc = curl_multi_perform(c->multi, &running);
        drain_done(c);
        if ((at = first_done(c)) >= 0 || mc != CURLM_OK) break;
        if (ms_left == 0) break;
        if (ms_left > 0) {
            ms_left = (long)ceil((deadline - at_monotonic()) * 1000.0);
            if (ms_left <= 0) { ms_left = 0; continue; }   /* one last non-blocking look */
        }
        if ((mc = curl_multi_poll(c->multi, NULL, 0, ms_left < 0 || ms_left > 1000 ? 1000 : (int)ms_left,
                                  NULL)) != CURLM_OK) break;
    }
    if (at < 0 && mc != CURLM_OK && c->n_async > 0) at = 0;   /* the loop itself failed */
    if (at < 0) { lua_pushnil(L); return 1; }
    x = c->async[at];
    memmove(&c->async[at], &c->async[at + 1], (c->n_async - (size_t)at - 1) * sizeof *c->async);
    c->n_async--;
    c->stage = x;                  /* freed by the next submit/close if pushing raises */
    finish_xfer(c, x, mc);
    lua_pushinteger(L, x->id);
    if (x->result == CURLE_OK) {
        push_response(L, x);
        c->stage = NULL;
        free_async(c, x);
        return 2;
    }
    lua_pushnil(L);
    push_failure(L, x);
    lua_pushboolean(L, was_sent(x));
    c->stage = NULL;
    free_async(c, x);
    return 5;
}

/* client:pending() -> number of submitted transfers wait() has not returned yet */
static int l_pending(lua_State *L) {
    http_client *c = check_client(L);
    at_pushcount(L, c->n_async);
    return 1;
}

/* client:stats() -> { connections = opened so far, requests = transfers run } */
static int l_stats(lua_State *L) {
    http_client *c = luaL_checkudata(L, 1, HTTP_CLIENT_MT);
    lua_createtable(L, 0, 2);
    at_pushcount(L, c->connections);
    lua_setfield(L, -2, "connections");
    at_pushcount(L, c->requests);
    lua_setfield(L, -2, "requests");
    return 1;
}

/* client:close(), __gc and __close: one idempotent function */
static int l_close(lua_State *L) {
    http_client *c = luaL_checkudata(L, 1, HTTP_CLIENT_MT);
    c->closed = 1;
    xfer_release(&c->one, NULL);
    if (c->stage) { xfer_release(c->stage, NULL); free(c->stage); c->stage = NULL; }
    while (c->n_async > 0) {
        xfer *x = c->async[--c->n_async];
        if (c->multi && x->easy) curl_multi_remove_handle(c->multi, x->easy);
        xfer_release(x, NULL);
        free(x);
    }
    free(c->async); c->async = NULL; c->cap_async = 0;
    while (c->n_idle > 0) curl_easy_cleanup(c->idle[--c->n_idle]);
    free(c->last_url); c->last_url = NULL;
    if (c->multi) { curl_multi_cleanup(c->multi); c->multi = NULL; }
    free(c->ca_file); c->ca_file = NULL;
    free(c->proxy); c->proxy = NULL;
    free(c->user_agent); c->user_agent = NULL;
    return 0;
}

static int l_tostring(lua_State *L) {
    http_client *c = luaL_checkudata(L, 1, HTTP_CLIENT_MT);
    lua_pushfstring(L, "alimtalk.core.http_client (%s): %p", c->closed ? "closed" : "open", (void *)c);
    return 1;
}

static const char *const CLIENT_KEYS[] = { "ca_file", "connect_timeout", "timeout", "max_response",
                                           "max_connections", "user_agent", "proxy", NULL };

/* core.http_client(opts) -> client */
static int l_http_client(lua_State *L) {
    const char *ca_file = NULL, *ua = NULL, *proxy = NULL;
    long cto = (long)(DEFAULT_CONNECT_TIMEOUT * 1000), to = (long)(DEFAULT_TIMEOUT * 1000);
    long maxconn = DEFAULT_MAX_CONNECTIONS;
    curl_off_t cap = DEFAULT_MAX_RESPONSE;
    http_client *c;
    size_t i;
    const char *label = "http_client opts";
    if (lua_isnoneornil(L, 1)) { lua_settop(L, 0); lua_newtable(L); }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    check_keys(L, 1, CLIENT_KEYS, label);
    lua_getfield(L, 1, "ca_file");
    if (!lua_isnil(L, -1)) ca_file = opt_string(L, -1, label, "ca_file");
    lua_getfield(L, 1, "connect_timeout");
    if (!lua_isnil(L, -1)) cto = seconds_ms(L, -1, label, "connect_timeout");
    lua_getfield(L, 1, "timeout");
    if (!lua_isnil(L, -1)) to = seconds_ms(L, -1, label, "timeout");
    lua_getfield(L, 1, "max_response");
    if (!lua_isnil(L, -1)) cap = size_arg(L, -1, label, "max_response");
    lua_getfield(L, 1, "max_connections");
    if (!lua_isnil(L, -1)) {
        curl_off_t v = size_arg(L, -1, label, "max_connections");
        if (v > 1024) luaL_error(L, "%s.max_connections: must be from 1 to 1024", label);
        maxconn = (long)v;
    }
    lua_getfield(L, 1, "user_agent");
    if (!lua_isnil(L, -1)) {
        ua = opt_string(L, -1, label, "user_agent");
        for (i = 0; ua[i]; i++)
            if ((unsigned char)ua[i] < 0x20 || ua[i] == 0x7F)
                luaL_error(L, "%s.user_agent: must not contain control characters", label);
    }
    lua_getfield(L, 1, "proxy");
    if (!lua_isnil(L, -1)) {
        proxy = opt_string(L, -1, label, "proxy");
        if ((strncmp(proxy, "http://", 7) != 0 && strncmp(proxy, "https://", 8) != 0) ||
            strlen(proxy) != lua_rawlen(L, -1))
            luaL_error(L, "%s.proxy: must be an http:// or https:// proxy URL", label);
        for (i = 0; proxy[i]; i++)
            if ((unsigned char)proxy[i] <= 0x20 || proxy[i] == 0x7F)
                luaL_error(L, "%s.proxy: must not contain spaces or control characters", label);
    }
    lua_pushfstring(L, "User-Agent: alimtalk/" ALIMTALK_VERSION "%s%s", ua ? " " : "", ua ? ua : "");
    ua = lua_tostring(L, -1);

    c = lua_newuserdata(L, sizeof *c);
    memset(c, 0, sizeof *c);
    luaL_getmetatable(L, HTTP_CLIENT_MT);
    lua_setmetatable(L, -2);                 /* __gc armed before anything is acquired */
    c->connect_timeout_ms = cto;
    c->timeout_ms = to;
    c->max_response = cap;
    c->max_connections = maxconn;
    /* libcurl before 8.1.0 keeps a pointer to the last header it stored for a transfer
     * (state.prevhead) after freeing that header when the handle starts its next transfer;
     * an answer whose first header line is folded (starts with a space or tab) then makes it
     * read and grow freed memory (curl/curl#11101, fixed by #11103 in 8.1.0). A fresh handle
     * has no such pointer, and libcurl refuses that answer instead: no pooling there. */
    c->pool_easy = curl_version_info(CURLVERSION_NOW)->version_num >= 0x080100;
    if ((c->user_agent = dup_string(ua)) == NULL ||
        (ca_file && (c->ca_file = dup_string(ca_file)) == NULL) ||
        (proxy && (c->proxy = dup_string(proxy)) == NULL) ||
        (c->multi = curl_multi_init()) == NULL)
        return luaL_error(L, "alimtalk.core.http_client: out of memory");
    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, maxconn);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, maxconn);
    return 1;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_OK;
static void curl_init_once(void) { curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT); }

void at_http_open(lua_State *L) {
    static const luaL_Reg methods[] = {
        { "request", l_request },
        { "request_many", l_request_many },
        { "submit", l_submit },
        { "wait", l_wait },
        { "pending", l_pending },
        { "stats", l_stats },
        { "close", l_close },
        { NULL, NULL },
    };
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_result != CURLE_OK) luaL_error(L, "alimtalk.core: curl_global_init failed");
    if (luaL_newmetatable(L, HTTP_CLIENT_MT)) {
        lua_pushliteral(L, HTTP_CLIENT_MT);
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
    if (luaL_newmetatable(L, HTTP_RESP_MT)) {
        lua_pushcfunction(L, resp_index);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, HTTP_BATCH_MT)) {
        lua_pushcfunction(L, batch_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, l_http_client);
    lua_setfield(L, -2, "http_client");
}
