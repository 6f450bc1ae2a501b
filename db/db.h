/* The database manager: connections, prepared statements with
 * bind/step/column, read transactions, write jobs, the reader pool and
 * maintenance; the one interface that repo/ and server/ use, whatever the
 * backend. Two backends implement it, one per process: SQLite
 * (db/sqlite.c, the embedded default: connections and their pragmas, the
 * single writer thread with group commit, the read-only reader pool, the
 * per-connection prepared-statement cache and the background checkpointer)
 * and PostgreSQL (db/postgres.c, chosen by database.url). db/db.c is the
 * seam: each function here calls the backend chosen by the process's first
 * db_open or db_conn_open.
 *
 * Writes: callers hand a job (a function and its argument) to the writer
 * thread. The writer runs every job that is waiting in one transaction and
 * commits once for the batch. A job whose function returns non-zero is
 * rolled back alone; its siblings still commit. Jobs run without a savepoint
 * first; when one fails after writing, the batch is rolled back and run
 * again with a SAVEPOINT around each job (run_job_fast in sqlite.c says
 * why). A job's completion is reported only after the batch's COMMIT. On
 * PostgreSQL a job runs in its own transaction on a pooled connection
 * instead (postgres.h); the caller waits for it the same way.
 *
 * Reads: db_reader_acquire() lends a read-only connection from the pool. */
#ifndef TRADESTORE_DB_H
#define TRADESTORE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sqlite3;
struct sqlite3_stmt;
struct db;
struct db_conn;

struct db_options {
        const char *path;             /* database file; borrowed for db_open */
        const char *url;              /* PostgreSQL URI instead of path, or NULL/"" */
        int connect_timeout_s;        /* PostgreSQL: retry an unreachable server */
        bool wal_mode;                /* journal_mode=WAL (else DELETE) */
        int pool_size;                /* read-only connections, >= 1 */
        int busy_timeout_ms;          /* sqlite3_busy_timeout on every connection */
        int cache_size;               /* PRAGMA cache_size (pages when > 0) */
        const char *temp_store;       /* "default" | "file" | "memory" */
        const char *synchronous;      /* "off" | "normal" | "full" | "extra" */
        const char *auto_vacuum;      /* "none" | "full" | "incremental" */
        int checkpoint_interval_s;    /* passive checkpoint period; 0 disables timer */
        int64_t wal_checkpoint_bytes; /* checkpoint early once the WAL passes this */
        int max_queue;                /* jobs waiting for the writer at most; 0 = no bound */
        /* Bytes free on the database's disk, or -1 (storage_free_bytes: statvfs;
         * tests substitute). The WAL is also checkpointed before it takes a
         * quarter of the space left to it. NULL: no free-space bound. */
        int64_t (*free_bytes)(const char *path);
};

/* How often a connection waiting for SQLite's write lock tries again. */
#define DB_BUSY_POLL_MS 10

/* Job result reported when the batch's COMMIT failed: nothing of the job was
 * written. Job functions must return values >= 0. */
#define DB_COMMIT_FAILED (-1)
/* Job result reported when the manager is shutting down or cannot run it. */
#define DB_UNAVAILABLE (-2)
/* Job result reported at once, without running it, when max_queue jobs are
 * already waiting for the writer: the caller should shed load. */
#define DB_OVERLOADED (-3)

/* A unit of write work. Returns 0 to keep its changes, > 0 to roll back its
 * own work; the value is passed through to the caller. Runs on the writer
 * thread with c in a transaction; must not BEGIN/COMMIT itself. A job may run
 * more than once (when its batch is rolled back and rerun because another
 * job failed after writing): it must set every output afresh on each run and
 * free what an earlier run left in them. */
typedef int (*db_job_fn)(struct db_conn *c, void *arg);

/* An asynchronous job. The caller owns the struct and keeps it alive until
 * done is called (on the writer thread, after COMMIT or rollback) with the
 * job's result or DB_COMMIT_FAILED / DB_UNAVAILABLE. done must not block. */
struct db_job {
        db_job_fn fn;
        void *arg;
        void (*done)(struct db_job *job, int result);
        void *done_arg;
        struct db_job *next; /* owned by the queue */
};

/* Opens the writer and pool_size readers with the configured pragmas, starts
 * the writer and checkpointer threads. The schema must already be migrated.
 * On success *ret_db is owned by the caller (db_close). Returns 0, or -1
 * after logging what failed; nothing is left open on failure. */
