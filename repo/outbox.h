/* The outbox: events for the services around tradestore, written in the
 * same transaction as the state change that causes them, then claimed,
 * processed or failed by consumers.
 *
 * Lifecycle of an event: pending -> processing (claimed with a lease) ->
 * processed, or -> failed (claimable again after a back-off delay) -> ...
 * -> dead once retry_count reaches the maximum; an operator sends a dead
 * event back to pending. Events of one aggregate_id are handed out in
 * creation order (seq): none while an older one of the same aggregate is
 * unfinished (pending, processing or failed).
 *
 * lease_expires_at is set exactly while an event is processing; claimed_by
 * names the consumer that claimed it last (kept after processed / failed so
 * an operator can see who handled it, cleared by a retry). */
#ifndef TRADESTORE_REPO_OUTBOX_H
#define TRADESTORE_REPO_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ids.h"
#include "repo/repo.h"

struct db_conn;

/* The statuses of an event, then NULL: the one list (query enums, metrics
 * labels). processed and dead are final. */
#define OUTBOX_STATUS_COUNT 5
extern const char *const outbox_status_names[OUTBOX_STATUS_COUNT + 1];

/* True when an event in status may change no more (processed, dead). */
bool outbox_status_final(const char *status);

#define OUTBOX_STATUS_BUFSZ 16

/* One outbox row. payload and error_message are owned by the struct: free
 * them with outbox_event_clear. */
struct outbox_event {
        int64_t seq; /* creation order */
        char event_id[ID_BUFSZ];
        char event_type[ID_BUFSZ];
        char aggregate_id[ID_BUFSZ];
        char *payload; /* a JSON object's text; never NULL in a loaded row */
        char status[OUTBOX_STATUS_BUFSZ];
        int64_t created_at;
        bool has_processed_at;
        int64_t processed_at;
        int64_t retry_count;
        char *error_message; /* NULL when there is none */
        bool has_claimed_by;
        char claimed_by[ID_BUFSZ];
        bool has_lease_expires_at;
        int64_t lease_expires_at;
        bool has_next_attempt_at;
        int64_t next_attempt_at;
};

/* Frees what e owns and zeroes it. Accepts NULL and a zeroed struct. */
void outbox_event_clear(struct outbox_event *e);

/* Clears n events and frees the array. Accepts NULL. */
void outbox_events_free(struct outbox_event *v, size_t n);

/* Adds a pending event with a new UUIDv7 event_id. payload_json must be a
 * JSON object's text (borrowed). Must run inside the caller's write
 * transaction so that the event commits with its cause. REPO_OK or
 * REPO_ERROR (logged). */
enum repo_status repo_outbox_add(struct db_conn *c, const char *event_type,
                                 const char *aggregate_id, const char *payload_json,
                                 int64_t now_us);

/* ---- POST /outbox ---- */

/* The job argument of repo_outbox_create_job. Inputs are borrowed for the
 * job; event is an output (owned by the struct, outbox_event_clear) valid
 * only when the job returned REPO_OK. */
struct outbox_create {
        const char *event_id;      /* in: chosen by the client or a new UUIDv7 */
        const char *event_type;    /* in */
        const char *aggregate_id;  /* in */
        const char *payload_json;  /* in: a JSON object's text */
        bool existed;              /* out: event_id was already stored */
        struct outbox_event event; /* out: the new row, or the stored one */
};

/* Writer job (db_job_fn; arg is a struct outbox_create): inserts a pending
 * event. When event_id is already stored, changes nothing, loads that event
 * and sets existed: the caller compares contents (idempotent create).
 * REPO_OK or REPO_ERROR (logged). */
int repo_outbox_create_job(struct db_conn *c, void *arg);

/* ---- reads ---- */

/* Loads the event event_id into *ret (caller owns: outbox_event_clear).
 * REPO_OK, REPO_NOT_FOUND or REPO_ERROR (logged); *ret untouched unless
 * REPO_OK. */
enum repo_status repo_outbox_get(struct db *d, const char *event_id, struct outbox_event *ret);

/* Filters of a list; NULL means "any". Borrowed. */
struct outbox_filter {
        const char *status;
        const char *event_type;
        const char *aggregate_id;
};

