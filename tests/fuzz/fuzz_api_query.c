/* Fuzz target: query strings and list filters (api/core.h). Any input is
 * split and read as GET /v1/videos's and GET /v1/usage's parameters; a refusal must be
 * MC_ERR_INVALID with a message, an acceptance must hold values within
 * their documented ranges. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "api/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mc_api_query q;
    mc_err err = {0};
    if (mc_api_query_parse((const char *)data, size, &q, &err) < 0) {
        if (err.kind != MC_ERR_INVALID || !err.msg[0]) __builtin_trap();
        return 0;
    }
    if (q.count > MC_API_QUERY_MAX_PARAMS) __builtin_trap();
    for (size_t i = 0; i < q.count; i++)
        if (!q.params[i].name[0] || strlen(q.params[i].name) > size) __builtin_trap();
    mc_api_list_params p;
    mc_err e2 = {0};
    if (mc_api_list_params_parse(&q, &p, &e2) == 0) {
        if (p.limit < 1 || p.limit > MC_API_LIST_MAX_LIMIT) __builtin_trap();
        if (p.cursor && strlen(p.cursor) >= MC_API_CURSOR_MAX) __builtin_trap();
    } else if (e2.kind != MC_ERR_INVALID || !e2.msg[0]) {
        __builtin_trap();
    }
    long long ttl;
    mc_api_query_int(&q, "ttl", 60, 86400, 600, &ttl, &e2);
    mc_api_usage_params u;
    mc_err e3 = {0};
    if (mc_api_usage_params_parse(&q, 1764979200LL * 1000000 + 12345, &u, &e3) == 0) {
        if (u.days < 1 || u.days > MC_API_USAGE_MAX_DAYS || u.to_us - u.from_us != u.days * 86400LL * 1000000)
            __builtin_trap();
    } else if (e3.kind != MC_ERR_INVALID || !e3.msg[0]) {
        __builtin_trap();
    }
    mc_api_query_free(&q);
    return 0;
}
