/* s3.c — the S3 client (see s3.h).
 *
 * Owns addressing (path or virtual-host style), the request engine (signing
 * with common/sigv4, one reused CURL easy handle, streaming bodies through
 * the caller's callbacks, retries of replayable requests), the mapping of S3
 * error documents to mc_err, and the XML of listings and multipart uploads
 * (libxml2). Only XML bodies are ever buffered, and only up to XML_BODY_MAX. */
#include "common/s3.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "common/log.h"
#include "common/sigv4.h"

enum {
    XML_BODY_MAX = 16 << 20,       /* listings of 1000 keys are well under this */
    TRANSFER_BUFFER = 256 << 10,   /* libcurl's socket read/write chunk, unless configured */
    PUSH_RECEIVE_BUFFER = 16 << 10, /* a push's receive buffer: UploadPart's answer is short */
    MAX_QUERY = 5,
    MAX_EXTRA_HEADERS = 3,
    RETRY_BASE_MS = 100,
};

struct mc_s3 {
    mc_s3_config cfg;
    CURL *curl;
    CURL *push_curl;                /* push-mode uploads, created on first use */
    CURLM *push_multi;              /* drives push_curl from the caller's thread */
    char curl_error[CURL_ERROR_SIZE];
};

/* One S3 call as the operations describe it. */
typedef struct s3_request {
    const char *op;                 /* "GetObject", for error messages */
    const char *method;
    const char *key;                /* NULL: the bucket */
    mc_sigv4_pair query[MAX_QUERY];
    size_t query_count;
    mc_sigv4_pair headers[MAX_EXTRA_HEADERS]; /* signed, sent as given */
    size_t header_count;
    const char *body;               /* buffered body, signed with its sha256 */
    size_t body_len;
    mc_s3_read_fn read;             /* or a streamed body of read_len bytes */
    void *read_ctx;
    uint64_t read_len;
    bool push;                      /* or read_len bytes handed over by mc_s3_push_write */
    mc_s3_write_fn write;           /* where a 2xx body goes; NULL: collected */
    void *write_ctx;
    mc_s3_object_info *write_info;  /* filled before the first write call */
    bool error_in_ok_body;          /* a 200 may carry an <Error> document */
} s3_request;

typedef struct s3_response {
    long status;
    mc_s3_object_info info;
    char *body;                     /* collected XML (results or error) */
    size_t body_len;
    size_t body_cap;
    uint64_t delivered;             /* bytes handed to the caller's write */
    bool body_overflow;
    bool write_failed;
} s3_response;

/* State the libcurl callbacks share during one attempt. */
typedef struct transfer {
    mc_s3 *s3;
    const s3_request *req;
    s3_response *resp;
    size_t body_offset;             /* buffered body */
    uint64_t streamed;              /* streamed body */
    mc_err_kind read_failure;       /* MC_ERR_NONE unless the body source failed */
    char read_failure_msg[160];
    const char *push_data;          /* push mode: bytes handed over, not yet taken */
    size_t push_len;
} transfer;

/* ---- global initialisation ---------------------------------------------- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_init_rc;

static void global_init(void) {
    global_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    xmlInitParser();
}

/* asprintf that yields NULL on failure (asprintf leaves its pointer undefined). */
static char *strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *strf(const char *fmt, ...) {
    char *out = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&out, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : out;
}

/* ---- configuration ------------------------------------------------------ */

void mc_s3_config_init(mc_s3_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->region, sizeof cfg->region, "us-east-1");
    cfg->path_style = true;
    cfg->connect_timeout_ms = 5000;
    cfg->stall_timeout_s = 60;
    cfg->max_retries = 2;
}

int mc_s3_config_from(mc_config *c, mc_s3_config *cfg, mc_err *err) {
    mc_s3_config_init(cfg);
    if (mc_config_copy(c, "s3.endpoint", cfg->endpoint, sizeof cfg->endpoint, err) < 0 ||
        mc_config_copy(c, "s3.region", cfg->region, sizeof cfg->region, err) < 0 ||
        mc_config_copy(c, "s3.bucket", cfg->bucket, sizeof cfg->bucket, err) < 0 ||
        mc_config_copy(c, "s3.access_key", cfg->access_key, sizeof cfg->access_key, err) < 0 ||
        mc_config_copy(c, "s3.secret_key", cfg->secret_key, sizeof cfg->secret_key, err) < 0 ||
        mc_config_bool(c, "s3.path_style", &cfg->path_style, err) < 0)
        return -1;
    return 0;
}

/* ---- addressing --------------------------------------------------------- */

void mc_s3_location_free(mc_s3_location *loc) {
    free(loc->url);
    free(loc->host);
    free(loc->path);
    memset(loc, 0, sizeof *loc);
}

/* Splits the endpoint into scheme, host and the optional explicit port. */
static int parse_endpoint(const char *endpoint, char **scheme, char **host, char **port,
                          mc_err *err) {
    CURLU *u = curl_url();
    char *path = NULL;
    *scheme = *host = *port = NULL;
    int rc = -1;
    if (!u) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    if (curl_url_set(u, CURLUPART_URL, endpoint, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, host, 0) != CURLUE_OK) {
        mc_err_set(err, MC_ERR_INVALID, "s3 endpoint '%s' is not a URL", endpoint);
        goto done;
    }
    if (strcmp(*scheme, "http") != 0 && strcmp(*scheme, "https") != 0) {
        mc_err_set(err, MC_ERR_INVALID, "s3 endpoint '%s' is not http(s)", endpoint);
        goto done;
    }
    CURLUcode prc = curl_url_get(u, CURLUPART_PORT, port, CURLU_NO_DEFAULT_PORT);
    if (prc != CURLUE_OK && prc != CURLUE_NO_PORT) {
        mc_err_set(err, MC_ERR_INVALID, "s3 endpoint '%s' has a bad port", endpoint);
        goto done;
    }
    if (curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && strcmp(path, "/") != 0) {
        mc_err_set(err, MC_ERR_INVALID, "s3 endpoint '%s' must not have a path", endpoint);
        goto done;
    }
    rc = 0;
done:
    curl_free(path);
    curl_url_cleanup(u);
    if (rc < 0) {
        curl_free(*scheme);
        curl_free(*host);
        curl_free(*port);
        *scheme = *host = *port = NULL;
    }
    return rc;
}

static int check_key(const char *key, mc_err *err) {
    if (!key || !*key) return mc_err_set(err, MC_ERR_INVALID, "s3 key is empty");
    if (strlen(key) > MC_S3_KEY_MAX)
        return mc_err_set(err, MC_ERR_INVALID, "s3 key is longer than %d bytes", MC_S3_KEY_MAX);
    return 0;
}

