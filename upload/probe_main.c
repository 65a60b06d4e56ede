/* probe_main.c — mcloud-probe: the helper process mcloud-upload runs for
 * every finished upload, so that libavformat parses untrusted bytes outside
 * the daemon (a crash or a memory bomb ends this process, not the daemon,
 * and libav* never enter the daemon's address space).
 *
 * The daemon runs it once as a server (`--server`, probe_server.c) that
 * forks one child per probe; each child runs mc_probe_once below, as does
 * `mcloud-probe` run by hand without arguments.
 *
 * Reads one request from stdin, probes the object through ranged GETs
 * (common/s3_avio.h), writes one result to stdout (format: probe.h) and
 * exits: 0 with a result, MC_PROBE_EXIT_S3 when S3 failed (retryable), 2 on
 * a bad request. The server sets its resource limits (address space, CPU)
 * in the child and kills it at its deadline; on top of those, no single
 * libav allocation may exceed max_alloc_mb (av_max_alloc), and decoders run
 * single-threaded, so a small file declaring a huge picture fails here
 * with a reason instead of pages. */
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/mem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "common/s3_avio.h"
#include "upload/probe.h"
#include "upload/probe_server.h"

#define REQUEST_MAX (64 * 1024)
#define EXIT_BAD_REQUEST 2
#define TRANSFER_BUFFER (64 * 1024) /* libcurl's receive buffer for the ranged reads */

typedef struct request {
    json_t *doc;
    mc_s3_config s3;
    const char *key;
    uint64_t size;
    long max_alloc_mb;
} request;

/* The last error libav logged: the detail of a stream that cannot be decoded. */
static char last_av_error[160];

static void on_av_log(void *avcl, int level, const char *fmt, va_list vl) {
    (void)avcl;
    if (level > AV_LOG_ERROR) return;
    vsnprintf(last_av_error, sizeof last_av_error, fmt, vl);
    last_av_error[strcspn(last_av_error, "\n")] = '\0';
}

static int copy_field(json_t *obj, const char *field, char *out, size_t cap, mc_err *err) {
    const char *s;
    if (mc_json_get_string(obj, field, true, NULL, &s, err) < 0) return -1;
    if (strlen(s) >= cap) return mc_err_set(err, MC_ERR_INVALID, "field '%s' is too long", field);
    snprintf(out, cap, "%s", s);
    return 0;
}

static int read_request(request *r, mc_err *err) {
    static char buf[REQUEST_MAX];
    size_t len = 0;
    ssize_t n;
    while ((n = read(STDIN_FILENO, buf + len, sizeof buf - len)) > 0) len += (size_t)n;
    if (n < 0 || len == sizeof buf) return mc_err_set(err, MC_ERR_INVALID, "unreadable request");
    r->doc = mc_json_parse_object(buf, len, err);
    if (!r->doc) return -1;
    json_t *s3 = json_object_get(r->doc, "s3");
    long long size, max_alloc;
    mc_s3_config_init(&r->s3);
    if (!json_is_object(s3)) return mc_err_set(err, MC_ERR_INVALID, "field 's3' must be an object");
    if (copy_field(s3, "endpoint", r->s3.endpoint, sizeof r->s3.endpoint, err) < 0 ||
        copy_field(s3, "region", r->s3.region, sizeof r->s3.region, err) < 0 ||
        copy_field(s3, "bucket", r->s3.bucket, sizeof r->s3.bucket, err) < 0 ||
        copy_field(s3, "access_key", r->s3.access_key, sizeof r->s3.access_key, err) < 0 ||
        copy_field(s3, "secret_key", r->s3.secret_key, sizeof r->s3.secret_key, err) < 0 ||
        mc_json_get_bool(s3, "path_style", true, true, &r->s3.path_style, err) < 0 ||
        mc_json_get_string(r->doc, "key", true, NULL, &r->key, err) < 0 ||
        mc_json_get_int(r->doc, "size", true, 0, 0, INT64_MAX, &size, err) < 0 ||
        mc_json_get_int(r->doc, "max_alloc_mb", true, 0, 1, 1 << 20, &max_alloc, err) < 0)
        return -1;
    r->size = (uint64_t)size;
    r->max_alloc_mb = (long)max_alloc;
    return 0;
}

static json_t *not_media(const char *what, int averr) {
    char detail[AV_ERROR_MAX_STRING_SIZE] = "", reason[256];
    if (averr) av_strerror(averr, detail, sizeof detail);
    snprintf(reason, sizeof reason, "not a playable media file: %s%s%s", what,
             averr ? ": " : "", detail);
    return json_pack("{s:b,s:s}", "media", 0, "reason", reason);
}

