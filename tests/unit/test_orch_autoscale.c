/* The scaling decision (orchestrator/autoscale.h): up at once, down only
 * after the lag stayed low for the window, one step down per window (no
 * flip-flop), the count held while the lag cannot be read, the partition
 * count and the policy's bounds respected. Time is simulated in ms. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "orchestrator/autoscale.h"

static mc_spec_scaling policy(void) {
    mc_spec_scaling p = {.enabled = true, .min = 1, .max = 4, .lag_per_instance = 5, .interval_ms = 1000,
                         .up_window_ms = 0, .down_window_ms = 30000};
    snprintf(p.topic, sizeof p.topic, "jobs");
    snprintf(p.group, sizeof p.group, "workers");
    return p;
}

/* One evaluation at now with lag (-1: unknown) on current instances. */
static mc_scale_decision eval(const mc_spec_scaling *p, mc_scale_state *st, int64_t now, int64_t lag, int current) {
    /* times are offsets from an epoch time: 0 means "never" in the state */
    mc_scale_input in = {.lag_known = lag >= 0, .lag = lag, .partitions = 6, .current = current,
                         .now_ms = 1700000000000 + now};
    mc_scale_decision d;
    mc_scale_decide(p, st, &in, &d);
    assert_true(d.reason[0] != '\0');
    assert_int_equal(d.change, d.desired != current);
    return d;
}

static void test_scale_up_at_once_to_max(void **state) {
    (void)state;
    mc_spec_scaling p = policy();
    mc_scale_state st = {0};
    mc_scale_decision d = eval(&p, &st, 1000, 60, 1); /* 60 jobs: 12 wanted, max 4 */
    assert_true(d.change);
    assert_int_equal(d.desired, 4);
    assert_int_equal(d.wanted, 4);
    assert_non_null(strstr(d.reason, "lag 60"));
    d = eval(&p, &st, 2000, 12, 2); /* 12 waiting on 2: 3 at once */
    assert_int_equal(d.desired, 3);
}

static void test_scale_down_only_after_the_window(void **state) {
    (void)state;
    mc_spec_scaling p = policy();
    mc_scale_state st = {0};
    assert_int_equal(eval(&p, &st, 0, 60, 1).desired, 4);
    int count = 4;
    int64_t t = 1000;
    /* the lag drops to 0: held for the whole window, measured from when it fell */
    for (; t < 1000 + 30000; t += 1000) {
        mc_scale_decision d = eval(&p, &st, t, 0, count);
        assert_false(d.change);
        assert_int_equal(d.desired, 4);
    }
    mc_scale_decision d = eval(&p, &st, t, 0, count);
    assert_true(d.change);
    assert_int_equal(d.desired, 1);
    assert_non_null(strstr(d.reason, "down to 1"));
}

static void test_scale_down_goes_to_the_highest_wanted_over_the_window(void **state) {
    (void)state;
    mc_spec_scaling p = policy();
    mc_scale_state st = {0};
    assert_int_equal(eval(&p, &st, 0, 20, 1).desired, 4);
    /* low for the window, with one evaluation wanting 3 */
    int64_t lag[] = {0, 0, 12, 0, 0};
    int64_t t = 0;
    for (int i = 0; i < 5; i++) assert_false(eval(&p, &st, t += 7000, lag[i], 4).change);
    mc_scale_decision d = eval(&p, &st, t += 7000, 0, 4);
    assert_true(d.change);
    assert_int_equal(d.desired, 3);
}

static void test_no_flip_flop_on_a_trickle(void **state) {
    (void)state;
    mc_spec_scaling p = policy();
    mc_scale_state st = {0};
    /* the lag alternates between asking for 2 and for 1 every second, for 5 minutes */
    int count = 1, changes = 0, downs = 0;
    int64_t last_down = -1000000;
    for (int64_t t = 0; t < 300000; t += 1000) {
        mc_scale_decision d = eval(&p, &st, t, (t / 1000) % 2 ? 7 : 3, count);
        if (d.change) {
            changes++;
            if (d.desired < count) {
                assert_true(t - last_down >= p.down_window_ms); /* one step down per window */
                last_down = t;
                downs++;
            }
            count = d.desired;
        }
    }
    /* up at once to 2, and never down: the lag never stayed low for a window */
    assert_int_equal(count, 2);
    assert_int_equal(changes, 1);
    assert_int_equal(downs, 0);
}

static void test_no_step_down_onto_the_threshold(void **state) {
    (void)state;
    mc_spec_scaling p = policy();
    mc_scale_state st = {0};
    assert_int_equal(eval(&p, &st, 0, 6, 1).desired, 2);
    /* the lag sits on 1 x 5 (and under) for two windows: 1 would carry it with
     * no headroom, the next message would scale straight back up; 2 holds */
    int64_t t = 0;
    for (int i = 0; i < 60; i++) {
        mc_scale_decision d = eval(&p, &st, t += 1000, i % 2 ? 5 : 3, 2);
        assert_false(d.change);
        if (i % 2) assert_non_null(strstr(d.reason, "headroom: holding 2"));
    }
    /* at 4 (under 5 x 0.9) for a window: down to 1 */
    for (int i = 0; i < 30; i++) assert_false(eval(&p, &st, t += 1000, 4, 2).change);
    assert_int_equal(eval(&p, &st, t += 1000, 4, 2).desired, 1);
    /* 15 waiting on 4: 3 carry 15 only at the limit (10 % under: 13.5), 4 hold */
    st = (mc_scale_state){0};
    for (t = 0; t < 40000; t += 1000) assert_false(eval(&p, &st, t, 15, 4).change);
    /* 13 for a window: down to 3 */
    int64_t low = t;
    for (; t < low + 30000; t += 1000) assert_false(eval(&p, &st, t, 13, 4).change);
    assert_int_equal(eval(&p, &st, t, 13, 4).desired, 3);
}

