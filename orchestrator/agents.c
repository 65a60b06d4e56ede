/* agents.c — the orchestrator's HTTP calls to node agents (libcurl): one
 * request per order, carrying the fencing token in X-Mcloud-Fence so an
 * agent refuses orders of an orchestrator that lost the lock (409
 * stale_fence). Bounded by orchestrator.order_timeout_ms; answers are
 * capped at 1 MiB (logs). */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/curl_body.h"
#include "orchestrator/orchestrator.h"

#define ANSWER_MAX (1024 * 1024)

int mc_orch_agent_call(mc_orch *o, const char *method, const char *base_url, const char *path, int64_t fence,
                       const char *body, long *status, char **out, mc_err *err) {
    *status = 0;
    if (out) *out = NULL;
    CURL *c = curl_easy_init();
    if (!c) return mc_err_set(err, MC_ERR_INTERNAL, "curl_easy_init failed");
    char url[512], fence_h[64];
    snprintf(url, sizeof url, "%s%s", base_url, path);
    snprintf(fence_h, sizeof fence_h, "X-Mcloud-Fence: %" PRId64, fence);
    struct curl_slist *h = curl_slist_append(NULL, fence_h);
    h = curl_slist_append(h, "Content-Type: application/json");
    mc_curl_body a = {.max = ANSWER_MAX};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->order_timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, mc_curl_body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(c);
    int ret = 0;
    if (rc != CURLE_OK) {
        ret = mc_err_set(err, MC_ERR_UNAVAILABLE, "%s %s: %s", method, url, curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (out && ret == 0) *out = a.p ? a.p : calloc(1, 1);
    else free(a.p);
    return ret;
}
