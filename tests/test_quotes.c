/* HTTP tests of the /quotes endpoints (../shared/API.md, Quotes, and the
 * Conventions that apply to them).
 *
 * Each test gets a fresh database and the real server in-process (a checked
 * fixture). What the API cannot show (an order referencing a quote, a quote
 * that is 'used', the outbox, query plans) is set up or read with SQLite
 * directly on the test database file. */
#include "repo/quotes.h"

#include <check.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "tests/harness.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* A valid quote body with id %s and nothing optional. */
#define MIN_QUOTE                                                                                  \
        "{\"quote_id\": \"%s\", \"symbol_src\": \"BTC/USDT\", \"symbol_dst\": \"BTC/EUR\","        \
        " \"source_bid_price\": \"100\", \"source_ask_price\": \"101\"}"

static struct harness h;
static struct http_resp resp;

static void
setup(void)
{
        harness_init(&h);
        harness_start(&h);
        memset(&resp, 0, sizeof(resp));
}

static void
teardown(void)
{
        http_resp_clear(&resp);
        harness_stop(&h);
}

/* ---- helpers ---- */

/* Sends method path with body (NULL for none); the answer is in resp. */
static long
call(const char *method, const char *path, const char *body)
{
        http_resp_clear(&resp);
        return http_json(&h, method, path, body, &resp);
}

/* Like call with a printf-formatted body. */
static long __attribute__((format(printf, 3, 4)))
callf(const char *method, const char *path, const char *fmt, ...)
{
        char *body = NULL;
        va_list ap;
        long status;

        va_start(ap, fmt);
        ck_assert_int_ge(vasprintf(&body, fmt, ap), 0);
        va_end(ap);
        status = call(method, path, body);
        free(body);
        return status;
}

/* resp.json's member key as a string; fails the test when it is not one. */
static const char *
field(const char *key)
{
        const json_t *v = json_object_get(resp.json, key);

        ck_assert_msg(json_is_string(v), "%s is not a string in %s", key,
                      resp.body ? resp.body : "(no body)");
        return json_string_value(v);
}

static bool
is_null(const json_t *o, const char *key)
{
        return json_is_null(json_object_get(o, key));
}

static void
expect_json(long status)
{
        ck_assert_msg(resp.status == status, "expected %ld, got %ld: %s", status, resp.status,
                      resp.body ? resp.body : "");
        ck_assert_str_eq(resp.ctype, "application/json");
        ck_assert_ptr_nonnull(resp.json);
}

/* True when resp's errors name field. */
static bool
has_error(const char *name)
{
        const json_t *errors = json_object_get(resp.json, "errors");
        size_t i;
        const json_t *e;

        json_array_foreach(errors, i, e)
        {
                const char *f = json_string_value(json_object_get(e, "field"));

                if (f != NULL && strcmp(f, name) == 0)
                        return true;
        }
        return false;
}

/* Asserts a problem+json reply of status; when fields is not NULL, its
 * errors name exactly those fields (NULL-terminated). */
static void
expect_problem(long status, const char *const *fields)
{
        size_t n = 0;

        ck_assert_msg(resp.status == status, "expected %ld, got %ld: %s", status, resp.status,
                      resp.body ? resp.body : "");
        ck_assert_str_eq(resp.ctype, "application/problem+json");
        ck_assert_ptr_nonnull(resp.json);
        ck_assert_int_eq(json_integer_value(json_object_get(resp.json, "status")), status);
        ck_assert_msg(strlen(field("detail")) > 0, "empty detail");
        if (fields == NULL)
                return;
        for (; fields[n] != NULL; n++)
                ck_assert_msg(has_error(fields[n]), "errors do not name %s: %s", fields[n],
                              resp.body);
        ck_assert_msg(json_array_size(json_object_get(resp.json, "errors")) == n,
                      "expected %zu errors: %s", n, resp.body);
}

#define ERRORS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void
create_min(const char *id)
{
        callf("POST", "/quotes", MIN_QUOTE, id);
        expect_json(201);
}

/* The result of a one-integer query on the test database. */
static long long
db_int(const char *sql)
{
        char buf[64];

        ck_assert_int_eq(harness_sql_text(&h, buf, sizeof(buf), "%s", sql), HARNESS_SQL_VALUE);
        return strtoll(buf, NULL, 10);
}

/* Runs sql on the test database behind the server's back. */
static void
db_exec(const char *sql)
{
        harness_sql_exec(&h, "%s", sql);
}

static long long
quote_count(void)
{
        return db_int("SELECT count(*) FROM quotes");
}

/* GET path (a list) and returns its items (new reference). */
static json_t *
list(const char *path)
{
        call("GET", path, NULL);
        expect_json(200);
        return json_incref(json_object_get(resp.json, "items"));
}

/* The quote_ids of items joined with ',' (for compact assertions). */
static void
ids_of(const json_t *items, char *buf, size_t cap)
{
        size_t i, n = 0;
        const json_t *q;

        buf[0] = '\0';
        json_array_foreach(items, i, q) n +=
                (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s", i ? "," : "",
                                 json_string_value(json_object_get(q, "quote_id")));
}

static void
expect_ids(const char *path, const char *ids)
{
        char buf[4096];
        json_t *items = list(path);

        ids_of(items, buf, sizeof(buf));
        json_decref(items);
        ck_assert_msg(strcmp(buf, ids) == 0, "%s: expected [%s], got [%s]", path, ids, buf);
}

