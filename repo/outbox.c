/* The outbox table (see outbox.h): adding events, the idempotent create,
 * reads, the claim and the state changes of consumers and operators.
 *
 * Every statement returns the same column list (COLS) so that one row
 * reader serves them all. */
#include "repo/outbox.h"

#include "common/ids.h"
#include "common/ts.h"
#include "db/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COLS                                                                                       \
        "seq, event_id, event_type, aggregate_id, payload, status, created_at,"                    \
        " processed_at, retry_count, error_message, claimed_by, lease_expires_at,"                 \
        " next_attempt_at"

#define US_PER_S 1000000

void
outbox_event_clear(struct outbox_event *e)
{
        if (e == NULL)
                return;
        free(e->payload);
        free(e->error_message);
        memset(e, 0, sizeof(*e));
}

void
outbox_events_free(struct outbox_event *v, size_t n)
{
        if (v == NULL)
                return;
        for (size_t i = 0; i < n; i++)
                outbox_event_clear(&v[i]);
        free(v);
}

enum repo_status
repo_outbox_add(struct db_conn *c, const char *event_type, const char *aggregate_id,
                const char *payload_json, int64_t now_us)
{
        static const char sql[] =
                "INSERT INTO outbox (event_id, event_type, aggregate_id, payload, status,"
                " created_at) VALUES (?1, ?2, ?3, ?4, 'pending', ?5)";
        struct db_stmt *st = db_stmt(c, sql);
        char event_id[ID_UUID_BUFSZ];
        enum repo_status s = REPO_ERROR;

        if (st == NULL)
                return REPO_ERROR;
        id_uuidv7(event_id);
        db_bind_text(st, 1, event_id);
        db_bind_text(st, 2, event_type);
        db_bind_text(st, 3, aggregate_id);
        db_bind_text(st, 4, payload_json);
        db_bind_int64(st, 5, now_us);
        if (db_step_deferred(st) == DB_DONE)
                s = REPO_OK;
        else
                db_log_error(c, "outbox add");
        db_stmt_done(st);
        return s;
}

/* ---- rows ---- */

/* A heap copy of a TEXT column, NULL for SQL NULL. Sets *ok false when the
 * copy could not be allocated. */
static char *
dup_text(struct db_stmt *st, int col, bool *ok)
{
        char *s;

        if (db_column_null(st, col))
                return NULL;
        s = strdup(db_column_str(st, col));
        if (s == NULL)
                *ok = false;
        return s;
}

static void
opt_int(struct db_stmt *st, int col, bool *ret_has, int64_t *ret_v)
{
        *ret_has = !db_column_null(st, col);
        *ret_v = *ret_has ? db_column_int64(st, col) : 0;
}

/* Reads the current row (columns COLS) into *ret. Returns false on
 * out-of-memory, with *ret untouched. */
static bool
read_row(struct db_stmt *st, struct outbox_event *ret)
{
        struct outbox_event e = { 0 };
        bool ok = true;

        e.seq = db_column_int64(st, 0);
        db_column_text(st, 1, e.event_id, sizeof(e.event_id));
        db_column_text(st, 2, e.event_type, sizeof(e.event_type));
        db_column_text(st, 3, e.aggregate_id, sizeof(e.aggregate_id));
        e.payload = dup_text(st, 4, &ok);
        db_column_text(st, 5, e.status, sizeof(e.status));
        e.created_at = db_column_int64(st, 6);
        opt_int(st, 7, &e.has_processed_at, &e.processed_at);
        e.retry_count = db_column_int64(st, 8);
        e.error_message = dup_text(st, 9, &ok);
        e.has_claimed_by = !db_column_null(st, 10);
        db_column_text(st, 10, e.claimed_by, sizeof(e.claimed_by));
        opt_int(st, 11, &e.has_lease_expires_at, &e.lease_expires_at);
        opt_int(st, 12, &e.has_next_attempt_at, &e.next_attempt_at);
        if (!ok || e.payload == NULL) {
                outbox_event_clear(&e);
                return false;
        }
        *ret = e;
        return true;
}

/* Steps st once expecting one row of COLS: REPO_OK with *ret filled,
 * REPO_NOT_FOUND when there is no row, REPO_ERROR (logged as what). Does
 * not release st. */
static enum repo_status
step_one(struct db_conn *c, struct db_stmt *st, const char *what, struct outbox_event *ret)
{
        int rc = db_step(st);

        if (rc == DB_DONE)
                return REPO_NOT_FOUND;
        if (rc != DB_ROW) {
                db_log_error(c, what);
                return REPO_ERROR;
        }
        return read_row(st, ret) ? REPO_OK : REPO_ERROR;
}

