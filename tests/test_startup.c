/* Start-up against a database file that cannot be served: the real
 * tradestore binary (argv[1]) runs "serve" as a child process over a damaged
 * or foreign file. Each case must end with exit code 1 and one clear line
 * that names the file (or the folder), never a crash, never a new empty
 * database in place of the named one, and the files exactly as they were
 * (bytes of the database, no -wal/-shm left behind that were not there).
 *
 * The read-only cases need the kernel's permission checks, which root skips:
 * when the test runs as root, the child drops to uid/gid 65534 (nobody)
 * before it execs the server, and the test folder is handed to that user. */
#include <check.h>

#include "check_run.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOBODY 65534
#define EXIT_WAIT_MS 15000

static const char *server_exe;
static char dir[256];
static char db_path[320];
static char out[16384]; /* the child's stdout and stderr */

static void
fixture_setup(void)
{
        const char *base = getenv("TMPDIR");

        snprintf(dir, sizeof(dir), "%s/test_startup.XXXXXX",
                 base != NULL && base[0] != '\0' ? base : "/tmp");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(db_path, sizeof(db_path), "%s/t.db", dir);
}

static void
fixture_teardown(void)
{
        char cmd[400];

        chmod(dir, 0700);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", dir);
}

static void
sleep_ms(long ms)
{
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
}

/* Whether the server's log says it is serving. */
static bool
started(const char *log_path)
{
        char buf[16384];
        int fd = open(log_path, O_RDONLY);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

        if (fd >= 0)
                close(fd);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        return strstr(buf, "\"event\":\"started\"") != NULL;
}

/* Starts the binary with argv (argv[0] ignored), its stdout and stderr
 * into log_path; as nobody when as_nobody and the test is root. */
static pid_t
spawn(const char *const *argv, bool as_nobody, const char *log_path)
{
        pid_t pid = fork();
        int fd;

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                /* execv's prototype predates const; it does not write argv. */
                union {
                        const char *const *c;
                        char *const *m;
                } a = { .c = argv };

                fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                if (fd < 0)
                        _exit(99);
                dup2(fd, 1);
                dup2(fd, 2);
                if (as_nobody && geteuid() == 0 &&
                    (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0))
                        _exit(98);
                execv(server_exe, a.m);
                _exit(97);
        }
        return pid;
}

/* Reads what the child wrote to log_path into out and removes the file. */
static void
collect(const char *log_path)
{
        int fd = open(log_path, O_RDONLY);
        ssize_t n = fd >= 0 ? read(fd, out, sizeof(out) - 1) : 0;

        out[n > 0 ? n : 0] = '\0';
        if (fd >= 0)
                close(fd);
        unlink(log_path);
}

static int
exit_code(int status)
{
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs "tradestore ARGS" (serve on an ephemeral port unless cmd says
 * otherwise) with stdout and stderr into out; as nobody when as_nobody and
 * the test is root. Returns the exit code, 128+signal when killed, or -1
 * when it started serving or still ran after EXIT_WAIT_MS (then it is
 * stopped with SIGTERM and *ret_term gets its exit status). */
static int
run_server(const char *cmd, bool as_nobody, int *ret_term)
{
        const char *argv[] = { "tradestore", cmd,      "--db", db_path, "--host",
                               "127.0.0.1",  "--port", "0",    NULL };
        char log_path[400];
        int status = 0;
        pid_t pid;

        snprintf(log_path, sizeof(log_path), "%s.out", dir);
        pid = spawn(argv, as_nobody, log_path);
        for (int waited = 0; waited < EXIT_WAIT_MS; waited += 20) {
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        collect(log_path);
                        return exit_code(status);
                }
                if (started(log_path))
                        break;
                sleep_ms(20);
        }
        kill(pid, SIGTERM);
        waitpid(pid, &status, 0);
        if (ret_term != NULL)
                *ret_term = exit_code(status);
        collect(log_path);
        return -1;
}

/* The whole file at path (caller frees), or NULL when it does not exist. */
static char *
slurp(const char *path, size_t *ret_len)
{
        FILE *f = fopen(path, "rb");
        char *buf;
        long len;

        if (f == NULL)
                return NULL;
        fseek(f, 0, SEEK_END);
        len = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = malloc((size_t)len + 1);
        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
        fclose(f);
        *ret_len = (size_t)len;
        return buf;
}

static bool
exists(const char *suffix)
{
        char p[400];
        struct stat sb;

        snprintf(p, sizeof(p), "%s%s", db_path, suffix);
        return stat(p, &sb) == 0;
}

static void
write_file(const char *path, const void *data, size_t len)
{
        FILE *f = fopen(path, "wb");

        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fwrite(data, 1, len, f), len);
        fclose(f);
}

static void
exec_sql(const char *path, const char *sql)
{
        sqlite3 *db = NULL;
        char *msg = NULL;

        ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
        ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s", msg);
        sqlite3_close(db);
}

