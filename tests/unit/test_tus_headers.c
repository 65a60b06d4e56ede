/* Every tus 1.0.0 request header the upload server reads: the valid forms of
 * the spec and its examples, the malformed ones its edge cases imply and the
 * hostile ones beyond, with the exact status and message the client gets.
 * Each value is an exact-size heap copy (no NUL after it), so ASan catches
 * any read past the given length. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "upload/tus_headers.h"

/* ---- exact-size copies, freed after each test ---------------------------- */

static char *copies[512];
static size_t ncopies;

static const char *copy(const char *s, size_t n) {
    assert_true(ncopies < sizeof copies / sizeof copies[0]);
    char *p = malloc(n ? n : 1);
    memcpy(p, s, n);
    copies[ncopies++] = p;
    return p;
}

static int free_copies(void **state) {
    (void)state;
    while (ncopies > 0) free(copies[--ncopies]);
    return 0;
}

/* A string literal (embedded NULs included) as the (value, length) pair a
 * parser takes. */
#define V(s) copy(s, sizeof(s) - 1), sizeof(s) - 1

static void assert_fails(int rc, const mc_err *err, int status, const char *msg) {
    assert_int_equal(rc, -1);
    assert_int_equal(err->kind, MC_ERR_INVALID);
    assert_int_equal(err->status, status);
    assert_string_equal(err->msg, msg);
}

/* ---- Tus-Resumable -------------------------------------------------------- */

static void test_resumable(void **state) {
    (void)state;
    mc_err err = {0};
    assert_int_equal(mc_tus_parse_resumable(V("1.0.0"), &err), 0);
    assert_fails(mc_tus_parse_resumable(V("0.2.2"), &err), &err, 412,
                 "tus version '0.2.2' is not supported; this server supports tus 1.0.0");
    assert_fails(mc_tus_parse_resumable(NULL, 0, &err), &err, 412,
                 "Tus-Resumable header is required; this server supports tus 1.0.0");
    assert_fails(mc_tus_parse_resumable(V(""), &err), &err, 412,
                 "tus version '' is not supported; this server supports tus 1.0.0");
    assert_int_equal(mc_tus_parse_resumable(V("1.0.0 "), &err), -1);
    assert_int_equal(mc_tus_parse_resumable(V("1.0"), &err), -1);
    assert_int_equal(mc_tus_parse_resumable(V("1.0.00"), &err), -1);
    assert_int_equal(mc_tus_parse_resumable(V("1.0.0\0"), &err), -1);
    assert_string_equal(MC_TUS_VERSION, "1.0.0");
}

/* ---- Upload-Offset, Upload-Length ---------------------------------------- */

