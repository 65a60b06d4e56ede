/* outbox.c — publishes the transactional outbox to Kafka.
 *
 * Rows are written in the same transaction as the state they announce
 * (complete.c). This thread takes unpublished rows with SELECT ... FOR
 * UPDATE SKIP LOCKED (so replicas publishing at once split the rows instead
 * of doubling them), produces each synchronously (idempotent producer,
 * acks=all) and stamps published_at in the same transaction. It runs at
 * start, so rows left by a crash are replayed; a crash between the broker's
 * ack and the commit re-publishes the same message with the same job id —
 * at least once, and consumers dedup by job_id. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "upload/upload.h"

#define BATCH "50"

struct mc_upload_outbox {
    mc_upload_server *srv;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool nudged, stopping;
};

static int publish_row(mc_upload_server *srv, mc_db_conn *c, const mc_db_rows *rows, size_t i,
                       mc_err *err) {
    const char *id = mc_db_rows_get(rows, i, 0), *topic = mc_db_rows_get(rows, i, 1),
               *key = mc_db_rows_get(rows, i, 2), *payload = mc_db_rows_get(rows, i, 3);
    if (mc_kafka_produce_sync(srv->kafka, topic, key, key ? strlen(key) : 0, payload,
                              strlen(payload), NULL, 0, 10000, NULL, err) < 0)
        return mc_err_wrap(err, "publishing outbox row %s to %s", id, topic);
    return mc_db_conn_exec(c, "UPDATE outbox SET published_at = CURRENT_TIMESTAMP(6) WHERE id = ?",
                           MC_DB_ARGS(mc_db_str(id)), NULL, err);
}

/* One batch in one transaction; returns the rows published, or -1. */
static int publish_batch(mc_upload_server *srv, mc_err *err) {
    mc_db_conn *c = mc_db_acquire(srv->svc.db, MC_DB_MASTER, err);
    if (!c) return -1;
    mc_db_rows rows = {0};
    int rc = mc_db_begin(c, err);
    if (rc == 0)
        rc = mc_db_conn_query(c,
                              "SELECT id, topic, msg_key, payload FROM outbox WHERE published_at "
                              "IS NULL ORDER BY id LIMIT " BATCH " FOR UPDATE SKIP LOCKED",
                              MC_DB_NO_ARGS, &rows, err);
    size_t done = 0;
    for (; rc == 0 && done < rows.nrows; done++) rc = publish_row(srv, c, &rows, done, err);
    /* Rows published before a failure are still stamped. */
    mc_err commit_err = {0};
    if (done > 0 || rc == 0) {
        if (mc_db_commit(c, &commit_err) < 0 && rc == 0) {
            *err = commit_err;
            rc = -1;
        }
    }
    mc_db_rows_free(&rows);
    mc_db_release(c);
    return rc < 0 ? -1 : (int)done;
}

static void wait_for_work(mc_upload_outbox *o) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += o->srv->set.sweep_interval_s;
    pthread_mutex_lock(&o->lock);
    while (!o->nudged && !o->stopping)
        if (pthread_cond_timedwait(&o->wake, &o->lock, &until) != 0) break;
    o->nudged = false;
    pthread_mutex_unlock(&o->lock);
}

static bool stopping(mc_upload_outbox *o) {
    pthread_mutex_lock(&o->lock);
    bool s = o->stopping;
    pthread_mutex_unlock(&o->lock);
    return s;
}

static void *outbox_main(void *arg) {
    mc_upload_outbox *o = arg;
    while (!stopping(o)) {
        mc_err err = {0};
        int n;
        while ((n = publish_batch(o->srv, &err)) > 0 && !stopping(o)) continue;
        if (n < 0) mc_log_kv(MC_LOG_WARN, "outbox publish failed; will retry", "error", err.msg, NULL);
        wait_for_work(o);
    }
    return NULL;
}

mc_upload_outbox *mc_upload_outbox_start(mc_upload_server *srv, mc_err *err) {
    mc_upload_outbox *o = calloc(1, sizeof *o);
    if (!o) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory"), NULL;
    o->srv = srv;
    pthread_mutex_init(&o->lock, NULL);
    pthread_cond_init(&o->wake, NULL);
    if (pthread_create(&o->thread, NULL, outbox_main, o) != 0) {
        free(o);
        return mc_err_set(err, MC_ERR_INTERNAL, "cannot start the outbox thread"), NULL;
    }
    return o;
}

void mc_upload_outbox_nudge(mc_upload_outbox *o) {
    if (!o) return;
    pthread_mutex_lock(&o->lock);
    o->nudged = true;
    pthread_cond_signal(&o->wake);
    pthread_mutex_unlock(&o->lock);
}

void mc_upload_outbox_stop(mc_upload_outbox *o) {
    if (!o) return;
    pthread_mutex_lock(&o->lock);
    o->stopping = true;
    pthread_cond_signal(&o->wake);
    pthread_mutex_unlock(&o->lock);
    pthread_join(o->thread, NULL);
    pthread_mutex_destroy(&o->lock);
    pthread_cond_destroy(&o->wake);
    free(o);
}
