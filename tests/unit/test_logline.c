/* Unit tests of the central log's lines (common/logline.h): the engine's
 * timestamps, what the agent ships, the operator's --since/--level, the
 * selection and the printed line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/logline.h"

static void splits_engine_timestamps(void **state) {
    (void)state;
    const char *line = "2026-12-06T16:30:00.123456789Z {\"msg\":\"hi\"}";
    int64_t ns;
    const char *text;
    size_t n;
    assert_int_equal(mc_logline_split_ts(line, strlen(line), &ns, &text, &n), 0);
    assert_true(ns == 1796574600123456789LL);
    assert_int_equal(n, 12);
    assert_memory_equal(text, "{\"msg\":\"hi\"}", 12);
    const char *offset = "2026-12-06T17:30:00.5+01:00 x";
    assert_int_equal(mc_logline_split_ts(offset, strlen(offset), &ns, &text, &n), 0);
    assert_true(ns == 1796574600500000000LL);
    assert_int_equal(n, 1);
    /* ... and times whose nanoseconds since 1970 do not fit int64_t (found by fuzz_logline) */
    const char *bad[] = {"", "hello world", "2026-13-06T16:30:00Z x", "2026-12-06T16:30:00 x", "2026-12-06T16:30:00Zx",
                         "6026-12-06T16:30:00Z x", "0000-01-01T00:00:00Z x", "1969-12-31T23:59:59Z x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(mc_logline_split_ts(bad[i], strlen(bad[i]), &ns, &text, &n), -1);
}

static const mc_logline_meta meta = {"node-1", "ingest", "ingest-0", "abc123"};

static void enriches_json_lines(void **state) {
    (void)state;
    const char *in = "{\"ts\":\"2026-12-06T16:30:00.001Z\",\"level\":\"warn\",\"service\":\"upload\",\"msg\":\"slow\"}\n";
    char *out = mc_logline_enrich(in, strlen(in), &meta, 1);
    json_t *o = json_loads(out, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "slow");
    assert_string_equal(json_string_value(json_object_get(o, "ts")), "2026-12-06T16:30:00.001Z");
    assert_string_equal(json_string_value(json_object_get(o, "node")), "node-1");
    assert_string_equal(json_string_value(json_object_get(o, "service")), "ingest");
    assert_string_equal(json_string_value(json_object_get(o, "program")), "upload");
    assert_string_equal(json_string_value(json_object_get(o, "instance")), "ingest-0");
    assert_string_equal(json_string_value(json_object_get(o, "container")), "abc123");
    json_decref(o);
    free(out);
}

static void wraps_other_lines(void **state) {
    (void)state;
    const char *in[] = {"panic: \xff oops", "[1,2]", "{\"broken\":", "nul\0byte"};
    size_t lens[] = {strlen(in[0]), strlen(in[1]), strlen(in[2]), 8};
    for (size_t i = 0; i < 4; i++) {
        char *out = mc_logline_enrich(in[i], lens[i], &meta, 1796574600123456789LL);
        json_t *o = json_loads(out, 0, NULL);
        assert_non_null(o);
        assert_non_null(json_string_value(json_object_get(o, "msg")));
        assert_string_equal(json_string_value(json_object_get(o, "ts")), "2026-12-06T16:30:00.123Z");
        assert_string_equal(json_string_value(json_object_get(o, "instance")), "ingest-0");
        json_decref(o);
        free(out);
    }
}

static void parses_durations_and_levels(void **state) {
    (void)state;
    int64_t ms;
    mc_err err = {0};
    assert_int_equal(mc_logline_parse_duration("10m", &ms, &err), 0);
    assert_true(ms == 600000);
    assert_int_equal(mc_logline_parse_duration("2d", &ms, &err), 0);
    assert_true(ms == 172800000);
    assert_int_equal(mc_logline_parse_duration("30s", &ms, &err), 0);
    assert_true(ms == 30000);
    const char *bad[] = {"10x", "", "m", "-5m", "10", "1.5h", "99999999999999999999d", "4000d"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err = (mc_err){0};
        assert_int_equal(mc_logline_parse_duration(bad[i], &ms, &err), -1);
        assert_int_equal(err.kind, MC_ERR_INVALID);
        assert_non_null(strstr(err.msg, bad[i]));
    }
    mc_log_rank r;
    assert_int_equal(mc_logline_parse_level("warn", &r, &err), 0);
    assert_int_equal(r, MC_RANK_WARN);
    assert_int_equal(mc_logline_parse_level("ERROR", &r, &err), 0);
    assert_int_equal(r, MC_RANK_ERROR);
    assert_int_equal(mc_logline_parse_level("loud", &r, &err), -1);
    assert_non_null(strstr(err.msg, "loud"));
}

static void selects_lines(void **state) {
    (void)state;
    const char *key = "ingest/ingest-0";
    const char *warn = "{\"level\":\"warn\",\"msg\":\"disk slow\"}", *plain = "{\"msg\":\"hello\"}";
    mc_logline_query q = {.target = "ingest"};
    assert_true(mc_logline_match(&q, key, strlen(key), warn, strlen(warn), 5));
    q.target = "ingest-0";
    assert_true(mc_logline_match(&q, key, strlen(key), warn, strlen(warn), 5));
    q.target = "ingest-1";
    assert_false(mc_logline_match(&q, key, strlen(key), warn, strlen(warn), 5));
    q.target = "ingest-";
    assert_false(mc_logline_match(&q, key, strlen(key), warn, strlen(warn), 5));
    q = (mc_logline_query){.target = "ingest", .min_level = MC_RANK_WARN};
    assert_true(mc_logline_match(&q, key, strlen(key), warn, strlen(warn), 5));
    assert_false(mc_logline_match(&q, key, strlen(key), plain, strlen(plain), 5));
    q = (mc_logline_query){.grep = "disk"};
    assert_true(mc_logline_match(&q, key, strlen(key), warn, strlen(warn), 5));
    assert_false(mc_logline_match(&q, key, strlen(key), plain, strlen(plain), 5));
    q = (mc_logline_query){.since_ms = 10};
    assert_false(mc_logline_match(&q, key, strlen(key), plain, strlen(plain), 5));
    assert_true(mc_logline_match(&q, key, strlen(key), plain, strlen(plain), 10));
    assert_false(mc_logline_match(&(mc_logline_query){.target = "x"}, NULL, 0, plain, strlen(plain), 5));
}

static void formats_for_people(void **state) {
    (void)state;
    const char *v = "{\"ts\":\"T\",\"level\":\"info\",\"msg\":\"up\",\"node\":\"n1\",\"instance\":\"i-0\",\"port\":8080,"
                    "\"service\":\"s\",\"container\":\"c\"}";
    char out[256];
    mc_logline_format(v, strlen(v), out, sizeof out);
    assert_string_equal(out, "T n1 i-0 info  up port=8080");
    char tiny[8];
    assert_int_equal(mc_logline_format(v, strlen(v), tiny, sizeof tiny), 7);
    mc_logline_format("not json", 8, out, sizeof out);
    assert_string_equal(out, "not json");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(splits_engine_timestamps), cmocka_unit_test(enriches_json_lines),
        cmocka_unit_test(wraps_other_lines),        cmocka_unit_test(parses_durations_and_levels),
        cmocka_unit_test(selects_lines),            cmocka_unit_test(formats_for_people),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
