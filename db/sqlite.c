/* The SQLite backend (see sqlite.h and db.h): one writer thread that
 * group-commits the jobs queued by request threads, a pool of read-only
 * connections, the per-connection statement cache and a background
 * checkpointer.
 *
 * Why a single writer: SQLite allows one writer at a time. Funnelling every
 * write through one thread means no request ever sees SQLITE_BUSY from
 * another of our own writers, and batching the waiting jobs into one
 * transaction shares a commit's cost among all of them. */
#include "db/sqlite.h"

#include "common/log.h"
#include "common/ts.h"
#include "db/slot.h"
#include "db/walbuf.h"

#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_BATCH 512

struct stmt_slot {
        const char *sql; /* key: the address of a static SQL string */
        sqlite3_stmt *st;
};

struct db_conn {
        sqlite3 *h;
        struct stmt_slot *slots; /* open addressing, power-of-two size */
        size_t nslots;
        size_t nused;
        struct db_conn *next_free; /* reader pool free list */
        int busy_timeout_ms;
        atomic_ulong *busy_count; /* the manager's counter, or the connection's own */
        atomic_ulong own_busy_count;
};

/* The WAL's sizes, in wal_checkpoint_bytes: see writer_checkpoint. */
#define WAL_RESTART 16     /* the checkpointer and then the writer catch up */
#define WAL_WAIT 20        /* the writer waits for the checkpointer */
#define WAL_LIMIT 24       /* journal_size_limit: a WAL file beyond is cut back */
#define CATCHUP_FRAMES 256 /* at most this many frames copied by the writer */

struct sq_db {
        const char *path; /* opt.path, borrowed */
        struct db_options opt;
        struct db_conn *writer;
        struct db_conn *checkpointer;
        struct db_conn **readers;
        int nreaders;

        pthread_mutex_t pool_mu;
        pthread_cond_t pool_cv;
        struct db_conn *free_readers;
        int busy_readers;

        pthread_mutex_t q_mu;
        pthread_cond_t q_cv;
        struct db_job *q_head;
        struct db_job *q_tail;
        int q_len; /* jobs in q_head..q_tail */
        bool stopping;
        bool writer_started;
        pthread_t writer_thread;

        pthread_mutex_t ck_mu; /* one checkpoint at a time (db_checkpoint) */
        sem_t ck_kick;         /* wakes the checkpointer: never blocks the poster */
        atomic_int wal_frames; /* in the WAL after the writer's last commit */
        atomic_int ck_done;    /* of them copied to the database, as last seen */
        atomic_bool ck_kicked; /* ck_kick posted and not yet taken */
        int page_size;
        atomic_bool ck_stopping;
        bool ck_started;
        pthread_t ck_thread;

        atomic_ulong busy_count;
        atomic_ulong jobs_committed;
        atomic_ulong jobs_rolled_back;
        atomic_ulong jobs_failed;
        atomic_ulong batches; /* transactions committed (group commits) */
        atomic_ulong reruns;  /* batches rerun with a savepoint per job */
        atomic_ulong refused; /* jobs refused with DB_OVERLOADED */
        /* The writer's copies of the WAL's rest (writer_checkpoint): how
         * many, the frames left to copy, the time writes waited. */
        atomic_ulong wal_copies;
        atomic_ulong wal_copy_frames;
        atomic_ulong wal_copy_us;
        atomic_ulong wal_waits; /* of them after waiting for a checkpointer's pass */

        /* db_write's waiters share one lock and condition. */
        pthread_mutex_t sync_mu;
        pthread_cond_t sync_cv;
};

/* Set when any connection of the process meets SQLITE_FULL (the writer, the
 * checkpointer, or a dedicated maintenance connection), cleared when the
 * writer commits a write. Process-wide on purpose: a full disk is a property
 * of the disk, not of one connection, and every answer should name it. */
static atomic_bool disk_full;

/* ---- statement cache ---- */

static int
cache_grow(struct db_conn *c)
{
        size_t n = c->nslots ? c->nslots * 2 : 64;
        struct stmt_slot *slots = calloc(n, sizeof(*slots));

        if (slots == NULL)
                return -1;
        for (size_t i = 0; i < c->nslots; i++) {
                size_t j;

                if (c->slots[i].sql == NULL)
                        continue;
                j = db_slot_index(c->slots[i].sql, n);
                while (slots[j].sql != NULL)
                        j = (j + 1) & (n - 1);
                slots[j] = c->slots[i];
        }
        free(c->slots);
        c->slots = slots;
        c->nslots = n;
        return 0;
}

