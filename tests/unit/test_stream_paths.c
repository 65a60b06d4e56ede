/* Unit tests of stream/paths: the outputs a request may name, their content
 * types, and every traversal spelling refused before any lookup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "stream/paths.h"

#define VIDEO "0b9f6a5e-2c1d-4e8f-9a7b-3c2d1e0f4a5b"
#define CRED "dev.1767225600.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde"
#define BASE "/v/" VIDEO "/" CRED "/"

static int parse(const char *path, mc_stream_target *t) {
    return mc_stream_target_parse(path, strlen(path), t);
}

static void test_outputs_accepted(void **state) {
    (void)state;
    static const struct {
        const char *path, *type;
    } ok[] = {
        {"720p.mp4", "video/mp4"},
        {"1080p.mp4", "video/mp4"},
        {"abcdefghij012345.mp4", "video/mp4"},
        {"hls/master.m3u8", "application/vnd.apple.mpegurl"},
        {"hls/720p/index.m3u8", "application/vnd.apple.mpegurl"},
        {"hls/720p/init.mp4", "video/mp4"},
        {"hls/720p/seg_00001.m4s", "video/iso.segment"},
        {"hls/360p/seg_1.m4s", "video/iso.segment"},
        {"hls/360p/seg_123456789.m4s", "video/iso.segment"},
        {"thumbs/poster.jpg", "image/jpeg"},
        {"thumbs/thumb_0001.jpg", "image/jpeg"},
        {"hls/a/2aab524d-510f-5b88-8a8b-29f39a774d8e-1/master.m3u8", "application/vnd.apple.mpegurl"},
        {"hls/a/job-12/720p/index.m3u8", "application/vnd.apple.mpegurl"},
        {"hls/a/job-12/720p/init.mp4", "video/mp4"},
        {"hls/a/job-12/360p/seg_00001.m4s", "video/iso.segment"},
        {"", "text/html; charset=utf-8"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char req[256];
        snprintf(req, sizeof req, BASE "%s", ok[i].path);
        mc_stream_target t;
        if (parse(req, &t) != 0) fail_msg("refused '%s'", req);
        assert_string_equal(t.video, VIDEO);
        assert_string_equal(t.cred, CRED);
        assert_string_equal(t.path, ok[i].path);
        assert_string_equal(t.content_type, ok[i].type);
        assert_string_equal(mc_stream_content_type(ok[i].path), ok[i].type);
        assert_int_equal(mc_stream_output_path_valid(ok[i].path), ok[i].path[0] != '\0');
    }
}

static void test_bad_output_paths(void **state) {
    (void)state;
    static const char *const bad[] = {
        "../720p.mp4", "..", ".", "hls/../720p.mp4", "hls/720p/../../x.mp4", "hls//master.m3u8",
        "hls/720p//index.m3u8", "/720p.mp4", "720p.mp4/", "720P.mp4", "720p.MP4", "720p.mp4 ",
        " 720p.mp4", "720p.mp4.mp4", ".mp4", "720p.m4s", "hls\\720p\\index.m3u8",
        "hls/720p\\index.m3u8", "hls/%2e%2e/index.m3u8", "%2e%2e/720p.mp4", "hls%2Fmaster.m3u8",
        "hls/master.m3u8/", "hls/index.m3u8", "hls/720p/index.m3u8x", "hls/720p/seg_.m4s",
        "hls/720p/seg_1234567890.m4s", "hls/720p/seg_-1.m4s", "hls/720p/seg_1.mp4",
        "hls/720p/seg_1a.m4s", "hls/abcdefghij0123456/index.m3u8", "abcdefghij0123456.mp4",
        "thumbs/poster.png", "thumbs/thumb_.jpg", "thumbs/../poster.jpg", "thumbs/x/poster.jpg",
        "thumbs/thumb_1234567890.jpg", "source.mov", "hls/720p/init.mp4/x", "hls/7_0p/init.mp4",
        "hls/7-0p/init.mp4", "uploads/x/tail.1", "720p.mp4?x=1", "720p.mp4#a", "~/720p.mp4",
        "hls/a/master.m3u8", "hls/a//master.m3u8", "hls/a/../master.m3u8", "hls/a/Job-1/master.m3u8",
        "hls/a/job_1/master.m3u8", "hls/a/job-1/720p.mp4", "hls/a/job-1/thumbs/poster.jpg",
        "hls/a/job-1/a/job-2/master.m3u8", "hls/a/job-1/720p/../index.m3u8", "a/job-1/hls/master.m3u8",
        "hls/a/0123456789012345678901234567890123456789012345678901234567890123456789012345678901/master.m3u8",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (mc_stream_output_path_valid(bad[i])) fail_msg("accepted output path '%s'", bad[i]);
        assert_null(mc_stream_content_type(bad[i]));
        char req[256];
        snprintf(req, sizeof req, BASE "%s", bad[i]);
        mc_stream_target t;
        if (parse(req, &t) != -1) fail_msg("accepted request '%s'", req);
        assert_string_equal(t.video, "");
        assert_string_equal(t.path, "");
        assert_null(t.content_type);
    }
    assert_false(mc_stream_output_path_valid(NULL));
    assert_false(mc_stream_output_path_valid(""));
    assert_null(mc_stream_content_type(NULL));
}

static void test_bad_requests(void **state) {
    (void)state;
    static const char *const bad[] = {
        "",
        "/",
        "/v/",
        "/v/" VIDEO,
        "/v/" VIDEO "/",
        "/v/" VIDEO "/" CRED,               /* the page needs its trailing '/' */
        "/v/" VIDEO "//720p.mp4",           /* empty credential */
        "//v/" VIDEO "/" CRED "/720p.mp4",
        "/v//" VIDEO "/" CRED "/720p.mp4",
        "/V/" VIDEO "/" CRED "/720p.mp4",
        "v/" VIDEO "/" CRED "/720p.mp4",
        "/x/" VIDEO "/" CRED "/720p.mp4",
        "/v/0B9F6A5E-2C1D-4E8F-9A7B-3C2D1E0F4A5B/" CRED "/720p.mp4", /* uppercase UUID */
        "/v/0b9f6a5e2c1d4e8f9a7b3c2d1e0f4a5b/" CRED "/720p.mp4",     /* no dashes */
        "/v/0b9f6a5e-2c1d-4e8f-9a7b-3c2d1e0f4a5/" CRED "/720p.mp4",  /* short */
        "/v/0b9f6a5e-2c1d-4e8f-9a7b-3c2d1e0f4a5bb/" CRED "/720p.mp4",
        "/v/0b9f6a5e-2c1d-4e8f-9a7b_3c2d1e0f4a5b/" CRED "/720p.mp4",
        "/v/0b9f6a5e-2c1d-4e8f-9a7b-3c2d1e0f4a5g/" CRED "/720p.mp4",
        "/v/../" CRED "/720p.mp4",
        "/v/" VIDEO "/../720p.mp4",          /* ".." as the credential */
        "/v/" VIDEO "/./720p.mp4",
        "/v/" VIDEO "/" CRED "/../720p.mp4",
        "/v/" VIDEO "/" CRED "/hls/../../x",
        "/v/" VIDEO "/" CRED "//720p.mp4",
        "/v/" VIDEO "/" CRED "\\720p.mp4",
        "/v/" VIDEO "/dev.1.a\\b/720p.mp4",
        "/v/" VIDEO "/dev.1.a%2Fb/720p.mp4",
        "/v/" VIDEO "/dev 1/720p.mp4",
        "/v/" VIDEO "/" CRED "/hls/720p/seg_00001.m4s?",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mc_stream_target t;
        if (parse(bad[i], &t) != -1) fail_msg("accepted request '%s'", bad[i]);
    }
    mc_stream_target t;
    assert_int_equal(mc_stream_target_parse(NULL, 0, &t), -1);
}

