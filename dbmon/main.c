/* main.c — mcloud-dbmon: the MariaDB failover monitor.
 *
 * Run two or more instances; one is active (it holds the Redis lock
 * "dbmon", renewed every round), the others stand by and take over when
 * the lock expires. Each round the active instance observes every server of
 * dbmon.servers with a fresh connection (so a monitor-side blip shows as
 * "unreachable", never as a stale pooled answer), asks topology.c whether
 * the published master (mysql.master in the config service) is dead, and:
 *  - on a dead master, fails over: stops the replicas' IO threads, lets the
 *    most advanced one apply its relay log, promotes it (STOP SLAVE, RESET
 *    SLAVE ALL, read_only=OFF, semi-sync master on), re-points the other
 *    replicas, then publishes mysql.master / mysql.replica (every daemon's
 *    MySQL pool follows the config service);
 *  - fences and re-attaches any other reachable server that is writable or
 *    replicates from elsewhere (the old master when it returns: read_only=ON,
 *    CHANGE MASTER to the new master, MASTER_USE_GTID=current_pos; a server
 *    holding transactions the master never had is refused by GTID strict
 *    mode and reported, never merged);
 *  - runs a switchover an operator requested (`mcloud db switchover`):
 *    the master is made read-only, the target waits for its last GTID, is
 *    promoted, the old master is re-attached, the change is published.
 * `mcloud db switchover [host:port]` is the operator's side (request.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "common/addr.h"
#include "common/daemon.h"
#include "common/http.h"
#include "common/lock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/mysql.h"
#include "common/periodic.h"
#include "common/redis_config.h"
#include "common/service.h"
#include "dbmon/request.h"
#include "dbmon/topology.h"

#define LOCK_NAME "dbmon"
#define MAINTENANCE_KEY_PREFIX "mcloud:dbmon:maintenance:"
#define APPLY_WAIT_S 30

typedef struct dbmon {
    mc_service svc;
    dbmon_server servers[DBMON_MAX_SERVERS];
    size_t n;
    char peer_host[DBMON_MAX_SERVERS][DBMON_ADDR_MAX]; /* MASTER_HOST of its replicas ("": its host) */
    char source_addr[64];           /* where our connections come from ("": any) */
    char admin_user[128], admin_password[128], repl_user[128], repl_password[128];
    long interval_ms, dead_after_ms, lock_ttl_ms;
    mc_lock lock;
    bool active;
    char watched[DBMON_ADDR_MAX];   /* master whose reachability is tracked */
    double unreachable_since;       /* 0: reachable */
    dbmon_verdict last_verdict;
    bool diverged_logged[DBMON_MAX_SERVERS];
    bool stuck_logged[DBMON_MAX_SERVERS];
    mc_periodic *loop;
} dbmon;

/* ---- talking to one server ------------------------------------------------ */

static mc_db *server_open(dbmon *m, const char *addr, int read_timeout_s, mc_err *err) {
    mc_db_config c;
    mc_db_config_defaults(&c);
    snprintf(c.master, sizeof c.master, "%s", addr);
    c.replica[0] = '\0';
    snprintf(c.user, sizeof c.user, "%s", m->admin_user);
    snprintf(c.password, sizeof c.password, "%s", m->admin_password);
    c.database[0] = '\0';
    snprintf(c.bind_addr, sizeof c.bind_addr, "%s", m->source_addr);
    c.pool_size = 1;
    c.connect_timeout_s = 1;
    c.read_timeout_s = read_timeout_s;
    return mc_db_open(&c, err);
}

/* Runs statements one after the other on addr; stops at the first error. */
static int server_exec(dbmon *m, const char *addr, const char *const *stmts, mc_err *err) {
    mc_db *db = server_open(m, addr, 5, err);
    if (!db) return -1;
    int rc = 0;
    for (size_t i = 0; stmts[i] && rc == 0; i++) {
        rc = mc_db_exec(db, MC_DB_MASTER, stmts[i], MC_DB_NO_ARGS, NULL, err);
        if (rc < 0) mc_err_wrap(err, "%s: %s", addr, stmts[i]);
    }
    mc_db_close(db);
    return rc;
}

