/* body.c — the JSON bodies clients send to mcloud-api, validated field by
 * field (unknown fields refused, so a typo never passes silently), plus the
 * small grammars of headers and times the handlers share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/core.h"
#include "common/json.h"

int mc_api_only_fields(json_t *body, const char *const *allowed, mc_err *err) {
    const char *field;
    json_t *value;
    json_object_foreach(body, field, value) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++) ok = strcmp(*a, field) == 0;
        if (!ok) return mc_err_set(err, MC_ERR_INVALID, "unknown field '%.64s'", field);
    }
    return 0;
}

int mc_api_text_field(json_t *body, const char *field, size_t max, const char **out, mc_err *err) {
    json_t *v = json_object_get(body, field);
    *out = NULL;
    if (!v) return 0;
    if (!json_is_string(v))
        return mc_err_set(err, MC_ERR_INVALID, "field '%s' must be a string", field);
    if (json_string_length(v) > max)
        return mc_err_set(err, MC_ERR_INVALID, "field '%s' is longer than %zu bytes", field, max);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return mc_err_set(err, MC_ERR_INVALID, "field '%s' holds a NUL character", field);
    *out = json_string_value(v);
    return 0;
}

static bool meta_key_ok(const char *k) {
    size_t n = strlen(k);
    if (n == 0 || n > MC_API_META_KEY_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == ':'))
            return false;
    }
    return true;
}

int mc_api_metadata_check(json_t *meta, mc_err *err) {
    if (!json_is_object(meta))
        return mc_err_set(err, MC_ERR_INVALID, "field 'metadata' must be an object of strings");
    if (json_object_size(meta) > MC_API_META_MAX_PAIRS)
        return mc_err_set(err, MC_ERR_INVALID, "field 'metadata' holds more than %d pairs",
                          MC_API_META_MAX_PAIRS);
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) {
        if (!meta_key_ok(k))
            return mc_err_set(err, MC_ERR_INVALID, "metadata keys must be 1 to %d characters of "
                              "[A-Za-z0-9_.:-]", MC_API_META_KEY_MAX);
        if (!json_is_string(v))
            return mc_err_set(err, MC_ERR_INVALID, "metadata value '%s' must be a string", k);
        if (json_string_length(v) > MC_API_META_VALUE_MAX ||
            strlen(json_string_value(v)) != json_string_length(v))
            return mc_err_set(err, MC_ERR_INVALID, "metadata value '%s' must be at most %d bytes "
                              "without NUL", k, MC_API_META_VALUE_MAX);
    }
    return 0;
}

static int video_fields(json_t *body, mc_api_video_edit *e, mc_err *err) {
    memset(e, 0, sizeof *e);
    if (mc_api_text_field(body, "title", MC_API_TITLE_MAX, &e->title, err) < 0 ||
        mc_api_text_field(body, "description", MC_API_DESCRIPTION_MAX, &e->description, err) < 0)
        return -1;
    json_t *meta = json_object_get(body, "metadata");
    if (!meta) return 0;
    e->has_metadata = true;
    if (json_is_null(meta)) return 0;
    if (mc_api_metadata_check(meta, err) < 0) return -1;
    e->metadata = meta;
    return 0;
}

int mc_api_video_edit_parse(json_t *body, mc_api_video_edit *e, mc_err *err) {
    static const char *const allowed[] = {"title", "description", "metadata", NULL};
    if (!json_is_object(body)) return mc_err_set(err, MC_ERR_INVALID, "the body must be an object");
    if (mc_api_only_fields(body, allowed, err) < 0 || video_fields(body, e, err) < 0) return -1;
    if (!e->title && !e->description && !e->has_metadata)
        return mc_err_set(err, MC_ERR_INVALID, "nothing to change: give title, description or "
                                               "metadata");
    return 0;
}

int mc_api_upload_request_parse(json_t *body, long long max_size, long long max_expiry_s,
                                mc_api_upload_request *r, mc_err *err) {
    static const char *const allowed[] = {"title", "description", "metadata", "max_size_bytes",
                                          "expires_in_s", NULL};
    memset(r, 0, sizeof *r);
    if (!json_is_object(body)) return mc_err_set(err, MC_ERR_INVALID, "the body must be an object");
    if (mc_api_only_fields(body, allowed, err) < 0 || video_fields(body, &r->video, err) < 0) return -1;
    if (r->video.has_metadata && !r->video.metadata) r->video.has_metadata = false;
    json_t *v = json_object_get(body, "max_size_bytes");
    if (v && (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max_size))
        return mc_err_set(err, MC_ERR_INVALID, "field 'max_size_bytes' must be an integer from 1 "
                          "to %lld", max_size);
    r->max_size_bytes = v ? json_integer_value(v) : 0;
    v = json_object_get(body, "expires_in_s");
    if (v && (!json_is_integer(v) || json_integer_value(v) < 60 ||
              json_integer_value(v) > max_expiry_s))
        return mc_err_set(err, MC_ERR_INVALID, "field 'expires_in_s' must be an integer from 60 "
                          "to %lld", max_expiry_s);
    r->expires_in_s = v ? json_integer_value(v) : 0;
    return 0;
}

/* ---- scopes ---- */

static const char *const scope_names[] = {"videos:read", "videos:write", "webhooks", "admin"};
#define NSCOPES (sizeof scope_names / sizeof scope_names[0])

static int scope_bit(const char *name, size_t len, unsigned *bit) {
    for (size_t i = 0; i < NSCOPES; i++)
        if (strlen(scope_names[i]) == len && memcmp(scope_names[i], name, len) == 0) {
            *bit = 1u << i;
            return 0;
        }
    return -1;
}

