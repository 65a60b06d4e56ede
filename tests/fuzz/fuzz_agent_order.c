/* Fuzz target: the node agent's order body (PUT /v1/instances/<name>, the
 * orchestrator's input to the agent) through mc_agent_order_parse, and a
 * parsed order through the container create body it becomes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "orchestrator/agent/order.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mc_agent_order o;
    mc_err err = {0};
    if (mc_agent_order_parse("stream-1", (const char *)data, size, &o, &err) == 0) {
        mc_docker_spec spec = {.image = o.image, .env = o.env, .nenv = o.nenv, .volumes = o.volumes,
                               .nvolumes = o.nvolumes, .memory_bytes = o.memory_bytes,
                               .nano_cpus = (int64_t)(o.cpus * 1e9), .pids_limit = o.pids};
        json_t *body = mc_docker_create_body(&spec, &err);
        json_decref(body);
        mc_agent_order_free(&o);
    }
    return 0;
}
