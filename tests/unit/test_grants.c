/* test_grants.c — remembered playback grants (stream/grants.c): a grant is
 * known only for exactly what it was verified for, and only until it
 * expires. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "stream/grants.h"

#define VIDEO "0e2cd0f8-9991-4efc-a583-a0d608962500"
#define CRED "dev.2000.abc"

static void test_known_for_exactly_what_was_verified(void **state) {
    (void)state;
    mc_grants *g = mc_grants_new();
    assert_non_null(g);
    assert_false(mc_grants_known(g, CRED, "local", VIDEO, "720p.mp4", 1000));
    mc_grants_remember(g, CRED, "local", VIDEO, "720p.mp4", 2000);
    assert_true(mc_grants_known(g, CRED, "local", VIDEO, "720p.mp4", 1000));
    assert_false(mc_grants_known(g, CRED, "local", VIDEO, "1080p.mp4", 1000));
    assert_false(mc_grants_known(g, CRED, "other", VIDEO, "720p.mp4", 1000));
    assert_false(mc_grants_known(g, CRED, "local", "1e2cd0f8-9991-4efc-a583-a0d608962500",
                                 "720p.mp4", 1000));
    assert_false(mc_grants_known(g, "dev.2000.abd", "local", VIDEO, "720p.mp4", 1000));
    /* the separators cannot be forged across fields */
    assert_false(mc_grants_known(g, CRED "\nlocal", "", VIDEO, "720p.mp4", 1000));
    mc_grants_free(g);
}

static void test_forgotten_at_expiry(void **state) {
    (void)state;
    mc_grants *g = mc_grants_new();
    mc_grants_remember(g, CRED, "local", VIDEO, "hls/720p/seg_00001.m4s", 2000);
    assert_true(mc_grants_known(g, CRED, "local", VIDEO, "hls/720p/seg_00001.m4s", 1999));
    assert_false(mc_grants_known(g, CRED, "local", VIDEO, "hls/720p/seg_00001.m4s", 2000));
    mc_grants_free(g);
}

static void test_oversized_keys_are_never_kept(void **state) {
    (void)state;
    mc_grants *g = mc_grants_new();
    char cred[600];
    memset(cred, 'a', sizeof cred - 1);
    cred[sizeof cred - 1] = '\0';
    mc_grants_remember(g, cred, "local", VIDEO, "720p.mp4", 2000);
    assert_false(mc_grants_known(g, cred, "local", VIDEO, "720p.mp4", 1000));
    mc_grants_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_for_exactly_what_was_verified),
        cmocka_unit_test(test_forgotten_at_expiry),
        cmocka_unit_test(test_oversized_keys_are_never_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
