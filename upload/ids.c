/* ids.c — the identifiers the upload service hands out: upload ids (random,
 * URL-safe, valid for mc_tus_id_valid), video ids (UUID v4) and job ids
 * (derived from the upload id so a replayed job keeps its id). */
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/uuid.h"
#include "upload/upload.h"

int mc_upload_new_id(char out[MC_UPLOAD_ID_LEN + 1], mc_err *err) {
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char raw[MC_UPLOAD_ID_LEN];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return mc_err_set(err, MC_ERR_INTERNAL, "RAND_bytes failed");
    /* 252 = 7 * 36: rejecting larger bytes keeps every character equally likely. */
    for (size_t i = 0; i < MC_UPLOAD_ID_LEN; i++) {
        while (raw[i] >= 252)
            if (RAND_bytes(&raw[i], 1) != 1)
                return mc_err_set(err, MC_ERR_INTERNAL, "RAND_bytes failed");
        out[i] = alphabet[raw[i] % 36];
    }
    out[MC_UPLOAD_ID_LEN] = '\0';
    return 0;
}

int mc_upload_new_uuid(char out[MC_UPLOAD_UUID_LEN + 1], mc_err *err) {
    return mc_uuid_v4(out, err);
}

void mc_upload_job_id(const char *upload_id, char out[MC_UPLOAD_UUID_LEN + 1]) {
    unsigned char md[SHA_DIGEST_LENGTH];
    char name[MC_TUS_ID_MAX + 32];
    int n = snprintf(name, sizeof name, "mcloud.transcode.job:%s", upload_id);
    SHA1((const unsigned char *)name, (size_t)n, md);
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
    mc_uuid_format(md, out);
}
