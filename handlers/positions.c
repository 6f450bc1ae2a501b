/* The /positions endpoints: NOT IMPLEMENTED YET (a placeholder that replies 501). */
#include "handlers/positions.h"

#include "server/http.h"

void
handle_positions_list(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_positions_get(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_positions_reconcile(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_positions_mark(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}
