/* SQLite's anomaly loop over tradestore: the real server in-process over the
 * fault-injecting VFS (faultvfs.c). For each kind of fault (xWrite, xSync,
 * xTruncate or xRead failing with an I/O error, xWrite with SQLITE_FULL) and
 * each N, the Nth such call during one round of the workload (a quote, an
 * order on it, two fills, a balance, an outbox claim, a checkpoint, reads)
 * fails once. After each round:
 *
 *   - every request got its 2xx, or a 503 with a detail (the one that met
 *     the fault), or a 422 or 404 because an earlier step was refused;
 *   - the service keeps serving: a write after the round succeeds;
 *   - nothing acknowledged is lost: every 2xx create of every round so far
 *     is stored;
 *   - nothing is half-applied: each order's filled_quantity is the sum of
 *     its fills and its status follows, each fill has one fill_processed
 *     event and each order one order_created event, a quote is used exactly
 *     when an order took it, each position is the signed sum of its fills,
 *     and PRAGMA integrity_check says ok.
 *
 * N runs from 1 past the last call a round makes (strided when a round makes
 * more than MAX_POINTS calls); the test prints how many faults it injected. */
#include "harness.h"

#include "faultvfs.h"

#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_POINTS 120 /* fault points per kind: stride past this */
#define MAX_ACKED 4096

static struct harness h;
static long injected_total;
static long points_total;

/* Creates acknowledged so far, as the query that counts each one's row. */
static char *acked[MAX_ACKED];
static int nacked;

static void
ack(const char *table, const char *col, const char *id)
{
        ck_assert_int_lt(nacked, MAX_ACKED);
        acked[nacked] = sqlite3_mprintf("SELECT count(*) FROM %s WHERE %s = %Q", table, col, id);
        ck_assert_ptr_nonnull(acked[nacked]);
        nacked++;
}

/* The first column of the first row of sql on a fresh read-only connection. */
static long long
query_int(sqlite3 *db, const char *sql)
{
        sqlite3_stmt *st = NULL;
        long long v = -1;

        ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                      sqlite3_errmsg(db));
        if (sqlite3_step(st) == SQLITE_ROW)
                v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return v;
}

static const char *const consistency[] = {
        "SELECT count(*) FROM orders o WHERE filled_quantity !="
        " (SELECT coalesce(sum(quantity), 0) FROM fills f WHERE f.order_id = o.order_id)",
        "SELECT count(*) FROM orders WHERE (filled_quantity = quantity AND status <> 'filled')"
        " OR (filled_quantity > 0 AND filled_quantity < quantity"
        " AND status <> 'partially_filled')",
        "SELECT count(*) FROM fills f WHERE (SELECT count(*) FROM outbox e WHERE"
        " e.event_type = 'fill_processed' AND json_extract(e.payload, '$.fill_id') = f.fill_id)"
        " <> 1",
        "SELECT count(*) FROM outbox e WHERE e.event_type = 'fill_processed' AND NOT EXISTS"
        " (SELECT 1 FROM fills f WHERE f.fill_id = json_extract(e.payload, '$.fill_id'))",
        "SELECT count(*) FROM orders o WHERE (SELECT count(*) FROM outbox e WHERE"
        " e.event_type = 'order_created' AND e.aggregate_id = o.order_id) <> 1",
        "SELECT count(*) FROM orders o JOIN quotes q USING (quote_id) WHERE q.status <> 'used'",
        "SELECT count(*) FROM quotes q WHERE q.status = 'used' AND NOT EXISTS"
        " (SELECT 1 FROM orders o WHERE o.quote_id = q.quote_id)",
        "SELECT count(*) FROM positions p WHERE quantity <> (SELECT coalesce(sum(CASE side"
        " WHEN 'buy' THEN quantity ELSE -quantity END), 0) FROM fills f WHERE f.symbol = p.symbol)",
        "SELECT count(*) FROM (SELECT DISTINCT symbol FROM fills) s WHERE NOT EXISTS"
        " (SELECT 1 FROM positions p WHERE p.symbol = s.symbol)",
};

