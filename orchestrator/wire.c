/* wire.c — heartbeat parsing, order bodies, operator bodies (see wire.h). */
#include "orchestrator/wire.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"

static int copy_str(json_t *obj, const char *field, bool required, char *out, size_t cap, mc_err *err) {
    const char *s;
    if (mc_json_get_string(obj, field, required, "", &s, err) < 0) return -1;
    if (strlen(s) >= cap) return mc_err_set(err, MC_ERR_INVALID, "field '%s' is longer than %zu bytes", field, cap - 1);
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

static int get_number(json_t *obj, const char *field, double min, double max, double *out, mc_err *err) {
    json_t *v = json_object_get(obj, field);
    if (!v) return mc_err_set(err, MC_ERR_INVALID, "field '%s' is required", field);
    if (!json_is_number(v)) return mc_err_set(err, MC_ERR_INVALID, "field '%s' must be a number", field);
    double d = json_number_value(v);
    if (!isfinite(d) || d < min || d > max)
        return mc_err_set(err, MC_ERR_INVALID, "field '%s' must be between %g and %g", field, min, max);
    *out = d;
    return 0;
}

static int get_i64(json_t *obj, const char *field, bool required, int64_t *out, mc_err *err) {
    long long v;
    if (mc_json_get_int(obj, field, required, 0, 0, INT64_MAX, &v, err) < 0) return -1;
    *out = v;
    return 0;
}

/* "usage": the container's cgroup figures (optional: an agent that could not
 * read them leaves them out). */
static int parse_usage(json_t *o, mc_report *r, mc_err *err) {
    json_t *u = json_object_get(o, "usage");
    if (!u) return 0;
    if (!json_is_object(u)) return mc_err_set(err, MC_ERR_INVALID, "field 'usage' must be an object");
    double cpu = 0, pct = 0;
    if ((json_object_get(u, "cpu_seconds") && get_number(u, "cpu_seconds", 0, 1e12, &cpu, err) < 0) ||
        (json_object_get(u, "cpu_percent") && get_number(u, "cpu_percent", 0, 1e6, &pct, err) < 0))
        return mc_err_wrap(err, "usage");
    if (mc_json_get_int(u, "memory_bytes", false, 0, 0, INT64_MAX, &r->memory_bytes, err) < 0 ||
        mc_json_get_int(u, "pids", false, 0, 0, INT32_MAX, &r->pids, err) < 0)
        return mc_err_wrap(err, "usage");
    r->cpu_seconds = cpu, r->cpu_percent = pct;
    return 0;
}

/* "resources": the limits the agent holds for the instance (optional: an
 * agent from before live limits leaves them out). */
static int parse_limits(json_t *o, mc_report *r, mc_err *err) {
    json_t *l = json_object_get(o, "resources");
    if (!l) return 0;
    if (!json_is_object(l)) return mc_err_set(err, MC_ERR_INVALID, "field 'resources' must be an object");
    if (get_number(l, "cpus", 0, 1024, &r->limit_cpus, err) < 0 ||
        mc_json_get_int(l, "memory_bytes", true, 0, 0, INT64_MAX, &r->limit_memory_bytes, err) < 0 ||
        mc_json_get_int(l, "pids", true, 0, 0, INT32_MAX, &r->limit_pids, err) < 0 ||
        mc_json_get_bool(l, "applied", false, true, &r->limits_applied, err) < 0)
        return mc_err_wrap(err, "resources");
    r->has_limits = true;
    return 0;
}

/* restart_schedule_ms (optional): whole milliseconds; the last
 * MC_REPORT_SCHEDULE_MAX are kept. */
static int parse_schedule(json_t *o, mc_report *r, mc_err *err) {
    json_t *a = json_object_get(o, "restart_schedule_ms");
    if (!a) return 0;
    if (!json_is_array(a)) return mc_err_set(err, MC_ERR_INVALID, "field 'restart_schedule_ms' must be an array");
    size_t n = json_array_size(a), first = n > MC_REPORT_SCHEDULE_MAX ? n - MC_REPORT_SCHEDULE_MAX : 0;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
            return mc_err_set(err, MC_ERR_INVALID, "field 'restart_schedule_ms' must hold milliseconds");
        if (i >= first) r->schedule_ms[r->nschedule++] = (unsigned)json_integer_value(v);
    }
    return 0;
}

