/* kafka_admin.c — creating and deleting topics and growing their partitions
 * through the Admin API, for daemons that make sure their topics exist, for
 * `mcloud kafka partitions` and for tests that want topics of their own. */
#include "common/clock.h"
#include "common/kafka_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

typedef enum admin_op { CREATE_TOPIC, DELETE_TOPIC, CREATE_PARTITIONS } admin_op;

/* Sends one admin request and waits for its result event. */
static rd_kafka_event_t *run_admin(rd_kafka_t *rk, admin_op op, void *what, int timeout_ms, mc_err *err) {
    char errstr[256];
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(
        rk, op == CREATE_TOPIC ? RD_KAFKA_ADMIN_OP_CREATETOPICS
            : op == DELETE_TOPIC ? RD_KAFKA_ADMIN_OP_DELETETOPICS : RD_KAFKA_ADMIN_OP_CREATEPARTITIONS);
    /* The broker answers once the change is done, not merely accepted. */
    if (rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, errstr, sizeof errstr) ||
        rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, errstr, sizeof errstr)) {
        rd_kafka_AdminOptions_destroy(opts);
        mc_err_set(err, MC_ERR_INVALID, "kafka admin: %s", errstr);
        return NULL;
    }
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
    if (op == CREATE_TOPIC) {
        rd_kafka_NewTopic_t *nt = what;
        rd_kafka_CreateTopics(rk, &nt, 1, opts, queue);
    } else if (op == DELETE_TOPIC) {
        rd_kafka_DeleteTopic_t *dt = what;
        rd_kafka_DeleteTopics(rk, &dt, 1, opts, queue);
    } else {
        rd_kafka_NewPartitions_t *np = what;
        rd_kafka_CreatePartitions(rk, &np, 1, opts, queue);
    }
    rd_kafka_event_t *ev = rd_kafka_queue_poll(queue, timeout_ms + 1000);
    rd_kafka_queue_destroy(queue);
    rd_kafka_AdminOptions_destroy(opts);
    if (!ev) {
        mc_kafka_err_from_code(err, RD_KAFKA_RESP_ERR__TIMED_OUT, "admin request");
        return NULL;
    }
    if (rd_kafka_event_error(ev)) {
        mc_kafka_err_from_code(err, rd_kafka_event_error(ev), "admin request: %s", rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

static rd_kafka_t *admin_handle(const mc_kafka_config *cfg, mc_err *err) {
    rd_kafka_conf_t *conf = mc_kafka_conf_new(cfg, NULL, err);
    return conf ? mc_kafka_handle_new(RD_KAFKA_PRODUCER, conf, err) : NULL;
}

/* The single topic result's error, tolerating `ok_code`. */
static int topic_result(const rd_kafka_topic_result_t **results, size_t cnt, rd_kafka_resp_err_t ok_code,
                        const char *what, const char *topic, mc_err *err) {
    if (cnt != 1) return mc_err_set(err, MC_ERR_INTERNAL, "kafka: %s %s: %zu results", what, topic, cnt);
    rd_kafka_resp_err_t code = rd_kafka_topic_result_error(results[0]);
    if (code && code != ok_code) {
        const char *detail = rd_kafka_topic_result_error_string(results[0]);
        return mc_kafka_err_from_code(err, code, "%s %s%s%s", what, topic, detail ? ": " : "", detail ? detail : "");
    }
    return 0;
}

/* The controller has created the topic, but brokers learn of it a moment
 * later; a consumer subscribing in that moment is told the topic does not
 * exist. Waits until the metadata brokers serve shows every partition led. */
static int wait_until_visible(rd_kafka_t *rk, const char *topic, int timeout_ms, mc_err *err) {
    int64_t deadline = mc_monotonic_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - mc_monotonic_ms();
        rd_kafka_topic_partition_list_t *list = mc_kafka_partitions_of(rk, topic, left > 0 ? (int)left : 1, err);
        if (list) {
            rd_kafka_topic_partition_list_destroy(list);
            return 0;
        }
        if (mc_monotonic_ms() >= deadline) return mc_err_wrap(err, "kafka: topic %s created but not visible", topic);
        struct timespec pause = {.tv_nsec = 100 * 1000000L};
        nanosleep(&pause, NULL);
    }
}

int mc_kafka_create_topic(const mc_kafka_config *cfg, const char *topic, int partitions,
                          int replication_factor, int timeout_ms, mc_err *err) {
    return mc_kafka_create_topic_with(cfg, topic, partitions, replication_factor, NULL, timeout_ms, err);
}

int mc_kafka_create_topic_with(const mc_kafka_config *cfg, const char *topic, int partitions, int replication_factor,
                               const char *const *configs, int timeout_ms, mc_err *err) {
    char errstr[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, replication_factor, errstr, sizeof errstr);
    if (!nt) return mc_err_set(err, MC_ERR_INVALID, "kafka: create topic %s: %s", topic, errstr);
    for (size_t i = 0; configs && configs[i]; i++) {
        char name[128];
        const char *eq = strchr(configs[i], '=');
        if (!eq || (size_t)(eq - configs[i]) >= sizeof name) {
            rd_kafka_NewTopic_destroy(nt);
            return mc_err_set(err, MC_ERR_INVALID, "kafka: create topic %s: config '%s' is not name=value", topic,
                              configs[i]);
        }
        snprintf(name, sizeof name, "%.*s", (int)(eq - configs[i]), configs[i]);
        rd_kafka_NewTopic_set_config(nt, name, eq + 1);
    }
    rd_kafka_t *rk = admin_handle(cfg, err);
    rd_kafka_event_t *ev = rk ? run_admin(rk, CREATE_TOPIC, nt, timeout_ms, err) : NULL;
    int rc = -1;
    if (ev) {
        size_t cnt;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        rc = topic_result(res, cnt, RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS, "create topic", topic, err);
        rd_kafka_event_destroy(ev);
    }
    if (rc == 0) rc = wait_until_visible(rk, topic, timeout_ms, err);
    rd_kafka_NewTopic_destroy(nt);
    if (rk) rd_kafka_destroy(rk);
    return rc;
}

int mc_kafka_delete_topic(const mc_kafka_config *cfg, const char *topic, int timeout_ms, mc_err *err) {
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
    rd_kafka_t *rk = admin_handle(cfg, err);
    rd_kafka_event_t *ev = rk ? run_admin(rk, DELETE_TOPIC, dt, timeout_ms, err) : NULL;
    int rc = -1;
    if (ev) {
        size_t cnt;
        const rd_kafka_topic_result_t **res =
            rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &cnt);
        rc = topic_result(res, cnt, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "delete topic", topic, err);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_DeleteTopic_destroy(dt);
    if (rk) rd_kafka_destroy(rk);
    return rc;
}

int mc_kafka_partition_count(const mc_kafka_config *cfg, const char *topic, int timeout_ms, mc_err *err) {
    rd_kafka_t *rk = admin_handle(cfg, err);
    if (!rk) return -1;
    rd_kafka_topic_partition_list_t *list = mc_kafka_partitions_of(rk, topic, timeout_ms, err);
    int n = list ? list->cnt : -1;
    if (list) rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_destroy(rk);
    return n;
}

int mc_kafka_create_partitions(const mc_kafka_config *cfg, const char *topic, int total, int timeout_ms, mc_err *err) {
    char errstr[256];
    rd_kafka_NewPartitions_t *np = rd_kafka_NewPartitions_new(topic, (size_t)total, errstr, sizeof errstr);
    if (!np) return mc_err_set(err, MC_ERR_INVALID, "kafka: partitions of %s: %s", topic, errstr);
    rd_kafka_t *rk = admin_handle(cfg, err);
    rd_kafka_event_t *ev = rk ? run_admin(rk, CREATE_PARTITIONS, np, timeout_ms, err) : NULL;
    int rc = -1;
    if (ev) {
        size_t cnt;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &cnt);
        rc = topic_result(res, cnt, RD_KAFKA_RESP_ERR_NO_ERROR, "grow the partitions of", topic, err);
        rd_kafka_event_destroy(ev);
    }
    /* brokers serve the new partitions a moment after the controller made them */
    int64_t deadline = mc_monotonic_ms() + timeout_ms;
    while (rc == 0) {
        rd_kafka_topic_partition_list_t *list = mc_kafka_partitions_of(rk, topic, timeout_ms, NULL);
        int n = list ? list->cnt : -1;
        if (list) rd_kafka_topic_partition_list_destroy(list);
        if (n >= total) break;
        if (mc_monotonic_ms() >= deadline) {
            rc = mc_err_set(err, MC_ERR_UNAVAILABLE, "kafka: %s grown to %d partitions but not served yet", topic, total);
            break;
        }
        struct timespec pause = {.tv_nsec = 100 * 1000000L};
        nanosleep(&pause, NULL);
    }
    rd_kafka_NewPartitions_destroy(np);
    if (rk) rd_kafka_destroy(rk);
    return rc;
}
