/* Tests of the configuration module: defaults, precedence of file, env and
 * flags with the source recorded, every kind of invalid input named in the
 * error, config.example.yaml, printing, and the cross-key checks.
 *
 * Each test gets a fresh mkdtemp directory for the YAML files it writes.
 * SRCDIR (the repository root) comes from the compiler command line. */
#include "server/config.h"
#include "db/db.h"
#include "server/service.h"

#include <check.h>

#include "check_run.h"
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SRCDIR
#error "compile with -DSRCDIR=\"<repository root>\""
#endif

#define ERR_MAX 1024

static char tmpdir[64];

static void
setup(void)
{
        strcpy(tmpdir, "/tmp/test_config.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
        DIR *d = opendir(tmpdir);
        struct dirent *e;
        char path[sizeof(tmpdir) + sizeof(e->d_name) + 1];

        if (d == NULL)
                return;
        while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
                remove(path);
        }
        closedir(d);
        rmdir(tmpdir);
}

/* Writes text to tmpdir/name; the path goes to path. */
static void
write_file(const char *name, const char *text, char *path, size_t cap)
{
        FILE *f;

        snprintf(path, cap, "%s/%s", tmpdir, name);
        f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fputs(text, f) >= 0, 1);
        ck_assert_int_eq(fclose(f), 0);
}

static int
key_index(const char *name)
{
        for (size_t i = 0; i < config_key_count(); i++) {
                if (strcmp(config_key_name(i), name) == 0)
                        return (int)i;
        }
        ck_abort_msg("no key %s", name);
        return -1;
}

static enum config_source
source_of(const struct config *c, const char *name)
{
        return c->sources[key_index(name)];
}

/* config_print's output; caller frees. */
static char *
print_string(const struct config *c)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        ck_assert_ptr_nonnull(f);
        config_print(c, f);
        ck_assert_int_eq(fclose(f), 0);
        return buf;
}

/* config_print's output without the source comments; caller frees. */
static char *
print_values(const struct config *c)
{
        char *s = print_string(c);
        char *r = s;
        char *w = s;

        while (*r != '\0') {
                if (strncmp(r, "  # ", 4) == 0) {
                        r = strchr(r, '\n');
                        if (r == NULL)
                                break;
                }
                *w++ = *r++;
        }
        *w = '\0';
        return s;
}

/* The printed value of key "section.key" (e.g. "8080"), in buf. */
static const char *
value_text(const struct config *c, const char *name, char *buf, size_t cap)
{
        char *all = print_string(c);
        const char *dot = strchr(name, '.');
        char section[64], needle[128];
        const char *at, *end;

        ck_assert_ptr_nonnull(dot);
        snprintf(section, sizeof(section), "%.*s:\n", (int)(dot - name), name);
        snprintf(needle, sizeof(needle), "\n  %s: ", dot + 1);
        at = strstr(all, section);
        ck_assert_ptr_nonnull(at);
        at = strstr(at, needle);
        ck_assert_ptr_nonnull(at);
        at += strlen(needle);
        end = strstr(at, "  # ");
        ck_assert_ptr_nonnull(end);
        snprintf(buf, cap, "%.*s", (int)(end - at), at);
        free(all);
        return buf;
}

#define ck_assert_value(c, name, expected)                                                         \
        do {                                                                                       \
                char value_buf_[256];                                                              \
                ck_assert_str_eq(value_text((c), (name), value_buf_, sizeof(value_buf_)),          \
                                 (expected));                                                      \
        } while (0)

/* A fake environment: name, value pairs, NULL-terminated. */
static const char *const *fake_env;

static const char *
fake_get(const char *name)
{
        for (size_t i = 0; fake_env != NULL && fake_env[i] != NULL; i += 2) {
                if (strcmp(fake_env[i], name) == 0)
                        return fake_env[i + 1];
        }
        return NULL;
}

/* ---- defaults and the table ---- */

START_TEST(defaults_match_the_reference_and_validate)
{
        struct config c;
        char err[ERR_MAX];

        config_init(&c);
        ck_assert_str_eq(c.database.path, "./data/tradestore.db");
        ck_assert(c.database.wal_mode);
        ck_assert_int_eq(c.database.connection_pool_size, 4);
        ck_assert_int_eq(c.database.query_timeout, 5);
        ck_assert_int_eq(c.database.quote_retention_days, 7);
        ck_assert_int_eq(c.database.fill_retention_days, 90);
        ck_assert_int_eq(c.database.outbox_retention_days, 30);
        ck_assert_int_eq(c.database.cache_size, 10000);
        ck_assert_str_eq(c.database.temp_store, "memory");
        ck_assert_str_eq(c.database.synchronous, "normal");
        ck_assert_str_eq(c.database.auto_vacuum, "none");
        ck_assert_int_eq(c.database.checkpoint_interval, 300);
        ck_assert_str_eq(c.database.backup_dir, "./data/backups");
        ck_assert_int_eq(c.database.maintenance_interval, 3600);
        ck_assert_str_eq(c.server.host, "127.0.0.1");
        ck_assert_int_eq(c.server.port, 8080);
        ck_assert_int_eq(c.server.threads, 0);
        ck_assert(c.server.max_body_bytes == 1048576);
        ck_assert_str_eq(c.server.log_level, "info");
        ck_assert_int_eq(c.outbox.max_retries, 10);
        ck_assert_int_eq(c.outbox.retry_base_seconds, 1);
        ck_assert_int_eq(c.outbox.retry_max_seconds, 3600);
        ck_assert_ptr_null(c.file);
        for (size_t i = 0; i < CONFIG_KEY_COUNT; i++)
                ck_assert_int_eq(c.sources[i], CONFIG_SRC_DEFAULT);
        ck_assert_int_eq(config_validate(&c, err, sizeof(err)), 0);
        config_clear(&c);
}
END_TEST

