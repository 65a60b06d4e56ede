/* HMAC-signed bearer tokens: what a minted token is made of, that it
 * verifies, and that every kind of tampering, expiry, unknown key and
 * malformed input is refused with its own error code. Time is a parameter,
 * so nothing here depends on the clock. Tokens handed to the verifier are
 * exact-size heap copies, so ASan catches any read past the length. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/base64.h"
#include "common/token.h"

#define NOW 1800000000LL

static const mc_token_key k1 = {"k1", (const unsigned char *)"first-secret-0123456789", 23};
static const mc_token_key k2 = {"k2", (const unsigned char *)"second-secret-0123456789", 24};
static const mc_token_key k1_other_secret = {"k1", (const unsigned char *)"not-the-first-secret", 20};

static mc_token_claims acme(int64_t exp) {
    mc_token_claims c = {0};
    strcpy(c.tenant, "acme");
    c.exp = exp;
    c.max_upload_bytes = 1048576;
    c.scope_count = 2;
    strcpy(c.scopes[0], "upload");
    strcpy(c.scopes[1], "stream");
    return c;
}

static char *mint(const mc_token_key *key, mc_token_claims claims) {
    /* The claims and the token's pointer live outside this frame: GCC 12 at
     * -O2 would otherwise suspect the token of pointing into the by-value
     * argument, and at -O3 (inlined) into the local pointer variable. */
    static mc_token_claims minted;
    static char *token;
    minted = claims;
    token = NULL;
    mc_err err = {0};
    assert_int_equal(mc_token_mint(key, &minted, &token, &err), 0);
    return token;
}

static int verify(const char *token, const mc_token_key *keys, size_t nkeys, int64_t now,
                  mc_token_claims *claims, mc_err *err) {
    size_t n = strlen(token);
    char *copy = malloc(n ? n : 1);
    memcpy(copy, token, n);
    int rc = mc_token_verify(copy, n, keys, nkeys, now, claims, err);
    free(copy);
    return rc;
}

static void assert_refused(int rc, const mc_err *err, const char *code, const char *msg) {
    assert_int_equal(rc, -1);
    assert_int_equal(err->kind, MC_ERR_AUTH);
    assert_int_equal(err->status, 401);
    assert_string_equal(err->code, code);
    if (msg) assert_string_equal(err->msg, msg);
}

/* "v1.<payload>.<signature>" for any payload text, signed with key, as a
 * client holding the secret (or an attacker who does not) would build it. */
static char *forge(const char *payload_json, const mc_token_key *key) {
    size_t n = strlen(payload_json);
    char *t = malloc(3 + mc_base64_encoded_size(n) + 1 + mc_base64_encoded_size(32));
    memcpy(t, "v1.", 3);
    size_t len = 3 + mc_base64url_encode(payload_json, n, t + 3);
    unsigned char mac[32];
    unsigned int mac_len;
    HMAC(EVP_sha256(), key->secret, (int)key->secret_len, (const unsigned char *)t, len, mac, &mac_len);
    t[len++] = '.';
    mc_base64url_encode(mac, 32, t + len);
    return t;
}

static void test_round_trip(void **state) {
    (void)state;
    char *token = mint(&k1, acme(NOW + 3600));
    mc_token_claims c;
    mc_err err = {0};
    assert_int_equal(verify(token, &k1, 1, NOW, &c, &err), 0);
    assert_string_equal(c.kid, "k1");
    assert_string_equal(c.tenant, "acme");
    assert_true(c.exp == NOW + 3600);
    assert_int_equal(c.max_upload_bytes, 1048576);
    assert_int_equal(c.scope_count, 2);
    assert_true(mc_token_has_scope(&c, "upload"));
    assert_true(mc_token_has_scope(&c, "stream"));
    assert_false(mc_token_has_scope(&c, "api"));
    free(token);

    mc_token_claims bare = {0};
    strcpy(bare.tenant, "t_1-B");
    bare.exp = NOW + 1;
    token = mint(&k1, bare);
    assert_int_equal(verify(token, &k1, 1, NOW, &c, &err), 0);
    assert_string_equal(c.tenant, "t_1-B");
    assert_int_equal(c.max_upload_bytes, 0);
    assert_int_equal(c.scope_count, 0);
    free(token);
}

