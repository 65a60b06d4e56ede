/* decide.c — one round's decisions (see decide.h). */
#include "orchestrator/decide.h"

#include <stdio.h>
#include <string.h>

static int placed_index(const mc_decide_state *st, const char *name) {
    for (int i = 0; i < st->nplaced; i++)
        if (strcmp(st->placed[i], name) == 0) return i;
    return -1;
}

const char *mc_decide_placed(const mc_decide_state *st, const char *name) {
    int k = placed_index(st, name);
    return k >= 0 ? st->placed_node[k] : NULL;
}

static void remember(mc_decide_state *st, const char *name, const char *node) {
    int k = placed_index(st, name);
    if (k < 0) {
        if (st->nplaced >= MC_DECIDE_MAX_WANTS) return;
        k = st->nplaced++;
        snprintf(st->placed[k], sizeof st->placed[k], "%s", name);
    }
    snprintf(st->placed_node[k], sizeof st->placed_node[k], "%s", node);
}

void mc_decide_new_spec(mc_decide_state *st, const mc_spec *old_spec, const mc_spec *spec, const int64_t *tmpl) {
    mc_orch_rollout next[MC_SPEC_MAX_SERVICES];
    memset(next, 0, sizeof next);
    for (int p = 0; p < spec->service_count; p++) {
        snprintf(next[p].service, sizeof next[p].service, "%s", spec->services[p].name);
        next[p].to = tmpl[p];
        for (int q = 0; old_spec && q < old_spec->service_count; q++)
            if (strcmp(st->rollouts[q].service, spec->services[p].name) == 0 && st->rollouts[q].to == tmpl[p])
                next[p] = st->rollouts[q];
    }
    memcpy(st->rollouts, next, sizeof next);
}

static const mc_report *report_of(const mc_report *reports, int n, const char *name, const char *prefer_node) {
    const mc_report *found = NULL;
    for (int i = 0; i < n; i++)
        if (strcmp(reports[i].name, name) == 0 && (!found || (prefer_node && strcmp(reports[i].node, prefer_node) == 0)))
            found = &reports[i];
    return found;
}

/* The version service's last failed rollout went to (0: none). */
static int64_t failed_version(const mc_decide_state *st, const char *service) {
    for (int i = 0; i < MC_SPEC_MAX_SERVICES; i++)
        if (strcmp(st->failed_service[i], service) == 0) return st->failed_version[i];
    return 0;
}

static void remember_failed(mc_decide_state *st, const char *service, int64_t version) {
    int slot = 0;
    for (int i = 0; i < MC_SPEC_MAX_SERVICES; i++) {
        if (strcmp(st->failed_service[i], service) == 0) {
            slot = i;
            break;
        }
        if (!st->failed_service[i][0]) slot = i;
    }
    snprintf(st->failed_service[slot], sizeof st->failed_service[slot], "%s", service);
    st->failed_version[slot] = version;
}

/* A rollout back from a version that failed (the revert) missed its
 * deadline too, e.g. on a loaded machine: reverting would go back to the
 * broken version and flip-flop. It keeps going to the good version
 * instead, every instance not yet there given a fresh deadline. */
static mc_rollout_status keep_reverting(const mc_spec_service *svc, mc_orch_rollout *ro,
                                        const mc_rollout_inst *insts, int total, double now, int64_t *target) {
    for (int i = 0; i < total; i++) {
        target[i] = i < svc->count ? ro->to : 0;
        if (i < svc->count && (!insts[i].healthy || insts[i].version != ro->to)) ro->ordered_at[i] = now;
    }
    char why[sizeof ro->why]; /* 70 + 87 at most: fits */
    snprintf(why, sizeof why, "%.70s; not reverting to version %lld, which failed before: still rolling back",
             ro->why, (long long)ro->from);
    memcpy(ro->why, why, sizeof why);
    return MC_ROLLOUT_PROGRESS;
}

