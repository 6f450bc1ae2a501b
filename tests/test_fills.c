/* HTTP tests of the /fills endpoints (../shared/API.md, "Fills"): the
 * stored fill and its defaults, the order's filled_quantity, exact
 * avg_fill_price and status, the position, the fill_processed event, every
 * refusal (422, 409 rejected / mismatch / overfill / redelivery with other
 * content, 400 with every bad field named) with "nothing written" checked on
 * the database, redelivery by fill_id and by (order_id, trade_id), eight
 * concurrent clients on one order, and the list with its filters, bounds,
 * pagination and query plans.
 *
 * The orders endpoints are another module's, so orders are inserted with
 * SQL straight into the test database (harness_sql_*, on either backend),
 * and the resulting state is read the same way. */
#include "repo/fills.h"

#include <check.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dec.h"
#include "common/ts.h"
#include "tests/harness.h"

#define T0 "\"2026-01-01T00:00:00Z\""

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

/* ---- helpers ---- */

static int64_t
D(const char *s)
{
        int64_t v = 0;

        ck_assert_msg(dec_parse(s, strlen(s), &v) == DEC_OK, "bad decimal %s", s);
        return v;
}

static void
exec_sql(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        harness_sql_vexec(&h, fmt, ap);
        va_end(ap);
}

/* The first column of the first row as text into buf ("" for none/NULL). */
static void
q_text(char *buf, size_t cap, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        harness_sql_vtext(&h, buf, cap, fmt, ap);
        va_end(ap);
}

static int64_t
q_int(const char *fmt, ...)
{
        int64_t v;
        va_list ap;

        va_start(ap, fmt);
        v = harness_sql_vint(&h, fmt, ap);
        va_end(ap);
        return v;
}

static void
add_order(const char *id, const char *symbol, const char *side, const char *qty, const char *status)
{
        exec_sql("INSERT INTO orders (order_id, symbol, side, type, quantity, status,"
                 " created_at, updated_at) VALUES ('%s', '%s', '%s', 'market', %lld, '%s', 1, 1)",
                 id, symbol, side, (long long)D(qty), status);
}

static long
post_fill(struct http_resp *r, const char *fmt, ...)
{
        char body[2048];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(body, sizeof(body), fmt, ap);
        va_end(ap);
        return http_json(&h, "POST", "/fills", body, r);
}

/* POSTs and frees the response; returns the status. */
static long
post_fill_status(const char *fmt, ...)
{
        char body[2048];
        struct http_resp r;
        long status;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(body, sizeof(body), fmt, ap);
        va_end(ap);
        status = http_json(&h, "POST", "/fills", body, &r);
        ck_assert_msg(status < 500, "%ld: %s", status, r.body ? r.body : "");
        http_resp_clear(&r);
        return status;
}

static const char *
jstr(const json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

/* Every row that a fill can touch, as one text, to prove "nothing written". */
static void
state(char *buf, size_t cap)
{
        q_text(buf, cap,
               "SELECT (SELECT count(*) FROM fills) || '|' ||"
               " (SELECT coalesce(group_concat(order_id || ',' || filled_quantity || ',' ||"
               "  fill_notional || ',' || coalesce(CAST(avg_fill_price AS TEXT), '-') || ',' || status ||"
               "  ',' || updated_at, ';'), '') FROM orders) || '|' ||"
               " (SELECT coalesce(group_concat(symbol || ',' || quantity || ',' ||"
               "  avg_entry_price || ',' || realized_pnl || ',' || unrealized_pnl || ',' ||"
               "  last_updated, ';'), '') FROM positions) || '|' ||"
               " (SELECT count(*) FROM outbox)");
}

static void
assert_problem(const struct http_resp *r, long status)
{
        ck_assert_int_eq(r->status, status);
        ck_assert_str_eq(r->ctype, "application/problem+json");
        ck_assert_ptr_nonnull(r->json);
        ck_assert_int_eq(json_integer_value(json_object_get(r->json, "status")), status);
        ck_assert_ptr_nonnull(jstr(r->json, "detail"));
}

/* True when errors names field. */
static bool
names_field(const json_t *problem, const char *field)
{
        const json_t *errors = json_object_get(problem, "errors");
        size_t i;
        json_t *e;

        json_array_foreach(errors, i, e) if (strcmp(jstr(e, "field"), field) == 0) return true;
        return false;
}

static void
assert_order(const char *id, const char *filled, const char *status)
{
        char buf[64];

        ck_assert_int_eq(q_int("SELECT filled_quantity FROM orders WHERE order_id = '%s'", id),
                         D(filled));
        q_text(buf, sizeof(buf), "SELECT status FROM orders WHERE order_id = '%s'", id);
        ck_assert_str_eq(buf, status);
}

/* ---- create: the stored fill ---- */

START_TEST(create_returns_201_with_defaults_from_the_order)
{
        struct http_resp r;
        int64_t t0 = ts_now_us(), t1, exec_us, created_us;
        const char *id;

        add_order("o1", "BTC/USDT", "buy", "10", "open");
        ck_assert_int_eq(post_fill(&r, "{\"order_id\":\"o1\",\"price\":\"100.50\",\"quantity\":2}"),
                         201);
        t1 = ts_now_us();
        ck_assert_str_eq(r.ctype, "application/json");
        id = jstr(r.json, "fill_id");
        ck_assert_int_eq(strlen(id), 36); /* a UUIDv7 made by the server */
        ck_assert_int_eq(id[14], '7');
        ck_assert_str_eq(jstr(r.json, "order_id"), "o1");
        ck_assert_str_eq(jstr(r.json, "symbol"), "BTC/USDT");
        ck_assert_str_eq(jstr(r.json, "side"), "buy");
        ck_assert_str_eq(jstr(r.json, "price"), "100.5");
        ck_assert_str_eq(jstr(r.json, "quantity"), "2");
        ck_assert(json_is_null(json_object_get(r.json, "trade_id")));
        ck_assert_str_eq(jstr(r.json, "commission"), "0");
        ck_assert_str_eq(jstr(r.json, "commission_asset"), "");
        ck_assert(json_is_true(json_object_get(r.json, "is_maker")));
        /* executed_at absent: the server's now, like created_at */
        ck_assert(ts_parse(jstr(r.json, "executed_at"), strlen(jstr(r.json, "executed_at")),
                           &exec_us));
        ck_assert(ts_parse(jstr(r.json, "created_at"), strlen(jstr(r.json, "created_at")),
                           &created_us));
        ck_assert(exec_us >= t0 && exec_us <= t1);
        ck_assert_int_eq(exec_us, created_us);
        ck_assert_int_eq(json_object_size(r.json), 12);
        ck_assert_int_eq(q_int("SELECT count(*) FROM fills WHERE fill_id = '%s'", id), 1);
        http_resp_clear(&r);
}
END_TEST

START_TEST(create_stores_every_field_and_get_returns_it)
{
        struct http_resp r, g;

        add_order("o1", "ETH-USD", "sell", "10", "open");
        ck_assert_int_eq(post_fill(&r, "{\"fill_id\":\"f:1\",\"order_id\":\"o1\",\"symbol\":"
                                       "\"ETH-USD\",\"side\":\"sell\",\"price\":2500.25,"
                                       "\"quantity\":\"0.12345678\",\"executed_at\":"
                                       "\"2026-11-26T16:00:00.1234567+01:00\",\"trade_id\":"
                                       "\"T-9\",\"commission\":\"-0.001\",\"commission_asset\":"
                                       "\"BNB\",\"is_maker\":false}"),
                         201);
        ck_assert_str_eq(jstr(r.json, "fill_id"), "f:1");
        ck_assert_str_eq(jstr(r.json, "price"), "2500.25");
        ck_assert_str_eq(jstr(r.json, "quantity"), "0.12345678");
        ck_assert_str_eq(jstr(r.json, "executed_at"), "2026-11-26T15:00:00.123456Z");
        ck_assert_str_eq(jstr(r.json, "trade_id"), "T-9");
        ck_assert_str_eq(jstr(r.json, "commission"), "-0.001");
        ck_assert_str_eq(jstr(r.json, "commission_asset"), "BNB");
        ck_assert(json_is_false(json_object_get(r.json, "is_maker")));
        ck_assert_int_eq(http_json(&h, "GET", "/fills/f:1", NULL, &g), 200);
        ck_assert_str_eq(g.ctype, "application/json");
        ck_assert(json_equal(g.json, r.json));
        http_resp_clear(&r);
        http_resp_clear(&g);
}
END_TEST

START_TEST(executed_at_as_epoch_seconds_is_exact)
{
        struct http_resp r;

        add_order("o1", "BTC", "buy", "10", "open");
        ck_assert_int_eq(post_fill(&r, "{\"order_id\":\"o1\",\"price\":1,\"quantity\":1,"
                                       "\"executed_at\":1764169200.25}"),
                         201);
        ck_assert_str_eq(jstr(r.json, "executed_at"), "2025-11-26T15:00:00.250000Z");
        http_resp_clear(&r);
}
END_TEST

/* A JSON number of epoch seconds is read from its text: digits past the
 * microsecond are dropped (API.md), whatever the number's form. */
START_TEST(executed_at_numbers_are_read_from_their_text_and_truncated)
{
        static const struct {
                const char *json, *out;
        } cases[] = {
                { "1764169200.1234569", "2025-11-26T15:00:00.123456Z" },
                { "1.7641692001234569e9", "2025-11-26T15:00:00.123456Z" },
                { "1764169200123456.9e-6", "2025-11-26T15:00:00.123456Z" },
                { "17641692001234569999999999e-16", "2025-11-26T15:00:00.123456Z" },
                { "1764169200", "2025-11-26T15:00:00.000000Z" },
                { "1764169200.000000999", "2025-11-26T15:00:00.000000Z" },
        };
        struct http_resp r;

        add_order("o1", "BTC", "buy", "100", "open");
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                ck_assert_int_eq(post_fill(&r,
                                           "{\"order_id\":\"o1\",\"price\":1,\"quantity\":1,"
                                           "\"executed_at\":%s}",
                                           cases[i].json),
                                 201);
                ck_assert_msg(strcmp(jstr(r.json, "executed_at"), cases[i].out) == 0, "%s: %s",
                              cases[i].json, r.body);
                http_resp_clear(&r);
        }
        ck_assert_int_eq(post_fill(&r, "{\"order_id\":\"o1\",\"price\":1,\"quantity\":1,"
                                       "\"executed_at\":1e400}"),
                         400);
        ck_assert(names_field(r.json, "executed_at"));
        http_resp_clear(&r);
}
END_TEST

