/* Integration tests of the MySQL client and the schema migrations against the
 * real MariaDB master and replica of scripts/stack.sh.
 *
 * Which server answered is proved on the connection itself: the master and
 * the replica have different @@server_id values and only the replica is
 * read_only. Rows use unique ids and are deleted afterwards; the migration
 * test that needs an empty schema creates its own mcloud_itest_* database
 * and drops it. */
#include <pthread.h>
#include <stdlib.h>

#include "common/migrate.h"
#include "common/mysql.h"
#include "itest.h"

static mc_db *db;
static char master_addr[MC_DB_ADDR_MAX];
static char replica_addr[MC_DB_ADDR_MAX];
static long master_server_id;
static long replica_server_id;

static const char *const schema_tables[] = {"schema_migrations", "tenants", "api_keys", "videos",
                                            "renditions", "jobs", "uploads", "outbox"};
#define NTABLES (sizeof schema_tables / sizeof schema_tables[0])

static void config_from_itest_env(mc_db_config *cfg) {
    mc_db_config_defaults(cfg);
    snprintf(cfg->master, sizeof cfg->master, "%s", itest_env("MCLOUD_MYSQL_MASTER"));
    snprintf(cfg->replica, sizeof cfg->replica, "%s", itest_env("MCLOUD_MYSQL_REPLICA"));
    snprintf(cfg->user, sizeof cfg->user, "%s", itest_env("MCLOUD_MYSQL_USER"));
    snprintf(cfg->password, sizeof cfg->password, "%s", itest_env("MCLOUD_MYSQL_PASSWORD"));
    snprintf(cfg->database, sizeof cfg->database, "%s", itest_env("MCLOUD_MYSQL_DATABASE"));
}

static mc_db *open_db(int pool_size, int replica_max_lag_s) {
    mc_db_config cfg;
    config_from_itest_env(&cfg);
    cfg.pool_size = pool_size;
    cfg.replica_max_lag_s = replica_max_lag_s;
    mc_err err = {0};
    mc_db *d = mc_db_open(&cfg, &err);
    if (!d) fail_msg("mc_db_open: %s", err.msg);
    return d;
}

/* Runs a query expected to succeed and return one row. */
static void query1(mc_db_conn *c, const char *sql, const mc_db_param *p, size_t n, mc_db_rows *rows) {
    mc_err err = {0};
    if (mc_db_conn_query(c, sql, p, n, rows, &err) < 0) fail_msg("%s: %s", sql, err.msg);
    assert_int_equal(rows->nrows, 1);
}

/* The @@server_id of the server a target routes to right now. */
static long routed_server_id(mc_db *d, mc_db_target target) {
    mc_err err = {0};
    mc_db_rows rows;
    if (mc_db_query(d, target, "SELECT @@server_id", MC_DB_NO_ARGS, &rows, &err) < 0)
        fail_msg("SELECT @@server_id: %s", err.msg);
    long id = atol(mc_db_rows_get(&rows, 0, 0));
    mc_db_rows_free(&rows);
    return id;
}

static void exec_ok(mc_db *d, const char *sql, const mc_db_param *p, size_t n, mc_db_info *info) {
    mc_err err = {0};
    if (mc_db_exec(d, MC_DB_MASTER, sql, p, n, info, &err) < 0) fail_msg("%s: %s", sql, err.msg);
}

static long count_tenant(mc_db *d, mc_db_target target, const char *id) {
    mc_err err = {0};
    mc_db_rows rows;
    if (mc_db_query(d, target, "SELECT COUNT(*) FROM tenants WHERE id = ?", MC_DB_ARGS(mc_db_str(id)),
                    &rows, &err) < 0)
        fail_msg("count tenant: %s", err.msg);
    long n = atol(mc_db_rows_get(&rows, 0, 0));
    mc_db_rows_free(&rows);
    return n;
}

static void delete_tenant(const char *id) {
    exec_ok(db, "DELETE FROM tenants WHERE id = ?", MC_DB_ARGS(mc_db_str(id)), NULL);
}

static void wait_replica_caught_up(mc_db *d) {
    mc_err err = {0};
    char gtid[MC_DB_GTID_MAX];
    if (mc_db_master_gtid(d, gtid, sizeof gtid, &err) < 0) fail_msg("master gtid: %s", err.msg);
    if (mc_db_wait_replica(d, gtid, 20, &err) < 0) fail_msg("wait replica: %s", err.msg);
}