static void copy_field(char *dst, size_t len, const char *v) { snprintf(dst, len, "%s", v ? v : ""); }

/* The dbmon.servers address of the server a replica's Master_Host:Port names
 * (its peer host maps back to its address), else host:port as it is. */
static void master_of(const dbmon *m, const char *host, const char *port, char *out, size_t len) {
    snprintf(out, len, "%s:%s", host, port);
    for (size_t i = 0; i < m->n; i++) {
        const char *colon = strrchr(m->servers[i].addr, ':');
        if (m->peer_host[i][0] && strcmp(m->peer_host[i], host) == 0 && colon && strcmp(colon + 1, port) == 0) {
            snprintf(out, len, "%s", m->servers[i].addr);
            return;
        }
    }
}

/* The host replicas of the server at addr connect to. */
static const char *peer_host_of(const dbmon *m, const char *addr, const char *host) {
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->servers[i].addr, addr) == 0 && m->peer_host[i][0]) return m->peer_host[i];
    return host;
}

static void observe(dbmon *m, dbmon_server *s) {
    char addr[DBMON_ADDR_MAX];
    memcpy(addr, s->addr, sizeof addr);
    memset(s, 0, sizeof *s);
    memcpy(s->addr, addr, sizeof addr);
    mc_err err = {0};
    mc_db *db = server_open(m, s->addr, 3, &err);
    mc_db_rows g = {0}, st = {0};
    if (!db || mc_db_query(db, MC_DB_MASTER, "SELECT @@GLOBAL.read_only, @@GLOBAL.gtid_current_pos, "
                           "(SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                           "WHERE STATE = 'Waiting for semi-sync ACK from slave')",
                           MC_DB_NO_ARGS, &g, &err) < 0 ||
        mc_db_query(db, MC_DB_MASTER, "SHOW SLAVE STATUS", MC_DB_NO_ARGS, &st, &err) < 0) {
        mc_debug("dbmon: %s unreachable: %s", s->addr, err.msg);
        goto out;
    }
    s->reachable = true;
    const char *ro = mc_db_rows_get(&g, 0, 0);
    s->read_only = ro && strcmp(ro, "1") == 0;
    copy_field(s->gtid_current, sizeof s->gtid_current, mc_db_rows_get(&g, 0, 1));
    const char *waiting = mc_db_rows_get(&g, 0, 2);
    s->acks_awaited = waiting ? atoi(waiting) : 0;
    if (st.nrows > 0) {
        const char *host = mc_db_rows_named(&st, 0, "Master_Host");
        const char *port = mc_db_rows_named(&st, 0, "Master_Port");
        if (host && *host) master_of(m, host, port ? port : "3306", s->master_addr, sizeof s->master_addr);
        const char *io = mc_db_rows_named(&st, 0, "Slave_IO_Running");
        const char *sql = mc_db_rows_named(&st, 0, "Slave_SQL_Running");
        const char *eno = mc_db_rows_named(&st, 0, "Last_IO_Errno");
        s->io_running = io && strcmp(io, "Yes") == 0;
        s->sql_running = sql && strcmp(sql, "Yes") == 0;
        s->io_errno = eno ? atoi(eno) : 0;
        copy_field(s->gtid_io, sizeof s->gtid_io, mc_db_rows_named(&st, 0, "Gtid_IO_Pos"));
    }
out:
    mc_db_rows_free(&g);
    mc_db_rows_free(&st);
    mc_db_close(db);
}

static void observe_all(dbmon *m) {
    for (size_t i = 0; i < m->n; i++) observe(m, &m->servers[i]);
}

static int index_of(const dbmon *m, const char *addr) {
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->servers[i].addr, addr) == 0) return (int)i;
    return -1;
}

/* ---- the moves ---------------------------------------------------------------- */

