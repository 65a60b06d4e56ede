/* query.c — the query strings of mcloud-api: split and percent-decoded
 * here, from the raw target (libmicrohttpd's own argument table silently
 * keeps one of two equal names and cannot say an escape was bad), then
 * read as typed parameters whose errors name the parameter. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/core.h"

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..len) into a new string; NULL with err on a bad
 * escape or a NUL byte. */
static char *decode(const char *s, size_t len, mc_err *err) {
    char *out = malloc(len + 1);
    if (!out) {
        mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (len - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) {
                free(out);
                mc_err_set(err, MC_ERR_INVALID, "the query string holds a bad %%-escape");
                return NULL;
            }
            c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == '\0') {
            free(out);
            mc_err_set(err, MC_ERR_INVALID, "the query string holds a NUL byte");
            return NULL;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

void mc_api_query_free(mc_api_query *q) {
    for (size_t i = 0; i < q->count; i++) {
        free(q->params[i].name);
        free(q->params[i].value);
    }
    q->count = 0;
}

static int add_param(const char *s, size_t len, mc_api_query *q, mc_err *err) {
    if (len == 0) return 0; /* "a=1&&b=2": an empty piece carries nothing */
    const char *eq = memchr(s, '=', len);
    size_t nlen = eq ? (size_t)(eq - s) : len;
    if (nlen == 0) return mc_err_set(err, MC_ERR_INVALID, "a query parameter has no name");
    if (q->count == MC_API_QUERY_MAX_PARAMS)
        return mc_err_set(err, MC_ERR_INVALID, "more than %d query parameters",
                          MC_API_QUERY_MAX_PARAMS);
    mc_api_param *p = &q->params[q->count];
    p->name = decode(s, nlen, err);
    if (!p->name) return -1;
    p->value = eq ? decode(eq + 1, len - nlen - 1, err) : decode("", 0, err);
    if (!p->value) {
        free(p->name);
        return -1;
    }
    q->count++;
    for (size_t i = 0; i + 1 < q->count; i++)
        if (strcmp(q->params[i].name, p->name) == 0)
            return mc_err_set(err, MC_ERR_INVALID, "query parameter '%.64s' is given twice",
                              p->name);
    return 0;
}

int mc_api_query_parse(const char *qs, size_t len, mc_api_query *q, mc_err *err) {
    memset(q, 0, sizeof *q);
    if (len > MC_API_QUERY_MAX_BYTES)
        return mc_err_set(err, MC_ERR_INVALID, "the query string is longer than %d bytes",
                          MC_API_QUERY_MAX_BYTES);
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && qs[i] != '&') continue;
        if (add_param(qs + start, i - start, q, err) < 0) {
            mc_api_query_free(q);
            return -1;
        }
        start = i + 1;
    }
    return 0;
}

const char *mc_api_query_get(const mc_api_query *q, const char *name) {
    for (size_t i = 0; i < q->count; i++)
        if (strcmp(q->params[i].name, name) == 0) return q->params[i].value;
    return NULL;
}

int mc_api_query_only(const mc_api_query *q, const char *const *allowed, mc_err *err) {
    for (size_t i = 0; i < q->count; i++) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++) ok = strcmp(*a, q->params[i].name) == 0;
        if (!ok)
            return mc_err_set(err, MC_ERR_INVALID, "unknown query parameter '%.64s'",
                              q->params[i].name);
    }
    return 0;
}

int mc_api_query_int(const mc_api_query *q, const char *name, long long min, long long max,
                     long long fallback, long long *out, mc_err *err) {
    const char *v = mc_api_query_get(q, name);
    if (!v) {
        *out = fallback;
        return 0;
    }
    bool digits = *v != '\0' && strlen(v) <= 18;
    for (const char *c = v; *c && digits; c++) digits = *c >= '0' && *c <= '9';
    long long n = digits ? strtoll(v, NULL, 10) : 0;
    if (!digits || n < min || n > max)
        return mc_err_set(err, MC_ERR_INVALID, "query parameter '%s' must be an integer from "
                          "%lld to %lld", name, min, max);
    *out = n;
    return 0;
}

static const char *const status_names[] = {"", "uploading", "uploaded", "transcoding", "ready",
                                           "failed"};

