/* Unit tests of stream/range: Range parsing (RFC 9110 §14 examples, the
 * nginx-compatible policy for lists, hostile values), preconditions in
 * §13.2.2 order, If-Range and HTTP-dates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "stream/range.h"

typedef struct range_case {
    const char *value;
    uint64_t length;
    mc_range_result result;
    size_t count;
    mc_byte_range ranges[4];
} range_case;

#define WHOLE MC_RANGE_WHOLE
#define PARTIAL MC_RANGE_PARTIAL
#define NONE MC_RANGE_UNSATISFIABLE

static const range_case range_cases[] = {
    /* RFC 9110 §14.1.2 examples on a 10000-byte representation. */
    {"bytes=0-499", 10000, PARTIAL, 1, {{0, 499}}},
    {"bytes=500-999", 10000, PARTIAL, 1, {{500, 999}}},
    {"bytes=-500", 10000, PARTIAL, 1, {{9500, 9999}}},
    {"bytes=9500-", 10000, PARTIAL, 1, {{9500, 9999}}},
    {"bytes=0-0,-1", 10000, PARTIAL, 2, {{0, 0}, {9999, 9999}}},
    {"bytes=500-600,601-999", 10000, PARTIAL, 2, {{500, 600}, {601, 999}}},
    {"bytes=500-700,601-999", 10000, PARTIAL, 2, {{500, 700}, {601, 999}}},
    /* Clamping. */
    {"bytes=0-", 1000, PARTIAL, 1, {{0, 999}}},
    {"bytes=0-99999", 1000, PARTIAL, 1, {{0, 999}}},
    {"bytes=-2000", 1000, PARTIAL, 1, {{0, 999}}},
    {"bytes=-1000", 1000, PARTIAL, 1, {{0, 999}}},
    {"bytes=999-", 1000, PARTIAL, 1, {{999, 999}}},
    {"bytes=999-999", 1000, PARTIAL, 1, {{999, 999}}},
    /* Unsatisfiable. */
    {"bytes=1000-", 1000, NONE, 0, {{0}}},
    {"bytes=1000-2000", 1000, NONE, 0, {{0}}},
    {"bytes=-0", 1000, NONE, 0, {{0}}},
    {"bytes=1000-,2000-3000", 1000, NONE, 0, {{0}}},
    /* Unsatisfiable members of a list are dropped. */
    {"bytes=0-1,1000-2000", 1000, PARTIAL, 1, {{0, 1}}},
    {"bytes=1000-2000,0-1", 1000, PARTIAL, 1, {{0, 1}}},
    {"bytes=-0,5-9", 1000, PARTIAL, 1, {{5, 9}}},
    /* Zero-length representation (as nginx: from byte 0 → whole). */
    {"bytes=0-", 0, WHOLE, 0, {{0}}},
    {"bytes=-5", 0, WHOLE, 0, {{0}}},
    {"bytes=0-0", 0, WHOLE, 0, {{0}}},
    {"bytes=5-", 0, NONE, 0, {{0}}},
    /* Numbers beyond 64 bits: positions past any end. */
    {"bytes=99999999999999999999-", 1000, NONE, 0, {{0}}},
    {"bytes=18446744073709551615-", 1000, NONE, 0, {{0}}},
    {"bytes=18446744073709551616-18446744073709551617", 1000, NONE, 0, {{0}}},
    {"bytes=0-99999999999999999999", 1000, PARTIAL, 1, {{0, 999}}},
    {"bytes=-99999999999999999999", 1000, PARTIAL, 1, {{0, 999}}},
    {"bytes=18446744073709551614-", UINT64_MAX, PARTIAL, 1, {{UINT64_MAX - 1, UINT64_MAX - 1}}},
    {"bytes=00000000000000000000000001-2", 1000, PARTIAL, 1, {{1, 2}}},
    /* Whitespace and case (blanks around elements and '-', as nginx). */
    {"bytes= 0-1", 1000, PARTIAL, 1, {{0, 1}}},
    {"bytes=0 - 1", 1000, PARTIAL, 1, {{0, 1}}},
    {"bytes=0-1 ,\t3-4 ", 1000, PARTIAL, 2, {{0, 1}, {3, 4}}},
    {"Bytes=0-1", 1000, PARTIAL, 1, {{0, 1}}},
    {"BYTES=0-1", 1000, PARTIAL, 1, {{0, 1}}},
    /* Empty list elements are accepted (§5.6.1.2). */
    {"bytes=0-1,,3-4", 1000, PARTIAL, 2, {{0, 1}, {3, 4}}},
    {"bytes=,0-1", 1000, PARTIAL, 1, {{0, 1}}},
    {"bytes=0-1,", 1000, PARTIAL, 1, {{0, 1}}},
    /* Request order kept, not coalesced. */
    {"bytes=3-4,0-1", 1000, PARTIAL, 2, {{3, 4}, {0, 1}}},
    {"bytes=0-1,2-3", 1000, PARTIAL, 2, {{0, 1}, {2, 3}}},
    {"bytes=0-0,0-0", 1000, PARTIAL, 2, {{0, 0}, {0, 0}}},
    /* More bytes than the representation → ignored. */
    {"bytes=0-599,500-999", 1000, WHOLE, 0, {{0}}},
    {"bytes=0-,0-", 1000, WHOLE, 0, {{0}}},
    {"bytes=-1000,0-0", 1000, WHOLE, 0, {{0}}},
    /* Invalid syntax or another unit → ignored. */
    {"bytes=abc", 1000, WHOLE, 0, {{0}}},
    {"bytes=5-3", 1000, WHOLE, 0, {{0}}},
    {"bytes=5-3,0-1", 1000, WHOLE, 0, {{0}}},
    {"bytes=0-1, x", 1000, WHOLE, 0, {{0}}},
    {"bytes=", 1000, WHOLE, 0, {{0}}},
    {"bytes=,", 1000, WHOLE, 0, {{0}}},
    {"bytes=-", 1000, WHOLE, 0, {{0}}},
    {"bytes=--5", 1000, WHOLE, 0, {{0}}},
    {"bytes=1--5", 1000, WHOLE, 0, {{0}}},
    {"bytes=+1-2", 1000, WHOLE, 0, {{0}}},
    {"bytes=0x10-", 1000, WHOLE, 0, {{0}}},
    {"bytes=1-2-3", 1000, WHOLE, 0, {{0}}},
    {"bytes 0-1", 1000, WHOLE, 0, {{0}}},
    {"bytes =0-1", 1000, WHOLE, 0, {{0}}},
    {"items=0-1", 1000, WHOLE, 0, {{0}}},
    {"bytesx=0-1", 1000, WHOLE, 0, {{0}}},
    {"", 1000, WHOLE, 0, {{0}}},
    {"bytes=0-1;3-4", 1000, WHOLE, 0, {{0}}},
    {"bytes=0-1\r\n", 1000, WHOLE, 0, {{0}}},
};

