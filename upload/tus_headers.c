/* tus_headers.c — parsing and validation of the tus 1.0.0 request headers,
 * and formatting of Upload-Metadata and Upload-Expires (see tus_headers.h).
 *
 * Everything here reads hostile bytes: values are walked by index within
 * their length, echoed into messages only through quote(), and the one
 * allocation (Upload-Metadata) is sized from a length already checked
 * against its limit. */
#include "upload/tus_headers.h"


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/base64.h"

#define STATUS_BAD_REQUEST 400
#define STATUS_PRECONDITION_FAILED 412
#define STATUS_UNSUPPORTED_MEDIA_TYPE 415

/* ---- messages ------------------------------------------------------------ */

/* Hostile bytes shown in a message: at most QUOTE_MAX of them, each
 * non-printable byte, quote and backslash as \xNN, "..." when cut. */
#define QUOTE_MAX 64
#define QUOTE_SIZE (QUOTE_MAX * 4 + 4)

static const char *quote(const char *v, size_t len, char out[QUOTE_SIZE]) {
    size_t n = 0;
    for (size_t i = 0; i < len && i < QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') out[n++] = (char)c;
        else n += (size_t)snprintf(out + n, 5, "\\x%02x", c);
    }
    if (len > QUOTE_MAX) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

static int fail(mc_err *err, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(mc_err *err, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mc_err_setv(err, MC_ERR_INVALID, status, NULL, fmt, ap);
    va_end(ap);
    return -1;
}

static int missing(const char *header, mc_err *err) {
    return fail(err, STATUS_BAD_REQUEST, "%s header is required", header);
}

/* ---- small lexical helpers ----------------------------------------------- */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_ows(char c) { return c == ' ' || c == '\t'; }

static char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

static bool ascii_ieq(const char *a, const char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

static bool equals(const char *v, size_t len, const char *literal) {
    return strlen(literal) == len && memcmp(v, literal, len) == 0;
}

/* ---- Tus-Resumable, Upload-Offset, Upload-Length, Upload-Defer-Length ---- */

int mc_tus_parse_resumable(const char *v, size_t len, mc_err *err) {
    char q[QUOTE_SIZE];
    if (!v)
        return fail(err, STATUS_PRECONDITION_FAILED,
                    "Tus-Resumable header is required; this server supports tus " MC_TUS_VERSION);
    if (!equals(v, len, MC_TUS_VERSION))
        return fail(err, STATUS_PRECONDITION_FAILED,
                    "tus version '%s' is not supported; this server supports tus " MC_TUS_VERSION,
                    quote(v, len, q));
    return 0;
}

static int parse_non_negative(const char *header, const char *v, size_t len, int64_t *out,
                              mc_err *err) {
    char q[QUOTE_SIZE];
    if (!v) return missing(header, err);
    bool digits = len > 0;
    for (size_t i = 0; i < len && digits; i++) digits = is_digit(v[i]);
    if (!digits)
        return fail(err, STATUS_BAD_REQUEST, "%s must be a non-negative integer, got '%s'", header,
                    quote(v, len, q));
    int64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int d = v[i] - '0';
        if (n > (INT64_MAX - d) / 10)
            return fail(err, STATUS_BAD_REQUEST, "%s must be at most %lld, got '%s'", header,
                        (long long)INT64_MAX, quote(v, len, q));
        n = n * 10 + d;
    }
    *out = n;
    return 0;
}

int mc_tus_parse_offset(const char *v, size_t len, int64_t *out, mc_err *err) {
    return parse_non_negative("Upload-Offset", v, len, out, err);
}

int mc_tus_parse_length(const char *v, size_t len, int64_t *out, mc_err *err) {
    return parse_non_negative("Upload-Length", v, len, out, err);
}

int mc_tus_parse_defer_length(const char *v, size_t len, mc_err *err) {
    char q[QUOTE_SIZE];
    if (!v) return missing("Upload-Defer-Length", err);
    if (!equals(v, len, "1"))
        return fail(err, STATUS_BAD_REQUEST, "Upload-Defer-Length must be 1, got '%s'",
                    quote(v, len, q));
    return 0;
}

/* ---- Content-Type, X-HTTP-Method-Override -------------------------------- */

int mc_tus_check_content_type(const char *v, size_t len, mc_err *err) {
    static const char type[] = MC_TUS_CONTENT_TYPE;
    const size_t type_len = sizeof type - 1;
    char q[QUOTE_SIZE];
    if (!v)
        return fail(err, STATUS_UNSUPPORTED_MEDIA_TYPE,
                    "Content-Type must be " MC_TUS_CONTENT_TYPE ", got none");
    size_t i = 0;
    while (i < len && is_ows(v[i])) i++;
    bool ok = len - i >= type_len && ascii_ieq(v + i, type, type_len);
    if (ok) {
        i += type_len;
        while (i < len && is_ows(v[i])) i++;
        ok = i == len || v[i] == ';';
    }
    if (!ok)
        return fail(err, STATUS_UNSUPPORTED_MEDIA_TYPE,
                    "Content-Type must be " MC_TUS_CONTENT_TYPE ", got '%s'", quote(v, len, q));
    return 0;
}

int mc_tus_parse_method_override(const char *v, size_t len, const char **method, mc_err *err) {
    static const char *const methods[] = {"GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"};
    char q[QUOTE_SIZE];
    if (!v) return missing("X-HTTP-Method-Override", err);
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        if (equals(v, len, methods[i])) {
            *method = methods[i];
            return 0;
        }
    }
    return fail(err, STATUS_BAD_REQUEST,
                "X-HTTP-Method-Override must be one of GET, HEAD, POST, PATCH, DELETE, OPTIONS; "
                "got '%s'",
                quote(v, len, q));
}

/* ---- Upload-Metadata ------------------------------------------------------ */

static bool metadata_key_valid(const char *key, size_t len) {
    if (len == 0 || len > MC_TUS_METADATA_MAX_KEY) return false;
    for (size_t i = 0; i < len; i++)
        if (key[i] <= 0x20 || key[i] >= 0x7f || key[i] == ',') return false;
    return true;
}

static size_t count_pairs(const char *v, size_t len) {
    size_t n = 1;
    for (size_t i = 0; i < len; i++) n += v[i] == ',';
    return n;
}

static bool all_ows(const char *v, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (!is_ows(v[i])) return false;
    return true;
}

/* Parses one pair (OWS already trimmed) into m, copying key and value into
 * the block at *cursor. */
static int parse_pair(const char *p, size_t len, mc_tus_metadata *m, unsigned char **cursor,
                      mc_err *err) {
    char q[QUOTE_SIZE];
    if (len == 0) return fail(err, STATUS_BAD_REQUEST, "Upload-Metadata has an empty pair");
    const char *space = memchr(p, ' ', len);
    size_t key_len = space ? (size_t)(space - p) : len;
    if (!metadata_key_valid(p, key_len))
        return fail(err, STATUS_BAD_REQUEST,
                    "Upload-Metadata key '%s' must be 1 to %d printable ASCII characters without "
                    "spaces or commas",
                    quote(p, key_len, q), MC_TUS_METADATA_MAX_KEY);
    for (size_t i = 0; i < m->count; i++)
        if (equals(p, key_len, m->pairs[i].key))
            return fail(err, STATUS_BAD_REQUEST, "Upload-Metadata key '%s' appears more than once",
                        quote(p, key_len, q));
    mc_tus_meta_pair *pair = &m->pairs[m->count];
    char *key = (char *)*cursor;
    memcpy(key, p, key_len);
    key[key_len] = '\0';
    unsigned char *value = *cursor + key_len + 1;
    const char *encoded = space ? space + 1 : p + len;
    size_t encoded_len = (size_t)(p + len - encoded);
    mc_err b64err = {0};
    if (mc_base64_decode(encoded, encoded_len, value, &pair->value_len, &b64err))
        return fail(err, STATUS_BAD_REQUEST, "Upload-Metadata value of key '%s': %s",
                    quote(key, key_len, q), b64err.msg);
    value[pair->value_len] = '\0';
    pair->key = key;
    pair->value = value;
    m->count++;
    *cursor = value + pair->value_len + 1;
    return 0;
}

int mc_tus_parse_metadata(const char *v, size_t len, mc_tus_metadata *out, mc_err *err) {
    memset(out, 0, sizeof *out);
    if (!v) return missing("Upload-Metadata", err);
    if (len > MC_TUS_METADATA_MAX_BYTES)
        return fail(err, STATUS_BAD_REQUEST, "Upload-Metadata is %zu bytes; the limit is %d", len,
                    MC_TUS_METADATA_MAX_BYTES);
    if (all_ows(v, len)) return 0;
    size_t pairs = count_pairs(v, len);
    if (pairs > MC_TUS_METADATA_MAX_PAIRS)
        return fail(err, STATUS_BAD_REQUEST, "Upload-Metadata has %zu pairs; the limit is %d",
                    pairs, MC_TUS_METADATA_MAX_PAIRS);
    /* Each pair's key and decoded value fit in its own text plus two NULs
     * (EVP_DecodeBlock writes whole 3-byte groups, still within the text). */
    out->mem = malloc(pairs * sizeof(mc_tus_meta_pair) + len + 2 * pairs);
    if (!out->mem) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    out->pairs = out->mem;
    unsigned char *cursor = (unsigned char *)(out->pairs + pairs);
    size_t start = 0;
    while (start <= len) {
        size_t end = start;
        while (end < len && v[end] != ',') end++;
        size_t a = start, b = end;
        while (a < b && is_ows(v[a])) a++;
        while (b > a && is_ows(v[b - 1])) b--;
        if (parse_pair(v + a, b - a, out, &cursor, err)) {
            mc_tus_metadata_free(out);
            return -1;
        }
        start = end + 1;
    }
    return 0;
}

const mc_tus_meta_pair *mc_tus_metadata_get(const mc_tus_metadata *m, const char *key) {
    for (size_t i = 0; i < m->count; i++)
        if (strcmp(m->pairs[i].key, key) == 0) return &m->pairs[i];
    return NULL;
}

void mc_tus_metadata_free(mc_tus_metadata *m) {
    free(m->mem);
    memset(m, 0, sizeof *m);
}

int mc_tus_format_metadata(const mc_tus_meta_pair *pairs, size_t count, char **out, mc_err *err) {
    char q[QUOTE_SIZE];
    size_t size = 1;
    for (size_t i = 0; i < count; i++) {
        size_t key_len = strlen(pairs[i].key);
        if (!metadata_key_valid(pairs[i].key, key_len))
            return mc_err_set(err, MC_ERR_INVALID, "metadata key '%s' cannot be sent in Upload-Metadata",
                              quote(pairs[i].key, key_len, q));
        size += key_len + 1 + mc_base64_encoded_size(pairs[i].value_len);
    }
    char *s = malloc(size);
    if (!s) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if (i > 0) s[n++] = ',';
        size_t key_len = strlen(pairs[i].key);
        memcpy(s + n, pairs[i].key, key_len);
        n += key_len;
        if (pairs[i].value_len > 0) {
            s[n++] = ' ';
            n += mc_base64_encode(pairs[i].value, pairs[i].value_len, s + n);
        }
    }
    s[n] = '\0';
    *out = s;
    return 0;
}