int mc_api_scopes_parse(const char *s, unsigned *mask, mc_err *err) {
    *mask = 0;
    while (*s) {
        size_t n = strcspn(s, " ");
        unsigned bit;
        if (n > 0 && scope_bit(s, n, &bit) < 0)
            return mc_err_set(err, MC_ERR_INVALID, "unknown scope '%.*s' (known: videos:read, "
                              "videos:write, webhooks, admin)", (int)(n > 64 ? 64 : n), s);
        if (n > 0) *mask |= bit;
        s += n;
        while (*s == ' ') s++;
    }
    return 0;
}

void mc_api_names_format(const char *const *names, size_t count, unsigned mask, char *buf,
                         size_t cap) {
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < count; i++)
        if (mask & (1u << i)) {
            int n = snprintf(buf + o, cap - o, "%s%s", o ? " " : "", names[i]);
            if (n < 0 || (size_t)n >= cap - o) return;
            o += (size_t)n;
        }
}

json_t *mc_api_names_json(const char *const *names, size_t count, unsigned mask) {
    json_t *a = json_array();
    for (size_t i = 0; i < count; i++)
        if (mask & (1u << i)) json_array_append_new(a, json_string(names[i]));
    return a;
}

void mc_api_scopes_format(unsigned mask, char *buf, size_t cap) {
    mc_api_names_format(scope_names, NSCOPES, mask, buf, cap);
}

json_t *mc_api_scopes_json(unsigned mask) { return mc_api_names_json(scope_names, NSCOPES, mask); }

int mc_api_key_request_parse(json_t *body, mc_api_key_request *r, mc_err *err) {
    static const char *const allowed[] = {"name", "scopes", NULL};
    memset(r, 0, sizeof *r);
    if (!json_is_object(body)) return mc_err_set(err, MC_ERR_INVALID, "the body must be an object");
    if (mc_api_only_fields(body, allowed, err) < 0 ||
        mc_api_text_field(body, "name", MC_API_KEY_NAME_MAX, &r->name, err) < 0)
        return -1;
    json_t *scopes = json_object_get(body, "scopes");
    if (!json_is_array(scopes) || json_array_size(scopes) == 0 || json_array_size(scopes) > NSCOPES)
        return mc_err_set(err, MC_ERR_INVALID, "field 'scopes' must be a non-empty array of "
                                               "videos:read, videos:write, webhooks, admin");
    size_t i;
    json_t *v;
    json_array_foreach(scopes, i, v) {
        unsigned bit;
        if (!json_is_string(v) ||
            scope_bit(json_string_value(v), strlen(json_string_value(v)), &bit) < 0 ||
            strlen(json_string_value(v)) != json_string_length(v))
            return mc_err_set(err, MC_ERR_INVALID, "field 'scopes' holds an unknown scope (known: "
                                                   "videos:read, videos:write, webhooks, admin)");
        r->scopes |= bit;
    }
    return 0;
}

/* ---- small grammars ---- */

bool mc_api_idempotency_key_valid(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 255) return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e) return false;
    return true;
}

bool mc_api_request_id_valid(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 128) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

bool mc_api_video_id_valid(const char *s) {
    if (strlen(s) != 36) return false;
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

static bool digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int mc_api_time_parse(const char *s, int64_t *us, mc_err *err) {
    int y, mo, d, h, mi, se, frac = 0, fdigits = 0;
    size_t n = strlen(s);
    if (n < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se))
        return mc_err_set(err, MC_ERR_INVALID, "not an RFC 3339 time");
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (fdigits < 6) frac = frac * 10 + (*p - '0'), fdigits++;
            p++;
        }
        if (fdigits == 0) return mc_err_set(err, MC_ERR_INVALID, "not an RFC 3339 time");
        while (fdigits < 6) frac *= 10, fdigits++;
    }
    int offset_s = 0;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        offset_s = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return mc_err_set(err, MC_ERR_INVALID, "not an RFC 3339 time");
        offset_s = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
    } else {
        return mc_err_set(err, MC_ERR_INVALID, "not an RFC 3339 time");
    }
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return mc_err_set(err, MC_ERR_INVALID, "not an RFC 3339 time");
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                    .tm_min = mi, .tm_sec = se};
    time_t t = timegm(&tm);
    *us = ((int64_t)t - offset_s) * 1000000 + frac;
    return 0;
}

int mc_api_time_from_db(const char *db, char out[32]) {
    int y, mo, d, h, mi, se, frac = 0;
    if (!db || strlen(db) < 19 || !digits(db, 4, &y) || !digits(db + 5, 2, &mo) ||
        !digits(db + 8, 2, &d) || !digits(db + 11, 2, &h) || !digits(db + 14, 2, &mi) ||
        !digits(db + 17, 2, &se))
        return -1;
    if (db[19] == '.') {
        int nd = 0;
        for (const char *p = db + 20; *p >= '0' && *p <= '9' && nd < 6; p++, nd++)
            frac = frac * 10 + (*p - '0');
        while (nd < 6) frac *= 10, nd++;
    }
    char tmp[96];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", y, mo, d, h, mi, se, frac);
    size_t n = strnlen(tmp, 31);
    memcpy(out, tmp, n);
    out[n] = '\0';
    return 0;
}

void mc_api_time_to_db(int64_t us, char out[32]) {
    time_t t = (time_t)(us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
    int frac = (int)(us - (int64_t)t * 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char tmp[96];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02d %02d:%02d:%02d.%06d", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    size_t n = strnlen(tmp, 31);
    memcpy(out, tmp, n);
    out[n] = '\0';
}
