/* mysql.c — the MySQL client: master and replica connection pools, routing
 * of reads to the replica with fallback to the master, prepared statements,
 * transactions and GTID waits (see mysql.h).
 *
 * Each server has a pool bounded by pool_size. A connection that fails with a
 * connection-level error is marked broken and closed when released, freeing
 * its slot for a new one. A pooled connection can also go stale while idle
 * (server restart, wait_timeout): if the first statement of a checkout fails
 * before anything was executed, the connection is reopened and the statement
 * retried once. Changing a server's address bumps the pool's generation;
 * connections of an older generation are closed instead of pooled. */
#include "common/mysql.h"

#include <errno.h>
#include <errmsg.h>
#include <limits.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/addr.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"

#define DEFAULT_POOL_SIZE 4
#define DEFAULT_CONNECT_TIMEOUT_S 5
#define DEFAULT_READ_TIMEOUT_S 30
#define DEFAULT_REPLICA_RECHECK_S 5
#define DEFAULT_MYSQL_PORT 3306
#define FIRST_COLUMN_CAPACITY 64

/* The connections to one server. Guarded by mc_db.mu. */
typedef struct db_pool {
    const char *role;           /* "master" or "replica", for messages */
    char host[MC_DB_ADDR_MAX];
    unsigned port;              /* 0: no server configured (replica only) */
    unsigned generation;        /* bumped whenever the address changes */
    mc_db_conn *idle;           /* stack of idle connections */
    int open;                   /* connections of this generation, idle or in use */
    pthread_cond_t released;    /* signalled when a connection or a slot frees up */
} db_pool;

struct mc_db_conn {
    mc_db *db;
    db_pool *pool;
    MYSQL *mysql;
    unsigned generation;
    int broken;       /* a connection-level error happened: close, don't pool */
    int in_tx;        /* between mc_db_begin and commit/rollback */
    int reused;       /* came idle from the pool and has run nothing yet */
    mc_db_conn *next; /* in the idle stack */
};

struct mc_db {
    mc_db_config cfg;
    pthread_mutex_t mu;
    db_pool master;
    db_pool replica;
    double replica_avoid_until;   /* monotonic seconds: reads go to the master until then */
    double replica_lag_check_at;  /* monotonic seconds: next Seconds_Behind_Master check */
};

static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static int library_failed;

static void library_init(void) { library_failed = mysql_library_init(0, NULL, NULL) != 0; }

/* ---- Configuration ---------------------------------------------------------- */

void mc_db_config_defaults(mc_db_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->master, sizeof cfg->master, "127.0.0.1:13306");
    snprintf(cfg->user, sizeof cfg->user, "mcloud");
    snprintf(cfg->database, sizeof cfg->database, "mcloud");
    cfg->pool_size = DEFAULT_POOL_SIZE;
    cfg->connect_timeout_s = DEFAULT_CONNECT_TIMEOUT_S;
    cfg->read_timeout_s = DEFAULT_READ_TIMEOUT_S;
    cfg->replica_recheck_s = DEFAULT_REPLICA_RECHECK_S;
}

static int config_int(mc_config *c, const char *name, long min, long max, int *out, mc_err *err) {
    long n;
    if (mc_config_int(c, name, min, max, &n, err) < 0) return -1;
    *out = (int)n;
    return 0;
}

int mc_db_config_from(mc_config *c, mc_db_config *cfg, mc_err *err) {
    mc_db_config_defaults(cfg);
    if (mc_config_copy(c, "mysql.master", cfg->master, sizeof cfg->master, err) < 0 ||
        mc_config_copy(c, "mysql.replica", cfg->replica, sizeof cfg->replica, err) < 0 ||
        mc_config_copy(c, "mysql.user", cfg->user, sizeof cfg->user, err) < 0 ||
        mc_config_copy(c, "mysql.password", cfg->password, sizeof cfg->password, err) < 0 ||
        mc_config_copy(c, "mysql.database", cfg->database, sizeof cfg->database, err) < 0 ||
        config_int(c, "mysql.pool_size", 1, 256, &cfg->pool_size, err) < 0 ||
        config_int(c, "mysql.connect_timeout_s", 1, 3600, &cfg->connect_timeout_s, err) < 0 ||
        config_int(c, "mysql.read_timeout_s", 1, 86400, &cfg->read_timeout_s, err) < 0 ||
        config_int(c, "mysql.replica_max_lag_s", 0, 86400, &cfg->replica_max_lag_s, err) < 0)
        return -1;
    return 0;
}

/* "host:port", "host" (port 3306) or "[v6addr]:port". */
static int parse_addr(const char *addr, char *host, size_t hostcap, unsigned *port, mc_err *err) {
    int p;
    if (mc_addr_parse(addr, host, hostcap, &p, DEFAULT_MYSQL_PORT, err) < 0)
        return mc_err_wrap(err, "mysql");
    *port = (unsigned)p;
    return 0;
}

/* ---- Errors ------------------------------------------------------------------ */

