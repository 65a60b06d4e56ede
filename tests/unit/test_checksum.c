/* The tus checksum algorithms over streamed bodies: published digests of
 * known inputs, the same digests when the input arrives in random pieces,
 * and the 460 mismatch the server answers with. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "upload/checksum.h"

static void hex(const unsigned char *d, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

/* Digest of data fed in pieces of 0..max_piece bytes (seeded, so the
 * pieces are the same every run), as lowercase hex. */
static void digest_in_pieces(mc_checksum_alg alg, const unsigned char *data, size_t len,
                             size_t max_piece, uint32_t seed, char *out_hex) {
    mc_checksum c;
    mc_err err = {0};
    assert_int_equal(mc_checksum_init(&c, alg, &err), 0);
    size_t done = 0;
    while (done < len) {
        seed ^= seed << 13, seed ^= seed >> 17, seed ^= seed << 5;
        size_t piece = max_piece ? seed % (max_piece + 1) : len - done;
        if (piece > len - done) piece = len - done;
        assert_int_equal(mc_checksum_update(&c, data + done, piece, &err), 0);
        done += piece;
    }
    unsigned char digest[MC_CHECKSUM_MAX_DIGEST];
    assert_int_equal(mc_checksum_final(&c, digest, &err), 0);
    hex(digest, mc_checksum_digest_len(alg), out_hex);
    mc_checksum_free(&c);
}