/* ---- upload URLs and Upload-Concat -------------------------------------- */

bool mc_tus_id_valid(const char *id, size_t len) {
    if (len == 0 || len > MC_TUS_ID_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' ||
                  c == '-';
        if (!ok) return false;
    }
    return true;
}

/* Length of "http://" or "https://" at the start of v (any case), else 0. */
static size_t scheme_len(const char *v, size_t len) {
    if (len >= 7 && ascii_ieq(v, "http://", 7)) return 7;
    if (len >= 8 && ascii_ieq(v, "https://", 8)) return 8;
    return 0;
}

int mc_tus_parse_upload_url(const char *v, size_t len, const char *base_path, const char *host,
                            char id[MC_TUS_ID_MAX + 1], mc_err *err) {
    char q[QUOTE_SIZE];
    size_t path_at = scheme_len(v, len);
    if (path_at > 0) {
        const char *slash = memchr(v + path_at, '/', len - path_at);
        size_t authority_len = (slash ? (size_t)(slash - v) : len) - path_at;
        if (authority_len == 0 || memchr(v + path_at, '@', authority_len))
            return fail(err, STATUS_BAD_REQUEST, "'%s' is not a valid upload URL", quote(v, len, q));
        if (host && !(strlen(host) == authority_len && ascii_ieq(v + path_at, host, authority_len)))
            return fail(err, STATUS_BAD_REQUEST, "'%s' is not an upload URL of this server",
                        quote(v, len, q));
        path_at += authority_len;
    } else if (len < 2 || v[0] != '/' || v[1] == '/') {
        return fail(err, STATUS_BAD_REQUEST,
                    "'%s' is not a valid upload URL (an absolute URL or path was expected)",
                    quote(v, len, q));
    }
    const char *path = v + path_at;
    size_t path_len = len - path_at;
    size_t base_len = strlen(base_path);
    while (base_len > 0 && base_path[base_len - 1] == '/') base_len--;
    if (path_len <= base_len + 1 || memcmp(path, base_path, base_len) != 0 || path[base_len] != '/')
        return fail(err, STATUS_BAD_REQUEST, "'%s' is not an upload URL of this server",
                    quote(v, len, q));
    const char *tail = path + base_len + 1;
    size_t tail_len = path_len - base_len - 1;
    if (!mc_tus_id_valid(tail, tail_len))
        return fail(err, STATUS_BAD_REQUEST, "'%s' does not end in a valid upload id",
                    quote(v, len, q));
    memcpy(id, tail, tail_len);
    id[tail_len] = '\0';
    return 0;
}

