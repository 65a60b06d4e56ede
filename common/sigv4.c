/* sigv4.c — AWS Signature Version 4 (see sigv4.h).
 *
 * Owns the canonical forms (path, query, headers), the string to sign, the
 * HMAC-SHA256 key derivation and the two ways to carry a signature: the
 * Authorization header and the presigned query string. Hashing is OpenSSL's;
 * strings are built with open_memstream. */
#include "common/sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

/* A header prepared for canonical form: lower-cased name, trimmed value, and
 * its position in the caller's list so duplicates keep their order. */
typedef struct canon_header {
    char *name;
    char *value;
    size_t index;
} canon_header;

typedef struct canon_param {
    char *name;
    char *value;
} canon_param;

static void hex_encode(const unsigned char *in, size_t len, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * len] = '\0';
}

/* Closes a memstream and hands back its buffer (only valid after fclose),
 * or NULL if any write failed. */
static char *memstream_finish(FILE *f, char **buf) {
    int failed = ferror(f);
    if (fclose(f) != 0 || failed) {
        free(*buf);
        return NULL;
    }
    return *buf;
}

/* ASCII only, independent of the locale. */
static bool is_unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

char *mc_sigv4_uri_encode(const char *s, bool keep_slash) {
    static const char digits[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1);
    if (!out) return NULL;
    char *p = out;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (is_unreserved(*c) || (keep_slash && *c == '/')) {
            *p++ = (char)*c;
        } else {
            *p++ = '%';
            *p++ = digits[*c >> 4];
            *p++ = digits[*c & 0xf];
        }
    }
    *p = '\0';
    return out;
}

/* ---- query ------------------------------------------------------------- */

static int compare_params(const void *a, const void *b) {
    const canon_param *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static void free_params(canon_param *params, size_t count) {
    for (size_t i = 0; i < count; i++) {
        free(params[i].name);
        free(params[i].value);
    }
    free(params);
}

char *mc_sigv4_canonical_query(const mc_sigv4_pair *query, size_t count) {
    canon_param *params = calloc(count ? count : 1, sizeof *params);
    if (!params) return NULL;
    for (size_t i = 0; i < count; i++) {
        params[i].name = mc_sigv4_uri_encode(query[i].name, false);
        params[i].value = mc_sigv4_uri_encode(query[i].value ? query[i].value : "", false);
        if (!params[i].name || !params[i].value) {
            free_params(params, count);
            return NULL;
        }
    }
    qsort(params, count, sizeof *params, compare_params);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        free_params(params, count);
        return NULL;
    }
    for (size_t i = 0; i < count; i++)
        fprintf(f, "%s%s=%s", i ? "&" : "", params[i].name, params[i].value);
    free_params(params, count);
    return memstream_finish(f, &buf);
}

/* ---- headers ----------------------------------------------------------- */

static char *lowercase_dup(const char *s) {
    char *out = strdup(s);
    if (!out) return NULL;
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    return out;
}

/* Trims leading and trailing blanks and collapses inner runs to one space. */
static char *trimall_dup(const char *s) {
    char *out = malloc(strlen(s) + 1);
    if (!out) return NULL;
    char *p = out;
    bool pending_space = false;
    for (; *s; s++) {
        if (*s == ' ' || *s == '\t') {
            pending_space = p != out;
            continue;
        }
        if (pending_space) *p++ = ' ';
        pending_space = false;
        *p++ = *s;
    }
    *p = '\0';
    return out;
}

static int compare_headers(const void *a, const void *b) {
    const canon_header *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return (x->index > y->index) - (x->index < y->index);
}

static void free_headers(canon_header *headers, size_t count) {
    for (size_t i = 0; i < count; i++) {
        free(headers[i].name);
        free(headers[i].value);
    }
    free(headers);
}

