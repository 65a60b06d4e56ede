/* Unit tests of common/playback: signing and verifying playback credentials,
 * scopes and their parent directories, every tampered field, expiry, key
 * rotation, malformed credentials and the keys read from settings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/playback.h"

#define TENANT "acme"
#define VIDEO "0b9f6a5e-2c1d-4e8f-9a7b-3c2d1e0f4a5b"
#define OTHER_VIDEO "1b9f6a5e-2c1d-4e8f-9a7b-3c2d1e0f4a5b"
#define NOW 1700000000
#define EXP (NOW + 3600)

static const char secret_a[] = "playback-secret-number-one";
static const char secret_b[] = "playback-secret-number-two";
static const mc_token_key key_a = {"k1", (const unsigned char *)secret_a, sizeof secret_a - 1};
static const mc_token_key key_b = {"k2", (const unsigned char *)secret_b, sizeof secret_b - 1};

static void sign(const mc_token_key *key, const char *scope, int64_t exp, char cred[MC_PLAYBACK_CRED_MAX]) {
    mc_err err = {0};
    if (mc_playback_sign(key, TENANT, VIDEO, scope, exp, cred, &err))
        fail_msg("sign '%s': %s", scope, err.msg);
}

static int verify_as(const char *cred, const mc_token_key *keys, size_t nkeys, const char *tenant,
                     const char *video, const char *path, int64_t now, mc_err *err) {
    mc_err_clear(err);
    return mc_playback_verify(cred, strlen(cred), keys, nkeys, tenant, video, path, now, err);
}

static int verify(const char *cred, const char *path, mc_err *err) {
    return verify_as(cred, &key_a, 1, TENANT, VIDEO, path, NOW, err);
}

static void assert_refused(int rc, const mc_err *err, const char *code) {
    assert_int_equal(rc, -1);
    assert_int_equal(err->kind, MC_ERR_AUTH);
    assert_int_equal(err->status, 403);
    assert_string_equal(err->code, code);
    assert_true(strlen(err->msg) > 10);
}

static void test_roundtrip(void **state) {
    (void)state;
    char cred[MC_PLAYBACK_CRED_MAX];
    mc_err err = {0};
    sign(&key_a, "720p.mp4", EXP, cred);
    assert_int_equal(strncmp(cred, "k1.1700003600.", 14), 0);
    assert_int_equal(strlen(cred), 14 + 43);
    assert_int_equal(verify(cred, "720p.mp4", &err), 0);
    /* Deterministic: the same grant has one spelling. */
    char again[MC_PLAYBACK_CRED_MAX];
    sign(&key_a, "720p.mp4", EXP, again);
    assert_string_equal(cred, again);
    /* A path scope grants only that path. */
    assert_refused(verify(cred, "1080p.mp4", &err), &err, MC_PLAYBACK_BAD_SIGNATURE);
    assert_refused(verify(cred, "", &err), &err, MC_PLAYBACK_BAD_SIGNATURE);
}

static void test_scope_parents(void **state) {
    (void)state;
    char cred[MC_PLAYBACK_CRED_MAX];
    mc_err err = {0};
    sign(&key_a, "hls/", EXP, cred);
    assert_int_equal(verify(cred, "hls/master.m3u8", &err), 0);
    assert_int_equal(verify(cred, "hls/720p/seg_00001.m4s", &err), 0);
    assert_int_equal(verify(cred, "hls/720p/index.m3u8", &err), 0);
    assert_refused(verify(cred, "720p.mp4", &err), &err, MC_PLAYBACK_BAD_SIGNATURE);
    assert_refused(verify(cred, "thumbs/poster.jpg", &err), &err, MC_PLAYBACK_BAD_SIGNATURE);
    assert_refused(verify(cred, "", &err), &err, MC_PLAYBACK_BAD_SIGNATURE);

    sign(&key_a, "hls/720p/", EXP, cred);
    assert_int_equal(verify(cred, "hls/720p/seg_00001.m4s", &err), 0);
    assert_refused(verify(cred, "hls/360p/seg_00001.m4s", &err), &err, MC_PLAYBACK_BAD_SIGNATURE);
    assert_refused(verify(cred, "hls/master.m3u8", &err), &err, MC_PLAYBACK_BAD_SIGNATURE);

    /* "" grants every output and the page. */
    sign(&key_a, "", EXP, cred);
    assert_int_equal(verify(cred, "", &err), 0);
    assert_int_equal(verify(cred, "720p.mp4", &err), 0);
    assert_int_equal(verify(cred, "hls/720p/seg_00001.m4s", &err), 0);
    assert_int_equal(verify(cred, "thumbs/poster.jpg", &err), 0);

    /* A prefix that is not a directory grants nothing beyond itself. */
    sign(&key_a, "hls", EXP, cred);
    assert_refused(verify(cred, "hls/master.m3u8", &err), &err, MC_PLAYBACK_BAD_SIGNATURE);
    sign(&key_a, "hls/72", EXP, cred);
    assert_refused(verify(cred, "hls/720p/index.m3u8", &err), &err, MC_PLAYBACK_BAD_SIGNATURE);
}

