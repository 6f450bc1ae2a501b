/* Tests of the HTTP layer (server/http.c) and GET /health through the real
 * server: the reply funnel (problem+json, 404, 405 with Allow), the capped
 * body reader (413 by Content-Length and by chunked upload), 415, bad
 * JSON, request ids, keep-alive across plain and suspended (write)
 * requests, and a shutdown that finishes the requests in flight.
 *
 * To hold a write in flight from outside, a test takes SQLite's write lock
 * on the database file with its own connection (BEGIN IMMEDIATE): the
 * server's writer then waits in its busy handler, the request stays
 * suspended, and the test decides when it may commit. */
#include "tests/harness.h"

#include "common/log.h"
#include "common/ts.h"
#include "db/migrate.h"
#include "server/service.h"

#include <check.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define BALANCE "{\"available\": \"1\", \"locked\": \"2\"}"

static struct harness h;

static void
set(const char *key, const char *value)
{
        harness_set(&h, key, value);
}

static void
setup(void)
{
        log_set_level(LOG_ERROR);
        harness_init(&h);
        set("server.max_body_bytes", "1024");
        set("database.connection_pool_size", "3");
        set("database.query_timeout", "20");
        harness_start(&h);
}

static void
teardown(void)
{
        harness_stop(&h);
}

static void
assert_problem(const struct http_resp *r, long status)
{
        ck_assert_int_eq(r->status, status);
        ck_assert_str_eq(r->ctype, "application/problem+json");
        ck_assert_ptr_nonnull(r->json);
        ck_assert_str_eq(json_string_value(json_object_get(r->json, "type")), "about:blank");
        ck_assert_int_eq(json_integer_value(json_object_get(r->json, "status")), status);
        ck_assert_ptr_nonnull(json_string_value(json_object_get(r->json, "title")));
        ck_assert_ptr_nonnull(json_string_value(json_object_get(r->json, "detail")));
}

/* An RFC 9562 UUIDv7 in lower case. */
static bool
is_uuidv7(const char *s)
{
        static const char shape[] = "xxxxxxxx-xxxx-7xxx-vxxx-xxxxxxxxxxxx";

        if (strlen(s) != strlen(shape))
                return false;
        for (size_t i = 0; shape[i] != '\0'; i++) {
                bool hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');

                if ((shape[i] == 'x' && !hex) || (shape[i] == 'v' && !strchr("89ab", s[i])) ||
                    (shape[i] != 'x' && shape[i] != 'v' && s[i] != shape[i]))
                        return false;
        }
        return true;
}

/* A write lock on the database taken by another connection (the tests'
 * own, harness_sql_*, which keeps its transaction open until
 * unlock_database): SQLite's one write lock, or on PostgreSQL a lock on the
 * table the tests below write (a balance). */
static void
lock_database(void)
{
        harness_sql_exec(&h, h.postgres ? "BEGIN; LOCK TABLE account_balances IN EXCLUSIVE MODE"
                                        : "BEGIN IMMEDIATE");
}

static void
unlock_database(void)
{
        harness_sql_exec(&h, "COMMIT");
}

static int
count_rows(const char *db_path, const char *asset)
{
        (void)db_path; /* h's database, on either backend */
        return (int)harness_sql_int(&h, "SELECT count(*) FROM account_balances WHERE asset LIKE %Q",
                                    asset);
}

/* ---- GET /health ---- */

/* The pool_size /health reports for a read pool of readers: on PostgreSQL
 * one pool serves reads and the 16 write connections beside them (README,
 * "PostgreSQL"; db.c's PG_WRITERS). */
static long long
pool_of(int readers)
{
        return h.postgres ? readers + 16 : readers;
}

/* /health reports the pool as it is: raised to one reader per HTTP thread
 * when configured smaller (it reported the configured value). */
START_TEST(health_pool_size_is_the_pool_in_use)
{
        struct http_resp r;

        harness_stop(&h);
        harness_init(&h);
        set("database.connection_pool_size", "1");
        set("server.threads", "3");
        harness_start(&h);
        ck_assert_int_eq(http_json(&h, "GET", "/health", NULL, &r), 200);
        ck_assert_int_eq(json_integer_value(json_object_get(r.json, "pool_size")), pool_of(3));
        http_resp_clear(&r);
}
END_TEST

