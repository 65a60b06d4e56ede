/* Unit tests of the MySQL client's configuration: defaults, the environment
 * overrides, address validation (mc_db_open and mc_db_set_master validate
 * without connecting) and the parameter helpers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/mysql.h"

static const char *const env_names[] = {
    "MCLOUD_MYSQL_MASTER", "MCLOUD_MYSQL_REPLICA", "MCLOUD_MYSQL_USER",
    "MCLOUD_MYSQL_PASSWORD", "MCLOUD_MYSQL_DATABASE", "MCLOUD_MYSQL_POOL_SIZE",
    "MCLOUD_MYSQL_CONNECT_TIMEOUT_S", "MCLOUD_MYSQL_READ_TIMEOUT_S", "MCLOUD_MYSQL_REPLICA_MAX_LAG_S",
};

static int clear_env(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof env_names / sizeof env_names[0]; i++) unsetenv(env_names[i]);
    return 0;
}

/* The mysql.* settings as the configuration resolves them. */
static int config_from(mc_db_config *cfg, mc_err *err) {
    mc_config *settings = mc_config_load(NULL, NULL);
    int rc = mc_db_config_from(settings, cfg, err);
    mc_config_free(settings);
    return rc;
}

static void defaults_work_on_one_machine(void **state) {
    (void)state;
    mc_db_config cfg;
    mc_err err = {0};
    assert_int_equal(config_from(&cfg, &err), 0);
    assert_string_equal(cfg.master, "127.0.0.1:13306");
    assert_string_equal(cfg.replica, "127.0.0.1:13307");
    assert_string_equal(cfg.user, "mcloud");
    assert_string_equal(cfg.database, "mcloud");
    assert_int_equal(cfg.pool_size, 4);
    assert_int_equal(cfg.connect_timeout_s, 5);
    assert_int_equal(cfg.read_timeout_s, 30);
    assert_int_equal(cfg.replica_max_lag_s, 0);
}

static void environment_overrides_defaults(void **state) {
    (void)state;
    setenv("MCLOUD_MYSQL_MASTER", "db1.internal:3307", 1);
    setenv("MCLOUD_MYSQL_REPLICA", "[::1]:3308", 1);
    setenv("MCLOUD_MYSQL_USER", "svc", 1);
    setenv("MCLOUD_MYSQL_PASSWORD", "p@ss word", 1);
    setenv("MCLOUD_MYSQL_DATABASE", "vod", 1);
    setenv("MCLOUD_MYSQL_POOL_SIZE", "9", 1);
    setenv("MCLOUD_MYSQL_REPLICA_MAX_LAG_S", "3", 1);
    mc_db_config cfg;
    mc_err err = {0};
    assert_int_equal(config_from(&cfg, &err), 0);
    assert_string_equal(cfg.master, "db1.internal:3307");
    assert_string_equal(cfg.replica, "[::1]:3308");
    assert_string_equal(cfg.user, "svc");
    assert_string_equal(cfg.password, "p@ss word");
    assert_string_equal(cfg.database, "vod");
    assert_int_equal(cfg.pool_size, 9);
    assert_int_equal(cfg.replica_max_lag_s, 3);

    mc_db *db = mc_db_open(&cfg, &err);
    assert_non_null(db);
    mc_db_close(db);
}