static void test_tampered(void **state) {
    (void)state;
    char cred[MC_PLAYBACK_CRED_MAX], t[MC_PLAYBACK_CRED_MAX];
    mc_err err = {0};
    sign(&key_a, "", EXP, cred);
    /* Signature: flip one character (stays base64url, canonical padding bits). */
    strcpy(t, cred);
    size_t sig = strlen(t) - 43;
    t[sig] = t[sig] == 'A' ? 'B' : 'A';
    assert_refused(verify(t, "720p.mp4", &err), &err, MC_PLAYBACK_BAD_SIGNATURE);
    /* Expiry moved later. */
    snprintf(t, sizeof t, "k1.%d.%s", EXP + 1, cred + sig);
    assert_refused(verify(t, "720p.mp4", &err), &err, MC_PLAYBACK_BAD_SIGNATURE);
    /* Another active key id, same signature. */
    mc_token_key both[2] = {key_a, key_b};
    snprintf(t, sizeof t, "k2.%d.%s", EXP, cred + sig);
    assert_refused(verify_as(t, both, 2, TENANT, VIDEO, "720p.mp4", NOW, &err), &err,
                   MC_PLAYBACK_BAD_SIGNATURE);
    /* Another video, another tenant. */
    assert_refused(verify_as(cred, &key_a, 1, TENANT, OTHER_VIDEO, "720p.mp4", NOW, &err), &err,
                   MC_PLAYBACK_BAD_SIGNATURE);
    assert_refused(verify_as(cred, &key_a, 1, "other", VIDEO, "720p.mp4", NOW, &err), &err,
                   MC_PLAYBACK_BAD_SIGNATURE);
    /* The right fields under the wrong secret. */
    mc_token_key impostor = {"k1", (const unsigned char *)secret_b, sizeof secret_b - 1};
    assert_refused(verify_as(cred, &impostor, 1, TENANT, VIDEO, "720p.mp4", NOW, &err), &err,
                   MC_PLAYBACK_BAD_SIGNATURE);
}

static void test_expired(void **state) {
    (void)state;
    char cred[MC_PLAYBACK_CRED_MAX];
    mc_err err = {0};
    sign(&key_a, "720p.mp4", NOW, cred);
    assert_refused(verify(cred, "720p.mp4", &err), &err, MC_PLAYBACK_EXPIRED);
    assert_int_equal(verify_as(cred, &key_a, 1, TENANT, VIDEO, "720p.mp4", NOW - 1, &err), 0);
    /* A forged expired credential is reported as forged. */
    char t[MC_PLAYBACK_CRED_MAX];
    snprintf(t, sizeof t, "k1.%d.%s", NOW - 5, cred + strlen(cred) - 43);
    assert_refused(verify(t, "720p.mp4", &err), &err, MC_PLAYBACK_BAD_SIGNATURE);
}

