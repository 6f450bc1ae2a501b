/* Calls every operation of openapi.yaml at least once, so that the contract
 * test (tests/contract/validate.mjs, run by scripts/test over the exchanges
 * tests/harness.c records) sees each documented success, and the generic
 * answers every path may give: 404 for an unknown path, 405 with Allow, 415,
 * 413, 400 for bad JSON, 401/403 with tokens configured, 422 and 409.
 *
 * Each step asserts its own status and content type, so the suite checks
 * the server on its own too; the bodies are checked against the schemas by
 * the contract test. It also pins two operations' promises that no other
 * suite checks: GET /openapi.yaml serves the source tree's openapi.yaml, and
 * tradestore_fills_total counts applied, duplicate and conflicting fills.
 * (The /balances operations are 501 placeholders so far: not called here,
 * see tests/contract/unexercised.txt.) */
#include "tests/harness.h"

#include "common/log.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOK_READ "rd-contract-1"
#define TOK_WRITE "wr-contract-2"
#define TOK_ADMIN "ad-contract-3"

static struct harness h;

/* ---- fixtures ---- */

static void
set(const char *key, const char *value)
{
        harness_set(&h, key, value);
}

static void
init(void)
{
        char dir[400];

        log_set_level(LOG_ERROR);
        harness_init(&h);
        snprintf(dir, sizeof(dir), "%s/backups", h.dir);
        set("database.backup_dir", dir);
}

static void
setup(void)
{
        init();
        set("outbox.max_retries", "1"); /* one failure makes an event dead */
        harness_start(&h);
}

static void
setup_small_body(void)
{
        init();
        set("server.max_body_bytes", "1024");
        harness_start(&h);
}

static void
setup_auth(void)
{
        init();
        set("auth.tokens", "read:" TOK_READ ",write:" TOK_WRITE ",admin:" TOK_ADMIN);
        harness_start(&h);
}

static void
teardown(void)
{
        harness_stop(&h);
}

/* ---- steps ---- */

struct step {
        const char *method;
        const char *path;
        const char *body; /* NULL: none */
        long status;
        const char *ctype; /* expected Content-Type, or NULL for none (204) */
        const char *field; /* optional: a top-level string field of the answer ... */
        const char *value; /* ... and its expected value */
};

#define JSON "application/json"
#define PROBLEM "application/problem+json"

/* Sends one step with extra headers (NULL-terminated list or NULL) and
 * checks status, content type and the optional field. */
static void
run_step(const struct step *s, const char *const *headers)
{
        struct http_resp r;

        http_do(&h, s->method, s->path, s->body, NULL, headers, &r);
        ck_assert_msg(r.status == s->status, "%s %s: status %ld, want %ld: %s", s->method, s->path,
                      r.status, s->status, r.body ? r.body : "");
        if (s->ctype != NULL)
                ck_assert_msg(strcmp(r.ctype, s->ctype) == 0, "%s %s: content type '%s', want '%s'",
                              s->method, s->path, r.ctype, s->ctype);
        else
                ck_assert_msg(r.ctype[0] == '\0' && r.len == 0, "%s %s: want no body", s->method,
                              s->path);
        if (s->ctype != NULL && strstr(s->ctype, "json") != NULL)
                ck_assert_msg(r.json != NULL, "%s %s: body is not JSON", s->method, s->path);
        if (s->field != NULL) {
                const char *got = json_string_value(json_object_get(r.json, s->field));

                ck_assert_msg(got != NULL && strcmp(got, s->value) == 0,
                              "%s %s: %s is '%s', want '%s'", s->method, s->path, s->field,
                              got ? got : "(none)", s->value);
        }
        http_resp_clear(&r);
}

static void
run_steps(const struct step *steps, size_t n, const char *const *headers)
{
        for (size_t i = 0; i < n; i++)
                run_step(&steps[i], headers);
}

#define NSTEPS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- tests ---- */

/* Every operation but the /balances placeholders, in an order where each
 * finds the state it needs (the quote an order uses, the dead event a retry
 * revives). */
