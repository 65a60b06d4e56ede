/* engine.c — one transcode from start to finish (see engine.h).
 *
 * The calling thread demuxes, decodes, filters and encodes the audio; each
 * rung encodes and packages its video in its own thread (rung.c), fed
 * through a bounded queue. When the source is exhausted and every rung has
 * finished, the engine publishes the media playlists, then the master
 * playlist computed from the segments actually written. */
#include "transcode/engine.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>

#include "common/daemon.h" /* mc_daemon_name_thread: naming the calling thread before opening a
                              * decoder, encoder or filter graph names their workers (engine.h) */
#include "common/log.h"
#include "transcode/encoders.h"
#include "transcode/fflog.h"
#include "transcode/filters.h"
#include "transcode/hls.h"
#include "transcode/input.h"
#include "transcode/live.h"
#include "transcode/rung.h"

#define RUNG_QUEUE_CAPACITY 8
#define PROGRESS_INTERVAL_S 1.0
#define HOLD_POLL_NS (50 * 1000000L)

typedef struct thumb_target {
    double at_s;
    char name[MC_TRANSCODE_NAME_MAX];
    bool written;
} thumb_target;

typedef struct job {
    const mc_transcode_options *opts;
    const mc_preset *preset;
    const mc_sink *sink;
    mc_transcode_result *result;
    mc_input in;

    mc_rung ladder[MC_LADDER_MAX_RUNGS];
    mc_rung_output rungs[MC_LADDER_MAX_RUNGS];
    int n_rungs;
    AVCodecContext *aenc;

    mc_video_graph vgraph;
    mc_audio_graph agraph;
    int thumb_w, thumb_h;
    thumb_target thumbs[1 + MC_LADDER_MAX_THUMBS];   /* by time */
    double thumb_times[1 + MC_LADDER_MAX_THUMBS];
    int n_thumbs, next_thumb;

    AVPacket *pkt, *apkt;
    AVFrame *frame, *filtered;
    char tmp_dir[PATH_MAX];

    double end_s;          /* furthest media time decoded */
    int64_t video_end;     /* end of the last video frame, in the video stream's time base */
    int64_t frames;        /* video frames decoded */
    double started, last_progress;

    bool progressive;      /* live is in use */
    mc_live live;
    bool released;         /* the test-only hold is over */
} job;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool cancelled(const job *j) { return j->opts->cancel && atomic_load(j->opts->cancel); }

static void report_progress(job *j, bool done) {
    if (!j->opts->on_progress) return;
    double now = now_s();
    if (!done && now - j->last_progress < PROGRESS_INTERVAL_S) return;
    j->last_progress = now;
    mc_transcode_progress p = {
        .position_s = j->end_s,
        .duration_s = j->in.duration_s,
        .rungs = j->n_rungs,
        .fps = now > j->started ? (double)j->frames / (now - j->started) : 0,
    };
    if (done) p.percent = 100;
    else if (p.duration_s > 0) p.percent = fmin(99.9, 100 * p.position_s / p.duration_s);
    j->opts->on_progress(j->opts->progress_ud, &p);
}

/* ---- set-up ---- */

static int make_tmp_dir(job *j, mc_err *err) {
    const char *base = j->opts->tmp_dir ? j->opts->tmp_dir : getenv("TMPDIR");
    if (!base || !base[0]) base = "/tmp";
    snprintf(j->tmp_dir, sizeof j->tmp_dir, "%s/mcloud-transcode-XXXXXX", base);
    if (!mkdtemp(j->tmp_dir)) {
        int e = errno;
        j->tmp_dir[0] = '\0';
        return mc_err_set(err, MC_ERR_INTERNAL, "creating a temporary directory in %s: %s", base, strerror(e));
    }
    return 0;
}

static int compare_targets(const void *a, const void *b) {
    double x = ((const thumb_target *)a)->at_s, y = ((const thumb_target *)b)->at_s;
    return (x > y) - (x < y);
}

