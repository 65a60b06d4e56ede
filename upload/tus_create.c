/* tus_create.c — POST /files/: the creation extension and its companions.
 *
 * A new upload gets a random id, a video (UUID v4, row `uploading`, title
 * from the filename/name metadata) unless it is a partial upload, an S3
 * multipart upload for sources/<tenant>/<video>/source (partials:
 * uploads/<id>/data) and its rows, before the 201. creation-with-upload
 * then streams the body like a PATCH at offset 0; creation-defer-length
 * leaves the length NULL until a PATCH declares it. A final concatenation is
 * assembled at once from its finished partials (store.c) and completed, so
 * its 201 comes with the whole length as its offset. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "upload/tus.h"

typedef struct create_headers {
    int64_t length;              /* -1: deferred (or final: from the partials) */
    mc_tus_concat concat;        /* kind 0: none */
    char *metadata;              /* canonical, malloc'd */
    char title[512];
    bool body;
} create_headers;

static int parse_lengths(mc_http_req *req, create_headers *h, mc_err *err) {
    size_t len, dlen;
    const char *v = mc_tus_header(req, "Upload-Length", &len);
    const char *d = mc_tus_header(req, "Upload-Defer-Length", &dlen);
    h->length = -1;
    if (h->concat.kind == MC_TUS_CONCAT_FINAL) {
        if (v || d)
            return mc_err_set(err, MC_ERR_INVALID, "a final upload takes its length from its "
                                                   "partial uploads: send no Upload-Length");
        return 0;
    }
    if (v && d)
        return mc_err_set(err, MC_ERR_INVALID, "send Upload-Length or Upload-Defer-Length, not both");
    if (d) return mc_tus_parse_defer_length(d, dlen, err);
    if (!v) return mc_err_set(err, MC_ERR_INVALID, "Upload-Length or Upload-Defer-Length: 1 is required");
    return mc_tus_parse_length(v, len, &h->length, err);
}

static void pick_title(const mc_tus_metadata *m, char *title, size_t cap) {
    const mc_tus_meta_pair *p = mc_tus_metadata_get(m, "filename");
    if (!p) p = mc_tus_metadata_get(m, "name");
    snprintf(title, cap, "%s", p ? (const char *)p->value : "");
}

static int parse_metadata(mc_http_req *req, create_headers *h, mc_err *err) {
    size_t len;
    const char *v = mc_tus_header(req, "Upload-Metadata", &len);
    mc_tus_metadata m = {0};
    if (v && mc_tus_parse_metadata(v, len, &m, err) < 0) return -1;
    pick_title(&m, h->title, sizeof h->title);
    int rc = mc_tus_format_metadata(m.pairs, m.count, &h->metadata, err);
    mc_tus_metadata_free(&m);
    return rc;
}

/* A body (creation-with-upload) is checked as a PATCH's: Content-Type and
 * Upload-Checksum. */
static int parse_headers(mc_http_req *req, mc_tus_req *t, create_headers *h, mc_err *err) {
    size_t len;
    const char *v = mc_tus_header(req, "Upload-Concat", &len);
    if (v && mc_tus_parse_concat(v, len, MC_TUS_BASE_PATH, NULL, &h->concat, err) < 0) return -1;
    if (parse_lengths(req, h, err) < 0 || parse_metadata(req, h, err) < 0) return -1;
    const char *cl = mc_tus_header(req, "Content-Length", NULL);
    const char *te = mc_tus_header(req, "Transfer-Encoding", NULL);
    h->body = (cl && strtoll(cl, NULL, 10) > 0) || te;
    if (!h->body) return 0;
    v = mc_tus_header(req, "Content-Type", &len);
    if (mc_tus_check_content_type(v, len, err) < 0) return -1;
    v = mc_tus_header(req, "Upload-Checksum", &len);
    t->has_checksum = v != NULL;
    return v ? mc_tus_parse_checksum(v, len, &t->expected, err) : 0;
}

static int64_t max_size(const mc_tus_req *t) {
    int64_t max = t->srv->set.max_size;
    if (t->claims.max_upload_bytes > 0 && t->claims.max_upload_bytes < max)
        max = t->claims.max_upload_bytes;
    return max;
}

