/* Unit tests for common/ids (id and symbol rules, UUIDv7) and
 * common/cursor (opaque keyset cursors). Malformed cursors are built from
 * readable plain text with a small reference encoder written here, apart
 * from the one under test. */
#include "common/ids.h"
#include "common/cursor.h"

#include <check.h>

#include "check_run.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define SENTINEL 4242424242LL

#define CHARS_64 "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-"
#define CHARS_32 "0123456789abcdefghijklmnopqrstuv"

/* ---- id_valid / symbol_valid ---- */

static const struct valid_case {
        const char *text;
        size_t len; /* bytes to check; the text may hold NULs */
        bool id, symbol;
} valid_cases[] = {
        { "", 0, false, false },
        { "a", 1, true, true },
        { CHARS_32, 32, true, true },
        { CHARS_32 "w", 33, true, false },
        { CHARS_64, 64, true, false },
        { CHARS_64 "x", 65, false, false },
        { "ord-2026.11_26:A", 16, true, false },
        { "BTC/USDT", 8, false, true },
        { "ETH-USD_PERP.v2", 15, true, true },
        { "a:b", 3, true, false },
        { "a b", 3, false, false },
        { "a\0b", 3, false, false },
        { "a\nb", 3, false, false },
        { "a,b", 3, false, false },
        { "a+b", 3, false, false },
        { "a@b", 3, false, false },
        { "a#b", 3, false, false },
        { "a%2F", 4, false, false },
        { "a\\b", 3, false, false },
        { "\xc3\xa9", 2, false, false }, /* é: letters are ASCII only */
        { "abc def", 3, true, true },    /* only len bytes are read */
};

START_TEST(id_and_symbol_rules_table)
{
        const struct valid_case *c = &valid_cases[_i];

        ck_assert_msg(id_valid(c->text, c->len) == c->id, "id \"%.*s\"", (int)c->len, c->text);
        ck_assert_msg(symbol_valid(c->text, c->len) == c->symbol, "symbol \"%.*s\"", (int)c->len,
                      c->text);
}
END_TEST

START_TEST(id_accepts_every_allowed_character_and_no_other)
{
        for (int ch = 1; ch < 256; ch++) {
                char c = (char)ch;
                bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                             (ch >= '0' && ch <= '9');

                ck_assert_msg(id_valid(&c, 1) == (alnum || strchr("._:-", ch) != NULL),
                              "id char %d", ch);
                ck_assert_msg(symbol_valid(&c, 1) == (alnum || strchr("._/-", ch) != NULL),
                              "symbol char %d", ch);
        }
}
END_TEST

/* ---- id_uuidv7 ---- */

static bool
is_lower_hex(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static uint64_t
uuid_ms(const char *u)
{
        char hex[13];

        memcpy(hex, u, 8);
        memcpy(hex + 8, u + 9, 4);
        hex[12] = '\0';
        return strtoull(hex, NULL, 16);
}

static uint64_t
wall_ms(void)
{
        struct timespec now;

        clock_gettime(CLOCK_REALTIME, &now);
        return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}

START_TEST(uuidv7_has_rfc9562_layout_and_current_time)
{
        char u[ID_UUID_BUFSZ];
        uint64_t before = wall_ms(), after;

        memset(u, 'X', sizeof(u));
        id_uuidv7(u);
        after = wall_ms();
        ck_assert_uint_eq(strlen(u), 36);
        for (int i = 0; i < 36; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23)
                        ck_assert_msg(u[i] == '-', "%s at %d", u, i);
                else
                        ck_assert_msg(is_lower_hex(u[i]), "%s at %d", u, i);
        }
        ck_assert_msg(u[14] == '7', "version: %s", u);
        ck_assert_msg(strchr("89ab", u[19]) != NULL, "variant: %s", u);
        ck_assert_uint_ge(uuid_ms(u), before);
        ck_assert_uint_le(uuid_ms(u), after);
        ck_assert(id_valid(u, 36));
}
END_TEST

