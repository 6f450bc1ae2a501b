/* HTTP tests of the /positions endpoints (../shared/API.md, "Positions"):
 * reads, reconciliation (PUT: 201 new, 200 existing, realized_pnl kept when
 * absent, a position_reconciled event carrying the position), the mark
 * price (PATCH: unrealized_pnl recomputed, no event), every refusal with
 * "nothing written" checked on the database, symbols holding '/', and the
 * list by symbol with its pagination and query plan. How fills move a
 * position is tested in test_fills.c and test_position_math.c. */
#include "repo/positions.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ts.h"
#include "tests/harness.h"

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

static void
q_text(char *buf, size_t cap, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        harness_sql_vtext(&h, buf, cap, fmt, ap);
        va_end(ap);
}

static int64_t
q_int(const char *sql)
{
        return harness_sql_int(&h, "%s", sql);
}

/* Every position and the outbox size, as one text. */
static void
state(char *buf, size_t cap)
{
        q_text(buf, cap,
               "SELECT (SELECT coalesce(group_concat(symbol || ',' || quantity || ',' ||"
               "  avg_entry_price || ',' || realized_pnl || ',' || unrealized_pnl || ',' ||"
               "  coalesce(CAST(mark_price AS TEXT), '-') || ',' || last_updated, ';'), '') FROM positions)"
               " || '|' || (SELECT count(*) FROM outbox)");
}

