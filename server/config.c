/* Configuration (see config.h): the key table, one value parser shared by
 * every source, the YAML file reader, the environment reader, validation and
 * printing.
 *
 * Loading a file or the environment is two-phase: every value is parsed into
 * a pending slot first, and only when all are good are they stored, so a
 * failed load leaves the configuration as it was. One pending slot per key
 * also finds duplicate keys in a file. */
#include "server/config.h"

#include "db/postgres.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* Longest string value accepted: a path or a host name fits. */
#define STRING_MAX 4096
/* Room for a reason such as "'x' is not allowed (allowed: a, b, c)". */
#define WHY_MAX 512

enum key_type { KEY_BOOL, KEY_INT, KEY_STRING, KEY_ENUM };

struct key_desc {
        const char *section;
        const char *key;
        const char *name; /* "section.key" */
        const char *env;  /* environment variable, or NULL */
        enum key_type type;
        size_t offset; /* of the field in struct config */
        size_t size;   /* of the field: int or long long for KEY_INT */
        long long min; /* value range; byte length for KEY_STRING */
        long long max;
        const char *const *allowed; /* KEY_ENUM: NULL-terminated, lower case */
        const char *def;            /* default, as a user would write it */
        const char *help;
        bool secret; /* never printed: config_print shows "<redacted>" */
        bool url;    /* a connection URI: printed with its password masked */
};

/* The key is the member's path in struct config, so the name, the offset
 * and the size cannot disagree. */
#define FIELD(sec, k)                                                                              \
        .section = #sec, .key = #k, .name = #sec "." #k, .offset = offsetof(struct config, sec.k), \
        .size = sizeof(((struct config *)0)->sec.k)

static const char *const temp_store_values[] = { "default", "file", "memory", NULL };
static const char *const synchronous_values[] = { "off", "normal", "full", "extra", NULL };
static const char *const auto_vacuum_values[] = { "none", "full", "incremental", NULL };
static const char *const log_level_values[] = { "debug", "info", "warn", "error", NULL };

/* Keys of one section stay together: printing and the section list rely on
 * it. The index of a key is its index in config.sources. */
