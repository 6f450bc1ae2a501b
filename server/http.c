/* The HTTP layer (see http.h): libmicrohttpd with an internal thread pool on
 * epoll, routing, the capped body reader, the reply funnel, request ids,
 * one log line per request, and write requests suspended while the database
 * writer commits them.
 *
 * libmicrohttpd calls the access handler several times per request: first
 * with the headers, where only refusals are answered (a limit broken, no
 * role for the route: a response queued on that first call makes 0.9.75
 * close keep-alive connections, and leaves the body unread), then once per
 * body chunk, then with no data, where we dispatch. A write request is suspended
 * there and resumed by the writer thread after COMMIT; the next call replies. */
#include "server/http.h"

#include "common/dec.h"
#include "common/ids.h"
#include "common/jsonw.h"
#include "common/log.h"
#include "common/ts.h"
#include "db/db.h"
#include "handlers/parse.h"
#include "server/auth.h"
#include "server/config.h"
#include "server/json_exact.h"
#include "server/deadline.h"
#include "server/query.h"
#include "server/metrics.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

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
        unsigned route_status; /* 0 matched, else 404 or 405 */
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

/* ---- small helpers ---- */

const char *
http_status_title(unsigned status)
{
        switch (status) {
        case 200: return "OK";
        case 201: return "Created";
        case 204: return "No Content";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 409: return "Conflict";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 415: return "Unsupported Media Type";
        case 422: return "Unprocessable Content";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 503: return "Service Unavailable";
        default: return "Error";
        }
}

const struct app *
req_app(const struct req *r)
{
        return r->srv->app;
}

const char *
req_param(const struct req *r)
{
        return r->param;
}

json_t *
req_body(const struct req *r)
{
        return r->json;
}

bool
req_number(const struct req *r, const json_t *v, const char **ret_text, size_t *ret_len)
{
        return jx_number(&r->numbers, v, ret_text, ret_len);
}

const struct jx_numbers *
req_numbers(const struct req *r)
{
        return &r->numbers;
}

const struct query_value *
req_arg(const struct req *r, const char *name)
{
        const struct route *rt = r->route;

        for (size_t i = 0; i < rt->nquery; i++)
                if (strcmp(rt->query[i].name, name) == 0)
                        return &r->args[i];
        assert(!"req_arg: not a query parameter of this route");
        return NULL;
}

const struct page *
req_page(const struct req *r)
{
        return &r->page;
}

void *
req_alloc(struct req *r, size_t size)
{
        struct alloc *a = calloc(1, sizeof(*a) + size);

        if (a == NULL)
                return NULL;
        a->next = r->allocs;
        r->allocs = a;
        return a->data;
}

/* Makes s valid UTF-8 in place: every byte that does not belong to a
 * well-formed sequence becomes '?'. Client text reaches error messages (an
 * unknown field's name, cut short by snprintf, a query parameter decoded
 * from %ff), and jansson refuses invalid UTF-8. */
static void
utf8_sanitize(char *s)
{
        unsigned char *p = (unsigned char *)s;

        while (*p != '\0') {
                size_t n = *p < 0x80             ? 1
                           : (*p & 0xE0) == 0xC0 ? 2
                           : (*p & 0xF0) == 0xE0 ? 3
                           : (*p & 0xF8) == 0xF0 ? 4
                                                 : 0;
                bool ok = n > 0 && !(n == 2 && *p < 0xC2) && !(n == 4 && *p > 0xF4);

                for (size_t i = 1; ok && i < n; i++)
                        ok = (p[i] & 0xC0) == 0x80;
                if (ok && n == 3)
                        ok = !(*p == 0xE0 && p[1] < 0xA0) && !(*p == 0xED && p[1] >= 0xA0);
                if (ok && n == 4)
                        ok = !(*p == 0xF0 && p[1] < 0x90) && !(*p == 0xF4 && p[1] >= 0x90);
                if (!ok) {
                        *p++ = '?';
                        continue;
                }
                p += n;
        }
}

void
problem_add(json_t **errors, const char *field, const char *fmt, ...)
{
        char name[256];
        char msg[512];
        json_t *e;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(name, sizeof(name), "%s", field);
        utf8_sanitize(name);
        utf8_sanitize(msg);
        if (*errors == NULL)
                *errors = json_array();
        if (*errors == NULL)
                return;
        e = json_pack("{s:s, s:s}", "field", name, "message", msg);
        if (e == NULL) /* out of memory: the entry must still be counted */
                e = json_pack("{s:s, s:s}", "field", "?", "message", "invalid field");
        json_array_append_new(*errors, e);
}

/* ---- replies ---- */

