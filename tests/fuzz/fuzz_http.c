/* The in-process service for the HTTP fuzz targets (see fuzz_http.h). */
#include "tests/fuzz/fuzz_http.h"

#include "tests/fuzz/fuzz.h"

#include "common/log.h"
#include "server/config.h"
#include "server/service.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static struct config cfg;
static struct service *svc;
static char dir[64] = "/tmp/tradestore-fuzz-XXXXXX";
static uint16_t port;

static void
stop(void)
{
        char cmd[128];

        service_stop(svc, 2000);
        config_clear(&cfg);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
                fprintf(stderr, "fuzz: could not remove %s\n", dir);
}

static void
set(const char *key, const char *value)
{
        char err[256];

        if (config_set(&cfg, key, value, CONFIG_SRC_FLAG, err, sizeof(err)) != 0)
                fuzz_fail("config %s: %s", key, err);
}

static void
start(void)
{
        char path[128];

        log_set_level(LOG_ERROR);
        if (mkdtemp(dir) == NULL)
                fuzz_fail("mkdtemp: %s", strerror(errno));
        snprintf(path, sizeof(path), "%s/fuzz.db", dir);
        config_init(&cfg);
        set("database.path", path);
        set("server.host", "127.0.0.1");
        set("server.port", "0");
        set("server.threads", "2");
        set("server.log_level", "error");
        if (service_start(&cfg, &svc) != 0)
                fuzz_fail("the service did not start");
        port = service_port(svc);
        atexit(stop);
}

static int
connect_server(void)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
        struct timeval tv = { .tv_sec = 30 };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

        if (fd < 0)
                fuzz_fail("socket: %s", strerror(errno));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
        if (rc != 0 && errno != EINTR)
                fuzz_fail("connect: %s", strerror(errno));
        /* libFuzzer's SIGALRM may interrupt connect, which then completes
         * in the background: wait for it. */
        if (rc != 0) {
                struct pollfd p = { .fd = fd, .events = POLLOUT };
                int err = 0;
                socklen_t len = sizeof(err);

                while (poll(&p, 1, 30000) < 0 && errno == EINTR)
                        ;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
                        fuzz_fail("connect: %s", strerror(err));
        }
        return fd;
}

static void
send_all(int fd, const char *p, size_t len)
{
        while (len > 0) {
                ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return; /* the server may answer (413) and close before reading it all */
                p += n;
                len -= (size_t)n;
        }
}

/* Reads the answer's head (its first 8 KiB at most) into head; the body is
 * not needed. A 100 Continue is never asked for (no Expect header is sent).
 * Returns the status. */
static unsigned
read_head(int fd, char head[8192])
{
        size_t used = 0;
        unsigned status = 0;

        while (used < 8191) {
                ssize_t n = recv(fd, head + used, 8191 - used, 0);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        fuzz_fail("no answer within 30 s: %s", strerror(errno));
                if (n == 0)
                        break;
                used += (size_t)n;
                head[used] = '\0';
                if (strstr(head, "\r\n\r\n") != NULL)
                        break;
        }
        head[used] = '\0';
        if (sscanf(head, "HTTP/1.%*1[01] %3u", &status) != 1)
                fuzz_fail("no status line in the answer: \"%.100s\"", head);
        return status;
}

/* API.md: every error is RFC 9457 problem+json. */
static void
check_problem(const char *method, const char *target, unsigned status, const char *head)
{
        const char *end = strstr(head, "\r\n\r\n");

        for (const char *p = strstr(head, "\r\n"); p != NULL && p != end; p = strstr(p + 2, "\r\n"))
                if (strncasecmp(p + 2, "content-type:", 13) == 0) {
                        p += 15;
                        while (*p == ' ')
                                p++;
                        if (strncmp(p, "application/problem+json", 24) == 0)
                                return;
                        break;
                }
        fuzz_fail("%s %s answered %u without problem+json: \"%.300s\"", method, target, status,
                  head);
}

unsigned
fuzz_http_send(const char *method, const char *target, const char *headers, const char *body,
               size_t len)
{
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        char head[512], answer[8192];
        unsigned status;
        int fd, n;

        if (svc == NULL)
                start();
        fd = connect_server();
        n = snprintf(head, sizeof(head),
                     " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Content-Length: %zu\r\n",
                     len);
        send_all(fd, method, strlen(method));
        send_all(fd, " ", 1);
        send_all(fd, target, strlen(target));
        send_all(fd, head, (size_t)n);
        send_all(fd, headers, strlen(headers));
        send_all(fd, "\r\n", 2);
        send_all(fd, body, len);
        status = read_head(fd, answer);
        /* Reset rather than close: no TIME_WAIT left per input. */
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(fd);
        if (status >= 500 && status != 503)
                fuzz_fail("%s %s answered %u", method, target, status);
        if (status >= 400)
                check_problem(method, target, status, answer);
        return status;
}

size_t
fuzz_http_target_append(char *out, size_t used, size_t cap, const char *s, size_t len)
{
        static const char hex[] = "0123456789ABCDEF";

        for (size_t i = 0; i < len && used + 4 < cap; i++) {
                unsigned char c = (unsigned char)s[i];

                if (c > ' ' && c <= '~' && c != '#') {
                        out[used++] = (char)c;
                } else {
                        out[used++] = '%';
                        out[used++] = hex[c >> 4];
                        out[used++] = hex[c & 15];
                }
        }
        out[used] = '\0';
        return used;
}

int
fuzz_http_split(const uint8_t *data, size_t size, size_t n, struct fuzz_input *ret)
{
        const char *p = (const char *)data + 1, *nl;

        if (size < 1 || n == 0)
                return -1;
        size--;
        nl = memchr(p, '\n', size);
        *ret = (struct fuzz_input){ .param = p, .rest = p, .rest_len = size };
        if (nl != NULL) {
                ret->param_len = (size_t)(nl - p);
                ret->rest = nl + 1;
                ret->rest_len = size - ret->param_len - 1;
        }
        return (int)(data[0] % n);
}
