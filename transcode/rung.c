/* rung.c — a rendition's thread, encoder and packagings (see rung.h). */
#include "transcode/rung.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavutil/opt.h>

#include "common/daemon.h"
#include "transcode/fflog.h"
#include "transcode/hls.h"

static int fail_av(mc_rung_output *r, const char *what, int averr, mc_err *err) {
    if (r->sink_failed) {
        *err = r->err;
        return -1;
    }
    const char *detail = mc_fflog_last_error();
    return mc_err_set(err, MC_ERR_INTERNAL, "rung %s: %s: %s%s%s%s", r->name, what, av_err2str(averr),
                      detail[0] ? " (" : "", detail, detail[0] ? ")" : "");
}

/* ---- HLS file opens routed to the sink or to memory ---- */

static bool is_playlist(const char *url) {
    size_t n = strlen(url);
    return n > 5 && strcmp(url + n - 5, ".m3u8") == 0;
}

static int remember_segment(mc_rung_output *r, const char *url, uint64_t bytes) {
    if (r->n_segments == r->segments_cap) {
        int grown = r->segments_cap ? r->segments_cap * 2 : 64;
        mc_segment_size *s = realloc(r->segments, (size_t)grown * sizeof *s);
        if (!s) return AVERROR(ENOMEM);
        r->segments = s;
        r->segments_cap = grown;
    }
    const char *slash = strrchr(url, '/');
    mc_segment_size *s = &r->segments[r->n_segments++];
    snprintf(s->uri, sizeof s->uri, "%s", slash ? slash + 1 : url);
    s->bytes = bytes;
    return 0;
}

/* Progressive runs name the muxer's files "mc:hls/...": libavformat then
 * takes them for no local file, so it writes each EVENT playlist straight to
 * its name instead of to a ".tmp" file it would then rename() on disk. */
#define HLS_URL_SCHEME "mc:"

static int hls_io_open(AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                       AVDictionary **options) {
    (void)options;
    mc_rung_output *r = s->opaque;
    if (strncmp(url, HLS_URL_SCHEME, strlen(HLS_URL_SCHEME)) == 0) url += strlen(HLS_URL_SCHEME);
    if (!(flags & AVIO_FLAG_WRITE)) return AVERROR(ENOSYS);
    mc_hls_open_object *slot = NULL;
    for (int i = 0; i < MC_RUNG_OPEN_OBJECTS && !slot; i++)
        if (!r->open[i].pb) slot = &r->open[i];
    if (!slot) return AVERROR(EMFILE);
    bool playlist = is_playlist(url);
    if (playlist) {
        int ret = avio_open_dyn_buf(pb);
        if (ret < 0) return ret;
    } else if (!(*pb = mc_sink_avio_open(r->sink, url, mc_sink_content_type(url), &r->err))) {
        r->sink_failed = true;
        return AVERROR(EIO);
    }
    slot->pb = *pb;
    slot->playlist = playlist;
    snprintf(slot->name, sizeof slot->name, "%s", url);
    return 0;
}

static int keep_playlist(mc_rung_output *r, AVIOContext *pb) {
    uint8_t *buf = NULL;
    int len = avio_close_dyn_buf(pb, &buf);
    char *text = malloc((size_t)len + 1);
    if (text) {
        memcpy(text, buf, (size_t)len);
        text[len] = '\0';
        free(r->playlist);
        r->playlist = text;
    }
    av_free(buf);
    if (!text) return AVERROR(ENOMEM);
    if (r->on_playlist && !r->dropping && r->on_playlist(r->playlist_ud, r, &r->err) != 0) {
        r->sink_failed = true;
        return AVERROR(EIO);
    }
    return 0;
}

static int close_object(mc_rung_output *r, mc_hls_open_object *o) {
    AVIOContext *pb = o->pb;
    o->pb = NULL;
    if (o->playlist) return keep_playlist(r, pb);
    uint64_t bytes = 0;
    bool commit = !r->dropping;
    if (mc_sink_avio_close(&pb, commit, &bytes, commit ? &r->err : NULL) != 0 && commit) {
        r->sink_failed = true;
        return AVERROR(EIO);
    }
    return commit ? remember_segment(r, o->name, bytes) : 0;
}

