/* Configuration precedence: environment > Redis config service > default. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/config.h"

/* A remote source holding s3.bucket, s3.region and redis (local-only). */
static char *remote_lookup(void *ctx, const char *name) {
    int *calls = ctx;
    (*calls)++;
    if (strcmp(name, "s3.bucket") == 0) return strdup("bucket-from-redis");
    if (strcmp(name, "s3.region") == 0) return strdup("eu-west-3");
    if (strcmp(name, "redis") == 0) return strdup("10.0.0.1:6379");
    return NULL;
}

static void test_env_name(void **state) {
    (void)state;
    char buf[64];
    mc_config_env_name("s3.access_key", buf, sizeof buf);
    assert_string_equal(buf, "MCLOUD_S3_ACCESS_KEY");
    mc_config_env_name("redis", buf, sizeof buf);
    assert_string_equal(buf, "MCLOUD_REDIS");
}

static void test_precedence(void **state) {
    (void)state;
    setenv("MCLOUD_S3_REGION", "env-region", 1);
    unsetenv("MCLOUD_S3_BUCKET");
    unsetenv("MCLOUD_S3_ENDPOINT");
    unsetenv("MCLOUD_REDIS");
    int calls = 0;
    mc_config *cfg = mc_config_load(remote_lookup, &calls);
    assert_non_null(cfg);
    assert_string_equal(mc_config_get(cfg, "s3.region"), "env-region");
    assert_int_equal(mc_config_origin_of(cfg, "s3.region"), MC_CONFIG_ENV);
    assert_string_equal(mc_config_get(cfg, "s3.bucket"), "bucket-from-redis");
    assert_int_equal(mc_config_origin_of(cfg, "s3.bucket"), MC_CONFIG_REDIS);
    assert_string_equal(mc_config_get(cfg, "s3.endpoint"), "http://127.0.0.1:19000");
    assert_int_equal(mc_config_origin_of(cfg, "s3.endpoint"), MC_CONFIG_DEFAULT);
    /* How to reach Redis is never read from Redis. */
    assert_string_equal(mc_config_get(cfg, "redis"), "127.0.0.1:16379");
    assert_true(calls > 0);
    assert_null(mc_config_get(cfg, "no.such.setting"));
    mc_config_free(cfg);
    unsetenv("MCLOUD_S3_REGION");
}

static void test_every_setting_has_default_and_doc(void **state) {
    (void)state;
    unsetenv("MCLOUD_S3_REGION");
    mc_config *cfg = mc_config_load(NULL, NULL);
    size_t n = 0;
    for (const mc_setting *s = mc_config_settings(); s->name; s++, n++) {
        assert_non_null(s->default_value);
        assert_true(strlen(s->doc) > 10);
        assert_non_null(mc_config_get(cfg, s->name));
    }
    assert_true(n >= 15);
    mc_config_free(cfg);
}

static void test_remote_change(void **state) {
    (void)state;
    setenv("MCLOUD_MYSQL_USER", "pinned", 1);
    setenv("MCLOUD_MYSQL_REPLICA", "127.0.0.1:1", 1);
    mc_config *cfg = mc_config_load(NULL, NULL);
    const char *before = mc_config_get(cfg, "mysql.master");
    assert_true(mc_config_apply_remote(cfg, "mysql.master", "127.0.0.1:23306"));
    assert_string_equal(mc_config_get(cfg, "mysql.master"), "127.0.0.1:23306");
    assert_int_equal(mc_config_origin_of(cfg, "mysql.master"), MC_CONFIG_REDIS);
    /* The pointer handed out before the change is still readable. */
    assert_string_equal(before, "127.0.0.1:13306");
    /* The environment pins a setting against remote changes... */
    assert_false(mc_config_apply_remote(cfg, "mysql.user", "other"));
    assert_string_equal(mc_config_get(cfg, "mysql.user"), "pinned");
    /* ...but not one a failover moves (managed): the config service wins. */
    assert_string_equal(mc_config_get(cfg, "mysql.replica"), "127.0.0.1:1");
    assert_true(mc_config_apply_remote(cfg, "mysql.replica", "127.0.0.1:2"));
    assert_string_equal(mc_config_get(cfg, "mysql.replica"), "127.0.0.1:2");
    assert_int_equal(mc_config_origin_of(cfg, "mysql.replica"), MC_CONFIG_REDIS);
    /* Local-only and unknown settings ignore remote changes. */
    assert_false(mc_config_apply_remote(cfg, "redis", "10.0.0.1:6379"));
    assert_false(mc_config_apply_remote(cfg, "nope", "x"));
    /* A deleted remote value falls back to the default. */
    assert_true(mc_config_apply_remote(cfg, "mysql.master", NULL));
    assert_string_equal(mc_config_get(cfg, "mysql.master"), "127.0.0.1:13306");
    assert_int_equal(mc_config_origin_of(cfg, "mysql.master"), MC_CONFIG_DEFAULT);
    mc_config_free(cfg);
    unsetenv("MCLOUD_MYSQL_REPLICA");
    unsetenv("MCLOUD_MYSQL_USER");
}

