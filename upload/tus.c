/* tus.c — routing and the shared parts of the tus 1.0.0 handlers: method
 * override, the headers every response carries (Tus-Resumable, CORS for
 * browser clients, the upload's offset, expiry and video id), bearer-token
 * auth, and the requests without a body: OPTIONS, HEAD, GET (streams a
 * finished upload back from S3) and DELETE (termination: 204 for any
 * existing upload, as tus requires; a finished upload's video keeps its
 * source). */
#include "upload/tus.h"

#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define TUS_EXTENSIONS                                                                        \
    "creation,creation-with-upload,creation-defer-length,expiration,checksum,checksum-trailer," \
    "termination,concatenation"
#define CORS_EXPOSE                                                                         \
    "Upload-Offset, Location, Upload-Length, Tus-Version, Tus-Resumable, Tus-Max-Size, "     \
    "Tus-Extension, Tus-Checksum-Algorithm, Upload-Metadata, Upload-Defer-Length, "          \
    "Upload-Concat, Upload-Expires, Mcloud-Video-Id"
#define CORS_ALLOW_HEADERS                                                                  \
    "Authorization, Origin, X-Requested-With, X-Request-ID, X-HTTP-Method-Override, "        \
    "Content-Type, Upload-Length, Upload-Offset, Tus-Resumable, Upload-Metadata, "           \
    "Upload-Defer-Length, Upload-Concat, Upload-Checksum"
#define GET_BLOCK (64 * 1024)

const char *mc_tus_header(mc_http_req *req, const char *name, size_t *len) {
    const char *v = NULL;
    size_t n = 0;
    if (MHD_lookup_connection_value_n(req->conn, MHD_HEADER_KIND, name, strlen(name), &v, &n) !=
        MHD_YES)
        v = NULL;
    if (len) *len = v ? n : 0;
    return v;
}

static void add_common_headers(struct MHD_Response *resp) {
    MHD_add_response_header(resp, "Tus-Resumable", MC_TUS_VERSION);
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(resp, "Access-Control-Expose-Headers", CORS_EXPOSE);
}

static void add_upload_headers(struct MHD_Response *resp, mc_tus_req *t) {
    if (!t || !t->have_upload) return;
    char v[64];
    snprintf(v, sizeof v, "%" PRId64, t->u.offset);
    MHD_add_response_header(resp, "Upload-Offset", v);
    if (t->u.video_id[0]) MHD_add_response_header(resp, "Mcloud-Video-Id", t->u.video_id);
    char date[MC_TUS_HTTP_DATE_SIZE];
    mc_err ignored = {0};
    if (t->u.status == MC_UPLOAD_ACTIVE &&
        mc_tus_format_http_date(t->u.expires_at, date, &ignored) == 0)
        MHD_add_response_header(resp, "Upload-Expires", date);
    if (t->created) {
        char location[512];
        snprintf(location, sizeof location, "%s%s%s", t->srv->set.public_url, MC_TUS_BASE_PATH,
                 t->u.id);
        MHD_add_response_header(resp, "Location", location);
    }
}

/* Ends what a request holds on its upload: the body writer (keeping what a
 * cut-off body made durable) and then the write lock. Runs as the answer is
 * queued, so a client that sends its next request as soon as it reads the
 * answer never finds the lock still held (423), and again, as a no-op, when
 * the request is freed. */
static void release_upload(mc_tus_req *t) {
    if (t->writer && !t->answered) mc_tus_body_abandon(t);
    mc_upload_writer_free(t->writer);
    t->writer = NULL;
    if (t->lock.token > 0) mc_upload_unlock(t->srv, &t->lock);
    t->lock.token = 0;
}

static void free_tus(void *state);

/* The tus request of req, if the answer comes from a tus handler. */
static mc_tus_req *tus_state(mc_http_req *req) {
    return req->free_state == free_tus ? req->state : NULL;
}

/* Every answer: the common and the upload's headers, the upload released
 * before the answer is queued. */
static enum MHD_Result queue_answer(mc_http_req *req, mc_tus_req *t, unsigned status,
                                    struct MHD_Response *resp) {
    add_common_headers(resp);
    add_upload_headers(resp, t);
    mc_tus_req *held = tus_state(req);
    if (held) release_upload(held);
    return mc_http_queue(req, status, resp);
}

