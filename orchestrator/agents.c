/* agents.c — the orchestrator's HTTP calls to node agents (libcurl): one
 * request per order, carrying the fencing token in X-Mcloud-Fence so an
 * agent refuses orders of an orchestrator that lost the lock (409
 * stale_fence). Bounded by orchestrator.order_timeout_ms; answers are
 * capped at 1 MiB (logs). */
#include <inttypes.h>
#include <stdio.h>

#include "common/curl_body.h"
#include "orchestrator/orchestrator.h"

#define ANSWER_MAX (1024 * 1024)

int mc_orch_agent_call(mc_orch *o, const char *method, const char *base_url, const char *path, int64_t fence,
                       const char *body, long *status, char **out, mc_err *err) {
    char url[512], fence_h[64];
    snprintf(url, sizeof url, "%s%s", base_url, path);
    snprintf(fence_h, sizeof fence_h, "X-Mcloud-Fence: %" PRId64, fence);
    const char *headers[] = {fence_h, "Content-Type: application/json", NULL};
    mc_curl_request r = {.method = method, .url = url, .headers = headers, .body = body,
                         .timeout_ms = o->order_timeout_ms, .max = ANSWER_MAX};
    return mc_curl_perform(&r, status, out, err);
}
