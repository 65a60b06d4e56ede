/* redis.c — a self-healing hiredis connection (see redis.h for the retry
 * policy). Owns connecting (AUTH, SELECT, CLIENT SETNAME, timeouts), noticing
 * that the server closed the connection, reconnecting with backoff, and
 * turning replies into mc_err values. */
#include "common/redis.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "common/log.h"

struct mc_redis {
    pthread_mutex_t lock;      /* one command at a time on ctx */
    redisContext *ctx;         /* NULL while disconnected */
    mc_redis_options opts;     /* strings below are owned copies */
    char *addr, *password, *client_name;
    mc_backoff backoff;
    int64_t next_attempt_ms;   /* no reconnect attempt before this (monotonic) */
    /* through Sentinel: a thread subscribed to +switch-master counts the
     * switches of our master; a command seeing a new count reconnects at
     * once (no failed command first, no backoff wait) */
    pthread_t watcher;
    int watching;              /* the thread runs */
    int wake[2];               /* pipe: mc_redis_close wakes the thread */
    atomic_uint switches;      /* +switch-master announcements seen */
    pthread_mutex_t announced_lock;
    char announced_host[256];  /* the new master the last announcement named */
    int announced_port;
    unsigned seen_switches;    /* count when the connection was last (re)made */
};

