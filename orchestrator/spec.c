/* spec.c — parse, check, format and diff deploy/mcloud.yaml (see spec.h).
 *
 * libyaml's document API loads the whole file into nodes that keep their
 * line; one walker per level copies known fields into mc_spec and records
 * an error (path, value, line) for anything else, then mc_spec_validate
 * checks the rules between fields. Errors are collected, never returned at
 * the first one, so an operator fixes a spec in one round. */
#include "orchestrator/spec.h"
#include "orchestrator/resources.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/textbuf.h"

typedef struct walk {
    yaml_document_t *doc;
    mc_spec_errors *errs;
} walk;

static void add_error(mc_spec_errors *errs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_error(mc_spec_errors *errs, const char *fmt, ...) {
    if (errs->count < MC_SPEC_MAX_ERRORS) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errs->msg[errs->count], sizeof errs->msg[0], fmt, ap);
        va_end(ap);
    }
    errs->count++;
}

static int line_of(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }

/* The scalar's text, or NULL (with an error) when n is a mapping or list. */
static const char *scalar(walk *w, const char *path, yaml_node_t *n) {
    if (n->type == YAML_SCALAR_NODE) return (const char *)n->data.scalar.value;
    add_error(w->errs, "%s: expected a single value, found a %s (line %d)", path,
              n->type == YAML_MAPPING_NODE ? "mapping" : "list", line_of(n));
    return NULL;
}

static bool is_mapping(walk *w, const char *path, yaml_node_t *n) {
    if (n->type == YAML_MAPPING_NODE) return true;
    add_error(w->errs, "%s: expected a mapping (key: value lines) (line %d)", path, line_of(n));
    return false;
}

/* ---- values ---- */

int64_t mc_spec_parse_size(const char *s) {
    if (!s || !isdigit((unsigned char)*s)) return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno) return -1;
    unsigned long long mult = 1;
    switch (*end) {
    case '\0': break;
    case 'K': mult = 1ull << 10; end++; break;
    case 'M': mult = 1ull << 20; end++; break;
    case 'G': mult = 1ull << 30; end++; break;
    case 'T': mult = 1ull << 40; end++; break;
    default: return -1;
    }
    if (mult > 1 && *end == 'i') end++;
    if (*end) return -1;
    if (v > (unsigned long long)INT64_MAX / mult) return -1;
    return (int64_t)(v * mult);
}

int64_t mc_spec_parse_duration_ms(const char *s) {
    if (!s || !isdigit((unsigned char)*s)) return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno) return -1;
    unsigned long long mult;
    if (strcmp(end, "ms") == 0) mult = 1;
    else if (strcmp(end, "s") == 0) mult = 1000;
    else if (strcmp(end, "m") == 0) mult = 60000;
    else if (strcmp(end, "h") == 0) mult = 3600000;
    else return -1;
    if (v > 7ull * 24 * 3600000 / mult) return -1; /* a week is the most any setting needs */
    return (int64_t)(v * mult);
}

static bool get_int(walk *w, const char *path, yaml_node_t *n, long long min, long long max, long long *out) {
    const char *s = scalar(w, path, n);
    if (!s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max) {
        add_error(w->errs, "%s: \"%s\" is not a whole number between %lld and %lld (line %d)", path, s,
                  min, max, line_of(n));
        return false;
    }
    *out = v;
    return true;
}

static void set_int(walk *w, const char *path, yaml_node_t *n, long long min, long long max, int *out) {
    long long v;
    if (get_int(w, path, n, min, max, &v)) *out = (int)v;
}

static void set_i64(walk *w, const char *path, yaml_node_t *n, long long min, long long max, int64_t *out) {
    long long v;
    if (get_int(w, path, n, min, max, &v)) *out = v;
}

static void set_size(walk *w, const char *path, yaml_node_t *n, int64_t *out) {
    const char *s = scalar(w, path, n);
    if (!s) return;
    int64_t v = mc_spec_parse_size(s);
    if (v <= 0) {
        add_error(w->errs, "%s: \"%s\" is not a size (e.g. 512M, 2G) (line %d)", path, s, line_of(n));
        return;
    }
    *out = v;
}

static void set_duration(walk *w, const char *path, yaml_node_t *n, int64_t *out) {
    const char *s = scalar(w, path, n);
    if (!s) return;
    int64_t v = mc_spec_parse_duration_ms(s);
    if (v < 0) {
        add_error(w->errs, "%s: \"%s\" is not a duration (e.g. 500ms, 10s, 5m) (line %d)", path, s,
                  line_of(n));
        return;
    }
    *out = v;
}

static void set_bool(walk *w, const char *path, yaml_node_t *n, bool *out) {
    const char *s = scalar(w, path, n);
    if (!s) return;
    if (strcmp(s, "true") == 0) *out = true;
    else if (strcmp(s, "false") == 0) *out = false;
    else add_error(w->errs, "%s: \"%s\" is not true or false (line %d)", path, s, line_of(n));
}

static void set_str(walk *w, const char *path, yaml_node_t *n, char *out, size_t cap) {
    const char *s = scalar(w, path, n);
    if (!s) return;
    size_t len = n->data.scalar.length;
    if (len >= cap || strlen(s) != len) {
        add_error(w->errs, "%s: longer than %zu bytes or holds a NUL (line %d)", path, cap - 1, line_of(n));
        return;
    }
    memcpy(out, s, len + 1);
}

