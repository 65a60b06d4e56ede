/* mysql.h — the MySQL/MariaDB client every mcloud service uses.
 *
 * One mc_db holds two small connection pools: one to the master and one to
 * the replica. Writes, and reads that must see the caller's own writes, go to
 * the master (MC_DB_MASTER); other reads go to the replica (MC_DB_REPLICA),
 * which falls back to the master while the replica is unreachable or, when
 * a lag bound is set, lagging. Every statement is a prepared statement with
 * bound parameters: values are never pasted into SQL text.
 *
 *     mc_db_rows rows;
 *     if (mc_db_query(db, MC_DB_REPLICA, "SELECT title FROM videos WHERE id = ?",
 *                     MC_DB_ARGS(mc_db_str(id)), &rows, &err) < 0) return -1;
 *
 * The master and replica addresses can be changed while running
 * (mc_db_set_master): pooled connections are drained and new ones go to the
 * new address. All functions are thread-safe; an mc_db_conn belongs to the
 * thread that acquired it until it is released. */
#ifndef MCLOUD_MYSQL_H
#define MCLOUD_MYSQL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/config.h"
#include "common/error.h"

#define MC_DB_ADDR_MAX 256
#define MC_DB_GTID_MAX 512

typedef struct mc_db_config {
    char master[MC_DB_ADDR_MAX];  /* "host:port" (port defaults to 3306) */
    char replica[MC_DB_ADDR_MAX]; /* "host:port", or "" for no replica */
    char user[128];
    char password[128];
    char database[128];
    int pool_size;                /* connections per server; default 4 */
    int connect_timeout_s;        /* default 5 */
    int read_timeout_s;           /* also the write timeout; default 30 */
    int replica_max_lag_s;        /* avoid a replica further behind; 0 = don't check */
    int replica_recheck_s;        /* how long an unreachable or lagging replica is
                                     avoided, and how often lag is checked; default 5 */
    char bind_addr[64];           /* local address connections come from ("": the
                                     kernel's choice); mcloud-dbmon sets its own so a
                                     network fault can cut the monitor alone */
} mc_db_config;

/* Fills cfg with the defaults: master 127.0.0.1:13306 (the local stack), no
 * replica, user and database "mcloud", empty password. */
void mc_db_config_defaults(mc_db_config *cfg);
/* The mysql.* settings of the configuration (environment > Redis > default,
 * see config.h). Fails (MC_ERR_INVALID) on a malformed value. */
int mc_db_config_from(mc_config *config, mc_db_config *cfg, mc_err *err);

typedef enum mc_db_target {
    MC_DB_MASTER = 0,  /* writes, and reads that must see the caller's writes */
    MC_DB_REPLICA      /* reads that tolerate replication delay */
} mc_db_target;

typedef struct mc_db mc_db;
typedef struct mc_db_conn mc_db_conn;

/* Validates cfg and creates the pools; connections are opened on first use,
 * so a service can start while MySQL is down. */
mc_db *mc_db_open(const mc_db_config *cfg, mc_err *err);
/* Closes every pooled connection. All acquired connections must have been
 * released. NULL is ignored. */
void mc_db_close(mc_db *db);

/* Points the pool at a new server without a restart: idle connections are
 * closed at once, connections in use are closed when released, and new ones
 * go to addr. An empty or NULL replica address means "no replica". */
int mc_db_set_master(mc_db *db, const char *addr, mc_err *err);
int mc_db_set_replica(mc_db *db, const char *addr, mc_err *err);
/* Follows a changed setting: mysql.master / mysql.replica move the pools to
 * the address now in config; other names are ignored (returns 0). */
int mc_db_apply_setting(mc_db *db, mc_config *config, const char *name, mc_err *err);

/* ---- Parameters ---------------------------------------------------------- */

typedef enum mc_db_param_type {
    MC_DB_PARAM_NULL = 0,
    MC_DB_PARAM_TEXT,
    MC_DB_PARAM_BLOB,
    MC_DB_PARAM_I64,
    MC_DB_PARAM_U64,
    MC_DB_PARAM_F64
} mc_db_param_type;

typedef struct mc_db_param {
    mc_db_param_type type;
    const void *data;  /* TEXT / BLOB */
    size_t len;
    int64_t i64;
    uint64_t u64;
    double f64;
} mc_db_param;

