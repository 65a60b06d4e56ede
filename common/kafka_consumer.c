/* kafka_consumer.c — the consumer-group consumer that commits a message
 * only once its handler succeeded, its rebalance handling, its close
 * (leaving the group first), and lag (see kafka.h for the delivery
 * policy). */
#include "common/kafka_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"

#define LEAVE_TIMEOUT_MS 10000 /* for the revoke to be served before close */

struct mc_kafka_consumer {
    rd_kafka_t *rk;
};

static const char *const consumer_defaults[] = {
    "enable.auto.commit=false",
    "enable.auto.offset.store=false",
    "auto.offset.reset=earliest",
    "partition.assignment.strategy=cooperative-sticky",
    NULL,
};

static void describe_partitions(const rd_kafka_topic_partition_list_t *parts, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < parts->cnt && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s[%d]", i ? "," : "", parts->elems[i].topic,
                         (int)parts->elems[i].partition);
        if (n < 0) break;
        used += (size_t)n;
    }
}

/* Applies the group's decision to this member: incremental (cooperative)
 * or whole-assignment (eager) depending on the negotiated protocol.
 *
 * A member busy in its handler does not poll, so a rebalance of its group
 * meanwhile (other members leaving) waits in its queue; when it is closed
 * right after (a worker's graceful stop), mc_kafka_leave_group serves that
 * event. One that still reaches rd_kafka_consumer_close (the leave timed
 * out) may be served once the group sub-system has already terminated:
 * rd_kafka_rebalance_protocol() is NULL then (as on any error), and there
 * is no group left to apply anything to. (strcmp on that NULL killed
 * mcloud-transcode with SIGSEGV at the end of a graceful stop.) */
void mc_kafka_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t event, rd_kafka_topic_partition_list_t *parts,
                           void *opaque) {
    (void)opaque;
    char list[1024];
    describe_partitions(parts, list, sizeof list);
    const char *protocol = rd_kafka_rebalance_protocol(rk);
    if (!protocol) {
        mc_log_kv(MC_LOG_INFO, "kafka rebalance after the group was left: nothing to apply", "component",
                  "kafka", "client", rd_kafka_name(rk), "event", rd_kafka_err2name(event), "partitions", list,
                  NULL);
        return;
    }
    int cooperative = !strcmp(protocol, "COOPERATIVE");
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
    int lost;
    switch (event) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        if (parts->cnt > 0) /* cooperative rounds often assign nothing new */
            mc_log_kv(MC_LOG_INFO, "kafka partitions assigned", "component", "kafka", "client",
                      rd_kafka_name(rk), "partitions", list, NULL);
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            code = rd_kafka_assign(rk, parts);
        break;
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        /* Every handled message is already committed: nothing to flush. */
        lost = rd_kafka_assignment_lost(rk);
        mc_log_kv(lost ? MC_LOG_WARN : MC_LOG_INFO,
                  lost ? "kafka partitions lost (uncommitted work will be redelivered)" : "kafka partitions revoked",
                  "component", "kafka", "client", rd_kafka_name(rk), "partitions", list, NULL);
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            code = rd_kafka_assign(rk, NULL);
        break;
    default:
        mc_log_kv(MC_LOG_WARN, "kafka rebalance failed, dropping assignment", "component", "kafka", "client",
                  rd_kafka_name(rk), "error", rd_kafka_err2name(event), NULL);
        code = rd_kafka_assign(rk, NULL);
        break;
    }
    if (error) {
        code = rd_kafka_error_code(error);
        rd_kafka_error_destroy(error);
    }
    if (code)
        mc_log_kv(MC_LOG_WARN, "kafka could not apply a rebalance", "component", "kafka", "client",
                  rd_kafka_name(rk), "error", rd_kafka_err2name(code), NULL);
}

static rd_kafka_topic_partition_list_t *topic_list(const char *const *topics) {
    int n = 0;
    while (topics[n]) n++;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++) rd_kafka_topic_partition_list_add(list, topics[i], RD_KAFKA_PARTITION_UA);
    return list;
}

