/* Fuzz target: the identifier rules (common/ids.h).
 *
 * Property: id_valid and symbol_valid agree with the rules as ids.h states
 * them (ids: 1-64 of [A-Za-z0-9._:-]; symbols and assets: 1-32 of
 * [A-Za-z0-9._/-]), written here independently, for every input. */
#include "tests/fuzz/fuzz.h"

#include "common/ids.h"

#include <stdbool.h>
#include <string.h>

static bool
all_of(const uint8_t *s, size_t len, size_t max, const char *extra)
{
        if (len < 1 || len > max)
                return false;
        for (size_t i = 0; i < len; i++) {
                uint8_t c = s[i];
                bool alnum =
                        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

                if (!alnum && (c == '\0' || strchr(extra, c) == NULL))
                        return false;
        }
        return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *s = (const char *)data;

        if (id_valid(s, size) != all_of(data, size, ID_MAX_LEN, "._:-"))
                fuzz_fail("id_valid(\"%.*s\") disagrees with the rule", (int)size, s);
        if (symbol_valid(s, size) != all_of(data, size, SYMBOL_MAX_LEN, "._/-"))
                fuzz_fail("symbol_valid(\"%.*s\") disagrees with the rule", (int)size, s);
        return 0;
}
