/* test_s3.c — the S3 client against the real MinIO of scripts/stack.sh.
 *
 * Proves: single PUT/HEAD/GET/DELETE with a key that needs encoding, ranged
 * GETs, a >= 50 MiB multipart upload streamed in 8 MiB parts and read back
 * with the same sha256, ListObjectsV2 pagination, ListParts pagination,
 * UploadPartCopy from a range of another object, abort, presigned GET, and
 * the error mapping (NoSuchKey, NoSuchUpload, SignatureDoesNotMatch,
 * InvalidPart, unreachable server, short streamed body, header injection),
 * and that a GET's info is filled before its first body byte is handed out. */
#include "itest.h"

#include <openssl/evp.h>
#include <curl/curl.h>

#include "common/s3.h"

#define MiB (1024u * 1024u)

typedef struct fixture {
    mc_s3_config cfg;
    mc_s3 *s3;
    char prefix[128];
} fixture;

/* ---- helpers ------------------------------------------------------------- */

/* Deterministic pseudo-random bytes (xorshift64*), hashed as they are produced. */
typedef struct generator {
    uint64_t state;
    uint64_t left;
    EVP_MD_CTX *sha;
} generator;

static void generator_init(generator *g, uint64_t seed, uint64_t len, EVP_MD_CTX *sha) {
    g->state = seed ? seed : 0x9e3779b97f4a7c15ull;
    g->left = len;
    g->sha = sha;
}

static uint8_t generator_byte(generator *g) {
    g->state ^= g->state >> 12;
    g->state ^= g->state << 25;
    g->state ^= g->state >> 27;
    return (uint8_t)((g->state * 0x2545f4914f6cdd1dull) >> 56);
}

static ssize_t generator_read(void *ctx, char *buf, size_t cap) {
    generator *g = ctx;
    size_t n = cap < g->left ? cap : (size_t)g->left;
    for (size_t i = 0; i < n; i++) buf[i] = (char)generator_byte(g);
    if (g->sha) EVP_DigestUpdate(g->sha, buf, n);
    g->left -= n;
    return (ssize_t)n;
}

static char *generate(uint64_t seed, size_t len) {
    char *buf = malloc(len);
    generator g;
    generator_init(&g, seed, len, NULL);
    assert_int_equal(generator_read(&g, buf, len), (ssize_t)len);
    return buf;
}

/* Collects a downloaded body in memory and/or hashes it. */
typedef struct sink {
    char *data;
    size_t len;
    bool keep;
    EVP_MD_CTX *sha;
    int calls;
} sink;

static int sink_write(void *ctx, const char *data, size_t len) {
    sink *s = ctx;
    s->calls++;
    if (s->sha) EVP_DigestUpdate(s->sha, data, len);
    if (s->keep) {
        s->data = realloc(s->data, s->len + len + 1);
        memcpy(s->data + s->len, data, len);
        s->len += len;
        s->data[s->len] = '\0';
    } else {
        s->len += len;
    }
    return 0;
}

