/* The schema migration runner (see migrate.h).
 *
 * Statements here run once per process, so they are prepared with
 * sqlite3_prepare_v2 and finalized on the spot rather than cached. Errors go
 * back to the caller in err for an operator to read; the functions without an
 * err parameter log instead. */
#include "db/migrate.h"

#include <inttypes.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/log.h"
#include "common/sha256.h"
#include "db/backup.h"

/* "2026-11-26T16:00:00Z" and "20261126T160000Z" with their NUL. */
#define RFC3339_LEN 21
#define STAMP_LEN 17

static void set_err(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;

        if (err == NULL || errlen == 0)
                return;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
}

static int64_t
now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Formats the UTC second of us into out: "20261126T160000Z" when compact
 * (for file names), else "2026-11-26T16:00:00Z". */
static void
format_utc(int64_t us, bool compact, char *out, size_t outlen)
{
        time_t secs = (time_t)(us / 1000000);
        struct tm tm;
        size_t len = 0;

        if (us < 0 && us % 1000000 != 0)
                secs--;
        if (gmtime_r(&secs, &tm) != NULL)
                len = strftime(out, outlen, compact ? "%Y%m%dT%H%M%SZ" : "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (len == 0)
                snprintf(out, outlen, "?");
}

static const struct migration *
find_migration(const struct migration *m, size_t n, int version)
{
        for (size_t i = 0; i < n; i++) {
                if (m[i].version == version)
                        return &m[i];
        }
        return NULL;
}

/* Rejects an array the runner cannot reason about: a programmer error, but
 * cheap to catch before it touches a database. */
static int
check_array(const struct migration *m, size_t n, char *err, size_t errlen)
{
        for (size_t i = 0; i < n; i++) {
                if (m[i].name == NULL || m[i].sql == NULL || m[i].version < 1 ||
                    (i > 0 && m[i].version <= m[i - 1].version)) {
                        set_err(err, errlen,
                                "migration list is invalid at index %zu: versions"
                                " must be >= 1 and strictly ascending",
                                i);
                        return -1;
                }
        }
        return 0;
}

/* Sets *ret_row to whether sql (with ?1 bound to param, if it has a
 * parameter) returns a row. Returns an SQLite code. */
static int
has_row(sqlite3 *db, const char *sql, int param, bool *ret_row)
{
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

        if (rc == SQLITE_OK) {
                if (sqlite3_bind_parameter_count(st) > 0)
                        sqlite3_bind_int(st, 1, param);
                rc = sqlite3_step(st);
                if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
                        *ret_row = rc == SQLITE_ROW;
                        rc = SQLITE_OK;
                }
        }
        sqlite3_finalize(st);
        return rc;
}

/* Sets *ret_exists to whether schema_version exists. Returns an SQLite code. */
static int
version_table_exists(sqlite3 *db, bool *ret_exists)
{
        return has_row(db,
                       "SELECT 1 FROM sqlite_master"
                       " WHERE type = 'table' AND name = 'schema_version'",
                       0, ret_exists);
}

int
migrate_check_row(int version, const char *desc, const char *stored, const struct migration *m,
                  size_t n, size_t *j, char *err, size_t errlen)
{
        int latest = n > 0 ? m[n - 1].version : 0;
        char sum[SHA256_HEX_LEN + 1];

        if (version > latest) {
                set_err(err, errlen,
                        "database schema version %d is newer than this binary"
                        " knows (latest %d): run a newer tradestore",
                        version, latest);
                return -1;
        }
        if (*j == n || m[*j].version > version) {
                set_err(err, errlen,
                        "database has schema version %d (%s) that this binary"
                        " does not know: run the tradestore that applied it",
                        version, desc ? desc : "?");
                return -1;
        }
        if (m[*j].version < version) {
                set_err(err, errlen,
                        "migration %s is pending but the database is already at"
                        " version %d: migrations must be applied in order",
                        m[*j].name, version);
                return -1;
        }
        sha256_hex(m[*j].sql, strlen(m[*j].sql), sum);
        if (stored == NULL || strcmp(stored, sum) != 0) {
                set_err(err, errlen,
                        "migration %s was changed after it was applied (checksum"
                        " %s != %s recorded when applied): restore the original"
                        " file or the database from a backup",
                        m[*j].name, sum, stored ? stored : "?");
                return -1;
        }
        (*j)++;
        return 0;
}