mc_kafka_consumer *mc_kafka_consumer_new(const mc_kafka_config *cfg, const char *group,
                                         const char *const *topics, mc_err *err) {
    if (!group || !*group || !topics || !topics[0]) {
        mc_err_set(err, MC_ERR_INVALID, "kafka: a consumer needs a group and at least one topic");
        return NULL;
    }
    rd_kafka_conf_t *conf = mc_kafka_conf_new(cfg, consumer_defaults, err);
    if (!conf) return NULL;
    char errstr[256];
    if (rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        mc_err_set(err, MC_ERR_INVALID, "kafka: group.id: %s", errstr);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, mc_kafka_on_rebalance);
    mc_kafka_consumer *c = calloc(1, sizeof *c);
    if (!c) {
        rd_kafka_conf_destroy(conf);
        mc_err_set(err, MC_ERR_INTERNAL, "kafka: out of memory");
        return NULL;
    }
    if (!(c->rk = mc_kafka_handle_new(RD_KAFKA_CONSUMER, conf, err))) {
        free(c);
        return NULL;
    }
    rd_kafka_poll_set_consumer(c->rk); /* error and log events come out of consumer_poll */
    rd_kafka_topic_partition_list_t *list = topic_list(topics);
    rd_kafka_resp_err_t code = rd_kafka_subscribe(c->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (code) {
        mc_kafka_err_from_code(err, code, "subscribe (group %s)", group);
        rd_kafka_destroy(c->rk);
        free(c);
        return NULL;
    }
    return c;
}

/* Nothing assigned and no member id: librdkafka clears the id as it sends
 * LeaveGroup, once the revoke was applied. */
static int group_left(rd_kafka_t *rk) {
    rd_kafka_topic_partition_list_t *owned = NULL;
    if (rd_kafka_assignment(rk, &owned)) return 1; /* no group to leave */
    int assigned = owned->cnt;
    rd_kafka_topic_partition_list_destroy(owned);
    char *member = rd_kafka_memberid(rk);
    int joined = member && *member;
    if (member) rd_kafka_mem_free(rk, member);
    return !assigned && !joined;
}

/* Leaves the group before rd_kafka_consumer_close, serving what is queued.
 *
 * librdkafka before 2.4.0 (Debian 12 ships 2.0.2; issue #4527, fixed by PR
 * #4528) can hang for ever in rd_kafka_consumer_close when the close has
 * to serve a cooperative assignment: the terminating group turns the
 * assign into an unassign but stays in WAIT_ASSIGN_CALL, so it never
 * terminates. A busy worker meets that at a scale-down that stops other
 * members while its job runs: the group hands it their partitions, the
 * event waits in its queue unpolled, and its graceful stop served it inside
 * the close. In one CI run mcloud-transcode logged the assign and the
 * revoke there, left the group (the kept worker got its partitions), and
 * never returned from the close: it sat out its grace and was SIGKILLed.
 * Unsubscribing first serves those events as an ordinary rebalance, not a
 * terminating one, and waits until the member has left; close then has no
 * rebalance left to serve. A message fetched meanwhile is dropped
 * uncommitted: the partition's next owner gets it. */
void mc_kafka_leave_group(rd_kafka_t *rk, int timeout_ms) {
    rd_kafka_resp_err_t code = rd_kafka_unsubscribe(rk);
    if (code) {
        mc_log_kv(MC_LOG_WARN, "kafka unsubscribe failed; closing anyway", "component", "kafka", "client",
                  rd_kafka_name(rk), "error", rd_kafka_err2name(code), NULL);
        return;
    }
    int64_t deadline = mc_monotonic_ms() + timeout_ms;
    while (mc_monotonic_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m) { /* a message or an error event: neither is handled now */
            rd_kafka_message_destroy(m);
            continue;
        }
        if (group_left(rk)) return; /* and quiet for a poll */
    }
    mc_log_kv(MC_LOG_WARN, "kafka group not left in time; closing anyway", "component", "kafka", "client",
              rd_kafka_name(rk), NULL);
}

