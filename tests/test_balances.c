/* HTTP tests of the /balances endpoints (API.md "Balances" and the
 * Conventions they rely on): every sentence of the section, each error
 * status, totals, decimal edges, the snapshot's all-or-nothing replace, and
 * that a rejected request leaves the stored state byte-for-byte as it was.
 *
 * Each test runs the real server in-process over a fresh database
 * (tests/harness.h); the database file is also read directly, read-only,
 * to check stored units, the outbox and query plans. */
#include "tests/harness.h"

#include "common/cursor.h"
#include "common/log.h"
#include "repo/balances.h"

#include <check.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_DEC "92233720368.54775807"

static struct harness h;

static void
setup(void)
{
        log_set_level(LOG_WARN);
        harness_init(&h);
        harness_start(&h);
}

static void
teardown(void)
{
        harness_stop(&h);
}

/* ---- helpers ---- */

static long
req(const char *method, const char *path, const char *body, struct http_resp *ret)
{
        return http_json(&h, method, path, body, ret);
}

/* PUTs one balance and asserts the status. */
static void
put_ok(const char *asset, const char *available, const char *locked, long status)
{
        struct http_resp r;
        char path[128], body[256];

        snprintf(path, sizeof(path), "/balances/%s", asset);
        snprintf(body, sizeof(body), "{\"available\": \"%s\", \"locked\": \"%s\"}", available,
                 locked);
        ck_assert_int_eq(req("PUT", path, body, &r), status);
        http_resp_clear(&r);
}

static const char *
str(const json_t *o, const char *key)
{
        const char *s = json_string_value(json_object_get(o, key));

        ck_assert_msg(s != NULL, "member %s is not a string", key);
        return s;
}

/* Asserts an RFC 9457 problem with this status. */
static void
assert_problem(const struct http_resp *r, long status)
{
        ck_assert_int_eq(r->status, status);
        ck_assert_str_eq(r->ctype, "application/problem+json");
        ck_assert_ptr_nonnull(r->json);
        ck_assert_int_eq(json_integer_value(json_object_get(r->json, "status")), status);
        ck_assert_ptr_nonnull(json_string_value(json_object_get(r->json, "title")));
        ck_assert_ptr_nonnull(json_string_value(json_object_get(r->json, "detail")));
}

static bool
has_error(const struct http_resp *r, const char *field)
{
        const json_t *errors = json_object_get(r->json, "errors");
        size_t i;
        json_t *e;

        json_array_foreach(errors, i, e)
        {
                const char *f = json_string_value(json_object_get(e, "field"));

                if (f != NULL && strcmp(f, field) == 0 &&
                    json_string_value(json_object_get(e, "message")) != NULL)
                        return true;
        }
        return false;
}

static size_t
error_count(const struct http_resp *r)
{
        return json_array_size(json_object_get(r->json, "errors"));
}

/* Asserts a 400 problem whose errors name field. */
static void
assert_invalid(const struct http_resp *r, const char *field)
{
        assert_problem(r, 400);
        ck_assert_msg(has_error(r, field), "errors do not name %s: %s", field, r->body);
}

/* The whole stored state as the API shows it (caller frees). */
static char *
state(void)
{
        struct http_resp r;
        char *s;

        ck_assert_int_eq(req("GET", "/balances?limit=1000", NULL, &r), 200);
        s = strdup(r.body);
        http_resp_clear(&r);
        return s;
}

static void
assert_state(const char *before)
{
        char *now = state();

        ck_assert_str_eq(now, before);
        free(now);
}

/* Runs a one-number query on the server's database. */
static long long
db_int(const char *sql)
{
        char buf[64];

        ck_assert_int_eq(harness_sql_text(&h, buf, sizeof(buf), "%s", sql), HARNESS_SQL_VALUE);
        return strtoll(buf, NULL, 10);
}

/* "YYYY-MM-DDTHH:MM:SS.ffffffZ" */
static bool
is_ts(const char *s)
{
        static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";

        if (strlen(s) != strlen(shape))
                return false;
        for (size_t i = 0; shape[i] != '\0'; i++)
                if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
                        return false;
        return true;
}

static void
assert_balance(const json_t *b, const char *asset, const char *available, const char *locked,
               const char *total)
{
        ck_assert_int_eq(json_object_size(b), 5);
        ck_assert_str_eq(str(b, "asset"), asset);
        ck_assert_str_eq(str(b, "available"), available);
        ck_assert_str_eq(str(b, "locked"), locked);
        ck_assert_str_eq(str(b, "total"), total);
        ck_assert_msg(is_ts(str(b, "updated_at")), "updated_at %s", str(b, "updated_at"));
}

/* ---- PUT /balances/{asset} ---- */

START_TEST(put_new_asset_is_201_with_total_and_updated_at)
{
        struct http_resp r, g;

        ck_assert_int_eq(
                req("PUT", "/balances/BTC", "{\"available\": \"1.5\", \"locked\": \"0.25\"}", &r),
                201);
        ck_assert_str_eq(r.ctype, "application/json");
        assert_balance(r.json, "BTC", "1.5", "0.25", "1.75");
        ck_assert_int_eq(req("GET", "/balances/BTC", NULL, &g), 200);
        ck_assert_str_eq(g.ctype, "application/json");
        ck_assert(json_equal(g.json, r.json));
        /* Stored as exact units of 1e-8, total = available + locked. */
        ck_assert_int_eq(db_int("SELECT total FROM account_balances WHERE asset = 'BTC'"),
                         175000000);
        http_resp_clear(&r);
        http_resp_clear(&g);
}
END_TEST