static void test_token_layout(void **state) {
    (void)state;
    char *token = mint(&k1, acme(2000000000));
    assert_memory_equal(token, "v1.", 3);
    char *dot = strchr(token + 3, '.');
    assert_non_null(dot);
    assert_null(strchr(dot + 1, '.'));
    assert_int_equal(strlen(dot + 1), 43);
    unsigned char json[512];
    size_t len;
    mc_err err = {0};
    assert_int_equal(mc_base64url_decode(token + 3, (size_t)(dot - token - 3), json, &len, &err), 0);
    json[len] = '\0';
    assert_string_equal((char *)json, "{\"kid\":\"k1\",\"tenant\":\"acme\",\"exp\":2000000000,"
                                      "\"max_upload_bytes\":1048576,\"scopes\":[\"upload\",\"stream\"]}");
    /* The signature is HMAC-SHA256 over "v1.<payload>" with k1's secret. */
    char *forged = forge((char *)json, &k1);
    assert_string_equal(forged, token);
    free(forged);
    free(token);
}

static void test_expiry(void **state) {
    (void)state;
    char *token = mint(&k1, acme(NOW));
    mc_token_claims c;
    mc_err err = {0};
    assert_int_equal(verify(token, &k1, 1, NOW - 1, &c, &err), 0);
    assert_refused(verify(token, &k1, 1, NOW, &c, &err), &err, MC_TOKEN_EXPIRED,
                   "token expired 0 seconds ago");
    assert_refused(verify(token, &k1, 1, NOW + 100, &c, &err), &err, MC_TOKEN_EXPIRED,
                   "token expired 100 seconds ago");
    assert_string_equal(c.tenant, ""); /* no claims from a refused token */
    free(token);
}

static void test_tampering(void **state) {
    (void)state;
    char *token = mint(&k1, acme(NOW + 60));
    mc_token_claims c;
    mc_err err = {0};
    char *dot = strrchr(token, '.');

    /* Another tenant's payload under acme's signature. */
    char *evil = forge("{\"kid\":\"k1\",\"tenant\":\"evil\",\"exp\":1900000000}", &k1);
    char *evil_sig = strrchr(evil, '.');
    char *spliced = malloc(strlen(token) + strlen(evil) + 1);
    sprintf(spliced, "%.*s%s", (int)(evil_sig - evil), evil, dot);
    assert_refused(verify(spliced, &k1, 1, NOW, &c, &err), &err, MC_TOKEN_BAD_SIGNATURE,
                   "token signature does not match");
    free(spliced);
    free(evil);

    /* One payload character changed (to another that keeps it base64url). */
    char *t = strdup(token);
    t[10] = t[10] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(t, &k1, 1, NOW, &c, &err), -1);
    assert_int_equal(err.kind, MC_ERR_AUTH);
    assert_true(strcmp(err.code, MC_TOKEN_BAD_SIGNATURE) == 0 ||
                strcmp(err.code, MC_TOKEN_MALFORMED) == 0);
    free(t);

    /* Every signature character changed in turn (the last one only to a
     * character that keeps it canonical). */
    for (char *p = strrchr(token, '.') + 1; *p; p++) {
        t = strdup(token);
        char *q = t + (p - token);
        *q = *q == 'A' ? 'E' : 'A';
        assert_refused(verify(t, &k1, 1, NOW, &c, &err), &err, MC_TOKEN_BAD_SIGNATURE, NULL);
        free(t);
    }

    /* The right kid with another secret. */
    assert_refused(verify(token, &k1_other_secret, 1, NOW, &c, &err), &err,
                   MC_TOKEN_BAD_SIGNATURE, NULL);
    free(token);
}

