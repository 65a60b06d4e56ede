/* redis_config.c — config values in Redis, change notification by pub/sub,
 * and the subscriber thread that survives Redis restarts (see
 * redis_config.h). */
#include "common/redis_config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/backoff.h"
#include "common/log.h"
#include "common/redis_keys.h"

/* KEYS: setting. ARGV: value, channel, name. */
static const char set_and_publish_script[] =
    "redis.call('SET', KEYS[1], ARGV[1])\n"
    "redis.call('PUBLISH', ARGV[2], ARGV[3])\n"
    "return 1\n";

int mc_redis_config_get(mc_redis *r, const char *name, char **value, mc_err *err) {
    char key[256];
    if (mc_key_config(key, sizeof key, name) < 0)
        return mc_err_set(err, MC_ERR_INVALID, "config: invalid name \"%s\"", name ? name : "");
    redisReply *reply = mc_redis_command(r, err, "GET %s", key);
    if (!reply) return mc_err_wrap(err, "config %s: get", name);
    int rc = 0;
    if (reply->type == REDIS_REPLY_NIL)
        rc = mc_err_set(err, MC_ERR_NOT_FOUND, "config %s: not set", name);
    else if (reply->type != REDIS_REPLY_STRING)
        rc = mc_err_set(err, MC_ERR_INTERNAL, "config %s: unexpected reply type %d", name, reply->type);
    else if (!(*value = strdup(reply->str)))
        rc = mc_err_set(err, MC_ERR_INTERNAL, "config %s: out of memory", name);
    freeReplyObject(reply);
    return rc;
}

int mc_redis_config_set(mc_redis *r, const char *name, const char *value, mc_err *err) {
    char key[256];
    if (mc_key_config(key, sizeof key, name) < 0 || !value)
        return mc_err_set(err, MC_ERR_INVALID, "config: invalid name \"%s\" or no value", name ? name : "");
    /* Resending is harmless: the SET is idempotent and subscribers re-read. */
    redisReply *reply = mc_redis_command(r, err, "EVAL %s 1 %s %s %s %s", set_and_publish_script, key,
                                         value, MC_CONFIG_CHANNEL, name);
    if (!reply) return mc_err_wrap(err, "config %s: set", name);
    freeReplyObject(reply);
    return 0;
}

struct mc_config_subscriber {
    mc_redis_options opts;          /* strings are owned copies */
    mc_redis *reader;               /* reads values after a notification */
    redisContext *sub;              /* subscribed connection, NULL while down */
    mc_backoff backoff;
    mc_config_change_cb cb;
    void *ctx;
    int stop_pipe[2];               /* a byte written here stops the thread */
    pthread_t thread;
};