static double
now_seconds(void)
{
        struct timeval tv;

        gettimeofday(&tv, NULL);
        return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* ---- POST /quotes ---- */

START_TEST(create_returns_201_with_every_field)
{
        callf("POST", "/quotes",
              "{\"quote_id\": \"q-1\", \"symbol_src\": \"BTC/USDT\", \"symbol_dst\": \"BTC/EUR\","
              " \"bid_price\": \"99.5\", \"bid_qty\": 2, \"ask_price\": 100.25,"
              " \"ask_qty\": \"0.00000001\", \"source_bid_price\": \"100\","
              " \"source_ask_price\": \"101.10\", \"spread_bps\": \"-2.5\","
              " \"status\": \"active\", \"expires_at\": \"2099-01-02T03:04:05.123456+01:00\"}");
        expect_json(201);
        ck_assert_str_eq(field("quote_id"), "q-1");
        ck_assert_str_eq(field("symbol_src"), "BTC/USDT");
        ck_assert_str_eq(field("symbol_dst"), "BTC/EUR");
        ck_assert_str_eq(field("bid_price"), "99.5");
        ck_assert_str_eq(field("bid_qty"), "2");
        ck_assert_str_eq(field("ask_price"), "100.25");
        ck_assert_str_eq(field("ask_qty"), "0.00000001");
        ck_assert_str_eq(field("source_bid_price"), "100");
        ck_assert_str_eq(field("source_ask_price"), "101.1");
        ck_assert_str_eq(field("spread_bps"), "-2.5");
        ck_assert_str_eq(field("status"), "active");
        ck_assert_str_eq(field("expires_at"), "2099-01-02T02:04:05.123456Z");
        ck_assert_int_eq(strlen(field("created_at")), 27);
        ck_assert_str_eq(field("updated_at"), field("created_at"));
        ck_assert_int_eq(json_object_size(resp.json), 14);

        call("GET", "/quotes/q-1", NULL);
        expect_json(200);
        ck_assert_str_eq(field("bid_price"), "99.5");
        ck_assert_str_eq(field("expires_at"), "2099-01-02T02:04:05.123456Z");
        ck_assert_int_eq(db_int("SELECT bid_price FROM quotes WHERE quote_id = 'q-1'"),
                         9950000000LL);
}
END_TEST

START_TEST(create_without_optionals_makes_an_id_and_returns_nulls)
{
        const char *id;

        call("POST", "/quotes",
             "{\"symbol_src\": \"ETH/USDT\", \"symbol_dst\": \"ETH/EUR\","
             " \"source_bid_price\": 1, \"source_ask_price\": 2}");
        expect_json(201);
        id = field("quote_id");
        ck_assert_int_eq(strlen(id), 36); /* a UUIDv7 */
        ck_assert_int_eq(id[14], '7');
        ck_assert(is_null(resp.json, "bid_price"));
        ck_assert(is_null(resp.json, "bid_qty"));
        ck_assert(is_null(resp.json, "ask_price"));
        ck_assert(is_null(resp.json, "ask_qty"));
        ck_assert(is_null(resp.json, "spread_bps"));
        ck_assert(is_null(resp.json, "expires_at"));
        ck_assert_str_eq(field("status"), "active");
        ck_assert_int_eq(quote_count(), 1);
}
END_TEST

START_TEST(create_accepts_status_active_only)
{
        static const char *const bad[] = { "used", "expired", "cancelled", "ACTIVE", "" };

        callf("POST", "/quotes",
              "{\"quote_id\": \"a\", \"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
              " \"source_bid_price\": 1, \"source_ask_price\": 2, \"status\": \"active\"}");
        expect_json(201);
        for (size_t i = 0; i < N_ELEMS(bad); i++) {
                callf("POST", "/quotes",
                      "{\"quote_id\": \"b\", \"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
                      " \"source_bid_price\": 1, \"source_ask_price\": 2, \"status\": \"%s\"}",
                      bad[i]);
                expect_problem(400, ERRORS("status"));
        }
        ck_assert_int_eq(quote_count(), 1);
}
END_TEST

START_TEST(create_without_required_fields_names_each)
{
        call("POST", "/quotes", "{}");
        expect_problem(400,
                       ERRORS("symbol_src", "symbol_dst", "source_bid_price", "source_ask_price"));
        call("POST", "/quotes", NULL);
        expect_problem(400,
                       ERRORS("symbol_src", "symbol_dst", "source_bid_price", "source_ask_price"));
        call("POST", "/quotes",
             "{\"symbol_src\": null, \"symbol_dst\": \"Y\", \"source_bid_price\": 1,"
             " \"source_ask_price\": 2}");
        expect_problem(400, ERRORS("symbol_src"));
        ck_assert_int_eq(quote_count(), 0);
}
END_TEST

START_TEST(create_reports_every_invalid_field_at_once)
{
        call("POST", "/quotes",
             "{\"quote_id\": \"has space\", \"symbol_src\": \"bad symbol!\","
             " \"symbol_dst\": 5, \"bid_price\": \"0\", \"bid_qty\": \"-1\","
             " \"ask_price\": \"abc\", \"ask_qty\": true, \"source_bid_price\": -3,"
             " \"source_ask_price\": \"1.123456789\", \"spread_bps\": \"1e2\","
             " \"expires_at\": \"tomorrow\", \"status\": \"used\"}");
        expect_problem(400, ERRORS("quote_id", "symbol_src", "symbol_dst", "bid_price", "bid_qty",
                                   "ask_price", "ask_qty", "source_bid_price", "source_ask_price",
                                   "spread_bps", "expires_at", "status"));
        ck_assert_int_eq(quote_count(), 0);
}
END_TEST

START_TEST(create_rejects_unknown_and_read_only_fields)
{
        static const char *const extra[] = { "\"side\": \"buy\"", "\"created_at\": 1",
                                             "\"updated_at\": \"2026-01-01T00:00:00Z\"",
                                             "\"created_at\": null" };
        static const char *const names[] = { "side", "created_at", "updated_at", "created_at" };

        for (size_t i = 0; i < N_ELEMS(extra); i++) {
                callf("POST", "/quotes",
                      "{\"quote_id\": \"q\", \"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
                      " \"source_bid_price\": 1, \"source_ask_price\": 2, %s}",
                      extra[i]);
                expect_problem(400, ((const char *const[]){ names[i], NULL }));
        }
        ck_assert_int_eq(quote_count(), 0);
}
END_TEST

struct dec_case {
        const char *json; /* the JSON value sent as bid_price */
        const char *want; /* the returned string, or NULL for a 400 */
};

static const struct dec_case dec_cases[] = {
        { "\"1.100000000\"", "1.1" },
        { "\"1.5\"", "1.5" },
        { "0.1", "0.1" },
        { "1e2", "100" },
        { "2.50E-1", "0.25" },
        { "\"0.00000001\"", "0.00000001" },
        { "\"00012.3400\"", "12.34" },
        { "\"92233720368.54775807\"", "92233720368.54775807" },
        { "\"1.123456789\"", NULL },
        { "0.123456789", NULL },
        { "\"+1\"", NULL },
        { "\".5\"", NULL },
        { "\"1.\"", NULL },
        { "\"1e2\"", NULL },
        { "\" 1\"", NULL },
        { "\"1 \"", NULL },
        { "\"\"", NULL },
        { "\"0\"", NULL },
        { "0", NULL },
        { "\"-0.5\"", NULL },
        { "\"92233720368.54775808\"", NULL },
        { "1e20", NULL },
        { "[1]", NULL },
};

START_TEST(create_parses_decimals_exactly)
{
        for (size_t i = 0; i < N_ELEMS(dec_cases); i++) {
                const struct dec_case *c = &dec_cases[i];

                callf("POST", "/quotes",
                      "{\"quote_id\": \"d%zu\", \"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
                      " \"bid_price\": %s, \"source_bid_price\": 1, \"source_ask_price\": 2}",
                      i, c->json);
                if (c->want == NULL) {
                        expect_problem(400, ERRORS("bid_price"));
                        continue;
                }
                expect_json(201);
                ck_assert_msg(strcmp(field("bid_price"), c->want) == 0, "%s gave %s", c->json,
                              field("bid_price"));
        }
}
END_TEST

START_TEST(create_spread_bps_is_any_decimal)
{
        static const char *const ok[][2] = {
                { "\"-12.5\"", "-12.5" }, { "0", "0" }, { "\"-0\"", "0" }, { "3", "3" }
        };

        for (size_t i = 0; i < N_ELEMS(ok); i++) {
                callf("POST", "/quotes",
                      "{\"quote_id\": \"s%zu\", \"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
                      " \"spread_bps\": %s, \"source_bid_price\": 1, \"source_ask_price\": 2}",
                      i, ok[i][0]);
                expect_json(201);
                ck_assert_str_eq(field("spread_bps"), ok[i][1]);
        }
        callf("POST", "/quotes",
              "{\"symbol_src\": \"X\", \"symbol_dst\": \"Y\", \"spread_bps\": \"0.000000001\","
              " \"source_bid_price\": 1, \"source_ask_price\": 2}");
        expect_problem(400, ERRORS("spread_bps"));
}
END_TEST

START_TEST(create_repeat_with_same_content_is_200_and_changes_nothing)
{
        char created[40], updated[40];

        call("POST", "/quotes",
             "{\"quote_id\": \"q\", \"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
             " \"bid_price\": \"1.5\", \"source_bid_price\": \"2\", \"source_ask_price\": \"3.10\","
             " \"expires_at\": \"2099-01-01T00:00:00Z\"}");
        expect_json(201);
        snprintf(created, sizeof(created), "%s", field("created_at"));
        snprintf(updated, sizeof(updated), "%s", field("updated_at"));
        /* Numbers instead of strings, another timestamp form, explicit nulls
         * for the absent optionals, and status: the same content. */
        call("POST", "/quotes",
             "{\"quote_id\": \"q\", \"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
             " \"bid_price\": 1.5, \"source_bid_price\": 2, \"source_ask_price\": 3.1,"
             " \"expires_at\": 4070908800, \"ask_price\": null, \"spread_bps\": null,"
             " \"status\": \"active\"}");
        expect_json(200);
        ck_assert_str_eq(field("created_at"), created);
        ck_assert_str_eq(field("updated_at"), updated);
        ck_assert_str_eq(field("bid_price"), "1.5");
        ck_assert_int_eq(quote_count(), 1);
        ck_assert_int_eq(db_int("SELECT count(*) FROM outbox"), 0);
}
END_TEST

START_TEST(create_repeat_returns_the_quote_as_it_is_now)
{
        create_min("q");
        call("PATCH", "/quotes/q", "{\"status\": \"cancelled\"}");
        expect_json(200);
        callf("POST", "/quotes", MIN_QUOTE, "q");
        expect_json(200);
        ck_assert_str_eq(field("status"), "cancelled");
}
END_TEST

START_TEST(create_repeat_with_other_content_is_409_and_changes_nothing)
{
        static const char *const other[] = {
                "\"symbol_dst\": \"Z\", \"source_bid_price\": 1, \"source_ask_price\": 2",
                "\"symbol_dst\": \"Y\", \"source_bid_price\": 1, \"source_ask_price\": 2.5",
                "\"symbol_dst\": \"Y\", \"source_bid_price\": 1, \"source_ask_price\": 2,"
                " \"bid_qty\": 1",
                "\"symbol_dst\": \"Y\", \"source_bid_price\": 1, \"source_ask_price\": 2,"
                " \"spread_bps\": 0",
                "\"symbol_dst\": \"Y\", \"source_bid_price\": 1, \"source_ask_price\": 2,"
                " \"expires_at\": \"2099-01-01T00:00:00.000001Z\"",
        };

        call("POST", "/quotes",
             "{\"quote_id\": \"q\", \"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
             " \"source_bid_price\": 1, \"source_ask_price\": 2,"
             " \"expires_at\": \"2099-01-01T00:00:00Z\"}");
        expect_json(201);
        for (size_t i = 0; i < N_ELEMS(other); i++) {
                callf("POST", "/quotes", "{\"quote_id\": \"q\", \"symbol_src\": \"X\", %s}",
                      other[i]);
                expect_problem(409, NULL);
        }
        call("GET", "/quotes/q", NULL);
        expect_json(200);
        ck_assert_str_eq(field("symbol_dst"), "Y");
        ck_assert_str_eq(field("source_ask_price"), "2");
        ck_assert(is_null(resp.json, "bid_qty"));
        ck_assert(is_null(resp.json, "spread_bps"));
        ck_assert_str_eq(field("expires_at"), "2099-01-01T00:00:00.000000Z");
        ck_assert_str_eq(field("updated_at"), field("created_at"));
        ck_assert_int_eq(quote_count(), 1);
}
END_TEST

START_TEST(create_needs_json_content_type)
{
        http_resp_clear(&resp);
        http_do(&h, "POST", "/quotes", "{}", "text/plain", NULL, &resp);
        expect_problem(415, NULL);
        ck_assert_int_eq(quote_count(), 0);
}
END_TEST

/* ---- GET /quotes/{quote_id} ---- */

START_TEST(get_unknown_quote_is_404)
{
        call("GET", "/quotes/nope", NULL);
        expect_problem(404, NULL);
        call("GET", "/quotes/bad%20id", NULL); /* breaks the id rules */
        expect_problem(404, NULL);
        create_min("q");
        call("GET", "/quotes/q?verbose=1", NULL);
        expect_problem(400, ERRORS("verbose"));
}
END_TEST

/* ---- GET /quotes ---- */

START_TEST(list_is_newest_first_and_filters)
{
        static const char *const q[][3] = {
                /* id, symbol_src, symbol_dst; created in this order */
                { "a", "S1", "D1" }, { "b", "S1", "D2" }, { "c", "S2", "D1" },
                { "d", "S2", "D2" }, { "e", "S1", "D1" },
        };

        for (size_t i = 0; i < N_ELEMS(q); i++) {
                callf("POST", "/quotes",
                      "{\"quote_id\": \"%s\", \"symbol_src\": \"%s\", \"symbol_dst\": \"%s\","
                      " \"source_bid_price\": 1, \"source_ask_price\": 2}",
                      q[i][0], q[i][1], q[i][2]);
                expect_json(201);
        }
        call("PATCH", "/quotes/e", "{\"status\": \"cancelled\"}");
        call("PATCH", "/quotes/b", "{\"status\": \"expired\"}");
        db_exec("UPDATE quotes SET status = 'used' WHERE quote_id = 'c'");

        expect_ids("/quotes", "e,d,c,b,a");
        expect_ids("/quotes?status=", "e,d,c,b,a");
        expect_ids("/quotes?status=active", "d,a");
        expect_ids("/quotes?status=used", "c");
        expect_ids("/quotes?status=expired", "b");
        expect_ids("/quotes?status=cancelled", "e");
        expect_ids("/quotes?symbol_src=S1", "e,b,a");
        expect_ids("/quotes?symbol_dst=D1", "e,c,a");
        expect_ids("/quotes?symbol_src=S1&symbol_dst=D1", "e,a");
        expect_ids("/quotes?status=active&symbol_src=S1", "a");
        expect_ids("/quotes?status=active&symbol_dst=D2", "d");
        expect_ids("/quotes?status=active&symbol_dst=D1&limit=10", "a");
        expect_ids("/quotes?status=cancelled&symbol_src=S1&symbol_dst=D1", "e");
        expect_ids("/quotes?status=used&symbol_src=S1", "");
        expect_ids("/quotes?symbol_src=S9", "");
        call("GET", "/quotes", NULL);
        ck_assert(is_null(resp.json, "next_cursor"));
}
END_TEST

START_TEST(list_active_excludes_quotes_past_expires_at)
{
        double now = now_seconds();

        callf("POST", "/quotes",
              "{\"quote_id\": \"past\", \"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
              " \"source_bid_price\": 1, \"source_ask_price\": 2,"
              " \"expires_at\": \"2020-01-01T00:00:00Z\"}");
        expect_json(201);
        callf("POST", "/quotes",
              "{\"quote_id\": \"soon\", \"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
              " \"source_bid_price\": 1, \"source_ask_price\": 2, \"expires_at\": %.6f}",
              now + 1.0);
        expect_json(201);
        callf("POST", "/quotes",
              "{\"quote_id\": \"later\", \"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
              " \"source_bid_price\": 1, \"source_ask_price\": 2, \"expires_at\": %.0f}",
              now + 3600);
        expect_json(201);
        create_min("never");

        expect_ids("/quotes?status=active", "never,later,soon");
        expect_ids("/quotes?status=active&symbol_dst=Y", "later,soon");
        expect_ids("/quotes", "never,later,soon,past");
        call("GET", "/quotes/past", NULL);
        ck_assert_str_eq(field("status"), "active"); /* still stored as active */
        while (now_seconds() < now + 1.2)
                usleep(50000);
        /* "soon" is past its expires_at now: the filter uses the time of
         * the request, not that of the create. */
        expect_ids("/quotes?status=active", "never,later");
        expect_ids("/quotes?status=active&symbol_src=X&symbol_dst=Y", "later");
}
END_TEST

START_TEST(list_rejects_bad_query_parameters)
{
        static const char *const bad[][2] = {
                { "/quotes?foo=1", "foo" },
                { "/quotes?statuss=active", "statuss" },
                { "/quotes?status=open", "status" },
                { "/quotes?symbol_src=a%20b", "symbol_src" },
                { "/quotes?symbol_dst=123456789012345678901234567890123", "symbol_dst" },
                { "/quotes?limit=0", "limit" },
                { "/quotes?limit=1001", "limit" },
                { "/quotes?limit=ten", "limit" },
                { "/quotes?limit=", "limit" },
                { "/quotes?cursor=abc", "cursor" },
                { "/quotes?cursor=", "cursor" },
                { "/quotes?cursor=MTIzOmFiYzpk%21", "cursor" },
        };

        for (size_t i = 0; i < N_ELEMS(bad); i++) {
                call("GET", bad[i][0], NULL);
                expect_problem(400, ((const char *const[]){ bad[i][1], NULL }));
        }
        call("GET", "/quotes?foo=1&status=bogus&limit=0", NULL);
        expect_problem(400, ERRORS("foo", "status", "limit"));
        call("GET", "/quotes?limit=1000", NULL);
        expect_json(200);
}
END_TEST

/* Adds the ids of items to seen (counts per id "q<n>") and returns the next
 * cursor (heap, caller frees) or NULL. */
static char *
take_page(const json_t *page, int *seen, int nseen, int *ret_rows)
{
        const json_t *items = json_object_get(page, "items");
        const json_t *next = json_object_get(page, "next_cursor");
        size_t i;
        const json_t *q;

        json_array_foreach(items, i, q)
        {
                const char *id = json_string_value(json_object_get(q, "quote_id"));
                int n;

                if (id[0] == 'q' && sscanf(id + 1, "%d", &n) == 1 && n >= 0 && n < nseen)
                        seen[n]++;
        }
        *ret_rows = (int)json_array_size(items);
        return json_is_string(next) ? strdup(json_string_value(next)) : NULL;
}

/* Creates quotes q<from>..q<to-1> in one batch. */
static void
batch_range(int from, int to)
{
        size_t cap = (size_t)(to - from) * 160 + 32, n = 0;
        char *body = malloc(cap);

        ck_assert_ptr_nonnull(body);
        n += (size_t)snprintf(body + n, cap - n, "{\"quotes\": [");
        for (int i = from; i < to; i++)
                n += (size_t)snprintf(body + n, cap - n,
                                      "%s{\"quote_id\": \"q%d\", \"symbol_src\": \"X\","
                                      " \"symbol_dst\": \"Y\", \"source_bid_price\": 1,"
                                      " \"source_ask_price\": 2}",
                                      i > from ? "," : "", i);
        snprintf(body + n, cap - n, "]}");
        call("POST", "/quotes/batch", body);
        free(body);
        expect_json(201);
}

START_TEST(pagination_visits_every_quote_once_while_quotes_are_added)
{
        int seen[250] = { 0 };
        char *cursor = NULL;
        char path[256];
        int pages = 0, rows, extra = 0;

        /* Batches share one created_at: the walk must break ties by id. */
        batch_range(0, 100);
        for (int i = 100; i < 150; i++) {
                snprintf(path, sizeof(path), "q%d", i);
                create_min(path);
        }
        batch_range(150, 250);
        do {
                snprintf(path, sizeof(path), "/quotes?limit=100%s%s", cursor ? "&cursor=" : "",
                         cursor ? cursor : "");
                free(cursor);
                call("GET", path, NULL);
                expect_json(200);
                cursor = take_page(resp.json, seen, 250, &rows);
                ck_assert_int_le(rows, 100);
                ck_assert((cursor != NULL) == (rows == 100));
                pages++;
                for (int k = 0; k < 3; k++) { /* new quotes between pages */
                        snprintf(path, sizeof(path), "new-%d", extra++);
                        create_min(path);
                }
        } while (cursor != NULL);
        ck_assert_int_eq(pages, 3);
        for (int i = 0; i < 250; i++)
                ck_assert_msg(seen[i] == 1, "q%d seen %d times", i, seen[i]);
}
END_TEST

START_TEST(full_last_page_carries_a_cursor_to_an_empty_page)
{
        json_t *items;
        char path[256];

        batch_range(0, 4);
        items = list("/quotes?limit=2&status=active&symbol_dst=Y");
        ck_assert_int_eq(json_array_size(items), 2);
        json_decref(items);
        snprintf(path, sizeof(path), "/quotes?limit=2&status=active&symbol_dst=Y&cursor=%s",
                 field("next_cursor"));
        items = list(path);
        ck_assert_int_eq(json_array_size(items), 2);
        json_decref(items);
        snprintf(path, sizeof(path), "/quotes?limit=2&status=active&symbol_dst=Y&cursor=%s",
                 field("next_cursor"));
        items = list(path);
        ck_assert_int_eq(json_array_size(items), 0);
        json_decref(items);
        ck_assert(is_null(resp.json, "next_cursor"));
}
END_TEST

/* ---- PATCH /quotes/{quote_id} ---- */

START_TEST(patch_ends_an_active_quote)
{
        static const char *const to[] = { "expired", "cancelled" };

        for (size_t i = 0; i < N_ELEMS(to); i++) {
                char id[8], path[32], created[40];

                snprintf(id, sizeof(id), "q%zu", i);
                create_min(id);
                snprintf(created, sizeof(created), "%s", field("created_at"));
                snprintf(path, sizeof(path), "/quotes/%s", id);
                callf("PATCH", path, "{\"status\": \"%s\"}", to[i]);
                expect_json(200);
                ck_assert_str_eq(field("status"), to[i]);
                ck_assert_str_eq(field("created_at"), created);
                ck_assert_msg(strcmp(field("updated_at"), created) > 0, "updated_at not moved");
                call("GET", path, NULL);
                ck_assert_str_eq(field("status"), to[i]);
        }
        ck_assert_int_eq(db_int("SELECT count(*) FROM outbox"), 0);
}
END_TEST

START_TEST(patch_from_a_final_status_is_409_and_changes_nothing)
{
        static const char *const from[] = { "used", "expired", "cancelled" };
        static const char *const to[] = { "expired", "cancelled" };
        char sql[128];

        create_min("q");
        for (size_t i = 0; i < N_ELEMS(from); i++) {
                snprintf(sql, sizeof(sql),
                         "UPDATE quotes SET status = '%s', updated_at = 1 WHERE quote_id = 'q'",
                         from[i]);
                db_exec(sql);
                for (size_t j = 0; j < N_ELEMS(to); j++) {
                        callf("PATCH", "/quotes/q", "{\"status\": \"%s\"}", to[j]);
                        expect_problem(409, NULL);
                        call("GET", "/quotes/q", NULL);
                        ck_assert_str_eq(field("status"), from[i]);
                        ck_assert_str_eq(field("updated_at"), "1970-01-01T00:00:00.000001Z");
                }
        }
}
END_TEST

START_TEST(patch_rejects_other_values_and_fields)
{
        static const char *const bad[][2] = {
                { "{\"status\": \"active\"}", "status" },
                { "{\"status\": \"used\"}", "status" },
                { "{\"status\": \"bogus\"}", "status" },
                { "{\"status\": 1}", "status" },
                { "{\"status\": null}", "status" },
                { "{}", "status" },
                { "{\"status\": \"expired\", \"bid_price\": 1}", "bid_price" },
                { "{\"status\": \"expired\", \"updated_at\": 1}", "updated_at" },
                { "{\"status\": \"expired\", \"created_at\": 1}", "created_at" },
        };

        create_min("q");
        for (size_t i = 0; i < N_ELEMS(bad); i++) {
                call("PATCH", "/quotes/q", bad[i][0]);
                expect_problem(400, ((const char *const[]){ bad[i][1], NULL }));
        }
        call("PATCH", "/quotes/q", NULL);
        expect_problem(400, ERRORS("status"));
        call("GET", "/quotes/q", NULL);
        ck_assert_str_eq(field("status"), "active");
        ck_assert_str_eq(field("updated_at"), field("created_at"));
}
END_TEST

START_TEST(patch_unknown_quote_is_404)
{
        call("PATCH", "/quotes/nope", "{\"status\": \"expired\"}");
        expect_problem(404, NULL);
        ck_assert_int_eq(quote_count(), 0);
}
END_TEST

/* ---- DELETE /quotes/{quote_id} ---- */

START_TEST(delete_removes_the_quote)
{
        create_min("q");
        create_min("keep");
        http_resp_clear(&resp);
        http_do(&h, "DELETE", "/quotes/q", NULL, NULL, NULL, &resp);
        ck_assert_int_eq(resp.status, 204);
        ck_assert_int_eq(resp.len, 0);
        call("GET", "/quotes/q", NULL);
        expect_problem(404, NULL);
        call("DELETE", "/quotes/q", NULL);
        expect_problem(404, NULL);
        ck_assert_int_eq(quote_count(), 1);
        ck_assert_int_eq(db_int("SELECT count(*) FROM outbox"), 0);
}
END_TEST

START_TEST(delete_while_an_order_references_it_is_409)
{
        create_min("q");
        db_exec("INSERT INTO orders (order_id, quote_id, symbol, side, type, quantity,"
                " created_at, updated_at) VALUES ('o1', 'q', 'BTC/EUR', 'buy', 'market',"
                " 100000000, 1, 1)");
        call("DELETE", "/quotes/q", NULL);
        expect_problem(409, NULL);
        ck_assert_int_eq(quote_count(), 1);
        db_exec("DELETE FROM orders");
        call("DELETE", "/quotes/q", NULL);
        ck_assert_int_eq(resp.status, 204);
        ck_assert_int_eq(quote_count(), 0);
}
END_TEST

START_TEST(delete_maps_a_foreign_key_violation_to_409)
{
        /* A referencing row the orders check cannot see: only the foreign
         * key stops the DELETE, and that must still be a 409, not a 503. */
        create_min("q");
        if (!h.postgres) /* PostgreSQL always checks foreign keys */
                db_exec("PRAGMA foreign_keys = ON");
        db_exec("CREATE TABLE quote_refs (quote_id TEXT REFERENCES quotes (quote_id));"
                " INSERT INTO quote_refs VALUES ('q')");
        call("DELETE", "/quotes/q", NULL);
        expect_problem(409, NULL);
        ck_assert_int_eq(quote_count(), 1);
}
END_TEST

/* ---- POST /quotes/batch ---- */

START_TEST(batch_creates_all_in_the_order_sent)
{
        const json_t *items;

        call("POST", "/quotes/batch",
             "{\"quotes\": [{\"quote_id\": \"z\", \"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
             " \"source_bid_price\": 1, \"source_ask_price\": 2, \"bid_price\": \"1.10\"},"
             " {\"symbol_src\": \"X\", \"symbol_dst\": \"Y\", \"source_bid_price\": 3,"
             " \"source_ask_price\": 4},"
             " {\"quote_id\": \"a\", \"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
             " \"source_bid_price\": 5, \"source_ask_price\": 6}]}");
        expect_json(201);
        ck_assert_int_eq(json_object_size(resp.json), 1);
        items = json_object_get(resp.json, "items");
        ck_assert_int_eq(json_array_size(items), 3);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "quote_id")),
                         "z");
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "bid_price")),
                         "1.1");
        ck_assert_int_eq(
                strlen(json_string_value(json_object_get(json_array_get(items, 1), "quote_id"))),
                36);
        ck_assert_str_eq(
                json_string_value(json_object_get(json_array_get(items, 1), "source_bid_price")),
                "3");
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 2), "quote_id")),
                         "a");
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 2), "status")),
                         "active");
        ck_assert_int_eq(quote_count(), 3);
        ck_assert_int_eq(db_int("SELECT count(*) FROM outbox"), 0);
}
END_TEST

