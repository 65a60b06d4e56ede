/* token.c — minting and verifying the HMAC-SHA256 bearer tokens of token.h.
 *
 * Verification reads only the key id before the signature is checked; every
 * other claim is read from a payload known to be ours. All refusals carry a
 * stable err->code so callers can count them without parsing messages. */
#include "common/token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/json.h"

#define VERSION_PREFIX "v1."
#define VERSION_PREFIX_LEN (sizeof VERSION_PREFIX - 1)
#define MAC_LEN MC_TOKEN_MAC_LEN
#define MAC_B64_LEN 43         /* its unpadded base64url */
#define PAYLOAD_MAX (MC_TOKEN_MAX_BYTES / 4 * 3 + 3)
#define STATUS_UNAUTHORIZED 401

static const char *const claim_fields[] = {"kid", "tenant", "exp", "max_upload_bytes", "scopes", "video"};

static int reject(mc_err *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int reject(mc_err *err, const char *code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mc_err_setv(err, MC_ERR_AUTH, STATUS_UNAUTHORIZED, code, fmt, ap);
    va_end(ap);
    return -1;
}

bool mc_token_name_valid(const char *s) {
    size_t len = strlen(s);
    if (len == 0 || len > MC_TOKEN_NAME_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

int mc_token_key_check(const mc_token_key *key, const char *what, mc_err *err) {
    if (!key->id || !mc_token_name_valid(key->id))
        return mc_err_set(err, MC_ERR_INVALID, "%s key id must be 1 to %d characters of "
                          "[A-Za-z0-9_-]", what, MC_TOKEN_NAME_MAX);
    if (!key->secret || key->secret_len < MC_TOKEN_MIN_SECRET)
        return mc_err_set(err, MC_ERR_INVALID, "%s key '%s': the secret must be at least %d bytes",
                          what, key->id, MC_TOKEN_MIN_SECRET);
    return 0;
}

int mc_token_hmac(const mc_token_key *key, const void *data, size_t len,
                  unsigned char mac[MC_TOKEN_MAC_LEN], mc_err *err) {
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), key->secret, (int)key->secret_len, data, len, mac, &mac_len) ||
        mac_len != MC_TOKEN_MAC_LEN)
        return mc_err_set(err, MC_ERR_INTERNAL, "HMAC-SHA256 failed");
    return 0;
}

const mc_token_key *mc_token_key_find(const mc_token_key *keys, size_t nkeys, const char *kid) {
    for (size_t i = 0; i < nkeys; i++)
        if (keys[i].id && strcmp(keys[i].id, kid) == 0) return &keys[i];
    return NULL;
}

/* ---- claims as JSON ------------------------------------------------------- */

static int copy_name(const char *field, const char *value, char out[MC_TOKEN_NAME_MAX + 1],
                     mc_err *err) {
    if (!mc_token_name_valid(value))
        return mc_err_set(err, MC_ERR_INVALID, "%s must be 1 to %d characters of [A-Za-z0-9_-]",
                          field, MC_TOKEN_NAME_MAX);
    memcpy(out, value, strlen(value) + 1);
    return 0;
}

static int check_claims(const mc_token_claims *c, mc_err *err) {
    if (!mc_token_name_valid(c->tenant))
        return mc_err_set(err, MC_ERR_INVALID, "tenant must be 1 to %d characters of [A-Za-z0-9_-]",
                          MC_TOKEN_NAME_MAX);
    if (c->exp < 1) return mc_err_set(err, MC_ERR_INVALID, "exp must be a positive unix time");
    if (c->max_upload_bytes < 0)
        return mc_err_set(err, MC_ERR_INVALID, "max_upload_bytes must not be negative");
    if (c->scope_count > MC_TOKEN_MAX_SCOPES)
        return mc_err_set(err, MC_ERR_INVALID, "a token has at most %d scopes", MC_TOKEN_MAX_SCOPES);
    if (c->video[0] && !mc_token_name_valid(c->video))
        return mc_err_set(err, MC_ERR_INVALID, "video must be 1 to %d characters of [A-Za-z0-9_-]",
                          MC_TOKEN_NAME_MAX);
    for (size_t i = 0; i < c->scope_count; i++)
        if (!mc_token_name_valid(c->scopes[i]))
            return mc_err_set(err, MC_ERR_INVALID,
                              "scope must be 1 to %d characters of [A-Za-z0-9_-]", MC_TOKEN_NAME_MAX);
    return 0;
}

static json_t *claims_to_json(const char *kid, const mc_token_claims *c) {
    json_t *doc = json_object();
    json_object_set_new(doc, "kid", json_string(kid));
    json_object_set_new(doc, "tenant", json_string(c->tenant));
    json_object_set_new(doc, "exp", json_integer(c->exp));
    if (c->max_upload_bytes > 0)
        json_object_set_new(doc, "max_upload_bytes", json_integer(c->max_upload_bytes));
    if (c->scope_count > 0) {
        json_t *scopes = json_array();
        for (size_t i = 0; i < c->scope_count; i++)
            json_array_append_new(scopes, json_string(c->scopes[i]));
        json_object_set_new(doc, "scopes", scopes);
    }
    if (c->video[0]) json_object_set_new(doc, "video", json_string(c->video));
    return doc;
}