START_TEST(health_reports_the_database_facts)
{
        struct http_resp r;
        const json_t *j;
        char version[64];

        ck_assert_int_eq(http_json(&h, "GET", "/health", NULL, &r), 200);
        ck_assert_str_eq(r.ctype, "application/json");
        j = r.json;
        ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "ok");
        ck_assert(json_is_true(json_object_get(j, "connected")));
        ck_assert_str_eq(json_string_value(json_object_get(j, "backend")),
                         h.postgres ? "postgresql" : "sqlite");
        if (h.postgres) /* API.md, Operations: no wal_mode on PostgreSQL */
                ck_assert_ptr_null(json_object_get(j, "wal_mode"));
        else
                ck_assert(json_is_true(json_object_get(j, "wal_mode")));
        ck_assert(json_is_true(json_object_get(j, "foreign_keys")));
        ck_assert(json_is_integer(json_object_get(j, "pool_size")));
        ck_assert_int_eq(json_integer_value(json_object_get(j, "pool_size")), pool_of(3));
        /* Idle between requests: the probe has given its connection back. */
        ck_assert(json_is_integer(json_object_get(j, "pool_in_use")));
        ck_assert_int_eq(json_integer_value(json_object_get(j, "pool_in_use")), 0);
        /* The version of what stores the data, as the database itself says. */
        ck_assert(harness_sql_text(&h, version, sizeof(version), "%s",
                                   h.postgres ? "SELECT current_setting('server_version')"
                                              : "SELECT sqlite_version()") == HARNESS_SQL_VALUE);
        ck_assert_str_eq(json_string_value(json_object_get(j, "backend_version")), version);
        ck_assert(json_is_number(json_object_get(j, "size_mb")));
        ck_assert(json_number_value(json_object_get(j, "size_mb")) > 0);
        ck_assert(json_is_integer(json_object_get(j, "schema_version")));
        /* 1 when this was written; the latest embedded migration from then on. */
        ck_assert_int_eq(json_integer_value(json_object_get(j, "schema_version")),
                         migrations_embedded[migrations_embedded_count - 1].version);
        ck_assert(json_is_string(json_object_get(j, "version")));
        ck_assert_str_eq(json_string_value(json_object_get(j, "version")), TRADESTORE_VERSION);
        http_resp_clear(&r);
}
END_TEST

/* The database "cannot be queried": the health query's table is gone, so
 * every reader fails to prepare it. (Permission tricks do not work as
 * root, and the readers are already open.) */
START_TEST(health_is_503_unavailable_when_the_database_cannot_be_queried)
{
        struct http_resp r;

        harness_sql_exec(&h, "DROP TABLE schema_version");
        ck_assert_int_eq(http_json(&h, "GET", "/health", NULL, &r), 503);
        ck_assert_str_eq(r.ctype, "application/json");
        ck_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "unavailable");
        ck_assert(json_is_false(json_object_get(r.json, "connected")));
        http_resp_clear(&r);
}
END_TEST

/* ---- routing and the reply funnel ---- */

/* Unknown names reach error messages; when they are not valid UTF-8 (a
 * query parameter decoded from %ff, a long field name cut inside a
 * character) the error must still be reported, not dropped. */
START_TEST(unknown_names_that_are_not_valid_utf8_are_still_400_with_errors)
{
        char body[1024];
        size_t n = 0;
        struct http_resp r;

        http_json(&h, "GET", "/orders?%ff=1", NULL, &r);
        ck_assert_int_eq(r.status, 400);
        assert_problem(&r, 400);
        ck_assert_uint_eq(json_array_size(json_object_get(r.json, "errors")), 1);
        http_resp_clear(&r);

        n += (size_t)snprintf(body + n, sizeof(body) - n, "{\"status\": \"open\", \"x");
        for (int i = 0; i < 100; i++)
                n += (size_t)snprintf(body + n, sizeof(body) - n, "\xc3\xa9"); /* e-acute */
        snprintf(body + n, sizeof(body) - n, "\": 1}");
        http_json(&h, "PATCH", "/orders/none", body, &r);
        ck_assert_int_eq(r.status, 400);
        assert_problem(&r, 400);
        ck_assert_uint_eq(json_array_size(json_object_get(r.json, "errors")), 1);
        http_resp_clear(&r);
}
END_TEST

