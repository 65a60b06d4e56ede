/* main.c — mcloud-stream: a video's published outputs (progressive MP4
 * rungs, HLS playlists and segments, thumbnails) and its player page, to
 * players holding a signed playback URL, from S3 through a disk cache. Reads
 * the stream.* and playback.* settings, opens the S3 handle pool, the cache
 * and the video lookups, serves until SIGTERM (common/service.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/daemon.h"
#include "common/fdio.h"
#include "common/log.h"
#include "stream/stream.h"
#include "stream/usage.h"

#ifndef MCLOUD_SOURCE_DIR
#error "MCLOUD_SOURCE_DIR must name the source tree (stream/web lives there)"
#endif

#define PAGE_TEMPLATE_MAX (1024 * 1024)

/* A setting naming a directory, or the default when it is empty. */
static int directory_setting(mc_config *cfg, const char *name, const char *fallback, char *out,
                             size_t cap, mc_err *err) {
    if (mc_config_copy(cfg, name, out, cap, err) < 0) return -1;
    if (out[0]) return 0;
    if ((size_t)snprintf(out, cap, "%s", fallback) >= cap)
        return mc_err_set(err, MC_ERR_INVALID, "%s: default path too long", name);
    return 0;
}

static int read_settings(mc_stream_server *srv, long *cache_mb, long *video_ttl_ms, mc_err *err) {
    mc_config *cfg = srv->svc.config;
    char home_cache[MC_STREAM_PATH_MAX];
    const char *home = getenv("MCLOUD_HOME");
    const char *user_home = getenv("HOME");
    if (home && home[0])
        snprintf(home_cache, sizeof home_cache, "%s/stream-cache", home);
    else
        snprintf(home_cache, sizeof home_cache, "%s/.mcloud/stream-cache",
                 user_home ? user_home : "/tmp");
    if (directory_setting(cfg, "stream.cache_dir", home_cache, srv->cache_dir,
                          sizeof srv->cache_dir, err) < 0 ||
        directory_setting(cfg, "stream.web_dir", MCLOUD_SOURCE_DIR "/stream/web", srv->web_dir,
                          sizeof srv->web_dir, err) < 0 ||
        mc_config_int(cfg, "stream.cache_max_mb", 1, LONG_MAX / (1024 * 1024), cache_mb, err) < 0 ||
        mc_config_int(cfg, "stream.video_ttl_ms", 0, 3600000, video_ttl_ms, err) < 0 ||
        mc_playback_keys_from_config(cfg, srv->keys, &srv->nkeys, err) < 0)
        return -1;
    return 0;
}

static int read_page_template(mc_stream_server *srv, mc_err *err) {
    char path[MC_STREAM_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/player.html", srv->web_dir);
    size_t n;
    mc_err why = {0};
    char *buf = mc_read_file(path, PAGE_TEMPLATE_MAX, &n, &why);
    if (!buf) return mc_err_set(err, MC_ERR_INVALID, "cannot read the player page (at most 1 MiB): %s", why.msg);
    const char *at = strstr(buf, MC_STREAM_PAGE_PLACEHOLDER);
    if (!at) {
        free(buf);
        return mc_err_set(err, MC_ERR_INVALID, "the player page %s has no %s", path,
                          MC_STREAM_PAGE_PLACEHOLDER);
    }
    srv->page_template = buf;
    srv->page_config_at = (size_t)(at - buf);
    return 0;
}

static int open_clients(mc_stream_server *srv, long cache_mb, long video_ttl_ms, mc_err *err) {
    if (mc_s3_config_from(srv->svc.config, &srv->s3cfg, err) < 0) return -1;
    srv->s3 = mc_s3_pool_new(&srv->s3cfg);
    if (!srv->s3) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    mc_cache_options co = {.dir = srv->cache_dir,
                           .max_bytes = (uint64_t)cache_mb * 1024 * 1024,
                           .s3 = srv->s3};
    srv->cache = mc_cache_open(&co, err);
    if (!srv->cache) return mc_err_wrap(err, "disk cache %s", srv->cache_dir);
    srv->videos = mc_stream_videos_new(srv->svc.db, video_ttl_ms, err);
    if (!srv->videos) return -1;
    srv->grants = mc_grants_new();
    if (!srv->grants) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    srv->usage = mc_stream_usage_start(srv->svc.redis, err);
    return srv->usage ? 0 : -1;
}

static int run(mc_stream_server *srv, mc_err *err) {
    mc_service_options opt = {.name = "stream", .port_setting = "stream.port", .use_db = true,
                              .response_headers = mc_stream_cors_headers};
    if (mc_service_init(&srv->svc, &opt, err) < 0) return -1;
    long cache_mb, video_ttl_ms;
    if (read_settings(srv, &cache_mb, &video_ttl_ms, err) < 0 || read_page_template(srv, err) < 0 ||
        open_clients(srv, cache_mb, video_ttl_ms, err) < 0 || mc_stream_routes(srv, err) < 0)
        return -1;
    mc_log_kv(MC_LOG_INFO, "serving", "cache_dir", srv->cache_dir, "web_dir", srv->web_dir, NULL);
    return mc_service_serve(&srv->svc, err);
}

static void shutdown_server(mc_stream_server *srv) {
    if (srv->svc.http) mc_http_stop(srv->svc.http, 0);
    if (srv->cache) mc_cache_close(srv->cache);
    mc_stream_usage_stop(srv->usage);
    mc_stream_videos_free(srv->videos);
    mc_grants_free(srv->grants);
    mc_s3_pool_free(srv->s3);
    free(srv->page_template);
    mc_service_free(&srv->svc);
}

int main(void) {
    mc_daemon_block_signals();
    static mc_stream_server srv;
    mc_err err = {0};
    int rc = run(&srv, &err);
    if (rc < 0) mc_log_kv(MC_LOG_ERROR, "mcloud-stream failed", "error", err.msg, NULL);
    shutdown_server(&srv);
    return rc < 0 ? 1 : 0;
}
