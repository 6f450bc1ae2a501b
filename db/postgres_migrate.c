/* The schema migration runner for PostgreSQL (see postgres.h): the same
 * schema_version table and the same rules as db/migrate.c (a changed or
 * unknown applied migration, a newer database, or tables without history are
 * refused), with the migrations of migrations/postgres/.
 *
 * Several instances may start at the same moment on one empty database: the
 * runner holds a session advisory lock for the whole run, so one of them
 * migrates and the others then find nothing pending. Each migration commits
 * with its schema_version row in one transaction (PostgreSQL's DDL is
 * transactional). */
#include "db/postgres.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/sha256.h"
#include "db/migrate.h"

/* pg_advisory_lock's key: "tradestore migrate" in a bigint, any fixed value
 * other applications are unlikely to take. */
#define MIGRATE_LOCK_KEY "7415201148270511923"

static int fail(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        if (errlen > 0)
                vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return -1;
}

static int
exec_or_fail(struct pg_conn *c, const char *sql, const char *what, char *err, size_t errlen)
{
        char msg[256];

        if (pg_exec(c, sql, msg, sizeof(msg)) == 0)
                return 0;
        return fail(err, errlen, "%s: %s", what, msg);
}

/* Tables of ours or anyone's in the current schema, other than
 * schema_version; *ret_applied the rows of schema_version checked against m. */
static int
check_database(struct pg_conn *c, const struct migration *m, size_t n, size_t *ret_applied,
               char *err, size_t errlen)
{
        static const char sql_rows[] = "SELECT version, description, checksum"
                                       " FROM schema_version ORDER BY version";
        static const char sql_tables[] =
                "SELECT count(*) FROM pg_catalog.pg_tables"
                " WHERE schemaname = current_schema() AND tablename <> 'schema_version'";
        struct pg_stmt *st = pg_stmt(c, sql_rows);
        size_t j = 0;
        int rc;

        if (st == NULL)
                return fail(err, errlen, "cannot read schema_version (see the log)");
        while ((rc = pg_step(st)) == DB_ROW) {
                if (migrate_check_row((int)pg_column_int64(st, 0), pg_column_str(st, 1),
                                      pg_column_str(st, 2), m, n, &j, err, errlen) != 0) {
                        pg_stmt_done(st);
                        return -1;
                }
        }
        pg_stmt_done(st);
        if (rc != DB_DONE)
                return fail(err, errlen, "cannot read schema_version (see the log)");
        *ret_applied = j;
        if (j > 0)
                return 0;
        st = pg_stmt(c, sql_tables);
        rc = st != NULL ? pg_step(st) : DB_E_ERROR;
        if (rc == DB_ROW && pg_column_int64(st, 0) > 0)
                rc = fail(err, errlen,
                          "non-empty schema without schema history: the database has tables"
                          " but no tradestore schema_version (another application's?); it was"
                          " left untouched: point database.url at a tradestore database or an"
                          " empty one");
        else
                rc = rc == DB_ROW ? 0 : fail(err, errlen, "cannot list the tables (see the log)");
        pg_stmt_done(st);
        return rc;
}

static int
apply_one(struct pg_conn *c, const struct migration *mig, char *err, size_t errlen)
{
        static const char sql_record[] = "INSERT INTO schema_version (version, description,"
                                         " checksum, applied_at) VALUES (?1, ?2, ?3, ?4)";
        char sum[SHA256_HEX_LEN + 1];
        char msg[256];
        struct timespec now;
        struct pg_stmt *st;
        int rc;

        if (exec_or_fail(c, "BEGIN", "begin", err, errlen) != 0)
                return -1;
        if (pg_exec(c, mig->sql, msg, sizeof(msg)) != 0) {
                pg_exec(c, "ROLLBACK", NULL, 0);
                return fail(err, errlen, "migration %s failed: %s", mig->name, msg);
        }
        sha256_hex(mig->sql, strlen(mig->sql), sum);
        clock_gettime(CLOCK_REALTIME, &now);
        st = pg_stmt(c, sql_record);
        if (st == NULL) {
                pg_exec(c, "ROLLBACK", NULL, 0);
                return fail(err, errlen, "cannot record migration %s (see the log)", mig->name);
        }
        pg_bind_int64(st, 1, mig->version);
        pg_bind_text(st, 2, mig->name);
        pg_bind_text(st, 3, sum);
        pg_bind_int64(st, 4, (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000);
        rc = pg_step(st);
        pg_stmt_done(st);
        if (rc != DB_DONE || exec_or_fail(c, "COMMIT", "commit", err, errlen) != 0) {
                pg_exec(c, "ROLLBACK", NULL, 0);
                return fail(err, errlen, "cannot record migration %s (see the log)", mig->name);
        }
        log_msg(LOG_INFO, "migration_applied", "applied migration %s", mig->name);
        return 0;
}

int
pg_migrate(struct pg_conn *c, const struct migration *m, size_t n, int *ret_applied, char *err,
           size_t errlen)
{
        size_t done = 0;
        int rc = 0;

        if (exec_or_fail(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", "migration lock", err,
                         errlen) != 0)
                return -1;
        if (exec_or_fail(c,
                         "CREATE TABLE IF NOT EXISTS schema_version ("
                         " version BIGINT PRIMARY KEY, description TEXT NOT NULL,"
                         " checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
                         "cannot create schema_version", err, errlen) != 0 ||
            check_database(c, m, n, &done, err, errlen) != 0) {
                rc = -1;
        }
        for (size_t i = done; rc == 0 && i < n; i++)
                rc = apply_one(c, &m[i], err, errlen);
        if (rc == 0)
                *ret_applied = (int)(n - done);
        pg_exec(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", NULL, 0);
        return rc;
}

int
pg_migrate_status(struct pg_conn *c, const struct migration *m, size_t n, FILE *out)
{
        static const char sql[] = "SELECT applied_at, checksum FROM schema_version"
                                  " WHERE version = ?1";
        char err[256];

        if (pg_exec(c,
                    "CREATE TABLE IF NOT EXISTS schema_version ("
                    " version BIGINT PRIMARY KEY, description TEXT NOT NULL,"
                    " checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
                    err, sizeof(err)) != 0) {
                log_msg(LOG_ERROR, "migration_status", "cannot read schema_version: %s", err);
                return -1;
        }
        for (size_t i = 0; i < n; i++) {
                struct pg_stmt *st = pg_stmt(c, sql);
                int rc;

                if (st == NULL)
                        return -1;
                pg_bind_int64(st, 1, m[i].version);
                rc = pg_step(st);
                if (rc == DB_ROW || rc == DB_DONE)
                        migrate_print_line(out, &m[i], rc == DB_ROW, pg_column_int64(st, 0),
                                           rc == DB_ROW ? pg_column_str(st, 1) : NULL);
                pg_stmt_done(st);
                if (rc != DB_ROW && rc != DB_DONE)
                        return -1;
        }
        return 0;
}