static void test_offset_and_length_valid(void **state) {
    (void)state;
    mc_err err = {0};
    int64_t v = -1;
    assert_int_equal(mc_tus_parse_offset(V("0"), &v, &err), 0);
    assert_int_equal(v, 0);
    assert_int_equal(mc_tus_parse_offset(V("70"), &v, &err), 0);
    assert_int_equal(v, 70);
    assert_int_equal(mc_tus_parse_offset(V("9223372036854775807"), &v, &err), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(mc_tus_parse_length(V("000100"), &v, &err), 0);
    assert_int_equal(v, 100);
    /* Only len bytes are read: "12" of "123". */
    assert_int_equal(mc_tus_parse_length(copy("123", 2), 2, &v, &err), 0);
    assert_int_equal(v, 12);
}

static void test_offset_and_length_malformed(void **state) {
    (void)state;
    mc_err err = {0};
    int64_t v = 42;
    assert_fails(mc_tus_parse_offset(V("-1"), &v, &err), &err, 400,
                 "Upload-Offset must be a non-negative integer, got '-1'");
    assert_fails(mc_tus_parse_offset(V("+1"), &v, &err), &err, 400,
                 "Upload-Offset must be a non-negative integer, got '+1'");
    assert_fails(mc_tus_parse_offset(V(""), &v, &err), &err, 400,
                 "Upload-Offset must be a non-negative integer, got ''");
    assert_fails(mc_tus_parse_offset(V(" 1"), &v, &err), &err, 400,
                 "Upload-Offset must be a non-negative integer, got ' 1'");
    assert_fails(mc_tus_parse_offset(V("1 "), &v, &err), &err, 400,
                 "Upload-Offset must be a non-negative integer, got '1 '");
    assert_fails(mc_tus_parse_offset(V("0x10"), &v, &err), &err, 400,
                 "Upload-Offset must be a non-negative integer, got '0x10'");
    assert_fails(mc_tus_parse_offset(V("1e3"), &v, &err), &err, 400,
                 "Upload-Offset must be a non-negative integer, got '1e3'");
    assert_fails(mc_tus_parse_offset(V("1.5"), &v, &err), &err, 400,
                 "Upload-Offset must be a non-negative integer, got '1.5'");
    assert_fails(mc_tus_parse_offset(V("1\0"), &v, &err), &err, 400,
                 "Upload-Offset must be a non-negative integer, got '1\\x00'");
    assert_fails(mc_tus_parse_offset(V("\xef\xbc\x91"), &v, &err), &err, 400, /* fullwidth 1 */
                 "Upload-Offset must be a non-negative integer, got '\\xef\\xbc\\x91'");
    assert_fails(mc_tus_parse_offset(V("9223372036854775808"), &v, &err), &err, 400,
                 "Upload-Offset must be at most 9223372036854775807, got '9223372036854775808'");
    assert_fails(mc_tus_parse_offset(V("18446744073709551616"), &v, &err), &err, 400,
                 "Upload-Offset must be at most 9223372036854775807, got '18446744073709551616'");
    assert_fails(mc_tus_parse_offset(NULL, 0, &v, &err), &err, 400,
                 "Upload-Offset header is required");
    assert_fails(mc_tus_parse_length(V("-0"), &v, &err), &err, 400,
                 "Upload-Length must be a non-negative integer, got '-0'");
    assert_fails(mc_tus_parse_length(V("99999999999999999999999999"), &v, &err), &err, 400,
                 "Upload-Length must be at most 9223372036854775807, got '99999999999999999999999999'");
    assert_fails(mc_tus_parse_length(NULL, 0, &v, &err), &err, 400,
                 "Upload-Length header is required");
    assert_int_equal(v, 42); /* untouched by every failure */
}

static void test_hostile_values_are_quoted_and_cut(void **state) {
    (void)state;
    char long_value[300];
    memset(long_value, '7', sizeof long_value);
    long_value[0] = 'x';
    mc_err err = {0};
    int64_t v;
    assert_int_equal(mc_tus_parse_offset(copy(long_value, sizeof long_value), sizeof long_value,
                                         &v, &err), -1);
    char want[200];
    snprintf(want, sizeof want, "Upload-Offset must be a non-negative integer, got 'x%.63s...'",
             long_value + 1);
    assert_string_equal(err.msg, want);
    assert_int_equal(mc_tus_parse_offset(V("'\\\r\n"), &v, &err), -1);
    assert_string_equal(err.msg,
                        "Upload-Offset must be a non-negative integer, got '\\x27\\x5c\\x0d\\x0a'");
}

/* ---- Upload-Defer-Length -------------------------------------------------- */

static void test_defer_length(void **state) {
    (void)state;
    mc_err err = {0};
    assert_int_equal(mc_tus_parse_defer_length(V("1"), &err), 0);
    assert_fails(mc_tus_parse_defer_length(V("0"), &err), &err, 400,
                 "Upload-Defer-Length must be 1, got '0'");
    assert_fails(mc_tus_parse_defer_length(V("true"), &err), &err, 400,
                 "Upload-Defer-Length must be 1, got 'true'");
    assert_int_equal(mc_tus_parse_defer_length(V("01"), &err), -1);
    assert_int_equal(mc_tus_parse_defer_length(V(" 1"), &err), -1);
    assert_int_equal(mc_tus_parse_defer_length(V("11"), &err), -1);
    assert_int_equal(mc_tus_parse_defer_length(V(""), &err), -1);
    assert_fails(mc_tus_parse_defer_length(NULL, 0, &err), &err, 400,
                 "Upload-Defer-Length header is required");
}

/* ---- Content-Type, X-HTTP-Method-Override -------------------------------- */

static void test_content_type(void **state) {
    (void)state;
    mc_err err = {0};
    assert_int_equal(mc_tus_check_content_type(V("application/offset+octet-stream"), &err), 0);
    assert_int_equal(mc_tus_check_content_type(V("Application/Offset+Octet-Stream"), &err), 0);
    assert_int_equal(mc_tus_check_content_type(V("application/offset+octet-stream; charset=binary"), &err), 0);
    assert_int_equal(mc_tus_check_content_type(V(" application/offset+octet-stream ;x=y"), &err), 0);
    assert_fails(mc_tus_check_content_type(V("application/octet-stream"), &err), &err, 415,
                 "Content-Type must be application/offset+octet-stream, got 'application/octet-stream'");
    assert_fails(mc_tus_check_content_type(NULL, 0, &err), &err, 415,
                 "Content-Type must be application/offset+octet-stream, got none");
    assert_int_equal(mc_tus_check_content_type(V("application/offset+octet-streamx"), &err), -1);
    assert_int_equal(err.status, 415);
    assert_int_equal(mc_tus_check_content_type(V("application/offset+octet-stream x"), &err), -1);
    assert_int_equal(mc_tus_check_content_type(V("application/offset+octet-strea"), &err), -1);
    assert_int_equal(mc_tus_check_content_type(V("text/plain"), &err), -1);
    assert_int_equal(mc_tus_check_content_type(V(""), &err), -1);
    assert_int_equal(mc_tus_check_content_type(V("multipart/form-data; boundary=x"), &err), -1);
}

static void test_method_override(void **state) {
    (void)state;
    mc_err err = {0};
    const char *method = NULL;
    assert_int_equal(mc_tus_parse_method_override(V("PATCH"), &method, &err), 0);
    assert_string_equal(method, "PATCH");
    assert_int_equal(mc_tus_parse_method_override(V("DELETE"), &method, &err), 0);
    assert_string_equal(method, "DELETE");
    assert_int_equal(mc_tus_parse_method_override(V("HEAD"), &method, &err), 0);
    assert_string_equal(method, "HEAD");
    assert_fails(mc_tus_parse_method_override(V("patch"), &method, &err), &err, 400,
                 "X-HTTP-Method-Override must be one of GET, HEAD, POST, PATCH, DELETE, OPTIONS; "
                 "got 'patch'");
    assert_int_equal(mc_tus_parse_method_override(V("PATCH "), &method, &err), -1);
    assert_int_equal(mc_tus_parse_method_override(V("TRACE"), &method, &err), -1);
    assert_int_equal(mc_tus_parse_method_override(V(""), &method, &err), -1);
    assert_int_equal(mc_tus_parse_method_override(V("PATCH\0DELETE"), &method, &err), -1);
    assert_string_equal(method, "HEAD");
}

/* ---- Upload-Metadata ------------------------------------------------------ */

static void test_metadata_spec_example(void **state) {
    (void)state;
    mc_err err = {0};
    mc_tus_metadata m;
    assert_int_equal(mc_tus_parse_metadata(
                         V("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential"), &m, &err),
                     0);
    assert_int_equal(m.count, 2);
    assert_string_equal(m.pairs[0].key, "filename");
    assert_int_equal(m.pairs[0].value_len, 25);
    assert_string_equal((const char *)m.pairs[0].value, "world_domination_plan.pdf");
    assert_string_equal(m.pairs[1].key, "is_confidential");
    assert_int_equal(m.pairs[1].value_len, 0);
    assert_string_equal((const char *)m.pairs[1].value, "");
    const mc_tus_meta_pair *p = mc_tus_metadata_get(&m, "is_confidential");
    assert_ptr_equal(p, &m.pairs[1]);
    assert_null(mc_tus_metadata_get(&m, "filetype"));
    char *text;
    assert_int_equal(mc_tus_format_metadata(m.pairs, m.count, &text, &err), 0);
    assert_string_equal(text, "filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential");
    free(text);
    mc_tus_metadata_free(&m);
    mc_tus_metadata_free(&m); /* idempotent */
}

static void test_metadata_forms(void **state) {
    (void)state;
    mc_err err = {0};
    mc_tus_metadata m;
    /* Spaces around pairs, an empty value with its space, binary values. */
    assert_int_equal(mc_tus_parse_metadata(V(" a YQ== ,\tb ,bin AAEC/w==,x-file.name_1 YmM= "), &m, &err), 0);
    assert_int_equal(m.count, 4);
    assert_string_equal(m.pairs[0].key, "a");
    assert_string_equal((const char *)m.pairs[0].value, "a");
    assert_string_equal(m.pairs[1].key, "b");
    assert_int_equal(m.pairs[1].value_len, 0);
    assert_int_equal(m.pairs[2].value_len, 4);
    assert_memory_equal(m.pairs[2].value, "\x00\x01\x02\xff", 4);
    assert_string_equal(m.pairs[3].key, "x-file.name_1");
    char *text;
    assert_int_equal(mc_tus_format_metadata(m.pairs, m.count, &text, &err), 0);
    assert_string_equal(text, "a YQ==,b,bin AAEC/w==,x-file.name_1 YmM=");
    free(text);
    mc_tus_metadata_free(&m);
    /* An empty header is no metadata. */
    assert_int_equal(mc_tus_parse_metadata(V(""), &m, &err), 0);
    assert_int_equal(m.count, 0);
    assert_int_equal(mc_tus_parse_metadata(V("  "), &m, &err), 0);
    assert_int_equal(m.count, 0);
    assert_int_equal(mc_tus_format_metadata(NULL, 0, &text, &err), 0);
    assert_string_equal(text, "");
    free(text);
}

static void test_metadata_malformed(void **state) {
    (void)state;
    static const struct {
        const char *value;
        const char *msg;
    } cases[] = {
        {"a YQ==,a Yg==", "Upload-Metadata key 'a' appears more than once"},
        {"name YQ", "Upload-Metadata value of key 'name': invalid base64: length 2 is not a multiple of 4"},
        {"name YR==", "Upload-Metadata value of key 'name': invalid base64: non-canonical encoding "
                      "(unused bits of the last character at offset 1 are not zero)"},
        {"name Y===", "Upload-Metadata value of key 'name': invalid base64: padding '=' at offset 1 "
                      "is not at the end"},
        {"name YQ==YQ==", "Upload-Metadata value of key 'name': invalid base64: padding '=' at "
                          "offset 2 is not at the end"},
        {"name Y Q=", "Upload-Metadata value of key 'name': invalid base64: unexpected byte 0x20 at "
                      "offset 1"},
        {"name  YQ==", "Upload-Metadata value of key 'name': invalid base64: length 5 is not a "
                       "multiple of 4"},
        {"name -_8=", "Upload-Metadata value of key 'name': invalid base64: unexpected character "
                      "'-' at offset 0"},
        {"a YQ==,,b Yg==", "Upload-Metadata has an empty pair"},
        {"a YQ==,", "Upload-Metadata has an empty pair"},
        {",a YQ==", "Upload-Metadata has an empty pair"},
        {"a YQ==, ,b", "Upload-Metadata has an empty pair"},
        {"k\xc3\xa9 YQ==", "Upload-Metadata key 'k\\xc3\\xa9' must be 1 to 128 printable ASCII "
                           "characters without spaces or commas"},
        {"a\tb YQ==", "Upload-Metadata key 'a\\x09b' must be 1 to 128 printable ASCII characters "
                      "without spaces or commas"},
        {"a\x7f YQ==", "Upload-Metadata key 'a\\x7f' must be 1 to 128 printable ASCII characters "
                       "without spaces or commas"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mc_err err = {0};
        mc_tus_metadata m;
        size_t n = strlen(cases[i].value);
        assert_fails(mc_tus_parse_metadata(copy(cases[i].value, n), n, &m, &err), &err, 400,
                     cases[i].msg);
        assert_null(m.mem);
        assert_int_equal(m.count, 0);
    }
    mc_err err = {0};
    mc_tus_metadata m;
    assert_fails(mc_tus_parse_metadata(V("a\0b YQ=="), &m, &err), &err, 400,
                 "Upload-Metadata key 'a\\x00b' must be 1 to 128 printable ASCII characters "
                 "without spaces or commas");
    assert_fails(mc_tus_parse_metadata(NULL, 0, &m, &err), &err, 400,
                 "Upload-Metadata header is required");
}

static void test_metadata_limits(void **state) {
    (void)state;
    mc_err err = {0};
    mc_tus_metadata m;
    /* MC_TUS_METADATA_MAX_PAIRS pairs are fine, one more is not. */
    char text[1024];
    size_t n = 0;
    for (int i = 0; i < MC_TUS_METADATA_MAX_PAIRS; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%sk%d YQ==", i ? "," : "", i);
    assert_int_equal(mc_tus_parse_metadata(copy(text, n), n, &m, &err), 0);
    assert_int_equal(m.count, MC_TUS_METADATA_MAX_PAIRS);
    assert_string_equal(m.pairs[63].key, "k63");
    mc_tus_metadata_free(&m);
    n += (size_t)snprintf(text + n, sizeof text - n, ",k64");
    assert_fails(mc_tus_parse_metadata(copy(text, n), n, &m, &err), &err, 400,
                 "Upload-Metadata has 65 pairs; the limit is 64");

    /* A value filling MC_TUS_METADATA_MAX_BYTES is fine, a byte more is not. */
    size_t max = MC_TUS_METADATA_MAX_BYTES;
    char *big = malloc(max + 1);
    memcpy(big, "vvv ", 4);
    memset(big + 4, 'A', max - 4); /* 16380 characters: 12285 zero bytes */
    assert_int_equal(mc_tus_parse_metadata(copy(big, max), max, &m, &err), 0);
    assert_int_equal(m.pairs[0].value_len, 12285);
    mc_tus_metadata_free(&m);
    big[max] = ' ';
    assert_fails(mc_tus_parse_metadata(copy(big, max + 1), max + 1, &m, &err), &err, 400,
                 "Upload-Metadata is 16385 bytes; the limit is 16384");
    free(big);

    /* Keys of MC_TUS_METADATA_MAX_KEY bytes, not more. */
    char key[MC_TUS_METADATA_MAX_KEY + 2];
    memset(key, 'k', sizeof key);
    assert_int_equal(mc_tus_parse_metadata(copy(key, MC_TUS_METADATA_MAX_KEY), MC_TUS_METADATA_MAX_KEY,
                                           &m, &err), 0);
    mc_tus_metadata_free(&m);
    assert_int_equal(mc_tus_parse_metadata(copy(key, MC_TUS_METADATA_MAX_KEY + 1),
                                           MC_TUS_METADATA_MAX_KEY + 1, &m, &err), -1);
    assert_non_null(strstr(err.msg, "must be 1 to 128 printable ASCII characters"));
}

static void test_metadata_format_refuses_bad_keys(void **state) {
    (void)state;
    mc_err err = {0};
    char *text = NULL;
    mc_tus_meta_pair injected[] = {{"ok", (const unsigned char *)"x", 1},
                                   {"evil\r\nSet-Cookie:", (const unsigned char *)"", 0}};
    assert_int_equal(mc_tus_format_metadata(injected, 2, &text, &err), -1);
    assert_string_equal(err.msg, "metadata key 'evil\\x0d\\x0aSet-Cookie:' cannot be sent in Upload-Metadata");
    assert_null(text);
    mc_tus_meta_pair spaced[] = {{"a b", (const unsigned char *)"", 0}};
    assert_int_equal(mc_tus_format_metadata(spaced, 1, &text, &err), -1);
    mc_tus_meta_pair comma[] = {{"a,b", (const unsigned char *)"", 0}};
    assert_int_equal(mc_tus_format_metadata(comma, 1, &text, &err), -1);
    mc_tus_meta_pair empty[] = {{"", (const unsigned char *)"", 0}};
    assert_int_equal(mc_tus_format_metadata(empty, 1, &text, &err), -1);
    /* Values are always encoded, so any bytes are safe. */
    mc_tus_meta_pair binary[] = {{"v", (const unsigned char *)"\r\n\0", 3}};
    assert_int_equal(mc_tus_format_metadata(binary, 1, &text, &err), 0);
    assert_string_equal(text, "v DQoA");
    free(text);
}

/* ---- Upload-Concat and upload URLs --------------------------------------- */

static void test_concat_partial_and_final(void **state) {
    (void)state;
    mc_err err = {0};
    mc_tus_concat c;
    assert_int_equal(mc_tus_parse_concat(V("partial"), "/files/", NULL, &c, &err), 0);
    assert_int_equal(c.kind, MC_TUS_CONCAT_PARTIAL);
    assert_int_equal(c.count, 0);

    /* The spec's example. */
    assert_int_equal(mc_tus_parse_concat(V("final;/files/a /files/b"), "/files/", NULL, &c, &err), 0);
    assert_int_equal(c.kind, MC_TUS_CONCAT_FINAL);
    assert_int_equal(c.count, 2);
    assert_string_equal(c.ids[0], "a");
    assert_string_equal(c.ids[1], "b");

    /* Absolute URLs on this host (any case), extra spaces, order kept, a
     * partial named twice, a base path without its trailing slash. */
    assert_int_equal(mc_tus_parse_concat(V("final; https://tus.example.org/files/24e533e0  "
                                           "HTTP://TUS.Example.ORG/files/x-Y_9 /files/24e533e0 "),
                                         "/files", "tus.example.org", &c, &err),
                     0);
    assert_int_equal(c.count, 3);
    assert_string_equal(c.ids[0], "24e533e0");
    assert_string_equal(c.ids[1], "x-Y_9");
    assert_string_equal(c.ids[2], "24e533e0");

    /* Without a host to compare, any http(s) authority is accepted. */
    assert_int_equal(mc_tus_parse_concat(V("final;http://127.0.0.1:8080/files/a"), "/files/", NULL,
                                         &c, &err), 0);
    assert_string_equal(c.ids[0], "a");
}

static void test_concat_malformed_and_foreign(void **state) {
    (void)state;
    static const struct {
        const char *value;
        const char *msg;
    } cases[] = {
        {"final;", "Upload-Concat 'final;' must be followed by the URLs of the partial uploads"},
        {"final;   ", "Upload-Concat 'final;' must be followed by the URLs of the partial uploads"},
        {"final", "Upload-Concat must be 'partial' or 'final;' followed by upload URLs, got 'final'"},
        {"Partial", "Upload-Concat must be 'partial' or 'final;' followed by upload URLs, got 'Partial'"},
        {"partial;", "Upload-Concat must be 'partial' or 'final;' followed by upload URLs, got 'partial;'"},
        {"", "Upload-Concat must be 'partial' or 'final;' followed by upload URLs, got ''"},
        {"final,/files/a", "Upload-Concat must be 'partial' or 'final;' followed by upload URLs, got "
                           "'final,/files/a'"},
        {"final;https://evil.example.com/files/a",
         "Upload-Concat: 'https://evil.example.com/files/a' is not an upload URL of this server"},
        {"final;https://tus.example.org.evil.com/files/a",
         "Upload-Concat: 'https://tus.example.org.evil.com/files/a' is not an upload URL of this server"},
        {"final;/files/a /uploads/b", "Upload-Concat: '/uploads/b' is not an upload URL of this server"},
        {"final;/filesx/a", "Upload-Concat: '/filesx/a' is not an upload URL of this server"},
        {"final;/files/", "Upload-Concat: '/files/' is not an upload URL of this server"},
        {"final;/files", "Upload-Concat: '/files' is not an upload URL of this server"},
        {"final;https://tus.example.org", "Upload-Concat: 'https://tus.example.org' is not an upload "
                                          "URL of this server"},
        {"final;/files/a/b", "Upload-Concat: '/files/a/b' does not end in a valid upload id"},
        {"final;/files/a?x=1", "Upload-Concat: '/files/a?x=1' does not end in a valid upload id"},
        {"final;/files/a#f", "Upload-Concat: '/files/a#f' does not end in a valid upload id"},
        {"final;/files/%41", "Upload-Concat: '/files/%41' does not end in a valid upload id"},
        {"final;/files/..", "Upload-Concat: '/files/..' does not end in a valid upload id"},
        {"final;files/a", "Upload-Concat: 'files/a' is not a valid upload URL (an absolute URL or "
                          "path was expected)"},
        {"final;//tus.example.org/files/a", "Upload-Concat: '//tus.example.org/files/a' is not a valid "
                                            "upload URL (an absolute URL or path was expected)"},
        {"final;ftp://tus.example.org/files/a", "Upload-Concat: 'ftp://tus.example.org/files/a' is not "
                                                "a valid upload URL (an absolute URL or path was expected)"},
        {"final;https://user@tus.example.org/files/a",
         "Upload-Concat: 'https://user@tus.example.org/files/a' is not a valid upload URL"},
        {"final;https:///files/a", "Upload-Concat: 'https:///files/a' is not a valid upload URL"},
        {"final;/files/a,/files/b", "Upload-Concat: '/files/a,/files/b' does not end in a valid upload id"},
        {"final;/files/a\t/files/b", "Upload-Concat: '/files/a\\x09/files/b' does not end in a valid "
                                     "upload id"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mc_err err = {0};
        mc_tus_concat c;
        size_t n = strlen(cases[i].value);
        assert_fails(mc_tus_parse_concat(copy(cases[i].value, n), n, "/files/", "tus.example.org", &c,
                                         &err),
                     &err, 400, cases[i].msg);
    }
    mc_err err = {0};
    mc_tus_concat c;
    assert_fails(mc_tus_parse_concat(NULL, 0, "/files/", NULL, &c, &err), &err, 400,
                 "Upload-Concat header is required");
}

static void test_concat_limits(void **state) {
    (void)state;
    mc_err err = {0};
    mc_tus_concat c;
    char text[MC_TUS_CONCAT_MAX_PARTIALS * 16 + 32];
    size_t n = (size_t)snprintf(text, sizeof text, "final;");
    for (int i = 0; i < MC_TUS_CONCAT_MAX_PARTIALS; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "/files/p%d ", i);
    assert_int_equal(mc_tus_parse_concat(copy(text, n), n, "/files/", NULL, &c, &err), 0);
    assert_int_equal(c.count, MC_TUS_CONCAT_MAX_PARTIALS);
    assert_string_equal(c.ids[127], "p127");
    n += (size_t)snprintf(text + n, sizeof text - n, "/files/one-more");
    assert_fails(mc_tus_parse_concat(copy(text, n), n, "/files/", NULL, &c, &err), &err, 400,
                 "Upload-Concat names more than 128 partial uploads");

    char id[MC_TUS_ID_MAX + 2];
    memset(id, 'a', sizeof id);
    char url[128];
    n = (size_t)snprintf(url, sizeof url, "final;/files/%.*s", MC_TUS_ID_MAX, id);
    assert_int_equal(mc_tus_parse_concat(copy(url, n), n, "/files/", NULL, &c, &err), 0);
    assert_int_equal(strlen(c.ids[0]), MC_TUS_ID_MAX);
    n = (size_t)snprintf(url, sizeof url, "final;/files/%.*s", MC_TUS_ID_MAX + 1, id);
    assert_int_equal(mc_tus_parse_concat(copy(url, n), n, "/files/", NULL, &c, &err), -1);
    assert_non_null(strstr(err.msg, "does not end in a valid upload id"));
}

static void test_upload_url_of_a_request_path(void **state) {
    (void)state;
    mc_err err = {0};
    char id[MC_TUS_ID_MAX + 1];
    assert_int_equal(mc_tus_parse_upload_url(V("/files/24e533e02ec3bc40c387f1a0e460e216"), "/files/",
                                             NULL, id, &err), 0);
    assert_string_equal(id, "24e533e02ec3bc40c387f1a0e460e216");
    assert_int_equal(mc_tus_parse_upload_url(V("/x"), "/", NULL, id, &err), 0);
    assert_string_equal(id, "x");
    assert_int_equal(mc_tus_parse_upload_url(V("/"), "/files/", NULL, id, &err), -1);
    assert_int_equal(mc_tus_parse_upload_url(V(""), "/files/", NULL, id, &err), -1);
    assert_string_equal(err.msg, "'' is not a valid upload URL (an absolute URL or path was expected)");
    assert_true(mc_tus_id_valid("a", 1));
    assert_false(mc_tus_id_valid("", 0));
    assert_false(mc_tus_id_valid("a.b", 3));
}

/* ---- Upload-Checksum ------------------------------------------------------ */

static void test_checksum_valid(void **state) {
    (void)state;
    mc_err err = {0};
    mc_tus_checksum c;
    /* The spec's example: sha1 of "hello world". */
    assert_int_equal(mc_tus_parse_checksum(V("sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0="), &c, &err), 0);
    assert_int_equal(c.alg, MC_CHECKSUM_SHA1);
    assert_int_equal(c.digest_len, 20);
    assert_memory_equal(c.digest, "\x2a\xae\x6c\x35\xc9\x4f\xcf\xb4\x15\xdb\xe9\x5f\x40\x8b\x9c\xe9"
                                  "\x1e\xe8\x46\xed", 20);
    assert_int_equal(mc_tus_parse_checksum(V("md5 XrY7u+Ae7tCTyyK7j1rNww=="), &c, &err), 0);
    assert_int_equal(c.alg, MC_CHECKSUM_MD5);
    assert_int_equal(c.digest_len, 16);
    assert_memory_equal(c.digest, "\x5e\xb6\x3b\xbb\xe0\x1e\xee\xd0\x93\xcb\x22\xbb\x8f\x5a\xcd\xc3", 16);
    assert_int_equal(mc_tus_parse_checksum(V("crc32 DUoRhQ=="), &c, &err), 0);
    assert_int_equal(c.alg, MC_CHECKSUM_CRC32);
    assert_int_equal(c.digest_len, 4);
    assert_memory_equal(c.digest, "\x0d\x4a\x11\x85", 4);
}

static void test_checksum_malformed(void **state) {
    (void)state;
    static const struct {
        const char *value;
        const char *msg;
    } cases[] = {
        {"sha256 uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=",
         "Upload-Checksum algorithm 'sha256' is not supported; supported: sha1,md5,crc32"},
        {"SHA1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=",
         "Upload-Checksum algorithm 'SHA1' is not supported; supported: sha1,md5,crc32"},
        {" Kq5sNclPz7QV2+lfQIuc6R7oRu0=",
         "Upload-Checksum algorithm '' is not supported; supported: sha1,md5,crc32"},
        {"sha1", "Upload-Checksum must be '<algorithm> <base64 digest>', got 'sha1'"},
        {"", "Upload-Checksum must be '<algorithm> <base64 digest>', got ''"},
        {"sha1 ", "Upload-Checksum sha1 digest must be 20 bytes, got 0"},
        {"md5 Kq5sNclPz7QV2+lfQIuc6R7oRu0=", "Upload-Checksum md5 digest must be 16 bytes, got 20"},
        {"sha1 XrY7u+Ae7tCTyyK7j1rNww==", "Upload-Checksum sha1 digest must be 20 bytes, got 16"},
        {"crc32 XrY7u+Ae7tCTyyK7j1rNww==", "Upload-Checksum crc32 digest must be 4 bytes, got 16"},
        {"crc32 DUoR", "Upload-Checksum crc32 digest must be 4 bytes, got 3"},
        {"crc32 DUoRhQ", "Upload-Checksum crc32 digest: invalid base64: length 6 is not a multiple of 4"},
        {"crc32 DUoRhR==", "Upload-Checksum crc32 digest: invalid base64: non-canonical encoding "
                           "(unused bits of the last character at offset 5 are not zero)"},
        {"sha1 Kq5sNclPz7QV2-lfQIuc6R7oRu0=", "Upload-Checksum sha1 digest: invalid base64: "
                                              "unexpected character '-' at offset 13"},
        {"sha1  Kq5sNclPz7QV2+lfQIuc6R7oRu0=", "Upload-Checksum sha1 digest must be 20 bytes, got 29 "
                                               "base64 characters"},
        {"sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0= ", "Upload-Checksum sha1 digest must be 20 bytes, got 29 "
                                               "base64 characters"},
        {"md5 Kq5sNclPz7QV2+lfQIuc6R7oRu0=Kq5sNclPz7QV2+lfQIuc6R7oRu0=Kq5sNclPz7QV2+lfQIuc6R7oRu0=",
         "Upload-Checksum md5 digest must be 16 bytes, got 84 base64 characters"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mc_err err = {0};
        mc_tus_checksum c;
        size_t n = strlen(cases[i].value);
        assert_fails(mc_tus_parse_checksum(copy(cases[i].value, n), n, &c, &err), &err, 400,
                     cases[i].msg);
    }
    mc_err err = {0};
    mc_tus_checksum c;
    assert_fails(mc_tus_parse_checksum(NULL, 0, &c, &err), &err, 400,
                 "Upload-Checksum header is required");
}

/* ---- Upload-Expires ------------------------------------------------------- */

static void test_http_date(void **state) {
    (void)state;
    mc_err err = {0};
    char date[MC_TUS_HTTP_DATE_SIZE];
    assert_int_equal(mc_tus_format_http_date(1403712000, date, &err), 0); /* the spec's example */
    assert_string_equal(date, "Wed, 25 Jun 2014 16:00:00 GMT");
    assert_int_equal(mc_tus_format_http_date(784111777, date, &err), 0); /* RFC 9110's example */
    assert_string_equal(date, "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_int_equal(mc_tus_format_http_date(0, date, &err), 0);
    assert_string_equal(date, "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_int_equal(mc_tus_format_http_date(-1, date, &err), 0);
    assert_string_equal(date, "Wed, 31 Dec 1969 23:59:59 GMT");
    assert_int_equal(mc_tus_format_http_date(951782400, date, &err), 0); /* leap day */
    assert_string_equal(date, "Tue, 29 Feb 2000 00:00:00 GMT");
    assert_int_equal(mc_tus_format_http_date(253402300799LL, date, &err), 0);
    assert_string_equal(date, "Fri, 31 Dec 9999 23:59:59 GMT");
    assert_int_equal(mc_tus_format_http_date(253402300800LL, date, &err), -1);
    assert_string_equal(err.msg, "time 253402300800 is outside the years 0000 to 9999");
    assert_int_equal(mc_tus_format_http_date(INT64_MIN, date, &err), -1);
    assert_int_equal(mc_tus_format_http_date(INT64_MAX, date, &err), -1);
}

#define T(f) cmocka_unit_test_teardown(f, free_copies)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_resumable),
        T(test_offset_and_length_valid),
        T(test_offset_and_length_malformed),
        T(test_hostile_values_are_quoted_and_cut),
        T(test_defer_length),
        T(test_content_type),
        T(test_method_override),
        T(test_metadata_spec_example),
        T(test_metadata_forms),
        T(test_metadata_malformed),
        T(test_metadata_limits),
        T(test_metadata_format_refuses_bad_keys),
        T(test_concat_partial_and_final),
        T(test_concat_malformed_and_foreign),
        T(test_concat_limits),
        T(test_upload_url_of_a_request_path),
        T(test_checksum_valid),
        T(test_checksum_malformed),
        T(test_http_date),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
