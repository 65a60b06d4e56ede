/* tus_patch.c — PATCH, and the body of a creation-with-upload POST: header
 * checks in tus order (415, 400, 404/410, 403, 423, 409, 413), the body
 * streamed through the writer (store.c) with its checksum computed on the
 * way, the checksum checked at the end (header, or trailer of a chunked
 * body: MHD_FOOTER_KIND), then one commit under the write lock and, when the
 * last byte arrived, the completion.
 *
 * A rejected body commits nothing: parts it uploaded sit beyond the
 * committed part number and are overwritten by the next body, and its tail
 * was never staged. A client that goes away mid-body keeps the full parts
 * already in S3 (the offset moves to the last part boundary), unless a
 * checksum covers the whole body. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "upload/tus.h"

/* Content-Length, or -1 for a chunked body. */
static int64_t declared_length(mc_http_req *req) {
    const char *v = mc_tus_header(req, "Content-Length", NULL);
    return v ? strtoll(v, NULL, 10) : -1;
}

static bool trailer_announced(mc_http_req *req) {
    const char *v = mc_tus_header(req, "Trailer", NULL);
    return v && strcasestr(v, "Upload-Checksum") != NULL;
}

/* A header checksum: one digest; a possible trailer: all three. */
static int setup_checksums(mc_http_req *req, mc_tus_req *t, mc_err *err) {
    static const mc_checksum_alg all[] = {MC_CHECKSUM_SHA1, MC_CHECKSUM_MD5, MC_CHECKSUM_CRC32};
    if (t->has_checksum) {
        t->nsums = 1;
        return mc_checksum_init(&t->sums[0], t->expected.alg, err);
    }
    if (!trailer_announced(req)) return 0;
    for (; t->nsums < 3; t->nsums++)
        if (mc_checksum_init(&t->sums[t->nsums], all[t->nsums], err) < 0) return -1;
    return 0;
}

/* An empty body that finishes the upload (a deferred length declared once
 * every byte is there, or a zero-length upload) still needs the writer: the
 * staged tail, or an empty part, becomes the last part. */
static bool empty_body_finishes(const mc_upload *u) {
    return u->status == MC_UPLOAD_ACTIVE && u->length >= 0 && u->offset == u->length &&
           (u->tail_bytes > 0 || u->next_part == 1);
}

enum MHD_Result mc_tus_body_begin(mc_http_req *req, mc_tus_req *t) {
    mc_err err = {0};
    int64_t declared = declared_length(req);
    t->prev_offset = t->u.offset;
    t->in_body = true;
    if (setup_checksums(req, t, &err) < 0) return mc_tus_refuse_body(req, t, &err);
    if (declared == 0 && !empty_body_finishes(&t->u)) return MHD_YES; /* the end commits any length */
    t->writer = mc_upload_writer_new(t->srv, &t->u, &t->lock, declared, &err);
    return t->writer ? MHD_YES : mc_tus_refuse_body(req, t, &err);
}

static bool body_failed(const mc_tus_req *t) { return t->fail.kind != MC_ERR_NONE; }

void mc_tus_body_chunk(mc_tus_req *t, const char *data, size_t len) {
    if (body_failed(t) || !t->writer) return;
    uint64_t at = (uint64_t)t->prev_offset + mc_upload_writer_received(t->writer);
    if (at + len > (uint64_t)t->body_end) {
        mc_err_set(&t->fail, MC_ERR_INVALID, "the body goes past the upload's %s of %" PRId64
                   " bytes", t->u.length >= 0 ? "length" : "largest allowed size", t->body_end);
        t->fail.status = 413;
        return;
    }
    mc_err err = {0};
    for (size_t i = 0; i < t->nsums; i++) mc_checksum_update(&t->sums[i], data, len, &err);
    mc_upload_writer_write(t->writer, data, len, &t->fail); /* answered at the body's end */
}

/* 0, or -1 with err (status 400 or 460) when the body's checksum is wrong. */
static int check_checksum(mc_http_req *req, mc_tus_req *t, mc_err *err) {
    if (t->has_checksum) return mc_checksum_verify(&t->sums[0], t->expected.digest,
                                                   t->expected.digest_len, err);
    if (t->nsums == 0) return 0;
    const char *v = NULL;
    size_t len = 0;
    if (MHD_lookup_connection_value_n(req->conn, MHD_FOOTER_KIND, "Upload-Checksum",
                                      strlen("Upload-Checksum"), &v, &len) != MHD_YES)
        return 0; /* announced but not sent: nothing to check */
    mc_tus_checksum trailer;
    if (mc_tus_parse_checksum(v, len, &trailer, err) < 0) return -1;
    for (size_t i = 0; i < t->nsums; i++)
        if (t->sums[i].alg == trailer.alg)
            return mc_checksum_verify(&t->sums[i], trailer.digest, trailer.digest_len, err);
    return 0;
}

enum MHD_Result mc_tus_body_end(mc_http_req *req, mc_tus_req *t) {
    t->answered = true;
    if (body_failed(t)) return mc_tus_refuse_body(req, t, &t->fail);
    mc_err err = {0};
    if (check_checksum(req, t, &err) < 0 ||
        (t->writer && mc_upload_writer_finish(t->writer, &err) < 0) ||
        mc_upload_state_commit(t->srv, &t->u, t->prev_offset, &t->lock, &err) < 0)
        return mc_tus_refuse_body(req, t, &err);
    if (mc_tus_finish_if_complete(t, &err) < 0)
        mc_log_kv(MC_LOG_WARN, "completion failed; the sweeper retries", "upload", t->u.id,
                  "error", err.msg, NULL);
    return mc_tus_respond(req, t, t->created ? 201 : 204, NULL);
}

