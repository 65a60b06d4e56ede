/* Unit tests for Redis key naming, lock values and address parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/redis.h"
#include "common/redis_keys.h"

static void builds_the_documented_keys(void **state) {
    (void)state;
    char k[128];
    assert_int_equal(mc_key_config(k, sizeof k, "upload.max_size"), 0);
    assert_string_equal(k, "mcloud:config:upload.max_size");
    assert_int_equal(mc_key_service(k, sizeof k, "transcode", "node1-42"), 0);
    assert_string_equal(k, "mcloud:svc:transcode:node1-42");
    assert_int_equal(mc_key_service_pattern(k, sizeof k, "transcode"), 0);
    assert_string_equal(k, "mcloud:svc:transcode:*");
    assert_int_equal(mc_key_lock(k, sizeof k, "failover"), 0);
    assert_string_equal(k, "mcloud:lock:failover");
    assert_int_equal(mc_key_lock_fence(k, sizeof k, "failover"), 0);
    assert_string_equal(k, "mcloud:lock:failover:fence");
    assert_int_equal(mc_key_api_usage(k, sizeof k, "acme", "20261206"), 0);
    assert_string_equal(k, "mcloud:api:usage:acme:20261206");
    assert_int_equal(mc_key_stream_usage(k, sizeof k, "acme", "20261206"), 0);
    assert_string_equal(k, "mcloud:stream:usage:acme:20261206");
}

static void rejects_names_that_could_forge_or_glob(void **state) {
    (void)state;
    char k[128];
    assert_int_equal(mc_key_lock(k, sizeof k, "x:fence"), -1);
    assert_int_equal(mc_key_service(k, sizeof k, "api", "a:b"), -1);
    assert_int_equal(mc_key_service_pattern(k, sizeof k, "tr*"), -1);
    assert_int_equal(mc_key_service_pattern(k, sizeof k, "a[b]"), -1);
    assert_int_equal(mc_key_config(k, sizeof k, ""), -1);
    assert_int_equal(mc_key_config(k, sizeof k, NULL), -1);
    assert_int_equal(mc_key_config(k, sizeof k, "has space"), -1);
    assert_int_equal(mc_key_stream_usage(k, sizeof k, "a:b", "20261206"), -1);
    assert_int_equal(mc_key_stream_usage(k, sizeof k, "acme", "2026-12-06"), -1);
    char longest[MC_REDIS_NAME_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[MC_REDIS_NAME_MAX] = '\0';
    assert_true(mc_redis_name_valid(longest));
    longest[MC_REDIS_NAME_MAX] = 'a';
    longest[MC_REDIS_NAME_MAX + 1] = '\0';
    assert_false(mc_redis_name_valid(longest));
}

static void refuses_to_truncate(void **state) {
    (void)state;
    char k[20];
    assert_int_equal(mc_key_config(k, sizeof k, "abcde"), 0); /* 19 chars + NUL fits */
    assert_int_equal(mc_key_config(k, sizeof k, "abcdef"), -1);
}

static void finds_the_instance_in_a_registry_key(void **state) {
    (void)state;
    assert_string_equal(mc_key_service_instance("mcloud:svc:api:api-1", "api"), "api-1");
    assert_null(mc_key_service_instance("mcloud:svc:api2:x", "api"));
    assert_null(mc_key_service_instance("mcloud:svc:api:", "api"));
    assert_null(mc_key_service_instance("mcloud:config:api:x", "api"));
}

static void lock_values_round_trip(void **state) {
    (void)state;
    char v[64];
    int64_t token = 0;
    assert_int_equal(mc_lock_value_format(v, sizeof v, 42, "00ff"), 0);
    assert_string_equal(v, "42:00ff");
    assert_int_equal(mc_lock_value_token(v, &token), 0);
    assert_int_equal(token, 42);
    assert_int_equal(mc_lock_value_format(v, sizeof v, 0, "00ff"), -1);
    assert_int_equal(mc_lock_value_token("42", &token), -1);
    assert_int_equal(mc_lock_value_token("42:", &token), -1);
    assert_int_equal(mc_lock_value_token("x:1", &token), -1);
    assert_int_equal(mc_lock_value_token("-3:ab", &token), -1);
    assert_int_equal(mc_lock_value_token("99999999999999999999:ab", &token), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builds_the_documented_keys),
        cmocka_unit_test(rejects_names_that_could_forge_or_glob),
        cmocka_unit_test(refuses_to_truncate),
        cmocka_unit_test(finds_the_instance_in_a_registry_key),
        cmocka_unit_test(lock_values_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