/* Fences addr (read-only) and makes it replicate from master. */
static int attach(dbmon *m, const char *addr, const char *master, const char *gtid_mode, mc_err *err) {
    char host[DBMON_ADDR_MAX], change[1024];
    int port;
    if (mc_addr_parse(master, host, sizeof host, &port, 3306, err) < 0) return -1;
    snprintf(change, sizeof change,
             "CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=%d, MASTER_USER='%s', MASTER_PASSWORD='%s', "
             "MASTER_USE_GTID=%s, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1",
             peer_host_of(m, master, host), port, m->repl_user, m->repl_password, gtid_mode);
    const char *stmts[] = {"SET GLOBAL read_only=ON", "STOP SLAVE", change, "START SLAVE", NULL};
    return server_exec(m, addr, stmts, err);
}

static int promote(dbmon *m, const char *addr, mc_err *err) {
    const char *stmts[] = {"STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL rpl_semi_sync_master_enabled=ON",
                           "SET GLOBAL read_only=OFF", NULL};
    return server_exec(m, addr, stmts, err);
}

/* Blocks until addr applied gtid (MASTER_GTID_WAIT), at most timeout_s. */
static int wait_applied(dbmon *m, const char *addr, const char *gtid, int timeout_s, mc_err *err) {
    if (!gtid || !*gtid) return 0;
    mc_db *db = server_open(m, addr, timeout_s + 5, err);
    if (!db) return -1;
    mc_db_rows r = {0};
    int rc = mc_db_query(db, MC_DB_MASTER, "SELECT MASTER_GTID_WAIT(?, ?)",
                         MC_DB_ARGS(mc_db_str(gtid), mc_db_i64(timeout_s)), &r, err);
    const char *v = rc == 0 ? mc_db_rows_get(&r, 0, 0) : NULL;
    if (rc == 0 && (!v || strcmp(v, "0") != 0))
        rc = mc_err_set(err, MC_ERR_UNAVAILABLE, "%s did not apply %s within %d s", addr, gtid, timeout_s);
    mc_db_rows_free(&r);
    mc_db_close(db);
    return rc;
}

/* Re-points every reachable server but master and skip to master, then
 * publishes master and one replica. */
static int repoint_and_publish(dbmon *m, int master, int skip, const char *gtid_mode_others, mc_err *err) {
    const char *new_master = m->servers[master].addr, *replica = "";
    for (size_t i = 0; i < m->n; i++) {
        const dbmon_server *s = &m->servers[i];
        if ((int)i == master || (int)i == skip || !s->reachable) continue;
        mc_err e = {0};
        if (attach(m, s->addr, new_master, gtid_mode_others, &e) < 0) {
            mc_warn("dbmon: re-pointing %s to %s failed: %s", s->addr, new_master, e.msg);
            continue;
        }
        if (!*replica) replica = s->addr;
    }
    if (mc_redis_config_set(m->svc.redis, "mysql.master", new_master, err) < 0 ||
        mc_redis_config_set(m->svc.redis, "mysql.replica", replica, err) < 0)
        return mc_err_wrap(err, "publishing the new master %s", new_master);
    return 0;
}

static int failover(dbmon *m, int master, mc_err *err) {
    double t0 = mc_monotonic_seconds();
    const char *old = m->servers[master].addr;
    mc_log_kv(MC_LOG_WARN, "dbmon: master dead, failing over", "master", old, NULL);
    /* The replicas must not reconnect to the old master mid-failover. */
    for (size_t i = 0; i < m->n; i++) {
        dbmon_server *s = &m->servers[i];
        if ((int)i == master || !s->reachable || strcmp(s->master_addr, old) != 0) continue;
        const char *stop[] = {"STOP SLAVE IO_THREAD", NULL};
        mc_err e = {0};
        if (server_exec(m, s->addr, stop, &e) < 0) mc_warn("dbmon: %s", e.msg);
        observe(m, s);
    }
    int candidate;
    dbmon_view v = {.servers = m->servers, .n = m->n, .master = master,
                    .unreachable_ms = m->dead_after_ms, .dead_after_ms = m->dead_after_ms};
    if (dbmon_judge(&v, &candidate) != DBMON_MASTER_DEAD)
        return mc_err_set(err, MC_ERR_UNAVAILABLE, "no replica of %s left to promote", old);
    dbmon_server *c = &m->servers[candidate];
    if (wait_applied(m, c->addr, c->gtid_io, APPLY_WAIT_S, err) < 0 || promote(m, c->addr, err) < 0)
        return mc_err_wrap(err, "promoting %s", c->addr);
    if (repoint_and_publish(m, candidate, master, "slave_pos", err) < 0) return -1;
    char ms[32];
    snprintf(ms, sizeof ms, "%.0f", (mc_monotonic_seconds() - t0) * 1000);
    mc_counter_inc(mc_counter("mcloud_dbmon_failovers_total", "MariaDB failovers done by this instance.", NULL));
    mc_log_kv(MC_LOG_WARN, "dbmon: failover done", "old_master", old, "new_master", c->addr,
              "applied_gtid", c->gtid_io, "failover_ms", ms, NULL);
    return 0;
}