/* ---- create and get ---- */

/* The arguments of repo_outbox_get, for its db_read job below. */
struct get_read {
        const char *event_id;
        struct outbox_event *ret;
};

static int
outbox_get(struct db_conn *c, void *arg)
{
        const struct get_read *a = arg;
        const char *event_id = a->event_id;
        struct outbox_event *ret = a->ret;
        static const char sql[] = "SELECT " COLS " FROM outbox WHERE event_id = ?1";
        struct db_stmt *st = db_stmt(c, sql);
        enum repo_status s;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, event_id);
        s = step_one(c, st, "outbox get", ret);
        db_stmt_done(st);
        return s;
}

int
repo_outbox_create_job(struct db_conn *c, void *arg)
{
        static const char sql[] =
                "INSERT INTO outbox (event_id, event_type, aggregate_id, payload, status,"
                " created_at) VALUES (?1, ?2, ?3, ?4, 'pending', ?5) RETURNING " COLS;
        struct outbox_create *in = arg;
        struct db_stmt *st = db_stmt(c, sql);
        enum repo_status s = REPO_ERROR;
        int rc;

        /* A job may run twice (its batch rerun): start from clean outputs. */
        outbox_event_clear(&in->event);
        in->existed = false;
        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, in->event_id);
        db_bind_text(st, 2, in->event_type);
        db_bind_text(st, 3, in->aggregate_id);
        db_bind_text(st, 4, in->payload_json);
        db_bind_int64(st, 5, ts_now_us());
        rc = db_step(st);
        if (rc == DB_ROW) {
                s = read_row(st, &in->event) ? REPO_OK : REPO_ERROR;
        } else if (rc == DB_E_UNIQUE) {
                /* The only UNIQUE column is event_id: a repeated create. */
                db_stmt_done(st);
                st = NULL;
                s = outbox_get(c, &(struct get_read){ in->event_id, &in->event });
                in->existed = s == REPO_OK;
                if (s == REPO_NOT_FOUND)
                        s = REPO_ERROR;
        } else if (rc == DB_E_CHECK) {
                s = REPO_INVALID; /* json_valid refused the payload */
        } else {
                db_log_error(c, "outbox create");
        }
        db_stmt_done(st);
        return s;
}

/* ---- lists ---- */

/* Filter bits: the index into list_sql of the statement for a combination. */
#define BY_STATUS 1
#define BY_TYPE 2
#define BY_AGGREGATE 4

#define LIST_HEAD "SELECT " COLS " FROM outbox WHERE "
#define LIST_TAIL "seq > ?1 ORDER BY seq LIMIT ?2"

/* One static statement per filter combination (a `?3 IS NULL OR` form would
 * defeat the indexes): ?1 after seq, ?2 limit, ?3 status, ?4 event_type,
 * ?5 aggregate_id. Each is served by (status, seq), (event_type, seq),
 * (aggregate_id, seq) or the rowid, in seq order. */
static const char *const list_sql[8] = {
        [0] = LIST_HEAD LIST_TAIL,
        [BY_STATUS] = LIST_HEAD "status = ?3 AND " LIST_TAIL,
        [BY_TYPE] = LIST_HEAD "event_type = ?4 AND " LIST_TAIL,
        [BY_STATUS | BY_TYPE] = LIST_HEAD "status = ?3 AND event_type = ?4 AND " LIST_TAIL,
        [BY_AGGREGATE] = LIST_HEAD "aggregate_id = ?5 AND " LIST_TAIL,
        [BY_STATUS | BY_AGGREGATE] = LIST_HEAD "status = ?3 AND aggregate_id = ?5 AND " LIST_TAIL,
        [BY_TYPE | BY_AGGREGATE] = LIST_HEAD "event_type = ?4 AND aggregate_id = ?5 AND " LIST_TAIL,
        [BY_STATUS | BY_TYPE | BY_AGGREGATE] =
                LIST_HEAD "status = ?3 AND event_type = ?4 AND aggregate_id = ?5 AND " LIST_TAIL,
};

const char *const *
repo_outbox_list_sql(size_t *ret_n)
{
        *ret_n = sizeof(list_sql) / sizeof(list_sql[0]);
        return list_sql;
}

/* Appends the current row to *v (of *n, capacity *cap). False on
 * out-of-memory. */
