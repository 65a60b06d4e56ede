/* Fuzz target: pagination cursors (api/core.h). The input is a cursor as a
 * client sends it: decoding must refuse it (MC_ERR_INVALID) or yield a
 * cursor that encodes back to the same string (a signed cursor has one
 * spelling). Inputs starting with '!' instead edit a genuine cursor at
 * (position, byte) pairs: the edit must verify only when nothing changed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/core.h"

static const mc_token_key key = {"cursor", (const unsigned char *)"fuzz-cursor-secret-0123", 23};

static void check_decoded(const char *s) {
    mc_api_cursor c;
    mc_err err = {0};
    if (mc_api_cursor_decode(&key, "acme", s, &c, &err) < 0) {
        if (err.kind != MC_ERR_INVALID) __builtin_trap();
        return;
    }
    char again[MC_API_CURSOR_MAX];
    if (mc_api_cursor_encode(&key, "acme", &c, again, &err) < 0 || strcmp(again, s) != 0)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 0 && data[0] == '!') {
        mc_api_cursor c = {.created_us = 1767225600123456LL};
        strcpy(c.id, "8d7ed14d-8a04-4be0-9b92-703117b5af87");
        char s[MC_API_CURSOR_MAX], orig[MC_API_CURSOR_MAX];
        mc_err err = {0};
        if (mc_api_cursor_encode(&key, "acme", &c, s, &err) < 0) __builtin_trap();
        strcpy(orig, s);
        size_t len = strlen(s);
        for (size_t i = 1; i + 1 < size; i += 2) s[data[i] % len] = (char)(data[i + 1] ? data[i + 1] : 'A');
        mc_api_cursor back;
        int rc = mc_api_cursor_decode(&key, "acme", s, &back, &err);
        if ((rc == 0) != (strcmp(s, orig) == 0)) __builtin_trap();
        return 0;
    }
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    check_decoded(s);
    free(s);
    return 0;
}
