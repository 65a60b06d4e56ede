/* rung.h — one rendition in the making. A rung owns a thread that takes
 * scaled frames and encoded audio packets from its queue, encodes the video
 * with its own H.264 encoder (forcing a keyframe at every segment boundary),
 * and writes every packet into two packagings:
 *
 *  - the progressive MP4: libavformat's mp4 muxer into a temporary file,
 *    moved to the front (faststart) by the muxer's trailer, then copied to
 *    the sink as <name>.mp4 (audio-only: <name>.m4a);
 *  - HLS with fMP4 segments: libavformat's hls muxer, whose file opens are
 *    routed to the sink (segments and init.mp4 stream straight to it) or, for
 *    the media playlist it rewrites after every segment, to memory: the
 *    engine publishes the final text once the bit rates are known. */
#ifndef MCLOUD_TRANSCODE_RUNG_H
#define MCLOUD_TRANSCODE_RUNG_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include "common/error.h"
#include "transcode/engine.h"
#include "transcode/queue.h"
#include "transcode/sink.h"

#define MC_RUNG_OPEN_OBJECTS 4

struct mc_rung_output;

typedef struct mc_rung_output_spec {
    const char *name;            /* "720p", "audio" */
    const mc_sink *sink;
    const char *tmp_dir;
    AVCodecContext *venc;        /* opened H.264 encoder, owned by the rung from now on; NULL: audio only */
    const AVCodecContext *aenc;  /* opened AAC encoder (parameters only); NULL: no audio */
    double segment_s;
    int queue_capacity;
    const atomic_bool *cancel;   /* optional: stops the final flush and copy early */
    /* optional: called from the rung's thread after each rewrite of the
     * media playlist (r->playlist), i.e. after each committed segment */
    int (*on_playlist)(void *ud, struct mc_rung_output *r, mc_err *err);
    void *playlist_ud;
} mc_rung_output_spec;

typedef struct mc_hls_open_object {
    AVIOContext *pb;
    char name[MC_TRANSCODE_NAME_MAX];
    bool playlist;               /* kept in memory, not sent to the sink */
} mc_hls_open_object;

typedef struct mc_segment_size {
    char uri[MC_TRANSCODE_NAME_MAX];   /* as the playlist lists it */
    uint64_t bytes;
} mc_segment_size;

typedef struct mc_rung_output {
    char name[MC_RUNG_NAME_MAX];
    char file_name[MC_TRANSCODE_NAME_MAX];      /* "720p.mp4" */
    char playlist_name[MC_TRANSCODE_NAME_MAX];  /* "hls/720p/index.m3u8" */
    const mc_sink *sink;
    const atomic_bool *cancel;
    int (*on_playlist)(void *ud, struct mc_rung_output *r, mc_err *err);
    void *playlist_ud;
    AVCodecContext *venc;
    AVRational audio_time_base;
    int video_index, audio_index;   /* stream indexes in both muxers; -1 if absent */
    int64_t segment_ms, next_boundary;

    mc_queue queue;                 /* filled by the engine */
    pthread_t thread;
    bool thread_started;

    char mp4_path[PATH_MAX];
    AVFormatContext *mp4, *hls;
    bool mp4_started, hls_started, hls_finished;
    AVPacket *pkt, *copy;

    /* HLS file opens, touched by the rung's thread (or before it starts) */
    mc_hls_open_object open[MC_RUNG_OPEN_OBJECTS];
    bool dropping;                  /* failing: opened objects are dropped, not committed */
    bool sink_failed;               /* err holds the sink's reason */
    mc_segment_size *segments;
    int n_segments, segments_cap;
    char *playlist;                 /* the last media playlist text the muxer wrote */

    uint64_t file_bytes;
    bool failed;                    /* read after the thread is joined */
    mc_err err;
} mc_rung_output;

/* Sets up both muxers and writes their headers. On failure the rung still
 * needs mc_rung_output_free. */
int mc_rung_output_open(mc_rung_output *r, const mc_rung_output_spec *spec, mc_err *err);
int mc_rung_output_start(mc_rung_output *r, mc_err *err);
/* Waits for the thread (after mc_queue_end or mc_queue_close on its queue);
 * fails with the rung's own reason when it failed. */
int mc_rung_output_join(mc_rung_output *r, mc_err *err);
/* Size of a segment the HLS muxer wrote, by its playlist URI; 0 if unknown. */
uint64_t mc_rung_output_segment_bytes(const mc_rung_output *r, const char *uri);
/* Drops whatever is not committed, removes the temporary file, frees all. */
void mc_rung_output_free(mc_rung_output *r);

#endif
