/* ladder.c — built-in presets and the ladder rules (see ladder.h). Pure
 * arithmetic: no libav* calls, so every rule has a unit test. */
#include "transcode/ladder.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The documented defaults (docs/ARCHITECTURE.md, "Transcoding presets"). */
static const mc_preset builtin_presets[] = {
    {
        .name = "default",
        .x264_preset = "veryfast",
        .h264_profile = "high",
        .segment_s = 4.0,
        .max_fps = 60.0,
        .audio_bitrate = 128000,
        .audio_channels = 2,
        .thumb_short_side = 720,
        .poster_at = 0.1,
        .thumb_count = 4,
        .n_rungs = 4,
        .rungs = {
            {1080, 22, 6000, 12000},
            {720, 22, 3500, 7000},
            {480, 23, 1500, 3000},
            {360, 23, 800, 1600},
        },
    },
    {
        .name = "mobile",
        .x264_preset = "veryfast",
        .h264_profile = "main",
        .segment_s = 4.0,
        .max_fps = 30.0,
        .audio_bitrate = 96000,
        .audio_channels = 2,
        .thumb_short_side = 480,
        .poster_at = 0.1,
        .thumb_count = 4,
        .n_rungs = 4,
        .rungs = {
            {720, 23, 2500, 5000},
            {480, 23, 1200, 2400},
            {360, 24, 700, 1400},
            {240, 24, 400, 800},
        },
    },
};

static const char *const preset_names[] = {"default", "mobile", NULL};

static const char *const x264_presets[] = {
    "ultrafast", "superfast", "veryfast", "faster", "fast",
    "medium", "slow", "slower", "veryslow", "placebo", NULL};
static const char *const h264_profiles[] = {"baseline", "main", "high", NULL};

const mc_preset *mc_preset_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof builtin_presets / sizeof builtin_presets[0]; i++)
        if (strcmp(builtin_presets[i].name, name) == 0) return &builtin_presets[i];
    return NULL;
}

const char *const *mc_preset_names(void) { return preset_names; }

static bool in_list(const char *s, const char *const *list) {
    for (; *list; list++)
        if (strcmp(s, *list) == 0) return true;
    return false;
}

static bool invalid(char *why, int why_len, const char *reason, int rung) {
    if (rung >= 0) snprintf(why, (size_t)why_len, "rung %d: %s", rung + 1, reason);
    else snprintf(why, (size_t)why_len, "%s", reason);
    return false;
}

static bool rung_valid(const mc_preset *p, int i, char *why, int why_len) {
    const mc_rung_spec *r = &p->rungs[i];
    if (r->short_side < 16 || r->short_side > 4320)
        return invalid(why, why_len, "short side must be between 16 and 4320", i);
    if (i > 0 && r->short_side >= p->rungs[i - 1].short_side)
        return invalid(why, why_len, "rungs must be listed tallest first, without repeats", i);
    if (r->crf < 0 || r->crf > 51) return invalid(why, why_len, "crf must be between 0 and 51", i);
    if (r->maxrate_kbps <= 0 || r->bufsize_kbits <= 0)
        return invalid(why, why_len, "maxrate and bufsize must be positive", i);
    return true;
}

bool mc_preset_valid(const mc_preset *p, char *why, int why_len) {
    if (!p->name[0]) return invalid(why, why_len, "preset has no name", -1);
    if (!in_list(p->x264_preset, x264_presets))
        return invalid(why, why_len, "unknown x264 preset", -1);
    if (!in_list(p->h264_profile, h264_profiles))
        return invalid(why, why_len, "H.264 profile must be baseline, main or high", -1);
    if (!(p->segment_s >= 0.5 && p->segment_s <= 30))
        return invalid(why, why_len, "segment length must be between 0.5 and 30 s", -1);
    if (!(p->max_fps >= 1 && p->max_fps <= 240))
        return invalid(why, why_len, "frame rate cap must be between 1 and 240", -1);
    if (p->audio_bitrate < 16000 || p->audio_bitrate > 512000)
        return invalid(why, why_len, "audio bit rate must be between 16000 and 512000", -1);
    if (p->audio_channels < 1 || p->audio_channels > 2)
        return invalid(why, why_len, "audio channels must be 1 or 2", -1);
    if (p->thumb_short_side < 16 || p->thumb_short_side > 4320)
        return invalid(why, why_len, "thumbnail size must be between 16 and 4320", -1);
    if (!(p->poster_at >= 0 && p->poster_at < 1))
        return invalid(why, why_len, "poster position must be in [0, 1)", -1);
    if (p->thumb_count < 0 || p->thumb_count > MC_LADDER_MAX_THUMBS)
        return invalid(why, why_len, "thumbnail count must be between 0 and 32", -1);
    if (p->n_rungs < 1 || p->n_rungs > MC_LADDER_MAX_RUNGS)
        return invalid(why, why_len, "a preset needs between 1 and 8 rungs", -1);
    for (int i = 0; i < p->n_rungs; i++)
        if (!rung_valid(p, i, why, why_len)) return false;
    return true;
}

