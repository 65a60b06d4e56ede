/* metrics.c — the process-wide metrics registry (see metrics.h).
 *
 * Families and series live in linked lists under one registry lock, taken
 * only to find or create a series and to render. Updates take the series'
 * own lock, so hot paths never contend on the registry. */
#include "common/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/textbuf.h"

typedef enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type;

struct mc_metric {
    pthread_mutex_t lock;
    char *labels;          /* "" when none */
    double value;          /* counter, gauge; histogram sum */
    unsigned long long count;
    unsigned long long *buckets; /* histogram: cumulative counts per bound */
    struct family *family;
    struct mc_metric *next;
};

typedef struct family {
    char *name;
    char *help;
    metric_type type;
    double *bounds;
    size_t nbounds;
    mc_metric *series;
    struct family *next;
} family;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static family *families;
static family **families_tail = &families;

const double mc_latency_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const size_t mc_latency_buckets_count = sizeof mc_latency_buckets / sizeof mc_latency_buckets[0];

static family *find_family(const char *name) {
    for (family *f = families; f; f = f->next)
        if (strcmp(f->name, name) == 0) return f;
    return NULL;
}

static family *new_family(const char *name, const char *help, metric_type type,
                          const double *bounds, size_t nbounds) {
    family *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    f->type = type;
    if (nbounds) {
        f->bounds = malloc(nbounds * sizeof *bounds);
        if (f->bounds) memcpy(f->bounds, bounds, nbounds * sizeof *bounds);
        f->nbounds = f->bounds ? nbounds : 0;
    }
    *families_tail = f;
    families_tail = &f->next;
    return f;
}

static mc_metric *new_series(family *f, const char *labels) {
    mc_metric *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->lock, NULL);
    m->labels = strdup(labels ? labels : "");
    m->family = f;
    if (f->type == METRIC_HISTOGRAM) m->buckets = calloc(f->nbounds + 1, sizeof *m->buckets);
    mc_metric **tail = &f->series;
    while (*tail) tail = &(*tail)->next;
    *tail = m;
    return m;
}

static mc_metric *get_or_create(const char *name, const char *help, const char *labels,
                                metric_type type, const double *bounds, size_t nbounds) {
    pthread_mutex_lock(&registry_lock);
    family *f = find_family(name);
    if (!f) f = new_family(name, help, type, bounds, nbounds);
    mc_metric *found = NULL;
    if (f && f->type == type) {
        const char *want = labels ? labels : "";
        for (mc_metric *m = f->series; m && !found; m = m->next)
            if (strcmp(m->labels, want) == 0) found = m;
        if (!found) found = new_series(f, labels);
    }
    pthread_mutex_unlock(&registry_lock);
    return found;
}

mc_metric *mc_counter(const char *name, const char *help, const char *labels) {
    return get_or_create(name, help, labels, METRIC_COUNTER, NULL, 0);
}

mc_metric *mc_gauge(const char *name, const char *help, const char *labels) {
    return get_or_create(name, help, labels, METRIC_GAUGE, NULL, 0);
}

mc_metric *mc_histogram(const char *name, const char *help, const char *labels,
                        const double *bounds, size_t nbounds) {
    return get_or_create(name, help, labels, METRIC_HISTOGRAM, bounds, nbounds);
}

void mc_counter_add(mc_metric *m, double delta) {
    if (!m || delta < 0) return;
    pthread_mutex_lock(&m->lock);
    m->value += delta;
    pthread_mutex_unlock(&m->lock);
}

void mc_counter_inc(mc_metric *m) { mc_counter_add(m, 1); }

void mc_gauge_set(mc_metric *m, double value) {
    if (!m) return;
    pthread_mutex_lock(&m->lock);
    m->value = value;
    pthread_mutex_unlock(&m->lock);
}

void mc_gauge_add(mc_metric *m, double delta) {
    if (!m) return;
    pthread_mutex_lock(&m->lock);
    m->value += delta;
    pthread_mutex_unlock(&m->lock);
}

void mc_histogram_observe(mc_metric *m, double value) {
    if (!m || !m->buckets) return;
    family *f = m->family;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < f->nbounds; i++)
        if (value <= f->bounds[i]) m->buckets[i]++;
    m->buckets[f->nbounds]++; /* +Inf */
    m->count++;
    m->value += value;
    pthread_mutex_unlock(&m->lock);
}

double mc_metric_value(mc_metric *m) {
    if (!m) return 0;
    pthread_mutex_lock(&m->lock);
    double v = m->family->type == METRIC_HISTOGRAM ? (double)m->count : m->value;
    pthread_mutex_unlock(&m->lock);
    return v;
}

/* Prometheus float: integers without a fraction, +Inf spelled out, and the
 * shortest of %.15g / %.17g that reads back as the same double. */