static sqlite3_stmt *
stmt_get(struct db_conn *c, const char *sql)
{
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        size_t i;

        if (c->nslots > 0) {
                for (i = db_slot_index(sql, c->nslots); c->slots[i].sql != NULL;
                     i = (i + 1) & (c->nslots - 1)) {
                        if (c->slots[i].sql == sql)
                                return c->slots[i].st;
                }
        }
        if ((c->nused + 1) * 2 > c->nslots && cache_grow(c) != 0) {
                log_msg(LOG_ERROR, "db_error", "out of memory growing the statement cache");
                return NULL;
        }
        if (sqlite3_prepare_v3(c->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, &tail) != SQLITE_OK) {
                sq_log_error(c, "prepare");
                log_msg(LOG_ERROR, "db_error", "failed statement: %s", sql);
                return NULL;
        }
        /* A non-empty tail means a second statement was silently ignored. */
        if (tail != NULL && *tail != '\0') {
                for (const char *p = tail; *p != '\0'; p++) {
                        if (*p != ' ' && *p != '\n' && *p != '\t' && *p != ';') {
                                log_msg(LOG_ERROR, "db_error", "statement has a tail: %s", sql);
                                sqlite3_finalize(st);
                                return NULL;
                        }
                }
        }
        i = db_slot_index(sql, c->nslots);
        while (c->slots[i].sql != NULL)
                i = (i + 1) & (c->nslots - 1);
        c->slots[i] = (struct stmt_slot){ .sql = sql, .st = st };
        c->nused++;
        return st;
}

static void
stmt_reset(sqlite3_stmt *st)
{
        if (st == NULL)
                return;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
}

/* ---- statements: the interface repo/ speaks (db.h) ----
 * On SQLite a struct db_stmt is the cached sqlite3_stmt itself. */

struct db_stmt *
sq_stmt(struct db_conn *c, const char *sql)
{
        return (struct db_stmt *)stmt_get(c, sql);
}

void
sq_stmt_done(struct db_stmt *st)
{
        stmt_reset(sq_raw(st));
}

/* The SQLite result of a step as db.h's DB_ROW, DB_DONE or DB_E_*. */
static int
step_result(int rc)
{
        switch (rc) {
        case SQLITE_ROW: return DB_ROW;
        case SQLITE_DONE: return DB_DONE;
        case SQLITE_CONSTRAINT_PRIMARYKEY:
        case SQLITE_CONSTRAINT_UNIQUE: return DB_E_UNIQUE;
        case SQLITE_CONSTRAINT_CHECK: return DB_E_CHECK;
        case SQLITE_CONSTRAINT_FOREIGNKEY: return DB_E_FOREIGN_KEY;
        case SQLITE_CONSTRAINT_NOTNULL: return DB_E_NOT_NULL;
        default: break;
        }
        switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED: return DB_E_BUSY;
        case SQLITE_FULL: return DB_E_FULL;
        default: return DB_E_ERROR;
        }
}

int
sq_step(struct db_stmt *st)
{
        return step_result(sqlite3_step(sq_raw(st)));
}

int64_t
sq_changes(struct db_conn *c)
{
        return sqlite3_changes64(c->h);
}

sqlite3 *
sq_handle(struct db_conn *c)
{
        return c->h;
}

void
sq_log_error(struct db_conn *c, const char *what)
{
        log_msg(LOG_ERROR, "db_error", "%s: %s (code %d)", what, sqlite3_errmsg(c->h),
                sqlite3_extended_errcode(c->h));
        if (sqlite3_errcode(c->h) == SQLITE_FULL)
                atomic_store(&disk_full, true);
}

/* ---- connections ---- */

