/* Structured JSON-lines logging on stderr through per-thread rings and one
 * logger thread (see log.h for the contract).
 *
 * Each thread that logs claims a ring: a byte buffer with a head the thread
 * alone advances and a tail the logger thread alone advances, both counting
 * bytes ever written, so neither side takes a lock. Rings are never freed
 * while the process runs: a thread that exits leaves its ring to be drained
 * and then claimed by a later thread. The logger sleeps on a condition
 * variable; producers signal it only for warn/error lines or a ring over
 * half full, so the common info line costs a memcpy and a release store. */
#include "log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

struct ring {
        char *buf;
        size_t cap;
        _Atomic size_t head; /* bytes appended; written by the owning thread */
        _Atomic size_t tail; /* bytes written out; written by the logger */
        atomic_bool owned;
        struct ring *next; /* immutable once the ring is published */
};

#define FLUSH_INTERVAL_MS 20

static enum log_level min_level = LOG_INFO;
static int out_fd = STDERR_FILENO;
static size_t ring_size = 256 * 1024;
static _Atomic(struct ring *) rings;
static atomic_ulong dropped;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static bool started, start_failed, stopping, kicked;
static atomic_bool exiting; /* the exit handler ran: write lines directly */
static pthread_t logger;
static pthread_key_t ring_key;

static _Thread_local struct ring *my_ring;
static _Thread_local struct log_ts_cache my_ts;

static const char *const level_names[] = {
        [LOG_DEBUG] = "debug",
        [LOG_INFO] = "info",
        [LOG_WARN] = "warn",
        [LOG_ERROR] = "error",
};

void
log_set_level(enum log_level level)
{
        min_level = level;
}

bool
log_level_parse(const char *s, enum log_level *ret_level)
{
        for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
                if (strcmp(s, level_names[i]) == 0) {
                        *ret_level = (enum log_level)i;
                        return true;
                }
        }
        return false;
}

bool
log_enabled(enum log_level level)
{
        return level >= min_level;
}

void
log_set_output(int fd)
{
        out_fd = fd;
}

void
log_set_ring_size(size_t ring_bytes)
{
        ring_size = ring_bytes;
}

unsigned long
log_dropped_total(void)
{
        return atomic_load_explicit(&dropped, memory_order_relaxed);
}

unsigned long
log_escape(char *buf, unsigned long cap, const char *s)
{
        unsigned long n = 0;

        if (cap == 0)
                return 0;
        for (; *s != '\0'; s++) {
                unsigned char ch = (unsigned char)*s;
                char tmp[8];
                const char *out = tmp;
                size_t len;

                if (ch == '"' || ch == '\\') {
                        tmp[0] = '\\';
                        tmp[1] = (char)ch;
                        len = 2;
                } else if (ch == '\n') {
                        out = "\\n";
                        len = 2;
                } else if (ch < 0x20) {
                        len = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", ch);
                } else {
                        tmp[0] = (char)ch;
                        len = 1;
                }
                if (n + len >= cap)
                        break;
                memcpy(buf + n, out, len);
                n += len;
        }
        buf[n] = '\0';
        return n;
}

/* ---------------------------------------------------------------- formatting */

/* Writes v as exactly width decimal digits, zero-padded. */
static void
put_digits(char *p, unsigned long v, int width)
{
        for (int i = width - 1; i >= 0; i--) {
                p[i] = (char)('0' + v % 10);
                v /= 10;
        }
}

size_t
log_format_ts(struct log_ts_cache *cache, const struct timespec *now, char *buf)
{
        if (!cache->valid || cache->sec != (long long)now->tv_sec) {
                time_t t = now->tv_sec;
                struct tm tm;

                gmtime_r(&t, &tm);
                put_digits(cache->text, (unsigned long)(tm.tm_year + 1900) % 10000, 4);
                cache->text[4] = '-';
                put_digits(cache->text + 5, (unsigned long)tm.tm_mon + 1, 2);
                cache->text[7] = '-';
                put_digits(cache->text + 8, (unsigned long)tm.tm_mday, 2);
                cache->text[10] = 'T';
                put_digits(cache->text + 11, (unsigned long)tm.tm_hour, 2);
                cache->text[13] = ':';
                put_digits(cache->text + 14, (unsigned long)tm.tm_min, 2);
                cache->text[16] = ':';
                put_digits(cache->text + 17, (unsigned long)tm.tm_sec, 2);
                cache->sec = (long long)now->tv_sec;
                cache->valid = true;
        }
        memcpy(buf, cache->text, 19);
        buf[19] = '.';
        put_digits(buf + 20, (unsigned long)(now->tv_nsec / 1000), 6);
        buf[26] = 'Z';
        return LOG_TS_LEN;
}

