/* HTTP tests of the /outbox endpoints (../shared/API.md, Outbox): create
 * with idempotent event ids, reads and lists with their indexes, and the
 * consumer protocol: claim order, per-aggregate ordering, leases, failures
 * with back-off, dead events and the operator's retry; then four consumers
 * racing over 2,000 events.
 *
 * Each test gets a fresh database and server (checked fixture); tests that
 * need small timing settings set them before starting the server. */
#include "common/log.h"
#include "common/ts.h"
#include "repo/outbox.h"
#include "tests/harness.h"

#include <check.h>
#include <curl/curl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct harness h;

static void
setup(void)
{
        harness_init(&h);
}

static void
teardown(void)
{
        harness_stop(&h);
}

/* Starts the server after applying "key", "value", ... pairs (NULL ends). */
static void
start_with(const char *const *kv)
{
        char err[256];

        for (; kv != NULL && kv[0] != NULL; kv += 2)
                ck_assert_msg(config_set(&h.cfg, kv[0], kv[1], CONFIG_SRC_FLAG, err, sizeof(err)) ==
                                      0,
                              "%s", err);
        harness_start(&h);
}

static void
start(void)
{
        start_with(NULL);
}

/* ---- helpers ---- */

/* Parses an RFC 3339 UTC timestamp with microseconds as the server writes
 * it ("2026-11-26T15:00:00.123456Z") into microseconds. */
static int64_t
parse_ts(const char *s)
{
        struct tm tm = { 0 };
        long us = 0;

        ck_assert_ptr_nonnull(s);
        ck_assert_int_eq(strlen(s), 27);
        ck_assert_int_eq(sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%6ldZ", &tm.tm_year, &tm.tm_mon,
                                &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &us),
                         7);
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        return (int64_t)timegm(&tm) * 1000000 + us;
}

static const char *
str(const json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

static void
assert_json_type(const struct http_resp *r)
{
        ck_assert_str_eq(r->ctype, "application/json");
        ck_assert_ptr_nonnull(r->json);
}

/* Asserts a problem+json reply of status whose errors name exactly the
 * fields in want (NULL-terminated; NULL want: no errors member needed). */
static void
assert_problem(const struct http_resp *r, long status, const char *const *want)
{
        const json_t *errors;
        size_t n = 0;

        ck_assert_msg(r->status == status, "status %ld, want %ld: %s", r->status, status,
                      r->body ? r->body : "");
        ck_assert_str_eq(r->ctype, "application/problem+json");
        ck_assert_ptr_nonnull(r->json);
        ck_assert_int_eq(json_integer_value(json_object_get(r->json, "status")), status);
        ck_assert_ptr_nonnull(str(r->json, "detail"));
        if (want == NULL)
                return;
        errors = json_object_get(r->json, "errors");
        ck_assert_msg(json_is_array(errors), "no errors in %s", r->body);
        for (; want[n] != NULL; n++) {
                bool found = false;

                for (size_t i = 0; i < json_array_size(errors); i++)
                        if (strcmp(str(json_array_get(errors, i), "field"), want[n]) == 0)
                                found = true;
                ck_assert_msg(found, "%s not named in %s", want[n], r->body);
        }
        ck_assert_msg(json_array_size(errors) == n, "errors %s, want %zu", r->body, n);
}

/* Sends a request and returns the status; the reply stays in *ret. */
static long
req(const char *method, const char *path, const char *body, struct http_resp *ret)
{
        return http_json(&h, method, path, body, ret);
}

/* Creates an event with the given id (NULL: the server's), type and
 * aggregate, payload {"n": n}; returns its event_id (static buffer). */
static const char *
create(const char *id, const char *type, const char *agg, int n)
{
        static char out[8][65];
        static int next;
        char body[512];
        struct http_resp r;
        char *dst = out[next++ % 8];

        if (id != NULL)
                snprintf(body, sizeof(body),
                         "{\"event_id\": \"%s\", \"event_type\": \"%s\", \"aggregate_id\": "
                         "\"%s\", \"payload\": {\"n\": %d}}",
                         id, type, agg, n);
        else
                snprintf(body, sizeof(body),
                         "{\"event_type\": \"%s\", \"aggregate_id\": \"%s\", "
                         "\"payload\": {\"n\": %d}}",
                         type, agg, n);
        ck_assert_msg(req("POST", "/outbox", body, &r) == 201, "%s", r.body);
        snprintf(dst, 65, "%s", str(r.json, "event_id"));
        http_resp_clear(&r);
        return dst;
}

/* POST /outbox/claim; returns the items array (caller decrefs). */
static json_t *
claim(const char *consumer, int limit, int lease)
{
        char body[256];
        struct http_resp r;
        json_t *items;

        snprintf(body, sizeof(body), "{\"consumer\": \"%s\", \"limit\": %d, \"lease_seconds\": %d}",
                 consumer, limit, lease);
        ck_assert_msg(req("POST", "/outbox/claim", body, &r) == 200, "%s", r.body);
        assert_json_type(&r);
        ck_assert_int_eq(json_object_size(r.json), 1);
        items = json_incref(json_object_get(r.json, "items"));
        ck_assert(json_is_array(items));
        http_resp_clear(&r);
        return items;
}

/* The event_ids of items joined with ',' (static buffer). */
static const char *
ids_of(const json_t *items)
{
        static char buf[8192];
        size_t n = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < json_array_size(items); i++)
                n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? "," : "",
                                      str(json_array_get(items, i), "event_id"));
        return buf;
}

/* Claims and returns the claimed ids joined (static buffer). */
static const char *
claim_ids(const char *consumer, int limit, int lease)
{
        json_t *items = claim(consumer, limit, lease);
        const char *ids = ids_of(items);

        json_decref(items);
        return ids;
}

/* POST /outbox/{id}/<action> with body; returns the status, reply in *ret. */
static long
act(const char *id, const char *action, const char *body, struct http_resp *ret)
{
        char path[160];

        snprintf(path, sizeof(path), "/outbox/%s/%s", id, action);
        return req("POST", path, body, ret);
}

static void
act_ok(const char *id, const char *action, const char *body)
{
        struct http_resp r;

        ck_assert_msg(act(id, action, body, &r) == 200, "%s %s: %s", action, id, r.body);
        http_resp_clear(&r);
}

static void
fail_ok(const char *id, const char *message)
{
        char body[256];

        snprintf(body, sizeof(body), "{\"error_message\": \"%s\"}", message);
        act_ok(id, "failed", body);
}

/* GET /outbox/{id}; returns the event (caller decrefs). */
static json_t *
get(const char *id)
{
        char path[128];
        struct http_resp r;
        json_t *e;

        snprintf(path, sizeof(path), "/outbox/%s", id);
        ck_assert_msg(req("GET", path, NULL, &r) == 200, "%s", r.body);
        assert_json_type(&r);
        e = json_incref(r.json);
        http_resp_clear(&r);
        return e;
}

