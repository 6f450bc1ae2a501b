/* Prometheus metrics kept in process: HTTP request counters and latency
 * histograms per route, fill outcomes, and the text-format renderer used by
 * GET /metrics. Counting is lock-free (relaxed atomics) so the hot path never
 * waits on it; gauges that need the database are computed at scrape time. */
#ifndef TRADESTORE_METRICS_H
#define TRADESTORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct route;
struct metrics;

enum metrics_fill { METRICS_FILL_APPLIED, METRICS_FILL_DUPLICATE, METRICS_FILL_CONFLICT };

/* A growing text buffer for rendering. */
struct strbuf {
        char *s;
        size_t len;
        size_t cap;
        int failed; /* set when an allocation failed; the text is incomplete */
};

void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Counters for nroutes routes (index nroutes counts unmatched requests).
 * Caller owns the result: metrics_free. NULL on out-of-memory. */
struct metrics *metrics_new(const struct route *routes, size_t nroutes);
void metrics_free(struct metrics *m);

/* Records one finished request. route is NULL when none matched. */
void metrics_observe(struct metrics *m, const struct route *route, const char *method,
                     unsigned status, int64_t duration_us);

void metrics_fill(struct metrics *m, enum metrics_fill result);

/* Appends the HTTP and fill metric families in Prometheus text format 0.0.4. */
void metrics_render(const struct metrics *m, long in_flight, struct strbuf *out);

/* Appends the standard process_* families (cpu, resident memory, open fds,
 * start time) read from /proc. */
void metrics_render_process(struct strbuf *out);

#endif