START_TEST(uuidv7_made_by_one_thread_are_unique_and_ascend)
{
        enum { N = 1000 };
        static char ids[N][ID_UUID_BUFSZ];

        for (int i = 0; i < N; i++) {
                id_uuidv7(ids[i]);
                ck_assert(ids[i][14] == '7' && strchr("89ab", ids[i][19]) != NULL);
                if (i > 0)
                        ck_assert_msg(strcmp(ids[i - 1], ids[i]) < 0, "%s then %s", ids[i - 1],
                                      ids[i]);
        }
}
END_TEST

START_TEST(uuidv7_ascend_past_the_counter_within_a_millisecond)
{
        /* Far more ids than one millisecond's counter holds. */
        char prev[ID_UUID_BUFSZ], cur[ID_UUID_BUFSZ];

        id_uuidv7(prev);
        for (int i = 0; i < 200000; i++) {
                id_uuidv7(cur);
                /* Assert only on failure: each Check assertion costs a pipe
                 * write in fork mode. */
                if (strcmp(prev, cur) >= 0)
                        ck_abort_msg("%s then %s", prev, cur);
                memcpy(prev, cur, sizeof(cur));
        }
        /* Borrowed milliseconds never run far ahead of the clock. */
        ck_assert_uint_le(uuid_ms(cur), wall_ms() + 1000);
}
END_TEST

enum { THREADS = 4, PER_THREAD = 1000 };

static void *
make_ids(void *arg)
{
        char(*out)[ID_UUID_BUFSZ] = arg;

        for (int i = 0; i < PER_THREAD; i++)
                id_uuidv7(out[i]);
        return NULL;
}

static int
cmp_ids(const void *a, const void *b)
{
        return strcmp(a, b);
}

START_TEST(uuidv7_made_by_several_threads_are_unique)
{
        static char ids[THREADS * PER_THREAD][ID_UUID_BUFSZ];
        pthread_t th[THREADS];

        for (int t = 0; t < THREADS; t++)
                ck_assert_int_eq(pthread_create(&th[t], NULL, make_ids, ids + t * PER_THREAD), 0);
        for (int t = 0; t < THREADS; t++)
                ck_assert_int_eq(pthread_join(th[t], NULL), 0);
        for (int t = 0; t < THREADS; t++)
                for (int i = 1; i < PER_THREAD; i++)
                        ck_assert(strcmp(ids[t * PER_THREAD + i - 1], ids[t * PER_THREAD + i]) < 0);
        qsort(ids, THREADS * PER_THREAD, ID_UUID_BUFSZ, cmp_ids);
        for (int i = 1; i < THREADS * PER_THREAD; i++)
                ck_assert_msg(strcmp(ids[i - 1], ids[i]) != 0, "duplicate %s", ids[i]);
}
END_TEST

START_TEST(uuidv7_after_fork_do_not_repeat_the_parents_random_bits)
{
        enum { N = 20 };
        char parent[N][ID_UUID_BUFSZ], child[N][ID_UUID_BUFSZ];
        int fds[2], status;
        pid_t pid;

        id_uuidv7(parent[0]); /* fill this thread's pool before forking */
        ck_assert_int_eq(pipe(fds), 0);
        pid = fork();
        ck_assert_int_ne(pid, -1);
        if (pid == 0) {
                for (int i = 0; i < N; i++)
                        id_uuidv7(child[i]);
                _exit(write(fds[1], child, sizeof(child)) == (ssize_t)sizeof(child) ? 0 : 1);
        }
        for (int i = 0; i < N; i++)
                id_uuidv7(parent[i]);
        ck_assert_int_eq(read(fds[0], child, sizeof(child)), (ssize_t)sizeof(child));
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        close(fds[0]);
        close(fds[1]);
        for (int i = 0; i < N; i++)
                for (int j = 0; j < N; j++) /* compare the random tails */
                        ck_assert_msg(strcmp(parent[i] + 24, child[j] + 24) != 0, "%s and %s",
                                      parent[i], child[j]);
}
END_TEST

/* ---- cursors ---- */