static void check_case(const range_case *c) {
    mc_range_set set;
    memset(&set, 0xa5, sizeof set);
    mc_range_result r = mc_range_parse(c->value, c->length, &set);
    if (r != c->result || set.count != c->count)
        fail_msg("'%s' (length %llu): result %d count %zu, expected %d count %zu", c->value,
                 (unsigned long long)c->length, r, set.count, c->result, c->count);
    for (size_t i = 0; i < c->count; i++)
        if (set.ranges[i].first != c->ranges[i].first || set.ranges[i].last != c->ranges[i].last)
            fail_msg("'%s' range %zu: %llu-%llu, expected %llu-%llu", c->value, i,
                     (unsigned long long)set.ranges[i].first,
                     (unsigned long long)set.ranges[i].last,
                     (unsigned long long)c->ranges[i].first, (unsigned long long)c->ranges[i].last);
}

static void test_range_table(void **state) {
    (void)state;
    size_t n = sizeof range_cases / sizeof range_cases[0];
    assert_true(n >= 40);
    for (size_t i = 0; i < n; i++) check_case(&range_cases[i]);
}

static void test_range_absent(void **state) {
    (void)state;
    mc_range_set set;
    assert_int_equal(mc_range_parse(NULL, 1000, &set), MC_RANGE_WHOLE);
    assert_int_equal(set.count, 0);
}