/* A bounded appender: once full, further appends are ignored. */
struct out {
        char *p;
        size_t n, cap;
};

static void
put(struct out *o, const char *s, size_t len)
{
        if (len > o->cap - o->n)
                len = o->cap - o->n;
        memcpy(o->p + o->n, s, len);
        o->n += len;
}

static void
put_str(struct out *o, const char *s)
{
        put(o, s, strlen(s));
}

static void
put_ull(struct out *o, unsigned long long v)
{
        char tmp[24];
        size_t i = sizeof(tmp);

        do {
                tmp[--i] = (char)('0' + v % 10);
                v /= 10;
        } while (v != 0);
        put(o, tmp + i, sizeof(tmp) - i);
}

#define PUT_LIT(o, lit) put((o), (lit), sizeof(lit) - 1)

/* Writes {"ts":"...","level":"..." into o; the caller adds the rest. */
static void
put_head(struct out *o, struct log_ts_cache *cache, const struct timespec *now,
         enum log_level level)
{
        char ts[LOG_TS_LEN];

        log_format_ts(cache, now, ts);
        PUT_LIT(o, "{\"ts\":\"");
        put(o, ts, sizeof(ts));
        PUT_LIT(o, "\",\"level\":\"");
        put_str(o, level_names[level]);
        PUT_LIT(o, "\"");
}

/* Ends the line: a newline, in place of the last byte when o is full. */
static size_t
put_end(struct out *o)
{
        if (o->n == o->cap)
                o->n--;
        o->p[o->n++] = '\n';
        return o->n;
}

size_t
log_format_access(char *buf, size_t cap, struct log_ts_cache *cache, const struct timespec *now,
                  enum log_level level, const struct log_access *a)
{
        struct out o = { .p = buf, .n = 0, .cap = cap };

        put_head(&o, cache, now, level);
        PUT_LIT(&o, ",\"event\":\"request\",\"request_id\":\"");
        put_str(&o, a->request_id);
        PUT_LIT(&o, "\",\"method\":\"");
        put_str(&o, a->method);
        PUT_LIT(&o, "\",\"route\":\"");
        put_str(&o, a->route);
        PUT_LIT(&o, "\",\"status\":");
        put_ull(&o, a->status);
        PUT_LIT(&o, ",\"duration_us\":");
        if (a->duration_us < 0) {
                PUT_LIT(&o, "-");
                put_ull(&o, (unsigned long long)-(a->duration_us + 1) + 1);
        } else {
                put_ull(&o, (unsigned long long)a->duration_us);
        }
        PUT_LIT(&o, ",\"bytes\":");
        put_ull(&o, a->bytes);
        PUT_LIT(&o, "}");
        return put_end(&o);
}

/* ---------------------------------------------------------------- output */

/* Writes all of iov[0..n) to out_fd in as few write(2) calls as it takes,
 * waiting while the output is full. Gives up on an error other than
 * EINTR/EAGAIN: there is nowhere to report it. */
static void
write_iov(struct iovec *iov, int n)
{
        while (n > 0) {
                ssize_t k = writev(out_fd, iov, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK) {
                                struct pollfd pfd = { .fd = out_fd, .events = POLLOUT };

                                (void)poll(&pfd, 1, -1);
                                continue;
                        }
                        return;
                }
                while (n > 0 && (size_t)k >= iov->iov_len) {
                        k -= (ssize_t)iov->iov_len;
                        iov++;
                        n--;
                }
                if (n > 0) {
                        iov->iov_base = (char *)iov->iov_base + k;
                        iov->iov_len -= (size_t)k;
                }
        }
}