const char *mc_api_status_name(mc_api_video_status s) {
    return (unsigned)s < sizeof status_names / sizeof status_names[0] ? status_names[s] : "";
}

static int parse_time_param(const mc_api_query *q, const char *name, int64_t fallback,
                            int64_t *out, mc_err *err) {
    const char *v = mc_api_query_get(q, name);
    *out = fallback;
    if (!v) return 0;
    if (mc_api_time_parse(v, out, err) < 0)
        return mc_err_set(err, MC_ERR_INVALID, "query parameter '%s' must be an RFC 3339 time "
                          "such as 2026-01-31T12:00:00Z", name);
    return 0;
}

int mc_api_list_params_parse(const mc_api_query *q, mc_api_list_params *p, mc_err *err) {
    static const char *const allowed[] = {"limit", "cursor", "status", "created_after",
                                          "created_before", NULL};
    memset(p, 0, sizeof *p);
    if (mc_api_query_only(q, allowed, err) < 0 ||
        mc_api_query_int(q, "limit", 1, MC_API_LIST_MAX_LIMIT, MC_API_LIST_DEFAULT_LIMIT,
                         &p->limit, err) < 0 ||
        parse_time_param(q, "created_after", INT64_MIN, &p->created_after_us, err) < 0 ||
        parse_time_param(q, "created_before", INT64_MAX, &p->created_before_us, err) < 0)
        return -1;
    p->cursor = mc_api_query_get(q, "cursor");
    if (p->cursor && (!*p->cursor || strlen(p->cursor) >= MC_API_CURSOR_MAX))
        return mc_err_set(err, MC_ERR_INVALID, "query parameter 'cursor' is not a cursor this "
                                               "API gave out");
    const char *st = mc_api_query_get(q, "status");
    if (st) {
        for (size_t i = 1; i < sizeof status_names / sizeof status_names[0]; i++)
            if (strcmp(st, status_names[i]) == 0) p->status = (mc_api_video_status)i;
        if (p->status == MC_API_STATUS_ANY)
            return mc_err_set(err, MC_ERR_INVALID, "query parameter 'status' must be one of "
                              "uploading, uploaded, transcoding, ready, failed");
    }
    return 0;
}

/* ---- GET /v1/usage ---- */

static int day_param(const mc_api_query *q, const char *name, int64_t *us, mc_err *err) {
    const char *v = mc_api_query_get(q, name);
    char iso[32];
    if (!v) return 0;
    if (strlen(v) != 10 || v[4] != '-' || v[7] != '-')
        return mc_err_set(err, MC_ERR_INVALID, "parameter '%s' must be a day, YYYY-MM-DD", name);
    snprintf(iso, sizeof iso, "%sT00:00:00Z", v);
    if (mc_api_time_parse(iso, us, err) < 0)
        return mc_err_set(err, MC_ERR_INVALID, "parameter '%s' must be a day, YYYY-MM-DD", name);
    return 1;
}

int mc_api_usage_params_parse(const mc_api_query *q, int64_t today_us, mc_api_usage_params *p,
                              mc_err *err) {
    static const char *const allowed[] = {"from", "to", "granularity", NULL};
    const int64_t day = 86400LL * 1000000;
    if (mc_api_query_only(q, allowed, err) < 0) return -1;
    const char *g = mc_api_query_get(q, "granularity");
    if (g && strcmp(g, "day") != 0)
        return mc_err_set(err, MC_ERR_INVALID, "parameter 'granularity' must be day");
    int64_t today = today_us - (today_us % day), from, to;
    int hf = day_param(q, "from", &from, err), ht = hf < 0 ? -1 : day_param(q, "to", &to, err);
    if (hf < 0 || ht < 0) return -1;
    if (!ht) to = today;
    if (!hf) from = to - 29 * day;
    if (from > to) return mc_err_set(err, MC_ERR_INVALID, "parameter 'from' is after 'to'");
    if ((to - from) / day + 1 > MC_API_USAGE_MAX_DAYS)
        return mc_err_set(err, MC_ERR_INVALID, "parameters 'from' and 'to' span more than %d days",
                          MC_API_USAGE_MAX_DAYS);
    p->from_us = from;
    p->to_us = to + day;
    p->days = (int)((to - from) / day) + 1;
    return 0;
}