static void sha_hex(EVP_MD_CTX *sha, char out[65]) {
    unsigned char digest[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(sha, digest, &n);
    for (unsigned int i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", digest[i]);
}

static void md5_hex(const void *data, size_t len, char out[33]) {
    unsigned char digest[16];
    unsigned int n = 0;
    EVP_Digest(data, len, digest, &n, EVP_md5(), NULL);
    for (unsigned int i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", digest[i]);
}

static void key_of(char *out, size_t cap, const fixture *f, const char *name) {
    snprintf(out, cap, "%s/%s", f->prefix, name);
}

static void get_whole(fixture *f, const char *key, sink *s, mc_s3_object_info *info) {
    mc_err err = {0};
    if (mc_s3_get_object(f->s3, key, NULL, sink_write, s, info, &err) < 0)
        fail_msg("GET %s: %s", key, err.msg);
}

static void delete_or_fail(fixture *f, const char *key) {
    mc_err err = {0};
    if (mc_s3_delete_object(f->s3, key, &err) < 0) fail_msg("DELETE %s: %s", key, err.msg);
}

/* ---- setup --------------------------------------------------------------- */

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    itest_s3_config(&f->cfg);
    mc_err err = {0};
    f->s3 = mc_s3_new(&f->cfg, &err);
    if (!f->s3) fail_msg("mc_s3_new: %s", err.msg);
    itest_unique(f->prefix, sizeof f->prefix, "itest-s3");
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    mc_s3_free(f->s3);
    free(f);
    return 0;
}

/* ---- objects ------------------------------------------------------------- */

static void test_put_head_get_delete_encoded_key(void **state) {
    fixture *f = *state;
    char key[512];
    /* space, '+', '%', '&', '=', '~', unicode (é, 日本) must all round-trip
     * (MinIO refuses "//" in names, so no empty segment here) */
    key_of(key, sizeof key, f, "enc/a b+c%d&e=f~ \xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac/x.txt");
    const char *body = "hello from mcloud, with a key that needs encoding\n";
    size_t len = strlen(body);
    char etag[MC_S3_ETAG_MAX], md5[33];
    mc_err err = {0};

    if (mc_s3_put_object(f->s3, key, body, len, "text/plain", etag, &err) < 0)
        fail_msg("PUT: %s", err.msg);
    md5_hex(body, len, md5);
    assert_string_equal(etag, md5);

    mc_s3_object_info info;
    if (mc_s3_head_object(f->s3, key, &info, &err) < 0) fail_msg("HEAD: %s", err.msg);
    assert_int_equal(info.status, 200);
    assert_int_equal(info.object_size, len);
    assert_string_equal(info.etag, md5);
    assert_string_equal(info.content_type, "text/plain");
    assert_true(info.last_modified_time > 0);
    assert_true(info.last_modified[0] != '\0');

    sink s = {.keep = true};
    get_whole(f, key, &s, &info);
    assert_int_equal(info.status, 200);
    assert_int_equal(s.len, len);
    assert_memory_equal(s.data, body, len);
    assert_string_equal(info.etag, md5);
    free(s.data);

    /* the listing returns the key byte for byte */
    mc_s3_list_result page;
    char prefix[256];
    key_of(prefix, sizeof prefix, f, "enc/");
    mc_s3_list_params params = {.prefix = prefix};
    if (mc_s3_list_objects(f->s3, &params, &page, &err) < 0) fail_msg("LIST: %s", err.msg);
    assert_int_equal(page.object_count, 1);
    assert_string_equal(page.objects[0].key, key);
    assert_int_equal(page.objects[0].size, len);
    mc_s3_list_result_free(&page);

    delete_or_fail(f, key);
    assert_int_equal(mc_s3_head_object(f->s3, key, &info, &err), -1);
    assert_int_equal(err.kind, MC_ERR_NOT_FOUND);
    assert_int_equal(err.status, 404);
}

/* Records what info held when the first body bytes arrived. */
typedef struct first_call {
    const mc_s3_object_info *info;
    int calls;
    int status_at_first;
    uint64_t size_at_first;
    char etag_at_first[MC_S3_ETAG_MAX];
} first_call;

static int first_call_write(void *ctx, const char *data, size_t len) {
    (void)data;
    (void)len;
    first_call *fc = ctx;
    if (fc->calls++ == 0) {
        fc->status_at_first = fc->info->status;
        fc->size_at_first = fc->info->object_size;
        snprintf(fc->etag_at_first, sizeof fc->etag_at_first, "%s", fc->info->etag);
    }
    return 0;
}

static void test_get_fills_info_before_the_body(void **state) {
    fixture *f = *state;
    char key[256], etag[MC_S3_ETAG_MAX];
    key_of(key, sizeof key, f, "info-first.bin");
    size_t len = 3 * MiB;
    char *body = generate(21, len);
    mc_err err = {0};
    if (mc_s3_put_object(f->s3, key, body, len, NULL, etag, &err) < 0)
        fail_msg("PUT: %s", err.msg);
    mc_s3_object_info info;
    memset(&info, 0, sizeof info);
    first_call fc = {.info = &info};
    if (mc_s3_get_object(f->s3, key, NULL, first_call_write, &fc, &info, &err) < 0)
        fail_msg("GET: %s", err.msg);
    assert_true(fc.calls > 1);
    assert_int_equal(fc.status_at_first, 200);
    assert_int_equal(fc.size_at_first, len);
    assert_string_equal(fc.etag_at_first, etag);
    assert_int_equal(info.object_size, len);
    delete_or_fail(f, key);
    free(body);
}

static void test_get_missing_key_is_not_found(void **state) {
    fixture *f = *state;
    char key[256];
    key_of(key, sizeof key, f, "missing");
    sink s = {.keep = true};
    mc_err err = {0};
    assert_int_equal(mc_s3_get_object(f->s3, key, NULL, sink_write, &s, NULL, &err), -1);
    assert_int_equal(err.kind, MC_ERR_NOT_FOUND);
    assert_int_equal(err.status, 404);
    assert_string_equal(err.code, "NoSuchKey");
    assert_int_equal(s.calls, 0); /* the error document never reaches the caller */
}

static void test_ranged_get(void **state) {
    fixture *f = *state;
    char key[256];
    key_of(key, sizeof key, f, "ranged");
    size_t len = 1000;
    char *body = generate(7, len);
    mc_err err = {0};
    if (mc_s3_put_object(f->s3, key, body, len, NULL, NULL, &err) < 0)
        fail_msg("PUT: %s", err.msg);

    sink s = {.keep = true};
    mc_s3_object_info info;
    mc_s3_range range = {100, 199};
    if (mc_s3_get_object(f->s3, key, &range, sink_write, &s, &info, &err) < 0)
        fail_msg("GET range: %s", err.msg);
    assert_int_equal(info.status, 206);
    assert_string_equal(info.content_range, "bytes 100-199/1000");
    assert_int_equal(info.content_length, 100);
    assert_int_equal(info.object_size, 1000);
    assert_int_equal(s.len, 100);
    assert_memory_equal(s.data, body + 100, 100);
    free(s.data);

    sink tail = {.keep = true};
    mc_s3_range open_ended = {990, MC_S3_RANGE_END};
    if (mc_s3_get_object(f->s3, key, &open_ended, sink_write, &tail, &info, &err) < 0)
        fail_msg("GET open range: %s", err.msg);
    assert_string_equal(info.content_range, "bytes 990-999/1000");
    assert_int_equal(tail.len, 10);
    assert_memory_equal(tail.data, body + 990, 10);
    free(tail.data);

    mc_s3_range beyond = {5000, 5001};
    assert_int_equal(mc_s3_get_object(f->s3, key, &beyond, sink_write, &tail, &info, &err), -1);
    assert_int_equal(err.status, 416);
    assert_string_equal(err.code, "InvalidRange");
    assert_int_equal(err.kind, MC_ERR_INVALID);

    delete_or_fail(f, key);
    free(body);
}

static void test_list_pagination(void **state) {
    fixture *f = *state;
    const char *names[] = {"list/a", "list/b", "list/c", "list/d", "list/sub/e"};
    char keys[5][256];
    mc_err err = {0};
    for (int i = 0; i < 5; i++) {
        key_of(keys[i], sizeof keys[i], f, names[i]);
        if (mc_s3_put_object(f->s3, keys[i], names[i], strlen(names[i]), NULL, NULL, &err) < 0)
            fail_msg("PUT %s: %s", keys[i], err.msg);
    }
    char prefix[256];
    key_of(prefix, sizeof prefix, f, "list/");

    size_t seen = 0, pages = 0;
    char *token = NULL;
    do {
        mc_s3_list_result page;
        mc_s3_list_params params = {.prefix = prefix, .continuation_token = token, .max_keys = 2};
        if (mc_s3_list_objects(f->s3, &params, &page, &err) < 0) fail_msg("LIST: %s", err.msg);
        pages++;
        assert_true(page.object_count <= 2);
        for (size_t i = 0; i < page.object_count; i++, seen++) {
            assert_string_equal(page.objects[i].key, keys[seen]);
            assert_int_equal(page.objects[i].size, strlen(names[seen]));
        }
        assert_int_equal(page.truncated, seen < 5);
        free(token);
        token = page.next_continuation_token ? strdup(page.next_continuation_token) : NULL;
        mc_s3_list_result_free(&page);
    } while (token);
    assert_int_equal(seen, 5);
    assert_int_equal(pages, 3);

    mc_s3_list_result grouped;
    mc_s3_list_params params = {.prefix = prefix, .delimiter = "/"};
    if (mc_s3_list_objects(f->s3, &params, &grouped, &err) < 0) fail_msg("LIST: %s", err.msg);
    assert_int_equal(grouped.object_count, 4);
    assert_int_equal(grouped.prefix_count, 1);
    char sub[256];
    key_of(sub, sizeof sub, f, "list/sub/");
    assert_string_equal(grouped.common_prefixes[0], sub);
    assert_false(grouped.truncated);
    mc_s3_list_result_free(&grouped);

    for (int i = 0; i < 5; i++) delete_or_fail(f, keys[i]);
}

/* Everything under a prefix goes, except what is under keep. */
static void test_delete_prefix_keeps_only_keep(void **state) {
    fixture *f = *state;
    const char *names[] = {"gone/a", "gone/b/c", "gone/keep/d"};
    char keys[3][256], prefix[256], keep[256];
    mc_err err = {0};
    for (int i = 0; i < 3; i++) {
        key_of(keys[i], sizeof keys[i], f, names[i]);
        if (mc_s3_put_object(f->s3, keys[i], "x", 1, NULL, NULL, &err) < 0)
            fail_msg("PUT %s: %s", keys[i], err.msg);
    }
    key_of(prefix, sizeof prefix, f, "gone/");
    key_of(keep, sizeof keep, f, "gone/keep/");
    if (mc_s3_delete_prefix(f->s3, prefix, keep, &err) < 0) fail_msg("delete prefix: %s", err.msg);
    mc_s3_list_result left;
    mc_s3_list_params params = {.prefix = prefix};
    if (mc_s3_list_objects(f->s3, &params, &left, &err) < 0) fail_msg("LIST: %s", err.msg);
    assert_int_equal(left.object_count, 1);
    assert_string_equal(left.objects[0].key, keys[2]);
    mc_s3_list_result_free(&left);
    assert_int_equal(mc_s3_delete_prefix(f->s3, prefix, NULL, &err), 0);
    if (mc_s3_list_objects(f->s3, &params, &left, &err) < 0) fail_msg("LIST: %s", err.msg);
    assert_int_equal(left.object_count, 0);
    mc_s3_list_result_free(&left);
}

/* ---- multipart ----------------------------------------------------------- */

static void test_multipart_roundtrip_50mib(void **state) {
    fixture *f = *state;
    char key[256], upload_id[MC_S3_UPLOAD_ID_MAX];
    key_of(key, sizeof key, f, "multipart/big.bin");
    const uint64_t part_size = 8 * MiB, tail = 3 * MiB + 12345;
    const int full_parts = 6;
    const uint64_t total = full_parts * part_size + tail; /* 51 MiB + 12345 bytes */
    mc_err err = {0};

    if (mc_s3_create_multipart_upload(f->s3, key, "application/octet-stream", upload_id, &err) < 0)
        fail_msg("create: %s", err.msg);
    EVP_MD_CTX *source_sha = EVP_MD_CTX_new();
    EVP_DigestInit_ex(source_sha, EVP_sha256(), NULL);
    generator g;
    generator_init(&g, 42, total, source_sha);

    mc_s3_part parts[7] = {0};
    for (int i = 0; i <= full_parts; i++) {
        uint64_t len = i < full_parts ? part_size : tail;
        parts[i].number = i + 1;
        parts[i].size = len;
        if (mc_s3_upload_part_stream(f->s3, key, upload_id, i + 1, len, generator_read, &g,
                                     parts[i].etag, &err) < 0)
            fail_msg("part %d: %s", i + 1, err.msg);
    }
    assert_int_equal(g.left, 0);
    char source_hex[65];
    sha_hex(source_sha, source_hex);

    /* ListParts, three at a time */
    int marker = 0, listed = 0;
    for (;;) {
        mc_s3_parts_result page;
        if (mc_s3_list_parts(f->s3, key, upload_id, marker, 3, &page, &err) < 0)
            fail_msg("list parts: %s", err.msg);
        for (size_t i = 0; i < page.count; i++, listed++) {
            assert_int_equal(page.parts[i].number, parts[listed].number);
            assert_int_equal(page.parts[i].size, parts[listed].size);
            assert_string_equal(page.parts[i].etag, parts[listed].etag);
        }
        bool more = page.truncated;
        marker = page.next_part_number_marker;
        mc_s3_parts_result_free(&page);
        if (!more) break;
    }
    assert_int_equal(listed, 7);

    char etag[MC_S3_ETAG_MAX];
    if (mc_s3_complete_multipart_upload(f->s3, key, upload_id, parts, 7, etag, &err) < 0)
        fail_msg("complete: %s", err.msg);
    assert_non_null(strstr(etag, "-7")); /* multipart ETags end in -<parts> */

    mc_s3_object_info info;
    if (mc_s3_head_object(f->s3, key, &info, &err) < 0) fail_msg("HEAD: %s", err.msg);
    assert_int_equal(info.object_size, total);
    assert_string_equal(info.content_type, "application/octet-stream");

    EVP_MD_CTX *download_sha = EVP_MD_CTX_new();
    EVP_DigestInit_ex(download_sha, EVP_sha256(), NULL);
    sink s = {.sha = download_sha};
    get_whole(f, key, &s, &info);
    assert_int_equal(s.len, total);
    char download_hex[65];
    sha_hex(download_sha, download_hex);
    assert_string_equal(download_hex, source_hex);

    EVP_MD_CTX_free(source_sha);
    EVP_MD_CTX_free(download_sha);
    delete_or_fail(f, key);
}

/* Push mode: a 6 MiB part handed over in uneven pieces (as an HTTP server's
 * buffer delivers them) with other requests of the same handle in between,
 * a part dropped halfway, and a push the server refuses. */
static void test_push_part_in_pieces(void **state) {
    fixture *f = *state;
    char key[256], upload_id[MC_S3_UPLOAD_ID_MAX];
    key_of(key, sizeof key, f, "push/x.bin");
    const size_t len = 6 * MiB + 777;
    char *data = generate(7, len);
    mc_err err = {0};
    if (mc_s3_create_multipart_upload(f->s3, key, NULL, upload_id, &err) < 0)
        fail_msg("create: %s", err.msg);
    mc_s3_part part = {.number = 1, .size = len};
    mc_s3_push *p = mc_s3_upload_part_push(f->s3, key, upload_id, 1, len, &err);
    if (!p) fail_msg("push: %s", err.msg);
    size_t off = 0, piece = 1;
    bool asked = false;
    while (off < len) {
        size_t n = piece < len - off ? piece : len - off;
        if (mc_s3_push_write(p, data + off, n, &err) < 0) fail_msg("write at %zu: %s", off, err.msg);
        off += n;
        piece = piece * 3 + 17;
        if (piece > 512 * 1024) piece = 1000;
        mc_s3_object_info info;
        if (off >= 2 * MiB && !asked) { /* the handle serves a request meanwhile */
            assert_int_equal(mc_s3_head_object(f->s3, key, &info, &err), -1);
            assert_int_equal(err.kind, MC_ERR_NOT_FOUND);
            asked = true;
        }
    }
    assert_true(asked);
    /* Past the part's length: refused, the push stays whole. */
    assert_int_equal(mc_s3_push_write(p, "x", 1, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);
    if (mc_s3_push_finish(p, part.etag, &err) < 0) fail_msg("finish: %s", err.msg);
    assert_true(part.etag[0] != '\0');

    /* Part 2 dropped halfway, then finished short: neither is listed. */
    p = mc_s3_upload_part_push(f->s3, key, upload_id, 2, MiB, &err);
    assert_non_null(p);
    assert_int_equal(mc_s3_push_write(p, data, MiB / 2, &err), 0);
    mc_s3_push_abort(p);
    p = mc_s3_upload_part_push(f->s3, key, upload_id, 2, MiB, &err);
    assert_non_null(p);
    assert_int_equal(mc_s3_push_write(p, data, 10, &err), 0);
    char etag[MC_S3_ETAG_MAX];
    assert_int_equal(mc_s3_push_finish(p, etag, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);
    assert_non_null(strstr(err.msg, "10 of 1048576"));
    mc_s3_parts_result parts;
    if (mc_s3_list_parts(f->s3, key, upload_id, 0, 0, &parts, &err) < 0) fail_msg("list: %s", err.msg);
    assert_int_equal(parts.count, 1);
    assert_int_equal(parts.parts[0].size, len);
    mc_s3_parts_result_free(&parts);

    if (mc_s3_complete_multipart_upload(f->s3, key, upload_id, &part, 1, etag, &err) < 0)
        fail_msg("complete: %s", err.msg);
    sink s = {.keep = true};
    mc_s3_object_info info;
    get_whole(f, key, &s, &info);
    assert_int_equal(s.len, len);
    assert_memory_equal(s.data, data, len);
    free(s.data);

    /* A push to an upload that does not exist: the server's answer (404
     * NoSuchUpload) surfaces from a write or from finish. */
    p = mc_s3_upload_part_push(f->s3, key, "no-such-upload", 1, 4 * MiB, &err);
    assert_non_null(p);
    int rc = 0;
    for (off = 0; rc == 0 && off < 4 * MiB; off += 64 * 1024)
        rc = mc_s3_push_write(p, data + off, 64 * 1024, &err);
    if (rc == 0) rc = mc_s3_push_finish(p, etag, &err);
    else mc_s3_push_abort(p);
    assert_int_equal(rc, -1);
    if (err.kind != MC_ERR_NOT_FOUND && err.kind != MC_ERR_REMOTE && err.kind != MC_ERR_UNAVAILABLE)
        fail_msg("unexpected error: %s", err.msg);
    free(data);
    delete_or_fail(f, key);
}

static void test_upload_part_copy_from_range(void **state) {
    fixture *f = *state;
    char source_key[256], key[256], upload_id[MC_S3_UPLOAD_ID_MAX];
    key_of(source_key, sizeof source_key, f, "copy/source");
    key_of(key, sizeof key, f, "copy/built");
    const size_t source_len = 7 * MiB;
    char *source = generate(99, source_len);
    mc_err err = {0};
    generator g;
    generator_init(&g, 99, source_len, NULL);
    if (mc_s3_put_object_stream(f->s3, source_key, source_len, generator_read, &g, NULL, NULL,
                                &err) < 0)
        fail_msg("PUT source: %s", err.msg);

    /* part 1: source bytes [1 MiB, 6 MiB); part 2: a small uploaded tail */
    if (mc_s3_create_multipart_upload(f->s3, key, NULL, upload_id, &err) < 0)
        fail_msg("create: %s", err.msg);
    mc_s3_part parts[2] = {{.number = 1}, {.number = 2}};
    mc_s3_range range = {1 * MiB, 6 * MiB - 1};
    if (mc_s3_upload_part_copy(f->s3, key, upload_id, 1, source_key, &range, parts[0].etag,
                               &err) < 0)
        fail_msg("copy part: %s", err.msg);
    const char *tail = "-- and a tail";
    if (mc_s3_upload_part(f->s3, key, upload_id, 2, tail, strlen(tail), parts[1].etag, &err) < 0)
        fail_msg("part 2: %s", err.msg);
    char md5[33];
    md5_hex(source + MiB, 5 * MiB, md5);
    assert_string_equal(parts[0].etag, md5);
    if (mc_s3_complete_multipart_upload(f->s3, key, upload_id, parts, 2, NULL, &err) < 0)
        fail_msg("complete: %s", err.msg);

    sink s = {.keep = true};
    mc_s3_object_info info;
    get_whole(f, key, &s, &info);
    assert_int_equal(s.len, 5 * MiB + strlen(tail));
    assert_memory_equal(s.data, source + MiB, 5 * MiB);
    assert_memory_equal(s.data + 5 * MiB, tail, strlen(tail));
    free(s.data);

    /* a copy from a missing source is NoSuchKey */
    char missing[256];
    key_of(missing, sizeof missing, f, "copy/missing");
    if (mc_s3_create_multipart_upload(f->s3, key, NULL, upload_id, &err) < 0)
        fail_msg("create: %s", err.msg);
    char etag[MC_S3_ETAG_MAX];
    assert_int_equal(mc_s3_upload_part_copy(f->s3, key, upload_id, 1, missing, NULL, etag, &err),
                     -1);
    assert_int_equal(err.kind, MC_ERR_NOT_FOUND);
    assert_string_equal(err.code, "NoSuchKey");
    if (mc_s3_abort_multipart_upload(f->s3, key, upload_id, &err) < 0)
        fail_msg("abort: %s", err.msg);

    delete_or_fail(f, key);
    delete_or_fail(f, source_key);
    free(source);
}

static void test_copy_object(void **state) {
    fixture *f = *state;
    char source_key[256], key[256], missing[256];
    key_of(source_key, sizeof source_key, f, "copyobj/source with space");
    key_of(key, sizeof key, f, "copyobj/copy");
    key_of(missing, sizeof missing, f, "copyobj/missing");
    const size_t len = 3 * MiB + 17;
    char *source = generate(7, len);
    mc_err err = {0};
    if (mc_s3_put_object(f->s3, source_key, source, len, "video/mp4", NULL, &err) < 0)
        fail_msg("PUT source: %s", err.msg);
    char etag[MC_S3_ETAG_MAX], md5[33];
    if (mc_s3_copy_object(f->s3, key, source_key, etag, &err) < 0) fail_msg("copy: %s", err.msg);
    md5_hex(source, len, md5);
    assert_string_equal(etag, md5);
    sink s = {.keep = true};
    mc_s3_object_info info;
    get_whole(f, key, &s, &info);
    assert_int_equal(s.len, len);
    assert_memory_equal(s.data, source, len);
    assert_string_equal(info.content_type, "video/mp4"); /* the source's metadata kept */
    free(s.data);
    /* the source is untouched, and copying again gives the same object */
    assert_int_equal(mc_s3_head_object(f->s3, source_key, &info, &err), 0);
    assert_int_equal(info.content_length, len);
    assert_int_equal(mc_s3_copy_object(f->s3, key, source_key, NULL, &err), 0);
    /* a copy of a missing source is NoSuchKey, and the target stays */
    assert_int_equal(mc_s3_copy_object(f->s3, key, missing, NULL, &err), -1);
    assert_int_equal(err.kind, MC_ERR_NOT_FOUND);
    assert_string_equal(err.code, "NoSuchKey");
    assert_int_equal(mc_s3_head_object(f->s3, key, &info, &err), 0);
    assert_int_equal(info.content_length, len);
    delete_or_fail(f, key);
    delete_or_fail(f, source_key);
    free(source);
}

static void test_abort_removes_upload(void **state) {
    fixture *f = *state;
    char key[256], upload_id[MC_S3_UPLOAD_ID_MAX], etag[MC_S3_ETAG_MAX];
    key_of(key, sizeof key, f, "abort/x");
    mc_err err = {0};
    if (mc_s3_create_multipart_upload(f->s3, key, NULL, upload_id, &err) < 0)
        fail_msg("create: %s", err.msg);
    if (mc_s3_upload_part(f->s3, key, upload_id, 1, "abc", 3, etag, &err) < 0)
        fail_msg("part: %s", err.msg);
    mc_s3_parts_result parts;
    if (mc_s3_list_parts(f->s3, key, upload_id, 0, 0, &parts, &err) < 0)
        fail_msg("list parts: %s", err.msg);
    assert_int_equal(parts.count, 1);
    assert_int_equal(parts.parts[0].size, 3);
    mc_s3_parts_result_free(&parts);

    if (mc_s3_abort_multipart_upload(f->s3, key, upload_id, &err) < 0)
        fail_msg("abort: %s", err.msg);
    assert_int_equal(mc_s3_list_parts(f->s3, key, upload_id, 0, 0, &parts, &err), -1);
    assert_int_equal(err.kind, MC_ERR_NOT_FOUND);
    assert_int_equal(err.status, 404);
    assert_string_equal(err.code, "NoSuchUpload");
}

static void test_complete_with_wrong_etag_fails(void **state) {
    fixture *f = *state;
    char key[256], upload_id[MC_S3_UPLOAD_ID_MAX];
    key_of(key, sizeof key, f, "badpart/x");
    mc_err err = {0};
    if (mc_s3_create_multipart_upload(f->s3, key, NULL, upload_id, &err) < 0)
        fail_msg("create: %s", err.msg);
    mc_s3_part part = {.number = 1};
    if (mc_s3_upload_part(f->s3, key, upload_id, 1, "abc", 3, part.etag, &err) < 0)
        fail_msg("part: %s", err.msg);
    snprintf(part.etag, sizeof part.etag, "00000000000000000000000000000000");
    assert_int_equal(mc_s3_complete_multipart_upload(f->s3, key, upload_id, &part, 1, NULL, &err),
                     -1);
    assert_int_equal(err.kind, MC_ERR_REMOTE);
    assert_string_equal(err.code, "InvalidPart");
    if (mc_s3_abort_multipart_upload(f->s3, key, upload_id, &err) < 0)
        fail_msg("abort: %s", err.msg);
}

/* ---- presigned URLs ------------------------------------------------------ */

static size_t curl_collect(char *data, size_t size, size_t n, void *userp) {
    return sink_write(userp, data, size * n) == 0 ? size * n : 0;
}

static void test_presigned_get(void **state) {
    fixture *f = *state;
    char key[256];
    key_of(key, sizeof key, f, "presigned/a b+c.txt");
    const char *body = "fetched without credentials";
    mc_err err = {0};
    if (mc_s3_put_object(f->s3, key, body, strlen(body), NULL, NULL, &err) < 0)
        fail_msg("PUT: %s", err.msg);
    char *url = mc_s3_presign_get(f->s3, key, 300, time(NULL), &err);
    assert_non_null(url);

    CURL *c = curl_easy_init();
    sink s = {.keep = true};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 200);
    assert_string_equal(s.data, body);
    free(s.data);

    /* a tampered signature is refused */
    url[strlen(url) - 1] = url[strlen(url) - 1] == '0' ? '1' : '0';
    sink denied = {.keep = true};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &denied);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 403);
    assert_non_null(strstr(denied.data, "SignatureDoesNotMatch"));
    free(denied.data);
    curl_easy_cleanup(c);
    free(url);
    delete_or_fail(f, key);
}

/* ---- failures ------------------------------------------------------------ */

static void test_wrong_secret_key_is_signature_mismatch(void **state) {
    fixture *f = *state;
    mc_s3_config cfg = f->cfg;
    snprintf(cfg.secret_key, sizeof cfg.secret_key, "not-the-secret");
    mc_err err = {0};
    mc_s3 *bad = mc_s3_new(&cfg, &err);
    assert_non_null(bad);
    char key[256];
    key_of(key, sizeof key, f, "denied");
    assert_int_equal(mc_s3_put_object(bad, key, "x", 1, NULL, NULL, &err), -1);
    assert_int_equal(err.kind, MC_ERR_AUTH);
    assert_int_equal(err.status, 403);
    assert_string_equal(err.code, "SignatureDoesNotMatch");
    mc_s3_free(bad);

    mc_s3_object_info info;
    assert_int_equal(mc_s3_head_object(f->s3, key, &info, &err), -1);
    assert_int_equal(err.kind, MC_ERR_NOT_FOUND);
}

static void test_unreachable_server_is_unavailable(void **state) {
    fixture *f = *state;
    mc_s3_config cfg = f->cfg;
    snprintf(cfg.endpoint, sizeof cfg.endpoint, "http://127.0.0.1:1");
    cfg.max_retries = 0;
    mc_err err = {0};
    mc_s3 *s3 = mc_s3_new(&cfg, &err);
    assert_non_null(s3);
    mc_s3_object_info info;
    assert_int_equal(mc_s3_head_object(s3, "k", &info, &err), -1);
    assert_int_equal(err.kind, MC_ERR_UNAVAILABLE);
    mc_s3_free(s3);
}

static void test_short_stream_is_invalid_and_stores_nothing(void **state) {
    fixture *f = *state;
    char key[256];
    key_of(key, sizeof key, f, "short");
    generator g;
    generator_init(&g, 1, 50, NULL); /* produces 50 bytes for a 100-byte PUT */
    mc_err err = {0};
    assert_int_equal(mc_s3_put_object_stream(f->s3, key, 100, generator_read, &g, NULL, NULL, &err),
                     -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);
    assert_non_null(strstr(err.msg, "50 of 100"));
    mc_s3_object_info info;
    assert_int_equal(mc_s3_head_object(f->s3, key, &info, &err), -1);
    assert_int_equal(err.kind, MC_ERR_NOT_FOUND);
}

static void test_header_injection_is_refused(void **state) {
    fixture *f = *state;
    char key[256], upload_id[MC_S3_UPLOAD_ID_MAX];
    key_of(key, sizeof key, f, "injected");
    const char *evil = "text/plain\r\nx-amz-acl: public-read";
    mc_err err = {0};
    assert_int_equal(mc_s3_put_object(f->s3, key, "x", 1, evil, NULL, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);
    assert_int_equal(mc_s3_create_multipart_upload(f->s3, key, evil, upload_id, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);
    mc_s3_object_info info;
    assert_int_equal(mc_s3_head_object(f->s3, key, &info, &err), -1);
    assert_int_equal(err.kind, MC_ERR_NOT_FOUND);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_head_get_delete_encoded_key),
        cmocka_unit_test(test_get_missing_key_is_not_found),
        cmocka_unit_test(test_get_fills_info_before_the_body),
        cmocka_unit_test(test_ranged_get),
        cmocka_unit_test(test_list_pagination),
        cmocka_unit_test(test_delete_prefix_keeps_only_keep),
        cmocka_unit_test(test_multipart_roundtrip_50mib),
        cmocka_unit_test(test_push_part_in_pieces),
        cmocka_unit_test(test_upload_part_copy_from_range),
        cmocka_unit_test(test_copy_object),
        cmocka_unit_test(test_abort_removes_upload),
        cmocka_unit_test(test_complete_with_wrong_etag_fails),
        cmocka_unit_test(test_presigned_get),
        cmocka_unit_test(test_wrong_secret_key_is_signature_mismatch),
        cmocka_unit_test(test_unreachable_server_is_unavailable),
        cmocka_unit_test(test_short_stream_is_invalid_and_stores_nothing),
        cmocka_unit_test(test_header_injection_is_refused),
    };
    return cmocka_run_group_tests_name("s3", tests, setup, teardown);
}
