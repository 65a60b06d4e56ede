/* s3.h — the S3 client every mcloud service uses (objects, multipart uploads).
 *
 * Built on libcurl with our own SigV4 signer (common/sigv4.h) and libxml2 for
 * the XML bodies. Object bodies always stream through callbacks: the client
 * never holds a whole object in memory, only XML documents (listings, errors).
 *
 * Thread safety: an mc_s3 handle owns one CURL easy handle and so one kept-alive
 * connection; it must be used by one thread at a time. Give each thread its
 * own handle (mc_s3_new is safe to call from any thread; the libcurl and
 * libxml2 global initialisation happens once inside it). A handle can be used
 * for any number of sequential requests and reuses its connection.
 *
 * Errors: MC_ERR_NOT_FOUND for 404 / NoSuchKey / NoSuchUpload / NoSuchBucket,
 * MC_ERR_AUTH for SignatureDoesNotMatch / InvalidAccessKeyId, MC_ERR_CONFLICT
 * for 409 / 412, MC_ERR_REMOTE for any other S3 error (err->status is the HTTP
 * status, err->code the S3 code), MC_ERR_UNAVAILABLE when the server cannot be
 * reached or the connection fails, MC_ERR_INVALID for bad arguments. Requests
 * whose body can be replayed are retried (config.max_retries) on network
 * errors and 500/502/503/504; streamed uploads are not. */
#ifndef MCLOUD_S3_H
#define MCLOUD_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "common/config.h"
#include "common/error.h"

#define MC_S3_ETAG_MAX 128
#define MC_S3_UPLOAD_ID_MAX 512
#define MC_S3_KEY_MAX 1024
#define MC_S3_RANGE_END UINT64_MAX /* a range's last byte: "to the end of the object" */

typedef struct mc_s3_config {
    char endpoint[256];      /* scheme://host[:port], e.g. "http://127.0.0.1:19000" */
    char region[64];
    char bucket[64];
    char access_key[128];
    char secret_key[128];
    bool path_style;         /* true: host/bucket/key; false: bucket.host/key */
    long connect_timeout_ms;
    long stall_timeout_s;    /* a transfer moving < 1 byte/s for this long fails */
    int max_retries;         /* extra attempts for replayable requests */
    long transfer_buffer;    /* libcurl's socket read and write chunk in bytes; 0: 256 KiB.
                                Each handle holds two while it works: a daemon with many
                                concurrent transfers trades a little speed for memory */
} mc_s3_config;

typedef struct mc_s3 mc_s3;

/* Fills the body of an upload: writes up to cap bytes into buf and returns how
 * many, 0 at the end, or -1 to abort the request. */
typedef ssize_t (*mc_s3_read_fn)(void *ctx, char *buf, size_t cap);
/* Receives the next len bytes of a downloaded body; returns 0, or -1 to abort. */
typedef int (*mc_s3_write_fn)(void *ctx, const char *data, size_t len);

/* Inclusive byte range; last = MC_S3_RANGE_END reads to the end. */
typedef struct mc_s3_range {
    uint64_t first;
    uint64_t last;
} mc_s3_range;

typedef struct mc_s3_object_info {
    int status;                   /* HTTP status (200, 206) */
    uint64_t content_length;      /* bytes in this response (HEAD: the object size) */
    uint64_t object_size;         /* the whole object's size */
    char etag[MC_S3_ETAG_MAX];    /* without the surrounding quotes */
    char content_type[128];
    char content_range[128];      /* "bytes 0-9/1234" for a ranged GET, else "" */
    char last_modified[64];       /* as sent: "Wed, 21 Oct 2015 07:28:00 GMT" */
    time_t last_modified_time;    /* the same, parsed; 0 if absent */
} mc_s3_object_info;

typedef struct mc_s3_list_params {
    const char *prefix;             /* NULL: every key */
    const char *delimiter;          /* NULL: no grouping */
    const char *continuation_token; /* NULL: first page */
    int max_keys;                   /* 0: the server's default (1000) */
} mc_s3_list_params;

typedef struct mc_s3_object_entry {
    char *key;
    uint64_t size;
    char etag[MC_S3_ETAG_MAX];
    char last_modified[40];       /* ISO 8601, as listed */
} mc_s3_object_entry;