static struct timeval ms_to_timeval(int ms) {
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

/* An error reply: the first word is Redis' error code ("WRONGTYPE", "NOAUTH"). */
static int reply_error(mc_err *err, const redisReply *reply) {
    const char *s = reply->str ? reply->str : "";
    mc_err_kind kind = MC_ERR_REMOTE;
    if (!strncmp(s, "NOAUTH", 6) || !strncmp(s, "WRONGPASS", 9) || strstr(s, "invalid password"))
        kind = MC_ERR_AUTH;
    mc_err_set(err, kind, "%s", s);
    if (err) {
        size_t n = strcspn(s, " ");
        if (n >= sizeof err->code) n = sizeof err->code - 1;
        memcpy(err->code, s, n);
        err->code[n] = '\0';
    }
    return -1;
}

static int context_error(mc_err *err, const redisContext *c) {
    mc_err_kind kind = (c->err == REDIS_ERR_IO || c->err == REDIS_ERR_EOF) ? MC_ERR_UNAVAILABLE
                                                                           : MC_ERR_INTERNAL;
    return mc_err_set(err, kind, "%s", c->errstr[0] ? c->errstr : "connection failed");
}

/* One setup command (AUTH, SELECT, SETNAME) that must not fail. */
static int setup_command(redisContext *c, mc_err *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (!reply) return context_error(err, c);
    int rc = reply->type == REDIS_REPLY_ERROR ? reply_error(err, reply) : 0;
    freeReplyObject(reply);
    return rc;
}

/* Asks the Sentinels of "sentinel://NAME@H:P,H:P,..." (in order, first
 * answer wins) where master NAME is now. */
/* "NAME@H:P,H:P" -> name (128 bytes) and the list (1024 bytes). */
static int sentinel_spec(const char *spec, char *name, char *sentinels, mc_err *err) {
    const char *list = strchr(spec, '@');
    size_t nlen = list ? (size_t)(list - spec) : 0;
    if (!list || nlen == 0 || nlen >= 128 || strlen(list + 1) >= 1024)
        return mc_err_set(err, MC_ERR_INVALID, "redis address sentinel://%s: expected sentinel://NAME@HOST:PORT[,...]",
                          spec);
    memcpy(name, spec, nlen);
    name[nlen] = '\0';
    snprintf(sentinels, 1024, "%s", list + 1);
    return 0;
}

static int sentinel_master(const char *spec, int timeout_ms, char *host, size_t hostlen, int *port,
                           mc_err *err) {
    char name[128], sentinels[1024];
    if (sentinel_spec(spec, name, sentinels, err) < 0) return -1;
    /* every Sentinel's failure is named: "the last one refused" would hide
     * whether one or all of them are down */
    char why[400] = "";
    size_t wlen = 0;
    char *save = NULL;
    for (char *a = strtok_r(sentinels, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
        char shost[256];
        int sport;
        if (mc_addr_parse(a, shost, sizeof shost, &sport, 26379, err) < 0) return -1;
        redisContext *c = redisConnectWithTimeout(shost, sport, ms_to_timeval(timeout_ms));
        if (!c) return mc_err_set(err, MC_ERR_INTERNAL, "redis sentinel %s: out of memory", a);
        redisReply *r = c->err ? NULL : redisCommand(c, "SENTINEL get-master-addr-by-name %s", name);
        int ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                 r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING;
        if (ok) {
            snprintf(host, hostlen, "%s", r->element[0]->str);
            *port = atoi(r->element[1]->str);
        } else {
            int n = snprintf(why + wlen, sizeof why - wlen, "%s%s: %s", wlen ? "; " : "", a,
                             c->err ? c->errstr : r && r->type == REDIS_REPLY_ERROR ? r->str : "master unknown");
            if (n > 0) wlen = wlen + (size_t)n < sizeof why ? wlen + (size_t)n : sizeof why - 1;
        }
        if (r) freeReplyObject(r);
        redisFree(c);
        if (ok) return 0;
    }
    return mc_err_set(err, MC_ERR_UNAVAILABLE, "no sentinel answered (%s)", why);
}

/* Through Sentinel, the server found must say it is the master (ROLE):
 * Sentinel may still name a demoted one for a moment during a failover. */
static int confirm_master(redisContext *c, mc_err *err) {
    redisReply *r = redisCommand(c, "ROLE");
    if (!r) return context_error(err, c);
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->type == REDIS_REPLY_STRING &&
             strcmp(r->element[0]->str, "master") == 0;
    freeReplyObject(r);
    return ok ? 0 : mc_err_set(err, MC_ERR_UNAVAILABLE, "the server Sentinel named is not a master (failover in progress)");
}

static int is_sentinel(const char *addr) {
    return addr && strncmp(addr, MC_REDIS_SENTINEL_SCHEME, strlen(MC_REDIS_SENTINEL_SCHEME)) == 0;
}

/* Connects to host:port set up as o says; confirm: ROLE must say master. */
static redisContext *open_at(const mc_redis_options *o, const char *host, int port, int confirm, mc_err *err) {
    redisContext *c = redisConnectWithTimeout(
        host, port, ms_to_timeval(o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 2000));
    if (!c) {
        mc_err_set(err, MC_ERR_INTERNAL, "redis %s: out of memory", o->addr);
        return NULL;
    }
    int rc = c->err ? context_error(err, c) : 0;
    if (rc == 0 && (redisSetTimeout(c, ms_to_timeval(o->command_timeout_ms > 0 ? o->command_timeout_ms
                                                                              : 5000)) != REDIS_OK ||
                    redisEnableKeepAlive(c) != REDIS_OK))
        rc = context_error(err, c);
    if (rc == 0 && o->password && *o->password) rc = setup_command(c, err, "AUTH %s", o->password);
    if (rc == 0 && o->db) rc = setup_command(c, err, "SELECT %d", o->db);
    if (rc == 0 && o->client_name && *o->client_name)
        rc = setup_command(c, err, "CLIENT SETNAME %s", o->client_name);
    if (rc == 0 && confirm) rc = confirm_master(c, err);
    if (rc < 0) {
        mc_err_wrap(err, "redis %s", o->addr);
        redisFree(c);
        return NULL;
    }
    return c;
}

redisContext *mc_redis_open(const mc_redis_options *o, mc_err *err) {
    char host[256];
    int port;
    int via_sentinel = is_sentinel(o->addr);
    if (via_sentinel ? sentinel_master(o->addr + strlen(MC_REDIS_SENTINEL_SCHEME),
                                       o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 2000, host,
                                       sizeof host, &port, err) < 0
                     : mc_addr_parse(o->addr, host, sizeof host, &port, 0, err) < 0) {
        mc_err_wrap(err, "redis");
        return NULL;
    }
    return open_at(o, host, port, via_sentinel, err);
}

/* True when the server has closed an idle connection: on a request/reply
 * connection with nothing in flight, any readable event is EOF or an error. */
static int peer_closed(const redisContext *c) {
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    return poll(&p, 1, 0) != 0;
}

static void drop_connection(mc_redis *r) {
    if (r->ctx) redisFree(r->ctx);
    r->ctx = NULL;
}

static int ensure_connected(mc_redis *r, mc_err *err) {
    unsigned sw = atomic_load(&r->switches);
    int switched = sw != r->seen_switches;
    r->seen_switches = sw;
    if (!switched && r->ctx && !r->ctx->err && !peer_closed(r->ctx)) return 0;
    if (switched && r->ctx)
        mc_log_kv(MC_LOG_INFO, "redis: Sentinel switched the master, reconnecting", "addr", r->addr, NULL);
    drop_connection(r);
    if (switched) {
        /* straight to the master announced (the Sentinel asked first may
         * not know yet, and a cut-off old master still says "master") */
        char host[256];
        int port;
        pthread_mutex_lock(&r->announced_lock);
        snprintf(host, sizeof host, "%s", r->announced_host);
        port = r->announced_port;
        pthread_mutex_unlock(&r->announced_lock);
        if (*host && (r->ctx = open_at(&r->opts, host, port, 1, NULL)) != NULL) {
            mc_backoff_reset(&r->backoff);
            r->next_attempt_ms = 0;
            return 0;
        }
    }
    int64_t now = mc_monotonic_ms();
    if (!switched && now < r->next_attempt_ms)
        return mc_err_set(err, MC_ERR_UNAVAILABLE, "redis %s: down, next reconnect attempt in %lld ms",
                          r->addr, (long long)(r->next_attempt_ms - now));
    r->ctx = mc_redis_open(&r->opts, err);
    if (!r->ctx) {
        r->next_attempt_ms = now + mc_backoff_next_ms(&r->backoff);
        return -1;
    }
    mc_backoff_reset(&r->backoff);
    r->next_attempt_ms = 0;
    return 0;
}

/* Sends n preformatted commands at once and reads their replies into
 * replies[0..), reconnecting first if needed and, when may_resend, sending
 * them all once more after a connection lost before any reply. Returns the
 * number of replies read (n, or fewer with err filled). */
static size_t run_pipeline(mc_redis *r, int may_resend, size_t n, char *const *cmds, const size_t *lens,
                           redisReply **replies, mc_err *err) {
    size_t got = 0;
    pthread_mutex_lock(&r->lock);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (ensure_connected(r, err) < 0) break;
        int ok = 1;
        for (size_t i = 0; ok && i < n; i++) ok = redisAppendFormattedCommand(r->ctx, cmds[i], lens[i]) == REDIS_OK;
        while (ok && got < n) {
            void *reply = NULL;
            ok = redisGetReply(r->ctx, &reply) == REDIS_OK;
            if (ok) replies[got++] = reply;
        }
        if (ok) break;
        context_error(err, r->ctx);
        mc_err_wrap(err, "redis %s", r->addr);
        drop_connection(r);
        if (!may_resend || got > 0) break;
        if (attempt == 0)
            mc_log_kv(MC_LOG_WARN, "redis connection lost during a command, reconnecting to retry once",
                      "addr", r->addr, "error", err ? err->msg : "", NULL);
    }
    /* A master demoted by a failover answers writes with READONLY: the
     * next command reconnects, and through Sentinel finds the new master. */
    for (size_t i = 0; i < got; i++)
        if (replies[i]->type == REDIS_REPLY_ERROR && strncmp(replies[i]->str, "READONLY", 8) == 0) {
            drop_connection(r);
            break;
        }
    pthread_mutex_unlock(&r->lock);
    return got;
}

/* Sends one preformatted command (run_pipeline of one); an error reply
 * becomes NULL with err filled. */
static redisReply *run_formatted(mc_redis *r, int may_resend, char *cmd, size_t len, mc_err *err) {
    redisReply *result = NULL;
    if (run_pipeline(r, may_resend, 1, &cmd, &len, &result, err) == 0) return NULL;
    if (result->type == REDIS_REPLY_ERROR) {
        reply_error(err, result);
        mc_err_wrap(err, "redis %s", r->addr);
        freeReplyObject(result);
        result = NULL;
    }
    return result;
}

static redisReply *run_command(mc_redis *r, int may_resend, mc_err *err, const char *fmt, va_list ap) {
    char *cmd;
    int len = redisvFormatCommand(&cmd, fmt, ap);
    if (len < 0) {
        mc_err_set(err, MC_ERR_INVALID, "redis: cannot format command \"%s\"", fmt);
        return NULL;
    }
    redisReply *reply = run_formatted(r, may_resend, cmd, (size_t)len, err);
    redisFreeCommand(cmd);
    return reply;
}

redisReply *mc_redis_command(mc_redis *r, mc_err *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = run_command(r, 1, err, fmt, ap);
    va_end(ap);
    return reply;
}

redisReply *mc_redis_command_once(mc_redis *r, mc_err *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = run_command(r, 0, err, fmt, ap);
    va_end(ap);
    return reply;
}

redisReply *mc_redis_command_argv(mc_redis *r, int argc, const char **argv, const size_t *argvlen,
                                  mc_err *err) {
    char *cmd;
    int len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (len < 0) {
        mc_err_set(err, MC_ERR_INTERNAL, "redis: out of memory formatting a command");
        return NULL;
    }
    redisReply *reply = run_formatted(r, 1, cmd, (size_t)len, err);
    redisFreeCommand(cmd);
    return reply;
}

/* A SCAN reply: the next cursor and an array of key strings. */
static int scan_reply_valid(const redisReply *reply) {
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_ARRAY)
        return 0;
    for (size_t i = 0; i < reply->element[1]->elements; i++)
        if (reply->element[1]->element[i]->type != REDIS_REPLY_STRING) return 0;
    return 1;
}