/* A real tradestore database at db_path, migrated by the binary and
 * checkpointed into the main file (no -wal, no -shm). */
static void
make_tradestore_db(void)
{
        ck_assert_msg(run_server("migrate", false, NULL) == 0, "%s", out);
        exec_sql(db_path, "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;");
        ck_assert(!exists("-wal"));
}

/* Runs serve over the file as it is and checks the refusal: exit 1, a line
 * that contains want, the database bytes unchanged, no -wal/-shm that were
 * not there before. */
static void
expect_refusal(const char *want, bool as_nobody)
{
        size_t before_len = 0, after_len = 0;
        char *before = slurp(db_path, &before_len);
        bool wal = exists("-wal"), shm = exists("-shm");
        char *after;
        int rc = run_server("serve", as_nobody, NULL);

        ck_assert_msg(rc == 1, "exit %d, want 1; output:\n%s", rc, out);
        ck_assert_msg(strstr(out, want) != NULL, "output lacks '%s':\n%s", want, out);
        ck_assert_msg(strstr(out, "Sanitizer") == NULL, "%s", out);
        after = slurp(db_path, &after_len);
        ck_assert_msg(before != NULL && after != NULL, "the database file disappeared");
        ck_assert_msg(before_len == after_len && memcmp(before, after, before_len) == 0,
                      "the database file was changed (%zu -> %zu bytes)", before_len, after_len);
        ck_assert_msg(exists("-wal") == wal, "-wal left behind:\n%s", out);
        ck_assert_msg(exists("-shm") == shm, "-shm left behind:\n%s", out);
        free(before);
        free(after);
}

START_TEST(not_a_sqlite_file_is_refused)
{
        char text[4096];

        for (size_t i = 0; i < sizeof(text); i++)
                text[i] = (char)('a' + i % 26);
        write_file(db_path, text, sizeof(text));
        expect_refusal(db_path, false);
        ck_assert_msg(strstr(out, "not a SQLite database") != NULL, "%s", out);
}
END_TEST

START_TEST(truncated_file_is_refused_and_leaves_no_wal)
{
        static const int percents[] = { 10, 37, 50, 75, 99 };
        size_t len = 0;
        char *whole;

        make_tradestore_db();
        exec_sql(db_path, "CREATE TABLE IF NOT EXISTS pad_check (x); DROP TABLE pad_check;");
        whole = slurp(db_path, &len);
        ck_assert_ptr_nonnull(whole);
        for (size_t i = 0; i < sizeof(percents) / sizeof(percents[0]); i++) {
                size_t cut = len * (size_t)percents[i] / 100;

                write_file(db_path, whole, cut);
                expect_refusal("truncated", false);
                ck_assert_msg(strstr(out, db_path) != NULL, "%s", out);
        }
        free(whole);
}
END_TEST

START_TEST(database_of_another_application_is_refused)
{
        exec_sql(db_path, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);"
                          " INSERT INTO customers (name) VALUES ('ada');");
        expect_refusal("without schema history", false);
}
END_TEST

START_TEST(newer_schema_is_refused)
{
        make_tradestore_db();
        exec_sql(db_path, "INSERT INTO schema_version VALUES (999, '999_future', 'x', 0);");
        expect_refusal("newer than this binary", false);
        /* In WAL mode, as tradestore leaves it, too: reading it creates no
         * -wal or -shm. */
        exec_sql(db_path, "PRAGMA journal_mode=WAL;");
        ck_assert(!exists("-wal") && !exists("-shm"));
        expect_refusal("newer than this binary", false);
}
END_TEST

/* Hands the test folder to the user the child runs as. */
static void
give_to_child(void)
{
        char p[400];

        if (geteuid() != 0)
                return;
        ck_assert_int_eq(chown(dir, NOBODY, NOBODY), 0);
        ck_assert_int_eq(chown(db_path, NOBODY, NOBODY), 0);
        snprintf(p, sizeof(p), "%s-wal", db_path);
        (void)chown(p, NOBODY, NOBODY);
        snprintf(p, sizeof(p), "%s-shm", db_path);
        (void)chown(p, NOBODY, NOBODY);
}

START_TEST(read_only_file_is_refused_naming_the_permission)
{
        make_tradestore_db();
        give_to_child();
        ck_assert_int_eq(chmod(db_path, 0444), 0);
        expect_refusal(db_path, true);
        ck_assert_msg(strstr(out, "not writable") != NULL, "%s", out);
}
END_TEST

START_TEST(read_only_folder_is_refused_naming_the_folder)
{
        make_tradestore_db();
        give_to_child();
        ck_assert_int_eq(chmod(dir, 0555), 0);
        expect_refusal("not writable", true);
        ck_assert_msg(strstr(out, dir) != NULL, "%s", out);
        ck_assert_msg(strstr(out, "readonly database") == NULL, "%s", out);
}
END_TEST

