/* token.h — HMAC-signed bearer tokens naming a tenant, an expiry and limits.
 *
 * A token is "v1.<payload>.<signature>": payload is the base64url (no
 * padding) of a JSON object, signature the base64url of HMAC-SHA256 over
 * "v1.<payload>" with the secret of the key the payload names:
 *   {"kid":"dev","tenant":"acme","exp":1767225600,
 *    "max_upload_bytes":1073741824,"scopes":["upload"]}
 * kid, tenant and exp are required; max_upload_bytes (0 or absent: no limit
 * beyond the server's) and scopes are optional; any other field makes the
 * token malformed, so an old verifier never ignores a newer restriction.
 * video (optional) limits the token to the one upload of that video id
 * (the API's direct uploads, POST /v1/uploads): the upload service creates
 * at most one upload with it, for that video, and refuses every other.
 * Verification accepts up to two active keys (the current one and the one
 * being rotated out), chosen by the payload's kid, and compares signatures in
 * constant time. The upload service checks them now; signed stream URLs and
 * the API will too. */
#ifndef MCLOUD_TOKEN_H
#define MCLOUD_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define MC_TOKEN_MAX_BYTES 4096
#define MC_TOKEN_MAX_KEYS 2
#define MC_TOKEN_MIN_SECRET 16
/* kid, tenant and scope names: 1..MC_TOKEN_NAME_MAX of [A-Za-z0-9_-]. */
#define MC_TOKEN_NAME_MAX 64
#define MC_TOKEN_MAX_SCOPES 8

/* The development key (settings token.key_id and token.secret). */
#define MC_TOKEN_DEV_KEY_ID "dev"
#define MC_TOKEN_DEV_SECRET "mcloud-dev-token-secret"

/* err->code when a token is refused (kind MC_ERR_AUTH, status 401). */
#define MC_TOKEN_MISSING "token_missing"
#define MC_TOKEN_MALFORMED "token_malformed"
#define MC_TOKEN_UNKNOWN_KEY "token_unknown_key"
#define MC_TOKEN_BAD_SIGNATURE "token_bad_signature"
#define MC_TOKEN_EXPIRED "token_expired"

typedef struct mc_token_key {
    const char *id;
    const unsigned char *secret; /* at least MC_TOKEN_MIN_SECRET bytes */
    size_t secret_len;
} mc_token_key;

typedef struct mc_token_claims {
    char kid[MC_TOKEN_NAME_MAX + 1]; /* filled by verify; mint uses the key's id */
    char tenant[MC_TOKEN_NAME_MAX + 1];
    int64_t exp;                     /* unix seconds; the token is refused from then on */
    int64_t max_upload_bytes;        /* 0: no limit beyond the server's */
    size_t scope_count;
    char scopes[MC_TOKEN_MAX_SCOPES][MC_TOKEN_NAME_MAX + 1];
    char video[MC_TOKEN_NAME_MAX + 1]; /* "": any upload of the tenant */
} mc_token_claims;

/* Signs claims with key; *out is malloc'd. Invalid claims or a short secret
 * are MC_ERR_INVALID. */
int mc_token_mint(const mc_token_key *key, const mc_token_claims *claims, char **out, mc_err *err);

/* Checks token (len bytes, not NUL-terminated) against the active keys at
 * time now and fills *claims. Refusals are MC_ERR_AUTH, status 401, with
 * err->code one of MC_TOKEN_MALFORMED, MC_TOKEN_UNKNOWN_KEY,
 * MC_TOKEN_BAD_SIGNATURE, MC_TOKEN_EXPIRED; a misconfigured key (short
 * secret, more than MC_TOKEN_MAX_KEYS) is MC_ERR_INVALID. */
int mc_token_verify(const char *token, size_t len, const mc_token_key *keys, size_t nkeys,
                    int64_t now, mc_token_claims *claims, mc_err *err);

/* The token in an "Authorization: Bearer <token>" value (RFC 6750; value
 * NULL when the header is absent). Refusals as above, code MC_TOKEN_MISSING. */
int mc_token_from_authorization(const char *v, size_t len, const char **token, size_t *token_len,
                                mc_err *err);

bool mc_token_has_scope(const mc_token_claims *claims, const char *scope);

/* The key machinery, shared with other HMAC credentials (common/playback). */
#define MC_TOKEN_MAC_LEN 32 /* HMAC-SHA256 */
/* A usable key: id of the name grammar, secret of MC_TOKEN_MIN_SECRET bytes
 * or more; MC_ERR_INVALID naming what ("token", "playback") otherwise. */
int mc_token_key_check(const mc_token_key *key, const char *what, mc_err *err);
int mc_token_hmac(const mc_token_key *key, const void *data, size_t len,
                  unsigned char mac[MC_TOKEN_MAC_LEN], mc_err *err);
/* The key named kid among keys, or NULL. */
const mc_token_key *mc_token_key_find(const mc_token_key *keys, size_t nkeys, const char *kid);

/* Whether s is a valid key id, tenant or scope name (MC_TOKEN_NAME_MAX above);
 * signed playback URLs use the same grammar. */
bool mc_token_name_valid(const char *s);

#endif
