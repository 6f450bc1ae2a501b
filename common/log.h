/* Structured logging: one JSON object per line on stderr.
 *
 * It lives in common/ rather than server/ because db/ must log SQLite errors
 * where the handle is in scope, and db/ may not include anything above it.
 *
 * Lines are not written by the thread that logs them: each thread appends to
 * its own ring buffer (single producer, single consumer, lock-free) and one
 * logger thread writes the rings out, so a slow or blocked stderr never
 * holds up a request. Lines of one thread reach the output in the order
 * they were logged. Warn and error lines wake the logger at once; info and
 * debug lines are written within about 20 ms. When a thread's ring is full
 * an info or debug line is dropped and counted (log_dropped_total); a warn
 * or error line is then written directly instead, as it must not be lost.
 * An atexit handler (and log_flush) writes out what is buffered; lines
 * logged after the exit handler ran are written directly. */
#ifndef TRADESTORE_LOG_H
#define TRADESTORE_LOG_H

#include <stdbool.h>
#include <stddef.h>

struct timespec;

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Sets the lowest level that is written. Not thread-safe against concurrent
 * logging: call it during start-up. */
void log_set_level(enum log_level level);

/* Parses "debug", "info", "warn" or "error". Returns false for anything else
 * and leaves *ret_level untouched. */
bool log_level_parse(const char *s, enum log_level *ret_level);

/* True when a message at level would be written. */
bool log_enabled(enum log_level level);

/* Writes {"ts":...,"level":...,"event":event,"msg":<formatted>} as one line.
 * The message is JSON-escaped. Thread-safe; never blocks on the output. */
void log_msg(enum log_level level, const char *event, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Writes a pre-formatted JSON object (without the trailing newline) as one
 * line, when level is enabled. For callers that add their own fields. */
void log_line(enum log_level level, const char *json_object);

/* One access-log line; the strings are borrowed for the call and must need
 * no JSON escaping (request ids are validated, the rest are static). */
struct log_access {
        const char *request_id;
        const char *method;
        const char *route;
        unsigned status;
        long long duration_us;
        size_t bytes;
};

/* Logs a finished request at info (error for a status >= 500), formatted
 * without printf or strftime. */
void log_access(const struct log_access *a);

/* The text of the last second formatted, so that lines within one second
 * format only their microseconds. Zero-initialise before first use. */
struct log_ts_cache {
        long long sec;
        bool valid;
        char text[20]; /* "YYYY-MM-DDTHH:MM:SS" */
};

/* Writes now as "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" (LOG_TS_LEN bytes, no NUL)
 * into buf, refreshing the cache when the second changed. Returns LOG_TS_LEN. */
#define LOG_TS_LEN 27
size_t log_format_ts(struct log_ts_cache *cache, const struct timespec *now, char *buf);

/* Formats a's line, newline included, into buf (no NUL). Returns its length;
 * a line longer than cap is cut and still ends in a newline. cap >= 2. */
size_t log_format_access(char *buf, size_t cap, struct log_ts_cache *cache,
                         const struct timespec *now, enum log_level level,
                         const struct log_access *a);

/* Appends s to buf as JSON string content (no quotes), escaping as needed.
 * Writes at most cap - 1 bytes and NUL-terminates; returns the length
 * written. Truncates on a character boundary of the escaped output. */
unsigned long log_escape(char *buf, unsigned long cap, const char *s);

/* Lines dropped because their thread's ring was full, since start. */
unsigned long log_dropped_total(void);

/* Waits at most timeout_ms for every line logged so far to be written.
 * Returns true when all were. */
bool log_flush(int timeout_ms);

/* For tests, before any line is logged: write to fd instead of stderr, and
 * give each thread a ring of ring_bytes (default 256 KiB). */
void log_set_output(int fd);
void log_set_ring_size(size_t ring_bytes);

#endif
