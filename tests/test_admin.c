/* Tests of the /admin endpoints (API.md, Operations) through the real
 * server, of the repo/admin.h functions the CLI shares with them, and of
 * the background maintenance thread (server/maintenance.c).
 *
 * Rows are seeded with the test's own SQLite connection on the database
 * file, with timestamps set directly in SQL: the resource endpoints are not
 * needed, and retention is about rows far in the past. */
#include "tests/harness.h"
#include "db/migrate.h"

#include "common/log.h"
#include "common/ts.h"
#include "db/db.h"
#include "repo/admin.h"
#include "server/maintenance.h"
#include "server/service.h"

#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DAY_US (86400LL * 1000000LL)

static struct harness h;
static char backup_dir[400];

/* ---- fixtures ---- */

static void
set(const char *key, const char *value)
{
        harness_set(&h, key, value);
}

static void
init(void)
{
        log_set_level(LOG_ERROR);
        harness_init(&h);
        snprintf(backup_dir, sizeof(backup_dir), "%s/backups", h.dir);
        set("database.backup_dir", backup_dir);
        set("database.query_timeout", "20");
}

static void
setup(void)
{
        init();
        harness_start(&h);
}

static void
setup_keep_forever(void)
{
        init();
        set("database.quote_retention_days", "0");
        set("database.fill_retention_days", "0");
        set("database.outbox_retention_days", "0");
        harness_start(&h);
}

static void
setup_incremental(void)
{
        init();
        set("database.auto_vacuum", "incremental");
        harness_start(&h);
}

static void
setup_background(void)
{
        init();
        set("database.maintenance_interval", "1");
        harness_start(&h);
}

static void
setup_no_background(void)
{
        init();
        set("database.maintenance_interval", "0");
        harness_start(&h);
}

static void
teardown(void)
{
        harness_stop(&h); /* a second stop after a test's own is harmless */
}

/* Why some tests here are SQLite's alone (HARNESS_SQLITE_ONLY). */
#define PG_NO_BACKUP "no backup on PostgreSQL (its 501: backup_makes_a_checked_copy_...)"
#define PG_PLAIN_CONN "drives repo/admin.c on a SQLite connection of its own (plain_conn)"

/* ---- SQLite on the side ---- */

static sqlite3 *
sq_open(const char *path, int flags)
{
        sqlite3 *db = NULL;

        ck_assert_int_eq(sqlite3_open_v2(path, &db, flags, NULL), SQLITE_OK);
        sqlite3_busy_timeout(db, 20000);
        return db;
}

static void
sq_exec(sqlite3 *db, const char *sql)
{
        char *msg = NULL;
        int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

        ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
        sqlite3_free(msg);
}

static int64_t
sq_int(sqlite3 *db, const char *sql)
{
        sqlite3_stmt *st = NULL;
        int64_t v;

        ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                      sqlite3_errmsg(db));
        ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
        v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return v;
}

