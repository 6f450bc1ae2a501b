/* The server the HTTP fuzz targets talk to. The router and the handlers
 * cannot be called without libmicrohttpd (struct req lives in server/http.c),
 * so the real service is started in-process once per fuzzing process, on
 * 127.0.0.1 and an ephemeral port, over a fresh database in a temporary
 * folder, and each input is sent to it over a TCP socket as one request.
 * The database keeps what earlier inputs wrote, so a crash may need the
 * inputs before it: libFuzzer's crash file alone reproduces most. */
#ifndef TRADESTORE_FUZZ_HTTP_H
#define TRADESTORE_FUZZ_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* Sends one request and returns the response's status code, after checking
 * the properties shared by every HTTP target: no 5xx for anything a client
 * sends, except 503 (the service's deliberate "unavailable, retry" under
 * overload), and every 4xx is application/problem+json (API.md). A broken
 * property, no answer within 30 s or an unreadable answer aborts.
 * Starts the service on first use. method and target must hold no space,
 * CR or LF; headers is "Name: value\r\n" lines (may be "") without
 * Content-Length, which is added for body (len bytes, may be 0). */
unsigned fuzz_http_send(const char *method, const char *target, const char *headers,
                        const char *body, size_t len);

/* Appends to out (at most cap bytes, NUL-terminated) the bytes of s made
 * safe for a request target: bytes outside '!'..'~' and '#' are
 * percent-encoded. Returns the new length. */
size_t fuzz_http_target_append(char *out, size_t used, size_t cap, const char *s, size_t len);

/* The input form of fuzz_body and fuzz_query: one byte choosing among n
 * endpoints (modulo n), a path parameter up to the first '\n' (empty when
 * there is none), then the rest. Returns the endpoint's index, or -1 for an
 * empty input; the spans are borrowed from data. */
struct fuzz_input {
        const char *param;
        size_t param_len;
        const char *rest;
        size_t rest_len;
};
int fuzz_http_split(const uint8_t *data, size_t size, size_t n, struct fuzz_input *ret);

#endif
