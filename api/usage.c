/* usage.c — GET /v1/usage: what a tenant used, per day (UTC), for billing
 * and the console's chart. From MySQL: videos created and deleted, uploads
 * completed (count, bytes, minutes of media), minutes transcoded (jobs done,
 * by the source's duration), and the bytes stored now (sources and
 * renditions of live videos). From Redis: API calls per key and day,
 * counted by the rate limit's script when it lets a request through
 * (ratelimit.c; mcloud:api:usage:<tenant>:<YYYYMMDD>, a hash key id →
 * calls, kept 400 days), and playback: requests and bytes served, counted
 * by mcloud-stream (stream/usage.c; mcloud:stream:usage:<tenant>:<YYYYMMDD>,
 * a hash with "requests" and "bytes", flushed every second); both hashes
 * of every day asked for are read in one pipelined round trip. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "common/log.h"
#include "common/redis_keys.h"

static void day_name(int64_t us, char out[11], bool compact) {
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, compact ? "%Y%m%d" : "%Y-%m-%d", &tm);
}

int mc_api_usage_key(mc_api_ctx *c, char *buf, size_t len) {
    char day[11];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    day_name((int64_t)now.tv_sec * 1000000, day, true);
    return mc_key_api_usage(buf, len, c->caller.tenant, day);
}

/* Adds the rows' (day, figure...) columns to the days' objects. */
static int add_rows(mc_api_ctx *c, json_t *days, const char *sql, const mc_api_usage_params *p,
                    const char *const *fields, const bool *minutes, size_t nfields, mc_err *err) {
    char from[32], to[32];
    mc_db_rows rows;
    mc_api_time_to_db(p->from_us, from);
    mc_api_time_to_db(p->to_us, to);
    if (mc_db_query(c->srv->svc.db, MC_DB_MASTER, sql,
                    MC_DB_ARGS(mc_db_str(c->caller.tenant), mc_db_str(from), mc_db_str(to)), &rows,
                    err) < 0)
        return -1;
    for (size_t i = 0; i < rows.nrows; i++) {
        json_t *d = json_object_get(days, mc_db_rows_get(&rows, i, 0));
        if (!d) continue;
        for (size_t f = 0; f < nfields; f++) {
            const char *v = mc_db_rows_get(&rows, i, f + 1);
            long long n = v ? strtoll(v, NULL, 10) : 0;
            json_object_set_new(d, fields[f], minutes[f] ? json_real((double)n / 60000.0)
                                                         : json_integer(n));
        }
    }
    mc_db_rows_free(&rows);
    return 0;
}

/* A day's API calls per key, from its hash's HGETALL. */
static void api_calls(json_t *d, const redisReply *rep) {
    json_t *calls = json_object();
    long long total = 0;
    if (rep->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i + 1 < rep->elements; i += 2) {
            long long n = strtoll(rep->element[i + 1]->str ? rep->element[i + 1]->str : "0", NULL, 10);
            json_object_set_new(calls, rep->element[i]->str ? rep->element[i]->str : "", json_integer(n));
            total += n;
        }
    json_object_set_new(d, "api_calls", json_integer(total));
    json_object_set_new(d, "api_calls_by_key", calls);
}

/* A day's playback, from its hash's HMGET requests bytes. */
static void playback(json_t *d, const redisReply *rep) {
    long long v[2] = {0, 0};
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements && i < 2; i++)
        if (rep->element[i]->type == REDIS_REPLY_STRING) v[i] = strtoll(rep->element[i]->str, NULL, 10);
    json_object_set_new(d, "playback_requests", json_integer(v[0]));
    json_object_set_new(d, "bytes_served", json_integer(v[1]));
}

/* The Redis figures of every day (list[i]: day i from from_us): both
 * hashes of all the days read in one pipelined round trip. */
static int redis_figures(mc_api_ctx *c, json_t *list, const mc_api_usage_params *p, mc_err *err) {
    const int64_t day_us = 86400LL * 1000000;
    mc_redis_batch b = {0};
    int rc = 0;
    for (int i = 0; rc == 0 && i < p->days; i++) {
        char day[11], calls_key[160], played_key[160];
        day_name(p->from_us + i * day_us, day, true);
        if (mc_key_api_usage(calls_key, sizeof calls_key, c->caller.tenant, day) < 0 ||
            mc_key_stream_usage(played_key, sizeof played_key, c->caller.tenant, day) < 0) {
            rc = mc_err_set(err, MC_ERR_INTERNAL, "bad usage key");
            break;
        }
        mc_redis_batch_add(&b, "HGETALL %s", calls_key); /* a failed add fails the run */
        mc_redis_batch_add(&b, "HMGET %s requests bytes", played_key);
    }
    if (rc == 0) rc = mc_redis_batch_run(c->srv->svc.redis, &b, 1, err);
    for (int i = 0; rc == 0 && i < p->days; i++) {
        const redisReply *calls = mc_redis_batch_reply(c->srv->svc.redis, &b, 2 * (size_t)i, err);
        const redisReply *played = calls ? mc_redis_batch_reply(c->srv->svc.redis, &b, 2 * (size_t)i + 1, err) : NULL;
        if (!played) {
            rc = -1;
            break;
        }
        api_calls(json_array_get(list, (size_t)i), calls);
        playback(json_array_get(list, (size_t)i), played);
    }
    mc_redis_batch_free(&b);
    return rc;
}