static int
exec(struct db_conn *c, const char *sql)
{
        char *msg = NULL;

        if (sqlite3_exec(c->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
                log_msg(LOG_ERROR, "db_error", "%s: %s", sql, msg ? msg : "?");
                sqlite3_free(msg);
                return -1;
        }
        return 0;
}

static bool
allowed(const char *v, const char *const *list)
{
        for (; *list != NULL; list++)
                if (strcmp(v, *list) == 0)
                        return true;
        return false;
}

/* Like sqlite3_busy_timeout's handler, but counts each wait, and tries
 * again every DB_BUSY_POLL_MS at most (SQLite's own sleeps up to 100 ms, and
 * misses a lock another process leaves for a moment: see repo/admin.c's
 * cleanup). Returns non-zero to try again, 0 to give up with SQLITE_BUSY. */
static int
busy_handler(void *arg, int count)
{
        static const int delays_ms[] = { 1, 2, 5, DB_BUSY_POLL_MS };
        const int ndelays = (int)(sizeof(delays_ms) / sizeof(delays_ms[0]));
        struct db_conn *c = arg;
        int delay, waited = 0;
        struct timespec ts;

        atomic_fetch_add_explicit(c->busy_count, 1, memory_order_relaxed);
        for (int i = 0; i < count && i < ndelays; i++)
                waited += delays_ms[i];
        if (count >= ndelays)
                waited += (count - ndelays) * delays_ms[ndelays - 1];
        delay = count < ndelays ? delays_ms[count] : delays_ms[ndelays - 1];
        if (waited + delay > c->busy_timeout_ms) {
                delay = c->busy_timeout_ms - waited;
                if (delay <= 0)
                        return 0;
        }
        ts.tv_sec = delay / 1000;
        ts.tv_nsec = (long)(delay % 1000) * 1000000L;
        nanosleep(&ts, NULL);
        return 1;
}

static int
apply_pragmas(struct db_conn *c, const struct db_options *opt, bool read_only)
{
        static const char *const syncs[] = { "off", "normal", "full", "extra", NULL };
        static const char *const temps[] = { "default", "file", "memory", NULL };
        static const char *const vacs[] = { "none", "full", "incremental", NULL };
        char sql[256];

        /* The values are checked against fixed lists before they reach SQL. */
        if (!allowed(opt->synchronous, syncs) || !allowed(opt->temp_store, temps) ||
            !allowed(opt->auto_vacuum, vacs)) {
                log_msg(LOG_ERROR, "db_error", "invalid pragma value");
                return -1;
        }
        c->busy_timeout_ms = opt->busy_timeout_ms;
        sqlite3_busy_handler(c->h, busy_handler, c);
        snprintf(sql, sizeof(sql),
                 "PRAGMA foreign_keys=ON; PRAGMA synchronous=%s; PRAGMA cache_size=%d;"
                 " PRAGMA temp_store=%s;",
                 opt->synchronous, opt->cache_size, opt->temp_store);
        if (exec(c, sql) != 0)
                return -1;
        if (read_only)
                return 0;
        /* auto_vacuum only takes effect before the first table is created. */
        snprintf(sql, sizeof(sql), "PRAGMA auto_vacuum=%s; PRAGMA journal_mode=%s;",
                 opt->auto_vacuum, opt->wal_mode ? "WAL" : "DELETE");
        if (exec(c, sql) != 0)
                return -1;
        /* The WAL file is kept, not cut back, when it restarts: its blocks
         * are then overwritten in place. Cut back to nothing, each restart
         * made the file grow again block by block, and the file system
         * zeroed and allocated every new block on the writer's path (29% of
         * its time under W1, in ext4's zero_user_segments); cut back to the
         * size where it restarts, the writer truncated it at each restart
         * (up to 7 ms). Only a WAL that grew past where the writer waits for
         * the checkpointer (a long reader held it) is cut back. */
        snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit=%lld;",
                 (long long)(opt->wal_checkpoint_bytes * WAL_LIMIT));
        if (exec(c, sql) != 0)
                return -1;
        /* Checkpoints never run on the writer's path: the checkpointer does them. */
        return exec(c, "PRAGMA wal_autocheckpoint=0;");
}

/* Process-wide SQLite settings, applied once before the first connection.
 * Memory statistics take a global mutex on every allocation: with several
 * request threads that lock is contended on every query, so it is off. */
static void
global_init(void)
{
        sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
        if (walbuf_register() != SQLITE_OK)
                log_msg(LOG_WARN, "walbuf",
                        "the WAL write buffer is off: SQLite's default VFS "
                        "lacks what it needs");
}

struct db_conn *
sq_conn_open(const struct db_options *opt, bool read_only)
{
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        struct db_conn *c;

        pthread_once(&once, global_init);
        c = calloc(1, sizeof(*c));
        if (c != NULL)
                c->busy_count = &c->own_busy_count;
        int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

        if (c == NULL)
                return NULL;
        flags |= SQLITE_OPEN_NOMUTEX; /* each connection is used by one thread at a time */
        if (sqlite3_open_v2(opt->path, &c->h, flags, NULL) != SQLITE_OK) {
                log_msg(LOG_ERROR, "db_open_failed", "cannot open database %s: %s", opt->path,
                        c->h ? sqlite3_errmsg(c->h) : "out of memory");
                goto fail;
        }
        sqlite3_extended_result_codes(c->h, 1);
        if (apply_pragmas(c, opt, read_only) != 0)
                goto fail;
        return c;
fail:
        sq_conn_close(c);
        return NULL;
}

void
sq_conn_close(struct db_conn *c)
{
        if (c == NULL)
                return;
        for (size_t i = 0; i < c->nslots; i++)
                if (c->slots[i].st != NULL)
                        sqlite3_finalize(c->slots[i].st);
        free(c->slots);
        if (c->h != NULL)
                sqlite3_close(c->h);
        free(c);
}