static bool
append_row(struct db_stmt *st, struct outbox_event **v, size_t *n, size_t *cap)
{
        if (*n == *cap) {
                size_t ncap = *cap ? *cap * 2 : 16;
                struct outbox_event *nv = realloc(*v, ncap * sizeof(*nv));

                if (nv == NULL)
                        return false;
                *v = nv;
                *cap = ncap;
        }
        if (!read_row(st, &(*v)[*n]))
                return false;
        (*n)++;
        return true;
}

/* Steps st to the end collecting its rows. REPO_OK with the array (caller
 * owns) or REPO_ERROR (logged as what) with nothing written. */
static enum repo_status
collect(struct db_conn *c, struct db_stmt *st, const char *what, struct outbox_event **ret_items,
        size_t *ret_n)
{
        struct outbox_event *v = NULL;
        size_t n = 0, cap = 0;
        int rc;

        while ((rc = db_step(st)) == DB_ROW)
                if (!append_row(st, &v, &n, &cap))
                        goto fail;
        if (rc != DB_DONE) {
                db_log_error(c, what);
                goto fail;
        }
        *ret_items = v;
        *ret_n = n;
        return REPO_OK;
fail:
        outbox_events_free(v, n);
        return REPO_ERROR;
}

/* The arguments of repo_outbox_list, for its db_read job below. */
struct list_read {
        const struct outbox_filter *f;
        int64_t after_seq;
        int limit;
        struct outbox_event **ret_items;
        size_t *ret_n;
};

static int
outbox_list(struct db_conn *c, void *arg)
{
        const struct list_read *a = arg;
        const struct outbox_filter *f = a->f;
        int64_t after_seq = a->after_seq;
        int limit = a->limit;
        struct outbox_event **ret_items = a->ret_items;
        size_t *ret_n = a->ret_n;
        unsigned which = (f->status ? BY_STATUS : 0) | (f->event_type ? BY_TYPE : 0) |
                         (f->aggregate_id ? BY_AGGREGATE : 0);
        struct db_stmt *st = db_stmt(c, list_sql[which]);
        enum repo_status s;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_int64(st, 1, after_seq);
        db_bind_int64(st, 2, limit);
        if (f->status)
                db_bind_text(st, 3, f->status);
        if (f->event_type)
                db_bind_text(st, 4, f->event_type);
        if (f->aggregate_id)
                db_bind_text(st, 5, f->aggregate_id);
        s = collect(c, st, "outbox list", ret_items, ret_n);
        db_stmt_done(st);
        return s;
}

/* ---- claim ---- */

/* No event of the same aggregate that is older and unfinished. The search
 * on (aggregate_id, seq) starts at lo.m, the oldest unfinished seq of the
 * whole outbox (found on (status, seq)): older rows are all finished, so the
 * check never walks an aggregate's history of processed events. */
#define UNBLOCKED                                                                                  \
        " AND NOT EXISTS (SELECT 1 FROM outbox AS b"                                               \
        " WHERE b.aggregate_id = o.aggregate_id AND b.seq >= (SELECT m FROM lo)"                   \
        " AND b.seq < o.seq AND b.status IN ('pending', 'processing', 'failed'))"

#define OLDEST(st)                                                                                 \
        "coalesce((SELECT min(seq) FROM outbox WHERE status = '" st "'),"                          \
        " 9223372036854775807)"

/* Claimable rows of one status, walked on (status, seq) in seq order and
 * cut at the limit, so a long backlog is not read whole. (PostgreSQL 15
 * wants the alias on a subquery in FROM.) lock is PostgreSQL's: see
 * repo_outbox_claim_job. */
#define ARM(cond, lock)                                                                            \
        "SELECT seq FROM (SELECT o.seq FROM outbox AS o WHERE " cond UNBLOCKED                     \
        " ORDER BY o.seq LIMIT ?3" lock ") AS arm"
#define PG_LOCK " FOR UPDATE OF o SKIP LOCKED"

/* The oldest unfinished seq: SQLite's min() of several arguments is
 * PostgreSQL's least(). */
#define LOWEST(fn)                                                                                 \
        "WITH lo(m) AS (SELECT " fn                                                                \
        "(" OLDEST("pending") ", " OLDEST("processing") ", " OLDEST("failed") ")),"

