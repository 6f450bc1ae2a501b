/* HTTP tests of the /orders endpoints (../shared/API.md, Orders, and the
 * Conventions they rely on), against the real server on a fresh database
 * per test.
 *
 * The quotes endpoints are written elsewhere, so quotes are inserted and
 * inspected directly with SQL on the server's database (harness_sql_*, on
 * either backend); the outbox is read the same way. Fills are
 * simulated by setting an order's status directly. */
#include "repo/orders.h"
#include "tests/harness.h"

#include <check.h>
#include <pthread.h>
#include <sqlite3.h> /* the SQLite query plans */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1764169200000000LL /* 2025-11-26T15:00:00Z in microseconds */
#define SEC 1000000LL
#define FAR_FUTURE 253402300799000000LL

static struct harness h;

static void
setup(void)
{
        harness_init(&h);
        harness_start(&h);
}

static void
teardown(void)
{
        harness_stop(&h);
}

/* ---- database helpers ---- */

static void
db_exec(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        harness_sql_vexec(&h, fmt, ap);
        va_end(ap);
}

/* The first column of the first row as an integer (0 when no row). */
static long long
db_int(const char *fmt, ...)
{
        long long v;
        va_list ap;

        va_start(ap, fmt);
        v = (long long)harness_sql_vint(&h, fmt, ap);
        va_end(ap);
        return v;
}

/* The first column of the first row as text into buf ("(none)" / "(null)"). */
static const char *
db_text(char *buf, size_t cap, const char *fmt, ...)
{
        enum harness_sql_found f;
        va_list ap;

        va_start(ap, fmt);
        f = harness_sql_vtext(&h, buf, cap, fmt, ap);
        va_end(ap);
        if (f != HARNESS_SQL_VALUE)
                snprintf(buf, cap, "%s", f == HARNESS_SQL_NONE ? "(none)" : "(null)");
        return buf;
}

/* Inserts a quote; expires_at 0 means none. */
static void
insert_quote(const char *id, const char *status, long long expires_at)
{
        if (expires_at != 0)
                db_exec("INSERT INTO quotes (quote_id, symbol_src, symbol_dst, source_bid_price,"
                        " source_ask_price, status, created_at, updated_at, expires_at)"
                        " VALUES (%Q, 'BTCUSDT', 'BTCUSDC', 100, 101, %Q, %lld, %lld, %lld)",
                        id, status, T0, T0, expires_at);
        else
                db_exec("INSERT INTO quotes (quote_id, symbol_src, symbol_dst, source_bid_price,"
                        " source_ask_price, status, created_at, updated_at)"
                        " VALUES (%Q, 'BTCUSDT', 'BTCUSDC', 100, 101, %Q, %lld, %lld)",
                        id, status, T0, T0);
}

static long long
count_events(const char *type, const char *aggregate_id)
{
        return db_int("SELECT count(*) FROM outbox WHERE event_type = %Q AND aggregate_id = %Q",
                      type, aggregate_id);
}

static long long
count_all_events(void)
{
        return db_int("SELECT count(*) FROM outbox");
}

static long long
count_orders(void)
{
        return db_int("SELECT count(*) FROM orders");
}

/* The payload of the n-th (0-based) event of type for aggregate_id, parsed. */
static json_t *
event_payload(const char *type, const char *aggregate_id, int n)
{
        char buf[4096];
        json_t *j;

        db_text(buf, sizeof(buf),
                "SELECT payload FROM outbox WHERE event_type = %Q AND aggregate_id = %Q"
                " ORDER BY seq LIMIT 1 OFFSET %d",
                type, aggregate_id, n);
        j = json_loads(buf, 0, NULL);
        ck_assert_msg(j != NULL, "payload is not JSON: %s", buf);
        return j;
}

/* ---- HTTP helpers ---- */

static long
call(const char *method, const char *path, const char *body, struct http_resp *r)
{
        return http_json(&h, method, path, body, r);
}

static void
expect(long want, const struct http_resp *r, const char *what)
{
        ck_assert_msg(r->status == want, "%s: status %ld, want %ld: %s", what, r->status, want,
                      r->body ? r->body : "");
        ck_assert_ptr_nonnull(r->json);
        if (want >= 400) {
                ck_assert_str_eq(r->ctype, "application/problem+json");
                ck_assert_int_eq(json_integer_value(json_object_get(r->json, "status")), want);
                ck_assert_ptr_nonnull(json_string_value(json_object_get(r->json, "detail")));
        } else {
                ck_assert_str_eq(r->ctype, "application/json");
        }
}

static bool
has_error(const struct http_resp *r, const char *field)
{
        json_t *errs = json_object_get(r->json, "errors");
        size_t i;
        json_t *e;

        json_array_foreach(errs, i, e)
        {
                if (strcmp(json_string_value(json_object_get(e, "field")), field) == 0)
                        return true;
        }
        return false;
}

static void
expect_400(const struct http_resp *r, const char *field, const char *what)
{
        expect(400, r, what);
        ck_assert_msg(has_error(r, field), "%s: no error for %s: %s", what, field, r->body);
}

static const char *
str(const struct http_resp *r, const char *key)
{
        json_t *v = json_object_get(r->json, key);

        ck_assert_msg(v != NULL, "no %s in %s", key, r->body);
        return json_is_null(v) ? "(null)" : json_string_value(v);
}

/* POSTs a limit buy of 1 at 100 with id and the extra members (",..."). */
static long
post_order(const char *id, const char *extra, struct http_resp *r)
{
        char body[1024];

        snprintf(body, sizeof(body),
                 "{\"order_id\": \"%s\", \"symbol\": \"BTCUSDT\", \"side\": \"buy\","
                 " \"type\": \"limit\", \"quantity\": \"1\", \"price\": \"100\"%s}",
                 id, extra ? extra : "");
        return call("POST", "/orders", body, r);
}

static void
create_order(const char *id, const char *extra)
{
        struct http_resp r;

        post_order(id, extra, &r);
        expect(201, &r, id);
        http_resp_clear(&r);
}

static long
patch(const char *id, const char *body, struct http_resp *r)
{
        char path[160];

        snprintf(path, sizeof(path), "/orders/%s", id);
        return call("PATCH", path, body, r);
}

static long
get_order(const char *id, struct http_resp *r)
{
        char path[160];

        snprintf(path, sizeof(path), "/orders/%s", id);
        return call("GET", path, NULL, r);
}

static const char *
stored_status(const char *id, char *buf, size_t cap)
{
        return db_text(buf, cap, "SELECT status FROM orders WHERE order_id = %Q", id);
}

/* ---- POST /orders ---- */