static int
step_cached(struct db_conn *c, const char *sql)
{
        sqlite3_stmt *st = stmt_get(c, sql);
        int rc;

        if (st == NULL)
                return -1;
        rc = sqlite3_step(st);
        stmt_reset(st);
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
                sq_log_error(c, sql);
                return -1;
        }
        return 0;
}

int
sq_read_begin(struct db_conn *c)
{
        return step_cached(c, "BEGIN");
}

void
sq_read_end(struct db_conn *c)
{
        static const char sql[] = "COMMIT";
        sqlite3_stmt *st;

        if (sqlite3_get_autocommit(c->h))
                return;
        st = stmt_get(c, sql);
        if (st == NULL || sqlite3_step(st) != SQLITE_DONE)
                sqlite3_exec(c->h, "ROLLBACK", NULL, NULL, NULL);
        stmt_reset(st);
}

/* ---- the writer ---- */

static const char sql_begin[] = "BEGIN IMMEDIATE";
static const char sql_commit[] = "COMMIT";
static const char sql_savepoint[] = "SAVEPOINT job";
static const char sql_release[] = "RELEASE job";
static const char sql_rollback_to[] = "ROLLBACK TO job";

/* Runs one job inside its own savepoint. Returns its result; a result that
 * asks for rollback undoes only this job. */
static int
run_job_safe(struct db_conn *w, struct db_job *job)
{
        int r;

        if (step_cached(w, sql_savepoint) != 0)
                return DB_UNAVAILABLE;
        r = job->fn(w, job->arg);
        if (r < 0)
                r = DB_UNAVAILABLE;
        if (sqlite3_get_autocommit(w->h))
                return r; /* SQLite rolled the whole transaction back */
        if (r != 0)
                step_cached(w, sql_rollback_to);
        step_cached(w, sql_release);
        return r;
}

/* Runs one job without a savepoint. *ret_dirty is set when it failed after
 * changing rows, which only a rollback of the whole transaction can undo.
 * Jobs check before they write, so this is rare; and a savepoint per job
 * costs about a fifth of a fill's work (SQLite copies every page the job
 * touches into a sub-journal). A statement that fails is undone by SQLite
 * itself, so an unchanged total_changes means the job left nothing behind. */
static int
run_job_fast(struct db_conn *w, struct db_job *job, bool *ret_dirty)
{
        sqlite3_int64 before = sqlite3_total_changes64(w->h);
        int r = job->fn(w, job->arg);

        if (r < 0)
                r = DB_UNAVAILABLE;
        *ret_dirty = r != 0 && sqlite3_total_changes64(w->h) != before;
        return r;
}

#define RERUN_SAFE (-1)

/* Runs the jobs from pos on in one transaction until the batch ends or the
 * transaction is lost; fills results. Returns the index after the last job
 * it settled, or RERUN_SAFE when a job (not in safe mode) failed after
 * writing: the transaction was rolled back and the jobs from pos on must run
 * again, each in its own savepoint. */
static int
run_transaction(struct sq_db *d, struct db_job **jobs, int njobs, int pos, int *results, bool safe)
{
        struct db_conn *w = d->writer;
        sqlite3_int64 changes = sqlite3_total_changes64(w->h);
        int first = pos;

        if (step_cached(w, sql_begin) != 0) {
                results[pos] = DB_UNAVAILABLE;
                return pos + 1;
        }
        for (; pos < njobs; pos++) {
                bool dirty = false;

                results[pos] =
                        safe ? run_job_safe(w, jobs[pos]) : run_job_fast(w, jobs[pos], &dirty);
                if (dirty && !sqlite3_get_autocommit(w->h)) {
                        sqlite3_exec(w->h, "ROLLBACK", NULL, NULL, NULL);
                        return RERUN_SAFE;
                }
                if (sqlite3_get_autocommit(w->h)) {
                        /* The transaction is gone with every job so far in it. */
                        for (int i = first; i <= pos; i++)
                                if (results[i] == 0)
                                        results[i] = DB_COMMIT_FAILED;
                        return pos + 1;
                }
        }
        if (step_cached(w, sql_commit) != 0) {
                if (!sqlite3_get_autocommit(w->h))
                        sqlite3_exec(w->h, "ROLLBACK", NULL, NULL, NULL);
                for (int i = first; i < pos; i++)
                        if (results[i] == 0)
                                results[i] = DB_COMMIT_FAILED;
        } else if (sqlite3_total_changes64(w->h) != changes) {
                atomic_store(&disk_full, false); /* a write went through: space is back */
        }
        atomic_fetch_add_explicit(&d->batches, 1, memory_order_relaxed);
        return pos;
}