static int hls_io_close(AVFormatContext *s, AVIOContext *pb) {
    mc_rung_output *r = s->opaque;
    for (int i = 0; i < MC_RUNG_OPEN_OBJECTS; i++)
        if (r->open[i].pb == pb) return close_object(r, &r->open[i]);
    return AVERROR_BUG;
}

/* ---- muxers ---- */

static int add_streams(mc_rung_output *r, AVFormatContext *oc, const mc_rung_output_spec *spec) {
    const AVCodecContext *encs[2] = {spec->venc, spec->aenc};
    for (int i = 0; i < 2; i++) {
        if (!encs[i]) continue;
        AVStream *st = avformat_new_stream(oc, NULL);
        if (!st || avcodec_parameters_from_context(st->codecpar, encs[i]) < 0) return AVERROR(ENOMEM);
        st->time_base = encs[i]->time_base;
        if (encs[i] == spec->venc) st->avg_frame_rate = spec->venc->framerate;
    }
    r->video_index = spec->venc ? 0 : -1;
    r->audio_index = spec->aenc ? (spec->venc ? 1 : 0) : -1;
    return 0;
}

static int open_mp4(mc_rung_output *r, const mc_rung_output_spec *spec, mc_err *err) {
    snprintf(r->mp4_path, sizeof r->mp4_path, "%s/%s", spec->tmp_dir, r->file_name);
    int ret = avformat_alloc_output_context2(&r->mp4, NULL, spec->venc ? "mp4" : "ipod", r->mp4_path);
    if (ret >= 0) ret = add_streams(r, r->mp4, spec);
    if (ret >= 0) ret = avio_open(&r->mp4->pb, r->mp4_path, AVIO_FLAG_WRITE);
    if (ret < 0) return fail_av(r, "creating the MP4", ret, err);
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "movflags", "+faststart", 0);
    ret = avformat_write_header(r->mp4, &opts);
    av_dict_free(&opts);
    if (ret < 0) return fail_av(r, "writing the MP4 header", ret, err);
    r->mp4_started = true;
    return 0;
}

static int open_hls(mc_rung_output *r, const mc_rung_output_spec *spec, mc_err *err) {
    const char *scheme = spec->on_playlist ? HLS_URL_SCHEME : "";
    char url[MC_TRANSCODE_NAME_MAX + 8];
    snprintf(url, sizeof url, "%s%s", scheme, r->playlist_name);
    int ret = avformat_alloc_output_context2(&r->hls, NULL, "hls", url);
    if (ret >= 0) ret = add_streams(r, r->hls, spec);
    if (ret < 0) return fail_av(r, "creating the HLS muxer", ret, err);
    r->hls->opaque = r;
    r->hls->io_open = hls_io_open;
    r->hls->io_close2 = hls_io_close;
    char segment_s[32], segments[MC_TRANSCODE_NAME_MAX + 16];
    snprintf(segment_s, sizeof segment_s, "%.3f", spec->segment_s);
    snprintf(segments, sizeof segments, "%shls/%s/seg_%%05d.m4s", scheme, r->name);
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "hls_time", segment_s, 0);
    /* progressive: the segmenter rewrites the playlist after every segment
     * only for EVENT playlists (finish() turns the last text back to VOD) */
    av_dict_set(&opts, "hls_playlist_type", r->on_playlist ? "event" : "vod", 0);
    av_dict_set(&opts, "hls_list_size", "0", 0);
    av_dict_set(&opts, "hls_segment_type", "fmp4", 0);
    av_dict_set(&opts, "hls_fmp4_init_filename", "init.mp4", 0);
    av_dict_set(&opts, "hls_segment_filename", segments, 0);
    av_dict_set(&opts, "hls_flags", "independent_segments", 0);
    av_dict_set(&opts, "start_number", "1", 0);
    ret = avformat_write_header(r->hls, &opts);
    av_dict_free(&opts);
    if (ret < 0) return fail_av(r, "writing the HLS header", ret, err);
    r->hls_started = true;
    return 0;
}