START_TEST(create_returns_201_with_every_field_and_server_defaults)
{
        struct http_resp r;

        call("POST", "/orders",
             "{\"order_id\": \"o-1\", \"symbol\": \"BTC/USDT\", \"side\": \"sell\","
             " \"type\": \"limit_maker\", \"quantity\": 1.5, \"price\": \"100.50\"}",
             &r);
        expect(201, &r, "create");
        ck_assert_str_eq(str(&r, "order_id"), "o-1");
        ck_assert_str_eq(str(&r, "quote_id"), "(null)");
        ck_assert_str_eq(str(&r, "symbol"), "BTC/USDT");
        ck_assert_str_eq(str(&r, "side"), "sell");
        ck_assert_str_eq(str(&r, "type"), "limit_maker");
        ck_assert_str_eq(str(&r, "quantity"), "1.5");
        ck_assert_str_eq(str(&r, "price"), "100.5");
        ck_assert_str_eq(str(&r, "status"), "pending");
        ck_assert_str_eq(str(&r, "external_order_id"), "(null)");
        ck_assert_str_eq(str(&r, "filled_quantity"), "0");
        ck_assert_str_eq(str(&r, "avg_fill_price"), "(null)");
        ck_assert_int_eq(strlen(str(&r, "created_at")), strlen("2026-11-26T15:00:00.123456Z"));
        ck_assert_str_eq(str(&r, "created_at"), str(&r, "updated_at"));
        ck_assert_int_eq(json_object_size(r.json), 13); /* fill_notional stays internal */
        ck_assert_int_eq(db_int("SELECT quantity FROM orders WHERE order_id = 'o-1'"), 150000000);
        http_resp_clear(&r);
}
END_TEST

START_TEST(create_without_order_id_gets_a_uuidv7)
{
        struct http_resp r;
        const char *id;

        call("POST", "/orders",
             "{\"symbol\": \"ETHUSDT\", \"side\": \"buy\", \"type\": \"market\","
             " \"quantity\": \"2\"}",
             &r);
        expect(201, &r, "create");
        id = str(&r, "order_id");
        ck_assert_int_eq(strlen(id), 36);
        ck_assert_int_eq(id[14], '7');
        ck_assert_int_eq(db_int("SELECT count(*) FROM orders WHERE order_id = %Q", id), 1);
        http_resp_clear(&r);
}
END_TEST

START_TEST(create_status_may_be_pending_or_open_only)
{
        static const struct {
                const char *status;
                long code;
                const char *stored;
        } cases[] = {
                { "\"pending\"", 201, "pending" }, { "\"open\"", 201, "open" },
                { "null", 201, "pending" },        { "\"partially_filled\"", 400, NULL },
                { "\"filled\"", 400, NULL },       { "\"cancelled\"", 400, NULL },
                { "\"rejected\"", 400, NULL },     { "\"expired\"", 400, NULL },
                { "\"OPEN\"", 400, NULL },         { "1", 400, NULL },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct http_resp r;
                char id[32], extra[64], buf[32];

                snprintf(id, sizeof(id), "s-%zu", i);
                snprintf(extra, sizeof(extra), ", \"status\": %s", cases[i].status);
                post_order(id, extra, &r);
                if (cases[i].code == 201) {
                        expect(201, &r, cases[i].status);
                        ck_assert_str_eq(str(&r, "status"), cases[i].stored);
                        ck_assert_str_eq(stored_status(id, buf, sizeof(buf)), cases[i].stored);
                } else {
                        expect_400(&r, "status", cases[i].status);
                        ck_assert_int_eq(
                                db_int("SELECT count(*) FROM orders WHERE order_id = %Q", id), 0);
                }
                http_resp_clear(&r);
        }
}
END_TEST

START_TEST(price_is_required_for_limit_types_and_absent_for_market)
{
        static const struct {
                const char *type, *price; /* price NULL: not sent */
                long code;
                const char *stored_price;
        } cases[] = {
                { "market", NULL, 201, "(null)" },
                { "market", "null", 201, "(null)" },
                { "market", "\"100\"", 400, NULL },
                { "market", "0", 400, NULL },
                { "limit", "\"100.25\"", 201, "100.25" },
                { "limit", "99", 201, "99" },
                { "limit", NULL, 400, NULL },
                { "limit", "null", 400, NULL },
                { "limit", "\"0\"", 400, NULL },
                { "limit", "\"-1\"", 400, NULL },
                { "limit", "\"1.000000001\"", 400, NULL },
                { "limit", "\"1e2\"", 400, NULL },
                { "limit", "true", 400, NULL },
                { "limit_maker", "\"0.00000001\"", 201, "0.00000001" },
                { "limit_maker", NULL, 400, NULL },
                { "limit_maker", "\"-0.5\"", 400, NULL },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct http_resp r;
                char body[256], id[32], what[64];

                snprintf(id, sizeof(id), "p-%zu", i);
                snprintf(what, sizeof(what), "%s price %s", cases[i].type,
                         cases[i].price ? cases[i].price : "absent");
                snprintf(body, sizeof(body),
                         "{\"order_id\": \"%s\", \"symbol\": \"BTCUSDT\", \"side\": \"buy\","
                         " \"type\": \"%s\", \"quantity\": \"1\"%s%s}",
                         id, cases[i].type, cases[i].price ? ", \"price\": " : "",
                         cases[i].price ? cases[i].price : "");
                call("POST", "/orders", body, &r);
                if (cases[i].code == 201) {
                        expect(201, &r, what);
                        ck_assert_str_eq(str(&r, "price"), cases[i].stored_price);
                } else {
                        expect_400(&r, "price", what);
                        ck_assert_int_eq(count_orders(), db_int("SELECT count(*) FROM orders"
                                                                " WHERE order_id <> %Q",
                                                                id));
                }
                http_resp_clear(&r);
        }
}
END_TEST

START_TEST(quantity_must_be_a_positive_exact_decimal)
{
        static const char *const bad[] = { "0",        "\"0\"",           "-1",
                                           "\"-0.1\"", "\"1.123456789\"", "\"abc\"",
                                           "\"+1\"",   "\".5\"",          "\"92233720369\"",
                                           "[]" };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct http_resp r;
                char body[256];

                snprintf(body, sizeof(body),
                         "{\"symbol\": \"BTCUSDT\", \"side\": \"buy\", \"type\": \"market\","
                         " \"quantity\": %s}",
                         bad[i]);
                call("POST", "/orders", body, &r);
                expect_400(&r, "quantity", bad[i]);
                http_resp_clear(&r);
        }
        ck_assert_int_eq(count_orders(), 0);
        ck_assert_int_eq(count_all_events(), 0);
}
END_TEST

START_TEST(every_invalid_field_is_reported_at_once)
{
        static const char *const fields[] = { "order_id",  "quote_id",   "symbol",
                                              "side",      "type",       "quantity",
                                              "status",    "unexpected", "external_order_id",
                                              "created_at" };
        struct http_resp r;

        call("POST", "/orders",
             "{\"order_id\": \"bad id\", \"quote_id\": \"\", \"symbol\": \"BTC USDT\","
             " \"side\": \"hold\", \"type\": \"stop\", \"quantity\": \"0\","
             " \"status\": \"filled\", \"unexpected\": 1, \"external_order_id\": \"\","
             " \"created_at\": \"2025-11-26T15:00:00Z\"}",
             &r);
        expect(400, &r, "many invalid");
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
                ck_assert_msg(has_error(&r, fields[i]), "no error for %s: %s", fields[i], r.body);
        ck_assert_int_eq(count_orders(), 0);
        http_resp_clear(&r);
}
END_TEST

START_TEST(missing_required_fields_are_each_named)
{
        static const char *const fields[] = { "symbol", "side", "type", "quantity" };
        struct http_resp r;

        call("POST", "/orders", "{}", &r);
        expect(400, &r, "empty object");
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
                ck_assert_msg(has_error(&r, fields[i]), "no error for %s", fields[i]);
        http_resp_clear(&r);
}
END_TEST