int mc_s3_locate(const mc_s3_config *cfg, const char *key, mc_s3_location *loc, mc_err *err) {
    memset(loc, 0, sizeof *loc);
    if (key && check_key(key, err) < 0) return -1;
    if (!cfg->bucket[0]) return mc_err_set(err, MC_ERR_INVALID, "s3 bucket is not configured");
    char *scheme, *host, *port;
    if (parse_endpoint(cfg->endpoint, &scheme, &host, &port, err) < 0) return -1;

    const char *colon = port ? ":" : "", *port_s = port ? port : "";
    if (cfg->path_style) {
        loc->host = strf("%s%s%s", host, colon, port_s);
        loc->path = key ? strf("/%s/%s", cfg->bucket, key) : strf("/%s", cfg->bucket);
    } else {
        loc->host = strf("%s.%s%s%s", cfg->bucket, host, colon, port_s);
        loc->path = strf("/%s", key ? key : "");
    }
    char *encoded = loc->path ? mc_sigv4_uri_encode(loc->path, true) : NULL;
    loc->url = encoded && loc->host ? strf("%s://%s%s", scheme, loc->host, encoded) : NULL;
    free(encoded);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    if (!loc->url) {
        mc_s3_location_free(loc);
        return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    }
    return 0;
}

/* ---- handles ------------------------------------------------------------ */

mc_s3 *mc_s3_new(const mc_s3_config *cfg, mc_err *err) {
    pthread_once(&global_once, global_init);
    if (global_init_rc != CURLE_OK) {
        mc_err_set(err, MC_ERR_INTERNAL, "curl_global_init: %s", curl_easy_strerror(global_init_rc));
        return NULL;
    }
    mc_s3_location probe;
    if (mc_s3_locate(cfg, NULL, &probe, err) < 0) return NULL;
    mc_s3_location_free(&probe);
    if (!cfg->access_key[0] || !cfg->secret_key[0]) {
        mc_err_set(err, MC_ERR_INVALID, "s3 access key and secret key are required");
        return NULL;
    }
    mc_s3 *s3 = calloc(1, sizeof *s3);
    if (!s3 || !(s3->curl = curl_easy_init())) {
        free(s3);
        mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    s3->cfg = *cfg;
    return s3;
}

void mc_s3_free(mc_s3 *s3) {
    if (!s3) return;
    if (s3->push_curl) curl_easy_cleanup(s3->push_curl);
    if (s3->push_multi) curl_multi_cleanup(s3->push_multi);
    curl_easy_cleanup(s3->curl);
    free(s3);
}

/* ---- libcurl callbacks -------------------------------------------------- */

static bool header_is(const char *line, size_t name_len, const char *name) {
    return strlen(name) == name_len && strncasecmp(line, name, name_len) == 0;
}

static void copy_trimmed(char *dst, size_t cap, const char *src, size_t len) {
    while (len && (*src == ' ' || *src == '\t')) src++, len--;
    while (len && strchr(" \t\r\n", src[len - 1])) len--;
    if (len >= cap) len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* ETags travel quoted ("abc"); mcloud hands them out bare. */
static void copy_etag(char *dst, size_t cap, const char *src) {
    size_t len = strlen(src);
    if (len >= 2 && src[0] == '"' && src[len - 1] == '"') src++, len -= 2;
    copy_trimmed(dst, cap, src, len);
}

static uint64_t parse_u64(const char *s) {
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    return errno || end == s ? 0 : (uint64_t)v;
}

static void note_header(mc_s3_object_info *info, const char *line, size_t len) {
    const char *colon = memchr(line, ':', len);
    if (!colon) return;
    size_t name_len = (size_t)(colon - line);
    const char *value = colon + 1;
    size_t value_len = len - name_len - 1;
    char buf[256];
    copy_trimmed(buf, sizeof buf, value, value_len);
    if (header_is(line, name_len, "etag")) {
        copy_etag(info->etag, sizeof info->etag, buf);
    } else if (header_is(line, name_len, "content-length")) {
        info->content_length = parse_u64(buf);
    } else if (header_is(line, name_len, "content-type")) {
        copy_trimmed(info->content_type, sizeof info->content_type, buf, strlen(buf));
    } else if (header_is(line, name_len, "content-range")) {
        copy_trimmed(info->content_range, sizeof info->content_range, buf, strlen(buf));
        const char *slash = strchr(buf, '/');
        if (slash && slash[1] != '*') info->object_size = parse_u64(slash + 1);
    } else if (header_is(line, name_len, "last-modified")) {
        copy_trimmed(info->last_modified, sizeof info->last_modified, buf, strlen(buf));
        time_t t = curl_getdate(buf, NULL);
        info->last_modified_time = t < 0 ? 0 : t;
    }
}

static size_t on_header(char *line, size_t size, size_t nitems, void *userp) {
    transfer *t = userp;
    size_t len = size * nitems;
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0)
        memset(&t->resp->info, 0, sizeof t->resp->info); /* a new response (after 100) */
    else
        note_header(&t->resp->info, line, len);
    return len;
}

static bool collect(s3_response *resp, const char *data, size_t len) {
    if (resp->body_len + len > XML_BODY_MAX) {
        resp->body_overflow = true;
        return false;
    }
    if (resp->body_len + len + 1 > resp->body_cap) {
        size_t cap = resp->body_cap ? resp->body_cap : 4096;
        while (cap < resp->body_len + len + 1) cap *= 2;
        char *grown = realloc(resp->body, cap);
        if (!grown) return false;
        resp->body = grown;
        resp->body_cap = cap;
    }
    memcpy(resp->body + resp->body_len, data, len);
    resp->body_len += len;
    resp->body[resp->body_len] = '\0';
    return true;
}

/* The caller's view of a response's headers (a 200's size is its length). */
static void publish_info(mc_s3_object_info *out, const mc_s3_object_info *info, long status) {
    *out = *info;
    out->status = (int)status;
    if (status == 200) out->object_size = out->content_length;
}

static size_t on_body(char *data, size_t size, size_t nitems, void *userp) {
    transfer *t = userp;
    size_t len = size * nitems;
    long status = 0;
    curl_easy_getinfo(t->s3->curl, CURLINFO_RESPONSE_CODE, &status);
    if (t->req->write && status >= 200 && status < 300) {
        if (t->resp->delivered == 0 && t->req->write_info)
            publish_info(t->req->write_info, &t->resp->info, status);
        if (t->req->write(t->req->write_ctx, data, len) < 0) {
            t->resp->write_failed = true;
            return 0;
        }
        t->resp->delivered += len;
        return len;
    }
    return collect(t->resp, data, len) ? len : 0;
}

static size_t on_read_buffer(char *buf, size_t size, size_t nitems, void *userp) {
    transfer *t = userp;
    size_t n = t->req->body_len - t->body_offset;
    if (n > size * nitems) n = size * nitems;
    memcpy(buf, t->req->body + t->body_offset, n);
    t->body_offset += n;
    return n;
}

/* Lets libcurl rewind a buffered body (re-sent on a reconnect). */
static int on_seek_buffer(void *userp, curl_off_t offset, int origin) {
    transfer *t = userp;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > t->req->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    t->body_offset = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

static size_t on_read_stream(char *buf, size_t size, size_t nitems, void *userp) {
    transfer *t = userp;
    uint64_t left = t->req->read_len - t->streamed;
    size_t cap = size * nitems;
    if (cap > left) cap = (size_t)left;
    if (cap == 0) return 0;
    ssize_t got = t->req->read(t->req->read_ctx, buf, cap);
    if (got < 0 || (size_t)got > cap) {
        t->read_failure = MC_ERR_INTERNAL;
        snprintf(t->read_failure_msg, sizeof t->read_failure_msg, "body read callback failed");
        return CURL_READFUNC_ABORT;
    }
    if (got == 0) {
        t->read_failure = MC_ERR_INVALID;
        snprintf(t->read_failure_msg, sizeof t->read_failure_msg,
                 "body ended after %" PRIu64 " of %" PRIu64 " bytes", t->streamed, t->req->read_len);
        return CURL_READFUNC_ABORT;
    }
    t->streamed += (uint64_t)got;
    return (size_t)got;
}

/* Push mode: hands over what mc_s3_push_write offered, and pauses the
 * transfer (until the next write) when nothing is left to take. */
static size_t on_read_push(char *buf, size_t size, size_t nitems, void *userp) {
    transfer *t = userp;
    uint64_t left = t->req->read_len - t->streamed;
    if (left == 0) return 0;
    if (t->push_len == 0) return CURL_READFUNC_PAUSE;
    size_t n = size * nitems;
    if (n > t->push_len) n = t->push_len;
    if (n > left) n = (size_t)left;
    memcpy(buf, t->push_data, n);
    t->push_data += n;
    t->push_len -= n;
    t->streamed += n;
    return n;
}

/* ---- the request engine ------------------------------------------------- */

static void response_reset(s3_response *resp) {
    free(resp->body);
    memset(resp, 0, sizeof *resp);
}

static struct curl_slist *slist_addf(struct curl_slist *list, bool *ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static struct curl_slist *slist_addf(struct curl_slist *list, bool *ok, const char *fmt, ...) {
    char *line = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n < 0) line = NULL;
    struct curl_slist *grown = line ? curl_slist_append(list, line) : NULL;
    free(line);
    if (!grown) {
        *ok = false;
        return list;
    }
    return grown;
}

/* Signs the request and turns it into the header list libcurl sends. */
static struct curl_slist *signed_headers(mc_s3 *s3, const s3_request *req,
                                         const mc_s3_location *loc, mc_err *err) {
    char payload_hash[65], amz_date[MC_SIGV4_AMZ_DATE_LEN + 1];
    if (req->read || req->push)
        snprintf(payload_hash, sizeof payload_hash, "%s", MC_SIGV4_UNSIGNED_PAYLOAD);
    else
        mc_sigv4_sha256_hex(req->body ? req->body : "", req->body_len, payload_hash);
    mc_sigv4_amz_date(time(NULL), amz_date);

    mc_sigv4_pair headers[3 + MAX_EXTRA_HEADERS] = {
        {"host", loc->host}, {"x-amz-content-sha256", payload_hash}, {"x-amz-date", amz_date}};
    memcpy(headers + 3, req->headers, req->header_count * sizeof *headers);
    mc_sigv4_request sreq = {
        .method = req->method, .path = loc->path,
        .query = req->query, .query_count = req->query_count,
        .headers = headers, .header_count = 3 + req->header_count,
        .payload_hash = payload_hash,
    };
    mc_sigv4_credentials cred = {s3->cfg.access_key, s3->cfg.secret_key, s3->cfg.region, "s3"};
    char *authz = mc_sigv4_authorization(&cred, &sreq, amz_date);

    bool ok = authz != NULL;
    struct curl_slist *list = NULL;
    for (size_t i = 0; ok && i < sreq.header_count; i++)
        list = slist_addf(list, &ok, "%s: %s", headers[i].name, headers[i].value);
    if (ok) list = slist_addf(list, &ok, "Authorization: %s", authz);
    if (ok) list = slist_addf(list, &ok, "Expect:"); /* no 100-continue round trip */
    free(authz);
    if (!ok) {
        curl_slist_free_all(list);
        mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    return list;
}

static void set_method(CURL *c, const s3_request *req, transfer *t) {
    bool streamed = req->read || req->push;
    bool has_body = streamed || req->body;
    if (has_body) {
        curl_easy_setopt(c, CURLOPT_READDATA, t);
        if (req->push) {
            curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read_push);
        } else if (req->read) {
            curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read_stream);
        } else {
            curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read_buffer);
            curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek_buffer);
            curl_easy_setopt(c, CURLOPT_SEEKDATA, t);
        }
    }
    curl_off_t len = (curl_off_t)(streamed ? req->read_len : req->body_len);
    if (strcmp(req->method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, len);
    } else if (strcmp(req->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        if (has_body)
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, len);
        else
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    } else if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    }
}