int db_open(const struct db_options *opt, struct db **ret_db);

/* Stops accepting jobs, drains and runs the queued ones, stops the threads,
 * runs a TRUNCATE checkpoint and closes every connection. Accepts NULL. */
void db_close(struct db *d);

/* Queues job for the writer. Never blocks on the database. When the queue
 * is at opt.max_queue, calls done(job, DB_OVERLOADED) at once instead. */
void db_submit(struct db *d, struct db_job *job);

/* Runs fn(c, arg) on the writer and waits for its batch to commit. Returns
 * fn's result, DB_COMMIT_FAILED or DB_UNAVAILABLE. */
int db_write(struct db *d, db_job_fn fn, void *arg);

/* Queues job for the admin thread (db/admin.h): long operator work on a
 * read-write connection of its own, outside any transaction, one job at a
 * time; done is called there with fn's result, DB_OVERLOADED when
 * DB_ADMIN_QUEUE jobs already wait, or DB_UNAVAILABLE. A job may itself
 * call db_write (cleanup in batches) and db_read. */
void db_admin_submit(struct db *d, struct db_job *job);

/* Runs fn(c, arg) on a read-only connection and returns fn's result. The
 * one way request code reads: it never holds a connection itself. fn may
 * call db_read_begin for a snapshot across statements; it is ended here.
 * The pool has a connection for every HTTP thread (service_db_options), so a
 * request thread does not wait for one. */
int db_read(struct db *d, db_job_fn fn, void *arg);

/* Lends a read-only connection, waiting while all are in use. Return it with
 * db_reader_release. Never NULL. For tests and tools; services use db_read. */
struct db_conn *db_reader_acquire(struct db *d);
void db_reader_release(struct db *d, struct db_conn *c);

/* Readers in use and in total (for /health and metrics). */
void db_reader_counts(struct db *d, int *ret_busy, int *ret_total);

/* ---- Statements: the one interface repo/ speaks, whatever the backend ----
 * SQL is written once with numbered placeholders ?1, ?2 ... (SQLite's own
 * form; translated where a backend spells them otherwise). */
struct db_stmt;

/* db_step results: a row is ready, or the statement has finished. */
#define DB_ROW 1
#define DB_DONE 0
/* db_step failures (negative), by what the caller may do about them. */
enum db_step_error {
        DB_E_ERROR = -100,  /* anything else; db_log_error says what */
        DB_E_UNIQUE = -101, /* a primary key or unique constraint */
        DB_E_CHECK = -102,  /* a CHECK constraint */
        DB_E_FOREIGN_KEY = -103,
        DB_E_NOT_NULL = -104,
        DB_E_BUSY = -105, /* a lock held elsewhere; retry later */
        DB_E_FULL = -106, /* the disk is full */
};

/* The statement for sql on c, prepared once and cached by the address of
 * sql (which must be a static string). Borrowed: release with db_stmt_done,
 * which resets it and clears its bindings. NULL after logging on error. */
struct db_stmt *db_stmt(struct db_conn *c, const char *sql);
void db_stmt_done(struct db_stmt *st); /* accepts NULL */

/* Parameters are numbered from 1. Text is borrowed until db_stmt_done. */
void db_bind_int64(struct db_stmt *st, int i, int64_t v);
void db_bind_text(struct db_stmt *st, int i, const char *v);
void db_bind_null(struct db_stmt *st, int i);

/* DB_ROW, DB_DONE or a db_step_error. */
int db_step(struct db_stmt *st);

/* Steps st, a write that returns no rows and whose outcome the job needs
 * only as the job's success: db_step, except that on PostgreSQL, in a write
 * job, it returns DB_DONE without waiting; the statement goes to the server
 * with the job's next statement or its COMMIT, in one round trip (pipeline
 * mode). If it fails, nothing of the job commits and the job is run again
 * with every statement waited for, so that db_step reports the failure
 * where the caller looks for it. db_changes says nothing about it. */
int db_step_deferred(struct db_stmt *st);

