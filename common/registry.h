/* registry.h — the service registry: who is alive, and where.
 *
 * An instance is alive while mcloud:svc:<service>:<instance> exists; the
 * key holds its address (a URL or a JSON object, opaque here) and a TTL.
 * The instance keeps it alive by heartbeating, either explicitly
 * (mc_registry_heartbeat from the daemon's own timer) or from a background
 * thread (mc_registry_start_heartbeat, every ttl/3). A heartbeat rewrites
 * the whole entry, so one that expired during a stall or a Redis restart
 * comes back. An instance that dies simply stops heartbeating and
 * disappears after its TTL. Listing uses SCAN, never KEYS. */
#ifndef MCLOUD_REGISTRY_H
#define MCLOUD_REGISTRY_H

#include <stddef.h>

#include "common/error.h"
#include "common/redis.h"
#include "common/redis_keys.h"

#define MC_REGISTRY_ADDRESS_MAX 511

typedef struct mc_registration mc_registration;

typedef struct mc_service_instance {
    char instance[MC_REDIS_NAME_MAX + 1];
    char address[MC_REGISTRY_ADDRESS_MAX + 1];
} mc_service_instance;

/* Writes the entry with a TTL of ttl_ms and returns the handle that keeps
 * it alive. r must outlive the registration. */
mc_registration *mc_registry_register(mc_redis *r, const char *service, const char *instance,
                                      const char *address, int ttl_ms, mc_err *err);
/* Refreshes the entry (rewrites address and TTL). */
int mc_registry_heartbeat(mc_registration *reg, mc_err *err);
/* Starts a thread heartbeating every ttl/3; failures are logged (warn) and
 * retried on the next beat. */
int mc_registry_start_heartbeat(mc_registration *reg, mc_err *err);
/* Stops the thread, leaving the entry to expire (what a crash looks like). */
void mc_registry_stop_heartbeat(mc_registration *reg);
/* Stops heartbeating, deletes the entry now and frees reg (even on error). */
int mc_registry_deregister(mc_registration *reg, mc_err *err);

/* The live instances of a service, in no particular order: *out is a
 * malloc'd array of *n entries (free() it; NULL when none). */
int mc_registry_list(mc_redis *r, const char *service, mc_service_instance **out, size_t *n,
                     mc_err *err);

#endif
