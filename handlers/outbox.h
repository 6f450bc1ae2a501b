/* The /outbox endpoints (see ../shared/API.md). */
#ifndef TRADESTORE_HANDLERS_OUTBOX_H
#define TRADESTORE_HANDLERS_OUTBOX_H

struct req;

void handle_outbox_create(struct req *r);
void handle_outbox_list(struct req *r);
void handle_outbox_get(struct req *r);
void handle_outbox_claim(struct req *r);
void handle_outbox_processed(struct req *r);
void handle_outbox_failed(struct req *r);
void handle_outbox_retry(struct req *r);

#endif