static void malformed_numbers_are_rejected(void **state) {
    (void)state;
    mc_db_config cfg;
    mc_err err = {0};
    setenv("MCLOUD_MYSQL_POOL_SIZE", "four", 1);
    assert_int_equal(config_from(&cfg, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);
    assert_non_null(strstr(err.msg, "MCLOUD_MYSQL_POOL_SIZE"));
    setenv("MCLOUD_MYSQL_POOL_SIZE", "0", 1);
    assert_int_equal(config_from(&cfg, &err), -1);
    unsetenv("MCLOUD_MYSQL_POOL_SIZE");
    setenv("MCLOUD_MYSQL_READ_TIMEOUT_S", "30s", 1);
    assert_int_equal(config_from(&cfg, &err), -1);
    assert_non_null(strstr(err.msg, "MCLOUD_MYSQL_READ_TIMEOUT_S"));
}

static void bad_addresses_are_rejected_without_connecting(void **state) {
    (void)state;
    const char *bad[] = {":3306", "host:", "host:0", "host:65536", "host:12x", "[::1", "[::1]x", "[]:3306"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mc_db_config cfg;
        mc_db_config_defaults(&cfg);
        snprintf(cfg.master, sizeof cfg.master, "%s", bad[i]);
        mc_err err = {0};
        if (mc_db_open(&cfg, &err)) fail_msg("'%s' was accepted", bad[i]);
        assert_int_equal(err.kind, MC_ERR_INVALID);
    }
    mc_db_config cfg;
    mc_db_config_defaults(&cfg);
    cfg.master[0] = '\0';
    mc_err err = {0};
    assert_null(mc_db_open(&cfg, &err));

    mc_db_config_defaults(&cfg);
    snprintf(cfg.replica, sizeof cfg.replica, "replica");
    mc_db *db = mc_db_open(&cfg, &err);
    assert_non_null(db);
    assert_int_equal(mc_db_set_master(db, "host:70000", &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);
    assert_int_equal(mc_db_set_master(db, "", &err), -1);
    assert_int_equal(mc_db_set_master(db, "other-host:3306", &err), 0);
    assert_int_equal(mc_db_set_replica(db, "", &err), 0);
    mc_db_close(db);
}

static void wait_timeout_must_be_below_read_timeout(void **state) {
    (void)state;
    mc_db_config cfg;
    mc_db_config_defaults(&cfg);
    mc_err err = {0};
    mc_db *db = mc_db_open(&cfg, &err);
    assert_non_null(db);
    assert_int_equal(mc_db_wait_replica(db, "0-1-1", 0, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);
    assert_int_equal(mc_db_wait_replica(db, "0-1-1", 30, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);
    /* Without a replica, replica reads go to the master: nothing to wait for. */
    assert_int_equal(mc_db_wait_replica(db, "0-1-1", 1, &err), 0);
    mc_db_close(db);
}

static size_t count_args(const mc_db_param *params, size_t n) {
    (void)params;
    return n;
}

static void parameter_helpers_describe_values(void **state) {
    (void)state;
    assert_int_equal(count_args(MC_DB_ARGS(mc_db_str("a"), mc_db_i64(-1), mc_db_null())), 3);
    assert_int_equal(count_args(MC_DB_NO_ARGS), 0);
    mc_db_param p = mc_db_str(NULL);
    assert_int_equal(p.type, MC_DB_PARAM_NULL);
    p = mc_db_str("héllo");
    assert_int_equal(p.type, MC_DB_PARAM_TEXT);
    assert_int_equal(p.len, strlen("héllo"));
    p = mc_db_strn("abc", 2);
    assert_int_equal(p.len, 2);
    p = mc_db_u64(UINT64_MAX);
    assert_int_equal(p.type, MC_DB_PARAM_U64);
    assert_true(p.u64 == UINT64_MAX);
}

static void rows_accessor_is_bounds_checked(void **state) {
    (void)state;
    char a[] = "x";
    char *val[] = {a, NULL};
    size_t len[] = {1, 0};
    mc_db_rows rows = {.nrows = 1, .ncols = 2, .val = val, .len = len};
    assert_string_equal(mc_db_rows_get(&rows, 0, 0), "x");
    assert_null(mc_db_rows_get(&rows, 0, 1));
    assert_null(mc_db_rows_get(&rows, 0, 2));
    assert_null(mc_db_rows_get(&rows, 1, 0));
    assert_null(mc_db_rows_get(NULL, 0, 0));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(defaults_work_on_one_machine, clear_env),
        cmocka_unit_test_setup(environment_overrides_defaults, clear_env),
        cmocka_unit_test_setup(malformed_numbers_are_rejected, clear_env),
        cmocka_unit_test(bad_addresses_are_rejected_without_connecting),
        cmocka_unit_test(wait_timeout_must_be_below_read_timeout),
        cmocka_unit_test(parameter_helpers_describe_values),
        cmocka_unit_test(rows_accessor_is_bounds_checked),
    };
    return cmocka_run_group_tests(tests, clear_env, NULL);
}
