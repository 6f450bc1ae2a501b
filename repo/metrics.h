/* Gauges computed from the database at scrape time, cheaply (each one an
 * index-only query). */
#ifndef TRADESTORE_REPO_METRICS_H
#define TRADESTORE_REPO_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "repo/orders.h"
#include "repo/outbox.h"
#include "repo/repo.h"

struct db_conn;

#define REPO_METRICS_ORDER_STATUSES ORDER_STATUS_COUNT
#define REPO_METRICS_OUTBOX_STATUSES OUTBOX_STATUS_COUNT

struct db_gauges {
        int64_t size_bytes;
        int schema_version;
        int64_t quotes_active;
        int64_t orders[REPO_METRICS_ORDER_STATUSES];  /* in order_status_names order */
        int64_t outbox[REPO_METRICS_OUTBOX_STATUSES]; /* in outbox_status_names order */
        bool has_pending;
        int64_t oldest_pending_us; /* created_at of the oldest pending event */
};

/* The database manager's own counters (jobs, commits, queue, readers, WAL
 * size): no query, always available. */
void repo_metrics_db_stats(struct db *d, struct db_stats *ret);

/* Reads every gauge in one read transaction on c. REPO_OK with *ret filled,
 * or REPO_ERROR (logged). */
enum repo_status repo_metrics_get(struct db *d, struct db_gauges *ret);

#endif