int
migrate_check(sqlite3 *db, const struct migration *m, size_t n, char *err, size_t errlen)
{
        static const char sql[] = "SELECT version, description, checksum FROM schema_version"
                                  " ORDER BY version";
        sqlite3_stmt *st = NULL;
        bool exists = false;
        size_t j = 0;
        int rc;
        int ret = -1;

        if (check_array(m, n, err, errlen) != 0)
                return -1;
        rc = version_table_exists(db, &exists);
        if (rc != SQLITE_OK)
                goto out;
        if (!exists)
                return 0;
        rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                goto out;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                if (migrate_check_row(
                            sqlite3_column_int(st, 0), (const char *)sqlite3_column_text(st, 1),
                            (const char *)sqlite3_column_text(st, 2), m, n, &j, err, errlen) != 0)
                        goto out;
        }
        if (rc == SQLITE_DONE)
                ret = 0;
out:
        if (ret != 0 && rc != SQLITE_OK && rc != SQLITE_ROW)
                set_err(err, errlen, "cannot read schema_version: %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return ret;
}

/* Sets *ret_rows to whether table has a row. Returns an SQLite code. */
static int
table_has_rows(sqlite3 *db, const char *table, bool *ret_rows)
{
        char *sql = sqlite3_mprintf("SELECT 1 FROM \"%w\" LIMIT 1", table);
        int rc = sql != NULL ? has_row(db, sql, 0, ret_rows) : SQLITE_NOMEM;

        sqlite3_free(sql);
        return rc;
}

/* Sets *ret_data to whether a user table other than schema_version has a
 * row. Returns an SQLite code. */
static int
holds_user_rows(sqlite3 *db, bool *ret_data)
{
        static const char sql[] = "SELECT name FROM sqlite_master WHERE type = 'table'"
                                  " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
                                  " AND name <> 'schema_version'";
        sqlite3_stmt *st = NULL;
        bool rows = false;
        int step = SQLITE_DONE;
        int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

        while (rc == SQLITE_OK && !rows && (step = sqlite3_step(st)) == SQLITE_ROW)
                rc = table_has_rows(db, (const char *)sqlite3_column_text(st, 0), &rows);
        if (rc == SQLITE_OK && step != SQLITE_ROW && step != SQLITE_DONE)
                rc = step;
        if (rc == SQLITE_OK)
                *ret_data = rows;
        sqlite3_finalize(st);
        return rc;
}

/* Writes a consistent copy of the database beside db_path before migration
 * version is applied: VACUUM INTO a temporary name, then published whole
 * and durable under its own (db/backup.h). Returns 0 or -1 with err set. */
static int
backup(sqlite3 *db, const char *db_path, int version, char *err, size_t errlen)
{
        char stamp[STAMP_LEN];
        char *path = NULL, *tmp = NULL;
        sqlite3_stmt *st = NULL;
        int rc = SQLITE_NOMEM;
        bool ok;

        format_utc(now_us(), true, stamp, sizeof(stamp));
        path = sqlite3_mprintf("%s.pre-%03d-%s.bak", db_path, version, stamp);
        tmp = path ? sqlite3_mprintf("%s.part", path) : NULL;
        if (tmp != NULL)
                rc = sqlite3_prepare_v2(db, "VACUUM INTO ?", -1, &st, NULL);
        if (rc == SQLITE_OK) {
                sqlite3_bind_text(st, 1, tmp, -1, SQLITE_STATIC);
                rc = sqlite3_step(st);
        }
        ok = rc == SQLITE_DONE && backup_publish(tmp, path) == 0;
        if (ok)
                log_msg(LOG_INFO, "migration_backup", "wrote %s", path);
        else
                set_err(err, errlen, "cannot write the backup %s before migrating: %s",
                        path ? path : "?",
                        rc == SQLITE_DONE ? strerror(errno) : sqlite3_errmsg(db));
        sqlite3_finalize(st);
        if (!ok && tmp != NULL)
                unlink(tmp);
        sqlite3_free(tmp);
        sqlite3_free(path);
        return ok ? 0 : -1;
}

/* Writes the backup when the database holds anything worth keeping:
 * an applied version or a row in any table. */
static int
backup_if_data(sqlite3 *db, const char *db_path, int current, int version, char *err, size_t errlen)
{
        bool data = current > 0;

        if (db_path == NULL || db_path[0] == '\0' || strcmp(db_path, ":memory:") == 0)
                return 0;
        if (!data && holds_user_rows(db, &data) != SQLITE_OK) {
                set_err(err, errlen,
                        "cannot inspect the database before"
                        " migrating: %s",
                        sqlite3_errmsg(db));
                return -1;
        }
        return data ? backup(db, db_path, version, err, errlen) : 0;
}