static const char *
jstr(const json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
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

static bool
names_field(const json_t *problem, const char *field)
{
        size_t i;
        json_t *e;

        json_array_foreach(json_object_get(problem, "errors"), i,
                           e) if (strcmp(jstr(e, "field"), field) == 0) return true;
        return false;
}

static long
put(const char *symbol, const char *body)
{
        char path[128];
        struct http_resp r;
        long status;

        snprintf(path, sizeof(path), "/positions/%s", symbol);
        status = http_json(&h, "PUT", path, body, &r);
        http_resp_clear(&r);
        return status;
}

static void
assert_position(const json_t *p, const char *qty, const char *avg, const char *realized,
                const char *unrealized, const char *mark)
{
        ck_assert_str_eq(jstr(p, "quantity"), qty);
        ck_assert_str_eq(jstr(p, "avg_entry_price"), avg);
        ck_assert_str_eq(jstr(p, "realized_pnl"), realized);
        ck_assert_str_eq(jstr(p, "unrealized_pnl"), unrealized);
        if (mark == NULL)
                ck_assert(json_is_null(json_object_get(p, "mark_price")));
        else
                ck_assert_str_eq(jstr(p, "mark_price"), mark);
}

/* ---- reads ---- */

START_TEST(get_unknown_position_is_404)
{
        struct http_resp r;

        http_json(&h, "GET", "/positions/NOPE", NULL, &r);
        assert_problem(&r, 404);
        ck_assert_ptr_nonnull(strstr(jstr(r.json, "detail"), "NOPE"));
        http_resp_clear(&r);
}
END_TEST

START_TEST(url_symbol_breaking_the_rules_is_404)
{
        static const char *const paths[] = {
                "/positions/BTC%20USDT",
                "/positions/ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456",
                "/positions/BTC:USDT",
        };

        for (size_t i = 0; i < 3; i++) {
                struct http_resp r;

                http_json(&h, "PUT", paths[i], "{\"quantity\":1,\"avg_entry_price\":1}", &r);
                assert_problem(&r, 404);
                http_resp_clear(&r);
        }
        ck_assert_int_eq(q_int("SELECT count(*) FROM positions"), 0);
}
END_TEST

/* ---- PUT ---- */

START_TEST(put_new_is_201_then_200_and_get_returns_it)
{
        struct http_resp r, g;
        int64_t t0 = ts_now_us(), t1, lu;

        ck_assert_int_eq(http_json(&h, "PUT", "/positions/BTC",
                                   "{\"quantity\":\"1.50\",\"avg_entry_price\":100}", &r),
                         201);
        t1 = ts_now_us();
        ck_assert_str_eq(r.ctype, "application/json");
        ck_assert_str_eq(jstr(r.json, "symbol"), "BTC");
        assert_position(r.json, "1.5", "100", "0", "0", NULL); /* realized 0 when new */
        ck_assert(
                ts_parse(jstr(r.json, "last_updated"), strlen(jstr(r.json, "last_updated")), &lu));
        ck_assert(lu >= t0 && lu <= t1);
        ck_assert_int_eq(json_object_size(r.json), 7);
        ck_assert_int_eq(http_json(&h, "GET", "/positions/BTC", NULL, &g), 200);
        ck_assert(json_equal(r.json, g.json));
        http_resp_clear(&r);
        http_resp_clear(&g);

        ck_assert_int_eq(http_json(&h, "PUT", "/positions/BTC",
                                   "{\"quantity\":2,\"avg_entry_price\":90,\"realized_pnl\":"
                                   "\"-12.5\"}",
                                   &r),
                         200);
        assert_position(r.json, "2", "90", "-12.5", "0", NULL);
        http_resp_clear(&r);
        /* realized_pnl absent: unchanged */
        ck_assert_int_eq(http_json(&h, "PUT", "/positions/BTC",
                                   "{\"quantity\":-3,\"avg_entry_price\":95}", &r),
                         200);
        assert_position(r.json, "-3", "95", "-12.5", "0", NULL);
        ck_assert_int_eq(http_json(&h, "GET", "/positions/BTC", NULL, &g), 200);
        ck_assert(json_equal(r.json, g.json));
        http_resp_clear(&r);
        http_resp_clear(&g);
}
END_TEST

START_TEST(put_adds_a_position_reconciled_event_carrying_the_position)
{
        struct http_resp r;
        char payload[1024];
        json_t *p;

        for (int i = 0; i < 2; i++) {
                ck_assert_int_eq(http_json(&h, "PUT", "/positions/ETH%2FUSDT",
                                           i == 0 ? "{\"quantity\":1,\"avg_entry_price\":2}"
                                                  : "{\"quantity\":0,\"avg_entry_price\":0}",
                                           &r),
                                 i == 0 ? 201 : 200);
                ck_assert_int_eq(q_int("SELECT count(*) FROM outbox"), i + 1);
                q_text(payload, sizeof(payload),
                       "SELECT payload FROM outbox WHERE event_type = 'position_reconciled'"
                       " AND aggregate_id = 'ETH/USDT' AND status = 'pending'"
                       " ORDER BY seq DESC LIMIT 1");
                p = json_loads(payload, 0, NULL);
                ck_assert_ptr_nonnull(p);
                ck_assert(json_equal(p, r.json));
                json_decref(p);
                http_resp_clear(&r);
        }
}
END_TEST

START_TEST(put_keeps_the_mark_and_recomputes_unrealized)
{
        struct http_resp r;

        ck_assert_int_eq(put("BTC", "{\"quantity\":1,\"avg_entry_price\":100}"), 201);
        ck_assert_int_eq(http_json(&h, "PATCH", "/positions/BTC", "{\"mark_price\":110}", &r), 200);
        http_resp_clear(&r);
        ck_assert_int_eq(http_json(&h, "PUT", "/positions/BTC",
                                   "{\"quantity\":-2,\"avg_entry_price\":\"112.5\"}", &r),
                         200);
        /* (110 - 112.5) * -2 */
        assert_position(r.json, "-2", "112.5", "0", "5", "110");
        http_resp_clear(&r);
}
END_TEST

struct bad_case {
        const char *body;
        const char *field;
};

static const struct bad_case bad_put[] = {
        { "{\"avg_entry_price\":1}", "quantity" },
        { "{\"quantity\":1}", "avg_entry_price" },
        { "{\"quantity\":1,\"avg_entry_price\":\"-1\"}", "avg_entry_price" },
        { "{\"quantity\":0,\"avg_entry_price\":5}", "avg_entry_price" },
        { "{\"quantity\":\"1.000000001\",\"avg_entry_price\":1}", "quantity" },
        { "{\"quantity\":\"x\",\"avg_entry_price\":1}", "quantity" },
        { "{\"quantity\":1,\"avg_entry_price\":1,\"realized_pnl\":\"1e3\"}", "realized_pnl" },
        { "{\"quantity\":1,\"avg_entry_price\":1,\"unrealized_pnl\":0}", "unrealized_pnl" },
        { "{\"quantity\":1,\"avg_entry_price\":1,\"last_updated\":0}", "last_updated" },
        { "{\"quantity\":1,\"avg_entry_price\":1,\"qty\":1}", "qty" },
        { "{\"quantity\":1,\"avg_entry_price\":1,\"mark_price\":1}", "mark_price" },
};

START_TEST(put_invalid_is_400_naming_the_field_and_writes_nothing)
{
        const struct bad_case *c = &bad_put[_i];
        struct http_resp r;
        char before[2048], after[2048];

        ck_assert_int_eq(put("BTC", "{\"quantity\":1,\"avg_entry_price\":7}"), 201);
        state(before, sizeof(before));
        http_json(&h, "PUT", "/positions/BTC", c->body, &r);
        assert_problem(&r, 400);
        ck_assert_msg(names_field(r.json, c->field), "%s: %s", c->body, r.body);
        state(after, sizeof(after));
        ck_assert_str_eq(before, after);
        http_resp_clear(&r);
}
END_TEST

START_TEST(put_names_every_invalid_field_at_once)
{
        struct http_resp r;

        http_json(&h, "PUT", "/positions/BTC", "{\"unrealized_pnl\":1,\"x\":2}", &r);
        assert_problem(&r, 400);
        ck_assert(names_field(r.json, "quantity"));
        ck_assert(names_field(r.json, "avg_entry_price"));
        ck_assert(names_field(r.json, "unrealized_pnl"));
        ck_assert(names_field(r.json, "x"));
        ck_assert_int_eq(q_int("SELECT count(*) FROM positions"), 0);
        http_resp_clear(&r);
}
END_TEST

START_TEST(put_result_out_of_range_is_409_and_writes_nothing)
{
        struct http_resp r;
        char before[2048], after[2048];

        ck_assert_int_eq(put("BTC", "{\"quantity\":1,\"avg_entry_price\":1}"), 201);
        ck_assert_int_eq(
                http_json(&h, "PATCH", "/positions/BTC", "{\"mark_price\":\"92233720368\"}", &r),
                200);
        http_resp_clear(&r);
        state(before, sizeof(before));
        http_json(&h, "PUT", "/positions/BTC",
                  "{\"quantity\":\"92233720368\",\"avg_entry_price\":1}", &r);
        assert_problem(&r, 409);
        ck_assert_ptr_nonnull(strstr(jstr(r.json, "detail"), "out of range"));
        state(after, sizeof(after));
        ck_assert_str_eq(before, after);
        http_resp_clear(&r);
}
END_TEST

/* ---- PATCH ---- */

START_TEST(patch_mark_recomputes_unrealized_and_adds_no_event)
{
        struct http_resp r, g;
        char lu_before[64];

        ck_assert_int_eq(put("L", "{\"quantity\":\"2.5\",\"avg_entry_price\":100}"), 201);
        ck_assert_int_eq(put("S", "{\"quantity\":\"-2\",\"avg_entry_price\":100}"), 201);
        ck_assert_int_eq(put("F", "{\"quantity\":0,\"avg_entry_price\":0}"), 201);
        q_text(lu_before, sizeof(lu_before),
               "SELECT last_updated FROM positions WHERE symbol = 'L'");
        ck_assert_int_eq(http_json(&h, "PATCH", "/positions/L", "{\"mark_price\":\"101.2\"}", &r),
                         200);
        ck_assert_str_eq(r.ctype, "application/json");
        assert_position(r.json, "2.5", "100", "0", "3", "101.2");
        ck_assert_int_eq(http_json(&h, "GET", "/positions/L", NULL, &g), 200);
        ck_assert(json_equal(r.json, g.json));
        ck_assert(q_int("SELECT last_updated FROM positions WHERE symbol = 'L'") >
                  strtoll(lu_before, NULL, 10));
        http_resp_clear(&r);
        http_resp_clear(&g);
        ck_assert_int_eq(http_json(&h, "PATCH", "/positions/S", "{\"mark_price\":90}", &r), 200);
        assert_position(r.json, "-2", "100", "0", "20", "90");
        http_resp_clear(&r);
        ck_assert_int_eq(http_json(&h, "PATCH", "/positions/F", "{\"mark_price\":90}", &r), 200);
        assert_position(r.json, "0", "0", "0", "0", "90");
        http_resp_clear(&r);
        /* three PUTs made three events; the marks none */
        ck_assert_int_eq(q_int("SELECT count(*) FROM outbox"), 3);
}
END_TEST

START_TEST(patch_unknown_symbol_is_404_and_writes_nothing)
{
        struct http_resp r;

        http_json(&h, "PATCH", "/positions/NOPE", "{\"mark_price\":1}", &r);
        assert_problem(&r, 404);
        ck_assert_int_eq(q_int("SELECT count(*) FROM positions"), 0);
        http_resp_clear(&r);
}
END_TEST

static const struct bad_case bad_patch[] = {
        { "{}", "mark_price" },
        { "{\"mark_price\":0}", "mark_price" },
        { "{\"mark_price\":\"-1\"}", "mark_price" },
        { "{\"mark_price\":\"abc\"}", "mark_price" },
        { "{\"mark_price\":1,\"quantity\":1}", "quantity" },
        { "{\"mark_price\":1,\"unrealized_pnl\":1}", "unrealized_pnl" },
        { "{\"mark_price\":1,\"last_updated\":1}", "last_updated" },
};

START_TEST(patch_invalid_is_400_naming_the_field_and_writes_nothing)
{
        const struct bad_case *c = &bad_patch[_i];
        struct http_resp r;
        char before[2048], after[2048];

        ck_assert_int_eq(put("BTC", "{\"quantity\":1,\"avg_entry_price\":7}"), 201);
        state(before, sizeof(before));
        http_json(&h, "PATCH", "/positions/BTC", c->body, &r);
        assert_problem(&r, 400);
        ck_assert_msg(names_field(r.json, c->field), "%s: %s", c->body, r.body);
        state(after, sizeof(after));
        ck_assert_str_eq(before, after);
        http_resp_clear(&r);
}
END_TEST

START_TEST(patch_result_out_of_range_is_409_and_writes_nothing)
{
        struct http_resp r;
        char before[2048], after[2048];

        ck_assert_int_eq(put("BTC", "{\"quantity\":\"92233720368\",\"avg_entry_price\":1}"), 201);
        state(before, sizeof(before));
        http_json(&h, "PATCH", "/positions/BTC", "{\"mark_price\":\"92233720368\"}", &r);
        assert_problem(&r, 409);
        state(after, sizeof(after));
        ck_assert_str_eq(before, after);
        http_resp_clear(&r);
}
END_TEST

START_TEST(symbol_with_slash_is_one_path_segment_or_escaped)
{
        struct http_resp r;

        ck_assert_int_eq(put("BTC/USDT", "{\"quantity\":1,\"avg_entry_price\":1}"), 201);
        ck_assert_int_eq(http_json(&h, "GET", "/positions/BTC%2FUSDT", NULL, &r), 200);
        ck_assert_str_eq(jstr(r.json, "symbol"), "BTC/USDT");
        http_resp_clear(&r);
        ck_assert_int_eq(http_json(&h, "PATCH", "/positions/BTC/USDT", "{\"mark_price\":2}", &r),
                         200);
        ck_assert_str_eq(jstr(r.json, "unrealized_pnl"), "1");
        http_resp_clear(&r);
        ck_assert_int_eq(put("BTC%2FUSDT", "{\"quantity\":2,\"avg_entry_price\":1}"), 200);
        ck_assert_int_eq(q_int("SELECT count(*) FROM positions"), 1);
}
END_TEST

START_TEST(method_not_allowed_names_the_allowed_ones)
{
        struct http_resp r;

        http_json(&h, "DELETE", "/positions/BTC", NULL, &r);
        assert_problem(&r, 405);
        ck_assert_ptr_nonnull(strstr(r.allow, "GET"));
        ck_assert_ptr_nonnull(strstr(r.allow, "PUT"));
        ck_assert_ptr_nonnull(strstr(r.allow, "PATCH"));
        http_resp_clear(&r);
}
END_TEST

/* ---- GET /positions ---- */

/* GETs path; writes the symbols space-separated and the next_cursor ("" for
 * null). */
static void
list_symbols(const char *path, char *buf, size_t cap, char *next, size_t next_cap)
{
        struct http_resp r;
        const json_t *nc;
        size_t i, len = 0;
        json_t *it;

        ck_assert_msg(http_json(&h, "GET", path, NULL, &r) == 200, "%s: %s", path, r.body);
        ck_assert_str_eq(r.ctype, "application/json");
        ck_assert_int_eq(json_object_size(r.json), 2);
        buf[0] = '\0';
        json_array_foreach(json_object_get(r.json, "items"), i, it) len +=
                (size_t)snprintf(buf + len, cap - len, "%s%s", i ? " " : "", jstr(it, "symbol"));
        nc = json_object_get(r.json, "next_cursor");
        ck_assert(json_is_null(nc) || json_is_string(nc));
        snprintf(next, next_cap, "%s", json_is_string(nc) ? json_string_value(nc) : "");
        http_resp_clear(&r);
}

START_TEST(list_is_by_symbol_ascending_and_pages_visit_each_once)
{
        static const char *const symbols[] = { "ETH", "BTC/USDT", "ADA", "BTC", "XRP" };
        char ids[256], next[256], path[512], seen[512] = "";
        size_t len = 0;

        list_symbols("/positions", ids, sizeof(ids), next, sizeof(next));
        ck_assert_str_eq(ids, "");
        ck_assert_str_eq(next, "");
        for (size_t i = 0; i < 5; i++)
                ck_assert_int_eq(put(symbols[i], "{\"quantity\":1,\"avg_entry_price\":1}"), 201);
        list_symbols("/positions", ids, sizeof(ids), next, sizeof(next));
        ck_assert_str_eq(ids, "ADA BTC BTC/USDT ETH XRP");
        ck_assert_str_eq(next, "");
        snprintf(path, sizeof(path), "/positions?limit=2");
        for (int pages = 0; pages < 10; pages++) {
                list_symbols(path, ids, sizeof(ids), next, sizeof(next));
                len += (size_t)snprintf(seen + len, sizeof(seen) - len, "%s|", ids);
                if (next[0] == '\0')
                        break;
                snprintf(path, sizeof(path), "/positions?limit=2&cursor=%s", next);
        }
        ck_assert_str_eq(seen, "ADA BTC|BTC/USDT ETH|XRP|");
        /* a full last page carries a cursor to an empty page */
        list_symbols("/positions?limit=5", ids, sizeof(ids), next, sizeof(next));
        ck_assert(next[0] != '\0');
        snprintf(path, sizeof(path), "/positions?limit=5&cursor=%s", next);
        list_symbols(path, ids, sizeof(ids), next, sizeof(next));
        ck_assert_str_eq(ids, "");
        ck_assert_str_eq(next, "");
}
END_TEST

START_TEST(list_rejects_bad_query)
{
        static const char *const paths[][2] = {
                { "/positions?cursor=%%%", "cursor" },
                /* a well-formed cursor of a time-keyed list: "5:x" */
                { "/positions?cursor=NTp4", "cursor" },
                { "/positions?limit=0", "limit" },
                { "/positions?limit=1001", "limit" },
                { "/positions?symbol=BTC", "symbol" },
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

START_TEST(list_query_uses_an_index)
{
        size_t n;
        const char *const *sqls = repo_positions_list_sql(&n);

        ck_assert_int_eq(n, 1);
        harness_assert_indexed(&h, sqls, n);
}
END_TEST

static Suite *
positions_suite(void)
{
        Suite *s = suite_create("positions");
        TCase *tc = tcase_create("positions");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, get_unknown_position_is_404);
        tcase_add_test(tc, url_symbol_breaking_the_rules_is_404);
        tcase_add_test(tc, put_new_is_201_then_200_and_get_returns_it);
        tcase_add_test(tc, put_adds_a_position_reconciled_event_carrying_the_position);
        tcase_add_test(tc, put_keeps_the_mark_and_recomputes_unrealized);
        tcase_add_loop_test(tc, put_invalid_is_400_naming_the_field_and_writes_nothing, 0,
                            (int)(sizeof(bad_put) / sizeof(bad_put[0])));
        tcase_add_test(tc, put_names_every_invalid_field_at_once);
        tcase_add_test(tc, put_result_out_of_range_is_409_and_writes_nothing);
        tcase_add_test(tc, patch_mark_recomputes_unrealized_and_adds_no_event);
        tcase_add_test(tc, patch_unknown_symbol_is_404_and_writes_nothing);
        tcase_add_loop_test(tc, patch_invalid_is_400_naming_the_field_and_writes_nothing, 0,
                            (int)(sizeof(bad_patch) / sizeof(bad_patch[0])));
        tcase_add_test(tc, patch_result_out_of_range_is_409_and_writes_nothing);
        tcase_add_test(tc, symbol_with_slash_is_one_path_segment_or_escaped);
        tcase_add_test(tc, method_not_allowed_names_the_allowed_ones);
        tcase_add_test(tc, list_is_by_symbol_ascending_and_pages_visit_each_once);
        tcase_add_test(tc, list_rejects_bad_query);
        tcase_add_test(tc, list_query_uses_an_index);
        suite_add_tcase(s, tc);
        return s;
}

int
main(void)
{
        return harness_run_suite(positions_suite());
}
