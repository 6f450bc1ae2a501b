/* Fuzz target: the timestamp parsers (common/ts.h): RFC 3339 text, epoch
 * seconds text, either (query parameters), and epoch seconds as a JSON number literal.
 *
 * Properties: every accepted instant lies in TS_MIN_US..TS_MAX_US; it
 * formats (ts_format) as "YYYY-MM-DDTHH:MM:SS.ffffffZ", 27 bytes, which
 * ts_parse and ts_parse_any read back as the same instant; epoch text that
 * ts_parse_epoch accepts is accepted with the same value by ts_parse_any. */
#include "tests/fuzz/fuzz.h"

#include "common/ts.h"

#include <string.h>

static void
check_instant(int64_t us, const char *what)
{
        char t[TS_BUFSZ];
        size_t n;
        int64_t again = 0;

        if (us < TS_MIN_US || us > TS_MAX_US)
                fuzz_fail("%s accepted %lld us, out of range", what, (long long)us);
        n = ts_format(us, t);
        if (n != 27 || strlen(t) != n || t[10] != 'T' || t[26] != 'Z')
                fuzz_fail("ts_format(%lld) = \"%s\"", (long long)us, t);
        if (!ts_parse(t, n, &again) || again != us)
                fuzz_fail("%s: %lld formats as \"%s\", which ts_parse reads as %lld", what,
                          (long long)us, t, (long long)again);
        again = 0;
        if (!ts_parse_any(t, n, &again) || again != us)
                fuzz_fail("%s: \"%s\" not read back by ts_parse_any", what, t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *s = (const char *)data;
        int64_t us = 0, any = 0;

        if (ts_parse(s, size, &us))
                check_instant(us, "ts_parse");
        if (ts_parse_epoch(s, size, &us)) {
                check_instant(us, "ts_parse_epoch");
                if (!ts_parse_any(s, size, &any) || any != us)
                        fuzz_fail("ts_parse_epoch(\"%.*s\") = %lld but ts_parse_any disagrees",
                                  (int)size, s, (long long)us);
        }
        if (ts_parse_any(s, size, &us))
                check_instant(us, "ts_parse_any");
        if (ts_from_json_number(s, size, &us))
                check_instant(us, "ts_from_json_number");
        return 0;
}