/* Migrating another application's file in place would mix two schemas in
 * one file, so, as Flyway does, the runner writes nothing and asks an
 * operator. */
int
migrate_check_history(sqlite3 *db, char *err, size_t errlen)
{
        bool objects = false;
        int rc = has_row(db,
                         "SELECT 1 FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
                         " AND name <> 'schema_version'",
                         0, &objects);

        if (rc != SQLITE_OK) {
                set_err(err, errlen, "cannot inspect the database before migrating: %s",
                        sqlite3_errmsg(db));
                return -1;
        }
        if (!objects)
                return 0;
        set_err(err, errlen,
                "non-empty schema without schema history: the database has tables but no"
                " tradestore schema_version (another application's file?); it was left"
                " untouched: point database.path at a tradestore database or a new file");
        return -1;
}

static int
ensure_version_table(sqlite3 *db, char *err, size_t errlen)
{
        static const char sql[] = "CREATE TABLE IF NOT EXISTS schema_version ("
                                  " version INTEGER PRIMARY KEY,"
                                  " description TEXT NOT NULL,"
                                  " checksum TEXT NOT NULL,"
                                  " applied_at INTEGER NOT NULL)";

        if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
                return 0;
        set_err(err, errlen, "cannot create schema_version: %s", sqlite3_errmsg(db));
        return -1;
}

static int
record_version(sqlite3 *db, const struct migration *mig)
{
        static const char sql[] = "INSERT INTO schema_version (version, description, checksum,"
                                  " applied_at) VALUES (?1, ?2, ?3, ?4)";
        char sum[SHA256_HEX_LEN + 1];
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

        sha256_hex(mig->sql, strlen(mig->sql), sum);
        if (rc == SQLITE_OK) {
                sqlite3_bind_int(st, 1, mig->version);
                sqlite3_bind_text(st, 2, mig->name, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 3, sum, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 4, now_us());
                rc = sqlite3_step(st);
                rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        }
        sqlite3_finalize(st);
        return rc;
}

/* Runs mig's SQL and records it, inside the caller's transaction. Returns 0
 * or -1 with err set; the caller rolls back. */
static int
run_migration(sqlite3 *db, const struct migration *mig, char *err, size_t errlen)
{
        char *msg = NULL;

        if (sqlite3_exec(db, mig->sql, NULL, NULL, &msg) != SQLITE_OK) {
                set_err(err, errlen, "migration %s failed: %s", mig->name,
                        msg ? msg : sqlite3_errmsg(db));
                sqlite3_free(msg);
                return -1;
        }
        if (sqlite3_get_autocommit(db)) {
                set_err(err, errlen,
                        "migration %s ended the runner's transaction"
                        " itself: remove BEGIN/COMMIT/ROLLBACK from it",
                        mig->name);
                return -1;
        }
        if (record_version(db, mig) != SQLITE_OK) {
                set_err(err, errlen,
                        "migration %s: cannot record it in"
                        " schema_version: %s",
                        mig->name, sqlite3_errmsg(db));
                return -1;
        }
        return 0;
}

/* Applies mig in its own transaction unless another process did meanwhile.
 * Sets *ret_done to whether it was applied now. Returns 0 or -1 (err set,
 * rolled back). */
static int
apply_one(sqlite3 *db, const struct migration *mig, bool *ret_done, char *err, size_t errlen)
{
        int64_t start = now_us();
        bool present = false;

        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
                set_err(err, errlen, "migration %s: cannot begin: %s", mig->name,
                        sqlite3_errmsg(db));
                return -1;
        }
        if (has_row(db, "SELECT 1 FROM schema_version WHERE version = ?1", mig->version,
                    &present) != SQLITE_OK) {
                set_err(err, errlen,
                        "migration %s: cannot read schema_version:"
                        " %s",
                        mig->name, sqlite3_errmsg(db));
                goto rollback;
        }
        if (!present && run_migration(db, mig, err, errlen) != 0)
                goto rollback;
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
                set_err(err, errlen, "migration %s: commit failed: %s", mig->name,
                        sqlite3_errmsg(db));
                goto rollback;
        }
        if (!present)
                log_msg(LOG_INFO, "migration_applied",
                        "applied migration %s (version %d) in %" PRId64 " ms", mig->name,
                        mig->version, (now_us() - start) / 1000);
        *ret_done = !present;
        return 0;
rollback:
        if (!sqlite3_get_autocommit(db))
                sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
}