/* A crash leaves -wal and -shm: they are recovered, not refused. */
START_TEST(stale_wal_and_shm_from_a_crash_are_recovered)
{
        char wal[400], shm[400];
        size_t wlen = 0, slen = 0;
        char *wbuf, *sbuf;
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        int term = -1;

        make_tradestore_db();
        exec_sql(db_path, "PRAGMA journal_mode=WAL;");
        /* A writer that dies with its WAL unmerged: copy the files while it
         * is open, as a crash would leave them. */
        ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
        ck_assert_int_eq(
                sqlite3_exec(db,
                             "PRAGMA wal_autocheckpoint=0;"
                             " INSERT INTO account_balances (asset, total, available, locked,"
                             " updated_at) VALUES ('CRASH', 100000000, 100000000, 0, 1);",
                             NULL, NULL, NULL),
                SQLITE_OK);
        snprintf(wal, sizeof(wal), "%s-wal", db_path);
        snprintf(shm, sizeof(shm), "%s-shm", db_path);
        wbuf = slurp(wal, &wlen);
        sbuf = slurp(shm, &slen);
        ck_assert_ptr_nonnull(wbuf);
        ck_assert_ptr_nonnull(sbuf);
        sqlite3_close(db); /* checkpoints and deletes the WAL ... */
        exec_sql(db_path, "DELETE FROM account_balances WHERE asset = 'CRASH';"
                          " PRAGMA wal_checkpoint(TRUNCATE);");
        write_file(wal, wbuf, wlen); /* ... so the crash's files come back */
        write_file(shm, sbuf, slen);
        free(wbuf);
        free(sbuf);
        ck_assert_int_eq(run_server("serve", false, &term), -1);
        ck_assert_msg(term == 0, "serve exited %d after SIGTERM:\n%s", term, out);
        ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
        ck_assert_int_eq(
                sqlite3_prepare_v2(db, "SELECT count(*) FROM account_balances WHERE asset='CRASH'",
                                   -1, &st, NULL),
                SQLITE_OK);
        ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
        ck_assert_int_eq(sqlite3_column_int(st, 0), 1);
        sqlite3_finalize(st);
        sqlite3_close(db);
}
END_TEST

START_TEST(zero_byte_file_is_initialised_and_says_so)
{
        int term = -1;

        write_file(db_path, "", 0);
        ck_assert_int_eq(run_server("serve", false, &term), -1);
        ck_assert_msg(term == 0, "serve exited %d after SIGTERM:\n%s", term, out);
        ck_assert_msg(strstr(out, "empty file") != NULL, "%s", out);
}
END_TEST

/* ---- the command line ---- */

/* Runs the binary with argv (argv[0] ignored) to its end, output into out.
 * Returns its exit code. */
static int
run_argv(const char *const *argv)
{
        char log_path[400];
        int status = 0;

        snprintf(log_path, sizeof(log_path), "%s.out", dir);
        waitpid(spawn(argv, false, log_path), &status, 0);
        collect(log_path);
        return exit_code(status);
}

/* parse_cli kept eight flags and dropped the rest without a word: here the
 * ninth and tenth (the last --port, and --host) were lost. */
START_TEST(every_flag_counts_and_a_repeated_one_keeps_its_last_value)
{
        const char *argv[] = { "tradestore", "config", "--port", "1",         "--port", "2",
                               "--port",     "3",      "--port", "4",         "--port", "5",
                               "--port",     "6",      "--port", "7",         "--port", "8",
                               "--port",     "9",      "--host", "127.0.0.2", NULL };
        int rc = run_argv(argv);

        ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
        ck_assert_msg(strstr(out, "\n  port: 9  # flag") != NULL, "%s", out);
        ck_assert_msg(strstr(out, "\n  host: 127.0.0.2  # flag") != NULL, "%s", out);
}
END_TEST

/* migrate --status opened the database with the built-in defaults, not the
 * configuration: with database.query_timeout 1 and the file locked by
 * another process, it waited the default 5 s instead of 1. */