/* A JSON number is read from its own text, with the rules of a decimal
 * string (API.md: "a JSON number [in] any JSON form"; more digits or a larger
 * value is a 400, never a silent rounding). Clients that write exact decimals
 * as JSON numbers (BigDecimal, json.Number, arbitrary_precision) send these. */
START_TEST(json_numbers_are_read_exactly_from_their_text)
{
        static const struct {
                const char *json, *stored;
        } exact[] = {
                { "92233720367.99999999", "92233720367.99999999" },
                { "9.223372036799999999e10", "92233720367.99999999" },
                { "12345678901.12345678", "12345678901.12345678" },
                { "92233720368.54775807", "92233720368.54775807" },
                { "0.1000000000000000000000000000", "0.1" },
                { "1.100000000", "1.1" },
                { "12345e-4", "1.2345" },
                { "1e-8", "0.00000001" },
                { "1E-8", "0.00000001" },
                { "0.00000001", "0.00000001" },
                { "1.5e1", "15" },
                { "1e+2", "100" },
                { "100000000000e-1", "10000000000" },
                { "0e999999999999", "0" },
                { "-0", "0" },
                { "-0.0e-5", "0" },
                { "7", "7" },
        };
        static const struct {
                const char *json, *why;
        } refused[] = {
                { "1e-9", "fractional" },
                { "1.5e-8", "fractional" },
                { "0.1000000000000000055511151231257827", "fractional" },
                { "1e-400", "fractional" },
                { "92233720368.54775808", "range" },
                { "1e11", "range" },
                { "1e400", "range" },
                { "123456789012345678901234567890", "range" },
        };
        struct http_resp r;
        char body[200];

        for (size_t i = 0; i < N(exact); i++) {
                snprintf(body, sizeof(body), "{\"available\": %s, \"locked\": 0}", exact[i].json);
                http_json(&h, "PUT", "/balances/X", body, &r);
                ck_assert_msg(r.status == 200 || r.status == 201, "%s: %ld %s", exact[i].json,
                              r.status, r.body);
                http_resp_clear(&r);
                http_json(&h, "GET", "/balances/X", NULL, &r);
                ck_assert_msg(strcmp(json_string_value(json_object_get(r.json, "available")),
                                     exact[i].stored) == 0,
                              "%s stored as %s", exact[i].json, r.body);
                http_resp_clear(&r);
        }
        http_json(&h, "PUT", "/balances/X", "{\"available\": \"1.5\", \"locked\": 0}", &r);
        http_resp_clear(&r);
        for (size_t i = 0; i < N(refused); i++) {
                const json_t *e;

                snprintf(body, sizeof(body), "{\"available\": %s, \"locked\": 0}", refused[i].json);
                http_json(&h, "PUT", "/balances/X", body, &r);
                ck_assert_msg(r.status == 400, "%s: %ld", refused[i].json, r.status);
                assert_problem(&r, 400);
                e = json_array_get(json_object_get(r.json, "errors"), 0);
                ck_assert_str_eq(json_string_value(json_object_get(e, "field")), "available");
                ck_assert_msg(strstr(json_string_value(json_object_get(e, "message")),
                                     refused[i].why) != NULL ||
                                      strstr(json_string_value(json_object_get(e, "message")),
                                             "range") != NULL,
                              "%s: %s", refused[i].json, r.body);
                http_resp_clear(&r);
        }
        http_json(&h, "GET", "/balances/X", NULL, &r);
        ck_assert_str_eq(json_string_value(json_object_get(r.json, "available")), "1.5");
        http_resp_clear(&r);
}
END_TEST

START_TEST(head_is_answered_like_get_without_a_body)
{
        struct http_resp r;

        http_do(&h, "HEAD", "/health", NULL, NULL, NULL, &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.ctype, "application/json");
        ck_assert_uint_eq(r.len, 0);
        http_resp_clear(&r);
        http_do(&h, "HEAD", "/orders/none", NULL, NULL, NULL, &r);
        ck_assert_int_eq(r.status, 404);
        http_resp_clear(&r);
}
END_TEST

