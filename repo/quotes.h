/* The quotes table: the bid/ask quotes the bot makes on symbol_dst from the
 * source market's prices on symbol_src (see ../shared/API.md, Quotes).
 *
 * Reads take a reader connection; every change is a writer job
 * (repo_quotes_*_job) whose argument struct carries its inputs and, when the
 * job returned REPO_OK, its outputs. Quote changes emit no outbox events. */
#ifndef TRADESTORE_REPO_QUOTES_H
#define TRADESTORE_REPO_QUOTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ids.h"
#include "repo/repo.h"

struct db_conn;

/* The statuses of a quote, then NULL: the one list (query enums). */
extern const char *const quote_status_names[];

#define QUOTE_STATUS_BUFSZ 16

/* One quote. Decimals are units of 1e-8, timestamps microseconds UTC; each
 * has_x says whether the nullable x is present. */
struct quote {
        char quote_id[ID_BUFSZ];
        char symbol_src[SYMBOL_BUFSZ];
        char symbol_dst[SYMBOL_BUFSZ];
        bool has_bid_price;
        int64_t bid_price;
        bool has_bid_qty;
        int64_t bid_qty;
        bool has_ask_price;
        int64_t ask_price;
        bool has_ask_qty;
        int64_t ask_qty;
        int64_t source_bid_price;
        int64_t source_ask_price;
        bool has_spread_bps;
        int64_t spread_bps;
        char status[QUOTE_STATUS_BUFSZ]; /* active | used | expired | cancelled */
        int64_t created_at;
        int64_t updated_at;
        bool has_expires_at;
        int64_t expires_at;
};

/* ---- reads (on a reader connection) ---- */

/* Loads the quote quote_id into *ret. REPO_OK, REPO_NOT_FOUND, or
 * REPO_ERROR (logged); *ret is written only on REPO_OK. */
enum repo_status repo_quotes_get(struct db *d, const char *quote_id, struct quote *ret);

/* Filters of a list; a NULL pointer means "any". status "active" means
 * active and not past expires_at at now_us. */
struct quote_filter {
        const char *status;
        const char *symbol_src;
        const char *symbol_dst;
        int64_t now_us;
};

/* Lists quotes matching f, newest first by (created_at, quote_id), starting
 * after the cursor (after_key, after_id) when has_cursor, at most limit
 * rows. Calls on_row for each row in order; the quote is borrowed for the
 * call only. REPO_OK (possibly after no rows) or REPO_ERROR (logged; on_row
 * may have been called for some rows first). */
enum repo_status repo_quotes_list(struct db *d, const struct quote_filter *f, bool has_cursor,
                                  int64_t after_key, const char *after_id, int limit,
                                  void (*on_row)(void *cls, const struct quote *q), void *cls);

/* Every SQL text repo_quotes_list may run (static strings), for the test that
 * checks each one's EXPLAIN QUERY PLAN. *ret_n is the count. */
const char *const *repo_quotes_list_sql(size_t *ret_n);

/* Every SQL text repo_quotes_expire_job may run (static strings), likewise. */
const char *const *repo_quotes_expire_sql(size_t *ret_n);

/* ---- writer jobs (db_job_fn: run by req_write / db_write) ---- */

/* POST /quotes. In: q holds the client's fields (quote_id set: the caller
 * makes a UUIDv7 when the client sent none). Out on REPO_OK: q is the quote
 * as stored now, existed tells whether it was already there with the same
 * content (nothing was changed). REPO_CONFLICT: the id exists with other
 * content; REPO_ERROR (logged). */
struct repo_quote_create {
        struct quote q;
        bool existed;
};
int repo_quotes_create_job(struct db_conn *c, void *arg);

/* POST /quotes/batch. In: items[0..n) as for one create. All are created in
 * the job or none: REPO_OK and each items[i] is the quote as stored (an item
 * that repeats a stored quote, or an earlier item of the batch, with the same
 * content is returned as stored); REPO_CONFLICT with conflict_index set when
 * item conflict_index repeats an id with other content; REPO_ERROR. items is
 * owned by the caller. */
struct repo_quotes_batch {
        struct quote *items;
        size_t n;
        size_t conflict_index;
};
int repo_quotes_batch_job(struct db_conn *c, void *arg);

/* PATCH /quotes/{quote_id}. In: quote_id and status (the new status, expired
 * or cancelled). Out: on REPO_OK q is the updated quote; on REPO_CONFLICT
 * (the quote is not active) q is the quote as it is. REPO_NOT_FOUND,
 * REPO_ERROR. */
struct repo_quote_status {
        char quote_id[ID_BUFSZ];
        const char *status;
        struct quote q;
};
int repo_quotes_set_status_job(struct db_conn *c, void *arg);

/* DELETE /quotes/{quote_id}. REPO_OK (deleted), REPO_NOT_FOUND, REPO_CONFLICT
 * (an order references it), REPO_ERROR. */
struct repo_quote_delete {
        char quote_id[ID_BUFSZ];
};
int repo_quotes_delete_job(struct db_conn *c, void *arg);

/* POST /quotes/expire. In: the optional symbol filters (NULL pointers for
 * "any"; the strings must outlive the job). Out on REPO_OK: expired, how
 * many active quotes became expired. REPO_ERROR otherwise. */
struct repo_quotes_expire {
        const char *symbol_src;
        const char *symbol_dst;
        int64_t expired;
};
int repo_quotes_expire_job(struct db_conn *c, void *arg);

#endif