static sqlite3 *
db_open_rw(void)
{
        sqlite3 *db = NULL;

        ck_assert_int_eq(sqlite3_open_v2(h.db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        sqlite3_busy_timeout(db, 10000);
        return db;
}

/* Runs sql (one or more statements) on the test database directly. */
static void
db_exec(const char *sql)
{
        harness_sql_exec(&h, "%s", sql);
}

/* The integer result of sql on the test database (-1 for NULL). */
static int64_t
db_int(const char *sql)
{
        char buf[64];
        enum harness_sql_found f = harness_sql_text(&h, buf, sizeof(buf), "%s", sql);

        ck_assert_int_ne(f, HARNESS_SQL_NONE);
        return f == HARNESS_SQL_NULL ? -1 : strtoll(buf, NULL, 10);
}

static int64_t
db_count(const char *where)
{
        char sql[512];

        snprintf(sql, sizeof(sql), "SELECT count(*) FROM outbox WHERE %s", where);
        return db_int(sql);
}

/* next_attempt_at of id, -1 when NULL. */
static int64_t
next_attempt_of(const char *id)
{
        char sql[256];

        snprintf(sql, sizeof(sql), "SELECT next_attempt_at FROM outbox WHERE event_id = '%s'", id);
        return db_int(sql);
}

/* Inserts n events directly: aggregate "<agg_prefix>-<i % naggs>", event_id
 * "<id_prefix>-<i % naggs>-<i / naggs>", status status, in creation order. */
static void
db_insert(int n, int naggs, const char *status, const char *id_prefix, const char *agg_prefix)
{
        /* One statement (the rows numbered by a recursive CTE, portable):
         * 100000 rows one by one would take PostgreSQL a while. */
        harness_sql_exec(&h,
                         "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n"
                         " WHERE i + 1 < %d)"
                         " INSERT INTO outbox (event_id, event_type, aggregate_id, payload, status,"
                         " created_at, processed_at)"
                         " SELECT %Q || '-' || (i %% %d) || '-' || (i / %d), 't',"
                         " %Q || '-' || (i %% %d), '{}', %Q, %lld + i,"
                         " CASE WHEN %Q = 'processed' THEN %lld + i END FROM n ORDER BY i",
                         n, id_prefix, naggs, naggs, agg_prefix, naggs, status,
                         (long long)ts_now_us(), status, (long long)ts_now_us());
}

/* ---- POST /outbox ---- */

START_TEST(create_returns_201_with_a_pending_event_and_every_field)
{
        struct http_resp r;
        int64_t before, after, created;
        json_t *want = json_pack("{s:[i,s], s:{s:n}}", "b", 1, "x", "a", "c");

        start();
        before = ts_now_us();
        ck_assert_int_eq(req("POST", "/outbox",
                             "{\"event_type\": \"order_created\", \"aggregate_id\": \"o-1\","
                             " \"payload\": {\"b\": [1, \"x\"], \"a\": {\"c\": null}}}",
                             &r),
                         201);
        after = ts_now_us();
        assert_json_type(&r);
        ck_assert_int_eq(json_object_size(r.json), 11);
        ck_assert_int_eq(strlen(str(r.json, "event_id")), 36); /* a UUIDv7 */
        ck_assert_int_eq(str(r.json, "event_id")[14], '7');
        ck_assert_str_eq(str(r.json, "event_type"), "order_created");
        ck_assert_str_eq(str(r.json, "aggregate_id"), "o-1");
        ck_assert(json_is_object(json_object_get(r.json, "payload")));
        ck_assert(json_equal(json_object_get(r.json, "payload"), want));
        json_decref(want);
        ck_assert_str_eq(str(r.json, "status"), "pending");
        created = parse_ts(str(r.json, "created_at"));
        ck_assert(created >= before - 1000 && created <= after + 1000);
        ck_assert(json_is_null(json_object_get(r.json, "processed_at")));
        ck_assert_int_eq(json_integer_value(json_object_get(r.json, "retry_count")), 0);
        ck_assert(json_is_integer(json_object_get(r.json, "retry_count")));
        ck_assert(json_is_null(json_object_get(r.json, "error_message")));
        ck_assert(json_is_null(json_object_get(r.json, "claimed_by")));
        ck_assert(json_is_null(json_object_get(r.json, "lease_expires_at")));
        /* Stored as compact JSON text, in the order sent. */
        ck_assert_int_eq(db_count("payload = '{\"b\":[1,\"x\"],\"a\":{\"c\":null}}'"), 1);
        ck_assert_int_eq(db_count("true"), 1);
        http_resp_clear(&r);
}
END_TEST

START_TEST(create_with_the_same_event_id_and_content_returns_200_and_stores_once)
{
        struct http_resp r;

        start();
        ck_assert_int_eq(req("POST", "/outbox",
                             "{\"event_id\": \"ev-1\", \"event_type\": \"t\", \"aggregate_id\":"
                             " \"BTC/USDT\", \"payload\": {\"a\": 1, \"b\": {\"x\": \"1.5\","
                             " \"y\": [1, 2]}}}",
                             &r),
                         201);
        ck_assert_str_eq(str(r.json, "event_id"), "ev-1");
        http_resp_clear(&r);
        /* Same content, keys in another order and other whitespace. */
        ck_assert_int_eq(req("POST", "/outbox",
                             "{\"payload\":{\"b\":{\"y\":[1,2],\"x\":\"1.5\"},\"a\":1},"
                             "\"aggregate_id\":\"BTC/USDT\",\"event_type\":\"t\","
                             "\"event_id\":\"ev-1\"}",
                             &r),
                         200);
        assert_json_type(&r);
        ck_assert_str_eq(str(r.json, "event_id"), "ev-1");
        ck_assert_str_eq(str(r.json, "status"), "pending");
        http_resp_clear(&r);
        ck_assert_int_eq(db_count("true"), 1);
}
END_TEST

START_TEST(create_repeat_returns_the_event_as_it_is_now)
{
        struct http_resp r;
        json_t *items;

        start();
        create("ev-1", "t", "a", 1);
        items = claim("c1", 10, 30);
        ck_assert_int_eq(json_array_size(items), 1);
        json_decref(items);
        ck_assert_int_eq(req("POST", "/outbox",
                             "{\"event_id\": \"ev-1\", \"event_type\": \"t\", \"aggregate_id\":"
                             " \"a\", \"payload\": {\"n\": 1}}",
                             &r),
                         200);
        ck_assert_str_eq(str(r.json, "status"), "processing");
        ck_assert_str_eq(str(r.json, "claimed_by"), "c1");
        http_resp_clear(&r);
        ck_assert_int_eq(db_count("status = 'processing'"), 1);
}
END_TEST

START_TEST(create_with_the_same_event_id_and_other_content_is_409_and_changes_nothing)
{
        static const char *const bodies[] = {
                "{\"event_id\": \"ev-1\", \"event_type\": \"t\", \"aggregate_id\": \"a\","
                " \"payload\": {\"n\": 2}}",
                "{\"event_id\": \"ev-1\", \"event_type\": \"t\", \"aggregate_id\": \"a\","
                " \"payload\": {\"n\": 1, \"m\": 1}}",
                "{\"event_id\": \"ev-1\", \"event_type\": \"t\", \"aggregate_id\": \"a\","
                " \"payload\": {\"n\": \"1\"}}",
                "{\"event_id\": \"ev-1\", \"event_type\": \"u\", \"aggregate_id\": \"a\","
                " \"payload\": {\"n\": 1}}",
                "{\"event_id\": \"ev-1\", \"event_type\": \"t\", \"aggregate_id\": \"b\","
                " \"payload\": {\"n\": 1}}",
        };
        struct http_resp r;

        start();
        create("ev-1", "t", "a", 1);
        for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
                ck_assert_int_eq(req("POST", "/outbox", bodies[i], &r), 409);
                assert_problem(&r, 409, NULL);
                http_resp_clear(&r);
        }
        ck_assert_int_eq(db_count("true"), 1);
        ck_assert_int_eq(db_count("event_type = 't' AND aggregate_id = 'a' AND payload = "
                                  "'{\"n\":1}'"),
                         1);
}
END_TEST

/* The payload is the publisher's: its numbers, of any size or precision,
 * are stored and returned with their own text, never re-printed from a
 * double or refused for their size. */
START_TEST(payload_numbers_keep_their_own_text)
{
        static const char sent[] =
                "{\"px\":0.1,\"big\":123456789012345678901234567890,\"tiny\":1.5e-10,"
                "\"e\":-1E+400,\"list\":[0,-0.0,2.50,{\"q\":1e-400}]}";
        char body[512], path[128];
        struct http_resp r;

        start();
        snprintf(body, sizeof(body),
                 "{\"event_id\": \"ev-n\", \"event_type\": \"t\", \"aggregate_id\": \"a\","
                 " \"payload\": %s}",
                 sent);
        ck_assert_int_eq(req("POST", "/outbox", body, &r), 201);
        ck_assert_msg(strstr(r.body, sent) != NULL, "%s", r.body);
        http_resp_clear(&r);
        snprintf(path, sizeof(path), "/outbox/%s", "ev-n");
        ck_assert_int_eq(req("GET", path, NULL, &r), 200);
        ck_assert_msg(strstr(r.body, sent) != NULL, "%s", r.body);
        http_resp_clear(&r);
        ck_assert_int_eq(db_count("payload = '{\"px\":0.1,\"big\":123456789012345678901234567890,"
                                  "\"tiny\":1.5e-10,\"e\":-1E+400,\"list\":[0,-0.0,2.50,"
                                  "{\"q\":1e-400}]}'"),
                         1);
        /* The same numbers in another form are the same content: a replay. */
        snprintf(body, sizeof(body),
                 "{\"event_id\": \"ev-n\", \"event_type\": \"t\", \"aggregate_id\": \"a\","
                 " \"payload\": {\"list\":[0e5,0,25e-1,{\"q\":0.1e-399}],\"tiny\":0.00000000015,"
                 "\"big\":1.2345678901234567890123456789e29,\"px\":1e-1,\"e\":-10e399}}");
        ck_assert_int_eq(req("POST", "/outbox", body, &r), 200);
        http_resp_clear(&r);
        /* Another value, however close, is other content. */
        snprintf(body, sizeof(body),
                 "{\"event_id\": \"ev-n\", \"event_type\": \"t\", \"aggregate_id\": \"a\","
                 " \"payload\": {\"px\":0.1,\"big\":123456789012345678901234567891,"
                 "\"tiny\":1.5e-10,\"e\":-1E+400,\"list\":[0,-0.0,2.50,{\"q\":1e-400}]}}");
        ck_assert_int_eq(req("POST", "/outbox", body, &r), 409);
        http_resp_clear(&r);
        ck_assert_int_eq(db_count("true"), 1);
}
END_TEST

/* A payload nested deeper than SQLite's json_valid accepts (jansson parses
 * it) was a 503 "retry" that no retry could cure: it must be a 400. */
START_TEST(payload_nested_too_deep_is_400_and_stores_nothing)
{
        struct http_resp r;
        size_t depth = 2010, n = 0;
        char *body = malloc(2 * depth + 128);

        ck_assert_ptr_nonnull(body);
        start();
        n += (size_t)sprintf(body, "{\"event_type\": \"t\", \"aggregate_id\": \"a\","
                                   " \"payload\": {\"k\": ");
        memset(body + n, '[', depth);
        memset(body + n + depth, ']', depth);
        strcpy(body + n + 2 * depth, "}}");
        ck_assert_int_eq(req("POST", "/outbox", body, &r), 400);
        ck_assert_str_eq(json_string_value(json_object_get(
                                 json_array_get(json_object_get(r.json, "errors"), 0), "field")),
                         "payload");
        http_resp_clear(&r);
        ck_assert_int_eq(req("GET", "/outbox", NULL, &r), 200);
        ck_assert_uint_eq(json_array_size(json_object_get(r.json, "items")), 0);
        http_resp_clear(&r);
        free(body);
}
END_TEST

START_TEST(create_accepts_symbols_and_64_character_ids)
{
        char body[512], agg64[65];
        struct http_resp r;
        const char *id64 = "A123456789b123456789c123456789d123456789e123456789f123456789.:_-";

        start();
        snprintf(agg64, sizeof(agg64), "a/b.c:d_e-F/%052d", 9);
        ck_assert_int_eq(strlen(agg64), 64);
        ck_assert_int_eq(strlen(id64), 64);
        snprintf(body, sizeof(body),
                 "{\"event_id\": \"%s\", \"event_type\": \"%s\", \"aggregate_id\":"
                 " \"%s\", \"payload\": {}}",
                 id64, id64, agg64);
        ck_assert_msg(req("POST", "/outbox", body, &r) == 201, "%s", r.body);
        ck_assert_str_eq(str(r.json, "event_id"), id64);
        ck_assert_str_eq(str(r.json, "aggregate_id"), agg64);
        ck_assert_int_eq(json_object_size(json_object_get(r.json, "payload")), 0);
        http_resp_clear(&r);
}
END_TEST

struct bad_body {
        const char *body;
        const char *const fields[5]; /* NULL-terminated */
};

START_TEST(create_rejects_every_invalid_field_with_400_and_writes_nothing)
{
        static const struct bad_body cases[] = {
                { "{}", { "event_type", "aggregate_id", "payload" } },
                { "{\"event_type\": \"t\", \"aggregate_id\": \"a\"}", { "payload" } },
                { "{\"event_type\": \"t\", \"aggregate_id\": \"a\", \"payload\": null}",
                  { "payload" } },
                { "{\"event_type\": \"t\", \"aggregate_id\": \"a\", \"payload\": [1]}",
                  { "payload" } },
                { "{\"event_type\": \"t\", \"aggregate_id\": \"a\", \"payload\": \"{}\"}",
                  { "payload" } },
                { "{\"event_type\": \"t t\", \"aggregate_id\": \"a\", \"payload\": {}}",
                  { "event_type" } },
                { "{\"event_type\": \"a/b\", \"aggregate_id\": \"a\", \"payload\": {}}",
                  { "event_type" } },
                { "{\"event_type\": \"\", \"aggregate_id\": \"a\", \"payload\": {}}",
                  { "event_type" } },
                { "{\"event_type\": 1, \"aggregate_id\": \"a\", \"payload\": {}}",
                  { "event_type" } },
                { "{\"event_type\": \"t\", \"aggregate_id\": \"\", \"payload\": {}}",
                  { "aggregate_id" } },
                { "{\"event_type\": \"t\", \"aggregate_id\": \"a b\", \"payload\": {}}",
                  { "aggregate_id" } },
                { "{\"event_type\": \"t\", \"aggregate_id\": \"a#\", \"payload\": {}}",
                  { "aggregate_id" } },
                { "{\"event_type\": \"t\", \"aggregate_id\": 5, \"payload\": {}}",
                  { "aggregate_id" } },
                { "{\"event_type\": \"t\", \"aggregate_id\": \"a\", \"payload\": {},"
                  " \"event_id\": \"x/y\"}",
                  { "event_id" } },
                { "{\"event_type\": \"t\", \"aggregate_id\": \"a\", \"payload\": {},"
                  " \"event_id\": \"\"}",
                  { "event_id" } },
                { "{\"event_type\": \"t\", \"aggregate_id\": \"a\", \"payload\": {},"
                  " \"colour\": 1}",
                  { "colour" } },
                { "{\"event_type\": \"t\", \"aggregate_id\": \"a\", \"payload\": {},"
                  " \"status\": \"pending\"}",
                  { "status" } },
                { "{\"event_type\": \"t\", \"aggregate_id\": \"a\", \"payload\": {},"
                  " \"created_at\": \"2026-01-01T00:00:00Z\"}",
                  { "created_at" } },
                { "{\"event_type\": \"t\", \"aggregate_id\": \"a\", \"payload\": {},"
                  " \"processed_at\": null}",
                  { "processed_at" } },
                { "{\"event_type\": \"t\", \"aggregate_id\": \"a\", \"payload\": {},"
                  " \"retry_count\": 0}",
                  { "retry_count" } },
                { "{\"event_type\": \"t\", \"aggregate_id\": \"a\", \"payload\": {},"
                  " \"error_message\": \"x\"}",
                  { "error_message" } },
                { "{\"event_type\": \"t\", \"aggregate_id\": \"a\", \"payload\": {},"
                  " \"claimed_by\": \"c\"}",
                  { "claimed_by" } },
                { "{\"event_type\": \"t\", \"aggregate_id\": \"a\", \"payload\": {},"
                  " \"lease_expires_at\": 1}",
                  { "lease_expires_at" } },
                /* Every problem at once. */
                { "{\"event_type\": \"\", \"aggregate_id\": \"a b\", \"payload\": 1,"
                  " \"status\": \"dead\"}",
                  { "event_type", "aggregate_id", "payload", "status" } },
        };
        char long_body[512];
        struct http_resp r;

        start();
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                req("POST", "/outbox", cases[i].body, &r);
                assert_problem(&r, 400, cases[i].fields);
                http_resp_clear(&r);
        }
        /* 65 characters are one too many for each of the three. */
        snprintf(long_body, sizeof(long_body),
                 "{\"event_id\": \"%065d\", \"event_type\": \"%065d\", \"aggregate_id\":"
                 " \"%065d\", \"payload\": {}}",
                 1, 2, 3);
        req("POST", "/outbox", long_body, &r);
        assert_problem(&r, 400,
                       (const char *const[]){ "event_id", "event_type", "aggregate_id", NULL });
        http_resp_clear(&r);
        /* Without a body at all. */
        req("POST", "/outbox", NULL, &r);
        assert_problem(&r, 400,
                       (const char *const[]){ "event_type", "aggregate_id", "payload", NULL });
        http_resp_clear(&r);
        ck_assert_int_eq(db_count("true"), 0);
}
END_TEST

