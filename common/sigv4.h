/* sigv4.h — AWS Signature Version 4, computed by mcloud itself.
 *
 * libcurl's built-in signer (CURLOPT_AWS_SIGV4, 7.88) neither sorts the query
 * nor signs x-amz-content-sha256, so S3 requests are signed here. Everything
 * is a pure function of its inputs (no clock, no I/O) so the unit tests can
 * replay AWS's published vectors. Paths follow the S3 rule: encoded once from
 * the decoded path, '/' kept, no dot-segment normalisation.
 *
 * Strings returned as char * are malloc'd and owned by the caller; NULL
 * means out of memory. */
#ifndef MCLOUD_SIGV4_H
#define MCLOUD_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define MC_SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define MC_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define MC_SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MC_SIGV4_AMZ_DATE_LEN 16 /* "20150830T123600Z" */

/* A query parameter or a header. Query names and values are decoded (they are
 * encoded here); a NULL query value is the empty value ("?uploads"). */
typedef struct mc_sigv4_pair {
    const char *name;
    const char *value;
} mc_sigv4_pair;

typedef struct mc_sigv4_request {
    const char *method;           /* "GET", "PUT", ... */
    const char *path;             /* decoded absolute path: "/bucket/my key" */
    const mc_sigv4_pair *query;
    size_t query_count;
    const mc_sigv4_pair *headers; /* every header to sign, host and x-amz-date included */
    size_t header_count;
    const char *payload_hash;     /* hex sha256 of the body, or MC_SIGV4_UNSIGNED_PAYLOAD */
} mc_sigv4_request;

typedef struct mc_sigv4_credentials {
    const char *access_key;
    const char *secret_key;
    const char *region;           /* "us-east-1" */
    const char *service;          /* "s3" */
} mc_sigv4_credentials;

/* Percent-encodes every byte but A-Z a-z 0-9 - . _ ~ (and '/' when
 * keep_slash), with upper-case hex, as SigV4 and S3 require. */
char *mc_sigv4_uri_encode(const char *s, bool keep_slash);

/* "a=1&b=x%20y": each name and value encoded, pairs sorted by name then value. */
char *mc_sigv4_canonical_query(const mc_sigv4_pair *query, size_t count);

/* "host;range;x-amz-date": lower-cased header names, sorted, duplicates once. */
char *mc_sigv4_signed_headers(const mc_sigv4_pair *headers, size_t count);

/* The six-line canonical request: method, encoded path, canonical query,
 * canonical headers (lower-cased, sorted, values trimmed with inner runs of
 * spaces collapsed, duplicates joined with ','), signed headers, payload hash. */
char *mc_sigv4_canonical_request(const mc_sigv4_request *req);

/* "20150830/us-east-1/service/aws4_request" for amz_date "20150830T123600Z". */
char *mc_sigv4_scope(const char *amz_date, const char *region, const char *service);

/* "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256 of canonical request>". */
char *mc_sigv4_string_to_sign(const char *amz_date, const char *scope,
                              const char *canonical_request);

/* kSigning = HMAC chain over "AWS4"+secret, date (YYYYMMDD), region, service,
 * "aws4_request". -1 when out of memory. */
int mc_sigv4_signing_key(const char *secret_key, const char *date8, const char *region,
                         const char *service, unsigned char key[32]);

/* Hex signature (64 chars + NUL) of the request at amz_date; -1 when out of memory. */
int mc_sigv4_signature(const mc_sigv4_credentials *cred, const mc_sigv4_request *req,
                       const char *amz_date, char signature[65]);

/* The Authorization header value: "AWS4-HMAC-SHA256 Credential=<key>/<scope>,
 * SignedHeaders=<...>, Signature=<hex>". The request's headers must carry
 * x-amz-date equal to amz_date (and, for S3, x-amz-content-sha256). */
char *mc_sigv4_authorization(const mc_sigv4_credentials *cred, const mc_sigv4_request *req,
                             const char *amz_date);

/* Query-string authentication (presigned URL): returns the full query string,
 * the request's own parameters plus X-Amz-Algorithm, -Credential, -Date,
 * -Expires, -SignedHeaders and finally -Signature. req->headers usually holds
 * just host; a NULL payload_hash signs UNSIGNED-PAYLOAD. The URL is
 * scheme://host + mc_sigv4_uri_encode(path, true) + "?" + this. */
char *mc_sigv4_presign_query(const mc_sigv4_credentials *cred, const mc_sigv4_request *req,
                             const char *amz_date, long expires_s);

/* Formats t (UTC) as "YYYYMMDDTHHMMSSZ". */
void mc_sigv4_amz_date(time_t t, char out[MC_SIGV4_AMZ_DATE_LEN + 1]);

/* Lower-case hex sha256 of data. */
void mc_sigv4_sha256_hex(const void *data, size_t len, char out[65]);

#endif