START_TEST(get_unknown_fill_is_404)
{
        struct http_resp r;

        http_json(&h, "GET", "/fills/nope", NULL, &r);
        assert_problem(&r, 404);
        http_resp_clear(&r);
        http_json(&h, "GET", "/fills/bad%20id", NULL, &r); /* breaks the id rules */
        assert_problem(&r, 404);
        http_resp_clear(&r);
}
END_TEST

/* ---- create: the order ---- */

START_TEST(fills_grow_the_order_and_set_its_status)
{
        static const char *const starts[] = { "pending", "open", "partially_filled" };

        for (size_t i = 0; i < 3; i++) {
                char id[16];

                snprintf(id, sizeof(id), "o%zu", i);
                add_order(id, "BTC", "buy", "10", starts[i]);
                ck_assert_int_eq(post_fill_status("{\"order_id\":\"%s\",\"price\":1,"
                                                  "\"quantity\":4}",
                                                  id),
                                 201);
                assert_order(id, "4", "partially_filled");
                ck_assert(q_int("SELECT updated_at FROM orders WHERE order_id = '%s'", id) > 1);
                ck_assert_int_eq(post_fill_status("{\"order_id\":\"%s\",\"price\":1,"
                                                  "\"quantity\":6}",
                                                  id),
                                 201);
                assert_order(id, "10", "filled");
        }
}
END_TEST

/* The exact VWAP of the fills, in 1e-8 units, rounded half-to-even. */
static int64_t
exact_vwap(const char *const *prices, const char *const *qtys, size_t n)
{
        __extension__ __int128 num = 0, den = 0, q, r, p;

        for (size_t i = 0; i < n; i++) {
                p = D(prices[i]);
                num += p * D(qtys[i]);
                den += D(qtys[i]);
        }
        q = num / den;
        r = num % den;
        if (2 * r > den || (2 * r == den && (q & 1) != 0))
                q++;
        return (int64_t)q;
}

START_TEST(avg_fill_price_is_the_exact_vwap_rounded_once)
{
        /* 1@1, 1@1, 1@2 averages 4/3; then 3@1 makes 7/6 = 1.1666...7 exactly,
         * where averaging the rounded 1.33333333 would give 1.16666666. */
        static const char *const prices[] = { "1", "1", "2", "1", "0.00000003" };
        static const char *const qtys[] = { "1", "1", "1", "3", "0.00000001" };
        char text[64];

        add_order("o1", "BTC", "buy", "100", "open");
        for (size_t i = 0; i < 5; i++) {
                ck_assert_int_eq(post_fill_status("{\"order_id\":\"o1\",\"price\":\"%s\","
                                                  "\"quantity\":\"%s\"}",
                                                  prices[i], qtys[i]),
                                 201);
                ck_assert_int_eq(q_int("SELECT avg_fill_price FROM orders WHERE order_id = 'o1'"),
                                 exact_vwap(prices, qtys, i + 1));
        }
        ck_assert_int_eq(exact_vwap(prices, qtys, 3), D("1.33333333"));
        ck_assert_int_eq(exact_vwap(prices, qtys, 4), D("1.16666667"));
        /* fill_notional: sum of price * quantity in 1e-16 units, exactly */
        q_text(text, sizeof(text), "SELECT fill_notional FROM orders WHERE order_id = 'o1'");
        ck_assert_str_eq(text, "70000000000000003");
}
END_TEST

