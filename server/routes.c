/* The route table and each route's rules: the role it needs and the query
 * parameters it takes, with their types (API.md). The router enforces them
 * before a handler runs (server/http.c); handlers read the validated values
 * with req_arg and req_page. Literal paths come before patterns that could
 * also match them ("/quotes/batch" before "/quotes/{quote_id}"). */
#include "server/routes.h"

#include "handlers/admin.h"
#include "handlers/balances.h"
#include "handlers/fills.h"
#include "handlers/health.h"
#include "handlers/metrics.h"
#include "handlers/openapi.h"
#include "handlers/orders.h"
#include "handlers/outbox.h"
#include "handlers/parse.h"
#include "handlers/positions.h"
#include "handlers/quotes.h"
#include "repo/orders.h"
#include "repo/outbox.h"
#include "repo/quotes.h"
#include "server/http.h"

#include <stdint.h>

/* ---- the query parameters of the lists (each also takes limit, cursor) ---- */

static const struct field quotes_query[] = {
        { .name = "status", .type = F_ENUM, .enum_values = quote_status_names },
        { .name = "symbol_src", .type = F_SYMBOL },
        { .name = "symbol_dst", .type = F_SYMBOL },
};

static const struct field orders_query[] = {
        { .name = "symbol", .type = F_SYMBOL },
        { .name = "status", .type = F_ENUM, .enum_values = order_status_names },
        { .name = "quote_id", .type = F_ID },
        { .name = "external_order_id", .type = F_STRING, .max_len = ORDER_EXT_ID_MAX },
        { .name = "created_after", .type = F_TS },
        { .name = "created_before", .type = F_TS },
};

static const struct field fills_query[] = {
        { .name = "order_id", .type = F_ID },
        { .name = "symbol", .type = F_SYMBOL },
        { .name = "executed_after", .type = F_TS },
        { .name = "executed_before", .type = F_TS },
};

/* aggregate_id's own rule is the handler's (handlers/outbox.c). */
static const struct field outbox_query[] = {
        { .name = "status", .type = F_ENUM, .enum_values = outbox_status_names },
        { .name = "event_type", .type = F_ID },
        { .name = "aggregate_id", .type = F_STRING, .max_len = SIZE_MAX },
};

#define LIST(q) .query = (q), .nquery = NFIELDS(q), .paged = true
#define PAGED .paged = true

/* One route a line or two, aligned by hand: easier to scan than the
 * formatter's one field a line. */