static void set_cpus(walk *w, const char *path, yaml_node_t *n, double *out) {
    const char *s = scalar(w, path, n);
    if (!s) return;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < MC_RES_CPUS_MIN || v > MC_RES_CPUS_MAX) {
        add_error(w->errs, "%s: \"%s\" is not a number of CPUs between 0.01 and 1024 (line %d)", path, s,
                  line_of(n));
        return;
    }
    *out = v;
}

/* ---- mappings ---- */

typedef void (*field_fn)(walk *w, const char *path, const char *key, yaml_node_t *value, void *ctx);

/* Calls fn for every pair of mapping n; refuses non-scalar and repeated
 * keys. `path` prefixes the field names in messages. */
static void each_pair(walk *w, const char *path, yaml_node_t *n, field_fn fn, void *ctx) {
    if (!is_mapping(w, path, n)) return;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        /* Past the errors kept, stop: a mapping of 50,000 keys costs no
         * quadratic duplicate check. */
        if (w->errs->count > MC_SPEC_MAX_ERRORS) return;
        yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
        if (!k || !v) continue;
        if (k->type != YAML_SCALAR_NODE) {
            add_error(w->errs, "%s: a key must be a plain name (line %d)", path, line_of(k));
            continue;
        }
        const char *key = (const char *)k->data.scalar.value;
        bool dup = false;
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *qk = yaml_document_get_node(w->doc, q->key);
            if (qk && qk->type == YAML_SCALAR_NODE && strcmp((const char *)qk->data.scalar.value, key) == 0)
                dup = true;
        }
        char sub[320];
        snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", key);
        if (dup) {
            add_error(w->errs, "%s: declared twice (line %d)", sub, line_of(k));
            continue;
        }
        fn(w, sub, key, v, ctx);
    }
}

static void unknown(walk *w, const char *path, yaml_node_t *v) {
    add_error(w->errs, "%s: unknown field (line %d)", path, line_of(v));
}

static void resources_field(walk *w, const char *path, const char *key, yaml_node_t *v, void *ctx) {
    mc_spec_service *s = ctx;
    if (strcmp(key, "cpus") == 0) set_cpus(w, path, v, &s->cpus);
    else if (strcmp(key, "memory") == 0) set_size(w, path, v, &s->memory_bytes);
    else if (strcmp(key, "pids") == 0) set_i64(w, path, v, MC_RES_PIDS_MIN, MC_RES_PIDS_MAX, &s->pids);
    else unknown(w, path, v);
}

static bool env_name_ok(const char *k) {
    if (!(isupper((unsigned char)*k) || *k == '_')) return false;
    for (; *k; k++)
        if (!(isupper((unsigned char)*k) || isdigit((unsigned char)*k) || *k == '_')) return false;
    return true;
}

static void kv_field(walk *w, const char *path, const char *key, yaml_node_t *v, mc_spec_kv *kv, int *count,
                     int max, bool env) {
    if (*count >= max) {
        add_error(w->errs, "%s: more than %d entries (line %d)", path, max, line_of(v));
        return;
    }
    if (strlen(key) >= sizeof kv->key || !*key || (env && !env_name_ok(key))) {
        add_error(w->errs, "%s: \"%s\" is not a valid %s name (line %d)", path, key,
                  env ? "environment variable" : "label", line_of(v));
        return;
    }
    mc_spec_kv *e = &kv[*count];
    e->value[0] = '\0';
    int before = w->errs->count;
    set_str(w, path, v, e->value, sizeof e->value);
    if (w->errs->count != before) return;
    snprintf(e->key, sizeof e->key, "%s", key);
    (*count)++;
}

static void env_field(walk *w, const char *path, const char *key, yaml_node_t *v, void *ctx) {
    mc_spec_service *s = ctx;
    kv_field(w, path, key, v, s->env, &s->env_count, MC_SPEC_MAX_ENV, true);
}

static void constraint_field(walk *w, const char *path, const char *key, yaml_node_t *v, void *ctx) {
    mc_spec_service *s = ctx;
    kv_field(w, path, key, v, s->constraints, &s->constraint_count, MC_SPEC_MAX_LABELS, false);
}

static void ports_field(walk *w, const char *path, const char *key, yaml_node_t *v, void *ctx) {
    mc_spec_service *s = ctx;
    if (strcmp(key, "public") == 0) set_int(w, path, v, 1, 65535, &s->public_port);
    else if (strcmp(key, "env") == 0) {
        int before = w->errs->count;
        set_str(w, path, v, s->port_env, sizeof s->port_env);
        if (w->errs->count == before && !env_name_ok(s->port_env))
            add_error(w->errs, "%s: \"%s\" is not a valid environment variable name (line %d)", path,
                      s->port_env, line_of(v));
    } else unknown(w, path, v);
}

static void health_field(walk *w, const char *path, const char *key, yaml_node_t *v, void *ctx) {
    mc_spec_service *s = ctx;
    if (strcmp(key, "path") == 0) set_str(w, path, v, s->health_path, sizeof s->health_path);
    else if (strcmp(key, "ready_path") == 0) set_str(w, path, v, s->ready_path, sizeof s->ready_path);
    else if (strcmp(key, "interval") == 0) set_duration(w, path, v, &s->health_interval_ms);
    else if (strcmp(key, "timeout") == 0) set_duration(w, path, v, &s->health_timeout_ms);
    else if (strcmp(key, "failures") == 0) set_int(w, path, v, 1, 100, &s->health_failures);
    else if (strcmp(key, "busy_metric") == 0) set_str(w, path, v, s->busy_metric, sizeof s->busy_metric);
    else unknown(w, path, v);
}