START_TEST(fill_on_cancelled_or_expired_order_is_recorded_and_status_stays)
{
        static const char *const finals[] = { "cancelled", "expired" };

        for (size_t i = 0; i < 2; i++) {
                struct http_resp r;
                char id[16];

                snprintf(id, sizeof(id), "o%zu", i);
                add_order(id, "BTC", "buy", "10", finals[i]);
                ck_assert_int_eq(post_fill(&r,
                                           "{\"order_id\":\"%s\",\"price\":5,"
                                           "\"quantity\":3}",
                                           id),
                                 201);
                assert_order(id, "3", finals[i]);
                ck_assert_int_eq(
                        q_int("SELECT avg_fill_price FROM orders WHERE order_id = '%s'", id),
                        D("5"));
                ck_assert_int_eq(q_int("SELECT count(*) FROM outbox WHERE aggregate_id = '%s'"
                                       " AND event_type = 'fill_processed'",
                                       id),
                                 1);
                http_resp_clear(&r);
        }
        ck_assert_int_eq(q_int("SELECT quantity FROM positions WHERE symbol = 'BTC'"), D("6"));
}
END_TEST

START_TEST(fill_on_rejected_order_is_409_and_writes_nothing)
{
        struct http_resp r;
        char before[4096], after[4096];

        add_order("o1", "BTC", "buy", "10", "rejected");
        state(before, sizeof(before));
        post_fill(&r, "{\"order_id\":\"o1\",\"price\":1,\"quantity\":1}");
        assert_problem(&r, 409);
        ck_assert_ptr_nonnull(strstr(jstr(r.json, "detail"), "rejected"));
        state(after, sizeof(after));
        ck_assert_str_eq(before, after);
        http_resp_clear(&r);
}
END_TEST

START_TEST(symbol_or_side_other_than_the_order_is_409_and_writes_nothing)
{
        static const char *const bodies[] = {
                "{\"order_id\":\"o1\",\"symbol\":\"ETH\",\"price\":1,\"quantity\":1}",
                "{\"order_id\":\"o1\",\"side\":\"sell\",\"price\":1,\"quantity\":1}",
                "{\"order_id\":\"o1\",\"symbol\":\"ETH\",\"side\":\"sell\",\"price\":1,"
                "\"quantity\":1}",
        };
        char before[4096], after[4096];

        add_order("o1", "BTC", "buy", "10", "open");
        state(before, sizeof(before));
        for (size_t i = 0; i < 3; i++) {
                struct http_resp r;

                ck_assert_int_eq(http_json(&h, "POST", "/fills", bodies[i], &r), 409);
                assert_problem(&r, 409);
                http_resp_clear(&r);
        }
        state(after, sizeof(after));
        ck_assert_str_eq(before, after);
        /* the order's own symbol and side, sent explicitly, are fine */
        ck_assert_int_eq(post_fill_status("{\"order_id\":\"o1\",\"symbol\":\"BTC\",\"side\":"
                                          "\"buy\",\"price\":1,\"quantity\":1}"),
                         201);
}
END_TEST

START_TEST(fill_for_unknown_order_is_422_and_writes_nothing)
{
        struct http_resp r;
        char before[4096], after[4096];

        state(before, sizeof(before));
        post_fill(&r, "{\"order_id\":\"ghost\",\"price\":1,\"quantity\":1}");
        assert_problem(&r, 422);
        ck_assert(names_field(r.json, "order_id"));
        ck_assert_ptr_nonnull(strstr(jstr(r.json, "detail"), "ghost"));
        state(after, sizeof(after));
        ck_assert_str_eq(before, after);
        http_resp_clear(&r);
}
END_TEST

START_TEST(fill_past_order_quantity_is_conflict_and_writes_nothing)
{
        struct http_resp r;
        char before[4096], after[4096];

        add_order("o1", "BTC", "buy", "5", "open");
        ck_assert_int_eq(post_fill_status("{\"order_id\":\"o1\",\"price\":2,\"quantity\":3}"), 201);
        state(before, sizeof(before));
        post_fill(&r, "{\"fill_id\":\"over\",\"order_id\":\"o1\",\"price\":2,"
                      "\"quantity\":\"2.00000001\"}");
        assert_problem(&r, 409);
        ck_assert_ptr_nonnull(strstr(jstr(r.json, "detail"), "overfill"));
        state(after, sizeof(after));
        ck_assert_str_eq(before, after);
        ck_assert_int_eq(q_int("SELECT count(*) FROM fills WHERE fill_id = 'over'"), 0);
        http_resp_clear(&r);
        /* exactly up to quantity is fine; then even the smallest fill is over */
        ck_assert_int_eq(post_fill_status("{\"order_id\":\"o1\",\"price\":2,\"quantity\":2}"), 201);
        assert_order("o1", "5", "filled");
        state(before, sizeof(before));
        ck_assert_int_eq(post_fill_status("{\"order_id\":\"o1\",\"price\":2,"
                                          "\"quantity\":\"0.00000001\"}"),
                         409);
        state(after, sizeof(after));
        ck_assert_str_eq(before, after);
}
END_TEST

/* ---- redelivery ---- */

START_TEST(same_fill_id_same_content_is_200_with_stored_fill_and_applies_nothing)
{
        struct http_resp a, b;
        char before[4096], after[4096];

        add_order("o1", "BTC", "buy", "10", "open");
        ck_assert_int_eq(post_fill(&a, "{\"fill_id\":\"f1\",\"order_id\":\"o1\",\"price\":"
                                       "\"1.5\",\"quantity\":\"2\"}"),
                         201);
        state(before, sizeof(before));
        /* same content after parsing: 1.5 == "1.5", defaults sent explicitly */
        ck_assert_int_eq(post_fill(&b, "{\"fill_id\":\"f1\",\"order_id\":\"o1\",\"price\":1.5,"
                                       "\"quantity\":2.0,\"symbol\":\"BTC\",\"side\":\"buy\","
                                       "\"commission\":0,\"commission_asset\":\"\","
                                       "\"is_maker\":true}"),
                         200);
        ck_assert_str_eq(b.ctype, "application/json");
        ck_assert(json_equal(a.json, b.json)); /* the stored fill, created_at included */
        state(after, sizeof(after));
        ck_assert_str_eq(before, after);
        assert_order("o1", "2", "partially_filled");
        ck_assert_int_eq(q_int("SELECT count(*) FROM outbox WHERE event_type = 'fill_processed'"),
                         1);
        http_resp_clear(&a);
        http_resp_clear(&b);
}
END_TEST

START_TEST(redelivery_after_the_order_moved_on_is_still_200)
{
        add_order("o1", "BTC", "buy", "1", "open");
        ck_assert_int_eq(post_fill_status("{\"fill_id\":\"f1\",\"order_id\":\"o1\",\"price\":1,"
                                          "\"quantity\":1,\"executed_at\":" T0 "}"),
                         201);
        assert_order("o1", "1", "filled");
        /* filled: a redelivery is not an overfill */
        ck_assert_int_eq(post_fill_status("{\"fill_id\":\"f1\",\"order_id\":\"o1\",\"price\":1,"
                                          "\"quantity\":1,\"executed_at\":" T0 "}"),
                         200);
        /* rejected since: a redelivery is still recognised */
        add_order("o2", "BTC", "buy", "5", "open");
        ck_assert_int_eq(post_fill_status("{\"fill_id\":\"f2\",\"order_id\":\"o2\",\"price\":1,"
                                          "\"quantity\":1,\"trade_id\":\"t2\"}"),
                         201);
        exec_sql("UPDATE orders SET status = 'rejected' WHERE order_id = 'o2'");
        ck_assert_int_eq(post_fill_status("{\"fill_id\":\"f2\",\"order_id\":\"o2\",\"price\":1,"
                                          "\"quantity\":1,\"trade_id\":\"t2\"}"),
                         200);
        ck_assert_int_eq(post_fill_status("{\"order_id\":\"o2\",\"price\":1,"
                                          "\"quantity\":1,\"trade_id\":\"t2\"}"),
                         200);
        ck_assert_int_eq(q_int("SELECT count(*) FROM fills"), 2);
        ck_assert_int_eq(q_int("SELECT count(*) FROM outbox"), 2);
}
END_TEST