START_TEST(read_only_fields_are_400_on_create_and_patch)
{
        static const char *const fields[] = { "filled_quantity", "avg_fill_price", "created_at",
                                              "updated_at" };

        create_order("ro", NULL);
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
                struct http_resp r;
                char extra[128], body[128];

                snprintf(extra, sizeof(extra), ", \"%s\": \"1\"", fields[i]);
                post_order("ro-new", extra, &r);
                expect_400(&r, fields[i], fields[i]);
                http_resp_clear(&r);
                snprintf(body, sizeof(body), "{\"status\": \"open\", \"%s\": null}", fields[i]);
                patch("ro", body, &r);
                expect_400(&r, fields[i], fields[i]);
                http_resp_clear(&r);
        }
        ck_assert_int_eq(count_orders(), 1);
        ck_assert_int_eq(db_int("SELECT count(*) FROM orders WHERE status = 'pending'"), 1);
        ck_assert_int_eq(count_all_events(), 1);
}
END_TEST

START_TEST(fill_notional_is_not_a_field)
{
        struct http_resp r;

        post_order("fn", ", \"fill_notional\": \"0\"", &r);
        expect_400(&r, "fill_notional", "fill_notional");
        http_resp_clear(&r);
}
END_TEST

/* ---- idempotent create ---- */

START_TEST(repeating_a_create_returns_200_with_the_stored_order_and_no_second_event)
{
        struct http_resp first, again;

        post_order("idem", ", \"external_order_id\": \"X-1\"", &first);
        expect(201, &first, "first");
        /* same content after parsing: number vs string, trailing zeros, explicit
         * default status */
        call("POST", "/orders",
             "{\"order_id\": \"idem\", \"symbol\": \"BTCUSDT\", \"side\": \"buy\","
             " \"type\": \"limit\", \"quantity\": 1, \"price\": \"100.000\","
             " \"status\": \"pending\", \"external_order_id\": \"X-1\"}",
             &again);
        expect(200, &again, "repeat");
        ck_assert(json_equal(first.json, again.json));
        ck_assert_int_eq(count_orders(), 1);
        ck_assert_int_eq(count_events("order_created", "idem"), 1);
        ck_assert_int_eq(count_all_events(), 1);
        http_resp_clear(&first);
        http_resp_clear(&again);
}
END_TEST

START_TEST(repeating_a_create_after_changes_returns_the_order_as_it_is_now)
{
        struct http_resp r;

        create_order("later", NULL);
        patch("later", "{\"status\": \"open\", \"external_order_id\": \"EX-9\"}", &r);
        expect(200, &r, "patch");
        http_resp_clear(&r);
        post_order("later", NULL, &r);
        expect(200, &r, "repeat");
        ck_assert_str_eq(str(&r, "status"), "open");
        ck_assert_str_eq(str(&r, "external_order_id"), "EX-9");
        ck_assert_int_eq(count_events("order_created", "later"), 1);
        ck_assert_int_eq(count_events("order_updated", "later"), 1);
        http_resp_clear(&r);
}
END_TEST

/* An order's stored fields as one text, NULLs shown (portable SQL). */
#define ORDER_ROW                                                                                  \
        "symbol || '|' || side || '|' || type || '|' || quantity || '|' ||"                        \
        " coalesce(CAST(price AS TEXT), '-') || '|' || status || '|' ||"                           \
        " coalesce(external_order_id, '-') || '|' || coalesce(quote_id, '-') || '|' || updated_at"

START_TEST(same_order_id_with_other_content_is_409_and_changes_nothing)
{
        static const char *const others[] = {
                "{\"order_id\": \"dup\", \"symbol\": \"ETHUSDT\", \"side\": \"buy\","
                " \"type\": \"limit\", \"quantity\": \"1\", \"price\": \"100\"}",
                "{\"order_id\": \"dup\", \"symbol\": \"BTCUSDT\", \"side\": \"sell\","
                " \"type\": \"limit\", \"quantity\": \"1\", \"price\": \"100\"}",
                "{\"order_id\": \"dup\", \"symbol\": \"BTCUSDT\", \"side\": \"buy\","
                " \"type\": \"limit_maker\", \"quantity\": \"1\", \"price\": \"100\"}",
                "{\"order_id\": \"dup\", \"symbol\": \"BTCUSDT\", \"side\": \"buy\","
                " \"type\": \"limit\", \"quantity\": \"1.00000001\", \"price\": \"100\"}",
                "{\"order_id\": \"dup\", \"symbol\": \"BTCUSDT\", \"side\": \"buy\","
                " \"type\": \"limit\", \"quantity\": \"1\", \"price\": \"101\"}",
                "{\"order_id\": \"dup\", \"symbol\": \"BTCUSDT\", \"side\": \"buy\","
                " \"type\": \"market\", \"quantity\": \"1\"}",
                "{\"order_id\": \"dup\", \"symbol\": \"BTCUSDT\", \"side\": \"buy\","
                " \"type\": \"limit\", \"quantity\": \"1\", \"price\": \"100\","
                " \"status\": \"open\"}",
                "{\"order_id\": \"dup\", \"symbol\": \"BTCUSDT\", \"side\": \"buy\","
                " \"type\": \"limit\", \"quantity\": \"1\", \"price\": \"100\","
                " \"external_order_id\": \"E\"}",
                "{\"order_id\": \"dup\", \"symbol\": \"BTCUSDT\", \"side\": \"buy\","
                " \"type\": \"limit\", \"quantity\": \"1\", \"price\": \"100\","
                " \"quote_id\": \"q-dup\"}",
        };
        char before[512], after[512];

        insert_quote("q-dup", "active", 0);
        create_order("dup", NULL);
        db_text(before, sizeof(before), "SELECT " ORDER_ROW " FROM orders WHERE order_id = 'dup'");
        for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
                struct http_resp r;

                call("POST", "/orders", others[i], &r);
                expect(409, &r, others[i]);
                ck_assert(has_error(&r, "order_id"));
                http_resp_clear(&r);
        }
        db_text(after, sizeof(after), "SELECT " ORDER_ROW " FROM orders WHERE order_id = 'dup'");
        ck_assert_str_eq(before, after);
        ck_assert_int_eq(count_all_events(), 1);
        ck_assert_int_eq(db_int("SELECT count(*) FROM quotes WHERE status = 'active'"), 1);
}
END_TEST

/* ---- quotes ---- */

START_TEST(an_order_on_an_active_quote_marks_the_quote_used_in_the_same_write)
{
        struct http_resp r;
        json_t *payload;

        insert_quote("q-1", "active", FAR_FUTURE);
        post_order("oq", ", \"quote_id\": \"q-1\"", &r);
        expect(201, &r, "create with quote");
        ck_assert_str_eq(str(&r, "quote_id"), "q-1");
        ck_assert_int_eq(db_int("SELECT count(*) FROM quotes WHERE quote_id = 'q-1'"
                                " AND status = 'used' AND updated_at > %lld",
                                T0),
                         1);
        ck_assert_int_eq(db_int("SELECT count(*) FROM orders WHERE quote_id = 'q-1'"), 1);
        ck_assert_int_eq(count_events("order_created", "oq"), 1);
        payload = event_payload("order_created", "oq", 0);
        ck_assert(json_equal(payload, r.json));
        json_decref(payload);
        http_resp_clear(&r);

        /* a retry of the same create finds the quote used by this very order */
        post_order("oq", ", \"quote_id\": \"q-1\"", &r);
        expect(200, &r, "repeat");
        ck_assert_int_eq(count_events("order_created", "oq"), 1);
        http_resp_clear(&r);
}
END_TEST

