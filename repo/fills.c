/* Fills (see fills.h): the POST /fills writer job and the reads of the
 * fills table.
 *
 * The job is the benchmark's hot path, so it does only what it must: read
 * the order and the position, work out every change (refusing before
 * anything is written), insert the fill, update the order and the
 * position, insert the event; every statement is cached. */
#include "repo/fills.h"

#include "common/dec.h"
#include "common/log.h"
#include "common/ts.h"
#include "db/db.h"
#include "repo/orders.h"
#include "repo/outbox.h"
#include "repo/positions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILL_COLUMNS                                                                               \
        "fill_id, order_id, symbol, side, price, quantity, executed_at, trade_id,"                 \
        " commission, commission_asset, is_maker, created_at"

static void
row_to_fill(struct db_stmt *st, struct fill *f)
{
        db_column_text(st, 0, f->fill_id, sizeof(f->fill_id));
        db_column_text(st, 1, f->order_id, sizeof(f->order_id));
        db_column_text(st, 2, f->symbol, sizeof(f->symbol));
        db_column_text(st, 3, f->side, sizeof(f->side));
        f->price = db_column_int64(st, 4);
        f->quantity = db_column_int64(st, 5);
        f->executed_at = db_column_int64(st, 6);
        f->has_trade_id = !db_column_null(st, 7);
        db_column_text(st, 7, f->trade_id, sizeof(f->trade_id));
        f->commission = db_column_int64(st, 8);
        db_column_text(st, 9, f->commission_asset, sizeof(f->commission_asset));
        f->is_maker = db_column_int64(st, 10) != 0;
        f->created_at = db_column_int64(st, 11);
}

/* Steps st, bound by the caller, expecting at most one fill row. */
static enum repo_status
step_one_fill(struct db_conn *c, struct db_stmt *st, const char *what, struct fill *ret)
{
        int rc = db_step(st);
        enum repo_status s = REPO_ERROR;

        if (rc == DB_ROW) {
                row_to_fill(st, ret);
                s = REPO_OK;
        } else if (rc == DB_DONE) {
                s = REPO_NOT_FOUND;
        } else {
                db_log_error(c, what);
        }
        db_stmt_done(st);
        return s;
}

/* The arguments of repo_fills_get, for its db_read job below. */
struct get_read {
        const char *fill_id;
        struct fill *ret;
};

static int
fills_get(struct db_conn *c, void *arg)
{
        const struct get_read *a = arg;
        const char *fill_id = a->fill_id;
        struct fill *ret = a->ret;
        static const char sql[] = "SELECT " FILL_COLUMNS " FROM fills WHERE fill_id = ?1";
        struct db_stmt *st = db_stmt(c, sql);

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, fill_id);
        return step_one_fill(c, st, "fills get", ret);
}

static enum repo_status
get_by_trade(struct db_conn *c, const char *order_id, const char *trade_id, struct fill *ret)
{
        static const char sql[] =
                "SELECT " FILL_COLUMNS " FROM fills WHERE order_id = ?1 AND trade_id = ?2";
        struct db_stmt *st = db_stmt(c, sql);

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, order_id);
        db_bind_text(st, 2, trade_id);
        return step_one_fill(c, st, "fills get by trade", ret);
}

/* ---- the create job ---- */

/* What the job needs of the order. */
struct order_state {
        char symbol[SYMBOL_BUFSZ];
        char side[5];
        char status[17];
        int64_t quantity;
        int64_t filled_quantity;
        char fill_notional[DEC128_BUFSZ];
        /* PostgreSQL reads (and locks) the position of the order's symbol in
         * the same statement: pos_status REPO_OK with pos, or REPO_NOT_FOUND.
         * SQLite reads it in plan_position (pos_loaded false). */
        bool pos_loaded;
        enum repo_status pos_status;
        struct position pos;
};

/* Everything the fill will write, worked out before anything is written. */
struct fill_plan {
        int64_t filled;
        char notional[DEC128_BUFSZ];
        int64_t avg;
        const char *status; /* NULL: unchanged */
        struct position pos;
        bool pos_is_new;
};