/* COUNT is a hint of keys examined per call: bigger pages, fewer round trips. */
#define SCAN_COUNT 500

int mc_redis_scan(mc_redis *r, const char *pattern, mc_redis_scan_page page, void *ctx, mc_err *err) {
    char cursor[32] = "0";
    int rc = 0;
    do {
        redisReply *reply = mc_redis_command(r, err, "SCAN %s MATCH %s COUNT %d", cursor, pattern, SCAN_COUNT);
        if (!reply) return -1;
        if (!scan_reply_valid(reply)) {
            rc = mc_err_set(err, MC_ERR_REMOTE, "redis %s: unexpected SCAN reply", r->addr);
        } else {
            snprintf(cursor, sizeof cursor, "%s", reply->element[0]->str);
            if (reply->element[1]->elements > 0) rc = page(ctx, reply->element[1], err);
        }
        freeReplyObject(reply);
    } while (rc == 0 && strcmp(cursor, "0") != 0);
    return rc;
}

redisReply *mc_redis_mget(mc_redis *r, const redisReply *keys, mc_err *err) {
    const char **argv = malloc((keys->elements + 1) * sizeof *argv);
    if (!argv) {
        mc_err_set(err, MC_ERR_INTERNAL, "redis: out of memory");
        return NULL;
    }
    argv[0] = "MGET";
    for (size_t i = 0; i < keys->elements; i++) argv[i + 1] = keys->element[i]->str;
    redisReply *values = mc_redis_command_argv(r, (int)keys->elements + 1, argv, NULL, err);
    free(argv);
    if (values && (values->type != REDIS_REPLY_ARRAY || values->elements != keys->elements)) {
        freeReplyObject(values);
        mc_err_set(err, MC_ERR_REMOTE, "redis %s: unexpected MGET reply", r->addr);
        return NULL;
    }
    return values;
}

