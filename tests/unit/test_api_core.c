/* Unit tests of mcloud-api's pure logic (api/core.h): query strings, list
 * filters, cursors (round trip, tampering, another tenant), bodies and
 * metadata, scopes, header grammars, times, problems; and the token's
 * one-upload 'video' claim the direct uploads rely on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/core.h"
#include "common/json.h"

static const mc_token_key key = {"cursor", (const unsigned char *)"unit-cursor-secret-0123", 23};

static int parse(const char *qs, mc_api_query *q, mc_err *err) {
    return mc_api_query_parse(qs, strlen(qs), q, err);
}

static void test_query_split(void **state) {
    (void)state;
    mc_api_query q;
    mc_err err = {0};
    assert_int_equal(parse("limit=5&status=ready&created_after=2026-01-01T00%3A00%3A00Z&x=a+b", &q, &err), 0);
    assert_int_equal(q.count, 4);
    assert_string_equal(mc_api_query_get(&q, "created_after"), "2026-01-01T00:00:00Z");
    assert_string_equal(mc_api_query_get(&q, "x"), "a b");
    assert_null(mc_api_query_get(&q, "nope"));
    mc_api_query_free(&q);
    assert_int_equal(parse("", &q, &err), 0);
    assert_int_equal(q.count, 0);
    const char *bad[] = {"a=%zz", "a=%4", "a=1&a=2", "=x", "a=%00", NULL};
    for (const char **b = bad; *b; b++) {
        mc_err e = {0};
        assert_int_equal(parse(*b, &q, &e), -1);
        assert_int_equal(e.kind, MC_ERR_INVALID);
    }
    char many[400] = "";
    for (int i = 0; i < 20; i++) sprintf(many + strlen(many), "p%d=1&", i);
    assert_int_equal(parse(many, &q, &err), -1);
    assert_non_null(strstr(err.msg, "more than"));
}

static void test_list_params(void **state) {
    (void)state;
    mc_api_query q;
    mc_api_list_params p;
    mc_err err = {0};
    assert_int_equal(parse("", &q, &err), 0);
    assert_int_equal(mc_api_list_params_parse(&q, &p, &err), 0);
    assert_int_equal(p.limit, MC_API_LIST_DEFAULT_LIMIT);
    assert_int_equal(p.status, MC_API_STATUS_ANY);
    assert_true(p.created_after_us == INT64_MIN && p.created_before_us == INT64_MAX);
    mc_api_query_free(&q);
    assert_int_equal(parse("limit=100&status=failed&created_before=2026-01-01T00:00:01.5Z", &q, &err), 0);
    assert_int_equal(mc_api_list_params_parse(&q, &p, &err), 0);
    assert_int_equal(p.limit, 100);
    assert_int_equal(p.status, MC_API_STATUS_FAILED);
    assert_true(p.created_before_us == 1767225601500000LL);
    mc_api_query_free(&q);
    const char *bad[][2] = {{"limit=0", "limit"}, {"limit=101", "limit"},
                            {"limit=99999999999999999999", "limit"}, {"limit=-1", "limit"},
                            {"limit=1e3", "limit"}, {"status=deleted", "status"},
                            {"created_after=yesterday", "created_after"},
                            {"sort=asc", "sort"}, {"cursor=", "cursor"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mc_err e = {0};
        assert_int_equal(parse(bad[i][0], &q, &e), 0);
        assert_int_equal(mc_api_list_params_parse(&q, &p, &e), -1);
        assert_non_null(strstr(e.msg, bad[i][1]));
        mc_api_query_free(&q);
    }
}

static void test_cursor(void **state) {
    (void)state;
    mc_api_cursor c = {.created_us = 1767225600123456LL}, back;
    strcpy(c.id, "8d7ed14d-8a04-4be0-9b92-703117b5af87");
    char s[MC_API_CURSOR_MAX];
    mc_err err = {0};
    assert_int_equal(mc_api_cursor_encode(&key, "acme", &c, s, &err), 0);
    assert_null(strstr(s, "8d7ed14d") == NULL ? NULL : "readable"); /* opaque enough: base64 */
    assert_int_equal(mc_api_cursor_decode(&key, "acme", s, &back, &err), 0);
    assert_true(back.created_us == c.created_us);
    assert_string_equal(back.id, c.id);
    /* another tenant, every one-character edit, truncation, garbage: refused */
    assert_int_equal(mc_api_cursor_decode(&key, "other", s, &back, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);
    for (size_t i = 0; i < strlen(s); i++) {
        char t[MC_API_CURSOR_MAX];
        strcpy(t, s);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        mc_err e = {0};
        assert_int_equal(mc_api_cursor_decode(&key, "acme", t, &back, &e), -1);
    }
    char t[MC_API_CURSOR_MAX];
    strcpy(t, s);
    t[strlen(t) - 1] = '\0';
    assert_int_equal(mc_api_cursor_decode(&key, "acme", t, &back, &err), -1);
    assert_int_equal(mc_api_cursor_decode(&key, "acme", "", &back, &err), -1);
    assert_int_equal(mc_api_cursor_decode(&key, "acme", "x.y", &back, &err), -1);
    assert_int_equal(mc_api_cursor_decode(&key, "acme", "' OR 1=1 --", &back, &err), -1);
}

