/* input.h — the source side of a job: opening and probing the input,
 * choosing its streams, opening their decoders, reading its geometry
 * (display size, rotation, frame rate, duration), and turning libav*
 * failures into reasons a person can act on ("not a media file", "truncated
 * input: media ends at 6.0 s of 10.0 s"). */
#ifndef MCLOUD_TRANSCODE_INPUT_H
#define MCLOUD_TRANSCODE_INPUT_H

#include <stdbool.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include "common/error.h"
#include "transcode/engine.h"

typedef struct mc_input {
    AVFormatContext *fmt;
    AVIOContext *own_pb;         /* opened from a URL; NULL for the caller's */
    AVStream *video, *audio;     /* the streams used; NULL when absent */
    AVCodecContext *vdec, *adec;
    int rotation;                /* clockwise degrees to turn frames upright */
    int display_w, display_h;    /* upright, square pixels */
    AVRational sample_aspect;    /* of the coded pixels */
    AVRational frame_rate;       /* of the output: the source's, capped */
    double duration_s;           /* declared by the container; 0 if unknown */
    bool duration_exact;         /* declared, not estimated from the bit rate */
    int64_t start_us;            /* subtracted from every timestamp: outputs start at 0 */
} mc_input;

int mc_input_open(mc_input *in, const mc_transcode_input *src, double max_fps, mc_err *err);
void mc_input_close(mc_input *in);

/* A timestamp of stream st shifted so the source starts at 0, in st's time base. */
int64_t mc_input_shift(const mc_input *in, const AVStream *st, int64_t ts);
/* The same in seconds. */
double mc_input_seconds(const mc_input *in, const AVStream *st, int64_t ts);

/* Reasons for av_read_frame and decoder failures at position at_s. */
int mc_input_read_failed(const mc_input *in, int averr, double at_s, mc_err *err);
int mc_input_decode_failed(const mc_input *in, const char *what, int averr, double at_s, mc_err *err);
/* Fails when the media ended well before the container's declared duration. */
int mc_input_check_complete(const mc_input *in, double end_s, mc_err *err);

#endif