START_TEST(put_existing_asset_is_200_and_replaces_both_values)
{
        struct http_resp a, b, g;

        ck_assert_int_eq(
                req("PUT", "/balances/ETH", "{\"available\": \"10\", \"locked\": \"5\"}", &a), 201);
        usleep(2000);
        ck_assert_int_eq(req("PUT", "/balances/ETH", "{\"available\": 2, \"locked\": \"0\"}", &b),
                         200);
        assert_balance(b.json, "ETH", "2", "0", "2");
        ck_assert_msg(strcmp(str(b.json, "updated_at"), str(a.json, "updated_at")) > 0,
                      "updated_at did not move");
        ck_assert_int_eq(req("GET", "/balances/ETH", NULL, &g), 200);
        ck_assert(json_equal(g.json, b.json));
        ck_assert_int_eq(db_int("SELECT count(*) FROM account_balances"), 1);
        http_resp_clear(&a);
        http_resp_clear(&b);
        http_resp_clear(&g);
}
END_TEST

START_TEST(put_requires_available_and_locked)
{
        static const struct {
                const char *body;
                const char *missing[2];
        } cases[] = {
                { "{}", { "available", "locked" } },
                { NULL, { "available", "locked" } },
                { "{\"available\": \"1\"}", { "locked", NULL } },
                { "{\"locked\": \"1\"}", { "available", NULL } },
                { "{\"available\": null, \"locked\": \"1\"}", { "available", NULL } },
        };

        for (size_t i = 0; i < N(cases); i++) {
                struct http_resp r;
                size_t n = cases[i].missing[1] ? 2 : 1;

                if (cases[i].body == NULL)
                        http_do(&h, "PUT", "/balances/BTC", NULL, NULL, NULL, &r);
                else
                        req("PUT", "/balances/BTC", cases[i].body, &r);
                for (size_t j = 0; j < n; j++)
                        assert_invalid(&r, cases[i].missing[j]);
                ck_assert_int_eq(error_count(&r), n);
                http_resp_clear(&r);
        }
        ck_assert_int_eq(db_int("SELECT count(*) FROM account_balances"), 0);
}
END_TEST

START_TEST(put_negative_values_are_400_naming_each_field)
{
        struct http_resp r;

        req("PUT", "/balances/BTC", "{\"available\": \"-1\", \"locked\": \"-0.00000001\"}", &r);
        assert_invalid(&r, "available");
        assert_invalid(&r, "locked");
        ck_assert_int_eq(error_count(&r), 2);
        http_resp_clear(&r);
        req("PUT", "/balances/BTC", "{\"available\": -5, \"locked\": \"1\"}", &r);
        assert_invalid(&r, "available");
        ck_assert_int_eq(error_count(&r), 1);
        http_resp_clear(&r);
        ck_assert_int_eq(db_int("SELECT count(*) FROM account_balances"), 0);
        /* Zero is allowed for both. */
        ck_assert_int_eq(req("PUT", "/balances/BTC", "{\"available\": \"0\", \"locked\": 0}", &r),
                         201);
        assert_balance(r.json, "BTC", "0", "0", "0");
        http_resp_clear(&r);
}
END_TEST

START_TEST(put_read_only_and_unknown_fields_are_400_and_change_nothing)
{
        static const struct {
                const char *body;
                const char *field;
        } cases[] = {
                { "{\"available\": \"1\", \"locked\": \"1\", \"total\": \"2\"}", "total" },
                { "{\"available\": \"1\", \"locked\": \"1\", \"total\": null}", "total" },
                { "{\"available\": \"1\", \"locked\": \"1\", "
                  "\"updated_at\": \"2026-01-01T00:00:00Z\"}",
                  "updated_at" },
                { "{\"available\": \"1\", \"locked\": \"1\", \"availble\": \"1\"}", "availble" },
                { "{\"available\": \"1\", \"locked\": \"1\", \"asset\": \"ETH\"}", "asset" },
                { "{\"available\": \"1\", \"locked\": \"1\", \"asset\": 7}", "asset" },
        };
        char *before;

        put_ok("BTC", "3", "4", 201);
        before = state();
        for (size_t i = 0; i < N(cases); i++) {
                struct http_resp r;

                req("PUT", "/balances/BTC", cases[i].body, &r);
                assert_invalid(&r, cases[i].field);
                ck_assert_int_eq(error_count(&r), 1);
                http_resp_clear(&r);
                assert_state(before);
        }
        free(before);
}
END_TEST

START_TEST(put_may_repeat_the_url_asset_in_the_body)
{
        struct http_resp r;

        ck_assert_int_eq(req("PUT", "/balances/BTC",
                             "{\"asset\": \"BTC\", \"available\": \"1\", \"locked\": \"2\"}", &r),
                         201);
        assert_balance(r.json, "BTC", "1", "2", "3");
        http_resp_clear(&r);
}
END_TEST

