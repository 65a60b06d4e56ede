/* serve.c — mcloud-stream's answers. GET and HEAD of
 * /v/<video>/<cred>/<path> run, in order: the path grammar (paths.c; 404),
 * the video's row (videos.c; 404 unless ready or playable), the signed credential
 * (common/playback; 403), the player page when path is "", else the object
 * from the disk cache (cache.c; 404 / 503), preconditions (304 / 412),
 * If-Range and Range (range.c; 206, multipart/byteranges, 416).
 *
 * A finished cache file is answered from its descriptor, which
 * libmicrohttpd sends with sendfile; a file still filling, and every
 * multipart answer, goes through a reader that waits for bytes past its
 * position and preads what has arrived, so the first bytes leave before the
 * object is whole. Object answers are corked (TCP_CORK) until they end.
 * The reader holds the cache entry until libmicrohttpd frees the response —
 * also when the client goes away early. Every answer carries the CORS
 * headers hls.js needs (mc_stream_cors_headers, added by common/http).
 *
 * A video that plays while it transcodes (not ready, playable) serves only
 * its HLS, under URIs naming the attempt (hls/a/<job>-<n>/...): its
 * hls/master.m3u8 redirects there (no-store), so a retried attempt never
 * serves new bytes under a URI a player or cache already holds. The growing
 * playlists of an attempt that is not the published one are read from S3 at
 * each request, never kept in the disk cache, and may be cached by clients
 * for about half a segment; segments and init.mp4 are immutable and cached
 * as any object. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common/log.h"
#include "common/metrics.h"
#include "stream/paths.h"
#include "stream/range.h"
#include "stream/stream.h"
#include "stream/usage.h"

#define OBJECT_CACHE_CONTROL "public, max-age=86400"
#define PAGE_CACHE_CONTROL "private, max-age=60"
/* about half of the default 4 s segment: a player polling a growing
 * playlist sees a new segment within that */
#define GROWING_CACHE_CONTROL "public, max-age=2"
#define PROCESSING_PAGE_CACHE_CONTROL "no-store"
#define ATTEMPTS_DIR "/attempts/"
#define GROWING_PLAYLIST_MAX (4 * 1024 * 1024)
#define ALLOWED_METHODS "GET, HEAD, OPTIONS"
#define ALLOWED_HEADERS "Range, If-Range, If-None-Match, If-Modified-Since, If-Match, If-Unmodified-Since"
#define HLS_JS "node_modules/hls.js/dist/hls.min.js"
#define READ_CHUNK (256 * 1024)

/* ---- answers -------------------------------------------------------------- */

