/* kafka.h — Kafka producer, consumer-group consumer and topic admin on
 * librdkafka, with the delivery guarantees mcloud relies on.
 *
 * Producer: idempotent (enable.idempotence=true, acks=all), so retries never
 * duplicate or reorder a partition's messages. mc_kafka_produce_sync()
 * returns once the broker has acknowledged the message; mc_kafka_produce()
 * queues it and reports through a callback served by mc_kafka_producer_poll()
 * or mc_kafka_producer_flush().
 *
 * Consumer: at-least-once. Offsets are neither stored nor committed
 * automatically; a message's offset is committed (synchronously) only after
 * the handler returned success. When the handler fails, the consumer seeks
 * the partition back to that message: the next poll hands it over again,
 * and if this member stops or loses the partition first, the group resumes
 * from the last commit, so whichever member owns the partition next gets it.
 * Handlers must therefore be idempotent. Later messages of the same
 * partition wait behind a failing one (per-partition order is kept);
 * giving up on a message (dead-letter topic) is the caller's decision.
 *
 * Rebalancing uses the cooperative-sticky assignor: on a rebalance a member
 * only gives up the partitions that move, so workers keep processing the
 * rest. As every success is committed before the next poll, nothing is left
 * to commit when partitions are revoked.
 *
 * librdkafka's own log lines go to the JSON log (component "kafka"). */
#ifndef MCLOUD_KAFKA_H
#define MCLOUD_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct mc_kafka_config {
    const char *bootstrap_servers;  /* "host:port[,host:port...]" */
    const char *client_id;          /* NULL: "mcloud" */
    /* NULL-terminated "key=value" librdkafka properties applied last, so
     * they override ours (e.g. "max.poll.interval.ms=1800000" for handlers
     * that run longer than the default 5 minutes). */
    const char *const *properties;
} mc_kafka_config;

typedef struct mc_kafka_header {
    const char *name;
    const void *value;
    size_t len;
} mc_kafka_header;

/* ---- producer ----
 * One producer per process is enough; it may be shared by threads. */

typedef struct mc_kafka_producer mc_kafka_producer;

typedef struct mc_kafka_delivery {
    int32_t partition;
    int64_t offset;
} mc_kafka_delivery;

/* Delivery report for mc_kafka_produce(): err is NULL when the message was
 * written, else says why not (d is then meaningless). */
typedef void (*mc_kafka_delivery_cb)(const mc_kafka_delivery *d, const mc_err *err, void *opaque);

mc_kafka_producer *mc_kafka_producer_new(const mc_kafka_config *cfg, mc_err *err);
/* Flushes for up to timeout_ms, then drops what is left (reporting it as
 * failed to its callbacks) and frees. */
void mc_kafka_producer_free(mc_kafka_producer *p, int timeout_ms);

/* Produces one message and waits for its delivery report, up to timeout_ms.
 * key may be NULL (partition chosen by librdkafka), headers may be NULL.
 * On success fills *out (if not NULL) with the partition and offset. Errors:
 * MC_ERR_REMOTE / MC_ERR_UNAVAILABLE with code = librdkafka error name;
 * on timeout (code "_TIMED_OUT") the message may still be delivered later. */
int mc_kafka_produce_sync(mc_kafka_producer *p, const char *topic, const void *key, size_t keylen,
                          const void *value, size_t len, const mc_kafka_header *headers,
                          size_t nheaders, int timeout_ms, mc_kafka_delivery *out, mc_err *err);
/* Queues one message; cb (may be NULL) runs later from poll/flush. Fails
 * with code "_QUEUE_FULL" when the local queue is full: poll, then retry. */
int mc_kafka_produce(mc_kafka_producer *p, const char *topic, const void *key, size_t keylen,
                     const void *value, size_t len, const mc_kafka_header *headers, size_t nheaders,
                     mc_kafka_delivery_cb cb, void *opaque, mc_err *err);
/* Serves pending delivery reports, waiting up to timeout_ms for one;
 * returns how many were served. */
int mc_kafka_producer_poll(mc_kafka_producer *p, int timeout_ms);
/* Waits until every queued message has its delivery report; MC_ERR_UNAVAILABLE
 * ("_TIMED_OUT") if some are still outstanding after timeout_ms. */
int mc_kafka_producer_flush(mc_kafka_producer *p, int timeout_ms, mc_err *err);

/* ---- consumer ----
 * Poll a consumer from one thread; its assignment and lag may be read from
 * any thread (a metrics endpoint). */

typedef struct mc_kafka_consumer mc_kafka_consumer;

typedef struct mc_kafka_message {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key;        /* NULL when the message has no key */
    size_t keylen;
    const void *value;
    size_t len;
    int64_t timestamp_ms;   /* -1 if unknown */
    const void *impl;       /* private: the librdkafka message */
} mc_kafka_message;

/* Finds the last header called name: 0 with its value and length, or -1. */
int mc_kafka_message_header(const mc_kafka_message *m, const char *name, const void **value,
                            size_t *len);

/* Returns 0 when the message is done (its offset gets committed) or -1 when
 * it must be processed again (see the policy at the top). */
typedef int (*mc_kafka_handler)(const mc_kafka_message *m, void *ctx);

