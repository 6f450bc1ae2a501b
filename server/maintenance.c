/* The background maintenance thread (see maintenance.h). It waits on a
 * condition variable with a deadline on the monotonic clock, so a stop
 * request wakes it at once and clock changes do not move its runs. */
#include "server/maintenance.h"

#include "common/log.h"
#include "common/ts.h"
#include "db/db.h"
#include "repo/admin.h"
#include "server/config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct maintenance {
        struct db *d;
        const struct config *cfg;
        pthread_mutex_t mu;
        pthread_cond_t cv; /* on CLOCK_MONOTONIC */
        bool stopping;
        pthread_t thread;
};

static bool
should_stop(void *cls)
{
        struct maintenance *m = cls;
        bool stop;

        pthread_mutex_lock(&m->mu);
        stop = m->stopping;
        pthread_mutex_unlock(&m->mu);
        return stop;
}

/* One run: cleanup, optimize, incremental vacuum; logged as one line. */
static void
run_once(struct maintenance *m)
{
        const struct admin_retention ret = {
                .quote_days = m->cfg->database.quote_retention_days,
                .fill_days = m->cfg->database.fill_retention_days,
                .outbox_days = m->cfg->database.outbox_retention_days,
        };
        bool incremental = strcmp(m->cfg->database.auto_vacuum, "incremental") == 0;
        struct admin_cleanup n = { 0 };
        int64_t t0 = ts_monotonic_ms();
        enum repo_status cleaned, optimized, vacuumed = REPO_OK;

        cleaned = repo_admin_cleanup_writer(m->d, &ret, ts_now_us(), ADMIN_CLEANUP_BATCH,
                                            should_stop, m, &n);
        if (should_stop(m))
                optimized = REPO_OK; /* not started: shutting down */
        else
                optimized = db_write(m->d, repo_admin_optimize_job, NULL) == REPO_OK ? REPO_OK
                                                                                     : REPO_ERROR;
        if (incremental && !should_stop(m))
                vacuumed = repo_admin_incremental_vacuum_writer(m->d);
        log_msg(cleaned == REPO_OK && optimized == REPO_OK && vacuumed == REPO_OK ? LOG_INFO
                                                                                  : LOG_WARN,
                "maintenance",
                "maintenance run: deleted %lld quotes, %lld fills, %lld outbox events%s;"
                " optimize %s%s; %lld ms",
                (long long)n.quotes, (long long)n.fills, (long long)n.outbox,
                cleaned == REPO_OK ? "" : " (cleanup failed)",
                optimized == REPO_OK ? "ok" : "failed",
                !incremental          ? ""
                : vacuumed == REPO_OK ? "; incremental vacuum ok"
                                      : "; incremental vacuum failed",
                (long long)(ts_monotonic_ms() - t0));
}

static void
deadline_after(struct timespec *t, int seconds)
{
        clock_gettime(CLOCK_MONOTONIC, t);
        t->tv_sec += seconds;
}

static void *
maintenance_main(void *arg)
{
        struct maintenance *m = arg;
        const int interval = m->cfg->database.maintenance_interval;
        struct timespec next;

        deadline_after(&next, interval);
        pthread_mutex_lock(&m->mu);
        while (!m->stopping) {
                if (pthread_cond_timedwait(&m->cv, &m->mu, &next) == 0 || m->stopping)
                        continue; /* woken (or spuriously): check again */
                pthread_mutex_unlock(&m->mu);
                run_once(m);
                pthread_mutex_lock(&m->mu);
                /* The next run is an interval after this one ended: a run
                 * longer than the interval never queues up behind itself. */
                deadline_after(&next, interval);
        }
        pthread_mutex_unlock(&m->mu);
        return NULL;
}

int
maintenance_start(struct db *d, const struct config *cfg, struct maintenance **ret)
{
        struct maintenance *m;
        pthread_condattr_t ca;

        if (cfg->database.maintenance_interval <= 0) {
                log_msg(LOG_INFO, "maintenance", "background maintenance is disabled");
                *ret = NULL;
                return 0;
        }
        m = calloc(1, sizeof(*m));
        if (m == NULL)
                goto fail;
        m->d = d;
        m->cfg = cfg;
        pthread_mutex_init(&m->mu, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&m->cv, &ca);
        pthread_condattr_destroy(&ca);
        if (pthread_create(&m->thread, NULL, maintenance_main, m) != 0) {
                pthread_cond_destroy(&m->cv);
                pthread_mutex_destroy(&m->mu);
                free(m);
                goto fail;
        }
        *ret = m;
        return 0;
fail:
        log_msg(LOG_ERROR, "maintenance", "cannot start the background maintenance thread");
        return -1;
}

void
maintenance_stop(struct maintenance *m)
{
        if (m == NULL)
                return;
        pthread_mutex_lock(&m->mu);
        m->stopping = true;
        pthread_cond_broadcast(&m->cv);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->thread, NULL);
        pthread_cond_destroy(&m->cv);
        pthread_mutex_destroy(&m->mu);
        free(m);
}
