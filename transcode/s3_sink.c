/* s3_sink.c — engine outputs streamed to S3: PutObject for small objects,
 * multipart uploads for large ones (see s3_sink.h). */
#include "transcode/s3_sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S3_MIN_PART (5u * 1024 * 1024)
#define MAX_PARTS 10000

typedef struct s3_object {
    mc_s3 *s3;
    char key[MC_S3_KEY_MAX];
    const char *content_type;
    uint8_t *buf;
    size_t len, cap;
    uint64_t total;
    char upload_id[MC_S3_UPLOAD_ID_MAX];   /* "" until the object outgrows one part */
    mc_s3_part *parts;
    size_t nparts;
} s3_object;

static void object_free(mc_s3_sink *s, s3_object *o) {
    mc_s3_pool_put(s->pool, o->s3);
    free(o->buf);
    free(o->parts);
    free(o);
}

static void *sink_open(void *ud, const char *name, const char *content_type, mc_err *err) {
    mc_s3_sink *s = ud;
    s3_object *o = calloc(1, sizeof *o);
    if (!o) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory"), NULL;
    int n = snprintf(o->key, sizeof o->key, "%s%s", s->prefix, name);
    if (n < 0 || (size_t)n >= sizeof o->key) {
        free(o);
        return mc_err_set(err, MC_ERR_INVALID, "object key too long: %s%s", s->prefix, name), NULL;
    }
    o->content_type = content_type ? content_type : mc_sink_content_type(name);
    o->s3 = mc_s3_pool_get(s->pool, err);
    if (!o->s3) {
        free(o);
        return NULL;
    }
    return o;
}

/* Sends the buffered bytes as the next part, starting the upload first. */
static int flush_part(s3_object *o, mc_err *err) {
    if (!o->upload_id[0] &&
        mc_s3_create_multipart_upload(o->s3, o->key, o->content_type, o->upload_id, err) < 0)
        return mc_err_wrap(err, "s3 sink %s", o->key);
    if (o->nparts == MAX_PARTS)
        return mc_err_set(err, MC_ERR_INVALID, "s3 sink %s: more than %d parts", o->key, MAX_PARTS);
    mc_s3_part *parts = realloc(o->parts, (o->nparts + 1) * sizeof *parts);
    if (!parts) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    o->parts = parts;
    mc_s3_part *p = &parts[o->nparts];
    memset(p, 0, sizeof *p);
    p->number = (int)o->nparts + 1;
    p->size = o->len;
    if (mc_s3_upload_part(o->s3, o->key, o->upload_id, p->number, o->buf, o->len, p->etag, err) < 0)
        return mc_err_wrap(err, "s3 sink %s part %d", o->key, p->number);
    o->nparts++;
    o->len = 0;
    return 0;
}

static int grow(s3_object *o, size_t need, size_t limit, mc_err *err) {
    if (o->cap >= need) return 0;
    size_t cap = o->cap ? o->cap : 64 * 1024;
    while (cap < need) cap *= 2;
    if (cap > limit) cap = limit;
    uint8_t *b = realloc(o->buf, cap);
    if (!b) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    o->buf = b;
    o->cap = cap;
    return 0;
}

static int sink_write(void *ud, void *object, const uint8_t *data, size_t len, mc_err *err) {
    mc_s3_sink *s = ud;
    s3_object *o = object;
    while (len > 0) {
        if (o->len == s->part_size && flush_part(o, err) < 0) return -1;
        size_t n = s->part_size - o->len;
        if (n > len) n = len;
        if (grow(o, o->len + n, s->part_size, err) < 0) return -1;
        memcpy(o->buf + o->len, data, n);
        o->len += n;
        o->total += n;
        data += n;
        len -= n;
    }
    return 0;
}

static int commit_object(mc_s3_sink *s, s3_object *o, mc_err *err) {
    if (!o->upload_id[0]) {
        if (mc_s3_put_object(o->s3, o->key, o->buf, o->len, o->content_type, NULL, err) < 0)
            return mc_err_wrap(err, "s3 sink %s", o->key);
    } else {
        if (o->len > 0 && flush_part(o, err) < 0) return -1;
        if (mc_s3_complete_multipart_upload(o->s3, o->key, o->upload_id, o->parts, o->nparts, NULL,
                                            err) < 0)
            return mc_err_wrap(err, "s3 sink %s", o->key);
        atomic_fetch_add(&s->multipart_objects, 1);
    }
    atomic_fetch_add(&s->objects, 1);
    atomic_fetch_add(&s->bytes, o->total);
    return 0;
}

static int sink_close(void *ud, void *object, bool commit, mc_err *err) {
    mc_s3_sink *s = ud;
    s3_object *o = object;
    int rc = commit ? commit_object(s, o, err) : 0;
    if (rc < 0 || !commit) {
        mc_err ignored = {0};
        if (o->upload_id[0]) mc_s3_abort_multipart_upload(o->s3, o->key, o->upload_id, &ignored);
    }
    object_free(s, o);
    return rc;
}

int mc_s3_sink_init(mc_sink *sink, mc_s3_sink *s, mc_s3_pool *pool, const char *prefix,
                    size_t part_size, mc_err *err) {
    memset(s, 0, sizeof *s);
    if (part_size < S3_MIN_PART)
        return mc_err_set(err, MC_ERR_INVALID, "s3 sink part size %zu is below 5 MiB", part_size);
    int n = snprintf(s->prefix, sizeof s->prefix, "%s", prefix);
    if (n < 0 || (size_t)n >= sizeof s->prefix)
        return mc_err_set(err, MC_ERR_INVALID, "s3 sink prefix too long");
    s->pool = pool;
    s->part_size = part_size;
    *sink = (mc_sink){.ud = s, .open = sink_open, .write = sink_write, .close = sink_close};
    return 0;
}
