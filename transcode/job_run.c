/* job_run.c — what the worker does with one job message.
 *
 *   parse -> claim (MySQL) -> source via S3 ranged GETs -> engine -> S3 sink
 *   under videos/<tenant>/<video>/attempts/<job>-<attempt>/ -> publish (one
 *   MySQL transaction) -> done event -> other attempts' objects deleted
 *
 * The offset is committed by the consumer only when this returns 0, i.e.
 * after the publish transaction (or after a final failure is recorded and
 * its dead letter acknowledged by the broker). A redelivered job that is
 * already done or failed changes nothing; its event or dead letter is sent
 * again (at least once), since a crash may have come between the MySQL
 * commit and the message. */
#include "transcode/job_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/s3_avio.h"
#include "transcode/engine.h"
#include "transcode/job.h"
#include "transcode/job_state.h"
#include "transcode/s3_sink.h"
#include "transcode/worker.h"

typedef struct job_run {
    mc_transcode_worker *w;
    const mc_kafka_message *msg;
    mc_transcode_job job;
    long attempt;
    long counted;           /* attempts that count against max_attempts */
    char prefix[MC_JOB_KEY_MAX / 2];
    double last_beat;
    uint64_t objects, bytes, multipart;   /* what the sink committed */
} job_run;

static void count(const char *outcome) {
    char labels[64];
    snprintf(labels, sizeof labels, "outcome=\"%s\"", outcome);
    mc_counter_inc(mc_counter("mcloud_transcode_jobs_total", "Job deliveries by outcome.", labels));
}

static void backoff(const mc_transcode_worker *w) {
    for (long waited = 0; waited < w->set.retry_backoff_ms && !atomic_load(&w->stopping);
         waited += 100)
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000000L}, NULL);
}

/* ---- messages ---- */

static int produce(job_run *r, const char *topic, char *text, bool sync, mc_err *err) {
    if (!text) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    const char *key = r->job.video_id[0] ? r->job.video_id : NULL;
    size_t keylen = key ? strlen(key) : 0;
    int rc = sync ? mc_kafka_produce_sync(r->w->producer, topic, key, keylen, text, strlen(text),
                                          NULL, 0, 10000, NULL, err)
                  : mc_kafka_produce(r->w->producer, topic, key, keylen, text, strlen(text), NULL,
                                     0, NULL, NULL, err);
    free(text);
    return rc < 0 ? mc_err_wrap(err, "producing to %s", topic) : 0;
}

static int send_event(job_run *r, const mc_transcode_event *e, bool sync) {
    mc_err err = {0};
    if (produce(r, r->w->set.events_topic, mc_transcode_event_json(e), sync, &err) == 0) return 0;
    mc_log_kv(MC_LOG_WARN, "transcode event not sent", "type", e->type, "job", r->job.job_id,
              "error", err.msg, NULL);
    return -1;
}

static mc_transcode_event event(job_run *r, const char *type) {
    return (mc_transcode_event){.type = type, .job = &r->job, .attempt = r->attempt,
                                .worker = r->w->svc.instance};
}

static int send_dlq(job_run *r, const char *reason, const char *kind, mc_err *err) {
    char *text = mc_transcode_dlq_json(r->msg->value, r->msg->len, reason, kind, r->attempt,
                                       r->w->svc.instance);
    return produce(r, r->w->set.dlq_topic, text, true, err);
}

/* ---- S3 housekeeping ---- */

/* Deletes every object under prefix except those under keep (may be NULL). */
static void delete_objects(mc_transcode_worker *w, const char *prefix, const char *keep) {
    mc_err err = {0};
    mc_s3 *s3 = mc_s3_pool_get(w->s3, &err);
    if (s3) mc_s3_delete_prefix(s3, prefix, keep, &err);
    mc_s3_pool_put(w->s3, s3);
    if (err.kind != MC_ERR_NONE)
        mc_log_kv(MC_LOG_WARN, "deleting attempt objects", "prefix", prefix, "error", err.msg, NULL);
}

/* After publishing: only the published attempt stays. */
static void delete_other_attempts(job_run *r) {
    char root[MC_JOB_KEY_MAX];
    if (mc_transcode_attempts_root(&r->job, root, sizeof root) == 0)
        delete_objects(r->w, root, r->prefix);
}

/* ---- the engine run ---- */

