/* Orders (see orders.h): the state machine as one table, and the SQL of the
 * order endpoints. Writes run as writer jobs that change the row and add the
 * outbox event in the same savepoint; reads are single cached statements.
 *
 * Every list filter combination has its own static statement that drives
 * one index (the most selective filter present) and filters the rest with
 * unary '+' on the column, which keeps SQLite from switching to a worse
 * index on its own. */
#include "repo/orders.h"

#include "common/log.h"
#include "common/ts.h"
#include "db/db.h"
#include "repo/outbox.h"

#include <stdlib.h>
#include <string.h>

/* ---- the state machine ---- */

const char *const order_status_names[ORDER_STATUS_COUNT + 1] = {
        [ORDER_PENDING] = "pending",
        [ORDER_OPEN] = "open",
        [ORDER_PARTIALLY_FILLED] = "partially_filled",
        [ORDER_FILLED] = "filled",
        [ORDER_CANCELLED] = "cancelled",
        [ORDER_REJECTED] = "rejected",
        [ORDER_EXPIRED] = "expired",
        [ORDER_STATUS_COUNT] = NULL,
};

/* transitions[from][to]: the one place the order lifecycle is written down.
 * Forward progress may skip steps because a fill can complete a pending or
 * open order at once (API.md, Fills: "becomes partially_filled or filled
 * unless it is already final"). The diagonal is false: no change is not a
 * transition. */
#define T true
#define F false
static const bool transitions[ORDER_STATUS_COUNT][ORDER_STATUS_COUNT] = {
        /*                          pend open part fill canc rej  exp */
        [ORDER_PENDING] = { F, T, T, T, T, T, T },
        [ORDER_OPEN] = { F, F, T, T, T, T, T },
        [ORDER_PARTIALLY_FILLED] = { F, F, F, T, T, T, T },
        [ORDER_FILLED] = { F, F, F, F, F, F, F },
        [ORDER_CANCELLED] = { F, F, F, F, F, F, F },
        [ORDER_REJECTED] = { F, F, F, F, F, F, F },
        [ORDER_EXPIRED] = { F, F, F, F, F, F, F },
};
#undef T
#undef F

static bool
status_valid(enum order_status s)
{
        return (unsigned)s < ORDER_STATUS_COUNT;
}

const char *
order_status_name(enum order_status s)
{
        return status_valid(s) ? order_status_names[s] : "";
}

bool
order_status_from_name(const char *name, enum order_status *ret)
{
        for (int i = 0; i < ORDER_STATUS_COUNT; i++) {
                if (strcmp(order_status_names[i], name) == 0) {
                        *ret = (enum order_status)i;
                        return true;
                }
        }
        return false;
}

bool
order_transition_allowed(enum order_status from, enum order_status to)
{
        return status_valid(from) && status_valid(to) && transitions[from][to];
}

bool
order_status_final(enum order_status s)
{
        for (int to = 0; to < ORDER_STATUS_COUNT; to++)
                if (order_transition_allowed(s, (enum order_status)to))
                        return false;
        return status_valid(s);
}

/* ---- rows ---- */

#define ORDER_COLS                                                                                 \
        "order_id, quote_id, symbol, side, type, quantity, price, status,"                         \
        " external_order_id, filled_quantity, avg_fill_price, created_at, updated_at"

static bool
col_opt_text(struct db_stmt *st, int i, bool *ret_has, char *dst, size_t cap)
{
        *ret_has = !db_column_null(st, i);
        if (!*ret_has) {
                dst[0] = '\0';
                return true;
        }
        return db_column_text(st, i, dst, cap);
}

static void
col_opt_int(struct db_stmt *st, int i, bool *ret_has, int64_t *ret)
{
        *ret_has = !db_column_null(st, i);
        *ret = *ret_has ? db_column_int64(st, i) : 0;
}

/* Reads a row of ORDER_COLS. False when a value breaks the struct's limits
 * (the schema's CHECKs make that a corrupt database). */
