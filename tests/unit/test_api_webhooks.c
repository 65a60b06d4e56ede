/* Unit tests of mcloud-api's webhook logic (api/webhook_core.h): the
 * Standard Webhooks signature against the scheme's published test vector,
 * secrets, endpoint bodies and URLs (private addresses), event filters,
 * the mapping of Kafka messages to video events and their ids, payloads,
 * retry delays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "api/webhook_core.h"
#include "common/json.h"

/* The test vector of the Standard Webhooks reference libraries. */
static void test_sign_vector(void **state) {
    (void)state;
    char sig[MC_WH_SIGNATURE_MAX];
    mc_err err = {0};
    const char *body = "{\"test\": 2432232314}";
    assert_int_equal(mc_wh_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                                1614265330, body, strlen(body), sig, &err), 0);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    /* another timestamp, another signature */
    char other[MC_WH_SIGNATURE_MAX];
    assert_int_equal(mc_wh_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                                1614265331, body, strlen(body), other, &err), 0);
    assert_string_not_equal(sig, other);
    mc_err e2 = {0};
    assert_int_equal(mc_wh_sign("whsec_***", "m", 1, "", 0, sig, &e2), -1);
    assert_int_equal(e2.kind, MC_ERR_INVALID);
}

static void test_secret(void **state) {
    (void)state;
    char a[MC_WH_SECRET_MAX], b[MC_WH_SECRET_MAX], sig[MC_WH_SIGNATURE_MAX];
    mc_err err = {0};
    assert_int_equal(mc_wh_secret_new(a, &err), 0);
    assert_int_equal(mc_wh_secret_new(b, &err), 0);
    assert_int_equal(strncmp(a, "whsec_", 6), 0);
    assert_int_equal(strlen(a), 6 + 32);
    assert_string_not_equal(a, b);
    assert_int_equal(mc_wh_sign(a, "evt_1", 1, "{}", 2, sig, &err), 0); /* it signs */
}

static int url(const char *u, bool allow) {
    mc_err err = {0};
    int rc = mc_wh_url_check(u, allow, &err);
    if (rc < 0) {
        assert_int_equal(err.kind, MC_ERR_INVALID);
        assert_non_null(strstr(err.msg, "'url'"));
    }
    return rc;
}

static void test_url(void **state) {
    (void)state;
    const char *good[] = {"https://example.com/hooks", "http://example.com", "HTTPS://a.b:8443/x?y=1#z",
                          "http://[2001:db8::1]:80/", "http://93.184.216.34/"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) assert_int_equal(url(good[i], false), 0);
    const char *bad[] = {"", "ftp://example.com/", "example.com", "http://", "http:///x",
                         "http://user:pw@example.com/", "http://exa mple.com/", "http://ex\x01.com/",
                         "http://example.com:0/", "http://example.com:65536/", "http://example.com:8a/",
                         "http://[::1/", "http://[zz]/", "http://ex_ample.com/", "http://é.com/"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) assert_int_equal(url(bad[i], true), -1);
    const char *private_[] = {"http://127.0.0.1/", "http://10.0.0.1/", "http://172.16.5.4/",
                              "http://192.168.0.1/", "http://169.254.169.254/", "http://0.0.0.0/",
                              "http://100.64.0.1/", "http://[::1]/", "http://[fe80::1]/",
                              "http://[fd00::1]/", "http://[::ffff:127.0.0.1]/", "http://localhost:80/",
                              "http://a.localhost/", "http://224.0.0.1/"};
    for (size_t i = 0; i < sizeof private_ / sizeof *private_; i++) {
        assert_int_equal(url(private_[i], false), -1);
        assert_int_equal(url(private_[i], true), 0);
    }
    char longer[2100];
    memset(longer, 'a', sizeof longer - 1);
    memcpy(longer, "http://x/", 9);
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(url(longer, true), -1);
}

static void test_addr_private(void **state) {
    (void)state;
    struct sockaddr_in s4 = {.sin_family = AF_INET};
    inet_pton(AF_INET, "8.8.8.8", &s4.sin_addr);
    assert_false(mc_wh_addr_private((struct sockaddr *)&s4));
    inet_pton(AF_INET, "172.32.0.1", &s4.sin_addr); /* just outside 172.16/12 */
    assert_false(mc_wh_addr_private((struct sockaddr *)&s4));
    inet_pton(AF_INET, "172.31.255.255", &s4.sin_addr);
    assert_true(mc_wh_addr_private((struct sockaddr *)&s4));
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "2606:4700::1", &s6.sin6_addr);
    assert_false(mc_wh_addr_private((struct sockaddr *)&s6));
    inet_pton(AF_INET6, "::ffff:10.0.0.1", &s6.sin6_addr);
    assert_true(mc_wh_addr_private((struct sockaddr *)&s6));
    struct sockaddr other = {.sa_family = AF_UNIX};
    assert_true(mc_wh_addr_private(&other));
}

static json_t *obj(const char *s) {
    mc_err err = {0};
    json_t *o = mc_json_parse_object(s, strlen(s), &err);
    assert_non_null(o);
    return o;
}

