/* usage.c — playback counters per tenant, flushed to Redis (see usage.h). */
#include "stream/usage.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/periodic.h"
#include "common/redis_keys.h"
#include "stream/videos.h"

#define FLUSH_MS 1000
#define MAX_TENANTS 256

/* One script per tenant, all or nothing: both counters and the expiry. */
static const char FLUSH_SCRIPT[] =
    "redis.call('HINCRBY', KEYS[1], 'requests', ARGV[1]) "
    "redis.call('HINCRBY', KEYS[1], 'bytes', ARGV[2]) "
    "redis.call('EXPIRE', KEYS[1], ARGV[3]) return 1";

typedef struct tenant_count {
    char tenant[MC_TENANT_MAX + 1];
    uint64_t requests, bytes;
} tenant_count;

struct mc_stream_usage {
    mc_redis *redis;
    mc_periodic *loop;
    pthread_mutex_t lock;
    tenant_count counts[MAX_TENANTS];
    int n;
    tenant_count taken[MAX_TENANTS]; /* the flush's copy (only the flush thread) */
};

/* With u->lock held. A table full of tenants drops the new one's counts
 * (and says so): 256 tenants playing within one second is far beyond this
 * service's scale. */
static void add_locked(mc_stream_usage *u, const char *tenant, uint64_t requests, uint64_t bytes) {
    for (int i = 0; i < u->n; i++)
        if (strcmp(u->counts[i].tenant, tenant) == 0) {
            u->counts[i].requests += requests;
            u->counts[i].bytes += bytes;
            return;
        }
    if (u->n == MAX_TENANTS) {
        mc_log_kv(MC_LOG_WARN, "playback usage table full: a request not counted", "tenant", tenant, NULL);
        return;
    }
    tenant_count *c = &u->counts[u->n++];
    snprintf(c->tenant, sizeof c->tenant, "%s", tenant);
    c->requests = requests;
    c->bytes = bytes;
}

void mc_stream_usage_add(mc_stream_usage *u, const char *tenant, uint64_t bytes) {
    if (!u || !tenant || !*tenant) return;
    pthread_mutex_lock(&u->lock);
    add_locked(u, tenant, 1, bytes);
    pthread_mutex_unlock(&u->lock);
}

/* Queues one tenant's counts; false for a tenant whose name Redis keys do
 * not take (its counts are dropped). */
static bool queue_one(mc_redis_batch *b, const tenant_count *c, const char *day) {
    char key[160], requests[24], bytes[24], keep[16];
    if (mc_key_stream_usage(key, sizeof key, c->tenant, day) < 0) return false;
    snprintf(requests, sizeof requests, "%llu", (unsigned long long)c->requests);
    snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)c->bytes);
    snprintf(keep, sizeof keep, "%ld", MC_USAGE_TTL_S);
    mc_redis_batch_add(b, "EVAL %s 1 %s %s %s %s", FLUSH_SCRIPT, key, requests, bytes, keep);
    return true;
}

/* Writes the taken counts in one pipelined round trip, never resent; a
 * tenant whose script did not answer OK goes back for the next round. */
static void write_taken(mc_stream_usage *u, int n, const char *day) {
    mc_redis_batch b = {0};
    int queued[MAX_TENANTS], nq = 0;
    for (int i = 0; i < n; i++)
        if (queue_one(&b, &u->taken[i], day)) queued[nq++] = i;
    mc_err first = {0};
    mc_redis_batch_run(u->redis, &b, 0, &first);
    int kept = 0;
    for (int q = 0; q < nq; q++) {
        mc_err err = {0};
        if (mc_redis_batch_reply(u->redis, &b, (size_t)q, &err)) continue;
        if (kept++ == 0 && !first.msg[0]) first = err;
        const tenant_count *c = &u->taken[queued[q]];
        pthread_mutex_lock(&u->lock);
        add_locked(u, c->tenant, c->requests, c->bytes);
        pthread_mutex_unlock(&u->lock);
    }
    mc_redis_batch_free(&b);
    if (kept) mc_log_kv(MC_LOG_WARN, "playback usage not written yet, kept for the next round", "error", first.msg, NULL);
}

/* Takes the counts out under the lock, then writes them without it. */
static int flush(void *ctx) {
    mc_stream_usage *u = ctx;
    pthread_mutex_lock(&u->lock);
    int n = u->n;
    memcpy(u->taken, u->counts, (size_t)n * sizeof *u->taken);
    u->n = 0;
    pthread_mutex_unlock(&u->lock);
    if (n == 0) return 0;
    char day[9];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(day, sizeof day, "%Y%m%d", &tm);
    write_taken(u, n, day);
    return 0;
}

mc_stream_usage *mc_stream_usage_start(mc_redis *redis, mc_err *err) {
    mc_stream_usage *u = calloc(1, sizeof *u);
    if (!u) {
        mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    u->redis = redis;
    pthread_mutex_init(&u->lock, NULL);
    u->loop = mc_periodic_start("stream-usage", FLUSH_MS, flush, u, err);
    if (!u->loop) {
        pthread_mutex_destroy(&u->lock);
        free(u);
        return NULL;
    }
    return u;
}

void mc_stream_usage_stop(mc_stream_usage *u) {
    if (!u) return;
    mc_periodic_stop(u->loop);
    flush(u);
    pthread_mutex_destroy(&u->lock);
    free(u);
}