static inline mc_db_param mc_db_null(void) {
    return (mc_db_param){.type = MC_DB_PARAM_NULL};
}
/* A NULL string binds SQL NULL. */
static inline mc_db_param mc_db_str(const char *s) {
    if (!s) return mc_db_null();
    return (mc_db_param){.type = MC_DB_PARAM_TEXT, .data = s, .len = strlen(s)};
}
static inline mc_db_param mc_db_strn(const char *s, size_t len) {
    return (mc_db_param){.type = MC_DB_PARAM_TEXT, .data = s, .len = len};
}
static inline mc_db_param mc_db_blob(const void *data, size_t len) {
    return (mc_db_param){.type = MC_DB_PARAM_BLOB, .data = data, .len = len};
}
static inline mc_db_param mc_db_i64(int64_t v) {
    return (mc_db_param){.type = MC_DB_PARAM_I64, .i64 = v};
}
static inline mc_db_param mc_db_u64(uint64_t v) {
    return (mc_db_param){.type = MC_DB_PARAM_U64, .u64 = v};
}
static inline mc_db_param mc_db_f64(double v) {
    return (mc_db_param){.type = MC_DB_PARAM_F64, .f64 = v};
}

/* Expands to the (params, nparams) pair: MC_DB_ARGS(mc_db_str(id), mc_db_i64(n)).
 * MC_DB_NO_ARGS for a statement without placeholders. */
#define MC_DB_ARGS(...)                                   \
    ((const mc_db_param[]){__VA_ARGS__}),                 \
        (sizeof((const mc_db_param[]){__VA_ARGS__}) / sizeof(mc_db_param))
#define MC_DB_NO_ARGS NULL, 0

/* ---- Results ------------------------------------------------------------- */

/* What a statement changed. */
typedef struct mc_db_info {
    uint64_t affected_rows;  /* rows actually changed, not merely matched by WHERE */
    uint64_t insert_id;  /* AUTO_INCREMENT value of an INSERT, else 0 */
} mc_db_info;

/* A whole result set as text, row-major. A SQL NULL is a NULL pointer;
 * every other value is NUL-terminated and len[] holds its byte length. */
typedef struct mc_db_rows {
    size_t nrows;
    size_t ncols;
    char **val;
    size_t *len;
    char **names;  /* column names (ncols entries), NULL before the first row */
} mc_db_rows;

/* The value at (row, col), or NULL for SQL NULL or outside the result. */
const char *mc_db_rows_get(const mc_db_rows *rows, size_t row, size_t col);
/* The value of the column called name (e.g. SHOW SLAVE STATUS's
 * "Gtid_IO_Pos"), or NULL for SQL NULL, no such column or no such row. */
const char *mc_db_rows_named(const mc_db_rows *rows, size_t row, const char *name);
void mc_db_rows_free(mc_db_rows *rows);

/* One row handed to a mc_db_query_each callback; valid during the call. */
typedef struct mc_db_row {
    size_t ncols;
    const char *const *val;  /* NULL entries are SQL NULL */
    const size_t *len;
    const char *const *names;  /* column names; an entry may be NULL */
} mc_db_row;

/* Returns 0 to continue, 1 to stop early (not an error), or -1 after filling
 * err to stop with that error. */
typedef int (*mc_db_row_fn)(void *ud, const mc_db_row *row, mc_err *err);

/* ---- Statements on the pool ------------------------------------------------
 *
 * Each call takes a connection for the target, runs one statement and gives
 * the connection back. info and rows may be NULL. Errors: MC_ERR_UNAVAILABLE
 * when the server cannot be reached (or the connection broke), MC_ERR_CONFLICT
 * on a duplicate key, MC_ERR_AUTH on bad credentials, otherwise MC_ERR_REMOTE
 * with err->status = the MySQL error number and err->code = its SQLSTATE. */

int mc_db_exec(mc_db *db, mc_db_target target, const char *sql,
               const mc_db_param *params, size_t nparams, mc_db_info *info, mc_err *err);
/* rows is filled on success and must be freed with mc_db_rows_free. */
int mc_db_query(mc_db *db, mc_db_target target, const char *sql,
                const mc_db_param *params, size_t nparams, mc_db_rows *rows, mc_err *err);
