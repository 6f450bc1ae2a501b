/* The PostgreSQL backend (see postgres.h).
 *
 * One statement text serves both backends. Two rewrites make SQLite's SQL
 * mean the same on PostgreSQL, both at prepare time:
 *   - ?N placeholders become $N;
 *   - an INSERT without its own ON CONFLICT clause gets ON CONFLICT DO
 *     NOTHING, and inserting no row is reported as DB_E_UNIQUE. On SQLite a
 *     failed INSERT leaves the transaction usable (repo/ then reads the row
 *     that is there, for idempotent creates); on PostgreSQL any error aborts
 *     the transaction, so a unique violation must not be an error there.
 * Values travel as text (int64 in decimal), so no conversion can round. */
#include "db/postgres.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/ts.h"
#include "db/jobq.h"
#include "db/slot.h"

#define MAX_PARAMS 32
#define INT64_TEXT 24
#define STMT_NAME 16

struct pg_stmt {
        struct pg_conn *c;
        const char *sql; /* key: the address of a static SQL string */
        char name[STMT_NAME];
        bool insert; /* rewritten with ON CONFLICT DO NOTHING */
        int nparams;
        Oid types[MAX_PARAMS];
        const char *vals[MAX_PARAMS];
        char ints[MAX_PARAMS][INT64_TEXT];
        PGresult *res;
        int row;
        int nrows;
        bool strict_ready; /* strict_name is prepared (see pg_step_deferred) */
        char strict_name[STMT_NAME];
};

struct pg_conn {
        PGconn *pg;
        struct pg_stmt **slots; /* open addressing, power-of-two size */
        size_t nslots;
        size_t nused;
        unsigned next_name;
        int64_t changes;
        bool in_tx;
        bool queried;    /* a statement ran in this transaction */
        bool must_retry; /* a statement met 40001/40P01 in this transaction */
        /* A write job's BEGIN waits to go with its first statement, in one
         * round trip (begin_sql: the isolation level it asks for). */
        bool begin_pending;
        const char *begin_sql;
        bool in_job;          /* running a write job (run_once) */
        bool broken;          /* libpq could not send or read: the server is gone */
        int deferred;         /* queries sent in pipeline mode, results unread */
        bool deferred_failed; /* one of them failed: the job reruns waiting */
        bool no_defer;        /* this run waits for every statement */
        struct pg_conn *next_free;
};

struct pg_db {
        struct pg_options opt;
        char *url;
        struct pg_conn **conns;
        int nconns;

        pthread_mutex_t pool_mu;
        pthread_cond_t pool_cv;
        struct pg_conn *free_conns;
        int busy;

        struct jobq q; /* submitted jobs, for the workers */
        pthread_t *workers;
        int nworkers;

        atomic_ulong jobs_committed;
        atomic_ulong jobs_rolled_back;
        atomic_ulong jobs_failed;
        atomic_ulong retries;
        atomic_ulong refused;
};

/* ---- text ---- */

void
pg_translate(const char *sql, char *out)
{
        char quote = 0;

        for (const char *p = sql; *p != '\0'; p++) {
                char ch = *p;

                if (quote != 0) {
                        if (ch == quote)
                                quote = 0;
                } else if (ch == '\'' || ch == '"') {
                        quote = ch;
                } else if (ch == '?' && p[1] >= '0' && p[1] <= '9') {
                        ch = '$';
                }
                *out++ = ch;
        }
        *out = '\0';
}

void
pg_mask_url(const char *url, char *out, size_t cap)
{
        const char *scheme = strstr(url, "://");
        const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
        const char *colon = NULL;
        const char *kw;

        if (at != NULL)
                colon = memchr(scheme + 3, ':', (size_t)(at - (scheme + 3)));
        if (colon != NULL)
                snprintf(out, cap, "%.*s:****%s", (int)(colon - url), url, at);
        else
                snprintf(out, cap, "%s", url);
        /* password=... as a keyword or a query parameter */
        kw = strstr(out, "password=");
        if (kw != NULL) {
                size_t head = (size_t)(kw - out) + strlen("password=");
                const char *end = kw + strlen("password=");

                end += strcspn(end, " &");
                if (head + 4 < cap) {
                        memmove(out + head + 4, end, strlen(end) + 1);
                        memcpy(out + head, "****", 4);
                }
        }
}