static enum repo_status
order_load(struct db_conn *c, const char *order_id, struct order_state *ret)
{
        static const char sql[] = "SELECT symbol, side, status, quantity, filled_quantity,"
                                  " fill_notional FROM orders WHERE order_id = ?1";
        /* One round trip: the order, then its symbol's position, each
         * locked as it is read (in that order: the lateral subquery runs for
         * the order's row once it is locked). */
        static const char sql_pg[] =
                "SELECT o.symbol, o.side, o.status, o.quantity, o.filled_quantity,"
                " o.fill_notional, p.* FROM (SELECT symbol, side, status, quantity,"
                " filled_quantity, fill_notional FROM orders WHERE order_id = ?1 FOR UPDATE) o"
                " LEFT JOIN LATERAL (SELECT " POSITION_COLUMNS " FROM positions"
                " WHERE symbol = o.symbol FOR UPDATE) p ON true";
        struct db_stmt *st = db_stmt(c, db_sql(sql, sql_pg));
        enum repo_status s = REPO_ERROR;
        int rc;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, order_id);
        rc = db_step(st);
        if (rc == DB_ROW) {
                db_column_text(st, 0, ret->symbol, sizeof(ret->symbol));
                db_column_text(st, 1, ret->side, sizeof(ret->side));
                db_column_text(st, 2, ret->status, sizeof(ret->status));
                ret->quantity = db_column_int64(st, 3);
                ret->filled_quantity = db_column_int64(st, 4);
                db_column_text(st, 5, ret->fill_notional, sizeof(ret->fill_notional));
                ret->pos_loaded = db_is_postgres();
                if (ret->pos_loaded)
                        ret->pos_status = repo_positions_from_row(st, 6, &ret->pos);
                s = REPO_OK;
        } else if (rc == DB_DONE) {
                s = REPO_NOT_FOUND;
        } else {
                db_log_error(c, "fills: order load");
        }
        db_stmt_done(st);
        return s;
}

static enum repo_status
conflict(struct fill_create *fc, enum fill_conflict why)
{
        fc->conflict = why;
        return REPO_CONFLICT;
}

/* Defaults symbol and side to the order's; refuses ones that differ. */
static enum repo_status
match_order(struct fill_create *fc, const struct order_state *o)
{
        struct fill *f = &fc->fill;

        memcpy(fc->order_symbol, o->symbol, sizeof(fc->order_symbol));
        memcpy(fc->order_side, o->side, sizeof(fc->order_side));
        fc->order_quantity = o->quantity;
        fc->order_filled_quantity = o->filled_quantity;
        if (fc->has_symbol && strcmp(f->symbol, o->symbol) != 0)
                return conflict(fc, FILL_CONFLICT_SYMBOL);
        if (fc->has_side && strcmp(f->side, o->side) != 0)
                return conflict(fc, FILL_CONFLICT_SIDE);
        memcpy(f->symbol, o->symbol, sizeof(f->symbol));
        memcpy(f->side, o->side, sizeof(f->side));
        return REPO_OK;
}

/* The order after the fill: filled_quantity, the exact notional and the
 * average derived from it with one rounding, and the status unless final. */
static enum repo_status
plan_order(struct db_conn *c, struct fill_create *fc, const struct order_state *o,
           struct fill_plan *pl)
{
        const struct fill *f = &fc->fill;
        __extension__ __int128 notional;
        enum order_status now, next;

        if (!order_status_from_name(o->status, &now)) {
                db_log_error(c, "fills: the order's status is not one of the seven");
                return REPO_ERROR;
        }
        if (now == ORDER_REJECTED)
                return conflict(fc, FILL_CONFLICT_REJECTED);
        if (!dec_add(o->filled_quantity, f->quantity, &pl->filled) || pl->filled > o->quantity)
                return conflict(fc, FILL_CONFLICT_OVERFILL);
        if (!dec128_parse(o->fill_notional, &notional)) {
                db_log_error(c, "fills: order fill_notional is not an integer");
                return REPO_ERROR;
        }
        if (!dec_notional_add(notional, f->price, f->quantity, &notional) ||
            !dec_avg_from_notional(notional, pl->filled, &pl->avg))
                return conflict(fc, FILL_CONFLICT_OUT_OF_RANGE);
        dec128_format(notional, pl->notional);
        /* A final order (a fill that raced a cancel) keeps its status. */
        next = pl->filled == o->quantity ? ORDER_FILLED : ORDER_PARTIALLY_FILLED;
        pl->status = order_transition_allowed(now, next) ? order_status_name(next) : NULL;
        return REPO_OK;
}

