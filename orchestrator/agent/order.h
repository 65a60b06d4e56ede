/* order.h — the node agent's pure logic: the orchestrator's orders as the
 * agent<->orchestrator contract (v1, /work/stacks/agent-contract.md and
 * docs/ARCHITECTURE.md) defines them, parsed and validated with errors that
 * name the field; the fencing-token rule; the container labels and name an
 * order maps to. No I/O here: unit tests and the fuzz target link it. */
#ifndef MCLOUD_AGENT_ORDER_H
#define MCLOUD_AGENT_ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/docker.h"
#include "common/error.h"

#define MC_AGENT_MAX_ENV 64
#define MC_AGENT_MAX_VOLUMES 8
#define MC_AGENT_NAME_MAX 64

typedef struct mc_agent_health {
    char path[128];          /* "/healthz": failing -> restart */
    char ready_path[128];    /* "/readyz": failing -> not ready, never restarted */
    long interval_ms, timeout_ms;
    int failures;            /* consecutive failures before unhealthy */
    char busy_metric[64];    /* a gauge of its /metrics read at each check (> 0: busy); "": none */
} mc_agent_health;

typedef struct mc_agent_restart {
    int attempts;            /* within interval_ms; then the instance stays in backoff at max_delay */
    long interval_ms, delay_ms, max_delay_ms;
} mc_agent_restart;

/* The restarts counted against `attempts`: those since the window began. */
typedef struct mc_agent_restart_window {
    double start;            /* monotonic seconds; 0: no restart yet */
    int count;
} mc_agent_restart_window;

/* PUT /v1/instances/<name>: one instance the orchestrator wants on this node. */
typedef struct mc_agent_order {
    char name[MC_AGENT_NAME_MAX];      /* <service>-<index> */
    char service[48];
    int index;
    char image[256];
    long long spec_version;
    int port;
    mc_docker_kv env[MC_AGENT_MAX_ENV];
    size_t nenv;
    double cpus;
    long long memory_bytes, pids;
    mc_agent_health health;
    mc_agent_restart restart;
    long stop_grace_ms;
    mc_docker_volume volumes[MC_AGENT_MAX_VOLUMES];
    size_t nvolumes;
    char *strings;                     /* owns env and volume strings */
} mc_agent_order;

/* Parses and validates a PUT body for the instance `name` (from the URL).
 * MC_ERR_INVALID with a message naming the field on any bad input. */
int mc_agent_order_parse(const char *name, const char *body, size_t len, mc_agent_order *out,
                         mc_err *err);
void mc_agent_order_free(mc_agent_order *o);

/* The delay before the next restart, counting it in w: the backoff's own
 * delay (backoff_ms) while at most `attempts` restarts fell in the current
 * window of interval_ms, max_delay_ms beyond that (a crash loop slows to its
 * slowest until a whole interval passes, then counting starts again). */
long mc_agent_restart_delay(const mc_agent_restart *r, mc_agent_restart_window *w, double now, long backoff_ms);

/* The fencing rule: an order's X-Mcloud-Fence header must be a token at least
 * as high as the highest seen. Returns 0 and raises *highest when accepted;
 * MC_ERR_INVALID for a missing/garbled header, MC_ERR_CONFLICT when stale. */
int mc_agent_fence_check(const char *header, uint64_t *highest, mc_err *err);

/* The container an order becomes: name mcloud-<node>-<service>-<index>. */
int mc_agent_container_name(const char *node, const mc_agent_order *o, char *out, size_t cap);

/* Whether the container found under the order's name on this node was made
 * from this very order — its labels (instance, node, spec version, managed)
 * say so and it is created or running, never a dead one — and is to be
 * taken as the order's container: a create the agent gave up on (its
 * timeout) may still happen in the engine; creating again would meet "name
 * in use", removing it would throw away its copy of the image. Any other
 * container under the name is an earlier life's, to be removed. */
bool mc_agent_container_is_order(const mc_docker_container *c, const char *node, const mc_agent_order *o);

#endif
