/* ladder.h — transcoding presets and the rendition ladder computed from a
 * source's geometry.
 *
 * A preset names everything a job's outputs depend on: the rungs (by their
 * short side, so a portrait video gets portrait rungs), the x264 speed
 * preset, capped-CRF settings per rung, the audio rendition, the segment
 * length and the thumbnails. Everything here is a pure function of its
 * arguments, so the ladder rules are unit-tested without any media. */
#ifndef MCLOUD_TRANSCODE_LADDER_H
#define MCLOUD_TRANSCODE_LADDER_H

#include <stdbool.h>

#define MC_LADDER_MAX_RUNGS 8
#define MC_LADDER_MAX_THUMBS 32   /* thumbnails besides the poster */
#define MC_RUNG_NAME_MAX 16

/* One rung as a preset describes it. */
typedef struct mc_rung_spec {
    int short_side;      /* 1080 for "1080p": the height of landscape output, the width of portrait */
    int crf;             /* x264 constant rate factor ... */
    int maxrate_kbps;    /* ... capped by a VBV: peak rate ... */
    int bufsize_kbits;   /* ... over this buffer */
} mc_rung_spec;

typedef struct mc_preset {
    char name[32];
    char x264_preset[16];        /* x264 speed preset, e.g. "veryfast" */
    char h264_profile[16];       /* "high", "main" */
    double segment_s;            /* HLS segment length; keyframes exactly every segment_s */
    double max_fps;              /* frame rate cap; sources above it are converted down */
    int audio_bitrate;           /* AAC-LC bit rate, bits/s */
    int audio_channels;          /* 2: stereo */
    int thumb_short_side;        /* size of the poster and thumbnails */
    double poster_at;            /* poster position, fraction of the duration (0.1) */
    int thumb_count;             /* thumbnails at equal intervals over the duration */
    int n_rungs;
    mc_rung_spec rungs[MC_LADDER_MAX_RUNGS];  /* tallest first */
} mc_preset;

/* A rung computed for one source: its output size and its encoder caps. */
typedef struct mc_rung {
    char name[MC_RUNG_NAME_MAX]; /* "<short side>p", e.g. "720p", "478p" */
    int width, height;           /* even, never above the source's display size */
    mc_rung_spec spec;
} mc_rung;

/* The built-in presets by name ("default", "mobile"); NULL when unknown. */
const mc_preset *mc_preset_find(const char *name);
/* Names of the built-in presets, NULL-terminated (for help texts). */
const char *const *mc_preset_names(void);
/* Checks a preset (built-in or adjusted by a caller) before use; the reason
 * goes into why (at least 128 bytes). */
bool mc_preset_valid(const mc_preset *p, char *why, int why_len);

/* Clockwise rotation of a display matrix angle (counter-clockwise degrees,
 * as av_display_rotation_get returns it) snapped to 0, 90, 180 or 270. */
int mc_ladder_rotation(double ccw_degrees);

/* The size a player shows: coded size stretched by the sample aspect ratio
 * (sar_num/sar_den, 0/x meaning square) and swapped by a 90/270 rotation. */
void mc_ladder_display_size(int coded_w, int coded_h, int sar_num, int sar_den,
                            int rotation, int *display_w, int *display_h);

/* The rungs of preset p for a source shown at display_w x display_h, tallest
 * first; returns how many were written into out (at least 1 for any valid
 * size, at most MC_LADDER_MAX_RUNGS), 0 when the size is unusable.
 *
 * Rules: a rung is never larger than the source. Rungs taller than the
 * source are dropped, but the smallest of them is kept at the source's own
 * size when that is more than 10% above the tallest rung that fits (an
 * 853x479 source gets a 852x478 rung besides 360p; a 362-line source does
 * not get a near-copy of its 360p rung). A source smaller than every rung
 * gets one rung at its own size. Sizes keep the display aspect ratio and are
 * rounded to even numbers. */
int mc_ladder_compute(const mc_preset *p, int display_w, int display_h, mc_rung *out);

/* The output size for short side `short_side` of a display_w x display_h
 * picture: aspect kept, even, within the display size. */
void mc_ladder_fit(int display_w, int display_h, int short_side, int *w, int *h);

/* Frames between keyframes for segments of segment_s at fps: the fixed GOP,
 * rounded up so forced keyframes at segment boundaries never exceed it. */
int mc_ladder_gop_frames(double segment_s, double fps);

/* Where the poster and thumbnails of a duration_s video are taken: the
 * poster at poster_at of the duration, thumb_count thumbnails at equal
 * intervals strictly inside it (duration/(count+1), 2x that, ...). With an
 * unknown duration (<= 0): a poster at 0 and no thumbnails. Returns how many
 * thumbnail times were written into times_s (room for thumb_count). */
int mc_ladder_thumbnails(const mc_preset *p, double duration_s, double *poster_s, double *times_s);

/* AAC sample rate for a source rate: 44100 and 48000 kept, others 48000. */
int mc_ladder_audio_sample_rate(int source_rate);

#endif
