/* Positions (see positions.h): the pure position arithmetic, then the SQL of
 * the positions table and the reconciliation and mark-price jobs.
 *
 * All arithmetic is exact (common/dec.h): sums and differences are exact,
 * a product of two 8-digit decimals is rounded half-to-even once, and the
 * average entry price is derived from the exact cost basis (positions.h)
 * with one half-even rounding, never from the previous rounded average.
 * Any result outside the decimal range makes the whole operation fail, so
 * callers write nothing (409). */
#include "repo/positions.h"

#include "common/dec.h"
#include "common/ts.h"
#include "db/db.h"
#include "repo/outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- pure arithmetic ---- */

bool
position_mark_to_market(struct position *p)
{
        int64_t diff, pnl = 0;

        if (p->has_mark_price) {
                if (!dec_sub(p->mark_price, p->avg_entry_price, &diff) ||
                    !dec_mul(diff, p->quantity, &pnl))
                        return false;
        }
        p->unrealized_pnl = pnl;
        return true;
}

/* Closes closed units of the position held in p at price: adds the realized
 * PnL of those units to n->realized_pnl. */
static bool
realize(const struct position *p, struct position *n, int64_t price, int64_t closed)
{
        int64_t per_unit, pnl;
        bool ok = p->quantity > 0 ? dec_sub(price, p->avg_entry_price, &per_unit)
                                  : dec_sub(p->avg_entry_price, price, &per_unit);

        return ok && dec_mul(per_unit, closed, &pnl) &&
               dec_add(p->realized_pnl, pnl, &n->realized_pnl);
}

/* Grows the position held in p by qty at price into n (whose quantity is
 * already the new one): basis = avg * held + residual + price * qty, all in
 * 1e-16 units and exact; the new avg is basis / |n->quantity| rounded
 * half-to-even, and the new residual what that rounding left over. */
static bool
grow(const struct position *p, struct position *n, int64_t held, int64_t price, int64_t qty)
{
        __extension__ __int128 basis, shown;
        int64_t now_held = n->quantity < 0 ? -n->quantity : n->quantity;
        int64_t avg;

        /* |avg * held|, |price * qty| < 2^126 and the residual is small, so
         * dec_notional_add cannot fail on a stored position; it is checked
         * anyway. The average then fits int64 or the fill is refused. */
        if (!dec_notional_add(p->basis_residual, p->avg_entry_price, held, &basis) ||
            !dec_notional_add(basis, price, qty, &basis) ||
            !dec_avg_from_notional(basis, now_held, &avg))
                return false;
        shown = avg;
        shown *= now_held;
        n->avg_entry_price = avg;
        n->basis_residual = (int64_t)(basis - shown); /* |.| <= now_held / 2 */
        return true;
}

bool
position_apply_fill(struct position *p, bool is_buy, int64_t price, int64_t qty)
{
        struct position n = *p;
        /* quantity is never INT64_MIN (dec.h), so its magnitude fits. */
        int64_t held = p->quantity < 0 ? -p->quantity : p->quantity;

        if (price <= 0 || qty <= 0)
                return false;
        if (!dec_add(p->quantity, is_buy ? qty : -qty, &n.quantity))
                return false;
        if (p->quantity == 0 || (p->quantity > 0) == is_buy) {
                /* Growing (or opening from flat, where the basis is 0). */
                if (!grow(p, &n, held, price, qty))
                        return false;
        } else {
                if (!realize(p, &n, price, qty < held ? qty : held))
                        return false;
                /* What is left (if anything) costs exactly avg (or price,
                 * past zero) per unit: no residual. */
                n.basis_residual = 0;
                if (n.quantity == 0)
                        n.avg_entry_price = 0;
                else if ((n.quantity > 0) != (p->quantity > 0))
                        n.avg_entry_price = price; /* crossed zero: the rest opens here */
        }
        if (!position_mark_to_market(&n))
                return false;
        *p = n;
        return true;
}

/* ---- the table ---- */

