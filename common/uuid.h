/* uuid.h — RFC 9562 UUIDs as mcloud spells them: 36 lowercase characters.
 * Video ids are random (v4), made by the upload service and mcloud-api. */
#ifndef MCLOUD_UUID_H
#define MCLOUD_UUID_H

#include "common/error.h"

#define MC_UUID_LEN 36

void mc_uuid_format(const unsigned char b[16], char out[MC_UUID_LEN + 1]);
/* A random (version 4) UUID from OpenSSL's generator. */
int mc_uuid_v4(char out[MC_UUID_LEN + 1], mc_err *err);

#endif