/* Accepted decimal forms and their canonical output, through both the
 * single PUT and a snapshot entry. */
START_TEST(decimals_are_exact_and_canonical_in_both_puts)
{
        static const struct {
                const char *json; /* the JSON value sent as available */
                const char *out;
        } cases[] = {
                { "\"0\"", "0" },
                { "\"-0\"", "0" },
                { "\"0.00000001\"", "0.00000001" },
                { "\"1.100000000\"", "1.1" },
                { "\"0.44\"", "0.44" },
                { "\"100\"", "100" },
                { "\"100.00\"", "100" },
                { "1.5", "1.5" },
                { "0.1", "0.1" },
                { "100", "100" },
                { "1e2", "100" },
                { "0.00000001", "0.00000001" },
                { "\"12345678901.12345678\"", "12345678901.12345678" },
                { "123.456", "123.456" },
                { "\"" MAX_DEC "\"", MAX_DEC },
                { "92233720368", "92233720368" },
        };

        for (size_t i = 0; i < N(cases); i++) {
                struct http_resp r;
                char body[256];

                snprintf(body, sizeof(body), "{\"available\": %s, \"locked\": \"0\"}",
                         cases[i].json);
                ck_assert_int_le(req("PUT", "/balances/X", body, &r), 201);
                ck_assert_msg(r.status == 200 || r.status == 201, "%s: %ld", body, r.status);
                ck_assert_str_eq(str(r.json, "available"), cases[i].out);
                ck_assert_str_eq(str(r.json, "total"), cases[i].out);
                http_resp_clear(&r);
                snprintf(body, sizeof(body),
                         "{\"balances\": [{\"asset\": \"Y\", \"available\": \"0\","
                         " \"locked\": %s}]}",
                         cases[i].json);
                ck_assert_int_eq(req("PUT", "/balances", body, &r), 200);
                ck_assert_str_eq(str(json_array_get(json_object_get(r.json, "items"), 0), "locked"),
                                 cases[i].out);
                http_resp_clear(&r);
        }
}
END_TEST

/* Rejected decimal forms: 400 naming the field, in both puts, and nothing
 * changes. */
START_TEST(bad_decimals_are_400_in_both_puts_and_change_nothing)
{
        static const char *const cases[] = {
                "\"+1\"",
                "\".5\"",
                "\"1.\"",
                "\"1e2\"",
                "\" 1\"",
                "\"1 \"",
                "\"\"",
                "\"abc\"",
                "\"0x10\"",
                "\"1,5\"",
                "\"0.000000001\"",
                "\"1.123456789\"",
                "0.000000001",
                "\"92233720368.54775808\"",
                "\"92233720369\"",
                "92233720369",
                "1e300",
                "\"-1\"",
                "-0.00000001",
                "true",
                "[]",
                "{}",
                "\"NaN\"",
        };
        char *before;

        put_ok("X", "1", "1", 201);
        put_ok("Y", "2", "2", 201);
        before = state();
        for (size_t i = 0; i < N(cases); i++) {
                struct http_resp r;
                char body[256];

                snprintf(body, sizeof(body), "{\"available\": \"1\", \"locked\": %s}", cases[i]);
                req("PUT", "/balances/X", body, &r);
                ck_assert_msg(r.status == 400, "%s: %ld", cases[i], r.status);
                assert_invalid(&r, "locked");
                ck_assert_int_eq(error_count(&r), 1);
                http_resp_clear(&r);
                snprintf(body, sizeof(body),
                         "{\"balances\": [{\"asset\": \"X\", \"available\": \"1\","
                         " \"locked\": \"1\"},"
                         " {\"asset\": \"Z\", \"available\": %s, \"locked\": \"1\"}]}",
                         cases[i]);
                req("PUT", "/balances", body, &r);
                ck_assert_msg(r.status == 400, "%s: %ld", cases[i], r.status);
                assert_invalid(&r, "balances[1].available");
                ck_assert_int_eq(error_count(&r), 1);
                http_resp_clear(&r);
                assert_state(before);
        }
        free(before);
}
END_TEST

START_TEST(put_total_out_of_range_is_409_and_writes_nothing)
{
        struct http_resp r;
        char *before;

        /* The largest total is fine. */
        put_ok("MAX", "92233720368.54775806", "0.00000001", 201);
        ck_assert_int_eq(req("GET", "/balances/MAX", NULL, &r), 200);
        ck_assert_str_eq(str(r.json, "total"), MAX_DEC);
        http_resp_clear(&r);
        /* One unit more is a conflict: new asset, nothing created. */
        req("PUT", "/balances/NEW", "{\"available\": \"" MAX_DEC "\", \"locked\": \"0.00000001\"}",
            &r);
        assert_problem(&r, 409);
        ck_assert_ptr_nonnull(strstr(str(r.json, "detail"), "NEW"));
        http_resp_clear(&r);
        ck_assert_int_eq(req("GET", "/balances/NEW", NULL, &r), 404);
        http_resp_clear(&r);
        /* Existing asset: left as it was. */
        put_ok("OLD", "1", "1", 201);
        before = state();
        req("PUT", "/balances/OLD", "{\"available\": \"" MAX_DEC "\", \"locked\": \"" MAX_DEC "\"}",
            &r);
        assert_problem(&r, 409);
        http_resp_clear(&r);
        assert_state(before);
        free(before);
}
END_TEST