START_TEST(key_table_names_are_unique_section_dot_key_with_env_and_help)
{
        ck_assert_uint_eq(config_key_count(), CONFIG_KEY_COUNT);
        for (size_t i = 0; i < config_key_count(); i++) {
                const char *name = config_key_name(i);
                const char *dot = strchr(name, '.');

                ck_assert_ptr_nonnull(dot);
                ck_assert_ptr_null(strchr(dot + 1, '.'));
                ck_assert_ptr_nonnull(config_key_env(i));
                ck_assert_uint_gt(strlen(config_key_help(i)), 0);
                for (size_t j = 0; j < i; j++) {
                        ck_assert_str_ne(config_key_name(j), name);
                        ck_assert_str_ne(config_key_env(j), config_key_env(i));
                }
        }
        ck_assert_ptr_null(config_key_name(CONFIG_KEY_COUNT));
        ck_assert_ptr_null(config_key_env(CONFIG_KEY_COUNT));
        ck_assert_ptr_null(config_key_help(CONFIG_KEY_COUNT));
}
END_TEST

START_TEST(clear_accepts_zeroed_and_cleared_structs)
{
        struct config c;

        memset(&c, 0, sizeof(c));
        config_clear(&c);
        config_init(&c);
        config_clear(&c);
        ck_assert_ptr_null(c.database.path);
        config_clear(&c);
        config_clear(NULL);
}
END_TEST

/* ---- precedence ---- */

START_TEST(file_beats_default_env_beats_file_flag_beats_env)
{
        static const char *const env[] = {
                "HTTP_PORT",          "2222", "DB_PATH", "/env.db", "DB_WAL_MODE", "off",
                "OUTBOX_MAX_RETRIES", "",     NULL
        };
        struct config c;
        char path[256], err[ERR_MAX];

        write_file("c.yaml",
                   "database:\n  path: /file.db\n  wal_mode: yes\n"
                   "  synchronous: FULL\nserver:\n  port: 1111\n"
                   "outbox:\n  max_retries: 20\n",
                   path, sizeof(path));
        config_init(&c);
        ck_assert_int_eq(config_load_file(&c, path, err, sizeof(err)), 0);
        ck_assert_str_eq(c.file, path);
        ck_assert_int_eq(c.server.port, 1111);
        ck_assert_int_eq(source_of(&c, "server.port"), CONFIG_SRC_FILE);
        ck_assert_int_eq(source_of(&c, "server.host"), CONFIG_SRC_DEFAULT);

        fake_env = env;
        ck_assert_int_eq(config_load_env(&c, fake_get, err, sizeof(err)), 0);
        ck_assert_int_eq(c.server.port, 2222);
        ck_assert_str_eq(c.database.path, "/env.db");
        ck_assert(!c.database.wal_mode);
        ck_assert_int_eq(source_of(&c, "database.wal_mode"), CONFIG_SRC_ENV);

        ck_assert_int_eq(config_set(&c, "server.port", "3333", CONFIG_SRC_FLAG, err, sizeof(err)),
                         0);
        ck_assert_int_eq(
                config_set(&c, "database.path", "/flag.db", CONFIG_SRC_FLAG, err, sizeof(err)), 0);
        ck_assert_int_eq(c.server.port, 3333);
        ck_assert_int_eq(source_of(&c, "server.port"), CONFIG_SRC_FLAG);
        ck_assert_str_eq(c.database.path, "/flag.db");
        ck_assert_int_eq(source_of(&c, "database.path"), CONFIG_SRC_FLAG);
        ck_assert(!c.database.wal_mode);
        ck_assert_int_eq(source_of(&c, "database.wal_mode"), CONFIG_SRC_ENV);
        ck_assert_str_eq(c.database.synchronous, "full");
        ck_assert_int_eq(source_of(&c, "database.synchronous"), CONFIG_SRC_FILE);
        /* An empty variable is unset: the file's value stays. */
        ck_assert_int_eq(c.outbox.max_retries, 20);
        ck_assert_int_eq(source_of(&c, "outbox.max_retries"), CONFIG_SRC_FILE);
        ck_assert_str_eq(c.server.host, "127.0.0.1");
        ck_assert_int_eq(source_of(&c, "server.host"), CONFIG_SRC_DEFAULT);
        config_clear(&c);
}
END_TEST

START_TEST(precedence_holds_whatever_the_load_order)
{
        static const char *const env[] = { "HTTP_PORT", "2222", "LOG_LEVEL", "warn", NULL };
        struct config c;
        char path[256], err[ERR_MAX];

        write_file("c.yaml", "server:\n  port: 1111\n  log_level: debug\n  threads: 3\n", path,
                   sizeof(path));
        config_init(&c);
        ck_assert_int_eq(config_set(&c, "server.port", "3333", CONFIG_SRC_FLAG, err, sizeof(err)),
                         0);
        fake_env = env;
        ck_assert_int_eq(config_load_env(&c, fake_get, err, sizeof(err)), 0);
        ck_assert_int_eq(config_load_file(&c, path, err, sizeof(err)), 0);
        ck_assert_int_eq(c.server.port, 3333);
        ck_assert_int_eq(source_of(&c, "server.port"), CONFIG_SRC_FLAG);
        ck_assert_str_eq(c.server.log_level, "warn");
        ck_assert_int_eq(source_of(&c, "server.log_level"), CONFIG_SRC_ENV);
        ck_assert_int_eq(c.server.threads, 3);
        ck_assert_int_eq(source_of(&c, "server.threads"), CONFIG_SRC_FILE);
        config_clear(&c);
}
END_TEST

