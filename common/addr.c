/* addr.c — "host:port" parsing (see addr.h). Strict: decimal ports 1-65535
 * only, no signs or spaces, and a host that fits the caller's buffer. */
#include "common/addr.h"

#include <stdlib.h>
#include <string.h>

static int bad(mc_err *err, const char *addr, const char *why) {
    return mc_err_set(err, MC_ERR_INVALID, "bad address '%s': %s", addr, why);
}

static int parse_port(const char *digits, int *port) {
    size_t n = strlen(digits);
    if (n == 0 || n > 5 || strspn(digits, "0123456789") != n) return -1;
    long p = strtol(digits, NULL, 10);
    if (p < 1 || p > 65535) return -1;
    *port = (int)p;
    return 0;
}

int mc_addr_parse(const char *addr, char *host, size_t hostlen, int *port, int default_port,
                  mc_err *err) {
    if (!addr || !*addr) return mc_err_set(err, MC_ERR_INVALID, "empty address");
    const char *start = addr, *end, *colon;
    if (addr[0] == '[') {
        start = addr + 1;
        end = strchr(start, ']');
        if (!end || (end[1] != '\0' && end[1] != ':')) return bad(err, addr, "unclosed '['");
        colon = end[1] == ':' ? end + 1 : NULL;
    } else {
        colon = strchr(addr, ':');
        if (colon && strchr(colon + 1, ':'))
            return bad(err, addr, "an IPv6 address needs brackets: [addr]:port");
        end = colon ? colon : addr + strlen(addr);
    }
    size_t n = (size_t)(end - start);
    if (n == 0) return bad(err, addr, "no host");
    if (n >= hostlen) return bad(err, addr, "host too long");
    if (colon) {
        if (parse_port(colon + 1, port) < 0) return bad(err, addr, "port must be 1-65535");
    } else if (default_port > 0) {
        *port = default_port;
    } else {
        return bad(err, addr, "no port (want host:port)");
    }
    memcpy(host, start, n);
    host[n] = '\0';
    return 0;
}
