/* The /balances endpoints (see ../shared/API.md). */
#ifndef TRADESTORE_HANDLERS_BALANCES_H
#define TRADESTORE_HANDLERS_BALANCES_H

struct req;

void handle_balances_list(struct req *r);
void handle_balances_snapshot(struct req *r);
void handle_balances_get(struct req *r);
void handle_balances_put(struct req *r);
void handle_balances_delete(struct req *r);

#endif
