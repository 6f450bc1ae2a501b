/* The HTTP layer: the libmicrohttpd daemon, the per-request context, the
 * capped body reader, routing, and the one reply funnel (JSON and RFC 9457
 * problem+json). Handlers see a request only through this header.
 *
 * A handler is called once per request with the body already read and, for
 * POST/PUT/PATCH, parsed as a JSON object. It must end by calling exactly one
 * of reply_jw, reply_problem, reply_empty, req_write or req_admin. Every
 * body is written with the streaming writer (common/jsonw.h); jansson only
 * reads requests (and carries the errors problem_add gathers). */
#ifndef TRADESTORE_HTTP_H
#define TRADESTORE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "db/db.h"

struct req;
struct config;

struct health_cache;
struct metrics;
struct http_server;

/* What the whole service shares with handlers; borrowed for the daemon's life. */
struct app {
        struct db *db;
        const struct config *cfg;
        int64_t started_us;
        struct health_cache *health; /* owned by the service; see handlers/health.c */
        struct metrics *metrics;     /* owned by the service; see server/metrics.h */
};

enum route_param { PARAM_NONE, PARAM_ID, PARAM_SYMBOL };

/* Who may call a route when auth.tokens are configured (API.md, Auth).
 * Zero is no rule at all: http_start refuses a table with one, so that a
 * route left without its rule is never open by accident. */
enum route_access {
        ACCESS_UNSET = 0,
        ACCESS_PUBLIC,  /* anyone (/health) */
        ACCESS_METRICS, /* anyone, or the read role with auth.protect_metrics */
        ACCESS_READ,
        ACCESS_WRITE,
        ACCESS_ADMIN,
};

typedef void (*handler_fn)(struct req *r);

struct field;

/* One endpoint and its rules, checked by the router before the handler
 * runs: the role, then the query parameters, then the body. */
struct route {
        const char *method;
        const char *pattern; /* "/orders/{order_id}", at most one {param} */
        enum route_param param;
        enum route_access access;
        const struct field *query; /* the query parameters it takes (handlers/parse.h) */
        size_t nquery;
        bool paged; /* takes limit and cursor too (API.md, Lists) */
        handler_fn handler;
};

/* ---- the daemon ---- */

/* Starts the daemon on cfg's host and port with the given routes (a static
 * table, borrowed). Returns 0 and the server (caller owns: http_stop), or -1
 * after logging why. */
int http_start(const struct app *app, const struct route *routes, size_t nroutes,
               struct http_server **ret_server);

/* The bound port (useful with port 0). */
uint16_t http_port(const struct http_server *s);

/* Stops accepting connections, waits up to grace_ms for requests in flight,
 * then stops the daemon and frees s. Accepts NULL. */
void http_stop(struct http_server *s, int grace_ms);

/* Connections cut for sending their headers past server.header_timeout,
 * and their body slower than server.min_body_rate. s may be NULL (no
 * server running): 0 and 0. */
void http_cut_counts(const struct http_server *s, unsigned long *ret_header,
                     unsigned long *ret_body);

/* Requests being handled right now; 0 for a NULL s. */
long http_in_flight(const struct http_server *s);

/* ---- the request, for handlers ---- */

const struct app *req_app(const struct req *r);

/* The server the request came through (for its own counters: /metrics).
 * Borrowed for the request. */
const struct http_server *req_server(const struct req *r);

/* The decoded {param} of the route, or NULL. Borrowed for the request. */
const char *req_param(const struct req *r);

/* The parsed JSON object body, or NULL when the request had no body.
 * Borrowed for the request. */
json_t *req_body(const struct req *r);

/* The literal text of a number of the request body (borrowed, not
 * NUL-terminated; see server/json_exact.h): a body's number nodes carry no
 * value of their own. False when v is not a number of this body. */
bool req_number(const struct req *r, const json_t *v, const char **ret_text, size_t *ret_len);

/* The body's number table, for jx_write. Borrowed for the request. */
struct jx_numbers;
const struct jx_numbers *req_numbers(const struct req *r);

struct query_value;
struct page;

/* The value of the route's query parameter name, validated by its rule in
 * the route table: .set is false when it was not sent. name must be one of
 * the route's parameters (asserted). Borrowed for the request. */
const struct query_value *req_arg(const struct req *r, const char *name);

/* The limit and cursor of a paged route (defaults when not sent). Borrowed
 * for the request. */
const struct page *req_page(const struct req *r);

/* Zeroed memory that lives until the request ends (freed by the server).
 * NULL on out-of-memory. */
void *req_alloc(struct req *r, size_t size);

/* ---- replies: exactly one per request ---- */

/* Replies status with text (len bytes, stolen: malloc'd) and content type. */
void reply_text(struct req *r, unsigned status, const char *ctype, char *text, size_t len);

struct jw;

/* Replies status with the JSON text written into w (taken; w is reset).
 * A writer that failed (out of memory) becomes a 503. */
void reply_jw(struct req *r, unsigned status, struct jw *w);

/* Replies 204 or another status with no body. */
void reply_empty(struct req *r, unsigned status);

/* Replies an RFC 9457 problem: type about:blank, title from status, detail,
 * and errors ([{"field","message"}], stolen, may be NULL). */
void reply_problem(struct req *r, unsigned status, const char *detail, json_t *errors);

/* Replies 503 "database unavailable, retry": a write or read could not be
 * done, and the same request may be sent again. */
void reply_unavailable(struct req *r);

/* Replies 405 with an Allow header. */
void reply_method_not_allowed(struct req *r, const char *allow);

/* Hands fn(arg) to the database writer; the request is suspended until the
 * batch commits, then respond(r, result) is called on an HTTP thread with
 * fn's result or DB_COMMIT_FAILED / DB_UNAVAILABLE. arg must live until
 * then (use req_alloc). respond must reply. */
void req_write(struct req *r, db_job_fn fn, void *arg, void (*respond)(struct req *r, int result));

/* req_write for long operator work: fn runs on the database's admin thread
 * (db_admin_submit), on a connection of its own outside any transaction,
 * and respond gets its result, DB_OVERLOADED (respond answers it: the
 * admin queue is not the writer's) or DB_UNAVAILABLE. The HTTP thread
 * serves other connections meanwhile. */
void req_admin(struct req *r, db_job_fn fn, void *arg, void (*respond)(struct req *r, int result));

/* Registers fn(arg) to run when the request ends, whether or not it was
 * answered (a client may leave while its write waits on the database, and
 * then respond is never called): frees what a job's outputs own. One per
 * request; a second call replaces the first. */
void req_on_free(struct req *r, void (*fn)(void *arg), void *arg);

/* The arg given to req_write, for respond to read the job's outputs.
 * Borrowed; NULL before req_write. */
void *req_write_arg(const struct req *r);

/* ---- validation errors, gathered then sent at once ---- */

/* Appends {"field","message"} to *errors (created on first use). */
void problem_add(json_t **errors, const char *field, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* The reason phrase of a status ("Not Found"). */
const char *http_status_title(unsigned status);

#endif
