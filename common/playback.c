/* playback.c — signing and verifying playback credentials (playback.h).
 *
 * A credential has exactly one spelling: the key id is a token name, exp is
 * canonical decimal (no sign, no leading zero) and the MAC is 43 base64url
 * characters with zero padding bits (common/base64 is strict). The fields of
 * the signed message cannot run into each other: tenant and video are token
 * names and the scope is checked below, so none holds the '\n' separator.
 * The signature is checked before the expiry, so an expired forgery is
 * reported as a bad signature, and every candidate scope is compared in
 * constant time. */
#include "common/playback.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"

#define MESSAGE_PREFIX "mcloud-playback-v1\n"
#define MAC_LEN MC_TOKEN_MAC_LEN
#define MAC_B64_LEN 43 /* its unpadded base64url */
#define EXP_DIGITS_MAX 19
#define SCOPE_MAX 63   /* the longest output path, with room to spare */
#define MESSAGE_MAX 320
#define STATUS_FORBIDDEN 403

static int reject(mc_err *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int reject(mc_err *err, const char *code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mc_err_setv(err, MC_ERR_AUTH, STATUS_FORBIDDEN, code, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- keys ----------------------------------------------------------------- */

static int key_from_settings(mc_config *cfg, const char *id_name, const char *secret_name,
                             mc_token_key *key, mc_err *err) {
    const char *id = mc_config_get(cfg, id_name), *secret = mc_config_get(cfg, secret_name);
    if (!id || !secret) return mc_err_set(err, MC_ERR_INTERNAL, "unknown setting %s", id_name);
    *key = (mc_token_key){.id = id, .secret = (const unsigned char *)secret,
                          .secret_len = strlen(secret)};
    if (mc_token_key_check(key, "playback", err))
        return mc_err_wrap(err, "settings %s and %s", id_name, secret_name);
    return 0;
}

int mc_playback_keys_from_config(mc_config *cfg, mc_token_key keys[MC_PLAYBACK_MAX_KEYS],
                                 size_t *nkeys, mc_err *err) {
    *nkeys = 0;
    if (key_from_settings(cfg, "playback.key_id", "playback.secret", &keys[0], err)) return -1;
    *nkeys = 1;
    const char *prev_id = mc_config_get(cfg, "playback.previous_key_id");
    const char *prev_secret = mc_config_get(cfg, "playback.previous_secret");
    if ((!prev_id || !*prev_id) && (!prev_secret || !*prev_secret)) return 0;
    if (key_from_settings(cfg, "playback.previous_key_id", "playback.previous_secret", &keys[1],
                          err)) {
        *nkeys = 0;
        return -1;
    }
    if (strcmp(keys[0].id, keys[1].id) == 0) {
        *nkeys = 0;
        return mc_err_set(err, MC_ERR_INVALID,
                          "settings playback.key_id and playback.previous_key_id are both '%s'",
                          keys[0].id);
    }
    *nkeys = 2;
    return 0;
}

/* ---- the signed message ----------------------------------------------------- */

static bool scope_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
}

static bool dot_segment(const char *seg, size_t n) {
    return (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.');
}

/* "" (everything), or a relative path or directory (ending in '/'): segments
 * of [A-Za-z0-9_.-], none empty, "." or "..". */
static bool scope_valid(const char *scope) {
    size_t len = strlen(scope), seg = 0;
    if (len > SCOPE_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        if (scope[i] == '/') {
            if (i == seg || dot_segment(scope + seg, i - seg)) return false;
            seg = i + 1;
        } else if (!scope_char(scope[i])) {
            return false;
        }
    }
    return !dot_segment(scope + seg, len - seg);
}

static int mac_of(const mc_token_key *key, const char *tenant, const char *video,
                  const char *scope, size_t scope_len, int64_t exp, unsigned char mac[MAC_LEN],
                  mc_err *err) {
    char msg[MESSAGE_MAX];
    int n = snprintf(msg, sizeof msg, MESSAGE_PREFIX "%s\n%s\n%.*s\n%lld", tenant, video,
                     (int)scope_len, scope, (long long)exp);
    if (n < 0 || (size_t)n >= sizeof msg)
        return mc_err_set(err, MC_ERR_INVALID, "playback message too long");
    return mc_token_hmac(key, msg, (size_t)n, mac, err);
}

static int check_subject(const char *tenant, const char *video, mc_err *err) {
    if (!tenant || !mc_token_name_valid(tenant))
        return mc_err_set(err, MC_ERR_INVALID, "tenant must be 1 to %d characters of [A-Za-z0-9_-]",
                          MC_TOKEN_NAME_MAX);
    if (!video || !mc_token_name_valid(video))
        return mc_err_set(err, MC_ERR_INVALID, "video id must be 1 to %d characters of "
                          "[A-Za-z0-9_-]", MC_TOKEN_NAME_MAX);
    return 0;
}

int mc_playback_sign(const mc_token_key *key, const char *tenant, const char *video,
                     const char *scope, int64_t exp, char cred[MC_PLAYBACK_CRED_MAX], mc_err *err) {
    if (mc_token_key_check(key, "playback", err) || check_subject(tenant, video, err)) return -1;
    if (!scope || !scope_valid(scope))
        return mc_err_set(err, MC_ERR_INVALID, "playback scope '%.80s' is not an output path",
                          scope ? scope : "(null)");
    if (exp < 1) return mc_err_set(err, MC_ERR_INVALID, "playback exp must be a positive unix time");
    unsigned char mac[MAC_LEN];
    if (mac_of(key, tenant, video, scope, strlen(scope), exp, mac, err)) return -1;
    char sig[MAC_B64_LEN + 2];
    mc_base64url_encode(mac, MAC_LEN, sig);
    snprintf(cred, MC_PLAYBACK_CRED_MAX, "%s.%lld.%s", key->id, (long long)exp, sig);
    return 0;
}

/* ---- verification ----------------------------------------------------------- */

typedef struct parsed_cred {
    char kid[MC_TOKEN_NAME_MAX + 1];
    int64_t exp;
    unsigned char mac[MAC_LEN];
} parsed_cred;

static bool parse_exp(const char *s, size_t len, int64_t *out) {
    if (len == 0 || len > EXP_DIGITS_MAX || s[0] == '0') return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (uint64_t)(s[i] - '0'); /* 19 digits fit in 64 bits */
    }
    if (v > INT64_MAX) return false;
    *out = (int64_t)v;
    return true;
}

/* "<kid>.<exp>.<mac>" */
static int parse_cred(const char *cred, size_t len, parsed_cred *out, mc_err *err) {
    if (!cred || len == 0 || len >= MC_PLAYBACK_CRED_MAX)
        return reject(err, MC_PLAYBACK_MALFORMED, "playback credential is missing or too long");
    const char *end = cred + len;
    const char *dot1 = memchr(cred, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)))
        return reject(err, MC_PLAYBACK_MALFORMED,
                      "playback credential must be <key id>.<expiry>.<signature>");
    size_t kid_len = (size_t)(dot1 - cred);
    if (kid_len == 0 || kid_len > MC_TOKEN_NAME_MAX) goto bad_kid;
    memcpy(out->kid, cred, kid_len);
    out->kid[kid_len] = '\0';
    if (strlen(out->kid) != kid_len || !mc_token_name_valid(out->kid)) goto bad_kid;
    if (!parse_exp(dot1 + 1, (size_t)(dot2 - dot1 - 1), &out->exp))
        return reject(err, MC_PLAYBACK_MALFORMED,
                      "playback credential expiry must be a positive decimal unix time");
    const char *sig = dot2 + 1;
    size_t sig_len = (size_t)(end - sig), mac_len = 0;
    unsigned char mac[MAC_LEN + 3];
    mc_err inner = {0};
    if (sig_len != MAC_B64_LEN || mc_base64url_decode(sig, sig_len, mac, &mac_len, &inner) ||
        mac_len != MAC_LEN)
        return reject(err, MC_PLAYBACK_MALFORMED,
                      "playback signature must be %d base64url characters", MAC_B64_LEN);
    memcpy(out->mac, mac, MAC_LEN);
    return 0;
bad_kid:
    return reject(err, MC_PLAYBACK_MALFORMED,
                  "playback key id must be 1 to %d characters of [A-Za-z0-9_-]", MC_TOKEN_NAME_MAX);
}