int
pg_url_check(const char *url, char *err, size_t errlen)
{
        char *msg = NULL;
        PQconninfoOption *opts = PQconninfoParse(url, &msg);
        char reason[256];
        char masked[512];

        if (opts != NULL) {
                PQconninfoFree(opts);
                return 0;
        }
        /* libpq quotes the piece it could not read, which may be the
         * password: say where, not what. */
        snprintf(reason, sizeof(reason), "%s", msg != NULL ? msg : "out of memory");
        reason[strcspn(reason, "\n")] = '\0';
        reason[strcspn(reason, "\"")] = '\0';
        for (size_t n = strlen(reason); n > 0 && strchr(": ", reason[n - 1]) != NULL; n--)
                reason[n - 1] = '\0';
        PQfreemem(msg);
        pg_mask_url(url, masked, sizeof(masked));
        snprintf(err, errlen,
                 "not a libpq connection URI (%s) in %s; write"
                 " postgresql://user@host:5432/dbname?sslmode=require",
                 reason, masked);
        return -1;
}

/* The first line of libpq's message (they end in "\n"), for one log line. */
static void
first_line(const char *msg, char *err, size_t errlen)
{
        size_t n = strcspn(msg != NULL ? msg : "", "\n");

        if (errlen > 0)
                snprintf(err, errlen, "%.*s", (int)n, msg != NULL ? msg : "");
}

/* ---- connections ---- */

/* The server's notices and warnings go to the log (at debug: the ones our
 * statements cause are expected), not to stderr. */
static void
on_notice(void *arg, const char *message)
{
        (void)arg;
        log_msg(LOG_DEBUG, "db_notice", "postgres: %.*s", (int)strcspn(message, "\n"), message);
}

struct pg_conn *
pg_conn_open(const char *url, int connect_timeout_s, char *err, size_t errlen)
{
        int64_t deadline = ts_monotonic_ms() + (int64_t)connect_timeout_s * 1000;
        int backoff = 100;
        struct pg_conn *c = calloc(1, sizeof(*c));

        if (c == NULL) {
                first_line("out of memory", err, errlen);
                return NULL;
        }
        for (;;) {
                c->pg = PQconnectdb(url);
                if (PQstatus(c->pg) == CONNECTION_OK)
                        break;
                first_line(PQerrorMessage(c->pg), err, errlen);
                PQfinish(c->pg);
                c->pg = NULL;
                if (ts_monotonic_ms() + backoff > deadline) {
                        free(c);
                        return NULL;
                }
                ts_sleep_ms(backoff);
                backoff = backoff >= 1000 ? 2000 : backoff * 2;
        }
        PQsetNoticeProcessor(c->pg, on_notice, NULL);
        /* Our own statements' notices ("relation exists, skipping") are noise. */
        if (pg_exec(c, "SET client_min_messages = warning", err, errlen) != 0) {
                pg_conn_close(c);
                return NULL;
        }
        return c;
}

static void
stmt_free(struct pg_stmt *st)
{
        if (st == NULL)
                return;
        PQclear(st->res);
        free(st);
}

void
pg_conn_close(struct pg_conn *c)
{
        if (c == NULL)
                return;
        for (size_t i = 0; i < c->nslots; i++)
                stmt_free(c->slots[i]);
        free(c->slots);
        PQfinish(c->pg);
        free(c);
}

int
pg_exec(struct pg_conn *c, const char *sql, char *err, size_t errlen)
{
        PGresult *res = PQexec(c->pg, sql);
        ExecStatusType s = PQresultStatus(res);
        int rc = 0;

        if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
                first_line(PQresultErrorMessage(res), err, errlen);
                rc = -1;
        }
        PQclear(res);
        return rc;
}

/* Runs a statement whose failure leaves nothing to do but log (BEGIN,
 * COMMIT, ROLLBACK). Returns the SQLSTATE class outcome: 0, or a
 * db_step_error. */
static int step_error(struct pg_conn *c, const PGresult *res);

static int
exec_simple(struct pg_conn *c, const char *sql)
{
        PGresult *res = PQexec(c->pg, sql);
        int rc = 0;

        if (PQresultStatus(res) != PGRES_COMMAND_OK)
                rc = step_error(c, res);
        PQclear(res);
        return rc;
}

