/* lock.h — Redis locks with fencing tokens.
 *
 * A lock is the key mcloud:lock:<name> holding "<token>:<owner>" with a TTL.
 * Acquiring increments mcloud:lock:<name>:fence in the same Lua script that
 * sets the lock, so every holder gets a token strictly greater than every
 * earlier holder's. A holder that may have lost the lock (a pause longer
 * than the TTL) passes its token to whatever it writes, and the writer
 * rejects tokens older than one it has seen; mc_lock_validate() is the Redis
 * side of that check. Release and extend act only if the lock still holds
 * this holder's value (compare-and-delete / compare-and-pexpire), never on a
 * lock someone else took after ours expired.
 *
 * The fence counter never expires, and a token is at least the Redis
 * server's clock in microseconds: tokens stay monotonic across a restart
 * and across a Sentinel failover to a replica that missed the last
 * increments, as long as the servers' clocks differ by less than a failover
 * takes (seconds; one machine, or NTP). */
#ifndef MCLOUD_LOCK_H
#define MCLOUD_LOCK_H

#include <stdint.h>

#include "common/error.h"
#include "common/redis.h"
#include "common/redis_keys.h"

typedef struct mc_lock {
    char name[MC_REDIS_NAME_MAX + 1];
    char owner[33];     /* random id of this holder (hex) */
    int64_t token;      /* fencing token, >= 1 */
} mc_lock;

/* Takes the lock for ttl_ms. Fails with MC_ERR_CONFLICT while another
 * holder has it. Never resent after a lost connection (it increments). */
int mc_lock_acquire(mc_redis *r, const char *name, int ttl_ms, mc_lock *out, mc_err *err);
/* Releases the lock if we still hold it; MC_ERR_CONFLICT if we do not. */
int mc_lock_release(mc_redis *r, const mc_lock *lock, mc_err *err);
/* Resets the TTL to ttl_ms if we still hold it; MC_ERR_CONFLICT if not. */
int mc_lock_extend(mc_redis *r, const mc_lock *lock, int ttl_ms, mc_err *err);
/* 0 if `token` is the token of the current holder of lock `name`;
 * MC_ERR_CONFLICT if the lock expired or has a newer holder. */
int mc_lock_validate(mc_redis *r, const char *name, int64_t token, mc_err *err);

#endif