static int scope_matches(const mc_token_key *key, const char *tenant, const char *video,
                         const char *path, size_t scope_len, int64_t exp,
                         const unsigned char mac[MAC_LEN], int *differs, mc_err *err) {
    unsigned char want[MAC_LEN];
    if (mac_of(key, tenant, video, path, scope_len, exp, want, err)) return -1;
    *differs &= CRYPTO_memcmp(want, mac, MAC_LEN) != 0;
    return 0;
}

/* Whether mac signs path itself, one of its parent directories ("hls/720p/",
 * "hls/") or "". Every candidate is computed and compared, whatever matched
 * before. */
static int signs_path(const mc_token_key *key, const char *tenant, const char *video,
                      const char *path, int64_t exp, const unsigned char mac[MAC_LEN],
                      bool *granted, mc_err *err) {
    size_t len = strlen(path);
    int differs = 1;
    for (size_t i = 0; i + 1 < len; i++)
        if (path[i] == '/' &&
            scope_matches(key, tenant, video, path, i + 1, exp, mac, &differs, err))
            return -1;
    if (len > 0 && scope_matches(key, tenant, video, path, len, exp, mac, &differs, err)) return -1;
    if (scope_matches(key, tenant, video, path, 0, exp, mac, &differs, err)) return -1;
    *granted = !differs;
    return 0;
}