static void test_endpoint_body(void **state) {
    (void)state;
    mc_wh_endpoint_req r;
    mc_err err = {0};
    json_t *b = obj("{\"url\":\"https://example.com/h\",\"description\":\"d\","
                    "\"events\":[\"video.ready\",\"video.failed\"],\"enabled\":false}");
    assert_int_equal(mc_wh_endpoint_parse(b, true, false, &r, &err), 0);
    assert_string_equal(r.url, "https://example.com/h");
    assert_true(r.has_events);
    assert_int_equal(r.events, MC_WH_READY | MC_WH_FAILED);
    assert_true(r.has_enabled);
    assert_false(r.enabled);
    json_decref(b);
    struct { const char *body; bool create; const char *field; } bad[] = {
        {"{}", true, "'url'"},
        {"{}", false, "nothing to change"},
        {"{\"url\":1}", true, "'url'"},
        {"{\"url\":\"https://e.com\",\"events\":[]}", true, "'events'"},
        {"{\"url\":\"https://e.com\",\"events\":\"video.ready\"}", true, "'events'"},
        {"{\"url\":\"https://e.com\",\"events\":[\"video.nope\"]}", true, "'events'"},
        {"{\"url\":\"https://e.com\",\"events\":[1]}", true, "'events'"},
        {"{\"url\":\"https://e.com\",\"enabled\":1}", true, "'enabled'"},
        {"{\"url\":\"https://e.com\",\"secret\":\"x\"}", true, "'secret'"},
        {"{\"description\":5}", false, "'description'"},
        {"{\"url\":\"http://127.0.0.1/\"}", true, "'url'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mc_err e = {0};
        b = obj(bad[i].body);
        assert_int_equal(mc_wh_endpoint_parse(b, bad[i].create, false, &r, &e), -1);
        assert_int_equal(e.kind, MC_ERR_INVALID);
        if (!strstr(e.msg, bad[i].field)) fail_msg("%s: '%s' does not name %s", bad[i].body, e.msg, bad[i].field);
        json_decref(b);
    }
    b = obj("{\"enabled\":true}");
    assert_int_equal(mc_wh_endpoint_parse(b, false, false, &r, &err), 0);
    assert_null(r.url);
    json_decref(b);
}

static void test_filter(void **state) {
    (void)state;
    char buf[96];
    assert_int_equal(mc_wh_filter_parse(""), MC_WH_ALL);
    assert_int_equal(mc_wh_filter_parse("video.ready  video.deleted"), MC_WH_READY | MC_WH_DELETED);
    assert_int_equal(mc_wh_filter_parse("bogus"), MC_WH_ALL); /* nothing known: every type */
    mc_wh_filter_format(MC_WH_READY | MC_WH_FAILED, buf, sizeof buf);
    assert_string_equal(buf, "video.ready video.failed");
    mc_wh_filter_format(MC_WH_ALL, buf, sizeof buf);
    assert_string_equal(buf, "");
    mc_wh_filter_format(MC_WH_UPLOAD_COMPLETED, buf, sizeof buf);
    assert_int_equal(mc_wh_filter_parse(buf), MC_WH_UPLOAD_COMPLETED);
    assert_string_equal(mc_wh_type_name(MC_WH_DELETED), "video.deleted");
    assert_null(mc_wh_type_name(3));
    assert_int_equal(mc_wh_type_bit("video.upload.completed"), MC_WH_UPLOAD_COMPLETED);
}

static int msg(mc_wh_source src, const char *s, mc_wh_event *ev) {
    mc_err err = {0};
    int rc = mc_wh_event_from_message(src, s, strlen(s), ev, &err);
    if (rc < 0) assert_int_equal(err.kind, MC_ERR_INVALID);
    return rc;
}

static void test_events(void **state) {
    (void)state;
    mc_wh_event a, b;
    const char *job = "{\"v\":1,\"type\":\"video.upload.completed\",\"job_id\":\"j-1\","
                      "\"video_id\":\"v-1\",\"tenant\":\"t1\",\"upload_id\":\"u1\"}";
    assert_int_equal(msg(MC_WH_SOURCE_VIDEO, job, &a), 1);
    assert_int_equal(a.type, MC_WH_UPLOAD_COMPLETED);
    assert_string_equal(a.tenant, "t1");
    assert_string_equal(a.video, "v-1");
    assert_int_equal(strlen(a.id), MC_WH_EVENT_ID_LEN);
    assert_int_equal(strncmp(a.id, "evt_", 4), 0);
    assert_int_equal(msg(MC_WH_SOURCE_VIDEO, job, &b), 1); /* redelivered: the same id */
    assert_string_equal(a.id, b.id);
    assert_int_equal(msg(MC_WH_SOURCE_TRANSCODE, "{\"type\":\"done\",\"job_id\":\"j-1\",\"video_id\":"
                         "\"v-1\",\"tenant\":\"t1\",\"duration_s\":2.5}", &b), 1);
    assert_int_equal(b.type, MC_WH_READY);
    assert_string_not_equal(a.id, b.id);
    assert_true(b.duration_s == 2.5);
    assert_int_equal(msg(MC_WH_SOURCE_TRANSCODE, "{\"type\":\"failed\",\"job_id\":\"j-1\",\"video_id\":"
                         "\"v-1\",\"tenant\":\"t1\",\"final\":true,\"reason\":\"not media\"}", &b), 1);
    assert_int_equal(b.type, MC_WH_FAILED);
    assert_string_equal(b.reason, "not media");
    assert_int_equal(msg(MC_WH_SOURCE_TRANSCODE, "{\"type\":\"failed\",\"job_id\":\"j-1\",\"video_id\":"
                         "\"v-1\",\"tenant\":\"t1\",\"final\":false}", &b), 0);
    assert_int_equal(msg(MC_WH_SOURCE_TRANSCODE, "{\"type\":\"progress\",\"job_id\":\"j\",\"video_id\":"
                         "\"v\",\"tenant\":\"t\"}", &b), 0);
    const char *bad[] = {"", "[]", "{", "{\"job_id\":\"j\",\"video_id\":\"v\"}",
                         "{\"job_id\":\"j/../x\",\"video_id\":\"v\",\"tenant\":\"t\"}",
                         "{\"job_id\":\"j\",\"video_id\":7,\"tenant\":\"t\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(msg(MC_WH_SOURCE_VIDEO, bad[i], &b), -1);
    /* The upload's failure (a non-media file): video.failed with its reason. */
    assert_int_equal(msg(MC_WH_SOURCE_VIDEO, "{\"type\":\"video.failed\",\"job_id\":\"j-2\","
                         "\"video_id\":\"v-2\",\"tenant\":\"t1\",\"reason\":\"not a media file\"}",
                         &b), 1);
    assert_int_equal(b.type, MC_WH_FAILED);
    assert_string_equal(b.reason, "not a media file");
    assert_string_equal(b.video, "v-2");
    assert_int_equal(msg(MC_WH_SOURCE_VIDEO, "{\"type\":\"video.exploded\",\"job_id\":\"j\","
                         "\"video_id\":\"v\",\"tenant\":\"t\"}", &b), -1); /* unknown type */
    assert_int_equal(msg(MC_WH_SOURCE_VIDEO, "{\"type\":\"video.failed\",\"video_id\":\"v\","
                         "\"tenant\":\"t\"}", &b), -1); /* no job id */
    mc_wh_event del;
    assert_int_equal(msg(MC_WH_SOURCE_VIDEO, "{\"type\":\"video.deleted\",\"video_id\":\"v-1\","
                         "\"tenant\":\"t1\"}", &del), 1);
    assert_int_equal(msg(MC_WH_SOURCE_TRANSCODE, "{\"job_id\":\"j\",\"video_id\":\"v\",\"tenant\":\"t\"}",
                         &b), -1); /* no type */
    mc_wh_event done, implied;
    assert_int_equal(msg(MC_WH_SOURCE_TRANSCODE, "{\"type\":\"done\",\"job_id\":\"j-1\",\"video_id\":"
                         "\"v-1\",\"tenant\":\"t1\"}", &done), 1);
    mc_wh_event_completed_of(&done, &implied);
    assert_string_equal(implied.id, a.id); /* the video events topic's, the same id */
    assert_int_equal(implied.type, MC_WH_UPLOAD_COMPLETED);
    mc_wh_event d1, d2;
    mc_wh_event_deleted("t1", "v-1", &d1);
    mc_wh_event_deleted("t1", "v-1", &d2);
    assert_string_equal(d1.id, d2.id);
    assert_string_equal(d1.id, del.id); /* from the topic or the API itself: one event */
    assert_int_equal(d1.type, MC_WH_DELETED);
    json_t *p = mc_wh_event_payload(&a, 1700000000123456);
    assert_string_equal(json_string_value(json_object_get(p, "type")), "video.upload.completed");
    assert_string_equal(json_string_value(json_object_get(p, "timestamp")), "2023-11-14T22:13:20.123456Z");
    json_t *data = json_object_get(p, "data");
    assert_string_equal(json_string_value(json_object_get(data, "video_id")), "v-1");
    assert_string_equal(json_string_value(json_object_get(data, "status")), "uploaded");
    json_decref(p);
}

static void test_retry_delay(void **state) {
    (void)state;
    for (unsigned f = 1; f < 40; f++)
        for (uint32_t rnd = 0; rnd < 5000; rnd += 997) {
            unsigned d = mc_wh_retry_delay_ms(1000, 60000, f, rnd * 1234567u);
            unsigned full = f > 7 ? 60000 : 1000u << (f - 1);
            if (full > 60000) full = 60000;
            assert_true(d >= full / 2 && d <= full);
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_vector), cmocka_unit_test(test_secret),
        cmocka_unit_test(test_url),         cmocka_unit_test(test_addr_private),
        cmocka_unit_test(test_endpoint_body), cmocka_unit_test(test_filter),
        cmocka_unit_test(test_events),      cmocka_unit_test(test_retry_delay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
