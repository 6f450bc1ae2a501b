/* The /admin endpoints: NOT IMPLEMENTED YET (a placeholder that replies 501). */
#include "handlers/admin.h"

#include "server/http.h"

void
handle_admin_stats(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_admin_maintenance(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}

void
handle_admin_backup(struct req *r)
{
        reply_problem(r, 501, "not implemented yet", NULL);
}