static void test_length_bounds(void **state) {
    (void)state;
    mc_stream_target t;
    char req[512];
    /* A credential that does not fit is refused, not cut. */
    char cred[MC_PLAYBACK_CRED_MAX + 1];
    memset(cred, 'a', sizeof cred - 1);
    cred[sizeof cred - 1] = '\0';
    snprintf(req, sizeof req, "/v/" VIDEO "/%s/720p.mp4", cred);
    assert_int_equal(parse(req, &t), -1);
    cred[MC_PLAYBACK_CRED_MAX - 1] = '\0';
    snprintf(req, sizeof req, "/v/" VIDEO "/%s/720p.mp4", cred);
    assert_int_equal(parse(req, &t), 0);
    assert_int_equal(strlen(t.cred), MC_PLAYBACK_CRED_MAX - 1);
    /* An over-long rung. */
    assert_int_equal(parse(BASE "hls/abcdefghijklmnopq/index.m3u8", &t), -1);
    assert_int_equal(parse(BASE "hls/abcdefghijklmnop/index.m3u8", &t), 0);
    /* A path longer than the target's buffer. */
    snprintf(req, sizeof req, BASE "%0100d.mp4", 7);
    assert_int_equal(parse(req, &t), -1);
}

static void test_attempt_paths(void **state) {
    (void)state;
    size_t len = 0;
    char rel[128];
    const char *a = mc_stream_attempt_path("hls/a/job-12/720p/seg_00003.m4s", &len, rel, sizeof rel);
    assert_non_null(a);
    assert_int_equal(len, 6);
    assert_memory_equal(a, "job-12", 6);
    assert_string_equal(rel, "hls/720p/seg_00003.m4s");
    assert_non_null(mc_stream_attempt_path("hls/a/j-1/master.m3u8", &len, rel, sizeof rel));
    assert_string_equal(rel, "hls/master.m3u8");
    assert_null(mc_stream_attempt_path("hls/720p/index.m3u8", &len, rel, sizeof rel));
    assert_null(mc_stream_attempt_path("hls/a/../master.m3u8", &len, rel, sizeof rel));
}

static void test_nul_and_len(void **state) {
    (void)state;
    mc_stream_target t;
    static const char with_nul[] = BASE "720p.mp4\0/../../etc/passwd";
    assert_int_equal(mc_stream_target_parse(with_nul, sizeof with_nul - 1, &t), -1);
    static const char nul_mid[] = BASE "720p\0.mp4";
    assert_int_equal(mc_stream_target_parse(nul_mid, sizeof nul_mid - 1, &t), -1);
    static const char nul_video[] = "/v/0b9f6a5e-2c1d-4e8f-9a7b-3c2d1e0f4a5\0/" CRED "/720p.mp4";
    assert_int_equal(mc_stream_target_parse(nul_video, sizeof nul_video - 1, &t), -1);
    /* len is honoured: the bytes after it are not part of the request. */
    static const char longer[] = BASE "720p.mp4XYZ";
    assert_int_equal(mc_stream_target_parse(longer, sizeof longer - 4, &t), 0);
    assert_string_equal(t.path, "720p.mp4");
    assert_int_equal(mc_stream_target_parse(longer, sizeof longer - 5, &t), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outputs_accepted),
        cmocka_unit_test(test_bad_output_paths),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_length_bounds),
        cmocka_unit_test(test_attempt_paths),
        cmocka_unit_test(test_nul_and_len),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