static void plan_thumbnails(job *j) {
    double poster, times[1 + MC_LADDER_MAX_THUMBS];
    int n = mc_ladder_thumbnails(j->preset, j->in.duration_s, &poster, times);
    j->thumbs[0].at_s = poster;
    snprintf(j->thumbs[0].name, sizeof j->thumbs[0].name, "thumbs/poster.jpg");
    for (int i = 0; i < n; i++) {
        j->thumbs[i + 1].at_s = times[i];
        snprintf(j->thumbs[i + 1].name, sizeof j->thumbs[i + 1].name, "thumbs/thumb_%02d.jpg", i + 1);
    }
    j->n_thumbs = n + 1;
    qsort(j->thumbs, (size_t)j->n_thumbs, sizeof j->thumbs[0], compare_targets);
    for (int i = 0; i < j->n_thumbs; i++) j->thumb_times[i] = j->thumbs[i].at_s;
    mc_ladder_fit(j->in.display_w, j->in.display_h, j->preset->thumb_short_side, &j->thumb_w, &j->thumb_h);
}

/* "avc1.64001f,mp4a.40.2" for rung r. */
static int rung_codecs(const job *j, const mc_rung_output *r, char *codecs, size_t codecs_len, mc_err *err) {
    codecs[0] = '\0';
    if (r->venc && mc_hls_avc_codec(r->venc->extradata, r->venc->extradata_size, codecs, codecs_len) != 0)
        return mc_err_set(err, MC_ERR_INTERNAL, "rung %s: no SPS in the encoder's headers", r->name);
    if (j->aenc) snprintf(codecs + strlen(codecs), codecs_len - strlen(codecs), "%smp4a.40.2", codecs[0] ? "," : "");
    return 0;
}

/* The segments of r's playlist with the sizes written, and their rates. */
static int measure_rung(const mc_rung_output *r, mc_hls_media *media, mc_hls_rates *rates, mc_err *err) {
    if (mc_hls_media_parse(r->playlist, media, err) != 0) return mc_err_wrap(err, "rung %s", r->name);
    for (int s = 0; s < media->n_segments; s++)
        media->segments[s].bytes = mc_rung_output_segment_bytes(r, media->segments[s].uri);
    mc_hls_rates_compute(media, rates);
    return 0;
}

/* A rung's thread rewrote its playlist after a segment: publish it as it
 * grows (live.h). The final text (with #EXT-X-ENDLIST) is publish()'s. */
static int on_rung_playlist(void *ud, mc_rung_output *r, mc_err *err) {
    job *j = ud;
    if (strstr(r->playlist, "#EXT-X-ENDLIST") || !strstr(r->playlist, "#EXTINF:")) return 0;
    mc_hls_media media;
    mc_hls_rates rates;
    if (measure_rung(r, &media, &rates, err) != 0) return -1;
    int segments = media.n_segments;
    mc_hls_media_free(&media);
    char *text = mc_hls_playlist_retype(r->playlist, "EVENT", (int)ceil(j->preset->segment_s));
    if (!text) return mc_err_set(err, MC_ERR_INTERNAL, "rung %s: the segmenter's playlist has no type", r->name);
    return mc_live_update(&j->live, (int)(r - j->rungs), text, segments, rates.duration_s, &rates, err);
}

/* Tells the publisher what each rung is, once the encoders are open. */
static int describe_live_rungs(job *j, mc_err *err) {
    for (int i = 0; i < j->n_rungs; i++) {
        mc_rung_output *r = &j->rungs[i];
        char codecs[64], uri[MC_TRANSCODE_NAME_MAX];
        if (rung_codecs(j, r, codecs, sizeof codecs, err) != 0) return -1;
        snprintf(uri, sizeof uri, "%s/index.m3u8", r->name);
        mc_hls_variant v = {
            .width = r->venc ? r->venc->width : 0,
            .height = r->venc ? r->venc->height : 0,
            .frame_rate = r->venc ? av_q2d(j->in.frame_rate) : 0,
            .codecs = codecs,
        };
        mc_live_add_rung(&j->live, r->playlist_name, uri, &v);
    }
    return 0;
}