static void on_progress(void *ud, const mc_transcode_progress *p) {
    job_run *r = ud;
    double t = mc_monotonic_seconds();
    if (p->percent < 100 && t - r->last_beat < r->w->set.heartbeat_ms / 1000.0) return;
    r->last_beat = t;
    mc_err err = {0};
    if (mc_job_heartbeat(r->w->svc.db, &r->job, r->attempt, p->percent / 100.0, &err) < 0)
        mc_log_kv(MC_LOG_WARN, "job heartbeat failed", "job", r->job.job_id, "error", err.msg, NULL);
    mc_transcode_event e = event(r, "progress");
    e.percent = p->percent;
    e.fps = p->fps;
    e.rungs = p->rungs;
    e.position_s = p->position_s;
    e.duration_s = p->duration_s;
    send_event(r, &e, false);
    mc_kafka_producer_poll(r->w->producer, 0);
}

/* The master playlist is out, or every rung grew (a rung's thread). */
static void on_playable(void *ud, double seconds) {
    job_run *r = ud;
    mc_err err = {0};
    if (mc_job_playable(r->w->svc.db, &r->job, r->attempt, r->prefix, seconds, &err) < 0)
        mc_log_kv(MC_LOG_WARN, "marking the video playable failed", "job", r->job.job_id, "error",
                  err.msg, NULL);
}

static int open_source(job_run *r, mc_s3 *s3, AVIOContext **io, mc_err *err) {
    mc_s3_object_info info = {0};
    if (mc_s3_head_object(s3, r->job.source_key, &info, err) < 0) {
        if (err->kind == MC_ERR_NOT_FOUND)
            mc_err_set(err, MC_ERR_INVALID, "source object %s does not exist", r->job.source_key);
        return -1;
    }
    *io = mc_s3_avio_open(s3, r->job.source_key, info.content_length, err);
    return *io ? 0 : -1;
}

static int transcode(job_run *r, mc_transcode_result *res, mc_err *err) {
    mc_transcode_worker *w = r->w;
    mc_sink sink;
    mc_s3_sink s3sink;
    if (mc_s3_sink_init(&sink, &s3sink, w->s3, r->prefix, (size_t)w->set.part_size, err) < 0)
        return -1;
    mc_s3 *s3 = mc_s3_pool_get(w->s3, err);
    if (!s3) return -1;
    AVIOContext *io = NULL;
    int rc = open_source(r, s3, &io, err);
    if (rc == 0) {
        mc_transcode_input in = {.pb = io};
        mc_transcode_options opt = {.preset = mc_preset_find(r->job.preset),
                                    .tmp_dir = w->set.tmp_dir[0] ? w->set.tmp_dir : NULL,
                                    .on_progress = on_progress,
                                    .progress_ud = r,
                                    .cancel = &w->cancel,
                                    .encoder_threads = (int)w->set.encoder_threads,
                                    .queue_frames = (int)w->set.queue_frames,
                                    .progressive = w->set.progressive != 0,
                                    .on_playable = on_playable,
                                    .playable_ud = r,
                                    .hold_after_segments = (int)w->set.test_hold_after,
                                    .hold_release_path = w->set.test_hold_release[0]
                                                             ? w->set.test_hold_release
                                                             : NULL};
        rc = mc_transcode_run(&in, &sink, &opt, res, err);
    }
    mc_s3_avio_close(&io);
    mc_s3_pool_put(w->s3, s3);
    r->objects = atomic_load(&s3sink.objects);
    r->bytes = atomic_load(&s3sink.bytes);
    r->multipart = atomic_load(&s3sink.multipart_objects);
    mc_counter_add(mc_counter("mcloud_transcode_output_bytes_total", "Bytes written to S3.", NULL),
                   (double)r->bytes);
    mc_counter_add(mc_counter("mcloud_transcode_multipart_objects_total",
                              "Outputs written by multipart upload.", NULL),
                   (double)r->multipart);
    return rc;
}

/* ---- outcomes ---- */

/* The final failed event; when the broker does not take it, the message is
 * redelivered and replay_end sends it again. */
static int send_final_failure(job_run *r, const char *reason, const char *kind) {
    mc_transcode_event e = event(r, "failed");
    e.reason = reason;
    e.kind = kind;
    e.final = 1;
    if (send_event(r, &e, true) == 0) return 0;
    backoff(r->w);
    return -1;
}