START_TEST(asset_rules_apply_to_urls)
{
        static const char *const ok[] = {
                "BTC", "btc", "BTC/USDT", "x.Y_z-1/2", "0", "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345",
        };
        /* 33 characters, and characters outside [A-Za-z0-9._/-]. */
        static const char *const bad[] = {
                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456", "BT%20C", "a:b", "a!b", "a%2Cb", "%C3%A9",
        };

        for (size_t i = 0; i < N(ok); i++) {
                struct http_resp r;
                char path[128];

                snprintf(path, sizeof(path), "/balances/%s", ok[i]);
                ck_assert_int_eq(req("PUT", path, "{\"available\": \"1\", \"locked\": \"2\"}", &r),
                                 201);
                ck_assert_str_eq(str(r.json, "asset"), ok[i]);
                http_resp_clear(&r);
                ck_assert_int_eq(req("GET", path, NULL, &r), 200);
                ck_assert_str_eq(str(r.json, "asset"), ok[i]);
                http_resp_clear(&r);
        }
        for (size_t i = 0; i < N(bad); i++) {
                static const char *const methods[] = { "GET", "PUT", "DELETE" };

                for (size_t m = 0; m < N(methods); m++) {
                        struct http_resp r;
                        char path[128];

                        snprintf(path, sizeof(path), "/balances/%s", bad[i]);
                        req(methods[m], path,
                            strcmp(methods[m], "PUT") == 0
                                    ? "{\"available\": \"1\", \"locked\": \"2\"}"
                                    : NULL,
                            &r);
                        ck_assert_msg(r.status == 404, "%s %s: %ld", methods[m], path, r.status);
                        assert_problem(&r, 404);
                        http_resp_clear(&r);
                }
        }
        ck_assert_int_eq(db_int("SELECT count(*) FROM account_balances"), (long long)N(ok));
}
END_TEST

/* ---- GET ---- */

START_TEST(get_absent_asset_is_404)
{
        struct http_resp r;

        req("GET", "/balances/NOPE", NULL, &r);
        assert_problem(&r, 404);
        ck_assert_ptr_nonnull(strstr(str(r.json, "detail"), "NOPE"));
        http_resp_clear(&r);
}
END_TEST

START_TEST(unknown_query_parameters_are_400)
{
        static const char *const cases[][2] = {
                { "GET", "/balances/BTC?x=1" },    { "PUT", "/balances/BTC?x=1" },
                { "DELETE", "/balances/BTC?x=1" }, { "PUT", "/balances?x=1" },
                { "GET", "/balances?x=1" },
        };
        char *before;

        put_ok("BTC", "1", "1", 201);
        before = state();
        for (size_t i = 0; i < N(cases); i++) {
                struct http_resp r;
                const char *body = strcmp(cases[i][0], "PUT") != 0 ? NULL
                                   : strchr(cases[i][1] + 1, '/') != NULL
                                           ? "{\"available\": \"5\", \"locked\": \"5\"}"
                                           : "{\"balances\": []}";

                req(cases[i][0], cases[i][1], body, &r);
                assert_invalid(&r, "x");
                http_resp_clear(&r);
                assert_state(before);
        }
        free(before);
}
END_TEST

START_TEST(list_is_ascending_by_asset_and_pages_with_a_cursor)
{
        /* Sent out of order; byte order puts upper case before lower case. */
        static const char *const sent[] = { "ETH", "btc", "BTC/USDT", "ADA", "USDT", "BTC" };
        static const char *const sorted[] = { "ADA", "BTC", "BTC/USDT", "ETH", "USDT", "btc" };
        char path[256];
        size_t seen = 0, pages = 0;
        json_t *cursor = NULL;

        for (size_t i = 0; i < N(sent); i++)
                put_ok(sent[i], "1", "0.5", 201);
        for (;;) {
                struct http_resp r;
                const json_t *items;

                if (cursor == NULL)
                        snprintf(path, sizeof(path), "/balances?limit=2");
                else
                        snprintf(path, sizeof(path), "/balances?limit=2&cursor=%s",
                                 json_string_value(cursor));
                ck_assert_int_eq(req("GET", path, NULL, &r), 200);
                ck_assert_str_eq(r.ctype, "application/json");
                ck_assert_int_eq(json_object_size(r.json), 2);
                items = json_object_get(r.json, "items");
                for (size_t i = 0; i < json_array_size(items); i++) {
                        ck_assert_uint_lt(seen, N(sorted));
                        assert_balance(json_array_get(items, i), sorted[seen++], "1", "0.5", "1.5");
                }
                pages++;
                json_decref(cursor);
                cursor = json_incref(json_object_get(r.json, "next_cursor"));
                ck_assert(json_is_string(cursor) || json_is_null(cursor));
                /* A full page carries a cursor; a short one null. */
                ck_assert_int_eq(json_is_string(cursor), json_array_size(items) == 2);
                http_resp_clear(&r);
                if (json_is_null(cursor))
                        break;
        }
        json_decref(cursor);
        ck_assert_uint_eq(seen, N(sorted));
        ck_assert_uint_eq(pages, 4); /* the last full page leads to an empty one */
}
END_TEST