/* The upload's identity, key and multipart upload. */
static int new_upload(mc_tus_req *t, create_headers *h, bool partial, mc_err *err) {
    mc_upload *u = &t->u;
    memset(u, 0, sizeof *u);
    if (mc_upload_new_id(u->id, err) < 0) return -1;
    if (t->claims.video[0]) {
        /* A token of one direct upload (mcloud-api): the video row exists. */
        if (partial || strlen(t->claims.video) != MC_UPLOAD_UUID_LEN)
            return mc_err_set(err, MC_ERR_INVALID, "this token allows only the plain upload of "
                                                   "video %s", t->claims.video);
        memcpy(u->video_id, t->claims.video, MC_UPLOAD_UUID_LEN + 1); /* length checked */
        u->video_reserved = true;
    } else if (!partial && mc_upload_new_uuid(u->video_id, err) < 0) {
        return -1;
    }
    snprintf(u->tenant, sizeof u->tenant, "%s", t->claims.tenant);
    if (partial) snprintf(u->s3_key, sizeof u->s3_key, "uploads/%s/data", u->id);
    else snprintf(u->s3_key, sizeof u->s3_key, "sources/%s/%s/source", u->tenant, u->video_id);
    u->length = h->length;
    u->max_bytes = max_size(t);
    u->part_size = mc_upload_part_size(t->srv->set.min_part_size,
                                       h->length >= 0 ? h->length : u->max_bytes);
    u->next_part = 1;
    u->expires_at = (int64_t)time(NULL) + t->srv->set.expiry_s;
    u->concat = partial ? MC_UPLOAD_CONCAT_PARTIAL : MC_UPLOAD_CONCAT_NONE;
    u->metadata = h->metadata;
    h->metadata = NULL;
    mc_s3 *s3 = mc_s3_pool_get(t->srv->s3, err);
    if (!s3) return -1;
    int rc = mc_s3_create_multipart_upload(s3, u->s3_key, "application/octet-stream",
                                           u->s3_upload_id, err);
    mc_s3_pool_put(t->srv->s3, s3);
    return rc;
}

/* The multipart upload of an upload that was never recorded, aborted (best
 * effort: an S3 lifecycle rule is the backstop). */
static void abandon_multipart(mc_tus_req *t) {
    mc_err ignored = {0};
    mc_s3 *s3 = mc_s3_pool_get(t->srv->s3, &ignored);
    if (!s3) return;
    mc_s3_abort_multipart_upload(s3, t->u.s3_key, t->u.s3_upload_id, &ignored);
    mc_s3_pool_put(t->srv->s3, s3);
}

static enum MHD_Result create_plain(mc_http_req *req, mc_tus_req *t, create_headers *h) {
    mc_err err = {0};
    if (h->length > max_size(t))
        return mc_tus_fail(req, 413, "Upload-Length %" PRId64 " exceeds the largest allowed "
                                     "upload of %" PRId64 " bytes", h->length, max_size(t));
    if (new_upload(t, h, h->concat.kind == MC_TUS_CONCAT_PARTIAL, &err) < 0)
        return mc_tus_fail_err(req, &err);
    if (mc_upload_state_create(t->srv, &t->u, h->title, &err) < 0) {
        abandon_multipart(t); /* e.g. a one-upload token used twice: no parts left behind */
        return mc_tus_fail_err(req, &err);
    }
    t->have_upload = t->created = true;
    mc_log_kv(MC_LOG_INFO, "upload created", "upload", t->u.id, "video", t->u.video_id, NULL);
    if (mc_upload_lock(t->srv, t->u.id, &t->lock, &err) < 0) return mc_tus_fail_err(req, &err);
    t->body_end = t->u.length >= 0 ? t->u.length : t->u.max_bytes;
    /* A zero-length upload is finished by its (empty) body, like a PATCH. */
    if (h->body || t->u.length == 0) return mc_tus_body_begin(req, t);
    return mc_tus_respond(req, t, 201, NULL);
}

/* ---- final concatenation ---------------------------------------------------- */

