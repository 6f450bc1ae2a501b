/* Crash safety: nothing acknowledged is ever lost. The real tradestore
 * binary (its path is argv[1]) runs as a child process over a temporary
 * database; four client threads post fills while the server is killed with
 * SIGKILL at a random moment, round after round. After each kill the test
 * opens the database itself (SQLite recovers the WAL on open) and checks:
 *
 *   1. every fill acknowledged with a 2xx is stored with the content sent,
 *      no fill refused with a non-2xx is stored, and every stored fill is
 *      one a client sent, with that content (no phantoms);
 *   2. each order's filled_quantity is the sum of its fills, fill_notional
 *      their exact sum of price * quantity, avg_fill_price the exact VWAP
 *      rounded half-to-even (computed here with __int128) and its status
 *      follows from filled_quantity;
 *   3. each position is the replay of its symbol's fills in the order they
 *      were applied (fills.rowid: one writer inserts them one by one) through
 *      the real position_apply_fill, and independently quantity is the
 *      signed sum of the fills;
 *   4. each fill has exactly one fill_processed event carrying its fill_id
 *      and order_id (aggregate_id = order_id), and no such event lacks its
 *      fill;
 *   5. PRAGMA integrity_check is "ok" and PRAGMA foreign_key_check is empty.
 *
 * Then the server is started again on the recovered database (its migrations
 * already applied) and the next round begins. The test closes its own
 * connection without checkpointing so that the server's start, too, recovers
 * the crashed WAL. A last start ends with SIGTERM and must exit 0 (under
 * ASan that also runs the server's leak check).
 *
 * The seed of the random contents is printed; CRASH_SEED=N repeats the
 * contents (not the kill moments, which depend on timing). */
#include "common/ts.h"
#include "repo/positions.h"

#include <check.h>

#include "check_run.h"
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_ORDERS 20
#define N_SYMBOLS 4
#define N_CLIENTS 4
#define MIN_ROUNDS 12
#define MAX_ROUNDS 40
#define BUDGET_US (15 * 1000000LL) /* more rounds while time is left */
#define KILL_MIN_MS 10
#define KILL_MAX_MS 400
#define HEALTH_TIMEOUT_US (10 * 1000000LL)
#define MIN_ACKED 300

__extension__ typedef __int128 i128;

/* An assertion for hot loops: Check's ck_assert records the location of
 * every passing call (a message to the parent process each time), which over
 * a hundred thousand checks costs seconds; this one costs nothing until it
 * fails. */
#define REQUIRE(cond, ...)                                                                         \
        do {                                                                                       \
                if (!(cond))                                                                       \
                        ck_abort_msg(__VA_ARGS__);                                                 \
        } while (0)

enum outcome {
        OUT_UNKNOWN, /* no HTTP answer: the server died in between */
        OUT_ACKED,   /* 2xx: must be stored */
        OUT_REFUSED, /* another status: must not be stored */
};

/* One fill a client posted, with what came of it. */
struct sent {
        char fill_id[48];
        int order; /* index: order_id "crash-o-<order>" */
        int64_t price;
        int64_t qty;
        enum outcome outcome;
        long status;
};

struct sent_list {
        struct sent *v;
        size_t n, cap;
};

/* The whole run; global so that the teardown finds the server's pid. */
static struct crash {
        char dir[256];
        char db_path[320];
        char base_url[64];
        pid_t pid;
        unsigned seed;
        struct sent_list sent; /* every round's */
        int rounds;
        size_t acked, refused, unknown;
        size_t unknown_stored; /* unanswered, yet committed: killed in between */
        long last_refusal_status;
} T;

static const char *server_exe;

/* ---- small helpers ---- */

/* xorshift32: per thread, no shared state. */
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

/* v (1e-8 units, >= 0) as a canonical decimal string. */
static void
fmt_dec(int64_t v, char buf[32])
{
        int n = snprintf(buf, 32, "%" PRId64 ".%08" PRId64, v / 100000000, v % 100000000);

        while (buf[n - 1] == '0')
                buf[--n] = '\0';
        if (buf[n - 1] == '.')
                buf[--n] = '\0';
}