/* Errors after which the connection cannot be used again. */
static int is_connection_error(unsigned no) {
    switch (no) {
    case CR_SOCKET_CREATE_ERROR: case CR_CONNECTION_ERROR: case CR_CONN_HOST_ERROR:
    case CR_IPSOCK_ERROR: case CR_UNKNOWN_HOST: case CR_SERVER_GONE_ERROR:
    case CR_SERVER_HANDSHAKE_ERR: case CR_SERVER_LOST: case CR_SERVER_LOST_EXTENDED:
    case CR_ERR_NET_READ: case CR_ERR_NET_WRITE:
    case ER_CON_COUNT_ERROR: case ER_SERVER_SHUTDOWN: case ER_CONNECTION_KILLED:
        return 1;
    default:
        return 0;
    }
}

static mc_err_kind error_kind(unsigned no) {
    if (is_connection_error(no)) return MC_ERR_UNAVAILABLE;
    switch (no) {
    case ER_DUP_ENTRY: case ER_DUP_ENTRY_WITH_KEY_NAME: return MC_ERR_CONFLICT;
    case ER_ACCESS_DENIED_ERROR: case ER_DBACCESS_DENIED_ERROR: return MC_ERR_AUTH;
    default: return MC_ERR_REMOTE;
    }
}

static int db_error(mc_err *err, unsigned no, const char *sqlstate, const char *msg) {
    mc_err_set(err, error_kind(no), "mysql error %u: %s", no, msg);
    if (err) {
        err->status = (int)no;
        snprintf(err->code, sizeof err->code, "%s", sqlstate ? sqlstate : "");
    }
    return -1;
}

/* Records err from the connection; a client-side (CR_*) or connection-level
 * error leaves the connection unusable. */
static int conn_error(mc_db_conn *c, mc_err *err) {
    unsigned no = mysql_errno(c->mysql);
    if (is_connection_error(no) || (no >= CR_MIN_ERROR && no <= CR_MAX_ERROR)) c->broken = 1;
    return db_error(err, no, mysql_sqlstate(c->mysql), mysql_error(c->mysql));
}

static int stmt_error(mc_db_conn *c, MYSQL_STMT *st, mc_err *err) {
    unsigned no = mysql_stmt_errno(st);
    if (is_connection_error(no) || (no >= CR_MIN_ERROR && no <= CR_MAX_ERROR)) c->broken = 1;
    return db_error(err, no, mysql_stmt_sqlstate(st), mysql_stmt_error(st));
}

/* ---- Connections and pools ------------------------------------------------------ */

static MYSQL *connect_server(const mc_db_config *cfg, const char *role, const char *host,
                             unsigned port, mc_err *err) {
    MYSQL *m = mysql_init(NULL);
    if (!m) return mc_err_set(err, MC_ERR_INTERNAL, "mysql_init: out of memory"), NULL;
    unsigned connect_timeout = (unsigned)cfg->connect_timeout_s;
    unsigned io_timeout = (unsigned)cfg->read_timeout_s;
    unsigned protocol = MYSQL_PROTOCOL_TCP;
    my_bool report_truncation = 1;
    mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &protocol);
    mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
    mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
    mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
    mysql_optionsv(m, MYSQL_REPORT_DATA_TRUNCATION, &report_truncation);
    mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    /* Timestamps written with CURRENT_TIMESTAMP are UTC whatever the server zone. */
    mysql_optionsv(m, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");
    if (cfg->bind_addr[0]) mysql_optionsv(m, MYSQL_OPT_BIND, cfg->bind_addr);
    if (!mysql_real_connect(m, host, cfg->user, cfg->password, cfg->database, port, NULL, 0)) {
        db_error(err, mysql_errno(m), mysql_sqlstate(m), mysql_error(m));
        mysql_close(m);
        mc_err_wrap(err, "connect to mysql %s %s:%u", role, host, port);
        return NULL;
    }
    return m;
}

static void conn_free(mc_db_conn *c) {
    mysql_close(c->mysql);
    free(c);
}

static int pool_init(db_pool *pool, const char *role, const char *addr, mc_err *err) {
    pool->role = role;
    if (addr && *addr && parse_addr(addr, pool->host, sizeof pool->host, &pool->port, err) < 0)
        return -1;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&pool->released, &attr);
    pthread_condattr_destroy(&attr);
    return 0;
}

/* Detaches the idle stack (caller holds the lock); the caller closes it. */
static mc_db_conn *pool_take_idle(db_pool *pool) {
    mc_db_conn *idle = pool->idle;
    pool->idle = NULL;
    return idle;
}

static void close_list(mc_db_conn *c) {
    while (c) {
        mc_db_conn *next = c->next;
        conn_free(c);
        c = next;
    }
}

/* An idle connection, or a new one if the pool has room; waits up to the
 * read timeout for one to be released otherwise. */
