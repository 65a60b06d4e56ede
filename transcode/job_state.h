/* job_state.h — a transcode job's rows in MySQL, as the worker moves them.
 *
 *   claim:     jobs row created or attempt+1, status running, worker and
 *              heartbeat set; video uploaded -> transcoding. A job already
 *              done or failed is not claimed again (redelivery is a no-op).
 *   heartbeat: heartbeat_at and progress of the running attempt.
 *   playable:  the attempt's growing HLS is out (live.h): video playable
 *              from its prefix, with the seconds published; only while the
 *              video transcodes and this attempt runs. unplayable undoes it
 *              when that attempt's objects are deleted.
 *   publish:   ONE transaction: job running -> done (the guard: a second
 *              completion of the same job changes nothing and reports lost),
 *              renditions replaced, video ready with its published prefix.
 *   fail:      job failed with the reason, video failed with it.
 *   requeue:   job back to queued with the transient error, for the retry;
 *              a run handed back at shutdown is counted in handed_back, and
 *              attempts minus handed_back is what max_attempts bounds.
 * Every function takes a master connection of its own. */
#ifndef MCLOUD_TRANSCODE_JOB_STATE_H
#define MCLOUD_TRANSCODE_JOB_STATE_H

#include <stdbool.h>

#include "common/mysql.h"
#include "transcode/engine.h"
#include "transcode/job.h"

typedef enum mc_job_claim {
    MC_JOB_CLAIMED = 0,     /* run it: *attempt is this run's number */
    MC_JOB_WAS_DONE,        /* finished before: published_prefix says where */
    MC_JOB_WAS_FAILED,      /* given up before: reason says why */
    MC_JOB_NO_VIDEO         /* the video row does not exist */
} mc_job_claim;

typedef struct mc_job_claim_result {
    mc_job_claim outcome;
    long attempt;
    long handed_back;       /* earlier runs given back at shutdown */
    char published_prefix[MC_JOB_KEY_MAX + 1];
    char reason[512];
} mc_job_claim_result;

int mc_job_claim_run(mc_db *db, const mc_transcode_job *job, const char *worker,
                     mc_job_claim_result *out, mc_err *err);
int mc_job_heartbeat(mc_db *db, const mc_transcode_job *job, long attempt, double progress,
                     mc_err *err);
int mc_job_playable(mc_db *db, const mc_transcode_job *job, long attempt, const char *prefix,
                    double seconds, mc_err *err);
int mc_job_unplayable(mc_db *db, const mc_transcode_job *job, const char *prefix, mc_err *err);
/* *won is false when the job was already done or failed (nothing changed). */
int mc_job_publish(mc_db *db, const mc_transcode_job *job, long attempt, const char *prefix,
                   const mc_transcode_result *res, bool *won, mc_err *err);
int mc_job_fail(mc_db *db, const mc_transcode_job *job, long attempt, const char *reason,
                mc_err *err);
int mc_job_requeue(mc_db *db, const mc_transcode_job *job, long attempt, const char *reason,
                   bool handed_back, mc_err *err);

#endif
