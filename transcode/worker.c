/* worker.c — the worker's life cycle: its settings, its topics, the Kafka
 * producer and consumer, the thread polling jobs one at a time, and the
 * graceful stop (the current job gets transcode.grace_ms, then is cancelled
 * and handed back uncommitted). */
#include "transcode/worker.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/periodic.h"
#include "transcode/job_run.h"

#define JOBS_PARTITIONS 6
#define EVENT_PARTITIONS 3
#define POLL_MS 500

int mc_transcode_worker_read_settings(mc_transcode_worker *w, mc_err *err) {
    mc_config *cfg = w->svc.config;
    mc_transcode_settings *s = &w->set;
    long part_mb;
    if (mc_config_copy(cfg, "transcode.group", s->group, sizeof s->group, err) < 0 ||
        mc_config_copy(cfg, "transcode.jobs_topic", s->jobs_topic, sizeof s->jobs_topic, err) < 0 ||
        mc_config_copy(cfg, "transcode.events_topic", s->events_topic, sizeof s->events_topic, err) < 0 ||
        mc_config_copy(cfg, "transcode.dlq_topic", s->dlq_topic, sizeof s->dlq_topic, err) < 0 ||
        mc_config_int(cfg, "transcode.max_attempts", 1, 100, &s->max_attempts, err) < 0 ||
        mc_config_int(cfg, "transcode.grace_ms", 0, 3600000, &s->grace_ms, err) < 0 ||
        mc_config_int(cfg, "transcode.heartbeat_ms", 100, 600000, &s->heartbeat_ms, err) < 0 ||
        mc_config_int(cfg, "transcode.retry_backoff_ms", 0, 600000, &s->retry_backoff_ms, err) < 0 ||
        mc_config_int(cfg, "transcode.part_size_mb", 5, 1024, &part_mb, err) < 0 ||
        mc_config_int(cfg, "transcode.session_timeout_ms", 6000, 300000, &s->session_timeout_ms, err) < 0 ||
        mc_config_int(cfg, "transcode.group_heartbeat_ms", 100, 100000, &s->group_heartbeat_ms, err) < 0 ||
        mc_config_int(cfg, "transcode.job_timeout_ms", 60000, 86400000, &s->job_timeout_ms, err) < 0 ||
        mc_config_int(cfg, "transcode.encoder_threads", 0, 64, &s->encoder_threads, err) < 0 ||
        mc_config_int(cfg, "transcode.queue_frames", 0, 1024, &s->queue_frames, err) < 0 ||
        mc_config_int(cfg, "transcode.progressive", 0, 1, &s->progressive, err) < 0 ||
        mc_config_int(cfg, "transcode.test_hold_after_segments", 0, 100000, &s->test_hold_after, err) < 0 ||
        mc_config_copy(cfg, "transcode.test_hold_release_file", s->test_hold_release,
                       sizeof s->test_hold_release, err) < 0 ||
        mc_config_copy(cfg, "transcode.tmp_dir", s->tmp_dir, sizeof s->tmp_dir, err) < 0)
        return -1;
    s->part_size = part_mb * 1024 * 1024;
    /* Kafka's rule: a member beats at most a third of its session, so one
     * lost heartbeat never costs it its partitions */
    if (s->group_heartbeat_ms * 3 > s->session_timeout_ms)
        return mc_err_set(err, MC_ERR_INVALID,
                          "transcode.group_heartbeat_ms (%ld) must be at most a third of transcode.session_timeout_ms (%ld)",
                          s->group_heartbeat_ms, s->session_timeout_ms);
    return 0;
}

static int create_topics(mc_transcode_worker *w, const mc_kafka_config *kc, mc_err *err) {
    if (mc_kafka_create_topic(kc, w->set.jobs_topic, JOBS_PARTITIONS, 1, 30000, err) < 0 ||
        mc_kafka_create_topic(kc, w->set.events_topic, EVENT_PARTITIONS, 1, 30000, err) < 0 ||
        mc_kafka_create_topic(kc, w->set.dlq_topic, EVENT_PARTITIONS, 1, 30000, err) < 0)
        return mc_err_wrap(err, "creating topics");
    return 0;
}