static void
queue(struct req *r, unsigned status, const char *ctype, char *buf, size_t len, const char *hname,
      const char *hvalue)
{
        struct MHD_Response *resp;

        if (r->replied) {
                free(buf);
                return;
        }
        resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
        if (resp == NULL) {
                free(buf);
                return;
        }
        if (ctype != NULL)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
        if (hname != NULL)
                MHD_add_response_header(resp, hname, hvalue);
        MHD_add_response_header(resp, "X-Request-Id", r->request_id);
        if (atomic_load(&r->srv->draining))
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
        if (MHD_queue_response(r->conn, status, resp) != MHD_YES)
                log_msg(LOG_WARN, "http_error", "libmicrohttpd refused the %u response to %s %s",
                        status, r->method, r->path);
        MHD_destroy_response(resp);
        r->replied = true;
        r->status = status;
        r->bytes = len;
}

static void
reply_serialized(struct req *r, unsigned status, const char *ctype, json_t *body, const char *hname,
                 const char *hvalue)
{
        char *buf = json_dumps(body, JSON_COMPACT);

        json_decref(body);
        if (buf == NULL) {
                log_msg(LOG_ERROR, "http_error", "out of memory serializing a response");
                queue(r, 503, NULL, NULL, 0, NULL, NULL);
                return;
        }
        queue(r, status, ctype, buf, strlen(buf), hname, hvalue);
}

void
reply_json(struct req *r, unsigned status, json_t *body)
{
        reply_serialized(r, status, "application/json", body, NULL, NULL);
}

void
reply_jw(struct req *r, unsigned status, struct jw *w)
{
        size_t len = 0;
        char *text = jw_take(w, &len);

        if (text == NULL) {
                log_msg(LOG_ERROR, "http_error", "out of memory writing a response");
                queue(r, 503, NULL, NULL, 0, NULL, NULL);
                return;
        }
        queue(r, status, "application/json", text, len, NULL, NULL);
}

void
reply_text(struct req *r, unsigned status, const char *ctype, char *text, size_t len)
{
        queue(r, status, ctype, text, len, NULL, NULL);
}

void
reply_empty(struct req *r, unsigned status)
{
        queue(r, status, NULL, NULL, 0, NULL, NULL);
}

static void
problem(struct req *r, unsigned status, const char *detail, json_t *errors, const char *hname,
        const char *hvalue)
{
        char text[512];
        json_t *p;

        /* A full disk is the one 503 a client cannot fix by retrying soon. */
        if (status == 503 && db_disk_full(req_app(r)->db))
                detail = DB_DISK_FULL_DETAIL;
        snprintf(text, sizeof(text), "%s", detail);
        utf8_sanitize(text); /* client text may be in it; jansson wants UTF-8 */
        p = json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title",
                      http_status_title(status), "status", (int)status, "detail", text);

        if (p != NULL && errors != NULL)
                json_object_set_new(p, "errors", errors);
        else
                json_decref(errors);
        if (p == NULL) {
                queue(r, status, NULL, NULL, 0, hname, hvalue);
                return;
        }
        reply_serialized(r, status, "application/problem+json", p, hname, hvalue);
}

void
reply_problem(struct req *r, unsigned status, const char *detail, json_t *errors)
{
        problem(r, status, detail, errors, NULL, NULL);
}

void
reply_unavailable(struct req *r)
{
        problem(r, 503, "database unavailable, retry", NULL, "Retry-After", "1");
}

/* 503 for a write the writer's full queue refused (DB_OVERLOADED). */
static void
reply_overloaded(struct req *r)
{
        char detail[200];

        snprintf(detail, sizeof(detail),
                 "overloaded: %d writes are already waiting for the database "
                 "(database.max_write_queue); nothing was written, retry after 1 s",
                 r->srv->max_write_queue);
        problem(r, 503, detail, NULL, "Retry-After", "1");
}

void
reply_method_not_allowed(struct req *r, const char *allow)
{
        char detail[160];

        snprintf(detail, sizeof(detail), "method %s is not allowed here; allowed: %s", r->method,
                 allow);
        problem(r, 405, detail, NULL, MHD_HTTP_HEADER_ALLOW, allow);
}

/* ---- writes ---- */

static void
job_done(struct db_job *job, int result)
{
        struct req *r = job->done_arg;
        struct http_server *srv = r->srv; /* r may be gone once resumed */

        r->result = result;
        MHD_resume_connection(r->conn);
        /* Only now may http_stop stop the daemon: libmicrohttpd still touches
         * it after the resumed request may already have completed. */
        atomic_fetch_sub(&srv->resuming, 1);
}

