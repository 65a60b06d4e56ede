/* webhook_run.c — where mcloud-api's webhooks happen: two background
 * threads of the daemon (common/periodic), with MySQL as the durable queue.
 *
 * ingest  a Kafka consumer (group webhooks.group) on mcloud.video.events (the
 *         upload's completed and failed, from its outbox; deletes, from
 *         mcloud-api's outbox) and the transcoder's events (done, final
 *         failed). Each message becomes a video event: in one
 *         transaction the event row (its id derived from the job, so a
 *         redelivered message inserts nothing) and one delivery per enabled
 *         endpoint of the tenant whose filter wants it. The offset is
 *         committed only after that commit, so an event is never lost while
 *         mcloud-api is down or killed: the group resumes from the last
 *         commit.
 * sender  every webhooks.poll_ms (at once when nudged) the due deliveries:
 *         pending, next_attempt_at passed, endpoint enabled, and no earlier
 *         pending delivery of the same video to the same endpoint (a failing
 *         delivery holds that video's later events for that endpoint only).
 *         A delivery is claimed by pushing next_attempt_at forward by the
 *         lease (a guarded UPDATE, so several mcloud-api instances never
 *         send one row at once; a sender killed mid-send is retried after
 *         the lease), POSTed signed, then marked delivered or given its
 *         next attempt (common/backoff: capped exponential with jitter);
 *         after webhooks.max_attempts it is failed, and an endpoint whose
 *         attempts failed webhooks.disable_after_failures times in a row
 *         is disabled. At least once: receivers dedupe by webhook-id.
 * sweeper every webhooks.sweep_interval_ms removes delivered and failed
 *         deliveries older than webhooks.retention_s, then the events
 *         no delivery names any more.
 *
 * Sending refuses loopback and private addresses unless
 * webhooks.allow_private is set, checked on the address curl actually
 * connects to (after DNS), and never follows redirects. */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "api/api.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/periodic.h"

#define LEASE_S 60
#define BATCH 16
#define STR_(x) #x
#define STR(x) STR_(x) /* BATCH in the claim query's text */

struct mc_api_webhooks {
    mc_api_server *srv;
    char kafka[512], group[128], video_topic[256], events_topic[256];
    long timeout_ms, retry_initial_ms, retry_max_ms, max_attempts, disable_after, poll_ms;
    long retention_s, sweep_ms;
    mc_kafka_consumer *consumer;
    mc_periodic *ingest, *sender, *sweeper;
    CURL *curl;
    atomic_bool stopping;  /* the sender leaves its batch at once */
};

/* ---- storing events --------------------------------------------------------- */

typedef struct {
    const mc_wh_event *ev;
    const char *type, *payload;
} event_tx;

static int store_event_body(mc_db_conn *conn, void *arg, mc_err *err) {
    const event_tx *t = arg;
    const mc_wh_event *ev = t->ev;
    mc_db_info info = {0};
    int rc = mc_db_conn_exec(conn, "INSERT IGNORE INTO webhook_events (id, tenant_id, video_id, "
                             "type, payload) VALUES (?, ?, ?, ?, ?)",
                             MC_DB_ARGS(mc_db_str(ev->id), mc_db_str(ev->tenant),
                                        mc_db_str(ev->video), mc_db_str(t->type), mc_db_str(t->payload)),
                             &info, err);
    if (rc == 0 && info.affected_rows == 1) /* a new event: its fan-out */
        rc = mc_db_conn_exec(
            conn,
            "INSERT IGNORE INTO webhook_deliveries (id, endpoint_id, event_id, tenant_id, video_id) "
            "SELECT CONCAT('dlv_', LEFT(SHA2(CONCAT(e.id, '|', ?), 256), 32)), e.id, ?, ?, ? "
            "FROM webhook_endpoints e WHERE e.tenant_id = ? AND e.deleted_at IS NULL AND "
            "e.enabled = 1 AND (e.events = '' OR FIND_IN_SET(?, REPLACE(e.events, ' ', ',')) > 0)",
            MC_DB_ARGS(mc_db_str(ev->id), mc_db_str(ev->id), mc_db_str(ev->tenant),
                       mc_db_str(ev->video), mc_db_str(ev->tenant), mc_db_str(t->type)),
            NULL, err);
    return rc;
}

