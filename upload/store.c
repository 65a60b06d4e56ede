/* store.c — an upload's bytes in S3: one multipart upload per tus upload,
 * every part but the last exactly part_size bytes, and the sub-part
 * remainder of a PATCH staged in S3 as uploads/<id>/tail.<next_part> before
 * the offset is acknowledged, so any replica can resume.
 *
 * Why the tail key carries the part number: a PATCH that dies after
 * uploading parts but before its commit must not destroy the tail the
 * committed state still points at. A new tail for the same part number only
 * ever extends the old one (same first byte), and readers read exactly
 * tail_bytes of it; a tail for a later part number is another object.
 *
 * A part the body is sure to fill streams straight from the request
 * thread: every write hands libmicrohttpd's buffer to a push-mode UploadPart
 * (common/s3.h), which copies it into libcurl's send buffer and sends it
 * before the write returns, so the client waits while S3 is slow (no
 * thread, no pipe, no copy of ours).
 *
 * An upload that fits in one part never becomes a multipart part: its bytes
 * stay in the staged tail, and completion makes the object with one
 * server-side CopyObject of the tail. Why: MinIO's CompleteMultipartUpload
 * is not crash-safe. It deletes every part's metadata (part.N.meta) before
 * it moves the data into place, so a MinIO killed in between leaves an
 * upload that lists 0 parts, or none at all, and no object: 7 and 10 of 60
 * completions killed at a random moment in their first 30 ms ended so (two
 * runs of tests/chaos/minio_complete.py; chaos.short had met it as "S3 lists
 * 0 of 1 parts"). A copy leaves its
 * source alone and can be repeated. A larger upload still completes its
 * multipart upload; see docs/ARCHITECTURE.md for that window.
 *
 * Memory per request: libcurl's send buffer while a full part streams,
 * otherwise at most one part of buffered remainder. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "upload/upload.h"

#define MIB (1024ull * 1024)
#define COPY_PIECE_MAX (4ull * 1024 * MIB) /* under UploadPartCopy's 5 GiB */

void mc_upload_tail_key(const mc_upload *u, int part, char key[MC_S3_KEY_MAX]) {
    snprintf(key, MC_S3_KEY_MAX, "uploads/%s/tail.%d", u->id, part);
}

/* ---- the writer --------------------------------------------------------- */

struct mc_upload_writer {
    mc_upload_server *srv;
    mc_upload *u;               /* advanced in place as parts become durable */
    const mc_lock *lock;
    mc_s3 *s3;                  /* tail reads and writes, buffered parts; taken when first needed */
    int64_t declared;           /* body bytes announced, -1 when chunked */
    uint64_t received;
    char *buf;                  /* buffered remainder of the current part */
    size_t buf_len, buf_cap;
    mc_s3_push *stream;         /* the part streaming now, or NULL */
    mc_s3 *stream_s3;           /* its handle */
    uint64_t stream_left;
    bool durable;               /* a part of this body is in S3 (u says up to where) */
    double last_extend;
};

/* The writer's own handle, borrowed on first use: a body that only streams
 * whole parts never needs it. */
static mc_s3 *writer_s3(mc_upload_writer *w, mc_err *err) {
    if (!w->s3) w->s3 = mc_s3_pool_get(w->srv->s3, err);
    return w->s3;
}

/* Keeps the write lock while a long body streams; fails if it was lost. */
static int keep_lock(mc_upload_writer *w, mc_err *err) {
    if (mc_monotonic_seconds() - w->last_extend < w->srv->set.lock_ttl_ms / 3000.0) return 0;
    if (mc_upload_lock_extend(w->srv, w->lock, err) < 0)
        return mc_err_wrap(err, "upload %s: lost the write lock", w->u->id);
    w->last_extend = mc_monotonic_seconds();
    return 0;
}

static int to_stream(void *ctx, const char *data, size_t len) {
    mc_upload_writer *w = ctx;
    mc_err ignored = {0};
    return mc_s3_push_write(w->stream, data, len, &ignored);
}

static int to_buffer(void *ctx, const char *data, size_t len) {
    mc_upload_writer *w = ctx;
    if (len > w->buf_cap - w->buf_len) return -1;
    memcpy(w->buf + w->buf_len, data, len);
    w->buf_len += len;
    return 0;
}

/* Pushes the committed tail (the first bytes of the current part) into the
 * stream or the buffer; only at the start of a body, when parts are aligned. */
