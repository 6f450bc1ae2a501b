/* The HTTP edge under careless and hostile clients: every request gets an
 * answer at once (no committed write without one, no hang on a long query
 * string), and the query string is read by the rules of API.md (a
 * parameter given twice is 400). Raw sockets, so that nothing between the
 * test and the server pads, splits or retries. */
#include "common/ts.h"
#include "tests/harness.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct harness h;

static void
setup(void)
{
        harness_init(&h);
        harness_start(&h);
}

static void
teardown(void)
{
        harness_stop(&h);
}

/* Sends req (len bytes) on a new connection and reads the answer until the
 * server closes or timeout_ms passes. Returns the answer (caller frees; ""
 * when none came) and sets *ret_ms to how long it took. */
static char *
exchange(const char *req, size_t len, int timeout_ms, int64_t *ret_ms)
{
        struct sockaddr_in a = { .sin_family = AF_INET };
        size_t cap = 65536, got = 0;
        char *buf = malloc(cap);
        int64_t t0 = ts_monotonic_ms();
        unsigned port;
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        ck_assert_ptr_nonnull(buf);
        ck_assert_int_ge(fd, 0);
        sscanf(h.base_url, "http://127.0.0.1:%u", &port);
        a.sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        for (size_t off = 0; off < len;) {
                ssize_t n = write(fd, req + off, len - off);

                if (n <= 0)
                        break; /* the server may answer and close early */
                off += (size_t)n;
        }
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int left = timeout_ms - (int)(ts_monotonic_ms() - t0);
                ssize_t n;

                if (left <= 0 || poll(&p, 1, left) <= 0)
                        break;
                n = read(fd, buf + got, cap - 1 - got);
                if (n <= 0)
                        break;
                got += (size_t)n;
                if (got + 1 == cap)
                        break;
        }
        buf[got] = '\0';
        close(fd);
        *ret_ms = ts_monotonic_ms() - t0;
        return buf;
}

static void
pause_ms(long ms)
{
        struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

        nanosleep(&t, NULL);
}

static int
status_of(const char *answer)
{
        int status = 0;

        sscanf(answer, "HTTP/1.1 %d", &status);
        return status;
}

static long long
outbox_rows(void)
{
        return (long long)harness_sql_int(&h, "SELECT count(*) FROM outbox");
}

/* Headers up to and a little past max_header_bytes (16 KiB): a create is
 * either refused before anything is written (431) or answered; never
 * committed with no answer, which a client would retry into a duplicate. */
START_TEST(a_write_with_headers_near_the_limit_is_answered_or_refused_never_silent)
{
        static const char body[] = "{\"event_type\":\"t\",\"aggregate_id\":\"a\",\"payload\":{}}";
        long long created = 0;

        for (int pad = 15500; pad <= 16500; pad += 25) {
                size_t cap = (size_t)pad + 512;
                char *req = malloc(cap);
                char *answer;
                int64_t ms;
                int n, status;

                ck_assert_ptr_nonnull(req);
                n = snprintf(
                        req, cap,
                        "POST /outbox HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Connection: close\r\nX-Pad: %0*d\r\nContent-Length: %zu\r\n\r\n%s",
                        pad, 0, strlen(body), body);
                answer = exchange(req, (size_t)n, 5000, &ms);
                status = status_of(answer);
                ck_assert_msg(status == 201 || status == 431,
                              "padding %d: status %d, %lld ms: %.200s", pad, status, (long long)ms,
                              answer);
                if (status == 431)
                        ck_assert_msg(strstr(answer, "application/problem+json") != NULL,
                                      "padding %d: %.300s", pad, answer);
                created += status == 201;
                ck_assert_int_eq(outbox_rows(), created);
                free(answer);
                free(req);
        }
        ck_assert_int_gt(created, 0);
}
END_TEST

/* A query string with many parameters or of great length is answered at
 * once (400, 414 or 431), never left hanging. */
