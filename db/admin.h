/* The database's admin thread: long operator work (statistics over every
 * table, VACUUM, checkpoints, backups, cleanup runs) on a thread and a
 * connection of its own, so that no request thread waits for it. Requests
 * hand it a job the way they hand writes to the writer, and are resumed
 * when it is done. One job at a time, in order; at most DB_ADMIN_QUEUE jobs
 * wait. Used through db_admin_submit (db.h); db.c owns the thread. */
#ifndef TRADESTORE_DB_ADMIN_H
#define TRADESTORE_DB_ADMIN_H

#include "db/db.h"

/* Jobs waiting at most; past it a job is answered DB_OVERLOADED at once. */
#define DB_ADMIN_QUEUE 8

struct db_admin;

/* Starts the thread. opt (and what it points to) must outlive the result.
 * The connection is opened with opt at the first job, read-write and
 * outside any transaction; a job that cannot have it gets DB_UNAVAILABLE.
 * NULL after logging. */
struct db_admin *db_admin_start(const struct db_options *opt);

/* Queues job: job->fn(c, job->arg) runs on the admin thread's connection,
 * then job->done(job, result) is called there. */
void db_admin_queue(struct db_admin *a, struct db_job *job);

/* Stops taking jobs, answers those still waiting with DB_UNAVAILABLE, waits
 * for the running one, closes the connection and frees a. Accepts NULL. */
void db_admin_stop(struct db_admin *a);

#endif
