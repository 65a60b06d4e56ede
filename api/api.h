/* api.h — mcloud-api, the consumer REST API: the server, the per-request
 * context every handler receives, and the handlers' entry points.
 *
 * A handler fills an mc_api_resp (status, JSON body, a Location) or a
 * problem; dispatch.c owns everything around it: the request id, the API
 * key and its scopes, the rate limit, Idempotency-Key replay, the
 * problem+json rendering and the log line. */
#ifndef MCLOUD_API_API_H
#define MCLOUD_API_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/core.h"
#include "api/webhook_core.h"
#include "common/kafka.h"
#include "common/outbox.h"
#include "common/playback.h"
#include "common/s3_pool.h"
#include "common/service.h"

#define MC_API_BODY_MAX (64 * 1024)

typedef struct mc_api_settings {
    char public_url[256];
    char upload_public_url[256];
    char stream_public_url[256];
    long rate_per_s, rate_burst;
    long upload_ttl_s, stream_url_ttl_s;
    long long upload_max_size;
    char token_key_id[MC_TOKEN_NAME_MAX + 1];
    char token_secret[256];
    char cursor_secret[256];
    bool webhooks_allow_private;
    char console_dir[1024];   /* the web console's files (api/console/) */
} mc_api_settings;

typedef struct mc_api_webhooks mc_api_webhooks; /* webhook_run.c */

typedef struct mc_api_server {
    mc_service svc;
    mc_api_settings set;
    mc_s3_config s3cfg;
    mc_s3_pool *s3;
    mc_token_key playback_keys[MC_PLAYBACK_MAX_KEYS];
    size_t playback_nkeys;
    mc_token_key cursor_key, token_key;
    char *openapi_json;       /* the served document */
    size_t openapi_len;
    mc_api_webhooks *webhooks;
    char video_topic[256];    /* video.events_topic: deletes go out on it */
    mc_outbox_publisher *outbox; /* publishes the outbox (nudged by deletes) */
} mc_api_server;

/* Who is calling (from the API key). */
typedef struct mc_api_caller {
    char tenant[MC_TOKEN_NAME_MAX + 1];
    char key_id[64];
    unsigned scopes;
} mc_api_caller;

typedef struct mc_api_ctx {
    mc_api_server *srv;
    mc_http_req *req;
    char request_id[130];
    mc_api_caller caller;
    const char *segs[6];      /* the path after /v1/, split at '/' */
    const char *id2;          /* a route's second "{}" segment */
    size_t nsegs;
    char *path_copy;
    mc_api_query query;
    json_t *body;             /* parsed JSON body of POST/PATCH, or NULL */
} mc_api_ctx;

typedef struct mc_api_resp {
    int status;
    json_t *body;             /* owned; NULL: no body (204) */
    char location[512];
    const char *content_type; /* NULL: application/json (problem+json for problems) */
    bool raw;                 /* body_raw instead of body (the OpenAPI document) */
    const char *body_raw;
    size_t body_raw_len;
    bool replayed;            /* an Idempotency-Key replay */
} mc_api_resp;

/* Fills r with a problem and returns -1 (handlers: return mc_api_fail(...)). */
int mc_api_fail(mc_api_resp *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A failed call: MC_ERR_INVALID → 400 "invalid_request" (or code), NOT_FOUND → 404,
 * CONFLICT → 409, UNAVAILABLE → 503, others → 500 (the detail is logged, not shown). */
int mc_api_fail_err(mc_api_ctx *c, mc_api_resp *r, const mc_err *err);
int mc_api_ok(mc_api_resp *r, int status, json_t *body);
/* A list page: 200 {"data": data, "next_cursor"}: the cursor of last (bound
 * to the caller's tenant), or null when last is NULL. Takes data. */
int mc_api_page(mc_api_ctx *c, mc_api_resp *r, json_t *data, const mc_api_cursor *last);

/* dispatch.c */
int mc_api_routes(mc_api_server *srv, mc_err *err);

/* auth.c: the caller of an Authorization header; -1 with a 401 problem. */
int mc_api_authenticate(mc_api_ctx *c, mc_api_resp *r);
/* ratelimit.c: 0 to go on; -1 with a 429 problem; headers for the answer. */
typedef struct mc_api_rate {
    bool known;
    long limit, remaining, reset_s, retry_after_s;
} mc_api_rate;
int mc_api_rate_take(mc_api_ctx *c, mc_api_rate *rate, mc_api_resp *r);
/* idempotency.c */
typedef struct mc_api_idem {
    bool active;              /* a key was given and this request owns it */
    char key[256];
    char hash[65];
} mc_api_idem;
/* 0: go on (idem->active when this request must store its answer);
 * 1: r holds the replayed or refused answer. */
int mc_api_idem_begin(mc_api_ctx *c, mc_api_idem *idem, mc_api_resp *r);
void mc_api_idem_finish(mc_api_ctx *c, mc_api_idem *idem, const mc_api_resp *r);

/* Handlers (videos.c, uploads.c, keys.c). */
int mc_api_videos_list(mc_api_ctx *c, mc_api_resp *r);
int mc_api_video_get(mc_api_ctx *c, mc_api_resp *r, const char *id);
int mc_api_video_patch(mc_api_ctx *c, mc_api_resp *r, const char *id);
int mc_api_video_delete(mc_api_ctx *c, mc_api_resp *r, const char *id);
int mc_api_video_playback(mc_api_ctx *c, mc_api_resp *r, const char *id);
int mc_api_uploads_create(mc_api_ctx *c, mc_api_resp *r);
int mc_api_keys_create(mc_api_ctx *c, mc_api_resp *r);
int mc_api_keys_list(mc_api_ctx *c, mc_api_resp *r);
int mc_api_keys_revoke(mc_api_ctx *c, mc_api_resp *r, const char *id);

/* webhooks.c: endpoints, the delivery log, replay (scope webhooks). */
int mc_api_webhooks_create(mc_api_ctx *c, mc_api_resp *r);
int mc_api_webhooks_list(mc_api_ctx *c, mc_api_resp *r);
int mc_api_webhook_get(mc_api_ctx *c, mc_api_resp *r, const char *id);
int mc_api_webhook_patch(mc_api_ctx *c, mc_api_resp *r, const char *id);
int mc_api_webhook_delete(mc_api_ctx *c, mc_api_resp *r, const char *id);
int mc_api_webhook_rotate(mc_api_ctx *c, mc_api_resp *r, const char *id);
int mc_api_webhook_deliveries(mc_api_ctx *c, mc_api_resp *r, const char *id);
int mc_api_webhook_retry(mc_api_ctx *c, mc_api_resp *r, const char *id); /* c->id2: delivery */

/* usage.c: GET /v1/usage; the Redis key counting the caller's calls today
 * (ratelimit.c increments it). */
int mc_api_usage(mc_api_ctx *c, mc_api_resp *r);
int mc_api_usage_key(mc_api_ctx *c, char *buf, size_t len);

/* webhook_run.c: the ingest and sender threads (webhooks.* settings). */
int mc_api_webhooks_start(mc_api_server *srv, mc_err *err);
void mc_api_webhooks_nudge(mc_api_server *srv);
void mc_api_webhooks_stop(mc_api_server *srv);

/* openapi.c: the YAML document as JSON text (malloc'd). */
int mc_api_openapi_load(const char *path, char **json, size_t *len, mc_err *err);

#endif