static void test_at_most_one_step_down_per_window(void **state) {
    (void)state;
    mc_spec_scaling p = policy();
    mc_scale_state st = {0};
    assert_int_equal(eval(&p, &st, 0, 20, 1).desired, 4);
    /* after the step down to 3, a further drop waits a full window again */
    int64_t t = 0;
    for (int i = 0; i < 30; i++) assert_false(eval(&p, &st, t += 1000, 12, 4).change);
    mc_scale_decision d = eval(&p, &st, t += 1000, 12, 4);
    assert_int_equal(d.desired, 3);
    int64_t down_at = t;
    for (t += 1000; t <= down_at + 30000; t += 1000) assert_false(eval(&p, &st, t, 0, 3).change);
    assert_int_equal(eval(&p, &st, t, 0, 3).desired, 1); /* a window after it went low */
}

static void test_hold_on_missing_data(void **state) {
    (void)state;
    mc_spec_scaling p = policy();
    mc_scale_state st = {0};
    assert_int_equal(eval(&p, &st, 0, 60, 1).desired, 4);
    /* Kafka unreadable for two windows: the count holds */
    int64_t t = 0;
    for (; t < 60000; t += 1000) {
        mc_scale_decision d = eval(&p, &st, t + 1000, -1, 4);
        assert_false(d.change);
        assert_int_equal(d.wanted, -1);
        assert_non_null(strstr(d.reason, "holding 4"));
    }
    /* back with an empty lag: the down window starts now, not before the outage */
    assert_false(eval(&p, &st, t += 1000, 0, 4).change);
    assert_false(eval(&p, &st, t + 29000, 0, 4).change);
    assert_int_equal(eval(&p, &st, t + 30000, 0, 4).desired, 1);
    /* an outage in the middle of a down window restarts it */
    st = (mc_scale_state){0};
    t = 0;
    eval(&p, &st, t, 20, 1);
    assert_false(eval(&p, &st, t += 100000, 0, 4).change);
    assert_false(eval(&p, &st, t + 20000, -1, 4).change);
    assert_false(eval(&p, &st, t + 31000, 0, 4).change);
    assert_true(eval(&p, &st, t + 61000, 0, 4).change);
}

static void test_bounds_and_partitions(void **state) {
    (void)state;
    mc_spec_scaling p = policy();
    p.max = 10;
    mc_scale_state st = {0};
    mc_scale_input in = {.lag_known = true, .lag = 1000, .partitions = 6, .current = 1, .now_ms = 1};
    mc_scale_decision d;
    mc_scale_decide(&p, &st, &in, &d);
    assert_int_equal(d.desired, 6); /* more consumers than partitions sit idle */
    assert_non_null(strstr(d.reason, "partition"));
    /* min holds with no lag at all */
    st = (mc_scale_state){0};
    p.min = 2;
    in = (mc_scale_input){.lag_known = true, .lag = 0, .partitions = 6, .current = 2, .now_ms = 1};
    mc_scale_decide(&p, &st, &in, &d);
    assert_false(d.change);
    /* a count outside a changed policy is brought inside at once, even without data */
    in = (mc_scale_input){.lag_known = false, .current = 12, .now_ms = 2};
    mc_scale_decide(&p, &st, &in, &d);
    assert_int_equal(d.desired, 10);
    in = (mc_scale_input){.lag_known = true, .lag = 0, .partitions = 6, .current = 1, .now_ms = 3};
    mc_scale_decide(&p, &st, &in, &d);
    assert_int_equal(d.desired, 2);
}

static void test_up_window(void **state) {
    (void)state;
    mc_spec_scaling p = policy();
    p.up_window_ms = 5000;
    mc_scale_state st = {0};
    assert_false(eval(&p, &st, 0, 60, 1).change);
    assert_false(eval(&p, &st, 2000, 8, 1).change); /* the lowest wanted over the window: 2 */
    assert_false(eval(&p, &st, 4000, 60, 1).change);
    assert_int_equal(eval(&p, &st, 5000, 60, 1).desired, 2);
    /* a blip above the count that goes away before the window scales nothing */
    st = (mc_scale_state){0};
    assert_false(eval(&p, &st, 0, 60, 1).change);
    assert_false(eval(&p, &st, 1000, 2, 1).change);
    assert_false(eval(&p, &st, 6000, 60, 1).change);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scale_up_at_once_to_max),
        cmocka_unit_test(test_scale_down_only_after_the_window),
        cmocka_unit_test(test_scale_down_goes_to_the_highest_wanted_over_the_window),
        cmocka_unit_test(test_no_flip_flop_on_a_trickle),
        cmocka_unit_test(test_no_step_down_onto_the_threshold),
        cmocka_unit_test(test_at_most_one_step_down_per_window),
        cmocka_unit_test(test_hold_on_missing_data),
        cmocka_unit_test(test_bounds_and_partitions),
        cmocka_unit_test(test_up_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
