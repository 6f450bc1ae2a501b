/* Many instances on one PostgreSQL, proven with real processes (issue 13).
 * meson runs this under scripts/pgtest (a throwaway PostgreSQL 15 cluster,
 * TRADESTORE_TEST_PG_URL); argv[1] is the tradestore binary. Each test gets
 * an empty database (schema public dropped and made again) and three
 * "tradestore serve --db-url" child processes released by one pipe at the
 * same moment; each logs to its own file, from which the test reads the
 * port (the "started" line) and the migration lines.
 *
 *   1. The three come up and the schema is migrated exactly once:
 *      schema_version holds one row per migration the binary knows (as
 *      "tradestore migrate --status" lists them), and across the three logs
 *      each migration was applied once, by one instance.
 *   2. Fills posted through all three at once (three client threads per
 *      instance, every fill sent once through each instance, so each is
 *      replayed twice, the copies racing each other): each fill_id gets
 *      exactly one 201 and two 200s whose bodies are byte for byte the 201's;
 *      then each order (filled_quantity, status, avg_fill_price = the exact
 *      VWAP computed here on 1e-8 units with __int128), each position
 *      (quantity; avg_entry_price and realized_pnl where the order of the
 *      fills cannot change them), the fills table and the fill_processed
 *      events (exactly one per fill) are checked.
 *   3. Six consumers (two per instance) claim and process events that three
 *      writers create meanwhile through rotating instances: every event is
 *      claimed once and processed once (no event is ever held by two
 *      consumers), and no event is handed out while an older one of its
 *      aggregate is unfinished.
 *   4. kill -9 of one instance while six clients post fills: a client whose
 *      request got no answer sends the same fill to the next instance (as a
 *      load balancer would); every fill ends acknowledged, every one is
 *      stored as sent (read back through a survivor), the book is exact, and
 *      the survivors answer every request and stop cleanly.
 *   5. PostgreSQL stopped and started (scripts/pgtest's
 *      TRADESTORE_TEST_PG_CTL) while six clients send orders, fills, quotes
 *      and reads through the three (issue 12): every answer is a 2xx or a 503
 *      problem+json with Retry-After, promptly; each instance serves again
 *      by itself; every acknowledged write is stored as sent, and each write
 *      answered 503, sent again, ends stored once; the same processes stop
 *      cleanly.
 *   6. Retention, maintenance and mass expiry run from the three at once
 *      (issue 13): every row past retention deleted once, the rest kept,
 *      each quote expired once.
 *   7. The operator's commands on PostgreSQL (no instance running):
 *      tradestore maintain cleans up and analyzes, and refuses vacuum and
 *      checkpoint as API.md's maintenance does.
 *
 * How each check was shown to catch what it is for (on a scratch copy of
 * the tree, never committed): see the comment above each test.
 *
 * Client threads never ck_assert (Check's assertions are for the test's own
 * thread): they record what they saw and the test thread asserts. The seed
 * of the random contents is printed; MULTI_SEED=N repeats them. */
#include "common/ts.h"

#include <check.h>

#include "check_run.h"
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_INST 3
#define START_TIMEOUT_US (20 * 1000000LL)
#define STOP_TIMEOUT_US (10 * 1000000LL)
#define MAX_ORDERS 8
#define UNIT 100000000LL /* 1 in 1e-8 units */

__extension__ typedef __int128 i128;

/* An assertion for loops: ck_assert records every passing call (a message
 * to the parent process each time); this one costs nothing until it fails. */
#define REQUIRE(cond, ...)                                                                         \
        do {                                                                                       \
                if (!(cond))                                                                       \
                        ck_abort_msg(__VA_ARGS__);                                                 \
        } while (0)

static const char *server_exe;
static const char *pg_url;
static unsigned seed;

/* One tradestore process. */
struct instance {
        pid_t pid; /* 0 once it has been waited for */
        char log_path[320];
        char base_url[64]; /* http://127.0.0.1:PORT, from its "started" line */
};

/* The running test's processes and folder (the logs). */
static struct {
        char dir[256];
        struct instance inst[N_INST];
        int64_t start_us; /* from the release of the three to the last "started" */
} T;

/* A logical clock shared by the client threads: ticks order what one thread
 * saw after an answer against what another did before a request. */
static atomic_long ticks;

static long
next_tick(void)
{
        return atomic_fetch_add(&ticks, 1) + 1;
}

/* ---- small helpers ---- */

/* xorshift32: one state per thread. */
static uint32_t
rnd(uint32_t *s)
{
        uint32_t x = *s;

        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        return *s = x != 0 ? x : 0x9e3779b9u;
}

static int64_t
rnd_range(uint32_t *s, int64_t lo, int64_t hi)
{
        uint64_t r = ((uint64_t)rnd(s) << 32) | rnd(s);

        return lo + (int64_t)(r % (uint64_t)(hi - lo + 1));
}

/* v (1e-8 units) in API.md's canonical decimal form. */
static void
fmt_dec(int64_t v, char buf[40])
{
        uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        int n = snprintf(buf, 40, "%s%" PRIu64 ".%08" PRIu64, v < 0 ? "-" : "", a / (uint64_t)UNIT,
                         a % (uint64_t)UNIT);

        while (buf[n - 1] == '0')
                buf[--n] = '\0';
        if (buf[n - 1] == '.')
                buf[--n] = '\0';
}

/* notional (1e-16 units, >= 0) / qty (1e-8 units, > 0) rounded half-to-even:
 * an exact average price in 1e-8 units. */
static int64_t
vwap(i128 notional, int64_t qty)
{
        i128 q = notional / qty, r = notional % qty;

        if (2 * r > qty || (2 * r == qty && q % 2 != 0))
                q++;
        return (int64_t)q;
}

/* A random price 99.5-100.5 and quantity 0.00000001-1, each with 0-8
 * fractional digits. */
static void
rnd_price_qty(uint32_t *s, int64_t *ret_price, int64_t *ret_qty)
{
        static const int64_t pow10[] = { 100000000, 10000000, 1000000, 100000, 10000,
                                         1000,      100,      10,      1 };
        int64_t step = pow10[rnd_range(s, 0, 8)];

        *ret_price = rnd_range(s, 9950000000 / step, 10050000000 / step) * step;
        step = pow10[rnd_range(s, 0, 8)];
        *ret_qty = rnd_range(s, 1, UNIT / step) * step;
}

/* The whole file (caller frees), "" when it cannot be read. */
static char *
slurp(const char *path)
{
        FILE *f = fopen(path, "rb");
        char *buf = NULL;
        size_t len = 0, cap = 0, n;

        do {
                if (len + 4096 + 1 > cap) {
                        cap = cap ? cap * 2 : 65536;
                        buf = realloc(buf, cap);
                        ck_assert_ptr_nonnull(buf);
                }
                n = f != NULL ? fread(buf + len, 1, cap - len - 1, f) : 0;
                len += n;
        } while (n > 0);
        buf[len] = '\0';
        if (f != NULL)
                fclose(f);
        return buf;
}

static int
count_substr(const char *hay, const char *needle)
{
        int n = 0;

        for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
                n++;
        return n;
}

/* ---- HTTP (libcurl) ---- */

struct resp {
        long status; /* 0: no answer */
        char *body;  /* NUL-terminated; owned, free() */
        size_t len;
        CURLcode err;     /* why there was no answer */
        char ctype[64];   /* Content-Type, "" without one */
        long retry_after; /* Retry-After in seconds; -1 without the header */
};

static size_t
on_body(char *data, size_t size, size_t n, void *cls)
{
        struct resp *r = cls;
        size_t len = size * n;
        char *nb = realloc(r->body, r->len + len + 1);

        if (nb == NULL)
                return 0;
        r->body = nb;
        memcpy(r->body + r->len, data, len);
        r->len += len;
        r->body[r->len] = '\0';
        return len;
}

static size_t
on_header(char *data, size_t size, size_t n, void *cls)
{
        struct resp *r = cls;
        size_t len = size * n;

        if (len > 12 && strncasecmp(data, "Retry-After:", 12) == 0)
                r->retry_after = strtol(data + 12, NULL, 10);
        return len;
}

/* A handle for one thread's requests (kept-alive connections). */
static CURL *
http_handle(void)
{
        CURL *h = curl_easy_init();

        if (h == NULL)
                return NULL;
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 20000L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        return h;
}

/* POST (body may be NULL: an empty POST) or, with get, GET base + path.
 * Fills *ret (free ret->body); returns the status, 0 without an answer. */
static long
http_req(CURL *h, const char *base, const char *path, bool get, const char *body, struct resp *ret)
{
        struct curl_slist *hdr = curl_slist_append(NULL, "Expect:");
        char url[256], *ctype = NULL;

        memset(ret, 0, sizeof(*ret));
        ret->retry_after = -1;
        snprintf(url, sizeof(url), "%s%s", base, path);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, ret);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, ret);
        if (get) {
                curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        } else {
                /* An empty POST sends no Content-Type (curl would say form data). */
                hdr = curl_slist_append(hdr, body != NULL ? "Content-Type: application/json"
                                                          : "Content-Type:");
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, body != NULL ? body : "");
        }
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        ret->err = curl_easy_perform(h);
        if (ret->err == CURLE_OK) {
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ret->status);
                curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype);
                snprintf(ret->ctype, sizeof(ret->ctype), "%s", ctype != NULL ? ctype : "");
        }
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        curl_slist_free_all(hdr);
        return ret->status;
}

static long
http_post(CURL *h, const char *base, const char *path, const char *body, struct resp *ret)
{
        return http_req(h, base, path, false, body, ret);
}

/* GET on the test's thread: asserts the status; returns the parsed body
 * (caller owns: json_decref). */
static json_t *
get_json(CURL *h, int inst, const char *path, long want)
{
        struct resp r;
        json_t *j;

        http_req(h, T.inst[inst].base_url, path, true, NULL, &r);
        ck_assert_msg(r.status == want, "GET %s on instance %d: %ld %s", path, inst, r.status,
                      r.body ? r.body : "");
        j = json_loads(r.body != NULL ? r.body : "", 0, NULL);
        ck_assert_msg(j != NULL, "GET %s: not JSON: %s", path, r.body ? r.body : "");
        free(r.body);
        return j;
}

/* The string member key of o, "" when absent or null. */
static const char *
jstr(const json_t *o, const char *key)
{
        const char *s = json_string_value(json_object_get(o, key));

        return s != NULL ? s : "";
}

/* ---- PostgreSQL (libpq), for what the API does not show ---- */

static PGconn *
pg_open(void)
{
        PGconn *c = PQconnectdb(pg_url);

        ck_assert_msg(PQstatus(c) == CONNECTION_OK, "PostgreSQL: %s", PQerrorMessage(c));
        return c;
}

/* Runs sql; asserts success. Caller owns the result (PQclear). */
static PGresult *
pg_query(PGconn *c, const char *sql)
{
        PGresult *r = PQexec(c, sql);
        ExecStatusType s = PQresultStatus(r);

        ck_assert_msg(s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK, "%s: %s", sql,
                      PQresultErrorMessage(r));
        return r;
}