/* The counter of batches rerun with a savepoint per job, from /metrics. */
static long
batch_reruns(void)
{
        struct http_resp r;
        const char *at;
        long n = -1;

        ck_assert_int_eq(http_json(&h, "GET", "/metrics", NULL, &r), 200);
        at = strstr(r.body, "\ntradestore_db_batch_reruns_total ");
        ck_assert_ptr_nonnull(at);
        sscanf(at, "\ntradestore_db_batch_reruns_total %ld", &n);
        http_resp_clear(&r);
        return n;
}

/* A refused order writes nothing at all, not even for a moment: its quote
 * is checked before the order is inserted. (Inserted first, a refusal
 * rolled back the whole group commit and ran it again, every job with a
 * savepoint: up to 512 jobs done twice for one client's mistake.) */
START_TEST(a_refused_quote_is_checked_before_writing_so_no_batch_is_rerun)
{
        static const char *const statuses[] = { "used", "expired", "cancelled" };
        struct http_resp r;
        long before = batch_reruns();

        for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
                char qid[32], extra[64];

                snprintf(qid, sizeof(qid), "q-pre-%s", statuses[i]);
                snprintf(extra, sizeof(extra), ", \"quote_id\": \"%s\"", qid);
                insert_quote(qid, statuses[i], FAR_FUTURE);
                post_order("o-pre", extra, &r);
                expect(409, &r, statuses[i]);
                http_resp_clear(&r);
        }
        insert_quote("q-pre-late", "active", 1); /* active, but past expires_at */
        post_order("o-pre", ", \"quote_id\": \"q-pre-late\"", &r);
        expect(409, &r, "expired by time");
        http_resp_clear(&r);
        ck_assert_int_eq(batch_reruns(), before);
        ck_assert_int_eq(count_orders(), 0);
}
END_TEST

START_TEST(a_quote_without_expiry_can_be_used)
{
        struct http_resp r;

        insert_quote("q-noexp", "active", 0);
        post_order("o-noexp", ", \"quote_id\": \"q-noexp\"", &r);
        expect(201, &r, "create");
        ck_assert_int_eq(db_int("SELECT count(*) FROM quotes WHERE status = 'used'"), 1);
        http_resp_clear(&r);
}
END_TEST

START_TEST(an_unknown_quote_is_422_and_writes_nothing)
{
        struct http_resp r;

        post_order("o-nq", ", \"quote_id\": \"no-such-quote\"", &r);
        expect(422, &r, "unknown quote");
        ck_assert(has_error(&r, "quote_id"));
        ck_assert_ptr_nonnull(strstr(str(&r, "detail"), "no-such-quote"));
        ck_assert_int_eq(count_orders(), 0);
        ck_assert_int_eq(count_all_events(), 0);
        http_resp_clear(&r);
}
END_TEST

START_TEST(a_used_expired_or_cancelled_quote_is_409_and_writes_nothing)
{
        static const char *const statuses[] = { "used", "expired", "cancelled" };

        for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
                struct http_resp r;
                char qid[32], extra[64], buf[32];

                snprintf(qid, sizeof(qid), "q-%s", statuses[i]);
                snprintf(extra, sizeof(extra), ", \"quote_id\": \"%s\"", qid);
                insert_quote(qid, statuses[i], FAR_FUTURE);
                post_order("o-bad-quote", extra, &r);
                expect(409, &r, statuses[i]);
                ck_assert(has_error(&r, "quote_id"));
                ck_assert_ptr_nonnull(strstr(str(&r, "detail"), statuses[i]));
                ck_assert_str_eq(db_text(buf, sizeof(buf),
                                         "SELECT status FROM quotes WHERE quote_id = %Q", qid),
                                 statuses[i]);
                ck_assert_int_eq(db_int("SELECT updated_at FROM quotes WHERE quote_id = %Q", qid),
                                 T0);
                http_resp_clear(&r);
        }
        ck_assert_int_eq(count_orders(), 0);
        ck_assert_int_eq(count_all_events(), 0);
}
END_TEST

START_TEST(an_active_quote_past_expires_at_is_409_and_stays_active)
{
        struct http_resp r;
        char buf[32];

        insert_quote("q-old", "active", T0 + SEC);
        post_order("o-old", ", \"quote_id\": \"q-old\"", &r);
        expect(409, &r, "expired quote");
        ck_assert(has_error(&r, "quote_id"));
        ck_assert_ptr_nonnull(strstr(str(&r, "detail"), "expires_at"));
        ck_assert_str_eq(db_text(buf, sizeof(buf), "SELECT status FROM quotes"), "active");
        ck_assert_int_eq(count_orders(), 0);
        ck_assert_int_eq(count_all_events(), 0);
        http_resp_clear(&r);
}
END_TEST

START_TEST(a_quote_used_by_one_order_cannot_be_used_by_another)
{
        struct http_resp r;

        insert_quote("q-once", "active", 0);
        create_order("first", ", \"quote_id\": \"q-once\"");
        post_order("second", ", \"quote_id\": \"q-once\"", &r);
        expect(409, &r, "second order on the quote");
        ck_assert_int_eq(count_orders(), 1);
        ck_assert_int_eq(count_all_events(), 1);
        http_resp_clear(&r);
}
END_TEST

/* ---- external_order_id ---- */

START_TEST(an_external_order_id_held_by_another_order_is_409_on_create)
{
        struct http_resp r;

        insert_quote("q-ext", "active", 0);
        create_order("holder", ", \"external_order_id\": \"EX-1\"");
        post_order("taker", ", \"external_order_id\": \"EX-1\", \"quote_id\": \"q-ext\"", &r);
        expect(409, &r, "taken external id");
        ck_assert(has_error(&r, "external_order_id"));
        ck_assert_ptr_nonnull(strstr(str(&r, "detail"), "holder"));
        ck_assert_int_eq(count_orders(), 1);
        ck_assert_int_eq(count_all_events(), 1);
        /* the quote change of the refused create was rolled back with it */
        ck_assert_int_eq(db_int("SELECT count(*) FROM quotes WHERE status = 'active'"), 1);
        http_resp_clear(&r);
}
END_TEST

START_TEST(an_external_order_id_held_by_another_order_is_409_on_patch)
{
        struct http_resp r;
        char buf[64];

        create_order("a", ", \"external_order_id\": \"EX-A\"");
        create_order("b", NULL);
        patch("b", "{\"status\": \"open\", \"external_order_id\": \"EX-A\"}", &r);
        expect(409, &r, "taken external id");
        ck_assert(has_error(&r, "external_order_id"));
        ck_assert_ptr_nonnull(strstr(str(&r, "detail"), "EX-A"));
        ck_assert_str_eq(db_text(buf, sizeof(buf),
                                 "SELECT external_order_id FROM orders WHERE order_id = 'b'"),
                         "(null)");
        ck_assert_str_eq(stored_status("b", buf, sizeof(buf)), "pending");
        ck_assert_int_eq(count_events("order_updated", "b"), 0);
        http_resp_clear(&r);
}
END_TEST