/* ---- statements ---- */

static int
cache_grow(struct pg_conn *c)
{
        size_t n = c->nslots ? c->nslots * 2 : 64;
        struct pg_stmt **slots = calloc(n, sizeof(*slots));

        if (slots == NULL)
                return -1;
        for (size_t i = 0; i < c->nslots; i++) {
                struct pg_stmt *st = c->slots[i];
                size_t j;

                if (st == NULL)
                        continue;
                for (j = db_slot_index(st->sql, n); slots[j] != NULL; j = (j + 1) & (n - 1))
                        ;
                slots[j] = st;
        }
        free(c->slots);
        c->slots = slots;
        c->nslots = n;
        return 0;
}

/* The highest ?N of sql (its parameter count); used[i] says whether ?i+1
 * appears. */
static int
count_params(const char *sql, bool used[MAX_PARAMS])
{
        int n = 0;

        memset(used, 0, MAX_PARAMS * sizeof(used[0]));
        for (const char *p = sql; (p = strchr(p, '?')) != NULL; p++) {
                int v = atoi(p + 1);

                if (v > n)
                        n = v;
                if (v >= 1 && v <= MAX_PARAMS)
                        used[v - 1] = true;
        }
        return n;
}

static int pipe_sync(struct pg_conn *c, PGresult **ret_last);

/* PostgreSQL infers each parameter's type from its use; one a statement
 * never uses (SQLite allows gaps: repo/ binds by number) gets text. */
#define TEXTOID 25

/* sql translated, with ON CONFLICT DO NOTHING for a plain INSERT (before
 * its RETURNING, if any). Caller frees. */
static char *
rewrite(const char *sql, bool *ret_insert)
{
        static const char clause[] = " ON CONFLICT DO NOTHING";
        size_t len = strlen(sql);
        char *out = malloc(len + sizeof(clause) + 1);
        char *ret;

        *ret_insert = strncmp(sql, "INSERT INTO", 11) == 0 && strstr(sql, "ON CONFLICT") == NULL;
        if (out == NULL)
                return NULL;
        pg_translate(sql, out);
        if (!*ret_insert)
                return out;
        ret = strstr(out, " RETURNING ");
        if (ret == NULL) {
                strcat(out, clause);
        } else {
                memmove(ret + strlen(clause), ret, strlen(ret) + 1);
                memcpy(ret, clause, strlen(clause));
        }
        return out;
}

static struct pg_stmt *
prepare(struct pg_conn *c, const char *sql)
{
        struct pg_stmt *st;
        bool used[MAX_PARAMS];
        char *text;
        PGresult *res;

        /* Deferred writes first. When one failed, the transaction is aborted
         * and would refuse the Parse too: no statement, quietly, since the
         * job runs again (run_job) and prepares it then. */
        if (PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF)
                pipe_sync(c, NULL);
        if (c->in_job && (c->deferred_failed || c->broken))
                return NULL;
        st = calloc(1, sizeof(*st));
        if (st == NULL)
                return NULL;
        st->c = c;
        st->sql = sql;
        st->nparams = count_params(sql, used);
        snprintf(st->name, sizeof(st->name), "s%u", c->next_name++);
        text = rewrite(sql, &st->insert);
        if (text == NULL || st->nparams > MAX_PARAMS) {
                log_msg(LOG_ERROR, "db_prepare",
                        "postgres: cannot prepare a statement of %d parameters", st->nparams);
                free(text);
                free(st);
                return NULL;
        }
        for (int i = 0; i < st->nparams; i++)
                st->types[i] = used[i] ? 0 : TEXTOID;
        res = PQprepare(c->pg, st->name, text, st->nparams, st->types);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                char msg[256];

                first_line(PQresultErrorMessage(res), msg, sizeof(msg));
                log_msg(LOG_ERROR, "db_prepare", "postgres: prepare failed: %s (%.120s)", msg,
                        text);
                PQclear(res);
                free(text);
                free(st);
                return NULL;
        }
        PQclear(res);
        free(text);
        return st;
}