static mc_db_conn *pool_acquire(mc_db *db, db_pool *pool, mc_err *err) {
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += db->cfg.read_timeout_s;

    pthread_mutex_lock(&db->mu);
    while (!pool->idle && pool->open >= db->cfg.pool_size) {
        if (pthread_cond_timedwait(&pool->released, &db->mu, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&db->mu);
            mc_err_set(err, MC_ERR_UNAVAILABLE, "mysql %s pool: all %d connections stayed busy for %d s",
                       pool->role, db->cfg.pool_size, db->cfg.read_timeout_s);
            return NULL;
        }
    }
    if (pool->idle) {
        mc_db_conn *c = pool->idle;
        pool->idle = c->next;
        pthread_mutex_unlock(&db->mu);
        c->next = NULL;
        c->reused = 1;
        return c;
    }
    pool->open++;
    char host[MC_DB_ADDR_MAX];
    memcpy(host, pool->host, sizeof host);
    unsigned port = pool->port, generation = pool->generation;
    pthread_mutex_unlock(&db->mu);

    MYSQL *m = connect_server(&db->cfg, pool->role, host, port, err);
    mc_db_conn *c = m ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        if (m) {
            mysql_close(m);
            mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        }
        pthread_mutex_lock(&db->mu);
        if (pool->generation == generation) pool->open--;
        pthread_cond_signal(&pool->released);
        pthread_mutex_unlock(&db->mu);
        return NULL;
    }
    c->db = db;
    c->pool = pool;
    c->mysql = m;
    c->generation = generation;
    return c;
}

/* Replaces a stale connection's socket with a new one to the same address.
 * Fails if the address has changed meanwhile. */
static int conn_reopen(mc_db_conn *c, mc_err *err) {
    mc_db *db = c->db;
    pthread_mutex_lock(&db->mu);
    int current = c->generation == c->pool->generation;
    char host[MC_DB_ADDR_MAX];
    memcpy(host, c->pool->host, sizeof host);
    unsigned port = c->pool->port;
    pthread_mutex_unlock(&db->mu);
    if (!current) return -1;
    mc_debug("mysql %s connection went stale while idle; reopening", c->pool->role);
    MYSQL *m = connect_server(&db->cfg, c->pool->role, host, port, err);
    if (!m) return -1;
    mysql_close(c->mysql);
    c->mysql = m;
    c->broken = 0;
    return 0;
}

void mc_db_release(mc_db_conn *c) {
    if (!c) return;
    if (c->in_tx && !c->broken && mysql_rollback(c->mysql)) c->broken = 1;
    c->in_tx = 0;
    mc_db *db = c->db;
    db_pool *pool = c->pool;
    pthread_mutex_lock(&db->mu);
    int current = c->generation == pool->generation;
    int keep = current && !c->broken;
    if (keep) {
        c->next = pool->idle;
        pool->idle = c;
    } else if (current) {
        pool->open--;
    }
    pthread_cond_signal(&pool->released);
    pthread_mutex_unlock(&db->mu);
    if (!keep) conn_free(c);
}

mc_db *mc_db_open(const mc_db_config *cfg, mc_err *err) {
    pthread_once(&library_once, library_init);
    if (library_failed) return mc_err_set(err, MC_ERR_INTERNAL, "mysql_library_init failed"), NULL;
    if (cfg->pool_size < 0 || cfg->connect_timeout_s < 0 || cfg->read_timeout_s < 0 ||
        cfg->replica_max_lag_s < 0 || cfg->replica_recheck_s < 0)
        return mc_err_set(err, MC_ERR_INVALID, "mysql config: negative pool size or timeout"), NULL;
    if (!cfg->master[0]) return mc_err_set(err, MC_ERR_INVALID, "mysql config: no master address"), NULL;

    mc_db *db = calloc(1, sizeof *db);
    if (!db) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory"), NULL;
    db->cfg = *cfg;
    if (!db->cfg.pool_size) db->cfg.pool_size = DEFAULT_POOL_SIZE;
    if (!db->cfg.connect_timeout_s) db->cfg.connect_timeout_s = DEFAULT_CONNECT_TIMEOUT_S;
    if (!db->cfg.read_timeout_s) db->cfg.read_timeout_s = DEFAULT_READ_TIMEOUT_S;
    if (!db->cfg.replica_recheck_s) db->cfg.replica_recheck_s = DEFAULT_REPLICA_RECHECK_S;
    if (pool_init(&db->master, "master", cfg->master, err) < 0) {
        free(db);
        return NULL;
    }
    if (pool_init(&db->replica, "replica", cfg->replica, err) < 0) {
        pthread_cond_destroy(&db->master.released);
        free(db);
        return NULL;
    }
    pthread_mutex_init(&db->mu, NULL);
    return db;
}

void mc_db_close(mc_db *db) {
    if (!db) return;
    close_list(pool_take_idle(&db->master));
    close_list(pool_take_idle(&db->replica));
    pthread_cond_destroy(&db->master.released);
    pthread_cond_destroy(&db->replica.released);
    pthread_mutex_destroy(&db->mu);
    free(db);
}

static int pool_set_addr(mc_db *db, db_pool *pool, const char *addr, mc_err *err) {
    char host[MC_DB_ADDR_MAX] = "";
    unsigned port = 0;
    if (addr && *addr && parse_addr(addr, host, sizeof host, &port, err) < 0) return -1;
    pthread_mutex_lock(&db->mu);
    memcpy(pool->host, host, sizeof host);
    pool->port = port;
    pool->generation++;
    pool->open = 0;
    mc_db_conn *idle = pool_take_idle(pool);
    if (pool == &db->replica) {
        db->replica_avoid_until = 0;
        db->replica_lag_check_at = 0;
    }
    pthread_cond_broadcast(&pool->released);
    pthread_mutex_unlock(&db->mu);
    close_list(idle);
    mc_info("mysql %s is now %s", pool->role, port ? addr : "(none)");
    return 0;
}

