/* The quotes table (see quotes.h): the one place the SQL of quotes lives.
 *
 * Lists are keyset-paginated newest first on (created_at, quote_id). Each
 * combination of filters is its own static SQL text (and so its own cached
 * statement) so that SQLite can pick the index that serves it; a missing
 * cursor is the cursor (INT64_MAX, ''), which every row precedes, so a first
 * page runs the same statement as the next ones. */
#include "repo/quotes.h"

#include "common/ts.h"
#include "db/db.h"

#include <stdio.h>
#include <string.h>

const char *const quote_status_names[] = { "active", "used", "expired", "cancelled", NULL };

/* The columns every read returns, in the order read_row expects. */
#define QUOTE_COLS                                                                                 \
        "quote_id, symbol_src, symbol_dst, bid_price, bid_qty, ask_price, ask_qty,"                \
        " source_bid_price, source_ask_price, spread_bps, status, created_at,"                     \
        " updated_at, expires_at"

/* The pieces of a list query. ?1, ?2: the cursor; ?3: the limit; ?4: now;
 * ?5: the status; ?6: symbol_src; ?7: symbol_dst. */
#define L_SELECT "SELECT " QUOTE_COLS " FROM quotes WHERE "
#define L_ACTIVE "status = 'active' AND (expires_at IS NULL OR expires_at > ?4) AND "
#define L_STATUS "status = ?5 AND "
#define L_SRC "symbol_src = ?6 AND "
#define L_DST "symbol_dst = ?7 AND "
#define L_PAGE "(created_at, quote_id) < (?1, ?2) ORDER BY created_at DESC, quote_id DESC LIMIT ?3"

enum { LIST_BY_SRC = 1, LIST_BY_DST = 2 }; /* bits of the symbol part of the index */
enum { LIST_ANY_STATUS = 0, LIST_ACTIVE = 1, LIST_OTHER_STATUS = 2 };

/* Indexed by status kind * 4 + symbol bits. A file-level table rather than
 * a static inside repo_quotes_list because the plan test reads it too
 * (repo_quotes_list_sql). */
static const char *const list_sql[] = {
        L_SELECT L_PAGE,
        L_SELECT L_SRC L_PAGE,
        L_SELECT L_DST L_PAGE,
        L_SELECT L_SRC L_DST L_PAGE,
        L_SELECT L_ACTIVE L_PAGE,
        L_SELECT L_ACTIVE L_SRC L_PAGE,
        L_SELECT L_ACTIVE L_DST L_PAGE,
        L_SELECT L_ACTIVE L_SRC L_DST L_PAGE,
        L_SELECT L_STATUS L_PAGE,
        L_SELECT L_STATUS L_SRC L_PAGE,
        L_SELECT L_STATUS L_DST L_PAGE,
        L_SELECT L_STATUS L_SRC L_DST L_PAGE,
};

/* ?1: now; ?2: symbol_src; ?3: symbol_dst. Indexed by the symbol bits. */
#define E_UPDATE "UPDATE quotes SET status = 'expired', updated_at = ?1 WHERE status = 'active'"
static const char *const expire_sql[] = {
        E_UPDATE,
        E_UPDATE " AND symbol_src = ?2",
        E_UPDATE " AND symbol_dst = ?3",
        E_UPDATE " AND symbol_src = ?2 AND symbol_dst = ?3",
};

const char *const *
repo_quotes_list_sql(size_t *ret_n)
{
        *ret_n = sizeof(list_sql) / sizeof(list_sql[0]);
        return list_sql;
}

const char *const *
repo_quotes_expire_sql(size_t *ret_n)
{
        *ret_n = sizeof(expire_sql) / sizeof(expire_sql[0]);
        return expire_sql;
}

/* Reads a nullable INTEGER column. */
static void
column_opt(struct db_stmt *st, int col, bool *ret_has, int64_t *ret_v)
{
        *ret_has = !db_column_null(st, col);
        *ret_v = *ret_has ? db_column_int64(st, col) : 0;
}

