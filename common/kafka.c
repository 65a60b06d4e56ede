/* kafka.c — the idempotent Kafka producer, plus what all Kafka handles
 * share: configuration, librdkafka logs routed to our JSON log, and error
 * mapping (see kafka.h for the guarantees). */
#include "common/clock.h"
#include "common/kafka_internal.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

/* ---- shared ---- */

static mc_err_kind kind_of(rd_kafka_resp_err_t code) {
    switch (code) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
        return MC_ERR_UNAVAILABLE;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        return MC_ERR_NOT_FOUND;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        return MC_ERR_INVALID;
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
        return MC_ERR_CONFLICT;
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        return MC_ERR_AUTH;
    default:
        return code < 0 ? MC_ERR_INTERNAL : MC_ERR_REMOTE;
    }
}

static void fill_code(mc_err *err, rd_kafka_resp_err_t code) {
    if (!err) return;
    err->status = (int)code;
    snprintf(err->code, sizeof err->code, "%s", rd_kafka_err2name(code));
}

int mc_kafka_err_from_code(mc_err *err, rd_kafka_resp_err_t code, const char *fmt, ...) {
    if (!err) return -1;
    char context[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(context, sizeof context, fmt, ap);
    va_end(ap);
    mc_err_set(err, kind_of(code), "kafka: %s: %s", context, rd_kafka_err2str(code));
    fill_code(err, code);
    return -1;
}

int mc_kafka_err_from_error(mc_err *err, rd_kafka_error_t *error, const char *context) {
    rd_kafka_resp_err_t code = rd_kafka_error_code(error);
    mc_err_set(err, kind_of(code), "kafka: %s: %s", context, rd_kafka_error_string(error));
    fill_code(err, code);
    rd_kafka_error_destroy(error);
    return -1;
}

/* librdkafka levels are syslog levels (0 emerg .. 7 debug). Its "err"
 * lines are mostly broker connections failing, which it retries by itself:
 * they are warnings for us. */
static void log_line(const rd_kafka_t *rk, int level, const char *facility, const char *line) {
    mc_log_level ours = level <= 2 ? MC_LOG_ERROR : level <= 4 ? MC_LOG_WARN : level <= 6 ? MC_LOG_INFO
                                                                                          : MC_LOG_DEBUG;
    mc_log_kv(ours, line, "component", "kafka", "client", rd_kafka_name(rk), "facility", facility, NULL);
}

/* Errors librdkafka raises outside any call (a broker went away, ...). It
 * recovers from all but fatal ones by itself; calls that fail because of
 * them return their own errors. Transport errors are skipped: librdkafka
 * has already logged each of them. */
static void on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque) {
    (void)opaque;
    if (code == RD_KAFKA_RESP_ERR__TRANSPORT) return;
    int fatal = code == RD_KAFKA_RESP_ERR__FATAL;
    mc_log_kv(fatal ? MC_LOG_ERROR : MC_LOG_WARN, fatal ? "kafka client failed fatally" : "kafka client error",
              "component", "kafka", "client", rd_kafka_name(rk), "error",
              rd_kafka_err2name((rd_kafka_resp_err_t)code), "reason", reason, NULL);
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, mc_err *err) {
    char errstr[256];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        return mc_err_set(err, MC_ERR_INVALID, "kafka: property %s: %s", key, errstr);
    return 0;
}

static int conf_set_pair(rd_kafka_conf_t *conf, const char *pair, mc_err *err) {
    const char *eq = strchr(pair, '=');
    char key[256];
    if (!eq || eq == pair || (size_t)(eq - pair) >= sizeof key)
        return mc_err_set(err, MC_ERR_INVALID, "kafka: property \"%s\" is not key=value", pair);
    memcpy(key, pair, (size_t)(eq - pair));
    key[eq - pair] = '\0';
    return conf_set(conf, key, eq + 1, err);
}

static int conf_set_pairs(rd_kafka_conf_t *conf, const char *const *pairs, mc_err *err) {
    for (; pairs && *pairs; pairs++)
        if (conf_set_pair(conf, *pairs, err) < 0) return -1;
    return 0;
}