struct pg_stmt *
pg_stmt(struct pg_conn *c, const char *sql)
{
        size_t i;

        if ((c->nused + 1) * 2 > c->nslots && cache_grow(c) != 0)
                return NULL;
        for (i = db_slot_index(sql, c->nslots); c->slots[i] != NULL; i = (i + 1) & (c->nslots - 1))
                if (c->slots[i]->sql == sql)
                        return c->slots[i];
        c->slots[i] = prepare(c, sql);
        if (c->slots[i] != NULL)
                c->nused++;
        return c->slots[i];
}

void
pg_stmt_done(struct pg_stmt *st)
{
        if (st == NULL)
                return;
        PQclear(st->res);
        st->res = NULL;
        memset(st->vals, 0, sizeof(st->vals));
}

void
pg_bind_int64(struct pg_stmt *st, int i, int64_t v)
{
        if (i < 1 || i > st->nparams)
                return;
        snprintf(st->ints[i - 1], INT64_TEXT, "%" PRId64, v);
        st->vals[i - 1] = st->ints[i - 1];
}

void
pg_bind_text(struct pg_stmt *st, int i, const char *v)
{
        if (i >= 1 && i <= st->nparams)
                st->vals[i - 1] = v;
}

void
pg_bind_null(struct pg_stmt *st, int i)
{
        if (i >= 1 && i <= st->nparams)
                st->vals[i - 1] = NULL;
}

/* Maps a failed result's SQLSTATE to a db_step_error (and logs it unless it
 * is an expected constraint outcome). */
static int
step_error(struct pg_conn *c, const PGresult *res)
{
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        char msg[256];

        if (state == NULL)
                state = "";
        if (strcmp(state, "23505") == 0)
                return DB_E_UNIQUE;
        if (strcmp(state, "23514") == 0)
                return DB_E_CHECK;
        if (strcmp(state, "23503") == 0)
                return DB_E_FOREIGN_KEY;
        if (strcmp(state, "23502") == 0)
                return DB_E_NOT_NULL;
        if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
                c->must_retry = true;
                return DB_E_BUSY;
        }
        if (strcmp(state, "55P03") == 0)
                return DB_E_BUSY;
        first_line(PQresultErrorMessage(res), msg, sizeof(msg));
        log_msg(LOG_ERROR, "db_error", "postgres: %s (SQLSTATE %s)", msg, state);
        if (strcmp(state, "53100") == 0)
                return DB_E_FULL;
        return DB_E_ERROR;
}

/* ---- pipeline mode ----
 *
 * A write job waits for no answer it does not need: its BEGIN goes with its
 * first statement, and a write sent with pg_step_deferred goes with the
 * next statement that needs an answer, or with the COMMIT (libpq's
 * pipeline mode: the queries, one Sync, then their results in order). A
 * fill is then two round trips instead of nine (repo/fills.c reads the
 * order and the position in one statement). A deferred write that
 * failed aborts the transaction, so nothing of the job commits; run_job
 * then runs the job again waiting for every statement, and repo/ sees the
 * failure where it looks for it (a unique violation, say). */

/* One query's result: its first PGresult (the rest, up to the NULL that ends
 * it, dropped), or the Sync's PGRES_PIPELINE_SYNC. NULL when nothing came
 * (the connection failed). Caller owns it: PQclear. */
static PGresult *
query_result(struct pg_conn *c)
{
        PGresult *res = PQgetResult(c->pg);
        PGresult *extra;

        if (res == NULL || PQresultStatus(res) == PGRES_PIPELINE_SYNC)
                return res;
        while ((extra = PQgetResult(c->pg)) != NULL)
                PQclear(extra);
        return res;
}

static bool
result_ok(const PGresult *res)
{
        ExecStatusType s = PQresultStatus(res);

        return res != NULL && (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK);
}

/* libpq refused to send or read: the connection is lost (pg_release
 * resets it). Returns -1. */
static int
pipe_broken(struct pg_conn *c, const char *what)
{
        char msg[256];

        first_line(PQerrorMessage(c->pg), msg, sizeof(msg));
        log_msg(LOG_ERROR, "db_error", "postgres: %s: %s", what, msg);
        c->broken = true;
        c->deferred = 0;
        return -1;
}

/* Reads the deferred queries' results, in the order they were sent; a
 * failure is noted in deferred_failed (and step_error notes 40001/40P01
 * and logs what is not an expected constraint outcome). */
