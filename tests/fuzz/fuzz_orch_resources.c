/* Fuzz target: the bodies of live resource limits. The first byte picks the
 * parser: 0 the operator's POST /v1/services/<s>/resources body
 * (orchestrator/limits.h), 1 the agent's PUT /v1/instances/<name>/resources
 * body (orchestrator/agent/limits.h), 2 the agent's rewrite of a kept order
 * with new limits (its state file, read back by the order parser).
 * Refusals must name a field (a non-empty message, MC_ERR_INVALID);
 * accepted values must be in the documented ranges. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "orchestrator/agent/limits.h"
#include "orchestrator/limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    mc_err err = {0};
    switch (data[0] % 3) {
    case 0: {
        mc_limits cur = {0.5, 256ll << 20, 256}, out;
        if (mc_api_parse_resources(buf, len, &cur, &out, &err) == 0) {
            if (!isfinite(out.cpus) || out.cpus < 0.01 || out.cpus > 1024 || out.memory_bytes < (4ll << 20) ||
                out.pids < 16 || out.pids > (1 << 22))
                __builtin_trap();
        } else if (!err.msg[0] || err.kind != MC_ERR_INVALID) {
            __builtin_trap();
        }
        break;
    }
    case 1: {
        mc_agent_limits l;
        if (mc_agent_limits_parse(buf, len, &l, &err) == 0) {
            if (!isfinite(l.cpus) || l.cpus < 0.01 || l.memory_bytes < (4ll << 20) || l.pids < 16) __builtin_trap();
        } else if (!err.msg[0] || err.kind != MC_ERR_INVALID) {
            __builtin_trap();
        }
        break;
    }
    default: {
        char *order = malloc(len + 1);
        if (!order) return 0;
        memcpy(order, buf, len);
        order[len] = '\0';
        mc_agent_limits l = {1.5, 512ll << 20, 300};
        char *text = mc_agent_limits_rewrite(order, &l);
        mc_agent_order o;
        if (text && mc_agent_order_parse("t-0", text, strlen(text), &o, &err) == 0) {
            if (o.cpus != 1.5 || o.memory_bytes != (512ll << 20) || o.pids != 300) __builtin_trap();
            mc_agent_order_free(&o);
        }
        free(text);
        free(order);
    }
    }
    return 0;
}