START_TEST(list_default_limit_returns_all_with_null_cursor)
{
        struct http_resp r;

        ck_assert_int_eq(req("GET", "/balances", NULL, &r), 200);
        ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 0);
        ck_assert(json_is_null(json_object_get(r.json, "next_cursor")));
        http_resp_clear(&r);
        put_ok("B", "1", "1", 201);
        put_ok("A", "1", "1", 201);
        ck_assert_int_eq(req("GET", "/balances", NULL, &r), 200);
        ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 2);
        ck_assert_str_eq(str(json_array_get(json_object_get(r.json, "items"), 0), "asset"), "A");
        ck_assert(json_is_null(json_object_get(r.json, "next_cursor")));
        http_resp_clear(&r);
}
END_TEST

START_TEST(list_rejects_bad_limit_and_cursor)
{
        char foreign[CURSOR_BUFSZ], bad_asset[CURSOR_BUFSZ];
        char p1[256], p2[256];
        const struct {
                const char *path;
                const char *field;
        } cases[] = {
                { "/balances?limit=0", "limit" },
                { "/balances?limit=1001", "limit" },
                { "/balances?limit=abc", "limit" },
                { "/balances?limit=", "limit" },
                { "/balances?cursor=%%%", "cursor" },
                { "/balances?cursor=not-a-cursor", "cursor" },
                { p1, "cursor" },
                { p2, "cursor" },
        };

        /* Well-formed cursors that no balance list makes. */
        cursor_encode(1764169200, "BTC", foreign);
        cursor_encode(0, "a:b", bad_asset);
        snprintf(p1, sizeof(p1), "/balances?cursor=%s", foreign);
        snprintf(p2, sizeof(p2), "/balances?cursor=%s", bad_asset);
        for (size_t i = 0; i < N(cases); i++) {
                struct http_resp r;

                req("GET", cases[i].path, NULL, &r);
                ck_assert_msg(r.status == 400, "%s: %ld", cases[i].path, r.status);
                assert_invalid(&r, cases[i].field);
                http_resp_clear(&r);
        }
}
END_TEST

START_TEST(list_queries_use_the_primary_key_index)
{
        size_t n = 0;
        const char *const *sql = repo_balances_list_sql(&n);

        ck_assert_uint_eq(n, 2);
        harness_assert_indexed(&h, sql, n);
}
END_TEST

/* ---- PUT /balances: the snapshot ---- */

START_TEST(snapshot_replaces_the_set_and_returns_it_in_asset_order)
{
        struct http_resp r, g;
        const json_t *items;

        put_ok("A", "1", "1", 201);
        put_ok("B", "1", "1", 201);
        put_ok("C", "1", "1", 201);
        ck_assert_int_eq(req("PUT", "/balances",
                             "{\"balances\": ["
                             "{\"asset\": \"D\", \"available\": \"4\", \"locked\": \"0.4\"},"
                             "{\"asset\": \"B\", \"available\": 2.5, \"locked\": \"0\"},"
                             "{\"asset\": \"A\", \"available\": \"0\", \"locked\": \"7\"}]}",
                             &r),
                         200);
        ck_assert_str_eq(r.ctype, "application/json");
        ck_assert_int_eq(json_object_size(r.json), 2);
        ck_assert(json_is_null(json_object_get(r.json, "next_cursor")));
        items = json_object_get(r.json, "items");
        ck_assert_int_eq(json_array_size(items), 3);
        assert_balance(json_array_get(items, 0), "A", "0", "7", "7");
        assert_balance(json_array_get(items, 1), "B", "2.5", "0", "2.5");
        assert_balance(json_array_get(items, 2), "D", "4", "0.4", "4.4");
        /* One snapshot, one time. */
        ck_assert_str_eq(str(json_array_get(items, 0), "updated_at"),
                         str(json_array_get(items, 2), "updated_at"));
        /* C is gone; the stored set is exactly the response. */
        ck_assert_int_eq(req("GET", "/balances/C", NULL, &g), 404);
        http_resp_clear(&g);
        ck_assert_int_eq(req("GET", "/balances", NULL, &g), 200);
        ck_assert(json_equal(g.json, r.json));
        http_resp_clear(&g);
        http_resp_clear(&r);
}
END_TEST

START_TEST(snapshot_empty_list_removes_every_balance)
{
        struct http_resp r;

        put_ok("A", "1", "1", 201);
        put_ok("B", "1", "1", 201);
        ck_assert_int_eq(req("PUT", "/balances", "{\"balances\": []}", &r), 200);
        ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 0);
        ck_assert(json_is_null(json_object_get(r.json, "next_cursor")));
        http_resp_clear(&r);
        ck_assert_int_eq(db_int("SELECT count(*) FROM account_balances"), 0);
        ck_assert_int_eq(req("GET", "/balances/A", NULL, &r), 404);
        http_resp_clear(&r);
}
END_TEST

