/* The job queue (see jobq.h). */
#include "db/jobq.h"

void
jobq_init(struct jobq *q, int max)
{
        *q = (struct jobq){ .max = max };
        pthread_mutex_init(&q->mu, NULL);
        pthread_cond_init(&q->cv, NULL);
}

void
jobq_destroy(struct jobq *q)
{
        pthread_cond_destroy(&q->cv);
        pthread_mutex_destroy(&q->mu);
}

int
jobq_push(struct jobq *q, struct db_job *job)
{
        int refused = 0;

        pthread_mutex_lock(&q->mu);
        if (q->stopping)
                refused = DB_UNAVAILABLE;
        else if (q->max > 0 && q->len >= q->max)
                refused = DB_OVERLOADED;
        if (refused == 0) {
                job->next = NULL;
                if (q->tail != NULL)
                        q->tail->next = job;
                else
                        q->head = job;
                q->tail = job;
                q->len++;
                pthread_cond_signal(&q->cv);
        }
        pthread_mutex_unlock(&q->mu);
        return refused;
}

struct db_job *
jobq_pop(struct jobq *q)
{
        struct db_job *job;

        pthread_mutex_lock(&q->mu);
        while (q->head == NULL && !q->stopping)
                pthread_cond_wait(&q->cv, &q->mu);
        job = q->head;
        if (job != NULL) {
                q->head = job->next;
                if (q->head == NULL)
                        q->tail = NULL;
                q->len--;
        }
        pthread_mutex_unlock(&q->mu);
        return job;
}

struct db_job *
jobq_stop(struct jobq *q, bool drop)
{
        struct db_job *left = NULL;

        pthread_mutex_lock(&q->mu);
        q->stopping = true;
        if (drop) {
                left = q->head;
                q->head = q->tail = NULL;
                q->len = 0;
        }
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        return left;
}

int
jobq_len(struct jobq *q)
{
        int n;

        pthread_mutex_lock(&q->mu);
        n = q->len;
        pthread_mutex_unlock(&q->mu);
        return n;
}
