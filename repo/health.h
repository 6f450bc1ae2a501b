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
        int pool_in_use;      /* of which lent out when probed */
        const char *degraded; /* why writes fail while reads work (disk full), or NULL */
        bool wal_mode;        /* SQLite's journal_mode is WAL */
        bool foreign_keys;
        int64_t size_bytes;
        int schema_version;
        char backend_version[32]; /* SQLite's library or the PostgreSQL server's version */
};

/* Queries c for the facts above. REPO_OK and *ret filled, or REPO_ERROR
 * (logged) with *ret untouched. */
enum repo_status repo_health_get(struct db *d, struct health *ret);

#endif
