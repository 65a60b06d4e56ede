/* test_s3.c — the S3 client's pure parts: addressing in both styles, key
 * encoding, endpoint validation, configuration from the environment, and a
 * presigned URL checked against AWS's published example. Everything that
 * talks to a server is in tests/integration/test_s3.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/s3.h"

static mc_s3_config config(const char *endpoint, bool path_style) {
    mc_s3_config cfg;
    mc_s3_config_init(&cfg);
    snprintf(cfg.endpoint, sizeof cfg.endpoint, "%s", endpoint);
    snprintf(cfg.bucket, sizeof cfg.bucket, "mcloud");
    snprintf(cfg.access_key, sizeof cfg.access_key, "AKIAIOSFODNN7EXAMPLE");
    snprintf(cfg.secret_key, sizeof cfg.secret_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    cfg.path_style = path_style;
    return cfg;
}

static void test_path_style_object(void **state) {
    (void)state;
    mc_s3_config cfg = config("http://127.0.0.1:19000", true);
    mc_s3_location loc;
    mc_err err = {0};
    assert_int_equal(mc_s3_locate(&cfg, "videos/t1/v1/source", &loc, &err), 0);
    assert_string_equal(loc.url, "http://127.0.0.1:19000/mcloud/videos/t1/v1/source");
    assert_string_equal(loc.host, "127.0.0.1:19000");
    assert_string_equal(loc.path, "/mcloud/videos/t1/v1/source");
    mc_s3_location_free(&loc);
}

static void test_path_style_bucket(void **state) {
    (void)state;
    mc_s3_config cfg = config("http://127.0.0.1:19000/", true);
    mc_s3_location loc;
    assert_int_equal(mc_s3_locate(&cfg, NULL, &loc, NULL), 0);
    assert_string_equal(loc.url, "http://127.0.0.1:19000/mcloud");
    assert_string_equal(loc.path, "/mcloud");
    mc_s3_location_free(&loc);
}

static void test_virtual_host_style(void **state) {
    (void)state;
    mc_s3_config cfg = config("https://s3.us-east-1.amazonaws.com", false);
    mc_s3_location loc;
    assert_int_equal(mc_s3_locate(&cfg, "a/b.mp4", &loc, NULL), 0);
    assert_string_equal(loc.url, "https://mcloud.s3.us-east-1.amazonaws.com/a/b.mp4");
    assert_string_equal(loc.host, "mcloud.s3.us-east-1.amazonaws.com");
    assert_string_equal(loc.path, "/a/b.mp4");
    mc_s3_location_free(&loc);

    assert_int_equal(mc_s3_locate(&cfg, NULL, &loc, NULL), 0);
    assert_string_equal(loc.url, "https://mcloud.s3.us-east-1.amazonaws.com/");
    assert_string_equal(loc.path, "/");
    mc_s3_location_free(&loc);
}

static void test_virtual_host_keeps_explicit_port(void **state) {
    (void)state;
    mc_s3_config cfg = config("http://minio.local:9000", false);
    mc_s3_location loc;
    assert_int_equal(mc_s3_locate(&cfg, "k", &loc, NULL), 0);
    assert_string_equal(loc.url, "http://mcloud.minio.local:9000/k");
    assert_string_equal(loc.host, "mcloud.minio.local:9000");
    mc_s3_location_free(&loc);
}

static void test_key_encoding(void **state) {
    (void)state;
    mc_s3_config cfg = config("http://127.0.0.1:19000", true);
    mc_s3_location loc;
    /* space, plus, percent, unicode (é, 日本), and segments S3 keeps verbatim */
    const char *key = "dir/a b+c%d/\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac/./x";
    assert_int_equal(mc_s3_locate(&cfg, key, &loc, NULL), 0);
    assert_string_equal(loc.url, "http://127.0.0.1:19000/mcloud/dir/a%20b%2Bc%25d/"
                                 "%C3%A9t%C3%A9%20%E6%97%A5%E6%9C%AC/./x");
    assert_string_equal(loc.path, "/mcloud/dir/a b+c%d/\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac/./x");
    mc_s3_location_free(&loc);
}