static void restart_field(walk *w, const char *path, const char *key, yaml_node_t *v, void *ctx) {
    mc_spec_service *s = ctx;
    if (strcmp(key, "attempts") == 0) set_int(w, path, v, 0, 1000, &s->restart_attempts);
    else if (strcmp(key, "interval") == 0) set_duration(w, path, v, &s->restart_interval_ms);
    else if (strcmp(key, "delay") == 0) set_duration(w, path, v, &s->restart_delay_ms);
    else if (strcmp(key, "max_delay") == 0) set_duration(w, path, v, &s->restart_max_delay_ms);
    else unknown(w, path, v);
}

static void update_field(walk *w, const char *path, const char *key, yaml_node_t *v, void *ctx) {
    mc_spec_service *s = ctx;
    if (strcmp(key, "max_parallel") == 0) set_int(w, path, v, 1, MC_SPEC_MAX_COUNT, &s->max_parallel);
    else if (strcmp(key, "min_healthy_time") == 0) set_duration(w, path, v, &s->min_healthy_ms);
    else if (strcmp(key, "healthy_deadline") == 0) set_duration(w, path, v, &s->healthy_deadline_ms);
    else if (strcmp(key, "auto_revert") == 0) set_bool(w, path, v, &s->auto_revert);
    else if (strcmp(key, "canary") == 0) set_int(w, path, v, 0, MC_SPEC_MAX_COUNT, &s->canary);
    else unknown(w, path, v);
}

static void volume_field(walk *w, const char *path, const char *key, yaml_node_t *v, void *ctx) {
    mc_spec_service *s = ctx;
    if (strcmp(key, "name") == 0) set_str(w, path, v, s->volume_name, sizeof s->volume_name);
    else if (strcmp(key, "target") == 0) set_str(w, path, v, s->volume_target, sizeof s->volume_target);
    else unknown(w, path, v);
}

static void scaling_field(walk *w, const char *path, const char *key, yaml_node_t *v, void *ctx) {
    mc_spec_scaling *c = ctx;
    if (strcmp(key, "topic") == 0) set_str(w, path, v, c->topic, sizeof c->topic);
    else if (strcmp(key, "group") == 0) set_str(w, path, v, c->group, sizeof c->group);
    else if (strcmp(key, "min") == 0) set_int(w, path, v, 0, MC_SPEC_MAX_COUNT, &c->min);
    else if (strcmp(key, "max") == 0) set_int(w, path, v, 1, MC_SPEC_MAX_COUNT, &c->max);
    else if (strcmp(key, "lag_per_instance") == 0) set_i64(w, path, v, 1, 1000000000, &c->lag_per_instance);
    else if (strcmp(key, "interval") == 0) set_duration(w, path, v, &c->interval_ms);
    else if (strcmp(key, "up_window") == 0) set_duration(w, path, v, &c->up_window_ms);
    else if (strcmp(key, "down_window") == 0) set_duration(w, path, v, &c->down_window_ms);
    else unknown(w, path, v);
}

/* scaling: {...}: its defaults, then the fields given. */
static void scaling(walk *w, const char *path, yaml_node_t *v, mc_spec_service *s) {
    mc_spec_scaling *c = &s->scaling;
    memset(c, 0, sizeof *c);
    c->enabled = true;
    c->min = 1;
    c->max = 0;                       /* required */
    c->lag_per_instance = 10;
    c->interval_ms = 5000;
    c->up_window_ms = 0;
    c->down_window_ms = 60000;
    s->scaling_line = line_of(v);
    each_pair(w, path, v, scaling_field, c);
}

static void service_field(walk *w, const char *path, const char *key, yaml_node_t *v, void *ctx) {
    mc_spec_service *s = ctx;
    if (strcmp(key, "image") == 0) set_str(w, path, v, s->image, sizeof s->image);
    else if (strcmp(key, "count") == 0) set_int(w, path, v, 0, MC_SPEC_MAX_COUNT, &s->count);
    else if (strcmp(key, "resources") == 0) each_pair(w, path, v, resources_field, s);
    else if (strcmp(key, "env") == 0) each_pair(w, path, v, env_field, s);
    else if (strcmp(key, "ports") == 0) each_pair(w, path, v, ports_field, s);
    else if (strcmp(key, "health") == 0) each_pair(w, path, v, health_field, s);
    else if (strcmp(key, "restart") == 0) each_pair(w, path, v, restart_field, s);
    else if (strcmp(key, "update") == 0) each_pair(w, path, v, update_field, s);
    else if (strcmp(key, "constraints") == 0) each_pair(w, path, v, constraint_field, s);
    else if (strcmp(key, "stop_grace") == 0) set_duration(w, path, v, &s->stop_grace_ms);
    else if (strcmp(key, "volume") == 0) each_pair(w, path, v, volume_field, s);
    else if (strcmp(key, "scaling") == 0) scaling(w, path, v, s);
    else unknown(w, path, v);
}

