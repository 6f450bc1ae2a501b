/* Background maintenance: a thread that, every database.maintenance_interval
 * seconds, deletes rows past retention (in bounded batches, each its own
 * writer job, so requests are never stalled), runs PRAGMA optimize, and
 * gives free pages back when database.auto_vacuum is incremental. */
#ifndef TRADESTORE_MAINTENANCE_H
#define TRADESTORE_MAINTENANCE_H

struct config;
struct db;
struct maintenance;

/* Starts the thread; the first run comes one interval after the start. d
 * and cfg are borrowed until maintenance_stop. With an interval of 0 no
 * thread is started and *ret is NULL. Returns 0 and *ret (caller owns:
 * maintenance_stop), or -1 after logging why. */
int maintenance_start(struct db *d, const struct config *cfg, struct maintenance **ret);

/* Stops the thread promptly (waking it from its wait; a run in progress
 * ends after its current batch), joins it and frees m. Call before closing
 * the database. Accepts NULL. */
void maintenance_stop(struct maintenance *m);

#endif
