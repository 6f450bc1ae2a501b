/* Fuzz target: the exact decimal parsers (common/dec.h).
 *
 * Properties: a decimal that dec_parse accepts formats (dec_format) to the
 * canonical form, which dec_parse accepts again as the same value; the
 * canonical form has no '+', no exponent, no leading zero and no trailing
 * fractional zero. The first 8 bytes read as a double go through
 * dec_from_double, whose accepted values must equal dec_parse of the
 * double's shortest text. dec128_parse round-trips through dec128_format. */
#include "tests/fuzz/fuzz.h"

#include "common/dec.h"

#include <stdlib.h>
#include <string.h>

static void
check_canonical(const char *t, size_t n, int64_t v)
{
        size_t i = t[0] == '-' ? 1 : 0;
        const char *dot = memchr(t, '.', n);

        if (n == 0 || i == n)
                fuzz_fail("dec_format(%lld) is empty", (long long)v);
        if (t[i] == '0' && n - i > 1 && t[i + 1] != '.')
                fuzz_fail("dec_format(%lld) = \"%.*s\" has a leading zero", (long long)v, (int)n,
                          t);
        if (dot != NULL && (t[n - 1] == '0' || t + n - 1 == dot))
                fuzz_fail("dec_format(%lld) = \"%.*s\" ends in a fractional zero or '.'",
                          (long long)v, (int)n, t);
        if (v == 0 && (n != 1 || t[0] != '0'))
                fuzz_fail("dec_format(0) = \"%.*s\"", (int)n, t);
        for (; i < n; i++)
                if ((t[i] < '0' || t[i] > '9') && t[i] != '.')
                        fuzz_fail("dec_format(%lld) = \"%.*s\"", (long long)v, (int)n, t);
}

/* Every value a parser accepted: in range, canonical text, same value again. */
static void
check_value(int64_t v, const char *what)
{
        char t[DEC_BUFSZ];
        size_t n;
        int64_t again = 0;

        if (v == INT64_MIN)
                fuzz_fail("%s produced INT64_MIN", what);
        n = dec_format(v, t);
        if (n >= DEC_BUFSZ || strlen(t) != n)
                fuzz_fail("dec_format(%lld): length %zu", (long long)v, n);
        check_canonical(t, n, v);
        if (dec_parse(t, n, &again) != DEC_OK || again != v)
                fuzz_fail("%s: %lld formats as \"%s\", which parses back as %lld", what,
                          (long long)v, t, (long long)again);
}

static void
check_double(const uint8_t *data, size_t size)
{
        double d;
        char t[DEC_DOUBLE_BUFSZ];
        size_t n;
        int64_t v = 0, w = 0;
        enum dec_status s, s2;

        if (size < sizeof(d))
                return;
        memcpy(&d, data, sizeof(d));
        s = dec_from_double(d, &v);
        n = dec_double_text(d, t);
        if (n == 0) {
                if (s == DEC_OK)
                        fuzz_fail("dec_from_double accepted a double with no text");
                return;
        }
        if (strtod(t, NULL) != d)
                fuzz_fail("dec_double_text(%a) = \"%s\" does not read back", d, t);
        s2 = dec_parse(t, n, &w);
        if (s != s2 || (s == DEC_OK && v != w))
                fuzz_fail("dec_from_double(%a) = %d/%lld but dec_parse(\"%s\") = %d/%lld", d, s,
                          (long long)v, t, s2, (long long)w);
        if (s == DEC_OK)
                check_value(v, "dec_from_double");
}

static void
check_dec128(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1);
        __extension__ __int128 v = 0, w = 0;
        char t[DEC128_BUFSZ];

        if (s == NULL)
                return;
        memcpy(s, data, size);
        s[size] = '\0';
        if (dec128_parse(s, &v)) {
                size_t n = dec128_format(v, t);

                if (n >= DEC128_BUFSZ || !dec128_parse(t, &w) || v != w)
                        fuzz_fail("dec128 \"%s\" formats as \"%s\", which does not parse back", s,
                                  t);
        }
        free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        int64_t v = 0;

        if (dec_parse((const char *)data, size, &v) == DEC_OK)
                check_value(v, "dec_parse");
        check_double(data, size);
        check_dec128(data, size);
        return 0;
}
