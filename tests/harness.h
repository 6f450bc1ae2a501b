/* Test harness for HTTP tests: the real server in-process on an ephemeral
 * port over a fresh temporary database, and a libcurl client. */
#ifndef TRADESTORE_TESTS_HARNESS_H
#define TRADESTORE_TESTS_HARNESS_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/config.h"

struct service;

struct harness {
        struct config cfg;
        struct service *svc;
        char dir[256]; /* temp folder holding the database */
        char db_path[320];
        char base_url[64]; /* http://127.0.0.1:PORT */
        bool postgres;     /* database.url: the suite runs on PostgreSQL */
        void *sql;         /* the tests' own connection (harness_sql_*): sqlite3 or PGconn */
};

struct http_resp {
        long status;
        char *body; /* NUL-terminated, owned */
        size_t len;
        char ctype[128];
        char request_id[128];
        char allow[128];
        char retry_after[32];
        char connection[64];
        json_t *json; /* parsed body or NULL; owned */
};

/* Makes a temp database and starts the service on 127.0.0.1:0. Config keys
 * may be overridden first with harness_init + config_set, then
 * harness_start. ck_assert-s on failure. */
void harness_init(struct harness *h);
void harness_start(struct harness *h);

/* Sets a configuration key as a flag would, between harness_init and
 * harness_start; fails the test when the value is refused. */
void harness_set(struct harness *h, const char *key, const char *value);
/* Stops the service and removes the temp folder. */
void harness_stop(struct harness *h);

/* Sends method path with body (NULL for none) and content type (NULL means
 * application/json when body is set). Extra headers: NULL-terminated
 * "Name: value" list or NULL. Fills *ret (free with http_resp_clear).
 * When the environment variable TRADESTORE_EXCHANGES names a file, the
 * exchange (method, raw path and query, request content type and body,
 * response status, content type, Allow and body) is appended to it as one
 * JSON line for the contract test (tests/contract/README.md); appends from
 * forked test processes do not interleave. */
void http_do(const struct harness *h, const char *method, const char *path, const char *body,
             const char *ctype, const char *const *headers, struct http_resp *ret);
void http_resp_clear(struct http_resp *r);

/* Shorthands: status of the request; the parsed JSON kept in *ret. */
long http_json(const struct harness *h, const char *method, const char *path, const char *body,
               struct http_resp *ret);

/* Asserts that each of the n SQL statements, planned on h's database by a
 * fresh read-only connection, walks an index or a primary key in every step
 * (no full table scan) and never sorts in a temp b-tree. On PostgreSQL: its
 * generic plan has no Seq Scan and no Sort even when they are all the
 * planner may pick (see assert_indexed_pg in harness.c). */
void harness_assert_indexed(struct harness *h, const char *const *sqls, size_t n);
/* As harness_assert_indexed, but sorting is allowed: for statements that sort
 * a set their index searches have already bounded. */
void harness_assert_searched(struct harness *h, const char *const *sqls, size_t n);

/* ---- The tests' own SQL, on whichever backend serves h ----
 * Tests seed and inspect the database with these, never by opening the
 * SQLite file themselves, so that one test runs on both backends. The
 * connection (SQLite: the file at h->db_path, busy timeout 10 s;
 * PostgreSQL: h's database.url) is opened on first use and closed by
 * harness_stop or harness_sql_close.
 *
 * fmt is formatted by sqlite3_vmprintf on both backends, so %q, %Q (quoted
 * literal or NULL) and %lld work alike: standard SQL quoting, which
 * PostgreSQL reads the same way (standard_conforming_strings). Write SQL both
 * dialects accept. On PostgreSQL the tests' connection also finds, in the
 * schema tradestore_test (never the server's), SQLite's group_concat(x[,
 * sep]) and json_extract(text, '$.key') for the tests that use them; the
 * rest of the tests' SQL is written portably.
 *
 * Every failure fails the test with the statement and the server's words. */

/* Runs one statement or several (no rows expected). */
void harness_sql_exec(struct harness *h, const char *fmt, ...);
void harness_sql_vexec(struct harness *h, const char *fmt, va_list ap);

/* What harness_sql_text found. */
enum harness_sql_found { HARNESS_SQL_NONE, HARNESS_SQL_NULL, HARNESS_SQL_VALUE };

/* The first column of the first row as text in buf ("" for no row or NULL;
 * a PostgreSQL boolean as "1" or "0", as SQLite gives it). */
enum harness_sql_found harness_sql_text(struct harness *h, char *buf, size_t cap, const char *fmt,
                                        ...);
enum harness_sql_found harness_sql_vtext(struct harness *h, char *buf, size_t cap, const char *fmt,
                                         va_list ap);

/* The first column of the first row as an integer (0 for no row or NULL). */
int64_t harness_sql_int(struct harness *h, const char *fmt, ...);
int64_t harness_sql_vint(struct harness *h, const char *fmt, va_list ap);

/* Closes the tests' connection (opened again on next use). */
void harness_sql_close(struct harness *h);

/* Ends the test here as passed, with why on stderr, when h runs on
 * PostgreSQL: for tests of SQLite itself (its files, WAL, VFS, query plans).
 * Call after harness_init. */
#define HARNESS_SQLITE_ONLY(h, why)                                                                \
        do {                                                                                       \
                if ((h)->postgres) {                                                               \
                        harness_skip(__func__, why);                                               \
                        return;                                                                    \
                }                                                                                  \
        } while (0)
void harness_skip(const char *test, const char *why);

/* For the main() of a suite about SQLite alone: true, with why on stderr,
 * when the suite is run on PostgreSQL; main then returns
 * HARNESS_EXIT_SKIP (77, which meson reports as skipped). */
#define HARNESS_EXIT_SKIP 77
bool harness_sqlite_only_suite(const char *suite, const char *why);

/* Runs a Check suite and returns the process exit code. */
int harness_run_suite(void *suite);

#endif
