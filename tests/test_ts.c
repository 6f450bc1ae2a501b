/* Unit tests for common/ts: RFC 3339 and epoch-seconds parsing, JSON
 * numbers, formatting (before 1970 too) and the calendar arithmetic, which
 * is checked against glibc's gmtime_r as an independent oracle. */
#include "common/ts.h"

#include <check.h>

#include "check_run.h"
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define SENTINEL 4242424242LL

struct ts_case {
        const char *text;
        bool ok;
        int64_t us; /* checked when ok */
};

/* ---- ts_parse ---- */

static const struct ts_case rfc3339_cases[] = {
        { "1970-01-01T00:00:00Z", true, 0 },
        { "2026-11-26T15:00:00.123456Z", true, 1795705200123456 },
        { "2026-11-26t15:00:00.123456z", true, 1795705200123456 },
        { "2026-11-26 15:00:00.123456Z", true, 1795705200123456 },
        { "2026-11-26T15:00:00.123456+00:00", true, 1795705200123456 },
        { "2026-11-26T15:00:00.123456-00:00", true, 1795705200123456 },
        { "2026-11-26T20:30:00+05:30", true, 1795705200000000 },
        /* -08:00 across midnight and a year: 2027-01-01T07:30:00Z. */
        { "2026-12-31T23:30:00-08:00", true, 1798788600000000 },
        /* +05:30 back across a year: 2026-12-31T19:30:00Z. */
        { "2027-01-01T01:00:00+05:30", true, 1798745400000000 },
        { "2026-03-01T00:00:00+23:59", true, 1772236860000000 },
        { "2026-03-01T00:00:00-23:59", true, 1772409540000000 },
        { "2024-02-29T00:00:00Z", true, 1709164800000000 },
        { "2000-02-29T12:34:56Z", true, 951827696000000 },
        { "1900-03-01T00:00:00Z", true, -2203891200000000 },
        { "1969-07-20T20:17:40Z", true, -14182940000000 },
        { "1969-12-31T23:59:59.999999Z", true, -1 },
        { "1969-12-31T23:59:59.9999999Z", true, -1 },
        { "2026-11-26T15:00:00.1234569Z", true, 1795705200123456 },
        { "2026-11-26T15:00:00.123456999999999999999Z", true, 1795705200123456 },
        { "2026-11-26T15:00:00.1Z", true, 1795705200100000 },
        { "2026-11-26T15:00:00.000001Z", true, 1795705200000001 },
        { "0001-01-01T00:00:00Z", true, TS_MIN_US },
        { "9999-12-31T23:59:59.999999999Z", true, TS_MAX_US },
        { "0001-01-01T00:00:00+00:01", false, 0 }, /* before year 1 in UTC */
        { "9999-12-31T23:59:59-00:01", false, 0 }, /* after 9999 in UTC */
        { "0000-01-01T00:00:00Z", false, 0 },
        { "2023-02-29T00:00:00Z", false, 0 },
        { "1900-02-29T00:00:00Z", false, 0 },
        { "2026-04-31T00:00:00Z", false, 0 },
        { "2026-01-32T00:00:00Z", false, 0 },
        { "2026-01-00T00:00:00Z", false, 0 },
        { "2026-13-01T00:00:00Z", false, 0 },
        { "2026-00-01T00:00:00Z", false, 0 },
        { "2026-11-26T24:00:00Z", false, 0 },
        { "2026-11-26T23:60:00Z", false, 0 },
        { "2026-12-31T23:59:60Z", false, 0 }, /* no leap seconds */
        { "2026-11-26T15:00:00+24:00", false, 0 },
        { "2026-11-26T15:00:00+05:60", false, 0 },
        { "2026-11-26T15:00:00+0530", false, 0 },
        { "2026-11-26T15:00:00+05:3", false, 0 },
        { "2026-11-26T15:00:00+05:300", false, 0 },
        { "2026-11-26T15:00:00", false, 0 },   /* no zone */
        { "2026-11-26T15:00:00.Z", false, 0 }, /* empty fraction */
        { "2026-11-26T15:00:00,5Z", false, 0 },
        { "2026-11-26T15:00:00.12a3Z", false, 0 },
        { "2026-11-26T15:00:00ZZ", false, 0 },
        { "2026-11-26T15:00:00Z ", false, 0 },
        { " 2026-11-26T15:00:00Z", false, 0 },
        { "2026-11-26T15:00Z", false, 0 },
        { "2026-11-26X15:00:00Z", false, 0 },
        { "2026-11-26", false, 0 },
        { "2026-1-26T15:00:00Z", false, 0 },
        { "26-11-26T15:00:00Z", false, 0 },
        { "+2026-11-26T15:00:00Z", false, 0 },
        { "2026/11/26T15:00:00Z", false, 0 },
        { "2026-11-26T15:00:00UTC", false, 0 },
        { "1764169200", false, 0 },
        { "", false, 0 },
};

