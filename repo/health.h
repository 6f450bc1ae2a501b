/* Database facts for GET /health and operators. */
#ifndef TRADESTORE_REPO_HEALTH_H
#define TRADESTORE_REPO_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "repo/repo.h"

struct db_conn;

struct health {
        bool postgres;        /* the backend: PostgreSQL, else SQLite */
        int pool_size;        /* read connections (at least one per HTTP thread) */
        const char *degraded; /* why writes fail while reads work (disk full), or NULL */
        bool wal_mode;        /* SQLite's journal_mode is WAL */
        bool foreign_keys;
        int64_t size_bytes;
        int schema_version;
};

/* Queries c for the facts above. REPO_OK and *ret filled, or REPO_ERROR
 * (logged) with *ret untouched. */
enum repo_status repo_health_get(struct db *d, struct health *ret);

#endif
