/* The /fills endpoints: NOT IMPLEMENTED YET (a placeholder that replies 501). */
#include "handlers/fills.h"

#include "server/http.h"

void
handle_fills_create(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_fills_list(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_fills_get(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}
