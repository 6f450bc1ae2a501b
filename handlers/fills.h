/* The /fills endpoints (see ../shared/API.md). */
#ifndef TRADESTORE_HANDLERS_FILLS_H
#define TRADESTORE_HANDLERS_FILLS_H

struct req;

void handle_fills_create(struct req *r);
void handle_fills_list(struct req *r);
void handle_fills_get(struct req *r);

#endif
