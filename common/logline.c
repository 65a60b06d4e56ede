/* logline.c — the central log's lines (see logline.h): what the agent ships
 * and how the CLI selects and prints them. Pure; fuzzed (fuzz_logline). */
#include "common/logline.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/json.h"

/* ---- the engine's timestamps ---- */

static int digits(const char *s, size_t n, int *out) {
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int mc_logline_split_ts(const char *line, size_t len, int64_t *ts_ns, const char **text, size_t *text_len) {
    /* 2026-12-06T16:30:00[.123456789](Z|+hh:mm|-hh:mm) then one space */
    int Y, M, D, h, m, s;
    if (len < 20 || line[4] != '-' || line[7] != '-' || line[10] != 'T' || line[13] != ':' || line[16] != ':' ||
        digits(line, 4, &Y) < 0 || digits(line + 5, 2, &M) < 0 || digits(line + 8, 2, &D) < 0 ||
        digits(line + 11, 2, &h) < 0 || digits(line + 14, 2, &m) < 0 || digits(line + 17, 2, &s) < 0 ||
        M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || s > 60)
        return -1;
    size_t i = 19;
    int64_t frac = 0;
    if (i < len && line[i] == '.') {
        int64_t scale = 100000000;
        for (i++; i < len && isdigit((unsigned char)line[i]); i++, scale /= 10)
            if (scale) frac += (line[i] - '0') * scale;
    }
    int offset_s = 0;
    if (i < len && line[i] == 'Z') {
        i++;
    } else if (i + 6 <= len && (line[i] == '+' || line[i] == '-') && line[i + 3] == ':') {
        int oh, om;
        if (digits(line + i + 1, 2, &oh) < 0 || digits(line + i + 4, 2, &om) < 0) return -1;
        offset_s = (line[i] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
        i += 6;
    } else {
        return -1;
    }
    if (i < len && line[i] != ' ') return -1;
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m, .tm_sec = s};
    int64_t secs = (int64_t)timegm(&tm) - offset_s;
    /* nanoseconds since the epoch fit int64_t from 1970 to 2262 only */
    if (secs < 0 || secs > (INT64_MAX - 999999999LL) / 1000000000LL) return -1;
    *ts_ns = secs * 1000000000LL + frac;
    if (i < len) i++; /* the space */
    *text = line + i;
    *text_len = len - i;
    return 0;
}

/* ---- what the agent ships ---- */

static void set_str(json_t *o, const char *k, const char *v) {
    if (v) json_object_set_new(o, k, mc_json_string_lossy(v, strlen(v)));
}

char *mc_logline_enrich(const char *text, size_t len, const mc_logline_meta *m, int64_t ts_ns) {
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r')) len--;
    json_t *o = len && text[0] == '{' ? json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (o && !json_is_object(o)) {
        json_decref(o);
        o = NULL;
    }
    if (!o) {
        /* a NUL would come out as \u0000, which JSON readers refuse: shown as U+FFFD instead */
        char *clean = NULL;
        if (memchr(text, '\0', len)) {
            if (!(clean = malloc(len * 3 + 1))) return NULL;
            size_t k = 0;
            for (size_t i = 0; i < len; i++) {
                if (text[i]) clean[k++] = text[i];
                else memcpy(clean + k, "\xef\xbf\xbd", 3), k += 3;
            }
            text = clean, len = k;
        }
        o = json_object();
        if (o) json_object_set_new(o, "msg", mc_json_string_lossy(text, len));
        free(clean);
        if (!o) return NULL;
    }
    if (!json_is_string(json_object_get(o, "ts")) && ts_ns > 0) {
        char ts[40];
        time_t secs = (time_t)(ts_ns / 1000000000LL);
        struct tm tm;
        gmtime_r(&secs, &tm);
        size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(ts + n, sizeof ts - n, ".%03dZ", (int)(ts_ns / 1000000 % 1000));
        json_object_set_new(o, "ts", json_string(ts));
    }
    const char *own = json_string_value(json_object_get(o, "service"));
    if (own && m->service && strcmp(own, m->service) != 0) json_object_set(o, "program", json_object_get(o, "service"));
    set_str(o, "node", m->node);
    set_str(o, "service", m->service);
    set_str(o, "instance", m->instance);
    set_str(o, "container", m->container);
    char *out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return out;
}

/* ---- what the operator asks ---- */

int mc_logline_parse_duration(const char *s, int64_t *out_ms, mc_err *err) {
    char *end = NULL;
    if (!s || !isdigit((unsigned char)s[0]))
        return mc_err_set(err, MC_ERR_INVALID, "'%s' is not a duration: a number and s, m, h or d (e.g. 10m)",
                          s ? s : "");
    long long n = strtoll(s, &end, 10);
    int64_t unit = strcmp(end, "s") == 0 ? 1000 : strcmp(end, "m") == 0 ? 60000
                 : strcmp(end, "h") == 0 ? 3600000 : strcmp(end, "d") == 0 ? 86400000 : 0;
    if (!unit) return mc_err_set(err, MC_ERR_INVALID, "'%s' is not a duration: a number and s, m, h or d (e.g. 10m)", s);
    if (n < 0 || n > 3650LL * 86400000 / unit)
        return mc_err_set(err, MC_ERR_INVALID, "'%s' is out of range (at most 3650d)", s);
    *out_ms = (int64_t)n * unit;
    return 0;
}

static int rank_of(const char *s, mc_log_rank *out) {
    if (!s) return -1;
    if (strcasecmp(s, "debug") == 0) *out = MC_RANK_DEBUG;
    else if (strcasecmp(s, "info") == 0) *out = MC_RANK_INFO;
    else if (strcasecmp(s, "warn") == 0 || strcasecmp(s, "warning") == 0) *out = MC_RANK_WARN;
    else if (strcasecmp(s, "error") == 0 || strcasecmp(s, "fatal") == 0) *out = MC_RANK_ERROR;
    else return -1;
    return 0;
}

int mc_logline_parse_level(const char *s, mc_log_rank *out, mc_err *err) {
    if (rank_of(s, out) < 0)
        return mc_err_set(err, MC_ERR_INVALID, "'%s' is not a level: debug, info, warn or error", s ? s : "");
    return 0;
}

/* key "<service>/<instance>": target names either. */
static bool target_matches(const char *target, const char *key, size_t keylen) {
    const char *slash = memchr(key, '/', keylen);
    if (!slash) return strlen(target) == keylen && memcmp(target, key, keylen) == 0;
    size_t svc = (size_t)(slash - key), inst = keylen - svc - 1;
    size_t t = strlen(target);
    return (t == svc && memcmp(target, key, svc) == 0) || (t == inst && memcmp(target, slash + 1, inst) == 0);
}

static bool contains(const char *hay, size_t n, const char *needle) {
    size_t k = strlen(needle);
    if (!k) return true;
    for (size_t i = 0; i + k <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, k) == 0) return true;
    return false;
}