int mc_db_set_master(mc_db *db, const char *addr, mc_err *err) {
    if (!addr || !*addr) return mc_err_set(err, MC_ERR_INVALID, "mysql master address is empty");
    return pool_set_addr(db, &db->master, addr, err);
}

int mc_db_set_replica(mc_db *db, const char *addr, mc_err *err) {
    return pool_set_addr(db, &db->replica, addr, err);
}

/* A stale pooled connection fails its first statement with a connection
 * error before executing anything: reopen it and try once more. */
int mc_db_apply_setting(mc_db *db, mc_config *config, const char *name, mc_err *err) {
    if (strcmp(name, "mysql.master") == 0)
        return mc_db_set_master(db, mc_config_get(config, name), err);
    if (strcmp(name, "mysql.replica") == 0)
        return mc_db_set_replica(db, mc_config_get(config, name), err);
    return 0;
}

static int stale_retry(mc_db_conn *c, int first_use, int executed, mc_err *err) {
    return first_use && !executed && c->broken && !c->in_tx && conn_reopen(c, err) == 0;
}

/* A statement without parameters on the text protocol, for internal
 * statements that are safe to repeat; a result set, if any, is left for the
 * caller to read with mysql_store_result. */
static int conn_text_query(mc_db_conn *c, const char *sql, mc_err *err) {
    int first_use = c->reused;
    c->reused = 0;
    if (c->broken)
        return mc_err_set(err, MC_ERR_UNAVAILABLE, "mysql %s connection is broken", c->pool->role);
    if (mysql_query(c->mysql, sql) == 0) return 0;
    conn_error(c, err);
    if (!stale_retry(c, first_use, 0, err)) return -1;
    return mysql_query(c->mysql, sql) == 0 ? 0 : conn_error(c, err);
}

/* ---- Routing ------------------------------------------------------------------------ */

static void avoid_replica(mc_db *db, const char *why) {
    pthread_mutex_lock(&db->mu);
    db->replica_avoid_until = mc_monotonic_seconds() + db->cfg.replica_recheck_s;
    pthread_mutex_unlock(&db->mu);
    mc_warn("mysql replica unusable, reading from the master for %d s: %s",
            db->cfg.replica_recheck_s, why);
}

/* Whether the replica's Seconds_Behind_Master is within the bound. A
 * replica whose replication is stopped (NULL) is not. */
static int replica_lag_ok(mc_db_conn *c, char *why, size_t whylen) {
    mc_err e;
    if (conn_text_query(c, "SHOW SLAVE STATUS", &e) < 0) {
        snprintf(why, whylen, "%s", e.msg);
        return 0;
    }
    MYSQL_RES *res = mysql_store_result(c->mysql);
    if (!res) {
        snprintf(why, whylen, "SHOW SLAVE STATUS returned no result");
        return 0;
    }
    MYSQL_ROW row = mysql_fetch_row(res);
    const char *lag = NULL;
    unsigned n = mysql_num_fields(res);
    MYSQL_FIELD *fields = mysql_fetch_fields(res);
    for (unsigned i = 0; row && i < n; i++)
        if (strcmp(fields[i].name, "Seconds_Behind_Master") == 0) lag = row[i];
    int ok = lag && atol(lag) <= c->db->cfg.replica_max_lag_s;
    if (!ok) snprintf(why, whylen, "replication lag %s s (bound %d s)", lag ? lag : "unknown",
                      c->db->cfg.replica_max_lag_s);
    mysql_free_result(res);
    return ok;
}

/* A replica connection, or NULL when reads should go to the master. */
static mc_db_conn *acquire_replica(mc_db *db) {
    pthread_mutex_lock(&db->mu);
    double now = mc_monotonic_seconds();
    int usable = db->replica.port && now >= db->replica_avoid_until;
    int check_lag = usable && db->cfg.replica_max_lag_s > 0 && now >= db->replica_lag_check_at;
    if (check_lag) db->replica_lag_check_at = now + db->cfg.replica_recheck_s;
    pthread_mutex_unlock(&db->mu);
    if (!usable) return NULL;

    mc_err e;
    mc_err_clear(&e);
    mc_db_conn *c = pool_acquire(db, &db->replica, &e);
    if (!c) {
        avoid_replica(db, e.msg);
        return NULL;
    }
    char why[512];
    if (check_lag && !replica_lag_ok(c, why, sizeof why)) {
        mc_db_release(c);
        avoid_replica(db, why);
        return NULL;
    }
    return c;
}

mc_db_conn *mc_db_acquire(mc_db *db, mc_db_target target, mc_err *err) {
    if (target == MC_DB_REPLICA) {
        mc_db_conn *c = acquire_replica(db);
        if (c) return c;
    }
    return pool_acquire(db, &db->master, err);
}