/* ---- GET /outbox/{event_id} ---- */

START_TEST(get_returns_the_event_and_404_when_unknown)
{
        struct http_resp r;
        json_t *e;

        start();
        create("ev-1", "t", "a", 7);
        e = get("ev-1");
        ck_assert_str_eq(str(e, "event_id"), "ev-1");
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(e, "payload"), "n")),
                         7);
        ck_assert_int_eq(json_object_size(e), 11);
        json_decref(e);
        req("GET", "/outbox/ev-2", NULL, &r);
        assert_problem(&r, 404, NULL);
        http_resp_clear(&r);
        /* An id that breaks the id rules names no resource. */
        req("GET", "/outbox/ev%20bad", NULL, &r);
        assert_problem(&r, 404, NULL);
        http_resp_clear(&r);
        req("GET", "/outbox/ev-1?x=1", NULL, &r);
        assert_problem(&r, 400, (const char *const[]){ "x", NULL });
        http_resp_clear(&r);
}
END_TEST

/* ---- GET /outbox ---- */

/* GET path, asserting 200; returns the ids joined, next_cursor in *next
 * (static buffer, "" for null). */
static const char *
list_ids(const char *path, const char **next)
{
        static char cursor[200];
        struct http_resp r;
        const char *ids;
        const json_t *nc;

        ck_assert_msg(req("GET", path, NULL, &r) == 200, "%s: %s", path, r.body);
        assert_json_type(&r);
        ck_assert_int_eq(json_object_size(r.json), 2);
        nc = json_object_get(r.json, "next_cursor");
        ck_assert(json_is_null(nc) || json_is_string(nc));
        snprintf(cursor, sizeof(cursor), "%s", json_is_string(nc) ? json_string_value(nc) : "");
        ids = ids_of(json_object_get(r.json, "items"));
        if (next != NULL)
                *next = cursor;
        http_resp_clear(&r);
        return ids;
}