static enum MHD_Result answer_error(mc_http_req *req, unsigned int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum MHD_Result answer_error(mc_http_req *req, unsigned int status, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct MHD_Response *resp = mc_http_error_response(status, "%s", msg);
    if (resp && status == 405) MHD_add_response_header(resp, "Allow", ALLOWED_METHODS);
    return mc_http_queue(req, status, resp);
}

/* Metrics, looked up once (mc_stream_routes): a request only sets them. */
typedef enum answer_kind {
    ANSWER_WHOLE, ANSWER_RANGE, ANSWER_MULTIPART, ANSWER_NOT_MODIFIED, ANSWER_UNSATISFIABLE,
    ANSWER_KINDS
} answer_kind;

static const char *const answer_kind_names[ANSWER_KINDS] = {
    "whole", "range", "multipart", "not_modified", "unsatisfiable"};

static const struct {
    const char *name, *help;
} cache_gauge_defs[] = {
    {"mcloud_stream_cache_bytes", "Bytes of finished objects in the disk cache."},
    {"mcloud_stream_cache_objects", "Finished objects in the disk cache."},
    {"mcloud_stream_cache_hits", "Acquires answered by a finished file."},
    {"mcloud_stream_cache_misses", "Acquires that started an S3 fetch."},
    {"mcloud_stream_cache_joins", "Acquires that joined a fetch in flight."},
    {"mcloud_stream_s3_fetches", "S3 GETs started by the cache."},
    {"mcloud_stream_cache_evictions", "Objects evicted from the cache."},
};
#define CACHE_GAUGES (sizeof cache_gauge_defs / sizeof cache_gauge_defs[0])

static mc_metric *answer_counters[ANSWER_KINDS];
static mc_metric *cache_gauges[CACHE_GAUGES];

static void register_metrics(void) {
    for (size_t i = 0; i < ANSWER_KINDS; i++) {
        char labels[64];
        snprintf(labels, sizeof labels, "kind=\"%s\"", answer_kind_names[i]);
        answer_counters[i] = mc_counter("mcloud_stream_answers_total",
                                        "Answers with an object by kind: whole, range, multipart, "
                                        "not_modified, unsatisfiable.",
                                        labels);
    }
    for (size_t i = 0; i < CACHE_GAUGES; i++)
        cache_gauges[i] = mc_gauge(cache_gauge_defs[i].name, cache_gauge_defs[i].help, "");
}

static void count_answer(answer_kind kind) { mc_counter_inc(answer_counters[kind]); }

static void publish_cache_stats(mc_cache *cache) {
    mc_cache_stats s;
    mc_cache_get_stats(cache, &s);
    const uint64_t values[CACHE_GAUGES] = {s.bytes, s.objects,    s.hits,     s.misses,
                                           s.joins, s.s3_fetches, s.evictions};
    for (size_t i = 0; i < CACHE_GAUGES; i++) mc_gauge_set(cache_gauges[i], (double)values[i]);
}

/* ---- a body read from the cache file as it fills ------------------------------ */

/* A response body is a list of segments, each bytes of the cache file or a
 * piece of memory (the part headers of multipart/byteranges). */
typedef struct segment {
    const char *mem;     /* NULL: file bytes */
    uint64_t offset;     /* in the file */
    uint64_t len;
} segment;

typedef struct body_reader {
    mc_cache_entry *entry;
    int fd;
    size_t count, at;    /* segments; the one being sent */
    uint64_t done;       /* bytes of segment `at` sent */
    char *headers;       /* the memory segments point into it */
    segment segs[];
} body_reader;

static void body_reader_free(void *cls) {
    body_reader *r = cls;
    if (r->fd >= 0) close(r->fd);
    mc_cache_release(r->entry);
    free(r->headers);
    free(r);
}

static ssize_t read_file_segment(body_reader *r, const segment *s, char *buf, size_t max) {
    uint64_t want = s->len - r->done;
    if (want > max) want = max;
    if (want > READ_CHUNK) want = READ_CHUNK;
    uint64_t off = s->offset + r->done;
    mc_err err = {0};
    int64_t there = mc_cache_wait_some(r->entry, off, &err); /* what has arrived, at least 1 */
    if (there < 0) {
        mc_log_kv(MC_LOG_WARN, "cache fill broke off while sending", "error", err.msg, NULL);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if ((uint64_t)there - off < want) want = (uint64_t)there - off;
    ssize_t n;
    do n = pread(r->fd, buf, want, (off_t)off);
    while (n < 0 && errno == EINTR);
    return n > 0 ? n : MHD_CONTENT_READER_END_WITH_ERROR;
}

static ssize_t body_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos; /* libmicrohttpd reads sequentially; the reader tracks where */
    body_reader *r = cls;
    while (r->at < r->count && r->done == r->segs[r->at].len) {
        r->at++;
        r->done = 0;
    }
    if (r->at == r->count) return MHD_CONTENT_READER_END_OF_STREAM;
    const segment *s = &r->segs[r->at];
    ssize_t n;
    if (s->mem) {
        n = (ssize_t)(s->len - r->done < max ? s->len - r->done : max);
        memcpy(buf, s->mem + r->done, (size_t)n);
    } else {
        n = read_file_segment(r, s, buf, max);
        if (n < 0) return n;
    }
    r->done += (uint64_t)n;
    return n;
}

static body_reader *body_reader_new(mc_cache_entry *e, size_t count, mc_err *err) {
    body_reader *r = calloc(1, sizeof *r + count * sizeof(segment));
    if (!r) {
        mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    r->entry = e;
    r->count = count;
    r->fd = mc_cache_entry_dup_fd(e, err);
    if (r->fd < 0) {
        free(r);
        return NULL;
    }
    return r;
}

static uint64_t segments_length(const body_reader *r) {
    uint64_t n = 0;
    for (size_t i = 0; i < r->count; i++) n += r->segs[i].len;
    return n;
}

/* ---- object answers ----------------------------------------------------------- */

/* libmicrohttpd sends the head of an answer with send() and the body with
 * sendfile; corked, the kernel packs them into full segments instead of
 * pushing the head alone and the body as the client's ACKs come back (the
 * client's CPU paid for that: docs/BENCHMARKS.md, stream). Uncorked when
 * the request is done, which flushes the last partial segment. */
static void uncork(void *state) {
    int fd = (int)(intptr_t)state - 1;
    int off = 0;
    setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
}

static void cork(mc_http_req *req) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int on = 1;
    if (!ci || setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on) < 0) return;
    req->state = (void *)(intptr_t)(ci->connect_fd + 1);
    req->free_state = uncork;
}