START_TEST(same_fill_id_other_content_is_409_and_writes_nothing)
{
        static const char *const others[] = {
                "\"price\":2,\"quantity\":1,\"executed_at\":\"2026-01-01T00:00:00Z\"",
                "\"price\":1,\"quantity\":2,\"executed_at\":\"2026-01-01T00:00:00Z\"",
                "\"price\":1,\"quantity\":1,\"executed_at\":\"2026-01-01T00:00:00Z\","
                "\"trade_id\":\"t9\"",
                "\"price\":1,\"quantity\":1,\"executed_at\":\"2026-01-01T00:00:00Z\","
                "\"commission\":\"0.1\"",
                "\"price\":1,\"quantity\":1,\"executed_at\":\"2026-01-01T00:00:00Z\","
                "\"commission_asset\":\"BNB\"",
                "\"price\":1,\"quantity\":1,\"executed_at\":\"2026-01-01T00:00:00Z\","
                "\"is_maker\":false",
                "\"price\":1,\"quantity\":1,\"executed_at\":\"2026-01-01T00:00:01Z\"",
                "\"price\":1,\"quantity\":1,\"executed_at\":\"2026-01-01T00:00:00Z\","
                "\"side\":\"sell\"",
        };
        char before[4096], after[4096];

        add_order("o1", "BTC", "buy", "10", "open");
        add_order("o2", "BTC", "buy", "10", "open");
        ck_assert_int_eq(post_fill_status("{\"fill_id\":\"f1\",\"order_id\":\"o1\",\"price\":1,"
                                          "\"quantity\":1,\"executed_at\":" T0 "}"),
                         201);
        state(before, sizeof(before));
        for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
                struct http_resp r;

                post_fill(&r, "{\"fill_id\":\"f1\",\"order_id\":\"o1\",%s}", others[i]);
                ck_assert_msg(r.status == 409, "%s: %ld", others[i], r.status);
                assert_problem(&r, 409);
                http_resp_clear(&r);
        }
        /* the same fill_id on another order is other content too */
        ck_assert_int_eq(post_fill_status("{\"fill_id\":\"f1\",\"order_id\":\"o2\",\"price\":1,"
                                          "\"quantity\":1,\"executed_at\":" T0 "}"),
                         409);
        state(after, sizeof(after));
        ck_assert_str_eq(before, after);
}
END_TEST

START_TEST(known_trade_id_same_content_returns_the_stored_fill)
{
        struct http_resp a, b, c;
        char before[4096], after[4096];

        add_order("o1", "BTC", "sell", "10", "open");
        ck_assert_int_eq(post_fill(&a, "{\"fill_id\":\"fa\",\"order_id\":\"o1\",\"price\":3,"
                                       "\"quantity\":1,\"trade_id\":\"T1\","
                                       "\"executed_at\":\"2026-01-01T00:00:00Z\"}"),
                         201);
        state(before, sizeof(before));
        /* another fill_id for the same execution: the stored fill comes back */
        ck_assert_int_eq(post_fill(&b, "{\"fill_id\":\"fb\",\"order_id\":\"o1\",\"price\":3,"
                                       "\"quantity\":1,\"trade_id\":\"T1\","
                                       "\"executed_at\":\"2026-01-01T00:00:00Z\"}"),
                         200);
        ck_assert(json_equal(a.json, b.json));
        ck_assert_str_eq(jstr(b.json, "fill_id"), "fa");
        /* no fill_id at all (the server would make one): the same */
        ck_assert_int_eq(post_fill(&c, "{\"order_id\":\"o1\",\"price\":3,\"quantity\":1,"
                                       "\"trade_id\":\"T1\"}"),
                         200);
        ck_assert(json_equal(a.json, c.json));
        state(after, sizeof(after));
        ck_assert_str_eq(before, after);
        ck_assert_int_eq(q_int("SELECT count(*) FROM fills WHERE fill_id = 'fb'"), 0);
        http_resp_clear(&a);
        http_resp_clear(&b);
        http_resp_clear(&c);
}
END_TEST

START_TEST(known_trade_id_other_content_is_409_and_writes_nothing)
{
        struct http_resp r;
        char before[4096], after[4096];

        add_order("o1", "BTC", "buy", "10", "open");
        ck_assert_int_eq(post_fill_status("{\"order_id\":\"o1\",\"price\":3,\"quantity\":1,"
                                          "\"trade_id\":\"T1\"}"),
                         201);
        state(before, sizeof(before));
        post_fill(&r, "{\"order_id\":\"o1\",\"price\":3,\"quantity\":2,\"trade_id\":\"T1\"}");
        assert_problem(&r, 409);
        ck_assert_ptr_nonnull(strstr(jstr(r.json, "detail"), "T1"));
        state(after, sizeof(after));
        ck_assert_str_eq(before, after);
        http_resp_clear(&r);
}
END_TEST

START_TEST(same_trade_id_on_another_order_is_a_new_fill)
{
        add_order("o1", "BTC", "buy", "10", "open");
        add_order("o2", "BTC", "buy", "10", "open");
        ck_assert_int_eq(post_fill_status("{\"order_id\":\"o1\",\"price\":3,\"quantity\":1,"
                                          "\"trade_id\":\"T1\"}"),
                         201);
        ck_assert_int_eq(post_fill_status("{\"order_id\":\"o2\",\"price\":3,\"quantity\":1,"
                                          "\"trade_id\":\"T1\"}"),
                         201);
        ck_assert_int_eq(q_int("SELECT count(*) FROM fills"), 2);
}
END_TEST

/* ---- events ---- */

START_TEST(exactly_one_fill_processed_event_per_applied_fill)
{
        int n = 0;

        add_order("o1", "BTC", "buy", "10", "open");
        add_order("o2", "BTC", "sell", "10", "open");
        for (int i = 0; i < 3; i++) {
                /* each posted twice: the redelivery adds nothing */
                for (int k = 0; k < 2; k++)
                        ck_assert_int_eq(post_fill_status("{\"fill_id\":\"f%d\",\"order_id\":"
                                                          "\"o%d\",\"price\":1,\"quantity\":1,"
                                                          "\"executed_at\":%d}",
                                                          i, 1 + i % 2, 1000 + i),
                                         k == 0 ? 201 : 200);
        }
        ck_assert_int_eq(post_fill_status("{\"order_id\":\"o1\",\"price\":1,\"quantity\":99}"),
                         409);
        n = (int)q_int("SELECT count(*) FROM outbox");
        for (int i = 0; i < n; i++) {
                static const char row[] = "SELECT %s FROM outbox ORDER BY seq LIMIT 1 OFFSET %d";
                char expect[128], got[256], fid[64], oid[64];

                q_text(got, sizeof(got), row, "event_type", i);
                ck_assert_str_eq(got, "fill_processed");
                q_text(got, sizeof(got), row, "payload", i);
                snprintf(expect, sizeof(expect), "{\"fill_id\":\"f%d\",\"order_id\":\"o%d\"}", i,
                         1 + i % 2);
                ck_assert_str_eq(got, expect);
                q_text(got, sizeof(got), row, "status", i);
                ck_assert_str_eq(got, "pending");
                q_text(fid, sizeof(fid), row, "json_extract(payload, '$.fill_id')", i);
                q_text(oid, sizeof(oid), row, "aggregate_id", i);
                ck_assert_int_eq(q_int("SELECT count(*) FROM fills WHERE fill_id = '%s' AND"
                                       " order_id = '%s'",
                                       fid, oid),
                                 1);
        }
        ck_assert_int_eq(n, 3);
}
END_TEST