static void
row_to_position(struct db_stmt *st, int first, struct position *p)
{
        db_column_text(st, first, p->symbol, sizeof(p->symbol));
        p->quantity = db_column_int64(st, first + 1);
        p->avg_entry_price = db_column_int64(st, first + 2);
        p->realized_pnl = db_column_int64(st, first + 3);
        p->unrealized_pnl = db_column_int64(st, first + 4);
        p->has_mark_price = !db_column_null(st, first + 5);
        p->mark_price = p->has_mark_price ? db_column_int64(st, first + 5) : 0;
        p->last_updated = db_column_int64(st, first + 6);
        p->basis_residual = db_column_int64(st, first + 7);
}

enum repo_status
repo_positions_from_row(struct db_stmt *st, int first, struct position *ret)
{
        if (db_column_null(st, first))
                return REPO_NOT_FOUND;
        row_to_position(st, first, ret);
        return REPO_OK;
}

static enum repo_status
select_position(struct db_conn *c, const char *sql, const char *symbol, struct position *ret)
{
        struct db_stmt *st = db_stmt(c, sql);
        enum repo_status s = REPO_ERROR;
        int rc;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, symbol);
        rc = db_step(st);
        if (rc == DB_ROW) {
                row_to_position(st, 0, ret);
                s = REPO_OK;
        } else if (rc == DB_DONE) {
                s = REPO_NOT_FOUND;
        } else {
                db_log_error(c, "positions get");
        }
        db_stmt_done(st);
        return s;
}

enum repo_status
repo_positions_load(struct db_conn *c, const char *symbol, struct position *ret)
{
        static const char sql[] = "SELECT " POSITION_COLUMNS " FROM positions WHERE symbol = ?1";

        return select_position(c, sql, symbol, ret);
}

enum repo_status
repo_positions_lock(struct db_conn *c, const char *symbol, struct position *ret)
{
        static const char sql[] = "SELECT " POSITION_COLUMNS " FROM positions WHERE symbol = ?1";
        static const char sql_pg[] =
                "SELECT " POSITION_COLUMNS " FROM positions WHERE symbol = ?1 FOR UPDATE";

        return select_position(c, db_sql(sql, sql_pg), symbol, ret);
}

/* Binds p to ?1..?8 in the order of POSITION_COLUMNS and steps st. */
static enum repo_status
write_position(struct db_conn *c, struct db_stmt *st, const struct position *p, const char *what)
{
        enum repo_status s = REPO_ERROR;
        int rc;

        db_bind_text(st, 1, p->symbol);
        db_bind_int64(st, 2, p->quantity);
        db_bind_int64(st, 3, p->avg_entry_price);
        db_bind_int64(st, 4, p->realized_pnl);
        db_bind_int64(st, 5, p->unrealized_pnl);
        if (p->has_mark_price)
                db_bind_int64(st, 6, p->mark_price);
        db_bind_int64(st, 7, p->last_updated);
        db_bind_int64(st, 8, p->basis_residual);
        /* Deferred on PostgreSQL: a clash there reruns the job waiting, and
         * this step then reports DB_E_UNIQUE. */
        rc = db_step_deferred(st);
        if (rc == DB_DONE) {
                s = REPO_OK;
        } else if (rc == DB_E_UNIQUE && db_is_postgres()) {
                /* A concurrent job created the symbol's position after this
                 * one found none: run again, and lock it this time. */
                db_job_retry(c);
                s = REPO_BUSY;
        } else {
                db_log_error(c, what);
        }
        db_stmt_done(st);
        return s;
}

enum repo_status
repo_positions_create(struct db_conn *c, const struct position *p)
{
        static const char sql[] = "INSERT INTO positions (" POSITION_COLUMNS
                                  ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
        struct db_stmt *st = db_stmt(c, sql);

        return st ? write_position(c, st, p, "positions create") : REPO_ERROR;
}

enum repo_status
repo_positions_update(struct db_conn *c, const struct position *p)
{
        static const char sql[] =
                "UPDATE positions SET quantity = ?2, avg_entry_price = ?3, realized_pnl = ?4,"
                " unrealized_pnl = ?5, mark_price = ?6, last_updated = ?7, basis_residual = ?8"
                " WHERE symbol = ?1";
        struct db_stmt *st = db_stmt(c, sql);

        return st ? write_position(c, st, p, "positions update") : REPO_ERROR;
}