START_TEST(every_operation_answers_its_documented_success)
{
        const struct step steps[] = {
                /* not static: some answers depend on the backend */
                { "GET", "/health", NULL, 200, JSON, "status", "ok" },
                { "GET", "/openapi.yaml", NULL, 200, "application/yaml", NULL, NULL },
                { "GET", "/metrics", NULL, 200, "text/plain; version=0.0.4; charset=utf-8", NULL,
                  NULL },
                { "POST", "/quotes",
                  "{\"quote_id\": \"q-1\", \"symbol_src\": \"BTC/USDT\", \"symbol_dst\": "
                  "\"BTC/EUR\", \"bid_price\": \"99\", \"bid_qty\": 1, \"source_bid_price\": "
                  "\"100\", \"source_ask_price\": \"101\", \"expires_at\": null}",
                  201, JSON, "status", "active" },
                { "POST", "/quotes",
                  "{\"quote_id\": \"q-1\", \"symbol_src\": \"BTC/USDT\", \"symbol_dst\": "
                  "\"BTC/EUR\", \"bid_price\": 99, \"bid_qty\": \"1\", \"source_bid_price\": "
                  "100, \"source_ask_price\": \"101.0\"}",
                  200, JSON, "quote_id", "q-1" },
                { "POST", "/quotes/batch",
                  "{\"quotes\": [{\"quote_id\": \"q-2\", \"symbol_src\": \"ETH/USDT\", "
                  "\"symbol_dst\": \"ETH/EUR\", \"source_bid_price\": \"10\", "
                  "\"source_ask_price\": \"11\"}, {\"quote_id\": \"q-3\", \"symbol_src\": "
                  "\"BTC/USDT\", \"symbol_dst\": \"BTC/GBP\", \"ask_price\": \"12\", "
                  "\"ask_qty\": \"0.5\", \"source_bid_price\": \"10\", \"source_ask_price\": "
                  "\"11\", \"spread_bps\": \"-2.5\", \"expires_at\": 4102444800}]}",
                  201, JSON, NULL, NULL },
                { "GET", "/quotes/q-1", NULL, 200, JSON, "symbol_dst", "BTC/EUR" },
                { "GET", "/quotes?status=active&symbol_src=BTC%2FUSDT&limit=10", NULL, 200, JSON,
                  NULL, NULL },
                { "PATCH", "/quotes/q-2", "{\"status\": \"cancelled\"}", 200, JSON, "status",
                  "cancelled" },
                { "DELETE", "/quotes/q-2", NULL, 204, NULL, NULL, NULL },
                { "POST", "/orders",
                  "{\"order_id\": \"o-1\", \"quote_id\": \"q-1\", \"symbol\": \"BTC/EUR\", "
                  "\"side\": \"buy\", \"type\": \"limit\", \"quantity\": \"2\", \"price\": 99}",
                  201, JSON, "status", "pending" },
                { "POST", "/orders",
                  "{\"order_id\": \"o-2\", \"symbol\": \"BTC/EUR\", \"side\": \"sell\", "
                  "\"type\": \"market\", \"quantity\": \"0.5\", \"status\": \"open\"}",
                  201, JSON, "status", "open" },
                { "GET", "/quotes/q-1", NULL, 200, JSON, "status", "used" },
                { "POST", "/quotes/expire", "{\"symbol_src\": \"BTC/USDT\"}", 200, JSON, NULL,
                  NULL },
                { "GET", "/quotes/q-3", NULL, 200, JSON, "status", "expired" },
                { "GET", "/orders/o-1", NULL, 200, JSON, "quote_id", "q-1" },
                { "GET", "/orders?symbol=BTC%2FEUR&created_after=2020-01-01T00:00:00Z&limit=1",
                  NULL, 200, JSON, NULL, NULL },
                { "PATCH", "/orders/o-1", "{\"status\": \"open\", \"external_order_id\": \"x-1\"}",
                  200, JSON, "external_order_id", "x-1" },
                { "POST", "/fills",
                  "{\"fill_id\": \"f-1\", \"order_id\": \"o-1\", \"price\": \"98.5\", "
                  "\"quantity\": 1, \"executed_at\": \"2026-01-02T03:04:05.25+01:00\", "
                  "\"trade_id\": \"t-1\", \"commission\": \"-0.01\", \"commission_asset\": "
                  "\"EUR\", \"is_maker\": false}",
                  201, JSON, "executed_at", "2026-01-02T02:04:05.250000Z" },
                { "POST", "/fills", "{\"order_id\": \"o-2\", \"price\": 100, \"quantity\": 0.5}",
                  201, JSON, "side", "sell" },
                { "GET", "/orders/o-1", NULL, 200, JSON, "status", "partially_filled" },
                { "GET", "/fills/f-1", NULL, 200, JSON, "trade_id", "t-1" },
                { "GET", "/fills?order_id=o-1&executed_before=1900000000", NULL, 200, JSON, NULL,
                  NULL },
                { "GET", "/positions?limit=5", NULL, 200, JSON, NULL, NULL },
                { "GET", "/positions/BTC/EUR", NULL, 200, JSON, "quantity", "0.5" },
                { "GET", "/positions/BTC%2FEUR", NULL, 200, JSON, "symbol", "BTC/EUR" },
                { "PUT", "/positions/ETH/EUR", "{\"quantity\": \"-3\", \"avg_entry_price\": 2000}",
                  201, JSON, "quantity", "-3" },
                { "PUT", "/positions/ETH/EUR",
                  "{\"quantity\": \"-3\", \"avg_entry_price\": \"2000\", \"realized_pnl\": \"7\"}",
                  200, JSON, "realized_pnl", "7" },
                { "PATCH", "/positions/ETH/EUR", "{\"mark_price\": \"1990\"}", 200, JSON,
                  "unrealized_pnl", "30" },
                { "POST", "/outbox",
                  "{\"event_id\": \"ev-1\", \"event_type\": \"price_alert\", \"aggregate_id\": "
                  "\"agg-1\", \"payload\": {\"threshold\": \"90000\"}}",
                  201, JSON, "status", "pending" },
                { "POST", "/outbox",
                  "{\"event_id\": \"ev-2\", \"event_type\": \"price_alert\", \"aggregate_id\": "
                  "\"agg-2\", \"payload\": {}}",
                  201, JSON, NULL, NULL },
                { "GET", "/outbox?event_type=price_alert&status=pending", NULL, 200, JSON, NULL,
                  NULL },
                { "GET", "/outbox/ev-1", NULL, 200, JSON, "aggregate_id", "agg-1" },
                { "POST", "/outbox/claim",
                  "{\"consumer\": \"c-1\", \"limit\": 1000, \"lease_seconds\": 60}", 200, JSON,
                  NULL, NULL },
                { "GET", "/outbox/ev-2", NULL, 200, JSON, "claimed_by", "c-1" },
                { "POST", "/outbox/ev-1/processed", NULL, 200, JSON, "status", "processed" },
                { "POST", "/outbox/ev-2/failed", "{\"error_message\": \"consumer crashed\"}", 200,
                  JSON, "status", "dead" },
                { "POST", "/outbox/ev-2/retry", "{}", 200, JSON, "status", "pending" },
                { "GET", "/admin/stats", NULL, 200, JSON, NULL, NULL },
                /* PostgreSQL's own checkpointer checkpoints (API.md, Operations) */
                { "POST", "/admin/maintenance",
                  h.postgres ? "{\"analyze\": true, \"cleanup\": true, \"vacuum\": null}"
                             : "{\"analyze\": true, \"checkpoint\": true, \"cleanup\": true, "
                               "\"vacuum\": null}",
                  200, JSON, NULL, NULL },
                /* 501 on PostgreSQL, naming pg_dump and pg_basebackup */
                { "POST", "/admin/backup", NULL, h.postgres ? 501 : 201,
                  h.postgres ? PROBLEM : JSON, NULL, NULL },
                { "GET", "/metrics", NULL, 200, "text/plain; version=0.0.4; charset=utf-8", NULL,
                  NULL },
        };

        run_steps(steps, NSTEPS(steps), NULL);
}
END_TEST

