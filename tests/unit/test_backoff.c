/* Unit tests for the capped exponential backoff with jitter. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/backoff.h"

/* With the extreme random values the jitter window is [d/2, d]. */
static unsigned lowest(unsigned initial, unsigned max, unsigned attempt) {
    unsigned lo = UINT32_MAX;
    for (uint32_t rnd = 0; rnd < 5000; rnd++) {
        unsigned d = mc_backoff_delay_ms(initial, max, attempt, rnd);
        if (d < lo) lo = d;
    }
    return lo;
}

static unsigned highest(unsigned initial, unsigned max, unsigned attempt) {
    unsigned hi = 0;
    for (uint32_t rnd = 0; rnd < 5000; rnd++) {
        unsigned d = mc_backoff_delay_ms(initial, max, attempt, rnd);
        if (d > hi) hi = d;
    }
    return hi;
}

static void doubles_per_attempt(void **state) {
    (void)state;
    assert_int_equal(highest(100, 5000, 0), 100);
    assert_int_equal(highest(100, 5000, 1), 200);
    assert_int_equal(highest(100, 5000, 2), 400);
    assert_int_equal(highest(100, 5000, 5), 3200);
}

static void capped_at_max_even_for_huge_attempts(void **state) {
    (void)state;
    assert_int_equal(highest(100, 5000, 6), 5000);
    assert_int_equal(highest(100, 5000, 40), 5000);
    assert_int_equal(highest(100, 5000, UINT32_MAX), 5000);
    /* near UINT32_MAX: no overflow, the top of the window is exactly max */
    assert_int_equal(mc_backoff_delay_ms(3000000000u, 4000000000u, 3, 2000000000u), 4000000000u);
}

static void jitter_stays_in_upper_half(void **state) {
    (void)state;
    assert_int_equal(lowest(100, 5000, 0), 50);
    assert_int_equal(lowest(100, 5000, 3), 400);
    assert_int_equal(lowest(100, 5000, 30), 2500);
    assert_int_equal(mc_backoff_delay_ms(100, 5000, 3, UINT32_MAX), 400 + UINT32_MAX % 401);
}

static void degenerate_settings_still_give_a_delay(void **state) {
    (void)state;
    assert_int_equal(highest(0, 0, 0), 1);       /* never a zero-length busy loop */
    assert_int_equal(highest(500, 100, 4), 500); /* max below initial: initial wins */
}

static void state_grows_then_resets(void **state) {
    (void)state;
    mc_backoff b;
    mc_backoff_init(&b, 10, 80);
    unsigned want_max[] = {10, 20, 40, 80, 80};
    for (unsigned i = 0; i < 5; i++) {
        unsigned d = mc_backoff_next_ms(&b);
        assert_in_range(d, want_max[i] / 2, want_max[i]);
    }
    mc_backoff_reset(&b);
    assert_in_range(mc_backoff_next_ms(&b), 5, 10);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(doubles_per_attempt),
        cmocka_unit_test(capped_at_max_even_for_huge_attempts),
        cmocka_unit_test(jitter_stays_in_upper_half),
        cmocka_unit_test(degenerate_settings_still_give_a_delay),
        cmocka_unit_test(state_grows_then_resets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
