/* GET /health: is the database reachable and configured as it must be. */
#include "handlers/health.h"

#include "common/ts.h"
#include "repo/health.h"
#include "server/config.h"
#include "server/http.h"

#include <pthread.h>
#include <stdlib.h>

#ifndef TRADESTORE_VERSION
#define TRADESTORE_VERSION "dev"
#endif

struct health_cache {
        pthread_mutex_t mu;
        int64_t probed_at_us; /* 0: never */
        bool ok;
        struct health h;
};

struct health_cache *
health_cache_new(void)
{
        struct health_cache *hc = calloc(1, sizeof(*hc));

        if (hc != NULL)
                pthread_mutex_init(&hc->mu, NULL);
        return hc;
}

void
health_cache_free(struct health_cache *hc)
{
        if (hc == NULL)
                return;
        pthread_mutex_destroy(&hc->mu);
        free(hc);
}

/* The last probe when it is fresh, else a new one. Returns whether the
 * database answered; *ret filled when it did. */
static bool
probe(const struct app *app, struct health *ret)
{
        struct health_cache *hc = app->health;
        int64_t now = ts_now_us();
        struct db_conn *c;
        struct health h;
        bool ok;

        pthread_mutex_lock(&hc->mu);
        if (hc->probed_at_us != 0 && now - hc->probed_at_us < HEALTH_PROBE_US) {
                ok = hc->ok;
                *ret = hc->h;
                pthread_mutex_unlock(&hc->mu);
                return ok;
        }
        pthread_mutex_unlock(&hc->mu);
        c = db_reader_acquire(app->db);
        ok = repo_health_get(c, &h) == REPO_OK;
        db_reader_release(app->db, c);
        pthread_mutex_lock(&hc->mu);
        hc->probed_at_us = now;
        hc->ok = ok;
        if (ok)
                hc->h = h;
        pthread_mutex_unlock(&hc->mu);
        *ret = h;
        return ok;
}

void
handle_health(struct req *r)
{
        const struct app *app = req_app(r);
        struct health h;

        if (!probe(app, &h)) {
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
