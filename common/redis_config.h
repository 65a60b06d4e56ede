/* redis_config.h — the Redis side of the config service.
 *
 * A setting <name> lives at mcloud:config:<name> as a string. Setting it
 * also publishes <name> on mcloud:config:changed (one Lua script, so the
 * value is stored before anyone is told). A subscriber keeps its own
 * connection in a background thread and calls back with the name and the
 * value read after the notification.
 *
 * Pub/sub is fire-and-forget: changes made while the subscriber was
 * disconnected are not replayed. So after every reconnect + resubscribe
 * (Redis restart, killed connection) the callback is called once with
 * name == NULL, meaning "notifications may have been missed, re-read the
 * settings you use". Precedence (environment > Redis > default) is the
 * caller's business; this file only talks to Redis. */
#ifndef MCLOUD_REDIS_CONFIG_H
#define MCLOUD_REDIS_CONFIG_H

#include "common/error.h"
#include "common/redis.h"

/* Reads a setting into a malloc'd string (*value, free() it).
 * MC_ERR_NOT_FOUND if it is not set. */
int mc_redis_config_get(mc_redis *r, const char *name, char **value, mc_err *err);
/* Stores a setting and publishes its name on mcloud:config:changed. */
int mc_redis_config_set(mc_redis *r, const char *name, const char *value, mc_err *err);

/* Called from the subscriber thread. value is NULL when the setting was
 * deleted or could not be read (the failure is logged); name and value are
 * NULL after a resubscribe (see above). Must not call
 * mc_config_subscriber_stop(). */
typedef void (*mc_config_change_cb)(const char *name, const char *value, void *ctx);

typedef struct mc_config_subscriber mc_config_subscriber;

/* Connects and subscribes before returning (so no change made after it
 * returns is missed), then listens in a thread, reconnecting with backoff. */
mc_config_subscriber *mc_config_subscribe(const mc_redis_options *opts, mc_config_change_cb cb,
                                          void *ctx, mc_err *err);
/* Stops the thread (promptly, even while it waits to reconnect) and frees. */
void mc_config_subscriber_stop(mc_config_subscriber *s);

#endif
