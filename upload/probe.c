/* probe.c — what a finished upload contains, read by libavformat straight
 * from S3 through ranged GETs (common/s3_avio.h): container, duration,
 * streams, codecs, dimensions. A file libavformat cannot read as media, or
 * recognises only by a weak guess, is a result (the video fails with the
 * reason), not an error.
 *
 * At most PROBE_SLOTS probes run at once in the process. Each holds about
 * 1.3 MiB while libavformat guesses the format (its probe buffer grows to
 * 1 MiB, plus the 256 KiB AVIO buffer), and more while find_stream_info
 * decodes real media; without a bound, a burst of uploads finishing
 * together multiplied the daemon's peak memory (32 at once: +43 MiB). */
#include <jansson.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/s3_avio.h"
#include "upload/upload.h"

#define PROBE_SLOTS 4

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slot_freed = PTHREAD_COND_INITIALIZER;
static int slots_used;

static void take_slot(void) {
    pthread_mutex_lock(&slots_lock);
    while (slots_used == PROBE_SLOTS) pthread_cond_wait(&slot_freed, &slots_lock);
    slots_used++;
    pthread_mutex_unlock(&slots_lock);
}

static void give_slot(void) {
    pthread_mutex_lock(&slots_lock);
    slots_used--;
    pthread_cond_signal(&slot_freed);
    pthread_mutex_unlock(&slots_lock);
}

static void not_media(mc_upload_probe *p, const char *what, int averr) {
    char reason[AV_ERROR_MAX_STRING_SIZE] = "";
    if (averr) av_strerror(averr, reason, sizeof reason);
    snprintf(p->failure_reason, sizeof p->failure_reason, "not a playable media file: %s%s%s",
             what, averr ? ": " : "", reason);
}

/* A container found only by a weak content guess (ffmpeg's own
 * "misdetection possible" score): random bytes pass as raw H.263 or MP3
 * that way, and would become transcode jobs that can only fail. */
static void weak_guess(const AVFormatContext *fmt, mc_upload_probe *p) {
    char what[128];
    snprintf(what, sizeof what, "only a weak guess that it is %s (probe score %d of %d)",
             fmt->iformat->name, fmt->probe_score, AVPROBE_SCORE_MAX);
    not_media(p, what, 0);
}

static json_t *stream_json(const AVStream *st) {
    const AVCodecParameters *par = st->codecpar;
    json_t *j = json_pack("{s:s,s:s}", "type", av_get_media_type_string(par->codec_type)
                                                   ? av_get_media_type_string(par->codec_type)
                                                   : "unknown",
                          "codec", avcodec_get_name(par->codec_id));
    if (par->codec_type == AVMEDIA_TYPE_VIDEO) {
        json_object_set_new(j, "width", json_integer(par->width));
        json_object_set_new(j, "height", json_integer(par->height));
    } else if (par->codec_type == AVMEDIA_TYPE_AUDIO) {
        json_object_set_new(j, "sample_rate", json_integer(par->sample_rate));
        json_object_set_new(j, "channels", json_integer(par->ch_layout.nb_channels));
    }
    return j;
}

static void read_streams(const AVFormatContext *fmt, mc_upload_probe *p, json_t *streams) {
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVCodecParameters *par = fmt->streams[i]->codecpar;
        json_array_append_new(streams, stream_json(fmt->streams[i]));
        if (par->codec_type == AVMEDIA_TYPE_VIDEO && !p->video_codec[0]) {
            snprintf(p->video_codec, sizeof p->video_codec, "%s", avcodec_get_name(par->codec_id));
            p->width = par->width;
            p->height = par->height;
        } else if (par->codec_type == AVMEDIA_TYPE_AUDIO && !p->audio_codec[0]) {
            snprintf(p->audio_codec, sizeof p->audio_codec, "%s", avcodec_get_name(par->codec_id));
        }
    }
}

static void describe(const AVFormatContext *fmt, mc_upload_probe *p, uint64_t size) {
    snprintf(p->container, sizeof p->container, "%s", fmt->iformat->name);
    p->duration_ms = fmt->duration > 0 ? fmt->duration / (AV_TIME_BASE / 1000) : -1;
    json_t *streams = json_array();
    read_streams(fmt, p, streams);
    json_t *j = json_pack("{s:s,s:I,s:I,s:o}", "container", p->container, "duration_ms",
                          (json_int_t)p->duration_ms, "size_bytes", (json_int_t)size, "streams",
                          streams);
    p->json = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    p->media = p->video_codec[0] || p->audio_codec[0];
    if (!p->media) not_media(p, "no audio or video stream", 0);
}

static int probe(mc_s3 *s3, const char *key, uint64_t size, mc_upload_probe *p, mc_err *err) {
    p->duration_ms = -1;
    AVIOContext *io = mc_s3_avio_open(s3, key, size, err);
    if (!io) return -1;
    AVFormatContext *fmt = avformat_alloc_context();
    if (!fmt) {
        mc_s3_avio_close(&io);
        return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    }
    fmt->pb = io;
    fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    int rc = avformat_open_input(&fmt, NULL, NULL, NULL);
    if (rc < 0) not_media(p, "unrecognised container", rc);
    else if (fmt->probe_score <= AVPROBE_SCORE_RETRY) weak_guess(fmt, p);
    else if ((rc = avformat_find_stream_info(fmt, NULL)) < 0) not_media(p, "unreadable streams", rc);
    else describe(fmt, p, size);
    int result = 0;
    if (mc_s3_avio_error(io)->kind != MC_ERR_NONE) {
        *err = *mc_s3_avio_error(io);
        result = mc_err_wrap(err, "probing %s", key);
    }
    avformat_close_input(&fmt);
    mc_s3_avio_close(&io);
    return result;
}

int mc_upload_probe_object(mc_s3 *s3, const char *key, uint64_t size, mc_upload_probe *p,
                           mc_err *err) {
    memset(p, 0, sizeof *p);
    take_slot();
    int rc = probe(s3, key, size, p, err);
    give_slot();
    return rc;
}

void mc_upload_probe_free(mc_upload_probe *p) {
    free(p->json);
    p->json = NULL;
}
