/* The config service against the real Redis (and MariaDB): precedence
 * environment > Redis > default at load, changes applied while running, and
 * the MySQL client following a new master address published in Redis
 * without a restart. */
#include "itest.h"

#include <stdatomic.h>

#include "common/config.h"
#include "common/config_watch.h"
#include "common/mysql.h"
#include "common/redis.h"
#include "common/redis_config.h"

static const char *const touched[] = {"s3.bucket", "s3.region", "s3.endpoint", "mysql.master"};

/* The settings live in a Redis database of their own: the stack's daemons
 * read database 0, and its mcloud-dbmon answers an unreachable mysql.master
 * there by re-announcing the acting master within a round, which would
 * undo the fake master the last test publishes (and make it pass or fail
 * by timing). Pub/sub channels span databases, so the watcher still hears
 * the changes. */
#define CONFIG_TEST_DB 9

static mc_redis_options redis_opts(void) {
    mc_redis_options o = {.addr = itest_env("MCLOUD_REDIS"), .db = CONFIG_TEST_DB, .client_name = "itest-config"};
    return o;
}

/* Leaves no test value behind between tests. */
static void forget_touched_settings(mc_redis *r) {
    for (size_t i = 0; i < sizeof touched / sizeof *touched; i++) {
        mc_err err = {0};
        redisReply *reply = mc_redis_command(r, &err, "DEL mcloud:config:%s", touched[i]);
        if (!reply) fail_msg("DEL %s: %s", touched[i], err.msg);
        freeReplyObject(reply);
    }
}

static int setup(void **state) {
    mc_redis_options o = redis_opts();
    mc_err err = {0};
    mc_redis *r = mc_redis_connect(&o, &err);
    if (!r) fail_msg("redis: %s", err.msg);
    forget_touched_settings(r);
    *state = r;
    return 0;
}

static int teardown(void **state) {
    mc_redis *r = *state;
    if (!r) return 0;
    forget_touched_settings(r);
    mc_redis_close(r);
    return 0;
}

static void set_remote(mc_redis *r, const char *name, const char *value) {
    mc_err err = {0};
    if (mc_redis_config_set(r, name, value, &err) < 0) fail_msg("set %s: %s", name, err.msg);
}

static void test_precedence_with_real_redis(void **state) {
    mc_redis *r = *state;
    char bucket[96];
    itest_unique(bucket, sizeof bucket, "bucket");
    set_remote(r, "s3.bucket", bucket);
    set_remote(r, "s3.region", "region-from-redis");
    setenv("MCLOUD_S3_REGION", "region-from-env", 1);
    unsetenv("MCLOUD_S3_BUCKET");
    unsetenv("MCLOUD_KAFKA");

    mc_config *cfg = mc_config_load(mc_config_redis_lookup, r);
    assert_string_equal(mc_config_get(cfg, "s3.bucket"), bucket);
    assert_int_equal(mc_config_origin_of(cfg, "s3.bucket"), MC_CONFIG_REDIS);
    assert_string_equal(mc_config_get(cfg, "s3.region"), "region-from-env");
    assert_int_equal(mc_config_origin_of(cfg, "s3.region"), MC_CONFIG_ENV);
    assert_string_equal(mc_config_get(cfg, "kafka"), "127.0.0.1:19092");
    assert_int_equal(mc_config_origin_of(cfg, "kafka"), MC_CONFIG_DEFAULT);
    mc_config_free(cfg);
    unsetenv("MCLOUD_S3_REGION");
}

static atomic_int applied_count;
static mc_db *followed_db;
static mc_config *followed_cfg;

/* Counts the applied changes of this test's settings only: pub/sub spans
 * Redis databases, so the stack's own publications reach the watch too. */
static void on_applied(const char *name, void *ctx) {
    (void)ctx;
    bool ours = false;
    for (size_t i = 0; i < sizeof touched / sizeof *touched; i++) ours |= strcmp(touched[i], name) == 0;
    if (!ours) return;
    if (followed_db) {
        mc_err err = {0};
        if (mc_db_apply_setting(followed_db, followed_cfg, name, &err) < 0)
            fprintf(stderr, "apply %s: %s\n", name, err.msg);
    }
    atomic_fetch_add(&applied_count, 1);
}

/* Waits (bounded) until the watch has applied more changes than before. */
static void wait_applied(int before) {
    for (int i = 0; i < 200 && atomic_load(&applied_count) <= before; i++) usleep(50 * 1000);
    assert_true(atomic_load(&applied_count) > before);
}

