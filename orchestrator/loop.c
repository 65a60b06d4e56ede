/* loop.c — leadership and the reconcile round of mcloud-orchestrator.
 *
 * Every orchestrator.interval_ms each orchestrator (active or standby):
 *   1. holds or tries the Redis lock orchestrator.lock_name (common/lock.h); the
 *      holder is active and its fencing token goes with every order (the
 *      lock is extended by a lease thread, not by the round: see lease_step);
 *   2. reloads the desired spec when MySQL has a newer version;
 *   3. reads the nodes' heartbeats (<key_prefix>:node:*, one MGET per SCAN
 *      page) and the drain set;
 *   4. decides: the rollout step per service, placement, the reconcile plan
 *      (orchestrator/plan.h) — a standby computes the same picture for
 *      `mcloud ps` but sends nothing;
 *   5. if active, publishes the spec's public ports for the edge
 *      (<key_prefix>:orch:public_ports) and sends the orders (and new
 *      resource limits to running instances, in place: resize.c). An agent answering 409 stale_fence
 *      means another orchestrator took over while this one was paused: it
 *      steps down at once. While what it ordered settles, the rounds come
 *      every FOLLOW_MS instead (follow_up).
 * A restarted orchestrator adopts what runs: placement keeps every
 * reported instance where it is and the plan orders nothing for an
 * instance running the wanted version. */
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "common/metrics.h"
#include "orchestrator/orchestrator.h"
#include "orchestrator/wire.h"

#define RESEND_AFTER_S 10.0
#define FOLLOW_MS 100
#define FOLLOW_S 60.0
#define PORTS_RESEND_S 10.0

/* ---- 1. leadership ---- */

/* The lock is lost: inactive, unless a newer acquisition replaced it meanwhile. */
static void lose_lock(mc_orch *o, int64_t token, const char *why) {
    pthread_mutex_lock(&o->mu);
    bool mine = o->active && o->lock.token == token;
    if (mine) o->active = false;
    pthread_mutex_unlock(&o->mu);
    if (mine) mc_log_kv(MC_LOG_WARN, "lost the orchestrator lock; standing by", "error", why, NULL);
}

/* The lease, on its own thread every lock_ttl_ms / 3: while active, the lock
 * is extended whatever the round is doing. A round may take longer than
 * the TTL (its orders wait for the agents' container creates, seconds each
 * on vfs storage under load); extended only between rounds, the lock ran
 * out in the middle of one and leadership flapped (seen in CI). A paused
 * process pauses this thread too, so a SIGSTOPped orchestrator still loses
 * the lock, and the round checks it right before acting. */
static int lease_step(void *ctx) {
    mc_orch *o = ctx;
    pthread_mutex_lock(&o->mu);
    bool active = o->active;
    mc_lock lock = o->lock;
    pthread_mutex_unlock(&o->mu);
    mc_err err = {0};
    if (active && mc_lock_extend(o->svc.redis, &lock, (int)o->lock_ttl_ms, &err) < 0)
        lose_lock(o, lock.token, err.msg);
    return 0;
}

/* Active (the lease keeps the lock), or tries to become so. */
static bool leadership(mc_orch *o) {
    mc_err err = {0};
    pthread_mutex_lock(&o->mu);
    bool active = o->active;
    pthread_mutex_unlock(&o->mu);
    if (active) return true;
    mc_lock lock;
    if (mc_lock_acquire(o->svc.redis, o->lock_name, (int)o->lock_ttl_ms, &lock, &err) < 0) {
        if (err.kind != MC_ERR_CONFLICT) mc_log_kv(MC_LOG_WARN, "orchestrator lock", "error", err.msg, NULL);
        return false;
    }
    char fence[32];
    snprintf(fence, sizeof fence, "%" PRId64, lock.token);
    mc_log_kv(MC_LOG_INFO, "active orchestrator", "fence", fence, "instance", o->svc.instance, NULL);
    pthread_mutex_lock(&o->mu);
    o->active = true;
    o->lock = lock;
    pthread_mutex_unlock(&o->mu);
    return true;
}

static void step_down(mc_orch *o, const char *why) {
    mc_log_kv(MC_LOG_WARN, "a newer orchestrator holds the lock; standing by", "detail", why, NULL);
    pthread_mutex_lock(&o->mu);
    o->active = false;
    pthread_mutex_unlock(&o->mu);
}