int mc_redis_batch_add(mc_redis_batch *b, const char *fmt, ...) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        char **cmds = realloc(b->cmds, cap * sizeof *cmds);
        if (cmds) b->cmds = cmds;
        size_t *lens = cmds ? realloc(b->lens, cap * sizeof *lens) : NULL;
        if (lens) b->lens = lens;
        if (!lens) return b->failed = -1;
        b->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    char *cmd;
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len < 0) return b->failed = -1;
    b->cmds[b->n] = cmd;
    b->lens[b->n++] = (size_t)len;
    return 0;
}

static void free_replies(mc_redis_batch *b) {
    for (size_t i = 0; i < b->got; i++) freeReplyObject(b->replies[i]);
    free(b->replies);
    b->replies = NULL;
    b->got = 0;
}

int mc_redis_batch_run(mc_redis *r, mc_redis_batch *b, int may_resend, mc_err *err) {
    free_replies(b);
    if (b->failed) return mc_err_set(err, MC_ERR_INTERNAL, "redis: a command could not be formatted");
    if (b->n == 0) return 0;
    b->replies = calloc(b->n, sizeof *b->replies);
    if (!b->replies) return mc_err_set(err, MC_ERR_INTERNAL, "redis: out of memory");
    b->got = run_pipeline(r, may_resend, b->n, b->cmds, b->lens, b->replies, err);
    return b->got == b->n ? 0 : -1;
}