/* The group heartbeat paces a rebalance: a member learns that one began
 * (a worker joined or left) at its next heartbeat, and a cooperative
 * rebalance takes two rounds. 500 ms (transcode.group_heartbeat_ms) cuts
 * up to half a second off a joining worker's wait against the former 1 s
 * (librdkafka's default is 3 s), for one small request a second more per
 * worker. Measured (docs/BENCHMARKS.md, bench_autoscale A): most of that
 * wait is the busy worker's current job, since it runs inside the poll
 * loop and the revoke is only served at the next poll. */
static int open_consumer(mc_transcode_worker *w, const char *servers, mc_err *err) {
    char session[64], poll[64], beat[64];
    snprintf(session, sizeof session, "session.timeout.ms=%ld", w->set.session_timeout_ms);
    snprintf(poll, sizeof poll, "max.poll.interval.ms=%ld", w->set.job_timeout_ms);
    snprintf(beat, sizeof beat, "heartbeat.interval.ms=%ld", w->set.group_heartbeat_ms);
    const char *props[] = {session, poll, beat, NULL};
    mc_kafka_config kc = {.bootstrap_servers = servers, .client_id = w->svc.instance,
                          .properties = props};
    const char *topics[] = {w->set.jobs_topic, NULL};
    w->consumer = mc_kafka_consumer_new(&kc, w->set.group, topics, err);
    return w->consumer ? 0 : mc_err_wrap(err, "kafka consumer");
}

static void *worker_main(void *arg) {
    mc_transcode_worker *w = arg;
    atomic_store(&w->ready, true);
    while (!atomic_load(&w->stopping)) {
        mc_err err = {0};
        if (mc_kafka_consumer_poll(w->consumer, mc_transcode_handle_message, w, POLL_MS, &err) < 0)
            mc_log_kv(MC_LOG_WARN, "kafka consumer", "error", err.msg, NULL);
        mc_kafka_producer_poll(w->producer, 0);
    }
    pthread_mutex_lock(&w->lock);
    w->loop_done = true;
    pthread_cond_signal(&w->exited);
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int mc_transcode_worker_start(mc_transcode_worker *w, mc_err *err) {
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->exited, NULL);
    if (mc_s3_config_from(w->svc.config, &w->s3cfg, err) < 0) return -1;
    w->s3 = mc_s3_pool_new(&w->s3cfg);
    if (!w->s3) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    const char *servers = mc_config_get(w->svc.config, "kafka");
    mc_kafka_config kc = {.bootstrap_servers = servers, .client_id = w->svc.instance};
    if (create_topics(w, &kc, err) < 0) return -1;
    w->producer = mc_kafka_producer_new(&kc, err);
    if (!w->producer) return mc_err_wrap(err, "kafka producer");
    if (open_consumer(w, servers, err) < 0) return -1;
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
        return mc_err_set(err, MC_ERR_INTERNAL, "cannot start the worker thread");
    w->thread_started = true;
    mc_log_kv(MC_LOG_INFO, "transcode worker consuming", "group", w->set.group, "topic",
              w->set.jobs_topic, NULL);
    return 0;
}

void mc_transcode_worker_stop(mc_transcode_worker *w) {
    if (!w->thread_started) return;
    atomic_store(&w->stopping, true);
    struct timespec until = mc_deadline_after_ms(CLOCK_REALTIME, w->set.grace_ms);
    pthread_mutex_lock(&w->lock);
    int rc = 0;
    while (!w->loop_done && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&w->exited, &w->lock, &until);
    pthread_mutex_unlock(&w->lock);
    if (rc == ETIMEDOUT) {
        mc_log_kv(MC_LOG_WARN, "grace period over: cancelling the current job", NULL);
        atomic_store(&w->cancel, true);
    }
    pthread_join(w->thread, NULL);
    w->thread_started = false;
}

void mc_transcode_worker_free(mc_transcode_worker *w) {
    if (w->consumer) mc_kafka_consumer_close(w->consumer);
    if (w->producer) mc_kafka_producer_free(w->producer, 5000);
    mc_s3_pool_free(w->s3);
    w->consumer = NULL;
    w->producer = NULL;
    w->s3 = NULL;
}