/* ---- 2. desired state ---- */

static int64_t template_version(const mc_orch_version *hist, int n, const mc_spec_service *svc) {
    int64_t v = hist[0].version;
    for (int i = 0; i < n; i++) {
        const mc_spec_service *old = mc_spec_find(hist[i].spec, svc->name);
        if (old && mc_spec_same_template(old, svc) && hist[i].version < v) v = hist[i].version;
    }
    return v;
}

static void refresh_desired(mc_orch *o) {
    mc_err err = {0};
    int64_t latest = mc_orch_latest_version(o, &err);
    if (latest < 0) {
        mc_log_kv(MC_LOG_WARN, "reading the spec version", "error", err.msg, NULL);
        return;
    }
    if (latest == 0 || latest == o->version) return;
    mc_orch_version *hist;
    int n;
    if (mc_orch_history(o, &hist, &n, &err) < 0 || n == 0) {
        mc_log_kv(MC_LOG_WARN, "loading the spec", "error", err.msg, NULL);
        return;
    }
    const mc_spec *spec = hist[0].spec;
    int64_t tmpl[MC_SPEC_MAX_SERVICES];
    for (int p = 0; p < spec->service_count; p++) tmpl[p] = template_version(hist, n, &spec->services[p]);
    pthread_mutex_lock(&o->mu);
    mc_decide_new_spec(&o->decide, o->spec, spec, tmpl);
    if (!o->spec) o->spec = malloc(sizeof *o->spec);
    if (o->spec) *o->spec = *spec;
    o->version = latest;
    mc_orch_version *old_hist = o->history;
    int old_n = o->nhistory;
    o->history = hist; /* kept: orders for an older version use its definition */
    o->nhistory = n;
    pthread_mutex_unlock(&o->mu);
    mc_orch_history_free(old_hist, old_n);
    char v[32];
    snprintf(v, sizeof v, "%" PRId64, latest);
    mc_log_kv(MC_LOG_INFO, "desired spec loaded", "version", v, NULL);
}

/* ---- 3. the cluster as the agents report it ---- */

/* One node's heartbeat (value) under key into the view. */
static void read_node(mc_orch *o, mc_orch_view *v, const char *key, const redisReply *value) {
    mc_err err = {0};
    if (value->type != REDIS_REPLY_STRING || v->nnodes >= MC_ORCH_MAX_NODES) return; /* nil: expired since the SCAN */
    mc_node *node = &v->nodes[v->nnodes];
    int n = 0;
    const char *key_node = key + strlen(o->node_pattern) - 1;
    int rc = mc_heartbeat_parse(value->str, value->len, node, &v->reports[v->nreports],
                                MC_ORCH_MAX_REPORTS - v->nreports, &n, &err);
    if (rc == 0 && strcmp(node->name, key_node) != 0) /* a node speaks for itself only */
        rc = mc_err_set(&err, MC_ERR_INVALID, "names node '%s' under another node's key", node->name);
    if (rc == 0) {
        v->nnodes++;
        v->nreports += n;
    } else {
        mc_log_kv(MC_LOG_WARN, "ignoring a malformed node heartbeat", "key", key, "error", err.msg, NULL);
    }
}

/* A node whose heartbeat vanished less than orchestrator.node_grace_ms ago
 * keeps its last heartbeat, marked stale: a busy agent (an engine call
 * under load) missing its TTL does not get its instances started twice
 * elsewhere. Only the loop thread replaces o->view, so it reads it here
 * without the lock. */
static void keep_silent_nodes(mc_orch *o, mc_orch_view *v) {
    double now = mc_monotonic_seconds();
    for (int k = 0; k < v->nnodes; k++) v->nodes[k].seen_at = now;
    const mc_orch_view *prev = o->view;
    for (int k = 0; prev && k < prev->nnodes && v->nnodes < MC_ORCH_MAX_NODES; k++) {
        const mc_node *old = &prev->nodes[k];
        bool present = mc_node_find(v->nodes, v->nnodes, old->name) != NULL;
        if (present || now - old->seen_at > o->node_grace_ms / 1000.0) continue;
        if (!old->stale) mc_log_kv(MC_LOG_WARN, "node heartbeat missing; keeping its last one for the grace", "node", old->name, NULL);
        v->nodes[v->nnodes] = *old;
        v->nodes[v->nnodes].stale = true;
        v->nnodes++;
        for (int r = 0; r < prev->nreports && v->nreports < MC_ORCH_MAX_REPORTS; r++)
            if (strcmp(prev->reports[r].node, old->name) == 0) v->reports[v->nreports++] = prev->reports[r];
    }
}

