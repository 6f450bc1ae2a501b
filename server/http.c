/* The HTTP layer's daemon and request lifecycle (see http.h):
 * libmicrohttpd with an internal thread pool on epoll, each request's
 * context from its first sight to its end, request ids, one log line per
 * request, and write requests suspended while the database writer commits
 * them (req_write). Routing and the route rules are in router.c, the body
 * reader in body.c, the reply funnel in reply.c (http_internal.h).
 *
 * libmicrohttpd calls the access handler several times per request: first
 * with the headers, where only refusals are answered (a limit broken, no
 * role for the route: a response queued on that first call makes 0.9.75
 * close keep-alive connections, and leaves the body unread), then once per
 * body chunk, then with no data, where we dispatch. A write request is
 * suspended there and resumed by the writer thread after COMMIT; the next
 * call replies. */
#include "server/http.h"
#include "server/http_internal.h"

#include "common/ids.h"
#include "common/log.h"
#include "db/db.h"
#include "server/auth.h"
#include "server/config.h"
#include "server/deadline.h"
#include "server/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* ---- the request, for handlers ---- */

const struct app *
req_app(const struct req *r)
{
        return r->srv->app;
}

const struct http_server *
req_server(const struct req *r)
{
        return r->srv;
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

/* Suspends r until submit's worker has run fn(arg) and called job_done. */
static void
req_suspend_for(struct req *r, db_job_fn fn, void *arg, void (*respond)(struct req *r, int result),
                void (*submit)(struct db *d, struct db_job *job))
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
        submit(r->srv->app->db, &r->job);
}

void
req_write(struct req *r, db_job_fn fn, void *arg, void (*respond)(struct req *r, int result))
{
        req_suspend_for(r, fn, arg, respond, db_submit);
}

void
req_admin(struct req *r, db_job_fn fn, void *arg, void (*respond)(struct req *r, int result))
{
        r->admin = true;
        req_suspend_for(r, fn, arg, respond, db_admin_submit);
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

/* ---- the request lifecycle ---- */

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
        router_match(r, url);
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

/* MHD_OPTION_NOTIFY_CONNECTION: each connection is timed from its start
 * to its close (deadline.h). libmicrohttpd calls CLOSED before it closes
 * the socket. */
/* Connections' memory (libmicrohttpd's pools, bodies) comes from malloc,
 * which keeps what is freed for reuse. After a crowd (hundreds of clients)
 * has left, give it back to the system: once open connections fall to a
 * quarter of their peak. Rare, and a few milliseconds when it happens. */
#define CROWD 256

static void
count_conn(struct http_server *srv, bool opened)
{
        long n = opened ? atomic_fetch_add(&srv->conns, 1) + 1
                        : atomic_fetch_sub(&srv->conns, 1) - 1;
        long peak = atomic_load(&srv->conns_peak);

        if (opened) {
                while (n > peak && !atomic_compare_exchange_weak(&srv->conns_peak, &peak, n))
                        ;
        } else if (peak >= CROWD && n <= peak / 4 &&
                   atomic_compare_exchange_strong(&srv->conns_peak, &peak, n)) {
                malloc_trim(0);
        }
}

static void
conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
            enum MHD_ConnectionNotificationCode code)
{
        struct http_server *srv = cls;
        const union MHD_ConnectionInfo *info;

        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
                info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
                *socket_context = info ? deadlines_add(srv->deadlines, info->connect_fd) : NULL;
                count_conn(srv, true);
        } else {
                deadlines_remove(srv->deadlines, *socket_context);
                *socket_context = NULL;
                count_conn(srv, false);
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

/* The first call of a request: its line and headers are in. Only
 * refusals are answered here (see the top of this file); the body, if
 * any, comes in the next calls. */
static void
req_first_call(struct req *r, const char *url, const char *method)
{
        const char *cl;

        req_begin(r, url, method);
        conn_watch_busy(r->watch);
        if (!head_ok(r))
                return;
        cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (!transfer_encoding_ok(r))
                return; /* answered: what follows is dropped */
        /* The role is known from the headers: a caller without it is
         * refused before any of its body is accepted. */
        if (!router_authorize(r))
                return;
        if ((cl != NULL && strcmp(cl, "0") != 0) ||
            MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                        MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL)
                conn_watch_body(r->watch); /* a body is to come */
        if (cl != NULL && strtoull(cl, NULL, 10) > r->srv->max_body) {
                r->too_large = true;
                body_too_large(r);
        }
}

static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
               const char *version, const char *upload_data, size_t *upload_data_size,
               void **con_cls)
{
        struct req *r = *con_cls;

        (void)cls;
        (void)conn;
        (void)version;
        if (r == NULL)
                return MHD_NO; /* uri_seen ran out of memory */
        if (!r->begun) {
                req_first_call(r, url, method);
                return MHD_YES;
        }
        if (r->suspended) {
                r->suspended = false;
                if (r->result == DB_OVERLOADED && !r->admin)
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
                keep = r->replied || body_append(r, upload_data, *upload_data_size);

                *upload_data_size = 0;
                return keep ? MHD_YES : MHD_NO;
        }
        conn_watch_busy(r->watch); /* the body is in: the server's turn */
        if (r->too_large && !r->replied)
                body_too_large(r);
        else if (!r->replied)
                router_dispatch(r);
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

        if (s == NULL || !router_table_ok(routes, nroutes)) {
                free(s);
                return -1;
        }
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
