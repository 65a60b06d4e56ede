/* job_run.h — one delivery of a job message, from parse to publish. */
#ifndef MCLOUD_TRANSCODE_JOB_RUN_H
#define MCLOUD_TRANSCODE_JOB_RUN_H

#include "common/kafka.h"

/* The consumer's handler (ctx: the mc_transcode_worker): 0 when the message
 * is finished with (published, given up, or a duplicate), -1 to have it
 * redelivered (transient failure, or cancelled by shutdown). */
int mc_transcode_handle_message(const mc_kafka_message *m, void *ctx);

#endif
