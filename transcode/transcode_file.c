/* transcode_file.c — mcloud-transcode-file: runs the transcoding engine on a
 * local input into a local directory, for tests and benchmarks.
 *
 *   mcloud-transcode-file [options] INPUT OUTDIR
 *
 * Prints the result as one JSON object on stdout ({"renditions": [...]} or
 * {"error": {"kind", "message"}}), progress as JSON log lines on stderr.
 * SIGINT/SIGTERM cancel the run. Exit status: 0 done, 1 failed, 2 usage.
 *
 * --via-avio reads the input through an AVIOContext of our own (read and
 * seek callbacks on a file descriptor) instead of a path, the way the worker
 * plugs in its S3 ranged-GET reader; --avio-fail-at makes those reads fail
 * with EIO past an offset, as a dropped connection would.
 *
 * --progressive publishes HLS as it goes (engine.h, live.h) and logs
 * "playable <seconds>" each time every rung has grown; --hold-after N and
 * --hold-release FILE are the TEST-ONLY hold: reading stops once every rung
 * has published N segments, until FILE exists. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavutil/mem.h>

#include "common/log.h"
#include "transcode/engine.h"

static atomic_bool cancel_requested;

static void on_signal(int sig) {
    (void)sig;
    atomic_store(&cancel_requested, true);
}

typedef struct fd_reader {
    int fd;
    int64_t fail_at;  /* reads past this offset fail; -1: never */
} fd_reader;

static int fd_read(void *opaque, uint8_t *buf, int size) {
    fd_reader *r = opaque;
    off_t at = lseek(r->fd, 0, SEEK_CUR);
    if (r->fail_at >= 0 && at + size > r->fail_at) return AVERROR(EIO);
    ssize_t n = read(r->fd, buf, (size_t)size);
    if (n < 0) return AVERROR(errno);
    return n == 0 ? AVERROR_EOF : (int)n;
}

static int64_t fd_seek(void *opaque, int64_t offset, int whence) {
    fd_reader *r = opaque;
    if (whence == AVSEEK_SIZE) {
        struct stat st;
        return fstat(r->fd, &st) == 0 ? st.st_size : AVERROR(errno);
    }
    off_t at = lseek(r->fd, offset, whence & ~AVSEEK_FORCE);
    return at < 0 ? AVERROR(errno) : at;
}

static AVIOContext *open_fd_avio(const char *path, fd_reader *r) {
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    uint8_t *buf = r->fd >= 0 ? av_malloc(64 * 1024) : NULL;
    AVIOContext *pb = buf ? avio_alloc_context(buf, 64 * 1024, 0, r, fd_read, NULL, fd_seek) : NULL;
    if (!pb) av_free(buf);
    return pb;
}

static void usage(FILE *to) {
    fprintf(to,
            "usage: mcloud-transcode-file [options] INPUT OUTDIR\n"
            "  --preset NAME        ladder preset (default, mobile); default: default\n"
            "  --segment SECONDS    override the preset's segment length\n"
            "  --x264-preset NAME   override the preset's x264 speed preset\n"
            "  --threads N          x264 threads per rung (0: automatic)\n"
            "  --tmp DIR            directory for temporary files\n"
            "  --via-avio           read the input through our own AVIOContext\n"
            "  --avio-fail-at BYTES ... whose reads fail with EIO past BYTES\n"
            "  --progressive        publish HLS as it goes (EVENT playlists, early master)\n"
            "  --hold-after N       TEST ONLY: pause after N published segments per rung...\n"
            "  --hold-release FILE  ... until FILE exists\n"
            "  --queue-frames N     frames each rung's queue holds (default 8)\n"
            "  --log-level LEVEL    debug, info, warn, error (default info)\n");
}

static void on_progress(void *ud, const mc_transcode_progress *p) {
    (void)ud;
    mc_info("progress %.1f%% at %.1f s, %.1f fps, %d rungs", p->percent, p->position_s, p->fps, p->rungs);
}

static void on_playable(void *ud, double seconds) {
    (void)ud;
    mc_info("playable %.3f", seconds);
}

