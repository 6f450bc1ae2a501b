/* Operator work on the database: statistics, retention cleanup, ANALYZE,
 * VACUUM, checkpoints and online backups.
 *
 * Every function here works on a plain struct db_conn, so the HTTP handlers
 * (through writer jobs or dedicated connections) and the CLI (on connections
 * from db_conn_open, with no database manager running, possibly next to a
 * server using the same file) share them. Each function says which kind of
 * connection it needs:
 *   - "in the caller's transaction": a write job on the writer, or the CLI
 *     between its own BEGIN IMMEDIATE and COMMIT;
 *   - "outside any transaction": a dedicated connection (VACUUM, checkpoint);
 *   - "a reader": any connection, read-only is enough. */
#ifndef TRADESTORE_REPO_ADMIN_H
#define TRADESTORE_REPO_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/repo.h"

struct db;
struct db_conn;

/* Rows deleted per writer job (or per CLI transaction) by default: small
 * enough that a batch never holds the writer for long. */
#define ADMIN_CLEANUP_BATCH 1000

/* ---- statistics ---- */

struct admin_stats {
        int64_t page_count;
        int64_t page_size;
        int64_t freelist_count;
        int64_t size_bytes; /* page_count * page_size */
        int64_t wal_bytes;  /* size of the -wal file; 0 when there is none */
        int64_t quotes, orders, fills, positions, account_balances, outbox; /* rows */
        bool postgres; /* PostgreSQL: only size_bytes and the rows mean anything */
};

/* Reads the page counts and every table's row count in one statement (one
 * consistent snapshot) on a reader, and stat()s db_path's -wal file.
 * Counting rows visits each table's smallest index: fine for an operator,
 * not for a hot path. REPO_OK and *ret filled, or REPO_ERROR (logged). */
enum repo_status repo_admin_stats(struct db_conn *c, const char *db_path, struct admin_stats *ret);

/* ---- retention cleanup ---- */

/* Days rows are kept; 0 keeps forever. */
struct admin_retention {
        int quote_days;  /* expired/cancelled quotes, by updated_at */
        int fill_days;   /* fills, by created_at (when the server recorded them) */
        int outbox_days; /* processed events, by processed_at */
};

struct admin_cleanup {
        int64_t quotes;
        int64_t fills;
        int64_t outbox;
        /* repo_admin_cleanup_conn only: its batches (transactions), and the
         * longest time one held the write lock (from its BEGIN's success to
         * its COMMIT), in ms. */
        int64_t batches;
        int64_t longest_ms;
};

/* Deletes at most limit rows in all (quotes first, then fills, then outbox
 * events) that are past retention at now_us. A quote that an order
 * references is never deleted. Runs in the caller's transaction. REPO_OK and
 * *ret_batch set to this batch's rows (fewer than limit in all means nothing
 * is left), or REPO_ERROR (logged; roll the transaction back). */
enum repo_status repo_admin_cleanup_batch(struct db_conn *c, const struct admin_retention *r,
                                          int64_t now_us, int limit,
                                          struct admin_cleanup *ret_batch);

/* Runs cleanup batches of limit rows, each as its own writer job through
 * db_write so other writes interleave, until none is left or should_stop
 * (may be NULL) returns true between batches. now_us is fixed for the whole
 * run, so rows that age past retention meanwhile wait for the next run and
 * the loop always ends. REPO_OK and *ret_total set to the rows deleted, or
 * REPO_ERROR (logged with what had been committed; *ret_total untouched). */
enum repo_status repo_admin_cleanup_writer(struct db *d, const struct admin_retention *r,
                                           int64_t now_us, int limit,
                                           bool (*should_stop)(void *cls), void *cls,
                                           struct admin_cleanup *ret_total);

/* The same on a plain read-write connection (the CLI): each batch inside its
 * own BEGIN IMMEDIATE ... COMMIT, so a server using the same file gets the
 * write lock between batches. c must be outside any transaction. REPO_OK
 * and *ret_total set, REPO_BUSY when the write lock could not be had within
 * the busy timeout, or REPO_ERROR (logged); on failure *ret_total is
 * untouched and the batches committed before stay deleted (logged). */
enum repo_status repo_admin_cleanup_conn(struct db_conn *c, const struct admin_retention *r,
                                         int64_t now_us, int limit,
                                         struct admin_cleanup *ret_total);

/* The cleanup DELETE statements, for EXPLAIN QUERY PLAN in tests. Static
 * strings; *ret_n is their count. */
const char *const *repo_admin_cleanup_sql(size_t *ret_n);

/* ---- planner statistics ---- */

/* ANALYZE of every table, bounded by analysis_limit so it never holds the
 * writer for long. Runs in the caller's transaction (or in autocommit).
 * REPO_OK or REPO_ERROR (logged). */
enum repo_status repo_admin_analyze(struct db_conn *c);

/* PRAGMA optimize: ANALYZE of only the tables that need it. Same rules. */
enum repo_status repo_admin_optimize(struct db_conn *c);

/* The two above as writer jobs for db_write (arg unused). */
int repo_admin_analyze_job(struct db_conn *c, void *arg);
int repo_admin_optimize_job(struct db_conn *c, void *arg);

/* ---- space ---- */

/* Whether the database file is in auto_vacuum=incremental mode (a reader
 * is enough). REPO_OK and *ret set, or REPO_ERROR (logged). */
