/* GET /metrics: the in-process counters plus gauges read from the database
 * at scrape time (see server/metrics.h and repo/metrics.h). */
#include "handlers/metrics.h"

#include "common/ts.h"
#include "repo/metrics.h"
#include "server/http.h"
#include "server/metrics.h"

#include <stdlib.h>

#ifndef TRADESTORE_VERSION
#define TRADESTORE_VERSION "dev"
#endif

/* The writer's copies of the WAL's rest for a restart (SQLite; 0 on
 * PostgreSQL): writes wait meanwhile. */
static void
render_wal_restarts(const struct db_stats *st, struct strbuf *out)
{
        strbuf_printf(out,
                      "# HELP tradestore_db_wal_restart_copies_total Times the writer "
                      "copied the WAL's last frames itself so that the WAL restarts at "
                      "its start (SQLite); writes wait meanwhile.\n"
                      "# TYPE tradestore_db_wal_restart_copies_total counter\n"
                      "tradestore_db_wal_restart_copies_total %lu\n"
                      "# HELP tradestore_db_wal_restart_copy_frames_total WAL frames those "
                      "copies had left to copy.\n"
                      "# TYPE tradestore_db_wal_restart_copy_frames_total counter\n"
                      "tradestore_db_wal_restart_copy_frames_total %lu\n"
                      "# HELP tradestore_db_wal_restart_copy_seconds_total Time writes "
                      "waited for those copies (their fdatasyncs included).\n"
                      "# TYPE tradestore_db_wal_restart_copy_seconds_total counter\n"
                      "tradestore_db_wal_restart_copy_seconds_total %lu.%06lu\n"
                      "# HELP tradestore_db_wal_checkpointer_waits_total Times the writer "
                      "waited for the checkpointer's pass first, the WAL being past 20 "
                      "times the checkpoint size (320 MiB): the disk did not keep up with "
                      "the writes, or a long reader held the WAL.\n"
                      "# TYPE tradestore_db_wal_checkpointer_waits_total counter\n"
                      "tradestore_db_wal_checkpointer_waits_total %lu\n",
                      st->wal_copies, st->wal_copy_frames, st->wal_copy_us / 1000000,
                      st->wal_copy_us % 1000000, st->wal_waits);
}

static void
render_db_counters(struct db *d, struct strbuf *out)
{
        struct db_stats st;

        repo_metrics_db_stats(d, &st);
        strbuf_printf(
                out,
                "# HELP tradestore_db_wal_bytes Size of the write-ahead log file.\n"
                "# TYPE tradestore_db_wal_bytes gauge\ntradestore_db_wal_bytes %lld\n"
                "# HELP tradestore_db_transactions_total Write jobs (one per state "
                "change), by result.\n# TYPE tradestore_db_transactions_total counter\n"
                "tradestore_db_transactions_total{result=\"committed\"} %lu\n"
                "tradestore_db_transactions_total{result=\"rolled_back\"} %lu\n"
                "tradestore_db_transactions_total{result=\"failed\"} %lu\n"
                "# HELP tradestore_db_commits_total Write transactions committed; each "
                "carries every job that was waiting (group commit).\n"
                "# TYPE tradestore_db_commits_total counter\ntradestore_db_commits_total %lu\n"
                "# HELP tradestore_db_batch_reruns_total Batches run again with a "
                "savepoint per job because a job failed after writing.\n"
                "# TYPE tradestore_db_batch_reruns_total counter\n"
                "tradestore_db_batch_reruns_total %lu\n"
                "# HELP tradestore_db_busy_total Waits on a database lock held by "
                "another process.\n# TYPE tradestore_db_busy_total counter\n"
                "tradestore_db_busy_total %lu\n"
                "# HELP tradestore_db_readers Read-only connections of the pool, by "
                "state.\n# TYPE tradestore_db_readers gauge\n"
                "tradestore_db_readers{state=\"busy\"} %d\n"
                "tradestore_db_readers{state=\"idle\"} %d\n",
                (long long)st.wal_bytes, st.jobs_committed, st.jobs_rolled_back, st.jobs_failed,
                st.batches, st.reruns, st.busy, st.readers_busy,
                st.readers_total - st.readers_busy);
        strbuf_printf(out,
                      "# HELP tradestore_db_write_queue_length Writes waiting for the "
                      "database writer.\n# TYPE tradestore_db_write_queue_length gauge\n"
                      "tradestore_db_write_queue_length %d\n"
                      "# HELP tradestore_db_write_queue_limit database.max_write_queue: past "
                      "it a new write gets 503 (0 = no bound).\n"
                      "# TYPE tradestore_db_write_queue_limit gauge\n"
                      "tradestore_db_write_queue_limit %d\n"
                      "# HELP tradestore_db_writes_refused_total Writes refused with 503 "
                      "because the write queue was full (overload).\n"
                      "# TYPE tradestore_db_writes_refused_total counter\n"
                      "tradestore_db_writes_refused_total %lu\n",
                      st.queue_length, st.queue_limit, st.refused);
        render_wal_restarts(&st, out);
}