/* ---- validation ---- */

struct bad_case {
        const char *body;
        const char *field;
};

static const struct bad_case bad[] = {
        { "{\"price\":1,\"quantity\":1}", "order_id" },
        { "{\"order_id\":\"o1\",\"quantity\":1}", "price" },
        { "{\"order_id\":\"o1\",\"price\":1}", "quantity" },
        { "{\"order_id\":\"o1\",\"price\":0,\"quantity\":1}", "price" },
        { "{\"order_id\":\"o1\",\"price\":\"-1\",\"quantity\":1}", "price" },
        { "{\"order_id\":\"o1\",\"price\":1,\"quantity\":0}", "quantity" },
        { "{\"order_id\":\"o1\",\"price\":1,\"quantity\":\"-0.5\"}", "quantity" },
        { "{\"order_id\":\"o1\",\"price\":\"1e2\",\"quantity\":1}", "price" },
        { "{\"order_id\":\"o1\",\"price\":\"1.000000001\",\"quantity\":1}", "price" },
        { "{\"order_id\":\"o1\",\"price\":\"92233720369\",\"quantity\":1}", "price" },
        { "{\"order_id\":\"o1\",\"price\":true,\"quantity\":1}", "price" },
        { "{\"order_id\":\"o 1\",\"price\":1,\"quantity\":1}", "order_id" },
        { "{\"order_id\":1,\"price\":1,\"quantity\":1}", "order_id" },
        { "{\"fill_id\":\"\",\"order_id\":\"o1\",\"price\":1,\"quantity\":1}", "fill_id" },
        { "{\"order_id\":\"o1\",\"price\":1,\"quantity\":1,\"side\":\"long\"}", "side" },
        { "{\"order_id\":\"o1\",\"price\":1,\"quantity\":1,\"symbol\":\"BTC USDT\"}", "symbol" },
        { "{\"order_id\":\"o1\",\"price\":1,\"quantity\":1,\"trade_id\":\"a b\"}", "trade_id" },
        { "{\"order_id\":\"o1\",\"price\":1,\"quantity\":1,\"commission\":\"x\"}", "commission" },
        { "{\"order_id\":\"o1\",\"price\":1,\"quantity\":1,\"commission_asset\":\"B N\"}",
          "commission_asset" },
        { "{\"order_id\":\"o1\",\"price\":1,\"quantity\":1,\"commission_asset\":"
          "\"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456\"}",
          "commission_asset" },
        { "{\"order_id\":\"o1\",\"price\":1,\"quantity\":1,\"is_maker\":\"yes\"}", "is_maker" },
        { "{\"order_id\":\"o1\",\"price\":1,\"quantity\":1,\"executed_at\":\"yesterday\"}",
          "executed_at" },
        { "{\"order_id\":\"o1\",\"price\":1,\"quantity\":1,\"created_at\":" T0 "}", "created_at" },
        { "{\"order_id\":\"o1\",\"price\":1,\"quantity\":1,\"qty\":1}", "qty" },
        { "{\"order_id\":\"o1\",\"price\":1,\"quantity\":1,\"filled_quantity\":1}",
          "filled_quantity" },
};

START_TEST(invalid_field_is_400_naming_it_and_writes_nothing)
{
        const struct bad_case *c = &bad[_i];
        struct http_resp r;
        char before[4096], after[4096];

        add_order("o1", "BTC", "buy", "10", "open");
        state(before, sizeof(before));
        http_json(&h, "POST", "/fills", c->body, &r);
        ck_assert_msg(r.status == 400, "%s: %ld", c->body, r.status);
        assert_problem(&r, 400);
        ck_assert_msg(names_field(r.json, c->field), "%s: %s", c->body, r.body);
        state(after, sizeof(after));
        ck_assert_str_eq(before, after);
        http_resp_clear(&r);
}
END_TEST

START_TEST(every_invalid_field_is_named_at_once)
{
        static const char *const fields[] = { "order_id", "price",      "quantity",
                                              "side",     "created_at", "bogus" };
        struct http_resp r;

        http_json(&h, "POST", "/fills",
                  "{\"price\":\"-1\",\"quantity\":\"0\",\"side\":\"x\",\"created_at\":1,"
                  "\"bogus\":1}",
                  &r);
        assert_problem(&r, 400);
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
                ck_assert_msg(names_field(r.json, fields[i]), "%s missing: %s", fields[i], r.body);
        ck_assert_int_eq(json_array_size(json_object_get(r.json, "errors")), 6);
        http_resp_clear(&r);
}
END_TEST

START_TEST(non_json_body_is_rejected)
{
        struct http_resp r;

        http_do(&h, "POST", "/fills", "order_id=o1", "text/plain", NULL, &r);
        assert_problem(&r, 415);
        http_resp_clear(&r);
        http_json(&h, "POST", "/fills", "{\"order_id\":", &r);
        assert_problem(&r, 400);
        http_resp_clear(&r);
}
END_TEST

START_TEST(commission_may_be_negative_and_asset_empty)
{
        struct http_resp r;

        add_order("o1", "BTC", "buy", "10", "open");
        ck_assert_int_eq(post_fill(&r, "{\"order_id\":\"o1\",\"price\":1,\"quantity\":1,"
                                       "\"commission\":-0.25,\"commission_asset\":\"\"}"),
                         201);
        ck_assert_str_eq(jstr(r.json, "commission"), "-0.25");
        ck_assert_str_eq(jstr(r.json, "commission_asset"), "");
        http_resp_clear(&r);
}
END_TEST

/* ---- positions through fills ---- */

static void
fill_ok(const char *order_id, const char *price, const char *qty)
{
        ck_assert_int_eq(post_fill_status("{\"order_id\":\"%s\",\"price\":\"%s\","
                                          "\"quantity\":\"%s\"}",
                                          order_id, price, qty),
                         201);
}

static void
assert_position(const char *symbol, const char *qty, const char *avg, const char *realized)
{
        char path[96];
        struct http_resp r;

        snprintf(path, sizeof(path), "/positions/%s", symbol);
        ck_assert_int_eq(http_json(&h, "GET", path, NULL, &r), 200);
        ck_assert_str_eq(jstr(r.json, "quantity"), qty);
        ck_assert_str_eq(jstr(r.json, "avg_entry_price"), avg);
        ck_assert_str_eq(jstr(r.json, "realized_pnl"), realized);
        ck_assert_str_eq(jstr(r.json, "unrealized_pnl"), "0");
        ck_assert(json_is_null(json_object_get(r.json, "mark_price")));
        http_resp_clear(&r);
}