static int read_tail(mc_upload_writer *w, mc_s3_write_fn sink, mc_err *err) {
    if (w->u->tail_bytes == 0) return 0;
    char key[MC_S3_KEY_MAX];
    mc_upload_tail_key(w->u, w->u->next_part, key);
    mc_s3_range range = {.first = 0, .last = w->u->tail_bytes - 1};
    mc_s3 *s3 = writer_s3(w, err);
    if (!s3 || mc_s3_get_object(s3, key, &range, sink, w, NULL, err) < 0)
        return mc_err_wrap(err, "reading staged tail %s", key);
    return 0;
}

static void mark_durable(mc_upload_writer *w) {
    w->u->next_part++;
    w->u->tail_bytes = 0;
    w->u->offset = (int64_t)((uint64_t)(w->u->next_part - 1) * w->u->part_size);
    w->durable = true;
}

/* Whether the upload is one part long: it then stays in the staged tail. */
static bool one_part(const mc_upload *u) {
    return u->next_part == 1 && u->length >= 0 && (uint64_t)u->length <= u->part_size;
}

static int start_stream(mc_upload_writer *w, uint64_t pending_in_s3, mc_err *err) {
    mc_s3 *s3 = mc_s3_pool_get(w->srv->s3, err);
    mc_s3_push *p = s3 ? mc_s3_upload_part_push(s3, w->u->s3_key, w->u->s3_upload_id,
                                                w->u->next_part, w->u->part_size, err)
                       : NULL;
    if (!p) {
        mc_s3_pool_put(w->srv->s3, s3);
        return mc_err_wrap(err, "upload %s part %d", w->u->id, w->u->next_part);
    }
    w->stream = p;
    w->stream_s3 = s3;
    w->stream_left = w->u->part_size - pending_in_s3;
    return 0;
}

/* Waits for the streaming part's answer; with err NULL, drops it (the part
 * is not uploaded). */
static int end_stream(mc_upload_writer *w, mc_err *err) {
    int rc = -1;
    char etag[MC_S3_ETAG_MAX];
    if (err) rc = mc_s3_push_finish(w->stream, etag, err);
    else mc_s3_push_abort(w->stream);
    mc_s3_pool_put(w->srv->s3, w->stream_s3);
    w->stream = NULL;
    w->stream_s3 = NULL;
    if (rc == 0) mark_durable(w);
    else if (err) mc_err_wrap(err, "upload %s part %d", w->u->id, w->u->next_part);
    return rc;
}

static int flush_buffer_part(mc_upload_writer *w, mc_err *err) {
    char etag[MC_S3_ETAG_MAX];
    mc_s3 *s3 = writer_s3(w, err);
    if (!s3 || mc_s3_upload_part(s3, w->u->s3_key, w->u->s3_upload_id, w->u->next_part,
                                 w->buf, w->buf_len, etag, err) < 0)
        return mc_err_wrap(err, "upload %s part %d", w->u->id, w->u->next_part);
    w->buf_len = 0;
    mark_durable(w);
    return 0;
}

/* At the start of a part: stream it when the body still to come guarantees
 * it fills up, else buffer. pending_in_s3: committed tail bytes not yet read. */
static int begin_part(mc_upload_writer *w, uint64_t pending_in_s3, mc_err *err) {
    if (w->declared >= 0 && !one_part(w->u)) {
        uint64_t rest = (uint64_t)w->declared - w->received;
        if (pending_in_s3 + rest >= w->u->part_size) {
            if (start_stream(w, pending_in_s3, err) < 0) return -1;
            return read_tail(w, to_stream, err);
        }
    }
    if (!w->buf) {
        w->buf_cap = w->u->part_size;
        if (w->declared >= 0 && pending_in_s3 + (uint64_t)w->declared - w->received < w->buf_cap)
            w->buf_cap = pending_in_s3 + (uint64_t)w->declared - w->received;
        w->buf = malloc(w->buf_cap ? w->buf_cap : 1);
        if (!w->buf) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    }
    return pending_in_s3 ? read_tail(w, to_buffer, err) : 0;
}