START_TEST(same_source_later_value_wins)
{
        struct config c;
        char err[ERR_MAX];

        config_init(&c);
        ck_assert_int_eq(config_set(&c, "server.host", "a", CONFIG_SRC_FLAG, err, sizeof(err)), 0);
        ck_assert_int_eq(config_set(&c, "server.host", "b", CONFIG_SRC_FLAG, err, sizeof(err)), 0);
        ck_assert_str_eq(c.server.host, "b");
        config_clear(&c);
}
END_TEST

START_TEST(empty_and_comment_only_files_change_nothing)
{
        static const char *const texts[] = { "", "# nothing\n\n", "---\n", "server:\n" };
        struct config c;
        char path[256], err[ERR_MAX];

        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
                write_file("e.yaml", texts[i], path, sizeof(path));
                config_init(&c);
                ck_assert_msg(config_load_file(&c, path, err, sizeof(err)) == 0, "%s", err);
                ck_assert_str_eq(c.file, path);
                for (size_t k = 0; k < CONFIG_KEY_COUNT; k++)
                        ck_assert_int_eq(c.sources[k], CONFIG_SRC_DEFAULT);
                config_clear(&c);
        }
}
END_TEST

/* ---- values accepted and rejected ---- */

static const struct {
        const char *key;
        const char *value;
        const char *printed;
} accepted[] = {
        { "server.port", "0", "0" },
        { "server.port", "65535", "65535" },
        { "server.port", "0080", "80" },
        { "database.cache_size", "-1000000", "-1000000" },
        { "database.cache_size", "1000000", "1000000" },
        { "database.connection_pool_size", "1", "1" },
        { "database.connection_pool_size", "64", "64" },
        { "database.quote_retention_days", "0", "0" },
        { "database.fill_retention_days", "36500", "36500" },
        { "server.max_body_bytes", "1024", "1024" },
        { "server.max_body_bytes", "67108864", "67108864" },
        { "server.threads", "256", "256" },
        { "outbox.retry_max_seconds", "604800", "604800" },
        { "database.wal_mode", "No", "false" },
        { "database.wal_mode", "ON", "true" },
        { "database.wal_mode", "yes", "true" },
        { "database.wal_mode", "off", "false" },
        { "database.wal_mode", "TRUE", "true" },
        { "database.wal_mode", "False", "false" },
        { "database.synchronous", "FULL", "full" },
        { "database.synchronous", "Extra", "extra" },
        { "database.synchronous", "off", "off" },
        { "database.temp_store", "File", "file" },
        { "database.auto_vacuum", "INCREMENTAL", "incremental" },
        { "server.log_level", "DEBUG", "debug" },
        { "server.host", "::1", "\"::1\"" },
        { "database.path", "x", "x" },
};

START_TEST(values_at_the_edges_and_in_any_case_are_accepted)
{
        struct config c;
        char err[ERR_MAX];

        config_init(&c);
        ck_assert_msg(config_set(&c, accepted[_i].key, accepted[_i].value, CONFIG_SRC_FLAG, err,
                                 sizeof(err)) == 0,
                      "%s", err);
        ck_assert_value(&c, accepted[_i].key, accepted[_i].printed);
        ck_assert_int_eq(source_of(&c, accepted[_i].key), CONFIG_SRC_FLAG);
        ck_assert_int_eq(config_validate(&c, err, sizeof(err)), 0);
        config_clear(&c);
}
END_TEST

START_TEST(stored_enum_values_are_lower_case)
{
        struct config c;
        char err[ERR_MAX];

        config_init(&c);
        ck_assert_int_eq(
                config_set(&c, "database.synchronous", "NoRmAl", CONFIG_SRC_FLAG, err, sizeof(err)),
                0);
        ck_assert_str_eq(c.database.synchronous, "normal");
        ck_assert_int_eq(
                config_set(&c, "server.log_level", "WARN", CONFIG_SRC_FLAG, err, sizeof(err)), 0);
        ck_assert_str_eq(c.server.log_level, "warn");
        config_clear(&c);
}
END_TEST