static void
fmt_i128(i128 v, char buf[48])
{
        char tmp[48];
        int n = 0;
        size_t k = 0;
        bool neg = v < 0;

        do {
                int d = (int)(v % 10);

                tmp[n++] = (char)('0' + (d < 0 ? -d : d));
                v /= 10;
        } while (v != 0);
        if (neg)
                buf[k++] = '-';
        while (n > 0)
                buf[k++] = tmp[--n];
        buf[k] = '\0';
}

static bool
sent_push(struct sent_list *l, const struct sent *s)
{
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 1024;
                struct sent *v = realloc(l->v, cap * sizeof(*v));

                if (v == NULL)
                        return false;
                l->v = v;
                l->cap = cap;
        }
        l->v[l->n++] = *s;
        return true;
}

static size_t
discard(char *data, size_t size, size_t n, void *cls)
{
        (void)data;
        (void)cls;
        return size * n;
}

/* ---- HTTP ---- */

/* POSTs body to path on h; returns the status, or 0 without an answer. */
static long
http_post(CURL *h, const char *path, const char *body)
{
        struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
        char url[128];
        long status = 0;

        snprintf(url, sizeof(url), "%s%s", T.base_url, path);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        if (curl_easy_perform(h) == CURLE_OK)
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        curl_slist_free_all(hdr);
        return status;
}

static CURL *
http_handle(void)
{
        CURL *h = curl_easy_init();

        if (h == NULL)
                return NULL;
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
        return h;
}

static long
http_get_status(CURL *h, const char *path)
{
        char url[128];
        long status = 0;

        snprintf(url, sizeof(url), "%s%s", T.base_url, path);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        if (curl_easy_perform(h) == CURLE_OK)
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        return status;
}

/* ---- the server process ---- */

/* A port nobody listens on now (the kernel's pick for port 0). */
static int
free_port(void)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int port = -1;

        if (fd < 0)
                return -1;
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
            getsockname(fd, (struct sockaddr *)&a, &len) == 0)
                port = ntohs(a.sin_port);
        close(fd);
        return port;
}

/* Forks and execs "tradestore serve" on port. The child dies with the test
 * process (PR_SET_PDEATHSIG), whatever way the latter ends. */
static pid_t
spawn_server(int port)
{
        char port_s[16];
        pid_t parent = getpid();
        pid_t pid;
        int devnull;

        snprintf(port_s, sizeof(port_s), "%d", port);
        pid = fork();
        if (pid != 0)
                return pid;
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
                _exit(127);
        devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
                dup2(devnull, STDOUT_FILENO);
        execl(server_exe, "tradestore", "serve", "--db", T.db_path, "--host", "127.0.0.1", "--port",
              port_s, "--log-level", "error", (char *)NULL);
        _exit(127);
}

/* Polls GET /health until 200. False when the child exits first (*ret_status
 * then holds its wait status) or after HEALTH_TIMEOUT_US. */
static bool
wait_healthy(CURL *h, pid_t pid, int *ret_status)
{
        int64_t deadline = ts_monotonic_us() + HEALTH_TIMEOUT_US;

        *ret_status = -1;
        while (ts_monotonic_us() < deadline) {
                if (waitpid(pid, ret_status, WNOHANG) == pid)
                        return false;
                if (http_get_status(h, "/health") == 200)
                        return true;
                ts_sleep_ms(10);
        }
        return false;
}

/* Starts the server and waits for it to be healthy; a few tries in case
 * another process took the port in between. Returns the time it took. */
static int64_t
start_server(void)
{
        CURL *h = http_handle();
        int64_t t0 = ts_monotonic_us();
        int status = -1;

        ck_assert_ptr_nonnull(h);
        for (int attempt = 0; attempt < 3; attempt++) {
                int port = free_port();

                ck_assert_int_gt(port, 0);
                snprintf(T.base_url, sizeof(T.base_url), "http://127.0.0.1:%d", port);
                T.pid = spawn_server(port);
                ck_assert_int_gt(T.pid, 0);
                if (wait_healthy(h, T.pid, &status)) {
                        curl_easy_cleanup(h);
                        return ts_monotonic_us() - t0;
                }
                if (status == -1) {
                        kill(T.pid, SIGKILL);
                        waitpid(T.pid, &status, 0);
                }
                T.pid = 0;
                fprintf(stderr, "crash: server start %d failed (wait status %#x)\n", attempt,
                        (unsigned)status);
        }
        curl_easy_cleanup(h);
        ck_abort_msg("the server did not come up after round %d (database %s)", T.rounds,
                     T.db_path);
        return 0;
}

