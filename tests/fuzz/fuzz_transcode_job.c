/* Fuzz target: transcode job messages (the worker's only network input)
 * through mc_transcode_job_parse, and the dead letter built from them. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "transcode/job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mc_transcode_job job;
    mc_err err = {0};
    int rc = mc_transcode_job_parse(data, size, &job, &err);
    char *dlq = mc_transcode_dlq_json(data, size, rc < 0 ? err.msg : "fuzz", "invalid", 1, "fuzz");
    if (!dlq) abort();
    free(dlq);
    if (rc == 0) {
        char prefix[2048];
        if (mc_transcode_attempt_prefix(&job, 1, prefix, sizeof prefix) < 0) abort();
        mc_transcode_event e = {.type = "done", .job = &job, .attempt = 1, .prefix = prefix};
        char *text = mc_transcode_event_json(&e);
        if (!text) abort();
        free(text);
    }
    return 0;
}
