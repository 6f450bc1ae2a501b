/* Streaming JSON writer (see jsonw.h). */
#include "common/jsonw.h"

#include "common/dec.h"
#include "common/ts.h"

#include <stdlib.h>
#include <string.h>

void
jw_init(struct jw *w)
{
        memset(w, 0, sizeof(*w));
        w->first[0] = true;
}

void
jw_clear(struct jw *w)
{
        free(w->buf);
        jw_init(w);
}

char *
jw_take(struct jw *w, size_t *ret_len)
{
        char *out = w->buf;

        if (w->failed || out == NULL || w->depth != 0) {
                jw_clear(w);
                return NULL;
        }
        *ret_len = w->len;
        jw_init(w);
        return out;
}

static bool
reserve(struct jw *w, size_t n)
{
        size_t cap;
        char *nb;

        if (w->failed)
                return false;
        if (w->len + n + 1 <= w->cap)
                return true;
        cap = w->cap ? w->cap * 2 : 1024;
        while (cap < w->len + n + 1)
                cap *= 2;
        nb = realloc(w->buf, cap);
        if (nb == NULL) {
                w->failed = true;
                return false;
        }
        w->buf = nb;
        w->cap = cap;
        return true;
}

static void
put(struct jw *w, const char *s, size_t n)
{
        if (!reserve(w, n))
                return;
        memcpy(w->buf + w->len, s, n);
        w->len += n;
        w->buf[w->len] = '\0';
}

/* The comma before a value, unless it follows its key or opens a level. */
static void
sep(struct jw *w)
{
        if (w->after_key) {
                w->after_key = false;
                return;
        }
        if (!w->first[w->depth])
                put(w, ",", 1);
        w->first[w->depth] = false;
}

static void
open_level(struct jw *w, char ch)
{
        sep(w);
        if (w->depth + 1 >= JW_MAX_DEPTH) {
                w->failed = true;
                return;
        }
        put(w, &ch, 1);
        w->depth++;
        w->first[w->depth] = true;
        w->closer[w->depth] = ch == '{' ? '}' : ']';
}

void
jw_obj(struct jw *w)
{
        open_level(w, '{');
}

void
jw_arr(struct jw *w)
{
        open_level(w, '[');
}

void
jw_end(struct jw *w)
{
        if (w->depth == 0) {
                w->failed = true;
                return;
        }
        put(w, &w->closer[w->depth], 1);
        w->depth--;
}

void
jw_key(struct jw *w, const char *key)
{
        size_t n = strlen(key);

        sep(w);
        if (!reserve(w, n + 3))
                return;
        w->buf[w->len++] = '"';
        memcpy(w->buf + w->len, key, n);
        w->len += n;
        w->buf[w->len++] = '"';
        w->buf[w->len++] = ':';
        w->buf[w->len] = '\0';
        w->after_key = true;
}

/* Appends s (n bytes) as a quoted, escaped JSON string. */
static void
put_escaped(struct jw *w, const char *s, size_t n)
{
        static const char hex[] = "0123456789abcdef";

        /* Worst case every byte becomes \u00XX. */
        if (!reserve(w, 6 * n + 2))
                return;
        w->buf[w->len++] = '"';
        for (const unsigned char *p = (const unsigned char *)s; p < (const unsigned char *)s + n;
             p++) {
                unsigned char ch = *p;

                if (ch >= 0x20 && ch != '"' && ch != '\\') {
                        w->buf[w->len++] = (char)ch;
                        continue;
                }
                w->buf[w->len++] = '\\';
                switch (ch) {
                case '"': w->buf[w->len++] = '"'; break;
                case '\\': w->buf[w->len++] = '\\'; break;
                case '\n': w->buf[w->len++] = 'n'; break;
                case '\r': w->buf[w->len++] = 'r'; break;
                case '\t': w->buf[w->len++] = 't'; break;
                default:
                        w->buf[w->len++] = 'u';
                        w->buf[w->len++] = '0';
                        w->buf[w->len++] = '0';
                        w->buf[w->len++] = hex[ch >> 4];
                        w->buf[w->len++] = hex[ch & 15];
                }
        }
        w->buf[w->len++] = '"';
        w->buf[w->len] = '\0';
}

void
jw_str(struct jw *w, const char *s)
{
        sep(w);
        put_escaped(w, s, strlen(s));
}

void
jw_text(struct jw *w, const char *s, size_t n)
{
        put(w, s, n);
}

void
jw_fail(struct jw *w)
{
        w->failed = true;
}

void
jw_text_str(struct jw *w, const char *s, size_t n)
{
        put_escaped(w, s, n);
}

void
jw_null(struct jw *w)
{
        sep(w);
        put(w, "null", 4);
}

void
jw_bool(struct jw *w, bool v)
{
        sep(w);
        put(w, v ? "true" : "false", v ? 4 : 5);
}

void
jw_int(struct jw *w, int64_t v)
{
        char tmp[24];
        uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
        size_t n = sizeof(tmp);

        do {
                tmp[--n] = (char)('0' + mag % 10);
                mag /= 10;
        } while (mag != 0);
        if (v < 0)
                tmp[--n] = '-';
        sep(w);
        put(w, tmp + n, sizeof(tmp) - n);
}

void
jw_dec(struct jw *w, int64_t units)
{
        char buf[DEC_BUFSZ + 2];
        size_t n = dec_format(units, buf + 1);

        buf[0] = '"';
        buf[n + 1] = '"';
        sep(w);
        put(w, buf, n + 2);
}

void
jw_ts(struct jw *w, int64_t us)
{
        char buf[TS_BUFSZ + 2];
        size_t n = ts_format(us, buf + 1);

        buf[0] = '"';
        buf[n + 1] = '"';
        sep(w);
        put(w, buf, n + 2);
}

void
jw_raw(struct jw *w, const char *json)
{
        sep(w);
        put(w, json, strlen(json));
}

void
jw_kstr(struct jw *w, const char *key, const char *s)
{
        jw_key(w, key);
        jw_str(w, s);
}

void
jw_kstr_opt(struct jw *w, const char *key, const char *s)
{
        jw_key(w, key);
        if (s == NULL || *s == '\0')
                jw_null(w);
        else
                jw_str(w, s);
}

void
jw_kdec(struct jw *w, const char *key, int64_t units)
{
        jw_key(w, key);
        jw_dec(w, units);
}

void
jw_kdec_opt(struct jw *w, const char *key, bool has, int64_t units)
{
        jw_key(w, key);
        if (has)
                jw_dec(w, units);
        else
                jw_null(w);
}

void
jw_kts(struct jw *w, const char *key, int64_t us)
{
        jw_key(w, key);
        jw_ts(w, us);
}

void
jw_kts_opt(struct jw *w, const char *key, bool has, int64_t us)
{
        jw_key(w, key);
        if (has)
                jw_ts(w, us);
        else
                jw_null(w);
}

void
jw_kbool(struct jw *w, const char *key, bool v)
{
        jw_key(w, key);
        jw_bool(w, v);
}

void
jw_kint(struct jw *w, const char *key, int64_t v)
{
        jw_key(w, key);
        jw_int(w, v);
}