int
migrate_apply(sqlite3 *db, const char *db_path, const struct migration *m, size_t n,
              int *ret_applied, char *err, size_t errlen)
{
        int applied = 0;
        int current;
        size_t first = 0;

        if (migrate_check(db, m, n, err, errlen) != 0)
                return -1;
        current = migrate_current_version(db);
        if (current < 0) {
                set_err(err, errlen, "cannot read schema_version: %s", sqlite3_errmsg(db));
                return -1;
        }
        if (current == 0 && migrate_check_history(db, err, errlen) != 0)
                return -1;
        /* migrate_check refused gaps: what is pending is what lies above. */
        while (first < n && m[first].version <= current)
                first++;
        if (first < n && backup_if_data(db, db_path, current, m[first].version, err, errlen) != 0)
                return -1;
        if (ensure_version_table(db, err, errlen) != 0)
                return -1;
        for (size_t i = first; i < n; i++) {
                bool done = false;

                if (apply_one(db, &m[i], &done, err, errlen) != 0)
                        return -1;
                applied += done;
        }
        *ret_applied = applied;
        return 0;
}

/* Prints the status line of one embedded migration; st is the prepared
 * "SELECT applied_at, checksum ... WHERE version = ?1". */
void
migrate_print_line(FILE *out, const struct migration *mig, bool applied, int64_t applied_at,
                   const char *stored)
{
        char when[RFC3339_LEN];
        char sum[SHA256_HEX_LEN + 1];

        if (!applied) {
                fprintf(out, "%s  pending\n", mig->name);
                return;
        }
        format_utc(applied_at, false, when, sizeof(when));
        sha256_hex(mig->sql, strlen(mig->sql), sum);
        fprintf(out, "%s  applied %s%s\n", mig->name, when,
                stored && strcmp(stored, sum) == 0
                        ? ""
                        : "  CHANGED since it was applied (checksum differs)");
}

static int
print_known(sqlite3_stmt *st, const struct migration *mig, FILE *out)
{
        int rc;

        sqlite3_bind_int(st, 1, mig->version);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE || rc == SQLITE_ROW)
                migrate_print_line(out, mig, rc == SQLITE_ROW,
                                   rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0,
                                   rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 1)
                                                    : NULL);
        sqlite3_reset(st);
        return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

/* Prints the applied versions that m does not know. */
static int
print_unknown(sqlite3 *db, const struct migration *m, size_t n, FILE *out)
{
        static const char sql[] = "SELECT version, description, applied_at FROM schema_version"
                                  " ORDER BY version";
        char when[RFC3339_LEN];
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

        while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *desc = (const char *)sqlite3_column_text(st, 1);

                rc = SQLITE_OK;
                if (find_migration(m, n, sqlite3_column_int(st, 0)) != NULL)
                        continue;
                format_utc(sqlite3_column_int64(st, 2), false, when, sizeof(when));
                fprintf(out, "%s  applied %s  UNKNOWN to this binary (version %d)\n",
                        desc ? desc : "?", when, sqlite3_column_int(st, 0));
        }
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 0 : -1;
}

int
migrate_status(sqlite3 *db, const struct migration *m, size_t n, FILE *out)
{
        static const char sql[] =
                "SELECT applied_at, checksum FROM schema_version WHERE version = ?1";
        sqlite3_stmt *st = NULL;
        bool exists = false;
        int ret = -1;

        if (version_table_exists(db, &exists) != SQLITE_OK)
                goto out;
        if (!exists) {
                for (size_t i = 0; i < n; i++)
                        fprintf(out, "%s  pending\n", m[i].name);
                return 0;
        }
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
                goto out;
        for (size_t i = 0; i < n; i++) {
                if (print_known(st, &m[i], out) != 0)
                        goto out;
        }
        if (print_unknown(db, m, n, out) == 0)
                ret = 0;
out:
        if (ret != 0)
                log_msg(LOG_ERROR, "migration_status",
                        "cannot read"
                        " schema_version: %s",
                        sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return ret;
}

int
migrate_current_version(sqlite3 *db)
{
        static const char sql[] = "SELECT coalesce(max(version), 0) FROM schema_version";
        sqlite3_stmt *st = NULL;
        bool exists = false;
        int version = -1;

        if (version_table_exists(db, &exists) != SQLITE_OK)
                goto out;
        if (!exists)
                return 0;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
                version = sqlite3_column_int(st, 0);
out:
        if (version < 0)
                log_msg(LOG_ERROR, "migration_version",
                        "cannot read"
                        " schema_version: %s",
                        sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return version;
}
