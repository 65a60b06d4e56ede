/* hls.c — HLS playlists and bit-rate arithmetic (see hls.h). */
#include "transcode/hls.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *next_line(const char *p, char *line, size_t line_len) {
    size_t n = strcspn(p, "\r\n");
    size_t keep = n < line_len - 1 ? n : line_len - 1;
    memcpy(line, p, keep);
    line[keep] = '\0';
    p += n;
    while (*p == '\r' || *p == '\n') p++;
    return p;
}

static int add_segment(mc_hls_media *m, int *cap, const char *uri, double duration) {
    if (m->n_segments == *cap) {
        int grown = *cap ? *cap * 2 : 64;
        mc_hls_segment *s = realloc(m->segments, (size_t)grown * sizeof *s);
        if (!s) return -1;
        m->segments = s;
        *cap = grown;
    }
    mc_hls_segment *s = &m->segments[m->n_segments++];
    snprintf(s->uri, sizeof s->uri, "%.127s", uri);
    s->duration = duration;
    s->bytes = 0;
    return 0;
}

int mc_hls_media_parse(const char *text, mc_hls_media *out, mc_err *err) {
    *out = (mc_hls_media){0};
    char line[1024];
    const char *p = next_line(text, line, sizeof line);
    if (strcmp(line, "#EXTM3U") != 0)
        return mc_err_set(err, MC_ERR_INTERNAL, "media playlist does not start with #EXTM3U");
    int cap = 0;
    double pending = -1;
    while (*p) {
        p = next_line(p, line, sizeof line);
        if (strncmp(line, "#EXT-X-TARGETDURATION:", 22) == 0) {
            out->target_duration = atoi(line + 22);
        } else if (strncmp(line, "#EXTINF:", 8) == 0) {
            pending = strtod(line + 8, NULL);
        } else if (line[0] && line[0] != '#') {
            if (!(pending > 0)) {
                mc_hls_media_free(out);
                return mc_err_set(err, MC_ERR_INTERNAL, "media playlist: segment %s has no duration", line);
            }
            if (add_segment(out, &cap, line, pending) != 0) {
                mc_hls_media_free(out);
                return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
            }
            pending = -1;
        }
    }
    if (out->n_segments == 0 || out->target_duration <= 0) {
        mc_hls_media_free(out);
        return mc_err_set(err, MC_ERR_INTERNAL, "media playlist lists no segment");
    }
    return 0;
}

void mc_hls_media_free(mc_hls_media *m) {
    free(m->segments);
    *m = (mc_hls_media){0};
}

void mc_hls_rates_compute(const mc_hls_media *m, mc_hls_rates *out) {
    double total_bits = 0, total_s = 0;
    for (int i = 0; i < m->n_segments; i++) {
        total_bits += 8.0 * (double)m->segments[i].bytes;
        total_s += m->segments[i].duration;
    }
    double whole = total_s > 0 ? total_bits / total_s : 0;
    double lo = 0.5 * m->target_duration, hi = 1.5 * m->target_duration;
    double peak = 0;
    for (int i = 0; i < m->n_segments; i++) {
        double bits = 0, s = 0;
        for (int j = i; j < m->n_segments; j++) {
            bits += 8.0 * (double)m->segments[j].bytes;
            s += m->segments[j].duration;
            if (s > hi) break;
            if (s >= lo && bits / s > peak) peak = bits / s;
        }
    }
    if (peak == 0) peak = whole; /* shorter than half a target duration overall */
    out->peak_bps = lround(ceil(peak));
    out->average_bps = lround(ceil(whole));
    out->duration_s = total_s;
}

static const uint8_t *find_sps(const uint8_t *d, int size) {
    if (size >= 4 && d[0] == 1) return d + 1; /* avcC: profile, compat, level follow */
    for (int i = 0; i + 3 < size; i++) {
        if (d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1) {
            const uint8_t *nal = d + i + 3;
            if ((nal[0] & 0x1f) == 7 && i + 6 < size) return nal + 1;
        }
    }
    return NULL;
}

int mc_hls_avc_codec(const uint8_t *extradata, int size, char *out, size_t out_len) {
    const uint8_t *sps = extradata ? find_sps(extradata, size) : NULL;
    if (!sps) return -1;
    snprintf(out, out_len, "avc1.%02x%02x%02x", sps[0], sps[1], sps[2]);
    return 0;
}

char *mc_hls_master(const mc_hls_variant *v, int n) {
    size_t cap = 128 + (size_t)n * 512, len = 0;
    char *text = malloc(cap);
    if (!text) return NULL;
    len += (size_t)snprintf(text + len, cap - len,
                            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(text + len, cap - len, "#EXT-X-STREAM-INF:BANDWIDTH=%ld,AVERAGE-BANDWIDTH=%ld",
                                v[i].bandwidth, v[i].average_bandwidth);
        if (v[i].width > 0)
            len += (size_t)snprintf(text + len, cap - len, ",RESOLUTION=%dx%d,FRAME-RATE=%.3f",
                                    v[i].width, v[i].height, v[i].frame_rate);
        len += (size_t)snprintf(text + len, cap - len, ",CODECS=\"%.100s\"\n%.200s\n", v[i].codecs, v[i].uri);
    }
    return text;
}

char *mc_hls_playlist_retype(const char *text, const char *type, int min_target) {
    if (!strstr(text, "#EXT-X-PLAYLIST-TYPE:")) return NULL;
    size_t cap = strlen(text) + strlen(type) + 64, len = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        if (strncmp(p, "#EXT-X-PLAYLIST-TYPE:", 21) == 0) {
            len += (size_t)snprintf(out + len, cap - len, "#EXT-X-PLAYLIST-TYPE:%s", type);
        } else if (min_target > 0 && strncmp(p, "#EXT-X-TARGETDURATION:", 22) == 0) {
            int t = atoi(p + 22);
            len += (size_t)snprintf(out + len, cap - len, "#EXT-X-TARGETDURATION:%d", t > min_target ? t : min_target);
        } else {
            memcpy(out + len, p, n);
            len += n;
        }
        p += n;
        if (*p == '\n') {
            out[len++] = '\n';
            p++;
        }
    }
    out[len] = '\0';
    return out;
}
