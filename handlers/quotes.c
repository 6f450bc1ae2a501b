/* The /quotes endpoints: NOT IMPLEMENTED YET (a placeholder that replies 501). */
#include "handlers/quotes.h"

#include "server/http.h"

void
handle_quotes_create(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_quotes_list(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_quotes_batch(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_quotes_expire(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_quotes_get(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_quotes_update(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_quotes_delete(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}
