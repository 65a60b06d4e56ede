/* tus_client.c — a tus 1.0.0 client on libcurl for `mcloud upload`.
 *
 * One upload: find a remembered URL for this file and ask the server for its
 * offset (HEAD), or create a new upload (POST, creation extension); then
 * PATCH chunks read with pread from that offset. After a failed chunk
 * (connection error, 5xx, 423 lock held, 409 offset mismatch) the client
 * waits with backoff, asks the server for the offset again and goes on from
 * there, so bytes the server acknowledged are never sent twice and bytes it
 * did not are never skipped. A 4xx other than those is final: the server's
 * message is returned. */
#include "cli/tus_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/backoff.h"
#include "common/base64.h"

#define TUS_VERSION "1.0.0"

typedef struct tus_reply {
    long status;
    int64_t offset;             /* Upload-Offset, -1 if absent */
    char location[512];
    char video_id[64];
    char body[512];             /* the start of an error body */
    size_t body_len;
} tus_reply;

typedef struct tus_session {
    const mc_tus_upload_options *opt;
    CURL *curl;
    char token_header[4096];
} tus_session;

/* ---- HTTP ---------------------------------------------------------------- */

static void copy_header_value(const char *v, size_t len, char *out, size_t cap) {
    while (len && (*v == ' ' || *v == '\t')) v++, len--;
    while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' ')) len--;
    if (len >= cap) len = cap - 1;
    memcpy(out, v, len);
    out[len] = '\0';
}

static size_t on_header(char *line, size_t size, size_t n, void *ctx) {
    tus_reply *r = ctx;
    size_t len = size * n;
    const char *colon = memchr(line, ':', len);
    if (!colon) return len;
    size_t name_len = (size_t)(colon - line), vlen = len - name_len - 1;
    char value[512];
    if (name_len == 8 && strncasecmp(line, "Location", 8) == 0) {
        copy_header_value(colon + 1, vlen, r->location, sizeof r->location);
    } else if (name_len == 15 && strncasecmp(line, "Mcloud-Video-Id", 15) == 0) {
        copy_header_value(colon + 1, vlen, r->video_id, sizeof r->video_id);
    } else if (name_len == 13 && strncasecmp(line, "Upload-Offset", 13) == 0) {
        copy_header_value(colon + 1, vlen, value, sizeof value);
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        r->offset = (errno || end == value || *end || v < 0) ? -1 : v;
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx) {
    tus_reply *r = ctx;
    size_t len = size * n, room = sizeof r->body - 1 - r->body_len;
    size_t take = len < room ? len : room;
    memcpy(r->body + r->body_len, data, take);
    r->body_len += take;
    r->body[r->body_len] = '\0';
    return len;
}

/* One request; a transport failure is MC_ERR_UNAVAILABLE, any HTTP status
 * is success at this level (the caller judges it). */
static int tus_request(tus_session *s, const char *method, const char *url,
                       struct curl_slist *extra, const void *body, size_t body_len,
                       tus_reply *reply, mc_err *err) {
    memset(reply, 0, sizeof *reply);
    reply->offset = -1;
    struct curl_slist *h = curl_slist_append(NULL, "Tus-Resumable: " TUS_VERSION);
    h = curl_slist_append(h, s->token_header);
    for (struct curl_slist *e = extra; e; e = e->next) h = curl_slist_append(h, e->data);
    CURL *c = s->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, reply);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);   /* a stalled transfer is a failure */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(h);
    if (rc != CURLE_OK)
        return mc_err_set(err, MC_ERR_UNAVAILABLE, "%s %s: %s", method, url, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply->status);
    return 0;
}

/* The server's own words for a refusal: its JSON or text body, trimmed. */
static int refused(const char *what, const tus_reply *r, mc_err *err) {
    mc_err_kind kind = r->status == 401 || r->status == 403 ? MC_ERR_AUTH
                       : r->status == 404 || r->status == 410 ? MC_ERR_NOT_FOUND
                                                              : MC_ERR_INVALID;
    return mc_err_set(err, kind, "%s: the server answered %ld: %s", what, r->status,
                      r->body_len ? r->body : "(no body)");
}

static int retryable(const tus_reply *r) {
    return r->status >= 500 || r->status == 423 || r->status == 409 || r->status == 0;
}