void
req_write(struct req *r, db_job_fn fn, void *arg, void (*respond)(struct req *r, int result))
{
        r->respond = respond;
        r->job = (struct db_job){ .fn = fn, .arg = arg, .done = job_done, .done_arg = r };
        pthread_mutex_lock(&r->srv->write_mu);
        if (r->srv->closing) {
                /* MHD_stop_daemon comes next and aborts on a suspended connection. */
                pthread_mutex_unlock(&r->srv->write_mu);
                respond(r, DB_UNAVAILABLE);
                return;
        }
        r->suspended = true;
        r->wrote = true;
        atomic_fetch_add(&r->srv->suspended, 1);
        atomic_fetch_add(&r->srv->resuming, 1);
        MHD_suspend_connection(r->conn);
        pthread_mutex_unlock(&r->srv->write_mu);
        db_submit(r->srv->app->db, &r->job);
}

void
req_on_free(struct req *r, void (*fn)(void *arg), void *arg)
{
        r->on_free = fn;
        r->on_free_arg = arg;
}

void *
req_write_arg(const struct req *r)
{
        return r->job.arg;
}

/* ---- routing ---- */

/* Matches path against pattern; on success *ret_param is the decoded {param}
 * (heap, caller frees) or NULL. Returns false when the path does not match
 * or the param breaks its rules (such a URL is a 404). */
static bool
match(const struct route *rt, const char *path, char **ret_param)
{
        const char *open = strchr(rt->pattern, '{');
        const char *close, *suffix, *end;
        size_t prefix_len, plen, slen;
        bool ok;

        if (open == NULL) {
                *ret_param = NULL;
                return strcmp(rt->pattern, path) == 0;
        }
        prefix_len = (size_t)(open - rt->pattern);
        if (strncmp(rt->pattern, path, prefix_len) != 0)
                return false;
        close = strchr(open, '}');
        suffix = close + 1;
        slen = strlen(suffix);
        path += prefix_len;
        if (rt->param == PARAM_SYMBOL && slen == 0) {
                end = path + strlen(path); /* a symbol may hold '/' */
        } else {
                end = strchr(path, '/');
                if (end == NULL)
                        end = path + strlen(path);
        }
        if (strcmp(end, suffix) != 0)
                return false;
        plen = (size_t)(end - path);
        ok = rt->param == PARAM_SYMBOL ? symbol_valid(path, plen) : id_valid(path, plen);
        if (!ok)
                return false;
        *ret_param = strndup(path, plen);
        return *ret_param != NULL;
}

