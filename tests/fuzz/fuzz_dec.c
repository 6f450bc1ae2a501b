/* Fuzz target: the exact decimal parsers (common/dec.h).
 *
 * Properties: a decimal that dec_parse accepts formats (dec_format) to the
 * canonical form, which dec_parse accepts again as the same value; the
 * canonical form has no '+', no exponent, no leading zero and no trailing
 * fractional zero. The input read as a JSON number literal
 * (dec_from_json_number) gives canonical values that agree with dec_parse
 * where both read it. dec128_parse round-trips through dec128_format. */
#include "tests/fuzz/fuzz.h"

#include "common/dec.h"

#include <stdbool.h>
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

/* The input as a JSON number literal (dec_from_json_number): whatever it
 * accepts is a canonical value, and agrees with dec_parse on the inputs
 * both read (plain decimals without leading zeros); every canonical text is
 * itself a literal of the same value. */
static void
check_literal(const uint8_t *data, size_t size)
{
        const char *s = (const char *)data;
        char t[DEC_BUFSZ];
        int64_t v = 0, w = 0, x = 0;
        enum dec_status st = dec_from_json_number(s, size, &v);

        if (st == DEC_OK) {
                size_t n;

                check_value(v, "dec_from_json_number");
                n = dec_format(v, t);
                if (dec_from_json_number(t, n, &x) != DEC_OK || x != v)
                        fuzz_fail("canonical \"%s\" is not read back as a JSON number", t);
        }
        size_t i = size > 0 && s[0] == '-';
        bool leading_zero = size > i + 1 && s[i] == '0' && s[i + 1] != '.';

        if (!leading_zero && dec_parse(s, size, &w) == DEC_OK) {
                if (st != DEC_OK || v != w)
                        fuzz_fail("\"%.*s\": dec_parse %lld but dec_from_json_number %d/%lld",
                                  (int)size, s, (long long)w, st, (long long)v);
        }
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
        check_literal(data, size);
        check_dec128(data, size);
        return 0;
}
