/* core.h — mcloud-api's pure logic: everything that reads client input or
 * shapes an answer without touching a server, so unit tests and fuzz
 * targets link it (mcloud_api_core) without a stack.
 *
 *   problem.c  RFC 9457 problem+json bodies with a stable code
 *   query.c    the query string: split, percent-decode, typed list filters
 *   cursor.c   opaque, HMAC-signed pagination cursors
 *   body.c     request bodies: video edits (title, description, metadata),
 *              direct uploads, API keys; scopes; RFC 3339 times
 * Every parser rejects bad input with MC_ERR_INVALID and a message naming
 * the field, ready for a 400 problem. */
#ifndef MCLOUD_API_CORE_H
#define MCLOUD_API_CORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/json.h"
#include "common/token.h"

/* ---- problems (problem.c) ---- */
#define MC_API_PROBLEM_BASE MC_PROBLEM_TYPE_BASE /* common/json.h */
/* {"type": base+code, "title", "status", "detail", "code"}; detail may hold
 * any bytes (invalid UTF-8 is replaced). */
json_t *mc_api_problem(int status, const char *code, const char *detail);
const char *mc_api_status_title(int status);

/* ---- query strings (query.c) ---- */
#define MC_API_QUERY_MAX_PARAMS 16
#define MC_API_QUERY_MAX_BYTES 2048
#define MC_API_LIST_DEFAULT_LIMIT 20
#define MC_API_LIST_MAX_LIMIT 100
#define MC_API_CURSOR_MAX 160

typedef struct mc_api_param {
    char *name, *value; /* percent-decoded, NUL-terminated, no NUL inside */
} mc_api_param;

typedef struct mc_api_query {
    size_t count;
    mc_api_param params[MC_API_QUERY_MAX_PARAMS];
} mc_api_query;

/* Splits "a=1&b=x%20y" (len bytes). '+' is a space. A name twice, an empty
 * name, a bad %-escape, a NUL, over MC_API_QUERY_MAX_PARAMS parameters or
 * MC_API_QUERY_MAX_BYTES bytes are refused. */
int mc_api_query_parse(const char *qs, size_t len, mc_api_query *q, mc_err *err);
void mc_api_query_free(mc_api_query *q);
const char *mc_api_query_get(const mc_api_query *q, const char *name);
/* Refuses any parameter not in allowed (NULL-terminated). */
int mc_api_query_only(const mc_api_query *q, const char *const *allowed, mc_err *err);
/* A decimal integer parameter in [min, max]; absent: fallback. */
int mc_api_query_int(const mc_api_query *q, const char *name, long long min, long long max,
                     long long fallback, long long *out, mc_err *err);

typedef enum mc_api_video_status {
    MC_API_STATUS_ANY = 0,
    MC_API_STATUS_UPLOADING,
    MC_API_STATUS_UPLOADED,
    MC_API_STATUS_TRANSCODING,
    MC_API_STATUS_READY,
    MC_API_STATUS_FAILED
} mc_api_video_status;
const char *mc_api_status_name(mc_api_video_status s);

/* GET /v1/videos: limit, cursor, status, created_after, created_before. */
typedef struct mc_api_list_params {
    long long limit;
    const char *cursor;         /* points into the query; NULL: first page */
    mc_api_video_status status;
    int64_t created_after_us;   /* exclusive; INT64_MIN: none */
    int64_t created_before_us;  /* exclusive; INT64_MAX: none */
} mc_api_list_params;
int mc_api_list_params_parse(const mc_api_query *q, mc_api_list_params *p, mc_err *err);

/* GET /v1/usage: from, to (inclusive days, YYYY-MM-DD, UTC; default the
 * last 30 days up to today), granularity (only "day"). At most
 * MC_API_USAGE_MAX_DAYS days; from after to is refused. today_us: now. */
#define MC_API_USAGE_MAX_DAYS 92
typedef struct mc_api_usage_params {
    int64_t from_us, to_us; /* midnight of from; midnight after to (exclusive) */
    int days;
} mc_api_usage_params;
int mc_api_usage_params_parse(const mc_api_query *q, int64_t today_us, mc_api_usage_params *p,
                              mc_err *err);

/* ---- cursors (cursor.c) ----
 * A cursor names the last row of a page (created_at in microseconds, id)
 * and is bound to the tenant; it is base64url(payload).base64url(HMAC):
 * a forged or edited cursor, or another tenant's, is MC_ERR_INVALID. */
#define MC_API_ID_MAX 64
typedef struct mc_api_cursor {
    int64_t created_us;
    char id[MC_API_ID_MAX + 1];
} mc_api_cursor;
int mc_api_cursor_encode(const mc_token_key *key, const char *tenant, const mc_api_cursor *c,
                         char out[MC_API_CURSOR_MAX], mc_err *err);