/* SIGKILL; asserts the server was still running (it died of our signal). */
static void
kill_server(void)
{
        int status = 0;

        ck_assert_int_eq(kill(T.pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(T.pid, &status, 0), T.pid);
        T.pid = 0;
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                      "the server had already ended before the kill (wait status %#x)",
                      (unsigned)status);
}

/* ---- setup: the orders ---- */

static void
order_symbol(int i, char buf[8])
{
        snprintf(buf, 8, "SYM%d", i % N_SYMBOLS);
}

/* Order i: symbol SYM(i % 4), buys and sells on every symbol, so that random
 * fills make positions grow, shrink and flip. */
static bool
order_is_buy(int i)
{
        return (i / N_SYMBOLS) % 2 == 0;
}

static void
create_orders(void)
{
        CURL *h = http_handle();

        ck_assert_ptr_nonnull(h);
        for (int i = 0; i < N_ORDERS; i++) {
                char body[256], sym[8];
                long status;

                order_symbol(i, sym);
                snprintf(body, sizeof(body),
                         "{\"order_id\":\"crash-o-%d\",\"symbol\":\"%s\",\"side\":\"%s\","
                         "\"type\":\"limit\",\"price\":\"100\",\"quantity\":\"1000000\"}",
                         i, sym, order_is_buy(i) ? "buy" : "sell");
                status = http_post(h, "/orders", body);
                ck_assert_msg(status == 201, "POST /orders %d: status %ld", i, status);
        }
        curl_easy_cleanup(h);
}

/* ---- a round: clients, then the kill ---- */

struct client {
        int round, id;
        uint32_t rng;
        atomic_bool *stop;
        struct sent_list sent;
        bool oom;
};

/* A random fill: price 99.5-100.5, quantity 0.001-1.5, each with 0-8
 * fractional digits; a trade_id on half of them. */
static void
make_fill(struct client *cl, size_t n, struct sent *s, char *body, size_t cap)
{
        static const int64_t pow10[] = { 100000000, 10000000, 1000000, 100000, 10000,
                                         1000,      100,      10,      1 };
        char price[32], qty[32];
        int64_t step;

        memset(s, 0, sizeof(*s));
        snprintf(s->fill_id, sizeof(s->fill_id), "crash-r%d-c%d-%zu", cl->round, cl->id, n);
        s->order = (int)rnd_range(&cl->rng, 0, N_ORDERS - 1);
        step = pow10[rnd_range(&cl->rng, 0, 8)];
        s->price = rnd_range(&cl->rng, 9950000000 / step, 10050000000 / step) * step;
        step = pow10[rnd_range(&cl->rng, 3, 8)];
        s->qty = rnd_range(&cl->rng, (100000 + step - 1) / step, 150000000 / step) * step;
        fmt_dec(s->price, price);
        fmt_dec(s->qty, qty);
        if (rnd(&cl->rng) % 2)
                snprintf(body, cap,
                         "{\"fill_id\":\"%s\",\"order_id\":\"crash-o-%d\",\"price\":\"%s\","
                         "\"quantity\":\"%s\",\"trade_id\":\"t-%s\"}",
                         s->fill_id, s->order, price, qty, s->fill_id);
        else
                snprintf(body, cap,
                         "{\"fill_id\":\"%s\",\"order_id\":\"crash-o-%d\",\"price\":\"%s\","
                         "\"quantity\":\"%s\"}",
                         s->fill_id, s->order, price, qty);
}

static void *
client_run(void *arg)
{
        struct client *cl = arg;
        CURL *h = http_handle();

        if (h == NULL) {
                cl->oom = true;
                return NULL;
        }
        for (size_t n = 0; !atomic_load(cl->stop); n++) {
                char body[512];
                struct sent s;

                make_fill(cl, n, &s, body, sizeof(body));
                s.status = http_post(h, "/fills", body);
                s.outcome = s.status == 0                       ? OUT_UNKNOWN
                            : s.status >= 200 && s.status < 300 ? OUT_ACKED
                                                                : OUT_REFUSED;
                if (!sent_push(&cl->sent, &s)) {
                        cl->oom = true;
                        break;
                }
                /* No answer: the server is gone, only refused connects follow. */
                if (s.outcome == OUT_UNKNOWN)
                        break;
        }
        curl_easy_cleanup(h);
        return NULL;
}

