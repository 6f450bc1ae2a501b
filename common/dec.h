/* Exact decimals for prices, quantities, PnL and balances.
 *
 * A decimal is a plain int64_t counting units of 1e-8, so 1.5 is 150000000.
 * Every valid value lies within +-INT64_MAX units (92233720368.54775807);
 * INT64_MIN is never produced, so negating a value is always safe. Values are
 * never touched by floating point: a JSON number is read from its literal
 * text (dec_from_json_number). Where a division cannot be
 * avoided the result is rounded half-to-even at 8 fractional digits, once.
 *
 * An order's running sum of price * quantity (its notional) can outgrow
 * int64, so it is kept exactly as a __int128 counting units of 1e-16. */
#ifndef TRADESTORE_DEC_H
#define TRADESTORE_DEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEC_SCALE 100000000LL
#define DEC_BUFSZ 32
#define DEC128_BUFSZ 48

enum dec_status {
        DEC_OK = 0,
        DEC_ESYNTAX,
        DEC_EPRECISION, /* a non-zero digit past the 8th fractional one */
        DEC_ERANGE,     /* |value| > INT64_MAX units */
};

/* Parses len bytes of s (no NUL needed): optional '-', one or more digits,
 * optionally '.' and one or more digits. Anything else ("+1", ".5", "1.",
 * "1e2", " 1", "") is DEC_ESYNTAX. Fractional zeros past the 8th digit are
 * accepted ("1.100000000" is 1.1); "-0" is 0. Writes *ret only on DEC_OK. */
enum dec_status dec_parse(const char *s, size_t len, int64_t *ret);

/* Converts a JSON number from its literal text (len bytes, RFC 8259 form:
 * exponents allowed, "9.223372036799999999e10" is 92233720367.99999999)
 * with dec_parse's rules: a non-zero digit past the 8th fractional one is
 * DEC_EPRECISION (1e-9, 1.5e-8), a value past +-INT64_MAX units is
 * DEC_ERANGE, anything not a JSON number literal is DEC_ESYNTAX. Never
 * goes through a double. Writes *ret only on DEC_OK. */
enum dec_status dec_from_json_number(const char *t, size_t len, int64_t *ret);

/* Writes the canonical text of v into buf and returns its length: no
 * exponent, no '+', no trailing fractional zeros, "0" for zero ("-1.5",
 * "0.00000001", "100"). Defined for every int64_t, INT64_MIN included. */
size_t dec_format(int64_t v, char buf[DEC_BUFSZ]);

/* a + b. False when the result leaves +-INT64_MAX; *ret is then untouched. */
bool dec_add(int64_t a, int64_t b, int64_t *ret);

/* a - b. False when the result leaves +-INT64_MAX; *ret is then untouched. */
bool dec_sub(int64_t a, int64_t b, int64_t *ret);

/* The decimal product a * b rounded half-to-even at 8 digits. False on
 * overflow; *ret is then untouched. */
bool dec_mul(int64_t a, int64_t b, int64_t *ret);

/* The decimal quotient a / b rounded half-to-even at 8 digits. False when b
 * is 0 or on overflow; *ret is then untouched. */
bool dec_div(int64_t a, int64_t b, int64_t *ret);

/* Volume-weighted average (p1*q1 + p2*q2) / (q1 + q2), computed exactly and
 * rounded half-to-even once. False when a quantity is negative, both are 0,
 * or the result overflows; *ret is then untouched. */
bool dec_vwap(int64_t p1, int64_t q1, int64_t p2, int64_t q2, int64_t *ret);

/* Parses a NUL-terminated decimal integer: optional '-', one or more digits,
 * |value| <= 2^127 - 1. For notionals stored as text. Writes *ret only on
 * success. */
__extension__ bool dec128_parse(const char *s, __int128 *ret);

/* Writes the decimal integer text of v into buf and returns its length. */
__extension__ size_t dec128_format(__int128 v, char buf[DEC128_BUFSZ]);

/* *ret = acc + price * qty, exactly, in units of 1e-16. False when the sum
 * leaves +-(2^127 - 1); *ret is then untouched. */
__extension__ bool dec_notional_add(__int128 acc, int64_t price, int64_t qty, __int128 *ret);

/* The average price notional / qty (notional in 1e-16 units, qty in 1e-8
 * units, so the quotient is in 1e-8 units) rounded half-to-even. False when
 * qty is 0 or the result leaves +-INT64_MAX; *ret is then untouched. */
__extension__ bool dec_avg_from_notional(__int128 notional, int64_t qty, int64_t *ret);

#endif
