/* main.c — mcloud-agent, the node agent: one per node, it runs the
 * containers the orchestrator orders on this node's engine (Docker Engine
 * API over a unix socket), health-checks and restarts them, and heartbeats
 * the node into the Redis registry. Containers keep running when the agent
 * stops; a restarted agent adopts them. Reads the agent.* settings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/daemon.h"
#include "common/log.h"
#include "orchestrator/agent/agent.h"

static int agent_ready(void *ctx, mc_err *err) {
    mc_agent *a = ctx;
    if (!a->loop) return mc_err_set(err, MC_ERR_UNAVAILABLE, "not supervising yet");
    return 0;
}

static int read_settings(mc_agent *a, mc_err *err) {
    mc_config *cfg = a->svc.config;
    long port;
    if (mc_config_copy(cfg, "agent.node", a->node, sizeof a->node, err) < 0 ||
        mc_config_copy(cfg, "agent.engine_socket", a->engine_socket, sizeof a->engine_socket, err) < 0 ||
        mc_config_copy(cfg, "agent.state_dir", a->state_dir, sizeof a->state_dir, err) < 0 ||
        mc_config_copy(cfg, "agent.url", a->url, sizeof a->url, err) < 0 ||
        mc_config_copy(cfg, "agent.key_prefix", a->key_prefix, sizeof a->key_prefix, err) < 0 ||
        mc_config_int(cfg, "agent.port", 1, 65535, &port, err) < 0)
        return -1;
    a->port = (int)port;
    if (!a->node[0] || strspn(a->node, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(a->node))
        return mc_err_set(err, MC_ERR_INVALID, "agent.node: lowercase letters, digits and '-' only");
    if (!a->state_dir[0]) {
        const char *home = getenv("MCLOUD_HOME");
        snprintf(a->state_dir, sizeof a->state_dir, "%s/agent-%s", home && home[0] ? home : "/tmp", a->node);
    }
    if (!a->url[0]) snprintf(a->url, sizeof a->url, "http://127.0.0.1:%d", a->port);
    return 0;
}

static int run(mc_agent *a, mc_err *err) {
    mc_service_options opt = {.name = "agent", .port_setting = "agent.port", .ready = agent_ready,
                              .ready_ctx = a, .stop_grace_ms = 1000,
                              .start_wait_ms = MC_SERVICE_START_WAIT_MS};
    if (mc_service_init(&a->svc, &opt, err) < 0 || read_settings(a, err) < 0 ||
        mc_agent_api_routes(a, err) < 0 || mc_agent_supervise_start(a, err) < 0)
        return -1;
    mc_log_kv(MC_LOG_INFO, "agent supervising", "node", a->node, "engine", a->engine_socket,
              "state_dir", a->state_dir, NULL);
    return mc_service_serve(&a->svc, err);
}

int main(void) {
    mc_daemon_block_signals();
    static mc_agent a;
    pthread_mutex_init(&a.lock, NULL);
    mc_err err = {0};
    int rc = run(&a, &err);
    if (rc < 0) mc_log_kv(MC_LOG_ERROR, "mcloud-agent failed", "error", err.msg, NULL);
    mc_agent_supervise_stop(&a);
    if (a.svc.http) mc_http_stop(a.svc.http, 0);
    mc_service_free(&a.svc);
    return rc < 0 ? 1 : 0;
}
