/* Tests of the SQLite database manager (db/db.c, db/sqlite.c): pragmas on every connection,
 * read-only readers, the single writer under concurrent load, group commit
 * with per-job savepoints, completion reported after COMMIT, the statement
 * cache, and a failed COMMIT.
 *
 * Each test gets a fresh database file in its own temp folder, migrated
 * with the real embedded migrations and opened with db_open. Jobs run on
 * the writer thread, so they never ck_assert: they record what they saw and
 * the test thread asserts. */
#include "db/db.h"

#include "common/log.h"
#include "common/ts.h"
#include "db/migrate.h"
#include "repo/repo.h"

#include <check.h>

#include "check_run.h"
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define WRITERS 8
#define WRITES_PER_THREAD 50

static char dir[256];
static char path[320];
static struct db_options opt;
static struct db *d;

/* Migrates a new database file at path with o's pragmas and opens it. */
static void
open_with(const struct db_options *o)
{
        char err[1024] = "";
        struct db_conn *c = db_conn_open(o, false);
        int applied = 0;

        ck_assert_ptr_nonnull(c);
        ck_assert_msg(migrate_apply(db_handle(c), path, migrations_embedded,
                                    migrations_embedded_count, &applied, err, sizeof(err)) == 0,
                      "%s", err);
        ck_assert_int_eq(applied, (int)migrations_embedded_count);
        db_conn_close(c);
        ck_assert_int_eq(db_open(o, &d), 0);
}

static void
remove_dir(void)
{
        char cmd[400];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
}

static void
make_dir(void)
{
        snprintf(dir, sizeof(dir), "/tmp/tradestore-dbtest-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/t.db", dir);
}

static void
setup(void)
{
        log_set_level(LOG_ERROR);
        make_dir();
        db_options_default(&opt, path);
        opt.pool_size = 3;
        open_with(&opt);
}

static void
teardown(void)
{
        db_close(d);
        d = NULL;
        remove_dir();
}

/* Rows of account_balances with this asset, seen by a new read-only
 * connection (so only what is committed); -1 on error. */
static int
count_fresh(const char *asset)
{
        sqlite3 *h = NULL;
        sqlite3_stmt *st = NULL;
        int n = -1;

        if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
            sqlite3_prepare_v2(h, "SELECT count(*) FROM account_balances WHERE asset = ?1", -1, &st,
                               NULL) == SQLITE_OK) {
                sqlite3_bind_text(st, 1, asset, -1, SQLITE_TRANSIENT);
                if (sqlite3_step(st) == SQLITE_ROW)
                        n = sqlite3_column_int(st, 0);
        }
        sqlite3_finalize(st);
        sqlite3_close(h);
        return n;
}

static long long
count_all(void)
{
        struct db_conn *c = db_reader_acquire(d);
        sqlite3_stmt *st = NULL;
        long long n = -1;

        ck_assert_int_eq(sqlite3_prepare_v2(db_handle(c), "SELECT count(*) FROM account_balances",
                                            -1, &st, NULL),
                         SQLITE_OK);
        if (sqlite3_step(st) == SQLITE_ROW)
                n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        db_reader_release(d, c);
        return n;
}

/* ---- jobs ---- */

struct insert_arg {
        char asset[40];
        int result; /* returned after a successful insert */
        /* job_insert_probe: what it saw of `probe` inside the transaction */
        const char *probe;
        int probe_in_txn;
        int probe_committed;
};

/* Inserts a balance row for a->asset, then returns a->result. A failed
 * step returns the negated db_step error (job results are >= 0). */
static int
job_insert(struct db_conn *c, void *arg)
{
        static const char sql[] =
                "INSERT INTO account_balances (asset, available, locked, total, updated_at)"
                " VALUES (?1, 1, 2, 3, 0)";
        struct insert_arg *a = arg;
        struct db_stmt *st = db_stmt(c, sql);
        int rc;

        if (st == NULL)
                return 1000;
        db_bind_text(st, 1, a->asset);
        rc = db_step(st);
        db_stmt_done(st);
        if (rc != DB_DONE)
                return -rc;
        return a->result;
}

