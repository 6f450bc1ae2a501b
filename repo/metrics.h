/* Gauges computed from the database at scrape time, cheaply (each one an
 * index-only query). */
#ifndef TRADESTORE_REPO_METRICS_H
#define TRADESTORE_REPO_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "repo/repo.h"

struct db_conn;

#define REPO_METRICS_ORDER_STATUSES 7
#define REPO_METRICS_OUTBOX_STATUSES 5

struct db_gauges {
        int64_t size_bytes;
        int schema_version;
        int64_t quotes_active;
        int64_t orders[REPO_METRICS_ORDER_STATUSES]; /* in repo_metrics_order_statuses order */
        int64_t outbox[REPO_METRICS_OUTBOX_STATUSES];
        bool has_pending;
        int64_t oldest_pending_us; /* created_at of the oldest pending event */
};

/* The status names the arrays above are indexed by. */
extern const char *const repo_metrics_order_statuses[REPO_METRICS_ORDER_STATUSES];
extern const char *const repo_metrics_outbox_statuses[REPO_METRICS_OUTBOX_STATUSES];

/* The database manager's own counters (jobs, commits, queue, readers, WAL
 * size): no query, always available. */
void repo_metrics_db_stats(struct db *d, struct db_stats *ret);

/* Reads every gauge in one read transaction on c. REPO_OK with *ret filled,
 * or REPO_ERROR (logged). */
enum repo_status repo_metrics_get(struct db *d, struct db_gauges *ret);

#endif