/* Columns of the current row, numbered from 0. */
int64_t db_column_int64(struct db_stmt *st, int col);
bool db_column_null(struct db_stmt *st, int col);
/* The text of col ("" for NULL), valid until the next step or done. */
const char *db_column_str(struct db_stmt *st, int col);
/* Copies text column col into dst (cap bytes, always NUL-terminated: ""
 * for NULL, cut short when too long). True when not NULL and it fit whole. */
bool db_column_text(struct db_stmt *st, int col, char *dst, size_t cap);

/* Whether this process runs on PostgreSQL (database.url) rather than SQLite. */
bool db_is_postgres(void);

/* The text of a query whose dialects differ: sqlite_sql or pg_sql for the
 * backend in use. Both static strings, written side by side in repo/. */
const char *db_sql(const char *sqlite_sql, const char *pg_sql);

/* Called first in a write job that reads every row it changes with a
 * locking read (db_sql(..., "... FOR UPDATE")), always in the same order
 * (orders, then positions): on PostgreSQL the job then runs at READ
 * COMMITTED, and concurrent jobs on the same rows wait for each other
 * instead of failing and rerunning as SERIALIZABLE ones would. A no-op on
 * SQLite, whose one writer runs jobs one at a time. */
void db_job_locks_rows(struct db_conn *c);

/* Asks for the job to be run again from the start in a new transaction
 * (PostgreSQL: a row another transaction inserted meanwhile, e.g. the first
 * position of a symbol). The job must then return non-zero. A no-op on
 * SQLite. */
void db_job_retry(struct db_conn *c);

/* Rows changed by the last INSERT, UPDATE or DELETE on c. */
int64_t db_changes(struct db_conn *c);

/* The raw handle, borrowed for as long as c is held. */
struct sqlite3 *db_handle(struct db_conn *c);

/* Logs sqlite3_errmsg of c with what (never sent to clients). */
void db_log_error(struct db_conn *c, const char *what);

/* Read transaction helpers for multi-statement reads on a reader. Return 0
 * or -1 (logged). db_read_end always ends the transaction. */
int db_read_begin(struct db_conn *c);
void db_read_end(struct db_conn *c);

/* Counters since db_open, for metrics. */
struct db_stats {
        unsigned long busy;             /* waits on a lock held by another process */
        unsigned long jobs_committed;   /* write jobs whose changes committed */
        unsigned long jobs_rolled_back; /* jobs that rolled their own work back */
        unsigned long jobs_failed;      /* jobs lost to a failed COMMIT or an error */
        unsigned long batches;          /* write transactions (group commits) */
        unsigned long reruns;           /* batches rerun with a savepoint per job */
        unsigned long refused;          /* jobs refused with DB_OVERLOADED */
        unsigned long wal_copies;       /* SQLite: the writer's copies of the WAL's rest */
        unsigned long wal_copy_frames;  /* the frames those copies had left to copy */
        unsigned long wal_copy_us;      /* the time writes waited for them */
        unsigned long wal_waits;        /* of them after waiting for a checkpointer's pass */
        int queue_length;               /* jobs waiting for the writer now */
        int queue_limit;                /* opt.max_queue; 0 = no bound */
        int readers_busy;
        int readers_total;
        int64_t wal_bytes;
};
void db_stats(struct db *d, struct db_stats *ret);

/* Whether a connection of this process met a full disk (SQLITE_FULL) and no
 * write has committed since: the reason writes fail, for answers and
 * /health. Process-wide (d is for the callers' symmetry). */
bool db_disk_full(struct db *d);
#define DB_DISK_FULL_DETAIL                                                                        \
        "disk full: the database's disk has no space left; nothing of this request was"            \
        " written; retry once space is freed"

/* The database path as opened. Borrowed for the life of d. */
const char *db_path(const struct db *d);

/* Runs a checkpoint now on a dedicated connection: mode is
 * SQLITE_CHECKPOINT_PASSIVE/FULL/RESTART/TRUNCATE. Returns 0 or -1. */
int db_checkpoint(struct db *d, int mode);

/* Opens one connection with the pragmas of opt (read_only selects a
 * read-only connection). For the CLI, migrations and tests. Caller owns the
 * result: free with db_conn_close. NULL after logging on error. */
struct db_conn *db_conn_open(const struct db_options *opt, bool read_only);
void db_conn_close(struct db_conn *c);

/* Fills opt with the defaults of the configuration reference. path is
 * borrowed. */
void db_options_default(struct db_options *opt, const char *path);

#endif
