/* The SQLite backend (the embedded default), internal to db/: the database
 * manager of db.h for a database file, as postgres.h is for a PostgreSQL
 * server. db.c dispatches each db_* call to the sq_* function of the same
 * name when the process runs on SQLite; nothing outside db/ includes this.
 *
 * On SQLite a struct db_conn is the connection itself (sqlite.c defines it)
 * and a struct db_stmt is the cached sqlite3_stmt. The one-line wrappers
 * over sqlite3_bind_* and sqlite3_column_* are inline below, so that on the
 * hottest calls the seam costs db.c's branch and no call. */
#ifndef TRADESTORE_SQLITE_H
#define TRADESTORE_SQLITE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

struct sq_db;

/* As db_open for opt->path, without the admin thread (db.c owns it). opt
 * is copied; the strings it points to are borrowed for the life of the
 * result. Returns 0, or -1 with nothing left open (the caller logs the
 * failure). */
int sq_open(const struct db_options *opt, struct sq_db **ret_db);
void sq_close(struct sq_db *d); /* accepts NULL and a half-built d */

/* As db_submit, db_write, db_read, db_reader_acquire, db_reader_release,
 * db_reader_counts, db_stats and db_checkpoint. */
void sq_submit(struct sq_db *d, struct db_job *job);
int sq_write(struct sq_db *d, db_job_fn fn, void *arg);
int sq_read(struct sq_db *d, db_job_fn fn, void *arg);
struct db_conn *sq_reader_acquire(struct sq_db *d);
void sq_reader_release(struct sq_db *d, struct db_conn *c);
void sq_reader_counts(struct sq_db *d, int *ret_busy, int *ret_total);
void sq_stats(struct sq_db *d, struct db_stats *ret);
int sq_checkpoint(struct sq_db *d, int mode);

/* As db_disk_full: process-wide. */
bool sq_disk_full(void);

/* As db_conn_open, db_conn_close, db_read_begin, db_read_end, db_changes,
 * db_handle and db_log_error, for connections of this backend. */
struct db_conn *sq_conn_open(const struct db_options *opt, bool read_only);
void sq_conn_close(struct db_conn *c);
int sq_read_begin(struct db_conn *c);
void sq_read_end(struct db_conn *c);
int64_t sq_changes(struct db_conn *c);
struct sqlite3 *sq_handle(struct db_conn *c);
void sq_log_error(struct db_conn *c, const char *what);

/* The statement interface of db.h, for connections of this backend. */
struct db_stmt *sq_stmt(struct db_conn *c, const char *sql);
void sq_stmt_done(struct db_stmt *st);
int sq_step(struct db_stmt *st);

static inline sqlite3_stmt *
sq_raw(struct db_stmt *st)
{
        return (sqlite3_stmt *)st;
}

static inline void
sq_bind_int64(struct db_stmt *st, int i, int64_t v)
{
        sqlite3_bind_int64(sq_raw(st), i, v);
}

static inline void
sq_bind_text(struct db_stmt *st, int i, const char *v)
{
        sqlite3_bind_text(sq_raw(st), i, v, -1, SQLITE_STATIC);
}

static inline void
sq_bind_null(struct db_stmt *st, int i)
{
        sqlite3_bind_null(sq_raw(st), i);
}

static inline int64_t
sq_column_int64(struct db_stmt *st, int col)
{
        return sqlite3_column_int64(sq_raw(st), col);
}

static inline bool
sq_column_null(struct db_stmt *st, int col)
{
        return sqlite3_column_type(sq_raw(st), col) == SQLITE_NULL;
}

/* The text of col, "" for NULL. */
static inline const char *
sq_column_str(struct db_stmt *st, int col)
{
        const unsigned char *t = sqlite3_column_text(sq_raw(st), col);

        return t != NULL ? (const char *)t : "";
}

static inline size_t
sq_column_bytes(struct db_stmt *st, int col)
{
        return (size_t)sqlite3_column_bytes(sq_raw(st), col);
}

#endif
