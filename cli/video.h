/* video.h — what the command line reads about a video: its status while it
 * transcodes (from MySQL, the durable record) and the URLs of its published
 * outputs (presigned S3 GETs until mcloud-stream serves signed URLs). */
#ifndef MC_CLI_VIDEO_H
#define MC_CLI_VIDEO_H

#include <stdio.h>

#include "common/error.h"
#include "common/mysql.h"
#include "common/s3.h"

/* Polls the video until it is ready (0) or failed (-1, MC_ERR_INVALID with
 * the stored reason), printing status and progress changes to out.
 * timeout_s <= 0 waits for ever. */
int mc_cli_video_wait(mc_db *db, const char *video_id, long timeout_s, FILE *out, mc_err *err);

/* Prints the published outputs of a ready video as JSON: presigned URLs of
 * every progressive MP4 rung and thumbnail, and the HLS keys. */
int mc_cli_video_urls(mc_db *db, mc_s3 *s3, const char *video_id, long expires_s, FILE *out,
                      mc_err *err);

#endif