START_TEST(batch_with_invalid_items_names_each_and_stores_nothing)
{
        call("POST", "/quotes/batch",
             "{\"quotes\": [{\"quote_id\": \"ok\", \"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
             " \"source_bid_price\": 1, \"source_ask_price\": 2},"
             " {\"quote_id\": \"b1\", \"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
             " \"source_bid_price\": 1, \"source_ask_price\": 2, \"bid_price\": \"0\"},"
             " {\"quote_id\": \"b2\", \"symbol_dst\": \"Y\", \"source_bid_price\": \"+1\","
             " \"source_ask_price\": 2, \"created_at\": 1, \"colour\": \"red\"},"
             " 7]}");
        expect_problem(400, ERRORS("quotes[1].bid_price", "quotes[2].symbol_src",
                                   "quotes[2].source_bid_price", "quotes[2].created_at",
                                   "quotes[2].colour", "quotes[3]"));
        ck_assert_int_eq(quote_count(), 0);
}
END_TEST

START_TEST(batch_envelope_must_hold_1_to_1000_quotes)
{
        char *body;
        size_t n = 0, cap = 1001 * 120 + 32;

        call("POST", "/quotes/batch", "{}");
        expect_problem(400, ERRORS("quotes"));
        call("POST", "/quotes/batch", NULL);
        expect_problem(400, ERRORS("quotes"));
        call("POST", "/quotes/batch", "{\"quotes\": []}");
        expect_problem(400, ERRORS("quotes"));
        call("POST", "/quotes/batch", "{\"quotes\": {}}");
        expect_problem(400, ERRORS("quotes"));
        call("POST", "/quotes/batch", "{\"quotes\": [], \"atomic\": true}");
        expect_problem(400, ERRORS("quotes", "atomic"));
        body = malloc(cap);
        ck_assert_ptr_nonnull(body);
        n += (size_t)snprintf(body, cap, "{\"quotes\": [");
        for (int i = 0; i < 1001; i++)
                n += (size_t)snprintf(body + n, cap - n,
                                      "%s{\"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
                                      " \"source_bid_price\": 1, \"source_ask_price\": 2}",
                                      i ? "," : "");
        snprintf(body + n, cap - n, "]}");
        call("POST", "/quotes/batch", body);
        free(body);
        expect_problem(400, ERRORS("quotes"));
        ck_assert_int_eq(quote_count(), 0);
        batch_range(0, 1000);
        ck_assert_int_eq(json_array_size(json_object_get(resp.json, "items")), 1000);
        ck_assert_int_eq(quote_count(), 1000);
}
END_TEST