enum MHD_Result mc_tus_respond(mc_http_req *req, mc_tus_req *t, unsigned status,
                               struct MHD_Response *resp) {
    if (!resp) resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    return queue_answer(req, t, status, resp);
}

/* An error response; t (or NULL) adds the upload's headers. */
static enum MHD_Result fail_v(mc_http_req *req, mc_tus_req *t, unsigned status, const char *fmt,
                              va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    struct MHD_Response *resp = mc_http_error_response(status, "%s", msg);
    if (!resp) return MHD_NO;
    if (status == 412) MHD_add_response_header(resp, "Tus-Version", MC_TUS_VERSION);
    return queue_answer(req, t, status, resp);
}

static enum MHD_Result fail_upload(mc_http_req *req, mc_tus_req *t, unsigned status,
                                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum MHD_Result fail_upload(mc_http_req *req, mc_tus_req *t, unsigned status,
                                   const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    enum MHD_Result rc = fail_v(req, t, status, fmt, ap);
    va_end(ap);
    return rc;
}

enum MHD_Result mc_tus_fail(mc_http_req *req, unsigned status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    enum MHD_Result rc = fail_v(req, NULL, status, fmt, ap);
    va_end(ap);
    return rc;
}

static enum MHD_Result fail_err(mc_http_req *req, mc_tus_req *t, const mc_err *err) {
    switch (err->kind) {
    case MC_ERR_INVALID:
        return fail_upload(req, t, err->status >= 400 ? (unsigned)err->status : 400, "%s",
                           err->msg);
    case MC_ERR_AUTH: return fail_upload(req, t, 401, "%s", err->msg);
    case MC_ERR_NOT_FOUND: return fail_upload(req, t, 404, "%s", err->msg);
    case MC_ERR_CONFLICT: return fail_upload(req, t, 409, "%s", err->msg);
    default: break;
    }
    mc_log_kv(MC_LOG_ERROR, "request failed", "method", req->method, "path", req->path, "error",
              err->msg, NULL);
    unsigned status = err->kind == MC_ERR_UNAVAILABLE ? 503 : 500;
    return fail_upload(req, t, status, "the upload service could not do that now: %s", err->msg);
}

enum MHD_Result mc_tus_fail_err(mc_http_req *req, const mc_err *err) {
    return fail_err(req, NULL, err);
}

enum MHD_Result mc_tus_refuse_body(mc_http_req *req, mc_tus_req *t, const mc_err *err) {
    t->u.offset = t->prev_offset;
    return fail_err(req, t->created ? t : NULL, err);
}

enum MHD_Result mc_tus_lock_held(mc_http_req *req, const char *id) {
    return mc_tus_fail(req, 423, "upload %s is being written by another request; retry shortly",
                       id);
}

/* ---- auth and loading ------------------------------------------------------ */

static int verify_token(mc_http_req *req, mc_tus_req *t, mc_err *err) {
    size_t len;
    const char *v = mc_tus_header(req, "Authorization", &len);
    const char *token;
    size_t token_len;
    if (mc_token_from_authorization(v, len, &token, &token_len, err) < 0) return -1;
    mc_token_key key = {.id = t->srv->set.token_key_id,
                        .secret = (const unsigned char *)t->srv->set.token_secret,
                        .secret_len = strlen(t->srv->set.token_secret)};
    return mc_token_verify(token, token_len, &key, 1, time(NULL), &t->claims, err);
}

bool mc_tus_authenticate(mc_http_req *req, mc_tus_req *t, enum MHD_Result *rc) {
    mc_err err = {0};
    if (verify_token(req, t, &err) == 0) return true;
    *rc = mc_tus_fail(req, 401, "a valid bearer token is required (Authorization: Bearer "
                                "<token>; mint one with mcloud-token): %s", err.msg);
    return false;
}

static bool upload_gone(const mc_upload *u) {
    return u->status == MC_UPLOAD_TERMINATED || u->status == MC_UPLOAD_EXPIRED ||
           (u->status == MC_UPLOAD_ACTIVE && u->expires_at <= time(NULL));
}

bool mc_tus_load_upload(mc_http_req *req, mc_tus_req *t, enum MHD_Result *rc) {
    mc_err err = {0};
    char id[MC_TUS_ID_MAX + 1];
    if (!mc_tus_authenticate(req, t, rc)) return false;
    if (mc_tus_parse_upload_url(req->path, strlen(req->path), MC_TUS_BASE_PATH, NULL, id, &err) < 0) {
        *rc = mc_tus_fail(req, 404, "no such upload: %s", req->path);
        return false;
    }
    if (mc_upload_state_load(t->srv, id, &t->u, &err) < 0) {
        *rc = mc_tus_fail_err(req, &err);
        return false;
    }
    if (strcmp(t->u.tenant, t->claims.tenant) != 0 ||
        (t->claims.video[0] && strcmp(t->u.video_id, t->claims.video) != 0)) {
        /* The token is valid (so not 401); another tenant's upload does not
         * exist for it, exactly as an unknown id; nor does any upload but
         * its own for a token of one direct upload. */
        *rc = mc_tus_fail(req, 404, "no upload %s", id);
        return false;
    }
    if (upload_gone(&t->u)) {
        *rc = mc_tus_fail(req, 410, "upload %s was %s", id,
                          t->u.status == MC_UPLOAD_TERMINATED ? "terminated" : "expired");
        return false;
    }
    t->have_upload = true;
    return true;
}

int mc_tus_finish_if_complete(mc_tus_req *t, mc_err *err) {
    if (t->u.status != MC_UPLOAD_ACTIVE || t->u.length < 0 || t->u.offset != t->u.length)
        return 0;
    mc_s3 *s3 = mc_s3_pool_get(t->srv->s3, err);
    if (!s3) return -1;
    int rc = mc_upload_complete(t->srv, s3, &t->u, err);
    mc_s3_pool_put(t->srv->s3, s3);
    return rc;
}

/* ---- OPTIONS, HEAD ------------------------------------------------------ */

static enum MHD_Result handle_options(mc_http_req *req, mc_tus_req *t) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    char max[32];
    snprintf(max, sizeof max, "%" PRId64, t->srv->set.max_size);
    MHD_add_response_header(resp, "Tus-Version", MC_TUS_VERSION);
    MHD_add_response_header(resp, "Tus-Extension", TUS_EXTENSIONS);
    MHD_add_response_header(resp, "Tus-Max-Size", max);
    MHD_add_response_header(resp, "Tus-Checksum-Algorithm", MC_CHECKSUM_ALGORITHMS);
    MHD_add_response_header(resp, "Access-Control-Allow-Methods",
                            "POST, HEAD, PATCH, OPTIONS, GET, DELETE");
    MHD_add_response_header(resp, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
    MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
    return mc_tus_respond(req, NULL, 204, resp);
}

/* A crash may have left the last byte committed but the upload unfinished:
 * whoever sees it first finishes it (if nobody is writing). */
static void finish_left_over(mc_tus_req *t) {
    if (t->u.status != MC_UPLOAD_ACTIVE || t->u.length < 0 || t->u.offset != t->u.length) return;
    mc_err err = {0};
    if (mc_upload_lock(t->srv, t->u.id, &t->lock, &err) < 0) return;
    mc_upload fresh;
    mc_upload_state_forget(t->srv, t->u.id);
    if (mc_upload_state_load(t->srv, t->u.id, &fresh, &err) == 0) {
        mc_upload_free(&t->u);
        t->u = fresh;
        if (mc_tus_finish_if_complete(t, &err) < 0)
            mc_log_kv(MC_LOG_WARN, "finishing a left-over upload failed", "upload", t->u.id,
                      "error", err.msg, NULL);
    }
}

/* "final;<url> <url> ..." from the partial ids stored as a JSON array: the
 * spec has HEAD on a final upload name its partials as URLs. */
static void add_final_concat_header(struct MHD_Response *resp, const mc_tus_req *t) {
    json_t *ids = t->u.concat_parts ? json_loads(t->u.concat_parts, 0, NULL) : NULL;
    if (!json_is_array(ids)) {
        json_decref(ids);
        MHD_add_response_header(resp, "Upload-Concat", "final;");
        return;
    }
    size_t cap = 7 + json_array_size(ids) * (strlen(t->srv->set.public_url) +
                                             strlen(MC_TUS_BASE_PATH) + MC_UPLOAD_ID_LEN + 2);
    char *v = malloc(cap);
    if (v) {
        size_t n = (size_t)snprintf(v, cap, "final;");
        size_t i;
        json_t *id;
        json_array_foreach(ids, i, id) {
            if (!json_is_string(id)) continue;
            n += (size_t)snprintf(v + n, cap - n, "%s%s%s%s", i ? " " : "", t->srv->set.public_url,
                                  MC_TUS_BASE_PATH, json_string_value(id));
            if (n >= cap) break;
        }
        if (n < cap) MHD_add_response_header(resp, "Upload-Concat", v);
        free(v);
    }
    json_decref(ids);
}

static enum MHD_Result handle_head(mc_http_req *req, mc_tus_req *t) {
    enum MHD_Result rc;
    if (!mc_tus_load_upload(req, t, &rc)) return rc;
    finish_left_over(t);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    char v[32];
    if (t->u.length >= 0) {
        snprintf(v, sizeof v, "%" PRId64, t->u.length);
        MHD_add_response_header(resp, "Upload-Length", v);
    } else {
        MHD_add_response_header(resp, "Upload-Defer-Length", "1");
    }
    if (t->u.metadata && t->u.metadata[0])
        MHD_add_response_header(resp, "Upload-Metadata", t->u.metadata);
    if (t->u.concat == MC_UPLOAD_CONCAT_PARTIAL) MHD_add_response_header(resp, "Upload-Concat", "partial");
    if (t->u.concat == MC_UPLOAD_CONCAT_FINAL) add_final_concat_header(resp, t);
    return mc_tus_respond(req, t, 200, resp);
}

/* ---- GET: the finished object, streamed through a pipe ------------------- */

typedef struct get_stream {
    mc_upload_server *srv;
    char key[MC_S3_KEY_MAX];
    int rfd, wfd;
} get_stream;

static int get_to_pipe(void *ctx, const char *data, size_t len) {
    get_stream *g = ctx;
    while (len) {
        ssize_t n = write(g->wfd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1; /* the client went away */
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static void *get_main(void *arg) {
    get_stream *g = arg;
    mc_err err = {0};
    mc_s3 *s3 = mc_s3_pool_get(g->srv->s3, &err);
    if (s3 && mc_s3_get_object(s3, g->key, NULL, get_to_pipe, g, NULL, &err) < 0)
        mc_log_kv(MC_LOG_WARN, "streaming an upload back failed", "key", g->key, "error",
                  err.msg, NULL);
    mc_s3_pool_put(g->srv->s3, s3);
    close(g->wfd);
    free(g);
    return NULL;
}

static ssize_t get_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    int fd = (int)(intptr_t)cls;
    for (;;) {
        ssize_t n = read(fd, buf, max);
        if (n < 0 && errno == EINTR) continue;
        if (n > 0) return n;
        return MHD_CONTENT_READER_END_WITH_ERROR; /* shorter than the object */
    }
}

static void get_free(void *cls) { close((int)(intptr_t)cls); }

static enum MHD_Result handle_get(mc_http_req *req, mc_tus_req *t) {
    enum MHD_Result rc;
    if (!mc_tus_load_upload(req, t, &rc)) return rc;
    if (t->u.status != MC_UPLOAD_COMPLETED)
        return mc_tus_fail(req, 404, "upload %s is not finished (%" PRId64 " bytes so far)",
                           t->u.id, t->u.offset);
    int fds[2];
    get_stream *g = calloc(1, sizeof *g);
    if (!g || pipe2(fds, O_CLOEXEC) < 0) {
        free(g);
        return mc_tus_fail(req, 500, "cannot stream: %s", strerror(errno));
    }
    *g = (get_stream){.srv = t->srv, .rfd = fds[0], .wfd = fds[1]};
    snprintf(g->key, sizeof g->key, "%s", t->u.s3_key);
    pthread_t th;
    if (pthread_create(&th, NULL, get_main, g) != 0) {
        close(fds[0]);
        close(fds[1]);
        free(g);
        return mc_tus_fail(req, 500, "cannot stream: no thread");
    }
    pthread_detach(th);
    struct MHD_Response *resp = MHD_create_response_from_callback(
        (uint64_t)t->u.length, GET_BLOCK, get_read, (void *)(intptr_t)fds[0], get_free);
    if (!resp) {
        close(fds[0]);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
    return mc_tus_respond(req, t, 200, resp);
}

/* ---- DELETE: termination ------------------------------------------------ */

static enum MHD_Result handle_delete(mc_http_req *req, mc_tus_req *t) {
    enum MHD_Result rc;
    if (!mc_tus_load_upload(req, t, &rc)) return rc;
    mc_err err = {0};
    if (mc_upload_lock(t->srv, t->u.id, &t->lock, &err) < 0)
        return err.kind == MC_ERR_CONFLICT ? mc_tus_lock_held(req, t->u.id)
                                           : mc_tus_fail_err(req, &err);
    mc_upload fresh; /* a request may have finished it before we held the lock */
    if (mc_upload_state_load(t->srv, t->u.id, &fresh, &err) < 0) return mc_tus_fail_err(req, &err);
    mc_upload_free(&t->u);
    t->u = fresh;
    mc_s3 *s3 = mc_s3_pool_get(t->srv->s3, &err);
    if (!s3) return mc_tus_fail_err(req, &err);
    /* A finished video's source belongs to the video (deleted through it);
     * a finished partial's object is only the upload's. */
    if (t->u.status != MC_UPLOAD_COMPLETED) mc_upload_store_abort(s3, &t->u);
    else if (t->u.concat == MC_UPLOAD_CONCAT_PARTIAL) mc_s3_delete_object(s3, t->u.s3_key, &err);
    mc_s3_pool_put(t->srv->s3, s3);
    if (mc_upload_state_end(t->srv, &t->u, "terminated", false, "upload terminated by the client", &err) < 0) return mc_tus_fail_err(req, &err);
    t->have_upload = false;
    mc_log_kv(MC_LOG_INFO, "upload terminated", "upload", t->u.id, NULL);
    return mc_tus_respond(req, NULL, 204, NULL);
}

/* ---- dispatch ----------------------------------------------------------- */

static void free_tus(void *state) {
    mc_tus_req *t = state;
    release_upload(t);
    for (size_t i = 0; i < t->nsums; i++) mc_checksum_free(&t->sums[i]);
    mc_upload_free(&t->u);
    free(t);
}

/* The method after X-HTTP-Method-Override; NULL after answering 400. */
static const char *effective_method(mc_http_req *req, enum MHD_Result *rc) {
    size_t len;
    const char *v = mc_tus_header(req, "X-HTTP-Method-Override", &len);
    if (!v) return req->method;
    const char *method;
    mc_err err = {0};
    if (mc_tus_parse_method_override(v, len, &method, &err) < 0) {
        *rc = mc_tus_fail_err(req, &err);
        return NULL;
    }
    return method;
}

static enum MHD_Result first_call(mc_http_req *req, mc_tus_req *t) {
    enum MHD_Result rc = MHD_NO;
    t->method = effective_method(req, &rc);
    if (!t->method) return rc;
    if (strcmp(t->method, "OPTIONS") == 0) return handle_options(req, t);
    if (strcmp(t->method, "GET") != 0) {
        size_t len;
        const char *v = mc_tus_header(req, "Tus-Resumable", &len);
        mc_err err = {0};
        if (mc_tus_parse_resumable(v, len, &err) < 0) return mc_tus_fail_err(req, &err);
    }
    if (strcmp(t->method, "POST") == 0) return mc_tus_create_first(req, t);
    if (strcmp(t->method, "PATCH") == 0) return mc_tus_patch_first(req, t);
    if (strcmp(t->method, "HEAD") == 0) return handle_head(req, t);
    if (strcmp(t->method, "GET") == 0) return handle_get(req, t);
    if (strcmp(t->method, "DELETE") == 0) return handle_delete(req, t);
    return mc_tus_fail(req, 405, "method %s is not part of tus", t->method);
}

static enum MHD_Result handle_files(mc_http_req *req, const char *data, size_t *size) {
    if (req->first_call) {
        mc_tus_req *t = calloc(1, sizeof *t);
        if (!t) return MHD_NO;
        t->srv = req->route_ctx;
        req->state = t;
        req->free_state = free_tus;
        return first_call(req, t);
    }
    mc_tus_req *t = req->state;
    if (*size) {
        mc_tus_body_chunk(t, data, *size);
        *size = 0;
        return MHD_YES;
    }
    if (t->in_body) return mc_tus_body_end(req, t);
    return mc_tus_fail(req, 500, "request state lost");
}

int mc_tus_routes(mc_upload_server *srv, mc_err *err) {
    if (mc_http_route(srv->svc.http, "*", "/files", handle_files, srv) < 0 ||
        mc_http_route(srv->svc.http, "*", MC_TUS_BASE_PATH "*", handle_files, srv) < 0)
        return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    return 0;
}