static const struct {
        const char *key;
        const char *value;
        const char *want; /* the whole message */
} rejected[] = {
        { "database.pool_sise", "4",
          "unknown key 'database.pool_sise' (known keys in database: path, "
          "url, connect_timeout, wal_mode, connection_pool_size, query_timeout, quote_retention_days, "
          "fill_retention_days, outbox_retention_days, cache_size, temp_store, "
          "synchronous, auto_vacuum, checkpoint_interval, backup_dir, "
          "maintenance_interval, max_write_queue)" },
        { "databse.path", "x",
          "unknown key 'databse.path' (known sections: database, server, "
          "auth, outbox)" },
        { "port", "1",
          "unknown key 'port' (known sections: database, server, "
          "auth, outbox)" },
        { "server.port", "70000", "server.port: 70000 is out of range (allowed: 0-65535)" },
        { "server.port", "65536", "server.port: 65536 is out of range (allowed: 0-65535)" },
        { "server.port", "-1", "server.port: -1 is out of range (allowed: 0-65535)" },
        { "server.port", "99999999999999999999999",
          "server.port: 99999999999999999999999 is out of range (allowed: "
          "0-65535)" },
        { "server.port", "80x", "server.port: '80x' is not an integer (allowed: 0-65535)" },
        { "server.port", " 80", "server.port: ' 80' is not an integer (allowed: 0-65535)" },
        { "server.port", "+80", "server.port: '+80' is not an integer (allowed: 0-65535)" },
        { "server.port", "", "server.port: '' is not an integer (allowed: 0-65535)" },
        { "server.port", "-", "server.port: '-' is not an integer (allowed: 0-65535)" },
        { "server.port", "0x50", "server.port: '0x50' is not an integer (allowed: 0-65535)" },
        { "server.port", "8e3", "server.port: '8e3' is not an integer (allowed: 0-65535)" },
        { "server.port", "80.0", "server.port: '80.0' is not an integer (allowed: 0-65535)" },
        { "database.cache_size", "1000001",
          "database.cache_size: 1000001 is out of range (allowed: "
          "-1000000..1000000)" },
        { "database.cache_size", "-1000001",
          "database.cache_size: -1000001 is out of range (allowed: "
          "-1000000..1000000)" },
        { "database.connection_pool_size", "0",
          "database.connection_pool_size: 0 is out of range (allowed: 1-64)" },
        { "database.connection_pool_size", "65",
          "database.connection_pool_size: 65 is out of range (allowed: 1-64)" },
        { "database.query_timeout", "3601",
          "database.query_timeout: 3601 is out of range (allowed: 1-3600)" },
        { "database.quote_retention_days", "-1",
          "database.quote_retention_days: -1 is out of range (allowed: "
          "0-36500)" },
        { "database.outbox_retention_days", "36501",
          "database.outbox_retention_days: 36501 is out of range (allowed: "
          "0-36500)" },
        { "database.checkpoint_interval", "86401",
          "database.checkpoint_interval: 86401 is out of range (allowed: "
          "0-86400)" },
        { "database.maintenance_interval", "604801",
          "database.maintenance_interval: 604801 is out of range (allowed: "
          "0-604800)" },
        { "server.max_body_bytes", "1023",
          "server.max_body_bytes: 1023 is out of range (allowed: 1024-67108864)" },
        { "server.max_body_bytes", "67108865",
          "server.max_body_bytes: 67108865 is out of range (allowed: "
          "1024-67108864)" },
        { "server.threads", "257", "server.threads: 257 is out of range (allowed: 0-256)" },
        { "outbox.max_retries", "0", "outbox.max_retries: 0 is out of range (allowed: 1-1000)" },
        { "outbox.retry_base_seconds", "86401",
          "outbox.retry_base_seconds: 86401 is out of range (allowed: 1-86400)" },
        { "database.wal_mode", "maybe",
          "database.wal_mode: 'maybe' is not a boolean (allowed: true, false, "
          "yes, no, on, off)" },
        { "database.wal_mode", "1",
          "database.wal_mode: '1' is not a boolean (allowed: true, false, yes, "
          "no, on, off)" },
        { "server.log_level", "loud",
          "server.log_level: 'loud' is not allowed (allowed: debug, info, warn, "
          "error)" },
        { "database.synchronous", "fullest",
          "database.synchronous: 'fullest' is not allowed (allowed: off, "
          "normal, full, extra)" },
        { "database.temp_store", "",
          "database.temp_store: '' is not allowed (allowed: default, file, "
          "memory)" },
        { "server.host", "", "server.host: must not be empty" },
        { "database.backup_dir", "", "database.backup_dir: must not be empty" },
};

START_TEST(bad_values_are_rejected_with_the_key_and_what_is_allowed)
{
        struct config c;
        char err[ERR_MAX];
        char *before, *after;

        config_init(&c);
        before = print_string(&c);
        ck_assert_int_eq(config_set(&c, rejected[_i].key, rejected[_i].value, CONFIG_SRC_FLAG, err,
                                    sizeof(err)),
                         -1);
        ck_assert_str_eq(err, rejected[_i].want);
        after = print_string(&c);
        ck_assert_str_eq(after, before);
        free(before);
        free(after);
        config_clear(&c);
}
END_TEST

START_TEST(overlong_string_is_rejected_and_a_short_err_buffer_is_safe)
{
        struct config c;
        char *big = malloc(5000);
        char err[ERR_MAX], tiny[8];

        ck_assert_ptr_nonnull(big);
        memset(big, 'a', 4999);
        big[4999] = '\0';
        config_init(&c);
        ck_assert_int_eq(config_set(&c, "database.path", big, CONFIG_SRC_FLAG, err, sizeof(err)),
                         -1);
        ck_assert_str_eq(err, "database.path: is 4999 bytes long (allowed: "
                              "1-4096)");
        big[4096] = '\0';
        ck_assert_int_eq(config_set(&c, "database.path", big, CONFIG_SRC_FLAG, err, sizeof(err)),
                         0);
        ck_assert_int_eq(config_set(&c, "server.port", "x", CONFIG_SRC_FLAG, tiny, sizeof(tiny)),
                         -1);
        ck_assert_str_eq(tiny, "server.");
        ck_assert_int_eq(config_set(&c, "server.port", "x", CONFIG_SRC_FLAG, NULL, 0), -1);
        free(big);
        config_clear(&c);
}
END_TEST

/* ---- the environment ---- */

