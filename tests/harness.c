/* Test harness for HTTP tests (see harness.h). When TRADESTORE_EXCHANGES
 * names a file, every exchange made through http_do is appended to it as
 * one JSON line, for the contract test (tests/contract/validate.mjs) to
 * check against openapi.yaml. */
#include "tests/harness.h"

#include "common/log.h"
#include "db/postgres.h"
#include "server/service.h"

#include <check.h>

#include "check_run.h"
#include <curl/curl.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Under scripts/pgtest (TRADESTORE_TEST_PG_URL set) the same suites run on
 * PostgreSQL: each test gets an empty schema, as it gets a new file on
 * SQLite. */
static void
use_postgres_if_asked(struct harness *h)
{
        const char *url = getenv("TRADESTORE_TEST_PG_URL");
        char err[512] = "";
        struct pg_conn *c;

        if (url == NULL || url[0] == '\0')
                return;
        c = pg_conn_open(url, 10, err, sizeof(err));
        ck_assert_msg(c != NULL, "PostgreSQL: %s", err);
        ck_assert_msg(pg_exec(c, "DROP SCHEMA public CASCADE; CREATE SCHEMA public", err,
                              sizeof(err)) == 0,
                      "PostgreSQL: %s", err);
        pg_conn_close(c);
        ck_assert_int_eq(
                config_set(&h->cfg, "database.url", url, CONFIG_SRC_FLAG, err, sizeof(err)), 0);
        h->postgres = true;
}

void
harness_init(struct harness *h)
{
        char err[512];

        memset(h, 0, sizeof(*h));
        log_set_level(LOG_ERROR); /* tests read their own output, not request lines */
        snprintf(h->dir, sizeof(h->dir), "/tmp/tradestore-test-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(h->dir));
        snprintf(h->db_path, sizeof(h->db_path), "%s/test.db", h->dir);
        config_init(&h->cfg);
        ck_assert_int_eq(
                config_set(&h->cfg, "database.path", h->db_path, CONFIG_SRC_FLAG, err, sizeof(err)),
                0);
        use_postgres_if_asked(h);
        ck_assert_int_eq(config_set(&h->cfg, "server.port", "0", CONFIG_SRC_FLAG, err, sizeof(err)),
                         0);
        ck_assert_int_eq(
                config_set(&h->cfg, "server.threads", "2", CONFIG_SRC_FLAG, err, sizeof(err)), 0);
        ck_assert_int_eq(
                config_set(&h->cfg, "server.log_level", "error", CONFIG_SRC_FLAG, err, sizeof(err)),
                0);
}

void
harness_set(struct harness *h, const char *key, const char *value)
{
        char err[256];

        ck_assert_msg(config_set(&h->cfg, key, value, CONFIG_SRC_FLAG, err, sizeof(err)) == 0, "%s",
                      err);
}

void
harness_start(struct harness *h)
{
        ck_assert_int_eq(service_start(&h->cfg, &h->svc), 0);
        snprintf(h->base_url, sizeof(h->base_url), "http://127.0.0.1:%u",
                 (unsigned)service_port(h->svc));
}

void
harness_stop(struct harness *h)
{
        char cmd[400];

        harness_sql_close(h);
        service_stop(h->svc, 5000);
        h->svc = NULL;
        config_clear(&h->cfg);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->dir);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", h->dir);
}

static size_t
on_body(char *data, size_t size, size_t n, void *cls)
{
        struct http_resp *r = cls;
        size_t len = size * n;
        char *nb = realloc(r->body, r->len + len + 1);

        if (nb == NULL)
                return 0;
        r->body = nb;
        memcpy(r->body + r->len, data, len);
        r->len += len;
        r->body[r->len] = '\0';
        return len;
}