static int setup(void **state) {
    (void)state;
    db = open_db(4, 0);
    snprintf(master_addr, sizeof master_addr, "%s", itest_env("MCLOUD_MYSQL_MASTER"));
    snprintf(replica_addr, sizeof replica_addr, "%s", itest_env("MCLOUD_MYSQL_REPLICA"));
    mc_err err = {0};
    if (mc_db_migrate(db, &err) < 0) fail_msg("migrate: %s", err.msg);

    mc_db_conn *c = mc_db_acquire(db, MC_DB_MASTER, &err);
    assert_non_null(c);
    mc_db_rows rows;
    query1(c, "SELECT @@server_id, @@read_only", MC_DB_NO_ARGS, &rows);
    master_server_id = atol(mc_db_rows_get(&rows, 0, 0));
    assert_string_equal(mc_db_rows_get(&rows, 0, 1), "0");
    mc_db_rows_free(&rows);
    mc_db_release(c);

    c = mc_db_acquire(db, MC_DB_REPLICA, &err);
    assert_non_null(c);
    query1(c, "SELECT @@server_id, @@read_only", MC_DB_NO_ARGS, &rows);
    replica_server_id = atol(mc_db_rows_get(&rows, 0, 0));
    assert_string_equal(mc_db_rows_get(&rows, 0, 1), "1");
    mc_db_rows_free(&rows);
    mc_db_release(c);
    assert_int_not_equal(master_server_id, replica_server_id);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    mc_db_close(db);
    return 0;
}

/* ---- Migrations ------------------------------------------------------------ */

/* Whether every schema table exists on the server c is connected to. */
static void assert_schema_tables(mc_db_conn *c) {
    for (size_t i = 0; i < NTABLES; i++) {
        mc_db_rows rows;
        query1(c, "SELECT COUNT(*) FROM information_schema.tables "
                  "WHERE table_schema = DATABASE() AND table_name = ?",
               MC_DB_ARGS(mc_db_str(schema_tables[i])), &rows);
        if (strcmp(mc_db_rows_get(&rows, 0, 0), "1") != 0) fail_msg("table %s missing", schema_tables[i]);
        mc_db_rows_free(&rows);
    }
}

static void migrate_again_is_a_noop_and_schema_reaches_replica(void **state) {
    (void)state;
    mc_err err = {0};
    mc_db_rows before, after;
    assert_int_equal(mc_db_query(db, MC_DB_MASTER,
                                 "SELECT version, checksum, applied_at FROM schema_migrations "
                                 "WHERE version <= ? ORDER BY version",
                                 MC_DB_ARGS(mc_db_u64(mc_migrations_count)), &before, &err), 0);
    assert_int_equal(before.nrows, mc_migrations_count);
    assert_int_equal(mc_db_migrate(db, &err), 0);
    assert_int_equal(mc_db_query(db, MC_DB_MASTER,
                                 "SELECT version, checksum, applied_at FROM schema_migrations "
                                 "WHERE version <= ? ORDER BY version",
                                 MC_DB_ARGS(mc_db_u64(mc_migrations_count)), &after, &err), 0);
    assert_int_equal(after.nrows, before.nrows);
    for (size_t i = 0; i < after.nrows; i++) {
        assert_string_equal(mc_db_rows_get(&after, i, 1), mc_migrations[i].checksum);
        assert_string_equal(mc_db_rows_get(&after, i, 2), mc_db_rows_get(&before, i, 2));
    }
    mc_db_rows_free(&before);
    mc_db_rows_free(&after);

    wait_replica_caught_up(db);
    mc_db_conn *c = mc_db_acquire(db, MC_DB_MASTER, &err);
    assert_non_null(c);
    assert_schema_tables(c);
    mc_db_release(c);

    c = mc_db_acquire(db, MC_DB_REPLICA, &err);
    assert_non_null(c);
    mc_db_rows rows;
    query1(c, "SELECT @@server_id, name FROM tenants WHERE id = 'local'", MC_DB_NO_ARGS, &rows);
    assert_int_equal(atol(mc_db_rows_get(&rows, 0, 0)), replica_server_id);
    assert_string_equal(mc_db_rows_get(&rows, 0, 1), "Local tenant");
    mc_db_rows_free(&rows);
    assert_schema_tables(c);
    mc_db_release(c);
}

typedef struct migrate_run {
    mc_db *db;
    int result;
    mc_err err;
} migrate_run;

static void *migrate_thread(void *arg) {
    migrate_run *run = arg;
    run->result = mc_db_migrate(run->db, &run->err);
    return NULL;
}

/* A fresh database gets every migration exactly once even when several
 * services start at the same moment; a later edit of an applied migration
 * makes migrate refuse to run. */
/* The scratch database of the fresh-migration test, dropped by its teardown
 * even when the test fails. */
static char scratch_schema[64];

static int drop_scratch_schema(void **state) {
    (void)state;
    if (!scratch_schema[0]) return 0;
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS `%s`", scratch_schema);
    exec_ok(db, sql, MC_DB_NO_ARGS, NULL);
    scratch_schema[0] = '\0';
    return 0;
}

