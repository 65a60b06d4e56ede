/* sink.h — where a transcode's outputs go.
 *
 * The engine names every output object by a relative path ("720p.mp4",
 * "hls/720p/init.mp4", "hls/720p/seg_00001.m4s", "hls/master.m3u8",
 * "thumbs/poster.jpg") and hands its bytes to a sink: open, write in order,
 * then close with commit=true (make it durable under that name) or
 * commit=false (drop it). The worker plugs in an S3 multipart sink under an
 * attempt prefix; tests use the local-directory sink below.
 *
 * A sink is called from several threads at once (one per rung), each on its
 * own objects, so open/write/close must be thread-safe across objects. */
#ifndef MCLOUD_TRANSCODE_SINK_H
#define MCLOUD_TRANSCODE_SINK_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libavformat/avio.h>

#include "common/error.h"

typedef struct mc_sink {
    void *ud;
    /* Starts object `name`; returns its handle, or NULL with err filled. */
    void *(*open)(void *ud, const char *name, const char *content_type, mc_err *err);
    int (*write)(void *ud, void *object, const uint8_t *data, size_t len, mc_err *err);
    /* Commits or drops the object and frees the handle, whatever it returns. */
    int (*close)(void *ud, void *object, bool commit, mc_err *err);
} mc_sink;

/* The local-directory sink: object "a/b.m4s" becomes <root>/a/b.m4s, written
 * as a ".part" file and renamed on commit. */
typedef struct mc_dir_sink {
    char root[PATH_MAX];
} mc_dir_sink;

/* Creates root if needed and points sink at dir (both owned by the caller). */
int mc_dir_sink_init(mc_sink *sink, mc_dir_sink *dir, const char *root, mc_err *err);

/* One-shot helpers: a whole buffer, or a whole local file, as one object. */
int mc_sink_put(const mc_sink *sink, const char *name, const char *content_type,
                const void *data, size_t len, mc_err *err);
/* Copying a large file takes a while: it stops, dropping the object, once
 * *cancel (optional) becomes true. */
int mc_sink_put_file(const mc_sink *sink, const char *name, const char *content_type,
                     const char *path, const atomic_bool *cancel, uint64_t *bytes, mc_err *err);

/* A write-only AVIOContext streaming into a new sink object, for muxers. */
AVIOContext *mc_sink_avio_open(const mc_sink *sink, const char *name,
                               const char *content_type, mc_err *err);
/* Flushes and closes it (commit or drop), frees *pb and sets it NULL; bytes
 * (optional) receives the object's size. A sink failure during earlier
 * writes is reported here with the sink's own reason. */
int mc_sink_avio_close(AVIOContext **pb, bool commit, uint64_t *bytes, mc_err *err);

/* Content type for an output name, from its extension. */
const char *mc_sink_content_type(const char *name);

#endif
