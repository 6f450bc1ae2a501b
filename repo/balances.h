/* The account's balances, one row per asset, as last reported by the
 * exchange (table account_balances). A balance's total is always available
 * + locked: the repo computes it and refuses one that leaves the int64 range
 * of 1e-8 units. Balances cause no outbox event. */
#ifndef TRADESTORE_REPO_BALANCES_H
#define TRADESTORE_REPO_BALANCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ids.h"
#include "repo/repo.h"

struct db_conn;

/* The largest snapshot PUT /balances accepts (entries). */
#define BALANCES_SNAPSHOT_MAX 1000

struct balance {
        char asset[SYMBOL_BUFSZ]; /* 1-32 of [A-Za-z0-9._/-] */
        int64_t available;  /* units of 1e-8, >= 0 */
        int64_t locked;     /* units of 1e-8, >= 0 */
        int64_t total;      /* available + locked */
        int64_t updated_at; /* microseconds since the epoch, UTC */
};

/* Loads the balance of asset. REPO_OK with *ret filled, REPO_NOT_FOUND, or
 * REPO_ERROR (logged); *ret is written only on REPO_OK. */
enum repo_status repo_balances_get(struct db *d, const char *asset, struct balance *ret);

/* Lists up to limit balances in ascending asset order, starting after
 * `after` (NULL for the first page). ret_items must hold limit entries (the
 * caller's memory). REPO_OK with *ret_n rows, or REPO_ERROR (logged) with
 * *ret_n untouched. */
enum repo_status repo_balances_list(struct db *d, const char *after, int limit,
                                    struct balance *ret_items, size_t *ret_n);

/* The SQL of every list query above (static strings), for EXPLAIN QUERY PLAN
 * tests. Sets *ret_n to their number. */
const char *const *repo_balances_list_sql(size_t *ret_n);

/* The argument of repo_balances_put_job: b.asset, b.available and b.locked
 * in; on REPO_OK, b is the balance as committed and created tells whether
 * the asset is new. */
struct balance_put {
        struct balance b;
        bool created;
};

/* Writer job (db_job_fn): creates or replaces the balance of one asset,
 * arg being a struct balance_put. REPO_CONFLICT when the total would leave
 * the int64 range (nothing written), REPO_ERROR (logged) on a database
 * error. */
int repo_balances_put_job(struct db_conn *c, void *arg);

/* The argument of repo_balances_snapshot_job: items[0..n) in, each with
 * asset, available and locked, distinct assets, sorted by asset (strcmp).
 * On REPO_OK every item's total and updated_at are those committed; on
 * REPO_CONFLICT bad is the index of the first item whose total would leave
 * the int64 range. items is borrowed for the job. */
struct balance_snapshot {
        struct balance *items;
        size_t n;
        size_t bad;
};

/* Writer job (db_job_fn): replaces the whole set of balances with the
 * snapshot (arg: struct balance_snapshot): assets not in it are removed, so
 * an empty snapshot removes all. All or nothing: REPO_CONFLICT for a total
 * out of range, REPO_INVALID for a repeated asset (the caller should have
 * refused it), REPO_ERROR (logged) on a database error. */
int repo_balances_snapshot_job(struct db_conn *c, void *arg);

/* Writer job (db_job_fn): deletes the balance of the asset arg (a
 * NUL-terminated string, borrowed). REPO_OK, REPO_NOT_FOUND or REPO_ERROR
 * (logged). */
int repo_balances_delete_job(struct db_conn *c, void *arg);

#endif
