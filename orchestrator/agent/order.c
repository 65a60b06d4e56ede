/* order.c — parsing and validating the orchestrator's orders, the fencing
 * rule and the container naming (see order.h). */
#include "orchestrator/agent/order.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

static bool name_ok(const char *s, size_t max) {
    size_t n = strlen(s);
    if (n == 0 || n >= max) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    return s[0] != '-' && s[n - 1] != '-';
}

static int get_obj(json_t *o, const char *field, bool required, json_t **out, mc_err *err) {
    *out = json_object_get(o, field);
    if (!*out) return required ? mc_err_set(err, MC_ERR_INVALID, "field '%s' is required", field) : 0;
    if (!json_is_object(*out)) return mc_err_set(err, MC_ERR_INVALID, "field '%s' must be an object", field);
    return 0;
}

static int get_long(json_t *o, const char *prefix, const char *field, bool required, long long def,
                    long long min, long long max, long long *out, mc_err *err) {
    if (mc_json_get_int(o, field, required, def, min, max, out, err) < 0)
        return prefix ? mc_err_wrap(err, "%s", prefix) : -1;
    return 0;
}

static int copy_field(json_t *o, const char *field, bool required, const char *def, char *dst,
                      size_t cap, mc_err *err) {
    const char *s;
    if (mc_json_get_string(o, field, required, def, &s, err) < 0) return -1;
    if (strlen(s) >= cap) return mc_err_set(err, MC_ERR_INVALID, "field '%s' is too long (max %zu)", field, cap - 1);
    snprintf(dst, cap, "%s", s);
    return 0;
}

/* Strings of env and volumes live in one arena so the order frees at once. */
static char *arena_dup(char **arena, size_t *used, size_t cap, const char *s) {
    size_t n = strlen(s) + 1;
    if (*used + n > cap) return NULL;
    char *p = *arena + *used;
    memcpy(p, s, n);
    *used += n;
    return p;
}

static int parse_env(json_t *env, mc_agent_order *o, size_t *used, size_t cap, mc_err *err) {
    if (!env) return 0;
    if (!json_is_object(env)) return mc_err_set(err, MC_ERR_INVALID, "field 'env' must be an object");
    const char *k;
    json_t *v;
    json_object_foreach(env, k, v) {
        if (o->nenv == MC_AGENT_MAX_ENV)
            return mc_err_set(err, MC_ERR_INVALID, "field 'env' has more than %d variables", MC_AGENT_MAX_ENV);
        if (!k[0] || strchr(k, '=') || strlen(k) > 128)
            return mc_err_set(err, MC_ERR_INVALID, "field 'env': '%.64s' is not a variable name", k);
        if (!json_is_string(v))
            return mc_err_set(err, MC_ERR_INVALID, "field 'env.%.64s' must be a string", k);
        mc_docker_kv *kv = &o->env[o->nenv++];
        kv->key = arena_dup(&o->strings, used, cap, k);
        kv->value = arena_dup(&o->strings, used, cap, json_string_value(v));
        if (!kv->key || !kv->value) return mc_err_set(err, MC_ERR_INVALID, "field 'env' is too large");
    }
    return 0;
}

static int parse_volumes(json_t *vols, mc_agent_order *o, size_t *used, size_t cap, mc_err *err) {
    if (!vols) return 0;
    if (!json_is_array(vols)) return mc_err_set(err, MC_ERR_INVALID, "field 'volumes' must be an array");
    if (json_array_size(vols) > MC_AGENT_MAX_VOLUMES)
        return mc_err_set(err, MC_ERR_INVALID, "field 'volumes' has more than %d entries", MC_AGENT_MAX_VOLUMES);
    for (size_t i = 0; i < json_array_size(vols); i++) {
        json_t *v = json_array_get(vols, i);
        const char *name, *target;
        if (!json_is_object(v) || mc_json_get_string(v, "name", true, NULL, &name, err) < 0 ||
            mc_json_get_string(v, "target", true, NULL, &target, err) < 0)
            return json_is_object(v) ? mc_err_wrap(err, "volumes[%zu]", i)
                                     : mc_err_set(err, MC_ERR_INVALID, "volumes[%zu] must be an object", i);
        if (!name_ok(name, 128))
            return mc_err_set(err, MC_ERR_INVALID, "volumes[%zu].name: lowercase letters, digits and '-' only", i);
        if (target[0] != '/' || strstr(target, ".."))
            return mc_err_set(err, MC_ERR_INVALID, "volumes[%zu].target must be an absolute path", i);
        mc_docker_volume *vol = &o->volumes[o->nvolumes++];
        vol->name = arena_dup(&o->strings, used, cap, name);
        vol->target = arena_dup(&o->strings, used, cap, target);
        if (!vol->name || !vol->target) return mc_err_set(err, MC_ERR_INVALID, "field 'volumes' is too large");
    }
    return 0;
}