static const struct key_desc keys[] = {
        { FIELD(database, path), .env = "DB_PATH", .type = KEY_STRING, .min = 1, .max = STRING_MAX,
          .def = "./data/tradestore.db", .help = "SQLite database file" },
        { FIELD(database, url), .env = "DB_URL", .type = KEY_STRING, .min = 0, .max = STRING_MAX,
          .def = "", .url = true,
          .help = "PostgreSQL connection URI (postgresql://user@host:5432/db?sslmode=...); "
                  "empty: SQLite at database.path" },
        { FIELD(database, connect_timeout), .env = "DB_CONNECT_TIMEOUT", .type = KEY_INT, .min = 0,
          .max = 3600, .def = "30",
          .help = "seconds to retry an unreachable PostgreSQL server at start-up" },
        { FIELD(database, wal_mode), .env = "DB_WAL_MODE", .type = KEY_BOOL, .def = "true",
          .help = "journal_mode=WAL, so readers never block the writer; "
                  "false uses DELETE" },
        { FIELD(database, connection_pool_size), .env = "DB_CONNECTION_POOL_SIZE", .type = KEY_INT,
          .min = 1, .max = 64, .def = "4",
          .help = "read-only connections in the reader pool; raised to server.threads if lower" },
        { FIELD(database, query_timeout), .env = "DB_QUERY_TIMEOUT", .type = KEY_INT, .min = 1,
          .max = 3600, .def = "5",
          .help = "seconds a statement waits for a lock (SQLite busy timeout)" },
        { FIELD(database, quote_retention_days), .env = "DB_QUOTE_RETENTION_DAYS", .type = KEY_INT,
          .min = 0, .max = 36500, .def = "7",
          .help = "days expired or cancelled quotes are kept; 0 keeps forever" },
        { FIELD(database, fill_retention_days), .env = "DB_FILL_RETENTION_DAYS", .type = KEY_INT,
          .min = 0, .max = 36500, .def = "90", .help = "days fills are kept; 0 keeps forever" },
        { FIELD(database, outbox_retention_days), .env = "DB_OUTBOX_RETENTION_DAYS",
          .type = KEY_INT, .min = 0, .max = 36500, .def = "30",
          .help = "days processed outbox events are kept; 0 keeps forever" },
        { FIELD(database, cache_size), .env = "DB_CACHE_SIZE", .type = KEY_INT, .min = -1000000,
          .max = 1000000, .def = "10000",
          .help = "SQLite page cache per connection: pages if > 0, KiB if < 0" },
        { FIELD(database, temp_store), .env = "DB_TEMP_STORE", .type = KEY_ENUM,
          .allowed = temp_store_values, .def = "memory",
          .help = "where SQLite keeps temporary tables and indices" },
        { FIELD(database, synchronous), .env = "DB_SYNCHRONOUS", .type = KEY_ENUM,
          .allowed = synchronous_values, .def = "normal",
          .help = "PRAGMA synchronous; normal is durable enough with WAL" },
        { FIELD(database, auto_vacuum), .env = "DB_AUTO_VACUUM", .type = KEY_ENUM,
          .allowed = auto_vacuum_values, .def = "none",
          .help = "PRAGMA auto_vacuum; applies to a new database or after "
                  "VACUUM" },
        { FIELD(database, checkpoint_interval), .env = "DB_CHECKPOINT_INTERVAL", .type = KEY_INT,
          .min = 0, .max = 86400, .def = "300",
          .help = "seconds between passive WAL checkpoints; 0 disables the "
                  "timer" },
        { FIELD(database, backup_dir), .env = "DB_BACKUP_DIR", .type = KEY_STRING, .min = 1,
          .max = STRING_MAX, .def = "./data/backups",
          .help = "directory for the copies POST /admin/backup makes" },
        { FIELD(database, maintenance_interval), .env = "DB_MAINTENANCE_INTERVAL", .type = KEY_INT,
          .min = 0, .max = 604800, .def = "3600",
          .help = "seconds between background maintenance runs; 0 disables" },
        { FIELD(database, max_write_queue), .env = "DB_MAX_WRITE_QUEUE", .type = KEY_INT, .min = 1,
          .max = 1000000, .def = "2048",
          .help = "writes that may wait for the database writer; past it a new "
                  "write gets 503 with Retry-After (overload) instead of waiting" },
        { FIELD(server, host), .env = "HTTP_HOST", .type = KEY_STRING, .min = 1, .max = STRING_MAX,
          .def = "127.0.0.1", .help = "address to listen on" },
        { FIELD(server, port), .env = "HTTP_PORT", .type = KEY_INT, .min = 0, .max = 65535,
          .def = "8080", .help = "TCP port to listen on; 0 picks a free one" },
        { FIELD(server, threads), .env = "HTTP_THREADS", .type = KEY_INT, .min = 0, .max = 256,
          .def = "0", .help = "HTTP worker threads; 0 uses the number of cores" },
        { FIELD(server, max_body_bytes), .env = "HTTP_MAX_BODY_BYTES", .type = KEY_INT, .min = 1024,
          .max = 67108864, .def = "1048576",
          .help = "largest request body accepted; larger ones get 413" },
        { FIELD(server, log_level), .env = "LOG_LEVEL", .type = KEY_ENUM,
          .allowed = log_level_values, .def = "info", .help = "lowest level of log lines written" },
        { FIELD(server, max_connections), .env = "HTTP_MAX_CONNECTIONS", .type = KEY_INT, .min = 1,
          .max = 100000, .def = "1000", .help = "connections open at once; more are refused" },
        { FIELD(server, max_connections_per_ip), .env = "HTTP_MAX_CONNECTIONS_PER_IP",
          .type = KEY_INT, .min = 0, .max = 100000, .def = "256",
          .help = "connections open at once from one address, so that one cannot "
                  "take them all; 0 = no limit (behind a proxy every client comes "
                  "from the proxy's address: raise it or set 0 there)" },
        { FIELD(server, idle_timeout), .env = "HTTP_IDLE_TIMEOUT", .type = KEY_INT, .min = 1,
          .max = 3600, .def = "60",
          .help = "seconds a connection may stay silent (idle or mid-request) "
                  "before it is closed" },
        { FIELD(server, max_header_bytes), .env = "HTTP_MAX_HEADER_BYTES", .type = KEY_INT,
          .min = 4096, .max = 1048576, .def = "16384",
          .help = "largest request line plus headers; larger requests are "
                  "refused" },
        { FIELD(server, header_timeout), .env = "HTTP_HEADER_TIMEOUT", .type = KEY_INT, .min = 1,
          .max = 3600, .def = "30",
          .help = "seconds from a connection's start, or its previous answer, to the "
                  "end of the next request's headers; also how long a kept-alive "
                  "connection may idle (slowloris)" },
        { FIELD(server, min_body_rate), .env = "HTTP_MIN_BODY_RATE", .type = KEY_INT, .min = 0,
          .max = 1073741824, .def = "1024",
          .help = "bytes a second a request body must average, after a grace of "
                  "header_timeout; slower clients are cut; 0 = no minimum" },
        { FIELD(server, tls_cert), .env = "TLS_CERT", .type = KEY_STRING, .min = 0,
          .max = STRING_MAX, .def = "",
          .help = "PEM certificate file: serve HTTPS (with tls_key); empty = "
                  "plain HTTP" },
        { FIELD(server, tls_key), .env = "TLS_KEY", .type = KEY_STRING, .min = 0, .max = STRING_MAX,
          .def = "", .help = "PEM private key file for tls_cert" },
        { FIELD(auth, tokens), .env = "AUTH_TOKENS", .type = KEY_STRING, .min = 0,
          .max = STRING_MAX, .def = "", .secret = true,
          .help = "bearer tokens, role:token,... (roles read, write, admin); "
                  "role:sha256:HEX gives a token by its SHA-256; empty = no auth" },
        { FIELD(auth, protect_metrics), .env = "AUTH_PROTECT_METRICS", .type = KEY_BOOL,
          .def = "false", .help = "require a token for /metrics too" },
        { FIELD(outbox, max_retries), .env = "OUTBOX_MAX_RETRIES", .type = KEY_INT, .min = 1,
          .max = 1000, .def = "10", .help = "failures after which an outbox event is dead" },
        { FIELD(outbox, retry_base_seconds), .env = "OUTBOX_RETRY_BASE_SECONDS", .type = KEY_INT,
          .min = 1, .max = 86400, .def = "1",
          .help = "delay after the first failure; doubles on each failure" },
        { FIELD(outbox, retry_max_seconds), .env = "OUTBOX_RETRY_MAX_SECONDS", .type = KEY_INT,
          .min = 1, .max = 604800, .def = "3600", .help = "longest delay between retries" },
};