void mc_kafka_consumer_close(mc_kafka_consumer *c) {
    if (!c) return;
    int64_t start = mc_monotonic_ms();
    mc_kafka_leave_group(c->rk, LEAVE_TIMEOUT_MS);
    int64_t left = mc_monotonic_ms();
    rd_kafka_resp_err_t code = rd_kafka_consumer_close(c->rk);
    char leave_ms[24], close_ms[24];
    snprintf(leave_ms, sizeof leave_ms, "%lld", (long long)(left - start));
    snprintf(close_ms, sizeof close_ms, "%lld", (long long)(mc_monotonic_ms() - left));
    mc_log_kv(code ? MC_LOG_WARN : MC_LOG_INFO,
              code ? "kafka consumer did not leave its group cleanly" : "kafka consumer closed", "component",
              "kafka", "client", rd_kafka_name(c->rk), "error", code ? rd_kafka_err2name(code) : "none",
              "leave_ms", leave_ms, "close_ms", close_ms, NULL);
    rd_kafka_destroy(c->rk);
    free(c);
}

/* A one-partition list positioned at offset, for store/commit/seek. */
static rd_kafka_topic_partition_list_t *position_of(const rd_kafka_message_t *m, int64_t offset) {
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, rd_kafka_topic_name(m->rkt), m->partition)->offset = offset;
    return list;
}

/* The committed offset is the next one to read: this message's + 1. */
static int commit_message(mc_kafka_consumer *c, const rd_kafka_message_t *m, mc_err *err) {
    rd_kafka_topic_partition_list_t *list = position_of(m, m->offset + 1);
    rd_kafka_resp_err_t code = rd_kafka_offsets_store(c->rk, list);
    if (!code) code = list->elems[0].err;
    if (!code) code = rd_kafka_commit(c->rk, list, 0);
    rd_kafka_topic_partition_list_destroy(list);
    if (code)
        return mc_kafka_err_from_code(err, code, "commit %s [%d] offset %lld (message will be redelivered)",
                                rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset);
    return MC_KAFKA_POLL_COMMITTED;
}

/* librdkafka before 2.1.0 (Debian 12 ships 2.0.2) waits for a seek's
 * timeout_ms in microseconds (fixed by librdkafka PR #4230): 10000 "ms" was
 * 10 ms, which a loaded machine missed ("Timed out waiting for 1 remaining
 * partition seek(s)"), leaving the failed message's rewind unconfirmed. */
#define SEEK_TIMEOUT_MS 10000
static int seek_timeout(void) {
    return rd_kafka_version() < 0x02010000 ? SEEK_TIMEOUT_MS * 1000 : SEEK_TIMEOUT_MS;
}

/* Rewinds the partition so the failed message is fetched again. */
static int rewind_to_message(mc_kafka_consumer *c, const rd_kafka_message_t *m, mc_err *err) {
    rd_kafka_topic_partition_list_t *list = position_of(m, m->offset);
    rd_kafka_error_t *error = rd_kafka_seek_partitions(c->rk, list, seek_timeout());
    rd_kafka_resp_err_t code = error ? RD_KAFKA_RESP_ERR_NO_ERROR : list->elems[0].err;
    rd_kafka_topic_partition_list_destroy(list);
    char context[512];
    snprintf(context, sizeof context, "rewind %s [%d] to failed offset %lld", rd_kafka_topic_name(m->rkt),
             (int)m->partition, (long long)m->offset);
    if (error) return mc_kafka_err_from_error(err, error, context);
    if (code) return mc_kafka_err_from_code(err, code, "%s", context);
    return MC_KAFKA_POLL_REWOUND;
}

int mc_kafka_consumer_poll(mc_kafka_consumer *c, mc_kafka_handler handler, void *ctx, int timeout_ms,
                           mc_err *err) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, timeout_ms);
    if (!m) return MC_KAFKA_POLL_IDLE;
    int rc;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        rc = MC_KAFKA_POLL_IDLE;
    } else if (m->err) {
        rc = mc_kafka_err_from_code(err, m->err, "consume: %s", rd_kafka_message_errstr(m));
    } else {
        mc_kafka_message msg = {
            .topic = rd_kafka_topic_name(m->rkt),
            .partition = m->partition,
            .offset = m->offset,
            .key = m->key,
            .keylen = m->key_len,
            .value = m->payload,
            .len = m->len,
            .timestamp_ms = rd_kafka_message_timestamp(m, NULL),
            .impl = m,
        };
        rc = handler(&msg, ctx) == 0 ? commit_message(c, m, err) : rewind_to_message(c, m, err);
    }
    rd_kafka_message_destroy(m);
    return rc;
}