START_TEST(batch_repeating_a_stored_id_with_other_content_is_409_and_stores_nothing)
{
        create_min("old");
        call("POST", "/quotes/batch",
             "{\"quotes\": [{\"quote_id\": \"new\", \"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
             " \"source_bid_price\": 1, \"source_ask_price\": 2},"
             " {\"quote_id\": \"old\", \"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
             " \"source_bid_price\": 1, \"source_ask_price\": 2}]}");
        expect_problem(409, ERRORS("quotes[1].quote_id"));
        ck_assert_int_eq(quote_count(), 1);
        call("GET", "/quotes/new", NULL);
        expect_problem(404, NULL);
        call("GET", "/quotes/old", NULL);
        ck_assert_str_eq(field("symbol_src"), "BTC/USDT");
}
END_TEST

START_TEST(batch_repeating_an_id_within_it_with_other_content_is_409)
{
        call("POST", "/quotes/batch",
             "{\"quotes\": [{\"quote_id\": \"q\", \"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
             " \"source_bid_price\": 1, \"source_ask_price\": 2},"
             " {\"quote_id\": \"q\", \"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
             " \"source_bid_price\": 1, \"source_ask_price\": 3}]}");
        expect_problem(409, ERRORS("quotes[1].quote_id"));
        ck_assert_int_eq(quote_count(), 0);
}
END_TEST

