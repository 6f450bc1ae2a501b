/* Fuzz target: list cursors (common/cursor.h).
 *
 * Properties: a cursor the server did not issue fails to parse (so the
 * handler answers 400): whenever cursor_decode accepts a string, it is
 * exactly what cursor_encode makes of the decoded (key, id). And what
 * cursor_encode makes, cursor_decode reads back: the input is also read as
 * an 8-byte key followed by an id. */
#include "tests/fuzz/fuzz.h"

#include "common/cursor.h"

#include <stdlib.h>
#include <string.h>

static void
check_decode(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1);
        char id[CURSOR_ID_BUFSZ], again[CURSOR_BUFSZ];
        int64_t key = 0;

        if (s == NULL)
                return;
        memcpy(s, data, size);
        s[size] = '\0';
        if (cursor_decode(s, &key, id)) {
                size_t n = cursor_encode(key, id, again);

                if (n == 0 || strcmp(again, s) != 0)
                        fuzz_fail(
                                "cursor \"%s\" decodes to (%lld, \"%s\"), which encodes as \"%s\"",
                                s, (long long)key, id, again);
        }
        free(s);
}

static void
check_encode(const uint8_t *data, size_t size)
{
        int64_t key, key2 = 0;
        char id[CURSOR_ID_BUFSZ], id2[CURSOR_ID_BUFSZ], buf[CURSOR_BUFSZ];
        size_t n = size - sizeof(key);

        if (size < sizeof(key) || n >= CURSOR_ID_BUFSZ)
                return;
        memcpy(&key, data, sizeof(key));
        memcpy(id, data + sizeof(key), n);
        id[n] = '\0';
        if (cursor_encode(key, id, buf) == 0)
                return;
        if (!cursor_decode(buf, &key2, id2) || key2 != key || strcmp(id2, id) != 0)
                fuzz_fail("cursor_encode(%lld, \"%s\") = \"%s\" does not decode back",
                          (long long)key, id, buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        check_decode(data, size);
        check_encode(data, size);
        return 0;
}
