/* The /orders endpoints: NOT IMPLEMENTED YET (a placeholder that replies 501). */
#include "handlers/orders.h"

#include "server/http.h"

void
handle_orders_create(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_orders_list(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_orders_get(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_orders_update(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}