/* clang-format off */
#define CLAIM(lock)                                                                                \
        " cand(seq) AS (" ARM("o.status = 'pending'", lock)                                        \
        " UNION ALL " ARM("o.status = 'failed' AND coalesce(o.next_attempt_at, 0) <= ?2", lock)   \
        " UNION ALL " ARM("o.status = 'processing' AND coalesce(o.lease_expires_at, 0) <= ?2",    \
                          lock)                                                                    \
        ")"                                                                                        \
        " UPDATE outbox SET status = 'processing', claimed_by = ?1,"                               \
        " lease_expires_at = ?2 + ?4, next_attempt_at = NULL"                                      \
        " WHERE seq IN (SELECT seq FROM cand ORDER BY seq LIMIT ?3)"                               \
        " RETURNING " COLS
static const char claim_sql[] = LOWEST("min") CLAIM("");
static const char claim_sql_pg[] = LOWEST("least") CLAIM(PG_LOCK);
/* clang-format on */

const char *
repo_outbox_claim_sql(void)
{
        return db_sql(claim_sql, claim_sql_pg);
}

static int
by_seq(const void *a, const void *b)
{
        int64_t x = ((const struct outbox_event *)a)->seq;
        int64_t y = ((const struct outbox_event *)b)->seq;

        return (x > y) - (x < y);
}

int
repo_outbox_claim_job(struct db_conn *c, void *arg)
{
        struct outbox_claim *in = arg;
        struct db_stmt *st;
        enum repo_status s;

        /* A job may run twice (its batch rerun): start from clean outputs. */
        outbox_events_free(in->items, in->n);
        in->items = NULL;
        in->n = 0;
        /* On PostgreSQL, concurrent claims read the same heads: as
         * SERIALIZABLE jobs they fail each other until one loses every
         * rerun (a 503). At READ COMMITTED each skips the rows another claim
         * has locked (SKIP LOCKED), and a row claimed and committed meanwhile
         * is checked again on its new version (FOR UPDATE), so no event goes
         * to two consumers. */
        db_job_locks_rows(c);
        st = db_stmt(c, repo_outbox_claim_sql());
        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, in->consumer);
        /* Leases are on the wall clock (ts_now_us, CLOCK_REALTIME) on
         * purpose: lease_expires_at is stored and compared again after a
         * restart or reboot, where CLOCK_MONOTONIC starts over. A step back
         * of the wall clock cannot give one event to two consumers: a claim
         * is one UPDATE on the single writer that hands only rows whose lease
         * is already past (<= now), and a step back only makes now earlier,
         * so unexpired leases stay unexpired and an expired one is handed
         * once, the UPDATE moving its expiry forward. Nor can it lose one:
         * no time comparison ever finishes an event (only an ack does); the
         * step only delays the re-claim of an abandoned lease and the next
         * attempt of a failed event (next_attempt_at) by the size of the
         * step. A step forward ends leases early: the holder may still be
         * working when another consumer claims the event, the at-least-once
         * delivery that any expired lease already means. */
        db_bind_int64(st, 2, ts_now_us());
        db_bind_int64(st, 3, in->limit);
        db_bind_int64(st, 4, in->lease_us);
        s = collect(c, st, "outbox claim", &in->items, &in->n);
        db_stmt_done(st);
        /* RETURNING hands rows out in no promised order. */
        if (s == REPO_OK && in->n > 1)
                qsort(in->items, in->n, sizeof(in->items[0]), by_seq);
        return s;
}

/* ---- acknowledgements and operator retry ---- */

/* The status and retry_count of event_id on the writer. REPO_OK,
 * REPO_NOT_FOUND or REPO_ERROR (logged). */
static enum repo_status
load_state(struct db_conn *c, const char *event_id, char status[OUTBOX_STATUS_BUFSZ],
           int64_t *ret_retry_count)
{
        static const char sql[] = "SELECT status, retry_count FROM outbox WHERE event_id = ?1";
        struct db_stmt *st = db_stmt(c, sql);
        enum repo_status s = REPO_ERROR;
        int rc;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, event_id);
        rc = db_step(st);
        if (rc == DB_ROW) {
                db_column_text(st, 0, status, OUTBOX_STATUS_BUFSZ);
                *ret_retry_count = db_column_int64(st, 1);
                s = REPO_OK;
        } else if (rc == DB_DONE) {
                s = REPO_NOT_FOUND;
        } else {
                db_log_error(c, "outbox load state");
        }
        db_stmt_done(st);
        return s;
}

/* Runs the UPDATE ... RETURNING st (bindings done) and reads the event.
 * Releases st. */