/* Reference base64url without padding, for building test cursors. */
static void
b64url(const char *in, size_t n, char *out)
{
        static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        const unsigned char *p = (const unsigned char *)in;
        size_t o = 0;

        for (size_t i = 0; i < n; i += 3) {
                unsigned v = (unsigned)p[i] << 16;

                v |= i + 1 < n ? (unsigned)p[i + 1] << 8 : 0;
                v |= i + 2 < n ? p[i + 2] : 0;
                out[o++] = a[v >> 18 & 63];
                out[o++] = a[v >> 12 & 63];
                if (i + 1 < n)
                        out[o++] = a[v >> 6 & 63];
                if (i + 2 < n)
                        out[o++] = a[v & 63];
        }
        out[o] = '\0';
}

static const struct cursor_case {
        int64_t key;
        const char *id;
} cursor_cases[] = {
        { 0, "a" },
        { -1, "x" },
        { 1795705200123456, "0195f3c2-7b1e-7c3a-9d4e-2f6a8b0c1d2e" },
        { 42, "a:b:c" },
        { 7, "BTC/USDT" },
        { INT64_MAX, CHARS_64 },
        { INT64_MIN, CHARS_64 },
};

START_TEST(cursor_round_trips_table)
{
        const struct cursor_case *c = &cursor_cases[_i];
        char buf[CURSOR_BUFSZ], want[CURSOR_BUFSZ], id[CURSOR_ID_BUFSZ];
        char plain[128];
        int64_t key = 0;
        size_t len = cursor_encode(c->key, c->id, buf);

        ck_assert_uint_eq(len, strlen(buf));
        ck_assert_uint_gt(len, 0);
        ck_assert_uint_eq(strspn(buf, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "abcdefghijklmnopqrstuvwxyz0123456789-_"),
                          len);
        snprintf(plain, sizeof(plain), "%lld:%s", (long long)c->key, c->id);
        b64url(plain, strlen(plain), want);
        ck_assert_str_eq(buf, want);
        ck_assert(cursor_decode(buf, &key, id));
        ck_assert_int_eq(key, c->key);
        ck_assert_str_eq(id, c->id);
}
END_TEST

START_TEST(cursor_encodes_known_vectors)
{
        char buf[CURSOR_BUFSZ];

        cursor_encode(5, "ab", buf);
        ck_assert_str_eq(buf, "NTphYg");
        cursor_encode(0, "a", buf);
        ck_assert_str_eq(buf, "MDph");
        cursor_encode(INT64_MIN, "BTC/USDT", buf);
        ck_assert_str_eq(buf, "LTkyMjMzNzIwMzY4NTQ3NzU4MDg6QlRDL1VTRFQ");
}
END_TEST

START_TEST(cursor_encode_refuses_invalid_ids)
{
        static const char *const bad[] = { "", "a b", "a\xc3\xa9", CHARS_64 "x" };
        char buf[CURSOR_BUFSZ];

        for (size_t i = 0; i < N_ELEMS(bad); i++) {
                memset(buf, 'X', sizeof(buf));
                ck_assert_uint_eq(cursor_encode(1, bad[i], buf), 0);
                ck_assert_str_eq(buf, "");
        }
}
END_TEST

/* Cursors whose base64url is fine but whose content is not. */
static const struct plain_case {
        const char *plain;
        size_t len;
        bool ok;
} plain_cases[] = {
        { "5:ab", 4, true },
        { "-9223372036854775808:x", 22, true },
        { "9223372036854775807:x", 21, true },
        { "5ab", 3, false },   /* no ':' */
        { "abc:x", 5, false }, /* key not a number */
        { ":x", 2, false },    /* empty key */
        { "-:x", 3, false },
        { "-0:x", 4, false }, /* not canonical */
        { "05:x", 4, false },
        { "+5:x", 4, false },
        { "5 :x", 4, false },
        { " 5:x", 4, false },
        { "1.5:x", 5, false },
        { "9223372036854775808:x", 21, false }, /* past INT64_MAX */
        { "-9223372036854775809:x", 22, false },
        { "99999999999999999999:x", 22, false },
        { "5:", 2, false }, /* empty id */
        { "5:a b", 5, false },
        { "5:a\0b", 5, false },
        { "5\0:a", 4, false },
        { "5:\xc3\xa9", 4, false },
        { "5:" CHARS_64 "x", 67, false }, /* id of 65 */
};

