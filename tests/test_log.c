/* Unit tests for common/log: the access-line formatter byte for byte, the
 * per-second timestamp cache across second, day and year boundaries, the
 * per-thread rings (order, overflow counting against a writer that is
 * blocked, never blocking the caller) and the flush at exit. */
#include "common/log.h"

#include <check.h>

#include "check_run.h"
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const struct log_access sample = {
        .request_id = "0b9e4f3a-2c1d-4e5f-8a7b-6c5d4e3f2a1b",
        .method = "GET",
        .route = "/orders/{order_id}",
        .status = 200,
        .duration_us = 137,
        .bytes = 412,
};

static double
now_s(void)
{
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Reads fd until EOF or until nothing arrives for 2 s; returns the length. */
static size_t
read_all(int fd, char *buf, size_t cap)
{
        size_t n = 0;

        while (n < cap - 1) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t k;

                if (poll(&p, 1, 2000) <= 0)
                        break;
                k = read(fd, buf + n, cap - 1 - n);
                if (k <= 0)
                        break;
                n += (size_t)k;
        }
        buf[n] = '\0';
        return n;
}

static size_t
count_lines(const char *s)
{
        size_t n = 0;

        for (; *s != '\0'; s++)
                n += *s == '\n';
        return n;
}

/* ---- timestamps ---- */

struct ts_case {
        long long sec;
        long nsec;
        const char *text;
};

/* One cache through all of them in order: each line changes the second, or
 * keeps it (the cache must then still give the new microseconds), or goes
 * back (a wall clock set back). */
static const struct ts_case ts_cases[] = {
        { 1700000000, 123456789, "2023-11-14T22:13:20.123456Z" },
        { 1700000000, 999999999, "2023-11-14T22:13:20.999999Z" },
        { 1700000001, 0, "2023-11-14T22:13:21.000000Z" },
        { 1700000001, 500, "2023-11-14T22:13:21.000000Z" },
        { 1700000001, 1000, "2023-11-14T22:13:21.000001Z" },
        { 1704067199, 999999000, "2023-12-31T23:59:59.999999Z" },
        { 1704067200, 0, "2024-01-01T00:00:00.000000Z" },
        { 1709251199, 42000, "2024-02-29T23:59:59.000042Z" },
        { 1709251200, 42000, "2024-03-01T00:00:00.000042Z" },
        { 1700000000, 7000, "2023-11-14T22:13:20.000007Z" },
        { 0, 0, "1970-01-01T00:00:00.000000Z" },
};

START_TEST(ts_cache_formats_each_second_and_microsecond_exactly)
{
        struct log_ts_cache cache = { 0 };

        for (size_t i = 0; i < N_ELEMS(ts_cases); i++) {
                struct timespec t = { .tv_sec = (time_t)ts_cases[i].sec,
                                      .tv_nsec = ts_cases[i].nsec };
                char buf[LOG_TS_LEN + 1];

                ck_assert_uint_eq(log_format_ts(&cache, &t, buf), LOG_TS_LEN);
                buf[LOG_TS_LEN] = '\0';
                ck_assert_str_eq(buf, ts_cases[i].text);
        }
}
END_TEST

/* ---- the access line ---- */

START_TEST(access_line_is_byte_for_byte_the_documented_json)
{
        struct log_ts_cache cache = { 0 };
        struct timespec t = { .tv_sec = 1700000000, .tv_nsec = 123456789 };
        struct log_access a = sample;
        char buf[512];
        size_t n;

        n = log_format_access(buf, sizeof(buf), &cache, &t, LOG_INFO, &a);
        buf[n] = '\0';
        ck_assert_str_eq(buf, "{\"ts\":\"2023-11-14T22:13:20.123456Z\",\"level\":\"info\","
                              "\"event\":\"request\","
                              "\"request_id\":\"0b9e4f3a-2c1d-4e5f-8a7b-6c5d4e3f2a1b\","
                              "\"method\":\"GET\",\"route\":\"/orders/{order_id}\","
                              "\"status\":200,\"duration_us\":137,\"bytes\":412}\n");

        a.status = 503;
        a.duration_us = 0;
        a.bytes = 18446744073709551615UL;
        a.route = "unmatched";
        a.method = "POST";
        t.tv_sec++;
        t.tv_nsec = 0;
        n = log_format_access(buf, sizeof(buf), &cache, &t, LOG_ERROR, &a);
        buf[n] = '\0';
        ck_assert_str_eq(buf, "{\"ts\":\"2023-11-14T22:13:21.000000Z\",\"level\":\"error\","
                              "\"event\":\"request\","
                              "\"request_id\":\"0b9e4f3a-2c1d-4e5f-8a7b-6c5d4e3f2a1b\","
                              "\"method\":\"POST\",\"route\":\"unmatched\","
                              "\"status\":503,\"duration_us\":0,"
                              "\"bytes\":18446744073709551615}\n");
}
END_TEST

