/* kafka_lookup.c — reading a topic's window from a time on without a
 * group (mc_kafka_scan: `mcloud logs`), and is this exact message already
 * on the topic? (mc_kafka_find, see kafka.h). The transactional outbox asks it for a row whose publication
 * is in doubt (produced by a process that died before its commit): the
 * answer decides between stamping the row and producing it again, which
 * makes the outbox exactly once instead of at least once.
 *
 * A throwaway assign-only consumer (no group joined, nothing committed)
 * reads every partition from the first offset whose timestamp is at or
 * after `since_ms` up to the high watermark seen at the start, comparing
 * key and value bytes. The window is small (the seconds since the attempt,
 * plus the caller's margin for clock skew), so the read is too. */
#include "common/kafka_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const lookup_defaults[] = {
    "group.id=mcloud-lookup", /* required by the consumer type; never joined */
    "enable.auto.commit=false",
    "enable.auto.offset.store=false",
    "enable.partition.eof=true",
    NULL,
};

typedef struct lookup {
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *parts; /* offset: where to start */
    int64_t *end;                           /* per partition: high watermark */
    int remaining;                          /* partitions not read to their end */
} lookup;

/* Sets each partition's start (first offset at or after since_ms) and end
 * (high watermark); a partition with nothing in the window is left out by
 * an end equal to its start. */
static int plan(lookup *l, const char *topic, int64_t since_ms, int timeout_ms, mc_err *err) {
    for (int i = 0; i < l->parts->cnt; i++) l->parts->elems[i].offset = since_ms;
    rd_kafka_resp_err_t code = rd_kafka_offsets_for_times(l->rk, l->parts, timeout_ms);
    if (code) return mc_kafka_err_from_code(err, code, "offsets of %s at %lld ms", topic, (long long)since_ms);
    if (!(l->end = calloc((size_t)l->parts->cnt, sizeof *l->end)))
        return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    for (int i = 0; i < l->parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &l->parts->elems[i];
        if (p->err) return mc_kafka_err_from_code(err, p->err, "offset of %s[%d]", topic, (int)p->partition);
        int64_t low, high;
        code = rd_kafka_query_watermark_offsets(l->rk, topic, p->partition, &low, &high, timeout_ms);
        if (code) return mc_kafka_err_from_code(err, code, "watermarks of %s[%d]", topic, (int)p->partition);
        if (p->offset < 0) p->offset = high; /* no message at or after since_ms */
        l->end[i] = p->offset < high ? high : -1; /* -1: nothing to read there */
        if (p->offset < high) l->remaining++;
    }
    return 0;
}

static int index_of(const lookup *l, int32_t partition) {
    for (int i = 0; i < l->parts->cnt; i++)
        if (l->parts->elems[i].partition == partition) return i;
    return -1;
}

/* Reads the planned window, handing each message to fn: 0 when every
 * partition was read to its end (fn then gets NULL once; with follow the
 * read goes on), 1 when fn stopped it, -1 on error or, before the end,
 * timeout. */
static int scan(lookup *l, const char *topic, bool follow, int timeout_ms, mc_kafka_scan_fn fn, void *ctx,
                mc_err *err) {
    rd_kafka_resp_err_t code = rd_kafka_assign(l->rk, l->parts);
    if (code) return mc_kafka_err_from_code(err, code, "assign %s", topic);
    time_t deadline = time(NULL) + (timeout_ms + 999) / 1000; /* a hang guard: seconds will do */
    bool caught_up = false;
    for (;;) {
        if (!caught_up && l->remaining == 0) {
            caught_up = true;
            if (fn(NULL, ctx)) return 1;
            if (!follow) return 0;
        }
        if (!caught_up && time(NULL) > deadline)
            return mc_kafka_err_from_code(err, RD_KAFKA_RESP_ERR__TIMED_OUT,
                                          "reading %s back: %d partition(s) not read to the end", topic,
                                          l->remaining);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(l->rk, 100);
        if (!m) continue;
        int i = index_of(l, m->partition);
        if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            code = m->err;
            rd_kafka_message_destroy(m);
            return mc_kafka_err_from_code(err, code, "reading %s back", topic);
        }
        int stop = 0;
        if (!m->err) {
            rd_kafka_timestamp_type_t tstype;
            int64_t ts = rd_kafka_message_timestamp(m, &tstype);
            mc_kafka_message msg = {.topic = topic, .partition = m->partition, .offset = m->offset, .key = m->key,
                                    .keylen = m->key_len, .value = m->payload, .len = m->len,
                                    .timestamp_ms = ts, .impl = m};
            stop = fn(&msg, ctx);
        }
        int64_t next = m->err ? m->offset : m->offset + 1;
        if (i >= 0 && l->end[i] >= 0 && next >= l->end[i]) {
            l->end[i] = -1; /* done */
            l->remaining--;
        }
        rd_kafka_message_destroy(m);
        if (stop) return 1;
    }
}

int mc_kafka_scan(const mc_kafka_config *cfg, const char *topic, int64_t since_ms, bool follow, int timeout_ms,
                  mc_kafka_scan_fn fn, void *ctx, mc_err *err) {
    rd_kafka_conf_t *conf = mc_kafka_conf_new(cfg, lookup_defaults, err);
    if (!conf) return -1;
    lookup l = {0};
    if (!(l.rk = mc_kafka_handle_new(RD_KAFKA_CONSUMER, conf, err))) return -1;
    int rc = (l.parts = mc_kafka_partitions_of(l.rk, topic, timeout_ms, err)) ? 0 : -1;
    if (rc == 0) rc = plan(&l, topic, since_ms, timeout_ms, err);
    if (rc == 0) rc = scan(&l, topic, follow, timeout_ms, fn, ctx, err);
    rd_kafka_consumer_close(l.rk);
    rd_kafka_destroy(l.rk);
    if (l.parts) rd_kafka_topic_partition_list_destroy(l.parts);
    free(l.end);
    return rc;
}

typedef struct wanted {
    const void *key, *value;
    size_t keylen, len;
} wanted;

static int same(const mc_kafka_message *m, void *ctx) {
    const wanted *w = ctx;
    return m && m->keylen == w->keylen && m->len == w->len && (!w->keylen || memcmp(m->key, w->key, w->keylen) == 0) &&
           (!w->len || memcmp(m->value, w->value, w->len) == 0);
}

int mc_kafka_find(const mc_kafka_config *cfg, const char *topic, int64_t since_ms, const void *key,
                  size_t keylen, const void *value, size_t len, int timeout_ms, mc_err *err) {
    wanted w = {key, value, keylen, len};
    return mc_kafka_scan(cfg, topic, since_ms, false, timeout_ms, same, &w, err);
}