/* Reads a row of QUOTE_COLS starting at column 0. */
static void
read_row(struct db_stmt *st, struct quote *q)
{
        memset(q, 0, sizeof(*q));
        db_column_text(st, 0, q->quote_id, sizeof(q->quote_id));
        db_column_text(st, 1, q->symbol_src, sizeof(q->symbol_src));
        db_column_text(st, 2, q->symbol_dst, sizeof(q->symbol_dst));
        column_opt(st, 3, &q->has_bid_price, &q->bid_price);
        column_opt(st, 4, &q->has_bid_qty, &q->bid_qty);
        column_opt(st, 5, &q->has_ask_price, &q->ask_price);
        column_opt(st, 6, &q->has_ask_qty, &q->ask_qty);
        q->source_bid_price = db_column_int64(st, 7);
        q->source_ask_price = db_column_int64(st, 8);
        column_opt(st, 9, &q->has_spread_bps, &q->spread_bps);
        db_column_text(st, 10, q->status, sizeof(q->status));
        q->created_at = db_column_int64(st, 11);
        q->updated_at = db_column_int64(st, 12);
        column_opt(st, 13, &q->has_expires_at, &q->expires_at);
}

/* Binds a nullable decimal or timestamp. */
static void
bind_opt(struct db_stmt *st, int idx, bool has, int64_t v)
{
        if (has)
                db_bind_int64(st, idx, v);
        else
                db_bind_null(st, idx);
}

/* The arguments of repo_quotes_get, for its db_read job below. */
struct get_read {
        const char *quote_id;
        struct quote *ret;
};

static int
quotes_get(struct db_conn *c, void *arg)
{
        const struct get_read *a = arg;
        const char *quote_id = a->quote_id;
        struct quote *ret = a->ret;
        static const char sql[] = "SELECT " QUOTE_COLS " FROM quotes WHERE quote_id = ?1";
        struct db_stmt *st = db_stmt(c, sql);
        enum repo_status s = REPO_ERROR;
        int rc;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, quote_id);
        rc = db_step(st);
        if (rc == DB_ROW) {
                read_row(st, ret);
                s = REPO_OK;
        } else if (rc == DB_DONE) {
                s = REPO_NOT_FOUND;
        } else {
                db_log_error(c, "quotes get");
        }
        db_stmt_done(st);
        return s;
}

/* Binds the filters present in f to the list statement chosen for them. */
static void
bind_filters(struct db_stmt *st, const struct quote_filter *f, int status_kind)
{
        if (status_kind == LIST_ACTIVE)
                db_bind_int64(st, 4, f->now_us);
        else if (status_kind == LIST_OTHER_STATUS)
                db_bind_text(st, 5, f->status);
        if (f->symbol_src != NULL)
                db_bind_text(st, 6, f->symbol_src);
        if (f->symbol_dst != NULL)
                db_bind_text(st, 7, f->symbol_dst);
}

/* Which status part a list query has: "active" also filters on expires_at. */
static int
list_status_kind(const char *status)
{
        if (status == NULL)
                return LIST_ANY_STATUS;
        return strcmp(status, "active") == 0 ? LIST_ACTIVE : LIST_OTHER_STATUS;
}

/* The arguments of repo_quotes_list, for its db_read job below. */
struct list_read {
        const struct quote_filter *f;
        bool has_cursor;
        int64_t after_key;
        const char *after_id;
        int limit;
        void (*on_row)(void *cls, const struct quote *q);
        void *cls;
};

static int
quotes_list(struct db_conn *c, void *arg)
{
        const struct list_read *a = arg;
        const struct quote_filter *f = a->f;
        bool has_cursor = a->has_cursor;
        int64_t after_key = a->after_key;
        const char *after_id = a->after_id;
        int limit = a->limit;
        void (*on_row)(void *cls, const struct quote *q) = a->on_row;
        void *cls = a->cls;
        int status_kind = list_status_kind(f->status);
        int symbols = (f->symbol_src ? LIST_BY_SRC : 0) | (f->symbol_dst ? LIST_BY_DST : 0);
        struct db_stmt *st = db_stmt(c, list_sql[status_kind * 4 + symbols]);
        struct quote q;
        int rc;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_int64(st, 1, has_cursor ? after_key : INT64_MAX);
        db_bind_text(st, 2, has_cursor ? after_id : "");
        db_bind_int64(st, 3, limit);
        bind_filters(st, f, status_kind);
        while ((rc = db_step(st)) == DB_ROW) {
                read_row(st, &q);
                on_row(cls, &q);
        }
        if (rc != DB_DONE)
                db_log_error(c, "quotes list");
        db_stmt_done(st);
        return rc == DB_DONE ? REPO_OK : REPO_ERROR;
}

/* True when a and b carry the same client-sent content: everything but the
 * status (it may have changed since) and the server's timestamps. */