static int64_t
pg_int(PGresult *r, int row, int col)
{
        return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* An empty database: what a first deployment meets. */
static void
pg_reset(void)
{
        PGconn *c = pg_open();

        PQclear(pg_query(c, "SET client_min_messages = warning;"
                            " DROP SCHEMA public CASCADE; CREATE SCHEMA public"));
        PQfinish(c);
}

/* ---- the processes ---- */

/* In the child: waits at the gate (a pipe whose write end the parent
 * closes to release all three at once), then becomes the server. It dies
 * with the test process (PR_SET_PDEATHSIG), however that ends. */
static void __attribute__((noreturn))
exec_instance(const struct instance *in, const int gate[2], pid_t parent)
{
        char c;
        int fd;

        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
                _exit(127);
        close(gate[1]);
        fd = open(in->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
                _exit(126);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
        while (read(gate[0], &c, 1) < 0 && errno == EINTR)
                ;
        close(gate[0]);
        execl(server_exe, "tradestore", "serve", "--db-url", pg_url, "--host", "127.0.0.1",
              "--port", "0", "--threads", "2", "--log-level", "info", (char *)NULL);
        _exit(125);
}

static void
spawn_all(void)
{
        pid_t parent = getpid();
        int gate[2];

        ck_assert_int_eq(pipe(gate), 0);
        for (int i = 0; i < N_INST; i++) {
                struct instance *in = &T.inst[i];

                snprintf(in->log_path, sizeof(in->log_path), "%s/instance%d.log", T.dir, i);
                in->pid = fork();
                ck_assert_int_ge(in->pid, 0);
                if (in->pid == 0)
                        exec_instance(in, gate, parent);
        }
        close(gate[0]);
        close(gate[1]); /* the gate opens: the three exec now */
}

/* Waits for instance i's "started" line and takes its port from it; fails
 * with its log when it exits first or does not start in time. */
static void
wait_started(int i)
{
        struct instance *in = &T.inst[i];
        int64_t deadline = ts_monotonic_us() + START_TIMEOUT_US;
        int status = 0;

        for (;;) {
                char *log = slurp(in->log_path);
                const char *line = strstr(log, "\"event\":\"started\"");
                const char *url = line != NULL ? strstr(line, "serving http://127.0.0.1:") : NULL;
                int port = 0;

                if (url != NULL && sscanf(url, "serving http://127.0.0.1:%d", &port) == 1 &&
                    port > 0) {
                        snprintf(in->base_url, sizeof(in->base_url), "http://127.0.0.1:%d", port);
                        free(log);
                        return;
                }
                if (waitpid(in->pid, &status, WNOHANG) == in->pid) {
                        in->pid = 0;
                        ck_abort_msg("instance %d exited (wait status %#x) before serving; its"
                                     " log:\n%s",
                                     i, (unsigned)status, log);
                }
                REQUIRE(ts_monotonic_us() < deadline, "instance %d did not start; its log:\n%s", i,
                        log);
                free(log);
                ts_sleep_ms(5);
        }
}

/* SIGTERM, then waits up to STOP_TIMEOUT_US; returns the wait status, or
 * -1 when it had to be killed. */
static int
stop_instance(int i)
{
        struct instance *in = &T.inst[i];
        int64_t deadline = ts_monotonic_us() + STOP_TIMEOUT_US;
        int status = 0;

        if (in->pid <= 0)
                return 0;
        kill(in->pid, SIGTERM);
        while (waitpid(in->pid, &status, WNOHANG) != in->pid) {
                if (ts_monotonic_us() > deadline) {
                        kill(in->pid, SIGKILL);
                        waitpid(in->pid, &status, 0);
                        status = -1;
                        break;
                }
                ts_sleep_ms(5);
        }
        in->pid = 0;
        return status;
}

/* A fresh database, then the three released together and serving. */
static void
setup(void)
{
        const char *s = getenv("MULTI_SEED");
        int64_t t0;

        memset(&T, 0, sizeof(T));
        seed = s != NULL ? (unsigned)strtoul(s, NULL, 10)
                         : (unsigned)time(NULL) ^ ((unsigned)getpid() << 8);
        snprintf(T.dir, sizeof(T.dir), "/tmp/tradestore-multi-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(T.dir));
        ck_assert_int_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
        pg_reset();
        t0 = ts_monotonic_us();
        spawn_all();
        for (int i = 0; i < N_INST; i++)
                wait_started(i);
        T.start_us = ts_monotonic_us() - t0;
}

/* Runs after a passing test; when a forked test fails, its process ends,
 * PR_SET_PDEATHSIG ends the servers and the folder of logs stays for a look
 * (its path is in the failure's message where a log matters). */
static void
teardown(void)
{
        char cmd[300];

        for (int i = 0; i < N_INST; i++)
                stop_instance(i);
        curl_global_cleanup();
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", T.dir);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", T.dir);
}

/* ---- 1. start-up: migrated once ---- */

/* The names of the migrations the binary knows, from "migrate --status"
 * (one line each: NAME  applied|pending ...); asserts all are applied. */
static int
known_migrations(char names[][64], int cap)
{
        char cmd[1024], line[512];
        int n = 0;
        FILE *p;

        snprintf(cmd, sizeof(cmd), "'%s' migrate --status --db-url '%s' 2>&1", server_exe, pg_url);
        p = popen(cmd, "r");
        ck_assert_ptr_nonnull(p);
        while (fgets(line, sizeof(line), p) != NULL) {
                ck_assert_msg(n < cap, "too many migrations");
                ck_assert_msg(sscanf(line, "%63s", names[n]) == 1, "migrate --status: %s", line);
                ck_assert_msg(strstr(line, "  applied ") != NULL && strstr(line, "CHANGED") == NULL,
                              "migrate --status: %s", line);
                n++;
        }
        ck_assert_int_eq(pclose(p), 0);
        return n;
}

/* The three logs, concatenated (caller frees). */
static char *
all_logs(void)
{
        size_t len = 0;
        char *all = calloc(1, 1);

        ck_assert_ptr_nonnull(all);
        for (int i = 0; i < N_INST; i++) {
                char *log = slurp(T.inst[i].log_path);
                size_t n = strlen(log);

                all = realloc(all, len + n + 1);
                ck_assert_ptr_nonnull(all);
                memcpy(all + len, log, n + 1);
                len += n;
                free(log);
        }
        return all;
}

/* Shown to fail: with pg_migrate's pg_advisory_lock replaced by SELECT 1
 * (db/postgres_migrate.c, on a scratch copy), instances exit at start-up
 * ("migration 001_init failed: ERROR: duplicate key value violates unique
 * constraint "pg_proc_proname_args_nsp_index"", or "cannot create
 * schema_version: ... pg_type_typname_nsp_index") and setup reports the
 * instance that exited, with its log; every test of the suite starts its
 * three that way, so each one fails. */
START_TEST(three_instances_started_at_once_migrate_the_database_once)
{
        char names[16][64], needle[128];
        char *logs = all_logs();
        CURL *h = http_handle();
        PGconn *c = pg_open();
        PGresult *r;
        int n = known_migrations(names, 16);

        ck_assert_int_ge(n, 3);
        r = pg_query(c, "SELECT count(*), count(DISTINCT version), min(version), max(version)"
                        " FROM schema_version");
        ck_assert_msg(pg_int(r, 0, 0) == n && pg_int(r, 0, 1) == n && pg_int(r, 0, 2) == 1 &&
                              pg_int(r, 0, 3) == n,
                      "schema_version: %s rows, %s versions, %s-%s; the binary knows %d",
                      PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2),
                      PQgetvalue(r, 0, 3), n);
        PQclear(r);
        PQfinish(c);
        for (int i = 0; i < n; i++) {
                snprintf(needle, sizeof(needle),
                         "\"event\":\"migration_applied\",\"msg\":\"applied migration %.63s\"",
                         names[i]);
                ck_assert_msg(count_substr(logs, needle) == 1,
                              "migration %s applied %d times by the three instances:\n%s", names[i],
                              count_substr(logs, needle), logs);
        }
        ck_assert_int_eq(count_substr(logs, "\"event\":\"migration_applied\""), n);
        ck_assert_msg(count_substr(logs, "\"event\":\"migrated\"") == 1, "%s", logs);
        ck_assert_msg(strstr(logs, "\"level\":\"error\"") == NULL, "%s", logs);
        for (int i = 0; i < N_INST; i++) {
                json_t *health = get_json(h, i, "/health", 200);

                ck_assert_int_eq(json_integer_value(json_object_get(health, "schema_version")), n);
                ck_assert_str_eq(jstr(health, "backend"), "postgresql");
                json_decref(health);
        }
        printf("multi: 3 instances released together, all serving after %lld ms; %d migrations"
               " applied once, by one of them\n",
               (long long)(T.start_us / 1000), n);
        fflush(stdout);
        curl_easy_cleanup(h);
        free(logs);
}
END_TEST

/* ---- the book: orders, fills and what must follow from them ---- */

struct order_spec {
        char id[24];
        char symbol[8];
        bool buy;
        int64_t quantity;
};

struct fill_spec {
        char fill_id[40];
        int order; /* index into book.orders */
        int64_t price, qty;
        bool trade_id; /* sent with trade_id "t-<fill_id>" */
};

struct book {
        struct order_spec orders[MAX_ORDERS];
        int norders;
        struct fill_spec *fills;
        size_t nfills;
        const struct fill_spec **by_id; /* fills sorted by fill_id, for find_fill */
};

static void
fill_body(const struct book *b, const struct fill_spec *f, char *buf, size_t cap)
{
        char price[40], qty[40], trade[64] = "";

        fmt_dec(f->price, price);
        fmt_dec(f->qty, qty);
        if (f->trade_id)
                snprintf(trade, sizeof(trade), ",\"trade_id\":\"t-%s\"", f->fill_id);
        snprintf(buf, cap,
                 "{\"fill_id\":\"%s\",\"order_id\":\"%s\",\"price\":\"%s\",\"quantity\":\"%s\"%s}",
                 f->fill_id, b->orders[f->order].id, price, qty, trade);
}

/* Creates the book's orders, order i through instance i % 3. */
static void
create_orders(CURL *h, const struct book *b)
{
        for (int i = 0; i < b->norders; i++) {
                const struct order_spec *o = &b->orders[i];
                char body[320], qty[40];
                struct resp r;

                fmt_dec(o->quantity, qty);
                snprintf(
                        body, sizeof(body),
                        "{\"order_id\":\"%s\",\"symbol\":\"%s\",\"side\":\"%s\",\"type\":\"limit\","
                        "\"price\":\"100\",\"quantity\":\"%s\"}",
                        o->id, o->symbol, o->buy ? "buy" : "sell", qty);
                http_post(h, T.inst[i % N_INST].base_url, "/orders", body, &r);
                ck_assert_msg(r.status == 201, "POST /orders %s: %ld %s", o->id, r.status,
                              r.body ? r.body : "");
                free(r.body);
        }
}

static int
cmp_fill_ptr(const void *a, const void *b)
{
        return strcmp((*(const struct fill_spec *const *)a)->fill_id,
                      (*(const struct fill_spec *const *)b)->fill_id);
}

static void
index_fills(struct book *b)
{
        free(b->by_id);
        b->by_id = malloc((b->nfills + 1) * sizeof(*b->by_id));
        ck_assert_ptr_nonnull(b->by_id);
        for (size_t i = 0; i < b->nfills; i++)
                b->by_id[i] = &b->fills[i];
        qsort(b->by_id, b->nfills, sizeof(*b->by_id), cmp_fill_ptr);
        for (size_t i = 1; i < b->nfills; i++)
                REQUIRE(strcmp(b->by_id[i - 1]->fill_id, b->by_id[i]->fill_id) != 0,
                        "fill_id %s twice in the test's own book", b->by_id[i]->fill_id);
}

/* The fill of the book with that id, or -1. */
static long
find_fill(const struct book *b, const char *fill_id)
{
        struct fill_spec key;
        const struct fill_spec *kp = &key;
        const struct fill_spec *const *hit;

        snprintf(key.fill_id, sizeof(key.fill_id), "%s", fill_id);
        hit = bsearch(&kp, b->by_id, b->nfills, sizeof(*b->by_id), cmp_fill_ptr);
        return hit != NULL ? (long)(*hit - b->fills) : -1;
}

/* The fills table holds exactly the book's fills, each as sent. */
static void
check_fills_table(PGconn *c, const struct book *b)
{
        PGresult *r = pg_query(c, "SELECT fill_id, order_id, price, quantity FROM fills");
        int rows = PQntuples(r);
        char *seen = calloc(b->nfills + 1, 1);

        ck_assert_ptr_nonnull(seen);
        for (int i = 0; i < rows; i++) {
                long k = find_fill(b, PQgetvalue(r, i, 0));
                const struct fill_spec *f = k >= 0 ? &b->fills[k] : NULL;

                REQUIRE(f != NULL, "fills holds %s, which no client sent", PQgetvalue(r, i, 0));
                REQUIRE(!seen[k], "fill %s stored twice", f->fill_id);
                seen[k] = 1;
                REQUIRE(strcmp(PQgetvalue(r, i, 1), b->orders[f->order].id) == 0 &&
                                pg_int(r, i, 2) == f->price && pg_int(r, i, 3) == f->qty,
                        "fill %s stored as %s %s x %s, sent for %s as %" PRId64 " x %" PRId64,
                        f->fill_id, PQgetvalue(r, i, 1), PQgetvalue(r, i, 3), PQgetvalue(r, i, 2),
                        b->orders[f->order].id, f->qty, f->price);
        }
        ck_assert_msg((size_t)rows == b->nfills, "fills holds %d rows, the book %zu", rows,
                      b->nfills);
        free(seen);
        PQclear(r);
}

/* Exactly one fill_processed event per fill of the book, naming its order
 * (payload and aggregate_id), and no other. */
static void
check_fill_events(PGconn *c, const struct book *b)
{
        PGresult *r = pg_query(c, "SELECT payload::jsonb ->> 'fill_id', payload::jsonb ->>"
                                  " 'order_id', aggregate_id FROM outbox"
                                  " WHERE event_type = 'fill_processed'");
        int rows = PQntuples(r);
        int *seen = calloc(b->nfills + 1, sizeof(int));

        ck_assert_ptr_nonnull(seen);
        for (int i = 0; i < rows; i++) {
                long k = find_fill(b, PQgetvalue(r, i, 0));
                const char *order_id = k >= 0 ? b->orders[b->fills[k].order].id : "";

                REQUIRE(k >= 0, "a fill_processed event names fill %s, which is not stored",
                        PQgetvalue(r, i, 0));
                REQUIRE(++seen[k] == 1, "fill %s has more than one fill_processed event",
                        b->fills[k].fill_id);
                REQUIRE(strcmp(PQgetvalue(r, i, 1), order_id) == 0 &&
                                strcmp(PQgetvalue(r, i, 2), order_id) == 0,
                        "fill %s of order %s: its event names order %s, aggregate %s",
                        b->fills[k].fill_id, order_id, PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
        }
        ck_assert_msg((size_t)rows == b->nfills, "%d fill_processed events for %zu fills", rows,
                      b->nfills);
        free(seen);
        PQclear(r);
}

/* Each order, read through instance inst, against the book's fills:
 * filled_quantity their sum, avg_fill_price their exact VWAP, the status
 * that follows. */
static void
check_orders(CURL *h, int inst, const struct book *b)
{
        for (int o = 0; o < b->norders; o++) {
                char path[64], want_qty[40], want_avg[40];
                int64_t qty = 0;
                i128 notional = 0;
                const char *want_status;
                json_t *j;

                for (size_t i = 0; i < b->nfills; i++)
                        if (b->fills[i].order == o) {
                                qty += b->fills[i].qty;
                                notional += (i128)b->fills[i].price * b->fills[i].qty;
                        }
                fmt_dec(qty, want_qty);
                if (qty > 0)
                        fmt_dec(vwap(notional, qty), want_avg);
                want_status = qty == b->orders[o].quantity ? "filled"
                              : qty > 0                    ? "partially_filled"
                                                           : "pending";
                snprintf(path, sizeof(path), "/orders/%s", b->orders[o].id);
                j = get_json(h, inst, path, 200);
                ck_assert_msg(strcmp(jstr(j, "filled_quantity"), want_qty) == 0,
                              "order %s: filled_quantity %s, its fills sum to %s", b->orders[o].id,
                              jstr(j, "filled_quantity"), want_qty);
                ck_assert_msg(qty > 0 ? strcmp(jstr(j, "avg_fill_price"), want_avg) == 0
                                      : json_is_null(json_object_get(j, "avg_fill_price")),
                              "order %s: avg_fill_price %s, exact VWAP %s", b->orders[o].id,
                              jstr(j, "avg_fill_price"), qty > 0 ? want_avg : "null");
                ck_assert_msg(strcmp(jstr(j, "status"), want_status) == 0,
                              "order %s: status %s, want %s", b->orders[o].id, jstr(j, "status"),
                              want_status);
                json_decref(j);
        }
}

/* What the book says of one symbol's position. */
struct pos_want {
        int64_t quantity; /* signed sum of the fills */
        int nfills;
        bool one_side;  /* every fill buys, or every fill sells */
        bool one_price; /* every fill at the same price */
        int64_t price;  /* that price, when one_price */
        i128 basis;     /* sum of price x quantity (1e-16 units) */
        int64_t held;   /* sum of quantities */
};

static struct pos_want
pos_want(const struct book *b, const char *symbol)
{
        struct pos_want w = { .one_side = true, .one_price = true };
        int side = -1;

        for (size_t i = 0; i < b->nfills; i++) {
                const struct fill_spec *f = &b->fills[i];
                const struct order_spec *o = &b->orders[f->order];

                if (strcmp(o->symbol, symbol) != 0)
                        continue;
                w.quantity += o->buy ? f->qty : -f->qty;
                w.one_side = w.one_side && (side < 0 || side == o->buy);
                w.one_price = w.one_price && (w.nfills == 0 || w.price == f->price);
                side = o->buy;
                w.price = f->price;
                w.basis += (i128)f->price * f->qty;
                w.held += f->qty;
                w.nfills++;
        }
        return w;
}

/* Each symbol's position read through inst: the quantity always; the
 * average entry price where the (unknowable) order in which concurrent
 * fills were applied cannot change it: fills of one side only (the position
 * only grows: the average is the VWAP of them all, realized PnL 0), or at
 * one price (every average is that price, realized PnL 0). */
static void
check_positions(CURL *h, int inst, const struct book *b, int *ret_exact)
{
        *ret_exact = 0;
        for (int o = 0; o < b->norders; o++) {
                const char *sym = b->orders[o].symbol;
                struct pos_want w = pos_want(b, sym);
                char path[64], want[40], want_avg[40];
                json_t *j;

                if (o > 0 && strcmp(b->orders[o - 1].symbol, sym) == 0)
                        continue; /* the book lists a symbol's orders together */
                snprintf(path, sizeof(path), "/positions/%s", sym);
                j = get_json(h, inst, path, w.nfills > 0 ? 200 : 404);
                fmt_dec(w.quantity, want);
                ck_assert_msg(w.nfills == 0 || strcmp(jstr(j, "quantity"), want) == 0,
                              "position %s: quantity %s, the signed sum of its fills %s", sym,
                              jstr(j, "quantity"), want);
                if (w.nfills > 0 && (w.one_side || w.one_price)) {
                        fmt_dec(w.quantity == 0 ? 0
                                : w.one_side    ? vwap(w.basis, w.held)
                                                : w.price,
                                want_avg);
                        ck_assert_msg(strcmp(jstr(j, "avg_entry_price"), want_avg) == 0,
                                      "position %s: avg_entry_price %s, want %s", sym,
                                      jstr(j, "avg_entry_price"), want_avg);
                        ck_assert_str_eq(jstr(j, "realized_pnl"), "0");
                        ++*ret_exact;
                }
                json_decref(j);
        }
}

/* Everything that must follow from the book, read through instance inst
 * (orders, positions) and in the database (fills, events). */
static void
check_book(const struct book *b, int inst, int *ret_exact_positions)
{
        CURL *h = http_handle();
        PGconn *c = pg_open();

        ck_assert_ptr_nonnull(h);
        check_fills_table(c, b);
        check_fill_events(c, b);
        check_orders(h, inst, b);
        check_positions(h, inst, b, ret_exact_positions);
        PQfinish(c);
        curl_easy_cleanup(h);
}

/* ---- 2. concurrent fills and replays through the three ---- */

#define F_FILLS 360
#define F_THREADS 3               /* per instance */
#define F_MIXED_PRICE 10012345678 /* 100.12345678: every fill of the mixed symbol */

/* What each instance answered to each fill (index as book.fills). */
struct fill_answers {
        long status[N_INST];
        char *body[N_INST]; /* owned */
};

/* The instances walk the same list in the same order, three threads each:
 * the three copies of a fill meet at about the same moment. */
struct fill_walk {
        const struct book *b;
        struct fill_answers *ans;
        atomic_size_t next[N_INST];
};

struct fill_worker {
        struct fill_walk *w;
        int inst;
        bool failed; /* no curl handle */
};

static void *
fill_worker_run(void *arg)
{
        struct fill_worker *fw = arg;
        struct fill_walk *w = fw->w;
        CURL *h = http_handle();
        char body[512];

        if (h == NULL) {
                fw->failed = true;
                return NULL;
        }
        for (;;) {
                size_t i = atomic_fetch_add(&w->next[fw->inst], 1);
                struct resp r;

                if (i >= w->b->nfills)
                        break;
                fill_body(w->b, &w->b->fills[i], body, sizeof(body));
                http_post(h, T.inst[fw->inst].base_url, "/fills", body, &r);
                w->ans[i].status[fw->inst] = r.status;
                w->ans[i].body[fw->inst] = r.body;
        }
        curl_easy_cleanup(h);
        return NULL;
}

/* Two orders on a symbol bought only, two on one sold only, a buy and a
 * sell on one traded at a single price; random prices and quantities
 * elsewhere. Even orders are sized to be filled exactly, odd ones to stay
 * partially filled. */
static void
make_replay_book(struct book *b, uint32_t *rng)
{
        static const char *const symbols[] = { "MA", "MA", "MB", "MB", "MC", "MC" };
        static const bool buys[] = { true, true, false, false, true, false };

        memset(b, 0, sizeof(*b));
        b->norders = 6;
        for (int o = 0; o < b->norders; o++) {
                snprintf(b->orders[o].id, sizeof(b->orders[o].id), "m-o%d", o);
                snprintf(b->orders[o].symbol, sizeof(b->orders[o].symbol), "%s", symbols[o]);
                b->orders[o].buy = buys[o];
                b->orders[o].quantity = o % 2 ? UNIT : 0; /* plus the fills, below */
        }
        b->nfills = F_FILLS;
        b->fills = calloc(F_FILLS, sizeof(*b->fills));
        ck_assert_ptr_nonnull(b->fills);
        for (size_t i = 0; i < F_FILLS; i++) {
                struct fill_spec *f = &b->fills[i];

                snprintf(f->fill_id, sizeof(f->fill_id), "m-f%zu", i);
                f->order = (int)rnd_range(rng, 0, b->norders - 1);
                rnd_price_qty(rng, &f->price, &f->qty);
                if (strcmp(b->orders[f->order].symbol, "MC") == 0)
                        f->price = F_MIXED_PRICE;
                f->trade_id = i % 2;
                b->orders[f->order].quantity += f->qty;
        }
        index_fills(b);
}

static void
run_fill_walk(struct fill_walk *w)
{
        struct fill_worker fw[N_INST * F_THREADS];
        pthread_t th[N_INST * F_THREADS];

        for (int i = 0; i < N_INST * F_THREADS; i++) {
                fw[i] = (struct fill_worker){ .w = w, .inst = i % N_INST };
                ck_assert_int_eq(pthread_create(&th[i], NULL, fill_worker_run, &fw[i]), 0);
        }
        for (int i = 0; i < N_INST * F_THREADS; i++) {
                ck_assert_int_eq(pthread_join(th[i], NULL), 0);
                ck_assert(!fw[i].failed);
        }
}

/* One 201 per fill, and the two replays 200 with its body, byte for byte;
 * the 201 carries what was sent. */
static void
check_answers(const struct book *b, const struct fill_answers *ans)
{
        for (size_t i = 0; i < b->nfills; i++) {
                const struct fill_answers *a = &ans[i];
                const struct fill_spec *f = &b->fills[i];
                int created = -1, replayed = 0;
                char price[40], qty[40];
                json_t *j;

                for (int k = 0; k < N_INST; k++) {
                        if (a->status[k] == 201 && created < 0)
                                created = k;
                        else if (a->status[k] == 200)
                                replayed++;
                }
                REQUIRE(created >= 0 && replayed == N_INST - 1,
                        "fill %s: instances answered %ld, %ld, %ld (want one 201, two 200): %s | "
                        "%s | %s",
                        f->fill_id, a->status[0], a->status[1], a->status[2],
                        a->body[0] ? a->body[0] : "", a->body[1] ? a->body[1] : "",
                        a->body[2] ? a->body[2] : "");
                for (int k = 0; k < N_INST; k++)
                        REQUIRE(strcmp(a->body[k], a->body[created]) == 0,
                                "fill %s: the replay on instance %d answered\n%s\nthe 201 on %d"
                                "\n%s",
                                f->fill_id, k, a->body[k], created, a->body[created]);
                j = json_loads(a->body[created], 0, NULL);
                fmt_dec(f->price, price);
                fmt_dec(f->qty, qty);
                REQUIRE(j != NULL && strcmp(jstr(j, "price"), price) == 0 &&
                                strcmp(jstr(j, "quantity"), qty) == 0 &&
                                strcmp(jstr(j, "order_id"), b->orders[f->order].id) == 0,
                        "fill %s: answered %s, sent %s x %s", f->fill_id, a->body[created], qty,
                        price);
                json_decref(j);
        }
}

/* Shown to fail, each on a scratch copy of the server:
 * - FOR UPDATE taken out of order_load and repo_positions_lock (the job
 *   still at READ COMMITTED): "order m-o0: filled_quantity 26.96020409, its
 *   fills sum to 38.54054409";
 * - out of repo_positions_lock only: "position MA: quantity 57.46572494,
 *   the signed sum of its fills 62.43193078";
 * - a replay answered with the request's fill instead of the stored one
 *   (handlers/fills.c): "fill m-f0: the replay on instance 1 answered ...";
 * - every 100th write acknowledged but rolled back (db/postgres.c run_job):
 *   "fill m-f93: instances answered 200, 201, 201". */
START_TEST(concurrent_fills_and_replays_through_three_instances_are_exact)
{
        struct book b;
        struct fill_walk w = { 0 };
        uint32_t rng = seed | 1;
        CURL *h = http_handle();
        int64_t t0;
        int exact;

        make_replay_book(&b, &rng);
        create_orders(h, &b);
        w.b = &b;
        w.ans = calloc(b.nfills, sizeof(*w.ans));
        ck_assert_ptr_nonnull(w.ans);
        t0 = ts_monotonic_us();
        run_fill_walk(&w);
        t0 = ts_monotonic_us() - t0;
        check_answers(&b, w.ans);
        check_book(&b, 1, &exact);
        printf("multi: %zu fills on %d orders, each sent through all 3 instances by %d threads"
               " (%zu requests in %lld ms): one 201 and two identical 200s each; orders,"
               " %d exact positions, fills and events checked (seed %u)\n",
               b.nfills, b.norders, N_INST * F_THREADS, b.nfills * N_INST, (long long)(t0 / 1000),
               exact, seed);
        fflush(stdout);
        for (size_t i = 0; i < b.nfills; i++)
                for (int k = 0; k < N_INST; k++)
                        free(w.ans[i].body[k]);
        free(w.ans);
        free(b.by_id);
        free(b.fills);
        curl_easy_cleanup(h);
}
END_TEST

/* ---- 3. consumers through different instances ---- */

#define O_AGGS 9
#define O_EVENTS 25 /* per aggregate */
#define O_CONSUMERS 6
#define O_BUDGET_US (30 * 1000000LL)

/* One event "ev-a<a>-<j>": the j-th of aggregate "agg-<a>". */
struct ob_event {
        long create_status;
        atomic_int claims;
        int consumer;    /* the first claimer */
        long claim_tick; /* taken when the first claim's answer had arrived */
        long proc_tick;  /* taken before its processed request was sent */
        long proc_status;
};

struct ob_run {
        struct ob_event ev[O_AGGS][O_EVENTS];
        atomic_int processed;    /* 200s to processed */
        atomic_int extra;        /* claims of an event already claimed */
        atomic_long unavailable; /* 503s sat out (ob_post) */
        atomic_long slowest_us;  /* the longest wait for one answer */
        atomic_bool failed;      /* a thread met something it should not */
        pthread_mutex_t mu;      /* guards why */
        char why[1024];          /* the first thing that went wrong */
        int64_t deadline_us;
};

static void ob_fail(struct ob_run *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
ob_fail(struct ob_run *o, const char *fmt, ...)
{
        va_list ap;

        pthread_mutex_lock(&o->mu);
        if (!atomic_exchange(&o->failed, true)) {
                va_start(ap, fmt);
                vsnprintf(o->why, sizeof(o->why), fmt, ap);
                va_end(ap);
        }
        pthread_mutex_unlock(&o->mu);
}

#define O_MAX_503 200 /* a request's 503s sat out before the client gives up */

/* POSTs as a client of API.md does: a 503 ("database unavailable, retry")
 * is sent again after a moment. A write answered 503 must have changed
 * nothing: its repeat gets the same answer as a first try would (a 201, a
 * claim, a 200), so nothing here accepts less. */
static long
ob_post(struct ob_run *o, CURL *h, int inst, const char *path, const char *body, struct resp *ret)
{
        for (int i = 0;; i++) {
                int64_t t0 = ts_monotonic_us();
                long took, was;

                http_post(h, T.inst[inst].base_url, path, body, ret);
                took = (long)(ts_monotonic_us() - t0);
                was = atomic_load(&o->slowest_us);
                while (took > was && !atomic_compare_exchange_weak(&o->slowest_us, &was, took))
                        ;
                if (ret->status != 503 || i == O_MAX_503)
                        return ret->status;
                atomic_fetch_add(&o->unavailable, 1);
                free(ret->body);
                ts_sleep_ms(1 + i % 5);
        }
}

struct ob_thread {
        struct ob_run *o;
        int id;
        uint32_t rng;
        long claims, empty;
};

/* Writer id creates the events of aggregates id, id + 3, id + 6 in turn,
 * each through another instance than its predecessor, one after the other:
 * an aggregate's creation order is the order of the 201s. */
static void *
creator_run(void *arg)
{
        struct ob_thread *t = arg;
        CURL *h = http_handle();
        char body[256];

        for (int j = 0; h != NULL && j < O_EVENTS && !atomic_load(&t->o->failed); j++)
                for (int a = t->id; a < O_AGGS; a += N_INST) {
                        struct resp r;

                        snprintf(body, sizeof(body),
                                 "{\"event_id\":\"ev-a%d-%d\",\"event_type\":\"multi_test\","
                                 "\"aggregate_id\":\"agg-%d\",\"payload\":{\"j\":%d}}",
                                 a, j, a, j);
                        ob_post(t->o, h, (a + j) % N_INST, "/outbox", body, &r);
                        t->o->ev[a][j].create_status = r.status;
                        if (r.status != 201)
                                ob_fail(t->o, "POST /outbox ev-a%d-%d: %ld %s", a, j, r.status,
                                        r.body ? r.body : "");
                        free(r.body);
                }
        if (h == NULL)
                ob_fail(t->o, "no curl handle");
        curl_easy_cleanup(h);
        return NULL;
}

/* Records the claim of item (an event as the claim answered it); returns
 * the event, or NULL after ob_fail. */
static struct ob_event *
record_claim(struct ob_thread *t, const json_t *item, long tick)
{
        char name[16];
        int a, j, n = 0;
        struct ob_event *e;

        snprintf(name, sizeof(name), "c%d", t->id);
        if (sscanf(jstr(item, "event_id"), "ev-a%d-%d%n", &a, &j, &n) != 2 ||
            jstr(item, "event_id")[n] != '\0' || a < 0 || a >= O_AGGS || j < 0 || j >= O_EVENTS) {
                ob_fail(t->o, "claim handed out an unknown event %s", jstr(item, "event_id"));
                return NULL;
        }
        if (strcmp(jstr(item, "claimed_by"), name) != 0 ||
            strcmp(jstr(item, "status"), "processing") != 0) {
                ob_fail(t->o, "%s claimed %s: claimed_by %s, status %s", name,
                        jstr(item, "event_id"), jstr(item, "claimed_by"), jstr(item, "status"));
                return NULL;
        }
        e = &t->o->ev[a][j];
        if (atomic_fetch_add(&e->claims, 1) != 0) {
                atomic_fetch_add(&t->o->extra, 1);
                ob_fail(t->o, "ev-a%d-%d was handed to c%d too, after c%d had claimed it", a, j,
                        t->id, e->consumer);
                return NULL;
        }
        e->consumer = t->id;
        e->claim_tick = tick;
        return e;
}

/* Marks each event of the claim's answer processed, in order. */
static void
process_items(struct ob_thread *t, CURL *h, const json_t *items, long tick)
{
        size_t i;
        json_t *item;

        json_array_foreach(items, i, item)
        {
                struct ob_event *e = record_claim(t, item, tick);
                char path[128];
                struct resp r;

                if (e == NULL)
                        continue;
                if (rnd(&t->rng) % 4 == 0)
                        ts_sleep_ms(1); /* a consumer at work: others claim meanwhile */
                snprintf(path, sizeof(path), "/outbox/%s/processed", jstr(item, "event_id"));
                e->proc_tick = next_tick();
                ob_post(t->o, h, t->id % N_INST, path, NULL, &r);
                e->proc_status = r.status;
                if (r.status == 200)
                        atomic_fetch_add(&t->o->processed, 1);
                else
                        ob_fail(t->o, "POST %s: %ld %s", path, r.status, r.body ? r.body : "");
                free(r.body);
        }
}

/* Consumer id claims through instance id % 3, 1-4 events at a time, until
 * every event is processed. */
static void *
consumer_run(void *arg)
{
        struct ob_thread *t = arg;
        struct ob_run *o = t->o;
        CURL *h = http_handle();
        char body[128];

        while (h != NULL && !atomic_load(&o->failed) &&
               atomic_load(&o->processed) < O_AGGS * O_EVENTS) {
                struct resp r;
                json_t *j, *items;
                long tick;

                snprintf(body, sizeof(body),
                         "{\"consumer\":\"c%d\",\"limit\":%d,"
                         "\"lease_seconds\":600}",
                         t->id, (int)(1 + rnd(&t->rng) % 4));
                ob_post(o, h, t->id % N_INST, "/outbox/claim", body, &r);
                tick = next_tick();
                j = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
                items = json_object_get(j, "items");
                if (!json_is_array(items))
                        ob_fail(o, "c%d: POST /outbox/claim on instance %d: %ld %s", t->id,
                                t->id % N_INST, r.status, r.body ? r.body : "");
                else if (json_array_size(items) == 0)
                        t->empty++;
                else
                        process_items(t, h, items, tick);
                t->claims++;
                if (json_array_size(items) == 0)
                        ts_sleep_ms(1);
                json_decref(j);
                free(r.body);
                if (ts_monotonic_us() > o->deadline_us)
                        ob_fail(o, "consumers still busy after %lld s: %d of %d processed",
                                O_BUDGET_US / 1000000, atomic_load(&o->processed),
                                O_AGGS * O_EVENTS);
        }
        curl_easy_cleanup(h);
        return NULL;
}

/* Each event claimed once and processed once; an aggregate's event j
 * handed out (its claim's answer arrived) only after the processed request
 * of event j - 1 was sent. A claim answered before that request left the
 * test was made while j - 1 was still unfinished: the rule broken for sure
 * (the test cannot see the opposite order, so a breach is caught when its
 * claim runs ahead, which per-batch and cross-consumer breaches do). */
static void
check_claims(const struct ob_run *o)
{
        ck_assert_msg(!atomic_load(&o->failed), "%s", o->why);
        ck_assert_msg(atomic_load(&o->extra) == 0, "%d claims handed out an event already held",
                      atomic_load(&o->extra));
        for (int a = 0; a < O_AGGS; a++)
                for (int j = 0; j < O_EVENTS; j++) {
                        const struct ob_event *e = &o->ev[a][j];
                        const struct ob_event *prev = j > 0 ? &o->ev[a][j - 1] : NULL;

                        REQUIRE(atomic_load(&e->claims) == 1 && e->proc_status == 200,
                                "ev-a%d-%d: claimed %d times, processed %ld", a, j,
                                atomic_load(&e->claims), e->proc_status);
                        REQUIRE(prev == NULL || e->claim_tick > prev->proc_tick,
                                "ev-a%d-%d was handed out to c%d (tick %ld) before ev-a%d-%d was"
                                " processed (c%d sent that at tick %ld)",
                                a, j, e->consumer, e->claim_tick, a, j - 1, prev->consumer,
                                prev->proc_tick);
                }
}

/* In the database: every event processed, claimed_by the consumer that the
 * test saw claim it, and each aggregate's seq order its creation order. */
static void
check_outbox_rows(const struct ob_run *o)
{
        PGconn *c = pg_open();
        PGresult *r = pg_query(c, "SELECT event_id, status, claimed_by FROM outbox ORDER BY seq");
        int last[O_AGGS];

        ck_assert_int_eq(PQntuples(r), O_AGGS * O_EVENTS);
        for (int a = 0; a < O_AGGS; a++)
                last[a] = -1;
        for (int i = 0; i < PQntuples(r); i++) {
                int a = -1, j = -1;
                char name[16];

                REQUIRE(sscanf(PQgetvalue(r, i, 0), "ev-a%d-%d", &a, &j) == 2 && a >= 0 &&
                                a < O_AGGS && j >= 0 && j < O_EVENTS,
                        "outbox holds %s", PQgetvalue(r, i, 0));
                REQUIRE(j == last[a] + 1, "agg-%d: event %d follows %d in seq order", a, j,
                        last[a]);
                last[a] = j;
                snprintf(name, sizeof(name), "c%d", o->ev[a][j].consumer);
                REQUIRE(strcmp(PQgetvalue(r, i, 1), "processed") == 0 &&
                                strcmp(PQgetvalue(r, i, 2), name) == 0,
                        "%s: %s, claimed_by %s; the test saw %s claim it", PQgetvalue(r, i, 0),
                        PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), name);
        }
        PQclear(r);
        PQfinish(c);
}

/* Fails on main as committed with this test: the claim's SQL is SQLite's
 * and PostgreSQL 15 refuses it, so every claim is a 503 (see the commit
 * message). On a scratch copy with the claim made valid for PostgreSQL (an
 * alias on each FROM subquery of ARM, least() for SQLite's many-argument
 * min() in lo) it passes; then, each on top of that fix:
 * - the claim job at READ COMMITTED (db_job_locks_rows in
 *   repo_outbox_claim_job): "ev-a0-0 was handed to c3 too, after c2 had
 *   claimed it";
 * - UNBLOCKED taken out of ARM: "ev-a0-3 was handed out to c3 (tick 40)
 *   before ev-a0-2 was processed (c5 sent that at tick 48)";
 * - every 100th write acknowledged but rolled back: an acknowledged
 *   processed is lost, its aggregate stalls, and the budget runs out
 *   ("consumers still busy after 30 s: 214 of 225 processed"). */
START_TEST(consumers_on_three_instances_get_each_event_once_in_aggregate_order)
{
        struct ob_run *o = calloc(1, sizeof(*o));
        struct ob_thread cr[N_INST], co[O_CONSUMERS];
        pthread_t tcr[N_INST], tco[O_CONSUMERS];
        int64_t t0 = ts_monotonic_us();
        long claims = 0, empty = 0;

        ck_assert_ptr_nonnull(o);
        pthread_mutex_init(&o->mu, NULL);
        o->deadline_us = t0 + O_BUDGET_US;
        for (int i = 0; i < O_CONSUMERS; i++) {
                co[i] = (struct ob_thread){ .o = o, .id = i, .rng = (seed + 77u * i) | 1 };
                ck_assert_int_eq(pthread_create(&tco[i], NULL, consumer_run, &co[i]), 0);
        }
        for (int i = 0; i < N_INST; i++) {
                cr[i] = (struct ob_thread){ .o = o, .id = i };
                ck_assert_int_eq(pthread_create(&tcr[i], NULL, creator_run, &cr[i]), 0);
        }
        for (int i = 0; i < N_INST; i++)
                ck_assert_int_eq(pthread_join(tcr[i], NULL), 0);
        for (int i = 0; i < O_CONSUMERS; i++) {
                ck_assert_int_eq(pthread_join(tco[i], NULL), 0);
                claims += co[i].claims;
                empty += co[i].empty;
        }
        check_claims(o);
        check_outbox_rows(o);
        printf("multi: %d events of %d aggregates created through rotating instances while %d"
               " consumers on 3 instances claimed them (%ld claims, %ld empty; %ld answers 503"
               " sat out, the slowest answer %ld ms) in %lld ms: each claimed and processed"
               " once, aggregate order kept\n",
               O_AGGS * O_EVENTS, O_AGGS, O_CONSUMERS, claims, empty, atomic_load(&o->unavailable),
               atomic_load(&o->slowest_us) / 1000, (long long)((ts_monotonic_us() - t0) / 1000));
        fflush(stdout);
        pthread_mutex_destroy(&o->mu);
        free(o);
}
END_TEST

/* ---- 4. kill -9 of one instance under fill load ---- */

#define K_ORDERS 8
#define K_CLIENTS 6 /* two per instance */
#define K_BEFORE_MS 800
#define K_AFTER_MS 1200
#define K_VICTIM 0
#define K_MIN_ACKED 30 /* before the kill, and after it */

/* One fill a client sent, with what came of it. */
struct k_sent {
        struct fill_spec f;
        long status;      /* the last answer; 0: none from any instance */
        bool failed_over; /* the first instance did not answer */
        bool after_kill;  /* the answer arrived after the kill */
};

struct k_client {
        int id, inst;
        uint32_t rng;
        const struct book *b;
        atomic_bool *stop, *killed;
        struct k_sent *v;
        size_t n, cap;
        bool oom;
};

static bool
k_push(struct k_client *cl, const struct k_sent *s)
{
        if (cl->n == cl->cap) {
                size_t cap = cl->cap ? cl->cap * 2 : 512;
                struct k_sent *v = realloc(cl->v, cap * sizeof(*v));

                if (v == NULL)
                        return false;
                cl->v = v;
                cl->cap = cap;
        }
        cl->v[cl->n++] = *s;
        return true;
}

/* Sends the fill to the client's instance; without an answer, to the next
 * instance (and stays there, as a load balancer drops a dead backend). */
static void
k_send(struct k_client *cl, CURL *h, struct k_sent *s)
{
        char body[512];

        fill_body(cl->b, &s->f, body, sizeof(body));
        for (int attempt = 0; attempt < N_INST; attempt++) {
                struct resp r;

                http_post(h, T.inst[cl->inst].base_url, "/fills", body, &r);
                free(r.body);
                s->status = r.status;
                s->after_kill = atomic_load(cl->killed);
                if (r.status != 0)
                        return;
                s->failed_over = true;
                cl->inst = (cl->inst + 1) % N_INST;
        }
}

static void *
k_client_run(void *arg)
{
        struct k_client *cl = arg;
        CURL *h = http_handle();

        for (size_t n = 0; h != NULL && !atomic_load(cl->stop); n++) {
                struct k_sent s = { 0 };

                snprintf(s.f.fill_id, sizeof(s.f.fill_id), "k-c%d-%zu", cl->id, n);
                s.f.order = (int)rnd_range(&cl->rng, 0, K_ORDERS - 1);
                rnd_price_qty(&cl->rng, &s.f.price, &s.f.qty);
                s.f.trade_id = n % 2;
                k_send(cl, h, &s);
                if (!k_push(cl, &s)) {
                        cl->oom = true;
                        break;
                }
        }
        cl->oom = cl->oom || h == NULL;
        curl_easy_cleanup(h);
        return NULL;
}

/* Eight orders on four symbols, buys and sells, too large to fill. */
static void
make_kill_book(struct book *b)
{
        memset(b, 0, sizeof(*b));
        b->norders = K_ORDERS;
        for (int o = 0; o < K_ORDERS; o++) {
                snprintf(b->orders[o].id, sizeof(b->orders[o].id), "k-o%d", o);
                snprintf(b->orders[o].symbol, sizeof(b->orders[o].symbol), "K%d", o / 2);
                b->orders[o].buy = o % 2 == 0;
                b->orders[o].quantity = 1000000 * UNIT;
        }
}

static void
kill_victim(void)
{
        int status = 0;

        ck_assert_int_eq(kill(T.inst[K_VICTIM].pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(T.inst[K_VICTIM].pid, &status, 0), T.inst[K_VICTIM].pid);
        T.inst[K_VICTIM].pid = 0;
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                      "the victim had ended before the kill (wait status %#x)", (unsigned)status);
}

/* Runs the clients, kills the victim between K_BEFORE_MS and K_AFTER_MS,
 * joins them; moves every sent fill into *ret (caller frees). */
static size_t
k_run(const struct book *b, struct k_sent **ret)
{
        struct k_client cl[K_CLIENTS];
        pthread_t th[K_CLIENTS];
        atomic_bool stop = false, killed = false;
        struct k_sent *all = NULL;
        size_t n = 0;

        for (int i = 0; i < K_CLIENTS; i++) {
                cl[i] = (struct k_client){ .id = i,
                                           .inst = i % N_INST,
                                           .b = b,
                                           .stop = &stop,
                                           .killed = &killed,
                                           .rng = (seed + 31u * i) | 1 };
                ck_assert_int_eq(pthread_create(&th[i], NULL, k_client_run, &cl[i]), 0);
        }
        ts_sleep_ms(K_BEFORE_MS);
        atomic_store(&killed, true); /* an answer from now on may come after the kill */
        kill_victim();
        ts_sleep_ms(K_AFTER_MS);
        atomic_store(&stop, true);
        for (int i = 0; i < K_CLIENTS; i++) {
                ck_assert_int_eq(pthread_join(th[i], NULL), 0);
                ck_assert_msg(!cl[i].oom, "client %d: out of memory", i);
                all = realloc(all, (n + cl[i].n + 1) * sizeof(*all));
                ck_assert_ptr_nonnull(all);
                memcpy(all + n, cl[i].v, cl[i].n * sizeof(*all));
                n += cl[i].n;
                free(cl[i].v);
        }
        *ret = all;
        return n;
}

/* Every fill was answered 2xx in the end: 201, or 200 after a failover
 * when the killed instance had committed it before it died. */
static void
k_check_answers(const struct k_sent *v, size_t n, size_t *ret_before, size_t *ret_after,
                size_t *ret_failover, size_t *ret_stored_by_victim)
{
        *ret_before = *ret_after = *ret_failover = *ret_stored_by_victim = 0;
        for (size_t i = 0; i < n; i++) {
                const struct k_sent *s = &v[i];

                REQUIRE(s->status == 201 || (s->failed_over && s->status == 200),
                        "fill %s: answered %ld%s", s->f.fill_id, s->status,
                        s->failed_over ? " after a failover" : "");
                *ret_after += s->after_kill;
                *ret_before += !s->after_kill;
                *ret_failover += s->failed_over;
                *ret_stored_by_victim += s->status == 200;
        }
        ck_assert_msg(*ret_before >= K_MIN_ACKED && *ret_after >= K_MIN_ACKED,
                      "too little load: %zu fills acknowledged before the kill, %zu after",
                      *ret_before, *ret_after);
}

/* Each acknowledged fill read back through a survivor, as sent. */
static void
k_check_readback(const struct book *b, const struct k_sent *v, size_t n)
{
        CURL *h = http_handle();

        for (size_t i = 0; i < n; i++) {
                const struct fill_spec *f = &v[i].f;
                int inst = 1 + (int)(i % (N_INST - 1));
                char path[96], price[40], qty[40];
                struct resp r;
                json_t *j;

                snprintf(path, sizeof(path), "/fills/%s", f->fill_id);
                http_req(h, T.inst[inst].base_url, path, true, NULL, &r);
                REQUIRE(r.status == 200,
                        "LOST: fill %s was acknowledged (%ld) but GET on"
                        " instance %d answers %ld %s",
                        f->fill_id, v[i].status, inst, r.status, r.body ? r.body : "");
                j = json_loads(r.body, 0, NULL);
                fmt_dec(f->price, price);
                fmt_dec(f->qty, qty);
                REQUIRE(j != NULL && strcmp(jstr(j, "price"), price) == 0 &&
                                strcmp(jstr(j, "quantity"), qty) == 0 &&
                                strcmp(jstr(j, "order_id"), b->orders[f->order].id) == 0,
                        "fill %s: stored as %s, sent %s x %s", f->fill_id, r.body, qty, price);
                json_decref(j);
                free(r.body);
        }
        curl_easy_cleanup(h);
}

/* Shown to fail, on scratch copies of the server: every 100th write
 * acknowledged but rolled back: "LOST: fill k-c0-282 was acknowledged (201)
 * but GET on instance 1 answers 404"; FOR UPDATE taken out of the fill job:
 * "order k-o0: filled_quantity 137.98130164, its fills sum to
 * 196.21263033". (A kill cannot be timed onto the moment between an answer
 * and a commit; the read-back is what would see such a loss.) */
START_TEST(kill_9_of_one_instance_under_fill_load_loses_no_acknowledged_fill)
{
        struct book b;
        struct k_sent *v = NULL;
        size_t n, before, after, failover, by_victim;
        CURL *h = http_handle();
        int exact;

        make_kill_book(&b);
        create_orders(h, &b);
        n = k_run(&b, &v);
        k_check_answers(v, n, &before, &after, &failover, &by_victim);
        k_check_readback(&b, v, n);
        b.fills = malloc((n + 1) * sizeof(*b.fills));
        ck_assert_ptr_nonnull(b.fills);
        for (size_t i = 0; i < n; i++)
                b.fills[i] = v[i].f;
        b.nfills = n;
        index_fills(&b);
        check_book(&b, 1, &exact);
        for (int i = 1; i < N_INST; i++) {
                json_t *health = get_json(h, i, "/health", 200);
                int status;

                json_decref(health);
                status = stop_instance(i);
                ck_assert_msg(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                              "survivor %d: after SIGTERM, wait status %#x", i, (unsigned)status);
        }
        printf("multi: kill -9 of instance %d under load: %zu fills acknowledged (%zu before the"
               " kill, %zu after; %zu failed over, %zu of them committed by the victim), all"
               " stored and read back through the survivors, the book exact; survivors stopped"
               " cleanly\n",
               K_VICTIM, n, before, after, failover, by_victim);
        fflush(stdout);
        free(b.by_id);
        free(b.fills);
        free(v);
        curl_easy_cleanup(h);
}
END_TEST

/* ---- 5. PostgreSQL stopped and started under load ---- */

#define R_CLIENTS 6 /* two per instance */
#define R_BEFORE_MS 800
#define R_DOWN_MS 1500
#define R_AFTER_MS 1500
#define R_BACK_BUDGET_US (20 * 1000000LL) /* from the start to a 2xx on each instance */
#define R_SLOW_US (8 * 1000000LL)         /* no answer may take longer */
#define R_RETRIES 300                     /* 503s a retried write may meet */
#define R_MIN_ACKED 20                    /* writes acknowledged before the stop, and after */

enum r_kind { R_ORDER, R_FILL, R_QUOTE, R_READ };

/* One request a client sent, with its answer. A write's id and two
 * decimals are in f: a fill's as named; an order's id, price and quantity,
 * and a quote's id, source bid and ask price in f.fill_id, f.price, f.qty. */
struct r_op {
        enum r_kind kind;
        int inst;
        struct fill_spec f;
        char path[80];
        long status, retry_after;
        bool problem;    /* Content-Type application/problem+json */
        int phase;       /* sent 0: before the stop, 1: while down, 2: after the start */
        int64_t sent_us; /* monotonic */
        int64_t took_us;
        CURLcode err;
        char head[160];      /* the start of an answer that is neither 2xx nor 503 */
        long retried_status; /* a 503'd write: the answer of its retry */
};

struct r_run {
        const struct book *b;
        atomic_bool stop;
        atomic_llong down_us, up_us;  /* stop begun, start returned; 0 before */
        atomic_llong back_us[N_INST]; /* first 2xx sent after up_us, its answer - up_us */
};

struct r_client {
        struct r_run *run;
        int id, inst;
        uint32_t rng;
        char last[R_READ][40]; /* the last write of each kind acknowledged, for reads */
        struct r_op *v;
        size_t n, cap;
        bool oom;
};

static void
r_body(const struct book *b, const struct r_op *op, char *buf, size_t cap)
{
        char price[40], qty[40];

        if (op->kind == R_FILL) {
                fill_body(b, &op->f, buf, cap);
                return;
        }
        fmt_dec(op->f.price, price);
        fmt_dec(op->f.qty, qty);
        if (op->kind == R_QUOTE)
                snprintf(buf, cap,
                         "{\"quote_id\":\"%s\",\"symbol_src\":\"RA\",\"symbol_dst\":\"RB\","
                         "\"source_bid_price\":\"%s\",\"source_ask_price\":\"%s\"}",
                         op->f.fill_id, price, qty);
        else
                snprintf(buf, cap,
                         "{\"order_id\":\"%s\",\"symbol\":\"RS\",\"side\":\"buy\","
                         "\"type\":\"limit\",\"price\":\"%s\",\"quantity\":\"%s\"}",
                         op->f.fill_id, price, qty);
}

/* The n-th request of a client: an order, a fill on the kill test's book,
 * a quote, or a read of an order, fill or quote acknowledged last (of a
 * book order before there is one). */
static void
r_make_op(struct r_client *cl, size_t n, struct r_op *op)
{
        static const char *const paths[] = {
                [R_ORDER] = "/orders", [R_FILL] = "/fills", [R_QUOTE] = "/quotes"
        };
        int read = (int)(n / 4 % R_READ);

        op->kind = (enum r_kind)(n % 4);
        op->inst = cl->inst;
        rnd_price_qty(&cl->rng, &op->f.price, &op->f.qty);
        op->f.order = (int)rnd_range(&cl->rng, 0, K_ORDERS - 1);
        op->f.trade_id = n % 2;
        snprintf(op->f.fill_id, sizeof(op->f.fill_id), "r-c%d-%zu", cl->id, n);
        if (op->kind != R_READ)
                snprintf(op->path, sizeof(op->path), "%s", paths[op->kind]);
        else if (cl->last[read][0] != '\0')
                snprintf(op->path, sizeof(op->path), "%s/%s", paths[read], cl->last[read]);
        else
                snprintf(op->path, sizeof(op->path), "/orders/k-o%d", op->f.order);
}

/* Sends op and records its answer; a 2xx sent after the start tells when
 * the instance served again. */
static void
r_send(struct r_client *cl, CURL *h, struct r_op *op)
{
        struct r_run *run = cl->run;
        char body[512];
        struct resp r;
        int64_t up, was, now;

        r_body(run->b, op, body, sizeof(body));
        op->sent_us = ts_monotonic_us();
        up = atomic_load(&run->up_us);
        op->phase = up != 0 ? 2 : atomic_load(&run->down_us) != 0;
        http_req(h, T.inst[op->inst].base_url, op->path, op->kind == R_READ,
                 op->kind == R_READ ? NULL : body, &r);
        now = ts_monotonic_us();
        op->took_us = now - op->sent_us;
        op->status = r.status;
        op->err = r.err;
        op->retry_after = r.retry_after;
        op->problem = strncmp(r.ctype, "application/problem+json", 24) == 0;
        if (r.status / 100 != 2 && r.status != 503)
                snprintf(op->head, sizeof(op->head), "%s", r.body ? r.body : "");
        if (r.status / 100 == 2 && op->kind != R_READ)
                snprintf(cl->last[op->kind], sizeof(cl->last[op->kind]), "%s", op->f.fill_id);
        was = atomic_load(&run->back_us[op->inst]);
        while (up != 0 && r.status / 100 == 2 && (was == 0 || now - up < was) &&
               !atomic_compare_exchange_weak(&run->back_us[op->inst], &was, now - up))
                ;
        free(r.body);
}

static void *
r_client_run(void *arg)
{
        struct r_client *cl = arg;
        CURL *h = http_handle();

        for (size_t n = 0; h != NULL && !atomic_load(&cl->run->stop); n++) {
                struct r_op op = { 0 };

                r_make_op(cl, n, &op);
                r_send(cl, h, &op);
                /* A client pauses after a 503 (less than Retry-After's 1 s:
                 * the outage is short). */
                if (op.status == 503)
                        ts_sleep_ms(5);
                if (cl->n == cl->cap) {
                        size_t cap = cl->cap ? cl->cap * 2 : 512;
                        struct r_op *v = realloc(cl->v, cap * sizeof(*v));

                        if (v == NULL)
                                break;
                        cl->v = v;
                        cl->cap = cap;
                }
                cl->v[cl->n++] = op;
        }
        cl->oom = h == NULL || !atomic_load(&cl->run->stop);
        curl_easy_cleanup(h);
        return NULL;
}

/* "$TRADESTORE_TEST_PG_CTL stop|start" (scripts/pgtest). */
static int
pg_ctl(const char *what)
{
        const char *ctl = getenv("TRADESTORE_TEST_PG_CTL");
        char cmd[600];

        if (ctl == NULL || ctl[0] == '\0')
                return -1;
        snprintf(cmd, sizeof(cmd), "'%s' %s", ctl, what);
        return system(cmd);
}

/* The outage: R_BEFORE_MS of load, PostgreSQL stopped for R_DOWN_MS and
 * started, then load until every instance answered a 2xx sent after the
 * start (at least R_AFTER_MS, at most R_BACK_BUDGET_US). Returns whether
 * both pg_ctl calls worked; *ret_down_ms: from the stop to the start's
 * return. */
static bool
r_outage(struct r_run *run, int64_t *ret_down_ms)
{
        int64_t t0, up;
        int rc_stop, rc_start;
        bool all_back = false;

        ts_sleep_ms(R_BEFORE_MS);
        t0 = ts_monotonic_us();
        atomic_store(&run->down_us, t0);
        rc_stop = pg_ctl("stop");
        ts_sleep_ms(R_DOWN_MS);
        rc_start = pg_ctl("start");
        up = ts_monotonic_us();
        atomic_store(&run->up_us, up);
        *ret_down_ms = (up - t0) / 1000;
        while (!all_back || ts_monotonic_us() - up < R_AFTER_MS * 1000LL) {
                if (ts_monotonic_us() - up > R_BACK_BUDGET_US)
                        break;
                ts_sleep_ms(10);
                all_back = true;
                for (int i = 0; i < N_INST; i++)
                        all_back = all_back && atomic_load(&run->back_us[i]) != 0;
        }
        atomic_store(&run->stop, true);
        return rc_stop == 0 && rc_start == 0;
}

/* Runs the clients around r_outage; moves every request into *ret (caller
 * frees). */
static size_t
r_run_all(struct r_run *run, struct r_op **ret, int64_t *ret_down_ms)
{
        struct r_client cl[R_CLIENTS];
        pthread_t th[R_CLIENTS];
        struct r_op *all = NULL;
        size_t n = 0;
        bool ctl_ok;

        for (int i = 0; i < R_CLIENTS; i++) {
                cl[i] = (struct r_client){
                        .run = run, .id = i, .inst = i % N_INST, .rng = (seed + 53u * i) | 1
                };
                ck_assert_int_eq(pthread_create(&th[i], NULL, r_client_run, &cl[i]), 0);
        }
        ctl_ok = r_outage(run, ret_down_ms);
        for (int i = 0; i < R_CLIENTS; i++) {
                ck_assert_int_eq(pthread_join(th[i], NULL), 0);
                ck_assert_msg(!cl[i].oom, "client %d: out of memory or no curl handle", i);
                all = realloc(all, (n + cl[i].n + 1) * sizeof(*all));
                ck_assert_ptr_nonnull(all);
                memcpy(all + n, cl[i].v, cl[i].n * sizeof(*all));
                n += cl[i].n;
                free(cl[i].v);
        }
        ck_assert_msg(ctl_ok, "$TRADESTORE_TEST_PG_CTL stop or start failed");
        *ret = all;
        return n;
}

/* "POST /fills r-c0-7 on instance 0 (sent while PostgreSQL was down)", for
 * messages. */
static const char *
r_what(const struct r_op *op, char buf[200])
{
        static const char *const phases[] = { "before the stop", "while PostgreSQL was down",
                                              "after the start" };

        snprintf(buf, 200, "%s %s%s%s on instance %d (sent %s)",
                 op->kind == R_READ ? "GET" : "POST", op->path, op->kind == R_READ ? "" : " ",
                 op->kind == R_READ ? "" : op->f.fill_id, op->inst, phases[op->phase]);
        return buf;
}

/* Every answer a 2xx (201 for a write: each id is sent once) or a 503
 * problem+json with Retry-After, none slow, none missing; returns the
 * number of 503s, per instance in n503. */
static size_t
r_check_answers(const struct r_op *v, size_t n, size_t n503[N_INST])
{
        size_t total = 0;
        char what[200];

        for (size_t i = 0; i < n; i++) {
                const struct r_op *op = &v[i];

                REQUIRE(op->status != 0, "%s: no answer: %s", r_what(op, what),
                        curl_easy_strerror(op->err));
                REQUIRE(op->took_us <= R_SLOW_US, "%s: answered after %lld ms", r_what(op, what),
                        (long long)(op->took_us / 1000));
                REQUIRE(op->status == 503 || op->status == (op->kind == R_READ ? 200 : 201),
                        "%s: %ld %s", r_what(op, what), op->status, op->head);
                if (op->status != 503)
                        continue;
                REQUIRE(op->problem && op->retry_after >= 1,
                        "%s: 503 %s, Retry-After %ld (want problem+json and Retry-After >= 1)",
                        r_what(op, what), op->problem ? "problem+json" : "not problem+json",
                        op->retry_after);
                n503[op->inst]++;
                total++;
        }
        return total;
}

/* Sends each write answered 503 again, same id and content, until it is
 * answered otherwise: 201 (it had not been written) or 200 (it had been:
 * the idempotent replay). Returns how many were 200; *ret_retried: how
 * many were sent again. */
static size_t
r_retry_unacked(const struct book *b, struct r_op *v, size_t n, size_t *ret_retried)
{
        CURL *h = http_handle();
        char body[512];
        size_t replayed = 0;

        *ret_retried = 0;
        for (size_t i = 0; i < n; i++) {
                struct r_op *op = &v[i];
                struct resp r = { 0 };

                if (op->kind == R_READ || op->status != 503)
                        continue;
                ++*ret_retried;
                r_body(b, op, body, sizeof(body));
                for (int k = 0; k <= R_RETRIES; k++) {
                        free(r.body);
                        http_post(h, T.inst[op->inst].base_url, op->path, body, &r);
                        if (r.status != 503)
                                break;
                        ts_sleep_ms(10);
                }
                REQUIRE(r.status == 201 || r.status == 200,
                        "%s answered 503 under the outage; sent again after it: %ld %s",
                        op->f.fill_id, r.status, r.body ? r.body : "");
                op->retried_status = r.status;
                replayed += r.status == 200;
                free(r.body);
        }
        curl_easy_cleanup(h);
        return replayed;
}

/* The orders (or quotes) the clients sent, in the database: each once, as
 * sent; an order with one order_created event. sql lists id, the two
 * decimals and the number of events of each row whose id starts "r-". */
static void
r_check_rows(const struct r_op *v, size_t n, enum r_kind kind, const char *sql)
{
        const char *what = kind == R_ORDER ? "order" : "quote";
        PGconn *c = pg_open();
        PGresult *r = pg_query(c, sql);
        size_t want = 0;

        for (size_t i = 0; i < n; i++) {
                const struct r_op *op = &v[i];
                int row = -1;

                if (op->kind != kind)
                        continue;
                want++;
                for (int k = 0; k < PQntuples(r) && row < 0; k++)
                        if (strcmp(PQgetvalue(r, k, 0), op->f.fill_id) == 0)
                                row = k;
                REQUIRE(row >= 0, "LOST: %s %s was answered %ld (retried: %ld) but is not stored",
                        what, op->f.fill_id, op->status, op->retried_status);
                REQUIRE(pg_int(r, row, 1) == op->f.price && pg_int(r, row, 2) == op->f.qty &&
                                pg_int(r, row, 3) == 1,
                        "%s %s stored as %s, %s with %s events; sent %" PRId64 ", %" PRId64, what,
                        op->f.fill_id, PQgetvalue(r, row, 1), PQgetvalue(r, row, 2),
                        PQgetvalue(r, row, 3), op->f.price, op->f.qty);
        }
        ck_assert_msg((size_t)PQntuples(r) == want, "%d client %ss stored, %zu sent", PQntuples(r),
                      what, want);
        PQclear(r);
        PQfinish(c);
}

static void
r_check_orders_and_quotes(const struct r_op *v, size_t n)
{
        r_check_rows(v, n, R_ORDER,
                     "SELECT o.order_id, o.price, o.quantity, (SELECT count(*) FROM outbox e"
                     " WHERE e.event_type = 'order_created' AND e.aggregate_id = o.order_id)"
                     " FROM orders o WHERE o.order_id LIKE 'r-%'");
        r_check_rows(v, n, R_QUOTE,
                     "SELECT quote_id, source_bid_price, source_ask_price, 1 FROM quotes"
                     " WHERE quote_id LIKE 'r-%'");
}

/* The fills, acknowledged at once or after their retry: each read back
 * through an instance as sent (k_check_readback), and the book that
 * follows from exactly them (check_book: fills table, events, orders,
 * positions). */
static void
r_check_fills(struct book *b, const struct r_op *v, size_t n)
{
        struct k_sent *ks = calloc(n + 1, sizeof(*ks));
        size_t nf = 0;
        int exact;

        ck_assert_ptr_nonnull(ks);
        for (size_t i = 0; i < n; i++)
                if (v[i].kind == R_FILL)
                        ks[nf++] =
                                (struct k_sent){ .f = v[i].f,
                                                 .status = v[i].status == 503 ? v[i].retried_status
                                                                              : v[i].status };
        k_check_readback(b, ks, nf);
        b->fills = malloc((nf + 1) * sizeof(*b->fills));
        ck_assert_ptr_nonnull(b->fills);
        for (size_t i = 0; i < nf; i++)
                b->fills[i] = ks[i].f;
        b->nfills = nf;
        index_fills(b);
        check_book(b, 0, &exact);
        free(ks);
}

/* Writes acknowledged before the stop and after the start: the load ran
 * on both sides of the outage. *ret_acked: writes acknowledged at once;
 * *ret_late: 503s to requests sent after the start (pooled connections
 * that meet the restart only then). */
static void
r_check_load(const struct r_run *run, const struct r_op *v, size_t n, size_t *ret_acked,
             size_t *ret_late)
{
        size_t before = 0, after = 0;
        int64_t down = atomic_load(&run->down_us), up = atomic_load(&run->up_us);

        *ret_acked = *ret_late = 0;
        for (size_t i = 0; i < n; i++) {
                *ret_late += v[i].status == 503 && v[i].sent_us > up;
                if (v[i].kind == R_READ || v[i].status / 100 != 2)
                        continue;
                ++*ret_acked;
                before += v[i].sent_us + v[i].took_us < down;
                after += v[i].sent_us > up;
        }
        ck_assert_msg(before >= R_MIN_ACKED && after >= R_MIN_ACKED,
                      "too little load: %zu writes acknowledged before the stop, %zu after the"
                      " start",
                      before, after);
}

/* The same processes serve on (never restarted) and stop cleanly. */
static void
r_check_processes(const pid_t pids[N_INST])
{
        for (int i = 0; i < N_INST; i++) {
                int status = 0;

                ck_assert_msg(T.inst[i].pid == pids[i] && waitpid(pids[i], &status, WNOHANG) == 0,
                              "instance %d (pid %d) ended (wait status %#x); its log: %s", i,
                              (int)pids[i], (unsigned)status, T.inst[i].log_path);
                status = stop_instance(i);
                ck_assert_msg(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                              "instance %d: after SIGTERM, wait status %#x", i, (unsigned)status);
        }
}

/* PostgreSQL stopped (fast shutdown: its backends end, the pooled
 * connections of all three instances are cut) and started again while six
 * clients send orders, fills, quotes and reads.
 *
 * Failed on the branch as committed with this test: handlers/orders.c and
 * handlers/quotes.c answered a lost connection 503 without Retry-After
 * ("POST /quotes r-c0-254 on instance 0 (sent while PostgreSQL was down):
 * 503 problem+json, Retry-After -1 (want problem+json and Retry-After >=
 * 1)"); see the next commit. Shown to fail, each on a scratch copy of the
 * tree with that fixed:
 * - a lost connection answered 500 (handlers/fills.c, for DB_UNAVAILABLE):
 *   "POST /fills r-c0-261 on instance 0 (sent while PostgreSQL was down):
 *   500 {... "detail":"lost connection"}";
 * - no reconnect (PQreset taken out of pg_release, db/postgres.c):
 *   "instance 0 answered no 2xx within 20 s of the start";
 * - a write whose BEGIN fails on a lost connection acknowledged without
 *   being run (run_job returns 0, db/postgres.c): "GET /fills/r-c0-1157 on
 *   instance 0 (sent after the start): 404 ... does not exist" (a client
 *   reads what it was acknowledged); with those reads left out, the check
 *   after the run: "LOST: order r-c0-392 was answered 201 (retried: 0) but
 *   is not stored". */
START_TEST(postgresql_stopped_and_started_under_load_503s_meanwhile_loses_nothing_and_serves_again)
{
        struct book b;
        struct r_run run = { .b = &b };
        struct r_op *v = NULL;
        size_t n, n503[N_INST] = { 0 }, total503, late, acked, retried, replayed;
        pid_t pids[N_INST];
        int64_t down_ms, back_ms = 0;
        CURL *h = http_handle();

        for (int i = 0; i < N_INST; i++)
                pids[i] = T.inst[i].pid;
        make_kill_book(&b);
        create_orders(h, &b);
        n = r_run_all(&run, &v, &down_ms);
        total503 = r_check_answers(v, n, n503);
        for (int i = 0; i < N_INST; i++) {
                int64_t back = atomic_load(&run.back_us[i]);

                ck_assert_msg(n503[i] > 0,
                              "instance %d never answered 503: the outage was not"
                              " exercised",
                              i);
                ck_assert_msg(back > 0, "instance %d answered no 2xx within %lld s of the start", i,
                              R_BACK_BUDGET_US / 1000000);
                back_ms = back / 1000 > back_ms ? back / 1000 : back_ms;
        }
        r_check_load(&run, v, n, &acked, &late);
        replayed = r_retry_unacked(&b, v, n, &retried);
        r_check_orders_and_quotes(v, n);
        r_check_fills(&b, v, n);
        r_check_processes(pids);
        printf("multi: PostgreSQL stopped for %lld ms under load: %zu answers, %zu 503 with"
               " Retry-After (%zu/%zu/%zu by instance, %zu of them after the start), the rest 2xx;"
               " %zu acknowledged writes all stored as sent; the %zu writes answered 503, sent"
               " again, stored once (%zu of them had been committed: 200); every instance served"
               " again %lld ms after the start; same pids, stopped cleanly\n",
               (long long)down_ms, n, total503, n503[0], n503[1], n503[2], late, acked, retried,
               replayed, (long long)back_ms);
        fflush(stdout);
        free(b.by_id);
        free(b.fills);
        free(v);
        curl_easy_cleanup(h);
}
END_TEST

/* ---- 6. retention, maintenance and mass expiry from three instances at once ---- */

/* Each instance runs POST /admin/maintenance (cleanup and analyze) and
 * POST /quotes/expire RT_ROUNDS times, all nine threads at once, while a
 * writer per instance creates active quotes that the expiries may catch.
 * Every row past retention is deleted exactly once (the cleanup counts the
 * answers report add up to what was seeded), nothing inside retention or
 * still pending is touched, and each quote is expired once (the expired
 * counts add up to the quotes now expired). Shown to catch what it is for
 * on a scratch copy (never committed): with a cleanup batch reporting its
 * whole budget as deleted whenever it deleted anything (repo/admin.c
 * delete_some), the quotes' answers added up to 3000 of 2500 and it failed. */
#define RT_OLD 2500    /* per table: past retention */
#define RT_KEEP 300    /* per table: inside retention, or not finished */
#define RT_ACTIVE 1500 /* active quotes for the mass expiries */
#define RT_ROUNDS 4    /* requests per instance and kind */
#define RT_CREATES 60  /* quotes each writer creates meanwhile */
#define RT_MAX_503 50  /* 503s a request sits out before the test gives up */
#define DAY_US (86400 * 1000000LL)

struct rt_thread {
        int inst;
        int kind; /* 0 maintenance, 1 expire, 2 create */
        pthread_t tid;
        int64_t quotes, fills, outbox, expired, created;
        int answers_503;
        char failure[512]; /* the first unexpected answer; "" when none */
};

/* The seed, by SQL: RT_OLD rows of each table past retention (quotes 7
 * days, fills 90, processed events 30), RT_KEEP inside it and RT_KEEP old
 * pending events, and RT_ACTIVE active quotes. */
static void
rt_seed(PGconn *c, int64_t now)
{
        /* The numbers once, in a table the statements read (k). */
        static const char rows[] =
                "INSERT INTO quotes (quote_id, symbol_src, symbol_dst, source_bid_price,"
                " source_ask_price, status, created_at, updated_at)"
                " SELECT 'r-q-' || i, 'SRC', 'RET/X', 100, 101,"
                " CASE WHEN i % 2 = 0 THEN 'expired' ELSE 'cancelled' END,"
                " now - CASE WHEN i < old THEN 8 ELSE 1 END * day,"
                " now - CASE WHEN i < old THEN 8 ELSE 1 END * day"
                " FROM k, generate_series(0, k.old + k.keep - 1) AS i;"
                "INSERT INTO quotes (quote_id, symbol_src, symbol_dst, source_bid_price,"
                " source_ask_price, status, created_at, updated_at)"
                " SELECT 'r-a-' || i, 'SRC', 'ACT/X', 100, 101, 'active', now, now"
                " FROM k, generate_series(1, k.active) AS i;"
                "INSERT INTO orders (order_id, symbol, side, type, quantity, price, status,"
                " created_at, updated_at) SELECT 'r-ord', 'RET/X', 'buy', 'limit',"
                " 100000000000000, 100, 'open', now, now FROM k;"
                "INSERT INTO fills (fill_id, order_id, symbol, side, price, quantity,"
                " executed_at, created_at) SELECT 'r-f-' || i, 'r-ord', 'RET/X', 'buy', 100, 1,"
                " now - CASE WHEN i < old THEN 91 ELSE 1 END * day,"
                " now - CASE WHEN i < old THEN 91 ELSE 1 END * day"
                " FROM k, generate_series(0, k.old + k.keep - 1) AS i;"
                "INSERT INTO outbox (event_id, event_type, aggregate_id, payload, status,"
                " created_at, processed_at) SELECT 'r-e-' || i, 'x', 'agg-' || (i % 7), '{}',"
                " CASE WHEN i < old + keep THEN 'processed' ELSE 'pending' END, now - 31 * day,"
                " CASE WHEN i < old THEN now - 31 * day WHEN i < old + keep THEN now - day END"
                " FROM k, generate_series(0, k.old + 2 * k.keep - 1) AS i;"
                "DROP TABLE k";
        char sql[256];

        snprintf(sql, sizeof(sql),
                 "CREATE TEMP TABLE k AS SELECT %lld::bigint AS now, %lld::bigint AS day,"
                 " %d AS old, %d AS keep, %d AS active",
                 (long long)now, DAY_US, RT_OLD, RT_KEEP, RT_ACTIVE);
        PQclear(pg_query(c, sql));
        PQclear(pg_query(c, rows));
}

/* Sends one request of t's kind; a 503 is sat out (a rerun that lost, or
 * the write queue full) and sent again. Returns the 2xx answer's body
 * (caller frees) or NULL with t->failure set. */
static json_t *
rt_send(struct rt_thread *t, CURL *h, const char *path, const char *body, long want)
{
        struct resp r;

        for (int tries = 0;; tries++) {
                http_post(h, T.inst[t->inst].base_url, path, body, &r);
                if (r.status != 503 || tries >= RT_MAX_503)
                        break;
                t->answers_503++;
                free(r.body);
                ts_sleep_ms(20);
        }
        if (r.status != want) {
                snprintf(t->failure, sizeof(t->failure), "POST %s on instance %d: %ld %s", path,
                         t->inst, r.status, r.body ? r.body : "(no answer)");
                free(r.body);
                return NULL;
        }
        json_t *j = json_loads(r.body, 0, NULL);
        free(r.body);
        if (j == NULL)
                snprintf(t->failure, sizeof(t->failure), "POST %s: not JSON", path);
        return j;
}

static int64_t
jint(const json_t *o, const char *key)
{
        return json_integer_value(json_object_get(o, key));
}

static void *
rt_thread_run(void *arg)
{
        struct rt_thread *t = arg;
        CURL *h = http_handle();
        char body[256];

        for (int i = 0; h != NULL && t->failure[0] == '\0'; i++) {
                json_t *j = NULL;

                if (t->kind == 0 && i < RT_ROUNDS) {
                        j = rt_send(t, h, "/admin/maintenance",
                                    "{\"cleanup\": true, \"analyze\": true}", 200);
                        const json_t *cl = json_object_get(j, "cleanup");
                        t->quotes += jint(cl, "quotes");
                        t->fills += jint(cl, "fills");
                        t->outbox += jint(cl, "outbox");
                } else if (t->kind == 1 && i < RT_ROUNDS) {
                        j = rt_send(t, h, "/quotes/expire", "{}", 200);
                        t->expired += jint(j, "expired");
                } else if (t->kind == 2 && i < RT_CREATES) {
                        snprintf(body, sizeof(body),
                                 "{\"quote_id\": \"r-n-%d-%d\", \"symbol_src\": \"SRC\","
                                 " \"symbol_dst\": \"NEW/X\", \"source_bid_price\": \"100\","
                                 " \"source_ask_price\": \"101\"}",
                                 t->inst, i);
                        j = rt_send(t, h, "/quotes", body, 201);
                        t->created += j != NULL;
                } else {
                        break;
                }
                json_decref(j);
        }
        curl_easy_cleanup(h);
        return NULL;
}

/* Counts rows of the seed by id prefix: "SELECT count(*) FROM table WHERE ...". */
static int64_t
rt_count(PGconn *c, const char *sql)
{
        PGresult *r = pg_query(c, sql);
        int64_t n = pg_int(r, 0, 0);

        PQclear(r);
        return n;
}

static void
rt_check(PGconn *c, const struct rt_thread *t, int n)
{
        int64_t q = 0, f = 0, o = 0, expired = 0, n503 = 0;

        for (int i = 0; i < n; i++) {
                ck_assert_msg(t[i].failure[0] == '\0', "%s", t[i].failure);
                q += t[i].quotes, f += t[i].fills, o += t[i].outbox;
                expired += t[i].expired, n503 += t[i].answers_503;
        }
        /* Deleted once each: the answers add up to the rows past retention. */
        ck_assert_int_eq(q, RT_OLD);
        ck_assert_int_eq(f, RT_OLD);
        ck_assert_int_eq(o, RT_OLD);
        ck_assert_int_eq(rt_count(c, "SELECT count(*) FROM quotes WHERE quote_id LIKE 'r-q-%'"),
                         RT_KEEP);
        ck_assert_int_eq(rt_count(c, "SELECT count(*) FROM fills"), RT_KEEP);
        ck_assert_int_eq(rt_count(c, "SELECT count(*) FROM outbox WHERE status = 'processed'"),
                         RT_KEEP);
        ck_assert_int_eq(rt_count(c, "SELECT count(*) FROM outbox WHERE status = 'pending'"),
                         RT_KEEP);
        /* Expired once each: the answers add up to the quotes now expired,
         * every seeded active quote among them. */
        ck_assert_int_eq(rt_count(c, "SELECT count(*) FROM quotes WHERE quote_id LIKE 'r-a-%'"
                                     " AND status = 'expired'"),
                         RT_ACTIVE);
        ck_assert_int_eq(rt_count(c, "SELECT count(*) FROM quotes WHERE status = 'expired' AND"
                                     " (quote_id LIKE 'r-a-%' OR quote_id LIKE 'r-n-%')"),
                         expired);
        ck_assert_int_eq(rt_count(c, "SELECT count(*) FROM quotes WHERE quote_id LIKE 'r-n-%'"),
                         N_INST * RT_CREATES);
        printf("multi: retention, maintenance and mass expiry from %d instances at once (%d"
               " maintenance runs, %d expiries, %d quotes created meanwhile; %lld answers 503"
               " sat out): %d rows past retention per table deleted once each, %d kept, %lld"
               " quotes expired once each\n",
               N_INST, N_INST * RT_ROUNDS, N_INST * RT_ROUNDS, N_INST * RT_CREATES, (long long)n503,
               RT_OLD, RT_KEEP, (long long)expired);
}

START_TEST(retention_maintenance_and_mass_expiry_from_three_instances_at_once)
{
        struct rt_thread t[N_INST * 3];
        PGconn *c = pg_open();
        int n = 0;

        rt_seed(c, ts_now_us());
        for (int i = 0; i < N_INST; i++)
                for (int kind = 0; kind < 3; kind++)
                        t[n++] = (struct rt_thread){ .inst = i, .kind = kind };
        for (int i = 0; i < n; i++)
                ck_assert_int_eq(pthread_create(&t[i].tid, NULL, rt_thread_run, &t[i]), 0);
        for (int i = 0; i < n; i++)
                pthread_join(t[i].tid, NULL);
        rt_check(c, t, n);
        PQfinish(c);
}
END_TEST

/* ---- 7. the operator's commands on PostgreSQL ---- */

/* Runs "tradestore ARGS --db-url URL" (ARGS trusted test text) and returns
 * its exit status (-1 when it did not exit: a crash); *ret_out gets its
 * stdout and stderr (caller frees). */
static int
run_cli(const char *args, char **ret_out)
{
        char cmd[1024], buf[512];
        size_t len = 0;
        char *out = calloc(1, 1);
        FILE *p;
        int status;

        snprintf(cmd, sizeof(cmd), "'%s' %s --db-url '%s' 2>&1", server_exe, args, pg_url);
        p = popen(cmd, "r");
        ck_assert_ptr_nonnull(p);
        while (fgets(buf, sizeof(buf), p) != NULL) {
                size_t n = strlen(buf);

                out = realloc(out, len + n + 1);
                ck_assert_ptr_nonnull(out);
                memcpy(out + len, buf, n + 1);
                len += n;
        }
        status = pclose(p);
        *ret_out = out;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* tradestore maintain on PostgreSQL: --cleanup deletes the rows past
 * retention (in batches, each its own transaction) and --analyze runs
 * ANALYZE; --vacuum and --checkpoint are usage errors naming what does that
 * work there (as POST /admin/maintenance answers 400). Before the fix,
 * --cleanup failed on "BEGIN IMMEDIATE", --vacuum on a PRAGMA and
 * --checkpoint crashed (SIGSEGV: SQLite's checkpoint on a libpq
 * connection). */
START_TEST(maintain_on_postgresql_cleans_up_and_analyzes_and_refuses_the_rest)
{
        PGconn *c;
        char *out;
        int rc;

        pg_reset();
        ck_assert_int_eq(run_cli("migrate", &out), 0);
        free(out);
        c = pg_open();
        rt_seed(c, ts_now_us());
        rc = run_cli("maintain --cleanup --analyze", &out);
        ck_assert_msg(rc == 0, "maintain --cleanup --analyze: exit %d:\n%s", rc, out);
        ck_assert_msg(strstr(out, "cleanup: deleted 2500 quotes, 2500 fills, 2500 outbox events") !=
                              NULL,
                      "%s", out);
        ck_assert_msg(strstr(out, "analyze: done") != NULL, "%s", out);
        free(out);
        ck_assert_int_eq(rt_count(c, "SELECT count(*) FROM fills"), RT_KEEP);
        ck_assert_int_eq(rt_count(c, "SELECT count(*) FROM pg_stats WHERE tablename = 'fills'") > 0,
                         1);
        rc = run_cli("maintain --vacuum", &out);
        ck_assert_msg(rc == 2 && strstr(out, "autovacuum") != NULL, "exit %d: %s", rc, out);
        free(out);
        rc = run_cli("maintain --checkpoint", &out);
        ck_assert_msg(rc == 2 && strstr(out, "checkpointer") != NULL, "exit %d: %s", rc, out);
        free(out);
        PQfinish(c);
}
END_TEST

int
main(int argc, char **argv)
{
        Suite *s = suite_create("multi");
        TCase *tc = tcase_create("three_instances");
        TCase *cli = tcase_create("cli"); /* no instances running */

        if (argc < 2) {
                fprintf(stderr, "usage: %s PATH-TO-tradestore (under scripts/pgtest)\n", argv[0]);
                return 2;
        }
        server_exe = argv[1];
        pg_url = getenv("TRADESTORE_TEST_PG_URL");
        if (pg_url == NULL || pg_url[0] == '\0') {
                fprintf(stderr, "%s: TRADESTORE_TEST_PG_URL is not set: run under scripts/pgtest\n",
                        argv[0]);
                return 2;
        }
        /* The servers must see none of the caller's settings but their flags. */
        unsetenv("AUTH_TOKENS");
        unsetenv("TRADESTORE_CONFIG");
        unsetenv("DB_URL");
        unsetenv("DB_PATH");
        unsetenv("LOG_LEVEL");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 90);
        tcase_add_test(tc, three_instances_started_at_once_migrate_the_database_once);
        tcase_add_test(tc, concurrent_fills_and_replays_through_three_instances_are_exact);
        tcase_add_test(tc, consumers_on_three_instances_get_each_event_once_in_aggregate_order);
        tcase_add_test(tc, kill_9_of_one_instance_under_fill_load_loses_no_acknowledged_fill);
        tcase_add_test(
                tc,
                postgresql_stopped_and_started_under_load_503s_meanwhile_loses_nothing_and_serves_again);
        tcase_add_test(tc, retention_maintenance_and_mass_expiry_from_three_instances_at_once);
        suite_add_tcase(s, tc);
        tcase_add_test(cli, maintain_on_postgresql_cleans_up_and_analyzes_and_refuses_the_rest);
        suite_add_tcase(s, cli);
        return check_run(s);
}