static void test_key_rotation(void **state) {
    (void)state;
    char *old_token = mint(&k1, acme(NOW + 60));
    char *new_token = mint(&k2, acme(NOW + 60));
    mc_token_claims c;
    mc_err err = {0};
    const mc_token_key both[] = {k2, k1};
    assert_int_equal(verify(old_token, both, 2, NOW, &c, &err), 0);
    assert_string_equal(c.kid, "k1");
    assert_int_equal(verify(new_token, both, 2, NOW, &c, &err), 0);
    assert_string_equal(c.kid, "k2");
    const mc_token_key both_reversed[] = {k1, k2};
    assert_int_equal(verify(old_token, both_reversed, 2, NOW, &c, &err), 0);
    /* k1 retired. */
    assert_refused(verify(old_token, &k2, 1, NOW, &c, &err), &err, MC_TOKEN_UNKNOWN_KEY,
                   "token key 'k1' is not an active key");
    assert_int_equal(verify(new_token, &k2, 1, NOW, &c, &err), 0);
    /* No keys at all. */
    assert_refused(verify(new_token, NULL, 0, NOW, &c, &err), &err, MC_TOKEN_UNKNOWN_KEY, NULL);
    /* More keys than a rotation needs is a configuration error. */
    const mc_token_key three[] = {k1, k2, k1};
    assert_int_equal(verify(new_token, three, 3, NOW, &c, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);
    free(old_token);
    free(new_token);
}

static void test_malformed(void **state) {
    (void)state;
    char *good = mint(&k1, acme(NOW + 60));
    char *dot = strrchr(good, '.');
    const char *payload = good + 3;
    size_t payload_len = (size_t)(dot - payload);
    char buf[1024];
    static const struct {
        const char *token;
        const char *msg;
    } fixed[] = {
        {"", "token must start with 'v1.'"},
        {"v1", "token must start with 'v1.'"},
        {"V1.a.b", "token must start with 'v1.'"},
        {"v2.eyJ9.AAAA", "token must start with 'v1.'"},
        {"v1.", "token must be three parts separated by '.'"},
        {"v1.eyJraWQiOiJrMSJ9", "token must be three parts separated by '.'"},
        {"v1.a.b.c", "token must be three parts separated by '.'"},
        {"v1.eyJ9.short", "token signature must be 43 base64url characters"},
    };
    mc_token_claims c;
    mc_err err = {0};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        assert_refused(verify(fixed[i].token, &k1, 1, NOW, &c, &err), &err, MC_TOKEN_MALFORMED,
                       fixed[i].msg);

    /* An empty payload, a padded one, one with a character outside base64url. */
    snprintf(buf, sizeof buf, "v1.%s", dot);
    assert_refused(verify(buf, &k1, 1, NOW, &c, &err), &err, MC_TOKEN_MALFORMED,
                   "token payload is empty");
    snprintf(buf, sizeof buf, "v1.%.*s=%s", (int)payload_len, payload, dot);
    assert_refused(verify(buf, &k1, 1, NOW, &c, &err), &err, MC_TOKEN_MALFORMED, NULL);
    assert_non_null(strstr(err.msg, "token payload is not base64url"));
    snprintf(buf, sizeof buf, "v1.%.*s+%s", (int)payload_len - 1, payload, dot);
    assert_refused(verify(buf, &k1, 1, NOW, &c, &err), &err, MC_TOKEN_MALFORMED, NULL);
    /* A padded or 44-character signature. */
    snprintf(buf, sizeof buf, "%s=", good);
    assert_refused(verify(buf, &k1, 1, NOW, &c, &err), &err, MC_TOKEN_MALFORMED,
                   "token signature must be 43 base64url characters");
    /* Longer than the limit. */
    char *huge = malloc(MC_TOKEN_MAX_BYTES + 2);
    memset(huge, 'A', MC_TOKEN_MAX_BYTES + 1);
    memcpy(huge, "v1.", 3);
    huge[MC_TOKEN_MAX_BYTES + 1] = '\0';
    assert_refused(verify(huge, &k1, 1, NOW, &c, &err), &err, MC_TOKEN_MALFORMED,
                   "token is 4097 bytes; the limit is 4096");
    free(huge);
    free(good);
}

/* Payloads that are validly signed but not valid claims are malformed;
 * ones that are not JSON or name no usable key are refused before any
 * signature check. */
static void test_bad_payloads(void **state) {
    (void)state;
    static const struct {
        const char *json;
        const char *code;
        const char *msg;
    } cases[] = {
        {"not json", MC_TOKEN_MALFORMED, NULL},
        {"[1]", MC_TOKEN_MALFORMED, "token payload: a JSON object was expected at the top level"},
        {"{\"kid\":\"k1\",\"kid\":\"k1\",\"tenant\":\"a\",\"exp\":1900000000}", MC_TOKEN_MALFORMED, NULL},
        {"{\"tenant\":\"a\",\"exp\":1900000000}", MC_TOKEN_MALFORMED,
         "token payload: field 'kid' is required"},
        {"{\"kid\":7,\"tenant\":\"a\",\"exp\":1900000000}", MC_TOKEN_MALFORMED,
         "token payload: field 'kid' must be a string"},
        {"{\"kid\":\"k 1\",\"tenant\":\"a\",\"exp\":1900000000}", MC_TOKEN_MALFORMED,
         "token payload: field 'kid' must be 1 to 64 characters of [A-Za-z0-9_-]"},
        {"{\"kid\":\"k9\",\"tenant\":\"a\",\"exp\":1900000000}", MC_TOKEN_UNKNOWN_KEY,
         "token key 'k9' is not an active key"},
        {"{\"kid\":\"k1\",\"exp\":1900000000}", MC_TOKEN_MALFORMED,
         "token payload: field 'tenant' is required"},
        {"{\"kid\":\"k1\",\"tenant\":\"../etc\",\"exp\":1900000000}", MC_TOKEN_MALFORMED,
         "token payload: field 'tenant' must be 1 to 64 characters of [A-Za-z0-9_-]"},
        {"{\"kid\":\"k1\",\"tenant\":\"\",\"exp\":1900000000}", MC_TOKEN_MALFORMED, NULL},
        {"{\"kid\":\"k1\",\"tenant\":\"a\"}", MC_TOKEN_MALFORMED, "token payload: field 'exp' is required"},
        {"{\"kid\":\"k1\",\"tenant\":\"a\",\"exp\":\"1900000000\"}", MC_TOKEN_MALFORMED,
         "token payload: field 'exp' must be an integer"},
        {"{\"kid\":\"k1\",\"tenant\":\"a\",\"exp\":0}", MC_TOKEN_MALFORMED, NULL},
        {"{\"kid\":\"k1\",\"tenant\":\"a\",\"exp\":1900000000,\"max_upload_bytes\":-1}",
         MC_TOKEN_MALFORMED, NULL},
        {"{\"kid\":\"k1\",\"tenant\":\"a\",\"exp\":1900000000,\"scopes\":\"upload\"}", MC_TOKEN_MALFORMED,
         "token payload: field 'scopes' must be an array of at most 8 names"},
        {"{\"kid\":\"k1\",\"tenant\":\"a\",\"exp\":1900000000,\"scopes\":[\"a\",\"b\",\"c\",\"d\",\"e\","
         "\"f\",\"g\",\"h\",\"i\"]}",
         MC_TOKEN_MALFORMED, "token payload: field 'scopes' must be an array of at most 8 names"},
        {"{\"kid\":\"k1\",\"tenant\":\"a\",\"exp\":1900000000,\"scopes\":[\"up load\"]}",
         MC_TOKEN_MALFORMED, "token payload: field 'scopes' must hold names of [A-Za-z0-9_-]"},
        {"{\"kid\":\"k1\",\"tenant\":\"a\",\"exp\":1900000000,\"scopes\":[1]}", MC_TOKEN_MALFORMED, NULL},
        {"{\"kid\":\"k1\",\"tenant\":\"a\",\"exp\":1900000000,\"admin\":true}", MC_TOKEN_MALFORMED,
         "token payload: unknown field 'admin'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *token = forge(cases[i].json, &k1);
        mc_token_claims c;
        mc_err err = {0};
        assert_refused(verify(token, &k1, 1, NOW, &c, &err), &err, cases[i].code, cases[i].msg);
        free(token);
    }
    /* The same claims signed properly are accepted: the forge is faithful. */
    char *token = forge("{\"kid\":\"k1\",\"tenant\":\"a\",\"exp\":1900000000,\"scopes\":[]}", &k1);
    mc_token_claims c;
    mc_err err = {0};
    assert_int_equal(verify(token, &k1, 1, NOW, &c, &err), 0);
    free(token);
}

static void test_mint_refuses_bad_input(void **state) {
    (void)state;
    mc_err err = {0};
    char *token = NULL;
    mc_token_claims c = acme(NOW);
    const mc_token_key short_key = {"k", (const unsigned char *)"fifteen-bytes!!", 15};
    assert_int_equal(mc_token_mint(&short_key, &c, &token, &err), -1);
    assert_string_equal(err.msg, "token key 'k': the secret must be at least 16 bytes");
    const mc_token_key bad_id = {"k.1", k1.secret, k1.secret_len};
    assert_int_equal(mc_token_mint(&bad_id, &c, &token, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);
    strcpy(c.tenant, "a/b");
    assert_int_equal(mc_token_mint(&k1, &c, &token, &err), -1);
    assert_string_equal(err.msg, "tenant must be 1 to 64 characters of [A-Za-z0-9_-]");
    c = acme(0);
    assert_int_equal(mc_token_mint(&k1, &c, &token, &err), -1);
    c = acme(NOW);
    c.max_upload_bytes = -5;
    assert_int_equal(mc_token_mint(&k1, &c, &token, &err), -1);
    c = acme(NOW);
    c.scope_count = MC_TOKEN_MAX_SCOPES + 1;
    assert_int_equal(mc_token_mint(&k1, &c, &token, &err), -1);
    c = acme(NOW);
    strcpy(c.scopes[1], "");
    assert_int_equal(mc_token_mint(&k1, &c, &token, &err), -1);
    assert_null(token);
}

static void test_authorization_header(void **state) {
    (void)state;
    const char *token;
    size_t len;
    mc_err err = {0};
    assert_int_equal(mc_token_from_authorization("Bearer v1.a.b", 13, &token, &len, &err), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(token, "v1.a.b", 6);
    const char *spaced = "bEARER   v1.a.b \t";
    assert_int_equal(mc_token_from_authorization(spaced, strlen(spaced), &token, &len, &err), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(token, "v1.a.b", 6);
    static const char *const refused[] = {"Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer  \t",
                                          "Bearerv1.a.b", "Bearer v1.a v1.b", "Bearer\tv1.a.b", ""};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        assert_refused(mc_token_from_authorization(refused[i], strlen(refused[i]), &token, &len, &err),
                       &err, MC_TOKEN_MISSING,
                       "an 'Authorization: Bearer <token>' header is required");
    assert_refused(mc_token_from_authorization(NULL, 0, &token, &len, &err), &err, MC_TOKEN_MISSING,
                   NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_token_layout),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_key_rotation),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_bad_payloads),
        cmocka_unit_test(test_mint_refuses_bad_input),
        cmocka_unit_test(test_authorization_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
