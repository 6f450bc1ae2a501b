/* Test harness for HTTP tests: the real server in-process on an ephemeral
 * port over a fresh temporary database, and a libcurl client. */
#ifndef TRADESTORE_TESTS_HARNESS_H
#define TRADESTORE_TESTS_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "server/config.h"

struct service;

struct harness {
        struct config cfg;
        struct service *svc;
        char dir[256]; /* temp folder holding the database */
        char db_path[320];
        char base_url[64]; /* http://127.0.0.1:PORT */
        bool postgres;     /* database.url: the suite runs on PostgreSQL */
};

struct http_resp {
        long status;
        char *body; /* NUL-terminated, owned */
        size_t len;
        char ctype[128];
        char request_id[128];
        char allow[128];
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
 * (no full table scan) and never sorts in a temp b-tree. */
void harness_assert_indexed(const struct harness *h, const char *const *sqls, size_t n);

/* Runs a Check suite and returns the process exit code. */
int harness_run_suite(void *suite);

#endif