static int open_rung(job *j, const char *name, AVCodecContext *venc, mc_err *err) {
    mc_rung_output_spec spec = {
        .name = name,
        .sink = j->sink,
        .tmp_dir = j->tmp_dir,
        .venc = venc,
        .aenc = j->aenc,
        .segment_s = j->preset->segment_s,
        .queue_capacity = j->opts->queue_frames > 0 ? j->opts->queue_frames : RUNG_QUEUE_CAPACITY,
        .cancel = j->opts->cancel,
        .on_playlist = j->progressive ? on_rung_playlist : NULL,
        .playlist_ud = j,
    };
    return mc_rung_output_open(&j->rungs[j->n_rungs++], &spec, err);
}

static int prepare(job *j, mc_err *err) {
    if (make_tmp_dir(j, err) != 0) return -1;
    j->pkt = av_packet_alloc();
    j->apkt = av_packet_alloc();
    j->frame = av_frame_alloc();
    j->filtered = av_frame_alloc();
    if (!j->pkt || !j->apkt || !j->frame || !j->filtered)
        return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    if (j->in.adec) {
        int rate = mc_ladder_audio_sample_rate(j->in.adec->sample_rate);
        if (!(j->aenc = mc_encoder_aac_open(j->preset, rate, err))) return -1;
    }
    if (!j->in.vdec) {
        if (open_rung(j, "audio", NULL, err) != 0) return -1;
        return j->progressive ? describe_live_rungs(j, err) : 0;
    }

    int n = mc_ladder_compute(j->preset, j->in.display_w, j->in.display_h, j->ladder);
    if (n == 0)
        return mc_err_set(err, MC_ERR_INVALID, "unusable video size %dx%d", j->in.display_w, j->in.display_h);
    for (int i = 0; i < n; i++) {
        mc_daemon_name_thread("x264", j->ladder[i].name);
        AVCodecContext *venc = mc_encoder_h264_open(j->preset, &j->ladder[i], j->in.frame_rate,
                                                    j->opts->encoder_threads, err);
        mc_daemon_name_thread("tc-main", NULL);
        if (!venc || open_rung(j, j->ladder[i].name, venc, err) != 0) return -1;
    }
    plan_thumbnails(j);
    return j->progressive ? describe_live_rungs(j, err) : 0;
}

/* ---- stopping the rungs ---- */

/* Ends (finish == true) or closes every rung's queue and waits for the
 * threads; the first rung failure becomes the job's error. */
static int stop_rungs(job *j, bool finish, mc_err *err) {
    int rc = 0;
    for (int i = 0; i < j->n_rungs; i++) {
        if (finish) mc_queue_end(&j->rungs[i].queue);
        else mc_queue_close(&j->rungs[i].queue);
    }
    for (int i = 0; i < j->n_rungs; i++) {
        mc_err rung_err = {0};
        if (mc_rung_output_join(&j->rungs[i], &rung_err) != 0 && rc == 0) {
            *err = rung_err;
            rc = -1;
        }
    }
    return rc;
}

/* A push failed: the rung stopped. Its own reason is the job's error. */
static int rung_stopped(job *j, mc_err *err) {
    if (stop_rungs(j, false, err) == 0) mc_err_set(err, MC_ERR_INTERNAL, "a rung stopped without a reason");
    return -1;
}

/* ---- thumbnails ---- */

static int write_thumbnails(job *j, const AVFrame *f, AVRational tb, mc_err *err) {
    double t = (double)f->pts * av_q2d(tb);
    if (j->next_thumb >= j->n_thumbs || j->thumbs[j->next_thumb].at_s > t + 1e-6) return 0;
    AVPacket *jpeg = av_packet_alloc();
    if (!jpeg) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    int rc = mc_encode_jpeg(f, jpeg, err);
    for (; rc == 0 && j->next_thumb < j->n_thumbs && j->thumbs[j->next_thumb].at_s <= t + 1e-6; j->next_thumb++) {
        const char *name = j->thumbs[j->next_thumb].name;
        rc = mc_sink_put(j->sink, name, "image/jpeg", jpeg->data, (size_t)jpeg->size, err);
        j->thumbs[j->next_thumb].written = rc == 0;
    }
    av_packet_free(&jpeg);
    return rc;
}

