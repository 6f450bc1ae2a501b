/* Orders: the order state machine, the order row as a plain C struct, and
 * the SQL that creates, reads, lists and updates orders. Fills change an
 * order's filled_quantity, avg_fill_price and status with their own SQL in
 * repo/fills.c; fill_notional is internal and never leaves that file. */
#ifndef TRADESTORE_REPO_ORDERS_H
#define TRADESTORE_REPO_ORDERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ids.h"
#include "repo/repo.h"

struct db_conn;

enum order_status {
        ORDER_PENDING,
        ORDER_OPEN,
        ORDER_PARTIALLY_FILLED,
        ORDER_FILLED,
        ORDER_CANCELLED,
        ORDER_REJECTED,
        ORDER_EXPIRED,
};
#define ORDER_STATUS_COUNT 7

/* The lower-case names of the statuses, in enum order, then NULL: the one
 * list (query enums, metrics labels). */
extern const char *const order_status_names[ORDER_STATUS_COUNT + 1];

/* The lower-case name of s as stored and sent ("partially_filled"); "" for a
 * value outside the enum. Static storage. */
const char *order_status_name(enum order_status s);

/* Looks name up. True and *ret set when it is one of the seven names; false
 * and *ret untouched otherwise. */
bool order_status_from_name(const char *name, enum order_status *ret);

/* True when an order may move from `from` to `to`. This is a change: from ==
 * to is never "allowed" (callers treat a repeat of the current status as no
 * change before asking). Forward along pending -> open -> partially_filled ->
 * filled (a fill may skip steps); pending, open and partially_filled may end
 * as cancelled, rejected or expired; filled, cancelled, rejected and expired
 * are final. False for values outside the enum. */
bool order_transition_allowed(enum order_status from, enum order_status to);

/* True when s is final (nothing may follow it). */
bool order_status_final(enum order_status s);

#define ORDER_EXT_ID_MAX 128

/* One order as stored (fill_notional left out: it is internal). */
struct order {
        char order_id[ID_BUFSZ];
        bool has_quote_id;
        char quote_id[ID_BUFSZ];
        char symbol[SYMBOL_BUFSZ];
        char side[8];  /* "buy" | "sell" */
        char type[16]; /* "market" | "limit" | "limit_maker" */
        int64_t quantity;
        bool has_price; /* false exactly for market orders */
        int64_t price;
        enum order_status status;
        bool has_external_order_id;
        char external_order_id[ORDER_EXT_ID_MAX + 1];
        int64_t filled_quantity;
        bool has_avg_fill_price; /* false until the first fill */
        int64_t avg_fill_price;
        int64_t created_at;
        int64_t updated_at;
};

/* Makes the JSON text of an outbox payload from an order. Returns malloc'd
 * NUL-terminated text (the caller frees it with free) or NULL when out of
 * memory. Supplied by the handler: the repo never builds JSON itself. */
typedef char *(*order_payload_fn)(const struct order *o);

/* Why a create or update was refused with REPO_CONFLICT / REPO_NOT_FOUND. */
enum order_refusal {
        ORDER_REFUSED_NONE,
        ORDER_REFUSED_ID_OTHER_CONTENT, /* order_id exists with other content */
        ORDER_REFUSED_QUOTE_UNKNOWN,    /* REPO_NOT_FOUND: no such quote */
        ORDER_REFUSED_QUOTE_NOT_ACTIVE, /* quote_status says what it is */
        ORDER_REFUSED_QUOTE_EXPIRED,    /* active but past expires_at */
        ORDER_REFUSED_EXTERNAL_ID,      /* other_order_id holds it */
        ORDER_REFUSED_TRANSITION,       /* from the order's status to the asked one */
};

/* The writer job of POST /orders (repo_orders_create_job's arg). The handler
 * fills the inputs; outputs are valid only when the job returned REPO_OK,
 * except refusal, quote_status and other_order_id, which explain a
 * REPO_CONFLICT or REPO_NOT_FOUND. */