int mc_playback_verify(const char *cred, size_t len, const mc_token_key *keys, size_t nkeys,
                       const char *tenant, const char *video, const char *path, int64_t now,
                       mc_err *err) {
    if (nkeys > MC_PLAYBACK_MAX_KEYS)
        return mc_err_set(err, MC_ERR_INVALID, "at most %d playback keys can be active",
                          MC_PLAYBACK_MAX_KEYS);
    if (check_subject(tenant, video, err)) return -1;
    if (!path || strlen(path) > SCOPE_MAX || !scope_valid(path))
        return mc_err_set(err, MC_ERR_INVALID, "playback path is not an output path");
    parsed_cred pc;
    if (parse_cred(cred, len, &pc, err)) return -1;
    const mc_token_key *key = mc_token_key_find(keys, nkeys, pc.kid);
    if (!key)
        return reject(err, MC_PLAYBACK_UNKNOWN_KEY, "playback key '%s' is not an active key",
                      pc.kid);
    if (mc_token_key_check(key, "playback", err)) return -1;
    bool granted = false;
    if (signs_path(key, tenant, video, path, pc.exp, pc.mac, &granted, err)) return -1;
    if (!granted)
        return reject(err, MC_PLAYBACK_BAD_SIGNATURE,
                      "playback signature does not match this video and path");
    if (pc.exp <= now)
        return reject(err, MC_PLAYBACK_EXPIRED, "playback URL expired %lld seconds ago",
                      (long long)(now - pc.exp));
    return 0;
}

char *mc_playback_url(const char *base, const mc_token_key *key, const char *tenant,
                      const char *video, const char *scope, const char *path, int64_t exp,
                      mc_err *err) {
    char cred[MC_PLAYBACK_CRED_MAX];
    if (mc_playback_sign(key, tenant, video, scope, exp, cred, err)) return NULL;
    if (!base || !path) {
        mc_err_set(err, MC_ERR_INVALID, "playback URL needs a base and a path");
        return NULL;
    }
    int base_len = (int)strlen(base);
    while (base_len > 0 && base[base_len - 1] == '/') base_len--; /* "http://h/" as "http://h" */
    size_t n = (size_t)base_len + 3 + strlen(video) + 1 + strlen(cred) + 1 + strlen(path) + 1;
    char *url = malloc(n);
    if (!url) {
        mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    snprintf(url, n, "%.*s/v/%s/%s/%s", base_len, base, video, cred, path);
    return url;
}
