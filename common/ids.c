/* Id validation and UUIDv7 generation (see ids.h).
 *
 * UUIDv7 follows RFC 9562 method 1: rand_a is a counter seeded with 11
 * random bits each new millisecond (the zero top bit leaves room to count),
 * incremented within a millisecond; when it runs out, the thread's
 * timestamp moves one millisecond ahead of the clock. Random bytes come from
 * a per-thread pool refilled by getrandom(2), one syscall per 256 bytes.
 *
 * The per-thread state is the one mutable static here, on purpose: it is
 * what makes ids ordered per thread without a lock. A fork handler empties
 * it in a child, which must never reuse random bytes its parent hands out. */
#include "common/ids.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define RANDOM_POOL_SIZE 256
#define COUNTER_MAX 0xfffu

/* Per-thread generator state: no locks, and each thread's ids ascend. */
struct uuid_state {
        uint64_t ms;      /* timestamp of the last id this thread made */
        unsigned counter; /* its rand_a */
        unsigned char pool[RANDOM_POOL_SIZE];
        size_t pool_used; /* bytes of pool already handed out */
};

static _Thread_local struct uuid_state uuid_state = {
        .pool_used = RANDOM_POOL_SIZE,
};

static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;

/* Runs in the child of a fork: forget the parent's pool and counter. */
static void
reset_after_fork(void)
{
        uuid_state.ms = 0;
        uuid_state.pool_used = RANDOM_POOL_SIZE;
}

static void
register_fork_handler(void)
{
        pthread_atfork(NULL, NULL, reset_after_fork);
}

static bool
char_allowed(char c, const char *extra)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c != '\0' && strchr(extra, c) != NULL);
}

static bool
text_valid(const char *s, size_t len, size_t max_len, const char *extra)
{
        if (len == 0 || len > max_len)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!char_allowed(s[i], extra))
                        return false;
        return true;
}

bool
id_valid(const char *s, size_t len)
{
        return text_valid(s, len, ID_MAX_LEN, "._:-");
}

bool
symbol_valid(const char *s, size_t len)
{
        return text_valid(s, len, SYMBOL_MAX_LEN, "._/-");
}

/* Copies n (<= RANDOM_POOL_SIZE) random bytes out of the thread's pool. */
static void
random_bytes(struct uuid_state *st, unsigned char *out, size_t n)
{
        if (RANDOM_POOL_SIZE - st->pool_used < n) {
                size_t got = 0;

                while (got < RANDOM_POOL_SIZE) {
                        ssize_t r = getrandom(st->pool + got, RANDOM_POOL_SIZE - got, 0);

                        if (r < 0 && errno != EINTR)
                                abort(); /* no entropy: ids would not be unique */
                        if (r > 0)
                                got += (size_t)r;
                }
                st->pool_used = 0;
        }
        memcpy(out, st->pool + st->pool_used, n);
        st->pool_used += n;
}

static uint64_t
now_ms(void)
{
        struct timespec now;

        clock_gettime(CLOCK_REALTIME, &now);
        return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

/* Advances the thread's (ms, counter) pair so that it always grows. */
static void
next_stamp(struct uuid_state *st)
{
        uint64_t ms = now_ms();
        unsigned char seed[2];

        if (ms > st->ms) {
                st->ms = ms;
        } else if (st->counter < COUNTER_MAX) {
                st->counter++;
                return;
        } else {
                st->ms++; /* counter exhausted: borrow the next millisecond */
        }
        random_bytes(st, seed, sizeof(seed));
        st->counter = ((unsigned)seed[0] << 8 | seed[1]) & 0x7ffu;
}

void
id_uuidv7(char buf[ID_UUID_BUFSZ])
{
        static const char hex[] = "0123456789abcdef";
        struct uuid_state *st = &uuid_state;
        unsigned char b[16];
        size_t pos = 0;

        pthread_once(&fork_handler_once, register_fork_handler);
        next_stamp(st);
        for (int i = 0; i < 6; i++)
                b[i] = (unsigned char)(st->ms >> (40 - 8 * i));
        b[6] = (unsigned char)(0x70u | st->counter >> 8); /* version 7 */
        b[7] = (unsigned char)st->counter;
        random_bytes(st, b + 8, 8);
        b[8] = (unsigned char)(0x80u | (b[8] & 0x3fu)); /* variant 10 */
        for (int i = 0; i < 16; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        buf[pos++] = '-';
                buf[pos++] = hex[b[i] >> 4];
                buf[pos++] = hex[b[i] & 0xf];
        }
        buf[pos] = '\0';
}