START_TEST(an_empty_or_overlong_external_order_id_is_400)
{
        struct http_resp r;
        char extra[300];

        post_order("e1", ", \"external_order_id\": \"\"", &r);
        expect_400(&r, "external_order_id", "empty");
        http_resp_clear(&r);
        snprintf(extra, sizeof(extra), ", \"external_order_id\": \"%0129d\"", 0);
        post_order("e1", extra, &r);
        expect_400(&r, "external_order_id", "129 characters");
        http_resp_clear(&r);
        snprintf(extra, sizeof(extra), ", \"external_order_id\": \"%0128d\"", 0);
        post_order("e1", extra, &r);
        expect(201, &r, "128 characters");
        http_resp_clear(&r);
}
END_TEST

/* ---- concurrent writers (group commit: many jobs in one transaction) ---- */

#define RACERS 8

struct racer {
        char body[256];
        long status;
};

static void *
race(void *arg)
{
        struct racer *rc = arg;
        struct http_resp r;

        rc->status = call("POST", "/orders", rc->body, &r);
        http_resp_clear(&r);
        return NULL;
}

/* Sends the RACERS bodies at once; returns how many got each of 200, 201, 409. */
static void
run_race(struct racer *rs, int *ret_200, int *ret_201, int *ret_409)
{
        pthread_t t[RACERS];

        for (int i = 0; i < RACERS; i++)
                ck_assert_int_eq(pthread_create(&t[i], NULL, race, &rs[i]), 0);
        *ret_200 = *ret_201 = *ret_409 = 0;
        for (int i = 0; i < RACERS; i++) {
                pthread_join(t[i], NULL);
                *ret_200 += rs[i].status == 200;
                *ret_201 += rs[i].status == 201;
                *ret_409 += rs[i].status == 409;
        }
}

START_TEST(concurrent_repeats_of_one_create_make_one_order_and_one_event)
{
        struct racer rs[RACERS];
        int n200, n201, n409;

        for (int i = 0; i < RACERS; i++)
                snprintf(rs[i].body, sizeof(rs[i].body),
                         "{\"order_id\": \"same\", \"symbol\": \"BTCUSDT\", \"side\": \"buy\","
                         " \"type\": \"market\", \"quantity\": \"%s\"}",
                         i % 2 ? "1" : "1.0");
        run_race(rs, &n200, &n201, &n409);
        ck_assert_int_eq(n201, 1);
        ck_assert_int_eq(n200, RACERS - 1);
        ck_assert_int_eq(count_orders(), 1);
        ck_assert_int_eq(count_events("order_created", "same"), 1);
}
END_TEST

START_TEST(concurrent_orders_on_one_quote_let_exactly_one_use_it)
{
        struct racer rs[RACERS];
        int n200, n201, n409;

        insert_quote("q-race", "active", 0);
        for (int i = 0; i < RACERS; i++)
                snprintf(rs[i].body, sizeof(rs[i].body),
                         "{\"order_id\": \"r-%d\", \"quote_id\": \"q-race\", \"symbol\": "
                         "\"BTCUSDT\","
                         " \"side\": \"buy\", \"type\": \"market\", \"quantity\": \"1\"}",
                         i);
        run_race(rs, &n200, &n201, &n409);
        ck_assert_int_eq(n201, 1);
        ck_assert_int_eq(n409, RACERS - 1);
        ck_assert_int_eq(count_orders(), 1);
        ck_assert_int_eq(count_all_events(), 1);
        ck_assert_int_eq(db_int("SELECT count(*) FROM quotes WHERE status = 'used'"), 1);
}
END_TEST

/* ---- GET /orders/{order_id} ---- */

START_TEST(get_returns_the_order_and_404_for_an_unknown_or_malformed_id)
{
        struct http_resp created, r;

        post_order("g-1", NULL, &created);
        expect(201, &created, "create");
        get_order("g-1", &r);
        expect(200, &r, "get");
        ck_assert(json_equal(created.json, r.json));
        http_resp_clear(&r);
        get_order("g-2", &r);
        expect(404, &r, "unknown");
        http_resp_clear(&r);
        call("GET", "/orders/bad%20id", NULL, &r);
        expect(404, &r, "malformed id");
        http_resp_clear(&r);
        http_resp_clear(&created);
}
END_TEST

START_TEST(order_created_event_carries_the_order_as_get_returns_it)
{
        struct http_resp r;
        json_t *payload;

        create_order("ev", ", \"status\": \"open\", \"external_order_id\": \"EV-1\"");
        get_order("ev", &r);
        expect(200, &r, "get");
        ck_assert_int_eq(count_events("order_created", "ev"), 1);
        ck_assert_int_eq(db_int("SELECT count(*) FROM outbox WHERE aggregate_id = 'ev'"
                                " AND status = 'pending'"),
                         1);
        payload = event_payload("order_created", "ev", 0);
        ck_assert(json_equal(payload, r.json));
        json_decref(payload);
        http_resp_clear(&r);
}
END_TEST

START_TEST(fills_show_through_get)
{
        struct http_resp r;

        create_order("filled-ish", NULL);
        db_exec("UPDATE orders SET status = 'partially_filled', filled_quantity = 50000000,"
                " fill_notional = '500000000000000000', avg_fill_price = 10000000000"
                " WHERE order_id = 'filled-ish'");
        get_order("filled-ish", &r);
        expect(200, &r, "get");
        ck_assert_str_eq(str(&r, "status"), "partially_filled");
        ck_assert_str_eq(str(&r, "filled_quantity"), "0.5");
        ck_assert_str_eq(str(&r, "avg_fill_price"), "100");
        ck_assert_ptr_null(json_object_get(r.json, "fill_notional"));
        http_resp_clear(&r);
}
END_TEST

/* ---- PATCH /orders/{order_id} ---- */

/* Puts order id into status: through HTTP where a client may, else directly
 * (partially_filled and filled come only from fills). */
static void
order_in(const char *id, const char *status)
{
        struct http_resp r;
        char body[64];

        create_order(id, NULL);
        if (strcmp(status, "pending") == 0)
                return;
        if (strcmp(status, "partially_filled") == 0 || strcmp(status, "filled") == 0) {
                db_exec("UPDATE orders SET status = %Q WHERE order_id = %Q", status, id);
                return;
        }
        snprintf(body, sizeof(body), "{\"status\": \"%s\"}", status);
        patch(id, body, &r);
        expect(200, &r, status);
        http_resp_clear(&r);
}

/* PATCHes a new order in `from` to `to` and checks the reply (want: 200
 * changed or no-op, 409 illegal, 400 not settable), the stored status, the
 * events and updated_at. */