START_TEST(cursor_decode_checks_content_table)
{
        const struct plain_case *c = &plain_cases[_i];
        char cur[CURSOR_BUFSZ], id[CURSOR_ID_BUFSZ] = "unchanged";
        int64_t key = SENTINEL;

        b64url(c->plain, c->len, cur);
        ck_assert_msg(cursor_decode(cur, &key, id) == c->ok, "\"%.*s\"", (int)c->len, c->plain);
        if (!c->ok) {
                ck_assert_int_eq(key, SENTINEL);
                ck_assert_str_eq(id, "unchanged");
        }
}
END_TEST

static const char *const bad_cursors[] = {
        "",
        "NTphYg=", /* padding */
        "NTphYg==",
        "NTph+g", /* standard alphabet */
        "NTph/g",
        "NTph Yg",
        "NTphYh", /* stray low bits */
        "N",      /* impossible length */
        "NTphY",
        "NTphYg\n",
        "%4E%54",
        /* 116 valid characters: longer than any real cursor. */
        "MDph"
        "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh"
        "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh",
};

START_TEST(cursor_decode_refuses_malformed_text_table)
{
        char id[CURSOR_ID_BUFSZ] = "unchanged";
        int64_t key = SENTINEL;

        ck_assert_msg(!cursor_decode(bad_cursors[_i], &key, id), "\"%s\"", bad_cursors[_i]);
        ck_assert_int_eq(key, SENTINEL);
        ck_assert_str_eq(id, "unchanged");
}
END_TEST

START_TEST(cursor_decode_never_reads_past_an_unterminated_buffer)
{
        /* ASan reports any read past the heap block. */
        char *s = malloc(CURSOR_BUFSZ);
        char id[CURSOR_ID_BUFSZ];
        int64_t key;

        ck_assert_ptr_nonnull(s);
        memset(s, 'A', CURSOR_BUFSZ);
        ck_assert(!cursor_decode(s, &key, id));
        free(s);
}
END_TEST

static Suite *
ids_suite(void)
{
        Suite *s = suite_create("ids");
        TCase *ids = tcase_create("ids");
        TCase *cursor = tcase_create("cursor");

        tcase_add_loop_test(ids, id_and_symbol_rules_table, 0, N_ELEMS(valid_cases));
        tcase_add_test(ids, id_accepts_every_allowed_character_and_no_other);
        tcase_add_test(ids, uuidv7_has_rfc9562_layout_and_current_time);
        tcase_add_test(ids, uuidv7_made_by_one_thread_are_unique_and_ascend);
        tcase_add_test(ids, uuidv7_ascend_past_the_counter_within_a_millisecond);
        tcase_add_test(ids, uuidv7_made_by_several_threads_are_unique);
        tcase_add_test(ids, uuidv7_after_fork_do_not_repeat_the_parents_random_bits);
        tcase_set_timeout(ids, 30);
        suite_add_tcase(s, ids);
        tcase_add_loop_test(cursor, cursor_round_trips_table, 0, N_ELEMS(cursor_cases));
        tcase_add_test(cursor, cursor_encodes_known_vectors);
        tcase_add_test(cursor, cursor_encode_refuses_invalid_ids);
        tcase_add_loop_test(cursor, cursor_decode_checks_content_table, 0, N_ELEMS(plain_cases));
        tcase_add_loop_test(cursor, cursor_decode_refuses_malformed_text_table, 0,
                            N_ELEMS(bad_cursors));
        tcase_add_test(cursor, cursor_decode_never_reads_past_an_unterminated_buffer);
        suite_add_tcase(s, cursor);
        return s;
}

int
main(void)
{
        return check_run(ids_suite());
}