static enum repo_status
update_one(struct db_conn *c, struct db_stmt *st, const char *what, struct outbox_event *ret)
{
        enum repo_status s = step_one(c, st, what, ret);

        db_stmt_done(st);
        return s == REPO_NOT_FOUND ? REPO_ERROR : s; /* it was there a moment ago */
}

const char *const outbox_status_names[OUTBOX_STATUS_COUNT + 1] = {
        "pending", "processing", "processed", "failed", "dead", NULL,
};

bool
outbox_status_final(const char *status)
{
        return strcmp(status, "processed") == 0 || strcmp(status, "dead") == 0;
}

int
repo_outbox_processed_job(struct db_conn *c, void *arg)
{
        static const char sql[] = "UPDATE outbox SET status = 'processed', processed_at = ?2,"
                                  " lease_expires_at = NULL, next_attempt_at = NULL"
                                  " WHERE event_id = ?1 RETURNING " COLS;
        struct outbox_ack *in = arg;
        enum repo_status s;
        int64_t retries;
        struct db_stmt *st;

        outbox_event_clear(&in->event); /* a rerun starts from clean outputs */
        s = load_state(c, in->event_id, in->status, &retries);
        if (s != REPO_OK)
                return s;
        if (outbox_status_final(in->status))
                return REPO_CONFLICT;
        st = db_stmt(c, sql);
        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, in->event_id);
        db_bind_int64(st, 2, ts_now_us());
        return update_one(c, st, "outbox processed", &in->event);
}

int64_t
repo_outbox_retry_delay_s(int64_t retry_count, int64_t base_s, int64_t cap_s)
{
        int64_t d = base_s;

        /* Doubling stops at the cap, so d never exceeds 2 * cap_s. */
        for (int64_t i = 1; i < retry_count && d < cap_s; i++)
                d *= 2;
        return d < cap_s ? d : cap_s;
}

int
repo_outbox_failed_job(struct db_conn *c, void *arg)
{
        static const char sql[] =
                "UPDATE outbox SET status = ?2, retry_count = ?3, error_message = ?4,"
                " lease_expires_at = NULL, next_attempt_at = ?5"
                " WHERE event_id = ?1 RETURNING " COLS;
        struct outbox_ack *in = arg;
        int64_t now = ts_now_us();
        enum repo_status s;
        int64_t retries;
        struct db_stmt *st;
        bool dead;

        outbox_event_clear(&in->event); /* a rerun starts from clean outputs */
        s = load_state(c, in->event_id, in->status, &retries);
        if (s != REPO_OK)
                return s;
        if (outbox_status_final(in->status))
                return REPO_CONFLICT;
        retries++;
        dead = retries >= in->max_retries;
        st = db_stmt(c, sql);
        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, in->event_id);
        db_bind_text(st, 2, dead ? "dead" : "failed");
        db_bind_int64(st, 3, retries);
        db_bind_text(st, 4, in->error_message);
        if (!dead)
                db_bind_int64(st, 5,
                              now + US_PER_S * repo_outbox_retry_delay_s(retries,
                                                                         in->retry_base_seconds,
                                                                         in->retry_max_seconds));
        return update_one(c, st, "outbox failed", &in->event);
}

int
repo_outbox_retry_job(struct db_conn *c, void *arg)
{
        static const char sql[] =
                "UPDATE outbox SET status = 'pending', retry_count = 0, claimed_by = NULL,"
                " lease_expires_at = NULL, next_attempt_at = NULL"
                " WHERE event_id = ?1 RETURNING " COLS;
        struct outbox_ack *in = arg;
        enum repo_status s;
        int64_t retries;
        struct db_stmt *st;

        outbox_event_clear(&in->event); /* a rerun starts from clean outputs */
        s = load_state(c, in->event_id, in->status, &retries);
        if (s != REPO_OK)
                return s;
        if (strcmp(in->status, "dead") != 0)
                return REPO_CONFLICT;
        st = db_stmt(c, sql);
        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, in->event_id);
        return update_one(c, st, "outbox retry", &in->event);
}

enum repo_status
repo_outbox_get(struct db *d, const char *event_id, struct outbox_event *ret)
{
        struct get_read a = { event_id, ret };

        return (enum repo_status)db_read(d, outbox_get, &a);
}

enum repo_status
repo_outbox_list(struct db *d, const struct outbox_filter *f, int64_t after_seq, int limit,
                 struct outbox_event **ret_items, size_t *ret_n)
{
        struct list_read a = { f, after_seq, limit, ret_items, ret_n };

        return (enum repo_status)db_read(d, outbox_list, &a);
}