START_TEST(batch_repeating_an_id_with_the_same_content_returns_one_quote_twice)
{
        const json_t *items;

        call("POST", "/quotes/batch",
             "{\"quotes\": [{\"quote_id\": \"q\", \"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
             " \"source_bid_price\": 1, \"source_ask_price\": 2},"
             " {\"quote_id\": \"q\", \"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
             " \"source_bid_price\": \"1.0\", \"source_ask_price\": 2.0}]}");
        expect_json(201);
        items = json_object_get(resp.json, "items");
        ck_assert_int_eq(json_array_size(items), 2);
        ck_assert(json_equal(json_array_get(items, 0), json_array_get(items, 1)));
        ck_assert_int_eq(quote_count(), 1);
}
END_TEST

START_TEST(batch_returns_stored_quotes_as_stored)
{
        char created[40];
        const json_t *first;

        create_min("old");
        snprintf(created, sizeof(created), "%s", field("created_at"));
        call("PATCH", "/quotes/old", "{\"status\": \"expired\"}");
        expect_json(200);
        callf("POST", "/quotes/batch", "{\"quotes\": [" MIN_QUOTE ", " MIN_QUOTE "]}", "old",
              "new");
        expect_json(201);
        first = json_array_get(json_object_get(resp.json, "items"), 0);
        ck_assert_str_eq(json_string_value(json_object_get(first, "status")), "expired");
        ck_assert_str_eq(json_string_value(json_object_get(first, "created_at")), created);
        ck_assert_int_eq(quote_count(), 2);
}
END_TEST

