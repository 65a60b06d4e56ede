/* videos.c — GET/PATCH/DELETE /v1/videos[/{id}] and the signed playback
 * URLs. Every statement names the caller's tenant: another tenant's video
 * is exactly as absent as an unknown id (404), and a deleted video (its
 * tombstone row) is absent too.
 *
 * The list is keyset-paginated, newest first, ties broken by id: the
 * cursor holds the last row's (created_at, id) and the next page starts
 * strictly after it on the videos_tenant_list index, so a page costs the
 * same on the first page and the ten-thousandth. It reads the replica. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "common/log.h"
#include "common/playback_doc.h"

/* ---- rendering ------------------------------------------------------------ */

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *time_json(const char *db) {
    char t[32];
    return db && mc_api_time_from_db(db, t) == 0 ? json_string(t) : json_null();
}

static json_t *int_or_null(const char *s) {
    return s ? json_integer(strtoll(s, NULL, 10)) : json_null();
}

static json_t *metadata_json(const char *s) {
    json_t *m = s ? json_loads(s, 0, NULL) : NULL;
    if (!json_is_object(m)) {
        json_decref(m);
        m = json_object();
    }
    return m;
}

/* Columns shared by the list and the single read. */
#define SUMMARY_COLUMNS                                                                    \
    "v.id, v.title, v.description, v.metadata, v.status, v.failure_reason, v.created_at, " \
    "v.updated_at"

static json_t *summary_json(const mc_db_rows *rows, size_t i) {
    json_t *v = json_object();
    json_object_set_new(v, "id", json_string(mc_db_rows_get(rows, i, 0)));
    json_object_set_new(v, "title", json_string(mc_db_rows_get(rows, i, 1)));
    const char *d = mc_db_rows_get(rows, i, 2);
    json_object_set_new(v, "description", json_string(d ? d : ""));
    json_object_set_new(v, "metadata", metadata_json(mc_db_rows_get(rows, i, 3)));
    json_object_set_new(v, "status", json_string(mc_db_rows_get(rows, i, 4)));
    json_object_set_new(v, "failure_reason", str_or_null(mc_db_rows_get(rows, i, 5)));
    json_object_set_new(v, "created_at", time_json(mc_db_rows_get(rows, i, 6)));
    json_object_set_new(v, "updated_at", time_json(mc_db_rows_get(rows, i, 7)));
    return v;
}

/* ---- GET /v1/videos --------------------------------------------------------- */

