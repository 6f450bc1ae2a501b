/* GET /metrics: Prometheus text format 0.0.4. */
#ifndef TRADESTORE_HANDLERS_METRICS_H
#define TRADESTORE_HANDLERS_METRICS_H

struct req;

/* 200 text/plain; version=0.0.4 with every tradestore_* and process_*
 * family; the database gauges are left out (and
 * tradestore_db_up is 0) when the database cannot be queried. */
void handle_metrics(struct req *r);

#endif