int mc_rung_output_open(mc_rung_output *r, const mc_rung_output_spec *spec, mc_err *err) {
    *r = (mc_rung_output){.venc = spec->venc, .sink = spec->sink, .cancel = spec->cancel,
                          .on_playlist = spec->on_playlist, .playlist_ud = spec->playlist_ud,
                          .video_index = -1, .audio_index = -1};
    snprintf(r->name, sizeof r->name, "%s", spec->name);
    snprintf(r->file_name, sizeof r->file_name, "%s.%s", spec->name, spec->venc ? "mp4" : "m4a");
    snprintf(r->playlist_name, sizeof r->playlist_name, "hls/%s/index.m3u8", spec->name);
    r->segment_ms = llround(spec->segment_s * 1000);
    if (spec->aenc) r->audio_time_base = spec->aenc->time_base;
    r->pkt = av_packet_alloc();
    r->copy = av_packet_alloc();
    if (!r->pkt || !r->copy || mc_queue_init(&r->queue, spec->queue_capacity) != 0)
        return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    if (open_mp4(r, spec, err) != 0 || open_hls(r, spec, err) != 0) return -1;
    return 0;
}

/* ---- the rung's thread ---- */

static int write_packet(mc_rung_output *r, AVPacket *pkt, int index, AVRational tb, mc_err *err) {
    pkt->stream_index = index;
    int ret = av_packet_ref(r->copy, pkt);
    if (ret >= 0) {
        av_packet_rescale_ts(r->copy, tb, r->mp4->streams[index]->time_base);
        ret = av_interleaved_write_frame(r->mp4, r->copy);
    }
    if (ret < 0) return fail_av(r, "writing the MP4", ret, err);
    av_packet_rescale_ts(pkt, tb, r->hls->streams[index]->time_base);
    ret = av_interleaved_write_frame(r->hls, pkt);
    if (ret < 0 || r->sink_failed) return fail_av(r, "writing HLS", ret < 0 ? ret : AVERROR(EIO), err);
    return 0;
}

/* A frame at or past the next segment boundary becomes an IDR frame; every
 * other frame is left to the encoder (a source keyframe must not leak in). */
static void mark_segment_boundary(mc_rung_output *r, AVFrame *f) {
    int64_t ms = av_rescale_q_rnd(f->pts, r->venc->time_base, (AVRational){1, 1000}, AV_ROUND_DOWN);
    if (ms >= r->next_boundary * r->segment_ms) {
        f->pict_type = AV_PICTURE_TYPE_I;
        r->next_boundary = ms / r->segment_ms + 1;
    } else {
        f->pict_type = AV_PICTURE_TYPE_NONE;
    }
}

static int encode_video(mc_rung_output *r, AVFrame *f, mc_err *err) {
    if (f) mark_segment_boundary(r, f);
    int ret = avcodec_send_frame(r->venc, f);
    if (ret < 0) return fail_av(r, "encoding", ret, err);
    while ((ret = avcodec_receive_packet(r->venc, r->pkt)) >= 0)
        if (write_packet(r, r->pkt, r->video_index, r->venc->time_base, err) != 0) return -1;
    if (ret != AVERROR(EAGAIN) && ret != AVERROR_EOF) return fail_av(r, "encoding", ret, err);
    return 0;
}

/* Returns 0 at the end of the input, 1 when told to stop, -1 on failure. */
static int process_items(mc_rung_output *r, mc_err *err) {
    for (;;) {
        mc_queue_item it = mc_queue_pop(&r->queue);
        int rc = 0;
        switch (it.kind) {
        case MC_QUEUE_FRAME:
            rc = encode_video(r, it.frame, err);
            av_frame_free(&it.frame);
            break;
        case MC_QUEUE_PACKET:
            rc = write_packet(r, it.packet, r->audio_index, r->audio_time_base, err);
            av_packet_free(&it.packet);
            break;
        case MC_QUEUE_END:
            return 0;
        case MC_QUEUE_CLOSED:
            return 1;
        }
        if (rc != 0) return -1;
    }
}

