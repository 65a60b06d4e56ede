/* resize.c — `mcloud resources`: new resource limits for a service's
 * running instances, in place (the pure rules are limits.c's).
 *
 * POST /v1/services/<s>/resources {"cpus","memory","pids"} refuses a memory
 * limit below what an instance uses now (the agents' cgroup figures in the
 * latest heartbeats: 409, naming the field, the instance and its node;
 * nothing recorded), else records a new spec version (who, when, the diff,
 * as a deploy). Since resources are not part of an instance's template, no
 * rollout follows: every round, each reported instance whose agent holds
 * other limits than the newest recorded for its template is sent
 * PUT /v1/instances/<name>/resources (fenced like every order), and the
 * agent applies them to the running container. Orders that create a
 * container (a start, a reschedule) carry the same limits
 * (mc_orch_definition), so they survive a restart or a move. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "orchestrator/limits.h"
#include "orchestrator/orchestrator.h"
#include "orchestrator/wire.h"

/* o->history as limits.c reads it; the loop thread, or o->mu held. */
static int history_of(const mc_orch *o, mc_limits_hist *h, int max) {
    int n = 0;
    for (int i = 0; i < o->nhistory && n < max; i++) h[n++] = (mc_limits_hist){o->history[i].version, o->history[i].spec};
    return n;
}

const mc_spec_service *mc_orch_definition(const mc_orch *o, const char *service, int64_t version,
                                          mc_spec_service *out) {
    const mc_spec_service *def = o->spec ? mc_spec_find(o->spec, service) : NULL;
    for (int h = 0; h < o->nhistory; h++) /* the definition of the version wanted (a canary's old ones) */
        if (o->history[h].version == version && mc_spec_find(o->history[h].spec, service))
            def = mc_spec_find(o->history[h].spec, service);
    if (!def) return NULL;
    *out = *def;
    mc_limits_hist hist[MC_ORCH_HISTORY];
    mc_limits l;
    if (mc_limits_for(hist, history_of(o, hist, MC_ORCH_HISTORY), service, version, &l) == 0) {
        out->cpus = l.cpus;
        out->memory_bytes = l.memory_bytes;
        out->pids = l.pids;
    }
    return out;
}

static void resize_one(mc_orch *o, const mc_node *node, const mc_report *r, const mc_limits *l, int64_t fence,
                       double now) {
    char key[160], path[160], *body = NULL, *answer = NULL;
    snprintf(key, sizeof key, "RESOURCES %s %s %g %" PRId64 " %" PRId64, node->name, r->name, l->cpus,
             l->memory_bytes, l->pids);
    if (mc_orch_recently_sent(key, now)) return;
    json_t *j = json_pack("{s:f,s:I,s:I}", "cpus", l->cpus, "memory_bytes", (json_int_t)l->memory_bytes, "pids",
                          (json_int_t)l->pids);
    body = j ? mc_json_dump(j) : NULL;
    json_decref(j);
    if (!body) return;
    snprintf(path, sizeof path, "/v1/instances/%s/resources", r->name);
    long status = 0;
    mc_err err = {0};
    char what[96], st[16];
    mc_limits_format(l, what, sizeof what);
    int rc = mc_orch_agent_call(o, "PUT", node->agent_url, path, fence, body, &status, &answer, &err);
    snprintf(st, sizeof st, "%ld", status);
    if (rc < 0)
        mc_log_kv(MC_LOG_WARN, "resources order not delivered", "instance", r->name, "node", node->name, "error",
                  err.msg, NULL);
    else if (status >= 300)
        mc_log_kv(MC_LOG_WARN, "resources order refused", "instance", r->name, "node", node->name, "status", st,
                  "answer", answer ? answer : "", NULL);
    else
        mc_log_kv(MC_LOG_INFO, "resources order", "instance", r->name, "node", node->name, "limits", what, NULL);
    free(body);
    free(answer);
}