int mc_api_cursor_decode(const mc_token_key *key, const char *tenant, const char *s,
                         mc_api_cursor *c, mc_err *err);

/* ---- bodies (body.c) ---- */
#define MC_API_TITLE_MAX 512
#define MC_API_DESCRIPTION_MAX 5000
#define MC_API_META_MAX_PAIRS 32
#define MC_API_META_KEY_MAX 64
#define MC_API_META_VALUE_MAX 512
#define MC_API_KEY_NAME_MAX 255

/* The editable fields of a video; absent fields are NULL (metadata: the
 * whole object replaces the old one; JSON null clears it). */
typedef struct mc_api_video_edit {
    const char *title, *description; /* point into the body */
    bool has_metadata;
    json_t *metadata;                /* borrowed from the body; NULL when cleared */
} mc_api_video_edit;
/* PATCH /v1/videos/{id}: title, description, metadata; nothing else. */
int mc_api_video_edit_parse(json_t *body, mc_api_video_edit *e, mc_err *err);
/* Only the metadata object: at most 32 pairs, keys 1..64 of [A-Za-z0-9_.:-],
 * string values up to 512 bytes. */
int mc_api_metadata_check(json_t *meta, mc_err *err);

/* POST /v1/uploads: the video fields plus max_size_bytes, expires_in_s. */
typedef struct mc_api_upload_request {
    mc_api_video_edit video;
    long long max_size_bytes;        /* 0: the server's largest */
    long long expires_in_s;          /* 0: the server's default */
} mc_api_upload_request;
int mc_api_upload_request_parse(json_t *body, long long max_size, long long max_expiry_s,
                                mc_api_upload_request *r, mc_err *err);

/* Shared by every body parser: refuses a field not in allowed
 * (NULL-terminated); reads an optional string field of at most max bytes
 * without NUL (*out NULL when absent). Errors name the field. */
int mc_api_only_fields(json_t *body, const char *const *allowed, mc_err *err);
int mc_api_text_field(json_t *body, const char *field, size_t max, const char **out, mc_err *err);
/* A bit set over a table of names (bit i = names[i]): space-separated text
 * (stops before overflowing cap) or a JSON array. */
void mc_api_names_format(const char *const *names, size_t n, unsigned mask, char *buf, size_t cap);
json_t *mc_api_names_json(const char *const *names, size_t n, unsigned mask);

/* Scopes as a bit set. */
enum {
    MC_API_SCOPE_VIDEOS_READ = 1u << 0,
    MC_API_SCOPE_VIDEOS_WRITE = 1u << 1,
    MC_API_SCOPE_WEBHOOKS = 1u << 2,
    MC_API_SCOPE_ADMIN = 1u << 3,
    MC_API_SCOPE_ALL = 0xf
};
/* "videos:read admin" → mask; an unknown name is an error. */
int mc_api_scopes_parse(const char *s, unsigned *mask, mc_err *err);
/* mask → "videos:read videos:write" (buf of 64 bytes suffices). */
void mc_api_scopes_format(unsigned mask, char *buf, size_t cap);
json_t *mc_api_scopes_json(unsigned mask);

/* POST /v1/api-keys: name (optional), scopes (a non-empty array). */
typedef struct mc_api_key_request {
    const char *name;
    unsigned scopes;
} mc_api_key_request;
int mc_api_key_request_parse(json_t *body, mc_api_key_request *r, mc_err *err);

/* An Idempotency-Key header: 1..255 bytes of visible ASCII. */
bool mc_api_idempotency_key_valid(const char *s);
/* An X-Request-Id a client may choose: 1..128 of [A-Za-z0-9._-]. */
bool mc_api_request_id_valid(const char *s);
/* A video id: a lowercase UUID (36 characters). */
bool mc_api_video_id_valid(const char *s);

/* RFC 3339 ("2026-01-31T12:00:00Z", fraction and +hh:mm allowed) → unix µs. */
int mc_api_time_parse(const char *s, int64_t *us, mc_err *err);
/* MySQL "YYYY-MM-DD HH:MM:SS[.ffffff]" (UTC) → "YYYY-MM-DDTHH:MM:SS.ffffffZ";
 * out holds 32 bytes. Returns 0, or -1 on a malformed value. */
int mc_api_time_from_db(const char *db, char out[32]);
/* Unix µs → MySQL "YYYY-MM-DD HH:MM:SS.ffffff" (out: 32 bytes). */
void mc_api_time_to_db(int64_t us, char out[32]);

#endif
