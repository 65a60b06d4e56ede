/* stream.h — the mcloud-stream daemon's state, shared by its files:
 * main.c (settings, clients, life cycle), serve.c (the HTTP answers) and
 * page.c (the player page). */
#ifndef MCLOUD_STREAM_STREAM_H
#define MCLOUD_STREAM_STREAM_H

#include <stddef.h>

#include "common/playback.h"
#include "common/s3_pool.h"
#include "common/service.h"
#include "stream/cache.h"
#include "stream/grants.h"
#include "stream/videos.h"

#define MC_STREAM_PATH_MAX 1024
#define MC_STREAM_PAGE_PLACEHOLDER "{{config}}" /* replaced by the video's JSON */

typedef struct mc_stream_server {
    mc_service svc;
    mc_s3_config s3cfg;
    mc_s3_pool *s3;
    mc_cache *cache;
    mc_stream_videos *videos;
    mc_grants *grants;            /* credentials verified before */
    struct mc_stream_usage *usage; /* playback per tenant, for GET /v1/usage (usage.c) */
    mc_token_key keys[MC_PLAYBACK_MAX_KEYS];
    size_t nkeys;
    char cache_dir[MC_STREAM_PATH_MAX];
    char web_dir[MC_STREAM_PATH_MAX];
    char *page_template;          /* <web_dir>/player.html, read at start */
    size_t page_config_at;        /* where its MC_STREAM_PAGE_PLACEHOLDER is */
} mc_stream_server;

/* The CORS headers of every answer (mc_service_options.response_headers). */
extern const char *const mc_stream_cors_headers[];

/* Adds the routes: /v/ (outputs and the page) and /static/hls.min.js. */
int mc_stream_routes(mc_stream_server *srv, mc_err *err);

/* The player page of a ready video as a malloc'd HTML document. */
char *mc_stream_page_render(mc_stream_server *srv, const char *video_id,
                            const mc_stream_video *video, size_t *len, mc_err *err);

#endif
