/* The schema migration runner.
 *
 * Migrations are the files migrations/NNN_description.sql, embedded into the
 * binary at build time by migrations/embed.py as migrations_embedded[]. The
 * database records each applied one in schema_version (version, description =
 * the migration's name such as "001_init", checksum = sha256 hex of its SQL,
 * applied_at = microseconds since the epoch). A migration, once applied, must
 * never change: the runner refuses a database whose recorded checksum differs
 * from the embedded one, and a database that is newer than the binary.
 *
 * Every function works on a raw connection that the caller opened with the
 * project's pragmas (foreign_keys=ON, busy timeout) and that no one else uses
 * meanwhile. Migration arrays are sorted by strictly ascending version >= 1;
 * a migration's SQL must not BEGIN or COMMIT itself. */
#ifndef TRADESTORE_MIGRATE_H
#define TRADESTORE_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct sqlite3;

struct migration {
        int version;      /* NNN of the file name, >= 1 */
        const char *name; /* "NNN_description" */
        const char *sql;  /* the file's bytes, NUL-terminated */
};

/* Defined by the file that migrations/embed.py generates. */
extern const struct migration migrations_embedded[];
extern const size_t migrations_embedded_count;

/* Checks that the database agrees with m[0..n): every applied version is
 * known with the same checksum, none is newer than m's latest, and no pending
 * migration is older than an applied one. A database without schema_version
 * has nothing applied. Returns 0, or -1 with a message for an operator in
 * err (errlen bytes, always NUL-terminated when errlen > 0). Writes nothing. */
int migrate_check(struct sqlite3 *db, const struct migration *m, size_t n, char *err,
                  size_t errlen);

/* Compares one applied version (schema_version's version, description and
 * checksum, read in ascending order) with m, walking it in step: *j is the
 * first migration of m not yet matched (start at 0). Returns 0, or -1 with
 * err set. Shared by both backends' runners. */
int migrate_check_row(int version, const char *desc, const char *stored, const struct migration *m,
                      size_t n, size_t *j, char *err, size_t errlen);

/* The same migrations for PostgreSQL (migrations/postgres/), with the same
 * numbers and names. */
extern const struct migration migrations_postgres[];
extern const size_t migrations_postgres_count;

/* Refuses a database at version 0 (no schema_version, or an empty one) that
 * holds schema objects: another application's file, or one whose history was
 * lost ("non-empty schema without schema history"). Writes nothing. Returns
 * 0, or -1 with err set. */
int migrate_check_history(struct sqlite3 *db, char *err, size_t errlen);

/* Brings the database up to m's latest version. Runs migrate_check first;
 * creates schema_version when missing. When something is pending and the
 * database already holds data, first writes a copy with VACUUM INTO to
 * "<db_path>.pre-<NNN>-<YYYYmmddTHHMMSSZ>.bak" (NNN = first pending version;
 * no copy when db_path is NULL). Then applies each pending migration in its
 * own BEGIN IMMEDIATE transaction together with its schema_version row, and
 * logs it. A failing migration is rolled back and stops the run; those before
 * it stay applied. Returns 0 and sets *ret_applied to the number applied now,
 * or -1 with the reason in err (naming the migration and SQLite's message)
 * and *ret_applied untouched. */
int migrate_apply(struct sqlite3 *db, const char *db_path, const struct migration *m, size_t n,
                  int *ret_applied, char *err, size_t errlen);

/* Prints one line per migration of m to out ("001_init  applied
 * 2026-11-26T16:00:00Z" or "002_x  pending", noting a changed checksum), then
 * one line per applied version that m does not know. Returns 0, or -1 when
 * the database cannot be read (logged). */
int migrate_status(struct sqlite3 *db, const struct migration *m, size_t n, FILE *out);

/* One line of migrate_status for mig: "NNN_x  pending", or "NNN_x  applied
 * <UTC time>" noting a checksum that differs from stored. */
void migrate_print_line(FILE *out, const struct migration *mig, bool applied, int64_t applied_at,
                        const char *stored);

/* The highest applied version: 0 when none (or no schema_version), -1 when
 * the database cannot be read (logged). */
int migrate_current_version(struct sqlite3 *db);

#endif