typedef struct mc_s3_list_result {
    mc_s3_object_entry *objects;
    size_t object_count;
    char **common_prefixes;
    size_t prefix_count;
    bool truncated;
    char *next_continuation_token; /* NULL on the last page */
} mc_s3_list_result;

typedef struct mc_s3_part {
    int number;                   /* 1..10000 */
    char etag[MC_S3_ETAG_MAX];
    uint64_t size;                /* filled by mc_s3_list_parts */
} mc_s3_part;

typedef struct mc_s3_parts_result {
    mc_s3_part *parts;
    size_t count;
    bool truncated;
    int next_part_number_marker;
} mc_s3_parts_result;

typedef struct mc_s3_multipart_entry {
    char *key;
    char *upload_id;
    char initiated[40];           /* ISO 8601, as listed */
    time_t initiated_time;        /* the same, parsed; 0 if absent */
} mc_s3_multipart_entry;

typedef struct mc_s3_multipart_list {
    mc_s3_multipart_entry *uploads;
    size_t count;
    bool truncated;
    char *next_key_marker;        /* NULL on the last page */
    char *next_upload_id_marker;
} mc_s3_multipart_list;

/* Where a request goes: the URL without query, the Host header, and the
 * decoded path that is signed. Exposed so both addressing styles are tested. */
typedef struct mc_s3_location {
    char *url;
    char *host;
    char *path;
} mc_s3_location;

/* ---- configuration and handles ------------------------------------------ */

/* Defaults: region us-east-1, path style, 5 s connect timeout, 60 s stall
 * timeout, 2 retries; endpoint, bucket and keys empty. */
void mc_s3_config_init(mc_s3_config *cfg);
/* The s3.* settings of the configuration (environment > Redis > default,
 * see config.h). Fails (MC_ERR_INVALID) on a malformed value. */
int mc_s3_config_from(mc_config *config, mc_s3_config *cfg, mc_err *err);

mc_s3 *mc_s3_new(const mc_s3_config *cfg, mc_err *err);
void mc_s3_free(mc_s3 *s3);

/* key NULL addresses the bucket itself. */
int mc_s3_locate(const mc_s3_config *cfg, const char *key, mc_s3_location *loc, mc_err *err);
void mc_s3_location_free(mc_s3_location *loc);

/* ---- objects ------------------------------------------------------------ */

/* A small body from memory, signed with its sha256. etag may be NULL. */
int mc_s3_put_object(mc_s3 *s3, const char *key, const void *data, size_t len,
                     const char *content_type, char etag[MC_S3_ETAG_MAX], mc_err *err);
/* A body of exactly len bytes pulled from read (UNSIGNED-PAYLOAD). */
int mc_s3_put_object_stream(mc_s3 *s3, const char *key, uint64_t len, mc_s3_read_fn read,
                            void *ctx, const char *content_type, char etag[MC_S3_ETAG_MAX],
                            mc_err *err);
/* The object (or range of it) pushed into write. range may be NULL; info may
 * be NULL. write only ever sees the body of a successful response, and info
 * is filled before write's first call (so a streaming reader knows the size
 * and validators from the first bytes on; an empty body gets no write call). */
int mc_s3_get_object(mc_s3 *s3, const char *key, const mc_s3_range *range, mc_s3_write_fn write,
                     void *ctx, mc_s3_object_info *info, mc_err *err);
int mc_s3_head_object(mc_s3 *s3, const char *key, mc_s3_object_info *info, mc_err *err);
/* key becomes a server-side copy of source_key (same bucket, its content type
 * kept; up to 5 GiB, S3's limit for one CopyObject). etag may be NULL. */
int mc_s3_copy_object(mc_s3 *s3, const char *key, const char *source_key, char etag[MC_S3_ETAG_MAX],
                      mc_err *err);
/* Succeeds whether or not the key existed (S3 semantics). */
int mc_s3_delete_object(mc_s3 *s3, const char *key, mc_err *err);
/* Deletes every object under prefix except those under keep (NULL: none
 * kept), page by page; goes on past a failed delete and returns -1 with the
 * last error if anything failed. */
