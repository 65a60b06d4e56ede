/* logship.c — the agent's log shipper: every line its containers write goes
 * to the Kafka topic logs.topic (mcloud.logs; key "<service>/<instance>"),
 * as a JSON object with node, service, instance and container id added
 * (common/logline.h), so `mcloud logs` reads every node's lines in one
 * place, also those of a container, or a node, that is gone.
 *
 * How lines are read: a thread of its own asks the engine, once a second,
 * for each running container's lines since the last second shipped
 * (GET /containers/{id}/logs?timestamps=1&since=S-1). Chosen over following
 * each container's log stream because it needs no connection (nor thread)
 * per container, a broken or slow engine answer costs one round instead of
 * a lost stream to re-sync, and the cursor says exactly where to go on.
 * The cursor is (second S, n lines of S shipped), not a timestamp: podman
 * 4.3 prints whole seconds (its `since` filter is finer), so lines of one
 * second cannot be told apart by time; the log is append-only, so the
 * first n lines of second S in a later read are exactly those shipped.
 * The supervisor drains a container the same way right before removing it
 * (mc_logship_drain), so a line written just before a SIGKILL is shipped.
 * An adopted container (after an agent restart) is shipped from the
 * agent's start: its earlier lines were shipped by the previous agent.
 *
 * Never blocking: lines are handed to librdkafka's queue without waiting
 * (the producer is idempotent: no duplicate on retries). While Kafka is
 * down they wait there, up to logs.buffer_lines lines; a line beyond that
 * bound, or one not delivered within BUFFER_TIMEOUT_MS, is dropped and
 * counted (mcloud_agent_log_lines_dropped_total on /metrics, beside
 * _shipped_total and the _buffered gauge). */
#include "orchestrator/agent/logship.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/logline.h"
#include "common/metrics.h"
#include "common/periodic.h"
#include "orchestrator/agent/agent.h"

#define ROUND_MS 1000
#define BUFFER_TIMEOUT_MS 300000  /* a line waits for Kafka this long at most */
#define TOPIC_PARTITIONS 6
#define TOPIC_RETRY_S 10
#define CURSORS (2 * MC_AGENT_MAX_INSTANCES)

typedef struct cursor {
    char id[MC_DOCKER_ID_MAX];
    int64_t sec;      /* the last second of which lines were shipped (or dropped) */
    long in_sec;      /* ... and how many of its lines */
    bool live;        /* seen in this round */
    bool drained;     /* its container is being removed: read for the last time */
} cursor;

typedef struct target {
    char id[MC_DOCKER_ID_MAX], service[MC_AGENT_NAME_MAX], instance[MC_AGENT_NAME_MAX];
    int64_t started_ns;
} target;

struct mc_logship {
    mc_agent *a;
    char topic[128], kafka[256];
    long bound, retention_h;
    int64_t start_ns;
    mc_kafka_producer *producer;
    mc_docker *engine;          /* the shipper's own client */
    mc_periodic *loop;
    bool topic_ready;
    time_t topic_next;
    pthread_mutex_t lock;       /* the cursors; held while a container's lines are read and queued */
    cursor cur[CURSORS];
    mc_metric *shipped, *dropped, *gauge;
};

static void delivered(const mc_kafka_delivery *d, const mc_err *err, void *opaque) {
    (void)d;
    mc_logship *ls = opaque;
    mc_gauge_add(ls->gauge, -1); /* the gauge moves with each line, as the counters do */
    mc_counter_inc(err ? ls->dropped : ls->shipped);
}

static cursor *cursor_of(mc_logship *ls, const char *id, int64_t start_ns) {
    cursor *free_slot = NULL;
    for (int k = 0; k < CURSORS; k++) {
        if (strcmp(ls->cur[k].id, id) == 0) return &ls->cur[k];
        if (!ls->cur[k].id[0] && !free_slot) free_slot = &ls->cur[k];
    }
    if (!free_slot) return NULL;
    memset(free_slot, 0, sizeof *free_slot);
    snprintf(free_slot->id, sizeof free_slot->id, "%s", id);
    free_slot->sec = start_ns / 1000000000LL;
    free_slot->in_sec = 0;
    return free_slot;
}

/* One line to the producer's queue; dropped (counted) when the queue is at
 * its bound. */
