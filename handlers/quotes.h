/* The /quotes endpoints (see ../shared/API.md, Quotes). Each handler replies
 * exactly once, directly or after its writer job committed. */
#ifndef TRADESTORE_HANDLERS_QUOTES_H
#define TRADESTORE_HANDLERS_QUOTES_H

struct req;

/* POST /quotes: 201 created, 200 an idempotent repeat, 409 the id exists with
 * other content, 400 invalid. */
void handle_quotes_create(struct req *r);

/* GET /quotes?status=&symbol_src=&symbol_dst=&limit=&cursor=: newest first. */
void handle_quotes_list(struct req *r);

/* POST /quotes/batch {"quotes": [...]}: 201 with every item, all or none. */
void handle_quotes_batch(struct req *r);

/* POST /quotes/expire {"symbol_src", "symbol_dst"}: 200 {"expired": N}. */
void handle_quotes_expire(struct req *r);

/* GET /quotes/{quote_id}: 200 or 404. */
void handle_quotes_get(struct req *r);

/* PATCH /quotes/{quote_id} {"status": "expired" | "cancelled"}: 200, 404, or
 * 409 unless the quote is active. */
void handle_quotes_update(struct req *r);

/* DELETE /quotes/{quote_id}: 204, 404, or 409 while an order references it. */
void handle_quotes_delete(struct req *r);

#endif
