/* plan.c — placement, reconcile plan and rollout step (see plan.h). */
#include "orchestrator/plan.h"

#include <stdio.h>
#include <string.h>

void mc_instance_name(char *out, size_t len, const char *service, int index) {
    snprintf(out, len, "%s-%d", service, index);
}

static bool node_matches(const mc_node *node, const mc_spec_service *svc) {
    for (int c = 0; c < svc->constraint_count; c++) {
        bool ok = false;
        for (int l = 0; l < node->label_count; l++)
            if (strcmp(node->labels[l].key, svc->constraints[c].key) == 0 &&
                strcmp(node->labels[l].value, svc->constraints[c].value) == 0)
                ok = true;
        if (!ok) return false;
    }
    return true;
}

static bool node_usable(const mc_node *node, const mc_spec_service *svc) {
    return node->alive && !node->draining && node_matches(node, svc);
}

static int node_index(const mc_node *nodes, int n, const char *name) {
    for (int i = 0; name && name[0] && i < n; i++)
        if (strcmp(nodes[i].name, name) == 0) return i;
    return -1;
}

const mc_node *mc_node_find(const mc_node *nodes, int n, const char *name) {
    int k = node_index(nodes, n, name);
    return k < 0 ? NULL : &nodes[k];
}

typedef struct usage {
    double cpus;
    int64_t memory, pids;
    int per_service[MC_SPEC_MAX_SERVICES];
} usage;

static void account(usage *u, const mc_spec_service *svc, int pos) {
    u->cpus += svc->cpus;
    u->memory += svc->memory_bytes;
    u->pids += svc->pids;
    u->per_service[pos]++;
}

/* Keeps wants[i] where it runs or was ordered when that node still fits. */
static void place_kept(const mc_spec *spec, const mc_node *nodes, int nnodes, const mc_report *reports,
                       int nreports, mc_want *w, const char *prev, usage *use) {
    int pos = mc_spec_service_position(spec, w->service);
    const mc_spec_service *svc = &spec->services[pos];
    char name[MC_INSTANCE_NAME_MAX + 1];
    mc_instance_name(name, sizeof name, w->service, w->index);
    /* Where it runs; with two copies (a move, a node back from the dead)
     * the healthy one wins, then the one where it was last ordered. */
    int chosen = -1, best = -1;
    for (int r = 0; r < nreports; r++) {
        if (strcmp(reports[r].name, name) != 0) continue;
        int k = node_index(nodes, nnodes, reports[r].node);
        if (k < 0 || !node_usable(&nodes[k], svc)) continue;
        int score = (reports[r].healthy && reports[r].ready) * 2 + (prev && strcmp(prev, nodes[k].name) == 0);
        if (score > best) best = score, chosen = k;
    }
    if (chosen < 0) {
        int k = node_index(nodes, nnodes, prev);
        if (k >= 0 && node_usable(&nodes[k], svc)) chosen = k;
    }
    if (chosen < 0) return;
    snprintf(w->node, sizeof w->node, "%s", nodes[chosen].name);
    account(&use[chosen], svc, pos);
}

static void place_new(const mc_spec *spec, const mc_node *nodes, int nnodes, mc_want *w, usage *use) {
    int pos = mc_spec_service_position(spec, w->service);
    const mc_spec_service *svc = &spec->services[pos];
    int best = -1, gone = 0, draining = 0, unmatched = 0, cpu = 0, mem = 0, pids = 0;
    for (int k = 0; k < nnodes; k++) {
        const mc_node *n = &nodes[k];
        if (!n->alive || n->stale) { gone++; continue; }
        if (n->draining) { draining++; continue; }
        if (!node_matches(n, svc)) { unmatched++; continue; }
        if (use[k].cpus + svc->cpus > n->cpus + 1e-9) { cpu++; continue; }
        if (use[k].memory + svc->memory_bytes > n->memory_bytes) { mem++; continue; }
        if (n->pids && use[k].pids + svc->pids > n->pids) { pids++; continue; }
        if (best < 0 || use[k].per_service[pos] < use[best].per_service[pos] ||
            (use[k].per_service[pos] == use[best].per_service[pos] &&
             n->memory_bytes - use[k].memory > nodes[best].memory_bytes - use[best].memory))
            best = k;
    }
    if (best >= 0) {
        snprintf(w->node, sizeof w->node, "%s", nodes[best].name);
        account(&use[best], svc, pos);
        return;
    }
    if (nnodes == 0 || gone == nnodes) {
        snprintf(w->reason, sizeof w->reason, "no node is up");
        return;
    }
    int len = snprintf(w->reason, sizeof w->reason, "no node has room:");
    struct { int n; const char *what; } parts[] = {
        {cpu, "CPUs"}, {mem, "memory"}, {pids, "pids"}, {unmatched, "constraints"}, {draining, "draining"}, {gone, "down"},
    };
    bool first = true;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0] && len > 0 && (size_t)len < sizeof w->reason; i++) {
        if (!parts[i].n) continue;
        const char *fmt = i < 3 ? "%s %d short of %s" : (i == 3 ? "%s %d not matching %s" : "%s %d %s");
        len += snprintf(w->reason + len, sizeof w->reason - (size_t)len, fmt, first ? "" : ",", parts[i].n,
                        parts[i].what);
        first = false;
    }
    if (cpu || mem || pids) {
        char need[80];
        snprintf(need, sizeof need, " (needs %.2f CPUs, %lld MiB)", svc->cpus,
                 (long long)(svc->memory_bytes >> 20));
        if ((size_t)len < sizeof w->reason) snprintf(w->reason + len, sizeof w->reason - (size_t)len, "%s", need);
    }
}

