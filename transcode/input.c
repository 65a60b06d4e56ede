/* input.c — opening, probing and classifying the source (see input.h). */
#include "transcode/input.h"

#include <math.h>
#include <string.h>

#include <libavutil/display.h>

#include "transcode/fflog.h"

/* A shortfall below this is rounding or a short last frame, not truncation. */
#define TRUNCATION_SLACK_S 0.5
#define TRUNCATION_SLACK_FRACTION 0.02

/* "mov" for "mov,mp4,m4a,3gp,3g2,mj2" */
static int short_name_len(const AVInputFormat *f) { return (int)strcspn(f->name, ","); }

/* The input's own reads failed (a dropped connection, a disk error): that is
 * transient, unlike data that is there but wrong. */
static int io_failed(const AVIOContext *pb, double at_s, mc_err *err) {
    int e = pb ? pb->error : 0;
    if (e >= 0 || e == AVERROR_EOF || e == AVERROR_INVALIDDATA) return 0;
    if (at_s < 0) return mc_err_set(err, MC_ERR_UNAVAILABLE, "reading the input failed: %s", av_err2str(e));
    return mc_err_set(err, MC_ERR_UNAVAILABLE, "reading the input failed at %.1f s: %s", at_s, av_err2str(e));
}

static int open_io(mc_input *in, const mc_transcode_input *src, AVIOContext **pb, mc_err *err) {
    if (src->pb) {
        *pb = src->pb;
        return 0;
    }
    if (!src->url) return mc_err_set(err, MC_ERR_INVALID, "no input given");
    int ret = avio_open2(&in->own_pb, src->url, AVIO_FLAG_READ, NULL, NULL);
    if (ret < 0) {
        mc_err_kind kind = ret == AVERROR(ENOENT) ? MC_ERR_NOT_FOUND : MC_ERR_UNAVAILABLE;
        return mc_err_set(err, kind, "cannot open input %s: %s", src->url, av_err2str(ret));
    }
    *pb = in->own_pb;
    return 0;
}

/* Probes by content only: a text file named .mp4 is not media. */
static int open_container(mc_input *in, AVIOContext *pb, mc_err *err) {
    const AVInputFormat *ifmt = NULL;
    mc_fflog_clear();
    int ret = av_probe_input_buffer2(pb, &ifmt, "", NULL, 0, 0);
    if (ret < 0) {
        if (io_failed(pb, -1, err)) return -1;
        return mc_err_set(err, MC_ERR_INVALID, "not a media file: no audio or video container format recognised");
    }
    in->fmt = avformat_alloc_context();
    if (!in->fmt) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    in->fmt->pb = pb;
    in->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    mc_fflog_clear();
    ret = avformat_open_input(&in->fmt, "", ifmt, NULL);
    if (ret < 0) {
        if (io_failed(pb, -1, err)) return -1;
        const char *detail = mc_fflog_last_error();
        return mc_err_set(err, MC_ERR_INVALID, "corrupt or truncated %.*s file: %s",
                          short_name_len(ifmt), ifmt->name,
                          detail[0] ? detail : av_err2str(ret));
    }
    ret = avformat_find_stream_info(in->fmt, NULL);
    if (ret < 0 && io_failed(pb, -1, err)) return -1;
    if (ret < 0)
        return mc_err_set(err, MC_ERR_INVALID, "corrupt %.*s file: cannot read its streams: %s",
                          short_name_len(ifmt), ifmt->name, av_err2str(ret));
    return 0;
}

static void choose_streams(mc_input *in) {
    for (unsigned i = 0; i < in->fmt->nb_streams; i++) {
        AVStream *st = in->fmt->streams[i];
        const AVCodecParameters *par = st->codecpar;
        if (par->codec_type == AVMEDIA_TYPE_VIDEO && !in->video && par->width > 0 &&
            !(st->disposition & AV_DISPOSITION_ATTACHED_PIC))
            in->video = st;
        else if (par->codec_type == AVMEDIA_TYPE_AUDIO && !in->audio && par->ch_layout.nb_channels > 0)
            in->audio = st;
    }
    for (unsigned i = 0; i < in->fmt->nb_streams; i++) {
        AVStream *st = in->fmt->streams[i];
        if (st != in->video && st != in->audio) st->discard = AVDISCARD_ALL;
    }
}

static int open_decoder(AVStream *st, AVCodecContext **dec, mc_err *err) {
    const char *kind = av_get_media_type_string(st->codecpar->codec_type);
    const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
    if (!codec)
        return mc_err_set(err, MC_ERR_INVALID, "unsupported %s codec %s", kind,
                          avcodec_get_name(st->codecpar->codec_id));
    *dec = avcodec_alloc_context3(codec);
    if (!*dec) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    int ret = avcodec_parameters_to_context(*dec, st->codecpar);
    if (ret >= 0) {
        (*dec)->pkt_timebase = st->time_base;
        (*dec)->thread_count = 0;
        (*dec)->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
        mc_fflog_clear();
        ret = avcodec_open2(*dec, codec, NULL);
    }
    if (ret < 0)
        return mc_err_set(err, MC_ERR_INVALID, "cannot decode the %s stream (%s): %s", kind,
                          codec->name, av_err2str(ret));
    return 0;
}