START_TEST(position_follows_long_short_and_flips)
{
        add_order("b", "BTC/USDT", "buy", "100", "open");
        add_order("s", "BTC/USDT", "sell", "100", "open");
        fill_ok("b", "100", "2");
        assert_position("BTC/USDT", "2", "100", "0");
        fill_ok("b", "110", "2");
        assert_position("BTC/USDT", "4", "105", "0");
        fill_ok("s", "110", "1");
        assert_position("BTC/USDT", "3", "105", "5");
        /* flip: closes 3 at (120 - 105), opens 2 short at 120 */
        fill_ok("s", "120", "5");
        assert_position("BTC/USDT", "-2", "120", "50");
        fill_ok("s", "130", "2");
        assert_position("BTC/USDT", "-4", "125", "50");
        /* closes the 4 short at (125 - 100) each, then opens 1 long at 100 */
        fill_ok("b", "100", "5");
        assert_position("BTC/USDT", "1", "100", "150");
        fill_ok("s", "99.5", "1");
        assert_position("BTC/USDT", "0", "0", "149.5");
}
END_TEST

/* Issue 15: the position's average entry is the exact VWAP of the fills that
 * grew it, rounded once, like the order's avg_fill_price: the exact cost
 * basis survives between fills (it is stored, not re-derived from the
 * rounded average). */
START_TEST(position_avg_entry_is_the_exact_vwap_like_the_order)
{
        add_order("b", "BTC", "buy", "100", "open");
        fill_ok("b", "0.66", "7");
        fill_ok("b", "0.74", "6");
        fill_ok("b", "0.59", "6");
        ck_assert_int_eq(q_int("SELECT avg_fill_price FROM orders WHERE order_id = 'b'"),
                         D("0.66315789"));
        assert_position("BTC", "19", "0.66315789", "0");
}
END_TEST

/* PUT /positions sets the basis to avg x quantity exactly: 1@1, 1@1, 1@2
 * cost 4 (avg 1.33333333); after a PUT of the same 3 @ 1.33333333 they cost
 * 3.99999999, so 3 more @ 1 average 6.99999999 / 6 = 1.16666666|5, half-even
 * 1.16666666, where the unreconciled basis gives 7 / 6 = 1.16666667. */
START_TEST(put_position_resets_the_basis_to_avg_times_quantity)
{
        struct http_resp r;

        add_order("b", "BTC", "buy", "100", "open");
        add_order("c", "ETH", "buy", "100", "open");
        fill_ok("b", "1", "1");
        fill_ok("b", "1", "1");
        fill_ok("b", "2", "1");
        fill_ok("c", "1", "1");
        fill_ok("c", "1", "1");
        fill_ok("c", "2", "1");
        assert_position("BTC", "3", "1.33333333", "0");
        ck_assert_int_eq(http_json(&h, "PUT", "/positions/BTC",
                                   "{\"quantity\":\"3\",\"avg_entry_price\":\"1.33333333\"}", &r),
                         200);
        http_resp_clear(&r);
        fill_ok("b", "1", "3");
        fill_ok("c", "1", "3");
        assert_position("BTC", "6", "1.16666666", "0");
        assert_position("ETH", "6", "1.16666667", "0");
}
END_TEST

START_TEST(position_overflow_is_409_and_writes_nothing)
{
        struct http_resp r;
        char before[4096], after[4096];

        add_order("b", "BTC", "buy", "1", "open");
        exec_sql("INSERT INTO positions (symbol, quantity, avg_entry_price, realized_pnl,"
                 " unrealized_pnl, last_updated) VALUES ('BTC', %lld, 100000000, 0, 0, 1)",
                 (long long)D("92233720368"));
        state(before, sizeof(before));
        post_fill(&r, "{\"order_id\":\"b\",\"price\":1,\"quantity\":1}");
        assert_problem(&r, 409);
        ck_assert_ptr_nonnull(strstr(jstr(r.json, "detail"), "out of range"));
        state(after, sizeof(after));
        ck_assert_str_eq(before, after);
        http_resp_clear(&r);
}
END_TEST

START_TEST(fill_updates_unrealized_pnl_against_the_mark)
{
        struct http_resp r;

        add_order("b", "BTC", "buy", "10", "open");
        fill_ok("b", "100", "1");
        ck_assert_int_eq(http_json(&h, "PATCH", "/positions/BTC", "{\"mark_price\":115}", &r), 200);
        http_resp_clear(&r);
        fill_ok("b", "120", "1");
        ck_assert_int_eq(http_json(&h, "GET", "/positions/BTC", NULL, &r), 200);
        ck_assert_str_eq(jstr(r.json, "avg_entry_price"), "110");
        ck_assert_str_eq(jstr(r.json, "unrealized_pnl"), "10"); /* (115 - 110) * 2 */
        ck_assert_str_eq(jstr(r.json, "mark_price"), "115");
        http_resp_clear(&r);
}
END_TEST

/* ---- concurrency ---- */

struct poster {
        const char *base;
        int thread;
        int count;
        long statuses[32];
};

static size_t
discard(char *data, size_t size, size_t n, void *cls)
{
        (void)data;
        (void)cls;
        return size * n;
}

static void *
poster_main(void *arg)
{
        struct poster *p = arg;
        CURL *c = curl_easy_init();
        struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
        char url[128], body[256];

        hl = curl_slist_append(hl, "Expect:");
        snprintf(url, sizeof(url), "%s/fills", p->base);
        for (int i = 0; i < p->count; i++) {
                p->statuses[i] = -1;
                if (c == NULL)
                        continue;
                snprintf(body, sizeof(body),
                         "{\"fill_id\":\"t%d-%d\",\"order_id\":\"big\",\"price\":\"%d.5\","
                         "\"quantity\":1}",
                         p->thread, i, 100 + i);
                curl_easy_setopt(c, CURLOPT_URL, url);
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
                curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
                curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
                if (curl_easy_perform(c) == CURLE_OK)
                        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &p->statuses[i]);
        }
        curl_slist_free_all(hl);
        curl_easy_cleanup(c);
        return NULL;
}

/* 8 clients post per_thread fills of quantity 1 each to an order of 200;
 * returns the count of 201 and of 409 answers; any other answer fails. */
static void
post_concurrently(int per_thread, int *ret_created, int *ret_conflicts)
{
        struct poster p[8];
        pthread_t t[8];
        int created = 0, conflicts = 0;

        add_order("big", "ETH", "buy", "200", "open");
        for (int i = 0; i < 8; i++) {
                p[i] = (struct poster){ .base = h.base_url, .thread = i, .count = per_thread };
                ck_assert_int_eq(pthread_create(&t[i], NULL, poster_main, &p[i]), 0);
        }
        for (int i = 0; i < 8; i++)
                ck_assert_int_eq(pthread_join(t[i], NULL), 0);
        for (int i = 0; i < 8; i++) {
                for (int k = 0; k < per_thread; k++) {
                        long s = p[i].statuses[k];

                        ck_assert_msg(s == 201 || s == 409, "thread %d post %d: %ld", i, k, s);
                        created += s == 201;
                        conflicts += s == 409;
                }
        }
        *ret_created = created;
        *ret_conflicts = conflicts;
}

