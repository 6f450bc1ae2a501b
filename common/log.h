/* Structured logging: one JSON object per line on stderr.
 *
 * It lives in common/ rather than server/ because db/ must log SQLite errors
 * where the handle is in scope, and db/ may not include anything above it. */
#ifndef TRADESTORE_LOG_H
#define TRADESTORE_LOG_H

#include <stdbool.h>

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
 * The message is JSON-escaped. Thread-safe: each line is one write(2). */
void log_msg(enum log_level level, const char *event, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Writes a pre-formatted JSON object (without the trailing newline) as one
 * line, when level is enabled. For callers that add their own fields. */
void log_line(enum log_level level, const char *json_object);

/* Appends s to buf as JSON string content (no quotes), escaping as needed.
 * Writes at most cap - 1 bytes and NUL-terminates; returns the length
 * written. Truncates on a character boundary of the escaped output. */
unsigned long log_escape(char *buf, unsigned long cap, const char *s);

#endif