static int check_fields(json_t *doc, mc_err *err) {
    const char *field;
    json_t *value;
    json_object_foreach(doc, field, value) {
        bool known = false;
        for (size_t i = 0; i < sizeof claim_fields / sizeof claim_fields[0]; i++)
            known = known || strcmp(field, claim_fields[i]) == 0;
        if (!known) return mc_err_set(err, MC_ERR_INVALID, "unknown field '%.64s'", field);
    }
    return 0;
}

static int read_scopes(json_t *doc, mc_token_claims *c, mc_err *err) {
    json_t *scopes = json_object_get(doc, "scopes");
    if (!scopes) return 0;
    if (!json_is_array(scopes) || json_array_size(scopes) > MC_TOKEN_MAX_SCOPES)
        return mc_err_set(err, MC_ERR_INVALID, "field 'scopes' must be an array of at most %d names",
                          MC_TOKEN_MAX_SCOPES);
    size_t i;
    json_t *scope;
    json_array_foreach(scopes, i, scope) {
        if (!json_is_string(scope) || copy_name("scope", json_string_value(scope), c->scopes[i], err))
            return mc_err_set(err, MC_ERR_INVALID, "field 'scopes' must hold names of [A-Za-z0-9_-]");
        c->scope_count++;
    }
    return 0;
}

/* Every claim but kid, from a payload whose signature has been checked. */
static int read_claims(json_t *doc, mc_token_claims *c, mc_err *err) {
    const char *tenant;
    long long exp, max_upload;
    if (check_fields(doc, err)) return -1;
    if (mc_json_get_string(doc, "tenant", true, NULL, &tenant, err)) return -1;
    if (copy_name("field 'tenant'", tenant, c->tenant, err)) return -1;
    if (mc_json_get_int(doc, "exp", true, 0, 1, INT64_MAX, &exp, err)) return -1;
    if (mc_json_get_int(doc, "max_upload_bytes", false, 0, 0, INT64_MAX, &max_upload, err))
        return -1;
    c->exp = exp;
    c->max_upload_bytes = max_upload;
    const char *video;
    if (mc_json_get_string(doc, "video", false, NULL, &video, err)) return -1;
    if (video && copy_name("field 'video'", video, c->video, err)) return -1;
    return read_scopes(doc, c, err);
}

/* ---- mint and verify ------------------------------------------------------ */

int mc_token_mint(const mc_token_key *key, const mc_token_claims *claims, char **out, mc_err *err) {
    if (mc_token_key_check(key, "token", err) || check_claims(claims, err)) return -1;
    json_t *doc = claims_to_json(key->id, claims);
    char *json = doc ? mc_json_dump(doc) : NULL;
    json_decref(doc);
    if (!json) return mc_err_set(err, MC_ERR_INTERNAL, "cannot serialize token claims");
    size_t json_len = strlen(json);
    size_t cap = VERSION_PREFIX_LEN + mc_base64_encoded_size(json_len) + 1 +
                 mc_base64_encoded_size(MAC_LEN);
    char *token = malloc(cap);
    if (!token) {
        free(json);
        return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    }
    memcpy(token, VERSION_PREFIX, VERSION_PREFIX_LEN);
    size_t n = VERSION_PREFIX_LEN + mc_base64url_encode(json, json_len, token + VERSION_PREFIX_LEN);
    free(json);
    unsigned char mac[MAC_LEN];
    if (mc_token_hmac(key, token, n, mac, err)) {
        free(token);
        return -1;
    }
    token[n++] = '.';
    mc_base64url_encode(mac, MAC_LEN, token + n);
    *out = token;
    return 0;
}

/* Splits and decodes "v1.<payload>.<signature>" into the payload's JSON
 * object, the signed prefix's length and the MAC. */
