/* The /orders endpoints (see ../shared/API.md). */
#ifndef TRADESTORE_HANDLERS_ORDERS_H
#define TRADESTORE_HANDLERS_ORDERS_H

struct req;

void handle_orders_create(struct req *r);
void handle_orders_list(struct req *r);
void handle_orders_get(struct req *r);
void handle_orders_update(struct req *r);

#endif