static json_t *result_json(const mc_transcode_result *r) {
    json_t *renditions = json_array();
    for (int i = 0; i < r->n_renditions; i++) {
        const mc_rendition *v = &r->renditions[i];
        json_array_append_new(renditions,
                              json_pack("{s:s, s:i, s:i, s:f, s:s, s:I, s:I, s:s, s:I, s:s, s:i, s:f, s:I, s:f}",
                                        "name", v->name, "width", v->width, "height", v->height,
                                        "frame_rate", v->frame_rate, "codecs", v->codecs,
                                        "bandwidth", (json_int_t)v->bandwidth,
                                        "average_bandwidth", (json_int_t)v->average_bandwidth,
                                        "file", v->file, "file_bytes", (json_int_t)v->file_bytes,
                                        "playlist", v->playlist, "segments", v->segments,
                                        "queue_full_s", v->queue_full_s,
                                        "queue_full_waits", (json_int_t)v->queue_full_waits,
                                        "queue_empty_s", v->queue_empty_s));
    }
    json_t *thumbs = json_array();
    for (int i = 0; i < r->n_thumbnails; i++) json_array_append_new(thumbs, json_string(r->thumbnails[i]));
    return json_pack("{s:f, s:b, s:b, s:s, s:o, s:o}", "duration", r->duration_s, "has_video",
                     r->has_video, "has_audio", r->has_audio, "master", r->master, "renditions",
                     renditions, "thumbnails", thumbs);
}

static void print_json(json_t *doc) {
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text) puts(text);
    free(text);
    json_decref(doc);
}

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        {"preset", required_argument, NULL, 'p'},   {"segment", required_argument, NULL, 's'},
        {"x264-preset", required_argument, NULL, 'x'}, {"threads", required_argument, NULL, 't'},
        {"tmp", required_argument, NULL, 'T'},      {"log-level", required_argument, NULL, 'l'},
        {"via-avio", no_argument, NULL, 'a'},       {"avio-fail-at", required_argument, NULL, 'f'},
        {"progressive", no_argument, NULL, 'P'},    {"hold-after", required_argument, NULL, 'H'},
        {"hold-release", required_argument, NULL, 'R'}, {"queue-frames", required_argument, NULL, 'Q'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    mc_log_init("transcode-file", MC_LOG_INFO);
    const char *preset_name = "default", *segment = NULL, *x264_preset = NULL;
    mc_transcode_options opts = {.on_progress = on_progress, .cancel = &cancel_requested,
                                 .on_playable = on_playable};
    mc_log_level level;
    bool via_avio = false;
    fd_reader reader = {.fd = -1, .fail_at = -1};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': preset_name = optarg; break;
        case 's': segment = optarg; break;
        case 'x': x264_preset = optarg; break;
        case 't': opts.encoder_threads = atoi(optarg); break;
        case 'T': opts.tmp_dir = optarg; break;
        case 'a': via_avio = true; break;
        case 'f': reader.fail_at = atoll(optarg); break;
        case 'P': opts.progressive = true; break;
        case 'H': opts.hold_after_segments = atoi(optarg); break;
        case 'R': opts.hold_release_path = optarg; break;
        case 'Q': opts.queue_frames = atoi(optarg); break;
        case 'l':
            if (mc_log_level_parse(optarg, &level) != 0) {
                usage(stderr);
                return 2;
            }
            mc_log_set_level(level);
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return 2;
    }
    const mc_preset *found = mc_preset_find(preset_name);
    if (!found) {
        fprintf(stderr, "unknown preset %s\n", preset_name);
        return 2;
    }
    mc_preset preset = *found;
    if (segment) preset.segment_s = atof(segment);
    if (x264_preset) snprintf(preset.x264_preset, sizeof preset.x264_preset, "%s", x264_preset);
    opts.preset = &preset;

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    mc_err err = {0};
    mc_sink sink;
    mc_dir_sink dir;
    mc_transcode_result result;
    mc_transcode_input input = {.url = argv[optind]};
    if (via_avio && !(input.pb = open_fd_avio(argv[optind], &reader))) {
        fprintf(stderr, "cannot open %s: %s\n", argv[optind], strerror(errno));
        return 1;
    }
    int rc = mc_dir_sink_init(&sink, &dir, argv[optind + 1], &err);
    if (rc == 0) rc = mc_transcode_run(&input, &sink, &opts, &result, &err);
    if (input.pb) {
        av_freep(&input.pb->buffer);
        avio_context_free(&input.pb);
        close(reader.fd);
    }
    if (rc != 0) {
        mc_log_kv(MC_LOG_ERROR, "transcode failed", "input", argv[optind], "kind",
                  mc_err_kind_name(err.kind), "reason", err.msg, NULL);
        print_json(json_pack("{s:{s:s, s:s}}", "error", "kind", mc_err_kind_name(err.kind), "message", err.msg));
        return 1;
    }
    print_json(result_json(&result));
    return 0;
}