static void
check_patch(size_t i, const char *from, const char *to, long want)
{
        struct http_resp r;
        char id[32], body[64], what[80], buf[32], updated_before[32], updated_after[32];
        long long events_before;
        bool change = want == 200 && strcmp(from, to) != 0;

        snprintf(id, sizeof(id), "sm-%zu", i);
        snprintf(what, sizeof(what), "%s -> %s", from, to);
        order_in(id, from);
        events_before = count_all_events();
        db_text(updated_before, sizeof(updated_before),
                "SELECT updated_at FROM orders WHERE order_id = %Q", id);
        snprintf(body, sizeof(body), "{\"status\": \"%s\"}", to);
        patch(id, body, &r);
        if (want == 400)
                expect_400(&r, "status", what);
        else
                expect(want, &r, what);
        if (want == 409)
                ck_assert(has_error(&r, "status"));
        ck_assert_str_eq(stored_status(id, buf, sizeof(buf)), change ? to : from);
        ck_assert_int_eq(count_all_events(), events_before + (change ? 1 : 0));
        db_text(updated_after, sizeof(updated_after),
                "SELECT updated_at FROM orders WHERE order_id = %Q", id);
        ck_assert_msg((strcmp(updated_before, updated_after) != 0) == change, "%s: updated_at",
                      what);
        if (want == 200)
                ck_assert_str_eq(str(&r, "status"), buf);
        http_resp_clear(&r);
}

START_TEST(patch_status_follows_the_state_machine)
{
        static const struct {
                const char *from, *to;
                long code; /* 200 changed or no-op, 409 illegal, 400 not settable */
        } cases[] = {
                { "pending", "open", 200 },
                { "pending", "cancelled", 200 },
                { "pending", "rejected", 200 },
                { "pending", "expired", 200 },
                { "open", "cancelled", 200 },
                { "open", "rejected", 200 },
                { "open", "expired", 200 },
                { "partially_filled", "cancelled", 200 },
                { "partially_filled", "expired", 200 },
                { "open", "open", 200 },
                { "cancelled", "cancelled", 200 },
                { "filled", "filled", 400 },
                { "partially_filled", "open", 409 },
                { "filled", "open", 409 },
                { "filled", "cancelled", 409 },
                { "filled", "expired", 409 },
                { "cancelled", "open", 409 },
                { "cancelled", "rejected", 409 },
                { "rejected", "expired", 409 },
                { "rejected", "open", 409 },
                { "expired", "cancelled", 409 },
                { "pending", "pending", 400 },
                { "open", "pending", 400 },
                { "open", "partially_filled", 400 },
                { "open", "filled", 400 },
                { "pending", "done", 400 },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                check_patch(i, cases[i].from, cases[i].to, cases[i].code);
}
END_TEST

START_TEST(patch_adds_one_order_updated_event_per_real_change)
{
        struct http_resp r, g;
        json_t *payload;

        create_order("pu", NULL);
        patch("pu", "{\"external_order_id\": \"EX-P\"}", &r);
        expect(200, &r, "set external id");
        ck_assert_str_eq(str(&r, "external_order_id"), "EX-P");
        ck_assert_str_eq(str(&r, "status"), "pending");
        ck_assert_str_ne(str(&r, "updated_at"), str(&r, "created_at"));
        get_order("pu", &g);
        ck_assert(json_equal(g.json, r.json));
        ck_assert_int_eq(count_events("order_updated", "pu"), 1);
        payload = event_payload("order_updated", "pu", 0);
        ck_assert(json_equal(payload, g.json));
        json_decref(payload);
        http_resp_clear(&r);
        http_resp_clear(&g);

        /* the same values again: 200, nothing changes, no event */
        patch("pu", "{\"external_order_id\": \"EX-P\", \"status\": \"pending\"}", &r);
        expect_400(&r, "status", "pending is not settable");
        http_resp_clear(&r);
        patch("pu", "{\"external_order_id\": \"EX-P\"}", &r);
        expect(200, &r, "no-op");
        ck_assert_int_eq(count_events("order_updated", "pu"), 1);
        http_resp_clear(&r);

        /* both at once: one event with the order after both changes */
        patch("pu", "{\"external_order_id\": \"EX-Q\", \"status\": \"open\"}", &r);
        expect(200, &r, "both");
        ck_assert_str_eq(str(&r, "external_order_id"), "EX-Q");
        ck_assert_str_eq(str(&r, "status"), "open");
        ck_assert_int_eq(count_events("order_updated", "pu"), 2);
        payload = event_payload("order_updated", "pu", 1);
        ck_assert(json_equal(payload, r.json));
        json_decref(payload);
        http_resp_clear(&r);

        /* the same status with a new external id is one change */
        patch("pu", "{\"external_order_id\": \"EX-R\", \"status\": \"open\"}", &r);
        expect(200, &r, "same status, new id");
        ck_assert_int_eq(count_events("order_updated", "pu"), 3);
        http_resp_clear(&r);
        ck_assert_int_eq(count_events("order_created", "pu"), 1);
}
END_TEST

START_TEST(an_illegal_status_with_an_external_id_changes_neither)
{
        struct http_resp r;
        char buf[64];

        order_in("ill", "cancelled");
        patch("ill", "{\"status\": \"open\", \"external_order_id\": \"EX-ILL\"}", &r);
        expect(409, &r, "illegal");
        ck_assert_ptr_nonnull(strstr(str(&r, "detail"), "cancelled"));
        ck_assert_str_eq(db_text(buf, sizeof(buf),
                                 "SELECT external_order_id FROM orders WHERE order_id = 'ill'"),
                         "(null)");
        ck_assert_int_eq(count_events("order_updated", "ill"), 1); /* the cancel only */
        http_resp_clear(&r);
}
END_TEST

START_TEST(a_patch_must_name_status_or_external_order_id_and_nothing_else)
{
        static const struct {
                const char *body, *field;
        } cases[] = {
                { "{}", "status" },
                { "{\"status\": null}", "external_order_id" },
                { "{\"status\": null, \"external_order_id\": null}", "status" },
                { "{\"symbol\": \"ETHUSDT\"}", "symbol" },
                { "{\"status\": \"open\", \"quantity\": \"2\"}", "quantity" },
                { "{\"status\": \"open\", \"bogus\": 1}", "bogus" },
                { "{\"status\": 7}", "status" },
                { "{\"external_order_id\": 7}", "external_order_id" },
                { "{\"external_order_id\": \"\"}", "external_order_id" },
        };

        create_order("pn", NULL);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct http_resp r;

                patch("pn", cases[i].body, &r);
                expect_400(&r, cases[i].field, cases[i].body);
                http_resp_clear(&r);
        }
        ck_assert_int_eq(db_int("SELECT count(*) FROM orders WHERE status = 'pending'"
                                " AND external_order_id IS NULL AND updated_at = created_at"),
                         1);
        ck_assert_int_eq(count_all_events(), 1);
}
END_TEST

START_TEST(patch_of_an_unknown_order_is_404)
{
        struct http_resp r;

        patch("ghost", "{\"status\": \"open\"}", &r);
        expect(404, &r, "unknown order");
        ck_assert_ptr_nonnull(strstr(str(&r, "detail"), "ghost"));
        ck_assert_int_eq(count_all_events(), 0);
        http_resp_clear(&r);
}
END_TEST

/* ---- GET /orders ---- */

/* Creates id at T0 + sec seconds (created_at set directly to control it). */
static void
order_at(const char *id, int sec, const char *extra)
{
        create_order(id, extra);
        db_exec("UPDATE orders SET created_at = %lld WHERE order_id = %Q", T0 + sec * SEC, id);
}

/* GETs path and checks that the ids of its items are exactly want (a
 * space-separated list, in order). */