static void ship_line(mc_logship *ls, const char *key, const char *text, size_t len, int64_t ts_ns,
                      const mc_logline_meta *m) {
    char *value = mc_logline_enrich(text, len, m, ts_ns);
    mc_err err = {0};
    mc_gauge_add(ls->gauge, 1); /* before the produce: its delivery may be reported at once */
    if (!value || mc_kafka_produce(ls->producer, ls->topic, key, strlen(key), value, strlen(value), NULL, 0,
                                   delivered, ls, &err) < 0) {
        mc_gauge_add(ls->gauge, -1);
        mc_counter_inc(ls->dropped);
    }
    free(value);
}

/* Reads the container's new lines and queues them. ls->lock held. */
static void ship_container(mc_logship *ls, mc_docker *engine, const target *t) {
    cursor *c = cursor_of(ls, t->id, t->started_ns >= ls->start_ns - 1000000000LL ? 0 : ls->start_ns);
    if (!c) return;
    c->live = true;
    if (c->drained) return; /* a round's stale list: read again from 0 it would ship duplicates */
    char *text = NULL;
    size_t len = 0;
    mc_err err = {0};
    if (mc_docker_logs_since(engine, t->id, c->sec > 0 ? c->sec - 1 : 0, &text, &len, &err) < 0) {
        if (err.kind != MC_ERR_NOT_FOUND)
            mc_log_kv(MC_LOG_DEBUG, "reading a container's logs failed", "instance", t->instance, "error", err.msg, NULL);
        free(text);
        return;
    }
    char key[2 * MC_AGENT_NAME_MAX + 2];
    snprintf(key, sizeof key, "%s/%s", t->service, t->instance);
    mc_logline_meta m = {ls->a->node, t->service, t->instance, t->id};
    int64_t sec = c->sec;
    long skip = c->in_sec, seen = 0; /* lines of second `sec` shipped before, and seen in this read */
    for (size_t i = 0; i < len;) {
        const char *line = text + i;
        const char *nl = memchr(line, '\n', len - i);
        size_t n = nl ? (size_t)(nl - line) : len - i;
        i += n + (nl ? 1 : 0);
        int64_t ts;
        const char *body;
        size_t blen;
        if (mc_logline_split_ts(line, n, &ts, &body, &blen) < 0) continue; /* not a line of the engine's */
        int64_t s = ts / 1000000000LL;
        if (s < sec) continue; /* shipped already */
        if (s > sec) sec = s, seen = 0, skip = 0;
        if (++seen <= skip) continue;
        c->sec = sec, c->in_sec = seen;
        ship_line(ls, key, body, blen, ts, &m);
    }
    free(text);
}

void mc_logship_drain(mc_logship *ls, mc_docker *engine, const char *container_id, const char *service,
                      const char *instance) {
    if (!ls || !container_id || !container_id[0]) return;
    target t = {.started_ns = 0};
    snprintf(t.id, sizeof t.id, "%s", container_id);
    snprintf(t.service, sizeof t.service, "%s", service);
    snprintf(t.instance, sizeof t.instance, "%s", instance);
    pthread_mutex_lock(&ls->lock);
    /* a container no round has seen yet: its lines since the agent started */
    ship_container(ls, engine, &t);
    /* kept (forgotten by the first round that no longer lists the container) */
    for (int k = 0; k < CURSORS; k++)
        if (strcmp(ls->cur[k].id, container_id) == 0) ls->cur[k].drained = true;
    pthread_mutex_unlock(&ls->lock);
    mc_kafka_producer_poll(ls->producer, 0);
}

static void make_topic(mc_logship *ls) {
    if (ls->topic_ready || time(NULL) < ls->topic_next) return;
    char retention[64];
    snprintf(retention, sizeof retention, "retention.ms=%lld", (long long)ls->retention_h * 3600000LL);
    const char *configs[] = {retention, NULL};
    mc_kafka_config kc = {.bootstrap_servers = ls->kafka, .client_id = "mcloud-agent-logs"};
    mc_err err = {0};
    if (mc_kafka_create_topic_with(&kc, ls->topic, TOPIC_PARTITIONS, 1, configs, 5000, &err) == 0) {
        ls->topic_ready = true;
        return;
    }
    ls->topic_next = time(NULL) + TOPIC_RETRY_S;
    mc_log_kv(MC_LOG_WARN, "log topic not made yet (Kafka down?): lines wait in the buffer", "topic", ls->topic,
              "error", err.msg, NULL);
}