typedef struct object_answer {
    mc_stream_server *srv;
    const char *tenant;         /* the video's, whose playback usage it counts */
    mc_http_req *req;
    mc_cache_entry *entry;      /* owned until handed to a response */
    const mc_cache_object *obj;
    const char *content_type;
} object_answer;

/* One answered playback request of the tenant and its body's bytes (a HEAD
 * sends none) in the usage counters (usage.c). */
static void count_playback(mc_stream_server *srv, mc_http_req *req, const char *tenant, uint64_t bytes) {
    mc_stream_usage_add(srv->usage, tenant, strcmp(req->method, "HEAD") == 0 ? 0 : bytes);
}

static void add_object_headers(struct MHD_Response *resp, const object_answer *a) {
    char date[MC_HTTP_DATE_LEN];
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    MHD_add_response_header(resp, "ETag", a->obj->etag);
    if (a->obj->last_modified) {
        mc_http_date_format(a->obj->last_modified, date);
        MHD_add_response_header(resp, "Last-Modified", date);
    }
    MHD_add_response_header(resp, "Cache-Control", OBJECT_CACHE_CONTROL);
}

/* One contiguous range [first, first+len): the descriptor when the file is
 * whole (sendfile), else the waiting reader. Takes the entry. */
static struct MHD_Response *contiguous_response(object_answer *a, uint64_t first, uint64_t len,
                                                mc_err *err) {
    if (mc_cache_entry_finished(a->entry)) {
        int fd = mc_cache_entry_dup_fd(a->entry, err);
        if (fd < 0) return NULL;
        struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(len, fd, first);
        if (!resp) close(fd);
        mc_cache_release(a->entry);
        a->entry = NULL;
        return resp;
    }
    body_reader *r = body_reader_new(a->entry, 1, err);
    if (!r) return NULL;
    a->entry = NULL;
    r->segs[0] = (segment){.offset = first, .len = len};
    struct MHD_Response *resp =
        MHD_create_response_from_callback(len, READ_CHUNK, body_read, r, body_reader_free);
    if (!resp) body_reader_free(r);
    return resp;
}

static int random_boundary(char *out, size_t cap) {
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[12];
    if (cap < 2 * sizeof raw + 1 || RAND_bytes(raw, sizeof raw) != 1) return -1;
    for (size_t i = 0; i < sizeof raw; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * sizeof raw] = '\0';
    return 0;
}

/* multipart/byteranges (RFC 9110 §14.6): each part's header, its bytes, and
 * the closing delimiter. */
