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
                                        const mc_rollout_inst *insts, const int *slot, int total, double now,
                                        int64_t *target) {
    for (int i = 0; i < total; i++) {
        target[i] = i < svc->count ? ro->to : 0;
        if (i < svc->count && (!insts[i].healthy || insts[i].version != ro->to)) ro->ordered_at[slot[i]] = now;
    }
    char why[sizeof ro->why]; /* 70 + 87 at most: fits */
    snprintf(why, sizeof why, "%.70s; not reverting to version %lld, which failed before: still rolling back",
             ro->why, (long long)ro->from);
    memcpy(ro->why, why, sizeof why);
    return MC_ROLLOUT_PROGRESS;
}

static bool has_index(const int *xs, int n, int x) {
    for (int i = 0; i < n; i++)
        if (xs[i] == x) return true;
    return false;
}

/* The instance index behind each of the service's total slots (the
 * rollout's positions): its live instances (all, or all but the
 * victims of mc_scale_victims when it runs more than total) in ascending
 * order, then the lowest free indices, those of no report first (an index
 * still stopping is taken last). Instances 0..total-1 when nothing was
 * ever scaled down around a busy one: slot i is index i. */
static void service_slots(const mc_report *reports, int nreports, const char *service, int total, int *slot) {
    int victims[MC_SPEC_MAX_COUNT * 2], nv = mc_scale_victims(reports, nreports, service, total, victims,
                                                               MC_SPEC_MAX_COUNT * 2);
    int n = 0;
    for (int x = 0; x < MC_SPEC_MAX_COUNT && n < total; x++) {
        if (has_index(victims, nv, x)) continue;
        for (int r = 0; r < nreports; r++)
            if (reports[r].index == x && strcmp(reports[r].service, service) == 0 &&
                strcmp(reports[r].state, "stopping") != 0) {
                slot[n++] = x;
                break;
            }
    }
    for (int pass = 0; pass < 2 && n < total; pass++)
        for (int x = 0; x < MC_SPEC_MAX_COUNT && n < total; x++) {
            if (has_index(slot, n, x) || (pass == 0 && has_index(victims, nv, x))) continue;
            bool reported = false;
            for (int r = 0; r < nreports && !reported; r++)
                reported = reports[r].index == x && strcmp(reports[r].service, service) == 0;
            if (pass == 1 || !reported) slot[n++] = x;
        }
    for (int i = 1; i < n; i++) /* ascending: the rollout's canaries are the highest */
        for (int j = i; j > 0 && slot[j] < slot[j - 1]; j--) {
            int t = slot[j];
            slot[j] = slot[j - 1];
            slot[j - 1] = t;
        }
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
    int slot[MC_SPEC_MAX_COUNT * 2];
    char name[MC_INSTANCE_NAME_MAX + 1];
    service_slots(reports, nreports, svc->name, total, slot);
    for (int i = 0; i < total; i++) {
        int x = slot[i];
        mc_instance_name(name, sizeof name, svc->name, x);
        const mc_report *r = report_of(reports, nreports, name, mc_decide_placed(st, name));
        insts[i].version = r ? r->spec_version : 0;
        insts[i].healthy = r && r->healthy && r->ready;
        if (!insts[i].healthy || insts[i].version != ro->to) ro->healthy_since[x] = 0;
        else if (ro->healthy_since[x] == 0) ro->healthy_since[x] = now;
        insts[i].healthy_since = ro->healthy_since[x];
        insts[i].ordered_at = ro->ordered_at[x];
        if (ro->from == 0 && r && i < svc->count && r->spec_version != ro->to) ro->from = r->spec_version;
    }
    bool is_promoted = ro->from && svc->canary && promoted && promoted(ctx, svc->name, ro->to);
    mc_rollout_status s = mc_rollout_step(svc, ro->from, ro->to, is_promoted, insts, now, target, ro->why, sizeof ro->why);
    if (s == MC_ROLLOUT_FAILED && ro->from == failed_version(st, svc->name))
        s = keep_reverting(svc, ro, insts, slot, total, now, target);
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
        w->index = slot[i];
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

void mc_decide_stop_sent(mc_decide_state *st, const char *name, const char *node) {
    for (int i = 0; i < st->nstopping; i++)
        if (strcmp(st->stopping[i], name) == 0 && strcmp(st->stopping_node[i], node) == 0) return;
    if (st->nstopping >= MC_DECIDE_MAX_WANTS) return;
    snprintf(st->stopping[st->nstopping], sizeof st->stopping[0], "%s", name);
    snprintf(st->stopping_node[st->nstopping], sizeof st->stopping_node[0], "%s", node);
    st->nstopping++;
}

void mc_decide_mark_stopping(mc_decide_state *st, mc_report *reports, int nreports) {
    int kept = 0;
    for (int i = 0; i < st->nstopping; i++) {
        bool seen = false;
        for (int r = 0; r < nreports; r++)
            if (strcmp(reports[r].name, st->stopping[i]) == 0 && strcmp(reports[r].node, st->stopping_node[i]) == 0) {
                snprintf(reports[r].state, sizeof reports[r].state, "stopping");
                seen = true;
            }
        if (!seen) continue; /* gone: stopped and removed */
        if (kept != i) {
            memcpy(st->stopping[kept], st->stopping[i], sizeof st->stopping[0]);
            memcpy(st->stopping_node[kept], st->stopping_node[i], sizeof st->stopping_node[0]);
        }
        kept++;
    }
    st->nstopping = kept;
}
