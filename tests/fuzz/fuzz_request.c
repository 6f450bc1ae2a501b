/* Fuzz target: a whole request handled in-process: method, path and query,
 * headers and body through libmicrohttpd, the router and the handlers to a
 * real database in a temporary folder (fuzz_http.h: the service runs in
 * this process and each input goes over a loopback socket).
 *
 * Input, text:
 *     METHOD TARGET\n
 *     Name: value\n     (any number of header lines)
 *     \n
 *     body
 * The method keeps only token characters, the target is percent-encoded
 * where it must be, header lines keep no CR; Content-Length, Connection,
 * Expect, Host and "Transfer-Encoding: chunked" are the harness's and are
 * dropped (another Transfer-Encoding is sent).
 * Property (fuzz_http_send): no 5xx but 503 for anything. */
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_http.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* True when the header value [v, v + len) is "chunked" (any case, blanks
 * around), the one transfer coding libmicrohttpd decodes. */
static bool
chunked(const char *v, size_t len)
{
        while (len > 0 && (*v == ' ' || *v == '\t')) {
                v++;
                len--;
        }
        while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
                len--;
        return len == 7 && strncasecmp(v, "chunked", 7) == 0;
}

/* True for the headers the harness sets itself, and for "Transfer-Encoding:
 * chunked", which would make the harness's body unreadable; any other
 * transfer coding is sent, and must be refused at once (test_security's
 * an_unsupported_transfer_encoding_is_400_from_the_headers). line is
 * already cleaned (no CR, no NUL); the name is compared without the blanks
 * a sloppy client might leave before ':'. */
static bool
framing_header(const char *line, size_t len)
{
        static const char *const names[] = { "content-length", "connection", "transfer-encoding",
                                             "expect", "host" };
        const char *colon = memchr(line, ':', len);
        size_t n = colon == NULL ? len : (size_t)(colon - line);

        while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
                n--;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strlen(names[i]) == n && strncasecmp(line, names[i], n) == 0)
                        return i != 2 || colon == NULL ||
                               chunked(colon + 1, len - (size_t)(colon + 1 - line));
        return false;
}

/* Copies the header lines of [p, end) into out until an empty line, each
 * without CR and NUL bytes; returns where the body starts. */
static const char *
copy_headers(const char *p, const char *end, char *out, size_t cap)
{
        size_t used = 0;

        out[0] = '\0';
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t len = nl == NULL ? (size_t)(end - p) : (size_t)(nl - p), n = 0;

                if (len == 0)
                        return p + 1;
                if (used + len + 3 < cap) {
                        char *line = out + used;

                        for (size_t i = 0; i < len; i++)
                                if (p[i] != '\r' && p[i] != '\0')
                                        line[n++] = p[i];
                        if (n > 0 && memchr(line, ':', n) != NULL && !framing_header(line, n)) {
                                used += n;
                                out[used++] = '\r';
                                out[used++] = '\n';
                        }
                        out[used] = '\0';
                }
                p = nl == NULL ? end : nl + 1;
        }
        return end;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *p = (const char *)data, *end = p + size, *nl, *sp;
        char method[32], target[16384], headers[16384];
        size_t m = 0, line;

        nl = memchr(p, '\n', size);
        line = nl == NULL ? size : (size_t)(nl - p);
        sp = memchr(p, ' ', line);
        for (const char *c = p; c < (sp == NULL ? p + line : sp) && m + 1 < sizeof(method); c++)
                if (*c > ' ' && *c <= '~' && strchr("()<>@,;:\\\"/[]?={}", *c) == NULL)
                        method[m++] = *c;
        method[m] = '\0';
        if (m == 0)
                return 0;
        target[0] = '/';
        target[1] = '\0';
        if (sp != NULL) {
                const char *t = sp + 1;
                size_t tlen = line - (size_t)(t - p);

                if (tlen > 0 && *t == '/')
                        fuzz_http_target_append(target, 0, sizeof(target), t, tlen);
                else
                        fuzz_http_target_append(target, 1, sizeof(target), t, tlen);
        }
        p = nl == NULL ? end : nl + 1;
        p = copy_headers(p, end, headers, sizeof(headers));
        fuzz_http_send(method, target, headers, p, (size_t)(end - p));
        return 0;
}