static const struct {
        const char *name;
        const char *value;
        const char *want;
} bad_env[] = {
        { "DB_CONNECTION_POOL_SIZE", "abc",
          "DB_CONNECTION_POOL_SIZE: 'abc' is not an integer (allowed: 1-64)" },
        { "HTTP_PORT", "70000", "HTTP_PORT: 70000 is out of range (allowed: 0-65535)" },
        { "HTTP_THREADS", "-1", "HTTP_THREADS: -1 is out of range (allowed: 0-256)" },
        { "DB_WAL_MODE", "1",
          "DB_WAL_MODE: '1' is not a boolean (allowed: true, false, yes, no, on, "
          "off)" },
        { "LOG_LEVEL", "loud",
          "LOG_LEVEL: 'loud' is not allowed (allowed: debug, info, warn, error)" },
        { "DB_AUTO_VACUUM", "always",
          "DB_AUTO_VACUUM: 'always' is not allowed (allowed: none, full, "
          "incremental)" },
        { "OUTBOX_RETRY_MAX_SECONDS", "0",
          "OUTBOX_RETRY_MAX_SECONDS: 0 is out of range (allowed: 1-604800)" },
};

START_TEST(bad_env_values_name_the_variable_and_change_nothing)
{
        const char *env[] = { "HTTP_HOST", "10.0.0.1", bad_env[_i].name, bad_env[_i].value, NULL };
        struct config c;
        char err[ERR_MAX];
        char *before, *after;

        config_init(&c);
        before = print_string(&c);
        fake_env = env;
        ck_assert_int_eq(config_load_env(&c, fake_get, err, sizeof(err)), -1);
        ck_assert_str_eq(err, bad_env[_i].want);
        after = print_string(&c);
        ck_assert_str_eq(after, before);
        free(before);
        free(after);
        config_clear(&c);
}
END_TEST

START_TEST(every_key_has_an_env_variable_that_sets_it)
{
        const char *env[2 * CONFIG_KEY_COUNT + 1] = { NULL };
        char values[CONFIG_KEY_COUNT][64];
        struct config c, d;
        char err[ERR_MAX];
        char *want, *got;

        /* Non-default values, printed, then read back through the variables. */
        config_init(&c);
        ck_assert_int_eq(
                config_set(&c, "database.cache_size", "-2000", CONFIG_SRC_FLAG, err, sizeof(err)),
                0);
        ck_assert_int_eq(
                config_set(&c, "database.wal_mode", "false", CONFIG_SRC_FLAG, err, sizeof(err)), 0);
        ck_assert_int_eq(
                config_set(&c, "server.log_level", "error", CONFIG_SRC_FLAG, err, sizeof(err)), 0);
        /* Keys whose default is "" need a value: an empty variable is unset. */
        ck_assert_int_eq(
                config_set(&c, "server.tls_cert", "/c.pem", CONFIG_SRC_FLAG, err, sizeof(err)), 0);
        ck_assert_int_eq(
                config_set(&c, "server.tls_key", "/k.pem", CONFIG_SRC_FLAG, err, sizeof(err)), 0);
        ck_assert_int_eq(config_set(&c, "auth.tokens", "read:x", CONFIG_SRC_FLAG, err, sizeof(err)),
                         0);
        ck_assert_int_eq(config_set(&c, "database.url", "postgresql://bot@db/book", CONFIG_SRC_FLAG,
                                    err, sizeof(err)),
                         0);
        for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
                env[2 * i] = config_key_env(i);
                env[2 * i + 1] = value_text(&c, config_key_name(i), values[i], sizeof(values[i]));
                if (values[i][0] == '"') { /* the printed scalar was quoted; a variable is raw */
                        values[i][strlen(values[i]) - 1] = '\0';
                        env[2 * i + 1] = values[i] + 1;
                }
        }
        config_init(&d);
        fake_env = env;
        ck_assert_int_eq(config_load_env(&d, fake_get, err, sizeof(err)), 0);
        for (size_t i = 0; i < CONFIG_KEY_COUNT; i++)
                ck_assert_int_eq(d.sources[i], CONFIG_SRC_ENV);
        want = print_values(&c);
        got = print_values(&d);
        ck_assert_str_eq(got, want);
        free(want);
        free(got);
        config_clear(&c);
        config_clear(&d);
}
END_TEST

START_TEST(config_file_comes_from_tradestore_config_when_set)
{
        static const char *const set[] = { "TRADESTORE_CONFIG", "/etc/t.yaml", NULL };
        static const char *const empty[] = { "TRADESTORE_CONFIG", "", NULL };

        fake_env = NULL;
        ck_assert_ptr_null(config_file_from_env(fake_get));
        fake_env = empty;
        ck_assert_ptr_null(config_file_from_env(fake_get));
        fake_env = set;
        ck_assert_str_eq(config_file_from_env(fake_get), "/etc/t.yaml");
}
END_TEST

/* ---- bad files ---- */

