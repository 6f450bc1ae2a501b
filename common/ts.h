/* Timestamps: int64_t microseconds since the Unix epoch, UTC.
 *
 * Requests may carry RFC 3339 text with any offset or seconds since the
 * epoch (text or a JSON number); responses always carry RFC 3339 UTC text
 * with six fractional digits. Digits finer than a microsecond are dropped,
 * never rounded. Every parser accepts only instants from
 * 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z, so whatever was
 * accepted formats back as a four-digit-year RFC 3339 string. */
#ifndef TRADESTORE_TS_H
#define TRADESTORE_TS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TS_BUFSZ 32
#define TS_MIN_US (-62135596800000000LL) /* 0001-01-01T00:00:00Z */
#define TS_MAX_US 253402300799999999LL   /* 9999-12-31T23:59:59.999999Z */

/* Parses len bytes of s (no NUL needed) as an RFC 3339 date-time:
 * YYYY-MM-DD, 'T', 't' or ' ', HH:MM:SS, optionally '.' and one or more
 * digits, then 'Z', 'z' or +HH:MM / -HH:MM. Checks the calendar (leap
 * years), hour < 24, minute < 60, second < 60 (no leap second). Fractional
 * digits past the sixth are dropped. Writes *ret_us only on success. */
bool ts_parse(const char *s, size_t len, int64_t *ret_us);

/* Parses len bytes of s as seconds since the epoch: optional '-', digits,
 * optionally '.' and digits; no exponent, no whitespace. Exact: digits past
 * the sixth fractional one are dropped (so the value moves toward zero).
 * Writes *ret_us only on success. */
bool ts_parse_epoch(const char *s, size_t len, int64_t *ret_us);

/* Converts a JSON number of epoch seconds from its literal text (len
 * bytes, RFC 8259 form, exponents allowed): digits past the microsecond are
 * dropped, as ts_parse_epoch does, whatever the literal's form
 * (1.7641692001234569e9 is 1764169200123456 us). False for anything else
 * and for out-of-range values; writes *ret_us only on success. */
bool ts_from_json_number(const char *t, size_t len, int64_t *ret_us);

/* Parses a query parameter: RFC 3339 text or epoch seconds text. Writes
 * *ret_us only on success. */
bool ts_parse_any(const char *s, size_t len, int64_t *ret_us);

/* Writes "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC, always six fractional digits)
 * into buf and returns its length. Defined for every int64_t; outside
 * TS_MIN_US..TS_MAX_US the year is not four digits, but still fits buf. */
size_t ts_format(int64_t us, char buf[TS_BUFSZ]);

/* The current wall-clock time (CLOCK_REALTIME) in microseconds. */
int64_t ts_now_us(void);

/* CLOCK_MONOTONIC in milliseconds and microseconds: for durations and
 * deadlines, which a wall-clock step must not stretch or shorten. */
int64_t ts_monotonic_ms(void);
int64_t ts_monotonic_us(void);

/* Sleeps ms milliseconds, resuming after a signal. */
void ts_sleep_ms(long ms);

#endif
