/* What the files of the HTTP layer share and nothing else sees: the
 * server, the request context, and the steps of a request that live in
 * one file and are called from another. The request's life is in http.c
 * (the daemon, its connections, the access handler, req_write); router.c
 * matches a route and enforces its rules; body.c reads and parses a
 * capped body; reply.c is the one funnel every answer goes through. */
#ifndef TRADESTORE_SERVER_HTTP_INTERNAL_H
#define TRADESTORE_SERVER_HTTP_INTERNAL_H

#include "common/ids.h"
#include "db/db.h"
#include "handlers/parse.h"
#include "server/http.h"
#include "server/json_exact.h"
#include "server/query.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct auth;
struct deadlines;
struct conn_watch;

struct http_server {
        const struct app *app;
        const struct route *routes;
        size_t nroutes;
        struct MHD_Daemon *daemon;
        uint16_t port;
        size_t max_body;
        int max_header;              /* server.max_header_bytes */
        bool own_query;              /* uri_seen keeps libmicrohttpd from parsing the query */
        struct deadlines *deadlines; /* header and body deadlines (deadline.h) */
        int max_write_queue;         /* for the overload answer's words */
        atomic_long in_flight;
        atomic_long conns;        /* open connections */
        atomic_long conns_peak;   /* most open since memory was last given back */
        atomic_long suspended;    /* writes handed to the database, not yet answered */
        atomic_long resuming;     /* writes whose job_done has not returned yet */
        atomic_bool draining;     /* stopping: every response closes its connection */
        pthread_mutex_t write_mu; /* orders req_write against closing */
        bool closing;             /* stopping: no request may suspend any more */
        struct auth *auth;        /* NULL: no authentication */
        bool protect_metrics;
        char *tls_cert; /* PEM, kept while the daemon runs */
        char *tls_key;
};

struct alloc {
        struct alloc *next;
        max_align_t data[];
};

struct req {
        struct http_server *srv;
        struct MHD_Connection *conn;
        bool begun;                     /* access_handler has seen it */
        struct conn_watch *watch;       /* its connection's deadlines; may be NULL */
        struct query query;             /* parsed by uri_seen */
        enum query_status query_status; /* answered at the first call when not OK */
        const char *query_twice;        /* the key given twice (in query) */
        const struct route *route;
        unsigned route_status;    /* 0 matched, else 404 or 405 */
        enum route_access access; /* the route's, or the most any route of the path needs */
        struct query_value *args; /* the route's query parameters, validated (parse.h) */
        struct page page;
        char allow[64];
        const char *method;
        const char *path; /* libmicrohttpd keeps it for the request */
        size_t query_len; /* of the raw query string, for the header size */
        char *param;
        char *body;
        size_t body_len;
        size_t body_cap;
        bool too_large;
        size_t dropped; /* body bytes read and dropped after too_large */
        bool replied;
        bool suspended;
        bool wrote; /* counted in srv->suspended until the request completes */
        bool admin; /* suspended for the admin thread (req_admin), not the writer */
        json_t *json;
        struct jx_numbers numbers; /* the literals of json's numbers, in body */
        char request_id[ID_UUID_BUFSZ > 65 ? ID_UUID_BUFSZ : 65];
        struct timespec start;
        unsigned status;
        size_t bytes;
        struct alloc *allocs;
        void (*on_free)(void *arg);
        void *on_free_arg;
        struct db_job job;
        void (*respond)(struct req *r, int result);
        int result;
};

/* ---- reply.c ---- */

/* reply_problem with one more response header (hname: hvalue), e.g.
 * WWW-Authenticate or Retry-After. Steals errors. */
void reply_problem_header(struct req *r, unsigned status, const char *detail, json_t *errors,
                          const char *hname, const char *hvalue);

/* 503 for a write the writer's full queue refused (DB_OVERLOADED). */
void reply_overloaded(struct req *r);

/* ---- router.c ---- */

/* Whether every route of the table has its access rule; logs the first
 * that has none. */
bool router_table_ok(const struct route *routes, size_t n);

/* Finds the route of r's method and path: r->route and r->param, or
 * r->route_status 404 or 405 (with r->allow); r->access either way. */
void router_match(struct req *r, const char *path);

/* Checks the caller's token against the route's role. Returns false after
 * replying 401 or 403. */
bool router_authorize(struct req *r);

/* The last call of a request: 404/405, the query rules, the body, then the
 * handler; always replies or suspends. */
void router_dispatch(struct req *r);

/* ---- body.c ---- */

/* Buffers a body chunk (at most max_body bytes in all; past that the rest
 * is counted and dropped). Returns false when the connection should be
 * closed. */
bool body_append(struct req *r, const char *data, size_t len);

/* Replies 413 naming the limit. */
void body_too_large(struct req *r);

/* Parses the body of POST/PUT/PATCH into r->json. Returns false after
 * replying 400 or 415. */
bool body_parse(struct req *r);

#endif
