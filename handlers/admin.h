/* The /admin endpoints (see ../shared/API.md). */
#ifndef TRADESTORE_HANDLERS_ADMIN_H
#define TRADESTORE_HANDLERS_ADMIN_H

struct req;

void handle_admin_stats(struct req *r);
void handle_admin_maintenance(struct req *r);
void handle_admin_backup(struct req *r);

#endif