/* A video event and its deliveries, stored once (idempotent by ev->id). */
static int store_event(mc_api_server *srv, const mc_wh_event *ev, int64_t ts_us, mc_err *err) {
    json_t *payload = mc_wh_event_payload(ev, ts_us);
    char *text = payload ? mc_json_dump(payload) : NULL;
    json_decref(payload);
    if (!text) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    const char *type = mc_wh_type_name(ev->type);
    event_tx t = {.ev = ev, .type = type, .payload = text};
    int rc = mc_db_transaction(srv->svc.db, MC_DB_MASTER, store_event_body, &t, err);
    free(text);
    if (rc == 0) {
        mc_log_kv(MC_LOG_INFO, "webhook event", "event", ev->id, "type", type, "video", ev->video,
                  "tenant", ev->tenant, NULL);
        mc_api_webhooks_nudge(srv);
    }
    return rc;
}

/* ---- ingest ----------------------------------------------------------------- */

static int on_message(const mc_kafka_message *m, void *ctx) {
    mc_api_webhooks *w = ctx;
    mc_wh_event ev;
    mc_err err = {0};
    mc_wh_source src = strcmp(m->topic, w->video_topic) == 0 ? MC_WH_SOURCE_VIDEO
                                                               : MC_WH_SOURCE_TRANSCODE;
    int got = mc_wh_event_from_message(src, m->value, m->len, &ev, &err);
    if (got < 0) { /* never valid: retrying cannot help */
        char off[32];
        snprintf(off, sizeof off, "%" PRId64, m->offset);
        mc_log_kv(MC_LOG_WARN, "webhooks: malformed message skipped", "topic", m->topic,
                  "offset", off, "error", err.msg, NULL);
        return 0;
    }
    if (got == 0) return 0;
    int64_t ts_us = m->timestamp_ms > 0 ? m->timestamp_ms * 1000 : (int64_t)time(NULL) * 1000000;
    /* The transcoder's events imply the upload's completion (stored first). */
    bool implied = src == MC_WH_SOURCE_TRANSCODE;
    mc_wh_event before;
    if (implied) mc_wh_event_completed_of(&ev, &before);
    if ((implied && store_event(w->srv, &before, ts_us, &err) < 0) ||
        store_event(w->srv, &ev, ts_us, &err) < 0) {
        mc_log_kv(MC_LOG_WARN, "webhooks: cannot store an event, retrying", "event", ev.id,
                  "error", err.msg, NULL);
        return -1; /* rewound: delivered again */
    }
    return 0;
}

static int ingest_step(void *ctx) {
    mc_api_webhooks *w = ctx;
    mc_err err = {0};
    if (!w->consumer) {
        /* A killed instance's partitions move after 10 s, not librdkafka's 45. */
        static const char *const props[] = {"session.timeout.ms=10000", "heartbeat.interval.ms=3000",
                                            NULL};
        mc_kafka_config kc = {.bootstrap_servers = w->kafka, .client_id = w->srv->svc.instance,
                              .properties = props};
        /* The transcoder's partition count (transcode/worker.c); the video
         * events' as scripts/stack.sh makes them. */
        if (mc_kafka_create_topic(&kc, w->video_topic, 6, 1, 10000, &err) < 0 ||
            mc_kafka_create_topic(&kc, w->events_topic, 3, 1, 10000, &err) < 0) {
            mc_log_kv(MC_LOG_WARN, "webhooks: Kafka topics unavailable, retrying", "error",
                      err.msg, NULL);
            return -1;
        }
        const char *topics[] = {w->video_topic, w->events_topic, NULL};
        w->consumer = mc_kafka_consumer_new(&kc, w->group, topics, &err);
        if (!w->consumer) {
            mc_log_kv(MC_LOG_WARN, "webhooks: no Kafka consumer, retrying", "error", err.msg, NULL);
            return -1;
        }
        mc_log_kv(MC_LOG_INFO, "webhooks: consuming", "group", w->group, "video", w->video_topic,
                  "events", w->events_topic, NULL);
    }
    int rc = mc_kafka_consumer_poll(w->consumer, on_message, w, 200, &err);
    if (rc < 0) {
        mc_log_kv(MC_LOG_WARN, "webhooks: consumer", "error", err.msg, NULL);
        return -1;
    }
    return rc == MC_KAFKA_POLL_COMMITTED ? 1 : 0;
}