START_TEST(snapshot_repeating_an_asset_is_400_and_changes_nothing)
{
        struct http_resp r;
        char *before;

        put_ok("BTC", "1", "1", 201);
        put_ok("OLD", "1", "1", 201);
        before = state();
        req("PUT", "/balances",
            "{\"balances\": ["
            "{\"asset\": \"BTC\", \"available\": \"1\", \"locked\": \"0\"},"
            "{\"asset\": \"ETH\", \"available\": \"1\", \"locked\": \"0\"},"
            "{\"asset\": \"BTC\", \"available\": \"2\", \"locked\": \"0\"},"
            "{\"asset\": \"btc\", \"available\": \"2\", \"locked\": \"0\"},"
            "{\"asset\": \"BTC\", \"available\": \"3\", \"locked\": \"0\"},"
            "{\"asset\": \"ETH\", \"available\": \"-1\", \"locked\": \"0\"}]}",
            &r);
        assert_invalid(&r, "balances[2].asset");
        assert_invalid(&r, "balances[4].asset");
        /* An entry that is invalid otherwise still counts as a repeat. */
        assert_invalid(&r, "balances[5].available");
        assert_invalid(&r, "balances[5].asset");
        ck_assert_int_eq(error_count(&r), 4); /* "btc" is another asset */
        http_resp_clear(&r);
        assert_state(before);
        free(before);
}
END_TEST

START_TEST(snapshot_invalid_entries_are_400_naming_every_field_and_change_nothing)
{
        static const char *const fields[] = {
                "balances[1].available", "balances[2].asset",  "balances[3].total",
                "balances[4]",           "balances[5].locked", "balances[6].extra",
                "balances[7].available", "balances[8].asset",  "balances[9].updated_at",
        };
        struct http_resp r;
        char *before;

        put_ok("KEEP", "1", "2", 201);
        before = state();
        req("PUT", "/balances",
            "{\"balances\": ["
            "{\"asset\": \"OK\", \"available\": \"1\", \"locked\": \"1\"},"
            "{\"asset\": \"A1\", \"available\": \"-1\", \"locked\": \"1\"},"
            "{\"asset\": \"bad asset!\", \"available\": \"1\", \"locked\": \"1\"},"
            "{\"asset\": \"A3\", \"available\": \"1\", \"locked\": \"1\", \"total\": \"2\"},"
            "\"not an object\","
            "{\"asset\": \"A5\", \"available\": \"1\"},"
            "{\"asset\": \"A6\", \"available\": \"1\", \"locked\": \"1\", \"extra\": 1},"
            "{\"asset\": \"A7\", \"available\": \"1.123456789\", \"locked\": \"1\"},"
            "{\"available\": \"1\", \"locked\": \"1\"},"
            "{\"asset\": \"A9\", \"available\": \"1\", \"locked\": \"1\","
            " \"updated_at\": \"2026-01-01T00:00:00Z\"}]}",
            &r);
        for (size_t i = 0; i < N(fields); i++)
                assert_invalid(&r, fields[i]);
        ck_assert_int_eq(error_count(&r), N(fields));
        http_resp_clear(&r);
        assert_state(before);
        free(before);
}
END_TEST

START_TEST(snapshot_body_must_be_a_balances_array)
{
        static const struct {
                const char *body;
                const char *field;
        } cases[] = {
                { "{}", "balances" },
                { NULL, "balances" },
                { "{\"balances\": null}", "balances" },
                { "{\"balances\": {}}", "balances" },
                { "{\"balances\": \"BTC\"}", "balances" },
                { "{\"balances\": [], \"extra\": 1}", "extra" },
                { "{\"items\": []}", "items" },
        };
        char *before;

        put_ok("KEEP", "1", "2", 201);
        before = state();
        for (size_t i = 0; i < N(cases); i++) {
                struct http_resp r;

                if (cases[i].body == NULL)
                        http_do(&h, "PUT", "/balances", NULL, NULL, NULL, &r);
                else
                        req("PUT", "/balances", cases[i].body, &r);
                assert_invalid(&r, cases[i].field);
                http_resp_clear(&r);
                assert_state(before);
        }
        free(before);
}
END_TEST

START_TEST(snapshot_total_out_of_range_is_409_and_changes_nothing)
{
        struct http_resp r;
        char *before;

        put_ok("KEEP", "1", "2", 201);
        before = state();
        req("PUT", "/balances",
            "{\"balances\": ["
            "{\"asset\": \"A\", \"available\": \"1\", \"locked\": \"1\"},"
            "{\"asset\": \"BIG\", \"available\": \"" MAX_DEC "\", \"locked\": \"0.00000001\"}]}",
            &r);
        assert_problem(&r, 409);
        ck_assert_ptr_nonnull(strstr(str(r.json, "detail"), "BIG"));
        http_resp_clear(&r);
        assert_state(before);
        free(before);
}
END_TEST

/* Alternates two snapshots from another thread while this one lists: every
 * list shows exactly one of the two sets, never a mix or a partial one. */
#define ATOMIC_ASSETS 50

struct flipper {
        char *bodies[2];
        volatile bool stop;
        int sent, failed;
};