int mc_api_videos_list(mc_api_ctx *c, mc_api_resp *r) {
    mc_api_list_params p;
    mc_err err = {0};
    if (mc_api_list_params_parse(&c->query, &p, &err) < 0)
        return mc_api_fail(r, 400, "invalid_query", "%s", err.msg);
    mc_api_cursor cur = {0};
    if (p.cursor && mc_api_cursor_decode(&c->srv->cursor_key, c->caller.tenant, p.cursor, &cur,
                                         &err) < 0)
        return mc_api_fail(r, 400, "invalid_cursor", "%s", err.msg);
    char sql[1536], after[32], before[32], at[32];
    mc_db_param params[10];
    size_t n = 0;
    /* The index is forced: on a range of created_at MariaDB otherwise
     * prefers (tenant_id, created_at) and filters deleted_at row by row,
     * reading half a 100 000-video tenant for a page deep in the list. */
    /* The progress of a transcoding video: one indexed look-up per row shown. */
    int len = snprintf(sql, sizeof sql, "SELECT " SUMMARY_COLUMNS ", IF(v.status = 'transcoding', "
                       "(SELECT j.progress FROM jobs j WHERE j.video_id = v.id ORDER BY "
                       "j.updated_at DESC LIMIT 1), NULL) FROM videos v FORCE INDEX (%s) "
                       "WHERE v.tenant_id = ? AND v.deleted_at IS NULL",
                       p.status != MC_API_STATUS_ANY ? "videos_tenant_status" : "videos_tenant_list");
    params[n++] = mc_db_str(c->caller.tenant);
    if (p.status != MC_API_STATUS_ANY) {
        len += snprintf(sql + len, sizeof sql - (size_t)len, " AND v.status = ?");
        params[n++] = mc_db_str(mc_api_status_name(p.status));
    }
    if (p.created_after_us != INT64_MIN) {
        mc_api_time_to_db(p.created_after_us, after);
        len += snprintf(sql + len, sizeof sql - (size_t)len, " AND v.created_at > CAST(? AS DATETIME(6))");
        params[n++] = mc_db_str(after);
    }
    if (p.created_before_us != INT64_MAX) {
        mc_api_time_to_db(p.created_before_us, before);
        len += snprintf(sql + len, sizeof sql - (size_t)len, " AND v.created_at < CAST(? AS DATETIME(6))");
        params[n++] = mc_db_str(before);
    }
    if (p.cursor) {
        mc_api_time_to_db(cur.created_us, at);
        len += snprintf(sql + len, sizeof sql - (size_t)len,
                        " AND v.created_at <= CAST(? AS DATETIME(6)) AND (v.created_at < CAST(? AS DATETIME(6)) OR v.id < ?)");
        params[n++] = mc_db_str(at);
        params[n++] = mc_db_str(at);
        params[n++] = mc_db_str(cur.id);
    }
    snprintf(sql + len, sizeof sql - (size_t)len,
             " ORDER BY v.created_at DESC, v.id DESC LIMIT ?");
    params[n++] = mc_db_i64(p.limit + 1);
    mc_db_rows rows;
    if (mc_db_query(c->srv->svc.db, MC_DB_REPLICA, sql, params, n, &rows, &err) < 0)
        return mc_api_fail_err(c, r, &err);
    json_t *data = json_array();
    size_t shown = rows.nrows > (size_t)p.limit ? (size_t)p.limit : rows.nrows;
    for (size_t i = 0; i < shown; i++) {
        json_t *v = summary_json(&rows, i);
        const char *prog = mc_db_rows_get(&rows, i, 8);
        json_object_set_new(v, "progress", prog ? json_real(strtod(prog, NULL)) : json_null());
        json_array_append_new(data, v);
    }
    mc_api_cursor last = {0};
    bool more = false;
    if (rows.nrows > (size_t)p.limit) {
        char iso[32];
        snprintf(last.id, sizeof last.id, "%s", mc_db_rows_get(&rows, shown - 1, 0));
        more = mc_api_time_from_db(mc_db_rows_get(&rows, shown - 1, 6), iso) == 0 &&
               mc_api_time_parse(iso, &last.created_us, &err) == 0;
    }
    mc_db_rows_free(&rows);
    return mc_api_page(c, r, data, more ? &last : NULL);
}

/* ---- GET /v1/videos/{id} ---------------------------------------------------- */

typedef struct video_row {
    mc_db_rows rows;
} video_row;

#define FULL_COLUMNS                                                                        \
    SUMMARY_COLUMNS ", v.container, v.duration_ms, v.size_bytes, v.video_codec, "           \
                    "v.audio_codec, v.width, v.height, v.published_prefix, (SELECT j.progress " \
                    "FROM jobs j WHERE j.video_id = v.id ORDER BY j.updated_at DESC LIMIT 1), "   \
                    "v.playable, v.playable_seconds"

enum { C_CONTAINER = 8, C_DURATION, C_SIZE, C_VCODEC, C_ACODEC, C_WIDTH, C_HEIGHT, C_PREFIX,
       C_PROGRESS, C_PLAYABLE, C_PLAYABLE_S };

/* Whether the video plays: ready and published, or still transcoding with
 * its growing HLS out (migration 0004: playable). */
static bool plays(const mc_db_rows *rows, bool *ready) {
    const char *st = mc_db_rows_get(rows, 0, 4), *pl = mc_db_rows_get(rows, 0, C_PLAYABLE);
    *ready = strcmp(st, "ready") == 0 && mc_db_rows_get(rows, 0, C_PREFIX);
    return *ready || (strcmp(st, "transcoding") == 0 && pl && strcmp(pl, "1") == 0);
}