static int switchover(dbmon *m, int master, const char *target, mc_err *err) {
    double t0 = mc_monotonic_seconds();
    if (master < 0 || !m->servers[master].reachable)
        return mc_err_set(err, MC_ERR_UNAVAILABLE, "the master is not reachable (failover is automatic)");
    const char *old = m->servers[master].addr;
    int t = -1;
    for (size_t i = 0; i < m->n && t < 0; i++) {
        const dbmon_server *s = &m->servers[i];
        bool healthy = s->reachable && s->io_running && s->sql_running && strcmp(s->master_addr, old) == 0;
        if ((int)i != master && healthy && (strcmp(target, "auto") == 0 || strcmp(target, s->addr) == 0))
            t = (int)i;
    }
    if (t < 0) return mc_err_set(err, MC_ERR_INVALID, "no healthy replica of %s matches '%s'", old, target);
    const char *ro[] = {"SET GLOBAL read_only=ON", NULL};
    if (server_exec(m, old, ro, err) < 0) return -1;
    char gtid[DBMON_GTID_MAX] = "";
    mc_db *db = server_open(m, old, 5, err);
    int rc = db ? mc_db_master_gtid(db, gtid, sizeof gtid, err) : -1;
    mc_db_close(db);
    if (rc == 0) rc = wait_applied(m, m->servers[t].addr, gtid, 10, err);
    if (rc == 0) rc = promote(m, m->servers[t].addr, err);
    if (rc < 0) {
        const char *rw[] = {"SET GLOBAL read_only=OFF", NULL};
        mc_err e = {0};
        if (server_exec(m, old, rw, &e) < 0) mc_warn("dbmon: undoing read_only on %s: %s", old, e.msg);
        return mc_err_wrap(err, "switchover to %s abandoned, %s stays master", m->servers[t].addr, old);
    }
    /* Every transaction of the old master is on the target: its semi-sync
     * master side can go without releasing anything unacknowledged. */
    const char *semi_off[] = {"SET GLOBAL rpl_semi_sync_master_enabled=OFF", NULL};
    if (server_exec(m, old, semi_off, err) < 0 || attach(m, old, m->servers[t].addr, "current_pos", err) < 0 ||
        repoint_and_publish(m, t, master, "slave_pos", err) < 0)
        return -1;
    char ms[32];
    snprintf(ms, sizeof ms, "%.0f", (mc_monotonic_seconds() - t0) * 1000);
    mc_counter_inc(mc_counter("mcloud_dbmon_switchovers_total", "MariaDB switchovers done by this instance.", NULL));
    mc_log_kv(MC_LOG_INFO, "dbmon: switchover done", "old_master", old, "new_master", m->servers[t].addr,
              "gtid", gtid, "switchover_ms", ms, NULL);
    snprintf(m->watched, sizeof m->watched, "%s", m->servers[t].addr);
    return 0;
}

/* ---- one round ------------------------------------------------------------- */

static bool hold_lock(dbmon *m) {
    mc_err err = {0};
    if (m->active) {
        if (mc_lock_extend(m->svc.redis, &m->lock, (int)m->lock_ttl_ms, &err) == 0) return true;
        m->active = false;
        mc_log_kv(MC_LOG_WARN, "dbmon: lost the lock, standing by", "error", err.msg, NULL);
        return false;
    }
    if (mc_lock_acquire(m->svc.redis, LOCK_NAME, (int)m->lock_ttl_ms, &m->lock, &err) < 0) return false;
    m->active = true;
    m->unreachable_since = 0;
    char token[32];
    snprintf(token, sizeof token, "%lld", (long long)m->lock.token);
    mc_log_kv(MC_LOG_INFO, "dbmon: active", "token", token, "instance", m->svc.instance, NULL);
    return true;
}

