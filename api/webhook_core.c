/* webhook_core.c — webhooks without a server: event types and filters,
 * endpoint bodies and URLs, Standard Webhooks signatures, the mapping of
 * the platform's Kafka messages to video events, the retry delays. See
 * webhook_core.h. */
#include "api/webhook_core.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "api/core.h"
#include "common/backoff.h"
#include "common/base64.h"
#include "common/json.h"
#include "common/token.h"

/* ---- event types ---------------------------------------------------------- */

static const char *const type_names[] = {"video.upload.completed", "video.ready", "video.failed",
                                         "video.deleted"};
#define NTYPES (sizeof type_names / sizeof type_names[0])

unsigned mc_wh_type_bit(const char *name) {
    for (size_t i = 0; i < NTYPES; i++)
        if (strcmp(type_names[i], name) == 0) return 1u << i;
    return 0;
}

const char *mc_wh_type_name(unsigned bit) {
    for (size_t i = 0; i < NTYPES; i++)
        if (bit == 1u << i) return type_names[i];
    return NULL;
}

unsigned mc_wh_filter_parse(const char *s) {
    unsigned mask = 0;
    char name[64];
    while (s && *s) {
        size_t n = strcspn(s, " ");
        if (n > 0 && n < sizeof name) {
            memcpy(name, s, n);
            name[n] = '\0';
            mask |= mc_wh_type_bit(name);
        }
        s += n;
        while (*s == ' ') s++;
    }
    return mask ? mask : MC_WH_ALL;
}

void mc_wh_filter_format(unsigned mask, char *buf, size_t cap) {
    /* "": every type, new ones included */
    mc_api_names_format(type_names, NTYPES, (mask & MC_WH_ALL) == MC_WH_ALL ? 0 : mask, buf, cap);
}

json_t *mc_wh_filter_json(unsigned mask) { return mc_api_names_json(type_names, NTYPES, mask); }

/* ---- URLs ------------------------------------------------------------------ */

static bool v4_private(uint32_t a) { /* host order */
    unsigned b0 = a >> 24, b1 = (a >> 16) & 0xff;
    return b0 == 0 || b0 == 10 || b0 == 127 || (b0 == 169 && b1 == 254) ||
           (b0 == 172 && (b1 & 0xf0) == 16) || (b0 == 192 && b1 == 168) ||
           (b0 == 100 && (b1 & 0xc0) == 64) || b0 >= 224;
}

bool mc_wh_addr_private(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET)
        return v4_private(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
    if (sa->sa_family != AF_INET6) return true; /* unix sockets and the rest: never */
    const unsigned char *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char zero[15] = {0};
    if (memcmp(b, mapped, 12) == 0)
        return v4_private((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15]);
    if (memcmp(b, zero, 15) == 0) return true;                  /* :: and ::1 */
    return (b[0] & 0xfe) == 0xfc ||                             /* fc00::/7 unique local */
           (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) ||           /* fe80::/10 link-local */
           b[0] == 0xff;                                        /* multicast */
}

static int bad_url(mc_err *err, const char *why) {
    return mc_err_set(err, MC_ERR_INVALID, "field 'url' %s", why);
}

static bool host_private(const char *host) {
    struct sockaddr_in s4 = {.sin_family = AF_INET};
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
    if (inet_pton(AF_INET, host, &s4.sin_addr) == 1) return mc_wh_addr_private((struct sockaddr *)&s4);
    if (inet_pton(AF_INET6, host, &s6.sin6_addr) == 1) return mc_wh_addr_private((struct sockaddr *)&s6);
    size_t n = strlen(host);
    return strcasecmp(host, "localhost") == 0 ||
           (n > 10 && strcasecmp(host + n - 10, ".localhost") == 0);
}

