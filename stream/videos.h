/* videos.h — which videos mcloud-stream may serve, read from MySQL: a video
 * is served while it is `ready`, from its published prefix, or while it
 * transcodes once it is playable (its growing HLS, from playable_prefix:
 * the running attempt's), to players whose credential names its tenant. Lookups of ready videos are kept for
 * stream.video_ttl_ms, so ranged requests in a burst do not each cost a
 * query; a re-publish (a new prefix) is seen within that time. */
#ifndef MCLOUD_STREAM_VIDEOS_H
#define MCLOUD_STREAM_VIDEOS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "common/mysql.h"
#include "common/s3.h"

#define MC_TENANT_MAX 64

typedef struct mc_stream_video {
    char tenant[MC_TENANT_MAX + 1];
    char title[256];
    char prefix[MC_S3_KEY_MAX]; /* published_prefix (ready) or playable_prefix; ends with '/' */
    bool ready;                 /* false: playable while transcoding, only its HLS */
} mc_stream_video;

typedef struct mc_stream_videos mc_stream_videos;

mc_stream_videos *mc_stream_videos_new(mc_db *db, long ttl_ms, mc_err *err);
void mc_stream_videos_free(mc_stream_videos *v);

/* The ready or playable video id (MC_ERR_NOT_FOUND when unknown or not playable;
 * MC_ERR_UNAVAILABLE when MySQL cannot answer). The replica answers first;
 * a video it does not know (yet) is asked of the master, so a player
 * following a fresh publish is not turned away by replication lag. */
int mc_stream_videos_lookup(mc_stream_videos *v, const char *id, mc_stream_video *out, mc_err *err);

/* The row read again now, from the master, and remembered: for a request the
 * remembered row (or a lagging replica) would refuse as "still processing",
 * since another instance behind the same edge may already have given the
 * player the video's final playlists. Errors as mc_stream_videos_lookup; on
 * any but MC_ERR_NOT_FOUND (the master unreachable) serve.c goes on with the
 * row it has. */
int mc_stream_videos_reread(mc_stream_videos *v, const char *id, mc_stream_video *out, mc_err *err);

/* The video's progressive rungs for the player page, largest first:
 * [{"name","url","width","height"}] with url relative to the page. */
json_t *mc_stream_videos_rungs(mc_stream_videos *v, const char *id, const mc_stream_video *video,
                               mc_err *err);

#endif
