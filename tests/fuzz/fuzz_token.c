/* Fuzz target: bearer token verification (common/token.h). The first byte
 * picks a mode:
 *   0: the rest is an Authorization header; its token is verified;
 *   1: the rest is a token, verified as is;
 *   2: the rest edits a validly minted token ((position, byte) pairs);
 *      the edited token must verify exactly when it is unchanged, since a
 *      strict base64url has one spelling per byte string;
 *   3: the rest is a tenant name; minting for it either fails or yields a
 *      token that verifies to the same claims. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/token.h"

#define NOW 1800000000LL

static const mc_token_key keys[] = {
    {"old", (const unsigned char *)"fuzz-old-secret-0123456789", 26},
    {"new", (const unsigned char *)"fuzz-new-secret-0123456789", 26},
};

static int verify(const char *token, size_t len, mc_token_claims *claims) {
    mc_err err = {0};
    int rc = mc_token_verify(token, len, keys, 2, NOW, claims, &err);
    if (rc != 0 && (err.kind != MC_ERR_AUTH || err.status != 401 || !err.code[0]))
        __builtin_trap();
    return rc;
}

static char *mint(const char *tenant) {
    mc_token_claims claims = {0};
    if (strlen(tenant) > MC_TOKEN_NAME_MAX) return NULL;
    strcpy(claims.tenant, tenant);
    claims.exp = NOW + 60;
    claims.max_upload_bytes = 1 << 20;
    claims.scope_count = 1;
    strcpy(claims.scopes[0], "upload");
    char *token = NULL;
    mc_err err = {0};
    if (mc_token_mint(&keys[1], &claims, &token, &err)) return NULL;
    return token;
}

static void edit_minted(const uint8_t *data, size_t size) {
    char *token = mint("acme");
    if (!token) __builtin_trap();
    size_t len = strlen(token);
    char *edited = malloc(len);
    memcpy(edited, token, len);
    for (size_t i = 0; i + 1 < size; i += 2) edited[data[i] % len] = (char)data[i + 1];
    bool changed = memcmp(edited, token, len) != 0;
    mc_token_claims claims;
    if ((verify(edited, len, &claims) == 0) == changed) __builtin_trap();
    free(edited);
    free(token);
}

static void mint_for_tenant(const uint8_t *data, size_t size) {
    char tenant[MC_TOKEN_NAME_MAX + 2];
    size_t n = size < sizeof tenant - 1 ? size : sizeof tenant - 1;
    memcpy(tenant, data, n);
    tenant[n] = '\0';
    char *token = mint(tenant);
    if (!token) return;
    mc_token_claims claims;
    if (verify(token, strlen(token), &claims) != 0 || strcmp(claims.tenant, tenant) != 0 ||
        strcmp(claims.kid, "new") != 0)
        __builtin_trap();
    free(token);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    int mode = data[0] % 4;
    data++, size--;
    /* An exact-size copy, so any read past the length is caught. */
    char *input = malloc(size ? size : 1);
    memcpy(input, data, size);
    mc_token_claims claims;
    if (mode == 0) {
        const char *token;
        size_t len;
        mc_err err = {0};
        if (mc_token_from_authorization(input, size, &token, &len, &err) == 0)
            verify(token, len, &claims);
    } else if (mode == 1) {
        verify(input, size, &claims);
    } else if (mode == 2) {
        edit_minted(data, size);
    } else {
        mint_for_tenant(data, size);
    }
    free(input);
    return 0;
}