static_assert(sizeof(keys) / sizeof(keys[0]) == CONFIG_KEY_COUNT,
              "CONFIG_KEY_COUNT must match the key table");

/* Even indices mean true, odd false; the order is also the one shown. */
static const char *const bool_words[] = { "true", "false", "yes", "no", "on", "off", NULL };

union value {
        bool b;
        long long i;
        char *s; /* owned by whoever holds the value */
};

struct pending {
        bool set;
        size_t line; /* where a file set it, for duplicate reports */
        union value v;
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Writes the message to err (when there is room) and returns -1. */
static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;

        if (err != NULL && errlen > 0) {
                va_start(ap, fmt);
                vsnprintf(err, errlen, fmt, ap);
                va_end(ap);
        }
        return -1;
}

static bool
is_string(const struct key_desc *d)
{
        return d->type == KEY_STRING || d->type == KEY_ENUM;
}

/* Appends word to the comma-separated list in buf, truncating. */
static void
append_word(char *buf, size_t cap, const char *word)
{
        size_t len = strlen(buf);

        if (len + 1 < cap)
                snprintf(buf + len, cap - len, "%s%s", len > 0 ? ", " : "", word);
}

/* Index of s in the NULL-terminated words, or -1. */
static int
find_word(const char *const *words, const char *s, bool fold_case)
{
        for (int i = 0; words[i] != NULL; i++) {
                if ((fold_case ? strcasecmp : strcmp)(words[i], s) == 0)
                        return i;
        }
        return -1;
}

static int
find_key(const char *name)
{
        for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
                if (strcmp(keys[i].name, name) == 0)
                        return (int)i;
        }
        return -1;
}

static int
find_key_in(const char *section, const char *key)
{
        for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
                if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, key) == 0)
                        return (int)i;
        }
        return -1;
}

/* Index of the first key of the section named by the len bytes at s, or -1:
 * a section's identity. */
static int
find_section(const char *s, size_t len)
{
        for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
                if (strlen(keys[i].section) == len && memcmp(keys[i].section, s, len) == 0)
                        return (int)i;
        }
        return -1;
}

static void
list_sections(char *buf, size_t cap)
{
        buf[0] = '\0';
        for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
                if (i == 0 || strcmp(keys[i].section, keys[i - 1].section) != 0)
                        append_word(buf, cap, keys[i].section);
        }
}

static void
list_keys(const char *section, char *buf, size_t cap)
{
        buf[0] = '\0';
        for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
                if (strcmp(keys[i].section, section) == 0)
                        append_word(buf, cap, keys[i].key);
        }
}

