/* GET /health. */
#ifndef TRADESTORE_HANDLERS_HEALTH_H
#define TRADESTORE_HANDLERS_HEALTH_H

struct req;

/* 200 with the database's facts, 503 "unavailable" when it cannot be queried. */
void handle_health(struct req *r);

#endif
