/* base64.c — strict validation around OpenSSL's block coder (see base64.h).
 *
 * EVP_DecodeBlock is lenient (it trims whitespace and ignores non-canonical
 * bits), so every input is validated here first and only clean, complete
 * quads reach it. Large inputs go through in chunks because its lengths are
 * ints. */
#include "common/base64.h"

#include <openssl/evp.h>
#include <stdbool.h>

#define ENCODE_CHUNK (3 * 16384) /* input bytes per EVP_EncodeBlock call */
#define DECODE_CHUNK (4 * 16384) /* input characters per EVP_DecodeBlock call */
#define URL_CHUNK 256            /* base64url characters translated per step */

/* The 6-bit value of c, or -1 when c is outside the alphabet. */
static int sextet(unsigned char c, bool url) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == (url ? '-' : '+')) return 62;
    if (c == (url ? '_' : '/')) return 63;
    return -1;
}

static int bad_char(const char *kind, const char *in, size_t at, mc_err *err) {
    unsigned char c = (unsigned char)in[at];
    if (c > 0x20 && c < 0x7f)
        return mc_err_set(err, MC_ERR_INVALID, "invalid %s: unexpected character '%c' at offset %zu",
                          kind, c, at);
    return mc_err_set(err, MC_ERR_INVALID, "invalid %s: unexpected byte 0x%02x at offset %zu", kind,
                      c, at);
}

/* The last character of a group that ends early carries unused low bits
 * (4 of them before "==" or a 2-character tail, 2 before "=" or a
 * 3-character tail); a canonical encoding has them zero. */
static int check_canonical(const char *kind, const char *in, size_t data_len, bool url,
                           mc_err *err) {
    static const int unused_mask[4] = {0, 0, 0x0f, 0x03};
    int mask = unused_mask[data_len % 4];
    if (mask && (sextet((unsigned char)in[data_len - 1], url) & mask))
        return mc_err_set(err, MC_ERR_INVALID,
                          "invalid %s: non-canonical encoding (unused bits of the last character "
                          "at offset %zu are not zero)",
                          kind, data_len - 1);
    return 0;
}

static int check_alphabet(const char *kind, const char *in, size_t len, bool url, mc_err *err) {
    for (size_t i = 0; i < len; i++)
        if (sextet((unsigned char)in[i], url) < 0) return bad_char(kind, in, i, err);
    return 0;
}

/* Validates padded Base64 and returns the number of '=' at the end. */
static int validate_padded(const char *in, size_t len, size_t *pad, mc_err *err) {
    if (len % 4 != 0)
        return mc_err_set(err, MC_ERR_INVALID, "invalid base64: length %zu is not a multiple of 4",
                          len);
    *pad = 0;
    while (*pad < 2 && *pad < len && in[len - 1 - *pad] == '=') (*pad)++;
    size_t data_len = len - *pad;
    for (size_t i = 0; i < data_len; i++)
        if (in[i] == '=')
            return mc_err_set(err, MC_ERR_INVALID,
                              "invalid base64: padding '=' at offset %zu is not at the end", i);
    if (check_alphabet("base64", in, data_len, false, err)) return -1;
    return check_canonical("base64", in, data_len, false, err);
}

static int validate_url(const char *in, size_t len, mc_err *err) {
    if (check_alphabet("base64url", in, len, true, err)) return -1;
    if (len % 4 == 1)
        return mc_err_set(err, MC_ERR_INVALID,
                          "invalid base64url: length %zu leaves a lone final character", len);
    return check_canonical("base64url", in, len, true, err);
}

/* Decodes complete, validated quads; returns the bytes written (padding
 * positions included, as EVP_DecodeBlock counts them), or -1. */
static long decode_quads(const char *in, size_t len, unsigned char *out, mc_err *err) {
    size_t done = 0, written = 0;
    while (done < len) {
        size_t n = len - done < DECODE_CHUNK ? len - done : DECODE_CHUNK;
        int got = EVP_DecodeBlock(out + written, (const unsigned char *)in + done, (int)n);
        if (got < 0) return mc_err_set(err, MC_ERR_INTERNAL, "EVP_DecodeBlock failed");
        done += n;
        written += (size_t)got;
    }
    return (long)written;
}

int mc_base64_decode(const char *in, size_t len, unsigned char *out, size_t *out_len, mc_err *err) {
    size_t pad = 0;
    if (validate_padded(in, len, &pad, err)) return -1;
    long written = decode_quads(in, len, out, err);
    if (written < 0) return -1;
    *out_len = (size_t)written - pad;
    return 0;
}

int mc_base64url_decode(const char *in, size_t len, unsigned char *out, size_t *out_len,
                        mc_err *err) {
    if (validate_url(in, len, err)) return -1;
    char quads[URL_CHUNK];
    size_t done = 0, written = 0, pad = 0;
    while (done < len) {
        size_t n = len - done < URL_CHUNK ? len - done : URL_CHUNK;
        for (size_t i = 0; i < n; i++) {
            char c = in[done + i];
            quads[i] = c == '-' ? '+' : c == '_' ? '/' : c;
        }
        done += n;
        while (n % 4) {
            quads[n++] = '=';
            pad++;
        }
        long got = decode_quads(quads, n, out + written, err);
        if (got < 0) return -1;
        written += (size_t)got;
    }
    *out_len = written - pad;
    return 0;
}

size_t mc_base64_encode(const void *in, size_t n, char *out) {
    const unsigned char *src = in;
    size_t done = 0, written = 0;
    out[0] = '\0';
    while (done < n) {
        size_t chunk = n - done < ENCODE_CHUNK ? n - done : ENCODE_CHUNK;
        written += (size_t)EVP_EncodeBlock((unsigned char *)out + written, src + done, (int)chunk);
        done += chunk;
    }
    return written;
}

size_t mc_base64url_encode(const void *in, size_t n, char *out) {
    size_t len = mc_base64_encode(in, n, out);
    while (len > 0 && out[len - 1] == '=') out[--len] = '\0';
    for (size_t i = 0; i < len; i++) {
        if (out[i] == '+') out[i] = '-';
        else if (out[i] == '/') out[i] = '_';
    }
    return len;
}
