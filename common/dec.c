/* Exact decimal arithmetic on int64_t units of 1e-8 (see dec.h).
 *
 * Parsing checks the whole text's syntax first, then scales the digits with
 * unsigned 64-bit arithmetic, checking before every multiply. Products and
 * quotients are formed exactly in __int128 and rounded half-to-even once. */
#include "common/dec.h"

#include "common/jnum.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEC_FRAC_DIGITS 8
/* The largest integer part whose value times DEC_SCALE fits in int64. */
#define DEC_INT_PART_MAX (INT64_MAX / DEC_SCALE)

__extension__ static const __int128 i128_max = (__int128)(((unsigned __int128)1 << 127) - 1);

/* Borrowed spans of a syntactically valid decimal text. */
struct dec_text {
        bool neg;
        const char *int_digits;
        size_t int_len;
        const char *frac_digits;
        size_t frac_len; /* 0 when there is no '.' */
};

static size_t
count_digits(const char *s, size_t len)
{
        size_t n = 0;

        while (n < len && s[n] >= '0' && s[n] <= '9')
                n++;
        return n;
}

/* Splits "-?[0-9]+(\.[0-9]+)?" into its parts; false on any other text. */
static bool
split_text(const char *s, size_t len, struct dec_text *ret)
{
        struct dec_text t = { 0 };
        size_t i = 0;

        if (i < len && s[i] == '-') {
                t.neg = true;
                i++;
        }
        t.int_digits = s + i;
        t.int_len = count_digits(s + i, len - i);
        if (t.int_len == 0)
                return false;
        i += t.int_len;
        if (i < len && s[i] == '.') {
                i++;
                t.frac_digits = s + i;
                t.frac_len = count_digits(s + i, len - i);
                if (t.frac_len == 0)
                        return false;
                i += t.frac_len;
        }
        if (i != len)
                return false;
        *ret = t;
        return true;
}

/* Converts split text to units. Precision is checked before range. */
static enum dec_status
text_to_units(const struct dec_text *t, int64_t *ret)
{
        uint64_t int_part = 0;
        uint64_t frac = 0;
        uint64_t units;

        for (size_t i = 0; i < t->frac_len; i++) {
                unsigned d = (unsigned)(t->frac_digits[i] - '0');

                if (i < DEC_FRAC_DIGITS)
                        frac = frac * 10 + d;
                else if (d != 0)
                        return DEC_EPRECISION;
        }
        for (size_t i = t->frac_len; i < DEC_FRAC_DIGITS; i++)
                frac *= 10;
        for (size_t i = 0; i < t->int_len; i++) {
                int_part = int_part * 10 + (unsigned)(t->int_digits[i] - '0');
                /* Stop before the next multiply can wrap. */
                if (int_part > (uint64_t)DEC_INT_PART_MAX)
                        return DEC_ERANGE;
        }
        /* At most 92233720368 * 1e8 + 99999999: below UINT64_MAX. */
        units = int_part * (uint64_t)DEC_SCALE + frac;
        if (units > (uint64_t)INT64_MAX)
                return DEC_ERANGE;
        *ret = t->neg ? -(int64_t)units : (int64_t)units;
        return DEC_OK;
}

enum dec_status
dec_parse(const char *s, size_t len, int64_t *ret)
{
        struct dec_text t;

        if (!split_text(s, len, &t))
                return DEC_ESYNTAX;
        return text_to_units(&t, ret);
}

enum dec_status
dec_from_json_number(const char *t, size_t len, int64_t *ret)
{
        char plain[JNUM_PLAIN_BUFSZ];
        size_t n;

        switch (jnum_plain(t, len, DEC_FRAC_DIGITS, false, plain, &n)) {
        case JNUM_OK: return dec_parse(plain, n, ret);
        case JNUM_PRECISION: return DEC_EPRECISION;
        case JNUM_RANGE: return DEC_ERANGE;
        default: return DEC_ESYNTAX;
        }
}

size_t
dec_format(int64_t v, char buf[DEC_BUFSZ])
{
        /* Unsigned magnitude: -INT64_MIN does not fit in int64_t. Digits are
         * written by hand: this runs for every decimal of every response. */
        uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
        uint64_t whole = mag / (uint64_t)DEC_SCALE;
        uint64_t frac = mag % (uint64_t)DEC_SCALE;
        char tmp[24];
        size_t n = 0, len = 0;

        if (v < 0)
                buf[len++] = '-';
        do {
                tmp[n++] = (char)('0' + whole % 10);
                whole /= 10;
        } while (whole != 0);
        while (n > 0)
                buf[len++] = tmp[--n];
        if (frac != 0) {
                int digits = DEC_FRAC_DIGITS;

                while (frac % 10 == 0) {
                        frac /= 10;
                        digits--;
                }
                buf[len++] = '.';
                for (int i = digits - 1; i >= 0; i--) {
                        buf[len + (size_t)i] = (char)('0' + frac % 10);
                        frac /= 10;
                }
                len += (size_t)digits;
        }
        buf[len] = '\0';
        return len;
}

