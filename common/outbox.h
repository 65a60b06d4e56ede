/* outbox.h — the transactional outbox: a Kafka message written as a row of
 * the `outbox` table in the same MySQL transaction as the state change it
 * announces, and published afterwards by a background publisher. A crash
 * anywhere therefore neither loses the message nor publishes one for a
 * change that was rolled back, and a crash between the broker's ack and the
 * commit is resolved by reading the topic back (outbox.c): each row is
 * published exactly once.
 * Messages still carry an id (a consumer's own crash redelivers them). */
#ifndef MC_OUTBOX_H
#define MC_OUTBOX_H

#include "common/error.h"
#include "common/kafka.h"
#include "common/mysql.h"

/* Adds a message inside the caller's open transaction on c. */
int mc_outbox_add(mc_db_conn *c, const char *topic, const char *key, const char *payload,
                  mc_err *err);

typedef struct mc_outbox_publisher mc_outbox_publisher;

/* Starts the publisher thread and its producer: publishes unpublished rows at once (rows a
 * crash left behind are replayed at start), then whenever nudged and every
 * interval_ms. Rows are claimed with FOR UPDATE SKIP LOCKED, so several
 * replicas publishing at once split the rows instead of doubling them. */
typedef struct mc_outbox_options {
    mc_db *db;
    mc_kafka_config kafka;  /* bootstrap servers and client id (strings outlive the publisher);
                               the publisher makes its own producer and lookup consumers */
    long interval_ms;
    int commit_delay_ms;    /* fault injection for tests: pause before the commit; 0 */
} mc_outbox_options;

mc_outbox_publisher *mc_outbox_publisher_start(const mc_outbox_options *o, mc_err *err);
/* After committing a transaction that added rows: publish now. NULL-safe. */
void mc_outbox_publisher_nudge(mc_outbox_publisher *p);
void mc_outbox_publisher_stop(mc_outbox_publisher *p);

#endif
