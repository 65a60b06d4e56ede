/* complete.c — what happens once an upload's last byte is durable:
 * CompleteMultipartUpload, the probe, and one MySQL transaction that moves
 * the upload to `completed`, records the probe on the video (`uploaded`, or
 * `failed` with the reason) and inserts into the outbox (common/outbox.c
 * publishes them) the transcode job of a playable video and the video's
 * event for mcloud-api's webhooks (video.events_topic: completed or failed).
 *
 * Re-entrant by construction: Complete succeeds again when the object is
 * already there, probing reads only, and the transaction writes the outbox
 * row only if it is the one that changes the upload from active to
 * completed. A crash anywhere before that commit leaves the upload active
 * with offset == length, which the next PATCH/HEAD or the sweeper finishes. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http.h"
#include "common/log.h"
#include "upload/upload.h"

static char *job_payload(const mc_upload *u) {
    char job_id[MC_UPLOAD_UUID_LEN + 1];
    mc_upload_job_id(u->id, job_id);
    json_t *j = json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:i}", "v", 1, "job_id", job_id, "video_id",
                          u->video_id, "tenant", u->tenant, "source_key", u->s3_key, "preset",
                          "default", "attempt", 1);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return text;
}

static int record_video(mc_db_conn *c, const mc_upload *u, const mc_upload_probe *p,
                        mc_err *err) {
    if (!p->media)
        return mc_db_conn_exec(c,
                               "UPDATE videos SET status = 'failed', failure_reason = ?, "
                               "size_bytes = ? WHERE id = ?",
                               MC_DB_ARGS(mc_db_str(p->failure_reason), mc_db_i64(u->length),
                                          mc_db_str(u->video_id)),
                               NULL, err);
    return mc_db_conn_exec(
        c,
        "UPDATE videos SET status = 'uploaded', size_bytes = ?, duration_ms = ?, container = ?, "
        "video_codec = ?, audio_codec = ?, width = ?, height = ?, probe = ? WHERE id = ?",
        MC_DB_ARGS(mc_db_i64(u->length),
                   p->duration_ms >= 0 ? mc_db_i64(p->duration_ms) : mc_db_null(),
                   mc_db_str(p->container),
                   p->video_codec[0] ? mc_db_str(p->video_codec) : mc_db_null(),
                   p->audio_codec[0] ? mc_db_str(p->audio_codec) : mc_db_null(),
                   p->width ? mc_db_i64(p->width) : mc_db_null(),
                   p->height ? mc_db_i64(p->height) : mc_db_null(), mc_db_str(p->json),
                   mc_db_str(u->video_id)),
        NULL, err);
}

static int insert_job(mc_db_conn *c, const mc_upload_server *srv, const mc_upload *u,
                      mc_err *err) {
    char *payload = job_payload(u);
    if (!payload) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    int rc = mc_outbox_add(c, srv->jobs_topic, u->video_id, payload, err);
    free(payload);
    return rc;
}

/* The video event (api/webhook_core.c reads it): the job id names it. */
static int insert_event(mc_db_conn *c, mc_upload_server *srv, const mc_upload *u,
                        const mc_upload_probe *p, mc_err *err) {
    char job_id[MC_UPLOAD_UUID_LEN + 1];
    mc_upload_job_id(u->id, job_id);
    json_t *j = json_pack("{s:i,s:s,s:s,s:s,s:s,s:s}", "v", 1, "type",
                          p->media ? "video.upload.completed" : "video.failed", "job_id", job_id,
                          "video_id", u->video_id, "tenant", u->tenant, "upload_id", u->id);
    if (j && !p->media) json_object_set_new(j, "reason", json_string(p->failure_reason));
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    const char *topic = mc_config_get(srv->svc.config, "video.events_topic");
    int rc = mc_outbox_add(c, topic ? topic : "mcloud.video.events", u->video_id, text, err);
    free(text);
    return rc;
}

typedef struct completion_tx {
    mc_upload_server *srv;
    const mc_upload *u;
    const mc_upload_probe *p;
    bool won;                   /* false when another run completed it first */
} completion_tx;

static int completion_body(mc_db_conn *c, void *arg, mc_err *err) {
    completion_tx *t = arg;
    mc_db_info info = {0};
    int rc = mc_db_conn_exec(c,
                             "UPDATE uploads SET status = 'completed', completed_at = "
                             "CURRENT_TIMESTAMP(6) WHERE id = ? AND status = 'active'",
                             MC_DB_ARGS(mc_db_str(t->u->id)), &info, err);
    t->won = rc == 0 && info.affected_rows == 1;
    if (t->won && t->u->video_id[0]) {
        rc = record_video(c, t->u, t->p, err);
        /* The event, then the job: the publisher sends rows in id order,
         * so a video's event is out before its job (common/outbox.c makes
         * each exactly once, also across a kill before its commit). */
        if (rc == 0) rc = insert_event(c, t->srv, t->u, t->p, err);
        if (rc == 0 && t->p->media) rc = insert_job(c, t->srv, t->u, err);
    }
    return rc;
}

/* The transaction, run again after a deadlock or lock wait timeout (the
 * outbox publisher and the API touch the same rows); *won is false when
 * another run completed it first. */
static int commit_completion(mc_upload_server *srv, const mc_upload *u,
                             const mc_upload_probe *p, bool *won, mc_err *err) {
    completion_tx t = {.srv = srv, .u = u, .p = p};
    int rc = mc_db_transaction(srv->svc.db, MC_DB_MASTER, completion_body, &t, err);
    *won = rc == 0 && t.won;
    return rc;
}

static void ms_since(double *since, char out[24]) {
    double now = mc_monotonic_seconds();
    snprintf(out, 24, "%.1f", (now - *since) * 1000);
    *since = now;
}

int mc_upload_complete(mc_upload_server *srv, mc_s3 *s3, mc_upload *u, mc_err *err) {
    char s3_ms[24], probe_ms[24] = "0", commit_ms[24]; /* where a completion's time goes */
    double t = mc_monotonic_seconds();
    if (mc_upload_store_complete(srv, s3, u, err) < 0) return -1;
    ms_since(&t, s3_ms);
    mc_upload_probe p = {.media = true};
    if (u->video_id[0] &&
        mc_upload_probe_object(srv, u->s3_key, (uint64_t)u->length, &p, err) < 0)
        return -1;
    if (u->video_id[0]) ms_since(&t, probe_ms);
    bool won = false;
    int rc = commit_completion(srv, u, &p, &won, err);
    mc_upload_state_forget(srv, u->id);
    ms_since(&t, commit_ms);
    if (rc == 0) {
        u->status = MC_UPLOAD_COMPLETED;
        if (won && u->video_id[0]) mc_outbox_publisher_nudge(srv->outbox);
        if (won)
            mc_log_kv(MC_LOG_INFO, "upload completed", "upload", u->id, "video", u->video_id,
                      "media", p.media ? "yes" : p.failure_reason, "s3_complete_ms", s3_ms,
                      "probe_ms", probe_ms, "commit_ms", commit_ms, NULL);
    }
    mc_upload_probe_free(&p);
    return rc < 0 ? mc_err_wrap(err, "completing upload %s", u->id) : 0;
}
