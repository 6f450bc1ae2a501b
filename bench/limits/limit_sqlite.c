/* W1's and W3's limits: tradestore's SQL on raw SQLite with prepared
 * statements, on a database with the service's schema (every migrations/NNN_*.sql in order)
 * and bench/seed.sql's data, and nothing else: no HTTP, no JSON, no queue.
 *
 * limit_sqlite fill DB PER_COMMIT SECONDS SYNC
 *     One thread (the service has one writer) runs the fill transaction of
 *     POST /fills: read the order and the position, insert the fill, update
 *     the order and the position, insert the outbox event; PER_COMMIT fills
 *     per BEGIN IMMEDIATE ... COMMIT, synchronous=SYNC (NORMAL or FULL), with
 *     the service's pragmas (cache_size 10000, temp_store memory, and no
 *     automatic checkpoint: the service checkpoints off the writer).
 * limit_sqlite read DB THREADS SECONDS
 *     THREADS threads, one read-only connection each, run GET /orders/{id}'s
 *     point read on random orders of the 1,000.
 *
 * Prints "@@LIMIT ops=N seconds=S rate=R" (fills or reads per second). */
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The orders bench-ord-0000.. to pick from: BENCH_ORDERS (bench/run --scale
 * sets it), else the default seed's 1,000. Set once in main. */
static unsigned norders = 1000;