START_TEST(list_is_oldest_first_for_every_filter_combination)
{
        static const struct {
                const char *query;
                const char *want;
        } cases[] = {
                { "", "e1,e2,e3,e4,e5,e6" },
                { "?status=pending", "e2,e3,e5,e6" },
                { "?status=processed", "e1" },
                { "?status=processing", "e4" },
                { "?status=dead", "" },
                { "?event_type=x", "e1,e3,e5" },
                { "?aggregate_id=BTC/USDT", "e1,e2,e5" },
                { "?aggregate_id=BTC%2FUSDT", "e1,e2,e5" },
                { "?status=pending&event_type=x", "e3,e5" },
                { "?status=pending&aggregate_id=BTC/USDT", "e2,e5" },
                { "?event_type=x&aggregate_id=BTC/USDT", "e1,e5" },
                { "?status=pending&event_type=x&aggregate_id=BTC/USDT", "e5" },
                { "?status=&event_type=&aggregate_id=", "e1,e2,e3,e4,e5,e6" },
        };
        start();
        create("e1", "x", "BTC/USDT", 1);
        create("e2", "y", "BTC/USDT", 2);
        create("e3", "x", "o-1", 3);
        create("e4", "y", "o-2", 4);
        create("e5", "x", "BTC/USDT", 5);
        create("e6", "y", "o-3", 6);
        /* e1 processed, e4 processing, the rest pending. */
        act_ok("e1", "processed", NULL);
        db_exec("UPDATE outbox SET status = 'processing' WHERE event_id = 'e4'");
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char path[160];

                snprintf(path, sizeof(path), "/outbox%s", cases[i].query);
                ck_assert_msg(strcmp(list_ids(path, NULL), cases[i].want) == 0, "%s: %s", path,
                              list_ids(path, NULL));
        }
}
END_TEST

START_TEST(list_pages_visit_every_event_once_and_end_with_a_null_cursor)
{
        const char *next;
        char path[300];
        char seen[1024] = "";

        start();
        for (int i = 0; i < 7; i++) {
                char id[16];

                snprintf(id, sizeof(id), "e%d", i);
                create(id, i % 2 ? "odd" : "even", "a", i);
        }
        snprintf(path, sizeof(path), "/outbox?limit=3");
        for (int page = 0;; page++) {
                const char *ids = list_ids(path, &next);

                ck_assert_int_lt(page, 4);
                strcat(seen, ids);
                strcat(seen, ";");
                if (*next == '\0')
                        break;
                snprintf(path, sizeof(path), "/outbox?limit=3&cursor=%s", next);
        }
        ck_assert_str_eq(seen, "e0,e1,e2;e3,e4,e5;e6;");
        /* A full last page may carry a cursor to an empty page. */
        ck_assert_str_eq(list_ids("/outbox?event_type=odd&limit=3", &next), "e1,e3,e5");
        ck_assert_str_ne(next, "");
        snprintf(path, sizeof(path), "/outbox?event_type=odd&limit=3&cursor=%s", next);
        ck_assert_str_eq(list_ids(path, &next), "");
        ck_assert_str_eq(next, "");
        /* New events after the cursor appear on later pages. */
        ck_assert_str_eq(list_ids("/outbox?limit=2", &next), "e0,e1");
        create("e7", "odd", "a", 7);
        snprintf(path, sizeof(path), "/outbox?limit=10&cursor=%s", next);
        ck_assert_str_eq(list_ids(path, NULL), "e2,e3,e4,e5,e6,e7");
        ck_assert_str_eq(list_ids("/outbox?limit=1000", NULL), "e0,e1,e2,e3,e4,e5,e6,e7");
}
END_TEST

START_TEST(list_rejects_bad_query_parameters_with_400)
{
        static const struct {
                const char *query;
                const char *field;
        } cases[] = {
                { "?status=done", "status" },
                { "?status=PENDING", "status" },
                { "?event_type=a%20b", "event_type" },
                { "?aggregate_id=a%23b", "aggregate_id" },
                { "?limit=0", "limit" },
                { "?limit=1001", "limit" },
                { "?limit=x", "limit" },
                { "?cursor=%21%21", "cursor" },
                { "?cursor=abc", "cursor" },
                { "?order=desc", "order" },
        };
        struct http_resp r;

        start();
        create("e1", "t", "a", 1);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char path[128];

                snprintf(path, sizeof(path), "/outbox%s", cases[i].query);
                req("GET", path, NULL, &r);
                assert_problem(&r, 400, (const char *const[]){ cases[i].field, NULL });
                http_resp_clear(&r);
        }
        req("GET", "/outbox?status=x&limit=0&bogus=1", NULL, &r);
        assert_problem(&r, 400, (const char *const[]){ "status", "limit", "bogus", NULL });
        http_resp_clear(&r);
}
END_TEST

/* The query plan of sql on the test database, one detail per line. */
static void
query_plan(const char *sql, char *out, size_t cap)
{
        char q[4096];
        sqlite3 *db = NULL;
        sqlite3_stmt *st;
        size_t n = 0;

        ck_assert_int_eq(sqlite3_open_v2(h.db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sql);
        ck_assert_msg(sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                      sqlite3_errmsg(db));
        out[0] = '\0';
        while (sqlite3_step(st) == SQLITE_ROW)
                n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s\n",
                                      (const char *)sqlite3_column_text(st, 3));
        sqlite3_finalize(st);
        sqlite3_close(db);
}

/* True when a line of plan reads a table named outbox, o or b without an
 * index (a full scan). */
static bool
plan_has_full_scan(const char *plan)
{
        static const char *const tables[] = { "SCAN outbox", "SCAN o", "SCAN b" };

        for (const char *line = plan; *line != '\0';) {
                const char *end = strchr(line, '\n');
                size_t len = end ? (size_t)(end - line) : strlen(line);

                for (size_t i = 0; i < 3; i++) {
                        const char *p = strstr(line, tables[i]);
                        size_t tl = strlen(tables[i]);

                        if (p != NULL && p < line + len &&
                            (p[tl] == '\n' || p[tl] == ' ' || p[tl] == '\0') &&
                            strncmp(p + tl, " USING", 6) != 0)
                                return true;
                }
                line += len + (end ? 1 : 0);
        }
        return false;
}

START_TEST(list_queries_use_an_index_in_seq_order)
{
        static const char *const want_index[] = {
                "INTEGER PRIMARY KEY",  "idx_outbox_status", "idx_outbox_event_type", "idx_outbox_",
                "idx_outbox_aggregate", "idx_outbox_",       "idx_outbox_",           "idx_outbox_",
        };
        char plan[4096];
        size_t n;
        const char *const *sql = repo_outbox_list_sql(&n);

        start();
        ck_assert_int_eq(n, 8);
        if (h.postgres) {
                harness_assert_indexed(&h, sql, n); /* no Seq Scan, no Sort */
                return;
        }
        for (size_t i = 0; i < n; i++) {
                query_plan(sql[i], plan, sizeof(plan));
                ck_assert_msg(!plan_has_full_scan(plan), "%s:\n%s", sql[i], plan);
                ck_assert_msg(strstr(plan, "SEARCH outbox USING") != NULL, "%s:\n%s", sql[i], plan);
                ck_assert_msg(strstr(plan, want_index[i]) != NULL, "%s:\n%s", sql[i], plan);
                ck_assert_msg(strstr(plan, "TEMP B-TREE") == NULL, "%s:\n%s", sql[i], plan);
        }
}
END_TEST

START_TEST(claim_query_walks_status_and_aggregate_indexes)
{
        char plan[8192];

        start();
        if (h.postgres) {
                const char *claim = repo_outbox_claim_sql();

                /* It sorts the arms' candidates, at most 3 x limit rows. */
                harness_assert_searched(&h, &claim, 1);
                return;
        }
        query_plan(repo_outbox_claim_sql(), plan, sizeof(plan));
        ck_assert_msg(!plan_has_full_scan(plan), "%s", plan);
        ck_assert_msg(strstr(plan, "SEARCH o USING INDEX idx_outbox_status (status=?)") != NULL,
                      "%s", plan);
        ck_assert_msg(strstr(plan, "SEARCH b USING INDEX idx_outbox_aggregate (aggregate_id=? "
                                   "AND seq>? AND seq<?)") != NULL,
                      "%s", plan);
        ck_assert_msg(strstr(plan, "SEARCH outbox USING INTEGER PRIMARY KEY (rowid=?)") != NULL,
                      "%s", plan);
}
END_TEST

/* Runs the claim statement on the test database inside a transaction that
 * is rolled back; returns the VM steps it took and the rows it claimed. */
static int64_t
claim_vm_steps(int limit, int *ret_rows)
{
        sqlite3 *db = db_open_rw();
        sqlite3_stmt *st;
        int64_t steps;
        int rows = 0;

        ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
        ck_assert_int_eq(sqlite3_prepare_v2(db, repo_outbox_claim_sql(), -1, &st, NULL), SQLITE_OK);
        sqlite3_bind_text(st, 1, "probe", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, ts_now_us());
        sqlite3_bind_int(st, 3, limit);
        sqlite3_bind_int64(st, 4, 30000000);
        while (sqlite3_step(st) == SQLITE_ROW)
                rows++;
        steps = sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 0);
        sqlite3_finalize(st);
        ck_assert_int_eq(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        *ret_rows = rows;
        return steps;
}