static void
route(struct req *r, const char *path)
{
        size_t alen = 0;

        r->route_status = 404;
        for (size_t i = 0; i < r->srv->nroutes; i++) {
                const struct route *rt = &r->srv->routes[i];
                char *param = NULL;

                if (!match(rt, path, &param))
                        continue;
                if (r->route == NULL && rt->access > r->access)
                        r->access = rt->access; /* a 405 needs what the path needs */
                /* HEAD is served as GET; libmicrohttpd leaves out the body. */
                if (r->route == NULL &&
                    (strcmp(rt->method, r->method) == 0 ||
                     (strcmp(r->method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0))) {
                        r->route = rt;
                        r->access = rt->access;
                        r->param = param;
                        r->route_status = 0;
                        continue;
                }
                free(param);
                if (strstr(r->allow, rt->method) == NULL &&
                    alen + strlen(rt->method) + 3 < sizeof(r->allow)) {
                        alen += (size_t)snprintf(r->allow + alen, sizeof(r->allow) - alen, "%s%s",
                                                 alen ? ", " : "", rt->method);
                }
        }
        if (r->route == NULL && alen > 0)
                r->route_status = 405;
        if (r->route_status == 404)
                r->access = ACCESS_READ; /* an unknown path tells nothing to strangers */
}

/* ---- the request lifecycle ---- */

static bool
has_body_method(const char *m)
{
        return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

static bool
is_json_type(const char *ct)
{
        size_t n = strlen("application/json");

        if (ct == NULL)
                return false;
        while (*ct == ' ')
                ct++;
        if (strncasecmp(ct, "application/json", n) != 0)
                return false;
        ct += n;
        while (*ct == ' ')
                ct++;
        return *ct == '\0' || *ct == ';';
}

/* MHD_OPTION_URI_LOG_CALLBACK: the first sight of a request, its request
 * line just read. Its query string is taken here, before libmicrohttpd
 * parses it (query.h says why): the request's context starts here and
 * access_handler gets it as *con_cls. NULL on out-of-memory. */
static void *
uri_seen(void *cls, const char *uri, struct MHD_Connection *conn)
{
        struct http_server *srv = cls;
        struct req *r = calloc(1, sizeof(*r));
        const char *q = strchr(uri, '?');
        const union MHD_ConnectionInfo *info;

        if (r == NULL)
                return NULL;
        clock_gettime(CLOCK_MONOTONIC, &r->start);
        r->srv = srv;
        r->conn = conn;
        info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        r->watch = info ? info->socket_context : NULL;
        if (q == NULL || *++q == '\0')
                return r;
        r->query_len = strlen(q);
        r->query_status = query_parse(q, r->query_len, &r->query, &r->query_twice);
        /* libmicrohttpd 0.9 parses the arguments, right after this call,
         * from the writable line buffer that uri points into: ending the
         * text at the '?' leaves it none to keep in its pool. */
        if (srv->own_query)
                *(char *)(uintptr_t)q = '\0';
        return r;
}

/* The first call of access_handler: the request line and headers are in. */
static void
req_begin(struct req *r, const char *url, const char *method)
{
        struct http_server *srv = r->srv;
        const char *rid;

        r->begun = true;
        r->method = method; /* libmicrohttpd keeps it for the request */
        r->path = url;
        rid = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Request-Id");
        if (rid != NULL && id_valid(rid, strlen(rid)))
                snprintf(r->request_id, sizeof(r->request_id), "%s", rid);
        else
                id_uuidv7(r->request_id);
        route(r, url);
        atomic_fetch_add(&srv->in_flight, 1);
}

static void
req_free(struct req *r)
{
        if (r->on_free != NULL)
                r->on_free(r->on_free_arg);
        while (r->allocs != NULL) {
                struct alloc *a = r->allocs;

                r->allocs = a->next;
                free(a);
        }
        json_decref(r->json);
        jx_numbers_clear(&r->numbers);
        query_clear(&r->query);
        free(r->body);
        free(r->param);
        free(r);
}

static void
too_large(struct req *r)
{
        char detail[128];

        snprintf(detail, sizeof(detail), "request body exceeds the limit of %zu bytes",
                 r->srv->max_body);
        reply_problem(r, 413, detail, NULL);
}

/* Buffers a body chunk, or counts and drops it once the body is too large.
 * A dropped body is read to its end, however long: libmicrohttpd 0.9.75
 * cannot answer before then, and the client is owed its 413 (API.md). It
 * costs no memory; the connection limits and timeouts bound how long a
 * client may keep sending. Returns false when the connection should be
 * closed. */
static bool
append_body(struct req *r, const char *data, size_t len)
{
        if (r->too_large) {
                r->dropped += len;
                return true;
        }
        if (r->body_len + len > r->srv->max_body) {
                /* libmicrohttpd 0.9.75 refuses a response queued while the
                 * body is still arriving (MHD_queue_response returns MHD_NO),
                 * so the 413 is queued after the last chunk (access_handler);
                 * the rest is read and dropped, never buffered. */
                r->too_large = true;
                r->dropped = r->body_len + len;
                free(r->body);
                r->body = NULL;
                r->body_len = 0;
                return true;
        }
        if (r->body_len + len + 1 > r->body_cap) {
                size_t cap = r->body_cap ? r->body_cap : 1024;
                char *nb;

                while (cap < r->body_len + len + 1)
                        cap *= 2;
                nb = realloc(r->body, cap);
                if (nb == NULL) {
                        r->too_large = true; /* 413 after the last chunk */
                        return true;
                }
                r->body = nb;
                r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, data, len);
        r->body_len += len;
        r->body[r->body_len] = '\0';
        return true;
}

/* Parses the body for POST/PUT/PATCH. Returns false after replying. */
static bool
parse_body(struct req *r)
{
        const char *ct =
                MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        json_error_t jerr;
        char detail[320];

        if (!has_body_method(r->method) || (r->body_len == 0 && ct == NULL))
                return true;
        if (!is_json_type(ct)) {
                reply_problem(r, 415,
                              "the request body must be sent with "
                              "Content-Type: application/json",
                              NULL);
                return false;
        }
        if (r->body_len == 0)
                return true;
        /* Numbers keep their literal text (json_exact.h): an exact decimal
         * sent as a JSON number is read from its digits, never a double. */
        r->json = jx_load(r->body, r->body_len, JSON_REJECT_DUPLICATES, &r->numbers, &jerr);
        if (r->json == NULL) {
                snprintf(detail, sizeof(detail), "malformed JSON at line %d column %d: %s",
                         jerr.line, jerr.column, jerr.text);
                reply_problem(r, 400, detail, NULL);
                return false;
        }
        if (!json_is_object(r->json)) {
                reply_problem(r, 400, "the request body must be a JSON object", NULL);
                return false;
        }
        return true;
}

/* The least role the request needs: its route's rule (API.md, Auth). */
static enum auth_role
required_role(const struct req *r)
{
        switch (r->access) {
        case ACCESS_METRICS: return r->srv->protect_metrics ? AUTH_READ : AUTH_NONE;
        case ACCESS_READ: return AUTH_READ;
        case ACCESS_WRITE: return AUTH_WRITE;
        case ACCESS_ADMIN: return AUTH_ADMIN;
        default: return AUTH_NONE;
        }
}

/* Validates the query string against the route's rules into r->args and
 * r->page. Returns false after replying 400 naming each bad parameter. */
static bool
args_ok(struct req *r)
{
        const struct route *rt = r->route;
        json_t *errors = NULL;

        r->args = req_alloc(r, (rt->nquery > 0 ? rt->nquery : 1) * sizeof(*r->args));
        if (r->args == NULL) {
                reply_problem(r, 503, "out of memory", NULL);
                return false;
        }
        if (parse_query(&r->query, rt->query, rt->nquery, rt->paged, r->args, &r->page, &errors))
                return true;
        reply_invalid(r, errors);
        return false;
}

/* Returns false after replying 401 or 403. */
static bool
authorize(struct req *r)
{
        enum auth_role need, have;
        char detail[160];

        if (r->srv->auth == NULL || (need = required_role(r)) == AUTH_NONE)
                return true;
        have = auth_check(r->srv->auth, MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                                    MHD_HTTP_HEADER_AUTHORIZATION));
        if (have == AUTH_NONE) {
                problem(r, 401,
                        "a valid bearer token is required: send "
                        "Authorization: Bearer <token>",
                        NULL, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
                return false;
        }
        if (have < need) {
                snprintf(detail, sizeof(detail),
                         "this token has the %s role; %s %s needs the %s role",
                         auth_role_name(have), r->method, r->route ? r->route->pattern : r->path,
                         auth_role_name(need));
                reply_problem(r, 403, detail, NULL);
                return false;
        }
        return true;
}

static void
dispatch(struct req *r)
{
        if (r->route_status == 404) {
                reply_problem(r, 404, "no such resource", NULL);
                return;
        }
        if (r->route_status == 405) {
                reply_method_not_allowed(r, r->allow);
                return;
        }
        if (!args_ok(r) || !parse_body(r))
                return;
        r->route->handler(r);
        if (!r->replied && !r->suspended) {
                log_msg(LOG_ERROR, "http_error", "handler for %s %s did not reply",
                        r->route->method, r->route->pattern);
                reply_problem(r, 503, "the request could not be completed", NULL);
        }
}

/* MHD_OPTION_NOTIFY_CONNECTION: each connection is timed from its start
 * to its close (deadline.h). libmicrohttpd calls CLOSED before it closes
 * the socket. */
static void
conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
            enum MHD_ConnectionNotificationCode code)
{
        struct http_server *srv = cls;
        const union MHD_ConnectionInfo *info;

        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
                info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
                *socket_context = info ? deadlines_add(srv->deadlines, info->connect_fd) : NULL;
        } else {
                deadlines_remove(srv->deadlines, *socket_context);
                *socket_context = NULL;
        }
}