/* What a key accepts, for error messages: "1-64", "debug, info, ...". */
static void
describe_allowed(const struct key_desc *d, char *buf, size_t cap)
{
        buf[0] = '\0';
        switch (d->type) {
        case KEY_BOOL:
                for (size_t i = 0; bool_words[i] != NULL; i++)
                        append_word(buf, cap, bool_words[i]);
                break;
        case KEY_INT:
                if (d->min < 0)
                        snprintf(buf, cap, "%lld..%lld", d->min, d->max);
                else
                        snprintf(buf, cap, "%lld-%lld", d->min, d->max);
                break;
        case KEY_STRING: snprintf(buf, cap, "%lld-%lld bytes", d->min, d->max); break;
        case KEY_ENUM:
                for (size_t i = 0; d->allowed[i] != NULL; i++)
                        append_word(buf, cap, d->allowed[i]);
                break;
        }
}

/* Strict decimal: an optional '-', then digits, nothing else. Values past
 * the range of long long saturate, so a range check rejects them. */
static int
parse_decimal(const char *s, long long *ret)
{
        const char *digits = s[0] == '-' ? s + 1 : s;
        char *end;
        long long v;

        if (digits[0] == '\0' || strspn(digits, "0123456789") != strlen(digits))
                return -1;
        v = strtoll(s, &end, 10);
        assert(*end == '\0');
        *ret = v;
        return 0;
}

/* Checks a string value's length; shared by parsing and validation. */
static int
check_length(const struct key_desc *d, const char *s, char *why, size_t len)
{
        size_t n = strlen(s);

        if (n == 0 && d->min > 0)
                return fail(why, len, "must not be empty");
        if ((long long)n < d->min || (long long)n > d->max)
                return fail(why, len, "is %zu bytes long (allowed: %lld-%lld)", n, d->min, d->max);
        return 0;
}

static int
copy_string(const char *s, union value *ret, char *why, size_t len)
{
        char *copy = strdup(s);

        if (copy == NULL)
                return fail(why, len, "out of memory");
        ret->s = copy;
        return 0;
}

/* Parses text for key d into *ret (a heap string for string keys, owned by
 * the caller). Returns 0, or -1 with the reason in why. */
static int
parse_value(const struct key_desc *d, const char *text, union value *ret, char *why, size_t len)
{
        char allowed[WHY_MAX / 2];
        long long i;
        int w;

        describe_allowed(d, allowed, sizeof(allowed));
        switch (d->type) {
        case KEY_BOOL:
                w = find_word(bool_words, text, true);
                if (w < 0)
                        return fail(why, len, "'%s' is not a boolean (allowed: %s)", text, allowed);
                ret->b = w % 2 == 0;
                return 0;
        case KEY_INT:
                if (parse_decimal(text, &i) != 0)
                        return fail(why, len, "'%s' is not an integer (allowed: %s)", text,
                                    allowed);
                if (i < d->min || i > d->max)
                        return fail(why, len, "%s is out of range (allowed: %s)", text, allowed);
                ret->i = i;
                return 0;
        case KEY_STRING:
                if (check_length(d, text, why, len) != 0)
                        return -1;
                return copy_string(text, ret, why, len);
        case KEY_ENUM:
                w = find_word(d->allowed, text, true);
                if (w < 0)
                        return fail(why, len, "'%s' is not allowed (allowed: %s)", text, allowed);
                return copy_string(d->allowed[w], ret, why, len);
        }
        return fail(why, len, "key of unknown type");
}

static void
free_value(const struct key_desc *d, union value *v)
{
        if (is_string(d)) {
                free(v->s);
                v->s = NULL;
        }
}

/* Stores *v (consumed either way) into key i unless src is below the key's
 * current source. */
static void
store_value(struct config *c, size_t i, union value *v, enum config_source src)
{
        const struct key_desc *d = &keys[i];
        char *field = (char *)c + d->offset;

        if (src < c->sources[i]) {
                free_value(d, v);
                return;
        }
        switch (d->type) {
        case KEY_BOOL:
                assert(d->size == sizeof(bool));
                *(bool *)field = v->b;
                break;
        case KEY_INT:
                assert(d->size == sizeof(int) || d->size == sizeof(long long));
                if (d->size == sizeof(int))
                        *(int *)field = (int)v->i;
                else
                        *(long long *)field = v->i;
                break;
        case KEY_STRING:
        case KEY_ENUM:
                assert(d->size == sizeof(char *));
                free(*(char **)field);
                *(char **)field = v->s;
                v->s = NULL;
                break;
        }
        c->sources[i] = src;
}

