/* api.c — the operator HTTP API of mcloud-orchestrator (JSON).
 *
 * Every route needs a bearer token (common/token.h) signed with the
 * platform's token key: scope "operator" may read and change, scope
 * "operator-read" may only read. No or a bad token: 401; a token without
 * the right: 403; a malformed body: 400; all errors are
 * application/problem+json {type,title,status,detail,code}. A spec refused
 * by the validator answers 400 with every message in "errors".
 *   GET  /v1/status                      role (active|standby), fence, spec version
 *   GET  /v1/instances                   desired and reported instances (mcloud ps)
 *   GET  /v1/instances/<name>/logs?tail=N the container's last lines, from its agent
 *   GET  /v1/nodes                       nodes, capacity, draining
 *   GET  /v1/spec                        the current spec (canonical YAML) and version
 *   GET  /v1/spec/versions               the history: who, when, why, the diff
 *   POST /v1/spec[?dry_run=true]         apply a spec (YAML body); answers the diff
 *   GET  /v1/services/<s>/rollout        the rollout's status
 *   POST /v1/services/<s>/scale          {"count": N}; refused (409) on an autoscaled
 *                                        service, whose {"min": A, "max": B} it changes instead
 *   GET  /v1/autoscale                   each scaling policy: lag, desired, actual, decisions
 *   POST /v1/services/<s>/resources      {"cpus","memory","pids"}: new limits, in place (resize.c)
 *   POST /v1/services/<s>/promote        promote the canaries
 *   POST /v1/services/<s>/undo           back to the service's previous definition
 *   POST /v1/nodes/<n>/drain             {"drain": true|false}
 * Changes go to MySQL; the active orchestrator picks them up within a
 * round, so either orchestrator may take them. */
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "common/log.h"
#include "orchestrator/limits.h"
#include "orchestrator/orchestrator.h"
#include "orchestrator/wire.h"

#define BODY_MAX 4096

static enum MHD_Result problem_err(mc_http_req *req, const mc_err *err) {
    switch (err->kind) {
    case MC_ERR_INVALID: return mc_http_send_problem(req, 400, "invalid", "Bad request", NULL, "%s", err->msg);
    case MC_ERR_NOT_FOUND: return mc_http_send_problem(req, 404, "not_found", "Not found", NULL, "%s", err->msg);
    case MC_ERR_CONFLICT: return mc_http_send_problem(req, 409, "conflict", "Conflict", NULL, "%s", err->msg);
    case MC_ERR_UNAVAILABLE:
        return mc_http_send_problem(req, 503, "unavailable", "Unavailable", NULL, "%s", err->msg);
    default:
        mc_log_kv(MC_LOG_ERROR, "operator request failed", "path", req->path, "error", err->msg, NULL);
        return mc_http_send_problem(req, 500, "internal", "Internal error", NULL, "%s", err->msg);
    }
}

/* false after answering 401/403; who gets the token's tenant. */
static bool authorize(mc_http_req *req, bool write, char *who, enum MHD_Result *res) {
    mc_orch *o = req->route_ctx;
    const char *h = mc_http_header(req, "Authorization");
    const char *token;
    size_t len;
    mc_token_claims claims;
    mc_err err = {0};
    if (mc_token_from_authorization(h, h ? strlen(h) : 0, &token, &len, &err) < 0 ||
        mc_token_verify(token, len, &o->token_key, 1, (int64_t)time(NULL), &claims, &err) < 0) {
        *res = mc_http_send_problem(req, 401, err.code[0] ? err.code : "unauthorized", "Unauthorized", NULL,
                                    "an operator token is required (Authorization: Bearer ...): %s", err.msg);
        return false;
    }
    bool ok = mc_token_has_scope(&claims, "operator") || (!write && mc_token_has_scope(&claims, "operator-read"));
    if (!ok) {
        *res = mc_http_send_problem(req, 403, "forbidden", "Forbidden", NULL, "the token of '%s' lacks scope '%s'",
                                    claims.tenant, write ? "operator" : "operator-read");
        return false;
    }
    snprintf(who, MC_TOKEN_NAME_MAX + 1, "%s", claims.tenant);
    return true;
}