/* ---- video path ---- */

static int drain_video_graph(job *j, mc_err *err) {
    for (int i = 0; i < j->vgraph.n_rungs; i++) {
        int ret;
        while ((ret = av_buffersink_get_frame(j->vgraph.rung_sinks[i], j->filtered)) >= 0) {
            if (mc_queue_push_frame(&j->rungs[i].queue, j->filtered) != 0) {
                av_frame_unref(j->filtered);
                return rung_stopped(j, err);
            }
        }
        if (ret != AVERROR(EAGAIN) && ret != AVERROR_EOF)
            return mc_err_set(err, MC_ERR_INTERNAL, "video filters: %s", av_err2str(ret));
    }
    int ret;
    AVRational tb = av_buffersink_get_time_base(j->vgraph.thumb_sink);
    while ((ret = av_buffersink_get_frame(j->vgraph.thumb_sink, j->filtered)) >= 0) {
        int rc = write_thumbnails(j, j->filtered, tb, err);
        av_frame_unref(j->filtered);
        if (rc != 0) return -1;
    }
    if (ret != AVERROR(EAGAIN) && ret != AVERROR_EOF)
        return mc_err_set(err, MC_ERR_INTERNAL, "thumbnail filters: %s", av_err2str(ret));
    return 0;
}

static int filter_video(job *j, AVFrame *f, mc_err *err) {
    if (!j->vgraph.graph) {
        if (!f) return 0;
        mc_video_graph_spec spec = {
            .in_time_base = j->in.video->time_base,
            .sample_aspect = j->in.sample_aspect,
            .rotation = j->in.rotation,
            .frame_rate = j->in.frame_rate,
            .rungs = j->ladder,
            .n_rungs = j->n_rungs,
            .thumb_w = j->thumb_w,
            .thumb_h = j->thumb_h,
            .thumb_times = j->thumb_times,
            .n_thumb_times = j->n_thumbs,
        };
        mc_daemon_name_thread("tc-filter", NULL);
        int rc = mc_video_graph_init(&j->vgraph, &spec, f, err);
        mc_daemon_name_thread("tc-main", NULL);
        if (rc != 0) return -1;
    }
    /* the end time lets the fps filter give the last frame its full duration */
    int ret = f ? av_buffersrc_add_frame(j->vgraph.src, f) : av_buffersrc_close(j->vgraph.src, j->video_end, 0);
    if (ret < 0) return mc_err_set(err, MC_ERR_INTERNAL, "video filters: %s", av_err2str(ret));
    return drain_video_graph(j, err);
}

static int on_video_frame(job *j, AVFrame *f, mc_err *err) {
    AVStream *st = j->in.video;
    f->pts = mc_input_shift(&j->in, st, f->best_effort_timestamp);
    if (f->pts == AV_NOPTS_VALUE) return 0; /* nothing to place it with */
    int64_t duration = f->pkt_duration > 0 ? f->pkt_duration
                                           : av_rescale_q(1, av_inv_q(j->in.frame_rate), st->time_base);
    if (f->pts + duration > j->video_end) j->video_end = f->pts + duration;
    j->end_s = fmax(j->end_s, (double)j->video_end * av_q2d(st->time_base));
    j->frames++;
    return filter_video(j, f, err);
}

/* ---- audio path ---- */

static int fan_out_audio(job *j, mc_err *err) {
    for (int i = 0; i < j->n_rungs; i++) {
        AVPacket *ref = av_packet_clone(j->apkt);
        if (!ref) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        int rc = mc_queue_push_packet(&j->rungs[i].queue, ref);
        av_packet_free(&ref);
        if (rc != 0) return rung_stopped(j, err);
    }
    av_packet_unref(j->apkt);
    return 0;
}

static int encode_audio(job *j, AVFrame *f, mc_err *err) {
    int ret = avcodec_send_frame(j->aenc, f);
    while (ret >= 0 && (ret = avcodec_receive_packet(j->aenc, j->apkt)) >= 0)
        if (fan_out_audio(j, err) != 0) return -1;
    if (ret != AVERROR(EAGAIN) && ret != AVERROR_EOF)
        return mc_err_set(err, MC_ERR_INTERNAL, "encoding audio: %s", av_err2str(ret));
    return 0;
}