int mc_s3_delete_prefix(mc_s3 *s3, const char *prefix, const char *keep, mc_err *err);
/* One page of ListObjectsV2; free out with mc_s3_list_result_free. */
int mc_s3_list_objects(mc_s3 *s3, const mc_s3_list_params *params, mc_s3_list_result *out,
                       mc_err *err);
void mc_s3_list_result_free(mc_s3_list_result *r);
/* A presigned GET URL for key, valid expires_s seconds from now. */
char *mc_s3_presign_get(mc_s3 *s3, const char *key, long expires_s, time_t now, mc_err *err);

/* ---- multipart uploads -------------------------------------------------- */

int mc_s3_create_multipart_upload(mc_s3 *s3, const char *key, const char *content_type,
                                  char upload_id[MC_S3_UPLOAD_ID_MAX], mc_err *err);
int mc_s3_upload_part(mc_s3 *s3, const char *key, const char *upload_id, int part_number,
                      const void *data, size_t len, char etag[MC_S3_ETAG_MAX], mc_err *err);
int mc_s3_upload_part_stream(mc_s3 *s3, const char *key, const char *upload_id, int part_number,
                             uint64_t len, mc_s3_read_fn read, void *ctx,
                             char etag[MC_S3_ETAG_MAX], mc_err *err);
/* Push mode: a streamed UploadPart of len bytes driven by the caller's own
 * thread, for a body that arrives in pieces from elsewhere (an HTTP
 * server's request buffer). Each mc_s3_push_write hands its bytes to
 * libcurl, which copies them into its send buffer and sends what the socket
 * takes before the call returns; between writes the transfer is paused
 * (CURL_READFUNC_PAUSE). No thread, no pipe and no buffer of the caller's:
 * the caller waiting in write is the back-pressure. mc_s3_push_finish
 * (after exactly len bytes) waits for the answer and frees the push;
 * mc_s3_push_abort drops it (the part is not uploaded). The push uses a
 * second connection of the handle; one push per handle at a time, and the
 * handle's other requests stay usable meanwhile from the same thread. Not
 * retried (the body cannot be replayed). key and upload_id must outlive
 * the push. */
typedef struct mc_s3_push mc_s3_push;
mc_s3_push *mc_s3_upload_part_push(mc_s3 *s3, const char *key, const char *upload_id,
                                   int part_number, uint64_t len, mc_err *err);
int mc_s3_push_write(mc_s3_push *p, const char *data, size_t len, mc_err *err);
int mc_s3_push_finish(mc_s3_push *p, char etag[MC_S3_ETAG_MAX], mc_err *err);
void mc_s3_push_abort(mc_s3_push *p);
/* Part part_number of key's upload is copied from source_key (same bucket),
 * whole or the inclusive source_range (whose last byte must be explicit). */
int mc_s3_upload_part_copy(mc_s3 *s3, const char *key, const char *upload_id, int part_number,
                           const char *source_key, const mc_s3_range *source_range,
                           char etag[MC_S3_ETAG_MAX], mc_err *err);
/* One page of parts after part_number_marker (0: from the start); max_parts 0
 * means the server's default (1000). Free out with mc_s3_parts_result_free. */
int mc_s3_list_parts(mc_s3 *s3, const char *key, const char *upload_id, int part_number_marker,
                     int max_parts, mc_s3_parts_result *out, mc_err *err);
void mc_s3_parts_result_free(mc_s3_parts_result *r);
/* parts in ascending part number; etag (the object's) may be NULL. */
int mc_s3_complete_multipart_upload(mc_s3 *s3, const char *key, const char *upload_id,
                                    const mc_s3_part *parts, size_t count,
                                    char etag[MC_S3_ETAG_MAX], mc_err *err);
/* One page of the unfinished multipart uploads under prefix (NULL: all),
 * after key_marker / upload_id_marker (NULL: from the start). MinIO
 * honours a prefix only when it is a whole key: list all and filter. */
int mc_s3_list_multipart_uploads(mc_s3 *s3, const char *prefix, const char *key_marker,
                                 const char *upload_id_marker, mc_s3_multipart_list *out,
                                 mc_err *err);
void mc_s3_multipart_list_free(mc_s3_multipart_list *l);
int mc_s3_abort_multipart_upload(mc_s3 *s3, const char *key, const char *upload_id,
                                 mc_err *err);

#endif