/* Connections cut by the header deadline and the minimum body rate. */
static void
render_http_cuts(const struct http_server *http, struct strbuf *out)
{
        unsigned long header = 0, body = 0;

        http_cut_counts(http, &header, &body);
        strbuf_printf(out,
                      "# HELP tradestore_http_connections_cut_total Connections closed for "
                      "sending their headers past server.header_timeout or their body "
                      "slower than server.min_body_rate.\n"
                      "# TYPE tradestore_http_connections_cut_total counter\n"
                      "tradestore_http_connections_cut_total{reason=\"header_timeout\"} %lu\n"
                      "tradestore_http_connections_cut_total{reason=\"slow_body\"} %lu\n",
                      header, body);
}

static void
render_gauges(const struct db_gauges *g, struct strbuf *out)
{
        int64_t age_us = g->has_pending ? ts_now_us() - g->oldest_pending_us : 0;

        if (age_us < 0) /* the wall clock stepped back since the event was made */
                age_us = 0;

        strbuf_printf(out,
                      "# HELP tradestore_db_size_bytes Size of the database (pages in use "
                      "and free).\n# TYPE tradestore_db_size_bytes gauge\n"
                      "tradestore_db_size_bytes %lld\n"
                      "# HELP tradestore_schema_version Highest applied migration.\n"
                      "# TYPE tradestore_schema_version gauge\ntradestore_schema_version %d\n"
                      "# HELP tradestore_quotes_active Quotes with status active.\n"
                      "# TYPE tradestore_quotes_active gauge\ntradestore_quotes_active %lld\n",
                      (long long)g->size_bytes, g->schema_version, (long long)g->quotes_active);
        strbuf_printf(out, "# HELP tradestore_orders Orders by status.\n"
                           "# TYPE tradestore_orders gauge\n");
        for (int i = 0; i < REPO_METRICS_ORDER_STATUSES; i++)
                strbuf_printf(out, "tradestore_orders{status=\"%s\"} %lld\n", order_status_names[i],
                              (long long)g->orders[i]);
        strbuf_printf(out, "# HELP tradestore_outbox_events Outbox events by status.\n"
                           "# TYPE tradestore_outbox_events gauge\n");
        for (int i = 0; i < REPO_METRICS_OUTBOX_STATUSES; i++)
                strbuf_printf(out, "tradestore_outbox_events{status=\"%s\"} %lld\n",
                              outbox_status_names[i], (long long)g->outbox[i]);
        strbuf_printf(out,
                      "# HELP tradestore_outbox_oldest_pending_age_seconds Age of the oldest "
                      "pending outbox event, 0 when none is pending.\n"
                      "# TYPE tradestore_outbox_oldest_pending_age_seconds gauge\n"
                      "tradestore_outbox_oldest_pending_age_seconds %lld.%06lld\n",
                      (long long)(age_us / 1000000), (long long)(age_us % 1000000));
}

void
handle_metrics(struct req *r)
{
        const struct app *app = req_app(r);
        struct strbuf out = { 0 };
        struct db_gauges g;
        enum repo_status s;

        s = repo_metrics_get(app->db, &g);
        metrics_render(app->metrics, http_in_flight(req_server(r)), &out);
        render_db_counters(app->db, &out);
        render_http_cuts(req_server(r), &out);
        strbuf_printf(&out,
                      "# HELP tradestore_db_up Whether the last scrape could query the "
                      "database.\n# TYPE tradestore_db_up gauge\ntradestore_db_up %d\n",
                      s == REPO_OK);
        if (s == REPO_OK)
                render_gauges(&g, &out);
        strbuf_printf(&out,
                      "# HELP tradestore_build_info The running build.\n"
                      "# TYPE tradestore_build_info gauge\n"
                      "tradestore_build_info{version=\"%s\"} 1\n",
                      TRADESTORE_VERSION);
        metrics_render_process(&out);
        if (out.failed) {
                free(out.s);
                reply_problem(r, 503, "out of memory rendering metrics", NULL);
                return;
        }
        reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", out.s, out.len);
}
