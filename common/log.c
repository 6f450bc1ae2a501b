/* Structured JSON-lines logging on stderr (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;

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

static size_t
format_now(char *buf, size_t cap)
{
        struct timespec ts;
        struct tm tm;
        size_t n;

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
        n += (size_t)snprintf(buf + n, cap - n, ".%06ldZ", ts.tv_nsec / 1000);
        return n;
}

void
log_line(enum log_level level, const char *json_object)
{
        char line[8192];
        char now[40];
        int n;

        if (!log_enabled(level) || json_object[0] != '{')
                return;
        format_now(now, sizeof(now));
        /* Splice ts and level in front of the caller's fields. */
        n = snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\"%s%s\n", now,
                     level_names[level], json_object[1] == '}' ? "" : ",", json_object + 1);
        if (n < 0)
                return;
        if ((size_t)n >= sizeof(line)) {
                n = (int)sizeof(line) - 1;
                line[n - 1] = '\n';
        }
        /* One write per line so that concurrent lines never interleave. */
        if (write(STDERR_FILENO, line, (size_t)n) < 0)
                return;
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
