/* Test harness for HTTP tests (see harness.h). */
#include "tests/harness.h"

#include "common/log.h"
#include "server/service.h"

#include <check.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

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
        ck_assert_int_eq(config_set(&h->cfg, "database.path", h->db_path, CONFIG_SRC_FLAG, err,
                                    sizeof(err)), 0);
        ck_assert_int_eq(config_set(&h->cfg, "server.port", "0", CONFIG_SRC_FLAG, err,
                                    sizeof(err)), 0);
        ck_assert_int_eq(config_set(&h->cfg, "server.threads", "2", CONFIG_SRC_FLAG, err,
                                    sizeof(err)), 0);
        ck_assert_int_eq(config_set(&h->cfg, "server.log_level", "error", CONFIG_SRC_FLAG, err,
                                    sizeof(err)), 0);
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

int
harness_run_suite(void *suite)
{
        SRunner *sr = srunner_create((Suite *)suite);
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