static double
now_s(void)
{
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long long
now_us(void)
{
        struct timespec t;

        clock_gettime(CLOCK_REALTIME, &t);
        return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void
die(sqlite3 *db, const char *what)
{
        fprintf(stderr, "limit_sqlite: %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
        exit(1);
}

static sqlite3_stmt *
prep(sqlite3 *db, const char *sql)
{
        sqlite3_stmt *st = NULL;

        if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
                die(db, sql);
        return st;
}

static void
exec(sqlite3 *db, const char *sql)
{
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
                die(db, sql);
}

/* Steps st to the end; the caller has bound it. */
static void
run(sqlite3 *db, sqlite3_stmt *st, int want)
{
        int rc = sqlite3_step(st);

        if (rc != want)
                die(db, sqlite3_sql(st));
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
}

struct fill_stmts {
        sqlite3_stmt *order, *position, *fill, *order_upd, *pos_upd, *pos_ins, *outbox;
};

static void
one_fill(sqlite3 *db, const struct fill_stmts *s, long n, unsigned *seed)
{
        char order_id[32], fill_id[48], payload[160];
        char symbol[16];
        long long filled, qty = 100000, price = 10050000000LL, now = now_us();

        snprintf(order_id, sizeof(order_id), "bench-ord-%04d", (int)(rand_r(seed) % norders));
        snprintf(fill_id, sizeof(fill_id), "lim-%ld-%ld", (long)getpid(), n);
        sqlite3_bind_text(s->order, 1, order_id, -1, SQLITE_STATIC);
        if (sqlite3_step(s->order) != SQLITE_ROW)
                die(db, "order");
        snprintf(symbol, sizeof(symbol), "%s", (const char *)sqlite3_column_text(s->order, 0));
        filled = sqlite3_column_int64(s->order, 4) + qty;
        sqlite3_reset(s->order);
        sqlite3_bind_text(s->position, 1, symbol, -1, SQLITE_STATIC);
        int have_pos = sqlite3_step(s->position) == SQLITE_ROW;
        long long pos_qty = have_pos ? sqlite3_column_int64(s->position, 1) : 0;
        sqlite3_reset(s->position);

        sqlite3_bind_text(s->fill, 1, fill_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->fill, 2, order_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->fill, 3, symbol, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->fill, 4, "buy", -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->fill, 5, price);
        sqlite3_bind_int64(s->fill, 6, qty);
        sqlite3_bind_int64(s->fill, 7, now);
        sqlite3_bind_text(s->fill, 8, fill_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->fill, 9, 0);
        sqlite3_bind_text(s->fill, 10, "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->fill, 11, 1);
        sqlite3_bind_int64(s->fill, 12, now);
        run(db, s->fill, SQLITE_DONE);

        sqlite3_bind_text(s->order_upd, 1, order_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->order_upd, 2, filled);
        sqlite3_bind_text(s->order_upd, 3, "1005000000000", -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->order_upd, 4, price);
        sqlite3_bind_int64(s->order_upd, 6, now);
        run(db, s->order_upd, SQLITE_DONE);

        sqlite3_stmt *pos = have_pos ? s->pos_upd : s->pos_ins;
        sqlite3_bind_text(pos, 1, symbol, -1, SQLITE_STATIC);
        sqlite3_bind_int64(pos, 2, pos_qty + qty);
        sqlite3_bind_int64(pos, 3, price);
        sqlite3_bind_int64(pos, 4, 0);
        sqlite3_bind_int64(pos, 5, 0);
        sqlite3_bind_int64(pos, 6, price);
        sqlite3_bind_int64(pos, 7, now);
        run(db, pos, SQLITE_DONE);

        snprintf(payload, sizeof(payload), "{\"fill_id\":\"%s\",\"order_id\":\"%s\"}", fill_id,
                 order_id);
        sqlite3_bind_text(s->outbox, 1, fill_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->outbox, 2, "fill_processed", -1, SQLITE_STATIC);
        sqlite3_bind_text(s->outbox, 3, order_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->outbox, 4, payload, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->outbox, 5, now);
        run(db, s->outbox, SQLITE_DONE);
}

static int
fill_main(const char *path, long per_commit, double seconds, const char *sync)
{
        sqlite3 *db = NULL;
        struct fill_stmts s;
        char pragmas[256];
        unsigned seed = (unsigned)getpid();
        long n = 0;
        double t0, t;

        if (sqlite3_open(path, &db) != SQLITE_OK)
                die(db, "open");
        sqlite3_busy_timeout(db, 5000);
        snprintf(pragmas, sizeof(pragmas),
                 "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=%s;"
                 " PRAGMA cache_size=10000; PRAGMA temp_store=memory;"
                 " PRAGMA wal_autocheckpoint=0;",
                 strcmp(sync, "FULL") == 0 ? "FULL" : "NORMAL");
        exec(db, pragmas);
        s.order = prep(db, "SELECT symbol, side, status, quantity, filled_quantity, fill_notional"
                           " FROM orders WHERE order_id = ?1");
        s.position = prep(db, "SELECT symbol, quantity, avg_entry_price, realized_pnl,"
                              " unrealized_pnl, mark_price, last_updated"
                              " FROM positions WHERE symbol = ?1");
        s.fill = prep(db, "INSERT INTO fills (fill_id, order_id, symbol, side, price, quantity,"
                          " executed_at, trade_id, commission, commission_asset, is_maker,"
                          " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
                          " ?12)");
        s.order_upd = prep(db, "UPDATE orders SET filled_quantity = ?2, fill_notional = ?3,"
                               " avg_fill_price = ?4, updated_at = ?6 WHERE order_id = ?1");
        s.pos_upd = prep(db, "UPDATE positions SET quantity = ?2, avg_entry_price = ?3,"
                             " realized_pnl = ?4, unrealized_pnl = ?5, mark_price = ?6,"
                             " last_updated = ?7 WHERE symbol = ?1");
        s.pos_ins = prep(db, "INSERT INTO positions (symbol, quantity, avg_entry_price,"
                             " realized_pnl, unrealized_pnl, mark_price, last_updated)"
                             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        s.outbox = prep(db, "INSERT INTO outbox (event_id, event_type, aggregate_id, payload,"
                            " status, created_at) VALUES (?1, ?2, ?3, ?4, 'pending', ?5)");
        t0 = now_s();
        do {
                exec(db, "BEGIN IMMEDIATE");
                for (long i = 0; i < per_commit; i++)
                        one_fill(db, &s, n++, &seed);
                exec(db, "COMMIT");
                t = now_s() - t0;
        } while (t < seconds);
        printf("@@LIMIT ops=%ld seconds=%.3f rate=%.0f\n", n, t, (double)n / t);
        sqlite3_stmt *all[] = { s.order,   s.position, s.fill,  s.order_upd,
                                s.pos_upd, s.pos_ins,  s.outbox };
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
                sqlite3_finalize(all[i]);
        sqlite3_close(db);
        return 0;
}

struct reader {
        const char *path;
        double seconds;
        long ops;
};

static void *
read_main(void *arg)
{
        struct reader *r = arg;
        sqlite3 *db = NULL;
        sqlite3_stmt *st;
        unsigned seed = (unsigned)(uintptr_t)r ^ (unsigned)getpid();
        double t0 = now_s();

        if (sqlite3_open_v2(r->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK)
                die(db, "open");
        /* The first reader to open the WAL rebuilds its index; the other
         * waits instead of failing with "database is locked". */
        sqlite3_busy_timeout(db, 5000);
        st = prep(db, "SELECT order_id, quote_id, symbol, side, type, quantity, price, status,"
                      " external_order_id, filled_quantity, avg_fill_price, created_at,"
                      " updated_at FROM orders WHERE order_id = ?1");
        while ((r->ops & 255) != 0 || now_s() - t0 < r->seconds) {
                char id[32];

                snprintf(id, sizeof(id), "bench-ord-%04d", (int)(rand_r(&seed) % norders));
                sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
                if (sqlite3_step(st) != SQLITE_ROW)
                        die(db, "read");
                for (int c = 0; c < 13; c++)
                        (void)sqlite3_column_text(st, c);
                sqlite3_reset(st);
                r->ops++;
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
        return NULL;
}

static int
reads_main(const char *path, int nthreads, double seconds)
{
        pthread_t tid[64];
        struct reader rd[64];
        long total = 0;
        double t0 = now_s(), t;

        if (nthreads < 1 || nthreads > 64)
                nthreads = 1;
        for (int i = 0; i < nthreads; i++) {
                rd[i] = (struct reader){ .path = path, .seconds = seconds };
                if (pthread_create(&tid[i], NULL, read_main, &rd[i]) != 0)
                        die(NULL, "pthread_create");
        }
        for (int i = 0; i < nthreads; i++) {
                pthread_join(tid[i], NULL);
                total += rd[i].ops;
        }
        t = now_s() - t0;
        printf("@@LIMIT ops=%ld seconds=%.3f rate=%.0f\n", total, t, (double)total / t);
        return 0;
}

int
main(int argc, char **argv)
{
        const char *e = getenv("BENCH_ORDERS");

        if (e != NULL && atoi(e) > 0)
                norders = (unsigned)atoi(e);
        if (argc == 6 && strcmp(argv[1], "fill") == 0)
                return fill_main(argv[2], atol(argv[3]), atof(argv[4]), argv[5]);
        if (argc == 5 && strcmp(argv[1], "read") == 0)
                return reads_main(argv[2], atoi(argv[3]), atof(argv[4]));
        fprintf(stderr, "usage: limit_sqlite fill DB PER_COMMIT SECONDS NORMAL|FULL\n"
                        "       limit_sqlite read DB THREADS SECONDS\n");
        return 2;
}