static bool
order_from_row(struct db_stmt *st, struct order *o)
{
        char status[20];

        memset(o, 0, sizeof(*o));
        if (!db_column_text(st, 0, o->order_id, sizeof(o->order_id)) ||
            !col_opt_text(st, 1, &o->has_quote_id, o->quote_id, sizeof(o->quote_id)) ||
            !db_column_text(st, 2, o->symbol, sizeof(o->symbol)) ||
            !db_column_text(st, 3, o->side, sizeof(o->side)) ||
            !db_column_text(st, 4, o->type, sizeof(o->type)) ||
            !db_column_text(st, 7, status, sizeof(status)) ||
            !order_status_from_name(status, &o->status) ||
            !col_opt_text(st, 8, &o->has_external_order_id, o->external_order_id,
                          sizeof(o->external_order_id)))
                return false;
        o->quantity = db_column_int64(st, 5);
        col_opt_int(st, 6, &o->has_price, &o->price);
        o->filled_quantity = db_column_int64(st, 9);
        col_opt_int(st, 10, &o->has_avg_fill_price, &o->avg_fill_price);
        o->created_at = db_column_int64(st, 11);
        o->updated_at = db_column_int64(st, 12);
        return true;
}

static void
bind_opt_text(struct db_stmt *st, int i, bool has, const char *v)
{
        if (has)
                db_bind_text(st, i, v);
        else
                db_bind_null(st, i);
}

static void
bind_opt_int(struct db_stmt *st, int i, bool has, int64_t v)
{
        if (has)
                db_bind_int64(st, i, v);
        else
                db_bind_null(st, i);
}

/* Maps the result of a failed write step: constraint kinds the caller can
 * explain, anything else REPO_ERROR (logged). */
static enum repo_status
write_failure(struct db_conn *c, int rc, const char *what)
{
        switch (rc) {
        case DB_E_UNIQUE: return REPO_CONFLICT;
        case DB_E_FOREIGN_KEY: return REPO_NOT_FOUND;
        case DB_E_CHECK:
        case DB_E_NOT_NULL:
                db_log_error(c, what); /* the handler should have caught it */
                return REPO_INVALID;
        default: db_log_error(c, what); return REPO_ERROR;
        }
}

/* ---- reads ---- */

/* The arguments of repo_orders_get, for its db_read job below. */
struct get_read {
        const char *order_id;
        struct order *ret;
};

static int
orders_get(struct db_conn *c, void *arg)
{
        const struct get_read *a = arg;
        const char *order_id = a->order_id;
        struct order *ret = a->ret;
        static const char sql[] = "SELECT " ORDER_COLS " FROM orders WHERE order_id = ?1";
        struct db_stmt *st = db_stmt(c, sql);
        enum repo_status s = REPO_ERROR;
        struct order o;
        int rc;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, order_id);
        rc = db_step(st);
        if (rc == DB_ROW) {
                if (order_from_row(st, &o)) {
                        *ret = o;
                        s = REPO_OK;
                } else {
                        log_msg(LOG_ERROR, "db_error", "order %s: a stored value is invalid",
                                order_id);
                }
        } else if (rc == DB_DONE) {
                s = REPO_NOT_FOUND;
        } else {
                db_log_error(c, "orders get");
        }
        db_stmt_done(st);
        return s;
}

/* List statements by which equality filters are present: bit 0 symbol,
 * bit 1 status, bit 2 quote_id, bit 3 external_order_id. The driving index
 * is, by selectivity, the UNIQUE external_order_id, else quote_id (an order
 * or few per quote), else status (the live statuses that are queried are a
 * small share of all orders), else symbol, else created_at alone: on SQLite
 * a unary + keeps the planner off the other filters' indexes. */
#define L_SEL "SELECT " ORDER_COLS " FROM orders WHERE "
#define L_END                                                                                      \
        "created_at > ?5 AND (created_at, order_id) < (?6, ?7)"                                    \
        " ORDER BY created_at DESC, order_id DESC LIMIT ?8"

