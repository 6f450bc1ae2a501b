/* Overload: when more writes wait for the database writer than
 * database.max_write_queue allows, a new write is refused at once with 503
 * and Retry-After instead of waiting without bound; the writes already
 * queued still commit. */
#include "tests/harness.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
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
        char err[256];

        harness_init(&h);
        ck_assert_int_eq(config_set(&h.cfg, "database.max_write_queue", "2", CONFIG_SRC_FLAG, err,
                                    sizeof(err)),
                         0);
        /* The writer waits on the test's lock rather than failing. */
        ck_assert_int_eq(config_set(&h.cfg, "database.query_timeout", "60", CONFIG_SRC_FLAG, err,
                                    sizeof(err)),
                         0);
        harness_start(&h);
}

static void
teardown(void)
{
        harness_stop(&h);
}

static void
pause_ms(long ms)
{
        struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

        nanosleep(&t, NULL);
}

/* Sends POST /outbox on a new connection; returns the socket, unread. */
static int
post_outbox(int i)
{
        struct sockaddr_in a = { .sin_family = AF_INET };
        char body[160], req[512];
        unsigned port;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int n;

        ck_assert_int_ge(fd, 0);
        sscanf(h.base_url, "http://127.0.0.1:%u", &port);
        a.sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        snprintf(body, sizeof(body),
                 "{\"event_id\":\"ev-%d\",\"event_type\":\"t\",\"aggregate_id\":\"a\","
                 "\"payload\":{}}",
                 i);
        n = snprintf(req, sizeof(req),
                     "POST /outbox HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
        ck_assert_int_eq(write(fd, req, (size_t)n), n);
        return fd;
}

/* Reads the whole answer of fd (the server closes it) and closes fd. */
static void
read_answer(int fd, char *buf, size_t cap)
{
        size_t len = 0;
        ssize_t n;

        while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0)
                len += (size_t)n;
        buf[len] = '\0';
        close(fd);
}

START_TEST(writes_past_the_queue_bound_get_503_with_retry_after_and_queued_ones_commit)
{
        /* The writes that run and wait on the lock: SQLite's one writer, or
         * PostgreSQL's 16 write connections (README, "PostgreSQL"). */
        int nheld = h.postgres ? 16 : 1;
        int held[16], queued[2], refused;
        char answer[4096], path[64];
        struct http_resp r;

        /* Another connection holds the write lock: the writer's next batch
         * waits in BEGIN IMMEDIATE (on PostgreSQL, each write job waits for
         * the outbox table). */
        harness_sql_exec(&h, h.postgres ? "BEGIN; LOCK TABLE outbox IN EXCLUSIVE MODE"
                                        : "BEGIN IMMEDIATE");
        for (int i = 0; i < nheld; i++) {
                held[i] = post_outbox(i); /* taken by a writer, which now waits */
                if (h.postgres)
                        pause_ms(50); /* one at a time: a burst would fill the queue */
        }
        pause_ms(300);
        queued[0] = post_outbox(nheld);
        queued[1] = post_outbox(nheld + 1);
        pause_ms(300);
        refused = post_outbox(nheld + 2);
        read_answer(refused, answer, sizeof(answer));
        ck_assert_msg(strncmp(answer, "HTTP/1.1 503", 12) == 0, "%s", answer);
        ck_assert_msg(strstr(answer, "Retry-After: 1\r\n") != NULL, "%s", answer);
        ck_assert_msg(strstr(answer, "application/problem+json") != NULL, "%s", answer);
        ck_assert_msg(strstr(answer, "max_write_queue") != NULL, "%s", answer);
        /* The bound and the queue are visible to the operator. */
        ck_assert_int_eq(http_json(&h, "GET", "/metrics", NULL, &r), 200);
        ck_assert_msg(strstr(r.body, "\ntradestore_db_write_queue_limit 2\n") != NULL, "%s",
                      r.body);
        ck_assert_msg(strstr(r.body, "\ntradestore_db_write_queue_length 2\n") != NULL, "%s",
                      r.body);
        ck_assert_msg(strstr(r.body, "\ntradestore_db_writes_refused_total 1\n") != NULL, "%s",
                      r.body);
        http_resp_clear(&r);
        harness_sql_exec(&h, "COMMIT");
        for (int i = 0; i < nheld; i++) {
                read_answer(held[i], answer, sizeof(answer));
                ck_assert_msg(strncmp(answer, "HTTP/1.1 201", 12) == 0, "%s", answer);
        }
        for (int i = 0; i < 2; i++) {
                read_answer(queued[i], answer, sizeof(answer));
                ck_assert_msg(strncmp(answer, "HTTP/1.1 201", 12) == 0, "%s", answer);
        }
        /* The refused write changed nothing; a new one is served again. */
        snprintf(path, sizeof(path), "/outbox/ev-%d", nheld + 2);
        ck_assert_int_eq(http_json(&h, "GET", path, NULL, &r), 404);
        http_resp_clear(&r);
        refused = post_outbox(nheld + 2);
        read_answer(refused, answer, sizeof(answer));
        ck_assert_msg(strncmp(answer, "HTTP/1.1 201", 12) == 0, "%s", answer);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("overload");
        TCase *t = tcase_create("queue");

        tcase_add_checked_fixture(t, setup, teardown);
        tcase_set_timeout(t, 60);
        tcase_add_test(t,
                       writes_past_the_queue_bound_get_503_with_retry_after_and_queued_ones_commit);
        suite_add_tcase(s, t);
        return harness_run_suite(s);
}