static enum MHD_Result
add_header_len(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
        size_t *sum = cls;

        (void)kind;
        *sum += strlen(key) + 2 + (value ? strlen(value) : 0) + 2; /* "key: value\r\n" */
        return MHD_YES;
}

/* Checks what the request line and headers carry against the limits, and
 * replies when they break one. libmicrohttpd's pool holds twice
 * max_header_bytes (start_daemon), so the answer always has room. */
static bool
head_ok(struct req *r)
{
        size_t size = strlen(r->method) + 1 + strlen(r->path) + 1 + r->query_len + 11;
        char detail[200];

        MHD_get_connection_values(r->conn, MHD_HEADER_KIND, add_header_len, &size);
        if (size > (size_t)r->srv->max_header) {
                snprintf(detail, sizeof(detail),
                         "the request line and headers are %zu bytes; at most %d are accepted "
                         "(server.max_header_bytes)",
                         size, r->srv->max_header);
                reply_problem(r, 431, detail, NULL);
                return false;
        }
        switch (r->query_status) {
        case QUERY_OK: return true;
        case QUERY_TOO_LONG:
                snprintf(detail, sizeof(detail),
                         "the query string is %zu bytes; at most %d are accepted", r->query_len,
                         QUERY_MAX_BYTES);
                reply_problem(r, 414, detail, NULL);
                return false;
        case QUERY_TOO_MANY:
                snprintf(detail, sizeof(detail), "more than %d query parameters", QUERY_MAX_PARAMS);
                reply_problem(r, 400, detail, NULL);
                return false;
        case QUERY_TWICE: {
                json_t *errors = NULL;

                problem_add(&errors, r->query_twice, "query parameter '%s' is given twice",
                            r->query_twice);
                reply_problem(r, 400, "a query parameter is given twice", errors);
                return false;
        }
        default: reply_unavailable(r); return false;
        }
}