static const char *target_name(const mc_s3 *s3, const s3_request *req, char *buf, size_t cap) {
    snprintf(buf, cap, "%s%s%s", s3->cfg.bucket, req->key ? "/" : "", req->key ? req->key : "");
    return buf;
}

typedef struct prepared {
    char *url;
    struct curl_slist *headers;
} prepared;

static void prepared_free(prepared *p) {
    curl_slist_free_all(p->headers);
    free(p->url);
    memset(p, 0, sizeof *p);
}

/* Signs req and sets every option of c for one attempt. */
static int prepare(mc_s3 *s3, CURL *c, const s3_request *req, transfer *t, prepared *p,
                   mc_err *err) {
    mc_s3_location loc;
    if (mc_s3_locate(&s3->cfg, req->key, &loc, err) < 0) return -1;
    char *query = mc_sigv4_canonical_query(req->query, req->query_count);
    p->url = query ? strf("%s%s%s", loc.url, *query ? "?" : "", query) : NULL;
    free(query);
    if (!p->url) {
        mc_s3_location_free(&loc);
        return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    }
    p->headers = signed_headers(s3, req, &loc, err);
    mc_s3_location_free(&loc);
    if (!p->headers) {
        prepared_free(p);
        return -1;
    }
    curl_easy_reset(c);
    s3->curl_error[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, p->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, p->headers);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "mcloud-s3/0.1");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L); /* keys may hold "/./" or "//" */
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s3->curl_error);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s3->cfg.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, s3->cfg.stall_timeout_s);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    long buffer = s3->cfg.transfer_buffer > 0 ? s3->cfg.transfer_buffer : (long)TRANSFER_BUFFER;
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, req->push ? (long)PUSH_RECEIVE_BUFFER : buffer);
    curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, buffer);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    set_method(c, req, t);
    return 0;
}

/* The outcome of an attempt libcurl ended with rc: 0 when an HTTP response
 * arrived (whatever its status). */
static int attempt_result(mc_s3 *s3, CURL *c, const s3_request *req, s3_response *resp,
                          const transfer *t, CURLcode rc, mc_err *err) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->info.status = (int)resp->status;
    if (rc == CURLE_OK) return 0;
    char target[MC_S3_KEY_MAX + 80];
    target_name(s3, req, target, sizeof target);
    if (t->read_failure != MC_ERR_NONE)
        return mc_err_set(err, t->read_failure, "s3 %s %s: %s", req->op, target, t->read_failure_msg);
    if (resp->write_failed)
        return mc_err_set(err, MC_ERR_INTERNAL, "s3 %s %s: body write callback failed", req->op,
                          target);
    if (resp->body_overflow)
        return mc_err_set(err, MC_ERR_REMOTE, "s3 %s %s: response body over %d bytes", req->op,
                          target, XML_BODY_MAX);
    return mc_err_set(err, MC_ERR_UNAVAILABLE, "s3 %s %s: %s", req->op, target,
                      s3->curl_error[0] ? s3->curl_error : curl_easy_strerror(rc));
}

