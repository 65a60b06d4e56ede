/* service.c — shared daemon life cycle (see service.h). Each step fails with
 * a message naming what could not be reached, so a daemon that cannot start
 * says why in one log line. */
#include "common/service.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/backoff.h"
#include "common/clock.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/migrate.h"

static void on_setting_changed(const char *name, void *ctx) {
    mc_service *svc = ctx;
    mc_err err = {0};
    if (svc->db && mc_db_apply_setting(svc->db, svc->config, name, &err) < 0)
        mc_log_kv(MC_LOG_ERROR, "could not follow a changed setting", "setting", name, "error",
                  err.msg, NULL);
    if (strcmp(name, "log.level") == 0) {
        mc_log_level level;
        if (mc_log_level_parse(mc_config_get(svc->config, name), &level) == 0)
            mc_log_set_level(level);
    }
    if (svc->opt.on_setting) svc->opt.on_setting(name, svc->opt.setting_ctx);
}

static int service_ready(void *ctx, mc_err *err) {
    mc_service *svc = ctx;
    redisReply *pong = mc_redis_command(svc->redis, err, "PING");
    if (!pong) return mc_err_wrap(err, "redis");
    freeReplyObject(pong);
    if (svc->db && mc_db_ping(svc->db, MC_DB_MASTER, err) < 0) return mc_err_wrap(err, "mysql master");
    if (svc->opt.ready) return svc->opt.ready(svc->opt.ready_ctx, err);
    return 0;
}

/* Redis not answering at start (its Sentinels restarting, a stack still coming
 * up) is retried with backoff for opt.start_wait_ms, so a blip does not kill
 * the daemon; each different error is logged once (not every attempt), and
 * the start fails naming the address, the wait and the last error. Only
 * "unreachable" is retried: a bad address or password fails at once. */
static mc_redis *connect_redis(mc_service *svc, mc_err *err) {
    int64_t t0 = mc_monotonic_ms();
    mc_backoff b;
    mc_backoff_init(&b, 200, 5000);
    char logged[sizeof err->msg] = "";
    for (unsigned attempt = 1;; attempt++) {
        mc_redis *r = mc_redis_connect(&svc->redis_opts, err);
        if (r) {
            if (attempt > 1)
                mc_log(MC_LOG_INFO, "redis %s answered after %u attempts (%.1f s)", svc->redis_addr,
                       attempt, (double)(mc_monotonic_ms() - t0) / 1000.0);
            return r;
        }
        int64_t waited = mc_monotonic_ms() - t0;
        if (err->kind != MC_ERR_UNAVAILABLE || !svc->opt.start_wait_ms) {
            mc_err_wrap(err, "redis %s", svc->redis_addr);
            return NULL;
        }
        if (waited >= (int64_t)svc->opt.start_wait_ms) {
            mc_err_wrap(err, "redis %s: not answering at start after %u attempts in %.1f s; the last error",
                        svc->redis_addr, attempt, (double)waited / 1000.0);
            return NULL;
        }
        if (strcmp(logged, err->msg) != 0) {
            snprintf(logged, sizeof logged, "%s", err->msg);
            char wait[32];
            snprintf(wait, sizeof wait, "%u", svc->opt.start_wait_ms);
            mc_log_kv(MC_LOG_WARN, "redis not answering at start, retrying", "redis", svc->redis_addr,
                      "error", err->msg, "start_wait_ms", wait, NULL);
        }
        unsigned d = mc_backoff_next_ms(&b);
        int64_t left = (int64_t)svc->opt.start_wait_ms - waited;
        if ((int64_t)d > left) d = (unsigned)(left > 0 ? left : 0);
        usleep((useconds_t)d * 1000);
    }
}

static int load_settings(mc_service *svc, mc_err *err) {
    /* How to reach Redis is local-only: read it before asking Redis. */
    mc_config *local = mc_config_load(NULL, NULL);
    if (!local) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    int rc = mc_config_copy(local, "redis", svc->redis_addr, sizeof svc->redis_addr, err);
    if (rc == 0)
        rc = mc_config_copy(local, "redis.password", svc->redis_password,
                            sizeof svc->redis_password, err);
    mc_config_free(local);
    if (rc < 0) return -1;
    svc->redis_opts = (mc_redis_options){.addr = svc->redis_addr, .password = svc->redis_password,
                                         .client_name = svc->opt.name};
    svc->redis = connect_redis(svc, err);
    if (!svc->redis) return -1;
    svc->config = mc_config_load(mc_config_redis_lookup, svc->redis);
    if (!svc->config) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    mc_log_level level;
    if (mc_log_level_parse(mc_config_get(svc->config, "log.level"), &level) == 0)
        mc_log_set_level(level);
    return 0;
}