static void
read_deferred(struct pg_conn *c)
{
        for (; c->deferred > 0; c->deferred--) {
                PGresult *res = query_result(c);

                if (!result_ok(res)) {
                        if (res == NULL)
                                c->broken = true;
                        else if (PQresultStatus(res) != PGRES_PIPELINE_ABORTED)
                                step_error(c, res);
                        c->deferred_failed = true;
                }
                PQclear(res);
        }
}

/* Pipeline mode on c, with the job's BEGIN first if it is still to be sent.
 * 0, or -1 (broken). */
static int
pipe_open(struct pg_conn *c)
{
        if (PQpipelineStatus(c->pg) == PQ_PIPELINE_OFF && PQenterPipelineMode(c->pg) != 1)
                return pipe_broken(c, "entering pipeline mode");
        if (c->begin_pending) {
                c->begin_pending = false;
                if (PQsendQueryParams(c->pg, c->begin_sql, 0, NULL, NULL, NULL, NULL, 0) != 1)
                        return pipe_broken(c, "sending BEGIN");
                c->deferred++;
        }
        return 0;
}

/* Ends the exchange: the Sync, the deferred results, then (ret_last not
 * NULL) the result of the query sent last, which the caller owns, then the
 * Sync's; leaves pipeline mode. 0, or -1 (broken). */
static int
pipe_sync(struct pg_conn *c, PGresult **ret_last)
{
        PGresult *res;
        bool synced;

        if (PQpipelineSync(c->pg) != 1)
                return pipe_broken(c, "sending a pipeline");
        read_deferred(c);
        if (ret_last != NULL)
                *ret_last = query_result(c);
        res = query_result(c);
        synced = res != NULL && PQresultStatus(res) == PGRES_PIPELINE_SYNC;
        PQclear(res);
        if (!synced || PQexitPipelineMode(c->pg) != 1)
                return pipe_broken(c, "reading a pipeline's results");
        return 0;
}

/* Runs st's prepared statement named name: at once, or (a BEGIN or
 * deferred writes waiting) after them in one exchange. st->res is set. */
static void
exec_prepared(struct pg_stmt *st, const char *name)
{
        struct pg_conn *c = st->c;

        if (!c->begin_pending && c->deferred == 0) {
                st->res = PQexecPrepared(c->pg, name, st->nparams, st->vals, NULL, NULL, 0);
                return;
        }
        if (pipe_open(c) != 0)
                return;
        if (PQsendQueryPrepared(c->pg, name, st->nparams, st->vals, NULL, NULL, 0) != 1) {
                pipe_broken(c, "sending a statement");
                return;
        }
        pipe_sync(c, &st->res);
}

/* Prepares st's text without the ON CONFLICT DO NOTHING that rewrite adds
 * to an INSERT, for pg_step_deferred: deferred, a unique violation must
 * abort the transaction (and so rerun the job waiting), not insert nothing
 * unseen. 0 or -1 (logged). */
static int
prepare_strict(struct pg_stmt *st)
{
        struct pg_conn *c = st->c;
        char *text = malloc(strlen(st->sql) + 1);
        PGresult *res;
        int rc = -1;

        if (text == NULL)
                return -1;
        if (PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF && pipe_sync(c, NULL) != 0) {
                free(text);
                return -1;
        }
        pg_translate(st->sql, text);
        snprintf(st->strict_name, sizeof(st->strict_name), "x%.14s", st->name);
        res = PQprepare(c->pg, st->strict_name, text, st->nparams, st->types);
        if (PQresultStatus(res) == PGRES_COMMAND_OK) {
                st->strict_ready = true;
                rc = 0;
        } else {
                step_error(c, res);
        }
        PQclear(res);
        free(text);
        return rc;
}

/* Whether the job running on c met a failed deferred write or a lost
 * connection (its statements then fail at once: it runs again, or fails). */
static bool
job_failed(const struct pg_conn *c)
{
        return c->in_job && (c->deferred_failed || c->broken);
}

