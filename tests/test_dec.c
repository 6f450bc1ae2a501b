/* Unit tests for common/dec: exact decimal parsing, formatting, arithmetic
 * and rounding. Rules are tables; every row names the edge it pins down. */
#include "common/dec.h"

#include <check.h>

#include "check_run.h"
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define SENTINEL 4242424242LL

static const char *const status_names[] = {
        [DEC_OK] = "DEC_OK",
        [DEC_ESYNTAX] = "DEC_ESYNTAX",
        [DEC_EPRECISION] = "DEC_EPRECISION",
        [DEC_ERANGE] = "DEC_ERANGE",
};

/* ---- dec_parse ---- */

static const struct parse_case {
        const char *text;
        enum dec_status status;
        int64_t units; /* checked when status is DEC_OK */
} parse_cases[] = {
        { "0", DEC_OK, 0 },
        { "-0", DEC_OK, 0 },
        { "-0.000", DEC_OK, 0 },
        { "1", DEC_OK, 100000000 },
        { "007", DEC_OK, 700000000 },
        { "-1.5", DEC_OK, -150000000 },
        { "0.44", DEC_OK, 44000000 },
        { "100", DEC_OK, 10000000000 },
        { "1.100000000", DEC_OK, 110000000 },
        { "1.10000000000000000000000000", DEC_OK, 110000000 },
        { "0.00000001", DEC_OK, 1 }, /* 8 fractional digits */
        { "-0.00000001", DEC_OK, -1 },
        { "12345.67890123", DEC_OK, 1234567890123 },
        { "0.000000010", DEC_OK, 1 },         /* 9th digit is a zero */
        { "0.000000001", DEC_EPRECISION, 0 }, /* 9th digit is not */
        { "1.123456789", DEC_EPRECISION, 0 },
        { "-0.000000005", DEC_EPRECISION, 0 },
        { "0.0000000000000000001", DEC_EPRECISION, 0 },
        { "92233720368.54775807", DEC_OK, INT64_MAX },
        { "-92233720368.54775807", DEC_OK, -INT64_MAX },
        { "092233720368.547758070", DEC_OK, INT64_MAX },
        { "92233720368.54775808", DEC_ERANGE, 0 },
        { "-92233720368.54775808", DEC_ERANGE, 0 }, /* INT64_MIN: refused */
        { "92233720368.99999999", DEC_ERANGE, 0 },
        { "92233720369", DEC_ERANGE, 0 },
        { "100000000000", DEC_ERANGE, 0 },
        { "99999999999999999999999999999999999999999", DEC_ERANGE, 0 },
        { "18446744073709551616", DEC_ERANGE, 0 }, /* 2^64: no wrap */
        { "0000000000000000000000000000000001.5", DEC_OK, 150000000 },
        { "", DEC_ESYNTAX, 0 },
        { "+1", DEC_ESYNTAX, 0 },
        { ".5", DEC_ESYNTAX, 0 },
        { "-.5", DEC_ESYNTAX, 0 },
        { "1.", DEC_ESYNTAX, 0 },
        { "1e2", DEC_ESYNTAX, 0 },
        { "1E2", DEC_ESYNTAX, 0 },
        { " 1", DEC_ESYNTAX, 0 },
        { "1 ", DEC_ESYNTAX, 0 },
        { "\t1", DEC_ESYNTAX, 0 },
        { "NaN", DEC_ESYNTAX, 0 },
        { "Infinity", DEC_ESYNTAX, 0 },
        { "-", DEC_ESYNTAX, 0 },
        { "--1", DEC_ESYNTAX, 0 },
        { "1.2.3", DEC_ESYNTAX, 0 },
        { "1,5", DEC_ESYNTAX, 0 },
        { "0x10", DEC_ESYNTAX, 0 },
        { "1_000", DEC_ESYNTAX, 0 },
        { "1.-5", DEC_ESYNTAX, 0 },
        { "99999999999999999999999.5x", DEC_ESYNTAX, 0 }, /* syntax first */
        { "0.0000000001x", DEC_ESYNTAX, 0 },
};