mc_upload_writer *mc_upload_writer_new(mc_upload_server *srv, mc_upload *u, const mc_lock *lock,
                                       int64_t declared, mc_err *err) {
    mc_upload_writer *w = calloc(1, sizeof *w);
    if (!w) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory"), NULL;
    *w = (mc_upload_writer){.srv = srv, .u = u, .lock = lock, .declared = declared,
                            .last_extend = mc_monotonic_seconds()};
    if (begin_part(w, u->tail_bytes, err) < 0) {
        mc_upload_writer_free(w);
        return NULL;
    }
    return w;
}

int mc_upload_writer_write(mc_upload_writer *w, const char *data, size_t len, mc_err *err) {
    while (len) {
        if (keep_lock(w, err) < 0) return -1;
        size_t n;
        if (w->stream) {
            n = len < w->stream_left ? len : (size_t)w->stream_left;
            if (mc_s3_push_write(w->stream, data, n, err) < 0) {
                mc_err_wrap(err, "upload %s part %d", w->u->id, w->u->next_part);
                return end_stream(w, NULL), -1;
            }
            w->stream_left -= n;
        } else {
            n = len < w->buf_cap - w->buf_len ? len : w->buf_cap - w->buf_len;
            if (n == 0) return mc_err_set(err, MC_ERR_INVALID, "body longer than announced");
            memcpy(w->buf + w->buf_len, data, n);
            w->buf_len += n;
        }
        w->received += n;
        data += n;
        len -= n;
        if (w->stream && w->stream_left == 0) {
            if (end_stream(w, err) < 0) return -1;
            if (begin_part(w, 0, err) < 0) return -1;
        } else if (!w->stream && w->buf_len == w->u->part_size && !one_part(w->u)) {
            if (flush_buffer_part(w, err) < 0) return -1;
        }
    }
    return 0;
}

static int stage_tail(mc_upload_writer *w, mc_err *err) {
    char key[MC_S3_KEY_MAX];
    mc_upload_tail_key(w->u, w->u->next_part, key);
    mc_s3 *s3 = writer_s3(w, err);
    if (!s3 || mc_s3_put_object(s3, key, w->buf, w->buf_len, "application/octet-stream",
                                NULL, err) < 0)
        return mc_err_wrap(err, "staging tail %s", key);
    return 0;
}

int mc_upload_writer_finish(mc_upload_writer *w, mc_err *err) {
    if (w->stream) {
        end_stream(w, NULL);
        return mc_err_set(err, MC_ERR_INVALID, "the body ended inside a part");
    }
    uint64_t committed = (uint64_t)(w->u->next_part - 1) * w->u->part_size;
    int64_t offset = (int64_t)(committed + w->buf_len);
    bool last = w->u->length >= 0 && offset == w->u->length;
    /* the last of several parts goes up now; anything else (a remainder, or
     * all of a one-part upload) is staged as the tail */
    bool last_part = last && w->u->next_part > 1;
    if (last_part && w->buf_len > 0) {
        if (flush_buffer_part(w, err) < 0) return -1;
    } else if (!last_part && w->buf_len > 0 && stage_tail(w, err) < 0) {
        return -1;
    }
    w->u->offset = offset;
    w->u->tail_bytes = last_part ? 0 : w->buf_len;
    return 0;
}

uint64_t mc_upload_writer_received(const mc_upload_writer *w) { return w->received; }

bool mc_upload_writer_durable(const mc_upload_writer *w) { return w->durable; }

void mc_upload_writer_free(mc_upload_writer *w) {
    if (!w) return;
    if (w->stream) end_stream(w, NULL);
    mc_s3_pool_put(w->srv->s3, w->s3);
    free(w->buf);
    free(w);
}

/* ---- completion, staging clean-up, abort ------------------------------- */

/* Parts 1..next_part-1 as ListParts reports them (later numbers are left
 * over from bodies that were never committed). */
static int committed_parts(mc_s3 *s3, const mc_upload *u, mc_s3_part **out, size_t *n,
                           mc_err *err) {
    size_t want = (size_t)(u->next_part - 1);
    mc_s3_part *parts = calloc(want ? want : 1, sizeof *parts);
    if (!parts) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    size_t have = 0;
    int marker = 0;
    for (;;) {
        mc_s3_parts_result page;
        if (mc_s3_list_parts(s3, u->s3_key, u->s3_upload_id, marker, 1000, &page, err) < 0) {
            free(parts);
            return -1;
        }
        for (size_t i = 0; i < page.count; i++)
            if (page.parts[i].number >= 1 && (size_t)page.parts[i].number <= want)
                parts[have++] = page.parts[i];
        bool more = page.truncated && page.next_part_number_marker < u->next_part - 1;
        marker = page.next_part_number_marker;
        mc_s3_parts_result_free(&page);
        if (!more) break;
    }
    if (have != want) {
        free(parts);
        return mc_err_set(err, MC_ERR_INTERNAL, "upload %s: S3 lists %zu of %zu parts: the storage "
                          "lost the rest (MinIO killed inside CompleteMultipartUpload does that; "
                          "see docs/ARCHITECTURE.md, upload)", u->id, have, want);
    }
    *out = parts;
    *n = have;
    return 0;
}

