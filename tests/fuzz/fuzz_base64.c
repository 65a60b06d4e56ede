/* Fuzz target: strict Base64 and base64url (common/base64.h). Whatever a
 * decoder accepts must be the one canonical spelling of what it decoded to
 * (encoding it again gives the input back), and any bytes must survive an
 * encode/decode round trip in both alphabets. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"

static void canonical_or_refused(int url, const char *text, size_t len) {
    unsigned char *bytes = malloc(mc_base64_decoded_max(len) + 1);
    size_t n = 0;
    mc_err err = {0};
    int rc = url ? mc_base64url_decode(text, len, bytes, &n, &err)
                 : mc_base64_decode(text, len, bytes, &n, &err);
    if (rc == 0) {
        char *again = malloc(mc_base64_encoded_size(n));
        size_t again_len = url ? mc_base64url_encode(bytes, n, again) : mc_base64_encode(bytes, n, again);
        if (again_len != len || memcmp(again, text, len) != 0) __builtin_trap();
        free(again);
    } else if (err.kind != MC_ERR_INVALID || !err.msg[0]) {
        __builtin_trap();
    }
    free(bytes);
}

static void round_trip(int url, const uint8_t *data, size_t size) {
    char *text = malloc(mc_base64_encoded_size(size));
    size_t len = url ? mc_base64url_encode(data, size, text) : mc_base64_encode(data, size, text);
    unsigned char *back = malloc(mc_base64_decoded_max(len) + 1);
    size_t n = 0;
    mc_err err = {0};
    int rc = url ? mc_base64url_decode(text, len, back, &n, &err)
                 : mc_base64_decode(text, len, back, &n, &err);
    if (rc != 0 || n != size || memcmp(back, data, size) != 0) __builtin_trap();
    free(back);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* An exact-size copy, so any read past the length is caught. */
    char *text = malloc(size ? size : 1);
    memcpy(text, data, size);
    for (int url = 0; url <= 1; url++) {
        canonical_or_refused(url, text, size);
        round_trip(url, data, size);
    }
    free(text);
    return 0;
}