static void
pending_commit(struct config *c, struct pending *p, enum config_source src)
{
        for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
                if (p[i].set) {
                        store_value(c, i, &p[i].v, src);
                        p[i].set = false;
                }
        }
}

static void
pending_free(struct pending *p)
{
        for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
                if (p[i].set) {
                        free_value(&keys[i], &p[i].v);
                        p[i].set = false;
                }
        }
}

void
config_init(struct config *c)
{
        char why[WHY_MAX];

        memset(c, 0, sizeof(*c));
        for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
                union value v;

                /* Only an allocation can fail here; a default that breaks
                 * its own rules is a bug in the table. */
                if (parse_value(&keys[i], keys[i].def, &v, why, sizeof(why)) != 0) {
                        assert(strcmp(why, "out of memory") == 0);
                        continue;
                }
                store_value(c, i, &v, CONFIG_SRC_DEFAULT);
        }
}

void
config_clear(struct config *c)
{
        if (c == NULL)
                return;
        for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
                if (is_string(&keys[i]))
                        free(*(char **)((char *)c + keys[i].offset));
        }
        free(c->file);
        memset(c, 0, sizeof(*c));
}

/* ---- the YAML file ---- */

static int fail_at(char *err, size_t errlen, const char *path, size_t line, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

/* "config file <path>: line <line>: " followed by the message; returns -1. */
static int
fail_at(char *err, size_t errlen, const char *path, size_t line, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (err == NULL || errlen == 0)
                return -1;
        n = snprintf(err, errlen, "config file %s: line %zu: ", path, line);
        if (n >= 0 && (size_t)n < errlen) {
                va_start(ap, fmt);
                vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
                va_end(ap);
        }
        return -1;
}

static size_t
node_line(const yaml_node_t *n)
{
        return n->start_mark.line + 1;
}

static const char *
node_text(const yaml_node_t *n)
{
        return (const char *)n->data.scalar.value;
}

/* YAML's null: an empty or "~"/"null" plain scalar. */
static bool
node_is_null(const yaml_node_t *n)
{
        static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };

        return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
               find_word(nulls, node_text(n), false) >= 0;
}

static const char *
node_kind(const yaml_node_t *n)
{
        return n->type == YAML_SEQUENCE_NODE ? "a sequence" : "a mapping";
}

/* Parses one "key: value" of section into the pending slots. */
static int
walk_key(const char *path, const char *section, const yaml_node_t *k, const yaml_node_t *v,
         struct pending *p, char *err, size_t errlen)
{
        char buf[WHY_MAX];
        int i;

        if (k->type != YAML_SCALAR_NODE)
                return fail_at(err, errlen, path, node_line(k),
                               "keys in section '%s' must be scalars", section);
        i = find_key_in(section, node_text(k));
        if (i < 0) {
                list_keys(section, buf, sizeof(buf));
                return fail_at(err, errlen, path, node_line(k),
                               "unknown key '%s.%s' (known keys in %s: %s)", section, node_text(k),
                               section, buf);
        }
        if (p[i].set)
                return fail_at(err, errlen, path, node_line(k),
                               "duplicate key '%s' (first set on line %zu)", keys[i].name,
                               p[i].line);
        if (v->type != YAML_SCALAR_NODE)
                return fail_at(err, errlen, path, node_line(v),
                               "%s: expected a scalar value, got %s", keys[i].name, node_kind(v));
        if (node_is_null(v) || strlen(node_text(v)) != v->data.scalar.length) {
                describe_allowed(&keys[i], buf, sizeof(buf));
                return fail_at(err, errlen, path, node_line(v), "%s: %s (allowed: %s)",
                               keys[i].name, node_is_null(v) ? "no value" : "contains a NUL byte",
                               buf);
        }
        if (parse_value(&keys[i], node_text(v), &p[i].v, buf, sizeof(buf)) != 0)
                return fail_at(err, errlen, path, node_line(v), "%s: %s", keys[i].name, buf);
        p[i].set = true;
        p[i].line = node_line(k);
        return 0;
}