static void
run_batch(struct sq_db *d, struct db_job *head)
{
        struct db_job *jobs[MAX_BATCH];
        int results[MAX_BATCH];
        int n = 0;

        for (struct db_job *j = head; j != NULL; j = j->next)
                jobs[n++] = j;
        for (int pos = 0; pos < n;) {
                int next = run_transaction(d, jobs, n, pos, results, false);

                if (next == RERUN_SAFE) {
                        atomic_fetch_add_explicit(&d->reruns, 1, memory_order_relaxed);
                        next = run_transaction(d, jobs, n, pos, results, true);
                }
                pos = next;
        }
        for (int i = 0; i < n; i++) {
                atomic_ulong *ctr = results[i] == 0  ? &d->jobs_committed
                                    : results[i] > 0 ? &d->jobs_rolled_back
                                                     : &d->jobs_failed;

                atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed);
        }
        /* Callers hear of their job only now, after the COMMIT. */
        for (int i = 0; i < n; i++)
                jobs[i]->done(jobs[i], results[i]);
}

/* A checkpoint on another thread copies frames while the writer appends
 * more: it never reaches the WAL's end, so under steady writes the WAL
 * never restarts (it grew by 200 MB/s under W1, to gigabytes). SQLite
 * restarts the WAL at its start only when a write transaction begins with
 * every frame copied. So, with C = wal_checkpoint_bytes of frames:
 *
 * - the checkpointer copies frames (PASSIVE, beside the writer) whenever C
 *   of them are not yet copied: a few large passes, which copy a page
 *   written many times once;
 * - once the WAL holds WAL_RESTART x C, the checkpointer copies until at
 *   most CATCHUP_FRAMES are left, and the writer, between two batches,
 *   copies those itself if the checkpointer is not at it (it never waits
 *   for a pass); the next batch then restarts the WAL at its start,
 *   overwriting its own blocks, which stay in the page cache;
 * - past WAL_WAIT x C the checkpointer is outpaced, and the writer waits
 *   for its pass, then copies the rest: the WAL stays bounded.
 *
 * The writer copies the rest holding SQLite's write lock (an empty
 * transaction of its own; the copy runs on the checkpointer's connection),
 * so that no other process's writes (tradestore maintain --cleanup) land
 * after the copy and keep the WAL from restarting: between two cleanup
 * batches the writer's copy took tens of milliseconds, the cleanup wrote
 * meanwhile, and the WAL grew to 4 GB, copied after every batch.
 *
 * The writer's copy costs it two fdatasyncs (the WAL's, the database's:
 * 1 to 30 ms under W1 on the development machine), once per WAL_RESTART x C
 * of WAL (256 MiB by default: about once a second at 13,000 fills/s).
 * Every four C, as before, it held 32 fills in flight for 15-35 ms four
 * times a second, and set W1's p99. */

static int64_t
frames_bytes(const struct sq_db *d, int64_t frames)
{
        return frames * (d->page_size + 24);
}

static void
writer_checkpoint(struct sq_db *d)
{
        int64_t c = d->opt.wal_checkpoint_bytes;
        int frames = atomic_load(&d->wal_frames), done = atomic_load(&d->ck_done);
        int log_frames = 0, done_frames = 0;
        int64_t t0;
        bool waited = false;

        if (frames_bytes(d, frames) <= WAL_RESTART * c)
                return;
        t0 = ts_monotonic_us();
        if (frames_bytes(d, frames) > WAL_WAIT * c) {
                waited = pthread_mutex_trylock(&d->ck_mu) != 0;
                if (waited)
                        pthread_mutex_lock(&d->ck_mu); /* outpaced: wait for its pass */
        } else if (done > frames || frames - done > CATCHUP_FRAMES) {
                return; /* the checkpointer copies the bulk first */
        } else if (pthread_mutex_trylock(&d->ck_mu) != 0) {
                return; /* the checkpointer is at it: after the next batch */
        }
        done = atomic_load(&d->ck_done); /* the pass waited for may have moved it */
        if (step_cached(d->writer, sql_begin) == 0) {
                if (sqlite3_wal_checkpoint_v2(d->checkpointer->h, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                              &log_frames, &done_frames) == SQLITE_OK)
                        atomic_store(&d->ck_done, done_frames);
                step_cached(d->writer, sql_commit);
        }
        pthread_mutex_unlock(&d->ck_mu);
        /* Counted when it ran: the time writes waited counts either way. */
        if (log_frames > 0) {
                atomic_fetch_add_explicit(&d->wal_copies, 1, memory_order_relaxed);
                if (waited)
                        atomic_fetch_add_explicit(&d->wal_waits, 1, memory_order_relaxed);
        }
        if (log_frames > done)
                atomic_fetch_add_explicit(&d->wal_copy_frames, (unsigned long)(log_frames - done),
                                          memory_order_relaxed);
        atomic_fetch_add_explicit(&d->wal_copy_us, (unsigned long)(ts_monotonic_us() - t0),
                                  memory_order_relaxed);
}

