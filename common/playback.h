/* playback.h — signed playback URLs: the credential that lets a player read a
 * video's published outputs from mcloud-stream without any other secret.
 *
 * A playback URL is <stream.public_url>/v/<video>/<cred>/<path>, where path is
 * an output relative to the video's published prefix ("720p.mp4",
 * "hls/master.m3u8", "hls/720p/seg_00001.m4s", "thumbs/poster.jpg") or ""
 * for the player page. The credential sits in the path, not the query, so
 * the relative URIs inside HLS playlists and the page resolve under it.
 *
 *   cred = <kid>.<exp>.<base64url(HMAC-SHA256(secret, message))>
 *   message = "mcloud-playback-v1\n" tenant "\n" video "\n" scope "\n" exp
 *
 * scope is what the signer grants: one path ("720p.mp4") or a directory
 * ending in '/' ("hls/"), or "" for every output of the video. The verifier
 * accepts a request for path when the signature matches path itself or one
 * of its parent directories (e.g. for "hls/720p/seg_00001.m4s": that path,
 * "hls/720p/", "hls/", ""). Two keys may be active at once (rotation: the
 * new one signs, both verify), chosen by kid; the tenant is the video's
 * owner as recorded in MySQL, so a URL signed for another tenant's video
 * never verifies. Refusals are MC_ERR_AUTH with status 403 and err->code one
 * of the MC_PLAYBACK_* codes below. */
#ifndef MCLOUD_PLAYBACK_H
#define MCLOUD_PLAYBACK_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/error.h"
#include "common/token.h" /* mc_token_key: the same key shape, other secrets */

#define MC_PLAYBACK_CRED_MAX 160  /* a credential's longest spelling + NUL */
#define MC_PLAYBACK_MAX_KEYS 2

#define MC_PLAYBACK_MALFORMED "playback_malformed"
#define MC_PLAYBACK_UNKNOWN_KEY "playback_unknown_key"
#define MC_PLAYBACK_BAD_SIGNATURE "playback_bad_signature"
#define MC_PLAYBACK_EXPIRED "playback_expired"

/* The active keys from the settings playback.key_id/playback.secret (signs
 * and verifies) and playback.previous_key_id/playback.previous_secret
 * (verifies only; unset = none). keys[] points into cfg's values, which stay
 * valid for cfg's lifetime. */
int mc_playback_keys_from_config(mc_config *cfg, mc_token_key keys[MC_PLAYBACK_MAX_KEYS],
                                 size_t *nkeys, mc_err *err);

/* Writes the credential granting scope until exp into cred. */
int mc_playback_sign(const mc_token_key *key, const char *tenant, const char *video,
                     const char *scope, int64_t exp, char cred[MC_PLAYBACK_CRED_MAX], mc_err *err);

/* Checks cred (len bytes, not NUL-terminated) for a request of path of
 * tenant's video at time now. 0 when granted; -1 with MC_ERR_AUTH/403. */
int mc_playback_verify(const char *cred, size_t len, const mc_token_key *keys, size_t nkeys,
                       const char *tenant, const char *video, const char *path, int64_t now,
                       mc_err *err);

/* A whole URL: base (trailing '/'s dropped) + "/v/" video "/" cred "/" path;
 * malloc'd, NULL when out of memory. The credential grants scope. */
char *mc_playback_url(const char *base, const mc_token_key *key, const char *tenant,
                      const char *video, const char *scope, const char *path, int64_t exp,
                      mc_err *err);

#endif