/* One attempt. 0 when an HTTP response arrived (whatever its status). */
static int perform(mc_s3 *s3, const s3_request *req, s3_response *resp, mc_err *err) {
    transfer t = {.s3 = s3, .req = req, .resp = resp};
    prepared p = {0};
    if (prepare(s3, s3->curl, req, &t, &p, err) < 0) return -1;
    CURLcode rc = curl_easy_perform(s3->curl);
    prepared_free(&p);
    return attempt_result(s3, s3->curl, req, resp, &t, rc, err);
}

static bool transient_status(long status) {
    return status == 500 || status == 502 || status == 503 || status == 504;
}

/* Attempts the request, retrying transient failures while the body can be
 * replayed and nothing reached the caller's write callback yet. */
static int perform_with_retries(mc_s3 *s3, const s3_request *req, s3_response *resp,
                                mc_err *err) {
    for (int attempt = 0;; attempt++) {
        mc_err failure = {0};
        response_reset(resp);
        int rc = perform(s3, req, resp, &failure);
        bool transient = rc < 0 ? failure.kind == MC_ERR_UNAVAILABLE
                                : transient_status(resp->status);
        bool replayable = !req->read && resp->delivered == 0;
        if (!transient || !replayable || attempt >= s3->cfg.max_retries) {
            if (rc < 0 && err) *err = failure;
            return rc;
        }
        long delay_ms = (long)RETRY_BASE_MS << (2 * attempt);
        mc_warn("s3 %s %s: %s, retry %d of %d in %ld ms", req->op, req->key ? req->key : "",
                rc < 0 ? failure.msg : "server error", attempt + 1, s3->cfg.max_retries,
                delay_ms);
        struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* ---- XML ---------------------------------------------------------------- */

static xmlDocPtr xml_parse(const s3_response *resp) {
    if (!resp->body_len) return NULL;
    return xmlReadMemory(resp->body, (int)resp->body_len, NULL, NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

static bool xml_is(xmlNodePtr n, const char *name) {
    return n && n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, BAD_CAST name) == 0;
}

static xmlNodePtr xml_child(xmlNodePtr parent, const char *name) {
    for (xmlNodePtr n = parent ? parent->children : NULL; n; n = n->next)
        if (xml_is(n, name)) return n;
    return NULL;
}

/* The text of parent's first <name> child copied into out ("" if absent). */
static void xml_child_copy(xmlNodePtr parent, const char *name, char *out, size_t cap) {
    xmlNodePtr n = xml_child(parent, name);
    xmlChar *text = n ? xmlNodeGetContent(n) : NULL;
    snprintf(out, cap, "%s", text ? (const char *)text : "");
    xmlFree(text);
}

/* Like xml_child_copy but malloc'd; NULL if absent or out of memory. */
static char *xml_child_dup(xmlNodePtr parent, const char *name) {
    xmlNodePtr n = xml_child(parent, name);
    xmlChar *text = n ? xmlNodeGetContent(n) : NULL;
    char *out = text ? strdup((const char *)text) : NULL;
    xmlFree(text);
    return out;
}

static uint64_t xml_child_u64(xmlNodePtr parent, const char *name) {
    char buf[32];
    xml_child_copy(parent, name, buf, sizeof buf);
    return parse_u64(buf);
}

static bool xml_child_true(xmlNodePtr parent, const char *name) {
    char buf[8];
    xml_child_copy(parent, name, buf, sizeof buf);
    return strcmp(buf, "true") == 0;
}

/* ---- errors ------------------------------------------------------------- */

static mc_err_kind error_kind(long status, const char *code) {
    static const char *not_found[] = {"NoSuchKey", "NoSuchUpload", "NoSuchBucket"};
    static const char *auth[] = {"SignatureDoesNotMatch", "InvalidAccessKeyId"};
    for (size_t i = 0; i < sizeof not_found / sizeof *not_found; i++)
        if (strcmp(code, not_found[i]) == 0) return MC_ERR_NOT_FOUND;
    for (size_t i = 0; i < sizeof auth / sizeof *auth; i++)
        if (strcmp(code, auth[i]) == 0) return MC_ERR_AUTH;
    switch (status) {
    case 404: return MC_ERR_NOT_FOUND;
    case 401: return MC_ERR_AUTH;
    case 409:
    case 412: return MC_ERR_CONFLICT;
    case 416: return MC_ERR_INVALID;
    default: return MC_ERR_REMOTE;
    }
}

/* Turns an S3 error (status, and <Error> document when there is one) into err. */
static int fail_remote(const mc_s3 *s3, const s3_request *req, const s3_response *resp,
                       xmlDocPtr doc, mc_err *err) {
    char code[64] = "", message[256] = "", target[MC_S3_KEY_MAX + 80];
    xmlDocPtr own = doc ? NULL : xml_parse(resp);
    xmlNodePtr root = xmlDocGetRootElement(doc ? doc : own);
    if (xml_is(root, "Error")) {
        xml_child_copy(root, "Code", code, sizeof code);
        xml_child_copy(root, "Message", message, sizeof message);
    }
    xmlFreeDoc(own);
    mc_err_set(err, error_kind(resp->status, code), "s3 %s %s: HTTP %ld%s%s%s%s", req->op,
               target_name(s3, req, target, sizeof target), resp->status, code[0] ? " " : "",
               code, message[0] ? ": " : "", message);
    if (err) {
        err->status = (int)resp->status;
        snprintf(err->code, sizeof err->code, "%s", code);
    }
    return -1;
}

/* Performs the request and checks its outcome: 0 only for a 2xx that is not
 * an error document. resp must be released with response_reset. */
static int call(mc_s3 *s3, const s3_request *req, s3_response *resp, mc_err *err) {
    if (perform_with_retries(s3, req, resp, err) < 0) return -1;
    if (resp->status < 200 || resp->status >= 300) return fail_remote(s3, req, resp, NULL, err);
    if (req->error_in_ok_body) {
        xmlDocPtr doc = xml_parse(resp);
        if (xml_is(xmlDocGetRootElement(doc), "Error")) {
            fail_remote(s3, req, resp, doc, err);
            xmlFreeDoc(doc);
            return -1;
        }
        xmlFreeDoc(doc);
    }
    return 0;
}

/* Performs the request and parses its 2xx XML result, whose root must be
 * root_name: the document (xmlFreeDoc it), or NULL with err filled. The
 * one call-and-parse of every request answered with a result document. */
static xmlDocPtr call_document(mc_s3 *s3, const s3_request *req, const char *root_name, mc_err *err) {
    s3_response resp = {0};
    xmlDocPtr doc = NULL;
    if (call(s3, req, &resp, err) == 0) {
        doc = xml_parse(&resp);
        if (!xml_is(xmlDocGetRootElement(doc), root_name)) {
            char target[MC_S3_KEY_MAX + 80];
            mc_err_set(err, MC_ERR_REMOTE, "s3 %s %s: response is not a %s document", req->op,
                       target_name(s3, req, target, sizeof target), root_name);
            xmlFreeDoc(doc);
            doc = NULL;
        }
    }
    response_reset(&resp);
    return doc;
}

/* Header values from callers must not smuggle in CR/LF (or other controls). */
static int check_content_type(const char *value, mc_err *err) {
    for (const unsigned char *p = (const unsigned char *)value; p && *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return mc_err_set(err, MC_ERR_INVALID, "s3 content type holds a control character");
    return 0;
}

static void add_query(s3_request *req, const char *name, const char *value) {
    req->query[req->query_count++] = (mc_sigv4_pair){name, value};
}

static void add_header(s3_request *req, const char *name, const char *value) {
    req->headers[req->header_count++] = (mc_sigv4_pair){name, value};
}

static void copy_out_etag(char *out, const s3_response *resp) {
    if (out) snprintf(out, MC_S3_ETAG_MAX, "%s", resp->info.etag);
}

/* ---- objects ------------------------------------------------------------ */

static int put(mc_s3 *s3, s3_request *req, const char *content_type, char *etag, mc_err *err) {
    if (check_key(req->key, err) < 0 || check_content_type(content_type, err) < 0) return -1;
    if (content_type && *content_type) add_header(req, "content-type", content_type);
    s3_response resp = {0};
    int rc = call(s3, req, &resp, err);
    if (rc == 0) copy_out_etag(etag, &resp);
    response_reset(&resp);
    return rc;
}

int mc_s3_put_object(mc_s3 *s3, const char *key, const void *data, size_t len,
                     const char *content_type, char etag[MC_S3_ETAG_MAX], mc_err *err) {
    s3_request req = {.op = "PutObject", .method = "PUT", .key = key,
                      .body = data ? data : "", .body_len = len};
    return put(s3, &req, content_type, etag, err);
}

int mc_s3_put_object_stream(mc_s3 *s3, const char *key, uint64_t len, mc_s3_read_fn read,
                            void *ctx, const char *content_type, char etag[MC_S3_ETAG_MAX],
                            mc_err *err) {
    s3_request req = {.op = "PutObject", .method = "PUT", .key = key,
                      .read = read, .read_ctx = ctx, .read_len = len};
    return put(s3, &req, content_type, etag, err);
}

static void format_range(char *buf, size_t cap, const mc_s3_range *r) {
    if (r->last == MC_S3_RANGE_END)
        snprintf(buf, cap, "bytes=%" PRIu64 "-", r->first);
    else
        snprintf(buf, cap, "bytes=%" PRIu64 "-%" PRIu64, r->first, r->last);
}

static int check_range(const mc_s3_range *r, mc_err *err) {
    if (r && r->last < r->first)
        return mc_err_set(err, MC_ERR_INVALID, "s3 range %" PRIu64 "-%" PRIu64 " is reversed",
                          r->first, r->last);
    return 0;
}

int mc_s3_get_object(mc_s3 *s3, const char *key, const mc_s3_range *range, mc_s3_write_fn write,
                     void *ctx, mc_s3_object_info *info, mc_err *err) {
    if (check_key(key, err) < 0 || check_range(range, err) < 0) return -1;
    if (!write) return mc_err_set(err, MC_ERR_INVALID, "s3 GetObject %s: no write callback", key);
    s3_request req = {.op = "GetObject", .method = "GET", .key = key,
                      .write = write, .write_ctx = ctx, .write_info = info};
    char range_header[64];
    if (range) {
        format_range(range_header, sizeof range_header, range);
        add_header(&req, "range", range_header);
    }
    s3_response resp = {0};
    int rc = call(s3, &req, &resp, err);
    if (rc == 0 && info) publish_info(info, &resp.info, resp.status);
    response_reset(&resp);
    return rc;
}

int mc_s3_head_object(mc_s3 *s3, const char *key, mc_s3_object_info *info, mc_err *err) {
    if (check_key(key, err) < 0) return -1;
    s3_request req = {.op = "HeadObject", .method = "HEAD", .key = key};
    s3_response resp = {0};
    int rc = call(s3, &req, &resp, err);
    if (rc == 0 && info) {
        *info = resp.info;
        info->object_size = info->content_length;
    }
    response_reset(&resp);
    return rc;
}

int mc_s3_delete_object(mc_s3 *s3, const char *key, mc_err *err) {
    if (check_key(key, err) < 0) return -1;
    s3_request req = {.op = "DeleteObject", .method = "DELETE", .key = key};
    s3_response resp = {0};
    int rc = call(s3, &req, &resp, err);
    response_reset(&resp);
    return rc;
}

int mc_s3_delete_prefix(mc_s3 *s3, const char *prefix, const char *keep, mc_err *err) {
    size_t keep_len = keep ? strlen(keep) : 0;
    char *token = NULL;
    int rc = 0;
    bool more = true;
    while (more) {
        mc_s3_list_result page = {0};
        mc_s3_list_params p = {.prefix = prefix, .continuation_token = token};
        if (mc_s3_list_objects(s3, &p, &page, err) < 0) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < page.object_count; i++)
            if (!keep || strncmp(page.objects[i].key, keep, keep_len) != 0)
                if (mc_s3_delete_object(s3, page.objects[i].key, err) < 0) rc = -1;
        free(token);
        token = page.next_continuation_token ? strdup(page.next_continuation_token) : NULL;
        more = page.truncated && token;
        mc_s3_list_result_free(&page);
    }
    free(token);
    return rc;
}

void mc_s3_list_result_free(mc_s3_list_result *r) {
    for (size_t i = 0; i < r->object_count; i++) free(r->objects[i].key);
    for (size_t i = 0; i < r->prefix_count; i++) free(r->common_prefixes[i]);
    free(r->objects);
    free(r->common_prefixes);
    free(r->next_continuation_token);
    memset(r, 0, sizeof *r);
}

static size_t count_children(xmlNodePtr parent, const char *name) {
    size_t n = 0;
    for (xmlNodePtr c = parent->children; c; c = c->next) n += xml_is(c, name);
    return n;
}

static int parse_listing(xmlNodePtr root, mc_s3_list_result *out) {
    size_t objects = count_children(root, "Contents");
    size_t prefixes = count_children(root, "CommonPrefixes");
    out->objects = calloc(objects ? objects : 1, sizeof *out->objects);
    out->common_prefixes = calloc(prefixes ? prefixes : 1, sizeof *out->common_prefixes);
    if (!out->objects || !out->common_prefixes) return -1;
    for (xmlNodePtr c = root->children; c; c = c->next) {
        if (xml_is(c, "Contents")) {
            mc_s3_object_entry *e = &out->objects[out->object_count++];
            if (!(e->key = xml_child_dup(c, "Key"))) return -1;
            e->size = xml_child_u64(c, "Size");
            char etag[MC_S3_ETAG_MAX];
            xml_child_copy(c, "ETag", etag, sizeof etag);
            copy_etag(e->etag, sizeof e->etag, etag);
            xml_child_copy(c, "LastModified", e->last_modified, sizeof e->last_modified);
        } else if (xml_is(c, "CommonPrefixes")) {
            char *prefix = xml_child_dup(c, "Prefix");
            if (!prefix) return -1;
            out->common_prefixes[out->prefix_count++] = prefix;
        }
    }
    out->truncated = xml_child_true(root, "IsTruncated");
    if (out->truncated && !(out->next_continuation_token = xml_child_dup(root, "NextContinuationToken")))
        return -1;
    return 0;
}

int mc_s3_list_objects(mc_s3 *s3, const mc_s3_list_params *params, mc_s3_list_result *out,
                       mc_err *err) {
    memset(out, 0, sizeof *out);
    s3_request req = {.op = "ListObjectsV2", .method = "GET"};
    char max_keys[16];
    add_query(&req, "list-type", "2");
    if (params->prefix) add_query(&req, "prefix", params->prefix);
    if (params->delimiter) add_query(&req, "delimiter", params->delimiter);
    if (params->continuation_token) add_query(&req, "continuation-token", params->continuation_token);
    if (params->max_keys > 0) {
        snprintf(max_keys, sizeof max_keys, "%d", params->max_keys);
        add_query(&req, "max-keys", max_keys);
    }
    xmlDocPtr doc = call_document(s3, &req, "ListBucketResult", err);
    if (!doc) return -1;
    int rc = 0;
    if (parse_listing(xmlDocGetRootElement(doc), out) < 0) {
        mc_s3_list_result_free(out);
        rc = mc_err_set(err, MC_ERR_REMOTE, "s3 ListObjectsV2 %s: malformed listing",
                        s3->cfg.bucket);
    }
    xmlFreeDoc(doc);
    return rc;
}

char *mc_s3_presign_get(mc_s3 *s3, const char *key, long expires_s, time_t now, mc_err *err) {
    if (expires_s < 1 || expires_s > 604800) {
        mc_err_set(err, MC_ERR_INVALID, "s3 presign: expiry %ld s is outside 1..604800", expires_s);
        return NULL;
    }
    mc_s3_location loc;
    if (mc_s3_locate(&s3->cfg, key, &loc, err) < 0) return NULL;
    char amz_date[MC_SIGV4_AMZ_DATE_LEN + 1];
    mc_sigv4_amz_date(now, amz_date);
    mc_sigv4_pair host = {"host", loc.host};
    mc_sigv4_request req = {.method = "GET", .path = loc.path, .headers = &host, .header_count = 1};
    mc_sigv4_credentials cred = {s3->cfg.access_key, s3->cfg.secret_key, s3->cfg.region, "s3"};
    char *query = mc_sigv4_presign_query(&cred, &req, amz_date, expires_s);
    char *url = query ? strf("%s?%s", loc.url, query) : NULL;
    if (!url) mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    free(query);
    mc_s3_location_free(&loc);
    return url;
}

/* ---- multipart uploads -------------------------------------------------- */

static int check_upload(const char *key, const char *upload_id, mc_err *err) {
    if (check_key(key, err) < 0) return -1;
    if (!upload_id || !*upload_id) return mc_err_set(err, MC_ERR_INVALID, "s3 upload id is empty");
    return 0;
}

static int check_part(const char *key, const char *upload_id, int part_number, mc_err *err) {
    if (check_upload(key, upload_id, err) < 0) return -1;
    if (part_number < 1 || part_number > 10000)
        return mc_err_set(err, MC_ERR_INVALID, "s3 part number %d is outside 1..10000",
                          part_number);
    return 0;
}

int mc_s3_create_multipart_upload(mc_s3 *s3, const char *key, const char *content_type,
                                  char upload_id[MC_S3_UPLOAD_ID_MAX], mc_err *err) {
    if (check_key(key, err) < 0 || check_content_type(content_type, err) < 0) return -1;
    s3_request req = {.op = "CreateMultipartUpload", .method = "POST", .key = key};
    add_query(&req, "uploads", NULL);
    if (content_type && *content_type) add_header(&req, "content-type", content_type);
    xmlDocPtr doc = call_document(s3, &req, "InitiateMultipartUploadResult", err);
    if (!doc) return -1;
    int rc = 0;
    xml_child_copy(xmlDocGetRootElement(doc), "UploadId", upload_id, MC_S3_UPLOAD_ID_MAX);
    if (!upload_id[0]) rc = mc_err_set(err, MC_ERR_REMOTE, "s3 CreateMultipartUpload %s: no UploadId", key);
    xmlFreeDoc(doc);
    return rc;
}

void mc_s3_multipart_list_free(mc_s3_multipart_list *l) {
    for (size_t i = 0; l->uploads && i < l->count; i++) {
        free(l->uploads[i].key);
        free(l->uploads[i].upload_id);
    }
    free(l->uploads);
    free(l->next_key_marker);
    free(l->next_upload_id_marker);
    memset(l, 0, sizeof *l);
}

static time_t parse_iso8601(const char *s) {
    struct tm tm = {0};
    return s[0] && strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) ? timegm(&tm) : 0;
}

static int parse_multipart_list(xmlNodePtr root, mc_s3_multipart_list *out) {
    size_t n = count_children(root, "Upload");
    out->uploads = calloc(n ? n : 1, sizeof *out->uploads);
    if (!out->uploads) return -1;
    for (xmlNodePtr c = root->children; c; c = c->next) {
        if (!xml_is(c, "Upload")) continue;
        mc_s3_multipart_entry *e = &out->uploads[out->count++];
        if (!(e->key = xml_child_dup(c, "Key")) || !(e->upload_id = xml_child_dup(c, "UploadId")))
            return -1;
        xml_child_copy(c, "Initiated", e->initiated, sizeof e->initiated);
        e->initiated_time = parse_iso8601(e->initiated);
    }
    out->truncated = xml_child_true(root, "IsTruncated");
    if (out->truncated && (!(out->next_key_marker = xml_child_dup(root, "NextKeyMarker")) ||
                           !(out->next_upload_id_marker = xml_child_dup(root, "NextUploadIdMarker"))))
        return -1;
    return 0;
}

int mc_s3_list_multipart_uploads(mc_s3 *s3, const char *prefix, const char *key_marker,
                                 const char *upload_id_marker, mc_s3_multipart_list *out,
                                 mc_err *err) {
    memset(out, 0, sizeof *out);
    s3_request req = {.op = "ListMultipartUploads", .method = "GET"};
    add_query(&req, "uploads", NULL);
    if (prefix) add_query(&req, "prefix", prefix);
    if (key_marker) add_query(&req, "key-marker", key_marker);
    if (upload_id_marker) add_query(&req, "upload-id-marker", upload_id_marker);
    xmlDocPtr doc = call_document(s3, &req, "ListMultipartUploadsResult", err);
    if (!doc) return -1;
    int rc = 0;
    if (parse_multipart_list(xmlDocGetRootElement(doc), out) < 0) {
        mc_s3_multipart_list_free(out);
        rc = mc_err_set(err, MC_ERR_REMOTE, "s3 ListMultipartUploads %s: malformed listing",
                        s3->cfg.bucket);
    }
    xmlFreeDoc(doc);
    return rc;
}

/* A result document's ETag into etag (NULL: not wanted), then frees it;
 * -1 for no document (its call failed). */
static int etag_of(xmlDocPtr doc, char *etag) {
    if (!doc) return -1;
    if (etag) {
        char quoted[MC_S3_ETAG_MAX];
        xml_child_copy(xmlDocGetRootElement(doc), "ETag", quoted, sizeof quoted);
        copy_etag(etag, MC_S3_ETAG_MAX, quoted);
    }
    xmlFreeDoc(doc);
    return 0;
}

static void part_query(s3_request *req, const char *upload_id, int part_number, char *buf,
                       size_t cap) {
    snprintf(buf, cap, "%d", part_number);
    add_query(req, "partNumber", buf);
    add_query(req, "uploadId", upload_id);
}

int mc_s3_upload_part(mc_s3 *s3, const char *key, const char *upload_id, int part_number,
                      const void *data, size_t len, char etag[MC_S3_ETAG_MAX], mc_err *err) {
    if (check_part(key, upload_id, part_number, err) < 0) return -1;
    s3_request req = {.op = "UploadPart", .method = "PUT", .key = key,
                      .body = data ? data : "", .body_len = len};
    char number[16];
    part_query(&req, upload_id, part_number, number, sizeof number);
    return put(s3, &req, NULL, etag, err);
}

int mc_s3_upload_part_stream(mc_s3 *s3, const char *key, const char *upload_id, int part_number,
                             uint64_t len, mc_s3_read_fn read, void *ctx,
                             char etag[MC_S3_ETAG_MAX], mc_err *err) {
    if (check_part(key, upload_id, part_number, err) < 0) return -1;
    s3_request req = {.op = "UploadPart", .method = "PUT", .key = key,
                      .read = read, .read_ctx = ctx, .read_len = len};
    char number[16];
    part_query(&req, upload_id, part_number, number, sizeof number);
    return put(s3, &req, NULL, etag, err);
}

/* ---- push-mode UploadPart ------------------------------------------------ */

struct mc_s3_push {
    mc_s3 *s3;
    s3_request req;
    char number[16];
    s3_response resp;
    transfer t;
    prepared prep;
    bool done;                      /* libcurl ended the transfer */
    CURLcode result;
};

static int push_handles(mc_s3 *s3, mc_err *err) {
    if (!s3->push_curl) s3->push_curl = curl_easy_init();
    if (!s3->push_multi) s3->push_multi = curl_multi_init();
    if (!s3->push_curl || !s3->push_multi) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    return 0;
}

mc_s3_push *mc_s3_upload_part_push(mc_s3 *s3, const char *key, const char *upload_id,
                                   int part_number, uint64_t len, mc_err *err) {
    if (check_part(key, upload_id, part_number, err) < 0 || push_handles(s3, err) < 0) return NULL;
    mc_s3_push *p = calloc(1, sizeof *p);
    if (!p) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory"), NULL;
    p->s3 = s3;
    p->req = (s3_request){.op = "UploadPart", .method = "PUT", .key = key, .push = true,
                          .read_len = len};
    part_query(&p->req, upload_id, part_number, p->number, sizeof p->number);
    p->t = (transfer){.s3 = s3, .req = &p->req, .resp = &p->resp};
    if (prepare(s3, s3->push_curl, &p->req, &p->t, &p->prep, err) < 0) {
        free(p);
        return NULL;
    }
    if (curl_multi_add_handle(s3->push_multi, s3->push_curl) != CURLM_OK) {
        prepared_free(&p->prep);
        free(p);
        return mc_err_set(err, MC_ERR_INTERNAL, "s3 UploadPart: cannot start the transfer"), NULL;
    }
    return p;
}

/* Runs the transfer until the offered bytes are taken (or, with
 * until_done, until it ends); false once libcurl ended it. */
static bool push_drive(mc_s3_push *p, bool until_done) {
    CURLM *m = p->s3->push_multi;
    for (;;) {
        int running = 0, queued;
        if (curl_multi_perform(m, &running) != CURLM_OK) {
            p->done = true;
            p->result = CURLE_SEND_ERROR;
        }
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(m, &queued)))
            if (msg->msg == CURLMSG_DONE) {
                p->done = true;
                p->result = msg->data.result;
            }
        if (p->done) return false;
        if (!until_done && p->t.push_len == 0) return true;
        curl_multi_poll(m, NULL, 0, 1000, NULL);
    }
}

