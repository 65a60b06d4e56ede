/* Strict Base64 and base64url: RFC 4648 vectors, one accepted spelling per
 * byte string, and inputs larger than the coder's internal chunks. Inputs
 * are exact-size heap copies, so ASan catches any read past the length. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/base64.h"

/* Decodes an exact-size copy of text; returns rc, fills out/out_len. */
static int decode(int url, const char *text, unsigned char *out, size_t *out_len, mc_err *err) {
    size_t n = strlen(text);
    char *copy = malloc(n ? n : 1);
    memcpy(copy, text, n);
    int rc = url ? mc_base64url_decode(copy, n, out, out_len, err)
                 : mc_base64_decode(copy, n, out, out_len, err);
    free(copy);
    return rc;
}

static void test_rfc4648_vectors(void **state) {
    (void)state;
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const std[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *const url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        size_t n = strlen(plain[i]);
        char text[16];
        assert_int_equal(mc_base64_encode(plain[i], n, text), strlen(std[i]));
        assert_string_equal(text, std[i]);
        assert_int_equal(mc_base64url_encode(plain[i], n, text), strlen(url[i]));
        assert_string_equal(text, url[i]);
        unsigned char bytes[16];
        size_t len = 99;
        mc_err err = {0};
        assert_int_equal(decode(0, std[i], bytes, &len, &err), 0);
        assert_int_equal(len, n);
        assert_memory_equal(bytes, plain[i], n);
        assert_int_equal(decode(1, url[i], bytes, &len, &err), 0);
        assert_int_equal(len, n);
        assert_memory_equal(bytes, plain[i], n);
    }
}

static void test_alphabets_differ(void **state) {
    (void)state;
    const unsigned char bytes[] = {0xfb, 0xff, 0xbf};
    char text[8];
    mc_base64_encode(bytes, 3, text);
    assert_string_equal(text, "+/+/");
    mc_base64url_encode(bytes, 3, text);
    assert_string_equal(text, "-_-_");
    unsigned char out[8];
    size_t len;
    mc_err err = {0};
    assert_int_equal(decode(0, "-_-_", out, &len, &err), -1);
    assert_string_equal(err.msg, "invalid base64: unexpected character '-' at offset 0");
    assert_int_equal(decode(1, "+/+/", out, &len, &err), -1);
    assert_string_equal(err.msg, "invalid base64url: unexpected character '+' at offset 0");
}

static void test_strict_rejections(void **state) {
    (void)state;
    static const struct {
        int url;
        const char *text;
        const char *msg;
    } cases[] = {
        {0, "Zg=", "invalid base64: length 3 is not a multiple of 4"},
        {0, "Zg", "invalid base64: length 2 is not a multiple of 4"},
        {0, "Zh==", "invalid base64: non-canonical encoding (unused bits of the last character at offset 1 are not zero)"},
        {0, "Zm9=", "invalid base64: non-canonical encoding (unused bits of the last character at offset 2 are not zero)"},
        {0, "Zg==Zg==", "invalid base64: padding '=' at offset 2 is not at the end"},
        {0, "Z===", "invalid base64: padding '=' at offset 1 is not at the end"},
        {0, "====", "invalid base64: padding '=' at offset 0 is not at the end"},
        {0, "Zm9v\n", "invalid base64: length 5 is not a multiple of 4"},
        {0, " Zm9", "invalid base64: unexpected byte 0x20 at offset 0"},
        {0, "Zm\r\n", "invalid base64: unexpected byte 0x0d at offset 2"},
        {0, "Zm9*", "invalid base64: unexpected character '*' at offset 3"},
        {1, "Zg==", "invalid base64url: unexpected character '=' at offset 2"},
        {1, "Z", "invalid base64url: length 1 leaves a lone final character"},
        {1, "Zm9vY", "invalid base64url: length 5 leaves a lone final character"},
        {1, "Zh", "invalid base64url: non-canonical encoding (unused bits of the last character at offset 1 are not zero)"},
        {1, "Zm9", "invalid base64url: non-canonical encoding (unused bits of the last character at offset 2 are not zero)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char out[16];
        size_t len;
        mc_err err = {0};
        assert_int_equal(decode(cases[i].url, cases[i].text, out, &len, &err), -1);
        assert_int_equal(err.kind, MC_ERR_INVALID);
        assert_string_equal(err.msg, cases[i].msg);
    }
}

static void test_embedded_nul_is_a_character(void **state) {
    (void)state;
    unsigned char out[8];
    size_t len;
    mc_err err = {0};
    assert_int_equal(mc_base64_decode("Zm\0v", 4, out, &len, &err), -1);
    assert_string_equal(err.msg, "invalid base64: unexpected byte 0x00 at offset 2");
    /* Only len characters are read: "Zm9v" of "Zm9vYg==" is "foo". */
    assert_int_equal(mc_base64_decode("Zm9vYg==", 4, out, &len, &err), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(out, "foo", 3);
}

/* Every byte string round-trips, past the encoder's (49152-byte) and the
 * decoders' (65536- and 256-character) chunk sizes, at every tail length. */
static void test_large_round_trips(void **state) {
    (void)state;
    size_t max = 200003;
    unsigned char *data = malloc(max);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < max; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        data[i] = (unsigned char)x;
    }
    char *text = malloc(mc_base64_encoded_size(max));
    unsigned char *back = malloc(mc_base64_decoded_max(mc_base64_encoded_size(max)));
    const size_t sizes[] = {max, max - 1, max - 2, 49152, 49153, 65536 / 4 * 3, 192, 193, 194};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int url = 0; url <= 1; url++) {
            size_t n = sizes[s], len = 0;
            size_t text_len = url ? mc_base64url_encode(data, n, text) : mc_base64_encode(data, n, text);
            assert_int_equal(strlen(text), text_len);
            mc_err err = {0};
            int rc = url ? mc_base64url_decode(text, text_len, back, &len, &err)
                         : mc_base64_decode(text, text_len, back, &len, &err);
            assert_int_equal(rc, 0);
            assert_int_equal(len, n);
            assert_memory_equal(back, data, n);
        }
    }
    free(data);
    free(text);
    free(back);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors),
        cmocka_unit_test(test_alphabets_differ),
        cmocka_unit_test(test_strict_rejections),
        cmocka_unit_test(test_embedded_nul_is_a_character),
        cmocka_unit_test(test_large_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