/* Moves the clients' records into T.sent and counts the outcomes. */
static void
collect(struct client *cl, size_t *ret_acked)
{
        for (size_t i = 0; i < cl->sent.n; i++) {
                const struct sent *s = &cl->sent.v[i];

                REQUIRE(sent_push(&T.sent, s), "out of memory");
                if (s->outcome == OUT_ACKED) {
                        T.acked++;
                        ++*ret_acked;
                } else if (s->outcome == OUT_REFUSED) {
                        T.refused++;
                        T.last_refusal_status = s->status;
                } else {
                        T.unknown++;
                }
        }
        free(cl->sent.v);
}

/* Runs the clients, kills the server after a random delay, joins them.
 * Returns the number of fills acknowledged in this round. */
static size_t
run_round(int round, uint32_t *rng, long *ret_delay_ms)
{
        struct client cl[N_CLIENTS];
        pthread_t th[N_CLIENTS];
        atomic_bool stop = false;
        size_t acked = 0;

        *ret_delay_ms = (long)rnd_range(rng, KILL_MIN_MS, KILL_MAX_MS);
        for (int i = 0; i < N_CLIENTS; i++) {
                cl[i] = (struct client){
                        .round = round, .id = i, .stop = &stop, .rng = rnd(rng) | 1
                };
                ck_assert_int_eq(pthread_create(&th[i], NULL, client_run, &cl[i]), 0);
        }
        ts_sleep_ms(*ret_delay_ms);
        kill_server();
        atomic_store(&stop, true);
        for (int i = 0; i < N_CLIENTS; i++) {
                ck_assert_int_eq(pthread_join(th[i], NULL), 0);
                ck_assert_msg(!cl[i].oom, "client %d ran out of memory", i);
                collect(&cl[i], &acked);
        }
        return acked;
}

/* ---- the checks, on the database the killed server left ---- */

static sqlite3_stmt *
prep(sqlite3 *db, const char *sql)
{
        sqlite3_stmt *st = NULL;

        ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                      sqlite3_errmsg(db));
        return st;
}

/* 1. Acknowledged fills are stored as sent; refused ones are not; stored
 * ones are all sent ones (the count of found ids equals the table's). */
static void
check_fills(sqlite3 *db)
{
        sqlite3_stmt *st = prep(db, "SELECT order_id, price, quantity FROM fills"
                                    " WHERE fill_id = ?1");
        sqlite3_stmt *cnt = prep(db, "SELECT COUNT(*) FROM fills");
        int64_t found = 0;

        T.unknown_stored = 0;
        for (size_t i = 0; i < T.sent.n; i++) {
                const struct sent *s = &T.sent.v[i];
                char order_id[32];
                int rc;

                snprintf(order_id, sizeof(order_id), "crash-o-%d", s->order);
                sqlite3_bind_text(st, 1, s->fill_id, -1, SQLITE_STATIC);
                rc = sqlite3_step(st);
                REQUIRE(rc == SQLITE_ROW || rc == SQLITE_DONE, "%s", sqlite3_errmsg(db));
                REQUIRE(rc == SQLITE_ROW || s->outcome != OUT_ACKED,
                        "LOST: fill %s was acknowledged (HTTP %ld) but is not stored after "
                        "round %d",
                        s->fill_id, s->status, T.rounds);
                REQUIRE(rc == SQLITE_DONE || s->outcome != OUT_REFUSED,
                        "fill %s was refused (HTTP %ld) but is stored", s->fill_id, s->status);
                if (rc == SQLITE_ROW) {
                        found++;
                        T.unknown_stored += s->outcome == OUT_UNKNOWN;
                        REQUIRE(strcmp((const char *)sqlite3_column_text(st, 0), order_id) == 0 &&
                                        sqlite3_column_int64(st, 1) == s->price &&
                                        sqlite3_column_int64(st, 2) == s->qty,
                                "fill %s is stored as %s %lld x %lld, sent for %s as %lld x %lld",
                                s->fill_id, sqlite3_column_text(st, 0),
                                (long long)sqlite3_column_int64(st, 2),
                                (long long)sqlite3_column_int64(st, 1), order_id, (long long)s->qty,
                                (long long)s->price);
                }
                sqlite3_reset(st);
        }
        ck_assert_int_eq(sqlite3_step(cnt), SQLITE_ROW);
        ck_assert_msg(sqlite3_column_int64(cnt, 0) == found,
                      "fills holds %lld rows but only %lld are fills a client sent",
                      (long long)sqlite3_column_int64(cnt, 0), (long long)found);
        sqlite3_finalize(cnt);
        sqlite3_finalize(st);
}

