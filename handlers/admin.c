/* The /admin endpoints (API.md, Operations): database statistics, on-demand
 * maintenance (retention cleanup, ANALYZE, VACUUM, checkpoint) and online
 * backups. The SQL and the steps live in repo/admin.c.
 *
 * These are rare operator actions that may take seconds or minutes (a
 * VACUUM of a big file, a backup, counting every table), so each runs as a
 * job on the database's admin thread (req_admin): the request is suspended
 * meanwhile and the HTTP thread goes on serving its other connections. */
#include "handlers/admin.h"

#include "common/jsonw.h"
#include "common/log.h"
#include "handlers/parse.h"
#include "repo/admin.h"
#include "server/config.h"
#include "server/http.h"

#include <stdio.h>
#include <string.h>

/* A job the admin queue refused (DB_OVERLOADED) or could not run. */
static bool
reply_not_run(struct req *r, int result)
{
        if (result == DB_OVERLOADED) {
                reply_problem(r, 503,
                              "busy: other admin operations are already queued; retry once they"
                              " are done",
                              NULL);
                return true;
        }
        if (result < 0) {
                reply_unavailable(r);
                return true;
        }
        return false;
}

/* ---- GET /admin/stats ---- */

static void
respond_stats(struct req *r, int result)
{
        const struct admin_stats *s = &((struct admin_stats_job *)req_write_arg(r))->stats;
        struct jw w;

        if (reply_not_run(r, result))
                return;
        if (result != REPO_OK) {
                reply_unavailable(r);
                return;
        }
        jw_init(&w);
        jw_obj(&w);
        if (!s->postgres) { /* PostgreSQL has no pages or WAL file to report */
                jw_kint(&w, "page_count", s->page_count);
                jw_kint(&w, "page_size", s->page_size);
                jw_kint(&w, "freelist_count", s->freelist_count);
        }
        jw_kint(&w, "size_bytes", s->size_bytes);
        if (!s->postgres)
                jw_kint(&w, "wal_bytes", s->wal_bytes);
        jw_key(&w, "tables");
        jw_obj(&w);
        jw_kint(&w, "quotes", s->quotes);
        jw_kint(&w, "orders", s->orders);
        jw_kint(&w, "fills", s->fills);
        jw_kint(&w, "positions", s->positions);
        jw_kint(&w, "account_balances", s->account_balances);
        jw_kint(&w, "outbox", s->outbox);
        jw_end(&w);
        jw_end(&w);
        reply_jw(r, 200, &w);
}