typedef struct cluster_scan {
    mc_orch *o;
    mc_orch_view *v;
} cluster_scan;

/* One SCAN page of node keys: their heartbeats in one MGET. */
static int read_nodes(void *ctx, const redisReply *keys, mc_err *err) {
    cluster_scan *s = ctx;
    redisReply *values = mc_redis_mget(s->o->svc.redis, keys, err);
    if (!values) return -1;
    for (size_t i = 0; i < keys->elements && i < values->elements; i++) {
        const char *name = keys->element[i]->str + strlen(s->o->node_pattern) - 1;
        /* SCAN may repeat a key */
        if (!mc_node_find(s->v->nodes, s->v->nnodes, name)) read_node(s->o, s->v, keys->element[i]->str, values->element[i]);
    }
    freeReplyObject(values);
    return 0;
}

static int read_cluster(mc_orch *o, mc_orch_view *v) {
    mc_err err = {0};
    v->nnodes = v->nreports = 0;
    if (mc_redis_scan(o->svc.redis, o->node_pattern, read_nodes, &(cluster_scan){o, v}, &err) < 0) {
        mc_log_kv(MC_LOG_WARN, "reading node heartbeats", "error", err.msg, NULL);
        return -1;
    }
    keep_silent_nodes(o, v);
    redisReply *d = mc_redis_command(o->svc.redis, &err, "SMEMBERS %s", o->drain_key);
    if (d && d->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < d->elements; i++)
            for (int k = 0; k < v->nnodes; k++)
                if (strcmp(v->nodes[k].name, d->element[i]->str) == 0) v->nodes[k].draining = true;
    if (d) freeReplyObject(d);
    return 0;
}

/* ---- 4. decisions ---- */

static bool promoted(void *ctx, const char *service, int64_t to) {
    mc_orch *o = ctx;
    mc_err err = {0};
    redisReply *r = mc_redis_command(o->svc.redis, &err, "GET %s%s", o->promoted_key, service);
    bool yes = r && r->type == REDIS_REPLY_STRING && strtoll(r->str, NULL, 10) == to;
    if (r) freeReplyObject(r);
    return yes;
}

typedef struct revert_ctx {
    char service[MC_SPEC_NAME_MAX + 1];
    int64_t to_version;
} revert_ctx;

/* Puts back the service's definition of version to_version (count kept). */
static int revert_edit(mc_orch *o, mc_spec *spec, const mc_orch_version *hist, int n, void *ctx, mc_err *err) {
    (void)o;
    revert_ctx *rc = ctx;
    int pos = mc_spec_service_position(spec, rc->service);
    for (int i = 0; i < n && pos >= 0; i++)
        if (hist[i].version == rc->to_version) {
            const mc_spec_service *old = mc_spec_find(hist[i].spec, rc->service);
            if (!old) break;
            int count = spec->services[pos].count;
            spec->services[pos] = *old;
            spec->services[pos].count = count;
            return 0;
        }
    return mc_err_set(err, MC_ERR_NOT_FOUND, "version %lld of %s is no longer in the history",
                      (long long)rc->to_version, rc->service);
}

static void revert(mc_orch *o, const char *service, int64_t from, const char *why) {
    revert_ctx ctx;
    size_t len = strnlen(service, MC_SPEC_NAME_MAX);
    memcpy(ctx.service, service, len);
    ctx.service[len] = '\0';
    ctx.to_version = from;
    int64_t version;
    char *diff = NULL;
    mc_err err = {0};
    if (mc_orch_edit_latest(o, revert_edit, &ctx, "orchestrator", "revert", &version, &diff, &err) < 0)
        mc_log_kv(MC_LOG_ERROR, "automatic revert failed", "service", service, "error", err.msg, NULL);
    else
        mc_log_kv(MC_LOG_WARN, "rollout failed, reverted", "service", service, "why", why, NULL);
    free(diff);
}