const char *const *
repo_orders_list_sql(size_t *ret_n)
{
        /* P: "+" on SQLite; PostgreSQL has no unary + on text, and its
         * planner picks the index by cost. */
        /* clang-format off */
#define ORDER_LISTS(P)                                                                             \
        {                                                                                          \
                [0x0] = L_SEL L_END,                                                               \
                [0x1] = L_SEL "symbol = ?1 AND " L_END,                                            \
                [0x2] = L_SEL "status = ?2 AND " L_END,                                            \
                [0x3] = L_SEL "status = ?2 AND " P "symbol = ?1 AND " L_END,                       \
                [0x4] = L_SEL "quote_id = ?3 AND " L_END,                                          \
                [0x5] = L_SEL "quote_id = ?3 AND " P "symbol = ?1 AND " L_END,                     \
                [0x6] = L_SEL "quote_id = ?3 AND " P "status = ?2 AND " L_END,                     \
                [0x7] = L_SEL "quote_id = ?3 AND " P "status = ?2 AND " P "symbol = ?1"            \
                              " AND " L_END,                                                       \
                [0x8] = L_SEL "external_order_id = ?4 AND " L_END,                                 \
                [0x9] = L_SEL "external_order_id = ?4 AND " P "symbol = ?1 AND " L_END,            \
                [0xa] = L_SEL "external_order_id = ?4 AND " P "status = ?2 AND " L_END,            \
                [0xb] = L_SEL "external_order_id = ?4 AND " P "status = ?2 AND " P "symbol = ?1"   \
                              " AND " L_END,                                                       \
                [0xc] = L_SEL "external_order_id = ?4 AND " P "quote_id = ?3 AND " L_END,          \
                [0xd] = L_SEL "external_order_id = ?4 AND " P "quote_id = ?3 AND " P "symbol = ?1" \
                              " AND " L_END,                                                       \
                [0xe] = L_SEL "external_order_id = ?4 AND " P "quote_id = ?3 AND " P "status = ?2" \
                              " AND " L_END,                                                       \
                [0xf] = L_SEL "external_order_id = ?4 AND " P "quote_id = ?3 AND " P "status = ?2" \
                              " AND " P "symbol = ?1 AND " L_END,                                  \
        }
        static const char *const sql[16] = ORDER_LISTS("+");
        static const char *const sql_pg[16] = ORDER_LISTS("");
#undef ORDER_LISTS
        /* clang-format on */

        *ret_n = sizeof(sql) / sizeof(sql[0]);
        return db_is_postgres() ? sql_pg : sql;
}

/* Binds f to a list statement. The exclusive bounds always take part (the
 * open ends as the extremes), so that one statement per filter set serves
 * every page: created_before T is the keyset bound (T, ""), below every
 * (T, order_id), and a cursor tightens it further. */
static void
bind_list(struct db_stmt *st, const struct order_filter *f)
{
        int64_t hi_key = INT64_MAX;
        const char *hi_id = "";

        if (f->has_created_before)
                hi_key = f->created_before;
        if (f->has_cursor && (f->cursor_key < hi_key ||
                              (f->cursor_key == hi_key && strcmp(f->cursor_id, hi_id) < 0))) {
                hi_key = f->cursor_key;
                hi_id = f->cursor_id;
        }
        bind_opt_text(st, 1, f->has_symbol, f->symbol);
        bind_opt_text(st, 2, f->has_status, order_status_name(f->status));
        bind_opt_text(st, 3, f->has_quote_id, f->quote_id);
        bind_opt_text(st, 4, f->has_external_order_id, f->external_order_id);
        db_bind_int64(st, 5, f->has_created_after ? f->created_after : INT64_MIN);
        db_bind_int64(st, 6, hi_key);
        db_bind_text(st, 7, hi_id);
        db_bind_int64(st, 8, f->limit);
}

