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
#include <sqlite3.h>
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

void
harness_assert_indexed(const struct harness *h, const char *const *sqls, size_t n)
{
        sqlite3 *ro = NULL;

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
                        ck_assert_msg(strstr(d, "TEMP B-TREE") == NULL, "%s: %s", sqls[i], d);
                }
                ck_assert_msg(rows > 0, "%s: no plan", sqls[i]);
                sqlite3_finalize(st);
                sqlite3_free(q);
        }
        sqlite3_close(ro);
}

int
harness_run_suite(void *suite)
{
        return check_run((Suite *)suite);
}