static bool cancelled(const mc_rung_output *r) { return r->cancel && atomic_load(r->cancel); }

static int finish(mc_rung_output *r, mc_err *err) {
    if (r->venc && encode_video(r, NULL, err) != 0) return -1;
    if (cancelled(r)) return mc_err_set(err, MC_ERR_UNAVAILABLE, "transcode cancelled");
    int ret = av_write_trailer(r->mp4);
    if (ret >= 0) ret = avio_closep(&r->mp4->pb);
    if (ret < 0) return fail_av(r, "finishing the MP4", ret, err);
    ret = av_write_trailer(r->hls);
    r->hls_finished = true;
    if (ret < 0 || r->sink_failed) return fail_av(r, "finishing HLS", ret < 0 ? ret : AVERROR(EIO), err);
    if (!r->playlist) return mc_err_set(err, MC_ERR_INTERNAL, "rung %s: no media playlist written", r->name);
    if (r->on_playlist) {
        char *vod = mc_hls_playlist_retype(r->playlist, "VOD", 0);
        if (!vod) return mc_err_set(err, MC_ERR_INTERNAL, "rung %s: the media playlist has no type", r->name);
        free(r->playlist);
        r->playlist = vod;
    }
    if (mc_sink_put_file(r->sink, r->file_name, mc_sink_content_type(r->file_name), r->mp4_path,
                         r->cancel, &r->file_bytes, err) != 0)
        return -1;
    unlink(r->mp4_path);
    return 0;
}

static void *rung_thread(void *arg) {
    mc_rung_output *r = arg;
    mc_daemon_name_thread("rung", r->name);
    mc_err err = {0};
    int rc = process_items(r, &err);
    if (rc == 0) rc = finish(r, &err);
    if (rc < 0) {
        r->failed = true;
        r->err = err;
        mc_queue_close(&r->queue); /* the engine's next push fails and it stops */
    }
    return NULL;
}

int mc_rung_output_start(mc_rung_output *r, mc_err *err) {
    int rc = pthread_create(&r->thread, NULL, rung_thread, r);
    if (rc != 0) return mc_err_set(err, MC_ERR_INTERNAL, "starting the %s thread: %s", r->name, strerror(rc));
    r->thread_started = true;
    return 0;
}

int mc_rung_output_join(mc_rung_output *r, mc_err *err) {
    if (r->thread_started) pthread_join(r->thread, NULL);
    r->thread_started = false;
    if (!r->failed) return 0;
    *err = r->err;
    return -1;
}

uint64_t mc_rung_output_segment_bytes(const mc_rung_output *r, const char *uri) {
    for (int i = 0; i < r->n_segments; i++)
        if (strcmp(r->segments[i].uri, uri) == 0) return r->segments[i].bytes;
    return 0;
}

void mc_rung_output_free(mc_rung_output *r) {
    r->dropping = true;
    if (r->hls_started && !r->hls_finished) av_write_trailer(r->hls); /* closes its files: dropped */
    for (int i = 0; i < MC_RUNG_OPEN_OBJECTS; i++)
        if (r->open[i].pb) close_object(r, &r->open[i]);
    avformat_free_context(r->hls);
    if (r->mp4) avio_closep(&r->mp4->pb);
    avformat_free_context(r->mp4);
    if (r->mp4_path[0]) unlink(r->mp4_path);
    avcodec_free_context(&r->venc);
    av_packet_free(&r->pkt);
    av_packet_free(&r->copy);
    mc_queue_destroy(&r->queue);
    free(r->segments);
    free(r->playlist);
    *r = (mc_rung_output){0};
}
