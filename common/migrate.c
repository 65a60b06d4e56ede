/* migrate.c — applies the embedded schema migrations (see migrate.h).
 *
 * MySQL commits DDL implicitly, so a migration cannot be one transaction.
 * Instead its statements run one by one and the migration is recorded in
 * schema_migrations only after all succeeded; statements are written to be
 * idempotent (CREATE TABLE IF NOT EXISTS, INSERT IGNORE, ...) so a migration
 * interrupted half-way is simply rerun at the next start. The whole run holds
 * the named lock 'mcloud_migrate' on the master connection doing the work. */
#include "common/migrate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define LOCK_TIMEOUT_S 30

static const char create_schema_migrations[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INT UNSIGNED NOT NULL PRIMARY KEY,"
    " name VARCHAR(255) NOT NULL,"
    " checksum CHAR(64) CHARACTER SET ascii NOT NULL,"
    " applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

/* ---- The embedded list ------------------------------------------------------ */

static int is_checksum(const char *s) {
    if (!s || strlen(s) != MC_MIGRATION_CHECKSUM_LEN) return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s) && !(*s >= 'a' && *s <= 'f')) return 0;
    return 1;
}

int mc_migrations_validate(const mc_migration *list, size_t n, mc_err *err) {
    if (n == 0) return mc_err_set(err, MC_ERR_INTERNAL, "no schema migrations are embedded");
    for (size_t i = 0; i < n; i++) {
        const mc_migration *m = &list[i];
        if (m->version != i + 1)
            return mc_err_set(err, MC_ERR_INTERNAL,
                              "migration %s has version %u where %zu was expected: versions must "
                              "start at 1 and go up by one", m->file, m->version, i + 1);
        char file[300];
        snprintf(file, sizeof file, "%04u_%s.sql", m->version, m->name ? m->name : "");
        if (!m->name || !*m->name || !m->file || strcmp(file, m->file) != 0)
            return mc_err_set(err, MC_ERR_INTERNAL, "migration %u: file name '%s' does not match '%s'",
                              m->version, m->file ? m->file : "", file);
        if (!m->sql || !is_checksum(m->checksum))
            return mc_err_set(err, MC_ERR_INTERNAL, "migration %s has no SQL or no checksum", m->file);
    }
    return 0;
}

static const mc_migration *find_migration(const mc_migration *list, size_t n, unsigned version) {
    for (size_t i = 0; i < n; i++)
        if (list[i].version == version) return &list[i];
    return NULL;
}

int mc_migrations_check_applied(const mc_migration *list, size_t n,
                                const mc_applied_migration *applied, size_t napplied, mc_err *err) {
    for (size_t i = 0; i < napplied; i++) {
        const mc_migration *m = find_migration(list, n, applied[i].version);
        if (m && strcmp(m->checksum, applied[i].checksum) != 0)
            return mc_err_set(err, MC_ERR_CONFLICT,
                              "migration %s was applied with checksum %s but this build embeds %s: "
                              "an applied migration must never be edited; restore it and add a "
                              "new migration instead", m->file, applied[i].checksum, m->checksum);
    }
    return 0;
}

/* ---- Splitting SQL into statements --------------------------------------------- */

/* If p starts a comment, the position after it; else NULL. MySQL needs
 * whitespace (or the end) after "--" for it to start a comment. */
static const char *skip_comment(const char *p) {
    if (p[0] == '#' || (p[0] == '-' && p[1] == '-' && (p[2] == '\0' || isspace((unsigned char)p[2])))) {
        const char *nl = strchr(p, '\n');
        return nl ? nl + 1 : p + strlen(p);
    }
    if (p[0] == '/' && p[1] == '*') {
        const char *close = strstr(p + 2, "*/");
        return close ? close + 2 : p + strlen(p);
    }
    return NULL;
}

/* p is at an opening quote; returns the position after the closing one.
 * A doubled quote stands for itself; backslash escapes in strings only. */
static const char *skip_quoted(const char *p) {
    char q = *p++;
    while (*p) {
        if (*p == '\\' && q != '`' && p[1]) {
            p += 2;
        } else if (*p == q && p[1] == q) {
            p += 2;
        } else if (*p == q) {
            return p + 1;
        } else {
            p++;
        }
    }
    return p;
}

int mc_sql_next_statement(const char **cursor, const char **start, size_t *len) {
    const char *p = *cursor;
    for (;;) {
        while (isspace((unsigned char)*p) || *p == ';') p++;
        const char *after = skip_comment(p);
        if (!after) break;
        p = after;
    }
    if (!*p) {
        *cursor = p;
        return 0;
    }
    const char *begin = p, *end = p;
    while (*p && *p != ';') {
        const char *after = skip_comment(p);
        if (after) {
            p = after;
        } else if (*p == '\'' || *p == '"' || *p == '`') {
            p = skip_quoted(p);
            end = p;
        } else {
            if (!isspace((unsigned char)*p)) end = p + 1;
            p++;
        }
    }
    *start = begin;
    *len = (size_t)(end - begin);
    *cursor = *p ? p + 1 : p;
    return 1;
}

