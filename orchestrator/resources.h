/* resources.h — the bounds of an instance's resources (cpus, memory, pids),
 * one place for every parser of them: the spec file (spec.c), the operator
 * API's live change (limits.c) and the agent's order and resize bodies
 * (agent/limits.c) refuse the same values with the same words. */
#ifndef MCLOUD_ORCH_RESOURCES_H
#define MCLOUD_ORCH_RESOURCES_H

#include <stdint.h>

#define MC_RES_CPUS_MIN 0.01
#define MC_RES_CPUS_MAX 1024
#define MC_RES_MEMORY_MIN ((int64_t)4 << 20) /* 4M */
#define MC_RES_MEMORY_MAX ((int64_t)1 << 50) /* 1P */
#define MC_RES_PIDS_MIN 16
#define MC_RES_PIDS_MAX (1 << 22)

#endif