/* clang-format off */
static const struct route routes[] = {
        { .method = "GET", .pattern = "/health", .access = ACCESS_PUBLIC, .handler = handle_health },
        { .method = "GET", .pattern = "/metrics", .access = ACCESS_METRICS, .handler = handle_metrics },
        { .method = "GET", .pattern = "/openapi.yaml", .access = ACCESS_READ, .handler = handle_openapi },

        { .method = "POST", .pattern = "/quotes", .access = ACCESS_WRITE, .handler = handle_quotes_create },
        { .method = "GET", .pattern = "/quotes", .access = ACCESS_READ, LIST(quotes_query), .handler = handle_quotes_list },
        { .method = "POST", .pattern = "/quotes/batch", .access = ACCESS_WRITE, .handler = handle_quotes_batch },
        { .method = "POST", .pattern = "/quotes/expire", .access = ACCESS_WRITE, .handler = handle_quotes_expire },
        { .method = "GET", .pattern = "/quotes/{quote_id}", .access = ACCESS_READ, .param = PARAM_ID,
          .handler = handle_quotes_get },
        { .method = "PATCH", .pattern = "/quotes/{quote_id}", .access = ACCESS_WRITE, .param = PARAM_ID,
          .handler = handle_quotes_update },
        { .method = "DELETE", .pattern = "/quotes/{quote_id}", .access = ACCESS_WRITE, .param = PARAM_ID,
          .handler = handle_quotes_delete },

        { .method = "POST", .pattern = "/orders", .access = ACCESS_WRITE, .handler = handle_orders_create },
        { .method = "GET", .pattern = "/orders", .access = ACCESS_READ, LIST(orders_query), .handler = handle_orders_list },
        { .method = "GET", .pattern = "/orders/{order_id}", .access = ACCESS_READ, .param = PARAM_ID,
          .handler = handle_orders_get },
        { .method = "PATCH", .pattern = "/orders/{order_id}", .access = ACCESS_WRITE, .param = PARAM_ID,
          .handler = handle_orders_update },

        { .method = "POST", .pattern = "/fills", .access = ACCESS_WRITE, .handler = handle_fills_create },
        { .method = "GET", .pattern = "/fills", .access = ACCESS_READ, LIST(fills_query), .handler = handle_fills_list },
        { .method = "GET", .pattern = "/fills/{fill_id}", .access = ACCESS_READ, .param = PARAM_ID,
          .handler = handle_fills_get },

        { .method = "GET", .pattern = "/positions", .access = ACCESS_READ, PAGED, .handler = handle_positions_list },
        { .method = "GET", .pattern = "/positions/{symbol}", .access = ACCESS_READ, .param = PARAM_SYMBOL,
          .handler = handle_positions_get },
        { .method = "PUT", .pattern = "/positions/{symbol}", .access = ACCESS_WRITE, .param = PARAM_SYMBOL,
          .handler = handle_positions_reconcile },
        { .method = "PATCH", .pattern = "/positions/{symbol}", .access = ACCESS_WRITE, .param = PARAM_SYMBOL,
          .handler = handle_positions_mark },

        { .method = "GET", .pattern = "/balances", .access = ACCESS_READ, PAGED, .handler = handle_balances_list },
        { .method = "PUT", .pattern = "/balances", .access = ACCESS_WRITE, .handler = handle_balances_snapshot },
        { .method = "GET", .pattern = "/balances/{asset}", .access = ACCESS_READ, .param = PARAM_SYMBOL,
          .handler = handle_balances_get },
        { .method = "PUT", .pattern = "/balances/{asset}", .access = ACCESS_WRITE, .param = PARAM_SYMBOL,
          .handler = handle_balances_put },
        { .method = "DELETE", .pattern = "/balances/{asset}", .access = ACCESS_WRITE, .param = PARAM_SYMBOL,
          .handler = handle_balances_delete },

        { .method = "POST", .pattern = "/outbox", .access = ACCESS_WRITE, .handler = handle_outbox_create },
        { .method = "GET", .pattern = "/outbox", .access = ACCESS_READ, LIST(outbox_query), .handler = handle_outbox_list },
        { .method = "POST", .pattern = "/outbox/claim", .access = ACCESS_WRITE, .handler = handle_outbox_claim },
        { .method = "GET", .pattern = "/outbox/{event_id}", .access = ACCESS_READ, .param = PARAM_ID,
          .handler = handle_outbox_get },
        { .method = "POST", .pattern = "/outbox/{event_id}/processed", .access = ACCESS_WRITE, .param = PARAM_ID,
          .handler = handle_outbox_processed },
        { .method = "POST", .pattern = "/outbox/{event_id}/failed", .access = ACCESS_WRITE, .param = PARAM_ID,
          .handler = handle_outbox_failed },
        { .method = "POST", .pattern = "/outbox/{event_id}/retry", .access = ACCESS_WRITE, .param = PARAM_ID,
          .handler = handle_outbox_retry },

        { .method = "GET", .pattern = "/admin/stats", .access = ACCESS_ADMIN, .handler = handle_admin_stats },
        { .method = "POST", .pattern = "/admin/maintenance", .access = ACCESS_ADMIN, .handler = handle_admin_maintenance },
        { .method = "POST", .pattern = "/admin/backup", .access = ACCESS_ADMIN, .handler = handle_admin_backup },
};
/* clang-format on */

const struct route *
routes_table(size_t *ret_count)
{
        *ret_count = sizeof(routes) / sizeof(routes[0]);
        return routes;
}