static void fresh_database_is_migrated_once_by_concurrent_starts(void **state) {
    (void)state;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(scratch_schema, sizeof scratch_schema, "mcloud_itest_%ld_%ld_%d", (long)ts.tv_sec,
             ts.tv_nsec, (int)getpid());
    const char *schema = scratch_schema;
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE `%s` CHARACTER SET utf8mb4", schema);
    exec_ok(db, sql, MC_DB_NO_ARGS, NULL);

    mc_db_config cfg;
    config_from_itest_env(&cfg);
    snprintf(cfg.database, sizeof cfg.database, "%s", schema);
    migrate_run runs[3];
    pthread_t threads[3];
    for (int i = 0; i < 3; i++) {
        memset(&runs[i], 0, sizeof runs[i]);
        runs[i].db = mc_db_open(&cfg, &runs[i].err);
        assert_non_null(runs[i].db);
        assert_int_equal(pthread_create(&threads[i], NULL, migrate_thread, &runs[i]), 0);
    }
    for (int i = 0; i < 3; i++) pthread_join(threads[i], NULL);
    int total = 0;
    for (int i = 0; i < 3; i++) {
        if (runs[i].result < 0) fail_msg("migrate %d: %s", i, runs[i].err.msg);
        total += runs[i].result;
    }
    assert_int_equal(total, (int)mc_migrations_count);

    mc_err err = {0};
    mc_db *fresh = runs[0].db;
    assert_int_equal(mc_db_migrate(fresh, &err), 0);
    mc_db_conn *c = mc_db_acquire(fresh, MC_DB_MASTER, &err);
    assert_non_null(c);
    assert_schema_tables(c);
    mc_db_rows rows;
    query1(c, "SELECT COUNT(*) FROM tenants WHERE id = 'local'", MC_DB_NO_ARGS, &rows);
    assert_string_equal(mc_db_rows_get(&rows, 0, 0), "1");
    mc_db_rows_free(&rows);
    mc_db_release(c);

    assert_int_equal(mc_db_exec(fresh, MC_DB_MASTER,
                                "UPDATE schema_migrations SET checksum = REPEAT('0', 64) WHERE version = 1",
                                MC_DB_NO_ARGS, NULL, &err), 0);
    assert_int_equal(mc_db_migrate(fresh, &err), -1);
    assert_int_equal(err.kind, MC_ERR_CONFLICT);
    assert_non_null(strstr(err.msg, mc_migrations[0].file));

    for (int i = 0; i < 3; i++) mc_db_close(runs[i].db);
}

/* ---- Routing and read-your-writes ------------------------------------------------ */

static void write_on_master_is_read_back_from_replica(void **state) {
    (void)state;
    char id[64];
    itest_unique(id, sizeof id, "rw");
    mc_err err = {0};
    mc_db_info info = {0};
    exec_ok(db, "INSERT INTO tenants (id, name) VALUES (?, ?)",
            MC_DB_ARGS(mc_db_str(id), mc_db_str("written on master")), &info);
    assert_int_equal(info.affected_rows, 1);

    char gtid[MC_DB_GTID_MAX];
    assert_int_equal(mc_db_master_gtid(db, gtid, sizeof gtid, &err), 0);
    assert_true(strlen(gtid) > 0);
    if (mc_db_wait_replica(db, gtid, 20, &err) < 0) fail_msg("wait replica: %s", err.msg);

    mc_db_conn *c = mc_db_acquire(db, MC_DB_REPLICA, &err);
    assert_non_null(c);
    mc_db_rows rows;
    query1(c, "SELECT @@server_id, @@read_only, name FROM tenants WHERE id = ?",
           MC_DB_ARGS(mc_db_str(id)), &rows);
    assert_int_equal(atol(mc_db_rows_get(&rows, 0, 0)), replica_server_id);
    assert_string_equal(mc_db_rows_get(&rows, 0, 1), "1");
    assert_string_equal(mc_db_rows_get(&rows, 0, 2), "written on master");
    mc_db_rows_free(&rows);
    mc_db_release(c);
    delete_tenant(id);
}

/* The same through the GTID of the writing connection and a commit. */
static void committed_transaction_gtid_is_awaited_on_replica(void **state) {
    (void)state;
    char id[64];
    itest_unique(id, sizeof id, "gtid");
    mc_err err = {0};
    mc_db_conn *c = mc_db_acquire(db, MC_DB_MASTER, &err);
    assert_non_null(c);
    assert_int_equal(mc_db_begin(c, &err), 0);
    assert_int_equal(mc_db_conn_exec(c, "INSERT INTO tenants (id, name) VALUES (?, 'via tx')",
                                     MC_DB_ARGS(mc_db_str(id)), NULL, &err), 0);
    assert_int_equal(mc_db_commit(c, &err), 0);
    char gtid[MC_DB_GTID_MAX];
    assert_int_equal(mc_db_conn_last_gtid(c, gtid, sizeof gtid, &err), 0);
    mc_db_release(c);
    assert_non_null(strchr(gtid, '-'));
    if (mc_db_wait_replica(db, gtid, 20, &err) < 0) fail_msg("wait replica: %s", err.msg);

    c = mc_db_acquire(db, MC_DB_REPLICA, &err);
    assert_non_null(c);
    mc_db_rows rows;
    query1(c, "SELECT @@server_id, name FROM tenants WHERE id = ?", MC_DB_ARGS(mc_db_str(id)), &rows);
    assert_int_equal(atol(mc_db_rows_get(&rows, 0, 0)), replica_server_id);
    assert_string_equal(mc_db_rows_get(&rows, 0, 1), "via tx");
    mc_db_rows_free(&rows);
    mc_db_release(c);
    delete_tenant(id);
}