/* The rollout step of service p; its wants appended. */
static int service_wants(const mc_spec *spec, int p, mc_decide_state *st, const mc_report *reports, int nreports,
                         mc_decide_promoted promoted, void *ctx, double now, mc_want *wants, int n, int max,
                         mc_decide_revert *reverts, int *nreverts) {
    const mc_spec_service *svc = &spec->services[p];
    mc_orch_rollout *ro = &st->rollouts[p];
    int total = svc->count + svc->canary;
    mc_rollout_inst insts[MC_SPEC_MAX_COUNT * 2];
    int64_t target[MC_SPEC_MAX_COUNT * 2];
    char name[MC_INSTANCE_NAME_MAX + 1];
    for (int i = 0; i < total; i++) {
        mc_instance_name(name, sizeof name, svc->name, i);
        const mc_report *r = report_of(reports, nreports, name, mc_decide_placed(st, name));
        insts[i].version = r ? r->spec_version : 0;
        insts[i].healthy = r && r->healthy && r->ready;
        if (!insts[i].healthy || insts[i].version != ro->to) ro->healthy_since[i] = 0;
        else if (ro->healthy_since[i] == 0) ro->healthy_since[i] = now;
        insts[i].healthy_since = ro->healthy_since[i];
        insts[i].ordered_at = ro->ordered_at[i];
        if (ro->from == 0 && r && i < svc->count && r->spec_version != ro->to) ro->from = r->spec_version;
    }
    bool is_promoted = ro->from && svc->canary && promoted && promoted(ctx, svc->name, ro->to);
    mc_rollout_status s = mc_rollout_step(svc, ro->from, ro->to, is_promoted, insts, now, target, ro->why, sizeof ro->why);
    if (s == MC_ROLLOUT_FAILED && ro->from == failed_version(st, svc->name))
        s = keep_reverting(svc, ro, insts, total, now, target);
    if (s == MC_ROLLOUT_FAILED) {
        if (svc->auto_revert && ro->status != MC_ROLLOUT_FAILED && reverts) {
            mc_decide_revert *rv = &reverts[(*nreverts)++];
            snprintf(rv->service, sizeof rv->service, "%s", svc->name);
            rv->to_version = ro->from;
            snprintf(rv->why, sizeof rv->why, "%s", ro->why);
            remember_failed(st, svc->name, ro->to);
        }
        if (!svc->auto_revert) /* halted: what runs stays */
            for (int i = 0; i < total; i++) target[i] = insts[i].version;
    }
    if (s == MC_ROLLOUT_DONE && ro->from) {
        ro->from = 0;
        memset(ro->ordered_at, 0, sizeof ro->ordered_at);
    }
    ro->status = s;
    for (int i = 0; i < total && n < max; i++) {
        if (!target[i]) continue;
        mc_want *w = &wants[n++];
        memset(w, 0, sizeof *w);
        snprintf(w->service, sizeof w->service, "%s", svc->name);
        w->index = i;
        w->version = target[i];
    }
    return n;
}

/* The port where it runs on its node; else slot 0 unless a copy elsewhere
 * (being moved away) holds slot 0's port: two nodes may share a machine. */
static int port_of(const mc_spec *spec, const mc_want *w, const char *name, const mc_report *reports, int n) {
    int pos = mc_spec_service_position(spec, w->service);
    int slot0 = mc_spec_instance_port(spec, pos, w->index, 0);
    bool slot0_taken = false;
    for (int r = 0; r < n; r++) {
        if (strcmp(reports[r].name, name) != 0) continue;
        if (strcmp(reports[r].node, w->node) == 0 && reports[r].port > 0) return reports[r].port;
        if (reports[r].port == slot0) slot0_taken = true;
    }
    return slot0_taken ? mc_spec_instance_port(spec, pos, w->index, 1) : slot0;
}

int mc_decide(const mc_spec *spec, mc_decide_state *st, const mc_node *nodes, int nnodes, const mc_report *reports,
              int nreports, mc_decide_promoted promoted, void *ctx, double now, mc_want *wants, int max,
              mc_decide_revert *reverts, int *nreverts) {
    int n = 0;
    *nreverts = 0;
    for (int p = 0; p < spec->service_count; p++)
        n = service_wants(spec, p, st, reports, nreports, promoted, ctx, now, wants, n, max, reverts, nreverts);
    const char *prev[MC_DECIDE_MAX_WANTS];
    char name[MC_INSTANCE_NAME_MAX + 1];
    for (int i = 0; i < n; i++) {
        mc_instance_name(name, sizeof name, wants[i].service, wants[i].index);
        prev[i] = mc_decide_placed(st, name);
    }
    mc_place(spec, nodes, nnodes, reports, nreports, wants, n, prev);
    for (int i = 0; i < n; i++)
        if (wants[i].node[0]) {
            mc_instance_name(name, sizeof name, wants[i].service, wants[i].index);
            remember(st, name, wants[i].node);
            wants[i].port = port_of(spec, &wants[i], name, reports, nreports);
        }
    return n;
}

void mc_decide_ordered(mc_decide_state *st, const mc_spec *spec, const mc_want *w, double now) {
    int p = mc_spec_service_position(spec, w->service);
    if (p < 0 || w->index < 0 || w->index >= MC_SPEC_MAX_COUNT * 2) return;
    mc_orch_rollout *ro = &st->rollouts[p];
    if (ro->from && w->version == ro->to && ro->ordered_at[w->index] == 0) ro->ordered_at[w->index] = now;
}