START_TEST(an_unknown_path_is_404_problem_json)
{
        static const char *const paths[] = {
                "/",          "/nope",         "/health/x",           "/healthz",
                "/balances/", "/balances/a:b", "/orders/has%20space",
        };

        for (size_t i = 0; i < N(paths); i++) {
                struct http_resp r;

                http_json(&h, "GET", paths[i], NULL, &r);
                ck_assert_msg(r.status == 404, "%s: %ld", paths[i], r.status);
                assert_problem(&r, 404);
                ck_assert_str_eq(json_string_value(json_object_get(r.json, "title")), "Not Found");
                http_resp_clear(&r);
        }
}
END_TEST

START_TEST(a_wrong_method_is_405_with_allow)
{
        static const struct {
                const char *method, *path, *allow;
        } cases[] = {
                { "DELETE", "/health", "GET" },
                { "POST", "/health", "GET" },
                { "POST", "/balances", "GET, PUT" },
                { "PATCH", "/balances/BTC", "GET, PUT, DELETE" },
                { "PUT", "/quotes", "POST, GET" },
        };

        for (size_t i = 0; i < N(cases); i++) {
                struct http_resp r;

                http_json(&h, cases[i].method, cases[i].path, NULL, &r);
                assert_problem(&r, 405);
                ck_assert_msg(strcmp(r.allow, cases[i].allow) == 0, "%s %s: Allow '%s'",
                              cases[i].method, cases[i].path, r.allow);
                http_resp_clear(&r);
        }
}
END_TEST

/* ---- bodies ---- */

/* A JSON object of exactly len bytes that PUT /balances/{asset} accepts. */
static char *
padded_balance(size_t len)
{
        char *b = malloc(len + 1);
        size_t n = strlen(BALANCE);

        ck_assert_ptr_nonnull(b);
        ck_assert_uint_ge(len, n);
        memset(b, ' ', len);
        memcpy(b + len - n, BALANCE, n);
        b[len] = '\0';
        return b;
}

START_TEST(a_body_over_the_limit_is_413_by_content_length)
{
        struct http_resp r;
        char *at = padded_balance(1024), *over = padded_balance(1025);

        http_json(&h, "PUT", "/balances/BIG", over, &r);
        assert_problem(&r, 413);
        http_resp_clear(&r);
        /* The server goes on, and the limit itself is allowed. */
        ck_assert_int_eq(http_json(&h, "GET", "/health", NULL, &r), 200);
        http_resp_clear(&r);
        ck_assert_int_eq(http_json(&h, "PUT", "/balances/AT", at, &r), 201);
        http_resp_clear(&r);
        ck_assert_int_eq(http_json(&h, "GET", "/balances/BIG", NULL, &r), 404);
        http_resp_clear(&r);
        free(at);
        free(over);
}
END_TEST

/* ---- a raw libcurl client: chunked uploads and connection reuse ---- */

struct upload {
        const char *data;
        size_t len, pos;
};

static size_t
read_chunk(char *buf, size_t size, size_t n, void *cls)
{
        struct upload *u = cls;
        size_t want = size * n, left = u->len - u->pos;

        /* Small pieces: the server sees several chunks. */
        if (want > 300)
                want = 300;
        if (want > left)
                want = left;
        memcpy(buf, u->data + u->pos, want);
        u->pos += want;
        return want;
}

struct raw {
        long status;
        long connects;
        char *body;
        size_t len;
        char connection[64];
        CURLcode rc;
};

static size_t
raw_body(char *data, size_t size, size_t n, void *cls)
{
        struct raw *r = cls;
        char *nb = realloc(r->body, r->len + size * n + 1);

        if (nb == NULL)
                return 0;
        r->body = nb;
        memcpy(r->body + r->len, data, size * n);
        r->len += size * n;
        r->body[r->len] = '\0';
        return size * n;
}

static size_t
raw_header(char *line, size_t size, size_t n, void *cls)
{
        struct raw *r = cls;

        if (strncasecmp(line, "Connection:", 11) == 0)
                snprintf(r->connection, sizeof(r->connection), "%.*s", (int)(size * n - 11),
                         line + 11);
        return size * n;
}

/* Sends one request on c (kept for reuse). chunked sends body with
 * Transfer-Encoding: chunked. */
