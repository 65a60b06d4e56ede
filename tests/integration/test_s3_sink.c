/* Integration test of the transcode worker's S3 sink (transcode/s3_sink.c)
 * against the stack's MinIO: a small object is one PutObject, a large one a
 * multipart upload of whole parts plus a short last one, an empty object
 * exists with no bytes, a dropped object leaves nothing behind, and objects
 * written from several threads at once land whole. */
#include <pthread.h>

#include "itest.h"
#include "common/s3_pool.h"
#include "transcode/s3_sink.h"

#define PART (5u * 1024 * 1024)

typedef struct fixture {
    mc_s3_config cfg;
    mc_s3_pool *pool;
    mc_s3 *s3;
    char prefix[128];
    mc_sink sink;
    mc_s3_sink s3sink;
} fixture;

typedef struct readback {
    uint8_t *data;
    size_t len, cap;
} readback;

static int collect(void *ctx, const char *data, size_t len) {
    readback *r = ctx;
    if (r->len + len > r->cap) {
        r->cap = (r->len + len) * 2;
        r->data = realloc(r->data, r->cap);
    }
    memcpy(r->data + r->len, data, len);
    r->len += len;
    return 0;
}

static uint8_t pattern(size_t i, unsigned seed) { return (uint8_t)((i * 2654435761u) >> 13 ^ seed); }

/* Writes len pattern bytes as object name in chunks of `chunk`. */
static void write_object(fixture *f, const char *name, size_t len, size_t chunk, unsigned seed,
                         bool commit) {
    mc_err err = {0};
    void *o = f->sink.open(f->sink.ud, name, NULL, &err);
    if (!o) fail_msg("open %s: %s", name, err.msg);
    uint8_t *buf = malloc(chunk);
    for (size_t done = 0; done < len;) {
        size_t n = len - done < chunk ? len - done : chunk;
        for (size_t i = 0; i < n; i++) buf[i] = pattern(done + i, seed);
        if (f->sink.write(f->sink.ud, o, buf, n, &err) < 0) fail_msg("write %s: %s", name, err.msg);
        done += n;
    }
    free(buf);
    if (f->sink.close(f->sink.ud, o, commit, &err) < 0) fail_msg("close %s: %s", name, err.msg);
}

static void expect_object(fixture *f, const char *name, size_t len, unsigned seed,
                          const char *content_type) {
    char key[512];
    snprintf(key, sizeof key, "%s%s", f->prefix, name);
    readback r = {0};
    mc_s3_object_info info = {0};
    mc_err err = {0};
    if (mc_s3_get_object(f->s3, key, NULL, collect, &r, &info, &err) < 0)
        fail_msg("GET %s: %s", key, err.msg);
    assert_int_equal(r.len, len);
    for (size_t i = 0; i < len; i++)
        if (r.data[i] != pattern(i, seed)) fail_msg("%s: byte %zu differs", key, i);
    if (content_type) assert_string_equal(info.content_type, content_type);
    free(r.data);
    assert_int_equal(mc_s3_delete_object(f->s3, key, &err), 0);
}

static void expect_absent(fixture *f, const char *name) {
    char key[512];
    snprintf(key, sizeof key, "%s%s", f->prefix, name);
    mc_s3_object_info info = {0};
    mc_err err = {0};
    assert_int_equal(mc_s3_head_object(f->s3, key, &info, &err), -1);
    assert_int_equal(err.kind, MC_ERR_NOT_FOUND);
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    itest_s3_config(&f->cfg);
    mc_err err = {0};
    f->pool = mc_s3_pool_new(&f->cfg);
    f->s3 = mc_s3_new(&f->cfg, &err);
    if (!f->pool || !f->s3) fail_msg("s3: %s", err.msg);
    char unique[96];
    itest_unique(unique, sizeof unique, "itest-s3-sink");
    snprintf(f->prefix, sizeof f->prefix, "%s/", unique);
    if (mc_s3_sink_init(&f->sink, &f->s3sink, f->pool, f->prefix, PART, &err) < 0)
        fail_msg("sink: %s", err.msg);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    mc_s3_free(f->s3);
    mc_s3_pool_free(f->pool);
    free(f);
    return 0;
}

static void test_small_object_is_one_put(void **state) {
    fixture *f = *state;
    write_object(f, "hls/720p/index.m3u8", 3000, 700, 1, true);
    assert_int_equal(atomic_load(&f->s3sink.multipart_objects), 0);
    expect_object(f, "hls/720p/index.m3u8", 3000, 1, "application/vnd.apple.mpegurl");
}

static void test_large_object_is_multipart(void **state) {
    fixture *f = *state;
    size_t len = 2 * PART + 12345;   /* two whole parts and a short last one */
    write_object(f, "720p.mp4", len, 1 << 20, 2, true);
    assert_int_equal(atomic_load(&f->s3sink.multipart_objects), 1);
    assert_int_equal(atomic_load(&f->s3sink.bytes), len);
    expect_object(f, "720p.mp4", len, 2, "video/mp4");
}

static void test_exactly_one_part_is_one_put(void **state) {
    fixture *f = *state;
    write_object(f, "exact.m4s", PART, 65536, 3, true);
    assert_int_equal(atomic_load(&f->s3sink.multipart_objects), 0);
    expect_object(f, "exact.m4s", PART, 3, NULL);
}

static void test_empty_object(void **state) {
    fixture *f = *state;
    write_object(f, "empty.txt", 0, 1, 4, true);
    expect_object(f, "empty.txt", 0, 4, NULL);
}

static void test_dropped_objects_leave_nothing(void **state) {
    fixture *f = *state;
    write_object(f, "dropped-small.m4s", 1000, 100, 5, false);
    write_object(f, "dropped-large.mp4", PART + 1, 1 << 20, 6, false);
    expect_absent(f, "dropped-small.m4s");
    expect_absent(f, "dropped-large.mp4");
    assert_int_equal(atomic_load(&f->s3sink.objects), 0);
}

typedef struct writer {
    fixture *f;
    char name[32];
    unsigned seed;
} writer;

static void *write_thread(void *arg) {
    writer *w = arg;
    write_object(w->f, w->name, PART + 1000 * w->seed, 300000, w->seed, true);
    return NULL;
}

static void test_rung_threads_write_in_parallel(void **state) {
    fixture *f = *state;
    writer ws[4];
    pthread_t t[4];
    for (unsigned i = 0; i < 4; i++) {
        ws[i] = (writer){.f = f, .seed = 10 + i};
        snprintf(ws[i].name, sizeof ws[i].name, "rung%u.mp4", i);
        pthread_create(&t[i], NULL, write_thread, &ws[i]);
    }
    for (unsigned i = 0; i < 4; i++) pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&f->s3sink.objects), 4);
    for (unsigned i = 0; i < 4; i++) expect_object(f, ws[i].name, PART + 1000 * ws[i].seed, ws[i].seed, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_small_object_is_one_put, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_object_is_multipart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exactly_one_part_is_one_put, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dropped_objects_leave_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rung_threads_write_in_parallel, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
