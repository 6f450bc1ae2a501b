/* `tradestore healthcheck`: a one-request HTTP/1.1 client for GET /health.
 *
 * One non-blocking socket, one deadline for the whole exchange, poll() for
 * every wait, so a hung or half-started server makes the check fail in time
 * instead of hanging the container's HEALTHCHECK. Only the status line is
 * judged; the body is read and dropped so the server sees an orderly close. */
#include "server/healthcheck.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define STATUS_LINE_MAX 256
#define DRAIN_MAX (64 * 1024) /* a /health body is a few hundred bytes */

/* One probe: where it goes, until when, and why it failed. */
struct probe {
        const char *host; /* after the wildcard mapping; borrowed */
        char port[8];
        int64_t deadline_ms; /* CLOCK_MONOTONIC */
        char why[192];       /* set by the step that failed */
};

static int64_t
now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before the deadline; 0 once it has passed. */
static int
time_left(const struct probe *p)
{
        int64_t left = p->deadline_ms - now_ms();

        return left > 0 ? (int)left : 0;
}

/* A server listening on a wildcard is reached on loopback of that family. */
static const char *
probe_host(const char *host)
{
        if (host == NULL || host[0] == '\0' || strcmp(host, "0.0.0.0") == 0)
                return "127.0.0.1";
        if (strcmp(host, "::") == 0)
                return "::1";
        return host;
}

/* Waits until fd reports one of events (or an error or hang-up, which the
 * next call on fd will tell). Returns 0, or -1 with p->why set when the
 * deadline passes first. */
static int
wait_for(struct probe *p, int fd, short events, const char *doing)
{
        struct pollfd pfd = { .fd = fd, .events = events };
        int rc;

        do
                rc = poll(&pfd, 1, time_left(p));
        while (rc < 0 && errno == EINTR);
        if (rc > 0)
                return 0;
        if (rc == 0)
                snprintf(p->why, sizeof(p->why), "timeout %s", doing);
        else
                snprintf(p->why, sizeof(p->why), "poll: %s", strerror(errno));
        return -1;
}

/* Returns a connected non-blocking socket (caller closes), or -1 with
 * p->why set. */
static int
connect_one(struct probe *p, const struct addrinfo *ai)
{
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
        int err = 0;
        socklen_t len = sizeof(err);

        if (fd < 0) {
                snprintf(p->why, sizeof(p->why), "socket: %s", strerror(errno));
                return -1;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
                return fd;
        if (errno != EINPROGRESS) {
                err = errno;
                goto refused;
        }
        if (wait_for(p, fd, POLLOUT, "connecting") != 0)
                goto out;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                err = errno;
        if (err == 0)
                return fd;
refused:
        if (err == ECONNREFUSED)
                snprintf(p->why, sizeof(p->why), "connection refused");
        else
                snprintf(p->why, sizeof(p->why), "connect: %s", strerror(err));
out:
        close(fd);
        return -1;
}

/* Tries each address of p->host in turn until one connects or time runs
 * out. Returns the socket (caller closes), or -1 with p->why set by the
 * last attempt. */
static int
connect_any(struct probe *p)
{
        const struct addrinfo hints = {
                .ai_family = AF_UNSPEC,
                .ai_socktype = SOCK_STREAM,
                .ai_flags = AI_NUMERICSERV,
        };
        struct addrinfo *res = NULL;
        int fd = -1;
        int rc = getaddrinfo(p->host, p->port, &hints, &res);

        if (rc != 0) {
                snprintf(p->why, sizeof(p->why), "cannot resolve: %s", gai_strerror(rc));
                return -1;
        }
        for (const struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
                fd = connect_one(p, ai);
                if (fd < 0 && time_left(p) == 0)
                        break;
        }
        freeaddrinfo(res);
        return fd;
}

/* Writes the whole request. Returns 0, or -1 with p->why set. */
static int
send_request(struct probe *p, int fd)
{
        char req[512];
        const char *open = strchr(p->host, ':') != NULL ? "[" : "";
        const char *close_ = open[0] != '\0' ? "]" : "";
        int len = snprintf(req, sizeof(req),
                           "GET /health HTTP/1.1\r\nHost: %s%s%s:%s\r\n"
                           "User-Agent: tradestore-healthcheck\r\n"
                           "Connection: close\r\n\r\n",
                           open, p->host, close_, p->port);
        size_t off = 0;

        if (len < 0 || (size_t)len >= sizeof(req)) {
                snprintf(p->why, sizeof(p->why), "host name too long");
                return -1;
        }
        while (off < (size_t)len) {
                ssize_t n = send(fd, req + off, (size_t)len - off, MSG_NOSIGNAL);

                if (n >= 0)
                        off += (size_t)n;
                else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                        if (wait_for(p, fd, POLLOUT, "sending the request") != 0)
                                return -1;
                } else if (errno != EINTR) {
                        snprintf(p->why, sizeof(p->why), "send: %s", strerror(errno));
                        return -1;
                }
        }
        return 0;
}

