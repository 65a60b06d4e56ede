/* job_state.c — the worker's MySQL transactions on jobs, videos and
 * renditions (see job_state.h for the state machine). Each runs through
 * mc_db_transaction: workers claiming and publishing different videos at
 * once take gap locks on the same indexes, and the deadlock victim is run
 * again rather than counted as a failed attempt. */
#include "transcode/job_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void copy(char *dst, size_t len, const char *src) {
    snprintf(dst, len, "%s", src ? src : "");
}

/* Inside the claim transaction: the job row locked, then created or bumped. */
static int claim_job(mc_db_conn *c, const mc_transcode_job *job, const char *worker,
                     mc_job_claim_result *out, mc_err *err) {
    mc_db_rows rows = {0};
    if (mc_db_conn_query(c, "SELECT status, attempt, error, handed_back FROM jobs WHERE id = ? FOR UPDATE",
                         MC_DB_ARGS(mc_db_str(job->job_id)), &rows, err) < 0)
        return -1;
    int rc = 0;
    if (rows.nrows == 0) {
        out->attempt = 1;
        rc = mc_db_conn_exec(c,
                             "INSERT INTO jobs (id, video_id, attempt, status, preset, worker, "
                             "heartbeat_at) VALUES (?, ?, 1, 'running', ?, ?, CURRENT_TIMESTAMP(6))",
                             MC_DB_ARGS(mc_db_str(job->job_id), mc_db_str(job->video_id),
                                        mc_db_str(job->preset), mc_db_str(worker)),
                             NULL, err);
    } else {
        const char *status = mc_db_rows_get(&rows, 0, 0);
        out->attempt = strtol(mc_db_rows_get(&rows, 0, 1), NULL, 10);
        copy(out->reason, sizeof out->reason, mc_db_rows_get(&rows, 0, 2));
        out->handed_back = strtol(mc_db_rows_get(&rows, 0, 3), NULL, 10);
        if (!strcmp(status, "done")) out->outcome = MC_JOB_WAS_DONE;
        else if (!strcmp(status, "failed")) out->outcome = MC_JOB_WAS_FAILED;
        else {
            out->attempt++;
            rc = mc_db_conn_exec(c,
                                 "UPDATE jobs SET attempt = ?, status = 'running', worker = ?, "
                                 "heartbeat_at = CURRENT_TIMESTAMP(6), progress = 0 WHERE id = ?",
                                 MC_DB_ARGS(mc_db_i64(out->attempt), mc_db_str(worker),
                                            mc_db_str(job->job_id)),
                                 NULL, err);
        }
    }
    mc_db_rows_free(&rows);
    return rc;
}

static int claim_video(mc_db_conn *c, const mc_transcode_job *job, mc_job_claim_result *out,
                       mc_err *err) {
    mc_db_rows rows = {0};
    if (mc_db_conn_query(c, "SELECT published_prefix FROM videos WHERE id = ? FOR UPDATE",
                         MC_DB_ARGS(mc_db_str(job->video_id)), &rows, err) < 0)
        return -1;
    if (rows.nrows == 0) out->outcome = MC_JOB_NO_VIDEO;
    else copy(out->published_prefix, sizeof out->published_prefix, mc_db_rows_get(&rows, 0, 0));
    mc_db_rows_free(&rows);
    if (out->outcome != MC_JOB_CLAIMED) return 0;
    return mc_db_conn_exec(c,
                           "UPDATE videos SET status = 'transcoding' WHERE id = ? AND status IN "
                           "('uploading', 'uploaded')",
                           MC_DB_ARGS(mc_db_str(job->video_id)), NULL, err);
}

struct claim_tx {
    const mc_transcode_job *job;
    const char *worker;
    mc_job_claim_result *out;
};

static int claim_body(mc_db_conn *c, void *arg, mc_err *err) {
    struct claim_tx *t = arg;
    memset(t->out, 0, sizeof *t->out);
    /* The video first: its row lock orders concurrent claims of one video. */
    int rc = claim_video(c, t->job, t->out, err);
    if (rc == 0 && t->out->outcome == MC_JOB_CLAIMED) rc = claim_job(c, t->job, t->worker, t->out, err);
    return rc;
}

