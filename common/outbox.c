/* outbox.c — the transactional outbox (see outbox.h). The publisher takes a
 * batch of unpublished rows in one transaction (SELECT ... FOR UPDATE SKIP
 * LOCKED), produces each synchronously (idempotent producer, acks=all) and
 * stamps published_at in the same transaction. A crash between the broker's
 * ack and the commit re-publishes the same payload later. */
#include "common/outbox.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/periodic.h"

#define OUTBOX_BATCH "50"
#define OUTBOX_PRODUCE_TIMEOUT_MS 10000

struct mc_outbox_publisher {
    mc_db *db;
    mc_kafka_producer *kafka;
    mc_periodic *thread;
};

int mc_outbox_add(mc_db_conn *c, const char *topic, const char *key, const char *payload,
                  mc_err *err) {
    return mc_db_conn_exec(c, "INSERT INTO outbox (topic, msg_key, payload) VALUES (?, ?, ?)",
                           MC_DB_ARGS(mc_db_str(topic), key ? mc_db_str(key) : mc_db_null(),
                                      mc_db_str(payload)),
                           NULL, err);
}

static int publish_row(mc_outbox_publisher *p, mc_db_conn *c, const mc_db_rows *rows, size_t i,
                       mc_err *err) {
    const char *id = mc_db_rows_get(rows, i, 0), *topic = mc_db_rows_get(rows, i, 1),
               *key = mc_db_rows_get(rows, i, 2), *payload = mc_db_rows_get(rows, i, 3);
    if (mc_kafka_produce_sync(p->kafka, topic, key, key ? strlen(key) : 0, payload,
                              strlen(payload), NULL, 0, OUTBOX_PRODUCE_TIMEOUT_MS, NULL, err) < 0)
        return mc_err_wrap(err, "publishing outbox row %s to %s", id, topic);
    return mc_db_conn_exec(c, "UPDATE outbox SET published_at = CURRENT_TIMESTAMP(6) WHERE id = ?",
                           MC_DB_ARGS(mc_db_str(id)), NULL, err);
}

/* One batch in one transaction; returns the rows published, or -1. */
static int publish_batch(mc_outbox_publisher *p, mc_err *err) {
    mc_db_conn *c = mc_db_acquire(p->db, MC_DB_MASTER, err);
    if (!c) return -1;
    mc_db_rows rows = {0};
    int rc = mc_db_begin(c, err);
    if (rc == 0)
        rc = mc_db_conn_query(c,
                              "SELECT id, topic, msg_key, payload FROM outbox WHERE published_at "
                              "IS NULL ORDER BY id LIMIT " OUTBOX_BATCH " FOR UPDATE SKIP LOCKED",
                              MC_DB_NO_ARGS, &rows, err);
    size_t done = 0;
    for (; rc == 0 && done < rows.nrows; done++) rc = publish_row(p, c, &rows, done, err);
    /* Rows published before a failure are still stamped. */
    mc_err commit_err = {0};
    if ((done > 0 || rc == 0) && mc_db_commit(c, &commit_err) < 0 && rc == 0) {
        *err = commit_err;
        rc = -1;
    }
    mc_db_rows_free(&rows);
    mc_db_release(c);
    return rc < 0 ? -1 : (int)done;
}

static int publish_step(void *ctx) {
    mc_err err = {0};
    int n = publish_batch(ctx, &err);
    if (n < 0) mc_log_kv(MC_LOG_WARN, "outbox publish failed; will retry", "error", err.msg, NULL);
    return n;
}

mc_outbox_publisher *mc_outbox_publisher_start(mc_db *db, mc_kafka_producer *kafka,
                                               long interval_ms, mc_err *err) {
    mc_outbox_publisher *p = calloc(1, sizeof *p);
    if (!p) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory"), NULL;
    p->db = db;
    p->kafka = kafka;
    p->thread = mc_periodic_start("outbox", interval_ms, publish_step, p, err);
    if (!p->thread) {
        free(p);
        return NULL;
    }
    return p;
}

void mc_outbox_publisher_nudge(mc_outbox_publisher *p) {
    if (p) mc_periodic_nudge(p->thread);
}

void mc_outbox_publisher_stop(mc_outbox_publisher *p) {
    if (!p) return;
    mc_periodic_stop(p->thread);
    free(p);
}
