/* Fuzz target: what reaches mcloud-orchestrator from other processes
 * (orchestrator/wire.h). The first byte picks the parser: 0 the node
 * heartbeat an agent writes to Redis, 1 the scale body (count or bounds), 2 the drain body,
 * 3 a node or service name from a URL path. Refusals must name a field
 * (a non-empty message); accepted values must be in range. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "orchestrator/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    mc_err err = {0};
    switch (data[0] % 4) {
    case 0: {
        static mc_node node;
        static mc_report reports[8];
        int n = -1;
        if (mc_heartbeat_parse(buf, len, &node, reports, 8, &n, &err) == 0) {
            if (n < 0 || n > 8 || !node.alive || !mc_api_name_valid(node.name)) __builtin_trap();
            for (int i = 0; i < n; i++)
                if (strcmp(reports[i].node, node.name) != 0 || reports[i].index < 0) __builtin_trap();
        } else if (!err.msg[0] || n != 0) {
            __builtin_trap();
        }
        break;
    }
    case 1: {
        int count = -1;
        if (mc_api_parse_scale(buf, len, &count, &err) == 0) {
            if (count < 0 || count > MC_SPEC_MAX_COUNT) __builtin_trap();
        } else if (!err.msg[0] || err.kind != MC_ERR_INVALID) {
            __builtin_trap();
        }
        int min, max;
        mc_err e2 = {0};
        int b = mc_api_parse_scale_bounds(buf, len, &min, &max, &e2);
        if (b == 1 && (min < -1 || min > MC_SPEC_MAX_COUNT || max < -1 || max > MC_SPEC_MAX_COUNT || max == 0 ||
                       (min < 0 && max < 0)))
            __builtin_trap();
        if (b < 0 && (!e2.msg[0] || e2.kind != MC_ERR_INVALID)) __builtin_trap();
        break;
    }
    case 2: {
        bool drain;
        if (mc_api_parse_drain(buf, len, &drain, &err) != 0 && (!err.msg[0] || err.kind != MC_ERR_INVALID))
            __builtin_trap();
        break;
    }
    default: {
        char *s = malloc(len + 1);
        if (!s) return 0;
        memcpy(s, buf, len);
        s[len] = '\0';
        if (mc_api_name_valid(s) && (strlen(s) == 0 || strlen(s) > MC_NODE_NAME_MAX || strchr(s, '/') ||
                                     strchr(s, '.')))
            __builtin_trap();
        free(s);
    }
    }
    return 0;
}