int mc_job_claim_run(mc_db *db, const mc_transcode_job *job, const char *worker,
                     mc_job_claim_result *out, mc_err *err) {
    struct claim_tx t = {job, worker, out};
    int rc = mc_db_transaction(db, MC_DB_MASTER, claim_body, &t, err);
    return rc < 0 ? mc_err_wrap(err, "claiming job %s", job->job_id) : 0;
}

int mc_job_heartbeat(mc_db *db, const mc_transcode_job *job, long attempt, double progress,
                     mc_err *err) {
    return mc_db_exec(db, MC_DB_MASTER,
                      "UPDATE jobs SET heartbeat_at = CURRENT_TIMESTAMP(6), progress = ? "
                      "WHERE id = ? AND attempt = ? AND status = 'running'",
                      MC_DB_ARGS(mc_db_f64(progress), mc_db_str(job->job_id), mc_db_i64(attempt)),
                      NULL, err);
}

int mc_job_playable(mc_db *db, const mc_transcode_job *job, long attempt, const char *prefix,
                    double seconds, mc_err *err) {
    return mc_db_exec(db, MC_DB_MASTER,
                      "UPDATE videos SET playable = 1, playable_prefix = ?, playable_seconds = ? "
                      "WHERE id = ? AND status = 'transcoding' AND EXISTS (SELECT 1 FROM jobs "
                      "WHERE id = ? AND attempt = ? AND status = 'running')",
                      MC_DB_ARGS(mc_db_str(prefix), mc_db_f64(seconds), mc_db_str(job->video_id),
                                 mc_db_str(job->job_id), mc_db_i64(attempt)),
                      NULL, err);
}

int mc_job_unplayable(mc_db *db, const mc_transcode_job *job, const char *prefix, mc_err *err) {
    return mc_db_exec(db, MC_DB_MASTER,
                      "UPDATE videos SET playable = 0, playable_prefix = NULL, playable_seconds = NULL "
                      "WHERE id = ? AND status <> 'ready' AND playable_prefix = ?",
                      MC_DB_ARGS(mc_db_str(job->video_id), mc_db_str(prefix)), NULL, err);
}

static int insert_rendition(mc_db_conn *c, const mc_transcode_job *job, const char *prefix,
                            const mc_rendition *r, const char *kind, const char *object,
                            uint64_t size, long bitrate, mc_err *err) {
    char key[2 * MC_JOB_KEY_MAX];
    snprintf(key, sizeof key, "%s%s", prefix, object);
    return mc_db_conn_exec(
        c,
        "INSERT INTO renditions (video_id, name, kind, width, height, bitrate, codecs, "
        "object_key, size_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        MC_DB_ARGS(mc_db_str(job->video_id), mc_db_str(r->name), mc_db_str(kind),
                   mc_db_i64(r->width), mc_db_i64(r->height), mc_db_i64(bitrate),
                   mc_db_str(r->codecs), mc_db_str(key), size ? mc_db_u64(size) : mc_db_null()),
        NULL, err);
}

static int replace_renditions(mc_db_conn *c, const mc_transcode_job *job, const char *prefix,
                              const mc_transcode_result *res, mc_err *err) {
    if (mc_db_conn_exec(c, "DELETE FROM renditions WHERE video_id = ?",
                        MC_DB_ARGS(mc_db_str(job->video_id)), NULL, err) < 0)
        return -1;
    for (int i = 0; i < res->n_renditions; i++) {
        const mc_rendition *r = &res->renditions[i];
        if (insert_rendition(c, job, prefix, r, "mp4", r->file, r->file_bytes,
                             r->average_bandwidth, err) < 0 ||
            insert_rendition(c, job, prefix, r, "hls", r->playlist, 0, r->bandwidth, err) < 0)
            return -1;
    }
    return 0;
}