static void replica_wait_for_unreached_gtid_is_unavailable(void **state) {
    (void)state;
    mc_err err = {0};
    assert_int_equal(mc_db_wait_replica(db, "0-1-999999999999", 0.5, &err), -1);
    assert_int_equal(err.kind, MC_ERR_UNAVAILABLE);
    assert_int_equal(mc_db_wait_replica(db, "0-1-1", 3600, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);
}

static void replica_reads_fall_back_to_master_while_replica_unreachable(void **state) {
    (void)state;
    mc_err err = {0};
    assert_int_equal(routed_server_id(db, MC_DB_REPLICA), replica_server_id);

    assert_int_equal(mc_db_set_replica(db, "127.0.0.1:1", &err), 0);
    assert_int_equal(routed_server_id(db, MC_DB_REPLICA), master_server_id);
    assert_int_equal(mc_db_ping(db, MC_DB_REPLICA, &err), -1);
    assert_int_equal(err.kind, MC_ERR_UNAVAILABLE);

    assert_int_equal(mc_db_set_replica(db, replica_addr, &err), 0);
    assert_int_equal(routed_server_id(db, MC_DB_REPLICA), replica_server_id);
    assert_int_equal(mc_db_ping(db, MC_DB_REPLICA, &err), 0);

    assert_int_equal(mc_db_set_replica(db, "", &err), 0);
    assert_int_equal(routed_server_id(db, MC_DB_REPLICA), master_server_id);
    assert_int_equal(mc_db_ping(db, MC_DB_REPLICA, &err), -1);
    assert_int_equal(err.kind, MC_ERR_NOT_FOUND);
    assert_int_equal(mc_db_set_replica(db, replica_addr, &err), 0);
}

static void replica_within_lag_bound_serves_reads(void **state) {
    (void)state;
    mc_db *lagcheck = open_db(2, 60);
    for (int i = 0; i < 3; i++) assert_int_equal(routed_server_id(lagcheck, MC_DB_REPLICA), replica_server_id);
    mc_db_close(lagcheck);
}

static void master_change_without_restart(void **state) {
    (void)state;
    char id[64];
    itest_unique(id, sizeof id, "switch");
    mc_err err = {0};

    assert_int_equal(mc_db_set_master(db, "127.0.0.1:99999", &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);

    assert_int_equal(mc_db_set_master(db, "127.0.0.1:1", &err), 0);
    assert_int_equal(mc_db_exec(db, MC_DB_MASTER, "INSERT INTO tenants (id, name) VALUES (?, 'x')",
                                MC_DB_ARGS(mc_db_str(id)), NULL, &err), -1);
    assert_int_equal(err.kind, MC_ERR_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "127.0.0.1:1"));
    assert_int_equal(routed_server_id(db, MC_DB_REPLICA), replica_server_id);

    assert_int_equal(mc_db_set_master(db, master_addr, &err), 0);
    exec_ok(db, "INSERT INTO tenants (id, name) VALUES (?, 'x')", MC_DB_ARGS(mc_db_str(id)), NULL);
    assert_int_equal(count_tenant(db, MC_DB_MASTER, id), 1);
    delete_tenant(id);
}

static long connection_id(mc_db_conn *c) {
    mc_db_rows rows;
    query1(c, "SELECT CONNECTION_ID()", MC_DB_NO_ARGS, &rows);
    long id = atol(mc_db_rows_get(&rows, 0, 0));
    mc_db_rows_free(&rows);
    return id;
}

/* A connection in use while the master changes is closed when released, not
 * pooled: the next checkout gets a new session. */
static void connections_in_use_during_master_change_are_not_reused(void **state) {
    (void)state;
    mc_err err = {0};
    mc_db *one = open_db(1, 0);
    mc_db_conn *c = mc_db_acquire(one, MC_DB_MASTER, &err);
    assert_non_null(c);
    long before = connection_id(c);
    mc_db_release(c);
    c = mc_db_acquire(one, MC_DB_MASTER, &err);
    assert_int_equal(connection_id(c), before);

    assert_int_equal(mc_db_set_master(one, master_addr, &err), 0);
    mc_db_release(c);
    c = mc_db_acquire(one, MC_DB_MASTER, &err);
    assert_non_null(c);
    assert_int_not_equal(connection_id(c), before);
    mc_db_release(c);
    mc_db_close(one);
}

/* ---- Statements and values ----------------------------------------------------------- */

static void hostile_values_round_trip_through_bound_parameters(void **state) {
    (void)state;
    const char *values[] = {
        "Robert'); DROP TABLE tenants;--",
        "' OR '1'='1",
        "\"double\" `back` \\ slash \\' %s %n",
        "日本語のタイトル ñ ü 😀 🎬",
    };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char id[64];
        itest_unique(id, sizeof id, "hostile");
        exec_ok(db, "INSERT INTO tenants (id, name) VALUES (?, ?)",
                MC_DB_ARGS(mc_db_str(id), mc_db_str(values[i])), NULL);
        mc_err err = {0};
        mc_db_rows rows;
        assert_int_equal(mc_db_query(db, MC_DB_MASTER, "SELECT id, name, CHAR_LENGTH(name) FROM tenants "
                                                       "WHERE id = ? AND name = ?",
                                     MC_DB_ARGS(mc_db_str(id), mc_db_str(values[i])), &rows, &err), 0);
        assert_int_equal(rows.nrows, 1);
        assert_string_equal(mc_db_rows_get(&rows, 0, 0), id);
        assert_int_equal(rows.len[1], strlen(values[i]));
        assert_memory_equal(mc_db_rows_get(&rows, 0, 1), values[i], strlen(values[i]));
        mc_db_rows_free(&rows);
        delete_tenant(id);
    }
    assert_int_equal(count_tenant(db, MC_DB_MASTER, "local"), 1);
}