/* ---- Statements ------------------------------------------------------------------------ */

static int bind_params(MYSQL_STMT *st, const mc_db_param *params, size_t n, MYSQL_BIND *b,
                       mc_err *err) {
    for (size_t i = 0; i < n; i++) {
        const mc_db_param *p = &params[i];
        switch (p->type) {
        case MC_DB_PARAM_NULL:
            b[i].buffer_type = MYSQL_TYPE_NULL;
            break;
        case MC_DB_PARAM_TEXT:
        case MC_DB_PARAM_BLOB:
            b[i].buffer_type = p->type == MC_DB_PARAM_TEXT ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
            b[i].buffer = (void *)(p->data ? p->data : "");
            b[i].buffer_length = (unsigned long)p->len;
            break;
        case MC_DB_PARAM_I64:
            b[i].buffer_type = MYSQL_TYPE_LONGLONG;
            b[i].buffer = (void *)&p->i64;
            break;
        case MC_DB_PARAM_U64:
            b[i].buffer_type = MYSQL_TYPE_LONGLONG;
            b[i].buffer = (void *)&p->u64;
            b[i].is_unsigned = 1;
            break;
        case MC_DB_PARAM_F64:
            b[i].buffer_type = MYSQL_TYPE_DOUBLE;
            b[i].buffer = (void *)&p->f64;
            break;
        default:
            return mc_err_set(err, MC_ERR_INVALID, "parameter %zu has unknown type %d", i + 1,
                              (int)p->type);
        }
    }
    if (mysql_stmt_bind_param(st, b))
        return db_error(err, mysql_stmt_errno(st), mysql_stmt_sqlstate(st), mysql_stmt_error(st));
    return 0;
}

/* Output buffers for one result set: every column is fetched as text and
 * grown when a value does not fit. */
typedef struct row_buffers {
    unsigned ncols;
    MYSQL_BIND *bind;
    char **buf;
    unsigned long *cap;
    unsigned long *len;
    my_bool *is_null;
    const char **val;
    size_t *vlen;
} row_buffers;

static void row_buffers_free(row_buffers *rb) {
    for (unsigned i = 0; rb->buf && i < rb->ncols; i++) free(rb->buf[i]);
    free(rb->bind);
    free(rb->buf);
    free(rb->cap);
    free(rb->len);
    free(rb->is_null);
    free(rb->val);
    free(rb->vlen);
}

static int row_buffers_init(row_buffers *rb, unsigned ncols, mc_err *err) {
    memset(rb, 0, sizeof *rb);
    rb->ncols = ncols;
    rb->bind = calloc(ncols, sizeof *rb->bind);
    rb->buf = calloc(ncols, sizeof *rb->buf);
    rb->cap = calloc(ncols, sizeof *rb->cap);
    rb->len = calloc(ncols, sizeof *rb->len);
    rb->is_null = calloc(ncols, sizeof *rb->is_null);
    rb->val = calloc(ncols, sizeof *rb->val);
    rb->vlen = calloc(ncols, sizeof *rb->vlen);
    if (!rb->bind || !rb->buf || !rb->cap || !rb->len || !rb->is_null || !rb->val || !rb->vlen)
        return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    for (unsigned i = 0; i < ncols; i++) {
        rb->cap[i] = FIRST_COLUMN_CAPACITY;
        if (!(rb->buf[i] = malloc(rb->cap[i]))) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        rb->bind[i].buffer_type = MYSQL_TYPE_STRING;
        rb->bind[i].buffer = rb->buf[i];
        rb->bind[i].buffer_length = rb->cap[i];
        rb->bind[i].length = &rb->len[i];
        rb->bind[i].is_null = &rb->is_null[i];
    }
    return 0;
}

/* After a fetch: refetches every value that did not fit (with room for the
 * terminating NUL) into a grown buffer, and fills val/vlen. */
static int row_buffers_complete(row_buffers *rb, MYSQL_STMT *st, mc_err *err) {
    int grown = 0;
    for (unsigned i = 0; i < rb->ncols; i++) {
        if (rb->is_null[i]) {
            rb->val[i] = NULL;
            rb->vlen[i] = 0;
            continue;
        }
        if (rb->len[i] >= rb->cap[i]) {
            unsigned long cap = rb->len[i] + 1;
            char *bigger = realloc(rb->buf[i], cap);
            if (!bigger) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
            rb->buf[i] = bigger;
            rb->cap[i] = cap;
            rb->bind[i].buffer = bigger;
            rb->bind[i].buffer_length = cap;
            if (mysql_stmt_fetch_column(st, &rb->bind[i], i, 0))
                return db_error(err, mysql_stmt_errno(st), mysql_stmt_sqlstate(st), mysql_stmt_error(st));
            grown = 1;
        }
        rb->buf[i][rb->len[i]] = '\0';
        rb->val[i] = rb->buf[i];
        rb->vlen[i] = rb->len[i];
    }
    if (grown && mysql_stmt_bind_result(st, rb->bind))
        return db_error(err, mysql_stmt_errno(st), mysql_stmt_sqlstate(st), mysql_stmt_error(st));
    return 0;
}

