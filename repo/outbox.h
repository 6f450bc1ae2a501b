/* The outbox: events for the services around tradestore, written in the
 * same transaction as the state change that causes them. */
#ifndef TRADESTORE_REPO_OUTBOX_H
#define TRADESTORE_REPO_OUTBOX_H

#include <stdint.h>

#include "repo/repo.h"

struct db_conn;

/* Adds a pending event with a new UUIDv7 event_id. payload_json must be a
 * JSON object's text (borrowed). Must run inside the caller's write
 * transaction so that the event commits with its cause. REPO_OK or
 * REPO_ERROR (logged). */
enum repo_status repo_outbox_add(struct db_conn *c, const char *event_type,
                                 const char *aggregate_id, const char *payload_json,
                                 int64_t now_us);

#endif