static char *fake_remote(void *ctx, const char *name) {
    (void)ctx;
    return strcmp(name, "mysql.master") == 0 || strcmp(name, "mysql.user") == 0 ? strdup("remote:1") : NULL;
}

/* At load, the config service beats the environment for a managed setting
 * and loses to it for any other. */
static void test_managed_load(void **state) {
    (void)state;
    setenv("MCLOUD_MYSQL_MASTER", "env:1", 1);
    setenv("MCLOUD_MYSQL_USER", "env-user", 1);
    mc_config *cfg = mc_config_load(fake_remote, NULL);
    assert_string_equal(mc_config_get(cfg, "mysql.master"), "remote:1");
    assert_int_equal(mc_config_origin_of(cfg, "mysql.master"), MC_CONFIG_REDIS);
    assert_string_equal(mc_config_get(cfg, "mysql.user"), "env-user");
    mc_config_free(cfg);
    mc_config *none = mc_config_load(NULL, NULL);
    assert_string_equal(mc_config_get(none, "mysql.master"), "env:1");
    mc_config_free(none);
    unsetenv("MCLOUD_MYSQL_MASTER");
    unsetenv("MCLOUD_MYSQL_USER");
}

static void test_typed_getters(void **state) {
    (void)state;
    setenv("MCLOUD_S3_PATH_STYLE", "off", 1);
    setenv("MCLOUD_MYSQL_POOL_SIZE", "9", 1);
    mc_config *cfg = mc_config_load(NULL, NULL);
    mc_err err = {0};
    bool b = true;
    long n = 0;
    char small[4];
    assert_int_equal(mc_config_bool(cfg, "s3.path_style", &b, &err), 0);
    assert_false(b);
    assert_int_equal(mc_config_int(cfg, "mysql.pool_size", 1, 64, &n, &err), 0);
    assert_int_equal(n, 9);
    assert_int_equal(mc_config_int(cfg, "mysql.pool_size", 1, 8, &n, &err), -1);
    assert_string_equal(err.msg, "setting mysql.pool_size (MCLOUD_MYSQL_POOL_SIZE) = '9': "
                                 "expected an integer from 1 to 8");
    assert_int_equal(mc_config_copy(cfg, "s3.region", small, sizeof small, &err), -1);
    assert_string_equal(err.msg, "setting s3.region (MCLOUD_S3_REGION) = 'us-east-1': "
                                 "longer than 3 bytes");
    mc_config_free(cfg);

    setenv("MCLOUD_S3_PATH_STYLE", "maybe", 1);
    setenv("MCLOUD_MYSQL_POOL_SIZE", "4x", 1);
    cfg = mc_config_load(NULL, NULL);
    assert_int_equal(mc_config_bool(cfg, "s3.path_style", &b, &err), -1);
    assert_string_equal(err.msg, "setting s3.path_style (MCLOUD_S3_PATH_STYLE) = 'maybe': "
                                 "expected true or false");
    assert_int_equal(mc_config_int(cfg, "mysql.pool_size", 1, 64, &n, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);
    mc_config_free(cfg);
    unsetenv("MCLOUD_S3_PATH_STYLE");
    unsetenv("MCLOUD_MYSQL_POOL_SIZE");
}

/* The tests set the environment themselves: start from none of ours. */
static void clear_mcloud_environment(void) {
    char env[128];
    for (const mc_setting *s = mc_config_settings(); s->name; s++) {
        mc_config_env_name(s->name, env, sizeof env);
        unsetenv(env);
    }
}

int main(void) {
    clear_mcloud_environment();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_name),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_every_setting_has_default_and_doc),
        cmocka_unit_test(test_remote_change),
        cmocka_unit_test(test_managed_load),
        cmocka_unit_test(test_typed_getters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