START_TEST(parse_follows_grammar_precision_and_range_table)
{
        const struct parse_case *c = &parse_cases[_i];
        int64_t units = SENTINEL;
        enum dec_status st = dec_parse(c->text, strlen(c->text), &units);

        ck_assert_msg(st == c->status, "\"%s\": got %s, want %s", c->text, status_names[st],
                      status_names[c->status]);
        if (c->status == DEC_OK)
                ck_assert_msg(units == c->units, "\"%s\": got %lld, want %lld", c->text,
                              (long long)units, (long long)c->units);
        else
                ck_assert_msg(units == SENTINEL, "\"%s\": output written on error", c->text);
}
END_TEST

START_TEST(parse_reads_exactly_len_bytes)
{
        int64_t units = SENTINEL;

        ck_assert_int_eq(dec_parse("12.5junk", 4, &units), DEC_OK);
        ck_assert_int_eq(units, 1250000000);
        ck_assert_int_eq(dec_parse("1\0"
                                   "2",
                                   3, &units),
                         DEC_ESYNTAX);
        ck_assert_int_eq(dec_parse("7", 0, &units), DEC_ESYNTAX);
        ck_assert_int_eq(units, 1250000000);
}
END_TEST

/* ---- dec_format ---- */

static const struct format_case {
        int64_t units;
        const char *text;
} format_cases[] = {
        { 0, "0" },
        { 100000000, "1" },
        { -100000000, "-1" },
        { 150000000, "1.5" },
        { -150000000, "-1.5" },
        { 44000000, "0.44" },
        { 10000000000, "100" },
        { 1, "0.00000001" },
        { -1, "-0.00000001" },
        { 10, "0.0000001" },
        { 123456789, "1.23456789" },
        { 120000000, "1.2" },
        { 100000001, "1.00000001" },
        { INT64_MAX, "92233720368.54775807" },
        { -INT64_MAX, "-92233720368.54775807" },
        { INT64_MIN, "-92233720368.54775808" },
};

START_TEST(format_is_canonical_table)
{
        const struct format_case *c = &format_cases[_i];
        char buf[DEC_BUFSZ];
        size_t len = dec_format(c->units, buf);

        ck_assert_str_eq(buf, c->text);
        ck_assert_uint_eq(len, strlen(c->text));
}
END_TEST

START_TEST(format_then_parse_round_trips)
{
        /* Every accepted parse row formats to text that parses back equal
         * and is already canonical. */
        const struct parse_case *c = &parse_cases[_i];
        char buf[DEC_BUFSZ], again[DEC_BUFSZ];
        int64_t units, back;

        if (dec_parse(c->text, strlen(c->text), &units) != DEC_OK)
                return;
        dec_format(units, buf);
        ck_assert_int_eq(dec_parse(buf, strlen(buf), &back), DEC_OK);
        ck_assert_int_eq(back, units);
        dec_format(back, again);
        ck_assert_str_eq(again, buf);
}
END_TEST

START_TEST(format_then_parse_round_trips_over_many_values)
{
        uint64_t x = 88172645463325252ULL;

        for (int i = 0; i < 20000; i++) {
                char buf[DEC_BUFSZ];
                int64_t v, back;

                x ^= x << 13; /* xorshift64: a fixed, repeatable spread */
                x ^= x >> 7;
                x ^= x << 17;
                v = (int64_t)(x >> (i % 64));
                if (v == INT64_MIN)
                        continue;
                if (i % 2)
                        v = -v;
                dec_format(v, buf);
                /* Assert only on failure: each Check assertion costs a pipe
                 * write in fork mode. */
                if (dec_parse(buf, strlen(buf), &back) != DEC_OK || back != v)
                        ck_abort_msg("%lld formats as %s", (long long)v, buf);
        }
}
END_TEST

/* ---- dec_from_json_number: a JSON number read from its literal ---- */

