/* decide.h — one reconcile round's decisions, as a pure function of the
 * spec, the state the active orchestrator keeps between rounds (rollouts,
 * where each instance was last ordered) and what the agents report: the
 * rollout step of every service (plan.h), then placement. The daemon
 * (loop.c) does the I/O around it; tests/unit/test_orch_cluster.c drives it
 * round after round against a simulated cluster. */
#ifndef MCLOUD_ORCH_DECIDE_H
#define MCLOUD_ORCH_DECIDE_H

#include "orchestrator/plan.h"

#define MC_DECIDE_MAX_WANTS (MC_SPEC_MAX_SERVICES * MC_SPEC_MAX_COUNT)

typedef struct mc_orch_rollout {     /* one service's rollout */
    char service[MC_SPEC_NAME_MAX + 1];
    int64_t from, to;                /* template versions; from 0: nothing to roll */
    mc_rollout_status status;
    char why[160];
    double ordered_at[MC_SPEC_MAX_COUNT * 2];
    double healthy_since[MC_SPEC_MAX_COUNT * 2];
} mc_orch_rollout;

typedef struct mc_decide_state {
    mc_orch_rollout rollouts[MC_SPEC_MAX_SERVICES]; /* by the service's position in the spec */
    char placed[MC_DECIDE_MAX_WANTS][MC_INSTANCE_NAME_MAX + 1]; /* instance -> node last ordered */
    char placed_node[MC_DECIDE_MAX_WANTS][MC_NODE_NAME_MAX + 1];
    int nplaced;
    /* per service, the template version its last failed rollout went to:
     * the rollout back from it (the revert) never reverts to it again */
    char failed_service[MC_SPEC_MAX_SERVICES][MC_SPEC_NAME_MAX + 1];
    int64_t failed_version[MC_SPEC_MAX_SERVICES];
    /* stop orders delivered whose instance still runs (its agent's next
     * heartbeat has not said "stopping" yet): counted as stopping, so the
     * next round's victim choice cannot pick another one in its place */
    char stopping[MC_DECIDE_MAX_WANTS][MC_INSTANCE_NAME_MAX + 1];
    char stopping_node[MC_DECIDE_MAX_WANTS][MC_NODE_NAME_MAX + 1];
    int nstopping;
} mc_decide_state;

typedef struct mc_decide_revert {    /* a rollout that just failed with auto_revert */
    char service[MC_SPEC_NAME_MAX + 1];
    int64_t to_version;              /* the template version to go back to */
    char why[160];
} mc_decide_revert;

typedef bool (*mc_decide_promoted)(void *ctx, const char *service, int64_t to);

/* A new desired spec (old_spec NULL at the first): rollouts whose target
 * template is unchanged go on, the others start over (their `from` is
 * found in the reports). tmpl[p]: the template version of service p. */
void mc_decide_new_spec(mc_decide_state *st, const mc_spec *old_spec, const mc_spec *spec, const int64_t *tmpl);

/* The wants of this round, placed (node or pending reason); returns how
 * many (at most max). reverts (MC_SPEC_MAX_SERVICES room) gets the
 * rollouts that failed in this round. */
int mc_decide(const mc_spec *spec, mc_decide_state *st, const mc_node *nodes, int nnodes, const mc_report *reports,
              int nreports, mc_decide_promoted promoted, void *ctx, double now, mc_want *wants, int max,
              mc_decide_revert *reverts, int *nreverts);

/* An order for w went out at now (the rollout's healthy_deadline clock). */
void mc_decide_ordered(mc_decide_state *st, const mc_spec *spec, const mc_want *w, double now);

/* A stop order for name on node was delivered. */
void mc_decide_stop_sent(mc_decide_state *st, const char *name, const char *node);
/* Before mc_decide: the reports of instances whose stop was delivered read
 * "stopping"; those no longer reported are forgotten. */
void mc_decide_mark_stopping(mc_decide_state *st, mc_report *reports, int nreports);

/* Where name was last ordered, or NULL. */
const char *mc_decide_placed(const mc_decide_state *st, const char *name);

#endif