static struct MHD_Response *multipart_response(object_answer *a, const mc_range_set *set,
                                               char *content_type, size_t ct_cap, mc_err *err) {
    char boundary[32];
    if (random_boundary(boundary, sizeof boundary) < 0) {
        mc_err_set(err, MC_ERR_INTERNAL, "no randomness for a multipart boundary");
        return NULL;
    }
    size_t hdr_cap = (set->count + 1) * 256;
    char *hdrs = malloc(hdr_cap);
    body_reader *r = hdrs ? body_reader_new(a->entry, 2 * set->count + 1, err) : NULL;
    if (!r) {
        free(hdrs);
        if (!hdrs) mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    a->entry = NULL;
    r->headers = hdrs;
    size_t used = 0, s = 0;
    for (size_t i = 0; i < set->count; i++) {
        const mc_byte_range *br = &set->ranges[i];
        int n = snprintf(hdrs + used, hdr_cap - used,
                         "\r\n--%s\r\nContent-Type: %s\r\nContent-Range: bytes %llu-%llu/%llu\r\n\r\n",
                         boundary, a->content_type, (unsigned long long)br->first,
                         (unsigned long long)br->last, (unsigned long long)a->obj->size);
        r->segs[s++] = (segment){.mem = hdrs + used, .len = (uint64_t)n};
        used += (size_t)n;
        r->segs[s++] = (segment){.offset = br->first, .len = br->last - br->first + 1};
    }
    int n = snprintf(hdrs + used, hdr_cap - used, "\r\n--%s--\r\n", boundary);
    r->segs[s] = (segment){.mem = hdrs + used, .len = (uint64_t)n};
    snprintf(content_type, ct_cap, "multipart/byteranges; boundary=%s", boundary);
    struct MHD_Response *resp = MHD_create_response_from_callback(segments_length(r), READ_CHUNK,
                                                                  body_read, r, body_reader_free);
    if (!resp) body_reader_free(r);
    return resp;
}

static ssize_t no_body(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)cls, (void)pos, (void)buf, (void)max;
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* A 304 has no content, and libmicrohttpd 0.9.75 gives every response it
 * frames a Content-Length: a response the size of the object whose body is
 * never read makes that length the one RFC 9110 §8.6 allows (the 200's). */
static enum MHD_Result answer_not_modified(object_answer *a) {
    struct MHD_Response *resp =
        MHD_create_response_from_callback(a->obj->size, 1, no_body, NULL, NULL);
    if (!resp) return MHD_NO;
    add_object_headers(resp, a);
    count_answer(ANSWER_NOT_MODIFIED);
    count_playback(a->srv, a->req, a->tenant, 0);
    return mc_http_queue(a->req, 304, resp);
}

static enum MHD_Result answer_unsatisfiable(object_answer *a) {
    char cr[64];
    snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)a->obj->size);
    struct MHD_Response *resp = mc_http_error_response(
        416, "no byte of the requested range exists: the object has %llu bytes",
        (unsigned long long)a->obj->size);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Range", cr);
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    count_answer(ANSWER_UNSATISFIABLE);
    return mc_http_queue(a->req, 416, resp);
}

static mc_range_result select_ranges(mc_http_req *req, const object_answer *a, mc_range_set *set) {
    const mc_validators v = {.etag = a->obj->etag, .last_modified = a->obj->last_modified};
    if (!mc_if_range_allows(mc_http_header(req, "If-Range"), &v)) return MC_RANGE_WHOLE;
    return mc_range_parse(mc_http_header(req, "Range"), a->obj->size, set);
}

static enum MHD_Result answer_object(object_answer *a) {
    mc_http_req *req = a->req;
    mc_conditional_headers h = {.if_match = mc_http_header(req, "If-Match"),
                                .if_none_match = mc_http_header(req, "If-None-Match"),
                                .if_modified_since = mc_http_header(req, "If-Modified-Since"),
                                .if_unmodified_since = mc_http_header(req, "If-Unmodified-Since")};
    const mc_validators v = {.etag = a->obj->etag, .last_modified = a->obj->last_modified};
    switch (mc_precondition_evaluate(&h, &v)) {
    case MC_PRECONDITION_NOT_MODIFIED: return answer_not_modified(a);
    case MC_PRECONDITION_FAILED:
        return answer_error(req, 412, "a precondition (If-Match or If-Unmodified-Since) failed");
    case MC_PRECONDITION_PROCEED: break;
    }
    mc_range_set set;
    mc_range_result rr = select_ranges(req, a, &set);
    if (rr == MC_RANGE_UNSATISFIABLE) return answer_unsatisfiable(a);