static void
write_all(const char *p, size_t len)
{
        struct iovec iov = { .iov_base = (void *)(uintptr_t)p, .iov_len = len };

        write_iov(&iov, 1);
}

/* Writes out what r holds, both sides of the wrap in one writev so that a
 * line cut by the wrap is not split by another thread's direct write.
 * Logger thread only. */
static void
drain(struct ring *r)
{
        size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
        size_t h = atomic_load_explicit(&r->head, memory_order_acquire);
        size_t off = t % r->cap, len = h - t;
        struct iovec iov[2];
        int n = 1;

        if (len == 0)
                return;
        iov[0] = (struct iovec){ .iov_base = r->buf + off, .iov_len = len };
        if (len > r->cap - off) {
                iov[0].iov_len = r->cap - off;
                iov[1] = (struct iovec){ .iov_base = r->buf, .iov_len = len - iov[0].iov_len };
                n = 2;
        }
        write_iov(iov, n);
        atomic_store_explicit(&r->tail, h, memory_order_release);
}

static void
drain_all(void)
{
        for (struct ring *r = atomic_load(&rings); r != NULL; r = r->next)
                drain(r);
}

static void *
logger_main(void *arg)
{
        (void)arg;
        pthread_mutex_lock(&mu);
        for (;;) {
                bool stop;

                if (!kicked && !stopping) {
                        struct timespec until;

                        clock_gettime(CLOCK_REALTIME, &until);
                        until.tv_nsec += FLUSH_INTERVAL_MS * 1000000L;
                        if (until.tv_nsec >= 1000000000L) {
                                until.tv_sec++;
                                until.tv_nsec -= 1000000000L;
                        }
                        pthread_cond_timedwait(&wake, &mu, &until);
                }
                kicked = false;
                stop = stopping;
                pthread_mutex_unlock(&mu);
                drain_all();
                if (stop)
                        return NULL;
                pthread_mutex_lock(&mu);
        }
}

/* Writes what is buffered before the process exits; gives a blocked output
 * 2 s rather than hanging the exit. */
static void
log_at_exit(void)
{
        struct timespec until;
        bool was_started;

        pthread_mutex_lock(&mu);
        was_started = started;
        stopping = true;
        atomic_store(&exiting, true);
        pthread_cond_signal(&wake);
        pthread_mutex_unlock(&mu);
        if (!was_started)
                return;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 2;
        (void)pthread_timedjoin_np(logger, NULL, &until);
}

/* In a forked child the logger thread does not exist: start another one on
 * the next line. The rings' contents are the parent's to write. */
static void
after_fork_child(void)
{
        pthread_mutex_init(&mu, NULL);
        pthread_cond_init(&wake, NULL);
        started = false;
        start_failed = false;
        stopping = false;
        kicked = false;
        for (struct ring *r = atomic_load(&rings); r != NULL; r = r->next) {
                atomic_store(&r->tail, atomic_load(&r->head));
                atomic_store(&r->owned, false);
        }
        my_ring = NULL;
}

static void
release_ring(void *p)
{
        struct ring *r = p;

        atomic_store(&r->owned, false);
}

/* Starts the logger thread once. False when it cannot run: log directly. */
static bool
ensure_started(void)
{
        bool ok;

        pthread_mutex_lock(&mu);
        if (!started && !start_failed && !stopping) {
                static bool registered;

                if (!registered) {
                        registered = pthread_key_create(&ring_key, release_ring) == 0 &&
                                     atexit(log_at_exit) == 0 &&
                                     pthread_atfork(NULL, NULL, after_fork_child) == 0;
                }
                if (registered && pthread_create(&logger, NULL, logger_main, NULL) == 0)
                        started = true;
                else
                        start_failed = true;
        }
        ok = started && !stopping;
        pthread_mutex_unlock(&mu);
        return ok;
}

/* The calling thread's ring, claimed or made on its first line; NULL when
 * none can be had (out of memory, or the logger not running). */