rd_kafka_conf_t *mc_kafka_conf_new(const mc_kafka_config *cfg, const char *const *defaults, mc_err *err) {
    if (!cfg->bootstrap_servers || !*cfg->bootstrap_servers) {
        mc_err_set(err, MC_ERR_INVALID, "kafka: no bootstrap servers");
        return NULL;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf_set(conf, "bootstrap.servers", cfg->bootstrap_servers, err) < 0 ||
        conf_set(conf, "client.id", cfg->client_id ? cfg->client_id : "mcloud", err) < 0 ||
        conf_set_pairs(conf, defaults, err) < 0 || conf_set_pairs(conf, cfg->properties, err) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, log_line);
    rd_kafka_conf_set_error_cb(conf, on_error);
    return conf;
}

rd_kafka_t *mc_kafka_handle_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, mc_err *err) {
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        mc_err_set(err, MC_ERR_INVALID, "kafka: cannot create client: %s", errstr);
    }
    return rk;
}

/* Every partition of topic, from a fresh metadata request; a partition
 * without a leader counts as not (yet) available. */
rd_kafka_topic_partition_list_t *mc_kafka_partitions_of(rd_kafka_t *rk, const char *topic, int timeout_ms,
                                                        mc_err *err) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_resp_err_t code = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    if (!code && (md->topic_cnt != 1 || md->topics[0].err))
        code = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    for (int i = 0; !code && i < md->topics[0].partition_cnt; i++)
        if (md->topics[0].partitions[i].leader < 0) code = RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE;
    rd_kafka_topic_partition_list_t *list = NULL;
    if (!code) {
        list = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
        for (int i = 0; i < md->topics[0].partition_cnt; i++)
            rd_kafka_topic_partition_list_add(list, topic, md->topics[0].partitions[i].id);
    }
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    if (code) mc_kafka_err_from_code(err, code, "metadata of %s", topic);
    return list;
}

/* ---- producer ---- */

struct mc_kafka_producer {
    rd_kafka_t *rk;
};

/* The per-message state behind a delivery report. A sync caller and the
 * report each hold a reference, so a caller that timed out can leave and
 * the report, arriving later, frees it. */
typedef struct pending_delivery {
    mc_kafka_delivery_cb cb;
    void *opaque;
    atomic_int refs;
    atomic_int done;
    rd_kafka_resp_err_t result;
    mc_kafka_delivery where;
} pending_delivery;

static void pending_release(pending_delivery *d) {
    if (atomic_fetch_sub(&d->refs, 1) == 1) free(d);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    pending_delivery *d = m->_private;
    if (!d) return;
    d->result = m->err;
    d->where.partition = m->partition;
    d->where.offset = m->offset;
    if (d->cb) {
        mc_err e = {0};
        if (m->err)
            mc_kafka_err_from_code(&e, m->err, "deliver to %s", rd_kafka_topic_name(m->rkt));
        d->cb(&d->where, m->err ? &e : NULL, d->opaque);
    }
    atomic_store(&d->done, 1);
    pending_release(d);
}

static const char *const producer_defaults[] = {
    "enable.idempotence=true",
    "acks=all",
    NULL,
};

mc_kafka_producer *mc_kafka_producer_new(const mc_kafka_config *cfg, mc_err *err) {
    rd_kafka_conf_t *conf = mc_kafka_conf_new(cfg, producer_defaults, err);
    if (!conf) return NULL;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    mc_kafka_producer *p = calloc(1, sizeof *p);
    if (!p) {
        rd_kafka_conf_destroy(conf);
        mc_err_set(err, MC_ERR_INTERNAL, "kafka: out of memory");
        return NULL;
    }
    if (!(p->rk = mc_kafka_handle_new(RD_KAFKA_PRODUCER, conf, err))) {
        free(p);
        return NULL;
    }
    return p;
}