static int parse_final(const char *list, size_t len, const char *base_path, const char *host,
                       mc_tus_concat *out, mc_err *err) {
    size_t i = 0;
    while (i < len) {
        if (list[i] == ' ') {
            i++;
            continue;
        }
        size_t end = i;
        while (end < len && list[end] != ' ') end++;
        if (out->count == MC_TUS_CONCAT_MAX_PARTIALS)
            return fail(err, STATUS_BAD_REQUEST, "Upload-Concat names more than %d partial uploads",
                        MC_TUS_CONCAT_MAX_PARTIALS);
        if (mc_tus_parse_upload_url(list + i, end - i, base_path, host, out->ids[out->count], err))
            return mc_err_wrap(err, "Upload-Concat");
        out->count++;
        i = end;
    }
    if (out->count == 0)
        return fail(err, STATUS_BAD_REQUEST,
                    "Upload-Concat 'final;' must be followed by the URLs of the partial uploads");
    return 0;
}

int mc_tus_parse_concat(const char *v, size_t len, const char *base_path, const char *host,
                        mc_tus_concat *out, mc_err *err) {
    static const char final_prefix[] = "final;";
    const size_t prefix_len = sizeof final_prefix - 1;
    char q[QUOTE_SIZE];
    out->kind = 0;
    out->count = 0;
    if (!v) return missing("Upload-Concat", err);
    if (equals(v, len, "partial")) {
        out->kind = MC_TUS_CONCAT_PARTIAL;
        return 0;
    }
    if (len >= prefix_len && memcmp(v, final_prefix, prefix_len) == 0) {
        out->kind = MC_TUS_CONCAT_FINAL;
        return parse_final(v + prefix_len, len - prefix_len, base_path, host, out, err);
    }
    return fail(err, STATUS_BAD_REQUEST,
                "Upload-Concat must be 'partial' or 'final;' followed by upload URLs, got '%s'",
                quote(v, len, q));
}

