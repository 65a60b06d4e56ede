/* usage.h — playback counted per tenant for GET /v1/usage: each answered
 * request for a video's output or page adds one request and the bytes of
 * its body to the tenant's counters here, in memory; a thread moves them to
 * Redis once a second (mcloud:stream:usage:<tenant>:<YYYYMMDD>, a hash with
 * "requests" and "bytes", kept 400 days), so the hot path never waits for
 * Redis. What a crash loses is at most the last second's counts. */
#ifndef MCLOUD_STREAM_USAGE_H
#define MCLOUD_STREAM_USAGE_H

#include <stdint.h>

#include "common/error.h"
#include "common/redis.h"

typedef struct mc_stream_usage mc_stream_usage;

mc_stream_usage *mc_stream_usage_start(mc_redis *redis, mc_err *err);
/* One answered request of the tenant with a body of `bytes`. NULL-safe. */
void mc_stream_usage_add(mc_stream_usage *u, const char *tenant, uint64_t bytes);
/* Flushes what is counted, stops the thread, frees. NULL-safe. */
void mc_stream_usage_stop(mc_stream_usage *u);

#endif