/* Body routes: auth on the first call, then the body gathered. Returns 1
 * with the body, 0 while it comes or after answering. */
static int body_of(mc_http_req *req, const char *data, size_t *size, size_t max, char *who, const char **body,
                   size_t *len, enum MHD_Result *res) {
    *res = MHD_YES;
    if (req->first_call) {
        if (!authorize(req, true, who, res)) return 0;
        req->state = strdup(who);
        req->free_state = free;
        if (!req->state) {
            *res = MHD_NO;
            return 0;
        }
    }
    int rc = mc_http_collect_body(req, data, size, max, body, len);
    if (rc < 0) {
        *res = mc_http_send_problem(req, 413, "too_large", "Body too large", NULL, "the body is larger than %zu bytes",
                                    max);
        return 0;
    }
    if (rc == 1) snprintf(who, MC_TOKEN_NAME_MAX + 1, "%s", (const char *)req->state);
    return rc;
}

static json_t *report_json(const mc_report *r) {
    json_t *schedule = json_array();
    for (int i = 0; i < r->nschedule; i++) json_array_append_new(schedule, json_integer(r->schedule_ms[i]));
    json_t *j = json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:i, s:i, s:I, s:i, s:s, s:s, s:{s:f, s:f, s:I, s:I}, s:o}",
                     "node", r->node,
                     "container_id", r->container_id, "state", r->state, "ready", r->ready, "healthy", r->healthy,
                     "busy", r->busy,
                     "restarts", r->restarts, "last_exit_code", r->last_exit_code, "spec_version",
                     (json_int_t)r->spec_version, "port", r->port, "started_at", r->started_at, "name", r->name,
                     "usage", "cpu_seconds", r->cpu_seconds, "cpu_percent", r->cpu_percent, "memory_bytes", (json_int_t)r->memory_bytes, "pids",
                     (json_int_t)r->pids, "restart_schedule_ms", schedule);
    if (j && r->has_limits) /* the limits its agent holds (limits.h) */
        json_object_set_new(j, "resources", json_pack("{s:f, s:I, s:I, s:b}", "cpus", r->limit_cpus, "memory_bytes",
                                                      (json_int_t)r->limit_memory_bytes, "pids",
                                                      (json_int_t)r->limit_pids, "applied", r->limits_applied));
    return j;
}

static enum MHD_Result h_status(mc_http_req *req, const char *data, size_t *size) {
    (void)data, (void)size;
    mc_orch *o = req->route_ctx;
    char who[MC_TOKEN_NAME_MAX + 1];
    enum MHD_Result res;
    if (!authorize(req, false, who, &res)) return res;
    pthread_mutex_lock(&o->mu);
    json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "role", o->active ? "active" : "standby", "instance",
                          o->svc.instance, "fence", (json_int_t)(o->active ? o->lock.token : 0), "spec_version",
                          (json_int_t)o->version, "orders_sent", (json_int_t)o->orders_sent, "orders_refused",
                          (json_int_t)o->orders_refused);
    pthread_mutex_unlock(&o->mu);
    return mc_http_send_json(req, 200, j);
}

static enum MHD_Result h_instances(mc_http_req *req, const char *data, size_t *size) {
    (void)data, (void)size;
    mc_orch *o = req->route_ctx;
    char who[MC_TOKEN_NAME_MAX + 1], name[MC_INSTANCE_NAME_MAX + 1];
    enum MHD_Result res;
    if (!authorize(req, false, who, &res)) return res;
    json_t *list = json_array();
    pthread_mutex_lock(&o->mu);
    const mc_orch_view *v = o->view;
    for (int i = 0; v && i < v->nwants; i++) {
        const mc_want *w = &v->wants[i];
        mc_instance_name(name, sizeof name, w->service, w->index);
        json_t *j = json_pack("{s:s, s:s, s:i, s:I, s:s, s:s}", "name", name, "service", w->service, "index",
                              w->index, "want_version", (json_int_t)w->version, "node", w->node, "pending",
                              w->reason);
        json_t *copies = json_array();
        for (int r = 0; r < v->nreports; r++)
            if (strcmp(v->reports[r].name, name) == 0) json_array_append_new(copies, report_json(&v->reports[r]));
        json_object_set_new(j, "running", copies);
        json_array_append_new(list, j);
    }
    /* what runs but is no longer wanted (being stopped) */
    for (int r = 0; v && r < v->nreports; r++) {
        bool wanted = false;
        for (int i = 0; i < v->nwants && !wanted; i++) {
            mc_instance_name(name, sizeof name, v->wants[i].service, v->wants[i].index);
            wanted = strcmp(name, v->reports[r].name) == 0;
        }
        if (!wanted)
            json_array_append_new(list, json_pack("{s:s, s:s, s:i, s:I, s:s, s:s, s:[o]}", "name", v->reports[r].name,
                                                  "service", v->reports[r].service, "index", v->reports[r].index,
                                                  "want_version", (json_int_t)0, "node", "", "pending", "",
                                                  "running", report_json(&v->reports[r])));
    }
    pthread_mutex_unlock(&o->mu);
    return mc_http_send_json(req, 200, json_pack("{s:o}", "instances", list));
}

