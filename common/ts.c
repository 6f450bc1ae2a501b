/* Timestamp parsing and formatting (see ts.h).
 *
 * Calendar arithmetic is done here with Howard Hinnant's days-from-civil
 * algorithms (proleptic Gregorian, exact for any int64 day count) instead of
 * timegm/mktime, which depend on the environment and on time_t's width.
 * JSON numbers are read from their literal text (jnum_plain), so no
 * floating-point arithmetic touches a time. */
#include "common/ts.h"

#include "common/jnum.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "common/dec.h"

#define US_PER_SEC 1000000LL
#define US_PER_DAY (86400LL * US_PER_SEC)
#define SEC_MAX (TS_MAX_US / US_PER_SEC)
#define SEC_MIN (TS_MIN_US / US_PER_SEC)

/* The broken-down fields of an RFC 3339 date-time, before validation. */
struct ts_fields {
        int year, month, day, hour, minute, second;
        int64_t frac_us;
        int offset_min; /* local time minus UTC */
};

/* Days from 1970-01-01 to y-m-d, proleptic Gregorian. */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
        int64_t era;
        unsigned yoe, doy, doe;

        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = (unsigned)(y - era * 400);
        doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t)doe - 719468;
}

/* The inverse of days_from_civil. */
static void
civil_from_days(int64_t z, int64_t *ret_y, unsigned *ret_m, unsigned *ret_d)
{
        int64_t era;
        unsigned doe, yoe, doy, mp;

        z += 719468;
        era = (z >= 0 ? z : z - 146096) / 146097;
        doe = (unsigned)(z - era * 146097);
        yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        mp = (5 * doy + 2) / 153;
        *ret_d = doy - (153 * mp + 2) / 5 + 1;
        *ret_m = mp < 10 ? mp + 3 : mp - 9;
        *ret_y = (int64_t)yoe + era * 400 + (*ret_m <= 2);
}

static bool
is_leap(int y)
{
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int y, int m)
{
        static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

        return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Reads exactly n decimal digits at s; false if any is not a digit. */
static bool
read_digits(const char *s, size_t n, int *ret)
{
        int v = 0;

        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (s[i] - '0');
        }
        *ret = v;
        return true;
}

/* Reads "YYYY-MM-DD?HH:MM:SS" (19 bytes, len >= 19 checked by the caller). */
static bool
read_date_time(const char *s, struct ts_fields *f)
{
        return read_digits(s, 4, &f->year) && s[4] == '-' && read_digits(s + 5, 2, &f->month) &&
               s[7] == '-' && read_digits(s + 8, 2, &f->day) &&
               (s[10] == 'T' || s[10] == 't' || s[10] == ' ') && read_digits(s + 11, 2, &f->hour) &&
               s[13] == ':' && read_digits(s + 14, 2, &f->minute) && s[16] == ':' &&
               read_digits(s + 17, 2, &f->second);
}

/* Reads ".digits" at s[*pos], if present, truncated to microseconds. */
static bool
read_fraction(const char *s, size_t len, size_t *pos, int64_t *ret_us)
{
        size_t i = *pos + 1, start = i;
        int64_t us = 0;

        *ret_us = 0;
        if (*pos >= len || s[*pos] != '.')
                return true;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
                if (i - start < 6)
                        us = us * 10 + (s[i] - '0');
        if (i == start)
                return false;
        for (size_t n = i - start; n < 6; n++)
                us *= 10;
        *ret_us = us;
        *pos = i;
        return true;
}

/* Reads the zone, which must end the text: 'Z', 'z' or +HH:MM / -HH:MM. */
static bool
read_zone(const char *s, size_t len, size_t pos, int *ret_offset_min)
{
        int h, m;

        if (len - pos == 1 && (s[pos] == 'Z' || s[pos] == 'z')) {
                *ret_offset_min = 0;
                return true;
        }
        if (len - pos != 6 || (s[pos] != '+' && s[pos] != '-') ||
            !read_digits(s + pos + 1, 2, &h) || s[pos + 3] != ':' ||
            !read_digits(s + pos + 4, 2, &m) || h >= 24 || m >= 60)
                return false;
        *ret_offset_min = (s[pos] == '-' ? -1 : 1) * (h * 60 + m);
        return true;
}

static bool
fields_valid(const struct ts_fields *f)
{
        return f->year >= 1 && f->month >= 1 && f->month <= 12 && f->day >= 1 &&
               f->day <= days_in_month(f->year, f->month) && f->hour < 24 && f->minute < 60 &&
               f->second < 60;
}

