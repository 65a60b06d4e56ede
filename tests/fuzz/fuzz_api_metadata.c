/* Fuzz target: the JSON bodies of mcloud-api (api/core.h) — a video edit
 * with its metadata, a direct upload request, an API key request. An
 * accepted metadata object must hold at most 32 string pairs within the
 * limits; a refusal must be MC_ERR_INVALID with a message. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "api/core.h"
#include "common/json.h"

static void expect_invalid(const mc_err *err) {
    if (err->kind != MC_ERR_INVALID || !err->msg[0]) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mc_err err = {0};
    json_t *body = mc_json_parse_object((const char *)data, size, &err);
    if (!body) return 0;
    mc_api_video_edit e;
    if (mc_api_video_edit_parse(body, &e, &err) == 0) {
        if (e.metadata) {
            if (json_object_size(e.metadata) > MC_API_META_MAX_PAIRS) __builtin_trap();
            const char *k;
            json_t *v;
            json_object_foreach(e.metadata, k, v)
                if (!json_is_string(v) || json_string_length(v) > MC_API_META_VALUE_MAX ||
                    strlen(k) > MC_API_META_KEY_MAX)
                    __builtin_trap();
        }
        if (e.title && strlen(e.title) > MC_API_TITLE_MAX) __builtin_trap();
    } else {
        expect_invalid(&err);
    }
    mc_api_upload_request u;
    mc_err e2 = {0};
    if (mc_api_upload_request_parse(body, 1 << 30, 86400, &u, &e2) == 0) {
        if (u.max_size_bytes < 0 || u.max_size_bytes > (1 << 30)) __builtin_trap();
    } else {
        expect_invalid(&e2);
    }
    mc_api_key_request k;
    mc_err e3 = {0};
    if (mc_api_key_request_parse(body, &k, &e3) == 0) {
        if (k.scopes == 0 || (k.scopes & ~(unsigned)MC_API_SCOPE_ALL)) __builtin_trap();
    } else {
        expect_invalid(&e3);
    }
    json_decref(body);
    return 0;
}
