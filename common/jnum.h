/* JSON number literals read from their text, never through a double.
 *
 * A JSON number (RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)
 * may carry any number of digits and any exponent. The exact decimal and
 * timestamp parsers take plain text ("-?D+(\.D+)?"), so a literal is first
 * rewritten here into that form: 9.223372036799999999e10 becomes
 * "92233720367.99999999", 12345e-4 becomes "1.2345". The rewrite only moves
 * the decimal point; it never rounds. */
#ifndef TRADESTORE_JNUM_H
#define TRADESTORE_JNUM_H

#include <stdbool.h>
#include <stddef.h>

/* Integer digits a plain text may have: more than any exact value we keep
 * (decimals have 11, epoch seconds 12). */
#define JNUM_INT_DIGITS_MAX 20
/* Fraction digits a caller may ask for. */
#define JNUM_FRAC_DIGITS_MAX 16
/* '-', the integer digits, '.', the fraction digits, NUL. */
#define JNUM_PLAIN_BUFSZ (1 + JNUM_INT_DIGITS_MAX + 1 + JNUM_FRAC_DIGITS_MAX + 1)

enum jnum_status {
        JNUM_OK = 0,
        JNUM_SYNTAX,    /* not a JSON number literal */
        JNUM_PRECISION, /* a non-zero digit past frac_max (when not truncating) */
        JNUM_RANGE,     /* more than JNUM_INT_DIGITS_MAX integer digits */
};

/* The length of the JSON number literal at the start of s (len bytes), or
 * 0 when s does not start with one. The literal may be followed by anything;
 * the caller decides whether what follows may end a token. */
size_t jnum_scan(const char *s, size_t len);

/* Rewrites the literal t (exactly len bytes, nothing around it) as plain
 * text into out: '-' when negative and not zero, the integer digits without
 * leading zeros ("0" when none), then '.' and the fraction digits up to the
 * last non-zero one, at most frac_max (<= JNUM_FRAC_DIGITS_MAX) of them.
 * Non-zero digits past frac_max are dropped when truncate, else
 * JNUM_PRECISION. Precision is judged before range, as dec_parse does.
 * Writes out and *ret_len only on JNUM_OK. */
enum jnum_status jnum_plain(const char *t, size_t len, int frac_max, bool truncate,
                            char out[JNUM_PLAIN_BUFSZ], size_t *ret_len);

/* Calls put(cls, piece, n) with the canonical form of the literal t (len
 * bytes, a valid literal): "0" for any zero, else an optional '-', the
 * significant digits without leading or trailing zeros, 'e' and the power of
 * ten that makes them the value ("1e-1" for 0.10 and 1e-1 alike). Two
 * literals are the same number exactly when their canonical forms are equal.
 * Exponents beyond +-10^15 are clamped: literals that far out compare as
 * equal when they differ only there. */
void jnum_canonical(const char *t, size_t len, void (*put)(void *cls, const char *s, size_t n),
                    void *cls);

#endif
