/* grants.h — playback credentials already verified, remembered until they
 * expire. Verifying costs an HMAC-SHA256 for each scope a credential may
 * grant (the path and each parent directory); a player sends the same
 * credential for every range of a file and every segment of a playlist, so
 * mcloud-stream checks it once and then looks it up. Only successes are
 * kept (a forged credential is checked every time), keyed by everything the
 * signature covers: credential, tenant, video and path. Bounded: a fixed
 * table where a newer grant replaces an older one in its slot. The keys are
 * read at start, so a remembered grant stays as valid as it was. */
#ifndef MCLOUD_STREAM_GRANTS_H
#define MCLOUD_STREAM_GRANTS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct mc_grants mc_grants;

mc_grants *mc_grants_new(void);
void mc_grants_free(mc_grants *g);
bool mc_grants_known(mc_grants *g, const char *cred, const char *tenant, const char *video,
                     const char *path, int64_t now);
/* Remembers a verified grant until exp (the credential's own expiry). */
void mc_grants_remember(mc_grants *g, const char *cred, const char *tenant, const char *video,
                        const char *path, int64_t exp);

#endif