/* Parses "section: {key: value, ...}"; seen is indexed like find_section. */
static int
walk_section(yaml_document_t *doc, const char *path, const yaml_node_t *k, const yaml_node_t *v,
             bool *seen, struct pending *p, char *err, size_t errlen)
{
        char buf[WHY_MAX];
        const char *name;
        int s;

        if (k->type != YAML_SCALAR_NODE)
                return fail_at(err, errlen, path, node_line(k), "section names must be scalars");
        name = node_text(k);
        s = find_section(name, strlen(name));
        if (s < 0) {
                list_sections(buf, sizeof(buf));
                return fail_at(err, errlen, path, node_line(k),
                               "unknown section '%s' (known sections: %s)", name, buf);
        }
        if (seen[s])
                return fail_at(err, errlen, path, node_line(k), "duplicate section '%s'", name);
        seen[s] = true;
        if (node_is_null(v))
                return 0;
        if (v->type != YAML_MAPPING_NODE) {
                list_keys(name, buf, sizeof(buf));
                return fail_at(err, errlen, path, node_line(v),
                               "section '%s' must be a mapping of keys (%s)", name, buf);
        }
        for (const yaml_node_pair_t *pair = v->data.mapping.pairs.start;
             pair < v->data.mapping.pairs.top; pair++) {
                if (walk_key(path, name, yaml_document_get_node(doc, pair->key),
                             yaml_document_get_node(doc, pair->value), p, err, errlen) != 0)
                        return -1;
        }
        return 0;
}

static int
walk_document(yaml_document_t *doc, const char *path, struct pending *p, char *err, size_t errlen)
{
        const yaml_node_t *root = yaml_document_get_root_node(doc);
        bool seen[CONFIG_KEY_COUNT] = { false };
        char buf[WHY_MAX];

        if (root == NULL || node_is_null(root))
                return 0;
        if (root->type != YAML_MAPPING_NODE) {
                list_sections(buf, sizeof(buf));
                return fail_at(err, errlen, path, node_line(root),
                               "expected a mapping of sections (%s)", buf);
        }
        for (const yaml_node_pair_t *pair = root->data.mapping.pairs.start;
             pair < root->data.mapping.pairs.top; pair++) {
                if (walk_section(doc, path, yaml_document_get_node(doc, pair->key),
                                 yaml_document_get_node(doc, pair->value), seen, p, err,
                                 errlen) != 0)
                        return -1;
        }
        return 0;
}

/* Reports the parser's error with the file, line and column. */
static int
fail_yaml(const yaml_parser_t *y, const char *path, char *err, size_t errlen)
{
        const char *problem = y->problem != NULL ? y->problem : "invalid YAML";

        switch (y->error) {
        case YAML_MEMORY_ERROR: return fail(err, errlen, "config file %s: out of memory", path);
        case YAML_READER_ERROR:
                return fail(err, errlen, "config file %s: byte %zu: %s", path, y->problem_offset,
                            problem);
        default: break;
        }
        if (y->context != NULL)
                return fail(err, errlen,
                            "config file %s: line %zu, column %zu: %s (%s "
                            "started on line %zu)",
                            path, y->problem_mark.line + 1, y->problem_mark.column + 1, problem,
                            y->context, y->context_mark.line + 1);
        return fail(err, errlen, "config file %s: line %zu, column %zu: %s", path,
                    y->problem_mark.line + 1, y->problem_mark.column + 1, problem);
}

/* A config file holds one document; a second one is a mistake. */
static int
expect_end(yaml_parser_t *y, const char *path, char *err, size_t errlen)
{
        yaml_document_t doc;
        const yaml_node_t *root;
        int rc = 0;

        if (!yaml_parser_load(y, &doc))
                return fail_yaml(y, path, err, errlen);
        root = yaml_document_get_root_node(&doc);
        if (root != NULL)
                rc = fail_at(err, errlen, path, node_line(root), "more than one YAML document");
        yaml_document_delete(&doc);
        return rc;
}

static int
read_yaml(FILE *f, const char *path, struct pending *p, char *err, size_t errlen)
{
        yaml_parser_t y;
        yaml_document_t doc;
        int rc;

        if (!yaml_parser_initialize(&y))
                return fail(err, errlen, "config file %s: out of memory", path);
        yaml_parser_set_input_file(&y, f);
        if (!yaml_parser_load(&y, &doc)) {
                rc = fail_yaml(&y, path, err, errlen);
                goto out;
        }
        rc = walk_document(&doc, path, p, err, errlen);
        yaml_document_delete(&doc);
        if (rc == 0)
                rc = expect_end(&y, path, err, errlen);
out:
        yaml_parser_delete(&y);
        return rc;
}

