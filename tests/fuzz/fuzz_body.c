/* Fuzz target: JSON request bodies against each endpoint's field table,
 * through the real handlers (parse_object and the handler's own checks)
 * over HTTP to the in-process service (fuzz_http.h).
 *
 * Input: one byte choosing the endpoint in endpoints[] (modulo its
 * length), the path parameter up to the first '\n', then the body.
 * tests/fuzz/seeds.py writes seeds in this form: keep both tables in step.
 * Property (fuzz_http_send): no 5xx but 503 for any body. */
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_http.h"

#include <string.h>

struct endpoint {
        const char *method;
        const char *prefix; /* the path up to the parameter, or all of it */
        const char *suffix; /* after the parameter; NULL: no parameter */
};

static const struct endpoint endpoints[] = {
        { "POST", "/quotes", NULL },
        { "POST", "/quotes/batch", NULL },
        { "POST", "/quotes/expire", NULL },
        { "PATCH", "/quotes/", "" },
        { "POST", "/orders", NULL },
        { "PATCH", "/orders/", "" },
        { "POST", "/fills", NULL },
        { "PUT", "/positions/", "" },
        { "PATCH", "/positions/", "" },
        { "PUT", "/balances", NULL },
        { "PUT", "/balances/", "" },
        { "POST", "/outbox", NULL },
        { "POST", "/outbox/claim", NULL },
        { "POST", "/outbox/", "/processed" },
        { "POST", "/outbox/", "/failed" },
        { "POST", "/outbox/", "/retry" },
        { "POST", "/admin/maintenance", NULL },
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const struct endpoint *e;
        const char *p = (const char *)data + 1, *nl;
        size_t n = 0, plen;
        char target[1024];

        if (size < 1)
                return 0;
        e = &endpoints[data[0] % (sizeof(endpoints) / sizeof(endpoints[0]))];
        size--;
        nl = memchr(p, '\n', size);
        plen = nl == NULL ? 0 : (size_t)(nl - p);
        n = fuzz_http_target_append(target, 0, sizeof(target), e->prefix, strlen(e->prefix));
        if (e->suffix != NULL) {
                n = fuzz_http_target_append(target, n, sizeof(target) - 64, p, plen);
                n = fuzz_http_target_append(target, n, sizeof(target), e->suffix,
                                            strlen(e->suffix));
        }
        if (nl != NULL) {
                size -= plen + 1;
                p = nl + 1;
        }
        fuzz_http_send(e->method, target, "Content-Type: application/json\r\n", p, size);
        return 0;
}