static void
raw_do(CURL *c, const char *method, const char *path, const char *body, bool chunked,
       long timeout_ms, struct raw *ret)
{
        struct curl_slist *hl = NULL;
        struct upload u = { .data = body, .len = body ? strlen(body) : 0 };
        char url[256];

        memset(ret, 0, sizeof(*ret));
        snprintf(url, sizeof(url), "%s%s", h.base_url, path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        hl = curl_slist_append(hl, "Expect:");
        if (body != NULL) {
                hl = curl_slist_append(hl, "Content-Type: application/json");
                curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
                curl_easy_setopt(c, CURLOPT_READFUNCTION, read_chunk);
                curl_easy_setopt(c, CURLOPT_READDATA, &u);
                if (chunked)
                        hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
                curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
                                 chunked ? (curl_off_t)-1 : (curl_off_t)u.len);
        } else {
                curl_easy_setopt(c, CURLOPT_UPLOAD, 0L);
                curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, raw_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, ret);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, raw_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, ret);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
        ret->rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &ret->status);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &ret->connects);
        curl_slist_free_all(hl);
}

static void
raw_clear(struct raw *r)
{
        free(r->body);
        memset(r, 0, sizeof(*r));
}

START_TEST(a_chunked_body_over_the_limit_is_413_and_the_server_goes_on)
{
        CURL *c = curl_easy_init();
        char *over = padded_balance(5000), *under = padded_balance(900);
        struct raw r;

        ck_assert_ptr_nonnull(c);
        raw_do(c, "PUT", "/balances/BIG", over, true, 10000, &r);
        ck_assert_msg(r.rc == CURLE_OK, "%s", curl_easy_strerror(r.rc));
        ck_assert_int_eq(r.status, 413);
        ck_assert_ptr_nonnull(strstr(r.body, "\"status\":413"));
        raw_clear(&r);
        /* Chunked bodies within the limit work, and the server goes on. */
        raw_do(c, "PUT", "/balances/SMALL", under, true, 10000, &r);
        ck_assert_msg(r.rc == CURLE_OK, "%s", curl_easy_strerror(r.rc));
        ck_assert_int_eq(r.status, 201);
        raw_clear(&r);
        raw_do(c, "GET", "/balances/BIG", NULL, false, 10000, &r);
        ck_assert_int_eq(r.status, 404);
        raw_clear(&r);
        curl_easy_cleanup(c);
        free(over);
        free(under);
}
END_TEST

START_TEST(a_body_that_is_not_json_is_415)
{
        static const char *const types[] = { "text/plain", "application/x-www-form-urlencoded",
                                             "application/jsonx", "application/json-patch+json",
                                             "text/json" };
        struct http_resp r;

        for (size_t i = 0; i < N(types); i++) {
                http_do(&h, "PUT", "/balances/BTC", BALANCE, types[i], NULL, &r);
                ck_assert_msg(r.status == 415, "%s: %ld", types[i], r.status);
                assert_problem(&r, 415);
                http_resp_clear(&r);
        }
        /* Parameters are fine. */
        http_do(&h, "PUT", "/balances/BTC", BALANCE, "application/json; charset=utf-8", NULL, &r);
        ck_assert_int_eq(r.status, 201);
        http_resp_clear(&r);
}
END_TEST

START_TEST(malformed_json_and_non_objects_are_400)
{
        static const char *const bodies[] = {
                "{",
                "{\"available\": }",
                "not json",
                "{\"a\": 1} x",
                "[]",
                "[1, 2]",
                "\"x\"",
                "42",
                "null",
                "true",
                /* the same member twice */
                "{\"available\": \"1\", \"available\": \"2\", \"locked\": \"1\"}",
        };

        for (size_t i = 0; i < N(bodies); i++) {
                struct http_resp r;

                http_json(&h, "PUT", "/balances/BTC", bodies[i], &r);
                ck_assert_msg(r.status == 400, "%s: %ld", bodies[i], r.status);
                assert_problem(&r, 400);
                http_resp_clear(&r);
        }
        ck_assert_int_eq(count_rows(h.db_path, "%"), 0);
}
END_TEST

/* ---- request ids ---- */

