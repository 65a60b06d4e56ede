/* filters.h — the libavfilter graphs of a job.
 *
 * Video: one graph per job. Decoded frames enter once; the graph rotates them
 * upright (display matrix), converts them to the output's constant frame rate,
 * then `split`s them into one branch per rung (scale to the rung's size and
 * 8-bit 4:2:0 in one swscale pass, square pixels) plus a thumbnail branch
 * that only lets the frames at thumbnail positions through to its scaler.
 *
 * Audio: resampled to the AAC encoder's rate, stereo and planar float, with
 * gaps filled and the start aligned to 0, cut into encoder-sized frames.
 *
 * Both graphs are built from the first decoded frame, so the source's real
 * pixel format, size and channel layout are used. */
#ifndef MCLOUD_TRANSCODE_FILTERS_H
#define MCLOUD_TRANSCODE_FILTERS_H

#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>

#include "common/error.h"
#include "transcode/ladder.h"

typedef struct mc_video_graph_spec {
    AVRational in_time_base;     /* of the frames' pts */
    AVRational sample_aspect;    /* of the source's pixels */
    int rotation;                /* clockwise degrees to turn upright */
    AVRational frame_rate;       /* output frame rate */
    const mc_rung *rungs;
    int n_rungs;
    int thumb_w, thumb_h;
    const double *thumb_times;   /* seconds, ascending; frames at or after each go to thumbnails */
    int n_thumb_times;
} mc_video_graph_spec;

typedef struct mc_video_graph {
    AVFilterGraph *graph;
    AVFilterContext *src;
    AVFilterContext *rung_sinks[MC_LADDER_MAX_RUNGS];
    int n_rungs;
    AVFilterContext *thumb_sink;
} mc_video_graph;

int mc_video_graph_init(mc_video_graph *g, const mc_video_graph_spec *spec,
                        const AVFrame *first, mc_err *err);
void mc_video_graph_free(mc_video_graph *g);

typedef struct mc_audio_graph {
    AVFilterGraph *graph;
    AVFilterContext *src, *sink;
} mc_audio_graph;

/* in_time_base: of the frames' pts; enc: the opened AAC encoder to feed. */
int mc_audio_graph_init(mc_audio_graph *g, AVRational in_time_base, const AVFrame *first,
                        const AVCodecContext *enc, mc_err *err);
void mc_audio_graph_free(mc_audio_graph *g);

#endif