static void typed_parameters_nulls_and_large_values(void **state) {
    (void)state;
    mc_err err = {0};
    mc_db_rows rows;
    const unsigned char blob[] = {0x00, 0x01, 0xff};
    assert_int_equal(mc_db_query(db, MC_DB_REPLICA, "SELECT ?, ?, ?, ? IS NULL, HEX(?), NULL",
                                 MC_DB_ARGS(mc_db_i64(-5), mc_db_u64(UINT64_MAX), mc_db_f64(0.5),
                                            mc_db_null(), mc_db_blob(blob, sizeof blob)),
                                 &rows, &err), 0);
    assert_int_equal(rows.ncols, 6);
    assert_string_equal(mc_db_rows_get(&rows, 0, 0), "-5");
    assert_string_equal(mc_db_rows_get(&rows, 0, 1), "18446744073709551615");
    assert_string_equal(mc_db_rows_get(&rows, 0, 2), "0.5");
    assert_string_equal(mc_db_rows_get(&rows, 0, 3), "1");
    assert_string_equal(mc_db_rows_get(&rows, 0, 4), "0001FF");
    assert_null(mc_db_rows_get(&rows, 0, 5));
    mc_db_rows_free(&rows);

    size_t big = 200000;
    char *value = malloc(big + 1);
    for (size_t i = 0; i < big; i++) value[i] = (char)('a' + i % 26);
    value[big] = '\0';
    assert_int_equal(mc_db_query(db, MC_DB_MASTER, "SELECT ?, LENGTH(?)",
                                 MC_DB_ARGS(mc_db_str(value), mc_db_str(value)), &rows, &err), 0);
    assert_int_equal(rows.len[0], big);
    assert_string_equal(mc_db_rows_get(&rows, 0, 0), value);
    assert_string_equal(mc_db_rows_get(&rows, 0, 1), "200000");
    mc_db_rows_free(&rows);
    free(value);

    /* Values of growing and shrinking sizes in one result. */
    assert_int_equal(mc_db_query(db, MC_DB_MASTER,
                                 "SELECT n, REPEAT('y', n) FROM (SELECT 1 AS k, 10 AS n UNION ALL "
                                 "SELECT 2, 5000 UNION ALL SELECT 3, 20 UNION ALL SELECT 4, 70000) t ORDER BY k",
                                 MC_DB_NO_ARGS, &rows, &err), 0);
    assert_int_equal(rows.nrows, 4);
    for (size_t r = 0; r < rows.nrows; r++) {
        size_t n = strtoul(mc_db_rows_get(&rows, r, 0), NULL, 10);
        assert_int_equal(rows.len[r * 2 + 1], n);
        assert_int_equal(strlen(mc_db_rows_get(&rows, r, 1)), n);
    }
    mc_db_rows_free(&rows);
}

static int count_until_three(void *ud, const mc_db_row *row, mc_err *err) {
    (void)err;
    int *seen = ud;
    assert_int_equal(row->ncols, 1);
    (*seen)++;
    return atoi(row->val[0]) == 3 ? 1 : 0;
}

static int fail_on_second(void *ud, const mc_db_row *row, mc_err *err) {
    (void)row;
    int *seen = ud;
    if (++*seen == 2) return mc_err_set(err, MC_ERR_INVALID, "row callback refused row 2");
    return 0;
}

static void row_callback_can_stop_or_fail(void **state) {
    (void)state;
    const char *sql = "SELECT k FROM (SELECT 1 AS k UNION ALL SELECT 2 UNION ALL SELECT 3 "
                      "UNION ALL SELECT 4 UNION ALL SELECT 5) t ORDER BY k";
    mc_err err = {0};
    int seen = 0;
    assert_int_equal(mc_db_query_each(db, MC_DB_REPLICA, sql, MC_DB_NO_ARGS, count_until_three, &seen, &err), 0);
    assert_int_equal(seen, 3);
    seen = 0;
    assert_int_equal(mc_db_query_each(db, MC_DB_REPLICA, sql, MC_DB_NO_ARGS, fail_on_second, &seen, &err), -1);
    assert_int_equal(seen, 2);
    assert_int_equal(err.kind, MC_ERR_INVALID);
    assert_string_equal(err.msg, "row callback refused row 2");
}