static char *redis_get(dbmon *m, const char *key) {
    mc_err err = {0};
    redisReply *r = mc_redis_command(m->svc.redis, &err, "GET %s", key);
    char *v = r && r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
    if (r) freeReplyObject(r);
    return v;
}

/* Runs a requested switchover; returns whether there was one (the round
 * then ends: what it observed before is stale). */
static bool handle_switchover(dbmon *m, int master) {
    char *target = redis_get(m, DBMON_SWITCHOVER_KEY);
    if (!target) return false;
    mc_err err = {0}, e = {0};
    char result[600];
    mc_log_kv(MC_LOG_INFO, "dbmon: switchover requested", "target", target, NULL);
    if (switchover(m, master, target, &err) == 0)
        snprintf(result, sizeof result, "ok %s", m->watched);
    else
        snprintf(result, sizeof result, "failed: %s", err.msg);
    if (strncmp(result, "ok", 2) != 0) mc_log_kv(MC_LOG_WARN, "dbmon: switchover failed", "error", err.msg, NULL);
    redisReply *r = mc_redis_command(m->svc.redis, &e, "SET %s %s EX 300", DBMON_SWITCHOVER_RESULT_KEY, result);
    if (r) freeReplyObject(r);
    r = mc_redis_command(m->svc.redis, &e, "DEL %s", DBMON_SWITCHOVER_KEY);
    if (r) freeReplyObject(r);
    free(target);
    return true;
}

/* A server stopped on purpose (scripts/stack.sh stop, an operator) is in
 * maintenance while mcloud:dbmon:maintenance:<addr> exists: no failover. */
static bool in_maintenance(dbmon *m, const char *addr) {
    char key[DBMON_ADDR_MAX + 32];
    snprintf(key, sizeof key, "%s%s", MAINTENANCE_KEY_PREFIX, addr);
    char *v = redis_get(m, key);
    free(v);
    return v != NULL;
}

static void rejoin_others(dbmon *m, int master) {
    if (master < 0 || !m->servers[master].reachable) return;
    const char *maddr = m->servers[master].addr;
    for (size_t i = 0; i < m->n; i++) {
        dbmon_server *s = &m->servers[i];
        const char *why = NULL;
        if (dbmon_diverged(s) && strcmp(s->master_addr, maddr) == 0) {
            if (!m->diverged_logged[i])
                mc_log_kv(MC_LOG_ERROR, "dbmon: server holds transactions the master never had; refused as a "
                          "replica, rebuild it", "server", s->addr, "gtid", s->gtid_current, NULL);
            m->diverged_logged[i] = true;
            continue;
        }
        m->diverged_logged[i] = false;
        if (!dbmon_needs_rejoin(s, maddr, &why)) {
            m->stuck_logged[i] = false;
            continue;
        }
        if (s->acks_awaited > 0) {
            /* An old master cut off from its replicas: its commits wait for
             * an ack that will never come and would hold read_only=ON (and
             * this round) forever. They were never acknowledged; releasing
             * them would commit what the new master never had. Only a
             * restart truncates them (it comes back with
             * --init-rpl-role=SLAVE): the operator's or supervisor's move. */
            if (!m->stuck_logged[i]) {
                char n[16];
                snprintf(n, sizeof n, "%d", s->acks_awaited);
                mc_log_kv(MC_LOG_ERROR, "dbmon: old master holds commits waiting for a semi-sync ack; not fenced "
                          "live: kill and restart it (it comes back as a replica and truncates them)",
                          "server", s->addr, "commits", n, "master", maddr, NULL);
            }
            m->stuck_logged[i] = true;
            continue;
        }
        m->stuck_logged[i] = false;
        mc_log_kv(MC_LOG_WARN, "dbmon: fencing and re-attaching", "server", s->addr, "reason", why,
                  "master", maddr, NULL);
        mc_err err = {0};
        if (attach(m, s->addr, maddr, "current_pos", &err) < 0) mc_warn("dbmon: %s", err.msg);
    }
}

