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
        struct fuzz_input in;
        int i = fuzz_http_split(data, size, sizeof(endpoints) / sizeof(endpoints[0]), &in);
        size_t n;
        char target[1024];

        if (i < 0)
                return 0;
        e = &endpoints[i];
        n = fuzz_http_target_append(target, 0, sizeof(target), e->prefix, strlen(e->prefix));
        if (e->suffix != NULL) {
                n = fuzz_http_target_append(target, n, sizeof(target) - 64, in.param,
                                            in.param_len);
                fuzz_http_target_append(target, n, sizeof(target), e->suffix, strlen(e->suffix));
        }
        fuzz_http_send(e->method, target, "Content-Type: application/json\r\n", in.rest,
                       in.rest_len);
        return 0;
}