/* notional (1e-16 units) / qty (1e-8 units) rounded half-to-even. */
static int64_t
vwap(i128 notional, int64_t qty)
{
        i128 q = notional / qty, r = notional % qty;

        if (2 * r > qty || (2 * r == qty && q % 2 != 0))
                q++;
        return (int64_t)q;
}

/* Sums order_id's fills: quantity and exact notional. */
static void
order_fill_sums(sqlite3_stmt *st, const char *order_id, int64_t *ret_qty, i128 *ret_notional)
{
        int64_t qty = 0;
        i128 notional = 0;

        sqlite3_bind_text(st, 1, order_id, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
                notional += (i128)sqlite3_column_int64(st, 0) * sqlite3_column_int64(st, 1);
                qty += sqlite3_column_int64(st, 1);
        }
        sqlite3_reset(st);
        *ret_qty = qty;
        *ret_notional = notional;
}

/* 2. Each order against its stored fills. */
static void
check_orders(sqlite3 *db)
{
        sqlite3_stmt *fills = prep(db, "SELECT price, quantity FROM fills WHERE order_id = ?1");
        sqlite3_stmt *ord = prep(db, "SELECT filled_quantity, fill_notional, avg_fill_price,"
                                     " status FROM orders WHERE order_id = ?1");

        for (int i = 0; i < N_ORDERS; i++) {
                char order_id[32], want_notional[48];
                int64_t qty;
                i128 notional;
                const char *status;

                snprintf(order_id, sizeof(order_id), "crash-o-%d", i);
                order_fill_sums(fills, order_id, &qty, &notional);
                fmt_i128(notional, want_notional);
                sqlite3_bind_text(ord, 1, order_id, -1, SQLITE_STATIC);
                ck_assert_int_eq(sqlite3_step(ord), SQLITE_ROW);
                ck_assert_msg(sqlite3_column_int64(ord, 0) == qty,
                              "order %s: filled_quantity %lld, its fills sum to %lld", order_id,
                              (long long)sqlite3_column_int64(ord, 0), (long long)qty);
                ck_assert_str_eq((const char *)sqlite3_column_text(ord, 1), want_notional);
                status = (const char *)sqlite3_column_text(ord, 3);
                if (qty == 0) {
                        ck_assert_int_eq(sqlite3_column_type(ord, 2), SQLITE_NULL);
                        ck_assert_str_eq(status, "pending");
                } else {
                        ck_assert_msg(sqlite3_column_int64(ord, 2) == vwap(notional, qty),
                                      "order %s: avg_fill_price %lld, exact VWAP %lld", order_id,
                                      (long long)sqlite3_column_int64(ord, 2),
                                      (long long)vwap(notional, qty));
                        ck_assert_str_eq(status, "partially_filled");
                }
                sqlite3_reset(ord);
        }
        sqlite3_finalize(ord);
        sqlite3_finalize(fills);
}

/* Replays symbol's fills in applied order; returns how many there were.
 * *ret_signed is the independent signed sum of their quantities. */
static int64_t
replay(sqlite3 *db, const char *symbol, struct position *ret, int64_t *ret_signed)
{
        sqlite3_stmt *st = prep(db, "SELECT side, price, quantity FROM fills"
                                    " WHERE symbol = ?1 ORDER BY rowid");
        int64_t n = 0, sum = 0;

        memset(ret, 0, sizeof(*ret));
        sqlite3_bind_text(st, 1, symbol, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
                bool buy = strcmp((const char *)sqlite3_column_text(st, 0), "buy") == 0;
                int64_t price = sqlite3_column_int64(st, 1), qty = sqlite3_column_int64(st, 2);

                REQUIRE(position_apply_fill(ret, buy, price, qty),
                        "position %s: the replay of fill %lld leaves the range", symbol,
                        (long long)n);
                sum += buy ? qty : -qty;
                n++;
        }
        sqlite3_finalize(st);
        *ret_signed = sum;
        return n;
}