static struct ring *
thread_ring(void)
{
        struct ring *r;

        if (my_ring != NULL)
                return my_ring;
        if (!ensure_started())
                return NULL;
        for (r = atomic_load(&rings); r != NULL; r = r->next) {
                bool no = false;

                if (r->cap == ring_size && atomic_compare_exchange_strong(&r->owned, &no, true))
                        break;
        }
        if (r == NULL) {
                r = calloc(1, sizeof(*r));
                if (r == NULL)
                        return NULL;
                r->buf = malloc(ring_size);
                if (r->buf == NULL) {
                        free(r);
                        return NULL;
                }
                r->cap = ring_size;
                atomic_store(&r->owned, true);
                r->next = atomic_load(&rings);
                while (!atomic_compare_exchange_weak(&rings, &r->next, r))
                        ;
        }
        pthread_setspecific(ring_key, r);
        my_ring = r;
        return r;
}

static void
kick(void)
{
        pthread_mutex_lock(&mu);
        kicked = true;
        pthread_cond_signal(&wake);
        pthread_mutex_unlock(&mu);
}

/* Queues one whole line (newline included) on the caller's ring. */
static void
emit(enum log_level level, const char *line, size_t len)
{
        struct ring *r = atomic_load(&exiting) ? NULL : thread_ring();
        bool urgent = level >= LOG_WARN;
        size_t h, t, off, first;

        /* No ring (out of memory, or the process exiting): write directly. */
        if (r == NULL || len > r->cap) {
                if (urgent || r == NULL)
                        write_all(line, len);
                else
                        atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
                return;
        }
        h = atomic_load_explicit(&r->head, memory_order_relaxed);
        t = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (len > r->cap - (h - t)) {
                if (urgent)
                        write_all(line, len); /* may overtake this thread's queued lines */
                else
                        atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
                return;
        }
        off = h % r->cap;
        first = len < r->cap - off ? len : r->cap - off;
        memcpy(r->buf + off, line, first);
        memcpy(r->buf, line + first, len - first);
        atomic_store_explicit(&r->head, h + len, memory_order_release);
        if (urgent || (h + len - t) > r->cap / 2)
                kick();
}

bool
log_flush(int timeout_ms)
{
        int waited = 0;

        for (;;) {
                bool empty = true;

                for (struct ring *r = atomic_load(&rings); r != NULL; r = r->next) {
                        if (atomic_load(&r->tail) != atomic_load(&r->head))
                                empty = false;
                }
                if (empty)
                        return true;
                if (waited >= timeout_ms)
                        return false;
                kick();
                nanosleep(&(struct timespec){ .tv_nsec = 1000000L }, NULL);
                waited++;
        }
}

/* ---------------------------------------------------------------- entry points */

void
log_access(const struct log_access *a)
{
        enum log_level level = a->status >= 500 ? LOG_ERROR : LOG_INFO;
        struct timespec now;
        char line[512];
        size_t n;

        if (!log_enabled(level))
                return;
        clock_gettime(CLOCK_REALTIME, &now);
        n = log_format_access(line, sizeof(line), &my_ts, &now, level, a);
        emit(level, line, n);
}

void
log_line(enum log_level level, const char *json_object)
{
        struct out o;
        struct timespec now;
        char line[8192];

        if (!log_enabled(level) || json_object[0] != '{')
                return;
        clock_gettime(CLOCK_REALTIME, &now);
        o = (struct out){ .p = line, .n = 0, .cap = sizeof(line) };
        /* Splice ts and level in front of the caller's fields. */
        put_head(&o, &my_ts, &now, level);
        if (json_object[1] != '}')
                PUT_LIT(&o, ",");
        put_str(&o, json_object + 1);
        emit(level, line, put_end(&o));
}

void
log_msg(enum log_level level, const char *event, const char *fmt, ...)
{
        char msg[4096];
        char esc_msg[6144];
        char esc_event[128];
        char obj[6400];
        va_list ap;

        if (!log_enabled(level))
                return;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        log_escape(esc_msg, sizeof(esc_msg), msg);
        log_escape(esc_event, sizeof(esc_event), event);
        snprintf(obj, sizeof(obj), "{\"event\":\"%s\",\"msg\":\"%s\"}", esc_event, esc_msg);
        log_line(level, obj);
}