static enum repo_status
plan_position(struct db_conn *c, struct fill_create *fc, const struct order_state *o,
              struct fill_plan *pl, int64_t now)
{
        const struct fill *f = &fc->fill;
        /* f->symbol is the order's (match_order). */
        enum repo_status s =
                o->pos_loaded ? o->pos_status : repo_positions_lock(c, f->symbol, &pl->pos);

        if (o->pos_loaded && s == REPO_OK)
                pl->pos = o->pos;

        pl->pos_is_new = s == REPO_NOT_FOUND;
        if (pl->pos_is_new)
                pl->pos = (struct position){ .quantity = 0 };
        else if (s != REPO_OK)
                return s;
        memcpy(pl->pos.symbol, f->symbol, sizeof(pl->pos.symbol));
        if (!position_apply_fill(&pl->pos, strcmp(f->side, "buy") == 0, f->price, f->quantity))
                return conflict(fc, FILL_CONFLICT_OUT_OF_RANGE);
        pl->pos.last_updated = now;
        return REPO_OK;
}

/* REPO_OK, REPO_CONFLICT for a PRIMARY KEY or UNIQUE clash, or REPO_ERROR. */
static enum repo_status
fill_insert(struct db_conn *c, const struct fill *f)
{
        static const char sql[] = "INSERT INTO fills (" FILL_COLUMNS ") VALUES"
                                  " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
        struct db_stmt *st = db_stmt(c, sql);
        enum repo_status s = REPO_ERROR;
        int rc;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, f->fill_id);
        db_bind_text(st, 2, f->order_id);
        db_bind_text(st, 3, f->symbol);
        db_bind_text(st, 4, f->side);
        db_bind_int64(st, 5, f->price);
        db_bind_int64(st, 6, f->quantity);
        db_bind_int64(st, 7, f->executed_at);
        if (f->has_trade_id)
                db_bind_text(st, 8, f->trade_id);
        db_bind_int64(st, 9, f->commission);
        db_bind_text(st, 10, f->commission_asset);
        db_bind_int64(st, 11, f->is_maker);
        db_bind_int64(st, 12, f->created_at);
        /* Deferred on PostgreSQL: a clash there reruns the job waiting, and
         * this step then reports DB_E_UNIQUE. */
        rc = db_step_deferred(st);
        if (rc == DB_DONE)
                s = REPO_OK;
        else if (rc == DB_E_UNIQUE)
                s = REPO_CONFLICT;
        else
                db_log_error(c, "fills insert");
        db_stmt_done(st);
        return s;
}

/* Same content: every client-sent field after defaults (executed_at only
 * when sent: otherwise it is the server's clock). fill_id is not compared:
 * a redelivery by trade_id may carry a new one. */
static bool
same_content(const struct fill *a, const struct fill_create *fc)
{
        const struct fill *b = &fc->fill;

        return strcmp(a->order_id, b->order_id) == 0 && strcmp(a->symbol, b->symbol) == 0 &&
               strcmp(a->side, b->side) == 0 && a->price == b->price &&
               a->quantity == b->quantity &&
               (!fc->has_executed_at || a->executed_at == b->executed_at) &&
               a->has_trade_id == b->has_trade_id &&
               (!a->has_trade_id || strcmp(a->trade_id, b->trade_id) == 0) &&
               a->commission == b->commission &&
               strcmp(a->commission_asset, b->commission_asset) == 0 && a->is_maker == b->is_maker;
}

/* Is the fill a redelivery? The fill_id is looked at first (reusing one for
 * other content is a conflict whatever its trade_id), then (order_id,
 * trade_id). Found with the same content: REPO_OK with the stored fill and
 * existed; with other content: REPO_CONFLICT; not found: otherwise (the
 * caller's own verdict, whose fc->conflict is left as it was). */
