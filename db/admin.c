/* The admin thread (see admin.h). */
#include "db/admin.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/log.h"
#include "db/jobq.h"

struct db_admin {
        const struct db_options *opt;
        struct db_conn *conn; /* opened at the first job */
        struct jobq q;
        pthread_t thread;
};

static void *
admin_main(void *arg)
{
        struct db_admin *a = arg;
        struct db_job *job;

        while ((job = jobq_pop(&a->q)) != NULL) {
                if (a->conn == NULL)
                        a->conn = db_conn_open(a->opt, false);
                job->done(job, a->conn != NULL ? job->fn(a->conn, job->arg) : DB_UNAVAILABLE);
        }
        return NULL;
}

struct db_admin *
db_admin_start(const struct db_options *opt)
{
        struct db_admin *a = calloc(1, sizeof(*a));

        if (a == NULL)
                return NULL;
        a->opt = opt;
        jobq_init(&a->q, DB_ADMIN_QUEUE);
        if (pthread_create(&a->thread, NULL, admin_main, a) != 0) {
                log_msg(LOG_ERROR, "db_open_failed", "cannot start the database admin thread");
                jobq_destroy(&a->q);
                free(a);
                return NULL;
        }
        return a;
}

void
db_admin_queue(struct db_admin *a, struct db_job *job)
{
        int refused = jobq_push(&a->q, job);

        if (refused != 0)
                job->done(job, refused);
}

void
db_admin_stop(struct db_admin *a)
{
        struct db_job *left;

        if (a == NULL)
                return;
        left = jobq_stop(&a->q, true);
        while (left != NULL) {
                struct db_job *next = left->next;

                left->done(left, DB_UNAVAILABLE);
                left = next;
        }
        pthread_join(a->thread, NULL);
        db_conn_close(a->conn);
        jobq_destroy(&a->q);
        free(a);
}
