/* engine.h — the transcoding engine: one source in, an adaptive ladder out.
 *
 * mc_transcode_run demuxes and decodes the source once, runs one filter graph
 * (split -> scale per rung), encodes every rung with libx264 and the audio
 * once with AAC, and writes through a sink (sink.h):
 *
 *   <rung>.mp4                  progressive MP4, moov first (faststart)
 *   hls/<rung>/index.m3u8       HLS media playlist, fMP4 segments:
 *   hls/<rung>/init.mp4, hls/<rung>/seg_00001.m4s, ...
 *   hls/master.m3u8             written last; bit rates measured on the segments
 *   thumbs/poster.jpg, thumbs/thumb_01.jpg, ...
 *
 * <rung> is "720p"-style for video; an audio-only source gives one rung
 * "audio" (audio.m4a and hls/audio/...). Rungs share keyframe timestamps: a
 * keyframe starts every segment in every rung.
 *
 * Memory stays bounded whatever the source length: frames flow through small
 * bounded queues, and the progressive MP4s are assembled in a temporary
 * directory (disk, about their final size) before being copied to the sink.
 *
 * Threads are named for top -H and the benchmarks: "tc-main" (demux,
 * decode hand-off, filters, audio), "tc-decode" (libavcodec's decoder
 * threads), "tc-filter" (libavfilter's), "x264-<rung>" (that rung's x264
 * threads), "rung-<rung>" (the rung's own thread: encode calls, muxing,
 * sink writes). The calling thread gets its name back at the end.
 *
 * On failure nothing is rolled back: objects already committed stay in the
 * sink, so a caller writes each attempt under its own prefix. */
#ifndef MCLOUD_TRANSCODE_ENGINE_H
#define MCLOUD_TRANSCODE_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <libavformat/avio.h>

#include "common/error.h"
#include "transcode/ladder.h"
#include "transcode/sink.h"

#define MC_TRANSCODE_NAME_MAX 64
#define MC_TRANSCODE_MASTER "hls/master.m3u8"   /* the master playlist's name */

typedef struct mc_transcode_input {
    /* Either a seekable AVIOContext owned by the caller (e.g. ranged GETs on
     * S3; a read callback failing with anything but AVERROR_EOF or
     * AVERROR_INVALIDDATA is taken as a transient I/O failure) ... */
    AVIOContext *pb;
    /* ... or, when pb is NULL, a path or URL libavformat opens itself. */
    const char *url;
} mc_transcode_input;

typedef struct mc_transcode_progress {
    double percent;      /* of the source duration decoded and handed to the rungs */
    double fps;          /* source frames decoded per second of wall time */
    int rungs;           /* renditions being produced */
    double position_s;
    double duration_s;   /* 0 when the container does not say */
} mc_transcode_progress;

typedef void mc_transcode_progress_fn(void *ud, const mc_transcode_progress *p);
/* Progressive publishing: called (from a rung's thread) when the master
 * playlist is first out and whenever every rung has grown, with the seconds
 * every rung's playlist covers. */
typedef void mc_transcode_playable_fn(void *ud, double seconds);

typedef struct mc_transcode_options {
    const mc_preset *preset;        /* NULL: "default" */
    const char *tmp_dir;            /* NULL: $TMPDIR, else /tmp */
    mc_transcode_progress_fn *on_progress;  /* called from the calling thread, about once a second */
    void *progress_ud;
    /* Checked between packets, and while the rungs flush and copy their
     * MP4s: once true the run stops within a frame or two, drops unfinished
     * outputs and fails with MC_ERR_UNAVAILABLE "transcode cancelled". */
    const atomic_bool *cancel;
    int encoder_threads;            /* x264 threads per rung; 0: automatic */
    /* Publish HLS as it is made (live.h): EVENT playlists and an early
     * master while running, the same final outputs at the end. */
    bool progressive;
    mc_transcode_playable_fn *on_playable;
    void *playable_ud;
    /* TEST ONLY: with progressive publishing, stop reading the source once
     * every rung has published this many segments, until the file
     * hold_release_path exists (or the run is cancelled). 0: never. Lets a
     * test act while a job provably runs. */
    int hold_after_segments;
    const char *hold_release_path;
    /* Frames (and audio packets) each rung's queue holds: how far decoding
     * may run ahead of the slowest rung. 0: the default, 8. */
    int queue_frames;
} mc_transcode_options;

typedef struct mc_rendition {
    char name[MC_RUNG_NAME_MAX];            /* "720p", "audio" */
    int width, height;                      /* 0 for audio */
    double frame_rate;                      /* 0 for audio */
    char codecs[64];                        /* "avc1.64001f,mp4a.40.2" */
    long bandwidth, average_bandwidth;      /* bits/s, as in the master playlist */
    char file[MC_TRANSCODE_NAME_MAX];       /* "720p.mp4", "audio.m4a" */
    uint64_t file_bytes;
    char playlist[MC_TRANSCODE_NAME_MAX];   /* "hls/720p/index.m3u8" */
    int segments;
    /* How long the decoding thread waited for room in this rung's queue
     * (the rung was behind), and how many times: a diagnostic. */
    double queue_full_s;
    long queue_full_waits;
    /* How long this rung's thread waited for a frame (its queue empty,
     * before the end): the rung starved for input. A diagnostic. */
    double queue_empty_s;
} mc_rendition;

typedef struct mc_transcode_result {
    double duration_s;                      /* of the HLS rungs, as written */
    bool has_video, has_audio;
    int n_renditions;                       /* tallest first */
    mc_rendition renditions[MC_LADDER_MAX_RUNGS];
    char master[MC_TRANSCODE_NAME_MAX];     /* "hls/master.m3u8" */
    int n_thumbnails;                       /* poster first */
    char thumbnails[1 + MC_LADDER_MAX_THUMBS][MC_TRANSCODE_NAME_MAX];
} mc_transcode_result;

/* Transcodes in into sink. On failure, err says why; MC_ERR_INVALID means the
 * source itself is unusable (not media, no audio or video stream, corrupt or
 * truncated — the message says which and where) and retrying cannot help;
 * other kinds are transient (sink or input I/O) or internal. */
int mc_transcode_run(const mc_transcode_input *in, const mc_sink *sink,
                     const mc_transcode_options *opts, mc_transcode_result *result, mc_err *err);

#endif