static enum repo_status
redelivered(struct db_conn *c, struct fill_create *fc, enum repo_status otherwise)
{
        struct fill stored;
        enum fill_conflict why = FILL_CONFLICT_FILL_ID;
        enum repo_status s = fills_get(c, &(struct get_read){ fc->fill.fill_id, &stored });

        if (s == REPO_NOT_FOUND && fc->fill.has_trade_id) {
                why = FILL_CONFLICT_TRADE_ID;
                s = get_by_trade(c, fc->fill.order_id, fc->fill.trade_id, &stored);
        }
        if (s == REPO_NOT_FOUND) {
                if (otherwise == REPO_ERROR)
                        db_log_error(c, "fills insert clashed but no fill matches");
                return otherwise;
        }
        if (s != REPO_OK)
                return s;
        if (!same_content(&stored, fc))
                return conflict(fc, why);
        fc->stored = stored;
        fc->existed = true;
        return REPO_OK;
}

static enum repo_status
order_update(struct db_conn *c, const char *order_id, const struct fill_plan *pl, int64_t now)
{
        /* Two statements: when the status stays (every fill but an order's
         * first and last), leaving it out of SET spares the status index
         * and the status CHECK, which SQLite skips for columns not set. */
        static const char sql_same[] = "UPDATE orders SET filled_quantity = ?2,"
                                       " fill_notional = ?3, avg_fill_price = ?4,"
                                       " updated_at = ?6 WHERE order_id = ?1";
        static const char sql_status[] = "UPDATE orders SET filled_quantity = ?2,"
                                         " fill_notional = ?3, avg_fill_price = ?4,"
                                         " status = ?5, updated_at = ?6 WHERE order_id = ?1";
        struct db_stmt *st = db_stmt(c, pl->status ? sql_status : sql_same);
        enum repo_status s = REPO_ERROR;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, order_id);
        db_bind_int64(st, 2, pl->filled);
        db_bind_text(st, 3, pl->notional);
        db_bind_int64(st, 4, pl->avg);
        if (pl->status != NULL)
                db_bind_text(st, 5, pl->status);
        db_bind_int64(st, 6, now);
        if (db_step_deferred(st) == DB_DONE)
                s = REPO_OK;
        else
                db_log_error(c, "fills: order update");
        db_stmt_done(st);
        return s;
}

/* Writes the plan: the order, the position, the fill_processed event. */
static enum repo_status
apply_plan(struct db_conn *c, const struct fill_create *fc, const struct fill_plan *pl, int64_t now)
{
        const struct fill *f = &fc->fill;
        enum repo_status s = order_update(c, f->order_id, pl, now);
        char *payload;

        if (s == REPO_OK)
                s = pl->pos_is_new ? repo_positions_create(c, &pl->pos)
                                   : repo_positions_update(c, &pl->pos);
        if (s != REPO_OK)
                return s;
        payload = fc->payload(f);
        if (payload == NULL) {
                log_msg(LOG_ERROR, "db_error", "fills: out of memory for the event payload");
                return REPO_ERROR;
        }
        s = repo_outbox_add(c, "fill_processed", f->order_id, payload, now);
        free(payload);
        return s;
}

/* Every check comes before the first write, so a refused fill writes
 * nothing by construction (the savepoint rollback is only a backstop). A
 * refusal is first checked against redelivery: a fill already applied
 * answers 200 even once its order is filled or rejected. The normal path
 * pays no lookup for that: the insert's constraints detect it. */
int
repo_fills_create_job(struct db_conn *c, void *arg)
{
        struct fill_create *fc = arg;
        struct fill *f = &fc->fill;
        struct order_state o;
        struct fill_plan pl;
        int64_t now = ts_now_us();
        enum repo_status s;

        /* A job may run twice (its batch rerun): start from clean outputs. */
        fc->existed = false;
        fc->conflict = FILL_CONFLICT_NONE;
        /* The order, then the position: each locked as it is read. */
        db_job_locks_rows(c);
        s = order_load(c, f->order_id, &o);

        if (s == REPO_OK)
                s = match_order(fc, &o);
        if (s != REPO_OK)
                return s;
        f->created_at = now;
        if (!fc->has_executed_at)
                f->executed_at = now;
        s = plan_order(c, fc, &o, &pl);
        if (s == REPO_OK)
                s = plan_position(c, fc, &o, &pl, now);
        if (s == REPO_CONFLICT)
                return redelivered(c, fc, REPO_CONFLICT);
        if (s == REPO_OK)
                s = fill_insert(c, f);
        if (s == REPO_CONFLICT)
                return redelivered(c, fc, REPO_ERROR);
        if (s == REPO_OK)
                s = apply_plan(c, fc, &pl, now);
        if (s == REPO_OK)
                fc->stored = *f;
        return s;
}

