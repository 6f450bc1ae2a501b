/* In-process Prometheus metrics (see metrics.h). */
#include "server/metrics.h"

#include "server/http.h"
#include "common/log.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const unsigned statuses[] = { 200, 201, 204, 400, 401, 403, 404, 405,
                                     409, 413, 415, 422, 429, 500, 501, 503 };
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]) + 1) /* + "other" */

static const char *const methods[] = { "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OTHER" };
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

/* Upper bounds in microseconds; the last bucket is +Inf. */
static const int64_t bounds_us[] = { 100,   250,   500,    1000,   2500,   5000,    10000,
                                     25000, 50000, 100000, 250000, 500000, 1000000, 2500000 };
#define NBOUNDS (sizeof(bounds_us) / sizeof(bounds_us[0]))

struct series {
        atomic_ulong by_status[NSTATUS];
        atomic_ulong buckets[NBOUNDS + 1]; /* not cumulative; +Inf last */
        atomic_ullong sum_us;
};

struct metrics {
        const struct route *routes;
        size_t nroutes;
        struct series *series; /* nroutes matched, then NMETHODS unmatched */
        atomic_ulong fills[3];
};

void
strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (b->failed)
                return;
        for (;;) {
                size_t avail = b->cap - b->len;

                va_start(ap, fmt);
                n = vsnprintf(b->s ? b->s + b->len : NULL, avail, fmt, ap);
                va_end(ap);
                if (n < 0) {
                        b->failed = 1;
                        return;
                }
                if ((size_t)n < avail) {
                        b->len += (size_t)n;
                        return;
                }
                size_t cap = b->cap ? b->cap * 2 : 4096;
                while (cap - b->len <= (size_t)n)
                        cap *= 2;
                char *ns = realloc(b->s, cap);
                if (ns == NULL) {
                        b->failed = 1;
                        return;
                }
                b->s = ns;
                b->cap = cap;
        }
}

struct metrics *
metrics_new(const struct route *routes, size_t nroutes)
{
        struct metrics *m = calloc(1, sizeof(*m));

        if (m == NULL)
                return NULL;
        m->series = calloc(nroutes + NMETHODS, sizeof(*m->series));
        if (m->series == NULL) {
                free(m);
                return NULL;
        }
        m->routes = routes;
        m->nroutes = nroutes;
        return m;
}

void
metrics_free(struct metrics *m)
{
        if (m == NULL)
                return;
        free(m->series);
        free(m);
}

static size_t
status_slot(unsigned status)
{
        for (size_t i = 0; i < NSTATUS - 1; i++)
                if (statuses[i] == status)
                        return i;
        return NSTATUS - 1;
}

static size_t
method_slot(const char *method)
{
        for (size_t i = 0; i < NMETHODS - 1; i++)
                if (strcmp(methods[i], method) == 0)
                        return i;
        return NMETHODS - 1;
}

void
metrics_observe(struct metrics *m, const struct route *route, const char *method, unsigned status,
                int64_t duration_us)
{
        size_t idx = route ? (size_t)(route - m->routes) : m->nroutes + method_slot(method);
        struct series *s = &m->series[idx];
        size_t b = 0;

        while (b < NBOUNDS && duration_us > bounds_us[b])
                b++;
        atomic_fetch_add_explicit(&s->by_status[status_slot(status)], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->sum_us,
                                  (unsigned long long)(duration_us > 0 ? duration_us : 0),
                                  memory_order_relaxed);
}

void
metrics_fill(struct metrics *m, enum metrics_fill result)
{
        atomic_fetch_add_explicit(&m->fills[result], 1, memory_order_relaxed);
}

static void
series_labels(const struct metrics *m, size_t idx, const char **ret_method, const char **ret_route)
{
        if (idx < m->nroutes) {
                *ret_method = m->routes[idx].method;
                *ret_route = m->routes[idx].pattern;
        } else {
                *ret_method = methods[idx - m->nroutes];
                *ret_route = "unmatched";
        }
}

static void
render_requests(const struct metrics *m, struct strbuf *out)
{
        strbuf_printf(out, "# HELP tradestore_http_requests_total HTTP requests answered, by "
                           "method, route pattern and status.\n"
                           "# TYPE tradestore_http_requests_total counter\n");
        for (size_t i = 0; i < m->nroutes + NMETHODS; i++) {
                const char *method, *route;

                series_labels(m, i, &method, &route);
                for (size_t s = 0; s < NSTATUS; s++) {
                        unsigned long n = atomic_load_explicit(&m->series[i].by_status[s],
                                                               memory_order_relaxed);
                        char status[8];

                        if (n == 0)
                                continue;
                        if (s < NSTATUS - 1)
                                snprintf(status, sizeof(status), "%u", statuses[s]);
                        else
                                snprintf(status, sizeof(status), "other");
                        strbuf_printf(out,
                                      "tradestore_http_requests_total{method=\"%s\",route=\"%s\","
                                      "status=\"%s\"} %lu\n",
                                      method, route, status, n);
                }
        }
}

