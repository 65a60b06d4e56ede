/* config_watch.h — joins the settings table (config.h) to the Redis config
 * service (redis_config.h): loading settings with Redis as the middle source,
 * and keeping them current while a daemon runs.
 *
 * A change published on mcloud:config:changed is applied to the mc_config
 * unless the environment pins that setting; the daemon's callback then hears
 * the name of each setting whose value really changed (e.g. mysql.master →
 * mc_db_apply_setting). After a reconnect to Redis every setting is read
 * again, so changes missed while disconnected are not lost. */
#ifndef MCLOUD_CONFIG_WATCH_H
#define MCLOUD_CONFIG_WATCH_H

#include "common/config.h"
#include "common/error.h"
#include "common/redis.h"

/* An mc_config_lookup reading mcloud:config:<name>; ctx is an mc_redis*.
 * Redis being unreachable is logged once per load and treated as "no value". */
char *mc_config_redis_lookup(void *redis, const char *name);

typedef void (*mc_config_applied_cb)(const char *name, void *ctx);
typedef struct mc_config_watch mc_config_watch;

/* Subscribes before returning: no change published afterwards is missed.
 * cb runs on the watch's thread and may be NULL. */
mc_config_watch *mc_config_watch_start(mc_config *cfg, const mc_redis_options *opts,
                                       mc_config_applied_cb cb, void *ctx, mc_err *err);
void mc_config_watch_stop(mc_config_watch *w);

#endif