/* libmicrohttpd 0.9.75 decodes only "chunked"; with any other transfer
 * coding the body's length is unknown and it waits for the connection to
 * close, so the client would get no answer. Such a request is refused from
 * its headers: 400 rather than RFC 9112's 501, as API.md promises no 5xx
 * for anything a client sent. Returns false after replying. */
static bool
transfer_encoding_ok(struct req *r)
{
        const char *te = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_TRANSFER_ENCODING);

        if (te == NULL || strcasecmp(te, "chunked") == 0)
                return true;
        reply_problem(r, 400, "Transfer-Encoding must be chunked or absent", NULL);
        return false;
}

static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
               const char *version, const char *upload_data, size_t *upload_data_size,
               void **con_cls)
{
        struct http_server *srv = cls;
        struct req *r = *con_cls;
        const char *cl;

        (void)version;
        if (r == NULL)
                return MHD_NO; /* uri_seen ran out of memory */
        if (!r->begun) {
                req_begin(r, url, method);
                conn_watch_busy(r->watch);
                if (!head_ok(r))
                        return MHD_YES;
                cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
                if (!transfer_encoding_ok(r))
                        return MHD_YES; /* answered: what follows is dropped */
                /* The role is known from the headers: a caller without it
                 * is refused before any of its body is accepted. */
                if (!authorize(r))
                        return MHD_YES;
                if ((cl != NULL && strcmp(cl, "0") != 0) ||
                    MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL)
                        conn_watch_body(r->watch); /* a body is to come */
                if (cl != NULL && strtoull(cl, NULL, 10) > srv->max_body) {
                        r->too_large = true;
                        too_large(r);
                }
                return MHD_YES;
        }
        if (r->suspended) {
                r->suspended = false;
                if (r->result == DB_OVERLOADED)
                        reply_overloaded(r); /* the job never ran */
                else
                        r->respond(r, r->result);
                if (!r->replied)
                        reply_problem(r, 503, "the request could not be completed", NULL);
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                bool keep;

                conn_watch_body_bytes(r->watch, *upload_data_size);
                keep = r->replied || append_body(r, upload_data, *upload_data_size);

                *upload_data_size = 0;
                return keep ? MHD_YES : MHD_NO;
        }
        conn_watch_busy(r->watch); /* the body is in: the server's turn */
        if (r->too_large && !r->replied)
                too_large(r);
        else if (!r->replied)
                dispatch(r);
        return MHD_YES;
}

static void
log_request(const struct req *r, int64_t us)
{
        /* request_id and route are validated or static: no escaping needed. */
        const struct log_access a = {
                .request_id = r->request_id,
                .method = r->method,
                .route = r->route ? r->route->pattern : "unmatched",
                .status = r->status,
                .duration_us = us,
                .bytes = r->bytes,
        };

        log_access(&a);
}

static void
completed(void *cls, struct MHD_Connection *conn, void **con_cls,
          enum MHD_RequestTerminationCode toe)
{
        struct http_server *srv = cls;
        struct req *r = *con_cls;
        struct timespec now;
        int64_t us;

        (void)conn;
        (void)toe;
        if (r == NULL)
                return;
        /* The answer is out: the connection waits for its next request. */
        conn_watch_head(r->watch);
        if (!r->begun) { /* refused by libmicrohttpd before access_handler */
                req_free(r);
                *con_cls = NULL;
                return;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        us = (int64_t)(now.tv_sec - r->start.tv_sec) * 1000000 +
             (now.tv_nsec - r->start.tv_nsec) / 1000;
        if (srv->app->metrics != NULL)
                metrics_observe(srv->app->metrics, r->route, r->method, r->status, us);
        log_request(r, us);
        /* Only now is the answer to a write sent, or its client gone (it may
         * have left while the write waited on the database). */
        if (r->wrote)
                atomic_fetch_sub(&srv->suspended, 1);
        req_free(r);
        *con_cls = NULL;
        atomic_fetch_sub(&srv->in_flight, 1);
}

/* ---- the daemon ---- */

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
        char msg[512];
        size_t n;

        (void)cls;
        vsnprintf(msg, sizeof(msg), fmt, ap);
        n = strlen(msg);
        while (n > 0 && msg[n - 1] == '\n')
                msg[--n] = '\0';
        log_msg(LOG_WARN, "http_daemon", "%s", msg);
}