static int send_done(job_run *r, const char *prefix, double duration_s) {
    /* room for any prefix a job may have and the playlist's name after it */
    char master[MC_JOB_KEY_MAX + sizeof MC_TRANSCODE_MASTER];
    snprintf(master, sizeof master, "%s%s", prefix, MC_TRANSCODE_MASTER);
    mc_transcode_event e = event(r, "done");
    e.prefix = prefix;
    e.master = master;
    e.duration_s = duration_s;
    if (send_event(r, &e, true) == 0) return 0;
    backoff(r->w);
    return -1;
}

static int give_up(job_run *r, const char *reason, const char *kind) {
    mc_err err = {0};
    if (mc_job_fail(r->w->svc.db, &r->job, r->attempt, reason, &err) < 0 ||
        send_dlq(r, reason, kind, &err) < 0) {
        mc_log_kv(MC_LOG_ERROR, "recording a failed job", "job", r->job.job_id, "error", err.msg,
                  NULL);
        backoff(r->w);
        return -1;
    }
    mc_log_kv(MC_LOG_WARN, "job failed", "job", r->job.job_id, "video", r->job.video_id, "kind",
              kind, "reason", reason, NULL);
    count("failed");
    return send_final_failure(r, reason, kind);
}

static int retry_later(job_run *r, const mc_err *cause) {
    mc_err err = {0};
    bool handed_back = atomic_load(&r->w->cancel);
    if (mc_job_requeue(r->w->svc.db, &r->job, r->attempt, cause->msg, handed_back, &err) < 0)
        mc_log_kv(MC_LOG_WARN, "requeueing job", "job", r->job.job_id, "error", err.msg, NULL);
    if (handed_back) {
        mc_log_kv(MC_LOG_WARN, "job abandoned at shutdown (offset not committed)", "job",
                  r->job.job_id, NULL);
        count("abandoned");
        return -1;
    }
    mc_transcode_event e = event(r, "failed");
    e.reason = cause->msg;
    e.kind = "transient";
    send_event(r, &e, false);
    mc_log_kv(MC_LOG_WARN, "job attempt failed; will retry", "job", r->job.job_id, "error",
              cause->msg, NULL);
    count("retried");
    backoff(r->w);
    return -1;
}

/* How long decoding waited on each rung's full queue, and each rung on its
 * empty one (engine.h): counted per rung; the first is written as
 * "1080p:0.120,720p:0.000,..." for the log. */
static void queue_waits(const mc_transcode_result *res, char *out, size_t len) {
    size_t used = 0;
    for (int i = 0; i < res->n_renditions && used < len; i++) {
        const mc_rendition *v = &res->renditions[i];
        char labels[64];
        snprintf(labels, sizeof labels, "rung=\"%s\"", v->name);
        mc_counter_add(mc_counter("mcloud_transcode_queue_full_seconds_total",
                                  "Time decoding waited for room in a rung's queue.", labels),
                       v->queue_full_s);
        mc_counter_add(mc_counter("mcloud_transcode_queue_empty_seconds_total",
                                  "Time a rung waited for frames (its queue empty).", labels),
                       v->queue_empty_s);
        int n = snprintf(out + used, len - used, "%s%s:%.3f", i ? "," : "", v->name, v->queue_full_s);
        if (n > 0) used += (size_t)n;
    }
}

static int publish(job_run *r, const mc_transcode_result *res) {
    mc_err err = {0};
    bool won = false;
    if (mc_job_publish(r->w->svc.db, &r->job, r->attempt, r->prefix, res, &won, &err) < 0)
        return retry_later(r, &err);
    if (!won) {
        mc_log_kv(MC_LOG_INFO, "job was finished by another attempt; outputs dropped", "job",
                  r->job.job_id, "prefix", r->prefix, NULL);
        delete_objects(r->w, r->prefix, NULL);
        count("duplicate");
        return 0;
    }
    delete_other_attempts(r);
    char waits[MC_LADDER_MAX_RUNGS * 32] = "";
    queue_waits(res, waits, sizeof waits);
    char objects[24], bytes[24], multipart[24];
    snprintf(objects, sizeof objects, "%llu", (unsigned long long)r->objects);
    snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)r->bytes);
    snprintf(multipart, sizeof multipart, "%llu", (unsigned long long)r->multipart);
    mc_log_kv(MC_LOG_INFO, "job done", "job", r->job.job_id, "video", r->job.video_id, "prefix",
              r->prefix, "objects", objects, "bytes", bytes, "multipart", multipart, "queue_full_s", waits, NULL);
    count("done");
    return send_done(r, r->prefix, res->duration_s);
}