int
pg_step_deferred(struct pg_stmt *st)
{
        struct pg_conn *c = st->c;

        if (!c->in_job || c->no_defer)
                return pg_step(st);
        if (c->deferred_failed || c->broken)
                return DB_E_ERROR; /* the job runs again */
        if (st->insert && !st->strict_ready && prepare_strict(st) != 0)
                return pg_step(st);
        c->queried = true;
        if (pipe_open(c) != 0)
                return DB_E_ERROR;
        if (PQsendQueryPrepared(c->pg, st->insert ? st->strict_name : st->name, st->nparams,
                                st->vals, NULL, NULL, 0) != 1) {
                pipe_broken(c, "sending a statement");
                return DB_E_ERROR;
        }
        c->deferred++;
        return DB_DONE;
}

int
pg_step(struct pg_stmt *st)
{
        if (st->res == NULL) {
                ExecStatusType s;

                if (job_failed(st->c))
                        return DB_E_ERROR; /* the job runs again, or fails */
                st->c->queried = true;
                exec_prepared(st, st->name);
                if (job_failed(st->c))
                        return DB_E_ERROR;
                s = PQresultStatus(st->res);
                if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK)
                        return step_error(st->c, st->res);
                st->c->changes = strtoll(PQcmdTuples(st->res), NULL, 10);
                st->nrows = PQntuples(st->res);
                st->row = -1;
                if (st->insert && st->c->changes == 0)
                        return DB_E_UNIQUE;
        }
        if (st->row + 1 < st->nrows) {
                st->row++;
                return DB_ROW;
        }
        st->row = st->nrows;
        return DB_DONE;
}

int64_t
pg_column_int64(struct pg_stmt *st, int col)
{
        if (st->row < 0 || st->row >= st->nrows || PQgetisnull(st->res, st->row, col))
                return 0;
        return strtoll(PQgetvalue(st->res, st->row, col), NULL, 10);
}

bool
pg_column_null(struct pg_stmt *st, int col)
{
        return st->row < 0 || st->row >= st->nrows || PQgetisnull(st->res, st->row, col);
}

const char *
pg_column_str(struct pg_stmt *st, int col)
{
        if (pg_column_null(st, col))
                return "";
        return PQgetvalue(st->res, st->row, col);
}