static void errors_map_to_kinds(void **state) {
    (void)state;
    char id[64];
    itest_unique(id, sizeof id, "dup");
    mc_err err = {0};
    exec_ok(db, "INSERT INTO tenants (id, name) VALUES (?, 'first')", MC_DB_ARGS(mc_db_str(id)), NULL);
    assert_int_equal(mc_db_exec(db, MC_DB_MASTER, "INSERT INTO tenants (id, name) VALUES (?, 'second')",
                                MC_DB_ARGS(mc_db_str(id)), NULL, &err), -1);
    assert_int_equal(err.kind, MC_ERR_CONFLICT);
    assert_int_equal(err.status, 1062);
    assert_string_equal(err.code, "23000");
    delete_tenant(id);

    assert_int_equal(mc_db_exec(db, MC_DB_MASTER, "SELEC 1", MC_DB_NO_ARGS, NULL, &err), -1);
    assert_int_equal(err.kind, MC_ERR_REMOTE);
    assert_int_equal(err.status, 1064);

    assert_int_equal(mc_db_exec(db, MC_DB_MASTER, "SELECT ?", MC_DB_NO_ARGS, NULL, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);

    mc_db_config cfg;
    config_from_itest_env(&cfg);
    snprintf(cfg.password, sizeof cfg.password, "wrong-password");
    mc_db *bad = mc_db_open(&cfg, &err);
    assert_non_null(bad);
    assert_int_equal(mc_db_ping(bad, MC_DB_MASTER, &err), -1);
    assert_int_equal(err.kind, MC_ERR_AUTH);
    assert_int_equal(err.status, 1045);
    mc_db_close(bad);
}

/* ---- Transactions ------------------------------------------------------------------------- */

static void rollback_and_abandoned_transaction_leave_no_row(void **state) {
    (void)state;
    char id[64];
    itest_unique(id, sizeof id, "rollback");
    mc_err err = {0};
    mc_db_conn *c = mc_db_acquire(db, MC_DB_MASTER, &err);
    assert_non_null(c);
    assert_int_equal(mc_db_begin(c, &err), 0);
    assert_int_equal(mc_db_conn_exec(c, "INSERT INTO tenants (id, name) VALUES (?, 'tx')",
                                     MC_DB_ARGS(mc_db_str(id)), NULL, &err), 0);
    mc_db_rows rows;
    query1(c, "SELECT COUNT(*) FROM tenants WHERE id = ?", MC_DB_ARGS(mc_db_str(id)), &rows);
    assert_string_equal(mc_db_rows_get(&rows, 0, 0), "1");
    mc_db_rows_free(&rows);
    assert_int_equal(mc_db_rollback(c, &err), 0);
    assert_int_equal(count_tenant(db, MC_DB_MASTER, id), 0);

    /* Released with the transaction still open: rolled back too. */
    assert_int_equal(mc_db_begin(c, &err), 0);
    assert_int_equal(mc_db_conn_exec(c, "INSERT INTO tenants (id, name) VALUES (?, 'tx')",
                                     MC_DB_ARGS(mc_db_str(id)), NULL, &err), 0);
    mc_db_release(c);
    assert_int_equal(count_tenant(db, MC_DB_MASTER, id), 0);
}

static void committed_transaction_writes_all_rows(void **state) {
    (void)state;
    char id[64];
    itest_unique(id, sizeof id, "commit");
    mc_err err = {0};
    mc_db_conn *c = mc_db_acquire(db, MC_DB_MASTER, &err);
    assert_non_null(c);
    assert_int_equal(mc_db_begin(c, &err), 0);
    assert_int_equal(mc_db_begin(c, &err), -1);
    mc_db_info info = {0};
    assert_int_equal(mc_db_conn_exec(c, "INSERT INTO tenants (id, name) VALUES (?, 'tx')",
                                     MC_DB_ARGS(mc_db_str(id)), &info, &err), 0);
    assert_int_equal(info.affected_rows, 1);
    assert_int_equal(mc_db_conn_exec(c, "INSERT INTO outbox (topic, msg_key, payload) VALUES (?, ?, ?)",
                                     MC_DB_ARGS(mc_db_str("mcloud.itest"), mc_db_str(id),
                                                mc_db_str("{\"v\":1}")), &info, &err), 0);
    assert_true(info.insert_id > 0);
    assert_int_equal(mc_db_commit(c, &err), 0);
    mc_db_release(c);

    assert_int_equal(count_tenant(db, MC_DB_MASTER, id), 1);
    mc_db_rows rows;
    assert_int_equal(mc_db_query(db, MC_DB_MASTER, "SELECT msg_key FROM outbox WHERE id = ?",
                                 MC_DB_ARGS(mc_db_u64(info.insert_id)), &rows, &err), 0);
    assert_string_equal(mc_db_rows_get(&rows, 0, 0), id);
    mc_db_rows_free(&rows);
    exec_ok(db, "DELETE FROM outbox WHERE id = ?", MC_DB_ARGS(mc_db_u64(info.insert_id)), NULL);
    delete_tenant(id);
}

/* Two transactions update the same two rows in opposite orders, each
 * waiting for the other's first update (a barrier, first attempt only): the
 * server picks one as the deadlock victim (1213); mc_db_transaction runs the
 * victim again, so both commit and the body ran three times in all. */
typedef struct crossing {
    const char *first, *second;
    pthread_barrier_t *barrier;
    int runs;
    int rc;
    mc_err err;
} crossing;

static int crossing_body(mc_db_conn *c, void *arg, mc_err *err) {
    crossing *x = arg;
    x->runs++;
    if (mc_db_conn_exec(c, "UPDATE tenants SET name = ? WHERE id = ?",
                        MC_DB_ARGS(mc_db_str(x->first), mc_db_str(x->first)), NULL, err) < 0)
        return -1;
    if (x->runs == 1) pthread_barrier_wait(x->barrier);
    return mc_db_conn_exec(c, "UPDATE tenants SET name = ? WHERE id = ?",
                           MC_DB_ARGS(mc_db_str(x->first), mc_db_str(x->second)), NULL, err);
}

static void *crossing_main(void *arg) {
    crossing *x = arg;
    x->rc = mc_db_transaction(db, MC_DB_MASTER, crossing_body, x, &x->err);
    return NULL;
}

static void deadlock_victim_transaction_runs_again(void **state) {
    (void)state;
    char a[64], b[64];
    itest_unique(a, sizeof a, "dlka");
    itest_unique(b, sizeof b, "dlkb");
    exec_ok(db, "INSERT INTO tenants (id, name) VALUES (?, 'a'), (?, 'b')",
            MC_DB_ARGS(mc_db_str(a), mc_db_str(b)), NULL);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 2);
    crossing x = {a, b, &barrier, 0, 0, {0}}, y = {b, a, &barrier, 0, 0, {0}};
    pthread_t tx, ty;
    assert_int_equal(pthread_create(&tx, NULL, crossing_main, &x), 0);
    assert_int_equal(pthread_create(&ty, NULL, crossing_main, &y), 0);
    pthread_join(tx, NULL);
    pthread_join(ty, NULL);
    pthread_barrier_destroy(&barrier);
    if (x.rc < 0) fail_msg("first transaction: %s", x.err.msg);
    if (y.rc < 0) fail_msg("second transaction: %s", y.err.msg);
    /* the precondition: one of them really was a deadlock victim */
    assert_int_equal(x.runs + y.runs, 3);
    /* the one run again committed last: both rows carry its name */
    const char *last = x.runs == 2 ? a : b;
    mc_db_rows rows;
    mc_err err = {0};
    assert_int_equal(mc_db_query(db, MC_DB_MASTER, "SELECT COUNT(*) FROM tenants WHERE id IN (?, ?) AND name = ?",
                                 MC_DB_ARGS(mc_db_str(a), mc_db_str(b), mc_db_str(last)), &rows, &err), 0);
    assert_string_equal(mc_db_rows_get(&rows, 0, 0), "2");
    mc_db_rows_free(&rows);
    delete_tenant(a);
    delete_tenant(b);
}

