/* sweeper.c — the upload service's background duties, on one common/periodic thread:
 * expiring uploads whose time ran out (their multipart uploads aborted,
 * staging objects deleted, the upload marked expired and its video failed)
 * and finishing completions that a crash cut short (offset == length but
 * still active). Each upload is handled under its write lock, so a sweep
 * never races a request; an upload whose lock is held is left for the next
 * sweep.
 *
 * It also aborts orphaned S3 multipart uploads: one under sources/ or
 * uploads/ that no active upload owns (a process killed between
 * CreateMultipartUpload and the insert of its row leaves one that no
 * expiry would ever find) and that was started more than
 * upload.orphan_age_s ago (so a creation in flight is never hit). Checked
 * every orphan_age_s / 2 at most. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "upload/upload.h"

typedef int (*sweep_fn)(mc_upload_server *srv, mc_s3 *s3, mc_upload *u, mc_err *err);

static int expire(mc_upload_server *srv, mc_s3 *s3, mc_upload *u, mc_err *err) {
    if (u->status != MC_UPLOAD_ACTIVE || u->expires_at > time(NULL)) return 0;
    mc_upload_store_abort(s3, u);
    int rc = mc_upload_state_end(srv, u, "expired", true, "upload expired before it was finished", err);
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

/* Whether an active upload owns the multipart upload (key, upload_id); a key
 * of another shape is not the upload service's and counts as owned. */
static bool owned(mc_upload_server *srv, const char *key, const char *upload_id, mc_err *err) {
    char id[MC_S3_KEY_MAX];
    const char *sql;
    if (sscanf(key, "uploads/%1000[^/]/data", id) == 1) {
        sql = "SELECT COUNT(*) FROM uploads WHERE id = ? AND status = 'active' AND s3_upload_id = ?";
    } else if (sscanf(key, "sources/%*[^/]/%1000[^/]/source", id) == 1) {
        sql = "SELECT COUNT(*) FROM uploads WHERE video_id = ? AND status = 'active' AND "
              "s3_upload_id = ?";
    } else {
        return true;
    }
    mc_db_rows rows = {0};
    if (mc_db_query(srv->svc.db, MC_DB_MASTER, sql, MC_DB_ARGS(mc_db_str(id), mc_db_str(upload_id)),
                    &rows, err) < 0)
        return true;
    bool found = rows.nrows == 1 && strcmp(mc_db_rows_get(&rows, 0, 0), "0") != 0;
    mc_db_rows_free(&rows);
    return found;
}

static void abort_orphan(mc_upload_server *srv, mc_s3 *s3, const mc_s3_multipart_entry *e,
                         time_t now) {
    mc_err err = {0};
    if (!e->initiated_time || now - e->initiated_time < srv->set.orphan_age_s) return;
    if (owned(srv, e->key, e->upload_id, &err)) {
        if (err.kind != MC_ERR_NONE)
            mc_log_kv(MC_LOG_WARN, "orphan check failed", "key", e->key, "error", err.msg, NULL);
        return;
    }
    if (mc_s3_abort_multipart_upload(s3, e->key, e->upload_id, &err) < 0 && err.kind != MC_ERR_NOT_FOUND)
        mc_log_kv(MC_LOG_WARN, "aborting an orphaned multipart upload failed", "key", e->key,
                  "error", err.msg, NULL);
    else
        mc_log_kv(MC_LOG_INFO, "orphaned multipart upload aborted", "key", e->key, "initiated",
                  e->initiated, NULL);
}

/* Lists the whole bucket's multipart uploads: MinIO lists by prefix only
 * for an exact key, so owned() picks the service's keys. */
static void abort_orphans(mc_upload_server *srv, mc_s3 *s3) {
    mc_err err = {0};
    char *key_marker = NULL, *id_marker = NULL;
    time_t now = time(NULL);
    for (int page = 0; page < 100; page++) {
        mc_s3_multipart_list l;
        if (mc_s3_list_multipart_uploads(s3, NULL, key_marker, id_marker, &l, &err) < 0) {
            mc_log_kv(MC_LOG_WARN, "listing multipart uploads failed", "error", err.msg, NULL);
            break;
        }
        for (size_t i = 0; i < l.count; i++) abort_orphan(srv, s3, &l.uploads[i], now);
        free(key_marker);
        free(id_marker);
        key_marker = l.next_key_marker;
        id_marker = l.next_upload_id_marker;
        l.next_key_marker = l.next_upload_id_marker = NULL;
        bool more = l.truncated && key_marker;
        mc_s3_multipart_list_free(&l);
        if (!more) break;
    }
    free(key_marker);
    free(id_marker);
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
    static time_t last_orphan_sweep; /* the sweeper is one thread */
    time_t now = time(NULL);
    if (now - last_orphan_sweep >= srv->set.orphan_age_s / 2) {
        last_orphan_sweep = now;
        abort_orphans(srv, s3);
    }
    mc_s3_pool_put(srv->s3, s3);
}

static int sweep_step(void *ctx) {
    sweep(ctx);
    return 0;
}

mc_periodic *mc_upload_sweeper_start(mc_upload_server *srv, mc_err *err) {
    return mc_periodic_start("sweeper", srv->set.sweep_interval_s * 1000L, sweep_step, srv, err);
}
