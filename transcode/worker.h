/* worker.h — the mcloud-transcode worker: one member of the Kafka consumer
 * group on the jobs topic, running one job at a time.
 *
 * Per job (worker.c): parse, claim in MySQL, read the source from S3 through
 * ranged GETs, run the engine into an S3 sink under the attempt's prefix,
 * publish in one MySQL transaction, and only then let the consumer commit
 * the offset. Invalid sources fail at once (video failed, dead letter);
 * transient failures are retried by redelivery until max_attempts. */
#ifndef MCLOUD_TRANSCODE_WORKER_H
#define MCLOUD_TRANSCODE_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "common/kafka.h"
#include "common/s3_pool.h"
#include "common/service.h"

#define MC_TRANSCODE_TOPIC_MAX 128

typedef struct mc_transcode_settings {
    char group[MC_TRANSCODE_TOPIC_MAX];
    char jobs_topic[MC_TRANSCODE_TOPIC_MAX];
    char events_topic[MC_TRANSCODE_TOPIC_MAX];
    char dlq_topic[MC_TRANSCODE_TOPIC_MAX];
    long max_attempts;
    long grace_ms;            /* SIGTERM: how long the current job may still run */
    long heartbeat_ms;        /* jobs.heartbeat_at and progress events */
    long retry_backoff_ms;    /* pause before a failed job is redelivered */
    long part_size;           /* S3 multipart part size, bytes */
    long session_timeout_ms;  /* Kafka: how soon a dead worker's partitions move */
    long group_heartbeat_ms;  /* Kafka: how soon a member learns a rebalance began (<= session / 3) */
    long job_timeout_ms;      /* Kafka max.poll.interval.ms: the longest job */
    long encoder_threads;
    long queue_frames;        /* per rung queue; 0: the engine's default */
    long progressive;         /* 1: publish HLS as it goes */
    long test_hold_after;     /* TEST ONLY: hold each job after N segments per rung */
    char test_hold_release[256];  /* TEST ONLY: ... until this file exists */
    char tmp_dir[256];
} mc_transcode_settings;

typedef struct mc_transcode_worker {
    mc_service svc;
    mc_transcode_settings set;
    mc_s3_config s3cfg;
    mc_s3_pool *s3;
    mc_kafka_producer *producer;
    mc_kafka_consumer *consumer;
    pthread_t thread;
    bool thread_started;
    atomic_bool stopping;     /* no new job after the current one */
    atomic_bool cancel;       /* the grace period is over: abandon the job */
    atomic_bool ready;        /* the consumer has joined */
    pthread_mutex_t lock;
    pthread_cond_t exited;
    bool loop_done;
} mc_transcode_worker;

int mc_transcode_worker_read_settings(mc_transcode_worker *w, mc_err *err);
/* Creates the topics, the producer and the consumer, and starts the loop. */
int mc_transcode_worker_start(mc_transcode_worker *w, mc_err *err);
/* Lets the current job finish within grace_ms, else cancels it (its offset
 * stays uncommitted), then leaves the group. */
void mc_transcode_worker_stop(mc_transcode_worker *w);
void mc_transcode_worker_free(mc_transcode_worker *w);

#endif
