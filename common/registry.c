/* registry.c — service registry entries with a TTL, their heartbeat thread,
 * and listing by SCAN (see registry.h). */
#include "common/registry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/periodic.h"

struct mc_registration {
    mc_redis *redis;
    char key[300];
    char address[MC_REGISTRY_ADDRESS_MAX + 1];
    int ttl_ms;

    pthread_mutex_t lock;     /* guards the fields below */
    pthread_cond_t wake;      /* signalled to stop the thread */
    pthread_t thread;
    int running;
    int stopping;
};

int mc_registry_heartbeat(mc_registration *reg, mc_err *err) {
    redisReply *reply = mc_redis_command(reg->redis, err, "SET %s %s PX %d", reg->key, reg->address,
                                         reg->ttl_ms);
    if (!reply) return mc_err_wrap(err, "registry %s: heartbeat", reg->key);
    freeReplyObject(reply);
    return 0;
}

mc_registration *mc_registry_register(mc_redis *r, const char *service, const char *instance,
                                      const char *address, int ttl_ms, mc_err *err) {
    if (!address || strlen(address) > MC_REGISTRY_ADDRESS_MAX || ttl_ms <= 0) {
        mc_err_set(err, MC_ERR_INVALID, "registry: address must be 0..%d bytes and ttl positive",
                   MC_REGISTRY_ADDRESS_MAX);
        return NULL;
    }
    mc_registration *reg = calloc(1, sizeof *reg);
    if (!reg) {
        mc_err_set(err, MC_ERR_INTERNAL, "registry: out of memory");
        return NULL;
    }
    if (mc_key_service(reg->key, sizeof reg->key, service, instance) < 0) {
        mc_err_set(err, MC_ERR_INVALID, "registry: invalid service \"%s\" or instance \"%s\"",
                   service ? service : "", instance ? instance : "");
        free(reg);
        return NULL;
    }
    reg->redis = r;
    snprintf(reg->address, sizeof reg->address, "%s", address);
    reg->ttl_ms = ttl_ms;
    pthread_mutex_init(&reg->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&reg->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (mc_registry_heartbeat(reg, err) < 0) {
        pthread_cond_destroy(&reg->wake);
        pthread_mutex_destroy(&reg->lock);
        free(reg);
        return NULL;
    }
    return reg;
}

static void *heartbeat_thread(void *arg) {
    mc_registration *reg = arg;
    int interval = reg->ttl_ms / 3 > 0 ? reg->ttl_ms / 3 : 1;
    pthread_mutex_lock(&reg->lock);
    while (!reg->stopping) {
        struct timespec until = mc_deadline_after_ms(CLOCK_MONOTONIC, interval);
        while (!reg->stopping && pthread_cond_timedwait(&reg->wake, &reg->lock, &until) == 0) {}
        if (reg->stopping) break;
        pthread_mutex_unlock(&reg->lock);
        mc_err err = {0};
        if (mc_registry_heartbeat(reg, &err) < 0)
            mc_log_kv(MC_LOG_WARN, "registry heartbeat failed, retrying next beat", "key", reg->key,
                      "error", err.msg, NULL);
        pthread_mutex_lock(&reg->lock);
    }
    pthread_mutex_unlock(&reg->lock);
    return NULL;
}

int mc_registry_start_heartbeat(mc_registration *reg, mc_err *err) {
    pthread_mutex_lock(&reg->lock);
    int rc = 0;
    if (!reg->running) {
        reg->stopping = 0;
        if (pthread_create(&reg->thread, NULL, heartbeat_thread, reg) != 0)
            rc = mc_err_set(err, MC_ERR_INTERNAL, "registry %s: cannot start heartbeat thread", reg->key);
        else
            reg->running = 1;
    }
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

void mc_registry_stop_heartbeat(mc_registration *reg) {
    pthread_mutex_lock(&reg->lock);
    int running = reg->running;
    reg->stopping = 1;
    reg->running = 0;
    pthread_cond_signal(&reg->wake);
    pthread_mutex_unlock(&reg->lock);
    if (running) pthread_join(reg->thread, NULL);
}

int mc_registry_deregister(mc_registration *reg, mc_err *err) {
    if (!reg) return 0;
    mc_registry_stop_heartbeat(reg);
    int rc = 0;
    redisReply *reply = mc_redis_command(reg->redis, err, "DEL %s", reg->key);
    if (reply)
        freeReplyObject(reply);
    else
        rc = mc_err_wrap(err, "registry %s: deregister", reg->key);
    pthread_cond_destroy(&reg->wake);
    pthread_mutex_destroy(&reg->lock);
    free(reg);
    return rc;
}

typedef struct instance_list {
    mc_service_instance *items;
    size_t n, cap;
} instance_list;

static int list_add(instance_list *l, const char *instance, const char *address) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->items[i].instance, instance)) return 0; /* SCAN may repeat a key */
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        mc_service_instance *items = realloc(l->items, cap * sizeof *items);
        if (!items) return -1;
        l->items = items;
        l->cap = cap;
    }
    mc_service_instance *it = &l->items[l->n++];
    snprintf(it->instance, sizeof it->instance, "%s", instance);
    snprintf(it->address, sizeof it->address, "%s", address);
    return 0;
}

typedef struct list_scan {
    mc_redis *r;
    const char *service;
    instance_list l;
} list_scan;

/* Reads the addresses of one SCAN page of keys; keys that expired since
 * the SCAN come back nil and are skipped. */
static int add_page(void *ctx, const redisReply *keys, mc_err *err) {
    list_scan *s = ctx;
    redisReply *values = mc_redis_mget(s->r, keys, err);
    if (!values) return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < keys->elements; i++) {
        const char *instance = mc_key_service_instance(keys->element[i]->str, s->service);
        if (instance && values->element[i]->type == REDIS_REPLY_STRING &&
            list_add(&s->l, instance, values->element[i]->str) < 0)
            rc = mc_err_set(err, MC_ERR_INTERNAL, "registry: out of memory");
    }
    freeReplyObject(values);
    return rc;
}

int mc_registry_list(mc_redis *r, const char *service, mc_service_instance **out, size_t *n,
                     mc_err *err) {
    char pattern[256];
    if (mc_key_service_pattern(pattern, sizeof pattern, service) < 0)
        return mc_err_set(err, MC_ERR_INVALID, "registry: invalid service \"%s\"", service ? service : "");
    list_scan s = {.r = r, .service = service};
    if (mc_redis_scan(r, pattern, add_page, &s, err) < 0) {
        free(s.l.items);
        return mc_err_wrap(err, "registry: list %s", service);
    }
    *out = s.l.items;
    *n = s.l.n;
    return 0;
}