/* 3. Each position against the replay of its fills. */
static void
check_positions(sqlite3 *db)
{
        sqlite3_stmt *st = prep(db, "SELECT quantity, avg_entry_price, realized_pnl,"
                                    " unrealized_pnl, mark_price, basis_residual"
                                    " FROM positions WHERE symbol = ?1");

        for (int k = 0; k < N_SYMBOLS; k++) {
                char sym[8];
                struct position p;
                int64_t sum, n;
                int rc;

                order_symbol(k, sym);
                n = replay(db, sym, &p, &sum);
                sqlite3_bind_text(st, 1, sym, -1, SQLITE_STATIC);
                rc = sqlite3_step(st);
                ck_assert_msg((rc == SQLITE_ROW) == (n > 0), "position %s: row %s, %lld fills", sym,
                              rc == SQLITE_ROW ? "present" : "absent", (long long)n);
                if (rc == SQLITE_ROW) {
                        ck_assert_int_eq(p.quantity, sum);
                        ck_assert_msg(sqlite3_column_int64(st, 0) == sum,
                                      "position %s: quantity %lld, signed sum of fills %lld", sym,
                                      (long long)sqlite3_column_int64(st, 0), (long long)sum);
                        ck_assert_int_eq(sqlite3_column_int64(st, 1), p.avg_entry_price);
                        ck_assert_int_eq(sqlite3_column_int64(st, 2), p.realized_pnl);
                        ck_assert_int_eq(sqlite3_column_int64(st, 3), 0);
                        ck_assert_int_eq(sqlite3_column_type(st, 4), SQLITE_NULL);
                        /* the exact cost basis survived with the average */
                        ck_assert_int_eq(sqlite3_column_int64(st, 5), p.basis_residual);
                }
                sqlite3_reset(st);
        }
        sqlite3_finalize(st);
}

/* Asserts that sql returns no row; what names the rule in the message. */
static void
expect_no_rows(sqlite3 *db, const char *sql, const char *what)
{
        sqlite3_stmt *st = prep(db, sql);
        int rc = sqlite3_step(st);
        char first[256] = "";

        if (rc == SQLITE_ROW)
                for (int i = 0; i < sqlite3_column_count(st); i++) {
                        const unsigned char *v = sqlite3_column_text(st, i);
                        size_t len = strlen(first);

                        snprintf(first + len, sizeof(first) - len, "%s%s", i ? " | " : "",
                                 v ? (const char *)v : "NULL");
                }
        ck_assert_msg(rc == SQLITE_DONE, "%s after round %d: first offending row: %s (%s)", what,
                      T.rounds, first, rc == SQLITE_ROW ? "" : sqlite3_errmsg(db));
        sqlite3_finalize(st);
}

/* 4. One fill_processed event per fill, none without its fill. */
static void
check_events(sqlite3 *db)
{
        expect_no_rows(db,
                       "SELECT x.fid, x.n, f.order_id, x.oid, x.agg FROM"
                       " (SELECT json_extract(payload, '$.fill_id') AS fid, COUNT(*) AS n,"
                       "   MIN(json_extract(payload, '$.order_id')) AS oid,"
                       "   MIN(aggregate_id) AS agg"
                       "  FROM outbox WHERE event_type = 'fill_processed' GROUP BY 1) AS x"
                       " LEFT JOIN fills AS f ON f.fill_id = x.fid"
                       " WHERE x.n <> 1 OR f.fill_id IS NULL OR f.order_id IS NOT x.oid"
                       "  OR x.agg IS NOT x.oid",
                       "a fill_processed event is duplicated, orphaned or names another order");
        expect_no_rows(db,
                       "SELECT fill_id, order_id FROM fills WHERE fill_id NOT IN"
                       " (SELECT json_extract(payload, '$.fill_id') FROM outbox"
                       "  WHERE event_type = 'fill_processed'"
                       "  AND json_extract(payload, '$.fill_id') IS NOT NULL)",
                       "a stored fill has no fill_processed event");
}

/* 5. The file itself. */
static void
check_integrity(sqlite3 *db)
{
        sqlite3_stmt *st = prep(db, "PRAGMA integrity_check");

        ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
        ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
        ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
        expect_no_rows(db, "PRAGMA foreign_key_check", "PRAGMA foreign_key_check");
}

/* Opens the crashed database (recovering its WAL), checks it all, and closes
 * without a checkpoint so the server's next start recovers the WAL too. */