static enum MHD_Result h_nodes(mc_http_req *req, const char *data, size_t *size) {
    (void)data, (void)size;
    mc_orch *o = req->route_ctx;
    char who[MC_TOKEN_NAME_MAX + 1];
    enum MHD_Result res;
    if (!authorize(req, false, who, &res)) return res;
    json_t *list = json_array();
    pthread_mutex_lock(&o->mu);
    const mc_orch_view *v = o->view;
    for (int i = 0; v && i < v->nnodes; i++) {
        const mc_node *n = &v->nodes[i];
        int count = 0;
        for (int r = 0; r < v->nreports; r++) count += strcmp(v->reports[r].node, n->name) == 0;
        json_t *labels = json_object();
        for (int l = 0; l < n->label_count; l++)
            json_object_set_new(labels, n->labels[l].key, json_string(n->labels[l].value));
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:b, s:o, s:f, s:I, s:f, s:I, s:i, s:I}", "node", n->name, "agent_url",
                            n->agent_url, "draining", n->draining, "labels", labels, "cpus", n->cpus, "memory_bytes",
                            (json_int_t)n->memory_bytes, "free_cpus", n->free_cpus, "free_memory_bytes",
                            (json_int_t)n->free_memory_bytes, "instances", count, "fence", (json_int_t)n->fence));
    }
    pthread_mutex_unlock(&o->mu);
    return mc_http_send_json(req, 200, json_pack("{s:o}", "nodes", list));
}

static enum MHD_Result h_spec_get(mc_http_req *req, const char *data, size_t *size) {
    (void)data, (void)size;
    mc_orch *o = req->route_ctx;
    char who[MC_TOKEN_NAME_MAX + 1];
    enum MHD_Result res;
    if (!authorize(req, false, who, &res)) return res;
    if (strcmp(req->path, "/v1/spec/versions") == 0) {
        mc_err err = {0};
        json_t *j = mc_orch_versions_json(o, 100, &err);
        return j ? mc_http_send_json(req, 200, j) : problem_err(req, &err);
    }
    pthread_mutex_lock(&o->mu);
    char *text = o->spec ? mc_spec_format(o->spec) : NULL;
    json_t *j = json_pack("{s:I, s:s}", "version", (json_int_t)o->version, "spec", text ? text : "");
    pthread_mutex_unlock(&o->mu);
    free(text);
    return mc_http_send_json(req, 200, j);
}

static enum MHD_Result applied(mc_http_req *req, mc_orch *o, int64_t version, char *diff, bool dry_run) {
    json_t *j = json_pack("{s:I, s:s, s:b, s:b}", "version", (json_int_t)version, "diff", diff ? diff : "", "changed",
                          diff && diff[0], "dry_run", dry_run);
    free(diff);
    if (!dry_run) mc_orch_nudge(o);
    return mc_http_send_json(req, 200, j);
}