/* job_insert, then looks for the row of a->probe on the writer (the open
 * transaction) and on a fresh connection (committed data only). */
static int
job_insert_probe(struct db_conn *c, void *arg)
{
        static const char sql[] = "SELECT count(*) FROM account_balances WHERE asset = ?1";
        struct insert_arg *a = arg;
        struct db_stmt *st;
        int r = job_insert(c, arg);

        st = db_stmt(c, sql);
        if (st == NULL)
                return 1000;
        db_bind_text(st, 1, a->probe);
        a->probe_in_txn = db_step(st) == DB_ROW ? (int)db_column_int64(st, 0) : -1;
        db_stmt_done(st);
        a->probe_committed = count_fresh(a->probe);
        return r;
}

/* A job that holds the writer until the test opens the gate. */
struct gate {
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool started;
        bool open;
};

static struct gate gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false };

static int
job_block(struct db_conn *c, void *arg)
{
        (void)c;
        (void)arg;
        pthread_mutex_lock(&gate.mu);
        gate.started = true;
        pthread_cond_broadcast(&gate.cv);
        while (!gate.open)
                pthread_cond_wait(&gate.cv, &gate.mu);
        pthread_mutex_unlock(&gate.mu);
        return 0;
}

/* An asynchronous job and what its done callback saw. */
struct tracked {
        struct db_job job;
        struct insert_arg arg;
        int result;
        bool done;
        int seen_in_done; /* the row, on a fresh connection, inside done */
};

static void
tracked_done(struct db_job *job, int result)
{
        struct tracked *t = job->done_arg;

        t->seen_in_done = t->arg.asset[0] ? count_fresh(t->arg.asset) : 0;
        pthread_mutex_lock(&gate.mu);
        t->result = result;
        t->done = true;
        pthread_cond_broadcast(&gate.cv);
        pthread_mutex_unlock(&gate.mu);
}

static void
track(struct tracked *t, db_job_fn fn, const char *asset, int result)
{
        memset(t, 0, sizeof(*t));
        snprintf(t->arg.asset, sizeof(t->arg.asset), "%s", asset);
        t->arg.result = result;
        t->job = (struct db_job){ .fn = fn, .arg = &t->arg, .done = tracked_done, .done_arg = t };
}

/* Submits the blocker and waits until the writer is inside it. */
static void
block_writer(struct tracked *blocker)
{
        gate.started = false;
        gate.open = false;
        track(blocker, job_block, "", 0);
        db_submit(d, &blocker->job);
        pthread_mutex_lock(&gate.mu);
        while (!gate.started)
                pthread_cond_wait(&gate.cv, &gate.mu);
        pthread_mutex_unlock(&gate.mu);
}

/* Opens the gate and waits for every job of ts to be reported. */
static void
release_and_wait(struct tracked *ts, size_t n)
{
        pthread_mutex_lock(&gate.mu);
        gate.open = true;
        pthread_cond_broadcast(&gate.cv);
        for (size_t i = 0; i < n; i++)
                while (!ts[i].done)
                        pthread_cond_wait(&gate.cv, &gate.mu);
        pthread_mutex_unlock(&gate.mu);
}

/* ---- pragmas ---- */

struct pragmas {
        char journal_mode[16];
        int foreign_keys, synchronous, cache_size, temp_store, read_only;
};

static int
pragma_int(sqlite3 *h, const char *sql)
{
        sqlite3_stmt *st = NULL;
        int v = -9999;

        if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
                v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        return v;
}