static bool
same_content(const struct quote *a, const struct quote *b)
{
        return strcmp(a->quote_id, b->quote_id) == 0 && strcmp(a->symbol_src, b->symbol_src) == 0 &&
               strcmp(a->symbol_dst, b->symbol_dst) == 0 && a->has_bid_price == b->has_bid_price &&
               a->bid_price == b->bid_price && a->has_bid_qty == b->has_bid_qty &&
               a->bid_qty == b->bid_qty && a->has_ask_price == b->has_ask_price &&
               a->ask_price == b->ask_price && a->has_ask_qty == b->has_ask_qty &&
               a->ask_qty == b->ask_qty && a->source_bid_price == b->source_bid_price &&
               a->source_ask_price == b->source_ask_price &&
               a->has_spread_bps == b->has_spread_bps && a->spread_bps == b->spread_bps &&
               a->has_expires_at == b->has_expires_at && a->expires_at == b->expires_at;
}

/* Runs the INSERT of q. Returns db_step's result. */
static int
insert_row(struct db_conn *c, const struct quote *q, int64_t now)
{
        static const char sql[] =
                "INSERT INTO quotes (quote_id, symbol_src, symbol_dst, bid_price, bid_qty,"
                " ask_price, ask_qty, source_bid_price, source_ask_price, spread_bps, status,"
                " created_at, updated_at, expires_at)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'active', ?11, ?11, ?12)";
        struct db_stmt *st = db_stmt(c, sql);
        int rc;

        if (st == NULL)
                return DB_E_ERROR;
        db_bind_text(st, 1, q->quote_id);
        db_bind_text(st, 2, q->symbol_src);
        db_bind_text(st, 3, q->symbol_dst);
        bind_opt(st, 4, q->has_bid_price, q->bid_price);
        bind_opt(st, 5, q->has_bid_qty, q->bid_qty);
        bind_opt(st, 6, q->has_ask_price, q->ask_price);
        bind_opt(st, 7, q->has_ask_qty, q->ask_qty);
        db_bind_int64(st, 8, q->source_bid_price);
        db_bind_int64(st, 9, q->source_ask_price);
        bind_opt(st, 10, q->has_spread_bps, q->spread_bps);
        db_bind_int64(st, 11, now);
        bind_opt(st, 12, q->has_expires_at, q->expires_at);
        rc = db_step(st);
        if (rc != DB_DONE) {
                if (rc != DB_E_UNIQUE)
                        db_log_error(c, "quotes insert");
        }
        db_stmt_done(st);
        return rc;
}

/* Creates q, or finds it already stored (an idempotent repeat). On REPO_OK
 * *q becomes the stored quote and *ret_existed says which case it was.
 * REPO_CONFLICT when the id is stored with other content. */
static enum repo_status
create_one(struct db_conn *c, struct quote *q, int64_t now, bool *ret_existed)
{
        struct quote stored;
        enum repo_status s;
        int rc = insert_row(c, q, now);

        if (rc == DB_DONE) {
                snprintf(q->status, sizeof(q->status), "active");
                q->created_at = q->updated_at = now;
                *ret_existed = false;
                return REPO_OK;
        }
        if (rc != DB_E_UNIQUE)
                return rc == DB_E_CHECK ? REPO_INVALID : REPO_ERROR;
        s = quotes_get(c, &(struct get_read){ q->quote_id, &stored });
        if (s != REPO_OK)
                return REPO_ERROR; /* the key exists: not finding it is an error */
        if (!same_content(q, &stored))
                return REPO_CONFLICT;
        *q = stored;
        *ret_existed = true;
        return REPO_OK;
}

int
repo_quotes_create_job(struct db_conn *c, void *arg)
{
        struct repo_quote_create *job = arg;

        return (int)create_one(c, &job->q, ts_now_us(), &job->existed);
}

int
repo_quotes_batch_job(struct db_conn *c, void *arg)
{
        struct repo_quotes_batch *job = arg;
        int64_t now = ts_now_us();
        bool existed;

        /* An id seen earlier in this batch is found stored by then, so a
         * repeat within the batch is handled like a repeat of a stored one. */
        for (size_t i = 0; i < job->n; i++) {
                enum repo_status s = create_one(c, &job->items[i], now, &existed);

                if (s == REPO_CONFLICT)
                        job->conflict_index = i;
                if (s != REPO_OK)
                        return (int)s; /* the savepoint rollback undoes items 0..i-1 */
        }
        return REPO_OK;
}

