/* A streaming JSON writer into a growing buffer: the fast path for response
 * bodies and event payloads. Building a jansson tree for a list of quotes
 * costs an allocation per value and a hash table per object; writing the
 * text directly costs a few copies. Exact decimals and timestamps are
 * written in their canonical string forms (dec_format, ts_format).
 *
 * Usage: struct jw w; jw_init(&w); jw_obj(&w); jw_key(&w, "a"); jw_str(&w,
 * "x"); jw_end(&w); then jw_take(&w, &len) hands over the text. Commas are
 * placed automatically. Errors (out of memory, nesting deeper than
 * JW_MAX_DEPTH) are sticky: jw_take then returns NULL. */
#ifndef TRADESTORE_JSONW_H
#define TRADESTORE_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JW_MAX_DEPTH 16

struct jw {
        char *buf;
        size_t len;
        size_t cap;
        int depth;
        bool first[JW_MAX_DEPTH];  /* no element written yet at this depth */
        char closer[JW_MAX_DEPTH]; /* '}' or ']' for each open level */
        bool after_key;
        bool failed;
};

void jw_init(struct jw *w);

/* Frees the buffer (after a failure, or when the text is not wanted). */
void jw_clear(struct jw *w);

/* Hands over the NUL-terminated text (caller owns: free) and its length,
 * and resets w. NULL when anything failed. */
char *jw_take(struct jw *w, size_t *ret_len);

void jw_obj(struct jw *w);
void jw_arr(struct jw *w);
void jw_end(struct jw *w); /* closes the innermost object or array */

/* An object key: a static ASCII name that needs no escaping. */
void jw_key(struct jw *w, const char *key);

void jw_str(struct jw *w, const char *s); /* escaped */
void jw_null(struct jw *w);
void jw_bool(struct jw *w, bool v);
void jw_int(struct jw *w, int64_t v);
void jw_dec(struct jw *w, int64_t units);    /* "1.5" */
void jw_ts(struct jw *w, int64_t us);        /* "2026-11-26T15:00:00.123456Z" */
void jw_raw(struct jw *w, const char *json); /* a JSON value's text, as is */

/* Plain text, for a caller that writes a whole document itself (deeper
 * than JW_MAX_DEPTH, say): these append to the buffer and neither place
 * commas nor track levels, so they do not mix with the calls above inside
 * one value. jw_text_str quotes and escapes n bytes. */
void jw_text(struct jw *w, const char *s, size_t n);
void jw_text_str(struct jw *w, const char *s, size_t n);
/* Marks w failed, as an allocation of its own that failed would. */
void jw_fail(struct jw *w);

/* Key + value shorthands; the _opt forms write null when !has. */
void jw_kstr(struct jw *w, const char *key, const char *s);
void jw_kstr_opt(struct jw *w, const char *key, const char *s); /* NULL or "" -> null */
void jw_kdec(struct jw *w, const char *key, int64_t units);
void jw_kdec_opt(struct jw *w, const char *key, bool has, int64_t units);
void jw_kts(struct jw *w, const char *key, int64_t us);
void jw_kts_opt(struct jw *w, const char *key, bool has, int64_t us);
void jw_kbool(struct jw *w, const char *key, bool v);
void jw_kint(struct jw *w, const char *key, int64_t v);

#endif