/* A committed state of several parts whose last bytes are still the staged
 * tail (a length declared once the bytes were there): the tail becomes the
 * last part, copied server-side. Rewriting the same part number makes it
 * safe to repeat. *last then lists that part too. */
static int upload_tail_as_last_part(mc_s3 *s3, const mc_upload *u, mc_upload *last, mc_err *err) {
    *last = *u;
    if (u->tail_bytes == 0) return 0;
    char etag[MC_S3_ETAG_MAX], key[MC_S3_KEY_MAX];
    mc_upload_tail_key(u, u->next_part, key);
    mc_s3_range range = {.first = 0, .last = u->tail_bytes - 1};
    int rc = mc_s3_upload_part_copy(s3, u->s3_key, u->s3_upload_id, u->next_part, key, &range, etag,
                                    err);
    last->next_part++;
    last->tail_bytes = 0;
    return rc;
}

/* An upload with no part (one part long, or empty): the object is a copy of
 * the staged tail, or empty; its multipart upload is dropped. Repeatable:
 * the tail stays until the completion is committed. */
static int complete_as_one_object(mc_s3 *s3, const mc_upload *u, mc_err *err) {
    if (u->tail_bytes != (uint64_t)u->length)
        return mc_err_set(err, MC_ERR_INTERNAL, "upload %s: the staged tail holds %" PRIu64
                          " of its %" PRId64 " bytes", u->id, u->tail_bytes, u->length);
    char key[MC_S3_KEY_MAX];
    mc_upload_tail_key(u, 1, key);
    int rc = u->tail_bytes ? mc_s3_copy_object(s3, u->s3_key, key, NULL, err)
                           : mc_s3_put_object(s3, u->s3_key, "", 0, "application/octet-stream", NULL,
                                              err);
    mc_s3_object_info info;
    if (rc == 0) rc = mc_s3_head_object(s3, u->s3_key, &info, err);
    if (rc == 0 && (int64_t)info.content_length != u->length) /* a tail only grows up to the length */
        rc = mc_err_set(err, MC_ERR_INTERNAL, "upload %s: the copy holds %" PRIu64 " of %" PRId64
                        " bytes", u->id, (uint64_t)info.content_length, u->length);
    mc_err ignored = {0};
    if (rc == 0 && u->s3_upload_id[0])
        mc_s3_abort_multipart_upload(s3, u->s3_key, u->s3_upload_id, &ignored);
    return rc;
}

/* Parts 1..n: the last staged part uploaded (by copy), then Complete. */
static int complete_multipart(mc_s3 *s3, const mc_upload *u, mc_err *err) {
    mc_s3_part *parts = NULL;
    size_t n = 0;
    mc_upload last;
    int rc = upload_tail_as_last_part(s3, u, &last, err);
    if (rc == 0) rc = committed_parts(s3, &last, &parts, &n, err);
    if (rc == 0) rc = mc_s3_complete_multipart_upload(s3, u->s3_key, u->s3_upload_id, parts, n,
                                                      NULL, err);
    free(parts);
    return rc;
}

int mc_upload_store_complete(mc_upload_server *srv, mc_s3 *s3, const mc_upload *u, mc_err *err) {
    (void)srv;
    int rc = u->next_part == 1 ? complete_as_one_object(s3, u, err) : complete_multipart(s3, u, err);
    if (rc < 0 && err->kind == MC_ERR_NOT_FOUND) {
        /* Completed before (a crash between Complete and our commit)? */
        mc_s3_object_info info;
        mc_err head_err = {0};
        if (mc_s3_head_object(s3, u->s3_key, &info, &head_err) == 0 &&
            (int64_t)info.content_length == u->length)
            rc = 0;
    }
    if (rc < 0) return mc_err_wrap(err, "completing upload %s", u->id);
    mc_upload_store_drop_staging(s3, u->id);
    return 0;
}