START_TEST(parse_rfc3339_table)
{
        const struct ts_case *c = &rfc3339_cases[_i];
        int64_t us = SENTINEL;

        ck_assert_msg(ts_parse(c->text, strlen(c->text), &us) == c->ok, "\"%s\"", c->text);
        ck_assert_msg(us == (c->ok ? c->us : SENTINEL), "\"%s\": got %lld", c->text, (long long)us);
}
END_TEST

START_TEST(parse_reads_exactly_len_bytes)
{
        const char *s = "2026-11-26T15:00:00ZJUNK";
        int64_t us = SENTINEL;

        ck_assert(ts_parse(s, 20, &us));
        ck_assert_int_eq(us, 1795705200000000);
        ck_assert(!ts_parse(s, 19, &us));
        ck_assert(!ts_parse(s, strlen(s), &us));
        ck_assert_int_eq(us, 1795705200000000);
}
END_TEST

/* ---- ts_format ---- */

static const struct format_case {
        int64_t us;
        const char *text;
} format_cases[] = {
        { 0, "1970-01-01T00:00:00.000000Z" },
        { 1, "1970-01-01T00:00:00.000001Z" },
        { -1, "1969-12-31T23:59:59.999999Z" },
        { -86400000000, "1969-12-31T00:00:00.000000Z" },
        { -86400000001, "1969-12-30T23:59:59.999999Z" },
        { 1764169200123456, "2025-11-26T15:00:00.123456Z" },
        { 951827696000000, "2000-02-29T12:34:56.000000Z" },
        { -2203891200000000, "1900-03-01T00:00:00.000000Z" },
        { -14182940000000, "1969-07-20T20:17:40.000000Z" },
        { TS_MIN_US, "0001-01-01T00:00:00.000000Z" },
        { TS_MAX_US, "9999-12-31T23:59:59.999999Z" },
        { INT64_MAX, "294247-01-10T04:00:54.775807Z" },
        { INT64_MIN, "-290308-12-21T19:59:05.224192Z" },
};

START_TEST(format_is_utc_with_six_digits_table)
{
        const struct format_case *c = &format_cases[_i];
        char buf[TS_BUFSZ];
        size_t len = ts_format(c->us, buf);

        ck_assert_str_eq(buf, c->text);
        ck_assert_uint_eq(len, strlen(c->text));
}
END_TEST

START_TEST(format_then_parse_round_trips)
{
        const struct ts_case *c = &rfc3339_cases[_i];
        char buf[TS_BUFSZ];
        int64_t back;

        if (!c->ok)
                return;
        ts_format(c->us, buf);
        ck_assert_msg(ts_parse(buf, strlen(buf), &back), "%s", buf);
        ck_assert_int_eq(back, c->us);
}
END_TEST

