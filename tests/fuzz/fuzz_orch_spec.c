/* Fuzz target: the orchestrator's spec parser and validator
 * (orchestrator/spec.h), the scaling policy included. Any input is either refused with at least one
 * message, or accepted; an accepted spec's canonical form parses back to
 * the same spec (no diff) and formats identically. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "orchestrator/spec.h"

static const char *const known[] = {"localhost/mcloud-upload", "localhost/mcloud-stream",
                                    "localhost/mcloud-transcode", NULL};

/* Some topics have a known partition count (scaling.max is checked against
 * it), others none. */
static int partitions(void *ctx, const char *topic) {
    (void)ctx;
    int n = (int)(strlen(topic) % 8);
    return n ? n : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static mc_spec a, b;
    static mc_spec_errors errs;
    const mc_spec_check check = {.known_images = size && data[0] & 1 ? known : NULL,
                                 .topic_partitions = size && data[0] & 2 ? partitions : NULL};
    if (mc_spec_parse((const char *)data, size, &check, &a, &errs) != 0) {
        if (errs.count < 1 || !errs.msg[0][0]) __builtin_trap();
        return 0;
    }
    char *canon = mc_spec_format(&a);
    if (!canon) __builtin_trap();
    if (mc_spec_parse(canon, strlen(canon), &check, &b, &errs) != 0) __builtin_trap();
    char *diff = mc_spec_diff(&a, &b);
    char *again = mc_spec_format(&b);
    if (!diff || diff[0] || !again || strcmp(canon, again) != 0) __builtin_trap();
    free(diff);
    free(again);
    free(canon);
    return 0;
}