static void
assert_big_order_full(void)
{
        assert_order("big", "200", "filled");
        ck_assert_int_eq(q_int("SELECT count(*) FROM fills WHERE order_id = 'big'"), 200);
        ck_assert_int_eq(q_int("SELECT quantity FROM positions WHERE symbol = 'ETH'"), D("200"));
        ck_assert_int_eq(q_int("SELECT count(*) FROM outbox WHERE event_type = 'fill_processed'"),
                         200);
        /* the order's average agrees with its stored fills */
        ck_assert_int_eq(q_int("SELECT avg_fill_price FROM orders WHERE order_id = 'big'"),
                         q_int("SELECT (sum(price) + 100) / 200 FROM fills"));
}

START_TEST(eight_clients_fill_one_order_exactly)
{
        int created, conflicts;

        post_concurrently(25, &created, &conflicts);
        ck_assert_int_eq(created, 200);
        ck_assert_int_eq(conflicts, 0);
        assert_big_order_full();
}
END_TEST

START_TEST(eight_clients_overfilling_one_order_get_exactly_eight_conflicts)
{
        int created, conflicts;

        post_concurrently(26, &created, &conflicts);
        ck_assert_int_eq(created, 200);
        ck_assert_int_eq(conflicts, 8);
        assert_big_order_full();
}
END_TEST

/* ---- GET /fills ---- */

/* Ten fills on two orders and two symbols; f3 and f4 share executed_at. */
static void
add_list_fixture(void)
{
        add_order("oa", "AAA", "buy", "100", "open");
        add_order("ob", "BBB", "buy", "100", "open");
        for (int i = 0; i < 10; i++) {
                int secs = 1000 + i - (i == 4); /* f3 and f4 both at 1003 */

                ck_assert_int_eq(post_fill_status("{\"fill_id\":\"f%d\",\"order_id\":\"%s\","
                                                  "\"price\":1,\"quantity\":1,"
                                                  "\"executed_at\":%d}",
                                                  i, i % 2 ? "ob" : "oa", secs),
                                 201);
        }
}

/* GETs path and writes the fill_ids of the page, space-separated, into buf;
 * *ret_next is the next_cursor (or "" for null). */
static void
list_ids(const char *path, char *buf, size_t cap, char *ret_next, size_t next_cap)
{
        struct http_resp r;
        const json_t *items, *next;
        size_t i, len = 0;
        json_t *it;

        ck_assert_msg(http_json(&h, "GET", path, NULL, &r) == 200, "%s: %s", path, r.body);
        ck_assert_str_eq(r.ctype, "application/json");
        items = json_object_get(r.json, "items");
        next = json_object_get(r.json, "next_cursor");
        ck_assert(json_is_array(items));
        ck_assert(json_is_null(next) || json_is_string(next));
        buf[0] = '\0';
        json_array_foreach(items, i, it) len +=
                (size_t)snprintf(buf + len, cap - len, "%s%s", i ? " " : "", jstr(it, "fill_id"));
        if (ret_next != NULL)
                snprintf(ret_next, next_cap, "%s",
                         json_is_string(next) ? json_string_value(next) : "");
        http_resp_clear(&r);
}

START_TEST(list_is_newest_executed_first_with_filters)
{
        char ids[512], next[256];

        add_list_fixture();
        list_ids("/fills", ids, sizeof(ids), next, sizeof(next));
        ck_assert_str_eq(ids, "f9 f8 f7 f6 f5 f4 f3 f2 f1 f0");
        ck_assert_str_eq(next, "");
        list_ids("/fills?order_id=oa", ids, sizeof(ids), NULL, 0);
        ck_assert_str_eq(ids, "f8 f6 f4 f2 f0");
        list_ids("/fills?symbol=BBB", ids, sizeof(ids), NULL, 0);
        ck_assert_str_eq(ids, "f9 f7 f5 f3 f1");
        list_ids("/fills?symbol=BBB&order_id=ob", ids, sizeof(ids), NULL, 0);
        ck_assert_str_eq(ids, "f9 f7 f5 f3 f1");
        list_ids("/fills?symbol=AAA&order_id=ob", ids, sizeof(ids), NULL, 0);
        ck_assert_str_eq(ids, "");
        list_ids("/fills?order_id=nobody", ids, sizeof(ids), NULL, 0);
        ck_assert_str_eq(ids, "");
        list_ids("/fills?symbol=&order_id=", ids, sizeof(ids), NULL, 0); /* empty = absent */
        ck_assert_str_eq(ids, "f9 f8 f7 f6 f5 f4 f3 f2 f1 f0");
}
END_TEST

START_TEST(list_time_bounds_are_exclusive)
{
        char ids[512];

        add_list_fixture();
        /* 1003 = 1970-01-01T00:16:43Z holds f3 and f4 */
        list_ids("/fills?executed_after=1003", ids, sizeof(ids), NULL, 0);
        ck_assert_str_eq(ids, "f9 f8 f7 f6 f5");
        list_ids("/fills?executed_before=1970-01-01T00:16:43Z", ids, sizeof(ids), NULL, 0);
        ck_assert_str_eq(ids, "f2 f1 f0");
        list_ids("/fills?executed_after=1002&executed_before=1005.000001&order_id=oa", ids,
                 sizeof(ids), NULL, 0);
        ck_assert_str_eq(ids, "f4");
        list_ids("/fills?executed_after=1002&executed_before=1006&symbol=BBB", ids, sizeof(ids),
                 NULL, 0);
        ck_assert_str_eq(ids, "f5 f3");
}
END_TEST

START_TEST(list_pages_visit_every_fill_once)
{
        static const char *const walks[][2] = {
                { "/fills?limit=3", "f9 f8 f7|f6 f5 f4|f3 f2 f1|f0|" },
                { "/fills?limit=5", "f9 f8 f7 f6 f5|f4 f3 f2 f1 f0||" },
                { "/fills?limit=2&order_id=oa", "f8 f6|f4 f2|f0|" },
                { "/fills?limit=2&symbol=BBB&executed_before=1009", "f7 f5|f3 f1||" },
                { "/fills?limit=1&executed_after=1006", "f9|f8|f7||" },
        };

        add_list_fixture();
        for (size_t w = 0; w < sizeof(walks) / sizeof(walks[0]); w++) {
                char seen[512] = "", ids[512], next[256] = "", path[512];
                size_t len = 0;

                snprintf(path, sizeof(path), "%s", walks[w][0]);
                for (int pages = 0; pages < 20; pages++) {
                        list_ids(path, ids, sizeof(ids), next, sizeof(next));
                        len += (size_t)snprintf(seen + len, sizeof(seen) - len, "%s|", ids);
                        if (next[0] == '\0')
                                break;
                        snprintf(path, sizeof(path), "%s&cursor=%s", walks[w][0], next);
                }
                ck_assert_str_eq(seen, walks[w][1]);
        }
}
END_TEST