/* A container found only by a weak content guess (ffmpeg's own
 * "misdetection possible" score): random bytes pass as raw H.263 or MP3
 * that way, and would become transcode jobs that can only fail. */
static json_t *weak_guess(const AVFormatContext *fmt) {
    char what[128];
    snprintf(what, sizeof what, "only a weak guess that it is %s (probe score %d of %d)",
             fmt->iformat->name, fmt->probe_score, AVPROBE_SCORE_MAX);
    return not_media(what, 0);
}

static json_t *stream_json(const AVCodecParameters *par) {
    const char *type = av_get_media_type_string(par->codec_type);
    json_t *j = json_pack("{s:s,s:s}", "type", type ? type : "unknown", "codec",
                          avcodec_get_name(par->codec_id));
    if (par->codec_type == AVMEDIA_TYPE_VIDEO) {
        json_object_set_new(j, "width", json_integer(par->width));
        json_object_set_new(j, "height", json_integer(par->height));
    } else if (par->codec_type == AVMEDIA_TYPE_AUDIO) {
        json_object_set_new(j, "sample_rate", json_integer(par->sample_rate));
        json_object_set_new(j, "channels", json_integer(par->ch_layout.nb_channels));
    }
    return j;
}

/* A video stream whose first picture could not be decoded: the decoder
 * refused it, ran out of memory (a small file declaring a huge picture) or
 * met garbage. The transcoder could not decode it either. */
static json_t *undecodable(const AVCodecParameters *par, int averr) {
    char what[256];
    snprintf(what, sizeof what,
             "the %s video stream (%dx%d) cannot be decoded within the probe's limits%s%s",
             avcodec_get_name(par->codec_id), par->width, par->height,
             last_av_error[0] ? " (" : "", last_av_error[0] ? last_av_error : "");
    if (last_av_error[0]) strncat(what, ")", sizeof what - strlen(what) - 1);
    return not_media(what, averr);
}

static int open_decoder(const AVCodecParameters *par, AVCodecContext **out) {
    const AVCodec *dec = avcodec_find_decoder(par->codec_id);
    if (!dec) return AVERROR_DECODER_NOT_FOUND;
    AVCodecContext *c = avcodec_alloc_context3(dec);
    if (!c) return AVERROR(ENOMEM);
    int rc = avcodec_parameters_to_context(c, par);
    c->thread_count = 1;
    if (rc >= 0) rc = avcodec_open2(c, dec, NULL);
    if (rc < 0) avcodec_free_context(&c);
    *out = c;
    return rc;
}

/* Feeds one packet (NULL: flush) and asks for a picture: 1 when there is
 * one, 0 for more input, < 0 on an error that ends the attempt. Broken
 * packets are skipped (a decoder recovers at the next keyframe); running
 * out of memory is not. */
static int feed(AVCodecContext *c, const AVPacket *pkt, AVFrame *frame, int *last_err) {
    int rc = avcodec_send_packet(c, pkt);
    if (rc == AVERROR(ENOMEM)) return rc;
    if (rc < 0 && rc != AVERROR(EAGAIN) && rc != AVERROR_EOF) *last_err = rc;
    rc = avcodec_receive_frame(c, frame);
    if (rc == 0) return 1;
    if (rc == AVERROR(EAGAIN)) return pkt ? 0 : -1;
    if (rc != AVERROR_EOF) *last_err = rc;
    return rc == AVERROR(ENOMEM) || !pkt ? rc : 0;
}

/* Decodes the first picture of stream index, reading at most
 * FIRST_PICTURE_PACKETS packets: 0, or the libav error that prevented it. */
#define FIRST_PICTURE_PACKETS 2000
static int decode_first_picture(AVFormatContext *fmt, int index) {
    AVCodecContext *c = NULL;
    int rc = open_decoder(fmt->streams[index]->codecpar, &c);
    if (rc < 0) return rc;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *frame = av_frame_alloc();
    int last_err = AVERROR_INVALIDDATA, got = 0;
    if (!pkt || !frame) got = AVERROR(ENOMEM);
    for (int n = 0; got == 0 && n < FIRST_PICTURE_PACKETS; n++) {
        if (av_read_frame(fmt, pkt) < 0) {
            got = feed(c, NULL, frame, &last_err);
            break;
        }
        if (pkt->stream_index == index) got = feed(c, pkt, frame, &last_err);
        av_packet_unref(pkt);
    }
    av_frame_free(&frame);
    av_packet_free(&pkt);
    avcodec_free_context(&c);
    return got == 1 ? 0 : got < 0 && got != AVERROR_EOF ? got : last_err;
}

