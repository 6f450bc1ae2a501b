/* The backend seam (see db.h): each db_* function calls the backend that
 * the process runs on, SQLite (sqlite.c, the embedded default) or
 * PostgreSQL (postgres.c, when opened with database.url). Both implement
 * the same small interface (sqlite.h, postgres.h): connections, statements
 * and bind/step/column, read transactions, write jobs, readers, stats.
 * What does not depend on the backend lives here: the options' defaults,
 * the admin thread, the name the database goes by, db_column_text.
 *
 * The per-statement calls (db_bind_*, db_step, db_column_*) are on every
 * request's path, so the choice is a plain branch on a process-wide flag
 * (see on_pg), not a call through a table of function pointers, and
 * SQLite's one-line wrappers are inline (sqlite.h). */
#include "db/db.h"

#include "common/log.h"
#include "db/admin.h"
#include "db/postgres.h"
#include "db/sqlite.h"
#include "db/storage.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct db {
        bool postgres;          /* opened with a URL: pg below, not sq */
        struct pg_db *pg;       /* the PostgreSQL backend */
        struct sq_db *sq;       /* the SQLite backend */
        char *url;              /* PostgreSQL: the connection URI, owned */
        struct db_admin *admin; /* long operator work, off the request threads */
        char *path;
        struct db_options opt;
};

/* One backend per process: the first db_open or db_conn_open with a URL
 * makes every connection, statement and job of the process PostgreSQL's
 * (db/postgres.c); the functions below forward to it, and otherwise to
 * SQLite (db/sqlite.c). A statement handle carries no tag of its own (on
 * SQLite it is the sqlite3_stmt itself), hence a flag. */
static atomic_bool on_pg;
#define PG atomic_load_explicit(&on_pg, memory_order_relaxed)
#define PGC(c) ((struct pg_conn *)(c))
#define PGS(st) ((struct pg_stmt *)(st))

void
db_options_default(struct db_options *opt, const char *path)
{
        *opt = (struct db_options){
                .path = path,
                .wal_mode = true,
                .pool_size = 4,
                .busy_timeout_ms = 5000,
                .cache_size = 10000,
                .temp_store = "memory",
                .synchronous = "normal",
                .auto_vacuum = "none",
                .checkpoint_interval_s = 300,
                .wal_checkpoint_bytes = 16LL * 1024 * 1024,
                .free_bytes = storage_free_bytes,
        };
}

/* ---- statements: the interface repo/ speaks (db.h) ---- */

struct db_stmt *
db_stmt(struct db_conn *c, const char *sql)
{
        if (PG)
                return (struct db_stmt *)pg_stmt(PGC(c), sql);
        return sq_stmt(c, sql);
}

void
db_stmt_done(struct db_stmt *st)
{
        if (PG) {
                pg_stmt_done(PGS(st));
                return;
        }
        sq_stmt_done(st);
}

void
db_bind_int64(struct db_stmt *st, int i, int64_t v)
{
        if (PG) {
                pg_bind_int64(PGS(st), i, v);
                return;
        }
        sq_bind_int64(st, i, v);
}

void
db_bind_text(struct db_stmt *st, int i, const char *v)
{
        if (PG) {
                pg_bind_text(PGS(st), i, v);
                return;
        }
        sq_bind_text(st, i, v);
}

void
db_bind_null(struct db_stmt *st, int i)
{
        if (PG) {
                pg_bind_null(PGS(st), i);
                return;
        }
        sq_bind_null(st, i);
}

int
db_step(struct db_stmt *st)
{
        if (PG)
                return pg_step(PGS(st));
        return sq_step(st);
}

/* SQLite runs the statement now; PostgreSQL sends it with the job's next
 * statement or its COMMIT (db.h). */
int
db_step_deferred(struct db_stmt *st)
{
        if (PG)
                return pg_step_deferred(PGS(st));
        return sq_step(st);
}

int64_t
db_column_int64(struct db_stmt *st, int col)
{
        if (PG)
                return pg_column_int64(PGS(st), col);
        return sq_column_int64(st, col);
}

