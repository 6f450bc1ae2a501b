/* GET /health: is the database reachable and configured as it must be.
 *
 * The database is probed at most once per HEALTH_PROBE_US and the answer
 * (status and body text) is kept: every request in between copies it. The
 * age of that answer is a duration, so it is measured on CLOCK_MONOTONIC: on
 * the wall clock, a step back (ntp) of an hour kept an hour-old answer. */
#include "handlers/health.h"

#include "common/dec.h"
#include "common/jsonw.h"
#include "common/ts.h"
#include "repo/health.h"
#include "server/config.h"
#include "server/http.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef TRADESTORE_VERSION
#define TRADESTORE_VERSION "dev"
#endif

#define BODY_MAX 512

struct health_cache {
        pthread_mutex_t mu;
        bool probed;
        int64_t probed_at_us; /* CLOCK_MONOTONIC */
        unsigned status;
        size_t len;
        char body[BODY_MAX];
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

/* Writes the body for a probe's result; returns the status. reason, when
 * not NULL, is why the database serves reads but not writes ("degraded"). */
static unsigned
write_body(struct jw *w, bool ok, const struct health *h)
{
        const char *reason = ok ? h->degraded : NULL;
        char mb[DEC_BUFSZ];

        jw_obj(w);
        jw_kstr(w, "status", !ok ? "unavailable" : reason != NULL ? "degraded" : "ok");
        if (ok && reason != NULL)
                jw_kstr(w, "reason", reason);
        jw_kbool(w, "connected", ok);
        if (ok) {
                jw_kstr(w, "backend", h->postgres ? "postgresql" : "sqlite");
                jw_kstr(w, "backend_version", h->backend_version);
                if (!h->postgres) /* PostgreSQL always logs ahead */
                        jw_kbool(w, "wal_mode", h->wal_mode);
                jw_kbool(w, "foreign_keys", h->foreign_keys);
                jw_kint(w, "pool_size", h->pool_size);
                jw_kint(w, "pool_in_use", h->pool_in_use);
                /* MiB as an exact decimal: 1e8 / 2^20 = 390625 / 4096. */
                dec_format(h->size_bytes * 390625 / 4096, mb);
                jw_key(w, "size_mb");
                jw_raw(w, mb);
                jw_kint(w, "schema_version", h->schema_version);
        }
        jw_kstr(w, "version", TRADESTORE_VERSION);
        jw_end(w);
        return ok ? 200 : 503;
}

/* Probes the database and stores the answer in hc. */
static void
probe(const struct app *app, struct health_cache *hc, int64_t now)
{
        struct health h = { 0 };
        bool ok = repo_health_get(app->db, &h) == REPO_OK;
        struct jw w;
        unsigned status;
        size_t len = 0;
        char *text;

        jw_init(&w);
        status = write_body(&w, ok, &h);
        text = jw_take(&w, &len);
        pthread_mutex_lock(&hc->mu);
        hc->probed = true;
        hc->probed_at_us = now;
        hc->status = text && len < BODY_MAX ? status : 503;
        hc->len = text && len < BODY_MAX ? len : 0;
        if (hc->len > 0)
                memcpy(hc->body, text, len);
        pthread_mutex_unlock(&hc->mu);
        free(text);
}

void
handle_health(struct req *r)
{
        const struct app *app = req_app(r);
        struct health_cache *hc = app->health;
        int64_t now = ts_monotonic_us();
        unsigned status;
        size_t len;
        char *body;

        pthread_mutex_lock(&hc->mu);
        if (!hc->probed || now - hc->probed_at_us >= HEALTH_PROBE_US) {
                pthread_mutex_unlock(&hc->mu);
                probe(app, hc, now);
                pthread_mutex_lock(&hc->mu);
        }
        status = hc->status;
        len = hc->len;
        body = len > 0 ? malloc(len) : NULL;
        if (body != NULL)
                memcpy(body, hc->body, len);
        pthread_mutex_unlock(&hc->mu);
        if (body == NULL) {
                reply_problem(r, 503, "the health probe could not be written", NULL);
                return;
        }
        reply_text(r, status, "application/json", body, len);
}
