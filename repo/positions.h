/* Positions: the bot's holding per symbol, the pure arithmetic that moves it
 * when a fill arrives, and the positions table (read, upsert, list, the
 * reconciliation and mark-price writer jobs). */
#ifndef TRADESTORE_REPO_POSITIONS_H
#define TRADESTORE_REPO_POSITIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ids.h"
#include "repo/repo.h"

struct db_conn;
struct db_stmt;

/* One row of positions. Decimals in 1e-8 units, last_updated in us.
 *
 * The cost basis (what the held units cost, price x quantity summed over the
 * fills that grew the position) is kept exactly, in 1e-16 units, as
 * avg_entry_price * |quantity| + basis_residual: avg_entry_price is the
 * basis / |quantity| rounded half-to-even once, so basis_residual is the
 * rounding remainder, |basis_residual| <= |quantity| / 2, and fits int64.
 * Keeping the remainder is what keeps the average the exact VWAP after any
 * number of growing fills; a shrinking fill, a flip and a PUT all leave a
 * basis of exactly avg x quantity, so a residual of 0. Internal: not in the
 * API. */
struct position {
        char symbol[SYMBOL_BUFSZ];
        int64_t quantity; /* signed: long > 0, short < 0 */
        int64_t avg_entry_price;
        int64_t basis_residual; /* 1e-16 units; 0 when flat */
        int64_t realized_pnl;
        int64_t unrealized_pnl;
        bool has_mark_price;
        int64_t mark_price;
        int64_t last_updated;
};

/* ---- pure arithmetic (no I/O) ---- */

/* Applies a fill of qty (> 0) at price (> 0) to *p: a buy adds to quantity,
 * a sell subtracts. Growing adds price * qty to the exact basis and moves
 * avg_entry_price to basis / |quantity| rounded once (the exact VWAP);
 * shrinking keeps avg_entry_price, adds (price - avg) * closed (negated for a
 * short) to realized_pnl and leaves a basis of avg * |quantity| exactly;
 * crossing zero closes the old side that way and opens the rest at price;
 * flat means avg 0. unrealized_pnl is recomputed.
 * Leaves last_updated alone. Returns false when an input is not positive or
 * a result leaves the decimal range; *p is then untouched. */
bool position_apply_fill(struct position *p, bool is_buy, int64_t price, int64_t qty);

/* Recomputes unrealized_pnl = (mark_price - avg_entry_price) * quantity, or 0
 * without a mark price. Returns false when out of range; *p is then
 * untouched. */
bool position_mark_to_market(struct position *p);

/* ---- the table ---- */

/* Reads the position of symbol. REPO_OK with *ret filled, REPO_NOT_FOUND, or
 * REPO_ERROR (logged); *ret is written only on REPO_OK. */
enum repo_status repo_positions_get(struct db *d, const char *symbol, struct position *ret);

/* repo_positions_get on the caller's connection, inside a write job. */
enum repo_status repo_positions_load(struct db_conn *c, const char *symbol, struct position *ret);

/* repo_positions_load that also locks the row until the job's transaction
 * ends (PostgreSQL's FOR UPDATE; SQLite's one writer needs none). For jobs
 * that change the position (db_job_locks_rows). */
enum repo_status repo_positions_lock(struct db_conn *c, const char *symbol, struct position *ret);

/* The columns of a position, in the order repo_positions_from_row reads
 * them: for a statement of another repo file that reads a position beside
 * its own row (fills: the order and its symbol's position in one query). */
#define POSITION_COLUMNS                                                                           \
        "symbol, quantity, avg_entry_price, realized_pnl, unrealized_pnl, mark_price,"             \
        " last_updated, basis_residual"

/* Reads the position in st's current row, its POSITION_COLUMNS from column
 * first on. REPO_NOT_FOUND when its symbol is NULL (an outer join found no
 * position); *ret is written only on REPO_OK. */
enum repo_status repo_positions_from_row(struct db_stmt *st, int first, struct position *ret);

/* Inserts *p, whose symbol has no row yet (the caller has just looked).
 * Runs inside the caller's write job. REPO_OK or REPO_ERROR (logged). */
enum repo_status repo_positions_create(struct db_conn *c, const struct position *p);

/* Overwrites the existing row of p->symbol with *p. Runs inside the
 * caller's write job. REPO_OK or REPO_ERROR (logged). Separate from create
 * rather than an upsert: the callers already know, and an upsert pays for
 * a failed insert first. */
enum repo_status repo_positions_update(struct db_conn *c, const struct position *p);

/* Calls row(cls, p) for up to limit positions with symbol > after (NULL or
 * "" for the first page), by symbol ascending; p is borrowed for the call.
 * *ret_n is the number of rows visited. REPO_OK or REPO_ERROR (logged). */
enum repo_status repo_positions_list(struct db *d, const char *after, int limit,
                                     void (*row)(void *cls, const struct position *p), void *cls,
                                     size_t *ret_n);

/* The SQL text of every list query above (for EXPLAIN QUERY PLAN tests).
 * Static storage; *ret_n entries. */
const char *const *repo_positions_list_sql(size_t *ret_n);

/* ---- writer jobs (db_job_fn; arg allocated by the caller) ---- */

/* PUT /positions/{symbol}. in: symbol, quantity, avg_entry_price,
 * realized_pnl when has_realized_pnl (else unchanged, 0 for a new row),
 * payload (builds the position_reconciled payload: malloc'd JSON object
 * text the job frees, NULL on out-of-memory). out (REPO_OK only): result,
 * created. */
struct position_reconcile {
        char symbol[SYMBOL_BUFSZ];
        int64_t quantity;
        int64_t avg_entry_price;
        bool has_realized_pnl;
        int64_t realized_pnl;
        char *(*payload)(const struct position *p);

        struct position result;
        bool created;
};

/* Runs a position_reconcile: keeps the stored mark_price, recomputes
 * unrealized_pnl, sets last_updated, upserts and adds a position_reconciled
 * event (aggregate_id = symbol). Returns REPO_OK, REPO_CONFLICT (result out
 * of range, nothing written) or REPO_ERROR. */
int repo_positions_reconcile_job(struct db_conn *c, void *arg);

/* PATCH /positions/{symbol}. in: symbol, mark_price (> 0). out (REPO_OK
 * only): result. */
struct position_mark {
        char symbol[SYMBOL_BUFSZ];
        int64_t mark_price;

        struct position result;
};

/* Runs a position_mark: sets mark_price, recomputes unrealized_pnl and
 * last_updated; no event. REPO_OK, REPO_NOT_FOUND, REPO_CONFLICT (result out
 * of range, nothing written) or REPO_ERROR. */
int repo_positions_mark_job(struct db_conn *c, void *arg);

#endif
