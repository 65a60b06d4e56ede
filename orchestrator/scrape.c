/* scrape.c — the platform's metrics for Prometheus without manual
 * configuration: each round the orchestrator (active or standby: both
 * see the same cluster) writes the file_sd target list of every running
 * instance's /metrics (targets.c) to orchestrator.prometheus_sd_file, when
 * its content changed, atomically (Prometheus re-reads a file_sd file when
 * it changes and must never see half of one). Empty setting: nothing. */
#include <stdlib.h>
#include <string.h>

#include "common/fdio.h"
#include "common/log.h"
#include "orchestrator/orchestrator.h"
#include "orchestrator/targets.h"

void mc_orch_targets_write(mc_orch *o, const mc_orch_view *v) {
    if (!o->sd_file[0]) return;
    char *text = mc_targets_file_sd(v->nodes, v->nnodes, v->reports, v->nreports);
    if (!text) return;
    if (o->sd_text && strcmp(o->sd_text, text) == 0) {
        free(text);
        return;
    }
    mc_err err = {0};
    if (mc_write_file_atomic(o->sd_file, text, strlen(text), &err) < 0) {
        mc_log_kv(MC_LOG_WARN, "writing the Prometheus target list", "file", o->sd_file, "error", err.msg, NULL);
        free(text);
        return;
    }
    free(o->sd_text);
    o->sd_text = text;
}