static const struct json_case {
        const char *lit;
        enum dec_status status;
        int64_t units;
} json_cases[] = {
        { "0", DEC_OK, 0 },
        { "-0", DEC_OK, 0 },
        { "-0.0e-5", DEC_OK, 0 },
        { "0e999999999999999999999", DEC_OK, 0 },
        { "0.1", DEC_OK, 10000000 },
        { "1e-1", DEC_OK, 10000000 },
        { "0.30000000000000004", DEC_EPRECISION, 0 },
        { "1.5", DEC_OK, 150000000 },
        { "-2.25", DEC_OK, -225000000 },
        { "100", DEC_OK, 10000000000 },
        { "1e2", DEC_OK, 10000000000 },
        { "1E+2", DEC_OK, 10000000000 },
        { "12345e-4", DEC_OK, 123450000 },
        { "1.100000000", DEC_OK, 110000000 },
        { "1e-8", DEC_OK, 1 },
        { "-1e-8", DEC_OK, -1 },
        { "1.2e-7", DEC_OK, 12 },
        { "0.000000010000000000000000000000", DEC_OK, 1 },
        { "1e-9", DEC_EPRECISION, 0 },
        { "1.5e-8", DEC_EPRECISION, 0 },
        { "5e-324", DEC_EPRECISION, 0 },
        { "1e-400", DEC_EPRECISION, 0 },
        { "1.0000000000000002", DEC_EPRECISION, 0 },
        { "92233720367.99999999", DEC_OK, 9223372036799999999 },
        { "9.223372036799999999e10", DEC_OK, 9223372036799999999 },
        { "0.000000000092233720367999999990e21", DEC_OK, 9223372036799999999 },
        { "92233720368.54775807", DEC_OK, INT64_MAX },
        { "-92233720368.54775807", DEC_OK, -INT64_MAX },
        { "92233720368.54775808", DEC_ERANGE, 0 },
        { "-92233720368.54775808", DEC_ERANGE, 0 },
        { "1e11", DEC_ERANGE, 0 },
        { "-1e11", DEC_ERANGE, 0 },
        { "1e400", DEC_ERANGE, 0 },
        { "123456789012345678901234567890", DEC_ERANGE, 0 },
        /* Precision is judged before range, as dec_parse does. */
        { "123456789012345678901234567890.000000001", DEC_EPRECISION, 0 },
        /* Not JSON number literals. */
        { "", DEC_ESYNTAX, 0 },
        { "-", DEC_ESYNTAX, 0 },
        { "+1", DEC_ESYNTAX, 0 },
        { "01", DEC_ESYNTAX, 0 },
        { ".5", DEC_ESYNTAX, 0 },
        { "1.", DEC_ESYNTAX, 0 },
        { "1e", DEC_ESYNTAX, 0 },
        { "1e+", DEC_ESYNTAX, 0 },
        { "1 ", DEC_ESYNTAX, 0 },
        { "NaN", DEC_ESYNTAX, 0 },
        { "Infinity", DEC_ESYNTAX, 0 },
        { "0x10", DEC_ESYNTAX, 0 },
};

START_TEST(from_json_number_reads_the_literal_exactly_table)
{
        const struct json_case *c = &json_cases[_i];
        int64_t units = SENTINEL;
        enum dec_status st = dec_from_json_number(c->lit, strlen(c->lit), &units);

        ck_assert_msg(st == c->status, "%s: got %s, want %s", c->lit, status_names[st],
                      status_names[c->status]);
        ck_assert_int_eq(units, c->status == DEC_OK ? c->units : SENTINEL);
}
END_TEST

/* Every canonical text is also a JSON number literal of the same value,
 * and in exponent form too. */
