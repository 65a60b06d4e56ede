/* Unit tests for common/fdio: exact reads with and without a deadline, and
 * reading a file whole within a size bound. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fdio.h"

static void read_all_gathers_short_writes(void **state) {
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_true(mc_write_all(p[1], "abc", 3));
    assert_true(mc_write_all(p[1], "def", 3));
    char buf[7] = "";
    assert_true(mc_read_all(p[0], buf, 6, -1));
    assert_string_equal(buf, "abcdef");
    close(p[1]);
    assert_false(mc_read_all(p[0], buf, 1, -1)); /* EOF */
    close(p[0]);
}

static void read_all_gives_up_at_the_deadline(void **state) {
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_true(mc_write_all(p[1], "ab", 2));
    char buf[4];
    int64_t deadline = mc_monotonic_ms() + 50;
    assert_false(mc_read_all(p[0], buf, 4, deadline)); /* 2 of 4 bytes, the writer silent */
    assert_true(mc_monotonic_ms() >= deadline);
    close(p[0]);
    close(p[1]);
}

static char *write_temp(const char *text, size_t len) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/mcloud-test-fdio-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_true(mc_write_all(fd, text, len));
    close(fd);
    return path;
}

static void read_file_whole_and_terminated(void **state) {
    (void)state;
    size_t big = 10000; /* past the first buffer */
    char *text = malloc(big);
    memset(text, 'x', big);
    char *path = write_temp(text, big);
    size_t len = 0;
    mc_err err = {0};
    char *got = mc_read_file(path, big, &len, &err);
    assert_non_null(got);
    assert_int_equal(len, big);
    assert_int_equal(got[big], '\0');
    assert_memory_equal(got, text, big);
    free(got);
    assert_null(mc_read_file(path, big - 1, &len, &err));
    assert_int_equal(err.kind, MC_ERR_INVALID);
    unlink(path);
    assert_null(mc_read_file(path, big, &len, &err));
    assert_int_equal(err.kind, MC_ERR_NOT_FOUND);
    free(text);
}

static void read_file_empty(void **state) {
    (void)state;
    char *path = write_temp("", 0);
    size_t len = 1;
    char *got = mc_read_file(path, 16, &len, NULL);
    assert_non_null(got);
    assert_int_equal(len, 0);
    assert_string_equal(got, "");
    free(got);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(read_all_gathers_short_writes),
        cmocka_unit_test(read_all_gives_up_at_the_deadline),
        cmocka_unit_test(read_file_whole_and_terminated),
        cmocka_unit_test(read_file_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