    mc_err err = {0};
    char content_type[96];
    snprintf(content_type, sizeof content_type, "%s", a->content_type);
    char content_range[96] = "";
    struct MHD_Response *resp;
    unsigned int status = 206;
    uint64_t bytes = 0;
    if (rr == MC_RANGE_WHOLE) {
        status = 200;
        count_answer(ANSWER_WHOLE);
        bytes = a->obj->size;
        resp = contiguous_response(a, 0, a->obj->size, &err);
    } else if (set.count == 1) {
        const mc_byte_range *br = &set.ranges[0];
        bytes = br->last - br->first + 1;
        snprintf(content_range, sizeof content_range, "bytes %llu-%llu/%llu",
                 (unsigned long long)br->first, (unsigned long long)br->last,
                 (unsigned long long)a->obj->size);
        count_answer(ANSWER_RANGE);
        resp = contiguous_response(a, br->first, br->last - br->first + 1, &err);
    } else {
        count_answer(ANSWER_MULTIPART);
        for (size_t i = 0; i < set.count; i++) bytes += set.ranges[i].last - set.ranges[i].first + 1;
        resp = multipart_response(a, &set, content_type, sizeof content_type, &err);
    }
    if (!resp) {
        mc_log_kv(MC_LOG_ERROR, "could not build a response", "path", req->path, "error", err.msg,
                  NULL);
        return answer_error(req, 500, "could not send the object; see the server log");
    }
    MHD_add_response_header(resp, "Content-Type", content_type);
    if (content_range[0]) MHD_add_response_header(resp, "Content-Range", content_range);
    add_object_headers(resp, a);
    cork(req);
    count_playback(a->srv, req, a->tenant, bytes);
    return mc_http_queue(req, status, resp);
}

/* ---- routes --------------------------------------------------------------------- */

static enum MHD_Result answer_preflight(mc_http_req *req) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", ALLOWED_METHODS);
    MHD_add_response_header(resp, "Access-Control-Allow-Headers", ALLOWED_HEADERS);
    MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
    MHD_add_response_header(resp, "Allow", ALLOWED_METHODS);
    return mc_http_queue(req, 204, resp);
}

static enum MHD_Result answer_lookup_failure(mc_http_req *req, const mc_stream_target *t,
                                             const mc_err *err) {
    if (err->kind == MC_ERR_NOT_FOUND)
        return answer_error(req, 404, "video %s is unknown or not ready", t->video);
    mc_log_kv(MC_LOG_WARN, "video lookup failed", "video", t->video, "error", err->msg, NULL);
    if (err->kind == MC_ERR_UNAVAILABLE)
        return answer_error(req, 503, "the metadata database is unavailable; retry shortly");
    return answer_error(req, 500, "could not look the video up; see the server log");
}

static enum MHD_Result answer_page(mc_stream_server *srv, mc_http_req *req,
                                   const mc_stream_target *t, const mc_stream_video *video) {
    mc_err err = {0};
    size_t len = 0;
    char *html = mc_stream_page_render(srv, t->video, video, &len, &err);
    if (!html) return answer_lookup_failure(req, t, &err);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, html, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(html);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", t->content_type);
    MHD_add_response_header(resp, "Cache-Control",
                            video->ready ? PAGE_CACHE_CONTROL : PROCESSING_PAGE_CACHE_CONTROL);
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    count_playback(srv, req, video->tenant, len);
    return mc_http_queue(req, 200, resp);
}

static enum MHD_Result answer_cache_failure(mc_http_req *req, const mc_stream_target *t,
                                            const mc_err *err) {
    if (err->kind == MC_ERR_NOT_FOUND)
        return answer_error(req, 404, "video %s has no output %s", t->video, t->path);
    mc_log_kv(MC_LOG_WARN, "object fetch failed", "video", t->video, "path", t->path, "error",
              err->msg, NULL);
    if (err->kind == MC_ERR_UNAVAILABLE)
        return answer_error(req, 503,
                            "storage is unavailable and %s of video %s is not cached; retry later",
                            t->path, t->video);
    return answer_error(req, 500, "could not read the object; see the server log");
}

/* The credential of t for video: remembered when it was verified before,
 * else verified (and then remembered until it expires). */
static int check_credential(mc_stream_server *srv, const mc_stream_target *t,
                            const mc_stream_video *video, mc_err *err) {
    int64_t now = (int64_t)time(NULL);
    if (mc_grants_known(srv->grants, t->cred, video->tenant, t->video, t->path, now)) return 0;
    if (mc_playback_verify(t->cred, strlen(t->cred), srv->keys, srv->nkeys, video->tenant,
                           t->video, t->path, now, err) < 0)
        return -1;
    const char *exp = strchr(t->cred, '.'); /* <kid>.<exp>.<sig>, well formed once verified */
    mc_grants_remember(srv->grants, t->cred, video->tenant, t->video, t->path,
                       strtoll(exp + 1, NULL, 10));
    return 0;
}