/* The outcome of a transfer libcurl ended, as call() judges it. */
static int push_result(mc_s3_push *p, char etag[MC_S3_ETAG_MAX], mc_err *err) {
    if (attempt_result(p->s3, p->s3->push_curl, &p->req, &p->resp, &p->t, p->result, err) < 0)
        return -1;
    if (p->resp.status < 200 || p->resp.status >= 300)
        return fail_remote(p->s3, &p->req, &p->resp, NULL, err);
    copy_out_etag(etag, &p->resp);
    return 0;
}

int mc_s3_push_write(mc_s3_push *p, const char *data, size_t len, mc_err *err) {
    if (len > p->req.read_len - p->t.streamed)
        return mc_err_set(err, MC_ERR_INVALID, "s3 UploadPart: more than the part's %" PRIu64
                          " bytes", p->req.read_len);
    if (p->done || len == 0) {
        if (p->done && push_result(p, NULL, err) == 0)
            return mc_err_set(err, MC_ERR_REMOTE, "s3 UploadPart: the server answered before the body ended");
        return p->done ? -1 : 0;
    }
    p->t.push_data = data;
    p->t.push_len = len;
    curl_easy_pause(p->s3->push_curl, CURLPAUSE_CONT);
    bool taken = push_drive(p, false);
    p->t.push_data = NULL;
    p->t.push_len = 0;
    if (taken) return 0;
    if (push_result(p, NULL, err) == 0)
        return mc_err_set(err, MC_ERR_REMOTE, "s3 UploadPart: the server answered before the body ended");
    return -1;
}