static void
check_database(void)
{
        sqlite3 *db = NULL;

        ck_assert_int_eq(sqlite3_open_v2(T.db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        sqlite3_busy_timeout(db, 10000);
        ck_assert_int_eq(sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL),
                         SQLITE_OK);
        ck_assert_int_eq(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
        check_fills(db);
        check_orders(db);
        check_positions(db);
        check_events(db);
        ck_assert_int_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
        check_integrity(db);
        ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}

/* ---- the test ---- */

static void
setup(void)
{
        const char *seed = getenv("CRASH_SEED");

        memset(&T, 0, sizeof(T));
        T.seed = seed != NULL ? (unsigned)strtoul(seed, NULL, 10)
                              : (unsigned)time(NULL) ^ ((unsigned)getpid() << 8);
        snprintf(T.dir, sizeof(T.dir), "/tmp/tradestore-crash-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(T.dir));
        snprintf(T.db_path, sizeof(T.db_path), "%s/crash.db", T.dir);
        ck_assert_int_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
}

/* Runs after a passing test (and, with CK_FORK=no, after a failing one);
 * when a forked test fails its process ends and PR_SET_PDEATHSIG kills the
 * server. The folder is left behind then, for a look at the database. */
static void
teardown(void)
{
        char cmd[300];

        if (T.pid > 0) {
                kill(T.pid, SIGKILL);
                waitpid(T.pid, NULL, 0);
                T.pid = 0;
        }
        free(T.sent.v);
        T.sent.v = NULL;
        curl_global_cleanup();
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", T.dir);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", T.dir);
}

/* The last start: the recovered database serves, and SIGTERM ends it
 * cleanly (exit 0). */
static void
graceful_stop(void)
{
        int status = 0;

        start_server();
        ck_assert_int_eq(kill(T.pid, SIGTERM), 0);
        ck_assert_int_eq(waitpid(T.pid, &status, 0), T.pid);
        T.pid = 0;
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "after SIGTERM the server ended with wait status %#x", (unsigned)status);
}

START_TEST(sigkill_at_random_moments_loses_no_acknowledged_fill)
{
        uint32_t rng = T.seed | 1;
        int64_t t0 = ts_monotonic_us();

        printf("crash: seed %u, server %s\n", T.seed, server_exe);
        start_server();
        create_orders();
        while (T.rounds < MIN_ROUNDS ||
               (T.rounds < MAX_ROUNDS && ts_monotonic_us() - t0 < BUDGET_US)) {
                int64_t up_us = T.rounds == 0 ? 0 : start_server();
                long delay_ms;
                size_t acked = run_round(T.rounds + 1, &rng, &delay_ms);
                int64_t c0 = ts_monotonic_us();

                T.rounds++;
                check_database();
                printf("crash: round %d: restart %lld ms, killed after %ld ms, %zu acknowledged,"
                       " check %lld ms\n",
                       T.rounds, (long long)(up_us / 1000), delay_ms, acked,
                       (long long)((ts_monotonic_us() - c0) / 1000));
        }
        graceful_stop();
        printf("crash: %d rounds, %zu acknowledged fills checked, 0 lost (%zu without an "
               "answer, %zu of them stored; %zu refused) in %.1f s\n",
               T.rounds, T.acked, T.unknown, T.unknown_stored, T.refused,
               (double)(ts_monotonic_us() - t0) / 1e6);
        fflush(stdout);
        ck_assert_int_ge(T.rounds, 10);
        ck_assert_msg(T.acked >= MIN_ACKED, "only %zu fills acknowledged", T.acked);
        ck_assert_msg(T.refused == 0, "%zu fills refused, the last with HTTP %ld", T.refused,
                      T.last_refusal_status);
}
END_TEST

int
main(int argc, char **argv)
{
        Suite *s = suite_create("crash");
        TCase *tc = tcase_create("sigkill");

        if (argc < 2) {
                fprintf(stderr, "usage: %s PATH-TO-tradestore\n", argv[0]);
                return 2;
        }
        server_exe = argv[1];
        /* The server must see none of the caller's settings but its flags. */
        unsetenv("AUTH_TOKENS");
        unsetenv("TRADESTORE_CONFIG");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, sigkill_at_random_moments_loses_no_acknowledged_fill);
        suite_add_tcase(s, tc);
        return check_run(s);
}