static enum MHD_Result h_spec_post(mc_http_req *req, const char *data, size_t *size) {
    mc_orch *o = req->route_ctx;
    char who[MC_TOKEN_NAME_MAX + 1];
    const char *body;
    size_t len;
    enum MHD_Result res;
    if (body_of(req, data, size, MC_SPEC_MAX_BYTES, who, &body, &len, &res) != 1) return res;
    mc_spec *spec = malloc(sizeof *spec);
    mc_spec_errors *errs = malloc(sizeof *errs);
    if (!spec || !errs) {
        free(spec);
        free(errs);
        return MHD_NO;
    }
    if (mc_spec_parse(body, len, &o->check, spec, errs) < 0) {
        json_t *list = json_array();
        int n = errs->count < MC_SPEC_MAX_ERRORS ? errs->count : MC_SPEC_MAX_ERRORS;
        for (int i = 0; i < n; i++) /* a message cut at its bound may end inside a UTF-8 sequence */
            json_array_append_new(list, mc_json_string_lossy(errs->msg[i], strlen(errs->msg[i])));
        char joined[2048];
        mc_spec_errors_join(errs, joined, sizeof joined);
        free(spec);
        free(errs);
        return mc_http_send_problem(req, 400, "invalid_spec", "The spec was refused; nothing changed",
                                    json_pack("{s:o}", "errors", list), "%s", joined);
    }
    const char *dry = mc_http_query(req, "dry_run");
    bool dry_run = dry && (strcmp(dry, "true") == 0 || strcmp(dry, "1") == 0);
    int64_t version;
    char *diff = NULL;
    mc_err err = {0};
    int rc = mc_orch_apply(o, spec, who, "deploy", dry_run, &version, &diff, &err);
    free(spec);
    free(errs);
    if (rc < 0) return problem_err(req, &err);
    return applied(req, o, version, diff, dry_run);
}

/* /v1/<kind>/<name>/<action>: name and action into the buffers. */
static bool split_path(const char *path, const char *prefix, char *name, size_t nlen, char *action, size_t alen) {
    size_t pl = strlen(prefix);
    if (strncmp(path, prefix, pl) != 0) return false;
    const char *slash = strchr(path + pl, '/');
    if (!slash || (size_t)(slash - (path + pl)) >= nlen || strlen(slash + 1) >= alen || strchr(slash + 1, '/'))
        return false;
    memcpy(name, path + pl, (size_t)(slash - (path + pl)));
    name[slash - (path + pl)] = '\0';
    strcpy(action, slash + 1);
    return mc_api_name_valid(name);
}

static int scale_edit(mc_orch *o, mc_spec *spec, const mc_orch_version *h, int n, void *ctx, mc_err *err) {
    (void)o, (void)h, (void)n;
    const int *count = ctx;
    const char *service = (const char *)(count + 1);
    int p = mc_spec_service_position(spec, service);
    if (p < 0) return mc_err_set(err, MC_ERR_NOT_FOUND, "service '%s' is not in the spec", service);
    const mc_spec_scaling *sc = &spec->services[p].scaling;
    if (sc->enabled)
        return mc_err_set(err, MC_ERR_CONFLICT,
                          "'%s' is autoscaled by its scaling policy (min %d, max %d, %" PRId64
                          " messages of %s per instance): change its bounds with `mcloud scale %s --min N --max M` "
                          "or remove scaling: from the spec",
                          service, sc->min, sc->max, sc->lag_per_instance, sc->topic, service);
    spec->services[p].count = *count;
    return 0;
}

typedef struct bounds_ctx {
    int min, max;
    char service[MC_SPEC_NAME_MAX + 1];
} bounds_ctx;

/* New min/max of an autoscaled service; the count is brought inside them. */
static int bounds_edit(mc_orch *o, mc_spec *spec, const mc_orch_version *h, int n, void *ctx, mc_err *err) {
    (void)h, (void)n;
    const bounds_ctx *c = ctx;
    int p = mc_spec_service_position(spec, c->service);
    if (p < 0) return mc_err_set(err, MC_ERR_NOT_FOUND, "service '%s' is not in the spec", c->service);
    mc_spec_service *s = &spec->services[p];
    if (!s->scaling.enabled)
        return mc_err_set(err, MC_ERR_CONFLICT, "'%s' has no scaling policy: `mcloud scale %s N` sets its count",
                          c->service, c->service);
    if (c->min >= 0) s->scaling.min = c->min;
    if (c->max >= 0) s->scaling.max = c->max;
    if (s->scaling.min > s->scaling.max)
        return mc_err_set(err, MC_ERR_INVALID, "min %d above max %d", s->scaling.min, s->scaling.max);
    if (s->count < s->scaling.min) s->count = s->scaling.min;
    if (s->count > s->scaling.max) s->count = s->scaling.max;
    mc_spec_errors *errs = malloc(sizeof *errs);
    if (!errs) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    memset(errs, 0, sizeof *errs);
    int rc = 0;
    if (mc_spec_validate(spec, &o->check, errs) < 0) {
        char joined[1024];
        mc_spec_errors_join(errs, joined, sizeof joined);
        rc = mc_err_set(err, MC_ERR_INVALID, "%s", joined);
    }
    free(errs);
    return rc;
}

