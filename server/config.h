/* Configuration: every setting tradestore reads at start-up, with where each
 * value came from.
 *
 * Values come from four sources in rising precedence: built-in defaults, a
 * YAML file, environment variables, command-line flags. Precedence is kept by
 * the module, not by call order: a value from a lower source never replaces
 * one from a higher source, whatever order the loaders run in; within one
 * source the last value wins. Every key is described once, in the key table
 * in config.c, which drives parsing, validation, printing and the docs. */
#ifndef TRADESTORE_CONFIG_H
#define TRADESTORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The number of keys in the table; config.c asserts it at compile time. */
#define CONFIG_KEY_COUNT 35

/* Ordered by precedence: a higher source beats a lower one. */
enum config_source {
        CONFIG_SRC_DEFAULT,
        CONFIG_SRC_FILE,
        CONFIG_SRC_ENV,
        CONFIG_SRC_FLAG,
};

/* Strings are owned by the struct (freed by config_clear). Enum-valued
 * strings hold one of the allowed values, in lower case. */
struct config {
        struct {
                char *path;
                char *url;           /* PostgreSQL URI; "" = SQLite at path */
                int connect_timeout; /* seconds to wait for PostgreSQL at start-up */
                bool wal_mode;
                int connection_pool_size;  /* reader connections */
                int query_timeout;         /* seconds; the SQLite busy timeout */
                int quote_retention_days;  /* 0 keeps forever */
                int fill_retention_days;   /* 0 keeps forever */
                int outbox_retention_days; /* 0 keeps forever */
                int cache_size;            /* pages if > 0, KiB if < 0 */
                char *temp_store;          /* default | file | memory */
                char *synchronous;         /* off | normal | full | extra */
                char *auto_vacuum;         /* none | full | incremental */
                int checkpoint_interval;   /* seconds; 0 disables the timer */
                char *backup_dir;
                int maintenance_interval; /* seconds; 0 disables */
                int max_write_queue;      /* writes waiting for the writer; more get 503 */
        } database;
        struct {
                char *host;
                int port;    /* 0 = ephemeral */
                int threads; /* 0 = number of cores */
                long long max_body_bytes;
                char *log_level;            /* debug | info | warn | error */
                int max_connections;        /* open connections at once */
                int max_connections_per_ip; /* 0 = no per-address limit */
                int idle_timeout;           /* seconds an idle connection is kept */
                int max_header_bytes;       /* request line + headers */
                int header_timeout;         /* seconds to a request's last header */
                int min_body_rate;          /* bytes a second; 0 = no minimum */
                char *tls_cert;             /* PEM file; "" = plain HTTP */
                char *tls_key;              /* PEM file; "" = plain HTTP */
        } server;
        struct {
                char *tokens;         /* "role:token,role:sha256:HEX,..."; "" = no auth; secret */
                bool protect_metrics; /* /metrics needs a token too */
        } auth;
        struct {
                int max_retries;
                int retry_base_seconds;
                int retry_max_seconds;
        } outbox;
        char *file;                                   /* the config file read, or NULL; owned */
        enum config_source sources[CONFIG_KEY_COUNT]; /* by key index */
};

/* Fills c with the defaults, every source CONFIG_SRC_DEFAULT. c need not be
 * initialized. Strings are heap copies so config_clear frees them all alike;
 * if one cannot be allocated it is left NULL and config_validate reports it. */
void config_init(struct config *c);

/* Frees what c owns and zeroes it. Accepts a zeroed struct, a half-built one
 * and one already cleared. */
void config_clear(struct config *c);

/* Reads the YAML file at path: a mapping of sections (database, server,
 * outbox) to mappings of keys to scalars. An empty file is fine. Returns 0
 * with the values set (source CONFIG_SRC_FILE) and c->file a copy of path;
 * or -1 with a message naming the file, the line and the key in err, and c
 * unchanged. */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);

/* For every key with an environment variable, reads get(name) (NULL or ""
 * means unset) and sets the key, source CONFIG_SRC_ENV. get returns a string
 * borrowed until the call ends; the CLI passes a wrapper around getenv, tests
 * a fake. Returns 0, or -1 with a message naming the variable in err and c
 * unchanged. */
int config_load_env(struct config *c, const char *(*get)(const char *name), char *err,
                    size_t errlen);

/* The config file named by TRADESTORE_CONFIG through get, or NULL when it is
 * unset or empty. Borrowed from get. */
const char *config_file_from_env(const char *(*get)(const char *name));

/* Sets key ("server.port") from its text form, recording src. A value from
 * a source below the key's current one is checked but not stored. Returns
 * 0, or -1 with a message naming the key and what is allowed in err and c
 * unchanged. */
int config_set(struct config *c, const char *key, const char *value, enum config_source src,
               char *err, size_t errlen);

/* Checks every key against its rules (so fields set directly are caught
 * too) and the rules across keys (outbox.retry_base_seconds <=
 * outbox.retry_max_seconds). Returns 0, or -1 with a message in err. */
int config_validate(const struct config *c, char *err, size_t errlen);

/* Writes the effective configuration to out as YAML that config_load_file
 * reads back, each key followed by a comment with its source: "default",
 * "file <path>", "env <NAME>" or "flag". */
void config_print(const struct config *c, FILE *out);

/* server.threads, or the number of online cores (at least 1, at most 256)
 * when it is 0. */
int config_threads_effective(const struct config *c);

/* The key table, for docs and the CLI. Index i runs from 0 to
 * config_key_count() - 1 and is also the index into config.sources. Strings
 * are static; NULL for an index out of range (and for a key without an
 * environment variable). */
size_t config_key_count(void);
const char *config_key_name(size_t i); /* "section.key" */
const char *config_key_env(size_t i);
const char *config_key_help(size_t i);

#endif
