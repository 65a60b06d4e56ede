/* The probe helper's result as mcloud-upload reads it (upload/probe.h):
 * media, not media, an S3 failure, and documents a crashed or hostile
 * helper could write, each rejected naming the field. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "upload/probe.h"

static int parse(const char *text, mc_upload_probe *p, mc_err *err) {
    memset(err, 0, sizeof *err);
    return mc_upload_probe_parse(text, strlen(text), p, err);
}

static void test_media(void **state) {
    (void)state;
    mc_upload_probe p;
    mc_err err;
    assert_int_equal(parse("{\"media\":true,\"container\":\"mov,mp4\",\"duration_ms\":1000,"
                           "\"video_codec\":\"h264\",\"audio_codec\":\"aac\",\"width\":160,"
                           "\"height\":120,\"probe\":{\"streams\":[]}}", &p, &err), 0);
    assert_true(p.media);
    assert_string_equal(p.container, "mov,mp4");
    assert_string_equal(p.video_codec, "h264");
    assert_string_equal(p.audio_codec, "aac");
    assert_int_equal(p.duration_ms, 1000);
    assert_int_equal(p.width, 160);
    assert_int_equal(p.height, 120);
    assert_string_equal(p.json, "{\"streams\":[]}");
    mc_upload_probe_free(&p);
}

static void test_not_media_and_s3_error(void **state) {
    (void)state;
    mc_upload_probe p;
    mc_err err;
    assert_int_equal(parse("{\"media\":false,\"reason\":\"not a playable media file: x\"}", &p, &err), 0);
    assert_false(p.media);
    assert_string_equal(p.failure_reason, "not a playable media file: x");
    assert_null(p.json);
    assert_int_equal(parse("{\"error\":\"connection refused\"}", &p, &err), -1);
    assert_int_equal(err.kind, MC_ERR_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "connection refused"));
}

static void test_bad_results_name_the_field(void **state) {
    (void)state;
    static const struct {
        const char *doc, *field;
    } cases[] = {
        {"", "JSON object"},
        {"{\"media\":", "line"},
        {"[1]", "object"},
        {"{}", "media"},
        {"{\"media\":\"yes\"}", "media"},
        {"{\"media\":false}", "reason"},
        {"{\"media\":false,\"reason\":7}", "reason"},
        {"{\"media\":true,\"video_codec\":\"h264\",\"probe\":{}}", "container"},
        {"{\"media\":true,\"container\":\"mp4\",\"probe\":{}}", "codec"},
        {"{\"media\":true,\"container\":\"mp4\",\"video_codec\":\"h264\",\"width\":-1,\"probe\":{}}", "width"},
        {"{\"media\":true,\"container\":\"mp4\",\"video_codec\":\"h264\",\"duration_ms\":1.5,\"probe\":{}}", "duration_ms"},
        {"{\"media\":true,\"container\":\"mp4\",\"video_codec\":\"h264\"}", "probe"},
        {"{\"media\":true,\"container\":\"mp4\",\"video_codec\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\",\"probe\":{}}", "video_codec"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mc_upload_probe p;
        mc_err err;
        if (parse(cases[i].doc, &p, &err) != -1 || !strstr(err.msg, cases[i].field))
            fail_msg("%s: accepted or error without '%s': %s", cases[i].doc, cases[i].field, err.msg);
        assert_int_equal(err.kind, MC_ERR_INVALID);
        assert_null(p.json);
    }
}

static void test_request_carries_the_object(void **state) {
    (void)state;
    mc_s3_config c;
    mc_s3_config_init(&c);
    snprintf(c.endpoint, sizeof c.endpoint, "http://127.0.0.1:1");
    snprintf(c.bucket, sizeof c.bucket, "b");
    char *r = mc_upload_probe_request(&c, "sources/a/b/source", 12345, 256);
    assert_non_null(r);
    assert_non_null(strstr(r, "\"key\":\"sources/a/b/source\""));
    assert_non_null(strstr(r, "\"size\":12345"));
    assert_non_null(strstr(r, "\"max_alloc_mb\":256"));
    assert_non_null(strstr(r, "\"endpoint\":\"http://127.0.0.1:1\""));
    free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_media),
        cmocka_unit_test(test_not_media_and_s3_error),
        cmocka_unit_test(test_bad_results_name_the_field),
        cmocka_unit_test(test_request_carries_the_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