static void append_ranges(char *buf, size_t cap, size_t count) {
    size_t n = (size_t)snprintf(buf, cap, "bytes=");
    for (size_t i = 0; i < count; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%zu-%zu", i ? "," : "", i * 10, i * 10 + 1);
}

static void test_range_limit(void **state) {
    (void)state;
    char value[1024];
    mc_range_set set;
    append_ranges(value, sizeof value, MC_RANGE_MAX);
    assert_int_equal(mc_range_parse(value, 1000, &set), MC_RANGE_PARTIAL);
    assert_int_equal(set.count, MC_RANGE_MAX);
    assert_int_equal(set.ranges[MC_RANGE_MAX - 1].first, (MC_RANGE_MAX - 1) * 10);
    append_ranges(value, sizeof value, MC_RANGE_MAX + 1);
    assert_int_equal(mc_range_parse(value, 1000, &set), MC_RANGE_WHOLE);
    assert_int_equal(set.count, 0);
    /* Unsatisfiable members do not count (as nginx's max_ranges). */
    append_ranges(value, sizeof value, MC_RANGE_MAX);
    strcat(value, ",5000-6000,7000-");
    assert_int_equal(mc_range_parse(value, 1000, &set), MC_RANGE_PARTIAL);
    assert_int_equal(set.count, MC_RANGE_MAX);
}

static void test_range_long_garbage(void **state) {
    (void)state;
    static char value[70000];
    mc_range_set set;
    memcpy(value, "bytes=", 6);
    memset(value + 6, '9', sizeof value - 7);
    value[sizeof value - 1] = '\0';
    assert_int_equal(mc_range_parse(value, 1000, &set), MC_RANGE_WHOLE); /* no '-' */
    value[sizeof value - 2] = '-';
    assert_int_equal(mc_range_parse(value, 1000, &set), MC_RANGE_UNSATISFIABLE);
    memset(value + 6, ',', sizeof value - 7);
    assert_int_equal(mc_range_parse(value, 1000, &set), MC_RANGE_WHOLE);
}

/* ---- HTTP-dates ------------------------------------------------------------ */

static const time_t rfc_example = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */

static void test_date_forms(void **state) {
    (void)state;
    time_t t = 0;
    assert_int_equal(mc_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
    assert_int_equal(t, rfc_example);
    t = 0;
    assert_int_equal(mc_http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
    assert_int_equal(t, rfc_example);
    t = 0;
    assert_int_equal(mc_http_date_parse("Sun Nov  6 08:49:37 1994", &t), 0);
    assert_int_equal(t, rfc_example);
    assert_int_equal(mc_http_date_parse("Thu, 01 Jan 1970 00:00:00 GMT", &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(mc_http_date_parse("Tue, 29 Feb 2000 23:59:59 GMT", &t), 0);
    assert_int_equal(t, 951868799);
    assert_int_equal(mc_http_date_parse("Fri, 31 Dec 9999 23:59:59 GMT", &t), 0);
    assert_int_equal(t, 253402300799);
}

static void test_date_strict(void **state) {
    (void)state;
    static const char *const bad[] = {
        "", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Nov 1994 08:49:37 GMT ",
        " Sun, 06 Nov 1994 08:49:37 GMT", "sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT", "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 29 Feb 1900 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT", "Sun Nov 6 08:49:37 1994",
        "Sun Nov  6 08:49:37 1994 ", "Xyz, 06 Nov 1994 08:49:37 GMT", "1994-11-06T08:49:37Z",
        "Sun, 06 Nov 1994 08:49:37 GMT\r\n", "784111777",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        time_t t = 42;
        if (mc_http_date_parse(bad[i], &t) != -1) fail_msg("accepted '%s'", bad[i]);
        assert_int_equal(t, 42);
    }
    time_t t;
    assert_int_equal(mc_http_date_parse(NULL, &t), -1);
}

static void test_date_rfc850_century(void **state) {
    (void)state;
    time_t now = time(NULL), t;
    struct tm tm;
    gmtime_r(&now, &tm);
    char buf[64];
    /* A two-digit year more than 50 years ahead is in the past. */
    int ahead = (tm.tm_year + 1900 + 60) % 100;
    snprintf(buf, sizeof buf, "Monday, 01-Jan-%02d 00:00:00 GMT", ahead);
    assert_int_equal(mc_http_date_parse(buf, &t), 0);
    assert_true(t < now);
    int soon = (tm.tm_year + 1900 + 10) % 100;
    snprintf(buf, sizeof buf, "Monday, 01-Jan-%02d 00:00:00 GMT", soon);
    assert_int_equal(mc_http_date_parse(buf, &t), 0);
    assert_true(t > now);
}

static void test_date_format_roundtrip(void **state) {
    (void)state;
    char out[MC_HTTP_DATE_LEN];
    mc_http_date_format(rfc_example, out);
    assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
    mc_http_date_format(0, out);
    assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
    static const time_t samples[] = {1, 951868799, 1700000000, 4102444800, 253402300799};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        time_t back = 0;
        mc_http_date_format(samples[i], out);
        assert_int_equal(strlen(out), MC_HTTP_DATE_LEN - 1);
        assert_int_equal(mc_http_date_parse(out, &back), 0);
        assert_int_equal(back, samples[i]);
    }
}

/* ---- preconditions ---------------------------------------------------------- */

static const mc_validators current = {.etag = "\"abc-3\"", .last_modified = rfc_example};
#define LM "Sun, 06 Nov 1994 08:49:37 GMT"
#define BEFORE "Sun, 06 Nov 1994 08:49:36 GMT"
#define AFTER "Sun, 06 Nov 1994 08:49:38 GMT"

static mc_precondition eval(const char *im, const char *inm, const char *ims, const char *ius) {
    mc_conditional_headers h = {.if_match = im, .if_none_match = inm, .if_modified_since = ims,
                                .if_unmodified_since = ius};
    return mc_precondition_evaluate(&h, &current);
}

static void test_if_none_match(void **state) {
    (void)state;
    assert_int_equal(eval(NULL, NULL, NULL, NULL), MC_PRECONDITION_PROCEED);
    assert_int_equal(eval(NULL, "\"abc-3\"", NULL, NULL), MC_PRECONDITION_NOT_MODIFIED);
    assert_int_equal(eval(NULL, "W/\"abc-3\"", NULL, NULL), MC_PRECONDITION_NOT_MODIFIED);
    assert_int_equal(eval(NULL, "\"x\", W/\"abc-3\"", NULL, NULL), MC_PRECONDITION_NOT_MODIFIED);
    assert_int_equal(eval(NULL, "*", NULL, NULL), MC_PRECONDITION_NOT_MODIFIED);
    assert_int_equal(eval(NULL, "\"abc-4\"", NULL, NULL), MC_PRECONDITION_PROCEED);
    assert_int_equal(eval(NULL, "\"abc-3", NULL, NULL), MC_PRECONDITION_PROCEED);
    assert_int_equal(eval(NULL, "abc-3", NULL, NULL), MC_PRECONDITION_PROCEED);
}

static void test_if_modified_since(void **state) {
    (void)state;
    assert_int_equal(eval(NULL, NULL, LM, NULL), MC_PRECONDITION_NOT_MODIFIED);
    assert_int_equal(eval(NULL, NULL, AFTER, NULL), MC_PRECONDITION_NOT_MODIFIED);
    assert_int_equal(eval(NULL, NULL, BEFORE, NULL), MC_PRECONDITION_PROCEED);
    assert_int_equal(eval(NULL, NULL, "yesterday", NULL), MC_PRECONDITION_PROCEED);
    /* Ignored when If-None-Match is present (§13.1.3). */
    assert_int_equal(eval(NULL, "\"other\"", LM, NULL), MC_PRECONDITION_PROCEED);
    mc_validators unknown = {.etag = "\"abc-3\"", .last_modified = 0};
    mc_conditional_headers h = {.if_modified_since = AFTER};
    assert_int_equal(mc_precondition_evaluate(&h, &unknown), MC_PRECONDITION_PROCEED);
}

static void test_if_match(void **state) {
    (void)state;
    assert_int_equal(eval("\"abc-3\"", NULL, NULL, NULL), MC_PRECONDITION_PROCEED);
    assert_int_equal(eval("\"x\", \"abc-3\"", NULL, NULL, NULL), MC_PRECONDITION_PROCEED);
    assert_int_equal(eval("*", NULL, NULL, NULL), MC_PRECONDITION_PROCEED);
    assert_int_equal(eval("W/\"abc-3\"", NULL, NULL, NULL), MC_PRECONDITION_FAILED);
    assert_int_equal(eval("\"abc-4\"", NULL, NULL, NULL), MC_PRECONDITION_FAILED);
    assert_int_equal(eval("garbage", NULL, NULL, NULL), MC_PRECONDITION_FAILED);
}

static void test_if_unmodified_since(void **state) {
    (void)state;
    assert_int_equal(eval(NULL, NULL, NULL, LM), MC_PRECONDITION_PROCEED);
    assert_int_equal(eval(NULL, NULL, NULL, AFTER), MC_PRECONDITION_PROCEED);
    assert_int_equal(eval(NULL, NULL, NULL, BEFORE), MC_PRECONDITION_FAILED);
    assert_int_equal(eval(NULL, NULL, NULL, "not a date"), MC_PRECONDITION_PROCEED);
    /* Ignored when If-Match is present (§13.1.4). */
    assert_int_equal(eval("\"abc-3\"", NULL, NULL, BEFORE), MC_PRECONDITION_PROCEED);
}

static void test_precondition_order(void **state) {
    (void)state;
    /* If-Match is evaluated first: 412 even though If-None-Match would 304. */
    assert_int_equal(eval("\"nope\"", "\"abc-3\"", NULL, NULL), MC_PRECONDITION_FAILED);
    /* If-Unmodified-Since before If-None-Match. */
    assert_int_equal(eval(NULL, "\"abc-3\"", NULL, BEFORE), MC_PRECONDITION_FAILED);
    /* If-Match holds, then If-None-Match decides. */
    assert_int_equal(eval("\"abc-3\"", "\"abc-3\"", NULL, NULL), MC_PRECONDITION_NOT_MODIFIED);
    /* If-None-Match does not match, so a matching If-Modified-Since is ignored. */
    assert_int_equal(eval(NULL, "\"zzz\"", AFTER, NULL), MC_PRECONDITION_PROCEED);
}

/* ---- If-Range ---------------------------------------------------------------- */

static void test_if_range(void **state) {
    (void)state;
    assert_true(mc_if_range_allows(NULL, &current));
    assert_true(mc_if_range_allows("\"abc-3\"", &current));
    assert_false(mc_if_range_allows("W/\"abc-3\"", &current));
    assert_false(mc_if_range_allows("\"abc-4\"", &current));
    assert_false(mc_if_range_allows("\"abc-3\", \"abc-3\"", &current));
    assert_true(mc_if_range_allows(LM, &current));
    assert_false(mc_if_range_allows(AFTER, &current));
    assert_false(mc_if_range_allows(BEFORE, &current));
    assert_true(mc_if_range_allows("Sunday, 06-Nov-94 08:49:37 GMT", &current));
    assert_false(mc_if_range_allows("garbage", &current));
    assert_false(mc_if_range_allows("", &current));
    mc_validators weak = {.etag = "W/\"abc-3\"", .last_modified = 0};
    assert_false(mc_if_range_allows("W/\"abc-3\"", &weak));
    assert_false(mc_if_range_allows(LM, &weak));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range_table),
        cmocka_unit_test(test_range_absent),
        cmocka_unit_test(test_range_limit),
        cmocka_unit_test(test_range_long_garbage),
        cmocka_unit_test(test_date_forms),
        cmocka_unit_test(test_date_strict),
        cmocka_unit_test(test_date_rfc850_century),
        cmocka_unit_test(test_date_format_roundtrip),
        cmocka_unit_test(test_if_none_match),
        cmocka_unit_test(test_if_modified_since),
        cmocka_unit_test(test_if_match),
        cmocka_unit_test(test_if_unmodified_since),
        cmocka_unit_test(test_precondition_order),
        cmocka_unit_test(test_if_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
