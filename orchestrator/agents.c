/* agents.c — the orchestrator's HTTP calls to node agents (libcurl): one
 * request per order, carrying the fencing token in X-Mcloud-Fence so an
 * agent refuses orders of an orchestrator that lost the lock (409
 * stale_fence). Bounded by orchestrator.order_timeout_ms; answers are
 * capped at 1 MiB (logs). A round's orders go out in parallel
 * (mc_orch_agent_calls): one slow agent, or one order waiting for an
 * agent's lock, does not hold up the others. */
#include <inttypes.h>
#include <pthread.h>
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

typedef struct call_thread {
    mc_orch *o;
    mc_agent_call *c;
} call_thread;

static void *call_main(void *arg) {
    call_thread *t = arg;
    mc_agent_call *c = t->c;
    c->rc = mc_orch_agent_call(t->o, c->method, c->base_url, c->path, c->fence, c->body, &c->status, &c->answer,
                               &c->err);
    return NULL;
}

void mc_orch_agent_calls(mc_orch *o, mc_agent_call *calls, int n) {
    for (int first = 0; first < n; first += MC_ORCH_CALLS_PARALLEL) {
        int wave = n - first < MC_ORCH_CALLS_PARALLEL ? n - first : MC_ORCH_CALLS_PARALLEL;
        pthread_t threads[MC_ORCH_CALLS_PARALLEL];
        call_thread ctx[MC_ORCH_CALLS_PARALLEL];
        bool started[MC_ORCH_CALLS_PARALLEL];
        for (int k = 0; k < wave; k++) {
            ctx[k] = (call_thread){o, &calls[first + k]};
            started[k] = pthread_create(&threads[k], NULL, call_main, &ctx[k]) == 0;
            if (!started[k]) call_main(&ctx[k]); /* no thread to spare: in this one */
        }
        for (int k = 0; k < wave; k++)
            if (started[k]) pthread_join(threads[k], NULL);
    }
}
