/* The outbox table (see outbox.h). */
#include "repo/outbox.h"

#include "common/ids.h"
#include "db/db.h"

#include <sqlite3.h>

enum repo_status
repo_outbox_add(struct db_conn *c, const char *event_type, const char *aggregate_id,
                const char *payload_json, int64_t now_us)
{
        static const char sql[] =
                "INSERT INTO outbox (event_id, event_type, aggregate_id, payload, status,"
                " created_at) VALUES (?1, ?2, ?3, ?4, 'pending', ?5)";
        sqlite3_stmt *st = db_stmt(c, sql);
        char event_id[ID_UUID_BUFSZ];
        enum repo_status s = REPO_ERROR;

        if (st == NULL)
                return REPO_ERROR;
        id_uuidv7(event_id);
        sqlite3_bind_text(st, 1, event_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, event_type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, aggregate_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, payload_json, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, now_us);
        if (sqlite3_step(st) == SQLITE_DONE)
                s = REPO_OK;
        else
                db_log_error(c, "outbox add");
        db_stmt_done(st);
        return s;
}