static redisContext *open_subscribed(const mc_redis_options *opts, mc_err *err) {
    redisContext *c = mc_redis_open(opts, err);
    if (!c) return NULL;
    redisReply *reply = redisCommand(c, "SUBSCRIBE %s", MC_CONFIG_CHANNEL);
    int ok = reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
             reply->element[0]->type == REDIS_REPLY_STRING && !strcmp(reply->element[0]->str, "subscribe");
    if (!ok) {
        mc_err_set(err, reply ? MC_ERR_REMOTE : MC_ERR_UNAVAILABLE, "redis %s: subscribe %s failed: %s",
                   opts->addr, MC_CONFIG_CHANNEL,
                   reply ? (reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply") : c->errstr);
    }
    if (reply) freeReplyObject(reply);
    if (!ok) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static void notify(mc_config_subscriber *s, const char *name) {
    char *value = NULL;
    mc_err err = {0};
    if (mc_redis_config_get(s->reader, name, &value, &err) < 0 && err.kind != MC_ERR_NOT_FOUND)
        mc_log_kv(MC_LOG_WARN, "config change noticed but its value could not be read", "name", name,
                  "error", err.msg, NULL);
    s->cb(name, value, s->ctx);
    free(value);
}

static void handle_message(mc_config_subscriber *s, const redisReply *m) {
    if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 && m->element[0]->type == REDIS_REPLY_STRING &&
        !strcmp(m->element[0]->str, "message") && m->element[2]->type == REDIS_REPLY_STRING)
        notify(s, m->element[2]->str);
}

/* Sleeps up to ms; returns 1 if asked to stop meanwhile. */
static int stop_requested(mc_config_subscriber *s, int ms) {
    struct pollfd p = {.fd = s->stop_pipe[0], .events = POLLIN};
    return poll(&p, 1, ms) > 0;
}

static void reconnect(mc_config_subscriber *s) {
    mc_err err = {0};
    s->sub = open_subscribed(&s->opts, &err);
    if (!s->sub) {
        mc_log_kv(MC_LOG_WARN, "config subscriber cannot resubscribe, backing off", "error", err.msg, NULL);
        return;
    }
    mc_backoff_reset(&s->backoff);
    mc_log_kv(MC_LOG_INFO, "config subscriber resubscribed", "addr", s->opts.addr, NULL);
    s->cb(NULL, NULL, s->ctx);
}

static void drop_subscription(mc_config_subscriber *s, const char *why) {
    mc_log_kv(MC_LOG_WARN, "config subscriber lost its connection, reconnecting", "addr", s->opts.addr,
              "error", why, NULL);
    redisFree(s->sub);
    s->sub = NULL;
}

static void *subscriber_thread(void *arg) {
    mc_config_subscriber *s = arg;
    for (;;) {
        if (!s->sub) {
            if (stop_requested(s, (int)mc_backoff_next_ms(&s->backoff))) break;
            reconnect(s);
            continue;
        }
        void *reply = NULL;
        if (redisGetReplyFromReader(s->sub, &reply) != REDIS_OK) {
            drop_subscription(s, s->sub->errstr);
            continue;
        }
        if (reply) {
            handle_message(s, reply);
            freeReplyObject(reply);
            continue;
        }
        struct pollfd p[2] = {{.fd = s->sub->fd, .events = POLLIN}, {.fd = s->stop_pipe[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0) continue;
        if (p[1].revents) break;
        if (p[0].revents && redisBufferRead(s->sub) != REDIS_OK)
            drop_subscription(s, s->sub->errstr[0] ? s->sub->errstr : "connection closed");
    }
    return NULL;
}

static void free_subscriber(mc_config_subscriber *s) {
    if (s->sub) redisFree(s->sub);
    mc_redis_close(s->reader);
    if (s->stop_pipe[0] >= 0) close(s->stop_pipe[0]);
    if (s->stop_pipe[1] >= 0) close(s->stop_pipe[1]);
    free((char *)s->opts.addr);
    free((char *)s->opts.password);
    free((char *)s->opts.client_name);
    free(s);
}

mc_config_subscriber *mc_config_subscribe(const mc_redis_options *opts, mc_config_change_cb cb,
                                          void *ctx, mc_err *err) {
    mc_config_subscriber *s = calloc(1, sizeof *s);
    if (!s) {
        mc_err_set(err, MC_ERR_INTERNAL, "config subscriber: out of memory");
        return NULL;
    }
    s->stop_pipe[0] = s->stop_pipe[1] = -1;
    s->opts = *opts;
    s->opts.addr = opts->addr ? strdup(opts->addr) : NULL;
    s->opts.password = opts->password ? strdup(opts->password) : NULL;
    s->opts.client_name = opts->client_name ? strdup(opts->client_name) : NULL;
    s->cb = cb;
    s->ctx = ctx;
    mc_backoff_init(&s->backoff, opts->backoff_initial_ms ? opts->backoff_initial_ms : 100,
                    opts->backoff_max_ms ? opts->backoff_max_ms : 5000);
    if (pipe2(s->stop_pipe, O_CLOEXEC) < 0) {
        mc_err_set(err, MC_ERR_INTERNAL, "config subscriber: pipe failed");
        free_subscriber(s);
        return NULL;
    }
    if (!(s->reader = mc_redis_connect(&s->opts, err)) || !(s->sub = open_subscribed(&s->opts, err))) {
        free_subscriber(s);
        return NULL;
    }
    if (pthread_create(&s->thread, NULL, subscriber_thread, s) != 0) {
        mc_err_set(err, MC_ERR_INTERNAL, "config subscriber: cannot start thread");
        free_subscriber(s);
        return NULL;
    }
    return s;
}

void mc_config_subscriber_stop(mc_config_subscriber *s) {
    if (!s) return;
    while (write(s->stop_pipe[1], "x", 1) < 0 && errno == EINTR) {}
    pthread_join(s->thread, NULL);
    free_subscriber(s);
}