void mc_place(const mc_spec *spec, const mc_node *nodes, int nnodes, const mc_report *reports, int nreports,
              mc_want *wants, int n, const char *const *prev_node) {
    usage use[nnodes > 0 ? nnodes : 1];
    memset(use, 0, sizeof use);
    for (int i = 0; i < n; i++) {
        wants[i].node[0] = '\0';
        wants[i].reason[0] = '\0';
        if (mc_spec_service_position(spec, wants[i].service) < 0) {
            snprintf(wants[i].reason, sizeof wants[i].reason, "service not in the spec");
            continue;
        }
        place_kept(spec, nodes, nnodes, reports, nreports, &wants[i], prev_node ? prev_node[i] : NULL, use);
    }
    for (int i = 0; i < n; i++)
        if (!wants[i].node[0] && !wants[i].reason[0]) place_new(spec, nodes, nnodes, &wants[i], use);
}

typedef struct live_inst {
    int index;
    bool busy, ready;
} live_inst;

/* true when a should stop before b */
static bool stops_first(const live_inst *a, const live_inst *b) {
    if (a->busy != b->busy) return !a->busy;
    if (a->ready != b->ready) return !a->ready;
    return a->index > b->index;
}

int mc_scale_victims(const mc_report *reports, int nreports, const char *service, int count, int *victims,
                     int max) {
    live_inst live[MC_SPEC_MAX_COUNT * 2];
    int n = 0;
    for (int r = 0; r < nreports; r++) {
        const mc_report *rep = &reports[r];
        if (strcmp(rep->service, service) != 0 || strcmp(rep->state, "stopping") == 0) continue;
        int k = 0;
        while (k < n && live[k].index != rep->index) k++;
        if (k == n) {
            if (n == (int)(sizeof live / sizeof live[0])) continue;
            live[n++] = (live_inst){.index = rep->index};
        }
        live[k].busy |= rep->busy;
        live[k].ready |= rep->healthy && rep->ready;
    }
    for (int i = 1; i < n; i++) /* insertion sort: a few dozen at most */
        for (int j = i; j > 0 && stops_first(&live[j], &live[j - 1]); j--) {
            live_inst t = live[j];
            live[j] = live[j - 1];
            live[j - 1] = t;
        }
    int nv = 0;
    for (int i = 0; i < n - count && nv < max; i++) victims[nv++] = live[i].index;
    return nv;
}

static const mc_report *find_report(const mc_report *reports, int n, const char *name, const char *node) {
    for (int i = 0; i < n; i++)
        if (strcmp(reports[i].name, name) == 0 && (!node || strcmp(reports[i].node, node) == 0)) return &reports[i];
    return NULL;
}

static int add_order(mc_order *orders, int count, int max, mc_order_kind kind, const char *name, const char *node,
                     int want) {
    if (count >= max) return count;
    orders[count].kind = kind;
    snprintf(orders[count].name, sizeof orders[count].name, "%s", name);
    snprintf(orders[count].node, sizeof orders[count].node, "%s", node);
    orders[count].want = want;
    return count + 1;
}