static int round_step(void *ctx) {
    mc_logship *ls = ctx;
    mc_kafka_producer_poll(ls->producer, 0);
    make_topic(ls);
    target t[MC_AGENT_MAX_INSTANCES];
    int n = 0;
    mc_agent *a = ls->a;
    pthread_mutex_lock(&a->lock);
    for (int k = 0; k < MC_AGENT_MAX_INSTANCES; k++) {
        const mc_agent_instance *i = &a->inst[k];
        if (!i->used || i->creating || !i->container_id[0]) continue;
        snprintf(t[n].id, sizeof t[n].id, "%s", i->container_id);
        snprintf(t[n].service, sizeof t[n].service, "%s", i->order.service);
        snprintf(t[n].instance, sizeof t[n].instance, "%s", i->order.name);
        const char *rest;
        size_t rlen;
        if (mc_logline_split_ts(i->started_at, strlen(i->started_at), &t[n].started_ns, &rest, &rlen) < 0)
            t[n].started_ns = INT64_MAX; /* unknown: taken as new */
        n++;
    }
    pthread_mutex_unlock(&a->lock);
    pthread_mutex_lock(&ls->lock);
    for (int k = 0; k < CURSORS; k++) ls->cur[k].live = false;
    pthread_mutex_unlock(&ls->lock);
    /* one container at a time under the lock: a drain (the supervisor,
     * holding the agent's lock) waits for one engine read at most */
    for (int k = 0; k < n && !mc_periodic_stopping(ls->loop); k++) {
        pthread_mutex_lock(&ls->lock);
        ship_container(ls, ls->engine, &t[k]);
        pthread_mutex_unlock(&ls->lock);
    }
    pthread_mutex_lock(&ls->lock);
    for (int k = 0; k < CURSORS; k++)
        if (ls->cur[k].id[0] && !ls->cur[k].live) memset(&ls->cur[k], 0, sizeof ls->cur[k]);
    pthread_mutex_unlock(&ls->lock);
    mc_kafka_producer_poll(ls->producer, 0);
    return 0;
}

mc_logship *mc_logship_start(mc_agent *a, mc_err *err) {
    mc_logship *ls = calloc(1, sizeof *ls);
    if (!ls) {
        mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    ls->a = a;
    pthread_mutex_init(&ls->lock, NULL);
    mc_config *cfg = a->svc.config;
    if (mc_config_copy(cfg, "logs.topic", ls->topic, sizeof ls->topic, err) < 0 ||
        mc_config_copy(cfg, "kafka", ls->kafka, sizeof ls->kafka, err) < 0 ||
        mc_config_int(cfg, "logs.retention_hours", 1, 24 * 3650, &ls->retention_h, err) < 0 ||
        mc_config_int(cfg, "logs.buffer_lines", 1, 10000000, &ls->bound, err) < 0)
        goto fail;
    if (!ls->topic[0]) {
        mc_err_set(err, MC_ERR_INVALID, "logs.topic: empty");
        goto fail;
    }
    char bound[64], timeout[64];
    snprintf(bound, sizeof bound, "queue.buffering.max.messages=%ld", ls->bound);
    snprintf(timeout, sizeof timeout, "message.timeout.ms=%d", BUFFER_TIMEOUT_MS);
    const char *props[] = {bound, timeout, "linger.ms=100", NULL};
    mc_kafka_config kc = {.bootstrap_servers = ls->kafka, .client_id = "mcloud-agent-logs", .properties = props};
    ls->shipped = mc_counter("mcloud_agent_log_lines_shipped_total", "Container log lines written to Kafka.", NULL);
    ls->dropped = mc_counter("mcloud_agent_log_lines_dropped_total",
                             "Container log lines dropped: the buffer was full or Kafka did not take them in time.",
                             NULL);
    ls->gauge = mc_gauge("mcloud_agent_log_lines_buffered", "Container log lines waiting for Kafka.", NULL);
    ls->start_ns = mc_realtime_ns();
    if (!(ls->producer = mc_kafka_producer_new(&kc, err)) || !(ls->engine = mc_docker_new(a->engine_socket, err)) ||
        !(ls->loop = mc_periodic_start("agent-logs", ROUND_MS, round_step, ls, err)))
        goto fail;
    char lines[24];
    snprintf(lines, sizeof lines, "%ld", ls->bound);
    mc_log_kv(MC_LOG_INFO, "shipping container logs", "topic", ls->topic, "buffer_lines", lines, NULL);
    return ls;
fail:
    mc_logship_stop(ls);
    return NULL;
}

void mc_logship_stop(mc_logship *ls) {
    if (!ls) return;
    mc_periodic_stop(ls->loop);
    mc_docker_free(ls->engine);
    if (ls->producer) mc_kafka_producer_free(ls->producer, 2000);
    pthread_mutex_destroy(&ls->lock);
    free(ls);
}