void mc_tus_body_abandon(mc_tus_req *t) {
    bool durable = mc_upload_writer_durable(t->writer);
    mc_upload_writer_free(t->writer);
    t->writer = NULL;
    if (!durable || t->nsums > 0) return;
    mc_err err = {0};
    if (mc_upload_state_commit(t->srv, &t->u, t->prev_offset, &t->lock, &err) < 0)
        mc_log_kv(MC_LOG_WARN, "keeping the parts of a cut-off body failed", "upload", t->u.id,
                  "error", err.msg, NULL);
}

/* ---- PATCH's first call ---------------------------------------------------- */

typedef struct patch_headers {
    int64_t offset;
    int64_t length;              /* -1: not sent */
} patch_headers;

static int parse_headers(mc_http_req *req, mc_tus_req *t, patch_headers *h, mc_err *err) {
    size_t len;
    const char *v = mc_tus_header(req, "Content-Type", &len);
    if (mc_tus_check_content_type(v, len, err) < 0) return -1;
    v = mc_tus_header(req, "Upload-Offset", &len);
    if (mc_tus_parse_offset(v, len, &h->offset, err) < 0) return -1;
    h->length = -1;
    v = mc_tus_header(req, "Upload-Length", &len);
    if (v && mc_tus_parse_length(v, len, &h->length, err) < 0) return -1;
    v = mc_tus_header(req, "Upload-Checksum", &len);
    t->has_checksum = v != NULL;
    return v ? mc_tus_parse_checksum(v, len, &t->expected, err) : 0;
}

/* Takes the lock and re-reads the state it guards. */
static enum MHD_Result lock_upload(mc_http_req *req, mc_tus_req *t, bool *ok) {
    mc_err err = {0};
    *ok = false;
    if (mc_upload_lock(t->srv, t->u.id, &t->lock, &err) < 0)
        return err.kind == MC_ERR_CONFLICT ? mc_tus_lock_held(req, t->u.id)
                                           : mc_tus_fail_err(req, &err);
    mc_upload fresh;
    if (mc_upload_state_load(t->srv, t->u.id, &fresh, &err) < 0) return mc_tus_fail_err(req, &err);
    mc_upload_free(&t->u);
    t->u = fresh;
    *ok = true;
    return MHD_YES;
}

/* Upload-Length on a PATCH: declares a deferred length, or must repeat it. */
static enum MHD_Result apply_length(mc_http_req *req, mc_tus_req *t, int64_t length, bool *ok) {
    *ok = false;
    if (length < 0 || length == t->u.length) return *ok = true, MHD_YES;
    if (t->u.length >= 0)
        return mc_tus_fail(req, 400, "Upload-Length %" PRId64 " differs from the upload's %" PRId64,
                           length, t->u.length);
    if (length < t->u.offset)
        return mc_tus_fail(req, 400, "Upload-Length %" PRId64 " is below the offset %" PRId64,
                           length, t->u.offset);
    if (length > t->u.max_bytes)
        return mc_tus_fail(req, 413, "Upload-Length %" PRId64 " exceeds the largest allowed "
                                     "upload of %" PRId64 " bytes", length, t->u.max_bytes);
    t->u.length = length;
    *ok = true;
    return MHD_YES;
}

static enum MHD_Result check_upload(mc_http_req *req, mc_tus_req *t, const patch_headers *h,
                                    bool *ok) {
    *ok = false;
    if (t->u.offset != h->offset)
        return mc_tus_fail(req, 409, "Upload-Offset %" PRId64 " does not match the upload's "
                                     "offset %" PRId64, h->offset, t->u.offset);
    enum MHD_Result rc = apply_length(req, t, h->length, ok);
    if (!*ok) return rc;
    *ok = false;
    t->body_end = t->u.length >= 0 ? t->u.length : t->u.max_bytes;
    int64_t declared = declared_length(req);
    if (declared > 0 && declared > t->body_end - t->u.offset)
        return mc_tus_fail(req, 413, "%" PRId64 " bytes at offset %" PRId64 " go past the "
                                     "upload's end at %" PRId64, declared, t->u.offset,
                           t->body_end);
    *ok = true;
    return MHD_YES;
}

enum MHD_Result mc_tus_patch_first(mc_http_req *req, mc_tus_req *t) {
    mc_err err = {0};
    patch_headers h;
    if (parse_headers(req, t, &h, &err) < 0) return mc_tus_fail_err(req, &err);
    enum MHD_Result rc;
    if (!mc_tus_load_upload(req, t, &rc)) return rc;
    if (t->u.concat == MC_UPLOAD_CONCAT_FINAL)
        return mc_tus_fail(req, 403, "upload %s is a final concatenation; it cannot be patched",
                           t->u.id);
    bool ok;
    rc = lock_upload(req, t, &ok);
    if (ok) rc = check_upload(req, t, &h, &ok);
    if (!ok) return rc;
    return mc_tus_body_begin(req, t);
}
