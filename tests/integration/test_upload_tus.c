/* test_upload_tus.c — tus 1.0.0 conformance of mcloud-upload with raw HTTP.
 *
 * The test starts its own mcloud-upload processes (the build tree's binary,
 * MCLOUD_UPLOAD_BIN) on free ports, against the real stack (MySQL, Redis,
 * S3, Kafka): A serves most cases (64 MiB Tus-Max-Size, 5 MiB parts); B has
 * an 8-second expiry and a 1-second sweep; C is killed with SIGKILL in the
 * middle of a PATCH. Requests are written byte for byte on a socket, so
 * malformed headers, chunked bodies with trailers and bodies cut off halfway
 * are sent exactly as a broken client would send them.
 *
 * Every rejection is followed by a HEAD proving the offset did not move;
 * stored objects are compared with their sources by SHA-256 read back from
 * S3; completion is checked on the videos row and on the Kafka jobs topic
 * (kcat). At the end each daemon still running must stop on SIGTERM with
 * status 0 and leave no sanitizer report in its log. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdbool.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <zlib.h>

#include "itest.h"

#include "common/base64.h"
#include "common/config.h"
#include "common/fdio.h"
#include "common/mysql.h"
#include "common/redis.h"
#include "common/redis_keys.h"
#include "common/s3.h"
#include "common/token.h"

#define MIB (1024L * 1024)
#define MAX_SIZE (64 * MIB)          /* daemon A's upload.max_size */
#define PART (5 * MIB)               /* every daemon's smallest part */
#define EXPIRY_B_S 8                 /* daemon B's upload.expiry_s */
#define WAIT_S 60                    /* bound of every wait for a condition */
#define JOBS_TOPIC "mcloud.transcode.jobs"
/* A video's rows in the outbox: its transcode job, its video events. */
#define JOB_ROWS "SELECT COUNT(*) FROM outbox WHERE msg_key = ? AND topic = '" JOBS_TOPIC "'"
#define EVENT_ROWS(type) "SELECT COUNT(*) FROM outbox WHERE msg_key = ? AND topic = " \
                         "'mcloud.video.events' AND payload LIKE '%\"type\":\"" type "\"%'"

typedef struct daemon_proc {
    pid_t pid;
    int port;
    char log[256];
    bool killed;                     /* SIGKILLed on purpose: no exit check */
} daemon_proc;

static daemon_proc A, B, C, D;
static char token[1024], other_token[1024], expired_token[1024], small_token[1024];
static char other_tenant[64];
static mc_db *db;
static mc_s3 *s3;
static mc_redis *redis;

/* ---- raw HTTP --------------------------------------------------------------- */

typedef struct resp {
    int status;
    char head[16384];
    char *body;
    size_t blen;
} resp;

static int conn_open(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 120};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads a whole response (every request says Connection: close). */
static void read_resp(int fd, resp *r) {
    memset(r, 0, sizeof *r);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        if (len + 4096 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(fd);
    char *end = strstr(buf, "\r\n\r\n");
    if (!end || sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1)
        fail_msg("no HTTP response (%zu bytes read)", len);
    size_t hlen = (size_t)(end - buf) + 2;
    assert_true(hlen < sizeof r->head);
    memcpy(r->head, buf, hlen);
    r->head[hlen] = '\0';
    r->blen = len - hlen - 2;
    r->body = malloc(r->blen + 1);
    memcpy(r->body, end + 4, r->blen);
    r->body[r->blen] = '\0';
    free(buf);
}

static void resp_free(resp *r) {
    free(r->body);
    r->body = NULL;
}

/* The value of header name (first occurrence), or NULL. */
static const char *hdr(const resp *r, const char *name, char *out, size_t cap) {
    size_t nlen = strlen(name);
    for (const char *line = strstr(r->head, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, name, nlen) == 0 && h[nlen] == ':') {
            const char *v = h + nlen + 1;
            while (*v == ' ') v++;
            snprintf(out, cap, "%.*s", (int)strcspn(v, "\r\n"), v);
            return out;
        }
    }
    return NULL;
}

static bool has_hdr(const resp *r, const char *name) {
    char v[8192];
    return hdr(r, name, v, sizeof v) != NULL;
}

static long hdr_long(const resp *r, const char *name) {
    char v[64];
    if (!hdr(r, name, v, sizeof v)) fail_msg("response %d has no %s header", r->status, name);
    return strtol(v, NULL, 10);
}

/* Writes the head of a request: method, path, the token (NULL: none),
 * extra header lines ("Name: value\r\n..."), Content-Length when
 * content_length >= 0. Returns the connected socket. */
static int send_head(int port, const char *method, const char *path, const char *tok,
                     const char *extra, long content_length) {
    char head[16384];
    int n = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n",
                     method, path, port);
    if (tok) n += snprintf(head + n, sizeof head - (size_t)n, "Authorization: Bearer %s\r\n", tok);
    if (extra) n += snprintf(head + n, sizeof head - (size_t)n, "%s", extra);
    if (content_length >= 0)
        n += snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %ld\r\n", content_length);
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    assert_true((size_t)n < sizeof head);
    int fd = conn_open(port);
    if (fd < 0) fail_msg("cannot connect to 127.0.0.1:%d", port);
    assert_true(mc_write_all(fd, head, (size_t)n));
    return fd;
}

/* One whole request. body NULL and len 0 with a method that takes a body
 * still sends Content-Length: 0. */
static void request(int port, const char *method, const char *path, const char *tok,
                    const char *extra, const void *body, size_t len, resp *r) {
    bool bodied = body || strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0;
    int fd = send_head(port, method, path, tok, extra, bodied ? (long)len : -1);
    if (len) mc_write_all(fd, body, len);
    read_resp(fd, r);
}

#define TUS "Tus-Resumable: 1.0.0\r\n"
#define OCTETS "Content-Type: application/offset+octet-stream\r\n"

/* "/files/<id>" from a Location URL. */
static void path_of(const char *location, char *out, size_t cap) {
    const char *p = strstr(location, "/files/");
    assert_non_null(p);
    snprintf(out, cap, "%s", p);
}

/* POST /files/ on d; asserts 201 and returns the upload's path. */
static void create_on(const daemon_proc *d, const char *extra, const void *body, size_t len,
                      char path[128], char video[64]) {
    char h[8192];
    snprintf(h, sizeof h, TUS "%s%s", body ? OCTETS : "", extra ? extra : "");
    resp r;
    request(d->port, "POST", "/files/", token, h, body, len, &r);
    if (r.status != 201) fail_msg("POST: %d %s", r.status, r.body);
    char loc[512], v[64];
    assert_non_null(hdr(&r, "Location", loc, sizeof loc));
    char want[64];
    snprintf(want, sizeof want, "http://127.0.0.1:%d/files/", d->port);
    assert_true(strncmp(loc, want, strlen(want)) == 0);
    path_of(loc, path, 128);
    if (video) snprintf(video, 64, "%s", hdr(&r, "Mcloud-Video-Id", v, sizeof v) ? v : "");
    resp_free(&r);
}

static void create_sized(const daemon_proc *d, long length, char path[128], char video[64]) {
    char h[64];
    snprintf(h, sizeof h, "Upload-Length: %ld\r\n", length);
    create_on(d, h, NULL, 0, path, video);
}

static void head_on(const daemon_proc *d, const char *path, const char *tok, resp *r) {
    request(d->port, "HEAD", path, tok, TUS, NULL, 0, r);
}

static long offset_on(const daemon_proc *d, const char *path) {
    resp r;
    head_on(d, path, token, &r);
    if (r.status != 200) fail_msg("HEAD %s: %d", path, r.status);
    long off = hdr_long(&r, "Upload-Offset");
    resp_free(&r);
    return off;
}

/* PATCH with extra headers; returns the status (204 checks the new offset). */
static int patch_on(const daemon_proc *d, const char *path, long offset, const void *data,
                    size_t len, const char *extra) {
    char h[4096];
    snprintf(h, sizeof h, TUS OCTETS "Upload-Offset: %ld\r\n%s", offset, extra ? extra : "");
    resp r;
    request(d->port, "PATCH", path, token, h, data, len, &r);
    int status = r.status;
    if (status == 204) assert_int_equal(hdr_long(&r, "Upload-Offset"), offset + (long)len);
    resp_free(&r);
    return status;
}

/* A PATCH that may meet the lock of a request the daemon is still tearing
 * down (or a killed replica's, until its TTL): retried while 423. */
static int patch_retry(const daemon_proc *d, const char *path, long offset, const void *data,
                       size_t len) {
    int status = 423;
    for (int i = 0; i < WAIT_S * 10 && status == 423; i++) {
        status = patch_on(d, path, offset, data, len, NULL);
        if (status == 423) usleep(100 * 1000);
    }
    return status;
}

static unsigned char *random_bytes(size_t n) {
    unsigned char *b = malloc(n ? n : 1);
    assert_non_null(b);
    assert_int_equal(RAND_bytes(b, (int)(n ? n : 1)), 1);
    return b;
}

/* len bytes of a text document: no media by any guess. */
static unsigned char *text_bytes(size_t len) {
    static const char line[] = "This is a quarterly report, not a video. ";
    unsigned char *b = malloc(len ? len : 1);
    assert_non_null(b);
    for (size_t i = 0; i < len; i++) b[i] = (unsigned char)line[i % (sizeof line - 1)];
    return b;
}

/* len noise bytes from xorshift64 (seed fixed: the same bytes every run). */
static unsigned char *noise_bytes(uint64_t seed, size_t len) {
    unsigned char *b = malloc(len + 8);
    assert_non_null(b);
    for (size_t i = 0; i < len; i += 8) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        for (int k = 0; k < 8; k++) b[i + (size_t)k] = (unsigned char)(seed >> (8 * k));
    }
    return b;
}

static void b64(const void *data, size_t len, char *out) { mc_base64_encode(data, len, out); }

