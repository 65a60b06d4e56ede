/* paths.h — what a stream request may name. A request path is
 * /v/<video>/<cred>/<path>; nothing from it reaches an object key or a file
 * name unless it matches the grammar of the transcoder's outputs exactly:
 *
 *   <rung>.mp4 | hls/master.m3u8 | hls/<rung>/index.m3u8 | hls/<rung>/init.mp4
 *   | hls/<rung>/seg_<digits>.m4s | thumbs/poster.jpg | thumbs/thumb_<digits>.jpg
 *   | hls/a/<attempt>/(master.m3u8 | <rung>/index.m3u8 | <rung>/init.mp4
 *                      | <rung>/seg_<digits>.m4s)
 *   | "" (the player page)
 *   rung: 1..16 of [0-9a-z]; digits: 1..9 of [0-9]; video: a lowercase UUID;
 *   attempt: 1..80 of [0-9a-z-], "<job>-<n>" (the HLS of one attempt, as a
 *   video plays while it transcodes: its URIs name the attempt)
 *
 * so "..", "%2F", "//", NUL, backslashes and every other spelling are refused
 * before any lookup (libmicrohttpd has already percent-decoded the path, so a
 * decoded '/' or NUL is seen here). Pure; fuzzed with the Range parser. */
#ifndef MCLOUD_STREAM_PATHS_H
#define MCLOUD_STREAM_PATHS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/playback.h"

#define MC_VIDEO_ID_LEN 36

typedef struct mc_stream_target {
    char video[MC_VIDEO_ID_LEN + 1];
    char cred[MC_PLAYBACK_CRED_MAX];
    char path[128];         /* relative to the published prefix; "" = the page */
    const char *content_type; /* static string */
} mc_stream_target;

/* Splits a decoded request path ("/v/<video>/<cred>/<path>"; the page is
 * "/v/<video>/<cred>/", with its '/'). cred is 1..MC_PLAYBACK_CRED_MAX-1 of
 * [A-Za-z0-9_.-], not starting with '.'; mc_playback_verify checks the rest.
 * 0 when every part is well formed; -1 otherwise, with *out zeroed (the
 * caller answers 404: a path that names nothing we serve). */
int mc_stream_target_parse(const char *request_path, size_t len, mc_stream_target *out);

bool mc_stream_output_path_valid(const char *path);
/* For "hls/a/<attempt>/<rest>": the attempt (its length in *len) and
 * "hls/<rest>" in rel; NULL for any other path. */
const char *mc_stream_attempt_path(const char *path, size_t *len, char *rel, size_t rel_cap);
/* "video/mp4" (.mp4), "video/iso.segment" (.m4s), "application/vnd.apple.mpegurl" (.m3u8),
 * "image/jpeg" (.jpg), "text/html; charset=utf-8" (""); NULL for a path
 * outside the grammar. */
const char *mc_stream_content_type(const char *path);

#endif