/* ---- Upload-Checksum ------------------------------------------------------ */

int mc_tus_parse_checksum(const char *v, size_t len, mc_tus_checksum *out, mc_err *err) {
    char q[QUOTE_SIZE];
    if (!v) return missing("Upload-Checksum", err);
    const char *space = memchr(v, ' ', len);
    if (!space)
        return fail(err, STATUS_BAD_REQUEST,
                    "Upload-Checksum must be '<algorithm> <base64 digest>', got '%s'",
                    quote(v, len, q));
    size_t name_len = (size_t)(space - v);
    if (!mc_checksum_alg_from_name(v, name_len, &out->alg))
        return fail(err, STATUS_BAD_REQUEST,
                    "Upload-Checksum algorithm '%s' is not supported; supported: "
                    MC_CHECKSUM_ALGORITHMS,
                    quote(v, name_len, q));
    const char *name = mc_checksum_alg_name(out->alg);
    size_t want = mc_checksum_digest_len(out->alg);
    const char *encoded = space + 1;
    size_t encoded_len = len - name_len - 1;
    if (encoded_len > mc_base64_encoded_size(MC_CHECKSUM_MAX_DIGEST) - 1)
        return fail(err, STATUS_BAD_REQUEST,
                    "Upload-Checksum %s digest must be %zu bytes, got %zu base64 characters", name,
                    want, encoded_len);
    unsigned char digest[MC_CHECKSUM_MAX_DIGEST + 3];
    mc_err b64err = {0};
    if (mc_base64_decode(encoded, encoded_len, digest, &out->digest_len, &b64err))
        return fail(err, STATUS_BAD_REQUEST, "Upload-Checksum %s digest: %s", name, b64err.msg);
    if (out->digest_len != want)
        return fail(err, STATUS_BAD_REQUEST, "Upload-Checksum %s digest must be %zu bytes, got %zu",
                    name, want, out->digest_len);
    memcpy(out->digest, digest, want);
    return 0;
}

/* ---- Upload-Expires ------------------------------------------------------- */

#define YEAR_0000 (-62167219200LL)        /* 0000-01-01T00:00:00Z */
#define YEAR_9999_END 253402300799LL      /* 9999-12-31T23:59:59Z */

int mc_tus_format_http_date(int64_t unix_seconds, char out[MC_TUS_HTTP_DATE_SIZE], mc_err *err) {
    if (unix_seconds < YEAR_0000 || unix_seconds > YEAR_9999_END)
        return mc_err_set(err, MC_ERR_INVALID, "time %lld is outside the years 0000 to 9999",
                          (long long)unix_seconds);
    mc_http_date_format((time_t)unix_seconds, out);
    return 0;
}
