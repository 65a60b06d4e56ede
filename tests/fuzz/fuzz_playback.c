/* Fuzz target: playback credentials (common/playback.h). The first byte
 * picks a mode:
 *   0: the rest is "<credential>\n<path>"; the credential is verified for
 *      that path; a refusal is MC_ERR_AUTH/403 with a code, or
 *      MC_ERR_INVALID for a path that is not an output path;
 *   1: the rest edits a valid credential ((position, byte) pairs); the
 *      edited credential verifies exactly when it is unchanged, since each
 *      grant has one spelling;
 *   2: the rest is "<scope>\n<path>"; when the scope can be signed, the
 *      credential grants path exactly when scope is "", path itself, or a
 *      directory (ending in '/') that path lies under. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/playback.h"

#define NOW 1800000000LL
#define TENANT "fuzz"
#define VIDEO "0b9f6a5e-2c1d-4e8f-9a7b-3c2d1e0f4a5b"

static const mc_token_key keys[] = {
    {"new", (const unsigned char *)"fuzz-new-playback-secret", 24},
    {"old", (const unsigned char *)"fuzz-old-playback-secret", 24},
};

static int verify(const char *cred, size_t len, const char *path) {
    mc_err err = {0};
    int rc = mc_playback_verify(cred, len, keys, 2, TENANT, VIDEO, path, NOW, &err);
    if (rc == 0) return 0;
    bool auth = err.kind == MC_ERR_AUTH && err.status == 403 && err.code[0];
    if ((!auth && err.kind != MC_ERR_INVALID) || !err.msg[0]) __builtin_trap();
    return rc;
}

/* Splits "<a>\n<b>" into two exact-size C strings. */
static void split(const uint8_t *data, size_t size, char **a, size_t *a_len, char **b) {
    const uint8_t *nl = memchr(data, '\n', size);
    *a_len = nl ? (size_t)(nl - data) : size;
    size_t b_len = nl ? size - *a_len - 1 : 0;
    *a = malloc(*a_len + 1);
    memcpy(*a, data, *a_len);
    (*a)[*a_len] = '\0';
    *b = malloc(b_len + 1);
    if (b_len) memcpy(*b, nl + 1, b_len);
    (*b)[b_len] = '\0';
}

static void verify_input(const uint8_t *data, size_t size) {
    char *cred, *path;
    size_t cred_len;
    split(data, size, &cred, &cred_len, &path);
    char *exact = malloc(cred_len ? cred_len : 1);
    memcpy(exact, cred, cred_len);
    verify(exact, cred_len, path);
    free(exact);
    free(cred);
    free(path);
}

static void edit_credential(const uint8_t *data, size_t size) {
    char cred[MC_PLAYBACK_CRED_MAX];
    mc_err err = {0};
    if (mc_playback_sign(&keys[size % 2], TENANT, VIDEO, "hls/", NOW + 60, cred, &err))
        __builtin_trap();
    size_t len = strlen(cred);
    char *edited = malloc(len);
    memcpy(edited, cred, len);
    for (size_t i = 0; i + 1 < size; i += 2) edited[data[i] % len] = (char)data[i + 1];
    bool unchanged = memcmp(edited, cred, len) == 0;
    if ((verify(edited, len, "hls/720p/index.m3u8") == 0) != unchanged) __builtin_trap();
    free(edited);
}

static bool grants(const char *scope, const char *path) {
    size_t n = strlen(scope);
    if (n == 0 || strcmp(scope, path) == 0) return true;
    return scope[n - 1] == '/' && strncmp(scope, path, n) == 0;
}

static void scope_and_path(const uint8_t *data, size_t size) {
    char *scope, *path;
    size_t scope_len;
    split(data, size, &scope, &scope_len, &path);
    char cred[MC_PLAYBACK_CRED_MAX];
    mc_err err = {0};
    if (strlen(scope) == scope_len &&
        mc_playback_sign(&keys[0], TENANT, VIDEO, scope, NOW + 60, cred, &err) == 0) {
        mc_err verr = {0};
        int rc = mc_playback_verify(cred, strlen(cred), keys, 2, TENANT, VIDEO, path, NOW, &verr);
        if (verr.kind != MC_ERR_INVALID && (rc == 0) != grants(scope, path)) __builtin_trap();
    }
    free(scope);
    free(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    switch (data[0] % 3) {
    case 0: verify_input(data + 1, size - 1); break;
    case 1: edit_credential(data + 1, size - 1); break;
    default: scope_and_path(data + 1, size - 1); break;
    }
    return 0;
}
