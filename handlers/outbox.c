/* The /outbox endpoints: NOT IMPLEMENTED YET (a placeholder that replies 501). */
#include "handlers/outbox.h"

#include "server/http.h"

void
handle_outbox_create(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_outbox_list(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_outbox_get(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_outbox_claim(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_outbox_processed(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_outbox_failed(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_outbox_retry(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}