static void service_defaults(mc_spec_service *s, const char *name) {
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->count = 1;
    s->cpus = 0.5;
    s->memory_bytes = 256ll << 20;
    s->pids = 256;
    snprintf(s->port_env, sizeof s->port_env, "MCLOUD_");
    for (size_t i = 0; name[i] && strlen(s->port_env) < sizeof s->port_env - 6; i++) {
        size_t l = strlen(s->port_env);
        s->port_env[l] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
        s->port_env[l + 1] = '\0';
    }
    strcat(s->port_env, "_PORT");
    snprintf(s->health_path, sizeof s->health_path, "/healthz");
    snprintf(s->ready_path, sizeof s->ready_path, "/readyz");
    s->health_interval_ms = 2000;
    s->health_timeout_ms = 1000;
    s->health_failures = 3;
    s->restart_attempts = 10;
    s->restart_interval_ms = 60000;
    s->restart_delay_ms = 500;
    s->restart_max_delay_ms = 30000;
    s->max_parallel = 1;
    s->min_healthy_ms = 10000;
    s->healthy_deadline_ms = 300000;
    s->auto_revert = true;
    s->stop_grace_ms = 30000;
}

static bool metric_name_ok(const char *n) { /* [a-zA-Z_:][a-zA-Z0-9_:]* */
    if (!(isalpha((unsigned char)*n) || *n == '_' || *n == ':')) return false;
    for (; *n; n++)
        if (!(isalnum((unsigned char)*n) || *n == '_' || *n == ':')) return false;
    return true;
}

static bool service_name_ok(const char *n) {
    if (!islower((unsigned char)*n) || strlen(n) > MC_SPEC_NAME_MAX) return false;
    for (; *n; n++)
        if (!(islower((unsigned char)*n) || isdigit((unsigned char)*n) || *n == '-')) return false;
    return true;
}

static void services_field(walk *w, const char *path, const char *key, yaml_node_t *v, void *ctx) {
    mc_spec *spec = ctx;
    if (!service_name_ok(key)) {
        add_error(w->errs, "%s: \"%s\" is not a service name (lower-case letters, digits, '-', at most %d) (line %d)",
                  path, key, MC_SPEC_NAME_MAX, line_of(v));
        return;
    }
    if (spec->service_count >= MC_SPEC_MAX_SERVICES) {
        add_error(w->errs, "%s: more than %d services (line %d)", path, MC_SPEC_MAX_SERVICES, line_of(v));
        return;
    }
    mc_spec_service *s = &spec->services[spec->service_count++];
    service_defaults(s, key);
    s->line = line_of(v);
    s->image[0] = '\0';
    each_pair(w, path, v, service_field, s);
    if (!s->image[0] && v->type == YAML_MAPPING_NODE)
        add_error(w->errs, "%s.image: missing (line %d)", path, line_of(v));
}

static void top_field(walk *w, const char *path, const char *key, yaml_node_t *v, void *ctx) {
    mc_spec *spec = ctx;
    if (strcmp(key, "version") == 0) {
        set_int(w, path, v, 1, 1, &spec->version);
    } else if (strcmp(key, "instance_ports") == 0) {
        const char *s = scalar(w, path, v);
        int a, b, used = 0;
        if (!s) return;
        if (sscanf(s, "%d-%d%n", &a, &b, &used) != 2 || s[used] || a < 1024 || b > 65535 || a > b)
            add_error(w->errs, "%s: \"%s\" is not a port range FIRST-LAST within 1024-65535 (line %d)", path, s,
                      line_of(v));
        else spec->port_first = a, spec->port_last = b;
    } else if (strcmp(key, "services") == 0) {
        each_pair(w, path, v, services_field, spec);
    } else {
        unknown(w, path, v);
    }
}

/* ---- the rules between fields ---- */

static bool image_ok(const char *image, const mc_spec_check *check) {
    if (!*image) return false;
    for (const char *p = image; *p; p++)
        if (!(isalnum((unsigned char)*p) || strchr("./:-_@", *p))) return false;
    if (!check || !check->known_images) return true;
    const char *colon = strrchr(image, ':');
    const char *slash = strrchr(image, '/');
    size_t repo_len = colon && (!slash || colon > slash) ? (size_t)(colon - image) : strlen(image);
    for (const char *const *k = check->known_images; *k; k++)
        if (strlen(*k) == repo_len && strncmp(*k, image, repo_len) == 0) return true;
    return false;
}

static bool topic_name_ok(const char *t) {
    if (!*t) return false;
    for (; *t; t++)
        if (!(isalnum((unsigned char)*t) || strchr("._-", *t))) return false;
    return true;
}

