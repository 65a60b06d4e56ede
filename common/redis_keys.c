/* redis_keys.c — building and parsing mcloud's Redis key names (see
 * redis_keys.h for the layout and the naming rule that keeps keys apart). */
#include "common/redis_keys.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char name_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";

int mc_redis_name_valid(const char *name) {
    if (!name) return 0;
    size_t n = strlen(name);
    return n > 0 && n <= MC_REDIS_NAME_MAX && strspn(name, name_chars) == n;
}

static int build(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int build(char *buf, size_t len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int mc_key_config(char *buf, size_t len, const char *name) {
    if (!mc_redis_name_valid(name)) return -1;
    return build(buf, len, "mcloud:config:%s", name);
}

int mc_key_service(char *buf, size_t len, const char *service, const char *instance) {
    if (!mc_redis_name_valid(service) || !mc_redis_name_valid(instance)) return -1;
    return build(buf, len, "mcloud:svc:%s:%s", service, instance);
}

int mc_key_service_pattern(char *buf, size_t len, const char *service) {
    if (!mc_redis_name_valid(service)) return -1;
    return build(buf, len, "mcloud:svc:%s:*", service);
}

const char *mc_key_service_instance(const char *key, const char *service) {
    static const char prefix[] = "mcloud:svc:";
    size_t plen = sizeof prefix - 1, slen = strlen(service);
    if (strncmp(key, prefix, plen) || strncmp(key + plen, service, slen) || key[plen + slen] != ':')
        return NULL;
    const char *instance = key + plen + slen + 1;
    return mc_redis_name_valid(instance) ? instance : NULL;
}

int mc_key_lock(char *buf, size_t len, const char *name) {
    if (!mc_redis_name_valid(name)) return -1;
    return build(buf, len, "mcloud:lock:%s", name);
}

int mc_key_lock_fence(char *buf, size_t len, const char *name) {
    if (!mc_redis_name_valid(name)) return -1;
    return build(buf, len, "mcloud:lock:%s:fence", name);
}

int mc_key_upload(char *buf, size_t len, const char *upload_id) {
    if (!mc_redis_name_valid(upload_id)) return -1;
    return build(buf, len, "mcloud:upload:%s", upload_id);
}

int mc_key_api_rate(char *buf, size_t len, const char *api_key_id) {
    if (!mc_redis_name_valid(api_key_id)) return -1;
    return build(buf, len, "mcloud:api:rate:%s", api_key_id);
}

int mc_key_api_usage(char *buf, size_t len, const char *tenant, const char *day) {
    if (!mc_redis_name_valid(tenant) || strlen(day) != 8 || strspn(day, "0123456789") != 8) return -1;
    return build(buf, len, "mcloud:api:usage:%s:%s", tenant, day);
}

int mc_lock_value_format(char *buf, size_t len, int64_t token, const char *owner) {
    if (token < 1 || !owner || !*owner) return -1;
    return build(buf, len, "%" PRId64 ":%s", token, owner);
}

int mc_lock_value_token(const char *value, int64_t *token) {
    if (!value || value[0] < '1' || value[0] > '9') return -1;
    char *end;
    errno = 0;
    long long t = strtoll(value, &end, 10);
    if (errno || *end != ':' || !end[1]) return -1;
    *token = t;
    return 0;
}
