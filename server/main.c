/* tradestore's entry point: the command line (serve, migrate, config,
 * version), configuration loading, and start-up and shutdown of the service
 * in reverse order. */
#include "common/log.h"
#include "db/db.h"
#include "db/migrate.h"
#include "db/postgres.h"
#include "common/ts.h"
#include "repo/admin.h"
#include "server/auth.h"
#include "server/config.h"
#include "server/healthcheck.h"
#include "server/service.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TRADESTORE_VERSION
#define TRADESTORE_VERSION "dev"
#endif

#define EXIT_USAGE 2
#define SHUTDOWN_GRACE_MS 30000

static struct config config;

static const char usage_main[] =
        "Usage: tradestore COMMAND [OPTIONS]\n"
        "\n"
        "The system of record of a trading bot: quotes, orders, fills, positions,\n"
        "balances and an outbox of events, over HTTP/JSON, stored in SQLite\n"
        "(database.path) or PostgreSQL (database.url, --db-url).\n"
        "\n"
        "Commands:\n"
        "  serve            apply pending migrations, then serve HTTP until SIGTERM\n"
        "  migrate          apply pending migrations and exit (--status: list them)\n"
        "  config           print the effective configuration and where each value\n"
        "                   came from\n"
        "  backup           write an integrity-checked copy of the database (--to DIR,\n"
        "                   default database.backup_dir); safe while serve runs\n"
        "  maintain         --analyze, --vacuum, --checkpoint, --cleanup (retention);\n"
        "                   safe while serve runs (VACUUM makes its writes wait)\n"
        "  healthcheck      ask the server at server.host:server.port for GET /health;\n"
        "                   exit 0 when it answers 200 (the container HEALTHCHECK)\n"
        "  version          print the version\n"
        "\n"
        "Run 'tradestore COMMAND --help' for the options of a command.\n";

static const char usage_options[] =
        "Options:\n"
        "  --config FILE    YAML configuration file (env TRADESTORE_CONFIG)\n"
        "  --db PATH        database file (database.path, env DB_PATH)\n"
        "  --db-url URI     PostgreSQL instead of SQLite (database.url, env DB_URL)\n"
        "  --host HOST      listen address (server.host, env HTTP_HOST)\n"
        "  --port PORT      listen port (server.port, env HTTP_PORT)\n"
        "  --threads N      HTTP threads, 0 = one per core (server.threads)\n"
        "  --log-level L    debug, info, warn or error (server.log_level, env LOG_LEVEL)\n"
        "  -h, --help       show this help\n"
        "\n"
        "Precedence: flags, then environment, then the file, then defaults.\n"
        "Exit codes: 0 success, 1 runtime failure, 2 invalid usage or configuration.\n";

/* Flags that set a configuration key (--db, --port ...). */
static const struct {
        const char *flag;
        const char *key;
} flag_keys[] = {
        { "--db", "database.path" },           { "--host", "server.host" },
        { "--port", "server.port" },           { "--threads", "server.threads" },
        { "--log-level", "server.log_level" }, { "--db-url", "database.url" },
};
#define FLAG_KEYS (sizeof(flag_keys) / sizeof(flag_keys[0]))

struct cli {
        const char *command;
        const char *config_file;
        const char *set_keys[FLAG_KEYS]; /* one slot a key: a repeated flag's last value wins */
        const char *set_values[FLAG_KEYS];
        int nset;
        unsigned switches; /* SW_* given */
        const char *backup_to;
        bool help;
};

/* Switches of one command, without a value. */
enum {
        SW_STATUS = 1u << 0,
        SW_ANALYZE = 1u << 1,
        SW_VACUUM = 1u << 2,
        SW_CHECKPOINT = 1u << 3,
        SW_CLEANUP = 1u << 4,
};

static const struct {
        const char *command;
        const char *flag;
        unsigned bit;
} switches[] = {
        { "migrate", "--status", SW_STATUS },    { "maintain", "--analyze", SW_ANALYZE },
        { "maintain", "--vacuum", SW_VACUUM },   { "maintain", "--checkpoint", SW_CHECKPOINT },
        { "maintain", "--cleanup", SW_CLEANUP },
};

static unsigned
switch_bit(const char *command, const char *flag)
{
        for (size_t i = 0; i < sizeof(switches) / sizeof(switches[0]); i++)
                if (strcmp(switches[i].command, command) == 0 &&
                    strcmp(switches[i].flag, flag) == 0)
                        return switches[i].bit;
        return 0;
}

static const char *
flag_key(const char *flag)
{
        for (size_t i = 0; i < FLAG_KEYS; i++)
                if (strcmp(flag_keys[i].flag, flag) == 0)
                        return flag_keys[i].key;
        return NULL;
}