static void
copy_header(char *dst, size_t cap, const char *line, size_t len, const char *name)
{
        size_t nlen = strlen(name);

        if (len <= nlen + 1 || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
                return;
        line += nlen + 1;
        len -= nlen + 1;
        while (len > 0 && *line == ' ') {
                line++;
                len--;
        }
        while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
                len--;
        snprintf(dst, cap, "%.*s", (int)len, line);
}

static size_t
on_header(char *line, size_t size, size_t n, void *cls)
{
        struct http_resp *r = cls;
        size_t len = size * n;

        copy_header(r->ctype, sizeof(r->ctype), line, len, "Content-Type");
        copy_header(r->request_id, sizeof(r->request_id), line, len, "X-Request-Id");
        copy_header(r->allow, sizeof(r->allow), line, len, "Allow");
        copy_header(r->retry_after, sizeof(r->retry_after), line, len, "Retry-After");
        copy_header(r->connection, sizeof(r->connection), line, len, "Connection");
        return len;
}

/* A request body larger than this is recorded only in part unless it got a
 * 2xx (then it is validated): the 413 tests send megabytes. */
#define RECORD_BODY_MAX (64 * 1024)

/* Sets key to text[0..len) as a JSON string, or to null plus key_invalid_utf8
 * when the bytes are not UTF-8 (jansson refuses those). */
static void
set_text(json_t *o, const char *key, const char *text, size_t len)
{
        char flag[64];
        json_t *v;

        if (text == NULL) {
                json_object_set_new(o, key, json_null());
                return;
        }
        v = json_stringn(text, len);
        if (v == NULL) {
                snprintf(flag, sizeof(flag), "%s_invalid_utf8", key);
                json_object_set_new(o, flag, json_true());
                v = json_null();
        }
        json_object_set_new(o, key, v);
}

/* Writes line to path with one write() on an O_APPEND descriptor, so lines
 * from the forked test processes never interleave. */
static void
append_line(const char *path, const char *line, size_t len)
{
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        ssize_t n;

        if (fd < 0) {
                fprintf(stderr, "harness: cannot open %s: %s\n", path, strerror(errno));
                return;
        }
        do
                n = write(fd, line, len);
        while (n < 0 && errno == EINTR);
        if (n != (ssize_t)len)
                fprintf(stderr, "harness: short write to %s\n", path);
        close(fd);
}

/* Appends the exchange to $TRADESTORE_EXCHANGES, if set. The path template
 * is not known here: the raw path and query are recorded, the validator
 * matches them to the spec. */
static void
record_exchange(const char *method, const char *target, const char *body, const char *ctype,
                const struct http_resp *resp)
{
        const char *file = getenv("TRADESTORE_EXCHANGES");
        const char *q = strchr(target, '?');
        size_t blen = body != NULL ? strlen(body) : 0;
        bool cut = blen > RECORD_BODY_MAX && (resp->status < 200 || resp->status > 299);
        json_t *o;
        char *text, *line;
        size_t n;

        if (file == NULL || *file == '\0')
                return;
        o = json_object();
        if (o == NULL)
                return;
        json_object_set_new(o, "test", json_string(program_invocation_short_name));
        json_object_set_new(
                o, "backend",
                json_string(getenv("TRADESTORE_TEST_PG_URL") ? "postgresql" : "sqlite"));
        json_object_set_new(o, "tcase", tcase_name() ? json_string(tcase_name()) : json_null());
        json_object_set_new(o, "method", json_string(method));
        set_text(o, "path", target, q != NULL ? (size_t)(q - target) : strlen(target));
        set_text(o, "query", q != NULL ? q + 1 : NULL, q != NULL ? strlen(q + 1) : 0);
        json_object_set_new(o, "request_content_type",
                            body != NULL ? json_string(ctype ? ctype : "application/json")
                                         : json_null());
        set_text(o, "request_body", body, cut ? RECORD_BODY_MAX : blen);
        if (cut)
                json_object_set_new(o, "request_body_truncated", json_true());
        json_object_set_new(o, "status", json_integer(resp->status));
        json_object_set_new(o, "content_type",
                            resp->ctype[0] ? json_string(resp->ctype) : json_null());
        json_object_set_new(o, "allow", resp->allow[0] ? json_string(resp->allow) : json_null());
        set_text(o, "body", resp->body != NULL ? resp->body : "", resp->len);
        text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        json_decref(o);
        if (text == NULL)
                return;
        n = strlen(text);
        line = malloc(n + 1);
        if (line != NULL) {
                memcpy(line, text, n);
                line[n] = '\n';
                append_line(file, line, n + 1);
        }
        free(line);
        free(text);
}

void
http_do(const struct harness *h, const char *method, const char *path, const char *body,
        const char *ctype, const char *const *headers, struct http_resp *ret)
{
        CURL *c = curl_easy_init();
        struct curl_slist *hl = NULL;
        char url[2048];
        char ct[160];
        CURLcode rc;

        ck_assert_ptr_nonnull(c);
        memset(ret, 0, sizeof(*ret));
        snprintf(url, sizeof(url), "%s%s", h->base_url, path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (strcmp(method, "HEAD") == 0)
                curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        if (body != NULL) {
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
                snprintf(ct, sizeof(ct), "Content-Type: %s", ctype ? ctype : "application/json");
                hl = curl_slist_append(hl, ct);
        }
        hl = curl_slist_append(hl, "Expect:");
        for (; headers != NULL && *headers != NULL; headers++)
                hl = curl_slist_append(hl, *headers);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, ret);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, ret);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
        rc = curl_easy_perform(c);
        ck_assert_msg(rc == CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &ret->status);
        if (ret->body != NULL)
                ret->json = json_loads(ret->body, 0, NULL);
        record_exchange(method, path, body, ctype, ret);
        curl_slist_free_all(hl);
        curl_easy_cleanup(c);
}