/* Lower-cased, trimmed and sorted copies of the headers (stable on duplicates). */
static canon_header *canonical_headers(const mc_sigv4_pair *headers, size_t count) {
    canon_header *out = calloc(count ? count : 1, sizeof *out);
    if (!out) return NULL;
    for (size_t i = 0; i < count; i++) {
        out[i].name = lowercase_dup(headers[i].name);
        out[i].value = trimall_dup(headers[i].value ? headers[i].value : "");
        out[i].index = i;
        if (!out[i].name || !out[i].value) {
            free_headers(out, count);
            return NULL;
        }
    }
    qsort(out, count, sizeof *out, compare_headers);
    return out;
}

static void write_signed_headers(FILE *f, const canon_header *h, size_t count) {
    for (size_t i = 0; i < count; i++) {
        if (i && strcmp(h[i].name, h[i - 1].name) == 0) continue;
        fprintf(f, "%s%s", i ? ";" : "", h[i].name);
    }
}

/* "name:value[,value...]\n" per distinct name, values in the caller's order. */
static void write_canonical_headers(FILE *f, const canon_header *h, size_t count) {
    for (size_t i = 0; i < count; i++) {
        bool same_as_previous = i && strcmp(h[i].name, h[i - 1].name) == 0;
        if (same_as_previous)
            fprintf(f, ",%s", h[i].value);
        else
            fprintf(f, "%s%s:%s", i ? "\n" : "", h[i].name, h[i].value);
    }
    if (count) fputc('\n', f);
}

char *mc_sigv4_signed_headers(const mc_sigv4_pair *headers, size_t count) {
    canon_header *h = canonical_headers(headers, count);
    if (!h) return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        free_headers(h, count);
        return NULL;
    }
    write_signed_headers(f, h, count);
    free_headers(h, count);
    return memstream_finish(f, &buf);
}

/* ---- canonical request and signature ------------------------------------ */

char *mc_sigv4_canonical_request(const mc_sigv4_request *req) {
    char *path = mc_sigv4_uri_encode(req->path && *req->path ? req->path : "/", true);
    char *query = mc_sigv4_canonical_query(req->query, req->query_count);
    canon_header *h = canonical_headers(req->headers, req->header_count);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = path && query && h ? open_memstream(&buf, &len) : NULL;
    if (f) {
        fprintf(f, "%s\n%s\n%s\n", req->method, path, query);
        write_canonical_headers(f, h, req->header_count);
        fputc('\n', f);
        write_signed_headers(f, h, req->header_count);
        fprintf(f, "\n%s", req->payload_hash);
    }
    free(path);
    free(query);
    if (h) free_headers(h, req->header_count);
    return f ? memstream_finish(f, &buf) : NULL;
}

char *mc_sigv4_scope(const char *amz_date, const char *region, const char *service) {
    char *out = NULL;
    if (asprintf(&out, "%.8s/%s/%s/aws4_request", amz_date, region, service) < 0) return NULL;
    return out;
}

void mc_sigv4_sha256_hex(const void *data, size_t len, char out[65]) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(data, len, digest);
    hex_encode(digest, sizeof digest, out);
}

char *mc_sigv4_string_to_sign(const char *amz_date, const char *scope,
                              const char *canonical_request) {
    char hash[65];
    mc_sigv4_sha256_hex(canonical_request, strlen(canonical_request), hash);
    char *out = NULL;
    if (asprintf(&out, MC_SIGV4_ALGORITHM "\n%s\n%s\n%s", amz_date, scope, hash) < 0) return NULL;
    return out;
}

static void hmac_sha256(const unsigned char *key, size_t key_len, const char *msg,
                        unsigned char out[32]) {
    unsigned int out_len = 32;
    HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out, &out_len);
}

int mc_sigv4_signing_key(const char *secret_key, const char *date8, const char *region,
                         const char *service, unsigned char key[32]) {
    size_t secret_len = strlen(secret_key);
    unsigned char *seed = malloc(secret_len + 4);
    unsigned char k[32];
    if (!seed) return -1;
    memcpy(seed, "AWS4", 4);
    memcpy(seed + 4, secret_key, secret_len);
    char date[9];
    snprintf(date, sizeof date, "%.8s", date8);
    hmac_sha256(seed, secret_len + 4, date, k);
    hmac_sha256(k, 32, region, k);
    hmac_sha256(k, 32, service, k);
    hmac_sha256(k, 32, "aws4_request", key);
    OPENSSL_cleanse(seed, secret_len + 4);
    OPENSSL_cleanse(k, sizeof k);
    free(seed);
    return 0;
}