/* Any other error is returned at once, rolled back, never run again. */
static int failing_body(mc_db_conn *c, void *arg, mc_err *err) {
    int *runs = arg;
    (*runs)++;
    return mc_db_conn_exec(c, "SELECT * FROM no_such_table_here", MC_DB_NO_ARGS, NULL, err);
}

static void transaction_error_is_not_retried(void **state) {
    (void)state;
    int runs = 0;
    mc_err err = {0};
    assert_int_equal(mc_db_transaction(db, MC_DB_MASTER, failing_body, &runs, &err), -1);
    assert_int_equal(runs, 1);
    assert_false(mc_db_err_is_tx_conflict(&err));
    assert_int_equal(err.status, 1146); /* ER_NO_SUCH_TABLE */
}

/* ---- Broken connections and the pool ------------------------------------------------------ */

static void killed_pooled_connection_is_replaced(void **state) {
    (void)state;
    mc_err err = {0};
    mc_db *one = open_db(1, 0);
    mc_db_conn *c = mc_db_acquire(one, MC_DB_MASTER, &err);
    assert_non_null(c);
    long victim = connection_id(c);
    mc_db_release(c);
    exec_ok(db, "KILL CONNECTION ?", MC_DB_ARGS(mc_db_i64(victim)), NULL);

    /* The idle connection is dead; the next statement transparently gets a new one. */
    mc_db_rows rows;
    assert_int_equal(mc_db_query(one, MC_DB_MASTER, "SELECT CONNECTION_ID()", MC_DB_NO_ARGS, &rows, &err), 0);
    long replacement = atol(mc_db_rows_get(&rows, 0, 0));
    mc_db_rows_free(&rows);
    assert_int_not_equal(replacement, victim);

    /* Killed inside a transaction: the failure is reported, never retried. */
    c = mc_db_acquire(one, MC_DB_MASTER, &err);
    assert_non_null(c);
    assert_int_equal(connection_id(c), replacement);
    assert_int_equal(mc_db_begin(c, &err), 0);
    exec_ok(db, "KILL CONNECTION ?", MC_DB_ARGS(mc_db_i64(replacement)), NULL);
    assert_int_equal(mc_db_conn_exec(c, "SELECT 1", MC_DB_NO_ARGS, NULL, &err), -1);
    assert_int_equal(err.kind, MC_ERR_UNAVAILABLE);
    mc_db_release(c);

    /* The pool (size 1) is usable again. */
    assert_int_equal(mc_db_ping(one, MC_DB_MASTER, &err), 0);
    mc_db_close(one);
}

