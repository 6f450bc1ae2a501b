/* Tests of the PostgreSQL backend (db/postgres.c) against a real server:
 * meson runs this under scripts/pgtest, which starts a throwaway cluster and
 * sets TRADESTORE_TEST_PG_URL. The text helpers (placeholder translation,
 * password masking) need no server.
 *
 * Jobs run on worker threads, so they never ck_assert: they record what
 * they saw and the test thread asserts. */
#include "db/postgres.h"

#include "common/log.h"
#include "db/migrate.h"

#include <check.h>

#include "check_run.h"
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define THREADS 8
#define INCREMENTS 40

static struct pg_db *d;

static const char *
url(void)
{
        const char *u = getenv("TRADESTORE_TEST_PG_URL");

        ck_assert_msg(u != NULL, "TRADESTORE_TEST_PG_URL is not set: run under scripts/pgtest");
        return u;
}

static void
exec_ok(const char *sql)
{
        char err[256] = "";
        struct pg_conn *c = pg_conn_open(url(), 5, err, sizeof(err));

        ck_assert_msg(c != NULL, "connect: %s", err);
        ck_assert_msg(pg_exec(c, sql, err, sizeof(err)) == 0, "%s: %s", sql, err);
        pg_conn_close(c);
}

static void
setup(void)
{
        struct pg_options o = { .url = url(),
                                .pool_size = 4,
                                .workers = 2,
                                .connect_timeout_s = 5,
                                .max_retries = 50 };
        char err[256] = "";

        exec_ok("DROP TABLE IF EXISTS child; DROP TABLE IF EXISTS t;"
                "CREATE TABLE t (id TEXT PRIMARY KEY COLLATE \"C\", n BIGINT, s TEXT,"
                " CHECK (n IS NULL OR n <> -13));"
                "CREATE TABLE child (id TEXT PRIMARY KEY REFERENCES t (id))");
        ck_assert_msg(pg_open(&o, &d, err, sizeof(err)) == 0, "pg_open: %s", err);
}

static void
teardown(void)
{
        pg_close(d);
        d = NULL;
}

/* ---- text helpers ---- */

START_TEST(placeholders_become_dollars_outside_quotes)
{
        static const char sql[] = "SELECT '?1', \"a?2\" FROM t WHERE a = ?1 AND b = ?12 OR c = '?'";
        char out[sizeof(sql)];

        pg_translate(sql, out);
        ck_assert_str_eq(out, "SELECT '?1', \"a?2\" FROM t WHERE a = $1 AND b = $12 OR c = '?'");
}
END_TEST

START_TEST(passwords_are_masked_in_every_form)
{
        char out[256];

        pg_mask_url("postgresql://bot:s3cret@db.example:5432/book?sslmode=require", out,
                    sizeof(out));
        ck_assert_str_eq(out, "postgresql://bot:****@db.example:5432/book?sslmode=require");
        pg_mask_url("postgresql://db/book?user=bot&password=s3cret&sslmode=require", out,
                    sizeof(out));
        ck_assert_str_eq(out, "postgresql://db/book?user=bot&password=****&sslmode=require");
        pg_mask_url("host=db user=bot password=s3cret dbname=book", out, sizeof(out));
        ck_assert_str_eq(out, "host=db user=bot password=**** dbname=book");
        pg_mask_url("postgresql://bot@db/book", out, sizeof(out));
        ck_assert_str_eq(out, "postgresql://bot@db/book");
}
END_TEST

