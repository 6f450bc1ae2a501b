/* The PostgreSQL backend (libpq): the same jobs, reads and statements as the
 * SQLite manager in db/sqlite.c, over a pool of connections to one server.
 *
 * Writes: a job runs in its own SERIALIZABLE transaction on a pooled
 * connection, on one of the pool's worker threads (db_submit) or the calling
 * thread (pg_write); PostgreSQL's WAL does the group commit. A transaction
 * that fails with a serialization failure or a deadlock (SQLSTATE 40001,
 * 40P01) is rolled back and run again, a bounded number of times, before its
 * caller gets DB_UNAVAILABLE. SERIALIZABLE makes each job's reads and writes
 * behave as if jobs ran one at a time, as they do on SQLite's single writer,
 * so repo/'s read-modify-write jobs need no backend-specific locking.
 * A job's BEGIN is sent with its first statement, and its deferred writes
 * (db_step_deferred) with its next statement or its COMMIT, in libpq's
 * pipeline mode: one round trip each time (postgres.c, "pipeline mode").
 *
 * Reads run on a pooled connection outside any transaction (each statement
 * sees committed data), or inside a REPEATABLE READ snapshot when the read
 * calls db_read_begin.
 *
 * Statements are written once with SQLite's ?N placeholders; pg_stmt
 * rewrites them to $N and prepares them once per connection, cached by the
 * address of the SQL text like db/sqlite.c's cache. */
#ifndef TRADESTORE_POSTGRES_H
#define TRADESTORE_POSTGRES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "db/db.h"

struct pg_db;
struct pg_conn;
struct pg_stmt;

struct pg_options {
        const char *url;       /* libpq connection URI or keyword string */
        int pool_size;         /* connections, >= 1 */
        int workers;           /* threads running submitted jobs, >= 1 */
        int connect_timeout_s; /* retry an unreachable server this long */
        int max_queue;         /* submitted jobs waiting at most; 0 = no bound */
        int max_retries;       /* reruns of a job after 40001/40P01 */
};

/* Connects (retrying an unreachable server with backoff for
 * connect_timeout_s), opens the pool and starts the workers. On failure
 * returns -1 with libpq's reason in err (one line, no password). */
int pg_open(const struct pg_options *opt, struct pg_db **ret, char *err, size_t errlen);
void pg_close(struct pg_db *d);

/* As db_write, db_submit and db_read. */
int pg_write(struct pg_db *d, db_job_fn fn, void *arg);
void pg_submit(struct pg_db *d, struct db_job *job);
int pg_read(struct pg_db *d, db_job_fn fn, void *arg);

/* Lends a pooled connection (waiting while all are in use) and takes it
 * back, ending a read transaction left open; a connection the server
 * dropped is reset on its way back. */
struct pg_conn *pg_acquire(struct pg_db *d);
void pg_release(struct pg_db *d, struct pg_conn *c);

/* One connection outside the pool (migrations, the CLI). NULL with err. */
struct pg_conn *pg_conn_open(const char *url, int connect_timeout_s, char *err, size_t errlen);
void pg_conn_close(struct pg_conn *c);

/* Runs sql (several statements allowed, no parameters) on c. 0 or -1 with
 * the server's message in err. */
int pg_exec(struct pg_conn *c, const char *sql, char *err, size_t errlen);

struct migration;

/* Brings the database up to m's latest version under a session advisory
 * lock (instances starting together migrate it once). The same checks as
 * migrate_apply (db/migrate.h). Returns 0 with *ret_applied, or -1 with the
 * reason in err. */
int pg_migrate(struct pg_conn *c, const struct migration *m, size_t n, int *ret_applied, char *err,
               size_t errlen);

/* Prints migrate_status's lines for m (db/migrate.h). 0 or -1 (logged). */
int pg_migrate_status(struct pg_conn *c, const struct migration *m, size_t n, FILE *out);

/* The statement interface of db.h, for connections of this backend. */
struct pg_stmt *pg_stmt(struct pg_conn *c, const char *sql);
void pg_stmt_done(struct pg_stmt *st);
void pg_bind_int64(struct pg_stmt *st, int i, int64_t v);
void pg_bind_text(struct pg_stmt *st, int i, const char *v);
void pg_bind_null(struct pg_stmt *st, int i);
int pg_step(struct pg_stmt *st);
/* db_step_deferred (db.h) for this backend. */
int pg_step_deferred(struct pg_stmt *st);
int64_t pg_column_int64(struct pg_stmt *st, int col);
bool pg_column_null(struct pg_stmt *st, int col);
const char *pg_column_str(struct pg_stmt *st, int col);
int64_t pg_changes(struct pg_conn *c);
/* db_job_locks_rows and db_job_retry (db.h) for this backend. */
void pg_read_committed(struct pg_conn *c);
void pg_retry(struct pg_conn *c);

/* Whether the transaction on c met a serialization failure or deadlock and
 * will be run again (its errors are expected, not worth an error line). */
bool pg_retrying(const struct pg_conn *c);
int pg_read_begin(struct pg_conn *c);
void pg_read_end(struct pg_conn *c);

/* ?N -> $N outside string literals and quoted names. out holds at least
 * strlen(sql) + 1 bytes ('?' and '$' are one byte each). */
void pg_translate(const char *sql, char *out);

/* url with any password replaced by "****" (for `tradestore config` and
 * logs). Writes at most cap bytes, NUL-terminated. */
void pg_mask_url(const char *url, char *out, size_t cap);

/* 0 when libpq can parse url, else -1 with the reason in err (never the
 * password). */
int pg_url_check(const char *url, char *err, size_t errlen);

/* Counters, as db_stats. */
void pg_stats(struct pg_db *d, struct db_stats *ret);

#endif