int mc_kafka_message_header(const mc_kafka_message *m, const char *name, const void **value, size_t *len) {
    rd_kafka_headers_t *hdrs;
    if (rd_kafka_message_headers(m->impl, &hdrs) || rd_kafka_header_get_last(hdrs, name, value, len))
        return -1;
    return 0;
}

int mc_kafka_consumer_assignment(mc_kafka_consumer *c, mc_kafka_partition **out, size_t *n, mc_err *err) {
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_resp_err_t code = rd_kafka_assignment(c->rk, &list);
    if (code) return mc_kafka_err_from_code(err, code, "assignment");
    mc_kafka_partition *parts = NULL;
    if (list->cnt > 0 && !(parts = calloc((size_t)list->cnt, sizeof *parts))) {
        rd_kafka_topic_partition_list_destroy(list);
        return mc_err_set(err, MC_ERR_INTERNAL, "kafka: out of memory");
    }
    for (int i = 0; i < list->cnt; i++) {
        snprintf(parts[i].topic, sizeof parts[i].topic, "%s", list->elems[i].topic);
        parts[i].partition = list->elems[i].partition;
    }
    *out = parts;
    *n = (size_t)list->cnt;
    rd_kafka_topic_partition_list_destroy(list);
    return 0;
}

/* Committed offsets of rk's group and watermarks for the partitions in
 * list (which it overwrites with committed offsets). */
static int lag_of(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *list, int timeout_ms,
                  mc_kafka_partition_lag **out, size_t *n, mc_err *err) {
    rd_kafka_resp_err_t code = rd_kafka_committed(rk, list, timeout_ms);
    if (code) return mc_kafka_err_from_code(err, code, "committed offsets");
    mc_kafka_partition_lag *lags = NULL;
    if (list->cnt > 0 && !(lags = calloc((size_t)list->cnt, sizeof *lags)))
        return mc_err_set(err, MC_ERR_INTERNAL, "kafka: out of memory");
    for (int i = 0; i < list->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &list->elems[i];
        mc_kafka_partition_lag *l = &lags[i];
        snprintf(l->topic, sizeof l->topic, "%s", tp->topic);
        l->partition = tp->partition;
        code = tp->err ? tp->err
                       : rd_kafka_query_watermark_offsets(rk, tp->topic, tp->partition, &l->low, &l->high,
                                                          timeout_ms);
        if (code) {
            free(lags);
            return mc_kafka_err_from_code(err, code, "lag of %s [%d]", tp->topic, (int)tp->partition);
        }
        l->committed = tp->offset >= 0 ? tp->offset : -1;
        l->lag = l->high - (l->committed >= 0 ? l->committed : l->low);
        if (l->lag < 0) l->lag = 0;
    }
    *out = lags;
    *n = (size_t)list->cnt;
    return 0;
}

int mc_kafka_consumer_lag(mc_kafka_consumer *c, int timeout_ms, mc_kafka_partition_lag **out, size_t *n,
                          mc_err *err) {
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_resp_err_t code = rd_kafka_assignment(c->rk, &list);
    if (code) return mc_kafka_err_from_code(err, code, "assignment");
    int rc = lag_of(c->rk, list, timeout_ms, out, n, err);
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

int mc_kafka_group_lag(const mc_kafka_config *cfg, const char *group, const char *topic, int timeout_ms,
                       mc_kafka_partition_lag **out, size_t *n, mc_err *err) {
    rd_kafka_conf_t *conf = mc_kafka_conf_new(cfg, NULL, err);
    if (!conf) return -1;
    char errstr[256];
    if (rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return mc_err_set(err, MC_ERR_INVALID, "kafka: group.id: %s", errstr);
    }
    /* A consumer handle that never subscribes: it reads the group's offsets
     * without joining the group. */
    rd_kafka_t *rk = mc_kafka_handle_new(RD_KAFKA_CONSUMER, conf, err);
    if (!rk) return -1;
    rd_kafka_topic_partition_list_t *list = mc_kafka_partitions_of(rk, topic, timeout_ms, err);
    int rc = list ? lag_of(rk, list, timeout_ms, out, n, err) : -1;
    if (list) rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_destroy(rk);
    return rc;
}