/* The result is stored client-side first, so a callback never runs before
 * the whole result arrived and may stop early without desynchronising the
 * connection. */
static int fetch_rows(mc_db_conn *c, MYSQL_STMT *st, mc_db_row_fn fn, void *ud, mc_err *err) {
    if (mysql_stmt_store_result(st)) return stmt_error(c, st, err);
    if (!fn) return 0;
    row_buffers rb;
    unsigned ncols = mysql_stmt_field_count(st);
    int rc = row_buffers_init(&rb, ncols, err);
    const char **names = rc == 0 ? calloc(ncols ? ncols : 1, sizeof *names) : NULL;
    MYSQL_RES *meta = mysql_stmt_result_metadata(st);
    MYSQL_FIELD *fields = meta ? mysql_fetch_fields(meta) : NULL;
    for (unsigned i = 0; names && fields && i < ncols; i++) names[i] = fields[i].name;
    if (rc == 0 && !names) rc = mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    if (rc == 0 && mysql_stmt_bind_result(st, rb.bind)) rc = stmt_error(c, st, err);
    while (rc == 0) {
        int f = mysql_stmt_fetch(st);
        if (f == MYSQL_NO_DATA) break;
        if (f == 1) {
            rc = stmt_error(c, st, err);
            break;
        }
        if ((rc = row_buffers_complete(&rb, st, err)) < 0) break;
        mc_db_row row = {.ncols = rb.ncols, .val = rb.val, .len = rb.vlen, .names = names};
        int r = fn(ud, &row, err);
        if (r < 0) rc = -1;
        if (r != 0) break;
    }
    row_buffers_free(&rb);
    free(names);
    if (meta) mysql_free_result(meta);
    return rc;
}

/* Prepares, binds, executes and fetches one statement. *executed tells
 * whether the statement may have reached the server's executor. */
static int run_statement(mc_db_conn *c, const char *sql, const mc_db_param *params, size_t n,
                         mc_db_info *info, mc_db_row_fn fn, void *ud, int *executed, mc_err *err) {
    *executed = 0;
    MYSQL_STMT *st = mysql_stmt_init(c->mysql);
    if (!st) return conn_error(c, err);
    MYSQL_BIND *bind = NULL;
    int rc = -1;
    if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql))) {
        stmt_error(c, st, err);
        goto out;
    }
    if (mysql_stmt_param_count(st) != n) {
        mc_err_set(err, MC_ERR_INVALID, "statement has %lu placeholders but %zu parameters were given",
                   mysql_stmt_param_count(st), n);
        goto out;
    }
    if (n > 0) {
        if (!(bind = calloc(n, sizeof *bind))) {
            mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
            goto out;
        }
        if (bind_params(st, params, n, bind, err) < 0) goto out;
    }
    *executed = 1;
    if (mysql_stmt_execute(st)) {
        stmt_error(c, st, err);
        goto out;
    }
    if (info) {
        info->affected_rows = mysql_stmt_affected_rows(st);
        info->insert_id = mysql_stmt_insert_id(st);
    }
    rc = mysql_stmt_field_count(st) > 0 ? fetch_rows(c, st, fn, ud, err) : 0;
out:
    mysql_stmt_close(st);
    free(bind);
    return rc;
}

static int conn_run(mc_db_conn *c, const char *sql, const mc_db_param *params, size_t n,
                    mc_db_info *info, mc_db_row_fn fn, void *ud, mc_err *err) {
    int first_use = c->reused;
    c->reused = 0;
    if (c->broken)
        return mc_err_set(err, MC_ERR_UNAVAILABLE, "mysql %s connection is broken", c->pool->role);
    int executed;
    int rc = run_statement(c, sql, params, n, info, fn, ud, &executed, err);
    if (rc < 0 && stale_retry(c, first_use, executed, err))
        rc = run_statement(c, sql, params, n, info, fn, ud, &executed, err);
    return rc;
}

int mc_db_conn_exec(mc_db_conn *c, const char *sql, const mc_db_param *params, size_t nparams,
                    mc_db_info *info, mc_err *err) {
    return conn_run(c, sql, params, nparams, info, NULL, NULL, err);
}

int mc_db_conn_query_each(mc_db_conn *c, const char *sql, const mc_db_param *params,
                          size_t nparams, mc_db_row_fn fn, void *ud, mc_err *err) {
    return conn_run(c, sql, params, nparams, NULL, fn, ud, err);
}

/* ---- Collected results ---------------------------------------------------------------- */

static int collect_row(void *ud, const mc_db_row *row, mc_err *err) {
    mc_db_rows *rows = ud;
    rows->ncols = row->ncols;
    size_t total = (rows->nrows + 1) * row->ncols;
    char **val = realloc(rows->val, total * sizeof *val);
    if (val) rows->val = val;
    size_t *len = val ? realloc(rows->len, total * sizeof *len) : NULL;
    if (len) rows->len = len;
    if (!val || !len) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    if (!rows->names && row->names) {
        if (!(rows->names = calloc(row->ncols, sizeof *rows->names)))
            return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        for (size_t i = 0; i < row->ncols; i++)
            if (row->names[i] && !(rows->names[i] = strdup(row->names[i])))
                return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    }
    size_t base = rows->nrows * row->ncols;
    for (size_t i = 0; i < row->ncols; i++) {
        rows->val[base + i] = NULL;
        rows->len[base + i] = row->len[i];
    }
    rows->nrows++;
    for (size_t i = 0; i < row->ncols; i++) {
        if (!row->val[i]) continue;
        char *copy = malloc(row->len[i] + 1);
        if (!copy) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        memcpy(copy, row->val[i], row->len[i] + 1);
        rows->val[base + i] = copy;
    }
    return 0;
}

