/* base64.h — strict Base64 (RFC 4648 §4) and unpadded base64url (§5).
 *
 * Decoding is strict because every decoded value is input from the network
 * (tus metadata and checksums, bearer tokens): only the alphabet, padding
 * exactly where RFC 4648 puts it, and canonical encodings (the unused bits of
 * the last character are zero), so each byte string has exactly one accepted
 * spelling. Conversion itself is OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock;
 * nothing is allocated. */
#ifndef MCLOUD_BASE64_H
#define MCLOUD_BASE64_H

#include <stddef.h>

#include "common/error.h"

/* Bytes an encoder needs for n input bytes, the terminating NUL included
 * (either alphabet). */
static inline size_t mc_base64_encoded_size(size_t n) { return (n / 3 + (n % 3 != 0)) * 4 + 1; }
/* Bytes a decoder may write for len input characters (either alphabet). */
static inline size_t mc_base64_decoded_max(size_t len) { return (len / 4 + (len % 4 != 0)) * 3; }

/* Encode n bytes into out (mc_base64_encoded_size(n) bytes), NUL-terminated.
 * Return the length of the text. base64url has no padding. */
size_t mc_base64_encode(const void *in, size_t n, char *out);
size_t mc_base64url_encode(const void *in, size_t n, char *out);

/* Decode len characters (not NUL-terminated, never read past len) into out
 * (mc_base64_decoded_max(len) bytes). An empty input decodes to nothing.
 * Errors (MC_ERR_INVALID) say what is wrong and where, e.g. "invalid base64:
 * unexpected character '*' at offset 3". */
int mc_base64_decode(const char *in, size_t len, unsigned char *out, size_t *out_len, mc_err *err);
int mc_base64url_decode(const char *in, size_t len, unsigned char *out, size_t *out_len,
                        mc_err *err);

#endif
