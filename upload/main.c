/* main.c — mcloud-upload: the tus 1.0.0 endpoint (/files/) writing S3
 * multipart uploads, on the shared service life cycle (common/service.h).
 * Reads the upload.* settings, opens the S3 handle pool and the Kafka
 * producer, starts the outbox publisher and the sweeper, serves until
 * SIGTERM, then stops the background threads after the last request.
 *
 * Memory: every concurrent upload holds an S3 handle streaming its part, so
 * the handles' libcurl buffers are 64 KiB instead of the client's 256 KiB
 * default (32 uploads at once: 37 -> 20 MiB of private memory at the peak,
 * no measurable change in throughput; docs/BENCHMARKS.md), and blocks of
 * 128 KiB or more are mmap'd and returned at free: glibc's moving threshold
 * otherwise serves them from whichever of its per-thread arenas a request
 * thread used, where freed probe and transfer buffers stay resident. */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "common/daemon.h"
#include "common/log.h"
#include "upload/tus.h"

#define S3_TRANSFER_BUFFER (64 * 1024)
#define HTTP_CONNECTION_MEMORY (64 * 1024)
#define MMAP_THRESHOLD (128 * 1024)

static int read_settings(mc_upload_server *srv, mc_err *err) {
    mc_config *cfg = srv->svc.config;
    mc_upload_settings *s = &srv->set;
    long part_mb, max_size, expiry, lock_ttl, sweep, probe_mb, probe_cpu, probe_timeout, orphan, delay;
    if (mc_config_copy(cfg, "upload.public_url", s->public_url, sizeof s->public_url, err) < 0 ||
        mc_config_int(cfg, "upload.part_size_mb", 5, 5120, &part_mb, err) < 0 ||
        mc_config_int(cfg, "upload.max_size", 1, 5L * 1024 * 1024 * 1024 * 1024, &max_size, err) < 0 ||
        mc_config_int(cfg, "upload.expiry_s", 1, 365L * 86400, &expiry, err) < 0 ||
        mc_config_int(cfg, "upload.lock_ttl_ms", 1000, 600000, &lock_ttl, err) < 0 ||
        mc_config_int(cfg, "upload.sweep_interval_s", 1, 3600, &sweep, err) < 0 ||
        mc_config_int(cfg, "upload.probe_memory_mb", 64, 65536, &probe_mb, err) < 0 ||
        mc_config_int(cfg, "upload.probe_cpu_s", 1, 3600, &probe_cpu, err) < 0 ||
        mc_config_int(cfg, "upload.probe_timeout_s", 1, 3600, &probe_timeout, err) < 0 ||
        mc_config_int(cfg, "upload.orphan_age_s", 1, 30L * 86400, &orphan, err) < 0 ||
        mc_config_int(cfg, "upload.outbox_commit_delay_ms", 0, 60000, &delay, err) < 0 ||
        mc_config_copy(cfg, "token.key_id", s->token_key_id, sizeof s->token_key_id, err) < 0 ||
        mc_config_copy(cfg, "token.secret", s->token_secret, sizeof s->token_secret, err) < 0)
        return -1;
    size_t n = strlen(s->public_url);
    while (n > 0 && s->public_url[n - 1] == '/') s->public_url[--n] = '\0';
    s->min_part_size = (uint64_t)part_mb * 1024 * 1024;
    s->max_size = max_size;
    s->expiry_s = expiry;
    s->lock_ttl_ms = (int)lock_ttl;
    s->sweep_interval_s = (int)sweep;
    s->probe_memory_mb = (int)probe_mb;
    s->probe_cpu_s = (int)probe_cpu;
    s->probe_timeout_s = (int)probe_timeout;
    s->orphan_age_s = orphan;
    s->outbox_commit_delay_ms = (int)delay;
    snprintf(srv->jobs_topic, sizeof srv->jobs_topic, "%s", MC_UPLOAD_JOBS_TOPIC);
    return 0;
}

static int open_clients(mc_upload_server *srv, mc_err *err) {
    if (mc_s3_config_from(srv->svc.config, &srv->s3cfg, err) < 0) return -1;
    srv->s3cfg.transfer_buffer = S3_TRANSFER_BUFFER;
    srv->s3 = mc_s3_pool_new(&srv->s3cfg);
    if (!srv->s3) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    srv->kafka_config = (mc_kafka_config){.bootstrap_servers = mc_config_get(srv->svc.config, "kafka"),
                                          .client_id = "mcloud-upload"};
    return 0;
}

static int run(mc_upload_server *srv, mc_err *err) {
    mc_service_options opt = {.name = "upload", .port_setting = "upload.port", .use_db = true,
                              .http_connection_memory = HTTP_CONNECTION_MEMORY};
    if (mc_service_init(&srv->svc, &opt, err) < 0) return -1;
    if (read_settings(srv, err) < 0 || mc_upload_probe_init(srv, err) < 0 ||
        open_clients(srv, err) < 0 || mc_tus_routes(srv, err) < 0)
        return -1;
    mc_outbox_options oo = {.db = srv->svc.db,
                            .kafka = srv->kafka_config,
                            .interval_ms = srv->set.sweep_interval_s * 1000L,
                            .commit_delay_ms = srv->set.outbox_commit_delay_ms};
    srv->outbox = mc_outbox_publisher_start(&oo, err);
    if (!srv->outbox) return -1;
    srv->sweeper = mc_upload_sweeper_start(srv, err);
    if (!srv->sweeper) return -1;
    return mc_service_serve(&srv->svc, err);
}

static void shutdown_server(mc_upload_server *srv) {
    mc_periodic_stop(srv->sweeper);
    mc_outbox_publisher_stop(srv->outbox);
    mc_http_stop(srv->svc.http, 0);
    mc_upload_probe_stop();
    mc_s3_pool_free(srv->s3);
    mc_service_free(&srv->svc);
}

int main(void) {
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    mc_daemon_block_signals();
    static mc_upload_server srv;
    mc_err err = {0};
    int rc = run(&srv, &err);
    if (rc < 0) mc_log_kv(MC_LOG_ERROR, "mcloud-upload failed", "error", err.msg, NULL);
    shutdown_server(&srv);
    return rc < 0 ? 1 : 0;
}
