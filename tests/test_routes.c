/* The rules each route carries in the route table (server/routes.c),
 * enforced in one place before any handler runs: the query parameters a
 * route takes (API.md: an unknown one is 400 naming it, on every route) and
 * the role it needs (checked from the headers, before any body is read). */
#include "tests/harness.h"

#include "server/http.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static struct harness h;

static void
setup(void)
{
        harness_init(&h);
}

static void
teardown(void)
{
        harness_stop(&h);
}

static void
expect_status(const char *method, const char *path, const char *body, long want)
{
        struct http_resp r;

        http_json(&h, method, path, body, &r);
        ck_assert_msg(r.status == want, "%s %s: %ld, want %ld: %s", method, path, r.status, want,
                      r.body ? r.body : "");
        http_resp_clear(&r);
}

/* Every write and item read that takes no query parameter refuses one
 * with 400 naming it, and the write is not done. */
START_TEST(an_unknown_query_parameter_on_a_write_or_item_read_is_400_naming_it)
{
        static const struct {
                const char *method, *path, *body;
        } cases[] = {
                { "POST", "/orders?typo=1",
                  "{\"order_id\":\"o2\",\"symbol\":\"BTCUSDT\",\"side\":\"buy\","
                  "\"type\":\"market\",\"quantity\":\"1\"}" },
                { "POST", "/fills?typo=1",
                  "{\"fill_id\":\"f2\",\"order_id\":\"o1\",\"price\":\"100\","
                  "\"quantity\":\"0.1\"}" },
                { "PATCH", "/orders/o1?typo=1", "{\"status\":\"open\"}" },
                { "PUT", "/positions/BTCUSDT?typo=1",
                  "{\"quantity\":\"2\",\"avg_entry_price\":\"100\"}" },
                { "PATCH", "/positions/BTCUSDT?typo=1", "{\"mark_price\":\"101\"}" },
                { "GET", "/orders/o1?typo=1", NULL },
                { "GET", "/fills/f1?typo=1", NULL },
                { "GET", "/positions/BTCUSDT?typo=1", NULL },
        };

        harness_start(&h);
        expect_status("POST", "/orders",
                      "{\"order_id\":\"o1\",\"symbol\":\"BTCUSDT\",\"side\":\"buy\","
                      "\"type\":\"market\",\"quantity\":\"1\"}",
                      201);
        expect_status("POST", "/fills",
                      "{\"fill_id\":\"f1\",\"order_id\":\"o1\",\"price\":\"100\","
                      "\"quantity\":\"0.5\"}",
                      201);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct http_resp r;
                const json_t *e;

                http_json(&h, cases[i].method, cases[i].path, cases[i].body, &r);
                ck_assert_msg(r.status == 400, "%s %s: %ld: %s", cases[i].method, cases[i].path,
                              r.status, r.body ? r.body : "");
                ck_assert_str_eq(r.ctype, "application/problem+json");
                e = json_array_get(json_object_get(r.json, "errors"), 0);
                ck_assert_str_eq(json_string_value(json_object_get(e, "field")), "typo");
                http_resp_clear(&r);
        }
        expect_status("GET", "/orders/o2", NULL, 404);
        expect_status("GET", "/fills/f2", NULL, 404);
}
END_TEST

/* A list still takes its filters and paging, and refuses anything else. */
START_TEST(a_list_takes_its_own_parameters_only)
{
        harness_start(&h);
        expect_status("GET", "/orders?symbol=BTCUSDT&status=open&limit=5", NULL, 200);
        expect_status("GET", "/orders?status=nope", NULL, 400);
        expect_status("GET", "/orders?executed_after=1", NULL, 400);
        expect_status("GET", "/fills?executed_after=1&limit=2", NULL, 200);
        expect_status("GET", "/positions?limit=2", NULL, 200);
        expect_status("GET", "/positions?symbol=BTCUSDT", NULL, 400);
        expect_status("GET", "/health?x=1", NULL, 400);
}
END_TEST

/* Sends head (a request's line and headers, announcing a body that is
 * never sent) and returns the status of the answer, 0 when none came
 * within timeout_s. */
static int
status_before_body(const char *head, int timeout_s)
{
        struct sockaddr_in a = { .sin_family = AF_INET };
        struct timeval tv = { .tv_sec = timeout_s };
        char buf[4096];
        size_t got = 0;
        unsigned port;
        int status = 0;
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
        sscanf(h.base_url, "http://127.0.0.1:%u", &port);
        a.sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        ck_assert_int_eq(write(fd, head, strlen(head)), (ssize_t)strlen(head));
        while (got < 12) { /* "HTTP/1.1 NNN" */
                ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);

                if (n <= 0)
                        break; /* closed, or nothing within the timeout */
                got += (size_t)n;
        }
        buf[got] = '\0';
        close(fd);
        sscanf(buf, "HTTP/1.1 %d", &status);
        return status;
}

START_TEST(a_write_without_the_role_is_refused_before_its_body_is_read)
{
        static const char fmt[] = "POST /orders HTTP/1.1\r\nHost: x\r\n"
                                  "Content-Type: application/json\r\n%s"
                                  "Expect: 100-continue\r\nContent-Length: 500000\r\n\r\n";
        char head[512];
        char err[256];

        ck_assert_int_eq(config_set(&h.cfg, "auth.tokens", "read:rtoken,write:wtoken",
                                    CONFIG_SRC_FLAG, err, sizeof(err)),
                         0);
        harness_start(&h);
        snprintf(head, sizeof(head), fmt, "");
        ck_assert_int_eq(status_before_body(head, 2), 401);
        snprintf(head, sizeof(head), fmt, "Authorization: Bearer wrong\r\n");
        ck_assert_int_eq(status_before_body(head, 2), 401);
        snprintf(head, sizeof(head), fmt, "Authorization: Bearer rtoken\r\n");
        ck_assert_int_eq(status_before_body(head, 2), 403);
        /* The right role is told to go on: 100 Continue, then it waits. */
        snprintf(head, sizeof(head), fmt, "Authorization: Bearer wtoken\r\n");
        ck_assert_int_eq(status_before_body(head, 2), 100);
}
END_TEST

/* What /metrics reads of the HTTP server takes a NULL server (app.http
 * was one while the service started: server/service.c set it after
 * http_start, whose daemon already served; /metrics now reads the server
 * its request came through). */
START_TEST(a_server_not_yet_running_reads_as_idle)
{
        unsigned long header = 7, body = 7;

        ck_assert_int_eq(http_in_flight(NULL), 0);
        http_cut_counts(NULL, &header, &body);
        ck_assert_uint_eq(header, 0);
        ck_assert_uint_eq(body, 0);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("routes");
        TCase *t = tcase_create("routes");

        tcase_add_checked_fixture(t, setup, teardown);
        tcase_add_test(t, an_unknown_query_parameter_on_a_write_or_item_read_is_400_naming_it);
        tcase_add_test(t, a_list_takes_its_own_parameters_only);
        tcase_add_test(t, a_write_without_the_role_is_refused_before_its_body_is_read);
        suite_add_tcase(s, t);
        t = tcase_create("start-up");
        tcase_add_test(t, a_server_not_yet_running_reads_as_idle);
        suite_add_tcase(s, t);
        return harness_run_suite(s);
}
