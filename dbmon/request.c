/* request.c — a switchover request and its answer through Redis (see request.h). */
#include "dbmon/request.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

static int simple(mc_redis *r, mc_err *err, const char *fmt, const char *a, const char *b) {
    redisReply *rep = b ? mc_redis_command(r, err, fmt, a, b) : mc_redis_command(r, err, fmt, a);
    if (!rep) return -1;
    freeReplyObject(rep);
    return 0;
}

int dbmon_request_switchover(const mc_redis_options *redis, const char *target, int timeout_s,
                             char *result, size_t len, mc_err *err) {
    mc_redis *r = mc_redis_connect(redis, err);
    if (!r) return -1;
    int rc = -1;
    if (simple(r, err, "DEL %s", DBMON_SWITCHOVER_RESULT_KEY, NULL) < 0 ||
        simple(r, err, "SET %s %s EX 60", DBMON_SWITCHOVER_KEY, target) < 0)
        goto out;
    for (int i = 0; i < timeout_s * 10; i++) {
        redisReply *rep = mc_redis_command(r, err, "GET %s", DBMON_SWITCHOVER_RESULT_KEY);
        if (rep && rep->type == REDIS_REPLY_STRING) {
            snprintf(result, len, "%s", rep->str);
            freeReplyObject(rep);
            rc = strncmp(result, "ok", 2) == 0 ? 0 : mc_err_set(err, MC_ERR_CONFLICT, "%s", result);
            goto out;
        }
        if (rep) freeReplyObject(rep);
        usleep(100000);
    }
    mc_err_set(err, MC_ERR_UNAVAILABLE, "no mcloud-dbmon answered within %d s (is one running?)", timeout_s);
    simple(r, err, "DEL %s", DBMON_SWITCHOVER_KEY, NULL);
out:
    mc_redis_close(r);
    return rc;
}
