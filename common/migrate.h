/* migrate.h — versioned schema migrations, compiled into the library.
 *
 * Every common/migrations/NNNN_<name>.sql is embedded at build time (see
 * common/migrations/embed.cmake) into mc_migrations[], in version order, so
 * a daemon in a container needs no files on disk. mc_db_migrate() applies
 * the ones the database has not recorded yet, at start-up. */
#ifndef MCLOUD_MIGRATE_H
#define MCLOUD_MIGRATE_H

#include <stddef.h>

#include "common/error.h"
#include "common/mysql.h"

#define MC_MIGRATION_CHECKSUM_LEN 64  /* SHA-256, lowercase hex */

typedef struct mc_migration {
    unsigned version;      /* NNNN of the file name */
    const char *name;      /* <name> of the file name */
    const char *file;      /* "NNNN_<name>.sql" */
    const char *sql;       /* the file's content */
    const char *checksum;  /* SHA-256 of the file's content, lowercase hex */
} mc_migration;

/* Generated from common/migrations/ at build time. */
extern const mc_migration mc_migrations[];
extern const size_t mc_migrations_count;

/* What schema_migrations records for one applied migration. */
typedef struct mc_applied_migration {
    unsigned version;
    char checksum[MC_MIGRATION_CHECKSUM_LEN + 1];
} mc_applied_migration;

/* Checks a list of migrations: versions start at 1 and go up by one, each
 * has a name, SQL and a checksum. */
int mc_migrations_validate(const mc_migration *list, size_t n, mc_err *err);

/* Fails with MC_ERR_CONFLICT when an applied migration's recorded checksum
 * differs from the embedded one: applied migrations must never be edited. */
int mc_migrations_check_applied(const mc_migration *list, size_t n,
                                const mc_applied_migration *applied, size_t napplied, mc_err *err);

/* Splits migration SQL into statements at top-level semicolons, skipping
 * comments (-- , #, and C-style) and honouring '...', "..." and `...` quoting.
 * Finds the statement starting at or after *cursor: on success sets *start
 * and *len (without the semicolon), advances *cursor and returns 1; returns
 * 0 when only whitespace and comments remain. */
int mc_sql_next_statement(const char **cursor, const char **start, size_t *len);

/* Applies every embedded migration that the database has not recorded, in
 * version order, on the master, under the named lock 'mcloud_migrate' so
 * concurrently starting services take turns. Returns how many were applied
 * (0 when the schema was current), or -1. Refuses to run (MC_ERR_CONFLICT)
 * if an applied migration was edited afterwards. */
int mc_db_migrate(mc_db *db, mc_err *err);

#endif
