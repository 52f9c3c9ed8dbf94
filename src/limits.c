/* One-pass text measurement: UTF-8 validity, code points, bytes, CP949 bytes, lines.
 *
 * ASCII and the precomposed Hangul syllables (U+AC00..U+D7A3, all in CP949 at 2 bytes) are
 * counted inline; any other code point is asked of glibc iconv, opened lazily per call and
 * closed before anything is pushed, so nothing is held across a call that can raise. */
#include <errno.h>
#include <iconv.h>
#include <stddef.h>
#include <string.h>

#include "compat.h"

typedef struct {
    int valid;
    size_t bad_offset;          /* 1-based, 0 = none */
    size_t chars, bytes, euckr_bytes;
    size_t unencodable, first_unencodable;  /* first: 1-based char index, 0 = none */
    size_t lines, longest_line;
} measure_t;

/* Length of the valid UTF-8 sequence at s (n bytes left) and its code point, or 0 if the bytes
 * there do not start one (overlong forms, surrogates and values above U+10FFFF included). */
static size_t utf8_decode(const unsigned char *s, size_t n, unsigned long *cp) {
    unsigned char c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    if (c < 0xC2) return 0;
    if (c < 0xE0) {
        if (n < 2 || (s[1] & 0xC0) != 0x80) return 0;
        *cp = ((unsigned long)(c & 0x1F) << 6) | (s[1] & 0x3F);
        return 2;
    }
    if (c < 0xF0) {
        unsigned char lo = 0x80, hi = 0xBF;
        if (c == 0xE0) lo = 0xA0;          /* overlong */
        else if (c == 0xED) hi = 0x9F;     /* surrogates */
        if (n < 3 || s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80) return 0;
        *cp = ((unsigned long)(c & 0x0F) << 12) | ((unsigned long)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        return 3;
    }
    if (c < 0xF5) {
        unsigned char lo = 0x80, hi = 0xBF;
        if (c == 0xF0) lo = 0x90;          /* overlong */
        else if (c == 0xF4) hi = 0x8F;     /* above U+10FFFF */
        if (n < 4 || s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        *cp = ((unsigned long)(c & 0x07) << 18) | ((unsigned long)(s[1] & 0x3F) << 12) |
              ((unsigned long)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
        return 4;
    }
    return 0;
}

/* CP949 length of one UTF-8 encoded code point, 0 if it has none. *cd is opened on first use;
 * returns -1 if the converter cannot be opened. */
static int cp949_len(iconv_t *cd, const unsigned char *s, size_t n) {
    char in[4], out[8];
    char *ip = in, *op = out;
    size_t il = n, ol = sizeof out;
    if (*cd == (iconv_t)-1) {
        *cd = iconv_open("CP949", "UTF-8");
        if (*cd == (iconv_t)-1) return -1;
    }
    memcpy(in, s, n);
    if (iconv(*cd, &ip, &il, &op, &ol) == (size_t)-1) {
        iconv(*cd, NULL, NULL, NULL, NULL);   /* back to the initial state */
        return 0;
    }
    return (int)(sizeof out - ol);
}

/* Returns 0, or -1 when the CP949 converter is unavailable. */
static int measure(const unsigned char *s, size_t n, measure_t *m) {
    iconv_t cd = (iconv_t)-1;
    size_t i = 0, line = 0, breaks = 0;
    int rc = 0;
    memset(m, 0, sizeof *m);
    m->valid = 1;
    m->bytes = n;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            m->chars++;
            m->euckr_bytes++;
            i++;
            if (c == '\n' || c == '\r') {
                if (c == '\r' && i < n && s[i] == '\n') { m->chars++; m->euckr_bytes++; i++; }
                if (line > m->longest_line) m->longest_line = line;
                line = 0;
                breaks++;
            } else {
                line++;
            }
            continue;
        }
        unsigned long cp = 0;
        size_t len = utf8_decode(s + i, n - i, &cp);
        int eb;
        m->chars++;
        line++;
        if (len == 0) {
            /* Each byte that does not start a valid sequence stands for one U+FFFD, which
             * CP949 cannot encode. */
            if (m->valid) { m->valid = 0; m->bad_offset = i + 1; }
            eb = 0;
            len = 1;
        } else if (cp >= 0xAC00 && cp <= 0xD7A3) {
            eb = 2;
        } else if (cp > 0xFFFF) {
            eb = 0;                            /* CP949 has nothing outside the BMP */
        } else {
            eb = cp949_len(&cd, s + i, len);
            if (eb < 0) { rc = -1; break; }
        }
        if (eb == 0) {
            if (m->unencodable++ == 0) m->first_unencodable = m->chars;
        }
        m->euckr_bytes += (size_t)eb;
        i += len;
    }
    if (line > m->longest_line) m->longest_line = line;
    m->lines = n > 0 ? breaks + 1 : 0;
    if (cd != (iconv_t)-1) iconv_close(cd);
    return rc;
}

static void check_measure(lua_State *L, measure_t *m) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    if (measure((const unsigned char *)s, n, m) != 0)
        luaL_error(L, "alimtalk.core.measure: the CP949 converter (iconv) is unavailable");
}

