/* state.c — one upload's state: the `uploads` row in MySQL is the record,
 * the Redis hash mcloud:upload:<id> its cache (any replica reads it; a lost
 * hash is rebuilt from the row), and the Redis lock "upload.<id>" with its
 * fencing token serializes writers across replicas.
 *
 * A commit re-reads the row FOR UPDATE and refuses when a newer lock holder
 * has committed (fence) or the offset moved (prev_offset), so a writer that
 * lost its lock during a pause can never roll an upload back. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/redis_keys.h"
#include "upload/upload.h"

#define FIELD_COUNT 17

void mc_upload_free(mc_upload *u) {
    if (!u) return;
    free(u->metadata);
    free(u->concat_parts);
    u->metadata = u->concat_parts = NULL;
}

const char *mc_upload_status_name(mc_upload_status s) {
    static const char *names[] = {"active", "completed", "terminated", "expired"};
    return names[s];
}

const char *mc_upload_concat_name(mc_upload_concat c) {
    static const char *names[] = {"none", "partial", "final"};
    return names[c];
}

static mc_upload_status status_from(const char *s) {
    if (!s) return MC_UPLOAD_ACTIVE;
    if (strcmp(s, "completed") == 0) return MC_UPLOAD_COMPLETED;
    if (strcmp(s, "terminated") == 0) return MC_UPLOAD_TERMINATED;
    if (strcmp(s, "expired") == 0) return MC_UPLOAD_EXPIRED;
    return MC_UPLOAD_ACTIVE;
}

static mc_upload_concat concat_from(const char *s) {
    if (s && strcmp(s, "partial") == 0) return MC_UPLOAD_CONCAT_PARTIAL;
    if (s && strcmp(s, "final") == 0) return MC_UPLOAD_CONCAT_FINAL;
    return MC_UPLOAD_CONCAT_NONE;
}

static void copy(char *dst, size_t cap, const char *src) { snprintf(dst, cap, "%s", src ? src : ""); }

static int64_t num(const char *s) { return s ? strtoll(s, NULL, 10) : 0; }

/* ---- Redis cache ---------------------------------------------------------- */

static int cache_put(mc_upload_server *srv, const mc_upload *u, mc_err *err) {
    char key[MC_REDIS_NAME_MAX + 32], offset[24], length[24], maxb[24], part[24], next[24],
        tail[24], expires[24], fence[24];
    if (mc_key_upload(key, sizeof key, u->id) < 0)
        return mc_err_set(err, MC_ERR_INVALID, "bad upload id");
    snprintf(offset, sizeof offset, "%" PRId64, u->offset);
    snprintf(length, sizeof length, "%" PRId64, u->length);
    snprintf(maxb, sizeof maxb, "%" PRId64, u->max_bytes);
    snprintf(part, sizeof part, "%" PRIu64, u->part_size);
    snprintf(next, sizeof next, "%d", u->next_part);
    snprintf(tail, sizeof tail, "%" PRIu64, u->tail_bytes);
    snprintf(expires, sizeof expires, "%" PRId64, u->expires_at);
    snprintf(fence, sizeof fence, "%" PRId64, u->fence);
    const char *argv[2 + 2 * FIELD_COUNT] = {
        "HSET", key, "tenant", u->tenant, "video", u->video_id, "s3_key", u->s3_key,
        "s3_upload_id", u->s3_upload_id, "offset", offset, "length", length, "max_bytes", maxb,
        "part_size", part, "next_part", next, "tail", tail, "expires", expires, "fence", fence,
        "status", mc_upload_status_name(u->status), "concat", mc_upload_concat_name(u->concat),
        "metadata", u->metadata ? u->metadata : "", "concat_parts",
        u->concat_parts ? u->concat_parts : "", "id", u->id};
    redisReply *r = mc_redis_command_argv(srv->svc.redis, 2 + 2 * FIELD_COUNT, argv, NULL, err);
    if (!r) return -1;
    freeReplyObject(r);
    /* The cache outlives the upload's expiry by a day, then MySQL answers. */
    r = mc_redis_command(srv->svc.redis, err, "EXPIREAT %s %lld", key,
                         (long long)u->expires_at + 86400);
    if (!r) return -1;
    freeReplyObject(r);
    return 0;
}

