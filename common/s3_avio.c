/* s3_avio.c — libavformat reads over S3 ranged GETs (see s3_avio.h). */
#include "common/s3_avio.h"

#include <libavutil/error.h>
#include <libavutil/mem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct s3_source {
    mc_s3 *s3;
    char key[MC_S3_KEY_MAX];
    uint64_t size, pos;
    mc_err err;                 /* the last failed read */
} s3_source;

typedef struct fill {
    uint8_t *buf;
    size_t cap, len;
} fill;

static int on_data(void *ctx, const char *data, size_t len) {
    fill *f = ctx;
    if (len > f->cap - f->len) return -1; /* the server sent more than the range */
    memcpy(f->buf + f->len, data, len);
    f->len += len;
    return 0;
}

static int read_packet(void *opaque, uint8_t *buf, int size) {
    s3_source *src = opaque;
    if (src->pos >= src->size) return AVERROR_EOF;
    uint64_t n = src->size - src->pos;
    if (n > (uint64_t)size) n = (uint64_t)size;
    mc_s3_range range = {.first = src->pos, .last = src->pos + n - 1};
    fill f = {.buf = buf, .cap = (size_t)n};
    if (mc_s3_get_object(src->s3, src->key, &range, on_data, &f, NULL, &src->err) < 0)
        return AVERROR(EIO);
    if (f.len == 0) return AVERROR_EOF;
    src->pos += f.len;
    return (int)f.len;
}

static int64_t seek(void *opaque, int64_t offset, int whence) {
    s3_source *src = opaque;
    int64_t base;
    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE: return (int64_t)src->size;
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = (int64_t)src->pos; break;
    case SEEK_END: base = (int64_t)src->size; break;
    default: return AVERROR(EINVAL);
    }
    if (base + offset < 0) return AVERROR(EINVAL);
    src->pos = (uint64_t)(base + offset);
    return (int64_t)src->pos;
}

AVIOContext *mc_s3_avio_open(mc_s3 *s3, const char *key, uint64_t size, mc_err *err) {
    s3_source *src = calloc(1, sizeof *src);
    unsigned char *buffer = av_malloc(MC_S3_AVIO_BUFFER);
    if (!src || !buffer || strlen(key) >= sizeof src->key) {
        free(src);
        av_free(buffer);
        return mc_err_set(err, MC_ERR_INVALID, "s3 avio: out of memory or key too long"), NULL;
    }
    src->s3 = s3;
    src->size = size;
    snprintf(src->key, sizeof src->key, "%s", key);
    AVIOContext *io = avio_alloc_context(buffer, MC_S3_AVIO_BUFFER, 0, src, read_packet, NULL, seek);
    if (!io) {
        free(src);
        av_free(buffer);
        mc_err_set(err, MC_ERR_INTERNAL, "s3 avio: avio_alloc_context failed");
        return NULL;
    }
    return io;
}

const mc_err *mc_s3_avio_error(AVIOContext *io) {
    return &((s3_source *)io->opaque)->err;
}

void mc_s3_avio_close(AVIOContext **io) {
    if (!io || !*io) return;
    free((*io)->opaque);
    av_freep(&(*io)->buffer);
    avio_context_free(io);
}
