/* job.h — the transcode job message and the worker's Kafka messages.
 *
 * A job arrives on mcloud.transcode.jobs as the upload service writes it
 * (upload/complete.c, through its outbox), keyed by video id:
 *
 *   {"v":1,"job_id":"…","video_id":"…","tenant":"local",
 *    "source_key":"sources/local/<video>/source","preset":"default","attempt":1}
 *
 * mc_transcode_job_parse is the one gate for that network input: anything
 * but a version-1 object with well-formed identifiers, a source key and a
 * known preset is refused with MC_ERR_INVALID and a message naming the
 * field. Unknown fields are ignored (a newer publisher may add some).
 *
 * The builders below write the worker's own messages (events and dead
 * letters, all "v":1); each returns a malloc'd JSON text or NULL. */
#ifndef MCLOUD_TRANSCODE_JOB_H
#define MCLOUD_TRANSCODE_JOB_H

#include <stddef.h>

#include "common/error.h"
#include "common/s3.h" /* MC_S3_KEY_MAX */

#define MC_JOB_ID_MAX 64
#define MC_JOB_VIDEO_ID_MAX 36
#define MC_JOB_TENANT_MAX 64
#define MC_JOB_KEY_MAX MC_S3_KEY_MAX
#define MC_JOB_PRESET_MAX 32

typedef struct mc_transcode_job {
    char job_id[MC_JOB_ID_MAX + 1];
    char video_id[MC_JOB_VIDEO_ID_MAX + 1];
    char tenant[MC_JOB_TENANT_MAX + 1];
    char source_key[MC_JOB_KEY_MAX + 1];
    char preset[MC_JOB_PRESET_MAX + 1];
} mc_transcode_job;

int mc_transcode_job_parse(const void *data, size_t len, mc_transcode_job *job, mc_err *err);

/* The attempt's object prefix, "videos/<tenant>/<video>/attempts/<job>-<n>/",
 * and the prefix every attempt of the video lives under. */
int mc_transcode_attempt_prefix(const mc_transcode_job *job, long attempt, char *buf, size_t len);
int mc_transcode_attempts_root(const mc_transcode_job *job, char *buf, size_t len);

typedef struct mc_transcode_event {
    const char *type;             /* "started", "progress", "done", "failed" */
    const mc_transcode_job *job;
    long attempt;
    const char *worker;
    /* progress */
    double percent, fps, position_s, duration_s;
    int rungs;
    /* done */
    const char *prefix, *master;
    /* failed */
    const char *reason;
    const char *kind;             /* "invalid" (the source) or "transient" */
    int final;                    /* 0: the job will be retried */
} mc_transcode_event;

char *mc_transcode_event_json(const mc_transcode_event *e);

/* A dead letter: the job as received (an object when it parsed as JSON,
 * else the text), why it was given up, and after how many attempts. */
char *mc_transcode_dlq_json(const void *job, size_t len, const char *reason, const char *kind,
                            long attempts, const char *worker);

#endif