START_TEST(format_agrees_with_gmtime_over_the_whole_range)
{
        uint64_t x = 0x9e3779b97f4a7c15ULL;
        const int64_t span = TS_MAX_US - TS_MIN_US;

        for (int i = 0; i < 20000; i++) {
                char buf[TS_BUFSZ], want[TS_BUFSZ + 16];
                int64_t us, frac, back;
                time_t secs;
                struct tm tm;

                x ^= x << 13; /* xorshift64: a fixed, repeatable spread */
                x ^= x >> 7;
                x ^= x << 17;
                us = TS_MIN_US + (int64_t)(x % (uint64_t)span);
                frac = (us % 1000000 + 1000000) % 1000000; /* floor, not C's % */
                secs = (time_t)((us - frac) / 1000000);
                if (gmtime_r(&secs, &tm) == NULL)
                        ck_abort_msg("gmtime_r(%lld)", (long long)secs);
                snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, (int)frac);
                ts_format(us, buf);
                /* Assert only on failure: each Check assertion costs a pipe
                 * write in fork mode. */
                if (strcmp(buf, want) != 0)
                        ck_abort_msg("%lld: got %s, want %s", (long long)us, buf, want);
                if (!ts_parse(buf, strlen(buf), &back) || back != us)
                        ck_abort_msg("%s does not parse back to %lld", buf, (long long)us);
        }
}
END_TEST

/* ---- epoch seconds ---- */

static const struct ts_case epoch_cases[] = {
        { "0", true, 0 },
        { "-0", true, 0 },
        { "007", true, 7000000 },
        { "1764169200", true, 1764169200000000 },
        { "1764169200.25", true, 1764169200250000 },
        { "1764169200.000001", true, 1764169200000001 },
        { "1.1234569", true, 1123456 },   /* truncated */
        { "-1.1234569", true, -1123456 }, /* truncated toward zero */
        { "-1.5", true, -1500000 },
        { "0.0000009", true, 0 },
        { "253402300799.999999", true, TS_MAX_US },
        { "253402300799.9999999", true, TS_MAX_US },
        { "253402300800", false, 0 },
        { "-62135596800", true, TS_MIN_US },
        { "-62135596800.000001", false, 0 },
        { "99999999999999999999999999", false, 0 },
        { "", false, 0 },
        { "-", false, 0 },
        { "--1", false, 0 },
        { "+1", false, 0 },
        { ".5", false, 0 },
        { "1.", false, 0 },
        { "1e9", false, 0 },
        { " 1", false, 0 },
        { "1 ", false, 0 },
        { "0x10", false, 0 },
        { "NaN", false, 0 },
        { "1.2.3", false, 0 },
};

START_TEST(parse_epoch_seconds_table)
{
        const struct ts_case *c = &epoch_cases[_i];
        int64_t us = SENTINEL;

        ck_assert_msg(ts_parse_epoch(c->text, strlen(c->text), &us) == c->ok, "\"%s\"", c->text);
        ck_assert_msg(us == (c->ok ? c->us : SENTINEL), "\"%s\": got %lld", c->text, (long long)us);
}
END_TEST

/* A JSON number of epoch seconds, read from its literal text. */
static const struct ts_case json_cases[] = {
        { "1764169200.25", true, 1764169200250000 },
        { "1764169200.123456", true, 1764169200123456 },
        { "1764169200.1234569", true, 1764169200123456 },
        { "1.7641692001234569e9", true, 1764169200123456 },
        { "1764169200123456.9e-6", true, 1764169200123456 },
        { "17641692001234569999999999e-16", true, 1764169200123456 },
        { "1764169200", true, 1764169200000000 },
        { "1764169200.0", true, 1764169200000000 },
        { "0.1", true, 100000 },
        { "-0.5", true, -500000 },
        { "-0.0", true, 0 },
        { "-0.0000001", true, 0 },
        { "1e-7", true, 0 },
        { "1e-300", true, 0 },
        { "1.5e9", true, 1500000000000000 },
        { "-1", true, -1000000 },
        { "253402300799", true, 253402300799000000 },
        { "253402300799.9999999", true, TS_MAX_US },
        { "-62135596800", true, TS_MIN_US },
        { "-62135596800.0000001", true, TS_MIN_US },
        { "-62135596801", false, 0 },
        { "253402300800", false, 0 },
        { "1e12", false, 0 },
        { "-1e12", false, 0 },
        { "1e300", false, 0 },
        { "1e400", false, 0 },
        { "123456789012345678901234567890", false, 0 },
        { "+1", false, 0 },
        { ".5", false, 0 },
        { "1e", false, 0 },
        { "NaN", false, 0 },
        { "", false, 0 },
};