static void *
flip_main(void *arg)
{
        struct flipper *f = arg;

        while (!f->stop) {
                struct http_resp r;

                http_do(&h, "PUT", "/balances", f->bodies[f->sent % 2], NULL, NULL, &r);
                if (r.status != 200)
                        f->failed++;
                f->sent++;
                http_resp_clear(&r);
        }
        return NULL;
}

/* A snapshot body of ATOMIC_ASSETS assets named <prefix>NN, all of amount. */
static char *
snapshot_set(const char *prefix, const char *amount)
{
        size_t cap = 64 + ATOMIC_ASSETS * 96, len = 0;
        char *b = malloc(cap);

        ck_assert_ptr_nonnull(b);
        len += (size_t)snprintf(b + len, cap - len, "{\"balances\": [");
        for (int i = 0; i < ATOMIC_ASSETS; i++)
                len += (size_t)snprintf(b + len, cap - len,
                                        "%s{\"asset\": \"%s%02d\", \"available\": \"%s\", "
                                        "\"locked\": \"0\"}",
                                        i ? "," : "", prefix, i, amount);
        snprintf(b + len, cap - len, "]}");
        return b;
}

START_TEST(a_snapshot_is_seen_whole_or_not_at_all)
{
        struct flipper f = { .bodies = { snapshot_set("A", "1"), snapshot_set("B", "2") } };
        pthread_t t;
        int lists = 0;

        ck_assert_int_eq(pthread_create(&t, NULL, flip_main, &f), 0);
        while (lists < 200 || f.sent < 20) {
                struct http_resp r;
                const json_t *items;
                const char *first;

                ck_assert_int_eq(req("GET", "/balances?limit=1000", NULL, &r), 200);
                items = json_object_get(r.json, "items");
                if (json_array_size(items) > 0) {
                        ck_assert_int_eq(json_array_size(items), ATOMIC_ASSETS);
                        first = str(json_array_get(items, 0), "asset");
                        for (size_t i = 0; i < ATOMIC_ASSETS; i++) {
                                const json_t *b = json_array_get(items, i);

                                ck_assert_int_eq(str(b, "asset")[0], first[0]);
                                ck_assert_str_eq(str(b, "available"), first[0] == 'A' ? "1" : "2");
                        }
                }
                http_resp_clear(&r);
                lists++;
        }
        f.stop = true;
        pthread_join(t, NULL);
        ck_assert_int_eq(f.failed, 0);
        free(f.bodies[0]);
        free(f.bodies[1]);
}
END_TEST

/* Builds a snapshot body of n distinct assets (caller frees). */
static char *
snapshot_of(size_t n)
{
        size_t cap = 64 + n * 64, len = 0;
        char *b = malloc(cap);

        ck_assert_ptr_nonnull(b);
        len += (size_t)snprintf(b + len, cap - len, "{\"balances\": [");
        for (size_t i = 0; i < n; i++)
                len += (size_t)snprintf(b + len, cap - len,
                                        "%s{\"asset\": \"A%05zu\", \"available\": \"%zu\", "
                                        "\"locked\": \"1\"}",
                                        i ? "," : "", n - i, i);
        snprintf(b + len, cap - len, "]}");
        return b;
}

START_TEST(snapshot_holds_at_most_1000_entries)
{
        struct http_resp r;
        char *body = snapshot_of(BALANCES_SNAPSHOT_MAX);
        char *before;

        ck_assert_int_eq(req("PUT", "/balances", body, &r), 200);
        ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 1000);
        ck_assert_str_eq(str(json_array_get(json_object_get(r.json, "items"), 0), "asset"),
                         "A00001");
        http_resp_clear(&r);
        free(body);
        ck_assert_int_eq(db_int("SELECT count(*) FROM account_balances"), 1000);
        before = state();
        body = snapshot_of(BALANCES_SNAPSHOT_MAX + 1);
        req("PUT", "/balances", body, &r);
        assert_invalid(&r, "balances");
        http_resp_clear(&r);
        free(body);
        assert_state(before);
        free(before);
}
END_TEST

/* ---- DELETE ---- */

START_TEST(delete_is_204_then_the_asset_is_gone)
{
        struct http_resp r;

        put_ok("BTC", "1", "1", 201);
        put_ok("ETH", "1", "1", 201);
        ck_assert_int_eq(req("DELETE", "/balances/BTC", NULL, &r), 204);
        ck_assert_uint_eq(r.len, 0);
        http_resp_clear(&r);
        ck_assert_int_eq(req("GET", "/balances/BTC", NULL, &r), 404);
        http_resp_clear(&r);
        ck_assert_int_eq(req("GET", "/balances", NULL, &r), 200);
        ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 1);
        http_resp_clear(&r);
}
END_TEST

START_TEST(delete_absent_asset_is_404)
{
        struct http_resp r;

        put_ok("ETH", "1", "1", 201);
        req("DELETE", "/balances/BTC", NULL, &r);
        assert_problem(&r, 404);
        ck_assert_ptr_nonnull(strstr(str(r.json, "detail"), "BTC"));
        http_resp_clear(&r);
        ck_assert_int_eq(req("DELETE", "/balances/ETH", NULL, &r), 204);
        http_resp_clear(&r);
        req("DELETE", "/balances/ETH", NULL, &r);
        assert_problem(&r, 404);
        http_resp_clear(&r);
}
END_TEST