int mc_ladder_rotation(double ccw_degrees) {
    if (!isfinite(ccw_degrees)) return 0;
    double cw = fmod(-ccw_degrees, 360.0);
    if (cw < 0) cw += 360.0;
    return (int)(lround(cw / 90.0) % 4) * 90;
}

void mc_ladder_display_size(int coded_w, int coded_h, int sar_num, int sar_den,
                            int rotation, int *display_w, int *display_h) {
    int w = coded_w, h = coded_h;
    if (sar_num > 0 && sar_den > 0 && sar_num != sar_den)
        w = (int)lround((double)coded_w * sar_num / sar_den);
    if (rotation == 90 || rotation == 270) {
        int t = w;
        w = h;
        h = t;
    }
    *display_w = w;
    *display_h = h;
}

static int floor_even(int v) { return v & ~1; }
static int round_even(double v) { return 2 * (int)lround(v / 2.0); }

static int clamp_even(int v, int max_even) {
    if (v > max_even) v = max_even;
    return v < 2 ? 2 : v;
}

void mc_ladder_fit(int display_w, int display_h, int short_side, int *w, int *h) {
    bool landscape = display_w >= display_h;
    int src_short = landscape ? display_h : display_w;
    int src_long = landscape ? display_w : display_h;
    int out_short = clamp_even(floor_even(short_side), floor_even(src_short));
    int out_long = clamp_even(round_even((double)src_long * out_short / src_short),
                              floor_even(src_long));
    *w = landscape ? out_long : out_short;
    *h = landscape ? out_short : out_long;
}

static void add_rung(mc_rung *out, int *n, const mc_rung_spec *spec, int display_w,
                     int display_h, int short_side) {
    mc_rung *r = &out[(*n)++];
    mc_ladder_fit(display_w, display_h, short_side, &r->width, &r->height);
    r->spec = *spec;
    snprintf(r->name, sizeof r->name, "%dp", r->width < r->height ? r->width : r->height);
}

int mc_ladder_compute(const mc_preset *p, int display_w, int display_h, mc_rung *out) {
    if (display_w < 2 || display_h < 2 || p->n_rungs < 1) return 0;
    int src_short = display_w < display_h ? display_w : display_h;
    int first_fit = 0;
    while (first_fit < p->n_rungs && p->rungs[first_fit].short_side > src_short) first_fit++;

    int n = 0;
    bool dropped_some = first_fit > 0;
    bool none_fit = first_fit == p->n_rungs;
    if (dropped_some &&
        (none_fit || src_short * 10 > p->rungs[first_fit].short_side * 11))
        add_rung(out, &n, &p->rungs[first_fit - 1], display_w, display_h, src_short);
    for (int i = first_fit; i < p->n_rungs; i++)
        add_rung(out, &n, &p->rungs[i], display_w, display_h, p->rungs[i].short_side);
    return n;
}

int mc_ladder_gop_frames(double segment_s, double fps) {
    double frames = ceil(segment_s * fps - 1e-6);
    return frames < 1 ? 1 : (int)frames;
}

int mc_ladder_thumbnails(const mc_preset *p, double duration_s, double *poster_s, double *times_s) {
    if (!(duration_s > 0)) {
        *poster_s = 0;
        return 0;
    }
    *poster_s = p->poster_at * duration_s;
    for (int i = 0; i < p->thumb_count; i++)
        times_s[i] = duration_s * (i + 1) / (p->thumb_count + 1);
    return p->thumb_count;
}

int mc_ladder_audio_sample_rate(int source_rate) {
    return source_rate == 44100 || source_rate == 48000 ? source_rate : 48000;
}
