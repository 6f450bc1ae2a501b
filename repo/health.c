/* Database facts for GET /health (see health.h). */
#include "repo/health.h"

#include "db/db.h"

#include <sqlite3.h>
#include <string.h>

static int
query_int(struct db_conn *c, const char *sql, int64_t *ret)
{
        sqlite3_stmt *st = db_stmt(c, sql);
        int rc = -1;

        if (st == NULL)
                return -1;
        if (sqlite3_step(st) == SQLITE_ROW) {
                *ret = sqlite3_column_int64(st, 0);
                rc = 0;
        } else {
                db_log_error(c, sql);
        }
        db_stmt_done(st);
        return rc;
}

enum repo_status
repo_health_get(struct db_conn *c, struct health *ret)
{
        static const char sql_mode[] = "PRAGMA journal_mode";
        static const char sql_fk[] = "PRAGMA foreign_keys";
        static const char sql_size[] =
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()";
        static const char sql_version[] = "SELECT coalesce(max(version), 0) FROM schema_version";
        sqlite3_stmt *st = db_stmt(c, sql_mode);
        struct health h = { 0 };
        int64_t v;

        if (st == NULL)
                return REPO_ERROR;
        if (sqlite3_step(st) != SQLITE_ROW) {
                db_log_error(c, "health journal_mode");
                db_stmt_done(st);
                return REPO_ERROR;
        }
        h.wal_mode = strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
        db_stmt_done(st);
        if (query_int(c, sql_fk, &v) != 0)
                return REPO_ERROR;
        h.foreign_keys = v == 1;
        if (query_int(c, sql_size, &h.size_bytes) != 0)
                return REPO_ERROR;
        if (query_int(c, sql_version, &v) != 0)
                return REPO_ERROR;
        h.schema_version = (int)v;
        *ret = h;
        return REPO_OK;
}