/* Splits "--flag=value" or "--flag value". Returns the value or NULL. */
static const char *
flag_value(char *arg, int argc, char **argv, int *i)
{
        char *eq = strchr(arg, '=');

        if (eq != NULL) {
                *eq = '\0';
                return eq + 1;
        }
        if (*i + 1 < argc)
                return argv[++*i];
        return NULL;
}

/* The command's own options, for its --help. */
static const char *
command_extra(const char *command)
{
        if (strcmp(command, "migrate") == 0)
                return " [--status]\n\n  --status         list applied and pending migrations only";
        if (strcmp(command, "backup") == 0)
                return " [--to DIR]\n\n  --to DIR         folder for the copy (default "
                       "database.backup_dir)";
        if (strcmp(command, "maintain") == 0)
                return " [--analyze] [--vacuum] [--checkpoint] [--cleanup]\n\n"
                       "  --analyze        update the query planner's statistics\n"
                       "  --vacuum         rebuild the file (incremental when auto_vacuum is)\n"
                       "  --checkpoint     copy the WAL into the database and truncate it\n"
                       "  --cleanup        delete rows past their retention, in batches\n"
                       "  (On PostgreSQL: --analyze and --cleanup; autovacuum and the server's\n"
                       "  checkpointer do the rest.)";
        return "";
}

/* Records key = value; a key given before keeps its slot, with this value
 * (the last one given wins, as for every other source). */
static void
cli_set(struct cli *c, const char *key, const char *value)
{
        int i = 0;

        while (i < c->nset && strcmp(c->set_keys[i], key) != 0)
                i++;
        c->set_keys[i] = key;
        c->set_values[i] = value;
        if (i == c->nset)
                c->nset++;
}

static int
parse_cli(int argc, char **argv, struct cli *ret)
{
        struct cli c = { .command = argc > 1 ? argv[1] : NULL };

        for (int i = 2; i < argc; i++) {
                char *arg = argv[i];
                const char *key, *value;
                bool to;

                if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
                        c.help = true;
                        continue;
                }
                if (switch_bit(c.command, arg) != 0) {
                        c.switches |= switch_bit(c.command, arg);
                        continue;
                }
                value = flag_value(arg, argc, argv, &i); /* splits "--flag=value" */
                key = flag_key(arg);
                to = strcmp(arg, "--to") == 0 && strcmp(c.command, "backup") == 0;
                if (strcmp(arg, "--config") != 0 && key == NULL && !to) {
                        fprintf(stderr, "tradestore %s: unknown option '%s' (see --help)\n",
                                c.command, arg);
                        return -1;
                }
                if (value == NULL) {
                        fprintf(stderr, "tradestore %s: option %s needs a value\n", c.command, arg);
                        return -1;
                }
                if (to) {
                        c.backup_to = value;
                } else if (key == NULL) {
                        c.config_file = value;
                } else {
                        cli_set(&c, key, value);
                }
        }
        *ret = c;
        return 0;
}

static const char *
env_get(const char *name)
{
        return getenv(name);
}

/* Defaults, then the file, then the environment, then flags. */
static int
load_config(const struct cli *cli)
{
        const char *file = cli->config_file ? cli->config_file : config_file_from_env(env_get);
        struct auth *auth = NULL;
        char err[1024];
        enum log_level level;

        config_init(&config);
        if (file != NULL && config_load_file(&config, file, err, sizeof(err)) != 0)
                goto fail;
        if (config_load_env(&config, env_get, err, sizeof(err)) != 0)
                goto fail;
        for (int i = 0; i < cli->nset; i++)
                if (config_set(&config, cli->set_keys[i], cli->set_values[i], CONFIG_SRC_FLAG, err,
                               sizeof(err)) != 0)
                        goto fail;
        if (config_validate(&config, err, sizeof(err)) != 0)
                goto fail;
        if (auth_new(config.auth.tokens, &auth, err, sizeof(err)) != 0)
                goto fail;
        auth_free(auth);
        if (log_level_parse(config.server.log_level, &level))
                log_set_level(level);
        return 0;
fail:
        fprintf(stderr, "tradestore: invalid configuration: %s\n", err);
        return -1;
}

static int
cmd_serve(void)
{
        struct service *svc = NULL;
        char where[512];
        sigset_t set;
        int sig = 0;

        /* Block the stop signals before any thread starts, then wait for one. */
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        signal(SIGPIPE, SIG_IGN);
        if (service_start(&config, &svc) != 0) {
                log_msg(LOG_ERROR, "start_failed",
                        "tradestore did not start; see the errors above");
                return EXIT_FAILURE;
        }
        pg_mask_url(config.database.url, where, sizeof(where));
        log_msg(LOG_INFO, "started", "tradestore %s serving http://%s:%u with database %s",
                TRADESTORE_VERSION, config.server.host, (unsigned)service_port(svc),
                where[0] != '\0' ? where : config.database.path);
        sigwait(&set, &sig);
        log_msg(LOG_INFO, "stopping", "received %s: finishing requests in flight",
                sig == SIGINT ? "SIGINT" : "SIGTERM");
        service_stop(svc, SHUTDOWN_GRACE_MS);
        log_msg(LOG_INFO, "stopped", "tradestore stopped cleanly");
        return EXIT_SUCCESS;
}

