/* The WAL under continuous writing: checkpoints keep up with the single
 * writer, so the WAL restarts and its file stays bounded (it was reused
 * never, and grew by 200 MB/s under W1 to gigabytes, evicting the page
 * cache and zeroing new blocks on the writer's path). */
#include "db/db.h"

#include "common/log.h"
#include "db/migrate.h"
#include "repo/repo.h"

#include <check.h>

#include "check_run.h"
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CHECKPOINT_BYTES (256 * 1024)
#define CLIENTS 8

static char dir[256];
static char path[320];
static struct db *d;
static atomic_bool stop;
static atomic_long written;

/* A write that dirties pages spread over the file, as fills of random
 * orders do: a new row in a table with a random-keyed index. */
static int
job(struct db_conn *c, void *arg)
{
        unsigned *seed = arg;
        char sql[200];

        snprintf(sql, sizeof(sql), "INSERT INTO t(k, v) VALUES (%u, randomblob(200))",
                 rand_r(seed));
        return sqlite3_exec(db_handle(c), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : 1;
}

static void *
client(void *arg)
{
        unsigned seed = (unsigned)(uintptr_t)arg;

        while (!atomic_load(&stop))
                if (db_write(d, job, &seed) == 0)
                        atomic_fetch_add(&written, 1);
        return NULL;
}

static long long
file_size(const char *suffix)
{
        char p[400];
        struct stat sb;

        snprintf(p, sizeof(p), "%s%s", path, suffix);
        return stat(p, &sb) == 0 ? (long long)sb.st_size : 0;
}

START_TEST(continuous_writes_keep_the_wal_bounded)
{
        struct db_options opt;
        struct db_conn *c;
        pthread_t t[CLIENTS];
        long long most = 0;
        char err[512] = "";
        int applied = 0;
        struct timespec tick = { .tv_nsec = 50 * 1000 * 1000 };
        struct db_stats st;

        log_set_level(LOG_ERROR);
        snprintf(dir, sizeof(dir), "/tmp/tradestore-waltest-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/t.db", dir);
        db_options_default(&opt, path);
        opt.wal_checkpoint_bytes = CHECKPOINT_BYTES;
        c = db_conn_open(&opt, false);
        ck_assert_ptr_nonnull(c);
        ck_assert_int_eq(migrate_apply(db_handle(c), path, migrations_embedded,
                                       migrations_embedded_count, &applied, err, sizeof(err)),
                         0);
        ck_assert_int_eq(
                sqlite3_exec(db_handle(c),
                             "CREATE TABLE t(k INTEGER, v BLOB); CREATE INDEX t_k ON t(k);", NULL,
                             NULL, NULL),
                SQLITE_OK);
        db_conn_close(c);
        ck_assert_int_eq(db_open(&opt, &d), 0);
        for (int i = 0; i < CLIENTS; i++)
                ck_assert_int_eq(pthread_create(&t[i], NULL, client, (void *)(uintptr_t)(i + 1)),
                                 0);
        /* Writes until the database holds 160 times the threshold, for
         * 60 s at most: hundreds of WAL restarts (the WAL restarts each
         * time 16 times the threshold of frames is written). */
        for (int i = 0; i < 1200 && file_size("") <= 160LL * CHECKPOINT_BYTES; i++) {
                long long w = file_size("-wal");

                if (w > most)
                        most = w;
                nanosleep(&tick, NULL);
        }
        atomic_store(&stop, true);
        for (int i = 0; i < CLIENTS; i++)
                pthread_join(t[i], NULL);
        db_stats(d, &st);
        db_close(d);
        fprintf(stderr,
                "wal: %ld writes, %lld KiB of data, WAL file at most %lld KiB; the writer"
                " copied the rest %lu times (%lu frames, %lu us; %lu after a wait)\n",
                atomic_load(&written), file_size("") / 1024, most / 1024, st.wal_copies,
                st.wal_copy_frames, st.wal_copy_us, st.wal_waits);
        /* The writer's share of the restarts is counted for /metrics
         * (each restart takes one copy of the rest by the writer; here
         * about 250 of them, tens of frames each). */
        ck_assert_uint_ge(st.wal_copies, 10);
        ck_assert_uint_gt(st.wal_copy_frames, 0);
        ck_assert_uint_gt(st.wal_copy_us, 0);
        ck_assert_uint_le(st.wal_waits, st.wal_copies);
        /* Enough was written to need many restarts of the WAL... */
        ck_assert_int_gt(file_size(""), 160LL * CHECKPOINT_BYTES);
        /* ...and the WAL restarted again and again: it stayed within
         * where the writer waits for the checkpointer (20 x the threshold)
         * and one batch (8 of these jobs: tens of KiB). Without the
         * writer's part in checkpoints it grew past 600 MiB here; with the
         * writer giving up whenever the checkpointer was at a pass, even
         * past 20 x, it reached 22-24 x (6 MiB) in most runs. */
        ck_assert_msg(most <= 20LL * CHECKPOINT_BYTES + 256 * 1024, "the WAL grew to %lld KiB",
                      most / 1024);
        {
                char cmd[400];

                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
                ck_assert_int_eq(system(cmd), 0);
        }
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("wal");
        TCase *tc = tcase_create("wal");

        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, continuous_writes_keep_the_wal_bounded);
        suite_add_tcase(s, tc);
        return check_run(s);
}
