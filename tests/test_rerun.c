/* A batch is rerun (with a savepoint per job) when one of its jobs fails
 * after writing. The jobs that already ran then run a second time: they must
 * start from clean outputs, neither leaking nor keeping what the first run
 * produced. Under AddressSanitizer a leak fails this test. */
#include "common/log.h"
#include "db/db.h"
#include "db/migrate.h"
#include "repo/outbox.h"
#include "repo/repo.h"

#include <check.h>

#include "check_run.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];
static char path[128];
static struct db *d;

static void
setup(void)
{
        struct db_options o;
        struct db_conn *c;
        char err[512];
        int applied = 0;

        log_set_level(LOG_ERROR);
        snprintf(dir, sizeof(dir), "/tmp/tradestore-rerun-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/t.db", dir);
        db_options_default(&o, path);
        c = db_conn_open(&o, false);
        ck_assert_ptr_nonnull(c);
        ck_assert_int_eq(migrate_apply(db_handle(c), path, migrations_embedded,
                                       migrations_embedded_count, &applied, err, sizeof(err)),
                         0);
        db_conn_close(c);
        ck_assert_int_eq(db_open(&o, &d), 0);
}

static void
teardown(void)
{
        char cmd[160];

        db_close(d);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
}

/* Holds the writer until released, so that the next jobs form one batch. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool running, released;

static int
job_block(struct db_conn *c, void *arg)
{
        (void)c;
        (void)arg;
        pthread_mutex_lock(&mu);
        running = true;
        pthread_cond_broadcast(&cv);
        while (!released)
                pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
        return 0;
}

static int
job_add_events(struct db_conn *c, void *arg)
{
        (void)arg;
        for (int i = 0; i < 5; i++) {
                char agg[16];

                snprintf(agg, sizeof(agg), "agg-%d", i);
                if (repo_outbox_add(c, "t", agg, "{\"n\":1}", 1) != REPO_OK)
                        return REPO_ERROR;
        }
        return 0;
}

/* Writes, then refuses: the batch must be rolled back and rerun. */
static int
job_write_then_fail(struct db_conn *c, void *arg)
{
        (void)arg;
        if (repo_outbox_add(c, "t", "dirty", "{}", 1) != REPO_OK)
                return REPO_ERROR;
        return REPO_CONFLICT;
}

struct done_flag {
        int result;
        bool done;
};

static void
on_done(struct db_job *job, int result)
{
        struct done_flag *f = job->done_arg;

        pthread_mutex_lock(&mu);
        f->result = result;
        f->done = true;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
}

START_TEST(a_claim_rerun_with_its_batch_keeps_one_result_and_leaks_nothing)
{
        struct outbox_claim claim = { .consumer = "c1", .limit = 10, .lease_us = 30000000 };
        struct done_flag fb = { 0 }, fc = { 0 }, fd = { 0 };
        struct db_job block = { .fn = job_block, .done = on_done, .done_arg = &fb };
        struct db_job jclaim = {
                .fn = repo_outbox_claim_job, .arg = &claim, .done = on_done, .done_arg = &fc
        };
        struct db_job jdirty = { .fn = job_write_then_fail, .done = on_done, .done_arg = &fd };
        struct db_stats st;

        ck_assert_int_eq(db_write(d, job_add_events, NULL), 0);
        db_submit(d, &block);
        pthread_mutex_lock(&mu);
        while (!running)
                pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
        db_submit(d, &jclaim); /* these two wait behind block: one batch */
        db_submit(d, &jdirty);
        pthread_mutex_lock(&mu);
        released = true;
        pthread_cond_broadcast(&cv);
        while (!fc.done || !fd.done)
                pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);

        db_stats(d, &st);
        ck_assert_uint_ge(st.reruns, 1);
        ck_assert_int_eq(fc.result, REPO_OK);
        ck_assert_int_eq(fd.result, REPO_CONFLICT);
        ck_assert_uint_eq(claim.n, 5); /* one event per aggregate, claimed once */
        for (size_t i = 0; i < claim.n; i++)
                ck_assert_str_eq(claim.items[i].status, "processing");
        outbox_events_free(claim.items, claim.n);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("rerun");
        TCase *t = tcase_create("batch");

        tcase_add_checked_fixture(t, setup, teardown);
        tcase_add_test(t, a_claim_rerun_with_its_batch_keeps_one_result_and_leaks_nothing);
        suite_add_tcase(s, t);
        return check_run(s);
}