/* Asks the server this configuration describes (server.host, server.port:
 * the same flags, environment and file as serve) for GET /health. Returns
 * EXIT_SUCCESS when it answers 200; otherwise EXIT_FAILURE, after
 * healthcheck_run has said why on stderr. */
static int
cmd_healthcheck(void)
{
        if (config.server.tls_cert != NULL && config.server.tls_cert[0] != '\0') {
                fprintf(stderr, "tradestore healthcheck: server.tls_cert is set; this probe "
                                "speaks plain HTTP only\n");
                return EXIT_FAILURE;
        }
        if (healthcheck_run(config.server.host, config.server.port, HEALTHCHECK_TIMEOUT_MS) != 0)
                return EXIT_FAILURE;
        return EXIT_SUCCESS;
}

static int
cmd_backup(const char *to)
{
        const char *dir = to ? to : config.database.backup_dir;
        struct db_options opt;
        struct db_conn *c;
        char path[4096], err[512];
        int64_t size = 0;
        enum repo_status s;

        if (config.database.url[0] != '\0') {
                fprintf(stderr, "tradestore backup: the database is PostgreSQL (database.url):"
                                " back it up with pg_dump, or pg_basebackup for the cluster\n");
                return EXIT_FAILURE;
        }
        service_db_options(&config, &opt);
        c = db_conn_open(&opt, true);
        if (c == NULL) {
                fprintf(stderr, "tradestore backup: cannot open %s\n", config.database.path);
                return EXIT_FAILURE;
        }
        s = repo_admin_backup(c, dir, path, sizeof(path), &size, err, sizeof(err));
        db_conn_close(c);
        if (s != REPO_OK) {
                fprintf(stderr, "tradestore backup: %s\n", err);
                return EXIT_FAILURE;
        }
        printf("%s\t%lld bytes\tintegrity ok\n", path, (long long)size);
        return EXIT_SUCCESS;
}

/* One maintenance step on c; prints what it did. Returns 0 or -1. */
static int
maintain_step(struct db_conn *c, unsigned step)
{
        const struct admin_retention ret = {
                .quote_days = config.database.quote_retention_days,
                .fill_days = config.database.fill_retention_days,
                .outbox_days = config.database.outbox_retention_days,
        };
        struct admin_cleanup total = { 0 };
        struct admin_checkpoint ck = { 0 };
        bool incremental = false;

        switch (step) {
        case SW_ANALYZE:
                if (repo_admin_analyze(c) != REPO_OK)
                        return -1;
                printf("analyze: done\n");
                return 0;
        case SW_CLEANUP:
                if (repo_admin_cleanup_conn(c, &ret, ts_now_us(), ADMIN_CLEANUP_BATCH, &total) !=
                    REPO_OK)
                        return -1;
                printf("cleanup: deleted %lld quotes, %lld fills, %lld outbox events"
                       " in %lld batches (the longest held the write lock %lld ms)\n",
                       (long long)total.quotes, (long long)total.fills, (long long)total.outbox,
                       (long long)total.batches, (long long)total.longest_ms);
                return 0;
        case SW_VACUUM:
                if (repo_admin_is_incremental(c, &incremental) != REPO_OK)
                        return -1;
                if ((incremental ? repo_admin_incremental_vacuum_conn(c) : repo_admin_vacuum(c)) !=
                    REPO_OK)
                        return -1;
                printf("vacuum: done (%s)\n", incremental ? "incremental" : "full");
                return 0;
        default:
                if (repo_admin_checkpoint(c, &ck) != REPO_OK)
                        return -1;
                printf("checkpoint: %lld of %lld WAL frames copied%s\n",
                       (long long)ck.checkpointed_frames, (long long)ck.wal_frames,
                       ck.truncated ? ", WAL truncated" : "");
                return 0;
        }
}