int mc_db_conn_query(mc_db_conn *c, const char *sql, const mc_db_param *params, size_t nparams,
                     mc_db_rows *rows, mc_err *err) {
    memset(rows, 0, sizeof *rows);
    if (conn_run(c, sql, params, nparams, NULL, collect_row, rows, err) == 0) return 0;
    mc_db_rows_free(rows);
    return -1;
}

const char *mc_db_rows_get(const mc_db_rows *rows, size_t row, size_t col) {
    if (!rows || row >= rows->nrows || col >= rows->ncols) return NULL;
    return rows->val[row * rows->ncols + col];
}

const char *mc_db_rows_named(const mc_db_rows *rows, size_t row, const char *name) {
    if (!rows || !rows->names) return NULL;
    for (size_t i = 0; i < rows->ncols; i++)
        if (rows->names[i] && strcmp(rows->names[i], name) == 0) return mc_db_rows_get(rows, row, i);
    return NULL;
}

void mc_db_rows_free(mc_db_rows *rows) {
    if (!rows) return;
    for (size_t i = 0; rows->names && i < rows->ncols; i++) free(rows->names[i]);
    free(rows->names);
    for (size_t i = 0; i < rows->nrows * rows->ncols; i++) free(rows->val[i]);
    free(rows->val);
    free(rows->len);
    memset(rows, 0, sizeof *rows);
}

/* ---- Statements on the pool ----------------------------------------------------------- */

typedef enum { RUN_EXEC, RUN_EACH, RUN_COLLECT } run_kind;

static int pool_run_once(mc_db *db, mc_db_target target, run_kind kind, const char *sql,
                         const mc_db_param *params, size_t n, void *out, mc_db_row_fn fn,
                         void *ud, int *replica_broke, mc_err *err) {
    mc_db_conn *c = mc_db_acquire(db, target, err);
    if (!c) return -1;
    int rc;
    switch (kind) {
    case RUN_EXEC: rc = mc_db_conn_exec(c, sql, params, n, out, err); break;
    case RUN_EACH: rc = mc_db_conn_query_each(c, sql, params, n, fn, ud, err); break;
    default: rc = mc_db_conn_query(c, sql, params, n, out, err); break;
    }
    *replica_broke = rc < 0 && c->broken && c->pool == &db->replica;
    mc_db_release(c);
    return rc;
}

/* Runs one statement on a pooled connection. A replica that breaks
 * mid-statement is avoided and the statement rerun on the master: rows are
 * stored before any callback runs, so no row was delivered twice. */
static int pool_run(mc_db *db, mc_db_target target, run_kind kind, const char *sql,
                    const mc_db_param *params, size_t n, void *out, mc_db_row_fn fn, void *ud,
                    mc_err *err) {
    mc_err local;
    if (!err) err = &local;
    int replica_broke = 0;
    int rc = pool_run_once(db, target, kind, sql, params, n, out, fn, ud, &replica_broke, err);
    if (rc < 0 && replica_broke) {
        avoid_replica(db, err->msg);
        rc = pool_run_once(db, MC_DB_MASTER, kind, sql, params, n, out, fn, ud, &replica_broke, err);
    }
    return rc;
}

int mc_db_exec(mc_db *db, mc_db_target target, const char *sql, const mc_db_param *params,
               size_t nparams, mc_db_info *info, mc_err *err) {
    return pool_run(db, target, RUN_EXEC, sql, params, nparams, info, NULL, NULL, err);
}

int mc_db_query(mc_db *db, mc_db_target target, const char *sql, const mc_db_param *params,
                size_t nparams, mc_db_rows *rows, mc_err *err) {
    return pool_run(db, target, RUN_COLLECT, sql, params, nparams, rows, NULL, NULL, err);
}

int mc_db_query_each(mc_db *db, mc_db_target target, const char *sql, const mc_db_param *params,
                     size_t nparams, mc_db_row_fn fn, void *ud, mc_err *err) {
    return pool_run(db, target, RUN_EACH, sql, params, nparams, NULL, fn, ud, err);
}

int mc_db_ping(mc_db *db, mc_db_target target, mc_err *err) {
    db_pool *pool = target == MC_DB_REPLICA ? &db->replica : &db->master;
    pthread_mutex_lock(&db->mu);
    int configured = pool->port != 0;
    pthread_mutex_unlock(&db->mu);
    if (!configured) return mc_err_set(err, MC_ERR_NOT_FOUND, "no mysql replica configured");
    mc_db_conn *c = pool_acquire(db, pool, err);
    if (!c) return -1;
    int rc = conn_text_query(c, "DO 1", err);
    mc_db_release(c);
    return rc;
}