START_TEST(the_request_id_is_echoed_or_generated)
{
        const char *const sent[] = { "X-Request-Id: trace-42.a:b", NULL };
        const char *const bad[] = { "X-Request-Id: has space", NULL };
        struct http_resp r, r2;

        http_do(&h, "GET", "/health", NULL, NULL, sent, &r);
        ck_assert_str_eq(r.request_id, "trace-42.a:b");
        http_resp_clear(&r);
        http_do(&h, "GET", "/nope", NULL, NULL, sent, &r); /* errors too */
        ck_assert_str_eq(r.request_id, "trace-42.a:b");
        http_resp_clear(&r);
        http_do(&h, "GET", "/health", NULL, NULL, NULL, &r);
        http_do(&h, "PUT", "/balances/BTC", BALANCE, NULL, NULL, &r2);
        ck_assert_msg(is_uuidv7(r.request_id), "'%s'", r.request_id);
        ck_assert_msg(is_uuidv7(r2.request_id), "'%s'", r2.request_id);
        ck_assert_str_ne(r.request_id, r2.request_id);
        http_resp_clear(&r);
        http_resp_clear(&r2);
        /* An id that breaks the id rules is replaced, not echoed. */
        http_do(&h, "GET", "/health", NULL, NULL, bad, &r);
        ck_assert_msg(is_uuidv7(r.request_id), "'%s'", r.request_id);
        http_resp_clear(&r);
}
END_TEST

/* ---- keep-alive ---- */

START_TEST(keep_alive_reuses_one_connection_across_requests)
{
        static const struct {
                const char *method, *path, *body;
                long status;
        } seq[] = {
                { "GET", "/health", NULL, 200 },          { "GET", "/health", NULL, 200 },
                { "PUT", "/balances/BTC", BALANCE, 201 }, /* suspended while it commits */
                { "GET", "/balances/BTC", NULL, 200 },    { "GET", "/nope", NULL, 404 },
                { "PUT", "/balances/BTC", "{", 400 },     { "DELETE", "/balances/BTC", NULL, 204 },
                { "GET", "/health", NULL, 200 },
        };
        CURL *c = curl_easy_init();

        ck_assert_ptr_nonnull(c);
        for (size_t i = 0; i < N(seq); i++) {
                struct raw r;

                raw_do(c, seq[i].method, seq[i].path, seq[i].body, false, 10000, &r);
                ck_assert_msg(r.rc == CURLE_OK, "%zu: %s", i, curl_easy_strerror(r.rc));
                ck_assert_int_eq(r.status, seq[i].status);
                ck_assert_msg(strcasestr(r.connection, "close") == NULL, "%zu %s %s: Connection:%s",
                              i, seq[i].method, seq[i].path, r.connection);
                ck_assert_msg(r.connects == (i == 0 ? 1 : 0), "%zu %s %s: %ld new connections", i,
                              seq[i].method, seq[i].path, r.connects);
                raw_clear(&r);
        }
        curl_easy_cleanup(c);
}
END_TEST

/* ---- shutdown ---- */

struct stopper {
        struct service *svc;
        int grace_ms;
        volatile bool returned;
        int64_t returned_at;
};

static void *
stop_main(void *arg)
{
        struct stopper *s = arg;

        service_stop(s->svc, s->grace_ms);
        s->returned_at = ts_monotonic_ms();
        s->returned = true;
        return NULL;
}

struct client {
        const char *method, *path, *body;
        struct http_resp resp;
        volatile bool finished;
        int64_t finished_at;
};

static void *
client_main(void *arg)
{
        struct client *cl = arg;

        http_do(&h, cl->method, cl->path, cl->body, NULL, NULL, &cl->resp);
        cl->finished_at = ts_monotonic_ms();
        cl->finished = true;
        return NULL;
}

/* Waits up to ms for *flag. */
static bool
wait_for(volatile bool *flag, int ms)
{
        for (int waited = 0; !*flag && waited < ms; waited += 5)
                ts_sleep_ms(5);
        return *flag;
}