/* ---- POST /quotes/expire ---- */

static void
make_symbol_grid(void)
{
        static const char *const q[][3] = {
                { "a", "S1", "D1" }, { "b", "S1", "D2" }, { "c", "S2", "D1" },
                { "d", "S2", "D2" }, { "e", "S1", "D1" },
        };

        for (size_t i = 0; i < N_ELEMS(q); i++) {
                callf("POST", "/quotes",
                      "{\"quote_id\": \"%s\", \"symbol_src\": \"%s\", \"symbol_dst\": \"%s\","
                      " \"source_bid_price\": 1, \"source_ask_price\": 2}",
                      q[i][0], q[i][1], q[i][2]);
                expect_json(201);
        }
        call("PATCH", "/quotes/e", "{\"status\": \"cancelled\"}");
        expect_json(200);
}

START_TEST(expire_ends_every_matching_active_quote)
{
        static const struct {
                const char *body;
                int expired;
                const char *active; /* ids still active afterwards */
        } cases[] = {
                { "{\"symbol_src\": \"S1\", \"symbol_dst\": \"D1\"}", 1, "d,c,b" },
                { "{\"symbol_src\": \"S1\"}", 1, "d,c" },
                { "{\"symbol_dst\": \"D1\"}", 1, "d" },
                { "{\"symbol_dst\": \"D9\"}", 0, "d" },
                { NULL, 1, "" },
                { "{}", 0, "" },
        };

        make_symbol_grid();
        for (size_t i = 0; i < N_ELEMS(cases); i++) {
                call("POST", "/quotes/expire", cases[i].body);
                expect_json(200);
                ck_assert_int_eq(json_object_size(resp.json), 1);
                ck_assert_int_eq(json_integer_value(json_object_get(resp.json, "expired")),
                                 cases[i].expired);
                expect_ids("/quotes?status=active", cases[i].active);
        }
        expect_ids("/quotes?status=cancelled", "e");
        expect_ids("/quotes?status=expired", "d,c,b,a");
        ck_assert_int_eq(db_int("SELECT count(*) FROM quotes WHERE status = 'expired'"
                                " AND updated_at = created_at"),
                         0);
        ck_assert_int_eq(db_int("SELECT count(*) FROM outbox"), 0);
}
END_TEST

