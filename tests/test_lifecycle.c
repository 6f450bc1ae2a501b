/* Start-up and shutdown of the real service: a stop never hangs on clients
 * that left while their write was waiting on the database. */
#include "tests/harness.h"

#include "server/service.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
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
        if (h.svc != NULL)
                harness_stop(&h);
}

/* Sends a complete POST /outbox on a new connection and closes it at once,
 * without reading the answer. */
static void
post_and_leave(unsigned port, int i)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        char body[160], req[512];
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int n;

        ck_assert_int_ge(fd, 0);
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        snprintf(body, sizeof(body),
                 "{\"event_type\":\"t\",\"aggregate_id\":\"agg-%d\",\"payload\":{}}", i);
        n = snprintf(req, sizeof(req),
                     "POST /outbox HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
        ck_assert_int_eq(write(fd, req, (size_t)n), n);
        close(fd);
}

struct stopper {
        struct service *svc;
        volatile int done;
};

static void *
stop_thread(void *arg)
{
        struct stopper *s = arg;

        service_stop(s->svc, 2000);
        s->done = 1;
        return NULL;
}

START_TEST(stop_does_not_hang_on_clients_that_left_during_their_write)
{
        unsigned port;
        struct stopper st;
        pthread_t t;
        struct timespec pause = { .tv_nsec = 50 * 1000 * 1000 };

        sscanf(h.base_url, "http://127.0.0.1:%u", &port);
        for (int i = 0; i < 1500; i++)
                post_and_leave(port, i);
        st = (struct stopper){ .svc = h.svc };
        h.svc = NULL; /* the stopper owns it now */
        ck_assert_int_eq(pthread_create(&t, NULL, stop_thread, &st), 0);
        for (int waited = 0; !st.done && waited < 200; waited++)
                nanosleep(&pause, NULL); /* up to 10 s */
        ck_assert_msg(st.done, "service_stop still waiting 10 s after SIGTERM-equivalent");
        pthread_join(t, NULL);
        config_clear(&h.cfg);
}
END_TEST

/* Two services on one port would split the traffic between two writers of
 * (perhaps) two databases: the second must fail to start. */
START_TEST(a_second_service_on_a_port_in_use_does_not_start)
{
        struct harness h2;
        struct service *svc2 = NULL;
        char err[256], port[16];
        unsigned p;

        sscanf(h.base_url, "http://127.0.0.1:%u", &p);
        snprintf(port, sizeof(port), "%u", p);
        harness_init(&h2);
        ck_assert_int_eq(
                config_set(&h2.cfg, "server.port", port, CONFIG_SRC_FLAG, err, sizeof(err)), 0);
        ck_assert_int_eq(service_start(&h2.cfg, &svc2), -1);
        ck_assert_ptr_null(svc2);
        harness_stop(&h2);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("lifecycle");
        TCase *t = tcase_create("shutdown");

        tcase_add_checked_fixture(t, setup, teardown);
        tcase_set_timeout(t, 60);
        tcase_add_test(t, stop_does_not_hang_on_clients_that_left_during_their_write);
        tcase_add_test(t, a_second_service_on_a_port_in_use_does_not_start);
        suite_add_tcase(s, t);
        return harness_run_suite(s);
}
