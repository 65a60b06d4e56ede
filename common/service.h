/* service.h — the start-up and shutdown every mcloud daemon shares.
 *
 * mc_service_init: settings (environment > Redis config service > default),
 * log level, a Redis handle, the config watch (published changes applied
 * while running; MySQL follows a new master), MySQL with migrations applied
 * when the daemon uses it, and the HTTP server with /healthz, /readyz and
 * /metrics (routes are added by the daemon before serving).
 * mc_service_serve: listens, registers the instance in the service registry
 * (mcloud:svc:<name>:<instance>, TTL heartbeat), waits for SIGTERM/SIGINT,
 * then deregisters and stops the HTTP server gracefully.
 * Call mc_daemon_block_signals() first thing in main(). */
#ifndef MCLOUD_SERVICE_H
#define MCLOUD_SERVICE_H

#include <stdbool.h>

#include "common/config.h"
#include "common/config_watch.h"
#include "common/error.h"
#include "common/http.h"
#include "common/mysql.h"
#include "common/redis.h"
#include "common/registry.h"

/* How long the platform daemons (agent, orchestrator) wait at start for a
 * Redis that does not answer yet: a blip, not a reason to exit. */
#define MC_SERVICE_START_WAIT_MS 60000

typedef void (*mc_service_setting_cb)(const char *name, void *ctx);

typedef struct mc_service_options {
    const char *name;             /* "upload": logs, metrics, registry */
    const char *port_setting;     /* the setting holding the HTTP port, e.g. "upload.port" */
    int http_threads;             /* 0: a thread per connection */
    size_t http_connection_memory; /* 0: libmicrohttpd's default (mc_http_options) */
    bool use_db;                  /* open MySQL and apply migrations */
    mc_http_ready_check ready;    /* the daemon's own readiness, besides Redis/MySQL */
    void *ready_ctx;
    mc_service_setting_cb on_setting; /* a published setting changed (after MySQL followed it) */
    void *setting_ctx;
    unsigned int stop_grace_ms;   /* requests in flight get this long at stop; 0: 10 s */
    const char *const *response_headers; /* on every answer (mc_http_options) */
    unsigned int start_wait_ms;   /* Redis (or its Sentinels) not answering at start is retried
                                   * with backoff for this long, then the start fails; 0: fails at once */
} mc_service_options;

typedef struct mc_service {
    mc_service_options opt;
    char instance[96];            /* <hostname>-<pid> */
    mc_config *config;
    char redis_addr[256], redis_password[256];
    mc_redis_options redis_opts;        /* points into redis_addr/redis_password */
    mc_redis *redis;
    mc_config_watch *watch;
    mc_db *db;                    /* NULL unless use_db */
    mc_http_server *http;
    mc_registration *registration;
} mc_service;

int mc_service_init(mc_service *svc, const mc_service_options *opt, mc_err *err);
/* Blocks until SIGTERM/SIGINT, then stops gracefully. */
int mc_service_serve(mc_service *svc, mc_err *err);
void mc_service_free(mc_service *svc);

#endif
