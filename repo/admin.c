/* Operator work on the database (see admin.h): statistics, retention
 * cleanup in bounded batches, ANALYZE, VACUUM, checkpoints and online,
 * integrity-checked backups. */
#include "repo/admin.h"

#include "common/log.h"
#include "common/ts.h"
#include "db/backup.h"
#include "db/db.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STR_(x) #x
#define STR(x) STR_(x)

#define US_PER_DAY (86400LL * 1000000LL)

/* Steps st until it is done, ignoring rows (pragmas that report as they
 * go). Returns the last result code (DB_DONE on success). */
static int
step_all(struct db_stmt *st)
{
        int rc;

        while ((rc = db_step(st)) == DB_ROW)
                ;
        return rc;
}

/* Runs the cached statement sql (no bindings) to completion on c. REPO_OK,
 * REPO_BUSY when a lock could not be had, or REPO_ERROR; failures logged
 * with what. */
static enum repo_status
run(struct db_conn *c, const char *sql, const char *what)
{
        struct db_stmt *st = db_stmt(c, sql);
        int rc;

        if (st == NULL)
                return REPO_ERROR;
        rc = step_all(st);
        if (rc != DB_DONE)
                db_log_error(c, what);
        db_stmt_done(st);
        if (rc == DB_DONE)
                return REPO_OK;
        return rc == DB_E_BUSY ? REPO_BUSY : REPO_ERROR;
}

/* Runs the cached one-row, one-integer statement sql on c. */
static enum repo_status
query_int(struct db_conn *c, const char *sql, const char *what, int64_t *ret)
{
        struct db_stmt *st = db_stmt(c, sql);
        enum repo_status s = REPO_ERROR;

        if (st == NULL)
                return REPO_ERROR;
        if (db_step(st) == DB_ROW) {
                *ret = db_column_int64(st, 0);
                s = REPO_OK;
        } else {
                db_log_error(c, what);
        }
        db_stmt_done(st);
        return s;
}

/* ---- statistics ---- */

