/* main.c — mcloud-orchestrator: the control plane (see orchestrator.h).
 * Reads the orchestrator.* settings, serves the operator API on the shared
 * service life cycle (common/service.h, MySQL for the spec versions), runs
 * the reconcile loop until SIGTERM, then releases the lock so a standby
 * takes over at once. Running containers are never touched by a stop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/daemon.h"
#include "common/log.h"
#include "orchestrator/orchestrator.h"

static int read_settings(mc_orch *o, mc_err *err) {
    mc_config *cfg = o->svc.config;
    if (mc_config_int(cfg, "orchestrator.interval_ms", 100, 60000, &o->interval_ms, err) < 0 ||
        mc_config_int(cfg, "orchestrator.lock_ttl_ms", 1000, 600000, &o->lock_ttl_ms, err) < 0 ||
        mc_config_int(cfg, "orchestrator.order_timeout_ms", 100, 600000, &o->order_timeout_ms, err) < 0 ||
        mc_config_int(cfg, "orchestrator.node_grace_ms", 0, 600000, &o->node_grace_ms, err) < 0 ||
        mc_config_copy(cfg, "orchestrator.lock_name", o->lock_name, sizeof o->lock_name, err) < 0 ||
        mc_config_copy(cfg, "orchestrator.key_prefix", o->key_prefix, sizeof o->key_prefix, err) < 0 ||
        mc_config_copy(cfg, "orchestrator.images", o->images_buf, sizeof o->images_buf, err) < 0 ||
        mc_config_copy(cfg, "orchestrator.prometheus_sd_file", o->sd_file, sizeof o->sd_file, err) < 0 ||
        mc_config_copy(cfg, "token.key_id", o->token_key_id, sizeof o->token_key_id, err) < 0 ||
        mc_config_copy(cfg, "token.secret", o->token_secret, sizeof o->token_secret, err) < 0)
        return -1;
    snprintf(o->drain_key, sizeof o->drain_key, "%s:orch:draining", o->key_prefix);
    snprintf(o->promoted_key, sizeof o->promoted_key, "%s:orch:promoted:", o->key_prefix);
    snprintf(o->node_pattern, sizeof o->node_pattern, "%s:node:*", o->key_prefix);
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(o->images_buf, ",", &save); tok && n < 31;
         tok = strtok_r(NULL, ",", &save))
        o->images[n++] = tok;
    o->images[n] = NULL;
    o->check.known_images = n ? o->images : NULL;
    o->token_key = (mc_token_key){o->token_key_id, (const unsigned char *)o->token_secret, strlen(o->token_secret)};
    return mc_token_key_check(&o->token_key, "token", err);
}

static int run(mc_orch *o, mc_err *err) {
    mc_service_options opt = {.name = "orchestrator", .port_setting = "orchestrator.port", .use_db = true,
                              .start_wait_ms = MC_SERVICE_START_WAIT_MS};
    if (mc_service_init(&o->svc, &opt, err) < 0) return -1;
    if (read_settings(o, err) < 0 || mc_orch_api_routes(o, err) < 0 || mc_orch_loop_start(o, err) < 0 ||
        mc_orch_scaler_start(o, err) < 0)
        return -1;
    return mc_service_serve(&o->svc, err);
}

int main(void) {
    mc_daemon_block_signals();
    static mc_orch o;
    pthread_mutex_init(&o.mu, NULL);
    mc_err err = {0};
    int rc = run(&o, &err);
    if (rc < 0) mc_log_kv(MC_LOG_ERROR, "mcloud-orchestrator failed", "error", err.msg, NULL);
    mc_orch_scaler_stop(&o);
    mc_orch_loop_stop(&o);
    mc_service_free(&o.svc);
    free(o.view);
    free(o.spec);
    mc_orch_history_free(o.history, o.nhistory);
    free(o.sd_text);
    free(o.ports_text);
    return rc < 0 ? 1 : 0;
}