void mc_orch_limits_round(mc_orch *o, const mc_orch_view *v, int64_t fence, double now) {
    mc_limits_hist hist[MC_ORCH_HISTORY];
    int n = history_of(o, hist, MC_ORCH_HISTORY);
    for (int i = 0; i < v->nreports; i++) {
        const mc_report *r = &v->reports[i];
        const mc_node *node = mc_node_find(v->nodes, v->nnodes, r->node);
        mc_limits want;
        if (!r->has_limits || !node || !node->alive || node->stale ||
            mc_limits_for(hist, n, r->service, r->spec_version, &want) < 0)
            continue;
        mc_limits held = {r->limit_cpus, r->limit_memory_bytes, r->limit_pids};
        if (!mc_limits_equal(&held, &want)) resize_one(o, node, r, &want, fence, now);
    }
}

typedef struct resize_ctx {
    char service[MC_SPEC_NAME_MAX + 1];
    mc_limits limits;
} resize_ctx;

static int resize_edit(mc_orch *o, mc_spec *spec, const mc_orch_version *h, int n, void *ctx, mc_err *err) {
    (void)o, (void)h, (void)n;
    const resize_ctx *c = ctx;
    int p = mc_spec_service_position(spec, c->service);
    if (p < 0) return mc_err_set(err, MC_ERR_NOT_FOUND, "service '%s' is not in the spec", c->service);
    spec->services[p].cpus = c->limits.cpus;
    spec->services[p].memory_bytes = c->limits.memory_bytes;
    spec->services[p].pids = c->limits.pids;
    return 0;
}

int mc_orch_resize(mc_orch *o, const char *service, const char *body, size_t len, const char *who, json_t **out,
                   mc_err *err) {
    resize_ctx c;
    snprintf(c.service, sizeof c.service, "%s", service);
    pthread_mutex_lock(&o->mu);
    const mc_spec_service *s = o->spec ? mc_spec_find(o->spec, service) : NULL;
    mc_limits cur = {0};
    if (s) mc_limits_of(s, &cur);
    pthread_mutex_unlock(&o->mu);
    if (!s) return mc_err_set(err, MC_ERR_NOT_FOUND, "service '%s' is not in the spec", service);
    if (mc_api_parse_resources(body, len, &cur, &c.limits, err) < 0) return -1;
    pthread_mutex_lock(&o->mu);
    int rc = o->view ? mc_limits_check(service, &c.limits, o->view->reports, o->view->nreports, err) : 0;
    json_t *names = json_array();
    for (int i = 0; rc == 0 && o->view && i < o->view->nreports; i++)
        if (strcmp(o->view->reports[i].service, service) == 0)
            json_array_append_new(names, json_string(o->view->reports[i].name));
    pthread_mutex_unlock(&o->mu);
    int64_t version = 0;
    char *diff = NULL;
    if (rc == 0) rc = mc_orch_edit_latest(o, resize_edit, &c, who, "resources", &version, &diff, err);
    if (rc < 0) {
        json_decref(names);
        return -1;
    }
    char what[96];
    mc_limits_format(&c.limits, what, sizeof what);
    *out = json_pack("{s:I, s:s, s:b, s:b, s:s, s:s, s:{s:f, s:I, s:I}, s:o}", "version", (json_int_t)version, "diff",
                     diff ? diff : "", "changed", diff && diff[0], "dry_run", 0, "change",
                     mc_spec_change_name(diff && diff[0] ? MC_CHANGE_IN_PLACE : MC_CHANGE_NONE), "service", service,
                     "resources", "cpus", c.limits.cpus, "memory_bytes", (json_int_t)c.limits.memory_bytes, "pids",
                     (json_int_t)c.limits.pids, "instances", names);
    if (diff && diff[0]) {
        mc_log_kv(MC_LOG_INFO, "new resource limits, applied in place", "service", service, "limits", what, "by", who,
                  NULL);
        mc_orch_nudge(o);
    }
    free(diff);
    return 0;
}