static const struct {
    mc_checksum_alg alg;
    const char *input;
    const char *digest;
} vectors[] = {
    {MC_CHECKSUM_SHA1, "", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
    {MC_CHECKSUM_SHA1, "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
    {MC_CHECKSUM_SHA1, "hello world", "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed"},
    {MC_CHECKSUM_MD5, "", "d41d8cd98f00b204e9800998ecf8427e"},
    {MC_CHECKSUM_MD5, "abc", "900150983cd24fb0d6963f7d28e17f72"},
    {MC_CHECKSUM_MD5, "hello world", "5eb63bbbe01eeed093cb22bb8f5acdc3"},
    {MC_CHECKSUM_CRC32, "", "00000000"},
    {MC_CHECKSUM_CRC32, "123456789", "cbf43926"}, /* the CRC-32 check value */
    {MC_CHECKSUM_CRC32, "hello world", "0d4a1185"},
};

static void test_known_digests(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        char got[2 * MC_CHECKSUM_MAX_DIGEST + 1];
        const unsigned char *in = (const unsigned char *)vectors[i].input;
        digest_in_pieces(vectors[i].alg, in, strlen(vectors[i].input), 0, 1, got);
        assert_string_equal(got, vectors[i].digest);
        digest_in_pieces(vectors[i].alg, in, strlen(vectors[i].input), 1, 7, got);
        assert_string_equal(got, vectors[i].digest);
    }
}

/* A million 'a' (the FIPS 180 long-message vector) in random pieces,
 * including empty ones, for several piece sizes and seeds. */
static void test_million_a_in_random_pieces(void **state) {
    (void)state;
    static const struct {
        mc_checksum_alg alg;
        const char *digest;
    } expected[] = {
        {MC_CHECKSUM_SHA1, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"},
        {MC_CHECKSUM_MD5, "7707d6ae4e027c70eea2a935c2296f21"},
        {MC_CHECKSUM_CRC32, "dc25bfbc"},
    };
    size_t len = 1000000;
    unsigned char *data = malloc(len);
    memset(data, 'a', len);
    const size_t pieces[] = {0, 1, 63, 4096, 1 << 18};
    for (size_t a = 0; a < 3; a++) {
        for (size_t p = 0; p < sizeof pieces / sizeof pieces[0]; p++) {
            if (pieces[p] == 1 && a != 2) continue; /* byte by byte: once is enough */
            char got[2 * MC_CHECKSUM_MAX_DIGEST + 1];
            digest_in_pieces(expected[a].alg, data, len, pieces[p], 2463534242u + (uint32_t)p, got);
            assert_string_equal(got, expected[a].digest);
        }
    }
    free(data);
}

static void test_verify_match_and_mismatch(void **state) {
    (void)state;
    static const unsigned char hello_sha1[20] = {0x2a, 0xae, 0x6c, 0x35, 0xc9, 0x4f, 0xcf,
                                                 0xb4, 0x15, 0xdb, 0xe9, 0x5f, 0x40, 0x8b,
                                                 0x9c, 0xe9, 0x1e, 0xe8, 0x46, 0xed};
    mc_checksum c;
    mc_err err = {0};
    assert_int_equal(mc_checksum_init(&c, MC_CHECKSUM_SHA1, &err), 0);
    assert_int_equal(mc_checksum_update(&c, "hello ", 6, &err), 0);
    assert_int_equal(mc_checksum_update(&c, "world", 5, &err), 0);
    assert_int_equal(mc_checksum_verify(&c, hello_sha1, 20, &err), 0);
    mc_checksum_free(&c);

    assert_int_equal(mc_checksum_init(&c, MC_CHECKSUM_SHA1, &err), 0);
    assert_int_equal(mc_checksum_update(&c, "hello world!", 12, &err), 0);
    assert_int_equal(mc_checksum_verify(&c, hello_sha1, 20, &err), -1);
    assert_int_equal(err.status, 460);
    assert_int_equal(err.kind, MC_ERR_INVALID);
    assert_string_equal(err.msg, "checksum mismatch: the body's sha1 is QwzjTQIHJO11oZbfwq1nx3dy0Wk=, "
                                 "Upload-Checksum says Kq5sNclPz7QV2+lfQIuc6R7oRu0=");
    mc_checksum_free(&c);
    mc_checksum_free(&c); /* idempotent */

    static const unsigned char crc[4] = {0x0d, 0x4a, 0x11, 0x85};
    assert_int_equal(mc_checksum_init(&c, MC_CHECKSUM_CRC32, &err), 0);
    assert_int_equal(mc_checksum_update(&c, "hello world", 11, &err), 0);
    assert_int_equal(mc_checksum_verify(&c, crc, 3, &err), -1); /* wrong length never matches */
    assert_int_equal(err.status, 460);
    mc_checksum_free(&c);
}

static void test_algorithm_names(void **state) {
    (void)state;
    mc_checksum_alg alg;
    assert_true(mc_checksum_alg_from_name("sha1", 4, &alg));
    assert_int_equal(alg, MC_CHECKSUM_SHA1);
    assert_true(mc_checksum_alg_from_name("md5", 3, &alg));
    assert_int_equal(alg, MC_CHECKSUM_MD5);
    assert_true(mc_checksum_alg_from_name("crc32", 5, &alg));
    assert_int_equal(alg, MC_CHECKSUM_CRC32);
    assert_true(mc_checksum_alg_from_name("sha1 trailing", 4, &alg)); /* only len bytes count */
    assert_false(mc_checksum_alg_from_name("SHA1", 4, &alg));
    assert_false(mc_checksum_alg_from_name("sha256", 6, &alg));
    assert_false(mc_checksum_alg_from_name("sha", 3, &alg));
    assert_false(mc_checksum_alg_from_name("", 0, &alg));
    assert_int_equal(mc_checksum_digest_len(MC_CHECKSUM_SHA1), 20);
    assert_int_equal(mc_checksum_digest_len(MC_CHECKSUM_MD5), 16);
    assert_int_equal(mc_checksum_digest_len(MC_CHECKSUM_CRC32), 4);
    assert_string_equal(mc_checksum_alg_name(MC_CHECKSUM_CRC32), "crc32");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_digests),
        cmocka_unit_test(test_million_a_in_random_pieces),
        cmocka_unit_test(test_verify_match_and_mismatch),
        cmocka_unit_test(test_algorithm_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