START_TEST(long_query_strings_are_refused_at_once)
{
        static const struct {
                int params;
                const char *param;
                int want_lo, want_hi;
        } cases[] = {
                { 1, "limit=2", 200, 200 },    { 64, "x=1", 400, 400 },
                { 300, "limit=2", 400, 414 },  { 1000, "a", 400, 414 },
                { 2000, "limit=2", 400, 431 }, { 5400, "a", 400, 431 },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                size_t cap = (size_t)cases[i].params * 12 + 256;
                char *req = malloc(cap), *answer;
                size_t n = (size_t)snprintf(req, cap, "GET /fills?");
                int64_t ms;
                int status;

                for (int p = 0; p < cases[i].params; p++)
                        n += (size_t)snprintf(req + n, cap - n, "%s%s", p ? "&" : "",
                                              cases[i].param);
                n += (size_t)snprintf(req + n, cap - n,
                                      " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                answer = exchange(req, n, 5000, &ms);
                status = status_of(answer);
                ck_assert_msg(status >= cases[i].want_lo && status <= cases[i].want_hi,
                              "%d x %s: status %d after %lld ms: %.200s", cases[i].params,
                              cases[i].param, status, (long long)ms, answer);
                ck_assert_msg(ms < 2000, "%d params: %lld ms", cases[i].params, (long long)ms);
                free(answer);
                free(req);
        }
}
END_TEST

/* API.md, Conventions: a query parameter given twice is 400, naming it. */
START_TEST(a_query_parameter_given_twice_is_400_naming_it)
{
        static const char *const paths[] = {
                "/orders?symbol=A&symbol=B",
                "/orders?symbol=A&limit=5&symbol=A",
                "/fills?limit=2&limit=2",
                "/quotes?status=active&status=",
        };
        struct http_resp r;

        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
                const json_t *e;

                ck_assert_int_eq(http_json(&h, "GET", paths[i], NULL, &r), 400);
                ck_assert_str_eq(r.ctype, "application/problem+json");
                e = json_array_get(json_object_get(r.json, "errors"), 0);
                ck_assert_ptr_nonnull(e);
                ck_assert_msg(strstr(paths[i], json_string_value(json_object_get(e, "field"))) !=
                                      NULL,
                              "%s: %s", paths[i], r.body);
                ck_assert_msg(strstr(json_string_value(json_object_get(e, "message")), "twice") !=
                                      NULL,
                              "%s: %s", paths[i], r.body);
                http_resp_clear(&r);
        }
        /* Distinct parameters, and the same one once, are fine. */
        ck_assert_int_eq(http_json(&h, "GET", "/orders?symbol=A&limit=5", NULL, &r), 200);
        http_resp_clear(&r);
        ck_assert_int_eq(http_json(&h, "GET", "/orders?symbol=A%2FB", NULL, &r), 200);
        http_resp_clear(&r);
}
END_TEST

/* ---- slow and idle clients ---- */

static void
setup_deadlines(void)
{
        char err[256];

        harness_init(&h);
        ck_assert_int_eq(
                config_set(&h.cfg, "server.header_timeout", "2", CONFIG_SRC_FLAG, err, sizeof(err)),
                0);
        ck_assert_int_eq(config_set(&h.cfg, "server.min_body_rate", "1000", CONFIG_SRC_FLAG, err,
                                    sizeof(err)),
                         0);
        harness_start(&h);
}

/* A socket connected to the service from local address from (127.0.0.x). */
static int
connect_from(const char *from)
{
        struct sockaddr_in a = { .sin_family = AF_INET }, me = { .sin_family = AF_INET };
        unsigned port;
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        ck_assert_int_ge(fd, 0);
        inet_pton(AF_INET, from, &me.sin_addr);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&me, sizeof(me)), 0);
        sscanf(h.base_url, "http://127.0.0.1:%u", &port);
        a.sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        return fd;
}

/* True when the server has closed fd (EOF or reset), waiting up to ms. */
static bool
closed_within(int fd, int ms)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char buf[4096];
        int64_t t0 = ts_monotonic_ms();

        do {
                if (poll(&p, 1, ms > 0 ? 50 : 0) == 1) {
                        ssize_t n = read(fd, buf, sizeof(buf));

                        if (n <= 0)
                                return true;
                }
        } while (ts_monotonic_ms() - t0 < ms);
        return false;
}

