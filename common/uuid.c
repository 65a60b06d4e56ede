/* uuid.c — UUID formatting and random v4 UUIDs (see uuid.h). */
#include "common/uuid.h"

#include <openssl/rand.h>
#include <stdio.h>

void mc_uuid_format(const unsigned char b[16], char out[MC_UUID_LEN + 1]) {
    snprintf(out, MC_UUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

int mc_uuid_v4(char out[MC_UUID_LEN + 1], mc_err *err) {
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) return mc_err_set(err, MC_ERR_INTERNAL, "RAND_bytes failed");
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    mc_uuid_format(b, out);
    return 0;
}
