/* Start-up and shutdown of the whole service, in reverse order (service.h). */
#include "server/service.h"

#include "common/log.h"
#include "common/ts.h"
#include "db/backup.h"
#include "db/db.h"
#include "db/migrate.h"
#include "db/postgres.h"
#include "db/storage.h"
#include "handlers/health.h"
#include "server/config.h"
#include "server/http.h"
#include "server/maintenance.h"
#include "server/metrics.h"
#include "server/routes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct service {
        struct app app;
        struct http_server *http;
        struct maintenance *maint;
};

void
service_db_options(const struct config *cfg, struct db_options *ret)
{
        db_options_default(ret, cfg->database.path);
        ret->url = cfg->database.url;
        ret->connect_timeout_s = cfg->database.connect_timeout;
        ret->wal_mode = cfg->database.wal_mode;
        /* At least one reader per HTTP thread: a request thread never waits
         * for a connection (db_read). */
        ret->pool_size = cfg->database.connection_pool_size;
        if (ret->pool_size < config_threads_effective(cfg))
                ret->pool_size = config_threads_effective(cfg);
        ret->busy_timeout_ms = cfg->database.query_timeout * 1000;
        ret->cache_size = cfg->database.cache_size;
        ret->temp_store = cfg->database.temp_store;
        ret->synchronous = cfg->database.synchronous;
        ret->auto_vacuum = cfg->database.auto_vacuum;
        ret->checkpoint_interval_s = cfg->database.checkpoint_interval;
        ret->max_queue = cfg->database.max_write_queue;
}

/* service_migrate on PostgreSQL: pg_migrate on a connection of its own. */
static int
migrate_postgres(const struct config *cfg, char *err, unsigned long errlen)
{
        struct pg_conn *c =
                pg_conn_open(cfg->database.url, cfg->database.connect_timeout, err, errlen);
        char masked[512];
        int applied = 0;
        int rc;

        pg_mask_url(cfg->database.url, masked, sizeof(masked));
        if (c == NULL) {
                char why[512];

                snprintf(why, sizeof(why), "%s", err);
                snprintf(err, errlen, "cannot connect to PostgreSQL at %s after %d s: %s", masked,
                         cfg->database.connect_timeout, why);
                return -1;
        }
        rc = pg_migrate(c, migrations_postgres, migrations_postgres_count, &applied, err, errlen);
        pg_conn_close(c);
        if (rc == 0 && applied > 0)
                log_msg(LOG_INFO, "migrated", "applied %d migration(s) to %s", applied, masked);
        return rc;
}

int
service_migrate(const struct config *cfg, char *err, unsigned long errlen)
{
        struct db_options opt;
        struct db_conn *c;
        int applied = 0;
        int rc;

        if (cfg->database.url[0] != '\0')
                return migrate_postgres(cfg, err, errlen);
        if (backup_mkdirs_for(cfg->database.path) != 0) {
                snprintf(err, errlen, "cannot create the folder of database.path %s: %s",
                         cfg->database.path, strerror(errno));
                return -1;
        }
        /* Refuse what cannot be served before a read-write open changes it. */
        if (strcmp(cfg->database.path, ":memory:") != 0 &&
            storage_preflight(cfg->database.path, migrations_embedded, migrations_embedded_count,
                              err, errlen) != 0)
                return -1;
        service_db_options(cfg, &opt);
        c = db_conn_open(&opt, false);
        if (c == NULL) {
                snprintf(err, errlen, "cannot open the database %s (see the log above)",
                         cfg->database.path);
                return -1;
        }
        rc = migrate_apply(db_handle(c), cfg->database.path, migrations_embedded,
                           migrations_embedded_count, &applied, err, errlen);
        db_conn_close(c);
        if (rc == 0 && applied > 0)
                log_msg(LOG_INFO, "migrated", "applied %d migration(s) to %s", applied,
                        cfg->database.path);
        return rc;
}

int
service_start(const struct config *cfg, struct service **ret_service)
{
        struct service *s = calloc(1, sizeof(*s));
        struct db_options opt;
        const struct route *routes;
        size_t nroutes;
        char err[1024];

        if (s == NULL)
                return -1;
        if (service_migrate(cfg, err, sizeof(err)) != 0) {
                log_msg(LOG_ERROR, "migration_failed", "%s", err);
                goto fail;
        }
        service_db_options(cfg, &opt);
        if (db_open(&opt, &s->app.db) != 0)
                goto fail;
        s->app.cfg = cfg;
        s->app.started_us = ts_now_us();
        s->app.health = health_cache_new();
        routes = routes_table(&nroutes);
        s->app.metrics = metrics_new(routes, nroutes);
        if (s->app.health == NULL || s->app.metrics == NULL)
                goto fail;
        if (maintenance_start(s->app.db, cfg, &s->maint) != 0)
                goto fail;
        if (http_start(&s->app, routes, nroutes, &s->http) != 0)
                goto fail;
        *ret_service = s;
        return 0;
fail:
        maintenance_stop(s->maint);
        metrics_free(s->app.metrics);
        health_cache_free(s->app.health);
        db_close(s->app.db);
        free(s);
        return -1;
}

uint16_t
service_port(const struct service *s)
{
        return http_port(s->http);
}

void
service_stop(struct service *s, int grace_ms)
{
        if (s == NULL)
                return;
        http_stop(s->http, grace_ms);
        maintenance_stop(s->maint);
        metrics_free(s->app.metrics);
        health_cache_free(s->app.health);
        db_close(s->app.db);
        free(s);
}