void
http_resp_clear(struct http_resp *r)
{
        free(r->body);
        json_decref(r->json);
        memset(r, 0, sizeof(*r));
}

long
http_json(const struct harness *h, const char *method, const char *path, const char *body,
          struct http_resp *ret)
{
        http_do(h, method, path, body, NULL, NULL, ret);
        return ret->status;
}

/* ---- The tests' own SQL (harness.h) ---- */

/* SQLite functions that some tests' SQL uses, for the tests' PostgreSQL
 * connection only: in a schema of their own, outside the server's schema
 * (public), on the search path of this connection alone. Added here rather
 * than rewriting those tests' SQL because the portable spellings
 * (string_agg does not exist on SQLite; ->> differs between the two) would
 * make each test longer for no gain. */
static const char pg_compat_sql[] =
        "DROP SCHEMA IF EXISTS tradestore_test CASCADE;"
        "CREATE SCHEMA tradestore_test;"
        "CREATE FUNCTION tradestore_test.group_concat_step(acc text, v text, sep text)"
        " RETURNS text LANGUAGE sql IMMUTABLE AS $$"
        " SELECT CASE WHEN v IS NULL THEN acc WHEN acc IS NULL THEN v"
        " ELSE acc || sep || v END $$;"
        "CREATE FUNCTION tradestore_test.group_concat_step(acc text, v text)"
        " RETURNS text LANGUAGE sql IMMUTABLE AS $$"
        " SELECT tradestore_test.group_concat_step(acc, v, ',') $$;"
        "CREATE AGGREGATE tradestore_test.group_concat(text, text)"
        " (sfunc = tradestore_test.group_concat_step, stype = text);"
        "CREATE AGGREGATE tradestore_test.group_concat(text)"
        " (sfunc = tradestore_test.group_concat_step, stype = text);"
        /* '$.a.b' -> {a,b}; a JSON string comes back unquoted, as on SQLite. */
        "CREATE FUNCTION tradestore_test.json_extract(doc text, path text)"
        " RETURNS text LANGUAGE sql IMMUTABLE AS $$"
        " SELECT doc::jsonb #>> string_to_array(substr(path, 3), '.') $$;"
        "SET search_path = public, tradestore_test;";

static PGconn *
sql_pg(struct harness *h)
{
        const char *url = getenv("TRADESTORE_TEST_PG_URL");
        PGconn *c = h->sql;
        PGresult *r;

        if (c != NULL)
                return c;
        ck_assert_ptr_nonnull(url);
        c = PQconnectdb(url);
        ck_assert_msg(PQstatus(c) == CONNECTION_OK, "PostgreSQL: %s", PQerrorMessage(c));
        r = PQexec(c, "SET client_min_messages = warning");
        PQclear(r);
        r = PQexec(c, pg_compat_sql);
        ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "PostgreSQL: %s", PQerrorMessage(c));
        PQclear(r);
        h->sql = c;
        return c;
}