static int open_db(mc_service *svc, mc_err *err) {
    mc_db_config cfg;
    if (mc_db_config_from(svc->config, &cfg, err) < 0) return -1;
    svc->db = mc_db_open(&cfg, err);
    if (!svc->db) return -1;
    int applied = mc_db_migrate(svc->db, err);
    if (applied < 0) return mc_err_wrap(err, "schema migrations");
    if (applied > 0) mc_log(MC_LOG_INFO, "applied %d schema migration(s)", applied);
    return 0;
}

static int new_http(mc_service *svc, mc_err *err) {
    long port;
    if (mc_config_int(svc->config, svc->opt.port_setting, 0, 65535, &port, err) < 0) return -1;
    mc_http_options o = {.service = svc->opt.name, .bind = mc_config_get(svc->config, "http.bind"),
                         .port = (int)port, .threads = svc->opt.http_threads,
                         .connection_memory = svc->opt.http_connection_memory,
                         .ready = service_ready, .ready_ctx = svc,
                         .response_headers = svc->opt.response_headers};
    svc->http = mc_http_new(&o);
    return svc->http ? 0 : mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
}

int mc_service_init(mc_service *svc, const mc_service_options *opt, mc_err *err) {
    memset(svc, 0, sizeof *svc);
    svc->opt = *opt;
    mc_log_init(opt->name, MC_LOG_INFO);
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(svc->instance, sizeof svc->instance, "%s-%d", host, (int)getpid());
    if (load_settings(svc, err) < 0) return -1;
    svc->watch = mc_config_watch_start(svc->config, &svc->redis_opts, on_setting_changed, svc, err);
    if (!svc->watch) return mc_err_wrap(err, "config watch");
    if (opt->use_db && open_db(svc, err) < 0) return mc_err_wrap(err, "mysql");
    return new_http(svc, err);
}

int mc_service_serve(mc_service *svc, mc_err *err) {
    if (mc_http_start(svc->http, err) < 0) return -1;
    char address[128];
    snprintf(address, sizeof address, "http://%s:%d", mc_config_get(svc->config, "http.bind"),
             mc_http_port(svc->http));
    long ttl;
    bool publish;
    if (mc_config_int(svc->config, "registry.ttl_ms", 300, 3600000, &ttl, err) < 0 ||
        mc_config_bool(svc->config, "registry.publish", &publish, err) < 0)
        return -1;
    if (publish) {
        svc->registration = mc_registry_register(svc->redis, svc->opt.name, svc->instance, address,
                                                 (int)ttl, err);
        if (!svc->registration || mc_registry_start_heartbeat(svc->registration, err) < 0)
            return mc_err_wrap(err, "service registry");
    }
    mc_log_kv(MC_LOG_INFO, publish ? "ready" : "ready, not in the service registry (registry.publish=false)",
              "instance", svc->instance, "address", address, NULL);
    int sig = mc_daemon_wait_for_stop();
    mc_log(MC_LOG_INFO, "signal %d: stopping gracefully", sig);
    mc_err ignored = {0};
    mc_registry_deregister(svc->registration, &ignored);
    svc->registration = NULL;
    mc_http_stop(svc->http, svc->opt.stop_grace_ms ? svc->opt.stop_grace_ms : 10000);
    return 0;
}

void mc_service_free(mc_service *svc) {
    if (svc->registration) {
        mc_err ignored = {0};
        mc_registry_deregister(svc->registration, &ignored);
    }
    mc_http_free(svc->http);
    mc_config_watch_stop(svc->watch);
    if (svc->db) mc_db_close(svc->db);
    if (svc->redis) mc_redis_close(svc->redis);
    mc_config_free(svc->config);
    memset(svc, 0, sizeof *svc);
}