/* The service's latest earlier definition that runs differently. */
static int undo_edit(mc_orch *o, mc_spec *spec, const mc_orch_version *h, int n, void *ctx, mc_err *err) {
    (void)o;
    const char *service = ctx;
    int p = mc_spec_service_position(spec, service);
    if (p < 0) return mc_err_set(err, MC_ERR_NOT_FOUND, "service '%s' is not in the spec", service);
    for (int i = 1; i < n; i++) {
        const mc_spec_service *old = mc_spec_find(h[i].spec, service);
        if (old && mc_spec_change(old, &spec->services[p]) != MC_CHANGE_NONE) {
            int count = spec->services[p].count;
            spec->services[p] = *old;
            spec->services[p].count = count;
            return 0;
        }
    }
    return mc_err_set(err, MC_ERR_CONFLICT, "no earlier version of '%s' to go back to", service);
}

static enum MHD_Result h_service_post(mc_http_req *req, const char *data, size_t *size) {
    mc_orch *o = req->route_ctx;
    char who[MC_TOKEN_NAME_MAX + 1], service[MC_SPEC_NAME_MAX + 1], action[16];
    const char *body;
    size_t len;
    enum MHD_Result res;
    if (body_of(req, data, size, BODY_MAX, who, &body, &len, &res) != 1) return res;
    if (!split_path(req->path, "/v1/services/", service, sizeof service, action, sizeof action))
        return mc_http_send_problem(req, 404, "not_found", "Not found", NULL, "no such route %s", req->path);
    int64_t version = 0;
    char *diff = NULL;
    mc_err err = {0};
    int rc;
    bounds_ctx bounds;
    int is_bounds = strcmp(action, "scale") == 0
                        ? mc_api_parse_scale_bounds(body, len, &bounds.min, &bounds.max, &err)
                        : 0;
    if (is_bounds < 0) return problem_err(req, &err);
    if (is_bounds) {
        snprintf(bounds.service, sizeof bounds.service, "%s", service);
        rc = mc_orch_edit_latest(o, bounds_edit, &bounds, who, "scale bounds", &version, &diff, &err);
    } else if (strcmp(action, "scale") == 0) {
        struct {
            int count;
            char service[MC_SPEC_NAME_MAX + 1];
        } ctx;
        if (mc_api_parse_scale(body, len, &ctx.count, &err) < 0) return problem_err(req, &err);
        snprintf(ctx.service, sizeof ctx.service, "%s", service);
        rc = mc_orch_edit_latest(o, scale_edit, &ctx, who, "scale", &version, &diff, &err);
    } else if (strcmp(action, "resources") == 0) {
        json_t *answer = NULL;
        if (mc_orch_resize(o, service, body, len, who, &answer, &err) < 0) return problem_err(req, &err);
        return mc_http_send_json(req, 200, answer);
    } else if (strcmp(action, "undo") == 0) {
        rc = mc_orch_edit_latest(o, undo_edit, service, who, "undo", &version, &diff, &err);
    } else if (strcmp(action, "promote") == 0) {
        pthread_mutex_lock(&o->mu);
        int p = o->spec ? mc_spec_service_position(o->spec, service) : -1;
        int64_t to = p >= 0 ? o->decide.rollouts[p].to : 0;
        bool waiting = p >= 0 && o->decide.rollouts[p].status == MC_ROLLOUT_WAIT_PROMOTE;
        pthread_mutex_unlock(&o->mu);
        if (p < 0) return mc_http_send_problem(req, 404, "not_found", "Not found", NULL, "no service '%s'", service);
        if (!waiting)
            return mc_http_send_problem(req, 409, "not_waiting", "Nothing to promote", NULL,
                                        "the rollout of '%s' is not waiting for a promote", service);
        redisReply *r = mc_redis_command(o->svc.redis, &err, "SET %s%s %lld", o->promoted_key, service,
                                         (long long)to);
        if (!r) return problem_err(req, &err);
        freeReplyObject(r);
        mc_log_kv(MC_LOG_INFO, "rollout promoted", "service", service, "by", who, NULL);
        mc_orch_nudge(o);
        return mc_http_send_json(req, 200, json_pack("{s:s, s:I}", "promoted", service, "version", (json_int_t)to));
    } else {
        return mc_http_send_problem(req, 404, "not_found", "Not found", NULL, "no action '%s' (scale, resources, promote, undo)",
                                    action);
    }
    if (rc < 0) return problem_err(req, &err);
    return applied(req, o, version, diff, false);
}