static int parse_body(json_t *b, mc_agent_order *o, size_t len, mc_err *err) {
    long long v, index, port;
    if (get_long(b, NULL, "v", true, 1, 1, 1, &v, err) < 0 ||
        copy_field(b, "service", true, NULL, o->service, sizeof o->service, err) < 0 ||
        get_long(b, NULL, "index", true, 0, 0, 9999, &index, err) < 0 ||
        copy_field(b, "image", true, NULL, o->image, sizeof o->image, err) < 0 ||
        get_long(b, NULL, "spec_version", true, 0, 0, INT64_MAX, &o->spec_version, err) < 0 ||
        get_long(b, NULL, "port", true, 0, 1, 65535, &port, err) < 0 ||
        get_long(b, NULL, "stop_grace_ms", false, 30000, 0, 3600000, &v, err) < 0)
        return -1;
    o->index = (int)index;
    o->port = (int)port;
    o->stop_grace_ms = (long)v;
    if (!name_ok(o->service, sizeof o->service))
        return mc_err_set(err, MC_ERR_INVALID, "field 'service': lowercase letters, digits and '-' only");
    char want[MC_AGENT_NAME_MAX];
    snprintf(want, sizeof want, "%s-%d", o->service, o->index);
    if (strcmp(want, o->name) != 0)
        return mc_err_set(err, MC_ERR_INVALID, "field 'index': instance '%s' is not %s", o->name, want);
    if (!o->image[0] || strpbrk(o->image, " \t\r\n"))
        return mc_err_set(err, MC_ERR_INVALID, "field 'image' must be an image reference");

    json_t *res, *health, *restart;
    if (get_obj(b, "resources", false, &res, err) < 0 || get_obj(b, "health", false, &health, err) < 0 ||
        get_obj(b, "restart", false, &restart, err) < 0)
        return -1;
    o->cpus = 0;
    if (res) {
        json_t *cpus = json_object_get(res, "cpus");
        if (cpus && (!json_is_number(cpus) || json_number_value(cpus) < 0 || json_number_value(cpus) > 1024))
            return mc_err_set(err, MC_ERR_INVALID, "field 'resources.cpus' must be a number from 0 to 1024");
        if (cpus) o->cpus = json_number_value(cpus);
        if (get_long(res, "resources", "memory_bytes", false, 0, 0, INT64_MAX / 2, &o->memory_bytes, err) < 0 ||
            get_long(res, "resources", "pids", false, 0, 0, 1 << 22, &o->pids, err) < 0)
            return -1;
    }
    json_t *h = health ? health : json_object();
    long long iv, to, fl;
    int rc = copy_field(h, "path", false, "/healthz", o->health.path, sizeof o->health.path, err);
    if (rc == 0) rc = copy_field(h, "ready_path", false, "/readyz", o->health.ready_path, sizeof o->health.ready_path, err);
    if (rc == 0)
        rc = copy_field(h, "busy_metric", false, "", o->health.busy_metric, sizeof o->health.busy_metric, err);
    if (rc == 0) rc = get_long(h, "health", "interval_ms", false, 2000, 100, 3600000, &iv, err);
    if (rc == 0) rc = get_long(h, "health", "timeout_ms", false, 1000, 10, 600000, &to, err);
    if (rc == 0) rc = get_long(h, "health", "failures", false, 3, 1, 100, &fl, err);
    if (!health) json_decref(h);
    if (rc < 0) return mc_err_wrap(err, "health");
    if (o->health.path[0] != '/' || o->health.ready_path[0] != '/')
        return mc_err_set(err, MC_ERR_INVALID, "field 'health.path' and 'health.ready_path' must start with '/'");
    o->health.interval_ms = (long)iv;
    o->health.timeout_ms = (long)to;
    o->health.failures = (int)fl;

    json_t *r = restart ? restart : json_object();
    long long at, ri, de, md;
    rc = get_long(r, "restart", "attempts", false, 10, 0, 100000, &at, err);
    if (rc == 0) rc = get_long(r, "restart", "interval_ms", false, 60000, 0, 86400000, &ri, err);
    if (rc == 0) rc = get_long(r, "restart", "delay_ms", false, 500, 1, 3600000, &de, err);
    if (rc == 0) rc = get_long(r, "restart", "max_delay_ms", false, 30000, 1, 3600000, &md, err);
    if (!restart) json_decref(r);
    if (rc < 0) return -1;
    if (md < de) return mc_err_set(err, MC_ERR_INVALID, "field 'restart.max_delay_ms' is below 'restart.delay_ms'");
    o->restart = (mc_agent_restart){.attempts = (int)at, .interval_ms = (long)ri, .delay_ms = (long)de,
                                    .max_delay_ms = (long)md};
    size_t used = 0;
    o->strings = malloc(len + 1);
    if (!o->strings) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    if (parse_env(json_object_get(b, "env"), o, &used, len + 1, err) < 0 ||
        parse_volumes(json_object_get(b, "volumes"), o, &used, len + 1, err) < 0)
        return -1;
    return 0;
}