static int filter_audio(job *j, AVFrame *f, mc_err *err) {
    if (!j->agraph.graph) {
        if (!f) return 0;
        mc_daemon_name_thread("tc-filter", NULL);
        int rc = mc_audio_graph_init(&j->agraph, j->in.audio->time_base, f, j->aenc, err);
        mc_daemon_name_thread("tc-main", NULL);
        if (rc != 0) return -1;
    }
    int ret = av_buffersrc_add_frame(j->agraph.src, f);
    if (ret < 0) return mc_err_set(err, MC_ERR_INTERNAL, "audio filters: %s", av_err2str(ret));
    AVRational tb = av_buffersink_get_time_base(j->agraph.sink);
    while ((ret = av_buffersink_get_frame(j->agraph.sink, j->filtered)) >= 0) {
        j->filtered->pts = av_rescale_q(j->filtered->pts, tb, j->aenc->time_base);
        int rc = encode_audio(j, j->filtered, err);
        av_frame_unref(j->filtered);
        if (rc != 0) return -1;
    }
    if (ret != AVERROR(EAGAIN) && ret != AVERROR_EOF)
        return mc_err_set(err, MC_ERR_INTERNAL, "audio filters: %s", av_err2str(ret));
    return 0;
}

static int on_audio_frame(job *j, AVFrame *f, mc_err *err) {
    AVStream *st = j->in.audio;
    f->pts = mc_input_shift(&j->in, st, f->best_effort_timestamp);
    if (f->pts != AV_NOPTS_VALUE)
        j->end_s = fmax(j->end_s, (double)f->pts * av_q2d(st->time_base) +
                                      (double)f->nb_samples / f->sample_rate);
    return filter_audio(j, f, err);
}

/* ---- decoding ---- */

typedef int frame_fn(job *j, AVFrame *f, mc_err *err);

/* Sends pkt (NULL: end of stream) to dec and passes every frame out to fn. */
static int decode(job *j, AVCodecContext *dec, AVPacket *pkt, frame_fn *fn, mc_err *err) {
    const char *what = dec == j->in.vdec ? "video" : "audio";
    mc_fflog_clear();
    int ret = avcodec_send_packet(dec, pkt);
    if (ret < 0 && ret != AVERROR_EOF) return mc_input_decode_failed(&j->in, what, ret, j->end_s, err);
    while ((ret = avcodec_receive_frame(dec, j->frame)) >= 0) {
        int rc = fn(j, j->frame, err);
        av_frame_unref(j->frame);
        if (rc != 0) return -1;
    }
    if (ret != AVERROR(EAGAIN) && ret != AVERROR_EOF) return mc_input_decode_failed(&j->in, what, ret, j->end_s, err);
    return 0;
}

static int flush_pipeline(job *j, mc_err *err) {
    if (j->in.vdec && (decode(j, j->in.vdec, NULL, on_video_frame, err) != 0 ||
                       filter_video(j, NULL, err) != 0))
        return -1;
    if (j->in.adec && (decode(j, j->in.adec, NULL, on_audio_frame, err) != 0 ||
                       filter_audio(j, NULL, err) != 0 || encode_audio(j, NULL, err) != 0))
        return -1;
    if (j->in.vdec && j->frames == 0)
        return mc_err_set(err, MC_ERR_INVALID, "the video stream has no decodable frame");
    return mc_input_check_complete(&j->in, j->end_s, err);
}

/* TEST ONLY (opts.hold_after_segments): once every rung has published that
 * many segments, waits until the release file exists. */