/* Joins consumer group `group` on the NULL-terminated topic list. A group
 * without committed offsets starts from the earliest message (jobs produced
 * before the first worker started are not lost). */
mc_kafka_consumer *mc_kafka_consumer_new(const mc_kafka_config *cfg, const char *group,
                                         const char *const *topics, mc_err *err);

typedef enum mc_kafka_poll_result {
    MC_KAFKA_POLL_IDLE = 0,       /* no message within timeout_ms */
    MC_KAFKA_POLL_COMMITTED = 1,  /* handler succeeded, offset committed */
    MC_KAFKA_POLL_REWOUND = 2     /* handler failed, partition rewound to the message */
} mc_kafka_poll_result;

/* Waits up to timeout_ms for one message and runs handler on it (serving
 * rebalances meanwhile). Returns an mc_kafka_poll_result, or -1 with err
 * when the consumer reported an error or the commit failed (the message
 * was then processed but will be delivered again). */
int mc_kafka_consumer_poll(mc_kafka_consumer *c, mc_kafka_handler handler, void *ctx, int timeout_ms,
                           mc_err *err);

/* Leaves the group cleanly (its partitions move to the others at once
 * instead of after the session timeout) and frees. */
void mc_kafka_consumer_close(mc_kafka_consumer *c);

typedef struct mc_kafka_partition {
    char topic[250];
    int32_t partition;
} mc_kafka_partition;

/* The partitions currently assigned to this member: *out is a malloc'd
 * array of *n (free() it; NULL when none). */
int mc_kafka_consumer_assignment(mc_kafka_consumer *c, mc_kafka_partition **out, size_t *n,
                                 mc_err *err);

typedef struct mc_kafka_partition_lag {
    char topic[250];
    int32_t partition;
    int64_t committed;   /* group's committed offset, -1 if none yet */
    int64_t low, high;   /* the partition's watermarks */
    int64_t lag;         /* high - committed (high - low when nothing is committed) */
} mc_kafka_partition_lag;

/* Lag of each partition assigned to this member. */
int mc_kafka_consumer_lag(mc_kafka_consumer *c, int timeout_ms, mc_kafka_partition_lag **out,
                          size_t *n, mc_err *err);
/* Lag of group on every partition of topic, from outside the group (the
 * orchestrator scales workers on it). */
int mc_kafka_group_lag(const mc_kafka_config *cfg, const char *group, const char *topic,
                       int timeout_ms, mc_kafka_partition_lag **out, size_t *n, mc_err *err);

/* ---- lookup ---- */

/* Whether a message with exactly this key and value is on topic among those
 * timestamped at or after since_ms (ms since the epoch; pass a margin for
 * clock skew): 1 yes, 0 no (every partition read up to the high watermark
 * seen at the start), -1 with err when Kafka could not be read within
 * timeout_ms. Opens and closes its own consumer; joins no group. */
int mc_kafka_find(const mc_kafka_config *cfg, const char *topic, int64_t since_ms, const void *key,
                  size_t keylen, const void *value, size_t len, int timeout_ms, mc_err *err);

/* Reads every partition of topic from the first message timestamped at or
 * after since_ms (0: the beginning) up to the high watermarks seen at the
 * start, handing each message to fn (any order across partitions); then
 * calls fn(NULL) once ("caught up") and, with follow, goes on with new
 * messages until fn returns non-zero. Non-zero from fn stops the read
 * (returns 1). 0 when read to the end, -1 with err on failure or when the
 * catch-up takes longer than timeout_ms. Assign-only: joins no group. */
typedef int (*mc_kafka_scan_fn)(const mc_kafka_message *m, void *ctx);
int mc_kafka_scan(const mc_kafka_config *cfg, const char *topic, int64_t since_ms, bool follow, int timeout_ms,
                  mc_kafka_scan_fn fn, void *ctx, mc_err *err);

/* ---- admin ---- */

/* Creates topic with the given partitions and replication factor unless it
 * already exists (then succeeds whatever its partition count), and returns
 * once brokers serve it, so a consumer may subscribe right away. */
int mc_kafka_create_topic(const mc_kafka_config *cfg, const char *topic, int partitions,
                          int replication_factor, int timeout_ms, mc_err *err);
/* The same with topic configs ("retention.ms=86400000", NULL-terminated),
 * applied only when the topic is created here. */
int mc_kafka_create_topic_with(const mc_kafka_config *cfg, const char *topic, int partitions, int replication_factor,
                               const char *const *configs, int timeout_ms, mc_err *err);
/* The topic's partition count per the cluster's metadata, or -1 with err
 * (MC_ERR_NOT_FOUND-like kinds from librdkafka when it does not exist). */
int mc_kafka_partition_count(const mc_kafka_config *cfg, const char *topic, int timeout_ms, mc_err *err);
/* Grows topic to `total` partitions (CreatePartitions) and waits until
 * brokers serve them. Kafka refuses a total not above the current one. */
int mc_kafka_create_partitions(const mc_kafka_config *cfg, const char *topic, int total, int timeout_ms, mc_err *err);
/* Deletes topic; succeeds if it does not exist. */
int mc_kafka_delete_topic(const mc_kafka_config *cfg, const char *topic, int timeout_ms, mc_err *err);

#endif