static void push_pos(lua_State *L, size_t v) {
    if (v) at_pushcount(L, v); else lua_pushnil(L);
}

/* core.measure(s) -> table */
static int l_measure(lua_State *L) {
    measure_t m;
    check_measure(L, &m);
    lua_createtable(L, 0, 9);
    lua_pushboolean(L, m.valid);            lua_setfield(L, -2, "valid");
    push_pos(L, m.bad_offset);              lua_setfield(L, -2, "bad_offset");
    at_pushcount(L, m.chars);               lua_setfield(L, -2, "chars");
    at_pushcount(L, m.bytes);               lua_setfield(L, -2, "bytes");
    at_pushcount(L, m.euckr_bytes);         lua_setfield(L, -2, "euckr_bytes");
    at_pushcount(L, m.unencodable);         lua_setfield(L, -2, "unencodable");
    push_pos(L, m.first_unencodable);       lua_setfield(L, -2, "first_unencodable");
    at_pushcount(L, m.lines);               lua_setfield(L, -2, "lines");
    at_pushcount(L, m.longest_line);        lua_setfield(L, -2, "longest_line");
    return 1;
}

/* core.measure_fields(s) -> valid, bad_offset, chars, bytes, euckr_bytes, unencodable,
 * first_unencodable, lines, longest_line */
static int l_measure_fields(lua_State *L) {
    measure_t m;
    check_measure(L, &m);
    luaL_checkstack(L, 9, NULL);
    lua_pushboolean(L, m.valid);
    push_pos(L, m.bad_offset);
    at_pushcount(L, m.chars);
    at_pushcount(L, m.bytes);
    at_pushcount(L, m.euckr_bytes);
    at_pushcount(L, m.unencodable);
    push_pos(L, m.first_unencodable);
    at_pushcount(L, m.lines);
    at_pushcount(L, m.longest_line);
    return 9;
}

/* A rule key's limit specs compiled once (core.limit_spec), so that a text is measured and
 * checked against all of them in one call (core.within, core.within_values). */
enum { U_CHARS, U_BYTES, U_CP949, U_LINES, U_LINE_CHARS };
typedef struct {
    int unit, text_only, has_min, has_max;
    lua_Number min, max;
} spec_t;
typedef struct {
    size_t n;
    spec_t specs[1];
} specs_t;

#define SPECS_MT "alimtalk.limit_spec"

/* core.limit_spec(specs) -> userdata, or nil when a spec's unit is not one of a text's (the
 * caller then checks in Lua): specs as the validation profiles hold them, a list of
 * { unit =, max =, min =, text_only = }. An entry that is not a table, or a min or max that
 * is not a number, raises. */
