/* cursor.c — pagination cursors clients cannot read into or forge.
 *
 *   cursor  = base64url(payload) "." base64url(mac[0..16))
 *   payload = "c1:" created_us ":" id
 *   mac     = HMAC-SHA256(api.cursor_secret, tenant "\n" payload)
 * The MAC binds the cursor to its tenant; 128 bits of it are plenty for a
 * value that only ever points into that tenant's own rows. */
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/core.h"
#include "common/base64.h"

#define MAC_KEEP 16
#define PAYLOAD_MAX (3 + 21 + 1 + MC_API_ID_MAX + 1)

static int mac_of(const mc_token_key *key, const char *tenant, const char *payload, size_t len,
                  unsigned char mac[MC_TOKEN_MAC_LEN], mc_err *err) {
    char msg[MC_TOKEN_NAME_MAX + 2 + PAYLOAD_MAX];
    int n = snprintf(msg, sizeof msg, "%s\n%.*s", tenant, (int)len, payload);
    if (n < 0 || (size_t)n >= sizeof msg) return mc_err_set(err, MC_ERR_INVALID, "cursor too long");
    return mc_token_hmac(key, msg, (size_t)n, mac, err);
}

/* Video ids (and any id a cursor may name) have the token name grammar. */
static bool id_chars_ok(const char *id) { return mc_token_name_valid(id); }

int mc_api_cursor_encode(const mc_token_key *key, const char *tenant, const mc_api_cursor *c,
                         char out[MC_API_CURSOR_MAX], mc_err *err) {
    if (!id_chars_ok(c->id)) return mc_err_set(err, MC_ERR_INVALID, "cursor id is malformed");
    char payload[PAYLOAD_MAX];
    int n = snprintf(payload, sizeof payload, "c1:%" PRId64 ":%s", c->created_us, c->id);
    if (n < 0 || (size_t)n >= sizeof payload) return mc_err_set(err, MC_ERR_INVALID, "cursor too long");
    unsigned char mac[MC_TOKEN_MAC_LEN];
    if (mac_of(key, tenant, payload, (size_t)n, mac, err) < 0) return -1;
    if (mc_base64_encoded_size((size_t)n) + mc_base64_encoded_size(MAC_KEEP) + 1 > MC_API_CURSOR_MAX)
        return mc_err_set(err, MC_ERR_INVALID, "cursor too long");
    size_t len = mc_base64url_encode(payload, (size_t)n, out);
    out[len++] = '.';
    mc_base64url_encode(mac, MAC_KEEP, out + len);
    return 0;
}

static int forged(mc_err *err) {
    return mc_err_set(err, MC_ERR_INVALID, "query parameter 'cursor' is not a cursor this API "
                                           "gave out (or not for this key's tenant)");
}

int mc_api_cursor_decode(const mc_token_key *key, const char *tenant, const char *s,
                         mc_api_cursor *c, mc_err *err) {
    size_t len = strlen(s);
    const char *dot = memchr(s, '.', len);
    if (!dot || len >= MC_API_CURSOR_MAX) return forged(err);
    size_t plen_b64 = (size_t)(dot - s), mlen_b64 = len - plen_b64 - 1;
    unsigned char payload[PAYLOAD_MAX + 4], mac[MC_TOKEN_MAC_LEN + 4], want[MC_TOKEN_MAC_LEN];
    size_t plen, mlen;
    mc_err ignored = {0};
    if (mc_base64_decoded_max(plen_b64) > sizeof payload - 1 ||
        mc_base64_decoded_max(mlen_b64) > sizeof mac ||
        mc_base64url_decode(s, plen_b64, payload, &plen, &ignored) < 0 ||
        mc_base64url_decode(dot + 1, mlen_b64, mac, &mlen, &ignored) < 0 || mlen != MAC_KEEP)
        return forged(err);
    if (mac_of(key, tenant, (const char *)payload, plen, want, err) < 0) return -1;
    if (CRYPTO_memcmp(mac, want, MAC_KEEP) != 0) return forged(err);
    /* Signed by us: the payload has our shape, but read it strictly anyway. */
    payload[plen] = '\0';
    const char *p = (const char *)payload;
    if (strncmp(p, "c1:", 3) != 0) return forged(err);
    char *end;
    long long us = strtoll(p + 3, &end, 10);
    if (end == p + 3 || *end != ':' || !id_chars_ok(end + 1)) return forged(err);
    c->created_us = us;
    snprintf(c->id, sizeof c->id, "%s", end + 1);
    return 0;
}
