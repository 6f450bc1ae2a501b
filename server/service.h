/* The running service: database migrated and opened, HTTP daemon listening.
 * Used by main's `serve` and by the HTTP tests, which run the real server
 * in-process on an ephemeral port. */
#ifndef TRADESTORE_SERVICE_H
#define TRADESTORE_SERVICE_H

#include <stdint.h>

struct config;
struct service;

/* Creates the database folder, applies pending migrations (backing up a
 * database that holds data first), opens the database manager and starts
 * the HTTP daemon. cfg is borrowed for the service's life. Returns 0 and
 * the service (caller owns: service_stop), or -1 after logging why. */
int service_start(const struct config *cfg, struct service **ret_service);

/* The bound HTTP port. */
uint16_t service_port(const struct service *s);

/* Stops accepting, finishes requests in flight (up to grace_ms for those not
 * waiting on the database), checkpoints, closes the database, frees s.
 * Accepts NULL. */
void service_stop(struct service *s, int grace_ms);

struct db_options;

/* The database options of cfg. The strings are borrowed from cfg. */
void service_db_options(const struct config *cfg, struct db_options *ret);

/* Applies pending migrations to the database at cfg's path, creating the
 * folder and the file if needed. Returns 0 or -1 with a message in err. */
int service_migrate(const struct config *cfg, char *err, unsigned long errlen);

#endif
