/* Prometheus text exposition (format 0.0.4) of counters, gauges, histograms. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/metrics.h"

static int reset(void **state) {
    (void)state;
    mc_metrics_reset();
    return 0;
}

static void test_counter_and_gauge(void **state) {
    (void)state;
    mc_metric *c = mc_counter("mcloud_uploads_total", "Uploads finished.", NULL);
    mc_counter_inc(c);
    mc_counter_add(c, 2);
    mc_counter_add(c, -5); /* counters never go down */
    assert_ptr_equal(c, mc_counter("mcloud_uploads_total", "ignored", NULL));
    mc_metric *g = mc_gauge("mcloud_queue_depth", "Jobs waiting.", "queue=\"jobs\"");
    mc_gauge_set(g, 7);
    mc_gauge_add(g, -2.5);
    char *text = mc_metrics_render();
    assert_string_equal(text,
                        "# HELP mcloud_uploads_total Uploads finished.\n"
                        "# TYPE mcloud_uploads_total counter\n"
                        "mcloud_uploads_total 3\n"
                        "# HELP mcloud_queue_depth Jobs waiting.\n"
                        "# TYPE mcloud_queue_depth gauge\n"
                        "mcloud_queue_depth{queue=\"jobs\"} 4.5\n");
    free(text);
}

static void test_histogram(void **state) {
    (void)state;
    const double bounds[] = {0.1, 1};
    mc_metric *h = mc_histogram("req_seconds", "Latency.\nSecond line \\ ok", "route=\"/x\"",
                                bounds, 2);
    mc_histogram_observe(h, 0.05);
    mc_histogram_observe(h, 0.5);
    mc_histogram_observe(h, 3);
    assert_int_equal((int)mc_metric_value(h), 3);
    char *text = mc_metrics_render();
    assert_string_equal(text,
                        "# HELP req_seconds Latency.\\nSecond line \\\\ ok\n"
                        "# TYPE req_seconds histogram\n"
                        "req_seconds_bucket{route=\"/x\",le=\"0.1\"} 1\n"
                        "req_seconds_bucket{route=\"/x\",le=\"1\"} 2\n"
                        "req_seconds_bucket{route=\"/x\",le=\"+Inf\"} 3\n"
                        "req_seconds_sum{route=\"/x\"} 3.55\n"
                        "req_seconds_count{route=\"/x\"} 3\n");
    free(text);
}

static void test_series_share_one_family(void **state) {
    (void)state;
    mc_counter_inc(mc_counter("http_total", "Requests.", "code=\"200\""));
    mc_counter_inc(mc_counter("http_total", "Requests.", "code=\"404\""));
    mc_counter_inc(mc_counter("http_total", "Requests.", "code=\"200\""));
    /* The same name with another type is refused rather than mixed in. */
    assert_null(mc_gauge("http_total", "x", NULL));
    char *text = mc_metrics_render();
    assert_string_equal(text,
                        "# HELP http_total Requests.\n"
                        "# TYPE http_total counter\n"
                        "http_total{code=\"200\"} 2\n"
                        "http_total{code=\"404\"} 1\n");
    free(text);
}

/* Another daemon's /metrics read back (the agent reads a service's busy
 * gauge): every sample of the name summed, labels (quotes and braces in
 * values included) skipped, prefixes of longer names and comments ignored. */
static void test_scan(void **state) {
    (void)state;
    const char *text = "# HELP mcloud_transcode_running Jobs running in this worker.\n"
                       "# TYPE mcloud_transcode_running gauge\n"
                       "mcloud_transcode_running_total 9\n"
                       "mcloud_transcode_running 1\n"
                       "x{a=\"}\\\" {\"} 2\n"
                       "x{b=\"c\"} 0.5\n"
                       "bad 1x\n";
    double v = -1;
    assert_int_equal(mc_metrics_scan(text, strlen(text), "mcloud_transcode_running", &v), 0);
    assert_true(v == 1.0);
    assert_int_equal(mc_metrics_scan(text, strlen(text), "x", &v), 0);
    assert_true(v == 2.5);
    assert_int_equal(mc_metrics_scan(text, strlen(text), "missing", &v), -1);
    assert_int_equal(mc_metrics_scan(text, strlen(text), "bad", &v), -1);
    /* the last line without its newline, and a truncated body */
    assert_int_equal(mc_metrics_scan("g 0", 3, "g", &v), 0);
    assert_true(v == 0.0);
    assert_int_equal(mc_metrics_scan("g{a=\"b", 7, "g", &v), -1);
    /* a rendered registry reads back */
    mc_gauge_set(mc_gauge("mcloud_busy", "Busy.", NULL), 3);
    char *mine = mc_metrics_render();
    assert_int_equal(mc_metrics_scan(mine, strlen(mine), "mcloud_busy", &v), 0);
    assert_true(v == 3.0);
    free(mine);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_counter_and_gauge, reset),
        cmocka_unit_test_setup(test_histogram, reset),
        cmocka_unit_test_setup(test_series_share_one_family, reset),
        cmocka_unit_test_setup(test_scan, reset),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    mc_metrics_reset();
    return rc;
}
