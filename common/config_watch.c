/* config_watch.c — settings from the Redis config service (see
 * config_watch.h). */
#include "common/config_watch.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/redis_config.h"

struct mc_config_watch {
    mc_config *cfg;
    mc_redis *reader;                /* re-reads after a resubscribe */
    mc_config_subscriber *subscriber;
    mc_config_applied_cb cb;
    void *ctx;
};

char *mc_config_redis_lookup(void *redis, const char *name) {
    char *value = NULL;
    mc_err err = {0};
    if (mc_redis_config_get(redis, name, &value, &err) == 0) return value;
    if (err.kind != MC_ERR_NOT_FOUND)
        mc_log_kv(MC_LOG_WARN, "config service unreadable; using environment and defaults",
                  "setting", name, "error", err.msg, NULL);
    return NULL;
}

/* Applies one value (NULL: back to the default) and tells the daemon when
 * the value in force really changed. */
static void apply(mc_config_watch *w, const char *name, const char *value) {
    const mc_setting *s = mc_config_find_setting(name);
    if (!s || s->local_only) return;
    const char *current = mc_config_get(w->cfg, name);
    const char *wanted = value ? value : s->default_value;
    if (current && strcmp(current, wanted) == 0) return;
    if (!mc_config_apply_remote(w->cfg, name, value)) return;
    mc_log_kv(MC_LOG_INFO, "setting changed by the config service", "setting", name, NULL);
    if (w->cb) w->cb(name, w->ctx);
}

static void reread_all(mc_config_watch *w) {
    for (const mc_setting *s = mc_config_settings(); s->name; s++) {
        if (s->local_only) continue;
        char *value = NULL;
        mc_err err = {0};
        if (mc_redis_config_get(w->reader, s->name, &value, &err) < 0 &&
            err.kind != MC_ERR_NOT_FOUND) {
            mc_log_kv(MC_LOG_WARN, "config service unreadable after reconnect", "error", err.msg,
                      NULL);
            return;
        }
        apply(w, s->name, value);
        free(value);
    }
}

static void on_change(const char *name, const char *value, void *ctx) {
    mc_config_watch *w = ctx;
    if (name) apply(w, name, value);
    else reread_all(w);
}

mc_config_watch *mc_config_watch_start(mc_config *cfg, const mc_redis_options *opts,
                                       mc_config_applied_cb cb, void *ctx, mc_err *err) {
    mc_config_watch *w = calloc(1, sizeof *w);
    if (!w) {
        mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    w->cfg = cfg;
    w->cb = cb;
    w->ctx = ctx;
    w->reader = mc_redis_connect(opts, err);
    if (w->reader) w->subscriber = mc_config_subscribe(opts, on_change, w, err);
    if (!w->subscriber) {
        mc_config_watch_stop(w);
        return NULL;
    }
    return w;
}

void mc_config_watch_stop(mc_config_watch *w) {
    if (!w) return;
    if (w->subscriber) mc_config_subscriber_stop(w->subscriber);
    if (w->reader) mc_redis_close(w->reader);
    free(w);
}