START_TEST(claim_cost_does_not_grow_with_processed_history)
{
        int rows;
        int64_t small, big;
        json_t *items;

        HARNESS_SQLITE_ONLY(&h, "counts SQLite VM steps (the plan test covers PostgreSQL)");
        start();
        /* 100 pending events over 10 aggregates: 10 are claimable heads. */
        db_insert(2000, 10, "processed", "old", "agg");
        db_insert(100, 10, "pending", "new", "agg");
        small = claim_vm_steps(100, &rows);
        ck_assert_int_eq(rows, 10);
        db_insert(100000, 10, "processed", "older", "agg");
        /* Put the history before the pending events in seq order. */
        db_exec("UPDATE outbox SET seq = seq + 1000000 WHERE event_id LIKE 'new-%'");
        big = claim_vm_steps(100, &rows);
        ck_assert_int_eq(rows, 10);
        ck_assert_msg(big < small * 2,
                      "claim took %lld VM steps with 100k processed events, "
                      "%lld without",
                      (long long)big, (long long)small);
        items = claim("c", 100, 30);
        ck_assert_int_eq(json_array_size(items), 10);
        ck_assert_str_eq(str(json_array_get(items, 0), "event_id"), "new-0-0");
        ck_assert_str_eq(str(json_array_get(items, 9), "event_id"), "new-9-0");
        json_decref(items);
}
END_TEST

/* ---- POST /outbox/claim ---- */

START_TEST(claim_hands_out_oldest_first_with_a_lease_until_none_is_left)
{
        int64_t before, after, lease;
        json_t *items, *e;

        start();
        for (int i = 0; i < 5; i++) {
                char id[16], agg[16];

                snprintf(id, sizeof(id), "e%d", i);
                snprintf(agg, sizeof(agg), "a%d", 4 - i);
                create(id, "t", agg, i);
        }
        before = ts_now_us();
        items = claim("worker-1", 3, 20);
        after = ts_now_us();
        ck_assert_str_eq(ids_of(items), "e0,e1,e2");
        for (size_t i = 0; i < 3; i++) {
                e = json_array_get(items, i);
                ck_assert_str_eq(str(e, "status"), "processing");
                ck_assert_str_eq(str(e, "claimed_by"), "worker-1");
                lease = parse_ts(str(e, "lease_expires_at"));
                ck_assert(lease >= before + 20000000 - 1000 && lease <= after + 20000000 + 1000);
                ck_assert(json_is_object(json_object_get(e, "payload")));
                ck_assert_int_eq(json_object_size(e), 11);
        }
        json_decref(items);
        e = get("e1");
        ck_assert_str_eq(str(e, "status"), "processing");
        ck_assert_str_eq(str(e, "claimed_by"), "worker-1");
        json_decref(e);
        ck_assert_str_eq(claim_ids("worker-2", 100, 30), "e3,e4");
        ck_assert_str_eq(claim_ids("worker-2", 100, 30), "");
        ck_assert_int_eq(db_count("status = 'processing'"), 5);
        ck_assert_int_eq(db_count("true"), 5); /* the claim adds no events */
}
END_TEST

START_TEST(claim_defaults_to_100_events_and_a_30_second_lease)
{
        struct http_resp r;
        int64_t before, lease;
        json_t *items;

        start();
        db_insert(150, 150, "pending", "e", "agg");
        before = ts_now_us();
        ck_assert_int_eq(req("POST", "/outbox/claim", "{\"consumer\": \"c\"}", &r), 200);
        items = json_object_get(r.json, "items");
        ck_assert_int_eq(json_array_size(items), 100);
        lease = parse_ts(str(json_array_get(items, 0), "lease_expires_at"));
        ck_assert(lease >= before + 30000000 - 1000 && lease <= ts_now_us() + 30000000 + 1000);
        http_resp_clear(&r);
        /* null is the same as absent. */
        ck_assert_int_eq(req("POST", "/outbox/claim",
                             "{\"consumer\": \"c\", \"limit\": null, \"lease_seconds\": null}", &r),
                         200);
        ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 50);
        http_resp_clear(&r);
        /* The edges of the ranges are allowed. */
        db_insert(2, 2, "pending", "f", "other");
        ck_assert_str_eq(claim_ids("c", 1, 3600), "f-0-0");
        ck_assert_str_eq(claim_ids("c", 1000, 1), "f-1-0");
}
END_TEST

START_TEST(claim_rejects_every_invalid_field_in_one_400_and_claims_nothing)
{
        static const struct bad_body cases[] = {
                { "{}", { "consumer" } },
                { "{\"consumer\": null}", { "consumer" } },
                { "{\"consumer\": \"\"}", { "consumer" } },
                { "{\"consumer\": \"a b\"}", { "consumer" } },
                { "{\"consumer\": 7}", { "consumer" } },
                { "{\"consumer\": \"c\", \"limit\": 0}", { "limit" } },
                { "{\"consumer\": \"c\", \"limit\": 1001}", { "limit" } },
                { "{\"consumer\": \"c\", \"limit\": -1}", { "limit" } },
                { "{\"consumer\": \"c\", \"limit\": \"5\"}", { "limit" } },
                { "{\"consumer\": \"c\", \"limit\": 5.0}", { "limit" } },
                { "{\"consumer\": \"c\", \"limit\": 5.5}", { "limit" } },
                { "{\"consumer\": \"c\", \"limit\": true}", { "limit" } },
                { "{\"consumer\": \"c\", \"limit\": 4294967297}", { "limit" } },
                { "{\"consumer\": \"c\", \"lease_seconds\": 0}", { "lease_seconds" } },
                { "{\"consumer\": \"c\", \"lease_seconds\": 3601}", { "lease_seconds" } },
                { "{\"consumer\": \"c\", \"lease_seconds\": \"30\"}", { "lease_seconds" } },
                { "{\"consumer\": \"c\", \"lease_seconds\": 1.5}", { "lease_seconds" } },
                { "{\"consumer\": \"c\", \"batch\": 1}", { "batch" } },
                { "{\"consumer\": \"c\", \"status\": \"pending\"}", { "status" } },
                { "{\"limit\": 0, \"lease_seconds\": 0, \"x\": 1}",
                  { "consumer", "limit", "lease_seconds", "x" } },
        };
        char body[128];
        struct http_resp r;

        start();
        create("e1", "t", "a", 1);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                req("POST", "/outbox/claim", cases[i].body, &r);
                assert_problem(&r, 400, cases[i].fields);
                http_resp_clear(&r);
        }
        snprintf(body, sizeof(body), "{\"consumer\": \"%065d\"}", 1);
        req("POST", "/outbox/claim", body, &r);
        assert_problem(&r, 400, (const char *const[]){ "consumer", NULL });
        http_resp_clear(&r);
        req("POST", "/outbox/claim", NULL, &r);
        assert_problem(&r, 400, (const char *const[]){ "consumer", NULL });
        http_resp_clear(&r);
        ck_assert_int_eq(db_count("status = 'pending' AND claimed_by IS NULL"), 1);
}
END_TEST

START_TEST(claim_hands_out_an_aggregate_in_creation_order_one_at_a_time)
{
        start();
        create("a1", "t", "A", 1);
        create("b1", "t", "B", 1);
        create("a2", "t", "A", 2);
        create("a3", "t", "A", 3);
        create("b2", "t", "B", 2);
        create("c1", "t", "C", 1);
        /* At most one event per aggregate per claim, and never a younger one
         * while an older one is unfinished. */
        ck_assert_str_eq(claim_ids("w", 100, 30), "a1,b1,c1");
        ck_assert_str_eq(claim_ids("w", 100, 30), "");
        act_ok("a1", "processed", NULL);
        ck_assert_str_eq(claim_ids("w", 100, 30), "a2");
        act_ok("b1", "processed", NULL);
        act_ok("c1", "processed", NULL);
        ck_assert_str_eq(claim_ids("w", 100, 30), "b2");
        /* A pending event may be marked processed without a claim: a3 then
         * no longer waits for it, but a2 (processing) still blocks a3. */
        ck_assert_str_eq(claim_ids("w", 100, 30), "");
        act_ok("a2", "processed", NULL);
        ck_assert_str_eq(claim_ids("w", 100, 30), "a3");
}
END_TEST

START_TEST(claim_skips_a_dead_event_but_waits_for_a_failed_one)
{
        static const char *const kv[] = { "outbox.max_retries",
                                          "2",
                                          "outbox.retry_base_seconds",
                                          "60",
                                          "outbox.retry_max_seconds",
                                          "60",
                                          NULL };

        start_with(kv);
        create("a1", "t", "A", 1);
        create("a2", "t", "A", 2);
        ck_assert_str_eq(claim_ids("w", 10, 30), "a1");
        fail_ok("a1", "boom");
        /* a1 is failed and not yet due: a2 must wait behind it. */
        ck_assert_str_eq(claim_ids("w", 10, 30), "");
        fail_ok("a1", "boom again"); /* the second failure: dead */
        ck_assert_int_eq(db_count("event_id = 'a1' AND status = 'dead'"), 1);
        ck_assert_str_eq(claim_ids("w", 10, 30), "a2");
        /* Retried, a1 is pending again; only older events block, so it
         * goes out although the younger a2 is still processing. */
        act_ok("a1", "retry", NULL);
        ck_assert_str_eq(claim_ids("w", 10, 30), "a1");
}
END_TEST