START_TEST(an_unreachable_server_fails_after_the_timeout_with_the_reason)
{
        struct pg_options o = { .url = "postgresql:///x?host=/nonexistent-tradestore&user=u"
                                       "&password=s3cret",
                                .pool_size = 1,
                                .workers = 1,
                                .connect_timeout_s = 1 };
        struct pg_db *x = NULL;
        char err[256] = "";
        time_t t0 = time(NULL);

        ck_assert_int_eq(pg_open(&o, &x, err, sizeof(err)), -1);
        ck_assert_ptr_null(x);
        ck_assert_int_le(time(NULL) - t0, 4);
        ck_assert_msg(strstr(err, "nonexistent-tradestore") != NULL, "reason: %s", err);
        ck_assert_msg(strstr(err, "s3cret") == NULL, "a password in: %s", err);
        ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

/* ---- statements ---- */

struct seen {
        int rc[8];
        int64_t n[4];
        bool null;
        char s[64];
};

static int
round_trip_job(struct db_conn *dc, void *arg)
{
        static const char ins[] = "INSERT INTO t (id, n, s) VALUES (?1, ?2, ?3)";
        static const char sel[] = "SELECT n, s FROM t WHERE id = ?1";
        struct pg_conn *c = (struct pg_conn *)dc;
        struct seen *v = arg;
        const char *ids[] = { "max", "min", "null" };
        const int64_t ns[] = { INT64_MAX, INT64_MIN, 0 };
        struct pg_stmt *st;

        for (int i = 0; i < 3; i++) {
                st = pg_stmt(c, ins);
                pg_bind_text(st, 1, ids[i]);
                if (i < 2)
                        pg_bind_int64(st, 2, ns[i]);
                else
                        pg_bind_null(st, 2);
                pg_bind_text(st, 3, "€ 1.5");
                v->rc[i] = pg_step(st);
                pg_stmt_done(st);
        }
        for (int i = 0; i < 3; i++) {
                st = pg_stmt(c, sel);
                pg_bind_text(st, 1, ids[i]);
                v->rc[3 + i] = pg_step(st);
                v->n[i] = pg_column_int64(st, 0);
                if (i == 2)
                        v->null = pg_column_null(st, 0);
                snprintf(v->s, sizeof(v->s), "%s", pg_column_str(st, 1));
                pg_stmt_done(st);
        }
        return 0;
}

START_TEST(int64_extremes_null_and_text_round_trip_exactly)
{
        struct seen v = { 0 };

        ck_assert_int_eq(pg_write(d, round_trip_job, &v), 0);
        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(v.rc[i], DB_DONE);
        for (int i = 3; i < 6; i++)
                ck_assert_int_eq(v.rc[i], DB_ROW);
        ck_assert(v.n[0] == INT64_MAX);
        ck_assert(v.n[1] == INT64_MIN);
        ck_assert(v.null);
        ck_assert_str_eq(v.s, "€ 1.5");
}
END_TEST

/* repo/ binds by number and some statements skip one (SQLite allows it);
 * PostgreSQL cannot infer the type of a parameter it never sees. */
static int
gap_job(struct db_conn *dc, void *arg)
{
        static const char sql[] = "UPDATE t SET n = ?3 WHERE id = ?1";
        struct pg_stmt *st = pg_stmt((struct pg_conn *)dc, sql);
        struct seen *v = arg;

        if (st == NULL) {
                v->rc[0] = -1;
                return 1;
        }
        pg_bind_text(st, 1, "max");
        pg_bind_text(st, 2, "unused");
        pg_bind_int64(st, 3, 42);
        v->rc[0] = pg_step(st);
        v->n[0] = pg_changes((struct pg_conn *)dc);
        pg_stmt_done(st);
        return 0;
}

START_TEST(a_statement_that_skips_a_parameter_number_prepares)
{
        struct seen v = { 0 };

        exec_ok("INSERT INTO t (id, n) VALUES ('max', 1)");
        ck_assert_int_eq(pg_write(d, gap_job, &v), 0);
        ck_assert_int_eq(v.rc[0], DB_DONE);
        ck_assert_int_eq(v.n[0], 1);
}
END_TEST

/* SQLite lets a transaction go on after a failed INSERT (repo/ then reads
 * the stored row for an idempotent create); so must PostgreSQL. */
static int
duplicate_then_read_job(struct db_conn *dc, void *arg)
{
        static const char ins[] = "INSERT INTO t (id, n) VALUES (?1, ?2) RETURNING n";
        static const char sel[] = "SELECT n FROM t WHERE id = ?1";
        struct pg_conn *c = (struct pg_conn *)dc;
        struct seen *v = arg;
        struct pg_stmt *st;

        for (int i = 0; i < 2; i++) {
                st = pg_stmt(c, ins);
                pg_bind_text(st, 1, "a");
                pg_bind_int64(st, 2, 7 + i);
                v->rc[i] = pg_step(st);
                v->n[i] = v->rc[i] == DB_ROW ? pg_column_int64(st, 0) : -1;
                pg_stmt_done(st);
        }
        st = pg_stmt(c, sel);
        pg_bind_text(st, 1, "a");
        v->rc[2] = pg_step(st);
        v->n[2] = pg_column_int64(st, 0);
        pg_stmt_done(st);
        return 0;
}

START_TEST(a_duplicate_insert_is_unique_and_the_transaction_goes_on)
{
        struct seen v = { 0 };

        ck_assert_int_eq(pg_write(d, duplicate_then_read_job, &v), 0);
        ck_assert_int_eq(v.rc[0], DB_ROW);
        ck_assert_int_eq(v.n[0], 7);
        ck_assert_int_eq(v.rc[1], DB_E_UNIQUE);
        ck_assert_int_eq(v.rc[2], DB_ROW);
        ck_assert_int_eq(v.n[2], 7); /* the first insert committed, the second wrote nothing */
}
END_TEST

static int
check_fk_job(struct db_conn *dc, void *arg)
{
        static const char ins[] = "INSERT INTO t (id, n) VALUES ('c', -13)";
        static const char child[] = "INSERT INTO child (id) VALUES ('nope')";
        struct pg_conn *c = (struct pg_conn *)dc;
        struct seen *v = arg;
        struct pg_stmt *st = pg_stmt(c, v->s[0] == 'f' ? child : ins);

        v->rc[0] = pg_step(st);
        pg_stmt_done(st);
        return 1; /* refused: roll back */
}

START_TEST(constraint_failures_map_to_their_errors_and_roll_back)
{
        struct seen v = { 0 };

        ck_assert_int_eq(pg_write(d, check_fk_job, &v), 1);
        ck_assert_int_eq(v.rc[0], DB_E_CHECK);
        v.s[0] = 'f';
        ck_assert_int_eq(pg_write(d, check_fk_job, &v), 1);
        ck_assert_int_eq(v.rc[0], DB_E_FOREIGN_KEY);
}
END_TEST

/* ---- deferred writes (pipeline mode) ---- */

static int
read_n_of_d(struct db_conn *dc, void *arg)
{
        struct pg_stmt *st = pg_stmt((struct pg_conn *)dc, "SELECT n FROM t WHERE id = 'd'");

        *(int64_t *)arg = pg_step(st) == DB_ROW ? pg_column_int64(st, 0) : -1;
        pg_stmt_done(st);
        return 0;
}

static int
count_x(struct db_conn *dc, void *arg)
{
        struct pg_stmt *st = pg_stmt((struct pg_conn *)dc, "SELECT count(*) FROM t WHERE id = 'x'");

        *(int64_t *)arg = pg_step(st) == DB_ROW ? pg_column_int64(st, 0) : -1;
        pg_stmt_done(st);
        return 0;
}

static const char ins_deferred[] = "INSERT INTO t (id, n) VALUES (?1, ?2)";

/* v->n[3] counts the runs; v->rc[i] is what the i-th deferred step said. */
static int
deferred_then_read_job(struct db_conn *dc, void *arg)
{
        static const char upd[] = "UPDATE t SET n = n + 1 WHERE id = ?1";
        static const char sel[] = "SELECT n FROM t WHERE id = ?1";
        struct pg_conn *c = (struct pg_conn *)dc;
        struct seen *v = arg;
        struct pg_stmt *st;

        v->n[3]++;
        pg_read_committed(c);
        st = pg_stmt(c, ins_deferred);
        pg_bind_text(st, 1, "d");
        pg_bind_int64(st, 2, 5);
        v->rc[0] = pg_step_deferred(st);
        pg_stmt_done(st);
        st = pg_stmt(c, upd);
        pg_bind_text(st, 1, "d");
        v->rc[1] = pg_step_deferred(st);
        pg_stmt_done(st);
        st = pg_stmt(c, sel); /* waits: sent with the two writes before it */
        pg_bind_text(st, 1, "d");
        v->rc[2] = pg_step(st);
        v->n[0] = v->rc[2] == DB_ROW ? pg_column_int64(st, 0) : -1;
        pg_stmt_done(st);
        return 0;
}

START_TEST(deferred_writes_are_seen_by_the_next_statement_and_commit_with_the_job)
{
        struct seen v = { 0 };
        int64_t n = -1;

        ck_assert_int_eq(pg_write(d, deferred_then_read_job, &v), 0);
        ck_assert_int_eq(v.n[3], 1); /* one run */
        ck_assert_int_eq(v.rc[0], DB_DONE);
        ck_assert_int_eq(v.rc[1], DB_DONE);
        ck_assert_int_eq(v.rc[2], DB_ROW);
        ck_assert_int_eq(v.n[0], 6);
        ck_assert_int_eq(pg_read(d, read_n_of_d, &n), 0);
        ck_assert_int_eq(n, 6);
}
END_TEST

/* Inserts 'x' (n 1), then v->s (n from v->n[1]); the second may clash or
 * break a CHECK. Returns 1 (roll back) when the second step failed with
 * anything but DB_E_UNIQUE, as repo/ refuses. */
static int
deferred_clash_job(struct db_conn *dc, void *arg)
{
        struct pg_conn *c = (struct pg_conn *)dc;
        struct seen *v = arg;
        struct pg_stmt *st;

        v->n[3]++;
        st = pg_stmt(c, ins_deferred);
        pg_bind_text(st, 1, "x");
        pg_bind_int64(st, 2, 1);
        v->rc[0] = pg_step_deferred(st);
        pg_stmt_done(st);
        st = pg_stmt(c, ins_deferred);
        pg_bind_text(st, 1, v->s);
        pg_bind_int64(st, 2, v->n[1]);
        v->rc[1] = pg_step_deferred(st);
        pg_stmt_done(st);
        return v->rc[1] == DB_DONE || v->rc[1] == DB_E_UNIQUE ? 0 : 1;
}

START_TEST(a_failed_deferred_write_reruns_the_job_waiting_and_nothing_of_the_first_run_commits)
{
        struct seen v = { .n = { 0, 2 } };
        int64_t n = -1;

        exec_ok("INSERT INTO t (id, n) VALUES ('dup', 1)");
        strcpy(v.s, "dup");
        ck_assert_int_eq(pg_write(d, deferred_clash_job, &v), 0);
        ck_assert_int_eq(v.n[3], 2);            /* the clash aborted the first run */
        ck_assert_int_eq(v.rc[0], DB_DONE);     /* the rerun waited for each step */
        ck_assert_int_eq(v.rc[1], DB_E_UNIQUE); /* and saw the clash where repo/ looks */
        ck_assert_int_eq(pg_read(d, count_x, &n), 0);
        ck_assert_int_eq(n, 1); /* 'x' once: from the rerun */

        /* A CHECK failure: the rerun sees DB_E_CHECK and refuses; nothing stays. */
        exec_ok("DELETE FROM t WHERE id = 'x'");
        v = (struct seen){ .n = { 0, -13 } };
        strcpy(v.s, "neg");
        ck_assert_int_eq(pg_write(d, deferred_clash_job, &v), 1);
        ck_assert_int_eq(v.n[3], 2);
        ck_assert_int_eq(v.rc[1], DB_E_CHECK);
        ck_assert_int_eq(pg_read(d, count_x, &n), 0);
        ck_assert_int_eq(n, 0);
}
END_TEST

static int
no_statement_job(struct db_conn *dc, void *arg)
{
        (void)dc;
        (void)arg;
        return 0;
}

/* The start of the transaction the statement runs in, in microseconds. */
static int
transaction_start(struct db_conn *dc, void *arg)
{
        struct pg_stmt *st =
                pg_stmt((struct pg_conn *)dc,
                        "SELECT (extract(epoch FROM transaction_timestamp()) * 1000000)::bigint");

        *(int64_t *)arg = pg_step(st) == DB_ROW ? pg_column_int64(st, 0) : -1;
        pg_stmt_done(st);
        return 0;
}

/* A job's BEGIN waits for its first statement; a job that runs none must
 * not leave it waiting for the next user of the connection (a read would
 * then open a transaction that nobody ends). The pool lends the connection
 * just returned (last in, first out). */
START_TEST(a_job_without_statements_leaves_no_transaction_behind)
{
        int64_t first = -1, second = -1;

        ck_assert_int_eq(pg_write(d, no_statement_job, NULL), 0);
        ck_assert_int_eq(pg_read(d, transaction_start, &first), 0);
        nanosleep(&(struct timespec){ .tv_nsec = 20000000 }, NULL);
        ck_assert_int_eq(pg_read(d, transaction_start, &second), 0);
        ck_assert_int_gt(first, 0);
        ck_assert_int_gt(second, first); /* each read in its own transaction */
}
END_TEST

/* A deferred insert that clashes, then a statement this connection has never
 * prepared (its first prepare comes while the transaction is aborted). */
static int
clash_then_new_statement_job(struct db_conn *dc, void *arg)
{
        static const char fresh[] = "SELECT count(*) FROM t WHERE n = ?1";
        struct pg_conn *c = (struct pg_conn *)dc;
        struct seen *v = arg;
        struct pg_stmt *st = pg_stmt(c, ins_deferred);

        v->n[3]++;
        pg_bind_text(st, 1, "dup");
        pg_bind_int64(st, 2, 2);
        v->rc[0] = pg_step_deferred(st);
        pg_stmt_done(st);
        st = pg_stmt(c, fresh);
        if (st == NULL)
                return 1;
        pg_bind_int64(st, 1, 1);
        v->rc[1] = pg_step(st);
        v->n[0] = pg_column_int64(st, 0);
        pg_stmt_done(st);
        return v->rc[1] == DB_ROW ? 0 : 1;
}

/* The rerun is expected, not an error: no error line says a statement
 * failed to prepare because the transaction was aborted meanwhile. */
START_TEST(a_statement_first_prepared_after_a_failed_deferred_write_logs_no_error)
{
        char path[] = "/tmp/test_pg_log.XXXXXX";
        int fd = mkstemp(path);
        struct seen v = { 0 };
        char buf[8192] = "";
        FILE *f;

        ck_assert_int_ge(fd, 0);
        log_set_output(fd);
        exec_ok("INSERT INTO t (id, n) VALUES ('dup', 1)");
        ck_assert_int_eq(pg_write(d, clash_then_new_statement_job, &v), 0);
        ck_assert_int_eq(v.n[3], 2);
        ck_assert_int_eq(v.rc[0], DB_E_UNIQUE);
        ck_assert_int_eq(v.n[0], 1);
        ck_assert(log_flush(2000));
        f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
        fclose(f);
        unlink(path);
        ck_assert_msg(strstr(buf, "\"level\":\"error\"") == NULL, "logged: %s", buf);
}
END_TEST

/* ---- concurrency ---- */

/* Read, then write what was read plus one: the lost-update race. */
static int
increment_job(struct db_conn *dc, void *arg)
{
        static const char sel[] = "SELECT n FROM t WHERE id = 'counter'";
        static const char upd[] = "UPDATE t SET n = ?1 WHERE id = 'counter'";
        struct pg_conn *c = (struct pg_conn *)dc;
        struct pg_stmt *st = pg_stmt(c, sel);
        int64_t n;
        int rc;

        (void)arg;
        if (pg_step(st) != DB_ROW) {
                pg_stmt_done(st);
                return 0; /* a serialization failure: the runner reruns it */
        }
        n = pg_column_int64(st, 0);
        pg_stmt_done(st);
        st = pg_stmt(c, upd);
        pg_bind_int64(st, 1, n + 1);
        rc = pg_step(st);
        pg_stmt_done(st);
        return rc == DB_DONE || rc == DB_E_BUSY ? 0 : 1;
}

static void *
incrementer(void *arg)
{
        int *failures = arg;

        for (int i = 0; i < INCREMENTS; i++)
                if (pg_write(d, increment_job, NULL) != 0)
                        (*failures)++;
        return NULL;
}

static int
read_counter(struct db_conn *dc, void *arg)
{
        struct pg_stmt *st = pg_stmt((struct pg_conn *)dc, "SELECT n FROM t WHERE id = 'counter'");

        *(int64_t *)arg = pg_step(st) == DB_ROW ? pg_column_int64(st, 0) : -1;
        pg_stmt_done(st);
        return 0;
}

START_TEST(concurrent_read_modify_write_jobs_lose_no_update)
{
        pthread_t th[THREADS];
        int failures[THREADS] = { 0 };
        int64_t n = 0;
        struct db_stats st;

        exec_ok("INSERT INTO t (id, n) VALUES ('counter', 0)");
        for (int i = 0; i < THREADS; i++)
                pthread_create(&th[i], NULL, incrementer, &failures[i]);
        for (int i = 0; i < THREADS; i++)
                pthread_join(th[i], NULL);
        for (int i = 0; i < THREADS; i++)
                ck_assert_int_eq(failures[i], 0);
        pg_read(d, read_counter, &n);
        ck_assert_int_eq(n, THREADS * INCREMENTS);
        pg_stats(d, &st);
        ck_assert_uint_eq(st.jobs_committed, THREADS * INCREMENTS);
}
END_TEST

struct async {
        struct db_job job;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        int result;
        bool done;
};

static void
async_done(struct db_job *job, int result)
{
        struct async *a = job->done_arg;

        pthread_mutex_lock(&a->mu);
        a->result = result;
        a->done = true;
        pthread_cond_signal(&a->cv);
        pthread_mutex_unlock(&a->mu);
}

static int
insert_b_job(struct db_conn *dc, void *arg)
{
        struct pg_stmt *st = pg_stmt((struct pg_conn *)dc, "INSERT INTO t (id, n) VALUES ('b', 1)");
        int rc = pg_step(st);

        (void)arg;
        pg_stmt_done(st);
        return rc == DB_DONE ? 0 : 1;
}

static int
read_counter_max(struct db_conn *dc, void *arg)
{
        struct pg_stmt *st = pg_stmt((struct pg_conn *)dc, "SELECT n FROM t WHERE id = 'max'");

        *(int64_t *)arg = pg_step(st) == DB_ROW ? pg_column_int64(st, 0) : -1;
        pg_stmt_done(st);
        return 0;
}

static int
count_b(struct db_conn *dc, void *arg)
{
        struct pg_stmt *st = pg_stmt((struct pg_conn *)dc, "SELECT count(*) FROM t WHERE id = 'b'");

        *(int64_t *)arg = pg_step(st) == DB_ROW ? pg_column_int64(st, 0) : -1;
        pg_stmt_done(st);
        return 0;
}

START_TEST(a_submitted_job_is_reported_after_its_commit)
{
        struct async a = { .job = { .fn = insert_b_job, .done = async_done } };
        int64_t n = -1;

        a.job.done_arg = &a;
        pthread_mutex_init(&a.mu, NULL);
        pthread_cond_init(&a.cv, NULL);
        pg_submit(d, &a.job);
        pthread_mutex_lock(&a.mu);
        while (!a.done)
                pthread_cond_wait(&a.cv, &a.mu);
        pthread_mutex_unlock(&a.mu);
        ck_assert_int_eq(a.result, 0);
        pg_read(d, count_b, &n);
        ck_assert_int_eq(n, 1);
}
END_TEST

/* ---- the server goes away and comes back ---- */

static void
server_ctl(const char *what)
{
        const char *ctl = getenv("TRADESTORE_TEST_PG_CTL");
        char cmd[512];

        ck_assert_msg(ctl != NULL, "TRADESTORE_TEST_PG_CTL is not set: run under scripts/pgtest");
        snprintf(cmd, sizeof(cmd), "%s %s", ctl, what);
        ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
}

/* A restart of PostgreSQL (or a cut connection) fails the jobs that meet it
 * at once, with DB_UNAVAILABLE for a 503, and the pool reconnects by itself:
 * no restart of tradestore. */
START_TEST(jobs_fail_fast_while_the_server_is_down_and_work_again_after)
{
        struct seen v = { 0 };
        int rc = 0;
        int64_t n = -1;

        exec_ok("INSERT INTO t (id, n) VALUES ('max', 1)");
        ck_assert_int_eq(pg_write(d, gap_job, &v), 0);
        server_ctl("stop");
        for (int i = 0; i < 8; i++) { /* every pooled connection meets the cut */
                time_t t0 = time(NULL);

                rc = pg_write(d, gap_job, &v);
                ck_assert_int_le(time(NULL) - t0, 3);
                ck_assert_int_eq(rc, DB_UNAVAILABLE);
        }
        server_ctl("start");
        for (int i = 0; i < 50 && (rc = pg_write(d, gap_job, &v)) != 0; i++)
                nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
        ck_assert_int_eq(rc, 0);
        for (int i = 0; i < 8; i++) /* and every connection of the pool works again */
                ck_assert_int_eq(pg_write(d, gap_job, &v), 0);
        ck_assert_int_eq(pg_read(d, read_counter_max, &n), 0);
        ck_assert_int_eq(n, 42);
}
END_TEST

/* read_counter_max, and -1 when the statement does not even prepare. */
static int
read_max_or_fail(struct db_conn *dc, void *arg)
{
        struct pg_stmt *st = pg_stmt((struct pg_conn *)dc, "SELECT n FROM t WHERE id = 'max'");

        *(int64_t *)arg = st != NULL && pg_step(st) == DB_ROW ? pg_column_int64(st, 0) : -1;
        pg_stmt_done(st);
        return 0;
}

/* A write that met the server down leaves nothing on its connection that
 * fails the reads lent it once the server is back. */
START_TEST(reads_work_again_after_a_write_met_the_server_down)
{
        struct seen v = { 0 };
        int64_t n = -1;

        exec_ok("INSERT INTO t (id, n) VALUES ('max', 7)");
        server_ctl("stop");
        ck_assert_int_eq(pg_write(d, gap_job, &v), DB_UNAVAILABLE);
        server_ctl("start");
        for (int i = 0; i < 50 && n != 7; i++) {
                ck_assert_int_eq(pg_read(d, read_max_or_fail, &n), 0);
                if (n != 7)
                        nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
        }
        ck_assert_int_eq(n, 7);
}
END_TEST

/* ---- migrations ---- */

START_TEST(postgres_migrations_mirror_the_sqlite_ones)
{
        ck_assert_uint_eq(migrations_postgres_count, migrations_embedded_count);
        for (size_t i = 0; i < migrations_embedded_count; i++) {
                ck_assert_int_eq(migrations_postgres[i].version, migrations_embedded[i].version);
                ck_assert_str_eq(migrations_postgres[i].name, migrations_embedded[i].name);
        }
}
END_TEST

static void
reset_schema(void)
{
        exec_ok("DROP SCHEMA public CASCADE; CREATE SCHEMA public");
}

static int
migrate_once(int *ret_applied, char *err, size_t errlen)
{
        struct pg_conn *c = pg_conn_open(url(), 5, err, errlen);
        int rc;

        ck_assert_msg(c != NULL, "connect: %s", err);
        rc = pg_migrate(c, migrations_postgres, migrations_postgres_count, ret_applied, err,
                        errlen);
        pg_conn_close(c);
        return rc;
}

START_TEST(an_empty_database_is_migrated_once_and_then_left_alone)
{
        char err[512] = "";
        int applied = -1;

        reset_schema();
        ck_assert_msg(migrate_once(&applied, err, sizeof(err)) == 0, "%s", err);
        ck_assert_int_eq(applied, (int)migrations_postgres_count);
        exec_ok("INSERT INTO account_balances VALUES ('USDT', 1, 2, 3, 0)");
        ck_assert_msg(migrate_once(&applied, err, sizeof(err)) == 0, "%s", err);
        ck_assert_int_eq(applied, 0);
        exec_ok("UPDATE schema_version SET checksum = 'x' WHERE version = 1");
        ck_assert_int_eq(migrate_once(&applied, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, "was changed after it was applied") != NULL, "%s", err);
}
END_TEST

/* A database migrated by a newer tradestore is refused, untouched, as on
 * SQLite: an older binary must not serve a schema it does not know. */
START_TEST(a_database_newer_than_the_binary_is_refused)
{
        char err[512] = "";
        int applied = -1;

        reset_schema();
        ck_assert_msg(migrate_once(&applied, err, sizeof(err)) == 0, "%s", err);
        exec_ok("INSERT INTO schema_version VALUES (999, 'from the future', 'x', 0)");
        ck_assert_int_eq(migrate_once(&applied, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, "newer than this binary knows") != NULL, "%s", err);
        exec_ok("SELECT 1 FROM schema_version WHERE version = 999"); /* still there */
}
END_TEST

START_TEST(tables_without_history_are_refused_untouched)
{
        char err[512] = "";
        int applied = -1;

        reset_schema();
        exec_ok("CREATE TABLE customers (id int)");
        ck_assert_int_eq(migrate_once(&applied, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, "non-empty schema without schema history") != NULL, "%s", err);
        exec_ok("SELECT 1 FROM customers"); /* still there */
        ck_assert_int_eq(applied, -1);
}
END_TEST

struct racer {
        int applied;
        int rc;
        char err[256];
};

static void *
migrate_racer(void *arg)
{
        struct racer *r = arg;

        r->rc = migrate_once(&r->applied, r->err, sizeof(r->err));
        return NULL;
}

START_TEST(instances_starting_together_migrate_once)
{
        pthread_t th[3];
        struct racer r[3] = { 0 };
        int total = 0;

        reset_schema();
        for (int i = 0; i < 3; i++)
                pthread_create(&th[i], NULL, migrate_racer, &r[i]);
        for (int i = 0; i < 3; i++)
                pthread_join(th[i], NULL);
        for (int i = 0; i < 3; i++) {
                ck_assert_msg(r[i].rc == 0, "%s", r[i].err);
                total += r[i].applied;
        }
        ck_assert_int_eq(total, (int)migrations_postgres_count);
}
END_TEST

static Suite *
pg_suite(void)
{
        Suite *s = suite_create("postgres");
        TCase *text = tcase_create("text");
        TCase *server = tcase_create("server");
        TCase *migrate = tcase_create("migrate");

        tcase_add_test(text, placeholders_become_dollars_outside_quotes);
        tcase_add_test(text, passwords_are_masked_in_every_form);
        tcase_add_test(text, an_unreachable_server_fails_after_the_timeout_with_the_reason);
        suite_add_tcase(s, text);
        tcase_add_checked_fixture(server, setup, teardown);
        tcase_set_timeout(server, 60);
        tcase_add_test(server, int64_extremes_null_and_text_round_trip_exactly);
        tcase_add_test(server, a_duplicate_insert_is_unique_and_the_transaction_goes_on);
        tcase_add_test(server, a_statement_that_skips_a_parameter_number_prepares);
        tcase_add_test(server, constraint_failures_map_to_their_errors_and_roll_back);
        tcase_add_test(server, a_job_without_statements_leaves_no_transaction_behind);
        tcase_add_test(server,
                       a_statement_first_prepared_after_a_failed_deferred_write_logs_no_error);
        tcase_add_test(server,
                       deferred_writes_are_seen_by_the_next_statement_and_commit_with_the_job);
        tcase_add_test(
                server,
                a_failed_deferred_write_reruns_the_job_waiting_and_nothing_of_the_first_run_commits);
        tcase_add_test(server, concurrent_read_modify_write_jobs_lose_no_update);
        tcase_add_test(server, a_submitted_job_is_reported_after_its_commit);
        tcase_add_test(server, jobs_fail_fast_while_the_server_is_down_and_work_again_after);
        tcase_add_test(server, reads_work_again_after_a_write_met_the_server_down);
        suite_add_tcase(s, server);
        tcase_add_test(migrate, postgres_migrations_mirror_the_sqlite_ones);
        tcase_add_test(migrate, an_empty_database_is_migrated_once_and_then_left_alone);
        tcase_add_test(migrate, tables_without_history_are_refused_untouched);
        tcase_add_test(migrate, a_database_newer_than_the_binary_is_refused);
        tcase_add_test(migrate, instances_starting_together_migrate_once);
        tcase_set_timeout(migrate, 60);
        suite_add_tcase(s, migrate);
        return s;
}

int
main(void)
{
        return check_run(pg_suite());
}