static void format_number(char *buf, size_t len, double v) {
    if (isinf(v)) snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
    else if (isnan(v)) snprintf(buf, len, "NaN");
    else if (v == floor(v) && fabs(v) < 1e15) snprintf(buf, len, "%.0f", v);
    else {
        snprintf(buf, len, "%.15g", v);
        if (strtod(buf, NULL) != v) snprintf(buf, len, "%.17g", v);
    }
}

static void render_help(mc_textbuf *tb, const char *help) {
    for (const char *p = help; *p; p++) {
        if (*p == '\\') mc_textbuf_printf(tb, "\\\\");
        else if (*p == '\n') mc_textbuf_printf(tb, "\\n");
        else mc_textbuf_printf(tb, "%c", *p);
    }
}

static void render_series_line(mc_textbuf *tb, const char *name, const char *suffix,
                               const char *labels, const char *extra, double v) {
    char num[64];
    format_number(num, sizeof num, v);
    int has_labels = labels && *labels, has_extra = extra && *extra;
    if (!has_labels && !has_extra) mc_textbuf_printf(tb, "%s%s %s\n", name, suffix, num);
    else
        mc_textbuf_printf(tb, "%s%s{%s%s%s} %s\n", name, suffix, has_labels ? labels : "",
                  has_labels && has_extra ? "," : "", has_extra ? extra : "", num);
}

static void render_histogram(mc_textbuf *tb, family *f, mc_metric *m) {
    char le[80], num[64];
    for (size_t i = 0; i < f->nbounds; i++) {
        format_number(num, sizeof num, f->bounds[i]);
        snprintf(le, sizeof le, "le=\"%s\"", num);
        render_series_line(tb, f->name, "_bucket", m->labels, le, (double)m->buckets[i]);
    }
    render_series_line(tb, f->name, "_bucket", m->labels, "le=\"+Inf\"",
                       (double)m->buckets[f->nbounds]);
    render_series_line(tb, f->name, "_sum", m->labels, NULL, m->value);
    render_series_line(tb, f->name, "_count", m->labels, NULL, (double)m->count);
}

static const char *type_name(metric_type t) {
    return t == METRIC_COUNTER ? "counter" : t == METRIC_GAUGE ? "gauge" : "histogram";
}

char *mc_metrics_render(void) {
    mc_textbuf tb = {0};
    pthread_mutex_lock(&registry_lock);
    for (family *f = families; f; f = f->next) {
        mc_textbuf_printf(&tb, "# HELP %s ", f->name);
        render_help(&tb, f->help);
        mc_textbuf_printf(&tb, "\n# TYPE %s %s\n", f->name, type_name(f->type));
        for (mc_metric *m = f->series; m; m = m->next) {
            pthread_mutex_lock(&m->lock);
            if (f->type == METRIC_HISTOGRAM) render_histogram(&tb, f, m);
            else render_series_line(&tb, f->name, "", m->labels, NULL, m->value);
            pthread_mutex_unlock(&m->lock);
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return mc_textbuf_finish(&tb);
}

void mc_metrics_reset(void) {
    pthread_mutex_lock(&registry_lock);
    for (family *f = families, *fn; f; f = fn) {
        fn = f->next;
        for (mc_metric *m = f->series, *mn; m; m = mn) {
            mn = m->next;
            pthread_mutex_destroy(&m->lock);
            free(m->labels);
            free(m->buckets);
            free(m);
        }
        free(f->name);
        free(f->help);
        free(f->bounds);
        free(f);
    }
    families = NULL;
    families_tail = &families;
    pthread_mutex_unlock(&registry_lock);
}

int mc_metrics_scan(const char *text, size_t len, const char *name, double *out) {
    size_t nlen = strlen(name);
    double sum = 0;
    int found = 0;
    for (size_t at = 0; at < len;) {
        const char *line = text + at, *nl = memchr(line, '\n', len - at);
        size_t llen = nl ? (size_t)(nl - line) : len - at;
        at += llen + 1;
        if (llen <= nlen || line[0] == '#' || memcmp(line, name, nlen) != 0) continue;
        const char *p = line + nlen, *end = line + llen;
        if (*p == '{') { /* labels: skip to the closing brace outside quotes */
            bool quoted = false;
            for (p++; p < end && (quoted || *p != '}'); p++) {
                if (*p == '\\' && quoted) p++;
                else if (*p == '"') quoted = !quoted;
            }
            if (p >= end) return -1;
            p++;
        }
        if (p >= end || *p != ' ') continue; /* another metric sharing the prefix */
        char num[64];
        size_t vlen = 0;
        while (p < end && *p == ' ') p++;
        while (p < end && *p != ' ' && vlen < sizeof num - 1) num[vlen++] = *p++;
        num[vlen] = '\0';
        char *stop;
        double v = strtod(num, &stop);
        if (!vlen || *stop) return -1;
        sum += v;
        found = 1;
    }
    if (!found) return -1;
    *out = sum;
    return 0;
}