struct order_create {
        /* in: order_id, quote_id, symbol, side, type, quantity, price,
         * status (ORDER_PENDING or ORDER_OPEN) and external_order_id; the
         * other members are ignored. */
        struct order in;
        order_payload_fn payload;
        /* out */
        struct order out; /* the order as stored now */
        bool existed;     /* an identical earlier create: nothing was written */
        enum order_refusal refusal;
        char quote_status[16];
        char other_order_id[ID_BUFSZ];
};

/* Writer job (db_job_fn) of POST /orders, arg a struct order_create. In one
 * savepoint: inserts the order; with a quote_id the quote must exist
 * (REPO_NOT_FOUND), be active and not past expires_at (REPO_CONFLICT), and
 * becomes used; adds an order_created event carrying payload(order). An
 * existing order_id with the same client content returns REPO_OK with
 * existed set and writes nothing; with other content REPO_CONFLICT. A taken
 * external_order_id is REPO_CONFLICT. REPO_ERROR on a database error
 * (logged). */
int repo_orders_create_job(struct db_conn *c, void *arg);

/* The writer job of PATCH /orders/{order_id} (repo_orders_update_job's arg). */
struct order_update {
        /* in */
        char order_id[ID_BUFSZ];
        bool has_status;
        enum order_status status;
        bool has_external_order_id;
        char external_order_id[ORDER_EXT_ID_MAX + 1];
        order_payload_fn payload;
        /* out */
        struct order out; /* the order after the update (REPO_OK) */
        bool changed;     /* false: the request changed nothing, no event */
        enum order_refusal refusal;
        enum order_status from; /* ORDER_REFUSED_TRANSITION: the current status */
        char other_order_id[ID_BUFSZ];
};

/* Writer job (db_job_fn) of PATCH /orders/{order_id}, arg a struct
 * order_update. REPO_NOT_FOUND for an unknown order; REPO_CONFLICT for a
 * change the state machine forbids or an external_order_id another order
 * holds. When something changed: updates the row (updated_at = now) and adds
 * one order_updated event carrying payload(order after). Asking for what is
 * already there is REPO_OK with changed false and writes nothing. REPO_ERROR
 * on a database error (logged). */
int repo_orders_update_job(struct db_conn *c, void *arg);

/* Reads order_id on c (a reader or the writer) with one cached statement.
 * REPO_OK and *ret filled, REPO_NOT_FOUND, or REPO_ERROR (logged); *ret is
 * written only on REPO_OK. */
enum repo_status repo_orders_get(struct db *d, const char *order_id, struct order *ret);

/* Filters of GET /orders: each has_x false means "any". Bounds exclusive. */
struct order_filter {
        bool has_symbol;
        char symbol[SYMBOL_BUFSZ];
        bool has_status;
        enum order_status status;
        bool has_quote_id;
        char quote_id[ID_BUFSZ];
        bool has_external_order_id;
        char external_order_id[ORDER_EXT_ID_MAX + 1];
        bool has_created_after;
        int64_t created_after;
        bool has_created_before;
        int64_t created_before;
        /* keyset cursor: rows strictly after (cursor_key, cursor_id) in
         * newest-first order */
        bool has_cursor;
        int64_t cursor_key;
        char cursor_id[ID_BUFSZ];
        int limit; /* 1-1000 */
};

/* Lists orders matching f, newest first ((created_at, order_id) descending),
 * at most f->limit of them, calling each(cls, order) per row (the order is
 * borrowed for the call). Sets *ret_count to the rows seen. REPO_OK or
 * REPO_ERROR (logged; rows already passed to each stay passed). */
enum repo_status repo_orders_list(struct db *d, const struct order_filter *f,
                                  void (*each)(void *cls, const struct order *o), void *cls,
                                  size_t *ret_count);

/* The static SQL texts repo_orders_list may run on the backend in use (for
 * the query plan tests): borrowed, *ret_n of them. Parameters: ?1 symbol, ?2 status,
 * ?3 quote_id, ?4 external_order_id, ?5 created_at lower bound (exclusive),
 * ?6 ?7 (created_at, order_id) upper bound (exclusive), ?8 limit. */
const char *const *repo_orders_list_sql(size_t *ret_n);

#endif
