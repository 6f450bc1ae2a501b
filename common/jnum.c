/* JSON number literals read from their text (see jnum.h).
 *
 * A literal is seen as its digit string D (the integer digits, then the
 * fraction digits) and the position P of the decimal point in D once the
 * exponent has moved it: digit i of D stands for 10^(P - 1 - i). Positions
 * outside D are zeros. Everything below is index arithmetic on D; no digit
 * is ever combined with another. */
#include "common/jnum.h"

#include <stdint.h>
#include <stdio.h>

/* Exponents are clamped here: D is at most a request body long, so a point
 * moved this far is past any digit either way. */
#define EXP_CLAMP 1000000000000000LL

struct lit {
        bool neg;
        const char *int_digits;
        size_t int_len;
        const char *frac_digits;
        size_t frac_len;
        int64_t point; /* P: digits of D before the decimal point */
};

static bool
is_digit(char ch)
{
        return ch >= '0' && ch <= '9';
}

static size_t
digits(const char *s, size_t len, size_t i)
{
        while (i < len && is_digit(s[i]))
                i++;
        return i;
}

size_t
jnum_scan(const char *s, size_t len)
{
        size_t i = 0, j;

        if (i < len && s[i] == '-')
                i++;
        if (i < len && s[i] == '0')
                i++;
        else if (i < len && s[i] >= '1' && s[i] <= '9')
                i = digits(s, len, i);
        else
                return 0;
        if (i + 1 < len && s[i] == '.' && is_digit(s[i + 1]))
                i = digits(s, len, i + 1);
        if (i < len && (s[i] == 'e' || s[i] == 'E')) {
                j = i + 1;
                if (j < len && (s[j] == '+' || s[j] == '-'))
                        j++;
                if (j < len && is_digit(s[j]))
                        i = digits(s, len, j);
        }
        return i;
}

/* Splits the literal t (exactly len bytes). False when it is not one. */
static bool
split(const char *t, size_t len, struct lit *ret)
{
        struct lit l = { .neg = len > 0 && t[0] == '-' };
        size_t i = l.neg ? 1 : 0;
        int64_t e = 0;
        bool eneg = false;

        if (len == 0 || jnum_scan(t, len) != len)
                return false;
        l.int_digits = t + i;
        i = digits(t, len, i);
        l.int_len = (size_t)(t + i - l.int_digits);
        if (i < len && t[i] == '.') {
                l.frac_digits = t + i + 1;
                i = digits(t, len, i + 1);
                l.frac_len = (size_t)(t + i - l.frac_digits);
        }
        if (i < len) { /* the exponent: jnum_scan checked its form */
                i++;
                if (t[i] == '+' || t[i] == '-')
                        eneg = t[i++] == '-';
                for (; i < len; i++)
                        if (e < EXP_CLAMP)
                                e = e * 10 + (t[i] - '0');
        }
        l.point = (int64_t)l.int_len + (eneg ? -e : e);
        *ret = l;
        return true;
}

static int64_t
d_len(const struct lit *l)
{
        return (int64_t)(l->int_len + l->frac_len);
}

/* Digit i of D, '0' outside it. */
static char
digit_at(const struct lit *l, int64_t i)
{
        if (i < 0 || i >= d_len(l))
                return '0';
        if ((size_t)i < l->int_len)
                return l->int_digits[i];
        return l->frac_digits[(size_t)i - l->int_len];
}

/* The first and last non-zero digits of D; false when the value is 0. */
static bool
significant(const struct lit *l, int64_t *ret_first, int64_t *ret_last)
{
        int64_t first = 0, last = d_len(l) - 1;

        while (first < d_len(l) && digit_at(l, first) == '0')
                first++;
        if (first == d_len(l))
                return false;
        while (digit_at(l, last) == '0')
                last--;
        *ret_first = first;
        *ret_last = last;
        return true;
}

enum jnum_status
jnum_plain(const char *t, size_t len, int frac_max, bool truncate, char out[JNUM_PLAIN_BUFSZ],
           size_t *ret_len)
{
        struct lit l;
        int64_t first, last, keep;
        size_t n = 0;

        if (frac_max < 0 || frac_max > JNUM_FRAC_DIGITS_MAX || !split(t, len, &l))
                return JNUM_SYNTAX;
        if (!significant(&l, &first, &last)) {
                out[0] = '0';
                out[1] = '\0';
                *ret_len = 1;
                return JNUM_OK;
        }
        /* The last digit kept: past P + frac_max - 1 is past the fraction. */
        keep = last;
        if (last - l.point + 1 > frac_max) {
                if (!truncate)
                        return JNUM_PRECISION;
                keep = l.point + frac_max - 1;
                while (keep >= first && digit_at(&l, keep) == '0')
                        keep--;
        }
        if (l.point - first > JNUM_INT_DIGITS_MAX)
                return JNUM_RANGE;
        if (keep < first) { /* everything left was past the fraction */
                out[0] = '0';
                out[1] = '\0';
                *ret_len = 1;
                return JNUM_OK;
        }
        if (l.neg)
                out[n++] = '-';
        if (l.point <= first)
                out[n++] = '0';
        for (int64_t i = first; i < l.point; i++)
                out[n++] = digit_at(&l, i);
        if (keep >= l.point)
                out[n++] = '.';
        for (int64_t i = l.point; i <= keep; i++)
                out[n++] = digit_at(&l, i);
        out[n] = '\0';
        *ret_len = n;
        return JNUM_OK;
}

void
jnum_canonical(const char *t, size_t len, void (*put)(void *cls, const char *s, size_t n),
               void *cls)
{
        struct lit l;
        int64_t first, last, mid;
        char exp[32];
        int n;

        if (!split(t, len, &l) || !significant(&l, &first, &last)) {
                put(cls, "0", 1);
                return;
        }
        if (l.neg)
                put(cls, "-", 1);
        /* D's significant run, in its integer and fraction pieces. */
        mid = (int64_t)l.int_len;
        if (first < mid)
                put(cls, l.int_digits + first, (size_t)((last < mid ? last + 1 : mid) - first));
        if (last >= mid) {
                int64_t from = first > mid ? first : mid;

                put(cls, l.frac_digits + (from - mid), (size_t)(last + 1 - from));
        }
        n = snprintf(exp, sizeof(exp), "e%lld", (long long)(l.point - 1 - last));
        put(cls, exp, (size_t)n);
}