int mc_api_usage(mc_api_ctx *c, mc_api_resp *r) {
    mc_api_usage_params p;
    mc_err err = {0};
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (mc_api_usage_params_parse(&c->query, (int64_t)now.tv_sec * 1000000, &p, &err) < 0)
        return mc_api_fail(r, 400, "invalid_query", "%s", err.msg);
    const int64_t day = 86400LL * 1000000;
    json_t *days = json_object(), *list = json_array();
    for (int i = 0; i < p.days; i++) {
        char name[11];
        day_name(p.from_us + i * day, name, false);
        json_t *d = json_object();
        json_object_set_new(d, "date", json_string(name));
        static const char *const zero[] = {"videos_created", "videos_deleted", "uploads_completed",
                                           "bytes_uploaded"};
        for (size_t z = 0; z < sizeof zero / sizeof *zero; z++) json_object_set_new(d, zero[z], json_integer(0));
        json_object_set_new(d, "minutes_uploaded", json_real(0));
        json_object_set_new(d, "minutes_transcoded", json_real(0));
        json_object_set(days, name, d);
        json_array_append_new(list, d);
    }
    static const char *const created[] = {"videos_created"}, *const deleted[] = {"videos_deleted"},
                             *const uploaded[] = {"uploads_completed", "bytes_uploaded", "minutes_uploaded"},
                             *const transcoded[] = {"minutes_transcoded"};
    static const bool no[] = {false, false}, upl_min[] = {false, false, true}, yes[] = {true};
    int rc = add_rows(c, days, "SELECT DATE(created_at), COUNT(*) FROM videos WHERE tenant_id = ? AND "
                      "created_at >= ? AND created_at < ? GROUP BY 1", &p, created, no, 1, &err);
    if (rc == 0)
        rc = add_rows(c, days, "SELECT DATE(deleted_at), COUNT(*) FROM videos WHERE tenant_id = ? AND "
                      "deleted_at >= ? AND deleted_at < ? GROUP BY 1", &p, deleted, no, 1, &err);
    if (rc == 0)
        rc = add_rows(c, days, "SELECT DATE(u.completed_at), COUNT(*), COALESCE(SUM(u.length_bytes), 0), "
                      "COALESCE(SUM(v.duration_ms), 0) FROM uploads u LEFT JOIN videos v ON v.id = "
                      "u.video_id WHERE u.tenant_id = ? AND u.status = 'completed' AND u.completed_at "
                      ">= ? AND u.completed_at < ? GROUP BY 1", &p, uploaded, upl_min, 3, &err);
    if (rc == 0)
        rc = add_rows(c, days, "SELECT DATE(j.updated_at), COALESCE(SUM(v.duration_ms), 0) FROM jobs j "
                      "JOIN videos v ON v.id = j.video_id WHERE v.tenant_id = ? AND j.status = 'done' "
                      "AND j.updated_at >= ? AND j.updated_at < ? GROUP BY 1", &p, transcoded, yes, 1,
                      &err);
    if (rc == 0) rc = redis_figures(c, list, &p, &err);
    mc_db_rows rows;
    if (rc == 0)
        rc = mc_db_query(c->srv->svc.db, MC_DB_MASTER,
                         "SELECT (SELECT COALESCE(SUM(size_bytes), 0) FROM videos WHERE tenant_id = ? "
                         "AND deleted_at IS NULL) + (SELECT COALESCE(SUM(r.size_bytes), 0) FROM "
                         "renditions r JOIN videos v ON v.id = r.video_id WHERE v.tenant_id = ? AND "
                         "v.deleted_at IS NULL)",
                         MC_DB_ARGS(mc_db_str(c->caller.tenant), mc_db_str(c->caller.tenant)), &rows,
                         &err);
    json_decref(days);
    if (rc < 0) {
        json_decref(list);
        return mc_api_fail_err(c, r, &err);
    }
    const char *stored = mc_db_rows_get(&rows, 0, 0);
    json_t *out = json_object();
    char f[11], t[11];
    day_name(p.from_us, f, false);
    day_name(p.to_us - day, t, false);
    json_object_set_new(out, "granularity", json_string("day"));
    json_object_set_new(out, "from", json_string(f));
    json_object_set_new(out, "to", json_string(t));
    json_object_set_new(out, "bytes_stored", json_integer(stored ? strtoll(stored, NULL, 10) : 0));
    json_object_set_new(out, "data", list);
    mc_db_rows_free(&rows);
    return mc_api_ok(r, 200, out);
}
