/* sweeper.c — the upload service's background duties, on one common/periodic thread:
 * expiring uploads whose time ran out (their multipart uploads aborted,
 * staging objects deleted, the upload marked expired and its video failed)
 * and finishing completions that a crash cut short (offset == length but
 * still active). Each upload is handled under its write lock, so a sweep
 * never races a request; an upload whose lock is held is left for the next
 * sweep. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "upload/upload.h"

typedef int (*sweep_fn)(mc_upload_server *srv, mc_s3 *s3, mc_upload *u, mc_err *err);

static int expire(mc_upload_server *srv, mc_s3 *s3, mc_upload *u, mc_err *err) {
    if (u->status != MC_UPLOAD_ACTIVE || u->expires_at > time(NULL)) return 0;
    mc_upload_store_abort(s3, u);
    mc_db_conn *c = mc_db_acquire(srv->svc.db, MC_DB_MASTER, err);
    int rc = c ? mc_db_begin(c, err) : -1;
    if (rc == 0)
        rc = mc_db_conn_exec(c, "UPDATE uploads SET status = 'expired' WHERE id = ? AND status = 'active'",
                             MC_DB_ARGS(mc_db_str(u->id)), NULL, err);
    if (rc == 0 && u->video_id[0])
        rc = mc_db_conn_exec(c,
                             "UPDATE videos SET status = 'failed', failure_reason = 'upload "
                             "expired before it was finished' WHERE id = ? AND status = 'uploading'",
                             MC_DB_ARGS(mc_db_str(u->video_id)), NULL, err);
    if (rc == 0) rc = mc_db_commit(c, err);
    mc_db_release(c);
    mc_upload_state_forget(srv, u->id);
    if (rc == 0) mc_log_kv(MC_LOG_INFO, "upload expired", "upload", u->id, NULL);
    return rc;
}

static int finish(mc_upload_server *srv, mc_s3 *s3, mc_upload *u, mc_err *err) {
    if (u->status != MC_UPLOAD_ACTIVE || u->length < 0 || u->offset != u->length) return 0;
    return mc_upload_complete(srv, s3, u, err);
}

/* Runs fn on one upload under its lock; a held lock is not an error. */
static void sweep_one(mc_upload_server *srv, mc_s3 *s3, const char *id, sweep_fn fn) {
    mc_err err = {0};
    mc_lock lock = {0};
    if (mc_upload_lock(srv, id, &lock, &err) < 0) return;
    mc_upload u;
    mc_upload_state_forget(srv, id); /* decide on the record, not the cache */
    if (mc_upload_state_load(srv, id, &u, &err) == 0) {
        if (fn(srv, s3, &u, &err) < 0)
            mc_log_kv(MC_LOG_WARN, "sweep of an upload failed", "upload", id, "error", err.msg, NULL);
        mc_upload_free(&u);
    }
    mc_upload_unlock(srv, &lock);
}

static void sweep_query(mc_upload_server *srv, mc_s3 *s3, const char *sql, sweep_fn fn) {
    mc_db_rows rows;
    mc_err err = {0};
    if (mc_db_query(srv->svc.db, MC_DB_MASTER, sql, MC_DB_NO_ARGS, &rows, &err) < 0) {
        mc_log_kv(MC_LOG_WARN, "sweep query failed", "error", err.msg, NULL);
        return;
    }
    for (size_t i = 0; i < rows.nrows; i++) sweep_one(srv, s3, mc_db_rows_get(&rows, i, 0), fn);
    mc_db_rows_free(&rows);
}

static void sweep(mc_upload_server *srv) {
    mc_err err = {0};
    mc_s3 *s3 = mc_s3_pool_get(srv->s3, &err);
    if (!s3) return;
    sweep_query(srv, s3,
                "SELECT id FROM uploads WHERE status = 'active' AND length_bytes IS NOT NULL AND "
                "offset_bytes = length_bytes LIMIT 100",
                finish);
    sweep_query(srv, s3,
                "SELECT id FROM uploads WHERE status = 'active' AND expires_at < "
                "CURRENT_TIMESTAMP(6) LIMIT 100",
                expire);
    mc_s3_pool_put(srv->s3, s3);
}

static int sweep_step(void *ctx) {
    sweep(ctx);
    return 0;
}

mc_periodic *mc_upload_sweeper_start(mc_upload_server *srv, mc_err *err) {
    return mc_periodic_start("sweeper", srv->set.sweep_interval_s * 1000L, sweep_step, srv, err);
}