/* The arguments of repo_orders_list, for its db_read job below. */
struct list_read {
        const struct order_filter *f;
        void (*each)(void *cls, const struct order *o);
        void *cls;
        size_t *ret_count;
};

static int
orders_list(struct db_conn *c, void *arg)
{
        const struct list_read *a = arg;
        const struct order_filter *f = a->f;
        void (*each)(void *cls, const struct order *o) = a->each;
        void *cls = a->cls;
        size_t *ret_count = a->ret_count;
        size_t nsql;
        const char *const *sql = repo_orders_list_sql(&nsql);
        unsigned which = (f->has_symbol ? 1u : 0u) | (f->has_status ? 2u : 0u) |
                         (f->has_quote_id ? 4u : 0u) | (f->has_external_order_id ? 8u : 0u);
        struct db_stmt *st = db_stmt(c, sql[which]);
        enum repo_status s = REPO_OK;
        size_t n = 0;
        struct order o;
        int rc;

        if (st == NULL)
                return REPO_ERROR;
        bind_list(st, f);
        while ((rc = db_step(st)) == DB_ROW) {
                if (!order_from_row(st, &o)) {
                        log_msg(LOG_ERROR, "db_error", "orders list: a stored value is invalid");
                        s = REPO_ERROR;
                        break;
                }
                each(cls, &o);
                n++;
        }
        if (s == REPO_OK && rc != DB_DONE) {
                db_log_error(c, "orders list");
                s = REPO_ERROR;
        }
        db_stmt_done(st);
        *ret_count = n;
        return s;
}

/* ---- writes ---- */

/* Adds the event of type for o, its payload made by the handler's fn. */
static enum repo_status
add_event(struct db_conn *c, order_payload_fn fn, const char *type, const struct order *o,
          int64_t now)
{
        char *payload = fn(o);
        enum repo_status s;

        if (payload == NULL) {
                log_msg(LOG_ERROR, "out_of_memory", "order %s: no memory for the %s event",
                        o->order_id, type);
                return REPO_ERROR;
        }
        s = repo_outbox_add(c, type, o->order_id, payload, now);
        free(payload);
        return s;
}

static enum repo_status
insert_order(struct db_conn *c, const struct order *o)
{
        static const char sql[] =
                "INSERT INTO orders (order_id, quote_id, symbol, side, type, quantity, price,"
                " status, external_order_id, created_at, updated_at)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)";
        struct db_stmt *st = db_stmt(c, sql);
        enum repo_status s = REPO_OK;
        int rc;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, o->order_id);
        bind_opt_text(st, 2, o->has_quote_id, o->quote_id);
        db_bind_text(st, 3, o->symbol);
        db_bind_text(st, 4, o->side);
        db_bind_text(st, 5, o->type);
        db_bind_int64(st, 6, o->quantity);
        bind_opt_int(st, 7, o->has_price, o->price);
        db_bind_text(st, 8, order_status_name(o->status));
        bind_opt_text(st, 9, o->has_external_order_id, o->external_order_id);
        db_bind_int64(st, 10, o->created_at);
        rc = db_step(st);
        if (rc != DB_DONE)
                s = write_failure(c, rc, "orders insert");
        db_stmt_done(st);
        return s;
}

/* The order holding external_order_id ext into ret (for a 409's detail):
 * REPO_OK, REPO_NOT_FOUND when no order holds it, or REPO_ERROR. */
static enum repo_status
external_id_holder(struct db_conn *c, const char *ext, char ret[ID_BUFSZ])
{
        static const char sql[] = "SELECT order_id FROM orders WHERE external_order_id = ?1";
        struct db_stmt *st = db_stmt(c, sql);
        enum repo_status s = REPO_ERROR;
        int rc;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, ext);
        rc = db_step(st);
        if (rc == DB_ROW && db_column_text(st, 0, ret, 65))
                s = REPO_OK;
        else if (rc == DB_DONE)
                s = REPO_NOT_FOUND;
        else
                db_log_error(c, "orders external_order_id holder");
        db_stmt_done(st);
        return s;
}

