/* Declarative request parsing shared by the handlers: a handler describes
 * its body's fields in a static table, and one call fills a plain C struct
 * and gathers every problem at once as problem+json `errors` entries. The
 * same fields describe each route's query parameters in the route table
 * (server/routes.c), read by the router with parse_query. Also the JSON output helpers for exact
 * decimals and timestamps. */
#ifndef TRADESTORE_HANDLERS_PARSE_H
#define TRADESTORE_HANDLERS_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/ids.h"
#include "common/jsonw.h"
#include "repo/repo.h"

struct req;

/* Optional values: set is false when the field was absent or null. */
struct opt_dec {
        bool set;
        int64_t v; /* units of 1e-8 */
};
struct opt_ts {
        bool set;
        int64_t v; /* microseconds since the epoch, UTC */
};
struct opt_str {
        bool set;
        const char *v; /* borrowed from the request (body or query) */
};
struct opt_bool {
        bool set;
        bool v;
};
struct opt_json {
        bool set;
        json_t *v; /* borrowed from the request body */
};

enum field_type {
        F_ID,      /* opt_str: 1-64 of [A-Za-z0-9._:-] */
        F_SYMBOL,  /* opt_str: 1-32 of [A-Za-z0-9._/-] */
        F_STRING,  /* opt_str: any string of at most max_len bytes (default 256) */
        F_ENUM,    /* opt_str: one of enum_values */
        F_DEC,     /* opt_dec: string or number, exact */
        F_TS,      /* opt_ts: RFC 3339 string or epoch seconds number */
        F_BOOL,    /* opt_bool */
        F_OBJECT,  /* opt_json: a JSON object */
        F_READONLY /* rejected when present: a read-only field */
};

/* Constraints on F_DEC values. */
enum dec_rule { DEC_ANY = 0, DEC_POSITIVE, DEC_NONNEGATIVE };

struct field {
        const char *name;
        enum field_type type;
        bool required;
        size_t offset; /* of the opt_* member in the target struct */
        enum dec_rule rule;
        const char *const *enum_values; /* NULL-terminated, for F_ENUM */
        size_t max_len;                 /* F_STRING; 0 means 256 */
};

/* Parses obj (a JSON object of r's body, may be NULL for "no body") against
 * fields into out; numbers are read from r's body text (req_number). Unknown members, read-only members, wrong types and rule violations
 * are each appended to *errors with field names prefixed by prefix (e.g.
 * "quotes[3]." or ""). Returns true when nothing was wrong. */
bool parse_object(const struct req *r, const json_t *obj, const struct field *fields,
                  size_t nfields, void *out, const char *prefix, json_t **errors);

/* The limit and cursor of a list (API.md, Lists). */
struct page {
        int limit; /* 1-1000, default 100 */
        bool has_cursor;
        int64_t cursor_key;
        char cursor_id[ID_BUFSZ];
};

/* A query parameter's value, validated against its field; the field's type
 * says which member holds it. */
struct query_value {
        bool set;        /* false when absent or empty ("?status=") */
        const char *str; /* F_ID, F_SYMBOL, F_STRING, F_ENUM: borrowed from the request */
        int64_t num;     /* F_DEC: units of 1e-8; F_TS: microseconds since the epoch */
        bool flag;       /* F_BOOL */
};

struct query;

/* Like parse_object but for a query string (all text: ids, symbols, enums,
 * decimals and timestamps in either form). Every parameter must be one of
 * fields, or "limit" and "cursor" when paged; field i's value goes to
 * ret_values[i] (nfields of them, zeroed first), the page to *ret_page.
 * Returns true when nothing was wrong. The route table's rules, enforced by
 * the router (server/http.c) before a handler runs. */
bool parse_query(const struct query *q, const struct field *fields, size_t nfields, bool paged,
                 struct query_value *ret_values, struct page *ret_page, json_t **errors);

/* Replies 400 "invalid request" with errors (stolen). */
void reply_invalid(struct req *r, json_t *errors);

/* ---- JSON output: every response body goes through the streaming writer
 * (common/jsonw.h); jansson only reads requests ---- */

/* A list page, {"items": [...], "next_cursor": ...}, written row by row as
 * repo's list callbacks hand them over. */
struct list_page {
        struct jw w;
        size_t n;         /* rows written */
        int64_t last_key; /* the last row's cursor key and id */
        char last_id[ID_BUFSZ];
};

/* Starts the page: {"items": [ */
void list_page_begin(struct list_page *p);

/* After a row was written into p->w: counts it and keeps its cursor. */
void list_page_row(struct list_page *p, int64_t key, const char *id);

/* Ends the page and replies 200, with a next_cursor after the last row when
 * the page holds limit rows (else null); or, when s is not REPO_OK, drops
 * it and replies 503. */
void list_page_reply(struct req *r, struct list_page *p, enum repo_status s, size_t limit);

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

#endif