void
pg_read_committed(struct pg_conn *c)
{
        /* Allowed until the transaction's first query; later it would fail
         * (and the job would still be correct, as SERIALIZABLE). */
        if (c->begin_pending)
                c->begin_sql = "BEGIN ISOLATION LEVEL READ COMMITTED";
        else if (c->in_tx && !c->queried)
                exec_simple(c, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED");
}

void
pg_retry(struct pg_conn *c)
{
        c->must_retry = true;
}

bool
pg_retrying(const struct pg_conn *c)
{
        return c->must_retry || job_failed(c);
}

int64_t
pg_changes(struct pg_conn *c)
{
        return c->changes;
}

int
pg_read_begin(struct pg_conn *c)
{
        if (exec_simple(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") != 0)
                return -1;
        c->in_tx = true;
        return 0;
}

void
pg_read_end(struct pg_conn *c)
{
        if (!c->in_tx)
                return;
        if (exec_simple(c, "COMMIT") != 0)
                exec_simple(c, "ROLLBACK");
        c->in_tx = false;
}

/* ---- the pool ---- */

struct pg_conn *
pg_acquire(struct pg_db *d)
{
        struct pg_conn *c;

        pthread_mutex_lock(&d->pool_mu);
        while (d->free_conns == NULL)
                pthread_cond_wait(&d->pool_cv, &d->pool_mu);
        c = d->free_conns;
        d->free_conns = c->next_free;
        d->busy++;
        pthread_mutex_unlock(&d->pool_mu);
        return c;
}

void
pg_release(struct pg_db *d, struct pg_conn *c)
{
        pg_read_end(c);
        /* A pipeline left open (results libpq could not hand back) would
         * refuse every later statement: start that connection afresh too. */
        if (PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF || PQstatus(c->pg) != CONNECTION_OK) {
                log_msg(LOG_WARN, "db_reconnect",
                        "postgres: a pooled connection was lost; reconnecting");
                PQreset(c->pg);
                for (size_t i = 0; i < c->nslots; i++) {
                        stmt_free(c->slots[i]); /* prepared statements died with it */
                        c->slots[i] = NULL;
                }
                c->nused = 0;
        }
        pthread_mutex_lock(&d->pool_mu);
        c->next_free = d->free_conns;
        d->free_conns = c;
        d->busy--;
        pthread_cond_signal(&d->pool_cv);
        pthread_mutex_unlock(&d->pool_mu);
}

int
pg_read(struct pg_db *d, db_job_fn fn, void *arg)
{
        struct pg_conn *c = pg_acquire(d);
        int rc = fn((struct db_conn *)c, arg);

        pg_release(d, c);
        return rc;
}

/* One run of a job, in a transaction whose BEGIN (SERIALIZABLE, or READ
 * COMMITTED after pg_read_committed) goes with its first statement. no_defer:
 * every statement waits for its answer. Returns fn's result; c's flags say
 * the rest. */
static int
run_once(struct pg_conn *c, db_job_fn fn, void *arg, bool no_defer)
{
        int rc;

        c->must_retry = false;
        c->deferred_failed = false;
        c->broken = false;
        c->no_defer = no_defer;
        c->begin_pending = true;
        c->begin_sql = "BEGIN ISOLATION LEVEL SERIALIZABLE";
        c->in_tx = true;
        c->in_job = true;
        c->queried = false;
        rc = fn((struct db_conn *)c, arg);
        c->in_tx = false;
        c->in_job = false;
        return rc;
}

/* COMMITs the job's transaction, in one exchange with its deferred writes.
 * 0, or non-zero when nothing committed. */
static int
commit(struct pg_conn *c)
{
        PGresult *res = NULL;
        int rc;

        if (c->begin_pending) { /* the job ran no statement: no transaction */
                c->begin_pending = false;
                return 0;
        }
        if (c->deferred == 0)
                return exec_simple(c, "COMMIT");
        if (PQsendQueryParams(c->pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) != 1)
                return pipe_broken(c, "sending COMMIT");
        rc = pipe_sync(c, &res);
        if (rc == 0 && !result_ok(res))
                rc = c->deferred_failed ? -1 : step_error(c, res);
        PQclear(res);
        return rc;
}

/* Ends a job's transaction that is not to commit: the deferred writes'
 * results read, then ROLLBACK if a transaction is open (not after a failed
 * COMMIT). */
static void
rollback(struct pg_conn *c)
{
        if (PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF)
                pipe_sync(c, NULL);
        if (c->begin_pending) {
                c->begin_pending = false;
                return;
        }
        if (!c->broken && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
                exec_simple(c, "ROLLBACK");
}

/* One job in its own transaction, rerun after a serialization failure or
 * deadlock, and once waiting for every statement after a deferred write
 * failed. Returns the job's result, or DB_COMMIT_FAILED / DB_UNAVAILABLE. */
static int
run_job(struct pg_db *d, struct pg_conn *c, db_job_fn fn, void *arg)
{
        bool no_defer = false;

        for (int attempt = 0;;) {
                int rc = run_once(c, fn, arg, no_defer);

                if (rc == 0 && !c->must_retry && !c->deferred_failed && commit(c) == 0) {
                        atomic_fetch_add(&d->jobs_committed, 1);
                        return 0;
                }
                rollback(c);
                if (c->broken || PQstatus(c->pg) != CONNECTION_OK) {
                        atomic_fetch_add(&d->jobs_failed, 1);
                        return DB_UNAVAILABLE;
                }
                if (c->deferred_failed && !c->must_retry && !no_defer) {
                        no_defer = true; /* not a retry: see the failure where it happens */
                        continue;
                }
                if (!c->must_retry) {
                        atomic_fetch_add(rc == 0 ? &d->jobs_failed : &d->jobs_rolled_back, 1);
                        return rc == 0 ? DB_COMMIT_FAILED : rc;
                }
                if (attempt >= d->opt.max_retries) {
                        log_msg(LOG_WARN, "db_retry",
                                "postgres: a write lost %d serialization retries", attempt + 1);
                        atomic_fetch_add(&d->jobs_failed, 1);
                        return DB_UNAVAILABLE;
                }
                atomic_fetch_add(&d->retries, 1);
                ts_sleep_ms(attempt); /* 0, 1, 2 ... ms: let the winner finish */
                attempt++;
        }
}

int
pg_write(struct pg_db *d, db_job_fn fn, void *arg)
{
        struct pg_conn *c = pg_acquire(d);
        int rc = run_job(d, c, fn, arg);

        pg_release(d, c);
        return rc;
}

void
pg_submit(struct pg_db *d, struct db_job *job)
{
        int refused = jobq_push(&d->q, job);

        if (refused == DB_OVERLOADED)
                atomic_fetch_add(&d->refused, 1);
        if (refused != 0)
                job->done(job, refused);
}

static void *
worker_main(void *arg)
{
        struct pg_db *d = arg;
        struct db_job *job;

        while ((job = jobq_pop(&d->q)) != NULL) {
                struct pg_conn *c = pg_acquire(d);
                int rc = run_job(d, c, job->fn, job->arg);

                pg_release(d, c);
                job->done(job, rc);
        }
        return NULL;
}

/* ---- open and close ---- */

static int
open_pool(struct pg_db *d, char *err, size_t errlen)
{
        d->conns = calloc((size_t)d->opt.pool_size, sizeof(*d->conns));
        if (d->conns == NULL)
                return -1;
        for (int i = 0; i < d->opt.pool_size; i++) {
                /* The first connection waits out the server's start; the
                 * others find it up. */
                d->conns[i] =
                        pg_conn_open(d->url, i == 0 ? d->opt.connect_timeout_s : 0, err, errlen);
                if (d->conns[i] == NULL)
                        return -1;
                d->nconns++;
                d->conns[i]->next_free = d->free_conns;
                d->free_conns = d->conns[i];
        }
        return 0;
}

static int
start_workers(struct pg_db *d)
{
        d->workers = calloc((size_t)d->opt.workers, sizeof(*d->workers));
        if (d->workers == NULL)
                return -1;
        for (int i = 0; i < d->opt.workers; i++) {
                if (pthread_create(&d->workers[i], NULL, worker_main, d) != 0)
                        return -1;
                d->nworkers++;
        }
        return 0;
}

int
pg_open(const struct pg_options *opt, struct pg_db **ret, char *err, size_t errlen)
{
        struct pg_db *d = calloc(1, sizeof(*d));

        first_line("", err, errlen);
        if (d == NULL)
                return -1;
        d->opt = *opt;
        if (d->opt.pool_size < 1)
                d->opt.pool_size = 1;
        if (d->opt.workers < 1)
                d->opt.workers = 1;
        d->url = strdup(opt->url);
        pthread_mutex_init(&d->pool_mu, NULL);
        pthread_cond_init(&d->pool_cv, NULL);
        jobq_init(&d->q, d->opt.max_queue);
        d->opt.url = d->url;
        if (d->url == NULL || open_pool(d, err, errlen) != 0 || start_workers(d) != 0) {
                if (err != NULL && errlen > 0 && err[0] == '\0')
                        first_line("out of memory or threads", err, errlen);
                pg_close(d);
                return -1;
        }
        *ret = d;
        return 0;
}

void
pg_close(struct pg_db *d)
{
        if (d == NULL)
                return;
        /* Workers drain the queue before they see stopping with nothing left. */
        jobq_stop(&d->q, false);
        for (int i = 0; i < d->nworkers; i++)
                pthread_join(d->workers[i], NULL);
        free(d->workers);
        for (int i = 0; i < d->nconns; i++)
                pg_conn_close(d->conns[i]);
        free(d->conns);
        pthread_mutex_destroy(&d->pool_mu);
        pthread_cond_destroy(&d->pool_cv);
        jobq_destroy(&d->q);
        free(d->url);
        free(d);
}

void
pg_stats(struct pg_db *d, struct db_stats *ret)
{
        *ret = (struct db_stats){ 0 };
        ret->jobs_committed = atomic_load(&d->jobs_committed);
        ret->jobs_rolled_back = atomic_load(&d->jobs_rolled_back);
        ret->jobs_failed = atomic_load(&d->jobs_failed);
        ret->reruns = atomic_load(&d->retries);
        ret->refused = atomic_load(&d->refused);
        ret->queue_length = jobq_len(&d->q);
        ret->queue_limit = d->opt.max_queue;
        pthread_mutex_lock(&d->pool_mu);
        ret->readers_busy = d->busy;
        ret->readers_total = d->nconns;
        pthread_mutex_unlock(&d->pool_mu);
}