static void cache_drop(mc_upload_server *srv, const char *id) {
    char key[MC_REDIS_NAME_MAX + 32];
    mc_err ignored = {0};
    if (mc_key_upload(key, sizeof key, id) < 0) return;
    redisReply *r = mc_redis_command(srv->svc.redis, &ignored, "DEL %s", key);
    if (r) freeReplyObject(r);
}

void mc_upload_state_forget(mc_upload_server *srv, const char *id) { cache_drop(srv, id); }

/* The transactions below go through mc_db_transaction: a deadlock or lock
 * wait timeout (another replica's commit on the same rows) is run again. */
typedef struct {
    const mc_upload *u;
    const char *status, *reason, *title, *meta;
    bool only_active;
    int64_t prev_offset;
} state_tx;

static int end_body(mc_db_conn *c, void *arg, mc_err *err) {
    const state_tx *t = arg;
    int rc = mc_db_conn_exec(c, t->only_active ? "UPDATE uploads SET status = ? WHERE id = ? AND status = 'active'"
                                               : "UPDATE uploads SET status = ? WHERE id = ?",
                             MC_DB_ARGS(mc_db_str(t->status), mc_db_str(t->u->id)), NULL, err);
    if (rc == 0 && t->u->video_id[0])
        rc = mc_db_conn_exec(c,
                             "UPDATE videos SET status = 'failed', failure_reason = ? WHERE id = ? AND "
                             "status = 'uploading'",
                             MC_DB_ARGS(mc_db_str(t->reason), mc_db_str(t->u->video_id)), NULL, err);
    return rc;
}

int mc_upload_state_end(mc_upload_server *srv, const mc_upload *u, const char *status, bool only_active,
                        const char *reason, mc_err *err) {
    state_tx t = {.u = u, .status = status, .reason = reason, .only_active = only_active};
    int rc = mc_db_transaction(srv->svc.db, MC_DB_MASTER, end_body, &t, err);
    mc_upload_state_forget(srv, u->id);
    return rc;
}

static void set_field(mc_upload *u, const char *f, const char *v) {
    if (strcmp(f, "tenant") == 0) copy(u->tenant, sizeof u->tenant, v);
    else if (strcmp(f, "video") == 0) copy(u->video_id, sizeof u->video_id, v);
    else if (strcmp(f, "s3_key") == 0) copy(u->s3_key, sizeof u->s3_key, v);
    else if (strcmp(f, "s3_upload_id") == 0) copy(u->s3_upload_id, sizeof u->s3_upload_id, v);
    else if (strcmp(f, "offset") == 0) u->offset = num(v);
    else if (strcmp(f, "length") == 0) u->length = num(v);
    else if (strcmp(f, "max_bytes") == 0) u->max_bytes = num(v);
    else if (strcmp(f, "part_size") == 0) u->part_size = (uint64_t)num(v);
    else if (strcmp(f, "next_part") == 0) u->next_part = (int)num(v);
    else if (strcmp(f, "tail") == 0) u->tail_bytes = (uint64_t)num(v);
    else if (strcmp(f, "expires") == 0) u->expires_at = num(v);
    else if (strcmp(f, "fence") == 0) u->fence = num(v);
    else if (strcmp(f, "status") == 0) u->status = status_from(v);
    else if (strcmp(f, "concat") == 0) u->concat = concat_from(v);
    else if (strcmp(f, "metadata") == 0) u->metadata = strdup(v);
    else if (strcmp(f, "concat_parts") == 0 && *v) u->concat_parts = strdup(v);
}