static void
check_store(const char *round)
{
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;

        ck_assert_int_eq(sqlite3_open_v2(h.db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        ck_assert_int_eq(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
        for (size_t i = 0; i < sizeof(consistency) / sizeof(consistency[0]); i++)
                ck_assert_msg(query_int(db, consistency[i]) == 0, "%s: half-applied: %s", round,
                              consistency[i]);
        ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
                         SQLITE_OK);
        ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
        ck_assert_msg(strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0, "%s: %s", round,
                      sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        for (int i = 0; i < nacked; i++)
                ck_assert_msg(query_int(db, acked[i]) == 1, "%s: acknowledged create lost: %s",
                              round, acked[i]);
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        sqlite3_close(db);
}

/* One step of a round: method, path, body (printf with the round's k). */
struct step {
        const char *method;
        const char *path;
        const char *body;
        const char *table; /* acknowledged create to remember, or NULL */
        const char *col;   /* its key column */
        const char *id;    /* its id, printf with k */
};

static const struct step workload[] = {
        { "POST", "/quotes",
          "{\"quote_id\": \"q-%1$d\", \"symbol_src\": \"BTC/USDT\", \"symbol_dst\": \"BTC/EUR\","
          " \"source_bid_price\": \"100\", \"source_ask_price\": \"101\"}",
          "quotes", "quote_id", "q-%1$d" },
        { "POST", "/orders",
          "{\"order_id\": \"o-%1$d\", \"quote_id\": \"q-%1$d\", \"symbol\": \"BTC/USDT\","
          " \"side\": \"buy\", \"type\": \"limit\", \"quantity\": \"2\", \"price\": \"100\","
          " \"status\": \"open\"}",
          "orders", "order_id", "o-%1$d" },
        { "POST", "/fills",
          "{\"fill_id\": \"f-%1$d-a\", \"order_id\": \"o-%1$d\", \"price\": \"100\","
          " \"quantity\": \"1\", \"executed_at\": 1764169200}",
          "fills", "fill_id", "f-%1$d-a" },
        { "POST", "/fills",
          "{\"fill_id\": \"f-%1$d-b\", \"order_id\": \"o-%1$d\", \"price\": \"101\","
          " \"quantity\": \"1\", \"executed_at\": 1764169201}",
          "fills", "fill_id", "f-%1$d-b" },
        { "PUT", "/balances/A-%1$d", "{\"available\": \"%1$d\", \"locked\": \"1\"}",
          "account_balances", "asset", "A-%1$d" },
        { "POST", "/outbox/claim", "{\"consumer\": \"c-%1$d\", \"limit\": 3}", NULL, NULL, NULL },
        { "GET", "/orders/o-%1$d", NULL, NULL, NULL, NULL },
        { "GET", "/positions/BTC%%2FUSDT", NULL, NULL, NULL, NULL },
        { "POST", "/admin/maintenance", "{\"checkpoint\": true}", NULL, NULL, NULL },
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static char *
fmt(const char *f, int k)
{
        char *s = NULL;

        ck_assert_int_ge(asprintf(&s, f, k), 0);
        return s;
}
#pragma GCC diagnostic pop

/* Runs one round with ids of k; checks each answer (rc: the fault armed). */
static void
run_round(int k, int rc, const char *round)
{
        bool refused = false;

        for (size_t i = 0; i < sizeof(workload) / sizeof(workload[0]); i++) {
                const struct step *s = &workload[i];
                char *path = fmt(s->path, k);
                char *body = s->body ? fmt(s->body, k) : NULL;
                struct http_resp r = { 0 };
                long status = http_json(&h, s->method, path, body, &r);
                json_t *detail = r.json ? json_object_get(r.json, "detail") : NULL;

                if (status >= 200 && status < 300) {
                        if (s->table != NULL) {
                                char *id = fmt(s->id, k);

                                ack(s->table, s->col, id);
                                free(id);
                        }
                } else if (status == 503) {
                        ck_assert_msg(json_is_string(detail) && json_string_length(detail) > 0,
                                      "%s: %s %s: 503 without a detail: %s", round, s->method, path,
                                      r.body);
                        /* A full disk says so (test_storage.c checks the rest). */
                        ck_assert_msg(rc != SQLITE_FULL || strstr(json_string_value(detail),
                                                                  "disk full") != NULL,
                                      "%s: %s %s: %s", round, s->method, path, r.body);
                        refused = true;
                } else {
                        ck_assert_msg((status == 422 || status == 404) && refused,
                                      "%s: %s %s: %ld %s", round, s->method, path, status,
                                      r.body ? r.body : "");
                }
                http_resp_clear(&r);
                free(path);
                free(body);
        }
}

/* After a round, with the faults off: the service still writes. */
static void
still_serves(int k, const char *round)
{
        struct http_resp r = { 0 };
        char body[256];
        long status;

        snprintf(body, sizeof(body),
                 "{\"quote_id\": \"probe-%d\", \"symbol_src\": \"X\", \"symbol_dst\": \"Y\","
                 " \"source_bid_price\": \"1\", \"source_ask_price\": \"2\"}",
                 k);
        status = http_json(&h, "POST", "/quotes", body, &r);
        ck_assert_msg(status == 201, "%s: the service stopped serving: %ld %s", round, status,
                      r.body ? r.body : "");
        http_resp_clear(&r);
}

static int round_k;

/* Runs the loop for one kind of fault; returns the faults injected. */
static long
anomaly_loop(unsigned op, int rc, const char *name)
{
        long calls, stride, injected = 0, points = 0;
        char round[128];

        /* A dry round counts the calls one round makes. */
        faultvfs_arm(op, -1, rc, false);
        run_round(++round_k, SQLITE_OK, "dry run");
        calls = faultvfs_disarm();
        stride = calls / MAX_POINTS + 1;
        for (long n = 1; n <= calls + stride; n += stride) {
                long got;

                snprintf(round, sizeof(round), "%s, fault at call %ld of %ld", name, n, calls);
                faultvfs_arm(op, n, rc, false);
                run_round(++round_k, rc, round);
                faultvfs_disarm();
                got = faultvfs_injected();
                injected += got;
                points += got > 0;
                still_serves(round_k, round);
                check_store(round);
        }
        printf("anomaly: %-22s %4ld calls per round, stride %ld: %ld fault points injected\n", name,
               calls, stride, points);
        points_total += points;
        injected_total += injected;
        return points;
}

START_TEST(every_fault_point_is_answered_and_loses_or_half_applies_nothing)
{
        ck_assert_int_eq(faultvfs_register(), SQLITE_OK);
        harness_init(&h);
        /* A sync per commit, so that xSync faults land in requests. */
        {
                char err[256];

                ck_assert_int_eq(config_set(&h.cfg, "database.synchronous", "full", CONFIG_SRC_FLAG,
                                            err, sizeof(err)),
                                 0);
        }
        harness_start(&h);
        ck_assert_int_gt(anomaly_loop(FAULT_WRITE, SQLITE_IOERR_WRITE, "xWrite SQLITE_IOERR"), 0);
        ck_assert_int_gt(anomaly_loop(FAULT_WRITE, SQLITE_FULL, "xWrite SQLITE_FULL"), 0);
        ck_assert_int_gt(anomaly_loop(FAULT_SYNC, SQLITE_IOERR_FSYNC, "xSync SQLITE_IOERR"), 0);
        ck_assert_int_gt(
                anomaly_loop(FAULT_TRUNCATE, SQLITE_IOERR_TRUNCATE, "xTruncate SQLITE_IOERR"), 0);
        ck_assert_int_gt(anomaly_loop(FAULT_READ, SQLITE_IOERR_READ, "xRead SQLITE_IOERR"), 0);
        printf("anomaly: %ld fault points injected (%ld faults); after each, nothing"
               " acknowledged was lost (%d creates checked) and nothing was half-applied\n",
               points_total, injected_total, nacked);
        harness_stop(&h);
        for (int i = 0; i < nacked; i++)
                sqlite3_free(acked[i]);
}
END_TEST

static Suite *
anomaly_suite(void)
{
        Suite *s = suite_create("anomaly");
        TCase *tc = tcase_create("loop");

        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, every_fault_point_is_answered_and_loses_or_half_applies_nothing);
        suite_add_tcase(s, tc);
        return s;
}

int
main(void)
{
        if (harness_sqlite_only_suite("anomaly", "faults injected through SQLite's VFS"))
                return HARNESS_EXIT_SKIP;
        return harness_run_suite(anomaly_suite());
}
