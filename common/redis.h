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

/* A pipeline: commands queued with mc_redis_batch_add, sent together and
 * their replies read in one round trip by mc_redis_batch_run. */
typedef struct mc_redis_batch {
    char **cmds;             /* formatted commands */
    size_t *lens;
    size_t n, cap;
    redisReply **replies;    /* after a run: replies[0..got) */
    size_t got;
    int failed;              /* an add failed: the run fails */
} mc_redis_batch;

/* Queues a command (hiredis format, as mc_redis_command). -1 (out of
 * memory, a bad format) also makes the run fail. */
int mc_redis_batch_add(mc_redis_batch *b, const char *fmt, ...);
/* Sends every queued command at once and reads the replies. Returns 0 when
 * every reply came, or -1 with err filled when the connection failed: then
 * b->got replies came, and the commands after them may or may not have run.
 * may_resend: when no reply at all came, reconnect and send the whole batch
 * once more (idempotent commands only, as mc_redis_command). */
int mc_redis_batch_run(mc_redis *r, mc_redis_batch *b, int may_resend, mc_err *err);
/* Reply i of the last run, or NULL with err filled: it did not come, or it
 * is an error reply (MC_ERR_REMOTE, code = its first word). Owned by b. */
const redisReply *mc_redis_batch_reply(const mc_redis *r, const mc_redis_batch *b, size_t i, mc_err *err);
/* Frees the commands and replies; b can be reused after. */
void mc_redis_batch_free(mc_redis_batch *b);

/* Called with one SCAN page of keys (a non-empty array reply of strings,
 * valid during the call); < 0 (err filled) stops the scan. */
typedef int (*mc_redis_scan_page)(void *ctx, const redisReply *keys, mc_err *err);
/* Every key matching pattern, a page at a time: SCAN from cursor 0 until it
 * comes back to 0. SCAN may give a key twice (in two pages) and misses none
 * that existed throughout; a key may have expired by the time page reads it.
 * Returns 0, or -1 with err filled (a failed command, a page's error). */
int mc_redis_scan(mc_redis *r, const char *pattern, mc_redis_scan_page page, void *ctx, mc_err *err);
/* MGET of a page of keys (as mc_redis_scan gives them): an array reply of
 * as many values, nil for a key that is gone. */
redisReply *mc_redis_mget(mc_redis *r, const redisReply *keys, mc_err *err);

/* Through Sentinel, how many +switch-master announcements of its master the
 * handle has seen (a thread subscribed to a Sentinel); the next command
 * after one reconnects to the new master at once. 0 for a plain address. */
unsigned mc_redis_switches_seen(mc_redis *r);

/* A new raw hiredis connection set up like a handle's (auth, db, name,
 * timeouts), for callers that need a connection of their own (subscribers).
 * Free it with redisFree(). */
redisContext *mc_redis_open(const mc_redis_options *opts, mc_err *err);

#endif