/* 1 with *u filled when cached, 0 when not. */
static int cache_get(mc_upload_server *srv, const char *id, mc_upload *u, mc_err *err) {
    char key[MC_REDIS_NAME_MAX + 32];
    if (mc_key_upload(key, sizeof key, id) < 0)
        return mc_err_set(err, MC_ERR_NOT_FOUND, "no upload %s", id);
    redisReply *r = mc_redis_command(srv->svc.redis, err, "HGETALL %s", key);
    if (!r) return -1;
    int found = r->type == REDIS_REPLY_ARRAY && r->elements >= 2 * FIELD_COUNT;
    if (found) {
        memset(u, 0, sizeof *u);
        copy(u->id, sizeof u->id, id);
        for (size_t i = 0; i + 1 < r->elements; i += 2)
            set_field(u, r->element[i]->str, r->element[i + 1]->str);
    }
    freeReplyObject(r);
    if (found && !u->metadata) {
        mc_upload_free(u);
        return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    }
    return found;
}

/* ---- MySQL record ------------------------------------------------------- */

#define SELECT_UPLOAD                                                                      \
    "SELECT tenant_id, video_id, s3_key, s3_upload_id, offset_bytes, length_bytes, "      \
    "max_bytes, part_size_bytes, next_part, tail_bytes, UNIX_TIMESTAMP(expires_at), fence, " \
    "status, concat, metadata, concat_parts FROM uploads WHERE id = ?"

/* The metadata column holds the canonical header as a JSON string. */
static char *metadata_from_json(const char *text) {
    if (!text) return strdup("");
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    char *out = strdup(json_is_string(j) ? json_string_value(j) : "");
    json_decref(j);
    return out;
}

static int row_to_upload(const mc_db_rows *rows, const char *id, mc_upload *u, mc_err *err) {
    memset(u, 0, sizeof *u);
    copy(u->id, sizeof u->id, id);
    copy(u->tenant, sizeof u->tenant, mc_db_rows_get(rows, 0, 0));
    copy(u->video_id, sizeof u->video_id, mc_db_rows_get(rows, 0, 1));
    copy(u->s3_key, sizeof u->s3_key, mc_db_rows_get(rows, 0, 2));
    copy(u->s3_upload_id, sizeof u->s3_upload_id, mc_db_rows_get(rows, 0, 3));
    u->offset = num(mc_db_rows_get(rows, 0, 4));
    u->length = mc_db_rows_get(rows, 0, 5) ? num(mc_db_rows_get(rows, 0, 5)) : -1;
    u->max_bytes = num(mc_db_rows_get(rows, 0, 6));
    u->part_size = (uint64_t)num(mc_db_rows_get(rows, 0, 7));
    u->next_part = (int)num(mc_db_rows_get(rows, 0, 8));
    u->tail_bytes = (uint64_t)num(mc_db_rows_get(rows, 0, 9));
    u->expires_at = num(mc_db_rows_get(rows, 0, 10));
    u->fence = num(mc_db_rows_get(rows, 0, 11));
    u->status = status_from(mc_db_rows_get(rows, 0, 12));
    u->concat = concat_from(mc_db_rows_get(rows, 0, 13));
    u->metadata = metadata_from_json(mc_db_rows_get(rows, 0, 14));
    const char *parts = mc_db_rows_get(rows, 0, 15);
    if (parts) u->concat_parts = strdup(parts);
    if (!u->metadata || (parts && !u->concat_parts)) {
        mc_upload_free(u);
        return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    }
    return 0;
}

static int db_load(mc_upload_server *srv, const char *id, mc_upload *u, mc_err *err) {
    mc_db_rows rows;
    if (mc_db_query(srv->svc.db, MC_DB_MASTER, SELECT_UPLOAD, MC_DB_ARGS(mc_db_str(id)), &rows,
                    err) < 0)
        return -1;
    int rc = rows.nrows == 1 ? row_to_upload(&rows, id, u, err)
                             : mc_err_set(err, MC_ERR_NOT_FOUND, "no upload %s", id);
    mc_db_rows_free(&rows);
    return rc;
}