bool
db_column_null(struct db_stmt *st, int col)
{
        if (PG)
                return pg_column_null(PGS(st), col);
        return sq_column_null(st, col);
}

const char *
db_column_str(struct db_stmt *st, int col)
{
        if (PG)
                return pg_column_str(PGS(st), col);
        return sq_column_str(st, col);
}

bool
db_column_text(struct db_stmt *st, int col, char *dst, size_t cap)
{
        bool null = db_column_null(st, col);
        const char *t = null ? NULL : db_column_str(st, col);
        size_t n = t ? (PG ? strlen(t) : sq_column_bytes(st, col)) : 0;
        bool whole = t != NULL && n < cap;

        if (cap == 0)
                return false;
        if (n >= cap)
                n = cap - 1;
        if (n > 0)
                memcpy(dst, t, n);
        dst[n] = '\0';
        return whole;
}

void
db_job_locks_rows(struct db_conn *c)
{
        if (PG)
                pg_read_committed(PGC(c));
}

void
db_job_retry(struct db_conn *c)
{
        if (PG)
                pg_retry(PGC(c));
}

bool
db_is_postgres(void)
{
        return PG;
}

const char *
db_sql(const char *sqlite_sql, const char *pg_sql)
{
        return PG ? pg_sql : sqlite_sql;
}

int64_t
db_changes(struct db_conn *c)
{
        if (PG)
                return pg_changes(PGC(c));
        return sq_changes(c);
}

sqlite3 *
db_handle(struct db_conn *c)
{
        if (PG)
                return NULL;
        return sq_handle(c);
}

void
db_log_error(struct db_conn *c, const char *what)
{
        if (PG) { /* pg_step logged the server's words */
                log_msg(pg_retrying(PGC(c)) ? LOG_DEBUG : LOG_ERROR, "db_error", "%s failed%s",
                        what, pg_retrying(PGC(c)) ? " (serialization: retried)" : "");
                return;
        }
        sq_log_error(c, what);
}

/* ---- connections ---- */

static struct db_conn *
open_pg_conn(const struct db_options *opt)
{
        char err[512] = "";
        struct pg_conn *c;

        atomic_store(&on_pg, true);
        c = pg_conn_open(opt->url, opt->connect_timeout_s, err, sizeof(err));
        if (c == NULL)
                log_msg(LOG_ERROR, "db_open_failed", "cannot connect to PostgreSQL: %s", err);
        return (struct db_conn *)c;
}

struct db_conn *
db_conn_open(const struct db_options *opt, bool read_only)
{
        if (opt->url != NULL && opt->url[0] != '\0')
                return open_pg_conn(opt);
        return sq_conn_open(opt, read_only);
}

void
db_conn_close(struct db_conn *c)
{
        if (PG) {
                pg_conn_close(PGC(c));
                return;
        }
        sq_conn_close(c);
}

int
db_read_begin(struct db_conn *c)
{
        if (PG)
                return pg_read_begin(PGC(c));
        return sq_read_begin(c);
}

void
db_read_end(struct db_conn *c)
{
        if (PG) {
                pg_read_end(PGC(c));
                return;
        }
        sq_read_end(c);
}

void
db_submit(struct db *d, struct db_job *job)
{
        if (d->pg != NULL) {
                pg_submit(d->pg, job);
                return;
        }
        sq_submit(d->sq, job);
}

int
db_write(struct db *d, db_job_fn fn, void *arg)
{
        if (d->pg != NULL)
                return pg_write(d->pg, fn, arg);
        return sq_write(d->sq, fn, arg);
}

/* ---- readers ---- */

struct db_conn *
db_reader_acquire(struct db *d)
{
        if (d->pg != NULL)
                return (struct db_conn *)pg_acquire(d->pg);
        return sq_reader_acquire(d->sq);
}

void
db_reader_release(struct db *d, struct db_conn *c)
{
        if (d->pg != NULL) {
                pg_release(d->pg, PGC(c));
                return;
        }
        sq_reader_release(d->sq, c);
}