/* The caller's live video id into vr (nrows 0: none). */
static int load(mc_api_ctx *c, const char *id, video_row *vr, mc_err *err) {
    return mc_db_query(c->srv->svc.db, MC_DB_MASTER,
                       "SELECT " FULL_COLUMNS " FROM videos v WHERE v.id = ? AND v.tenant_id = ? "
                       "AND v.deleted_at IS NULL",
                       MC_DB_ARGS(mc_db_str(id), mc_db_str(c->caller.tenant)), &vr->rows, err);
}

static int not_found(mc_api_resp *r, const char *id) {
    return mc_api_fail(r, 404, "video_not_found", "no video %.64s", id);
}

static json_t *source_json(const mc_db_rows *rows) {
    if (!mc_db_rows_get(rows, 0, C_CONTAINER) && !mc_db_rows_get(rows, 0, C_SIZE)) return json_null();
    json_t *s = json_object();
    json_object_set_new(s, "container", str_or_null(mc_db_rows_get(rows, 0, C_CONTAINER)));
    json_object_set_new(s, "duration_ms", int_or_null(mc_db_rows_get(rows, 0, C_DURATION)));
    json_object_set_new(s, "size_bytes", int_or_null(mc_db_rows_get(rows, 0, C_SIZE)));
    json_object_set_new(s, "video_codec", str_or_null(mc_db_rows_get(rows, 0, C_VCODEC)));
    json_object_set_new(s, "audio_codec", str_or_null(mc_db_rows_get(rows, 0, C_ACODEC)));
    json_object_set_new(s, "width", int_or_null(mc_db_rows_get(rows, 0, C_WIDTH)));
    json_object_set_new(s, "height", int_or_null(mc_db_rows_get(rows, 0, C_HEIGHT)));
    return s;
}

static json_t *renditions_json(mc_api_ctx *c, const char *id, const char *prefix, mc_err *err) {
    json_t *a = json_array();
    if (!prefix) return a;
    mc_db_rows rows;
    if (mc_db_query(c->srv->svc.db, MC_DB_MASTER,
                    "SELECT name, kind, width, height, bitrate, codecs, size_bytes, object_key "
                    "FROM renditions WHERE video_id = ? ORDER BY kind, width * height DESC, name",
                    MC_DB_ARGS(mc_db_str(id)), &rows, err) < 0) {
        json_decref(a);
        return NULL;
    }
    for (size_t i = 0; i < rows.nrows; i++) {
        const char *key = mc_db_rows_get(&rows, i, 7);
        if (!key || strncmp(key, prefix, strlen(prefix)) != 0) continue; /* an older attempt */
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(mc_db_rows_get(&rows, i, 0)));
        json_object_set_new(o, "kind", json_string(mc_db_rows_get(&rows, i, 1)));
        json_object_set_new(o, "width", int_or_null(mc_db_rows_get(&rows, i, 2)));
        json_object_set_new(o, "height", int_or_null(mc_db_rows_get(&rows, i, 3)));
        json_object_set_new(o, "bitrate", int_or_null(mc_db_rows_get(&rows, i, 4)));
        json_object_set_new(o, "codecs", json_string(mc_db_rows_get(&rows, i, 5)));
        json_object_set_new(o, "size_bytes", int_or_null(mc_db_rows_get(&rows, i, 6)));
        json_array_append_new(a, o);
    }
    mc_db_rows_free(&rows);
    return a;
}

static json_t *playback_json(mc_api_ctx *c, const char *id, const char *prefix, long ttl_s,
                             mc_err *err) {
    mc_playback_signer s = {.base_url = c->srv->set.stream_public_url,
                            .key = &c->srv->playback_keys[0],
                            .exp = (int64_t)time(NULL) + ttl_s};
    json_t *doc = mc_playback_doc(c->srv->svc.db, MC_DB_MASTER, &s, c->caller.tenant, id, prefix,
                                  err);
    if (doc) json_object_del(doc, "video");
    if (doc && !json_object_get(doc, "mp4")) /* still transcoding: no rung yet */
        json_object_set_new(doc, "mp4", json_object());
    if (doc) {
        json_t *exp = json_object_get(doc, "expires_at");
        char iso[32], db[32];
        mc_api_time_to_db(json_integer_value(exp) * 1000000, db);
        mc_api_time_from_db(db, iso);
        json_object_set_new(doc, "expires_at", json_string(iso));
    }
    return doc;
}