START_TEST(from_json_number_agrees_with_parse_over_many_values)
{
        uint64_t x = 88172645463325252ULL;

        for (int i = 0; i < 20000; i++) {
                char buf[DEC_BUFSZ], sci[DEC_BUFSZ + 40];
                int64_t v, a = SENTINEL, b = SENTINEL;
                size_t n;
                char *dot;

                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v = (int64_t)(x >> (i % 60)) * ((i & 1) ? -1 : 1);
                n = dec_format(v, buf);
                ck_assert_int_eq(dec_from_json_number(buf, n, &a), DEC_OK);
                ck_assert_int_eq(a, v);
                /* "D.F" as "DFe-len(F)", "D" as "D000e-3": the same value
                 * with an exponent (leading zeros dropped: "-0.25" is
                 * "-25e-2"). */
                {
                        bool neg = buf[0] == '-';
                        char digits_[DEC_BUFSZ + 4];
                        const char *d;
                        size_t k = 0, frac = 3;

                        for (const char *p = buf + neg; *p != '\0'; p++)
                                if (*p != '.')
                                        digits_[k++] = *p;
                        dot = strchr(buf, '.');
                        if (dot != NULL)
                                frac = strlen(dot + 1);
                        else
                                for (int z = 0; z < 3; z++)
                                        digits_[k++] = '0';
                        digits_[k] = '\0';
                        for (d = digits_; d[0] == '0' && d[1] != '\0';)
                                d++;
                        snprintf(sci, sizeof(sci), "%s%se-%zu", neg ? "-" : "", d, frac);
                }
                ck_assert_msg(dec_from_json_number(sci, strlen(sci), &b) == DEC_OK, "%s", sci);
                ck_assert_msg(b == v, "%s read as %lld", sci, (long long)b);
        }
}
END_TEST

/* ---- arithmetic ---- */

enum op { OP_ADD, OP_SUB, OP_MUL, OP_DIV };

static const struct arith_case {
        enum op op;
        int64_t a, b;
        bool ok;
        int64_t r;
        const char *why;
} arith_cases[] = {
        { OP_ADD, 100000000, 250000000, true, 350000000, "1 + 2.5" },
        { OP_ADD, INT64_MAX, 0, true, INT64_MAX, "max + 0" },
        { OP_ADD, INT64_MAX, 1, false, 0, "max + tiny overflows" },
        { OP_ADD, -INT64_MAX, -1, false, 0, "would be INT64_MIN" },
        { OP_ADD, -INT64_MAX, -INT64_MAX, false, 0, "min + min" },
        { OP_ADD, INT64_MAX, -INT64_MAX, true, 0, "max + min" },
        { OP_SUB, 100000000, 250000000, true, -150000000, "1 - 2.5" },
        { OP_SUB, 0, INT64_MAX, true, -INT64_MAX, "0 - max" },
        { OP_SUB, -1, INT64_MAX, false, 0, "would be INT64_MIN" },
        { OP_SUB, INT64_MAX, -1, false, 0, "max - -tiny" },
        { OP_SUB, -INT64_MAX, INT64_MAX, false, 0, "min - max" },
        { OP_MUL, 150000000, 200000000, true, 300000000, "1.5 * 2" },
        { OP_MUL, -150000000, 200000000, true, -300000000, "-1.5 * 2" },
        { OP_MUL, 1, 50000000, true, 0, "0.000000005 ties to even 0" },
        { OP_MUL, 3, 50000000, true, 2, "0.000000015 ties to even 2" },
        { OP_MUL, 5, 50000000, true, 2, "0.000000025 ties to even 2" },
        { OP_MUL, 7, 50000000, true, 4, "0.000000035 ties to even 4" },
        { OP_MUL, -1, 50000000, true, 0, "-0.000000005 ties to 0" },
        { OP_MUL, -3, 50000000, true, -2, "-0.000000015 ties to -2" },
        { OP_MUL, 3, -50000000, true, -2, "negative multiplier tie" },
        { OP_MUL, -5, 50000000, true, -2, "-0.000000025 ties to -2" },
        { OP_MUL, 1, 60000000, true, 1, "0.6 unit rounds up" },
        { OP_MUL, 1, 40000000, true, 0, "0.4 unit rounds down" },
        { OP_MUL, -1, 60000000, true, -1, "-0.6 unit rounds away" },
        { OP_MUL, 1, 50000001, true, 1, "just over a tie rounds up" },
        { OP_MUL, 10000000000000, 10000000000000, true, 1000000000000000000, "100000 * 100000" },
        { OP_MUL, 100000000000000, 100000000000000, false, 0, "1e6 * 1e6" },
        { OP_MUL, INT64_MAX, 100000000, true, INT64_MAX, "max * 1" },
        { OP_MUL, INT64_MAX, 200000000, false, 0, "max * 2" },
        { OP_MUL, INT64_MAX, -INT64_MAX, false, 0, "max * min" },
        { OP_DIV, 100000000, 300000000, true, 33333333, "1 / 3" },
        { OP_DIV, 200000000, 300000000, true, 66666667, "2 / 3" },
        { OP_DIV, -200000000, 300000000, true, -66666667, "-2 / 3" },
        { OP_DIV, 1000000000, 400000000, true, 250000000, "10 / 4" },
        { OP_DIV, 1, 200000000, true, 0, "0.00000001 / 2 ties to 0" },
        { OP_DIV, 3, 200000000, true, 2, "0.00000003 / 2 ties to 2" },
        { OP_DIV, 5, 200000000, true, 2, "0.00000005 / 2 ties to 2" },
        { OP_DIV, -3, 200000000, true, -2, "-0.00000003 / 2 ties to -2" },
        { OP_DIV, 3, -200000000, true, -2, "0.00000003 / -2 ties to -2" },
        { OP_DIV, -1, 200000000, true, 0, "-0.00000001 / 2 ties to 0" },
        { OP_DIV, 100000000, 0, false, 0, "division by zero" },
        { OP_DIV, 0, 0, false, 0, "zero by zero" },
        { OP_DIV, INT64_MAX, 50000000, false, 0, "max / 0.5" },
        { OP_DIV, INT64_MAX, 100000000, true, INT64_MAX, "max / 1" },
        { OP_DIV, INT64_MAX, -100000000, true, -INT64_MAX, "max / -1" },
        { OP_DIV, 9223372036800000000, 1, false, 0, "huge / 0.00000001" },
};

