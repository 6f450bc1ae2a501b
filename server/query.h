/* A request's query string, read by tradestore itself rather than by
 * libmicrohttpd: limits on its size and parameter count checked before any
 * work, each parameter at most once (API.md, Conventions), and lookups in a
 * small array. (libmicrohttpd 0.9.75 keeps each parameter in its
 * connection's memory pool; a few hundred exhaust it, and the connection
 * then hangs with no answer. See uri_seen in http.c.) */
#ifndef TRADESTORE_SERVER_QUERY_H
#define TRADESTORE_SERVER_QUERY_H

#include <stdbool.h>
#include <stddef.h>

/* Past these a query string is refused: 414 for its length, 400 for its
 * count. Every endpoint of API.md takes fewer than 10 parameters of at most
 * a few hundred bytes in all. */
#define QUERY_MAX_BYTES 4096
#define QUERY_MAX_PARAMS 32

struct query_param {
        const char *key;
        const char *value; /* NULL for a bare "?key" */
};

/* The parsed parameters in the order sent; keys and values decoded (%XX,
 * and '+' as a space, as libmicrohttpd decodes them). Owns its text. */
struct query {
        struct query_param v[QUERY_MAX_PARAMS];
        size_t n;
        char *text;
};

enum query_status {
        QUERY_OK = 0,
        QUERY_TOO_LONG, /* more than QUERY_MAX_BYTES */
        QUERY_TOO_MANY, /* more than QUERY_MAX_PARAMS */
        QUERY_TWICE,    /* a key given twice; *ret_key names it */
        QUERY_NO_MEMORY,
};

/* Parses len bytes of s (the text after '?', not decoded; empty segments
 * as in "a=1&&b=2" are skipped) into *ret, which is cleared first and must
 * be cleared with query_clear whatever the result. On QUERY_TWICE,
 * *ret_key is the repeated key (borrowed from *ret). */
enum query_status query_parse(const char *s, size_t len, struct query *ret, const char **ret_key);

void query_clear(struct query *q);

/* The value of key: NULL when absent or bare ("?key", as libmicrohttpd
 * answers); "" for "?key=". */
const char *query_get(const struct query *q, const char *key);

#endif