/* The answers any path may give for a bad request are problems with the
 * documented status. */
START_TEST(bad_requests_get_problems_with_the_documented_status)
{
        static const struct step setup_steps[] = {
                { "POST", "/quotes",
                  "{\"quote_id\": \"q-9\", \"symbol_src\": \"A\", \"symbol_dst\": \"B\", "
                  "\"source_bid_price\": \"1\", \"source_ask_price\": \"2\"}",
                  201, JSON, NULL, NULL },
                { "PATCH", "/quotes/q-9", "{\"status\": \"expired\"}", 200, JSON, NULL, NULL },
        };
        static const struct step steps[] = {
                { "GET", "/no/such/path", NULL, 404, PROBLEM, NULL, NULL },
                { "GET", "/orders/no-such-order", NULL, 404, PROBLEM, NULL, NULL },
                { "GET", "/orders/bad!id", NULL, 404, PROBLEM, NULL, NULL },
                { "PUT", "/positions/BTC%20EUR", "{\"quantity\": 1, \"avg_entry_price\": 1}", 404,
                  PROBLEM, NULL, NULL },
                { "POST", "/orders", "{\"symbol\": ", 400, PROBLEM, NULL, NULL },
                { "POST", "/orders", "[1, 2]", 400, PROBLEM, NULL, NULL },
                { "POST", "/orders",
                  "{\"symbol\": \"X\", \"side\": \"up\", \"type\": \"limit\", \"quantity\": "
                  "\"0\", \"bogus\": 1}",
                  400, PROBLEM, NULL, NULL },
                { "GET", "/orders?bogus=1", NULL, 400, PROBLEM, NULL, NULL },
                { "GET", "/orders?limit=0", NULL, 400, PROBLEM, NULL, NULL },
                { "GET", "/fills?cursor=not-a-cursor", NULL, 400, PROBLEM, NULL, NULL },
                { "POST", "/fills", "{\"order_id\": \"nope\", \"price\": \"1\", \"quantity\": 1}",
                  422, PROBLEM, NULL, NULL },
                { "PATCH", "/quotes/q-9", "{\"status\": \"cancelled\"}", 409, PROBLEM, NULL, NULL },
                { "POST", "/outbox/no-such-event/processed", NULL, 404, PROBLEM, NULL, NULL },
                { "POST", "/admin/backup", "{\"file\": \"mine.db\"}", 400, PROBLEM, NULL, NULL },
        };
        struct http_resp r;

        run_steps(setup_steps, NSTEPS(setup_steps), NULL);
        run_steps(steps, NSTEPS(steps), NULL);

        /* 405 names the methods the path has. */
        http_do(&h, "DELETE", "/orders", NULL, NULL, NULL, &r);
        ck_assert_int_eq(r.status, 405);
        ck_assert_str_eq(r.ctype, PROBLEM);
        ck_assert_msg(strstr(r.allow, "GET") && strstr(r.allow, "POST"), "Allow: %s", r.allow);
        http_resp_clear(&r);

        /* A body that is not JSON is 415. */
        http_do(&h, "POST", "/quotes", "symbol=A", "application/x-www-form-urlencoded", NULL, &r);
        ck_assert_int_eq(r.status, 415);
        ck_assert_str_eq(r.ctype, PROBLEM);
        http_resp_clear(&r);
}
END_TEST

