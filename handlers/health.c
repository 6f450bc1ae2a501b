/* GET /health: is the database reachable and configured as it must be. */
#include "handlers/health.h"

#include "repo/health.h"
#include "server/config.h"
#include "server/http.h"

#ifndef TRADESTORE_VERSION
#define TRADESTORE_VERSION "dev"
#endif

void
handle_health(struct req *r)
{
        const struct app *app = req_app(r);
        struct db_conn *c = db_reader_acquire(app->db);
        struct health h;
        enum repo_status s = repo_health_get(c, &h);

        db_reader_release(app->db, c);
        if (s != REPO_OK) {
                reply_json(r, 503, json_pack("{s:s, s:b, s:s}", "status", "unavailable",
                                             "connected", 0, "version", TRADESTORE_VERSION));
                return;
        }
        reply_json(r, 200,
                   json_pack("{s:s, s:b, s:b, s:b, s:i, s:f, s:i, s:s}", "status", "ok",
                             "connected", 1, "wal_mode", h.wal_mode, "foreign_keys",
                             h.foreign_keys, "pool_size", app->cfg->database.connection_pool_size,
                             "size_mb", (double)h.size_bytes / (1024.0 * 1024.0),
                             "schema_version", h.schema_version, "version",
                             TRADESTORE_VERSION));
}
