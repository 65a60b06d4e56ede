/* The part plan of mcloud-upload (upload/parts.h): no declared length up
 * to S3's largest object needs more than 10,000 parts, parts are whole
 * MiB, never below the configured minimum nor above S3's 5 GiB part. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "upload/parts.h"

#define MIB (1024ull * 1024)
#define GIB (1024 * MIB)
#define TIB (1024 * GIB)

static uint64_t parts_needed(uint64_t length, uint64_t part) { return (length + part - 1) / part; }

static void test_small_uploads_use_the_minimum(void **state) {
    (void)state;
    assert_int_equal(mc_upload_part_size(5 * MIB, 0), 5 * MIB);
    assert_int_equal(mc_upload_part_size(5 * MIB, -1), 5 * MIB);
    assert_int_equal(mc_upload_part_size(8 * MIB, 1), 8 * MIB);
    assert_int_equal(mc_upload_part_size(8 * MIB, (int64_t)(9000 * 8 * MIB)), 8 * MIB);
}

static void test_a_declared_50_gib_fits_in_10000_parts(void **state) {
    (void)state;
    uint64_t part = mc_upload_part_size(5 * MIB, (int64_t)(50 * GIB));
    assert_true(part >= 5 * MIB);
    assert_int_equal(part % MIB, 0);
    assert_true(parts_needed(50 * GIB, part) <= MC_UPLOAD_MAX_PARTS);
    assert_int_equal(part, 6 * MIB); /* ceil(50 GiB / 9000) = 5.69 MiB */
}

static void test_every_length_fits(void **state) {
    (void)state;
    /* Lengths around every MiB boundary up to S3's 5 TiB object, by steps
     * that grow geometrically, for the minimum parts the daemon allows. */
    const uint64_t mins[] = {5 * MIB, 8 * MIB, 64 * MIB};
    for (size_t m = 0; m < 3; m++) {
        for (uint64_t len = 1; len <= 5 * TIB; len = len * 5 / 4 + 1) {
            for (int d = -1; d <= 1; d++) {
                uint64_t l = len + (uint64_t)d;
                if (l == 0 || l > 5 * TIB) continue;
                uint64_t part = mc_upload_part_size(mins[m], (int64_t)l);
                assert_true(part >= mins[m]);
                assert_int_equal(part % MIB, 0);
                assert_true(part <= 5 * GIB);
                assert_true(parts_needed(l, part) <= MC_UPLOAD_PARTS_PLANNED);
            }
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_uploads_use_the_minimum),
        cmocka_unit_test(test_a_declared_50_gib_fits_in_10000_parts),
        cmocka_unit_test(test_every_length_fits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
