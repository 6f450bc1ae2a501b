/* GET /health. */
#ifndef TRADESTORE_HANDLERS_HEALTH_H
#define TRADESTORE_HANDLERS_HEALTH_H

struct req;
struct health_cache;

/* 200 with the database's facts, 503 "unavailable" when it cannot be queried.
 * The database is probed at most once per HEALTH_PROBE_US; requests in
 * between answer from the last probe, so that a load balancer polling
 * /health never competes with trading traffic for the database. */
void handle_health(struct req *r);

#define HEALTH_PROBE_US 1000000

/* The probe cache that handle_health uses. Caller owns: health_cache_free. */
struct health_cache *health_cache_new(void);
void health_cache_free(struct health_cache *hc);

#endif