int mc_reconcile(const mc_want *wants, int nwants, const mc_node *nodes, int nnodes, const mc_report *reports,
                 int nreports, mc_order *orders, int max) {
    int count = 0;
    char name[MC_INSTANCE_NAME_MAX + 1];
    for (int i = 0; i < nwants; i++) {
        const mc_want *w = &wants[i];
        int k = node_index(nodes, nnodes, w->node);
        if (k < 0 || nodes[k].stale) continue; /* pending, or its node is silent: wait for it */
        mc_instance_name(name, sizeof name, w->service, w->index);
        const mc_report *r = find_report(reports, nreports, name, w->node);
        if (!r) count = add_order(orders, count, max, MC_ORDER_START, name, w->node, i);
        else if (r->spec_version != w->version) count = add_order(orders, count, max, MC_ORDER_REPLACE, name, w->node, i);
    }
    /* stops of idle instances go out before those of busy ones */
    for (int i = 0; i < 2 * nreports; i++) {
        const mc_report *r = &reports[i % nreports];
        if (r->busy != (i >= nreports)) continue;
        int k = node_index(nodes, nnodes, r->node);
        if (k < 0 || !nodes[k].alive || nodes[k].stale) continue; /* nobody to order */
        const mc_want *w = NULL;
        for (int j = 0; j < nwants && !w; j++) {
            mc_instance_name(name, sizeof name, wants[j].service, wants[j].index);
            if (strcmp(name, r->name) == 0) w = &wants[j];
        }
        if (!w) {
            count = add_order(orders, count, max, MC_ORDER_STOP, r->name, r->node, -1);
            continue;
        }
        if (strcmp(w->node, r->node) == 0 || !w->node[0]) continue; /* in place, or the only copy */
        const mc_report *moved = find_report(reports, nreports, r->name, w->node);
        if (moved && moved->healthy && moved->ready && moved->spec_version == w->version)
            count = add_order(orders, count, max, MC_ORDER_STOP, r->name, r->node, -1);
    }
    return count;
}

const char *mc_rollout_status_name(mc_rollout_status s) {
    switch (s) {
    case MC_ROLLOUT_PROGRESS: return "progress";
    case MC_ROLLOUT_WAIT_PROMOTE: return "waiting for promote";
    case MC_ROLLOUT_DONE: return "done";
    case MC_ROLLOUT_FAILED: return "failed";
    }
    return "?";
}

static bool settled(const mc_spec_service *svc, const mc_rollout_inst *in, int64_t to, double now) {
    return in->version == to && in->healthy && now - in->healthy_since >= svc->min_healthy_ms / 1000.0;
}

static bool missed_deadline(const mc_spec_service *svc, const mc_rollout_inst *in, int64_t to, double now) {
    return in->ordered_at > 0 && !settled(svc, in, to, now) && now - in->ordered_at > svc->healthy_deadline_ms / 1000.0;
}

mc_rollout_status mc_rollout_step(const mc_spec_service *svc, int64_t from, int64_t to, bool promoted,
                                  const mc_rollout_inst *insts, double now, int64_t *target, char *why,
                                  size_t whylen) {
    int total = svc->count + svc->canary;
    bool canary_phase = svc->canary > 0 && !promoted && from > 0;
    for (int i = 0; i < total; i++) target[i] = 0;
    if (from <= 0) { /* first version of the service: nothing to roll */
        for (int i = 0; i < svc->count; i++) target[i] = to;
        snprintf(why, whylen, "first version");
        return MC_ROLLOUT_DONE;
    }
    for (int i = 0; i < total; i++) {
        bool wanted = i < svc->count || canary_phase || svc->canary > 0;
        if (wanted && missed_deadline(svc, &insts[i], to, now)) {
            for (int j = 0; j < svc->count; j++) target[j] = from;
            snprintf(why, whylen, "%s-%d not healthy within %lld ms", svc->name, i, (long long)svc->healthy_deadline_ms);
            return MC_ROLLOUT_FAILED;
        }
    }
    if (canary_phase) {
        int ok = 0;
        for (int i = 0; i < svc->count; i++) target[i] = from;
        for (int i = svc->count; i < total; i++) {
            target[i] = to;
            ok += settled(svc, &insts[i], to, now);
        }
        snprintf(why, whylen, "%d/%d canaries healthy", ok, svc->canary);
        return ok == svc->canary ? MC_ROLLOUT_WAIT_PROMOTE : MC_ROLLOUT_PROGRESS;
    }
    int in_flight = 0, done = 0;
    for (int i = 0; i < svc->count; i++) {
        if (insts[i].version == to || insts[i].ordered_at > 0 || insts[i].version == 0) target[i] = to;
        else target[i] = from;
        if (target[i] == to) {
            if (settled(svc, &insts[i], to, now)) done++;
            else in_flight++;
        }
    }
    for (int i = 0; i < svc->count && in_flight < svc->max_parallel; i++)
        if (target[i] == from) {
            target[i] = to;
            in_flight++;
        }
    if (done == svc->count) {
        snprintf(why, whylen, "%d/%d updated and healthy", done, svc->count);
        return MC_ROLLOUT_DONE; /* canaries, if any, are no longer wanted */
    }
    for (int i = svc->count; i < total; i++) target[i] = to; /* promoted canaries serve until the end */
    snprintf(why, whylen, "%d/%d updated and healthy, %d in flight", done, svc->count, in_flight);
    return MC_ROLLOUT_PROGRESS;
}