/* ---- Applying ---------------------------------------------------------------------- */

static int take_lock(mc_db_conn *c, mc_err *err) {
    mc_db_rows rows;
    if (mc_db_conn_query(c, "SELECT GET_LOCK('mcloud_migrate', ?)",
                         MC_DB_ARGS(mc_db_i64(LOCK_TIMEOUT_S)), &rows, err) < 0)
        return -1;
    const char *got = mc_db_rows_get(&rows, 0, 0);
    int rc = got && strcmp(got, "1") == 0 ? 0 : -1;
    mc_db_rows_free(&rows);
    if (rc < 0)
        mc_err_set(err, MC_ERR_CONFLICT, "another process held the lock 'mcloud_migrate' for %d s",
                   LOCK_TIMEOUT_S);
    return rc;
}

/* Closing the connection would release the lock too; this just frees it
 * sooner for the next service waiting. */
static void release_lock(mc_db_conn *c) {
    mc_err ignored;
    mc_db_conn_exec(c, "DO RELEASE_LOCK('mcloud_migrate')", MC_DB_NO_ARGS, NULL, &ignored);
}

static int load_applied(mc_db_conn *c, mc_applied_migration **out, size_t *n, mc_err *err) {
    mc_db_rows rows;
    if (mc_db_conn_query(c, "SELECT version, checksum FROM schema_migrations ORDER BY version",
                         MC_DB_NO_ARGS, &rows, err) < 0)
        return -1;
    *out = calloc(rows.nrows ? rows.nrows : 1, sizeof **out);
    if (!*out) {
        mc_db_rows_free(&rows);
        return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    }
    for (size_t i = 0; i < rows.nrows; i++) {
        (*out)[i].version = (unsigned)strtoul(mc_db_rows_get(&rows, i, 0), NULL, 10);
        snprintf((*out)[i].checksum, sizeof (*out)[i].checksum, "%s", mc_db_rows_get(&rows, i, 1));
    }
    *n = rows.nrows;
    mc_db_rows_free(&rows);
    return 0;
}

static int is_applied(const mc_applied_migration *applied, size_t n, unsigned version) {
    for (size_t i = 0; i < n; i++)
        if (applied[i].version == version) return 1;
    return 0;
}

static int apply_migration(mc_db_conn *c, const mc_migration *m, mc_err *err) {
    const char *cursor = m->sql, *start;
    size_t len;
    for (int n = 1; mc_sql_next_statement(&cursor, &start, &len); n++) {
        char *stmt = strndup(start, len);
        if (!stmt) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        int rc = mc_db_conn_exec(c, stmt, MC_DB_NO_ARGS, NULL, err);
        free(stmt);
        if (rc < 0) return mc_err_wrap(err, "%s statement %d (%.60s)", m->file, n, start);
    }
    if (mc_db_conn_exec(c, "INSERT INTO schema_migrations (version, name, checksum) VALUES (?, ?, ?)",
                        MC_DB_ARGS(mc_db_u64(m->version), mc_db_str(m->name), mc_db_str(m->checksum)),
                        NULL, err) < 0)
        return mc_err_wrap(err, "record %s", m->file);
    mc_log_kv(MC_LOG_INFO, "applied schema migration", "file", m->file, NULL);
    return 0;
}

static int migrate_locked(mc_db_conn *c, mc_err *err) {
    if (mc_db_conn_exec(c, create_schema_migrations, MC_DB_NO_ARGS, NULL, err) < 0) return -1;
    mc_applied_migration *applied;
    size_t napplied = 0;
    if (load_applied(c, &applied, &napplied, err) < 0) return -1;
    int count = mc_migrations_check_applied(mc_migrations, mc_migrations_count, applied, napplied, err);
    for (size_t i = 0; count >= 0 && i < mc_migrations_count; i++) {
        if (is_applied(applied, napplied, mc_migrations[i].version)) continue;
        count = apply_migration(c, &mc_migrations[i], err) < 0 ? -1 : count + 1;
    }
    for (size_t i = 0; count >= 0 && i < napplied; i++)
        if (!find_migration(mc_migrations, mc_migrations_count, applied[i].version))
            mc_warn("schema migration %u is applied but unknown to this build (a newer build ran)",
                    applied[i].version);
    free(applied);
    return count;
}

int mc_db_migrate(mc_db *db, mc_err *err) {
    if (mc_migrations_validate(mc_migrations, mc_migrations_count, err) < 0) return -1;
    mc_db_conn *c = mc_db_acquire(db, MC_DB_MASTER, err);
    if (!c) return mc_err_wrap(err, "migrate schema");
    int count = take_lock(c, err);
    if (count == 0) {
        count = migrate_locked(c, err);
        release_lock(c);
    }
    mc_db_release(c);
    return count < 0 ? mc_err_wrap(err, "migrate schema") : count;
}