static enum MHD_Result h_service_get(mc_http_req *req, const char *data, size_t *size) {
    (void)data, (void)size;
    mc_orch *o = req->route_ctx;
    char who[MC_TOKEN_NAME_MAX + 1], service[MC_SPEC_NAME_MAX + 1], action[16];
    enum MHD_Result res;
    if (!authorize(req, false, who, &res)) return res;
    if (!split_path(req->path, "/v1/services/", service, sizeof service, action, sizeof action) ||
        strcmp(action, "rollout") != 0)
        return mc_http_send_problem(req, 404, "not_found", "Not found", NULL, "no such route %s", req->path);
    pthread_mutex_lock(&o->mu);
    int p = o->spec ? mc_spec_service_position(o->spec, service) : -1;
    json_t *j = NULL;
    if (p >= 0) {
        const mc_orch_rollout *ro = &o->decide.rollouts[p];
        int healthy = 0, total = o->spec->services[p].count;
        char name[MC_INSTANCE_NAME_MAX + 1];
        for (int r = 0; o->view && r < o->view->nreports; r++)
            for (int i = 0; i < total; i++) {
                mc_instance_name(name, sizeof name, service, i);
                const mc_report *rep = &o->view->reports[r];
                healthy += strcmp(rep->name, name) == 0 && rep->healthy && rep->ready && rep->spec_version == ro->to;
            }
        j = json_pack("{s:s, s:I, s:I, s:s, s:s, s:i, s:i, s:I}", "service", service, "from", (json_int_t)ro->from,
                      "to", (json_int_t)ro->to, "status", mc_rollout_status_name(ro->status), "detail", ro->why,
                      "healthy", healthy, "count", total, "spec_version", (json_int_t)o->version);
    }
    pthread_mutex_unlock(&o->mu);
    if (!j) return mc_http_send_problem(req, 404, "not_found", "Not found", NULL, "no service '%s'", service);
    return mc_http_send_json(req, 200, j);
}

static enum MHD_Result h_node_post(mc_http_req *req, const char *data, size_t *size) {
    mc_orch *o = req->route_ctx;
    char who[MC_TOKEN_NAME_MAX + 1], node[MC_NODE_NAME_MAX + 1], action[16];
    const char *body;
    size_t len;
    enum MHD_Result res;
    if (body_of(req, data, size, BODY_MAX, who, &body, &len, &res) != 1) return res;
    if (!split_path(req->path, "/v1/nodes/", node, sizeof node, action, sizeof action) || strcmp(action, "drain") != 0)
        return mc_http_send_problem(req, 404, "not_found", "Not found", NULL, "no such route %s", req->path);
    bool drain;
    mc_err err = {0};
    if (mc_api_parse_drain(body, len, &drain, &err) < 0) return problem_err(req, &err);
    redisReply *r = mc_redis_command(o->svc.redis, &err, "%s %s %s", drain ? "SADD" : "SREM", o->drain_key, node);
    if (!r) return problem_err(req, &err);
    freeReplyObject(r);
    mc_log_kv(MC_LOG_INFO, drain ? "node draining" : "node back in service", "node", node, "by", who, NULL);
    mc_orch_nudge(o);
    return mc_http_send_json(req, 200, json_pack("{s:s, s:b}", "node", node, "draining", drain));
}