static int run_claimed(job_run *r) {
    mc_transcode_worker *w = r->w;
    char reason[700];
    if (r->counted > w->set.max_attempts) {
        snprintf(reason, sizeof reason, "gave up after %ld attempts: %s", w->set.max_attempts,
                 "the previous attempts did not finish");
        return give_up(r, reason, "transient");
    }
    mc_transcode_event started = event(r, "started");
    send_event(r, &started, false);
    mc_gauge_set(mc_gauge("mcloud_transcode_running", "Jobs running in this worker.", NULL), 1);
    double t0 = mc_monotonic_seconds();
    mc_transcode_result res;
    memset(&res, 0, sizeof res);
    mc_err err = {0};
    int rc = transcode(r, &res, &err);
    mc_gauge_set(mc_gauge("mcloud_transcode_running", "Jobs running in this worker.", NULL), 0);
    if (rc == 0) {
        static const double bounds[] = {1, 5, 15, 60, 300, 1200, 3600};
        mc_histogram_observe(mc_histogram("mcloud_transcode_job_seconds", "Engine time per job.",
                                          NULL, bounds, sizeof bounds / sizeof bounds[0]),
                             mc_monotonic_seconds() - t0);
        return publish(r, &res);
    }
    mc_err unplayable_err = {0};
    if (mc_job_unplayable(w->svc.db, &r->job, r->prefix, &unplayable_err) < 0)
        mc_log_kv(MC_LOG_WARN, "marking the video not playable failed", "job", r->job.job_id,
                  "error", unplayable_err.msg, NULL);
    delete_objects(w, r->prefix, NULL);
    if (err.kind == MC_ERR_INVALID) return give_up(r, err.msg, "invalid");
    if (r->counted >= w->set.max_attempts && !atomic_load(&w->cancel)) {
        snprintf(reason, sizeof reason, "gave up after %ld attempts: %s", r->counted, err.msg);
        return give_up(r, reason, "transient");
    }
    return retry_later(r, &err);
}

/* A redelivered job that had already ended: say so again, change nothing. */
static int replay_end(job_run *r, const mc_job_claim_result *c) {
    mc_err err = {0};
    count("duplicate");
    if (c->outcome == MC_JOB_WAS_DONE) return send_done(r, c->published_prefix, 0);
    if (send_dlq(r, c->reason, "replayed", &err) < 0) {
        mc_log_kv(MC_LOG_WARN, "dead letter not sent", "job", r->job.job_id, "error", err.msg, NULL);
        backoff(r->w);
        return -1;
    }
    return send_final_failure(r, c->reason, "replayed");
}

int mc_transcode_handle_message(const mc_kafka_message *m, void *ctx) {
    job_run r = {.w = ctx, .msg = m};
    mc_err err = {0};
    if (mc_transcode_job_parse(m->value, m->len, &r.job, &err) < 0) {
        mc_log_kv(MC_LOG_WARN, "job message refused", "error", err.msg, NULL);
        count("refused");
        mc_err dlq_err = {0};
        if (send_dlq(&r, err.msg, "invalid", &dlq_err) == 0) return 0;
        mc_log_kv(MC_LOG_ERROR, "dead letter not sent", "error", dlq_err.msg, NULL);
        backoff(r.w);
        return -1;
    }
    mc_job_claim_result claim;
    if (mc_job_claim_run(r.w->svc.db, &r.job, r.w->svc.instance, &claim, &err) < 0) {
        mc_log_kv(MC_LOG_WARN, "job not claimed; will retry", "job", r.job.job_id, "error", err.msg,
                  NULL);
        backoff(r.w);
        return -1;
    }
    r.attempt = claim.attempt;
    r.counted = claim.attempt - claim.handed_back;
    switch (claim.outcome) {
    case MC_JOB_WAS_DONE:
    case MC_JOB_WAS_FAILED:
        return replay_end(&r, &claim);
    case MC_JOB_NO_VIDEO:
        count("refused");
        if (send_dlq(&r, "the job's video does not exist", "invalid", &err) == 0) return 0;
        backoff(r.w);
        return -1;
    case MC_JOB_CLAIMED:
        break;
    }
    if (mc_transcode_attempt_prefix(&r.job, r.attempt, r.prefix, sizeof r.prefix) < 0) {
        snprintf(err.msg, sizeof err.msg, "object prefix too long");
        return give_up(&r, err.msg, "invalid");
    }
    mc_log_kv(MC_LOG_INFO, "job started", "job", r.job.job_id, "video", r.job.video_id, "prefix",
              r.prefix, NULL);
    return run_claimed(&r);
}
