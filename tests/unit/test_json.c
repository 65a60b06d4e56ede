/* Strict JSON reading of request bodies: clear errors naming the field. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/json.h"

static void test_valid_object(void **state) {
    (void)state;
    const char *doc = "{\"title\":\"Cats\",\"size\":42,\"public\":true}";
    mc_err err = {0};
    json_t *o = mc_json_parse_object(doc, strlen(doc), &err);
    assert_non_null(o);
    const char *title;
    long long size;
    bool pub;
    assert_int_equal(mc_json_get_string(o, "title", true, NULL, &title, &err), 0);
    assert_string_equal(title, "Cats");
    assert_int_equal(mc_json_get_int(o, "size", true, 0, 0, 100, &size, &err), 0);
    assert_int_equal(size, 42);
    assert_int_equal(mc_json_get_bool(o, "public", true, false, &pub, &err), 0);
    assert_true(pub);
    const char *missing;
    assert_int_equal(mc_json_get_string(o, "desc", false, "none", &missing, &err), 0);
    assert_string_equal(missing, "none");
    json_decref(o);
}

static void test_field_errors(void **state) {
    (void)state;
    const char *doc = "{\"title\":7,\"size\":1000,\"n\":null}";
    mc_err err = {0};
    json_t *o = mc_json_parse_object(doc, strlen(doc), &err);
    const char *s;
    long long n;
    assert_int_equal(mc_json_get_string(o, "title", true, NULL, &s, &err), -1);
    assert_string_equal(err.msg, "field 'title' must be a string");
    assert_int_equal(mc_json_get_int(o, "size", true, 0, 0, 100, &n, &err), -1);
    assert_string_equal(err.msg, "field 'size' must be between 0 and 100");
    assert_int_equal(mc_json_get_string(o, "n", true, NULL, &s, &err), -1);
    assert_string_equal(err.msg, "field 'n' is required");
    assert_int_equal(err.kind, MC_ERR_INVALID);
    json_decref(o);
}

static void test_bad_documents(void **state) {
    (void)state;
    mc_err err = {0};
    assert_null(mc_json_parse_object("[1,2]", 5, &err));
    assert_string_equal(err.msg, "a JSON object was expected at the top level");
    assert_null(mc_json_parse_object("{\"a\":", 5, &err));
    assert_non_null(strstr(err.msg, "invalid JSON at line 1"));
    assert_null(mc_json_parse_object("{\"a\":1,\"a\":2}", 13, &err));
    assert_non_null(strstr(err.msg, "duplicate"));
    assert_null(mc_json_parse_object("", 0, &err));
    assert_string_equal(err.msg, "empty body: a JSON object was expected");
    /* Embedded NUL and bytes past the length are not read. */
    assert_null(mc_json_parse_object("{\"a\":1}\0junk", 12, &err));
    json_t *o = mc_json_parse_object("{\"a\":1}garbage", 7, &err);
    assert_non_null(o);
    json_decref(o);
    size_t big = MC_JSON_MAX_BYTES + 1;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    assert_null(mc_json_parse_object(huge, big, &err));
    assert_non_null(strstr(err.msg, "the limit is"));
    free(huge);
}

static void test_deep_nesting_is_rejected_not_crashing(void **state) {
    (void)state;
    size_t depth = 100000;
    char *doc = malloc(depth * 2 + 8);
    size_t n = 0;
    doc[n++] = '{';
    doc[n++] = '"';
    doc[n++] = 'a';
    doc[n++] = '"';
    doc[n++] = ':';
    for (size_t i = 0; i < depth; i++) doc[n++] = '[';
    mc_err err = {0};
    assert_null(mc_json_parse_object(doc, n, &err));
    assert_int_equal(err.kind, MC_ERR_INVALID);
    free(doc);
}

static void test_string_lossy(void **state) {
    (void)state;
    json_t *ok = mc_json_string_lossy("caf\xc3\xa9", 5);
    assert_non_null(ok);
    assert_string_equal(json_string_value(ok), "caf\xc3\xa9");
    json_decref(ok);
    json_t *bad = mc_json_string_lossy("s\\u00\xd9\x9b\xdd\xd3\"x", 11);
    assert_non_null(bad);
    assert_string_equal(json_string_value(bad), "s\\u00????\"x");
    json_decref(bad);
    json_t *nul = mc_json_string_lossy("a\0b", 3);
    assert_non_null(nul);
    assert_int_equal(json_string_length(nul), 3);
    json_decref(nul);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_object),
        cmocka_unit_test(test_field_errors),
        cmocka_unit_test(test_bad_documents),
        cmocka_unit_test(test_deep_nesting_is_rejected_not_crashing),
        cmocka_unit_test(test_string_lossy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