START_TEST(expire_counts_active_quotes_past_expires_at_too)
{
        call("POST", "/quotes",
             "{\"symbol_src\": \"X\", \"symbol_dst\": \"Y\", \"source_bid_price\": 1,"
             " \"source_ask_price\": 2, \"expires_at\": 0}");
        expect_json(201);
        call("POST", "/quotes/expire", "{}");
        expect_json(200);
        ck_assert_int_eq(json_integer_value(json_object_get(resp.json, "expired")), 1);
}
END_TEST

START_TEST(expire_rejects_bad_fields_and_changes_nothing)
{
        make_symbol_grid();
        call("POST", "/quotes/expire", "{\"symbol\": \"S1\", \"symbol_dst\": \"no way\"}");
        expect_problem(400, ERRORS("symbol", "symbol_dst"));
        call("POST", "/quotes/expire", "{\"symbol_src\": 1}");
        expect_problem(400, ERRORS("symbol_src"));
        call("POST", "/quotes/expire?all=1", "{}");
        expect_problem(400, ERRORS("all"));
        expect_ids("/quotes?status=active", "d,c,b,a");
}
END_TEST

/* ---- query plans ---- */

/* Appends the EXPLAIN QUERY PLAN details of sql to plan (one per line). */
static void
explain(sqlite3 *db, const char *sql, char *plan, size_t cap)
{
        char *eqp = NULL;
        sqlite3_stmt *st = NULL;
        size_t n = 0;

        ck_assert_int_ge(asprintf(&eqp, "EXPLAIN QUERY PLAN %s", sql), 0);
        ck_assert_msg(sqlite3_prepare_v2(db, eqp, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                      sqlite3_errmsg(db));
        plan[0] = '\0';
        while (sqlite3_step(st) == SQLITE_ROW)
                n += (size_t)snprintf(plan + n, n < cap ? cap - n : 0, "%s\n",
                                      (const char *)sqlite3_column_text(st, 3));
        sqlite3_finalize(st);
        free(eqp);
}

/* True when the schema has index name. */
static bool
has_index(sqlite3 *db, const char *name)
{
        sqlite3_stmt *st = NULL;
        bool found;

        ck_assert_int_eq(sqlite3_prepare_v2(db,
                                            "SELECT 1 FROM sqlite_master WHERE type = 'index'"
                                            " AND name = ?1",
                                            -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        return found;
}

/* Asserts that no line of plan scans quotes without an index. */
static void
expect_no_full_scan(const char *sql, const char *plan)
{
        for (const char *p = plan; (p = strstr(p, "SCAN ")) != NULL; p++) {
                const char *eol = strchr(p, '\n');
                const char *using = strstr(p, " USING ");

                ck_assert_msg(using != NULL && (eol == NULL || using < eol),
                              "full scan in the plan of %s:\n%s", sql, plan);
        }
}

START_TEST(every_list_query_is_served_by_an_index)
{
        sqlite3 *db = NULL;
        size_t n = 0;
        const char *const *sqls = repo_quotes_list_sql(&n);
        char plan[2048];
        bool sym_indexes;

        ck_assert_int_eq(n, 12);
        if (h.postgres) {
                harness_assert_indexed(&h, sqls, n); /* no Seq Scan, no Sort */
                return;
        }
        ck_assert_int_eq(sqlite3_open_v2(h.db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        /* A symbol filter without status sorts unless these (proposed)
         * indexes exist; with them no list query may sort. */
        sym_indexes = has_index(db, "idx_quotes_symbol_src_created") &&
                      has_index(db, "idx_quotes_symbol_dst_created");
        ck_assert_int_eq(n, 12);
        for (size_t i = 0; i < n; i++) {
                bool by_status = strstr(sqls[i], "status =") != NULL;
                bool by_symbol = strstr(sqls[i], "symbol_src =") != NULL ||
                                 strstr(sqls[i], "symbol_dst =") != NULL;

                explain(db, sqls[i], plan, sizeof(plan));
                expect_no_full_scan(sqls[i], plan);
                ck_assert_msg(strstr(plan, "SEARCH quotes USING") != NULL, "%s:\n%s", sqls[i],
                              plan);
                if (by_status || !by_symbol || sym_indexes)
                        ck_assert_msg(strstr(plan, "TEMP B-TREE") == NULL, "sorts rows for %s:\n%s",
                                      sqls[i], plan);
        }
        sqlite3_close(db);
}
END_TEST

START_TEST(hot_active_by_symbol_dst_query_searches_its_index_without_sorting)
{
        sqlite3 *db = NULL;
        size_t n = 0;
        const char *const *sqls = repo_quotes_list_sql(&n);
        const char *hot = NULL;
        char plan[2048];

        for (size_t i = 0; i < n; i++)
                if (strstr(sqls[i], "status = 'active'") && strstr(sqls[i], "symbol_dst =") &&
                    !strstr(sqls[i], "symbol_src ="))
                        hot = sqls[i];
        ck_assert_ptr_nonnull(hot);
        if (h.postgres) {
                /* PostgreSQL chooses among the symbol_dst indexes by cost. */
                harness_assert_indexed(&h, &hot, 1);
                return;
        }
        ck_assert_int_eq(sqlite3_open_v2(h.db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        explain(db, hot, plan, sizeof(plan));
        ck_assert_msg(strstr(plan, "SEARCH quotes USING INDEX idx_quotes_symbol_dst (symbol_dst=? "
                                   "AND status=? AND (created_at,quote_id)<(?,?))") != NULL,
                      "%s", plan);
        ck_assert_msg(strstr(plan, "TEMP B-TREE") == NULL, "%s", plan);
        sqlite3_close(db);
}
END_TEST

START_TEST(every_expire_update_is_served_by_an_index)
{
        sqlite3 *db = NULL;
        size_t n = 0;
        const char *const *sqls = repo_quotes_expire_sql(&n);
        char plan[2048];

        ck_assert_int_eq(n, 4);
        if (h.postgres) {
                harness_assert_indexed(&h, sqls, n);
                return;
        }
        ck_assert_int_eq(sqlite3_open_v2(h.db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        for (size_t i = 0; i < n; i++) {
                explain(db, sqls[i], plan, sizeof(plan));
                expect_no_full_scan(sqls[i], plan);
                ck_assert_msg(strstr(plan, "SEARCH quotes USING") != NULL, "%s:\n%s", sqls[i],
                              plan);
        }
        sqlite3_close(db);
}
END_TEST

static Suite *
quotes_suite(void)
{
        Suite *s = suite_create("quotes");
        TCase *create = tcase_create("create");
        TCase *read = tcase_create("read");
        TCase *change = tcase_create("change");
        TCase *batch = tcase_create("batch");
        TCase *plans = tcase_create("plans");
        TCase *all[] = { create, read, change, batch, plans };

        for (size_t i = 0; i < N_ELEMS(all); i++) {
                tcase_add_checked_fixture(all[i], setup, teardown);
                tcase_set_timeout(all[i], 120);
                suite_add_tcase(s, all[i]);
        }
        tcase_add_test(create, create_returns_201_with_every_field);
        tcase_add_test(create, create_without_optionals_makes_an_id_and_returns_nulls);
        tcase_add_test(create, create_accepts_status_active_only);
        tcase_add_test(create, create_without_required_fields_names_each);
        tcase_add_test(create, create_reports_every_invalid_field_at_once);
        tcase_add_test(create, create_rejects_unknown_and_read_only_fields);
        tcase_add_test(create, create_parses_decimals_exactly);
        tcase_add_test(create, create_spread_bps_is_any_decimal);
        tcase_add_test(create, create_repeat_with_same_content_is_200_and_changes_nothing);
        tcase_add_test(create, create_repeat_returns_the_quote_as_it_is_now);
        tcase_add_test(create, create_repeat_with_other_content_is_409_and_changes_nothing);
        tcase_add_test(create, create_needs_json_content_type);
        tcase_add_test(read, get_unknown_quote_is_404);
        tcase_add_test(read, list_is_newest_first_and_filters);
        tcase_add_test(read, list_active_excludes_quotes_past_expires_at);
        tcase_add_test(read, list_rejects_bad_query_parameters);
        tcase_add_test(read, pagination_visits_every_quote_once_while_quotes_are_added);
        tcase_add_test(read, full_last_page_carries_a_cursor_to_an_empty_page);
        tcase_add_test(change, patch_ends_an_active_quote);
        tcase_add_test(change, patch_from_a_final_status_is_409_and_changes_nothing);
        tcase_add_test(change, patch_rejects_other_values_and_fields);
        tcase_add_test(change, patch_unknown_quote_is_404);
        tcase_add_test(change, delete_removes_the_quote);
        tcase_add_test(change, delete_while_an_order_references_it_is_409);
        tcase_add_test(change, delete_maps_a_foreign_key_violation_to_409);
        tcase_add_test(change, expire_ends_every_matching_active_quote);
        tcase_add_test(change, expire_counts_active_quotes_past_expires_at_too);
        tcase_add_test(change, expire_rejects_bad_fields_and_changes_nothing);
        tcase_add_test(batch, batch_creates_all_in_the_order_sent);
        tcase_add_test(batch, batch_with_invalid_items_names_each_and_stores_nothing);
        tcase_add_test(batch, batch_envelope_must_hold_1_to_1000_quotes);
        tcase_add_test(batch,
                       batch_repeating_a_stored_id_with_other_content_is_409_and_stores_nothing);
        tcase_add_test(batch, batch_repeating_an_id_within_it_with_other_content_is_409);
        tcase_add_test(batch, batch_repeating_an_id_with_the_same_content_returns_one_quote_twice);
        tcase_add_test(batch, batch_returns_stored_quotes_as_stored);
        tcase_add_test(plans, every_list_query_is_served_by_an_index);
        tcase_add_test(plans, hot_active_by_symbol_dst_query_searches_its_index_without_sorting);
        tcase_add_test(plans, every_expire_update_is_served_by_an_index);
        return s;
}

int
main(void)
{
        return harness_run_suite(quotes_suite());
}