static json_t *describe(AVFormatContext *fmt, uint64_t size) {
    json_t *streams = json_array(), *out = json_object();
    const AVCodecParameters *video = NULL, *audio = NULL;
    int video_index = -1;
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVCodecParameters *par = fmt->streams[i]->codecpar;
        json_array_append_new(streams, stream_json(par));
        if (par->codec_type == AVMEDIA_TYPE_VIDEO && !video) video = par, video_index = (int)i;
        if (par->codec_type == AVMEDIA_TYPE_AUDIO && !audio) audio = par;
    }
    int64_t duration_ms = fmt->duration > 0 ? fmt->duration / (AV_TIME_BASE / 1000) : -1;
    int rc = video ? decode_first_picture(fmt, video_index) : 0;
    if (rc < 0) {
        json_decref(streams);
        json_decref(out);
        return undecodable(video, rc);
    }
    if (!video && !audio) {
        json_decref(streams);
        json_decref(out);
        return not_media("no audio or video stream", 0);
    }
    json_object_set_new(out, "media", json_true());
    json_object_set_new(out, "container", json_string(fmt->iformat->name));
    json_object_set_new(out, "duration_ms", json_integer(duration_ms));
    if (video) {
        json_object_set_new(out, "video_codec", json_string(avcodec_get_name(video->codec_id)));
        json_object_set_new(out, "width", json_integer(video->width));
        json_object_set_new(out, "height", json_integer(video->height));
    }
    if (audio) json_object_set_new(out, "audio_codec", json_string(avcodec_get_name(audio->codec_id)));
    json_object_set_new(out, "probe",
                        json_pack("{s:s,s:I,s:I,s:o}", "container", fmt->iformat->name,
                                  "duration_ms", (json_int_t)duration_ms, "size_bytes",
                                  (json_int_t)size, "streams", streams));
    return out;
}

/* Opens the streams' decoders single-threaded while find_stream_info runs. */
static int find_streams(AVFormatContext *fmt) {
    AVDictionary **opts = av_calloc(fmt->nb_streams ? fmt->nb_streams : 1, sizeof *opts);
    if (!opts) return AVERROR(ENOMEM);
    for (unsigned i = 0; i < fmt->nb_streams; i++) av_dict_set(&opts[i], "threads", "1", 0);
    int rc = avformat_find_stream_info(fmt, opts);
    for (unsigned i = 0; i < fmt->nb_streams; i++) av_dict_free(&opts[i]);
    av_free(opts);
    return rc;
}

/* The result, or NULL with err set when S3 failed. */
static json_t *probe(mc_s3 *s3, const request *r, mc_err *err) {
    AVIOContext *io = mc_s3_avio_open(s3, r->key, r->size, err);
    if (!io) return NULL;
    AVFormatContext *fmt = avformat_alloc_context();
    if (!fmt) {
        mc_s3_avio_close(&io);
        return not_media("out of memory", AVERROR(ENOMEM));
    }
    fmt->pb = io;
    fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    json_t *out;
    int rc = avformat_open_input(&fmt, NULL, NULL, NULL);
    if (rc < 0) out = not_media("unrecognised container", rc);
    else if (fmt->probe_score <= AVPROBE_SCORE_RETRY) out = weak_guess(fmt);
    else if ((rc = find_streams(fmt)) < 0) out = not_media("unreadable streams", rc);
    else out = describe(fmt, r->size);
    if (mc_s3_avio_error(io)->kind != MC_ERR_NONE) {
        *err = *mc_s3_avio_error(io);
        json_decref(out);
        out = NULL;
    }
    avformat_close_input(&fmt);
    mc_s3_avio_close(&io);
    return out;
}

static int reply(json_t *j, int status) {
    char *text = j ? mc_json_dump(j) : NULL;
    json_decref(j);
    if (!text) return 1;
    fputs(text, stdout);
    free(text);
    return fflush(stdout) == 0 ? status : 1;
}

int mc_probe_once(void) {
    request r = {0};
    mc_err err = {0};
    if (read_request(&r, &err) < 0) {
        fprintf(stderr, "mcloud-probe: bad request: %s\n", err.msg);
        json_decref(r.doc);
        return EXIT_BAD_REQUEST;
    }
    av_max_alloc((size_t)r.max_alloc_mb * 1024 * 1024);
    r.s3.transfer_buffer = TRANSFER_BUFFER;
    mc_s3 *s3 = mc_s3_new(&r.s3, &err);
    json_t *out = s3 ? probe(s3, &r, &err) : NULL;
    mc_s3_free(s3);
    json_decref(r.doc);
    if (!out) return reply(json_pack("{s:s}", "error", err.msg), MC_PROBE_EXIT_S3);
    return reply(out, 0);
}

int main(int argc, char **argv) {
    av_log_set_callback(on_av_log);
    if (argc > 1 && strcmp(argv[1], "--server") == 0) return mc_probe_serve(argc, argv);
    return mc_probe_once();
}
