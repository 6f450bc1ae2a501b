/* A wall clock that steps back (ntp) breaks nothing that measures a
 * duration (issue 15). The test executable is linked with
 * -Wl,--wrap=clock_gettime (tests/meson.build), so every clock_gettime call
 * of the service code linked into it goes through __wrap_clock_gettime
 * below, which can move CLOCK_REALTIME back while CLOCK_MONOTONIC runs on:
 * an injectable wall clock with no hook in the production code. */
#include "tests/harness.h"

#include <check.h>
#include <curl/curl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int __real_clock_gettime(clockid_t clk, struct timespec *ts);
int __wrap_clock_gettime(clockid_t clk, struct timespec *ts);

/* Seconds the wall clock is set back by. */
static atomic_long wall_back_s;

int
__wrap_clock_gettime(clockid_t clk, struct timespec *ts)
{
        int rc = __real_clock_gettime(clk, ts);

        if (rc == 0 && (clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE))
                ts->tv_sec -= atomic_load(&wall_back_s);
        return rc;
}

static struct harness h;

static void
setup(void)
{
        atomic_store(&wall_back_s, 0);
        harness_init(&h);
        harness_start(&h);
}

static void
teardown(void)
{
        harness_stop(&h);
        atomic_store(&wall_back_s, 0);
}

/* The body of GET /health; caller owns it (free). */
static char *
health_body(void)
{
        struct http_resp r;
        char *body;

        ck_assert_int_eq(http_json(&h, "GET", "/health", NULL, &r), 200);
        body = strdup(r.body);
        ck_assert_ptr_nonnull(body);
        http_resp_clear(&r);
        return body;
}

START_TEST(wrapped_wall_clock_steps_back)
{
        struct timespec wall, mono1, mono2;
        time_t before = time(NULL);

        clock_gettime(CLOCK_MONOTONIC, &mono1);
        atomic_store(&wall_back_s, 3600);
        clock_gettime(CLOCK_REALTIME, &wall);
        clock_gettime(CLOCK_MONOTONIC, &mono2);
        ck_assert_int_le(wall.tv_sec, before - 3599);
        ck_assert_int_ge(mono2.tv_sec, mono1.tv_sec);
}
END_TEST

/* GET /health keeps its probe for HEALTH_PROBE_US (1 s). Measured on the
 * wall clock, a step back of an hour kept the old answer for an hour: here
 * the database grows by 2 MB after the step and, 1.5 s later, the health
 * answer must show the new size. */
START_TEST(health_reprobes_after_a_second_when_the_wall_clock_steps_back)
{
        char *first, *second;

        first = health_body();
        atomic_store(&wall_back_s, 3600);
        /* About 2 MB more in the database, in each backend's words (md5 text
         * on PostgreSQL: a blob of zeros would be compressed away). */
        harness_sql_exec(&h, h.postgres ? "CREATE TABLE clock_test AS SELECT md5(i::text) AS t"
                                          " FROM generate_series(1, 30000) AS i"
                                        : "CREATE TABLE clock_test (b BLOB);"
                                          " INSERT INTO clock_test VALUES (zeroblob(2000000));");
        nanosleep(&(struct timespec){ .tv_sec = 1, .tv_nsec = 500000000 }, NULL);
        second = health_body();
        ck_assert_msg(strcmp(first, second) != 0, "stale health answer: %s", second);
        free(first);
        free(second);
}
END_TEST

/* An outbox event created, then the wall clock set back an hour: the age
 * of the oldest pending event must not go negative (it printed
 * "-3599.-999000", which is not a Prometheus number). */
START_TEST(outbox_pending_age_stays_a_number_when_the_wall_clock_steps_back)
{
        struct http_resp r;
        const char *line;
        double age;

        ck_assert_int_eq(http_json(&h, "POST", "/outbox",
                                   "{\"event_type\":\"t\",\"aggregate_id\":\"a\",\"payload\":{}}",
                                   &r),
                         201);
        http_resp_clear(&r);
        atomic_store(&wall_back_s, 3600);
        http_do(&h, "GET", "/metrics", NULL, NULL, NULL, &r);
        ck_assert_int_eq(r.status, 200);
        line = strstr(r.body, "\ntradestore_outbox_oldest_pending_age_seconds ");
        ck_assert_ptr_nonnull(line);
        line += strlen("\ntradestore_outbox_oldest_pending_age_seconds ");
        ck_assert_msg(strspn(line, "0123456789.") == strcspn(line, "\n"), "not a number: %.40s",
                      line);
        age = strtod(line, NULL);
        ck_assert(age >= 0);
        http_resp_clear(&r);
}
END_TEST

static Suite *
clock_suite(void)
{
        Suite *s = suite_create("clock");
        TCase *tc = tcase_create("clock");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, wrapped_wall_clock_steps_back);
        tcase_add_test(tc, health_reprobes_after_a_second_when_the_wall_clock_steps_back);
        tcase_add_test(tc, outbox_pending_age_stays_a_number_when_the_wall_clock_steps_back);
        suite_add_tcase(s, tc);
        return s;
}

int
main(void)
{
        curl_global_init(CURL_GLOBAL_ALL);
        return harness_run_suite(clock_suite());
}