/* ---- 5. orders ---- */

typedef struct sent {
    char key[160];
    double at;
} sent;
static sent recent[256];

/* The same order to the same node is not repeated within RESEND_AFTER_S
 * (the agent's heartbeat shows it a few seconds later). */
bool mc_orch_recently_sent(const char *key, double now) {
    for (size_t i = 0; i < sizeof recent / sizeof recent[0]; i++)
        if (strcmp(recent[i].key, key) == 0 && now - recent[i].at < RESEND_AFTER_S) return true;
    size_t oldest = 0;
    for (size_t i = 1; i < sizeof recent / sizeof recent[0]; i++)
        if (recent[i].at < recent[oldest].at) oldest = i;
    snprintf(recent[oldest].key, sizeof recent[oldest].key, "%s", key);
    recent[oldest].at = now;
    return false;
}

/* One order of the round, its request ready for mc_orch_agent_calls. */
typedef struct order_out {
    const mc_order *ord;
    int64_t version;
    char path[160];
    char *body;
    mc_agent_call call;
} order_out;

/* Builds the request of an order; 0 when there is nothing to send (its node
 * is gone, the same order went out less than RESEND_AFTER_S ago). */
static int prepare_order(mc_orch *o, const mc_orch_view *v, const mc_order *ord, int64_t fence, double now,
                         order_out *out) {
    const mc_node *node = mc_node_find(v->nodes, v->nnodes, ord->node);
    if (!node) return 0;
    char key[160];
    const char *method = ord->kind == MC_ORDER_STOP ? "DELETE" : "PUT";
    snprintf(out->path, sizeof out->path, "/v1/instances/%s", ord->name);
    out->ord = ord;
    out->version = ord->want >= 0 ? v->wants[ord->want].version : 0;
    out->body = NULL;
    snprintf(key, sizeof key, "%s %s %s %" PRId64, method, ord->node, ord->name, out->version);
    if (mc_orch_recently_sent(key, now)) return 0;
    if (ord->kind != MC_ORDER_STOP) {
        const mc_want *w = &v->wants[ord->want];
        mc_spec_service *def = malloc(sizeof *def); /* with the newest limits of its template (resize.c) */
        json_t *j = def && mc_orch_definition(o, w->service, w->version, def)
                        ? mc_order_body(def, w->port, w->index, w->version)
                        : NULL;
        free(def);
        out->body = j ? mc_json_dump(j) : NULL;
        json_decref(j);
        if (!out->body) return 0;
    }
    out->call = (mc_agent_call){.method = method, .base_url = node->agent_url, .path = out->path,
                                .body = out->body, .fence = fence};
    return 1;
}

/* What the agent answered, logged and counted: 1 accepted, 0 not (logged),
 * -1 when the agent refused the fencing token (this orchestrator steps down). */
static int finish_order(mc_orch *o, const mc_orch_view *v, order_out *out) {
    const mc_order *ord = out->ord;
    mc_agent_call *c = &out->call;
    char st[16], ver[32];
    snprintf(st, sizeof st, "%ld", c->status);
    snprintf(ver, sizeof ver, "%" PRId64, out->version);
    static const char *const kinds[] = {"start", "replace", "stop"};
    char labels[80];
    snprintf(labels, sizeof labels, "kind=\"%s\",result=\"%s\"", kinds[ord->kind],
             c->rc < 0 ? "undelivered" : c->status == 409 ? "stale_fence" : c->status >= 300 ? "refused" : "done");
    mc_counter_inc(mc_counter("mcloud_orchestrator_orders_total", "Orders sent to agents, by kind and result.", labels));
    int rc = 0;
    if (ord->kind == MC_ORDER_STOP && !(c->status == 409 && c->answer && strstr(c->answer, "stale_fence"))) {
        /* delivered, or perhaps (no answer in time): the victim choice holds either way */
        pthread_mutex_lock(&o->mu);
        mc_decide_stop_sent(&o->decide, ord->name, ord->node);
        pthread_mutex_unlock(&o->mu);
    }
    if (c->rc < 0) {
        mc_log_kv(MC_LOG_WARN, "order not delivered", "order", kinds[ord->kind], "instance", ord->name, "node", ord->node,
                  "error", c->err.msg, NULL);
    } else if (c->status == 409 && c->answer && strstr(c->answer, "stale_fence")) {
        o->orders_refused++;
        step_down(o, "an agent refused the fencing token (409 stale_fence)");
        rc = -1;
    } else if (c->status >= 300) {
        mc_log_kv(MC_LOG_WARN, "order refused", "order", kinds[ord->kind], "instance", ord->name, "node", ord->node,
                  "status", st, "answer", c->answer ? c->answer : "", NULL);
    } else {
        o->orders_sent++;
        const char *busy = "";
        if (ord->kind == MC_ORDER_STOP) { /* the victim choice, as it was made (idle ones first) */
            busy = "false";
            for (int r = 0; r < v->nreports; r++)
                if (strcmp(v->reports[r].name, ord->name) == 0 && strcmp(v->reports[r].node, ord->node) == 0 &&
                    v->reports[r].busy)
                    busy = "true";
        }
        mc_log_kv(MC_LOG_INFO, "order", "order", kinds[ord->kind], "instance", ord->name, "node", ord->node, "version",
                  ver, "status", st, "busy", busy, NULL);
        rc = 1;
    }
    return rc;
}

