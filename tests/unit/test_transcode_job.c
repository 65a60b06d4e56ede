/* Unit tests of the transcode job message parser and the worker's event and
 * dead-letter JSON (transcode/job.c). */
#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "transcode/job.h"

#define UPLOAD_JOB                                                                      \
    "{\"v\":1,\"job_id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\",\"video_id\":"         \
    "\"0b9a2e3c-5b1f-4a4e-9d53-1f6f0d8b9a11\",\"tenant\":\"local\",\"source_key\":"       \
    "\"sources/local/0b9a2e3c-5b1f-4a4e-9d53-1f6f0d8b9a11/source\",\"preset\":\"default\"," \
    "\"attempt\":1}"

static int parse(const char *text, mc_transcode_job *job, mc_err *err) {
    return mc_transcode_job_parse(text, strlen(text), job, err);
}

static void test_upload_job_parses(void **state) {
    (void)state;
    mc_transcode_job job;
    mc_err err = {0};
    assert_int_equal(parse(UPLOAD_JOB, &job, &err), 0);
    assert_string_equal(job.job_id, "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
    assert_string_equal(job.video_id, "0b9a2e3c-5b1f-4a4e-9d53-1f6f0d8b9a11");
    assert_string_equal(job.tenant, "local");
    assert_string_equal(job.preset, "default");
    char prefix[512];
    assert_int_equal(mc_transcode_attempt_prefix(&job, 2, prefix, sizeof prefix), 0);
    assert_string_equal(prefix, "videos/local/0b9a2e3c-5b1f-4a4e-9d53-1f6f0d8b9a11/attempts/"
                                "1b4e28ba-2fa1-11d2-883f-0016d3cca427-2/");
}

static void test_preset_defaults_and_unknown_fields_pass(void **state) {
    (void)state;
    mc_transcode_job job;
    mc_err err = {0};
    assert_int_equal(parse("{\"v\":1,\"job_id\":\"j\",\"video_id\":\"v\",\"tenant\":\"t\","
                           "\"source_key\":\"k\",\"later\":[1]}", &job, &err), 0);
    assert_string_equal(job.preset, "default");
}

static void expect_refused(const char *text, const char *needle) {
    mc_transcode_job job;
    mc_err err = {0};
    assert_int_equal(parse(text, &job, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);
    if (!strstr(err.msg, needle)) fail_msg("\"%s\" not in \"%s\"", needle, err.msg);
}

static void test_refusals_name_the_field(void **state) {
    (void)state;
    expect_refused("[1]", "object");
    expect_refused("{\"v\":2,\"job_id\":\"j\",\"video_id\":\"v\",\"tenant\":\"t\",\"source_key\":\"k\"}",
                   "version 2");
    expect_refused("{\"v\":1,\"video_id\":\"v\",\"tenant\":\"t\",\"source_key\":\"k\"}", "job_id");
    expect_refused("{\"v\":1,\"job_id\":\"../x\",\"video_id\":\"v\",\"tenant\":\"t\",\"source_key\":\"k\"}",
                   "job_id");
    expect_refused("{\"v\":1,\"job_id\":\"j\",\"video_id\":\"v\",\"tenant\":\"t/u\",\"source_key\":\"k\"}",
                   "tenant");
    expect_refused("{\"v\":1,\"job_id\":\"j\",\"video_id\":\"v\",\"tenant\":\"t\",\"source_key\":\"\"}",
                   "source_key");
    expect_refused("{\"v\":1,\"job_id\":\"j\",\"video_id\":\"v\",\"tenant\":\"t\",\"source_key\":\"a\\nb\"}",
                   "control");
    expect_refused("{\"v\":1,\"job_id\":\"j\",\"video_id\":\"v\",\"tenant\":\"t\",\"source_key\":\"k\","
                   "\"preset\":\"4k\"}", "unknown preset");
    expect_refused("{\"v\":1,\"job_id\":\"j\",\"video_id\":\"0123456789012345678901234567890123456\","
                   "\"tenant\":\"t\",\"source_key\":\"k\"}", "video_id");
}

static void test_event_json(void **state) {
    (void)state;
    mc_transcode_job job;
    mc_err err = {0};
    assert_int_equal(parse(UPLOAD_JOB, &job, &err), 0);
    mc_transcode_event e = {.type = "progress", .job = &job, .attempt = 1, .worker = "w",
                            .percent = 42.5, .fps = 120, .rungs = 4};
    char *text = mc_transcode_event_json(&e);
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "v")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "progress");
    assert_true(json_real_value(json_object_get(j, "percent")) == 42.5);
    assert_int_equal(json_integer_value(json_object_get(j, "rungs")), 4);
    json_decref(j);
    free(text);
}

static void test_dead_letter_keeps_the_job(void **state) {
    (void)state;
    char *text = mc_transcode_dlq_json(UPLOAD_JOB, strlen(UPLOAD_JOB), "not a media file", "invalid",
                                       1, "w");
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "job"), "tenant")), "local");
    assert_string_equal(json_string_value(json_object_get(j, "reason")), "not a media file");
    json_decref(j);
    free(text);
    text = mc_transcode_dlq_json("\xff\xfe", 2, "bad", "invalid", 0, "w");
    j = json_loads(text, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_string(json_object_get(j, "job")));
    json_decref(j);
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upload_job_parses),
        cmocka_unit_test(test_preset_defaults_and_unknown_fields_pass),
        cmocka_unit_test(test_refusals_name_the_field),
        cmocka_unit_test(test_event_json),
        cmocka_unit_test(test_dead_letter_keeps_the_job),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
