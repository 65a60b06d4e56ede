/* video.h — what the command line reads about a video: its status while it
 * transcodes and the signed playback URLs of its published outputs on
 * mcloud-stream. By default through mcloud-api (the *_api functions, with
 * MCLOUD_API_URL and MCLOUD_API_KEY); the operator's --local variants read
 * MySQL (the durable record) and sign with this machine's playback key
 * (common/playback.h): for a test's own mcloud-stream, and for a video that
 * plays while it still transcodes (the API has no such state yet). */
#ifndef MC_CLI_VIDEO_H
#define MC_CLI_VIDEO_H

#include <stdbool.h>
#include <stdio.h>

#include "common/error.h"
#include "common/mysql.h"
#include "common/playback.h"

/* Polls the video until it is ready (0) or failed (-1, MC_ERR_INVALID with
 * the stored reason), printing status and progress changes to out.
 * timeout_s <= 0 waits for ever. */
int mc_cli_video_wait(mc_db *db, const char *video_id, long timeout_s, bool until_playable,
                      FILE *out, mc_err *err);

/* How playback URLs are made: mcloud-stream's public URL, the signing key
 * and how long the URLs live. */
typedef struct mc_cli_playback {
    const char *base_url;     /* stream.public_url */
    const mc_token_key *key;  /* playback.key_id / playback.secret */
    long ttl_s;
} mc_cli_playback;

/* Prints the signed URLs of a ready video: the player page, the HLS master
 * playlist, each progressive MP4 rung and the poster; as JSON
 * ({"video","page","hls","mp4":{rung:url},"poster"}) or as lines. A video
 * that is not ready is MC_ERR_CONFLICT with its status (and reason). */
int mc_cli_video_play(mc_db *db, const mc_cli_playback *pb, const char *video_id, bool as_json,
                      FILE *out, mc_err *err);

/* The same through mcloud-api: GET /v1/videos/{id} polled until ready (0),
 * or with until_playable until it plays while transcoding (its `playable`),
 * or failed (-1 with the failure reason); 429/5xx answers are retried. */
int mc_cli_video_wait_api(const char *video_id, long timeout_s, bool until_playable, FILE *out,
                          mc_err *err);

/* GET /v1/videos/{id}/playback?ttl= printed like mc_cli_video_play (ttl_s
 * 0: the API's default), with the video's status. A video that does not
 * play yet: the API's 409. */
int mc_cli_video_play_api(const char *video_id, long ttl_s, bool as_json, FILE *out, mc_err *err);

#endif
