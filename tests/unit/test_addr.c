/* "host:port" parsing shared by every client (Redis, MySQL, ...). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/addr.h"

static void test_valid_addresses(void **state) {
    (void)state;
    char host[64];
    int port = 0;
    mc_err err = {0};
    assert_int_equal(mc_addr_parse("127.0.0.1:16379", host, sizeof host, &port, 0, &err), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 16379);
    assert_int_equal(mc_addr_parse("redis.local:6379", host, sizeof host, &port, 0, &err), 0);
    assert_string_equal(host, "redis.local");
    assert_int_equal(mc_addr_parse("[::1]:6380", host, sizeof host, &port, 0, &err), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 6380);
    /* A default port makes the port optional. */
    assert_int_equal(mc_addr_parse("db.local", host, sizeof host, &port, 3306, &err), 0);
    assert_string_equal(host, "db.local");
    assert_int_equal(port, 3306);
    assert_int_equal(mc_addr_parse("[::1]", host, sizeof host, &port, 3306, &err), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 3306);
}

static void test_bad_addresses(void **state) {
    (void)state;
    char host[8];
    int port;
    mc_err err = {0};
    const char *bad[] = {"", "localhost", ":6379", "host:", "host:0", "host:65536", "host:63x",
                         "::1:6379", "[::1]6379", "[::1", "host:+80", "host: 80",
                         "averylonghost:1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(mc_addr_parse(bad[i], host, sizeof host, &port, 0, &err), -1);
        assert_int_equal(err.kind, MC_ERR_INVALID);
    }
    assert_int_equal(mc_addr_parse(NULL, host, sizeof host, &port, 0, &err), -1);
    assert_int_equal(mc_addr_parse("host:99999", host, sizeof host, &port, 0, &err), -1);
    assert_string_equal(err.msg, "bad address 'host:99999': port must be 1-65535");
    assert_int_equal(mc_addr_parse("db", host, sizeof host, &port, 0, &err), -1);
    assert_string_equal(err.msg, "bad address 'db': no port (want host:port)");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_addresses),
        cmocka_unit_test(test_bad_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