static int render_full(mc_api_ctx *c, mc_api_resp *r, const char *id, int status) {
    video_row vr;
    mc_err err = {0};
    if (load(c, id, &vr, &err) < 0) return mc_api_fail_err(c, r, &err);
    if (vr.rows.nrows == 0) {
        mc_db_rows_free(&vr.rows);
        return not_found(r, id);
    }
    json_t *v = summary_json(&vr.rows, 0);
    const char *st = mc_db_rows_get(&vr.rows, 0, 4);
    const char *prog = mc_db_rows_get(&vr.rows, 0, C_PROGRESS);
    const char *prefix = mc_db_rows_get(&vr.rows, 0, C_PREFIX);
    bool ready = strcmp(st, "ready") == 0 && prefix;
    json_object_set_new(v, "progress", ready ? json_real(1.0)
                                             : prog ? json_real(strtod(prog, NULL)) : json_null());
    bool ready_;
    bool playable = plays(&vr.rows, &ready_);
    const char *pl_s = mc_db_rows_get(&vr.rows, 0, C_PLAYABLE_S);
    json_object_set_new(v, "playable", json_boolean(playable));
    json_object_set_new(v, "playable_seconds",
                        playable && pl_s ? json_real(strtod(pl_s, NULL)) : json_null());
    json_object_set_new(v, "source", source_json(&vr.rows));
    json_t *rend = renditions_json(c, id, ready ? prefix : NULL, &err);
    json_t *pb = rend && ready ? playback_json(c, id, prefix, c->srv->set.stream_url_ttl_s, &err)
                               : json_null();
    mc_db_rows_free(&vr.rows);
    if (!rend || !pb) {
        json_decref(v);
        json_decref(rend);
        return mc_api_fail_err(c, r, &err);
    }
    json_object_set_new(v, "renditions", rend);
    json_object_set_new(v, "playback", pb);
    return mc_api_ok(r, status, v);
}

int mc_api_video_get(mc_api_ctx *c, mc_api_resp *r, const char *id) {
    if (!mc_api_video_id_valid(id)) return not_found(r, id);
    if (c->query.count) return mc_api_fail(r, 400, "invalid_query", "this resource takes no "
                                                                     "query parameters");
    return render_full(c, r, id, 200);
}

/* ---- PATCH /v1/videos/{id} -------------------------------------------------- */