START_TEST(an_expired_lease_hands_the_event_to_another_consumer)
{
        struct http_resp r;
        json_t *items;

        start();
        create("a1", "t", "A", 1);
        create("a2", "t", "A", 2);
        ck_assert_str_eq(claim_ids("c1", 10, 1), "a1");
        /* Held: nobody else gets it, nor the younger a2. */
        ck_assert_str_eq(claim_ids("c2", 10, 30), "");
        ts_sleep_ms(1100);
        items = claim("c2", 10, 30);
        ck_assert_str_eq(ids_of(items), "a1"); /* still not a2: a1 is unfinished */
        ck_assert_str_eq(str(json_array_get(items, 0), "claimed_by"), "c2");
        ck_assert_str_eq(str(json_array_get(items, 0), "status"), "processing");
        json_decref(items);
        ck_assert_str_eq(claim_ids("c1", 10, 30), "");
        ck_assert_int_eq(act("a1", "processed", NULL, &r), 200);
        ck_assert_str_eq(str(r.json, "claimed_by"), "c2");
        http_resp_clear(&r);
        ck_assert_str_eq(claim_ids("c1", 10, 30), "a2");
}
END_TEST

/* ---- POST /outbox/{event_id}/processed ---- */

START_TEST(processed_sets_processed_at_and_clears_the_lease)
{
        struct http_resp r;
        int64_t before, at;

        start();
        create("e1", "t", "a", 1);
        ck_assert_str_eq(claim_ids("w", 10, 30), "e1");
        before = ts_now_us();
        ck_assert_int_eq(act("e1", "processed", NULL, &r), 200);
        assert_json_type(&r);
        ck_assert_str_eq(str(r.json, "status"), "processed");
        at = parse_ts(str(r.json, "processed_at"));
        ck_assert(at >= before - 1000 && at <= ts_now_us() + 1000);
        ck_assert(json_is_null(json_object_get(r.json, "lease_expires_at")));
        ck_assert_str_eq(str(r.json, "claimed_by"), "w");
        ck_assert_int_eq(json_object_size(r.json), 11);
        http_resp_clear(&r);
        ck_assert_int_eq(db_count("event_id = 'e1' AND status = 'processed' AND"
                                  " lease_expires_at IS NULL AND processed_at IS NOT NULL"),
                         1);
        /* An empty object is fine as a body too. */
        create("e2", "t", "b", 2);
        act_ok("e2", "processed", "{}");
        ck_assert_int_eq(db_count("true"), 2); /* no further events */
}
END_TEST

START_TEST(processed_accepts_pending_processing_and_failed_events)
{
        start();
        create("p", "t", "a", 1);
        create("q", "t", "b", 1);
        create("f", "t", "c", 1);
        ck_assert_str_eq(claim_ids("w", 10, 30), "p,q,f");
        fail_ok("f", "x");
        create("n", "t", "d", 1);
        act_ok("n", "processed", NULL); /* pending */
        act_ok("q", "processed", NULL); /* processing */
        act_ok("f", "processed", NULL); /* failed */
        ck_assert_int_eq(db_count("status = 'processed'"), 3);
}
END_TEST

START_TEST(processed_is_409_when_processed_or_dead_and_404_when_unknown)
{
        static const char *const kv[] = { "outbox.max_retries", "1", NULL };
        struct http_resp r;
        json_t *e;

        start_with(kv);
        create("done", "t", "a", 1);
        create("gone", "t", "b", 1);
        act_ok("done", "processed", NULL);
        fail_ok("gone", "x"); /* max_retries 1: dead at once */
        e = get("gone");
        ck_assert_str_eq(str(e, "status"), "dead");
        json_decref(e);
        act("done", "processed", NULL, &r);
        assert_problem(&r, 409, NULL);
        ck_assert_ptr_nonnull(strstr(str(r.json, "detail"), "processed"));
        http_resp_clear(&r);
        act("gone", "processed", NULL, &r);
        assert_problem(&r, 409, NULL);
        ck_assert_ptr_nonnull(strstr(str(r.json, "detail"), "dead"));
        http_resp_clear(&r);
        ck_assert_int_eq(db_count("event_id = 'gone' AND status = 'dead' AND"
                                  " processed_at IS NULL"),
                         1);
        act("nope", "processed", NULL, &r);
        assert_problem(&r, 404, NULL);
        http_resp_clear(&r);
        act("bad%20id", "processed", NULL, &r);
        assert_problem(&r, 404, NULL);
        http_resp_clear(&r);
        act("done", "processed", "{\"status\": \"processed\"}", &r);
        assert_problem(&r, 400, (const char *const[]){ "status", NULL });
        http_resp_clear(&r);
}
END_TEST

/* ---- POST /outbox/{event_id}/failed ---- */

START_TEST(retry_delay_doubles_from_the_base_up_to_the_cap_without_overflow)
{
        static const struct {
                int64_t count, base, cap, want;
        } cases[] = {
                { 1, 1, 3600, 1 },
                { 2, 1, 3600, 2 },
                { 3, 1, 3600, 4 },
                { 10, 1, 3600, 512 },
                { 12, 1, 3600, 2048 },
                { 13, 1, 3600, 3600 },
                { 64, 1, 3600, 3600 },
                { 1000, 1, 3600, 3600 },
                { INT64_MAX, 86400, 604800, 604800 },
                { 2, 86400, 604800, 172800 },
                { 4, 86400, 604800, 604800 },
                { 0, 5, 10, 5 },
                { -3, 5, 10, 5 },
                { 1, 7, 7, 7 },
                { 5, 7, 7, 7 },
                { 2, 3, 5, 5 },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                ck_assert_msg(repo_outbox_retry_delay_s(cases[i].count, cases[i].base,
                                                        cases[i].cap) == cases[i].want,
                              "case %zu", i);
}
END_TEST

START_TEST(failed_backs_off_and_the_event_is_claimable_only_when_due)
{
        static const char *const kv[] = { "outbox.max_retries",
                                          "3",
                                          "outbox.retry_base_seconds",
                                          "1",
                                          "outbox.retry_max_seconds",
                                          "2",
                                          NULL };
        struct http_resp r;
        int64_t before, after, next;

        start_with(kv);
        create("e1", "t", "a", 1);
        ck_assert_str_eq(claim_ids("w", 10, 30), "e1");
        before = ts_now_us();
        ck_assert_int_eq(act("e1", "failed", "{\"error_message\": \"timeout\"}", &r), 200);
        after = ts_now_us();
        assert_json_type(&r);
        ck_assert_str_eq(str(r.json, "status"), "failed");
        ck_assert_int_eq(json_integer_value(json_object_get(r.json, "retry_count")), 1);
        ck_assert_str_eq(str(r.json, "error_message"), "timeout");
        ck_assert(json_is_null(json_object_get(r.json, "lease_expires_at")));
        ck_assert(json_is_null(json_object_get(r.json, "processed_at")));
        http_resp_clear(&r);
        /* First failure: base * 2^0 = 1 s. */
        next = next_attempt_of("e1");
        ck_assert(next >= before + 1000000 && next <= after + 1000000);
        ck_assert_str_eq(claim_ids("w", 10, 30), "");
        ts_sleep_ms(next - ts_now_us() > 0 ? (long)((next - ts_now_us()) / 1000) + 50 : 0);
        ck_assert_str_eq(claim_ids("w2", 10, 30), "e1");
        /* Second failure: min(1 * 2^1, 2) = 2 s. */
        before = ts_now_us();
        fail_ok("e1", "timeout 2");
        after = ts_now_us();
        next = next_attempt_of("e1");
        ck_assert(next >= before + 2000000 && next <= after + 2000000);
        ts_sleep_ms(1000);
        ck_assert_str_eq(claim_ids("w", 10, 30), ""); /* not yet due */
        ts_sleep_ms(next - ts_now_us() > 0 ? (long)((next - ts_now_us()) / 1000) + 50 : 0);
        ck_assert_str_eq(claim_ids("w", 10, 30), "e1");
        /* Third failure reaches max_retries: dead, never claimed again. */
        ck_assert_int_eq(act("e1", "failed", "{\"error_message\": \"gave up\"}", &r), 200);
        ck_assert_str_eq(str(r.json, "status"), "dead");
        ck_assert_int_eq(json_integer_value(json_object_get(r.json, "retry_count")), 3);
        ck_assert_str_eq(str(r.json, "error_message"), "gave up");
        http_resp_clear(&r);
        ck_assert_int_eq(next_attempt_of("e1"), -1);
        ck_assert_str_eq(claim_ids("w", 10, 30), "");
        ck_assert_int_eq(db_count("true"), 1); /* no further events */
}
END_TEST

START_TEST(failed_delay_is_capped_at_retry_max_seconds)
{
        static const char *const kv[] = { "outbox.max_retries",
                                          "1000",
                                          "outbox.retry_base_seconds",
                                          "3",
                                          "outbox.retry_max_seconds",
                                          "100",
                                          NULL };
        int64_t before, after, next;

        start_with(kv);
        create("e1", "t", "a", 1);
        /* Failures from pending are allowed; count them up to 70 (2^69 would
         * overflow without the cap). */
        for (int i = 1; i <= 70; i++) {
                before = ts_now_us();
                fail_ok("e1", "x");
                after = ts_now_us();
                next = next_attempt_of("e1");
                {
                        int64_t want = i == 1   ? 3
                                       : i == 2 ? 6
                                       : i == 3 ? 12
                                       : i == 4 ? 24
                                       : i == 5 ? 48
                                       : i == 6 ? 96
                                                : 100;

                        ck_assert_msg(next >= before + want * 1000000 &&
                                              next <= after + want * 1000000,
                                      "failure %d", i);
                }
        }
        ck_assert_int_eq(db_count("event_id = 'e1' AND status = 'failed' AND"
                                  " retry_count = 70"),
                         1);
}
END_TEST

START_TEST(failed_validates_error_message_and_is_409_when_final_404_when_unknown)
{
        static const char *const kv[] = { "outbox.max_retries", "1", NULL };
        static const struct bad_body cases[] = {
                { "{}", { "error_message" } },
                { "{\"error_message\": null}", { "error_message" } },
                { "{\"error_message\": 5}", { "error_message" } },
                { "{\"error_message\": \"x\", \"retry_count\": 1}", { "retry_count" } },
                { "{\"error_message\": \"x\", \"reason\": 1}", { "reason" } },
        };
        char body[4200];
        struct http_resp r;
        size_t n;

        start_with(kv);
        create("e1", "t", "a", 1);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                act("e1", "failed", cases[i].body, &r);
                assert_problem(&r, 400, cases[i].fields);
                http_resp_clear(&r);
        }
        act("e1", "failed", NULL, &r);
        assert_problem(&r, 400, (const char *const[]){ "error_message", NULL });
        http_resp_clear(&r);
        /* 1001 characters are too many; 1000 (two bytes each) are fine. */
        n = (size_t)snprintf(body, sizeof(body), "{\"error_message\": \"");
        for (int i = 0; i < 1001; i++)
                n += (size_t)snprintf(body + n, sizeof(body) - n, "x");
        snprintf(body + n, sizeof(body) - n, "\"}");
        act("e1", "failed", body, &r);
        assert_problem(&r, 400, (const char *const[]){ "error_message", NULL });
        http_resp_clear(&r);
        ck_assert_int_eq(db_count("status = 'pending' AND retry_count = 0"), 1);
        n = (size_t)snprintf(body, sizeof(body), "{\"error_message\": \"");
        for (int i = 0; i < 1000; i++)
                n += (size_t)snprintf(body + n, sizeof(body) - n, "\xc3\xa9");
        snprintf(body + n, sizeof(body) - n, "\"}");
        ck_assert_int_eq(act("e1", "failed", body, &r), 200);
        ck_assert_str_eq(str(r.json, "status"), "dead");
        ck_assert_int_eq(strlen(str(r.json, "error_message")), 2000);
        http_resp_clear(&r);
        /* Dead, then processed: both are final. */
        act("e1", "failed", "{\"error_message\": \"x\"}", &r);
        assert_problem(&r, 409, NULL);
        http_resp_clear(&r);
        create("e2", "t", "b", 1);
        act_ok("e2", "processed", NULL);
        act("e2", "failed", "{\"error_message\": \"x\"}", &r);
        assert_problem(&r, 409, NULL);
        http_resp_clear(&r);
        ck_assert_int_eq(db_count("event_id = 'e2' AND status = 'processed' AND"
                                  " retry_count = 0 AND error_message IS NULL"),
                         1);
        act("nope", "failed", "{\"error_message\": \"x\"}", &r);
        assert_problem(&r, 404, NULL);
        http_resp_clear(&r);
}
END_TEST