int mc_wh_url_check(const char *url, bool allow_private, mc_err *err) {
    size_t n = strlen(url);
    if (n == 0 || n > MC_WH_URL_MAX) return bad_url(err, "must be 1 to 2048 bytes");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
            return bad_url(err, "must be visible ASCII (percent-encode the rest)");
    const char *p;
    if (strncasecmp(url, "https://", 8) == 0) p = url + 8;
    else if (strncasecmp(url, "http://", 7) == 0) p = url + 7;
    else return bad_url(err, "must be an absolute http:// or https:// URL");
    size_t alen = strcspn(p, "/?#");
    if (memchr(p, '@', alen)) return bad_url(err, "must not hold user:password@");
    char host[256];
    const char *port = NULL;
    size_t hlen;
    if (alen > 0 && p[0] == '[') {
        const char *close = memchr(p, ']', alen);
        if (!close) return bad_url(err, "has an unclosed IPv6 [address]");
        hlen = (size_t)(close - p - 1);
        if (hlen == 0 || hlen >= sizeof host) return bad_url(err, "has a bad IPv6 [address]");
        memcpy(host, p + 1, hlen);
        host[hlen] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1) return bad_url(err, "has a bad IPv6 [address]");
        if (close + 1 < p + alen) {
            if (close[1] != ':') return bad_url(err, "has junk after the IPv6 [address]");
            port = close + 2;
        }
    } else {
        const char *colon = memchr(p, ':', alen);
        hlen = colon ? (size_t)(colon - p) : alen;
        if (hlen == 0) return bad_url(err, "has no host");
        if (hlen >= sizeof host) return bad_url(err, "has a host longer than 255 bytes");
        memcpy(host, p, hlen);
        host[hlen] = '\0';
        for (size_t i = 0; i < hlen; i++) {
            char c = host[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.'))
                return bad_url(err, "has a host with a character outside [A-Za-z0-9.-]");
        }
        if (colon) port = colon + 1;
    }
    if (port) {
        size_t plen = (size_t)(p + alen - port);
        long v = 0;
        if (plen == 0 || plen > 5) return bad_url(err, "has a bad port");
        for (size_t i = 0; i < plen; i++) {
            if (port[i] < '0' || port[i] > '9') return bad_url(err, "has a bad port");
            v = v * 10 + (port[i] - '0');
        }
        if (v < 1 || v > 65535) return bad_url(err, "has a port outside 1..65535");
    }
    if (!allow_private && host_private(host))
        return bad_url(err, "points to a loopback or private address (refused unless "
                            "webhooks.allow_private is set)");
    return 0;
}

/* ---- endpoint bodies -------------------------------------------------------- */

int mc_wh_endpoint_parse(json_t *body, bool create, bool allow_private, mc_wh_endpoint_req *r,
                         mc_err *err) {
    static const char *const allowed[] = {"url", "description", "events", "enabled", NULL};
    memset(r, 0, sizeof *r);
    if (!json_is_object(body)) return mc_err_set(err, MC_ERR_INVALID, "the body must be an object");
    if (mc_api_only_fields(body, allowed, err) < 0 ||
        mc_api_text_field(body, "url", MC_WH_URL_MAX, &r->url, err) < 0 ||
        mc_api_text_field(body, "description", MC_WH_DESCRIPTION_MAX, &r->description, err) < 0)
        return -1;
    if (create && !r->url) return mc_err_set(err, MC_ERR_INVALID, "field 'url' is required");
    if (r->url && mc_wh_url_check(r->url, allow_private, err) < 0) return -1;
    json_t *ev = json_object_get(body, "events");
    if (ev) {
        size_t i;
        json_t *t;
        if (!json_is_array(ev) || json_array_size(ev) == 0 || json_array_size(ev) > 16)
            return mc_err_set(err, MC_ERR_INVALID, "field 'events' must be a non-empty array of "
                              "video.upload.completed, video.ready, video.failed, video.deleted");
        json_array_foreach(ev, i, t) {
            unsigned bit = json_is_string(t) && strlen(json_string_value(t)) == json_string_length(t)
                               ? mc_wh_type_bit(json_string_value(t)) : 0;
            if (!bit)
                return mc_err_set(err, MC_ERR_INVALID, "field 'events' holds an unknown event type "
                                  "(known: video.upload.completed, video.ready, video.failed, "
                                  "video.deleted)");
            r->events |= bit;
        }
        r->has_events = true;
    }
    json_t *en = json_object_get(body, "enabled");
    if (en) {
        if (!json_is_boolean(en)) return mc_err_set(err, MC_ERR_INVALID, "field 'enabled' must be a boolean");
        r->has_enabled = true;
        r->enabled = json_is_true(en);
    }
    if (!create && !r->url && !r->description && !r->has_events && !r->has_enabled)
        return mc_err_set(err, MC_ERR_INVALID, "nothing to change: give url, description, events "
                                               "or enabled");
    return 0;
}

/* ---- signing ------------------------------------------------------------------ */