static char *
sq_text(sqlite3 *db, const char *sql)
{
        sqlite3_stmt *st = NULL;
        char *v;

        ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
        v = strdup((const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        return v;
}

/* Runs printf-formatted SQL on the test database (either backend). */
static void __attribute__((format(printf, 1, 2))) seed(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        harness_sql_vexec(&h, fmt, ap);
        va_end(ap);
}

static int64_t
count(const char *sql)
{
        char buf[64];

        ck_assert_int_eq(harness_sql_text(&h, buf, sizeof(buf), "%s", sql), HARNESS_SQL_VALUE);
        return strtoll(buf, NULL, 10);
}

static int64_t
ago(int days)
{
        return ts_now_us() - (int64_t)days * DAY_US;
}

static void
add_quote(const char *id, const char *status, int64_t updated_at)
{
        seed("INSERT INTO quotes (quote_id, symbol_src, symbol_dst, source_bid_price,"
             " source_ask_price, status, created_at, updated_at)"
             " VALUES ('%s', 'BTC/USDT', 'BTC/USD', 100, 101, '%s', %lld, %lld)",
             id, status, (long long)updated_at, (long long)updated_at);
}

static void
add_order(const char *id, const char *quote_id)
{
        seed("INSERT INTO orders (order_id, quote_id, symbol, side, type, quantity, created_at,"
             " updated_at) VALUES ('%s', %s%s%s, 'BTC/USD', 'buy', 'market', 100000000, %lld,"
             " %lld) ON CONFLICT DO NOTHING",
             id, quote_id ? "'" : "", quote_id ? quote_id : "NULL", quote_id ? "'" : "",
             (long long)ts_now_us(), (long long)ts_now_us());
}

static void
add_fill(const char *id, const char *order_id, int64_t executed_at, int64_t created_at)
{
        seed("INSERT INTO fills (fill_id, order_id, symbol, side, price, quantity, executed_at,"
             " created_at) VALUES ('%s', '%s', 'BTC/USD', 'buy', 100, 1, %lld, %lld)",
             id, order_id, (long long)executed_at, (long long)created_at);
}

/* processed_at 0 means NULL. */
static void
add_event(const char *id, const char *status, int64_t created_at, int64_t processed_at)
{
        char p[32] = "NULL";

        if (processed_at != 0)
                snprintf(p, sizeof(p), "%lld", (long long)processed_at);
        seed("INSERT INTO outbox (event_id, event_type, aggregate_id, payload, status,"
             " created_at, processed_at) VALUES ('%s', 'test', 'agg', '{}', '%s', %lld, %s)",
             id, status, (long long)created_at, p);
}

/* Many rows of a table at once: n fills of order o1 created days ago, each
 * with 200 bytes of commission_asset (made here: SQLite has no repeat(),
 * PostgreSQL no printf()). */
static void
add_fills_bulk(int n, const char *prefix, int days)
{
        char wide[201];

        memset(wide, 'x', sizeof(wide) - 1);
        wide[sizeof(wide) - 1] = '\0';
        seed("WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < %d)"
             " INSERT INTO fills (fill_id, order_id, symbol, side, price, quantity,"
             " executed_at, created_at, commission_asset)"
             " SELECT '%s' || i, 'o1', 'BTC/USD', 'buy', 100, 1, %lld, %lld, '%s' FROM k",
             n, prefix, (long long)ago(days), (long long)ago(days), wide);
}

/* The retention example: which rows must go and which must stay. */
static void
seed_retention_example(void)
{
        add_quote("q-expired-old", "expired", ago(8));
        add_quote("q-cancelled-old", "cancelled", ago(8));
        add_quote("q-expired-recent", "expired", ago(6));
        add_quote("q-active-old", "active", ago(30));
        add_quote("q-used-old", "used", ago(30));
        add_quote("q-expired-referenced", "expired", ago(30));
        add_order("o1", "q-expired-referenced");
        add_fill("f-old", "o1", ago(200), ago(91));
        add_fill("f-recent", "o1", ago(200), ago(89)); /* executed long ago, recorded lately */
        add_event("e-processed-old", "processed", ago(40), ago(31));
        add_event("e-processed-recent", "processed", ago(40), ago(29));
        add_event("e-pending-old", "pending", ago(60), 0);
        add_event("e-failed-old", "failed", ago(60), 0);
        add_event("e-dead-old", "dead", ago(60), 0);
}

/* ---- HTTP helpers ---- */

static void
assert_problem(const struct http_resp *r, long status)
{
        ck_assert_int_eq(r->status, status);
        ck_assert_str_eq(r->ctype, "application/problem+json");
        ck_assert_ptr_nonnull(r->json);
        ck_assert_int_eq(json_integer_value(json_object_get(r->json, "status")), status);
        ck_assert_ptr_nonnull(json_string_value(json_object_get(r->json, "detail")));
}

/* True when errors names field. */
static bool
names_field(const json_t *problem, const char *field)
{
        const json_t *errors = json_object_get(problem, "errors");
        size_t i;
        json_t *e;

        json_array_foreach(errors, i, e)
        {
                const char *f = json_string_value(json_object_get(e, "field"));

                if (f != NULL && strcmp(f, field) == 0)
                        return true;
        }
        return false;
}

static int64_t
jint(const json_t *obj, const char *key)
{
        const json_t *v = json_object_get(obj, key);

        ck_assert_msg(json_is_integer(v), "%s is not an integer", key);
        return json_integer_value(v);
}

/* POSTs body to /admin/maintenance, expects 200 and returns the response. */
static void
maintain(const char *body, struct http_resp *r)
{
        ck_assert_int_eq(http_json(&h, "POST", "/admin/maintenance", body, r), 200);
        ck_assert_str_eq(r->ctype, "application/json");
        ck_assert(jint(r->json, "duration_ms") >= 0);
}

static void
stats(struct http_resp *r)
{
        ck_assert_int_eq(http_json(&h, "GET", "/admin/stats", NULL, r), 200);
        ck_assert_str_eq(r->ctype, "application/json");
}

static int64_t
wal_file_size(void)
{
        char p[400];
        struct stat sb;

        snprintf(p, sizeof(p), "%s-wal", h.db_path);
        return stat(p, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

static int
dir_entries(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        int n = 0;

        if (d == NULL)
                return 0;
        while ((e = readdir(d)) != NULL)
                if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

/* ---- GET /admin/stats ---- */

START_TEST(stats_reports_pages_wal_and_row_counts_by_table)
{
        struct http_resp r;
        const json_t *t;

        add_quote("q1", "active", ago(0));
        add_quote("q2", "active", ago(0));
        add_quote("q3", "expired", ago(0));
        add_order("o1", "q1");
        add_order("o2", NULL);
        for (int i = 0; i < 4; i++) {
                char id[16];

                snprintf(id, sizeof(id), "f%d", i);
                add_fill(id, "o1", ago(0), ago(0));
        }
        seed("INSERT INTO positions (symbol, quantity, avg_entry_price, last_updated)"
             " VALUES ('BTC/USD', 4, 100, 1)");
        seed("INSERT INTO account_balances (asset, available, locked, total, updated_at)"
             " VALUES ('BTC', 1, 2, 3, 1), ('USD', 5, 0, 5, 1)");
        for (int i = 0; i < 5; i++) {
                char id[16];

                snprintf(id, sizeof(id), "e%d", i);
                add_event(id, "pending", ago(0), 0);
        }
        stats(&r);
        if (h.postgres) {
                /* API.md, Operations: size_bytes and tables, no page or WAL fields. */
                ck_assert(jint(r.json, "size_bytes") > 0);
                ck_assert_ptr_null(json_object_get(r.json, "page_size"));
                ck_assert_ptr_null(json_object_get(r.json, "page_count"));
                ck_assert_ptr_null(json_object_get(r.json, "freelist_count"));
                ck_assert_ptr_null(json_object_get(r.json, "wal_bytes"));
        } else {
                ck_assert(jint(r.json, "page_size") > 0);
                ck_assert(jint(r.json, "page_count") > 0);
                ck_assert(jint(r.json, "freelist_count") >= 0);
                ck_assert_int_eq(jint(r.json, "size_bytes"),
                                 jint(r.json, "page_count") * jint(r.json, "page_size"));
                ck_assert(jint(r.json, "wal_bytes") > 0); /* the seeding went through the WAL */
                ck_assert_int_eq(jint(r.json, "wal_bytes"), wal_file_size());
        }
        t = json_object_get(r.json, "tables");
        ck_assert_int_eq(json_object_size(t), 6);
        ck_assert_int_eq(jint(t, "quotes"), 3);
        ck_assert_int_eq(jint(t, "orders"), 2);
        ck_assert_int_eq(jint(t, "fills"), 4);
        ck_assert_int_eq(jint(t, "positions"), 1);
        ck_assert_int_eq(jint(t, "account_balances"), 2);
        ck_assert_int_eq(jint(t, "outbox"), 5);
        http_resp_clear(&r);
}
END_TEST

START_TEST(stats_of_an_empty_database_count_zero_rows)
{
        static const char *const tables[] = { "quotes",    "orders",           "fills",
                                              "positions", "account_balances", "outbox" };
        struct http_resp r;

        stats(&r);
        for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
                ck_assert_int_eq(jint(json_object_get(r.json, "tables"), tables[i]), 0);
        http_resp_clear(&r);
}
END_TEST

START_TEST(admin_endpoints_reject_unknown_query_parameters)
{
        static const struct {
                const char *method, *path;
        } cases[] = {
                { "GET", "/admin/stats?verbose=1" },
                { "POST", "/admin/maintenance?vacuum=true" },
                { "POST", "/admin/backup?file=x.db" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct http_resp r;

                http_json(&h, cases[i].method, cases[i].path, NULL, &r);
                assert_problem(&r, 400);
                ck_assert(json_array_size(json_object_get(r.json, "errors")) == 1);
                http_resp_clear(&r);
        }
        ck_assert_int_eq(dir_entries(backup_dir), 0);
}
END_TEST

/* ---- POST /admin/maintenance: the request ---- */

static void
assert_did_nothing(const json_t *j)
{
        ck_assert(json_is_false(json_object_get(j, "analyze")));
        ck_assert(json_is_false(json_object_get(j, "vacuum")));
        ck_assert(json_is_false(json_object_get(j, "checkpoint")));
        ck_assert(json_is_false(json_object_get(j, "cleanup")));
}

START_TEST(maintenance_with_no_body_or_an_empty_one_does_nothing_and_says_so)
{
        static const char *const bodies[] = { NULL, "{}",
                                              "{\"analyze\": false, \"vacuum\": false,"
                                              " \"checkpoint\": false, \"cleanup\": false}" };

        seed_retention_example();
        for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
                struct http_resp r;

                maintain(bodies[i], &r);
                assert_did_nothing(r.json);
                http_resp_clear(&r);
        }
        ck_assert_int_eq(count("SELECT count(*) FROM quotes"), 6);
        ck_assert_int_eq(count("SELECT count(*) FROM fills"), 2);
        ck_assert_int_eq(count("SELECT count(*) FROM outbox"), 5);
        ck_assert_int_eq(count(h.postgres
                                       ? "SELECT count(*) FROM pg_stats WHERE schemaname = 'public'"
                                       : "SELECT count(*) FROM sqlite_schema"
                                         " WHERE name = 'sqlite_stat1'"),
                         0);
}
END_TEST

START_TEST(maintenance_rejects_unknown_fields_and_non_booleans_and_does_nothing)
{
        struct http_resp r;

        seed_retention_example();
        http_json(&h, "POST", "/admin/maintenance",
                  "{\"cleanup\": true, \"compact\": true, \"analyze\": \"yes\", \"vacuum\": 1}",
                  &r);
        assert_problem(&r, 400);
        ck_assert(names_field(r.json, "compact"));
        ck_assert(names_field(r.json, "analyze"));
        ck_assert(names_field(r.json, "vacuum"));
        ck_assert(!names_field(r.json, "cleanup"));
        http_resp_clear(&r);
        /* The valid cleanup flag did not run either. */
        ck_assert_int_eq(count("SELECT count(*) FROM quotes"), 6);
        ck_assert_int_eq(count("SELECT count(*) FROM fills"), 2);
}
END_TEST

/* ---- cleanup ---- */

START_TEST(cleanup_deletes_exactly_the_rows_past_retention)
{
        struct http_resp r;
        const json_t *c;

        seed_retention_example();
        maintain("{\"cleanup\": true}", &r);
        c = json_object_get(r.json, "cleanup");
        ck_assert(json_is_object(c));
        ck_assert_int_eq(json_object_size(c), 3);
        ck_assert_int_eq(jint(c, "quotes"), 2);
        ck_assert_int_eq(jint(c, "fills"), 1);
        ck_assert_int_eq(jint(c, "outbox"), 1);
        ck_assert(json_is_false(json_object_get(r.json, "analyze")));
        ck_assert(json_is_false(json_object_get(r.json, "vacuum")));
        ck_assert(json_is_false(json_object_get(r.json, "checkpoint")));
        http_resp_clear(&r);

        ck_assert_int_eq(count("SELECT count(*) FROM quotes WHERE quote_id IN"
                               " ('q-expired-old', 'q-cancelled-old')"),
                         0);
        ck_assert_int_eq(count("SELECT count(*) FROM quotes WHERE quote_id IN"
                               " ('q-expired-recent', 'q-active-old', 'q-used-old',"
                               " 'q-expired-referenced')"),
                         4);
        /* Fills go by created_at: f-recent was executed 200 days ago. */
        ck_assert_int_eq(count("SELECT count(*) FROM fills WHERE fill_id = 'f-old'"), 0);
        ck_assert_int_eq(count("SELECT count(*) FROM fills WHERE fill_id = 'f-recent'"), 1);
        ck_assert_int_eq(count("SELECT count(*) FROM outbox WHERE event_id = 'e-processed-old'"),
                         0);
        ck_assert_int_eq(count("SELECT count(*) FROM outbox"), 4);
        ck_assert_int_eq(count("SELECT count(*) FROM orders"), 1);

        /* A second run finds nothing more. */
        maintain("{\"cleanup\": true}", &r);
        c = json_object_get(r.json, "cleanup");
        ck_assert_int_eq(jint(c, "quotes") + jint(c, "fills") + jint(c, "outbox"), 0);
        http_resp_clear(&r);
}
END_TEST

START_TEST(cleanup_never_deletes_a_quote_an_order_references)
{
        struct http_resp r;

        add_quote("q-a", "cancelled", ago(400));
        add_quote("q-b", "expired", ago(400));
        add_quote("q-c", "expired", ago(400));
        add_order("o-a", "q-a");
        add_order("o-b", "q-b");
        maintain("{\"cleanup\": true}", &r);
        ck_assert_int_eq(jint(json_object_get(r.json, "cleanup"), "quotes"), 1);
        http_resp_clear(&r);
        ck_assert_int_eq(count("SELECT count(*) FROM quotes WHERE quote_id IN ('q-a', 'q-b')"), 2);
        ck_assert_int_eq(count("SELECT count(*) FROM quotes WHERE quote_id = 'q-c'"), 0);
}
END_TEST

START_TEST(cleanup_with_retention_zero_keeps_everything_forever)
{
        struct http_resp r;
        const json_t *c;

        seed_retention_example();
        add_fill("f-ancient", "o1", ago(10000), ago(10000));
        maintain("{\"cleanup\": true}", &r);
        c = json_object_get(r.json, "cleanup");
        ck_assert_int_eq(jint(c, "quotes"), 0);
        ck_assert_int_eq(jint(c, "fills"), 0);
        ck_assert_int_eq(jint(c, "outbox"), 0);
        http_resp_clear(&r);
        ck_assert_int_eq(count("SELECT count(*) FROM quotes"), 6);
        ck_assert_int_eq(count("SELECT count(*) FROM fills"), 3);
        ck_assert_int_eq(count("SELECT count(*) FROM outbox"), 5);
}
END_TEST

START_TEST(cleanup_over_http_deletes_every_batch_until_none_is_left)
{
        struct http_resp r;

        add_order("o1", NULL);
        add_fills_bulk(2500, "old", 100);
        add_fills_bulk(5, "new", 1);
        maintain("{\"cleanup\": true}", &r);
        ck_assert_int_eq(jint(json_object_get(r.json, "cleanup"), "fills"), 2500);
        http_resp_clear(&r);
        ck_assert_int_eq(count("SELECT count(*) FROM fills"), 5);
        ck_assert_int_eq(count("SELECT count(*) FROM fills WHERE fill_id LIKE 'new%'"), 5);
}
END_TEST

/* The shared batch function, on a plain connection as the CLI uses it. */
static struct db_conn *
plain_conn(bool read_only)
{
        struct db_options opt;
        struct db_conn *c;

        db_options_default(&opt, h.db_path);
        opt.busy_timeout_ms = 20000;
        c = db_conn_open(&opt, read_only);
        ck_assert_ptr_nonnull(c);
        return c;
}

static void
batch_in_tx(struct db_conn *c, const struct admin_retention *ret, int limit,
            struct admin_cleanup *b)
{
        sq_exec(db_handle(c), "BEGIN IMMEDIATE");
        ck_assert_int_eq(repo_admin_cleanup_batch(c, ret, ts_now_us(), limit, b), REPO_OK);
        sq_exec(db_handle(c), "COMMIT");
}

START_TEST(a_cleanup_batch_deletes_at_most_its_limit_across_tables)
{
        const struct admin_retention ret = { .quote_days = 7, .fill_days = 90, .outbox_days = 30 };
        struct db_conn *c;
        struct admin_cleanup b;

        HARNESS_SQLITE_ONLY(&h, PG_PLAIN_CONN);
        add_order("o1", NULL);
        add_fills_bulk(2500, "old", 100);
        seed("WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 600)"
             " INSERT INTO quotes (quote_id, symbol_src, symbol_dst, source_bid_price,"
             " source_ask_price, status, created_at, updated_at)"
             " SELECT 'q' || i, 'A', 'B', 1, 1, 'expired', %lld, %lld FROM k",
             (long long)ago(30), (long long)ago(30));
        c = plain_conn(false);
        batch_in_tx(c, &ret, 1000, &b); /* quotes first, then fills with what is left */
        ck_assert_int_eq(b.quotes, 600);
        ck_assert_int_eq(b.fills, 400);
        ck_assert_int_eq(b.outbox, 0);
        batch_in_tx(c, &ret, 1000, &b);
        ck_assert_int_eq(b.quotes + b.fills + b.outbox, 1000);
        ck_assert_int_eq(b.fills, 1000);
        batch_in_tx(c, &ret, 1000, &b);
        ck_assert_int_eq(b.fills, 1000);
        batch_in_tx(c, &ret, 1000, &b);
        ck_assert_int_eq(b.fills, 100); /* fewer than the limit: done */
        db_conn_close(c);
        ck_assert_int_eq(count("SELECT count(*) FROM fills"), 0);
        ck_assert_int_eq(count("SELECT count(*) FROM quotes"), 0);
}
END_TEST

START_TEST(the_cli_cleanup_runs_its_own_batches_beside_a_running_server)
{
        const struct admin_retention ret = { .quote_days = 7, .fill_days = 90, .outbox_days = 30 };
        struct admin_cleanup total = { .quotes = -1, .fills = -1, .outbox = -1 };
        struct db_conn *c;
        int64_t t0, took;

        HARNESS_SQLITE_ONLY(&h, PG_PLAIN_CONN);
        seed_retention_example();
        add_fills_bulk(2500, "old", 100);
        c = plain_conn(false);
        t0 = ts_monotonic_ms();
        ck_assert_int_eq(repo_admin_cleanup_conn(c, &ret, ts_now_us(), 1000, &total), REPO_OK);
        took = ts_monotonic_ms() - t0;
        ck_assert(sqlite3_get_autocommit(db_handle(c)));
        db_conn_close(c);
        ck_assert_int_eq(total.quotes, 2);
        ck_assert_int_eq(total.fills, 2501);
        ck_assert_int_eq(total.outbox, 1);
        /* 2,504 rows at 1,000 a batch: three transactions, the last short. */
        ck_assert_int_eq(total.batches, 3);
        /* One batch's hold, within the whole call's time. */
        ck_assert_int_ge(total.longest_ms, 0);
        ck_assert_int_le(total.longest_ms, took);
        ck_assert_int_eq(count("SELECT count(*) FROM fills"), 1);
}
END_TEST

/* ---- the CLI's cleanup beside the server's writer ---- */

struct cli_cleanup {
        struct db_conn *c;
        enum repo_status s;
        struct admin_cleanup total;
        int64_t ms;
        atomic_bool done;
};

static void *
cli_cleanup_main(void *arg)
{
        const struct admin_retention ret = { .quote_days = 7, .fill_days = 90, .outbox_days = 30 };
        struct cli_cleanup *cl = arg;
        int64_t t0 = ts_monotonic_ms();

        cl->s = repo_admin_cleanup_conn(cl->c, &ret, ts_now_us(), ADMIN_CLEANUP_BATCH, &cl->total);
        cl->ms = ts_monotonic_ms() - t0;
        atomic_store(&cl->done, true);
        return NULL;
}

/* `tradestore maintain --cleanup` runs beside a serving server on its own
 * connection, a batch per transaction. It took the write lock again the
 * moment it committed, while the server's writer slept in its busy handler
 * (up to 100 ms a try), so the server's writes waited for the whole cleanup
 * (bench/run --retention: no write answered for seconds). Between batches
 * the CLI now leaves the lock to a waiting writer, and the busy handler
 * tries again soon: each write waits for one batch at most. */
START_TEST(the_cli_cleanup_lets_the_servers_writes_through_between_batches)
{
        struct cli_cleanup cl = { 0 };
        struct http_resp r;
        char body[256];
        pthread_t th;
        int64_t worst = 0;
        int during = 0;

        HARNESS_SQLITE_ONLY(&h, PG_PLAIN_CONN);
        add_order("o1", NULL);
        add_fills_bulk(60000, "old", 100);
        cl.c = plain_conn(false);
        pthread_create(&th, NULL, cli_cleanup_main, &cl);
        for (int i = 0; !atomic_load(&cl.done); i++) {
                int64_t t0 = ts_monotonic_ms();

                snprintf(body, sizeof(body),
                         "{\"quote_id\": \"q-during-%d\", \"symbol_src\": \"A\", \"symbol_dst\":"
                         " \"B\", \"source_bid_price\": \"1\", \"source_ask_price\": \"2\"}",
                         i);
                ck_assert_int_eq(http_json(&h, "POST", "/quotes", body, &r), 201);
                http_resp_clear(&r);
                worst = ts_monotonic_ms() - t0 > worst ? ts_monotonic_ms() - t0 : worst;
                during += !atomic_load(&cl.done);
        }
        pthread_join(th, NULL);
        db_conn_close(cl.c);
        ck_assert_int_eq(cl.s, REPO_OK);
        ck_assert_int_eq(cl.total.fills, 60000);
        /* Meaningful only if the cleanup outlasted a few writes. */
        ck_assert_msg(cl.ms > 300, "the cleanup took %lld ms: too short to tell", (long long)cl.ms);
        ck_assert_msg(during >= 5 && worst < cl.ms / 3,
                      "%d writes answered during a %lld ms cleanup, the slowest in %lld ms", during,
                      (long long)cl.ms, (long long)worst);
}
END_TEST

/* Every statement the cleanup runs walks an index, never a whole table. */
START_TEST(cleanup_statements_use_indexes)
{
        size_t n;
        const char *const *sqls = repo_admin_cleanup_sql(&n);
        sqlite3 *db;

        HARNESS_SQLITE_ONLY(&h, "repo_admin_cleanup_sql gives SQLite's texts only");
        db = sq_open(h.db_path, SQLITE_OPEN_READONLY);
        ck_assert_int_eq(n, 3);
        for (size_t i = 0; i < n; i++) {
                char eqp[4096];
                sqlite3_stmt *st = NULL;
                bool used_index = false;

                snprintf(eqp, sizeof(eqp), "EXPLAIN QUERY PLAN %s", sqls[i]);
                ck_assert_int_eq(sqlite3_prepare_v2(db, eqp, -1, &st, NULL), SQLITE_OK);
                while (sqlite3_step(st) == SQLITE_ROW) {
                        const char *d = (const char *)sqlite3_column_text(st, 3);

                        ck_assert_msg(strncmp(d, "SCAN ", 5) != 0 || strstr(d, "USING") != NULL,
                                      "%s: %s", sqls[i], d);
                        if (strstr(d, "idx_quotes_retention") || strstr(d, "idx_fills_created") ||
                            strstr(d, "idx_outbox_processed"))
                                used_index = true;
                }
                sqlite3_finalize(st);
                ck_assert_msg(used_index, "%s does not use its retention index", sqls[i]);
        }
        sqlite3_close(db);
}
END_TEST

/* ---- analyze, vacuum, checkpoint ---- */

START_TEST(analyze_writes_planner_statistics)
{
        struct http_resp r;

        add_order("o1", NULL);
        add_fills_bulk(50, "f", 1);
        maintain("{\"analyze\": true}", &r);
        ck_assert(json_is_true(json_object_get(r.json, "analyze")));
        ck_assert(json_is_false(json_object_get(r.json, "vacuum")));
        ck_assert(json_is_false(json_object_get(r.json, "checkpoint")));
        ck_assert(json_is_false(json_object_get(r.json, "cleanup")));
        http_resp_clear(&r);
        ck_assert(count(h.postgres ? "SELECT count(*) FROM pg_stats WHERE tablename = 'fills'"
                                   : "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'fills'") > 0);
        /* The writer still works afterwards (the schema changed under it). */
        maintain("{\"cleanup\": true, \"analyze\": true}", &r);
        ck_assert(json_is_true(json_object_get(r.json, "analyze")));
        http_resp_clear(&r);
}
END_TEST

/* Makes free pages: many wide rows, then deletes them. */
static void
make_free_pages(void)
{
        add_order("o1", NULL);
        add_fills_bulk(3000, "tmp", 1);
        seed("DELETE FROM fills");
}

/* On PostgreSQL, vacuum and checkpoint are refused with 400: autovacuum and
 * PostgreSQL's checkpointer do them (API.md, Operations). */
static void
assert_refused_on_postgres(const char *body, const char *field)
{
        struct http_resp r;

        http_json(&h, "POST", "/admin/maintenance", body, &r);
        assert_problem(&r, 400);
        ck_assert_msg(names_field(r.json, field), "%s", r.body);
        http_resp_clear(&r);
}

START_TEST(vacuum_gives_free_pages_back)
{
        struct http_resp r;
        int64_t pages_before;

        if (h.postgres) {
                assert_refused_on_postgres("{\"vacuum\": true}", "vacuum");
                return;
        }
        make_free_pages();
        stats(&r);
        ck_assert(jint(r.json, "freelist_count") > 50);
        pages_before = jint(r.json, "page_count");
        http_resp_clear(&r);
        maintain("{\"vacuum\": true}", &r);
        ck_assert(json_is_true(json_object_get(r.json, "vacuum")));
        ck_assert(json_is_false(json_object_get(r.json, "analyze")));
        http_resp_clear(&r);
        stats(&r);
        ck_assert_int_eq(jint(r.json, "freelist_count"), 0);
        ck_assert(jint(r.json, "page_count") < pages_before);
        ck_assert_int_eq(jint(json_object_get(r.json, "tables"), "orders"), 1);
        http_resp_clear(&r);
}
END_TEST

START_TEST(vacuum_in_incremental_mode_frees_pages_through_the_writer)
{
        struct http_resp r;

        HARNESS_SQLITE_ONLY(&h, "SQLite's auto_vacuum");
        ck_assert_int_eq(count("PRAGMA auto_vacuum"), 2);
        make_free_pages();
        stats(&r);
        ck_assert(jint(r.json, "freelist_count") > 50);
        http_resp_clear(&r);
        maintain("{\"vacuum\": true}", &r);
        ck_assert(json_is_true(json_object_get(r.json, "vacuum")));
        http_resp_clear(&r);
        stats(&r);
        ck_assert_int_eq(jint(r.json, "freelist_count"), 0);
        http_resp_clear(&r);
        ck_assert_int_eq(count("PRAGMA auto_vacuum"), 2);
}
END_TEST

START_TEST(checkpoint_reports_frames_and_truncates_the_wal)
{
        struct http_resp r;
        const json_t *ck;

        if (h.postgres) {
                assert_refused_on_postgres("{\"checkpoint\": true}", "checkpoint");
                return;
        }
        seed_retention_example();
        ck_assert(wal_file_size() > 0);
        maintain("{\"checkpoint\": true}", &r);
        ck = json_object_get(r.json, "checkpoint");
        ck_assert(json_is_object(ck));
        ck_assert(jint(ck, "wal_frames") > 0);
        ck_assert_int_eq(jint(ck, "checkpointed_frames"), jint(ck, "wal_frames"));
        ck_assert(json_is_true(json_object_get(ck, "truncated")));
        ck_assert(json_is_false(json_object_get(r.json, "cleanup")));
        http_resp_clear(&r);
        stats(&r);
        ck_assert_int_eq(jint(r.json, "wal_bytes"), 0);
        ck_assert_int_eq(jint(json_object_get(r.json, "tables"), "quotes"), 6);
        http_resp_clear(&r);
}
END_TEST

START_TEST(maintenance_runs_every_step_asked_for_at_once)
{
        struct http_resp r;
        const json_t *c;

        seed_retention_example();
        make_free_pages();
        if (h.postgres) {
                /* What PostgreSQL takes: analyze and cleanup (vacuum and
                 * checkpoint are 400, above) */
                maintain("{\"analyze\": true, \"cleanup\": true}", &r);
                ck_assert(json_is_true(json_object_get(r.json, "analyze")));
                c = json_object_get(r.json, "cleanup");
                ck_assert_int_eq(jint(c, "quotes"), 2);
                ck_assert_int_eq(jint(c, "outbox"), 1);
                http_resp_clear(&r);
                return;
        }
        maintain("{\"analyze\": true, \"vacuum\": true, \"checkpoint\": true, \"cleanup\": true}",
                 &r);
        ck_assert(json_is_true(json_object_get(r.json, "analyze")));
        ck_assert(json_is_true(json_object_get(r.json, "vacuum")));
        ck_assert(json_is_object(json_object_get(r.json, "checkpoint")));
        c = json_object_get(r.json, "cleanup");
        ck_assert_int_eq(jint(c, "quotes"), 2);
        ck_assert_int_eq(jint(c, "outbox"), 1);
        http_resp_clear(&r);
        stats(&r);
        ck_assert_int_eq(jint(r.json, "freelist_count"), 0);
        ck_assert_int_eq(jint(r.json, "wal_bytes"), 0);
        http_resp_clear(&r);
}
END_TEST

/* ---- POST /admin/backup ---- */

/* Checks the copy at path: a complete, self-contained, sound database. */
static sqlite3 *
open_backup(const char *path)
{
        sqlite3 *db = sq_open(path, SQLITE_OPEN_READONLY);
        char *v = sq_text(db, "PRAGMA integrity_check");

        ck_assert_str_eq(v, "ok");
        free(v);
        v = sq_text(db, "PRAGMA journal_mode");
        ck_assert_str_eq(v, "delete");
        free(v);
        return db;
}

/* The file name is the server's: tradestore-YYYYmmddTHHMMSS.ffffffZ.db. */
static void
assert_server_name(const char *path)
{
        static const char shape[] = "tradestore-########T######.######Z.db";
        const char *name = strrchr(path, '/');

        ck_assert_ptr_nonnull(name);
        ck_assert(strncmp(path, backup_dir, strlen(backup_dir)) == 0);
        name++;
        ck_assert_uint_eq(strlen(name), strlen(shape));
        for (size_t i = 0; shape[i] != '\0'; i++) {
                if (shape[i] == '#')
                        ck_assert_msg(name[i] >= '0' && name[i] <= '9', "%s", name);
                else
                        ck_assert_msg(name[i] == shape[i], "%s", name);
        }
}

static char *
backup(const char *body)
{
        struct http_resp r;
        struct stat sb;
        char *path;

        ck_assert_int_eq(http_json(&h, "POST", "/admin/backup", body, &r), 201);
        ck_assert_str_eq(r.ctype, "application/json");
        ck_assert_int_eq(json_object_size(r.json), 2);
        path = strdup(json_string_value(json_object_get(r.json, "file")));
        assert_server_name(path);
        ck_assert_int_eq(stat(path, &sb), 0);
        ck_assert_int_eq(jint(r.json, "size_bytes"), sb.st_size);
        ck_assert(sb.st_size > 0);
        http_resp_clear(&r);
        return path;
}

/* POST /admin/backup is refused with status, its detail naming what1 and
 * what2 (NULL: none). */
static void
backup_refused(long status, const char *what1, const char *what2)
{
        struct http_resp r;
        const char *detail;

        http_json(&h, "POST", "/admin/backup", NULL, &r);
        assert_problem(&r, status);
        /* Every 503 says when to try again (API.md: 503 database unavailable). */
        if (status == 503)
                ck_assert_msg(atoi(r.retry_after) >= 1, "Retry-After: '%s'", r.retry_after);
        detail = json_string_value(json_object_get(r.json, "detail"));
        ck_assert_msg(strstr(detail, what1) != NULL, "%s", detail);
        ck_assert_msg(what2 == NULL || strstr(detail, what2) != NULL, "%s", detail);
        http_resp_clear(&r);
}

START_TEST(backup_makes_a_checked_copy_with_every_row_in_a_new_folder)
{
        struct stat sb;
        char *path;
        sqlite3 *db;

        ck_assert_int_ne(stat(backup_dir, &sb), 0); /* created on demand */
        seed_retention_example();
        if (h.postgres) {
                /* PostgreSQL's own tools back it up (API.md, Operations). */
                backup_refused(501, "pg_dump", "pg_basebackup");
                ck_assert_int_ne(stat(backup_dir, &sb), 0); /* nothing made */
                return;
        }
        path = backup(NULL);
        ck_assert_int_eq(dir_entries(backup_dir), 1); /* no temporary file left */
        db = open_backup(path);
        ck_assert_int_eq(sq_int(db, "SELECT count(*) FROM quotes"), 6);
        ck_assert_int_eq(sq_int(db, "SELECT count(*) FROM orders"), 1);
        ck_assert_int_eq(sq_int(db, "SELECT count(*) FROM fills"), 2);
        ck_assert_int_eq(sq_int(db, "SELECT count(*) FROM outbox"), 5);
        ck_assert_int_eq(sq_int(db, "SELECT max(version) FROM schema_version"),
                         migrations_embedded[migrations_embedded_count - 1].version);
        sqlite3_close(db);
        free(path);
}
END_TEST

START_TEST(backups_in_a_row_get_distinct_names)
{
        char *a, *b;

        HARNESS_SQLITE_ONLY(&h, PG_NO_BACKUP);
        a = backup("{}");
        b = backup(NULL);
        ck_assert_str_ne(a, b);
        ck_assert_int_eq(dir_entries(backup_dir), 2);
        free(a);
        free(b);
}
END_TEST

START_TEST(backup_with_any_field_is_400_and_writes_nothing)
{
        static const char *const bodies[] = {
                "{\"file\": \"mine.db\"}",
                "{\"dir\": \"/tmp\", \"name\": \"x\"}",
                "{\"file\": null}",
        };

        for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
                struct http_resp r;

                http_json(&h, "POST", "/admin/backup", bodies[i], &r);
                assert_problem(&r, 400);
                ck_assert(json_array_size(json_object_get(r.json, "errors")) >= 1);
                http_resp_clear(&r);
        }
        ck_assert_int_eq(dir_entries(backup_dir), 0);
}
END_TEST

START_TEST(backup_into_a_folder_that_cannot_be_made_is_503_with_the_reason)
{
        char bad[512];

        HARNESS_SQLITE_ONLY(&h, PG_NO_BACKUP);
        harness_stop(&h);
        init();
        /* Below a regular file (the database): fails even for root. */
        snprintf(bad, sizeof(bad), "%s/backups", h.db_path);
        set("database.backup_dir", bad);
        harness_start(&h);
        backup_refused(503, "backup folder", NULL);
}
END_TEST

/* A damaged database: a side table whose index lacks half its rows (made
 * by rewriting a partial index's definition). VACUUM INTO copies the index
 * as it is, so the copy fails its integrity check. */
START_TEST(a_backup_that_fails_its_integrity_check_is_503_and_leaves_no_file)
{
        HARNESS_SQLITE_ONLY(&h, PG_NO_BACKUP);
        seed("CREATE TABLE side (a INTEGER);"
             " WITH RECURSIVE k(i) AS (SELECT -10 UNION ALL SELECT i + 1 FROM k WHERE i < 10)"
             " INSERT INTO side SELECT i FROM k;"
             " CREATE INDEX side_a ON side (a) WHERE a > 0;"
             " PRAGMA writable_schema = ON;"
             " UPDATE sqlite_schema SET sql = 'CREATE INDEX side_a ON side (a)'"
             "  WHERE name = 'side_a';"
             " PRAGMA writable_schema = OFF;");
        backup_refused(503, "integrity check", "missing from index side_a");
        ck_assert_int_eq(dir_entries(backup_dir), 0); /* the copy was removed */
}
END_TEST

/* A writer on its own connection: one outbox row per transaction, numbered
 * in order; committed counts the rows whose COMMIT returned. */
struct writer {
        char db_path[320];
        atomic_int committed;
        atomic_bool stop;
};

static void *
writer_main(void *arg)
{
        struct writer *w = arg;
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;

        sqlite3_open_v2(w->db_path, &db, SQLITE_OPEN_READWRITE, NULL);
        sqlite3_busy_timeout(db, 20000);
        sqlite3_prepare_v2(db,
                           "INSERT INTO outbox (event_id, event_type, aggregate_id, payload,"
                           " created_at) VALUES (printf('w%d', ?1), 't', 'a', '{}', 1)",
                           -1, &st, NULL);
        for (int i = 0; !atomic_load(&w->stop); i++) {
                sqlite3_bind_int(st, 1, i);
                if (sqlite3_step(st) != SQLITE_DONE)
                        break;
                sqlite3_reset(st);
                atomic_store(&w->committed, i + 1);
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
        return NULL;
}

START_TEST(a_backup_during_writes_holds_every_row_committed_before_it_began)
{
        struct writer w = { 0 };
        pthread_t t;
        int before;
        char *path;
        sqlite3 *db;
        int64_t n, max;

        HARNESS_SQLITE_ONLY(&h, PG_NO_BACKUP);
        add_order("o1", NULL);
        add_fills_bulk(3000, "f", 1); /* a copy that takes a moment */
        snprintf(w.db_path, sizeof(w.db_path), "%s", h.db_path);
        ck_assert_int_eq(pthread_create(&t, NULL, writer_main, &w), 0);
        while (atomic_load(&w.committed) < 200)
                usleep(1000);
        before = atomic_load(&w.committed);
        path = backup(NULL);
        atomic_store(&w.stop, true);
        pthread_join(t, NULL);
        ck_assert(atomic_load(&w.committed) > before); /* the writes went on */
        db = open_backup(path);
        n = sq_int(db, "SELECT count(*) FROM outbox");
        max = sq_int(db, "SELECT max(CAST(substr(event_id, 2) AS INTEGER)) FROM outbox");
        ck_assert_msg(n >= before, "backup holds %lld rows, %d were committed before", (long long)n,
                      before);
        /* One snapshot: a prefix of the writer's rows, no gaps. */
        ck_assert_int_eq(max + 1, n);
        ck_assert_int_eq(sq_int(db, "SELECT count(*) FROM fills"), 3000);
        sqlite3_close(db);
        free(path);
}
END_TEST

START_TEST(the_cli_backup_works_on_a_plain_read_only_connection)
{
        struct db_conn *c;
        char path[1024], err[256] = "", dir[400];
        int64_t size = -1;
        sqlite3 *db;

        HARNESS_SQLITE_ONLY(&h, PG_PLAIN_CONN);
        seed_retention_example();
        snprintf(dir, sizeof(dir), "%s/cli/nested", h.dir);
        c = plain_conn(true);
        ck_assert_int_eq(repo_admin_backup(c, dir, path, sizeof(path), &size, err, sizeof(err)),
                         REPO_OK);
        db_conn_close(c);
        ck_assert(size > 0);
        ck_assert(strncmp(path, dir, strlen(dir)) == 0);
        db = open_backup(path);
        ck_assert_int_eq(sq_int(db, "SELECT count(*) FROM quotes"), 6);
        sqlite3_close(db);
}
END_TEST

/* What `tradestore maintain` runs: the same functions on plain connections
 * beside the running server. */
START_TEST(the_cli_maintenance_functions_work_on_plain_connections)
{
        struct admin_checkpoint ck = { 0 };
        struct db_conn *c;

        HARNESS_SQLITE_ONLY(&h, PG_PLAIN_CONN);
        make_free_pages();
        c = plain_conn(false);
        ck_assert_int_eq(repo_admin_analyze(c), REPO_OK);
        ck_assert_int_eq(repo_admin_optimize(c), REPO_OK);
        /* Not in incremental mode: frees nothing, and the loop still ends. */
        ck_assert_int_eq(repo_admin_incremental_vacuum_conn(c), REPO_OK);
        ck_assert(count("PRAGMA freelist_count") > 50);
        ck_assert_int_eq(repo_admin_vacuum(c), REPO_OK);
        ck_assert_int_eq(count("PRAGMA freelist_count"), 0);
        ck_assert_int_eq(repo_admin_checkpoint(c, &ck), REPO_OK);
        ck_assert(ck.counted);
        ck_assert(ck.wal_frames > 0);
        ck_assert(ck.truncated);
        ck_assert(sqlite3_get_autocommit(db_handle(c)));
        db_conn_close(c);
        ck_assert_int_eq(wal_file_size(), 0);
        ck_assert(count("SELECT count(*) FROM sqlite_stat1") > 0);
}
END_TEST

START_TEST(the_cli_incremental_vacuum_frees_every_page)
{
        struct db_conn *c;

        HARNESS_SQLITE_ONLY(&h, PG_PLAIN_CONN);
        make_free_pages();
        ck_assert(count("PRAGMA freelist_count") > ADMIN_CLEANUP_BATCH / 10);
        c = plain_conn(false);
        ck_assert_int_eq(repo_admin_incremental_vacuum_conn(c), REPO_OK);
        db_conn_close(c);
        ck_assert_int_eq(count("PRAGMA freelist_count"), 0);
}
END_TEST

/* ---- the background thread ---- */

static bool
wait_for(const char *sql, int64_t want, int timeout_ms)
{
        for (int waited = 0; waited < timeout_ms; waited += 50) {
                if (count(sql) == want)
                        return true;
                usleep(50 * 1000);
        }
        return count(sql) == want;
}

START_TEST(the_maintenance_thread_deletes_old_rows_on_its_interval)
{
        seed_retention_example();
        add_fills_bulk(1500, "bulk", 100);
        ck_assert(wait_for("SELECT count(*) FROM fills", 1, 8000));
        ck_assert(wait_for("SELECT count(*) FROM quotes", 4, 2000));
        ck_assert(wait_for("SELECT count(*) FROM outbox", 4, 2000));
        ck_assert_int_eq(count("SELECT count(*) FROM fills WHERE fill_id = 'f-recent'"), 1);
        ck_assert_int_eq(count("SELECT count(*) FROM quotes WHERE quote_id ="
                               " 'q-expired-referenced'"),
                         1);
}
END_TEST

START_TEST(the_maintenance_thread_stops_promptly)
{
        int64_t t0;

        usleep(300 * 1000); /* mid-wait: the default interval is an hour */
        t0 = ts_monotonic_ms();
        harness_stop(&h);
        ck_assert_msg(ts_monotonic_ms() - t0 < 1500, "stop took %lld ms",
                      (long long)(ts_monotonic_ms() - t0));
}
END_TEST

START_TEST(an_interval_of_zero_disables_the_maintenance_thread)
{
        struct maintenance *m = (struct maintenance *)&h; /* must be overwritten */

        ck_assert_int_eq(maintenance_start(NULL, &h.cfg, &m), 0);
        ck_assert_ptr_null(m);
        maintenance_stop(m);
        seed_retention_example();
        usleep(2200 * 1000);
        ck_assert_int_eq(count("SELECT count(*) FROM fills"), 2);
        ck_assert_int_eq(count("SELECT count(*) FROM quotes"), 6);
}
END_TEST

/* ---- admin work off the request threads ---- */

static void
setup_one_thread(void)
{
        init();
        set("server.threads", "1"); /* one HTTP thread serves every connection */
        harness_start(&h);
}

struct backup_call {
        long status;
        int64_t ms;
};

static void *
backup_main(void *arg)
{
        struct backup_call *b = arg;
        struct http_resp r;
        int64_t t0 = ts_monotonic_ms();

        b->status = http_json(&h, "POST", "/admin/backup", NULL, &r);
        b->ms = ts_monotonic_ms() - t0;
        http_resp_clear(&r);
        return NULL;
}

/* A backup of a big file takes a while. It ran on the HTTP thread that took
 * the request and stalled every connection that thread serves: with one
 * HTTP thread, /health waited for the whole copy. It now runs on the
 * database's admin thread, and /health answers meanwhile. */
START_TEST(a_long_backup_does_not_stall_other_requests)
{
        struct backup_call b = { 0 };
        struct http_resp r;
        pthread_t th;
        int64_t worst = 0;
        sqlite3 *db;

        HARNESS_SQLITE_ONLY(&h, PG_NO_BACKUP);
        ck_assert_int_eq(sqlite3_open(h.db_path, &db), SQLITE_OK);
        sqlite3_busy_timeout(db, 10000);
        ck_assert_int_eq(sqlite3_exec(db,
                                      "CREATE TABLE ballast (b BLOB);"
                                      " WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1"
                                      " FROM n WHERE i < 300)"
                                      " INSERT INTO ballast SELECT randomblob(1000000) FROM n;",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
        pthread_create(&th, NULL, backup_main, &b);
        nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL); /* the copy is under way */
        for (int i = 0; i < 5; i++) {
                int64_t t0 = ts_monotonic_ms();

                ck_assert_int_eq(http_json(&h, "GET", "/health", NULL, &r), 200);
                http_resp_clear(&r);
                if (ts_monotonic_ms() - t0 > worst)
                        worst = ts_monotonic_ms() - t0;
        }
        pthread_join(th, NULL);
        ck_assert_int_eq(b.status, 201);
        /* Meaningful only if the backup outlasted the probes. */
        ck_assert_msg(b.ms > 300, "the backup took %lld ms: too short to tell", (long long)b.ms);
        ck_assert_msg(worst < b.ms / 3, "/health took %lld ms while a %lld ms backup ran",
                      (long long)worst, (long long)b.ms);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("admin");
        TCase *one = tcase_create("one_http_thread");
        TCase *tc = tcase_create("admin");
        TCase *keep = tcase_create("keep_forever");
        TCase *incr = tcase_create("incremental");
        TCase *bg = tcase_create("background");
        TCase *nobg = tcase_create("no_background");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, stats_reports_pages_wal_and_row_counts_by_table);
        tcase_add_test(tc, stats_of_an_empty_database_count_zero_rows);
        tcase_add_test(tc, admin_endpoints_reject_unknown_query_parameters);
        tcase_add_test(tc, maintenance_with_no_body_or_an_empty_one_does_nothing_and_says_so);
        tcase_add_test(tc, maintenance_rejects_unknown_fields_and_non_booleans_and_does_nothing);
        tcase_add_test(tc, cleanup_deletes_exactly_the_rows_past_retention);
        tcase_add_test(tc, cleanup_never_deletes_a_quote_an_order_references);
        tcase_add_test(tc, cleanup_over_http_deletes_every_batch_until_none_is_left);
        tcase_add_test(tc, a_cleanup_batch_deletes_at_most_its_limit_across_tables);
        tcase_add_test(tc, the_cli_cleanup_runs_its_own_batches_beside_a_running_server);
        tcase_add_test(tc, the_cli_cleanup_lets_the_servers_writes_through_between_batches);
        tcase_add_test(tc, cleanup_statements_use_indexes);
        tcase_add_test(tc, analyze_writes_planner_statistics);
        tcase_add_test(tc, vacuum_gives_free_pages_back);
        tcase_add_test(tc, checkpoint_reports_frames_and_truncates_the_wal);
        tcase_add_test(tc, maintenance_runs_every_step_asked_for_at_once);
        tcase_add_test(tc, backup_makes_a_checked_copy_with_every_row_in_a_new_folder);
        tcase_add_test(tc, backups_in_a_row_get_distinct_names);
        tcase_add_test(tc, backup_with_any_field_is_400_and_writes_nothing);
        tcase_add_test(tc, backup_into_a_folder_that_cannot_be_made_is_503_with_the_reason);
        tcase_add_test(tc, a_backup_that_fails_its_integrity_check_is_503_and_leaves_no_file);
        tcase_add_test(tc, a_backup_during_writes_holds_every_row_committed_before_it_began);
        tcase_add_test(tc, the_cli_backup_works_on_a_plain_read_only_connection);
        tcase_add_test(tc, the_cli_maintenance_functions_work_on_plain_connections);
        tcase_add_test(tc, the_maintenance_thread_stops_promptly);
        suite_add_tcase(s, tc);

        tcase_add_checked_fixture(keep, setup_keep_forever, teardown);
        tcase_add_test(keep, cleanup_with_retention_zero_keeps_everything_forever);
        suite_add_tcase(s, keep);

        tcase_add_checked_fixture(incr, setup_incremental, teardown);
        tcase_add_test(incr, vacuum_in_incremental_mode_frees_pages_through_the_writer);
        tcase_add_test(incr, the_cli_incremental_vacuum_frees_every_page);
        suite_add_tcase(s, incr);

        tcase_add_checked_fixture(bg, setup_background, teardown);
        tcase_add_test(bg, the_maintenance_thread_deletes_old_rows_on_its_interval);
        tcase_add_test(bg, the_maintenance_thread_stops_promptly);
        suite_add_tcase(s, bg);

        tcase_add_checked_fixture(nobg, setup_no_background, teardown);
        tcase_add_test(nobg, an_interval_of_zero_disables_the_maintenance_thread);
        suite_add_tcase(s, nobg);

        tcase_add_checked_fixture(one, setup_one_thread, teardown);
        tcase_set_timeout(one, 120);
        tcase_add_test(one, a_long_backup_does_not_stall_other_requests);
        suite_add_tcase(s, one);

        return harness_run_suite(s);
}