static int parse_instance(json_t *o, const char *node, mc_report *r, mc_err *err) {
    long long index, restarts, exit_code, port;
    memset(r, 0, sizeof *r);
    if (!json_is_object(o)) return mc_err_set(err, MC_ERR_INVALID, "an instance must be an object");
    if (copy_str(o, "name", true, r->name, sizeof r->name, err) < 0 ||
        copy_str(o, "service", true, r->service, sizeof r->service, err) < 0 ||
        mc_json_get_int(o, "index", true, 0, 0, MC_SPEC_MAX_COUNT * 2, &index, err) < 0 ||
        copy_str(o, "container_id", false, r->container_id, sizeof r->container_id, err) < 0 ||
        copy_str(o, "state", true, r->state, sizeof r->state, err) < 0 ||
        mc_json_get_bool(o, "ready", false, false, &r->ready, err) < 0 ||
        mc_json_get_bool(o, "healthy", false, false, &r->healthy, err) < 0 ||
        mc_json_get_bool(o, "busy", false, false, &r->busy, err) < 0 ||
        mc_json_get_int(o, "restarts", false, 0, 0, INT32_MAX, &restarts, err) < 0 ||
        mc_json_get_int(o, "last_exit_code", false, 0, -1, 255, &exit_code, err) < 0 ||
        get_i64(o, "spec_version", true, &r->spec_version, err) < 0 ||
        mc_json_get_int(o, "port", false, 0, 0, 65535, &port, err) < 0 ||
        copy_str(o, "started_at", false, r->started_at, sizeof r->started_at, err) < 0 ||
        parse_usage(o, r, err) < 0 || parse_schedule(o, r, err) < 0 || parse_limits(o, r, err) < 0)
        return mc_err_wrap(err, "instance");
    r->index = (int)index;
    r->restarts = (int)restarts;
    r->last_exit_code = (int)exit_code;
    r->port = (int)port;
    snprintf(r->node, sizeof r->node, "%s", node);
    return 0;
}

static int parse_labels(json_t *labels, mc_node *node, mc_err *err) {
    if (!labels) return 0;
    if (!json_is_object(labels)) return mc_err_set(err, MC_ERR_INVALID, "field 'labels' must be an object");
    const char *k;
    json_t *v;
    json_object_foreach(labels, k, v) {
        if (node->label_count >= MC_SPEC_MAX_LABELS)
            return mc_err_set(err, MC_ERR_INVALID, "field 'labels' has more than %d entries", MC_SPEC_MAX_LABELS);
        if (!json_is_string(v) || strlen(k) >= sizeof node->labels[0].key ||
            strlen(json_string_value(v)) >= sizeof node->labels[0].value)
            return mc_err_set(err, MC_ERR_INVALID, "field 'labels.%.40s' must be a short string", k);
        mc_spec_kv *kv = &node->labels[node->label_count++];
        snprintf(kv->key, sizeof kv->key, "%s", k);
        snprintf(kv->value, sizeof kv->value, "%s", json_string_value(v));
    }
    return 0;
}

int mc_heartbeat_parse(const char *buf, size_t len, mc_node *node, mc_report *reports, int max, int *nreports,
                       mc_err *err) {
    memset(node, 0, sizeof *node);
    *nreports = 0;
    json_t *root = mc_json_parse_object(buf, len, err);
    if (!root) return -1;
    int rc = -1;
    long long v;
    json_t *cap = json_object_get(root, "capacity"), *free_ = json_object_get(root, "free");
    json_t *insts = json_object_get(root, "instances");
    if (mc_json_get_int(root, "v", true, 1, 1, 1, &v, err) < 0 ||
        copy_str(root, "node", true, node->name, sizeof node->name, err) < 0 ||
        copy_str(root, "agent_url", true, node->agent_url, sizeof node->agent_url, err) < 0 ||
        get_i64(root, "fence", false, &node->fence, err) < 0 ||
        parse_labels(json_object_get(root, "labels"), node, err) < 0)
        goto out;
    if (!mc_api_name_valid(node->name)) {
        mc_err_set(err, MC_ERR_INVALID, "field 'node' must be 1-63 of [a-z0-9-]");
        goto out;
    }
    if (strncmp(node->agent_url, "http://", 7) != 0) {
        mc_err_set(err, MC_ERR_INVALID, "field 'agent_url' must be an http:// URL");
        goto out;
    }
    double mem = 0, pids = 0, free_mem = 0;
    if (!json_is_object(cap) || !json_is_object(free_)) {
        mc_err_set(err, MC_ERR_INVALID, "fields 'capacity' and 'free' must be objects");
        goto out;
    }
    if (get_number(cap, "cpus", 0, 65536, &node->cpus, err) < 0 ||
        get_number(cap, "memory_bytes", 0, 9e18, &mem, err) < 0 ||
        get_number(free_, "cpus", 0, 65536, &node->free_cpus, err) < 0 ||
        get_number(free_, "memory_bytes", 0, 9e18, &free_mem, err) < 0) {
        mc_err_wrap(err, "capacity/free");
        goto out;
    }
    if (json_object_get(cap, "pids") && get_number(cap, "pids", 0, 1e12, &pids, err) < 0) goto out;
    node->memory_bytes = (int64_t)mem;
    node->free_memory_bytes = (int64_t)free_mem;
    node->pids = (int64_t)pids;
    if (insts && !json_is_array(insts)) {
        mc_err_set(err, MC_ERR_INVALID, "field 'instances' must be an array");
        goto out;
    }
    size_t i;
    json_t *o;
    json_array_foreach(insts, i, o) {
        if (*nreports >= max) {
            mc_err_set(err, MC_ERR_INVALID, "field 'instances' has more than %d entries", max);
            goto out;
        }
        if (parse_instance(o, node->name, &reports[*nreports], err) < 0) goto out;
        (*nreports)++;
    }
    node->alive = true;
    rc = 0;
out:
    json_decref(root);
    if (rc < 0) *nreports = 0;
    return rc;
}

