/* main.c — mcloud-transcode: a transcoding worker on the shared service life
 * cycle (common/service.h). Reads the transcode.* settings, joins the
 * consumer group on the jobs topic, serves /healthz, /readyz and /metrics
 * until SIGTERM, then lets the current job finish within transcode.grace_ms
 * (or hands it back uncommitted) and leaves the group. */
#include "common/daemon.h"
#include "common/log.h"
#include "transcode/worker.h"

static int consumer_ready(void *ctx, mc_err *err) {
    mc_transcode_worker *w = ctx;
    if (!atomic_load(&w->ready)) return mc_err_set(err, MC_ERR_UNAVAILABLE, "not consuming yet");
    if (atomic_load(&w->stopping)) return mc_err_set(err, MC_ERR_UNAVAILABLE, "stopping");
    return 0;
}

static int run(mc_transcode_worker *w, mc_err *err) {
    mc_service_options opt = {.name = "transcode", .port_setting = "transcode.port",
                              .use_db = true, .ready = consumer_ready, .ready_ctx = w,
                              .stop_grace_ms = 1000};
    if (mc_service_init(&w->svc, &opt, err) < 0) return -1;
    if (mc_transcode_worker_read_settings(w, err) < 0 || mc_transcode_worker_start(w, err) < 0)
        return -1;
    return mc_service_serve(&w->svc, err);
}

int main(void) {
    mc_daemon_block_signals();
    static mc_transcode_worker w;
    mc_err err = {0};
    int rc = run(&w, &err);
    if (rc < 0) mc_log_kv(MC_LOG_ERROR, "mcloud-transcode failed", "error", err.msg, NULL);
    mc_transcode_worker_stop(&w);
    mc_transcode_worker_free(&w);
    if (w.svc.http) mc_http_stop(w.svc.http, 0);
    mc_service_free(&w.svc);
    return rc < 0 ? 1 : 0;
}