static void
read_pragmas(sqlite3 *h, struct pragmas *ret)
{
        sqlite3_stmt *st = NULL;

        memset(ret, 0, sizeof(*ret));
        if (sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
                snprintf(ret->journal_mode, sizeof(ret->journal_mode), "%s",
                         (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        ret->foreign_keys = pragma_int(h, "PRAGMA foreign_keys");
        ret->synchronous = pragma_int(h, "PRAGMA synchronous");
        ret->cache_size = pragma_int(h, "PRAGMA cache_size");
        ret->temp_store = pragma_int(h, "PRAGMA temp_store");
        ret->read_only = sqlite3_db_readonly(h, "main");
}

static int
job_pragmas(struct db_conn *c, void *arg)
{
        read_pragmas(db_handle(c), arg);
        return 0;
}

static void
assert_pragmas(const struct pragmas *p, int sync, int cache, int temp, int ro)
{
        ck_assert_str_eq(p->journal_mode, "wal");
        ck_assert_int_eq(p->foreign_keys, 1);
        ck_assert_int_eq(p->synchronous, sync);
        ck_assert_int_eq(p->cache_size, cache);
        ck_assert_int_eq(p->temp_store, temp);
        ck_assert_int_eq(p->read_only, ro);
}

START_TEST(pragmas_are_in_effect_on_the_writer_and_every_reader)
{
        static const struct {
                const char *synchronous;
                int sync;
                int cache_size;
                const char *temp_store;
                int temp;
        } cases[] = {
                { "normal", 1, 10000, "memory", 2 }, /* the defaults */
                { "full", 2, -4096, "file", 1 },
                { "off", 0, 50, "default", 0 },
                { "extra", 3, 777, "memory", 2 },
        };

        /* The fixture's database is replaced by one per configuration. */
        db_close(d);
        d = NULL;
        remove_dir();
        for (size_t i = 0; i < N(cases); i++) {
                struct db_conn *readers[3];
                struct pragmas p;

                make_dir();
                db_options_default(&opt, path);
                opt.pool_size = (int)N(readers);
                opt.synchronous = cases[i].synchronous;
                opt.cache_size = cases[i].cache_size;
                opt.temp_store = cases[i].temp_store;
                open_with(&opt);
                ck_assert_int_eq(db_write(d, job_pragmas, &p), 0);
                assert_pragmas(&p, cases[i].sync, cases[i].cache_size, cases[i].temp, 0);
                /* Holding them all at once makes each a different connection. */
                for (size_t j = 0; j < N(readers); j++)
                        readers[j] = db_reader_acquire(d);
                for (size_t j = 0; j < N(readers); j++) {
                        for (size_t k = 0; k < j; k++)
                                ck_assert_ptr_ne(readers[j], readers[k]);
                        read_pragmas(db_handle(readers[j]), &p);
                        assert_pragmas(&p, cases[i].sync, cases[i].cache_size, cases[i].temp, 1);
                }
                for (size_t j = 0; j < N(readers); j++)
                        db_reader_release(d, readers[j]);
                db_close(d);
                d = NULL;
                remove_dir();
        }
        /* Leave a database for the teardown. */
        make_dir();
        db_options_default(&opt, path);
        open_with(&opt);
}
END_TEST

struct unlocker {
        sqlite3 *h;
        int after_ms;
};

static void *
unlock_later(void *arg)
{
        struct unlocker *u = arg;

        usleep((useconds_t)u->after_ms * 1000);
        sqlite3_exec(u->h, "COMMIT", NULL, NULL, NULL);
        return NULL;
}

/* Steps "SELECT count(*)" on c; returns the step's code and the time it
 * took in *ret_ms. */
static int
timed_read(struct db_conn *c, int64_t *ret_ms)
{
        static const char sql[] = "SELECT count(*) FROM account_balances";
        struct db_stmt *st = db_stmt(c, sql);
        int64_t t0 = ts_monotonic_ms();
        int rc = st ? db_step(st) : DB_E_ERROR;

        *ret_ms = ts_monotonic_ms() - t0;
        db_stmt_done(st);
        return rc;
}

/* The busy timeout is a behaviour, not only a pragma (a custom busy handler
 * reads back as PRAGMA busy_timeout = 0): every connection waits about as
 * long as configured for a lock, then gives up. In WAL mode readers never
 * wait for a lock, so this database uses journal_mode=DELETE, where another
 * connection's EXCLUSIVE lock blocks readers and the writer alike. */
START_TEST(the_busy_timeout_is_in_effect_on_the_writer_and_every_reader)
{
        struct insert_arg a = { .asset = "W", .result = 0 };
        struct unlocker u = { .after_ms = 150 };
        struct db_conn *readers[3];
        pthread_t t;
        int64_t t0, ms;
        sqlite3 *lock = NULL;

        db_close(d);
        d = NULL;
        remove_dir();
        make_dir();
        db_options_default(&opt, path);
        opt.wal_mode = false;
        opt.pool_size = (int)N(readers);
        opt.busy_timeout_ms = 400;
        open_with(&opt);
        ck_assert_int_eq(sqlite3_open_v2(path, &lock, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        ck_assert_int_eq(sqlite3_exec(lock, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
        for (size_t j = 0; j < N(readers); j++)
                readers[j] = db_reader_acquire(d);
        for (size_t j = 0; j < N(readers); j++) {
                ck_assert_int_eq(timed_read(readers[j], &ms), DB_E_BUSY);
                ck_assert_msg(ms >= 350 && ms < 3000, "reader %zu gave up after %lld ms", j,
                              (long long)ms);
        }
        t0 = ts_monotonic_ms();
        ck_assert_int_eq(db_write(d, job_insert, &a), DB_UNAVAILABLE);
        ms = ts_monotonic_ms() - t0;
        ck_assert_msg(ms >= 350 && ms < 3000, "writer gave up after %lld ms", (long long)ms);
        /* A lock released within the timeout is waited for. */
        u.h = lock;
        ck_assert_int_eq(pthread_create(&t, NULL, unlock_later, &u), 0);
        ck_assert_int_eq(timed_read(readers[0], &ms), DB_ROW);
        ck_assert_int_ge(ms, 100);
        pthread_join(t, NULL);
        for (size_t j = 0; j < N(readers); j++)
                db_reader_release(d, readers[j]);
        ck_assert_int_eq(sqlite3_exec(lock, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
        u.after_ms = 150;
        ck_assert_int_eq(pthread_create(&t, NULL, unlock_later, &u), 0);
        t0 = ts_monotonic_ms();
        ck_assert_int_eq(db_write(d, job_insert, &a), 0);
        ck_assert_int_ge(ts_monotonic_ms() - t0, 100);
        pthread_join(t, NULL);
        sqlite3_close(lock);
        ck_assert_int_eq(count_fresh("W"), 1);
}
END_TEST

/* Writes about 1 MiB of rows in one job. */
static int
job_megabyte(struct db_conn *c, void *arg)
{
        static const char sql[] =
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)"
                " INSERT INTO account_balances (asset, available, locked, total, updated_at)"
                " SELECT hex(randomblob(500)), 1, 2, 3, 0 FROM n";
        struct db_stmt *st = db_stmt(c, sql);
        int rc;

        (void)arg;
        if (st == NULL)
                return 1000;
        rc = db_step(st);
        db_stmt_done(st);
        return rc == DB_DONE ? 0 : -rc;
}

static int64_t
four_mib_free(const char *p)
{
        (void)p;
        return 4LL << 20;
}

/* A 64 MB disk filled within 5 s of writes: the WAL waited for its timer or
 * 64 MiB. It is now bounded by the free space too. */
START_TEST(the_wal_is_checkpointed_before_it_takes_a_quarter_of_the_free_space)
{
        struct db_stats st;

        db_close(d);
        d = NULL;
        remove_dir();
        make_dir();
        db_options_default(&opt, path);
        opt.checkpoint_interval_s = 0; /* only the size bound may trigger it */
        opt.free_bytes = four_mib_free;
        open_with(&opt);
        for (int i = 0; i < 5; i++)
                ck_assert_int_eq(db_write(d, job_megabyte, NULL), 0);
        for (int waited = 0; waited < 5000; waited += 100) {
                db_stats(d, &st);
                if (st.wal_bytes < (1LL << 20))
                        break;
                usleep(100 * 1000);
        }
        db_stats(d, &st);
        ck_assert_msg(st.wal_bytes < (1LL << 20),
                      "WAL is %lld bytes with 4 MiB free; it must be checkpointed and truncated",
                      (long long)st.wal_bytes);
}
END_TEST

START_TEST(a_reader_cannot_write)
{
        static const char *const writes[] = {
                "INSERT INTO account_balances VALUES ('R', 1, 0, 1, 0)",
                "DELETE FROM account_balances",
                "CREATE TABLE t (x)",
                "UPDATE account_balances SET locked = 0",
        };
        struct db_conn *readers[3];

        for (size_t j = 0; j < N(readers); j++)
                readers[j] = db_reader_acquire(d);
        for (size_t j = 0; j < N(readers); j++) {
                for (size_t i = 0; i < N(writes); i++) {
                        int rc = sqlite3_exec(db_handle(readers[j]), writes[i], NULL, NULL, NULL);

                        ck_assert_msg((rc & 0xff) == SQLITE_READONLY, "%s: rc %d", writes[i], rc);
                }
        }
        for (size_t j = 0; j < N(readers); j++)
                db_reader_release(d, readers[j]);
        ck_assert_int_eq(count_all(), 0);
        ck_assert_int_eq(count_fresh("R"), 0);
}
END_TEST

/* ---- concurrent writers ---- */

struct writer_thread {
        int id;
        pthread_barrier_t *start;
        int failures;
        int last_failure;
};

static void *
writer_thread_main(void *arg)
{
        struct writer_thread *w = arg;

        pthread_barrier_wait(w->start);
        for (int i = 0; i < WRITES_PER_THREAD; i++) {
                struct insert_arg a = { .result = 0 };
                int r;

                snprintf(a.asset, sizeof(a.asset), "T%d-%d", w->id, i);
                r = db_write(d, job_insert, &a);
                if (r != 0) {
                        w->failures++;
                        w->last_failure = r;
                }
        }
        return NULL;
}

struct reader_thread {
        pthread_barrier_t *start;
        volatile bool *stop;
        int reads;
        int failures;
        int last_failure;
};

static void *
reader_thread_main(void *arg)
{
        static const char sql[] = "SELECT count(*) FROM account_balances";
        struct reader_thread *rt = arg;

        pthread_barrier_wait(rt->start);
        while (!*rt->stop) {
                struct db_conn *c = db_reader_acquire(d);
                struct db_stmt *st = db_stmt(c, sql);
                int rc = st ? db_step(st) : DB_E_ERROR;

                db_stmt_done(st);
                db_reader_release(d, c);
                rt->reads++;
                if (rc != DB_ROW) {
                        rt->failures++;
                        rt->last_failure = rc;
                }
        }
        return NULL;
}

START_TEST(eight_concurrent_writers_never_see_busy_and_all_rows_land)
{
        struct writer_thread w[WRITERS];
        struct reader_thread rd[2];
        pthread_t wt[WRITERS], rdt[2];
        pthread_barrier_t start;
        volatile bool stop = false;

        pthread_barrier_init(&start, NULL, WRITERS + 2);
        for (int i = 0; i < WRITERS; i++) {
                w[i] = (struct writer_thread){ .id = i, .start = &start };
                ck_assert_int_eq(pthread_create(&wt[i], NULL, writer_thread_main, &w[i]), 0);
        }
        for (size_t i = 0; i < N(rd); i++) {
                rd[i] = (struct reader_thread){ .start = &start, .stop = &stop };
                ck_assert_int_eq(pthread_create(&rdt[i], NULL, reader_thread_main, &rd[i]), 0);
        }
        for (int i = 0; i < WRITERS; i++)
                pthread_join(wt[i], NULL);
        stop = true;
        for (size_t i = 0; i < N(rd); i++)
                pthread_join(rdt[i], NULL);
        pthread_barrier_destroy(&start);
        for (int i = 0; i < WRITERS; i++)
                ck_assert_msg(w[i].failures == 0, "writer %d: %d failures, last result %d", i,
                              w[i].failures, w[i].last_failure);
        for (size_t i = 0; i < N(rd); i++) {
                ck_assert_msg(rd[i].failures == 0, "reader %zu: %d failures, last rc %d", i,
                              rd[i].failures, rd[i].last_failure);
                ck_assert_int_gt(rd[i].reads, 0);
        }
        ck_assert_int_eq(count_all(), WRITERS * WRITES_PER_THREAD);
        ck_assert_int_eq(count_fresh("T7-49"), 1);
}
END_TEST

/* ---- group commit ---- */

START_TEST(a_failing_job_rolls_back_alone_and_its_batch_commits)
{
        struct tracked blocker, t[4];

        block_writer(&blocker);
        track(&t[0], job_insert, "A", 0);
        track(&t[1], job_insert, "F", REPO_CONFLICT);
        track(&t[2], job_insert_probe, "B", 0);
        t[2].arg.probe = "A";
        track(&t[3], job_insert, "C", 0);
        for (size_t i = 0; i < N(t); i++)
                db_submit(d, &t[i].job);
        release_and_wait(t, N(t));
        ck_assert_int_eq(blocker.result, 0);
        ck_assert_int_eq(t[0].result, 0);
        ck_assert_int_eq(t[1].result, REPO_CONFLICT);
        ck_assert_int_eq(t[2].result, 0);
        ck_assert_int_eq(t[3].result, 0);
        /* B ran in A's transaction: it saw A's row, which was not yet
         * committed. So A, F, B and C were one batch. */
        ck_assert_int_eq(t[2].arg.probe_in_txn, 1);
        ck_assert_int_eq(t[2].arg.probe_committed, 0);
        ck_assert_int_eq(count_fresh("A"), 1);
        ck_assert_int_eq(count_fresh("F"), 0);
        ck_assert_int_eq(count_fresh("B"), 1);
        ck_assert_int_eq(count_fresh("C"), 1);
        ck_assert_int_eq(count_all(), 3);
}
END_TEST

START_TEST(a_failing_job_alone_in_its_batch_writes_nothing)
{
        struct insert_arg a = { .asset = "F", .result = REPO_INVALID };

        ck_assert_int_eq(db_write(d, job_insert, &a), REPO_INVALID);
        ck_assert_int_eq(count_fresh("F"), 0);
        a.result = 0;
        ck_assert_int_eq(db_write(d, job_insert, &a), 0);
        ck_assert_int_eq(count_fresh("F"), 1);
}
END_TEST

START_TEST(completion_is_reported_only_after_commit)
{
        struct tracked blocker, t[3];

        /* Alone in a batch, and as the first and last of a batch. */
        track(&t[0], job_insert, "SOLO", 0);
        db_submit(d, &t[0].job);
        pthread_mutex_lock(&gate.mu);
        while (!t[0].done)
                pthread_cond_wait(&gate.cv, &gate.mu);
        pthread_mutex_unlock(&gate.mu);
        block_writer(&blocker);
        track(&t[1], job_insert, "FIRST", 0);
        track(&t[2], job_insert, "LAST", 0);
        db_submit(d, &t[1].job);
        db_submit(d, &t[2].job);
        release_and_wait(&t[1], 2);
        for (size_t i = 0; i < N(t); i++) {
                ck_assert_int_eq(t[i].result, 0);
                ck_assert_msg(t[i].seen_in_done == 1, "%s not visible in done: %d", t[i].arg.asset,
                              t[i].seen_in_done);
        }
}
END_TEST

/* A job that breaks a deferred foreign key: its statements succeed, and
 * the batch's COMMIT fails. */
static int
job_deferred_fk_violation(struct db_conn *c, void *arg)
{
        (void)arg;
        if (sqlite3_exec(db_handle(c), "PRAGMA defer_foreign_keys = ON", NULL, NULL, NULL) != 0)
                return 1000;
        return sqlite3_exec(db_handle(c),
                            "INSERT INTO orders (order_id, quote_id, symbol, side, type, quantity,"
                            " created_at, updated_at) VALUES ('O1', 'no-such-quote', 'BTC', 'buy',"
                            " 'market', 1, 0, 0)",
                            NULL, NULL, NULL);
}

START_TEST(a_failed_commit_reports_commit_failed_to_every_job_of_the_batch)
{
        struct tracked blocker, t[3];
        struct insert_arg after = { .asset = "AFTER", .result = 0 };

        block_writer(&blocker);
        track(&t[0], job_insert, "G1", 0);
        track(&t[1], job_deferred_fk_violation, "", 0);
        track(&t[2], job_insert, "G2", 0);
        for (size_t i = 0; i < N(t); i++)
                db_submit(d, &t[i].job);
        release_and_wait(t, N(t));
        for (size_t i = 0; i < N(t); i++)
                ck_assert_int_eq(t[i].result, DB_COMMIT_FAILED);
        ck_assert_int_eq(count_fresh("G1"), 0);
        ck_assert_int_eq(count_fresh("G2"), 0);
        ck_assert_int_eq(count_all(), 0);
        /* The writer goes on. */
        ck_assert_int_eq(db_write(d, job_insert, &after), 0);
        ck_assert_int_eq(count_fresh("AFTER"), 1);
}
END_TEST

/* ---- statement cache ---- */

struct stmt_probe {
        struct db_stmt *a, *b, *other;
};

static const char sql_one[] = "SELECT 1";
static const char sql_one_again[] = "SELECT 1"; /* same text, another string */

static int
job_stmts(struct db_conn *c, void *arg)
{
        struct stmt_probe *p = arg;

        p->a = db_stmt(c, sql_one);
        db_stmt_done(p->a);
        p->b = db_stmt(c, sql_one);
        db_stmt_done(p->b);
        p->other = db_stmt(c, sql_one_again);
        db_stmt_done(p->other);
        return 0;
}

START_TEST(statements_are_prepared_once_per_connection_and_cached)
{
        static const char sql_bind[] = "SELECT ?1";
        struct stmt_probe w = { 0 }, w2 = { 0 };
        struct db_conn *c = db_reader_acquire(d);
        struct db_stmt *a = db_stmt(c, sql_one);
        struct db_stmt *b, *st;

        ck_assert_ptr_nonnull(a);
        db_stmt_done(a);
        b = db_stmt(c, sql_one);
        ck_assert_ptr_eq(a, b);
        ck_assert_ptr_ne(db_stmt(c, sql_one_again), a);
        /* db_stmt_done resets and unbinds: the statement is ready again. */
        st = db_stmt(c, sql_bind);
        db_bind_int64(st, 1, 42);
        ck_assert_int_eq(db_step(st), DB_ROW);
        ck_assert_int_eq(db_column_int64(st, 0), 42);
        db_stmt_done(st);
        ck_assert_int_eq(db_step(st), DB_ROW);
        ck_assert(db_column_null(st, 0));
        db_stmt_done(st);
        /* The writer's cache: same pointer across jobs, per connection. */
        db_reader_release(d, c);
        ck_assert_int_eq(db_write(d, job_stmts, &w), 0);
        ck_assert_int_eq(db_write(d, job_stmts, &w2), 0);
        ck_assert_ptr_nonnull(w.a);
        ck_assert_ptr_eq(w.a, w.b);
        ck_assert_ptr_eq(w.a, w2.a);
        ck_assert_ptr_ne(w.a, w.other);
        ck_assert_ptr_ne(w.a, a); /* each connection has its own */
}
END_TEST

/* A static SQL string per slot, more than the cache's first size. */
/* clang-format off */
#define S(n) static const char s##n[] = "SELECT " #n;
S(0) S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) S(9) S(10) S(11) S(12) S(13) S(14) S(15)
S(16) S(17) S(18) S(19) S(20) S(21) S(22) S(23) S(24) S(25) S(26) S(27) S(28) S(29) S(30)
S(31) S(32) S(33) S(34) S(35) S(36) S(37) S(38) S(39) S(40) S(41) S(42) S(43) S(44) S(45)
S(46) S(47) S(48) S(49)
#undef S

START_TEST(the_statement_cache_keeps_every_statement_as_it_grows)
/* clang-format on */
{
        static const char *const sqls[] = {
                s0,  s1,  s2,  s3,  s4,  s5,  s6,  s7,  s8,  s9,  s10, s11, s12, s13, s14, s15, s16,
                s17, s18, s19, s20, s21, s22, s23, s24, s25, s26, s27, s28, s29, s30, s31, s32, s33,
                s34, s35, s36, s37, s38, s39, s40, s41, s42, s43, s44, s45, s46, s47, s48, s49,
        };
        struct db_stmt *first[N(sqls)];
        struct db_conn *c = db_reader_acquire(d);

        for (size_t i = 0; i < N(sqls); i++) {
                first[i] = db_stmt(c, sqls[i]);
                ck_assert_ptr_nonnull(first[i]);
        }
        for (size_t i = 0; i < N(sqls); i++) {
                struct db_stmt *st = db_stmt(c, sqls[i]);

                ck_assert_ptr_eq(st, first[i]);
                ck_assert_int_eq(db_step(st), DB_ROW);
                ck_assert_int_eq(db_column_int64(st, 0), (int64_t)i);
                db_stmt_done(st);
        }
        db_reader_release(d, c);
}
END_TEST

START_TEST(a_statement_with_a_tail_is_refused)
{
        static const char two[] = "SELECT 1; SELECT 2";
        static const char trailing[] = "SELECT 1; ";
        struct db_conn *c = db_reader_acquire(d);

        ck_assert_ptr_null(db_stmt(c, two));
        ck_assert_ptr_nonnull(db_stmt(c, trailing));
        db_reader_release(d, c);
}
END_TEST

/* What /health reports as pool_in_use and pool_size: the readers lent out
 * and the pool's size (setup opens 3). */
START_TEST(reader_counts_say_how_many_are_lent_out)
{
        struct db_conn *a, *b;
        int busy = -1, total = -1;

        db_reader_counts(d, &busy, &total);
        ck_assert_int_eq(busy, 0);
        ck_assert_int_eq(total, 3);
        a = db_reader_acquire(d);
        b = db_reader_acquire(d);
        db_reader_counts(d, &busy, &total);
        ck_assert_int_eq(busy, 2);
        db_reader_release(d, a);
        db_reader_counts(d, &busy, &total);
        ck_assert_int_eq(busy, 1);
        db_reader_release(d, b);
        db_reader_counts(d, &busy, &total);
        ck_assert_int_eq(busy, 0);
        ck_assert_int_eq(total, 3);
}
END_TEST

static Suite *
db_suite(void)
{
        Suite *s = suite_create("db");
        TCase *tc = tcase_create("db");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, pragmas_are_in_effect_on_the_writer_and_every_reader);
        tcase_add_test(tc, the_busy_timeout_is_in_effect_on_the_writer_and_every_reader);
        tcase_add_test(tc, a_reader_cannot_write);
        tcase_add_test(tc, reader_counts_say_how_many_are_lent_out);
        tcase_add_test(tc, the_wal_is_checkpointed_before_it_takes_a_quarter_of_the_free_space);
        tcase_add_test(tc, eight_concurrent_writers_never_see_busy_and_all_rows_land);
        tcase_add_test(tc, a_failing_job_rolls_back_alone_and_its_batch_commits);
        tcase_add_test(tc, a_failing_job_alone_in_its_batch_writes_nothing);
        tcase_add_test(tc, completion_is_reported_only_after_commit);
        tcase_add_test(tc, a_failed_commit_reports_commit_failed_to_every_job_of_the_batch);
        tcase_add_test(tc, statements_are_prepared_once_per_connection_and_cached);
        tcase_add_test(tc, the_statement_cache_keeps_every_statement_as_it_grows);
        tcase_add_test(tc, a_statement_with_a_tail_is_refused);
        suite_add_tcase(s, tc);
        return s;
}

int
main(void)
{
        return check_run(db_suite());
}
