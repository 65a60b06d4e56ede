/* paths.c — the request-path grammar of mcloud-stream (paths.h).
 *
 * A request is accepted only when every byte of it is accounted for by the
 * grammar: nothing is decoded, normalised or skipped here, so there is no
 * spelling of "..", of a separator or of a NUL that could reach an object key
 * or a cache file name. The path part is matched against the transcoder's
 * output names, not against a character class. */
#include "stream/paths.h"

#include <stdio.h>
#include <string.h>

#define RUNG_MAX 16
#define ATTEMPT_MAX 80
#define NUMBER_MAX 9
#define PREFIX "/v/"

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_lower_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }
static bool is_rung_char(char c) { return is_digit(c) || (c >= 'a' && c <= 'z'); }
static bool is_attempt_char(char c) { return is_rung_char(c) || c == '-'; }
static bool is_cred_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
           c == '_' || c == '.';
}

/* Length of the run at p of chars accepted by ok, at most max + 1. */
static size_t run(const char *p, bool (*ok)(char), size_t max) {
    size_t n = 0;
    while (n <= max && p[n] && ok(p[n])) n++;
    return n;
}

/* Matches lit at *p and advances. */
static bool eat(const char **p, const char *lit) {
    size_t n = strlen(lit);
    if (strncmp(*p, lit, n) != 0) return false;
    *p += n;
    return true;
}

static bool eat_run(const char **p, bool (*ok)(char), size_t max) {
    size_t n = run(*p, ok, max);
    if (n == 0 || n > max) return false;
    *p += n;
    return true;
}

/* hls/<rung>/(index.m3u8 | init.mp4 | seg_<digits>.m4s), after "hls/" */
static bool hls_rung_path(const char *p) {
    if (!eat_run(&p, is_rung_char, RUNG_MAX) || !eat(&p, "/")) return false;
    if (strcmp(p, "index.m3u8") == 0 || strcmp(p, "init.mp4") == 0) return true;
    return eat(&p, "seg_") && eat_run(&p, is_digit, NUMBER_MAX) && strcmp(p, ".m4s") == 0;
}

/* thumbs/(poster.jpg | thumb_<digits>.jpg), after "thumbs/" */
static bool thumb_path(const char *p) {
    if (strcmp(p, "poster.jpg") == 0) return true;
    return eat(&p, "thumb_") && eat_run(&p, is_digit, NUMBER_MAX) && strcmp(p, ".jpg") == 0;
}

bool mc_stream_output_path_valid(const char *path) {
    const char *p = path;
    if (!p || *p == '\0') return false;
    if (eat(&p, "hls/a/")) {
        if (!eat_run(&p, is_attempt_char, ATTEMPT_MAX) || !eat(&p, "/")) return false;
        return strcmp(p, "master.m3u8") == 0 || hls_rung_path(p);
    }
    if (eat(&p, "hls/")) return strcmp(p, "master.m3u8") == 0 || hls_rung_path(p);
    if (eat(&p, "thumbs/")) return thumb_path(p);
    return eat_run(&p, is_rung_char, RUNG_MAX) && strcmp(p, ".mp4") == 0;
}

const char *mc_stream_attempt_path(const char *path, size_t *len, char *rel, size_t rel_cap) {
    const char *p = path;
    if (!mc_stream_output_path_valid(path) || !eat(&p, "hls/a/")) return NULL;
    const char *attempt = p;
    *len = run(p, is_attempt_char, ATTEMPT_MAX);
    int n = snprintf(rel, rel_cap, "hls/%s", attempt + *len + 1);
    return n > 0 && (size_t)n < rel_cap ? attempt : NULL;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

const char *mc_stream_content_type(const char *path) {
    if (path && *path == '\0') return "text/html; charset=utf-8";
    if (!mc_stream_output_path_valid(path)) return NULL;
    if (ends_with(path, ".mp4")) return "video/mp4";
    if (ends_with(path, ".m4s")) return "video/iso.segment";
    if (ends_with(path, ".m3u8")) return "application/vnd.apple.mpegurl";
    return "image/jpeg";
}

/* 8-4-4-4-12 lowercase hex. */
static bool video_id_valid(const char *p) {
    for (size_t i = 0; i < MC_VIDEO_ID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? p[i] != '-' : !is_lower_hex(p[i])) return false;
    }
    return true;
}

int mc_stream_target_parse(const char *request_path, size_t len, mc_stream_target *out) {
    memset(out, 0, sizeof *out);
    if (!request_path || memchr(request_path, '\0', len)) return -1;
    const size_t prefix_len = sizeof PREFIX - 1;
    if (len < prefix_len + MC_VIDEO_ID_LEN + 1 || memcmp(request_path, PREFIX, prefix_len) != 0)
        return -1;
    const char *video = request_path + prefix_len, *end = request_path + len;
    if (!video_id_valid(video) || video[MC_VIDEO_ID_LEN] != '/') return -1;
    const char *cred = video + MC_VIDEO_ID_LEN + 1;
    const char *slash = memchr(cred, '/', (size_t)(end - cred));
    if (!slash) return -1;
    size_t cred_len = (size_t)(slash - cred), path_len = (size_t)(end - slash - 1);
    if (cred_len == 0 || cred_len >= sizeof out->cred || path_len >= sizeof out->path ||
        cred[0] == '.')
        return -1;
    for (size_t i = 0; i < cred_len; i++)
        if (!is_cred_char(cred[i])) return -1;
    memcpy(out->video, video, MC_VIDEO_ID_LEN);
    memcpy(out->cred, cred, cred_len);
    memcpy(out->path, slash + 1, path_len);
    out->content_type = mc_stream_content_type(out->path);
    if (!out->content_type) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    return 0;
}
