/* checksum.c — incremental sha1/md5 (OpenSSL EVP) and crc32 (zlib) for the
 * tus checksum extension (see checksum.h). */
#include "upload/checksum.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>
#include <zlib.h>

#include "common/base64.h"

/* Text of the longest digest in base64, NUL included. */
#define DIGEST_B64_SIZE ((MC_CHECKSUM_MAX_DIGEST + 2) / 3 * 4 + 1)

static const struct {
    const char *name;
    size_t digest_len;
} algorithms[] = {
    [MC_CHECKSUM_SHA1] = {"sha1", 20},
    [MC_CHECKSUM_MD5] = {"md5", 16},
    [MC_CHECKSUM_CRC32] = {"crc32", 4},
};

bool mc_checksum_alg_from_name(const char *name, size_t len, mc_checksum_alg *out) {
    for (int alg = MC_CHECKSUM_SHA1; alg <= MC_CHECKSUM_CRC32; alg++) {
        if (strlen(algorithms[alg].name) == len && memcmp(algorithms[alg].name, name, len) == 0) {
            *out = (mc_checksum_alg)alg;
            return true;
        }
    }
    return false;
}

const char *mc_checksum_alg_name(mc_checksum_alg alg) { return algorithms[alg].name; }

size_t mc_checksum_digest_len(mc_checksum_alg alg) { return algorithms[alg].digest_len; }

int mc_checksum_init(mc_checksum *c, mc_checksum_alg alg, mc_err *err) {
    memset(c, 0, sizeof *c);
    c->alg = alg;
    if (alg == MC_CHECKSUM_CRC32) {
        c->crc = (uint32_t)crc32_z(0L, Z_NULL, 0);
        return 0;
    }
    c->md = EVP_MD_CTX_new();
    const EVP_MD *md = alg == MC_CHECKSUM_SHA1 ? EVP_sha1() : EVP_md5();
    if (!c->md || !EVP_DigestInit_ex(c->md, md, NULL)) {
        mc_checksum_free(c);
        return mc_err_set(err, MC_ERR_INTERNAL, "cannot start a %s digest", algorithms[alg].name);
    }
    return 0;
}

int mc_checksum_update(mc_checksum *c, const void *data, size_t len, mc_err *err) {
    if (c->alg == MC_CHECKSUM_CRC32) {
        c->crc = (uint32_t)crc32_z(c->crc, data, len);
        return 0;
    }
    if (!EVP_DigestUpdate(c->md, data, len))
        return mc_err_set(err, MC_ERR_INTERNAL, "%s digest update failed",
                          algorithms[c->alg].name);
    return 0;
}

int mc_checksum_final(mc_checksum *c, unsigned char *digest, mc_err *err) {
    if (c->alg == MC_CHECKSUM_CRC32) {
        digest[0] = (unsigned char)(c->crc >> 24);
        digest[1] = (unsigned char)(c->crc >> 16);
        digest[2] = (unsigned char)(c->crc >> 8);
        digest[3] = (unsigned char)c->crc;
        return 0;
    }
    if (!EVP_DigestFinal_ex(c->md, digest, NULL))
        return mc_err_set(err, MC_ERR_INTERNAL, "%s digest final failed", algorithms[c->alg].name);
    return 0;
}

int mc_checksum_verify(mc_checksum *c, const unsigned char *expected, size_t expected_len,
                       mc_err *err) {
    unsigned char got[MC_CHECKSUM_MAX_DIGEST];
    size_t len = algorithms[c->alg].digest_len;
    if (mc_checksum_final(c, got, err)) return -1;
    if (expected_len == len && CRYPTO_memcmp(got, expected, len) == 0) return 0;
    char got_b64[DIGEST_B64_SIZE], want_b64[DIGEST_B64_SIZE];
    mc_base64_encode(got, len, got_b64);
    mc_base64_encode(expected, expected_len <= MC_CHECKSUM_MAX_DIGEST ? expected_len : 0, want_b64);
    mc_err_set(err, MC_ERR_INVALID, "checksum mismatch: the body's %s is %s, Upload-Checksum says %s",
               algorithms[c->alg].name, got_b64, want_b64);
    if (err) err->status = MC_CHECKSUM_MISMATCH_STATUS;
    return -1;
}

void mc_checksum_free(mc_checksum *c) {
    EVP_MD_CTX_free(c->md);
    c->md = NULL;
}