bool
dec_add(int64_t a, int64_t b, int64_t *ret)
{
        int64_t sum;

        if (__builtin_add_overflow(a, b, &sum) || sum == INT64_MIN)
                return false;
        *ret = sum;
        return true;
}

bool
dec_sub(int64_t a, int64_t b, int64_t *ret)
{
        int64_t diff;

        if (__builtin_sub_overflow(a, b, &diff) || diff == INT64_MIN)
                return false;
        *ret = diff;
        return true;
}

/* n / d rounded half-to-even; d > 0, n > INT128_MIN. */
__extension__ static __int128
div_half_even(__int128 n, __int128 d)
{
        __int128 q = n / d;
        __int128 r = n % d;
        __int128 ar = r < 0 ? -r : r;

        /* ar against d - ar compares 2*ar with d without overflowing. */
        if (ar > d - ar || (ar == d - ar && (q & 1) != 0))
                q += n < 0 ? -1 : 1;
        return q;
}

/* Stores v when it is a valid decimal (within +-INT64_MAX units). */
__extension__ static bool
store_units(__int128 v, int64_t *ret)
{
        if (v > INT64_MAX || v < -INT64_MAX)
                return false;
        *ret = (int64_t)v;
        return true;
}

bool
dec_mul(int64_t a, int64_t b, int64_t *ret)
{
        __extension__ __int128 product = a;

        product *= b; /* |a * b| < 2^126: exact */
        return store_units(div_half_even(product, DEC_SCALE), ret);
}

bool
dec_div(int64_t a, int64_t b, int64_t *ret)
{
        __extension__ __int128 n = a;
        __extension__ __int128 d = b;

        if (b == 0)
                return false;
        n *= DEC_SCALE;
        if (d < 0) {
                n = -n;
                d = -d;
        }
        return store_units(div_half_even(n, d), ret);
}

bool
dec_vwap(int64_t p1, int64_t q1, int64_t p2, int64_t q2, int64_t *ret)
{
        __extension__ __int128 n1 = p1;
        __extension__ __int128 n2 = p2;
        __extension__ __int128 d = q1;

        if (q1 < 0 || q2 < 0 || (q1 == 0 && q2 == 0))
                return false;
        d += q2;
        n1 *= q1;
        n2 *= q2;
        /* Each product is below 2^126 in magnitude, so the sum is exact. */
        return store_units(div_half_even(n1 + n2, d), ret);
}

__extension__ bool
dec128_parse(const char *s, __int128 *ret)
{
        __extension__ unsigned __int128 mag = 0;
        __extension__ const unsigned __int128 max = (unsigned __int128)i128_max;
        bool neg = *s == '-';
        const char *p = s + (neg ? 1 : 0);

        if (*p == '\0')
                return false;
        for (; *p != '\0'; p++) {
                unsigned d = (unsigned)(*p - '0');

                if (*p < '0' || *p > '9' || mag > (max - d) / 10)
                        return false;
                mag = mag * 10 + d;
        }
        *ret = neg ? -(__extension__(__int128) mag) : (__extension__(__int128) mag);
        return true;
}

__extension__ size_t
dec128_format(__int128 v, char buf[DEC128_BUFSZ])
{
        char rev[DEC128_BUFSZ];
        size_t n = 0, len = 0;
        __extension__ unsigned __int128 mag = v;

        if (v < 0)
                mag = 0 - mag;
        do {
                rev[n++] = (char)('0' + (int)(mag % 10));
                mag /= 10;
        } while (mag != 0);
        if (v < 0)
                buf[len++] = '-';
        while (n > 0)
                buf[len++] = rev[--n];
        buf[len] = '\0';
        return len;
}

__extension__ bool
dec_notional_add(__int128 acc, int64_t price, int64_t qty, __int128 *ret)
{
        __extension__ __int128 product = price;
        __extension__ __int128 sum;

        product *= qty;
        if (__builtin_add_overflow(acc, product, &sum) || sum < -i128_max)
                return false;
        *ret = sum;
        return true;
}

__extension__ bool
dec_avg_from_notional(__int128 notional, int64_t qty, int64_t *ret)
{
        __extension__ __int128 n = notional;
        __extension__ __int128 d = qty;

        if (qty == 0 || notional < -i128_max)
                return false;
        if (d < 0) {
                n = -n;
                d = -d;
        }
        return store_units(div_half_even(n, d), ret);
}