static bool
same_opt_text(bool has_a, const char *a, bool has_b, const char *b)
{
        return has_a == has_b && (!has_a || strcmp(a, b) == 0);
}

/* Whether a repeated create carries the content of the stored order. The
 * client's fields are compared; status and external_order_id can be
 * changed by PATCH (and status by fills) after the create, so they are
 * compared only while the order was never updated since (updated_at ==
 * created_at), when the stored values are still the ones created. */
static bool
same_content(const struct order *stored, const struct order *in)
{
        if (!same_opt_text(stored->has_quote_id, stored->quote_id, in->has_quote_id,
                           in->quote_id) ||
            strcmp(stored->symbol, in->symbol) != 0 || strcmp(stored->side, in->side) != 0 ||
            strcmp(stored->type, in->type) != 0 || stored->quantity != in->quantity ||
            stored->has_price != in->has_price || (in->has_price && stored->price != in->price))
                return false;
        if (stored->updated_at != stored->created_at)
                return true;
        return stored->status == in->status &&
               same_opt_text(stored->has_external_order_id, stored->external_order_id,
                             in->has_external_order_id, in->external_order_id);
}

/* The insert hit a uniqueness rule: the order_id exists (an idempotent
 * repeat, or other content) or another order holds external_order_id. */
static int
create_conflict(struct db_conn *c, struct order_create *oc)
{
        struct order stored;
        enum repo_status s = orders_get(c, &(struct get_read){ oc->in.order_id, &stored });

        if (s == REPO_OK) {
                if (!same_content(&stored, &oc->in)) {
                        oc->refusal = ORDER_REFUSED_ID_OTHER_CONTENT;
                        return REPO_CONFLICT;
                }
                oc->out = stored;
                oc->existed = true;
                return REPO_OK;
        }
        if (s != REPO_NOT_FOUND)
                return s;
        if (!oc->in.has_external_order_id) {
                log_msg(LOG_ERROR, "db_error", "order %s: a uniqueness conflict with no cause",
                        oc->in.order_id);
                return REPO_ERROR;
        }
        s = external_id_holder(c, oc->in.external_order_id, oc->other_order_id);
        if (s != REPO_OK)
                return s == REPO_NOT_FOUND ? REPO_ERROR : s;
        oc->refusal = ORDER_REFUSED_EXTERNAL_ID;
        return REPO_CONFLICT;
}

/* Why quote_id (which exists: the foreign key held) cannot be used. */
static int
quote_refusal(struct db_conn *c, struct order_create *oc)
{
        static const char sql[] = "SELECT status FROM quotes WHERE quote_id = ?1";
        struct db_stmt *st = db_stmt(c, sql);
        enum repo_status s = REPO_ERROR;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, oc->in.quote_id);
        if (db_step(st) == DB_ROW &&
            db_column_text(st, 0, oc->quote_status, sizeof(oc->quote_status))) {
                oc->refusal = strcmp(oc->quote_status, "active") == 0
                                      ? ORDER_REFUSED_QUOTE_EXPIRED
                                      : ORDER_REFUSED_QUOTE_NOT_ACTIVE;
                s = REPO_CONFLICT;
        } else {
                db_log_error(c, "orders quote status");
        }
        db_stmt_done(st);
        return s;
}

/* Marks the order's quote used if it is active and not past expires_at. */
static int
use_quote(struct db_conn *c, struct order_create *oc, int64_t now)
{
        static const char sql[] = "UPDATE quotes SET status = 'used', updated_at = ?2"
                                  " WHERE quote_id = ?1 AND status = 'active'"
                                  " AND (expires_at IS NULL OR expires_at > ?2)";
        struct db_stmt *st = db_stmt(c, sql);
        int changes = -1;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, oc->in.quote_id);
        db_bind_int64(st, 2, now);
        if (db_step(st) == DB_DONE)
                changes = db_changes(c);
        else
                db_log_error(c, "quotes mark used");
        db_stmt_done(st);
        if (changes < 0)
                return REPO_ERROR;
        return changes == 1 ? REPO_OK : quote_refusal(c, oc);
}