START_TEST(arithmetic_is_exact_rounds_half_even_refuses_overflow_table)
{
        const struct arith_case *c = &arith_cases[_i];
        int64_t r = SENTINEL;
        bool ok = false;

        switch (c->op) {
        case OP_ADD: ok = dec_add(c->a, c->b, &r); break;
        case OP_SUB: ok = dec_sub(c->a, c->b, &r); break;
        case OP_MUL: ok = dec_mul(c->a, c->b, &r); break;
        case OP_DIV: ok = dec_div(c->a, c->b, &r); break;
        }
        ck_assert_msg(ok == c->ok, "%s: ok %d", c->why, ok);
        ck_assert_msg(r == (c->ok ? c->r : SENTINEL), "%s: got %lld", c->why, (long long)r);
}
END_TEST

static const struct vwap_case {
        int64_t p1, q1, p2, q2;
        bool ok;
        int64_t r;
        const char *why;
} vwap_cases[] = {
        { 10000000000, 100000000, 20000000000, 100000000, true, 15000000000, "100 x1 and 200 x1" },
        { 10000000000, 300000000, 20000000000, 100000000, true, 12500000000,
          "weighted by quantity" },
        { 10000000000, 0, 20000000000, 500000000, true, 20000000000, "first quantity zero" },
        { 1, 1, 0, 1, true, 0, "0.5 unit ties to 0" },
        { 3, 1, 0, 1, true, 2, "1.5 units tie to 2" },
        { 5, 1, 0, 1, true, 2, "2.5 units tie to 2" },
        { -3, 1, 0, 1, true, -2, "-1.5 units tie to -2" },
        { 100000001, 1, 100000002, 1, true, 100000002, "1.000000015 ties to 1.00000002" },
        { 100000000, 1, 100000001, 1, true, 100000000, "1.000000005 ties to 1.00000000" },
        { 1, 2, 0, 1, true, 1, "2/3 unit rounds up" },
        { INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, true, INT64_MAX,
          "extreme products stay exact" },
        { INT64_MAX, INT64_MAX, 0, INT64_MAX, true, INT64_MAX / 2 + 1,
          "extreme half ties to even" },
        { 100000000, -1, 100000000, 2, false, 0, "negative quantity" },
        { 100000000, 0, 100000000, 0, false, 0, "no quantity" },
};

