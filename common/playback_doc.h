/* playback_doc.h — the signed playback URLs of one ready video as a JSON
 * document, what `mcloud play` prints and GET /v1/videos/{id}/playback
 * answers: {"video","page","hls","mp4":{rung:url},"poster","expires_at"}.
 * The rungs come from the renditions rows under the published prefix
 * (largest first); audio-only videos have no poster. */
#ifndef MCLOUD_PLAYBACK_DOC_H
#define MCLOUD_PLAYBACK_DOC_H

#include <jansson.h>
#include <stdint.h>

#include "common/error.h"
#include "common/mysql.h"
#include "common/token.h"

typedef struct mc_playback_signer {
    const char *base_url;     /* stream.public_url */
    const mc_token_key *key;  /* the signing key (playback.key_id / playback.secret) */
    int64_t exp;              /* unix seconds the URLs stay valid until */
} mc_playback_signer;

/* prefix: the video's published_prefix; NULL for a video still
 * transcoding but playable (page and growing HLS only: no MP4 or poster yet). target: where the renditions are
 * read (the API reads the replica, the command line the master). */
json_t *mc_playback_doc(mc_db *db, mc_db_target target, const mc_playback_signer *s,
                        const char *tenant, const char *video_id, const char *prefix, mc_err *err);

#endif
