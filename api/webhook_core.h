/* webhook_core.h — the pure logic of mcloud-api's webhooks (part of
 * mcloud_api_core: unit tests and fuzz targets link it without a stack).
 *
 *   event types     the four video events and an endpoint's filter of them
 *   endpoint bodies POST/PATCH /v1/webhooks, field by field; the URL's
 *                   grammar and, unless private addresses are allowed, its
 *                   literal host (the address actually connected to is
 *                   checked again at delivery: mc_wh_addr_private)
 *   signing         Standard Webhooks (www.standardwebhooks.com): secrets
 *                   "whsec_" + base64 of 24 random bytes; webhook-signature
 *                   "v1," + base64(HMAC-SHA256(key, id.timestamp.body))
 *   events          the Kafka messages the webhooks consume (mcloud.video.events:
 *                   the upload's completed and failed and mcloud-api's
 *                   deletes, written through their outboxes; the
 *                   transcoder's done and final failed events)
 *                   mapped to video events with a deterministic id, and the
 *                   payload receivers get
 *   retries         the delay before attempt n (common/backoff)
 * Every parser rejects bad input with MC_ERR_INVALID and a message naming
 * the field. */
#ifndef MCLOUD_API_WEBHOOK_CORE_H
#define MCLOUD_API_WEBHOOK_CORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct sockaddr;

/* ---- event types ---- */
enum {
    MC_WH_UPLOAD_COMPLETED = 1u << 0,
    MC_WH_READY = 1u << 1,
    MC_WH_FAILED = 1u << 2,
    MC_WH_DELETED = 1u << 3,
    MC_WH_ALL = 0xf
};
/* "video.ready" → its bit, 0 when unknown. */
unsigned mc_wh_type_bit(const char *name);
const char *mc_wh_type_name(unsigned bit); /* one bit → name, NULL otherwise */
/* A stored filter ("video.ready video.failed"; "" = every type) → mask. */
unsigned mc_wh_filter_parse(const char *s);
void mc_wh_filter_format(unsigned mask, char *buf, size_t cap); /* 96 bytes suffice */
json_t *mc_wh_filter_json(unsigned mask);                       /* every type when mask is ALL */

/* ---- endpoint bodies ---- */
#define MC_WH_URL_MAX 2048
#define MC_WH_DESCRIPTION_MAX 512

typedef struct mc_wh_endpoint_req {
    const char *url;         /* NULL: absent (PATCH) */
    const char *description; /* NULL: absent */
    bool has_events;
    unsigned events;         /* the filter when has_events */
    bool has_enabled;
    bool enabled;
} mc_wh_endpoint_req;

/* POST (create: url required) or PATCH (at least one field) of an endpoint:
 * url, description, events (a non-empty array of known types), enabled;
 * nothing else. The URL is checked with mc_wh_url_check. */
int mc_wh_endpoint_parse(json_t *body, bool create, bool allow_private, mc_wh_endpoint_req *r,
                         mc_err *err);
/* An absolute http(s) URL of at most 2048 bytes, visible ASCII, a host,
 * no user:password@, a port 1..65535 if given. Without allow_private a
 * literal loopback, private, link-local or unspecified address (and
 * "localhost") is refused: "field 'url' ...". */
int mc_wh_url_check(const char *url, bool allow_private, mc_err *err);
/* Whether an address is loopback, private (RFC 1918, ULA), link-local,
 * CGNAT, unspecified or multicast (IPv4-mapped IPv6 included). */
bool mc_wh_addr_private(const struct sockaddr *sa);

/* ---- signing ---- */
#define MC_WH_SECRET_PREFIX "whsec_"
#define MC_WH_SECRET_BYTES 24
#define MC_WH_SECRET_MAX 128
#define MC_WH_SIGNATURE_MAX 64 /* "v1," + 44 characters + NUL */

/* A new random secret ("whsec_" + 32 characters). */
int mc_wh_secret_new(char out[MC_WH_SECRET_MAX], mc_err *err);
/* The webhook-signature value for message id, unix timestamp and body. */
int mc_wh_sign(const char *secret, const char *msg_id, int64_t timestamp, const void *body,
               size_t len, char out[MC_WH_SIGNATURE_MAX], mc_err *err);

/* ---- events ---- */
#define MC_WH_EVENT_ID_LEN 36 /* "evt_" + 32 hex */
#define MC_WH_NAME_MAX 64

typedef enum mc_wh_source {
    MC_WH_SOURCE_VIDEO,     /* video.events_topic: the upload's completed and failed */
    MC_WH_SOURCE_TRANSCODE  /* transcode.events_topic: done and final failed */
} mc_wh_source;

typedef struct mc_wh_event {
    char id[MC_WH_EVENT_ID_LEN + 1];
    unsigned type;                   /* one MC_WH_* bit */
    char tenant[MC_WH_NAME_MAX + 1];
    char video[MC_WH_NAME_MAX + 1];
    char job[MC_WH_NAME_MAX + 1];    /* "" for deletes */
    char reason[512];                /* video.failed */
    double duration_s;               /* video.ready, 0 if unknown */
} mc_wh_event;

/* One Kafka message → 1 with ev filled, 0 when it is no webhook event
 * (progress, a retried failure), -1 (MC_ERR_INVALID) when malformed. */
int mc_wh_event_from_message(mc_wh_source src, const void *value, size_t len, mc_wh_event *ev,
                             mc_err *err);
/* The video.upload.completed event a ready or failed event implies (same
 * job, same id as the one the video events topic gives): stored first, so a video's
 * events keep their order even when the transcoder's topic is read first. */
void mc_wh_event_completed_of(const mc_wh_event *ev, mc_wh_event *out);
/* The event of a deleted video (its id derives from the video id, as for a
 * video.deleted message of the video events topic). */
void mc_wh_event_deleted(const char *tenant, const char *video, mc_wh_event *ev);
/* {"type", "timestamp" (RFC 3339 of ts_us), "data": {"video_id", ...}}. */
json_t *mc_wh_event_payload(const mc_wh_event *ev, int64_t ts_us);

/* ---- retries ---- */
/* Milliseconds before retry number `failures` (1 = after the first failed
 * attempt): initial·2^(failures-1), capped at max, jittered into [d/2, d]. */
unsigned mc_wh_retry_delay_ms(unsigned initial_ms, unsigned max_ms, unsigned failures,
                              uint32_t rnd);

#endif