static void test_bad_endpoints_and_keys(void **state) {
    (void)state;
    mc_s3_location loc;
    mc_err err = {0};
    mc_s3_config cfg = config("ftp://127.0.0.1", true);
    assert_int_equal(mc_s3_locate(&cfg, "k", &loc, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);

    cfg = config("http://127.0.0.1:19000/prefix", true);
    assert_int_equal(mc_s3_locate(&cfg, "k", &loc, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);

    cfg = config("not a url", true);
    assert_int_equal(mc_s3_locate(&cfg, "k", &loc, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);

    cfg = config("http://127.0.0.1:19000", true);
    assert_int_equal(mc_s3_locate(&cfg, "", &loc, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);

    char long_key[MC_S3_KEY_MAX + 2];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    assert_int_equal(mc_s3_locate(&cfg, long_key, &loc, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);

    cfg.bucket[0] = '\0';
    assert_null(mc_s3_new(&cfg, &err));
    assert_int_equal(err.kind, MC_ERR_INVALID);
}

/* AWS's query-string authentication example, built through the client. */
static void test_presign_matches_aws_example(void **state) {
    (void)state;
    mc_s3_config cfg = config("https://s3.amazonaws.com", false);
    snprintf(cfg.bucket, sizeof cfg.bucket, "examplebucket");
    mc_err err = {0};
    mc_s3 *s3 = mc_s3_new(&cfg, &err);
    assert_non_null(s3);
    char *url = mc_s3_presign_get(s3, "test.txt", 86400, 1369353600, &err);
    assert_non_null(url);
    assert_string_equal(url,
        "https://examplebucket.s3.amazonaws.com/test.txt"
        "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    free(url);

    assert_null(mc_s3_presign_get(s3, "test.txt", 604801, 1369353600, &err));
    assert_int_equal(err.kind, MC_ERR_INVALID);
    mc_s3_free(s3);
}

static void set_env(const char *endpoint, const char *path_style) {
    setenv("MCLOUD_S3_ENDPOINT", endpoint, 1);
    setenv("MCLOUD_S3_BUCKET", "b", 1);
    setenv("MCLOUD_S3_ACCESS_KEY", "ak", 1);
    setenv("MCLOUD_S3_SECRET_KEY", "sk", 1);
    unsetenv("MCLOUD_S3_REGION");
    if (path_style)
        setenv("MCLOUD_S3_PATH_STYLE", path_style, 1);
    else
        unsetenv("MCLOUD_S3_PATH_STYLE");
}

/* The s3.* settings as the configuration resolves them. */
static int config_from(mc_s3_config *cfg, mc_err *err) {
    mc_config *settings = mc_config_load(NULL, NULL);
    int rc = mc_s3_config_from(settings, cfg, err);
    mc_config_free(settings);
    return rc;
}

static void test_config_from_settings(void **state) {
    (void)state;
    mc_s3_config cfg;
    mc_err err = {0};
    set_env("http://h:1", NULL);
    assert_int_equal(config_from(&cfg, &err), 0);
    assert_string_equal(cfg.endpoint, "http://h:1");
    assert_string_equal(cfg.bucket, "b");
    assert_string_equal(cfg.access_key, "ak");
    assert_string_equal(cfg.secret_key, "sk");
    assert_string_equal(cfg.region, "us-east-1");
    assert_true(cfg.path_style);

    set_env("http://h:1", "false");
    setenv("MCLOUD_S3_REGION", "eu-west-3", 1);
    assert_int_equal(config_from(&cfg, &err), 0);
    assert_false(cfg.path_style);
    assert_string_equal(cfg.region, "eu-west-3");

    set_env("http://h:1", "maybe");
    assert_int_equal(config_from(&cfg, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);
    assert_non_null(strstr(err.msg, "MCLOUD_S3_PATH_STYLE"));

    char long_key[400];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    set_env("http://h:1", NULL);
    setenv("MCLOUD_S3_SECRET_KEY", long_key, 1);
    assert_int_equal(config_from(&cfg, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);
    assert_non_null(strstr(err.msg, "MCLOUD_S3_SECRET_KEY"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_style_object),
        cmocka_unit_test(test_path_style_bucket),
        cmocka_unit_test(test_virtual_host_style),
        cmocka_unit_test(test_virtual_host_keeps_explicit_port),
        cmocka_unit_test(test_key_encoding),
        cmocka_unit_test(test_bad_endpoints_and_keys),
        cmocka_unit_test(test_presign_matches_aws_example),
        cmocka_unit_test(test_config_from_settings),
    };
    return cmocka_run_group_tests_name("s3", tests, NULL, NULL);
}
