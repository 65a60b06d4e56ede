/* scaler.c — the autoscaler of mcloud-orchestrator: every second, on the
 * active orchestrator only, each service with a `scaling:` policy whose
 * interval has passed is evaluated:
 *   1. the lag of its consumer group on its topic is read from Kafka
 *      (common/kafka.h mc_kafka_group_lag: committed offsets against the
 *      high watermarks; the answer's partition count caps the count);
 *   2. orchestrator/autoscale.c decides, from the lag, the count of the
 *      spec and the windows' state;
 *   3. a change goes through the path `mcloud scale` uses (a new spec
 *      version by "autoscaler", applied by the next round: the victims of a
 *      scale-down are decide.c's choice, stopped with SIGTERM and the grace);
 *   4. the state (windows, last change) and the last evaluation are kept in
 *      Redis (<prefix>:orch:scale:<service>), the decisions that changed
 *      something or held for missing data in a list beside it
 *      (<prefix>:orch:scale:<service>:log, newest first, 20 kept): a standby
 *      that takes over goes on with the same windows.
 * A standby evaluates nothing: Kafka is read by one orchestrator. */
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/kafka.h"
#include "common/log.h"
#include "orchestrator/autoscale.h"
#include "orchestrator/orchestrator.h"

#define SCALER_TICK_MS 1000
#define LAG_TIMEOUT_MS 3000
#define LOG_KEEP 20

static void state_key(const mc_orch *o, const char *service, char *buf, size_t len) {
    snprintf(buf, len, "%s:orch:scale:%s", o->key_prefix, service);
}

/* The group's total lag on topic and the topic's partition count: 0, or -1
 * when Kafka could not be read. */
static int read_lag(mc_orch *o, const mc_spec_scaling *p, int64_t *lag, int *partitions, mc_err *err) {
    mc_kafka_config kc = {.bootstrap_servers = mc_config_get(o->svc.config, "kafka"),
                          .client_id = "mcloud-orchestrator-scaler"};
    mc_kafka_partition_lag *parts = NULL;
    size_t n = 0;
    if (mc_kafka_group_lag(&kc, p->group, p->topic, LAG_TIMEOUT_MS, &parts, &n, err) < 0) return -1;
    *lag = 0;
    for (size_t i = 0; i < n; i++) *lag += parts[i].lag > 0 ? parts[i].lag : 0;
    *partitions = (int)n;
    free(parts);
    if (n == 0) return mc_err_set(err, MC_ERR_UNAVAILABLE, "topic %s has no partitions (not created yet?)", p->topic);
    return 0;
}

int mc_orch_topic_partitions(void *ctx, const char *topic) {
    mc_orch *o = ctx;
    mc_kafka_config kc = {.bootstrap_servers = mc_config_get(o->svc.config, "kafka"),
                          .client_id = "mcloud-orchestrator-scaler"};
    mc_err err = {0};
    int n = mc_kafka_partition_count(&kc, topic, LAG_TIMEOUT_MS, &err);
    if (n < 0)
        mc_log_kv(MC_LOG_WARN, "partitions of a scaling topic unknown: max not checked", "topic", topic, "error",
                  err.msg, NULL);
    return n;
}