static int round_step(void *ctx) {
    dbmon *m = ctx;
    bool active = hold_lock(m);
    mc_gauge_set(mc_gauge("mcloud_dbmon_active", "1 while this instance holds the dbmon lock.", NULL), active);
    if (!active) return 0;
    observe_all(m);
    char *published = NULL;
    mc_err err = {0};
    if (mc_redis_config_get(m->svc.redis, "mysql.master", &published, &err) < 0) {
        mc_warn("dbmon: reading mysql.master: %s", err.msg);
        return -1;
    }
    int master = index_of(m, published);
    if (master < 0) mc_warn("dbmon: the published master %s is not in dbmon.servers", published);
    if (strcmp(m->watched, published) != 0) {
        snprintf(m->watched, sizeof m->watched, "%s", published);
        m->unreachable_since = 0;
    }
    free(published);
    if (handle_switchover(m, master)) return 1;
    double now = mc_monotonic_seconds();
    bool reachable = master >= 0 && m->servers[master].reachable;
    if (reachable) m->unreachable_since = 0;
    else if (m->unreachable_since == 0) m->unreachable_since = now;
    int candidate;
    dbmon_view v = {.servers = m->servers, .n = m->n, .master = master,
                    .unreachable_ms = reachable ? 0 : (long)((now - m->unreachable_since) * 1000),
                    .dead_after_ms = m->dead_after_ms};
    dbmon_verdict verdict = dbmon_judge(&v, &candidate);
    if (verdict == DBMON_MASTER_DEAD && in_maintenance(m, m->watched)) verdict = DBMON_MASTER_MAINTENANCE;
    if (verdict != m->last_verdict) {
        char ms[32];
        snprintf(ms, sizeof ms, "%ld", v.unreachable_ms);
        mc_log_kv(verdict == DBMON_MASTER_OK ? MC_LOG_INFO : MC_LOG_WARN, "dbmon: master state",
                  "master", m->watched, "state", dbmon_verdict_name(verdict), "unreachable_ms", ms, NULL);
        m->last_verdict = verdict;
    }
    int acting = reachable ? -1 : dbmon_acting_master(&v);
    if (acting >= 0 && verdict != DBMON_MASTER_DEAD) {
        mc_log_kv(MC_LOG_WARN, "dbmon: re-announcing the acting master (the published one is unreachable)",
                  "published", m->watched, "acting", m->servers[acting].addr, NULL);
        if (mc_redis_config_set(m->svc.redis, "mysql.master", m->servers[acting].addr, &err) < 0)
            mc_warn("dbmon: %s", err.msg);
        return 1;
    }
    if (verdict == DBMON_MASTER_DEAD) {
        if (failover(m, master, &err) < 0) {
            mc_log_kv(MC_LOG_ERROR, "dbmon: failover failed", "error", err.msg, NULL);
            return -1;
        }
        observe_all(m);
        return 1;
    }
    rejoin_others(m, master);
    return 0;
}

/* ---- settings, start, the switchover command --------------------------------- */

static int safe_sql_literal(const char *name, const char *v, mc_err *err) {
    if (strpbrk(v, "'\\"))
        return mc_err_set(err, MC_ERR_INVALID, "setting %s must not contain ' or \\", name);
    return 0;
}