int mc_db_query_each(mc_db *db, mc_db_target target, const char *sql,
                     const mc_db_param *params, size_t nparams,
                     mc_db_row_fn fn, void *ud, mc_err *err);
/* Checks that the target's own server answers (no fallback from replica to
 * master), opening a connection if none is pooled: for readiness checks.
 * MC_ERR_NOT_FOUND for the replica when none is configured. */
int mc_db_ping(mc_db *db, mc_db_target target, mc_err *err);

/* ---- One connection: transactions and session state -----------------------
 *
 *     mc_db_conn *c = mc_db_acquire(db, MC_DB_MASTER, &err);
 *     if (!c) return -1;
 *     int rc = mc_db_begin(c, &err);
 *     if (rc == 0) rc = mc_db_conn_exec(c, "INSERT ...", MC_DB_ARGS(...), NULL, &err);
 *     if (rc == 0) rc = mc_db_commit(c, &err);
 *     mc_db_release(c);   // rolls back if the transaction is still open
 *     return rc;
 */

/* A connection to the target (a replica request may get a master connection,
 * as routing says). Waits while the pool is full, at most the read timeout. */
mc_db_conn *mc_db_acquire(mc_db *db, mc_db_target target, mc_err *err);
/* Gives the connection back. An open transaction is rolled back; a broken
 * connection, or one to an address that has since been replaced, is closed.
 * NULL is ignored. */
void mc_db_release(mc_db_conn *conn);

int mc_db_conn_exec(mc_db_conn *conn, const char *sql, const mc_db_param *params,
                    size_t nparams, mc_db_info *info, mc_err *err);
int mc_db_conn_query(mc_db_conn *conn, const char *sql, const mc_db_param *params,
                     size_t nparams, mc_db_rows *rows, mc_err *err);
int mc_db_conn_query_each(mc_db_conn *conn, const char *sql, const mc_db_param *params,
                          size_t nparams, mc_db_row_fn fn, void *ud, mc_err *err);

int mc_db_begin(mc_db_conn *conn, mc_err *err);
int mc_db_commit(mc_db_conn *conn, mc_err *err);
int mc_db_rollback(mc_db_conn *conn, mc_err *err);

/* One transaction, retried when the server chose it as a deadlock victim
 * (1213) or a lock wait timed out (1205): both are normal under concurrent
 * writers (InnoDB's own advice is to retry), and the server kept nothing of
 * the victim. body runs on a fresh transaction on a connection of target; on
 * 0 the transaction is committed. On a deadlock or lock wait timeout (from
 * body or the commit) it is rolled back and body runs again, up to
 * MC_DB_TX_ATTEMPTS times with a short jittered pause; any other error rolls
 * back and is returned as is. body may run more than once: it must only
 * touch the database, and reset its outputs at its start. */
#define MC_DB_TX_ATTEMPTS 5
typedef int (*mc_db_tx_body)(mc_db_conn *conn, void *arg, mc_err *err);
int mc_db_transaction(mc_db *db, mc_db_target target, mc_db_tx_body body, void *arg, mc_err *err);
/* The error is a deadlock or lock wait timeout (what mc_db_transaction retries). */
int mc_db_err_is_tx_conflict(const mc_err *err);

/* ---- Read-your-writes through the replica ------------------------------------
 *
 * After a write: mc_db_master_gtid() (or mc_db_conn_last_gtid() on the
 * connection that wrote) gives a position that includes it;
 * mc_db_wait_replica() blocks until the replica has applied that position.
 * If it fails, read from the master instead. */

/* The master's @@gtid_binlog_pos: every transaction committed so far. */
int mc_db_master_gtid(mc_db *db, char *gtid, size_t len, mc_err *err);
/* @@last_gtid of this connection: its own last committed transaction. */
int mc_db_conn_last_gtid(mc_db_conn *conn, char *gtid, size_t len, mc_err *err);
/* Waits with MASTER_GTID_WAIT() on a replica connection. Returns 0 at once
 * when no replica is configured (replica reads then go to the master), and
 * MC_ERR_UNAVAILABLE when the replica is unreachable or did not get there
 * within timeout_s, which must be below the read timeout. */
int mc_db_wait_replica(mc_db *db, const char *gtid, double timeout_s, mc_err *err);

#endif
