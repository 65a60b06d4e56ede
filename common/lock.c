/* lock.c — Redis locks with fencing tokens (see lock.h for the protocol).
 * Each operation is one Lua script or one read, so no step can interleave
 * with another client's. */
#include "common/lock.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

/* KEYS: lock, fence. ARGV: owner, ttl ms. Returns the token, or 0 if held.
 * The token is max(fence + 1, the server's clock in microseconds): it grows
 * by one between holders, and a replica promoted after missing the last
 * increments (asynchronous replication, Sentinel failover) still hands out
 * tokens above every one the old master issued — its clock has moved on by
 * the failover's duration (seconds), far more than a burst of increments can
 * run ahead of the clock. Lua numbers are doubles: exact up to 2^53, and
 * microseconds since 1970 stay below that for centuries. */
static const char acquire_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local token = math.max((tonumber(redis.call('GET', KEYS[2])) or 0) + 1, now)\n"
    "redis.call('SET', KEYS[2], string.format('%.0f', token))\n"
    "redis.call('SET', KEYS[1], string.format('%.0f', token) .. ':' .. ARGV[1], 'NX', 'PX', ARGV[2])\n"
    "return token\n";

/* KEYS: lock. ARGV: our value. Returns 1 if deleted, 0 if not ours. */
static const char release_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

/* KEYS: lock. ARGV: our value, ttl ms. Returns 1 if extended, 0 if not ours. */
static const char extend_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
    "return 0\n";

static int new_owner_id(char *out, size_t len, mc_err *err) {
    unsigned char raw[16];
    if (len < 2 * sizeof raw + 1 || RAND_bytes(raw, sizeof raw) != 1)
        return mc_err_set(err, MC_ERR_INTERNAL, "lock: no random owner id");
    for (size_t i = 0; i < sizeof raw; i++) snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

/* Takes a script's integer answer out of its reply (NULL: the call failed). */
static int eval_integer(redisReply *reply, long long *out, mc_err *err) {
    if (!reply) return -1;
    int rc = 0;
    if (reply->type == REDIS_REPLY_INTEGER)
        *out = reply->integer;
    else
        rc = mc_err_set(err, MC_ERR_INTERNAL, "lock: unexpected reply type %d", reply->type);
    freeReplyObject(reply);
    return rc;
}

int mc_lock_acquire(mc_redis *r, const char *name, int ttl_ms, mc_lock *out, mc_err *err) {
    char key[256], fence[256];
    if (mc_key_lock(key, sizeof key, name) < 0 || mc_key_lock_fence(fence, sizeof fence, name) < 0)
        return mc_err_set(err, MC_ERR_INVALID, "lock: invalid name \"%s\"", name ? name : "");
    if (ttl_ms <= 0) return mc_err_set(err, MC_ERR_INVALID, "lock %s: ttl must be positive", name);
    mc_lock l = {0};
    snprintf(l.name, sizeof l.name, "%s", name);
    if (new_owner_id(l.owner, sizeof l.owner, err) < 0) return -1;
    long long token = 0;
    if (eval_integer(mc_redis_command_once(r, err, "EVAL %s 2 %s %s %s %d", acquire_script, key, fence,
                                           l.owner, ttl_ms),
                     &token, err) < 0)
        return mc_err_wrap(err, "lock %s: acquire", name);
    if (token == 0) return mc_err_set(err, MC_ERR_CONFLICT, "lock %s: held by another owner", name);
    l.token = token;
    *out = l;
    return 0;
}

/* Runs a compare-and-X script on the lock's key with our value (ttl_ms is
 * passed along for extend; release ignores it). */
static int if_still_owner(mc_redis *r, const mc_lock *lock, const char *script, int ttl_ms,
                          const char *what, mc_err *err) {
    char key[256], value[64];
    if (mc_key_lock(key, sizeof key, lock->name) < 0 ||
        mc_lock_value_format(value, sizeof value, lock->token, lock->owner) < 0)
        return mc_err_set(err, MC_ERR_INVALID, "lock %s: not a lock we acquired", lock->name);
    long long done = 0;
    if (eval_integer(mc_redis_command(r, err, "EVAL %s 1 %s %s %d", script, key, value, ttl_ms), &done,
                     err) < 0)
        return mc_err_wrap(err, "lock %s: %s", lock->name, what);
    if (!done)
        return mc_err_set(err, MC_ERR_CONFLICT, "lock %s: %s: no longer held by us (token %lld)",
                          lock->name, what, (long long)lock->token);
    return 0;
}

int mc_lock_release(mc_redis *r, const mc_lock *lock, mc_err *err) {
    return if_still_owner(r, lock, release_script, 0, "release", err);
}

int mc_lock_extend(mc_redis *r, const mc_lock *lock, int ttl_ms, mc_err *err) {
    if (ttl_ms <= 0) return mc_err_set(err, MC_ERR_INVALID, "lock %s: ttl must be positive", lock->name);
    return if_still_owner(r, lock, extend_script, ttl_ms, "extend", err);
}

int mc_lock_validate(mc_redis *r, const char *name, int64_t token, mc_err *err) {
    char key[256];
    if (mc_key_lock(key, sizeof key, name) < 0)
        return mc_err_set(err, MC_ERR_INVALID, "lock: invalid name \"%s\"", name ? name : "");
    redisReply *reply = mc_redis_command(r, err, "GET %s", key);
    if (!reply) return mc_err_wrap(err, "lock %s: validate", name);
    int64_t current = 0;
    int held = reply->type == REDIS_REPLY_STRING && mc_lock_value_token(reply->str, &current) == 0;
    freeReplyObject(reply);
    if (!held) return mc_err_set(err, MC_ERR_CONFLICT, "lock %s: token %lld is stale (lock free)",
                                 name, (long long)token);
    if (current != token)
        return mc_err_set(err, MC_ERR_CONFLICT, "lock %s: token %lld is stale (current %lld)", name,
                          (long long)token, (long long)current);
    return 0;
}