static const struct {
        const char *yaml;
        const char *want[3]; /* after "config file <path>: " */
} bad_files[] = {
        { "database:\n  path: /x\n  pool_sise: 4\n",
          { "line 3: unknown key 'database.pool_sise' (known keys in database: "
            "path, url, connect_timeout, wal_mode, connection_pool_size," } },
        { "databse:\n  path: x\n",
          { "line 1: unknown section 'databse' (known sections: database, server, "
            "auth, outbox)" } },
        { "server:\n  port: 80\ndatabase:\n  connection_pool_size: abc\n",
          { "line 4: database.connection_pool_size: 'abc' is not an integer "
            "(allowed: 1-64)" } },
        { "database:\n  connection_pool_size: 4x\n",
          { "line 2: database.connection_pool_size: '4x' is not an integer" } },
        { "server:\n  port: 80.5\n",
          { "line 2: server.port: '80.5' is not an integer (allowed: 0-65535)" } },
        { "database:\n  wal_mode: maybe\n",
          { "line 2: database.wal_mode: 'maybe' is not a boolean (allowed: true, "
            "false, yes, no, on, off)" } },
        { "database:\n  wal_mode: 1\n", { "line 2: database.wal_mode: '1' is not a boolean" } },
        { "server:\n  max_body_bytes: 1023\n",
          { "line 2: server.max_body_bytes: 1023 is out of range (allowed: "
            "1024-67108864)" } },
        { "server:\n  host: h\n  port: 70000\n",
          { "line 3: server.port: 70000 is out of range (allowed: 0-65535)" } },
        { "database:\n  cache_size: -1000001\n",
          { "line 2: database.cache_size: -1000001 is out of range (allowed: "
            "-1000000..1000000)" } },
        { "server:\n  log_level: loud\n",
          { "line 2: server.log_level: 'loud' is not allowed (allowed: debug, "
            "info, warn, error)" } },
        { "server:\n  port: 1\n  port: 2\n",
          { "line 3: duplicate key 'server.port' (first set on line 2)" } },
        { "server:\n  port: 1\nserver:\n  host: x\n", { "line 3: duplicate section 'server'" } },
        { "server:\n  port: 1\n  host: a: b\n",
          { "line 3, column 10: mapping values are not allowed" } },
        { "server:\n\tport: 1\n",
          { "line 2, column 1: found character that cannot start any token" } },
        { "server:\n  port: [1\n", { "line 3, column 1: ", "flow sequence started on line 2" } },
        { "server:\n  port: [1, 2]\n",
          { "line 2: server.port: expected a scalar value, got a sequence" } },
        { "database:\n  path:\n    a: b\n",
          { "line 3: database.path: expected a scalar value, got a mapping" } },
        { "server: 5\n",
          { "line 1: section 'server' must be a mapping of keys (host, port, "
            "threads, max_body_bytes, log_level, max_connections, "
            "max_connections_per_ip, idle_timeout, max_header_bytes, header_timeout, "
            "min_body_rate, tls_cert, tls_key)" } },
        { "- server\n",
          { "line 1: expected a mapping of sections (database, server, auth, outbox)" } },
        { "hello\n", { "line 1: expected a mapping of sections" } },
        { "? [a]\n: 1\n", { "line 1: section names must be scalars" } },
        { "server:\n  ? [a]\n  : 1\n", { "line 2: keys in section 'server' must be scalars" } },
        { "database:\n  path: ''\n", { "line 2: database.path: must not be empty" } },
        { "server:\n  host:\n", { "line 2: server.host: no value (allowed: " } },
        { "server:\n  port: ~\n", { "line 2: server.port: no value (allowed: 0-65535)" } },
        { "database:\n  path: \"a\\0b\"\n", { "line 2: database.path: contains a NUL byte" } },
        { "server:\n  port: 1\n---\nserver:\n  port: 2\n",
          { "line 4: more than one YAML document" } },
        { "server:\n  host: \xff\n", { "byte 16: invalid leading UTF-8 octet" } },
};

START_TEST(bad_files_name_the_file_line_and_key_and_change_nothing)
{
        struct config c;
        char path[256], prefix[300], err[ERR_MAX];
        char *before, *after;

        write_file("bad.yaml", bad_files[_i].yaml, path, sizeof(path));
        snprintf(prefix, sizeof(prefix), "config file %s: ", path);
        config_init(&c);
        before = print_string(&c);
        ck_assert_int_eq(config_load_file(&c, path, err, sizeof(err)), -1);
        ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "%s", err);
        for (size_t k = 0; k < 3 && bad_files[_i].want[k] != NULL; k++)
                ck_assert_msg(strstr(err + strlen(prefix), bad_files[_i].want[k]) != NULL,
                              "'%s' lacks '%s'", err, bad_files[_i].want[k]);
        if (bad_files[_i].want[0][0] == 'l') /* errors past parsing */
                ck_assert_msg(strncmp(err + strlen(prefix), bad_files[_i].want[0],
                                      strlen(bad_files[_i].want[0])) == 0,
                              "%s", err);
        after = print_string(&c);
        ck_assert_str_eq(after, before);
        ck_assert_ptr_null(c.file);
        free(before);
        free(after);
        config_clear(&c);
}
END_TEST

START_TEST(unreadable_files_are_reported_with_the_reason)
{
        struct config c;
        char path[256], err[ERR_MAX], want[400];

        config_init(&c);
        snprintf(path, sizeof(path), "%s/missing.yaml", tmpdir);
        ck_assert_int_eq(config_load_file(&c, path, err, sizeof(err)), -1);
        snprintf(want, sizeof(want), "config file %s: cannot read: No such file or directory",
                 path);
        ck_assert_str_eq(err, want);

        snprintf(path, sizeof(path), "%s/adir", tmpdir);
        ck_assert_int_eq(mkdir(path, 0700), 0);
        ck_assert_int_eq(config_load_file(&c, path, err, sizeof(err)), -1);
        snprintf(want, sizeof(want), "config file %s: cannot read: Is a directory", path);
        ck_assert_str_eq(err, want);
        ck_assert_ptr_null(c.file);
        config_clear(&c);
}
END_TEST