static void *
writer_main(void *arg)
{
        struct sq_db *d = arg;

        pthread_setname_np(pthread_self(), "db-writer");
        for (;;) {
                struct db_job *batch, *last;
                int n = 1;

                pthread_mutex_lock(&d->q_mu);
                while (d->q_head == NULL && !d->stopping)
                        pthread_cond_wait(&d->q_cv, &d->q_mu);
                if (d->q_head == NULL) {
                        pthread_mutex_unlock(&d->q_mu);
                        break;
                }
                batch = last = d->q_head;
                while (last->next != NULL && n < MAX_BATCH) {
                        last = last->next;
                        n++;
                }
                d->q_head = last->next;
                if (d->q_head == NULL)
                        d->q_tail = NULL;
                d->q_len -= n;
                last->next = NULL;
                pthread_mutex_unlock(&d->q_mu);
                run_batch(d, batch);
                writer_checkpoint(d);
        }
        return NULL;
}

void
sq_submit(struct sq_db *d, struct db_job *job)
{
        job->next = NULL;
        pthread_mutex_lock(&d->q_mu);
        if (d->stopping) {
                /* The writer may already have drained the queue and left. */
                pthread_mutex_unlock(&d->q_mu);
                job->done(job, DB_UNAVAILABLE);
                return;
        }
        if (d->opt.max_queue > 0 && d->q_len >= d->opt.max_queue) {
                pthread_mutex_unlock(&d->q_mu);
                atomic_fetch_add(&d->refused, 1);
                job->done(job, DB_OVERLOADED);
                return;
        }
        if (d->q_tail != NULL)
                d->q_tail->next = job;
        else
                d->q_head = job;
        d->q_tail = job;
        d->q_len++;
        pthread_cond_signal(&d->q_cv);
        pthread_mutex_unlock(&d->q_mu);
}

struct sync_wait {
        struct sq_db *d;
        bool done;
        int result;
};

static void
sync_done(struct db_job *job, int result)
{
        struct sync_wait *w = job->done_arg;

        pthread_mutex_lock(&w->d->sync_mu);
        w->result = result;
        w->done = true;
        pthread_cond_broadcast(&w->d->sync_cv);
        pthread_mutex_unlock(&w->d->sync_mu);
}

int
sq_write(struct sq_db *d, db_job_fn fn, void *arg)
{
        struct sync_wait w = { .d = d };
        struct db_job job = { .fn = fn, .arg = arg, .done = sync_done, .done_arg = &w };

        sq_submit(d, &job);
        pthread_mutex_lock(&d->sync_mu);
        while (!w.done)
                pthread_cond_wait(&d->sync_cv, &d->sync_mu);
        pthread_mutex_unlock(&d->sync_mu);
        return w.result;
}

/* ---- readers ---- */

struct db_conn *
sq_reader_acquire(struct sq_db *d)
{
        struct db_conn *c;

        pthread_mutex_lock(&d->pool_mu);
        while (d->free_readers == NULL)
                pthread_cond_wait(&d->pool_cv, &d->pool_mu);
        c = d->free_readers;
        d->free_readers = c->next_free;
        d->busy_readers++;
        pthread_mutex_unlock(&d->pool_mu);
        return c;
}

void
sq_reader_release(struct sq_db *d, struct db_conn *c)
{
        sq_read_end(c);
        pthread_mutex_lock(&d->pool_mu);
        c->next_free = d->free_readers;
        d->free_readers = c;
        d->busy_readers--;
        pthread_cond_signal(&d->pool_cv);
        pthread_mutex_unlock(&d->pool_mu);
}

int
sq_read(struct sq_db *d, db_job_fn fn, void *arg)
{
        struct db_conn *c = sq_reader_acquire(d);
        int rc = fn(c, arg);

        sq_reader_release(d, c);
        return rc;
}

void
sq_reader_counts(struct sq_db *d, int *ret_busy, int *ret_total)
{
        pthread_mutex_lock(&d->pool_mu);
        *ret_busy = d->busy_readers;
        *ret_total = d->nreaders;
        pthread_mutex_unlock(&d->pool_mu);
}

bool
sq_disk_full(void)
{
        return atomic_load(&disk_full);
}

/* ---- checkpoints ---- */

