/* encoders.c — encoder set-up (see encoders.h). The x264 options here are
 * the ones tests/bench/transcode gives the ffmpeg CLI; keep them in step. */
#include "transcode/encoders.h"

#include <stdio.h>

#include <libavutil/opt.h>

#include "transcode/fflog.h"

static AVCodecContext *open_encoder(const char *name, AVCodecContext *c, AVDictionary **opts,
                                    mc_err *err) {
    mc_fflog_clear();
    int ret = avcodec_open2(c, c->codec, opts);
    av_dict_free(opts);
    if (ret < 0) {
        mc_err_set(err, MC_ERR_INTERNAL, "opening the %s encoder: %s (%s)", name, av_err2str(ret),
                   mc_fflog_last_error());
        avcodec_free_context(&c);
    }
    return c;
}

static AVCodecContext *alloc_encoder(const char *name, mc_err *err) {
    const AVCodec *codec = avcodec_find_encoder_by_name(name);
    AVCodecContext *c = codec ? avcodec_alloc_context3(codec) : NULL;
    if (!c) mc_err_set(err, MC_ERR_INTERNAL, "encoder %s is not available", name);
    return c;
}

AVCodecContext *mc_encoder_h264_open(const mc_preset *p, const mc_rung *r, AVRational frame_rate,
                                     int threads, mc_err *err) {
    AVCodecContext *c = alloc_encoder("libx264", err);
    if (!c) return NULL;
    c->width = r->width;
    c->height = r->height;
    c->pix_fmt = AV_PIX_FMT_YUV420P;
    c->sample_aspect_ratio = (AVRational){1, 1};
    c->framerate = frame_rate;
    c->time_base = av_inv_q(frame_rate);
    c->gop_size = mc_ladder_gop_frames(p->segment_s, av_q2d(frame_rate));
    c->keyint_min = c->gop_size;
    c->rc_max_rate = (int64_t)r->spec.maxrate_kbps * 1000;
    c->rc_buffer_size = r->spec.bufsize_kbits * 1000;
    c->thread_count = threads;
    c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;

    char crf[16];
    snprintf(crf, sizeof crf, "%d", r->spec.crf);
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "preset", p->x264_preset, 0);
    av_dict_set(&opts, "profile", p->h264_profile, 0);
    av_dict_set(&opts, "crf", crf, 0);
    av_dict_set(&opts, "forced-idr", "1", 0);
    av_dict_set(&opts, "x264-params", "scenecut=0", 0);
    return open_encoder("H.264", c, &opts, err);
}

AVCodecContext *mc_encoder_aac_open(const mc_preset *p, int sample_rate, mc_err *err) {
    AVCodecContext *c = alloc_encoder("aac", err);
    if (!c) return NULL;
    c->sample_fmt = AV_SAMPLE_FMT_FLTP;
    c->sample_rate = sample_rate;
    av_channel_layout_default(&c->ch_layout, p->audio_channels);
    c->bit_rate = p->audio_bitrate;
    c->time_base = (AVRational){1, sample_rate};
    c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AVDictionary *opts = NULL;
    return open_encoder("AAC", c, &opts, err);
}

int mc_encode_jpeg(const AVFrame *frame, AVPacket *pkt, mc_err *err) {
    AVCodecContext *c = alloc_encoder("mjpeg", err);
    if (!c) return -1;
    c->width = frame->width;
    c->height = frame->height;
    c->pix_fmt = frame->format;
    c->color_range = frame->color_range; /* JPEG: full range */
    c->time_base = (AVRational){1, 25};
    c->flags |= AV_CODEC_FLAG_QSCALE;
    c->global_quality = 3 * FF_QP2LAMBDA;
    AVDictionary *opts = NULL;
    if (!(c = open_encoder("JPEG", c, &opts, err))) return -1;
    AVFrame *f = av_frame_clone(frame);
    int ret = f ? 0 : AVERROR(ENOMEM);
    if (ret == 0) {
        f->pts = 0;
        f->quality = c->global_quality;
        f->pict_type = AV_PICTURE_TYPE_NONE;
        ret = avcodec_send_frame(c, f);
    }
    if (ret >= 0) ret = avcodec_send_frame(c, NULL);
    if (ret >= 0) ret = avcodec_receive_packet(c, pkt);
    av_frame_free(&f);
    avcodec_free_context(&c);
    if (ret < 0) return mc_err_set(err, MC_ERR_INTERNAL, "encoding a thumbnail: %s", av_err2str(ret));
    return 0;
}