static void push_free(mc_s3_push *p) {
    curl_multi_remove_handle(p->s3->push_multi, p->s3->push_curl);
    prepared_free(&p->prep);
    response_reset(&p->resp);
    free(p);
}

int mc_s3_push_finish(mc_s3_push *p, char etag[MC_S3_ETAG_MAX], mc_err *err) {
    int rc;
    if (p->t.streamed != p->req.read_len) {
        rc = mc_err_set(err, MC_ERR_INVALID, "s3 UploadPart: body ended after %" PRIu64 " of %" PRIu64
                        " bytes", p->t.streamed, p->req.read_len);
    } else {
        if (!p->done) {
            curl_easy_pause(p->s3->push_curl, CURLPAUSE_CONT);
            push_drive(p, true);
        }
        rc = push_result(p, etag, err);
    }
    push_free(p);
    return rc;
}

void mc_s3_push_abort(mc_s3_push *p) {
    if (p) push_free(p);
}

/* "/<bucket>/<source key, URI-encoded>", the value of x-amz-copy-source. */
static char *copy_source(mc_s3 *s3, const char *source_key) {
    char *encoded = mc_sigv4_uri_encode(source_key, true);
    char *source = encoded ? strf("/%s/%s", s3->cfg.bucket, encoded) : NULL;
    free(encoded);
    return source;
}

