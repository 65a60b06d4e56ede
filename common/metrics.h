/* metrics.h — counters, gauges and histograms exposed in the Prometheus text
 * format (version 0.0.4) on every daemon's GET /metrics.
 *
 * A metric is a family (name, help, type) with one series per label set.
 * Lookups are get-or-create, so call sites stay one line:
 *   mc_counter_inc(mc_counter("mcloud_uploads_total", "Uploads finished.", NULL));
 *   mc_counter_inc(mc_counter("http_requests_total", "Requests.", "method=\"GET\",code=\"200\""));
 * Keep the returned pointer on hot paths; it lives until mc_metrics_reset(). */
#ifndef MCLOUD_METRICS_H
#define MCLOUD_METRICS_H

#include <stddef.h>

typedef struct mc_metric mc_metric;

/* labels: a Prometheus label list without braces, or NULL. */
mc_metric *mc_counter(const char *name, const char *help, const char *labels);
mc_metric *mc_gauge(const char *name, const char *help, const char *labels);
/* bounds: ascending upper bounds; +Inf is implied. Bounds of the first call win. */
mc_metric *mc_histogram(const char *name, const char *help, const char *labels,
                        const double *bounds, size_t nbounds);

void mc_counter_add(mc_metric *m, double delta);  /* delta >= 0 */
void mc_counter_inc(mc_metric *m);
void mc_gauge_set(mc_metric *m, double value);
void mc_gauge_add(mc_metric *m, double delta);
void mc_histogram_observe(mc_metric *m, double value);
double mc_metric_value(mc_metric *m);  /* counter/gauge value, histogram count */

/* Default latency buckets in seconds (5 ms .. 10 s). */
extern const double mc_latency_buckets[];
extern const size_t mc_latency_buckets_count;

/* The whole registry in exposition format; caller frees. */
char *mc_metrics_render(void);
/* Reads a scraped exposition (text, len bytes; another daemon's /metrics):
 * the sum of every sample of `name` (any labels) into *out. 0 when at
 * least one sample was found, -1 when none or a value was no number. */
int mc_metrics_scan(const char *text, size_t len, const char *name, double *out);
/* Drops every metric (tests only: invalidates pointers handed out). */
void mc_metrics_reset(void);

#endif