static void
expect_ids(const char *path, const char *want)
{
        struct http_resp r;
        char got[1024] = "";
        size_t i;
        json_t *item;

        call("GET", path, NULL, &r);
        expect(200, &r, path);
        json_array_foreach(json_object_get(r.json, "items"), i, item)
        {
                if (i > 0)
                        strcat(got, " ");
                strcat(got, json_string_value(json_object_get(item, "order_id")));
        }
        ck_assert_msg(strcmp(got, want) == 0, "%s: got '%s', want '%s'", path, got, want);
        http_resp_clear(&r);
}

static void
list_fixture(void)
{
        struct http_resp r;

        insert_quote("qa", "active", 0);
        insert_quote("qb", "active", 0);
        order_at("o1", 1, ", \"quote_id\": \"qa\"");
        order_at("o2", 2, ", \"external_order_id\": \"X2\"");
        order_at("o3", 3, NULL);
        order_at("o4", 4, ", \"quote_id\": \"qb\", \"external_order_id\": \"X4\"");
        call("POST", "/orders",
             "{\"order_id\": \"o5\", \"symbol\": \"ETHUSDT\", \"side\": \"sell\","
             " \"type\": \"market\", \"quantity\": \"3\", \"status\": \"open\"}",
             &r);
        expect(201, &r, "o5");
        http_resp_clear(&r);
        db_exec("UPDATE orders SET created_at = %lld WHERE order_id = 'o5'", T0 + 5 * SEC);
        order_at("o6", 6, ", \"status\": \"open\"");
        db_exec("UPDATE orders SET symbol = 'ETHUSDT' WHERE order_id = 'o3'");
}

START_TEST(list_is_newest_first_and_filters_combine)
{
        list_fixture();
        expect_ids("/orders", "o6 o5 o4 o3 o2 o1");
        expect_ids("/orders?symbol=ETHUSDT", "o5 o3");
        expect_ids("/orders?symbol=BTCUSDT", "o6 o4 o2 o1");
        expect_ids("/orders?status=open", "o6 o5");
        expect_ids("/orders?status=pending", "o4 o3 o2 o1");
        expect_ids("/orders?status=filled", "");
        expect_ids("/orders?quote_id=qa", "o1");
        expect_ids("/orders?quote_id=qb", "o4");
        expect_ids("/orders?external_order_id=X2", "o2");
        expect_ids("/orders?external_order_id=nope", "");
        expect_ids("/orders?symbol=ETHUSDT&status=open", "o5");
        expect_ids("/orders?symbol=ETHUSDT&status=pending", "o3");
        expect_ids("/orders?symbol=BTCUSDT&status=open", "o6");
        expect_ids("/orders?quote_id=qb&symbol=BTCUSDT", "o4");
        expect_ids("/orders?quote_id=qb&symbol=ETHUSDT", "");
        expect_ids("/orders?quote_id=qb&status=pending", "o4");
        expect_ids("/orders?quote_id=qb&status=open", "");
        expect_ids("/orders?quote_id=qb&status=pending&symbol=BTCUSDT", "o4");
        expect_ids("/orders?external_order_id=X4&quote_id=qb", "o4");
        expect_ids("/orders?external_order_id=X4&quote_id=qa", "");
        expect_ids("/orders?external_order_id=X4&status=open", "");
        expect_ids("/orders?external_order_id=X4&symbol=BTCUSDT&status=pending&quote_id=qb", "o4");
        expect_ids("/orders?external_order_id=X4&created_after=2025-11-26T15:00:04Z", "");
        expect_ids("/orders?status=&symbol=", "o6 o5 o4 o3 o2 o1");
}
END_TEST

START_TEST(list_time_bounds_are_exclusive_and_take_either_form)
{
        list_fixture();
        expect_ids("/orders?created_after=2025-11-26T15:00:02Z", "o6 o5 o4 o3");
        expect_ids("/orders?created_before=2025-11-26T15:00:05Z", "o4 o3 o2 o1");
        expect_ids("/orders?created_after=2025-11-26T15:00:02Z"
                   "&created_before=2025-11-26T15:00:05Z",
                   "o4 o3");
        expect_ids("/orders?created_after=1764169202&created_before=1764169205", "o4 o3");
        expect_ids("/orders?created_after=1764169201.999999", "o6 o5 o4 o3 o2");
        expect_ids("/orders?created_before=2025-11-26T16:00:03%2B01:00", "o2 o1");
        expect_ids("/orders?created_after=2025-11-26T15:00:03Z&created_before="
                   "2025-11-26T15:00:03Z",
                   "");
        expect_ids("/orders?status=pending&created_after=1764169202", "o4 o3");
        expect_ids("/orders?symbol=BTCUSDT&created_before=1764169204", "o2 o1");
        expect_ids("/orders?quote_id=qa&created_after=1764169201", "");
}
END_TEST

START_TEST(list_pages_visit_every_row_once_even_while_rows_are_added)
{
        static const char *const all = "o6 o5 o4 o3 o2 o1";
        char path[512], seen[256] = "", next[256] = "";
        int pages = 0;

        list_fixture();
        do {
                struct http_resp r;
                json_t *items, *item, *nc;
                size_t i;

                if (next[0] != '\0')
                        snprintf(path, sizeof(path), "/orders?limit=2&cursor=%s", next);
                else
                        snprintf(path, sizeof(path), "/orders?limit=2");
                call("GET", path, NULL, &r);
                expect(200, &r, path);
                items = json_object_get(r.json, "items");
                ck_assert_int_le(json_array_size(items), 2);
                json_array_foreach(items, i, item)
                {
                        if (seen[0] != '\0')
                                strcat(seen, " ");
                        strcat(seen, json_string_value(json_object_get(item, "order_id")));
                }
                nc = json_object_get(r.json, "next_cursor");
                ck_assert_ptr_nonnull(nc);
                if (json_array_size(items) == 2)
                        ck_assert(json_is_string(nc)); /* a full page has a cursor */
                snprintf(next, sizeof(next), "%s", json_is_string(nc) ? json_string_value(nc) : "");
                http_resp_clear(&r);
                if (pages == 0) /* newer rows inserted mid-walk are not owed */
                        create_order("late", NULL);
                pages++;
        } while (next[0] != '\0' && pages < 10);
        ck_assert_str_eq(seen, all);
        ck_assert_int_eq(pages, 4); /* 2 + 2 + 2, then an empty last page */
}
END_TEST

START_TEST(a_cursor_combines_with_filters_and_bounds)
{
        struct http_resp r;
        char path[256];

        list_fixture();
        call("GET", "/orders?symbol=BTCUSDT&limit=1&created_before=1764169206", NULL, &r);
        expect(200, &r, "first page");
        ck_assert_str_eq(json_string_value(json_object_get(
                                 json_array_get(json_object_get(r.json, "items"), 0), "order_id")),
                         "o4");
        snprintf(path, sizeof(path), "/orders?symbol=BTCUSDT&created_before=1764169206&cursor=%s",
                 json_string_value(json_object_get(r.json, "next_cursor")));
        http_resp_clear(&r);
        expect_ids(path, "o2 o1");
        call("GET", "/orders?limit=1000", NULL, &r);
        expect(200, &r, "not full");
        ck_assert(json_is_null(json_object_get(r.json, "next_cursor")));
        http_resp_clear(&r);
}
END_TEST

