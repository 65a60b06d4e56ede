/* main.c — mcloud-api: the consumer REST API (/v1/...) on the shared
 * service life cycle (common/service.h). Reads the api.* settings and those
 * of the services it hands clients to (upload and stream public URLs, the
 * token and playback keys), loads the OpenAPI document, opens the S3 handle
 * pool (deletes), the Kafka producer and outbox publisher (a delete's
 * video.deleted goes out on video.events_topic through the outbox), starts
 * the webhooks' threads (webhook_run.c), serves until SIGTERM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/console.h"
#include "common/daemon.h"
#include "common/log.h"

static void trim_slash(char *s) {
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/') s[--n] = '\0';
}

static int read_settings(mc_api_server *srv, mc_err *err) {
    mc_config *cfg = srv->svc.config;
    mc_api_settings *s = &srv->set;
    long max_size;
    if (mc_config_copy(cfg, "api.public_url", s->public_url, sizeof s->public_url, err) < 0 ||
        mc_config_copy(cfg, "upload.public_url", s->upload_public_url,
                       sizeof s->upload_public_url, err) < 0 ||
        mc_config_copy(cfg, "stream.public_url", s->stream_public_url,
                       sizeof s->stream_public_url, err) < 0 ||
        mc_config_int(cfg, "api.rate_limit_per_s", 1, 1000000, &s->rate_per_s, err) < 0 ||
        mc_config_int(cfg, "api.rate_limit_burst", 1, 1000000, &s->rate_burst, err) < 0 ||
        mc_config_int(cfg, "api.upload_ttl_s", 60, 7 * 86400, &s->upload_ttl_s, err) < 0 ||
        mc_config_int(cfg, "stream.url_ttl_s", 1, 366L * 86400, &s->stream_url_ttl_s, err) < 0 ||
        mc_config_int(cfg, "upload.max_size", 1, 5L * 1024 * 1024 * 1024 * 1024, &max_size,
                      err) < 0 ||
        mc_config_copy(cfg, "token.key_id", s->token_key_id, sizeof s->token_key_id, err) < 0 ||
        mc_config_copy(cfg, "token.secret", s->token_secret, sizeof s->token_secret, err) < 0 ||
        mc_config_copy(cfg, "api.cursor_secret", s->cursor_secret, sizeof s->cursor_secret,
                       err) < 0)
        return -1;
    if (mc_config_bool(cfg, "webhooks.allow_private", &s->webhooks_allow_private, err) < 0)
        return -1;
    trim_slash(s->public_url);
    trim_slash(s->upload_public_url);
    trim_slash(s->stream_public_url);
    s->upload_max_size = max_size;
    srv->token_key = (mc_token_key){.id = s->token_key_id,
                                    .secret = (const unsigned char *)s->token_secret,
                                    .secret_len = strlen(s->token_secret)};
    srv->cursor_key = (mc_token_key){.id = "cursor",
                                     .secret = (const unsigned char *)s->cursor_secret,
                                     .secret_len = strlen(s->cursor_secret)};
    if (mc_token_key_check(&srv->token_key, "token", err) < 0 ||
        mc_token_key_check(&srv->cursor_key, "api.cursor_secret", err) < 0 ||
        mc_playback_keys_from_config(cfg, srv->playback_keys, &srv->playback_nkeys, err) < 0)
        return -1;
    const char *console = mc_config_get(cfg, "api.console_dir");
    if ((size_t)snprintf(s->console_dir, sizeof s->console_dir, "%s",
                         console && *console ? console : MCLOUD_SOURCE_DIR "/api/console") >=
        sizeof s->console_dir)
        return mc_err_set(err, MC_ERR_INVALID, "api.console_dir: longer than %zu bytes",
                          sizeof s->console_dir - 1);
    const char *doc = mc_config_get(cfg, "api.openapi_path");
    char path[1024];
    snprintf(path, sizeof path, "%s", doc && *doc ? doc : MCLOUD_SOURCE_DIR "/api/openapi.yaml");
    return mc_api_openapi_load(path, &srv->openapi_json, &srv->openapi_len, err);
}

#define OUTBOX_INTERVAL_MS 5000 /* a delete nudges it at once */

static int open_outbox(mc_api_server *srv, mc_err *err) {
    if (mc_config_copy(srv->svc.config, "video.events_topic", srv->video_topic,
                       sizeof srv->video_topic, err) < 0)
        return -1;
    mc_outbox_options oo = {.db = srv->svc.db,
                            .kafka = {.bootstrap_servers = mc_config_get(srv->svc.config, "kafka"),
                                      .client_id = "mcloud-api"},
                            .interval_ms = OUTBOX_INTERVAL_MS};
    srv->outbox = mc_outbox_publisher_start(&oo, err);
    return srv->outbox ? 0 : -1;
}

static int run(mc_api_server *srv, mc_err *err) {
    mc_service_options opt = {.name = "api", .port_setting = "api.port", .use_db = true};
    if (mc_service_init(&srv->svc, &opt, err) < 0) return -1;
    if (read_settings(srv, err) < 0) return -1;
    if (mc_s3_config_from(srv->svc.config, &srv->s3cfg, err) < 0) return -1;
    srv->s3 = mc_s3_pool_new(&srv->s3cfg);
    if (!srv->s3) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    if (open_outbox(srv, err) < 0) return -1;
    bool webhooks;
    if (mc_config_bool(srv->svc.config, "webhooks.enabled", &webhooks, err) < 0 ||
        (webhooks && mc_api_webhooks_start(srv, err) < 0))
        return -1;
    if (mc_api_routes(srv, err) < 0 || mc_api_console_routes(srv, err) < 0) return -1;
    int rc = mc_service_serve(&srv->svc, err);
    mc_api_webhooks_stop(srv); /* after HTTP: no handler nudges it any more */
    return rc;
}

int main(void) {
    mc_daemon_block_signals();
    static mc_api_server srv;
    mc_err err = {0};
    int rc = run(&srv, &err);
    if (rc < 0) mc_log_kv(MC_LOG_ERROR, "mcloud-api failed", "error", err.msg, NULL);
    if (srv.svc.http) mc_http_stop(srv.svc.http, 0);
    mc_api_webhooks_stop(&srv);
    mc_outbox_publisher_stop(srv.outbox);
    mc_s3_pool_free(srv.s3);
    mc_service_free(&srv.svc);
    free(srv.openapi_json);
    return rc < 0 ? 1 : 0;
}