int mc_wh_secret_new(char out[MC_WH_SECRET_MAX], mc_err *err) {
    unsigned char key[MC_WH_SECRET_BYTES];
    if (RAND_bytes(key, sizeof key) != 1) return mc_err_set(err, MC_ERR_INTERNAL, "RAND_bytes failed");
    strcpy(out, MC_WH_SECRET_PREFIX);
    mc_base64_encode(key, sizeof key, out + strlen(MC_WH_SECRET_PREFIX));
    return 0;
}

int mc_wh_sign(const char *secret, const char *msg_id, int64_t timestamp, const void *body,
               size_t len, char out[MC_WH_SIGNATURE_MAX], mc_err *err) {
    size_t plen = strlen(MC_WH_SECRET_PREFIX);
    const char *b64 = strncmp(secret, MC_WH_SECRET_PREFIX, plen) == 0 ? secret + plen : secret;
    unsigned char key[MC_WH_SECRET_MAX];
    size_t klen = 0;
    if (strlen(b64) > 128 || mc_base64_decode(b64, strlen(b64), key, &klen, err) < 0 || klen == 0)
        return mc_err_set(err, MC_ERR_INVALID, "the webhook secret is not whsec_ + base64");
    /* The signed content: "<id>.<timestamp>.<body>". */
    char head[MC_WH_NAME_MAX + 48];
    int hn = snprintf(head, sizeof head, "%.*s.%lld.", MC_WH_NAME_MAX, msg_id, (long long)timestamp);
    unsigned char *msg = malloc((size_t)hn + len + 1);
    if (!msg) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    memcpy(msg, head, (size_t)hn);
    if (len) memcpy(msg + hn, body, len);
    mc_token_key k = {.id = "whsec", .secret = key, .secret_len = klen};
    unsigned char mac[MC_TOKEN_MAC_LEN];
    int rc = mc_token_hmac(&k, msg, (size_t)hn + len, mac, err);
    free(msg);
    if (rc < 0) return -1;
    strcpy(out, "v1,");
    mc_base64_encode(mac, sizeof mac, out + 3);
    return 0;
}

/* ---- events -------------------------------------------------------------------- */

static void event_id(const char *type, const char *source_id, char out[MC_WH_EVENT_ID_LEN + 1]) {
    unsigned char d[SHA256_DIGEST_LENGTH];
    char in[160];
    int n = snprintf(in, sizeof in, "%s|%s", type, source_id);
    SHA256((const unsigned char *)in, (size_t)n, d);
    strcpy(out, "evt_");
    for (size_t i = 0; i < 16; i++) snprintf(out + 4 + 2 * i, 3, "%02x", d[i]);
}

static int name_field(json_t *o, const char *field, char out[MC_WH_NAME_MAX + 1], mc_err *err) {
    const char *s;
    if (mc_json_get_string(o, field, true, NULL, &s, err) < 0) return -1;
    if (!mc_token_name_valid(s) || strlen(s) > MC_WH_NAME_MAX)
        return mc_err_set(err, MC_ERR_INVALID, "field '%s' must be 1 to 64 of [A-Za-z0-9_-]", field);
    snprintf(out, MC_WH_NAME_MAX + 1, "%s", s);
    return 0;
}

/* A mcloud.video.events message: {"type": "video.upload.completed" |
 * "video.failed" | "video.ready" | "video.deleted", "video_id", "tenant",
 * "job_id" (all but deletes: the upload's job id, which names the event),
 * "reason" (failed, optional)}. */
static int video_message(json_t *o, mc_wh_event *ev, mc_err *err) {
    const char *type, *reason;
    if (mc_json_get_string(o, "type", true, NULL, &type, err) < 0) return -1;
    ev->type = mc_wh_type_bit(type);
    if (!ev->type)
        return mc_err_set(err, MC_ERR_INVALID, "field 'type' must be a video event type, not '%.64s'",
                          type);
    if (ev->type == MC_WH_DELETED) {
        event_id("video.deleted", ev->video, ev->id);
        return 1;
    }
    if (name_field(o, "job_id", ev->job, err) < 0) return -1;
    if (ev->type == MC_WH_FAILED) {
        if (mc_json_get_string(o, "reason", false, "", &reason, err) < 0) return -1;
        snprintf(ev->reason, sizeof ev->reason, "%s", reason);
    }
    if (ev->type == MC_WH_READY) {
        json_t *d = json_object_get(o, "duration_s");
        ev->duration_s = json_is_number(d) && json_number_value(d) >= 0 &&
                                 json_number_value(d) < 1e9 ? json_number_value(d) : 0;
    }
    event_id(mc_wh_type_name(ev->type), ev->job, ev->id);
    return 1;
}

