/* request.h — the operator's side of a switchover: `mcloud db switchover`
 * writes the request to Redis
 * (mcloud:dbmon:switchover = target, or "auto") and wait for the active
 * mcloud-dbmon's answer (mcloud:dbmon:switchover:result). */
#ifndef MCLOUD_DBMON_REQUEST_H
#define MCLOUD_DBMON_REQUEST_H

#include <stddef.h>

#include "common/error.h"
#include "common/redis.h"

#define DBMON_SWITCHOVER_KEY "mcloud:dbmon:switchover"
#define DBMON_SWITCHOVER_RESULT_KEY "mcloud:dbmon:switchover:result"

/* Requests a switchover to target ("host:port" or "auto") and waits up to
 * timeout_s for the answer, copied to result ("ok <new master>" or
 * "failed: <why>"). Returns 0 when the switchover was done. */
int dbmon_request_switchover(const mc_redis_options *redis, const char *target, int timeout_s,
                             char *result, size_t len, mc_err *err);

#endif
