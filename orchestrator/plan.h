/* plan.h — the orchestrator's pure decisions: placement, the reconcile
 * plan and the rollout step. No I/O, no clock: the daemon passes the nodes
 * and instances the agents report and the time, and acts on the result, so
 * every rule here is unit-tested without a cluster.
 *
 * - Placement: each desired instance <service>-<index> stays where it runs
 *   (a restarted orchestrator adopts, never moves) or where it was last
 *   ordered, unless that node is gone, draining or no longer matches the
 *   service's constraints; the rest go to the live, non-draining node that
 *   matches the constraints, has the CPUs, memory and pids left and runs
 *   the fewest instances of that service (spread), then the most free
 *   memory. An instance no node can take is pending with the reason.
 * - Reconcile: desired (instance, node, version) against reported ->
 *   start/replace/stop orders. An instance that moves keeps running on its
 *   old node until the new one is healthy (a drain drops no request).
 * - Rollout: which instances run the new version now (max_parallel at a
 *   time, each healthy for min_healthy_time before the next batch; a new
 *   instance not healthy within healthy_deadline fails the rollout; canary
 *   instances next to the old ones until promoted). */
#ifndef MCLOUD_ORCH_PLAN_H
#define MCLOUD_ORCH_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "orchestrator/spec.h"

#define MC_NODE_NAME_MAX 63
#define MC_INSTANCE_NAME_MAX (MC_SPEC_NAME_MAX + 8)
#define MC_REASON_MAX 200

typedef struct mc_node {
    char name[MC_NODE_NAME_MAX + 1];
    char agent_url[256];
    mc_spec_kv labels[MC_SPEC_MAX_LABELS];
    int label_count;
    double cpus;                 /* capacity */
    int64_t memory_bytes, pids;
    double free_cpus;            /* as the agent measured it */
    int64_t free_memory_bytes;
    int64_t fence;               /* highest fencing token the agent accepted */
    bool alive;                  /* heartbeat present */
    bool draining;               /* an operator asked to empty it */
    bool stale;                  /* heartbeat missing for less than the grace: its last one
                                  * stands, nothing new goes there, no order is sent to it */
    double seen_at;              /* when its heartbeat was last read (the daemon's clock) */
} mc_node;

/* The node of that name among nodes[0..n), or NULL. */
const mc_node *mc_node_find(const mc_node *nodes, int n, const char *name);

#define MC_REPORT_SCHEDULE_MAX 8 /* restart delays kept of a report: enough to show a crash loop */

typedef struct mc_report {       /* one instance as an agent reports it */
    char name[MC_INSTANCE_NAME_MAX + 1];
    char service[MC_SPEC_NAME_MAX + 1];
    int index;
    char node[MC_NODE_NAME_MAX + 1];
    char container_id[80];
    char state[16];              /* running|starting|unhealthy|exited|backoff|stopping */
    bool ready, healthy;
    bool busy;                   /* its health.busy_metric was > 0 at the agent's last check */
    int restarts, last_exit_code;
    int64_t spec_version;
    int port;
    char started_at[40];
    double cpu_seconds;          /* the container's cgroup: CPU time since it started, */
    double cpu_percent;          /* ... its share of one core over the agent's last second, */
    long long memory_bytes, pids; /* ... memory charged and tasks, now */
    bool has_limits;             /* the limits its agent holds for it ("resources"; limits.h) */
    bool limits_applied;         /* ... and has applied to the running container */
    double limit_cpus;
    long long limit_memory_bytes, limit_pids;
    unsigned schedule_ms[MC_REPORT_SCHEDULE_MAX]; /* the last restart delays the agent chose, in order */
    int nschedule;
} mc_report;

typedef struct mc_want {         /* one desired instance */
    char service[MC_SPEC_NAME_MAX + 1];
    int index;
    int64_t version;             /* the spec version it must run */
    char node[MC_NODE_NAME_MAX + 1]; /* "" = pending */
    int port;                    /* the port it listens on there (mc_decide) */
    char reason[MC_REASON_MAX];  /* why it is pending */
} mc_want;

void mc_instance_name(char *out, size_t len, const char *service, int index);

/* Places wants[0..n) in place (fills node or reason). prev_node[i] (may be
 * NULL or "") is where wants[i] was last ordered. */
void mc_place(const mc_spec *spec, const mc_node *nodes, int nnodes, const mc_report *reports, int nreports,
              mc_want *wants, int n, const char *const *prev_node);

/* Scale-down victim choice, the one place it is made: `mcloud scale`, a
 * deploy with a lower count and an autoscaler changing the count all reach
 * it through mc_decide. Of the live instances of `service` (reported and
 * not already stopping; a copy on two nodes counts once), those beyond
 * `count` stop, chosen in this order: idle before busy (mc_report.busy,
 * the service's health.busy_metric), then not ready before ready, then the
 * highest index first. Writes their indices to victims[] in that order (at
 * most max) and returns how many (0 when it runs no more than count). */
int mc_scale_victims(const mc_report *reports, int nreports, const char *service, int count, int *victims,
                     int max);

typedef enum mc_order_kind { MC_ORDER_START, MC_ORDER_REPLACE, MC_ORDER_STOP } mc_order_kind;

typedef struct mc_order {
    mc_order_kind kind;
    char name[MC_INSTANCE_NAME_MAX + 1];
    char node[MC_NODE_NAME_MAX + 1];
    int want;                    /* index into wants (START/REPLACE), -1 for STOP */
} mc_order;

/* Orders that bring reports to wants; returns how many (at most max). */
int mc_reconcile(const mc_want *wants, int nwants, const mc_node *nodes, int nnodes, const mc_report *reports,
                 int nreports, mc_order *orders, int max);

typedef enum mc_rollout_status {
    MC_ROLLOUT_PROGRESS,
    MC_ROLLOUT_WAIT_PROMOTE,
    MC_ROLLOUT_DONE,
    MC_ROLLOUT_FAILED
} mc_rollout_status;

typedef struct mc_rollout_inst { /* index i of the service, as the daemon sees it */
    int64_t version;             /* running version (0: none) */
    bool healthy;                /* healthy and ready at that version */
    double healthy_since;        /* seconds; when it became so */
    double ordered_at;           /* seconds; when the new version was ordered (0: not yet) */
} mc_rollout_inst;

/* One step of the rollout of svc from `from` to `to`. insts has
 * svc->count + svc->canary entries (by index). Writes target[i], the
 * version index i must run (0: index not wanted), and returns the status;
 * why says what it waits for. */
mc_rollout_status mc_rollout_step(const mc_spec_service *svc, int64_t from, int64_t to, bool promoted,
                                  const mc_rollout_inst *insts, double now, int64_t *target, char *why,
                                  size_t whylen);
const char *mc_rollout_status_name(mc_rollout_status s);

#endif