/* Opens path for reading; caller owns the stream (fclose). */
static FILE *
open_file(const char *path, char *err, size_t errlen)
{
        FILE *f = fopen(path, "rb");
        struct stat st;

        if (f == NULL) {
                fail(err, errlen, "config file %s: cannot read: %s", path, strerror(errno));
                return NULL;
        }
        /* fopen accepts a directory; reading it would fail less clearly. */
        if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
                fail(err, errlen, "config file %s: cannot read: %s", path, strerror(EISDIR));
                fclose(f);
                return NULL;
        }
        return f;
}

int
config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
        struct pending p[CONFIG_KEY_COUNT];
        char *copy = NULL;
        FILE *f;
        int rc;

        memset(p, 0, sizeof(p));
        f = open_file(path, err, errlen);
        if (f == NULL)
                return -1;
        rc = read_yaml(f, path, p, err, errlen);
        if (rc == 0) {
                copy = strdup(path);
                if (copy == NULL)
                        rc = fail(err, errlen, "config file %s: out of memory", path);
        }
        if (rc == 0) {
                pending_commit(c, p, CONFIG_SRC_FILE);
                free(c->file);
                c->file = copy;
        }
        pending_free(p);
        fclose(f);
        return rc;
}

/* ---- environment and flags ---- */

int
config_load_env(struct config *c, const char *(*get)(const char *name), char *err, size_t errlen)
{
        struct pending p[CONFIG_KEY_COUNT];
        char why[WHY_MAX];

        memset(p, 0, sizeof(p));
        for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
                const char *v = keys[i].env != NULL ? get(keys[i].env) : NULL;

                /* An empty variable is how shells and compose files say
                 * "unset"; treating it as a value would be a trap. */
                if (v == NULL || v[0] == '\0')
                        continue;
                if (parse_value(&keys[i], v, &p[i].v, why, sizeof(why)) != 0) {
                        pending_free(p);
                        return fail(err, errlen, "%s: %s", keys[i].env, why);
                }
                p[i].set = true;
        }
        pending_commit(c, p, CONFIG_SRC_ENV);
        return 0;
}

const char *
config_file_from_env(const char *(*get)(const char *name))
{
        const char *v = get("TRADESTORE_CONFIG");

        return v != NULL && v[0] != '\0' ? v : NULL;
}

/* The message for a name that is not in the table: the keys of its section
 * when the section exists, else the sections. */
static int
fail_unknown_key(const char *name, char *err, size_t errlen)
{
        const char *dot = strchr(name, '.');
        size_t len = dot != NULL ? (size_t)(dot - name) : strlen(name);
        int s = find_section(name, len);
        char buf[WHY_MAX];

        if (s < 0) {
                list_sections(buf, sizeof(buf));
                return fail(err, errlen, "unknown key '%s' (known sections: %s)", name, buf);
        }
        list_keys(keys[s].section, buf, sizeof(buf));
        return fail(err, errlen, "unknown key '%s' (known keys in %s: %s)", name, keys[s].section,
                    buf);
}

int
config_set(struct config *c, const char *key, const char *value, enum config_source src, char *err,
           size_t errlen)
{
        int i = find_key(key);
        char why[WHY_MAX];
        union value v;

        assert(value != NULL);
        if (i < 0)
                return fail_unknown_key(key, err, errlen);
        if (parse_value(&keys[i], value, &v, why, sizeof(why)) != 0)
                return fail(err, errlen, "%s: %s", key, why);
        store_value(c, (size_t)i, &v, src);
        return 0;
}

/* ---- validation, printing, the table ---- */

static long long
get_int(const struct config *c, const struct key_desc *d)
{
        const char *field = (const char *)c + d->offset;

        if (d->size == sizeof(int))
                return *(const int *)field;
        return *(const long long *)field;
}

static bool
get_bool(const struct config *c, const struct key_desc *d)
{
        return *(const bool *)((const char *)c + d->offset);
}

static const char *
get_string(const struct config *c, const struct key_desc *d)
{
        return *(char *const *)((const char *)c + d->offset);
}

/* Checks the stored value of d against its rules; the reason goes to why. */
static int
check_field(const struct config *c, const struct key_desc *d, char *why, size_t len)
{
        char allowed[WHY_MAX / 2];
        const char *s;

        describe_allowed(d, allowed, sizeof(allowed));
        switch (d->type) {
        case KEY_BOOL: return 0;
        case KEY_INT:
                if (get_int(c, d) < d->min || get_int(c, d) > d->max)
                        return fail(why, len, "%lld is out of range (allowed: %s)", get_int(c, d),
                                    allowed);
                return 0;
        case KEY_STRING:
        case KEY_ENUM:
                s = get_string(c, d);
                if (s == NULL)
                        return fail(why, len, "not set (out of memory?)");
                if (d->type == KEY_STRING)
                        return check_length(d, s, why, len);
                if (find_word(d->allowed, s, false) < 0)
                        return fail(why, len, "'%s' is not allowed (allowed: %s)", s, allowed);
                return 0;
        }
        return 0;
}