int mc_api_video_patch(mc_api_ctx *c, mc_api_resp *r, const char *id) {
    if (!mc_api_video_id_valid(id)) return not_found(r, id);
    mc_api_video_edit e;
    mc_err err = {0};
    if (mc_api_video_edit_parse(c->body, &e, &err) < 0)
        return mc_api_fail(r, 400, "invalid_body", "%s", err.msg);
    char *meta = e.metadata ? json_dumps(e.metadata, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    mc_db_info info = {0};
    int rc = mc_db_exec(
        c->srv->svc.db, MC_DB_MASTER,
        "UPDATE videos SET title = IF(?, ?, title), description = IF(?, ?, description), "
        "metadata = IF(?, ?, metadata), updated_at = UTC_TIMESTAMP(6) "
        "WHERE id = ? AND tenant_id = ? AND deleted_at IS NULL",
        MC_DB_ARGS(mc_db_i64(e.title != NULL), mc_db_str(e.title ? e.title : ""),
                   mc_db_i64(e.description != NULL), mc_db_str(e.description),
                   mc_db_i64(e.has_metadata), meta ? mc_db_str(meta) : mc_db_null(),
                   mc_db_str(id), mc_db_str(c->caller.tenant)),
        &info, &err);
    free(meta);
    if (rc < 0) return mc_api_fail_err(c, r, &err);
    if (info.affected_rows == 0) return not_found(r, id);
    return render_full(c, r, id, 200);
}

/* ---- DELETE /v1/videos/{id} ------------------------------------------------- */

/* The uploads of the video: unfinished multipart uploads aborted, their
 * staging objects removed, rows terminated. */
static int drop_uploads(mc_api_ctx *c, mc_s3 *s3, const char *id, mc_err *err) {
    mc_db_rows rows;
    if (mc_db_query(c->srv->svc.db, MC_DB_MASTER,
                    "SELECT id, s3_key, s3_upload_id, status FROM uploads WHERE video_id = ?",
                    MC_DB_ARGS(mc_db_str(id)), &rows, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < rows.nrows; i++) {
        const char *key = mc_db_rows_get(&rows, i, 1), *mp = mc_db_rows_get(&rows, i, 2);
        if (strcmp(mc_db_rows_get(&rows, i, 3), "active") == 0 && key && mp) {
            mc_err ignored = {0}; /* already completed or aborted: nothing to do */
            mc_s3_abort_multipart_upload(s3, key, mp, &ignored);
        }
        char prefix[128];
        snprintf(prefix, sizeof prefix, "uploads/%s/", mc_db_rows_get(&rows, i, 0));
        rc = mc_s3_delete_prefix(s3, prefix, NULL, err);
    }
    mc_db_rows_free(&rows);
    if (rc == 0)
        rc = mc_db_exec(c->srv->svc.db, MC_DB_MASTER,
                        "UPDATE uploads SET status = 'terminated' WHERE video_id = ? AND "
                        "status = 'active'", MC_DB_ARGS(mc_db_str(id)), NULL, err);
    return rc;
}

static int drop_objects(mc_api_ctx *c, const char *id, mc_err *err) {
    mc_s3 *s3 = mc_s3_pool_get(c->srv->s3, err);
    if (!s3) return -1;
    char prefix[256];
    snprintf(prefix, sizeof prefix, "sources/%s/%s/", c->caller.tenant, id);
    int rc = mc_s3_delete_prefix(s3, prefix, NULL, err);
    snprintf(prefix, sizeof prefix, "videos/%s/%s/", c->caller.tenant, id);
    if (rc == 0) rc = mc_s3_delete_prefix(s3, prefix, NULL, err);
    if (rc == 0) rc = drop_uploads(c, s3, id, err);
    mc_s3_pool_put(c->srv->s3, s3);
    return rc;
}

/* The tombstone and, in the same transaction, the video.deleted event in
 * the outbox (published on video.events_topic; the webhook ingest derives
 * its id from the video id, so a message published twice counts once). */
typedef struct {
    mc_api_ctx *c;
    const char *id, *event;
} tombstone_tx;

static int tombstone_body(mc_db_conn *conn, void *arg, mc_err *err) {
    const tombstone_tx *t = arg;
    mc_db_info info = {0};
    int rc = mc_db_conn_exec(conn, "UPDATE videos SET deleted_at = UTC_TIMESTAMP(6) WHERE id = ? "
                             "AND tenant_id = ? AND deleted_at IS NULL",
                             MC_DB_ARGS(mc_db_str(t->id), mc_db_str(t->c->caller.tenant)), &info, err);
    if (rc == 0 && info.affected_rows == 1) /* not when a concurrent DELETE won */
        rc = mc_outbox_add(conn, t->c->srv->video_topic, t->id, t->event, err);
    return rc;
}

static int tombstone(mc_api_ctx *c, const char *id, mc_err *err) {
    json_t *m = json_pack("{s:i,s:s,s:s,s:s}", "v", 1, "type", "video.deleted", "video_id", id,
                          "tenant", c->caller.tenant);
    char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    if (!text) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    tombstone_tx t = {.c = c, .id = id, .event = text};
    int rc = mc_db_transaction(c->srv->svc.db, MC_DB_MASTER, tombstone_body, &t, err);
    free(text);
    if (rc == 0) mc_outbox_publisher_nudge(c->srv->outbox);
    return rc;
}

/* Unpublished and its jobs stopped first (the stream service stops serving
 * it once its short cache expires, no worker publishes it again), then
 * every object removed, then the tombstone: a failure before the last step
 * leaves the video visible, so the client's retry of the DELETE finishes.
 * The video.deleted event goes into the outbox with the tombstone. */
int mc_api_video_delete(mc_api_ctx *c, mc_api_resp *r, const char *id) {
    if (!mc_api_video_id_valid(id)) return not_found(r, id);
    mc_err err = {0};
    mc_db *db = c->srv->svc.db;
    mc_db_info info = {0};
    if (mc_db_exec(db, MC_DB_MASTER,
                   "UPDATE videos SET published_prefix = NULL, updated_at = UTC_TIMESTAMP(6) "
                   "WHERE id = ? AND tenant_id = ? AND deleted_at IS NULL",
                   MC_DB_ARGS(mc_db_str(id), mc_db_str(c->caller.tenant)), &info, &err) < 0)
        return mc_api_fail_err(c, r, &err);
    mc_db_rows rows;
    if (info.affected_rows == 0) { /* unchanged row (same timestamp) or none: check */
        if (mc_db_query(db, MC_DB_MASTER, "SELECT 1 FROM videos WHERE id = ? AND tenant_id = ? "
                                          "AND deleted_at IS NULL",
                        MC_DB_ARGS(mc_db_str(id), mc_db_str(c->caller.tenant)), &rows, &err) < 0)
            return mc_api_fail_err(c, r, &err);
        size_t n = rows.nrows;
        mc_db_rows_free(&rows);
        if (n == 0) return not_found(r, id);
    }
    if (mc_db_exec(db, MC_DB_MASTER,
                   "UPDATE jobs SET status = 'failed', error = 'video deleted' WHERE video_id = ? "
                   "AND status IN ('queued', 'running')",
                   MC_DB_ARGS(mc_db_str(id)), NULL, &err) < 0 ||
        drop_objects(c, id, &err) < 0 || tombstone(c, id, &err) < 0)
        return mc_api_fail_err(c, r, &err);
    mc_log_kv(MC_LOG_INFO, "video deleted", "request_id", c->request_id, "video", id, NULL);
    r->status = 204;
    return 0;
}

/* ---- GET /v1/videos/{id}/playback ------------------------------------------- */

int mc_api_video_playback(mc_api_ctx *c, mc_api_resp *r, const char *id) {
    static const char *const allowed[] = {"ttl", NULL};
    if (!mc_api_video_id_valid(id)) return not_found(r, id);
    long long ttl;
    mc_err err = {0};
    if (mc_api_query_only(&c->query, allowed, &err) < 0 ||
        mc_api_query_int(&c->query, "ttl", 60, 366LL * 86400, c->srv->set.stream_url_ttl_s, &ttl,
                         &err) < 0)
        return mc_api_fail(r, 400, "invalid_query", "%s", err.msg);
    video_row vr;
    if (load(c, id, &vr, &err) < 0) return mc_api_fail_err(c, r, &err);
    if (vr.rows.nrows == 0) {
        mc_db_rows_free(&vr.rows);
        return not_found(r, id);
    }
    const char *st = mc_db_rows_get(&vr.rows, 0, 4);
    const char *prefix = mc_db_rows_get(&vr.rows, 0, C_PREFIX);
    bool ready;
    if (!plays(&vr.rows, &ready)) {
        mc_api_fail(r, 409, "video_not_ready", "video %s is %s, not playable yet", id, st);
        mc_db_rows_free(&vr.rows);
        return -1;
    }
    /* Still transcoding: the page and the growing HLS (no MP4 or poster yet). */
    char pcopy[1024] = "";
    if (ready) snprintf(pcopy, sizeof pcopy, "%s", prefix);
    mc_db_rows_free(&vr.rows);
    json_t *doc = playback_json(c, id, ready ? pcopy : NULL, (long)ttl, &err);
    if (!doc) return mc_api_fail_err(c, r, &err);
    return mc_api_ok(r, 200, doc);
}