START_TEST(list_rejects_unknown_and_malformed_parameters)
{
        static const struct {
                const char *query, *field;
        } cases[] = {
                { "/orders?side=buy", "side" },
                { "/orders?status=done", "status" },
                { "/orders?symbol=BTC%20USDT", "symbol" },
                { "/orders?quote_id=bad%20id", "quote_id" },
                { "/orders?created_after=yesterday", "created_after" },
                { "/orders?created_before=2025-13-01T00:00:00Z", "created_before" },
                { "/orders?limit=0", "limit" },
                { "/orders?limit=1001", "limit" },
                { "/orders?cursor=not-a-cursor", "cursor" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct http_resp r;

                call("GET", cases[i].query, NULL, &r);
                expect_400(&r, cases[i].field, cases[i].query);
                http_resp_clear(&r);
        }
}
END_TEST

/* The index a list statement must drive: the most selective filter present
 * (the UNIQUE external_order_id, then quote_id, status, symbol), as an
 * equality in the plan; with no filter, the created_at index. A range walk
 * over idx_orders_created with the filters checked row by row is a SEARCH
 * too, but reads the whole table: this catches it. */
static const char *
expected_driver(const char *sql)
{
        static const struct {
                const char *in_sql, *in_plan;
        } drivers[] = {
                { "external_order_id = ?4", "(external_order_id=?)" },
                { "quote_id = ?3", "(quote_id=?" },
                { "status = ?2", "(status=?" },
                { "symbol = ?1", "(symbol=?" },
        };

        for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
                if (strstr(sql, drivers[i].in_sql) != NULL)
                        return drivers[i].in_plan;
        return "USING INDEX idx_orders_created (";
}

START_TEST(every_list_query_is_served_by_an_index)
{
        size_t n = 0;
        const char *const *sql = repo_orders_list_sql(&n);
        sqlite3 *ro;

        ck_assert_int_eq(n, 16); /* one per combination of the four equality filters */
        if (h.postgres) {
                /* PostgreSQL's planner picks its own driving index: check only
                 * that one serves each query (no Seq Scan, no Sort). */
                harness_assert_indexed(&h, sql, n);
                return;
        }
        ck_assert_int_eq(sqlite3_open_v2(h.db_path, &ro, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        for (size_t i = 0; i < n; i++) {
                char *q = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql[i]);
                const char *driver = expected_driver(sql[i]);
                sqlite3_stmt *st;
                int searches = 0;

                ck_assert_msg(sqlite3_prepare_v2(ro, q, -1, &st, NULL) == SQLITE_OK, "%s: %s",
                              sql[i], sqlite3_errmsg(ro));
                while (sqlite3_step(st) == SQLITE_ROW) {
                        const char *detail = (const char *)sqlite3_column_text(st, 3);

                        ck_assert_msg(strncmp(detail, "SCAN", 4) != 0, "%s: %s", sql[i], detail);
                        ck_assert_msg(strstr(detail, "TEMP B-TREE") == NULL, "%s: %s", sql[i],
                                      detail);
                        if (strncmp(detail, "SEARCH orders USING INDEX", 25) == 0) {
                                ck_assert_msg(strstr(detail, driver) != NULL, "%s: %s, want %s",
                                              sql[i], detail, driver);
                                searches++;
                        }
                }
                ck_assert_msg(searches == 1, "%s: no index search", sql[i]);
                sqlite3_finalize(st);
                sqlite3_free(q);
        }
        sqlite3_close(ro);
}
END_TEST

static Suite *
orders_suite(void)
{
        Suite *s = suite_create("orders");
        TCase *c = tcase_create("create");
        TCase *q = tcase_create("quotes");
        TCase *g = tcase_create("get");
        TCase *p = tcase_create("patch");
        TCase *l = tcase_create("list");

        tcase_add_checked_fixture(c, setup, teardown);
        tcase_add_test(c, create_returns_201_with_every_field_and_server_defaults);
        tcase_add_test(c, create_without_order_id_gets_a_uuidv7);
        tcase_add_test(c, create_status_may_be_pending_or_open_only);
        tcase_add_test(c, price_is_required_for_limit_types_and_absent_for_market);
        tcase_add_test(c, quantity_must_be_a_positive_exact_decimal);
        tcase_add_test(c, every_invalid_field_is_reported_at_once);
        tcase_add_test(c, missing_required_fields_are_each_named);
        tcase_add_test(c, read_only_fields_are_400_on_create_and_patch);
        tcase_add_test(c, fill_notional_is_not_a_field);
        tcase_add_test(c, repeating_a_create_returns_200_with_the_stored_order_and_no_second_event);
        tcase_add_test(c, repeating_a_create_after_changes_returns_the_order_as_it_is_now);
        tcase_add_test(c, same_order_id_with_other_content_is_409_and_changes_nothing);
        tcase_add_test(c, an_external_order_id_held_by_another_order_is_409_on_create);
        tcase_add_test(c, an_empty_or_overlong_external_order_id_is_400);
        suite_add_tcase(s, c);

        tcase_add_checked_fixture(q, setup, teardown);
        tcase_add_test(q, an_order_on_an_active_quote_marks_the_quote_used_in_the_same_write);
        tcase_add_test(q, a_quote_without_expiry_can_be_used);
        tcase_add_test(q, a_refused_quote_is_checked_before_writing_so_no_batch_is_rerun);
        tcase_add_test(q, an_unknown_quote_is_422_and_writes_nothing);
        tcase_add_test(q, a_used_expired_or_cancelled_quote_is_409_and_writes_nothing);
        tcase_add_test(q, an_active_quote_past_expires_at_is_409_and_stays_active);
        tcase_add_test(q, a_quote_used_by_one_order_cannot_be_used_by_another);
        tcase_add_test(q, concurrent_repeats_of_one_create_make_one_order_and_one_event);
        tcase_add_test(q, concurrent_orders_on_one_quote_let_exactly_one_use_it);
        suite_add_tcase(s, q);

        tcase_add_checked_fixture(g, setup, teardown);
        tcase_add_test(g, get_returns_the_order_and_404_for_an_unknown_or_malformed_id);
        tcase_add_test(g, order_created_event_carries_the_order_as_get_returns_it);
        tcase_add_test(g, fills_show_through_get);
        suite_add_tcase(s, g);

        tcase_add_checked_fixture(p, setup, teardown);
        tcase_add_test(p, patch_status_follows_the_state_machine);
        tcase_add_test(p, patch_adds_one_order_updated_event_per_real_change);
        tcase_add_test(p, an_illegal_status_with_an_external_id_changes_neither);
        tcase_add_test(p, an_external_order_id_held_by_another_order_is_409_on_patch);
        tcase_add_test(p, a_patch_must_name_status_or_external_order_id_and_nothing_else);
        tcase_add_test(p, patch_of_an_unknown_order_is_404);
        suite_add_tcase(s, p);

        tcase_add_checked_fixture(l, setup, teardown);
        tcase_add_test(l, list_is_newest_first_and_filters_combine);
        tcase_add_test(l, list_time_bounds_are_exclusive_and_take_either_form);
        tcase_add_test(l, list_pages_visit_every_row_once_even_while_rows_are_added);
        tcase_add_test(l, a_cursor_combines_with_filters_and_bounds);
        tcase_add_test(l, list_rejects_unknown_and_malformed_parameters);
        tcase_add_test(l, every_list_query_is_served_by_an_index);
        suite_add_tcase(s, l);
        return s;
}

int
main(void)
{
        return harness_run_suite(orders_suite());
}
