/* Fuzz target: what reaches mcloud-edge's nginx.conf from other processes
 * (edge/edge.h). The first byte picks the input: 0 a registry entry's
 * address, 1 a node heartbeat. An accepted address must be a plain
 * host:port that cannot end or open an nginx directive, and the rendered
 * configuration must hold it on one `server` line; a refusal must name
 * what is wrong. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge.h"

static void check_addr(const char *a) {
    if (!a[0] || strlen(a) >= MC_EDGE_ADDR_MAX) __builtin_trap();
    if (strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") != strlen(a)) __builtin_trap();
    if (!strrchr(a, ':')) __builtin_trap();
}

static void check_render(const char *a) {
    static mc_edge_conf c = {.dir = "/tmp/edge", .bind = "127.0.0.1", .nservices = 1};
    c.services[0] = (mc_edge_service){.name = "stream", .http_port = 1};
    mc_edge_backend_add(&c.services[0], a);
    char *t = mc_edge_render(&c);
    if (!t) return;
    char line[MC_EDGE_ADDR_MAX + 64];
    snprintf(line, sizeof line, "        server %s max_fails=1 fail_timeout=5s;\n", a);
    if (!strstr(t, line)) __builtin_trap();
    free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    char *buf = malloc(size);
    if (!buf) return 0;
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    mc_err err = {0};
    char out[MC_EDGE_ADDR_MAX];
    if (data[0] % 2 == 0) {
        if (mc_edge_backend_from_url(buf, out, sizeof out, &err) == 0) {
            check_addr(out);
            check_render(out);
        } else if (!err.msg[0]) {
            __builtin_trap();
        }
    } else {
        static mc_edge_service svcs[3];
        memset(svcs, 0, sizeof svcs);
        snprintf(svcs[0].name, sizeof svcs[0].name, "upload");
        snprintf(svcs[1].name, sizeof svcs[1].name, "stream");
        snprintf(svcs[2].name, sizeof svcs[2].name, "api");
        if (mc_edge_backends_from_heartbeat(buf, size - 1, svcs, 3, &err) == 0) {
            for (int k = 0; k < 3; k++) {
                if (svcs[k].n < 0 || svcs[k].n > MC_EDGE_MAX_BACKENDS) __builtin_trap();
                for (int i = 0; i < svcs[k].n; i++) check_addr(svcs[k].backends[i]);
            }
        } else if (!err.msg[0]) {
            __builtin_trap();
        }
    }
    free(buf);
    return 0;
}