/* ---- Transactions ----------------------------------------------------------------------- */

int mc_db_begin(mc_db_conn *c, mc_err *err) {
    if (c->in_tx) return mc_err_set(err, MC_ERR_INVALID, "a transaction is already open");
    if (conn_text_query(c, "START TRANSACTION", err) < 0) return -1;
    c->in_tx = 1;
    return 0;
}

int mc_db_commit(mc_db_conn *c, mc_err *err) {
    if (!c->in_tx) return mc_err_set(err, MC_ERR_INVALID, "no transaction is open");
    if (mysql_commit(c->mysql)) return conn_error(c, err);
    c->in_tx = 0;
    return 0;
}

int mc_db_rollback(mc_db_conn *c, mc_err *err) {
    if (!c->in_tx) return mc_err_set(err, MC_ERR_INVALID, "no transaction is open");
    c->in_tx = 0;
    if (mysql_rollback(c->mysql)) return conn_error(c, err);
    return 0;
}

int mc_db_err_is_tx_conflict(const mc_err *err) {
    return err && (err->status == ER_LOCK_DEADLOCK || err->status == ER_LOCK_WAIT_TIMEOUT);
}

/* 20-80 ms, growing with the attempt: the winner of the lock finishes first */
static void tx_pause(int attempt) {
    unsigned ms = 20u * (unsigned)attempt + (unsigned)(mc_monotonic_ns() % 40);
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

int mc_db_transaction(mc_db *db, mc_db_target target, mc_db_tx_body body, void *arg, mc_err *err) {
    for (int attempt = 1;; attempt++) {
        mc_db_conn *c = mc_db_acquire(db, target, err);
        if (!c) return -1;
        int rc = mc_db_begin(c, err);
        if (rc == 0) rc = body(c, arg, err);
        if (rc == 0) rc = mc_db_commit(c, err);
        mc_db_release(c); /* rolls back what is still open */
        if (rc == 0 || !mc_db_err_is_tx_conflict(err) || attempt == MC_DB_TX_ATTEMPTS) return rc;
        char next[16];
        snprintf(next, sizeof next, "%d", attempt + 1);
        mc_log_kv(MC_LOG_INFO, "mysql transaction conflict: running it again", "error", err->msg,
                  "attempt", next, NULL);
        tx_pause(attempt);
    }
}

/* ---- GTID --------------------------------------------------------------------------------- */

static int copy_single_value(const mc_db_rows *rows, char *dst, size_t cap, const char *what,
                             mc_err *err) {
    const char *v = mc_db_rows_get(rows, 0, 0);
    if (!v) return mc_err_set(err, MC_ERR_REMOTE, "%s is NULL", what);
    if (strlen(v) >= cap) return mc_err_set(err, MC_ERR_INTERNAL, "%s does not fit %zu bytes", what, cap);
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

int mc_db_master_gtid(mc_db *db, char *gtid, size_t len, mc_err *err) {
    mc_db_rows rows;
    if (mc_db_query(db, MC_DB_MASTER, "SELECT @@GLOBAL.gtid_binlog_pos", MC_DB_NO_ARGS, &rows, err) < 0)
        return -1;
    int rc = copy_single_value(&rows, gtid, len, "@@gtid_binlog_pos", err);
    mc_db_rows_free(&rows);
    return rc;
}

int mc_db_conn_last_gtid(mc_db_conn *c, char *gtid, size_t len, mc_err *err) {
    mc_db_rows rows;
    if (mc_db_conn_query(c, "SELECT @@SESSION.last_gtid", MC_DB_NO_ARGS, &rows, err) < 0) return -1;
    int rc = copy_single_value(&rows, gtid, len, "@@last_gtid", err);
    mc_db_rows_free(&rows);
    return rc;
}

int mc_db_wait_replica(mc_db *db, const char *gtid, double timeout_s, mc_err *err) {
    if (!(timeout_s > 0 && timeout_s < db->cfg.read_timeout_s))
        return mc_err_set(err, MC_ERR_INVALID, "replica wait timeout %.3f s must be within (0, %d)",
                          timeout_s, db->cfg.read_timeout_s);
    pthread_mutex_lock(&db->mu);
    int configured = db->replica.port != 0;
    pthread_mutex_unlock(&db->mu);
    if (!configured) return 0;

    mc_db_conn *c = pool_acquire(db, &db->replica, err);
    if (!c) return -1;
    mc_db_rows rows;
    int rc = mc_db_conn_query(c, "SELECT MASTER_GTID_WAIT(?, ?)",
                              MC_DB_ARGS(mc_db_str(gtid), mc_db_f64(timeout_s)), &rows, err);
    mc_db_release(c);
    if (rc < 0) return mc_err_wrap(err, "wait for replica to reach gtid %s", gtid);
    const char *v = mc_db_rows_get(&rows, 0, 0);
    if (!v || strcmp(v, "0") != 0)
        rc = mc_err_set(err, MC_ERR_UNAVAILABLE, "replica did not reach gtid %s within %.3f s",
                        gtid, timeout_s);
    mc_db_rows_free(&rows);
    return rc;
}
