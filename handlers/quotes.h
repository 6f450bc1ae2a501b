/* The /quotes endpoints (see ../shared/API.md). */
#ifndef TRADESTORE_HANDLERS_QUOTES_H
#define TRADESTORE_HANDLERS_QUOTES_H

struct req;

void handle_quotes_create(struct req *r);
void handle_quotes_list(struct req *r);
void handle_quotes_batch(struct req *r);
void handle_quotes_expire(struct req *r);
void handle_quotes_get(struct req *r);
void handle_quotes_update(struct req *r);
void handle_quotes_delete(struct req *r);

#endif