int mc_s3_copy_object(mc_s3 *s3, const char *key, const char *source_key, char etag[MC_S3_ETAG_MAX],
                      mc_err *err) {
    if (check_key(key, err) < 0 || check_key(source_key, err) < 0) return -1;
    s3_request req = {.op = "CopyObject", .method = "PUT", .key = key, .error_in_ok_body = true};
    char *source = copy_source(s3, source_key);
    if (!source) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    add_header(&req, "x-amz-copy-source", source);
    xmlDocPtr doc = call_document(s3, &req, "CopyObjectResult", err);
    free(source);
    return etag_of(doc, etag);
}

int mc_s3_upload_part_copy(mc_s3 *s3, const char *key, const char *upload_id, int part_number,
                           const char *source_key, const mc_s3_range *source_range,
                           char etag[MC_S3_ETAG_MAX], mc_err *err) {
    if (check_part(key, upload_id, part_number, err) < 0 ||
        check_key(source_key, err) < 0 || check_range(source_range, err) < 0)
        return -1;
    if (source_range && source_range->last == MC_S3_RANGE_END)
        return mc_err_set(err, MC_ERR_INVALID, "s3 UploadPartCopy needs an explicit last byte");
    s3_request req = {.op = "UploadPartCopy", .method = "PUT", .key = key,
                      .error_in_ok_body = true};
    char number[16], range[64], *source = copy_source(s3, source_key);
    if (!source) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    part_query(&req, upload_id, part_number, number, sizeof number);
    add_header(&req, "x-amz-copy-source", source);
    if (source_range) {
        format_range(range, sizeof range, source_range);
        add_header(&req, "x-amz-copy-source-range", range);
    }
    xmlDocPtr doc = call_document(s3, &req, "CopyPartResult", err);
    free(source);
    return etag_of(doc, etag);
}