int mc_upload_state_load(mc_upload_server *srv, const char *id, mc_upload *out, mc_err *err) {
    if (!mc_tus_id_valid(id, strlen(id))) return mc_err_set(err, MC_ERR_NOT_FOUND, "no upload %s", id);
    int cached = cache_get(srv, id, out, err);
    if (cached > 0) return 0;
    bool redis_down = cached < 0; /* the row is the record: a HEAD still answers while Redis is down */
    if (redis_down) *err = (mc_err){0};
    if (db_load(srv, id, out, err) < 0) return -1;
    mc_err ignored = {0};
    if (!redis_down) cache_put(srv, out, &ignored); /* a failed cache write only costs the next read */
    return 0;
}

static char *metadata_json(const char *metadata) {
    json_t *j = json_string(metadata ? metadata : "");
    char *out = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref(j);
    return out;
}

static int insert_rows(mc_db_conn *c, const mc_upload *u, const char *title, const char *meta,
                       mc_err *err) {
    if (u->video_reserved) {
        /* The video of a one-upload token: its first upload claims it, any
         * later one (the same token again) is refused. */
        mc_db_info info = {0};
        if (mc_db_conn_exec(c, "UPDATE videos SET source_key = ? WHERE id = ? AND tenant_id = ? "
                               "AND source_key IS NULL AND deleted_at IS NULL",
                            MC_DB_ARGS(mc_db_str(u->s3_key), mc_db_str(u->video_id),
                                       mc_db_str(u->tenant)), &info, err) < 0)
            return -1;
        if (info.affected_rows != 1)
            return mc_err_set(err, MC_ERR_CONFLICT, "the upload of video %s was already created "
                                                    "(a token allows one upload)", u->video_id);
    } else if (u->video_id[0] &&
        mc_db_conn_exec(c, "INSERT INTO videos (id, tenant_id, title, status, source_key) "
                           "VALUES (?, ?, ?, 'uploading', ?)",
                        MC_DB_ARGS(mc_db_str(u->video_id), mc_db_str(u->tenant),
                                   mc_db_str(title ? title : ""), mc_db_str(u->s3_key)),
                        NULL, err) < 0)
        return -1;
    return mc_db_conn_exec(
        c,
        "INSERT INTO uploads (id, tenant_id, video_id, s3_key, s3_upload_id, offset_bytes, "
        "length_bytes, max_bytes, part_size_bytes, next_part, tail_bytes, metadata, concat, "
        "concat_parts, expires_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "FROM_UNIXTIME(?), ?)",
        MC_DB_ARGS(mc_db_str(u->id), mc_db_str(u->tenant),
                   u->video_id[0] ? mc_db_str(u->video_id) : mc_db_null(), mc_db_str(u->s3_key),
                   mc_db_str(u->s3_upload_id), mc_db_i64(u->offset),
                   u->length >= 0 ? mc_db_i64(u->length) : mc_db_null(), mc_db_i64(u->max_bytes),
                   mc_db_u64(u->part_size), mc_db_i64(u->next_part), mc_db_u64(u->tail_bytes),
                   mc_db_str(meta), mc_db_str(mc_upload_concat_name(u->concat)),
                   mc_db_str(u->concat_parts), mc_db_i64(u->expires_at),
                   mc_db_str(mc_upload_status_name(u->status))),
        NULL, err);
}

static int create_body(mc_db_conn *c, void *arg, mc_err *err) {
    const state_tx *t = arg;
    return insert_rows(c, t->u, t->title, t->meta, err);
}

int mc_upload_state_create(mc_upload_server *srv, const mc_upload *u, const char *title,
                           mc_err *err) {
    char *meta = metadata_json(u->metadata);
    if (!meta) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    state_tx t = {.u = u, .title = title, .meta = meta};
    int rc = mc_db_transaction(srv->svc.db, MC_DB_MASTER, create_body, &t, err);
    free(meta);
    if (rc < 0) return mc_err_wrap(err, "creating upload %s", u->id);
    mc_err ignored = {0};
    cache_put(srv, u, &ignored);
    return 0;
}