static int hold(job *j, mc_err *err) {
    const mc_transcode_options *o = j->opts;
    if (j->released || !j->progressive || o->hold_after_segments <= 0 ||
        mc_live_published_segments(&j->live) < o->hold_after_segments)
        return 0;
    char n[16];
    snprintf(n, sizeof n, "%d", o->hold_after_segments);
    mc_log_kv(MC_LOG_WARN, "TEST ONLY: transcode held", "segments", n, "until_exists",
              o->hold_release_path ? o->hold_release_path : "(no file: until cancelled)", NULL);
    while (!o->hold_release_path || access(o->hold_release_path, F_OK) != 0) {
        if (cancelled(j)) return mc_err_set(err, MC_ERR_UNAVAILABLE, "transcode cancelled");
        report_progress(j, false);
        nanosleep(&(struct timespec){.tv_nsec = HOLD_POLL_NS}, NULL);
    }
    j->released = true;
    return 0;
}

static int transcode(job *j, mc_err *err) {
    for (;;) {
        if (cancelled(j)) return mc_err_set(err, MC_ERR_UNAVAILABLE, "transcode cancelled");
        if (hold(j, err) != 0) return -1;
        mc_fflog_clear();
        int ret = av_read_frame(j->in.fmt, j->pkt);
        if (ret == AVERROR_EOF) break;
        if (ret < 0) return mc_input_read_failed(&j->in, ret, j->end_s, err);
        int rc = 0;
        if (j->in.video && j->pkt->stream_index == j->in.video->index)
            rc = decode(j, j->in.vdec, j->pkt, on_video_frame, err);
        else if (j->in.audio && j->pkt->stream_index == j->in.audio->index)
            rc = decode(j, j->in.adec, j->pkt, on_audio_frame, err);
        av_packet_unref(j->pkt);
        if (rc != 0) return -1;
        report_progress(j, false);
    }
    return flush_pipeline(j, err);
}

/* ---- publishing ---- */

/* The rung's rendition (out) owns its codecs string; the variant points at it. */
static int describe_rung(job *j, int i, mc_hls_variant *v, mc_err *err) {
    mc_rung_output *r = &j->rungs[i];
    mc_rendition *out = &j->result->renditions[i];
    mc_hls_media media;
    mc_hls_rates rates;
    if (measure_rung(r, &media, &rates, err) != 0) return -1;
    int segments = media.n_segments;
    mc_hls_media_free(&media);
    char codecs[sizeof out->codecs];
    if (rung_codecs(j, r, codecs, sizeof codecs, err) != 0) return -1;

    *out = (mc_rendition){
        .width = r->venc ? r->venc->width : 0,
        .height = r->venc ? r->venc->height : 0,
        .frame_rate = r->venc ? av_q2d(j->in.frame_rate) : 0,
        .bandwidth = rates.peak_bps,
        .average_bandwidth = rates.average_bps,
        .file_bytes = r->file_bytes,
        .segments = segments,
        .queue_full_s = (double)r->queue.full_wait_ns / 1e9,
        .queue_full_waits = (long)r->queue.full_waits,
        .queue_empty_s = (double)r->queue.empty_wait_ns / 1e9,
    };
    memcpy(out->codecs, codecs, sizeof out->codecs);
    snprintf(out->name, sizeof out->name, "%s", r->name);
    snprintf(out->file, sizeof out->file, "%s", r->file_name);
    snprintf(out->playlist, sizeof out->playlist, "%s", r->playlist_name);
    j->result->duration_s = fmax(j->result->duration_s, rates.duration_s);

    *v = (mc_hls_variant){
        .bandwidth = out->bandwidth,
        .average_bandwidth = out->average_bandwidth,
        .width = out->width,
        .height = out->height,
        .frame_rate = out->frame_rate,
        .codecs = out->codecs,
    };
    return mc_sink_put(j->sink, r->playlist_name, mc_sink_content_type(r->playlist_name), r->playlist,
                       strlen(r->playlist), err);
}

/* The poster first, then the thumbnails in time order. */
static void list_thumbnails(job *j) {
    mc_transcode_result *res = j->result;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < j->n_thumbs; i++) {
            bool poster = strcmp(j->thumbs[i].name, "thumbs/poster.jpg") == 0;
            if (!j->thumbs[i].written || poster != (pass == 0)) continue;
            snprintf(res->thumbnails[res->n_thumbnails], sizeof res->thumbnails[0], "%s", j->thumbs[i].name);
            res->n_thumbnails++;
        }
    }
}