/* ---- remembered upload URLs -------------------------------------------- */

int mc_tus_state_name(const char *scope, const char *path, char *hex, size_t cap) {
    char real[PATH_MAX];
    struct stat st;
    if (cap < 2 * SHA256_DIGEST_LENGTH + 1 || !realpath(path, real) || stat(real, &st) < 0) return -1;
    char id[PATH_MAX + 1024];
    int n = snprintf(id, sizeof id, "%s\n%s\n%lld\n%lld", scope, real, (long long)st.st_size,
                     (long long)st.st_mtime);
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)id, (size_t)n, digest);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) sprintf(hex + 2 * i, "%02x", digest[i]);
    return 0;
}

static int state_path(const mc_tus_upload_options *opt, char *out, size_t cap) {
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    if (!opt->state_dir || mc_tus_state_name(opt->endpoint, opt->path, hex, sizeof hex) < 0) return -1;
    return snprintf(out, cap, "%s/%s", opt->state_dir, hex) < (int)cap ? 0 : -1;
}

static void remember_url(const char *state_file, const char *url) {
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", state_file);
    FILE *f = fopen(tmp, "w");
    if (!f) return; /* resuming is a convenience; the upload goes on */
    int ok = fprintf(f, "%s\n", url) > 0;
    ok = (fclose(f) == 0) && ok;
    if (ok) rename(tmp, state_file);
    else unlink(tmp);
}

static int recall_url(const char *state_file, char *url, size_t cap) {
    FILE *f = fopen(state_file, "r");
    if (!f) return -1;
    int ok = fgets(url, (int)cap, f) != NULL;
    fclose(f);
    if (!ok) return -1;
    url[strcspn(url, "\r\n")] = '\0';
    return url[0] ? 0 : -1;
}

/* ---- the protocol -------------------------------------------------------- */

static int create_upload(tus_session *s, uint64_t length, mc_tus_upload_result *out,
                         mc_err *err) {
    const char *base = strrchr(s->opt->path, '/');
    base = base ? base + 1 : s->opt->path;
    size_t blen = strlen(base);
    char *meta = malloc(32 + mc_base64_encoded_size(blen));
    if (!meta) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    strcpy(meta, "Upload-Metadata: filename ");
    mc_base64_encode(base, blen, meta + strlen(meta));
    char len_header[64];
    snprintf(len_header, sizeof len_header, "Upload-Length: %" PRIu64, length);
    struct curl_slist *h = curl_slist_append(NULL, len_header);
    h = curl_slist_append(h, meta);
    free(meta);
    tus_reply r;
    int rc = tus_request(s, "POST", s->opt->endpoint, h, NULL, 0, &r, err);
    curl_slist_free_all(h);
    if (rc < 0) return -1;
    if (r.status != 201 || !r.location[0]) return refused("creating the upload", &r, err);
    snprintf(out->url, sizeof out->url, "%s", r.location);
    snprintf(out->video_id, sizeof out->video_id, "%s", r.video_id);
    return 0;
}

/* The server's offset for out->url; MC_ERR_NOT_FOUND when it is gone. */
static int server_offset(tus_session *s, mc_tus_upload_result *out, uint64_t *offset,
                         mc_err *err) {
    tus_reply r;
    if (tus_request(s, "HEAD", out->url, NULL, NULL, 0, &r, err) < 0) return -1;
    if (r.status == 404 || r.status == 410 || r.status == 403)
        return mc_err_set(err, MC_ERR_NOT_FOUND, "upload %s is gone (%ld)", out->url, r.status);
    if (r.status != 200 && r.status != 204) {
        if (retryable(&r))
            return mc_err_set(err, MC_ERR_UNAVAILABLE, "HEAD %s: %ld", out->url, r.status);
        return refused("asking for the offset", &r, err);
    }
    if (r.offset < 0) return mc_err_set(err, MC_ERR_REMOTE, "HEAD %s: no Upload-Offset", out->url);
    if (r.video_id[0]) snprintf(out->video_id, sizeof out->video_id, "%s", r.video_id);
    *offset = (uint64_t)r.offset;
    return 0;
}