START_TEST(migrate_status_uses_the_configured_database_options)
{
        const char *migrate[] = { "tradestore", "migrate", "--db", db_path, NULL };
        const char *status[] = { "tradestore", "migrate", "--status", "--db", db_path, NULL };
        sqlite3 *lock = NULL;
        struct timespec t0, t1;
        int rc;

        ck_assert_msg(run_argv(migrate) == 0, "%s", out);
        ck_assert_int_eq(sqlite3_open(db_path, &lock), SQLITE_OK);
        ck_assert_int_eq(sqlite3_exec(lock,
                                      "PRAGMA journal_mode=DELETE; BEGIN EXCLUSIVE;"
                                      " CREATE TABLE held (x);",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        setenv("DB_QUERY_TIMEOUT", "1", 1);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = run_argv(status);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        unsetenv("DB_QUERY_TIMEOUT");
        sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(lock);
        ck_assert_msg(rc != 0, "status read a database locked by another process:\n%s", out);
        ck_assert_msg(t1.tv_sec - t0.tv_sec < 4, "waited %ld s for the lock, not 1",
                      (long)(t1.tv_sec - t0.tv_sec));
}
END_TEST

/* ---- PostgreSQL (database.url): refusals before anything is served ---- */

static void
pg_env_teardown(void)
{
        unsetenv("DB_URL");
        unsetenv("DB_CONNECT_TIMEOUT");
        fixture_teardown();
}

START_TEST(unreachable_postgres_exits_1_after_connect_timeout_naming_why)
{
        time_t t0 = time(NULL);
        int rc;

        setenv("DB_URL", "postgresql://bot:s3cret@/book?host=/nonexistent-tradestore-pg", 1);
        setenv("DB_CONNECT_TIMEOUT", "1", 1);
        rc = run_server("serve", false, NULL);
        ck_assert_msg(rc == 1, "exit %d, want 1; output:\n%s", rc, out);
        ck_assert_int_le(time(NULL) - t0, 6);
        ck_assert_msg(strstr(out, "cannot connect to PostgreSQL") != NULL, "%s", out);
        ck_assert_msg(strstr(out, "nonexistent-tradestore-pg") != NULL, "no reason in:\n%s", out);
        ck_assert_msg(strstr(out, "s3cret") == NULL, "the password is in the output:\n%s", out);
        ck_assert_msg(!exists(""), "a SQLite file was made at %s", db_path);
}
END_TEST

START_TEST(malformed_database_url_exits_2_naming_the_key)
{
        int rc;

        setenv("DB_URL", "postgresql://bot:s3cret@db/book?no_such_option=1", 1);
        rc = run_server("serve", false, NULL);
        ck_assert_msg(rc == 2, "exit %d, want 2; output:\n%s", rc, out);
        ck_assert_msg(strstr(out, "database.url") != NULL, "%s", out);
        ck_assert_msg(strstr(out, "s3cret") == NULL, "the password is in the output:\n%s", out);
}
END_TEST

START_TEST(config_shows_the_url_with_its_password_masked)
{
        int rc;

        setenv("DB_URL", "postgresql://bot:s3cret@db.example:5432/book?sslmode=require", 1);
        rc = run_server("config", false, NULL);
        ck_assert_msg(rc == 0, "exit %d; output:\n%s", rc, out);
        ck_assert_msg(strstr(out, "postgresql://bot:****@db.example:5432/book?sslmode=require") !=
                              NULL,
                      "%s", out);
        ck_assert_msg(strstr(out, "s3cret") == NULL, "the password is in the output:\n%s", out);
}
END_TEST

static Suite *
startup_suite(void)
{
        Suite *s = suite_create("startup");
        TCase *tc = tcase_create("refusals");
        TCase *cli;
        TCase *pg;

        tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, not_a_sqlite_file_is_refused);
        tcase_add_test(tc, truncated_file_is_refused_and_leaves_no_wal);
        tcase_add_test(tc, database_of_another_application_is_refused);
        tcase_add_test(tc, newer_schema_is_refused);
        tcase_add_test(tc, read_only_file_is_refused_naming_the_permission);
        tcase_add_test(tc, read_only_folder_is_refused_naming_the_folder);
        tcase_add_test(tc, stale_wal_and_shm_from_a_crash_are_recovered);
        tcase_add_test(tc, zero_byte_file_is_initialised_and_says_so);
        suite_add_tcase(s, tc);
        cli = tcase_create("cli");
        tcase_add_checked_fixture(cli, fixture_setup, fixture_teardown);
        tcase_set_timeout(cli, 60);
        tcase_add_test(cli, every_flag_counts_and_a_repeated_one_keeps_its_last_value);
        tcase_add_test(cli, migrate_status_uses_the_configured_database_options);
        suite_add_tcase(s, cli);
        pg = tcase_create("postgres");
        tcase_add_checked_fixture(pg, fixture_setup, pg_env_teardown);
        tcase_set_timeout(pg, 60);
        tcase_add_test(pg, unreachable_postgres_exits_1_after_connect_timeout_naming_why);
        tcase_add_test(pg, malformed_database_url_exits_2_naming_the_key);
        tcase_add_test(pg, config_shows_the_url_with_its_password_masked);
        suite_add_tcase(s, pg);
        return s;
}

int
main(int argc, char **argv)
{

        if (argc < 2) {
                fprintf(stderr, "usage: test_startup PATH_TO_TRADESTORE\n");
                return 2;
        }
        server_exe = argv[1];
        return check_run(startup_suite());
}