bool
ts_parse(const char *s, size_t len, int64_t *ret_us)
{
        struct ts_fields f;
        size_t pos = 19;
        int64_t secs, us;

        if (len < 20 || !read_date_time(s, &f) || !read_fraction(s, len, &pos, &f.frac_us) ||
            !read_zone(s, len, pos, &f.offset_min) || !fields_valid(&f))
                return false;
        secs = days_from_civil(f.year, (unsigned)f.month, (unsigned)f.day) * 86400 + f.hour * 3600 +
               f.minute * 60 + f.second - f.offset_min * 60LL;
        us = secs * US_PER_SEC + f.frac_us;
        if (us < TS_MIN_US || us > TS_MAX_US)
                return false;
        *ret_us = us;
        return true;
}

bool
ts_parse_epoch(const char *s, size_t len, int64_t *ret_us)
{
        bool neg = len > 0 && s[0] == '-';
        size_t i = neg ? 1 : 0, start = i;
        int64_t secs = 0, frac_us = 0, us;

        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
                secs = secs * 10 + (s[i] - '0');
                if (secs > SEC_MAX) /* before the next multiply can wrap */
                        return false;
        }
        if (i == start || !read_fraction(s, len, &i, &frac_us) || i != len)
                return false;
        us = secs * US_PER_SEC + frac_us;
        if (neg)
                us = -us;
        if (us < TS_MIN_US || us > TS_MAX_US)
                return false;
        *ret_us = us;
        return true;
}

bool
ts_from_json_number(const char *t, size_t len, int64_t *ret_us)
{
        char plain[JNUM_PLAIN_BUFSZ];
        size_t n;

        return jnum_plain(t, len, 6, true, plain, &n) == JNUM_OK &&
               ts_parse_epoch(plain, n, ret_us);
}

bool
ts_parse_any(const char *s, size_t len, int64_t *ret_us)
{
        return ts_parse(s, len, ret_us) || ts_parse_epoch(s, len, ret_us);
}

/* Writes v as exactly width digits, zero-padded (v must fit). */
static void
put_digits(char *out, uint64_t v, int width)
{
        for (int i = width - 1; i >= 0; i--) {
                out[i] = (char)('0' + v % 10);
                v /= 10;
        }
}

size_t
ts_format(int64_t us, char buf[TS_BUFSZ])
{
        /* Floor division, so times before 1970 count back from a midnight. */
        int64_t days = us / US_PER_DAY;
        int64_t in_day = us % US_PER_DAY;
        int64_t year;
        unsigned month, day, secs;
        int len;

        if (in_day < 0) {
                in_day += US_PER_DAY;
                days--;
        }
        civil_from_days(days, &year, &month, &day);
        secs = (unsigned)(in_day / US_PER_SEC);
        if (year < 0 || year > 9999) {
                len = snprintf(buf, TS_BUFSZ, "%04lld-%02u-%02uT%02u:%02u:%02u.%06lldZ",
                               (long long)year, month, day, secs / 3600, secs / 60 % 60, secs % 60,
                               (long long)(in_day % US_PER_SEC));
                return len < 0 ? 0 : (size_t)len;
        }
        /* The common case by hand: this runs for every timestamp of every
         * response. "YYYY-MM-DDTHH:MM:SS.ffffffZ" is 27 characters. */
        put_digits(buf, (uint64_t)year, 4);
        buf[4] = '-';
        put_digits(buf + 5, month, 2);
        buf[7] = '-';
        put_digits(buf + 8, day, 2);
        buf[10] = 'T';
        put_digits(buf + 11, secs / 3600, 2);
        buf[13] = ':';
        put_digits(buf + 14, secs / 60 % 60, 2);
        buf[16] = ':';
        put_digits(buf + 17, secs % 60, 2);
        buf[19] = '.';
        put_digits(buf + 20, (uint64_t)(in_day % US_PER_SEC), 6);
        buf[26] = 'Z';
        buf[27] = '\0';
        return 27;
}

int64_t
ts_now_us(void)
{
        struct timespec now;

        clock_gettime(CLOCK_REALTIME, &now);
        return (int64_t)now.tv_sec * US_PER_SEC + now.tv_nsec / 1000;
}

int64_t
ts_monotonic_us(void)
{
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        return (int64_t)t.tv_sec * US_PER_SEC + t.tv_nsec / 1000;
}

int64_t
ts_monotonic_ms(void)
{
        return ts_monotonic_us() / 1000;
}

void
ts_sleep_ms(long ms)
{
        struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

        while (nanosleep(&t, &t) != 0 && errno == EINTR)
                ;
}
