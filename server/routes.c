/* The route table. Literal paths come before patterns that could also match
 * them ("/quotes/batch" before "/quotes/{quote_id}"). */
#include "server/routes.h"

#include "handlers/admin.h"
#include "handlers/balances.h"
#include "handlers/fills.h"
#include "handlers/health.h"
#include "handlers/metrics.h"
#include "handlers/openapi.h"
#include "handlers/orders.h"
#include "handlers/outbox.h"
#include "handlers/positions.h"
#include "handlers/quotes.h"
#include "server/http.h"

/* One route a line or two, aligned by hand: easier to scan than the
 * formatter's one field a line. */
/* clang-format off */
static const struct route routes[] = {
        { .method = "GET", .pattern = "/health", .handler = handle_health },
        { .method = "GET", .pattern = "/metrics", .handler = handle_metrics },
        { .method = "GET", .pattern = "/openapi.yaml", .handler = handle_openapi },

        { .method = "POST", .pattern = "/quotes", .handler = handle_quotes_create },
        { .method = "GET", .pattern = "/quotes", .handler = handle_quotes_list },
        { .method = "POST", .pattern = "/quotes/batch", .handler = handle_quotes_batch },
        { .method = "POST", .pattern = "/quotes/expire", .handler = handle_quotes_expire },
        { .method = "GET", .pattern = "/quotes/{quote_id}", .param = PARAM_ID,
          .handler = handle_quotes_get },
        { .method = "PATCH", .pattern = "/quotes/{quote_id}", .param = PARAM_ID,
          .handler = handle_quotes_update },
        { .method = "DELETE", .pattern = "/quotes/{quote_id}", .param = PARAM_ID,
          .handler = handle_quotes_delete },

        { .method = "POST", .pattern = "/orders", .handler = handle_orders_create },
        { .method = "GET", .pattern = "/orders", .handler = handle_orders_list },
        { .method = "GET", .pattern = "/orders/{order_id}", .param = PARAM_ID,
          .handler = handle_orders_get },
        { .method = "PATCH", .pattern = "/orders/{order_id}", .param = PARAM_ID,
          .handler = handle_orders_update },

        { .method = "POST", .pattern = "/fills", .handler = handle_fills_create },
        { .method = "GET", .pattern = "/fills", .handler = handle_fills_list },
        { .method = "GET", .pattern = "/fills/{fill_id}", .param = PARAM_ID,
          .handler = handle_fills_get },

        { .method = "GET", .pattern = "/positions", .handler = handle_positions_list },
        { .method = "GET", .pattern = "/positions/{symbol}", .param = PARAM_SYMBOL,
          .handler = handle_positions_get },
        { .method = "PUT", .pattern = "/positions/{symbol}", .param = PARAM_SYMBOL,
          .handler = handle_positions_reconcile },
        { .method = "PATCH", .pattern = "/positions/{symbol}", .param = PARAM_SYMBOL,
          .handler = handle_positions_mark },

        { .method = "GET", .pattern = "/balances", .handler = handle_balances_list },
        { .method = "PUT", .pattern = "/balances", .handler = handle_balances_snapshot },
        { .method = "GET", .pattern = "/balances/{asset}", .param = PARAM_SYMBOL,
          .handler = handle_balances_get },
        { .method = "PUT", .pattern = "/balances/{asset}", .param = PARAM_SYMBOL,
          .handler = handle_balances_put },
        { .method = "DELETE", .pattern = "/balances/{asset}", .param = PARAM_SYMBOL,
          .handler = handle_balances_delete },

        { .method = "POST", .pattern = "/outbox", .handler = handle_outbox_create },
        { .method = "GET", .pattern = "/outbox", .handler = handle_outbox_list },
        { .method = "POST", .pattern = "/outbox/claim", .handler = handle_outbox_claim },
        { .method = "GET", .pattern = "/outbox/{event_id}", .param = PARAM_ID,
          .handler = handle_outbox_get },
        { .method = "POST", .pattern = "/outbox/{event_id}/processed", .param = PARAM_ID,
          .handler = handle_outbox_processed },
        { .method = "POST", .pattern = "/outbox/{event_id}/failed", .param = PARAM_ID,
          .handler = handle_outbox_failed },
        { .method = "POST", .pattern = "/outbox/{event_id}/retry", .param = PARAM_ID,
          .handler = handle_outbox_retry },

        { .method = "GET", .pattern = "/admin/stats", .handler = handle_admin_stats },
        { .method = "POST", .pattern = "/admin/maintenance", .handler = handle_admin_maintenance },
        { .method = "POST", .pattern = "/admin/backup", .handler = handle_admin_backup },
};
/* clang-format on */

const struct route *
routes_table(size_t *ret_count)
{
        *ret_count = sizeof(routes) / sizeof(routes[0]);
        return routes;
}