/* ---- sending ---------------------------------------------------------------- */

typedef struct attempt {
    bool refused;     /* the connected address was private */
} attempt;

static curl_socket_t open_socket(void *ctx, curlsocktype purpose, struct curl_sockaddr *a) {
    attempt *at = ctx;
    (void)purpose;
    if (mc_wh_addr_private(&a->addr)) {
        at->refused = true;
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

static size_t discard(char *data, size_t size, size_t n, void *ctx) {
    (void)data;
    (void)ctx;
    return size * n;
}

typedef struct due {
    char seq[24], id[72], event_id[40], endpoint[72], url[MC_WH_URL_MAX + 1], secret[MC_WH_SECRET_MAX];
    char next[40];
    long attempts;
    char *payload;
} due;

/* POSTs one delivery: 0 with *code (2xx or not) or -1 with err (no answer). */
static int post(mc_api_webhooks *w, const due *d, long *code, long *ms, mc_err *err) {
    char sig[MC_WH_SIGNATURE_MAX], h_id[80], h_ts[48], h_sig[96];
    int64_t ts = (int64_t)time(NULL);
    if (mc_wh_sign(d->secret, d->event_id, ts, d->payload, strlen(d->payload), sig, err) < 0)
        return -1;
    snprintf(h_id, sizeof h_id, "webhook-id: %s", d->event_id);
    snprintf(h_ts, sizeof h_ts, "webhook-timestamp: %" PRId64, ts);
    snprintf(h_sig, sizeof h_sig, "webhook-signature: %s", sig);
    struct curl_slist *hs = NULL;
    hs = curl_slist_append(hs, "Content-Type: application/json");
    hs = curl_slist_append(hs, "User-Agent: mcloud-webhooks/1");
    hs = curl_slist_append(hs, h_id);
    hs = curl_slist_append(hs, h_ts);
    hs = curl_slist_append(hs, h_sig);
    hs = curl_slist_append(hs, "Expect:");
    attempt at = {0};
    CURL *c = w->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, d->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, w->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, w->timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, d->payload);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(d->payload));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    if (!w->srv->set.webhooks_allow_private) {
        curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
        curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &at);
    }
    CURLcode cc = curl_easy_perform(c);
    curl_slist_free_all(hs);
    curl_off_t us = 0;
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &us);
    *ms = (long)(us / 1000);
    if (at.refused)
        return mc_err_set(err, MC_ERR_INVALID, "refused: the URL resolves to a loopback or private "
                                               "address (webhooks.allow_private is off)");
    if (cc != CURLE_OK) return mc_err_set(err, MC_ERR_UNAVAILABLE, "%s", curl_easy_strerror(cc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
    return 0;
}

static int record(mc_api_webhooks *w, const due *d, bool ok, long code, long ms, const char *error) {
    mc_err err = {0};
    mc_db *db = w->srv->svc.db;
    long attempts = d->attempts + 1;
    uint32_t rnd = 0;
    RAND_bytes((unsigned char *)&rnd, sizeof rnd);
    unsigned delay = mc_wh_retry_delay_ms((unsigned)w->retry_initial_ms, (unsigned)w->retry_max_ms,
                                          (unsigned)attempts, rnd);
    const char *status = ok ? "delivered" : attempts >= w->max_attempts ? "failed" : "pending";
    int rc = mc_db_exec(db, MC_DB_MASTER,
                        "UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, "
                        "response_code = ?, response_ms = ?, last_error = ?, last_attempt_at = "
                        "UTC_TIMESTAMP(6), next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL ? "
                        "MICROSECOND WHERE seq = ?",
                        MC_DB_ARGS(mc_db_str(status), code ? mc_db_i64(code) : mc_db_null(),
                                   mc_db_i64(ms), error ? mc_db_str(error) : mc_db_null(),
                                   mc_db_i64(ok ? 0 : (int64_t)delay * 1000), mc_db_str(d->seq)),
                        NULL, &err);
    /* The endpoint's run of failures; disabled when it is long enough. */
    if (rc == 0)
        rc = mc_db_exec(db, MC_DB_MASTER,
                        "UPDATE webhook_endpoints SET failures = IF(?, 0, failures + 1), "
                        "enabled = IF(NOT ? AND failures >= ?, 0, enabled), disabled_reason = "
                        "IF(NOT ? AND failures >= ?, CONCAT('disabled after ', failures, "
                        "' failed attempts in a row'), disabled_reason) WHERE id = ?",
                        MC_DB_ARGS(mc_db_i64(ok), mc_db_i64(ok), mc_db_i64(w->disable_after),
                                   mc_db_i64(ok), mc_db_i64(w->disable_after),
                                   mc_db_str(d->endpoint)),
                        NULL, &err);
    char a[24], c[24];
    snprintf(a, sizeof a, "%ld", attempts);
    snprintf(c, sizeof c, "%ld", code);
    mc_log_kv(ok ? MC_LOG_INFO : MC_LOG_WARN, "webhook attempt", "delivery", d->id, "event",
              d->event_id, "status", status, "attempt", a, "code", c, "error", error ? error : "",
              NULL);
    if (rc < 0) mc_log_kv(MC_LOG_WARN, "webhooks: cannot record an attempt", "delivery", d->id,
                          "error", err.msg, NULL);
    return rc;
}

static int due_row(void *ud, const mc_db_row *row, mc_err *err) {
    due *list = ud;
    size_t i = 0;
    while (i < BATCH && list[i].seq[0]) i++;
    if (i == BATCH) return 1;
    due *d = &list[i];
    snprintf(d->seq, sizeof d->seq, "%s", row->val[0]);
    snprintf(d->id, sizeof d->id, "%s", row->val[1]);
    snprintf(d->event_id, sizeof d->event_id, "%s", row->val[2]);
    snprintf(d->endpoint, sizeof d->endpoint, "%s", row->val[3]);
    snprintf(d->url, sizeof d->url, "%s", row->val[4]);
    snprintf(d->secret, sizeof d->secret, "%s", row->val[5]);
    snprintf(d->next, sizeof d->next, "%s", row->val[6]);
    d->attempts = strtol(row->val[7], NULL, 10);
    d->payload = strdup(row->val[8]);
    if (!d->payload) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    return 0;
}

static int send_step(void *ctx) {
    mc_api_webhooks *w = ctx;
    mc_db *db = w->srv->svc.db;
    mc_err err = {0};
    due list[BATCH];
    memset(list, 0, sizeof list);
    int rc = mc_db_query_each(
        db, MC_DB_MASTER,
        "SELECT d.seq, d.id, d.event_id, d.endpoint_id, e.url, e.secret, d.next_attempt_at, "
        "d.attempts, ev.payload FROM webhook_deliveries d "
        "JOIN webhook_endpoints e ON e.id = d.endpoint_id JOIN webhook_events ev ON ev.id = d.event_id "
        "WHERE d.status = 'pending' AND d.next_attempt_at <= UTC_TIMESTAMP(6) AND e.enabled = 1 "
        "AND e.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE "
        "p.endpoint_id = d.endpoint_id AND p.video_id = d.video_id AND p.status = 'pending' AND "
        "p.seq < d.seq) ORDER BY d.next_attempt_at, d.seq LIMIT " STR(BATCH),
        NULL, 0, due_row, list, &err);
    if (rc < 0) mc_log_kv(MC_LOG_WARN, "webhooks: cannot read due deliveries", "error", err.msg, NULL);
    size_t sent = 0;
    for (size_t i = 0; i < BATCH && list[i].seq[0]; i++) {
        due *d = &list[i];
        mc_db_info info = {0};
        if (!atomic_load(&w->stopping) &&
            mc_db_exec(db, MC_DB_MASTER,
                       "UPDATE webhook_deliveries SET next_attempt_at = UTC_TIMESTAMP(6) + "
                       "INTERVAL ? SECOND WHERE seq = ? AND status = 'pending' AND "
                       "next_attempt_at = CAST(? AS DATETIME(6))",
                       MC_DB_ARGS(mc_db_i64(LEASE_S), mc_db_str(d->seq), mc_db_str(d->next)),
                       &info, &err) == 0 &&
            info.affected_rows == 1) {
            long code = 0, ms = 0;
            mc_err perr = {0};
            char why[600] = "";
            int prc = post(w, d, &code, &ms, &perr);
            bool ok = prc == 0 && code >= 200 && code < 300;
            if (prc < 0) snprintf(why, sizeof why, "%.500s", perr.msg);
            else if (!ok) snprintf(why, sizeof why, "the receiver answered %ld", code);
            record(w, d, ok, prc == 0 ? code : 0, ms, ok ? NULL : why);
            sent++;
        }
        free(d->payload);
    }
    return rc < 0 ? -1 : sent > 0 ? 1 : 0;
}

/* ---- retention ---------------------------------------------------------------- */

#define SWEEP_BATCH "1000"
#define SWEEP_ROUNDS 20 /* at most 20 000 rows of each kind per sweep */

/* Deletes up to SWEEP_BATCH rows with sql (one ? = the retention): the count. */
static long sweep_batch(mc_api_webhooks *w, const char *sql, mc_err *err) {
    mc_db_info info = {0};
    if (mc_db_exec(w->srv->svc.db, MC_DB_MASTER, sql, MC_DB_ARGS(mc_db_i64(w->retention_s)), &info,
                   err) < 0)
        return -1;
    return (long)info.affected_rows;
}

/* Delivered and failed deliveries whose last attempt is older than the
 * retention (for them next_attempt_at is that attempt, or a failure's
 * unused retry time: the index webhook_deliveries_due finds them); then
 * events older than the retention that no delivery names any more (looked
 * up through the tenant's endpoints and the (endpoint, event) key).
 * Pending deliveries and their events stay, however old. */
static int sweep_step(void *ctx) {
    mc_api_webhooks *w = ctx;
    mc_err err = {0};
    long deliveries = 0, events = 0, n = 0;
    for (int i = 0; i < SWEEP_ROUNDS && !atomic_load(&w->stopping); i++) {
        n = sweep_batch(w,
                        "DELETE FROM webhook_deliveries WHERE status IN ('delivered', 'failed') AND "
                        "next_attempt_at < UTC_TIMESTAMP(6) - INTERVAL ? SECOND LIMIT " SWEEP_BATCH,
                        &err);
        if (n <= 0) break;
        deliveries += n;
    }
    for (int i = 0; n >= 0 && i < SWEEP_ROUNDS && !atomic_load(&w->stopping); i++) {
        n = sweep_batch(w,
                        "DELETE FROM webhook_events WHERE created_at < UTC_TIMESTAMP(6) - INTERVAL ? "
                        "SECOND AND NOT EXISTS (SELECT 1 FROM webhook_endpoints e JOIN "
                        "webhook_deliveries d ON d.endpoint_id = e.id AND d.event_id = "
                        "webhook_events.id WHERE e.tenant_id = webhook_events.tenant_id) LIMIT "
                        SWEEP_BATCH, &err);
        if (n <= 0) break;
        events += n;
    }
    if (n < 0) {
        mc_log_kv(MC_LOG_WARN, "webhooks: retention sweep failed, retrying", "error", err.msg, NULL);
        return -1;
    }
    if (deliveries || events) {
        char d[24], e[24];
        snprintf(d, sizeof d, "%ld", deliveries);
        snprintf(e, sizeof e, "%ld", events);
        mc_log_kv(MC_LOG_INFO, "webhooks: old deliveries removed", "deliveries", d, "events", e, NULL);
    }
    return 0;
}

/* ---- life cycle --------------------------------------------------------------- */

int mc_api_webhooks_start(mc_api_server *srv, mc_err *err) {
    mc_api_webhooks *w = calloc(1, sizeof *w);
    if (!w) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    w->srv = srv;
    mc_config *cfg = srv->svc.config;
    if (mc_config_copy(cfg, "kafka", w->kafka, sizeof w->kafka, err) < 0 ||
        mc_config_copy(cfg, "webhooks.group", w->group, sizeof w->group, err) < 0 ||
        mc_config_copy(cfg, "video.events_topic", w->video_topic, sizeof w->video_topic, err) < 0 ||
        mc_config_copy(cfg, "transcode.events_topic", w->events_topic, sizeof w->events_topic,
                       err) < 0 ||
        mc_config_int(cfg, "webhooks.timeout_ms", 100, 60000, &w->timeout_ms, err) < 0 ||
        mc_config_int(cfg, "webhooks.retry_initial_ms", 10, 86400000, &w->retry_initial_ms, err) < 0 ||
        mc_config_int(cfg, "webhooks.retry_max_ms", 10, 86400000, &w->retry_max_ms, err) < 0 ||
        mc_config_int(cfg, "webhooks.max_attempts", 1, 1000, &w->max_attempts, err) < 0 ||
        mc_config_int(cfg, "webhooks.disable_after_failures", 1, 1000000, &w->disable_after, err) < 0 ||
        mc_config_int(cfg, "webhooks.poll_ms", 10, 60000, &w->poll_ms, err) < 0 ||
        mc_config_int(cfg, "webhooks.retention_s", 1, 3650L * 86400, &w->retention_s, err) < 0 ||
        mc_config_int(cfg, "webhooks.sweep_interval_ms", 100, 86400000, &w->sweep_ms, err) < 0) {
        free(w);
        return -1;
    }
    if (w->retry_max_ms < w->retry_initial_ms) {
        free(w);
        return mc_err_set(err, MC_ERR_INVALID, "webhooks.retry_max_ms is below webhooks.retry_initial_ms");
    }
    w->curl = curl_easy_init();
    if (!w->curl) {
        free(w);
        return mc_err_set(err, MC_ERR_INTERNAL, "curl_easy_init failed");
    }
    srv->webhooks = w;
    w->sender = mc_periodic_start("wh-send", w->poll_ms, send_step, w, err);
    if (w->sender) w->ingest = mc_periodic_start("wh-ingest", 500, ingest_step, w, err);
    if (w->ingest) w->sweeper = mc_periodic_start("wh-sweep", w->sweep_ms, sweep_step, w, err);
    if (!w->sweeper) {
        mc_api_webhooks_stop(srv);
        return -1;
    }
    return 0;
}

void mc_api_webhooks_nudge(mc_api_server *srv) {
    if (srv->webhooks) mc_periodic_nudge(srv->webhooks->sender);
}

void mc_api_webhooks_stop(mc_api_server *srv) {
    mc_api_webhooks *w = srv->webhooks;
    if (!w) return;
    atomic_store(&w->stopping, true);
    mc_periodic_stop(w->sweeper);
    mc_periodic_stop(w->ingest);
    mc_periodic_stop(w->sender);
    if (w->consumer) mc_kafka_consumer_close(w->consumer);
    curl_easy_cleanup(w->curl);
    srv->webhooks = NULL;
    free(w);
}