void mc_kafka_producer_free(mc_kafka_producer *p, int timeout_ms) {
    if (!p) return;
    if (rd_kafka_flush(p->rk, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        mc_log_kv(MC_LOG_WARN, "kafka producer closing with undelivered messages, dropping them",
                  "component", "kafka", "client", rd_kafka_name(p->rk), NULL);
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(p->rk, 1000); /* serves the purged messages' reports */
    }
    rd_kafka_destroy(p->rk);
    free(p);
}

static int enqueue(mc_kafka_producer *p, const char *topic, const void *key, size_t keylen,
                   const void *value, size_t len, const mc_kafka_header *headers, size_t nheaders,
                   pending_delivery *d, mc_err *err) {
    rd_kafka_headers_t *hdrs = NULL;
    if (nheaders) {
        hdrs = rd_kafka_headers_new(nheaders);
        for (size_t i = 0; i < nheaders; i++)
            rd_kafka_header_add(hdrs, headers[i].name, -1, headers[i].value, (ssize_t)headers[i].len);
    }
    rd_kafka_resp_err_t code = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, keylen), RD_KAFKA_V_VALUE((void *)value, len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(d),
        RD_KAFKA_V_END);
    if (code) {
        if (hdrs) rd_kafka_headers_destroy(hdrs); /* owned by the message only on success */
        return mc_kafka_err_from_code(err, code, "produce to %s", topic);
    }
    return 0;
}

int mc_kafka_produce(mc_kafka_producer *p, const char *topic, const void *key, size_t keylen,
                     const void *value, size_t len, const mc_kafka_header *headers, size_t nheaders,
                     mc_kafka_delivery_cb cb, void *opaque, mc_err *err) {
    pending_delivery *d = NULL;
    if (cb) {
        if (!(d = calloc(1, sizeof *d))) return mc_err_set(err, MC_ERR_INTERNAL, "kafka: out of memory");
        d->cb = cb;
        d->opaque = opaque;
        atomic_init(&d->refs, 1);
    }
    if (enqueue(p, topic, key, keylen, value, len, headers, nheaders, d, err) < 0) {
        free(d);
        return -1;
    }
    return 0;
}

int mc_kafka_produce_sync(mc_kafka_producer *p, const char *topic, const void *key, size_t keylen,
                          const void *value, size_t len, const mc_kafka_header *headers,
                          size_t nheaders, int timeout_ms, mc_kafka_delivery *out, mc_err *err) {
    pending_delivery *d = calloc(1, sizeof *d);
    if (!d) return mc_err_set(err, MC_ERR_INTERNAL, "kafka: out of memory");
    atomic_init(&d->refs, 2);
    if (enqueue(p, topic, key, keylen, value, len, headers, nheaders, d, err) < 0) {
        free(d);
        return -1;
    }
    /* Another thread polling may serve our report: poll in short slices. */
    int64_t deadline = mc_monotonic_ms() + timeout_ms;
    for (int64_t left = timeout_ms; !atomic_load(&d->done) && left > 0; left = deadline - mc_monotonic_ms())
        rd_kafka_poll(p->rk, left < 100 ? (int)left : 100);
    int rc = 0;
    if (!atomic_load(&d->done))
        rc = mc_kafka_err_from_code(err, RD_KAFKA_RESP_ERR__TIMED_OUT,
                              "produce to %s: no delivery report within %d ms (it may still be delivered)",
                              topic, timeout_ms);
    else if (d->result)
        rc = mc_kafka_err_from_code(err, d->result, "produce to %s", topic);
    else if (out)
        *out = d->where;
    pending_release(d);
    return rc;
}

int mc_kafka_producer_poll(mc_kafka_producer *p, int timeout_ms) { return rd_kafka_poll(p->rk, timeout_ms); }

int mc_kafka_producer_flush(mc_kafka_producer *p, int timeout_ms, mc_err *err) {
    rd_kafka_resp_err_t code = rd_kafka_flush(p->rk, timeout_ms);
    if (code)
        return mc_kafka_err_from_code(err, code, "flush: %d message(s) still undelivered", rd_kafka_outq_len(p->rk));
    return 0;
}