START_TEST(shutdown_waits_for_a_write_in_flight_and_commits_it)
{
        struct client cl = { .method = "PUT", .path = "/balances/INFLIGHT", .body = BALANCE };
        struct stopper st = { .svc = h.svc, .grace_ms = 50 };
        pthread_t ct, stt;
        int64_t unlocked_at;

        lock_database();
        ck_assert_int_eq(pthread_create(&ct, NULL, client_main, &cl), 0);
        ts_sleep_ms(300); /* the request is now suspended, its job waiting for the lock */
        ck_assert(!cl.finished);
        ck_assert_int_eq(pthread_create(&stt, NULL, stop_main, &st), 0);
        h.svc = NULL; /* stopped here, not by the teardown */
        /* Well past the grace period, both still wait for the write. */
        ts_sleep_ms(400);
        ck_assert(!cl.finished);
        ck_assert(!st.returned);
        unlocked_at = ts_monotonic_ms();
        unlock_database();
        ck_assert(wait_for(&cl.finished, 10000));
        ck_assert(wait_for(&st.returned, 10000));
        pthread_join(ct, NULL);
        pthread_join(stt, NULL);
        ck_assert_int_eq(cl.resp.status, 201);
        ck_assert_ptr_nonnull(cl.resp.json);
        ck_assert_str_eq(json_string_value(json_object_get(cl.resp.json, "asset")), "INFLIGHT");
        ck_assert_int_ge(cl.finished_at, unlocked_at);
        ck_assert_int_ge(st.returned_at, unlocked_at);
        http_resp_clear(&cl.resp);
        ck_assert_int_eq(count_rows(h.db_path, "INFLIGHT"), 1);
}
END_TEST

/* Many clients write and read over keep-alive connections while the
 * service stops. A request either gets no response at all (refused, or its
 * connection closed before a response began) or a complete JSON one (2xx,
 * 4xx, or a 503 asking to retry); and every acknowledged write is in the
 * database afterwards. Under load the grace period runs out with requests
 * still arriving on open connections, which is when a request that
 * suspends after the wait must not reach MHD_stop_daemon. */
#define LOAD_THREADS 8
#define LOAD_MAX 200000

struct loader {
        int id;
        int responses, no_response, bad;
        char bad_what[160];
        int *created; /* indexes whose PUT got 201 */
        int ncreated;
};

/* Sends requests until the server stops answering. */
static void *
loader_main(void *arg)
{
        struct loader *l = arg;
        CURL *c = curl_easy_init();

        l->created = calloc(LOAD_MAX, sizeof(*l->created));
        for (int i = 0; c != NULL && l->created != NULL && i < LOAD_MAX; i++) {
                char path[64];
                struct raw r;
                bool put = i % 2 == 0;
                json_t *j;

                snprintf(path, sizeof(path), put ? "/balances/L%d-%d" : "/health", l->id, i);
                raw_do(c, put ? "PUT" : "GET", path, put ? BALANCE : NULL, false, 10000, &r);
                if (r.rc != CURLE_OK && r.status == 0) {
                        l->no_response++;
                        raw_clear(&r);
                        break;
                }
                l->responses++;
                j = r.body ? json_loads(r.body, 0, NULL) : NULL;
                /* 503 is a complete answer too: "retry" from a stopping server. */
                if (r.rc != CURLE_OK || j == NULL || r.status < 200 ||
                    (r.status >= 500 && r.status != 503)) {
                        if (l->bad++ == 0)
                                snprintf(l->bad_what, sizeof(l->bad_what), "%s: %s, status %ld",
                                         path, curl_easy_strerror(r.rc), r.status);
                } else if (put && r.status == 201) {
                        l->created[l->ncreated++] = i;
                }
                json_decref(j);
                raw_clear(&r);
        }
        curl_easy_cleanup(c);
        return NULL;
}