static int64_t
wal_bytes(const struct sq_db *d)
{
        char p[4096];
        struct stat sb;

        snprintf(p, sizeof(p), "%s-wal", d->path);
        return stat(p, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

/* Whether the WAL (wal bytes) passes its bound by free space: a quarter of
 * the space left to it (what is free plus its own size). A small disk must
 * not fill up with a WAL that waits for its timer or for
 * wal_checkpoint_bytes. */
static bool
wal_crowds_disk(const struct sq_db *d, int64_t wal)
{
        int64_t free = d->opt.free_bytes != NULL ? d->opt.free_bytes(d->path) : -1;

        return free >= 0 && wal > (free + wal) / 4;
}

int
sq_checkpoint(struct sq_db *d, int mode)
{
        int log_frames = 0, done_frames = 0;
        int rc;

        pthread_mutex_lock(&d->ck_mu);
        rc = sqlite3_wal_checkpoint_v2(d->checkpointer->h, NULL, mode, &log_frames, &done_frames);
        if (rc == SQLITE_OK)
                atomic_store(&d->ck_done, done_frames);
        pthread_mutex_unlock(&d->ck_mu);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
                sq_log_error(d->checkpointer, "checkpoint");
                return -1;
        }
        log_msg(LOG_DEBUG, "checkpoint", "checkpoint mode %d: %d of %d WAL frames", mode,
                done_frames, log_frames);
        return 0;
}

/* Whether the checkpointer has frames to copy (see writer_checkpoint):
 * frames in the WAL, done of them copied (more than frames: counted before
 * the WAL restarted, so none). */
static bool
copy_due(const struct sq_db *d, int frames, int done)
{
        int64_t c = d->opt.wal_checkpoint_bytes;

        if (done > frames)
                done = 0;

        return frames_bytes(d, frames - done) > c ||
               (frames_bytes(d, frames) > WAL_RESTART * c && frames - done > CATCHUP_FRAMES);
}

/* sqlite3_wal_hook of the writer: after each commit, how many frames the
 * WAL holds. Only stored, and the checkpointer woken when it has work: the
 * writer never waits on it, and is not preempted by it at every commit. */
static int
on_wal_commit(void *arg, struct sqlite3 *h, const char *dbname, int frames)
{
        struct sq_db *d = arg;
        int done = atomic_load(&d->ck_done);

        (void)h;
        (void)dbname;
        atomic_store(&d->wal_frames, frames);
        if (copy_due(d, frames, done) && !atomic_exchange(&d->ck_kicked, true))
                sem_post(&d->ck_kick);
        return SQLITE_OK;
}

/* Checkpoints (PASSIVE: beside the writer) as soon as the writer's commit
 * leaves frames to copy (on_wal_commit kicks it), and every
 * checkpoint_interval_s when anything was written since; see
 * writer_checkpoint for how the WAL then restarts. The thread is
 * SCHED_BATCH: background work that does not preempt the writer or the
 * HTTP threads when it wakes. */
static void *
checkpointer_main(void *arg)
{
        struct sq_db *d = arg;
        int64_t last = ts_monotonic_ms();
        struct sched_param batch = { .sched_priority = 0 };

        pthread_setname_np(pthread_self(), "db-checkpoint");
        pthread_setschedparam(pthread_self(), SCHED_BATCH, &batch); /* best effort */
        while (!atomic_load(&d->ck_stopping)) {
                struct timespec until;
                int64_t now, wal;
                int frames, done;
                bool due, crowded;

                clock_gettime(CLOCK_MONOTONIC, &until);
                until.tv_sec += 1;
                sem_clockwait(&d->ck_kick, CLOCK_MONOTONIC, &until);
                atomic_store(&d->ck_kicked, false);
                if (atomic_load(&d->ck_stopping))
                        break;
                now = ts_monotonic_ms();
                frames = atomic_load(&d->wal_frames);
                done = atomic_load(&d->ck_done);
                if (frames < done)
                        done = 0; /* the WAL restarted */
                wal = wal_bytes(d);
                crowded = wal > 0 && wal_crowds_disk(d, wal);
                due = (d->opt.checkpoint_interval_s > 0 && frames != done &&
                       now - last >= (int64_t)d->opt.checkpoint_interval_s * 1000) ||
                      copy_due(d, frames, done) || crowded;
                if (!due)
                        continue;
                /* Short of space, the file itself must shrink: TRUNCATE waits
                 * for readers and the writer (busy timeout) to do so. */
                sq_checkpoint(d, crowded ? SQLITE_CHECKPOINT_TRUNCATE : SQLITE_CHECKPOINT_PASSIVE);
                last = now;
        }
        return NULL;
}

void
sq_stats(struct sq_db *d, struct db_stats *ret)
{
        *ret = (struct db_stats){
                .busy = atomic_load(&d->busy_count),
                .jobs_committed = atomic_load(&d->jobs_committed),
                .jobs_rolled_back = atomic_load(&d->jobs_rolled_back),
                .jobs_failed = atomic_load(&d->jobs_failed),
                .batches = atomic_load(&d->batches),
                .reruns = atomic_load(&d->reruns),
                .refused = atomic_load(&d->refused),
                .wal_copies = atomic_load(&d->wal_copies),
                .wal_copy_frames = atomic_load(&d->wal_copy_frames),
                .wal_copy_us = atomic_load(&d->wal_copy_us),
                .wal_waits = atomic_load(&d->wal_waits),
                .queue_limit = d->opt.max_queue,
                .wal_bytes = wal_bytes(d),
        };
        pthread_mutex_lock(&d->q_mu);
        ret->queue_length = d->q_len;
        pthread_mutex_unlock(&d->q_mu);
        sq_reader_counts(d, &ret->readers_busy, &ret->readers_total);
}

/* ---- lifecycle ---- */

static int
open_readers(struct sq_db *d)
{
        d->readers = calloc((size_t)d->opt.pool_size, sizeof(*d->readers));
        if (d->readers == NULL)
                return -1;
        for (int i = 0; i < d->opt.pool_size; i++) {
                d->readers[i] = sq_conn_open(&d->opt, true);
                if (d->readers[i] == NULL)
                        return -1;
                d->readers[i]->busy_count = &d->busy_count;
                d->nreaders++;
                d->readers[i]->next_free = d->free_readers;
                d->free_readers = d->readers[i];
        }
        return 0;
}

/* The page size of c's database (for the WAL's size in bytes). */
static int
page_size_of(struct db_conn *c)
{
        sqlite3_stmt *ps = NULL;
        int size = 4096;

        if (sqlite3_prepare_v2(c->h, "PRAGMA page_size", -1, &ps, NULL) == SQLITE_OK &&
            sqlite3_step(ps) == SQLITE_ROW)
                size = sqlite3_column_int(ps, 0);
        sqlite3_finalize(ps);
        return size;
}

int
sq_open(const struct db_options *opt, struct sq_db **ret_db)
{
        struct sq_db *d = calloc(1, sizeof(*d));

        if (d == NULL)
                return -1;
        pthread_mutex_init(&d->pool_mu, NULL);
        pthread_cond_init(&d->pool_cv, NULL);
        pthread_mutex_init(&d->q_mu, NULL);
        pthread_cond_init(&d->q_cv, NULL);
        pthread_mutex_init(&d->ck_mu, NULL);
        sem_init(&d->ck_kick, 0, 0);
        pthread_mutex_init(&d->sync_mu, NULL);
        pthread_cond_init(&d->sync_cv, NULL);
        d->path = opt->path;
        d->opt = *opt;
        if (d->opt.pool_size < 1)
                d->opt.pool_size = 1;
        d->writer = sq_conn_open(&d->opt, false);
        if (d->writer == NULL)
                goto fail;
        d->writer->busy_count = &d->busy_count;
        d->page_size = page_size_of(d->writer);
        sqlite3_wal_hook(d->writer->h, on_wal_commit, d);
        d->checkpointer = sq_conn_open(&d->opt, false);
        if (d->checkpointer == NULL || open_readers(d) != 0)
                goto fail;
        if (pthread_create(&d->writer_thread, NULL, writer_main, d) != 0)
                goto fail;
        d->writer_started = true;
        if (pthread_create(&d->ck_thread, NULL, checkpointer_main, d) != 0)
                goto fail;
        d->ck_started = true;
        *ret_db = d;
        return 0;
fail:
        sq_close(d);
        return -1;
}

void
sq_close(struct sq_db *d)
{
        if (d == NULL)
                return;
        pthread_mutex_lock(&d->q_mu);
        d->stopping = true;
        pthread_cond_broadcast(&d->q_cv);
        pthread_mutex_unlock(&d->q_mu);
        if (d->writer_started)
                pthread_join(d->writer_thread, NULL);
        d->writer_started = false;
        atomic_store(&d->ck_stopping, true);
        sem_post(&d->ck_kick);
        if (d->ck_started)
                pthread_join(d->ck_thread, NULL);
        for (int i = 0; i < d->nreaders; i++)
                sq_conn_close(d->readers[i]);
        free(d->readers);
        if (d->checkpointer != NULL && d->opt.wal_mode)
                sq_checkpoint(d, SQLITE_CHECKPOINT_TRUNCATE);
        sq_conn_close(d->checkpointer);
        sq_conn_close(d->writer);
        pthread_mutex_destroy(&d->pool_mu);
        pthread_cond_destroy(&d->pool_cv);
        pthread_mutex_destroy(&d->q_mu);
        pthread_cond_destroy(&d->q_cv);
        pthread_mutex_destroy(&d->ck_mu);
        sem_destroy(&d->ck_kick);
        pthread_mutex_destroy(&d->sync_mu);
        pthread_cond_destroy(&d->sync_cv);
        free(d);
}
