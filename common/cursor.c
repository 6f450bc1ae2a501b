/* Keyset pagination cursors (see cursor.h).
 *
 * Decoding is strict on purpose (no padding, no stray bits, canonical key
 * text) so that each position has exactly one cursor and a client cannot
 * craft a second spelling of it. All work happens in fixed stack buffers
 * sized from the longest cursor cursor_encode can make. */
#include "common/cursor.h"

#include <stdio.h>
#include <string.h>

#define CURSOR_ID_MAX (CURSOR_ID_BUFSZ - 1)
/* "-9223372036854775808:" plus the longest id. */
#define CURSOR_TEXT_MAX (20 + 1 + CURSOR_ID_MAX)
/* base64 without padding of CURSOR_TEXT_MAX bytes. */
#define CURSOR_ENCODED_MAX ((CURSOR_TEXT_MAX * 4 + 2) / 3)

_Static_assert(CURSOR_ENCODED_MAX < CURSOR_BUFSZ, "cursor buffer too small");

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static bool
id_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == ':' || c == '/' || c == '-';
}

static bool
cursor_id_valid(const char *s, size_t len)
{
        if (len == 0 || len > CURSOR_ID_MAX)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!id_char(s[i]))
                        return false;
        return true;
}

size_t
cursor_encode(int64_t key, const char *id, char buf[CURSOR_BUFSZ])
{
        char text[CURSOR_TEXT_MAX + 1];
        size_t id_len = strnlen(id, CURSOR_ID_BUFSZ);
        size_t n, pos = 0;
        uint32_t acc = 0;
        int bits = 0;

        buf[0] = '\0';
        if (!cursor_id_valid(id, id_len))
                return 0;
        n = (size_t)snprintf(text, sizeof(text), "%lld:%s", (long long)key, id);
        for (size_t i = 0; i < n; i++) {
                acc = acc << 8 | (unsigned char)text[i];
                bits += 8;
                while (bits >= 6) {
                        bits -= 6;
                        buf[pos++] = b64url[(acc >> bits) & 0x3f];
                }
        }
        if (bits > 0)
                buf[pos++] = b64url[(acc << (6 - bits)) & 0x3f];
        buf[pos] = '\0';
        return pos;
}

static int
b64url_value(char c)
{
        const char *p = c == '\0' ? NULL : strchr(b64url, c);

        return p == NULL ? -1 : (int)(p - b64url);
}

/* Strict base64url without padding: leftover bits must be zero. */
static bool
b64url_decode(const char *s, size_t len, char *out, size_t *ret_n)
{
        uint32_t acc = 0;
        int bits = 0;
        size_t n = 0;

        if (len % 4 == 1)
                return false;
        for (size_t i = 0; i < len; i++) {
                int v = b64url_value(s[i]);

                if (v < 0)
                        return false;
                acc = acc << 6 | (uint32_t)v; /* at most 12 bits live */
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[n++] = (char)(acc >> bits);
                        acc &= (1u << bits) - 1;
                }
        }
        if (acc != 0)
                return false;
        *ret_n = n;
        return true;
}

/* Canonical int64 text: "0", or optional '-' and digits without a leading
 * zero; "-0" is not canonical. */
static bool
parse_key(const char *s, size_t len, int64_t *ret)
{
        bool neg = len > 0 && s[0] == '-';
        size_t i = neg ? 1 : 0;
        uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        uint64_t mag = 0;

        if (i == len || (s[i] == '0' && (len - i > 1 || neg)))
                return false;
        for (; i < len; i++) {
                unsigned d = (unsigned)(s[i] - '0');

                if (s[i] < '0' || s[i] > '9' || mag > (limit - d) / 10)
                        return false;
                mag = mag * 10 + d;
        }
        *ret = neg ? (int64_t)(0 - mag) : (int64_t)mag;
        return true;
}

bool
cursor_decode(const char *s, int64_t *ret_key, char ret_id[CURSOR_ID_BUFSZ])
{
        char text[CURSOR_TEXT_MAX + 1];
        size_t len = strnlen(s, CURSOR_BUFSZ);
        size_t n, key_len, id_len;
        const char *colon;
        int64_t key;

        if (len > CURSOR_ENCODED_MAX || !b64url_decode(s, len, text, &n))
                return false;
        colon = memchr(text, ':', n);
        if (colon == NULL)
                return false;
        key_len = (size_t)(colon - text);
        id_len = n - key_len - 1;
        if (!parse_key(text, key_len, &key) || !cursor_id_valid(colon + 1, id_len))
                return false;
        memcpy(ret_id, colon + 1, id_len);
        ret_id[id_len] = '\0';
        *ret_key = key;
        return true;
}