START_TEST(shutdown_under_load_cuts_no_response_and_loses_no_acknowledged_write)
{
        struct loader l[LOAD_THREADS];
        pthread_t t[LOAD_THREADS];
        struct stopper st = { .svc = h.svc, .grace_ms = 500 };
        int responses = 0, created = 0, stopped = 0;

        for (int i = 0; i < LOAD_THREADS; i++) {
                memset(&l[i], 0, sizeof(l[i]));
                l[i].id = i;
                ck_assert_int_eq(pthread_create(&t[i], NULL, loader_main, &l[i]), 0);
        }
        ts_sleep_ms(300);
        h.svc = NULL;
        stop_main(&st);
        for (int i = 0; i < LOAD_THREADS; i++)
                pthread_join(t[i], NULL);
        for (int i = 0; i < LOAD_THREADS; i++) {
                ck_assert_msg(l[i].bad == 0, "thread %d: %d bad responses, first %s", i, l[i].bad,
                              l[i].bad_what);
                responses += l[i].responses;
                created += l[i].ncreated;
                stopped += l[i].no_response;
                for (int k = 0; k < l[i].ncreated; k++) {
                        char asset[32];

                        snprintf(asset, sizeof(asset), "L%d-%d", i, l[i].created[k]);
                        ck_assert_msg(count_rows(h.db_path, asset) == 1, "%s acknowledged but lost",
                                      asset);
                }
                free(l[i].created);
        }
        /* The load really overlapped the stop: every client was still
         * sending when the server went away. */
        ck_assert_int_eq(stopped, LOAD_THREADS);
        ck_assert_int_gt(created, 0);
        ck_assert_int_gt(responses, created);
        /* A write cut by the stop may be stored without its 201 (the
         * client retries: PUT is idempotent). */
        ck_assert_int_ge(count_rows(h.db_path, "L%"), created);
}
END_TEST

/* A client gives up while its write waits on the database. The write still
 * commits when it can, and the service still stops. */
START_TEST(a_client_that_gives_up_on_a_suspended_write_does_not_hang_shutdown)
{
        struct stopper st = { .svc = h.svc, .grace_ms = 200 };
        CURL *c = curl_easy_init();
        pthread_t stt;
        struct raw r;

        ck_assert_ptr_nonnull(c);
        lock_database();
        raw_do(c, "PUT", "/balances/GAVEUP", BALANCE, false, 300, &r);
        ck_assert_int_eq(r.rc, CURLE_OPERATION_TIMEDOUT);
        raw_clear(&r);
        curl_easy_cleanup(c); /* closes the socket */
        ts_sleep_ms(100);
        unlock_database();
        ts_sleep_ms(300); /* the job commits and resumes a connection whose client is gone */
        ck_assert_int_eq(count_rows(h.db_path, "GAVEUP"), 1);
        ck_assert_int_eq(pthread_create(&stt, NULL, stop_main, &st), 0);
        h.svc = NULL;
        ck_assert_msg(wait_for(&st.returned, 5000), "service_stop still waiting after 5 s");
        pthread_join(stt, NULL);
}
END_TEST

static Suite *
http_suite(void)
{
        Suite *s = suite_create("http");
        TCase *tc = tcase_create("http");
        TCase *stop = tcase_create("shutdown");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, health_reports_the_database_facts);
        tcase_add_test(tc, health_pool_size_is_the_pool_in_use);
        tcase_add_test(tc, health_is_503_unavailable_when_the_database_cannot_be_queried);
        tcase_add_test(tc, an_unknown_path_is_404_problem_json);
        tcase_add_test(tc, head_is_answered_like_get_without_a_body);
        tcase_add_test(tc, json_numbers_are_read_exactly_from_their_text);
        tcase_add_test(tc, unknown_names_that_are_not_valid_utf8_are_still_400_with_errors);
        tcase_add_test(tc, a_wrong_method_is_405_with_allow);
        tcase_add_test(tc, a_body_over_the_limit_is_413_by_content_length);
        tcase_add_test(tc, a_chunked_body_over_the_limit_is_413_and_the_server_goes_on);
        tcase_add_test(tc, a_body_that_is_not_json_is_415);
        tcase_add_test(tc, malformed_json_and_non_objects_are_400);
        tcase_add_test(tc, the_request_id_is_echoed_or_generated);
        tcase_add_test(tc, keep_alive_reuses_one_connection_across_requests);
        suite_add_tcase(s, tc);

        tcase_add_checked_fixture(stop, setup, teardown);
        tcase_set_timeout(stop, 60);
        tcase_add_test(stop, shutdown_waits_for_a_write_in_flight_and_commits_it);
        tcase_add_test(stop, shutdown_under_load_cuts_no_response_and_loses_no_acknowledged_write);
        tcase_add_test(stop, a_client_that_gives_up_on_a_suspended_write_does_not_hang_shutdown);
        suite_add_tcase(s, stop);
        return s;
}

int
main(void)
{
        /* Before any thread: the tests use libcurl from several at once. */
        curl_global_init(CURL_GLOBAL_DEFAULT);
        return harness_run_suite(http_suite());
}