static int send_chunk(tus_session *s, const mc_tus_upload_result *out, int fd, uint64_t offset,
                      size_t n, char *buf, uint64_t *new_offset, mc_err *err) {
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, buf + got, n - got, (off_t)(offset + got));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return mc_err_set(err, MC_ERR_INVALID, "reading %s: %s", s->opt->path,
                                      k < 0 ? strerror(errno) : "the file shrank");
        got += (size_t)k;
    }
    char off_header[64];
    snprintf(off_header, sizeof off_header, "Upload-Offset: %" PRIu64, offset);
    struct curl_slist *h = curl_slist_append(NULL, off_header);
    h = curl_slist_append(h, "Content-Type: application/offset+octet-stream");
    tus_reply r;
    int rc = tus_request(s, "PATCH", out->url, h, buf, n, &r, err);
    curl_slist_free_all(h);
    if (rc < 0) return -1;
    if (r.status == 204 && r.offset >= 0) {
        *new_offset = (uint64_t)r.offset;
        return 0;
    }
    if (retryable(&r))
        return mc_err_set(err, MC_ERR_UNAVAILABLE, "PATCH at %" PRIu64 ": %ld %s", offset,
                          r.status, r.body);
    return refused("sending a chunk", &r, err);
}

static void wait_ms(unsigned ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) continue;
}

/* Sends [offset, length); after a retryable failure re-reads the offset. */
static int send_all(tus_session *s, mc_tus_upload_result *out, int fd, uint64_t offset,
                    mc_err *err) {
    char *buf = malloc(s->opt->chunk_bytes);
    if (!buf) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    mc_backoff backoff;
    mc_backoff_init(&backoff, 250, 8000);
    int failures = 0, rc = 0;
    while (offset < out->length) {
        uint64_t left = out->length - offset;
        size_t n = left < s->opt->chunk_bytes ? (size_t)left : s->opt->chunk_bytes;
        uint64_t next = offset;
        rc = send_chunk(s, out, fd, offset, n, buf, &next, err);
        if (rc == 0) rc = next > offset ? 0
                        : mc_err_set(err, MC_ERR_REMOTE, "the server did not advance the offset");
        if (rc == 0) {
            offset = next;
            failures = 0;
            mc_backoff_reset(&backoff);
            if (s->opt->progress) s->opt->progress(s->opt->progress_ctx, offset, out->length);
            continue;
        }
        if (err->kind != MC_ERR_UNAVAILABLE || ++failures > s->opt->max_retries) break;
        fprintf(stderr, "mcloud: %s; resuming\n", err->msg);
        wait_ms(mc_backoff_next_ms(&backoff));
        if (server_offset(s, out, &offset, err) < 0 && err->kind != MC_ERR_UNAVAILABLE) break;
        rc = 0;
    }
    free(buf);
    return offset == out->length ? 0 : -1;
}

int mc_tus_upload_file(const mc_tus_upload_options *opt, mc_tus_upload_result *out, mc_err *err) {
    memset(out, 0, sizeof *out);
    int fd = open(opt->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        if (fd >= 0) close(fd);
        return mc_err_set(err, MC_ERR_INVALID, "%s: %s", opt->path,
                          fd < 0 ? strerror(e) : "not a regular file");
    }
    out->length = (uint64_t)st.st_size;
    tus_session s = {.opt = opt, .curl = curl_easy_init()};
    snprintf(s.token_header, sizeof s.token_header, "Authorization: Bearer %s", opt->token);
    char state_file[PATH_MAX];
    bool resumable = state_path(opt, state_file, sizeof state_file) == 0;
    uint64_t offset = 0;
    int rc = s.curl ? 0 : mc_err_set(err, MC_ERR_INTERNAL, "curl_easy_init failed");
    if (rc == 0 && resumable && recall_url(state_file, out->url, sizeof out->url) == 0) {
        mc_err gone = {0};
        if (server_offset(&s, out, &offset, &gone) < 0) out->url[0] = '\0'; /* start afresh */
        out->resumed_from = offset;
    }
    if (rc == 0 && !out->url[0]) {
        rc = create_upload(&s, out->length, out, err);
        if (rc == 0 && resumable) remember_url(state_file, out->url);
    }
    if (rc == 0) rc = send_all(&s, out, fd, offset, err);
    if (rc == 0 && resumable) unlink(state_file);
    if (s.curl) curl_easy_cleanup(s.curl);
    close(fd);
    return rc;
}