int mc_sigv4_signature(const mc_sigv4_credentials *cred, const mc_sigv4_request *req,
                       const char *amz_date, char signature[65]) {
    char *creq = mc_sigv4_canonical_request(req);
    char *scope = mc_sigv4_scope(amz_date, cred->region, cred->service);
    char *sts = creq && scope ? mc_sigv4_string_to_sign(amz_date, scope, creq) : NULL;
    free(creq);
    free(scope);
    if (!sts) return -1;
    unsigned char key[32], mac[32];
    if (mc_sigv4_signing_key(cred->secret_key, amz_date, cred->region, cred->service, key) < 0) {
        free(sts);
        return -1;
    }
    hmac_sha256(key, sizeof key, sts, mac);
    OPENSSL_cleanse(key, sizeof key);
    free(sts);
    hex_encode(mac, sizeof mac, signature);
    return 0;
}

char *mc_sigv4_authorization(const mc_sigv4_credentials *cred, const mc_sigv4_request *req,
                             const char *amz_date) {
    char signature[65];
    if (mc_sigv4_signature(cred, req, amz_date, signature) < 0) return NULL;
    char *scope = mc_sigv4_scope(amz_date, cred->region, cred->service);
    char *signed_headers = mc_sigv4_signed_headers(req->headers, req->header_count);
    char *out = NULL;
    if (scope && signed_headers &&
        asprintf(&out, MC_SIGV4_ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                 cred->access_key, scope, signed_headers, signature) < 0)
        out = NULL;
    free(scope);
    free(signed_headers);
    return out;
}

/* ---- presigned URLs ---------------------------------------------------- */

enum { PRESIGN_PARAMS = 5 };

char *mc_sigv4_presign_query(const mc_sigv4_credentials *cred, const mc_sigv4_request *req,
                             const char *amz_date, long expires_s) {
    char *scope = mc_sigv4_scope(amz_date, cred->region, cred->service);
    char *signed_headers = mc_sigv4_signed_headers(req->headers, req->header_count);
    char *credential = NULL;
    char expires[24];
    snprintf(expires, sizeof expires, "%ld", expires_s);
    size_t count = req->query_count + PRESIGN_PARAMS;
    mc_sigv4_pair *query = calloc(count, sizeof *query);
    char *out = NULL;
    if (!scope || !signed_headers || !query ||
        asprintf(&credential, "%s/%s", cred->access_key, scope) < 0)
        goto done;

    if (req->query_count) memcpy(query, req->query, req->query_count * sizeof *query);
    mc_sigv4_pair *extra = query + req->query_count;
    extra[0] = (mc_sigv4_pair){"X-Amz-Algorithm", MC_SIGV4_ALGORITHM};
    extra[1] = (mc_sigv4_pair){"X-Amz-Credential", credential};
    extra[2] = (mc_sigv4_pair){"X-Amz-Date", amz_date};
    extra[3] = (mc_sigv4_pair){"X-Amz-Expires", expires};
    extra[4] = (mc_sigv4_pair){"X-Amz-SignedHeaders", signed_headers};

    mc_sigv4_request signed_req = *req;
    signed_req.query = query;
    signed_req.query_count = count;
    if (!signed_req.payload_hash) signed_req.payload_hash = MC_SIGV4_UNSIGNED_PAYLOAD;

    char signature[65];
    char *canonical_query = mc_sigv4_canonical_query(query, count);
    if (canonical_query && mc_sigv4_signature(cred, &signed_req, amz_date, signature) == 0 &&
        asprintf(&out, "%s&X-Amz-Signature=%s", canonical_query, signature) < 0)
        out = NULL;
    free(canonical_query);
done:
    free(scope);
    free(signed_headers);
    free(credential);
    free(query);
    return out;
}

void mc_sigv4_amz_date(time_t t, char out[MC_SIGV4_AMZ_DATE_LEN + 1]) {
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, MC_SIGV4_AMZ_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm);
}