/* GET /health from address from: the status, or 0 with no answer in 2 s. */
static int
health_from(const char *from)
{
        static const char req[] = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        char answer[4096];
        size_t got = 0;
        int fd = connect_from(from);
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n;

        ck_assert_int_eq(write(fd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
        while (got + 1 < sizeof(answer) && poll(&p, 1, 2000) == 1 &&
               (n = read(fd, answer + got, sizeof(answer) - 1 - got)) > 0)
                got += (size_t)n;
        answer[got] = '\0';
        close(fd);
        return status_of(answer);
}

/* Slowloris: a byte every 300 ms keeps an inactivity timeout from ever
 * firing. The whole request line and headers must arrive within
 * server.header_timeout (2 s here), else the connection is closed. */
START_TEST(headers_sent_a_byte_at_a_time_are_cut_at_the_header_deadline)
{
        static const char head[] = "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        struct http_resp r;
        int fds[5];
        int64_t t0 = ts_monotonic_ms();
        bool all_closed = false;

        for (int i = 0; i < 5; i++)
                fds[i] = connect_from("127.0.0.1");
        for (size_t k = 0; k < 40 && !all_closed; k++) {
                all_closed = true;
                for (int i = 0; i < 5; i++) {
                        char ch = head[k < sizeof(head) - 1 ? k : sizeof(head) - 2];

                        if (fds[i] < 0)
                                continue;
                        if (send(fds[i], &ch, 1, MSG_NOSIGNAL) != 1 || closed_within(fds[i], 0)) {
                                close(fds[i]);
                                fds[i] = -1;
                                continue;
                        }
                        all_closed = false;
                }
                pause_ms(300);
        }
        ck_assert_msg(all_closed, "slow headers still open after %lld ms",
                      (long long)(ts_monotonic_ms() - t0));
        ck_assert_msg(ts_monotonic_ms() - t0 < 4500, "cut only after %lld ms",
                      (long long)(ts_monotonic_ms() - t0));
        ck_assert_msg(ts_monotonic_ms() - t0 >= 1900, "cut early, after %lld ms",
                      (long long)(ts_monotonic_ms() - t0));
        ck_assert_int_eq(health_from("127.0.0.1"), 200);
        ck_assert_int_eq(http_json(&h, "GET", "/metrics", NULL, &r), 200);
        ck_assert_msg(strstr(r.body, "tradestore_http_connections_cut_total{reason="
                                     "\"header_timeout\"} 5\n") != NULL,
                      "%s", r.body);
        http_resp_clear(&r);
}
END_TEST

/* A body that trickles in slower than server.min_body_rate (1000 B/s here,
 * after a grace of header_timeout) is cut too; nothing of it is written. */
START_TEST(a_body_slower_than_the_minimum_rate_is_cut_and_writes_nothing)
{
        static const char head[] =
                "POST /outbox HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: 100000\r\n\r\n{\"event_type\":\"t\",";
        int fd = connect_from("127.0.0.1");
        int64_t t0 = ts_monotonic_ms();
        bool cut = false;

        ck_assert_int_eq(write(fd, head, sizeof(head) - 1), (ssize_t)sizeof(head) - 1);
        while (!cut && ts_monotonic_ms() - t0 < 8000) {
                cut = send(fd, "          ", 10, MSG_NOSIGNAL) != 10 || closed_within(fd, 300);
        }
        close(fd);
        ck_assert_msg(cut, "a 33 B/s body still open after 8 s");
        ck_assert_msg(ts_monotonic_ms() - t0 < 6000, "cut only after %lld ms",
                      (long long)(ts_monotonic_ms() - t0));
        ck_assert_int_eq(outbox_rows(), 0);
        ck_assert_int_eq(health_from("127.0.0.1"), 200);
}
END_TEST

/* One address holding the default per-address share of connections idle
 * cannot starve another address, nor /health from it. */
START_TEST(one_address_flooding_leaves_room_for_others)
{
        enum { FLOOD = 300 };
        int fds[FLOOD];
        int64_t t0;
        int refused = 0;

        for (int i = 0; i < FLOOD; i++)
                fds[i] = connect_from("127.0.0.1");
        pause_ms(500);
        for (int i = 0; i < FLOOD; i++)
                refused += closed_within(fds[i], 0);
        ck_assert_msg(refused >= FLOOD - 256 && refused < FLOOD,
                      "%d of %d idle connections from one address were refused", refused, FLOOD);
        t0 = ts_monotonic_ms();
        ck_assert_int_eq(health_from("127.0.0.2"), 200);
        ck_assert_msg(ts_monotonic_ms() - t0 < 1000, "another address waited %lld ms",
                      (long long)(ts_monotonic_ms() - t0));
        for (int i = 0; i < FLOOD; i++)
                close(fds[i]);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("edge");
        TCase *t = tcase_create("edge");
        TCase *slow;

        tcase_add_checked_fixture(t, setup, teardown);
        tcase_set_timeout(t, 120);
        tcase_add_test(t, a_write_with_headers_near_the_limit_is_answered_or_refused_never_silent);
        tcase_add_test(t, long_query_strings_are_refused_at_once);
        tcase_add_test(t, a_query_parameter_given_twice_is_400_naming_it);
        tcase_add_test(t, one_address_flooding_leaves_room_for_others);
        suite_add_tcase(s, t);
        slow = tcase_create("slow");
        tcase_add_checked_fixture(slow, setup_deadlines, teardown);
        tcase_set_timeout(slow, 60);
        tcase_add_test(slow, headers_sent_a_byte_at_a_time_are_cut_at_the_header_deadline);
        tcase_add_test(slow, a_body_slower_than_the_minimum_rate_is_cut_and_writes_nothing);
        suite_add_tcase(s, slow);
        return harness_run_suite(s);
}
