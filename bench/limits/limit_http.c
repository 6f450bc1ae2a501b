/* W0's limit: a libmicrohttpd hello world with tradestore's thread model
 * (internal polling thread, epoll, a thread pool of one thread per CPU or
 * the given count) answering every request with GET /health's shape of
 * reply, a small JSON object. Runs until SIGTERM or SIGINT.
 *
 * Usage: limit_http PORT [THREADS] */
#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char body[] = "{\"status\":\"ok\",\"connected\":true}";

static enum MHD_Result
answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
       const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
        struct MHD_Response *resp;
        enum MHD_Result ret;

        (void)cls;
        (void)url;
        (void)method;
        (void)version;
        (void)upload_data;
        (void)upload_size;
        if (*con_cls == NULL) { /* headers only so far, as in tradestore */
                *con_cls = conn;
                return MHD_YES;
        }
        resp = MHD_create_response_from_buffer(sizeof(body) - 1, (void *)(uintptr_t)body,
                                               MHD_RESPMEM_PERSISTENT);
        if (resp == NULL)
                return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", "application/json");
        ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
}

int
main(int argc, char **argv)
{
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
        long threads = argc > 2 ? atol(argv[2]) : sysconf(_SC_NPROCESSORS_ONLN);
        struct MHD_Daemon *d;
        sigset_t set;
        int sig;

        if (argc < 2) {
                fprintf(stderr, "usage: limit_http PORT [THREADS]\n");
                return 2;
        }
        if (threads < 1)
                threads = 1;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL); /* before the daemon's threads */
        d = MHD_start_daemon(flags, (uint16_t)atoi(argv[1]), NULL, NULL, answer, NULL,
                             MHD_OPTION_THREAD_POOL_SIZE,
                             (unsigned)(threads > 1 ? threads : 0), MHD_OPTION_END);
        if (d == NULL) {
                fprintf(stderr, "limit_http: cannot listen on port %s\n", argv[1]);
                return 1;
        }
        sigwait(&set, &sig);
        MHD_stop_daemon(d);
        return 0;
}
