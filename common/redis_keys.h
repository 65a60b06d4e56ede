/* redis_keys.h — the Redis key names mcloud keeps stable, in one place.
 *
 *   mcloud:config:<name>             config value (string)
 *   mcloud:config:changed            pub/sub channel, message = <name>
 *   mcloud:svc:<service>:<instance>  service registry entry (address, TTL)
 *   mcloud:lock:<name>               lock, value "<token>:<owner>" (TTL)
 *   mcloud:lock:<name>:fence         the lock's fencing counter (no TTL)
 *   mcloud:upload:<id>               a tus upload's state (hash; cache of MySQL)
 *
 * Names (config names, services, instances, locks) are 1..128 characters of
 * [A-Za-z0-9._-], so no name can forge another key (a lock named "x:fence")
 * and none carries SCAN glob characters. Builders return 0, or -1 when a
 * name is invalid or the key does not fit in buf. */
#ifndef MCLOUD_REDIS_KEYS_H
#define MCLOUD_REDIS_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define MC_REDIS_NAME_MAX 128
#define MC_CONFIG_CHANNEL "mcloud:config:changed"

int mc_redis_name_valid(const char *name);

int mc_key_config(char *buf, size_t len, const char *name);
int mc_key_service(char *buf, size_t len, const char *service, const char *instance);
/* The SCAN MATCH pattern for every instance of a service. */
int mc_key_service_pattern(char *buf, size_t len, const char *service);
/* The instance part of a registry key of `service`; NULL if key is not one. */
const char *mc_key_service_instance(const char *key, const char *service);
int mc_key_lock(char *buf, size_t len, const char *name);
int mc_key_lock_fence(char *buf, size_t len, const char *name);
int mc_key_upload(char *buf, size_t len, const char *upload_id);
/* mcloud:api:rate:<key id> — an API key's token bucket (mcloud-api). */
int mc_key_api_rate(char *buf, size_t len, const char *api_key_id);
/* mcloud:api:usage:<tenant>:<YYYYMMDD> — a hash, API key id → calls that day. */
int mc_key_api_usage(char *buf, size_t len, const char *tenant, const char *day);
/* mcloud:stream:usage:<tenant>:<YYYYMMDD> — a hash, "requests" and "bytes"
 * of the tenant's playback that day (mcloud-stream). */
int mc_key_stream_usage(char *buf, size_t len, const char *tenant, const char *day);
/* How long the usage hashes are kept (both services). */
#define MC_USAGE_TTL_S (400L * 86400)

/* Lock values: "<token>:<owner>". Parsing gives the token, or -1 if the
 * value is not a lock value. */
int mc_lock_value_format(char *buf, size_t len, int64_t token, const char *owner);
int mc_lock_value_token(const char *value, int64_t *token);

#endif