bool mc_logline_match(const mc_logline_query *q, const char *key, size_t keylen, const char *value, size_t len,
                      int64_t ts_ms) {
    if (q->since_ms > 0 && ts_ms >= 0 && ts_ms < q->since_ms) return false;
    if (q->target && q->target[0] && (!key || !target_matches(q->target, key, keylen))) return false;
    if (q->grep && !contains(value, len, q->grep)) return false;
    if (q->min_level > MC_RANK_DEBUG) {
        json_t *o = json_loadb(value, len, 0, NULL);
        mc_log_rank r = MC_RANK_INFO; /* a line without a level (a wrapped one) counts as info */
        rank_of(json_string_value(json_object_get(o, "level")), &r);
        json_decref(o);
        if (r < q->min_level) return false;
    }
    return true;
}

/* ---- printing ---- */

static const char *field(json_t *o, const char *k, const char *dflt) {
    const char *s = json_string_value(json_object_get(o, k));
    return s && s[0] ? s : dflt;
}

size_t mc_logline_format(const char *value, size_t len, char *out, size_t cap) {
    if (!cap) return 0;
    json_t *o = json_loadb(value, len, 0, NULL);
    int n;
    if (!json_is_object(o)) {
        n = snprintf(out, cap, "%.*s", (int)(len > 65536 ? 65536 : len), value);
    } else {
        n = snprintf(out, cap, "%s %s %s %-5s %s", field(o, "ts", "-"), field(o, "node", "-"), field(o, "instance", "-"),
                     field(o, "level", "-"), field(o, "msg", ""));
        static const char *const shown[] = {"ts", "node", "instance", "level", "msg", "service", "container", NULL};
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v) {
            bool skip = false;
            for (int i = 0; shown[i] && !skip; i++) skip = strcmp(k, shown[i]) == 0;
            if (skip || n < 0 || (size_t)n >= cap) continue;
            char *text = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            n += snprintf(out + n, cap - (size_t)n, " %s=%s", k, text ? text : json_is_string(v) ? json_string_value(v) : "");
            free(text);
        }
    }
    json_decref(o);
    if (n < 0) n = 0;
    size_t w = (size_t)n < cap ? (size_t)n : cap - 1;
    out[w] = '\0';
    return w;
}
