/* limits.h — the agent's side of live resource limits (the orchestrator's
 * `mcloud resources`): PUT /v1/instances/<name>/resources with
 * {"cpus": 1.5, "memory_bytes": N, "pids": N}. The agent records the new
 * limits in the instance's order (memory and the state dir, so a new
 * container after a crash and a restarted agent both have them), refuses a
 * memory limit below what the container's cgroup charges now (409, naming
 * the field and the instance: nothing changed), and its supervisor applies
 * them to the running container through the engine (podman's libpod
 * update: live, not persisted by podman), again after the agent restarts.
 * The pure part (body, order rewrite) is here for unit and fuzz tests; the
 * handler and the engine call are in resize.c. */
#ifndef MCLOUD_AGENT_LIMITS_H
#define MCLOUD_AGENT_LIMITS_H

#include <stddef.h>

#include "common/error.h"
#include "orchestrator/agent/order.h"

typedef struct mc_agent_limits {
    double cpus;
    long long memory_bytes, pids;
} mc_agent_limits;

/* Parses the PUT body; MC_ERR_INVALID naming the field. */
int mc_agent_limits_parse(const char *body, size_t len, mc_agent_limits *out, mc_err *err);
/* The accepted order body order_json with its "resources" replaced by l
 * (malloc'd), or NULL when order_json is not an object. */
char *mc_agent_limits_rewrite(const char *order_json, const mc_agent_limits *l);
void mc_agent_limits_set(mc_agent_order *o, const mc_agent_limits *l);

#endif
