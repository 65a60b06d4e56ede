/* resize.c — live resource limits on the agent (see limits.h): the
 * PUT /v1/instances/<name>/resources handler records the limits in the
 * instance's order and marks them pending; the supervisor's round
 * (mc_agent_limits_step, lock held, the one thread that talks to the
 * engine) applies pending limits to the running container, retrying every
 * RETRY_S while the engine refuses. A new container is created from the
 * order, so it has them from the start; an adopted one (agent restart) is
 * marked pending, because podman's update does not persist them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "orchestrator/agent/agent.h"
#include "orchestrator/agent/limits.h"

#define RETRY_S 5.0

static json_t *limits_json(const mc_agent_instance *i) {
    return json_pack("{s:f,s:I,s:I,s:b}", "cpus", i->order.cpus, "memory_bytes", (json_int_t)i->order.memory_bytes,
                     "pids", (json_int_t)i->order.pids, "applied", !i->limits_pending);
}

void mc_agent_limits_json(const mc_agent_instance *i, json_t *instance) {
    json_object_set_new(instance, "resources", limits_json(i));
}

/* What the container's cgroup charges now (0: unknown, nothing runs). */
static long long memory_now(mc_agent_instance *i) {
    mc_cgroup_usage u;
    if (!i->container_id[0] || !i->running || i->pid <= 0) return 0;
    if (mc_cgroup_read("/sys/fs/cgroup", i->pid, &i->cgroup, &u) < 0) return i->usage.memory_bytes;
    return u.memory_bytes;
}

enum MHD_Result mc_agent_limits_put(mc_agent *a, mc_http_req *req, const char *name, const char *body, size_t len) {
    mc_agent_limits l;
    mc_err err = {0};
    if (mc_agent_limits_parse(body, len, &l, &err) < 0)
        return mc_http_send_problem(req, 400, "invalid_resources", "Bad Request", NULL, "%s", err.msg);
    pthread_mutex_lock(&a->lock);
    mc_agent_instance *i = NULL;
    for (int k = 0; k < MC_AGENT_MAX_INSTANCES && !i; k++)
        if (a->inst[k].used && !a->inst[k].deleting && strcmp(a->inst[k].order.name, name) == 0) i = &a->inst[k];
    if (!i) {
        pthread_mutex_unlock(&a->lock);
        return mc_http_send_problem(req, 404, "not_found", "Not Found", NULL, "no instance '%s' on this node", name);
    }
    long long used = memory_now(i);
    if (used > l.memory_bytes) {
        pthread_mutex_unlock(&a->lock);
        return mc_http_send_problem(req, 409, "memory_below_usage", "Conflict", NULL,
                                    "field 'memory_bytes': %lld is below the %lld bytes instance %s uses now; "
                                    "nothing changed", l.memory_bytes, used, name);
    }
    const char *status = "unchanged";
    if (i->order.cpus != l.cpus || i->order.memory_bytes != l.memory_bytes || i->order.pids != l.pids) {
        char *text = mc_agent_limits_rewrite(i->order_json, &l);
        if (!text) {
            pthread_mutex_unlock(&a->lock);
            return mc_http_send_problem(req, 500, "internal", "Error", NULL, "the order of %s cannot be rewritten", name);
        }
        free(i->order_json);
        i->order_json = text;
        mc_agent_limits_set(&i->order, &l);
        if (mc_agent_save_order(a, i, &err) < 0)
            mc_log_kv(MC_LOG_WARN, "saving an order failed", "instance", name, "error", err.msg, NULL);
        i->limits_pending = i->container_id[0] != '\0';
        i->limits_retry_at = 0;
        status = "recorded";
        mc_log_kv(MC_LOG_INFO, "new resource limits recorded", "instance", name, NULL);
    }
    json_t *answer = json_pack("{s:s,s:s,s:o}", "name", name, "status", status, "resources", limits_json(i));
    pthread_mutex_unlock(&a->lock);
    mc_periodic_nudge(a->loop);
    return mc_http_send_json(req, 200, answer);
}

void mc_agent_limits_step(mc_agent *a, mc_agent_instance *i, double now) {
    if (!i->limits_pending || !i->running || !i->container_id[0] || now < i->limits_retry_at) return;
    mc_err err = {0};
    if (mc_docker_update(a->engine, i->container_id, i->order.memory_bytes, (long long)(i->order.cpus * 1e9),
                         i->order.pids, &err) == 0) {
        i->limits_pending = false;
        char cpus[32], mem[32], pids[32];
        snprintf(cpus, sizeof cpus, "%g", i->order.cpus);
        snprintf(mem, sizeof mem, "%lld", i->order.memory_bytes);
        snprintf(pids, sizeof pids, "%lld", i->order.pids);
        mc_log_kv(MC_LOG_INFO, "resource limits applied in place", "instance", i->order.name, "id", i->container_id,
                  "cpus", cpus, "memory_bytes", mem, "pids", pids, NULL);
    } else if (err.kind == MC_ERR_NOT_FOUND) {
        i->limits_pending = false; /* gone: its next container is made from the order */
    } else {
        i->limits_retry_at = now + RETRY_S;
        mc_log_kv(MC_LOG_WARN, "applying resource limits failed; retrying", "instance", i->order.name, "error",
                  err.msg, NULL);
    }
}