/* The round's orders, all sent at once (agents answer an order at once and
 * create in the background; one slow agent holds up no other). A refused
 * fencing token makes this orchestrator step down: what the other agents
 * accepted of the same round was ordered under a token they still honour,
 * as when orders went one by one. */
static void send_orders(mc_orch *o, const mc_orch_view *v, const mc_order *orders, int n, int64_t fence, double now) {
    order_out *out = calloc((size_t)(n > 0 ? n : 1), sizeof *out);
    mc_agent_call *calls = calloc((size_t)(n > 0 ? n : 1), sizeof *calls);
    if (!out || !calls) {
        free(out);
        free(calls);
        return;
    }
    int m = 0;
    for (int i = 0; i < n; i++)
        if (prepare_order(o, v, &orders[i], fence, now, &out[m]) > 0) calls[m] = out[m].call, m++;
    mc_orch_agent_calls(o, calls, m);
    bool stale = false;
    for (int i = 0; i < m; i++) {
        out[i].call = calls[i];
        int rc = stale ? 0 : finish_order(o, v, &out[i]);
        stale |= rc < 0;
        if (rc > 0) o->follow_until = mc_monotonic_seconds() + FOLLOW_S;
        free(out[i].call.answer);
        free(out[i].body);
    }
    /* the decisions learn what was ordered (as before, unless this one steps down) */
    for (int i = 0; i < n && !stale; i++)
        if (orders[i].want >= 0) {
            pthread_mutex_lock(&o->mu);
            mc_decide_ordered(&o->decide, o->spec, &v->wants[orders[i].want], now);
            pthread_mutex_unlock(&o->mu);
        }
    free(out);
    free(calls);
}

/* After an order the next rounds come every FOLLOW_MS, for at most
 * FOLLOW_S, until the cluster settles (nothing left to order, every
 * instance reported healthy and ready): an agent reports a new
 * container's health the moment it changes, and the operator's `mcloud
 * ps` (and the next rollout step) should not wait a whole interval for
 * it. At rest the rounds keep orchestrator.interval_ms. The standby never
 * follows (it sends no orders). */
static int follow_up(mc_orch *o, const mc_orch_view *v, int norders) {
    if (mc_monotonic_seconds() >= o->follow_until) return 0;
    bool settled = norders == 0;
    for (int r = 0; r < v->nreports && settled; r++)
        settled = v->reports[r].healthy && v->reports[r].ready && strcmp(v->reports[r].state, "running") == 0;
    if (settled) {
        o->follow_until = 0;
        return 0;
    }
    usleep(FOLLOW_MS * 1000);
    return 1; /* the next round at once */
}

/* The desired spec's public ports for the edge (wire.h): SET when they
 * change, and again every PORTS_RESEND_S (a Redis restarted empty gets
 * them back). The edge listens on them (edge/main.c). Active only. */
