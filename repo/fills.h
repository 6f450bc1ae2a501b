/* Fills: executions reported by the exchange. Recording one is the
 * system's hot path: one writer job stores the fill, grows its order, moves
 * the position of the symbol and adds the fill_processed event, all in the
 * batch's transaction. Also the reads of the fills table. */
#ifndef TRADESTORE_REPO_FILLS_H
#define TRADESTORE_REPO_FILLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ids.h"
#include "repo/repo.h"

struct db_conn;

/* One row of fills. Decimals in 1e-8 units, timestamps in us. */
struct fill {
        char fill_id[ID_BUFSZ];
        char order_id[ID_BUFSZ];
        char symbol[SYMBOL_BUFSZ];
        char side[5]; /* "buy" | "sell" */
        int64_t price;
        int64_t quantity;
        int64_t executed_at;
        bool has_trade_id;
        char trade_id[ID_BUFSZ];
        int64_t commission;
        char commission_asset[SYMBOL_BUFSZ]; /* "" when none */
        bool is_maker;
        int64_t created_at;
};

/* Why a fill was refused with REPO_CONFLICT. */
enum fill_conflict {
        FILL_CONFLICT_NONE = 0,
        FILL_CONFLICT_REJECTED,     /* the order is rejected */
        FILL_CONFLICT_SYMBOL,       /* symbol differs from the order's */
        FILL_CONFLICT_SIDE,         /* side differs from the order's */
        FILL_CONFLICT_OVERFILL,     /* filled_quantity would pass quantity */
        FILL_CONFLICT_FILL_ID,      /* fill_id stored with other content */
        FILL_CONFLICT_TRADE_ID,     /* (order_id, trade_id) stored with other content */
        FILL_CONFLICT_OUT_OF_RANGE, /* an order or position result leaves the range */
};

/* The job of POST /fills.
 * in: fill (fill_id, order_id, price, quantity, trade_id, commission,
 * commission_asset, is_maker always; symbol, side, executed_at when the
 * matching has_ flag is set, else the job takes the order's symbol and side
 * and now). out: on REPO_OK stored (the fill as stored) and existed (true:
 * a redelivery, nothing applied); on REPO_CONFLICT conflict and, for the
 * order checks, order_symbol, order_side, order_quantity and
 * order_filled_quantity. */
/* Makes the JSON text of the fill_processed event's payload. Returns
 * malloc'd text (the job frees it), or NULL when out of memory. The
 * handler's: repo/ builds no JSON. */
typedef char *(*fill_payload_fn)(const struct fill *f);

struct fill_create {
        struct fill fill;
        fill_payload_fn payload;
        bool has_symbol;
        bool has_side;
        bool has_executed_at;

        struct fill stored;
        bool existed;
        enum fill_conflict conflict;
        char order_symbol[SYMBOL_BUFSZ];
        char order_side[5];
        int64_t order_quantity;
        int64_t order_filled_quantity;
};

/* Runs a fill_create (a db_job_fn; arg is a struct fill_create). Returns
 * REPO_OK (applied, or an identical redelivery applying nothing),
 * REPO_NOT_FOUND (unknown order), REPO_CONFLICT (see conflict; nothing
 * written: the writer rolls the job back) or REPO_ERROR (logged). */
int repo_fills_create_job(struct db_conn *c, void *arg);

/* Reads the fill fill_id. REPO_OK with *ret filled, REPO_NOT_FOUND, or
 * REPO_ERROR (logged); *ret is written only on REPO_OK. */
enum repo_status repo_fills_get(struct db *d, const char *fill_id, struct fill *ret);

/* Filters and position of a list page. Rows come newest executed_at first
 * (ties by fill_id descending) and strictly before (before_key, before_id):
 * pass the cursor's (key, id), or (executed_before, "") for executed_at <
 * executed_before, or (INT64_MAX, "") for no bound. after: executed_at >
 * after (INT64_MIN for no bound). */
struct fill_filter {
        const char *order_id; /* NULL: any */
        const char *symbol;   /* NULL: any */
        int64_t after;
        int64_t before_key;
        const char *before_id;
};

/* Calls row(cls, f) for up to limit fills matching filter; f is borrowed
 * for the call. *ret_n is the number of rows visited. REPO_OK or REPO_ERROR
 * (logged). */
enum repo_status repo_fills_list(struct db *d, const struct fill_filter *filter, int limit,
                                 void (*row)(void *cls, const struct fill *f), void *cls,
                                 size_t *ret_n);

/* The SQL text of every list query above, as the backend in use runs it (for
 * the query plan tests). Static storage; *ret_n entries. */
const char *const *repo_fills_list_sql(size_t *ret_n);

#endif
