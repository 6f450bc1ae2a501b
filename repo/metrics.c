/* Database gauges for /metrics (see metrics.h). */
#include "repo/metrics.h"

#include "db/db.h"
#include "repo/orders.h"
#include "repo/outbox.h"

#include <string.h>

/* Runs a "SELECT status, count(*) ... GROUP BY status" into counts. */
static int
count_by_status(struct db_conn *c, const char *sql, const char *const *names, int n,
                int64_t *counts)
{
        struct db_stmt *st = db_stmt(c, sql);
        int rc;

        if (st == NULL)
                return -1;
        while ((rc = db_step(st)) == DB_ROW) {
                const char *status = db_column_str(st, 0);

                for (int i = 0; i < n; i++)
                        if (status != NULL && strcmp(status, names[i]) == 0)
                                counts[i] = db_column_int64(st, 1);
        }
        db_stmt_done(st);
        if (rc != DB_DONE) {
                db_log_error(c, "metrics count by status");
                return -1;
        }
        return 0;
}

static int
scalars(struct db_conn *c, struct db_gauges *g)
{
        static const char sql[] = "SELECT (SELECT page_count FROM pragma_page_count())"
                                  "   * (SELECT page_size FROM pragma_page_size()),"
                                  " (SELECT coalesce(max(version), 0) FROM schema_version),"
                                  " (SELECT count(*) FROM quotes WHERE status = 'active'),"
                                  " (SELECT created_at FROM outbox WHERE status = 'pending'"
                                  "   ORDER BY seq LIMIT 1)";
        static const char sql_pg[] = "SELECT pg_database_size(current_database()),"
                                     " (SELECT coalesce(max(version), 0) FROM schema_version),"
                                     " (SELECT count(*) FROM quotes WHERE status = 'active'),"
                                     " (SELECT created_at FROM outbox WHERE status = 'pending'"
                                     "   ORDER BY seq LIMIT 1)";
        struct db_stmt *st = db_stmt(c, db_sql(sql, sql_pg));
        int rc = -1;

        if (st == NULL)
                return -1;
        if (db_step(st) == DB_ROW) {
                g->size_bytes = db_column_int64(st, 0);
                g->schema_version = db_column_int64(st, 1);
                g->quotes_active = db_column_int64(st, 2);
                g->has_pending = !db_column_null(st, 3);
                g->oldest_pending_us = db_column_int64(st, 3);
                rc = 0;
        } else {
                db_log_error(c, "metrics scalars");
        }
        db_stmt_done(st);
        return rc;
}

/* The arguments of repo_metrics_get, for its db_read job below. */
struct get_read {
        struct db_gauges *ret;
};

static int
metrics_get(struct db_conn *c, void *arg)
{
        const struct get_read *a = arg;
        struct db_gauges *ret = a->ret;
        static const char sql_orders[] = "SELECT status, count(*) FROM orders GROUP BY status";
        static const char sql_outbox[] = "SELECT status, count(*) FROM outbox GROUP BY status";
        struct db_gauges g = { 0 };
        enum repo_status s = REPO_ERROR;

        if (db_read_begin(c) != 0)
                return REPO_ERROR;
        if (scalars(c, &g) == 0 &&
            count_by_status(c, sql_orders, order_status_names, REPO_METRICS_ORDER_STATUSES,
                            g.orders) == 0 &&
            count_by_status(c, sql_outbox, outbox_status_names, REPO_METRICS_OUTBOX_STATUSES,
                            g.outbox) == 0) {
                *ret = g;
                s = REPO_OK;
        }
        db_read_end(c);
        return s;
}

enum repo_status
repo_metrics_get(struct db *d, struct db_gauges *ret)
{
        struct get_read a = { ret };

        return (enum repo_status)db_read(d, metrics_get, &a);
}

void
repo_metrics_db_stats(struct db *d, struct db_stats *ret)
{
        db_stats(d, ret);
}