static enum MHD_Result load_partials(mc_http_req *req, mc_tus_req *t, const mc_tus_concat *c,
                                     mc_upload *parts, int64_t *total, bool *ok) {
    mc_err err = {0};
    *ok = false;
    *total = 0;
    for (size_t i = 0; i < c->count; i++) {
        if (mc_upload_state_load(t->srv, c->ids[i], &parts[i], &err) < 0)
            return mc_tus_fail(req, 400, "partial upload %s: %s", c->ids[i], err.msg);
        const mc_upload *p = &parts[i];
        if (strcmp(p->tenant, t->claims.tenant) != 0 || p->concat != MC_UPLOAD_CONCAT_PARTIAL)
            return mc_tus_fail(req, 400, "upload %s is not a partial upload of this tenant",
                               p->id);
        if (p->status != MC_UPLOAD_COMPLETED)
            return mc_tus_fail(req, 400, "partial upload %s is not finished", p->id);
        *total += p->length;
    }
    *ok = true;
    return MHD_YES;
}

static char *parts_json(const mc_tus_concat *c) {
    json_t *a = json_array();
    for (size_t i = 0; i < c->count; i++) json_array_append_new(a, json_string(c->ids[i]));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static int assemble(mc_tus_req *t, const mc_upload *parts, size_t count, mc_err *err) {
    mc_s3 *s3 = mc_s3_pool_get(t->srv->s3, err);
    if (!s3) return -1;
    int64_t prev = t->u.offset;
    int rc = mc_upload_store_concat(t->srv, s3, &t->u, parts, count, err);
    if (rc == 0) rc = mc_upload_state_commit(t->srv, &t->u, prev, &t->lock, err);
    if (rc == 0) rc = mc_upload_complete(t->srv, s3, &t->u, err);
    mc_s3_pool_put(t->srv->s3, s3);
    return rc;
}

static enum MHD_Result create_final(mc_http_req *req, mc_tus_req *t, create_headers *h) {
    mc_upload *parts = calloc(h->concat.count, sizeof *parts);
    if (!parts) return MHD_NO;
    bool ok;
    int64_t total;
    enum MHD_Result rc = load_partials(req, t, &h->concat, parts, &total, &ok);
    mc_err err = {0};
    if (ok && total > max_size(t)) {
        ok = false;
        rc = mc_tus_fail(req, 413, "the partial uploads add up to %" PRId64 " bytes, over the "
                                   "largest allowed upload of %" PRId64, total, max_size(t));
    }
    if (ok && t->claims.video[0]) {
        ok = false;
        rc = mc_tus_fail(req, 400, "this token allows only the plain upload of video %s",
                         t->claims.video);
    }
    if (ok) {
        h->length = total;
        ok = new_upload(t, h, false, &err) == 0;
        t->u.concat = MC_UPLOAD_CONCAT_FINAL;
        t->u.concat_parts = ok ? parts_json(&h->concat) : NULL;
        ok = ok && mc_upload_state_create(t->srv, &t->u, h->title, &err) == 0;
        t->have_upload = t->created = ok;
        ok = ok && mc_upload_lock(t->srv, t->u.id, &t->lock, &err) == 0 &&
             assemble(t, parts, h->concat.count, &err) == 0;
        rc = ok ? mc_tus_respond(req, t, 201, NULL) : mc_tus_fail_err(req, &err);
    }
    for (size_t i = 0; i < h->concat.count; i++) mc_upload_free(&parts[i]);
    free(parts);
    return rc;
}

enum MHD_Result mc_tus_create_first(mc_http_req *req, mc_tus_req *t) {
    enum MHD_Result rc;
    if (strcmp(req->path, "/files") != 0 && strcmp(req->path, MC_TUS_BASE_PATH) != 0)
        return mc_tus_fail(req, 405, "uploads are created by POST to %s", MC_TUS_BASE_PATH);
    mc_err err = {0};
    create_headers *h = calloc(1, sizeof *h);
    if (!h) return MHD_NO;
    if (parse_headers(req, t, h, &err) < 0) rc = mc_tus_fail_err(req, &err);
    else if (!mc_tus_authenticate(req, t, &rc)) { /* answered */ }
    else if (h->concat.kind == MC_TUS_CONCAT_FINAL) rc = create_final(req, t, h);
    else rc = create_plain(req, t, h);
    free(h->metadata);
    free(h);
    return rc;
}
