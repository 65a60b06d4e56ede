/* limits.h — resource limits changed on running instances, the pure part
 * (`mcloud resources SERVICE --cpus 1.5 --memory 2G --pids N`).
 *
 * A change of resources alone is NOT a new template (mc_spec_same_template
 * ignores cpus, memory and pids): it is recorded as a new spec version, but
 * the instances keep their template version, so no rollout replaces them;
 * the orchestrator orders each agent to apply the new limits to the running
 * container in place (mc_spec_change says which kind a change is). The
 * limits an instance must run with are the newest ones recorded for its
 * template (mc_limits_for), so a restart, a reschedule or a canary of an
 * older template each get the right ones. A memory limit below what an
 * instance uses now (its agent's cgroup figure, in the heartbeat) is refused
 * before anything is recorded (mc_limits_check).
 * No I/O: unit tests and tests/fuzz/fuzz_orch_resources.c drive it. */
#ifndef MCLOUD_ORCH_LIMITS_H
#define MCLOUD_ORCH_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "orchestrator/plan.h"
#include "orchestrator/spec.h"

typedef struct mc_limits {
    double cpus;
    int64_t memory_bytes, pids;
} mc_limits;

/* What a change of one service's definition from a to b asks of its
 * running instances. */
typedef enum mc_spec_change_kind {
    MC_CHANGE_NONE,     /* nothing, or only count / update strategy: no instance touched */
    MC_CHANGE_IN_PLACE, /* resources only: applied to the running containers, no restart */
    MC_CHANGE_ROLLOUT   /* anything else: a rolling replacement */
} mc_spec_change_kind;

mc_spec_change_kind mc_spec_change(const mc_spec_service *a, const mc_spec_service *b);
const char *mc_spec_change_name(mc_spec_change_kind k);

void mc_limits_of(const mc_spec_service *s, mc_limits *out);
bool mc_limits_equal(const mc_limits *a, const mc_limits *b);

/* The body of POST /v1/services/<s>/resources:
 *   {"cpus": 1.5, "memory": "2G" | bytes, "pids": 512}
 * every field optional but at least one; unknown fields refused. cur (the
 * service's limits now) fills what is not given. MC_ERR_INVALID naming the
 * field, with the same bounds as the spec (cpus 0.01-1024, memory >= 4M,
 * pids 16-4194304). */
int mc_api_parse_resources(const char *buf, size_t len, const mc_limits *cur, mc_limits *out, mc_err *err);

/* Refuses (MC_ERR_CONFLICT, naming the field "memory", the instance and its
 * node) a memory limit below what a running instance of service uses now,
 * as its agent reported it. */
int mc_limits_check(const char *service, const mc_limits *want, const mc_report *reports, int nreports, mc_err *err);

/* The limits instances of `service` running template `version` must have:
 * those of the newest spec in hist (newest first) whose definition of the
 * service has that template. 0, or -1 when the version is not in hist. */
typedef struct mc_limits_hist {
    int64_t version;
    const mc_spec *spec;
} mc_limits_hist;
int mc_limits_for(const mc_limits_hist *hist, int n, const char *service, int64_t version, mc_limits *out);

/* "1.5 CPUs, 2G memory, 512 pids" */
void mc_limits_format(const mc_limits *l, char *out, size_t cap);

#endif