static void
render_histogram(const struct metrics *m, struct strbuf *out)
{
        strbuf_printf(out, "# HELP tradestore_http_request_duration_seconds Time from the "
                           "request's headers to its response, by method and route pattern.\n"
                           "# TYPE tradestore_http_request_duration_seconds histogram\n");
        for (size_t i = 0; i < m->nroutes + NMETHODS; i++) {
                const struct series *s = &m->series[i];
                unsigned long cum = 0;
                const char *method, *route;
                unsigned long long sum;

                for (size_t b = 0; b <= NBOUNDS; b++)
                        cum += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
                if (cum == 0)
                        continue;
                series_labels(m, i, &method, &route);
                cum = 0;
                for (size_t b = 0; b <= NBOUNDS; b++) {
                        cum += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
                        if (b < NBOUNDS)
                                strbuf_printf(out,
                                              "tradestore_http_request_duration_seconds_bucket{"
                                              "method=\"%s\",route=\"%s\",le=\"%g\"} %lu\n",
                                              method, route, (double)bounds_us[b] / 1e6, cum);
                        else
                                strbuf_printf(out,
                                              "tradestore_http_request_duration_seconds_bucket{"
                                              "method=\"%s\",route=\"%s\",le=\"+Inf\"} %lu\n",
                                              method, route, cum);
                }
                sum = atomic_load_explicit(&s->sum_us, memory_order_relaxed);
                strbuf_printf(out,
                              "tradestore_http_request_duration_seconds_sum{method=\"%s\","
                              "route=\"%s\"} %llu.%06llu\n"
                              "tradestore_http_request_duration_seconds_count{method=\"%s\","
                              "route=\"%s\"} %lu\n",
                              method, route, sum / 1000000, sum % 1000000, method, route, cum);
        }
}

void
metrics_render(const struct metrics *m, long in_flight, struct strbuf *out)
{
        static const char *const fill_names[] = { "applied", "duplicate", "conflict" };

        render_requests(m, out);
        render_histogram(m, out);
        strbuf_printf(out,
                      "# HELP tradestore_http_requests_in_flight Requests being handled.\n"
                      "# TYPE tradestore_http_requests_in_flight gauge\n"
                      "tradestore_http_requests_in_flight %ld\n",
                      in_flight);
        strbuf_printf(out, "# HELP tradestore_fills_total Fills received, by outcome: applied, "
                           "duplicate (a redelivery, applied before) or conflict (rejected).\n"
                           "# TYPE tradestore_fills_total counter\n");
        for (size_t i = 0; i < 3; i++)
                strbuf_printf(out, "tradestore_fills_total{result=\"%s\"} %lu\n", fill_names[i],
                              atomic_load_explicit(&m->fills[i], memory_order_relaxed));
        strbuf_printf(out,
                      "# HELP tradestore_log_lines_dropped_total Log lines dropped because "
                      "the logger could not keep up with them (a slow or blocked stderr).\n"
                      "# TYPE tradestore_log_lines_dropped_total counter\n"
                      "tradestore_log_lines_dropped_total %lu\n",
                      log_dropped_total());
}

static void
render_proc_stat(struct strbuf *out)
{
        char buf[1024];
        FILE *f = fopen("/proc/self/stat", "r");
        unsigned long utime = 0, stime = 0;
        unsigned long long start = 0;
        long ticks = sysconf(_SC_CLK_TCK);
        char *p;
        size_t n;

        if (f == NULL)
                return;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        p = strrchr(buf, ')'); /* the command name may hold spaces */
        if (p == NULL || ticks <= 0 ||
            sscanf(p + 2,
                   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d "
                   "%*d %*d %llu",
                   &utime, &stime, &start) != 3)
                return;
        strbuf_printf(out,
                      "# HELP process_cpu_seconds_total Total user and system CPU time "
                      "spent in seconds.\n# TYPE process_cpu_seconds_total counter\n"
                      "process_cpu_seconds_total %.2f\n",
                      (double)(utime + stime) / (double)ticks);
        /* Start time: boot time plus the start offset in ticks. */
        f = fopen("/proc/stat", "r");
        if (f == NULL)
                return;
        while (fgets(buf, sizeof(buf), f) != NULL) {
                unsigned long long btime;

                if (sscanf(buf, "btime %llu", &btime) == 1) {
                        strbuf_printf(out,
                                      "# HELP process_start_time_seconds Start time of the "
                                      "process since unix epoch in seconds.\n"
                                      "# TYPE process_start_time_seconds gauge\n"
                                      "process_start_time_seconds %.2f\n",
                                      (double)btime + (double)start / (double)ticks);
                        break;
                }
        }
        fclose(f);
}

void
metrics_render_process(struct strbuf *out)
{
        FILE *f = fopen("/proc/self/statm", "r");
        unsigned long pages_total = 0, pages_rss = 0;
        DIR *d;
        long fds = 0;

        render_proc_stat(out);
        if (f != NULL) {
                if (fscanf(f, "%lu %lu", &pages_total, &pages_rss) == 2)
                        strbuf_printf(out,
                                      "# HELP process_resident_memory_bytes Resident memory "
                                      "size in bytes.\n"
                                      "# TYPE process_resident_memory_bytes gauge\n"
                                      "process_resident_memory_bytes %lu\n",
                                      pages_rss * (unsigned long)sysconf(_SC_PAGESIZE));
                fclose(f);
        }
        d = opendir("/proc/self/fd");
        if (d != NULL) {
                struct dirent *e;

                while ((e = readdir(d)) != NULL)
                        if (e->d_name[0] != '.')
                                fds++;
                closedir(d);
                strbuf_printf(out,
                              "# HELP process_open_fds Number of open file descriptors.\n"
                              "# TYPE process_open_fds gauge\nprocess_open_fds %ld\n",
                              fds - 1 /* the directory itself */);
        }
}
