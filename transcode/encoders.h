/* encoders.h — the encoders of a job, configured from the preset: H.264
 * (libx264) per rung with a fixed GOP, no scene-cut keyframes and capped
 * CRF; AAC-LC stereo once per job; JPEG for thumbnails. */
#ifndef MCLOUD_TRANSCODE_ENCODERS_H
#define MCLOUD_TRANSCODE_ENCODERS_H

#include <libavcodec/avcodec.h>

#include "common/error.h"
#include "transcode/ladder.h"

/* Opens libx264 for rung r at frame_rate (time base 1/frame_rate). Frames
 * sent with pict_type I become IDR frames: that is how segment boundaries
 * are forced. threads: x264 threads, 0 for x264's own choice. */
AVCodecContext *mc_encoder_h264_open(const mc_preset *p, const mc_rung *r, AVRational frame_rate,
                                     int threads, mc_err *err);
/* Opens the AAC encoder at sample_rate with the preset's bit rate and channels. */
AVCodecContext *mc_encoder_aac_open(const mc_preset *p, int sample_rate, mc_err *err);
/* Encodes one full-range 4:2:0 frame as a JPEG into pkt. */
int mc_encode_jpeg(const AVFrame *frame, AVPacket *pkt, mc_err *err);

#endif