/* ---- across the section ---- */

START_TEST(balance_changes_add_no_outbox_event)
{
        struct http_resp r;

        put_ok("BTC", "1", "1", 201);
        put_ok("BTC", "2", "1", 200);
        ck_assert_int_eq(req("PUT", "/balances",
                             "{\"balances\": [{\"asset\": \"ETH\", \"available\": \"1\","
                             " \"locked\": \"1\"}]}",
                             &r),
                         200);
        http_resp_clear(&r);
        ck_assert_int_eq(req("DELETE", "/balances/ETH", NULL, &r), 204);
        http_resp_clear(&r);
        ck_assert_int_eq(db_int("SELECT count(*) FROM outbox"), 0);
}
END_TEST

START_TEST(other_methods_are_405_with_allow)
{
        struct http_resp r;

        req("POST", "/balances", "{}", &r);
        assert_problem(&r, 405);
        ck_assert_str_eq(r.allow, "GET, PUT");
        http_resp_clear(&r);
        req("PATCH", "/balances/BTC", "{}", &r);
        assert_problem(&r, 405);
        ck_assert_str_eq(r.allow, "GET, PUT, DELETE");
        http_resp_clear(&r);
}
END_TEST

START_TEST(put_needs_a_json_body)
{
        struct http_resp r;

        http_do(&h, "PUT", "/balances/BTC", "available=1&locked=1", "text/plain", NULL, &r);
        assert_problem(&r, 415);
        http_resp_clear(&r);
        req("PUT", "/balances/BTC", "{\"available\": \"1\",", &r);
        assert_problem(&r, 400);
        http_resp_clear(&r);
        req("PUT", "/balances", "[]", &r);
        assert_problem(&r, 400);
        http_resp_clear(&r);
        ck_assert_int_eq(db_int("SELECT count(*) FROM account_balances"), 0);
}
END_TEST

static Suite *
balances_suite(void)
{
        Suite *s = suite_create("balances");
        TCase *put = tcase_create("put");
        TCase *read = tcase_create("read");
        TCase *snap = tcase_create("snapshot");
        TCase *other = tcase_create("other");

        tcase_add_checked_fixture(put, setup, teardown);
        tcase_add_test(put, put_new_asset_is_201_with_total_and_updated_at);
        tcase_add_test(put, put_existing_asset_is_200_and_replaces_both_values);
        tcase_add_test(put, put_requires_available_and_locked);
        tcase_add_test(put, put_negative_values_are_400_naming_each_field);
        tcase_add_test(put, put_read_only_and_unknown_fields_are_400_and_change_nothing);
        tcase_add_test(put, put_may_repeat_the_url_asset_in_the_body);
        tcase_add_test(put, decimals_are_exact_and_canonical_in_both_puts);
        tcase_add_test(put, bad_decimals_are_400_in_both_puts_and_change_nothing);
        tcase_add_test(put, put_total_out_of_range_is_409_and_writes_nothing);
        tcase_add_test(put, asset_rules_apply_to_urls);
        suite_add_tcase(s, put);

        tcase_add_checked_fixture(read, setup, teardown);
        tcase_add_test(read, get_absent_asset_is_404);
        tcase_add_test(read, unknown_query_parameters_are_400);
        tcase_add_test(read, list_is_ascending_by_asset_and_pages_with_a_cursor);
        tcase_add_test(read, list_default_limit_returns_all_with_null_cursor);
        tcase_add_test(read, list_rejects_bad_limit_and_cursor);
        tcase_add_test(read, list_queries_use_the_primary_key_index);
        suite_add_tcase(s, read);

        tcase_add_checked_fixture(snap, setup, teardown);
        tcase_add_test(snap, snapshot_replaces_the_set_and_returns_it_in_asset_order);
        tcase_add_test(snap, snapshot_empty_list_removes_every_balance);
        tcase_add_test(snap, snapshot_repeating_an_asset_is_400_and_changes_nothing);
        tcase_add_test(snap,
                       snapshot_invalid_entries_are_400_naming_every_field_and_change_nothing);
        tcase_add_test(snap, snapshot_body_must_be_a_balances_array);
        tcase_add_test(snap, snapshot_total_out_of_range_is_409_and_changes_nothing);
        tcase_add_test(snap, snapshot_holds_at_most_1000_entries);
        tcase_add_test(snap, a_snapshot_is_seen_whole_or_not_at_all);
        suite_add_tcase(s, snap);

        tcase_add_checked_fixture(other, setup, teardown);
        tcase_add_test(other, delete_is_204_then_the_asset_is_gone);
        tcase_add_test(other, delete_absent_asset_is_404);
        tcase_add_test(other, balance_changes_add_no_outbox_event);
        tcase_add_test(other, other_methods_are_405_with_allow);
        tcase_add_test(other, put_needs_a_json_body);
        suite_add_tcase(s, other);
        return s;
}

int
main(void)
{
        /* Before any thread: the tests use libcurl from several at once. */
        curl_global_init(CURL_GLOBAL_DEFAULT);
        return harness_run_suite(balances_suite());
}