int mc_agent_order_parse(const char *name, const char *body, size_t len, mc_agent_order *out,
                         mc_err *err) {
    memset(out, 0, sizeof *out);
    if (!name || !name_ok(name, sizeof out->name))
        return mc_err_set(err, MC_ERR_INVALID, "instance name must be <service>-<index> (lowercase, digits, '-')");
    snprintf(out->name, sizeof out->name, "%s", name);
    json_t *b = mc_json_parse_object(body, len, err);
    if (!b) return -1;
    int rc = parse_body(b, out, len, err);
    json_decref(b);
    if (rc < 0) mc_agent_order_free(out);
    return rc;
}

void mc_agent_order_free(mc_agent_order *o) {
    free(o->strings);
    o->strings = NULL;
    o->nenv = o->nvolumes = 0;
}

long mc_agent_restart_delay(const mc_agent_restart *r, mc_agent_restart_window *w, double now, long backoff_ms) {
    if (w->start <= 0 || now - w->start >= r->interval_ms / 1000.0) {
        w->start = now;
        w->count = 0;
    }
    w->count++;
    if (w->count > r->attempts) return backoff_ms > r->max_delay_ms ? backoff_ms : r->max_delay_ms;
    return backoff_ms;
}

int mc_agent_fence_check(const char *header, uint64_t *highest, mc_err *err) {
    if (!header || !header[0])
        return mc_err_set(err, MC_ERR_INVALID, "header 'X-Mcloud-Fence' is required");
    char *end;
    errno = 0;
    unsigned long long t = strtoull(header, &end, 10);
    if (errno || *end || header[0] < '0' || header[0] > '9')
        return mc_err_set(err, MC_ERR_INVALID, "header 'X-Mcloud-Fence' must be a decimal token");
    if (t < *highest)
        return mc_err_set(err, MC_ERR_CONFLICT, "fencing token %llu is older than %llu: a newer orchestrator leads",
                          t, (unsigned long long)*highest);
    *highest = t;
    return 0;
}

int mc_agent_container_name(const char *node, const mc_agent_order *o, char *out, size_t cap) {
    int n = snprintf(out, cap, "mcloud-%s-%s-%d", node, o->service, o->index);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static bool label_is(const mc_docker_container *c, const char *key, const char *want) {
    const char *v = json_string_value(json_object_get(c->labels, key));
    return v && strcmp(v, want) == 0;
}

bool mc_agent_container_is_order(const mc_docker_container *c, const char *node, const mc_agent_order *o) {
    char version[32];
    snprintf(version, sizeof version, "%lld", o->spec_version);
    bool alive = strcmp(c->state, "created") == 0 || strcmp(c->state, "running") == 0;
    return alive && label_is(c, "mcloud.managed", "true") && label_is(c, "mcloud.node", node) &&
           label_is(c, "mcloud.instance", o->name) && label_is(c, "mcloud.spec_version", version);
}