json_t *mc_order_body(const mc_spec_service *s, int port, int index, int64_t version) {
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    json_t *env = json_object();
    for (int i = 0; i < s->env_count; i++) json_object_set_new(env, s->env[i].key, json_string(s->env[i].value));
    json_object_set_new(env, s->port_env, json_string(portstr));
    json_t *volumes = json_array();
    if (s->volume_name[0]) {
        char name[128];
        snprintf(name, sizeof name, "%s-%d-%s", s->name, index, s->volume_name);
        json_array_append_new(volumes, json_pack("{s:s, s:s}", "name", name, "target", s->volume_target));
    }
    return json_pack("{s:i, s:s, s:i, s:s, s:I, s:i, s:o, s:{s:f, s:I, s:I}, "
                     "s:{s:s, s:s, s:I, s:I, s:i, s:s}, s:{s:i, s:I, s:I, s:I}, s:I, s:o}",
                     "v", 1, "service", s->name, "index", index, "image", s->image, "spec_version",
                     (json_int_t)version, "port", port, "env", env, "resources", "cpus", s->cpus, "memory_bytes",
                     (json_int_t)s->memory_bytes, "pids", (json_int_t)s->pids, "health", "path", s->health_path,
                     "ready_path", s->ready_path, "interval_ms", (json_int_t)s->health_interval_ms, "timeout_ms",
                     (json_int_t)s->health_timeout_ms, "failures", s->health_failures, "busy_metric", s->busy_metric, "restart", "attempts",
                     s->restart_attempts, "interval_ms", (json_int_t)s->restart_interval_ms, "delay_ms",
                     (json_int_t)s->restart_delay_ms, "max_delay_ms", (json_int_t)s->restart_max_delay_ms,
                     "stop_grace_ms", (json_int_t)s->stop_grace_ms, "volumes", volumes);
}

static int only_fields(json_t *obj, const char *allowed, mc_err *err) {
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        (void)v;
        if (strcmp(k, allowed) != 0) return mc_err_set(err, MC_ERR_INVALID, "field '%.40s' is unknown", k);
    }
    return 0;
}

int mc_api_parse_scale(const char *buf, size_t len, int *count, mc_err *err) {
    json_t *root = mc_json_parse_object(buf, len, err);
    if (!root) return -1;
    long long v;
    int rc = only_fields(root, "count", err) < 0 ||
                     mc_json_get_int(root, "count", true, 0, 0, MC_SPEC_MAX_COUNT, &v, err) < 0
                 ? -1
                 : 0;
    if (rc == 0) *count = (int)v;
    json_decref(root);
    return rc;
}

int mc_api_parse_scale_bounds(const char *buf, size_t len, int *min, int *max, mc_err *err) {
    json_t *root = mc_json_parse_object(buf, len, err);
    if (!root) return -1;
    *min = *max = -1;
    int rc = 0;
    if (json_object_get(root, "min") || json_object_get(root, "max")) {
        const char *k;
        json_t *v;
        json_object_foreach(root, k, v) {
            (void)v;
            if (strcmp(k, "min") != 0 && strcmp(k, "max") != 0) {
                rc = mc_err_set(err, MC_ERR_INVALID, "field '%.40s' is unknown (min, max)", k);
                break;
            }
        }
        long long a = -1, b = -1;
        if (rc == 0 && (mc_json_get_int(root, "min", false, -1, 0, MC_SPEC_MAX_COUNT, &a, err) < 0 ||
                        mc_json_get_int(root, "max", false, -1, 1, MC_SPEC_MAX_COUNT, &b, err) < 0))
            rc = -1;
        if (rc == 0) {
            *min = (int)a, *max = (int)b;
            rc = 1;
        }
    }
    json_decref(root);
    return rc;
}

int mc_api_parse_drain(const char *buf, size_t len, bool *drain, mc_err *err) {
    json_t *root = mc_json_parse_object(buf, len, err);
    if (!root) return -1;
    int rc = only_fields(root, "drain", err) < 0 || mc_json_get_bool(root, "drain", true, true, drain, err) < 0 ? -1 : 0;
    json_decref(root);
    return rc;
}

bool mc_api_name_valid(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > MC_NODE_NAME_MAX || !isalnum((unsigned char)s[0])) return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-')) return false;
    return true;
}

char *mc_public_ports_json(const mc_spec *spec) {
    json_t *ports = json_object();
    for (int i = 0; ports && i < spec->service_count; i++)
        if (spec->services[i].public_port > 0)
            json_object_set_new(ports, spec->services[i].name, json_integer(spec->services[i].public_port));
    json_t *doc = ports ? json_pack("{s:i,s:o}", "v", 1, "ports", ports) : NULL;
    char *text = doc ? mc_json_dump(doc) : NULL;
    json_decref(doc);
    return text;
}