static int
cmd_maintain(unsigned steps)
{
        static const unsigned order[] = { SW_CLEANUP, SW_ANALYZE, SW_VACUUM, SW_CHECKPOINT };
        struct db_options opt;
        struct db_conn *c;
        int rc = EXIT_SUCCESS;

        if (steps == 0) {
                fprintf(stderr, "tradestore maintain: say what to do: --analyze, --vacuum, "
                                "--checkpoint and/or --cleanup\n");
                return EXIT_USAGE;
        }
        if (config.database.url[0] != '\0' && (steps & (SW_VACUUM | SW_CHECKPOINT)) != 0) {
                fprintf(stderr,
                        "tradestore maintain: the database is PostgreSQL (database.url):"
                        " autovacuum and the server's checkpointer do %s there; ask for"
                        " --analyze and --cleanup only\n",
                        (steps & SW_VACUUM) != 0 ? "--vacuum" : "--checkpoint");
                return EXIT_USAGE;
        }
        service_db_options(&config, &opt);
        c = db_conn_open(&opt, false);
        if (c == NULL) {
                fprintf(stderr, "tradestore maintain: cannot open %s\n",
                        config.database.url[0] != '\0' ? "the PostgreSQL database (database.url)"
                                                       : config.database.path);
                return EXIT_FAILURE;
        }
        for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
                if ((steps & order[i]) != 0 && maintain_step(c, order[i]) != 0) {
                        fprintf(stderr, "tradestore maintain: a step failed (see the log "
                                        "above); if the server is busy, retry or raise "
                                        "database.query_timeout\n");
                        rc = EXIT_FAILURE;
                        break;
                }
        }
        db_conn_close(c);
        return rc;
}

/* cmd_migrate on PostgreSQL (database.url). */
static int
cmd_migrate_postgres(bool status)
{
        char err[1024];
        struct pg_conn *c;
        int rc;

        if (!status && service_migrate(&config, err, sizeof(err)) != 0) {
                fprintf(stderr, "tradestore migrate: %s\n", err);
                return EXIT_FAILURE;
        }
        c = pg_conn_open(config.database.url, config.database.connect_timeout, err, sizeof(err));
        if (c == NULL) {
                fprintf(stderr, "tradestore migrate: cannot connect to PostgreSQL: %s\n", err);
                return EXIT_FAILURE;
        }
        rc = pg_migrate_status(c, migrations_postgres, migrations_postgres_count, stdout);
        pg_conn_close(c);
        return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static int
cmd_migrate(bool status)
{
        char err[1024];
        struct db_options opt;
        struct db_conn *c;
        int rc;

        if (config.database.url[0] != '\0')
                return cmd_migrate_postgres(status);
        if (!status) {
                if (service_migrate(&config, err, sizeof(err)) != 0) {
                        fprintf(stderr, "tradestore migrate: %s\n", err);
                        return EXIT_FAILURE;
                }
                status = true;
        }
        service_db_options(&config, &opt);
        c = db_conn_open(&opt, true);
        if (c == NULL) {
                fprintf(stderr, "tradestore migrate: cannot open %s\n", config.database.path);
                return EXIT_FAILURE;
        }
        rc = migrate_status(db_handle(c), migrations_embedded, migrations_embedded_count, stdout);
        db_conn_close(c);
        return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int
main(int argc, char **argv)
{
        struct cli cli;
        int rc;

        if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
                fputs(usage_main, argc < 2 ? stderr : stdout);
                return argc < 2 ? EXIT_USAGE : EXIT_SUCCESS;
        }
        if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
                printf("tradestore %s\n", TRADESTORE_VERSION);
                return EXIT_SUCCESS;
        }
        if (strcmp(argv[1], "serve") != 0 && strcmp(argv[1], "migrate") != 0 &&
            strcmp(argv[1], "config") != 0 && strcmp(argv[1], "healthcheck") != 0 &&
            strcmp(argv[1], "backup") != 0 && strcmp(argv[1], "maintain") != 0) {
                fprintf(stderr, "tradestore: unknown command '%s'\n\n%s", argv[1], usage_main);
                return EXIT_USAGE;
        }
        if (parse_cli(argc, argv, &cli) != 0)
                return EXIT_USAGE;
        if (cli.help) {
                printf("Usage: tradestore %s [OPTIONS]%s\n\n%s", cli.command,
                       command_extra(cli.command), usage_options);
                return EXIT_SUCCESS;
        }
        if (load_config(&cli) != 0) {
                config_clear(&config);
                return EXIT_USAGE;
        }
        if (strcmp(cli.command, "config") == 0) {
                config_print(&config, stdout);
                rc = EXIT_SUCCESS;
        } else if (strcmp(cli.command, "migrate") == 0) {
                rc = cmd_migrate((cli.switches & SW_STATUS) != 0);
        } else if (strcmp(cli.command, "backup") == 0) {
                rc = cmd_backup(cli.backup_to);
        } else if (strcmp(cli.command, "maintain") == 0) {
                rc = cmd_maintain(cli.switches);
        } else if (strcmp(cli.command, "healthcheck") == 0) {
                rc = cmd_healthcheck();
        } else {
                rc = cmd_serve();
        }
        config_clear(&config);
        return rc;
}