/* Reads into buf (cap bytes, NUL-terminated) until a newline, EOF or cap.
 * Returns the length, or -1 with p->why set. */
static ssize_t
read_line(struct probe *p, int fd, char *buf, size_t cap)
{
        size_t len = 0;

        while (len + 1 < cap && memchr(buf, '\n', len) == NULL) {
                ssize_t n;

                if (wait_for(p, fd, POLLIN, "waiting for the answer") != 0)
                        return -1;
                n = recv(fd, buf + len, cap - 1 - len, 0);
                if (n == 0)
                        break;
                if (n > 0)
                        len += (size_t)n;
                else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
                        snprintf(p->why, sizeof(p->why), "recv: %s", strerror(errno));
                        return -1;
                }
        }
        buf[len] = '\0';
        return (ssize_t)len;
}

/* True when line starts "HTTP/1.x NNN" followed by a space or the end. */
static bool
is_status_line(const char *line, size_t len)
{
        const char *s = line + sizeof("HTTP/1.x ") - 1;

        if (len < sizeof("HTTP/1.x NNN") - 1 || strncmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ')
                return false;
        for (int i = 0; i < 3; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return s[0] != '0' && (s[3] == ' ' || s[3] == '\r' || s[3] == '\n' || s[3] == '\0');
}

/* Parses the status line (NUL-terminated, len bytes) into *ret_status.
 * Returns 0, or -1 with p->why set (and *ret_status untouched) when line is
 * no HTTP/1 status line. */
static int
parse_status(struct probe *p, const char *line, size_t len, int *ret_status)
{
        const char *s = line + sizeof("HTTP/1.x ") - 1;
        char shown[48];
        size_t n = 0;

        if (len == 0) {
                snprintf(p->why, sizeof(p->why), "connection closed without an answer");
                return -1;
        }
        if (is_status_line(line, len)) {
                *ret_status = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
                return 0;
        }
        if (line[0] == 0x15 || line[0] == 0x16) {
                /* A TLS alert or handshake record: the port speaks HTTPS. */
                snprintf(p->why, sizeof(p->why),
                         "the server answered in TLS; this probe speaks plain HTTP only");
                return -1;
        }
        /* Quote the start of the line, printable bytes only. */
        for (size_t i = 0; i < len && n + 1 < sizeof(shown); i++) {
                if (line[i] == '\r' || line[i] == '\n')
                        break;
                shown[n++] = line[i] >= 0x20 && line[i] < 0x7f ? line[i] : '?';
        }
        shown[n] = '\0';
        snprintf(p->why, sizeof(p->why), "not an HTTP answer: \"%s\"", shown);
        return -1;
}

/* Reads and drops the rest of the answer so the server sees our FIN, not a
 * reset. Best effort: stops at EOF, an error, the deadline or DRAIN_MAX. */
static void
drain(struct probe *p, int fd)
{
        char buf[4096];
        size_t total = 0;
        ssize_t n = 1;

        while (total < DRAIN_MAX && n != 0) {
                if (wait_for(p, fd, POLLIN, "draining") != 0)
                        return;
                n = recv(fd, buf, sizeof(buf), 0);
                if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
                        return;
                if (n > 0)
                        total += (size_t)n;
        }
}

int
healthcheck_run(const char *host, int port, int timeout_ms)
{
        struct probe p = { .host = probe_host(host) };
        char line[STATUS_LINE_MAX];
        ssize_t len;
        int fd = -1, status = 0, rc = 1;

        p.deadline_ms = now_ms() + (timeout_ms > 0 ? timeout_ms : HEALTHCHECK_TIMEOUT_MS);
        snprintf(p.port, sizeof(p.port), "%d", port);
        if (port < 1 || port > 65535) {
                snprintf(p.why, sizeof(p.why), "port %d cannot be probed (1-65535)", port);
                goto out;
        }
        fd = connect_any(&p);
        if (fd < 0 || send_request(&p, fd) != 0)
                goto out;
        len = read_line(&p, fd, line, sizeof(line));
        if (len < 0 || parse_status(&p, line, (size_t)len, &status) != 0)
                goto out;
        drain(&p, fd);
        if (status == 200)
                rc = 0;
        else
                snprintf(p.why, sizeof(p.why), "status %d", status);
out:
        if (fd >= 0)
                close(fd);
        if (rc != 0)
                fprintf(stderr, "tradestore healthcheck: http://%s%s%s:%s/health: %s\n",
                        strchr(p.host, ':') != NULL ? "[" : "", p.host,
                        strchr(p.host, ':') != NULL ? "]" : "", p.port, p.why);
        return rc;
}