static void test_running_daemon_sees_changes(void **state) {
    mc_redis *r = *state;
    unsetenv("MCLOUD_S3_BUCKET");
    mc_config *cfg = mc_config_load(mc_config_redis_lookup, r);
    assert_string_equal(mc_config_get(cfg, "s3.bucket"), "mcloud");
    mc_redis_options o = redis_opts();
    mc_err err = {0};
    mc_config_watch *w = mc_config_watch_start(cfg, &o, on_applied, NULL, &err);
    if (!w) fail_msg("watch: %s", err.msg);

    int before = atomic_load(&applied_count);
    set_remote(r, "s3.bucket", "changed-bucket");
    wait_applied(before);
    assert_string_equal(mc_config_get(cfg, "s3.bucket"), "changed-bucket");
    assert_int_equal(mc_config_origin_of(cfg, "s3.bucket"), MC_CONFIG_REDIS);

    /* The environment pins a setting: its published change is not applied,
     * while a change published after it is. */
    mc_config_watch_stop(w);
    mc_config_free(cfg);
    setenv("MCLOUD_S3_ENDPOINT", "http://127.0.0.1:19000", 1);
    cfg = mc_config_load(mc_config_redis_lookup, r);
    w = mc_config_watch_start(cfg, &o, on_applied, NULL, &err);
    if (!w) fail_msg("watch: %s", err.msg);
    before = atomic_load(&applied_count);
    set_remote(r, "s3.endpoint", "http://elsewhere:9000");
    set_remote(r, "s3.bucket", "after-endpoint");
    wait_applied(before);
    assert_string_equal(mc_config_get(cfg, "s3.bucket"), "after-endpoint");
    assert_string_equal(mc_config_get(cfg, "s3.endpoint"), "http://127.0.0.1:19000");
    assert_int_equal(mc_config_origin_of(cfg, "s3.endpoint"), MC_CONFIG_ENV);
    mc_config_watch_stop(w);
    mc_config_free(cfg);
}

static int write_tenant(mc_db *db, const char *id, mc_err *err) {
    return mc_db_exec(db, MC_DB_MASTER, "INSERT INTO tenants (id, name) VALUES (?, ?)",
                      MC_DB_ARGS(mc_db_str(id), mc_db_str("config-service test")), NULL, err);
}

static void test_mysql_follows_master_published_in_redis(void **state) {
    mc_redis *r = *state;
    char master[128];
    snprintf(master, sizeof master, "%s", itest_env("MCLOUD_MYSQL_MASTER"));
    unsetenv("MCLOUD_MYSQL_MASTER"); /* the environment would pin it */

    followed_cfg = mc_config_load(mc_config_redis_lookup, r);
    mc_db_config dbc;
    mc_err err = {0};
    if (mc_db_config_from(followed_cfg, &dbc, &err) < 0) fail_msg("config: %s", err.msg);
    snprintf(dbc.master, sizeof dbc.master, "%s", master);
    followed_db = mc_db_open(&dbc, &err);
    if (!followed_db) fail_msg("open: %s", err.msg);
    set_remote(r, "mysql.master", master);
    mc_redis_options o = redis_opts();
    mc_config_watch *w = mc_config_watch_start(followed_cfg, &o, on_applied, NULL, &err);
    if (!w) fail_msg("watch: %s", err.msg);

    char id[96];
    itest_unique(id, sizeof id, "cfg-a");
    assert_int_equal(write_tenant(followed_db, id, &err), 0);

    int before = atomic_load(&applied_count);
    set_remote(r, "mysql.master", "127.0.0.1:1");
    wait_applied(before);
    itest_unique(id, sizeof id, "cfg-b");
    assert_int_equal(write_tenant(followed_db, id, &err), -1);
    assert_int_equal(err.kind, MC_ERR_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "127.0.0.1"));

    before = atomic_load(&applied_count);
    set_remote(r, "mysql.master", master);
    wait_applied(before);
    itest_unique(id, sizeof id, "cfg-c");
    assert_int_equal(write_tenant(followed_db, id, &err), 0);

    mc_config_watch_stop(w);
    mc_db_exec(followed_db, MC_DB_MASTER, "DELETE FROM tenants WHERE name = 'config-service test'",
               MC_DB_NO_ARGS, NULL, &err);
    mc_db_close(followed_db);
    followed_db = NULL;
    mc_config_free(followed_cfg);
    setenv("MCLOUD_MYSQL_MASTER", master, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_precedence_with_real_redis, setup, teardown),
        cmocka_unit_test_setup_teardown(test_running_daemon_sees_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mysql_follows_master_published_in_redis, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