static json_t *decode_token(const char *token, size_t len, size_t *signed_len,
                            unsigned char mac[MAC_LEN], mc_err *err) {
    mc_err inner = {0};
    if (len > MC_TOKEN_MAX_BYTES) {
        reject(err, MC_TOKEN_MALFORMED, "token is %zu bytes; the limit is %d", len,
               MC_TOKEN_MAX_BYTES);
        return NULL;
    }
    if (len < VERSION_PREFIX_LEN || memcmp(token, VERSION_PREFIX, VERSION_PREFIX_LEN) != 0) {
        reject(err, MC_TOKEN_MALFORMED, "token must start with '" VERSION_PREFIX "'");
        return NULL;
    }
    const char *payload = token + VERSION_PREFIX_LEN;
    const char *dot = memchr(payload, '.', len - VERSION_PREFIX_LEN);
    const char *sig = dot ? dot + 1 : NULL;
    if (!dot || memchr(sig, '.', (size_t)(token + len - sig))) {
        reject(err, MC_TOKEN_MALFORMED, "token must be three parts separated by '.'");
        return NULL;
    }
    size_t sig_len = (size_t)(token + len - sig), mac_len = 0, json_len = 0;
    unsigned char json[PAYLOAD_MAX];
    if (sig_len != MAC_B64_LEN || mc_base64url_decode(sig, sig_len, mac, &mac_len, &inner)) {
        reject(err, MC_TOKEN_MALFORMED, "token signature must be %d base64url characters",
               MAC_B64_LEN);
        return NULL;
    }
    if (dot == payload) {
        reject(err, MC_TOKEN_MALFORMED, "token payload is empty");
        return NULL;
    }
    if (mc_base64url_decode(payload, (size_t)(dot - payload), json, &json_len, &inner)) {
        reject(err, MC_TOKEN_MALFORMED, "token payload is not base64url: %s", inner.msg);
        return NULL;
    }
    json_t *doc = mc_json_parse_object((const char *)json, json_len, &inner);
    if (!doc) reject(err, MC_TOKEN_MALFORMED, "token payload: %s", inner.msg);
    *signed_len = (size_t)(dot - token);
    return doc;
}

static int check_signature(json_t *doc, const char *token, size_t signed_len,
                           const unsigned char mac[MAC_LEN], const mc_token_key *keys,
                           size_t nkeys, mc_token_claims *claims, mc_err *err) {
    mc_err inner = {0};
    const char *kid;
    if (mc_json_get_string(doc, "kid", true, NULL, &kid, &inner) ||
        copy_name("field 'kid'", kid, claims->kid, &inner))
        return reject(err, MC_TOKEN_MALFORMED, "token payload: %s", inner.msg);
    const mc_token_key *key = mc_token_key_find(keys, nkeys, kid);
    if (!key)
        return reject(err, MC_TOKEN_UNKNOWN_KEY, "token key '%s' is not an active key",
                      claims->kid);
    if (mc_token_key_check(key, "token", err)) return -1;
    unsigned char want[MAC_LEN];
    if (mc_token_hmac(key, token, signed_len, want, err)) return -1;
    if (CRYPTO_memcmp(want, mac, MAC_LEN) != 0)
        return reject(err, MC_TOKEN_BAD_SIGNATURE, "token signature does not match");
    return 0;
}

int mc_token_verify(const char *token, size_t len, const mc_token_key *keys, size_t nkeys,
                    int64_t now, mc_token_claims *claims, mc_err *err) {
    memset(claims, 0, sizeof *claims);
    if (nkeys > MC_TOKEN_MAX_KEYS)
        return mc_err_set(err, MC_ERR_INVALID, "at most %d token keys can be active",
                          MC_TOKEN_MAX_KEYS);
    size_t signed_len;
    unsigned char mac[MAC_LEN];
    json_t *doc = decode_token(token, len, &signed_len, mac, err);
    if (!doc) return -1;
    mc_err inner = {0};
    int rc = check_signature(doc, token, signed_len, mac, keys, nkeys, claims, err);
    if (rc == 0 && read_claims(doc, claims, &inner))
        rc = reject(err, MC_TOKEN_MALFORMED, "token payload: %s", inner.msg);
    if (rc == 0 && claims->exp <= now)
        rc = reject(err, MC_TOKEN_EXPIRED, "token expired %lld seconds ago",
                    (long long)(now - claims->exp));
    json_decref(doc);
    if (rc) memset(claims, 0, sizeof *claims);
    return rc;
}

int mc_token_from_authorization(const char *v, size_t len, const char **token, size_t *token_len,
                                mc_err *err) {
    static const char scheme[] = "bearer";
    const size_t scheme_len = sizeof scheme - 1;
    bool ok = v && len > scheme_len && v[scheme_len] == ' ';
    for (size_t i = 0; ok && i < scheme_len; i++)
        ok = (v[i] | 0x20) == scheme[i]; /* ASCII case-insensitive: scheme is lower-case letters */
    size_t start = scheme_len, end = len;
    while (ok && start < end && v[start] == ' ') start++;
    while (ok && end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) end--;
    if (!ok || start == end || memchr(v + start, ' ', end - start))
        return reject(err, MC_TOKEN_MISSING, "an 'Authorization: Bearer <token>' header is required");
    *token = v + start;
    *token_len = end - start;
    return 0;
}

bool mc_token_has_scope(const mc_token_claims *claims, const char *scope) {
    for (size_t i = 0; i < claims->scope_count; i++)
        if (strcmp(claims->scopes[i], scope) == 0) return true;
    return false;
}