/* Inside the commit's transaction: the row must still be ours to change
 * (u->fence is the token of the lock we hold). */
static int check_fence(mc_db_conn *c, const mc_upload *u, int64_t prev_offset, mc_err *err) {
    mc_db_rows rows;
    if (mc_db_conn_query(c, "SELECT offset_bytes, fence FROM uploads WHERE id = ? FOR UPDATE",
                         MC_DB_ARGS(mc_db_str(u->id)), &rows, err) < 0)
        return -1;
    int rc = 0;
    if (rows.nrows != 1) rc = mc_err_set(err, MC_ERR_NOT_FOUND, "no upload %s", u->id);
    else if (num(mc_db_rows_get(&rows, 0, 1)) > u->fence)
        rc = mc_err_set(err, MC_ERR_CONFLICT, "upload %s: a newer lock holder committed", u->id);
    else if (num(mc_db_rows_get(&rows, 0, 0)) != prev_offset)
        rc = mc_err_set(err, MC_ERR_CONFLICT, "upload %s: offset moved under us", u->id);
    mc_db_rows_free(&rows);
    return rc;
}

static int update_row(mc_db_conn *c, const mc_upload *u, mc_err *err) {
    return mc_db_conn_exec(
        c,
        "UPDATE uploads SET offset_bytes = ?, length_bytes = ?, next_part = ?, tail_bytes = ?, "
        "status = ?, fence = ?, completed_at = IF(? = 'completed', "
        "COALESCE(completed_at, CURRENT_TIMESTAMP(6)), completed_at) WHERE id = ?",
        MC_DB_ARGS(mc_db_i64(u->offset), u->length >= 0 ? mc_db_i64(u->length) : mc_db_null(),
                   mc_db_i64(u->next_part), mc_db_u64(u->tail_bytes),
                   mc_db_str(mc_upload_status_name(u->status)), mc_db_i64(u->fence),
                   mc_db_str(mc_upload_status_name(u->status)), mc_db_str(u->id)),
        NULL, err);
}

static int commit_body(mc_db_conn *c, void *arg, mc_err *err) {
    const state_tx *t = arg;
    int rc = check_fence(c, t->u, t->prev_offset, err);
    return rc == 0 ? update_row(c, t->u, err) : rc;
}

int mc_upload_state_commit(mc_upload_server *srv, mc_upload *u, int64_t prev_offset,
                           const mc_lock *lock, mc_err *err) {
    if (mc_lock_validate(srv->svc.redis, lock->name, lock->token, err) < 0)
        return mc_err_wrap(err, "upload %s: lost the write lock", u->id);
    u->fence = lock->token;
    state_tx t = {.u = u, .prev_offset = prev_offset};
    int rc = mc_db_transaction(srv->svc.db, MC_DB_MASTER, commit_body, &t, err);
    mc_err cache_err = {0};
    if (rc < 0 || cache_put(srv, u, &cache_err) < 0) cache_drop(srv, u->id);
    return rc;
}

int mc_upload_lock(mc_upload_server *srv, const char *id, mc_lock *lock, mc_err *err) {
    char name[MC_REDIS_NAME_MAX + 1];
    snprintf(name, sizeof name, "upload.%s", id);
    return mc_lock_acquire(srv->svc.redis, name, srv->set.lock_ttl_ms, lock, err);
}

int mc_upload_lock_extend(mc_upload_server *srv, const mc_lock *lock, mc_err *err) {
    return mc_lock_extend(srv->svc.redis, lock, srv->set.lock_ttl_ms, err);
}

void mc_upload_unlock(mc_upload_server *srv, const mc_lock *lock) {
    mc_err ignored = {0};
    if (lock->token > 0) mc_lock_release(srv->svc.redis, lock, &ignored);
}
