/* redis.h — one Redis connection that heals itself.
 *
 * mc_redis wraps a hiredis connection with what every daemon needs: AUTH,
 * SELECT, a client name, connect and command timeouts, and reconnection with
 * capped exponential backoff. A handle may be shared by threads (commands are
 * serialized by a mutex).
 *
 * Retry policy. Before sending, a connection the server has already closed
 * (restart, CLIENT KILL, idle timeout) is detected and replaced, so no
 * command is ever sent on a dead socket. If the connection fails while a
 * command is in flight, the server may or may not have run it:
 * mc_redis_command() then reconnects and sends it once more (use it for
 * idempotent commands: GET, SET, DEL, PEXPIRE, SCAN, compare-and-set
 * scripts), mc_redis_command_once() does not (INCR, PUBLISH, scripts that
 * INCR). While reconnect attempts fail, further attempts wait for the backoff
 * delay; commands in that window fail at once with MC_ERR_UNAVAILABLE rather
 * than blocking the caller. */
#ifndef MCLOUD_REDIS_H
#define MCLOUD_REDIS_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "common/error.h"

/* An address "sentinel://NAME@HOST:PORT,HOST:PORT,..." finds master NAME
 * through Redis Sentinel at every (re)connect (SENTINEL
 * get-master-addr-by-name, then ROLE to confirm), so a handle follows a
 * Sentinel failover with no restart: a connection to a dead master breaks,
 * a demoted one answers READONLY, and either way the next command
 * reconnects to the master Sentinel names then. A handle also listens to
 * Sentinel's +switch-master (one thread per handle, on one Sentinel after
 * the other): the first command after a switch goes to the new master,
 * even on a connection to the old one that still works (a master cut off
 * from the Sentinels but not from us) and without waiting for a backoff. */
#define MC_REDIS_SENTINEL_SCHEME "sentinel://"

typedef struct mc_redis_options {
    const char *addr;            /* "host:port", "[v6addr]:port" or "sentinel://NAME@HOST:PORT,..." */
    const char *password;        /* NULL or "": no AUTH */
    int db;                      /* SELECTed after every connect */
    const char *client_name;     /* NULL: none; shown by CLIENT LIST */
    int connect_timeout_ms;      /* 0: 2000 */
    int command_timeout_ms;      /* 0: 5000 */
    unsigned backoff_initial_ms; /* 0: 100 */
    unsigned backoff_max_ms;     /* 0: 5000, or 1000 through Sentinel */
} mc_redis_options;

typedef struct mc_redis mc_redis;

/* Connects now; fails with MC_ERR_UNAVAILABLE if Redis cannot be reached,
 * MC_ERR_AUTH if the password is refused. */
mc_redis *mc_redis_connect(const mc_redis_options *opts, mc_err *err);
void mc_redis_close(mc_redis *r);

/* Runs a command (hiredis format: %s, %b with length, %d ...). Returns the
 * reply, to be freed with freeReplyObject(), or NULL with err filled:
 * MC_ERR_UNAVAILABLE for connection trouble, MC_ERR_REMOTE (code = the
 * first word, e.g. "WRONGTYPE") for an error reply. Retries once after a
 * reconnect: idempotent commands only. */
redisReply *mc_redis_command(mc_redis *r, mc_err *err, const char *fmt, ...);
/* Same, but never sends the command a second time. */
redisReply *mc_redis_command_once(mc_redis *r, mc_err *err, const char *fmt, ...);
/* mc_redis_command with the arguments as an array (argvlen NULL: strlen),
 * for commands with a variable number of arguments (MGET, DEL k1 k2 ...). */
redisReply *mc_redis_command_argv(mc_redis *r, int argc, const char **argv, const size_t *argvlen,
                                  mc_err *err);

/* Through Sentinel, how many +switch-master announcements of its master the
 * handle has seen (a thread subscribed to a Sentinel); the next command
 * after one reconnects to the new master at once. 0 for a plain address. */
unsigned mc_redis_switches_seen(mc_redis *r);

/* A new raw hiredis connection set up like a handle's (auth, db, name,
 * timeouts), for callers that need a connection of their own (subscribers).
 * Free it with redisFree(). */
redisContext *mc_redis_open(const mc_redis_options *opts, mc_err *err);

#endif
