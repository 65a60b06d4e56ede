/* limits.c — resource limits changed on running instances (see limits.h). */
#include "orchestrator/limits.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "orchestrator/resources.h"

mc_spec_change_kind mc_spec_change(const mc_spec_service *a, const mc_spec_service *b) {
    if (!mc_spec_same_template(a, b)) return MC_CHANGE_ROLLOUT;
    mc_limits la, lb;
    mc_limits_of(a, &la);
    mc_limits_of(b, &lb);
    return mc_limits_equal(&la, &lb) ? MC_CHANGE_NONE : MC_CHANGE_IN_PLACE;
}

const char *mc_spec_change_name(mc_spec_change_kind k) {
    return k == MC_CHANGE_ROLLOUT ? "rollout" : k == MC_CHANGE_IN_PLACE ? "in place" : "none";
}

void mc_limits_of(const mc_spec_service *s, mc_limits *out) {
    out->cpus = s->cpus;
    out->memory_bytes = s->memory_bytes;
    out->pids = s->pids;
}

bool mc_limits_equal(const mc_limits *a, const mc_limits *b) {
    return fabs(a->cpus - b->cpus) < 1e-6 && a->memory_bytes == b->memory_bytes && a->pids == b->pids;
}

static int parse_memory(json_t *v, int64_t *out, mc_err *err) {
    int64_t bytes = -1;
    if (json_is_integer(v)) bytes = json_integer_value(v);
    else if (json_is_string(v)) bytes = mc_spec_parse_size(json_string_value(v));
    else return mc_err_set(err, MC_ERR_INVALID, "field 'memory' must be a size (\"2G\", \"512M\") or bytes");
    if (bytes < 0)
        return mc_err_set(err, MC_ERR_INVALID, "field 'memory': \"%.40s\" is not a size (K/M/G/T, e.g. \"2G\")",
                          json_string_value(v));
    if (bytes < MC_RES_MEMORY_MIN) return mc_err_set(err, MC_ERR_INVALID, "field 'memory' is below 4M");
    if (bytes > MC_RES_MEMORY_MAX) return mc_err_set(err, MC_ERR_INVALID, "field 'memory' is above 1P");
    *out = bytes;
    return 0;
}

int mc_api_parse_resources(const char *buf, size_t len, const mc_limits *cur, mc_limits *out, mc_err *err) {
    json_t *root = mc_json_parse_object(buf, len, err);
    if (!root) return -1;
    mc_limits l = *cur;
    int rc = 0, given = 0;
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        given++;
        if (strcmp(k, "cpus") == 0) {
            double d = json_is_number(v) ? json_number_value(v) : -1;
            if (!isfinite(d) || d < MC_RES_CPUS_MIN || d > MC_RES_CPUS_MAX)
                rc = mc_err_set(err, MC_ERR_INVALID, "field 'cpus' must be a number of CPUs between 0.01 and 1024");
            else l.cpus = d;
        } else if (strcmp(k, "memory") == 0) {
            rc = parse_memory(v, &l.memory_bytes, err);
        } else if (strcmp(k, "pids") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < MC_RES_PIDS_MIN || json_integer_value(v) > MC_RES_PIDS_MAX)
                rc = mc_err_set(err, MC_ERR_INVALID, "field 'pids' must be a whole number from %d to %d",
                                MC_RES_PIDS_MIN, MC_RES_PIDS_MAX);
            else l.pids = json_integer_value(v);
        } else {
            rc = mc_err_set(err, MC_ERR_INVALID, "field '%.40s' is unknown (cpus, memory, pids)", k);
        }
        if (rc < 0) break;
    }
    if (rc == 0 && !given) rc = mc_err_set(err, MC_ERR_INVALID, "give at least one of 'cpus', 'memory', 'pids'");
    json_decref(root);
    if (rc == 0) *out = l;
    return rc;
}

static void fmt_bytes(char *out, size_t cap, int64_t b) {
    if (b >= (1ll << 30) && b % (1ll << 30) == 0) snprintf(out, cap, "%lldG", (long long)(b >> 30));
    else if (b >= (1ll << 20)) snprintf(out, cap, "%.1fM", b / 1048576.0);
    else snprintf(out, cap, "%lldK", (long long)(b >> 10));
}

int mc_limits_check(const char *service, const mc_limits *want, const mc_report *reports, int nreports, mc_err *err) {
    for (int i = 0; i < nreports; i++) {
        const mc_report *r = &reports[i];
        if (strcmp(r->service, service) != 0 || r->memory_bytes <= want->memory_bytes) continue;
        char limit[32], used[32];
        fmt_bytes(limit, sizeof limit, want->memory_bytes);
        fmt_bytes(used, sizeof used, r->memory_bytes);
        return mc_err_set(err, MC_ERR_CONFLICT,
                          "field 'memory': %s is below the %s instance %s uses now on node %s; nothing changed",
                          limit, used, r->name, r->node);
    }
    return 0;
}

int mc_limits_for(const mc_limits_hist *hist, int n, const char *service, int64_t version, mc_limits *out) {
    const mc_spec_service *tmpl = NULL;
    for (int i = 0; i < n && !tmpl; i++)
        if (hist[i].version == version) tmpl = mc_spec_find(hist[i].spec, service);
    if (!tmpl) return -1;
    for (int i = 0; i < n; i++) { /* newest first: the first of the same template wins */
        const mc_spec_service *s = mc_spec_find(hist[i].spec, service);
        if (s && mc_spec_same_template(s, tmpl)) {
            mc_limits_of(s, out);
            return 0;
        }
    }
    mc_limits_of(tmpl, out);
    return 0;
}

void mc_limits_format(const mc_limits *l, char *out, size_t cap) {
    char mem[32];
    fmt_bytes(mem, sizeof mem, l->memory_bytes);
    snprintf(out, cap, "%g CPUs, %s memory, %lld pids", l->cpus, mem, (long long)l->pids);
}