START_TEST(failed_file_load_keeps_the_earlier_file)
{
        struct config c;
        char good[256], bad[256], err[ERR_MAX];

        write_file("good.yaml", "server:\n  port: 1\n", good, sizeof(good));
        write_file("bad.yaml", "server:\n  port: 2\n  x: 1\n", bad, sizeof(bad));
        config_init(&c);
        ck_assert_int_eq(config_load_file(&c, good, err, sizeof(err)), 0);
        ck_assert_int_eq(config_load_file(&c, bad, err, sizeof(err)), -1);
        ck_assert_str_eq(c.file, good);
        ck_assert_int_eq(c.server.port, 1);
        config_clear(&c);
}
END_TEST

/* ---- cross-key and direct-field validation ---- */

START_TEST(retry_base_above_retry_max_fails_validation)
{
        struct config c;
        char err[ERR_MAX];

        config_init(&c);
        ck_assert_int_eq(
                config_set(&c, "outbox.retry_max_seconds", "50", CONFIG_SRC_FLAG, err, sizeof(err)),
                0);
        ck_assert_int_eq(config_set(&c, "outbox.retry_base_seconds", "50", CONFIG_SRC_FLAG, err,
                                    sizeof(err)),
                         0);
        ck_assert_int_eq(config_validate(&c, err, sizeof(err)), 0);
        ck_assert_int_eq(config_set(&c, "outbox.retry_base_seconds", "51", CONFIG_SRC_FLAG, err,
                                    sizeof(err)),
                         0);
        ck_assert_int_eq(config_validate(&c, err, sizeof(err)), -1);
        ck_assert_str_eq(err, "outbox.retry_base_seconds: 51 is greater than "
                              "outbox.retry_max_seconds (50)");
        config_clear(&c);
}
END_TEST

START_TEST(validate_catches_fields_set_directly)
{
        struct config c;
        char err[ERR_MAX];

        config_init(&c);
        c.server.port = 70000;
        ck_assert_int_eq(config_validate(&c, err, sizeof(err)), -1);
        ck_assert_str_eq(err, "server.port: 70000 is out of range (allowed: "
                              "0-65535)");
        c.server.port = 1;
        c.server.max_body_bytes = 1LL << 40;
        ck_assert_int_eq(config_validate(&c, err, sizeof(err)), -1);
        ck_assert_str_eq(err, "server.max_body_bytes: 1099511627776 is out of "
                              "range (allowed: 1024-67108864)");
        c.server.max_body_bytes = 2048;
        free(c.database.synchronous);
        c.database.synchronous = strdup("FULL");
        ck_assert_int_eq(config_validate(&c, err, sizeof(err)), -1);
        ck_assert_str_eq(err, "database.synchronous: 'FULL' is not allowed "
                              "(allowed: off, normal, full, extra)");
        free(c.database.synchronous);
        c.database.synchronous = NULL;
        ck_assert_int_eq(config_validate(&c, err, sizeof(err)), -1);
        ck_assert_ptr_nonnull(strstr(err, "database.synchronous: not set"));
        config_clear(&c);
}
END_TEST

/* ---- the example file ---- */

START_TEST(example_file_sets_every_key_to_its_default)
{
        const char *path = SRCDIR "/config.example.yaml";
        struct config def, ex;
        char err[ERR_MAX];
        char *want, *got;

        config_init(&def);
        config_init(&ex);
        ck_assert_msg(config_load_file(&ex, path, err, sizeof(err)) == 0, "%s", err);
        for (size_t i = 0; i < CONFIG_KEY_COUNT; i++)
                ck_assert_msg(ex.sources[i] == CONFIG_SRC_FILE, "%s not in %s", config_key_name(i),
                              path);
        want = print_values(&def);
        got = print_values(&ex);
        ck_assert_str_eq(got, want);
        ck_assert_int_eq(config_validate(&ex, err, sizeof(err)), 0);
        free(want);
        free(got);
        config_clear(&def);
        config_clear(&ex);
}
END_TEST

START_TEST(example_file_names_every_env_variable)
{
        FILE *f = fopen(SRCDIR "/config.example.yaml", "r");
        char text[16384];
        size_t n;

        ck_assert_ptr_nonnull(f);
        n = fread(text, 1, sizeof(text) - 1, f);
        ck_assert_uint_lt(n, sizeof(text) - 1);
        text[n] = '\0';
        fclose(f);
        for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
                char needle[80];

                snprintf(needle, sizeof(needle), "Env %s", config_key_env(i));
                ck_assert_msg(strstr(text, needle) != NULL, "no '%s'", needle);
        }
}
END_TEST

/* ---- printing ---- */

START_TEST(print_shows_each_value_with_its_source)
{
        static const char *const env[] = { "HTTP_HOST", "0.0.0.0", NULL };
        struct config c;
        char path[256], err[ERR_MAX], want[400];
        char *out;

        write_file("p.yaml", "database:\n  wal_mode: off\n", path, sizeof(path));
        config_init(&c);
        ck_assert_int_eq(config_load_file(&c, path, err, sizeof(err)), 0);
        fake_env = env;
        ck_assert_int_eq(config_load_env(&c, fake_get, err, sizeof(err)), 0);
        ck_assert_int_eq(config_set(&c, "server.port", "9090", CONFIG_SRC_FLAG, err, sizeof(err)),
                         0);
        out = print_string(&c);
        ck_assert_ptr_nonnull(strstr(out, "database:\n  path: "
                                          "./data/tradestore.db  # default\n"));
        snprintf(want, sizeof(want), "\n  wal_mode: false  # file %s\n", path);
        ck_assert_ptr_nonnull(strstr(out, want));
        ck_assert_ptr_nonnull(strstr(out, "\nserver:\n  host: 0.0.0.0  # env "
                                          "HTTP_HOST\n  port: 9090  # flag\n"));
        ck_assert_ptr_nonnull(strstr(out, "\noutbox:\n  max_retries: 10  # "
                                          "default\n"));
        free(out);
        config_clear(&c);
}
END_TEST