START_TEST(vwap_is_exact_then_rounded_once_table)
{
        const struct vwap_case *c = &vwap_cases[_i];
        int64_t r = SENTINEL;
        bool ok = dec_vwap(c->p1, c->q1, c->p2, c->q2, &r);

        ck_assert_msg(ok == c->ok, "%s: ok %d", c->why, ok);
        ck_assert_msg(r == (c->ok ? c->r : SENTINEL), "%s: got %lld", c->why, (long long)r);
}
END_TEST

/* ---- 128-bit notional ---- */

#define I128_MAX_TEXT "170141183460469231731687303715884105727"

static const struct d128_case {
        const char *text;
        bool ok;
        const char *canonical;
} d128_cases[] = {
        { "0", true, "0" },
        { "-0", true, "0" },
        { "42", true, "42" },
        { "-42", true, "-42" },
        { "007", true, "7" },
        { "9223372036854775808", true, "9223372036854775808" },
        { "-98765432109876543210987654321", true, "-98765432109876543210987654321" },
        { I128_MAX_TEXT, true, I128_MAX_TEXT },
        { "-" I128_MAX_TEXT, true, "-" I128_MAX_TEXT },
        { "170141183460469231731687303715884105728", false, NULL },
        { "-170141183460469231731687303715884105728", false, NULL },
        { "999999999999999999999999999999999999999999", false, NULL },
        { "", false, NULL },
        { "-", false, NULL },
        { "+1", false, NULL },
        { " 1", false, NULL },
        { "1 ", false, NULL },
        { "1.5", false, NULL },
        { "1a", false, NULL },
};

START_TEST(dec128_parse_and_format_round_trip_table)
{
        const struct d128_case *c = &d128_cases[_i];
        __extension__ __int128 v = 12345;
        char buf[DEC128_BUFSZ];

        ck_assert_msg(dec128_parse(c->text, &v) == c->ok, "\"%s\"", c->text);
        if (!c->ok) {
                ck_assert_msg(v == 12345, "\"%s\": output written", c->text);
                return;
        }
        ck_assert_uint_eq(dec128_format(v, buf), strlen(c->canonical));
        ck_assert_str_eq(buf, c->canonical);
}
END_TEST

__extension__ static __int128
i128(const char *text)
{
        __extension__ __int128 v = 0;

        ck_assert_msg(dec128_parse(text, &v), "bad test constant %s", text);
        return v;
}

START_TEST(notional_add_is_exact_and_refuses_overflow)
{
        __extension__ __int128 acc = 0, max = i128(I128_MAX_TEXT);
        __extension__ __int128 r = 7;
        char buf[DEC128_BUFSZ];

        /* 1.5 * 2 = 3, in units of 1e-16. */
        ck_assert(dec_notional_add(0, 150000000, 200000000, &acc));
        ck_assert(acc == i128("30000000000000000"));
        /* Beyond int64 after two large fills. */
        ck_assert(dec_notional_add(acc, 9000000000000000000, 9000000000000000000, &acc));
        dec128_format(acc, buf);
        ck_assert_str_eq(buf, "81000000000000000000030000000000000000");
        ck_assert(dec_notional_add(max - 1, 1, 1, &r));
        ck_assert(r == max);
        ck_assert(!dec_notional_add(max, 1, 1, &r));
        ck_assert(!dec_notional_add(-max, 1, -1, &r));
        ck_assert(!dec_notional_add(max, INT64_MAX, INT64_MAX, &r));
        ck_assert(r == max);
        ck_assert(dec_notional_add(max, 1, -1, &r));
        ck_assert(r == max - 1);
}
END_TEST

