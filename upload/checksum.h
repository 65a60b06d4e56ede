/* checksum.h — the tus checksum extension's digests over a streamed body.
 *
 * A PATCH body arrives in pieces; the server feeds each piece to
 * mc_checksum_update while it streams the bytes on, and at the end compares
 * the digest with the one from Upload-Checksum (header or trailer). sha1 and
 * md5 are OpenSSL EVP digests; crc32 is zlib's (the IEEE polynomial), and its
 * digest is the CRC as 4 big-endian bytes, as tus clients encode it. */
#ifndef MCLOUD_UPLOAD_CHECKSUM_H
#define MCLOUD_UPLOAD_CHECKSUM_H

#include <openssl/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef enum mc_checksum_alg {
    MC_CHECKSUM_SHA1 = 1,
    MC_CHECKSUM_MD5,
    MC_CHECKSUM_CRC32
} mc_checksum_alg;

/* The value of the Tus-Checksum-Algorithm response header. */
#define MC_CHECKSUM_ALGORITHMS "sha1,md5,crc32"
/* The longest digest of any supported algorithm (sha1). */
#define MC_CHECKSUM_MAX_DIGEST 20
/* tus's status for a body whose checksum does not match. */
#define MC_CHECKSUM_MISMATCH_STATUS 460

/* Looks an algorithm up by its tus name (len bytes, case-sensitive); false
 * when it is not one of MC_CHECKSUM_ALGORITHMS. */
bool mc_checksum_alg_from_name(const char *name, size_t len, mc_checksum_alg *out);
const char *mc_checksum_alg_name(mc_checksum_alg alg);
size_t mc_checksum_digest_len(mc_checksum_alg alg);

typedef struct mc_checksum {
    mc_checksum_alg alg;
    EVP_MD_CTX *md; /* sha1, md5 */
    uint32_t crc;   /* crc32 */
} mc_checksum;

int mc_checksum_init(mc_checksum *c, mc_checksum_alg alg, mc_err *err);
int mc_checksum_update(mc_checksum *c, const void *data, size_t len, mc_err *err);
/* Writes the digest (mc_checksum_digest_len bytes); call it once. */
int mc_checksum_final(mc_checksum *c, unsigned char *digest, mc_err *err);
/* Finalizes and compares with expected. A mismatch is MC_ERR_INVALID with
 * status 460 and a message giving both digests in base64. */
int mc_checksum_verify(mc_checksum *c, const unsigned char *expected, size_t expected_len,
                       mc_err *err);
/* Releases the digest context; safe on a zeroed or already freed value. */
void mc_checksum_free(mc_checksum *c);

#endif