static void publish_public_ports(mc_orch *o, double now) {
    char *text = mc_public_ports_json(o->spec);
    if (!text) return;
    if (o->ports_text && strcmp(o->ports_text, text) == 0 && now - o->ports_at < PORTS_RESEND_S) {
        free(text);
        return;
    }
    char key[128];
    snprintf(key, sizeof key, "%s:orch:public_ports", o->key_prefix);
    mc_err err = {0};
    redisReply *r = mc_redis_command(o->svc.redis, &err, "SET %s %s", key, text);
    if (!r) {
        mc_log_kv(MC_LOG_WARN, "publishing the public ports", "error", err.msg, NULL);
        free(text);
        return;
    }
    freeReplyObject(r);
    if (!o->ports_text || strcmp(o->ports_text, text) != 0)
        mc_log_kv(MC_LOG_INFO, "public ports published for the edge", "ports", text, NULL);
    free(o->ports_text);
    o->ports_text = text;
    o->ports_at = now;
}

static int round_step(void *ctx) {
    mc_orch *o = ctx;
    bool active = leadership(o);
    refresh_desired(o);
    mc_orch_view *v = calloc(1, sizeof *v);
    if (!v) return -1;
    if (read_cluster(o, v) < 0) {
        free(v);
        return -1;
    }
    double now = mc_realtime_seconds();
    mc_decide_revert reverts[MC_SPEC_MAX_SERVICES];
    int nreverts = 0;
    pthread_mutex_lock(&o->mu);
    int64_t fence = o->lock.token;
    mc_decide_mark_stopping(&o->decide, v->reports, v->nreports);
    if (o->spec)
        v->nwants = mc_decide(o->spec, &o->decide, v->nodes, v->nnodes, v->reports, v->nreports, promoted, o, now,
                              v->wants, MC_ORCH_MAX_WANTS, reverts, &nreverts);
    mc_orch_view *old = o->view;
    o->view = v;
    pthread_mutex_unlock(&o->mu);
    free(old);
    mc_orch_targets_write(o, v); /* Prometheus' file_sd list (scrape.c) */
    for (int i = 0; active && i < nreverts; i++) revert(o, reverts[i].service, reverts[i].to_version, reverts[i].why);
    if (active && o->spec) publish_public_ports(o, now);
    if (!active || !o->spec || nreverts) return 0;

    /* A pause since leadership() (SIGSTOP, a long GC-like stall) may have
     * cost the lock: check it, and that no agent has seen a newer token,
     * right before acting. Agents refusing stale tokens cover what remains. */
    mc_err err = {0};
    for (int k = 0; k < v->nnodes; k++)
        if (v->nodes[k].fence > fence) {
            step_down(o, "a node has seen a newer fencing token");
            return 0;
        }
    if (mc_lock_validate(o->svc.redis, o->lock_name, fence, &err) < 0) {
        step_down(o, err.msg);
        return 0;
    }
    mc_order *orders = calloc(MC_ORCH_MAX_WANTS * 2, sizeof *orders);
    if (!orders) return -1;
    /* v is the published view: read-only from here, o->spec only changes in this thread. */
    int n = mc_reconcile(v->wants, v->nwants, v->nodes, v->nnodes, v->reports, v->nreports, orders,
                         MC_ORCH_MAX_WANTS * 2);
    send_orders(o, v, orders, n, fence, now);
    free(orders);
    mc_orch_limits_round(o, v, fence, now); /* new limits, in place (resize.c) */
    return follow_up(o, v, n);
}

int mc_orch_loop_start(mc_orch *o, mc_err *err) {
    o->lease = mc_periodic_start("orch-lease", o->lock_ttl_ms / 3, lease_step, o, err);
    if (!o->lease) return -1;
    o->loop = mc_periodic_start("orch-loop", o->interval_ms, round_step, o, err);
    return o->loop ? 0 : -1;
}

void mc_orch_loop_stop(mc_orch *o) {
    mc_periodic_stop(o->loop);
    o->loop = NULL;
    mc_periodic_stop(o->lease);
    o->lease = NULL;
    pthread_mutex_lock(&o->mu);
    bool active = o->active;
    mc_lock lock = o->lock;
    o->active = false;
    pthread_mutex_unlock(&o->mu);
    mc_err err = {0};
    if (active) mc_lock_release(o->svc.redis, &lock, &err); /* the standby takes over at once */
}

void mc_orch_nudge(mc_orch *o) { mc_periodic_nudge(o->loop); }