static int
resolve(const char *host, uint16_t port, struct sockaddr_storage *ret_addr)
{
        struct addrinfo hints = { .ai_family = AF_UNSPEC,
                                  .ai_socktype = SOCK_STREAM,
                                  .ai_flags = AI_PASSIVE };
        struct addrinfo *res = NULL;
        char portstr[8];
        int rc;

        snprintf(portstr, sizeof(portstr), "%u", port);
        rc = getaddrinfo(host, portstr, &hints, &res);
        if (rc != 0) {
                log_msg(LOG_ERROR, "http_start_failed",
                        "cannot resolve server.host '%s': %s; use an IP address or a "
                        "resolvable name",
                        host, gai_strerror(rc));
                return -1;
        }
        memset(ret_addr, 0, sizeof(*ret_addr));
        memcpy(ret_addr, res->ai_addr, res->ai_addrlen);
        freeaddrinfo(res);
        return 0;
}

/* Reads a whole PEM file into a NUL-terminated heap buffer (caller frees). */
static char *
read_pem(const char *key, const char *path)
{
        FILE *f = fopen(path, "rb");
        char *buf = NULL;
        long n;

        if (f == NULL) {
                log_msg(LOG_ERROR, "http_start_failed", "server.%s: cannot read %s: %s", key, path,
                        strerror(errno));
                return NULL;
        }
        if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < (1L << 20) &&
            fseek(f, 0, SEEK_SET) == 0 && (buf = calloc(1, (size_t)n + 1)) != NULL &&
            fread(buf, 1, (size_t)n, f) != (size_t)n) {
                free(buf);
                buf = NULL;
        }
        fclose(f);
        if (buf == NULL)
                log_msg(LOG_ERROR, "http_start_failed", "server.%s: %s is empty or unreadable", key,
                        path);
        return buf;
}

/* TLS when both files are configured. Returns -1 after logging. */
static int
setup_tls(struct http_server *s, const struct config *cfg, unsigned *flags)
{
        bool cert = cfg->server.tls_cert[0] != '\0', key = cfg->server.tls_key[0] != '\0';

        if (!cert && !key)
                return 0;
        if (cert != key) {
                log_msg(LOG_ERROR, "http_start_failed",
                        "server.tls_cert and server.tls_key must be set together");
                return -1;
        }
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
                log_msg(LOG_ERROR, "http_start_failed",
                        "this libmicrohttpd was built without TLS; unset server.tls_cert");
                return -1;
        }
        s->tls_cert = read_pem("tls_cert", cfg->server.tls_cert);
        s->tls_key = read_pem("tls_key", cfg->server.tls_key);
        if (s->tls_cert == NULL || s->tls_key == NULL)
                return -1;
        *flags |= MHD_USE_TLS;
        return 0;
}

static bool
is_loopback(const struct sockaddr_storage *a)
{
        if (a->ss_family == AF_INET)
                return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
        if (a->ss_family == AF_INET6)
                return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr);
        return false;
}

static int
setup_auth(struct http_server *s, const struct config *cfg, const struct sockaddr_storage *addr)
{
        char err[256];

        if (auth_new(cfg->auth.tokens, &s->auth, err, sizeof(err)) != 0) {
                log_msg(LOG_ERROR, "http_start_failed", "%s", err);
                return -1;
        }
        s->protect_metrics = cfg->auth.protect_metrics;
        if (s->auth == NULL && !is_loopback(addr))
                log_msg(LOG_WARN, "auth_disabled",
                        "NO AUTHENTICATION: listening on %s with no auth.tokens configured, so "
                        "anyone who can reach this port can read and change the books; set "
                        "AUTH_TOKENS=\"read:...,write:...,admin:...\" or auth.tokens",
                        cfg->server.host);
        return 0;
}

/* Refuses new connections once the server is stopping. */
static enum MHD_Result
accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
        const struct http_server *s = cls;

        (void)addr;
        (void)addrlen;
        return atomic_load(&s->draining) ? MHD_NO : MHD_YES;
}

static struct MHD_Daemon *
start_daemon(struct http_server *s, const struct config *cfg, unsigned flags,
             const struct sockaddr_storage *addr)
{
        struct MHD_OptionItem opts[16];
        size_t n = 0;

#define OPT(o, v, p) (opts[n++] = (struct MHD_OptionItem){ (o), (intptr_t)(v), (p) })
        OPT(MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL);
        OPT(MHD_OPTION_SOCK_ADDR, 0, (void *)(uintptr_t)addr);
        if (config_threads_effective(cfg) > 1) /* 1 is the polling thread itself */
                OPT(MHD_OPTION_THREAD_POOL_SIZE, config_threads_effective(cfg), NULL);
        OPT(MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, s);
        OPT(MHD_OPTION_CONNECTION_TIMEOUT, cfg->server.idle_timeout, NULL);
        /* Room for the request line and headers (head_ok refuses more than
         * max_header_bytes), libmicrohttpd's record of each header, and the
         * answer: a request that fits always gets one. */
        OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->server.max_header_bytes * 2 + 16384,
            NULL);
        OPT(MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)uri_seen, s);
        OPT(MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)conn_notify, s);
        OPT(MHD_OPTION_CONNECTION_LIMIT, cfg->server.max_connections, NULL);
        if (cfg->server.max_connections_per_ip > 0)
                OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->server.max_connections_per_ip, NULL);
        if (s->tls_cert != NULL) {
                OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert);
                OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key);
        }
        OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
        return MHD_start_daemon(flags, (uint16_t)cfg->server.port, accept_policy, s, access_handler,
                                s, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
}

