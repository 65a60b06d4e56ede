/* s3_sink.h — the engine's sink (sink.h) writing objects to S3 under a prefix.
 *
 * Each object is buffered up to one part: an object that ends within it is
 * one PutObject, a larger one becomes a multipart upload whose parts are sent
 * as they fill (memory per open object: at most one part). Commit completes
 * the upload, drop aborts it. Objects borrow S3 handles from a pool, so the
 * rung threads write in parallel. The sink counts what it committed. */
#ifndef MCLOUD_TRANSCODE_S3_SINK_H
#define MCLOUD_TRANSCODE_S3_SINK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/s3_pool.h"
#include "transcode/sink.h"

typedef struct mc_s3_sink {
    mc_s3_pool *pool;
    char prefix[MC_S3_KEY_MAX / 2];   /* ends with '/' */
    size_t part_size;                 /* >= 5 MiB (S3's smallest part but the last) */
    atomic_uint_fast64_t objects, bytes, multipart_objects;
} mc_s3_sink;

/* Points sink at s (both owned by the caller). */
int mc_s3_sink_init(mc_sink *sink, mc_s3_sink *s, mc_s3_pool *pool, const char *prefix,
                    size_t part_size, mc_err *err);

#endif