/* ---- a video playing while it transcodes ---------------------------------------- */

/* Where "<root>/attempts/" ends in a prefix ("videos/<t>/<v>/attempts/<job>-<n>/"). */
static size_t attempts_root_len(const char *prefix) {
    const char *at = strstr(prefix, ATTEMPTS_DIR);
    return at ? (size_t)(at - prefix) + strlen(ATTEMPTS_DIR) : 0;
}

/* hls/master.m3u8 of a video still transcoding: to its running attempt's. */
static enum MHD_Result answer_to_attempt(mc_http_req *req, const mc_stream_target *t,
                                         const mc_stream_video *video) {
    size_t root = attempts_root_len(video->prefix), len = strlen(video->prefix);
    if (!root || len <= root + 1)
        return answer_error(req, 404, "video %s has no output %s", t->video, t->path);
    char location[MC_S3_KEY_MAX];
    snprintf(location, sizeof location, "a/%.*s/master.m3u8", (int)(len - root - 1), video->prefix + root);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Location", location);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return mc_http_queue(req, 302, resp);
}

typedef struct text_buf {
    char *data;
    size_t len;
} text_buf;

static int text_append(void *ctx, const char *data, size_t len) {
    text_buf *b = ctx;
    if (b->len + len > GROWING_PLAYLIST_MAX) return -1;
    char *grown = realloc(b->data, b->len + len);
    if (!grown) return -1;
    memcpy(grown + b->len, data, len);
    b->data = grown;
    b->len += len;
    return 0;
}