void mc_upload_store_drop_staging(mc_s3 *s3, const char *id) {
    char prefix[MC_S3_KEY_MAX];
    snprintf(prefix, sizeof prefix, "uploads/%s/tail.", id);
    mc_err err = {0}; /* best effort, as before: a tail left behind only costs storage */
    mc_s3_delete_prefix(s3, prefix, NULL, &err);
}

void mc_upload_store_abort(mc_s3 *s3, const mc_upload *u) {
    mc_err err = {0};
    if (u->s3_upload_id[0] &&
        mc_s3_abort_multipart_upload(s3, u->s3_key, u->s3_upload_id, &err) < 0 &&
        err.kind != MC_ERR_NOT_FOUND)
        mc_log_kv(MC_LOG_WARN, "abort multipart upload failed", "upload", u->id, "error",
                  err.msg, NULL);
    mc_upload_store_drop_staging(s3, u->id);
}

/* ---- concatenation -------------------------------------------------------- */

typedef struct concat_ctx {
    mc_upload_server *srv;
    mc_s3 *s3;
    mc_upload *u;
    char *buf;                  /* bytes waiting to reach MC_UPLOAD_MIN_PART */
    size_t len;
} concat_ctx;

static int add_part(concat_ctx *c, const char *source, const mc_s3_range *range, mc_err *err) {
    char etag[MC_S3_ETAG_MAX];
    int rc = source ? mc_s3_upload_part_copy(c->s3, c->u->s3_key, c->u->s3_upload_id,
                                             c->u->next_part, source, range, etag, err)
                    : mc_s3_upload_part(c->s3, c->u->s3_key, c->u->s3_upload_id, c->u->next_part,
                                        c->buf, c->len, etag, err);
    if (rc < 0) return mc_err_wrap(err, "concatenation part %d", c->u->next_part);
    c->u->next_part++;
    if (!source) c->len = 0;
    return 0;
}

static int to_concat_buffer(void *ctx, const char *data, size_t len) {
    concat_ctx *c = ctx;
    if (len > MC_UPLOAD_MIN_PART - c->len) return -1;
    memcpy(c->buf + c->len, data, len);
    c->len += len;
    return 0;
}

/* One partial object: whole pieces are copied server-side while nothing is
 * buffered and at least 5 MiB remain; otherwise bytes are read into the
 * buffer until it holds a valid part. */
static int concat_one(concat_ctx *c, const mc_upload *p, mc_err *err) {
    uint64_t size = (uint64_t)p->length, pos = 0;
    while (pos < size) {
        uint64_t rest = size - pos;
        if (c->len == 0 && rest >= MC_UPLOAD_MIN_PART) {
            uint64_t pieces = (rest + COPY_PIECE_MAX - 1) / COPY_PIECE_MAX;
            uint64_t n = pieces > 1 ? (rest + pieces - 1) / pieces : rest;
            mc_s3_range range = {.first = pos, .last = pos + n - 1};
            if (add_part(c, p->s3_key, &range, err) < 0) return -1;
            pos += n;
            continue;
        }
        uint64_t n = MC_UPLOAD_MIN_PART - c->len;
        if (n > rest) n = rest;
        mc_s3_range range = {.first = pos, .last = pos + n - 1};
        if (mc_s3_get_object(c->s3, p->s3_key, &range, to_concat_buffer, c, NULL, err) < 0)
            return mc_err_wrap(err, "reading partial %s", p->id);
        pos += n;
        if (c->len == MC_UPLOAD_MIN_PART && add_part(c, NULL, NULL, err) < 0) return -1;
    }
    return 0;
}

int mc_upload_store_concat(mc_upload_server *srv, mc_s3 *s3, mc_upload *u,
                           const mc_upload *partials, size_t count, mc_err *err) {
    concat_ctx c = {.srv = srv, .s3 = s3, .u = u, .buf = malloc(MC_UPLOAD_MIN_PART)};
    if (!c.buf) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < count; i++) rc = concat_one(&c, &partials[i], err);
    if (rc == 0 && (c.len > 0 || u->next_part == 1)) rc = add_part(&c, NULL, NULL, err);
    free(c.buf);
    if (rc == 0) u->offset = u->length;
    return rc;
}