int mc_wh_event_from_message(mc_wh_source src, const void *value, size_t len, mc_wh_event *ev,
                             mc_err *err) {
    memset(ev, 0, sizeof *ev);
    json_t *o = mc_json_parse_object(value, len, err);
    if (!o) return -1;
    int rc = -1;
    const char *type = NULL;
    if (name_field(o, "video_id", ev->video, err) < 0 || name_field(o, "tenant", ev->tenant, err) < 0)
        goto out;
    if (src == MC_WH_SOURCE_VIDEO) {
        rc = video_message(o, ev, err);
        goto out;
    }
    if (name_field(o, "job_id", ev->job, err) < 0) goto out;
    if (mc_json_get_string(o, "type", true, NULL, &type, err) < 0) goto out;
    if (strcmp(type, "done") == 0) {
        json_t *d = json_object_get(o, "duration_s");
        ev->type = MC_WH_READY;
        ev->duration_s = json_is_number(d) && json_number_value(d) >= 0 &&
                                 json_number_value(d) < 1e9 ? json_number_value(d) : 0;
    } else if (strcmp(type, "failed") == 0) {
        bool final;
        const char *reason;
        if (mc_json_get_bool(o, "final", false, false, &final, err) < 0 ||
            mc_json_get_string(o, "reason", false, "", &reason, err) < 0)
            goto out;
        if (!final) {
            rc = 0;
            goto out;
        }
        ev->type = MC_WH_FAILED;
        snprintf(ev->reason, sizeof ev->reason, "%s", reason);
    } else {
        rc = 0; /* started, progress: no webhook */
        goto out;
    }
    event_id(mc_wh_type_name(ev->type), ev->job, ev->id);
    rc = 1;
out:
    json_decref(o);
    return rc;
}

void mc_wh_event_completed_of(const mc_wh_event *ev, mc_wh_event *out) {
    memset(out, 0, sizeof *out);
    out->type = MC_WH_UPLOAD_COMPLETED;
    memcpy(out->tenant, ev->tenant, sizeof out->tenant);
    memcpy(out->video, ev->video, sizeof out->video);
    memcpy(out->job, ev->job, sizeof out->job);
    event_id(mc_wh_type_name(out->type), out->job, out->id);
}

void mc_wh_event_deleted(const char *tenant, const char *video, mc_wh_event *ev) {
    memset(ev, 0, sizeof *ev);
    ev->type = MC_WH_DELETED;
    snprintf(ev->tenant, sizeof ev->tenant, "%s", tenant);
    snprintf(ev->video, sizeof ev->video, "%s", video);
    event_id("video.deleted", video, ev->id);
}

json_t *mc_wh_event_payload(const mc_wh_event *ev, int64_t ts_us) {
    char db[32], iso[32];
    mc_api_time_to_db(ts_us, db);
    mc_api_time_from_db(db, iso);
    json_t *data = json_object();
    json_object_set_new(data, "video_id", json_string(ev->video));
    static const char *const status[] = {"uploaded", "ready", "failed", "deleted"};
    for (size_t i = 0; i < NTYPES; i++)
        if (ev->type == 1u << i) json_object_set_new(data, "status", json_string(status[i]));
    if (ev->type == MC_WH_READY && ev->duration_s > 0)
        json_object_set_new(data, "duration_s", json_real(ev->duration_s));
    if (ev->type == MC_WH_FAILED)
        json_object_set_new(data, "failure_reason", mc_json_string_lossy(ev->reason, strlen(ev->reason)));
    json_t *p = json_object();
    json_object_set_new(p, "type", json_string(mc_wh_type_name(ev->type)));
    json_object_set_new(p, "timestamp", json_string(iso));
    json_object_set_new(p, "data", data);
    return p;
}

/* ---- retries --------------------------------------------------------------------- */

unsigned mc_wh_retry_delay_ms(unsigned initial_ms, unsigned max_ms, unsigned failures,
                              uint32_t rnd) {
    return mc_backoff_delay_ms(initial_ms, max_ms, failures ? failures - 1 : 0, rnd);
}
