/* Fuzz target: the webhook parsers of mcloud-api (api/webhook_core.h) — an
 * endpoint body (POST and PATCH, with and without private addresses), the
 * URL grammar on raw bytes, the Kafka messages mapped to video events (both
 * sources: mcloud.video.events and the transcoder's events), and the whsec_ secret decoding of the signer. The first byte
 * picks the parser. An accepted URL must be an absolute http(s) URL of at
 * most 2048 bytes; an accepted event a single known type with a 36-byte id;
 * every refusal MC_ERR_INVALID with a message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/webhook_core.h"
#include "common/json.h"

static void expect_invalid(const mc_err *err) {
    if (err->kind != MC_ERR_INVALID || !err->msg[0]) __builtin_trap();
}

static void check_url(const char *u) {
    if (strlen(u) > MC_WH_URL_MAX ||
        (strncasecmp(u, "http://", 7) != 0 && strncasecmp(u, "https://", 8) != 0))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned mode = data[0] % 4;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    mc_err err = {0};
    if (mode == 0) {
        json_t *body = mc_json_parse_object(in, len, &err);
        if (!body) return 0;
        for (int create = 0; create < 2; create++)
            for (int allow = 0; allow < 2; allow++) {
                mc_wh_endpoint_req r;
                mc_err e = {0};
                if (mc_wh_endpoint_parse(body, create, allow, &r, &e) == 0) {
                    if (create && !r.url) __builtin_trap();
                    if (r.url) check_url(r.url);
                    if (r.has_events && (r.events == 0 || (r.events & ~(unsigned)MC_WH_ALL)))
                        __builtin_trap();
                } else {
                    expect_invalid(&e);
                }
            }
        json_decref(body);
    } else if (mode == 1) {
        char *s = malloc(len + 1);
        if (!s) return 0;
        memcpy(s, in, len);
        s[len] = '\0';
        for (int allow = 0; allow < 2; allow++) {
            mc_err e = {0};
            if (mc_wh_url_check(s, allow, &e) == 0) check_url(s);
            else expect_invalid(&e);
        }
        char sig[MC_WH_SIGNATURE_MAX];
        mc_err e = {0};
        if (mc_wh_sign(s, "evt_x", 1, in, len, sig, &e) == 0 && strncmp(sig, "v1,", 3) != 0)
            __builtin_trap();
        free(s);
    } else {
        mc_wh_event ev;
        mc_wh_source src = mode == 2 ? MC_WH_SOURCE_VIDEO : MC_WH_SOURCE_TRANSCODE;
        int rc = mc_wh_event_from_message(src, in, len, &ev, &err);
        if (rc == 1) {
            if (strlen(ev.id) != MC_WH_EVENT_ID_LEN || !mc_wh_type_name(ev.type) || !ev.tenant[0] ||
                !ev.video[0])
                __builtin_trap();
            json_t *p = mc_wh_event_payload(&ev, 0);
            if (!p) __builtin_trap();
            char *text = mc_json_dump(p);
            free(text);
            json_decref(p);
        } else if (rc < 0) {
            expect_invalid(&err);
        }
    }
    return 0;
}
