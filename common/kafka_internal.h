/* kafka_internal.h — what kafka.c, kafka_consumer.c and kafka_admin.c
 * share: building librdkafka configurations (with our log and error
 * callbacks) and turning librdkafka errors into mc_err values. Not for use
 * outside those files (but for the test named below). */
#ifndef MCLOUD_KAFKA_INTERNAL_H
#define MCLOUD_KAFKA_INTERNAL_H

#include <librdkafka/rdkafka.h>

#include "common/error.h"
#include "common/kafka.h"

/* A configuration with bootstrap servers and client id from cfg, then the
 * NULL-terminated "key=value" defaults, then cfg->properties (which win),
 * and our log and error callbacks. */
rd_kafka_conf_t *mc_kafka_conf_new(const mc_kafka_config *cfg, const char *const *defaults, mc_err *err);
/* rd_kafka_new that always consumes conf. */
rd_kafka_t *mc_kafka_handle_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, mc_err *err);

/* Every partition of topic per the cluster's metadata (asked afresh); fails
 * while some partition has no leader. */
rd_kafka_topic_partition_list_t *mc_kafka_partitions_of(rd_kafka_t *rk, const char *topic, int timeout_ms,
                                                        mc_err *err);

/* The consumer's rebalance callback (kafka_consumer.c); tests/integration/
 * test_kafka.c calls it directly for the case no broker can be made to
 * produce on demand: an event served after the group was left. */
void mc_kafka_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t event, rd_kafka_topic_partition_list_t *parts,
                           void *opaque);

/* Unsubscribes rk and serves its queue until it has left the group
 * (nothing assigned, no member id; at most timeout_ms), so that
 * rd_kafka_consumer_close has no rebalance left to serve (kafka_consumer.c
 * says why); test_kafka.c calls it on a consumer of its own. */
void mc_kafka_leave_group(rd_kafka_t *rk, int timeout_ms);

/* Fills err from a librdkafka error code (kind by class, code = its name,
 * status = its number) with a context message. Returns -1. */
int mc_kafka_err_from_code(mc_err *err, rd_kafka_resp_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same from an error object, which it destroys. */
int mc_kafka_err_from_error(mc_err *err, rd_kafka_error_t *error, const char *context);

#endif