START_TEST(from_json_number_reads_the_literal_and_truncates_table)
{
        const struct ts_case *c = &json_cases[_i];
        int64_t us = SENTINEL;

        ck_assert_msg(ts_from_json_number(c->text, strlen(c->text), &us) == c->ok, "%s", c->text);
        ck_assert_msg(us == (c->ok ? c->us : SENTINEL), "%s: got %lld", c->text, (long long)us);
}
END_TEST

static const struct ts_case any_cases[] = {
        { "2026-11-26T20:30:00.5+05:30", true, 1795705200500000 },
        { "1764169200.25", true, 1764169200250000 },
        { "2026", true, 2026000000 }, /* a bare number is epoch seconds */
        { "-1", true, -1000000 },
        { "2026-11-26", false, 0 },
        { "yesterday", false, 0 },
        { "1e9", false, 0 },
        { "", false, 0 },
};

START_TEST(parse_any_takes_rfc3339_or_epoch_text_table)
{
        const struct ts_case *c = &any_cases[_i];
        int64_t us = SENTINEL;

        ck_assert_msg(ts_parse_any(c->text, strlen(c->text), &us) == c->ok, "\"%s\"", c->text);
        ck_assert_int_eq(us, c->ok ? c->us : SENTINEL);
}
END_TEST

/* Against CLOCK_REALTIME itself: time() reads glibc's coarse clock, which
 * may still show the last second just after a second begins (this test
 * failed about once in six runs when it used time()). */
static int64_t
realtime_us(void)
{
        struct timespec t;

        clock_gettime(CLOCK_REALTIME, &t);
        return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

START_TEST(now_is_the_wall_clock_in_microseconds)
{
        int64_t before = realtime_us();
        int64_t now = ts_now_us();
        int64_t after = realtime_us();

        ck_assert_int_ge(now, before);
        ck_assert_int_le(now, after);
}
END_TEST

static Suite *
ts_suite(void)
{
        Suite *s = suite_create("ts");
        TCase *tc = tcase_create("core");

        tcase_add_loop_test(tc, parse_rfc3339_table, 0, N_ELEMS(rfc3339_cases));
        tcase_add_test(tc, parse_reads_exactly_len_bytes);
        tcase_add_loop_test(tc, format_is_utc_with_six_digits_table, 0, N_ELEMS(format_cases));
        tcase_add_loop_test(tc, format_then_parse_round_trips, 0, N_ELEMS(rfc3339_cases));
        tcase_add_test(tc, format_agrees_with_gmtime_over_the_whole_range);
        tcase_add_loop_test(tc, parse_epoch_seconds_table, 0, N_ELEMS(epoch_cases));
        tcase_add_loop_test(tc, from_json_number_reads_the_literal_and_truncates_table, 0,
                            N_ELEMS(json_cases));
        tcase_add_loop_test(tc, parse_any_takes_rfc3339_or_epoch_text_table, 0, N_ELEMS(any_cases));
        tcase_add_test(tc, now_is_the_wall_clock_in_microseconds);
        suite_add_tcase(s, tc);
        return s;
}

int
main(void)
{
        return check_run(ts_suite());
}
