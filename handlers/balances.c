/* The /balances endpoints: NOT IMPLEMENTED YET (a placeholder that replies 501). */
#include "handlers/balances.h"

#include "server/http.h"

void
handle_balances_list(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_balances_snapshot(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_balances_get(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_balances_put(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_balances_delete(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}
