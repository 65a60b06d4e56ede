/* tus_headers.h — every tus 1.0.0 request header the upload server reads,
 * and the values it writes back (Upload-Metadata, Upload-Expires).
 *
 * Each parser takes a header value as the HTTP layer hands it over (value,
 * length; value NULL when the header is absent), never reads past the length
 * and allocates at most a block bounded by the limits below. On failure it
 * returns -1 with MC_ERR_INVALID, err->status set to the HTTP status tus
 * prescribes (400 unless noted) and a message the server sends verbatim, e.g.
 * "Upload-Offset must be a non-negative integer, got '-1'". */
#ifndef MCLOUD_UPLOAD_TUS_HEADERS_H
#define MCLOUD_UPLOAD_TUS_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/http_date.h"
#include "upload/checksum.h"

/* Tus-Resumable of every response, and Tus-Version (412 and OPTIONS). */
#define MC_TUS_VERSION "1.0.0"
#define MC_TUS_CONTENT_TYPE "application/offset+octet-stream"

/* Upload ids: 1..MC_TUS_ID_MAX characters of [A-Za-z0-9_-]. */
#define MC_TUS_ID_MAX 64
/* Upload-Metadata: value length, pairs and key length accepted. */
#define MC_TUS_METADATA_MAX_BYTES 16384
#define MC_TUS_METADATA_MAX_PAIRS 64
#define MC_TUS_METADATA_MAX_KEY 128
/* Upload-Concat: partial uploads one final upload may name. */
#define MC_TUS_CONCAT_MAX_PARTIALS 128
/* An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") and its NUL. */
#define MC_TUS_HTTP_DATE_SIZE MC_HTTP_DATE_LEN

/* Tus-Resumable must be exactly 1.0.0; anything else (absent included) is
 * status 412, and the response must carry Tus-Version: MC_TUS_VERSION. */
int mc_tus_parse_resumable(const char *v, size_t len, mc_err *err);

/* Upload-Offset / Upload-Length: 1*DIGIT, no sign, no spaces, at most
 * INT64_MAX. */
int mc_tus_parse_offset(const char *v, size_t len, int64_t *out, mc_err *err);
int mc_tus_parse_length(const char *v, size_t len, int64_t *out, mc_err *err);

/* Upload-Defer-Length must be exactly 1. */
int mc_tus_parse_defer_length(const char *v, size_t len, mc_err *err);

/* Content-Type of a PATCH (or a POST with a body): the media type
 * application/offset+octet-stream, compared case-insensitively (RFC 9110
 * §8.3.1); parameters after ';' are allowed and ignored. Otherwise 415. */
int mc_tus_check_content_type(const char *v, size_t len, mc_err *err);

/* X-HTTP-Method-Override: one of GET HEAD POST PATCH DELETE OPTIONS
 * (case-sensitive, as methods are). *method points to a static string. */
int mc_tus_parse_method_override(const char *v, size_t len, const char **method, mc_err *err);

/* Upload-Metadata: "key base64,key2 base64,key3" — one or more pairs, spaces
 * allowed around each pair, exactly one space between key and value. Keys are
 * printable ASCII without space or comma, unique, at most
 * MC_TUS_METADATA_MAX_KEY bytes; values are strict padded Base64 and may be
 * empty (then the space may be left out). An empty header is no metadata. */
typedef struct mc_tus_meta_pair {
    const char *key;            /* NUL-terminated */
    const unsigned char *value; /* decoded bytes (binary), NUL-terminated for convenience */
    size_t value_len;
} mc_tus_meta_pair;

typedef struct mc_tus_metadata {
    mc_tus_meta_pair *pairs; /* in header order */
    size_t count;
    void *mem;               /* one block holding pairs, keys and values */
} mc_tus_metadata;

int mc_tus_parse_metadata(const char *v, size_t len, mc_tus_metadata *out, mc_err *err);
const mc_tus_meta_pair *mc_tus_metadata_get(const mc_tus_metadata *m, const char *key);
void mc_tus_metadata_free(mc_tus_metadata *m);
/* The Upload-Metadata value for pairs (canonical: "key base64" joined by
 * ',', the space left out for empty values); malloc'd into *out. Keys are
 * checked as the parser checks them, so no value can smuggle a header. */
int mc_tus_format_metadata(const mc_tus_meta_pair *pairs, size_t count, char **out, mc_err *err);

/* Upload-Concat: "partial", or "final;" and the partial uploads' URLs
 * separated by spaces. Each URL is an absolute path under base_path
 * ("/files/<id>") or an absolute http(s) URL to one; when host is not NULL
 * an absolute URL's authority must equal it (case-insensitive). Anything
 * else is malformed or foreign, and both are 400. */
typedef enum mc_tus_concat_kind {
    MC_TUS_CONCAT_PARTIAL = 1,
    MC_TUS_CONCAT_FINAL
} mc_tus_concat_kind;

typedef struct mc_tus_concat {
    mc_tus_concat_kind kind;
    size_t count; /* final: the partial uploads, in order */
    char ids[MC_TUS_CONCAT_MAX_PARTIALS][MC_TUS_ID_MAX + 1];
} mc_tus_concat;

int mc_tus_parse_concat(const char *v, size_t len, const char *base_path, const char *host,
                        mc_tus_concat *out, mc_err *err);

/* One upload URL (as in Upload-Concat, or a request path) to its id. */
int mc_tus_parse_upload_url(const char *v, size_t len, const char *base_path, const char *host,
                            char id[MC_TUS_ID_MAX + 1], mc_err *err);
bool mc_tus_id_valid(const char *id, size_t len);

/* Upload-Checksum (header or trailer): "<algorithm> <base64 digest>". An
 * algorithm outside MC_CHECKSUM_ALGORITHMS is 400, as tus requires; the
 * digest must have the algorithm's length (crc32: 4 bytes). */
typedef struct mc_tus_checksum {
    mc_checksum_alg alg;
    unsigned char digest[MC_CHECKSUM_MAX_DIGEST];
    size_t digest_len;
} mc_tus_checksum;

int mc_tus_parse_checksum(const char *v, size_t len, mc_tus_checksum *out, mc_err *err);

/* Upload-Expires: unix seconds as an RFC 9110 IMF-fixdate, e.g.
 * "Wed, 25 Jun 2014 16:00:00 GMT". Years outside 0..9999 are an error. */
int mc_tus_format_http_date(int64_t unix_seconds, char out[MC_TUS_HTTP_DATE_SIZE], mc_err *err);

#endif