static int mark_ready(mc_db_conn *c, const mc_transcode_job *job, const char *prefix,
                      const mc_transcode_result *res, mc_err *err) {
    return mc_db_conn_exec(c,
                           "UPDATE videos SET status = 'ready', failure_reason = NULL, "
                           "published_prefix = ?, duration_ms = ?, playable = 1, "
                           "playable_prefix = ?, playable_seconds = ? WHERE id = ?",
                           MC_DB_ARGS(mc_db_str(prefix), mc_db_i64((int64_t)(res->duration_s * 1000)),
                                      mc_db_str(prefix), mc_db_f64(res->duration_s),
                                      mc_db_str(job->video_id)),
                           NULL, err);
}

struct publish_tx {
    const mc_transcode_job *job;
    long attempt;
    const char *prefix;
    const mc_transcode_result *res;
    bool won;
};

static int publish_body(mc_db_conn *c, void *arg, mc_err *err) {
    struct publish_tx *t = arg;
    mc_db_info info = {0};
    t->won = false;
    if (mc_db_conn_exec(c,
                        "UPDATE jobs SET status = 'done', progress = 1, error = NULL, "
                        "heartbeat_at = CURRENT_TIMESTAMP(6), attempt = ? WHERE id = ? AND "
                        "status NOT IN ('done', 'failed')",
                        MC_DB_ARGS(mc_db_i64(t->attempt), mc_db_str(t->job->job_id)), &info, err) < 0)
        return -1;
    t->won = info.affected_rows == 1;
    if (!t->won) return 0;
    if (replace_renditions(c, t->job, t->prefix, t->res, err) < 0) return -1;
    return mark_ready(c, t->job, t->prefix, t->res, err);
}

int mc_job_publish(mc_db *db, const mc_transcode_job *job, long attempt, const char *prefix,
                   const mc_transcode_result *res, bool *won, mc_err *err) {
    struct publish_tx t = {job, attempt, prefix, res, false};
    int rc = mc_db_transaction(db, MC_DB_MASTER, publish_body, &t, err);
    *won = rc == 0 && t.won;
    return rc < 0 ? mc_err_wrap(err, "publishing job %s", job->job_id) : 0;
}

struct fail_tx {
    const mc_transcode_job *job;
    long attempt;
    const char *reason;
};

static int fail_body(mc_db_conn *c, void *arg, mc_err *err) {
    struct fail_tx *t = arg;
    mc_db_info info = {0};
    if (mc_db_conn_exec(c,
                        "UPDATE jobs SET status = 'failed', error = ?, attempt = ?, "
                        "heartbeat_at = CURRENT_TIMESTAMP(6) WHERE id = ? AND status NOT IN "
                        "('done', 'failed')",
                        MC_DB_ARGS(mc_db_str(t->reason), mc_db_i64(t->attempt),
                                   mc_db_str(t->job->job_id)),
                        &info, err) < 0)
        return -1;
    /* A job another attempt finished meanwhile keeps its ready video. */
    if (info.affected_rows != 1) return 0;
    return mc_db_conn_exec(c,
                           "UPDATE videos SET status = 'failed', failure_reason = ?, playable = 0, "
                           "playable_prefix = NULL, playable_seconds = NULL WHERE id = ?",
                           MC_DB_ARGS(mc_db_str(t->reason), mc_db_str(t->job->video_id)), NULL, err);
}

int mc_job_fail(mc_db *db, const mc_transcode_job *job, long attempt, const char *reason,
                mc_err *err) {
    struct fail_tx t = {job, attempt, reason};
    int rc = mc_db_transaction(db, MC_DB_MASTER, fail_body, &t, err);
    return rc < 0 ? mc_err_wrap(err, "failing job %s", job->job_id) : 0;
}

int mc_job_requeue(mc_db *db, const mc_transcode_job *job, long attempt, const char *reason,
                   bool handed_back, mc_err *err) {
    return mc_db_exec(db, MC_DB_MASTER,
                      "UPDATE jobs SET status = 'queued', error = ?, handed_back = handed_back + ? "
                      "WHERE id = ? AND attempt = ? AND status = 'running'",
                      MC_DB_ARGS(mc_db_str(reason), mc_db_i64(handed_back ? 1 : 0),
                                 mc_db_str(job->job_id), mc_db_i64(attempt)),
                      NULL, err);
}