void mc_s3_parts_result_free(mc_s3_parts_result *r) {
    free(r->parts);
    memset(r, 0, sizeof *r);
}

static int parse_parts(xmlNodePtr root, mc_s3_parts_result *out) {
    size_t n = count_children(root, "Part");
    out->parts = calloc(n ? n : 1, sizeof *out->parts);
    if (!out->parts) return -1;
    for (xmlNodePtr c = root->children; c; c = c->next) {
        if (!xml_is(c, "Part")) continue;
        mc_s3_part *p = &out->parts[out->count++];
        p->number = (int)xml_child_u64(c, "PartNumber");
        p->size = xml_child_u64(c, "Size");
        char etag[MC_S3_ETAG_MAX];
        xml_child_copy(c, "ETag", etag, sizeof etag);
        copy_etag(p->etag, sizeof p->etag, etag);
    }
    out->truncated = xml_child_true(root, "IsTruncated");
    out->next_part_number_marker = (int)xml_child_u64(root, "NextPartNumberMarker");
    return 0;
}

int mc_s3_list_parts(mc_s3 *s3, const char *key, const char *upload_id, int part_number_marker,
                     int max_parts, mc_s3_parts_result *out, mc_err *err) {
    memset(out, 0, sizeof *out);
    if (check_upload(key, upload_id, err) < 0) return -1;
    s3_request req = {.op = "ListParts", .method = "GET", .key = key};
    char marker[16], max[16];
    add_query(&req, "uploadId", upload_id);
    if (part_number_marker > 0) {
        snprintf(marker, sizeof marker, "%d", part_number_marker);
        add_query(&req, "part-number-marker", marker);
    }
    if (max_parts > 0) {
        snprintf(max, sizeof max, "%d", max_parts);
        add_query(&req, "max-parts", max);
    }
    xmlDocPtr doc = call_document(s3, &req, "ListPartsResult", err);
    if (!doc) return -1;
    int rc = 0;
    if (parse_parts(xmlDocGetRootElement(doc), out) < 0) {
        mc_s3_parts_result_free(out);
        rc = mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    }
    xmlFreeDoc(doc);
    return rc;
}

/* <CompleteMultipartUpload><Part><PartNumber/><ETag/></Part>...</...> */
static xmlChar *completion_document(const mc_s3_part *parts, size_t count, int *len) {
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr root = doc ? xmlNewNode(NULL, BAD_CAST "CompleteMultipartUpload") : NULL;
    xmlChar *out = NULL;
    if (!root) goto done;
    xmlDocSetRootElement(doc, root);
    for (size_t i = 0; i < count; i++) {
        char number[16], etag[MC_S3_ETAG_MAX + 2];
        snprintf(number, sizeof number, "%d", parts[i].number);
        snprintf(etag, sizeof etag, "\"%s\"", parts[i].etag);
        xmlNodePtr part = xmlNewChild(root, NULL, BAD_CAST "Part", NULL);
        if (!part || !xmlNewTextChild(part, NULL, BAD_CAST "PartNumber", BAD_CAST number) ||
            !xmlNewTextChild(part, NULL, BAD_CAST "ETag", BAD_CAST etag))
            goto done;
    }
    xmlDocDumpMemory(doc, &out, len);
done:
    xmlFreeDoc(doc);
    return out;
}

int mc_s3_complete_multipart_upload(mc_s3 *s3, const char *key, const char *upload_id,
                                    const mc_s3_part *parts, size_t count,
                                    char etag[MC_S3_ETAG_MAX], mc_err *err) {
    if (check_upload(key, upload_id, err) < 0) return -1;
    if (count == 0) return mc_err_set(err, MC_ERR_INVALID, "s3 complete %s: no parts", key);
    int body_len = 0;
    xmlChar *body = completion_document(parts, count, &body_len);
    if (!body) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    s3_request req = {.op = "CompleteMultipartUpload", .method = "POST", .key = key,
                      .body = (const char *)body, .body_len = (size_t)body_len,
                      .error_in_ok_body = true};
    add_query(&req, "uploadId", upload_id);
    add_header(&req, "content-type", "application/xml");
    xmlDocPtr doc = call_document(s3, &req, "CompleteMultipartUploadResult", err);
    xmlFree(body);
    return etag_of(doc, etag);
}

int mc_s3_abort_multipart_upload(mc_s3 *s3, const char *key, const char *upload_id,
                                 mc_err *err) {
    if (check_upload(key, upload_id, err) < 0) return -1;
    s3_request req = {.op = "AbortMultipartUpload", .method = "DELETE", .key = key};
    add_query(&req, "uploadId", upload_id);
    s3_response resp = {0};
    int rc = call(s3, &req, &resp, err);
    response_reset(&resp);
    return rc;
}