static int l_limit_spec(lua_State *L) {
    static const char *const units[] = { "chars", "bytes", "cp949", "lines", "line_chars", NULL };
    size_t n, i;
    int k;
    specs_t *u;
    luaL_checktype(L, 1, LUA_TTABLE);
    n = lua_rawlen(L, 1);
    u = lua_newuserdata(L, sizeof(specs_t) + (n ? n - 1 : 0) * sizeof(spec_t));
    u->n = n;
    for (i = 0; i < n; i++) {
        spec_t *sp = &u->specs[i];
        lua_rawgeti(L, 1, (int)i + 1);
        if (!lua_istable(L, -1))
            return luaL_error(L, "alimtalk.core.limit_spec: specs[%d] is not a table", (int)i + 1);
        lua_getfield(L, -1, "unit");
        for (k = 0; units[k] && !(lua_type(L, -1) == LUA_TSTRING && strcmp(units[k], lua_tostring(L, -1)) == 0); k++) {}
        if (!units[k]) {
            lua_pushnil(L);
            return 1;
        }
        sp->unit = k;
        lua_getfield(L, -2, "text_only");
        sp->text_only = lua_toboolean(L, -1);
        lua_getfield(L, -3, "min");
        lua_getfield(L, -4, "max");
        /* a bound the Lua check would skip (false) or raise on ("5") is a broken profile:
         * raise too, rather than read it as 0 or 5 */
        if ((!lua_isnil(L, -2) && lua_type(L, -2) != LUA_TNUMBER) ||
            (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TNUMBER))
            return luaL_error(L, "alimtalk.core.limit_spec: specs[%d].min and .max must be numbers",
                              (int)i + 1);
        sp->has_min = !lua_isnil(L, -2);
        sp->min = sp->has_min ? lua_tonumber(L, -2) : 0;
        sp->has_max = !lua_isnil(L, -1);
        sp->max = sp->has_max ? lua_tonumber(L, -1) : 0;
        lua_pop(L, 5);
    }
    luaL_setmetatable(L, SPECS_MT);
    return 1;
}

/* Whether s is valid UTF-8 within every spec of u (the amounts as rules.lua defines them). */
static int within(lua_State *L, const specs_t *u, const char *s, size_t len) {
    measure_t m;
    size_t i;
    if (measure((const unsigned char *)s, len, &m) != 0)
        luaL_error(L, "alimtalk.core.within: the CP949 converter (iconv) is unavailable");
    if (!m.valid) return 0;
    for (i = 0; i < u->n; i++) {
        const spec_t *sp = &u->specs[i];
        lua_Number a;
        switch (sp->unit) {
        case U_CHARS:
            /* "30 characters (2 lines)": the line break itself is not one of the 30 */
            a = sp->text_only ? (lua_Number)m.chars - ((lua_Number)m.lines - 1) : (lua_Number)m.chars;
            break;
        case U_BYTES: a = (lua_Number)m.bytes; break;
        case U_CP949: a = (lua_Number)m.euckr_bytes; break;
        case U_LINES: a = (lua_Number)m.lines; break;
        default: a = m.lines > 1 ? (lua_Number)m.longest_line : 0; break;
        }
        if ((sp->has_max && a > sp->max) || (sp->has_min && a < sp->min)) return 0;
    }
    return 1;
}

/* core.within(spec, s) -> boolean */
static int l_within(lua_State *L) {
    const specs_t *u = luaL_checkudata(L, 1, SPECS_MT);
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    lua_pushboolean(L, within(L, u, s, n));
    return 1;
}

/* core.within_values(spec, t) -> boolean: every string or number value of t (numbers as
 * tostring writes them) within spec; other values are not texts and are skipped. */
static int l_within_values(lua_State *L) {
    const specs_t *u = luaL_checkudata(L, 1, SPECS_MT);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        int t = lua_type(L, -1);
        if (t == LUA_TSTRING || t == LUA_TNUMBER) {
            size_t n;
            /* converts the stack copy only: the key lua_next needs is untouched */
            const char *s = lua_tolstring(L, -1, &n);
            if (!within(L, u, s, n)) {
                lua_pushboolean(L, 0);
                return 1;
            }
        }
        lua_pop(L, 1);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* core.keys_in(t, set) -> boolean: every key of t is a key of set (raw lookups): the
 * unknown-variable check of a message in one call, the loop naming them run only when false */
static int l_keys_in(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawget(L, 2);
        if (lua_isnil(L, -1)) {
            lua_pushboolean(L, 0);
            return 1;
        }
        lua_pop(L, 1);
    }
    lua_pushboolean(L, 1);
    return 1;
}

void at_limits_open(lua_State *L) {
    static const luaL_Reg fns[] = {
        { "measure", l_measure },
        { "measure_fields", l_measure_fields },
        { "limit_spec", l_limit_spec },
        { "within", l_within },
        { "within_values", l_within_values },
        { "keys_in", l_keys_in },
        { NULL, NULL },
    };
    luaL_newmetatable(L, SPECS_MT);
    lua_pop(L, 1);
    luaL_setfuncs(L, fns, 0);
}
