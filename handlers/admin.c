/* The /admin endpoints (API.md, Operations): database statistics, on-demand
 * maintenance (retention cleanup, ANALYZE, VACUUM, checkpoint) and online
 * backups. The SQL lives in repo/admin.c.
 *
 * These are rare operator actions that may take seconds (a VACUUM of a big
 * file, a backup), so unlike the resource handlers they run on the HTTP
 * thread and wait there: cleanup and ANALYZE as writer jobs through
 * db_write (in bounded batches, so other requests' writes interleave),
 * VACUUM, checkpoints and backups on a dedicated connection of their own. */
#include "handlers/admin.h"

#include "common/log.h"
#include "common/ts.h"
#include "handlers/parse.h"
#include "repo/admin.h"
#include "server/config.h"
#include "server/http.h"
#include "server/service.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* A dedicated connection with the service's options. Caller owns: free with
 * db_conn_close. NULL after logging. */
static struct db_conn *
open_dedicated(const struct app *app, bool read_only)
{
        struct db_options opt;

        service_db_options(app->cfg, &opt);
        return db_conn_open(&opt, read_only);
}

static int64_t
monotonic_ms(void)
{
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- GET /admin/stats ---- */

static json_t *
stats_to_json(const struct admin_stats *s)
{
        return json_pack("{s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I}}",
                         "page_count", (json_int_t)s->page_count, "page_size",
                         (json_int_t)s->page_size, "freelist_count", (json_int_t)s->freelist_count,
                         "size_bytes", (json_int_t)s->size_bytes, "wal_bytes",
                         (json_int_t)s->wal_bytes, "tables", "quotes", (json_int_t)s->quotes,
                         "orders", (json_int_t)s->orders, "fills", (json_int_t)s->fills,
                         "positions", (json_int_t)s->positions, "account_balances",
                         (json_int_t)s->account_balances, "outbox", (json_int_t)s->outbox);
}

void
handle_admin_stats(struct req *r)
{
        struct db *d = req_app(r)->db;
        struct admin_stats st;
        struct db_conn *c;
        enum repo_status s;

        c = db_reader_acquire(d);
        s = repo_admin_stats(c, db_path(d), &st);
        db_reader_release(d, c);
        if (s != REPO_OK) {
                reply_problem(r, 503, "database unavailable, retry", NULL);
                return;
        }
        reply_json(r, 200, stats_to_json(&st));
}

/* ---- POST /admin/maintenance ---- */

struct maintenance_req {
        struct opt_bool analyze;
        struct opt_bool vacuum;
        struct opt_bool checkpoint;
        struct opt_bool cleanup;
};

static const struct field maintenance_fields[] = {
        { .name = "analyze", .type = F_BOOL, .offset = offsetof(struct maintenance_req, analyze) },
        { .name = "vacuum", .type = F_BOOL, .offset = offsetof(struct maintenance_req, vacuum) },
        { .name = "checkpoint",
          .type = F_BOOL,
          .offset = offsetof(struct maintenance_req, checkpoint) },
        { .name = "cleanup", .type = F_BOOL, .offset = offsetof(struct maintenance_req, cleanup) },
};

/* Each step adds its result to out and returns NULL, or returns why it
 * failed (a static string for the client). */

static const char *
step_cleanup(const struct app *app, json_t *out)
{
        const struct admin_retention ret = {
                .quote_days = app->cfg->database.quote_retention_days,
                .fill_days = app->cfg->database.fill_retention_days,
                .outbox_days = app->cfg->database.outbox_retention_days,
        };
        struct admin_cleanup n;

        if (repo_admin_cleanup_writer(app->db, &ret, ts_now_us(), ADMIN_CLEANUP_BATCH, NULL, NULL,
                                      &n) != REPO_OK)
                return "cleanup failed: database unavailable (batches before the failure"
                       " stay deleted)";
        json_object_set_new(out, "cleanup",
                            json_pack("{s:I, s:I, s:I}", "quotes", (json_int_t)n.quotes, "fills",
                                      (json_int_t)n.fills, "outbox", (json_int_t)n.outbox));
        return NULL;
}

static const char *
step_analyze(const struct app *app, json_t *out)
{
        if (db_write(app->db, repo_admin_analyze_job, NULL) != REPO_OK)
                return "analyze failed: database unavailable";
        json_object_set_new(out, "analyze", json_true());
        return NULL;
}

/* Incremental vacuum when the file is in that mode and meant to stay so;
 * else a full VACUUM on a connection of its own (it cannot run inside the
 * writer's transaction). VACUUM takes the write lock: it waits up to the
 * busy timeout for the writer, and writes wait for it while it runs. */
static const char *
step_vacuum(const struct app *app, json_t *out)
{
        bool incremental = false;
        struct db_conn *c;
        enum repo_status s = REPO_OK;

        if (strcmp(app->cfg->database.auto_vacuum, "incremental") == 0) {
                c = db_reader_acquire(app->db);
                s = repo_admin_is_incremental(c, &incremental);
                db_reader_release(app->db, c);
        }
        if (s == REPO_OK && incremental) {
                s = repo_admin_incremental_vacuum_writer(app->db);
        } else if (s == REPO_OK) {
                c = open_dedicated(app, false);
                s = c != NULL ? repo_admin_vacuum(c) : REPO_ERROR;
                db_conn_close(c);
        }
        if (s == REPO_BUSY)
                return "vacuum failed: the database stayed locked by other writes for"
                       " longer than the busy timeout; retry";
        if (s != REPO_OK)
                return "vacuum failed: database unavailable";
        json_object_set_new(out, "vacuum", json_true());
        return NULL;
}

static const char *
step_checkpoint(const struct app *app, json_t *out)
{
        struct db_conn *c = open_dedicated(app, false);
        struct admin_checkpoint ck;
        enum repo_status s = c != NULL ? repo_admin_checkpoint(c, &ck) : REPO_ERROR;

        db_conn_close(c);
        if (s != REPO_OK)
                return "checkpoint failed: database unavailable";
        /* Unknown counts (another checkpoint was running) are null. */
        json_object_set_new(
                out, "checkpoint",
                json_pack("{s:o, s:o, s:b}", "wal_frames",
                          ck.counted ? json_integer(ck.wal_frames) : json_null(),
                          "checkpointed_frames",
                          ck.counted ? json_integer(ck.checkpointed_frames) : json_null(),
                          "truncated", ck.truncated));
        return NULL;
}

/* Runs the requested steps in the order that makes each most useful:
 * delete, then gather statistics on what is left, then give the freed
 * pages back, then fold the WAL that all of it wrote into the file. */
static const char *
run_steps(const struct app *app, const struct maintenance_req *in, json_t *out)
{
        const char *why = NULL;

        if (in->cleanup.v && why == NULL)
                why = step_cleanup(app, out);
        if (in->analyze.v && why == NULL)
                why = step_analyze(app, out);
        if (in->vacuum.v && why == NULL)
                why = step_vacuum(app, out);
        if (in->checkpoint.v && why == NULL)
                why = step_checkpoint(app, out);
        return why;
}

void
handle_admin_maintenance(struct req *r)
{
        const struct app *app = req_app(r);
        struct maintenance_req in = { 0 };
        json_t *errors = NULL;
        json_t *out;
        const char *why;
        int64_t t0 = monotonic_ms();

        if (!parse_object(r, req_body(r), maintenance_fields, NFIELDS(maintenance_fields), &in, "",
                          &errors)) {
                reply_invalid(r, errors);
                return;
        }
        /* Every step is reported: false for one not asked for, so an empty
         * request answers that it did nothing. */
        out = json_pack("{s:b, s:b, s:b, s:b}", "analyze", 0, "vacuum", 0, "checkpoint", 0,
                        "cleanup", 0);
        why = run_steps(app, &in, out);
        if (why != NULL) {
                json_decref(out);
                reply_problem(r, 503, why, NULL);
                return;
        }
        json_object_set_new(out, "duration_ms", json_integer(monotonic_ms() - t0));
        log_msg(LOG_INFO, "admin_maintenance",
                "maintenance: analyze=%d vacuum=%d checkpoint=%d cleanup=%d in %lld ms",
                in.analyze.v, in.vacuum.v, in.checkpoint.v, in.cleanup.v,
                (long long)(monotonic_ms() - t0));
        reply_json(r, 200, out);
}

/* ---- POST /admin/backup ---- */

void
handle_admin_backup(struct req *r)
{
        const struct app *app = req_app(r);
        json_t *errors = NULL;
        struct db_conn *c;
        char path[4096], err[512] = "";
        int64_t size = 0;
        enum repo_status s;

        /* No field is accepted: the server names the file, never the client. */
        if (!parse_object(r, req_body(r), NULL, 0, NULL, "", &errors)) {
                reply_invalid(r, errors);
                return;
        }
        /* A read-only connection of its own: VACUUM INTO reads one snapshot
         * for as long as the copy takes without holding a pool reader. */
        c = open_dedicated(app, true);
        if (c == NULL) {
                reply_problem(r, 503, "database unavailable, retry", NULL);
                return;
        }
        s = repo_admin_backup(c, app->cfg->database.backup_dir, path, sizeof(path), &size, err,
                              sizeof(err));
        db_conn_close(c);
        if (s != REPO_OK) {
                reply_problem(r, 503, err, NULL);
                return;
        }
        log_msg(LOG_INFO, "admin_backup", "backup %s (%lld bytes)", path, (long long)size);
        reply_json(r, 201, json_pack("{s:s, s:I}", "file", path, "size_bytes", (json_int_t)size));
}