START_TEST(access_line_longer_than_the_buffer_is_cut_and_ends_in_a_newline)
{
        struct log_ts_cache cache = { 0 };
        struct timespec t = { .tv_sec = 1700000000, .tv_nsec = 0 };
        char buf[41];
        size_t n;

        n = log_format_access(buf, 40, &cache, &t, LOG_INFO, &sample);
        ck_assert_uint_eq(n, 40);
        buf[n] = '\0';
        ck_assert_str_eq(buf, "{\"ts\":\"2023-11-14T22:13:20.000000Z\",\"le\n");
}
END_TEST

/* ---- the rings ---- */

START_TEST(lines_of_one_thread_reach_the_output_whole_and_in_order)
{
        enum { N = 1000 }; /* about 210 KB: fits the 256 KiB ring, none dropped */
        static char out[N * 300];
        int p[2];
        char want[64];
        const char *at = out;

        ck_assert_int_eq(pipe(p), 0);
        log_set_output(p[1]);
        log_set_level(LOG_INFO);
        for (int i = 0; i < N; i++) {
                struct log_access a = sample;

                a.duration_us = i;
                log_access(&a);
                if (i % 500 == 0)
                        log_msg(LOG_WARN, "marker", "after %d", i);
        }
        /* The reader keeps up while the logger writes (a pipe holds 64 KiB). */
        ck_assert_uint_gt(read_all(p[0], out, sizeof(out)), 0);
        ck_assert_uint_eq(count_lines(out), N + N / 500);
        for (int i = 0; i < N; i++) {
                snprintf(want, sizeof(want), "\"duration_us\":%d,", i);
                at = strstr(at, want);
                ck_assert_msg(at != NULL, "line %d missing or out of order", i);
        }
        ck_assert_ptr_nonnull(strstr(out, "\"level\":\"warn\",\"event\":\"marker\","
                                          "\"msg\":\"after 500\"}\n"));
        ck_assert_uint_eq(log_dropped_total(), 0);
}
END_TEST

START_TEST(full_ring_behind_a_blocked_writer_drops_and_counts_without_blocking)
{
        enum { N = 5000 };
        static char out[N * 300];
        int p[2];
        double t0, took;
        size_t got;

        ck_assert_int_eq(pipe(p), 0);
        /* Nobody reads p[0] until the end: the logger blocks in write(2). */
        (void)fcntl(p[1], F_SETPIPE_SZ, 4096);
        log_set_output(p[1]);
        log_set_ring_size(1024);
        log_set_level(LOG_INFO);
        t0 = now_s();
        for (int i = 0; i < N; i++)
                log_access(&sample);
        took = now_s() - t0;
        ck_assert_msg(took < 2.0, "logging %d lines took %.3f s: the caller blocked", N, took);
        ck_assert_uint_gt(log_dropped_total(), 0);
        /* Every line is either written or counted as dropped. */
        got = read_all(p[0], out, sizeof(out));
        ck_assert(log_flush(2000));
        got += read_all(p[0], out + got, sizeof(out) - got);
        ck_assert_uint_eq(count_lines(out) + log_dropped_total(), N);
}
END_TEST

START_TEST(lines_logged_before_exit_are_all_written_at_exit)
{
        enum { N = 1000 }; /* fits the ring: none dropped */
        static char out[N * 300];
        int p[2], status;
        pid_t pid;

        ck_assert_int_eq(pipe(p), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                close(p[0]);
                log_set_output(p[1]);
                log_set_level(LOG_INFO);
                for (int i = 0; i < N; i++)
                        log_access(&sample);
                log_msg(LOG_INFO, "stopped", "last line");
                exit(0); /* no flush here: the atexit handler must write them */
        }
        close(p[1]);
        read_all(p[0], out, sizeof(out));
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ck_assert_uint_eq(count_lines(out), N + 1);
        ck_assert_ptr_nonnull(strstr(out, "\"msg\":\"last line\"}\n"));
}
END_TEST

static Suite *
log_suite(void)
{
        Suite *s = suite_create("log");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, ts_cache_formats_each_second_and_microsecond_exactly);
        tcase_add_test(tc, access_line_is_byte_for_byte_the_documented_json);
        tcase_add_test(tc, access_line_longer_than_the_buffer_is_cut_and_ends_in_a_newline);
        tcase_add_test(tc, lines_of_one_thread_reach_the_output_whole_and_in_order);
        tcase_add_test(tc, full_ring_behind_a_blocked_writer_drops_and_counts_without_blocking);
        tcase_add_test(tc, lines_logged_before_exit_are_all_written_at_exit);
        suite_add_tcase(s, tc);
        return s;
}

int
main(void)
{
        return check_run(log_suite());
}
