/* Fuzz target: query strings of every GET endpoint, through the real
 * router and handlers (the route rules: parse_query, cursors, limits) over
 * HTTP to the in-process service (fuzz_http.h).
 *
 * Input: one byte choosing the endpoint in endpoints[] (modulo its
 * length), the path parameter up to the first '\n', then the query string
 * (bytes a request target cannot hold are percent-encoded).
 * tests/fuzz/seeds.py writes seeds in this form: keep both tables in step.
 * Property (fuzz_http_send): no 5xx but 503 for any query. */
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_http.h"

#include <string.h>

struct endpoint {
        const char *prefix; /* the path up to the parameter, or all of it */
        int param;
};

static const struct endpoint endpoints[] = {
        { "/quotes", 0 },   { "/quotes/", 1 },     { "/orders", 0 },    { "/orders/", 1 },
        { "/fills", 0 },    { "/fills/", 1 },      { "/positions", 0 }, { "/positions/", 1 },
        { "/balances", 0 }, { "/balances/", 1 },   { "/outbox", 0 },    { "/outbox/", 1 },
        { "/health", 0 },   { "/admin/stats", 0 }, { "/metrics", 0 },
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const struct endpoint *e;
        struct fuzz_input in;
        int i = fuzz_http_split(data, size, sizeof(endpoints) / sizeof(endpoints[0]), &in);
        size_t n;
        char target[16384];

        if (i < 0)
                return 0;
        e = &endpoints[i];
        n = fuzz_http_target_append(target, 0, sizeof(target), e->prefix, strlen(e->prefix));
        if (e->param)
                n = fuzz_http_target_append(target, n, 1024, in.param, in.param_len);
        target[n++] = '?'; /* n <= 1024 */
        target[n] = '\0';
        /* The query's own '&', '=' and '%' pass as they are. */
        fuzz_http_target_append(target, n, sizeof(target), in.rest, in.rest_len);
        fuzz_http_send("GET", target, "", NULL, 0);
        return 0;
}