enum repo_status repo_admin_is_incremental(struct db_conn *c, bool *ret);

/* PRAGMA incremental_vacuum of at most ADMIN_CLEANUP_BATCH free pages.
 * Runs in the caller's transaction (or in autocommit). REPO_OK and
 * *ret_remaining = free pages still left, REPO_BUSY (autocommit only: the
 * write lock could not be had) or REPO_ERROR (logged). Frees nothing unless
 * the file is in auto_vacuum=incremental mode. */
enum repo_status repo_admin_incremental_vacuum(struct db_conn *c, int64_t *ret_remaining);

/* The same loop on a plain read-write connection in autocommit (the CLI):
 * each step is its own short transaction. REPO_OK, REPO_BUSY or REPO_ERROR
 * (logged). */
enum repo_status repo_admin_incremental_vacuum_conn(struct db_conn *c);

/* Frees every free page as writer jobs of ADMIN_CLEANUP_BATCH pages each
 * through db_write, stopping when none is left or a job frees nothing (not
 * in incremental mode). REPO_OK or REPO_ERROR (logged). */
enum repo_status repo_admin_incremental_vacuum_writer(struct db *d);

/* VACUUM: rebuilds the file, returning free pages to the file system and
 * applying the connection's auto_vacuum setting. c must be a dedicated
 * read-write connection outside any transaction; VACUUM takes the write
 * lock, so it waits (busy timeout) for other writers and holds them off
 * while it runs. REPO_OK, REPO_BUSY (the lock could not be had) or
 * REPO_ERROR (logged). */
enum repo_status repo_admin_vacuum(struct db_conn *c);

/* ---- checkpoint ---- */

struct admin_checkpoint {
        bool counted;                /* false: the counts below are unknown */
        int64_t wal_frames;          /* frames in the WAL before the checkpoint */
        int64_t checkpointed_frames; /* of those, copied into the database */
        bool truncated;              /* the WAL was reset to zero bytes */
};

/* A PASSIVE checkpoint (which reports the frame counts) then a TRUNCATE one
 * (which waits, up to the busy timeout, for readers of old snapshots and
 * resets the WAL). c must be a read-write connection outside any
 * transaction. Not in WAL mode: counted, all zero. When another checkpoint
 * (the server's checkpointer) was running at that instant the counts are
 * unknown (counted false) and the TRUNCATE waits for it. REPO_OK and *ret
 * set (a TRUNCATE that could not finish leaves truncated false), or
 * REPO_ERROR (logged). */
enum repo_status repo_admin_checkpoint(struct db_conn *c, struct admin_checkpoint *ret);

/* ---- backup ---- */

/* Copies the database online into dir (created, mode 0750, when missing) as
 * "tradestore-YYYYmmddTHHMMSS.ffffffZ.db" (UTC now, made here): VACUUM INTO
 * a hidden temporary name from a read transaction on reader (a consistent
 * snapshot of every commit before it began; the writer is never blocked),
 * then the copy is switched to journal_mode=DELETE (one self-contained
 * file), must pass PRAGMA integrity_check, is fsync'd and renamed into
 * place, so a file with the final name is always complete. reader may be
 * read-only and must be outside any transaction.
 * REPO_OK with ret_path (cap bytes) and *ret_size set; REPO_INVALID when the
 * copy failed its integrity check, REPO_ERROR for anything else, each with
 * an operator-readable reason in err (no SQLite message: that is logged)
 * and the temporary file removed. */
enum repo_status repo_admin_backup(struct db_conn *reader, const char *dir, char *ret_path,
                                   size_t cap, int64_t *ret_size, char *err, size_t errlen);

/* ---- the admin endpoints' jobs: db_admin_submit runs them on the admin
 * thread, on its read-write connection outside any transaction ---- */

/* Whether the database is PostgreSQL, where VACUUM and checkpoints are
 * autovacuum's and the server's, and backups pg_dump's (API.md). */
bool repo_admin_on_postgres(void);

struct admin_stats_job {
        struct db *d;             /* in */
        struct admin_stats stats; /* out, on REPO_OK */
};
/* repo_admin_stats; returns a repo_status. */
int repo_admin_stats_job(struct db_conn *c, void *arg);

struct admin_maintenance {
        struct db *d;                              /* in */
        struct admin_retention retention;          /* in */
        bool cleanup, analyze, vacuum, checkpoint; /* in: the steps asked for */
        bool incremental;                          /* in: database.auto_vacuum is incremental */
        struct admin_cleanup deleted;              /* out: rows cleanup deleted */
        struct admin_checkpoint ck;                /* out */
        const char *why;                           /* out: why a step failed, or NULL */
        int64_t duration_ms;                       /* out */
};
/* Runs the steps asked for (cleanup, analyze, vacuum, checkpoint, in that
 * order), stopping at the first that fails; logs one line. REPO_OK or
 * REPO_ERROR with why set (a static text for the client). */
int repo_admin_maintenance_job(struct db_conn *c, void *arg);

struct admin_backup_job {
        const char *dir; /* in: database.backup_dir */
        char path[4096]; /* out, on REPO_OK */
        int64_t size;    /* out */
        char err[512];   /* out, otherwise */
};
/* repo_admin_backup on the admin connection; returns a repo_status. */
int repo_admin_backup_job(struct db_conn *c, void *arg);

#endif