static const struct avg_case {
        const char *notional;
        int64_t qty;
        bool ok;
        int64_t r;
        const char *why;
} avg_cases[] = {
        { "30000000000000000", 200000000, true, 150000000, "3 / 2 = 1.5" },
        { "1", 2, true, 0, "0.5 unit ties to 0" },
        { "3", 2, true, 2, "1.5 units tie to 2" },
        { "5", 2, true, 2, "2.5 units tie to 2" },
        { "-3", 2, true, -2, "-1.5 units tie to -2" },
        { "3", -2, true, -2, "negative quantity tie" },
        { "-1", 2, true, 0, "-0.5 unit ties to 0" },
        { "2", 3, true, 1, "2/3 unit rounds up" },
        /* Fills 1.00000001 x1 and 1.00000002 x1: 1.000000015 -> ...02. */
        { "20000000300000000", 200000000, true, 100000002, "price tie up" },
        /* Fills 1.00000000 x1 and 1.00000001 x1: 1.000000005 -> ...00. */
        { "20000000100000000", 200000000, true, 100000000, "price tie down" },
        { "100", 0, false, 0, "zero quantity" },
        { I128_MAX_TEXT, 1, false, 0, "result beyond int64" },
        { "-" I128_MAX_TEXT, INT64_MAX, false, 0, "large negative result" },
        { "85070591730234615847396907784232501249", INT64_MAX, true, INT64_MAX,
          "INT64_MAX squared / INT64_MAX" },
};

START_TEST(avg_from_notional_rounds_half_even_table)
{
        const struct avg_case *c = &avg_cases[_i];
        int64_t r = SENTINEL;
        bool ok = dec_avg_from_notional(i128(c->notional), c->qty, &r);

        ck_assert_msg(ok == c->ok, "%s: ok %d", c->why, ok);
        ck_assert_msg(r == (c->ok ? c->r : SENTINEL), "%s: got %lld", c->why, (long long)r);
}
END_TEST

START_TEST(avg_of_large_fills_beyond_int64_notional_is_the_price)
{
        __extension__ __int128 acc = 0;
        const int64_t price = 9000000000000000000; /* 90000000000 */
        const int64_t qty = 4000000000000000000;   /* 40000000000 */
        int64_t avg = 0;

        ck_assert(dec_notional_add(acc, price, qty, &acc));
        ck_assert(dec_notional_add(acc, price, qty, &acc));
        ck_assert(dec_avg_from_notional(acc, 2 * qty, &avg));
        ck_assert_int_eq(avg, price);
}
END_TEST

static Suite *
dec_suite(void)
{
        Suite *s = suite_create("dec");
        TCase *tc = tcase_create("core");

        tcase_add_loop_test(tc, parse_follows_grammar_precision_and_range_table, 0,
                            N_ELEMS(parse_cases));
        tcase_add_test(tc, parse_reads_exactly_len_bytes);
        tcase_add_loop_test(tc, format_is_canonical_table, 0, N_ELEMS(format_cases));
        tcase_add_loop_test(tc, format_then_parse_round_trips, 0, N_ELEMS(parse_cases));
        tcase_add_test(tc, format_then_parse_round_trips_over_many_values);
        tcase_add_loop_test(tc, from_json_number_reads_the_literal_exactly_table, 0,
                            N_ELEMS(json_cases));
        tcase_add_test(tc, from_json_number_agrees_with_parse_over_many_values);
        tcase_add_loop_test(tc, arithmetic_is_exact_rounds_half_even_refuses_overflow_table, 0,
                            N_ELEMS(arith_cases));
        tcase_add_loop_test(tc, vwap_is_exact_then_rounded_once_table, 0, N_ELEMS(vwap_cases));
        tcase_add_loop_test(tc, dec128_parse_and_format_round_trip_table, 0, N_ELEMS(d128_cases));
        tcase_add_test(tc, notional_add_is_exact_and_refuses_overflow);
        tcase_add_loop_test(tc, avg_from_notional_rounds_half_even_table, 0, N_ELEMS(avg_cases));
        tcase_add_test(tc, avg_of_large_fills_beyond_int64_notional_is_the_price);
        suite_add_tcase(s, tc);
        return s;
}

int
main(void)
{
        return check_run(dec_suite());
}