/* A growing playlist: read from S3 now, kept nowhere, cached briefly. */
static enum MHD_Result answer_growing(mc_stream_server *srv, mc_http_req *req,
                                      const mc_stream_target *t, const char *tenant, const char *key) {
    mc_err err = {0};
    text_buf b = {0};
    mc_s3 *s3 = mc_s3_pool_get(srv->s3, &err);
    int rc = s3 ? mc_s3_get_object(s3, key, NULL, text_append, &b, NULL, &err) : -1;
    mc_s3_pool_put(srv->s3, s3);
    if (rc < 0) {
        free(b.data);
        return answer_cache_failure(req, t, &err);
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(b.len, b.data ? b.data : "",
                                                                b.data ? MHD_RESPMEM_MUST_FREE
                                                                       : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(b.data);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", t->content_type);
    MHD_add_response_header(resp, "Cache-Control", GROWING_CACHE_CONTROL);
    count_playback(srv, req, tenant, b.len);
    return mc_http_queue(req, 200, resp);
}

static bool is_playlist(const char *path) {
    size_t n = strlen(path);
    return n > 5 && strcmp(path + n - 5, ".m3u8") == 0;
}

/* The object key of t; *growing when it is a playlist that may still grow
 * (an attempt's that is not the published one). -1 when it names nothing. */
static int object_key(const mc_stream_target *t, const mc_stream_video *video, char *key,
                      size_t cap, bool *growing) {
    *growing = false;
    size_t alen = 0;
    char rel[sizeof t->path];
    const char *attempt = mc_stream_attempt_path(t->path, &alen, rel, sizeof rel);
    if (!attempt)
        return (size_t)snprintf(key, cap, "%s%s", video->prefix, t->path) >= cap ? -1 : 0;
    size_t root = attempts_root_len(video->prefix);
    if (!root) return -1;
    bool published = video->ready && strncmp(video->prefix + root, attempt, alen) == 0 &&
                     strcmp(video->prefix + root + alen, "/") == 0;
    *growing = !published && is_playlist(rel);
    return (size_t)snprintf(key, cap, "%.*s%.*s/%s", (int)root, video->prefix, (int)alen, attempt,
                            rel) >= cap ? -1 : 0;
}

static enum MHD_Result serve_target(mc_stream_server *srv, mc_http_req *req,
                                    const mc_stream_target *t) {
    mc_err err = {0};
    mc_stream_video video;
    if (mc_stream_videos_lookup(srv->videos, t->video, &video, &err) < 0)
        return answer_lookup_failure(req, t, &err);
    if (check_credential(srv, t, &video, &err) < 0) return answer_error(req, 403, "%s", err.msg);
    if (!t->path[0]) return answer_page(srv, req, t, &video);

    bool attempt_path = strncmp(t->path, "hls/a/", 6) == 0;
    /* Seen transcoding a moment ago (or on a lagging replica), maybe ready by
     * now: another instance may have handed the player its final playlists.
     * While the master cannot answer, the row in hand does. */
    if (!video.ready && !attempt_path) {
        mc_stream_video now;
        mc_err reread = {0};
        if (mc_stream_videos_reread(srv->videos, t->video, &now, &reread) == 0)
            video = now;
        else if (reread.kind == MC_ERR_NOT_FOUND)
            return answer_lookup_failure(req, t, &reread);
        if (!video.ready && strcmp(t->path, "hls/master.m3u8") == 0)
            return answer_to_attempt(req, t, &video);
        if (!video.ready)
            return answer_error(req, 404,
                                "video %s is still processing: only its HLS plays until it is ready",
                                t->video);
    }
    char key[MC_S3_KEY_MAX];
    bool growing;
    if (object_key(t, &video, key, sizeof key, &growing) < 0)
        return answer_error(req, 404, "video %s has no output %s", t->video, t->path);
    if (growing) return answer_growing(srv, req, t, video.tenant, key);
    object_answer a = {.srv = srv, .tenant = video.tenant, .req = req, .content_type = t->content_type};
    if (mc_cache_acquire(srv->cache, key, &a.entry, &err) < 0)
        return answer_cache_failure(req, t, &err);
    a.obj = mc_cache_entry_object(a.entry);
    enum MHD_Result rc = answer_object(&a);
    if (a.entry) mc_cache_release(a.entry);
    publish_cache_stats(srv->cache);
    return rc;
}

static enum MHD_Result handle_video(mc_http_req *req, const char *data, size_t *size) {
    (void)data, (void)size; /* answered on the first call; common/http drops any body */
    mc_stream_server *srv = req->route_ctx;
    if (strcmp(req->method, "OPTIONS") == 0) return answer_preflight(req);
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
        return answer_error(req, 405, "method %s is not allowed; use GET or HEAD", req->method);
    mc_stream_target t;
    /* No output's URL needs a percent-escape: one (an encoded '/', '\\' or
     * NUL above all) only ever spells something else. */
    if (strcmp(req->raw_path, req->path) != 0 ||
        mc_stream_target_parse(req->path, strlen(req->path), &t) < 0)
        return answer_error(req, 404, "no such resource: the path does not name a video output");
    return serve_target(srv, req, &t);
}

static enum MHD_Result handle_hls_js(mc_http_req *req, const char *data, size_t *size) {
    (void)data, (void)size; /* answered on the first call */
    if (strcmp(req->raw_path, "/static/hls.min.js") != 0) /* "%00" after the name, say */
        return answer_error(req, 404, "no such resource");
    if (strcmp(req->method, "OPTIONS") == 0) return answer_preflight(req);
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
        return answer_error(req, 405, "method %s is not allowed; use GET or HEAD", req->method);
    mc_stream_server *srv = req->route_ctx;
    char path[MC_STREAM_PATH_MAX + sizeof HLS_JS + 1];
    snprintf(path, sizeof path, "%s/%s", srv->web_dir, HLS_JS);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        if (fd >= 0) close(fd);
        mc_log_kv(MC_LOG_ERROR, "hls.js is missing", "path", path, NULL);
        return answer_error(req, 404, "hls.js is not installed on this server (run scripts/bootstrap.sh)");
    }
    struct MHD_Response *resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/javascript; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "public, max-age=3600");
    return mc_http_queue(req, 200, resp);
}

const char *const mc_stream_cors_headers[] = {
    "Access-Control-Allow-Origin", "*",
    "Access-Control-Expose-Headers", "Content-Length, Content-Range, Accept-Ranges, ETag",
    NULL};

int mc_stream_routes(mc_stream_server *srv, mc_err *err) {
    mc_http_server *http = srv->svc.http;
    register_metrics();
    if (mc_http_route(http, "*", "/v/*", handle_video, srv) < 0 ||
        mc_http_route(http, "*", "/static/hls.min.js", handle_hls_js, srv) < 0)
        return mc_err_set(err, MC_ERR_INTERNAL, "out of memory adding routes");
    return 0;
}