int
config_validate(const struct config *c, char *err, size_t errlen)
{
        char why[WHY_MAX];

        for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
                if (check_field(c, &keys[i], why, sizeof(why)) != 0)
                        return fail(err, errlen, "%s: %s", keys[i].name, why);
        }
        if (c->database.url[0] != '\0' && pg_url_check(c->database.url, why, sizeof(why)) != 0)
                return fail(err, errlen, "database.url: %s", why);
        if (c->outbox.retry_base_seconds > c->outbox.retry_max_seconds)
                return fail(err, errlen,
                            "outbox.retry_base_seconds: %d is greater than "
                            "outbox.retry_max_seconds (%d)",
                            c->outbox.retry_base_seconds, c->outbox.retry_max_seconds);
        return 0;
}

/* True when s reads back as the same string without quotes. */
static bool
plain_ok(const char *s)
{
        static const char *const nulls[] = { "null", "Null", "NULL", NULL };

        if (s[0] == '\0' || s[0] == '-' || find_word(nulls, s, false) >= 0)
                return false;
        for (; *s != '\0'; s++) {
                if (!isalnum((unsigned char)*s) && strchr("._/-", *s) == NULL)
                        return false;
        }
        return true;
}

static void
print_string(FILE *out, const char *s)
{
        if (s == NULL) {
                fputs("~", out);
                return;
        }
        if (plain_ok(s)) {
                fputs(s, out);
                return;
        }
        fputc('"', out);
        for (; *s != '\0'; s++) {
                unsigned char ch = (unsigned char)*s;

                if (ch == '"' || ch == '\\')
                        fprintf(out, "\\%c", ch);
                else if (ch < 0x20 || ch == 0x7f)
                        fprintf(out, "\\x%02x", ch);
                else
                        fputc(ch, out);
        }
        fputc('"', out);
}

static void
print_source(FILE *out, const struct config *c, size_t i)
{
        switch (c->sources[i]) {
        case CONFIG_SRC_DEFAULT: fputs("default", out); break;
        case CONFIG_SRC_FILE:
                fprintf(out, "file%s%s", c->file != NULL ? " " : "",
                        c->file != NULL ? c->file : "");
                break;
        case CONFIG_SRC_ENV:
                fprintf(out, "env%s%s", keys[i].env != NULL ? " " : "",
                        keys[i].env != NULL ? keys[i].env : "");
                break;
        case CONFIG_SRC_FLAG: fputs("flag", out); break;
        }
}

static void
print_url(FILE *out, const char *url)
{
        char masked[STRING_MAX + 8];

        pg_mask_url(url, masked, sizeof(masked));
        print_string(out, masked);
}

void
config_print(const struct config *c, FILE *out)
{
        for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
                const struct key_desc *d = &keys[i];

                if (i == 0 || strcmp(d->section, keys[i - 1].section) != 0)
                        fprintf(out, "%s:\n", d->section);
                fprintf(out, "  %s: ", d->key);
                if (d->secret && get_string(c, d)[0] != '\0')
                        fputs("\"<redacted>\"", out);
                else if (d->url)
                        print_url(out, get_string(c, d));
                else if (d->type == KEY_BOOL)
                        fputs(get_bool(c, d) ? "true" : "false", out);
                else if (d->type == KEY_INT)
                        fprintf(out, "%lld", get_int(c, d));
                else
                        print_string(out, get_string(c, d));
                fputs("  # ", out);
                print_source(out, c, i);
                fputc('\n', out);
        }
}

int
config_threads_effective(const struct config *c)
{
        long n;

        if (c->server.threads > 0)
                return c->server.threads;
        n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 1)
                return 1;
        return n > 256 ? 256 : (int)n;
}

size_t
config_key_count(void)
{
        return CONFIG_KEY_COUNT;
}

const char *
config_key_name(size_t i)
{
        return i < CONFIG_KEY_COUNT ? keys[i].name : NULL;
}

const char *
config_key_env(size_t i)
{
        return i < CONFIG_KEY_COUNT ? keys[i].env : NULL;
}

const char *
config_key_help(size_t i)
{
        return i < CONFIG_KEY_COUNT ? keys[i].help : NULL;
}