/* The rules of services.<n>.scaling (line: where scaling: was). */
static void validate_scaling(const mc_spec_service *s, const mc_spec_check *check, mc_spec_errors *errs) {
    const mc_spec_scaling *c = &s->scaling;
    const char *n = s->name;
    int l = s->scaling_line;
    if (!c->topic[0]) add_error(errs, "services.%s.scaling.topic: missing (line %d)", n, l);
    else if (!topic_name_ok(c->topic))
        add_error(errs, "services.%s.scaling.topic: \"%s\" is not a Kafka topic name (line %d)", n, c->topic, l);
    if (!c->group[0]) add_error(errs, "services.%s.scaling.group: missing (line %d)", n, l);
    else if (!topic_name_ok(c->group))
        add_error(errs, "services.%s.scaling.group: \"%s\" is not a consumer group name (line %d)", n, c->group, l);
    if (c->max < 1) {
        add_error(errs, "services.%s.scaling.max: missing (line %d)", n, l);
        return;
    }
    if (c->min > c->max)
        add_error(errs, "services.%s.scaling.min: %d above max %d (line %d)", n, c->min, c->max, l);
    else if (s->count < c->min || s->count > c->max)
        add_error(errs, "services.%s.count: %d outside scaling min-max %d-%d (line %d)", n, s->count, c->min, c->max,
                  l);
    if (c->max + s->canary > MC_SPEC_MAX_COUNT)
        add_error(errs, "services.%s.scaling.max: max + canary above %d (line %d)", n, MC_SPEC_MAX_COUNT, l);
    if (c->interval_ms < 100)
        add_error(errs, "services.%s.scaling.interval: below 100ms (line %d)", n, l);
    int parts = c->topic[0] && check && check->topic_partitions ? check->topic_partitions(check->topic_ctx, c->topic)
                                                                : -1;
    if (parts > 0 && c->max > parts)
        add_error(errs,
                  "services.%s.scaling.max: %d is above the %d partitions of topic %s (consumers beyond them sit "
                  "idle; add partitions with `mcloud kafka partitions %s N`) (line %d)",
                  n, c->max, parts, c->topic, c->topic, l);
}

int mc_spec_validate(const mc_spec *spec, const mc_spec_check *check, mc_spec_errors *errs) {
    int before = errs->count;
    if (spec->service_count == 0) add_error(errs, "services: no service declared");
    int range = spec->port_last - spec->port_first + 1;
    if (spec->service_count * 100 > range)
        add_error(errs, "instance_ports: %d-%d has room for %d services (100 ports each), %d declared",
                  spec->port_first, spec->port_last, range / 100, spec->service_count);
    for (int i = 0; i < spec->service_count; i++) {
        const mc_spec_service *s = &spec->services[i];
        const char *n = s->name;
        int l = s->line;
        if (s->image[0] && !image_ok(s->image, check))
            add_error(errs, "services.%s.image: \"%s\" is not a known image (line %d)", n, s->image, l);
        if (s->public_port) {
            for (int j = 0; j < i; j++)
                if (spec->services[j].public_port == s->public_port)
                    add_error(errs, "services.%s.ports.public: %d is already the public port of services.%s (line %d)",
                              n, s->public_port, spec->services[j].name, l);
            if (s->public_port >= spec->port_first && s->public_port <= spec->port_last)
                add_error(errs, "services.%s.ports.public: %d lies in instance_ports %d-%d (line %d)", n,
                          s->public_port, spec->port_first, spec->port_last, l);
        }
        for (int e = 0; e < s->env_count; e++)
            if (strcmp(s->env[e].key, s->port_env) == 0)
                add_error(errs, "services.%s.env.%s: set by the orchestrator (the instance's port) (line %d)", n,
                          s->port_env, l);
        if (s->count + s->canary > MC_SPEC_MAX_COUNT)
            add_error(errs, "services.%s.update.canary: count + canary above %d (line %d)", n, MC_SPEC_MAX_COUNT, l);
        if (s->health_path[0] != '/' || s->ready_path[0] != '/')
            add_error(errs, "services.%s.health: path and ready_path must start with '/' (line %d)", n, l);
        if (s->busy_metric[0] && !metric_name_ok(s->busy_metric))
            add_error(errs, "services.%s.health.busy_metric: \"%s\" is not a Prometheus metric name (line %d)", n,
                      s->busy_metric, l);
        if (s->health_timeout_ms <= 0 || s->health_timeout_ms > s->health_interval_ms)
            add_error(errs, "services.%s.health.timeout: must be above 0 and at most the interval (line %d)", n, l);
        if (s->restart_delay_ms > s->restart_max_delay_ms)
            add_error(errs, "services.%s.restart.delay: above max_delay (line %d)", n, l);
        if (s->min_healthy_ms >= s->healthy_deadline_ms)
            add_error(errs, "services.%s.update.healthy_deadline: must be longer than min_healthy_time (line %d)",
                      n, l);
        if (s->memory_bytes < MC_RES_MEMORY_MIN)
            add_error(errs, "services.%s.resources.memory: below 4M (line %d)", n, l);
        else if (s->memory_bytes > MC_RES_MEMORY_MAX)
            add_error(errs, "services.%s.resources.memory: above 1P (line %d)", n, l);
        if ((s->volume_name[0] != '\0') != (s->volume_target[0] != '\0'))
            add_error(errs, "services.%s.volume: needs both name and target (line %d)", n, l);
        else if (s->volume_target[0] && s->volume_target[0] != '/')
            add_error(errs, "services.%s.volume.target: \"%s\" is not an absolute path (line %d)", n,
                      s->volume_target, l);
        if (s->volume_name[0])
            for (const char *p = s->volume_name; *p; p++)
                if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '_')) {
                    add_error(errs, "services.%s.volume.name: \"%s\" is not a volume name (line %d)", n,
                              s->volume_name, l);
                    break;
                }
        if (s->scaling.enabled) validate_scaling(s, check, errs);
    }
    return errs->count == before ? 0 : -1;
}