int
repo_quotes_set_status_job(struct db_conn *c, void *arg)
{
        static const char sql[] = "UPDATE quotes SET status = ?2, updated_at = ?3"
                                  " WHERE quote_id = ?1 AND status = 'active'"
                                  " RETURNING " QUOTE_COLS;
        struct repo_quote_status *job = arg;
        struct db_stmt *st = db_stmt(c, sql);
        enum repo_status s;
        bool changed = false;
        int rc;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, job->quote_id);
        db_bind_text(st, 2, job->status);
        db_bind_int64(st, 3, ts_now_us());
        rc = db_step(st);
        if (rc == DB_ROW) {
                read_row(st, &job->q);
                changed = true;
                rc = db_step(st); /* quote_id is the key: one row at most */
        }
        if (rc != DB_DONE)
                db_log_error(c, "quotes set status");
        db_stmt_done(st);
        if (rc != DB_DONE)
                return REPO_ERROR;
        if (changed)
                return REPO_OK;
        /* Not changed: either there is no such quote or it is not active. */
        s = quotes_get(c, &(struct get_read){ job->quote_id, &job->q });
        return (int)(s == REPO_OK ? REPO_CONFLICT : s);
}

/* True (REPO_CONFLICT) when an order references quote_id. */
static enum repo_status
check_unreferenced(struct db_conn *c, const char *quote_id)
{
        static const char sql[] = "SELECT 1 FROM orders WHERE quote_id = ?1 LIMIT 1";
        struct db_stmt *st = db_stmt(c, sql);
        enum repo_status s = REPO_ERROR;
        int rc;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, quote_id);
        rc = db_step(st);
        if (rc == DB_ROW)
                s = REPO_CONFLICT;
        else if (rc == DB_DONE)
                s = REPO_OK;
        else
                db_log_error(c, "quotes delete: orders check");
        db_stmt_done(st);
        return s;
}

int
repo_quotes_delete_job(struct db_conn *c, void *arg)
{
        static const char sql[] = "DELETE FROM quotes WHERE quote_id = ?1";
        struct repo_quote_delete *job = arg;
        enum repo_status s = check_unreferenced(c, job->quote_id);
        struct db_stmt *st;
        int rc;

        if (s != REPO_OK)
                return (int)s;
        st = db_stmt(c, sql);
        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, job->quote_id);
        rc = db_step(st);
        if (rc == DB_DONE) {
                s = db_changes(c) == 1 ? REPO_OK : REPO_NOT_FOUND;
        } else if (rc == DB_E_FOREIGN_KEY) {
                /* A row the check above cannot see (another referencing
                 * table) still holds it: the same conflict. */
                s = REPO_CONFLICT;
        } else {
                db_log_error(c, "quotes delete");
                s = REPO_ERROR;
        }
        db_stmt_done(st);
        return (int)s;
}

int
repo_quotes_expire_job(struct db_conn *c, void *arg)
{
        struct repo_quotes_expire *job = arg;
        int symbols = (job->symbol_src ? LIST_BY_SRC : 0) | (job->symbol_dst ? LIST_BY_DST : 0);
        struct db_stmt *st = db_stmt(c, expire_sql[symbols]);
        int rc;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_int64(st, 1, ts_now_us());
        if (job->symbol_src != NULL)
                db_bind_text(st, 2, job->symbol_src);
        if (job->symbol_dst != NULL)
                db_bind_text(st, 3, job->symbol_dst);
        rc = db_step(st);
        if (rc == DB_DONE)
                job->expired = db_changes(c);
        else
                db_log_error(c, "quotes expire");
        db_stmt_done(st);
        return rc == DB_DONE ? REPO_OK : REPO_ERROR;
}

enum repo_status
repo_quotes_get(struct db *d, const char *quote_id, struct quote *ret)
{
        struct get_read a = { quote_id, ret };

        return (enum repo_status)db_read(d, quotes_get, &a);
}

enum repo_status
repo_quotes_list(struct db *d, const struct quote_filter *f, bool has_cursor, int64_t after_key,
                 const char *after_id, int limit, void (*on_row)(void *cls, const struct quote *q),
                 void *cls)
{
        struct list_read a = { f, has_cursor, after_key, after_id, limit, on_row, cls };

        return (enum repo_status)db_read(d, quotes_list, &a);
}
