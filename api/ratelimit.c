/* ratelimit.c — a token bucket per API key in Redis (one Lua script, so
 * every mcloud-api instance shares the bucket): api.rate_limit_burst
 * tokens, refilled at api.rate_limit_per_s. A request without a token is
 * 429 with Retry-After; every keyed answer carries RateLimit-Limit,
 * -Remaining and -Reset. The same script counts the call in the tenant's
 * usage of the day (usage.c) when it lets it through: one round trip.
 * Redis down: requests pass (logged, not counted), the limit is a guard,
 * not a reason to stop serving. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "common/log.h"
#include "common/redis_keys.h"

static const char bucket_script[] =
    "local rate = tonumber(ARGV[1]) local burst = tonumber(ARGV[2])\n"
    "local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1e6\n"
    "local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')\n"
    "local tokens = tonumber(b[1]) or burst local ts = tonumber(b[2]) or now\n"
    "tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)\n"
    "local allowed = 0\n"
    "if tokens >= 1 then tokens = tokens - 1 allowed = 1 end\n"
    "redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))\n"
    "redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)\n"
    "if allowed == 1 and KEYS[2] then redis.call('HINCRBY', KEYS[2], ARGV[3], 1)"
    " redis.call('EXPIRE', KEYS[2], ARGV[4]) end\n"
    "return {allowed, math.floor(tokens), math.ceil((1 - tokens) / rate * 1000),"
    " math.ceil((burst - tokens) / rate)}\n";

int mc_api_rate_take(mc_api_ctx *c, mc_api_rate *rate, mc_api_resp *r) {
    char key[128];
    if (mc_key_api_rate(key, sizeof key, c->caller.key_id) < 0) return 0; /* ids are [a-z0-9_] */
    char per_s[32], burst[32];
    snprintf(per_s, sizeof per_s, "%ld", c->srv->set.rate_per_s);
    snprintf(burst, sizeof burst, "%ld", c->srv->set.rate_burst);
    mc_err err = {0};
    char usage[160];
    redisReply *rep = mc_api_usage_key(c, usage, sizeof usage) == 0
        ? mc_redis_command_once(c->srv->svc.redis, &err, "EVAL %s 2 %s %s %s %s %s %ld",
                                bucket_script, key, usage, per_s, burst, c->caller.key_id,
                                MC_USAGE_TTL_S)
        : mc_redis_command_once(c->srv->svc.redis, &err, "EVAL %s 1 %s %s %s", bucket_script,
                                key, per_s, burst);
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 4) {
        mc_log_kv(MC_LOG_WARN, "rate limit not checked", "request_id", c->request_id, "error",
                  rep ? "unexpected reply" : err.msg, NULL);
        if (rep) freeReplyObject(rep);
        return 0;
    }
    long allowed = (long)rep->element[0]->integer;
    rate->known = true;
    rate->limit = c->srv->set.rate_burst;
    rate->remaining = (long)rep->element[1]->integer;
    long retry_ms = (long)rep->element[2]->integer;
    rate->reset_s = (long)rep->element[3]->integer;
    rate->retry_after_s = retry_ms <= 0 ? 1 : (retry_ms + 999) / 1000;
    freeReplyObject(rep);
    if (allowed) return 0;
    return mc_api_fail(r, 429, "rate_limited", "this API key sent more than %ld requests at "
                       "once (%ld per second sustained); retry after %ld s",
                       c->srv->set.rate_burst, c->srv->set.rate_per_s, rate->retry_after_s);
}