static json_t *obj(const char *text) {
    mc_err err = {0};
    json_t *j = mc_json_parse_object(text, strlen(text), &err);
    assert_non_null(j);
    return j;
}

static void expect_edit_error(const char *text, const char *needle) {
    json_t *j = obj(text);
    mc_api_video_edit e;
    mc_err err = {0};
    assert_int_equal(mc_api_video_edit_parse(j, &e, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);
    if (!strstr(err.msg, needle)) fail_msg("'%s': '%s' lacks '%s'", text, err.msg, needle);
    json_decref(j);
}

static void test_video_edit(void **state) {
    (void)state;
    json_t *j = obj("{\"title\":\"t\",\"metadata\":{\"k.1\":\"v\",\"a:b\":\"\"}}");
    mc_api_video_edit e;
    mc_err err = {0};
    assert_int_equal(mc_api_video_edit_parse(j, &e, &err), 0);
    assert_string_equal(e.title, "t");
    assert_null(e.description);
    assert_true(e.has_metadata && json_object_size(e.metadata) == 2);
    json_decref(j);
    j = obj("{\"metadata\":null}");
    assert_int_equal(mc_api_video_edit_parse(j, &e, &err), 0);
    assert_true(e.has_metadata && e.metadata == NULL);
    json_decref(j);
    expect_edit_error("{}", "nothing to change");
    expect_edit_error("{\"title\":5}", "'title' must be a string");
    expect_edit_error("{\"titel\":\"x\"}", "unknown field 'titel'");
    expect_edit_error("{\"metadata\":[]}", "'metadata' must be an object");
    expect_edit_error("{\"metadata\":{\"k\":1}}", "must be a string");
    expect_edit_error("{\"metadata\":{\"bad key\":\"v\"}}", "metadata keys");
    mc_err nul = {0}; /* a NUL inside a string is refused by the JSON reader itself */
    assert_null(mc_json_parse_object("{\"title\":\"a\\u0000b\"}", 20, &nul));
    char big[700];
    memset(big, 'x', sizeof big);
    big[sizeof big - 1] = '\0';
    char text[800];
    snprintf(text, sizeof text, "{\"title\":\"%s\"}", big);
    expect_edit_error(text, "longer than 512");
    char many[2048] = "{\"metadata\":{";
    for (int i = 0; i < 33; i++) sprintf(many + strlen(many), "%s\"k%d\":\"v\"", i ? "," : "", i);
    strcat(many, "}}");
    expect_edit_error(many, "more than 32 pairs");
}

static void test_upload_and_key_requests(void **state) {
    (void)state;
    mc_api_upload_request u;
    mc_err err = {0};
    json_t *j = obj("{\"title\":\"x\",\"max_size_bytes\":1000,\"expires_in_s\":600}");
    assert_int_equal(mc_api_upload_request_parse(j, 5000, 86400, &u, &err), 0);
    assert_int_equal(u.max_size_bytes, 1000);
    assert_int_equal(u.expires_in_s, 600);
    json_decref(j);
    const char *bad[] = {"{\"max_size_bytes\":0}", "{\"max_size_bytes\":5001}",
                         "{\"max_size_bytes\":\"1\"}", "{\"expires_in_s\":59}", "{\"video_id\":\"x\"}",
                         NULL};
    for (const char **b = bad; *b; b++) {
        j = obj(*b);
        assert_int_equal(mc_api_upload_request_parse(j, 5000, 86400, &u, &err), -1);
        json_decref(j);
    }
    mc_api_key_request k;
    j = obj("{\"name\":\"ci\",\"scopes\":[\"videos:read\",\"admin\"]}");
    assert_int_equal(mc_api_key_request_parse(j, &k, &err), 0);
    assert_int_equal(k.scopes, MC_API_SCOPE_VIDEOS_READ | MC_API_SCOPE_ADMIN);
    json_decref(j);
    const char *badk[] = {"{}", "{\"scopes\":[]}", "{\"scopes\":[\"root\"]}", "{\"scopes\":\"admin\"}",
                          "{\"scopes\":[\"admin\"],\"x\":1}", NULL};
    for (const char **b = badk; *b; b++) {
        j = obj(*b);
        assert_int_equal(mc_api_key_request_parse(j, &k, &err), -1);
        json_decref(j);
    }
}

static void test_scopes(void **state) {
    (void)state;
    unsigned m;
    mc_err err = {0};
    assert_int_equal(mc_api_scopes_parse("videos:read  admin", &m, &err), 0);
    assert_int_equal(m, MC_API_SCOPE_VIDEOS_READ | MC_API_SCOPE_ADMIN);
    char buf[64];
    mc_api_scopes_format(MC_API_SCOPE_ALL, buf, sizeof buf);
    assert_string_equal(buf, "videos:read videos:write webhooks admin");
    assert_int_equal(mc_api_scopes_parse("videos:delete", &m, &err), -1);
    assert_int_equal(mc_api_scopes_parse("", &m, &err), 0);
    assert_int_equal(m, 0);
}

static void test_grammars_and_times(void **state) {
    (void)state;
    assert_true(mc_api_idempotency_key_valid("order-42"));
    assert_false(mc_api_idempotency_key_valid(""));
    assert_false(mc_api_idempotency_key_valid("has space"));
    char long_key[300];
    memset(long_key, 'k', 256);
    long_key[256] = '\0';
    assert_false(mc_api_idempotency_key_valid(long_key));
    assert_true(mc_api_request_id_valid("req_1.a-b"));
    assert_false(mc_api_request_id_valid("a\"b"));
    assert_true(mc_api_video_id_valid("8d7ed14d-8a04-4be0-9b92-703117b5af87"));
    assert_false(mc_api_video_id_valid("8D7ED14D-8a04-4be0-9b92-703117b5af87"));
    assert_false(mc_api_video_id_valid("' OR '1'='1"));
    int64_t us;
    mc_err err = {0};
    assert_int_equal(mc_api_time_parse("2026-01-01T01:00:00+01:00", &us, &err), 0);
    assert_true(us == 1767225600000000LL);
    assert_int_equal(mc_api_time_parse("2026-01-01 00:00:00Z", &us, &err), -1);
    assert_int_equal(mc_api_time_parse("2026-13-01T00:00:00Z", &us, &err), -1);
    char db[32], iso[32];
    mc_api_time_to_db(1767225600123456LL, db);
    assert_string_equal(db, "2026-01-01 00:00:00.123456");
    assert_int_equal(mc_api_time_from_db(db, iso), 0);
    assert_string_equal(iso, "2026-01-01T00:00:00.123456Z");
    assert_int_equal(mc_api_time_from_db("2026-01-01 00:00:00", iso), 0);
    assert_string_equal(iso, "2026-01-01T00:00:00.000000Z");
}

static void test_problem(void **state) {
    (void)state;
    json_t *p = mc_api_problem(404, "video_not_found", "no video \xff");
    assert_string_equal(json_string_value(json_object_get(p, "type")),
                        MC_API_PROBLEM_BASE "video_not_found");
    assert_string_equal(json_string_value(json_object_get(p, "title")), "Not Found");
    assert_int_equal(json_integer_value(json_object_get(p, "status")), 404);
    assert_string_equal(json_string_value(json_object_get(p, "code")), "video_not_found");
    assert_string_equal(json_string_value(json_object_get(p, "detail")), "no video ?");
    json_decref(p);
}

static void test_token_video_claim(void **state) {
    (void)state;
    mc_token_key tk = {"dev", (const unsigned char *)"unit-token-secret-0123", 22};
    mc_token_claims c = {.exp = 4000000000LL, .scope_count = 0}, back;
    strcpy(c.tenant, "acme");
    strcpy(c.video, "8d7ed14d-8a04-4be0-9b92-703117b5af87");
    char *t = NULL;
    mc_err err = {0};
    assert_int_equal(mc_token_mint(&tk, &c, &t, &err), 0);
    assert_int_equal(mc_token_verify(t, strlen(t), &tk, 1, 1, &back, &err), 0);
    assert_string_equal(back.video, c.video);
    free(t);
    c.video[0] = '\0';
    assert_int_equal(mc_token_mint(&tk, &c, &t, &err), 0);
    assert_int_equal(mc_token_verify(t, strlen(t), &tk, 1, 1, &back, &err), 0);
    assert_string_equal(back.video, "");
    free(t);
}

static void test_usage_params(void **state) {
    (void)state;
    const int64_t day = 86400LL * 1000000, now = 1764979200LL * 1000000 + 3600LL * 1000000; /* 2025-12-06 01:00 */
    mc_api_query q;
    mc_api_usage_params p;
    mc_err err = {0};
    assert_int_equal(parse("", &q, &err), 0);
    assert_int_equal(mc_api_usage_params_parse(&q, now, &p, &err), 0);
    assert_int_equal(p.days, 30);
    assert_true(p.to_us == 1764979200LL * 1000000 + day);
    mc_api_query_free(&q);
    assert_int_equal(parse("from=2026-01-01&to=2026-01-03&granularity=day", &q, &err), 0);
    assert_int_equal(mc_api_usage_params_parse(&q, now, &p, &err), 0);
    assert_int_equal(p.days, 3);
    assert_true(p.to_us - p.from_us == 3 * day);
    mc_api_query_free(&q);
    const char *bad[] = {"granularity=hour", "from=2026-1-1", "to=yesterday", "from=2026-02-01&to=2026-01-01",
                         "from=2025-01-01&to=2026-01-01", "limit=5", "from=2026-01-01T00:00:00Z", NULL};
    for (const char **b = bad; *b; b++) {
        mc_err e = {0};
        assert_int_equal(parse(*b, &q, &e), 0);
        assert_int_equal(mc_api_usage_params_parse(&q, now, &p, &e), -1);
        assert_int_equal(e.kind, MC_ERR_INVALID);
        mc_api_query_free(&q);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_split),
        cmocka_unit_test(test_usage_params),
        cmocka_unit_test(test_list_params),
        cmocka_unit_test(test_cursor),
        cmocka_unit_test(test_video_edit),
        cmocka_unit_test(test_upload_and_key_requests),
        cmocka_unit_test(test_scopes),
        cmocka_unit_test(test_grammars_and_times),
        cmocka_unit_test(test_problem),
        cmocka_unit_test(test_token_video_claim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