static void read_geometry(mc_input *in, double max_fps) {
    AVStream *st = in->video;
    const int32_t *matrix = (const int32_t *)av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, NULL);
    in->rotation = matrix ? mc_ladder_rotation(av_display_rotation_get(matrix)) : 0;
    in->sample_aspect = av_guess_sample_aspect_ratio(in->fmt, st, NULL);
    mc_ladder_display_size(st->codecpar->width, st->codecpar->height, in->sample_aspect.num,
                           in->sample_aspect.den, in->rotation, &in->display_w, &in->display_h);
    AVRational fps = av_guess_frame_rate(in->fmt, st, NULL);
    if (fps.num <= 0 || fps.den <= 0) fps = (AVRational){30, 1};
    if (av_q2d(fps) > max_fps) fps = av_d2q(max_fps, 1001000);
    in->frame_rate = fps;
}

static double stream_seconds(const AVStream *st, int64_t ts) {
    return ts == AV_NOPTS_VALUE ? NAN : (double)ts * av_q2d(st->time_base);
}

/* Time 0 of the outputs is the first video frame (the first audio sample
 * without video), so the first keyframe is at 0 in every rung; audio before
 * it is cut, a late audio start is padded with silence. */
static void read_timing(mc_input *in) {
    AVStream *used[2] = {in->video, in->audio};
    AVStream *reference = in->video ? in->video : in->audio;
    double start = stream_seconds(reference, reference->start_time), duration = 0;
    for (int i = 0; i < 2; i++) {
        double d = used[i] ? stream_seconds(used[i], used[i]->duration) : NAN;
        if (isfinite(d) && d > duration) duration = d;
    }
    if (!isfinite(start))
        start = in->fmt->start_time == AV_NOPTS_VALUE ? 0 : (double)in->fmt->start_time / AV_TIME_BASE;
    if (duration <= 0 && in->fmt->duration != AV_NOPTS_VALUE)
        duration = (double)in->fmt->duration / AV_TIME_BASE;
    in->start_us = llround(start * AV_TIME_BASE);
    in->duration_s = duration > 0 ? duration : 0;
    in->duration_exact = in->duration_s > 0 &&
                         in->fmt->duration_estimation_method != AVFMT_DURATION_FROM_BITRATE;
}

int mc_input_open(mc_input *in, const mc_transcode_input *src, double max_fps, mc_err *err) {
    *in = (mc_input){0};
    AVIOContext *pb = NULL;
    if (open_io(in, src, &pb, err) != 0 || open_container(in, pb, err) != 0) goto fail;
    choose_streams(in);
    if (!in->video && !in->audio) {
        mc_err_set(err, MC_ERR_INVALID, "no video or audio stream in this %.*s file",
                   short_name_len(in->fmt->iformat), in->fmt->iformat->name);
        goto fail;
    }
    if (in->video && open_decoder(in->video, &in->vdec, err) != 0) goto fail;
    if (in->audio && open_decoder(in->audio, &in->adec, err) != 0) goto fail;
    if (in->video) read_geometry(in, max_fps);
    read_timing(in);
    return 0;
fail:
    mc_input_close(in);
    return -1;
}

void mc_input_close(mc_input *in) {
    avcodec_free_context(&in->vdec);
    avcodec_free_context(&in->adec);
    avformat_close_input(&in->fmt);
    avio_closep(&in->own_pb);
}

int64_t mc_input_shift(const mc_input *in, const AVStream *st, int64_t ts) {
    if (ts == AV_NOPTS_VALUE) return ts;
    return ts - av_rescale_q(in->start_us, AV_TIME_BASE_Q, st->time_base);
}

double mc_input_seconds(const mc_input *in, const AVStream *st, int64_t ts) {
    return ts == AV_NOPTS_VALUE ? 0 : (double)mc_input_shift(in, st, ts) * av_q2d(st->time_base);
}

/* A failure once the whole input was read, short of the declared duration,
 * is the input being cut off: say so rather than quote the codec. */
static bool truncated(const mc_input *in, double at_s, mc_err *err) {
    return in->fmt->pb && avio_feof(in->fmt->pb) && mc_input_check_complete(in, at_s, err) != 0;
}

int mc_input_read_failed(const mc_input *in, int averr, double at_s, mc_err *err) {
    if (io_failed(in->fmt->pb, at_s, err) || truncated(in, at_s, err)) return -1;
    const char *detail = mc_fflog_last_error();
    return mc_err_set(err, MC_ERR_INVALID, "corrupt or truncated input: reading failed at %.1f s: %s%s%s%s",
                      at_s, av_err2str(averr), detail[0] ? " (" : "", detail, detail[0] ? ")" : "");
}

int mc_input_decode_failed(const mc_input *in, const char *what, int averr, double at_s, mc_err *err) {
    if (io_failed(in->fmt->pb, at_s, err) || truncated(in, at_s, err)) return -1;
    const char *detail = mc_fflog_last_error();
    return mc_err_set(err, MC_ERR_INVALID, "%s decoding failed at %.1f s: %s%s%s%s", what, at_s,
                      av_err2str(averr), detail[0] ? " (" : "", detail, detail[0] ? ")" : "");
}

int mc_input_check_complete(const mc_input *in, double end_s, mc_err *err) {
    if (io_failed(in->fmt->pb, end_s, err)) return -1;
    if (!in->duration_exact) return 0;
    double slack = fmax(TRUNCATION_SLACK_S, TRUNCATION_SLACK_FRACTION * in->duration_s);
    if (end_s + slack >= in->duration_s) return 0;
    return mc_err_set(err, MC_ERR_INVALID, "truncated input: media ends at %.1f s of the %.1f s the %.*s file declares",
                      end_s, in->duration_s, short_name_len(in->fmt->iformat), in->fmt->iformat->name);
}
