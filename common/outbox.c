/* outbox.c — the transactional outbox (see outbox.h). The publisher takes a
 * batch of unpublished rows in one transaction (SELECT ... FOR UPDATE SKIP
 * LOCKED), produces each synchronously (idempotent producer, acks=all) and
 * stamps published_at in the same transaction.
 *
 * Exactly once across a crash: before producing a row the publisher records
 * the attempt in outbox_attempts, committed at once on another connection
 * (the batch's row locks are not released by it). The stamping transaction
 * deletes the record. So a record beside an unpublished row says that an
 * earlier attempt may have reached the broker: its process died between the
 * broker's ack and the commit, or gave up waiting for the delivery report.
 * Such a row is looked up on its topic (mc_kafka_find, from the attempt's
 * time minus a clock-skew margin) and only stamped when the message is
 * there; produced again only when it is not. The publisher's own producer
 * gives a message up after OUTBOX_MESSAGE_TIMEOUT, shorter than its wait
 * for the delivery report, so a message it stopped waiting for can never
 * arrive after that lookup. */
#include "common/outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/periodic.h"

#define OUTBOX_BATCH "50"
#define OUTBOX_MESSAGE_TIMEOUT "10000" /* librdkafka's message.timeout.ms */
#define OUTBOX_PRODUCE_TIMEOUT_MS 15000
#define OUTBOX_LOOKUP_TIMEOUT_MS 10000
#define OUTBOX_SKEW_MARGIN_MS (5 * 60 * 1000) /* between the attempting host and this one */

struct mc_outbox_publisher {
    mc_outbox_options o;
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

typedef struct outbox_row {
    const char *id, *topic, *key, *payload;
} outbox_row;

/* Records this attempt at row id and returns 0, or the time of an earlier
 * attempt that is still recorded (ms since the epoch), or -1. One INSERT in
 * the common case; the earlier attempt is read only on its duplicate key.
 * On the pool (autocommit), outside the batch's transaction. */
static int64_t record_attempt(mc_outbox_publisher *p, const char *id, mc_err *err) {
    mc_err dup = {0};
    if (mc_db_exec(p->o.db, MC_DB_MASTER, "INSERT INTO outbox_attempts (outbox_id, attempted_ms) VALUES (?, ?)",
                   MC_DB_ARGS(mc_db_str(id), mc_db_i64((int64_t)time(NULL) * 1000)), NULL, &dup) == 0)
        return 0;
    if (dup.kind != MC_ERR_CONFLICT) {
        *err = dup;
        return -1;
    }
    mc_db_rows rows = {0};
    if (mc_db_query(p->o.db, MC_DB_MASTER, "SELECT attempted_ms FROM outbox_attempts WHERE outbox_id = ?",
                    MC_DB_ARGS(mc_db_str(id)), &rows, err) < 0)
        return -1;
    int64_t at = rows.nrows ? strtoll(mc_db_rows_get(&rows, 0, 0), NULL, 10) : 0;
    mc_db_rows_free(&rows);
    return at > 0 ? at : 0;
}

/* Whether an earlier attempt at r reached its topic: 1, 0, or -1. */
static int already_on_topic(mc_outbox_publisher *p, const outbox_row *r, int64_t attempted_ms, mc_err *err) {
    int found = mc_kafka_find(&p->o.kafka, r->topic, attempted_ms - OUTBOX_SKEW_MARGIN_MS, r->key,
                              r->key ? strlen(r->key) : 0, r->payload, strlen(r->payload),
                              OUTBOX_LOOKUP_TIMEOUT_MS, err);
    if (found < 0) return mc_err_wrap(err, "looking up outbox row %s on %s (an earlier attempt is in doubt)",
                                      r->id, r->topic);
    mc_log_kv(found ? MC_LOG_WARN : MC_LOG_INFO,
              found ? "outbox row was already published by an interrupted attempt; stamping it, not producing it again"
                    : "outbox row's interrupted attempt never reached the topic; producing it",
              "outbox_id", r->id, "topic", r->topic, "key", r->key ? r->key : "", NULL);
    return found;
}

/* In the batch's transaction: the row is published, its attempt done. */
static int stamp(mc_db_conn *c, const char *id, mc_err *err) {
    if (mc_db_conn_exec(c, "UPDATE outbox SET published_at = CURRENT_TIMESTAMP(6) WHERE id = ?",
                        MC_DB_ARGS(mc_db_str(id)), NULL, err) < 0)
        return -1;
    return mc_db_conn_exec(c, "DELETE FROM outbox_attempts WHERE outbox_id = ?", MC_DB_ARGS(mc_db_str(id)),
                           NULL, err);
}

static int publish_row(mc_outbox_publisher *p, mc_db_conn *c, const mc_db_rows *rows, size_t i,
                       mc_err *err) {
    outbox_row r = {mc_db_rows_get(rows, i, 0), mc_db_rows_get(rows, i, 1), mc_db_rows_get(rows, i, 2),
                    mc_db_rows_get(rows, i, 3)};
    int64_t attempted = record_attempt(p, r.id, err);
    if (attempted < 0) return -1;
    if (attempted > 0) {
        int found = already_on_topic(p, &r, attempted, err);
        if (found < 0) return -1;
        if (found) return stamp(c, r.id, err);
    }
    if (mc_kafka_produce_sync(p->kafka, r.topic, r.key, r.key ? strlen(r.key) : 0, r.payload,
                              strlen(r.payload), NULL, 0, OUTBOX_PRODUCE_TIMEOUT_MS, NULL, err) < 0)
        return mc_err_wrap(err, "publishing outbox row %s to %s", r.id, r.topic);
    return stamp(c, r.id, err);
}

/* The fault-injection pause between the broker's acks and the commit. */
static void commit_delay(const mc_outbox_publisher *p, size_t published) {
    if (p->o.commit_delay_ms <= 0 || published == 0) return;
    char ms[16];
    snprintf(ms, sizeof ms, "%d", p->o.commit_delay_ms);
    mc_log_kv(MC_LOG_WARN, "outbox: pausing before the commit (fault injection)", "ms", ms, NULL);
    usleep((useconds_t)p->o.commit_delay_ms * 1000);
}

/* One batch in one transaction; returns the rows published, or -1. */
static int publish_batch(mc_outbox_publisher *p, mc_err *err) {
    mc_db_conn *c = mc_db_acquire(p->o.db, MC_DB_MASTER, err);
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
    commit_delay(p, done);
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

mc_outbox_publisher *mc_outbox_publisher_start(const mc_outbox_options *o, mc_err *err) {
    static const char *const producer_props[] = {"message.timeout.ms=" OUTBOX_MESSAGE_TIMEOUT, NULL};
    mc_outbox_publisher *p = calloc(1, sizeof *p);
    if (!p) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory"), NULL;
    p->o = *o;
    mc_kafka_config kc = o->kafka;
    kc.properties = producer_props;
    if (!(p->kafka = mc_kafka_producer_new(&kc, err))) {
        mc_err_wrap(err, "outbox producer");
        free(p);
        return NULL;
    }
    p->thread = mc_periodic_start("outbox", o->interval_ms, publish_step, p, err);
    if (!p->thread) {
        mc_kafka_producer_free(p->kafka, 0);
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
    mc_kafka_producer_free(p->kafka, 5000);
    free(p);
}
