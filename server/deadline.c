/* Whole-phase deadlines for client connections (see deadline.h). */
#include "server/deadline.h"

#include "common/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#define SWEEP_MS 250

enum phase { PHASE_HEAD, PHASE_BODY, PHASE_BUSY, PHASE_CUT };

struct conn_watch {
        int fd;
        /* Written by the connection's HTTP thread, read by the sweeper. */
        _Atomic int phase;
        _Atomic int64_t since_ms; /* when the phase began */
        _Atomic int64_t body_bytes;
        struct conn_watch *prev, *next; /* under deadlines.mu */
};

struct deadlines {
        int64_t header_ms;
        int64_t min_body_rate;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool stopping;
        struct conn_watch *head;
        pthread_t thread;
        atomic_ulong cut_header;
        atomic_ulong cut_body;
};

static int64_t
now_ms(void)
{
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void
set_phase(struct conn_watch *w, enum phase p)
{
        if (w == NULL)
                return;
        atomic_store(&w->since_ms, now_ms());
        atomic_store(&w->body_bytes, 0);
        atomic_store(&w->phase, p);
}

void
conn_watch_head(struct conn_watch *w)
{
        set_phase(w, PHASE_HEAD);
}

void
conn_watch_body(struct conn_watch *w)
{
        set_phase(w, PHASE_BODY);
}

void
conn_watch_busy(struct conn_watch *w)
{
        if (w != NULL)
                atomic_store(&w->phase, PHASE_BUSY);
}

void
conn_watch_body_bytes(struct conn_watch *w, size_t n)
{
        if (w != NULL)
                atomic_fetch_add(&w->body_bytes, (int64_t)n);
}

/* Whether w is past its deadline at now; which one in *ret_body. */
static bool
late(const struct deadlines *d, struct conn_watch *w, int64_t now, bool *ret_body)
{
        int64_t elapsed = now - atomic_load(&w->since_ms);

        switch (atomic_load(&w->phase)) {
        case PHASE_HEAD: *ret_body = false; return elapsed > d->header_ms;
        case PHASE_BODY:
                *ret_body = true;
                /* After the grace, bytes >= rate * seconds past it. */
                return d->min_body_rate > 0 && elapsed > d->header_ms &&
                       atomic_load(&w->body_bytes) * 1000 <
                               d->min_body_rate * (elapsed - d->header_ms);
        default: return false;
        }
}

static void
sweep(struct deadlines *d)
{
        int64_t now = now_ms();

        for (struct conn_watch *w = d->head; w != NULL; w = w->next) {
                bool body;

                if (!late(d, w, now, &body))
                        continue;
                /* The fd is still open: libmicrohttpd closes it only after
                 * its CLOSED notification has removed w under d->mu. */
                shutdown(w->fd, SHUT_RDWR);
                atomic_store(&w->phase, PHASE_CUT);
                atomic_fetch_add(body ? &d->cut_body : &d->cut_header, 1);
                log_line(LOG_INFO, body ? "{\"event\":\"connection_cut\",\"reason\":\"slow_body\"}"
                                        : "{\"event\":\"connection_cut\",\"reason\":"
                                          "\"header_timeout\"}");
        }
}

static void *
sweeper(void *arg)
{
        struct deadlines *d = arg;

        pthread_setname_np(pthread_self(), "http-deadline");
        pthread_mutex_lock(&d->mu);
        while (!d->stopping) {
                struct timespec until;

                clock_gettime(CLOCK_MONOTONIC, &until);
                until.tv_nsec += SWEEP_MS * 1000000L;
                if (until.tv_nsec >= 1000000000L) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&d->cv, &d->mu, &until);
                if (!d->stopping)
                        sweep(d);
        }
        pthread_mutex_unlock(&d->mu);
        return NULL;
}

struct deadlines *
deadlines_start(int header_s, int min_body_rate)
{
        struct deadlines *d = calloc(1, sizeof(*d));
        pthread_condattr_t ca;

        if (d == NULL)
                return NULL;
        d->header_ms = (int64_t)header_s * 1000;
        d->min_body_rate = min_body_rate;
        pthread_mutex_init(&d->mu, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&d->cv, &ca);
        pthread_condattr_destroy(&ca);
        if (pthread_create(&d->thread, NULL, sweeper, d) != 0) {
                pthread_cond_destroy(&d->cv);
                pthread_mutex_destroy(&d->mu);
                free(d);
                return NULL;
        }
        return d;
}

void
deadlines_stop(struct deadlines *d)
{
        if (d == NULL)
                return;
        pthread_mutex_lock(&d->mu);
        d->stopping = true;
        pthread_cond_signal(&d->cv);
        pthread_mutex_unlock(&d->mu);
        pthread_join(d->thread, NULL);
        pthread_cond_destroy(&d->cv);
        pthread_mutex_destroy(&d->mu);
        free(d);
}

struct conn_watch *
deadlines_add(struct deadlines *d, int fd)
{
        struct conn_watch *w = calloc(1, sizeof(*w));

        if (w == NULL)
                return NULL;
        w->fd = fd;
        set_phase(w, PHASE_HEAD);
        pthread_mutex_lock(&d->mu);
        w->next = d->head;
        if (d->head != NULL)
                d->head->prev = w;
        d->head = w;
        pthread_mutex_unlock(&d->mu);
        return w;
}

void
deadlines_remove(struct deadlines *d, struct conn_watch *w)
{
        if (w == NULL)
                return;
        pthread_mutex_lock(&d->mu);
        if (w->prev != NULL)
                w->prev->next = w->next;
        else
                d->head = w->next;
        if (w->next != NULL)
                w->next->prev = w->prev;
        pthread_mutex_unlock(&d->mu);
        free(w);
}

void
deadlines_counts(struct deadlines *d, unsigned long *ret_header, unsigned long *ret_body)
{
        *ret_header = d ? atomic_load(&d->cut_header) : 0;
        *ret_body = d ? atomic_load(&d->cut_body) : 0;
}