void
handle_admin_stats(struct req *r)
{
        struct admin_stats_job *j = req_alloc(r, sizeof(*j));

        if (j == NULL) {
                reply_problem(r, 503, "out of memory, retry", NULL);
                return;
        }
        *j = (struct admin_stats_job){ .d = req_app(r)->db };
        req_admin(r, repo_admin_stats_job, j, respond_stats);
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

/* Every step is reported: false for one not asked for, so an empty request
 * answers that it did nothing. */
static void
write_maintenance(struct jw *w, const struct admin_maintenance *m)
{
        jw_obj(w);
        jw_kbool(w, "analyze", m->analyze);
        jw_kbool(w, "vacuum", m->vacuum);
        jw_key(w, "checkpoint");
        if (!m->checkpoint) {
                jw_bool(w, false);
        } else { /* unknown counts (another checkpoint was running) are null */
                jw_obj(w);
                jw_key(w, "wal_frames");
                m->ck.counted ? jw_int(w, m->ck.wal_frames) : jw_null(w);
                jw_key(w, "checkpointed_frames");
                m->ck.counted ? jw_int(w, m->ck.checkpointed_frames) : jw_null(w);
                jw_kbool(w, "truncated", m->ck.truncated);
                jw_end(w);
        }
        jw_key(w, "cleanup");
        if (!m->cleanup) {
                jw_bool(w, false);
        } else {
                jw_obj(w);
                jw_kint(w, "quotes", m->deleted.quotes);
                jw_kint(w, "fills", m->deleted.fills);
                jw_kint(w, "outbox", m->deleted.outbox);
                jw_end(w);
        }
        jw_kint(w, "duration_ms", m->duration_ms);
        jw_end(w);
}

static void
respond_maintenance(struct req *r, int result)
{
        const struct admin_maintenance *m = req_write_arg(r);
        struct jw w;

        if (reply_not_run(r, result))
                return;
        if (result != REPO_OK) {
                reply_problem(r, 503, m->why, NULL);
                return;
        }
        jw_init(&w);
        write_maintenance(&w, m);
        reply_jw(r, 200, &w);
}

void
handle_admin_maintenance(struct req *r)
{
        const struct config *cfg = req_app(r)->cfg;
        struct maintenance_req in = { 0 };
        json_t *errors = NULL;
        struct admin_maintenance *m;

        if (!parse_object(r, req_body(r), maintenance_fields, NFIELDS(maintenance_fields), &in, "",
                          &errors)) {
                reply_invalid(r, errors);
                return;
        }
        if (repo_admin_on_postgres() && (in.vacuum.v || in.checkpoint.v)) {
                problem_add(&errors, in.vacuum.v ? "vacuum" : "checkpoint",
                            "on PostgreSQL, autovacuum and the server's checkpointer do this;"
                            " ask for analyze and cleanup only");
                reply_invalid(r, errors);
                return;
        }
        m = req_alloc(r, sizeof(*m));
        if (m == NULL) {
                reply_problem(r, 503, "out of memory, retry", NULL);
                return;
        }
        *m = (struct admin_maintenance){
                .d = req_app(r)->db,
                .retention = { .quote_days = cfg->database.quote_retention_days,
                               .fill_days = cfg->database.fill_retention_days,
                               .outbox_days = cfg->database.outbox_retention_days },
                .cleanup = in.cleanup.v,
                .analyze = in.analyze.v,
                .vacuum = in.vacuum.v,
                .checkpoint = in.checkpoint.v,
                .incremental = strcmp(cfg->database.auto_vacuum, "incremental") == 0,
        };
        req_admin(r, repo_admin_maintenance_job, m, respond_maintenance);
}

/* ---- POST /admin/backup ---- */

static void
respond_backup(struct req *r, int result)
{
        const struct admin_backup_job *j = req_write_arg(r);
        struct jw w;

        if (reply_not_run(r, result))
                return;
        if (result != REPO_OK) {
                reply_problem(r, 503, j->err, NULL);
                return;
        }
        log_msg(LOG_INFO, "admin_backup", "backup %s (%lld bytes)", j->path, (long long)j->size);
        jw_init(&w);
        jw_obj(&w);
        jw_kstr(&w, "file", j->path);
        jw_kint(&w, "size_bytes", j->size);
        jw_end(&w);
        reply_jw(r, 201, &w);
}

void
handle_admin_backup(struct req *r)
{
        json_t *errors = NULL;
        struct admin_backup_job *j;

        /* No field is accepted: the server names the file, never the client. */
        if (!parse_object(r, req_body(r), NULL, 0, NULL, "", &errors)) {
                reply_invalid(r, errors);
                return;
        }
        if (repo_admin_on_postgres()) {
                reply_problem(r, 501,
                              "the database is PostgreSQL: back it up with its own tools,"
                              " pg_dump (a logical copy) or pg_basebackup (the cluster)",
                              NULL);
                return;
        }
        j = req_alloc(r, sizeof(*j));
        if (j == NULL) {
                reply_problem(r, 503, "out of memory, retry", NULL);
                return;
        }
        *j = (struct admin_backup_job){ .dir = req_app(r)->cfg->database.backup_dir };
        req_admin(r, repo_admin_backup_job, j, respond_backup);
}