START_TEST(list_walk_sees_old_fills_once_while_new_ones_arrive)
{
        char ids[512], next[256], path[512], seen[1024] = "";
        size_t len = 0;
        int added = 0;

        add_list_fixture();
        snprintf(path, sizeof(path), "/fills?limit=3");
        for (;;) {
                list_ids(path, ids, sizeof(ids), next, sizeof(next));
                len += (size_t)snprintf(seen + len, sizeof(seen) - len, " %s ", ids);
                /* one newer and one older (same second as f0) between pages */
                ck_assert_int_eq(post_fill_status("{\"fill_id\":\"n%d\",\"order_id\":\"oa\","
                                                  "\"price\":1,\"quantity\":1,"
                                                  "\"executed_at\":%d}",
                                                  added, 2000 + added),
                                 201);
                ck_assert_int_eq(post_fill_status("{\"fill_id\":\"m%d\",\"order_id\":\"oa\","
                                                  "\"price\":1,\"quantity\":1,"
                                                  "\"executed_at\":1000}",
                                                  added),
                                 201);
                added++;
                if (next[0] == '\0')
                        break;
                snprintf(path, sizeof(path), "/fills?limit=3&cursor=%s", next);
        }
        for (int i = 0; i < 10; i++) {
                char needle[16];
                const char *at;

                snprintf(needle, sizeof(needle), " f%d ", i);
                at = strstr(seen, needle);
                ck_assert_msg(at != NULL, "f%d not seen: %s", i, seen);
                ck_assert_msg(strstr(at + 1, needle) == NULL, "f%d seen twice: %s", i, seen);
        }
        for (int i = 0; i < added; i++) {
                char needle[16];

                snprintf(needle, sizeof(needle), " n%d ", i);
                ck_assert_msg(strstr(seen, needle) == NULL, "newer n%d appeared: %s", i, seen);
        }
}
END_TEST

START_TEST(list_rejects_bad_query)
{
        static const char *const paths[][2] = {
                { "/fills?cursor=!!!", "cursor" },
                { "/fills?limit=0", "limit" },
                { "/fills?limit=1001", "limit" },
                { "/fills?limit=x", "limit" },
                { "/fills?order=oa", "order" },
                { "/fills?order_id=a%20b", "order_id" },
                { "/fills?symbol=A%20B", "symbol" },
                { "/fills?executed_after=soon", "executed_after" },
                { "/fills?executed_before=2026-13-01T00:00:00Z", "executed_before" },
        };

        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
                struct http_resp r;

                http_json(&h, "GET", paths[i][0], NULL, &r);
                assert_problem(&r, 400);
                ck_assert_msg(names_field(r.json, paths[i][1]), "%s: %s", paths[i][0], r.body);
                http_resp_clear(&r);
        }
}
END_TEST

START_TEST(list_limit_and_full_last_page)
{
        char ids[512], next[256], path[512];

        add_list_fixture();
        list_ids("/fills?limit=10", ids, sizeof(ids), next, sizeof(next));
        ck_assert_str_eq(ids, "f9 f8 f7 f6 f5 f4 f3 f2 f1 f0");
        ck_assert(next[0] != '\0'); /* full page: a cursor, to an empty page */
        snprintf(path, sizeof(path), "/fills?limit=10&cursor=%s", next);
        list_ids(path, ids, sizeof(ids), next, sizeof(next));
        ck_assert_str_eq(ids, "");
        ck_assert_str_eq(next, "");
}
END_TEST

/* No list query may scan the table without an index, nor sort in a temp
 * b-tree: every combination walks an index in order. */
START_TEST(every_list_query_uses_an_index)
{
        size_t n;
        const char *const *sqls = repo_fills_list_sql(&n);

        ck_assert_int_eq(n, 4);
        harness_assert_indexed(&h, sqls, n);
}
END_TEST

static Suite *
fills_suite(void)
{
        Suite *s = suite_create("fills");
        TCase *tc = tcase_create("fills");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, create_returns_201_with_defaults_from_the_order);
        tcase_add_test(tc, create_stores_every_field_and_get_returns_it);
        tcase_add_test(tc, executed_at_as_epoch_seconds_is_exact);
        tcase_add_test(tc, executed_at_numbers_are_read_from_their_text_and_truncated);
        tcase_add_test(tc, get_unknown_fill_is_404);
        tcase_add_test(tc, fills_grow_the_order_and_set_its_status);
        tcase_add_test(tc, avg_fill_price_is_the_exact_vwap_rounded_once);
        tcase_add_test(tc, fill_on_cancelled_or_expired_order_is_recorded_and_status_stays);
        tcase_add_test(tc, fill_on_rejected_order_is_409_and_writes_nothing);
        tcase_add_test(tc, symbol_or_side_other_than_the_order_is_409_and_writes_nothing);
        tcase_add_test(tc, fill_for_unknown_order_is_422_and_writes_nothing);
        tcase_add_test(tc, fill_past_order_quantity_is_conflict_and_writes_nothing);
        tcase_add_test(tc, same_fill_id_same_content_is_200_with_stored_fill_and_applies_nothing);
        tcase_add_test(tc, redelivery_after_the_order_moved_on_is_still_200);
        tcase_add_test(tc, same_fill_id_other_content_is_409_and_writes_nothing);
        tcase_add_test(tc, known_trade_id_same_content_returns_the_stored_fill);
        tcase_add_test(tc, known_trade_id_other_content_is_409_and_writes_nothing);
        tcase_add_test(tc, same_trade_id_on_another_order_is_a_new_fill);
        tcase_add_test(tc, exactly_one_fill_processed_event_per_applied_fill);
        tcase_add_loop_test(tc, invalid_field_is_400_naming_it_and_writes_nothing, 0,
                            (int)(sizeof(bad) / sizeof(bad[0])));
        tcase_add_test(tc, every_invalid_field_is_named_at_once);
        tcase_add_test(tc, non_json_body_is_rejected);
        tcase_add_test(tc, commission_may_be_negative_and_asset_empty);
        tcase_add_test(tc, position_follows_long_short_and_flips);
        tcase_add_test(tc, position_avg_entry_is_the_exact_vwap_like_the_order);
        tcase_add_test(tc, put_position_resets_the_basis_to_avg_times_quantity);
        tcase_add_test(tc, position_overflow_is_409_and_writes_nothing);
        tcase_add_test(tc, fill_updates_unrealized_pnl_against_the_mark);
        tcase_add_test(tc, eight_clients_fill_one_order_exactly);
        tcase_add_test(tc, eight_clients_overfilling_one_order_get_exactly_eight_conflicts);
        tcase_add_test(tc, list_is_newest_executed_first_with_filters);
        tcase_add_test(tc, list_time_bounds_are_exclusive);
        tcase_add_test(tc, list_pages_visit_every_fill_once);
        tcase_add_test(tc, list_walk_sees_old_fills_once_while_new_ones_arrive);
        tcase_add_test(tc, list_rejects_bad_query);
        tcase_add_test(tc, list_limit_and_full_last_page);
        tcase_add_test(tc, every_list_query_uses_an_index);
        suite_add_tcase(s, tc);
        return s;
}

int
main(void)
{
        curl_global_init(CURL_GLOBAL_ALL);
        return harness_run_suite(fills_suite());
}