/* Lists up to limit events matching f with seq > after_seq, oldest (lowest
 * seq) first. On REPO_OK *ret_items is a new array of *ret_n events (caller
 * owns: outbox_events_free; may be NULL when *ret_n is 0). REPO_ERROR
 * (logged) otherwise, with nothing written. Every filter combination runs
 * its own static statement backed by an index. */
enum repo_status repo_outbox_list(struct db *d, const struct outbox_filter *f, int64_t after_seq,
                                  int limit, struct outbox_event **ret_items, size_t *ret_n);

/* The SQL texts repo_outbox_list may run (static; *ret_n of them), for
 * EXPLAIN QUERY PLAN tests. */
const char *const *repo_outbox_list_sql(size_t *ret_n);

/* ---- POST /outbox/claim ---- */

/* The job argument of repo_outbox_claim_job. items is an output array
 * (owned by the struct once the job ran: outbox_events_free it whatever the
 * result) in seq order; valid only when the job returned REPO_OK. */
struct outbox_claim {
        const char *consumer;       /* in: 1-64 id characters */
        int limit;                  /* in: 1-1000 */
        int64_t lease_us;           /* in: lease length in microseconds, > 0 */
        struct outbox_event *items; /* out */
        size_t n;                   /* out */
};

/* Writer job (db_job_fn; arg is a struct outbox_claim): in one statement,
 * hands up to limit claimable events (pending; failed whose next attempt is
 * due; processing whose lease has expired), oldest first and never one
 * while an older event of its aggregate is unfinished, to consumer: they
 * become processing with claimed_by and a lease until now + lease_us.
 * REPO_OK (possibly with no items) or REPO_ERROR (logged). */
int repo_outbox_claim_job(struct db_conn *c, void *arg);

/* The SQL text of the claim (static), for EXPLAIN QUERY PLAN tests. Its
 * parameters: ?1 consumer, ?2 now (us), ?3 limit, ?4 lease (us). */
const char *repo_outbox_claim_sql(void);

/* ---- acknowledgements and operator retry ---- */

/* The job argument of the processed / failed / retry jobs. Inputs are
 * borrowed; event is an output (owned by the struct: outbox_event_clear)
 * valid only on REPO_OK; status is the event's current status when the job
 * returned REPO_CONFLICT. */
struct outbox_ack {
        const char *event_id;             /* in */
        const char *error_message;        /* in: failed only */
        int max_retries;                  /* in: failed only, >= 1 */
        int retry_base_seconds;           /* in: failed only, >= 1 */
        int retry_max_seconds;            /* in: failed only, >= 1 */
        struct outbox_event event;        /* out */
        char status[OUTBOX_STATUS_BUFSZ]; /* out, on REPO_CONFLICT */
};

/* Writer job (arg: struct outbox_ack): marks the event processed
 * (processed_at now, lease cleared). REPO_NOT_FOUND for an unknown event,
 * REPO_CONFLICT when it is already processed or dead, REPO_ERROR (logged). */
int repo_outbox_processed_job(struct db_conn *c, void *arg);

/* Writer job (arg: struct outbox_ack): records a failure: retry_count + 1,
 * error_message stored, lease cleared; the event becomes dead once
 * retry_count reaches max_retries, else failed and claimable again after
 * repo_outbox_retry_delay_s seconds. REPO_NOT_FOUND, REPO_CONFLICT (already
 * processed or dead), REPO_ERROR (logged). */
int repo_outbox_failed_job(struct db_conn *c, void *arg);

/* Writer job (arg: struct outbox_ack): sends a dead event back to pending
 * with retry_count 0 and its claim and next attempt cleared (error_message
 * kept). REPO_NOT_FOUND, REPO_CONFLICT (not dead), REPO_ERROR (logged). */
int repo_outbox_retry_job(struct db_conn *c, void *arg);

/* The back-off after the retry_count-th failure: min(base_s *
 * 2^(retry_count - 1), cap_s) seconds, computed without overflow for any
 * retry_count (values below 1 count as 1). base_s and cap_s must be >= 1. */
int64_t repo_outbox_retry_delay_s(int64_t retry_count, int64_t base_s, int64_t cap_s);

#endif