/* dbmon.peer_hosts: one host per dbmon.servers entry, or none at all. */
static int read_peer_hosts(dbmon *m, mc_err *err) {
    char hosts[DBMON_MAX_SERVERS * DBMON_ADDR_MAX], *save = NULL;
    size_t n = 0;
    if (mc_config_copy(m->svc.config, "dbmon.source_addr", m->source_addr, sizeof m->source_addr, err) < 0 ||
        mc_config_copy(m->svc.config, "dbmon.peer_hosts", hosts, sizeof hosts, err) < 0)
        return -1;
    for (char *h = strtok_r(hosts, ", ", &save); h; h = strtok_r(NULL, ", ", &save)) {
        if (n == m->n || strchr(h, ':') || strpbrk(h, "'\\"))
            return mc_err_set(err, MC_ERR_INVALID, "setting dbmon.peer_hosts: one host (no port) per dbmon.servers "
                                                   "entry, %zu of them", m->n);
        snprintf(m->peer_host[n++], DBMON_ADDR_MAX, "%s", h);
    }
    if (n != 0 && n != m->n)
        return mc_err_set(err, MC_ERR_INVALID, "setting dbmon.peer_hosts: %zu hosts for %zu dbmon.servers", n, m->n);
    return 0;
}

static int read_settings(dbmon *m, mc_err *err) {
    mc_config *c = m->svc.config;
    char servers[DBMON_MAX_SERVERS * DBMON_ADDR_MAX];
    if (mc_config_copy(c, "dbmon.servers", servers, sizeof servers, err) < 0 ||
        mc_config_copy(c, "mysql.admin_user", m->admin_user, sizeof m->admin_user, err) < 0 ||
        mc_config_copy(c, "mysql.admin_password", m->admin_password, sizeof m->admin_password, err) < 0 ||
        mc_config_copy(c, "mysql.repl_user", m->repl_user, sizeof m->repl_user, err) < 0 ||
        mc_config_copy(c, "mysql.repl_password", m->repl_password, sizeof m->repl_password, err) < 0 ||
        mc_config_int(c, "dbmon.interval_ms", 100, 60000, &m->interval_ms, err) < 0 ||
        mc_config_int(c, "dbmon.dead_after_ms", 0, 600000, &m->dead_after_ms, err) < 0 ||
        mc_config_int(c, "dbmon.lock_ttl_ms", 1000, 600000, &m->lock_ttl_ms, err) < 0 ||
        safe_sql_literal("mysql.repl_user", m->repl_user, err) < 0 ||
        safe_sql_literal("mysql.repl_password", m->repl_password, err) < 0)
        return -1;
    char *save = NULL;
    for (char *a = strtok_r(servers, ", ", &save); a; a = strtok_r(NULL, ", ", &save)) {
        char host[DBMON_ADDR_MAX];
        int port;
        if (mc_addr_parse(a, host, sizeof host, &port, 0, err) < 0)
            return mc_err_wrap(err, "setting dbmon.servers (MCLOUD_DBMON_SERVERS)");
        if (m->n == DBMON_MAX_SERVERS)
            return mc_err_set(err, MC_ERR_INVALID, "setting dbmon.servers: more than %d servers", DBMON_MAX_SERVERS);
        snprintf(m->servers[m->n++].addr, DBMON_ADDR_MAX, "%s", a);
    }
    if (m->n < 2) return mc_err_set(err, MC_ERR_INVALID, "setting dbmon.servers: name at least two servers");
    return read_peer_hosts(m, err);
}

static int run(dbmon *m, mc_err *err) {
    mc_service_options opt = {.name = "dbmon", .port_setting = "dbmon.port"};
    if (mc_service_init(&m->svc, &opt, err) < 0 || read_settings(m, err) < 0) return -1;
    m->loop = mc_periodic_start("dbmon", m->interval_ms, round_step, m, err);
    if (!m->loop) return -1;
    return mc_service_serve(&m->svc, err);
}

int main(int argc, char **argv) {
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: mcloud-dbmon   (settings: MCLOUD_DBMON_*, see docs/ARCHITECTURE.md);\n"
                        "a switchover is requested with: mcloud db switchover [host:port]\n");
        return 2;
    }
    mc_daemon_block_signals();
    static dbmon m;
    mc_err err = {0};
    int rc = run(&m, &err);
    if (rc < 0) mc_log_kv(MC_LOG_ERROR, "mcloud-dbmon failed", "error", err.msg, NULL);
    mc_periodic_stop(m.loop);
    if (m.active) {
        mc_err e = {0};
        mc_lock_release(m.svc.redis, &m.lock, &e);
    }
    mc_service_free(&m.svc);
    return rc < 0 ? 1 : 0;
}