/* "Upload-Checksum: <alg> <base64>\r\n" of data. */
static void checksum_header(const char *alg, const void *data, size_t len, char *out, size_t cap) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (strcmp(alg, "crc32") == 0) {
        uint32_t c = (uint32_t)crc32_z(0, data, len);
        md[0] = (unsigned char)(c >> 24), md[1] = (unsigned char)(c >> 16);
        md[2] = (unsigned char)(c >> 8), md[3] = (unsigned char)c;
        n = 4;
    } else {
        EVP_Digest(data, len, md, &n, strcmp(alg, "sha1") == 0 ? EVP_sha1() : EVP_md5(), NULL);
    }
    char enc[64];
    b64(md, n, enc);
    snprintf(out, cap, "Upload-Checksum: %s %s\r\n", alg, enc);
}

/* ---- MySQL, S3, Redis, Kafka ---------------------------------------------- */

/* One column of one row as text ("" for NULL); asserts the row exists. */
static void sql_value(const char *sql, const char *arg, char *out, size_t cap) {
    mc_db_rows rows;
    mc_err err = {0};
    if (mc_db_query(db, MC_DB_MASTER, sql, MC_DB_ARGS(mc_db_str(arg)), &rows, &err) < 0)
        fail_msg("%s: %s", sql, err.msg);
    if (rows.nrows != 1) fail_msg("%s (%s): %zu rows", sql, arg, rows.nrows);
    const char *v = mc_db_rows_get(&rows, 0, 0);
    snprintf(out, cap, "%s", v ? v : "");
    mc_db_rows_free(&rows);
}

static long sql_long(const char *sql, const char *arg) {
    char v[64];
    sql_value(sql, arg, v, sizeof v);
    return strtol(v, NULL, 10);
}

static const char *id_of(const char *path) { return strrchr(path, '/') + 1; }

static void upload_field(const char *path, const char *column, char *out, size_t cap) {
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s FROM uploads WHERE id = ?", column);
    sql_value(sql, id_of(path), out, cap);
}

static void sha256(const void *data, size_t len, unsigned char out[32]) {
    EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL);
}

static int hash_chunk(void *ctx, const char *data, size_t len) {
    return EVP_DigestUpdate(ctx, data, len) == 1 ? 0 : -1;
}

/* The S3 object of the upload at path hashes like data. */
static void assert_object_equals(const char *path, const void *data, size_t len) {
    char key[512];
    upload_field(path, "s3_key", key, sizeof key);
    unsigned char want[32], got[32];
    sha256(data, len, want);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    mc_err err = {0};
    if (mc_s3_get_object(s3, key, NULL, hash_chunk, md, NULL, &err) < 0) fail_msg("%s", err.msg);
    EVP_DigestFinal_ex(md, got, NULL);
    EVP_MD_CTX_free(md);
    mc_s3_object_info info;
    assert_int_equal(mc_s3_head_object(s3, key, &info, &err), 0);
    assert_int_equal(info.content_length, len);
    assert_memory_equal(want, got, 32);
}

/* Parts S3 lists for the upload's multipart upload; -1 when it is gone. */
static long s3_part_count(const char *path) {
    char key[512], upload_id[1100];
    upload_field(path, "s3_key", key, sizeof key);
    upload_field(path, "s3_upload_id", upload_id, sizeof upload_id);
    mc_s3_parts_result page;
    mc_err err = {0};
    if (mc_s3_list_parts(s3, key, upload_id, 0, 1000, &page, &err) < 0) {
        if (err.kind == MC_ERR_NOT_FOUND) return -1;
        fail_msg("ListParts: %s", err.msg);
    }
    long n = (long)page.count;
    mc_s3_parts_result_free(&page);
    return n;
}

static long staging_objects(const char *path) {
    char prefix[128];
    snprintf(prefix, sizeof prefix, "uploads/%s/tail.", id_of(path));
    mc_s3_list_params p = {.prefix = prefix};
    mc_s3_list_result page;
    mc_err err = {0};
    if (mc_s3_list_objects(s3, &p, &page, &err) < 0) fail_msg("list: %s", err.msg);
    long n = (long)page.object_count;
    mc_s3_list_result_free(&page);
    return n;
}

static bool lock_held(const char *path) {
    char name[128], key[256];
    snprintf(name, sizeof name, "upload.%s", id_of(path));
    assert_int_equal(mc_key_lock(key, sizeof key, name), 0);
    mc_err err = {0};
    redisReply *r = mc_redis_command(redis, &err, "EXISTS %s", key);
    assert_non_null(r);
    bool held = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    return held;
}

/* Messages on the jobs topic keyed by video, from the beginning to the end. */
static int kafka_jobs_for(const char *video, char *last_value, size_t cap) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "kcat -C -b '%s' -t " JOBS_TOPIC " -o beginning -e -q -f '%%k\\t%%s\\n'",
             itest_env("MCLOUD_KAFKA"));
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int count = 0;
    char *line = NULL;
    size_t n = 0;
    while (getline(&line, &n, p) > 0) {
        char *tab = strchr(line, '\t');
        if (!tab || (size_t)(tab - line) != strlen(video) || strncmp(line, video, strlen(video)) != 0)
            continue;
        count++;
        if (last_value) snprintf(last_value, cap, "%s", tab + 1);
    }
    free(line);
    assert_int_equal(pclose(p), 0);
    return count;
}

/* ---- daemons --------------------------------------------------------------- */

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &n), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static bool daemon_ready(const daemon_proc *d) {
    int fd = conn_open(d->port);
    if (fd < 0) return false;
    const char req[] = "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    resp r;
    if (!mc_write_all(fd, req, sizeof req - 1)) {
        close(fd);
        return false;
    }
    read_resp(fd, &r);
    resp_free(&r);
    return r.status == 200;
}

