/* Database facts for GET /health (see health.h). */
#include "repo/health.h"

#include "db/db.h"

#include <string.h>

/* The arguments of repo_health_get, for its db_read job below. */
struct get_read {
        struct health *ret;
};

static int
health_get(struct db_conn *c, void *arg)
{
        const struct get_read *a = arg;
        struct health *ret = a->ret;
        /* One statement: /health is polled often and must stay cheap. */
        static const char sql[] = "SELECT (SELECT journal_mode FROM pragma_journal_mode()),"
                                  " (SELECT foreign_keys FROM pragma_foreign_keys()),"
                                  " (SELECT page_count FROM pragma_page_count())"
                                  "   * (SELECT page_size FROM pragma_page_size()),"
                                  " (SELECT coalesce(max(version), 0) FROM schema_version),"
                                  " sqlite_version()";
        /* PostgreSQL always logs ahead and enforces foreign keys. */
        static const char sql_pg[] = "SELECT 'wal', 1, pg_database_size(current_database()),"
                                     " (SELECT coalesce(max(version), 0) FROM schema_version),"
                                     " current_setting('server_version')";
        struct db_stmt *st = db_stmt(c, db_sql(sql, sql_pg));
        enum repo_status s = REPO_ERROR;
        const char *mode;

        if (st == NULL)
                return REPO_ERROR;
        if (db_step(st) == DB_ROW) {
                mode = db_column_str(st, 0);
                *ret = (struct health){
                        .wal_mode = strcmp(mode, "wal") == 0,
                        .foreign_keys = db_column_int64(st, 1) == 1,
                        .size_bytes = db_column_int64(st, 2),
                        .schema_version = db_column_int64(st, 3),
                        .postgres = db_is_postgres(),
                };
                db_column_text(st, 4, ret->backend_version, sizeof(ret->backend_version));
                s = REPO_OK;
        } else {
                db_log_error(c, "health");
        }
        db_stmt_done(st);
        return s;
}

enum repo_status
repo_health_get(struct db *d, struct health *ret)
{
        struct get_read a = { ret };
        enum repo_status s = (enum repo_status)db_read(d, health_get, &a);
        if (s == REPO_OK) {
                db_reader_counts(d, &ret->pool_in_use, &ret->pool_size);
                ret->degraded = db_disk_full(d) ? DB_DISK_FULL_DETAIL : NULL;
        }
        return s;
}
