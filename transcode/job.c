/* job.c — parsing of transcode job messages and the JSON of the worker's
 * events and dead letters (see job.h for the formats). */
#include "transcode/job.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/token.h"
#include "transcode/ladder.h"

/* Copies a required string field made of id characters, 1..max long. */
static int copy_id(json_t *obj, const char *field, char *out, size_t max, mc_err *err) {
    const char *v;
    if (mc_json_get_string(obj, field, true, NULL, &v, err) < 0) return -1;
    size_t n = strlen(v);
    if (n == 0 || n > max)
        return mc_err_set(err, MC_ERR_INVALID, "field \"%s\" must be 1 to %zu characters", field, max);
    if (!mc_token_name_valid(v)) /* the names tokens and playback URLs carry */
        return mc_err_set(err, MC_ERR_INVALID,
                          "field \"%s\" may hold only letters, digits, '-' and '_'", field);
    memcpy(out, v, n + 1);
    return 0;
}

static int copy_key(json_t *obj, mc_transcode_job *job, mc_err *err) {
    const char *v;
    if (mc_json_get_string(obj, "source_key", true, NULL, &v, err) < 0) return -1;
    size_t n = strlen(v);
    if (n == 0 || n > MC_JOB_KEY_MAX)
        return mc_err_set(err, MC_ERR_INVALID, "field \"source_key\" must be 1 to %d bytes",
                          MC_JOB_KEY_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            return mc_err_set(err, MC_ERR_INVALID, "field \"source_key\" holds a control character");
    memcpy(job->source_key, v, n + 1);
    return 0;
}

static int copy_preset(json_t *obj, mc_transcode_job *job, mc_err *err) {
    const char *v;
    if (mc_json_get_string(obj, "preset", false, "default", &v, err) < 0) return -1;
    if (strlen(v) > MC_JOB_PRESET_MAX || !mc_preset_find(v))
        return mc_err_set(err, MC_ERR_INVALID, "unknown preset \"%.*s\"", MC_JOB_PRESET_MAX, v);
    snprintf(job->preset, sizeof job->preset, "%s", v);
    return 0;
}

int mc_transcode_job_parse(const void *data, size_t len, mc_transcode_job *job, mc_err *err) {
    memset(job, 0, sizeof *job);
    json_t *obj = mc_json_parse_object(data, len, err);
    if (!obj) return -1;
    long long v, attempt;
    int rc = mc_json_get_int(obj, "v", true, 0, 0, 1000000, &v, err);
    if (rc == 0 && v != 1)
        rc = mc_err_set(err, MC_ERR_INVALID, "unsupported job message version %lld (this worker reads 1)", v);
    if (rc == 0) rc = copy_id(obj, "job_id", job->job_id, MC_JOB_ID_MAX, err);
    if (rc == 0) rc = copy_id(obj, "video_id", job->video_id, MC_JOB_VIDEO_ID_MAX, err);
    if (rc == 0) rc = copy_id(obj, "tenant", job->tenant, MC_JOB_TENANT_MAX, err);
    if (rc == 0) rc = copy_key(obj, job, err);
    if (rc == 0) rc = copy_preset(obj, job, err);
    if (rc == 0) rc = mc_json_get_int(obj, "attempt", false, 1, 1, 1000000, &attempt, err);
    json_decref(obj);
    return rc;
}

int mc_transcode_attempts_root(const mc_transcode_job *job, char *buf, size_t len) {
    int n = snprintf(buf, len, "videos/%s/%s/attempts/", job->tenant, job->video_id);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int mc_transcode_attempt_prefix(const mc_transcode_job *job, long attempt, char *buf, size_t len) {
    int n = snprintf(buf, len, "videos/%s/%s/attempts/%s-%ld/", job->tenant, job->video_id,
                     job->job_id, attempt);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static void set_time(json_t *j) {
    json_object_set_new(j, "ts_ms", json_integer((json_int_t)mc_realtime_ms()));
}

static char *dump(json_t *j) {
    char *text = j ? mc_json_dump(j) : NULL;
    json_decref(j);
    return text;
}

static void add_details(json_t *j, const mc_transcode_event *e) {
    if (!strcmp(e->type, "progress")) {
        json_object_set_new(j, "percent", json_real(e->percent));
        json_object_set_new(j, "fps", json_real(e->fps));
        json_object_set_new(j, "rungs", json_integer(e->rungs));
        json_object_set_new(j, "position_s", json_real(e->position_s));
        json_object_set_new(j, "duration_s", json_real(e->duration_s));
    } else if (!strcmp(e->type, "done")) {
        json_object_set_new(j, "prefix", json_string(e->prefix ? e->prefix : ""));
        json_object_set_new(j, "master", json_string(e->master ? e->master : ""));
        json_object_set_new(j, "duration_s", json_real(e->duration_s));
    } else if (!strcmp(e->type, "failed")) {
        const char *reason = e->reason ? e->reason : "";
        json_object_set_new(j, "reason", mc_json_string_lossy(reason, strlen(reason)));
        json_object_set_new(j, "kind", json_string(e->kind ? e->kind : "transient"));
        json_object_set_new(j, "final", json_boolean(e->final));
    }
}

char *mc_transcode_event_json(const mc_transcode_event *e) {
    json_t *j = json_pack("{s:i,s:s,s:s,s:s,s:s,s:I,s:s}", "v", 1, "type", e->type, "job_id",
                          e->job->job_id, "video_id", e->job->video_id, "tenant", e->job->tenant,
                          "attempt", (json_int_t)e->attempt, "worker", e->worker ? e->worker : "");
    if (!j) return NULL;
    add_details(j, e);
    set_time(j);
    return dump(j);
}

char *mc_transcode_dlq_json(const void *job, size_t len, const char *reason, const char *kind,
                            long attempts, const char *worker) {
    json_t *original = json_loadb(job, len, JSON_REJECT_DUPLICATES, NULL);
    if (!original) original = mc_json_string_lossy(job, len);
    /* The reason may quote the message's own bytes (a parse error). */
    json_t *j = json_pack("{s:i,s:o,s:o,s:s,s:I,s:s}", "v", 1, "job", original, "reason",
                          mc_json_string_lossy(reason, strlen(reason)), "kind", kind, "attempts",
                          (json_int_t)attempts, "worker", worker ? worker : "");
    if (!j) return NULL;
    set_time(j);
    return dump(j);
}