/* server.max_body_bytes = 1024 here. */
START_TEST(a_body_over_the_limit_is_413)
{
        char body[2048];
        struct http_resp r;

        snprintf(body, sizeof(body),
                 "{\"event_type\": \"x\", \"aggregate_id\": \"a\", "
                 "\"payload\": {\"pad\": \"%01500d\"}}",
                 0);
        http_do(&h, "POST", "/outbox", body, NULL, NULL, &r);
        ck_assert_int_eq(r.status, 413);
        ck_assert_str_eq(r.ctype, PROBLEM);
        http_resp_clear(&r);
}
END_TEST

START_TEST(tokens_give_401_without_one_and_403_below_the_role)
{
        static const char *const none[] = { NULL };
        static const char *const rd[] = { "Authorization: Bearer " TOK_READ, NULL };
        static const char *const wr[] = { "Authorization: Bearer " TOK_WRITE, NULL };
        static const char *const ad[] = { "Authorization: Bearer " TOK_ADMIN, NULL };
        static const struct step open_steps[] = {
                { "GET", "/health", NULL, 200, JSON, "status", "ok" },
                { "GET", "/metrics", NULL, 200, "text/plain; version=0.0.4; charset=utf-8", NULL,
                  NULL },
                { "GET", "/orders", NULL, 401, PROBLEM, NULL, NULL },
                { "GET", "/openapi.yaml", NULL, 401, PROBLEM, NULL, NULL },
        };
        static const struct step read_steps[] = {
                { "GET", "/orders", NULL, 200, JSON, NULL, NULL },
                { "GET", "/openapi.yaml", NULL, 200, "application/yaml", NULL, NULL },
                { "POST", "/outbox",
                  "{\"event_type\": \"x\", \"aggregate_id\": \"a\", \"payload\": {}}", 403, PROBLEM,
                  NULL, NULL },
        };
        static const struct step write_steps[] = {
                { "POST", "/outbox",
                  "{\"event_id\": \"e-1\", \"event_type\": \"x\", \"aggregate_id\": \"a\", "
                  "\"payload\": {}}",
                  201, JSON, NULL, NULL },
                { "GET", "/admin/stats", NULL, 403, PROBLEM, NULL, NULL },
        };
        static const struct step admin_steps[] = {
                { "GET", "/admin/stats", NULL, 200, JSON, NULL, NULL },
                { "POST", "/outbox/e-1/retry", NULL, 409, PROBLEM, NULL, NULL },
        };

        run_steps(open_steps, NSTEPS(open_steps), none);
        run_steps(read_steps, NSTEPS(read_steps), rd);
        run_steps(write_steps, NSTEPS(write_steps), wr);
        run_steps(admin_steps, NSTEPS(admin_steps), ad);
}
END_TEST