/* Whether an order with this id exists already. -1 on error. */
static int
order_exists(struct db_conn *c, const char *order_id)
{
        static const char sql[] = "SELECT 1 FROM orders WHERE order_id = ?1";
        struct db_stmt *st = db_stmt(c, sql);
        int rc;

        if (st == NULL)
                return -1;
        db_bind_text(st, 1, order_id);
        rc = db_step(st);
        if (rc != DB_ROW && rc != DB_DONE)
                db_log_error(c, "orders exists");
        db_stmt_done(st);
        return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

/* Refuses, before anything is written, an order whose quote cannot be used
 * (unknown, not active, or past expires_at at now). A refusal found only
 * after the insert would roll the job back after writing, and its whole
 * batch would run again with a savepoint per job (db/sqlite.c). */
static int
check_quote(struct db_conn *c, struct order_create *oc, int64_t now)
{
        static const char sql[] = "SELECT status, expires_at FROM quotes WHERE quote_id = ?1";
        struct db_stmt *st = db_stmt(c, sql);
        int rc;
        enum repo_status s = REPO_OK;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, oc->in.quote_id);
        rc = db_step(st);
        if (rc == DB_DONE) {
                oc->refusal = ORDER_REFUSED_QUOTE_UNKNOWN;
                s = REPO_NOT_FOUND;
        } else if (rc != DB_ROW ||
                   !db_column_text(st, 0, oc->quote_status, sizeof(oc->quote_status))) {
                db_log_error(c, "orders quote check");
                s = REPO_ERROR;
        } else if (strcmp(oc->quote_status, "active") != 0) {
                oc->refusal = ORDER_REFUSED_QUOTE_NOT_ACTIVE;
                s = REPO_CONFLICT;
        } else if (!db_column_null(st, 1) && db_column_int64(st, 1) <= now) {
                oc->refusal = ORDER_REFUSED_QUOTE_EXPIRED;
                s = REPO_CONFLICT;
        }
        db_stmt_done(st);
        return s;
}

int
repo_orders_create_job(struct db_conn *c, void *arg)
{
        struct order_create *oc = arg;
        int64_t now = ts_now_us();
        struct order o = oc->in;
        enum repo_status s;

        /* A job may run twice (its batch rerun): start from clean outputs. */
        oc->existed = false;
        oc->refusal = ORDER_REFUSED_NONE;

        o.filled_quantity = 0;
        o.has_avg_fill_price = false;
        o.avg_fill_price = 0;
        o.created_at = now;
        o.updated_at = now;
        /* A repeat of an existing order is settled by the insert's conflict
         * (its quote is already used, by that very order). */
        if (o.has_quote_id) {
                int exists = order_exists(c, o.order_id);

                if (exists < 0)
                        return REPO_ERROR;
                if (exists == 0 && (s = check_quote(c, oc, now)) != REPO_OK)
                        return s;
        }
        s = insert_order(c, &o);
        if (s == REPO_CONFLICT)
                return create_conflict(c, oc);
        if (s == REPO_NOT_FOUND) /* the foreign key: no such quote */
                oc->refusal = ORDER_REFUSED_QUOTE_UNKNOWN;
        if (s != REPO_OK)
                return s;
        if (o.has_quote_id && (s = use_quote(c, oc, now)) != REPO_OK)
                return s;
        s = add_event(c, oc->payload, "order_created", &o, now);
        if (s != REPO_OK)
                return s;
        oc->out = o;
        oc->existed = false;
        return REPO_OK;
}