static enum MHD_Result h_logs(mc_http_req *req, const char *data, size_t *size) {
    (void)data, (void)size;
    mc_orch *o = req->route_ctx;
    char who[MC_TOKEN_NAME_MAX + 1], name[MC_INSTANCE_NAME_MAX + 1], action[16], url[256] = "";
    enum MHD_Result res;
    if (!authorize(req, false, who, &res)) return res;
    if (!split_path(req->path, "/v1/instances/", name, sizeof name, action, sizeof action) ||
        strcmp(action, "logs") != 0)
        return mc_http_send_problem(req, 404, "not_found", "Not found", NULL, "no such route %s", req->path);
    const char *tail = mc_http_query(req, "tail");
    char *end = NULL;
    long n = tail ? strtol(tail, &end, 10) : 100;
    if (tail && (!*tail || *end || n < 1 || n > 10000))
        return mc_http_send_problem(req, 400, "invalid", "Bad request", NULL, "tail must be 1-10000");
    pthread_mutex_lock(&o->mu);
    for (int r = 0; o->view && r < o->view->nreports; r++)
        if (strcmp(o->view->reports[r].name, name) == 0) {
            const mc_node *node = mc_node_find(o->view->nodes, o->view->nnodes, o->view->reports[r].node);
            if (node) snprintf(url, sizeof url, "%s", node->agent_url);
        }
    int64_t fence = o->lock.token;
    pthread_mutex_unlock(&o->mu);
    if (!url[0]) return mc_http_send_problem(req, 404, "not_found", "Not found", NULL, "no instance '%s' runs", name);
    char path[200];
    snprintf(path, sizeof path, "/v1/instances/%s/logs?tail=%ld", name, n);
    long status;
    char *text = NULL;
    mc_err err = {0};
    if (mc_orch_agent_call(o, "GET", url, path, fence, NULL, &status, &text, &err) < 0) return problem_err(req, &err);
    enum MHD_Result out = status == 200 ? mc_http_send(req, 200, "text/plain; charset=utf-8", text, strlen(text))
                                        : mc_http_send_problem(req, 502, "agent_error", "The agent refused", NULL,
                                                               "agent answered %ld", status);
    free(text);
    return out;
}

static enum MHD_Result h_autoscale(mc_http_req *req, const char *data, size_t *size) {
    (void)data, (void)size;
    mc_orch *o = req->route_ctx;
    char who[MC_TOKEN_NAME_MAX + 1];
    enum MHD_Result res;
    if (!authorize(req, false, who, &res)) return res;
    mc_err err = {0};
    json_t *j = mc_orch_autoscale_json(o, &err);
    if (!j) return problem_err(req, &err);
    return mc_http_send_json(req, 200, j);
}

int mc_orch_api_routes(mc_orch *o, mc_err *err) {
    mc_http_server *s = o->svc.http;
    if (mc_http_route(s, "GET", "/v1/status", h_status, o) < 0 ||
        mc_http_route(s, "GET", "/v1/autoscale", h_autoscale, o) < 0 ||
        mc_http_route(s, "GET", "/v1/instances", h_instances, o) < 0 ||
        mc_http_route(s, "GET", "/v1/instances/*", h_logs, o) < 0 ||
        mc_http_route(s, "GET", "/v1/nodes", h_nodes, o) < 0 ||
        mc_http_route(s, "POST", "/v1/nodes/*", h_node_post, o) < 0 ||
        mc_http_route(s, "GET", "/v1/spec", h_spec_get, o) < 0 ||
        mc_http_route(s, "GET", "/v1/spec/versions", h_spec_get, o) < 0 ||
        mc_http_route(s, "POST", "/v1/spec", h_spec_post, o) < 0 ||
        mc_http_route(s, "GET", "/v1/services/*", h_service_get, o) < 0 ||
        mc_http_route(s, "POST", "/v1/services/*", h_service_post, o) < 0)
        return mc_err_set(err, MC_ERR_INTERNAL, "registering routes failed");
    return 0;
}