/* GET /openapi.yaml is this contract: the source tree's file, byte for byte. */
START_TEST(openapi_yaml_serves_the_source_trees_document)
{
        struct http_resp r;
        FILE *f = fopen(SRCDIR "/openapi.yaml", "rb");
        char *text;
        long n;

        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        ck_assert_int_gt(n, 0);
        rewind(f);
        text = malloc((size_t)n);
        ck_assert_ptr_nonnull(text);
        ck_assert_int_eq(fread(text, 1, (size_t)n, f), (size_t)n);
        fclose(f);

        http_do(&h, "GET", "/openapi.yaml", NULL, NULL, NULL, &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.ctype, "application/yaml");
        ck_assert_int_eq(r.len, (size_t)n);
        ck_assert(memcmp(r.body, text, (size_t)n) == 0);
        http_resp_clear(&r);
        free(text);
}
END_TEST

/* True when the scrape has the sample line exactly. */
static bool
has_sample(const char *scrape, const char *line)
{
        size_t n = strlen(line);

        for (const char *p = strstr(scrape, line); p != NULL; p = strstr(p + 1, line))
                if ((p == scrape || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
                        return true;
        return false;
}

START_TEST(fills_total_counts_applied_duplicate_and_conflicting_fills)
{
        static const struct step steps[] = {
                { "POST", "/orders",
                  "{\"order_id\": \"o-1\", \"symbol\": \"S\", \"side\": \"buy\", \"type\": "
                  "\"market\", \"quantity\": \"2\"}",
                  201, JSON, NULL, NULL },
                { "POST", "/fills",
                  "{\"fill_id\": \"f-1\", \"order_id\": \"o-1\", \"price\": 1, \"quantity\": 1}",
                  201, JSON, NULL, NULL },
                { "POST", "/fills",
                  "{\"fill_id\": \"f-1\", \"order_id\": \"o-1\", \"price\": 1, \"quantity\": 1}",
                  200, JSON, NULL, NULL },
                { "POST", "/fills",
                  "{\"fill_id\": \"f-2\", \"order_id\": \"o-1\", \"price\": 1, \"quantity\": 5}",
                  409, PROBLEM, NULL, NULL },
        };
        struct http_resp r;

        run_steps(steps, NSTEPS(steps), NULL);
        http_do(&h, "GET", "/metrics", NULL, NULL, NULL, &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_msg(
                has_sample(r.body, "tradestore_fills_total{result=\"applied\"} 1") &&
                        has_sample(r.body, "tradestore_fills_total{result=\"duplicate\"} 1") &&
                        has_sample(r.body, "tradestore_fills_total{result=\"conflict\"} 1"),
                "%s", r.body);
        http_resp_clear(&r);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("contract_extra");
        TCase *tc = tcase_create("contract_extra");
        TCase *small = tcase_create("small_body");
        TCase *auth = tcase_create("auth");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, every_operation_answers_its_documented_success);
        tcase_add_test(tc, bad_requests_get_problems_with_the_documented_status);
        tcase_add_test(tc, openapi_yaml_serves_the_source_trees_document);
        tcase_add_test(tc, fills_total_counts_applied_duplicate_and_conflicting_fills);
        suite_add_tcase(s, tc);

        tcase_add_checked_fixture(small, setup_small_body, teardown);
        tcase_add_test(small, a_body_over_the_limit_is_413);
        suite_add_tcase(s, small);

        tcase_add_checked_fixture(auth, setup_auth, teardown);
        tcase_add_test(auth, tokens_give_401_without_one_and_403_below_the_role);
        suite_add_tcase(s, auth);

        return harness_run_suite(s);
}