START_TEST(printed_config_loads_back_to_the_same_values)
{
        static const struct {
                const char *key;
                const char *value;
        } sets[] = {
                { "database.path", "/my data/#x: \"q\" \\ y" },
                { "database.backup_dir", "null" },
                { "server.host", "-h\tx" },
                { "database.cache_size", "-5" },
                { "server.max_body_bytes", "67108864" },
                { "database.wal_mode", "off" },
                { "database.synchronous", "off" },
        };
        struct config c, d;
        char path[256], err[ERR_MAX];
        char *printed, *want, *got;

        config_init(&c);
        for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
                ck_assert_int_eq(config_set(&c, sets[i].key, sets[i].value, CONFIG_SRC_FLAG, err,
                                            sizeof(err)),
                                 0);
        printed = print_string(&c);
        write_file("round.yaml", printed, path, sizeof(path));
        config_init(&d);
        ck_assert_msg(config_load_file(&d, path, err, sizeof(err)) == 0, "%s", err);
        ck_assert_str_eq(d.database.path, "/my data/#x: \"q\" \\ y");
        ck_assert_str_eq(d.database.backup_dir, "null");
        ck_assert_str_eq(d.server.host, "-h\tx");
        want = print_values(&c);
        got = print_values(&d);
        ck_assert_str_eq(got, want);
        free(printed);
        free(want);
        free(got);
        config_clear(&c);
        config_clear(&d);
}
END_TEST

START_TEST(threads_zero_means_the_number_of_cores)
{
        struct config c;
        long cores = sysconf(_SC_NPROCESSORS_ONLN);

        config_init(&c);
        ck_assert_int_eq(config_threads_effective(&c), cores < 1     ? 1
                                                       : cores > 256 ? 256
                                                                     : (int)cores);
        c.server.threads = 5;
        ck_assert_int_eq(config_threads_effective(&c), 5);
        config_clear(&c);
}
END_TEST

/* Request threads read through db_read, one connection each at a time: a
 * pool smaller than the thread count would make an HTTP thread wait for a
 * connection (stalling every client it serves). */
START_TEST(reader_pool_has_a_connection_for_every_http_thread)
{
        struct config c;
        struct db_options o;

        config_init(&c);
        c.server.threads = 8;
        c.database.connection_pool_size = 2;
        service_db_options(&c, &o);
        ck_assert_int_ge(o.pool_size, 8);
        c.database.connection_pool_size = 12;
        service_db_options(&c, &o);
        ck_assert_int_eq(o.pool_size, 12);
        config_clear(&c);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
config_suite(void)
{
        Suite *s = suite_create("config");
        TCase *t = tcase_create("config");

        tcase_add_checked_fixture(t, setup, teardown);
        tcase_add_test(t, defaults_match_the_reference_and_validate);
        tcase_add_test(t, key_table_names_are_unique_section_dot_key_with_env_and_help);
        tcase_add_test(t, clear_accepts_zeroed_and_cleared_structs);
        tcase_add_test(t, file_beats_default_env_beats_file_flag_beats_env);
        tcase_add_test(t, precedence_holds_whatever_the_load_order);
        tcase_add_test(t, same_source_later_value_wins);
        tcase_add_test(t, empty_and_comment_only_files_change_nothing);
        tcase_add_loop_test(t, values_at_the_edges_and_in_any_case_are_accepted, 0, N(accepted));
        tcase_add_test(t, stored_enum_values_are_lower_case);
        tcase_add_loop_test(t, bad_values_are_rejected_with_the_key_and_what_is_allowed, 0,
                            N(rejected));
        tcase_add_test(t, overlong_string_is_rejected_and_a_short_err_buffer_is_safe);
        tcase_add_loop_test(t, bad_env_values_name_the_variable_and_change_nothing, 0, N(bad_env));
        tcase_add_test(t, every_key_has_an_env_variable_that_sets_it);
        tcase_add_test(t, config_file_comes_from_tradestore_config_when_set);
        tcase_add_loop_test(t, bad_files_name_the_file_line_and_key_and_change_nothing, 0,
                            N(bad_files));
        tcase_add_test(t, unreadable_files_are_reported_with_the_reason);
        tcase_add_test(t, failed_file_load_keeps_the_earlier_file);
        tcase_add_test(t, retry_base_above_retry_max_fails_validation);
        tcase_add_test(t, validate_catches_fields_set_directly);
        tcase_add_test(t, example_file_sets_every_key_to_its_default);
        tcase_add_test(t, example_file_names_every_env_variable);
        tcase_add_test(t, print_shows_each_value_with_its_source);
        tcase_add_test(t, printed_config_loads_back_to_the_same_values);
        tcase_add_test(t, threads_zero_means_the_number_of_cores);
        tcase_add_test(t, reader_pool_has_a_connection_for_every_http_thread);
        suite_add_tcase(s, t);
        return s;
}

int
main(void)
{
        return check_run(config_suite());
}
