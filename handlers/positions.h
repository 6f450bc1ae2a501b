/* The /positions endpoints (see ../shared/API.md). */
#ifndef TRADESTORE_HANDLERS_POSITIONS_H
#define TRADESTORE_HANDLERS_POSITIONS_H

struct req;

void handle_positions_list(struct req *r);
void handle_positions_get(struct req *r);
void handle_positions_reconcile(struct req *r);
void handle_positions_mark(struct req *r);

#endif