int mc_spec_parse(const char *text, size_t len, const mc_spec_check *check, mc_spec *out, mc_spec_errors *errs) {
    memset(errs, 0, sizeof *errs);
    memset(out, 0, sizeof *out);
    out->version = 1;
    out->port_first = 21000;
    out->port_last = 22599;
    if (len > MC_SPEC_MAX_BYTES) {
        add_error(errs, "spec: %zu bytes, more than %d", len, MC_SPEC_MAX_BYTES);
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        add_error(errs, "spec: out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        add_error(errs, "YAML: %s%s%s (line %d)", parser.problem ? parser.problem : "syntax error",
                  parser.context ? " " : "", parser.context ? parser.context : "",
                  (int)(parser.problem_mark.line + 1));
        yaml_parser_delete(&parser);
        return -1;
    }
    walk w = {&doc, errs};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    bool has_services = false;
    if (!root) {
        add_error(errs, "spec: empty");
    } else if (root->type != YAML_MAPPING_NODE) {
        add_error(errs, "spec: expected a mapping with version and services (line %d)", line_of(root));
    } else {
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(&doc, p->key);
            if (k && k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, "services") == 0)
                has_services = true;
        }
        each_pair(&w, "", root, top_field, out);
        if (!has_services) add_error(errs, "services: missing");
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (errs->count == 0) mc_spec_validate(out, check, errs);
    if (errs->count) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    return 0;
}

/* ---- lookups ---- */

const mc_spec_service *mc_spec_find(const mc_spec *spec, const char *name) {
    int i = mc_spec_service_position(spec, name);
    return i < 0 ? NULL : &spec->services[i];
}

int mc_spec_service_position(const mc_spec *spec, const char *name) {
    for (int i = 0; i < spec->service_count; i++)
        if (strcmp(spec->services[i].name, name) == 0) return i;
    return -1;
}

int mc_spec_instance_port(const mc_spec *spec, int service_pos, int index, int slot) {
    return spec->port_first + 100 * service_pos + 50 * slot + index;
}