static sqlite3 *
sql_lite(struct harness *h)
{
        sqlite3 *db = h->sql;

        if (db != NULL)
                return db;
        ck_assert_msg(sqlite3_open_v2(h->db_path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK,
                      "%s: %s", h->db_path, sqlite3_errmsg(db));
        sqlite3_busy_timeout(db, 10000);
        h->sql = db;
        return db;
}

void
harness_sql_close(struct harness *h)
{
        if (h->sql == NULL)
                return;
        if (h->postgres)
                PQfinish(h->sql);
        else
                sqlite3_close(h->sql);
        h->sql = NULL;
}

void
harness_sql_vexec(struct harness *h, const char *fmt, va_list ap)
{
        char *sql = sqlite3_vmprintf(fmt, ap);
        char *msg = NULL;

        ck_assert_ptr_nonnull(sql);
        if (h->postgres) {
                PGresult *r = PQexec(sql_pg(h), sql);
                ExecStatusType st = PQresultStatus(r);

                ck_assert_msg(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql,
                              PQresultErrorMessage(r));
                PQclear(r);
        } else {
                ck_assert_msg(sqlite3_exec(sql_lite(h), sql, NULL, NULL, &msg) == SQLITE_OK,
                              "%s: %s", sql, msg ? msg : "?");
        }
        sqlite3_free(sql);
}

void
harness_sql_exec(struct harness *h, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        harness_sql_vexec(h, fmt, ap);
        va_end(ap);
}

static enum harness_sql_found
copy_found(char *buf, size_t cap, bool row, const char *v)
{
        if (!row || v == NULL) {
                snprintf(buf, cap, "%s", "");
                return row ? HARNESS_SQL_NULL : HARNESS_SQL_NONE;
        }
        snprintf(buf, cap, "%s", v);
        return HARNESS_SQL_VALUE;
}

static enum harness_sql_found
text_pg(struct harness *h, const char *sql, char *buf, size_t cap)
{
        PGresult *r = PQexec(sql_pg(h), sql);
        bool row = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
        const char *v = row && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : NULL;
        enum harness_sql_found f;

        ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(r));
        if (v != NULL && PQftype(r, 0) == 16 /* BOOLOID */)
                v = strcmp(v, "t") == 0 ? "1" : "0";
        f = copy_found(buf, cap, row, v);
        PQclear(r);
        return f;
}

static enum harness_sql_found
text_lite(struct harness *h, const char *sql, char *buf, size_t cap)
{
        sqlite3 *db = sql_lite(h);
        sqlite3_stmt *st = NULL;
        enum harness_sql_found f;
        int rc;

        ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                      sqlite3_errmsg(db));
        rc = sqlite3_step(st);
        ck_assert_msg(rc == SQLITE_ROW || rc == SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(db));
        f = copy_found(buf, cap, rc == SQLITE_ROW,
                       rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL);
        sqlite3_finalize(st);
        return f;
}

enum harness_sql_found
harness_sql_vtext(struct harness *h, char *buf, size_t cap, const char *fmt, va_list ap)
{
        char *sql = sqlite3_vmprintf(fmt, ap);
        enum harness_sql_found f;

        ck_assert_ptr_nonnull(sql);
        f = h->postgres ? text_pg(h, sql, buf, cap) : text_lite(h, sql, buf, cap);
        sqlite3_free(sql);
        return f;
}

enum harness_sql_found
harness_sql_text(struct harness *h, char *buf, size_t cap, const char *fmt, ...)
{
        enum harness_sql_found f;
        va_list ap;

        va_start(ap, fmt);
        f = harness_sql_vtext(h, buf, cap, fmt, ap);
        va_end(ap);
        return f;
}

int64_t
harness_sql_vint(struct harness *h, const char *fmt, va_list ap)
{
        char buf[64];

        harness_sql_vtext(h, buf, sizeof(buf), fmt, ap);
        return strtoll(buf, NULL, 10);
}

int64_t
harness_sql_int(struct harness *h, const char *fmt, ...)
{
        int64_t v;
        va_list ap;

        va_start(ap, fmt);
        v = harness_sql_vint(h, fmt, ap);
        va_end(ap);
        return v;
}

/* PostgreSQL's form of the check: with sequential scans and sorts priced out
 * (enable_seqscan, enable_sort off), a plan that still holds a Seq Scan or a
 * Sort node has no index to serve it. The generic plan (the one a prepared
 * statement gets whatever its parameters) is the one explained. */