static int64_t
wal_file_bytes(const char *db_path)
{
        char p[4096];
        struct stat sb;

        if (snprintf(p, sizeof(p), "%s-wal", db_path) >= (int)sizeof(p))
                return 0;
        return stat(p, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

enum repo_status
repo_admin_stats(struct db_conn *c, const char *db_path, struct admin_stats *ret)
{
        /* One statement: the counts come from one snapshot. */
        static const char sql[] =
                "SELECT (SELECT page_count FROM pragma_page_count()),"
                " (SELECT page_size FROM pragma_page_size()),"
                " (SELECT freelist_count FROM pragma_freelist_count()),"
                " (SELECT count(*) FROM quotes), (SELECT count(*) FROM orders),"
                " (SELECT count(*) FROM fills), (SELECT count(*) FROM positions),"
                " (SELECT count(*) FROM account_balances), (SELECT count(*) FROM outbox)";
        /* PostgreSQL has no pages to report: its size goes in page_count
         * with a page_size of 1 (so size_bytes is right) and the answer
         * leaves the page fields out (API.md). */
        static const char sql_pg[] =
                "SELECT pg_database_size(current_database()), 1, 0,"
                " (SELECT count(*) FROM quotes), (SELECT count(*) FROM orders),"
                " (SELECT count(*) FROM fills), (SELECT count(*) FROM positions),"
                " (SELECT count(*) FROM account_balances), (SELECT count(*) FROM outbox)";
        struct db_stmt *st = db_stmt(c, db_sql(sql, sql_pg));
        enum repo_status s = REPO_ERROR;

        if (st == NULL)
                return REPO_ERROR;
        if (db_step(st) == DB_ROW) {
                *ret = (struct admin_stats){
                        .page_count = db_column_int64(st, 0),
                        .page_size = db_column_int64(st, 1),
                        .freelist_count = db_column_int64(st, 2),
                        .quotes = db_column_int64(st, 3),
                        .orders = db_column_int64(st, 4),
                        .fills = db_column_int64(st, 5),
                        .positions = db_column_int64(st, 6),
                        .account_balances = db_column_int64(st, 7),
                        .outbox = db_column_int64(st, 8),
                };
                ret->size_bytes = ret->page_count * ret->page_size;
                ret->wal_bytes = db_is_postgres() ? 0 : wal_file_bytes(db_path);
                ret->postgres = db_is_postgres();
                s = REPO_OK;
        } else {
                db_log_error(c, "admin stats");
        }
        db_stmt_done(st);
        return s;
}

/* ---- retention cleanup ---- */

/* DELETE ... LIMIT needs a compile-time option, hence "rowid IN (SELECT ...
 * LIMIT)". Each inner SELECT walks the retention index made for it in
 * 001_init.sql, oldest first. INDEXED BY because, left alone, the planner
 * prefers the (status, ...) indexes, which visit every expired quote or
 * processed event, old or new, on each batch; a missing index is then a
 * loud prepare error rather than a slow scan. The NOT EXISTS probe uses
 * idx_orders_quote. */
static const char sql_cleanup_quotes[] =
        "DELETE FROM quotes WHERE rowid IN (SELECT q.rowid FROM quotes AS q"
        " INDEXED BY idx_quotes_retention WHERE q.status IN ('expired', 'cancelled') AND "
        "q.updated_at < ?1"
        " AND NOT EXISTS (SELECT 1 FROM orders AS o WHERE o.quote_id = q.quote_id)"
        " LIMIT ?2)";
static const char sql_cleanup_fills[] = "DELETE FROM fills WHERE rowid IN (SELECT rowid FROM fills"
                                        " WHERE created_at < ?1 LIMIT ?2)";
static const char sql_cleanup_outbox[] = "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox"
                                         " INDEXED BY idx_outbox_processed WHERE status = "
                                         "'processed' AND processed_at < ?1 LIMIT ?2)";

/* PostgreSQL: no rowid and no INDEXED BY; the keys do the same job and
 * its planner picks the retention indexes by itself. */
static const char sql_cleanup_quotes_pg[] =
        "DELETE FROM quotes WHERE quote_id IN (SELECT q.quote_id FROM quotes AS q"
        " WHERE q.status IN ('expired', 'cancelled') AND q.updated_at < ?1"
        " AND NOT EXISTS (SELECT 1 FROM orders AS o WHERE o.quote_id = q.quote_id)"
        " LIMIT ?2)";
static const char sql_cleanup_fills_pg[] = "DELETE FROM fills WHERE fill_id IN (SELECT fill_id"
                                           " FROM fills WHERE created_at < ?1 LIMIT ?2)";
static const char sql_cleanup_outbox_pg[] = "DELETE FROM outbox WHERE seq IN (SELECT seq FROM"
                                            " outbox WHERE status = 'processed' AND"
                                            " processed_at < ?1 LIMIT ?2)";

const char *const *
repo_admin_cleanup_sql(size_t *ret_n)
{
        static const char *const all[] = { sql_cleanup_quotes, sql_cleanup_fills,
                                           sql_cleanup_outbox };

        *ret_n = sizeof(all) / sizeof(all[0]);
        return all;
}

/* Deletes up to *budget rows of one table older than days at now_us; sets
 * *ret_n to their number and takes it from *budget. days 0 keeps forever
 * (*ret_n untouched). */
static enum repo_status
delete_some(struct db_conn *c, const char *sql, int days, int64_t now_us, int *budget,
            int64_t *ret_n)
{
        struct db_stmt *st;
        enum repo_status s = REPO_ERROR;
        int64_t n;

        if (days <= 0 || *budget <= 0)
                return REPO_OK;
        st = db_stmt(c, sql);
        if (st == NULL)
                return REPO_ERROR;
        db_bind_int64(st, 1, now_us - (int64_t)days * US_PER_DAY);
        db_bind_int64(st, 2, *budget);
        if (db_step(st) == DB_DONE) {
                n = db_changes(c);
                *ret_n = n;
                *budget -= (int)n;
                s = REPO_OK;
        } else {
                db_log_error(c, "retention cleanup");
        }
        db_stmt_done(st);
        return s;
}

enum repo_status
repo_admin_cleanup_batch(struct db_conn *c, const struct admin_retention *r, int64_t now_us,
                         int limit, struct admin_cleanup *ret_batch)
{
        struct admin_cleanup b = { 0 };
        int budget = limit;

        assert(limit > 0);
        if (delete_some(c, db_sql(sql_cleanup_quotes, sql_cleanup_quotes_pg), r->quote_days, now_us,
                        &budget, &b.quotes) != REPO_OK ||
            delete_some(c, db_sql(sql_cleanup_fills, sql_cleanup_fills_pg), r->fill_days, now_us,
                        &budget, &b.fills) != REPO_OK ||
            delete_some(c, db_sql(sql_cleanup_outbox, sql_cleanup_outbox_pg), r->outbox_days,
                        now_us, &budget, &b.outbox) != REPO_OK)
                return REPO_ERROR;
        *ret_batch = b;
        return REPO_OK;
}

static int64_t
cleanup_rows(const struct admin_cleanup *x)
{
        return x->quotes + x->fills + x->outbox;
}

static void
cleanup_add(struct admin_cleanup *acc, const struct admin_cleanup *x)
{
        acc->quotes += x->quotes;
        acc->fills += x->fills;
        acc->outbox += x->outbox;
}

static bool
keeps_everything(const struct admin_retention *r)
{
        return r->quote_days <= 0 && r->fill_days <= 0 && r->outbox_days <= 0;
}

static void
log_partial(const char *why, const struct admin_cleanup *done)
{
        log_msg(LOG_ERROR, "cleanup_failed",
                "retention cleanup stopped (%s) after deleting %lld quotes, %lld fills,"
                " %lld outbox events",
                why, (long long)done->quotes, (long long)done->fills, (long long)done->outbox);
}

struct cleanup_job {
        const struct admin_retention *r;
        int64_t now_us;
        int limit;
        struct admin_cleanup batch; /* out: valid when the job returned REPO_OK */
};

static int
cleanup_job(struct db_conn *c, void *arg)
{
        struct cleanup_job *j = arg;

        return (int)repo_admin_cleanup_batch(c, j->r, j->now_us, j->limit, &j->batch);
}

enum repo_status
repo_admin_cleanup_writer(struct db *d, const struct admin_retention *r, int64_t now_us, int limit,
                          bool (*should_stop)(void *cls), void *cls,
                          struct admin_cleanup *ret_total)
{
        struct cleanup_job j = { .r = r, .now_us = now_us, .limit = limit };
        struct admin_cleanup total = { 0 };

        assert(limit > 0);
        while (!keeps_everything(r) && (should_stop == NULL || !should_stop(cls))) {
                int rc = db_write(d, cleanup_job, &j);

                if (rc != REPO_OK) {
                        log_partial(rc < 0 ? "the batch did not commit" : "a batch failed", &total);
                        return REPO_ERROR;
                }
                /* Counted only now: the batch is committed. */
                cleanup_add(&total, &j.batch);
                if (cleanup_rows(&j.batch) < limit)
                        break;
        }
        *ret_total = total;
        return REPO_OK;
}

/* The pause between two batches of a cleanup on a plain connection. */
#define CLEANUP_PAUSE_MIN_MS (2 * DB_BUSY_POLL_MS)
#define CLEANUP_PAUSE_MAX_MS 200

/* One cleanup batch in its own transaction on a plain connection; *ret_held_ms
 * is how long it held the write lock. */
static enum repo_status
cleanup_tx(struct db_conn *c, const struct admin_retention *r, int64_t now_us, int limit,
           struct admin_cleanup *ret_batch, int64_t *ret_held_ms)
{
        static const char sql_begin[] = "BEGIN IMMEDIATE";
        static const char sql_begin_pg[] = "BEGIN"; /* READ COMMITTED: a row another
                                                       deleted meanwhile is skipped */
        static const char sql_commit[] = "COMMIT";
        static const char sql_rollback[] = "ROLLBACK";
        enum repo_status s = run(c, db_sql(sql_begin, sql_begin_pg), "cleanup begin");
        int64_t t0 = ts_monotonic_ms();

        if (s != REPO_OK)
                return s;
        s = repo_admin_cleanup_batch(c, r, now_us, limit, ret_batch);
        if (s == REPO_OK)
                s = run(c, sql_commit, "cleanup commit");
        *ret_held_ms = ts_monotonic_ms() - t0;
        if (s != REPO_OK && db_is_postgres())
                run(c, sql_rollback, "cleanup rollback"); /* the failed transaction */
        else if (!db_is_postgres() && !sqlite3_get_autocommit(db_handle(c)))
                sqlite3_exec(db_handle(c), "ROLLBACK", NULL, NULL, NULL);
        return s;
}

enum repo_status
repo_admin_cleanup_conn(struct db_conn *c, const struct admin_retention *r, int64_t now_us,
                        int limit, struct admin_cleanup *ret_total)
{
        struct admin_cleanup total = { 0 };
        struct admin_cleanup batch;

        assert(limit > 0);
        while (!keeps_everything(r)) {
                int64_t t0 = ts_monotonic_ms(), held = 0;
                enum repo_status s = cleanup_tx(c, r, now_us, limit, &batch, &held);
                int64_t took = ts_monotonic_ms() - t0;

                if (s != REPO_OK) {
                        log_partial(s == REPO_BUSY ? "the database stayed locked"
                                                   : "a batch failed",
                                    &total);
                        return s;
                }
                cleanup_add(&total, &batch);
                total.batches++;
                if (held > total.longest_ms)
                        total.longest_ms = held;
                if (cleanup_rows(&batch) < limit)
                        break;
                /* SQLite's write lock is no queue: taken again at once, it
                 * would starve a serving writer asleep in its busy handler
                 * (db/sqlite.c polls every DB_BUSY_POLL_MS) for the whole cleanup.
                 * Leaving it as long as the batch held it (at least two
                 * polls) lets each waiting write in after one batch. */
                if (!db_is_postgres())
                        ts_sleep_ms((int)(took < CLEANUP_PAUSE_MIN_MS   ? CLEANUP_PAUSE_MIN_MS
                                          : took > CLEANUP_PAUSE_MAX_MS ? CLEANUP_PAUSE_MAX_MS
                                                                        : took));
        }
        *ret_total = total;
        return REPO_OK;
}

/* ---- planner statistics ---- */

enum repo_status
repo_admin_analyze(struct db_conn *c)
{
        /* analysis_limit makes ANALYZE sample each index instead of reading
         * it whole: statistics as good for planning, at a bounded cost. The
         * setting is put back so nothing else on c changes. */
        static const char sql_limit[] = "PRAGMA analysis_limit = 1000";
        static const char sql_analyze[] = "ANALYZE";
        static const char sql_unlimit[] = "PRAGMA analysis_limit = 0";
        enum repo_status s;

        if (db_is_postgres()) /* it samples by itself */
                return run(c, sql_analyze, "analyze") == REPO_OK ? REPO_OK : REPO_ERROR;
        s = run(c, sql_limit, "analysis_limit");

        if (s == REPO_OK)
                s = run(c, sql_analyze, "analyze");
        run(c, sql_unlimit, "analysis_limit");
        return s == REPO_BUSY ? REPO_ERROR : s;
}

enum repo_status
repo_admin_optimize(struct db_conn *c)
{
        static const char sql[] = "PRAGMA optimize";
        enum repo_status s;

        if (db_is_postgres()) /* autovacuum analyzes what changed */
                return REPO_OK;
        s = run(c, sql, "optimize");

        return s == REPO_BUSY ? REPO_ERROR : s;
}

int
repo_admin_analyze_job(struct db_conn *c, void *arg)
{
        (void)arg;
        return (int)repo_admin_analyze(c);
}

int
repo_admin_optimize_job(struct db_conn *c, void *arg)
{
        (void)arg;
        return (int)repo_admin_optimize(c);
}

/* ---- space ---- */

enum repo_status
repo_admin_is_incremental(struct db_conn *c, bool *ret)
{
        static const char sql[] = "PRAGMA auto_vacuum";
        int64_t mode;

        if (query_int(c, sql, "auto_vacuum", &mode) != REPO_OK)
                return REPO_ERROR;
        *ret = mode == 2; /* 0 none, 1 full, 2 incremental */
        return REPO_OK;
}

enum repo_status
repo_admin_incremental_vacuum(struct db_conn *c, int64_t *ret_remaining)
{
        static const char sql_vacuum[] = "PRAGMA incremental_vacuum(" STR(ADMIN_CLEANUP_BATCH) ")";
        static const char sql_free[] = "PRAGMA freelist_count";
        enum repo_status s = run(c, sql_vacuum, "incremental vacuum");

        if (s != REPO_OK)
                return s;
        return query_int(c, sql_free, "freelist_count", ret_remaining);
}

struct incvac_job {
        int64_t remaining; /* out: valid when the job returned REPO_OK */
};

static int
incvac_job(struct db_conn *c, void *arg)
{
        struct incvac_job *j = arg;

        return (int)repo_admin_incremental_vacuum(c, &j->remaining);
}

enum repo_status
repo_admin_incremental_vacuum_writer(struct db *d)
{
        struct incvac_job j;
        int64_t before = INT64_MAX;

        for (;;) {
                if (db_write(d, incvac_job, &j) != REPO_OK) {
                        log_msg(LOG_ERROR, "vacuum_failed", "incremental vacuum failed");
                        return REPO_ERROR;
                }
                /* No progress: the file is not in incremental mode. */
                if (j.remaining == 0 || j.remaining >= before)
                        return REPO_OK;
                before = j.remaining;
        }
}

enum repo_status
repo_admin_incremental_vacuum_conn(struct db_conn *c)
{
        int64_t before = INT64_MAX, remaining;
        enum repo_status s;

        for (;;) {
                s = repo_admin_incremental_vacuum(c, &remaining);
                if (s != REPO_OK)
                        return s;
                /* No progress: the file is not in incremental mode. */
                if (remaining == 0 || remaining >= before)
                        return REPO_OK;
                before = remaining;
        }
}

enum repo_status
repo_admin_vacuum(struct db_conn *c)
{
        static const char sql[] = "VACUUM";

        return run(c, sql, "vacuum");
}

/* ---- checkpoint ---- */

enum repo_status
repo_admin_checkpoint(struct db_conn *c, struct admin_checkpoint *ret)
{
        struct admin_checkpoint ck = { 0 };
        int log_frames = -1, done_frames = -1;
        int rc;

        /* TRUNCATE reports the frames left after it (none), so the counts
         * come from a PASSIVE pass first. */
        rc = sqlite3_wal_checkpoint_v2(db_handle(c), NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                                       &done_frames);
        if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY) {
                db_log_error(c, "checkpoint");
                return REPO_ERROR;
        }
        if (rc == SQLITE_OK && log_frames < 0) { /* not in WAL mode */
                ck.counted = true;
                *ret = ck;
                return REPO_OK;
        }
        /* SQLITE_BUSY: another checkpoint holds the lock; counts unknown. */
        ck.counted = rc == SQLITE_OK;
        ck.wal_frames = ck.counted ? log_frames : 0;
        ck.checkpointed_frames = ck.counted ? done_frames : 0;
        rc = sqlite3_wal_checkpoint_v2(db_handle(c), NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        if (rc == SQLITE_OK) {
                ck.truncated = true;
                ck.checkpointed_frames = ck.wal_frames; /* and any written since */
        } else if ((rc & 0xff) != SQLITE_BUSY) {
                db_log_error(c, "checkpoint truncate");
                return REPO_ERROR;
        }
        *ret = ck;
        return REPO_OK;
}

/* ---- backup ---- */

/* The final and temporary names for a backup made at now_us, in dir. The
 * final name must not exist yet. 0, or -1 when the names do not fit. */
static int
backup_names(const char *dir, int64_t now_us, char *final, size_t fcap, char *tmp, size_t tcap)
{
        struct stat sb;

        /* Two backups in the same microsecond: the second takes the next one. */
        for (;; now_us++) {
                time_t secs = (time_t)(now_us / 1000000);
                char stamp[40];
                struct tm tm;
                size_t n;

                gmtime_r(&secs, &tm);
                n = strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
                snprintf(stamp + n, sizeof(stamp) - n, ".%06dZ", (int)(now_us % 1000000));
                if (snprintf(final, fcap, "%s/tradestore-%s.db", dir, stamp) >= (int)fcap ||
                    snprintf(tmp, tcap, "%s/.tradestore-%s.db.tmp", dir, stamp) >= (int)tcap)
                        return -1;
                if (stat(final, &sb) != 0 && stat(tmp, &sb) != 0)
                        return 0;
        }
}

/* VACUUM INTO path from reader: a consistent snapshot in one read
 * transaction. */
static enum repo_status
vacuum_into(struct db_conn *reader, const char *path)
{
        static const char sql[] = "VACUUM INTO ?1";
        struct db_stmt *st = db_stmt(reader, sql);
        int rc;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, path);
        rc = step_all(st);
        if (rc != DB_DONE)
                db_log_error(reader, "backup: VACUUM INTO");
        db_stmt_done(st);
        return rc == DB_DONE ? REPO_OK : REPO_ERROR;
}

struct integrity {
        int rows;
        bool ok;
        char first[512]; /* the first problem reported */
};

static int
on_integrity_row(void *cls, int ncol, char **vals, char **names)
{
        struct integrity *ic = cls;
        const char *v = ncol > 0 && vals[0] != NULL ? vals[0] : "(null)";

        (void)names;
        if (ic->rows++ == 0) {
                ic->ok = strcmp(v, "ok") == 0;
                snprintf(ic->first, sizeof(ic->first), "%s", v);
        }
        if (strcmp(v, "ok") != 0)
                log_msg(LOG_ERROR, "backup_corrupt", "integrity_check: %s", v);
        return 0;
}

/* Makes the copy at path one self-contained file and checks it. REPO_OK,
 * REPO_INVALID (damaged: the reason in err) or REPO_ERROR. */
static enum repo_status
verify_copy(const char *path, char *err, size_t errlen)
{
        struct integrity ic = { 0 };
        sqlite3 *h = NULL;
        enum repo_status s = REPO_ERROR;
        char *msg = NULL;

        if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
            sqlite3_exec(h, "PRAGMA journal_mode=DELETE", NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(h, "PRAGMA integrity_check", on_integrity_row, &ic, &msg) != SQLITE_OK) {
                log_msg(LOG_ERROR, "backup_failed", "cannot check the copy %s: %s", path,
                        msg ? msg
                        : h ? sqlite3_errmsg(h)
                            : "out of memory");
                snprintf(err, errlen, "the copy could not be opened to check it");
                goto out;
        }
        if (!ic.ok) {
                snprintf(err, errlen,
                         "the copy failed its integrity check (the database may be damaged):"
                         " %s",
                         ic.first);
                s = REPO_INVALID;
                goto out;
        }
        s = REPO_OK;
out:
        sqlite3_free(msg);
        sqlite3_close(h);
        return s;
}

enum repo_status
repo_admin_backup(struct db_conn *reader, const char *dir, char *ret_path, size_t cap,
                  int64_t *ret_size, char *err, size_t errlen)
{
        char final[4096], tmp[4096];
        enum repo_status s = REPO_ERROR;
        struct stat sb;

        if (backup_mkdirs(dir) != 0) {
                snprintf(err, errlen, "cannot create the backup folder %s: %s", dir,
                         strerror(errno));
                return REPO_ERROR;
        }
        if (backup_names(dir, ts_now_us(), final, sizeof(final), tmp, sizeof(tmp)) != 0 ||
            strlen(final) >= cap) {
                snprintf(err, errlen, "the backup folder's path is too long");
                return REPO_ERROR;
        }
        if (vacuum_into(reader, tmp) != REPO_OK) {
                snprintf(err, errlen, "the database could not be copied into %s (see the log)",
                         dir);
                goto out;
        }
        s = verify_copy(tmp, err, errlen);
        if (s != REPO_OK)
                goto out;
        if (backup_publish(tmp, final) != 0 || stat(final, &sb) != 0) {
                snprintf(err, errlen, "cannot store the copy in %s: %s", dir, strerror(errno));
                s = REPO_ERROR;
                goto out;
        }
        snprintf(ret_path, cap, "%s", final);
        *ret_size = (int64_t)sb.st_size;
out:
        if (s != REPO_OK) {
                unlink(tmp);
                log_msg(LOG_ERROR, "backup_failed", "%s", err);
        }
        return s;
}

/* ---- the admin endpoints' jobs ---- */

bool
repo_admin_on_postgres(void)
{
        return db_is_postgres();
}

int
repo_admin_stats_job(struct db_conn *c, void *arg)
{
        struct admin_stats_job *j = arg;

        return (int)repo_admin_stats(c, db_path(j->d), &j->stats);
}

/* Incremental vacuum when the file is in that mode and meant to stay so;
 * else a full VACUUM on the admin connection (it cannot run inside the
 * writer's transaction). VACUUM takes the write lock: it waits up to the
 * busy timeout for the writer, and writes wait for it while it runs. */
static const char *
step_vacuum(struct db_conn *c, struct admin_maintenance *m)
{
        bool incremental = false;
        enum repo_status s = REPO_OK;

        if (m->incremental)
                s = repo_admin_is_incremental(c, &incremental);
        if (s == REPO_OK)
                s = incremental ? repo_admin_incremental_vacuum_writer(m->d) : repo_admin_vacuum(c);
        if (s == REPO_BUSY)
                return "vacuum failed: the database stayed locked by other writes for"
                       " longer than the busy timeout; retry";
        return s == REPO_OK ? NULL : "vacuum failed: database unavailable";
}

/* The steps asked for, in the order that makes each most useful: delete,
 * then gather statistics on what is left, then give the freed pages back,
 * then fold the WAL that all of it wrote into the file. */
static const char *
run_steps(struct db_conn *c, struct admin_maintenance *m)
{
        if (m->cleanup &&
            repo_admin_cleanup_writer(m->d, &m->retention, ts_now_us(), ADMIN_CLEANUP_BATCH, NULL,
                                      NULL, &m->deleted) != REPO_OK)
                return "cleanup failed: database unavailable (batches before the failure"
                       " stay deleted)";
        if (m->analyze && db_write(m->d, repo_admin_analyze_job, NULL) != REPO_OK)
                return "analyze failed: database unavailable";
        if (m->vacuum) {
                const char *why = step_vacuum(c, m);

                if (why != NULL)
                        return why;
        }
        if (m->checkpoint && repo_admin_checkpoint(c, &m->ck) != REPO_OK)
                return "checkpoint failed: database unavailable";
        return NULL;
}

int
repo_admin_maintenance_job(struct db_conn *c, void *arg)
{
        struct admin_maintenance *m = arg;
        int64_t t0 = ts_monotonic_ms();

        m->why = run_steps(c, m);
        m->duration_ms = ts_monotonic_ms() - t0;
        log_msg(m->why == NULL ? LOG_INFO : LOG_WARN, "admin_maintenance",
                "maintenance: analyze=%d vacuum=%d checkpoint=%d cleanup=%d in %lld ms%s%s",
                m->analyze, m->vacuum, m->checkpoint, m->cleanup, (long long)m->duration_ms,
                m->why != NULL ? ": " : "", m->why != NULL ? m->why : "");
        return m->why == NULL ? REPO_OK : REPO_ERROR;
}

int
repo_admin_backup_job(struct db_conn *c, void *arg)
{
        struct admin_backup_job *j = arg;

        return (int)repo_admin_backup(c, j->dir, j->path, sizeof(j->path), &j->size, j->err,
                                      sizeof(j->err));
}