static int publish(job *j, mc_err *err) {
    list_thumbnails(j);
    mc_hls_variant variants[MC_LADDER_MAX_RUNGS];
    char uris[MC_LADDER_MAX_RUNGS][MC_TRANSCODE_NAME_MAX];
    for (int i = 0; i < j->n_rungs; i++) {
        if (describe_rung(j, i, &variants[i], err) != 0) return -1;
        snprintf(uris[i], sizeof uris[i], "%s/index.m3u8", j->rungs[i].name);
        variants[i].uri = uris[i];
    }
    j->result->n_renditions = j->n_rungs;
    char *master = mc_hls_master(variants, j->n_rungs);
    if (!master) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    snprintf(j->result->master, sizeof j->result->master, "%s", MC_TRANSCODE_MASTER);
    int rc = mc_sink_put(j->sink, j->result->master, mc_sink_content_type(j->result->master), master,
                         strlen(master), err);
    free(master);
    return rc;
}

/* ---- the run ---- */

static int start_rungs(job *j, mc_err *err) {
    for (int i = 0; i < j->n_rungs; i++) {
        if (mc_rung_output_start(&j->rungs[i], err) != 0) {
            stop_rungs(j, false, &(mc_err){0});
            return -1;
        }
    }
    return 0;
}

static void cleanup(job *j) {
    for (int i = 0; i < j->n_rungs; i++) {
        mc_queue_close(&j->rungs[i].queue);
        mc_rung_output_join(&j->rungs[i], &(mc_err){0});
        mc_rung_output_free(&j->rungs[i]);
    }
    mc_video_graph_free(&j->vgraph);
    mc_audio_graph_free(&j->agraph);
    avcodec_free_context(&j->aenc);
    av_packet_free(&j->pkt);
    av_packet_free(&j->apkt);
    av_frame_free(&j->frame);
    av_frame_free(&j->filtered);
    if (j->tmp_dir[0]) rmdir(j->tmp_dir);
    if (j->progressive) mc_live_destroy(&j->live);
    mc_input_close(&j->in);
}

int mc_transcode_run(const mc_transcode_input *in, const mc_sink *sink,
                     const mc_transcode_options *opts, mc_transcode_result *result, mc_err *err) {
    static const mc_transcode_options defaults = {0};
    job j = {.opts = opts ? opts : &defaults, .sink = sink, .result = result, .started = now_s()};
    j.progressive = j.opts->progressive;
    *result = (mc_transcode_result){0};
    j.preset = j.opts->preset ? j.opts->preset : mc_preset_find("default");
    char why[128];
    if (!mc_preset_valid(j.preset, why, sizeof why))
        return mc_err_set(err, MC_ERR_INVALID, "preset %s: %s", j.preset->name, why);
    if (j.progressive) mc_live_init(&j.live, sink, j.opts->on_playable, j.opts->playable_ud);
    mc_fflog_install();
    char caller_name[MC_THREAD_NAME_MAX] = "";
    pthread_getname_np(pthread_self(), caller_name, sizeof caller_name);
    mc_daemon_name_thread("tc-decode", NULL);
    int rc = mc_input_open(&j.in, in, j.preset->max_fps, err);
    mc_daemon_name_thread("tc-main", NULL);
    if (rc != 0) {
        if (j.progressive) mc_live_destroy(&j.live);
        pthread_setname_np(pthread_self(), caller_name);
        return -1;
    }
    result->has_video = j.in.video != NULL;
    result->has_audio = j.in.audio != NULL;

    rc = prepare(&j, err);
    if (rc == 0) rc = start_rungs(&j, err);
    if (rc == 0 && transcode(&j, err) != 0) {
        rc = -1;
        stop_rungs(&j, false, &(mc_err){0});
    }
    if (rc == 0) rc = stop_rungs(&j, true, err);
    if (rc == 0) rc = publish(&j, err);
    if (rc == 0) report_progress(&j, true);
    cleanup(&j);
    pthread_setname_np(pthread_self(), caller_name);
    return rc;
}