void mc_spec_errors_join(const mc_spec_errors *errs, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    int n = errs->count < MC_SPEC_MAX_ERRORS ? errs->count : MC_SPEC_MAX_ERRORS;
    for (int i = 0; i < n && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? "; " : "", errs->msg[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
    if (errs->count > MC_SPEC_MAX_ERRORS && used < len)
        snprintf(buf + used, len - used, "; and %d more", errs->count - MC_SPEC_MAX_ERRORS);
}

/* ---- canonical text and diff ---- */

static void fmt_size(char *out, size_t len, int64_t v) {
    static const char units[] = "TGMK";
    for (int i = 0; i < 4; i++) {
        int64_t m = 1ll << (10 * (4 - i));
        if (v >= m && v % m == 0) {
            snprintf(out, len, "%" PRId64 "%c", v / m, units[i]);
            return;
        }
    }
    snprintf(out, len, "%" PRId64, v);
}

static void fmt_duration(char *out, size_t len, int64_t ms) {
    if (ms && ms % 3600000 == 0) snprintf(out, len, "%" PRId64 "h", ms / 3600000);
    else if (ms && ms % 60000 == 0) snprintf(out, len, "%" PRId64 "m", ms / 60000);
    else if (ms && ms % 1000 == 0) snprintf(out, len, "%" PRId64 "s", ms / 1000);
    else snprintf(out, len, "%" PRId64 "ms", ms);
}

/* A YAML double-quoted scalar of s (escapes what needs it). */
static void quoted(mc_textbuf *b, const char *s) {
    mc_textbuf_printf(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') mc_textbuf_printf(b, "\\%c", c);
        else if (c < 0x20 || c == 0x7f) mc_textbuf_printf(b, "\\x%02x", c);
        else mc_textbuf_printf(b, "%c", c);
    }
    mc_textbuf_printf(b, "\"");
}

/* Flattened "path: value" lines of a service, the unit the diff compares. */
typedef struct flat {
    char line[64 + MC_SPEC_MAX_ENV + MC_SPEC_MAX_LABELS][MC_SPEC_STR_MAX + 96];
    int n;
} flat;

static void flat_add(flat *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void flat_add(flat *f, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->line[f->n++], sizeof f->line[0], fmt, ap);
    va_end(ap);
}

static void flatten(const mc_spec_service *s, flat *f) {
    char a[32], b[32], c[32], c2[32];
    f->n = 0;
    flat_add(f, "image: %s", s->image);
    flat_add(f, "count: %d", s->count);
    fmt_size(a, sizeof a, s->memory_bytes);
    flat_add(f, "resources.cpus: %g", s->cpus);
    flat_add(f, "resources.memory: %s", a);
    flat_add(f, "resources.pids: %" PRId64, s->pids);
    for (int i = 0; i < s->env_count; i++) flat_add(f, "env.%s: %s", s->env[i].key, s->env[i].value);
    flat_add(f, "ports.public: %d", s->public_port);
    flat_add(f, "ports.env: %s", s->port_env);
    fmt_duration(a, sizeof a, s->health_interval_ms);
    fmt_duration(b, sizeof b, s->health_timeout_ms);
    flat_add(f, "health.path: %s", s->health_path);
    flat_add(f, "health.ready_path: %s", s->ready_path);
    flat_add(f, "health.interval: %s", a);
    flat_add(f, "health.timeout: %s", b);
    flat_add(f, "health.failures: %d", s->health_failures);
    if (s->busy_metric[0]) flat_add(f, "health.busy_metric: %s", s->busy_metric);
    fmt_duration(a, sizeof a, s->restart_interval_ms);
    fmt_duration(b, sizeof b, s->restart_delay_ms);
    fmt_duration(c, sizeof c, s->restart_max_delay_ms);
    flat_add(f, "restart.attempts: %d", s->restart_attempts);
    flat_add(f, "restart.interval: %s", a);
    flat_add(f, "restart.delay: %s", b);
    flat_add(f, "restart.max_delay: %s", c);
    fmt_duration(a, sizeof a, s->min_healthy_ms);
    fmt_duration(b, sizeof b, s->healthy_deadline_ms);
    flat_add(f, "update.max_parallel: %d", s->max_parallel);
    flat_add(f, "update.min_healthy_time: %s", a);
    flat_add(f, "update.healthy_deadline: %s", b);
    flat_add(f, "update.auto_revert: %s", s->auto_revert ? "true" : "false");
    flat_add(f, "update.canary: %d", s->canary);
    for (int i = 0; i < s->constraint_count; i++)
        flat_add(f, "constraints.%s: %s", s->constraints[i].key, s->constraints[i].value);
    fmt_duration(a, sizeof a, s->stop_grace_ms);
    flat_add(f, "stop_grace: %s", a);
    if (s->volume_name[0]) {
        flat_add(f, "volume.name: %s", s->volume_name);
        flat_add(f, "volume.target: %s", s->volume_target);
    }
    const mc_spec_scaling *sc = &s->scaling;
    if (sc->enabled) {
        flat_add(f, "scaling.topic: %s", sc->topic);
        flat_add(f, "scaling.group: %s", sc->group);
        flat_add(f, "scaling.min: %d", sc->min);
        flat_add(f, "scaling.max: %d", sc->max);
        flat_add(f, "scaling.lag_per_instance: %" PRId64, sc->lag_per_instance);
        fmt_duration(a, sizeof a, sc->interval_ms);
        fmt_duration(b, sizeof b, sc->up_window_ms);
        fmt_duration(c2, sizeof c2, sc->down_window_ms);
        flat_add(f, "scaling.interval: %s", a);
        flat_add(f, "scaling.up_window: %s", b);
        flat_add(f, "scaling.down_window: %s", c2);
    }
}

char *mc_spec_format(const mc_spec *spec) {
    mc_textbuf b = {0};
    char a[32], c[32], d[32];
    mc_textbuf_printf(&b, "version: %d\ninstance_ports: %d-%d\nservices:\n", spec->version, spec->port_first,
              spec->port_last);
    for (int i = 0; i < spec->service_count; i++) {
        const mc_spec_service *s = &spec->services[i];
        mc_textbuf_printf(&b, "  %s:\n    image: ", s->name);
        quoted(&b, s->image);
        fmt_size(a, sizeof a, s->memory_bytes);
        mc_textbuf_printf(&b, "\n    count: %d\n    resources: {cpus: %.17g, memory: %s, pids: %" PRId64 "}\n", s->count,
                  s->cpus, a, s->pids);
        if (s->env_count) {
            mc_textbuf_printf(&b, "    env:\n");
            for (int e = 0; e < s->env_count; e++) {
                mc_textbuf_printf(&b, "      %s: ", s->env[e].key);
                quoted(&b, s->env[e].value);
                mc_textbuf_printf(&b, "\n");
            }
        }
        mc_textbuf_printf(&b, "    ports: {");
        if (s->public_port) mc_textbuf_printf(&b, "public: %d, ", s->public_port);
        mc_textbuf_printf(&b, "env: %s}\n", s->port_env);
        fmt_duration(a, sizeof a, s->health_interval_ms);
        fmt_duration(c, sizeof c, s->health_timeout_ms);
        mc_textbuf_printf(&b, "    health: {path: ");
        quoted(&b, s->health_path);
        mc_textbuf_printf(&b, ", ready_path: ");
        quoted(&b, s->ready_path);
        mc_textbuf_printf(&b, ", interval: %s, timeout: %s, failures: %d", a, c, s->health_failures);
        if (s->busy_metric[0]) mc_textbuf_printf(&b, ", busy_metric: %s", s->busy_metric);
        mc_textbuf_printf(&b, "}\n");
        fmt_duration(a, sizeof a, s->restart_interval_ms);
        fmt_duration(c, sizeof c, s->restart_delay_ms);
        fmt_duration(d, sizeof d, s->restart_max_delay_ms);
        mc_textbuf_printf(&b, "    restart: {attempts: %d, interval: %s, delay: %s, max_delay: %s}\n", s->restart_attempts, a,
                  c, d);
        fmt_duration(a, sizeof a, s->min_healthy_ms);
        fmt_duration(c, sizeof c, s->healthy_deadline_ms);
        mc_textbuf_printf(&b, "    update: {max_parallel: %d, min_healthy_time: %s, healthy_deadline: %s, auto_revert: %s, "
                      "canary: %d}\n",
                  s->max_parallel, a, c, s->auto_revert ? "true" : "false", s->canary);
        if (s->constraint_count) {
            mc_textbuf_printf(&b, "    constraints:\n");
            for (int e = 0; e < s->constraint_count; e++) {
                mc_textbuf_printf(&b, "      ");
                quoted(&b, s->constraints[e].key);
                mc_textbuf_printf(&b, ": ");
                quoted(&b, s->constraints[e].value);
                mc_textbuf_printf(&b, "\n");
            }
        }
        fmt_duration(a, sizeof a, s->stop_grace_ms);
        mc_textbuf_printf(&b, "    stop_grace: %s\n", a);
        if (s->volume_name[0]) {
            mc_textbuf_printf(&b, "    volume: {name: %s, target: ", s->volume_name);
            quoted(&b, s->volume_target);
            mc_textbuf_printf(&b, "}\n");
        }
        const mc_spec_scaling *sc = &s->scaling;
        if (sc->enabled) {
            mc_textbuf_printf(&b, "    scaling: {topic: ");
            quoted(&b, sc->topic);
            mc_textbuf_printf(&b, ", group: ");
            quoted(&b, sc->group);
            fmt_duration(a, sizeof a, sc->interval_ms);
            fmt_duration(c, sizeof c, sc->up_window_ms);
            fmt_duration(d, sizeof d, sc->down_window_ms);
            mc_textbuf_printf(&b, ", min: %d, max: %d, lag_per_instance: %" PRId64 ", interval: %s, up_window: %s, "
                                  "down_window: %s}\n",
                              sc->min, sc->max, sc->lag_per_instance, a, c, d);
        }
    }
    return mc_textbuf_finish(&b);
}

/* The value part of a flattened line whose "path: " prefix is plen long. */
static int flat_find(const flat *f, const char *line) {
    const char *colon = strstr(line, ": ");
    size_t plen = colon ? (size_t)(colon - line) + 2 : strlen(line);
    for (int i = 0; i < f->n; i++)
        if (strncmp(f->line[i], line, plen) == 0) return i;
    return -1;
}

char *mc_spec_diff(const mc_spec *a, const mc_spec *b) {
    static const mc_spec empty;
    if (!a) a = &empty;
    if (!b) b = &empty;
    mc_textbuf out = {0};
    flat *fa = malloc(sizeof *fa), *fb = malloc(sizeof *fb);
    if (!fa || !fb) {
        free(fa);
        free(fb);
        return NULL;
    }
    for (int i = 0; i < a->service_count; i++)
        if (!mc_spec_find(b, a->services[i].name))
            mc_textbuf_printf(&out, "- service %s (%d instances)\n", a->services[i].name, a->services[i].count);
    for (int i = 0; i < b->service_count; i++) {
        const mc_spec_service *sb = &b->services[i];
        const mc_spec_service *sa = mc_spec_find(a, sb->name);
        if (!sa) {
            mc_textbuf_printf(&out, "+ service %s (%d x %s)\n", sb->name, sb->count, sb->image);
            continue;
        }
        flatten(sa, fa);
        flatten(sb, fb);
        for (int k = 0; k < fa->n; k++) {
            int j = flat_find(fb, fa->line[k]);
            if (j < 0) mc_textbuf_printf(&out, "- %s.%s\n", sb->name, fa->line[k]);
            else if (strcmp(fa->line[k], fb->line[j]) != 0)
                mc_textbuf_printf(&out, "~ %s.%s -> %s\n", sb->name, fa->line[k], strstr(fb->line[j], ": ") + 2);
        }
        for (int k = 0; k < fb->n; k++)
            if (flat_find(fa, fb->line[k]) < 0) mc_textbuf_printf(&out, "+ %s.%s\n", sb->name, fb->line[k]);
    }
    if (a->service_count && b->service_count &&
        (a->port_first != b->port_first || a->port_last != b->port_last))
        mc_textbuf_printf(&out, "~ instance_ports: %d-%d -> %d-%d\n", a->port_first, a->port_last, b->port_first,
                  b->port_last);
    free(fa);
    free(fb);
    return mc_textbuf_finish(&out);
}

bool mc_spec_same_template(const mc_spec_service *a, const mc_spec_service *b) {
    mc_spec_service x = *a, y = *b;
    x.count = y.count = 0;
    x.line = y.line = 0;
    x.canary = y.canary = 0;
    x.max_parallel = y.max_parallel = 0;
    x.min_healthy_ms = y.min_healthy_ms = 0;
    x.healthy_deadline_ms = y.healthy_deadline_ms = 0;
    x.auto_revert = y.auto_revert = false;
    memset(&x.scaling, 0, sizeof x.scaling); /* the policy changes how many, never how one runs */
    memset(&y.scaling, 0, sizeof y.scaling);
    x.scaling_line = y.scaling_line = 0;
    x.cpus = y.cpus = 0; /* resources change in place (orchestrator/limits.h) */
    x.memory_bytes = y.memory_bytes = 0;
    x.pids = y.pids = 0;
    flat *fa = malloc(sizeof *fa), *fb = malloc(sizeof *fb);
    bool same = false;
    if (fa && fb) {
        flatten(&x, fa);
        flatten(&y, fb);
        same = fa->n == fb->n;
        for (int i = 0; same && i < fa->n; i++) same = strcmp(fa->line[i], fb->line[i]) == 0;
    }
    free(fa);
    free(fb);
    return same;
}
