/* A queue of db_jobs for worker threads (the admin thread, PostgreSQL's
 * writers): FIFO, bounded, and stoppable. SQLite's writer drains its own
 * queue in batches (sqlite.c). */
#ifndef TRADESTORE_JOBQ_H
#define TRADESTORE_JOBQ_H

#include <pthread.h>
#include <stdbool.h>

#include "db/db.h"

struct jobq {
        pthread_mutex_t mu;
        pthread_cond_t cv;
        struct db_job *head;
        struct db_job *tail;
        int len;
        int max; /* jobs waiting at most; 0 = no bound */
        bool stopping;
};

void jobq_init(struct jobq *q, int max);
void jobq_destroy(struct jobq *q);

/* Queues job and returns 0, or returns DB_OVERLOADED (max jobs wait) or
 * DB_UNAVAILABLE (stopping) without queueing it: the caller answers it. */
int jobq_push(struct jobq *q, struct db_job *job);

/* The oldest job, waiting for one; NULL once stopping with none left. */
struct db_job *jobq_pop(struct jobq *q);

/* Wakes the workers to drain and end; returns the jobs still waiting when
 * drop is true (a list through ->next, for the caller to answer), else NULL
 * and they are run first. */
struct db_job *jobq_stop(struct jobq *q, bool drop);

/* Jobs waiting now. */
int jobq_len(struct jobq *q);

#endif