/* ---- POST /outbox/{event_id}/retry ---- */

START_TEST(retry_sends_a_dead_event_back_to_pending_with_retry_count_0)
{
        static const char *const kv[] = { "outbox.max_retries", "2", NULL };
        struct http_resp r;

        start_with(kv);
        create("e1", "t", "a", 1);
        ck_assert_str_eq(claim_ids("w", 10, 30), "e1");
        fail_ok("e1", "first");
        ck_assert_int_eq(db_count("event_id = 'e1' AND next_attempt_at IS NOT NULL"), 1);
        db_exec("UPDATE outbox SET next_attempt_at = 0"); /* due now */
        ck_assert_str_eq(claim_ids("w", 10, 30), "e1");
        fail_ok("e1", "second");
        ck_assert_int_eq(db_count("event_id = 'e1' AND status = 'dead'"), 1);
        ck_assert_int_eq(act("e1", "retry", NULL, &r), 200);
        assert_json_type(&r);
        ck_assert_str_eq(str(r.json, "status"), "pending");
        ck_assert_int_eq(json_integer_value(json_object_get(r.json, "retry_count")), 0);
        ck_assert_str_eq(str(r.json, "error_message"), "second");
        ck_assert(json_is_null(json_object_get(r.json, "claimed_by")));
        ck_assert(json_is_null(json_object_get(r.json, "lease_expires_at")));
        ck_assert(json_is_null(json_object_get(r.json, "processed_at")));
        http_resp_clear(&r);
        ck_assert_int_eq(next_attempt_of("e1"), -1);
        /* Claimable at once, and it takes max_retries failures again. */
        ck_assert_str_eq(claim_ids("w", 10, 30), "e1");
        fail_ok("e1", "third");
        ck_assert_int_eq(db_count("event_id = 'e1' AND status = 'failed' AND retry_count = 1"), 1);
        ck_assert_int_eq(db_count("true"), 1); /* no further events */
}
END_TEST

START_TEST(retry_is_409_unless_dead_and_404_when_unknown)
{
        struct http_resp r;
        const char *ids[] = { "pend", "proc", "fail", "done" };

        start();
        create("proc", "t", "a", 1);
        create("fail", "t", "b", 1);
        ck_assert_str_eq(claim_ids("w", 10, 30), "proc,fail");
        fail_ok("fail", "x");
        create("pend", "t", "c", 1);
        create("done", "t", "d", 1);
        act_ok("done", "processed", NULL);
        for (size_t i = 0; i < 4; i++) {
                act(ids[i], "retry", NULL, &r);
                assert_problem(&r, 409, NULL);
                ck_assert_ptr_nonnull(strstr(str(r.json, "detail"), "dead"));
                http_resp_clear(&r);
        }
        ck_assert_int_eq(db_count("event_id = 'fail' AND status = 'failed' AND retry_count = 1"),
                         1);
        act("nope", "retry", NULL, &r);
        assert_problem(&r, 404, NULL);
        http_resp_clear(&r);
        act("pend", "retry", "{\"retry_count\": 0}", &r);
        assert_problem(&r, 400, (const char *const[]){ "retry_count", NULL });
        http_resp_clear(&r);
}
END_TEST

/* ---- concurrency ---- */

#define RACE_EVENTS 2000
#define RACE_AGGS 50
#define RACE_PER_AGG (RACE_EVENTS / RACE_AGGS)

struct race {
        pthread_mutex_t mu;
        int acks[RACE_AGGS][RACE_PER_AGG]; /* 200 replies to processed, per event */
        int claimed[RACE_AGGS];            /* events of each aggregate claimed so far */
        int order_errors;                  /* a claim out of creation order */
        int errors;                        /* anything else unexpected */
        int processed;                     /* total 200 replies to processed */
        int consumers;                     /* consumers started, for their names */
        char first_error[256];
};

struct buf {
        char *p;
        size_t n;
};

static size_t
on_data(char *data, size_t size, size_t n, void *cls)
{
        struct buf *b = cls;
        char *np = realloc(b->p, b->n + size * n + 1);

        if (np == NULL)
                return 0;
        memcpy(np + b->n, data, size * n);
        b->p = np;
        b->n += size * n;
        b->p[b->n] = '\0';
        return size * n;
}

/* POSTs body (or nothing) to path on curl handle c; returns the status (0
 * on a transport error) and the parsed reply in *ret (caller decrefs). */