const redisReply *mc_redis_batch_reply(const mc_redis *r, const mc_redis_batch *b, size_t i, mc_err *err) {
    if (i >= b->got) {
        mc_err_set(err, MC_ERR_UNAVAILABLE, "redis %s: no reply (the connection failed)", r->addr);
        return NULL;
    }
    if (b->replies[i]->type == REDIS_REPLY_ERROR) {
        reply_error(err, b->replies[i]);
        mc_err_wrap(err, "redis %s", r->addr);
        return NULL;
    }
    return b->replies[i];
}

void mc_redis_batch_free(mc_redis_batch *b) {
    free_replies(b);
    for (size_t i = 0; i < b->n; i++) redisFreeCommand(b->cmds[i]);
    free(b->cmds);
    free(b->lens);
    *b = (mc_redis_batch){0};
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* ---- +switch-master ---------------------------------------------------------------- */

/* Handles one pub/sub reply: "message" "+switch-master" "NAME OLDIP OLDPORT
 * NEWIP NEWPORT"; counts it when NAME is ours. */
static void on_switch_message(mc_redis *r, const char *name, const redisReply *m) {
    if (m->type != REDIS_REPLY_ARRAY || m->elements != 3 || m->element[2]->type != REDIS_REPLY_STRING ||
        m->element[0]->type != REDIS_REPLY_STRING || strcmp(m->element[0]->str, "message") != 0)
        return;
    const char *v = m->element[2]->str;
    size_t n = strlen(name);
    if (strncmp(v, name, n) != 0 || v[n] != ' ') return;
    char nm[128], oh[256], nh[256];
    int op, np;
    if (sscanf(v, "%127s %255s %d %255s %d", nm, oh, &op, nh, &np) == 5) {
        pthread_mutex_lock(&r->announced_lock);
        snprintf(r->announced_host, sizeof r->announced_host, "%s", nh);
        r->announced_port = np;
        pthread_mutex_unlock(&r->announced_lock);
    }
    atomic_fetch_add(&r->switches, 1);
    mc_log_kv(MC_LOG_INFO, "redis: Sentinel announced +switch-master", "switch", v, NULL);
}

/* Waits up to ms for c's socket or the wake pipe: 1 readable, 0 nothing, -1 stop. */
static int wait_readable(mc_redis *r, int fd, int ms) {
    struct pollfd p[2] = {{.fd = r->wake[0], .events = POLLIN}, {.fd = fd, .events = POLLIN}};
    int n = poll(p, fd >= 0 ? 2 : 1, ms);
    if (n < 0 && errno == EINTR) return 0;
    if (n < 0 || p[0].revents) return -1;
    return n > 0 && p[1].revents ? 1 : 0;
}

/* Listens to one Sentinel until its connection fails or close wakes us;
 * returns -1 when asked to stop. */
static int watch_one(mc_redis *r, const char *name, const char *addr) {
    char host[256];
    int port, rc = 0;
    mc_err err = {0};
    if (mc_addr_parse(addr, host, sizeof host, &port, 26379, &err) < 0) return 0;
    int tmo = r->opts.connect_timeout_ms > 0 ? r->opts.connect_timeout_ms : 2000;
    redisContext *c = redisConnectWithTimeout(host, port, ms_to_timeval(tmo));
    if (!c || c->err || redisAppendCommand(c, "SUBSCRIBE +switch-master") != REDIS_OK) goto out;
    int done = 0;
    while (!done && redisBufferWrite(c, &done) == REDIS_OK) {}
    if (!done) goto out;
    for (;;) {
        void *reply = NULL;
        if (redisGetReplyFromReader(c, &reply) != REDIS_OK) break;
        if (reply) {
            on_switch_message(r, name, reply);
            freeReplyObject(reply);
            continue;
        }
        int w = wait_readable(r, c->fd, 60000);
        if (w < 0) {
            rc = -1;
            break;
        }
        if (w > 0 && redisBufferRead(c) != REDIS_OK) break;
    }
out:
    if (c) redisFree(c);
    return rc;
}

/* The watcher thread: one Sentinel after the other, for as long as the
 * handle lives. A switch missed while no Sentinel answered is still caught
 * the old way (broken connection, READONLY). */
static void *watch_switches(void *arg) {
    mc_redis *r = arg;
    char name[128], list[1024];
    if (sentinel_spec(r->addr + strlen(MC_REDIS_SENTINEL_SCHEME), name, list, NULL) < 0) return NULL;
    for (;;) {
        char copy[1024], *save = NULL;
        snprintf(copy, sizeof copy, "%s", list);
        for (char *a = strtok_r(copy, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
            if (watch_one(r, name, a) < 0) return NULL;
            if (wait_readable(r, -1, 200) < 0) return NULL;
        }
    }
}

static void start_watcher(mc_redis *r) {
    if (pipe2(r->wake, O_CLOEXEC) < 0) {
        r->wake[0] = r->wake[1] = -1;
        mc_warn("redis %s: no +switch-master watcher (pipe failed)", r->addr);
        return;
    }
    if (pthread_create(&r->watcher, NULL, watch_switches, r) != 0) {
        mc_warn("redis %s: no +switch-master watcher (thread not started)", r->addr);
        return;
    }
    r->watching = 1;
}

static void stop_watcher(mc_redis *r) {
    if (r->watching) {
        ssize_t w = write(r->wake[1], "x", 1);
        (void)w;
        pthread_join(r->watcher, NULL);
        r->watching = 0;
    }
    if (r->wake[0] >= 0) close(r->wake[0]);
    if (r->wake[1] >= 0) close(r->wake[1]);
    r->wake[0] = r->wake[1] = -1;
}

unsigned mc_redis_switches_seen(mc_redis *r) { return atomic_load(&r->switches); }

void mc_redis_close(mc_redis *r) {
    if (!r) return;
    stop_watcher(r);
    drop_connection(r);
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->announced_lock);
    free(r->addr);
    free(r->password);
    free(r->client_name);
    free(r);
}

mc_redis *mc_redis_connect(const mc_redis_options *opts, mc_err *err) {
    mc_redis *r = calloc(1, sizeof *r);
    if (!r) {
        mc_err_set(err, MC_ERR_INTERNAL, "redis: out of memory");
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->announced_lock, NULL);
    r->wake[0] = r->wake[1] = -1;
    r->opts = *opts;
    r->opts.addr = r->addr = dup_or_null(opts->addr);
    r->opts.password = r->password = dup_or_null(opts->password);
    r->opts.client_name = r->client_name = dup_or_null(opts->client_name);
    /* Through Sentinel a reconnect attempt is a question to a Sentinel, and
     * the one right after the switch finds the new master: capped at 1 s,
     * clients follow within a second of it (at 5 s the fault suite saw 12-16 s
     * to recover from a 6 s switch). */
    int via_sentinel = is_sentinel(r->addr);
    mc_backoff_init(&r->backoff, opts->backoff_initial_ms ? opts->backoff_initial_ms : 100,
                    opts->backoff_max_ms ? opts->backoff_max_ms : via_sentinel ? 1000 : 5000);
    r->ctx = mc_redis_open(&r->opts, err);
    if (!r->ctx) {
        mc_redis_close(r);
        return NULL;
    }
    if (via_sentinel) start_watcher(r);
    return r;
}