static enum repo_status
update_row(struct db_conn *c, const struct order *o)
{
        static const char sql[] =
                "UPDATE orders SET status = ?2, external_order_id = ?3, updated_at = ?4"
                " WHERE order_id = ?1";
        struct db_stmt *st = db_stmt(c, sql);
        enum repo_status s = REPO_OK;
        int rc;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, o->order_id);
        db_bind_text(st, 2, order_status_name(o->status));
        bind_opt_text(st, 3, o->has_external_order_id, o->external_order_id);
        db_bind_int64(st, 4, o->updated_at);
        rc = db_step(st);
        if (rc != DB_DONE)
                s = write_failure(c, rc, "orders update");
        db_stmt_done(st);
        return s;
}

/* Applies u's asks to o; false (with u's refusal set) when the state machine
 * forbids the status change. Sets *ret_changed when anything differs. */
static bool
apply_update(struct order_update *u, struct order *o, bool *ret_changed)
{
        bool changed = false;

        if (u->has_status && u->status != o->status) {
                if (!order_transition_allowed(o->status, u->status)) {
                        u->refusal = ORDER_REFUSED_TRANSITION;
                        u->from = o->status;
                        return false;
                }
                o->status = u->status;
                changed = true;
        }
        if (u->has_external_order_id &&
            !same_opt_text(true, u->external_order_id, o->has_external_order_id,
                           o->external_order_id)) {
                o->has_external_order_id = true;
                memcpy(o->external_order_id, u->external_order_id, sizeof(o->external_order_id));
                changed = true;
        }
        *ret_changed = changed;
        return true;
}

/* REPO_CONFLICT (u's refusal and other_order_id set) when another order
 * holds the external_order_id u asks for, REPO_OK when none does. */
static enum repo_status
external_id_taken(struct db_conn *c, struct order_update *u)
{
        enum repo_status s = external_id_holder(c, u->external_order_id, u->other_order_id);

        if (s == REPO_NOT_FOUND)
                return REPO_OK;
        if (s != REPO_OK)
                return s;
        u->refusal = ORDER_REFUSED_EXTERNAL_ID;
        return REPO_CONFLICT;
}

int
repo_orders_update_job(struct db_conn *c, void *arg)
{
        struct order_update *u = arg;
        struct order o;
        bool changed = false, new_ext;
        enum repo_status s;

        /* A job may run twice (its batch rerun): start from clean outputs. */
        u->changed = false;
        u->refusal = ORDER_REFUSED_NONE;
        s = orders_get(c, &(struct get_read){ u->order_id, &o });

        if (s != REPO_OK)
                return s;
        new_ext = u->has_external_order_id &&
                  !same_opt_text(true, u->external_order_id, o.has_external_order_id,
                                 o.external_order_id);
        if (!apply_update(u, &o, &changed))
                return REPO_CONFLICT;
        /* Asked before the UPDATE: on PostgreSQL the unique violation would
         * abort the transaction, and no statement could then name the holder. */
        if (new_ext && (s = external_id_taken(c, u)) != REPO_OK)
                return s;
        if (changed) {
                int64_t now = ts_now_us();

                o.updated_at = now;
                s = update_row(c, &o);
                if (s == REPO_CONFLICT) {
                        /* Taken since the check: only by a concurrent job on
                         * PostgreSQL, whose run again will see the holder. */
                        db_job_retry(c);
                        s = REPO_ERROR;
                }
                if (s == REPO_OK)
                        s = add_event(c, u->payload, "order_updated", &o, now);
                if (s != REPO_OK)
                        return s;
        }
        u->out = o;
        u->changed = changed;
        return REPO_OK;
}

enum repo_status
repo_orders_get(struct db *d, const char *order_id, struct order *ret)
{
        struct get_read a = { order_id, ret };

        return (enum repo_status)db_read(d, orders_get, &a);
}

enum repo_status
repo_orders_list(struct db *d, const struct order_filter *f,
                 void (*each)(void *cls, const struct order *o), void *cls, size_t *ret_count)
{
        struct list_read a = { f, each, cls, ret_count };

        return (enum repo_status)db_read(d, orders_list, &a);
}