static long
race_post(CURL *c, const char *path, const char *body, json_t **ret)
{
        char url[256];
        struct buf b = { 0 };
        struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
        long status = 0;

        snprintf(url, sizeof(url), "%s%s", h.base_url, path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "{}");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
        if (curl_easy_perform(c) == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        *ret = b.p ? json_loads(b.p, 0, NULL) : NULL;
        free(b.p);
        curl_slist_free_all(hl);
        return status;
}

static void
race_error(struct race *rc, const char *what, const char *id)
{
        pthread_mutex_lock(&rc->mu);
        if (rc->errors++ == 0)
                snprintf(rc->first_error, sizeof(rc->first_error), "%s %s", what, id);
        pthread_mutex_unlock(&rc->mu);
}

/* Records the claim of ev-<agg>-<n> in arrival order. */
static void
race_claimed(struct race *rc, const char *id)
{
        int agg, n;

        if (sscanf(id, "ev-%d-%d", &agg, &n) != 2 || agg < 0 || agg >= RACE_AGGS) {
                race_error(rc, "unexpected event", id);
                return;
        }
        pthread_mutex_lock(&rc->mu);
        if (rc->claimed[agg] != n)
                rc->order_errors++;
        rc->claimed[agg]++;
        pthread_mutex_unlock(&rc->mu);
}

static void
race_ack(struct race *rc, CURL *c, const char *id)
{
        char path[128];
        json_t *reply;
        int agg, n;
        long st;

        snprintf(path, sizeof(path), "/outbox/%s/processed", id);
        st = race_post(c, path, NULL, &reply);
        json_decref(reply);
        if (st != 200 || sscanf(id, "ev-%d-%d", &agg, &n) != 2) {
                race_error(rc, "processed failed for", id);
                return;
        }
        pthread_mutex_lock(&rc->mu);
        rc->acks[agg][n]++;
        rc->processed++;
        pthread_mutex_unlock(&rc->mu);
}

static void *
race_consumer(void *arg)
{
        struct race *rc = arg;
        CURL *c = curl_easy_init();
        char body[128];
        int64_t deadline = ts_now_us() + 60000000;

        int me;

        pthread_mutex_lock(&rc->mu);
        me = rc->consumers++;
        pthread_mutex_unlock(&rc->mu);
        snprintf(body, sizeof(body),
                 "{\"consumer\": \"w-%d\", \"limit\": 50, \"lease_seconds\": 30}", me);
        while (c != NULL && ts_now_us() < deadline) {
                json_t *reply, *items;
                size_t n;
                int done;

                if (race_post(c, "/outbox/claim", body, &reply) != 200) {
                        race_error(rc, "claim failed", "");
                        json_decref(reply);
                        break;
                }
                items = json_object_get(reply, "items");
                n = json_array_size(items);
                for (size_t i = 0; i < n; i++)
                        race_claimed(rc, str(json_array_get(items, i), "event_id"));
                for (size_t i = 0; i < n; i++)
                        race_ack(rc, c, str(json_array_get(items, i), "event_id"));
                json_decref(reply);
                pthread_mutex_lock(&rc->mu);
                done = rc->processed >= RACE_EVENTS || rc->errors > 0;
                pthread_mutex_unlock(&rc->mu);
                if (done)
                        break;
                if (n == 0)
                        ts_sleep_ms(1); /* others hold the heads of every aggregate */
        }
        curl_easy_cleanup(c);
        return NULL;
}

START_TEST(four_consumers_process_every_event_exactly_once_in_aggregate_order)
{
        static struct race rc;
        pthread_t t[4];

        start();
        memset(&rc, 0, sizeof(rc));
        pthread_mutex_init(&rc.mu, NULL);
        db_insert(RACE_EVENTS, RACE_AGGS, "pending", "ev", "agg");
        for (int i = 0; i < 4; i++)
                ck_assert_int_eq(pthread_create(&t[i], NULL, race_consumer, &rc), 0);
        for (int i = 0; i < 4; i++)
                pthread_join(t[i], NULL);
        ck_assert_msg(rc.errors == 0, "%d errors, first: %s", rc.errors, rc.first_error);
        ck_assert_int_eq(rc.order_errors, 0);
        for (int a = 0; a < RACE_AGGS; a++) {
                ck_assert_int_eq(rc.claimed[a], RACE_PER_AGG);
                for (int n = 0; n < RACE_PER_AGG; n++)
                        ck_assert_msg(rc.acks[a][n] == 1, "ev-%d-%d acknowledged %d times", a, n,
                                      rc.acks[a][n]);
        }
        ck_assert_int_eq(rc.processed, RACE_EVENTS);
        ck_assert_int_eq(db_count("status = 'processed'"), RACE_EVENTS);
        ck_assert_int_eq(db_count("true"), RACE_EVENTS);
        pthread_mutex_destroy(&rc.mu);
}
END_TEST

struct same_create {
        pthread_mutex_t mu;
        int created, repeated, other;
};

static void *
same_create_thread(void *arg)
{
        struct same_create *sc = arg;
        CURL *c = curl_easy_init();
        json_t *reply = NULL;
        long st = c ? race_post(c, "/outbox",
                                "{\"event_id\": \"dup\", \"event_type\": \"t\","
                                " \"aggregate_id\": \"a\", \"payload\": {\"n\": 1}}",
                                &reply)
                    : 0;

        pthread_mutex_lock(&sc->mu);
        if (st == 201)
                sc->created++;
        else if (st == 200)
                sc->repeated++;
        else
                sc->other++;
        pthread_mutex_unlock(&sc->mu);
        json_decref(reply);
        curl_easy_cleanup(c);
        return NULL;
}

START_TEST(concurrent_creates_of_one_event_id_store_it_once)
{
        static struct same_create sc;
        pthread_t t[8];

        start();
        memset(&sc, 0, sizeof(sc));
        pthread_mutex_init(&sc.mu, NULL);
        for (int i = 0; i < 8; i++)
                ck_assert_int_eq(pthread_create(&t[i], NULL, same_create_thread, &sc), 0);
        for (int i = 0; i < 8; i++)
                pthread_join(t[i], NULL);
        ck_assert_int_eq(sc.created, 1);
        ck_assert_int_eq(sc.repeated, 7);
        ck_assert_int_eq(sc.other, 0);
        ck_assert_int_eq(db_count("true"), 1);
        pthread_mutex_destroy(&sc.mu);
}
END_TEST

static Suite *
outbox_suite(void)
{
        Suite *s = suite_create("outbox");
        TCase *api = tcase_create("api");
        TCase *consumers = tcase_create("consumers");
        TCase *timing = tcase_create("timing");
        TCase *race = tcase_create("race");

        tcase_add_checked_fixture(api, setup, teardown);
        tcase_add_test(api, create_returns_201_with_a_pending_event_and_every_field);
        tcase_add_test(api, create_with_the_same_event_id_and_content_returns_200_and_stores_once);
        tcase_add_test(api, create_repeat_returns_the_event_as_it_is_now);
        tcase_add_test(api,
                       create_with_the_same_event_id_and_other_content_is_409_and_changes_nothing);
        tcase_add_test(api, payload_numbers_keep_their_own_text);
        tcase_add_test(api, create_accepts_symbols_and_64_character_ids);
        tcase_add_test(api, create_rejects_every_invalid_field_with_400_and_writes_nothing);
        tcase_add_test(api, get_returns_the_event_and_404_when_unknown);
        tcase_add_test(api, list_is_oldest_first_for_every_filter_combination);
        tcase_add_test(api, list_pages_visit_every_event_once_and_end_with_a_null_cursor);
        tcase_add_test(api, list_rejects_bad_query_parameters_with_400);
        tcase_add_test(api, list_queries_use_an_index_in_seq_order);
        tcase_add_test(api, claim_query_walks_status_and_aggregate_indexes);
        tcase_add_test(api, claim_cost_does_not_grow_with_processed_history);
        tcase_add_test(api, payload_nested_too_deep_is_400_and_stores_nothing);
        suite_add_tcase(s, api);

        tcase_add_checked_fixture(consumers, setup, teardown);
        tcase_add_test(consumers, claim_hands_out_oldest_first_with_a_lease_until_none_is_left);
        tcase_add_test(consumers, claim_defaults_to_100_events_and_a_30_second_lease);
        tcase_add_test(consumers, claim_rejects_every_invalid_field_in_one_400_and_claims_nothing);
        tcase_add_test(consumers, claim_hands_out_an_aggregate_in_creation_order_one_at_a_time);
        tcase_add_test(consumers, claim_skips_a_dead_event_but_waits_for_a_failed_one);
        tcase_add_test(consumers, processed_sets_processed_at_and_clears_the_lease);
        tcase_add_test(consumers, processed_accepts_pending_processing_and_failed_events);
        tcase_add_test(consumers, processed_is_409_when_processed_or_dead_and_404_when_unknown);
        tcase_add_test(consumers, retry_delay_doubles_from_the_base_up_to_the_cap_without_overflow);
        tcase_add_test(consumers, failed_delay_is_capped_at_retry_max_seconds);
        tcase_add_test(consumers,
                       failed_validates_error_message_and_is_409_when_final_404_when_unknown);
        tcase_add_test(consumers, retry_sends_a_dead_event_back_to_pending_with_retry_count_0);
        tcase_add_test(consumers, retry_is_409_unless_dead_and_404_when_unknown);
        suite_add_tcase(s, consumers);

        tcase_add_checked_fixture(timing, setup, teardown);
        tcase_add_test(timing, an_expired_lease_hands_the_event_to_another_consumer);
        tcase_add_test(timing, failed_backs_off_and_the_event_is_claimable_only_when_due);
        suite_add_tcase(s, timing);

        tcase_add_checked_fixture(race, setup, teardown);
        tcase_set_timeout(race, 120);
        tcase_add_test(race, four_consumers_process_every_event_exactly_once_in_aggregate_order);
        tcase_add_test(race, concurrent_creates_of_one_event_id_store_it_once);
        suite_add_tcase(s, race);
        return s;
}

int
main(void)
{
        curl_global_init(CURL_GLOBAL_DEFAULT);
        log_set_level(LOG_ERROR); /* the harness leaves the level at info */
        return harness_run_suite(outbox_suite());
}