static void
server_free(struct http_server *s)
{
        pthread_mutex_destroy(&s->write_mu);
        deadlines_stop(s->deadlines);
        auth_free(s->auth);
        free(s->tls_cert);
        free(s->tls_key);
        free(s);
}

int
http_start(const struct app *app, const struct route *routes, size_t nroutes,
           struct http_server **ret_server)
{
        const struct config *cfg = app->cfg;
        struct http_server *s = calloc(1, sizeof(*s));
        struct sockaddr_storage addr;
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
        const union MHD_DaemonInfo *info;

        for (size_t i = 0; i < nroutes; i++)
                if (routes[i].access == ACCESS_UNSET) {
                        log_msg(LOG_ERROR, "http_start_failed", "route %s %s has no access rule",
                                routes[i].method, routes[i].pattern);
                        free(s);
                        return -1;
                }
        if (s == NULL)
                return -1;
        s->app = app;
        s->routes = routes;
        s->nroutes = nroutes;
        s->max_body = (size_t)cfg->server.max_body_bytes;
        s->max_write_queue = cfg->database.max_write_queue;
        s->max_header = cfg->server.max_header_bytes;
        s->own_query = strncmp(MHD_get_version(), "0.9.", 4) == 0;
        pthread_mutex_init(&s->write_mu, NULL);
        if (resolve(cfg->server.host, (uint16_t)cfg->server.port, &addr) != 0)
                goto fail;
        if (addr.ss_family == AF_INET6)
                flags |= MHD_USE_IPv6;
        if (setup_tls(s, cfg, &flags) != 0 || setup_auth(s, cfg, &addr) != 0)
                goto fail;
        s->deadlines = deadlines_start(cfg->server.header_timeout, cfg->server.min_body_rate);
        if (s->deadlines == NULL)
                goto fail;
        s->daemon = start_daemon(s, cfg, flags, &addr);
        if (s->daemon == NULL) {
                log_msg(LOG_ERROR, "http_start_failed",
                        "cannot listen on %s:%d: %s; is another process using the port?",
                        cfg->server.host, cfg->server.port, strerror(errno));
                goto fail;
        }
        info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
        s->port = info ? info->port : (uint16_t)cfg->server.port;
        *ret_server = s;
        return 0;
fail:
        server_free(s);
        return -1;
}

uint16_t
http_port(const struct http_server *s)
{
        return s->port;
}

void
http_cut_counts(const struct http_server *s, unsigned long *ret_header, unsigned long *ret_body)
{
        if (s == NULL) {
                *ret_header = 0;
                *ret_body = 0;
                return;
        }
        deadlines_counts(s->deadlines, ret_header, ret_body);
}

long
http_in_flight(const struct http_server *s)
{
        return s != NULL ? atomic_load(&s->in_flight) : 0;
}

void
http_stop(struct http_server *s, int grace_ms)
{
        int waited = 0;

        if (s == NULL)
                return;
        /* Stop taking connections. Not MHD_quiesce_daemon: on an epoll thread
         * pool it races with the workers in libmicrohttpd 0.9.75 and can abort
         * the process ("Failed to remove listen FD from epoll set"). The
         * accept policy refuses every new connection from now on instead. */
        atomic_store(&s->draining, true);
        /* Requests waiting on the writer always finish: never cut them off. */
        while (atomic_load(&s->suspended) > 0 ||
               (atomic_load(&s->in_flight) > 0 && waited < grace_ms)) {
                struct timespec ts = { .tv_nsec = 5 * 1000 * 1000 };

                nanosleep(&ts, NULL);
                waited += 5;
        }
        /* From here no request suspends (req_write answers 503): wait for
         * those already suspended, as MHD_stop_daemon aborts on one. */
        pthread_mutex_lock(&s->write_mu);
        s->closing = true;
        pthread_mutex_unlock(&s->write_mu);
        while (atomic_load(&s->suspended) > 0 || atomic_load(&s->resuming) > 0) {
                struct timespec ts = { .tv_nsec = 5 * 1000 * 1000 };

                nanosleep(&ts, NULL);
        }
        MHD_stop_daemon(s->daemon);
        server_free(s);
        /* The access log is written by a logger thread: have the last
         * requests' lines out before the caller (or the process) moves on. */
        (void)log_flush(2000);
}
