/* Fuzz target: the result of the probe helper (upload/probe.h), which comes
 * from a process that parsed untrusted media, through mc_upload_probe_parse. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "upload/probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mc_upload_probe p;
    mc_err err = {0};
    if (mc_upload_probe_parse((const char *)data, size, &p, &err) == 0) {
        if (p.media && !p.json) abort();
        if (!p.media && !p.failure_reason[0]) abort();
        mc_upload_probe_free(&p);
    } else if (p.json) {
        abort();
    }
    return 0;
}