void
db_admin_submit(struct db *d, struct db_job *job)
{
        db_admin_queue(d->admin, job);
}

int
db_read(struct db *d, db_job_fn fn, void *arg)
{
        if (d->pg != NULL)
                return pg_read(d->pg, fn, arg);
        return sq_read(d->sq, fn, arg);
}

void
db_reader_counts(struct db *d, int *ret_busy, int *ret_total)
{
        if (d->pg != NULL) {
                struct db_stats st;

                pg_stats(d->pg, &st);
                *ret_busy = st.readers_busy;
                *ret_total = st.readers_total;
                return;
        }
        sq_reader_counts(d->sq, ret_busy, ret_total);
}

bool
db_disk_full(struct db *d)
{
        (void)d;
        return sq_disk_full();
}

const char *
db_path(const struct db *d)
{
        return d->path;
}

int
db_checkpoint(struct db *d, int mode)
{
        if (d->pg != NULL)
                return 0; /* PostgreSQL checkpoints itself */
        return sq_checkpoint(d->sq, mode);
}

void
db_stats(struct db *d, struct db_stats *ret)
{
        if (d->pg != NULL) {
                pg_stats(d->pg, ret);
                return;
        }
        sq_stats(d->sq, ret);
}

/* ---- lifecycle ---- */

/* Writes on PostgreSQL run in this many transactions at once (each on its
 * own pooled connection, beside the readers). */
#define PG_WRITERS 16

static int
open_pg(const struct db_options *opt, struct db *d)
{
        struct pg_options po = { .url = opt->url,
                                 .pool_size = opt->pool_size + PG_WRITERS,
                                 .workers = PG_WRITERS,
                                 .connect_timeout_s = opt->connect_timeout_s,
                                 .max_queue = opt->max_queue,
                                 .max_retries = 20 };
        char err[512] = "";
        char masked[512];

        atomic_store(&on_pg, true);
        d->postgres = true;
        pg_mask_url(opt->url, masked, sizeof(masked));
        d->path = strdup(masked);
        if (d->path == NULL || pg_open(&po, &d->pg, err, sizeof(err)) != 0) {
                log_msg(LOG_ERROR, "db_open_failed", "cannot connect to PostgreSQL at %s: %s",
                        masked, err);
                return -1;
        }
        d->opt = *opt;
        d->opt.path = d->path;
        d->url = strdup(opt->url);
        d->opt.url = d->url;
        d->admin = d->url != NULL ? db_admin_start(&d->opt) : NULL;
        return d->admin != NULL ? 0 : -1;
}

/* The SQLite manager (sqlite.c) and the admin thread, both on d->opt, which
 * owns its copy of the path. */
static int
open_sqlite(const struct db_options *opt, struct db *d)
{
        d->path = strdup(opt->path);
        if (d->path == NULL)
                goto fail;
        d->opt = *opt;
        d->opt.path = d->path;
        if (sq_open(&d->opt, &d->sq) != 0)
                goto fail;
        d->admin = db_admin_start(&d->opt);
        if (d->admin == NULL)
                goto fail;
        return 0;
fail:
        log_msg(LOG_ERROR, "db_open_failed", "cannot open the database manager for %s", opt->path);
        return -1;
}

int
db_open(const struct db_options *opt, struct db **ret_db)
{
        struct db *d = calloc(1, sizeof(*d));
        bool pg = opt->url != NULL && opt->url[0] != '\0';

        if (d == NULL)
                return -1;
        if ((pg ? open_pg(opt, d) : open_sqlite(opt, d)) != 0) {
                db_close(d);
                return -1;
        }
        *ret_db = d;
        return 0;
}

void
db_close(struct db *d)
{
        if (d == NULL)
                return;
        db_admin_stop(d->admin);
        if (d->postgres)
                pg_close(d->pg);
        else
                sq_close(d->sq);
        free(d->url);
        free(d->path);
        free(d);
}