#define THREADS 6
#define ROUNDS 40
#define POOL 2

typedef struct worker {
    mc_db *db;
    int index;
    long conn_ids[ROUNDS];
    int failures;
    mc_err err;
} worker;

static void *worker_main(void *arg) {
    worker *w = arg;
    for (int i = 0; i < ROUNDS; i++) {
        char want[64];
        snprintf(want, sizeof want, "%d:%d", w->index, i);
        mc_db_target target = i % 2 ? MC_DB_REPLICA : MC_DB_MASTER;
        mc_db_rows rows;
        if (mc_db_query(w->db, target, "SELECT CONCAT(?, ':', ?), CONNECTION_ID(), @@server_id",
                        MC_DB_ARGS(mc_db_i64(w->index), mc_db_i64(i)), &rows, &w->err) < 0) {
            w->failures++;
            continue;
        }
        if (strcmp(mc_db_rows_get(&rows, 0, 0), want) != 0) w->failures++;
        long server = atol(mc_db_rows_get(&rows, 0, 2));
        if (server != (target == MC_DB_MASTER ? master_server_id : replica_server_id)) w->failures++;
        w->conn_ids[i] = target == MC_DB_MASTER ? atol(mc_db_rows_get(&rows, 0, 1)) : 0;
        mc_db_rows_free(&rows);
    }
    return NULL;
}

static void pool_serves_concurrent_threads_within_its_bound(void **state) {
    (void)state;
    mc_db *shared = open_db(POOL, 0);
    worker workers[THREADS];
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) {
        memset(&workers[t], 0, sizeof workers[t]);
        workers[t].db = shared;
        workers[t].index = t;
        assert_int_equal(pthread_create(&threads[t], NULL, worker_main, &workers[t]), 0);
    }
    long distinct[THREADS * ROUNDS];
    size_t ndistinct = 0;
    for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
    for (int t = 0; t < THREADS; t++) {
        if (workers[t].failures) fail_msg("thread %d: %d failures, last: %s", t, workers[t].failures, workers[t].err.msg);
        for (int i = 0; i < ROUNDS; i++) {
            long id = workers[t].conn_ids[i];
            int known = id == 0;
            for (size_t k = 0; k < ndistinct && !known; k++) known = distinct[k] == id;
            if (!known) distinct[ndistinct++] = id;
        }
    }
    assert_true(ndistinct >= 1);
    assert_true(ndistinct <= POOL);
    mc_db_close(shared);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(migrate_again_is_a_noop_and_schema_reaches_replica),
        cmocka_unit_test_teardown(fresh_database_is_migrated_once_by_concurrent_starts, drop_scratch_schema),
        cmocka_unit_test(write_on_master_is_read_back_from_replica),
        cmocka_unit_test(committed_transaction_gtid_is_awaited_on_replica),
        cmocka_unit_test(replica_wait_for_unreached_gtid_is_unavailable),
        cmocka_unit_test(replica_reads_fall_back_to_master_while_replica_unreachable),
        cmocka_unit_test(replica_within_lag_bound_serves_reads),
        cmocka_unit_test(master_change_without_restart),
        cmocka_unit_test(connections_in_use_during_master_change_are_not_reused),
        cmocka_unit_test(hostile_values_round_trip_through_bound_parameters),
        cmocka_unit_test(typed_parameters_nulls_and_large_values),
        cmocka_unit_test(row_callback_can_stop_or_fail),
        cmocka_unit_test(errors_map_to_kinds),
        cmocka_unit_test(rollback_and_abandoned_transaction_leave_no_row),
        cmocka_unit_test(committed_transaction_writes_all_rows),
        cmocka_unit_test(deadlock_victim_transaction_runs_again),
        cmocka_unit_test(transaction_error_is_not_retried),
        cmocka_unit_test(killed_pooled_connection_is_replaced),
        cmocka_unit_test(pool_serves_concurrent_threads_within_its_bound),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