static void test_rotation(void **state) {
    (void)state;
    char old_cred[MC_PLAYBACK_CRED_MAX], new_cred[MC_PLAYBACK_CRED_MAX];
    mc_err err = {0};
    sign(&key_a, "", EXP, old_cred);
    sign(&key_b, "", EXP, new_cred);
    const mc_token_key rotating[2] = {key_b, key_a};
    assert_int_equal(verify_as(old_cred, rotating, 2, TENANT, VIDEO, "720p.mp4", NOW, &err), 0);
    assert_int_equal(verify_as(new_cred, rotating, 2, TENANT, VIDEO, "720p.mp4", NOW, &err), 0);
    /* After the rotation the old key is gone. */
    assert_refused(verify_as(old_cred, &key_b, 1, TENANT, VIDEO, "720p.mp4", NOW, &err), &err,
                   MC_PLAYBACK_UNKNOWN_KEY);
    assert_refused(verify_as(new_cred, NULL, 0, TENANT, VIDEO, "720p.mp4", NOW, &err), &err,
                   MC_PLAYBACK_UNKNOWN_KEY);
    const mc_token_key three[3] = {key_a, key_b, key_a};
    assert_int_equal(verify_as(new_cred, three, 3, TENANT, VIDEO, "720p.mp4", NOW, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);
}

static void test_malformed(void **state) {
    (void)state;
    char cred[MC_PLAYBACK_CRED_MAX];
    sign(&key_a, "", EXP, cred);
    const char *sig = cred + strlen(cred) - 43;
    char forms[24][MC_PLAYBACK_CRED_MAX + 64];
    size_t n = 0;
    snprintf(forms[n++], sizeof forms[0], "%s", "");
    snprintf(forms[n++], sizeof forms[0], "%s", "k1");
    snprintf(forms[n++], sizeof forms[0], "k1.%d", EXP);
    snprintf(forms[n++], sizeof forms[0], ".%d.%s", EXP, sig);
    snprintf(forms[n++], sizeof forms[0], "k1..%s", sig);
    snprintf(forms[n++], sizeof forms[0], "k1.%d.", EXP);
    snprintf(forms[n++], sizeof forms[0], "k1.0%d.%s", EXP, sig);      /* leading zero */
    snprintf(forms[n++], sizeof forms[0], "k1.+%d.%s", EXP, sig);
    snprintf(forms[n++], sizeof forms[0], "k1.-%d.%s", EXP, sig);
    snprintf(forms[n++], sizeof forms[0], "k1.0.%s", sig);
    snprintf(forms[n++], sizeof forms[0], "k1.99999999999999999999.%s", sig);
    snprintf(forms[n++], sizeof forms[0], "k1.9223372036854775808.%s", sig);
    snprintf(forms[n++], sizeof forms[0], "k1.%dx.%s", EXP, sig);
    snprintf(forms[n++], sizeof forms[0], "k!.%d.%s", EXP, sig);
    snprintf(forms[n++], sizeof forms[0], "k1.%d.%s.x", EXP, sig);
    snprintf(forms[n++], sizeof forms[0], "k1.%d.%.42s", EXP, sig);    /* short signature */
    snprintf(forms[n++], sizeof forms[0], "k1.%d.%sA", EXP, sig);      /* long signature */
    snprintf(forms[n++], sizeof forms[0], "k1.%d.%.42s=", EXP, sig);   /* padding */
    snprintf(forms[n++], sizeof forms[0], "k1.%d.%.42s+", EXP, sig);   /* standard alphabet */
    snprintf(forms[n++], sizeof forms[0], "%065d.%d.%s", 1, EXP, sig); /* kid too long */
    char long_cred[MC_PLAYBACK_CRED_MAX + 8];
    memset(long_cred, 'a', sizeof long_cred - 1);
    long_cred[sizeof long_cred - 1] = '\0';
    snprintf(forms[n++], sizeof forms[0], "%s", long_cred);
    for (size_t i = 0; i < n; i++) {
        mc_err err = {0};
        int rc = verify(forms[i], "720p.mp4", &err);
        if (rc != -1 || strcmp(err.code, MC_PLAYBACK_MALFORMED) != 0)
            fail_msg("'%s': rc %d code '%s'", forms[i], rc, err.code);
        assert_refused(rc, &err, MC_PLAYBACK_MALFORMED);
    }
    /* A NUL inside the credential's length. */
    char with_nul[MC_PLAYBACK_CRED_MAX];
    strcpy(with_nul, cred);
    with_nul[1] = '\0';
    mc_err err = {0};
    assert_refused(mc_playback_verify(with_nul, strlen(cred), &key_a, 1, TENANT, VIDEO, "", NOW,
                                      &err),
                   &err, MC_PLAYBACK_MALFORMED);
    /* The signature's 43rd character carries 2 padding bits that must be
     * zero: 'B' and 'C' (values 1 and 2) never are. */
    strcpy(with_nul, cred);
    char *last = with_nul + strlen(with_nul) - 1;
    *last = *last == 'B' ? 'C' : 'B';
    assert_refused(verify(with_nul, "720p.mp4", &err), &err, MC_PLAYBACK_MALFORMED);
}

static void test_sign_refuses(void **state) {
    (void)state;
    char cred[MC_PLAYBACK_CRED_MAX];
    mc_err err = {0};
    static const char *const scopes[] = {"../x", "hls/../x", "/hls/", "hls//", "a\nb", "a b",
                                         ".", "..", "hls/./", "a\\b"};
    for (size_t i = 0; i < sizeof scopes / sizeof scopes[0]; i++)
        if (mc_playback_sign(&key_a, TENANT, VIDEO, scopes[i], EXP, cred, &err) != -1)
            fail_msg("signed scope '%s'", scopes[i]);
    assert_int_equal(err.kind, MC_ERR_INVALID);
    assert_int_equal(mc_playback_sign(&key_a, "a\nb", VIDEO, "", EXP, cred, &err), -1);
    assert_int_equal(mc_playback_sign(&key_a, TENANT, "", "", EXP, cred, &err), -1);
    assert_int_equal(mc_playback_sign(&key_a, TENANT, VIDEO, "", 0, cred, &err), -1);
    mc_token_key short_key = {"k", (const unsigned char *)"short", 5};
    assert_int_equal(mc_playback_sign(&short_key, TENANT, VIDEO, "", EXP, cred, &err), -1);
    mc_token_key bad_id = {"k.1", (const unsigned char *)secret_a, sizeof secret_a - 1};
    assert_int_equal(mc_playback_sign(&bad_id, TENANT, VIDEO, "", EXP, cred, &err), -1);
    /* The longest credential fits. */
    char kid[MC_TOKEN_NAME_MAX + 1];
    memset(kid, 'k', MC_TOKEN_NAME_MAX);
    kid[MC_TOKEN_NAME_MAX] = '\0';
    mc_token_key long_id = {kid, (const unsigned char *)secret_a, sizeof secret_a - 1};
    assert_int_equal(mc_playback_sign(&long_id, TENANT, VIDEO, "", INT64_MAX, cred, &err), 0);
    assert_int_equal(mc_playback_verify(cred, strlen(cred), &long_id, 1, TENANT, VIDEO,
                                        "720p.mp4", NOW, &err), 0);
}

static void test_url(void **state) {
    (void)state;
    mc_err err = {0};
    char *url = mc_playback_url("http://127.0.0.1:18081", &key_a, TENANT, VIDEO, "hls/",
                                "hls/master.m3u8", EXP, &err);
    assert_non_null(url);
    char cred[MC_PLAYBACK_CRED_MAX];
    sign(&key_a, "hls/", EXP, cred);
    char want[512];
    snprintf(want, sizeof want, "http://127.0.0.1:18081/v/" VIDEO "/%s/hls/master.m3u8", cred);
    assert_string_equal(url, want);
    free(url);
    assert_null(mc_playback_url("http://x", &key_a, TENANT, VIDEO, "../", "", EXP, &err));
}

static void test_keys_from_config(void **state) {
    (void)state;
    unsetenv("MCLOUD_PLAYBACK_KEY_ID");
    unsetenv("MCLOUD_PLAYBACK_SECRET");
    unsetenv("MCLOUD_PLAYBACK_PREVIOUS_KEY_ID");
    unsetenv("MCLOUD_PLAYBACK_PREVIOUS_SECRET");
    mc_token_key keys[MC_PLAYBACK_MAX_KEYS];
    size_t n = 9;
    mc_err err = {0};
    mc_config *cfg = mc_config_load(NULL, NULL);
    assert_int_equal(mc_playback_keys_from_config(cfg, keys, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(keys[0].id, "dev");
    assert_int_equal(keys[0].secret_len, strlen("mcloud-dev-playback-secret"));
    mc_config_free(cfg);

    setenv("MCLOUD_PLAYBACK_KEY_ID", "new", 1);
    setenv("MCLOUD_PLAYBACK_SECRET", secret_b, 1);
    setenv("MCLOUD_PLAYBACK_PREVIOUS_KEY_ID", "old", 1);
    setenv("MCLOUD_PLAYBACK_PREVIOUS_SECRET", secret_a, 1);
    cfg = mc_config_load(NULL, NULL);
    assert_int_equal(mc_playback_keys_from_config(cfg, keys, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(keys[0].id, "new");
    assert_string_equal(keys[1].id, "old");
    assert_memory_equal(keys[1].secret, secret_a, keys[1].secret_len);
    mc_config_free(cfg);

    setenv("MCLOUD_PLAYBACK_PREVIOUS_SECRET", "short", 1);
    cfg = mc_config_load(NULL, NULL);
    assert_int_equal(mc_playback_keys_from_config(cfg, keys, &n, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);
    assert_non_null(strstr(err.msg, "playback.previous_secret"));
    mc_config_free(cfg);

    setenv("MCLOUD_PLAYBACK_PREVIOUS_SECRET", secret_a, 1);
    setenv("MCLOUD_PLAYBACK_PREVIOUS_KEY_ID", "new", 1);
    cfg = mc_config_load(NULL, NULL);
    assert_int_equal(mc_playback_keys_from_config(cfg, keys, &n, &err), -1);
    mc_config_free(cfg);

    unsetenv("MCLOUD_PLAYBACK_PREVIOUS_KEY_ID");
    unsetenv("MCLOUD_PLAYBACK_PREVIOUS_SECRET");
    setenv("MCLOUD_PLAYBACK_SECRET", "too-short", 1);
    cfg = mc_config_load(NULL, NULL);
    assert_int_equal(mc_playback_keys_from_config(cfg, keys, &n, &err), -1);
    assert_non_null(strstr(err.msg, "playback.secret"));
    mc_config_free(cfg);
    unsetenv("MCLOUD_PLAYBACK_KEY_ID");
    unsetenv("MCLOUD_PLAYBACK_SECRET");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_scope_parents),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_sign_refuses),
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_keys_from_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