static void
assert_indexed_pg(struct harness *h, const char *sql, bool sorts)
{
        PGconn *c = sql_pg(h);
        char *text = malloc(strlen(sql) + 1);
        char explain[512] = "EXPLAIN EXECUTE harness_plan(";
        Oid types[32] = { 0 };
        bool used[32] = { false };
        int nparams = 0;
        PGresult *r;

        ck_assert_ptr_nonnull(text);
        for (const char *p = sql; (p = strchr(p, '?')) != NULL; p++) {
                int i = atoi(p + 1);

                ck_assert_msg(i >= 1 && i <= 32, "%s: parameter %d", sql, i);
                used[i - 1] = true;
                nparams = i > nparams ? i : nparams;
        }
        for (int i = 0; i < nparams; i++) {
                types[i] = used[i] ? 0 : 25 /* TEXTOID */;
                strcat(explain, i == 0 ? "NULL" : ", NULL");
        }
        strcat(explain, ")");
        pg_translate(sql, text);
        harness_sql_exec(h, "SET enable_seqscan = off; SET enable_sort = off;"
                            " SET plan_cache_mode = force_generic_plan");
        r = PQprepare(c, "harness_plan", text, nparams, types);
        ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", text,
                      PQresultErrorMessage(r));
        PQclear(r);
        r = PQexec(c, explain);
        ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", text,
                      PQresultErrorMessage(r));
        for (int row = 0; row < PQntuples(r); row++) {
                const char *d = PQgetvalue(r, row, 0);

                /* A Sort node, not a Merge Append's "Sort Key" line. */
                ck_assert_msg(strstr(d, "Seq Scan") == NULL &&
                                      (sorts || strstr(d, "Sort  (cost") == NULL),
                              "%s: %s", sql, d);
        }
        ck_assert_msg(PQntuples(r) > 0, "%s: no plan", sql);
        PQclear(r);
        harness_sql_exec(h, "DEALLOCATE harness_plan; RESET enable_seqscan; RESET enable_sort;"
                            " RESET plan_cache_mode");
        free(text);
}

static void
assert_indexed(struct harness *h, const char *const *sqls, size_t n, bool sorts)
{
        sqlite3 *ro = NULL;

        if (h->postgres) {
                for (size_t i = 0; i < n; i++)
                        assert_indexed_pg(h, sqls[i], sorts);
                return;
        }

        ck_assert_int_eq(sqlite3_open_v2(h->db_path, &ro, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        for (size_t i = 0; i < n; i++) {
                char *q = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sqls[i]);
                sqlite3_stmt *st = NULL;
                int rows = 0;

                ck_assert_ptr_nonnull(q);
                ck_assert_msg(sqlite3_prepare_v2(ro, q, -1, &st, NULL) == SQLITE_OK, "%s: %s",
                              sqls[i], sqlite3_errmsg(ro));
                while (sqlite3_step(st) == SQLITE_ROW) {
                        const char *d = (const char *)sqlite3_column_text(st, 3);

                        rows++;
                        ck_assert_msg(strstr(d, "USING INDEX") != NULL ||
                                              strstr(d, "USING COVERING INDEX") != NULL ||
                                              strstr(d, "PRIMARY KEY") != NULL,
                                      "%s: %s", sqls[i], d);
                        ck_assert_msg(sorts || strstr(d, "TEMP B-TREE") == NULL, "%s: %s", sqls[i],
                                      d);
                }
                ck_assert_msg(rows > 0, "%s: no plan", sqls[i]);
                sqlite3_finalize(st);
                sqlite3_free(q);
        }
        sqlite3_close(ro);
}

void
harness_assert_indexed(struct harness *h, const char *const *sqls, size_t n)
{
        assert_indexed(h, sqls, n, false);
}

void
harness_assert_searched(struct harness *h, const char *const *sqls, size_t n)
{
        assert_indexed(h, sqls, n, true);
}

void
harness_skip(const char *test, const char *why)
{
        size_t n = strlen(test);

        if (n > 3 && strcmp(test + n - 3, "_fn") == 0) /* Check's name for the test's function */
                n -= 3;
        fprintf(stderr, "SKIP on PostgreSQL: %.*s: %s\n", (int)n, test, why);
}

bool
harness_sqlite_only_suite(const char *suite, const char *why)
{
        const char *url = getenv("TRADESTORE_TEST_PG_URL");

        if (url == NULL || url[0] == '\0')
                return false;
        fprintf(stderr, "SKIP on PostgreSQL: suite %s: %s\n", suite, why);
        return true;
}

int
harness_run_suite(void *suite)
{
        return check_run((Suite *)suite);
}