static const char sql_list[] = "SELECT " POSITION_COLUMNS " FROM positions"
                               " WHERE symbol > ?1 ORDER BY symbol LIMIT ?2";

/* The arguments of repo_positions_list, for its db_read job below. */
struct list_read {
        const char *after;
        int limit;
        void (*row)(void *cls, const struct position *p);
        void *cls;
        size_t *ret_n;
};

static int
positions_list(struct db_conn *c, void *arg)
{
        const struct list_read *a = arg;
        const char *after = a->after;
        int limit = a->limit;
        void (*row)(void *cls, const struct position *p) = a->row;
        void *cls = a->cls;
        size_t *ret_n = a->ret_n;
        struct db_stmt *st = db_stmt(c, sql_list);
        struct position p;
        size_t n = 0;
        int rc;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, after ? after : "");
        db_bind_int64(st, 2, limit);
        while ((rc = db_step(st)) == DB_ROW) {
                row_to_position(st, 0, &p);
                row(cls, &p);
                n++;
        }
        if (rc != DB_DONE)
                db_log_error(c, "positions list");
        db_stmt_done(st);
        if (rc != DB_DONE)
                return REPO_ERROR;
        *ret_n = n;
        return REPO_OK;
}

const char *const *
repo_positions_list_sql(size_t *ret_n)
{
        static const char *const all[] = { sql_list };

        *ret_n = sizeof(all) / sizeof(all[0]);
        return all;
}

/* ---- writer jobs ---- */

int
repo_positions_reconcile_job(struct db_conn *c, void *arg)
{
        struct position_reconcile *pr = arg;
        struct position p = { 0 };
        enum repo_status s = repo_positions_load(c, pr->symbol, &p);
        char *payload;

        if (s != REPO_OK && s != REPO_NOT_FOUND)
                return s;
        pr->created = s == REPO_NOT_FOUND;
        snprintf(p.symbol, sizeof(p.symbol), "%s", pr->symbol);
        p.quantity = pr->quantity;
        p.avg_entry_price = pr->avg_entry_price;
        p.basis_residual = 0; /* the basis becomes avg x quantity exactly */
        if (pr->has_realized_pnl)
                p.realized_pnl = pr->realized_pnl;
        p.last_updated = ts_now_us();
        if (!position_mark_to_market(&p))
                return REPO_CONFLICT;
        s = pr->created ? repo_positions_create(c, &p) : repo_positions_update(c, &p);
        if (s != REPO_OK)
                return s;
        payload = pr->payload(&p);
        if (payload == NULL)
                return REPO_ERROR;
        s = repo_outbox_add(c, "position_reconciled", p.symbol, payload, p.last_updated);
        free(payload);
        if (s == REPO_OK)
                pr->result = p;
        return s;
}

int
repo_positions_mark_job(struct db_conn *c, void *arg)
{
        struct position_mark *pm = arg;
        struct position p;
        enum repo_status s = repo_positions_load(c, pm->symbol, &p);

        if (s != REPO_OK)
                return s;
        p.has_mark_price = true;
        p.mark_price = pm->mark_price;
        p.last_updated = ts_now_us();
        if (!position_mark_to_market(&p))
                return REPO_CONFLICT;
        s = repo_positions_update(c, &p);
        if (s == REPO_OK)
                pm->result = p;
        return s;
}

struct get_read {
        const char *symbol;
        struct position *ret;
};

static int
get_read(struct db_conn *c, void *arg)
{
        struct get_read *a = arg;

        return (int)repo_positions_load(c, a->symbol, a->ret);
}

enum repo_status
repo_positions_get(struct db *d, const char *symbol, struct position *ret)
{
        struct get_read a = { symbol, ret };

        return (enum repo_status)db_read(d, get_read, &a);
}

enum repo_status
repo_positions_list(struct db *d, const char *after, int limit,
                    void (*row)(void *cls, const struct position *p), void *cls, size_t *ret_n)
{
        struct list_read a = { after, limit, row, cls, ret_n };

        return (enum repo_status)db_read(d, positions_list, &a);
}