static int64_t get_i64(json_t *j, const char *k) {
    json_t *v = json_object_get(j, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* The windows' state as the last active orchestrator left it (zero: none),
 * and whether its last evaluation had the lag unknown (*was_unknown). */
static void load_state(mc_orch *o, const char *service, mc_scale_state *st, bool *was_unknown) {
    char key[160];
    state_key(o, service, key, sizeof key);
    memset(st, 0, sizeof *st);
    *was_unknown = false;
    mc_err err = {0};
    redisReply *r = mc_redis_command(o->svc.redis, &err, "GET %s", key);
    if (!r) return;
    if (r->type == REDIS_REPLY_STRING) {
        *was_unknown = strstr(r->str, "\"lag_known\":false") != NULL;
        json_t *j = json_loadb(r->str, r->len, 0, NULL);
        if (j) {
            st->high_since_ms = get_i64(j, "high_since_ms");
            st->low_since_ms = get_i64(j, "low_since_ms");
            st->high_min = (int)get_i64(j, "high_min");
            st->low_max = (int)get_i64(j, "low_max");
            st->last_change_ms = get_i64(j, "last_change_ms");
            json_decref(j);
        }
    }
    freeReplyObject(r);
}

static void save(mc_orch *o, const char *service, const mc_scale_state *st, const mc_scale_input *in,
                 const mc_scale_decision *d, bool logged) {
    char key[160];
    state_key(o, service, key, sizeof key);
    json_t *eval = json_pack("{s:I, s:b, s:I, s:i, s:i, s:i, s:i, s:b, s:s}", "at_ms", (json_int_t)in->now_ms,
                             "lag_known", in->lag_known, "lag", (json_int_t)(in->lag_known ? in->lag : -1),
                             "partitions", in->partitions, "current", in->current, "wanted", d->wanted, "desired",
                             d->desired, "change", d->change, "reason", d->reason);
    json_t *j = json_pack("{s:I, s:I, s:i, s:i, s:I, s:O}", "high_since_ms", (json_int_t)st->high_since_ms,
                          "low_since_ms", (json_int_t)st->low_since_ms, "high_min", st->high_min, "low_max",
                          st->low_max, "last_change_ms", (json_int_t)st->last_change_ms, "last", eval);
    char *text = mc_json_dump(j);
    char *line = mc_json_dump(eval);
    mc_err err = {0};
    redisReply *r = text ? mc_redis_command(o->svc.redis, &err, "SET %s %s", key, text) : NULL;
    if (r) freeReplyObject(r);
    if (logged && line) {
        r = mc_redis_command_once(o->svc.redis, &err, "LPUSH %s:log %s", key, line);
        if (r) freeReplyObject(r);
        r = mc_redis_command(o->svc.redis, &err, "LTRIM %s:log 0 %d", key, LOG_KEEP - 1);
        if (r) freeReplyObject(r);
    }
    if (err.msg[0]) mc_log_kv(MC_LOG_WARN, "saving the scaler's state", "scaled", service, "error", err.msg, NULL);
    free(text);
    free(line);
    json_decref(eval);
    json_decref(j);
}

typedef struct scale_ctx {
    const char *service;
    int from, to;
} scale_ctx;

/* The count, unless someone changed it since the decision (then nothing). */
static int autoscale_edit(mc_orch *o, mc_spec *spec, const mc_orch_version *h, int n, void *ctx, mc_err *err) {
    (void)o, (void)h, (void)n;
    const scale_ctx *c = ctx;
    int p = mc_spec_service_position(spec, c->service);
    if (p < 0 || !spec->services[p].scaling.enabled)
        return mc_err_set(err, MC_ERR_CONFLICT, "'%s' is no longer autoscaled", c->service);
    if (spec->services[p].count != c->from)
        return mc_err_set(err, MC_ERR_CONFLICT, "the count of '%s' changed meanwhile", c->service);
    spec->services[p].count = c->to;
    return 0;
}

static bool still_active(mc_orch *o) {
    pthread_mutex_lock(&o->mu);
    bool a = o->active;
    pthread_mutex_unlock(&o->mu);
    return a;
}

static void evaluate(mc_orch *o, const mc_spec_service *svc, int64_t now) {
    const mc_spec_scaling *p = &svc->scaling;
    mc_scale_input in = {.current = svc->count, .now_ms = now};
    mc_err err = {0};
    in.lag_known = read_lag(o, p, &in.lag, &in.partitions, &err) == 0;
    mc_scale_state st, before;
    bool was_unknown;
    load_state(o, svc->name, &st, &was_unknown);
    before = st;
    mc_scale_decision d;
    mc_scale_decide(p, &st, &in, &d);
    char lag[24], cur[16], des[16], parts[16];
    snprintf(lag, sizeof lag, "%" PRId64, in.lag_known ? in.lag : -1);
    snprintf(cur, sizeof cur, "%d", in.current);
    snprintf(des, sizeof des, "%d", d.desired);
    snprintf(parts, sizeof parts, "%d", in.partitions);
    if (!still_active(o)) return;
    /* a hold for missing data is logged when it starts, not every interval */
    if (!in.lag_known && !was_unknown)
        mc_log_kv(MC_LOG_WARN, "autoscale: lag unknown, holding the count", "scaled", svc->name, "count", cur,
                  "error", err.msg, NULL);
    if (d.change) {
        scale_ctx c = {svc->name, in.current, d.desired};
        int64_t version;
        char *diff = NULL;
        mc_err e = {0};
        if (mc_orch_edit_latest(o, autoscale_edit, &c, "autoscaler", "autoscale", &version, &diff, &e) < 0) {
            free(diff);
            if (e.kind != MC_ERR_CONFLICT)
                mc_log_kv(MC_LOG_WARN, "autoscale: applying the count failed", "scaled", svc->name, "error", e.msg,
                          NULL);
            save(o, svc->name, &before, &in, &d, false); /* the windows stay as they were */
            return;
        }
        free(diff);
        char v[24];
        snprintf(v, sizeof v, "%" PRId64, version);
        mc_log_kv(MC_LOG_INFO, "autoscale decision", "scaled", svc->name, "lag", lag, "partitions", parts, "from",
                  cur, "to", des, "reason", d.reason, "spec_version", v, NULL);
        mc_orch_nudge(o);
    }
    save(o, svc->name, &st, &in, &d, d.change || (!in.lag_known && !was_unknown));
}

static int scaler_step(void *ctx) {
    mc_orch *o = ctx;
    static int64_t last_eval[MC_SPEC_MAX_SERVICES]; /* by position; one scaler per process */
    if (!still_active(o)) return 0;
    mc_spec *spec = malloc(sizeof *spec);
    if (!spec) return -1;
    pthread_mutex_lock(&o->mu);
    bool have = o->spec != NULL;
    if (have) *spec = *o->spec;
    pthread_mutex_unlock(&o->mu);
    int64_t now = mc_realtime_ms();
    for (int i = 0; have && i < spec->service_count; i++) {
        const mc_spec_service *s = &spec->services[i];
        if (!s->scaling.enabled || now - last_eval[i] < s->scaling.interval_ms) continue;
        last_eval[i] = now;
        evaluate(o, s, now);
    }
    free(spec);
    return 0;
}

int mc_orch_scaler_start(mc_orch *o, mc_err *err) {
    o->check.topic_partitions = mc_orch_topic_partitions;
    o->check.topic_ctx = o;
    o->scaler = mc_periodic_start("orch-scaler", SCALER_TICK_MS, scaler_step, o, err);
    return o->scaler ? 0 : -1;
}

void mc_orch_scaler_stop(mc_orch *o) {
    mc_periodic_stop(o->scaler);
    o->scaler = NULL;
}

json_t *mc_orch_autoscale_json(mc_orch *o, mc_err *err) {
    mc_spec *spec = malloc(sizeof *spec);
    if (!spec) return NULL;
    pthread_mutex_lock(&o->mu);
    bool have = o->spec != NULL;
    if (have) *spec = *o->spec;
    int actual[MC_SPEC_MAX_SERVICES] = {0};
    for (int i = 0; have && i < spec->service_count; i++) {
        for (int r = 0; o->view && r < o->view->nreports; r++) {
            const mc_report *rep = &o->view->reports[r];
            actual[i] += strcmp(rep->service, spec->services[i].name) == 0 && strcmp(rep->state, "running") == 0 &&
                         rep->ready;
        }
    }
    pthread_mutex_unlock(&o->mu);
    json_t *list = json_array();
    for (int i = 0; have && i < spec->service_count; i++) {
        const mc_spec_service *s = &spec->services[i];
        const mc_spec_scaling *p = &s->scaling;
        if (!p->enabled) continue;
        char key[160];
        state_key(o, s->name, key, sizeof key);
        json_t *last = json_null(), *log = json_array();
        redisReply *r = mc_redis_command(o->svc.redis, err, "GET %s", key);
        if (!r) goto fail;
        if (r->type == REDIS_REPLY_STRING) {
            json_t *j = json_loadb(r->str, r->len, 0, NULL);
            json_t *l = j ? json_object_get(j, "last") : NULL;
            if (l) last = json_incref(l);
            json_decref(j);
        }
        freeReplyObject(r);
        r = mc_redis_command(o->svc.redis, err, "LRANGE %s:log 0 %d", key, LOG_KEEP - 1);
        if (!r) {
            json_decref(last);
            json_decref(log);
            goto fail;
        }
        for (size_t k = 0; r->type == REDIS_REPLY_ARRAY && k < r->elements; k++) {
            json_t *e = json_loadb(r->element[k]->str, r->element[k]->len, 0, NULL);
            if (e) json_array_append_new(log, e);
        }
        freeReplyObject(r);
        json_array_append_new(
            list, json_pack("{s:s, s:{s:s, s:s, s:i, s:i, s:I, s:I, s:I, s:I}, s:i, s:i, s:o, s:o}", "service",
                            s->name, "policy", "topic", p->topic, "group", p->group, "min", p->min, "max", p->max,
                            "lag_per_instance", (json_int_t)p->lag_per_instance, "interval_ms",
                            (json_int_t)p->interval_ms, "up_window_ms", (json_int_t)p->up_window_ms,
                            "down_window_ms", (json_int_t)p->down_window_ms, "desired", s->count, "actual",
                            actual[i], "last", last, "decisions", log));
    }
    free(spec);
    return json_pack("{s:o}", "services", list);
fail:
    json_decref(list);
    free(spec);
    return NULL;
}
