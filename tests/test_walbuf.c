/* The WAL write buffer (db/walbuf.c): a transaction's frames reach the
 * WAL file, in few writes, before any other connection can see the
 * commit, whatever its size, and across WAL restarts. The other
 * connection here uses SQLite's own "unix" VFS, so it reads only what is
 * in the file. */
#include "db/db.h"
#include "db/walbuf.h"

#include "common/log.h"

#include <check.h>

#include "check_run.h"
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];
static char path[320];
static struct db_conn *w; /* the writer, through walbuf */
static sqlite3 *r;        /* a reader on the "unix" VFS */

static void
setup(void)
{
        struct db_options opt;

        log_set_level(LOG_ERROR);
        snprintf(dir, sizeof(dir), "/tmp/tradestore-walbuf-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/t.db", dir);
        db_options_default(&opt, path);
        w = db_conn_open(&opt, false);
        ck_assert_ptr_nonnull(w);
        ck_assert_int_eq(sqlite3_exec(db_handle(w),
                                      "CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB NOT NULL);",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        ck_assert_int_eq(sqlite3_open_v2(path, &r, SQLITE_OPEN_READONLY, "unix"), SQLITE_OK);
}

static void
teardown(void)
{
        char cmd[400];

        sqlite3_close(r);
        db_conn_close(w);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
}

static void
exec_w(const char *sql)
{
        char *err = NULL;

        ck_assert_msg(sqlite3_exec(db_handle(w), sql, NULL, NULL, &err) == SQLITE_OK, "%s: %s", sql,
                      err ? err : "");
}

/* The reader's view of row k: the length of v and a checksum of it, or -1. */
static long long
read_row(long long k, long long *ret_sum)
{
        sqlite3_stmt *st;
        long long len = -1;

        ck_assert_int_eq(sqlite3_prepare_v2(r,
                                            "SELECT length(v), sum(unicode(substr(v, 1, 1)) +"
                                            " unicode(substr(v, -1, 1))) FROM t WHERE k = ?1",
                                            -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_int64(st, 1, k);
        ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
        if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
                len = sqlite3_column_int64(st, 0);
                *ret_sum = sqlite3_column_int64(st, 1);
        }
        sqlite3_finalize(st);
        return len;
}

/* Each commit, small or spilling over many frames, is read back at once
 * by the other connection: its frames were in the file before the commit
 * was published. Every 100 commits the WAL is checkpointed whole, so the
 * next commit restarts it at its start (the WAL header's rewrite). */
START_TEST(every_commit_is_in_the_file_before_another_connection_sees_it)
{
        char sql[200];

        for (int i = 1; i <= 600; i++) {
                /* Text of i's digit repeated: its first and last characters say
                 * which row it is. 1 to 14 pages. */
                int len = 100 + (i % 7) * 9000;
                long long sum = 0;

                snprintf(sql, sizeof(sql),
                         "INSERT INTO t VALUES (%d, replace(hex(zeroblob(%d)), '00', '%d'))", i,
                         len / 2, i % 10);
                exec_w(sql);
                ck_assert_int_eq(read_row(i, &sum), len / 2);
                ck_assert_int_eq(sum, 2 * ('0' + i % 10));
                if (i % 100 == 0) {
                        int log = 0, done = 0;

                        ck_assert_int_eq(sqlite3_wal_checkpoint_v2(db_handle(w), NULL,
                                                                   SQLITE_CHECKPOINT_PASSIVE, &log,
                                                                   &done),
                                         SQLITE_OK);
                        ck_assert_int_eq(done, log);
                }
        }
        ck_assert_int_eq(sqlite3_exec(r, "PRAGMA integrity_check", NULL, NULL, NULL), SQLITE_OK);
}
END_TEST

/* A transaction of 40 MB (about 10,000 frames, far more than the buffer
 * holds) commits, and the other connection reads all of it. */
START_TEST(a_transaction_larger_than_the_buffer_commits_whole)
{
        long long sum = 0;
        sqlite3_stmt *st;

        exec_w("BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)"
               " INSERT INTO t SELECT i, randomblob(4000) FROM n; COMMIT;");
        ck_assert_int_eq(
                sqlite3_prepare_v2(r, "SELECT count(*), sum(length(v)) FROM t", -1, &st, NULL),
                SQLITE_OK);
        ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
        ck_assert_int_eq(sqlite3_column_int64(st, 0), 10000);
        ck_assert_int_eq(sqlite3_column_int64(st, 1), 40000000);
        sqlite3_finalize(st);
        ck_assert_int_eq(read_row(10000, &sum), 4000);
}
END_TEST

/* A transaction of 100 frames reaches the VFS below in a few writes (up
 * to 31 frames each), not two per frame as SQLite issues them. */
START_TEST(a_transactions_frames_are_written_together)
{
        unsigned long f0, w0, f1, w1;

        exec_w("INSERT INTO t VALUES (0, x'00')");
        walbuf_counts(&f0, &w0);
        exec_w("BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 97)"
               " INSERT INTO t SELECT i, randomblob(4000) FROM n; COMMIT;");
        walbuf_counts(&f1, &w1);
        fprintf(stderr, "walbuf: %lu frames in %lu writes\n", f1 - f0, w1 - w0);
        ck_assert_uint_ge(f1 - f0, 98);
        ck_assert_uint_le(w1 - w0, (f1 - f0) / 31 + 2);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("walbuf");
        TCase *tc = tcase_create("walbuf");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, every_commit_is_in_the_file_before_another_connection_sees_it);
        tcase_add_test(tc, a_transaction_larger_than_the_buffer_commits_whole);
        tcase_add_test(tc, a_transactions_frames_are_written_together);
        suite_add_tcase(s, tc);
        return check_run(s);
}