/* Starts mcloud-upload with env ("NAME=value" strings, NULL-terminated). */
static void start_daemon(daemon_proc *d, const char *name, const char *const *env) {
    d->port = free_port();
    d->killed = false;
    snprintf(d->log, sizeof d->log, "/tmp/mcloud-itest-upload-%d-%s.log", (int)getpid(), name);
    char port[16], url[64], instance[96];
    snprintf(port, sizeof port, "%d", d->port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", d->port);
    snprintf(instance, sizeof instance, "itest-%d-%s", (int)getpid(), name);
    d->pid = fork();
    assert_true(d->pid >= 0);
    if (d->pid == 0) {
        FILE *log = freopen(d->log, "w", stderr);
        if (!log) _exit(126);
        setenv("MCLOUD_UPLOAD_PORT", port, 1);
        setenv("MCLOUD_UPLOAD_PUBLIC_URL", url, 1);
        setenv("MCLOUD_SERVICE_INSTANCE", instance, 1);
        setenv("MCLOUD_UPLOAD_PART_SIZE_MB", "5", 1);
        setenv("MCLOUD_LOG_LEVEL", "info", 1);
        /* out of the registry: an edge running beside (make fresh-check's) must
         * not route the platform's uploads to a daemon this test kills */
        setenv("MCLOUD_REGISTRY_PUBLISH", "false", 1);
        for (size_t i = 0; env && env[i]; i++) putenv((char *)env[i]);
        execl(MCLOUD_UPLOAD_BIN, "mcloud-upload", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < WAIT_S * 10 && !daemon_ready(d); i++) {
        int status;
        if (waitpid(d->pid, &status, WNOHANG) == d->pid)
            fail_msg("mcloud-upload %s exited during start; log: %s", name, d->log);
        usleep(100 * 1000);
    }
    if (!daemon_ready(d)) fail_msg("mcloud-upload %s not ready; log: %s", name, d->log);
}

static void kill9(daemon_proc *d) {
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    d->killed = true;
}

/* SIGTERM, exit 0, and no sanitizer report in the log. */
static bool stop_daemon(daemon_proc *d) {
    if (!d->pid) return true;
    bool ok = true;
    if (!d->killed) {
        kill(d->pid, SIGTERM);
        int status = 0;
        waitpid(d->pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "mcloud-upload on port %d: exit status %d; log %s\n", d->port, status,
                    d->log);
            ok = false;
        }
    }
    FILE *f = fopen(d->log, "r");
    char line[4096];
    while (f && fgets(line, sizeof line, f)) {
        if (strstr(line, "Sanitizer") || strstr(line, "runtime error:")) {
            fprintf(stderr, "sanitizer report in %s: %s", d->log, line);
            ok = false;
        }
    }
    if (f) fclose(f);
    if (ok) unlink(d->log);
    d->pid = 0;
    return ok;
}

static void mint(const char *tenant, int64_t exp, int64_t max_bytes, char *out, size_t cap) {
    mc_token_key key = {.id = MC_TOKEN_DEV_KEY_ID,
                        .secret = (const unsigned char *)MC_TOKEN_DEV_SECRET,
                        .secret_len = strlen(MC_TOKEN_DEV_SECRET)};
    mc_token_claims claims = {.exp = exp, .max_upload_bytes = max_bytes};
    snprintf(claims.tenant, sizeof claims.tenant, "%s", tenant);
    char *t = NULL;
    mc_err err = {0};
    if (mc_token_mint(&key, &claims, &t, &err) < 0) fail_msg("mint: %s", err.msg);
    snprintf(out, cap, "%s", t);
    free(t);
}

static int setup(void **state) {
    (void)state;
    itest_env("MCLOUD_KAFKA");
    mc_config *cfg = mc_config_load(NULL, NULL);
    mc_err err = {0};
    mc_db_config dbc;
    mc_s3_config s3c;
    assert_int_equal(mc_db_config_from(cfg, &dbc, &err), 0);
    assert_int_equal(mc_s3_config_from(cfg, &s3c, &err), 0);
    db = mc_db_open(&dbc, &err);
    s3 = mc_s3_new(&s3c, &err);
    mc_redis_options ro = {.addr = mc_config_get(cfg, "redis")};
    redis = mc_redis_connect(&ro, &err);
    if (!db || !s3 || !redis) fail_msg("stack: %s", err.msg);
    mc_config_free(cfg);
    snprintf(other_tenant, sizeof other_tenant, "tus%ld%d", (long)time(NULL), (int)getpid());
    if (mc_db_exec(db, MC_DB_MASTER, "INSERT INTO tenants (id, name) VALUES (?, ?)",
                   MC_DB_ARGS(mc_db_str(other_tenant), mc_db_str(other_tenant)), NULL, &err) < 0)
        fail_msg("tenant: %s", err.msg);
    int64_t hour = (int64_t)time(NULL) + 3600;
    mint("local", hour, 0, token, sizeof token);
    mint(other_tenant, hour, 0, other_token, sizeof other_token);
    mint("local", (int64_t)time(NULL) - 60, 0, expired_token, sizeof expired_token);
    mint("local", hour, 1000, small_token, sizeof small_token);
    static const char *const env_a[] = {"MCLOUD_UPLOAD_MAX_SIZE=67108864", NULL};
    static const char *const env_b[] = {"MCLOUD_UPLOAD_EXPIRY_S=8", "MCLOUD_UPLOAD_SWEEP_INTERVAL_S=1",
                                        NULL};
    start_daemon(&A, "a", env_a);
    start_daemon(&B, "b", env_b);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    bool ok = stop_daemon(&A);
    ok = stop_daemon(&B) && ok;
    ok = stop_daemon(&C) && ok;
    ok = stop_daemon(&D) && ok;
    mc_db_close(db);
    mc_s3_free(s3);
    mc_redis_close(redis);
    if (!ok) fail_msg("a daemon did not stop cleanly or reported a sanitizer error");
    return 0;
}

/* ---- core protocol: OPTIONS, Tus-Resumable, HEAD ---------------------------- */

static void test_options_advertises_everything(void **state) {
    (void)state;
    resp r;
    request(A.port, "OPTIONS", "/files/", NULL, NULL, NULL, 0, &r);
    assert_true(r.status == 204 || r.status == 200);
    char v[1024];
    assert_string_equal(hdr(&r, "Tus-Version", v, sizeof v), "1.0.0");
    assert_string_equal(hdr(&r, "Tus-Resumable", v, sizeof v), "1.0.0");
    assert_int_equal(hdr_long(&r, "Tus-Max-Size"), MAX_SIZE);
    assert_non_null(hdr(&r, "Tus-Extension", v, sizeof v));
    static const char *const extensions[] = {"creation", "creation-with-upload",
        "creation-defer-length", "expiration", "checksum", "checksum-trailer", "termination",
        "concatenation"};
    for (size_t i = 0; i < sizeof extensions / sizeof extensions[0]; i++) {
        bool found = false;
        char list[1024];
        snprintf(list, sizeof list, "%s", v);
        for (char *save, *tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
            found = found || strcmp(tok, extensions[i]) == 0;
        if (!found) fail_msg("Tus-Extension '%s' lacks %s", v, extensions[i]);
    }
    assert_string_equal(hdr(&r, "Tus-Checksum-Algorithm", v, sizeof v), "sha1,md5,crc32");
    resp_free(&r);
}

static void test_tus_resumable_missing_or_wrong_is_412(void **state) {
    (void)state;
    char path[128];
    create_sized(&A, 100, path, NULL);
    static const char *const variants[] = {"", "Tus-Resumable: 0.2.2\r\n", "Tus-Resumable: 1.0\r\n"};
    for (size_t i = 0; i < 3; i++) {
        resp r;
        char h[256];
        snprintf(h, sizeof h, "%sUpload-Length: 10\r\n", variants[i]);
        request(A.port, "POST", "/files/", token, h, NULL, 0, &r);
        assert_int_equal(r.status, 412);
        char v[64];
        assert_string_equal(hdr(&r, "Tus-Version", v, sizeof v), "1.0.0");
        assert_false(has_hdr(&r, "Location"));
        resp_free(&r);
        snprintf(h, sizeof h, "%s" OCTETS "Upload-Offset: 0\r\n", variants[i]);
        request(A.port, "PATCH", path, token, h, "0123456789", 10, &r);
        assert_int_equal(r.status, 412);
        assert_string_equal(hdr(&r, "Tus-Version", v, sizeof v), "1.0.0");
        assert_non_null(strstr(r.body, "1.0.0"));
        resp_free(&r);
        request(A.port, "HEAD", path, token, variants[i], NULL, 0, &r);
        assert_int_equal(r.status, 412);
        resp_free(&r);
    }
    assert_int_equal(offset_on(&A, path), 0);
}

static void test_head_reports_the_upload(void **state) {
    (void)state;
    char path[128], video[64];
    /* "filename clip.mp4" and a key without value, as tus-js-client may send. */
    create_on(&A, "Upload-Length: 1000\r\nUpload-Metadata: filename Y2xpcC5tcDQ=,private\r\n", NULL,
              0, path, video);
    assert_int_equal(strlen(video), 36);
    resp r;
    head_on(&A, path, token, &r);
    assert_int_equal(r.status, 200);
    char v[256];
    assert_int_equal(hdr_long(&r, "Upload-Offset"), 0);
    assert_int_equal(hdr_long(&r, "Upload-Length"), 1000);
    assert_false(has_hdr(&r, "Upload-Defer-Length"));
    assert_string_equal(hdr(&r, "Upload-Metadata", v, sizeof v), "filename Y2xpcC5tcDQ=,private");
    assert_string_equal(hdr(&r, "Cache-Control", v, sizeof v), "no-store");
    assert_string_equal(hdr(&r, "Tus-Resumable", v, sizeof v), "1.0.0");
    assert_string_equal(hdr(&r, "Mcloud-Video-Id", v, sizeof v), video);
    assert_false(has_hdr(&r, "Upload-Concat"));
    assert_non_null(hdr(&r, "Upload-Expires", v, sizeof v));
    struct tm tm = {0};
    assert_non_null(strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm));
    time_t expires = timegm(&tm);
    assert_true(expires > time(NULL) + 3600); /* the default expiry is a day */
    assert_int_equal(r.blen, 0);
    resp_free(&r);
    char title[64];
    sql_value("SELECT title FROM videos WHERE id = ?", video, title, sizeof title);
    assert_string_equal(title, "clip.mp4");
    /* Unknown: 404 without Upload-Offset. */
    head_on(&A, "/files/nosuchupload0000000000", token, &r);
    assert_int_equal(r.status, 404);
    assert_false(has_hdr(&r, "Upload-Offset"));
    resp_free(&r);
}

/* ---- creation, creation-with-upload, PATCH ------------------------------------ */

static void test_creation_with_upload(void **state) {
    (void)state;
    size_t len = 3000;
    unsigned char *data = random_bytes(len);
    char path[128], video[64];
    create_on(&A, "Upload-Length: 3000\r\n", data, 1200, path, video);
    assert_int_equal(offset_on(&A, path), 1200);
    assert_int_equal(patch_on(&A, path, 1200, data + 1200, len - 1200, NULL), 204);
    assert_object_equals(path, data, len);
    /* A body with the wrong Content-Type creates nothing. */
    resp r;
    request(A.port, "POST", "/files/", token,
            TUS "Upload-Length: 10\r\nContent-Type: application/octet-stream\r\n", data, 10, &r);
    assert_int_equal(r.status, 415);
    assert_false(has_hdr(&r, "Location"));
    resp_free(&r);
    /* The body of a creation is checked as a PATCH's: Upload-Checksum. */
    char h[256], sum[128];
    checksum_header("sha1", data, 10, sum, sizeof sum);
    snprintf(h, sizeof h, "Upload-Length: 3000\r\n%s", sum);
    create_on(&A, h, data, 10, path, video);
    assert_int_equal(offset_on(&A, path), 10);
    snprintf(h, sizeof h, TUS OCTETS "Upload-Length: 3000\r\n%s", sum);
    request(A.port, "POST", "/files/", token, h, data, 11, &r);
    assert_int_equal(r.status, 460);
    /* The upload exists without the body, and the answer names it. */
    char loc[512];
    assert_non_null(hdr(&r, "Location", loc, sizeof loc));
    assert_int_equal(hdr_long(&r, "Upload-Offset"), 0);
    resp_free(&r);
    path_of(loc, path, sizeof path);
    assert_int_equal(offset_on(&A, path), 0);
    assert_int_equal(patch_on(&A, path, 0, data, len, NULL), 204);
    assert_object_equals(path, data, len);
    /* Likewise a body past the length: 413, the upload named, empty. */
    snprintf(h, sizeof h, TUS OCTETS "Upload-Length: 10\r\n");
    request(A.port, "POST", "/files/", token, h, data, 11, &r);
    assert_int_equal(r.status, 413);
    assert_non_null(hdr(&r, "Location", loc, sizeof loc));
    assert_int_equal(hdr_long(&r, "Upload-Offset"), 0);
    resp_free(&r);
    snprintf(h, sizeof h, TUS OCTETS "Upload-Length: 3000\r\nUpload-Checksum: sha256 AAAA\r\n");
    request(A.port, "POST", "/files/", token, h, data, 10, &r);
    assert_int_equal(r.status, 400);
    assert_false(has_hdr(&r, "Location"));
    resp_free(&r);
    /* A zero-length upload is finished at once: an empty object. */
    create_on(&A, "Upload-Length: 0\r\n", NULL, 0, path, video);
    head_on(&A, path, token, &r);
    assert_int_equal(hdr_long(&r, "Upload-Offset"), 0);
    assert_int_equal(hdr_long(&r, "Upload-Length"), 0);
    resp_free(&r);
    char status[32];
    upload_field(path, "status", status, sizeof status);
    assert_string_equal(status, "completed");
    assert_object_equals(path, "", 0);
    /* No length at all. */
    request(A.port, "POST", "/files/", token, TUS, NULL, 0, &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    free(data);
}

static void test_patch_statuses(void **state) {
    (void)state;
    size_t len = 4096;
    unsigned char *data = random_bytes(len);
    char path[128];
    create_sized(&A, (long)len, path, NULL);
    /* 415: no or another Content-Type. */
    resp r;
    request(A.port, "PATCH", path, token, TUS "Upload-Offset: 0\r\n", data, 100, &r);
    assert_int_equal(r.status, 415);
    resp_free(&r);
    request(A.port, "PATCH", path, token,
            TUS "Upload-Offset: 0\r\nContent-Type: application/octet-stream\r\n", data, 100, &r);
    assert_int_equal(r.status, 415);
    resp_free(&r);
    assert_int_equal(offset_on(&A, path), 0);
    /* 204 with the new offset (and Upload-Expires). */
    char h[256];
    snprintf(h, sizeof h, TUS OCTETS "Upload-Offset: 0\r\n");
    request(A.port, "PATCH", path, token, h, data, 1000, &r);
    assert_int_equal(r.status, 204);
    assert_int_equal(hdr_long(&r, "Upload-Offset"), 1000);
    assert_true(has_hdr(&r, "Upload-Expires"));
    resp_free(&r);
    /* 409: an offset that is not the upload's; nothing changes. */
    assert_int_equal(patch_on(&A, path, 0, data, 1000, NULL), 409);
    assert_int_equal(patch_on(&A, path, 1500, data + 1500, 100, NULL), 409);
    assert_int_equal(offset_on(&A, path), 1000);
    /* 413: a body past the declared length. */
    assert_int_equal(patch_on(&A, path, 1000, data, len, NULL), 413);
    assert_int_equal(offset_on(&A, path), 1000);
    /* Upload-Length may repeat the length but not change it. */
    assert_int_equal(patch_on(&A, path, 1000, data + 1000, 10, "Upload-Length: 9999\r\n"), 400);
    assert_int_equal(offset_on(&A, path), 1000);
    assert_int_equal(patch_on(&A, path, 1000, data + 1000, len - 1000, "Upload-Length: 4096\r\n"), 204);
    assert_object_equals(path, data, len);
    /* A finished upload takes no more bytes. */
    assert_int_equal(patch_on(&A, path, (long)len, data, 1, NULL), 413);
    /* 413 at creation: over Tus-Max-Size, or over the token's own limit. */
    snprintf(h, sizeof h, TUS "Upload-Length: %ld\r\n", MAX_SIZE + 1);
    request(A.port, "POST", "/files/", token, h, NULL, 0, &r);
    assert_int_equal(r.status, 413);
    resp_free(&r);
    request(A.port, "POST", "/files/", small_token, TUS "Upload-Length: 1001\r\n", NULL, 0, &r);
    assert_int_equal(r.status, 413);
    resp_free(&r);
    free(data);
}

static void test_defer_length(void **state) {
    (void)state;
    size_t len = 2500;
    unsigned char *data = random_bytes(len);
    char path[128];
    create_on(&A, "Upload-Defer-Length: 1\r\n", NULL, 0, path, NULL);
    resp r;
    head_on(&A, path, token, &r);
    char v[64];
    assert_string_equal(hdr(&r, "Upload-Defer-Length", v, sizeof v), "1");
    assert_false(has_hdr(&r, "Upload-Length"));
    resp_free(&r);
    assert_int_equal(patch_on(&A, path, 0, data, 1000, NULL), 204);
    /* Over the largest upload: 413, and the length stays deferred. */
    snprintf(v, sizeof v, "Upload-Length: %ld\r\n", MAX_SIZE + 1);
    assert_int_equal(patch_on(&A, path, 1000, data + 1000, 10, v), 413);
    assert_int_equal(patch_on(&A, path, 1000, data + 1000, 10, "Upload-Length: 999\r\n"), 400);
    assert_int_equal(offset_on(&A, path), 1000);
    assert_int_equal(patch_on(&A, path, 1000, data + 1000, 500, "Upload-Length: 2500\r\n"), 204);
    head_on(&A, path, token, &r);
    assert_int_equal(hdr_long(&r, "Upload-Length"), 2500);
    assert_false(has_hdr(&r, "Upload-Defer-Length"));
    resp_free(&r);
    assert_int_equal(patch_on(&A, path, 1500, data + 1500, 1000, NULL), 204);
    assert_object_equals(path, data, len);

    /* The length declared by an empty PATCH once every byte is there. */
    create_on(&A, "Upload-Defer-Length: 1\r\n", NULL, 0, path, NULL);
    assert_int_equal(patch_on(&A, path, 0, data, 1700, NULL), 204);
    assert_int_equal(patch_on(&A, path, 1700, NULL, 0, "Upload-Length: 1700\r\n"), 204);
    char status[32];
    upload_field(path, "status", status, sizeof status);
    assert_string_equal(status, "completed");
    assert_object_equals(path, data, 1700);

    /* A crash between committing a declared length and completing leaves
     * the last bytes in the staged tail (or no part at all): the next HEAD
     * completes the upload from there. */
    for (long n = 1300; n >= 0; n -= 1300) {
        create_on(&A, "Upload-Defer-Length: 1\r\n", NULL, 0, path, NULL);
        if (n) assert_int_equal(patch_on(&A, path, 0, data, (size_t)n, NULL), 204);
        mc_err err = {0};
        assert_int_equal(mc_db_exec(db, MC_DB_MASTER, "UPDATE uploads SET length_bytes = ? WHERE id = ?",
                                    MC_DB_ARGS(mc_db_i64(n), mc_db_str(id_of(path))), NULL, &err), 0);
        char key[256];
        assert_int_equal(mc_key_upload(key, sizeof key, id_of(path)), 0);
        redisReply *del = mc_redis_command(redis, &err, "DEL %s", key);
        assert_non_null(del);
        freeReplyObject(del);
        assert_int_equal(offset_on(&A, path), n);
        upload_field(path, "status", status, sizeof status);
        assert_string_equal(status, "completed");
        assert_object_equals(path, data, (size_t)n);
    }
    free(data);
}

static void test_method_override(void **state) {
    (void)state;
    char path[128];
    create_sized(&A, 10, path, NULL);
    resp r;
    request(A.port, "POST", path, token,
            TUS OCTETS "X-HTTP-Method-Override: PATCH\r\nUpload-Offset: 0\r\n", "01234", 5, &r);
    assert_int_equal(r.status, 204);
    assert_int_equal(hdr_long(&r, "Upload-Offset"), 5);
    resp_free(&r);
    request(A.port, "POST", path, token, TUS "X-HTTP-Method-Override: HEAD\r\n", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(hdr_long(&r, "Upload-Offset"), 5);
    resp_free(&r);
    request(A.port, "POST", path, token, TUS "X-HTTP-Method-Override: patch\r\n", NULL, 0, &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    request(A.port, "POST", path, token, TUS "X-HTTP-Method-Override: DELETE\r\n", NULL, 0, &r);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    head_on(&A, path, token, &r);
    assert_int_equal(r.status, 410);
    resp_free(&r);
}

/* ---- auth and tenancy -------------------------------------------------------- */

static void test_bearer_token_required(void **state) {
    (void)state;
    char path[128];
    create_sized(&A, 100, path, NULL);
    char tampered[1024];
    snprintf(tampered, sizeof tampered, "%s", token);
    char *last = tampered + strlen(tampered) - 2;
    *last = *last == 'A' ? 'B' : 'A';
    const char *const bad[] = {NULL, "not-a-token", tampered, expired_token};
    for (size_t i = 0; i < 4; i++) {
        resp r;
        request(A.port, "POST", "/files/", bad[i], TUS "Upload-Length: 10\r\n", NULL, 0, &r);
        assert_int_equal(r.status, 401);
        assert_false(has_hdr(&r, "Location"));
        assert_non_null(strstr(r.body, "bearer token"));
        resp_free(&r);
        head_on(&A, path, bad[i], &r);
        assert_int_equal(r.status, 401);
        assert_false(has_hdr(&r, "Upload-Offset"));
        resp_free(&r);
        request(A.port, "PATCH", path, bad[i], TUS OCTETS "Upload-Offset: 0\r\n", "x", 1, &r);
        assert_int_equal(r.status, 401);
        resp_free(&r);
        request(A.port, "DELETE", path, bad[i], TUS, NULL, 0, &r);
        assert_int_equal(r.status, 401);
        resp_free(&r);
    }
    assert_int_equal(offset_on(&A, path), 0);
}

/* Another tenant's valid token finds nothing: 404, as for an unknown id. */
static void test_other_tenant_sees_nothing(void **state) {
    (void)state;
    char path[128];
    create_sized(&A, 100, path, NULL);
    assert_int_equal(patch_on(&A, path, 0, "0123456789", 10, NULL), 204);
    resp r;
    head_on(&A, path, other_token, &r);
    assert_int_equal(r.status, 404);
    assert_false(has_hdr(&r, "Upload-Offset"));
    resp_free(&r);
    request(A.port, "PATCH", path, other_token, TUS OCTETS "Upload-Offset: 10\r\n", "x", 1, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    request(A.port, "DELETE", path, other_token, TUS, NULL, 0, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    request(A.port, "GET", path, other_token, NULL, NULL, 0, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    /* Nor may it use the upload as a partial of its own final upload. */
    char part[128], h[256];
    create_on(&A, "Upload-Length: 5\r\nUpload-Concat: partial\r\n", NULL, 0, part, NULL);
    assert_int_equal(patch_on(&A, part, 0, "abcde", 5, NULL), 204);
    snprintf(h, sizeof h, TUS "Upload-Concat: final;%s\r\n", part);
    request(A.port, "POST", "/files/", other_token, h, NULL, 0, &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    assert_int_equal(offset_on(&A, path), 10);
}

/* ---- checksum, checksum-trailer ------------------------------------------------ */

static void test_checksums(void **state) {
    (void)state;
    size_t len = 6 * MIB + 3000;
    unsigned char *data = random_bytes(len);
    char path[128], h[256];
    create_sized(&A, (long)len, path, NULL);
    long off = 0;
    static const char *const algs[] = {"sha1", "md5", "crc32"};
    for (size_t i = 0; i < 3; i++) {
        /* A wrong digest of the right length: 460, the chunk discarded. */
        checksum_header(algs[i], data + off + 1, 1000, h, sizeof h);
        assert_int_equal(patch_on(&A, path, off, data + off, 1000, h), 460);
        assert_int_equal(offset_on(&A, path), off);
        checksum_header(algs[i], data + off, 1000, h, sizeof h);
        assert_int_equal(patch_on(&A, path, off, data + off, 1000, h), 204);
        off += 1000;
    }
    /* A mismatch over more than a part: the streamed parts are not kept. */
    checksum_header("sha1", data, 10, h, sizeof h);
    assert_int_equal(patch_on(&A, path, off, data + off, len - (size_t)off, h), 460);
    assert_int_equal(offset_on(&A, path), off);
    char next[16];
    upload_field(path, "next_part", next, sizeof next);
    assert_string_equal(next, "1");
    /* 400: an algorithm the server lacks, or a malformed value. */
    const char *const bad[] = {"Upload-Checksum: sha256 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\r\n",
                               "Upload-Checksum: sha1\r\n",
                               "Upload-Checksum: sha1 !!notbase64!!\r\n",
                               "Upload-Checksum: md5 AAAA\r\n"};
    for (size_t i = 0; i < 4; i++) {
        resp r;
        char hh[512];
        snprintf(hh, sizeof hh, TUS OCTETS "Upload-Offset: %ld\r\n%s", off, bad[i]);
        request(A.port, "PATCH", path, token, hh, data + off, 100, &r);
        assert_int_equal(r.status, 400);
        assert_true(r.blen > 0);
        resp_free(&r);
    }
    assert_int_equal(offset_on(&A, path), off);
    checksum_header("md5", data + off, len - (size_t)off, h, sizeof h);
    assert_int_equal(patch_on(&A, path, off, data + off, len - (size_t)off, h), 204);
    assert_object_equals(path, data, len);
    free(data);
}

/* A chunked PATCH whose checksum comes in a trailer. */
static int patch_chunked(const char *path, long offset, const void *data, size_t len,
                         const char *trailer) {
    char h[256];
    snprintf(h, sizeof h, TUS OCTETS "Upload-Offset: %ld\r\nTransfer-Encoding: chunked\r\n"
                          "Trailer: Upload-Checksum\r\n", offset);
    int fd = send_head(A.port, "PATCH", path, token, h, -1);
    const char *p = data;
    for (size_t left = len; left > 0;) {
        size_t n = left < 700 ? left : 700;
        char size_line[32];
        int sl = snprintf(size_line, sizeof size_line, "%zx\r\n", n);
        mc_write_all(fd, size_line, (size_t)sl);
        mc_write_all(fd, p, n);
        mc_write_all(fd, "\r\n", 2);
        p += n;
        left -= n;
    }
    mc_write_all(fd, "0\r\n", 3);
    mc_write_all(fd, trailer, strlen(trailer));
    mc_write_all(fd, "\r\n", 2);
    resp r;
    read_resp(fd, &r);
    int status = r.status;
    if (status == 204) assert_int_equal(hdr_long(&r, "Upload-Offset"), offset + (long)len);
    resp_free(&r);
    return status;
}

static void test_checksum_trailer(void **state) {
    (void)state;
    size_t len = 5000;
    unsigned char *data = random_bytes(len);
    char path[128], h[256];
    create_sized(&A, (long)len, path, NULL);
    checksum_header("sha1", data, 10, h, sizeof h);
    assert_int_equal(patch_chunked(path, 0, data, 2000, h), 460);
    assert_int_equal(offset_on(&A, path), 0);
    checksum_header("sha1", data, 2000, h, sizeof h);
    assert_int_equal(patch_chunked(path, 0, data, 2000, h), 204);
    checksum_header("crc32", data + 2000, 3000, h, sizeof h);
    assert_int_equal(patch_chunked(path, 2000, data + 2000, 3000, h), 204);
    assert_object_equals(path, data, len);
    free(data);
}

/* ---- termination, GET ---------------------------------------------------------- */

static void test_termination(void **state) {
    (void)state;
    size_t len = 7 * MIB;
    unsigned char *data = random_bytes(len);
    char path[128], video[64];
    create_sized(&A, (long)len, path, video);
    assert_int_equal(patch_on(&A, path, 0, data, 6 * MIB, NULL), 204);
    assert_int_equal(s3_part_count(path), 1);
    assert_int_equal(staging_objects(path), 1);
    resp r;
    request(A.port, "DELETE", path, token, TUS, NULL, 0, &r);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    head_on(&A, path, token, &r);
    assert_true(r.status == 404 || r.status == 410);
    assert_false(has_hdr(&r, "Upload-Offset"));
    resp_free(&r);
    assert_int_equal(patch_on(&A, path, 6 * MIB, data, 10, NULL), 410);
    request(A.port, "DELETE", path, token, TUS, NULL, 0, &r);
    assert_true(r.status == 404 || r.status == 410);
    resp_free(&r);
    assert_int_equal(s3_part_count(path), -1);
    assert_int_equal(staging_objects(path), 0);
    char status[32];
    sql_value("SELECT status FROM videos WHERE id = ?", video, status, sizeof status);
    assert_string_equal(status, "failed");
    request(A.port, "DELETE", "/files/nosuchupload0000000000", token, TUS, NULL, 0, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);

    /* A finished upload: GET streams it back; DELETE ends the tus resource
     * (204) and leaves the video and its source to the video's owner. */
    free(data);
    data = text_bytes(1000);
    create_on(&A, "Upload-Length: 1000\r\n", data, 1000, path, video);
    request(A.port, "GET", path, token, NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.blen, 1000);
    assert_memory_equal(r.body, data, 1000);
    resp_free(&r);
    request(A.port, "DELETE", path, token, TUS, NULL, 0, &r);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    head_on(&A, path, token, &r);
    assert_true(r.status == 404 || r.status == 410);
    resp_free(&r);
    sql_value("SELECT status FROM videos WHERE id = ?", video, status, sizeof status);
    assert_string_equal(status, "failed"); /* text is no media */
    char key[512];
    sql_value("SELECT source_key FROM videos WHERE id = ?", video, key, sizeof key);
    mc_s3_object_info info;
    mc_err err = {0};
    assert_int_equal(mc_s3_head_object(s3, key, &info, &err), 0);
    assert_int_equal(info.content_length, 1000);
    free(data);
}

/* ---- malformed headers ---------------------------------------------------------- */

static void test_malformed_headers_are_400(void **state) {
    (void)state;
    char path[128];
    create_sized(&A, 100, path, NULL);
    assert_int_equal(patch_on(&A, path, 0, "0123456789", 10, NULL), 204);
    const char *const patch_headers[] = {
        "Upload-Offset: -1\r\n", "Upload-Offset: abc\r\n", "Upload-Offset: 1e3\r\n",
        "Upload-Offset: 99999999999999999999\r\n", "Upload-Offset: 10\r\nUpload-Length: -5\r\n",
        "Upload-Offset: 10\r\nUpload-Length: ten\r\n", "\r\n" /* no Upload-Offset */};
    for (size_t i = 0; i < sizeof patch_headers / sizeof patch_headers[0]; i++) {
        char h[256];
        resp r;
        snprintf(h, sizeof h, TUS OCTETS "%s", patch_headers[i]);
        request(A.port, "PATCH", path, token, h, "abc", 3, &r);
        if (r.status != 400) fail_msg("PATCH with %s: %d", patch_headers[i], r.status);
        assert_true(r.blen > 0);
        resp_free(&r);
    }
    assert_int_equal(offset_on(&A, path), 10);
    const char *const post_headers[] = {
        "Upload-Length: -1\r\n", "Upload-Length: 12abc\r\n", "Upload-Length: \r\n",
        "Upload-Defer-Length: 2\r\n", "Upload-Length: 5\r\nUpload-Defer-Length: 1\r\n",
        "Upload-Length: 5\r\nUpload-Metadata: filename !!!\r\n",
        "Upload-Length: 5\r\nUpload-Metadata: filename aGVsbG8\r\n",
        "Upload-Length: 5\r\nUpload-Metadata: a Zg==,a Zg==\r\n",
        "Upload-Length: 5\r\nUpload-Metadata: ,\r\n",
        "Upload-Length: 5\r\nUpload-Concat: bogus\r\n",
        "Upload-Concat: final;\r\n",
        "Upload-Concat: final;/files/bad$id\r\n",
        "Upload-Concat: final;http://\r\n",
        "Upload-Concat: final;/elsewhere/abc\r\n",
        "Upload-Concat: final;/files/nosuchpartial000000000\r\n",
        "Upload-Length: 5\r\nUpload-Concat: final;/files/abc\r\n"};
    for (size_t i = 0; i < sizeof post_headers / sizeof post_headers[0]; i++) {
        char h[256];
        resp r;
        snprintf(h, sizeof h, TUS "%s", post_headers[i]);
        request(A.port, "POST", "/files/", token, h, NULL, 0, &r);
        if (r.status != 400) fail_msg("POST with %s: %d %s", post_headers[i], r.status, r.body);
        assert_false(has_hdr(&r, "Location"));
        resp_free(&r);
    }
}

/* ---- concatenation ------------------------------------------------------------- */

static void test_concatenation(void **state) {
    (void)state;
    /* Partials under and over 5 MiB: copies (UploadPartCopy) and buffered
     * parts (the fallback) in one final upload. */
    const size_t sizes[] = {3 * MIB + 7, 7 * MIB + 3, 1000, 6 * MIB};
    size_t total = 0;
    for (size_t i = 0; i < 4; i++) total += sizes[i];
    unsigned char *data = random_bytes(total);
    char parts[4][128], h[1024];
    size_t at = 0;
    int n = snprintf(h, sizeof h, TUS "Upload-Concat: final;");
    for (size_t i = 0; i < 4; i++) {
        char hh[128];
        snprintf(hh, sizeof hh, "Upload-Length: %zu\r\nUpload-Concat: partial\r\n", sizes[i]);
        char video[64];
        create_on(&A, hh, NULL, 0, parts[i], video);
        assert_string_equal(video, ""); /* a partial is no video */
        resp r;
        head_on(&A, parts[i], token, &r);
        char v[64];
        assert_string_equal(hdr(&r, "Upload-Concat", v, sizeof v), "partial");
        resp_free(&r);
        assert_int_equal(patch_on(&A, parts[i], 0, data + at, sizes[i], NULL), 204);
        at += sizes[i];
        /* One absolute URL, the others as paths. */
        if (i == 1) n += snprintf(h + n, sizeof h - (size_t)n, "%shttp://127.0.0.1:%d%s", " ", A.port, parts[i]);
        else n += snprintf(h + n, sizeof h - (size_t)n, "%s%s", i ? " " : "", parts[i]);
    }
    snprintf(h + n, sizeof h - (size_t)n, "\r\nUpload-Metadata: filename Y29uY2F0\r\n");
    resp r;
    request(A.port, "POST", "/files/", token, h, NULL, 0, &r);
    assert_int_equal(r.status, 201);
    char loc[512], final[128], v[2048];
    assert_non_null(hdr(&r, "Location", loc, sizeof loc));
    assert_true(has_hdr(&r, "Mcloud-Video-Id"));
    path_of(loc, final, sizeof final);
    resp_free(&r);
    head_on(&A, final, token, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(hdr_long(&r, "Upload-Offset"), (long)total);
    assert_int_equal(hdr_long(&r, "Upload-Length"), (long)total);
    assert_non_null(hdr(&r, "Upload-Concat", v, sizeof v));
    char want[2048];
    snprintf(want, sizeof want, "final;http://127.0.0.1:%d%s http://127.0.0.1:%d%s "
             "http://127.0.0.1:%d%s http://127.0.0.1:%d%s", A.port, parts[0], A.port, parts[1],
             A.port, parts[2], A.port, parts[3]);
    assert_string_equal(v, want);
    resp_free(&r);
    assert_object_equals(final, data, total);
    /* 3 MiB+7 and 2 MiB-7 buffered, 5 MiB+10 copied, 1000 and 5 MiB-1000
     * buffered, 5 MiB+1000 copied: four parts. */
    char key[512];
    upload_field(final, "s3_key", key, sizeof key);
    mc_s3_object_info info;
    mc_err err = {0};
    assert_int_equal(mc_s3_head_object(s3, key, &info, &err), 0);
    assert_non_null(strstr(info.etag, "-4"));
    /* A final upload takes no PATCH: 403, nothing changes. */
    assert_int_equal(patch_on(&A, final, (long)total, "x", 1, NULL), 403);
    assert_int_equal(patch_on(&A, final, 0, "x", 1, NULL), 403);
    assert_int_equal(offset_on(&A, final), (long)total);
    /* An unfinished partial cannot be concatenated; a partial cannot be
     * given a length by the final upload. */
    char open_part[128];
    create_on(&A, "Upload-Length: 10\r\nUpload-Concat: partial\r\n", NULL, 0, open_part, NULL);
    snprintf(h, sizeof h, TUS "Upload-Concat: final;%s %s\r\n", parts[2], open_part);
    request(A.port, "POST", "/files/", token, h, NULL, 0, &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    free(data);
}

/* ---- the per-upload lock ------------------------------------------------------ */

static bool wait_lock(const char *path, bool held) {
    for (int i = 0; i < WAIT_S * 20; i++) {
        if (lock_held(path) == held) return true;
        usleep(50 * 1000);
    }
    return false;
}

static void test_concurrent_patch_gets_423(void **state) {
    (void)state;
    size_t len = MIB;
    unsigned char *data = random_bytes(len);
    char path[128];
    create_sized(&A, (long)len, path, NULL);
    assert_int_equal(patch_on(&A, path, 0, data, 1000, NULL), 204);
    /* A slow PATCH holds the lock while its body trickles in. */
    int fd = send_head(A.port, "PATCH", path, token, TUS OCTETS "Upload-Offset: 1000\r\n",
                       (long)(len - 1000));
    assert_true(mc_write_all(fd, data + 1000, 5000));
    assert_true(wait_lock(path, true));
    resp r;
    request(A.port, "PATCH", path, token, TUS OCTETS "Upload-Offset: 1000\r\n", data + 1000, 10, &r);
    assert_int_equal(r.status, 423);
    assert_non_null(strstr(r.body, "another request"));
    resp_free(&r);
    head_on(&A, path, token, &r); /* HEAD needs no lock: the committed offset */
    assert_int_equal(r.status, 200);
    assert_int_equal(hdr_long(&r, "Upload-Offset"), 1000);
    resp_free(&r);
    request(A.port, "DELETE", path, token, TUS, NULL, 0, &r);
    assert_int_equal(r.status, 423);
    resp_free(&r);
    assert_true(mc_write_all(fd, data + 6000, len - 6000));
    read_resp(fd, &r);
    assert_int_equal(r.status, 204);
    assert_int_equal(hdr_long(&r, "Upload-Offset"), (long)len);
    resp_free(&r);
    assert_object_equals(path, data, len);
    free(data);
}

/* ---- parts: tiny and interrupted PATCHes, part size -------------------------- */

/* Sends the head and `sent` of `declared` body bytes, then hangs up. */
static void interrupted_patch(const char *path, long offset, const void *data, size_t sent,
                              size_t declared) {
    char h[128];
    snprintf(h, sizeof h, TUS OCTETS "Upload-Offset: %ld\r\n", offset);
    int fd = send_head(A.port, "PATCH", path, token, h, (long)declared);
    assert_true(mc_write_all(fd, data, sent));
    assert_true(wait_lock(path, true));
    close(fd);
    assert_true(wait_lock(path, false));
}

static void test_tiny_interrupted_patches_keep_part_numbers(void **state) {
    (void)state;
    size_t len = 6 * MIB;
    unsigned char *data = random_bytes(len);
    char path[128], v[32];
    create_sized(&A, (long)len, path, NULL);
    long off = 0;
    for (int i = 0; i < 40; i++) {
        interrupted_patch(path, off, data + off, 300, 1000);
        assert_int_equal(patch_retry(&A, path, off, data + off, 100), 204);
        off += 100;
    }
    assert_int_equal(offset_on(&A, path), off);
    upload_field(path, "next_part", v, sizeof v);
    assert_string_equal(v, "1");
    assert_int_equal(s3_part_count(path), 0);
    /* Cut off after a full part: the part is kept, the offset moves to its
     * end, and the part number advances by one. */
    interrupted_patch(path, off, data + off, (size_t)(PART - off + MIB / 2), len - (size_t)off);
    assert_int_equal(offset_on(&A, path), PART);
    upload_field(path, "next_part", v, sizeof v);
    assert_string_equal(v, "2");
    assert_int_equal(patch_retry(&A, path, PART, data + PART, len - PART), 204);
    assert_object_equals(path, data, len);
    free(data);
}

/* An upload one part long never becomes a multipart part: its bytes stay in
 * the staged tail and completion copies them to the source key. So it
 * completes even with its multipart upload gone, which is how MinIO killed
 * inside CompleteMultipartUpload can leave it (tests/chaos/minio_complete.py;
 * "S3 lists 0 of 1 parts" in chaos.short before). A part exactly PART long,
 * which the writer would otherwise stream, takes the same route. */
static void test_one_part_upload_needs_no_multipart(void **state) {
    (void)state;
    size_t sizes[] = {483712, PART};
    for (size_t k = 0; k < 2; k++) {
        size_t len = sizes[k];
        unsigned char *data = random_bytes(len);
        char path[128], v[32], key[512], upload_id[1100];
        create_sized(&A, (long)len, path, NULL);
        assert_int_equal(patch_on(&A, path, 0, data, 131072, NULL), 204);
        assert_int_equal(s3_part_count(path), 0);
        assert_int_equal(staging_objects(path), 1);
        /* the multipart upload disappears behind the daemon's back */
        upload_field(path, "s3_key", key, sizeof key);
        upload_field(path, "s3_upload_id", upload_id, sizeof upload_id);
        mc_err err = {0};
        assert_int_equal(mc_s3_abort_multipart_upload(s3, key, upload_id, &err), 0);
        assert_int_equal(patch_on(&A, path, 131072, data + 131072, len - 131072, NULL), 204);
        upload_field(path, "status", v, sizeof v);
        assert_string_equal(v, "completed");
        upload_field(path, "next_part", v, sizeof v);
        assert_string_equal(v, "1"); /* no part was ever uploaded */
        assert_object_equals(path, data, len);
        assert_int_equal(staging_objects(path), 0);
        free(data);
    }
}

static void test_part_size_bounds_the_part_count(void **state) {
    (void)state;
    const long gib = 1024 * MIB;
    char path[128], v[32];
    create_sized(&B, 50 * gib, path, NULL);
    upload_field(path, "part_size_bytes", v, sizeof v);
    long part = strtol(v, NULL, 10);
    assert_true(part >= PART && part % MIB == 0);
    assert_true((50 * gib + part - 1) / part <= 10000);
    resp r;
    request(B.port, "DELETE", path, token, TUS, NULL, 0, &r);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    /* A deferred length plans for the largest upload (100 GiB by default). */
    create_on(&B, "Upload-Defer-Length: 1\r\n", NULL, 0, path, NULL);
    upload_field(path, "part_size_bytes", v, sizeof v);
    part = strtol(v, NULL, 10);
    upload_field(path, "max_bytes", v, sizeof v);
    assert_true((strtol(v, NULL, 10) + part - 1) / part <= 10000);
    request(B.port, "DELETE", path, token, TUS, NULL, 0, &r);
    assert_int_equal(r.status, 204);
    resp_free(&r);
}

/* ---- crash of a replica mid-PATCH ---------------------------------------------- */

static void test_resume_on_another_replica_after_kill9(void **state) {
    (void)state;
    static const char *const env_c[] = {"MCLOUD_UPLOAD_LOCK_TTL_MS=1000", NULL};
    start_daemon(&C, "c", env_c);
    size_t len = 11 * MIB;
    unsigned char *data = random_bytes(len);
    char path[128];
    create_sized(&C, (long)len, path, NULL);
    /* 3 MiB acknowledged: below a part, so they live in the staged tail. */
    assert_int_equal(patch_on(&C, path, 0, data, 3 * MIB, NULL), 204);
    assert_int_equal(staging_objects(path), 1);
    char h[128];
    snprintf(h, sizeof h, TUS OCTETS "Upload-Offset: %ld\r\n", 3 * MIB);
    int fd = send_head(C.port, "PATCH", path, token, h, (long)(len - 3 * MIB));
    mc_write_all(fd, data + 3 * MIB, 6 * MIB);
    /* Mid-PATCH for sure: the first part of this body is in S3. */
    bool streaming = false;
    for (int i = 0; i < WAIT_S * 10 && !streaming; i++) {
        streaming = s3_part_count(path) >= 1;
        if (!streaming) usleep(100 * 1000);
    }
    assert_true(streaming);
    kill9(&C);
    close(fd);
    /* Replica A resumes from the acknowledged offset. */
    assert_int_equal(offset_on(&A, path), 3 * MIB);
    assert_int_equal(patch_retry(&A, path, 3 * MIB, data + 3 * MIB, len - 3 * MIB), 204);
    assert_object_equals(path, data, len);
    free(data);
}

/* ---- expiration and the sweeper ------------------------------------------------- */

static void test_expiry_and_sweeper(void **state) {
    (void)state;
    size_t len = 12 * MIB;
    unsigned char *data = random_bytes(len);
    char path[128], video[64];
    create_sized(&B, (long)len, path, video);
    time_t created = time(NULL);
    assert_int_equal(patch_on(&B, path, 0, data, 6 * MIB, NULL), 204);
    resp r;
    head_on(&B, path, token, &r);
    char v[64];
    assert_non_null(hdr(&r, "Upload-Expires", v, sizeof v));
    struct tm tm = {0};
    assert_non_null(strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm));
    time_t expires = timegm(&tm);
    assert_true(expires >= created - 1 && expires <= created + EXPIRY_B_S + 1);
    resp_free(&r);
    assert_int_equal(s3_part_count(path), 1);
    /* Past its expiry the upload is gone (410), sweeper or not. */
    int status = 200;
    for (int i = 0; i < WAIT_S * 10 && status == 200; i++) {
        head_on(&B, path, token, &r);
        status = r.status;
        resp_free(&r);
        if (status == 200) usleep(100 * 1000);
    }
    assert_int_equal(status, 410);
    assert_int_equal(patch_on(&B, path, 6 * MIB, data, 10, NULL), 410);
    /* The sweeper marks it expired and aborts its multipart upload. */
    char st[32] = "";
    for (int i = 0; i < WAIT_S * 10; i++) {
        upload_field(path, "status", st, sizeof st);
        if (strcmp(st, "expired") == 0) break;
        usleep(100 * 1000);
    }
    assert_string_equal(st, "expired");
    assert_int_equal(s3_part_count(path), -1);
    assert_int_equal(staging_objects(path), 0);
    char reason[256];
    sql_value("SELECT CONCAT(status, ': ', failure_reason) FROM videos WHERE id = ?", video,
              reason, sizeof reason);
    assert_non_null(strstr(reason, "failed: "));
    assert_non_null(strstr(reason, "expired"));
    free(data);
}

/* ---- completion: probe and the transcode job ------------------------------------ */

static void test_non_media_fails_without_job(void **state) {
    (void)state;
    size_t len = 64 * 1024;
    unsigned char *data = text_bytes(len);
    char path[128], video[64], h[64];
    snprintf(h, sizeof h, "Upload-Length: %zu\r\n", len);
    create_on(&A, h, data, len, path, video);
    char status[300];
    sql_value("SELECT CONCAT(status, ': ', COALESCE(failure_reason, '')) FROM videos WHERE id = ?",
              video, status, sizeof status);
    if (strncmp(status, "failed: not a playable media file", 33) != 0) fail_msg("video: %s", status);
    assert_int_equal(sql_long(JOB_ROWS, video), 0);
    assert_int_equal(kafka_jobs_for(video, NULL, 0), 0);
    /* ...but its video.failed event for the webhooks, and nothing else. */
    assert_int_equal(sql_long(EVENT_ROWS("video.failed"), video), 1);
    assert_int_equal(sql_long(EVENT_ROWS("video.upload.completed"), video), 0);
    assert_object_equals(path, data, len);
    free(data);
    /* Noise that libavformat takes for raw H.263 by a weak guess (score 25
     * with FFmpeg 5.1): still no media, no job. */
    data = noise_bytes(383, len);
    create_on(&A, h, data, len, path, video);
    sql_value("SELECT CONCAT(status, ': ', COALESCE(failure_reason, '')) FROM videos WHERE id = ?",
              video, status, sizeof status);
    if (strncmp(status, "failed: not a playable media file", 33) != 0) fail_msg("video: %s", status);
    assert_int_equal(sql_long(JOB_ROWS, video), 0);
    free(data);
}

/* A 1 s 160x120 H.264 + AAC MP4 made by the ffmpeg CLI; *len its size. */
static unsigned char *make_clip(size_t *len) {
    char clip[128];
    snprintf(clip, sizeof clip, "/tmp/mcloud-itest-upload-%d.mp4", (int)getpid());
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -v error -y -f lavfi -i testsrc=size=160x120:rate=10 -f lavfi "
             "-i sine=frequency=440:sample_rate=44100 -t 1 -c:v libx264 -pix_fmt yuv420p "
             "-c:a aac -shortest %s", clip);
    if (system(cmd) != 0) fail_msg("ffmpeg failed (apt-get install ffmpeg): %s", cmd);
    FILE *f = fopen(clip, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    unsigned char *data = malloc(*len);
    assert_int_equal(fread(data, 1, *len, f), *len);
    fclose(f);
    unlink(clip);
    return data;
}

static void test_media_upload_probed_and_one_job(void **state) {
    (void)state;
    size_t len;
    unsigned char *data = make_clip(&len);
    char path[128], video[64];
    create_sized(&A, (long)len, path, video);
    assert_int_equal(patch_on(&A, path, 0, data, 4000, NULL), 204);
    assert_int_equal(patch_on(&A, path, 4000, data + 4000, len - 4000, NULL), 204);
    char row[512];
    sql_value("SELECT CONCAT_WS('|', status, container, video_codec, audio_codec, width, height, "
              "size_bytes) FROM videos WHERE id = ?", video, row, sizeof row);
    char want[256];
    snprintf(want, sizeof want, "uploaded|mov,mp4,m4a,3gp,3g2,mj2|h264|aac|160|120|%zu", len);
    assert_string_equal(row, want);
    /* The probed media duration of the 1 s clip (a property of the file, not
     * a timing): within 100 ms for the container's rounding. */
    long media_duration_ms = sql_long("SELECT duration_ms FROM videos WHERE id = ?", video);
    assert_in_range(media_duration_ms, 900, 1100);
    /* Exactly one job: one outbox row, published once. */
    int jobs = 0;
    char value[2048] = "";
    for (int i = 0; i < WAIT_S * 2 && jobs == 0; i++) {
        jobs = kafka_jobs_for(video, value, sizeof value);
        if (jobs == 0) usleep(500 * 1000);
    }
    assert_int_equal(jobs, 1);
    /* The outbox stamps the row in the transaction it commits after the
     * broker's ack: a consumer may see the message first. */
    long stamped = 0;
    for (int i = 0; i < WAIT_S * 2 && stamped == 0; i++) {
        stamped = sql_long(JOB_ROWS " AND published_at IS NOT NULL", video);
        if (stamped == 0) usleep(500 * 1000);
    }
    assert_int_equal(stamped, 1);
    assert_int_equal(sql_long(JOB_ROWS, video), 1);
    assert_non_null(strstr(value, "\"video_id\":\""));
    assert_non_null(strstr(value, video));
    assert_non_null(strstr(value, "\"job_id\":\""));
    /* A HEAD or a repeated empty PATCH after completion adds no job. */
    assert_int_equal(patch_on(&A, path, (long)len, NULL, 0, NULL), 204);
    assert_int_equal(offset_on(&A, path), (long)len);
    assert_int_equal(sql_long(JOB_ROWS, video), 1);
    assert_int_equal(kafka_jobs_for(video, NULL, 0), 1);
    assert_int_equal(sql_long(EVENT_ROWS("video.upload.completed"), video), 1); /* once */
    assert_int_equal(sql_long(EVENT_ROWS("video.failed"), video), 0);
    assert_object_equals(path, data, len);
    free(data);
}


/* ---- the probe runs in a helper process (mcloud-probe) ---------------------------- */

/* Uploads data in one creation-with-upload on A; returns the video row's
 * "status: failure_reason". */
static void upload_and_status(const void *data, size_t len, char video[64], char *status,
                              size_t cap) {
    char path[128], h[64];
    snprintf(h, sizeof h, "Upload-Length: %zu\r\n", len);
    create_on(&A, h, data, len, path, video);
    assert_int_equal(offset_on(&A, path), (long)len);
    sql_value("SELECT CONCAT(status, ': ', COALESCE(failure_reason, '')) FROM videos WHERE id = ?",
              video, status, cap);
}

/* Probed as media: `uploaded`, or already taken by the stack's transcoder. */
static void assert_media_status(const char *status) {
    if (strcmp(status, "uploaded: ") && strcmp(status, "transcoding: ") && strcmp(status, "ready: "))
        fail_msg("video not probed as media: %s", status);
}

static bool maps_contain(pid_t pid, const char *what) {
    char file[64], line[1024];
    snprintf(file, sizeof file, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(file, "r");
    if (!f) fail_msg("cannot read %s", file);
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, what) != NULL;
    fclose(f);
    return found;
}

static void test_probe_keeps_libav_out_of_the_daemon(void **state) {
    (void)state;
    size_t len;
    unsigned char *data = make_clip(&len);
    char video[64], status[300];
    upload_and_status(data, len, video, status, sizeof status);
    assert_media_status(status);
    /* The maps are read right (libc is there) and hold no libav*, after a
     * probe of real media. */
    assert_true(maps_contain(A.pid, "libc.so"));
    assert_false(maps_contain(A.pid, "libavformat"));
    assert_false(maps_contain(A.pid, "libavcodec"));
    assert_false(maps_contain(A.pid, "libavutil"));
    free(data);
}

static void test_probe_rejects_a_corrupt_file(void **state) {
    (void)state;
    size_t len;
    unsigned char *data = make_clip(&len);
    /* The clip's index (moov) is at its end: the first half is an MP4
     * without one. */
    char video[64], status[300];
    upload_and_status(data, len / 2, video, status, sizeof status);
    if (!strstr(status, "failed: not a playable media file: unrecognised container"))
        fail_msg("video: %s", status);
    assert_int_equal(sql_long(JOB_ROWS, video), 0);
    /* The index (the last quarter: moov) scrambled. */
    uint64_t x = 88172645463325252ull;
    for (size_t i = len - len / 4; i < len - 8; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        data[i] = (unsigned char)x;
    }
    upload_and_status(data, len, video, status, sizeof status);
    if (strncmp(status, "failed: not a playable media file", 33) != 0) fail_msg("video: %s", status);
    free(data);
}

static void png_chunk(unsigned char *out, size_t *len, const char *type, const unsigned char *body,
                      uint32_t n) {
    unsigned char *p = out + *len;
    p[0] = n >> 24, p[1] = n >> 16, p[2] = n >> 8, p[3] = n;
    memcpy(p + 4, type, 4);
    if (n) memcpy(p + 8, body, n);
    uint32_t crc = (uint32_t)crc32(0, p + 4, n + 4);
    p[8 + n] = crc >> 24, p[9 + n] = crc >> 16, p[10 + n] = crc >> 8, p[11 + n] = crc;
    *len += 12 + n;
}

/* A 100-byte PNG declaring a 16000 x 16000 RGBA picture: decoding it means
 * a 1 GiB frame. */
static unsigned char *png_bomb(size_t *len) {
    unsigned char *png = calloc(1, 4096);
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    *len = 8;
    const unsigned char ihdr[13] = {0, 0, 0x3e, 0x80, 0, 0, 0x3e, 0x80, 8, 6, 0, 0, 0};
    png_chunk(png, len, "IHDR", ihdr, sizeof ihdr);
    unsigned char row[1 + 64] = {0}, z[256];
    uLongf zlen = sizeof z;
    assert_int_equal(compress(z, &zlen, row, sizeof row), Z_OK);
    png_chunk(png, len, "IDAT", z, (uint32_t)zlen);
    png_chunk(png, len, "IEND", NULL, 0);
    return png;
}

static void test_probe_survives_a_decompression_bomb(void **state) {
    (void)state;
    size_t len;
    unsigned char *bomb = png_bomb(&len);
    char video[64], status[300];
    upload_and_status(bomb, len, video, status, sizeof status);
    if (strncmp(status, "failed: not a playable media file", 33) != 0 ||
        !strstr(status, "16000x16000") || !strstr(status, "limits"))
        fail_msg("video: %s", status);
    assert_int_equal(sql_long(JOB_ROWS, video), 0);
    free(bomb);
    /* The daemon kept serving: the next upload is probed as media. */
    unsigned char *clip = make_clip(&len);
    upload_and_status(clip, len, video, status, sizeof status);
    assert_media_status(status);
    assert_int_equal(waitpid(A.pid, NULL, WNOHANG), 0);
    free(clip);
}

/* The pid of pid's child process named name (comm), or 0. */
static pid_t child_named(pid_t pid, const char *name) {
    char file[64], comm[64];
    snprintf(file, sizeof file, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    FILE *f = fopen(file, "r");
    if (!f) fail_msg("cannot read %s", file);
    int child;
    pid_t found = 0;
    while (!found && fscanf(f, "%d", &child) == 1) {
        snprintf(file, sizeof file, "/proc/%d/comm", child);
        FILE *c = fopen(file, "r");
        if (c && fgets(comm, sizeof comm, c)) {
            comm[strcspn(comm, "\n")] = '\0';
            if (strcmp(comm, name) == 0) found = child;
        }
        if (c) fclose(c);
    }
    fclose(f);
    return found;
}

/* The probe server is one long-lived child (not one process per probe);
 * killed, it is restarted and the next probe still answers. */
static void test_probe_server_restarts_after_it_dies(void **state) {
    (void)state;
    size_t len;
    unsigned char *clip = make_clip(&len);
    char video[64], status[300];
    upload_and_status(clip, len, video, status, sizeof status);
    assert_media_status(status);
    pid_t server = child_named(A.pid, "mcloud-probe");
    if (server == 0) fail_msg("no mcloud-probe server under mcloud-upload %d", (int)A.pid);
    upload_and_status(clip, len, video, status, sizeof status);
    assert_media_status(status);
    assert_int_equal(child_named(A.pid, "mcloud-probe"), server); /* the same server again */
    assert_int_equal(kill(server, SIGKILL), 0);
    upload_and_status(clip, len, video, status, sizeof status);
    assert_media_status(status);
    pid_t restarted = child_named(A.pid, "mcloud-probe");
    if (restarted == 0 || restarted == server)
        fail_msg("probe server %d not restarted (now %d)", (int)server, (int)restarted);
    assert_int_equal(waitpid(A.pid, NULL, WNOHANG), 0);
    free(clip);
}

/* ---- orphaned multipart uploads --------------------------------------------------- */

static bool multipart_exists(const char *key, const char *upload_id) {
    mc_s3_parts_result parts;
    mc_err err = {0};
    if (mc_s3_list_parts(s3, key, upload_id, 0, 0, &parts, &err) == 0) {
        mc_s3_parts_result_free(&parts);
        return true;
    }
    if (err.kind != MC_ERR_NOT_FOUND) fail_msg("list parts of %s: %s", key, err.msg);
    return false;
}

/* A multipart upload left by a process killed before the upload's row was
 * written (under uploads/ and sources/) is aborted once older than
 * upload.orphan_age_s; an active upload's and a key outside the service's
 * prefixes are left alone. Daemon D: orphan age 2 s, a sweep every second. */
static void test_orphaned_multipart_uploads_are_aborted(void **state) {
    (void)state;
    static const char *const env_d[] = {"MCLOUD_UPLOAD_ORPHAN_AGE_S=2",
                                        "MCLOUD_UPLOAD_SWEEP_INTERVAL_S=1", NULL};
    char keys[3][256], ids[3][MC_S3_UPLOAD_ID_MAX];
    snprintf(keys[0], sizeof keys[0], "uploads/orphan%d%ld/data", (int)getpid(), (long)time(NULL));
    snprintf(keys[1], sizeof keys[1], "sources/local/orphan-%d-%ld/source", (int)getpid(), (long)time(NULL));
    snprintf(keys[2], sizeof keys[2], "itest-other/orphan%d/x", (int)getpid());
    mc_err err = {0};
    for (int i = 0; i < 3; i++)
        if (mc_s3_create_multipart_upload(s3, keys[i], NULL, ids[i], &err) < 0)
            fail_msg("create %s: %s", keys[i], err.msg);
    start_daemon(&D, "d", env_d);
    char path[128], video[64], key[1024], upload_id[1024];
    create_sized(&D, 20 * MIB, path, video);
    upload_field(path, "s3_upload_id", upload_id, sizeof upload_id);
    snprintf(key, sizeof key, "sources/local/%s/source", video);
    assert_true(multipart_exists(key, upload_id));
    bool gone = false;
    for (int i = 0; i < WAIT_S * 10 && !gone; i++) {
        gone = !multipart_exists(keys[0], ids[0]) && !multipart_exists(keys[1], ids[1]);
        if (!gone) usleep(100 * 1000);
    }
    if (!gone) fail_msg("orphaned multipart uploads still there after %d s", WAIT_S);
    /* Two more sweeps: the active upload's and the foreign one stay. */
    sleep(2);
    assert_true(multipart_exists(key, upload_id));
    assert_true(multipart_exists(keys[2], ids[2]));
    assert_int_equal(mc_s3_abort_multipart_upload(s3, keys[2], ids[2], &err), 0);
    resp r;
    request(D.port, "DELETE", path, token, TUS, NULL, 0, &r);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    assert_true(stop_daemon(&D));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_advertises_everything),
        cmocka_unit_test(test_tus_resumable_missing_or_wrong_is_412),
        cmocka_unit_test(test_head_reports_the_upload),
        cmocka_unit_test(test_creation_with_upload),
        cmocka_unit_test(test_patch_statuses),
        cmocka_unit_test(test_defer_length),
        cmocka_unit_test(test_method_override),
        cmocka_unit_test(test_bearer_token_required),
        cmocka_unit_test(test_other_tenant_sees_nothing),
        cmocka_unit_test(test_checksums),
        cmocka_unit_test(test_checksum_trailer),
        cmocka_unit_test(test_termination),
        cmocka_unit_test(test_malformed_headers_are_400),
        cmocka_unit_test(test_concatenation),
        cmocka_unit_test(test_concurrent_patch_gets_423),
        cmocka_unit_test(test_tiny_interrupted_patches_keep_part_numbers),
        cmocka_unit_test(test_one_part_upload_needs_no_multipart),
        cmocka_unit_test(test_part_size_bounds_the_part_count),
        cmocka_unit_test(test_resume_on_another_replica_after_kill9),
        cmocka_unit_test(test_expiry_and_sweeper),
        cmocka_unit_test(test_non_media_fails_without_job),
        cmocka_unit_test(test_media_upload_probed_and_one_job),
        cmocka_unit_test(test_probe_keeps_libav_out_of_the_daemon),
        cmocka_unit_test(test_probe_rejects_a_corrupt_file),
        cmocka_unit_test(test_probe_survives_a_decompression_bomb),
        cmocka_unit_test(test_probe_server_restarts_after_it_dies),
        cmocka_unit_test(test_orphaned_multipart_uploads_are_aborted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