/* ---- lists ---- */

/* One static statement per filter combination, each served by an index:
 * (order_id, executed_at, fill_id), (symbol, executed_at, fill_id) or
 * (executed_at, fill_id). The bounds are always bound (to the extremes
 * when absent), which keeps them sargable. */
#define LIST_TAIL                                                                                  \
        " executed_at > ?3 AND (executed_at, fill_id) < (?4, ?5)"                                  \
        " ORDER BY executed_at DESC, fill_id DESC LIMIT ?6"
static const char sql_list_all[] = "SELECT " FILL_COLUMNS " FROM fills WHERE" LIST_TAIL;
static const char sql_list_order[] =
        "SELECT " FILL_COLUMNS " FROM fills WHERE order_id = ?1 AND" LIST_TAIL;
static const char sql_list_symbol[] =
        "SELECT " FILL_COLUMNS " FROM fills WHERE symbol = ?2 AND" LIST_TAIL;
/* The unary + keeps SQLite's planner on the order's index, which holds fewer
 * rows than the symbol's (an order has one symbol). PostgreSQL has no unary +
 * on text, and its planner weighs the two indexes by their statistics. */
static const char sql_list_order_symbol[] =
        "SELECT " FILL_COLUMNS " FROM fills WHERE order_id = ?1 AND +symbol = ?2 AND" LIST_TAIL;
static const char sql_list_order_symbol_pg[] =
        "SELECT " FILL_COLUMNS " FROM fills WHERE order_id = ?1 AND symbol = ?2 AND" LIST_TAIL;

const char *const *
repo_fills_list_sql(size_t *ret_n)
{
        static const char *const all[] = { sql_list_all, sql_list_order, sql_list_symbol,
                                           sql_list_order_symbol };
        static const char *const all_pg[] = { sql_list_all, sql_list_order, sql_list_symbol,
                                              sql_list_order_symbol_pg };

        *ret_n = sizeof(all) / sizeof(all[0]);
        return db_is_postgres() ? all_pg : all;
}

/* The arguments of repo_fills_list, for its db_read job below. */
struct list_read {
        const struct fill_filter *ff;
        int limit;
        void (*row)(void *cls, const struct fill *f);
        void *cls;
        size_t *ret_n;
};

static int
fills_list(struct db_conn *c, void *arg)
{
        const struct list_read *a = arg;
        const struct fill_filter *ff = a->ff;
        int limit = a->limit;
        void (*row)(void *cls, const struct fill *f) = a->row;
        void *cls = a->cls;
        size_t *ret_n = a->ret_n;
        const char *sql =
                ff->order_id ? (ff->symbol ? db_sql(sql_list_order_symbol, sql_list_order_symbol_pg)
                                           : sql_list_order)
                             : (ff->symbol ? sql_list_symbol : sql_list_all);
        struct db_stmt *st = db_stmt(c, sql);
        struct fill f;
        size_t n = 0;
        int rc;

        if (st == NULL)
                return REPO_ERROR;
        if (ff->order_id)
                db_bind_text(st, 1, ff->order_id);
        if (ff->symbol)
                db_bind_text(st, 2, ff->symbol);
        db_bind_int64(st, 3, ff->after);
        db_bind_int64(st, 4, ff->before_key);
        db_bind_text(st, 5, ff->before_id);
        db_bind_int64(st, 6, limit);
        while ((rc = db_step(st)) == DB_ROW) {
                row_to_fill(st, &f);
                row(cls, &f);
                n++;
        }
        if (rc != DB_DONE)
                db_log_error(c, "fills list");
        db_stmt_done(st);
        if (rc != DB_DONE)
                return REPO_ERROR;
        *ret_n = n;
        return REPO_OK;
}

enum repo_status
repo_fills_get(struct db *d, const char *fill_id, struct fill *ret)
{
        struct get_read a = { fill_id, ret };

        return (enum repo_status)db_read(d, fills_get, &a);
}

enum repo_status
repo_fills_list(struct db *d, const struct fill_filter *ff, int limit,
                void (*row)(void *cls, const struct fill *f), void *cls, size_t *ret_n)
{
        struct list_read a = { ff, limit, row, cls, ret_n };

        return (enum repo_status)db_read(d, fills_list, &a);
}
