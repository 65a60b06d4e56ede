/* hls.h — the HLS text we read and write ourselves: the media playlists
 * libavformat's segmenter wrote (their segments and durations), the bit
 * rates of what was actually written, the RFC 6381 codec string of an H.264
 * stream, and the master playlist. Pure functions, unit-tested. */
#ifndef MCLOUD_TRANSCODE_HLS_H
#define MCLOUD_TRANSCODE_HLS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct mc_hls_segment {
    char uri[128];
    double duration;   /* EXTINF */
    uint64_t bytes;    /* filled in by the caller from what it wrote */
} mc_hls_segment;

typedef struct mc_hls_media {
    int target_duration;       /* EXT-X-TARGETDURATION */
    int n_segments;
    mc_hls_segment *segments;  /* in playlist order */
} mc_hls_media;

/* Parses a media playlist; fails on text that is not one or lists no segment. */
int mc_hls_media_parse(const char *text, mc_hls_media *out, mc_err *err);
void mc_hls_media_free(mc_hls_media *m);

typedef struct mc_hls_rates {
    long peak_bps;      /* BANDWIDTH */
    long average_bps;   /* AVERAGE-BANDWIDTH */
    double duration_s;
} mc_hls_rates;

/* Bit rates of the segments: the average over the whole playlist, and the
 * peak segment bit rate as RFC 8216bis defines it — the largest rate of any
 * contiguous run of segments lasting 0.5 to 1.5 target durations (so a short
 * last segment holding one keyframe does not count alone). */
void mc_hls_rates_compute(const mc_hls_media *m, mc_hls_rates *out);

/* "avc1.PPCCLL" from the profile, constraint flags and level of the SPS in
 * H.264 extradata (Annex B or avcC). Returns -1 when there is no SPS. */
int mc_hls_avc_codec(const uint8_t *extradata, int size, char *out, size_t out_len);

typedef struct mc_hls_variant {
    const char *uri;        /* relative to the master playlist */
    long bandwidth, average_bandwidth;
    int width, height;      /* 0: audio only */
    double frame_rate;      /* 0: audio only */
    const char *codecs;     /* "avc1.64001f,mp4a.40.2" */
} mc_hls_variant;

/* A media playlist with its #EXT-X-PLAYLIST-TYPE line set to type ("EVENT",
 * "VOD") and, when min_target_duration > 0, a target duration of at least
 * that (an EVENT playlist's must not change while it grows). The segmenter
 * writes EVENT playlists as it goes when we publish progressively; the final
 * text is turned back to VOD, byte for byte what a VOD run writes.
 * malloc'd; NULL when text has no PLAYLIST-TYPE line or out of memory. */
char *mc_hls_playlist_retype(const char *text, const char *type, int min_target_duration);

/* The master playlist text (malloc'd, NUL-terminated); NULL when out of memory. */
char *mc_hls_master(const mc_hls_variant *variants, int n);

#endif
