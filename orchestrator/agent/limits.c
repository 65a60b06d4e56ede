/* limits.c — the agent's live limits, pure part (see limits.h). */
#include "orchestrator/agent/limits.h"

#include <math.h>
#include <string.h>

#include "common/json.h"
#include "orchestrator/resources.h"

int mc_agent_limits_parse(const char *body, size_t len, mc_agent_limits *out, mc_err *err) {
    json_t *b = mc_json_parse_object(body, len, err);
    if (!b) return -1;
    json_t *cpus = json_object_get(b, "cpus");
    int rc = 0;
    const char *k;
    json_t *v;
    json_object_foreach(b, k, v) {
        if (strcmp(k, "cpus") != 0 && strcmp(k, "memory_bytes") != 0 && strcmp(k, "pids") != 0) {
            rc = mc_err_set(err, MC_ERR_INVALID, "field '%.40s' is unknown (cpus, memory_bytes, pids)", k);
            break;
        }
    }
    if (rc == 0 && (!json_is_number(cpus) || !isfinite(json_number_value(cpus)) || json_number_value(cpus) < MC_RES_CPUS_MIN ||
                    json_number_value(cpus) > MC_RES_CPUS_MAX))
        rc = mc_err_set(err, MC_ERR_INVALID, "field 'cpus' must be a number from 0.01 to 1024");
    if (rc == 0) {
        out->cpus = json_number_value(cpus);
        if (mc_json_get_int(b, "memory_bytes", true, 0, MC_RES_MEMORY_MIN, MC_RES_MEMORY_MAX, &out->memory_bytes, err) < 0 ||
            mc_json_get_int(b, "pids", true, 0, MC_RES_PIDS_MIN, MC_RES_PIDS_MAX, &out->pids, err) < 0)
            rc = -1;
    }
    json_decref(b);
    return rc;
}

char *mc_agent_limits_rewrite(const char *order_json, const mc_agent_limits *l) {
    json_t *o = order_json ? json_loads(order_json, 0, NULL) : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    json_object_set_new(o, "resources", json_pack("{s:f,s:I,s:I}", "cpus", l->cpus, "memory_bytes",
                                                  (json_int_t)l->memory_bytes, "pids", (json_int_t)l->pids));
    char *text = mc_json_dump(o);
    json_decref(o);
    return text;
}

void mc_agent_limits_set(mc_agent_order *o, const mc_agent_limits *l) {
    o->cpus = l->cpus;
    o->memory_bytes = l->memory_bytes;
    o->pids = l->pids;
}
